"""Run the notebooks of a profile with papermill, in pipeline order.

Executed copies go to ``build/<profile>/notebooks/`` (git-ignored), never over the sources. Every
notebook receives ``profile``, ``figures_dir`` and ``results_dir`` plus the registry's parameters for
that profile; a parameter the notebook does not declare is refused before anything runs (papermill
itself only warns). A failing cell stops the run with the notebook's name, the cell and the error;
a kernel that dies (killed, out of memory) is such a failure too, told in one line.
``build/<profile>/manifest.json`` records code version, parameters, durations and package versions,
and whether the installed packages are the lock file's (``lock``: see :func:`lock_status`).

An *exercise* (a ``-p`` parameter whose value differs from the committed run's, see
:func:`exercise_parameters`) writes nothing tracked: its executed copies, results and figures go to
``build/<profile>-exercise/`` and its notebooks read and extend a copy of the profile's committed run
folder there (``runs/``) instead of ``data/runs/<profile>/``.

Each executed copy is written into a scratch folder and renamed into place when papermill returns, so
the copy under the final name is always a whole run's (a failed one included: it shows the failing
cell). The kernel's own output (its log lines, and its tracebacks when it is shut down mid-cell) goes
to ``<notebook>.kernel.log`` beside the copy, not to the terminal; what the cells print stays in the
notebook. Ctrl-C stops the run with ``error: interrupted`` (exit 130): the interrupted notebook's
previous executed copy and results file are left as they were, and the manifest says which notebook
was interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from bimix.files import atomic_path, git_tracked, read_json, scratch_dir, signals_deferred, write_json
from bimix.paths import BUILD_DIR, FIGURES_DIR, NOTEBOOKS_DIR, REPO_ROOT, RUNS_DIR
from bimix.profiles import PROFILES
from bimix.provenance import environment

ALWAYS_INJECTED = ("profile", "figures_dir", "results_dir")
LOCK_FILE = REPO_ROOT / "requirements.lock"  # exact versions with hashes that `make venv` installs
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


class ReproduceError(RuntimeError):
    pass


class ParameterError(ReproduceError, ValueError):
    """A parameter the notebooks cannot take: bad input, exit 2."""


class NotebookFailed(ReproduceError):
    pass


@dataclass(frozen=True)
class NotebookSpec:
    name: str  # file stem in notebooks/
    profiles: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {p: {} for p in PROFILES})  # profile -> extra parameters
    source: Path | None = None  # default: notebooks/<name>.ipynb
    fast: bool = False  # part of the fast path: redraws from committed run tables, never trains

    @property
    def path(self) -> Path:
        return self.source or NOTEBOOKS_DIR / f"{self.name}.ipynb"


# Pipeline order. A notebook absent from a profile's mapping does not run in that profile.
NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec("00_law_in_five_minutes", {"smoke": {"n_bootstrap": 20}, "cpu": {}, "cpu-long": {}, "gpu": {}, "paper": {}},
                 fast=True),
    NotebookSpec("01_build_corpus"),
    NotebookSpec("02_entropy_mixtures", {"smoke": {"n_docs": 200}, "cpu": {}, "cpu-long": {}, "gpu": {},
                                         "paper": {"tokenizers": "hf", "num_proc": 16}}),
    NotebookSpec("03_doremi"),
    NotebookSpec("04_proxy_pretraining"),
    NotebookSpec("05_fit_law", {"smoke": {"n_bootstrap": 20, "lomo_starts": 1}, "cpu": {}, "cpu-long": {}, "gpu": {},
                                "paper": {"n_bootstrap": 1000}}, fast=True),
    NotebookSpec("06_optimize_mixture", {"smoke": {"n_bootstrap": 10}, "cpu": {}, "cpu-long": {}, "gpu": {},
                                         "paper": {"n_bootstrap": 1000}}),
    NotebookSpec("07_public_runs", {"smoke": {"public_dir": "tests/fixtures", "n_bootstrap": 10, "lomo_starts": 1,
                                              "lightgbm_iterations": 100, "download": False, "by_size_splits": 2,
                                              "by_size_lomo_max": 12, "slimpajama_boot": 20},
                                    "cpu": {}, "cpu-long": {}, "gpu": {}, "paper": {"n_bootstrap": 1000}}, fast=True),
    NotebookSpec("08_proxy_regime", {"smoke": {"n_starts": 1}, "cpu": {}, "cpu-long": {}, "gpu": {}, "paper": {}},
                 fast=True),
    NotebookSpec("09_downstream", {"smoke": {"n_items": 20, "steps": "final"}, "cpu": {}, "cpu-long": {}, "gpu": {},
                                   "paper": {}}),
    NotebookSpec("10_entropy_exponents", {"smoke": {"download": False, "n_boot": 200}, "cpu": {}, "cpu-long": {},
                                          "gpu": {}, "paper": {}}, fast=True),
    NotebookSpec("11_claims_vs_scale", {"smoke": {}, "cpu": {}, "cpu-long": {}, "gpu": {}, "paper": {}}, fast=True),
)


def declared_parameters(path: Path) -> dict[str, dict]:
    import papermill

    return dict(papermill.inspect_notebook(str(path)))


def _select(profile: str, only: list[str] | None, fast: bool = False) -> list[NotebookSpec]:
    from bimix.config import base_profile
    from bimix.profiles import ProfileError, known_names

    try:
        known_names([profile])
    except ProfileError as exc:
        raise ReproduceError(exc.args[0]) from None
    profile = base_profile(profile)  # a profile from a config file takes its base profile's notebooks
    names = [spec.name for spec in NOTEBOOKS]
    unknown = [n for n in (only or []) if n not in names]
    if unknown:
        raise ReproduceError(f"unknown notebook(s) {unknown}; registered: {', '.join(names)}")
    return [spec for spec in NOTEBOOKS
            if profile in spec.profiles and (not only or spec.name in only) and (spec.fast or not fast)]


# Profiles whose figures belong in the repository's figures/ (and README gallery); the others (the
# test profile) draw into build/<profile>/figures/, leaving the checkout clean.
COMMITTED_FIGURES = ("cpu", "gpu", "paper")

# ipykernel warns on every start that its local TCP sockets are unencrypted; the kernel runs on this
# machine for this process only, so the warning is noise in the batch log. Errors still show.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def default_figures_dir(profile: str) -> Path:
    return FIGURES_DIR if profile in COMMITTED_FIGURES else BUILD_DIR / profile / "figures"


def plan(profile: str, only: list[str] | None = None, *, figures_dir: Path | None = None,
         results_dir: Path | None = None, extra: Mapping[str, Any] | None = None, fast: bool = False,
         optional: Mapping[str, Any] | None = None) -> list[tuple[NotebookSpec, dict[str, Any]]]:
    """The notebooks that would run and the parameters each receives (validated). ``optional``
    parameters go only to the notebooks that declare them."""
    out_dir = BUILD_DIR / profile
    figures_dir = Path(figures_dir or default_figures_dir(profile))
    results_dir = Path(results_dir or out_dir / "results")
    steps = []
    for spec in _select(profile, only, fast):
        from bimix.config import base_profile

        params = {"profile": profile, "figures_dir": str(figures_dir),
                  "results_dir": str(results_dir), **spec.profiles[base_profile(profile)], **(extra or {})}
        declared = declared_parameters(spec.path)
        params.update({k: v for k, v in (optional or {}).items() if k in declared})
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ParameterError(
                f"notebook {spec.name} does not declare parameter(s) {unknown}; "
                f"it declares: {', '.join(sorted(declared)) or 'none'}")
        steps.append((spec, params))
    return steps


def committed_parameters(spec: NotebookSpec, profile: str) -> dict[str, Any]:
    """The parameters of the committed run of a notebook on ``profile``: each declared default (read
    from the parameters cell), overridden by the registry's values for the profile."""
    import ast

    from bimix.config import base_profile

    values: dict[str, Any] = {}
    for name, info in declared_parameters(spec.path).items():
        try:
            values[name] = ast.literal_eval(str(info.get("default")))
        except (ValueError, SyntaxError):
            values[name] = info.get("default")
    return {**values, **spec.profiles.get(base_profile(profile), {})}


