"""The package layout stays true: imports run only downward through the stages
(top-level helpers → data → law → train → compendium → cli), and a profile name is resolved only at the
edges. Walks the source with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bimix"
STAGES = {"data": 1, "law": 2, "train": 3, "compendium": 4}
EDGE = {"bimix.cli": 5, "bimix.__main__": 5}
# The only modules that turn a profile name into a Profile (docs/architecture.md, "Configuration"): the
# command line, config files (and the notebooks' resolve_profile there), and the registry itself.
GET_PROFILE_ALLOWED = {"bimix.cli", "bimix.config", "bimix.profiles"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> int:
    """0 for the top-level helpers (files, paths, profiles, config, provenance), 1-4 for a stage."""
    if module in EDGE:
        return EDGE[module]
    parts = module.split(".")
    return STAGES.get(parts[1], 0) if len(parts) > 1 else 0


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every bimix import in the file, also those inside functions."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bimix"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "bimix":
                continue
            # `from bimix.law import forms` imports the sub-module bimix.law.forms
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if (PACKAGE.parent / sub.replace(".", "/")).exists()
                              or (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else target))
    return found


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "site_template" not in p.parts)


def upward_imports() -> list[str]:
    bad = []
    for path in sources():
        here = module_name(path)
        for line, target in imported_modules(path):
            if stage(target) > stage(here):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {here} (stage {stage(here)}) "
                           f"imports {target} (stage {stage(target)})")
    return bad


def test_no_import_runs_upward():
    assert upward_imports() == []


def test_every_stage_is_a_package_with_its_rule():
    for name in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"bimix/{name}/__init__.py must say what it may import"


def test_the_walker_sees_an_upward_import(tmp_path, monkeypatch):
    """The check itself can fail: a data module importing the law is reported, also inside a function."""
    fake = tmp_path / "bimix"
    (fake / "data").mkdir(parents=True)
    (fake / "law").mkdir()
    for init in (fake / "__init__.py", fake / "data" / "__init__.py", fake / "law" / "__init__.py"):
        init.write_text("")
    (fake / "law" / "forms.py").write_text("")
    (fake / "data" / "runs.py").write_text("def f():\n    from bimix.law import forms\n    return forms\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert [b.split(": ", 1)[1] for b in upward_imports()] == [
        "bimix.data.runs (stage 1) imports bimix.law.forms (stage 2)"]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_profiles_are_resolved_only_at_the_edges(path):
    """Below the edges a function takes a resolved Profile (or its parts), never a name to look up."""
    if module_name(path) in GET_PROFILE_ALLOWED:
        return
    calls = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
             == "get_profile"]
    assert calls == [], f"get_profile called at line(s) {calls}: take a resolved Profile instead"
