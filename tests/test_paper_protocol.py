"""Table 1 at the paper's extrapolation distance: the linear evaluation grid, and the longer row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bimix.law.protocols import ProtocolError, extrapolate_steps, holdout_gap, thin_to_gap
from bimix.law.seeds import table1_by_seed
from bimix.profiles import PROFILES, TrainConfig
from bimix.train.proxy import _train_key, eval_schedule


def test_linear_grid_holds_out_the_last_step_at_the_papers_ratio():
    # the paper: 20 evaluations every 10k of 200k steps, 200k predicted from 190k
    paper = eval_schedule(PROFILES["paper"].proxy.train)
    assert paper == list(range(10_000, 200_001, 10_000))
    cpu = eval_schedule(PROFILES["cpu"].proxy.train)
    assert len(cpu) == 20 and cpu[-2:] == [285, 300]
    assert cpu[-1] / cpu[-2] == pytest.approx(200 / 190)
    # the log grid the regime study was trained on ends much further out
    log = eval_schedule(dataclasses.replace(PROFILES["cpu"].proxy.train, eval_grid="log", n_evals=16))
    assert log[-2:] == [249, 300]


def test_the_log_grid_keeps_the_run_ids_it_had():
    log = TrainConfig(steps=300, n_evals=16)
    assert "eval_grid" not in _train_key(log)  # runs from before the option hash as they did
    assert _train_key(dataclasses.replace(log, eval_grid="linear"))["eval_grid"] == "linear"


def _curves(steps):
    rows = []
    for seed in (0, 1):
        for mix, r in (("a", 0.3), ("b", 0.6)):
            for s in steps:
                for dom in ("x", "y"):
                    loss = (3.0 + 0.1 * seed) * r ** -0.1 * (2.0 * s ** -0.4 + 1.0)
                    rows.append({"run": f"{mix}-s{seed}", "mixture": mix, "seed": seed, "step": s, "domain": dom,
                                 "r": r, "loss": loss})
    return pd.DataFrame(rows)


def test_thin_to_gap_leaves_the_fit_ending_that_far_before_the_last_step():
    table = _curves(list(range(15, 301, 15)))
    assert holdout_gap(table) == pytest.approx(300 / 285)
    long = thin_to_gap(table, 1.2)
    assert holdout_gap(long) == pytest.approx(300 / 240)  # the last step at or below 300 / 1.2
    assert set(long["step"]) == set(range(15, 241, 15)) | {300}
    assert thin_to_gap(table, 1.0).equals(table)
    with pytest.raises(ProtocolError):
        thin_to_gap(table, 0.5)
    # on exact power-law curves the law extrapolates both distances almost perfectly; carry-forward
    # misses by more the further it has to reach
    near = extrapolate_steps(table, holdout_last=1, n_starts=2)
    far = extrapolate_steps(long, holdout_last=1, n_starts=2)
    assert near.mre_mean < 1e-4 and far.mre_mean < 1e-4
    assert far.mre_mean_carry_forward > 2 * near.mre_mean_carry_forward
    per_seed = table1_by_seed(table, n_starts=2, gap=1.2)
    assert sorted(per_seed) == [0, 1]
    assert all(v["gap"] == pytest.approx(1.25) for v in per_seed.values())
    assert np.isnan(holdout_gap(table[table["step"] == 300]))


def test_outside_fitted_shares_flags_only_shares_beyond_the_fitted_range():
    from bimix.law.optimum import outside_fitted_shares

    rows = pd.DataFrame({"domain": ["a", "a", "b", "b"], "r": [0.1, 0.3, 0.7, 0.9]})
    assert outside_fitted_shares({"a": 0.2, "b": 0.8}, rows) == {}
    assert outside_fitted_shares({"a": 0.05, "b": 0.95}, rows) == {"a": 0.05, "b": 0.95}
    assert outside_fitted_shares({"a": 0.3 + 1e-12, "b": 0.7}, rows) == {}  # float noise at the edge
