"""The three pinned public sources: a mirror folder verified against the pins (argument or
$BIMIX_PUBLIC_MIRROR, either layout), the cache, verified downloads from a local HTTP server on
127.0.0.1, pins a test registers itself, names that must stay one path component, and the converter
of the SlimPajama table of Shukor et al. on a fixture in its published format."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from bimix.cli import main
from bimix.data.public_runs import (DML_SETS, SOURCES, DmlSet, MirrorError, PublicRunsError, Source, check_name,
                                    fetch_dml, fetch_dml_url, fetch_source, load_dmsl, read_sources, write_sources)
from bimix.data.runs import ConversionError, from_dmsl, read_runs
from public_fixtures import DMSL_MIXTURES, dmsl_fixture, fixture_mirror, pin, regmix_fixture_files

FIXTURE = Path(__file__).parent / "fixtures" / "dml_Github-Books3-PileCC.txt"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The RegMix fixtures served at ``<url>/data/<file>``, as the raw-file host serves a commit."""
    root = tmp_path_factory.mktemp("served")
    for name, blob in regmix_fixture_files().items():
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / name).write_bytes(blob)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Quiet(*a, directory=str(root), **k))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_the_registry_pins_three_repositories_at_commits():
    assert set(SOURCES) == {"regmix", "dml", "dmsl"}
    assert SOURCES["regmix"].repo == "sail-sg/regmix"
    assert SOURCES["regmix"].commit == "b004d3a3f39846dcec6b3740da22bcd1ba95a5d0"
    assert SOURCES["dmsl"].repo == "meiqwq/Explaining-Data-Mixing-Scaling-Laws"
    assert SOURCES["dmsl"].commit == "c2bf1106e8e54b8d368cd6de2515d4804f1c8a36"
    regmix = {Path(p.path).name: p for p in SOURCES["regmix"].files}
    assert len(regmix) == 8 and regmix["train_pile_loss_1m.csv"].size == 121898
    # the 1M and 60M test mixtures are the same file
    assert regmix["test_mixture_1m.csv"].sha256 == regmix["test_mixture_60m.csv"].sha256
    assert [p.path for p in SOURCES["dmsl"].files] == ["data/dmsl_llm_slimpajama.csv"]
    dml = {p for s in DML_SETS.values() for p in s.tables + ((s.proportions,) if s.proportions else ())}
    assert set(SOURCES["dml"].files) == dml
    assert all(len(p.sha256) == 64 and p.size > 0 for s in SOURCES.values() for p in s.files)
    assert "raw.githubusercontent.com/sail-sg/regmix/b004d3a" in SOURCES["regmix"].base_url


@pytest.mark.parametrize("flat", [False, True])
def test_a_mirror_is_read_in_place_after_verification(tmp_path, flat):
    sources = fixture_mirror(tmp_path / "mirror", flat=flat)
    got, messages = fetch_source("regmix", sources, mirror=tmp_path / "mirror", cache=tmp_path / "cache",
                                 download=False)
    assert len(got) == 8 and all(str(p).startswith(str(tmp_path / "mirror")) for p in got.values())
    assert got["train_mixture_1m.csv"].read_bytes() == regmix_fixture_files()["train_mixture_1m.csv"]
    assert all("from the mirror, sha256 verified" in m for m in messages)
    assert _files(tmp_path / "cache") == []


