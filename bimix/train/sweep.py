"""Sweeps: every (mixture, seed) run of a profile, training only what is missing.

A run is done when its sidecar says ``complete``; an interrupted run continues from its checkpoint, and
run-table rows are never duplicated, so a sweep can be killed and restarted at any time. With
``workers > 1`` runs go to that many single-thread processes (on a 2-core machine two single-thread
workers train ~30 % more tokens/s than one two-thread process, since small models parallelise poorly
inside an op). ``doremi`` in the mixture list first runs the DoReMi proxy (bimix.train.doremi) once the
baseline run it needs as reference is done, then trains the resulting mixture like any other.

Devices: every run of a sweep trains on one device type (``device``, part of the run id unless CPU
fp32). On CUDA, worker k trains on GPU k mod n_gpus (:func:`worker_device`), so ``--workers`` equal to
the number of GPUs gives each its own, and twice that shares each GPU between two runs. A sweep is
one process and its workers: under torchrun every rank would run every job, so it refuses to start
(``torchrun ... -m bimix train`` trains one run over several GPUs).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from bimix.profiles import Profile, ProxyConfig

_PROGRESS = None  # worker side: queue for token counts, set by the pool initializer
_DEVICE = None  # worker side: the torch device this worker trains on (cuda:k), set by the initializer


class SweepError(ValueError):
    """A sweep that cannot start as asked (a user mistake: exit 2)."""


def worker_device(k: int, device: str, n_gpus: int) -> str:
    """The torch device of the k-th worker (0-based): GPU k mod n_gpus on CUDA, else the CPU."""
    if device != "cuda":
        return "cpu"
    if n_gpus < 1:
        raise SweepError("a CUDA sweep on a machine where torch sees no GPU")
    return f"cuda:{k % n_gpus}"


def refuse_torchrun(environ=None) -> None:
    """A sweep under torchrun (WORLD_SIZE > 1) would run every job on every rank: refused."""
    environ = os.environ if environ is None else environ
    world = int(environ.get("WORLD_SIZE", "1") or 1)
    if world > 1:
        raise SweepError(f"sweep does not run under torchrun (WORLD_SIZE={world}): every rank would train "
                         "every run. Use `python -m bimix sweep --workers N` (worker k on GPU k mod the GPU "
                         "count), or `torchrun --nproc_per_node N -m bimix train` for one run on N GPUs")


@dataclass(frozen=True)
class Job:
    """One unit of sweep work: a plain run, or the DoReMi proxy (``kind="doremi"``)."""

    kind: str  # "run" | "doremi"
    mixture: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.mixture}/s{self.seed}" if self.kind == "run" else f"doremi-proxy/s{self.seed}"


def init_worker(progress_queue, threads: int, counter=None, device: str = "cpu", n_gpus: int = 0) -> None:
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

    global _PROGRESS, _DEVICE
    _PROGRESS = progress_queue
    torch.set_num_threads(threads)
    if counter is not None:  # this worker's index, in start order
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        _DEVICE = worker_device(k, device, n_gpus)


def _report(tokens: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put(tokens)


def _execute(job: Job, profile: Profile, config: ProxyConfig, out_dir, store=None, progress=None,
             device: str = "auto", precision: str = "auto") -> str:
    from bimix.train import proxy

    progress = progress or _report
    store = store or proxy.open_profile_store(profile, config)
    if job.kind == "doremi":
        from bimix.train.doremi import run_doremi

        run_doremi(profile, store, seed=job.seed, config=config, out_dir=out_dir, progress=progress,
                   device=device, precision=precision, torch_device=_DEVICE)
        return job.label
    spec = proxy.make_spec(profile, job.mixture, store, seed=job.seed, config=config, device=device,
                           precision=precision)
    result = proxy.train_run(spec, store, out_dir=out_dir, progress=progress, device=_DEVICE)
    return spec.run_id if result["status"] == "complete" else f"{spec.run_id} (partial)"


def plan(profile: Profile, mixtures, seeds, store, config: ProxyConfig, out_dir=None, extra=(),
         device: str = "auto", precision: str = "auto") -> list[Job]:
    """The jobs still missing, in the order they should start (the DoReMi reference first).

    The ``doremi`` mixture comes from one DoReMi proxy, trained with the config's first seed whatever
    ``seeds`` are (every seed's ``doremi`` run trains on it); it is recomputed when the store holds no
    mixture of that proxy run or the run folder's proxy does not record it."""
    from bimix.train import proxy

    jobs: list[Job] = []
    reference = config.doremi.reference
    ordered = sorted(dict.fromkeys(mixtures), key=lambda m: (m != reference, m == "doremi"))
    on = {"device": device, "precision": precision}
    first = config.seeds[0]
    need_proxy = "doremi" in ordered and not doremi_is_current(profile, store, config, first, **on,
                                                                 out_dir=out_dir)
    if need_proxy:  # a finished proxy in the run folder (a fresh clone's committed table) is reused
        from bimix.train.doremi import restore_mixture

        need_proxy = not (restore_mixture(profile, store, seed=first, config=config, out_dir=out_dir, **on)
                          and doremi_is_current(profile, store, config, first, **on, out_dir=out_dir))
    if need_proxy:
        jobs.append(Job("doremi", "doremi", first))
    elif "doremi" in ordered:  # the store's doremi.json shows the mixture this sweep trains on
        from bimix.train.doremi import find_mixture, show_mixture

        show_mixture(find_mixture(profile, store, config, seed=first, **on), store)
    for seed in seeds:
        for mixture in ordered:
            if mixture == "doremi" and need_proxy:
                jobs.append(Job("run", "doremi", seed))
                continue
            spec = proxy.make_spec(profile, mixture, store, seed=seed, config=config, **on)
            proxy.refuse_duplicate_weights(spec, out_dir)
            if not proxy.is_complete(spec, out_dir):
                jobs.append(Job("run", mixture, seed))
    for mixture, seed in extra:  # (mixture, seed) pairs outside the grid, e.g. single-seed mixtures
        if any(j.kind == "run" and (j.mixture, j.seed) == (mixture, seed) for j in jobs) or \
                (mixture in ordered and seed in seeds):
            continue
        spec = proxy.make_spec(profile, mixture, store, seed=seed, config=config, **on)
        proxy.refuse_duplicate_weights(spec, out_dir)
        if not proxy.is_complete(spec, out_dir):
            jobs.append(Job("run", mixture, seed))
    return jobs


def doremi_is_current(profile: Profile, store, config: ProxyConfig, seed: int, device: str = "auto",
                      precision: str = "auto", out_dir=None) -> bool:
    """Whether the DoReMi mixture of this config's proxy run with ``seed`` is in the store
    (:func:`bimix.train.doremi.find_mixture`), and that proxy run is finished in the run folder (``out_dir``,
    default the profile's) with these very weights: the mixture file lives in the store, shared by every
    run folder, and a folder's ``doremi`` runs must come with their own proxy run (``reproduce
    --from-scratch`` into an empty folder retrains it, it does not borrow another folder's)."""
    from bimix.files import read_json
    from bimix.train import proxy
    from bimix.train.doremi import find_mixture, proxy_spec

    saved = find_mixture(profile, store, config, seed=seed, device=device, precision=precision)
    if saved is None:
        return False
    expected = proxy_spec(profile, store, seed=seed, config=config, device=device, precision=precision)
    sidecar = proxy.run_paths(profile.name, out_dir)[0].parent / "doremi_proxy" / "sidecars" / f"{expected.run_id}.json"
    if not sidecar.is_file():
        return False
    meta = read_json(sidecar)
    return meta.get("status") == "complete" and meta.get("doremi_weights") == dict(saved.weights)


def job_tokens(job: Job, config: ProxyConfig) -> int:
    tokens = config.train.steps * config.train.batch_size * config.model.seq_len
    return tokens  # the DoReMi proxy also runs the reference forward: counted by tokens trained


def sweep(profile: Profile, mixtures, seeds=None, *, config: ProxyConfig | None = None, out_dir=None,
          workers: int | None = None, store=None, show_progress: bool = True, extra=(),
          device: str = "auto", precision: str = "auto") -> list[str]:
    """Run the missing runs of ``mixtures x seeds`` (and the (mixture, seed) pairs in ``extra``);
    returns the labels of the jobs executed. ``device``/``precision`` as proxy.make_spec takes them."""
    import torch
    from tqdm.auto import tqdm

    from bimix.train import proxy

    refuse_torchrun()
    config = config or profile.proxy
    seeds = tuple(config.seeds if seeds is None else seeds)
    workers = config.workers if workers is None else workers
    store = store or proxy.open_profile_store(profile, config)
    device = proxy.resolve_device(device)
    precision = proxy.resolve_precision(precision, device)
    on = {"device": device, "precision": precision}
    jobs = plan(profile, mixtures, seeds, store, config, out_dir, extra=extra, **on)
    if not jobs:
        return []
    total = sum(job_tokens(j, config) for j in jobs)
    done: list[str] = []
    with tqdm(total=total, unit="tok", unit_scale=True, desc=f"sweep {profile.name}", disable=not show_progress,
              smoothing=0.05) as bar:
        if workers <= 1:
            for job in jobs:
                bar.set_postfix_str(job.label)
                done.append(_execute(job, profile, config, out_dir, store=store, progress=bar.update, **on))
            return done
        ctx = mp.get_context("spawn")
        progress_queue = ctx.Queue()
        # the store travels to the workers without its tokenizer and corpus handles (training reads
        # only the token files), so a store the caller chose is the one every worker trains on
        light_store = dataclasses.replace(store, tokenizer=None, corpus=None)
        pending = list(jobs)
        waiting_on: dict = {}
        n_gpus = torch.cuda.device_count() if device == "cuda" else 0
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                                 initargs=(progress_queue, 1, ctx.Value("i", 0), device, n_gpus)) as pool:
            while pending or waiting_on:
                for job in _ready(pending, waiting_on.values(), config):
                    if len(waiting_on) >= workers:
                        break
                    pending.remove(job)
                    waiting_on[pool.submit(_execute, job, profile, config, out_dir, light_store, None,
                                           device, precision)] = job
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


