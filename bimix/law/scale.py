"""Each claim against training compute (notebook 11): the CPU rung, the public sizes, the paper's point.

Compute is ``6 N D`` FLOPs (N parameters, D training tokens per run): the CPU sweep's ~1e12, Apple's
SlimPajama ladder (122M–2.7B parameters, 20B–104B tokens), the paper's 124M proxies on 100B tokens
(~7.4e19). Three readouts, each beside the paper's published value:

``table1``  Table 1, the mean relative error (%) of the last step predicted from the run's earlier
            steps (the CPU rung at the paper's 1.05x; the public table's own grid is 1.11x);
``table2``  Table 2, mean R² on log loss of mixtures the law was not fitted on (the CPU rung: Baseline
            and DoReMi, as the paper; the public table: seeded splits fitting 4 mixtures);
``claim3``  entropy mixtures minus the Baseline in average loss (nats; below 0: the claim holds), the
            mean over SE, CE, JE and VNE (the CPU rung against its natural and its skewed mixture; the
            public table: the paper's published SlimPajama mixtures predicted at the last step).

Intervals: the CPU rung's are t intervals over its paired seeds; a public size's Table 2 interval is
± one sd over its splits, its claim-3 interval the envelope of the four mixtures' bootstrap intervals;
Table 1 at a public size has none (one fit per run, averaged over every run of the size).

:func:`reading` states which of three readings the points support, by a rule printed with it:
the gap closes with scale (small-scale failure); the public runs at the paper's scale already miss
the paper's value (general); or, for claim 3, the verdict flips with the baseline (the corpus, not the
scale).
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import numpy as np
import pandas as pd

PAPER_FLOPS = 6 * 124e6 * 100e9  # the paper's proxies: ~124M parameters, ~100B tokens per run
# the paper's published values: Table 1 mean error (%), Table 2 mean R² (ranges over its two corpora)
PAPER_RANGE = {"table1": (0.16, 0.19), "table2": (0.974, 0.995), "claim3": (-math.inf, 0.0)}
LOWER_IS_BETTER = {"table1": True, "table2": False, "claim3": True}
COLUMNS = ["claim", "source", "label", "flops", "value", "lo", "hi", "n", "note"]


def flops(n_params: float, tokens: float) -> float:
    """Training compute of one run, ``6 N D`` FLOPs."""
    return 6.0 * float(n_params) * float(tokens)


def size_params(label: str) -> float:
    """A size label's parameter count: "122M" -> 1.22e8, "2.7B" -> 2.7e9."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([MB])", label)
    if not m:
        raise ValueError(f"not a model size label: {label!r}")
    return float(m.group(1)) * (1e6 if m.group(2) == "M" else 1e9)


def _t_interval(values) -> tuple[float, float, float, int]:
    """The seeds' mean and 95 % t-interval (:func:`bimix.law.verdicts.interval`), NaN when empty."""
    from bimix.law.verdicts import interval

    got = interval(values)
    return (got.mean, got.lo, got.hi, got.n) if got else (math.nan, math.nan, math.nan, 0)


# sources of our own sweeps (the CPU rungs); every other source is a public table
OWN_SOURCES = ("cpu", "cpu-long", "CPU ladder")


def sweep_rows(fit_results: Mapping, sweep_results: Mapping, n_params: float, tokens: float,
               source: str = "cpu", label: str | None = None) -> pd.DataFrame:
    """A sweep's three readouts from its notebook 05 and 04 results (the committed extracts).
    ``label`` names the rung (default: ``source``); the rungs of one ladder share a ``source``."""
    x = flops(n_params, tokens)
    label = label or source
    rows = []
    t1 = [s["mre_mean"] * 100 for s in fit_results.get("table1_by_seed", {}).values()]
    mean, lo, hi, n = _t_interval(t1)
    rows.append(dict(claim="table1", source=source, label=label, flops=x, value=mean, lo=lo, hi=hi, n=n,
                     note=f"{n} seeds, held-out step 1.05x the last fitted"))
    held = [m for m in ("baseline", "doremi")]
    t2 = [np.mean([s[m]["mean"] for m in held if m in s]) for s in fit_results.get("table2_by_seed", {}).values()]
    mean, lo, hi, n = _t_interval(t2)
    rows.append(dict(claim="table2", source=source, label=label, flops=x, value=mean, lo=lo, hi=hi, n=n,
                     note=f"{n} seeds, Baseline and DoReMi held out"))
    finals = sweep_results.get("final_average_by_seed", {})
    for reference in ("baseline", "skewed"):
        if reference not in finals:
            continue
        seeds = [s for s in finals[reference] if all(s in finals.get(h, {}) for h in ("se", "ce", "je", "vne"))]
        diffs = [np.mean([finals[h][s] for h in ("se", "ce", "je", "vne")]) - finals[reference][s] for s in seeds]
        mean, lo, hi, n = _t_interval(diffs)
        name = "natural" if reference == "baseline" else reference
        rows.append(dict(claim="claim3", source=source, label=f"{label} vs {name}", flops=x, value=mean, lo=lo,
                         hi=hi, n=n, note=f"{n} paired seeds, against the {name} mixture"))
    return pd.DataFrame(rows, columns=COLUMNS)


