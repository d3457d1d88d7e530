"""Notebooks 05 (the law on a run table) and 07 (public runs) through the runner, and the analysis
helpers behind them (bimix.law.protocols: seed spread, the no-interaction check, leave-one-mixture-out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bimix.compendium import reproduce
from bimix.data.public_runs import write_sources
from bimix.files import read_json, write_json
from bimix.law.forms import FORMS
from bimix.law.protocols import (equal_share_spread, lomo_points, pooled_scores, resolve_mixture_names,
                                 seed_variance, share_adjusted_spread)
from bimix.data.runs import write_runs
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs
from public_fixtures import fixture_mirror

# the sweep's mixture names (bimix.profiles): the paper's six plus one diverse mixture
SWEEP_NAMES = ("baseline", "doremi", "se", "ce", "je", "vne", "div0")
STEPS = np.unique(np.geomspace(10_000, 200_000, 8).astype(int))
NOISE = 0.003


def _sweep_like(seed: int = 0, n_domains: int = 5, seeds=(0, 1)):
    rng = np.random.default_rng(seed)
    domains = [f"d{i}" for i in range(n_domains)]
    coef = random_coefficients(domains, rng)
    mixes = dict(zip(SWEEP_NAMES, dirichlet_mixtures(domains, len(SWEEP_NAMES), rng).values()))
    return synthetic_runs(coef, mixes, steps=STEPS, noise=NOISE, seeds=seeds, rng=rng), coef


# ------------------------------------------------------------------------------------------ helpers

def test_mixture_aliases_map_baseline_and_natural_and_report_missing():
    table, _ = _sweep_like(seeds=(0,))
    found, missing = resolve_mixture_names(table, ["natural", "doremi", "bimix_opt"])
    assert found == {"natural": "baseline", "doremi": "doremi"} and missing == ["bimix_opt"]


def test_seed_variance_matches_the_injected_noise_and_is_empty_for_one_seed():
    table, _ = _sweep_like(seeds=(0, 1, 2, 3))
    sv = seed_variance(table)
    assert set(sv["n_seeds"]) == {4}
    assert 0.5 * NOISE < sv["log_std"].mean() < 1.5 * NOISE
    assert seed_variance(table[table["seed"] == 0]).empty


def test_share_adjusted_spread_is_noise_without_interaction_and_grows_with_it():
    table, coef = _sweep_like(seeds=(0,))
    clean = share_adjusted_spread(table)
    assert clean["spread_log_std"].mean() < 2 * NOISE
    # d0's loss now also depends on d1's share: a cross-domain term Eq. 3 does not have
    r1 = table[table["domain"] == "d1"].set_index(["run", "step"])["r"]
    sel = table["domain"] == "d0"
    bumped = table.copy()
    bumped.loc[sel, "loss"] *= 1 + 0.3 * r1.reindex(list(zip(table.loc[sel, "run"], table.loc[sel, "step"]))).to_numpy()
    spread = share_adjusted_spread(bumped).groupby("domain")["spread_log_std"].mean()
    assert spread["d0"] > 3 * clean.groupby("domain")["spread_log_std"].mean()["d0"]
    assert spread["d0"] > 3 * spread.drop("d0").max()


def test_equal_share_spread_compares_runs_that_share_a_share():
    table, _ = _sweep_like(seeds=(0,))
    assert equal_share_spread(table).empty
    same = table.copy()
    same.loc[(same["mixture"] == "se") & (same["domain"] == "d2"), "r"] = \
        float(table.loc[(table["mixture"] == "ce") & (table["domain"] == "d2"), "r"].iloc[0])
    eq = equal_share_spread(same)
    assert set(eq["domain"]) == {"d2"} and len(eq) == len(STEPS) and (eq["n_mixtures"] == 2).all()
    assert (eq["rel_range"] > 0).all()


def test_lomo_points_skip_a_domain_with_one_share_left_instead_of_the_mixture():
    table, _ = _sweep_like(seeds=(0,))
    # d4 gets the same share in every mixture but "se": holding "se" out leaves one share for d4
    flat = table.copy()
    flat.loc[(flat["domain"] == "d4") & (flat["mixture"] != "se"), "r"] = 0.1
    pts, skipped = lomo_points(flat, form="bimix", n_starts=1)
    assert list(skipped["heldout"]) == ["se"] and list(skipped["domain"]) == ["d4"]
    assert set(pts[pts["heldout"] == "se"]["domain"]) == {"d0", "d1", "d2", "d3"}
    scores = pooled_scores(pts[pts["domain"] != "d4"], "heldout")
    assert (scores["r2_log"] > 0.99).all()


# ---------------------------------------------------------------------------------------- notebooks
# fewer multi-start points and resamples than the notebooks' defaults: the fixtures follow the law, so
# the fits and the assertions on them do not need the defaults' search (which the committed runs use)
FEW_STARTS = {"n_starts": 2, "lomo_starts": 1, "n_bootstrap": 30}


def test_notebook_05_on_a_synthetic_sweep(tmp_path):
    table, coef = _sweep_like(n_domains=3)  # three domains: every per-domain path, 40 % fewer fits than five
    write_runs(table, tmp_path / "runs" / "runs.csv")
    reproduce.reproduce("smoke", ["05_fit_law"], output_dir=tmp_path / "out", figures_dir=tmp_path / "fig",
                        extra={"runs_dir": str(tmp_path / "runs"), **FEW_STARTS}, progress=False)
    res = read_json(tmp_path / "out" / "results" / "05_fit_law.json")
    assert res["fit_on"] == ["se", "ce", "je", "vne"] and res["predict"] == ["baseline", "doremi"]
    assert set(res["table1"]) == set(SWEEP_NAMES)
    for row in res["table1"].values():  # Table 1: errors at the level of the 0.3 % noise
        assert 0 < row["mre_best"] <= row["mre_mean"] <= row["mre_worst"] < 5 * NOISE
    for mix in ("baseline", "doremi"):  # Table 2: the law is exact up to noise, so R² is near 1
        assert 0.99 < res["table2"][mix]["r2_log_mean"] <= 1
        assert res["table2"][mix]["mre_final"] < 5 * NOISE
    for d, c in res["coefficients"].items():
        assert c["alpha_lo"] <= c["alpha"] <= c["alpha_hi"]
        assert c["alpha"] == pytest.approx(coef.loc[d, "alpha"], abs=0.02)
    assert set(res["forms"]) == set(FORMS) and res["forms"]["steps"]["r2_log_mean"] is None
    assert res["lomo"]["bimix"]["r2_log_pooled"] > 0.99 and res["lomo"]["bimix"]["n_skipped"] == 0
    assert set(res["lomo"]["bimix"]["heldout"]) == set(SWEEP_NAMES)
    assert res["seeds"]["n_seeds_max"] == 2 and 0 < res["seeds"]["log_std_mean"] < 2 * NOISE
    # the data follow the law, so it beats both naive predictors (skill < 1) and the mixture-blind null
    # is worse than the law on the held-out mixtures
    naive = res["naive"]
    assert 0 < naive["table1_skill_carry_forward"] < 1
    assert naive["table2_r2_log_mean_null"] < naive["table2_r2_log_mean"] and naive["table2_skill_r2"] < 1
    # no interaction in the data: the spread at equal share is seed noise
    assert 0.3 < res["interaction"]["ratio_to_seed_noise"] < 2
    for name in ("fig1_loss_vs_steps", "fig2_loss_vs_share", "fig3_predicted_vs_observed",
                 "fig_lomo_heldout", "fig_interaction_spread"):
        assert (tmp_path / "fig" / f"{name}_smoke.png").stat().st_size > 0
    assert "| baseline |" in (tmp_path / "fig" / "table2_heldout_smoke.md").read_text()


def test_notebook_05_without_a_run_table_names_the_command(tmp_path):
    with pytest.raises(reproduce.NotebookFailed, match="python -m bimix sweep --profile smoke"):
        reproduce.reproduce("smoke", ["05_fit_law"], output_dir=tmp_path, figures_dir=tmp_path / "fig",
                            extra={"runs_dir": str(tmp_path / "nothing")}, progress=False)


def test_notebook_07_on_a_mirror_of_fixtures(tmp_path, monkeypatch):
    """RegMix's tables come from a mirror (fixtures in RegMix's format, pinned by the test); the smoke
    profile's public_dir adds the Data Mixing Laws and RegMix-pair fixtures of tests/fixtures."""
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path / "cache"))
    sources = fixture_mirror(tmp_path / "mirror")
    pins = write_sources(sources, tmp_path / "pins.json")
    reproduce.reproduce("smoke", ["07_public_runs"], output_dir=tmp_path, figures_dir=tmp_path / "fig",
                        extra={"public_mirror": str(tmp_path / "mirror"), "public_pins": str(pins), **FEW_STARTS,
                               "by_size_splits": 2, "slimpajama_boot": 20, "lightgbm_iterations": 100},
                        progress=False)
    res = read_json(tmp_path / "results" / "07_public_runs.json")
    assert res["status"] == "ok" and set(res["tables"]) == {"dml_Github-Books3-PileCC", "regmix"}
    dml, regmix = res["tables"]["dml_Github-Books3-PileCC"], res["tables"]["regmix"]
    # the fixture's losses follow Eq. 3, so the law predicts held-out mixtures and steps closely
    assert dml["n_runs"] == 5 and dml["n_excluded_zero_share"] > 0
    assert dml["extrapolation"]["applicable"] and dml["extrapolation"]["mre_mean"] < 1e-3
    assert dml["lomo"]["bimix"]["r2_log"] > 0.99 and dml["lomo"]["bimix"]["spearman_final"] > 0.9
    assert not dml["lomo"]["exponential"]["applicable"] and dml["lomo"]["exponential"]["skip_reasons"]
    assert dml["interaction"]["equal_share_groups"] > 0
    # Table 1 for both step laws: one step ahead fits; three ahead needs 6 steps, one run has 4
    by_form = dml["extrapolation_by_form"]
    assert by_form["bimix, last 1"]["applicable"] and by_form["additive, last 1"]["applicable"]
    assert "at least 6" in by_form["bimix, last 3"]["reason"]
    # RegMix logs one step: only the share law applies, the step laws say why not
    assert not regmix["extrapolation"]["applicable"]
    assert "1 step" in regmix["lomo"]["bimix"]["reason"]
    assert regmix["lomo"]["share"]["r2_log"] > 0.99 and regmix["fit_all"]["form"] == "share"
    assert (tmp_path / "fig" / "fig_public_runs_lomo_smoke.pdf").is_file()
    # the protocols by model size on the Apple SlimPajama and RegMix fixtures, and the paper's mixtures
    sized = res["by_size"]
    assert set(sized) == {"dmsl", "regmix"} and set(sized["dmsl"]) == {"122M", "310M"}  # JSON keys sorted
    assert set(sized["regmix"]) == {"1M", "60M", "1B"}
    assert sized["dmsl"]["122M"]["table1"][0]["mre_mean"] < 1e-2 and "leaves none" in sized["dmsl"]["122M"]["table2_reason"]
    assert ("dmsl", "310M", "bimix") in {(r["table"], r["size"], r["form"]) for r in res["extract"]["by_size_table"]}
    assert {r["mixture"] for r in res["extract"]["slimpajama_mixtures"]} == {"baseline", "doremi", "se", "je", "ce",
                                                                             "vne", "uniform"}
    assert set(res["extract"]["slimpajama_claims"]) == {"122M", "310M"}
    assert (tmp_path / "fig" / "table_public_dmsl_smoke.md").is_file()
    assert (tmp_path / "fig" / "table_public_slimpajama_mixtures_smoke.md").is_file()
    # RegMix-format runs read from the mirror: every model scored on the held-out 1M mixtures, per domain
    bench = res["regmix_benchmark"]
    assert any("from the mirror, sha256 verified" in m for m in res["messages"])
    assert bench["sha256"] == {Path(p.path).name: p.sha256 for p in sources["regmix"].files}
    table = {row["model"]: row for row in bench["table"]}
    assert set(table) == {"share", "exponential", "lightgbm", "observed_1m"}
    for model in ("share", "exponential", "lightgbm"):
        assert 0.8 < table[model]["spearman 1M"] <= 1 and table[model]["spearman 60M"] > 0.8
    # the share law cannot score runs that leave a domain out; the others score all of them
    assert 0.3 < table["share"]["scored 1M"] < 0.9 and table["lightgbm"]["scored 1M"] == 1
    assert bench["lightgbm_iterations"] == 100 and not any(bench["failures"].values())
    assert (tmp_path / "fig" / "fig_law_benchmark_smoke.png").is_file()
    assert "| lightgbm |" in (tmp_path / "fig" / "table_law_benchmark_smoke.md").read_text()
    # what an offline run will show: the numbers, without timings
    extract = res["extract"]
    assert {r["model"] for r in extract["regmix_table"]} == set(table) and "fit s" not in extract["regmix_table"][0]
    assert {r["table"] for r in extract["dml_summary"]} == {"dml_Github-Books3-PileCC", "regmix"}


