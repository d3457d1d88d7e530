"""Figures. Plot functions take an ``ax`` and return it; ``save_figure`` writes PDF and PNG.

Nothing here touches global matplotlib state: every choice is made on the axes being drawn. The
conventions every figure shares live in this module, once:

* **Log axes** (:func:`log_axis`): at most a handful of plainly written ticks (``30``, ``100``,
  ``0.05``), chosen at draw time from the visible range so that labels never collide and an axis is
  never left with a single label; minor ticks unlabelled.
* **Domains** (:func:`domain_colours`): one colour per domain, the same in every figure.
* **Mixtures on a share scale**: coloured by the domain's share r (log scale, ``viridis``) with a colour
  bar, not by rank; mixtures the fit never saw (held out) are drawn hollow with dashed law lines,
  fitted ones filled with dotted lines.
* **Named mixtures** (:func:`mixture_colours`): baseline, DoReMi, the entropy mixtures and the optimum
  keep their colour from figure to figure.
* **Legends** sit outside the axes (:func:`legend_outside`); use a constrained layout
  (``plt.subplots(..., layout="constrained")``) so a colour bar and a legend get their own space.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
from matplotlib.ticker import Locator

from bimix.files import atomic_path

# PDF/PNG metadata that would change between otherwise identical runs is dropped.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "bimix"}
_PNG_METADATA = {"Software": None}

# The embedded corpus's domains, sorted as the token store lists them; each keeps its tab10 colour in
# every figure, the same colour matplotlib's default cycle gives it in a plot drawn in store order
# (notebooks 02 and 03). Other domains (the Pile's 22, synthetic ``domain<k>``) take the remaining
# colours in sorted order.
_CORPUS_DOMAINS = ("books", "code", "legal", "math", "reference", "speeches")
# Named mixtures (methods), in the order a reader meets them; Dark2 so they are not mistaken for domains.
# The optimum is black, as its bars in the optimum figure.
_NAMED_MIXTURES = ("baseline", "doremi", "se", "je", "ce", "vne")
NOT_APPLICABLE = "not applicable"


def save_figure(fig: "matplotlib.figure.Figure", name: str, figures_dir: str | os.PathLike,
                dpi: int = 150) -> dict[str, Path]:
    """Write ``figures_dir/name.pdf`` and ``figures_dir/name.png`` atomically, with deterministic
    metadata; returns both paths. When both files exist and the new PNG is the same picture as the one
    there (:func:`bimix.compendium.outputs.images_equivalent`: differences from the processor's last
    bits only), neither is rewritten, so a committed figure reproduces on any machine."""
    import io

    from bimix.compendium.outputs import images_equivalent

    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: figures_dir / f"{name}.{fmt}" for fmt in ("pdf", "png")}
    rendered = {}
    # PDF first, then PNG: a constrained layout is settled by the first renderer that draws the figure,
    # so the order is part of what the PNG looks like
    for fmt, metadata in (("pdf", _PDF_METADATA), ("png", _PNG_METADATA)):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight")
        rendered[fmt] = buffer.getvalue()
    if paths["pdf"].is_file() and paths["png"].is_file() and \
            images_equivalent(paths["png"].read_bytes(), rendered["png"]):
        return paths
    for fmt, data in rendered.items():
        with atomic_path(paths[fmt]) as tmp:
            tmp.write_bytes(data)
    return paths


# --------------------------------------------------------------------------------------------------
# Shared conventions: colours, log ticks, legends.

def _palette(name: str) -> list:
    from matplotlib import colormaps

    return list(colormaps[name].colors)


def domain_colours(domains) -> dict[str, tuple]:
    """Domain -> colour, the same for a domain in every figure: the corpus's six domains have fixed
    tab10 colours; any other domain takes the next free colour (tab10, then tab20b) in sorted order."""
    palette = _palette("tab10") + _palette("tab20b")
    out = {d: palette[i] for i, d in enumerate(_CORPUS_DOMAINS)}
    free = palette[len(_CORPUS_DOMAINS):]
    for k, d in enumerate(sorted(set(map(str, domains)) - set(out))):
        out[d] = free[k % len(free)]
    return {str(d): out[str(d)] for d in domains}


def mixture_colours(names) -> dict[str, tuple]:
    """Named mixture -> colour, stable across figures (Dark2 for the methods, then Set1)."""
    palette = _palette("Dark2")
    extra = _palette("Set1")
    known = {n: palette[i % len(palette)] for i, n in enumerate(_NAMED_MIXTURES)} | {"bimix_opt": (0.0, 0.0, 0.0)}
    out, k = {}, 0
    for name in names:
        base = str(name).split("-")[0]  # "bimix_opt-b99d602d" is a bimix_opt run
        if base in known:
            out[name] = known[base]
        else:
            out[name] = extra[k % len(extra)]
            k += 1
    return out


def _plain_number(v: float, _pos=None) -> str:
    """``30``, ``2,000``, ``30k``, ``1.5M``, ``0.05``: never ``3×10^1``; scientific only below 1e-3."""
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v:.0e}".replace("e-0", "e-")
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if abs(v) >= scale:
            return f"{v / (scale if suffix != 'k' else 1e3):.3g}{suffix}"
    if abs(v) >= 1000 and float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.3g}"


class LogTicks(Locator):
    """Major ticks of a log axis: round numbers (multiples 1, 3 / 1, 2, 5 / ... of a power of ten),
    the coarsest set with at least three ticks in view and never more than ``max_ticks``; on a range
    too narrow for that, evenly spaced round numbers. Computed at draw time from the view limits."""

    _SUBS = ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0),
             (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0))

    def __init__(self, max_ticks: int = 5):
        self.max_ticks = max_ticks

    def __call__(self):
        lo, hi = self.axis.get_view_interval()
        return self.tick_values(lo, hi)

    def tick_values(self, vmin, vmax):
        import numpy as np
        from matplotlib.ticker import MaxNLocator

        lo, hi = sorted((float(vmin), float(vmax)))
        if not (hi > 0 and math.isfinite(hi)):
            return np.array([])
        lo = lo if lo > 0 else hi / 1e3
        k_lo, k_hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        best: list[float] = []
        for subs in self._SUBS:
            ticks = [m * 10.0 ** k for k in range(k_lo, k_hi + 1) for m in subs
                     if lo * (1 - 1e-9) <= m * 10.0 ** k <= hi * (1 + 1e-9)]
            if len(ticks) > self.max_ticks:
                if not best:  # many decades: every n-th decade
                    stride = math.ceil(len(ticks) / self.max_ticks)
                    best = ticks[::stride]
                break
            best = ticks
            if len(ticks) >= 3:
                break
        for nbins in range(2, self.max_ticks + 2):  # the fewest evenly spaced round numbers, at least three
            if len(best) >= 3:
                break
            linear = [t for t in MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
                      if lo <= t <= hi and t > 0]
            if len(best) < len(linear) <= self.max_ticks:
                best = linear
        return np.array(best, float)


def log_axis(axis: "matplotlib.axis.Axis", max_ticks: int = 5) -> None:
    """Give a log-scaled ``axis`` (``ax.xaxis``, ``ax.yaxis``, a colour bar's long axis) the shared
    tick convention: :class:`LogTicks` with plain labels, unlabelled minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogTicks(max_ticks))
    axis.set_major_formatter(FuncFormatter(_plain_number))
    axis.set_minor_locator(LogLocator(subs="auto"))
    axis.set_minor_formatter(NullFormatter())


