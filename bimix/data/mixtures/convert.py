"""Mixtures to and from other tools' formats, and to integer counts for a sampler.

DoReMi's released domain-weight JSON (a flat ``{"domain": weight}`` dict) and the ``probabilities``
list of Hugging Face ``datasets.interleave_datasets``, both directions; :func:`largest_remainder`
turns shares into integer per-domain counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from bimix.data.mixtures.mixture import Mixture, MixtureError, _fmt_domains


def to_doremi_json(m: Mixture) -> dict[str, float]:
    """DoReMi's released domain-weight format: a flat ``{"domain": weight}`` dict."""
    return dict(m.weights)


def from_doremi_json(
    obj: Mapping[str, float] | str | os.PathLike,
    name: str | None = None,
    *,
    tol: float | None = None,
) -> Mixture:
    """Read DoReMi's flat domain-weight dict (or a file holding one).

    With ``tol``, renormalise within that tolerance (:meth:`Mixture.normalised`); otherwise the weights
    must sum to 1 within 1e-6.
    """
    source: str = "dict"
    if not isinstance(obj, Mapping):
        path = Path(obj)
        source = str(path)
        name = name or path.stem
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise MixtureError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(obj, Mapping):
        raise MixtureError(f"DoReMi weights must be a flat JSON object domain -> weight; {source} holds {type(obj).__name__}")
    nested = {d: w for d, w in obj.items() if isinstance(w, (Mapping, list))}
    if nested:
        raise MixtureError(
            f"DoReMi weights must be a flat JSON object domain -> weight; {source} has nested values "
            f"for {_fmt_domains(nested)} (is this a {{'name','weights','meta'}} mixture file? use load_mixture)"
        )
    name = name or "doremi"
    meta = {"format": "doremi", "source": source}
    if tol is None:
        return Mixture(name, obj, meta)
    return Mixture.normalised(name, obj, meta, tol=tol)


def to_interleave_probabilities(m: Mixture, domains: Sequence[str]) -> list[float]:
    """``probabilities`` for ``datasets.interleave_datasets``, one per dataset in ``domains`` order.

    Renormalised to sum to 1 in float arithmetic, since numpy's sampler checks the sum tightly.
    """
    p = m.array(domains)
    return (p / p.sum()).tolist()


def from_interleave_probabilities(domains: Sequence[str], probabilities: Sequence[float], name: str) -> Mixture:
    """Inverse of :func:`to_interleave_probabilities`: pair each dataset's domain with its probability."""
    domains = list(domains)
    probabilities = list(probabilities)
    if len(domains) != len(probabilities):
        raise MixtureError(
            f"mixture {name!r}: {len(domains)} domains {_fmt_domains(domains)} but {len(probabilities)} probabilities {probabilities}"
        )
    if len(set(domains)) != len(domains):
        raise MixtureError(f"mixture {name!r}: repeated domains {_fmt_domains(sorted({d for d in domains if domains.count(d) > 1}))}")
    return Mixture(name, dict(zip(domains, probabilities)), {"format": "interleave_probabilities"})


def largest_remainder(m: Mixture, domains: Sequence[str], total: int) -> np.ndarray:
    """Integer counts per domain (``domains`` order) summing to ``total``, each within 1 of r_i * total.

    Hamilton's largest-remainder rounding: floor every quota r_i * total, then hand the leftover units to
    the largest fractional parts; ties go to the domain listed first, so the result is deterministic.
    Shares are first renormalised to sum to exactly 1 (they may be off by up to 1e-6).
    """
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 0:
        raise ValueError(f"total must be an integer >= 0, got {total!r}")
    total = int(total)
    r = m.array(domains)
    quotas = r / r.sum() * total  # (n_domains,)
    counts = np.floor(quotas).astype(np.int64)
    fractions = quotas - counts
    left = total - int(counts.sum())
    # stable sort on -fraction: equal fractions keep the order of `domains`
    order = np.argsort(-fractions, kind="stable")
    if left > 0:
        counts[order[:left]] += 1
    elif left < 0:  # floating-point quotas overshot; take back from the smallest fractions
        for i in order[::-1]:
            if left == 0:
                break
            if counts[i] > 0:
                counts[i] -= 1
                left += 1
    return counts
