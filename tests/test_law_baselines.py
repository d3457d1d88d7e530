"""Naive baselines beside the law (carry-forward, the steps law, the mixture-blind null) and skill
scores, in the library and in `python -m bimix fit --json`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bimix.cli import main
from bimix.data.runs import write_runs
from bimix.law.protocols import (carry_forward, extrapolate_steps, generalise_mixtures, leave_one_mixture_out,
                                 lomo_points, lomo_summary, mixture_blind, pooled_scores, skill, skill_r2)
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs

NOISE = 0.003
STEPS = tuple(range(1_000, 10_001, 1_000))  # 10 evaluations, early in training: the curves still fall


def _coefficients(doms, seed=3, alpha=None):
    coef = random_coefficients(doms, np.random.default_rng(seed))
    if alpha is not None:
        coef["alpha"] = alpha
    return coef


@pytest.fixture(scope="module")
def falling():
    """Eq. 3 runs of 5 mixtures over 3 domains, sampled while the loss still falls."""
    doms = ["web", "code", "books"]
    mixes = dirichlet_mixtures(doms, 5, np.random.default_rng(4))
    return synthetic_runs(_coefficients(doms), mixes, steps=STEPS, noise=NOISE, rng=np.random.default_rng(5))


def test_skill_definitions():
    assert skill(0.01, 0.04) == 0.25 and np.isnan(skill(0.01, 0.0)) and np.isnan(skill(np.nan, 1.0))
    assert skill_r2(0.99, 0.9) == pytest.approx(0.1)


def test_carry_forward_equals_a_hand_computation():
    # one run, one domain, steps 1..4; the last two held out: both predicted as the loss at step 2
    t = pd.DataFrame({"run": "r", "mixture": "m", "seed": 0, "step": [1, 2, 3, 4], "domain": "d",
                      "r": 1.0, "loss": [4.0, 3.0, 2.5, 2.0]})
    np.testing.assert_array_equal(carry_forward(t.iloc[:2], t.iloc[2:]), [3.0, 3.0])
    e = extrapolate_steps(t, form="steps", holdout_last=1, n_starts=2)
    # held out: step 4 (2.0); carried forward: step 3 (2.5); |2 - 2.5| / 2 = 0.25
    assert e.mre_mean_carry_forward == pytest.approx(0.25)
    assert e.errors["pred_carry_forward"].tolist() == [2.5]
    assert e.skill_carry_forward == pytest.approx(e.mre_mean / 0.25)
    assert np.isnan(e.skill_steps_law) and e.steps_law_note == "the form is the steps law"


def test_law_beats_carry_forward_while_the_curves_fall(falling):
    e = extrapolate_steps(falling, holdout_last=2, n_starts=2)
    assert e.applicable and e.skill_carry_forward < 0.5
    assert set(e.per_domain["domain"]) == {"web", "code", "books"}
    assert (e.per_domain["skill_carry_forward"] < 1).all()
    # fitted per run, bimix sees one share per domain: it is the steps law, so its skill against it is 1
    assert e.skill_steps_law == pytest.approx(1.0)
    js = e.to_json()
    assert js["skill_carry_forward"] == e.skill_carry_forward and len(js["per_domain"]) == 3
    joint = extrapolate_steps(falling, holdout_last=2, n_starts=2, per_run=False)
    assert np.isfinite(joint.skill_steps_law) and joint.skill_carry_forward < 0.5


def test_mixture_blind_null_is_a_geometric_mean_over_fitted_mixtures():
    t = pd.DataFrame({"run": ["a0", "a1", "b0"], "mixture": ["a", "a", "b"], "step": 5, "domain": "d",
                      "r": [0.2, 0.2, 0.8], "loss": [2.0, 8.0, 16.0]})
    # mixture a: seeds in log space, exp(mean(log 2, log 8)) = 4; then sqrt(4 * 16) = 8
    rows = pd.DataFrame({"domain": ["d", "d"], "step": [5, 6]})
    pred = mixture_blind(t, rows)
    assert pred[0] == pytest.approx(8.0) and np.isnan(pred[1])


def test_null_scores_as_well_as_the_law_when_the_loss_ignores_the_mixture(falling):
    doms = ["web", "code", "books"]
    mixes = dirichlet_mixtures(doms, 6, np.random.default_rng(4))
    flat = synthetic_runs(_coefficients(doms, alpha=0.0), mixes, steps=STEPS, noise=NOISE,
                          rng=np.random.default_rng(6))
    fit_on, predict = ["mix0", "mix1", "mix2"], ["mix3", "mix4", "mix5"]
    g = generalise_mixtures(flat, fit_on, predict, n_starts=2)
    assert g.applicable and abs(g.r2_log_mean - g.r2_log_mean_null) < 2e-3
    assert g.mre_final_null < 2 * NOISE and 0.5 < g.skill_mre_final < 2
    assert np.isnan(g.spearman_final_null) and g.spearman_final_min3 == g.spearman_final
    # where the loss does depend on the shares, the law explains most of what the null leaves
    real = generalise_mixtures(falling, ["mix0", "mix1", "mix2"], ["mix3", "mix4"], n_starts=2)
    assert real.skill_r2 < 0.2 and real.skill_mre_final < 0.5
    assert {"r2_log_mean_null", "skill_r2", "mre_final_null", "skill_mre_final"} <= set(real.per_mixture)
    assert np.isnan(real.spearman_final_min3)  # two held-out mixtures: a ranking of two means nothing
    js = real.to_json()
    assert js["skill_r2"] == real.skill_r2 and "r2_log_mean_null" in js["heldout"]["mix3"]


def test_leave_one_mixture_out_scores_the_null_beside_the_law(falling):
    lomo = leave_one_mixture_out(falling, forms=("bimix",), n_starts=2)
    assert (lomo["skill_r2"] < 0.5).all() and lomo["r2_log_mean_null"].notna().all()
    assert np.isfinite(lomo["spearman_final_null"]).all() and np.isfinite(lomo["spearman_final_min3"]).all()
    last = falling[falling["step"] == falling["step"].max()]  # one step per run, as in RegMix's tables
    pts, _ = lomo_points(last, form="share", n_starts=2)
    pooled = pooled_scores(pts, "domain")
    assert (pooled["skill_mre"] < 1).all() and pooled["r2_log_null"].notna().all()
    summary = lomo_summary(last, ("share",), n_starts=2)["share"]
    assert summary["skill_rel_error"] == pytest.approx(summary["mean_rel_error"] / summary["mean_rel_error_null"])
    assert summary["skill_rel_error"] < 0.5


def test_fit_cli_writes_and_prints_the_baselines(tmp_path, capsys):
    doms = ["web", "code", "books"]
    mixes = dirichlet_mixtures(doms, 6, np.random.default_rng(4))
    t = synthetic_runs(_coefficients(doms), mixes, steps=STEPS, noise=NOISE, rng=np.random.default_rng(5))
    t = t[(t["mixture"] != "mix1") | (t["step"] <= 2_000)]  # a run that stopped after two evaluations
    runs, out = write_runs(t, tmp_path / "runs.csv"), tmp_path / "fit.json"
    assert main(["fit", str(runs), "--predict", "mix3,mix4,mix5", "--holdout-last", "2", "--starts", "2",
                 "--json", str(out)]) == 0
    captured = capsys.readouterr()
    js = json.loads(out.read_text())
    ext = js["extrapolation"]
    assert ext["applicable"] and ext["n_runs_too_short"] == 1
    assert ext["skill_carry_forward"] < 1 and ext["mre_mean_carry_forward"] > ext["mre_mean"]
    assert {"mre", "mre_carry_forward", "skill_carry_forward", "mre_steps_law", "skill_steps_law"} <= \
        set(ext["per_domain"][0])
    gen = js["generalisation"]
    assert gen["skill_r2"] < 1 and gen["spearman_final_min3"] == gen["spearman_final"]
    assert gen["spearman_final_null"] is None  # NaN in the library, null in strict JSON
    assert {"r2_log_mean_null", "skill_r2", "mre_final_null", "skill_mre_final"} <= set(js["heldout"]["mix3"])
    assert "mixture-blind null" in captured.out and "carry-forward" in captured.out
