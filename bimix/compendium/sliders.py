"""Sliders: what a reader of notebooks 00, 02, 03 and 06 would rather move than retype.

Each slider is a pure *view*, a function of the slider values and of what the notebook already holds
(committed run tables, the fitted law, the entropies), that returns a :class:`View`: a table of
numbers, a figure and the sentence those numbers say. No view trains anything. :class:`Sliders` puts a
view behind ``ipywidgets`` controls.

Displayed, a :class:`Sliders` is one output holding two renderings: the live widget, which a notebook
frontend with a kernel (JupyterLab, ``make lab``) shows and redraws as the controls move (tested in a
live JupyterLab in headless Chromium, ``tests/test_sliders_live.py``), and the view
at the default values as plain HTML, which what has no live kernel shows instead: the static site and
``docs/executed/`` keep no widget state (:func:`bimix.compendium.site.strip_notebook`), and nbconvert
then renders an output's next-richest form. Nothing is detected at run time: under papermill the
widget is built as anywhere else (no frontend answers, nothing breaks), and each reader of the
executed notebook picks the richest rendering it can show.

The views for one notebook each, in pipeline order: :func:`synthetic_fit_view` (00: noise and share
range of the synthetic runs), :func:`temperature_view` (02: log base of the entropy mixtures),
:func:`doremi_replay_view` (03: DoReMi's step size) and :func:`optimum_view` (06: target step and
bounds of the optimum). ``ipywidgets`` is imported only when controls are built.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.compendium import plots

STATIC_NOTE = ("Shown at the default values of the sliders. Run the notebook in JupyterLab (make lab) to move "
               "them: each position is recomputed from the same tables, without training.")


@dataclass
class View:
    """What one position of the sliders shows: ``table`` (the numbers), ``figure`` (a matplotlib
    Figure made without pyplot, so a notebook never shows it twice) and ``text`` (a computed sentence)."""

    table: pd.DataFrame
    figure: "matplotlib.figure.Figure | None"
    text: str
    _html: str | None = field(default=None, repr=False)

    def html(self) -> str:
        """The view as one HTML fragment: the sentence, the figure as an embedded PNG, the table."""
        if self._html is None:
            parts = [f"<p>{html.escape(self.text)}</p>"]
            if self.figure is not None:
                buffer = io.BytesIO()
                self.figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight",
                                    metadata=plots._PNG_METADATA)
                png = base64.b64encode(buffer.getvalue()).decode("ascii")
                parts.append(f'<img alt="{html.escape(self.text[:120])}" src="data:image/png;base64,{png}"/>')
            parts.append(self.table.to_html(float_format=lambda v: f"{v:.4g}", border=0))
            self._html = "\n".join(parts)
        return self._html

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html(), "text/plain": f"{self.text}\n{self.table.to_string()}"}


def _problem(exc: Exception) -> View:
    """A position the view refuses (bounds no mixture satisfies, ...): the reason, in words."""
    return View(pd.DataFrame(), None, f"{type(exc).__name__}: {exc}")


class Sliders:
    """``view(**values)`` behind one control per keyword of ``controls`` (ipywidgets, each with a
    ``value``). The view at the controls' initial values is computed once, at construction: it is
    the static rendering (see the module docstring) and the widget's first picture. A position the
    view refuses with a ValueError (a LawError, an OptimizeError) shows the reason instead."""

    def __init__(self, view: Callable[..., View], controls: Mapping[str, "ipywidgets.ValueWidget"]):
        import ipywidgets as widgets

        self.view, self.controls = view, dict(controls)
        self.out = widgets.Output()
        self.default = self.current = self._render()
        self.settings = ", ".join(f"{c.description or name} = {_label(c)}" for name, c in self.controls.items())
        box = widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox([box, self.out])
        for control in self.controls.values():
            control.observe(self._changed, names="value")

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def _render(self) -> View:
        from bimix.law.forms import LawError

        try:
            shown = self.view(**self.values())
        except (ValueError, LawError) as exc:
            shown = _problem(exc)
        # set directly, not through `with self.out`: that needs a kernel routing the messages
        self.out.outputs = ({"output_type": "display_data", "data": shown._repr_mimebundle_(), "metadata": {}},)
        return shown

    def _changed(self, _change) -> None:
        self.current = self._render()

    def static_html(self) -> str:
        return self.default.html() + f"\n<p><em>{html.escape(self.settings)}. {html.escape(STATIC_NOTE)}</em></p>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = self.widget._repr_mimebundle_()
        data = dict(data[0] if isinstance(data, tuple) else data)
        data["text/html"] = self.static_html()
        data["text/plain"] = f"{self.default.text}\n({STATIC_NOTE})"
        return data


def _label(control) -> str:
    """The value a control shows (a selection's label, a range as lo–hi)."""
    if hasattr(control, "label") and isinstance(getattr(control, "label"), str):
        return control.label
    value = control.value
    if isinstance(value, tuple):
        return "–".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slider_style():
    return {"description_width": "initial"}


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


# --------------------------------------------------------------------------------------------------
# 00: noise and share range of the synthetic runs

def clip_to_range(shares: Sequence[float], r_min: float, r_max: float) -> np.ndarray:
    """The mixture nearest ``shares`` (Euclidean distance) whose every share lies in [r_min, r_max]:
    ``clip(shares - t, r_min, r_max)`` with the one shift t that makes it sum to 1 (the projection onto
    the simplex within bounds; bisection on t). Shares already in the range come back unchanged."""
    from scipy.optimize import brentq

    r = np.asarray(shares, dtype=np.float64)
    m = len(r)
    if not 0 <= r_min <= 1 / m <= r_max <= 1:
        raise ValueError(f"no mixture of {m} domains has every share in [{r_min:g}, {r_max:g}]: "
                         f"the range must hold 1/{m} = {1 / m:.4g}")
    if r.min() >= r_min and r.max() <= r_max:
        return r
    t = brentq(lambda t: np.clip(r - t, r_min, r_max).sum() - 1, r.min() - r_max, r.max() - r_min, xtol=1e-15)
    return np.clip(r - t, r_min, r_max)


def synthetic_fit_view(noise: float = 0.003, share_range: tuple[float, float] = (0.0, 1.0), *, seed: int = 0,
                       n_domains: int = 5, n_mixtures: int = 6) -> View:
    """Notebook 00's synthetic runs redrawn with multiplicative ``noise`` and every share pulled into
    ``share_range`` (:func:`clip_to_range`), the law refitted (trf, 8 starts), α compared with the
    truth. The random draws are the notebook's, in its order (coefficients, mixtures, noise from one
    generator seeded with ``seed``), so at the notebook's noise and the full range (0, 1) the fit is the
    notebook's own."""
    from bimix.law.forms import fit_law
    from bimix.law.synthetic import PAPER_STEPS, dirichlet_mixtures, random_coefficients, synthetic_runs

    rng = np.random.default_rng(seed)
    domains = [f"domain{i}" for i in range(n_domains)]
    truth = random_coefficients(domains, rng)
    mixtures = {name: dict(zip(domains, clip_to_range([mix[d] for d in domains], *share_range)))
                for name, mix in dirichlet_mixtures(domains, n_mixtures, rng).items()}
    runs = synthetic_runs(truth, mixtures, steps=PAPER_STEPS, noise=noise, rng=rng)
    fit = fit_law(runs, method="trf", n_starts=8)
    shares = runs.groupby("domain", sort=False)["r"]
    table = pd.DataFrame({"r_min": shares.min(), "r_max": shares.max(), "alpha_true": truth["alpha"],
                          "alpha_fit": [fit.params(d)["alpha"] for d in domains]}, index=domains)
    table["alpha_rel_err"] = table["alpha_fit"] / table["alpha_true"] - 1
    worst = table["alpha_rel_err"].abs().idxmax()
    fig, (left, right) = _figure(10, 3.6, 2)
    plots.plot_loss_vs_share(runs, fit, domains[0], left, steps=PAPER_STEPS[::6])
    left.set_xlim(min(0.01, 0.8 * table["r_min"].min()), 1.0)  # fixed, so that a narrower range shows as one
    right.plot(table["alpha_true"], table["alpha_fit"], "o", color="0.2")
    line = [0, 1.15 * float(table[["alpha_true", "alpha_fit"]].max().max())]
    right.plot(line, line, ":", color="0.5", label="fitted = true")
    for d, row in table.iterrows():
        right.annotate(d, (row["alpha_true"], row["alpha_fit"]), xytext=(3, 3), textcoords="offset points", fontsize=7)
    right.set(xlabel="true α", ylabel="fitted α", title="share exponent α: fitted against true")
    right.legend(fontsize=8)
    text = (f"Noise {noise:.1%}, shares in [{table['r_min'].min():.3f}, {table['r_max'].max():.3f}]: "
            f"α recovered within {abs(table.loc[worst, 'alpha_rel_err']):.1%} in every domain "
            f"(worst {worst}, whose shares span a factor {table.loc[worst, 'r_max'] / table.loc[worst, 'r_min']:.1f}).")
    return View(table, fig, text)


def synthetic_fit_sliders(noise: float = 0.003, *, seed: int = 0, n_domains: int = 5) -> Sliders:
    """:func:`synthetic_fit_view` behind a noise slider (0 to 5 %) and a share-range slider."""
    import ipywidgets as widgets

    return Sliders(lambda noise, share_range: synthetic_fit_view(noise, share_range, seed=seed, n_domains=n_domains), {
        "noise": widgets.FloatSlider(value=noise, min=0.0, max=0.05, step=0.001, readout_format=".3f",
                                     description="noise", continuous_update=False, style=_slider_style()),
        "share_range": widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.01,
                                                description="share range", continuous_update=False,
                                                style=_slider_style())})


