"""Tokenizers and the token store, on the real smoke corpus."""

from __future__ import annotations

import numpy as np
import pytest

from bimix.profiles import TokenizerConfig
from bimix.data.tokens import StoreError, build_store, load_tokenizer, store_dtype


def test_gpt2_tokenizer_gives_the_canonical_ids(smoke_store_gpt2):
    tok = smoke_store_gpt2.tokenizer
    assert tok.encode("Hello world!") == [15496, 995, 0]
    assert tok.encode(" the") == [262]
    assert len(tok) == 50257 and tok.eos_token_id == 50256
    assert smoke_store_gpt2.dtype == np.uint16


def test_bpe_round_trips_every_domain(smoke_store):
    tok = smoke_store.tokenizer
    for domain in smoke_store.domains:
        for text in list(smoke_store.documents(domain, "valid"))[:3]:
            assert tok.decode(tok.encode(text)) == text
    odd = "naïve café — ∂f/∂x ≈ 0\n\tdef f(x):  return x**2  # 😀\r\n"
    assert tok.decode(tok.encode(odd)) == odd


def test_store_holds_every_document_then_eos(smoke_store):
    tok = smoke_store.tokenizer
    assert smoke_store.vocab_size == 1024 and smoke_store.dtype == np.uint16
    for domain in smoke_store.domains:
        docs = list(smoke_store.documents(domain, "valid"))
        ids = smoke_store.tokens(domain, "valid")
        assert int((ids == smoke_store.eos_id).sum()) == len(docs)
        expected = np.concatenate([np.array(tok.encode(d) + [smoke_store.eos_id]) for d in docs])
        np.testing.assert_array_equal(np.asarray(ids), expected)


def test_stats_table(smoke_store):
    table = smoke_store.stats()
    assert list(table.index) == list(smoke_store.domains)
    assert (table["tokens"] > table["documents"]).all()
    assert (table["bytes_per_token"] > 1).all()
    assert table["train_share"].sum() == pytest.approx(1.0)


def test_store_dtype_follows_the_vocabulary():
    assert store_dtype(1024) == np.uint16
    assert store_dtype(65536) == np.uint16
    assert store_dtype(65537) == np.uint32
    assert store_dtype(50277) == np.uint16


def test_two_processes_give_the_same_store(smoke_store, smoke_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path))
    tok = load_tokenizer(TokenizerConfig(vocab_size=1024, train_bytes=1_000_000), smoke_corpus)
    parallel = build_store(smoke_corpus, tok, num_proc=2, progress=False)
    for domain in smoke_store.domains:
        for split in ("train", "valid"):
            np.testing.assert_array_equal(parallel.tokens(domain, split), smoke_store.tokens(domain, split))


def test_bad_tokenizer_requests_are_clear(smoke_corpus):
    with pytest.raises(StoreError, match="unknown tokenizer kind"):
        load_tokenizer(TokenizerConfig(kind="sentencepiece"), smoke_corpus)
    with pytest.raises(StoreError, match="needs a name"):
        load_tokenizer(TokenizerConfig(kind="hf"), smoke_corpus)
    with pytest.raises(StoreError, match="unknown domain"):
        from bimix.data.tokens import TokenStore
        TokenStore(smoke_corpus.root, {"domains": {"code": {}}, "dtype": "uint16"}).tokens("poetry")


def test_store_ships_natural_and_uniform_mixtures(smoke_store):
    from bimix.data.mixtures import load_named

    nat = load_named("natural", smoke_store.mixtures_dir, smoke_store.domains)
    train = {d: len(smoke_store.tokens(d, "train")) for d in smoke_store.domains}
    total = sum(train.values())
    for d in smoke_store.domains:
        assert nat.weights[d] == pytest.approx(train[d] / total, abs=1e-12)
    assert nat.meta["store_id"] == smoke_store.store_id
    uni = load_named("uniform", smoke_store.mixtures_dir, smoke_store.domains)
    assert all(w == pytest.approx(1 / len(smoke_store.domains)) for w in uni.weights.values())