class RunSet:
    """The runs one notebook trains and reads: mixtures x seeds under one resolved profile, config and
    store, in one run table (``out_dir``, else the profile's). :meth:`train` trains what is missing
    (:func:`sweep`) and records the runs' ids; :meth:`rows` and :meth:`sidecars` read exactly those runs
    back. Run ids hash the config, the weights and the store, so rows an older config left in the table
    cannot leak in. ``names`` gives a mixture its short name in ``ids`` and ``rows`` (``bimix_opt`` for a
    mixture saved as ``bimix_opt-<hash of its shares>``)."""

    def __init__(self, profile: Profile, config: ProxyConfig, store, seeds, *, out_dir=None, workers: int | None = None):
        from bimix.train import proxy

        self.profile, self.config, self.store, self.seeds = profile, config, store, tuple(seeds)
        self.out_dir, self.workers = out_dir, workers
        self.csv_path = proxy.run_paths(profile.name, out_dir)[0]
        self.ids: dict[tuple[str, int], str] = {}  # (mixture or its short name, seed) -> run id
        self.names: dict[str, str] = {}  # mixture -> short name
        self.seconds = 0.0  # wall time of the last train()
        self.jobs: list[str] = []  # labels of every job train() ran, in order

    def describe(self) -> str:
        """One line: the profile, the tokens of one run, the seeds and where the run table is."""
        train = self.config.train
        return (f"{self.profile.name}: {train.steps} steps x {train.batch_size} x {self.config.model.seq_len} = "
                f"{train.steps * train.batch_size * self.config.model.seq_len:,} tokens per run; seeds {self.seeds}; "
                f"runs in {self.csv_path.parent}")

    def run_ids(self, mixtures, names: dict[str, str] | None = None) -> dict[tuple[str, int], str]:
        """``{(mixture, seed): run id}`` of ``mixtures`` x the seeds, trained or not (nothing recorded)."""
        from bimix.train import proxy

        names = names or {}
        return {(names.get(m, m), s): proxy.make_spec(self.profile, m, self.store, seed=s, config=self.config).run_id
                for m in dict.fromkeys(mixtures) for s in self.seeds}

    def train(self, mixtures, names: dict[str, str] | None = None) -> list[str]:
        """Train the missing runs of ``mixtures`` x the seeds and record their ids; returns the labels of
        the jobs trained (none when every run is done)."""
        t0 = time.perf_counter()
        jobs = sweep(self.profile, list(mixtures), self.seeds, config=self.config, out_dir=self.out_dir,
                     workers=self.workers, store=self.store)
        self.seconds = time.perf_counter() - t0
        self.ids.update(self.run_ids(mixtures, names))
        self.names.update(names or {})
        self.jobs += jobs
        return jobs

    def rows(self, ids=None):
        """The run table's rows of the recorded runs (or of the run ids ``ids``), short names applied."""
        from bimix.data.runs import read_runs

        table = read_runs(self.csv_path)
        table = table[table["run"].isin(set(self.ids.values() if ids is None else ids))]
        return table.replace({"mixture": self.names}) if self.names else table

    def sidecars(self) -> dict[str, dict]:
        """The sidecars of the recorded runs; refuses runs evaluated on different validation sets."""
        from bimix.data.runs import read_sidecars

        ids = set(self.ids.values())
        found = {k: v for k, v in read_sidecars(self.csv_path).items() if k in ids}
        hashes = {sc["validation_hash"] for sc in found.values()}
        if len(hashes) != 1:
            raise SweepError(f"runs were evaluated on different validation sets: {hashes}")
        return found