# --------------------------------------------------------------------------------------------------
# 02: log base (temperature) of the entropy mixtures

BASES = {"2 (bits)": math.log(2), "e (nats, the paper)": 1.0, "10": math.log(10)}  # label -> τ = ln b
TEMPERATURES = (0.25, 0.5, math.log(2), 1.0, 1.5, math.log(10), 4.0, 10.0)


def temperature_view(entropies: pd.DataFrame, tau: float = 1.0, natural: Mapping[str, float] | None = None) -> View:
    """Eq. 13 at temperature ``tau`` (τ = ln b for entropies in base b) for every measure of
    ``entropies`` (index domain, one column per measure, nats), beside ``natural`` (which no τ moves)."""
    from bimix.data.entropy import softmax_mixture

    table = pd.DataFrame({m: softmax_mixture(entropies[m].to_dict(), float(tau)) for m in entropies.columns})
    if natural is not None:
        table.insert(0, "natural", pd.Series(natural, dtype=float))
    ratio = table.max() / table.min()
    fig, (ax,) = _figure(7.5, 3.4)
    colours = plots.mixture_colours(list(table.columns))
    width = 0.8 / len(table.columns)
    x = np.arange(len(table))
    for k, name in enumerate(table.columns):
        ax.bar(x - 0.4 + (k + 0.5) * width, table[name], width, color=colours[name], label=name)
    plots.category_ticks(ax, x, list(table.index))
    ax.set_ylim(0, 1)
    ax.set(ylabel="share r_i", title=f"entropy mixtures at τ = {tau:.3g} (log base {math.exp(tau):.3g})")
    plots.legend_outside(ax)
    text = (f"τ = {tau:.3g}, i.e. entropies in base b = e^τ = {math.exp(tau):.3g}: largest/smallest share "
            + ", ".join(f"{m} {ratio[m]:.2f}" for m in table.columns) + ".")
    return View(table, fig, text)


