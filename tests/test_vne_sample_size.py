"""VNE compares domains at one sample size N: it grows with N, so a domain with fewer documents
(``speeches`` has 218 training documents, the others 1,000) must not look less diverse for that."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bimix.data import entropy as E

WORDS = [f"w{i}" for i in range(400)]


def _documents(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=12)) for _ in range(n)]


def test_every_domain_is_measured_at_the_smallest_domains_size():
    emb = E.HashedNgramEmbedder(dim=64)
    docs = {"big": _documents(300, 1), "small": _documents(40, 2), "mid": _documents(120, 3)}
    rows, meta = E.equal_size_vne(docs, emb)
    assert {d: r["docs"] for d, r in rows.items()} == {"big": 40, "small": 40, "mid": 40}
    assert meta["vne_n"] == 40 and meta["vne_n_set_by"] == "small"
    assert rows["big"]["docs_available"] == 300
    # VNE grows with N: measured on all its 300 documents, "big" would look more diverse than at 40
    assert E.domain_vne(docs["big"], emb, n_docs=300)["vne"] > rows["big"]["vne"] + 0.1
    assert all(r["vne"] <= math.log(40) + 1e-9 for r in rows.values())


def test_a_domains_vne_does_not_depend_on_the_other_domains_counts():
    emb = E.HashedNgramEmbedder(dim=64)
    big = _documents(300, 1)
    a, _ = E.equal_size_vne({"big": big, "other": _documents(500, 2)}, emb, n_docs=50)
    b, meta = E.equal_size_vne({"big": big, "other": _documents(60, 3)}, emb, n_docs=50)
    assert a["big"]["vne"] == b["big"]["vne"] and meta["vne_n_set_by"] == "n_docs"
    # a stated N above the smallest domain's count is lowered to it, and the meta says so
    c, meta = E.equal_size_vne({"big": big, "other": _documents(30, 3)}, emb, n_docs=50)
    assert c["big"]["docs"] == c["other"]["docs"] == 30 and meta == {
        "vne_n": 30, "vne_n_set_by": "other", "vne_docs_requested": 50}
    with pytest.raises(E.EntropyError, match="N must be >= 1"):
        E.equal_size_vne({"big": big}, emb, n_docs=0)
