"""Synthetic run tables from known BiMix coefficients (Eq. 3), for tests, benchmarks and teaching.

The tables have the shape :mod:`bimix.data.runs` validates, so every fit, protocol and plot runs on them
exactly as on proxy runs. Coefficients follow the scale convention of :mod:`bimix.law.forms` (A = 1).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.law.forms import bimix_loss

# 20 evaluation points, as the paper logs every 10k steps up to 200k (docs/paper.md#fitting)
PAPER_STEPS = tuple(range(10_000, 200_001, 10_000))
TOKENS_PER_STEP = 512 * 1024  # the paper's batch (docs/paper.md#setup)


def random_coefficients(domains: Sequence[str], rng: np.random.Generator) -> pd.DataFrame:
    """Plausible coefficients per domain (A = 1): α in [0.03, 0.25], β in [0.3, 0.8], a floor
    C in [1.5, 3.5] nats and a reducible part B/s^β worth 0.3–1.5× C at s = 10k steps."""
    m = len(domains)
    alpha = rng.uniform(0.03, 0.25, m)
    beta = rng.uniform(0.3, 0.8, m)
    C = rng.uniform(1.5, 3.5, m)
    B = C * rng.uniform(0.3, 1.5, m) * 10_000.0**beta
    return pd.DataFrame({"A": 1.0, "alpha": alpha, "B": B, "beta": beta, "C": C}, index=list(domains))


def dirichlet_mixtures(domains: Sequence[str], n: int, rng: np.random.Generator,
                       concentration: float = 2.0, floor: float = 1e-3) -> dict[str, dict[str, float]]:
    """``n`` mixtures ``mix0..`` drawn from a symmetric Dirichlet, each share at least ``floor``
    (so every domain is present), renormalised to sum to 1."""
    out = {}
    for k in range(n):
        w = rng.dirichlet(np.full(len(domains), concentration))
        w = np.maximum(w, floor)
        w /= w.sum()
        out[f"mix{k}"] = dict(zip(domains, map(float, w)))
    return out


def synthetic_runs(coefficients: pd.DataFrame, mixtures: Mapping[str, Mapping[str, float]],
                   steps: Sequence[int] = PAPER_STEPS, noise: float = 0.003, seeds: Sequence[int] = (0,),
                   rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Long run table: one run per (mixture, seed), loss from Eq. 3 times exp(noise · N(0, 1))
    (multiplicative noise; 0.003 ≈ 0.3 %). ``coefficients``: index = domain, columns A, alpha, B,
    beta, C. Domains a mixture leaves out get share 0 (their loss uses the law at r = 0 → inf, so
    such rows are written with a finite loss only if the mixture lists the domain)."""
    rng = np.random.default_rng(0) if rng is None else rng
    domains = list(coefficients.index)
    steps = np.asarray(steps, np.int64)
    rows = []
    for name, mix in mixtures.items():
        unknown = sorted(set(mix) - set(domains))
        if unknown:
            raise KeyError(f"mixture {name!r} names domains without coefficients: {unknown}")
        r = np.array([float(mix.get(d, 0.0)) for d in domains])
        for seed in seeds:
            run = f"{name}-s{seed}"
            for j, d in enumerate(domains):
                c = coefficients.loc[d]
                with np.errstate(divide="ignore"):
                    clean = bimix_loss(r[j], steps, c["A"], c["alpha"], c["B"], c["beta"], c["C"])
                if not np.isfinite(clean).all():
                    # r = 0: the law has no finite value; use the loss at the smallest share
                    # anyone trains on (1e-4), which is how an untrained-on domain looks in practice
                    clean = bimix_loss(1e-4, steps, c["A"], c["alpha"], c["B"], c["beta"], c["C"])
                loss = clean * np.exp(noise * rng.standard_normal(len(steps)))
                rows.append(pd.DataFrame({
                    "run": run, "mixture": name, "seed": seed, "step": steps,
                    "tokens": steps * TOKENS_PER_STEP, "domain": d, "r": r[j], "loss": loss}))
    df = pd.concat(rows, ignore_index=True)
    return df.astype({"run": str, "mixture": str, "seed": np.int64, "step": np.int64,
                      "tokens": "Int64", "domain": str, "r": float, "loss": float})


def pile_sized(n_domains: int = 22, n_mixtures: int = 6, steps: Sequence[int] = PAPER_STEPS,
               noise: float = 0.003, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table the size of the paper's Pile experiment (22 domains × 6 mixtures × 20 steps) and the
    coefficients that made it."""
    rng = np.random.default_rng(seed)
    domains = [f"d{i:02d}" for i in range(n_domains)]
    coef = random_coefficients(domains, rng)
    mixtures = dirichlet_mixtures(domains, n_mixtures, rng)
    return synthetic_runs(coef, mixtures, steps, noise=noise, rng=rng), coef
