"""The tables a notebook commits beside its figures, each with the caption that says what it holds, and
the frames it shows that need more than a line of pandas to lay out.

A ``*_text`` function returns the whole Markdown file (caption, blank line, tables) that
:meth:`bimix.compendium.notebook.Places.table` writes to ``figures/<name>.md``; nothing here fits or
reads files.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from bimix.compendium.plots import markdown_table


# ---------------------------------------------------------------------------------------- 05 fit law
def table1_text(profile: str, holdout_last: int, gap: float, gap_long: float, table1: pd.DataFrame,
                table1_long: pd.DataFrame) -> str:
    """``table1_extrapolation.md``: Table 1 (fractions, shown in %) at the paper's distance and further ahead."""
    return (f"Table 1 ({profile}): relative error of the last {holdout_last} step(s), %; held-out step {gap:.3f}× the "
            f"last fitted (the paper: 1.053×)\n\n" + markdown_table(100 * table1)
            + f"\n\nLonger extrapolation: the last step from a fit ending {gap_long:.3f}× earlier, %\n\n"
            + markdown_table(100 * table1_long))


def table2_text(profile: str, fit_on: Sequence[str], table2: pd.DataFrame) -> str:
    """``table2_heldout.md``: Table 2, one row per held-out mixture."""
    return (f"Table 2 ({profile}): fitted on {', '.join(fit_on)}; R² on log loss per domain, relative "
            f"error of the final loss\n\n" + markdown_table(table2))


def law_forms_text(profile: str, fit_on: Sequence[str], predict: Sequence[str], holdout_last: int,
                   forms: pd.DataFrame) -> str:
    """``table_law_forms.md``: both protocols for every law form on identical splits."""
    return (f"Law forms ({profile}): fitted on {', '.join(fit_on)}, predicting {', '.join(predict)}; "
            f"step extrapolation of the last {holdout_last} step(s)\n\n" + markdown_table(forms))


def table1_by_seed(by_seed: Mapping, long_by_seed: Mapping, gap: float, gap_long: float) -> pd.DataFrame:
    """Table 1 per seed (:func:`bimix.law.seeds.table1_by_seed`) at both distances, errors in %."""
    frame = pd.concat({f"{gap:.2f}x": pd.DataFrame(by_seed).T, f"{gap_long:.2f}x": pd.DataFrame(long_by_seed).T})
    errors = [c for c in frame.columns if c.startswith("mre")]  # fractions, shown in %
    return frame[errors].mul(100).round(3).join(frame.drop(columns=errors).round(3)).rename_axis(
        ["held-out step / last fitted", "seed (paper's mixtures); errors in %"])


def table2_by_seed(by_seed: Mapping[str, Mapping[str, Mapping]]) -> pd.DataFrame:
    """Table 2 per seed (:func:`bimix.law.seeds.table2_by_seed`), one row per (seed, held-out mixture)."""
    return pd.DataFrame({(s, m): v for s, d in by_seed.items() for m, v in d.items()}).T.round(4).rename_axis(
        ["seed", "mixture"])
