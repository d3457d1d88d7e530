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
evaluated again. The task hashes are kept per run (``task_hashes_by_run``), so scoring one run
differently (``--limit``) replaces that run's rows only.

Several processes may evaluate into one table: after every checkpoint the table is read again, the
new rows merged in and the result written atomically, all under an exclusive lock on the folder
(:func:`bimix.files.locked`), so no process writes over rows another one added. Every read is
verified (:func:`read_table`): a table whose last line was cut, with missing columns, empty required
fields or a (run, step, task) lacking metrics its task has elsewhere, is refused with the rows at
fault; ``--repair`` drops those rows' groups (they are scored again) and goes on.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from bimix.files import atomic_path, locked, read_json, write_json

COLUMNS = ("run", "mixture", "seed", "step", "task", "metric", "value", "stderr")
REQUIRED = COLUMNS[:-1]  # every row has these; stderr may be empty (lm-eval gives none for some metrics)
GROUP = ("run", "step", "task")  # the rows one evaluation of one task writes together
PAPER_TASKS = ("lambada_openai", "triviaqa", "webqs")
DEFAULT_TASKS = {"smoke": ("local",), "cpu": ("local",), "gpu": PAPER_TASKS, "paper": PAPER_TASKS}
# The metric each task's figure shows: exact match where the paper uses it.
PRIMARY_METRIC = {"lambada_openai": "acc", "triviaqa": "exact_match", "webqs": "exact_match",
                  "bimix_lastword": "acc", "bimix_choice": "acc"}
NUM_FEWSHOT = 1  # one-shot, as in the paper


class EvaluateError(RuntimeError):
    """Nothing to evaluate, or inputs that cannot be evaluated."""


class EvaluateInputError(EvaluateError, ValueError):
    """A bad option (``--n-items -5``, ``--device cuda`` without CUDA); refused before any work."""


class TableError(ValueError):
    """``downstream.csv`` is torn or malformed; the message names the rows and how to repair."""


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
                        "seq_len": int(side["model"]["seq_len"]), "sidecar": side})
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
            overrides = {"n_items": n_items} if n_items is not None else {}
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


def _parse(raw: bytes):
    import pandas as pd

    return pd.read_csv(io.BytesIO(raw), dtype={"run": "string", "mixture": "string", "task": "string",
                                               "metric": "string"})


def table_faults(raw: bytes) -> tuple[str, "pd.DataFrame", "pd.Series"]:
    """What is wrong with the bytes of a downstream table: (description or "", the parsed table, a
    boolean mask of the rows a repair drops). Each fault marks whole (run, step, task) groups, since
    evaluation skips a group that has any row: a group left incomplete would never be scored again."""
    import pandas as pd

    if not raw.strip():
        return "", pd.DataFrame(columns=list(COLUMNS)), pd.Series(dtype=bool)
    lines = raw.split(b"\n")
    torn = not raw.endswith(b"\n")  # a write cut mid-row; pandas would read it as a short row
    if torn and len(lines) == 1:
        raise TableError("is cut inside its header: it holds no rows; delete it and evaluate again")
    body = b"\n".join(lines[:-1]) + b"\n" if torn else raw
    df = _parse(body)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise TableError(f"has no column(s) {', '.join(missing)}: it is not a table `evaluate` wrote; "
                         "move it aside and evaluate again")
    bad_row = df[list(REQUIRED)].isna().any(axis=1)
    for col in ("seed", "step"):  # integers, or the table was cut or edited
        bad_row |= pd.to_numeric(df[col], errors="coerce").isna()
    key = [df[c].astype("string").fillna("") for c in GROUP]
    group = pd.Series(list(zip(*key)), index=df.index)
    # a group lacking a metric the same task has in other groups lost rows
    expected = df[~bad_row].groupby("task")["metric"].agg(frozenset)
    have = df[~bad_row].groupby(list(GROUP))["metric"].agg(frozenset)
    short = {(str(r), str(st), str(t)) for (r, st, t), m in have.items() if m < expected[t]}
    faults = []
    if torn:
        faults.append(f"its last line ({len(lines)}) is cut mid-row")
        if len(df):
            short.add(group.iloc[-1])  # the cut row belongs to the last group, or begins the next one
    if bad_row.any():
        rows = [int(i) + 2 for i in df.index[bad_row][:3]]  # file line numbers (1 = header)
        faults.append(f"{int(bad_row.sum())} row(s) have empty or non-integer required fields (line(s) "
                      f"{', '.join(map(str, rows))}{' ...' if bad_row.sum() > 3 else ''})")
        short |= set(group[bad_row])
    lacking = short - set(group[bad_row]) - ({group.iloc[-1]} if torn and len(df) else set())
    if lacking:
        faults.append(f"{len(lacking)} (run, step, task) group(s) lack metrics the task has elsewhere, e.g. "
                      f"{' '.join(sorted(lacking)[0])}")
    drop = group.isin(short) | bad_row
    return "; ".join(faults), df, drop


