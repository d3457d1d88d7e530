"""Committed outputs reproduce on another processor: equivalent regenerations leave files untouched,
real changes are written (bimix.compendium.outputs; a whole notebook regenerated: test_notebook_00)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bimix.compendium import outputs  # noqa: E402
from bimix.compendium.plots import save_figure  # noqa: E402

@pytest.mark.parametrize("old, new, same", [
    ("| se | 0.9551 | 28 |", "| se | 0.9551 | 28 |", True),
    ("| se | 0.9551 | 28 |", "| se | 0.9552 | 28 |", True),  # one unit of the last digit
    ('{"mre_best": 0.000178829}', '{"mre_best": 0.000178828}', True),
    ('{"x": 4.89907e-05}', '{"x": 4.89908e-05}', True),
    ("| se | 0.9551 | 28 |", "| se | 0.9553 | 28 |", False),  # two units: a change
    ("| se | 0.9551 | 28 |", "| se | 0.9551 | 29 |", False),  # integers (counts) must match
    ("| se | 0.9551 |", "| ce | 0.9551 |", False),
    ("| se | 0.9551 |", "| se | 0.9551 | 1.0 |", False),
    ("loss 3.97", "loss 3.974", True),  # a coarser print of the same value
])
def test_texts_equivalent(old, new, same):
    assert outputs.texts_equivalent(old, new) is same


def test_write_text_keeps_an_equivalent_file_and_writes_a_changed_one(tmp_path):
    path = tmp_path / "t.md"
    assert outputs.write_text(path, "R² 0.9551\n") is True
    assert outputs.write_text(path, "R² 0.9552\n") is False and path.read_text() == "R² 0.9551\n"
    assert outputs.write_text(path, "R² 0.9600\n") is True and path.read_text() == "R² 0.9600\n"


def _draw(y):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(np.arange(len(y)), y, marker="o")
    ax.scatter(np.arange(len(y)), y[::-1])
    return fig


def test_save_figure_keeps_a_figure_that_differs_in_last_bits_only(tmp_path):
    y = np.linspace(3.9, 4.6, 40) ** 1.3
    paths = save_figure(_draw(y), "f", tmp_path)
    before = {k: p.read_bytes() for k, p in paths.items()}
    # the same data with a relative change of 1e-12: the PDF's 10-decimal coordinates change ...
    fig = _draw(y * (1 + 1e-12))
    raw = save_figure(fig, "raw", tmp_path / "raw")
    assert raw["pdf"].read_bytes() != before["pdf"]
    # ... but the picture does not, so the committed pair is kept byte for byte
    save_figure(fig, "f", tmp_path)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    # a visible change is written
    save_figure(_draw(y * 1.05), "f", tmp_path)
    assert paths["png"].read_bytes() != before["png"] and paths["pdf"].read_bytes() != before["pdf"]
    plt.close("all")