def public_rows(extract: Mapping, table: str = "dmsl", source: str = "SlimPajama ladder") -> pd.DataFrame:
    """The public table's readouts per model size from notebook 07's committed extract."""
    sizes = pd.DataFrame(extract.get("by_size_table", []))
    mixtures = pd.DataFrame(extract.get("slimpajama_mixtures", []))
    if sizes.empty:
        return pd.DataFrame(columns=COLUMNS)
    sizes = sizes[(sizes["table"] == table) & (sizes["form"] == "bimix")]
    tokens = mixtures.groupby("size")["step"].max() if len(mixtures) else pd.Series(dtype=float)
    rows = []
    for _, r in sizes.iterrows():
        label = str(r["size"])
        if label not in tokens.index:
            continue  # no token count for this size: no compute to place it at
        x = flops(size_params(label), tokens[label])
        rows.append(dict(claim="table1", source=source, label=label, flops=x, value=r["T1 error %"], lo=math.nan,
                         hi=math.nan, n=_count(r.get("mixtures")), note=f"held-out step {r['T1 gap']:.2f}x the last fitted"))
        sd = r.get("T2 R2 sd", math.nan)
        rows.append(dict(claim="table2", source=source, label=label, flops=x, value=r["T2 R2"], lo=r["T2 R2"] - sd,
                         hi=min(1.0, r["T2 R2"] + sd), n=_count(r.get("splits")),
                         note="± one sd over seeded splits of 4 fitted mixtures"))
        part = mixtures[(mixtures["size"] == label) & mixtures["mixture"].isin(["se", "ce", "je", "vne"])]
        if len(part) == 4:
            rows.append(dict(claim="claim3", source=source, label=label, flops=x, value=float(part["diff"].mean()),
                             lo=float(part["diff_lo"].min()), hi=float(part["diff_hi"].max()), n=4,
                             note="the paper's SE, CE, JE, VNE predicted at the last step minus its Baseline"))
    return pd.DataFrame(rows, columns=COLUMNS)


def _count(x) -> int:
    return int(x) if x is not None and np.isfinite(x) else 0


def _meets(claim: str, value: float) -> bool:
    lo, hi = PAPER_RANGE[claim]
    return value <= hi if LOWER_IS_BETTER[claim] else value >= lo


