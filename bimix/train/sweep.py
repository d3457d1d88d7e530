"""Sweeps: every (mixture, seed) run of a profile, training only what is missing.

A run is done when its sidecar says ``complete``; an interrupted run continues from its checkpoint, and
run-table rows are never duplicated, so a sweep can be killed and restarted at any time. With
``workers > 1`` runs go to that many single-thread processes (on a 2-core machine two single-thread
workers train ~30 % more tokens/s than one two-thread process, since small models parallelise poorly
inside an op). ``doremi`` in the mixture list first runs the DoReMi proxy (bimix.train.doremi) once the
baseline run it needs as reference is done, then trains the resulting mixture like any other.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from bimix.profiles import Profile, ProxyConfig

_PROGRESS = None  # worker side: queue for token counts, set by the pool initializer


@dataclass(frozen=True)
class Job:
    """One unit of sweep work: a plain run, or the DoReMi proxy (``kind="doremi"``)."""

    kind: str  # "run" | "doremi"
    mixture: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.mixture}/s{self.seed}" if self.kind == "run" else f"doremi-proxy/s{self.seed}"


def _init_worker(progress_queue, threads: int) -> None:
    """Pool initializer. A worker dies with the sweep that started it: a SIGKILLed parent cannot shut
    its pool down, and orphaned workers would go on training and appending rows. On Linux the kernel
    signals the worker when its parent exits (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread
    watches the parent's pid."""
    import ctypes
    import ctypes.util
    import os
    import signal
    import sys
    import threading

    parent = mp.parent_process()
    parent_pid = parent.pid if parent is not None else os.getppid()
    watched = False
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        watched = libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    if not watched:
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="bimix-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the watch was set up
        os._exit(1)

    import torch  # after the watch: importing takes seconds, during which the parent may die

    global _PROGRESS
    _PROGRESS = progress_queue
    torch.set_num_threads(threads)


def _report(tokens: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put(tokens)


def _execute(job: Job, profile: Profile, config: ProxyConfig, out_dir, store=None, progress=None) -> str:
    from bimix.train import proxy

    progress = progress or _report
    store = store or proxy.open_profile_store(profile, config)
    if job.kind == "doremi":
        from bimix.train.doremi import run_doremi

        run_doremi(profile, store, seed=job.seed, config=config, out_dir=out_dir, progress=progress)
        return job.label
    spec = proxy.make_spec(profile, job.mixture, store, seed=job.seed, config=config)
    result = proxy.train_run(spec, store, out_dir=out_dir, progress=progress)
    return spec.run_id if result["status"] == "complete" else f"{spec.run_id} (partial)"


def plan(profile: Profile, mixtures, seeds, store, config: ProxyConfig, out_dir=None, extra=()) -> list[Job]:
    """The jobs still missing, in the order they should start (the DoReMi reference first).

    The ``doremi`` mixture comes from one DoReMi proxy, trained with the first seed; it is recomputed
    when the saved mixture was made by another config or store (its meta names the proxy run)."""
    from bimix.train import proxy

    jobs: list[Job] = []
    reference = config.doremi.reference
    ordered = sorted(dict.fromkeys(mixtures), key=lambda m: (m != reference, m == "doremi"))
    need_proxy = "doremi" in ordered and not doremi_is_current(profile, store, config, seeds[0])
    if need_proxy:  # a finished proxy in the run folder (a fresh clone's committed table) is reused
        from bimix.train.doremi import restore_mixture

        need_proxy = not (restore_mixture(profile, store, seed=seeds[0], config=config, out_dir=out_dir)
                          and doremi_is_current(profile, store, config, seeds[0]))
    if need_proxy:
        jobs.append(Job("doremi", "doremi", seeds[0]))
    for seed in seeds:
        for mixture in ordered:
            if mixture == "doremi" and need_proxy:
                jobs.append(Job("run", "doremi", seed))
                continue
            spec = proxy.make_spec(profile, mixture, store, seed=seed, config=config)
            proxy.refuse_duplicate_weights(spec, out_dir)
            if not proxy.is_complete(spec, out_dir):
                jobs.append(Job("run", mixture, seed))
    for mixture, seed in extra:  # (mixture, seed) pairs outside the grid, e.g. single-seed mixtures
        if any(j.kind == "run" and (j.mixture, j.seed) == (mixture, seed) for j in jobs) or \
                (mixture in ordered and seed in seeds):
            continue
        spec = proxy.make_spec(profile, mixture, store, seed=seed, config=config)
        proxy.refuse_duplicate_weights(spec, out_dir)
        if not proxy.is_complete(spec, out_dir):
            jobs.append(Job("run", mixture, seed))
    return jobs


def doremi_is_current(profile: Profile, store, config: ProxyConfig, seed: int) -> bool:
    """Whether ``store.mixtures_dir/doremi.json`` was made by this config's DoReMi proxy."""
    from bimix.train import proxy
    from bimix.data.mixtures import load_named

    if not (store.mixtures_dir / "doremi.json").is_file():
        return False
    saved = load_named("doremi", store.mixtures_dir, domains=store.domains)
    expected = proxy.make_spec(profile, "doremi-proxy", store, seed=seed, config=config, objective="doremi",
                               weights=proxy.resolve_mixture(config.doremi.sample, store))
    return saved.meta.get("proxy_run") == expected.run_id and saved.meta.get("profile") == profile.name


def job_tokens(job: Job, config: ProxyConfig) -> int:
    tokens = config.train.steps * config.train.batch_size * config.model.seq_len
    return tokens  # the DoReMi proxy also runs the reference forward: counted by tokens trained


def sweep(profile: Profile, mixtures, seeds=None, *, config: ProxyConfig | None = None, out_dir=None,
          workers: int | None = None, store=None, show_progress: bool = True, extra=()) -> list[str]:
    """Run the missing runs of ``mixtures x seeds`` (and the (mixture, seed) pairs in ``extra``);
    returns the labels of the jobs executed."""
    from tqdm.auto import tqdm

    from bimix.train import proxy

    config = config or profile.proxy
    seeds = tuple(config.seeds if seeds is None else seeds)
    workers = config.workers if workers is None else workers
    store = store or proxy.open_profile_store(profile, config)
    jobs = plan(profile, mixtures, seeds, store, config, out_dir, extra=extra)
    if not jobs:
        return []
    total = sum(job_tokens(j, config) for j in jobs)
    done: list[str] = []
    with tqdm(total=total, unit="tok", unit_scale=True, desc=f"sweep {profile.name}", disable=not show_progress,
              smoothing=0.05) as bar:
        if workers <= 1:
            for job in jobs:
                bar.set_postfix_str(job.label)
                done.append(_execute(job, profile, config, out_dir, store=store, progress=bar.update))
            return done
        ctx = mp.get_context("spawn")
        progress_queue = ctx.Queue()
        # the store travels to the workers without its tokenizer and corpus handles (training reads
        # only the token files), so a store the caller chose is the one every worker trains on
        light_store = dataclasses.replace(store, tokenizer=None, corpus=None)
        pending = list(jobs)
        waiting_on: dict = {}
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(progress_queue, 1)) as pool:
            while pending or waiting_on:
                for job in _ready(pending, waiting_on.values(), config):
                    if len(waiting_on) >= workers:
                        break
                    pending.remove(job)
                    waiting_on[pool.submit(_execute, job, profile, config, out_dir, light_store)] = job
                finished, _ = wait(list(waiting_on), timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(progress_queue, bar)
                for fut in finished:
                    job = waiting_on.pop(fut)
                    done.append(fut.result())  # re-raises a worker's exception here
                    bar.set_postfix_str(f"done {job.label}")
                if not finished and not waiting_on and pending:
                    raise RuntimeError(f"sweep stalled: {[j.label for j in pending]} wait on nothing")
            time.sleep(0.2)
            _drain(progress_queue, bar)
    return done


def sweep_profile(profile: Profile, *, config: ProxyConfig | None = None, seeds=None, out_dir=None,
                  workers: int | None = None, store=None, show_progress: bool = True) -> list[str]:
    """The profile's whole sweep: ``mixtures`` on every seed, ``single_seed_mixtures`` on the first,
    as one job list (so two workers stay busy)."""
    from bimix.train import proxy

    config = config or profile.proxy
    seeds = tuple(config.seeds if seeds is None else seeds)
    store = store or proxy.open_profile_store(profile, config)
    done = sweep(profile, config.mixtures, seeds, config=config, out_dir=out_dir, workers=workers, store=store,
                 show_progress=show_progress, extra=[(m, seeds[0]) for m in config.single_seed_mixtures])
    return done


def _ready(pending: list[Job], running, config: ProxyConfig) -> list[Job]:
    """Jobs whose inputs exist: DoReMi waits for its seed's reference run, the doremi run for the proxy.
    The DoReMi proxy goes first once ready, since the doremi run queues behind it."""
    blocked_labels = {j.label for j in pending} | {j.label for j in running}
    ref = config.doremi.reference
    out = []
    for job in pending:
        if job.kind == "doremi" and f"{ref}/s{job.seed}" in blocked_labels:
            continue
        if job.kind == "run" and job.mixture == "doremi" and any(b.startswith("doremi-proxy/") for b in blocked_labels):
            continue
        out.append(job)
    return sorted(out, key=lambda j: j.kind != "doremi")


def _drain(progress_queue, bar) -> None:
    tokens = 0
    while True:
        try:
            tokens += progress_queue.get_nowait()
        except queue.Empty:
            break
    if tokens:
        bar.update(tokens)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="smoke | cpu | gpu | paper")
    parser.add_argument("--mixtures", default=None,
                        help="comma-separated mixture names (default: the profile's sweep)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: the profile's)")
    parser.add_argument("--steps", type=int, default=None, help="override the profile's steps")
    parser.add_argument("--workers", type=int, default=None, help="parallel single-thread processes")
    parser.add_argument("--out", default=None, help="folder for runs.csv and sidecars/ (default data/runs/PROFILE)")


def run(args: argparse.Namespace) -> int:
    from bimix.train.proxy import override_config

    config = override_config(args.profile.proxy, steps=args.steps)
    mixtures = tuple(args.mixtures.split(",")) if args.mixtures else config.mixtures
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    t0 = time.perf_counter()
    done = sweep(args.profile, mixtures, seeds, config=config, out_dir=args.out, workers=args.workers)
    print(f"sweep {args.profile.name}: {len(done)} job(s) run in {time.perf_counter() - t0:.0f} s"
          + (": " + ", ".join(done) if done else " (nothing missing)"))
    return 0