def test_notebook_07_offline_shows_the_committed_results_and_draws_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIMIX_PUBLIC_MIRROR", raising=False)
    (tmp_path / "empty").mkdir()
    # a tracked figure stands in the figures folder: it must stay as it is
    (tmp_path / "fig").mkdir()
    tracked = tmp_path / "fig" / "fig_law_benchmark_smoke.png"
    tracked.write_bytes(b"committed figure")
    committed = {"extract": {"regmix_table": [{"model": "share", "spearman 1M": 0.9396, "scored 1M": 0.6145,
                                               "spearman 1M, r>0 runs": 0.9396, "spearman 60M": 0.9267,
                                               "spearman 1B": 0.9554}],
                             "dml_summary": [], "table1": []}}
    committed_file = write_json(tmp_path / "committed" / "07_public_runs.json", committed)
    reproduce.reproduce("smoke", ["07_public_runs"], output_dir=tmp_path, figures_dir=tmp_path / "fig",
                        extra={"public_dir": str(tmp_path / "empty"), "download": False,
                               "committed_results": str(committed_file)}, progress=False)
    res = read_json(tmp_path / "results" / "07_public_runs.json")
    assert res["status"] == "committed" and res["tables"] == {} and res["regmix_benchmark"] is None
    assert res["committed_from"] == str(committed_file)
    assert res["extract"] == committed["extract"]
    assert [p.name for p in (tmp_path / "fig").iterdir()] == [tracked.name]
    assert tracked.read_bytes() == b"committed figure"
    # the one printed line of the fetching cell, in the executed notebook
    nb = json.loads((tmp_path / "notebooks" / "07_public_runs.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "".join(c["source"]).startswith("got = gather("))
    printed = "".join("".join(o.get("text", "")) for o in cell["outputs"]).strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("offline (no mirror, not cached, downloads off)")
    assert f"showing the committed results ({committed_file})" in printed[0]


def test_notebook_07_refuses_a_domain_name_that_is_not_one_path_component(tmp_path):
    with pytest.raises(reproduce.NotebookFailed, match="dml_domains entry '/../../x' is not a plain name"):
        reproduce.reproduce("smoke", ["07_public_runs"], output_dir=tmp_path, figures_dir=tmp_path / "fig",
                            extra={"dml_domains": "Github,Books3,/../../x", "public_dir": str(tmp_path / "p"),
                                   "dml_url": "http://127.0.0.1:9/x.txt", "download": True}, progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "p").exists()


def test_notebook_07_declares_every_parameter_of_its_parameters_cell():
    """papermill skips a parameter line holding two '=' (e.g. in its comment), and the runner then
    refuses that parameter as undeclared."""
    import papermill

    path = reproduce.NOTEBOOKS_DIR / "07_public_runs.ipynb"
    declared = papermill.inspect_notebook(str(path))
    cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    names = [line.split(":")[0] for line in "".join(cell["source"]).splitlines() if line.strip()]
    assert set(names) == set(declared) and {"dml_share_maps", "public_mirror", "public_pins"} <= set(declared)
