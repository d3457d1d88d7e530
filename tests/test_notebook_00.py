"""The teaching notebook through the runner: the numbers it claims hold on its synthetic runs."""

from __future__ import annotations

from bimix.compendium import reproduce
from bimix.files import read_json


def test_notebook_00_recovers_the_law_and_its_optimum(tmp_path):
    reproduce.reproduce("smoke", ["00_law_in_five_minutes"], output_dir=tmp_path / "out",
                        figures_dir=tmp_path / "fig", progress=False)
    res = read_json(tmp_path / "out" / "results" / "00_law_in_five_minutes.json")
    assert max(res["recovery_max_rel_error"].values()) < 0.2
    assert all(v["r2_log_mean"] > 0.99 for v in res["heldout"].values())
    assert res["extrapolation"]["mre_mean"] < 0.01
    assert res["optimum"]["max_abs_diff"] < 1e-3
    assert abs(sum(res["optimum"]["kkt"].values()) - 1) < 1e-9
    assert res["single_mixture_identified"] == "steps"
    assert res["n_excluded_zero_share"] > 0
    for name in ("fig1_loss_vs_steps_synthetic_smoke", "fig3_pred_vs_obs_synthetic_smoke"):
        assert (tmp_path / "fig" / f"{name}.png").stat().st_size > 1000
