"""Figures. Plot functions take an ``ax`` and return it; ``save_figure`` writes PDF and PNG.

Nothing here touches global matplotlib state: styles are applied with context managers.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

from bimix.files import atomic_path

# PDF/PNG metadata that would change between otherwise identical runs is dropped.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "bimix"}
_PNG_METADATA = {"Software": None}


def save_figure(fig: "matplotlib.figure.Figure", name: str, figures_dir: str | os.PathLike,
                dpi: int = 150) -> dict[str, Path]:
    """Write ``figures_dir/name.pdf`` and ``figures_dir/name.png`` atomically, with deterministic
    metadata; returns both paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt, metadata in (("pdf", _PDF_METADATA), ("png", _PNG_METADATA)):
        target = figures_dir / f"{name}.{fmt}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight")
        paths[fmt] = target
    return paths


def plot_domain_tokens(stats: "dict[str, pandas.DataFrame]", ax: "matplotlib.axes.Axes"):
    """Bar chart of tokens per domain (millions), one bar group per tokenizer.

    ``stats`` maps tokenizer name -> ``TokenStore.stats()``."""
    import numpy as np

    names = list(stats)
    domains = list(next(iter(stats.values())).index)
    width = 0.8 / len(names)
    x = np.arange(len(domains))
    for k, name in enumerate(names):
        ax.bar(x + k * width - 0.4 + width / 2, stats[name].loc[domains, "tokens"] / 1e6, width,
               label=name)
    ax.set_xticks(x, domains, rotation=30, ha="right")
    ax.set_ylabel("tokens (millions, train + valid)")
    ax.legend(title="tokenizer", frameon=False)
    return ax


def plot_bytes_per_token(stats: "dict[str, pandas.DataFrame]", ax: "matplotlib.axes.Axes"):
    """Bytes per token per domain, one marker series per tokenizer: how well each compresses."""
    domains = list(next(iter(stats.values())).index)
    for name, table in stats.items():
        ax.plot(domains, table.loc[domains, "bytes_per_token"], marker="o", label=name)
    ax.set_ylabel("bytes per token")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(title="tokenizer", frameon=False)
    return ax


# --------------------------------------------------------------------------------------------------
# The law on run tables (notebooks 05 and 07): Figures 1–3 of the paper and two beyond it.

def _share_colour(r, r_min, r_max, cmap="viridis"):
    """Colour of a share on a log scale between the table's smallest and largest share."""
    import numpy as np
    from matplotlib import colormaps

    span = np.log(r_max) - np.log(r_min)
    return colormaps[cmap](0.5 if span <= 0 else (np.log(r) - np.log(r_min)) / span * 0.9)