def temperature_sliders(entropies: pd.DataFrame, natural: Mapping[str, float] | None = None) -> Sliders:
    """:func:`temperature_view` behind a temperature slider whose stops include bits, nats and base 10."""
    import ipywidgets as widgets

    names = {v: k for k, v in BASES.items()}
    options = [(f"{t:.3g}" + (f" = ln {names[t].split()[0]}" if t in names else ""), t) for t in TEMPERATURES]
    return Sliders(lambda tau: temperature_view(entropies, tau, natural), {
        "tau": widgets.SelectionSlider(options=options, value=1.0, description="temperature τ",
                                       continuous_update=False, style=_slider_style())})


# --------------------------------------------------------------------------------------------------
# 03: DoReMi's step size η

ETAS = (0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0)


def replay_weights(excess: pd.DataFrame, eta: float, smoothing: float) -> pd.DataFrame:
    """The Group-DRO weights a proxy would hold at each step (index step, one column per domain) if it
    met the excess losses ``excess`` (same shape, nats) with step size ``eta``: from uniform, one
    :func:`bimix.train.doremi.update_weights` per step, as the proxy's own objective does."""
    from bimix.train.doremi import update_weights

    e = excess.to_numpy(dtype=np.float64)
    w = np.full(e.shape[1], 1.0 / e.shape[1])
    out = np.empty_like(e)
    for t in range(len(e)):
        w = out[t] = update_weights(w, e[t], eta, smoothing)
    return pd.DataFrame(out, index=excess.index, columns=excess.columns)


