"""Downstream evaluation of trained proxies with EleutherAI's ``lm-evaluation-harness`` (``lm-eval``).

``python -m bimix evaluate --profile cpu`` scores every finished run of a run table one-shot
(``num_fewshot=1``, as the paper does) at each of its exported checkpoints, and writes the tidy table

    data/runs/<profile>/downstream.csv   run, mixture, seed, step, task, metric, value, stderr
    data/runs/<profile>/downstream.json  lm-eval version, task hashes, code version, time per evaluation

Checkpoints are Hugging Face folders (:mod:`bimix.train.export`): the final model of every complete run whose
weights are in the cache, plus the snapshots a run trained with ``export.train_with_snapshots`` kept.
Each is loaded exactly as ``lm-eval --model hf --model_args pretrained=<folder>`` loads it.

Tasks: on ``smoke`` and ``cpu`` the local tasks of :mod:`bimix.train.localtasks` (built from the run's token
store's validation split, no network); on ``gpu`` and ``paper`` the paper's ``lambada_openai``,
``triviaqa`` and ``webqs``, which ``lm-eval`` downloads from the Hugging Face Hub. ``--tasks`` picks
others (``local`` = the local tasks). The paper reports exact match: ``acc`` of ``lambada_openai``
(greedy last word), ``exact_match`` of ``triviaqa`` and ``webqs`` (:data:`PRIMARY_METRIC`).

Re-running is incremental: a (run, step, task) already in the table with the same task hash is not
evaluated again. The table is rewritten atomically after every checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from bimix.files import atomic_path, read_json, write_json

COLUMNS = ("run", "mixture", "seed", "step", "task", "metric", "value", "stderr")
PAPER_TASKS = ("lambada_openai", "triviaqa", "webqs")
DEFAULT_TASKS = {"smoke": ("local",), "cpu": ("local",), "gpu": PAPER_TASKS, "paper": PAPER_TASKS}
# The metric each task's figure shows: exact match where the paper uses it.
PRIMARY_METRIC = {"lambada_openai": "acc", "triviaqa": "exact_match", "webqs": "exact_match",
                  "bimix_lastword": "acc", "bimix_choice": "acc"}
NUM_FEWSHOT = 1  # one-shot, as in the paper


class EvaluateError(RuntimeError):
    """Nothing to evaluate, or inputs that cannot be evaluated."""


def primary_metric(task: str) -> str:
    for prefix, metric in PRIMARY_METRIC.items():
        if task == prefix or task.startswith(prefix + "_"):
            return metric
    return "acc"


def downstream_paths(runs_dir: str | os.PathLike) -> tuple[Path, Path]:
    runs_dir = Path(runs_dir)
    return runs_dir / "downstream.csv", runs_dir / "downstream.json"


# ------------------------------------------------------------------------------------- checkpoints
def find_checkpoints(runs_dir: str | os.PathLike, runs: Sequence[str] | None = None,
                     steps: str = "all") -> tuple[list[dict], list[str]]:
    """The checkpoints to evaluate, ``[{run, mixture, seed, profile, step, path, store, seq_len}]``
    (``path``: the exported folder), and one note per run skipped (not complete, or final weights not
    in the cache). ``steps``: ``all`` (every exported step, the final one included) or ``final``.
    Exports the final models that are not exported yet."""
    from bimix.train.export import ExportError, export_final, exported_steps, open_store_of
    from bimix.data.runs import read_sidecars

    runs_dir = Path(runs_dir)
    sidecars = read_sidecars(runs_dir / "runs.csv")
    if runs:
        unknown = sorted(set(runs) - set(sidecars))
        if unknown:
            raise EvaluateError(f"unknown run(s) {unknown} in {runs_dir}; it has: {', '.join(sidecars) or 'none'}")
        sidecars = {r: sidecars[r] for r in runs}
    out, skipped = [], []
    stores = {}
    for run_id, side in sidecars.items():
        if side.get("status") != "complete":
            skipped.append(f"{run_id}: status {side.get('status')!r}")
            continue
        try:
            store = stores.get(side["store_id"]) or open_store_of(side)
            stores[side["store_id"]] = store
            export_final(store, side, runs_dir)
        except (ExportError, KeyError) as exc:
            skipped.append(f"{run_id}: {exc}")
            continue
        found = exported_steps(side["profile"], run_id, runs_dir)
        if steps == "final":
            found = {s: p for s, p in found.items() if s == int(side["step"])}
        for step, folder in found.items():
            out.append({"run": run_id, "mixture": side["mixture"], "seed": int(side["seed"]),
                        "profile": side["profile"], "step": step, "path": folder, "store": store,
                        "seq_len": int(side["model"]["seq_len"])})
    return out, skipped


# ------------------------------------------------------------------------------------------ tasks
def resolve_tasks(names: Iterable[str], store, seq_len: int, *, n_items: int | None = None,
                  domains: tuple[str, ...] | None = None, tasks_dir=None) -> tuple[list[str], dict, str | None]:
    """(task names, {task: hash}, local task folder or None) for ``names``; ``local`` expands to the
    local tasks of ``store`` (built when missing). Harness tasks are hashed by name and lm-eval version."""
    from importlib.metadata import version

    from bimix.train.localtasks import LocalTaskConfig, ensure_tasks

    out, hashes, include = [], {}, None
    for name in dict.fromkeys(names):
        if name == "local":
            overrides = {"n_items": n_items} if n_items else {}
            folder, index = ensure_tasks(store, LocalTaskConfig.for_context(seq_len, **overrides),
                                         tasks_dir, domains)
            include = str(folder)
            for task, meta in index["tasks"].items():
                out.append(task)
                hashes[task] = meta["hash"]
        else:
            out.append(name)
            hashes[name] = f"lm-eval-{version('lm_eval')}"
    return out, hashes, include


def task_manager(names: Sequence[str], include: str | None):
    """lm-eval's TaskManager over the local task folder, plus its built-in tasks when a task is not
    local (scanning the built-ins takes seconds)."""
    from lm_eval.tasks import TaskManager

    local_only = include is not None and all(n.startswith("bimix_") for n in names)
    manager = TaskManager(include_path=include, include_defaults=not local_only)
    missing = [t for t in names if t not in manager.all_tasks]
    if missing:
        raise EvaluateError(f"lm-eval does not know task(s) {missing}")
    return manager


# ------------------------------------------------------------------------------------- evaluation
def results_rows(results: Mapping, task: str) -> list[dict]:
    """lm-eval's ``results[task]`` ({"acc,none": v, "acc_stderr,none": s, ...}) as (metric, value,
    stderr) rows; the filter is kept in the metric name only when it is not ``none``."""
    rows = []
    for key, value in results.get(task, {}).items():
        if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
            continue
        metric, filt = key.split(",", 1)
        stderr = results[task].get(f"{metric}_stderr,{filt}")
        rows.append({"metric": metric if filt == "none" else f"{metric},{filt}", "value": float(value),
                     "stderr": float(stderr) if isinstance(stderr, (int, float)) else float("nan")})
    return rows


def evaluate_checkpoint(folder: str | os.PathLike, tasks: Sequence[str], manager, *, batch_size: int = 32,
                        device: str = "cpu", limit: int | None = None, bootstrap_iters: int = 1000
                        ) -> tuple[list[dict], dict]:
    """One-shot scores of one exported checkpoint on ``tasks``, in one ``simple_evaluate`` call (each
    call also collects lm-eval's environment report, ~1.5 s). Returns rows (task, metric, value,
    stderr) and ``{"seconds", "n_docs": {task: n}}``. The model is loaded as
    ``lm-eval --model hf --model_args pretrained=<folder>`` loads it."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    started = time.perf_counter()
    lm = HFLM(pretrained=str(folder), batch_size=batch_size, device=device)
    out = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), num_fewshot=NUM_FEWSHOT, task_manager=manager,
                                  limit=limit, bootstrap_iters=bootstrap_iters, log_samples=False)
    rows = [{"task": task, **r} for task in tasks for r in results_rows(out["results"], task)]
    n_docs = {t: int(v.get("effective", v.get("original", 0))) if isinstance(v, dict) else int(v)
              for t, v in out.get("n-samples", {}).items()}
    return rows, {"seconds": round(time.perf_counter() - started, 3), "n_docs": n_docs}


