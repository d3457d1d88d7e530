"""Claims against compute (bimix.law.scale, notebook 11): compute of a run, the points of a sweep and
of a public ladder, and the reading rule both ways."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bimix.compendium import reproduce
from bimix.files import read_json
from bimix.law import scale


def test_compute_and_size_labels():
    assert scale.flops(165_632, 1_228_800) == pytest.approx(1.221e12, rel=1e-3)
    assert scale.size_params("122M") == 1.22e8 and scale.size_params("2.7B") == 2.7e9
    with pytest.raises(ValueError, match="not a model size"):
        scale.size_params("big")


def _sweep(t1=(0.005, 0.006, 0.0055), r2=0.95, natural=0.02, skewed=-0.3):
    fit = {"table1_by_seed": {str(i): {"mre_mean": v} for i, v in enumerate(t1)},
           "table2_by_seed": {str(i): {"baseline": {"mean": r2}, "doremi": {"mean": r2 - 0.02}} for i in range(3)}}
    finals = {m: {str(i): 4.0 for i in range(3)} for m in ("se", "ce", "je", "vne")}
    finals["baseline"] = {str(i): 4.0 - natural for i in range(3)}
    finals["skewed"] = {str(i): 4.0 - skewed for i in range(3)}
    return fit, {"final_average_by_seed": finals}


def _public(t1=(0.4, 0.3, 0.17), r2=(0.8, 0.85, 0.99), diff=(-0.08, -0.07, -0.05)):
    sizes = ["122M", "680M", "2718M"]
    return {"by_size_table": [{"table": "dmsl", "form": "bimix", "size": s, "T1 error %": a, "T1 gap": 1.11,
                               "T2 R2": b, "T2 R2 sd": 0.05, "splits": 5, "mixtures": 20}
                              for s, a, b in zip(sizes, t1, r2)],
            "slimpajama_mixtures": [{"size": s, "mixture": m, "step": 2e10 * (k + 1), "diff": d, "diff_lo": d - 0.01,
                                     "diff_hi": d + 0.01} for k, (s, d) in enumerate(zip(sizes, diff))
                                    for m in ("se", "ce", "je", "vne")]}


def test_sweep_and_public_points():
    fit, sweep = _sweep()
    rows = scale.sweep_rows(fit, sweep, 1e5, 1e6)
    t1 = rows[rows["claim"] == "table1"].iloc[0]
    assert t1["value"] == pytest.approx(0.55) and t1["lo"] < 0.55 < t1["hi"] and t1["n"] == 3
    c3 = rows[rows["claim"] == "claim3"].set_index("label")["value"]
    assert c3["cpu vs natural"] == pytest.approx(0.02) and c3["cpu vs skewed"] == pytest.approx(-0.3)
    pub = scale.public_rows(_public())
    assert set(pub["label"]) == {"122M", "680M", "2718M"}
    big = pub[(pub["label"] == "2718M") & (pub["claim"] == "table2")].iloc[0]
    assert big["flops"] == pytest.approx(6 * 2.718e9 * 6e10) and big["hi"] == 1.0  # R² capped at 1


def test_reading_tells_scale_from_general_failure_and_baseline_flips():
    fit, sweep = _sweep()
    closes = pd.concat([scale.sweep_rows(fit, sweep, 1e5, 1e6), scale.public_rows(_public())])
    assert scale.reading(closes, "table1")["reading"] == "closes with scale"
    misses = pd.concat([scale.sweep_rows(fit, sweep, 1e5, 1e6), scale.public_rows(_public(t1=(0.6, 0.7, 0.8)))])
    r = scale.reading(misses, "table1")
    assert r["reading"] == "misses at scale, no trend toward the paper" and r["rho"] > 0
    assert "Reading: **misses at scale, no trend toward the paper**" in r["sentence"]
    flip = scale.reading(closes, "claim3")
    assert flip["reading"] == "holds at every public size; at the smallest rung the verdict flips with the baseline"
    fit, sweep = _sweep(natural=-0.01)
    both = pd.concat([scale.sweep_rows(fit, sweep, 1e5, 1e6), scale.public_rows(_public())])
    assert scale.reading(both, "claim3")["reading"] == "holds at every scale"
    assert scale.reading(closes[closes["source"] == "nothing"], "table1")["reading"] == "not enough points"


def test_notebook_11_on_the_committed_results(tmp_path):
    reproduce.reproduce("cpu", ["11_claims_vs_scale"], output_dir=tmp_path, figures_dir=tmp_path / "fig",
                        progress=False)
    res = read_json(tmp_path / "results" / "11_claims_vs_scale.json")
    assert [r["claim"] for r in res["readings"]] == ["table1", "table2", "claim3"]
    assert all(r["sentence"].startswith(r["claim"]) for r in res["readings"])
    cpu = [p for p in res["points"] if p["source"] == "CPU ladder" and p["label"].split(" vs ")[0] == "cpu"]
    assert cpu and all(math.isclose(p["flops"], cpu[0]["flops"]) for p in cpu) and 1e11 < cpu[0]["flops"] < 1e13
    assert (tmp_path / "fig" / "claims_vs_compute.png").stat().st_size > 0


def test_a_rung_reads_its_committed_extracts_and_one_runs_size(tmp_path):
    # a rung of the CPU ladder: its notebook 04 and 05 extracts and a run's sidecar give its points at its
    # own compute; a rung not trained yet gives none and says so
    import shutil

    from bimix.paths import REPO_ROOT, RUNS_DIR

    (tmp_path / "results" / "rung-a").mkdir(parents=True)
    for name in ("04_proxy_pretraining", "05_fit_law"):
        shutil.copy(REPO_ROOT / "data" / "results" / "cpu" / f"{name}.json", tmp_path / "results" / "rung-a")
    runs = tmp_path / "runs" / "rung-a"
    (runs / "sidecars").mkdir(parents=True)
    (runs / "runs.csv").write_text((RUNS_DIR / "cpu" / "runs.csv").read_text())
    side = sorted((RUNS_DIR / "cpu" / "sidecars").glob("*.json"))[0]
    shutil.copy(side, runs / "sidecars")
    rows, why = scale.rung_rows("rung-a", tmp_path / "results", tmp_path / "runs")
    sc = read_json(side)
    assert why is None and set(rows["source"]) == {"CPU ladder"}
    assert set(rows["label"]) == {"rung-a", "rung-a vs natural", "rung-a vs skewed"}
    assert rows["flops"].unique().tolist() == [pytest.approx(6 * sc["n_params"] * sc["tokens"])]
    none, why = scale.rung_rows("rung-b", tmp_path / "results", tmp_path / "runs")
    assert none.empty and why == "rung-b: not trained yet (no 05_fit_law.json, 04_proxy_pretraining.json, rung-b/runs.csv)"
    # two rungs of one ladder: a flip at both is "every CPU rung"
    both = pd.concat([rows, rows.assign(label=rows["label"].str.replace("rung-a", "rung-c"), flops=rows["flops"] * 4),
                      scale.public_rows(_public())])
    assert "at every CPU rung the verdict flips" in scale.reading(both, "claim3")["reading"]
    # a flip at one rung of two names it: "the rung-a rung (of 2 CPU rungs)"
    fixed = both[~both["label"].str.startswith("rung-c vs skewed")]
    fixed = pd.concat([fixed, rows[rows["label"] == "rung-a vs skewed"].assign(label="rung-c vs skewed", flops=rows["flops"] * 4,
                                                                            value=rows.loc[rows["label"] == "rung-a vs natural", "value"].iloc[0])])
    assert "at the rung-a rung (of 2 CPU rungs) the verdict flips" in scale.reading(fixed, "claim3")["reading"]
    # the rungs notebook 11 reads out: those with both extracts, in the order asked; their training cost
    got = scale.rung_extracts("rung-b, rung-a,", tmp_path / "results", tmp_path / "runs")
    assert list(got) == ["rung-a"] and got["rung-a"][2] == runs / "runs.csv"
    assert got["rung-a"][0] == read_json(tmp_path / "results" / "rung-a" / "05_fit_law.json")
    hours = sc["wall_time_s"] / 3600
    assert scale.training_summary("rung-a", runs / "runs.csv") == (
        f"rung-a: 1 run, {hours:.2f} hours of training (one process each; devices: {sc['device']})")
    # extracts without a run table are not a trained rung (as rung_rows says); an untimed sidecar is named
    shutil.copytree(tmp_path / "results" / "rung-a", tmp_path / "results" / "rung-d")
    assert list(scale.rung_extracts("rung-a,rung-d", tmp_path / "results", tmp_path / "runs")) == ["rung-a"]
    (runs / "sidecars" / "cut-s0-x.json").write_text('{"status": "running", "device": "cpu"}')
    assert scale.training_summary("rung-a", runs / "runs.csv") == (
        f"rung-a: 2 runs, {hours:.2f} hours of training (one process each; 1 without a recorded time; "
        f"devices: {sc['device']})")


def test_rung_readouts_put_each_protocol_beside_its_naive_predictor():
    fit, sweep = _sweep(t1=(0.004, 0.006, 0.005))
    fit["naive"] = {"table1_mre_carry_forward": 0.01, "table1_skill_carry_forward": 0.5,
                    "table2_r2_log_mean_null": 0.4, "table2_skill_r2": 0.08}
    sweep["claim34"] = [{"baseline": b, "mixture": m, "mean_diff": d, "lo": d - 0.01, "hi": d + 0.01, "seeds": 3,
                         "outcome": "agrees" if d + 0.01 < 0 else "undecided"}
                        for b, d in (("baseline", 0.005), ("skewed", -0.3), ("uniform", 0.02)) for m in ("se", "ce", "doremi")]
    got = scale.rung_readouts("rung-a", fit, sweep).set_index("readout")
    t1 = got.loc["Table 1 error (%)"]
    assert t1["value"] == pytest.approx(0.5) and t1["lo"] < 0.5 < t1["hi"] and t1["seeds"] == 3
    assert t1["naive"] == pytest.approx(1.0) and t1["skill"] == 0.5  # the law's 0.5 % against carry-forward's 1 %
    t2 = got.loc["Table 2 R² (log loss)"]
    assert t2["value"] == pytest.approx(0.94) and t2["naive"] == 0.4 and t2["skill"] == 0.08
    # claims 3-4: every entropy mixture against every reference the rung trained, named as a reader says it
    assert got.loc["ce − skewed (nats)", "value"] == -0.3 and "agrees" in got.loc["ce − skewed (nats)", "note"]
    assert {"se − natural (nats)", "ce − uniform (nats)"} <= set(got.index) and set(got["rung"]) == {"rung-a"}
    assert not any(r.startswith("doremi") for r in got.index)  # claims 3-4 are about the entropy mixtures
    # an extract without the naive block or claim34 (committed before they were kept) gives NaN, not an error
    bare = scale.rung_readouts("old", *_sweep())
    assert list(bare["readout"]) == ["Table 1 error (%)", "Table 2 R² (log loss)"] and bare["skill"].isna().all()
