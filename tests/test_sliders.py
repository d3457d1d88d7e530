"""The sliders of notebooks 00, 02, 03 and 06 (bimix.compendium.sliders): each view at its defaults gives
the numbers its notebook reports from the committed tables, moves the way its equation says, and its
widget builds and redraws with no frontend attached."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bimix.compendium import sliders
from bimix.data.runs import read_runs, read_sidecars
from bimix.paths import RUNS_DIR
from bimix.train.regime import ETA_STUDY, REGIME_RUNS

CPU = RUNS_DIR / "cpu"


@pytest.fixture(scope="module")
def cpu_runs() -> pd.DataFrame:
    return read_runs(CPU / "runs.csv")


@pytest.fixture(scope="module")
def doremi_trajectory() -> pd.DataFrame:
    return pd.read_csv(CPU / "doremi_proxy" / "doremi_trajectory.csv")


def shares_of(runs: pd.DataFrame, mixture: str) -> dict[str, float]:
    rows = runs[(runs["mixture"] == mixture) & (runs["seed"] == 0)]
    return rows.groupby("domain")["r"].first().to_dict()


# ---------------------------------------------------------------------------------------------- 00

def test_clip_to_range_projects_onto_the_bounded_simplex():
    inside = np.array([0.2, 0.3, 0.5])
    assert sliders.clip_to_range(inside, 0.0, 1.0) is inside  # nothing to move: the very same shares
    r = sliders.clip_to_range([0.01, 0.09, 0.9], 0.2, 0.5)
    assert math.isclose(r.sum(), 1, abs_tol=1e-12) and r.min() >= 0.2 - 1e-12 and r.max() <= 0.5 + 1e-12
    np.testing.assert_allclose(r, [0.21, 0.29, 0.5], atol=1e-9)  # one shift t = -0.2, the largest share capped
    with pytest.raises(ValueError, match="1/3"):
        sliders.clip_to_range(inside, 0.4, 0.6)


def test_synthetic_view_at_its_defaults_is_notebook_00s_fit_and_loses_alpha_as_the_range_closes():
    from bimix.law.forms import fit_law
    from bimix.law.synthetic import PAPER_STEPS, dirichlet_mixtures, random_coefficients, synthetic_runs

    rng = np.random.default_rng(3)  # notebook 00's construction, in its order
    domains = [f"domain{i}" for i in range(2)]
    truth = random_coefficients(domains, rng)
    table = synthetic_runs(truth, dirichlet_mixtures(domains, 6, rng), steps=PAPER_STEPS, noise=0.003, rng=rng)
    fit = fit_law(table, method="trf", n_starts=8)
    view = sliders.synthetic_fit_view(0.003, (0.0, 1.0), seed=3, n_domains=2)
    np.testing.assert_allclose(view.table["alpha_fit"], [fit.params(d)["alpha"] for d in domains], rtol=1e-12)
    np.testing.assert_allclose(view.table["alpha_true"], truth["alpha"])
    narrow = sliders.synthetic_fit_view(0.003, (0.45, 0.55), seed=3, n_domains=2)
    assert narrow.table["r_min"].min() >= 0.45 - 1e-9 and narrow.table["r_max"].max() <= 0.55 + 1e-9
    error = {name: v.table["alpha_rel_err"].abs().max() for name, v in (("full", view), ("narrow", narrow))}
    assert error["narrow"] > 2 * error["full"]  # a slope over a shorter stretch of log r
    noisy = sliders.synthetic_fit_view(0.03, (0.45, 0.55), seed=3, n_domains=2)
    assert noisy.table["alpha_rel_err"].abs().max() > 3 * error["narrow"]  # the same draws, ten times the noise
    assert "Noise 0.3%" in view.text and view.figure is not None


# ---------------------------------------------------------------------------------------------- 02

def test_temperature_view_at_tau_1_is_the_committed_mixture_and_a_base_acts_as_a_temperature(cpu_runs):
    ce = shares_of(cpu_runs, "ce")  # the CE mixture notebook 02 wrote and the sweep trained
    # Eq. 13 sees only differences of entropies, so log r is the CE entropy up to a constant
    entropies = pd.DataFrame({"ce": {d: math.log(r) + 4.0 for d, r in ce.items()}})
    natural = shares_of(cpu_runs, "baseline")
    nats = sliders.temperature_view(entropies, 1.0, natural)
    np.testing.assert_allclose(nats.table["ce"], pd.Series(ce)[nats.table.index], rtol=1e-9)
    ratio = {tau: sliders.temperature_view(entropies, tau, natural).table.pipe(lambda t: t.max() / t.min())
             for tau in (math.log(2), 1.0, math.log(10))}
    assert ratio[math.log(2)]["ce"] == pytest.approx(ratio[1.0]["ce"] ** (1 / math.log(2)), rel=1e-9)  # bits: sharper
    assert 1 < ratio[math.log(10)]["ce"] < ratio[1.0]["ce"]  # base 10: flatter
    assert ratio[math.log(2)]["natural"] == pytest.approx(ratio[1.0]["natural"])  # no τ moves the natural mixture


# ---------------------------------------------------------------------------------------------- 03

def test_replay_at_the_runs_own_eta_gives_back_its_weights_and_its_mixture(doremi_trajectory):
    weights = doremi_trajectory.pivot(index="step", columns="domain", values="weight")
    excess = doremi_trajectory.pivot(index="step", columns="domain", values="excess")[weights.columns]
    replayed = sliders.replay_weights(excess, 1.0, 1e-3)
    assert (replayed - weights).abs().to_numpy().max() < 1e-9
    (sidecar,) = read_sidecars(CPU / "doremi_proxy" / "runs.csv").values()
    view = sliders.doremi_replay_view(doremi_trajectory, 1.0)
    np.testing.assert_allclose(view.table.iloc[:, 0], pd.Series(sidecar["doremi_weights"])[view.table.index],
                               atol=1e-12)


def test_replay_moves_with_eta_as_the_update_says_beside_the_trained_eta_study(doremi_trajectory):
    excess = doremi_trajectory.pivot(index="step", columns="domain", values="excess")
    m, eps = excess.shape[1], 1e-3
    assert (sliders.replay_weights(excess, 0.0, eps) == 1 / m).all().all()  # η = 0: the weights never move
    first = np.exp(0.3 * excess.iloc[0]) / np.exp(0.3 * excess.iloc[0]).sum()  # step 1 from uniform, η = 0.3
    np.testing.assert_allclose(sliders.replay_weights(excess, 0.3, eps).iloc[0], (1 - eps) * first + eps / m, rtol=1e-12)
    study = sliders.eta_study(REGIME_RUNS / ETA_STUDY / "doremi_proxy", doremi_trajectory, 1.0)
    assert set(study) == {0.1, 0.3, 1.0, 3.0}
    at_one = sliders.doremi_replay_view(doremi_trajectory, 1.0, trained=study).table
    np.testing.assert_allclose(at_one.iloc[:, 0], at_one.iloc[:, 1], atol=1e-12)  # the same proxy
    slow = sliders.doremi_replay_view(doremi_trajectory, 0.3, trained=study)
    assert list(slow.table.columns) == ["replay η=0.3", "trained η=0.3"] and "trained at η = 0.3" in slow.text
    assert "No proxy was trained" in sliders.doremi_replay_view(doremi_trajectory, 0.5, trained=study).text
    # another run's excess losses: the study trained something else, and is not offered
    other = doremi_trajectory.assign(excess=doremi_trajectory["excess"] * 1.01)
    assert sliders.eta_study(REGIME_RUNS / ETA_STUDY / "doremi_proxy", other, 1.0) == {}


# ---------------------------------------------------------------------------------------------- 06

@pytest.fixture(scope="module")
def entropy_fit(cpu_runs):
    from bimix.law.forms import fit_law

    rows = cpu_runs[cpu_runs["mixture"].isin(["se", "ce", "je", "vne"])]
    return fit_law(rows, method="trf", n_starts=8, mixtures=["se", "ce", "je", "vne"]), rows


def test_optimum_view_at_the_defaults_is_the_trained_bimix_opt_and_bounds_move_it(cpu_runs, entropy_fit):
    fit, rows = entropy_fit
    lower = rows.groupby("domain")["r"].min().to_dict()
    final = int(rows["step"].max())
    natural = shares_of(cpu_runs, "baseline")
    view = sliders.optimum_view(fit, final, lower=lower, natural=natural)
    trained = next(m for m in cpu_runs["mixture"].unique() if m.startswith("bimix_opt"))
    np.testing.assert_allclose(view.table["r"], pd.Series(shares_of(cpu_runs, trained))[view.table.index], atol=1e-6)
    assert view.table["loss"].mean() < view.table["loss_natural"].mean()  # the optimum of the law beats natural there
    free = sliders.optimum_view(fit, final, natural=natural)  # no lower bounds: the bounded shares fall below them
    bounded = view.table.index[view.table["at_bound"] == "lower"]
    assert len(bounded) and (free.table.loc[bounded, "r"] < view.table.loc[bounded, "r"]).all()
    assert free.table["loss"].sum() <= view.table["loss"].sum() + 1e-12  # a bound can only cost
    inside = sliders.optimum_view(fit, final, lower=lower, within_support=True)
    assert (inside.table["r"] <= inside.table["fitted_max"] + 1e-12).all()
    early = sliders.optimum_view(fit, int(rows["step"].min()), lower=lower)
    assert not np.allclose(early.table["r"], view.table["r"])  # K_i moves with the target step


def test_optimum_sliders_cap_from_the_natural_epochs_up_and_the_tightest_cap_forces_the_natural_mixture(
        cpu_runs, entropy_fit):
    fit, rows = entropy_fit
    natural = shares_of(cpu_runs, "baseline")
    budget = 1_000_000
    tokens = {d: 20 * budget * r for d, r in natural.items()}  # a run reads 1/20 of every domain at the natural mixture
    moved = sliders.optimum_sliders(fit, int(rows["step"].max()), steps=sorted(rows["step"].unique()),
                                    fitted_lower=rows.groupby("domain")["r"].min().to_dict(), train_tokens=tokens,
                                    budget_tokens=budget, epochs_max=4.0, natural=natural)
    caps = [value for _, value in moved.controls["epochs"].options]
    assert caps[0] == pytest.approx(0.05) and caps[-1] == 4.0 and moved.controls["epochs"].value == 4.0
    moved.controls["lower"].value = False
    moved.controls["epochs"].value = caps[0]  # every share at most its natural share: only the natural mixture fits
    np.testing.assert_allclose(moved.current.table["r"], pd.Series(natural)[moved.current.table.index], atol=1e-9)
    moved.controls["lower"].value = True  # the smallest fitted shares exceed some natural ones: no mixture at all
    assert moved.current.text.startswith("OptimizeError")


# ---------------------------------------------------------------------------------------- widgets

def test_sliders_build_without_a_frontend_show_the_defaults_statically_and_redraw_when_moved():
    entropies = pd.DataFrame({"se": {"a": 5.0, "b": 6.0, "c": 6.5}, "ce": {"a": 3.0, "b": 3.5, "c": 4.5}})
    moved = sliders.temperature_sliders(entropies)
    bundle = moved._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live in JupyterLab
    assert "data:image/png;base64," in bundle["text/html"] and sliders.STATIC_NOTE in bundle["text/html"]  # static
    first = moved.out.outputs[0]["data"]["text/html"]
    moved.controls["tau"].value = math.log(2)
    assert moved.current.table.loc["c", "ce"] > moved.default.table.loc["c", "ce"]  # bits sharpen the mixture
    assert moved.out.outputs[0]["data"]["text/html"] != first
    assert moved._repr_mimebundle_()["text/html"] == bundle["text/html"]  # the static copy stays at the defaults


def test_a_position_the_view_refuses_shows_the_reason():
    import ipywidgets

    def view(share):
        return sliders.View(pd.DataFrame({"r": [share]}), None, "ok") if share <= 0.5 else \
            sliders.clip_to_range([0.5, 0.5], share, 1.0)

    moved = sliders.Sliders(view, {"share": ipywidgets.FloatSlider(value=0.1, min=0, max=1, description="share")})
    moved.controls["share"].value = 0.9
    assert "ValueError" in moved.current.text and "1/2" in moved.out.outputs[0]["data"]["text/plain"]


def test_optimum_sliders_from_the_fitted_rows_and_epoch_caps_as_notebook_06_calls_them(cpu_runs, entropy_fit):
    # notebook 06 passes its fitted rows and EpochCaps: the same controls and defaults as spelled out
    from bimix.law.optimum import EpochCaps

    fit, rows = entropy_fit
    final = int(rows["step"].max())
    tokens = {d: 2e6 for d in rows["domain"].unique()}
    caps = EpochCaps(1_000_000, tokens, 1_000_000 / sum(tokens.values()), 4.0, {}, "")
    a = sliders.optimum_sliders(fit, final, rows=rows, caps=caps)
    b = sliders.optimum_sliders(fit, final, steps=sorted(rows["step"].unique()),
                                fitted_lower=rows.groupby("domain")["r"].min().to_dict(), train_tokens=tokens,
                                budget_tokens=1_000_000, epochs_max=4.0)
    assert [o for o in a.controls["epochs"].options] == [o for o in b.controls["epochs"].options]
    assert a.controls["step"].options == b.controls["step"].options
    pd.testing.assert_frame_equal(a.default.table, b.default.table)
