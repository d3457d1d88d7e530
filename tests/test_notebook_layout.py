"""Notebooks narrate: each stays short, shows its science and folds its plumbing away.

Every notebook holds at most ``MAX_CODE_LINES`` non-blank lines of code (the plumbing lives in
``bimix``); its setup cell, the first code cell after the parameters, is collapsed (cell metadata
``jupyter.source_hidden``, JupyterLab's standard, which the site renders as "show code"); and no
collapsed cell takes a scientific step: a cell that fits the law, optimises a mixture, runs a protocol,
counts entropies or draws a figure stays open. The executed copies keep that metadata.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from bimix.compendium import site
from bimix.paths import NOTEBOOKS_DIR

MAX_CODE_LINES = 120
# calls that take a scientific step or draw what a reader checks: never in a collapsed cell (the builders
# of the results JSON, bimix.compendium.results, are named after their notebooks and take no step)
SCIENCE = re.compile(r"(?<!results\.)\b(fit_law|optimize_mixture|rival_optimum|extrapolate_steps|generalise_mixtures|bootstrap|"
                     r"compare_forms|lomo_points|analyse|run_regmix_benchmark|by_size_all|slimpajama_by_size|"
                     r"compute_entropies|softmax_mixture|against_natural|predicted_vs_measured|save_figure|figure|"
                     r"findings\.show)\(")
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def code_lines(nb: dict) -> int:
    """Non-blank source lines over the code cells."""
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code"
               for line in "".join(c["source"]).splitlines() if line.strip())


def hidden(cell: dict) -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"))


def layout_problems(nb: dict) -> list[str]:
    """What breaks the rules above, in words (empty when nothing does)."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    problems = []
    if code_lines(nb) > MAX_CODE_LINES:
        problems.append(f"{code_lines(nb)} lines of code, more than {MAX_CODE_LINES}")
    params = next((i for i, c in enumerate(code) if "parameters" in c["metadata"].get("tags", [])), None)
    setup = code[params + 1] if params is not None and params + 1 < len(code) else None
    if setup is None or not hidden(setup):
        problems.append("the setup cell (the first code cell after the parameters) is not collapsed")
    for c in code:
        src = "".join(c["source"])
        if hidden(c) and SCIENCE.search(src):
            problems.append(f"collapsed cell {c.get('id')} takes a scientific step: {SCIENCE.search(src).group(0)}")
    return problems


def test_every_notebook_is_found():
    assert len(NOTEBOOKS) >= 12, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_short_shows_its_science_and_folds_its_setup(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert layout_problems(nb) == [], f"{path.name}: {layout_problems(nb)}"


def _cell(source: str, hide: bool = False, tags=()) -> dict:
    meta = {"tags": list(tags)} if tags else {}
    if hide:
        meta["jupyter"] = {"source_hidden": True}
    return {"cell_type": "code", "id": str(abs(hash(source)))[:8], "metadata": meta, "source": source, "outputs": []}


def test_the_rules_catch_a_long_notebook_an_open_setup_and_a_hidden_fit():
    params = _cell('profile: str = "cpu"', tags=["parameters"])
    ok = {"cells": [params, _cell("import pandas as pd", hide=True), _cell("fit = fit_law(table)"),
                    _cell("claims = results.fit_law(fit=fit)", hide=True)]}
    assert layout_problems(ok) == []
    open_setup = {"cells": [params, _cell("import pandas as pd"), _cell("fit = fit_law(table)")]}
    assert any("setup cell" in p for p in layout_problems(open_setup))
    hidden_fit = {"cells": [params, _cell("import pandas as pd", hide=True), _cell("fit = fit_law(table)", hide=True)]}
    assert any("fit_law(" in p for p in layout_problems(hidden_fit))
    hidden_figure = {"cells": [params, _cell("import pandas as pd", hide=True), _cell('out.figure(fig, "x")', hide=True)]}
    assert any("figure(" in p for p in layout_problems(hidden_figure))
    long = {"cells": [params, _cell("\n".join(f"x{i} = {i}" for i in range(MAX_CODE_LINES)), hide=True)]}
    assert any("lines of code" in p for p in layout_problems(long))


def test_executed_copies_keep_the_collapsed_cells():
    """strip_notebook drops papermill's cell metadata, never JupyterLab's ``jupyter.source_hidden``."""
    nb = new_notebook(cells=[new_code_cell("import pandas as pd"), new_code_cell("fit = fit_law(table)")])
    nb.cells[0].metadata.update({"jupyter": {"source_hidden": True},
                                 "papermill": {"duration": 1.0, "status": "completed"}})
    nbformat.validate(nb)
    stripped = site.strip_notebook(nb, root="/machine/repo")
    assert stripped.cells[0].metadata == {"jupyter": {"source_hidden": True}}
    assert "jupyter" not in stripped.cells[1].metadata
