"""What the notebooks call for their plumbing (bimix.compendium.notebook, tables, results, compute;
the protocol summaries of bimix.law): where outputs go, which committed results stand in, the
summaries behind the tables, and the sentences beside them. Each helper is checked on numbers whose
answer is known, in both directions where a sentence or a rule can go two ways."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bimix.compendium import findings, notebook, tables
from bimix.data.entropy import ratio_by_base
from bimix.data.public_runs import PublicTables
from bimix.files import read_json
from bimix.law.optimize import outside_interval
from bimix.law.optimum import Rival, fitted_range, rival_optimum, support_flags
from bimix.law.protocols import (Extrapolation, ProtocolError, interaction_check, lomo_overview, natural_name,
                                 predicted_vs_measured, split_mixtures, steps_to_target)
from bimix.law.seeds import against_natural
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs
from bimix.paths import BUILD_DIR, FIGURES_DIR


def _runs(seeds=(0, 1), noise=0.003, names=("baseline", "se", "ce", "je")):
    rng = np.random.default_rng(0)
    domains = ["a", "b", "c"]
    coef = random_coefficients(domains, rng)
    mixes = dict(zip(names, dirichlet_mixtures(domains, len(names), rng).values()))
    return synthetic_runs(coef, mixes, steps=[100, 200, 400, 800], noise=noise, seeds=seeds, rng=rng)


# ------------------------------------------------------------------------------ notebook plumbing
def test_places_resolve_folders_suffix_and_the_smoke_run_table(tmp_path):
    cpu = notebook.places("cpu")
    assert (cpu.figures, cpu.results, cpu.suffix, cpu.runs_dir()) == (FIGURES_DIR, BUILD_DIR / "results", "", None)
    smoke = notebook.places("smoke", str(tmp_path / "fig"), str(tmp_path / "res"))
    assert smoke.suffix == "_smoke" and smoke.runs_dir() == tmp_path / "res" / "runs" / "smoke"
    assert smoke.runs_dir(str(tmp_path / "mine")) == tmp_path / "mine"
    with pytest.raises(FileNotFoundError, match="python -m bimix sweep --profile smoke"):
        smoke.run_table()
    assert notebook.places("gpu").runs_dir() is None  # the profile's own table, under data/runs/gpu


def test_places_write_tables_once_and_results_json_clean(tmp_path):
    out = notebook.places("smoke", str(tmp_path), str(tmp_path))
    path = out.table("table_x", "caption\n\n| a |\n| --- |\n| 0.12345 |\n")
    assert path.name == "table_x_smoke.md"
    before = path.stat().st_mtime_ns
    out.table("table_x", "caption\n\n| a |\n| --- |\n| 0.12346 |\n")  # one unit of the last digit: kept
    assert path.stat().st_mtime_ns == before and "0.12345" in path.read_text()
    out.table("table_x", "caption\n\n| a |\n| --- |\n| 0.31234 |\n")  # another number: written
    assert "0.31234" in path.read_text()
    written = out.write_results("05_x", {"nan": float("nan"), "n": np.int64(3), "pair": (1, 2)})
    assert written == {"nan": None, "n": 3, "pair": [1, 2]} == read_json(tmp_path / "05_x.json")


def test_committed_results_stand_in_only_where_they_exist(tmp_path):
    assert notebook.stand_in("no_such_notebook", "cpu") == (None, None)
    committed = tmp_path / "07.json"
    committed.write_text('{"extract": {"rows": [{"model": "share", "rho": 0.9}]}}')
    data, name = notebook.stand_in("07_public_runs", "cpu", str(committed))
    assert name == str(committed) and data["extract"]["rows"][0]["rho"] == 0.9
    frame = notebook.extract_frame(data, "rows", "model")
    assert frame.loc["share", "rho"] == 0.9
    assert notebook.extract_frame(data, "missing") is None and notebook.extract_frame(None, "rows") is None
    assert notebook.repo_relative(FIGURES_DIR / "x.png") == "figures/x.png"


def test_timer_measures_its_block():
    with notebook.Timer() as t:
        sum(range(1000))
    assert 0 <= t.seconds < 5


# ------------------------------------------------------------------------------ law summaries
def test_split_mixtures_resolves_aliases_and_refuses_what_cannot_be_fitted():
    table = _runs(seeds=(0,))
    split = split_mixtures(table, "se, ce", "natural,doremi", source="runs.csv")
    assert split.fit == ["se", "ce"] and split.predict == ["baseline"] and split.missing_predict == ["doremi"]
    assert "['doremi'] are not in the run table" in split.warning
    assert split_mixtures(table, "se", "baseline").warning == ""
    with pytest.raises(ProtocolError, match=r"mixtures to fit on \['vne'\] are not in runs.csv"):
        split_mixtures(table, "se,vne", "baseline", source="runs.csv")
    with pytest.raises(ProtocolError, match="none of the mixtures to predict"):
        split_mixtures(table, "se", "doremi")
    assert natural_name(["doremi", "natural"]) == "natural"
    with pytest.raises(ProtocolError, match="must hold the natural mixture"):
        natural_name(["doremi", "ce"])


def test_table1_by_mixture_averages_means_and_keeps_the_extremes():
    per_run = pd.DataFrame({"mixture": ["m", "m", "n"], "mre_mean": [0.1, 0.3, 0.5],
                            "mre_worst": [0.2, 0.6, 0.7], "mre_best": [0.05, 0.01, 0.4]})
    rows = Extrapolation("bimix", True, per_run=per_run).by_mixture()
    assert rows.loc["m"].tolist() == pytest.approx([0.2, 0.6, 0.01]) and list(rows.index) == ["m", "n"]


def test_lomo_overview_ranks_held_out_finals_and_pools_r2():
    rows = []
    for k, mix in enumerate(("x", "y", "z")):
        for step in (1, 2):
            rows.append({"run": mix, "heldout": mix, "step": step, "domain": "a",
                         "loss": 3.0 + k - step * 0.1, "pred": 3.0 + k - step * 0.1 + 0.01})
    pts = pd.DataFrame(rows)
    skipped = pd.DataFrame({"heldout": ["z"], "domain": ["b"], "reason": ["one share left"]})
    scores, summary = lomo_overview({"good": (pts, skipped),
                                     "reversed": (pts.assign(pred=pts["pred"].to_numpy()[::-1]), pts.iloc[:0])})
    assert summary["good"]["spearman_final"] == pytest.approx(1.0) and summary["good"]["r2_log_pooled"] > 0.99
    assert summary["reversed"]["spearman_final"] == pytest.approx(-1.0)
    assert summary["good"]["n_skipped"] == 1 and summary["good"]["skip_reason"] == "one share left"
    assert set(scores["form"]) == {"good", "reversed"} and set(scores["heldout"]) == {"x", "y", "z"}


def test_interaction_check_sees_seed_noise_without_interaction():
    table = _runs(seeds=(0, 1, 2), noise=0.01)
    pts = table.assign(pred=table["loss"] * 1.01)
    check = interaction_check(table, pts)
    assert check.n_seeds_max == 3 and check.fit_error.to_numpy() == pytest.approx(math.log(1.01), rel=1e-6)
    facts = check.to_json()
    assert 0.2 < facts["interaction"]["ratio_to_seed_noise"] < 3  # the table follows Eq. 3: spread is noise
    assert list(check.table().columns) == ["spread_at_equal_share", "seed_noise", "lomo_rmse_log"]
    alone = interaction_check(_runs(seeds=(0,)), pts)
    assert alone.noise is None and alone.to_json()["interaction"]["ratio_to_seed_noise"] is None


def test_steps_to_target_and_against_natural_read_figure_8():
    curves = pd.DataFrame({"natural": [3.0, 2.5, 2.0], "opt": [2.8, 2.0, 1.8], "slow": [3.2, 2.9, 2.6]},
                          index=[10, 100, 1000])
    target, reach, table = steps_to_target(curves, "natural", 1000)
    assert target == 2.0 and reach["natural"] == 1000 and reach["opt"] == pytest.approx(100)
    assert math.isnan(reach["slow"]) and table.loc["opt", "speedup_vs_natural"] == pytest.approx(10)
    runs = _runs(seeds=(0, 1))
    fig8 = against_natural(runs, ["se", "baseline"], "baseline", 800)
    assert list(fig8.curves.columns) == ["se", "baseline"] and fig8.reach["baseline"] == 800
    assert set(fig8.speedups["baseline"]) == {0, 1} and fig8.ratio("se", "baseline").keys() == {0, 1}


def test_predicted_vs_measured_scores_the_final_step_per_domain():
    runs = pd.DataFrame({"step": [1, 1, 2, 2] * 2, "domain": ["a", "b"] * 4, "seed": [0] * 4 + [1] * 4,
                         "loss": [4.0, 3.0, 2.0, 1.0, 4.2, 3.2, 2.2, 1.2]})
    predicted = runs[runs["seed"] == 0][["step", "domain"]].assign(pred=[4.1, 3.1, 2.2, 1.1])
    pvm, final = predicted_vs_measured(runs, predicted)
    assert len(pvm) == 4 and final.loc["a", "loss"] == pytest.approx(2.1)
    assert final.loc["a", "rel_error"] == pytest.approx(0.1 / 2.1) and final["r2_log"].notna().all()


def test_outside_interval_and_support_flags_name_the_domains_outside():
    interval = pd.DataFrame({"domain": ["a", "b"], "lo": [0.2, 0.3], "hi": [0.4, 0.5]})
    assert outside_interval(interval, {"a": 0.3, "b": 0.6}) == ["b"] and outside_interval(None, {}) == []
    rows = pd.DataFrame({"domain": ["a", "a", "b", "b"], "r": [0.1, 0.3, 0.5, 0.7]})
    assert fitted_range(rows) == {"a": (0.1, 0.3), "b": (0.5, 0.7)}
    opt = SimpleNamespace(shares={"a": 0.6, "b": 0.4})
    assert support_flags({"bimix_opt": (opt, rows), "ye_opt": (None, rows)}) == {"bimix_opt": {"a": 0.6, "b": 0.4}}


def test_the_rival_says_why_it_is_not_applicable():
    rows = _runs(seeds=(0,))
    none = rival_optimum(rows, 800, [], None, None)
    assert none.opt is None and "rival_fit_on is empty" in none.note(800)
    late = rival_optimum(rows, 999, ["se"], None, None)
    assert "has a run evaluated at step 999" in late.reason
    assert Rival(["se"], rows.iloc[:0], reason="x").to_json() == {
        "law": "exponential (Ye et al. 2024)", "fit_on": ["se"], "applicable": False, "reason": "x"}


def test_ratio_by_base_is_the_softmax_spread_at_temperature_ln_b():
    table = pd.DataFrame({"ce": {"a": 1.0, "b": 2.0, "c": 3.0}, "se": {"a": 2.0, "b": 2.0, "c": 2.5}})
    ratios = ratio_by_base(table, {"e": math.e, "2": 2.0}, measures=("ce", "se"))
    assert ratios.loc["ce", "e"] == pytest.approx(math.exp(2.0))
    assert ratios.loc["ce", "2"] == pytest.approx(math.exp(2.0 / math.log(2)))


def test_public_tables_say_what_was_had_and_what_stands_in_offline(tmp_path):
    got = PublicTables({}, False, None, {}, [], ["regmix: not cached"], tmp_path, None, False)
    assert got.offline
    assert got.note("data/results/cpu/07.json").startswith("offline (no mirror, not cached, downloads off)")
    assert "showing the committed results (data/results/cpu/07.json)" in got.note("data/results/cpu/07.json")
    assert "no committed results exist" in got.note(None)
    online = PublicTables({"a.csv": tmp_path}, True, None, {}, [], ["a.csv: from the mirror"], tmp_path, tmp_path, True)
    assert not online.offline and online.note() == "a.csv: from the mirror"


# ------------------------------------------------------------------------------ sentences and tables
def _ext(law: float, naive: float):
    return SimpleNamespace(mre_mean=law, mre_mean_carry_forward=naive, skill_carry_forward=law / naive, mre_worst=law)


def test_against_carry_forward_says_which_predictor_wins_at_each_distance():
    text = findings.against_carry_forward(_ext(0.001, 0.002), _ext(0.004, 0.002), 1.053, 1.2)
    assert "extrapolates better than the naive predictor" in text and "loses its advantage" in text
    text = findings.against_carry_forward(_ext(0.003, 0.002), _ext(0.001, 0.002), 1.053, 1.2)
    assert "does no better" in text and "advantage holds further ahead" in text


def test_versus_places_a_number_against_the_papers_range():
    assert findings.versus(0.17, (0.16, 0.19), False) == "within the paper's 0.16–0.19"
    assert findings.versus(0.5, (0.16, 0.19), False).startswith("worse")
    assert findings.versus(0.99, (0.97, 0.98), True).startswith("better")
    assert findings.versus(float("nan"), (0.1, 0.2), True) == "not measured"


def test_natural_vs_interval_and_flatness_go_both_ways():
    assert "**not** distinguishable" in findings.natural_vs_interval([], 6)
    assert "for 2 of 6 domains (math, code)" in findings.natural_vs_interval(["math", "code"], 6)
    flat = pd.DataFrame({"natural": [0.7, 0.1, 0.2], "se": [0.3, 0.3, 0.4], "je": [0.3, 0.3, 0.4],
                         "ce": [0.8, 0.1, 0.1], "vne": [0.3, 0.3, 0.4]})
    paper = {m: {"a": 0.5, "b": 0.5} for m in ("baseline", "se", "je", "ce", "vne")}
    text = findings.flatness({"bpe": flat}, paper)
    assert "flatter than natural: se, je, vne." in text and "flatter than its Baseline: none" in text


def test_table1_text_states_both_distances_in_percent():
    t1 = pd.DataFrame({"mre_mean": [0.001]}, index=pd.Index(["se"], name="mixture"))
    text = tables.table1_text("cpu", 1, 1.0526, 1.25, t1, t1 * 2)
    assert "held-out step 1.053× the last fitted" in text and "| se | 0.1 |" in text and "| se | 0.2 |" in text
