"""The paper's protocols (Tables 1-2), leave-one-mixture-out, form comparison, and the fit CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bimix.cli import main
from bimix.law.protocols import (compare_forms, extrapolate_steps, generalise_mixtures, leave_one_mixture_out,
                                 r2_log, relative_error, spearman)
from bimix.data.runs import write_runs
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs

NOISE = 0.003
STEPS = tuple(range(20_000, 200_001, 20_000))  # 10 evaluation points


@pytest.fixture(scope="module")
def tables():
    """The same runs with and without noise: the clean one is the truth the protocols estimate."""
    rng = np.random.default_rng(7)
    doms = ["web", "code", "books"]
    coef = random_coefficients(doms, rng)
    mixes = dirichlet_mixtures(doms, 6, rng)
    clean = synthetic_runs(coef, mixes, steps=STEPS, noise=0.0)
    noisy = synthetic_runs(coef, mixes, steps=STEPS, noise=NOISE, rng=np.random.default_rng(1))
    return clean, noisy


def test_metrics():
    y = np.array([2.0, 3.0, 4.0])
    np.testing.assert_allclose(relative_error(y, [2.2, 3.0, 3.0]), [0.1, 0.0, 0.25])
    assert r2_log(y, y) == 1.0
    assert r2_log(y, np.full(3, np.exp(np.log(y).mean()))) == pytest.approx(0.0)
    assert np.isnan(r2_log([2.0, 2.0], [2.0, 2.1]))
    assert spearman([1, 2, 3], [10, 20, 30]) == 1.0 and spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert np.isnan(spearman([1.0], [2.0]))


def test_generalisation_on_clean_data_is_exact(tables):
    clean, _ = tables
    g = generalise_mixtures(clean, ["mix0", "mix1", "mix2", "mix3"], ["mix4", "mix5"])
    assert g.applicable and set(g.per_mixture["mixture"]) == {"mix4", "mix5"}
    assert (g.per_mixture["r2_log_worst"] > 1 - 1e-9).all()
    assert (g.per_mixture["mre_final"] < 1e-8).all()
    js = g.to_json()
    assert set(js["heldout"]["mix4"]) >= {"r2_log_mean", "r2_log_worst", "r2_log_best", "mre_final"}


def test_generalisation_with_noise(tables):
    clean, noisy = tables
    g = generalise_mixtures(noisy, ["mix0", "mix1", "mix2", "mix3"], ["mix4", "mix5"])
    assert (g.per_mixture["r2_log_mean"] >= 0.99).all()
    # predictions against the noise-free truth: the fit averages noise away, so the error is
    # below the noise level σ = 0.3 % (E|ε| = 0.24 % for one noisy point)
    truth = clean.set_index(["run", "step", "domain"])["loss"]
    pts = g.points.set_index(["run", "step", "domain"])
    assert relative_error(truth.loc[pts.index], pts["pred"]).mean() < NOISE
    assert g.spearman_final == pytest.approx(spearman(
        g.per_domain.groupby("mixture")["final_loss"].mean(), g.per_domain.groupby("mixture")["final_pred"].mean()))
    with pytest.raises(ValueError, match="both fitted on and predicted"):
        generalise_mixtures(noisy, ["mix0", "mix1"], ["mix1"])


def test_step_extrapolation(tables):
    clean, noisy = tables
    exact = extrapolate_steps(clean, holdout_last=2)
    assert exact.applicable and exact.mre_worst < 1e-6
    e = extrapolate_steps(noisy, holdout_last=2)
    assert len(e.per_run) == 6 and set(e.errors["step"]) == set(STEPS[-2:])
    assert e.mre_best <= e.mre_mean <= e.mre_worst
    truth = clean.set_index(["run", "step", "domain"])["loss"]
    pts = e.errors.set_index(["run", "step", "domain"])
    # extrapolating two steps from 8 noisy points per curve: against the truth, within 2σ on average
    assert relative_error(truth.loc[pts.index], pts["pred"]).mean() < 2 * NOISE
    joint = extrapolate_steps(noisy, holdout_last=1, per_run=False)
    assert joint.applicable and joint.mre_mean < 3 * NOISE
    share = extrapolate_steps(noisy, form="share")
    assert not share.applicable and "no step variable" in share.reason and np.isnan(share.mre_mean)


def test_forms_are_compared_on_identical_splits(tables):
    _, noisy = tables
    lomo = leave_one_mixture_out(noisy, forms=("bimix", "steps"), n_starts=2)
    assert list(lomo["heldout"][lomo["form"] == "bimix"]) == list(lomo["heldout"][lomo["form"] == "steps"])
    assert lomo.loc[lomo["form"] == "bimix", "applicable"].all()
    assert (lomo.loc[lomo["form"] == "bimix", "r2_log_mean"] > 0.99).all()
    assert not lomo.loc[lomo["form"] == "steps", "applicable"].any()
    comp = compare_forms(noisy, ["mix0", "mix1", "mix2", "mix3"], ["mix4", "mix5"],
                         forms=("bimix", "additive", "steps"), n_starts=2)
    row = comp.set_index("form")
    assert row.loc["bimix", "r2_log_mean"] >= 0.99
    assert np.isnan(row.loc["steps", "r2_log_mean"]) and "mixtures:" in row.loc["steps", "note"]
    # both per-run extrapolations of bimix and additive reduce to the step law on one mixture
    assert row.loc["bimix", "extrap_mre_mean"] == pytest.approx(row.loc["additive", "extrap_mre_mean"], rel=1e-3)


def test_fit_cli_json(tables, tmp_path, capsys):
    _, noisy = tables
    runs = tmp_path / "runs.csv"
    write_runs(noisy, runs)
    out = tmp_path / "fit.json"
    assert main(["fit", str(runs), "--predict", "mix4,mix5", "--holdout-last", "1", "--bootstrap", "8",
                 "--seed", "1", "--starts", "2", "--json", str(out)]) == 0
    js = json.loads(out.read_text())
    assert "A is fixed to 1" in js["scale_convention"]
    assert set(js["domains"]["web"]["params"]) == {"A", "alpha", "B", "beta", "C"}
    assert set(js["domains"]["web"]["ci"]) == {"alpha", "B", "beta", "C"}
    for mix in ("mix4", "mix5"):
        assert set(js["heldout"][mix]) >= {"r2_log_mean", "r2_log_worst", "mre_final"}
        assert js["heldout"][mix]["r2_log_mean"] > 0.99
    assert js["extrapolation"]["mre_mean"] < 3 * NOISE and "mre_worst" in js["extrapolation"]
    assert js["fit_on"] == ["mix0", "mix1", "mix2", "mix3"]
    assert "code_version" in js["provenance"] and len(js["provenance"]["runs_sha256"]) == 64
    printed = capsys.readouterr().out
    assert "held-out mixtures" in printed and "mix5" in printed
    opt = tmp_path / "opt.json"
    assert main(["optimize", str(out), "--step", "200000", "--upper", "books=0.2", "--json", str(opt)]) == 0
    o = json.loads(opt.read_text())
    assert sum(o["r"].values()) == pytest.approx(1.0) and o["r"]["books"] <= 0.2 + 1e-12
    assert o["method"] == "kkt" and set(o["near_optimal"]["r_min"]) == {"web", "code", "books"}


def test_lomo_summary_is_exact_on_clean_runs_and_counts_what_it_cannot_predict(tables):
    from bimix.law.protocols import lomo_summary

    clean, noisy = tables
    last = clean[clean["step"] == clean["step"].max()]
    summary = lomo_summary(last, ("share", "exponential"), n_starts=2)
    share = summary["share"]
    assert share["n_heldout"] == 6 and share["n_points"] == len(last) and share["n_skipped"] == 0
    assert share["worst_rel_error"] < 1e-6  # the share law is Eq. 3 at one step: exact on noiseless runs
    # the exponential law has m + 2 = 5 coefficients per domain: 5 mixtures left per fit identify it,
    # and its error on Eq. 3 data is a real, positive misfit
    assert summary["exponential"]["n_heldout"] == 6 and summary["exponential"]["mean_rel_error"] > 0
    noisy_last = noisy[noisy["step"] == noisy["step"].max()]
    assert lomo_summary(noisy_last, ("share",), n_starts=2)["share"]["mean_rel_error"] > share["mean_rel_error"]
