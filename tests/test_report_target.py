"""`python -m bimix report` writes the committed report, README blocks and extracts only for the
profiles they hold (cpu,gpu); any other set goes to build/report/, and data/results/ gains no folder.

The command runs in a copy of the package inside a throw-away git repository (its REPO_ROOT), so
the test can let it loose on "committed" files without touching this checkout's."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from bimix.paths import PACKAGE_DIR, REPO_ROOT

COMMITTED = "# Paper vs compendium\n\ncommitted cpu report\n"
README = "intro\n<!-- report:start -->\ncommitted\n<!-- report:end -->\n<!-- gallery:start -->\n<!-- gallery:end -->\n"


@pytest.fixture()
def repo(tmp_path):
    """A repository holding the package, a committed report, README and cpu extracts; the smoke
    profile's notebooks have results in build/ (the cpu extracts stand in for them)."""
    root = tmp_path / "repo"
    shutil.copytree(PACKAGE_DIR, root / "bimix", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "figures").mkdir()
    (root / "figures" / "paper_vs_compendium.md").write_text(COMMITTED)
    (root / "README.md").write_text(README)
    shutil.copytree(REPO_ROOT / "data" / "results" / "cpu", root / "data" / "results" / "cpu")
    shutil.copytree(REPO_ROOT / "data" / "results" / "cpu", root / "build" / "smoke" / "results")
    (root / ".gitignore").write_text("build/\n__pycache__/\n")  # as the repository's: Python caches bytecode
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "committed outputs"], check=True)
    return root


def _report(root, *args):
    done = subprocess.run([sys.executable, "-m", "bimix", "report", *args], cwd=root, capture_output=True,
                          text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def _committed(root):
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                            capture_output=True, text=True, check=True).stdout
    return status.splitlines()


def test_other_profiles_go_to_build_and_leave_committed_files(repo):
    code, out, err = _report(repo, "--profiles", "smoke")
    assert code == 0, err
    assert (repo / "figures" / "paper_vs_compendium.md").read_text() == COMMITTED
    assert not (repo / "data" / "results" / "smoke").exists()
    assert _committed(repo) == []  # nothing tracked changed, nothing new outside build/
    written = repo / "build" / "report" / "smoke" / "paper_vs_compendium.md"
    assert "ours (smoke)" in written.read_text() and f"wrote {written}" in out


@pytest.mark.parametrize("args", [("--profiles", "smoke", "--update-readme"),
                                  ("--profiles", "smoke", "--out", "figures"),
                                  ("--profiles", "cpu,smoke", "--out", "figures"),
                                  ("--profiles", "smoke", "--out", ".")])
def test_committed_targets_refuse_other_profiles(repo, args):
    (repo / "paper_vs_compendium.md").write_text("tracked too\n")
    subprocess.run(["git", "-C", str(repo), "add", "paper_vs_compendium.md"], check=True)
    code, _, err = _report(repo, *args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert (repo / "README.md").read_text() == README
    assert (repo / "figures" / "paper_vs_compendium.md").read_text() == COMMITTED
    assert (repo / "paper_vs_compendium.md").read_text() == "tracked too\n"
    assert not (repo / "data" / "results" / "smoke").exists()


def test_the_committed_profiles_still_refresh_the_committed_report(repo):
    shutil.copytree(repo / "build" / "smoke" / "results", repo / "build" / "cpu" / "results")
    code, _, err = _report(repo, "--profiles", "gpu,cpu", "--update-readme")  # in any order
    assert code == 0, err
    report = (repo / "figures" / "paper_vs_compendium.md").read_text()
    assert "ours (cpu)" in report and "smoke" not in report
    assert "committed\n" not in (repo / "README.md").read_text()
    assert not (repo / "data" / "results" / "gpu").exists()  # no results for gpu: no folder either
