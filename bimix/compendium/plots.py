"""Figures. Plot functions take an ``ax`` and return it; ``save_figure`` writes PDF and PNG.

Nothing here touches global matplotlib state: every choice is made on the axes being drawn. The
conventions every figure shares live in this module, once:

* **Log axes** (:func:`log_axis`): at most a handful of plainly written ticks (``30``, ``100``,
  ``0.05``), chosen at draw time from the visible range so that labels never collide and an axis is
  never left with a single label; minor ticks unlabelled.
* **Domains** (:func:`domain_colours`): one colour per domain, the same in every figure.
* **Mixtures on a share scale**: coloured by the domain's share r (log scale, ``viridis``) with a colour
  bar, not by rank.
* **Runs against a fit** (:func:`run_classes`): three marker classes, named in the legend with their
  mixtures: fitted (filled circle, dotted law), held out by the protocol (hollow circle, dashed law),
  not fitted (any other run in the table: a cross, dash-dotted law).
* **Extrapolated shares**: wherever a share beyond those the fit saw is drawn, the fitted range is
  shown (a grey band on a share axis, hatching on a share colour bar, a bracket beside an optimum's
  bar, a legend entry naming the range).
* **Small differences as differences**: curves that differ by hundredths of a nat get a panel of their
  paired differences to the reference (:func:`plot_differences`).
* **Named mixtures** (:func:`mixture_colours`, :func:`mixture_label`): baseline, DoReMi, the entropy
  mixtures and the optimum keep their colour from figure to figure, no colour repeats within a figure,
  and a run id is shown as its mixture and role (``bimix_opt (BiMix optimum)``).
* **Scores of single checkpoints** are dot charts (:func:`plot_downstream`), not lines against one step.
* **Legends** sit outside the axes (:func:`legend_outside`); use a constrained layout
  (``plt.subplots(..., layout="constrained")``) so a colour bar and a legend get their own space.
"""

from __future__ import annotations

import math
import os
import re
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


def one_panel(plot, data, figsize: tuple[float, float], title: str = "", **kwargs):
    """A figure of one panel (constrained layout) drawn by ``plot(data, ax, **kwargs)``, any plot function
    of this module, with ``title`` in small type above it; returns the figure for :func:`save_figure`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    plot(data, ax, **kwargs)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------------
# Shared conventions: colours, log ticks, legends.

def _palette(name: str) -> list:
    from matplotlib import colormaps

    return list(colormaps[name].colors)


def domain_colours(domains) -> dict[str, tuple]:
    """Domain -> colour, the same for a domain in every figure: the corpus's six domains have fixed
    tab10 colours; any other domain takes the free colour (tab10, then tab20b) its name hashes to, or
    the next one not taken in this figure, so a public table's domain keeps its colour from panel to
    panel (by position in the sorted names, Github was grey beside Books3 and pink beside PileCC)."""
    import zlib

    palette = _palette("tab10") + _palette("tab20b")
    out = {d: palette[i] for i, d in enumerate(_CORPUS_DOMAINS)}
    free = palette[len(_CORPUS_DOMAINS):]
    taken: set[int] = set()
    for d in sorted(set(map(str, domains)) - set(out)):
        k = zlib.crc32(d.encode("utf-8")) % len(free)
        while k in taken and len(taken) < len(free):
            k = (k + 1) % len(free)
        taken.add(k)
        out[d] = free[k]
    return {str(d): out[str(d)] for d in domains}


def mixture_colours(names) -> dict[str, tuple]:
    """Named mixture -> colour, stable across figures (Dark2 for the methods, black for the BiMix
    optimum) and never repeated within one call: the other mixtures take, in order, the first colours
    of Set1, tab10, Set2 and tab20 that no earlier mixture holds, then evenly spaced colours of
    ``turbo``. Runs of one mixture (``bimix_opt-b99d602d``) share its colour."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = _palette("Dark2")
    known = {n: palette[i % len(palette)] for i, n in enumerate(_NAMED_MIXTURES)} | {"bimix_opt": (0.0, 0.0, 0.0)}
    bases = list(dict.fromkeys(mixture_base(n) for n in names))
    taken = {to_hex(known[b]) for b in bases if b in known}
    pool = [c for name in ("Set1", "tab10", "Set2", "tab20") for c in _palette(name)]
    extra_bases = [b for b in bases if b not in known]
    free = []
    for c in pool:
        if to_hex(c) not in taken and to_hex(c) != "#999999":  # Set1's grey reads as "other mixtures"
            taken.add(to_hex(c))
            free.append(c)
    if len(extra_bases) > len(free):  # more mixtures than the palettes hold: spread over turbo
        free = [tuple(colormaps["turbo"](x)[:3]) for x in
                [(k + 0.5) / len(extra_bases) for k in range(len(extra_bases))]]
    by_base = {b: known[b] for b in bases if b in known} | dict(zip(extra_bases, free))
    return {name: by_base[mixture_base(name)] for name in names}