def test_the_mirror_comes_from_the_environment_when_no_argument_names_one(tmp_path, monkeypatch):
    sources = fixture_mirror(tmp_path / "mirror")
    monkeypatch.setenv("BIMIX_PUBLIC_MIRROR", str(tmp_path / "mirror"))
    got, _ = fetch_source("dmsl", sources, cache=tmp_path / "cache", download=False)
    assert got["dmsl_llm_slimpajama.csv"] == tmp_path / "mirror" / "dmsl" / "data" / "dmsl_llm_slimpajama.csv"
    monkeypatch.setenv("BIMIX_PUBLIC_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(PublicRunsError, match=r"nowhere \(from \$BIMIX_PUBLIC_MIRROR\) is not a folder"):
        fetch_source("dmsl", sources, cache=tmp_path / "cache", download=False)


def test_a_mirror_file_that_is_not_the_pinned_one_is_one_clear_error(tmp_path):
    sources = fixture_mirror(tmp_path / "mirror")
    path = tmp_path / "mirror" / "regmix" / "data" / "test_pile_loss_1B.csv"
    path.write_bytes(path.read_bytes() + b"0,1\n")
    with pytest.raises(MirrorError, match=r"test_pile_loss_1B.csv is not sail-sg/regmix@b004d3a3f398 "
                                          r"data/test_pile_loss_1B.csv: \d+ bytes with sha256 [0-9a-f]{64}; "
                                          r"the pin says \d+ bytes"):
        fetch_source("regmix", sources, mirror=tmp_path / "mirror", cache=tmp_path / "cache", download=False)
    # the real pins refuse the fixtures: a mirror is only ever the pinned bytes
    with pytest.raises(MirrorError, match="train_mixture_1m.csv is not sail-sg/regmix"):
        fetch_source("regmix", mirror=tmp_path / "mirror", cache=tmp_path / "cache", download=False)


def test_missing_from_the_mirror_and_offline_is_one_line(tmp_path):
    sources = fixture_mirror(tmp_path / "mirror")
    (tmp_path / "mirror" / "regmix" / "data" / "test_mixture_1B.csv").unlink()
    got, messages = fetch_source("regmix", sources, mirror=tmp_path / "mirror", cache=tmp_path / "cache",
                                 base_url="http://127.0.0.1:9/", timeout=2)
    assert len(got) == 7 and "test_mixture_1B.csv" not in got
    assert messages[-1].startswith("could not fetch 1 regmix file(s) of sail-sg/regmix: data/test_mixture_1B.csv")
    assert "ConnectionError" in messages[-1] and _files(tmp_path / "cache") == []


def test_downloads_are_verified_cached_and_then_used_offline(served, tmp_path):
    files = regmix_fixture_files()
    sources = {"regmix": Source("regmix", "sail-sg/regmix", "c" * 40,
                                tuple(pin(f"data/{n}", b) for n, b in files.items()), "MIT")}
    got, messages = fetch_source("regmix", sources, cache=tmp_path, base_url=served)
    cached = tmp_path / "regmix" / ("c" * 40) / "data" / "train_mixture_1m.csv"
    assert got["train_mixture_1m.csv"] == cached and cached.read_bytes() == files["train_mixture_1m.csv"]
    assert all("downloaded" in m and "sha256 verified" in m for m in messages)
    again, messages = fetch_source("regmix", sources, cache=tmp_path, base_url="http://127.0.0.1:9/")
    assert again == got and all("cached" in m for m in messages)
    # a pin the served bytes do not match: refused, nothing kept
    wrong = {"regmix": Source("regmix", "sail-sg/regmix", "d" * 40,
                              (pin("data/train_mixture_1m.csv", b"other bytes"),), "MIT")}
    got, messages = fetch_source("regmix", wrong, cache=tmp_path / "w", base_url=served)
    assert got == {} and "refused" in messages[0] and _files(tmp_path / "w") == []


def test_dml_sets_come_from_a_mirror_too(tmp_path):
    blob = FIXTURE.read_bytes()
    registry = {"good": DmlSet("good", (pin("data/good/160M.txt", blob),), ("Github", "Books3", "PileCC"))}
    (tmp_path / "m" / "dml" / "data" / "good").mkdir(parents=True)
    (tmp_path / "m" / "dml" / "data" / "good" / "160M.txt").write_bytes(blob)
    got, messages = fetch_dml(["good"], cache=tmp_path / "c", registry=registry, mirror=tmp_path / "m",
                              download=False)
    assert got == {"good": [tmp_path / "m" / "dml" / "data" / "good" / "160M.txt"]} and "mirror" in messages[0]
    got, messages = fetch_dml(["good"], cache=tmp_path / "c", registry=registry, download=False)
    assert got == {} and "not cached, and downloads are off" in messages[0]


def test_pins_round_trip_through_json_and_a_bad_file_is_refused(tmp_path):
    sources = fixture_mirror(tmp_path / "mirror")
    assert read_sources(write_sources(sources, tmp_path / "pins.json")) == sources
    (tmp_path / "bad.json").write_text('{"regmix": {"repo": "x"}}')
    with pytest.raises(PublicRunsError, match="bad.json is not a pins file"):
        read_sources(tmp_path / "bad.json")


@pytest.mark.parametrize("name", ["Github,Books3,/../../x", "../x", "a/b", "..", ".hidden", "Pile-CC", "a b", ""])
def test_names_that_are_not_one_plain_path_component_are_refused(tmp_path, name):
    with pytest.raises(PublicRunsError, match="is not a plain name"):
        check_name(name, "dml_domains entry")
    with pytest.raises(PublicRunsError, match="is not a plain name"):
        fetch_dml_url("http://127.0.0.1:9/x.txt", ["Github", name], tmp_path / "public")
    assert _files(tmp_path) == []


def test_fetch_dml_url_names_the_file_after_its_domains(tmp_path):
    got = fetch_dml_url("http://127.0.0.1:9/x.txt", ["Github", "Books3", "PileCC"], tmp_path, timeout=2)
    assert got.path is None and "dml_Github-Books3-PileCC.txt: could not download" in got.message
    with pytest.raises(PublicRunsError, match="needs its training domains"):
        fetch_dml_url("http://127.0.0.1:9/x.txt", [], tmp_path)


# ----------------------------------------------------------------------------- the SlimPajama table

def test_dmsl_one_run_per_size_and_mixture_tokens_as_steps_repeat_dropped(tmp_path):
    src = tmp_path / "dmsl_llm_slimpajama.csv"
    src.write_bytes(dmsl_fixture())
    table, report = from_dmsl(src)
    assert table["run"].nunique() == 2 * len(DMSL_MIXTURES)
    assert sorted(table["run"].unique())[:2] == ["dmsl_122M_m0", "dmsl_122M_m1"]
    # one mixture, one name, at both sizes
    assert set(table.loc[table["run"] == "dmsl_310M_m2", "mixture"]) == {"m2"}
    steps = table[table["run"] == "dmsl_122M_m0"]["step"].unique()
    assert len(steps) == 10 and steps.max() == 1_998_000_000 and 2_000_000_000 not in steps
    assert (table["step"] == table["tokens"]).all()
    assert list(report.skipped.values()) == [6] and "2M tokens later" in next(iter(report.skipped))
    assert report.unmatched_validation == ["openhermes"]
    assert (table.loc[table["domain"] == "openhermes", "r"] == 0).all()
    row = table[(table["run"] == "dmsl_122M_m0") & (table["domain"] == "c4")]
    assert np.allclose(row["r"], DMSL_MIXTURES[0][2])
    # the CLI writes the same table
    assert main(["convert", "--from", "dmsl", str(src), "--out", str(tmp_path / "d.csv")]) == 0
    assert len(read_runs(tmp_path / "d.csv")) == len(table)


def test_dmsl_empty_loss_cells_are_skipped_and_bad_shares_refused(tmp_path):
    lines = dmsl_fixture().decode().splitlines()
    cells = lines[1].split(",")
    cells[-3] = ""  # one empty loss, as the published table has a few
    lines[1] = ",".join(cells)
    src = tmp_path / "t.csv"
    src.write_text("\n".join(lines) + "\n")
    pub = load_dmsl(src, run_filter="^dmsl_310M_")
    assert pub.table["run"].nunique() == len(DMSL_MIXTURES) and pub.table["run"].str.startswith("dmsl_310M_").all()
    assert any("run_filter '^dmsl_310M_' kept 3 of 6 runs" in n for n in pub.report.notes)
    table, report = from_dmsl(src)
    assert report.skipped["missing loss"] == 1
    cells = lines[2].split(",")
    cells[0] = "0.5"
    lines[2] = ",".join(cells)
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError, match=r"shares of rows \[1\] do not sum to 1"):
        from_dmsl(src)