def sweep_profile(profile: Profile, *, config: ProxyConfig | None = None, seeds=None, out_dir=None,
                  workers: int | None = None, store=None, show_progress: bool = True, device: str = "auto",
                  precision: str = "auto") -> list[str]:
    """The profile's whole sweep: ``mixtures`` on every seed, ``single_seed_mixtures`` on the first,
    as one job list (so two workers stay busy)."""
    from bimix.train import proxy

    config = config or profile.proxy
    seeds = tuple(config.seeds if seeds is None else seeds)
    store = store or proxy.open_profile_store(profile, config)
    done = sweep(profile, config.mixtures, seeds, config=config, out_dir=out_dir, workers=workers, store=store,
                 show_progress=show_progress, extra=[(m, seeds[0]) for m in config.single_seed_mixtures],
                 device=device, precision=precision)
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
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="sequences per forward pass (gradient accumulation; default: the profile's)")
    from bimix.train.proxy import add_device_arguments

    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bimix.train.proxy import override_config, resolve_device, resolve_precision

    refuse_torchrun()
    if args.micro_batch is not None and args.micro_batch < 1:
        raise ValueError(f"--micro-batch must be a positive integer, got {args.micro_batch}")
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    config = override_config(args.profile.proxy, steps=args.steps, micro_batch=args.micro_batch)
    mixtures = tuple(args.mixtures.split(",")) if args.mixtures else config.mixtures
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    t0 = time.perf_counter()
    done = sweep(args.profile, mixtures, seeds, config=config, out_dir=args.out, workers=args.workers,
                 device=device, precision=precision)
    print(f"sweep {args.profile.name}: {len(done)} job(s) run in {time.perf_counter() - t0:.0f} s"
          + (": " + ", ".join(done) if done else " (nothing missing)"))
    return 0