def mixture_base(name) -> str:
    """The mixture a run id names: ``bimix_opt-b99d602d`` -> ``bimix_opt`` (the suffix is a hash of
    its shares); other names unchanged."""
    name = str(name)
    head, sep, tail = name.rpartition("-")
    if sep and head and re.fullmatch(r"[0-9a-f]{6,}", tail):
        return head
    return name


# what a reader should read beside a mixture's short name (notebooks 04-06, 09)
_MIXTURE_ROLES = {"baseline": "natural", "natural": "natural", "skewed": "skewed natural", "uniform": "uniform",
                  "doremi": "DoReMi", "se": "entropy", "ce": "entropy", "je": "entropy", "vne": "entropy",
                  "bimix_opt": "BiMix optimum", "ye_opt": "Ye et al. optimum"}


def mixture_label(name) -> str:
    """A mixture's name as a figure shows it: the run id's hash dropped and its role added, e.g.
    ``bimix_opt (BiMix optimum)``, ``div2 (diverse)``, ``baseline (natural)``."""
    base = mixture_base(name)
    role = _MIXTURE_ROLES.get(base) or ("diverse" if re.fullmatch(r"div\d+", base) else None)
    return f"{base} ({role})" if role else base


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


# How a run relates to the fit drawn over it. Three marker classes, the same in every figure:
# fitted (filled circle), held out (hollow circle: a mixture the protocol predicts, e.g. Table 2's),
# not fitted (cross: runs in the table that neither fit nor protocol used, e.g. the diverse mixtures and
# the optima in notebook 05). Without a fit every point is simply "observed".
RUN_CLASSES = ("fitted", "heldout", "notfitted")
_CLASS_STYLE = {"fitted": dict(marker="o", filled=True, law=":", what="fitted"),
                "heldout": dict(marker="o", filled=False, law="--", what="held out"),
                "notfitted": dict(marker="x", filled=False, law="-.", what="not fitted"),
                "observed": dict(marker="o", filled=True, law=None, what="observed (every seed)")}


def run_classes(mixtures, fit=None, heldout=(), fitted=None) -> dict[str, str]:
    """Mixture -> ``"fitted"``, ``"heldout"`` or ``"notfitted"`` (all ``"observed"`` without a fit).
    ``fitted`` defaults to the mixtures the fit saw (``LawFit.fit_on``); ``heldout`` are the mixtures a
    protocol predicts; every other mixture is not fitted."""
    if fit is None and fitted is None:
        return {m: "observed" for m in mixtures}
    fitted = set(fitted if fitted is not None else getattr(fit, "fit_on", ()) or ())
    heldout = set(heldout)
    return {m: "fitted" if m in fitted else "heldout" if m in heldout else "notfitted" for m in mixtures}


def _names(mixtures, at_most: int = 6) -> str:
    names = list(dict.fromkeys(mixture_base(m) for m in mixtures))
    shown = ", ".join(names[:at_most])
    return shown + (f" and {len(names) - at_most} more" if len(names) > at_most else "")


def _class_marker(cls: str, colour, ms: float = 3.5) -> dict:
    st = _CLASS_STYLE[cls]
    return dict(ls="none", marker=st["marker"], ms=ms + (0.5 if cls != "fitted" else 0), color=colour,
                mfc=colour if st["filled"] else "none", mew=1.0)


def _class_handles(classes: dict[str, str], with_law: bool, law_colour="0.35"):
    """Legend entries for the run classes present: the class, the mixtures in it, and its law line."""
    from matplotlib.lines import Line2D

    handles = []
    for cls in ("observed", *RUN_CLASSES):
        members = [m for m, c in classes.items() if c == cls]
        if not members:
            continue
        st = _CLASS_STYLE[cls]
        label = st["what"] if cls == "observed" else f"{st['what']}: {_names(members)}"
        handles.append(Line2D([], [], **_class_marker(cls, law_colour, ms=4), label=label))
        if with_law and st["law"]:
            handles.append(Line2D([], [], ls=st["law"], color=law_colour, label=f"law, {st['what']}"))
    return handles


def _support(fit, domain):
    """(smallest, largest) share of ``domain`` among the points the fit saw, or None."""
    support = getattr(fit, "support", None) or {}
    return tuple(map(float, support[domain])) if domain in support else None


def _mark_extrapolated_shares(cbar, support, norm) -> None:
    """Hatch the parts of a share colour bar outside the fitted shares ``support``."""
    lo, hi = support
    hatched = False
    for a, b in ((norm.vmin, lo), (hi, norm.vmax)):
        if b > a * (1 + 1e-9):
            cbar.ax.axhspan(a, b, facecolor="none", edgecolor="w", hatch="////", lw=0, gid="extrapolated")
            hatched = True
    if hatched:
        cbar.set_label(cbar.ax.get_ylabel() + "\n(hatched: beyond the fitted shares)", fontsize=8)


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


