"""What the figures show, read back from the drawn artists (Agg canvas), not from file bytes:
tick labels that never collide and never stand alone, legends outside the data, colour bars, held-out
mixtures drawn apart, bound lines, "not applicable" marks, bands over seeds."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bimix.compendium import plots  # noqa: E402
from bimix.law.forms import fit_law  # noqa: E402
from bimix.law.synthetic import PAPER_STEPS, dirichlet_mixtures, random_coefficients, synthetic_runs  # noqa: E402

DOMAINS = ["code", "math", "books"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    truth = random_coefficients(DOMAINS, rng)
    runs = synthetic_runs(truth, dirichlet_mixtures(DOMAINS, 6, rng), steps=PAPER_STEPS, noise=0.003,
                          seeds=(0, 1), rng=rng)
    return runs


@pytest.fixture(scope="module")
def fit(table):
    return fit_law(table[table["mixture"].isin(["mix0", "mix1", "mix2", "mix3"])], n_starts=2)


def _visible_labels(axis):
    """The tick labels a reader sees, major and minor."""
    lo, hi = sorted(axis.get_view_interval())
    pairs = itertools.chain(zip(axis.get_majorticklabels(), axis.get_majorticklocs()),
                            zip(axis.get_minorticklabels(), axis.get_minorticklocs()))
    return [t for t, loc in pairs if t.get_visible() and t.get_text() and lo <= loc <= hi]


def assert_clean_axes(fig):
    """Every drawn axis: at least two tick labels, no two of them overlapping; every legend outside
    its axes' data area."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = _visible_labels(axis)
            if not labels:  # e.g. the short side of a colour bar
                continue
            assert len(labels) >= 2, f"{ax.get_title() or ax.get_label()}: single tick label {labels[0].get_text()!r}"
            angle = labels[0].get_rotation() % 180
            if angle:  # slanted names: neighbours' anchors must be a line height apart across the text
                assert labels[0].get_rotation_mode() == "anchor", "slanted labels not anchored at their tick"
                height = labels[0].get_fontsize() * fig.dpi / 72
                xs = sorted(ax.transData.transform((loc, 0))[0] for loc in axis.get_majorticklocs())
                gaps = [abs(b - a) * np.sin(np.radians(angle)) for a, b in zip(xs, xs[1:])]
                assert min(gaps) >= height, f"slanted tick labels collide: {min(gaps):.1f} px < {height:.1f} px"
                continue
            boxes = [t.get_window_extent(renderer) for t in labels]
            for (a, ta), (b, tb) in itertools.combinations(zip(boxes, labels), 2):
                assert not a.overlaps(b), f"tick labels collide: {ta.get_text()!r} and {tb.get_text()!r}"
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), \
                f"legend over the data of {ax.get_title()!r}"


@pytest.mark.parametrize("lo, hi", [(24, 400), (4.6, 7.3), (0.016, 0.524), (0.096, 0.431), (2.1, 7.5),
                                    (5.1, 5.3), (10, 1e6), (1e4, 2e5), (0.9, 1.2)])
def test_log_axis_ticks_never_collide_nor_stand_alone(lo, hi):
    fig, ax = plt.subplots(figsize=(3.2, 2.6), layout="constrained")
    ax.loglog([lo, hi], [lo, hi])
    ax.set(xlim=(lo, hi), ylim=(lo, hi))
    plots.log_axis(ax.xaxis)
    plots.log_axis(ax.yaxis)
    assert_clean_axes(fig)
    texts = [t.get_text() for t in _visible_labels(ax.xaxis)]
    assert not any("times" in t or "^" in t for t in texts), texts  # plain numbers, no 3×10^1
    plt.close(fig)


@pytest.mark.parametrize("lo, hi, expected", [(24, 400, ["30", "100", "300"]), (1e4, 2e5, ["10k", "30k", "100k"]),
                                              (0.016, 0.524, ["0.03", "0.1", "0.3"]), (4.6, 7.3, ["5", "6", "7"])])