def eta_study(folder: str | Path, trajectory: pd.DataFrame, eta: float, seed: int = 0) -> dict[float, dict[str, float]]:
    """The averaged weights of the η study's trained proxies of ``seed`` ({η: {domain: weight}}, from
    their sidecars), provided the study's proxy at ``eta`` met the same excess losses as ``trajectory``
    (columns step, domain, weight, excess): then its proxies differ from this run by η alone. Else
    {}: the study trained another config, and comparing would mislead."""
    from bimix.data.runs import read_sidecars
    from bimix.train.regime import eta_trajectory_name

    folder = Path(folder)
    same = folder / eta_trajectory_name(eta, seed)
    if not same.is_file() or not (folder / "runs.csv").is_file():
        return {}
    theirs = pd.read_csv(same).pivot(index="step", columns="domain", values="excess")
    ours = trajectory.pivot(index="step", columns="domain", values="excess")
    if theirs.shape != ours.shape or list(theirs.columns) != list(ours.columns) or \
            not np.allclose(theirs.to_numpy(), ours.to_numpy(), rtol=0, atol=1e-12):
        return {}
    return {float(sc["doremi"]["eta"]): dict(sc["doremi_weights"]) for sc in read_sidecars(folder / "runs.csv").values()
            if sc.get("status") == "complete" and int(sc["seed"]) == seed and sc.get("doremi_weights")}


