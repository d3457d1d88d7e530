"""The documentation a reader gets with a clone: no reference outside the repository, equations and
exercises in every notebook, and relative links (with their anchors) that resolve. Reads files only."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from bimix.compendium.site import github_slug as _slug  # the site gives headings the same ids
from bimix.paths import NOTEBOOKS_DIR, REPO_ROOT

# development-only notes that a clone does not have; spelled in pieces so this file does not match
FORBIDDEN = ("PAPER" + ".md", "RUN_TABLES" + ".md", "../" + "shared", "/work/" + "shared")
SKIP_DIRS = {".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # the "](target)" of links and images
ANCHOR_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
INLINE_MATH = re.compile(r"\$[^$\n]+\$")
TRY_IT = re.compile(r"^#{1,6}\s+Try it\b", re.MULTILINE)


def _tracked_files() -> list[Path]:
    """Files git tracks; without git (an unpacked archive), every file outside tool folders."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True,
                             timeout=60).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = []
    if names:
        return [REPO_ROOT / n for n in names if (REPO_ROOT / n).is_file()]
    files = []
    for root, dirs, fs in os.walk(REPO_ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        files += [Path(root) / f for f in fs]
    return files


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def _markdown_of(nb_path: Path) -> list[str]:
    nb = nbformat.read(nb_path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def _anchors(md_path: Path) -> set[str]:
    text = md_path.read_text(encoding="utf-8")
    return set(ANCHOR_ID.findall(text)) | {_slug(h) for h in HEADING.findall(text)}


def _documents() -> list[tuple[Path, str]]:
    """(file, markdown text) for README.md, docs/*.md and every notebook's markdown cells."""
    docs = [(REPO_ROOT / "README.md", (REPO_ROOT / "README.md").read_text(encoding="utf-8"))]
    docs += [(p, p.read_text(encoding="utf-8")) for p in sorted((REPO_ROOT / "docs").glob("*.md"))]
    docs += [(p, "\n\n".join(_markdown_of(p))) for p in _notebooks()]
    return docs


def _broken_links(source: Path, text: str) -> list[str]:
    # code spans and blocks hold examples, not links
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (source.parent / unquote(path_part)).resolve() if path_part else source.resolve()
        try:
            dest.relative_to(REPO_ROOT.resolve())
        except ValueError:
            broken.append(f"{target} (leaves the repository)")
            continue
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no anchor #{anchor} in {dest.name})")
    return broken


def test_no_reference_to_development_notes_in_any_tracked_file():
    files = _tracked_files()
    assert len(files) > 20, f"found only {len(files)} files under {REPO_ROOT}"
    hits = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # figures and other binary files
        for lineno, line in enumerate(text.splitlines(), 1):
            hits += [f"{path.relative_to(REPO_ROOT)}:{lineno}: {word}" for word in FORBIDDEN if word in line]
    assert not hits, "references to files a clone does not have:\n" + "\n".join(hits)


@pytest.mark.parametrize("nb_path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_writes_its_equations_and_ends_with_exercises(nb_path):
    cells = _markdown_of(nb_path)
    math = [c for c in cells if "$$" in c or INLINE_MATH.search(c.replace("$$", ""))]
    assert math, f"{nb_path.name}: no Markdown cell writes an equation in $...$ or $$...$$"
    unbalanced = [c.splitlines()[0] for c in cells if c.count("$$") % 2]
    assert not unbalanced, f"{nb_path.name}: unbalanced $$ in the cells starting {unbalanced}"
    assert TRY_IT.search(cells[-1] if cells else ""), f"{nb_path.name}: the last Markdown cell is not 'Try it'"


def test_every_relative_link_resolves_to_a_file_and_anchor():
    docs = _documents()
    assert (REPO_ROOT / "docs" / "paper.md") in [p for p, _ in docs], "docs/paper.md is missing"
    broken = {str(p.relative_to(REPO_ROOT)): b for p, t in docs if (b := _broken_links(p, t))}
    assert not broken, f"broken relative links: {broken}"


def test_link_checker_catches_a_missing_file_and_a_missing_anchor(tmp_path):
    """The link test above must be able to fail."""
    page = REPO_ROOT / "docs" / "paper.md"
    text = "[a](no_such_file.md) [b](paper.md#no-such-anchor) [c](paper.md#law) [d](https://example.org)"
    assert _broken_links(page, text) == ["no_such_file.md (no such file)",
                                         "paper.md#no-such-anchor (no anchor #no-such-anchor in paper.md)"]


def test_docstring_references_point_at_anchors_that_exist():
    """``docs/paper.md#<section>`` in code, comments and notebooks names a section that exists."""
    anchors = {"paper.md": _anchors(REPO_ROOT / "docs" / "paper.md"),
               "run_tables.md": _anchors(REPO_ROOT / "docs" / "run_tables.md")}
    ref = re.compile(r"docs/(paper\.md|run_tables\.md)#([\w-]+)((?:,\s*#[\w-]+)*)")
    missing = []
    for path in _tracked_files():
        if path.suffix not in (".py", ".ipynb", ".json", ".md"):
            continue
        for page, first, more in ref.findall(path.read_text(encoding="utf-8")):
            for anchor in [first] + re.findall(r"#([\w-]+)", more):
                if anchor not in anchors[page]:
                    missing.append(f"{path.relative_to(REPO_ROOT)}: {page}#{anchor}")
    assert not missing, "references to sections that do not exist:\n" + "\n".join(sorted(set(missing)))