def read_table(csv_path: str | os.PathLike):
    import pandas as pd

    if not Path(csv_path).exists():
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(csv_path, dtype={"run": "string", "mixture": "string", "task": "string",
                                        "metric": "string"})


def _write_table(df, csv_path: Path) -> None:
    df = df.sort_values(["run", "step", "task", "metric"], kind="stable").reset_index(drop=True)
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", columns=list(COLUMNS))


def evaluate_runs(runs_dir: str | os.PathLike, tasks: Sequence[str] | None = None, *,
                  profile: str | None = None, runs: Sequence[str] | None = None, steps: str = "all",
                  n_items: int | None = None, domains: tuple[str, ...] | None = None, limit: int | None = None,
                  batch_size: int = 32, device: str = "cpu", tasks_dir=None, bootstrap_iters: int = 1000,
                  progress: bool = True) -> dict:
    """Evaluate a run table's checkpoints, update ``downstream.csv``/``.json`` beside it and return
    the provenance dict (with ``table``: the rows of this table)."""
    from importlib.metadata import version

    import pandas as pd

    from bimix.provenance import code_version, environment

    runs_dir = Path(runs_dir)
    if not (runs_dir / "runs.csv").exists() and not (runs_dir / "sidecars").is_dir():
        raise EvaluateError(f"no run table in {runs_dir} (expected runs.csv and sidecars/)")
    checkpoints, skipped = find_checkpoints(runs_dir, runs, steps)
    if not checkpoints:
        why = "; ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        raise EvaluateError(f"no run in {runs_dir} has a saved final model in the cache"
                            + (f" ({why})" if why else ""))
    profile = profile or checkpoints[0]["profile"]
    names = list(tasks or DEFAULT_TASKS.get(profile, ("local",)))
    csv_path, meta_path = downstream_paths(runs_dir)
    table = read_table(csv_path)
    previous = read_json(meta_path) if meta_path.exists() else {}
    known_hashes = dict(previous.get("task_hashes", {}))
    timings = list(previous.get("timings", []))
    resolved: dict[tuple, tuple] = {}
    managers: dict[tuple, object] = {}
    for i, ck in enumerate(checkpoints):
        key = (ck["store"].store_id, ck["seq_len"])
        if key not in resolved:
            resolved[key] = resolve_tasks(names, ck["store"], ck["seq_len"], n_items=n_items,
                                          domains=domains, tasks_dir=tasks_dir)
        task_names, hashes, include = resolved[key]
        if limit:  # scores on the first documents only are a different measurement
            hashes = {t: f"{h}/limit={limit}" for t, h in hashes.items()}
        # rows of a task whose definition changed are stale
        stale = [t for t, h in hashes.items() if known_hashes.get(t) not in (None, h)]
        if stale:
            table = table[~table["task"].isin(stale)]
        known_hashes.update(hashes)
        done = set(zip(table["run"], table["step"].astype(int), table["task"])) if len(table) else set()
        todo = [t for t in task_names if (ck["run"], ck["step"], t) not in done]
        if not todo:
            continue
        if key not in managers:
            managers[key] = task_manager(task_names, include)
        manager = managers[key]
        if progress:
            print(f"[{i + 1}/{len(checkpoints)}] {ck['run']} step {ck['step']}: {len(todo)} task(s)",
                  file=sys.stderr, flush=True)
        rows, timing = evaluate_checkpoint(ck["path"], todo, manager, batch_size=batch_size, device=device,
                                           limit=limit, bootstrap_iters=bootstrap_iters)
        new = pd.DataFrame([{"run": ck["run"], "mixture": ck["mixture"], "seed": ck["seed"], "step": ck["step"],
                             **r} for r in rows], columns=list(COLUMNS))
        table = pd.concat([table[~((table["run"] == ck["run"]) & (table["step"] == ck["step"])
                                   & table["task"].isin(todo))], new], ignore_index=True)
        timings.append({"run": ck["run"], "step": ck["step"], "tasks": todo, **timing,
                        "device": device, "threads": _threads()})
        _write_table(table, csv_path)
        meta = {"lm_eval_version": version("lm_eval"), "num_fewshot": NUM_FEWSHOT, "limit": limit,
                "tasks": names, "task_hashes": known_hashes, "code_version": code_version(),
                "environment": environment(), "timings": timings, "skipped": skipped}
        write_json(meta_path, meta)
    meta = read_json(meta_path) if meta_path.exists() else {}
    meta["skipped"] = skipped
    meta["table"] = str(csv_path)
    return meta


