"""Figures are written deterministically: the same data give the same PDF and PNG bytes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bimix.compendium.plots import save_figure


def _figure(seed: int):
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(4, 3))
    steps = np.geomspace(10, 1000, 12)
    for r in (0.1, 0.3):
        ax.loglog(steps, r ** -0.2 * (3 / steps ** 0.4 + 2) * np.exp(rng.normal(0, 0.003, steps.size)), "o-")
    ax.set_xlabel("steps")
    return fig


def test_same_figure_gives_identical_bytes(tmp_path):
    a = save_figure(_figure(0), "fig", tmp_path / "a")
    b = save_figure(_figure(0), "fig", tmp_path / "b")
    for fmt in ("pdf", "png"):
        assert a[fmt].read_bytes() == b[fmt].read_bytes(), fmt
    pdf = a["pdf"].read_bytes()
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf


def test_different_data_give_different_bytes(tmp_path):
    a = save_figure(_figure(0), "fig", tmp_path / "a")
    b = save_figure(_figure(1), "fig", tmp_path / "b")
    assert a["png"].read_bytes() != b["png"].read_bytes()
    assert not list((tmp_path / "a").glob(".*tmp")), "a temporary file was left behind"
