"""The skill verdict (law against a naive predictor) and the per-seed skills it is fed."""

from __future__ import annotations

import numpy as np
import pytest

from bimix.law import verdicts as v
from bimix.law.seeds import table1_by_seed, table2_by_seed
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs


@pytest.mark.parametrize("skills, outcome", [
    ([0.10, 0.12, 0.11], v.AGREES),
    ([1.4, 1.5, 1.6], v.DISAGREES),
    ([0.5, 1.5, 1.0], v.INCONCLUSIVE),
    ([1.0], v.INCONCLUSIVE),  # exactly as good as the naive predictor is not better
    ([], v.NOT_MEASURED),
])
def test_skill_rule(skills, outcome):
    verdict = v.skill_rule(skills, "carry-forward")
    assert verdict.outcome == outcome and "carry-forward" in verdict.rule


def test_per_seed_tables_carry_the_skills():
    doms = ["web", "code"]
    mixes = dirichlet_mixtures(doms, 4, np.random.default_rng(2))
    t = synthetic_runs(random_coefficients(doms, np.random.default_rng(1)), mixes,
                       steps=tuple(range(1_000, 8_001, 1_000)), seeds=(0, 1), rng=np.random.default_rng(3))
    t1 = table1_by_seed(t, holdout_last=1, n_starts=2)
    assert set(t1) == {0, 1} and all(row["skill_carry_forward"] < 1 for row in t1.values())
    assert v.skill_rule([row["skill_carry_forward"] for row in t1.values()], "carry-forward").outcome == v.AGREES
    t2 = table2_by_seed(t, ["mix0", "mix1", "mix2"], ["mix3"], n_starts=2)
    assert all(t2[s]["mix3"]["skill_r2"] < 1 and "r2_null" in t2[s]["mix3"] for s in (0, 1))
