"""The RegMix law benchmark: models fitted on the train split only, scored per validation domain; on
tables in RegMix's format written from a known law (tests/public_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bimix.law.benchmark import LIGHTGBM, Split, fit_models, load_regmix, predict, run_regmix_benchmark
from bimix.law.forms import LawError
from public_fixtures import regmix_fixture_files


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regmix")
    for name, blob in regmix_fixture_files().items():
        (folder / name).write_bytes(blob)
    return load_regmix(folder, splits=("train_1m", "test_1m", "test_60m"))


def test_regmix_settings_are_regmix_s():
    assert LIGHTGBM["n_estimators"] == 1000 and LIGHTGBM["learning_rate"] == 0.01


def test_splits_are_wide_and_renormalised(splits):
    tr, te = splits["train_1m"], splits["test_1m"]
    assert tr.X.shape == (240, 17) and tr.Y.shape == (240, 13) and te.X.shape == (96, 17)
    assert np.allclose(tr.X.sum(axis=1), 1, atol=1e-12)
    assert set(tr.Y.columns) < set(tr.X.columns)


def test_no_test_loss_reaches_a_model(splits):
    """Leakage check: permuting the test split's losses must change the scores and nothing else. A
    model fitted on anything but the train split would predict differently."""
    rng = np.random.default_rng(0)
    te = splits["test_1m"]
    shuffled = Split(te.name, te.X, te.Y.apply(lambda c: rng.permutation(c.to_numpy())).set_axis(te.Y.index))
    kw = dict(evaluate=("test_1m",), n_starts=1, lightgbm_iterations=30)
    a = run_regmix_benchmark({"train_1m": splits["train_1m"], "test_1m": te}, **kw)
    b = run_regmix_benchmark({"train_1m": splits["train_1m"], "test_1m": shuffled}, **kw)
    for model in ("share", "exponential", "lightgbm"):
        pa, pb = a.predictions[(model, "test_1m")], b.predictions[(model, "test_1m")]
        assert np.array_equal(pa.to_numpy(), pb.to_numpy(), equal_nan=True)
    sa = a.scores.groupby("model")["spearman"].mean()
    sb = b.scores.groupby("model")["spearman"].mean()
    assert (sa > 0.8).all() and (sb.abs() < 0.3).all()
    # and the train split cannot be scored as if it were held out
    with pytest.raises(Exception, match="cannot also be evaluated"):
        run_regmix_benchmark(splits, evaluate=("train_1m",), **{k: v for k, v in kw.items() if k != "evaluate"})


def test_share_law_leaves_out_zero_share_runs_and_says_so(splits):
    share = fit_models(splits["train_1m"], ["share"], n_starts=1)["share"]
    pred = predict(share, splits["test_1m"])
    zero = (splits["test_1m"].X[pred.columns] == 0).to_numpy()
    assert np.isnan(pred.to_numpy()[zero]).all() and np.isfinite(pred.to_numpy()[~zero]).all()
    assert "r = 0" in share.notes[0]


def test_too_few_train_runs_is_reported_per_domain_in_words(splits):
    tr = splits["train_1m"]
    few = Split("few", tr.X.iloc[:12], tr.Y.iloc[:12])
    exp = fit_models(few, ["exponential"], n_starts=1)["exponential"]
    assert not exp.predictors and set(exp.failures) == set(tr.Y.columns)
    why = next(iter(exp.failures.values()))
    assert "19 coefficients per step but only 12 mixtures" in why and "np." not in why


def test_a_split_whose_files_were_not_fetched_is_named(tmp_path):
    with pytest.raises(LawError, match="RegMix split test_1B: test_mixture_1B.csv, test_pile_loss_1B.csv not available"):
        load_regmix({}, splits=("test_1B",))
