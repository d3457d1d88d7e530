"""Where things live. Paths resolve against the repository root, never the working directory."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
FIGURES_DIR = REPO_ROOT / "figures"
BUILD_DIR = REPO_ROOT / "build"
RUNS_DIR = REPO_ROOT / "data" / "runs"


def cache_dir() -> Path:
    """``$BIMIX_CACHE`` or ``~/.cache/bimix``: corpora, tokenizers, token stores, checkpoints."""
    return Path(os.environ.get("BIMIX_CACHE") or Path.home() / ".cache" / "bimix").expanduser()
