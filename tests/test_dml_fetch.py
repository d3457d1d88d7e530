"""Fetching the commit-pinned Data Mixing Laws files, through the same code, from a local HTTP
server on 127.0.0.1 serving fixture files in the published format: a verified file is cached; a
wrong hash, a 404 and a timeout are refused with a message and leave nothing in the cache.

Sets that train on groups (5Mix, RedPajama) are served as a table in the 5Mix format (five group
shares in the run names, Pile validation files), written here from a known law: by default the forms
that need a domain's own share are not applicable, with the reason, and the share-free exponential
law runs; an explicit share map makes BiMix applicable and is recorded."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bimix.data.public_runs import (DML_COMMIT, DML_SETS, FIVE_MIX_GROUPS, DmlSet, Pinned, fetch_dml,
                                    fetch_pinned, load_dml)
from bimix.law.public_analysis import SHARE_FORMS, analyse

FIXTURE = Path(__file__).parent / "fixtures" / "dml_Github-Books3-PileCC.txt"
SLOW = "data/slow/160M.txt"
GROUPS = "data/five/70M.txt"
GROUP_NAMES = tuple(FIVE_MIX_GROUPS)
# (validation domain, its group): Pile domains of three groups, two of them of one group
VALIDATION = (("Books3", "prose"), ("Github", "symbolic"), ("Pile-CC", "internet"), ("Wikipedia_en", "internet"))
MIXTURES = ("0.25-0.125-0.125-0.25-0.25", "0.5-0.0625-0.0625-0.125-0.25", "0.125-0.25-0.125-0.125-0.375",
            "0.0625-0.125-0.25-0.0625-0.5", "0.125-0.0625-0.0625-0.5-0.25", "0.25-0.25-0-0.125-0.375",
            "0.0625-0.5-0.125-0.0625-0.25", "0.1875-0.125-0.1875-0.25-0.25")


def _groups_table() -> bytes:
    """A loss table in the 5Mix format, written from a law in which a Pile domain's loss falls with
    its own group's share (BiMix-like, with a floor share so that a group at 0 stays finite) and a
    little with the other groups' shares; 0.1 % noise; one ``last`` checkpoint, one duplicated line."""
    rng = np.random.default_rng(7)
    lines = []
    for i, mix in enumerate(MIXTURES, 1):
        g = dict(zip(GROUP_NAMES, map(float, mix.split("-"))))
        for k, (dom, group) in enumerate(VALIDATION):
            for step in (1000, 2000, 4000, 8000, "last"):
                s = 8000 if step == "last" else step
                loss = ((g[group] + 0.03) ** -(0.08 + 0.01 * k) * (6.0 * s ** -0.3 + 1.2 + 0.1 * k)
                        * np.exp(-0.05 * g["internet"] + 0.03 * g["academic"]) * np.exp(rng.normal(0, 1e-3)))
                lines.append(f"/ckpts/Pile100B//70M_{i}-{mix}/{step}\t/data/pythia-pile.valid.domains//"
                             f"pythia-pile.valid.{dom}.bin\t{loss:.6f}")
    lines.append(lines[0])  # the published files repeat some lines
    return ("\n".join(lines) + "\n").encode()


GROUPS_BLOB = _groups_table()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.endswith(SLOW):
            time.sleep(3.0)  # well past the client's 1 s timeout, even on a loaded machine
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
    (root / GROUPS).parent.mkdir(parents=True, exist_ok=True)
    (root / GROUPS).write_bytes(GROUPS_BLOB)
    handler = lambda *a, **k: _Handler(*a, directory=str(root), **k)  # noqa: E731
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _pin(path: str) -> Pinned:
    blob = FIXTURE.read_bytes()
    return Pinned(path, len(blob), hashlib.sha256(blob).hexdigest())


FIVE = DmlSet("five", (Pinned(GROUPS, len(GROUPS_BLOB), hashlib.sha256(GROUPS_BLOB).hexdigest()),), GROUP_NAMES,
              own_shares=False, share_maps=(("members", tuple((v, g) for g, vs in FIVE_MIX_GROUPS.items()
                                                              for v in vs)),),
              note="five groups, validated on Pile domains")
