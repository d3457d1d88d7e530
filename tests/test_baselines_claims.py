"""The baselines claims 3-4 need (natural, skewed, uniform) and the seeds a paired claim needs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bimix.data.mixtures import PILE_BASELINE_RATIO, Mixture, MixtureError, skewed
from bimix.law.seeds import seeds_needed, spread_summary
from bimix.train.proxy import resolve_mixture


def test_skewed_keeps_the_natural_order_at_the_pile_baselines_ratio():
    natural = Mixture("natural", {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.4})
    s = skewed(natural)
    w = np.array([s.weights[d] for d in "abcd"])
    assert w.sum() == pytest.approx(1) and w.max() / w.min() == pytest.approx(PILE_BASELINE_RATIO)
    assert list(np.argsort(w)) == list(np.argsort([0.1, 0.3, 0.2, 0.4]))
    assert s.meta["natural_ratio"] == pytest.approx(4) and s.meta["power"] > 1
    assert max(skewed(natural, ratio=2).weights.values()) < 0.4  # a smaller ratio flattens


@pytest.mark.parametrize("weights, ratio", [({"a": 0.5, "b": 0.5}, 42.8), ({"a": 0.2, "b": 0.8}, 1.0),
                                            ({"a": 0.0, "b": 1.0}, 42.8)])
def test_skewed_refuses_what_it_cannot_skew(weights, ratio):
    with pytest.raises(MixtureError):
        skewed(Mixture("natural", weights), ratio=ratio)


def test_the_trainer_resolves_skewed_from_the_stores_natural_shares(smoke_store):
    natural = resolve_mixture("natural", smoke_store)
    got = resolve_mixture("skewed", smoke_store)
    assert got == pytest.approx(dict(skewed(Mixture("natural", natural)).weights))
    assert max(got.values()) / min(got.values()) == pytest.approx(PILE_BASELINE_RATIO)


def test_seeds_needed_follows_the_power_formula():
    assert seeds_needed(1.0, 1.0) == 8  # (1.96 + 0.84)^2 = 7.85, rounded up
    assert seeds_needed(0.02, 0.01) == 2 and seeds_needed(-0.02, 0.04) == 32  # sign-free, (2x spread) -> 4x
    assert math.isinf(seeds_needed(0.0, 0.1)) and math.isnan(seeds_needed(0.1, math.nan))
    assert spread_summary([0.01, 0.03, 0.02])["seeds_needed"] == seeds_needed(0.02, 0.01)
    assert math.isnan(spread_summary([0.01])["seeds_needed"])


def test_end_slope_and_the_step_ratio_a_gain_is_worth():
    from bimix.law.protocols import end_slope, gain_as_step_ratio

    s = np.array([10, 20, 40, 80, 160, 320])
    loss = 5.0 - 0.5 * np.log(s)  # falls 0.5 nats per e-fold
    assert end_slope(s, loss) == pytest.approx(0.5)
    # a gain of 0.5 ln 2.5 nats is worth 2.5x the steps on this curve, and half as many nats on a
    # curve twice as flat are worth the same
    assert gain_as_step_ratio(0.5 * np.log(2.5), 0.5) == pytest.approx(2.5)
    assert gain_as_step_ratio(0.25 * np.log(2.5), 0.25) == pytest.approx(2.5)
    assert math.isnan(gain_as_step_ratio(0.1, 0.0)) and math.isnan(end_slope([10], [3.0]))


def test_against_baselines_and_gains_over_on_known_finals():
    import pandas as pd

    from bimix.law.seeds import against_baselines, gains_over

    # final average loss per mixture (rows) and seed (columns)
    finals = pd.DataFrame({0: [4.00, 4.30, 3.98, 3.90, 3.95], 1: [4.02, 4.35, 3.99, 3.92, 3.97],
                           2: [4.01, 4.33, 4.00, 3.91, 3.96]},
                          index=["baseline", "skewed", "uniform", "se", "bimix_opt"])
    vs = against_baselines(finals, methods=("se", "ce"))
    row = vs[(vs["baseline"] == "skewed") & (vs["mixture"] == "se")].iloc[0]
    assert row["mean_diff"] == pytest.approx(np.mean([3.90 - 4.30, 3.92 - 4.35, 3.91 - 4.33]))
    assert row["outcome"] == "better" and row["hi"] < 0 and row["seeds"] == 3
    assert set(vs["mixture"]) == {"se", "baseline", "skewed", "uniform"}  # ce was not trained
    curves = pd.DataFrame({"baseline": 5 - 0.5 * np.log([10, 20, 40, 80])}, index=[10, 20, 40, 80])
    g = gains_over(finals, curves, "bimix_opt", ["baseline", "uniform", "missing"]).set_index("reference")
    assert list(g.index) == ["baseline", "uniform"]
    assert g.loc["baseline", "gain_nats"] == pytest.approx(0.05) and g.loc["baseline", "outcome"] == "agrees"
    assert g.loc["baseline", "step_ratio"] == pytest.approx(np.exp(0.05 / 0.5))
    assert math.isnan(g.loc["uniform", "end_slope"])  # no curve given for it


def test_the_pile_baseline_ratio_is_the_shipped_published_mixtures():
    from bimix.data.mixtures import published

    w = published("pile", "baseline").weights
    assert PILE_BASELINE_RATIO == pytest.approx(max(w.values()) / min(w.values()), abs=1e-4)
