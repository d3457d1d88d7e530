"""Run tables: schema, lossless round-trip, sidecars, converters from the public formats, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bimix.cli import main
from bimix.data.runs import (COLUMNS, ConversionError, RunsSchemaError, from_dml, from_olmix, from_regmix,
                             normalise_domain, read_runs, read_sidecar, read_sidecars, validate_runs, write_runs,
                             write_sidecar)

FIXTURES = Path(__file__).parent / "fixtures"
DML = FIXTURES / "dml_Github-Books3-PileCC.txt"


def _table():
    rows = []
    for run, mix, shares in (("001", "NA", (0.25, 0.75)), ("r2", "b", (0.5, 0.5))):
        for step in (10, 20):
            for d, r in zip(("web", "code"), shares):
                rows.append({"run": run, "mixture": mix, "seed": 1, "step": step, "tokens": step * 512,
                             "domain": d, "r": r, "loss": 3.0 + r / step})
    return pd.DataFrame(rows)


ids = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00", exclude_categories=("Cs",)),
              min_size=1, max_size=6)


@st.composite
def run_tables(draw):
    n_runs = draw(st.integers(1, 3))
    domains = draw(st.lists(ids, min_size=1, max_size=3, unique=True))
    rows = []
    names = draw(st.lists(ids, min_size=n_runs, max_size=n_runs, unique=True))
    for run in names:
        shares = draw(st.lists(st.floats(0, 1 / len(domains)), min_size=len(domains), max_size=len(domains)))
        seed = draw(st.integers(-5, 2**40))
        for step in draw(st.lists(st.integers(1, 2**50), min_size=1, max_size=3, unique=True)):
            tokens = draw(st.one_of(st.none(), st.integers(0, 2**62)))
            for d, r in zip(domains, shares):
                rows.append({"run": run, "mixture": run, "seed": seed, "step": step,
                             "tokens": pd.NA if tokens is None else tokens, "domain": d, "r": r,
                             "loss": draw(st.floats(1e-300, 1e300))})
    return pd.DataFrame(rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=run_tables(), fmt=st.sampled_from(["csv", "parquet"]))
def test_round_trip_is_lossless(tmp_path, table, fmt):
    path = tmp_path / f"runs.{fmt}"
    write_runs(table, path)
    back = read_runs(path)
    pd.testing.assert_frame_equal(back, validate_runs(table), check_exact=True)
    assert list(back.columns) == list(COLUMNS)


def test_ids_that_look_like_numbers_or_na_stay_strings(tmp_path):
    write_runs(_table(), tmp_path / "t.csv")
    back = read_runs(tmp_path / "t.csv")
    assert set(back["run"]) == {"001", "r2"} and set(back["mixture"]) == {"NA", "b"}


@pytest.mark.parametrize("mutate, match", [
    (lambda t: t.drop(columns="tokens"), "missing \\['tokens'\\]"),
    (lambda t: t.assign(extra=1), "unexpected \\['extra'\\]"),
    (lambda t: t.assign(loss=t["loss"].where(t.index != 3, np.nan)), "'loss' has missing values in rows \\[3\\]"),
    (lambda t: t.assign(loss=t["loss"].where(t.index != 2, -1.0)), "loss must be finite and > 0: rows \\[2\\]"),
    (lambda t: t.assign(r=t["r"].where(t.index != 1, 1.5)), "within \\[0, 1\\]: rows \\[1\\]"),
    (lambda t: t.assign(step=t["step"].where(t.index != 0, 0)), "step must be > 0: rows \\[0\\]"),
    (lambda t: t.assign(step=t["step"].astype(float).where(t.index != 0, 1.5)), "'step' must hold integers"),
    (lambda t: pd.concat([t, t.iloc[[0]]], ignore_index=True), "duplicate \\(run, step, domain\\)"),
    (lambda t: t.assign(mixture=t["mixture"].where(t.index != 0, "zzz")), "more than one mixture"),
    (lambda t: t.assign(r=t["r"].where(t.index != 4, 0.4)), "more than one share"),
    (lambda t: t.assign(r=t["r"] * 1.3), "sum to more than 1"),
    (lambda t: t.assign(mixture="same"), "different shares"),
    (lambda t: t.assign(domain=t["domain"].where(t.index != 5, "")), "'domain' is empty in rows \\[5\\]"),
])
def test_validation_names_the_problem(mutate, match):
    with pytest.raises(RunsSchemaError, match=match):
        validate_runs(mutate(_table()))


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "runs.csv"
    write_runs(_table(), path)
    before = path.read_bytes()
    with pytest.raises(RunsSchemaError):
        write_runs(_table().assign(r=2.0), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]
    with pytest.raises(RunsSchemaError, match="unknown run-table format"):
        write_runs(_table(), tmp_path / "runs.xlsx")


def test_sidecars(tmp_path):
    table = tmp_path / "runs.csv"
    meta = {"mixture": "b", "mixture_weights": {"web": 0.5, "code": 0.5}, "seed": 1, "wall_time_s": 3.2}
    path = write_sidecar(table, "r2", meta)
    assert path == tmp_path / "sidecars" / "r2.json"
    assert read_sidecar(table, "r2") == {**meta, "run": "r2"}
    assert list(read_sidecars(table)) == ["r2"]
    with pytest.raises(RunsSchemaError, match="sum to 0.9"):
        write_sidecar(table, "bad", {"mixture_weights": {"web": 0.4, "code": 0.5}})
    with pytest.raises(FileNotFoundError, match="no sidecar for run 'x'"):
        read_sidecar(table, "x")


def test_normaliser():
    assert normalise_domain("the_pile_pile_cc") == normalise_domain("Pile-CC") == "pilecc"
    assert normalise_domain("metric/the_pile_github_val_loss") == normalise_domain("GitHub") == "github"
    assert normalise_domain("train_the_pile_arxiv") == "arxiv"


def test_dml_converter_handles_the_published_irregularities():
    table, report = from_dml([DML], ["Github", "Books3", "PileCC"])
    # 5 runs (untagged, size-prefixed, tagged), 'last' steps skipped and counted
    assert table["run"].nunique() == 5
    assert report.skipped == {"non-numeric checkpoint step 'last'": 15}
    assert report.duplicates_dropped == 1
    # validation Pile-CC matched to training PileCC; Wikipedia matches nothing: kept, r = 0, reported
    assert set(table["domain"]) == {"Github", "Books3", "PileCC", "Wikipedia"}
    assert report.unmatched_validation == ["Wikipedia"]
    assert (table.loc[table["domain"] == "Wikipedia", "r"] == 0).all()
    run4 = table[table["run"] == "4-0-0.5-0.5"]
    assert run4.loc[run4["domain"] == "Github", "r"].eq(0.0).all()
    tagged = table[table["run"] == "70M_RP_3-0.125-0.125-0.75"]
    assert tagged.drop_duplicates("domain").set_index("domain")["r"]["PileCC"] == 0.75
    assert tagged["step"].max() == 10_000 and table["step"].max() == 15_000
    assert any("different steps" in n for n in report.notes)
    assert table["tokens"].isna().all()


def test_dml_converter_errors(tmp_path):
    with pytest.raises(ConversionError, match="do not name their training domains"):
        from_dml([DML], [])
    with pytest.raises(ConversionError, match=r"3 shares but 2 training domains"):
        from_dml([DML], ["Github", "Books3"])
    bad = tmp_path / "bad.txt"
    bad.write_text("/a/160M_1-0.5-0.5/100\t/v/valid.Github.bin\t2.0\n/a/160M_1-0.5-0.5/100\t/v/valid.Github.bin\t2.5\n")
    with pytest.raises(ConversionError, match="different losses"):
        from_dml([bad], ["Github", "Books3"])
    bad.write_text("/a/160M_1-0.5-0.5/100\t/v/valid.Github.bin\n")
    with pytest.raises(ConversionError, match=r"bad.txt:1: expected 3 tab-separated fields"):
        from_dml([bad], ["Github", "Books3"])


def test_regmix_converter():
    table, report = from_regmix(FIXTURES / "regmix_mixtures.csv", FIXTURES / "regmix_losses.csv")
    assert table["run"].nunique() == 5 and table["domain"].nunique() == 4
    assert report.unmatched_training == ["train_the_pile_freelaw", "train_the_pile_ubuntu_irc"]
    assert (table["step"] == 1).all() and any("final loss only" in n for n in report.notes)
    row = table[(table["run"] == "regmix_0") & (table["domain"] == "the_pile_github")]
    assert float(row["r"].iloc[0]) == 0.3
    named, rep2 = from_regmix(FIXTURES / "regmix_mixtures.csv", FIXTURES / "regmix_losses.csv",
                              domains=["ArXiv", "GitHub", "Pile-CC", "Wikipedia (en)", "FreeLaw"])
    assert set(named["domain"]) == {"ArXiv", "GitHub", "Pile-CC", "Wikipedia (en)"}
    assert rep2.unmatched_training == ["train_the_pile_freelaw", "train_the_pile_ubuntu_irc"]
    partial, rep3 = from_regmix(FIXTURES / "regmix_mixtures.csv", FIXTURES / "regmix_losses.csv",
                                domains=["ArXiv", "GitHub", "Pile-CC"])
    assert rep3.unmatched_validation == ["metric/the_pile_wikipedia_en_val_loss"]
    assert (partial.loc[partial["domain"] == "the_pile_wikipedia_en", "r"] == 0).all()


def test_olmix_converter_with_explicit_map():
    mapping = {"github_bpb": "github", "arxiv_bpb": "arxiv", "wikipedia_bpb": "wikipedia"}
    table, report = from_olmix(FIXTURES / "olmix_ratios.csv", FIXTURES / "olmix_metrics.csv", domain_map=mapping)
    assert table["run"].nunique() == 4
    assert report.unmatched_validation == ["hellaswag_bpb"] and report.unmatched_training == ["dclm"]
    r = table[(table["run"] == "swarm-001-a1b2") & (table["domain"] == "github")]["r"].iloc[0]
    assert r == 0.3
    assert any("bits per byte" in n for n in report.notes)


def test_convert_cli_groups_gives_shares_only_through_the_map(tmp_path, capsys):
    # the 3Mix fixture read as if its three training domains were groups the validation domains are
    # not: no name matching; only the mapped validation domain gets its group's share
    mapfile = tmp_path / "map.json"
    mapfile.write_text(json.dumps({"Github": "code"}))
    out = tmp_path / "groups.csv"
    assert main(["convert", "--from", "dml", str(DML), "--out", str(out), "--groups",
                 "--domains", "code,books,web", "--domain-map", str(mapfile)]) == 0
    t = read_runs(out)
    assert set(t.loc[t["r"] > 0, "domain"]) == {"Github"} and set(t["domain"]) >= {"Github", "Books3", "Pile-CC"}
    assert "no training share of their own" in capsys.readouterr().out
    # without a map no validation domain has a share; a map naming no group is refused in one line
    assert main(["convert", "--from", "dml", str(DML), "--out", str(out), "--groups", "--domains", "code,books,web"]) == 0
    assert (read_runs(out)["r"] == 0).all()
    mapfile.write_text(json.dumps({"Github": "Github"}))
    assert main(["convert", "--from", "dml", str(DML), "--out", str(out), "--groups",
                 "--domains", "code,books,web", "--domain-map", str(mapfile)]) == 2
    assert "error: the share map names ['Github'], which are not training domains" in capsys.readouterr().err


def test_convert_cli(tmp_path, capsys):
    out = tmp_path / "dml.csv"
    assert main(["convert", "--from", "dml", str(DML), "--out", str(out),
                 "--domains", "Github,Books3,PileCC", "--report", str(tmp_path / "rep.json")]) == 0
    assert read_runs(out)["run"].nunique() == 5
    assert json.loads((tmp_path / "rep.json").read_text())["unmatched_validation"] == ["Wikipedia"]
    assert "skipped 15 rows" in capsys.readouterr().out
    # strict mode refuses unmatched domains and writes nothing
    strict = tmp_path / "strict.csv"
    assert main(["convert", "--from", "dml", str(DML), "--out", str(strict),
                 "--domains", "Github,Books3,PileCC", "--strict"]) == 1
    assert not strict.exists()
    mapfile = tmp_path / "map.json"
    mapfile.write_text(json.dumps({"the_pile_arxiv": "ArXiv", "the_pile_github": "GitHub",
                                   "the_pile_pile_cc": "Pile-CC", "the_pile_wikipedia_en": "Wikipedia (en)"}))
    out2 = tmp_path / "regmix.parquet"
    # files in either order
    assert main(["convert", "--from", "regmix", str(FIXTURES / "regmix_losses.csv"),
                 str(FIXTURES / "regmix_mixtures.csv"), "--out", str(out2), "--domain-map", str(mapfile)]) == 0
    assert set(read_runs(out2)["domain"]) == {"ArXiv", "GitHub", "Pile-CC", "Wikipedia (en)"}
