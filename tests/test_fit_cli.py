"""`python -m bimix fit`: every option is checked before the fit, unfinished runs are not fitted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bimix.cli import main
from bimix.files import write_json
from bimix.data.runs import write_runs
from bimix.law.synthetic import random_coefficients, synthetic_runs

MIXTURES = {"baseline": {"code": 0.5, "books": 0.5}, "m1": {"code": 0.2, "books": 0.8},
            "m2": {"code": 0.7, "books": 0.3}, "m3": {"code": 0.35, "books": 0.65}}


@pytest.fixture
def table_path(tmp_path):
    rng = np.random.default_rng(1)
    coef = random_coefficients(["code", "books"], rng)
    return write_runs(synthetic_runs(coef, MIXTURES, steps=(100, 200, 300, 400, 500), rng=rng),
                      tmp_path / "runs.csv")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_unknown_predict_name_is_refused_before_fitting_and_aliases_resolve(table_path, tmp_path, capsys):
    assert main(["fit", str(table_path), "--predict", "m1,nosuch", "--starts", "1"]) == 2
    err = _one_error_line(capsys)
    assert "--predict: no mixture nosuch" in err and "baseline, m1, m2, m3" in err
    # the README's example names the paper's Baseline `natural`; the sweep writes it as `baseline`
    out = tmp_path / "fit.json"
    assert main(["fit", str(table_path), "--predict", "natural", "--starts", "1", "--json", str(out)]) == 0
    assert list(json.loads(out.read_text())["heldout"]) == ["baseline"]


def test_header_only_table_and_too_long_holdout_are_one_line_errors(table_path, tmp_path, capsys):
    header = tmp_path / "empty.csv"
    header.write_text(table_path.read_text().splitlines()[0] + "\n", encoding="utf-8")
    assert main(["fit", str(header)]) == 2
    assert "header but no rows" in _one_error_line(capsys)
    assert main(["fit", str(table_path), "--holdout-last", "5"]) == 2
    assert "--holdout-last 5 leaves nothing to fit on" in _one_error_line(capsys)


def test_unfinished_runs_are_excluded_with_a_note(table_path, capsys):
    weights = MIXTURES["m3"]
    write_json(table_path.parent / "sidecars" / "m3-s0.json",
               {"run": "m3-s0", "weights": weights, "status": "partial", "step": 300})
    write_json(table_path.parent / "sidecars" / "m1-s0.json",
               {"run": "m1-s0", "weights": MIXTURES["m1"], "status": "complete", "step": 500})
    assert main(["fit", str(table_path), "--starts", "1"]) == 0
    captured = capsys.readouterr()
    assert "excluding 1 unfinished run(s)" in captured.err and "m3-s0 (partial)" in captured.err
    assert "on 3 mixtures: baseline, m1, m2" in captured.out


def test_messages_show_plain_numbers(table_path, capsys):
    # one step left per run: the law's own message names the rows, which numpy >= 2 wrote as np.int64(0)
    # the step protocol now reports the runs it could not fit instead of aborting the whole table
    assert main(["fit", str(table_path), "--holdout-last", "4", "--starts", "1"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "usable points" in text and "rows [0]" in text and "np." not in text


@pytest.mark.parametrize("content", [{"law": "bimix"}, [1, 2], {"form": "bimix", "method": "trf",
                                                                 "domain_order": ["code"], "domains": {}}])
def test_optimize_refuses_a_file_that_is_not_a_fit_in_one_line(tmp_path, capsys, content):
    # a malformed fit JSON ended in a KeyError or TypeError traceback, exit 1
    fit = write_json(tmp_path / "fit.json", content)
    out = tmp_path / "optimum.json"
    assert main(["optimize", str(fit), "--step", "500", "--json", str(out)]) == 2
    assert f"{fit} is not a fit written by `python -m bimix fit --json`" in _one_error_line(capsys)
    assert not out.exists()
    assert main(["optimize", str(fit), "--step", "500", "--delta", "0"]) == 2  # was SystemExit, exit 1
    assert "--delta must be > 0" in _one_error_line(capsys)
