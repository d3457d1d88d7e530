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


def plot_domain_tokens(stats: "dict[str, pandas.DataFrame]", ax: "matplotlib.axes.Axes"):
    """Bar chart of tokens per domain (millions), one bar group per tokenizer.

    ``stats`` maps tokenizer name -> ``TokenStore.stats()``."""
    import numpy as np

    names = list(stats)
    domains = list(next(iter(stats.values())).index)
    width = 0.8 / len(names)
    x = np.arange(len(domains))
    for k, name in enumerate(names):
        ax.bar(x + k * width - 0.4 + width / 2, stats[name].loc[domains, "tokens"] / 1e6, width,
               label=name)
    ax.set_xticks(x, domains, rotation=30, ha="right")
    ax.set_ylabel("tokens (millions, train + valid)")
    ax.legend(title="tokenizer", frameon=False)
    return ax


def plot_bytes_per_token(stats: "dict[str, pandas.DataFrame]", ax: "matplotlib.axes.Axes"):
    """Bytes per token per domain, one marker series per tokenizer: how well each compresses."""
    domains = list(next(iter(stats.values())).index)
    for name, table in stats.items():
        ax.plot(domains, table.loc[domains, "bytes_per_token"], marker="o", label=name)
    ax.set_ylabel("bytes per token")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(title="tokenizer", frameon=False)
    return ax
