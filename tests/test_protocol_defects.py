"""Defects of the law's protocols: a failed unit of a grouped form, runs too short to hold steps out,
tables with nothing to fit. Each used to abort a whole table or raise a bare IndexError."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bimix.cli import main
from bimix.data.runs import write_runs
from bimix.law.forms import LawError, fit_law
from bimix.law.protocols import extrapolate_steps
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs

STEPS = tuple(range(1_000, 10_001, 1_000))


def _coefficients(doms, seed=3):
    return random_coefficients(doms, np.random.default_rng(seed))


def test_a_failed_steps_unit_is_skipped_not_fatal():
    coef = _coefficients(["a", "b"], seed=0)
    mixes = {"m0": {"a": 0.5, "b": 0.5}, "m1": {"a": 0.3, "b": 0.7}}
    t = synthetic_runs(coef, mixes, steps=tuple(range(1000, 9001, 1000)), noise=0.001)
    sel = (t["mixture"] == "m1") & (t["domain"] == "b")
    # a drop no power law in steps can follow: the steps fit of (b, m1) runs its B to the bound
    t.loc[sel, "loss"] = np.where(t.loc[sel, "step"] == 1000, 50.0, 2.0)
    e = extrapolate_steps(t, form="steps", n_starts=2)
    assert e.applicable and len(e.failed) == 1
    assert "domain 'b', mixture 'm1'" in e.failed["reason"].iloc[0]
    scored = set(zip(e.errors["run"], e.errors["domain"]))
    assert scored == {("m0-s0", "a"), ("m0-s0", "b"), ("m1-s0", "a")}


def test_tables_with_nothing_to_fit_raise_law_error():
    t = synthetic_runs(_coefficients(["a", "b"]), {"m": {"a": 0.5, "b": 0.5}}, steps=(100, 200, 300))
    for form in ("bimix", "steps", "share", "additive"):
        with pytest.raises(LawError, match="no rows"):
            fit_law(t.iloc[:0], form=form, n_starts=1)
    e = extrapolate_steps(t, holdout_last=3)
    assert not e.applicable and e.runs_too_short == ("m-s0",) and "at most 3 evaluated steps" in e.reason


def test_fit_cli_skips_runs_too_short_for_the_holdout(tmp_path, capsys):
    doms = ["web", "code", "books"]
    mixes = dirichlet_mixtures(doms, 4, np.random.default_rng(4))
    t = synthetic_runs(_coefficients(doms), mixes, steps=STEPS, rng=np.random.default_rng(5))
    t = t[(t["mixture"] != "mix1") | (t["step"] <= 2_000)]  # a run that stopped after two evaluations
    runs, out = write_runs(t, tmp_path / "runs.csv"), tmp_path / "fit.json"
    assert main(["fit", str(runs), "--holdout-last", "2", "--starts", "2", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "skips 1 run(s) with at most 2 evaluated steps" in captured.err and "mix1-s0" in captured.err
    ext = json.loads(out.read_text())["extrapolation"]
    assert ext["n_runs_too_short"] == 1 and ext["runs_too_short"] == ["mix1-s0"]
    assert ext["applicable"] and {r["run"] for r in ext["per_run"]} == {"mix0-s0", "mix2-s0", "mix3-s0"}
    # every run too short is still a one-line error
    assert main(["fit", str(runs), "--holdout-last", str(len(STEPS)), "--starts", "1"]) == 2
    assert "leaves nothing to fit on" in capsys.readouterr().err
