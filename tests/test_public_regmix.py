"""The RegMix converter on tables in RegMix's published format (written by tests/public_fixtures.py;
the real tables are fetched by pin, never kept here) and the fixes the real files need: rounded shares
renormalised and reported, run ids that stay apart when files are combined, and the Data Mixing Laws
converter with a training-domain order and a validation -> training map together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bimix.cli import main
from bimix.data.runs import ConversionError, from_dml, from_regmix, read_runs, regmix_pairs
from public_fixtures import REGMIX_FIXTURE_SPLITS, regmix_fixture_files

PAIRS = {tag: n for tag, (n, _, _) in REGMIX_FIXTURE_SPLITS.items()}


@pytest.fixture(scope="module")
def REGMIX(tmp_path_factory):  # noqa: N802 (reads like the folder it stands for)
    folder = tmp_path_factory.mktemp("regmix")
    for name, blob in regmix_fixture_files().items():
        (folder / name).write_bytes(blob)
    return folder


@pytest.mark.parametrize("tag,n_runs", PAIRS.items())
def test_regmix_pairs_load_with_their_row_counts(REGMIX, tag, n_runs):
    split, size = tag.split("_")
    table, report = from_regmix(REGMIX / f"{split}_mixture_{size}.csv", REGMIX / f"{split}_pile_loss_{size}.csv")
    assert table["run"].nunique() == n_runs and table["domain"].nunique() == 13
    assert len(table) == 13 * n_runs and (table["step"] == 1).all()
    assert table["run"].str.startswith(f"regmix_{tag}_").all()
    # the four training domains without a validation loss are named, not dropped silently
    assert report.unmatched_training == ["train_the_pile_enron_emails", "train_the_pile_europarl",
                                         "train_the_pile_nih_exporter", "train_the_pile_philpapers"]
    # rounded rows were renormalised and the report counts them
    raw = pd.read_csv(REGMIX / f"{split}_mixture_{size}.csv").drop(columns="index").sum(axis=1)
    n_off = int((abs(raw - 1) > 1e-9).sum())
    assert n_off > 0 and any(f"renormalised {n_off} of {n_runs}" in n for n in report.notes)
    # after renormalisation a run's shares over the validated domains are within [0, 1]
    per_run = table.drop_duplicates(["run", "domain"]).groupby("run")["r"].sum()
    assert per_run.max() <= 1 + 1e-9 and per_run.min() >= 0


def test_renormalised_shares_sum_to_one_over_all_training_domains(REGMIX):
    mix = pd.read_csv(REGMIX / "train_mixture_1m.csv")
    shares = mix.drop(columns="index").to_numpy(float)
    assert 0.995 < shares.sum(axis=1).min() and 1 < shares.sum(axis=1).max() < 1.004
    table, _ = from_regmix(REGMIX / "train_mixture_1m.csv", REGMIX / "train_pile_loss_1m.csv")
    # one row that was rounded up: its validated shares are the published ones over the row sum
    i = int(np.argmax(shares.sum(axis=1)))
    run = f"regmix_train_1m_{mix['index'][i]}"
    got = table[(table["run"] == run) & (table["domain"] == "the_pile_pile_cc")]["r"].iloc[0]
    assert got == pytest.approx(mix["train_the_pile_pile_cc"][i] / shares[i].sum(), rel=1e-12)


def test_share_tolerance_refuses_a_row_beyond_rounding(REGMIX, tmp_path):
    mix = pd.read_csv(REGMIX / "test_mixture_1B.csv")
    mix.loc[3, "train_the_pile_pile_cc"] += 0.05
    bad = tmp_path / "test_mixture_1B.csv"
    mix.to_csv(bad, index=False)
    with pytest.raises(ConversionError, match=r"index 3 sum to 1\.0[45]\d*, beyond 1 ± 0\.0085"):
        from_regmix(bad, REGMIX / "test_pile_loss_1B.csv")
    # a declared, wider tolerance accepts it, and says so
    _, report = from_regmix(bad, REGMIX / "test_pile_loss_1B.csv", share_tol=0.06)
    assert any("tolerance 1 ± 0.06, given" in n for n in report.notes)


def test_convert_cli_combines_all_regmix_files_without_collisions(REGMIX, tmp_path, capsys):
    files = sorted(str(p) for p in REGMIX.glob("*.csv"))
    assert len(regmix_pairs(files)) == 4
    out = tmp_path / "regmix.csv"
    assert main(["convert", "--from", "regmix", *files, "--out", str(out)]) == 0
    table = read_runs(out)
    assert table["run"].nunique() == sum(PAIRS.values())
    # same row number, different files: different runs with their own losses
    a = table[(table["run"] == "regmix_train_1m_1") & (table["domain"] == "the_pile_github")]["loss"]
    b = table[(table["run"] == "regmix_test_1m_1") & (table["domain"] == "the_pile_github")]["loss"]
    assert len(a) == len(b) == 1 and float(a.iloc[0]) != float(b.iloc[0])
    assert "renormalised" in capsys.readouterr().out


DML_GROUPED = """\
/ck/70M_RP_1-0.5-0.5/1000\t/v/valid.ArXiv.bin\t3.1
/ck/70M_RP_1-0.5-0.5/1000\t/v/valid.PubMed.bin\t3.3
/ck/70M_RP_1-0.5-0.5/1000\t/v/valid.Github.bin\t2.1
/ck/70M_RP_1-0.5-0.5/1000\t/v/valid.Enron.bin\t4.0
/ck/70M_RP_2-0.25-0.75/1000\t/v/valid.ArXiv.bin\t3.4
/ck/70M_RP_2-0.25-0.75/1000\t/v/valid.PubMed.bin\t3.6
/ck/70M_RP_2-0.25-0.75/1000\t/v/valid.Github.bin\t2.0
/ck/70M_RP_2-0.25-0.75/1000\t/v/valid.Enron.bin\t4.1
/ck/70M_RP_2-0.25-0.75/last\t/v/valid.Github.bin\t2.0
"""


def test_dml_domains_and_map_together(tmp_path):
    src = tmp_path / "grouped.txt"
    src.write_text(DML_GROUPED)
    mapping = {"ArXiv": "academic", "PubMed": "academic", "Github": "code"}
    table, report = from_dml([src], ["academic", "code"], domain_map=mapping)
    # two validation domains share the "academic" group: each keeps its name and half its share
    got = table[table["run"] == "70M_RP_2-0.25-0.75"].set_index("domain")["r"].to_dict()
    assert got == {"ArXiv": 0.125, "PubMed": 0.125, "code": 0.75, "Enron": 0.0}
    assert report.unmatched_validation == ["Enron"] and report.skipped
    assert any("keep their own names" in n for n in report.notes)
    # the CLI takes both options
    mapfile = tmp_path / "map.json"
    mapfile.write_text(__import__("json").dumps(mapping))
    assert main(["convert", "--from", "dml", str(src), "--out", str(tmp_path / "g.csv"),
                 "--domains", "academic,code", "--domain-map", str(mapfile)]) == 0
    # a training-domain list that matches nothing is an error, not an all-zero table
    with pytest.raises(ConversionError, match="none of the training domains"):
        from_dml([src], ["prose", "dialogue"])
    with pytest.raises(ConversionError, match="maps to 'web', which is not one of the training domains"):
        from_dml([src], ["academic", "code"], domain_map={**mapping, "Enron": "web"})


def test_regmix_domain_names_matching_nothing_are_an_error(REGMIX):
    with pytest.raises(ConversionError, match="none of the given domain names matches"):
        from_regmix(REGMIX / "test_mixture_1B.csv", REGMIX / "test_pile_loss_1B.csv", domains=["Books", "Web"])


# small pairs written by the tests below: RegMix mixtures / losses, Olmix ratios / metrics
PAIR_FILES = {
    "mixtures": "index,train_github,train_arxiv\n0,0.25,0.75\n1,0.5,0.5\n",
    "losses": "index,metric/github_val_loss,metric/arxiv_val_loss\n0,2.5,3.1\n1,2.25,3.25\n",
    "ratios": "run,name,index,github,arxiv\nr0,mix-0,0,0.25,0.75\nr1,mix-1,1,0.5,0.5\n",
    "metrics": "run,name,index,github_bpb,arxiv_bpb\nr0,mix-0,0,1.25,1.5\nr1,mix-1,1,1.125,1.75\n",
}


@pytest.mark.parametrize("source, kinds", [
    ("regmix", ("mixtures", "mixtures")), ("regmix", ("losses", "losses")),
    ("olmix", ("ratios", "ratios")), ("olmix", ("metrics", "metrics")),
])
def test_convert_refuses_two_files_of_one_kind_in_one_line_naming_them(source, kinds, tmp_path, capsys):
    # two mixtures files used to end in a pandas KeyError traceback (two losses files in a
    # message about mixture rows summing to 13)
    files = [tmp_path / f"{kind}_{i}.csv" for i, kind in enumerate(kinds)]
    for path, kind in zip(files, kinds):
        path.write_text(PAIR_FILES[kind])
    out = tmp_path / "out.csv"
    assert main(["convert", "--from", source, *map(str, files), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert all(str(path) in err for path in files) and f"({kinds[0]})" in err
    assert not out.exists()


def test_olmix_files_with_plain_names_are_told_apart_by_content(tmp_path, capsys):
    # named a.csv (ratios) and b.csv (metrics): the pair used to be taken in the wrong order and
    # converted without a word, the metrics read as shares
    (tmp_path / "named").mkdir()
    named = [tmp_path / "named" / "ratios.csv", tmp_path / "named" / "metrics.csv"]
    plain = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path, kind in zip(named + plain, ("ratios", "metrics", "ratios", "metrics")):
        path.write_text(PAIR_FILES[kind])
    mapping = tmp_path / "map.json"
    mapping.write_text('{"github_bpb": "github", "arxiv_bpb": "arxiv"}')
    for files, out in ((named, tmp_path / "named.csv"), (plain, tmp_path / "plain.csv")):
        assert main(["convert", "--from", "olmix", *map(str, files), "--out", str(out),
                     "--domain-map", str(mapping)]) == 0
    expected = read_runs(tmp_path / "named.csv")
    assert sorted(expected["r"].unique()) == [0.25, 0.5, 0.75]
    pd.testing.assert_frame_equal(read_runs(tmp_path / "plain.csv"), expected)