def test_log_axis_labels_are_plain_round_numbers(lo, hi, expected):
    fig, ax = plt.subplots(figsize=(3.2, 2.6))
    ax.set(xscale="log", xlim=(lo, hi))
    plots.log_axis(ax.xaxis)
    fig.canvas.draw()
    assert [t.get_text() for t in _visible_labels(ax.xaxis)] == expected
    plt.close(fig)


def test_loss_vs_steps_colour_bar_and_heldout_drawn_apart(table, fit):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for ax, d in zip(axes, DOMAINS):
        plots.plot_loss_vs_steps(table, fit, d, ax, heldout=["mix4", "mix5"])
    assert_clean_axes(fig)
    ax = axes[0]
    assert len(fig.axes) == 4, "one colour bar per panel"
    assert "share r of code" in fig.axes[2].get_ylabel()
    assert [" ".join(t.get_text().split()) for t in ax.get_legend().get_texts()] == \
        ["fitted: mix0, mix1, mix2, mix3", "law, fitted", "held out: mix4, mix5", "law, held out"]
    held = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("heldout:")]
    fitted = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("fitted:")]
    assert len(held) == 2 and len(fitted) == 4
    assert all(ln.get_markerfacecolor() == "none" for ln in held)
    assert all(ln.get_markerfacecolor() != "none" for ln in fitted)
    # colour follows the share, not the rank: equal share -> equal colour, larger share -> other end
    shares = table[table["domain"] == "code"].groupby("mixture")["r"].first()
    norm = plots._share_norm(shares)
    for ln in held + fitted:
        mix = ln.get_gid().split(":")[1]
        assert np.allclose(matplotlib.colors.to_rgba(ln.get_color()),
                           matplotlib.colormaps["viridis"](norm(shares[mix])))
    plt.close(fig)


def test_loss_vs_share_legend_or_colour_bar(table, fit):
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    plots.plot_loss_vs_share(table, fit, "code", a)  # four steps: a legend
    plots.plot_loss_vs_share(table, None, "math", b, steps=PAPER_STEPS)  # twenty: a colour bar
    assert_clean_axes(fig)
    assert len([t for t in a.get_legend().get_texts() if t.get_text().startswith("s = ")]) == 4
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "step s"
    plt.close(fig)


def test_predicted_vs_observed_coloured_by_domain(table, fit):
    from bimix.law.protocols import generalise_mixtures

    gen = generalise_mixtures(table, ["mix0", "mix1", "mix2", "mix3"], ["mix4", "mix5"], n_starts=2)
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    plots.plot_predicted_vs_observed(gen.points, ax)
    assert_clean_axes(fig)
    colours = plots.domain_colours(DOMAINS)
    drawn = {matplotlib.colors.to_hex(ln.get_color()) for ln in ax.lines[:-1]}
    assert drawn == {matplotlib.colors.to_hex(c) for c in colours.values()}
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(DOMAINS) <= set(labels) and {"mix4", "mix5", "final step", "y = x"} <= set(labels)
    plt.close(fig)


def test_domain_colours_are_the_same_in_every_figure():
    a = plots.domain_colours(["math", "code", "domain7"])
    b = plots.domain_colours(["code", "books", "speeches", "legal", "reference", "math", "domain7"])
    assert a["math"] == b["math"] and a["code"] == b["code"] and a["domain7"] == b["domain7"]
    assert len(set(plots.domain_colours([f"d{i}" for i in range(22)]).values())) == 22
    assert plots.mixture_colours(["bimix_opt-b99d602d"])["bimix_opt-b99d602d"] == (0.0, 0.0, 0.0)


def test_optimum_draws_the_bounds_it_touches():
    # as notebook 06's table: optimum, near-optimal range and the bounds as columns (upper given apart)
    summary = pd.DataFrame({"domain": DOMAINS, "r_opt": [0.5, 0.3, 0.2], "r_min": [0.45, 0.28, 0.2],
                            "r_max": [0.55, 0.33, 0.22], "lower": [0.1, 0.1, 0.2], "upper": [1.0, 1.0, 1.0]})
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    plots.plot_optimum(summary, ax, others={"baseline": dict(zip(DOMAINS, [0.4, 0.4, 0.2]))},
                       upper={"code": 0.5}, support={"code": (0.1, 0.3)})
    assert_clean_axes(fig)
    gids = [c.get_gid() for c in ax.collections]
    assert "bound:lower" in gids and "bound:upper" in gids
    at = [t for t in ax.texts if t.get_gid() == "at-bound"]
    assert len(at) == 2, "code sits on its upper bound, books on its lower bound"
    assert any(p.get_gid() == "support" for p in ax.patches)
    plt.close(fig)


