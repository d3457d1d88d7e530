"""Final loss and training speed of the cheaper-training levers, trained for real on a profile's corpus.

    .venv/bin/python benchmarks/bench_lever_loss.py [--profile cpu] [--seeds 0,1] [--workers 2]
                                                    [--out build/benchmarks/bench_lever_loss.json]

``bench_proxy.py --levers`` times the levers on random tokens. This script answers the other half of
the question: does a lever keep the loss? Each lever trains the profile's ``baseline`` (natural-share)
proxy to the end with the profile's own trainer, on its corpus, for every seed:

- ``fp32``: the trainer as the sweeps run it (the reference);
- ``bf16``: the same run under CPU bf16 autocast (``--precision bf16``);
- ``batch_x2``: twice the batch for half the steps, so the same tokens per run.

Fused AdamW is not a trainer option (it was 0.93-0.98x of fp32 in ``--levers``, so it cannot pass the
1.3x gate whatever its loss). A lever is adopted only if it is >= 1.3x fp32 in training tokens/s (wall
time less evaluation, from the run sidecars) and its final mean validation loss differs from fp32's by
no more than the seed noise (the largest fp32 difference between two seeds) on every seed pair.
Runs go to ``build/benchmarks/lever_loss/<lever>/`` and resume there. Run it alone on the machine:
its tokens/s are wall-clock.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
from pathlib import Path

from bimix.files import write_json
from bimix.paths import BUILD_DIR

from _cli import guarded  # benchmarks/_cli.py

LEVERS = ("fp32", "bf16", "batch_x2")
GATE = 1.3  # speed-up a lever needs to be used for the ladder rungs


def _train(args: tuple) -> dict:
    """Train one (lever, seed) run to the end; its final mean loss and training speed."""
    profile_name, lever, seed, root = args
    from bimix.data.runs import read_runs
    from bimix.law.seeds import final_average_by_seed
    from bimix.profiles import get_profile
    from bimix.train.proxy import make_spec, open_profile_store, override_config, run_paths, train_run

    profile = get_profile(profile_name)
    config = profile.proxy
    if lever == "batch_x2":
        train = config.train
        config = override_config(config, batch_size=2 * train.batch_size, steps=train.steps // 2)
    store = open_profile_store(profile, config)
    spec = make_spec(profile, "baseline", store, seed=seed, config=config, device="cpu",
                     precision="bf16" if lever == "bf16" else "fp32")
    out_dir = Path(root) / lever
    sidecar = train_run(spec, store, out_dir=out_dir)
    csv_path, _ = run_paths(profile_name, out_dir)
    rows = read_runs(csv_path)
    rows = rows[rows["run"] == spec.run_id]
    tokens = int(rows["tokens"].max())
    train_s = sidecar["wall_time_s"] - sidecar["eval_time_s"]
    return {"lever": lever, "seed": seed, "run": spec.run_id, "precision": spec.precision,
            "batch_size": config.train.batch_size, "steps": config.train.steps, "tokens": tokens,
            "final_loss": float(final_average_by_seed(rows).loc["baseline", seed]), "train_s": train_s,
            "eval_s": sidecar["eval_time_s"], "tokens_per_s": tokens / train_s}


def summarise(runs: list[dict]) -> dict:
    """Per lever: mean final loss, paired difference from fp32 per seed, speed ratio, and the verdict."""
    by = {(r["lever"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    ref = [by[("fp32", s)]["final_loss"] for s in seeds]
    noise = max(ref) - min(ref)
    ref_speed = sum(by[("fp32", s)]["tokens_per_s"] for s in seeds) / len(seeds)
    out = {"seeds": seeds, "seed_noise_nats": noise, "levers": {}}
    for lever in LEVERS:
        losses = [by[(lever, s)]["final_loss"] for s in seeds]
        diffs = [a - b for a, b in zip(losses, ref)]
        speed = sum(by[(lever, s)]["tokens_per_s"] for s in seeds) / len(seeds) / ref_speed
        equal = all(abs(d) <= noise for d in diffs)
        out["levers"][lever] = {"final_loss": losses, "diff_vs_fp32": diffs, "speedup": speed,
                                "equal_loss": equal, "adopt": lever != "fp32" and equal and speed >= GATE}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seeds", default="0,1", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(BUILD_DIR / "benchmarks" / "bench_lever_loss.json"))
    args = parser.parse_args()
    from bimix.profiles import get_profile

    get_profile(args.profile)  # an unknown profile is refused here, not in a worker
    if len(args.seeds) < 2:
        raise ValueError("--seeds needs at least two seeds: the seed noise is the yardstick")
    root = BUILD_DIR / "benchmarks" / "lever_loss" / args.profile
    jobs = [(args.profile, lever, seed, str(root)) for seed in args.seeds for lever in LEVERS]
    load_before = os.getloadavg()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        runs = []
        for res in pool.imap_unordered(_train, jobs):
            runs.append(res)
            print(f"{res['lever']:<9} seed {res['seed']}  final loss {res['final_loss']:.4f}  "
                  f"{res['tokens_per_s']:8.0f} tok/s (training)  [{len(runs)}/{len(jobs)}]", flush=True)
    summary = summarise(runs)
    print(f"seed noise (fp32, seeds {summary['seeds']}): {summary['seed_noise_nats']:.4f} nats")
    for lever, s in summary["levers"].items():
        diffs = ", ".join(f"{d:+.4f}" for d in s["diff_vs_fp32"])
        print(f"{lever:<9} {s['speedup']:.2f}x fp32  loss - fp32 per seed: {diffs}  "
              f"equal within noise: {s['equal_loss']}  adopt (>= {GATE}x and equal): {s['adopt']}")
    report = {"profile": args.profile, "workers": args.workers,
              "runs": sorted(runs, key=lambda r: (r["lever"], r["seed"])), **summary,
              "load_before": load_before, "load_after": os.getloadavg(), "cpu_count": os.cpu_count()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out = write_json(args.out, report)  # atomically: a killed run leaves the previous report
    print(f"load average before {load_before[0]:.2f}, after {report['load_after'][0]:.2f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