REGISTRY = {
    "five": FIVE,
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
    assert DML_SETS["3Mix"].domains == ("Github", "Books3", "PileCC") and DML_SETS["3Mix"].own_shares
    assert DML_SETS["2Mix"].domains == ("Github", "PileCC") and DML_SETS["2Mix"].own_shares
    # the sets that train on groups: their groups in run-name order, as many as the shares per line
    # of their proportions files (5 and 7), and no share of its own for a validation domain by default
    five, rpj = DML_SETS["5Mix"], DML_SETS["RedPajama"]
    assert five.domains == ("academic", "prose", "dialogue", "symbolic", "internet") and not five.own_shares
    assert rpj.domains == ("CommonCrawl", "C4", "GitHub", "Wikipedia", "Books", "ArXiv", "StackExchange")
    assert not rpj.own_shares
    members = dict(dict(five.share_maps)["members"])
    assert len(members) == 22 and set(members.values()) == set(five.domains)
    assert set(dict(dict(rpj.share_maps)["same-source"]).values()) <= set(rpj.domains)


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


@pytest.mark.parametrize("name,reason", [("bad", "refused, .* sha256"), ("gone", "HTTPError: 404 Client Error"),
                                         ("slow", "timed out")])
def test_wrong_hash_404_and_timeout_cache_nothing(server, tmp_path, name, reason):
    # only the slow file is meant to time out: the others get a timeout that a loaded machine cannot reach
    timeout = 1.0 if name == "slow" else 30.0
    got, messages = fetch_dml([name], cache=tmp_path, base_url=server, timeout=timeout, registry=REGISTRY)
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


def _fetched_groups(server, tmp_path):
    got, messages = fetch_dml(["five"], cache=tmp_path, base_url=server, registry=REGISTRY)
    assert "sha256 verified" in messages[0]
    return got["five"]


def test_a_set_that_trains_on_groups_runs_only_the_share_free_law_by_default(server, tmp_path):
    pub = load_dml("five", _fetched_groups(server, tmp_path), registry=REGISTRY)
    assert pub.shares["own_shares"] is False and pub.shares["share_map"] is None
    assert (pub.table["r"] == 0).all() and pub.table["domain"].nunique() == len(VALIDATION)
    assert pub.mixtures.shape == (len(MIXTURES), 5) and np.allclose(pub.mixtures.sum(axis=1), 1)
    a = analyse(pub, n_starts=1, lomo_starts=1)
    for form in SHARE_FORMS:
        entry = a.claims["lomo"][form]
        assert not entry["applicable"] and "has no training share of its own: the set trains on groups" in entry["reason"]
        assert "np." not in entry["reason"]
    exp = a.claims["lomo"]["exponential"]
    assert exp["applicable"] and exp["n_points"] > 0 and exp["r2_log"] > 0.5, exp
    assert not a.claims["fit_all"]["applicable"] and not a.claims["interaction"]["applicable"]
    # a run alone needs no share: Table 1 is share-free
    assert a.claims["extrapolation"]["applicable"] and a.claims["extrapolation"]["mre_mean"] < 0.01
    assert a.claims["shares"]["share_map"] is None and a.claims["domains_without_share"]


def test_an_explicit_share_map_makes_bimix_applicable_and_is_recorded(server, tmp_path):
    files = _fetched_groups(server, tmp_path)
    pub = load_dml("five", files, registry=REGISTRY, share_map="members")
    assert pub.shares["share_map"] == "members" and pub.shares["map"]["Github"] == "symbolic"
    # two validation domains of the internet group share its share equally
    run = pub.table[pub.table["run"] == pub.table["run"].iloc[0]].drop_duplicates("domain").set_index("domain")["r"]
    assert run["Pile-CC"] == run["Wikipedia_en"] == pub.mixtures.iloc[0]["internet"] / 2
    a = analyse(pub, n_starts=1, lomo_starts=1)
    bimix = a.claims["lomo"]["bimix"]
    assert bimix["applicable"] and bimix["share_map"] == "members" and bimix["r2_log"] > 0.9, bimix
    assert a.claims["lomo"]["exponential"]["applicable"] and a.claims["shares"]["share_map"] == "members"
    # a map of its own (a JSON file): only the mapped domain gets a share; the others are listed
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"Github": "symbolic"}))
    one = load_dml("five", files, registry=REGISTRY, share_map=str(path))
    assert one.shares["share_map"] == str(path) and set(one.table.loc[one.table["r"] > 0, "domain"]) == {"Github"}
    assert "Pile-CC" in one.shares["without_share"]


@pytest.mark.parametrize("name,share_map,message", [
    ("good", "members", "validates on its own training domains"),
    ("five", "nope", "neither one of the set's maps \\(members\\) nor a JSON file"),
    ("five", {"Github": "code"}, "names \\['code'\\], not training domains of the set"),
])
def test_a_share_map_that_cannot_apply_is_refused_in_words(server, tmp_path, name, share_map, message):
    got, _ = fetch_dml([name], cache=tmp_path, base_url=server, registry=REGISTRY)
    with pytest.raises(ValueError, match=message):
        load_dml(name, got[name], registry=REGISTRY, share_map=share_map)