def reading(points: pd.DataFrame, claim: str) -> dict:
    """Which reading the points of ``claim`` support, with the rule that decides it.

    Rule. Points are ordered by compute; the public runs' largest-compute point decides. If it meets
    the paper's value (Table 1 at most the paper's worst mean, Table 2 at least its lowest mean,
    claim 3 below 0) while the smallest rung misses it: "closes with scale". If it misses it: "misses
    at scale" (general, not a small-scale failure), "and no trend toward it" when the points do not
    move toward the paper's value with compute (Spearman's ρ of value on compute of the wrong sign or 0).
    For claim 3, a rung whose verdict differs between its natural and skewed baselines makes the
    reading "the verdict flips with the baseline" (the corpus decides, not the scale), beside whether
    every public size holds. Fewer than two points: "not enough points"."""
    from scipy import stats

    part = points[points["claim"] == claim].dropna(subset=["value"]).sort_values("flops")
    if len(part) < 2:
        return {"claim": claim, "reading": "not enough points", "sentence": f"{claim}: not enough points."}
    own = part["source"].isin(OWN_SOURCES)
    public = part[~own]
    top = (public if len(public) else part).iloc[-1]
    bottom = part.iloc[0]
    rho = float(stats.spearmanr(part["flops"], part["value"]).statistic) if part["flops"].nunique() > 1 else math.nan
    toward = (rho < 0) if LOWER_IS_BETTER[claim] else (rho > 0)
    flips, rungs = [], sorted(part.loc[own, "flops"].unique())
    if claim == "claim3":  # a rung: one of our sweeps, its points at one compute (one per baseline)
        flips = [g["label"].iloc[0].split(" vs ")[0] for (_, x), g in part[own].groupby(["source", "flops"])
                 if len(g) > 1 and len({bool(_meets(claim, v)) for v in g["value"]}) > 1]
    public_meet = [bool(_meets(claim, v)) for v in public["value"]]
    if flips:  # a rung's verdict depends on its baseline: the corpus decides, not the scale
        where = ("the smallest rung" if len(rungs) == 1 else "every CPU rung" if len(flips) == len(rungs)
                 else "the " + " and ".join(flips) + (" rungs" if len(flips) > 1 else " rung")
                 + f" (of {len(rungs)} CPU rungs)")
        kind = (("holds at every public size" if all(public_meet) else "misses at scale")
                + f"; at {where} the verdict flips with the baseline")
    elif _meets(claim, top["value"]) and not _meets(claim, bottom["value"]):
        kind = "closes with scale"
    elif _meets(claim, top["value"]):
        kind = "holds at every scale" if all(public_meet) and _meets(claim, bottom["value"]) else "holds at the largest size"
    else:
        kind = "misses at scale" + ("" if toward else ", no trend toward the paper")
    lo, hi = PAPER_RANGE[claim]
    paper = {"table1": f"{lo}–{hi} %", "table2": f"{lo}–{hi}", "claim3": "below 0 nats"}[claim]
    sentence = (f"{claim}: at the largest public compute ({top['label']}, {top['flops']:.1e} FLOPs) the readout is "
                f"{top['value']:.4g} against the paper's {paper}; at the smallest ({bottom['label']}, "
                f"{bottom['flops']:.1e} FLOPs) {bottom['value']:.4g}; Spearman ρ of readout on compute "
                f"{rho:+.2f} over {len(part)} points. Reading: **{kind}**"
                + (f" ({', '.join(flips)}: one sign against natural, the other against skewed)" if flips else "")
                + ".")
    return {"claim": claim, "reading": kind, "rho": rho, "top": top["label"], "top_value": float(top["value"]),
            "bottom": bottom["label"], "bottom_value": float(bottom["value"]), "sentence": sentence}


def _rung_files(rung: str, results_root, runs_root):
    """A rung's committed notebook 05 and 04 extracts and its run table, as paths, and the names of
    those that are missing (by their file, the table by ``<rung>/runs.csv``: no machine path)."""
    from pathlib import Path

    folder = Path(results_root) / rung
    fit, sweep = folder / "05_fit_law.json", folder / "04_proxy_pretraining.json"
    table = Path(runs_root) / rung / "runs.csv"
    missing = [p.name for p in (fit, sweep) if not p.is_file()] + ([] if table.is_file() else [f"{rung}/runs.csv"])
    return (fit, sweep, table), missing


def rung_rows(rung: str, results_root, runs_root) -> tuple[pd.DataFrame, str | None]:
    """One rung of the CPU ladder as points (source "CPU ladder", labelled by the rung), from its
    committed extracts ``results_root/<rung>/{04_proxy_pretraining,05_fit_law}.json`` and the
    parameters and tokens of a run in ``runs_root/<rung>/``; or no points and why."""
    from bimix.data.runs import read_sidecars
    from bimix.files import read_json

    (fit, sweep, table), missing = _rung_files(rung, results_root, runs_root)
    if missing:
        return pd.DataFrame(columns=COLUMNS), f"{rung}: not trained yet (no {', '.join(missing)})"
    sidecar = next(iter(read_sidecars(table).values()))
    rows = sweep_rows(read_json(fit), read_json(sweep), sidecar["n_params"], sidecar["tokens"],
                      source="CPU ladder", label=rung)
    return rows, None


def rung_extracts(rungs: str, results_root, runs_root) -> dict[str, tuple[dict, dict, object]]:
    """The rungs named in ``rungs`` (comma-separated) that are trained (both committed extracts and the
    run table, as :func:`rung_rows` requires), each as (its notebook 05 extract, its notebook 04
    extract, the path of its run table), in the given order."""
    from bimix.files import read_json

    out = {}
    for rung in filter(None, (r.strip() for r in rungs.split(","))):
        (fit, sweep, table), missing = _rung_files(rung, results_root, runs_root)
        if not missing:
            out[rung] = (read_json(fit), read_json(sweep), table)
    return out


