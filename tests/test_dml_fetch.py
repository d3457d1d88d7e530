"""Fetching the commit-pinned Data Mixing Laws files, through the same code, from a local HTTP
server on 127.0.0.1 serving fixture files in the published format: a verified file is cached; a
wrong hash, a 404 and a timeout are refused with a message and leave nothing in the cache."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import time
from pathlib import Path

import pytest

from bimix.public_runs import DML_COMMIT, DML_SETS, DmlSet, Pinned, fetch_dml, fetch_pinned, load_dml

FIXTURE = Path(__file__).parent / "fixtures" / "dml_Github-Books3-PileCC.txt"
SLOW = "data/slow/160M.txt"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.endswith(SLOW):
            time.sleep(1.5)
        super().do_GET()

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the timeout case hangs up on purpose: a broken pipe is expected


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    for rel in ("data/good/160M.txt", "data/bad/160M.txt", SLOW):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(FIXTURE.read_bytes())
    (root / "data/bad/160M.txt").write_bytes(FIXTURE.read_bytes() + b"tampered\n")
    handler = lambda *a, **k: _Handler(*a, directory=str(root), **k)  # noqa: E731
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _pin(path: str) -> Pinned:
    blob = FIXTURE.read_bytes()
    return Pinned(path, len(blob), hashlib.sha256(blob).hexdigest())


REGISTRY = {
    "good": DmlSet("good", (_pin("data/good/160M.txt"),), ("Github", "Books3", "PileCC")),
    "bad": DmlSet("bad", (_pin("data/bad/160M.txt"),), ("Github", "Books3", "PileCC")),
    "gone": DmlSet("gone", (_pin("data/gone/160M.txt"),), ("Github", "Books3", "PileCC")),
    "slow": DmlSet("slow", (_pin(SLOW),), ("Github", "Books3", "PileCC")),
    "groups": DmlSet("groups", (_pin("data/good/160M.txt"),), None, note="no mapping decided"),
}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_registry_pins_the_published_files():
    assert len(DML_COMMIT) == 40
    pins = {p.path: p for s in DML_SETS.values() for p in s.tables + ((s.proportions,) if s.proportions else ())}
    assert len(pins) == 11 and pins["data/3Mix/160M.txt"].size == 553178
    assert all(len(p.sha256) == 64 for p in pins.values())
    assert DML_SETS["3Mix"].domains == ("Github", "Books3", "PileCC")
    assert DML_SETS["5Mix"].domains is None and "not converted" in DML_SETS["5Mix"].note


def test_verified_file_is_cached_and_converted(server, tmp_path):
    got, messages = fetch_dml(["good"], cache=tmp_path, base_url=server, registry=REGISTRY)
    cached = tmp_path / "dml" / DML_COMMIT / "data/good/160M.txt"
    assert got == {"good": [cached]} and cached.read_bytes() == FIXTURE.read_bytes()
    assert "sha256 verified" in messages[0]
    table = load_dml("good", got["good"], registry=REGISTRY)
    assert table.table["run"].nunique() == 5
    # the second time the verified copy is used, even with the server unreachable
    again, messages = fetch_dml(["good"], cache=tmp_path, base_url="http://127.0.0.1:9/", registry=REGISTRY)
    assert again == got and "cached" in messages[0]
    # a set with no share mapping is fetched but not converted, and says why
    assert load_dml("groups", got["good"], registry=REGISTRY) == "dml groups: not converted: no mapping decided"


@pytest.mark.parametrize("name,reason", [("bad", "refused, .* sha256"), ("gone", "HTTPError: HTTP Error 404"),
                                         ("slow", "timed out")])
def test_wrong_hash_404_and_timeout_cache_nothing(server, tmp_path, name, reason):
    got, messages = fetch_dml([name], cache=tmp_path, base_url=server, timeout=0.5, registry=REGISTRY)
    assert got == {} and _files(tmp_path) == []
    assert len(messages) == 1 and messages[0].startswith("could not fetch 1 Data Mixing Laws file(s)")
    assert re.search(reason, messages[0])


def test_a_cached_file_that_no_longer_matches_is_replaced(server, tmp_path):
    pin = REGISTRY["good"].tables[0]
    dest = tmp_path / "x.txt"
    dest.write_text("stale")
    f = fetch_pinned(server + pin.path, dest, pin)
    assert f.path == dest and dest.read_bytes() == FIXTURE.read_bytes() and "downloaded" in f.message


def test_offline_is_one_line_naming_every_file(tmp_path):
    got, messages = fetch_dml(["3Mix", "2Mix"], cache=tmp_path, base_url="http://127.0.0.1:9/", timeout=2)
    assert got == {} and len(messages) == 1 and _files(tmp_path) == []
    for path in ("data/3Mix/70M.txt", "data/3Mix/160M.txt", "data/3Mix/410M.txt", "data/2Mix/70M.txt"):
        assert path in messages[0]
