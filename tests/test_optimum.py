"""The optimised mixture's bounds and Figure 8's rival: the epoch policy, Ye et al.'s exponential law
fitted and optimised, and the per-seed ratio of the steps two mixtures need."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bimix.law.forms import LawError, exponential_loss
from bimix.law.optimum import epoch_caps, exponential_optimum
from bimix.law.seeds import step_ratios_by_seed

DOMAINS = ("a", "b", "c")


def _config(steps=100, batch=4, seq=10, epoch_limit=2.0):
    return SimpleNamespace(train=SimpleNamespace(steps=steps, batch_size=batch, epoch_limit=epoch_limit),
                           model=SimpleNamespace(seq_len=seq))


def test_epoch_caps_follow_the_profile_limit_unless_the_budget_reads_the_corpus_more_often():
    small = epoch_caps(_config(), {"a": 1_000_000, "b": 2_000, "c": 10_000})  # 4,000 tokens per run
    assert small.budget_tokens == 4_000 and small.epochs_max == 2.0 and small.note == ""
    assert small.upper == {"a": 1.0, "b": pytest.approx(1.0), "c": 1.0}
    assert epoch_caps(_config(), {"a": 1_000_000, "b": 1_000, "c": 10_000}).upper["b"] == pytest.approx(0.5)
    big = epoch_caps(_config(steps=10_000), {"a": 50_000, "b": 30_000, "c": 20_000})  # 4 epochs at natural
    assert big.natural_epochs == pytest.approx(4.0) and big.epochs_max == pytest.approx(8.0)
    assert "4.00 epochs" in big.note and "instead of the profile epoch_limit 2" in big.note
    assert epoch_caps(_config(steps=10_000), {"a": 50_000, "b": 30_000, "c": 20_000}, 10.0).epochs_max == 10.0


def _exponential_rows(n_mixtures, rng, step=100, noise=0.0):
    """Runs whose losses follow Ye et al.'s law exactly (or with multiplicative noise)."""
    c = np.array([2.0, 3.0, 1.5])
    k = np.array([1.0, 0.8, 1.2])
    T = np.array([[-3.0, 0.5, 0.2], [0.3, -2.0, 0.4], [0.1, 0.6, -4.0]])  # row i: domain i's t
    rows = []
    for j in range(n_mixtures):
        r = rng.dirichlet(np.full(3, 2.0)) * 0.94 + 0.02
        for i, d in enumerate(DOMAINS):
            loss = float(exponential_loss(r[None, :], c[i], k[i], T[i])[0]) * math.exp(noise * rng.normal())
            rows.append({"run": f"m{j}-s0", "mixture": f"m{j}", "seed": 0, "step": step, "domain": d,
                         "r": float(r[i]), "loss": loss})
    return pd.DataFrame(rows), (c, k, T)


def test_exponential_optimum_recovers_the_generating_laws_optimum():
    rng = np.random.default_rng(0)
    rows, (c, k, T) = _exponential_rows(12, rng)
    mixtures = sorted(rows["mixture"].unique())
    fit, opt, convex = exponential_optimum(rows, 100, mixtures, lower=0.02)
    assert convex and opt.method == "slsqp"
    # the true optimum of Σ_i c_i + k_i exp(t_i · r) on the simplex with r >= 0.02, by brute force
    g = np.linspace(0.02, 0.96, 189)
    R = np.array([(x, y, 1 - x - y) for x in g for y in g if 1 - x - y >= 0.02 - 1e-12])
    f = (c + k * np.exp(R @ T.T)).sum(axis=1)
    best = R[np.argmin(f)]
    np.testing.assert_allclose(opt.r, best, atol=0.01)
    assert opt.objective <= f.min() + 1e-6


def test_exponential_optimum_says_why_it_cannot_fit():
    rows, _ = _exponential_rows(4, np.random.default_rng(1))  # 4 mixtures, m + 2 = 5 coefficients per domain
    with pytest.raises(LawError, match="coefficients"):
        exponential_optimum(rows, 100, sorted(rows["mixture"].unique()))
    with pytest.raises(LawError, match="step 7"):
        exponential_optimum(rows, 7, sorted(rows["mixture"].unique()))


def test_step_ratios_by_seed_handles_never_reaching_the_target():
    speedups = {"fast": {0: 2.0, 1: 1.5, 2: math.nan}, "slow": {0: 1.0, 1: math.nan, 2: 1.2}}
    ratios = step_ratios_by_seed(speedups, "slow", "fast")
    assert ratios[0] == {"ratio": 2.0, "bound": ""}
    assert ratios[1] == {"ratio": 1.5, "bound": "at least"}  # slow never reached: steps > the run's length
    assert math.isnan(ratios[2]["ratio"]) and ratios[2]["bound"] == "undefined"
    assert step_ratios_by_seed({"fast": {0: 2.0}}, "slow", "fast") == {}