def exercise_parameters(profile: str, only: list[str] | None, extra: Mapping[str, Any] | None,
                        fast: bool = False) -> dict[str, dict[str, list]]:
    """Per selected notebook, the parameters of ``extra`` that differ from its committed run, as
    name -> [committed value, given value]; empty when ``extra`` only repeats committed values. Where a
    notebook reads and writes (:data:`ROUTING_PARAMETERS`) is not a parameter of the science: a caller
    that routes a notebook elsewhere has chosen its folders."""
    out: dict[str, dict[str, list]] = {}
    for spec in _select(profile, only, fast) if extra else ():
        committed = committed_parameters(spec, profile)
        differ = {k: [committed[k], v] for k, v in extra.items()
                  if k in committed and k not in ROUTING_PARAMETERS and committed[k] != v}
        if differ:
            out[spec.name] = differ
    return out


def exercise_dir(profile: str) -> Path:
    """Where a run with parameters other than the committed ones writes (an exercise)."""
    return BUILD_DIR / f"{profile}-exercise"


def seed_exercise_runs(profile: str, runs_dir: Path) -> bool:
    """Give an exercise its own copy of the profile's committed run folder, so its notebooks reuse the
    committed runs and append any run they train to the copy, never to ``data/runs/``. An existing copy
    is kept (it may hold runs an earlier exercise trained; delete the folder to start afresh)."""
    import shutil

    source = RUNS_DIR / profile
    if (Path(runs_dir) / "runs.csv").exists() or not (source / "runs.csv").is_file():
        return False
    shutil.copytree(source, runs_dir, dirs_exist_ok=True)
    return True


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """name (normalised) -> version of every ``name==version`` pin in a requirements lock file."""
    pins = {}
    for line in Path(lock).read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins[_normalise(match.group(1))] = match.group(2)
    return pins


