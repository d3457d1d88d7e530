"""Notebook 06 (the BiMix-optimised mixture, trained and checked) through the runner on the smoke
chain, and the helpers behind it: epoch caps, steps to a target loss, average loss curves, compute
accounting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bimix.law.optimize import OptimizeError, epoch_upper_bounds
from bimix.law.protocols import average_loss_curves, compute_accounting, steps_to_reach

# ------------------------------------------------------------------------------------------ helpers


def test_epoch_caps_scale_with_tokens_and_refuse_an_impossible_budget():
    hi = epoch_upper_bounds({"big": 1_000_000, "small": 10_000}, budget_tokens=100_000, epochs_max=4)
    assert hi == {"big": 1.0, "small": pytest.approx(0.4)}
    with pytest.raises(OptimizeError, match="raise epochs_max"):
        epoch_upper_bounds({"a": 10_000, "b": 20_000}, budget_tokens=100_000, epochs_max=2)
    with pytest.raises(OptimizeError, match="epochs_max"):
        epoch_upper_bounds({"a": 10}, budget_tokens=100, epochs_max=0)


def test_steps_to_reach_interpolates_in_log_steps():
    steps = np.array([10, 100, 1000])
    loss = 5.0 - np.log10(steps)  # 4, 3, 2: linear in log s, so the crossing is exact
    assert steps_to_reach(steps, loss, 2.5) == pytest.approx(10 ** 2.5)
    assert steps_to_reach(steps, loss, 2.0) == 1000.0  # reached exactly at the last evaluation
    assert steps_to_reach(steps, loss, 4.5) == 10.0  # already there at the first evaluation
    assert math.isnan(steps_to_reach(steps, loss, 1.9))  # never reached
    assert steps_to_reach(steps[::-1], loss[::-1], 2.5) == pytest.approx(10 ** 2.5)  # order does not matter


def test_average_loss_curves_are_unweighted_over_domains_then_averaged_over_seeds():
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.2)):
        for step in (10, 20):
            for domain, base, r in (("a", 2.0, 0.9), ("b", 4.0, 0.1)):
                rows.append({"run": f"m-s{seed}", "mixture": "m", "seed": seed, "step": step, "domain": domain,
                             "r": r, "loss": base + shift - step / 100})
    curves = average_loss_curves(pd.DataFrame(rows))
    # the shares (0.9 / 0.1) must not weight the average: (2 + 4) / 2, plus the mean seed shift 0.1
    np.testing.assert_allclose(curves["m"].to_numpy(), [3.0 + 0.1 - 0.1, 3.0 + 0.1 - 0.2])
    assert list(curves.index) == [10, 20]


def test_compute_accounting_sums_sidecars_and_counts_entropy_only_for_entropy_fits():
    def sc(seconds, device="cpu"):
        return {"wall_time_s": seconds, "device": device}

    kw = dict(entropy_s=2.0, entropy_source="x.json", doremi_reference=[sc(10)], doremi_proxy=[sc(12)],
              fit_runs=[sc(5), sc(6), sc(7), sc(8, "cuda:0")], law_fit_s=0.5, optimise_s=0.01)
    totals = compute_accounting(**kw).groupby("method")["seconds"].sum()
    assert totals.to_dict() == pytest.approx({"entropy": 2.0, "doremi": 22.0, "bimix": 2.0 + 26.0 + 0.51})
    table = compute_accounting(**kw, fit_uses_entropy=False)
    assert table.groupby("method")["seconds"].sum()["bimix"] == pytest.approx(26.51)
    assert table.loc[table["part"].str.startswith("fitting"), "device"].item() == "cpu+cuda"


# ----------------------------------------------------------------------------------------- notebook


@pytest.fixture
def private_checkpoints(smoke_store, bimix_cache, tmp_path, monkeypatch):
    """The session cache (corpus, tokenizers, stores) with a checkpoint folder of this test's own.
    Checkpoints are keyed by run id only, and a finished one is reused without re-appending its rows,
    so a smoke run trained by another test into another folder would leave this test's table empty."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for entry in bimix_cache.iterdir():
        if entry.name != "checkpoints":
            (cache / entry.name).symlink_to(entry)
    monkeypatch.setenv("BIMIX_CACHE", str(cache))
    return cache


