"""The file helpers every writer goes through: an atomic write keeps the previous file when the
writer fails, a folder swap keeps the whole previous folder, and a folder lock excludes another
process until it is released."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bimix.files import atomic_dir, atomic_path, git_tracked, locked, write_json
from bimix.paths import REPO_ROOT

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = write_json(tmp_path / "table.json", {"rows": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text('{"rows": ')  # half written when the writer is stopped
            raise KeyboardInterrupt
    assert target.read_text() == '{\n  "rows": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.json"]


def test_a_folder_is_swapped_whole_or_not_at_all(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("old")
    with pytest.raises(ValueError):
        with atomic_dir(site) as tmp:
            (tmp / "index.html").write_text("new, half")
            raise ValueError("a corrupt notebook")
    assert [p.name for p in tmp_path.iterdir()] == ["site"] and (site / "index.html").read_text() == "old"
    with atomic_dir(site) as tmp:
        (tmp / "page.html").write_text("new")
    assert sorted(p.name for p in site.iterdir()) == ["page.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # the old folder, set aside, is gone


def test_a_locked_folder_excludes_other_processes_until_released(tmp_path):
    def other_process_locks() -> bool:
        return subprocess.run([sys.executable, "-c", _TRY_LOCK, str(tmp_path)]).returncode == 0

    with locked(tmp_path):
        assert not other_process_locks()
        (tmp_path / "downstream.csv").write_text("run\n")
    assert other_process_locks()
    assert sorted(os.listdir(tmp_path)) == ["downstream.csv"]  # no lock file left behind


@pytest.mark.skipif(not (REPO_ROOT / ".git").exists(), reason="not a git checkout (an unpacked archive)")
def test_git_tracked_names_what_the_repository_holds(tmp_path):
    assert "figures/paper_vs_compendium.md" in git_tracked(REPO_ROOT / "figures")
    assert git_tracked(REPO_ROOT / "build" / "site") == [] and git_tracked(tmp_path) == []


_WRITER = """
import sys
from pathlib import Path
import threading
import time
from bimix.files import atomic_dir, atomic_path, scratch_dir
folder = Path(sys.argv[1])
# a second thread, as libraries start: the kernel may hand it the process's SIGINT
threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
print("ready", flush=True)
try:
    while True:
        with atomic_dir(folder / "site") as tmp:
            (tmp / "page.html").write_text("whole")
        with atomic_path(folder / "table.json") as tmp:
            tmp.write_text("{}")
        with scratch_dir(folder / "download"):
            pass
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_at_any_moment_leaves_no_temporary(tmp_path):
    import random
    import signal
    import time

    rng = random.Random(0)
    for attempt in range(12):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder)], cwd=REPO_ROOT,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.2))  # the writer is somewhere in its loop of creates and renames
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        left = sorted(p.name for p in folder.iterdir())
        assert [name for name in left if name.endswith(".tmp")] == [], left
        if (folder / "site").exists():  # the folder is whole, never half-swapped
            assert (folder / "site" / "page.html").read_text() == "whole"