def training_summary(rung: str, runs_csv) -> str:
    """One line on what a rung's training cost: its runs, the hours they trained (summed over runs, one
    process each, from their sidecars) and the devices they trained on. Sidecars without a recorded
    time (a run that never reached its first checkpoint) are counted and named as such, not as 0 h."""
    from bimix.data.runs import read_sidecars

    cars = list(read_sidecars(runs_csv).values())
    timed = [c for c in cars if isinstance(c.get("wall_time_s"), (int, float))]
    hours = sum(c["wall_time_s"] for c in timed) / 3600
    devices = ", ".join(sorted({str(c["device"]) for c in cars if "device" in c})) or "none recorded"
    runs = f"{len(cars)} run" + ("" if len(cars) == 1 else "s")
    untimed = f"; {len(cars) - len(timed)} without a recorded time" if len(timed) < len(cars) else ""
    return f"{rung}: {runs}, {hours:.2f} hours of training (one process each{untimed}; devices: {devices})"


READOUT_COLUMNS = ["rung", "readout", "value", "lo", "hi", "seeds", "naive", "skill", "note"]


def rung_readouts(rung: str, fit_results: Mapping, sweep_results: Mapping) -> pd.DataFrame:
    """One rung's readouts beside their naive predictors, from its notebook 05 and 04 extracts:
    Table 1 (error %, seeds' mean and 95 % interval; naive: the last fitted loss carried forward),
    Table 2 (R² on log loss of Baseline and DoReMi; naive: the mixture-blind null, every held-out
    curve the geometric mean of the fitted ones) and claims 3–4 (each entropy mixture minus each
    trained reference, natural, skewed or uniform, in nats over paired seeds; below 0 the entropy
    mixture is better). ``skill`` is the law's error over the naive one (Table 1: MRE ratio; Table 2:
    (1 − R²) ratio); below 1 the law beats its naive predictor. Missing inputs give no row."""
    naive = fit_results.get("naive") or {}
    rows = []
    t1 = [s["mre_mean"] * 100 for s in fit_results.get("table1_by_seed", {}).values()]
    if t1:
        mean, lo, hi, n = _t_interval(t1)
        carry = naive.get("table1_mre_carry_forward")
        rows.append(dict(readout="Table 1 error (%)", value=mean, lo=lo, hi=hi, seeds=n,
                         naive=carry * 100 if carry is not None else math.nan,
                         skill=naive.get("table1_skill_carry_forward", math.nan),
                         note="naive: the last fitted loss carried forward"))
    t2 = [np.mean([s[m]["mean"] for m in ("baseline", "doremi") if m in s])
          for s in fit_results.get("table2_by_seed", {}).values()]
    if t2:
        mean, lo, hi, n = _t_interval(t2)
        rows.append(dict(readout="Table 2 R² (log loss)", value=mean, lo=lo, hi=hi, seeds=n,
                         naive=naive.get("table2_r2_log_mean_null", math.nan),
                         skill=naive.get("table2_skill_r2", math.nan),
                         note="naive: the mixture-blind null (geometric mean of the fitted curves)"))
    for r in sweep_results.get("claim34") or []:
        if r["mixture"] not in ("se", "ce", "je", "vne"):
            continue  # the reference mixtures against each other are notebook 04's table
        name = "natural" if r["baseline"] == "baseline" else r["baseline"]
        rows.append(dict(readout=f"{r['mixture']} − {name} (nats)", value=r["mean_diff"], lo=r.get("lo", math.nan),
                         hi=r.get("hi", math.nan), seeds=r.get("seeds"), naive=math.nan, skill=math.nan,
                         note=f"claims 3–4, paired seeds: {r.get('outcome', '')}"))
    return pd.DataFrame([{"rung": rung, **row} for row in rows], columns=READOUT_COLUMNS)


def gains_rows(results_by_rung: Mapping[str, Mapping]) -> pd.DataFrame:
    """Claims 5–6 per rung: the BiMix optimum's gain in final average loss (nats, paired seeds, 95 %
    interval) over each reference, and that gain as a step ratio at the reference's end slope, from
    each rung's notebook 06 results (``gain_nats``)."""
    rows = [{"rung": rung, "reference": g["reference"], "gain_nats": g["gain_nats"], "lo": g["lo"], "hi": g["hi"],
             "step_ratio": g.get("step_ratio"), "seeds": g.get("seeds"), "outcome": g.get("outcome")}
            for rung, res in results_by_rung.items() for g in res.get("gain_nats") or []]
    return pd.DataFrame(rows, columns=["rung", "reference", "gain_nats", "lo", "hi", "step_ratio", "seeds", "outcome"])