def test_heldout_scores_are_dots_on_the_unexplained_part_with_missing_ones_labelled():
    # fig_lomo_heldout drew bars rising from below a truncated axis, so bar lengths meant nothing and
    # R² of 0.995 and 0.998 sat on top of each other near 1
    scores = pd.DataFrame({"heldout": ["a", "a", "bimix_opt-c66bb62e", "bimix_opt-c66bb62e"],
                           "form": ["bimix", "share"] * 2, "r2_log": [0.99, 0.999, np.nan, 0.95]})
    fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
    plots.plot_heldout_scores(scores, ax, forms=["bimix", "share", "exponential"])
    assert_clean_axes(fig)
    assert not ax.containers, "bars drawn: a bar's length would claim an axis from 0"
    assert ax.get_yscale() == "log" and ax.get_ylabel().startswith("1 − R²")
    dots = {ln.get_gid(): ln for ln in ax.lines if (ln.get_gid() or "").startswith("form:")}
    assert np.allclose(dots["form:share"].get_ydata(), [0.001, 0.05])
    assert np.allclose(dots["form:bimix"].get_ydata(), [0.01])
    lo, hi = ax.get_ylim()
    assert lo < 0.001 and hi > 0.05, "every dot in view"
    # b/bimix is missing, and the exponential form has no score at all
    assert len([t for t in ax.texts if t.get_gid() == "not-applicable"]) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bimix", "share", "exponential"]
    markers = [h.get_marker() for h in ax.get_legend().legend_handles]
    assert len(set(markers)) == 3, "one marker shape per form"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "bimix_opt (BiMix optimum)"]
    plt.close(fig)


def test_spread_without_seed_noise_says_so_and_slanted_names_never_overlap():
    domains = ["books", "code", "legal", "math", "reference", "speeches"]
    spread = pd.Series([0.006, 0.004, 0.005, 0.018, 0.007, 0.006], index=domains)
    fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
    plots.plot_spread_vs_noise(spread, None, ax, fit_error=spread * 1.5)
    assert_clean_axes(fig)
    labels = [" ".join(t.get_text().split()) for t in ax.get_legend().get_texts()]  # wrapped entries
    assert any(plots.NOT_APPLICABLE in t for t in labels if t.startswith("seed to seed")), labels
    plt.close(fig)