def _threads() -> int:
    import torch

    return torch.get_num_threads()


# -------------------------------------------------------------------------------------- summaries
def summarise(table, metric_of=primary_metric):
    """Per (mixture, step, task): the task's primary metric averaged over seeds (``value``) and the
    mean standard error (``stderr``). Input: the downstream table."""
    # a filtered metric ("exact_match,remove_whitespace" for TriviaQA) counts as its metric
    keep = table[[m.split(",")[0] == metric_of(t) for t, m in zip(table["task"], table["metric"])]]
    return (keep.groupby(["mixture", "step", "task"], as_index=False)
            .agg(value=("value", "mean"), stderr=("stderr", "mean"), n_seeds=("seed", "nunique")))


def average_over_tasks(summary):
    """Figure 4's quantity: per (mixture, step), the unweighted mean over tasks of the primary metric,
    with the standard error of that mean, sqrt(sum of squared stderrs) / n_tasks (tasks independent)."""
    import numpy as np

    g = summary.groupby(["mixture", "step"])
    return g.agg(value=("value", "mean"), n_tasks=("task", "nunique")).assign(
        stderr=g["stderr"].apply(lambda se: float(np.sqrt(np.nansum(np.square(se)))) / len(se))).reset_index()


def average_over_steps(summary):
    """Per (mixture, task): the primary metric averaged over the evaluated steps (and its mean stderr)."""
    return (summary.groupby(["mixture", "task"], as_index=False)
            .agg(value=("value", "mean"), stderr=("stderr", "mean"), n_steps=("step", "nunique")))


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bimix.profiles import PROFILES

    parser.add_argument("--profile", default="cpu", help="smoke | cpu | cpu-long | gpu | paper (default: cpu)")
    parser.add_argument("--runs-dir", default=None, help="run table folder (default data/runs/PROFILE)")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated lm-eval tasks; 'local' = the local tasks (default: local on "
                             f"smoke/cpu, {','.join(PAPER_TASKS)} on gpu/paper)")
    parser.add_argument("--runs", default=None, help="comma-separated run ids (default: every complete run)")
    parser.add_argument("--steps", choices=("all", "final"), default="all",
                        help="all exported checkpoints (default) or the final one only")
    parser.add_argument("--n-items", type=int, default=None, help="local tasks: items per domain and task")
    parser.add_argument("--domains", default=None, help="local tasks: comma-separated domains (default all)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many documents per task")
    parser.add_argument("--batch-size", type=int, default=32, help="lm-eval batch size")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="auto (default): cuda when torch sees a GPU, else cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    from bimix.train.export import ExportError
    from bimix.train.localtasks import TaskBuildError
    from bimix.paths import RUNS_DIR

    def names(text):
        return [x.strip() for x in text.split(",") if x.strip()] if text else None

    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        from bimix.train.proxy import resolve_device

        device = resolve_device(args.device)  # --device cuda without a GPU: one error line, exit 2
        runs_dir = Path(args.runs_dir) if args.runs_dir else RUNS_DIR / args.profile.name
        meta = evaluate_runs(runs_dir, names(args.tasks), profile=args.profile.name, runs=names(args.runs),
                             steps=args.steps, n_items=args.n_items,
                             domains=tuple(names(args.domains)) if args.domains else None,
                             limit=args.limit, batch_size=args.batch_size, device=device)
    except (EvaluateError, ExportError, TaskBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConnectionError as exc:  # datasets' way of saying the Hub is out of reach
        print(f"error: {exc}; the paper's tasks are downloaded from the Hugging Face Hub "
              f"(offline, use --tasks local)", file=sys.stderr)
        return 1
    for note in meta.get("skipped", []):
        print(f"skipped {note}", file=sys.stderr)
    table = read_table(meta["table"])
    if len(table):
        print(summarise(table).to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"wrote {meta['table']}")
    return 0
