"""The proxy-regime study: which settings of a small CPU proxy let the law show itself.

A *regime* is one config file (``configs/regime/*.toml``, read by :mod:`bimix.config`). For each, the
paper's six mixtures are trained on seed 0 (the entropy mixtures computed on that config's token store,
DoReMi from that config's own Group-DRO proxy), the Baseline on extra seeds for the seed-to-seed noise,
and optionally the DoReMi proxy on extra seeds for the stability of its averaged weights. The run tables
live in ``data/runs/regime/<name>/`` and are committed, so the study's table is recomputed from them
without training (:func:`regime_row`).

Metrics per regime (one row of the study's table):
- training tokens/s (median over the runs' sidecars; other work on the machine lowers it, so compare
  rows measured under the same load, or the ratio to the bare step of ``benchmarks/bench_proxy.py``);
- the final average loss against the average unigram entropy of the domains (how far past unigram
  statistics the proxies got);
- Table 1: relative error of the law extrapolating each run to its last 1 and last 3 evaluation steps,
  and its signed mean (a bias when it is as large as the error itself);
- Table 2: R² on log loss of Baseline and DoReMi predicted by the law fitted on SE, CE, JE, VNE;
- seed spread: standard deviation over Baseline seeds of the final average loss (nats), and of the
  DoReMi proxy's averaged weights (largest per-domain standard deviation).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from bimix.paths import REPO_ROOT, RUNS_DIR
from bimix.profiles import Profile

REGIME_CONFIGS = REPO_ROOT / "configs" / "regime"
REGIME_RUNS = RUNS_DIR / "regime"
PAPER_SIX = ("baseline", "doremi", "se", "ce", "je", "vne")
ENTROPY_FOUR = ("se", "ce", "je", "vne")


def regime_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    return Path(root or REGIME_RUNS) / name


def prepare_entropy_mixtures(store, *, progress: bool = False) -> dict[str, float]:
    """SE/CE/JE/VNE mixtures of ``store`` (computed as notebook 02 does, if missing) and the
    per-domain unigram entropy (SE, nats)."""
    from bimix.data import entropy
    from bimix.files import read_json, write_json

    cached = Path(store.mixtures_dir) / "_entropies.json"
    have = all((Path(store.mixtures_dir) / f"{m}.json").is_file() for m in ENTROPY_FOUR)
    if have and cached.is_file():
        return read_json(cached)["se"]
    report = entropy.compute_entropies(store, seq_len=1024, n_docs=1000, seed=0, embedder="hashed",
                                       cache=True, progress=progress)
    entropy.save_mixtures(report, store.mixtures_dir)
    se = {d: float(v) for d, v in report.table["se"].items()}
    write_json(cached, {"se": se, "store_id": store.store_id})
    return se


def unigram_entropies(store) -> dict[str, float]:
    """Per domain, the entropy (nats) of the train split's token frequencies: the loss of a model that
    ignores context entirely."""
    out = {}
    for d in store.domains:
        counts = np.bincount(np.asarray(store.tokens(d, "train")), minlength=store.vocab_size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        out[d] = float(-(p * np.log(p)).sum())
    return out


def save_unigram(store, folder: str | os.PathLike) -> Path:
    """``unigram_entropy.json`` beside a run table, so its regime row needs no token store."""
    from bimix.files import write_json

    return write_json(Path(folder) / "unigram_entropy.json",
                      {"store_id": store.store_id, "unigram_entropy": unigram_entropies(store)})


def train_regime(profile: Profile, *, out_dir: str | os.PathLike | None = None, spread_seeds: Sequence[int] = (1, 2),
                 doremi_seeds: Sequence[int] = (), workers: int | None = None,
                 show_progress: bool = True) -> list[str]:
    """Train what a regime still lacks (idempotent): the six mixtures on the profile's first seed,
    the Baseline on ``spread_seeds``, and DoReMi proxies on ``doremi_seeds``."""
    from bimix.train import proxy, sweep
    from bimix.train.doremi import run_doremi
    out = regime_dir(profile.name, out_dir)
    config = profile.proxy
    store = proxy.open_profile_store(profile, config)
    prepare_entropy_mixtures(store)
    save_unigram(store, out)
    done = sweep.sweep(profile, PAPER_SIX, (config.seeds[0],), config=config, out_dir=out,
                       workers=workers, store=store, show_progress=show_progress)
    done += sweep.sweep(profile, ("baseline",), tuple(spread_seeds), config=config, out_dir=out,
                        workers=workers, store=store, show_progress=show_progress)
    done += doremi_seed_proxies(profile, doremi_seeds, out_dir=out, store=store)
    return done


def doremi_seed_proxies(profile: Profile, seeds: Sequence[int], *, out_dir, store=None, config=None) -> list[str]:
    """DoReMi proxies on further seeds (each against the Baseline run of its own seed), for the spread
    of the averaged weights; the mixture the sweep trained (first seed's) is kept as ``doremi``."""
    from bimix.train import proxy
    from bimix.train.doremi import run_doremi
    config = config or profile.proxy
    store = store or proxy.open_profile_store(profile, config)
    done = []
    for seed in seeds:
        if seed != config.seeds[0]:
            run_doremi(profile, store, seed=seed, config=config, out_dir=out_dir, shown=False)
            done.append(f"doremi-proxy/s{seed}")
    return done


# ------------------------------------------------------------------------------ DoReMi's step size
ETA_STUDY = "doremi-eta"  # folder under data/runs/regime/ of the step-size study


def eta_trajectory_name(eta: float, seed: int) -> str:
    return f"doremi_trajectory-eta{eta:g}-s{seed}.csv"


def doremi_eta_study(profile: Profile, etas: Sequence[float], seeds: Sequence[int], *, out_dir=None,
                     store=None) -> list[str]:
    """Group-DRO proxies of ``profile`` for every step size η in ``etas`` and seed in ``seeds``, each
    against the Baseline reference of its own seed (trained once, in the same folder), into
    ``data/runs/regime/doremi-eta/`` (idempotent: a finished proxy is not retrained). Each proxy's weight
    trajectory is kept as ``doremi_proxy/doremi_trajectory-eta<η>-s<seed>.csv``."""
    import dataclasses

    from bimix.train import proxy
    from bimix.train.doremi import run_doremi
    base = profile.proxy
    store = store or proxy.open_profile_store(profile, base)
    out = regime_dir(ETA_STUDY, out_dir)
    done = []
    for eta in etas:
        config = dataclasses.replace(base, doremi=dataclasses.replace(base.doremi, eta=float(eta)))
        for seed in seeds:
            target = out / "doremi_proxy" / eta_trajectory_name(eta, seed)
            if target.is_file():
                continue
            spec = proxy.make_spec(profile, "doremi-proxy", store, seed=seed, config=config, objective="doremi",
                                   weights=proxy.resolve_mixture(config.doremi.sample, store))
            if proxy.is_complete(spec, out / "doremi_proxy"):  # stopped between the run and the rename
                raise RuntimeError(f"proxy {spec.run_id} is finished but its trajectory {target.name} is "
                                   f"missing; delete {out / 'doremi_proxy' / 'sidecars' / spec.run_id}.json "
                                   "and its rows in runs.csv to retrain it")
            result = run_doremi(profile, store, seed=seed, config=config, out_dir=out, shown=False)
            os.replace(result["trajectory_path"], target)
            done.append(f"eta={eta:g}/s{seed}")
    return done


def doremi_eta_table(root: str | os.PathLike | None = None, collapse: float = 0.9) -> pd.DataFrame:
    """One row per step size of the study (from its committed proxies, no training): seeds; the largest
    per-domain standard deviation over seeds of the averaged weights (and its domain); the averaged
    weights' mean over seeds per domain; how often one domain holds more than ``collapse`` of the weight
    (share of steps, mean over seeds); and how much the weights swing in the second half of a run
    (largest per-domain standard deviation over those steps, mean over seeds)."""
    from bimix.data.runs import read_sidecars

    folder = regime_dir(ETA_STUDY, root) / "doremi_proxy"
    proxies = read_sidecars(folder / "runs.csv")
    rows = []
    for eta, group in pd.DataFrame([{"eta": float(sc["doremi"]["eta"]), "seed": int(sc["seed"]),
                                     **sc["doremi_weights"]} for sc in proxies.values()
                                    if sc.get("status") == "complete" and sc.get("doremi_weights")]
                                   ).groupby("eta"):
        w = group.drop(columns=["eta", "seed"])
        sd = w.std(ddof=1) if len(w) > 1 else pd.Series(math.nan, index=w.columns)
        collapsed, swing = [], []
        for seed in group["seed"]:
            traj = pd.read_csv(folder / eta_trajectory_name(eta, seed)).pivot(index="step", columns="domain",
                                                                             values="weight")
            collapsed.append(float((traj.max(axis=1) > collapse).mean()))
            swing.append(float(traj.iloc[len(traj) // 2:].std(ddof=1).max()))
        rows.append({"eta": eta, "seeds": len(w), "weight_std_max": float(sd.max()),
                     "weight_std_domain": str(sd.idxmax()) if sd.notna().any() else "",
                     "collapsed_steps": float(np.mean(collapsed)), "late_swing": float(np.mean(swing)),
                     **{f"w_{d}": float(v) for d, v in w.mean().items()}})
    return pd.DataFrame(rows).sort_values("eta").reset_index(drop=True)


def _final_average(table: pd.DataFrame) -> pd.Series:
    last = table[table["step"] == table.groupby("run")["step"].transform("max")]
    return last.groupby("run")["loss"].mean()


def regime_row(name: str, *, root: str | os.PathLike | None = None, unigram: dict[str, float] | None = None,
               n_starts: int = 4) -> dict:
    """The study's metrics for one regime, from its committed run table (no training)."""
    from bimix.law.protocols import extrapolate_steps, generalise_mixtures
    from bimix.data.runs import read_runs, read_sidecars

    from bimix.files import read_json

    folder = regime_dir(name, root)
    table = read_runs(folder / "runs.csv")
    if unigram is None and (folder / "unigram_entropy.json").is_file():
        unigram = read_json(folder / "unigram_entropy.json")["unigram_entropy"]
    sidecars = read_sidecars(folder / "runs.csv")
    proxies = read_sidecars(folder / "doremi_proxy" / "runs.csv") if (folder / "doremi_proxy" / "runs.csv").is_file() else {}
    first = next(iter(sidecars.values()))
    model, train = first["model"], first["train"]
    seed0 = int(table["seed"].min())
    six = table[(table["seed"] == seed0) & table["mixture"].isin(PAPER_SIX)]
    usable = six[six["r"] > 0]
    row = {"regime": name, "d_model": model["d_model"], "n_layers": model["n_layers"],
           "vocab": first["vocab_size"], "seq_len": model["seq_len"], "batch": train["batch_size"],
           "steps": train["steps"], "lr": train["lr"], "decay": train["decay_factor"],
           "ema": train.get("ema_decay", 0.0), "eval_seqs": train["eval_sequences"],
           "n_evals": len(first["eval_steps"]), "params": first["n_params"],
           # held-out step over the last fitted one in Table 1 (the paper's 1.05x; a log grid's is larger)
           "table1_gap": (first["eval_steps"][-1] / first["eval_steps"][-2]) if len(first["eval_steps"]) > 1
           else math.nan,
           "tokens_per_run": train["steps"] * train["batch_size"] * model["seq_len"]}
    row["tokens_per_param"] = row["tokens_per_run"] / row["params"]
    tps = [s.get("tokens_per_s") for s in sidecars.values() if s.get("tokens_per_s")]
    row["tokens_per_s"] = float(np.median(tps)) if tps else math.nan
    final = _final_average(six)
    row["final_avg_loss"] = float(final.mean())
    if unigram:
        row["avg_unigram_entropy"] = float(np.mean(list(unigram.values())))
        row["below_unigram"] = row["avg_unigram_entropy"] - row["final_avg_loss"]
    for k in (1, 3):
        ext = extrapolate_steps(usable, holdout_last=k, n_starts=n_starts)
        row[f"table1_mean_last{k}"] = ext.mre_mean if ext.applicable else math.nan
        row[f"table1_worst_last{k}"] = ext.mre_worst if ext.applicable else math.nan
        if k == 1 and ext.applicable:
            # signed: (prediction - measurement) / measurement. A mean near the mean absolute error
            # in size is a bias (the curve bends away from the law); near 0 it is step-to-step noise.
            e = ext.errors
            row["table1_signed_last1"] = float(((e["pred"] - e["loss"]) / e["loss"]).mean())
    present = set(usable["mixture"])
    if set(ENTROPY_FOUR) <= present and {"baseline", "doremi"} <= present:
        gen = generalise_mixtures(usable, list(ENTROPY_FOUR), ["baseline", "doremi"], n_starts=n_starts)
        per = gen.per_mixture.set_index("mixture")
        for m in ("baseline", "doremi"):
            row[f"table2_{m}_mean"] = float(per.loc[m, "r2_log_mean"])
            row[f"table2_{m}_worst"] = float(per.loc[m, "r2_log_worst"])
    base = table[table["mixture"] == "baseline"]
    base_final = _final_average(base)
    row["baseline_seeds"] = int(base["seed"].nunique())
    row["seed_std_final"] = float(base_final.std(ddof=1)) if len(base_final) > 1 else math.nan
    weights = [s["doremi_weights"] for s in proxies.values() if s.get("doremi_weights")]
    row["doremi_seeds"] = len(weights)
    if len(weights) > 1:
        w = pd.DataFrame(weights)
        row["doremi_weight_std_max"] = float(w.std(ddof=1).max())
        row["doremi_weight_std_domain"] = str(w.std(ddof=1).idxmax())
    return row