def lock_status(lock: Path = LOCK_FILE) -> dict:
    """Whether this environment is the lock's: ``used`` is true when every package the lock pins is
    installed at exactly that version; ``differ`` lists the others as name -> [locked, installed or None]
    (an environment made with ``make venv LOCK=``, by conda, or changed by hand after the install)."""
    lock = Path(lock)
    if not lock.is_file():
        return {"file": str(lock), "used": False, "missing": True}
    installed = {_normalise(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
                 if d.metadata["Name"]}
    pins = locked_versions(lock)
    differ = {name: [version, installed.get(name)] for name, version in sorted(pins.items())
              if not _same_version(version, installed.get(name))}
    return {"file": str(lock.relative_to(REPO_ROOT) if lock.is_relative_to(REPO_ROOT) else lock),
            "sha256": hashlib.sha256(lock.read_bytes()).hexdigest(), "packages": len(pins),
            "used": not differ, "differ": differ}


def _same_version(a: str, b: str | None) -> bool:
    if b is None:
        return False
    if a == b:
        return True
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


def reproduce(profile: str = "cpu", only: list[str] | None = None, *, keep_going: bool = False,
              dry_run: bool = False, output_dir: Path | None = None, figures_dir: Path | None = None,
              results_dir: Path | None = None, extra: Mapping[str, Any] | None = None,
              fast: bool = False, progress: bool = True, from_scratch: bool = False,
              config_optional: Mapping[str, Any] | None = None) -> dict:
    """Execute the selected notebooks; returns the manifest (also written beside them).

    ``from_scratch`` retrains every run into ``<output_dir>/runs`` (default output
    ``build/<profile>-scratch``), draws figures there too, leaves the committed tables and figures
    alone, and compares the rebuilt run table with the committed one (``comparison.json``)."""
    from tqdm.auto import tqdm

    optional = dict(config_optional or {})
    exercise = {} if from_scratch else exercise_parameters(profile, only, extra, fast)
    if exercise:  # parameters other than the committed run's: nothing tracked is written (an exercise)
        output_dir = Path(output_dir or exercise_dir(profile))
        figures_dir = Path(figures_dir or output_dir / "figures")
        if figures_dir.resolve() == FIGURES_DIR.resolve() or git_tracked(figures_dir):
            raise ParameterError(f"parameters {_describe(exercise)} differ from the committed run, whose "
                                 f"figures are in {figures_dir}; drop --figures-dir to draw them in "
                                 f"{output_dir / 'figures'}")
        optional.update({k: str(output_dir / "runs") for k in ("runs_dir", "profile_runs_dir") if k not in (extra or {})})
    if from_scratch:
        if fast:
            raise ReproduceError("--from-scratch retrains everything; it cannot be combined with --fast")
        output_dir = Path(output_dir or BUILD_DIR / f"{profile}-scratch")
        figures_dir = Path(figures_dir or output_dir / "figures")
        optional.update({"runs_dir": str(output_dir / "runs"), "profile_runs_dir": str(output_dir / "runs")})
    out_dir = Path(output_dir or BUILD_DIR / profile)
    if results_dir is None and output_dir is not None:
        results_dir = out_dir / "results"
    if figures_dir is None and output_dir is not None and profile not in COMMITTED_FIGURES:
        figures_dir = out_dir / "figures"
    steps = plan(profile, only, figures_dir=figures_dir, results_dir=results_dir, extra=extra, fast=fast,
                 optional=optional)
    for spec, params in steps:  # each notebook's results file is deleted before it runs: never a tracked one
        results = Path(params["results_dir"]) / f"{spec.name}.json"
        if git_tracked(results if results.is_absolute() else REPO_ROOT / results):
            raise ParameterError(f"results folder {params['results_dir']} holds {results.name}, a file the "
                                 "repository tracks; reproduce writes its results elsewhere (--output-dir)")
    manifest = {"profile": profile, "fast": fast, "environment": environment(), "lock": lock_status(),
                "notebooks": [], "exercise": exercise,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if exercise and progress:
        print(f"parameters differ from the committed run ({_describe(exercise)}): figures, results and "
              f"runs go to {out_dir}, nothing tracked is written", file=sys.stderr)
    if dry_run:
        for spec, params in steps:
            print(f"{spec.name}: {params}")
        manifest["planned"] = [{"name": spec.name, "parameters": params} for spec, params in steps]
        return manifest
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    if exercise and "runs_dir" not in (extra or {}):
        seed_exercise_runs(profile, out_dir / "runs")
    failures = []
    bar = tqdm(steps, desc=f"reproduce [{profile}]", unit="notebook", disable=not progress)
    for spec, params in bar:
        bar.set_postfix_str(spec.name)
        Path(params["results_dir"]).mkdir(parents=True, exist_ok=True)
        results = Path(params["results_dir"]) / f"{spec.name}.json"
        previous = results.read_bytes() if results.is_file() else None  # put back if interrupted
        started = time.perf_counter()
        output = out_dir / "notebooks" / f"{spec.name}.ipynb"
        entry = {"name": spec.name, "parameters": params, "output": str(output),
                 "kernel_log": str(output.with_suffix(".kernel.log"))}
        try:
            # an earlier run's claims must not outlive a failure of this one
            results.unlink(missing_ok=True)
            error = execute(spec, params, output)
        except KeyboardInterrupt:
            with signals_deferred():  # a second Ctrl-C cannot cut the restore short
                _restore(results, previous)
                entry.update(status="interrupted", seconds=round(time.perf_counter() - started, 2))
                manifest["notebooks"].append(entry)
                manifest["interrupted"] = spec.name
                write_json(out_dir / "manifest.json", manifest)
            raise
        entry["status"] = "failed" if error else "ok"
        if error:
            entry["error"] = error
            failures.append(error)
        entry["seconds"] = round(time.perf_counter() - started, 2)
        if entry["status"] == "ok" and results.exists():
            entry["results"] = str(results)
        elif results.exists():  # written by cells before the one that failed: not a result
            results.unlink()
        manifest["notebooks"].append(entry)
        write_json(out_dir / "manifest.json", manifest)
        if failures and not keep_going:
            break
    manifest["seconds"] = round(sum(e["seconds"] for e in manifest["notebooks"]), 2)
    manifest["inputs"] = _input_hashes(manifest)
    write_json(out_dir / "manifest.json", manifest)
    if from_scratch and not failures:
        manifest["comparison"] = compare_run_tables(RUNS_DIR / profile / "runs.csv", out_dir / "runs" / "runs.csv")
        write_json(out_dir / "comparison.json", manifest["comparison"])
        write_json(out_dir / "manifest.json", manifest)
    if failures:
        raise NotebookFailed("\n".join(failures) + f"\n(executed copies in {out_dir / 'notebooks'})")
    return manifest


def _describe(exercise: Mapping[str, Mapping[str, list]]) -> str:
    pairs = {k: v[1] for params in exercise.values() for k, v in params.items()}
    return ", ".join(f"{k}={v!r}" for k, v in pairs.items())


def _kernel_manager_logging_to(log) -> type:
    """A kernel manager class (for nbclient's ``kernel_manager_class``) whose kernel writes its own
    stdout and stderr into the open file ``log`` instead of this process's terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggingKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            await super().start_kernel(**kw)

    return LoggingKernelManager


def execute(spec: NotebookSpec, params: Mapping[str, Any], output: Path) -> str | None:
    """Execute one notebook into ``output``, whole or not at all; returns None when every cell ran,
    else the failure (notebook, cell, error) in one line. The kernel's own output goes to
    ``output.kernel.log``. A kernel that dies is a failure like a failing cell (the copy shows the cells
run until then); any other exception (Ctrl-C) leaves ``output`` as it was."""
    import papermill
    from nbclient.exceptions import DeadKernelError

    with scratch_dir(output) as scratch, open(output.with_suffix(".kernel.log"), "w") as log:
        executed = scratch / output.name  # papermill saves after every cell: never under the final name
        error = None
        records = _log_records_to(log)
        try:
            papermill.execute_notebook(str(spec.path), str(executed), parameters=dict(params),
                                       kernel_name="python3", cwd=str(REPO_ROOT),
                                       progress_bar=False, log_output=False,
                                       extra_arguments=KERNEL_ARGUMENTS,
                                       kernel_manager_class=_kernel_manager_logging_to(log))
        except papermill.PapermillExecutionError as exc:
            error = (f"notebook {spec.name} failed in cell {exc.exec_count} "
                     f"(index {exc.cell_index}): {exc.ename}: {exc.evalue}")
        except DeadKernelError:
            # the copy papermill saved stops at the cell the kernel died in: a failure, told in one line
            error = (f"notebook {spec.name}: the kernel died {_running_cell(executed)}(killed, out of "
                     f"memory or crashed; its last output is in {output.with_suffix('.kernel.log')})")
        finally:
            records()
        if executed.exists():
            os.replace(executed, output)
    return error


def _log_records_to(log) -> "Callable[[], None]":
    """Send the ``papermill`` logger's records (nbclient's "Kernel died while waiting for execute
    reply" among them) to the open kernel log instead of the terminal; returns the undo."""
    import logging

    logger = logging.getLogger("papermill")
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    was = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False

    def undo() -> None:
        logger.removeHandler(handler)
        logger.propagate = was

    return undo


def _running_cell(executed: Path) -> str:
    """'in the cell at index I ' for the first code cell of a saved copy that has no execution count
    (the kernel never answered it; papermill marks it completed all the same), else ''."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - no readable copy: the kernel died before the first save
        return ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("execution_count") is None:
            return f"in the cell at index {index} "
    return ""


def _restore(path: Path, previous: bytes | None) -> None:
    """Put back the bytes a file held (None: it did not exist)."""
    if previous is None:
        path.unlink(missing_ok=True)
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(previous)


def compare_run_tables(committed: Path, rebuilt: Path) -> dict:
    """Row-by-row comparison of two run tables on (run, step, domain): rows only in one of them, and
    the largest absolute and relative loss difference over the rows both have."""
    from bimix.data.runs import read_runs

    a, b = read_runs(committed), read_runs(rebuilt)
    key = ["run", "step", "domain"]
    both = a.merge(b, on=key, suffixes=("_committed", "_rebuilt"))
    diff = (both["loss_committed"] - both["loss_rebuilt"]).abs()
    worst = both.loc[diff.idxmax()] if len(both) else None
    return {"committed": str(committed), "rebuilt": str(rebuilt), "rows_compared": int(len(both)),
            "only_committed": int(len(a) - len(both)), "only_rebuilt": int(len(b) - len(both)),
            "max_abs_diff": float(diff.max()) if len(both) else None,
            "max_rel_diff": float((diff / both["loss_committed"].abs()).max()) if len(both) else None,
            "identical": bool(len(both) == len(a) == len(b) and (diff == 0).all()),
            "worst_row": {k: (worst[k].item() if hasattr(worst[k], "item") else worst[k])
                          for k in key} if worst is not None else None}


def _input_hashes(manifest: dict) -> dict:
    """Corpus, token-store and run-table identities, read from what the notebooks reported."""
    from bimix.files import sha256_file

    inputs: dict[str, Any] = {}
    for entry in manifest["notebooks"]:
        if "results" not in entry:
            continue
        claims = read_json(entry["results"])
        if entry["name"] == "01_build_corpus":
            inputs["corpus_hash"] = claims["corpus"]["hash"]
            inputs["stores"] = {k: v["store_id"] for k, v in claims["stores"].items()}
        for key in ("runs_csv",):
            path = claims.get(key)
            if path and Path(path).exists():
                inputs.setdefault("run_tables", {})[path] = sha256_file(path)
    return inputs


def load_results(name: str, results_dir: Path) -> dict:
    return read_json(Path(results_dir) / f"{name}.json")


# ---------------------------------------------------------------------------------------------- CLI

# Parameters that say where a notebook reads or writes: the profile, its config, its output folders and
# its run tables. They come from --profile, --config, --figures-dir and --output-dir only, so `-p` cannot
# send one profile's results into another's (e.g. `--profile smoke -p profile=cpu`).
ROUTING_PARAMETERS = {
    "profile": "--profile", "config": "--config", "figures_dir": "--figures-dir",
    "results_dir": "--output-dir", "runs_dir": "--output-dir (with --from-scratch to retrain into it)",
    "profile_runs_dir": "--output-dir (with --from-scratch to retrain into it)", "regimes_dir": "--profile",
    "committed_results": "--profile",
}


def check_parameters(extra: Mapping[str, Any]) -> None:
    """Refuse ``-p`` parameters that would redirect where the notebooks read or write."""
    routed = sorted(set(extra) & set(ROUTING_PARAMETERS))
    if routed:
        name = routed[0]
        raise ParameterError(f"-p {name}=... would redirect where the notebooks read or write; "
                             f"use {ROUTING_PARAMETERS[name]} instead")


def _parameter(text: str) -> tuple[str, Any]:
    import ast

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help=f"{' | '.join(PROFILES)} (default: cpu)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks")
    parser.add_argument("--list", action="store_true", help="list the registered notebooks and exit")
    parser.add_argument("--dry-run", action="store_true", help="show what would run, with parameters")
    parser.add_argument("--keep-going", action="store_true", help="continue after a failing notebook")
    parser.add_argument("--from-scratch", action="store_true",
                        help="retrain every run into build/<profile>-scratch and compare with the committed table")
    parser.add_argument("--fast", action="store_true",
                        help="only the notebooks that refit and redraw from committed run tables (no training)")
    parser.add_argument("--output-dir", type=Path,
                        help="default: build/<profile>; build/<profile>-exercise when a -p value differs from "
                             "the committed run")
    parser.add_argument("--figures-dir", type=Path,
                        help="default: figures/ (smoke: build/smoke/figures/, kept out of the checkout)")
    parser.add_argument("-p", "--parameter", type=_parameter, action="append", default=[],
                        metavar="NAME=VALUE", help="extra parameter for every selected notebook; a value other "
                        "than the committed run's makes the run an exercise: figures, results and a copy of "
                        "data/runs/<profile> in build/<profile>-exercise/, nothing tracked written")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for spec in NOTEBOOKS:
            fast = "  (fast path)" if spec.fast else ""
            print(f"{spec.name:<32} profiles: {', '.join(spec.profiles)}{fast}")
        return 0
    check_parameters(dict(args.parameter))  # a bad parameter goes to the command line's handler: exit 2
    try:
        manifest = reproduce(args.profile.name, args.only, keep_going=args.keep_going,
                             dry_run=args.dry_run, output_dir=args.output_dir,
                             figures_dir=args.figures_dir, extra=dict(args.parameter), fast=args.fast,
                             from_scratch=args.from_scratch,
                             config_optional={"config": str(Path(args.config).resolve())}
                             if getattr(args, "config", None) else None)
    except ParameterError:
        raise  # bad input: one line, exit 2
    except ReproduceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for entry in manifest["notebooks"]:
        print(f"{entry['name']:<32} {entry['status']:<7} {entry['seconds']:>8.1f} s")
    cmp = manifest.get("comparison")
    if cmp:
        print(f"rebuilt vs committed run table: {cmp['rows_compared']} rows compared, "
              f"{cmp['only_committed']} only committed, {cmp['only_rebuilt']} only rebuilt, "
              f"largest loss difference {cmp['max_abs_diff']} nats"
              + (" (identical)" if cmp["identical"] else ""))
    return 0
