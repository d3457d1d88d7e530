"""The DoReMi step-size summary of the regime study, on proxies written in the sidecar format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bimix.train.regime import ETA_STUDY, doremi_eta_table, eta_trajectory_name


def _proxy(folder, eta, seed, weights, trajectory):
    (folder / "sidecars").mkdir(parents=True, exist_ok=True)
    run = f"doremi-proxy-s{seed}-eta{eta:g}"
    (folder / "sidecars" / f"{run}.json").write_text(json.dumps(
        {"run": run, "seed": seed, "status": "complete", "doremi": {"eta": eta, "smoothing": 1e-3},
         "doremi_weights": weights}))
    rows = [{"step": s + 1, "domain": d, "weight": w, "excess": 0.0}
            for s, ws in enumerate(trajectory) for d, w in ws.items()]
    pd.DataFrame(rows).to_csv(folder / eta_trajectory_name(eta, seed), index=False)


def test_doremi_eta_table_measures_spread_collapse_and_swing(tmp_path):
    folder = tmp_path / ETA_STUDY / "doremi_proxy"
    calm = [{"a": 0.5, "b": 0.5}] * 4
    wild = [{"a": 0.95, "b": 0.05}, {"a": 0.95, "b": 0.05}, {"a": 0.1, "b": 0.9}, {"a": 0.8, "b": 0.2}]
    for seed, wa in ((0, 0.50), (1, 0.52), (2, 0.48)):
        _proxy(folder, 0.1, seed, {"a": wa, "b": 1 - wa}, calm)
    for seed, wa in ((0, 0.2), (1, 0.8)):
        _proxy(folder, 1.0, seed, {"a": wa, "b": 1 - wa}, wild)
    (folder / "runs.csv").write_text("run,mixture,seed,step,tokens,domain,r,loss\n")
    table = doremi_eta_table(tmp_path).set_index("eta")
    assert list(table.index) == [0.1, 1.0] and list(table["seeds"]) == [3, 2]
    assert table.loc[0.1, "weight_std_max"] == pytest.approx(0.02)
    assert table.loc[1.0, "weight_std_max"] == pytest.approx(np.std([0.2, 0.8], ddof=1))
    assert table.loc[0.1, "collapsed_steps"] == 0.0 and table.loc[1.0, "collapsed_steps"] == 0.5  # 2 of 4 steps > 0.9
    assert table.loc[0.1, "late_swing"] == 0.0
    assert table.loc[1.0, "late_swing"] == pytest.approx(np.std([0.1, 0.8], ddof=1))
    assert table.loc[0.1, "w_a"] == pytest.approx(0.5)
