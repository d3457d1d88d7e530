"""Small file helpers: atomic writes, locks, hashing, JSON.

Every result file is written to a temporary name in the same folder, then renamed, so a killed process
never leaves a half-written file under the final name. The temporary name carries the writer's process
id and host (``.<name>.<pid>-<host hash>.<random>.tmp``), so :func:`remove_orphans` can clear what a
killed writer left without touching a live writer's work, even in a cache shared between machines.

A table that several processes update (read, merge, write) is updated under :func:`locked`: an
exclusive ``flock`` on the folder that holds it, so the second writer reads what the first wrote
instead of overwriting it with an older copy. Locking the folder rather than the file keeps the lock
valid across the atomic rename that replaces the file, and leaves no lock file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


ORPHAN_AGE_S = 24 * 3600  # a temporary name from another host (or without a pid) is an orphan after this


def _host() -> str:
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}-{_host()}."


def _umask() -> int:
    """The process's umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders that killed writers left in ``folder``; returns them.

    An entry is an orphan when the process id in its name is no longer running (or, for names
    without one, when it is older than ``ORPHAN_AGE_S``)."""
    import shutil
    import time

    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    host = _host()
    for entry in folder.glob(".*.tmp"):
        parts = entry.name.split(".")  # ["", name..., "<pid>-<host>", random, "tmp"]
        pid, _, writer_host = (parts[-3] if len(parts) >= 5 else "").partition("-")
        try:
            if pid.isdigit() and writer_host == host:
                orphan = not _alive(int(pid))
            else:  # another machine's writer, or an older name: only its age tells
                orphan = time.time() - entry.lstat().st_mtime > ORPHAN_AGE_S
            if not orphan:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:  # vanished meanwhile or not ours to delete: leave it
            continue
        removed.append(entry)
    return removed


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block; they take effect when it ends.

    A temporary is created and its name recorded under this, so Ctrl-C cannot land between the
    creation and the ``try`` that removes it (a file left behind by an interrupted build). The block's
    handlers record the signal instead of acting; the previous handlers are put back and called at the
    end. (A signal mask would not do: the kernel hands a process's signal to any thread that does not
    block it, and Python then raises KeyboardInterrupt in the main thread all the same.) Outside the
    main thread, where handlers cannot be set, nothing is held."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda n, _frame: caught.append(n))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)  # SIGINT's default handler raises KeyboardInterrupt here
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


def _new_temp(path: Path, folder: bool = False) -> Path:
    """A new temporary file (or folder) beside ``path`` named for :func:`remove_orphans`."""
    if folder:
        return Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def _temporary(path: Path, folder: bool) -> Iterator[Path]:
    """A new temporary file (or folder) beside ``path``, removed when the block ends, however it ends."""
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with signals_deferred():
            tmp = _new_temp(path, folder=folder)
        yield tmp
    finally:
        if tmp is not None:
            with signals_deferred():
                if folder:
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    with _temporary(Path(path), folder=False) as tmp:
        yield tmp
        os.replace(tmp, path)


@contextlib.contextmanager
def scratch_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary working folder beside ``path``; it is deleted when the block ends, however."""
    with _temporary(Path(path), folder=True) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds.

    The previous folder is renamed aside before the new one is renamed in, and deleted only after, so
    at every moment ``path`` holds either the whole old folder or the whole new one (a killed process
    leaves the old one aside under a temporary name that :func:`remove_orphans` clears)."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = old = None
    try:
        with signals_deferred():
            tmp = _new_temp(path, folder=True)
        # mkdtemp makes a private folder (0700); the result gets the mode the folder had, or a new one's
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.is_dir() else 0o777 & ~_umask())
        yield tmp
        if path.exists():
            with signals_deferred():
                old = _new_temp(path, folder=True)
            os.replace(path, old)  # onto the empty folder just made: a rename, nothing is copied
        os.replace(tmp, path)
    except BaseException:
        with signals_deferred():
            if old is not None and not path.exists():
                os.replace(old, path)  # the swap failed half-way: the old folder goes back
                old = None
        raise
    finally:
        with signals_deferred():  # a Ctrl-C during the clean-up would leave half of it behind
            for leftover in (tmp, old):
                if leftover is not None and leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def locked(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the block; waits for the holder.

    Advisory: only writers that also call :func:`locked` on the same folder wait. The lock goes with
    the process, so a killed holder never leaves the folder locked."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def check_writable(path: str | os.PathLike, what: str = "folder") -> Path:
    """Raise PermissionError unless ``path`` (a folder, created later if missing) can be written.

    Probes with a real temporary file in the nearest existing folder, so a read-only mount, a folder
    without write permission and one owned by someone else are all caught before any work starts."""
    path = Path(path).expanduser().absolute()
    probe_dir = path
    while not probe_dir.exists() and probe_dir.parent != probe_dir:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise NotADirectoryError(f"{what} {path}: {probe_dir} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe_dir):
            pass
    except OSError as exc:
        raise PermissionError(f"{what} {path} is not writable ({exc.strerror or exc})") from None
    return path


def git_tracked(path: str | os.PathLike) -> list[str]:
    """The files git tracks at or under ``path``, relative to their work tree; empty when ``path`` is
    outside a work tree or git is not installed. Commands that replace a folder or a file refuse
    a tracked one, so a generated output never overwrites what the repository holds."""
    import subprocess

    path = Path(path).resolve()  # git names the work tree by its resolved path
    anchor = path
    while not anchor.is_dir():
        anchor = anchor.parent
    try:
        top = subprocess.run(["git", "-C", str(anchor), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        rel = os.path.relpath(path, top)
        if rel == ".." or rel.startswith("../"):
            return []
        listed = subprocess.run(["git", "-C", top, "ls-files", "-z", "--", rel],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [f for f in listed.split("\0") if f]


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a syntax error names the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end,
                                 f"{exc.reason} in {path}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise json.JSONDecodeError(f"{path}: invalid JSON: {exc.msg}", exc.doc, exc.pos) from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: str | os.PathLike, skip: str | None = None) -> dict[str, str]:
    """sha256 of every file under ``folder`` (but one named ``skip``: the record that holds these), by
    path relative to it, sorted: what a cached folder's record keeps and its reader checks."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != skip}


def changed_files(recorded: dict[str, str], found: dict[str, str]) -> list[str]:
    """The paths whose hash differs between a record and what is there (missing or added ones too)."""
    return sorted(n for n in set(recorded) | set(found) if recorded.get(n) != found.get(n))


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of key order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()