def _plain_log_ticks(axis) -> None:  # the former name, kept for notebooks written against it
    log_axis(axis)


def legend_outside(ax: "matplotlib.axes.Axes", handles=None, labels=None, wrap: int = 28, **kwargs):
    """A legend to the right of the axes, never over the data; labels longer than ``wrap`` characters
    are wrapped so that a long entry does not squeeze the axes."""
    import textwrap

    opts = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
                fontsize=7, title_fontsize=7)
    opts.update(kwargs)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    elif labels is None:
        labels = [h.get_label() for h in handles]
    return ax.legend(handles, [textwrap.fill(str(t), wrap) for t in labels], **opts)


def category_ticks(ax: "matplotlib.axes.Axes", x, labels) -> None:
    """Category names under bars, slanted at 45° and anchored at their tick, so that neighbours never
    overlap however narrow the bars."""
    ax.set_xticks(list(x), [str(v) for v in labels], rotation=45, ha="right", rotation_mode="anchor")


def colour_bar(ax: "matplotlib.axes.Axes", norm, cmap, label: str, log: bool = True):
    """A compact colour bar beside ``ax`` (below its legend, if any) for ``norm`` on ``cmap`` (a name or
    a colormap)."""
    from matplotlib.cm import ScalarMappable

    cbar = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, aspect=15,
                              anchor=(0.0, 0.0), panchor=(1.0, 0.0), pad=0.02)
    cbar.set_label(label, fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    if log:
        log_axis(cbar.ax.yaxis, max_ticks=4)
    return cbar


def _share_norm(shares):
    import numpy as np
    from matplotlib.colors import LogNorm

    shares = np.asarray(shares, float)
    lo, hi = float(shares.min()), float(shares.max())
    if hi <= lo:  # one share: a small band around it, so the bar still reads the value
        lo, hi = lo / 1.1, hi * 1.1
    return LogNorm(vmin=lo, vmax=hi)


def _style_handles(heldout: bool, with_law: bool, law_label: str = "law (fit)"):
    from matplotlib.lines import Line2D

    grey = "0.35"
    handles = [Line2D([], [], ls="none", marker="o", ms=4, color=grey,
                      label="fitted mixture" if with_law else "observed (every seed)")]
    if with_law:
        handles.append(Line2D([], [], ls=":", color=grey, label=law_label))
    if heldout:
        handles.append(Line2D([], [], ls="none", marker="o", ms=4, mfc="none", color=grey,
                              label="held-out mixture"))
        if with_law:
            handles.append(Line2D([], [], ls="--", color=grey, label="law, held out"))
    return handles


# --------------------------------------------------------------------------------------------------
# Corpus (notebook 01).

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
    category_ticks(ax, x, domains)
    ax.set(ylabel="tokens (millions, train + valid)", title="Tokens per domain")
    legend_outside(ax, title="tokenizer")
    return ax


def plot_bytes_per_token(stats: "dict[str, pandas.DataFrame]", ax: "matplotlib.axes.Axes"):
    """Bytes per token per domain, one marker series per tokenizer: how well each compresses."""
    domains = list(next(iter(stats.values())).index)
    for name, table in stats.items():
        ax.plot(domains, table.loc[domains, "bytes_per_token"], marker="o", label=name)
    ax.set(ylabel="bytes per token", title="Compression per domain")
    category_ticks(ax, range(len(domains)), domains)
    legend_outside(ax, title="tokenizer")
    return ax


# --------------------------------------------------------------------------------------------------
# The law on run tables (notebooks 00, 04, 05, 07): Figures 1–3 of the paper and two beyond it.

def plot_loss_vs_steps(table: "pandas.DataFrame", fit, domain: str, ax: "matplotlib.axes.Axes",
                       heldout=(), n_grid: int = 100, colorbar: bool = True):
    """Figure 1: one domain's validation loss against steps, log-log, one mixture per colour on the
    share scale (colour bar: the domain's share r). Points are observed (every seed). With a ``fit``
    (a bimix-form :class:`bimix.law.forms.LawFit`), its predictions are drawn: dotted for fitted mixtures,
    dashed for the ``heldout`` mixtures (also drawn hollow) the fit never saw. Without one, a thin
    line joins each mixture's mean over seeds."""
    import numpy as np
    from matplotlib import colormaps

    from bimix.law.forms import LawError

    rows = table[(table["domain"] == domain) & (table["r"] > 0)]
    norm = _share_norm(rows["r"])
    cmap = colormaps["viridis"]
    grid = np.geomspace(rows["step"].min(), rows["step"].max(), n_grid)
    heldout = set(heldout)
    for mix, g in sorted(rows.groupby("mixture"), key=lambda kv: kv[1]["r"].iloc[0]):
        r = float(g["r"].iloc[0])
        colour = cmap(norm(r))
        held = mix in heldout
        ax.plot(g["step"], g["loss"], "o", ms=3.5 if held else 3, color=colour,
                mfc="none" if held else colour, mew=1.0, gid=f"{'heldout' if held else 'fitted'}:{mix}")
        if fit is None:
            mean = g.groupby("step")["loss"].mean()
            ax.plot(mean.index, mean.to_numpy(), "-", lw=0.8, color=colour, alpha=0.8)
            continue
        try:
            ax.plot(grid, fit.predict_domain(domain, r, grid), "--" if held else ":", color=colour)
        except LawError:
            pass  # the fit cannot predict this share (single-share fit); points stay unexplained
    ax.set(xscale="log", yscale="log", title=f"{domain}: loss against steps", xlabel="step s",
           ylabel=f"validation loss on {domain} (nats)")
    log_axis(ax.xaxis)
    log_axis(ax.yaxis)
    handles = _style_handles(bool(heldout & set(rows["mixture"])), fit is not None)
    if fit is None:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="0.35", lw=0.8, label="mean over seeds"))
    legend_outside(ax, handles)
    if colorbar:
        colour_bar(ax, norm, "viridis", f"share r of {domain}")
    return ax