def test_curves_with_bands(table):
    per_seed = (table.groupby(["mixture", "seed", "step"])["loss"].mean().rename("value").reset_index())
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    plots.plot_curves_with_bands(per_seed, ax, highlight=["mix0", "mix1"], target=3.0, band="ci")
    assert_clean_axes(fig)
    bands = sorted(c.get_gid() for c in ax.collections if (c.get_gid() or "").startswith("band:"))
    assert bands == ["band:mix0", "band:mix1"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["mix0 (mean of 2 seeds)", "mix1 (mean of 2 seeds)"]
    assert "other mixtures" in labels and "natural, final" in labels
    assert ax.get_title() and not ax.get_title().startswith("Figure")
    with pytest.raises(ValueError, match="lacks column"):
        plots.plot_curves_with_bands(per_seed.drop(columns="seed"), ax)
    plt.close(fig)


def test_band_figure_is_byte_deterministic(table, tmp_path):
    per_seed = (table.groupby(["mixture", "seed", "step"])["loss"].mean().rename("value").reset_index())
    paths = []
    for k in range(2):
        fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
        plots.plot_curves_with_bands(per_seed[per_seed["mixture"].isin(["mix0", "mix1"])], ax)
        paths.append(plots.save_figure(fig, "bands", tmp_path / str(k), dpi=60))
        plt.close(fig)
    assert paths[0]["png"].read_bytes() == paths[1]["png"].read_bytes()
    assert paths[0]["pdf"].read_bytes() == paths[1]["pdf"].read_bytes()


# --------------------------------------------------------------------------------------------------
# Figures that must not mislead without their notebook (issue 20, "Figures").

@pytest.fixture(scope="module")
def table8():
    """Eight mixtures: mix0-3 fitted, mix4-5 held out, mix6-7 in the table but used by neither."""
    rng = np.random.default_rng(1)
    truth = random_coefficients(DOMAINS, rng)
    return synthetic_runs(truth, dirichlet_mixtures(DOMAINS, 8, rng), steps=PAPER_STEPS[::4], noise=0.003,
                          seeds=(0,), rng=rng)


@pytest.fixture(scope="module")
def fit8(table8):
    return fit_law(table8, n_starts=2, mixtures=["mix0", "mix1", "mix2", "mix3"])


def _marker_class(line):
    """(marker, filled) of a drawn point series."""
    return line.get_marker(), not (isinstance(line.get_markerfacecolor(), str) and line.get_markerfacecolor() == "none")


def test_fitted_heldout_and_not_fitted_runs_are_three_marker_classes(table8, fit8):
    # notebook 05 labelled the diverse mixtures and both optima "fitted mixture"
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    plots.plot_loss_vs_steps(table8, fit8, "code", a, heldout=["mix4", "mix5"])
    plots.plot_loss_vs_share(table8, fit8, "code", b, heldout=["mix4", "mix5"])
    for ax in (a, b):
        classes = {}
        for ln in ax.lines:
            cls = (ln.get_gid() or "").split(":")[0]
            if cls in plots.RUN_CLASSES:
                classes.setdefault(cls, set()).add(_marker_class(ln))
        assert set(classes) == set(plots.RUN_CLASSES), classes
        assert all(len(v) == 1 for v in classes.values()), "one marker class per run class"
        assert len({next(iter(v)) for v in classes.values()}) == 3, f"marker classes not distinct: {classes}"
        texts = [" ".join(t.get_text().split()) for t in ax.get_legend().get_texts()]
        assert "fitted: mix0, mix1, mix2, mix3" in texts and "held out: mix4, mix5" in texts
        assert "not fitted: mix6, mix7" in texts
        assert not any(t == "fitted mixture" for t in texts)
    points = {ln.get_gid().split(":")[1]: ln for ln in a.lines
              if (ln.get_gid() or "").split(":")[0] in plots.RUN_CLASSES}
    assert points["mix6"].get_marker() == "x" and points["mix4"].get_markerfacecolor() == "none"
    laws = {ln.get_gid().split(":")[2]: ln.get_linestyle() for ln in a.lines if (ln.get_gid() or "").startswith("law:")}
    assert laws["mix0"] == ":" and laws["mix4"] == "--" and laws["mix6"] == "-."
    plt.close(fig)


def test_run_classes_follow_the_fit():
    class Fit:
        fit_on = ("se", "ce")

    assert plots.run_classes(["se", "baseline", "div0"], Fit(), heldout=["baseline"]) == \
        {"se": "fitted", "baseline": "heldout", "div0": "notfitted"}
    assert set(plots.run_classes(["se", "div0"]).values()) == {"observed"}, "no fit, no classes"


def test_fitted_share_range_shown_where_shares_are_extrapolated(table8, fit8):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    plots.plot_loss_vs_steps(table8, fit8, "code", a, heldout=["mix4", "mix5"])
    plots.plot_loss_vs_share(table8, fit8, "code", b, heldout=["mix4", "mix5"])
    assert_clean_axes(fig)
    lo, hi = fit8.support["code"]
    rows = table8[table8["domain"] == "code"]
    assert rows["r"].min() < lo or rows["r"].max() > hi, "the fixture must extrapolate in share"
    # Figure 2: the fitted shares as a band on the share axis, named in the legend
    band = [p for p in b.patches if p.get_gid() == "support"]
    assert len(band) == 1
    xs = band[0].get_path().transformed(band[0].get_patch_transform()).vertices[:, 0]
    assert np.isclose(min(xs), lo) and np.isclose(max(xs), hi)
    assert "shares the fit saw" in [t.get_text() for t in b.get_legend().get_texts()]
    # Figure 1: the colour bar hatches the shares beyond the fitted ones
    cbar_ax = fig.axes[2]
    hatched = [p for p in cbar_ax.patches if p.get_gid() == "extrapolated"]
    assert hatched and all(p.get_hatch() for p in hatched)
    assert "beyond the fitted shares" in cbar_ax.get_ylabel()
    plt.close(fig)


def test_no_extrapolation_marks_when_the_fit_saw_every_share(table, fit):
    full = fit_law(table, n_starts=1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    plots.plot_loss_vs_steps(table, full, "code", a)
    plots.plot_loss_vs_share(table, full, "code", b)
    cbar_ax = fig.axes[2]
    assert not [p for p in cbar_ax.patches if p.get_gid() == "extrapolated"]
    assert "hatched" not in cbar_ax.get_ylabel()
    assert not [p for p in b.patches if p.get_gid() == "support"]
    assert "shares the fit saw" not in [t.get_text() for t in b.get_legend().get_texts()]
    plt.close(fig)


def test_optimum_shows_the_fitted_range_beside_its_bar():
    # optimum_mixture hid math's fitted range (0.02-0.07) behind the optimum's bar (0.18)
    domains = ["books", "math"]
    summary = pd.DataFrame({"domain": domains, "r_opt": [0.812, 0.188], "lower": [0.1, 0.02]})
    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    plots.plot_optimum(summary, ax, others={"baseline": {"books": 0.8, "math": 0.2}},
                       support={"books": (0.5, 0.9), "math": (0.022, 0.067)})
    assert_clean_axes(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    brackets = [p for p in ax.patches if p.get_gid() == "support"]
    bars = [p for c in ax.containers for p in c.patches]
    assert len(brackets) == 2 and bars
    for br in brackets:
        box = br.get_window_extent(renderer)
        assert br.get_zorder() > max(p.get_zorder() for p in bars)
        assert not any(box.x0 < p.get_window_extent(renderer).x1 and p.get_window_extent(renderer).x0 < box.x1
                       for p in bars), "the fitted range is drawn where a bar covers it"
    math = [br for br in brackets if np.isclose(br.get_y(), 0.022)][0]
    assert np.isclose(math.get_height(), 0.067 - 0.022)
    assert len([t for t in ax.texts if t.get_gid() == "extrapolated"]) == 1, "math's optimum is beyond its fitted shares"
    assert ax.get_ylim()[1] > 0.9, "the fitted ranges are in view"
    plt.close(fig)


def test_predicted_vs_measured_names_extrapolated_domains():
    pts = pd.DataFrame({"run": "opt", "mixture": "bimix_opt", "domain": ["books"] * 3 + ["math"] * 3,
                        "step": [1, 2, 3] * 2, "loss": [5, 4, 3.5, 4, 3, 2.5], "pred": [5.1, 4, 3.4, 4.2, 3.2, 2.7]})
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    plots.plot_predicted_vs_observed(pts, ax, shares={"books": 0.812, "math": 0.188},
                                     support={"books": (0.5, 0.9), "math": (0.022, 0.067)})
    labels = [" ".join(t.get_text().split()) for t in ax.get_legend().get_texts()]
    assert "books" in labels
    assert any(t.startswith("math: r = 0.188, outside the fitted 0.022–0.067") for t in labels), labels
    assert [ln.get_gid() for ln in ax.lines if (ln.get_gid() or "").startswith("extrapolated")] == ["extrapolated:math"]
    plt.close(fig)


def _per_seed(shift: dict[str, float], seeds=(0, 1, 2)):
    rng = np.random.default_rng(3)
    steps = [15, 30, 60, 120, 300]
    rows = []
    for seed in seeds:
        base = 6.5 * np.array(steps, float) ** -0.1 + rng.normal(0, 0.01, len(steps))  # seed noise, shared
        for m, d in shift.items():
            rows += [{"mixture": m, "seed": seed, "step": s, "value": v + d} for s, v in zip(steps, base)]
    return pd.DataFrame(rows)


def test_difference_panel_shows_small_differences_as_differences():
    # Figs. 5 and 8: 0.01-0.07-nat differences were invisible on a loss axis spanning 2 nats
    data = _per_seed({"baseline": 0.0, "bimix_opt": -0.03, "doremi": 0.02})
    fig = plots.plot_curves_and_differences(data, "baseline", labels={"baseline": "natural (baseline)"})
    assert_clean_axes(fig)
    top, bottom = [ax for ax in fig.axes if ax.get_ylabel()]
    assert bottom.get_yscale() == "linear" and bottom.get_ylabel() == "minus natural (baseline) (nats)"
    assert top.get_shared_x_axes().joined(top, bottom)
    diffs = {ln.get_gid(): ln for ln in bottom.lines if (ln.get_gid() or "").startswith("diff:")}
    assert set(diffs) == {"diff:bimix_opt", "diff:doremi"}
    assert np.allclose(diffs["diff:bimix_opt"].get_ydata(), -0.03)  # paired by seed: the seed noise cancels
    assert np.allclose(diffs["diff:doremi"].get_ydata(), 0.02)
    lo, hi = bottom.get_ylim()
    assert hi - lo < 0.2, "the difference axis spans the differences, not the losses"
    assert [ln for ln in bottom.lines if ln.get_gid() == "reference:baseline"]
    top_colours = {ln.get_label().split(" (")[0]: ln.get_color() for ln in top.lines if not ln.get_label().startswith("_")}
    assert matplotlib.colors.same_color(diffs["diff:bimix_opt"].get_color(), top_colours["bimix_opt"])
    plt.close(fig)
    with pytest.raises(ValueError, match="reference mixture"):
        plots.plot_differences(data, "natural", plt.subplots()[1])
    single = plots.plot_curves_and_differences(data[data["mixture"] != "baseline"], "baseline")
    assert len([ax for ax in single.axes if ax.get_ylabel()]) == 1, "no reference, no difference panel"
    plt.close("all")


DOWNSTREAM_MIXTURES = ["baseline", "bimix_opt-c66bb62e", "ce", "div0", "div1", "div2", "div3", "doremi", "je",
                       "se", "skewed", "uniform", "vne", "ye_opt-576d72d2"]


def _downstream(steps=(300,)):
    rng = np.random.default_rng(4)
    return pd.DataFrame([{"mixture": m, "step": s, "value": 0.2 + 0.003 * k + 0.001 * s / 300,
                          "stderr": 0.01 + 0.001 * rng.random()}
                         for k, m in enumerate(DOWNSTREAM_MIXTURES) for s in steps])


def test_mixture_colours_never_repeat_within_a_figure():
    colours = plots.mixture_colours(DOWNSTREAM_MIXTURES)
    assert len({matplotlib.colors.to_hex(c) for c in colours.values()}) == len(DOWNSTREAM_MIXTURES)
    many = plots.mixture_colours([f"m{i}" for i in range(60)] + ["baseline", "bimix_opt"])
    assert len({matplotlib.colors.to_hex(c) for c in many.values()}) == 62
    # a named mixture keeps its colour whatever else is drawn; runs of one mixture share it
    assert plots.mixture_colours(["baseline"])["baseline"] == colours["baseline"]
    assert plots.mixture_colours(["bimix_opt-1234abcd", "bimix_opt"])["bimix_opt-1234abcd"] == (0.0, 0.0, 0.0)


def test_mixture_labels_say_what_a_run_is():
    assert plots.mixture_label("bimix_opt-c66bb62e") == "bimix_opt (BiMix optimum)"
    assert plots.mixture_label("ye_opt-576d72d2") == "ye_opt (Ye et al. optimum)"
    assert plots.mixture_label("div3") == "div3 (diverse)" and plots.mixture_label("baseline") == "baseline (natural)"
    assert plots.mixture_label("mix4") == "mix4" and plots.mixture_base("bpe-1024") == "bpe-1024"


def test_downstream_at_one_step_is_a_dot_chart_with_unique_colours():
    # downstream_average was an "against steps" plot with one step and 14 mixtures on a 10-colour cycle
    data = _downstream()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 5), layout="constrained")
    order = list(data.sort_values("value", ascending=False)["mixture"])
    plots.plot_downstream(data, a, ylabel="accuracy", order=order, chance=0.25)
    plots.plot_downstream(data, b, ylabel="accuracy", order=order, names=False)
    assert_clean_axes(fig)
    assert a.get_xscale() == "linear" and a.get_xlabel() == "accuracy\n(step 300; bars ±1 s.e.; dotted: chance 0.25)"
    assert not a.texts, "notes outside the axis label ran into the label, the title or the data"
    drawn = {}
    for c in a.containers:  # errorbar containers: the data line carries the colour
        line = c.lines[0]
        drawn[line.get_gid()] = (matplotlib.colors.to_hex(line.get_color()), float(line.get_ydata()[0]),
                                 float(line.get_xdata()[0]))
    assert len(drawn) == len(DOWNSTREAM_MIXTURES) == len(a.containers)
    assert len({c for c, _, _ in drawn.values()}) == len(drawn), "a colour repeats within the figure"
    # best at the top (row 0), rows in the given order, names as mixture_label writes them
    assert [t.get_text() for t in a.get_yticklabels()] == [plots.mixture_label(m) for m in order]
    assert drawn[f"score:{order[0]}"][1] == 0 and a.get_ylim()[0] > a.get_ylim()[1]
    assert not any(t.get_text() for t in b.get_yticklabels()), "names only in the first column"
    chance = [ln for ln in a.lines if ln.get_gid() == "chance"]
    assert len(chance) == 1 and np.allclose(chance[0].get_xdata(), 0.25), "chance is a vertical line"
    assert a.get_legend() is None, "rows are named; no legend to match colours against"
    plt.close(fig)


def test_downstream_over_several_steps_keeps_unique_colours():
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plots.plot_downstream(_downstream(steps=(100, 200, 300)), ax)
    assert_clean_axes(fig)
    lines = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("score:")]
    assert len(lines) == len(DOWNSTREAM_MIXTURES) and ax.get_xscale() == "log"
    assert len({matplotlib.colors.to_hex(ln.get_color()) for ln in lines}) == len(lines)
    plt.close(fig)


