"""The per-size protocols on public tables (bimix.law.public_by_size), on small tables written here
in the published formats from a known BiMix law (never the real public files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bimix.data.public_runs import PublicTable, load_dmsl
from bimix.data.runs import ConversionReport
from bimix.law.forms import LawError, bimix_loss
from bimix.law.public_by_size import (DMSL_DOMAINS, by_size, claims_3_4, domain_scores, paper_gap, paper_mixtures,
                                      regmix_table, seeded_splits, size_of_runs, size_rows, slimpajama_mixtures,
                                      split_by_size, table1)
from public_fixtures import regmix_fixture_files

DOMAINS = tuple(DMSL_DOMAINS)
ALPHA = dict(zip(DOMAINS, (0.08, 0.05, 0.03, 0.10, 0.02, 0.07, 0.06)))
SIZES = {122e6: 2e9, 310e6: 4e9}


def law(d: str, r, tokens, size: float):
    """The true loss: BiMix in the own share and tokens (a size factor in the scale)."""
    j = DOMAINS.index(d)
    return bimix_loss(np.asarray(r, float), np.asarray(tokens, float) / 1e9, 1.0, ALPHA[d], 0.8 + 0.1 * j, 0.3,
                      1.5 + 0.1 * j) * (122e6 / size) ** 0.05


def mixtures(n: int = 8, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shares = 0.03 + 0.79 * rng.dirichlet(np.full(len(DOMAINS), 1.5), size=n)
    return shares / shares.sum(axis=1, keepdims=True)


def write_dmsl(path, n_mixtures: int = 8):
    """The published SlimPajama format: evaluations at 10 %, ..., 100 % of each run, the last repeated
    2M tokens later, and an ``openhermes_loss`` column with no share."""
    header = ([f"weight_{d}" for d in DOMAINS] + ["model_size", "n_tokens"] + [f"{d}_loss" for d in DOMAINS]
              + ["openhermes_loss"])
    lines = [",".join(header)]
    for size, total in SIZES.items():
        for mix in mixtures(n_mixtures):
            points = [total * k / 10 - 2e6 for k in range(1, 11)]
            for n_tokens in points + [total]:
                t = min(n_tokens, points[-1])
                losses = [float(law(d, mix[j], t, size)) for j, d in enumerate(DOMAINS)]
                lines.append(",".join(repr(float(v)) for v in [*mix, size, n_tokens, *losses, 3.0]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def pub(tmp_path_factory):
    return load_dmsl(write_dmsl(tmp_path_factory.mktemp("dmsl") / "dmsl_llm_slimpajama.csv"))


@pytest.fixture(scope="module")
def results(pub):
    return by_size(pub, forms=("bimix", "share", "exponential", "steps"), n_splits=2, n_starts=2, lomo_starts=1)


def test_split_by_size_keeps_each_size_and_drops_the_domain_no_run_trains_on(pub):
    parts = split_by_size(pub)
    assert list(parts) == ["122M", "310M"]
    for label, part in parts.items():
        assert set(part.table["domain"]) == set(DOMAINS)  # openhermes (r = 0 everywhere) dropped
        assert part.table["run"].str.startswith(f"dmsl_{label}_").all()
        assert part.table["mixture"].nunique() == 8


def test_dml_runs_without_a_size_take_their_file_stem(tmp_path):
    line = "/ckpts/Github-Books3-PileCC//{run}/{step}\t/data/valid.Github.bin\t{loss}\n"
    (tmp_path / "70M.txt").write_text(line.format(run="70M_1-0.5-0.5", step=1000, loss=2.0))
    (tmp_path / "410M.txt").write_text(line.format(run="1-0.5-0.5", step=30000, loss=1.5))
    table = pd.DataFrame({"run": ["70M_1-0.5-0.5", "1-0.5-0.5"], "mixture": ["1-0.5-0.5"] * 2, "seed": 0,
                          "step": [1000, 30000], "tokens": [1000, 30000], "domain": "Github", "r": 0.5,
                          "loss": [2.0, 1.5]})
    pub = PublicTable("dml_3Mix", "dml", [tmp_path / "70M.txt", tmp_path / "410M.txt"], table,
                      ConversionReport("dml", []))
    assert size_of_runs(pub).to_dict() == {"70M_1-0.5-0.5": "70M", "1-0.5-0.5": "410M"}
    assert list(split_by_size(pub)) == ["70M", "410M"]


def test_paper_gap_thins_a_fine_grid_and_keeps_a_coarse_one():
    steps = np.arange(1, 101) * 100  # last gap 1.0101
    fine = pd.DataFrame({"run": "a", "mixture": "a", "seed": 0, "step": steps, "tokens": steps, "domain": "x",
                         "r": 1.0, "loss": 1.0})
    thinned, gap, note = paper_gap(fine)
    assert gap == pytest.approx(10000 / 9500) and gap >= 1.05 and "thinned" in note
    coarse = fine[fine["step"] % 1000 == 0]  # last gap 10/9 = 1.11 > 1.05: the nearest the grid allows
    same, gap, note = paper_gap(coarse)
    assert len(same) == len(coarse) and gap == pytest.approx(10 / 9) and "nearest" in note


def test_seeded_splits_are_reproducible_and_need_a_mixture_left_to_predict():
    mixes = [f"m{i}" for i in range(10)]
    a, b = seeded_splits(mixes, 3, seed=5), seeded_splits(mixes, 3, seed=5)
    assert a == b and len(a) == 3 and all(len(s) == 4 == len(set(s)) for s in a)
    assert a[0] != a[1]
    assert seeded_splits(mixes[:4], 3) == []


def test_table1_on_the_exact_law_beats_carry_forward(pub):
    t = split_by_size(pub)["122M"].table
    rows = table1(t, n_starts=2)
    assert [r["distance"] for r in rows] == ["own = paper"]  # a 1.11x grid cannot come nearer 1.05x
    r = rows[0]
    assert r["gap"] == pytest.approx(1.1111, abs=1e-3)
    assert r["mre_mean"] < 1e-4 and r["skill_carry_forward"] < 0.05 and r["n_scored"] == 8


def test_by_size_scores_every_form_with_its_skill_or_reason(results):
    assert list(results) == ["122M", "310M"]
    res = results["122M"]
    t2 = res["table2"]
    assert t2["bimix"]["n_splits"] == 2 and t2["bimix"]["r2_mean"] > 0.999 and t2["bimix"]["skill_mean"] < 0.01
    assert t2["bimix"]["r2_kind"] == "per mixture over steps"
    assert t2["exponential"]["n_splits"] == 0 and "mixtures" in t2["exponential"]["reason"]
    assert t2["steps"]["n_splits"] == 0
    assert res["lomo"]["bimix"]["r2"] > 0.999 and res["lomo"]["bimix"]["skill_r2"] < 0.01
    assert res["lomo"]["bimix"]["n_heldout"] == 8
    assert not res["lomo"]["steps"]["applicable"] and "share" in res["lomo"]["steps"]["reason"]
    # identical splits for every form
    splits = pd.DataFrame(res["splits"])
    assert splits.groupby("split")["fit_on"].nunique().eq(1).all()


def test_size_rows_one_row_per_size_and_form(results):
    df = size_rows(results, "dmsl")
    assert len(df) == 2 * 5
    row = df.loc[("dmsl", "122M", "bimix")]
    assert row["T1 error %"] < 0.01 and row["T2 R2"] > 0.999
    assert np.isnan(df.loc[("dmsl", "122M", "share"), "T1 error %"])  # no step variable


def test_groups_sets_are_refused(pub):
    grouped = PublicTable(pub.name, pub.source, pub.files, pub.table, pub.report,
                          mixtures=pd.DataFrame({"g": [1.0]}, index=["x"]))
    with pytest.raises(LawError, match="own share"):
        by_size(grouped)


def test_paper_mixtures_are_the_published_shares_under_the_table_names():
    shares = paper_mixtures()
    assert list(shares.index) == ["baseline", "doremi", "se", "je", "ce", "vne", "uniform"]
    assert list(shares.columns) == list(DMSL_DOMAINS)
    assert shares.loc["baseline", "commoncrawl"] == pytest.approx(0.5203, abs=1e-3)
    assert np.allclose(shares.sum(axis=1), 1) and np.allclose(shares.loc["uniform"], 1 / 7)


def test_slimpajama_mixtures_recover_the_true_average_loss_and_claims(pub):
    t = split_by_size(pub)["122M"].table
    pred = slimpajama_mixtures(t, n_boot=20, n_starts=2)
    shares = paper_mixtures()
    last = int(t["step"].max())
    truth = {m: np.mean([law(d, shares.loc[m, d], last, 122e6) for d in DOMAINS]) for m in shares.index}
    p = pred.set_index("mixture")
    for m, v in truth.items():
        assert p.loc[m, "pred"] == pytest.approx(v, rel=2e-3)
        assert p.loc[m, "diff"] == pytest.approx(v - truth["baseline"], abs=2e-3)
    assert p.loc["baseline", "diff"] == 0 and p["n_boot"].iloc[0] > 10
    assert (p["lo"] <= p["hi"]).all()
    assert p.loc["ce", "ce_minus"] == 0 and p.loc["se", "ce_minus"] == pytest.approx(truth["ce"] - truth["se"], abs=2e-3)
    assert len(pd.concat([pred, pred])) == 2 * len(pred)  # per-size frames stack (the notebook's table)
    c = claims_3_4(pred)
    ent = {m: truth[m] - truth["baseline"] for m in ("se", "ce", "je", "vne")}
    assert set(c["entropy_minus_baseline"]) == set(ent)
    assert c["best_entropy"] == min(ent, key=ent.get)
    if all(v < -0.01 for v in ent.values()):
        assert c["claim3"] == "agrees"
    # noise-free runs: the intervals are tight, so claim 4 follows the true ranking
    assert c["claim4"] == ("agrees" if c["best_entropy"] == "ce" else "disagrees")


def test_regmix_by_size_final_loss_only(tmp_path):
    files = {}
    for name, blob in regmix_fixture_files().items():
        (tmp_path / name).write_bytes(blob)
        files[name] = tmp_path / name
    pub = regmix_table(files)
    assert list(split_by_size(pub)) == ["1M", "60M", "1B"]
    assert pub.table.loc[pub.table["run"].str.startswith("regmix_1M_"), "run"].nunique() == 240 + 96
    one = PublicTable(pub.name, pub.source, pub.files, pub.table[pub.table["run"].str.startswith("regmix_1B_")],
                      pub.report)
    res = by_size(one, forms=("bimix", "share"), n_splits=2, lomo_starts=1, lomo_max=10)["1B"]
    assert not res["table1"][0]["applicable"] and "evaluation" in res["table1"][0]["reason"]
    assert res["table2"]["bimix"]["n_splits"] == 0
    share = res["table2"]["share"]
    assert share["n_splits"] == 2 and share["r2_kind"] == "per domain over mixtures" and np.isfinite(share["r2_median"])
    n_mix = one.table["mixture"].nunique()
    assert not res["lomo"]["share"]["applicable"] and f"{n_mix} mixtures" in res["lomo"]["share"]["reason"]


def test_domain_scores_do_not_count_the_gap_between_domains_as_explained():
    loss = np.array([1.0, 1.2, 1.1, 3.0, 3.3, 3.15])
    pts = pd.DataFrame({"domain": ["a"] * 3 + ["b"] * 3, "loss": loss,
                        "pred": np.repeat([np.exp(np.log(loss[:3]).mean()), np.exp(np.log(loss[3:]).mean())], 3)})
    pts["pred_null"] = pts["pred"] * 1.01
    s = domain_scores(pts)
    assert s["r2"] == pytest.approx(0.0, abs=1e-12)  # each domain's own mean: nothing explained within it
    pooled = 1 - np.sum((np.log(loss) - np.log(pts["pred"])) ** 2) / np.sum((np.log(loss) - np.log(loss).mean()) ** 2)
    assert pooled > 0.95  # the same points pooled over domains look almost perfect
    assert s["r2_null"] < s["r2"] and s["skill_r2"] < 1
