"""Proxy training throughput and model FLOPs utilisation on this machine's CPU.

    .venv/bin/python benchmarks/bench_proxy.py [--configs cpu,paper] [--threads 1] [--workers 1]
                                               [--grid] [--out build/benchmarks/bench_proxy.json]

For each config: tokens/s of full training steps (forward, backward, clip, AdamW) on random tokens, and
MFU = 6 x parameters x tokens/s / peak, where peak is the fp32 matmul FLOP/s measured in the same run
(best of several large torch.matmul calls with the same thread count). ``--workers 2`` runs that many
single-thread processes at once and reports their summed tokens/s against the summed peak (the sweep's
setup). ``--levers`` times the cheaper-training levers against fp32 on one thread (bf16 autocast,
fused AdamW, twice the batch at equal tokens), interleaved. ``--grid`` also times candidate sizes for the cpu profile. ``--compile`` times each config a
second time under ``torch.compile`` (inductor): its first step (compilation) and its steady tokens/s,
and how many training steps the compilation needs to pay for itself. The machine's load average is
recorded before and after, since other work shares the cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from dataclasses import replace

import torch

from bimix.paths import BUILD_DIR
from bimix.profiles import ModelConfig, get_profile

from _cli import guarded  # benchmarks/_cli.py

VOCAB = {"smoke": 1024, "cpu": 1024, "cpu-long": 1024, "gpu": 16384, "paper": 50277}  # the profiles' BPE sizes


def peak_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 FLOP/s of an n x n @ n x n matmul (2 n^3 FLOPs)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.matmul(a, b)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t))
    return best


def time_training(model_cfg: ModelConfig, vocab: int, batch: int, steps: int, warmup: int = 2,
                  compile: bool = False, precision: str = "fp32", fused: bool = False) -> dict:
    """Median seconds of a full training step; ``precision`` "bf16" runs forward and loss under CPU
    autocast as the trainer does (bimix.train.proxy._autocast), ``fused`` uses AdamW's fused kernel."""
    from bimix.profiles import TrainConfig
    from bimix.train.proxy import _autocast, build_model, count_parameters, make_optimizer, token_losses

    net = build_model(model_cfg, vocab, seed=0)
    optimizer, scheduler = make_optimizer(net, TrainConfig(steps=10 ** 6))
    if fused:
        groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in optimizer.param_groups]
        first_group = optimizer.param_groups[0]
        optimizer = torch.optim.AdamW(groups, lr=first_group["lr"], betas=first_group["betas"],
                                      eps=first_group["eps"], fused=True)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    model = torch.compile(net) if compile else net
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, model_cfg.seq_len + 1), generator=gen)
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with _autocast(torch.device("cpu"), precision):
            loss = token_losses(model, x).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if i == 0:
            first = time.perf_counter() - t
        if i >= warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    median = times[len(times) // 2]
    return {"params": count_parameters(net), "params_non_embedding": count_parameters(net, True),
            "tokens_per_step": batch * model_cfg.seq_len, "step_s": median, "first_step_s": first,
            "tokens_per_s": batch * model_cfg.seq_len / median}


LEVERS = {  # name: (precision, fused AdamW, batch multiplier at equal tokens per run)
    "fp32": ("fp32", False, 1), "bf16": ("bf16", False, 1), "fused_adamw": ("fp32", True, 1),
    "bf16+fused": ("bf16", True, 1), "batch_x2": ("fp32", False, 2)}


def measure_levers(model_cfg: ModelConfig, vocab: int, batch: int, steps: int, rounds: int = 3) -> dict:
    """tokens/s of each lever on one thread, the levers interleaved round by round (so a change of the
    machine's load hits all of them alike); the median over rounds and its ratio to fp32."""
    torch.set_num_threads(1)
    seen: dict[str, list[float]] = {name: [] for name in LEVERS}
    for _ in range(rounds):
        for name, (precision, fused, mult) in LEVERS.items():
            run = time_training(model_cfg, vocab, batch * mult, steps, precision=precision, fused=fused)
            seen[name].append(run["tokens_per_s"])
    median = {name: sorted(v)[len(v) // 2] for name, v in seen.items()}
    return {name: {"tokens_per_s": median[name], "speedup": median[name] / median["fp32"], "rounds": seen[name]}
            for name in LEVERS}


def _measure(args: tuple) -> dict:
    name, model_cfg, vocab, batch, steps, threads, compiled = args
    torch.set_num_threads(threads)
    peak_before = peak_matmul_flops()
    run = time_training(model_cfg, vocab, batch, steps)
    out = {}
    if compiled:
        comp = time_training(model_cfg, vocab, batch, steps, compile=True)
        saved = run["step_s"] - comp["step_s"]  # seconds saved per step once compiled
        out = {"compiled_tokens_per_s": comp["tokens_per_s"], "compile_first_step_s": comp["first_step_s"],
               "compile_speedup": run["step_s"] / comp["step_s"],
               "compile_payback_steps": (comp["first_step_s"] - run["step_s"]) / saved if saved > 0 else float("inf")}
    peak = max(peak_before, peak_matmul_flops())
    return {"config": name, "threads": threads, "batch": batch, "vocab": vocab, **vars_of(model_cfg), **run,
            "peak_flops": peak, "mfu": 6 * run["params"] * run["tokens_per_s"] / peak,
            "mfu_non_embedding": 6 * run["params_non_embedding"] * run["tokens_per_s"] / peak, **out}


def vars_of(model_cfg: ModelConfig) -> dict:
    return {"n_layers": model_cfg.n_layers, "d_model": model_cfg.d_model, "n_heads": model_cfg.n_heads,
            "seq_len": model_cfg.seq_len}


def candidates(args) -> list[tuple]:
    out = []
    for name in args.configs:
        proxy = get_profile(name).proxy
        batch = proxy.train.batch_size if name != "paper" else args.paper_batch
        steps = args.steps if name != "paper" else 3
        out.append((name, proxy.model, VOCAB[name], batch, steps, args.threads, args.compile))
    if args.grid:
        base = get_profile("cpu").proxy.model
        for d, layers, T, V, B in [(96, 3, 128, 2048, 16), (128, 4, 128, 2048, 16), (128, 4, 128, 4096, 16),
                                   (128, 4, 64, 4096, 32), (192, 4, 128, 4096, 16), (256, 4, 128, 4096, 16),
                                   (128, 4, 256, 4096, 8), (256, 2, 128, 4096, 16)]:
            cfg = replace(base, d_model=d, n_layers=layers, n_heads=max(2, d // 32), seq_len=T)
            out.append((f"grid-d{d}-L{layers}-T{T}-V{V}-B{B}", cfg, V, B, args.steps, args.threads, args.compile))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="cpu,paper", type=lambda s: s.split(","))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="concurrent single-config processes")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--paper-batch", type=int, default=2, help="sequences per step for the paper config")
    parser.add_argument("--grid", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time each config under torch.compile")
    parser.add_argument("--out", default=str(BUILD_DIR / "benchmarks" / "bench_proxy.json"))
    parser.add_argument("--levers", action="store_true",
                        help="time fp32 against bf16 autocast, fused AdamW and 2x batch (one thread, interleaved)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    if args.levers:
        report = {"levers": {}, "cpu_count": os.cpu_count(), "load_before": load_before, "torch": torch.__version__}
        for name in args.configs:
            proxy = get_profile(name).proxy
            levers = measure_levers(proxy.model, VOCAB[name], proxy.train.batch_size, args.steps)
            report["levers"][name] = levers
            for lever, res in levers.items():
                print(f"{name:<10} {lever:<12} {res['tokens_per_s']:9.0f} tok/s  {res['speedup']:.2f}x fp32", flush=True)
        report["load_after"] = os.getloadavg()
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=2)
        print(f"load average before {load_before[0]:.2f}, after {report['load_after'][0]:.2f}; wrote {args.out}")
        return 0
    results = []
    ctx = mp.get_context("spawn")
    for cand in candidates(args):
        if args.workers > 1:
            with ctx.Pool(args.workers) as pool:
                parts = pool.map(_measure, [cand] * args.workers)
            res = dict(parts[0])
            res["workers"] = args.workers
            res["tokens_per_s"] = sum(p["tokens_per_s"] for p in parts)
            res["peak_flops"] = sum(p["peak_flops"] for p in parts)
            res["mfu"] = 6 * res["params"] * res["tokens_per_s"] / res["peak_flops"]
            res["mfu_non_embedding"] = 6 * res["params_non_embedding"] * res["tokens_per_s"] / res["peak_flops"]
        else:
            res = {**_measure(cand), "workers": 1}
        results.append(res)
        print(f"{res['config']:<28} params {res['params'] / 1e6:7.2f}M (non-emb {res['params_non_embedding'] / 1e6:6.2f}M)"
              f"  {res['tokens_per_s']:9.0f} tok/s  peak {res['peak_flops'] / 1e9:6.1f} GFLOP/s"
              f"  MFU {100 * res['mfu']:5.1f}%  (non-emb {100 * res['mfu_non_embedding']:5.1f}%)", flush=True)
        if "compile_speedup" in res:
            print(f"{'':<28} torch.compile: {res['compiled_tokens_per_s']:9.0f} tok/s ({res['compile_speedup']:.2f}x), "
                  f"first step {res['compile_first_step_s']:.1f} s, pays back after {res['compile_payback_steps']:.0f} steps",
                  flush=True)
    report = {"results": results, "threads": args.threads, "workers": args.workers,
              "cpu_count": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
              "torch": torch.__version__}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"load average before {load_before[0]:.2f}, after {report['load_after'][0]:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