def _plain_log_ticks(axis) -> None:
    """Plain numbers (``0.05``, ``4``) instead of ``5×10^-2`` on a log axis; minor ticks are labelled
    only when the axis spans less than a decade, so labels never collide."""
    import math

    from matplotlib.ticker import FuncFormatter, NullFormatter

    lo, hi = axis.get_view_interval()
    plain = FuncFormatter(lambda v, _: f"{v:.3g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if hi > 0 and lo > 0 and math.log10(hi / lo) < 1 else NullFormatter())


def plot_loss_vs_steps(table: "pandas.DataFrame", fit, domain: str, ax: "matplotlib.axes.Axes",
                       heldout=(), n_grid: int = 100):
    """Figure 1: one domain's loss against steps, one colour per mixture (by its share r, log scale),
    log-log. Points are observed (every seed), dotted lines the fitted law (``fit``, a bimix-form
    :class:`bimix.law.LawFit`, or None), dashed for the ``heldout`` mixtures the fit never saw."""
    import numpy as np

    from bimix.law import LawError

    rows = table[(table["domain"] == domain) & (table["r"] > 0)]
    r_min, r_max = rows["r"].min(), rows["r"].max()
    grid = np.geomspace(rows["step"].min(), rows["step"].max(), n_grid)
    for mix, g in sorted(rows.groupby("mixture"), key=lambda kv: kv[1]["r"].iloc[0]):
        r = float(g["r"].iloc[0])
        colour = _share_colour(r, r_min, r_max)
        held = mix in heldout
        ax.loglog(g["step"], g["loss"], "o", ms=3, color=colour,
                  label=f"{mix}{' (held out)' if held else ''}, r = {r:.3f}")
        if fit is not None:
            try:
                ax.loglog(grid, fit.predict_domain(domain, r, grid), "--" if held else ":", color=colour)
            except LawError:
                pass  # the fit cannot predict this share (single-share fit); points stay unexplained
    ax.set(title=domain, xlabel="step s", ylabel="validation loss (nats)")
    _plain_log_ticks(ax.yaxis)
    ax.legend(fontsize=6, frameon=False)
    return ax


def plot_loss_vs_share(table: "pandas.DataFrame", fit, domain: str, ax: "matplotlib.axes.Axes",
                       steps=None, n_grid: int = 50):
    """Figure 2: one domain's loss against its share at several steps (colour = step), log-log, with
    the fitted law's lines (Eq. 8: slope −α at every step, so parallel). ``steps``: default four
    evaluation steps spread over the run; ``fit`` may be None."""
    import numpy as np
    from matplotlib import colormaps

    from bimix.law import LawError

    rows = table[(table["domain"] == domain) & (table["r"] > 0)]
    all_steps = np.sort(rows["step"].unique())
    if steps is None:
        steps = all_steps[np.unique(np.linspace(0, len(all_steps) - 1, min(4, len(all_steps))).astype(int))]
    shares = np.geomspace(rows["r"].min(), rows["r"].max(), n_grid)
    for k, s in enumerate(steps):
        g = rows[rows["step"] == s]
        colour = colormaps["plasma"](0.85 * k / max(len(steps) - 1, 1))
        ax.loglog(g["r"], g["loss"], "o", ms=4, color=colour, label=f"s = {int(s):,}")
        if fit is not None:
            try:
                ax.loglog(shares, fit.predict_domain(domain, shares, float(s)), ":", color=colour)
            except LawError:
                pass
    ax.set(title=domain, xlabel="share r", ylabel="validation loss (nats)")
    _plain_log_ticks(ax.xaxis)
    _plain_log_ticks(ax.yaxis)
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_predicted_vs_observed(points: "pandas.DataFrame", ax: "matplotlib.axes.Axes",
                               group: str = "mixture"):
    """Figure 3: predicted against observed loss of held-out runs at every step, one colour per
    ``group`` value; each run's final step starred; the dashed line is y = x. ``points``: rows of a
    run table with a ``pred`` column (e.g. ``Generalisation.points``)."""
    last = points.groupby("run")["step"].transform("max") == points["step"]
    for name, g in points.groupby(group, sort=False):
        line, = ax.plot(g["loss"], g["pred"], ".", ms=4, label=str(name))
        fin = g[last.loc[g.index]]
        ax.plot(fin["loss"], fin["pred"], "*", ms=10, color=line.get_color(), mec="k", mew=0.4)
    lo = min(points["loss"].min(), points["pred"].min())
    hi = max(points["loss"].max(), points["pred"].max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(xlabel="observed loss (nats)", ylabel="predicted loss (nats)")
    ax.legend(fontsize=7, frameon=False, title="★ final step", title_fontsize=7)
    return ax


def plot_heldout_scores(scores: "pandas.DataFrame", ax: "matplotlib.axes.Axes", value: str = "r2_log",
                        label: str = "R² on log loss (pooled over domains and steps)"):
    """Grouped bars of a held-out score per mixture (x) and law form (colour): leave-one-mixture-out
    compared across forms on identical splits. ``scores``: columns ``heldout``, ``form``, ``value``."""
    import numpy as np

    forms = list(dict.fromkeys(scores["form"]))
    mixes = list(dict.fromkeys(scores["heldout"]))
    width = 0.8 / max(len(forms), 1)
    x = np.arange(len(mixes))
    for k, form in enumerate(forms):
        v = scores[scores["form"] == form].set_index("heldout")[value].reindex(mixes)
        ax.bar(x + (k - (len(forms) - 1) / 2) * width, v.to_numpy(float), width, label=form)
    ax.set_xticks(x, mixes, rotation=30, ha="right")
    ax.set(ylabel=label, xlabel="held-out mixture")
    ax.legend(fontsize=7, frameon=False, title="law", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_spread_vs_noise(spread: "pandas.Series", noise: "pandas.Series | None", ax: "matplotlib.axes.Axes",
                         fit_error: "pandas.Series | None" = None):
    """The no-interaction check per domain: the spread of share-adjusted log loss across mixtures
    (``spread``), beside the seed-to-seed spread (``noise``) and the law's held-out error on log loss
    (``fit_error``), all indexed by domain and in the same units (std of log loss ≈ relative)."""
    import numpy as np

    series = [("spread at equal share, across mixtures", spread)]
    series += [("seed to seed", noise)] if noise is not None and len(noise) else []
    series += [("held-out fit error (rmse)", fit_error)] if fit_error is not None else []
    domains = list(spread.index)
    width = 0.8 / len(series)
    x = np.arange(len(domains))
    for k, (name, s) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, 100 * s.reindex(domains).to_numpy(float), width,
               label=name)
    ax.set_xticks(x, domains, rotation=30, ha="right")
    ax.set(ylabel="std of log loss (%)")
    ax.legend(fontsize=7, frameon=False)
    return ax


def markdown_table(df: "pandas.DataFrame", digits: int = 4, index: bool = True) -> str:
    """A GitHub-flavoured markdown table of ``df`` (floats to ``digits`` significant digits, NaN as
    n/a), for the ``figures/<name>.md`` files that sit beside the figures."""
    import math

    def cell(v):
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    head = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for key, row in df.iterrows():
        lines.append("| " + " | ".join(([str(key)] if index else []) + [cell(v) for v in row]) + " |")
    return "\n".join(lines) + "\n"


def plot_optimum(summary: "pandas.DataFrame", ax: "matplotlib.axes.Axes", others=None, upper=None):
    """The optimised mixture beside other mixtures, one bar group per domain. ``summary``: rows with
    ``domain``, ``r_opt`` and optionally ``r_min``/``r_max`` (the near-optimal range, drawn as an error
    bar on the optimum); ``others``: {name: {domain: r}}; ``upper``: {domain: cap}, drawn as a black
    tick where it is below 1."""
    import numpy as np

    domains = list(summary["domain"])
    series = {**{k: [v[d] for d in domains] for k, v in (others or {}).items()},
              "optimum": list(summary["r_opt"])}
    width = 0.8 / len(series)
    x = np.arange(len(domains))
    for k, (name, r) in enumerate(series.items()):
        pos = x - 0.4 + (k + 0.5) * width
        err = None
        if name == "optimum" and {"r_min", "r_max"} <= set(summary.columns):
            err = np.vstack([summary["r_opt"] - summary["r_min"], summary["r_max"] - summary["r_opt"]])
            err = np.clip(np.nan_to_num(err), 0, None)
        ax.bar(pos, r, width, yerr=err, capsize=2, label=name,
               color="k" if name == "optimum" else None, alpha=0.85)
    if upper is not None:
        caps = np.array([upper[d] for d in domains], float)
        shown = caps < 1
        if shown.any():
            ax.plot(x[shown], caps[shown], "_", color="crimson", ms=18, mew=2, label="upper bound")
    ax.set_xticks(x, domains, rotation=30, ha="right")
    ax.set(ylabel="share r")
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_average_loss(curves: "pandas.DataFrame", ax: "matplotlib.axes.Axes", target: float | None = None,
                      reached=None, labels=None):
    """Figures 5 and 8: average log-perplexity against steps, one line per column of ``curves``
    (index: step), log-log. ``target`` draws a horizontal line (e.g. the natural mixture's final
    loss); ``reached`` {column: step} marks where each curve first gets there."""
    import numpy as np

    for name in curves.columns:
        line, = ax.plot(curves.index, curves[name], marker="o", ms=3, lw=1.6,
                        label=(labels or {}).get(name, name))
        s = (reached or {}).get(name)
        if s is not None and np.isfinite(s):
            ax.axvline(s, color=line.get_color(), ls=":", lw=1)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=0.8, label="natural, final")
    ax.set(xscale="log", yscale="log", xlabel="step s", ylabel="average log-perplexity (nats)")
    _plain_log_ticks(ax.xaxis)
    _plain_log_ticks(ax.yaxis)
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_downstream(summary: "pandas.DataFrame", ax: "matplotlib.axes.Axes", ylabel: str = "one-shot score"):
    """Figures 4, 6 and 7: a downstream score against steps, one line per mixture, with ±1 standard
    error bands. ``summary``: columns mixture, step, value, stderr (one task, or already averaged)."""
    for name, g in summary.sort_values("step").groupby("mixture", sort=True):
        line, = ax.plot(g["step"], g["value"], marker="o", ms=3, lw=1.4, label=name)
        ax.fill_between(g["step"], g["value"] - g["stderr"], g["value"] + g["stderr"],
                        color=line.get_color(), alpha=0.15, lw=0)
    ax.set(xscale="log", xlabel="step s", ylabel=ylabel)
    if summary["step"].nunique() > 1:
        _plain_log_ticks(ax.xaxis)
    ax.legend(fontsize=7, frameon=False)
    return ax