def doremi_replay_view(trajectory: pd.DataFrame, eta: float, *, run_eta: float = 1.0, smoothing: float = 1e-3,
                       trained: Mapping[float, Mapping[str, float]] | None = None, collapse: float = 0.9) -> View:
    """The recorded excess losses of one DoReMi proxy (``trajectory``: columns step, domain, weight,
    excess; trained with step size ``run_eta``) replayed with step size ``eta``: the weights and their
    average, and beside them the average of the proxy really trained at ``eta`` where ``trained``
    ({η: {domain: weight}}, :func:`eta_study`) has one. A replay holds the excess losses fixed; a proxy
    trained at another η learns from other weights, so its excess losses, and its weights, differ."""
    domains = list(dict.fromkeys(trajectory["domain"]))
    excess = trajectory.pivot(index="step", columns="domain", values="excess")[domains]
    weights = replay_weights(excess, eta, smoothing)
    average = weights.mean()
    table = pd.DataFrame({f"replay η={eta:g}": average / average.sum()})
    real = (trained or {}).get(float(eta))
    if real is not None:
        table[f"trained η={eta:g}"] = pd.Series(real)
    fig, (left, right) = _figure(11, 3.4, 2)
    plots.plot_weight_trajectory(weights, left, average=average.to_dict(),
                                 title=f"replay of the η = {run_eta:g} run's excess losses at η = {eta:g}")
    x = np.arange(len(table))
    for k, (name, shade) in enumerate(zip(table.columns, ("0.25", "0.65"))):  # greys: the colours are the domains'
        right.bar(x - 0.4 + (k + 0.5) * 0.8 / table.shape[1], table[name], 0.8 / table.shape[1], color=shade, label=name)
    plots.category_ticks(right, x, list(table.index))
    right.set(ylabel="averaged weight", title="the mixture DoReMi would output")
    plots.legend_outside(right)
    collapsed = float((weights.max(axis=1) > collapse).mean())
    top = table.iloc[:, 0].idxmax()
    text = (f"Replayed at η = {eta:g}: one domain holds more than {collapse:.0%} of the weight at {collapsed:.0%} "
            f"of the {len(weights)} steps; the averaged weights range from {table.iloc[:, 0].min():.3f} to "
            f"{table.iloc[:, 0].max():.3f} ({top}).")
    gap = (table.iloc[:, 1] - table.iloc[:, 0]).abs() if real is not None else None
    if eta == run_eta:
        text += " At the run's own η the replay is the run: it gives back the recorded weights."
    elif real is not None:
        text += (f" The proxy trained at η = {eta:g} averaged weights up to {gap.max():.3f} away ({gap.idxmax()}): "
                 "what a replay cannot know is how other weights change the excess losses.")
    elif eta != run_eta:
        text += " No proxy was trained at this η on this config; the replay is all there is."
    return View(table, fig, text)


def doremi_replay_sliders(trajectory: pd.DataFrame, *, run_eta: float = 1.0, smoothing: float = 1e-3,
                          trained: Mapping[float, Mapping[str, float]] | None = None) -> Sliders:
    """:func:`doremi_replay_view` behind a step-size slider whose stops include the trained ones."""
    import ipywidgets as widgets

    etas = sorted(set(ETAS) | set(trained or ()) | {float(run_eta)})
    options = [(f"{e:g}" + (" (trained)" if e in (trained or {}) else ""), e) for e in etas]
    return Sliders(lambda eta: doremi_replay_view(trajectory, eta, run_eta=run_eta, smoothing=smoothing,
                                                  trained=trained), {
        "eta": widgets.SelectionSlider(options=options, value=float(run_eta), description="step size η",
                                       continuous_update=False, style=_slider_style())})


# --------------------------------------------------------------------------------------------------
# 06: target step and bounds of the optimum

def optimum_view(fit, step: int, *, lower: Mapping[str, float] | None = None,
                 upper: Mapping[str, float] | None = None, within_support: bool = False,
                 natural: Mapping[str, float] | None = None) -> View:
    """The BiMix optimum of ``fit`` at ``step`` within ``lower``/``upper`` (and, if ``within_support``,
    within the shares the fit saw), re-solved exactly (:func:`bimix.law.optimize.optimize_mixture`):
    its shares, each domain's predicted loss there and at the ``natural`` mixture. The optimiser's
    warnings (a share at a bound, beyond the fitted shares) become the sentence, not stderr."""
    from bimix.law.optimize import optimize_mixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this call's warnings only: each is in opt.warnings, said below
        opt = optimize_mixture(fit, step, lower=lower, upper=upper, within_support=within_support)
    table = opt.table().set_index("domain")[["r", "lower", "upper", "at_bound", "loss"]]
    table["fitted_min"] = [fit.support[d][0] for d in table.index]
    table["fitted_max"] = [fit.support[d][1] for d in table.index]
    if natural is not None:
        r_nat = np.array([natural[d] for d in opt.domains])
        table["loss_natural"] = fit.domain_losses(r_nat, step)
    fig, (left, right) = _figure(11, 3.6, 2)
    plots.plot_optimum(opt.table().rename(columns={"r": "r_opt"}), left,
                       others={"natural": dict(natural)} if natural is not None else None, support=fit.support)
    left.set_title(f"optimum at step {step:,}", fontsize=9)
    x = np.arange(len(table))
    if natural is not None:  # hundredths of a nat on losses of several nats: drawn as the difference
        right.bar(x, table["loss"] - table["loss_natural"], 0.6, color="k")
        right.axhline(0, color="0.5", lw=0.8)
        right.set(ylabel="optimum − natural (nats)", title=f"predicted loss at step {step:,}, optimum minus natural")
    else:
        right.bar(x, table["loss"], 0.6, color="k")
        right.set(ylabel="predicted loss (nats)", title=f"predicted loss at step {step:,}")
    plots.category_ticks(right, x, list(table.index))
    bound = [f"{d} ({w})" for d, w in table["at_bound"].items() if w]
    beyond = [d for d, row in table.iterrows() if not row["fitted_min"] - 1e-9 <= row["r"] <= row["fitted_max"] + 1e-9]
    text = f"Step {step:,}: predicted average loss {opt.objective / len(table):.4f} nats"
    if natural is not None:
        text += f" (natural mixture {table['loss_natural'].mean():.4f})"
    beyond = [f"{d} {table.loc[d, 'r']:.3f}" for d in beyond]
    text += (f"; at a bound: {', '.join(bound) or 'none'}; beyond the shares the law was fitted on: "
             f"{', '.join(beyond) or 'none'}.")
    return View(table, fig, text)


