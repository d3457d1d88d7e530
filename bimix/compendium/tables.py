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


# ------------------------------------------------------------------------------------ 07 public runs
def public_runs_text(profile: str, lomo: pd.DataFrame) -> str:
    """``table_public_runs.md``: leave-one-mixture-out on every public table
    (:func:`bimix.law.public_analysis.lomo_table`), fit times left out."""
    return (f"Public run tables ({profile}): leave-one-mixture-out, pooled over domains and steps\n\n"
            + markdown_table(_lomo_rows(lomo)))


def _lomo_rows(lomo: pd.DataFrame) -> pd.DataFrame:
    return lomo.drop(columns=["fit_s"]).set_index(["table", "form"]).astype(
        {"r2_log": float, "mre": float, "r2_log_within_support": float})


def by_size_texts(profile: str, size_table: pd.DataFrame, n_splits: int) -> dict[str, str]:
    """``table_public_<source>.md`` for each source with rows in ``size_table``
    (:func:`bimix.law.public_by_size.size_rows`): ``dmsl``, ``dml`` (every Data Mixing Laws set), ``regmix``."""
    tables = size_table.index.get_level_values("table")
    out = {}
    for source, names in (("dmsl", ["dmsl"]), ("dml", [n for n in dict.fromkeys(tables) if n.startswith("dml_")]),
                          ("regmix", ["regmix"])):
        part = size_table[tables.isin(names)] if names else size_table.iloc[:0]
        if not len(part):
            continue
        out[source] = (
            f"The paper's protocols by model size ({profile}): Table 1 (error %, each run fitted without its last "
            "evaluation; gap = last / last fitted step; skill = error / carry-forward's) at the table's own gap and "
            "at the gap nearest 1.05x the grid allows; Table 2 (fit on 4 seeded mixtures, predict the rest: mean R² "
            f"on log loss and its sd over {n_splits} splits, the mixture-blind null's R², skill = (1 - R²) / "
            "(1 - R²_null)); leave one mixture out (R² per domain over the held-out points, averaged over domains; skill against the null). n/a: the form cannot make "
            "that protocol's predictions on this table.\n\n"
            + markdown_table(part.drop(columns=["T2 R2 sd"], errors="ignore").assign(**{"T2 R2 ± sd": [
                "n/a" if pd.isna(m) else f"{m:.3f} ± {s:.3f}" for m, s in zip(part["T2 R2"], part["T2 R2 sd"])]})
                .drop(columns=["T2 R2"])))
    return out


def slimpajama_text(profile: str, n_boot: int, spj: pd.DataFrame) -> str:
    """``table_public_slimpajama_mixtures.md``: the paper's SlimPajama mixtures predicted on Apple's runs
    (:func:`bimix.law.public_by_size.slimpajama_by_size`)."""
    return (f"The paper's SlimPajama mixtures (Table 5; uniform beside them) predicted on Apple's SlimPajama runs ({profile}): "
            "BiMix fitted on every run of a size, average loss over the 7 domains at that size's last evaluation (nats), "
            f"95 % intervals from {n_boot} run-bootstrap refits; diff = mixture - Baseline, paired; outside = domains "
            "whose share lies outside the fitted runs' range.\n\n"
            + markdown_table(spj.set_index(["size", "mixture"]).rename(columns={"n_outside_support": "outside"})))


def law_benchmark_text(profile: str, law_table: pd.DataFrame, published: tuple[float, float],
                       lomo: pd.DataFrame | None, extrapolation: pd.DataFrame) -> str:
    """``table_law_benchmark.md``: the law against RegMix's regressor (:func:`bimix.law.benchmark.benchmark_table`),
    then, when Data Mixing Laws tables were had (``lomo`` not None), leave-one-mixture-out and Table 1 on
    them. Fit times stay in the results JSON: a committed table must not change with the machine's load."""
    lo, hi = published
    return (f"Law benchmark ({profile}). RegMix: fitted on the 512 train mixtures (1M), scored on the 256 test "
            "mixtures (mean over 13 validation domains of the Spearman correlation and of R² on log loss); "
            "rank transfer = Spearman of the 1M-trained predictions against 60M / 1B losses. RegMix reports "
            f"Spearman {lo}–{hi} for LightGBM on held-out 1M mixtures.\n\n"
            + markdown_table(law_table.drop(columns=["fit s"], errors="ignore"))
            + ("\nData Mixing Laws tables (leave-one-mixture-out, pooled over domains and steps):\n\n"
               + markdown_table(lomo.set_index(["table", "form"]).astype(
                   {"r2_log": float, "mre": float, "r2_log_within_support": float}).drop(columns=["fit_s"], errors="ignore"))
               + "\nStep extrapolation (Table 1: each run fitted without its last k steps; relative error of the "
                 "held-out steps, mean over runs and worst domain):\n\n"
               + markdown_table(extrapolation.set_index(["table", "protocol"]).astype({"mre_mean": float, "mre_worst": float}))
               if lomo is not None else
               "\nNo Data Mixing Laws table was available here (see the notebook's messages).\n"))


# ---------------------------------------------------------------------------------------- 06 optimum
def optimum_view(opt, region: pd.DataFrame, sens: pd.DataFrame, caps) -> pd.DataFrame:
    """The optimum per domain (:meth:`bimix.law.optimize.MixtureOptimum.table`) beside its near-optimal
    range (``r_min``/``r_max``), the cost of moving 1 % of share into or out of it, and the epochs of the
    domain one run at that share reads (``caps``: :class:`bimix.law.optimum.EpochCaps`)."""
    view = opt.table().merge(region, on="domain").merge(sens[["domain", "cost_plus", "cost_minus"]], on="domain")
    view["epochs"] = [r * caps.budget_tokens / caps.train_tokens[d] for d, r in zip(view["domain"], view["r"])]
    return view


def with_interval(view: pd.DataFrame, interval: pd.DataFrame | None) -> pd.DataFrame:
    """:func:`optimum_view` with its bars (``r_min``/``r_max``) replaced by the bootstrap interval of the
    optimum (:func:`bimix.law.optimize.optimum_interval`) when there is one."""
    if interval is None:
        return view
    return view.drop(columns=["r_min", "r_max"]).merge(
        interval[["domain", "lo", "hi"]].rename(columns={"lo": "r_min", "hi": "r_max"}), on="domain")


def compute_text(profile: str, compute: pd.DataFrame) -> str:
    """``table_compute.md``: device seconds per method and part (:func:`bimix.compendium.compute.optimum_compute`),
    then the totals. Measured seconds change with the machine: it goes beside the results, never into
    the tracked figures."""
    totals = compute.groupby("method", sort=False)["seconds"].sum()
    return (f"Compute per method ({profile}), device seconds\n\n" + markdown_table(compute, index=False)
            + "\n\nTotals: " + ", ".join(f"{k} {v:.1f} s" for k, v in totals.items()) + "\n")
