"""bimix.data.entropy: counts against a naive reference, entropies of known distributions, the chain rule
(constructed and on the paper's Tables 4/5), VNE limits, errors, and the real smoke store."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bimix.data import entropy as E


def assert_matches_naive(counts: E.Counts, x, seq_len):
    uni, bi = E.reference_counts(x, seq_len)
    nz = np.flatnonzero(counts.unigram)
    assert dict(zip(nz.tolist(), counts.unigram[nz].tolist())) == dict(uni)
    a, b, c = counts.pairs()
    assert dict(zip(zip(a.tolist(), b.tolist()), c.tolist())) == dict(bi)
    assert counts.n_sequences == -(-len(x) // seq_len)
    assert counts.n_pairs == counts.n_tokens - counts.n_sequences


# ------------------------------------------------------------------------------------- counting

@pytest.mark.parametrize("vocab_size, dtype, n, seq_len", [
    (7, np.uint16, 5_000, 4),            # many boundaries, a tail
    (1024, np.uint16, 40_000, 1024),     # the smoke BPE
    (50_257, np.uint16, 60_000, 1024),   # GPT-2 ids: pair ids need > 2^31
    (70_000, np.uint32, 30_000, 333),    # V² > 2^32: uint64 pair ids
])
def test_counts_equal_naive_reference(vocab_size, dtype, n, seq_len):
    rng = np.random.default_rng(vocab_size)
    # Zipf-like ids so some pairs repeat, plus the largest id to exercise the top of the range
    x = np.minimum(rng.zipf(1.3, n) - 1, vocab_size - 1).astype(dtype)
    x[-1] = vocab_size - 1
    counts = E.count_tokens(x, vocab_size, seq_len, chunk_tokens=4 * seq_len)
    assert counts.pair_ids.dtype == (np.uint32 if vocab_size <= 65_536 else np.uint64)
    assert_matches_naive(counts, x, seq_len)
    # all-sparse and mostly-dense counting agree with the default split
    for dense_tokens in (0, 5, min(vocab_size, E.MAX_DENSE_TOKENS)):
        assert E.count_tokens(x, vocab_size, seq_len, chunk_tokens=4 * seq_len,
                              dense_tokens=dense_tokens) == counts


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=1, max_size=300), st.integers(2, 9), st.integers(1, 40),
       st.integers(0, 12))
def test_counts_property(tokens, seq_len, chunk, dense_tokens):
    x = np.array(tokens, dtype=np.uint16)
    counts = E.count_tokens(x, 12, seq_len, chunk_tokens=chunk, dense_tokens=dense_tokens)
    assert_matches_naive(counts, x, seq_len)


def test_bigram_never_crosses_sequence_boundary():
    x = np.array([0, 1, 2, 3, 4, 5], np.uint16)
    a, b, _ = E.count_tokens(x, 6, 3).pairs()
    assert set(zip(a.tolist(), b.tolist())) == {(0, 1), (1, 2), (3, 4), (4, 5)}


def test_sharded_counts_equal_whole(tmp_path):
    rng = np.random.default_rng(1)
    seq_len, vocab_size = 128, 50_257
    x = np.minimum(rng.zipf(1.2, 300_000) - 1, vocab_size - 1).astype(np.uint16)
    whole = E.count_tokens(x, vocab_size, seq_len)
    cuts = [0, 128 * 7, 128 * 500, 128 * 1500, len(x)]
    shards = [E.count_tokens(x[a:b], vocab_size, seq_len) for a, b in zip(cuts, cuts[1:])]
    assert E.Counts.merge(shards) == whole
    assert shards[0] + shards[1] + shards[2] + shards[3] == whole
    # a cut inside a sequence changes the counts: the equality above is not vacuous
    assert E.count_tokens(x[:100], vocab_size, seq_len) + E.count_tokens(x[100:], vocab_size, seq_len) != whole
    # small chunks fold through the accumulator many times
    assert E.count_tokens(x, vocab_size, seq_len, chunk_tokens=1000) == whole
    # worker processes reading a memmap by file name
    path = tmp_path / "tokens.bin"
    x.tofile(path)
    mm = np.memmap(path, dtype=np.uint16, mode="r", shape=x.shape)
    assert E.count_tokens(mm, vocab_size, seq_len, num_proc=2, chunk_tokens=20_000) == whole
    # save / load round trip
    whole.save(tmp_path / "c.npz")
    assert E.Counts.load(tmp_path / "c.npz") == whole


def test_merge_refuses_different_settings():
    x = np.arange(10, dtype=np.uint16)
    with pytest.raises(E.EntropyError, match="seq_len=4"):
        E.count_tokens(x, 10, 4) + E.count_tokens(x, 10, 5)


# ------------------------------------------------------------------------------------ entropies

@pytest.mark.parametrize("k", [1, 2, 5, 256])
def test_uniform_distribution_has_entropy_log_k(k):
    assert E.shannon_entropy(np.full(k, 17)) == pytest.approx(math.log(k), abs=1e-12)
    assert E.shannon_entropy(np.r_[np.full(k, 3), np.zeros(4)], base=2) == pytest.approx(math.log2(k), abs=1e-12)


def test_deterministic_sequence_has_zero_conditional_entropy():
    k = 13
    x = np.tile(np.arange(k, dtype=np.uint16), 400)
    e = E.token_entropies(E.count_tokens(x, 64, seq_len=k * 40))
    assert e["ce"] == pytest.approx(0.0, abs=1e-12)
    assert e["se"] == pytest.approx(math.log(k), abs=1e-12)
    # a random stream over the same symbols is far from deterministic
    rng = np.random.default_rng(0)
    e_rand = E.token_entropies(E.count_tokens(rng.integers(0, k, 20_000).astype(np.uint16), 64, 1024))
    assert e_rand["ce"] > 0.9 * math.log(k)


def test_entropy_identities_and_base():
    rng = np.random.default_rng(3)
    x = np.minimum(rng.zipf(1.4, 50_000) - 1, 999).astype(np.uint16)
    c = E.count_tokens(x, 1000, 256)
    nats, bits = E.token_entropies(c), E.token_entropies(c, base=2)
    assert nats["je"] == pytest.approx(nats["h_first"] + nats["ce"], abs=1e-12)  # Eq. 12
    for m in ("se", "je", "ce"):
        assert bits[m] == pytest.approx(nats[m] / math.log(2), rel=1e-12)
    assert 0 <= nats["ce"] <= nats["se"] + 1e-9 <= nats["je"] + 1e-2


# ----------------------------------------------------------------------------------- chain rule

def rotations(base_seq):
    """All cyclic rotations of a sequence, one per row: every position is last exactly once, so
    the first-token marginal of the pairs equals the unigram marginal exactly."""
    base_seq = np.asarray(base_seq, np.uint16)
    return np.concatenate([np.roll(base_seq, -i) for i in range(len(base_seq))])


def test_chain_rule_holds_exactly_when_first_marginal_equals_unigram():
    rng = np.random.default_rng(5)
    se, ce, je, se_rand, ce_rand, je_rand = {}, {}, {}, {}, {}, {}
    for i, length in enumerate([30, 45, 60, 75]):
        seq = np.minimum(rng.zipf(1.5, length) - 1, 40)
        e = E.token_entropies(E.count_tokens(rotations(seq), 64, seq_len=length))
        assert e["first_marginal_tv"] == pytest.approx(0.0, abs=1e-15)
        se[f"d{i}"], ce[f"d{i}"], je[f"d{i}"] = e["se"], e["ce"], e["je"]
        # the same symbols in short random sequences: the last tokens skew the first marginal
        r = E.token_entropies(E.count_tokens(rng.permutation(rotations(seq)[: 3 * length]), 64, seq_len=3))
        se_rand[f"d{i}"], ce_rand[f"d{i}"], je_rand[f"d{i}"] = r["se"], r["ce"], r["je"]
    mix = {name: E.softmax_mixture(h) for name, h in (("se", se), ("ce", ce), ("je", je))}
    assert E.chain_rule_gap(mix["se"], mix["ce"], mix["je"]) < 1e-12
    gap = E.chain_rule_gap(E.softmax_mixture(se_rand), E.softmax_mixture(ce_rand), E.softmax_mixture(je_rand))
    assert gap > 1e-4


@pytest.mark.parametrize("collection, n_domains", [("pile", 22), ("slimpajama", 7)])
def test_chain_rule_on_the_papers_tables(collection, n_domains):
    from bimix.data.mixtures import published

    se, ce, je = (dict(published(collection, m).weights) for m in ("se", "ce", "je"))
    assert len(se) == n_domains
    assert E.chain_rule_gap(se, ce, je) <= 1e-4
    # and VNE, not tied to SE and CE by the chain rule, is far from it
    assert E.chain_rule_gap(se, ce, dict(published(collection, "vne").weights)) > 1e-2


def test_softmax_mixture_temperature_and_base():
    h = {"a": 1.0, "b": 2.0, "c": 4.0}
    r = E.softmax_mixture(h)
    assert sum(r.values()) == pytest.approx(1.0)
    assert r["c"] / r["b"] == pytest.approx(math.exp(2.0))  # Eq. 13
    # entropies in bits are nats / ln 2: the same as temperature ln 2 on nats
    bits = {d: v / math.log(2) for d, v in h.items()}
    assert E.softmax_mixture(bits) == pytest.approx(E.softmax_mixture(h, temperature=math.log(2)))
    assert max(E.softmax_mixture(h, temperature=1e6).values()) < 0.34
    with pytest.raises(E.EntropyError, match="temperature"):
        E.softmax_mixture(h, temperature=0)


# ------------------------------------------------------------------------------------------ VNE

@pytest.mark.parametrize("n, d", [(10, 300), (400, 50)])  # Gram path and covariance path
def test_vne_limits(n, d):
    rng = np.random.default_rng(0)
    v = rng.normal(size=d)
    assert E.von_neumann_entropy(np.tile(v, (n, 1)) * rng.uniform(0.5, 2, (n, 1))) == pytest.approx(0, abs=1e-9)
    k = min(n, d)
    orthogonal = np.linalg.qr(rng.normal(size=(max(n, d), k)))[0].T[:k]  # k orthonormal rows
    assert E.von_neumann_entropy(orthogonal) == pytest.approx(math.log(k), abs=1e-9)
    assert E.von_neumann_entropy(orthogonal, base=2) == pytest.approx(math.log2(k), abs=1e-9)


def test_vne_gram_and_covariance_agree():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 40)) + 2.0
    # 60 > 40: covariance path; transpose trick gives the Gram path on the same spectrum via 40 rows
    h_cov = E.von_neumann_entropy(x)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(xn @ xn.T / len(x))
    lam = lam[lam > 0]
    assert h_cov == pytest.approx(float(-(lam * np.log(lam)).sum()), abs=1e-9)


def test_hashed_embedder_is_deterministic_and_separates_topics():
    emb = E.HashedNgramEmbedder(dim=64)
    docs = ["the court held that the statute applies", "def f(x): return x + 1",
            "the court held that the statute applies"]
    a, b = emb.embed(docs), E.HashedNgramEmbedder(dim=64).embed(docs)
    assert np.array_equal(a, b) and a.shape == (3, 64)
    assert E.von_neumann_entropy(a[[0, 2]]) == pytest.approx(0, abs=1e-9)
    assert E.von_neumann_entropy(a[[0, 1]]) > 0.3
    assert not np.array_equal(a, E.HashedNgramEmbedder(dim=64, seed=1).embed(docs))


def test_sample_documents_is_seeded_uniform_and_ordered():
    docs = [f"doc {i}" for i in range(5000)]
    s1 = E.sample_documents(iter(docs), 100, np.random.default_rng(0))
    assert s1 == E.sample_documents(iter(docs), 100, np.random.default_rng(0))
    assert s1 != E.sample_documents(iter(docs), 100, np.random.default_rng(1))
    idx = [int(d.split()[1]) for d in s1]
    assert idx == sorted(idx) and len(set(idx)) == 100 and np.mean(idx) == pytest.approx(2500, rel=0.2)
    assert E.sample_documents(iter(docs[:7]), 100, np.random.default_rng(0)) == docs[:7]


def test_missing_fasttext_vectors_raise_a_clear_error(tmp_path):
    with pytest.raises(E.EmbedderUnavailable, match="cc.en.300.bin"):
        E.FastTextEmbedder(tmp_path / "cc.en.300.bin")


# --------------------------------------------------------------------------------------- errors

def test_errors_name_the_problem():
    with pytest.raises(E.EntropyError, match="'legal' is empty"):
        E.count_tokens(np.empty(0, np.uint16), 100, domain="legal")
    with pytest.raises(E.EntropyError, match="T must be an integer >= 2"):
        E.count_tokens(np.arange(10, dtype=np.uint16), 100, seq_len=1)
    with pytest.raises(E.EntropyError, match="70,000 tokens does not fit the store's dtype uint16"):
        E.count_tokens(np.arange(10, dtype=np.uint16), 70_000, domain="code")
    with pytest.raises(E.EntropyError, match="domain 'math': token id 12 is outside"):
        E.count_tokens(np.array([1, 2, 12], np.uint16), 10, domain="math")
    with pytest.raises(E.EntropyError, match="rows \\[1\\]"):
        E.von_neumann_entropy(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(E.EntropyError, match="log base"):
        E.shannon_entropy(np.ones(3), base=1)


# ---------------------------------------------------------------------------- the real smoke store

def test_smoke_store_entropies_and_mixtures(smoke_store, tmp_path):
    from bimix.data.mixtures import load_named

    store = smoke_store
    domain = store.domains[0]
    tokens = store.tokens(domain)
    head = np.asarray(tokens[: 64 * 1024])
    assert_matches_naive(E.count_tokens(head, store.vocab_size, 1024), head, 1024)

    report = E.compute_entropies(store, n_docs=200, progress=False)
    t = report.table
    assert list(t.index) == list(store.domains)
    assert (t["tokens"] == [len(store.tokens(d)) for d in store.domains]).all()
    assert ((t["ce"] > 0) & (t["ce"] < t["se"]) & (t["se"] < t["je"])).all()
    assert (t["je"] - t["h_first"] - t["ce"]).abs().max() < 1e-9
    assert ((t["vne"] > 0) & (t["vne"] < math.log(200))).all()
    assert set(report.timings) >= {"count", "vne", "total"}

    paths = E.save_mixtures(report, tmp_path)
    assert sorted(p.stem for p in paths) == ["ce", "je", "se", "vne"]
    ce = load_named("ce", tmp_path, domains=store.domains)
    assert ce.meta["seq_len"] == 1024 and ce.meta["corpus_hash"] == store.corpus_hash
    assert ce.meta["tokenizer"]["vocab_size"] == store.vocab_size
    assert dict(ce.weights) == pytest.approx(E.softmax_mixture(t["ce"].to_dict()))
    mt = report.mixture_table()
    assert list(mt.columns) == ["natural", "se", "je", "ce", "vne"] and list(mt.index) == list(store.domains)
    assert np.allclose(mt.sum(), 1.0) and mt.loc[domain, "ce"] == pytest.approx(ce.weights[domain])
    # cached counts give identical entropies
    again = E.compute_entropies(store, ("se", "je", "ce"), progress=False)
    assert np.array_equal(again.table[["se", "je", "ce"]].to_numpy(), t[["se", "je", "ce"]].to_numpy())


def test_fasttext_trained_on_the_corpus(smoke_store):
    pytest.importorskip("fasttext", reason="fasttext not installed (pip install fasttext-wheel)")
    emb = E.train_fasttext(smoke_store, dim=16, epoch=1, min_count=3, max_docs_per_domain=15, progress=False)
    docs = E.sample_documents(smoke_store.documents("legal"), 50, np.random.default_rng(0))
    x = emb.embed(docs)
    assert x.shape == (50, 16) and np.isfinite(x).all()
    assert 0 < E.von_neumann_entropy(x) < math.log(16)


def test_pretrained_fasttext_vectors_when_present():
    path = E.default_vectors_path()
    if not path.is_file():
        pytest.skip(f"pretrained FastText vectors not present at {path} (7 GB download from fasttext.cc)")
    x = E.pretrained_fasttext(path).embed(["a court ruling", "def main(): pass"])
    assert x.shape == (2, 300)
