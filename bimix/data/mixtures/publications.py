"""Mixtures published in the paper and the papers it compares with, shipped in ``pile/`` and ``slimpajama/``.

docs/paper.md#published-mixtures lists them: Tables 4 and 5 of arXiv 2405.14908, plus the DoGE and
RegMix weights. The JSON files keep the printed, rounded shares; :func:`published` renormalises them.
"""

from __future__ import annotations

import json
from pathlib import Path

from bimix.data.mixtures.mixture import SUM_TOLERANCE, Mixture, MixtureError

PUBLISHED_DIR = Path(__file__).resolve().parent


def list_published() -> dict[str, list[str]]:
    """Published mixtures shipped with the package: collection -> sorted names."""
    return {
        sub.name: sorted(p.stem for p in sub.glob("*.json"))
        for sub in sorted(PUBLISHED_DIR.iterdir())
        if sub.is_dir() and any(sub.glob("*.json"))
    }


def published(collection: str, name: str) -> Mixture:
    """A mixture printed in the paper (docs/paper.md#published-mixtures), renormalised explicitly.

    The files keep the printed, rounded shares; each records in ``meta["sum_tolerance"]`` how far its
    column may miss 1 from rounding alone, and loading renormalises within that tolerance.
    """
    available = list_published()
    if collection not in available:
        raise MixtureError(f"no published collection {collection!r}; available: {sorted(available)}")
    if name not in available[collection]:
        raise MixtureError(f"no published mixture {name!r} in {collection!r}; available: {available[collection]}")
    path = PUBLISHED_DIR / collection / f"{name}.json"
    obj = json.loads(path.read_text(encoding="utf-8"))
    return Mixture.from_json(obj, tol=float(obj.get("meta", {}).get("sum_tolerance", SUM_TOLERANCE)))
