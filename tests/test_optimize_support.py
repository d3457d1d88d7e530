"""The optimiser and the shares the law was fitted on: kept within them by the CLI's default (and
on request in the library), a warning whenever the answer sits at a bound or leaves them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bimix.cli import main
from bimix.law import LawFit, fit_law
from bimix.optimize import OptimizeError, optimize_mixture
from bimix.runs import write_runs
from bimix.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs


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


def test_within_support_keeps_every_share_inside_and_says_where_it_stops(fitted):
    _, fit, _ = fitted
    free = optimize_mixture(fit, 100_000)
    kept = optimize_mixture(fit, 100_000, within_support=True)
    lo = np.array([fit.support[d][0] for d in fit.domains])
    hi = np.array([fit.support[d][1] for d in fit.domains])
    outside = (free.r < lo - 1e-12) | (free.r > hi + 1e-12)
    assert outside.any(), "the fixture's free optimum should leave the fitted shares"
    assert sum("outside the shares the law was fitted on" in w for w in free.warnings) == outside.sum()
    assert np.all(kept.r >= lo - 1e-12) and np.all(kept.r <= hi + 1e-12) and kept.r.sum() == pytest.approx(1)
    assert any("end of the fitted support" in w for w in kept.warnings)
    assert kept.objective >= free.objective - 1e-12  # a constraint can only cost
    with pytest.raises(OptimizeError, match="no mixture lies within both the given bounds and the shares"):
        optimize_mixture(fit, 100_000, within_support=True, upper={fit.domains[0]: lo[0] / 2})


def test_cli_defaults_to_the_support_and_refuses_a_negative_delta(fitted, tmp_path, capsys):
    _, fit, path = fitted
    fit_json = tmp_path / "fit.json"
    assert main(["fit", str(path), "--starts", "2", "--json", str(fit_json)]) == 0
    out = tmp_path / "opt.json"
    assert main(["optimize", str(fit_json), "--step", "100000", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
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
    with pytest.raises(SystemExit, match="error: --delta must be > 0"):
        main(["optimize", str(fit_json), "--step", "100000", "--delta", "-0.01"])