def plot_loss_vs_share(table: "pandas.DataFrame", fit, domain: str, ax: "matplotlib.axes.Axes",
                       steps=None, n_grid: int = 50, heldout=(), max_legend: int = 6):
    """Figure 2: one domain's loss against its share at several steps, log-log, with the fitted law's
    lines (Eq. 8: slope −α at every step, so parallel). Colour = step: a legend up to ``max_legend``
    steps, a colour bar beyond. ``steps``: default four evaluation steps spread over the run; ``fit``
    may be None (then a thin line joins the mean over seeds); ``heldout`` mixtures are drawn hollow."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, LogNorm

    from bimix.law.forms import LawError

    rows = table[(table["domain"] == domain) & (table["r"] > 0)]
    all_steps = np.sort(rows["step"].unique())
    if steps is None:
        steps = all_steps[np.unique(np.linspace(0, len(all_steps) - 1, min(4, len(all_steps))).astype(int))]
    steps = [float(s) for s in steps]
    shares = np.geomspace(rows["r"].min(), rows["r"].max(), n_grid)
    cmap = colormaps["plasma"]
    many = len(steps) > max_legend
    norm = LogNorm(vmin=min(steps), vmax=max(steps) if max(steps) > min(steps) else min(steps) * 1.1)

    def colour(k, s):
        return cmap(0.85 * norm(s)) if many else cmap(0.85 * k / max(len(steps) - 1, 1))

    held = rows["mixture"].isin(set(heldout))
    for k, s in enumerate(steps):
        c = colour(k, s)
        g = rows[rows["step"] == s]
        ax.plot(g.loc[~held.loc[g.index], "r"], g.loc[~held.loc[g.index], "loss"], "o", ms=4, color=c,
                label=f"s = {int(s):,}")
        if held.loc[g.index].any():
            ax.plot(g.loc[held.loc[g.index], "r"], g.loc[held.loc[g.index], "loss"], "o", ms=4, color=c,
                    mfc="none")
        if fit is None:
            mean = g.groupby("r")["loss"].mean()
            ax.plot(mean.index, mean.to_numpy(), "-", lw=0.8, color=c, alpha=0.8)
            continue
        try:
            ax.plot(shares, fit.predict_domain(domain, shares, s), ":", color=c)
        except LawError:
            pass
    ax.set(xscale="log", yscale="log", title=f"{domain}: loss against its share", xlabel=f"share r of {domain}",
           ylabel=f"validation loss on {domain} (nats)")
    log_axis(ax.xaxis)
    log_axis(ax.yaxis)
    from matplotlib.lines import Line2D

    style = []
    if fit is not None:
        style.append(Line2D([], [], ls=":", color="0.35", label="law (fit)"))
    if held.any():
        style.append(Line2D([], [], ls="none", marker="o", ms=4, mfc="none", color="0.35", label="held-out mixture"))
    if many:
        legend_outside(ax, style or [Line2D([], [], ls="none", marker="o", ms=4, color="0.35", label="observed")])
        colour_bar(ax, norm, ListedColormap(cmap(np.linspace(0, 0.85, 256))), "step s")
    else:
        points = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
        legend_outside(ax, points + style, title="step")
    return ax


def plot_predicted_vs_observed(points: "pandas.DataFrame", ax: "matplotlib.axes.Axes",
                               group: str = "domain", marker_by: str | None = "mixture"):
    """Figure 3: predicted against observed loss of held-out runs at every step, coloured by
    ``group`` (domains in their shared colours, so a systematic error can be traced to a domain),
    one marker shape per ``marker_by`` value (e.g. the held-out mixture); each run's final step is
    drawn larger with a black edge; the dashed line is y = x. ``points``: rows of a run table with a
    ``pred`` column (e.g. ``Generalisation.points``)."""
    from matplotlib.lines import Line2D

    groups = list(dict.fromkeys(points[group]))
    colours = (domain_colours(groups) if group == "domain"
               else dict(zip(groups, (_palette("tab10") * (len(groups) // 10 + 1)))))
    shapes = "os^DvP<>X*"
    kinds = list(dict.fromkeys(points[marker_by])) if marker_by and marker_by in points else [None]
    shape = {k: shapes[i % len(shapes)] for i, k in enumerate(kinds)}
    last = points.groupby("run")["step"].transform("max") == points["step"]
    keys = [group, marker_by] if kinds != [None] else [group]
    for key, g in points.groupby(keys, sort=False):
        name, kind = (key[0], key[1]) if kinds != [None] else (key[0] if isinstance(key, tuple) else key, None)
        ax.plot(g["loss"], g["pred"], shape[kind], ms=3, color=colours[name], alpha=0.8, mew=0)
        fin = g[last.loc[g.index]]
        ax.plot(fin["loss"], fin["pred"], shape[kind], ms=8, color=colours[name], mec="k", mew=0.6)
    lo = min(points["loss"].min(), points["pred"].min())
    hi = max(points["loss"].max(), points["pred"].max())
    pad = 0.03 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
    ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel="observed loss (nats)",
           ylabel="predicted loss (nats)", title="Predicted against observed loss")
    ax.set_aspect("equal", adjustable="box")
    handles = [Line2D([], [], ls="none", marker="o", ms=5, color=colours[n], label=str(n)) for n in groups]
    if len(kinds) > 1:
        handles += [Line2D([], [], ls="none", marker=shape[k], ms=5, color="0.4", label=str(k)) for k in kinds]
    handles += [Line2D([], [], ls="none", marker="o", ms=7, color="0.7", mec="k", mew=0.6, label="final step"),
                Line2D([], [], ls="--", color="k", lw=0.8, label="y = x")]
    legend_outside(ax, handles, title=f"colour: {group}" + (f"; shape: {marker_by}" if len(kinds) > 1 else ""))
    return ax


def plot_heldout_scores(scores: "pandas.DataFrame", ax: "matplotlib.axes.Axes", value: str = "r2_log",
                        label: str = "held-out R² on log loss\n(pooled over domains and steps)",
                        upper: float | None = 1.0, floor: float = -1.0, forms=None):
    """Grouped bars of a held-out score per mixture (x) and law form (colour): leave-one-mixture-out
    compared across forms on identical splits. ``scores``: columns ``heldout``, ``form``, ``value``.

    A score bounded above by ``upper`` (R² ≤ 1) gets an axis from just below the lowest score, not
    from 0 (the limit is written on the axis); scores below ``floor`` are clipped and their value
    written on the bar; a missing score is marked "not applicable" at its place, also for every form
    of ``forms`` (default: those in ``scores``) that has no score at all."""
    import numpy as np

    forms = list(dict.fromkeys([*(forms or []), *scores["form"]]))
    mixes = list(dict.fromkeys(scores["heldout"]))
    width = 0.8 / max(len(forms), 1)
    x = np.arange(len(mixes))
    values = {form: scores[scores["form"] == form].set_index("heldout")[value].reindex(mixes).to_numpy(float)
              for form in forms}
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()]) if values else np.array([])
    lo = max(float(finite.min()), floor) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if upper is not None:
        hi = max(hi, upper)
    span = max(hi - lo, 1e-3)
    bottom = lo - 0.15 * span
    base = min(bottom, floor) - 1.0  # bars rise from below the axis, whatever limits a caller sets later
    for k, form in enumerate(forms):
        pos = x + (k - (len(forms) - 1) / 2) * width
        v = values[form]
        ax.bar(pos, v - base, width, bottom=base, label=form)
        for p, val in zip(pos, v):  # x in data, y in axes fraction: stays put if the limits change
            if not np.isfinite(val):
                ax.text(p, 0.02, NOT_APPLICABLE, rotation=90, ha="center", va="bottom", fontsize=6, color="0.3",
                        transform=ax.get_xaxis_transform(), gid="not-applicable")
            elif val < floor:
                ax.text(p, 0.02, f"{val:.2g}", rotation=90, ha="center", va="bottom", fontsize=6, color="w",
                        transform=ax.get_xaxis_transform())
    ax.set_ylim(bottom, hi + 0.05 * span)
    if upper is not None:
        ax.axhline(upper, color="0.4", lw=0.8, ls="--")
    category_ticks(ax, x, mixes)
    ax.set(ylabel=label, xlabel="held-out mixture",
           title="Leave one mixture out: held-out score per law form")
    if bottom > 0:  # under the legend, outside the axes
        ax.text(1.02, 0.0, "the score axis\ndoes not start at 0", transform=ax.transAxes, ha="left",
                va="bottom", fontsize=7, color="0.3")
    legend_outside(ax, title="law")
    return ax


def plot_spread_vs_noise(spread: "pandas.Series", noise: "pandas.Series | None", ax: "matplotlib.axes.Axes",
                         fit_error: "pandas.Series | None" = None):
    """The no-interaction check per domain: the spread of share-adjusted log loss across mixtures
    (``spread``), beside the seed-to-seed spread (``noise``) and the law's held-out error on log loss
    (``fit_error``), all indexed by domain and in the same units (std of log loss ≈ relative). A
    domain without a value is marked "not applicable"."""
    import numpy as np

    import pandas as pd

    from matplotlib.patches import Patch

    no_noise = noise is None or not len(noise) or pd.Series(noise).isna().all()
    series = [("spread at equal share, across mixtures", spread)]
    series += [] if no_noise else [("seed to seed", noise)]
    series += [("held-out fit error (rmse)", fit_error)] if fit_error is not None else []
    domains = list(spread.index)
    width = 0.8 / len(series)
    x = np.arange(len(domains))
    for k, (name, s) in enumerate(series):
        pos = x + (k - (len(series) - 1) / 2) * width
        v = 100 * s.reindex(domains).to_numpy(float)
        ax.bar(pos, v, width, label=name)
        for p in pos[~np.isfinite(v)]:
            ax.text(p, 0.02, NOT_APPLICABLE, rotation=90, ha="center", va="bottom", fontsize=6, color="0.3",
                    transform=ax.get_xaxis_transform(), gid="not-applicable")
    category_ticks(ax, x, domains)
    ax.set(ylabel="std of log loss (%)", title="Mixture-to-mixture spread against noise, per domain")
    handles, labels = ax.get_legend_handles_labels()
    if no_noise:  # no bars to show, but the reader is told why
        handles.append(Patch(facecolor="none", edgecolor="0.5", hatch="//"))
        labels.append(f"seed to seed: {NOT_APPLICABLE} (one seed per mixture)")
    legend_outside(ax, handles, labels)
    return ax


def plot_entropy_exponents(points: "pandas.DataFrame", correlations: "pandas.DataFrame", axes) -> None:
    """The entropy rationale (notebook 10): per axes (rows: exponents α, β; columns: entropies SE, CE)
    each domain's exponent against its entropy, both centred on their set's means (a set: one seed or
    one model size), one colour per table, one marker per table too (so the tables stay apart in grey
    print); the panel title carries the pooled r and its interval for every table together.
    ``points``: columns source, set, domain, alpha, beta, se, ce; ``correlations``: rows of
    :func:`bimix.law.entropy_exponents.correlations`."""
    import numpy as np

    sources = list(dict.fromkeys(points["source"]))
    colours = dict(zip(sources, _palette("Dark2")))
    markers = dict(zip(sources, "osD^v<>"))
    for i, exponent in enumerate(("alpha", "beta")):
        for j, proxy in enumerate(("se", "ce")):
            ax = axes[i][j]
            for source in sources:
                part = points[points["source"] == source]
                centred = part.groupby("set")[[proxy, exponent]].transform(lambda v: v - v.mean())
                ax.scatter(centred[proxy], centred[exponent], s=16, color=colours[source],
                           marker=markers[source], label=source, alpha=0.8, lw=0)
            ax.axhline(0, color="grey", lw=0.5)
            ax.axvline(0, color="grey", lw=0.5)
            symbol = {"alpha": "α", "beta": "β"}[exponent]
            ax.set(xlabel=f"{proxy.upper()} (log-share, centred per set)", ylabel=f"{symbol} (centred per set)")
            row = correlations[(correlations["exponent"] == exponent) & (correlations["entropy"] == proxy)]
            pooled = row[row["source"] == "all tables"] if (row["source"] == "all tables").any() else row
            if len(pooled):
                r = pooled.iloc[0]
                label = "all tables" if r["source"] == "all tables" else r["source"]
                ax.set_title(f"{label}: r = {r['r']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}]"
                             if np.isfinite(r["low"]) else f"{label}: r = {r['r']:+.2f}", fontsize=9)
    axes[0][-1].legend(fontsize=7, frameon=False, loc="best")


def markdown_table(df: "pandas.DataFrame", digits: int = 4, index: bool = True) -> str:
    """A GitHub-flavoured markdown table of ``df`` (floats to ``digits`` significant digits, NaN as
    n/a), for the ``figures/<name>.md`` files that sit beside the figures."""
    def cell(v):
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    head = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for key, row in df.iterrows():
        lines.append("| " + " | ".join(([str(key)] if index else []) + [cell(v) for v in row]) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# The optimum and the curves it is judged by (notebook 06).

def plot_optimum(summary: "pandas.DataFrame", ax: "matplotlib.axes.Axes", others=None, upper=None,
                 lower=None, support=None, tol: float = 1e-6):
    """The optimised mixture beside other mixtures, one bar group per domain.

    ``summary``: rows with ``domain``, ``r_opt`` (or ``r``) and optionally ``r_min``/``r_max`` (an
    interval of the optimised share: the near-optimal range or a bootstrap interval, drawn as an
    error bar) and ``lower``/``upper`` columns; ``others``: {name: {domain: r}}; ``lower``/``upper``:
    {domain: bound} (override the columns). A bound is drawn on the optimum's bar where it constrains
    anything (lower > 0, upper < 1), and a share sitting on its bound is marked "at bound".
    ``support``: {domain: (smallest, largest) share in the fitted runs}, drawn as a grey band behind
    the optimum so an extrapolated share is visible."""
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    domains = list(summary["domain"])
    r_opt = summary["r_opt" if "r_opt" in summary else "r"].to_numpy(float)
    colours = mixture_colours(list(others or {}))
    series = {**{k: [v[d] for d in domains] for k, v in (others or {}).items()}, "optimum": list(r_opt)}
    width = 0.8 / len(series)
    x = np.arange(len(domains))
    opt_pos = x - 0.4 + (len(series) - 0.5) * width
    handles = []
    if support is not None:
        for p, d in zip(opt_pos, domains):
            if d in support:
                s_lo, s_hi = support[d]
                ax.add_patch(Rectangle((p - 0.6 * width, s_lo), 1.2 * width, s_hi - s_lo,
                                                          color="0.85", zorder=0, gid="support"))
        handles.append(Patch(color="0.85", label="shares in the fitted runs"))
    for k, (name, r) in enumerate(series.items()):
        pos = x - 0.4 + (k + 0.5) * width
        err = None
        if name == "optimum" and {"r_min", "r_max"} <= set(summary.columns):
            err = np.vstack([r_opt - summary["r_min"].to_numpy(float), summary["r_max"].to_numpy(float) - r_opt])
            err = np.clip(np.nan_to_num(err), 0, None)
        bars = ax.bar(pos, r, width, yerr=err, capsize=2, color="k" if name == "optimum" else colours[name],
                      alpha=0.85, error_kw={"ecolor": "0.45", "lw": 1.2}, zorder=2)
        handles.append(Patch(color=bars.patches[0].get_facecolor(), label=name))
    if err is not None:
        handles.append(Line2D([], [], color="0.45", marker="_", ms=6, lw=1.2, label="interval of the optimum"))

    def bound(kind, given, default):
        if given is not None:
            return np.array([given.get(d, default) for d in domains], float)
        if kind in summary:
            return summary[kind].to_numpy(float)
        return np.full(len(domains), default)

    styles = {"lower": ("tab:blue", "v", 0.0), "upper": ("crimson", "^", 1.0)}
    touching = np.zeros(len(domains), bool)
    for kind, given in (("lower", lower), ("upper", upper)):
        colour, _, default = styles[kind]
        b = bound(kind, given, default)
        shown = (b > 0) if kind == "lower" else (b < 1)
        if not shown.any():
            continue
        ax.hlines(b[shown], opt_pos[shown] - 0.75 * width, opt_pos[shown] + 0.75 * width, colors=colour, lw=2,
                  zorder=3, gid=f"bound:{kind}")
        handles.append(Line2D([], [], color=colour, lw=2, label=f"{kind} bound"))
        touching |= shown & (np.abs(r_opt - b) <= tol * np.maximum(1.0, np.abs(b)))
    for p, r in zip(opt_pos[touching], r_opt[touching]):
        ax.annotate("at bound", (p, r), xytext=(0, -3), textcoords="offset points", ha="center", va="top",
                    fontsize=6, rotation=90, color="w", gid="at-bound")
    category_ticks(ax, x, domains)
    ax.set_ylim(0, max(max(max(v) for v in series.values()), float(np.nanmax(summary.get("r_max", r_opt)))) * 1.25)
    ax.set(ylabel="share r", title="Optimised mixture beside the compared mixtures")
    legend_outside(ax, handles)
    return ax


def plot_average_loss(curves: "pandas.DataFrame", ax: "matplotlib.axes.Axes", target: float | None = None,
                      reached=None, labels=None):
    """Figures 5 and 8: average log-perplexity against steps, one line per column of ``curves``
    (index: step), log-log. ``target`` draws a horizontal line (e.g. the natural mixture's final
    loss); ``reached`` {column: step} marks where each curve first gets there."""
    tidy = curves.rename_axis("step").reset_index().melt("step", var_name="mixture", value_name="value")
    return plot_curves_with_bands(tidy.assign(seed=0), ax, band=None, labels=labels, target=target,
                                  reached=reached)


def plot_curves_with_bands(data: "pandas.DataFrame", ax: "matplotlib.axes.Axes", *, band: str | None = "minmax",
                           level: float = 0.95, highlight=None, labels=None, colours=None,
                           target: float | None = None, target_label: str = "natural, final",
                           reached=None, logx: bool = True, logy: bool = True,
                           ylabel: str = "average log-perplexity (nats)",
                           title: str = "Average log-perplexity against steps"):
    """Mean curve over seeds per mixture, with a band showing how the seeds spread.

    ``data``: a tidy table with columns ``mixture``, ``seed``, ``step``, ``value`` (one row per
    evaluation of one seed). Per mixture, the line is the mean over seeds at each step; the band
    (drawn only where a step has at least two seeds) is
    ``"minmax"`` (the smallest to the largest seed), ``"ci"`` (a Student-t interval of the mean at
    ``level``), ``"sd"`` (mean ± one standard deviation) or None.
    ``highlight``: the mixtures drawn in colour with markers (default: all); the others are thin grey
    lines with one legend entry. ``labels`` {mixture: legend label}; ``colours`` {mixture: colour}
    (default: :func:`mixture_colours`). ``target`` draws a horizontal line; ``reached`` {mixture: step}
    a dotted vertical where that curve first reaches the target. Log-log by default, with the shared
    tick convention; the legend says how many seeds each mean is over."""
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from scipy import stats

    if band not in ("minmax", "ci", "sd", None):
        raise ValueError(f"band must be 'minmax', 'ci', 'sd' or None, got {band!r}")
    missing = {"mixture", "seed", "step", "value"} - set(data.columns)
    if missing:
        raise ValueError(f"data lacks column(s) {sorted(missing)}; expected mixture, seed, step, value")
    mixtures = list(dict.fromkeys(data["mixture"]))
    shown = mixtures if highlight is None else [m for m in mixtures if m in set(highlight)]
    colours = {**mixture_colours(shown), **(colours or {})}
    grouped = data.groupby(["mixture", "step"])["value"]
    summary = grouped.agg(["mean", "min", "max", "std", "count"]).reset_index()
    n_seeds = data.groupby("mixture")["seed"].nunique()
    background = False
    for name in mixtures:
        s = summary[summary["mixture"] == name].sort_values("step")
        if name not in shown:
            ax.plot(s["step"], s["mean"], "-", lw=0.8, color="0.6", zorder=1)
            background = True
            continue
        n = int(n_seeds[name])
        label = (labels or {}).get(name, name) + (f" (mean of {n} seeds)" if n > 1 else "")
        line, = ax.plot(s["step"], s["mean"], marker="o", ms=3, lw=1.6, color=colours[name], label=label, zorder=3)
        multi = s["count"] >= 2
        if band and multi.any():
            if band == "minmax":
                lo, hi = s["min"], s["max"]
            elif band == "sd":
                lo, hi = s["mean"] - s["std"], s["mean"] + s["std"]
            else:
                half = stats.t.ppf(0.5 + level / 2, np.maximum(s["count"] - 1, 1)) * s["std"] / np.sqrt(s["count"])
                lo, hi = s["mean"] - half, s["mean"] + half
            ax.fill_between(s["step"][multi], lo[multi], hi[multi], color=line.get_color(), alpha=0.2, lw=0,
                            zorder=2, gid=f"band:{name}")
        step = (reached or {}).get(name)
        if step is not None and np.isfinite(step):
            ax.axvline(step, color=line.get_color(), ls=":", lw=1)
    handles = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
    if band and (summary["count"] >= 2).any():
        what = {"minmax": "band: min to max over seeds", "ci": f"band: {level:.0%} interval of the mean",
                "sd": "band: ± one std over seeds"}[band]
        handles.append(Patch(color="0.5", alpha=0.3, label=what))
    if background:
        handles.append(Line2D([], [], lw=0.8, color="0.6", label="other mixtures"))
    if target is not None:
        handles.append(ax.axhline(target, color="grey", ls="--", lw=0.8, label=target_label))
    if reached:
        handles.append(Line2D([], [], color="0.3", ls=":", lw=1, label="first reaches the target"))
    ax.set(xlabel="step s", ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log")
        log_axis(ax.xaxis)
    if logy:
        ax.set_yscale("log")
        log_axis(ax.yaxis)
    legend_outside(ax, handles)
    return ax


def plot_weight_trajectory(weights: "pandas.DataFrame", ax: "matplotlib.axes.Axes", average=None,
                           title: str = "", legend: bool = True):
    """A Group-DRO proxy's domain weights against its steps (``weights``: index step, one column per
    domain), in the shared domain colours; ``average`` {domain: weight} as dashed levels (the mixture
    DoReMi outputs)."""
    colours = domain_colours(list(weights.columns))
    for d in weights.columns:
        ax.plot(weights.index, weights[d], color=colours[d], lw=1.0, label=d)
        if average is not None and d in average:
            ax.axhline(average[d], color=colours[d], ls="--", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set(xlabel="proxy step", ylabel="domain weight")
    ax.set_title(title, fontsize=9)
    if legend:
        legend_outside(ax)


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
