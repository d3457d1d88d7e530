"""The corpus: per-domain JSONL shards in the Pile's schema, a train/validation split and a manifest.

``build_corpus(config)`` turns documents from :mod:`bimix.data.sources` (the embedded "mini-pile", from
pinned registry artifacts) or :mod:`bimix.data.hub` (the Pile / SlimPajama / a local folder) into::

    $BIMIX_CACHE/corpus/<source>-<config hash>/
        manifest.json                 sources, output hashes, counts, builder version, corpus_hash
        <domain>/train-00000.jsonl    {"text": ..., "meta": {"pile_set_name": <domain>, "id", "group"}}
        <domain>/valid-00000.jsonl

Steps per domain: exact duplicates removed (after whitespace/case normalisation), documents grouped
(parts of one work and near-duplicates share a group), groups shuffled with the config's seed, whole
groups assigned to validation until it holds ``valid_bytes_per_domain`` bytes, the rest to train up to
``max_bytes_per_domain``. A group never straddles the split. The build happens in a temporary folder
renamed into place at the end, so a failed or interrupted build leaves nothing behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from bimix.files import atomic_dir, read_json, remove_orphans, sha256_file, sha256_json, write_json
from bimix.paths import cache_dir
from bimix.profiles import CorpusConfig

BUILDER_VERSION = "2"  # bump when the output for a given config changes
SPLITS = ("train", "valid")


class CorpusError(RuntimeError):
    pass


@dataclass(frozen=True)
class Corpus:
    """A built corpus on disk. ``corpus_hash`` identifies its content (hash of every output file)."""

    root: Path
    manifest: dict

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.manifest["domains"])

    @property
    def corpus_hash(self) -> str:
        return self.manifest["corpus_hash"]

    @property
    def name(self) -> str:
        return self.root.name

    def files(self, domain: str, split: str) -> list[Path]:
        self._check(domain, split)
        return [self.root / rel for rel in self.manifest["domains"][domain][split]["files"]]

    def texts(self, domain: str, split: str = "train") -> Iterator[str]:
        for path in self.files(domain, split):
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    yield json.loads(line)["text"]

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{domain: {split: {"documents": n, "bytes": n}}}``."""
        return {d: {s: {k: v[s][k] for k in ("documents", "bytes")} for s in SPLITS}
                for d, v in self.manifest["domains"].items()}

    def _check(self, domain: str, split: str) -> None:
        if domain not in self.manifest["domains"]:
            raise CorpusError(f"unknown domain {domain!r}; this corpus has: {', '.join(self.domains)}")
        if split not in SPLITS:
            raise CorpusError(f"unknown split {split!r}; choose from: {', '.join(SPLITS)}")


def corpus_dir(config: CorpusConfig) -> Path:
    key = sha256_json({"config": asdict(config), "builder": BUILDER_VERSION})[:12]
    source = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config.source).name if "/" in config.source
                    else config.source)
    return cache_dir() / "corpus" / f"{source}-{key}"


def verify_corpus(root: Path) -> list[str]:
    """Problems found comparing the files under ``root`` with its manifest (empty list: all good)."""
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        return [f"{manifest_path} is missing"]
    try:
        manifest = read_json(manifest_path)
    except (OSError, ValueError) as exc:
        return [f"{manifest_path} is unreadable: {exc}"]
    problems = []
    for rel, info in manifest.get("files", {}).items():
        path = root / rel
        if not path.exists():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
            problems.append(f"{rel} does not match the manifest's sha256 (corrupted or edited)")
    return problems


