"""The optimised mixture as something to train: rounded shares and a name that is its identity.

A mixture's identity is its weights (a run table refuses the same weights under two names). The
optimiser's shares carry floating-point noise that can differ between machines or thread counts in
the last digits, so they are rounded to ``decimals`` places (largest-remainder, still summing to 1)
before training, and the name is derived from those rounded shares and the run config:
``bimix_opt-<8 hex>``. Re-running the notebook on the same runs gives the same name and finds the runs
already trained; a different fit gives a different name and never overwrites the earlier optimum.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Mapping

import numpy as np

from bimix.files import sha256_json


def round_shares(shares: Mapping[str, float], decimals: int = 6) -> dict[str, float]:
    """Shares rounded to ``decimals`` places, summing to exactly 1 at that resolution (the units lost
    to rounding go to the largest remainders); zero stays zero."""
    names = list(shares)
    x = np.asarray([float(shares[k]) for k in names], dtype=np.float64)
    if np.any(x < 0) or not np.isclose(x.sum(), 1.0, atol=1e-6):
        raise ValueError(f"shares must be >= 0 and sum to 1, got sum {float(x.sum()):.8f}")
    unit = 10 ** decimals
    scaled = x / x.sum() * unit
    base = np.floor(scaled).astype(np.int64)
    short = unit - int(base.sum())
    order = np.argsort(-(scaled - base), kind="stable")
    base[order[:short]] += 1
    return {k: int(v) / unit for k, v in zip(names, base)}


def optimum_name(shares: Mapping[str, float], store_id: str, config, prefix: str = "bimix_opt") -> str:
    """``<prefix>-<hash>`` of the (rounded) shares, the token store and the model/train config."""
    train = asdict(config.train)
    if train.get("cpu_threads") == 1:
        train.pop("cpu_threads")  # added later: at its default it leaves existing names unchanged
    key = {"shares": {k: round(float(v), 12) for k, v in shares.items()}, "store": store_id,
           "model": asdict(config.model), "train": train}
    return f"{prefix}-{sha256_json(key)[:8]}"