def optimum_sliders(fit, step: int, *, steps: Sequence[int] = (), fitted_lower: Mapping[str, float] | None = None,
                    train_tokens: Mapping[str, float] | None = None, budget_tokens: float = 0.0,
                    epochs_max: float = 0.0, rows=None, caps=None, lower_from_fit: bool = True,
                    natural: Mapping[str, float] | None = None) -> Sliders:
    """:func:`optimum_view` behind a target-step slider (over ``steps``), a lower-bound choice (none, or
    the smallest share in the fitted runs, ``fitted_lower``), the epoch cap that sets the upper bounds
    (:func:`bimix.law.optimize.epoch_upper_bounds` of ``train_tokens`` in a run of ``budget_tokens``),
    and whether the shares must also stay within those the law was fitted on. ``rows`` (the fitted
    runs' rows) gives ``steps`` and ``fitted_lower``; ``caps`` (:class:`bimix.law.optimum.EpochCaps`)
    gives ``train_tokens``, ``budget_tokens`` and ``epochs_max``."""
    import ipywidgets as widgets

    from bimix.law.optimize import epoch_upper_bounds

    if rows is not None:
        steps, fitted_lower = sorted(rows["step"].unique()), rows.groupby("domain")["r"].min().to_dict()
    if caps is not None:
        train_tokens, budget_tokens, epochs_max = caps.train_tokens, caps.budget_tokens, caps.epochs_max

    def view(step, lower, epochs, within):
        upper = epoch_upper_bounds(train_tokens, budget_tokens, epochs)
        return optimum_view(fit, step, lower=dict(fitted_lower) if lower else None, upper=upper,
                            within_support=within, natural=natural)

    # from the natural mixture's epochs (the smallest cap any mixture satisfies: it forces the natural
    # mixture) up to the notebook's cap
    natural_epochs = budget_tokens / sum(train_tokens.values())
    caps = sorted({*map(float, np.geomspace(natural_epochs, max(epochs_max, 2 * natural_epochs), 12)), float(epochs_max)})
    return Sliders(view, {
        "step": widgets.SelectionSlider(options=[(f"{s:,}", s) for s in sorted({*map(int, steps), int(step)})], value=int(step),
                                        description="target step", continuous_update=False, style=_slider_style()),
        "lower": widgets.ToggleButtons(options=[("none", False), ("smallest fitted share", True)],
                                       value=bool(lower_from_fit), description="lower bounds", style=_slider_style()),
        "epochs": widgets.SelectionSlider(options=[(f"{e:.3g}", e) for e in caps], value=float(epochs_max),
                                          description="upper bounds: epochs at most", continuous_update=False,
                                          style=_slider_style()),
        "within": widgets.Checkbox(value=False, description="shares within those fitted on", style=_slider_style())})