def test_corpus_figure_labels_do_not_overlap():
    # corpus_domains: the left legend ran under the right panel's tick labels
    domains = ["books", "code", "legal", "math", "reference", "speeches"]
    stats = {name: pd.DataFrame({"tokens": np.linspace(2e6, 12e6, 6) * f, "bytes_per_token": np.linspace(2, 5, 6) / f},
                                index=domains) for name, f in (("bpe-1024", 1.0), ("gpt2", 0.7))}
    fig = plots.plot_corpus_domains(stats, title="mini-pile (cpu profile): size and compressibility per domain")
    assert_clean_axes(fig)
    renderer = fig.canvas.get_renderer()
    left, right = fig.axes
    legend = left.get_legend().get_window_extent(renderer)
    right_box = right.get_tightbbox(renderer)
    assert not legend.overlaps(right_box), "the left legend runs into the right panel"
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not title.overlaps(ax.title.get_window_extent(renderer)), "suptitle over a panel title"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["bpe-1024", "gpt2"]
    plt.close(fig)


def test_a_public_domain_keeps_its_colour_across_panels_and_many_mixtures_share_one_shape():
    # fig_public_runs_lomo: Github was grey beside Books3 and PileCC, pink beside PileCC alone; 31 held-out
    # mixtures cycled 10 shapes under a 31-entry legend that collapsed the layout
    a = plots.domain_colours(["Github", "PileCC", "Books3"])
    b = plots.domain_colours(["Github", "PileCC"])
    assert a["Github"] == b["Github"] and a["PileCC"] == b["PileCC"]
    assert len(set(a.values())) == 3
    rows = pd.DataFrame([{"run": f"m{k}", "mixture": f"m{k}", "domain": d, "step": s, "loss": 2.0 + k / 50,
                          "pred": 2.01 + k / 50} for k in range(31) for d in ("Github", "PileCC") for s in (1, 2)])
    fig, ax = plt.subplots(figsize=(5, 4))
    plots.plot_predicted_vs_observed(rows, ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 2 + 2 and "shape" not in ax.get_legend().get_title().get_text()
    plt.close(fig)
