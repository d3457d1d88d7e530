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
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["fitted mixture", "law (fit)", "held-out mixture", "law, held out"]
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


def test_bounded_score_axis_not_from_zero_and_missing_bars_labelled():
    scores = pd.DataFrame({"heldout": ["a", "a", "b", "b"], "form": ["bimix", "share"] * 2,
                           "r2_log": [0.97, 0.93, np.nan, 0.95]})
    fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
    plots.plot_heldout_scores(scores, ax, forms=["bimix", "share", "exponential"])
    assert_clean_axes(fig)
    assert ax.get_ylim()[0] > 0.8
    # b/bimix is missing, and the exponential form has no score at all
    assert len([t for t in ax.texts if t.get_gid() == "not-applicable"]) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bimix", "share", "exponential"]
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