def test_notebook_06_after_03_trains_only_the_optimum(smoke_store, smoke_store_gpt2, private_checkpoints, tmp_path):
    """02 writes the entropy mixtures (and their cost) for both tokenizers, 03 trains the smoke sweep
    with DoReMi, 04 draws it, 06 fits, optimises and trains ``bimix_opt`` only, reusing every other run;
    08 reads the same run table."""
    from bimix.compendium import reproduce
    from bimix.files import read_json
    from bimix.data.mixtures import load_named
    from bimix.data.runs import read_runs

    out, fig, runs_dir = tmp_path / "out", tmp_path / "fig", tmp_path / "runs"
    reproduce.reproduce("smoke", ["02_entropy_mixtures"], output_dir=out, figures_dir=fig, progress=False)
    # 02: each tokenizer's entropies and mixtures, saved in its store
    claims = read_json(out / "results" / "02_entropy_mixtures.json")
    assert all(gap <= 1e-4 for gap in claims["paper_chain_rule_gap"].values())
    for kind, store in (("bpe", smoke_store), ("gpt2", smoke_store_gpt2)):
        got = claims["tokenizers"][kind]
        assert got["store_id"] == store.store_id and got["vocab_size"] == store.vocab_size
        for m in ("se", "je", "ce", "vne"):
            assert sum(row[m] for row in got["mixtures"].values()) == pytest.approx(1.0)
            saved = load_named(m, store.mixtures_dir, domains=store.domains)
            assert dict(saved.weights) == pytest.approx({d: row[m] for d, row in got["mixtures"].items()})
        assert got["entropies"]["code"]["tokens"] == len(store.tokens("code"))
    assert 0 < claims["cost"]["cpu_seconds"] < 600
    assert (fig / "entropy_mixtures.png").stat().st_size > 1000

    reproduce.reproduce("smoke", ["03_doremi", "04_proxy_pretraining", "06_optimize_mixture"],
                        output_dir=out, figures_dir=fig, extra={"runs_dir": str(runs_dir)}, progress=False)
    # 04 trains nothing after 03 and reports the sweep's curves
    sweep = read_json(out / "results" / "04_proxy_pretraining.json")
    assert sweep["jobs_run"] == [] and sweep["n_runs"] >= 6
    assert set(sweep["final_average_loss"]) >= {"baseline", "doremi", "se", "ce", "je", "vne"}
    assert all(0 < v < math.log(smoke_store.vocab_size) for v in sweep["final_average_loss"].values())
    assert sweep["best_mixture"] == min(sweep["final_average_loss"], key=sweep["final_average_loss"].get)
    # claims 3-4: each entropy mixture's paired difference from the baseline(s) the sweep trained
    rows = {(r["baseline"], r["mixture"]): r for r in sweep["claim34"]}
    by_seed = sweep["final_average_by_seed"]
    for m in ("se", "ce", "je", "vne"):
        assert rows[("baseline", m)]["mean_diff"] == pytest.approx(by_seed[m]["0"] - by_seed["baseline"]["0"])
        assert rows[("baseline", m)]["outcome"] == "one seed"
    res = read_json(out / "results" / "06_optimize_mixture.json")

    # the optimum: on the simplex, within its epoch caps, saved with its provenance
    opt = res["optimum"]
    w = np.array([opt["weights"][d] for d in smoke_store.domains])
    assert w.sum() == pytest.approx(1.0, abs=1e-9) and (w > 0).all()
    assert all(opt["weights"][d] <= opt["upper"][d] + 1e-12 for d in smoke_store.domains)
    assert math.isfinite(opt["predicted_avg_loss"]) and 0 < opt["predicted_avg_loss"] < math.log(smoke_store.vocab_size)
    name = opt["mixture_name"]
    assert name.startswith("bimix_opt-") and len(name) == len("bimix_opt-") + 8
    saved = load_named(name, smoke_store.mixtures_dir, domains=smoke_store.domains)
    assert dict(saved.weights) == res["trained_shares"]
    assert dict(saved.weights) == pytest.approx(opt["weights"], abs=1e-6)
    assert all(round(v * 1e6) == v * 1e6 for v in saved.weights.values())
    assert saved.meta["fit_on"] == ["se", "ce", "je", "vne"] and saved.meta["step"] == res["final_step"]
    assert set(saved.meta["bounds"]["upper"]) == set(smoke_store.domains)
    for d, span in opt["near_optimal"].items():
        assert span["r_min"] <= opt["weights"][d] + 1e-12 <= span["r_max"] + 2e-12

    # the rival needs m + 2 = 8 mixtures per domain; the smoke sweep has 6, so it is not applicable, in words
    assert res["rival"]["applicable"] is False and "coefficients" in res["rival"]["reason"]
    assert res["rival_ratio_by_seed"] == {}

    # 03 trained the profile's sweep: 06 trained only what it compares beyond it (uniform, which the
    # smoke sweep lacks) and then the optimum, with the same seeds
    assert [j.split("-s")[0] for j in res["jobs_run"]] == ["uniform"] * len(res["seeds"]) + [name] * len(res["seeds"])
    table = read_runs(runs_dir / "runs.csv")
    assert {name, "baseline", "doremi", "ce", "uniform"} <= set(table["mixture"])
    # claims 5-6 in nats: the optimum's gain over natural, with the end slope that converts it to steps
    gain = {g["reference"]: g for g in res["gain_nats"]}
    assert set(gain) >= {"baseline", "uniform"} and all(g["seeds"] == len(res["seeds"]) for g in gain.values())
    finals = res["measured_final_avg_loss"]
    if len(res["seeds"]) == 1:
        assert gain["baseline"]["gain_nats"] == pytest.approx(finals["baseline"] - finals["bimix_opt"])
    assert set(table.loc[table["mixture"] == name, "seed"]) == set(res["seeds"])
    assert set(res["speedup_by_seed"]["baseline"]) == {str(s) for s in res["seeds"]}
    assert all(v == pytest.approx(1.0) for v in res["speedup_by_seed"]["baseline"].values())

    shown = ("bimix_opt", "baseline", "doremi", "ce", "uniform")
    assert set(res["measured_final_avg_loss"]) == set(shown)
    assert all(math.isfinite(v) and v > 0 for v in res["measured_final_avg_loss"].values())
    assert res["natural_final_avg_loss"] == res["measured_final_avg_loss"]["baseline"]
    # the natural mixture reaches its own final loss exactly at the last step; others within the run or never
    assert res["steps_to_natural_final"]["baseline"] == res["final_step"]
    for name in shown:
        s = res["steps_to_natural_final"][name]
        assert s is None or 0 < s <= res["final_step"]

    err = res["prediction_error_final"]
    assert set(err["per_domain"]) == set(smoke_store.domains)
    assert 0 < err["mre"] <= err["worst"] < 1 and math.isfinite(err["predicted_avg_loss"])

    cs = res["compute_seconds"]
    for key in ("entropy", "doremi", "bimix", "law_fit", "optimisation", "fitting_runs", "verification_runs"):
        assert math.isfinite(cs[key]) and cs[key] >= 0, key
    assert cs["doremi"] > 0 and cs["fitting_runs"] > 0 and cs["bimix"] >= cs["fitting_runs"] + cs["law_fit"]
    assert res["entropy_source"] == "02_entropy_mixtures.json"
    for name in ("optimum_mixture", "fig8_optimised_vs_baselines", "bimix_opt_predicted_vs_measured"):
        assert (fig / f"{name}_smoke.png").stat().st_size > 1000
    assert "| bimix |" in (out / "results" / "table_compute_smoke.md").read_text()  # seconds stay in build/

    # 08 reads the same run table as a regime row: Table 1 measured, Table 2 on the paper's mixtures
    reproduce.reproduce("smoke", ["08_proxy_regime"], output_dir=out, figures_dir=fig,
                        extra={"profile_runs_dir": str(runs_dir)}, progress=False)
    regimes = read_json(out / "results" / "08_proxy_regime.json")["regimes"]
    row = regimes["smoke (this profile)"]
    assert 0 < row["table1_mean_last1"] <= row["table1_worst_last1"]
    assert row["table2_baseline_mean"] <= 1 and row["params"] > 0 and row["tokens_per_param"] > 0
    assert "| smoke (this profile) |" in (fig / "table_regime_smoke.md").read_text()
