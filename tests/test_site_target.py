"""`python -m bimix site --out DIR` never deletes what it did not build: it refuses a folder holding
other files or tracked by git, and a failed or interrupted build leaves the previous site in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from bimix.cli import main
from bimix.compendium import site
from bimix.paths import REPO_ROOT


@pytest.fixture()
def source(tmp_path):
    """A folder of two small executed notebooks."""
    folder = tmp_path / "executed"
    folder.mkdir()
    for name in ("00_first", "01_second"):
        nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                   "language": "python"}})
        nb.cells = [new_markdown_cell(f"# {name}"),
                    new_code_cell("1 + 1", execution_count=1,
                                  outputs=[new_output("execute_result", data={"text/plain": "2"}, execution_count=1)])]
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder


def _args(source, out, tmp_path):
    (tmp_path / "no-figures").mkdir(exist_ok=True)
    return ["site", "--profile", "smoke", "--source", str(source), "--out", str(out),
            "--figures-dir", str(tmp_path / "no-figures"), "--cdn-mathjax"]


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_holding_other_files_is_refused_and_kept(source, tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\chapter{Results}\n")
    assert main(_args(source, thesis, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --out ") and "thesis.tex" in err
    assert [p.name for p in thesis.iterdir()] == ["thesis.tex"]
    # a file where the folder should be is refused too
    assert main(_args(source, thesis / "thesis.tex", tmp_path)) == 2
    assert (thesis / "thesis.tex").read_text() == "\\chapter{Results}\n"


def test_paths_git_tracks_are_refused(source, tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "figs").mkdir(parents=True)
    (repo / "figs" / "fig1.png").write_bytes(b"png")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "figs"], check=True)
    subprocess.run([*git, "commit", "-qm", "figures"], check=True)
    for _ in range(2):
        assert main(_args(source, repo / "figs", tmp_path)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --out ") and "tracked by git" in err and err.count("\n") == 1
        assert (repo / "figs" / "fig1.png").read_bytes() == b"png"
        (repo / "figs" / ".bimix-site").write_text("{}")  # even a folder that claims to be a site
    if not (REPO_ROOT / ".git").exists():
        return  # an unpacked archive: git tracks nothing here
    # the repository's own tracked folders, without building anything
    for tracked in (REPO_ROOT / "figures", REPO_ROOT / "figures" / "paper_vs_compendium.md", REPO_ROOT):
        with pytest.raises(site.SiteTargetError, match="tracked by git"):
            site.check_target(tracked)
    site.check_target(REPO_ROOT / "build" / "site" / "smoke")  # ignored by git: allowed


def test_rebuild_replaces_a_previous_site_and_a_corrupt_notebook_keeps_it(source, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(_args(source, out, tmp_path)) == 0
    assert (out / "00_first.html").is_file()
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # not the private mode of a temporary folder
    (out / "old-page.html").write_text("from the last build")
    assert main(_args(source, out, tmp_path)) == 0  # a previous site is replaced, whole
    assert not (out / "old-page.html").exists()
    before = _snapshot(out)
    (source / "02_broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    capsys.readouterr()
    assert main(_args(source, out, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []  # no temporary left
    assert (out / site.SITE_MARKER).is_file()


def test_ctrl_c_during_the_build_leaves_the_previous_site(source, tmp_path):
    out = tmp_path / "site"
    assert main(_args(source, out, tmp_path)) == 0
    before = _snapshot(out)
    proc = subprocess.Popen([sys.executable, "-m", "bimix", *_args(source, out, tmp_path)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    # the build has begun: a temporary folder appears beside the site (or, before, the site went)
    while not (any(p.name.startswith(".site.") for p in tmp_path.iterdir()) or not (out / "index.html").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before it could be stopped"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted"
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []
