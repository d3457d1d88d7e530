"""Shared fixtures: one temporary $BIMIX_CACHE per test session, and the smoke token stores.

The smoke corpus is real text from the pinned artifacts (downloaded once per session into the
temporary cache), so every test that uses a store exercises the real pipeline.
"""

from __future__ import annotations

import os

import pytest

from bimix.profiles import get_profile

SMOKE = get_profile("smoke")  # resolved once, as the CLI and notebooks do


@pytest.fixture(scope="session")
def bimix_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bimix-cache")
    previous = os.environ.get("BIMIX_CACHE")
    os.environ["BIMIX_CACHE"] = str(cache)
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