def read_table(csv_path: str | os.PathLike):
    """The downstream table, verified (:func:`table_faults`); :class:`TableError` says what is torn
    and how to repair it. A missing file is an empty table."""
    import pandas as pd

    path = Path(csv_path)
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS)).astype({c: "string" for c in ("run", "mixture", "task", "metric")})
    try:
        faults, df, drop = table_faults(path.read_bytes())
    except TableError as exc:
        raise TableError(f"{path} {exc}") from None
    if faults:
        raise TableError(f"{path} is torn: {faults}; `python -m bimix evaluate --repair` (with the same "
                         f"options) drops the {int(drop.sum())} row(s) of the affected (run, step, task) "
                         "groups and scores them again")
    return df.astype({"seed": int, "step": int})


def repair_table(csv_path: str | os.PathLike) -> list[str]:
    """Drop the rows :func:`table_faults` marks (whole (run, step, task) groups, so evaluation scores
    them again), under the folder's lock; returns one note per dropped group (empty: nothing to do)."""
    path = Path(csv_path)
    if not path.exists():
        return []
    with locked(path.parent):
        try:
            faults, df, drop = table_faults(path.read_bytes())
        except TableError as exc:
            raise TableError(f"{path} {exc}") from None
        if not faults:
            return []
        dropped = sorted({tuple(str(df.loc[i, c]) for c in GROUP) for i in df.index[drop]})
        _write_table(df[~drop].astype({"seed": int, "step": int}), path)
    return [f"repaired {path} ({faults}): dropped {int(drop.sum())} row(s)",
            *(f"dropped the rows of run {r} step {st} task {t}; evaluate scores them again" for r, st, t in dropped)]


def _write_table(df, csv_path: Path) -> None:
    df = df.sort_values(["run", "step", "task", "metric"], kind="stable").reset_index(drop=True)
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", columns=list(COLUMNS))


def run_task_hashes(meta: Mapping, table) -> dict[str, dict[str, str]]:
    """{run: {task: hash}} of the rows in ``table``; a ``downstream.json`` written before hashes were
    kept per run gives every run of the table its one ``task_hashes``."""
    if "task_hashes_by_run" in meta:
        return {r: dict(h) for r, h in meta["task_hashes_by_run"].items()}
    shared = meta.get("task_hashes", {})
    return {str(r): {t: shared[t] for t in set(g["task"]) if t in shared} for r, g in table.groupby("run")}


def merge_scores(runs_dir: str | os.PathLike, checkpoint: Mapping, rows: Sequence[Mapping],
                 hashes: Mapping[str, str], meta_update: Mapping | None = None, timing: Mapping | None = None):
    """Merge one checkpoint's rows into ``downstream.csv`` (and its hashes and timing into
    ``downstream.json``) under the folder's lock: read both again, replace this run's rows of the
    tasks scored now at this step (and of tasks whose definition changed, at every step), keep every
    other row, write both atomically. Returns the merged table."""
    import pandas as pd

    csv_path, meta_path = downstream_paths(runs_dir)
    run, step = checkpoint["run"], int(checkpoint["step"])
    scored = sorted({r["task"] for r in rows} | set(hashes))
    with locked(Path(runs_dir)):
        table = read_table(csv_path)
        meta = read_json(meta_path) if meta_path.exists() else {}
        by_run = run_task_hashes(meta, table)
        mine = by_run.setdefault(run, {})
        redefined = [t for t, h in hashes.items() if mine.get(t) not in (None, h)]
        mine.update(hashes)
        replaced = (table["run"] == run) & (table["task"].isin(redefined)
                                            | ((table["step"] == step) & table["task"].isin(scored)))
        new = pd.DataFrame([{"run": run, "mixture": checkpoint["mixture"], "seed": int(checkpoint["seed"]),
                             "step": step, **r} for r in rows], columns=list(COLUMNS))
        table = pd.concat([table[~replaced], new], ignore_index=True) if len(new) else table[~replaced]
        _write_table(table, csv_path)
        meta.update(meta_update or {})
        meta["task_hashes_by_run"] = by_run
        meta["task_hashes"] = {**meta.get("task_hashes", {}), **hashes}
        meta["timings"] = [*meta.get("timings", []), *([timing] if timing else [])]
        write_json(meta_path, meta)
    return table


