"""The mixtures every corpus has: ``uniform`` (equal shares), ``natural`` (token shares), and
``skewed``, the natural mixture made as uneven as the paper's Baselines.

Why ``skewed``: the paper's Baselines are far from flat (largest over smallest share: 42.8 on the Pile,
15.4 on SlimPajama; docs/paper.md#published-mixtures), and its entropy mixtures are flatter than them,
so "entropy mixtures beat the Baseline" is a claim against a skewed baseline. A corpus whose natural
mixture is nearly flat (the mini-pile's ratio is about 3) cannot test it. ``skewed`` keeps the natural
order of the domains and raises the natural shares to the power ``p`` that gives the Pile Baseline's
ratio: r_i ∝ n_i^p with p = ln(42.8) / ln(max n / min n).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from bimix.data.mixtures.mixture import Mixture, MixtureError, _fmt_domains, _fmt_weights


def uniform(domains: Iterable[str]) -> Mixture:
    """Equal share 1/m for each of the m domains."""
    domains = list(domains)
    if not domains:
        raise MixtureError("uniform mixture needs at least one domain")
    if len(set(domains)) != len(domains):
        raise MixtureError(f"uniform mixture: repeated domains {_fmt_domains(sorted({d for d in domains if domains.count(d) > 1}))}")
    return Mixture("uniform", {d: 1.0 / len(domains) for d in domains}, {"method": "uniform"})


PILE_BASELINE_RATIO = 42.8276  # largest / smallest share of the paper's Pile Baseline (22 domains)


def skewed(natural_mixture: Mixture, ratio: float = PILE_BASELINE_RATIO) -> Mixture:
    """The natural mixture with its shares raised to the power that makes largest / smallest = ``ratio``
    (same order of domains; ``ratio`` must exceed 1 and the natural shares must not all be equal)."""
    names = list(natural_mixture.weights)
    w = np.array([natural_mixture.weights[d] for d in names], dtype=np.float64)
    if not ratio > 1 or not np.isfinite(ratio):
        raise MixtureError(f"skewed mixture: ratio must be a finite number > 1, got {ratio}")
    if (w <= 0).any():
        raise MixtureError(f"skewed mixture: every natural share must be > 0, got {_fmt_weights(natural_mixture.weights)}")
    spread = float(np.log(w.max() / w.min()))
    if spread <= 0:
        raise MixtureError("skewed mixture: the natural shares are all equal; no order to exaggerate")
    power = float(np.log(ratio) / spread)
    x = w ** power
    x /= x.sum()
    return Mixture("skewed", dict(zip(names, x.tolist())),
                   {"method": "skewed", "ratio": float(ratio), "power": power,
                    "natural_ratio": float(np.exp(spread))})


def natural(token_counts: Mapping[str, int]) -> Mixture:
    """Token share of the corpus: r_i = n_i / sum_j n_j, with n_i the training tokens of domain i."""
    bad = {
        d: n for d, n in token_counts.items()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0
    }
    if bad:
        raise MixtureError(f"natural mixture: token counts must be integers >= 0; got {_fmt_weights(bad)}")
    total = sum(int(n) for n in token_counts.values())
    if total <= 0:
        raise MixtureError(f"natural mixture: the corpus has no tokens (counts: {_fmt_weights(token_counts)})")
    counts = {d: int(n) for d, n in token_counts.items()}
    return Mixture(
        "natural",
        {d: n / total for d, n in counts.items()},
        {"method": "natural", "token_counts": counts, "total_tokens": total},
    )
