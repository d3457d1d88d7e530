"""The entropy rationale (bimix.law.entropy_exponents, notebook 10): entropies from softmax shares,
exponents from BiMix fits, the within-set correlation with a domain-resampling interval, the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bimix.compendium import reproduce
from bimix.data.public_runs import write_sources
from bimix.files import read_json
from bimix.law import entropy_exponents as ee
from bimix.law.synthetic import dirichlet_mixtures, random_coefficients, synthetic_runs
from public_fixtures import fixture_mirror


def test_log_shares_recover_softmax_entropies_up_to_a_constant():
    h = {"a": 4.1, "b": 5.0, "c": 6.3}
    z = sum(np.exp(v) for v in h.values())
    got = ee.log_shares({d: np.exp(v) / z for d, v in h.items()})
    assert {d: got[d] - got["a"] for d in h} == pytest.approx({d: h[d] - h["a"] for d in h})
    with pytest.raises(ValueError, match="'b' has share 0"):
        ee.log_shares({"a": 1.0, "b": 0.0})


def test_fitted_exponents_recover_the_law_and_list_what_they_leave_out():
    rng = np.random.default_rng(3)
    domains = [f"d{i}" for i in range(4)]
    coef = random_coefficients(domains, rng)
    table = synthetic_runs(coef, dirichlet_mixtures(domains, 6, rng), noise=0.0, rng=rng)
    exps, gone = ee.fitted_exponents(table, "s0")
    assert gone == [] and list(exps["domain"]) == domains
    assert exps.set_index("domain")["alpha"].to_numpy() == pytest.approx(coef.loc[domains, "alpha"].to_numpy(), abs=1e-3)
    assert exps.set_index("domain")["beta"].to_numpy() == pytest.approx(coef.loc[domains, "beta"].to_numpy(), abs=1e-3)
    one_mixture = table[table["mixture"] == table["mixture"].iloc[0]]
    exps, gone = ee.fitted_exponents(one_mixture, "s1")  # one share per domain: no α to correlate
    assert exps.empty and {g["domain"] for g in gone} == set(domains)
    assert all("one share only" in g["reason"] for g in gone)


def _frame(slope: float, n_domains: int = 8, n_sets: int = 4, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=n_domains)
    rows = []
    for k in range(n_sets):  # each set has its own level: only the within-set association is shared
        level = 10.0 * k
        for i in range(n_domains):
            rows.append({"source": "t", "set": f"s{k}", "domain": f"d{i}", "se": h[i] + level,
                         "alpha": 0.3 + level + slope * h[i] + noise * rng.normal(), "beta": rng.normal()})
    return pd.DataFrame(rows)


def test_a_within_set_association_is_found_and_its_sign_stated():
    c = ee.centred_correlation(_frame(-0.5), "se", "alpha", n_boot=500)
    assert c["r"] < -0.95 and c["high"] < 0 and c["n_domains"] == 8 and c["n_sets"] == 4
    assert ee.verdict(c) == "negative"
    row = ee.correlations(_frame(+0.5), proxies=("se",), exponents=("alpha",), n_boot=500).iloc[0]
    assert row["verdict"] == "positive"
    assert "excludes 0: domains with more entropy have the larger share exponent" in ee.sentence(row, "T")
    # set levels alone (no association within sets) are not mistaken for one
    c = ee.centred_correlation(_frame(0.0, noise=0.2), "se", "alpha", n_boot=500)
    assert c["low"] < 0 < c["high"] and ee.verdict(c) == "none shown"
    assert "includes 0" in ee.sentence({**c, "exponent": "alpha", "entropy": "se", "verdict": "none shown"}, "T")


def test_too_few_domains_give_no_verdict_whatever_the_interval():
    c = ee.centred_correlation(_frame(-0.5, n_domains=3), "se", "alpha", n_boot=200)
    assert c["r"] < -0.9 and ee.verdict(c) == "too few domains"
    assert c["n_boot_dropped"] > 0  # replicates with fewer than three distinct domains are dropped


def test_notebook_10_on_the_committed_sweep_and_a_mirror_of_fixtures(tmp_path, monkeypatch):
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path / "cache"))
    pins = write_sources(fixture_mirror(tmp_path / "mirror"), tmp_path / "pins.json")
    reproduce.reproduce("cpu", ["10_entropy_exponents"], output_dir=tmp_path, figures_dir=tmp_path / "fig",
                        extra={"public_mirror": str(tmp_path / "mirror"), "public_pins": str(pins),
                               "download": False, "n_boot": 200, "n_starts": 1}, progress=False)
    res = read_json(tmp_path / "results" / "10_entropy_exponents.json")
    assert res["offline"] is False
    sources = {row["source"] for row in res["correlations"]}
    assert sources == {"cpu", "dmsl", "all tables"}  # 3Mix is not in the mirror: left out, said so
    cpu = [p for p in res["extract"]["points"] if p["source"] == "cpu"]
    assert len(cpu) == 6 * 5  # six domains, five seeds of the committed sweep
    assert len(res["found"]) == len(res["correlations"])
    assert (tmp_path / "fig" / "entropy_exponents.png").stat().st_size > 0
