"""The optimiser and the shares the law was fitted on: kept within them by default (library and CLI),
left only on request (``within_support=False``, ``--outside-support``), and a warning, with its own
category, whenever the answer sits at a bound or leaves them."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bimix.cli import main
from bimix.law.forms import LawFit, fit_law
from bimix.law.forms import bootstrap
from bimix.law.optimize import (AtBoundWarning, OptimizeError, OptimumWarning, OutsideSupportWarning,
                                UnknownSupportWarning, optimize_mixture, optimum_interval)
from bimix.data.runs import write_runs
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    rng = np.random.default_rng(11)
    doms = ["web", "code", "books"]
    table = synthetic_runs(random_coefficients(doms, rng), dirichlet_mixtures(doms, 5, rng), rng=rng)
    folder = tmp_path_factory.mktemp("opt")
    return table, fit_law(table), write_runs(table, folder / "runs.csv")


def test_fit_records_its_support(fitted):
    table, fit, _ = fitted
    for d in fit.domains:
        r = table.loc[table["domain"] == d, "r"]
        assert fit.support[d] == (r.min(), r.max())
    assert LawFit.from_json(json.loads(json.dumps(fit.to_json()))).support == fit.support


def _quiet(fit, **kwargs):
    """An optimum computed for comparison, its warnings (tested elsewhere) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimumWarning)
        return optimize_mixture(fit, 100_000, **kwargs)


def _support(fit):
    return (np.array([fit.support[d][0] for d in fit.domains]),
            np.array([fit.support[d][1] for d in fit.domains]))


def test_the_default_keeps_every_share_inside_and_warns_where_it_stops(fitted):
    _, fit, _ = fitted
    lo, hi = _support(fit)
    with pytest.warns(AtBoundWarning, match="end of the fitted support") as caught:
        kept = optimize_mixture(fit, 100_000)
    assert kept.within_support and not any(w.category is OutsideSupportWarning for w in caught)
    assert np.all(kept.r >= lo - 1e-12) and np.all(kept.r <= hi + 1e-12) and kept.r.sum() == pytest.approx(1)
    assert [str(w.message) for w in caught] == kept.warnings  # the same words, in the result and as warnings
    assert kept.to_json()["within_support"] is True
    with pytest.raises(OptimizeError, match="no mixture lies within both the given bounds and the shares"):
        optimize_mixture(fit, 100_000, upper={fit.domains[0]: lo[0] / 2})


def test_within_support_false_leaves_it_and_says_so(fitted):
    _, fit, _ = fitted
    lo, hi = _support(fit)
    with pytest.warns(OutsideSupportWarning, match="outside the shares the law was fitted on"):
        free = optimize_mixture(fit, 100_000, within_support=False)
    outside = (free.r < lo - 1e-12) | (free.r > hi + 1e-12)
    assert outside.any(), "the fixture's free optimum should leave the fitted shares"
    assert sum("outside the shares the law was fitted on" in w for w in free.warnings) == outside.sum()
    assert free.objective <= _quiet(fit).objective + 1e-12  # a constraint can only cost


def test_a_given_bound_that_holds_a_share_warns(fitted):
    _, fit, _ = fitted
    free = _quiet(fit, within_support=False)
    cap = {fit.domains[0]: free.r[0] / 2}
    with pytest.warns(OptimumWarning) as caught:
        capped = optimize_mixture(fit, 100_000, upper=cap, within_support=False)
    bound = [str(w.message) for w in caught if w.category is AtBoundWarning]
    assert len(bound) == 1 and bound[0].startswith(f"{fit.domains[0]}: r = ") and "upper end of its bound" in bound[0]
    assert capped.table()["at_bound"].iloc[0] == "upper"


def test_an_interior_optimum_within_the_support_is_silent(fitted):
    _, fit, _ = fitted
    free = _quiet(fit, within_support=False)
    # a support widened around the free optimum: nothing is at a bound, nothing outside
    wide = LawFit.from_json({**fit.to_json(), "support": {d: [max(0.0, x - 0.05), min(1.0, x + 0.05)]
                                                          for d, x in zip(fit.domains, free.r)}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimumWarning)
        opt = optimize_mixture(wide, 100_000)
    np.testing.assert_allclose(opt.r, free.r, atol=1e-12)
    assert opt.warnings == []


def test_a_fit_without_a_recorded_support_says_it_cannot_keep_it(fitted):
    _, fit, _ = fitted
    old = LawFit.from_json({k: v for k, v in fit.to_json().items() if k != "support"})
    with pytest.warns(UnknownSupportWarning, match="does not record the shares it was fitted on"):
        opt = optimize_mixture(old, 100_000)
    np.testing.assert_allclose(opt.r, _quiet(fit, within_support=False).r, atol=1e-12)


def test_optimum_interval_warns_for_the_base_fit_only(fitted):
    table, fit, _ = fitted
    boot = bootstrap(table, fit, n_boot=4, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interval = optimum_interval(boot, 100_000)
    base = _quiet(fit)
    assert [str(w.message) for w in caught if issubclass(w.category, OptimumWarning)] == base.warnings
    lo, hi = _support(fit)
    assert np.all(interval["lo"].to_numpy() >= lo - 1e-12) and np.all(interval["hi"].to_numpy() <= hi + 1e-12)


def test_cli_defaults_to_the_support_and_refuses_a_negative_delta(fitted, tmp_path, capsys):
    _, fit, path = fitted
    fit_json = tmp_path / "fit.json"
    assert main(["fit", str(path), "--starts", "2", "--json", str(fit_json)]) == 0
    out = tmp_path / "opt.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimumWarning)  # the CLI prints them as lines, once
        assert main(["optimize", str(fit_json), "--step", "100000", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["within_support"] is True and res["warnings"]
    for d, r in res["r"].items():
        lo, hi = res["support"][d]
        assert lo - 1e-12 <= r <= hi + 1e-12
    text = capsys.readouterr().out
    assert "warning:" in text and "--outside-support" in text
    assert main(["optimize", str(fit_json), "--step", "100000", "--outside-support", "--json", str(out)]) == 0
    assert any("outside the shares" in w for w in json.loads(out.read_text())["warnings"])
    steps = fit.steps
    assert main(["optimize", str(fit_json), "--step", str(10 * max(steps))]) == 0
    assert "far outside the fitted steps" in capsys.readouterr().out
    assert main(["optimize", str(fit_json), "--step", "100000", "--delta", "-0.01"]) == 2
    assert "error: --delta must be > 0" in capsys.readouterr().err