def plot_corpus_domains(stats: "dict[str, pandas.DataFrame]", title: str = ""):
    """Notebook 01's figure: tokens per domain beside bytes per token, one series per tokenizer, in a
    constrained layout so that neither legend nor the title runs into the other panel. Returns the
    figure."""
    import matplotlib.pyplot as plt

    fig, (ax_tokens, ax_bpt) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    plot_domain_tokens(stats, ax_tokens)
    plot_bytes_per_token(stats, ax_bpt)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# --------------------------------------------------------------------------------------------------
# Entropy mixtures (notebook 02).

def plot_entropy_mixtures(mixtures: "dict[str, pandas.DataFrame]", vocab_sizes: "dict[str, int]"):
    """Notebook 02's bar charts: per tokenizer (one panel each, shared y axis) every domain's share in
    the natural and the four entropy mixtures (``mixtures``: tokenizer -> domains x mixtures). Returns
    the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(mixtures), figsize=(6.5 * len(mixtures), 3.8), sharey=True, squeeze=False)
    for ax, (kind, table) in zip(axes[0], mixtures.items()):
        table.plot.bar(ax=ax, width=0.8, rot=30)
        ax.set(title=f"{kind} (V = {vocab_sizes[kind]:,})", xlabel="", ylabel="share of training tokens r_i")
        ax.legend(ncols=5, fontsize="small")
    fig.tight_layout()
    return fig


def plot_temperature(sweep: "pandas.DataFrame", ax: "matplotlib.axes.Axes", title: str = "",
                     ylabel: str = "CE mixture share r_i"):
    """A mixture's shares against the softmax temperature τ (``sweep``: one row per τ, one column per
    domain), log τ axis ticked at the temperatures drawn, τ = 1 (the paper's) dotted."""
    taus = list(sweep.index)
    sweep.plot(ax=ax, marker="o", logx=True)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(taus, [f"{tau:.2f}" for tau in taus])
    ax.set_xticks([], minor=True)
    ax.set(xlabel="temperature τ (= ln of the log base)", ylabel=ylabel, title=title)
    ax.legend(fontsize="small", ncols=2)
    return ax


# --------------------------------------------------------------------------------------------------
# The law on run tables (notebooks 00, 04, 05, 07): Figures 1–3 of the paper and two beyond it.

def plot_loss_vs_steps(table: "pandas.DataFrame", fit, domain: str, ax: "matplotlib.axes.Axes",
                       heldout=(), n_grid: int = 100, colorbar: bool = True, fitted=None):
    """Figure 1: one domain's validation loss against steps, log-log, one mixture per colour on the
    share scale (colour bar: the domain's share r). Points are observed (every seed). With a ``fit``
    (a bimix-form :class:`bimix.law.forms.LawFit`), its predictions are drawn and every run is drawn
    as what it is to that fit (:func:`run_classes`): fitted (filled, dotted law), held out (the
    ``heldout`` mixtures a protocol predicts: hollow, dashed law), not fitted (any other run: a cross,
    dash-dotted law); the legend names the mixtures of each class. The colour bar hatches the shares
    beyond those the fit saw (``fit.support``), where its lines extrapolate. Without a fit, a thin line
    joins each mixture's mean over seeds."""
    import numpy as np
    from matplotlib import colormaps

    from bimix.law.forms import LawError

    rows = table[(table["domain"] == domain) & (table["r"] > 0)]
    norm = _share_norm(rows["r"])
    cmap = colormaps["viridis"]
    grid = np.geomspace(rows["step"].min(), rows["step"].max(), n_grid)
    classes = run_classes(list(dict.fromkeys(rows["mixture"])), fit, heldout, fitted)
    for mix, g in sorted(rows.groupby("mixture"), key=lambda kv: kv[1]["r"].iloc[0]):
        r = float(g["r"].iloc[0])
        colour = cmap(norm(r))
        cls = classes[mix]
        ax.plot(g["step"], g["loss"], **_class_marker(cls, colour), gid=f"{cls}:{mix}")
        if fit is None:
            mean = g.groupby("step")["loss"].mean()
            ax.plot(mean.index, mean.to_numpy(), "-", lw=0.8, color=colour, alpha=0.8)
            continue
        try:
            ax.plot(grid, fit.predict_domain(domain, r, grid), _CLASS_STYLE[cls]["law"], color=colour,
                    lw=1.0 if cls == "notfitted" else 1.5, gid=f"law:{cls}:{mix}")
        except LawError:
            pass  # the fit cannot predict this share (single-share fit); points stay unexplained
    ax.set(xscale="log", yscale="log", title=f"{domain}: loss against steps", xlabel="step s",
           ylabel=f"validation loss on {domain} (nats)")
    log_axis(ax.xaxis)
    log_axis(ax.yaxis)
    handles = _class_handles(classes, fit is not None)
    if fit is None:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="0.35", lw=0.8, label="mean over seeds"))
    legend_outside(ax, handles)
    if colorbar:
        cbar = colour_bar(ax, norm, "viridis", f"share r of {domain}")
        support = _support(fit, domain) if fit is not None else None
        if support is not None:
            _mark_extrapolated_shares(cbar, support, norm)
    return ax


