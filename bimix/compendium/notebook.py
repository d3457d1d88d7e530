"""What every notebook does around its science: where it writes, which run table it reads, its results.

A notebook's parameters name folders as strings (papermill passes literals only); :func:`places` turns
them into one :class:`Places`, resolved against the repository root, with the profile suffix every
output but the ``cpu`` profile's carries (``cpu``'s figures and tables are the committed ones). Its
writers keep a committed file whose content is equivalent (:mod:`bimix.compendium.outputs`), so a
rerun changes nothing tracked unless a number did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bimix.paths import BUILD_DIR, FIGURES_DIR, REPO_ROOT, RUNS_DIR


@dataclass(frozen=True)
class Places:
    profile: str
    figures: Path  # figures, and the Markdown tables that sit beside them
    results: Path  # the notebook's results JSON (and the smoke profile's run tables)

    @property
    def suffix(self) -> str:
        """``""`` for ``cpu`` (the committed outputs), ``_<profile>`` for every other profile."""
        return "" if self.profile == "cpu" else f"_{self.profile}"

    def runs_dir(self, runs_dir: str = "") -> Path | None:
        """The folder of the run table: ``runs_dir`` when given; for ``smoke``, ``results/runs/smoke``
        (smoke runs stay out of ``data/``); else None, the profile's own ``data/runs/<profile>``."""
        if runs_dir:
            return Path(runs_dir)
        return self.results / "runs" / self.profile if self.profile == "smoke" else None

    def run_table(self, runs_dir: str = "") -> Path:
        """The ``runs.csv`` a notebook fits on; a missing one names the command that writes it."""
        csv = (self.runs_dir(runs_dir) or RUNS_DIR / self.profile) / "runs.csv"
        if not csv.is_file():
            raise FileNotFoundError(
                f"no run table at {csv}. Produce it with the proxy sweep: python -m bimix sweep --profile "
                f"{self.profile} (or run notebook 04 for this profile), or pass runs_dir = a folder holding runs.csv.")
        return csv

    def figure(self, fig, name: str) -> dict[str, Path]:
        """``fig`` saved as ``<name><suffix>.pdf`` and ``.png`` (:func:`bimix.compendium.plots.save_figure`)."""
        from bimix.compendium.plots import save_figure

        return save_figure(fig, f"{name}{self.suffix}", self.figures)

    def table(self, name: str, text: str) -> Path:
        """``text`` (a caption and Markdown tables, :mod:`bimix.compendium.tables`) as ``<name><suffix>.md``
        beside the figures; an equivalent committed file is kept."""
        from bimix.compendium.outputs import write_text

        path = self.figures / f"{name}{self.suffix}.md"
        write_text(path, text)
        return path

    def write_results(self, name: str, results: Mapping[str, Any]) -> dict:
        """The notebook's results JSON, ``results/<name>.json``, made JSON-clean (numpy numbers as
        Python's, NaN as null); returns the dictionary as written."""
        from bimix.files import write_json
        from bimix.law.protocols import json_ready

        clean = json_ready(dict(results))
        write_json(self.results / f"{name}.json", clean)
        return clean


def places(profile: str, figures_dir: str = "", results_dir: str = "") -> Places:
    """The notebook parameters ``figures_dir`` and ``results_dir`` (empty: the repository's ``figures/``
    and ``build/results``) as :class:`Places` of ``profile``."""
    return Places(profile, Path(figures_dir) if figures_dir else FIGURES_DIR,
                  Path(results_dir) if results_dir else BUILD_DIR / "results")


def repo_relative(path: Path) -> str:
    """``path`` as a reader elsewhere can follow it: relative to the repository root when inside it."""
    path = Path(path)
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def committed_results(name: str, profile: str, path: str = "") -> Path | None:
    """The committed extract that stands in for notebook ``name``'s results where it cannot compute them
    (offline): ``path`` (relative to the repository root) when given, else
    ``data/results/<profile>/<name>.json``, else the ``cpu`` profile's; None when there is none."""
    if path:
        return REPO_ROOT / path
    return next((p for p in (REPO_ROOT / "data" / "results" / prof / f"{name}.json" for prof in (profile, "cpu"))
                 if p.is_file()), None)


def stand_in(name: str, profile: str, path: str = "") -> tuple[dict | None, str | None]:
    """The committed results of notebook ``name`` (:func:`committed_results`) and where they are, as a
    reader can follow it; ``(None, None)`` when there are none."""
    from bimix.files import read_json

    found = committed_results(name, profile, path)
    return (read_json(found), repo_relative(found)) if found and found.is_file() else (None, None)


def extract_frame(committed: Mapping[str, Any] | None, key: str, index: str | list[str] | None = None):
    """The table ``key`` of a committed extract (``committed["extract"][key]``, a list of records) as a
    DataFrame indexed by ``index``; None when there is no committed extract or it lacks the table."""
    import pandas as pd

    records = ((committed or {}).get("extract") or {}).get(key)
    if not records:
        return None
    frame = pd.DataFrame(records)
    return frame.set_index(index) if index else frame


class Timer:
    """Wall seconds of a ``with`` block, for the compute a notebook accounts for: ``with Timer() as t:``
    then ``t.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> "Timer":
        import time

        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        import time

        self.seconds = time.perf_counter() - self._start