def _done(table, meta: Mapping, run: str, step: int, hashes: Mapping[str, str]) -> set[str]:
    """The tasks of ``run`` at ``step`` already scored under the same definition."""
    recorded = run_task_hashes(meta, table).get(run, {})
    rows = table[(table["run"] == run) & (table["step"] == step)]
    return {t for t in set(rows["task"]) if recorded.get(t) in (None, hashes.get(t))}


def evaluate_runs(runs_dir: str | os.PathLike, tasks: Sequence[str] | None = None, *,
                  profile: str | None = None, runs: Sequence[str] | None = None, steps: str = "all",
                  n_items: int | None = None, domains: tuple[str, ...] | None = None, limit: int | None = None,
                  batch_size: int = 32, device: str = "cpu", tasks_dir=None, bootstrap_iters: int = 1000,
                  progress: bool = True, workers: int = 1) -> dict:
    """Evaluate a run table's checkpoints, update ``downstream.csv``/``.json`` beside it and return
    the provenance dict (with ``table``: the rows of this table).

    ``workers > 1`` on the CPU splits the runs between that many single-thread processes (a tiny
    proxy parallelises poorly inside one process: two single-thread workers score ~1.4x the
    checkpoints per second of one two-thread process on 2 cores). Each merges its rows under the
    table's lock, so the table is the same as one process writes: rows are sorted, scores equal."""
    from importlib.metadata import version

    from bimix.provenance import code_version, environment
    from bimix.train.export import verified_export

    runs_dir = Path(runs_dir)
    if not (runs_dir / "runs.csv").exists() and not (runs_dir / "sidecars").is_dir():
        raise EvaluateError(f"no run table in {runs_dir} (expected runs.csv and sidecars/)")
    read_table(downstream_paths(runs_dir)[0])  # a torn table is refused before any work
    checkpoints, skipped = find_checkpoints(runs_dir, runs, steps)
    if not checkpoints:
        why = "; ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        raise EvaluateError(f"no run in {runs_dir} has a saved final model in the cache"
                            + (f" ({why})" if why else ""))
    profile = profile or checkpoints[0]["profile"]
    names = list(tasks or DEFAULT_TASKS.get(profile, ("local",)))
    csv_path, meta_path = downstream_paths(runs_dir)
    run_ids = list(dict.fromkeys(ck["run"] for ck in checkpoints))
    if workers > 1 and device == "cpu" and len(run_ids) > 1:
        options = dict(tasks=tasks, profile=profile, steps=steps, n_items=n_items, domains=domains, limit=limit,
                       batch_size=batch_size, device=device, tasks_dir=tasks_dir,
                       bootstrap_iters=bootstrap_iters, progress=progress)
        _in_workers(runs_dir, [run_ids[k::workers] for k in range(min(workers, len(run_ids)))], options)
        meta = read_json(meta_path) if meta_path.exists() else {}
        meta["skipped"] = skipped
        meta["table"] = str(csv_path)
        return meta
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
        # read again for every checkpoint: another process may have added rows meanwhile
        table = read_table(csv_path)
        meta = read_json(meta_path) if meta_path.exists() else {}
        done = _done(table, meta, ck["run"], ck["step"], hashes)
        todo = [t for t in task_names if t not in done]
        if not todo:
            continue
        if key not in managers:
            managers[key] = task_manager(task_names, include)
        manager = managers[key]
        if progress:
            print(f"[{i + 1}/{len(checkpoints)}] {ck['run']} step {ck['step']}: {len(todo)} task(s)",
                  file=sys.stderr, flush=True)
        folder = verified_export(ck, ck["sidecar"], runs_dir)  # its files as exported, or exported again
        rows, timing = evaluate_checkpoint(folder, todo, manager, batch_size=batch_size, device=device,
                                           limit=limit, bootstrap_iters=bootstrap_iters)
        merge_scores(runs_dir, ck, rows, {t: hashes[t] for t in todo},
                     meta_update={"lm_eval_version": version("lm_eval"), "num_fewshot": NUM_FEWSHOT,
                                  "limit": limit, "tasks": names, "code_version": code_version(),
                                  "environment": environment(), "skipped": skipped},
                     timing={"run": ck["run"], "step": ck["step"], "tasks": todo, **timing,
                             "device": device, "threads": _threads()})
    meta = read_json(meta_path) if meta_path.exists() else {}
    meta["skipped"] = skipped
    meta["table"] = str(csv_path)
    return meta