def plot_loss_vs_share(table: "pandas.DataFrame", fit, domain: str, ax: "matplotlib.axes.Axes",
                       steps=None, n_grid: int = 50, heldout=(), max_legend: int = 6, fitted=None):
    """Figure 2: one domain's loss against its share at several steps, log-log, with the fitted law's
    lines (Eq. 8: slope −α at every step, so parallel). Colour = step: a legend up to ``max_legend``
    steps, a colour bar beyond. ``steps``: default four evaluation steps spread over the run; ``fit``
    may be None (then a thin line joins the mean over seeds). Runs are drawn by class as in
    :func:`plot_loss_vs_steps` (fitted filled, ``heldout`` hollow, not fitted a cross); the shares the
    fit saw are shaded grey where the figure draws shares beyond them, so a law line beyond the band is an
    extrapolation in share."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

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
    classes = run_classes(list(dict.fromkeys(rows["mixture"])), fit, heldout, fitted)
    cls_of = rows["mixture"].map(classes)

    def colour(k, s):
        return cmap(0.85 * norm(s)) if many else cmap(0.85 * k / max(len(steps) - 1, 1))

    support = _support(fit, domain) if fit is not None else None
    if support is not None and rows["r"].between(support[0] * (1 - 1e-9), support[1] * (1 + 1e-9)).all():
        support = None  # every share drawn was fitted: nothing is extrapolated, no band to read
    if support is not None:
        ax.axvspan(*support, color="0.9", lw=0, zorder=0, gid="support")
    for k, s in enumerate(steps):
        c = colour(k, s)
        at = rows["step"] == s
        step_handle = None
        for cls in ("observed", *RUN_CLASSES):
            g = rows[at & (cls_of == cls)]
            if len(g):
                line, = ax.plot(g["r"], g["loss"], **_class_marker(cls, c, ms=4), gid=f"{cls}:s={int(s)}")
                step_handle = step_handle or line
        if step_handle is not None:
            step_handle.set_label(f"s = {int(s):,}")
        if fit is None:
            mean = rows[at].groupby("r")["loss"].mean()
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

    style = [] if fit is None else [Line2D([], [], ls=":", color="0.35", label="law (fit)")]
    present = set(classes.values())
    if fit is not None and len(present) > 1:
        style += [h for h in _class_handles(classes, with_law=False)]
    if support is not None:
        style.append(Patch(color="0.9", label="shares the fit saw"))
    if many:
        legend_outside(ax, style or [Line2D([], [], ls="none", marker="o", ms=4, color="0.35", label="observed")])
        colour_bar(ax, norm, ListedColormap(cmap(np.linspace(0, 0.85, 256))), "step s")
    else:
        points = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
        legend_outside(ax, points + style, title="step")
    return ax


def largest_domains(rows: "pandas.DataFrame", n: int = 2) -> list[str]:
    """The ``n`` domains with the largest shares in ``rows`` (one mixture's runs): Figures 1 and 2
    draw these by default."""
    return list(rows.drop_duplicates("domain").nlargest(n, "r")["domain"])


def plot_figures_1_2(table: "pandas.DataFrame", fit, domains, heldout=()):
    """Notebook 05's Figures 1 and 2, one panel per domain of ``domains``: loss against steps
    (:func:`plot_loss_vs_steps`) and against share (:func:`plot_loss_vs_share`), with ``fit``'s law
    drawn over the points and the ``heldout`` mixtures drawn as held out. Returns the two figures."""
    import matplotlib.pyplot as plt

    size = dict(figsize=(5 * len(domains), 3.8), layout="constrained", squeeze=False)
    (fig1, axes1), (fig2, axes2) = plt.subplots(1, len(domains), **size), plt.subplots(1, len(domains), **size)
    for ax1, ax2, d in zip(axes1[0], axes2[0], domains):
        plot_loss_vs_steps(table, fit, d, ax1, heldout=heldout)
        plot_loss_vs_share(table, fit, d, ax2, heldout=heldout)
    return fig1, fig2


def plot_predicted_vs_observed(points: "pandas.DataFrame", ax: "matplotlib.axes.Axes",
                               group: str = "domain", marker_by: str | None = "mixture",
                               shares=None, support=None):
    """Figure 3: predicted against observed loss of held-out runs at every step, coloured by
    ``group`` (domains in their shared colours, so a systematic error can be traced to a domain),
    one marker shape per ``marker_by`` value (e.g. the held-out mixture); each run's final step is
    drawn larger with a black edge; the dashed line is y = x. ``points``: rows of a run table with a
    ``pred`` column (e.g. ``Generalisation.points``).

    ``shares`` {domain: share} of the one mixture drawn and ``support`` {domain: (smallest, largest)
    share the fit saw}: a domain whose share lies outside its fitted range is drawn hollow, and its
    legend entry gives the share and the fitted range (the prediction is an extrapolation there)."""
    from matplotlib.lines import Line2D

    groups = list(dict.fromkeys(points[group]))
    colours = (domain_colours(groups) if group == "domain"
               else dict(zip(groups, (_palette("tab10") * (len(groups) // 10 + 1)))))
    shapes = "os^DvP<>X*"
    kinds = list(dict.fromkeys(points[marker_by])) if marker_by and marker_by in points else [None]
    if len(kinds) > len(shapes):  # shapes would repeat and the legend outgrow the axes: one shape for all
        kinds, marker_by = [None], None
    shape = {k: shapes[i % len(shapes)] for i, k in enumerate(kinds)}
    last = points.groupby("run")["step"].transform("max") == points["step"]
    keys = [group, marker_by] if kinds != [None] else [group]
    outside = {}  # domain -> legend text, where the drawn mixture's share leaves the fitted ones
    for d, r in (shares or {}).items():
        lo_hi = (support or {}).get(d)
        if lo_hi is not None and not lo_hi[0] * (1 - 1e-9) <= r <= lo_hi[1] * (1 + 1e-9):
            outside[d] = f"{d}: r = {r:.3g}, outside the fitted {lo_hi[0]:.3g}–{lo_hi[1]:.3g}"
    for key, g in points.groupby(keys, sort=False):
        name, kind = (key[0], key[1]) if kinds != [None] else (key[0] if isinstance(key, tuple) else key, None)
        hollow = group == "domain" and name in outside
        face = dict(mfc="none", mew=0.8) if hollow else dict(mew=0)
        ax.plot(g["loss"], g["pred"], shape[kind], ms=3, color=colours[name], alpha=0.8, **face,
                gid=f"extrapolated:{name}" if hollow else None)
        fin = g[last.loc[g.index]]
        ax.plot(fin["loss"], fin["pred"], shape[kind], ms=8, color=colours[name], mec="k", mew=0.6,
                **({"mfc": "none"} if hollow else {}))
    lo = min(points["loss"].min(), points["pred"].min())
    hi = max(points["loss"].max(), points["pred"].max())
    pad = 0.03 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
    ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel="observed loss (nats)",
           ylabel="predicted loss (nats)", title="Predicted against observed loss")
    ax.set_aspect("equal", adjustable="box")
    handles = [Line2D([], [], ls="none", marker="o", ms=5, color=colours[n], label=outside.get(n, str(n)),
                      **({"mfc": "none"} if n in outside else {})) for n in groups]
    if len(kinds) > 1:
        handles += [Line2D([], [], ls="none", marker=shape[k], ms=5, color="0.4", label=str(k)) for k in kinds]
    handles += [Line2D([], [], ls="none", marker="o", ms=7, color="0.7", mec="k", mew=0.6, label="final step"),
                Line2D([], [], ls="--", color="k", lw=0.8, label="y = x")]
    legend_outside(ax, handles, title=f"colour: {group}" + (f"; shape: {marker_by}" if len(kinds) > 1 else ""))
    return ax


def plot_heldout_scores(scores: "pandas.DataFrame", ax: "matplotlib.axes.Axes", value: str = "r2_log",
                        label: str = "R² on held-out log loss\n(pooled over domains and steps)",
                        upper: float | None = 1.0, forms=None):
    """A dot chart of a held-out score per mixture (x) and law form (colour and marker shape):
    leave-one-mixture-out compared across forms on identical splits. ``scores``: columns ``heldout``,
    ``form``, ``value``. Dots, not bars: no bar length suggests an axis starting at 0.

    A score bounded above by ``upper`` (R² ≤ 1) is drawn as its distance to that bound, ``upper −
    score`` (1 − R², the share of the variance left unexplained), on a log axis: scores of 0.99 and
    0.999 lie a decade apart instead of on top of each other near 1, and lower is better. Without
    ``upper`` the score is drawn as it is on a linear axis. A missing score is marked "not applicable"
    at its place, also for every form of ``forms`` (default: those in ``scores``) that has no score
    at all. Mixture names are shown as :func:`mixture_label` writes them."""
    import numpy as np
    from matplotlib.lines import Line2D

    forms = list(dict.fromkeys([*(forms or []), *scores["form"]]))
    mixes = list(dict.fromkeys(scores["heldout"]))
    width = 0.7 / max(len(forms), 1)
    x = np.arange(len(mixes))
    colours = dict(zip(forms, _palette("tab10")))
    shapes = dict(zip(forms, "osD^vP<>X*"))
    gap = upper is not None
    drawn = []
    for k, form in enumerate(forms):
        pos = x + (k - (len(forms) - 1) / 2) * width
        v = scores[scores["form"] == form].set_index("heldout")[value].reindex(mixes).to_numpy(float)
        y = np.maximum(upper - v, 1e-6) if gap else v
        ok = np.isfinite(y)
        ax.plot(pos[ok], y[ok], ls="none", marker=shapes[form], ms=5, color=colours[form], mec="k", mew=0.4,
                zorder=3, gid=f"form:{form}")
        drawn.extend(y[ok])
        for p in pos[~ok]:  # x in data, y in axes fraction: stays put if the limits change
            ax.text(p, 0.02, NOT_APPLICABLE, rotation=90, ha="center", va="bottom", fontsize=6, color="0.3",
                    transform=ax.get_xaxis_transform(), gid="not-applicable")
    for edge in x[:-1] + 0.5:  # thin separators between the mixtures' groups of dots
        ax.axvline(edge, color="0.92", lw=0.8, zorder=0)
    ax.set_xlim(-0.5, len(mixes) - 0.5)
    category_ticks(ax, x, [mixture_label(m) for m in mixes])
    if gap:
        ax.set_yscale("log")
        if drawn:
            lo, hi = min(drawn), max(drawn)
            ax.set_ylim(lo / 1.6, hi * 1.6)
        log_axis(ax.yaxis)
        what = label.split("\n", 1)
        ylabel = (f"{upper:g} − {what[0]}" if upper != 1 else f"1 − {what[0]}") + \
            (f"\n{what[1]}" if len(what) > 1 else "") + "\n(log scale; lower is better)"
        ax.text(1.02, 0.0, f"{upper:g} − score = the part\nthe law leaves unexplained", transform=ax.transAxes,
                ha="left", va="bottom", fontsize=7, color="0.3")
    else:
        ylabel = label
    ax.set(ylabel=ylabel, xlabel="held-out mixture", title="Leave one mixture out: held-out score per law form")
    handles = [Line2D([], [], ls="none", marker=shapes[f], ms=5, color=colours[f], mec="k", mew=0.4, label=f)
               for f in forms]
    legend_outside(ax, handles, title="law")
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


def plot_claims_vs_compute(points: "pandas.DataFrame", axes, paper_flops: float, paper_range: dict,
                           titles: dict) -> None:
    """Notebook 11: each claim's readout against training compute 6·N·D (log x), one axes per claim
    in ``titles`` order; one colour and marker per source (the CPU sweep, a public ladder), error bars
    where the source has an interval (seeds or splits), and the paper's published range as a bar at
    its own compute. ``points``: rows of :mod:`bimix.law.scale` (claim, source, label, flops, value,
    lo, hi); ``paper_range``: claim -> (low, high), an open end as ±inf."""
    import numpy as np

    sources = list(dict.fromkeys(points["source"]))
    colours = dict(zip(sources, _palette("Dark2")))
    markers = dict(zip(sources, "osD^v"))
    for ax, (claim, title) in zip(axes, titles.items()):
        part = points[points["claim"] == claim]
        for source in sources:
            g = part[part["source"] == source]
            if g.empty:
                continue
            err = np.vstack([g["value"] - g["lo"], g["hi"] - g["value"]])
            err = np.where(np.isfinite(err), err, 0.0)
            ax.errorbar(g["flops"], g["value"], yerr=err, fmt=markers[source], color=colours[source], ms=5,
                        capsize=2, lw=1, label=source)
            # a sweep's rows at one compute are told apart by name; a ladder's smallest and largest size
            named = g if g["flops"].nunique() == 1 else g.loc[[g["flops"].idxmin(), g["flops"].idxmax()]]
            for _, r in named.iterrows():
                if r["label"] != source:
                    ax.annotate(str(r["label"]).replace(f"{source} ", ""), (r["flops"], r["value"]), fontsize=6,
                                xytext=(3, 3), textcoords="offset points")
        lo, hi = paper_range[claim]
        if np.isfinite(lo) and np.isfinite(hi):
            ax.vlines(paper_flops, lo, hi, color="black", lw=3, label="the paper (published range)")
        else:  # the paper states a side, not a number: shade the side where the claim holds
            edge = hi if np.isfinite(hi) else lo
            ax.axhline(edge, color="grey", lw=0.6, ls="--")
            span = (ax.get_ylim()[0], edge) if np.isfinite(hi) else (edge, ax.get_ylim()[1])
            ax.axhspan(*span, color="0.9", zorder=0, label="where the paper's claim holds")
        ax.set_xscale("log")
        ax.set(xlabel="training compute per run, 6·N·D (FLOPs)", title=title)
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=7, frameon=False, loc="best")


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
    if support is not None:  # beside the optimum's bar, in the gap between groups, over everything
        bracket = opt_pos + 0.5 * width + 0.06
        for p, d in zip(bracket, domains):
            if d in support:
                s_lo, s_hi = support[d]
                ax.add_patch(Rectangle((p - 0.035, s_lo), 0.07, max(s_hi - s_lo, 1e-4), facecolor="0.75",
                                       edgecolor="0.25", lw=0.8, zorder=4, gid="support"))
        handles.append(Patch(facecolor="0.75", edgecolor="0.25", lw=0.8, label="range of shares in the fitted runs"))
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
    if support is not None:  # the optimum leaves the shares its law was measured on: say so on the bar
        for p, d, r in zip(opt_pos, domains, r_opt):
            if d in support and not support[d][0] * (1 - 1e-9) <= r <= support[d][1] * (1 + 1e-9):
                ax.annotate("beyond fitted", (p, r), xytext=(0, 3), textcoords="offset points", ha="center",
                            va="bottom", fontsize=6, rotation=90, color="0.15", gid="extrapolated")
    category_ticks(ax, x, domains)
    top = max(max(max(v) for v in series.values()), float(np.nanmax(summary.get("r_max", r_opt))),
              max((hi for _, hi in (support or {}).values()), default=0.0))
    ax.set_ylim(0, top * 1.25)
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


def _band_and_reach(ax, s, line, name, band, level, reached) -> None:
    """The band over seeds of one mixture's summary ``s`` (columns step, mean, min, max, std, count;
    drawn where a step has at least two seeds) and the dotted step where it first reaches the target."""
    import numpy as np
    from scipy import stats

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
        _band_and_reach(ax, s, line, name, band, level, reached)
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


def plot_differences(data: "pandas.DataFrame", reference: str, ax: "matplotlib.axes.Axes", *,
                     band: str | None = "minmax", level: float = 0.95, highlight=None, labels=None,
                     colours=None, reached=None, logx: bool = True,
                     ylabel: str | None = None, title: str | None = None):
    """Each mixture's curve minus the ``reference`` mixture's (Figures 5 and 8: "minus natural"), so
    that differences of a few hundredths of a nat, invisible on a loss axis spanning nats, are read
    directly. ``data``: the tidy table of :func:`plot_curves_with_bands` (mixture, seed, step,
    value). Differences are paired: seed k of a mixture minus seed k of the reference at the same step;
    the line is their mean over the seeds both have, the band (``"minmax"``, ``"ci"``, ``"sd"`` or
    None) their spread as in :func:`plot_curves_with_bands`. Linear y axis in the data's units, with
    the reference as the zero line; below zero is lower than the reference. Same colours, highlighted
    mixtures and ``reached`` markers as the curve panel, so the two read together."""
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if band not in ("minmax", "ci", "sd", None):
        raise ValueError(f"band must be 'minmax', 'ci', 'sd' or None, got {band!r}")
    if reference not in set(data["mixture"]):
        raise ValueError(f"reference mixture {reference!r} is not in the data ({sorted(set(data['mixture']))})")
    mixtures = [m for m in dict.fromkeys(data["mixture"]) if m != reference]
    shown = mixtures if highlight is None else [m for m in mixtures if m in set(highlight)]
    colours = {**mixture_colours([reference, *shown]), **(colours or {})}
    ref = data[data["mixture"] == reference].groupby(["seed", "step"])["value"].mean().rename("ref")
    paired = data[data["mixture"] != reference].join(ref, on=["seed", "step"], how="inner")
    paired = paired.assign(diff=paired["value"] - paired["ref"])
    summary = paired.groupby(["mixture", "step"])["diff"].agg(["mean", "min", "max", "std", "count"]).reset_index()
    ax.axhline(0.0, color=colours[reference], lw=1.4, zorder=2, gid=f"reference:{reference}")
    background = False
    for name in mixtures:
        s = summary[summary["mixture"] == name].sort_values("step")
        if not len(s):
            continue
        if name not in shown:
            ax.plot(s["step"], s["mean"], "-", lw=0.8, color="0.6", zorder=1)
            background = True
            continue
        line, = ax.plot(s["step"], s["mean"], marker="o", ms=2.5, lw=1.4, color=colours[name],
                        label=(labels or {}).get(name, name), zorder=3, gid=f"diff:{name}")
        _band_and_reach(ax, s, line, name, band, level, reached)
    handles = [Line2D([], [], color=colours[reference], lw=1.4,
                      label=f"{(labels or {}).get(reference, reference)} (zero line)")]
    handles += [h for h in ax.get_lines() if (h.get_gid() or "").startswith("diff:")]
    if band and (summary["count"] >= 2).any():
        what = {"minmax": "band: min to max over paired seeds", "ci": f"band: {level:.0%} interval of the mean",
                "sd": "band: ± one std over paired seeds"}[band]
        handles.append(Patch(color="0.5", alpha=0.3, label=what))
    if background:
        handles.append(Line2D([], [], lw=0.8, color="0.6", label="other mixtures"))
    name = (labels or {}).get(reference, reference)
    ax.set(xlabel="step s", ylabel=ylabel or f"minus {name} (nats)",
           title=title or f"Difference to {name}, paired by seed (below 0: lower loss)")
    if logx:
        ax.set_xscale("log")
        log_axis(ax.xaxis)
    legend_outside(ax, handles)
    return ax


def plot_curves_and_differences(data: "pandas.DataFrame", reference: str | None, *, figsize=(7.5, 6.4),
                                labels=None, **kwargs):
    """Figures 5 and 8 as the notebooks draw them: the curves over seeds (:func:`plot_curves_with_bands`,
    ``kwargs`` go there) above their paired differences to ``reference`` (:func:`plot_differences`,
    same highlight, colours, band and ``reached`` markers), sharing the step axis. Without a
    ``reference`` in the data only the curves are drawn. Returns the figure."""
    import matplotlib.pyplot as plt

    both = reference is not None and reference in set(data["mixture"])
    if not both:
        fig, ax = plt.subplots(figsize=(figsize[0], figsize[1] * 0.6), layout="constrained")
        plot_curves_with_bands(data, ax, labels=labels, **kwargs)
        return fig
    fig, (ax, ax_diff) = plt.subplots(2, 1, figsize=figsize, sharex=True, height_ratios=[3, 2],
                                      layout="constrained")
    plot_curves_with_bands(data, ax, labels=labels, **kwargs)
    ax.set_xlabel("")
    shared = {k: kwargs[k] for k in ("band", "level", "highlight", "colours", "reached", "logx") if k in kwargs}
    plot_differences(data, reference, ax_diff, labels=labels, **shared)
    return fig


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


def plot_downstream(summary: "pandas.DataFrame", ax: "matplotlib.axes.Axes", ylabel: str = "one-shot score",
                    order=None, chance: float | None = None, names: bool = True, colours=None):
    """Figures 4, 6 and 7: a downstream score per mixture, with ±1 standard error. ``summary``:
    columns mixture, step, value, stderr (one task, or already averaged). One colour per mixture,
    never repeated within the figure (:func:`mixture_colours`; pass ``colours`` to share one map
    across panels).

    With one evaluated step (final checkpoints only), a dot chart: one row per mixture (in ``order``,
    default best score first), the score on the x axis with its error bar; ``names=False`` leaves the
    row names off (panels beside the first). With several steps, the score against steps, one line per
    mixture with a ±1 standard error band. ``chance`` draws the chance level (multiple choice)."""
    import numpy as np

    mixtures = list(order) if order is not None else None
    final = summary.sort_values("step").groupby("mixture").tail(1).set_index("mixture")
    if mixtures is None:
        mixtures = list(final["value"].sort_values(ascending=False).index)
    mixtures = [m for m in mixtures if m in final.index]
    colours = colours or mixture_colours(mixtures)
    if summary["step"].nunique() <= 1:
        y = np.arange(len(mixtures))
        for k, m in enumerate(mixtures):
            ax.errorbar(final.loc[m, "value"], k, xerr=final.loc[m, "stderr"], fmt="o", ms=5, color=colours[m],
                        ecolor=colours[m], elinewidth=1.2, capsize=2, zorder=3, gid=f"score:{m}")
        ax.set_yticks(y, [mixture_label(m) for m in mixtures] if names else [""] * len(mixtures))
        ax.set_ylim(len(mixtures) - 0.5, -0.5)  # best at the top
        ax.grid(axis="y", color="0.93", lw=0.8, zorder=0)
        step = int(summary["step"].iloc[0]) if len(summary) else 0
        # in the axis label itself: a note placed under it ran into it
        ax.set_xlabel(f"{ylabel}\n(step {step:,}; bars ±1 s.e.)")
        if chance is not None:
            ax.axvline(chance, color="0.4", ls=":", lw=0.9, zorder=1, gid="chance")
            # named in the axis label: a text label above the axes ran into the title, inside it over the data
            ax.set_xlabel(ax.get_xlabel()[:-1] + f"; dotted: chance {chance:g})")
        return ax
    for m in mixtures:
        g = summary[summary["mixture"] == m].sort_values("step")
        line, = ax.plot(g["step"], g["value"], marker="o", ms=3, lw=1.4, color=colours[m], label=mixture_label(m),
                        gid=f"score:{m}")
        ax.fill_between(g["step"], g["value"] - g["stderr"], g["value"] + g["stderr"],
                        color=line.get_color(), alpha=0.15, lw=0)
    if chance is not None:
        ax.axhline(chance, color="0.4", ls=":", lw=0.9, gid="chance", label="chance")
    ax.set(xscale="log", xlabel="step s", ylabel=ylabel)
    log_axis(ax.xaxis)
    if names:
        legend_outside(ax)
    return ax
