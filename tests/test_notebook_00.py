"""The teaching notebook through the runner: the numbers it claims hold on its synthetic runs, and a
regeneration with another processor's arithmetic leaves its outputs untouched (as a reader's would)."""

from __future__ import annotations

import pytest

from bimix.compendium import reproduce
from bimix.files import read_json

# numpy's SIMD kernels held to AVX2 and OpenBLAS's to Haswell: the arithmetic of another processor
OTHER_PROCESSOR = {"NPY_DISABLE_CPU_FEATURES": "AVX512_ICL AVX512_SPR X86_V4", "OPENBLAS_CORETYPE": "Haswell"}
RESULT = "results/00_law_in_five_minutes.json"


def _run(out, figures):
    reproduce.reproduce("smoke", ["00_law_in_five_minutes"], output_dir=out, figures_dir=figures, progress=False)
    return {p.name: p.read_bytes() for p in sorted(figures.iterdir())}


@pytest.mark.slow
def test_notebook_00_recovers_the_law_and_regenerates_its_outputs_on_another_processor(tmp_path, monkeypatch):
    here = _run(tmp_path / "a", tmp_path / "fig")
    res = read_json(tmp_path / "a" / RESULT)
    assert max(res["recovery_max_rel_error"].values()) < 0.2
    assert all(v["r2_log_mean"] > 0.99 for v in res["heldout"].values())
    assert res["extrapolation"]["mre_mean"] < 0.01
    assert res["optimum"]["max_abs_diff"] < 1e-3
    assert abs(sum(res["optimum"]["kkt"].values()) - 1) < 1e-9
    assert res["single_mixture_identified"] == "steps"
    assert res["n_excluded_zero_share"] > 0
    for name in ("fig1_loss_vs_steps_synthetic_smoke", "fig3_pred_vs_obs_synthetic_smoke"):
        assert len(here[f"{name}.png"]) > 1000

    # regenerated over the first outputs with the other processor's arithmetic: every file kept
    for name, value in OTHER_PROCESSOR.items():
        monkeypatch.setenv(name, value)
    assert _run(tmp_path / "b", tmp_path / "fig") == here
    # and that arithmetic did differ: the full-precision results are not identical
    assert (tmp_path / "a" / RESULT).read_bytes() != (tmp_path / "b" / RESULT).read_bytes()
