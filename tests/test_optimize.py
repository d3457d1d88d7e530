"""The mixture optimiser: exact KKT solution against SLSQP and a grid; simplex, bounds, invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bimix.law.forms import LawFit, NotPredictableError, fit_law
from bimix.law.optimize import (OptimizeError, grid_search, kkt_bimix, near_optimal_region, optimize_mixture,
                                sensitivity)
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs

# the optimiser's arithmetic, mostly unbounded; its warnings are tested in test_optimize_support.py
pytestmark = pytest.mark.filterwarnings("ignore::bimix.law.optimize.OptimumWarning")


def _law(alpha, K):
    """A bimix LawFit with A = 1, C = K and B = 0⁺ (so K_i = C_i at every step)."""
    doms = tuple(f"d{i}" for i in range(len(alpha)))
    js = {"form": "bimix", "method": "trf", "domain_order": list(doms), "domains": {
        d: {"params": {"A": 1.0, "alpha": float(a), "B": 1e-300, "beta": 1.0, "C": float(k)},
            "identified": "full", "form": "bimix", "success": True, "n_starts": 1,
            "n_converged_to_best": 1, "cost": 0.0, "n_points": 0, "n_excluded_zero_share": 0}
        for d, a, k in zip(doms, alpha, K)}}
    return LawFit.from_json(js)


@pytest.fixture(scope="module")
def fit3():
    rng = np.random.default_rng(11)
    doms = ["web", "code", "books"]
    table = synthetic_runs(random_coefficients(doms, rng), dirichlet_mixtures(doms, 5, rng), rng=rng)
    return fit_law(table)


def test_kkt_equals_slsqp_and_fine_grid(fit3):
    # the law's own optimum, unbounded like the grid (the default keeps the fitted support)
    kkt = optimize_mixture(fit3, 100_000, within_support=False)
    slsqp = optimize_mixture(fit3, 100_000, method="slsqp", within_support=False)
    assert kkt.method == "kkt" and kkt.lam > 0
    np.testing.assert_allclose(kkt.r, slsqp.r, atol=1e-6)
    assert kkt.r.sum() == pytest.approx(1.0, abs=1e-12)
    grid = grid_search(fit3, 100_000, resolution=1000)
    # the grid's best point is the grid point nearest the optimum (spacing 1e-3) and never beats it
    np.testing.assert_allclose(kkt.r, grid.r, atol=1e-3)
    assert kkt.objective <= grid.objective + 1e-12
    # stationarity: every interior share has the same marginal loss −λ (docs/paper.md#optimum)
    sens = sensitivity(fit3, kkt)
    np.testing.assert_allclose(sens["gradient"], -kkt.lam, rtol=1e-7)


def test_kkt_with_bounds_equals_slsqp(fit3):
    hi = {"books": 0.05}
    lo = {"code": 0.5}
    kkt = optimize_mixture(fit3, 100_000, lower=lo, upper=hi, within_support=False)
    slsqp = optimize_mixture(fit3, 100_000, lower=lo, upper=hi, method="slsqp", within_support=False)
    np.testing.assert_allclose(kkt.r, slsqp.r, atol=1e-6)
    t = kkt.table().set_index("domain")
    assert t.loc["books", "r"] <= 0.05 + 1e-15 and t.loc["code", "r"] >= 0.5 - 1e-15
    assert kkt.r.sum() == pytest.approx(1.0, abs=1e-12)


shares_strategy = st.integers(2, 6).flatmap(lambda m: st.tuples(
    st.lists(st.floats(0.02, 1.0), min_size=m, max_size=m),
    st.lists(st.floats(0.1, 10.0), min_size=m, max_size=m),
    st.lists(st.floats(0.0, 0.15), min_size=m, max_size=m),
    st.lists(st.floats(0.3, 1.0), min_size=m, max_size=m),
    st.permutations(list(range(m)))))


@settings(max_examples=30, deadline=None)
@given(shares_strategy)
def test_optimum_on_simplex_within_bounds_equals_slsqp_and_permutes(args):
    alpha, K, lo, hi, perm = (np.array(x) for x in args)
    if lo.sum() > 1 or hi.sum() < 1:
        with pytest.raises(OptimizeError, match="no mixture satisfies the bounds"):
            optimize_mixture(_law(alpha, K), 1000.0, lower=lo, upper=hi, within_support=False)
        return
    law = _law(alpha, K)  # a law written by hand has no fitted support: the math alone
    opt = optimize_mixture(law, 1000.0, lower=lo, upper=hi, within_support=False)
    assert opt.r.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(opt.r >= lo - 1e-12) and np.all(opt.r <= hi + 1e-12)
    ref = optimize_mixture(law, 1000.0, lower=lo, upper=hi, method="slsqp", within_support=False)
    # SLSQP agrees to 1e-6 in shares
    np.testing.assert_allclose(opt.r, ref.r, atol=1e-6)
    # SLSQP meets Σ r = 1 only to ~1e-11, which can lower its objective by λ·1e-11
    assert opt.objective <= ref.objective * (1 + 1e-8)
    # permuting the domains permutes the answer
    r_perm, _ = kkt_bimix(alpha[perm], K[perm], lo[perm], hi[perm])
    np.testing.assert_allclose(r_perm, opt.r[perm], atol=1e-12)


def test_bad_bounds_and_weights():
    law = _law([0.1, 0.2, 0.3], [1, 2, 3])
    with pytest.raises(OptimizeError, match="no mixture satisfies"):
        optimize_mixture(law, 1e4, upper=[0.2, 0.2, 0.2])
    with pytest.raises(OptimizeError, match="no mixture satisfies"):
        optimize_mixture(law, 1e4, lower={"d0": 0.6, "d1": 0.6})
    with pytest.raises(OptimizeError, match="unknown domains"):
        optimize_mixture(law, 1e4, upper={"nope": 0.5})
    with pytest.raises(OptimizeError, match="weights"):
        optimize_mixture(law, 1e4, weights=[-1, 1, 1])
    with pytest.raises(OptimizeError, match="step"):
        optimize_mixture(law, 0)
    with pytest.raises(OptimizeError, match="lower <= upper"):
        optimize_mixture(law, 1e4, lower={"d0": 0.5}, upper={"d0": 0.4})


def test_weights_shift_the_optimum():
    law = _law([0.2, 0.2], [1.0, 1.0])
    even = optimize_mixture(law, 1e4, within_support=False)
    np.testing.assert_allclose(even.r, [0.5, 0.5], atol=1e-12)
    tilted = optimize_mixture(law, 1e4, weights={"d0": 3.0}, within_support=False)
    assert tilted.r[0] > 0.5
    # closed form for equal α: r_i ∝ (w_i)^{1/(1+α)}
    expect = np.array([3.0, 1.0]) ** (1 / 1.2)
    np.testing.assert_allclose(tilted.r, expect / expect.sum(), rtol=1e-10)


def test_single_share_fit_cannot_be_optimised():
    rng = np.random.default_rng(2)
    doms = ["a", "b"]
    table = synthetic_runs(random_coefficients(doms, rng), dirichlet_mixtures(doms, 1, rng), rng=rng)
    with pytest.raises(NotPredictableError, match="single share"):
        optimize_mixture(fit_law(table), 1e4)


def test_other_forms_use_slsqp(fit3):
    rng = np.random.default_rng(11)
    doms = list(fit3.domains)
    table = synthetic_runs(random_coefficients(doms, rng), dirichlet_mixtures(doms, 5, rng), rng=rng)
    add = fit_law(table, form="additive", n_starts=4)
    opt = optimize_mixture(add, 100_000, within_support=False)
    assert opt.method == "slsqp" and opt.r.sum() == pytest.approx(1.0, abs=1e-9)
    grid = grid_search(add, 100_000, resolution=400)
    assert opt.objective <= grid.objective + 1e-9
    with pytest.raises(OptimizeError, match="bimix form only"):
        optimize_mixture(add, 100_000, method="kkt", within_support=False)


def test_near_optimal_region_and_sensitivity(fit3):
    opt = optimize_mixture(fit3, 100_000, within_support=False)  # interior: every move costs
    summary, samples = near_optimal_region(fit3, opt, delta=0.005, n_samples=4000, seed=0)
    assert len(samples) > 100
    assert (samples["mean_loss"] <= opt.objective / 3 + 0.005 + 1e-12).all()
    assert (summary["r_min"] <= summary["r_opt"] + 1e-3).all() and (summary["r_opt"] <= summary["r_max"] + 1e-3).all()
    again, _ = near_optimal_region(fit3, opt, delta=0.005, n_samples=4000, seed=0)
    assert again.equals(summary)
    sens = sensitivity(fit3, opt, eps=0.01)
    # the optimum of a convex objective: any feasible move costs something
    assert (sens[["cost_plus", "cost_minus"]].to_numpy() > 0).all()