def load_corpus(config: CorpusConfig, *, build: bool = True, progress: bool = True) -> Corpus:
    """The corpus for ``config``, built if missing; a corrupted cache is reported and rebuilt."""
    root = corpus_dir(config)
    remove_orphans(root.parent)  # what a killed build left behind
    if root.exists():
        problems = verify_corpus(root)
        if not problems:
            return Corpus(root, read_json(root / "manifest.json"))
        found = f"corpus cache {root} failed verification ({'; '.join(problems[:3])})"
        if not build:
            raise CorpusError(f"{found}; run `python -m bimix corpus build` to rebuild it")
        print(f"{found}; rebuilding", file=sys.stderr)
    if not build:
        raise CorpusError(f"no corpus at {root}; run `python -m bimix corpus build`")
    return build_corpus(config, progress=progress)


def build_corpus(config: CorpusConfig, *, progress: bool = True) -> Corpus:
    root = corpus_dir(config)
    started = time.perf_counter()
    documents, sources = _collect_documents(config, progress=progress)
    with atomic_dir(root) as tmp:
        domains, files = {}, {}
        for domain in tqdm(sorted(documents), desc="writing domains", disable=not progress):
            splits = _split(documents[domain], config)
            domains[domain] = {}
            for split, docs in zip(SPLITS, splits):
                if not docs:
                    raise CorpusError(f"domain {domain!r} has no {split} documents after the split "
                                      f"({len(documents[domain])} documents in all)")
                rel = f"{domain}/{split}-00000.jsonl"
                _write_jsonl(tmp / rel, domain, docs)
                files[rel] = {"sha256": sha256_file(tmp / rel), "bytes": (tmp / rel).stat().st_size}
                domains[domain][split] = {
                    "files": [rel],
                    "documents": len(docs),
                    "bytes": sum(len(d.text.encode("utf-8")) for d in docs),
                    "groups": len({d.group for d in docs}),
                }
        manifest = {
            "builder_version": BUILDER_VERSION,
            "config": asdict(config),
            "sources": sources,
            "domains": domains,
            "files": files,
            "corpus_hash": sha256_json(files),
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        write_json(tmp / "manifest.json", manifest)
    return Corpus(root, manifest)


def _collect_documents(config: CorpusConfig, progress: bool) -> tuple[dict[str, list], list[dict]]:
    """``{domain: [Document]}`` and a description of every source used."""
    if config.source == "mini-pile":
        return _mini_pile_documents(config, progress)
    from bimix.data import hub

    docs: dict[str, list] = {}
    from bimix.data.sources.document import Document

    for domain, text in hub.iter_documents(config.source, "train",
                                            max_docs_per_domain=config.max_docs_per_domain):
        bucket = docs.setdefault(domain, [])
        bucket.append(Document(id=f"{domain}/{len(bucket):09d}", text=text, group=f"{len(bucket)}"))
    if not docs:
        raise CorpusError(f"source {config.source!r} yielded no documents")
    return docs, [{"source": config.source, "max_docs_per_domain": config.max_docs_per_domain}]


def _mini_pile_documents(config: CorpusConfig, progress: bool) -> tuple[dict[str, list], list[dict]]:
    from bimix.data import sources

    domains = tuple(sources.DOMAINS) + tuple(config.extra_domains)
    unknown = set(config.extra_domains) - set(sources.OPTIONAL_DOMAINS)
    if unknown:
        raise CorpusError(f"unknown extra domains {sorted(unknown)}; optional domains are: "
                          f"{', '.join(sources.OPTIONAL_DOMAINS)}")
    artifact_dir = cache_dir() / "artifacts"
    paths, used, failures = {}, [], []
    needed = {a.key: a for d in domains for a in sources.artifacts_for(d)}
    sources.prefetch_wheels(needed.values(), artifact_dir)
    for key, artifact in tqdm(sorted(needed.items()), desc="fetching artifacts", disable=not progress):
        try:
            paths[key] = sources.fetch_artifact(artifact, artifact_dir)
        except sources.SourceError as exc:
            failures.append((artifact, exc))
            continue
        used.append({"requirement": artifact.requirement, "filename": artifact.filename,
                     "sha256": artifact.sha256, "licence": artifact.licence,
                     "attribution": artifact.attribution})
    # An optional (Debian) domain whose artifact cannot be had is skipped with a message; a
    # missing default source stops the build.
    skipped = {d for d in config.extra_domains
               if any(a.key not in paths for a in sources.artifacts_for(d))}
    fatal = [f"{a.requirement}: {exc}" for a, exc in failures
             if any(a in sources.artifacts_for(d) for d in domains if d not in skipped)]
    if fatal:
        raise CorpusError("could not fetch the corpus sources (no corpus was written):\n  "
                          + "\n  ".join(fatal))
    for domain in sorted(skipped):
        print(f"skipping optional domain {domain!r}: its Debian artifact could not be fetched "
              f"({'; '.join(str(e) for _, e in failures)[:300]})", file=sys.stderr)
    domains = tuple(d for d in domains if d not in skipped)
    docs = {}
    for domain in tqdm(domains, desc="extracting domains", disable=not progress):
        docs[domain] = sources.documents(domain, paths, seed=config.seed, math_bytes=config.math_bytes)
    return docs, used


def _normalised_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def _split(docs: list, config: CorpusConfig) -> tuple[list, list]:
    """Dedupe, then assign whole groups to validation first and train second (seeded)."""
    seen, unique = set(), []
    for doc in sorted(docs, key=lambda d: d.id):
        key = _normalised_hash(doc.text)
        if key not in seen:
            seen.add(key)
            unique.append(doc)
    groups: dict[str, list] = {}
    for doc in unique:
        groups.setdefault(doc.group, []).append(doc)
    order = sorted(groups)
    random.Random(f"{config.seed}-split").shuffle(order)
    total = sum(len(d.text.encode("utf-8")) for d in unique)
    # validation never takes more than a quarter of a small domain
    valid_target = min(config.valid_bytes_per_domain, total // 4)
    train_cap = config.max_bytes_per_domain
    valid, train, valid_bytes, train_bytes = [], [], 0, 0
    for name in order:
        members = groups[name]
        size = sum(len(d.text.encode("utf-8")) for d in members)
        if valid_bytes < valid_target and valid_bytes + size <= 1.5 * valid_target:
            valid.extend(members)
            valid_bytes += size
            continue
        # The cap trims train document by document: dropping part of a group is harmless, only
        # splitting a group across train and validation is not.
        for doc in members:
            n = len(doc.text.encode("utf-8"))
            if train_cap is None or train_bytes + n <= train_cap or not train:
                train.append(doc)
                train_bytes += n
    return sorted(train, key=lambda d: d.id), sorted(valid, key=lambda d: d.id)


def _write_jsonl(path: Path, domain: str, docs: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for doc in docs:
            record = {"text": doc.text, "meta": {"pile_set_name": domain, "id": doc.id, "group": doc.group}}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build", "verify", "info"),
                        help="build (or load) the corpus; verify its files against the manifest; "
                             "print its per-domain counts")
    parser.add_argument("--profile", default="cpu", help="profile whose corpus settings to use")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    config = args.profile.corpus  # resolved by the CLI
    if args.action == "verify":
        problems = verify_corpus(corpus_dir(config))
        for p in problems:
            print(f"problem: {p}")
        print("ok" if not problems else f"{len(problems)} problem(s)")
        return 0 if not problems else 1
    started = time.perf_counter()
    try:
        corpus = load_corpus(config, build=args.action == "build", progress=not args.quiet)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"corpus {corpus.name}  hash {corpus.corpus_hash[:16]}  at {corpus.root}  ({elapsed:.1f} s)")
    print(f"{'domain':<12}{'train docs':>12}{'train MB':>10}{'valid docs':>12}{'valid MB':>10}")
    for domain, c in corpus.counts().items():
        print(f"{domain:<12}{c['train']['documents']:>12}{c['train']['bytes'] / 1e6:>10.2f}"
              f"{c['valid']['documents']:>12}{c['valid']['bytes'] / 1e6:>10.2f}")
    return 0
