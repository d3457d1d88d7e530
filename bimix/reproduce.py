"""Run the notebooks of a profile with papermill, in pipeline order.

Executed copies go to ``build/<profile>/notebooks/`` (git-ignored), never over the sources. Every
notebook receives ``profile``, ``figures_dir`` and ``results_dir`` plus the registry's parameters for
that profile; a parameter the notebook does not declare is refused before anything runs (papermill
itself only warns). A failing cell stops the run with the notebook's name, the cell and the error.
``build/<profile>/manifest.json`` records code version, parameters, durations and package versions.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bimix.files import read_json, write_json
from bimix.paths import BUILD_DIR, FIGURES_DIR, NOTEBOOKS_DIR, REPO_ROOT
from bimix.profiles import PROFILES
from bimix.provenance import environment

ALWAYS_INJECTED = ("profile", "figures_dir", "results_dir")


class ReproduceError(RuntimeError):
    pass


class ParameterError(ReproduceError):
    pass


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
    NotebookSpec("00_law_in_five_minutes", {"smoke": {"n_bootstrap": 20}, "cpu": {}, "gpu": {}, "paper": {}},
                 fast=True),
    NotebookSpec("01_build_corpus"),
    NotebookSpec("02_entropy_mixtures", {"smoke": {"n_docs": 200}, "cpu": {}, "gpu": {},
                                         "paper": {"tokenizers": "hf", "num_proc": 16}}),
    NotebookSpec("03_doremi"),
    NotebookSpec("04_proxy_pretraining"),
    NotebookSpec("05_fit_law", {"smoke": {"n_bootstrap": 20, "lomo_starts": 1}, "cpu": {}, "gpu": {},
                                "paper": {"n_bootstrap": 1000}}, fast=True),
    NotebookSpec("06_optimize_mixture"),
    NotebookSpec("07_public_runs", {"smoke": {"public_dir": "tests/fixtures", "n_bootstrap": 10, "lomo_starts": 1,
                                              "lightgbm_iterations": 100, "download": False},
                                    "cpu": {}, "gpu": {}, "paper": {"n_bootstrap": 1000}}, fast=True),
)


def declared_parameters(path: Path) -> dict[str, dict]:
    import papermill

    return dict(papermill.inspect_notebook(str(path)))


def _select(profile: str, only: list[str] | None, fast: bool = False) -> list[NotebookSpec]:
    if profile not in PROFILES:
        raise ReproduceError(f"unknown profile {profile!r}; choose from: {', '.join(PROFILES)}")
    names = [spec.name for spec in NOTEBOOKS]
    unknown = [n for n in (only or []) if n not in names]
    if unknown:
        raise ReproduceError(f"unknown notebook(s) {unknown}; registered: {', '.join(names)}")
    return [spec for spec in NOTEBOOKS
            if profile in spec.profiles and (not only or spec.name in only) and (spec.fast or not fast)]


def plan(profile: str, only: list[str] | None = None, *, figures_dir: Path | None = None,
         results_dir: Path | None = None, extra: Mapping[str, Any] | None = None, fast: bool = False
         ) -> list[tuple[NotebookSpec, dict[str, Any]]]:
    """The notebooks that would run and the parameters each receives (validated)."""
    out_dir = BUILD_DIR / profile
    figures_dir = Path(figures_dir or FIGURES_DIR)
    results_dir = Path(results_dir or out_dir / "results")
    steps = []
    for spec in _select(profile, only, fast):
        params = {"profile": profile, "figures_dir": str(figures_dir),
                  "results_dir": str(results_dir), **spec.profiles[profile], **(extra or {})}
        declared = declared_parameters(spec.path)
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ParameterError(
                f"notebook {spec.name} does not declare parameter(s) {unknown}; "
                f"it declares: {', '.join(sorted(declared)) or 'none'}")
        steps.append((spec, params))
    return steps


def reproduce(profile: str = "cpu", only: list[str] | None = None, *, keep_going: bool = False,
              dry_run: bool = False, output_dir: Path | None = None, figures_dir: Path | None = None,
              results_dir: Path | None = None, extra: Mapping[str, Any] | None = None,
              fast: bool = False, progress: bool = True) -> dict:
    """Execute the selected notebooks; returns the manifest (also written beside them)."""
    import papermill
    from tqdm.auto import tqdm

    out_dir = Path(output_dir or BUILD_DIR / profile)
    if results_dir is None and output_dir is not None:
        results_dir = out_dir / "results"
    steps = plan(profile, only, figures_dir=figures_dir, results_dir=results_dir, extra=extra, fast=fast)
    manifest = {"profile": profile, "fast": fast, "environment": environment(), "notebooks": [],
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if dry_run:
        for spec, params in steps:
            print(f"{spec.name}: {params}")
        return manifest
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    failures = []
    bar = tqdm(steps, desc=f"reproduce [{profile}]", unit="notebook", disable=not progress)
    for spec, params in bar:
        bar.set_postfix_str(spec.name)
        Path(params["results_dir"]).mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        entry = {"name": spec.name, "parameters": params,
                 "output": str(out_dir / "notebooks" / f"{spec.name}.ipynb")}
        try:
            papermill.execute_notebook(str(spec.path), entry["output"], parameters=params,
                                       kernel_name="python3", cwd=str(REPO_ROOT),
                                       progress_bar=False, log_output=False)
            entry["status"] = "ok"
        except papermill.PapermillExecutionError as exc:
            entry["status"] = "failed"
            entry["error"] = (f"notebook {spec.name} failed in cell {exc.exec_count} "
                              f"(index {exc.cell_index}): {exc.ename}: {exc.evalue}")
            failures.append(entry["error"])
        entry["seconds"] = round(time.perf_counter() - started, 2)
        results = Path(params["results_dir"]) / f"{spec.name}.json"
        if results.exists():
            entry["results"] = str(results)
        manifest["notebooks"].append(entry)
        write_json(out_dir / "manifest.json", manifest)
        if failures and not keep_going:
            break
    manifest["seconds"] = round(sum(e["seconds"] for e in manifest["notebooks"]), 2)
    manifest["inputs"] = _input_hashes(manifest)
    write_json(out_dir / "manifest.json", manifest)
    if failures:
        raise NotebookFailed("\n".join(failures) + f"\n(executed copies in {out_dir / 'notebooks'})")
    return manifest


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
    parser.add_argument("--profile", default="cpu", choices=list(PROFILES), help="default: cpu")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks")
    parser.add_argument("--list", action="store_true", help="list the registered notebooks and exit")
    parser.add_argument("--dry-run", action="store_true", help="show what would run, with parameters")
    parser.add_argument("--keep-going", action="store_true", help="continue after a failing notebook")
    parser.add_argument("--fast", action="store_true",
                        help="only the notebooks that refit and redraw from committed run tables (no training)")
    parser.add_argument("--output-dir", type=Path, help="default: build/<profile>")
    parser.add_argument("--figures-dir", type=Path, help="default: figures/")
    parser.add_argument("-p", "--parameter", type=_parameter, action="append", default=[],
                        metavar="NAME=VALUE", help="extra parameter for every selected notebook")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for spec in NOTEBOOKS:
            fast = "  (fast path)" if spec.fast else ""
            print(f"{spec.name:<32} profiles: {', '.join(spec.profiles)}{fast}")
        return 0
    try:
        manifest = reproduce(args.profile, args.only, keep_going=args.keep_going,
                             dry_run=args.dry_run, output_dir=args.output_dir,
                             figures_dir=args.figures_dir, extra=dict(args.parameter), fast=args.fast)
    except ReproduceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for entry in manifest["notebooks"]:
        print(f"{entry['name']:<32} {entry['status']:<7} {entry['seconds']:>8.1f} s")
    return 0
