"""What the token store reads from the cache is verified: damage is found, reported and repaired.

Each test works on a copy of the session's smoke cache, so the shared store stays intact.
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import numpy as np
import pytest

from bimix.files import _host, remove_orphans, write_json
from bimix.profiles import get_profile

SMOKE = get_profile("smoke")  # resolved once, as the CLI and notebooks do


def _copy_cache(src, dst, store_id: str):
    for part in ("corpus", "tokenizers"):
        shutil.copytree(src / part, dst / part)
    shutil.copytree(src / "stores" / store_id, dst / "stores" / store_id)
    return dst / "stores" / store_id


def test_damaged_store_and_tokenizer_are_rebuilt_keeping_computed_mixtures(
        smoke_store, bimix_cache, tmp_path, monkeypatch, capsys):
    from bimix.data.mixtures import Mixture, load_named, save_named
    from bimix.data.tokens import open_store

    root = _copy_cache(bimix_cache, tmp_path, smoke_store.store_id)
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path))
    original = {d: np.array(smoke_store.tokens(d, "train")) for d in smoke_store.domains}
    computed = Mixture("ce", dict(zip(smoke_store.domains, [0.5] + [0.1] * 5)), {"method": "test"})
    save_named(computed, root / "mixtures")
    books = root / "books.train.bin"
    with open(books, "r+b") as fh:  # cut off, as a full disk or a killed copy leaves it
        fh.truncate(books.stat().st_size // 2)
    tokenizer_json = next((tmp_path / "tokenizers").glob("*/tokenizer.json"))
    with open(tokenizer_json, "r+b") as fh:
        fh.truncate(1000)
    orphan = root.parent / f".{root.name}.999999999-{_host()}.abcdefgh.tmp"  # a build killed by SIGKILL
    orphan.mkdir()

    store = open_store(SMOKE, "bpe", progress=False)

    err = capsys.readouterr().err
    assert "tokenizer cache" in err and "unreadable" in err
    assert "failed verification" in err and "books.train.bin" in err and "truncated" in err
    assert store.root == root
    for d in smoke_store.domains:
        np.testing.assert_array_equal(np.asarray(store.tokens(d, "train")), original[d])
    assert load_named("ce", store.mixtures_dir).weights == computed.weights
    assert not orphan.exists()


def test_overwritten_bin_and_garbled_meta_fail_verification(smoke_store, tmp_path):
    from bimix.data.tokens import verify_store

    root = tmp_path / smoke_store.store_id
    shutil.copytree(smoke_store.root, root)
    meta, problems = verify_store(root)
    assert problems == [] and meta["domains"].keys() == set(smoke_store.domains)

    target = root / "code.valid.bin"
    data = bytearray(target.read_bytes())
    data[:64] = bytes(64)  # same size, other tokens: only the sha256 can tell
    target.write_bytes(bytes(data))
    assert any("code.valid.bin" in p and "sha256" in p for p in verify_store(root)[1])

    (root / "meta.json").write_text('{"store_version": "2", "domains": {', encoding="utf-8")
    meta, problems = verify_store(root)
    assert meta is None and "meta.json is unreadable" in problems[0]


def test_remove_orphans_spares_live_and_other_hosts_writers(tmp_path):
    from bimix.files import atomic_path

    with atomic_path(tmp_path / "runs.csv") as tmp:
        live = tmp  # this process's own temporary name
        live.write_text("x")
        dead = tmp_path / f".runs.csv.999999999-{_host()}.abcdefgh.tmp"
        elsewhere = tmp_path / ".runs.csv.999999999-0123abcd.abcdefgh.tmp"  # a writer on another machine
        for path in (dead, elsewhere):
            path.write_text("x")
        assert remove_orphans(tmp_path) == [dead]
        assert live.exists() and elsewhere.exists() and not dead.exists()


def test_ctrl_c_is_reported_as_an_interrupt_not_the_pool_error():
    from bimix.data.tokens import interrupts_win

    # a shell that starts a job in the background (as CI may) ignores SIGINT for it; Ctrl-C at a
    # terminal is what this test is about, so restore Python's own handler for its duration
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_check(interrupts_win)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_check(interrupts_win):
    with pytest.raises(KeyboardInterrupt):
        with interrupts_win():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                # what datasets' worker pool raises when its workers die of the same Ctrl-C
                raise TimeoutError("pool did not answer") from None
    with pytest.raises(TimeoutError):  # without an interrupt, the error stays what it is
        with interrupts_win():
            raise TimeoutError("genuine")


def test_write_json_names_a_garbled_file(tmp_path):
    import json

    from bimix.files import read_json

    path = write_json(tmp_path / "x.json", {"a": 1})
    path.write_text('{"a": ', encoding="utf-8")
    with pytest.raises(json.JSONDecodeError, match="x.json: invalid JSON"):
        read_json(path)
