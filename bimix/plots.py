"""Figures. Plot functions take an ``ax`` and return it; ``save_figure`` writes PDF and PNG.

Nothing here touches global matplotlib state: styles are applied with context managers.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

from bimix.files import atomic_path

# PDF/PNG metadata that would change between otherwise identical runs is dropped.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "bimix"}
_PNG_METADATA = {"Software": None}


def save_figure(fig: "matplotlib.figure.Figure", name: str, figures_dir: str | os.PathLike,
                dpi: int = 150) -> dict[str, Path]:
    """Write ``figures_dir/name.pdf`` and ``figures_dir/name.png`` atomically, with deterministic
    metadata; returns both paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt, metadata in (("pdf", _PDF_METADATA), ("png", _PNG_METADATA)):
        target = figures_dir / f"{name}.{fmt}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight")
        paths[fmt] = target
    return paths