def _evaluate_share(runs_dir: str, runs: list[str], options: dict) -> None:
    evaluate_runs(runs_dir, runs=runs, workers=1, **options)


def _in_workers(runs_dir: Path, shares: list[list[str]], options: dict) -> None:
    """Score each share of the runs in its own single-thread process (the sweep's worker set-up: a
    worker dies with its parent); the first failure is raised here."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from bimix.train.sweep import init_worker

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=ctx, initializer=init_worker,
                             initargs=(None, 1)) as pool:
        futures = [pool.submit(_evaluate_share, str(runs_dir), share, options) for share in shares]
        for fut in futures:
            fut.result()


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
    parser.add_argument("--device", default="auto",
                        help="auto (default): cuda when torch sees a GPU, else cpu; or cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=None,
                        help="CPU: single-thread processes sharing the runs (default: the profile's "
                             "proxy.workers)")
    parser.add_argument("--repair", action="store_true",
                        help="first drop the torn rows of downstream.csv (whole run/step/task groups, which "
                             "are then scored again) instead of refusing the table")


def check_options(args: argparse.Namespace) -> str:
    """Refuse bad options before any work (no task file, no export); returns the device."""
    import torch

    for name in ("n_items", "limit", "batch_size", "workers"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise EvaluateInputError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        raise EvaluateInputError(f"--device {args.device}: {exc}") from None
    kind = device.type
    if kind == "cuda" and not torch.cuda.is_available():
        raise EvaluateInputError(f"--device {args.device}: torch {torch.__version__} sees no CUDA device"
                                 f"{'' if torch.version.cuda else ' (a CPU-only build)'}; use --device cpu")
    if kind == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise EvaluateInputError(f"--device {args.device}: torch sees {torch.cuda.device_count()} CUDA "
                                 f"device(s), numbered from 0")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise EvaluateInputError(f"--device {args.device}: no Apple GPU (MPS) available; use --device cpu")
    return args.device


def run(args: argparse.Namespace) -> int:
    from bimix.train.export import ExportError
    from bimix.train.localtasks import TaskBuildError
    from bimix.paths import RUNS_DIR

    def names(text):
        return [x.strip() for x in text.split(",") if x.strip()] if text else None

    # bad options and a torn table go to the command line's handler: one line, exit 2
    device = check_options(args)
    runs_dir = Path(args.runs_dir) if args.runs_dir else RUNS_DIR / args.profile.name
    if args.repair:
        for note in repair_table(downstream_paths(runs_dir)[0]):
            print(note, file=sys.stderr)
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        meta = evaluate_runs(runs_dir, names(args.tasks), profile=args.profile.name, runs=names(args.runs),
                             steps=args.steps, n_items=args.n_items,
                             domains=tuple(names(args.domains)) if args.domains else None,
                             limit=args.limit, batch_size=args.batch_size, device=device,
                             workers=args.workers or (1 if args.threads else args.profile.proxy.workers))
    except (EvaluateError, ExportError, TaskBuildError) as exc:
        if isinstance(exc, ValueError):
            raise  # a bad setting: exit 2
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
