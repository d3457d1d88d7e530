"""`bimix fit` on irregular public-format tables: run-domains with r = 0 in the step protocol, steps
present in few runs, strict JSON, compact printing, one set of domains for the Spearman summary, and
fits that failed reported as failed (never scored)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bimix.cli import main
from bimix.law.forms import TooFewPointsError, bimix_loss, fit_law
from bimix.law.protocols import extrapolate_steps, generalise_mixtures
from bimix.data.runs import from_dml, write_runs

FIXTURES = Path(__file__).parent / "fixtures"


def _strict(path) -> dict:
    def refuse(token):
        raise ValueError(f"bare {token} in {path}")
    return json.loads(Path(path).read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def dml_csv(tmp_path_factory):
    # the fixture reproduces the published irregularities: a run with Github = 0, a `last` step,
    # tags, a run that stops early (steps 12500 and 15000 in 4 of 5 runs), a validation domain
    # (Wikipedia) no run trains on
    table, _ = from_dml([FIXTURES / "dml_Github-Books3-PileCC.txt"], ["Github", "Books3", "PileCC"])
    return write_runs(table, tmp_path_factory.mktemp("dml") / "dml.csv"), table


@pytest.mark.parametrize("form", ["bimix", "additive"])
def test_holdout_last_leaves_out_zero_share_run_domains(dml_csv, tmp_path, capsys, form):
    path, table = dml_csv
    out = tmp_path / "fit.json"
    assert main(["fit", str(path), "--form", form, "--holdout-last", "1", "--starts", "2",
                 "--json", str(out)]) == 0
    res = _strict(out)
    assert res["form"] == form and set(res["domain_order"]) == {"Github", "Books3", "PileCC"}
    assert [x["domain"] for x in res["skipped"]] == ["Wikipedia"]
    ext = res["extrapolation"]
    n_zero = int((table["r"] == 0).sum())
    assert ext["applicable"] and ext["n_excluded_zero_share"] == n_zero > 0
    assert len(ext["per_run"]) == table["run"].nunique()
    assert "left out" in capsys.readouterr().out


def test_extrapolation_reports_a_run_it_cannot_fit():
    table, _ = from_dml([FIXTURES / "dml_Github-Books3-PileCC.txt"], ["Github", "Books3", "PileCC"])
    short = table[~((table["run"] == "70M_RP_3-0.125-0.125-0.75") & (table["step"] > 5000))]
    e = extrapolate_steps(short, form="bimix", holdout_last=1, n_starts=1)
    assert e.applicable and list(e.failed["run"]) == ["70M_RP_3-0.125-0.125-0.75"] * 1
    assert "1 usable points for 3 coefficients" in e.failed["reason"].iloc[0] and "np." not in e.failed["reason"].iloc[0]


def test_share_law_skips_a_step_present_in_too_few_runs(dml_csv, tmp_path, capsys):
    path, table = dml_csv
    out = tmp_path / "share.json"
    assert main(["fit", str(path), "--form", "share", "--starts", "1", "--json", str(out)]) == 0
    res = _strict(out)
    skipped = {(x["domain"], x["group"]) for x in res["skipped"]}
    # Github at 2500: only two runs train on Github there ... each skipped (domain, step) has its reason
    assert skipped and all("usable points" in x["reason"] for x in res["skipped"])
    assert ("Wikipedia", "2500") in skipped
    assert "skipped" in capsys.readouterr().out


def _synthetic(n_mix=6, steps=(100, 200, 400, 800), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_mix):
        r = rng.dirichlet(np.ones(3))
        for s in steps:
            for i, d in enumerate(("a", "b", "c")):
                rows.append({"run": f"m{k}", "mixture": f"m{k}", "seed": 0, "step": s, "tokens": s,
                             "domain": d, "r": float(r[i]),
                             "loss": float(bimix_loss(r[i], s, 1.0, 0.1 + 0.05 * i, 20.0, 0.4, 2.5))})
    return pd.DataFrame(rows)


def test_spearman_compares_mixtures_over_the_same_domains():
    t = _synthetic()
    # domain c is absent from one held-out mixture: the summary must drop c for every mixture
    t.loc[(t["mixture"] == "m5") & (t["domain"] == "c"), "r"] = 0.0
    g = generalise_mixtures(t, ["m0", "m1", "m2"], ["m3", "m4", "m5"], form="bimix", n_starts=2)
    assert g.spearman_domains == ("a", "b")
    assert g.n_excluded_zero_share == 4


def test_exponential_law_says_when_too_few_mixtures():
    t = _synthetic(n_mix=6, steps=(100,))
    # m + 2 = 5 coefficients per step (m + 1 = 4 identified: the shares sum to 1)
    with pytest.raises(TooFewPointsError, match="5 coefficients per step but only 4 mixtures"):
        fit_law(t[t["mixture"].isin(["m0", "m1", "m2", "m3"])], form="exponential", n_starts=2)
    fit = fit_law(t[t["mixture"] != "m5"], form="exponential", n_starts=2)
    assert not [u.failure for u in fit.units.values() if u.failure]  # 5 points, 4 identified
    g = generalise_mixtures(t, [f"m{k}" for k in range(5)], ["m5"], form="exponential", n_starts=2)
    assert g.applicable and g.n_failed == 0


def test_failed_units_are_flagged_and_json_is_strict(tmp_path, capsys):
    t = _synthetic(n_mix=5, steps=(100,))
    t = t[t["domain"] != "c"]  # two listed domains: their shares no longer sum to 1 ...
    path = write_runs(t, tmp_path / "t.csv")
    out = tmp_path / "e.json"
    # ... so all m + 2 = 4 coefficients are identified, and 4 mixtures leave no residual freedom
    assert main(["fit", str(path), "--form", "exponential", "--fit-on", "m0,m1,m2,m3", "--predict", "m4",
                 "--starts", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    res = _strict(out)
    assert res["failed"] and all("interpolates" in x["reason"] for x in res["failed"])
    assert "FAILED fits" in text
    assert "held-out mixtures: not applicable" in text and "nothing to score" in text


def test_exponential_law_mixes_only_domains_some_run_trains_on():
    t = _synthetic(n_mix=7, steps=(100,))
    # a validation domain no run trains on (r = 0 everywhere) adds no unidentifiable t
    extra = t[t["domain"] == "a"].assign(domain="val_only", r=0.0)
    fit = fit_law(pd.concat([t, extra], ignore_index=True), form="exponential", n_starts=2)
    assert fit.t_domains == ("a", "b", "c") and "val_only" in fit.domains
    assert set(fit.params("val_only", 100)) == {"c", "k", "t[a]", "t[b]", "t[c]"}
    assert fit.n_params == 5 * 4 and not [u.failure for u in fit.units.values() if u.failure]


def test_lomo_marks_predictions_outside_the_fitted_shares():
    from bimix.law.protocols import lomo_points

    t = _synthetic(n_mix=5, steps=(100, 200, 400, 800))
    # give m4 a share of "a" below every other run's, and rescale its other shares to keep Σ = 1
    m4 = t["mixture"] == "m4"
    r_min = t.loc[~m4 & (t["domain"] == "a"), "r"].min()
    old = t.loc[m4 & (t["domain"] == "a"), "r"].iloc[0]
    t.loc[m4 & (t["domain"] == "a"), "r"] = r_min / 2
    t.loc[m4 & (t["domain"] != "a"), "r"] *= (1 - r_min / 2) / (1 - old)
    pts, _ = lomo_points(t, form="bimix", n_starts=1)
    flagged = pts[pts["outside_support"]]
    assert set(zip(flagged["heldout"], flagged["domain"])) >= {("m4", "a")}
    held = pts[(pts["heldout"] == "m4") & (pts["domain"] == "a")]
    assert held["outside_support"].all()
    # a flag per row, not per table: rows inside every fitted range stay unflagged
    assert 0 < pts["outside_support"].mean() < 1
