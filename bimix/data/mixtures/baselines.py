"""The two mixtures every corpus has: ``uniform`` (equal shares) and ``natural`` (token shares)."""

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
