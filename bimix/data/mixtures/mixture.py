"""The :class:`Mixture` type: a named, validated, immutable mapping domain -> share, and its checks.

A share r_i is finite and >= 0, and the shares sum to 1 within :data:`SUM_TOLERANCE`; a name must be
usable as a file name. Every error is a :class:`MixtureError` whose message names the offending
domains and values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

SUM_TOLERANCE = 1e-6  # |sum_i r_i - 1| allowed for a mixture built directly
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # a mixture name doubles as a file name
_MAX_LISTED = 30  # domains printed in full in an error message before eliding the rest


class MixtureError(ValueError):
    """A mixture is invalid or does not fit the domains it is used with; the message names them."""


def _fmt_domains(domains: Iterable[str]) -> str:
    domains = list(domains)
    shown = ", ".join(repr(d) for d in domains[:_MAX_LISTED])
    more = f", ... ({len(domains) - _MAX_LISTED} more)" if len(domains) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def _fmt_weights(weights: Mapping[str, Any]) -> str:
    # a numpy scalar as a plain number (numpy >= 2 would write np.float64(...)); anything else as given
    return ", ".join(f"{d!r}: {w.item() if isinstance(w, np.generic) else w!r}" for d, w in weights.items())


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MixtureError(
            f"mixture name {name!r} is not usable as a file name: use letters, digits and _ . + - "
            "(not starting with a punctuation mark)"
        )
    return name


def _coerce_weights(weights: Any, name: str) -> dict[str, float]:
    """Check that ``weights`` is a flat domain -> finite non-negative number mapping; return floats."""
    if not isinstance(weights, Mapping):
        raise MixtureError(f"mixture {name!r}: weights must be a mapping domain -> share, got {type(weights).__name__}")
    if not weights:
        raise MixtureError(f"mixture {name!r} has no domains")
    bad_keys = [d for d in weights if not isinstance(d, str) or not d]
    if bad_keys:
        raise MixtureError(f"mixture {name!r}: domain names must be non-empty strings, got {bad_keys!r}")
    out: dict[str, float] = {}
    not_numbers = {}
    for domain, w in weights.items():
        # bool is an int subclass; True as a share is a bug, not a weight of 1
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)):
            not_numbers[domain] = w
        else:
            out[domain] = float(w)
    if not_numbers:
        raise MixtureError(f"mixture {name!r}: shares must be numbers; got {_fmt_weights(not_numbers)}")
    not_finite = {d: w for d, w in out.items() if not math.isfinite(w)}
    if not_finite:
        raise MixtureError(f"mixture {name!r}: shares must be finite; got {_fmt_weights(not_finite)}")
    negative = {d: w for d, w in out.items() if w < 0}
    if negative:
        raise MixtureError(f"mixture {name!r}: shares must be >= 0; got {_fmt_weights(negative)}")
    return out


def _check_sum(weights: Mapping[str, float], name: str, tol: float) -> float:
    total = math.fsum(weights.values())
    if not abs(total - 1.0) <= tol:
        raise MixtureError(
            f"mixture {name!r}: weights sum to {total:.10g}, expected 1 within {tol:g} "
            f"(domains: {_fmt_weights(weights)})"
        )
    return total


@dataclass(frozen=True)
class Mixture:
    """Shares r_i of training tokens per domain (docs/paper.md#setting): r_i finite, >= 0, sum_i r_i = 1 +- 1e-6.

    ``weights`` keeps the order it was given in (:attr:`domains`); it is stored read-only. ``meta`` is
    provenance (source, corpus hash, method, ...). For sources that print rounded shares use
    :meth:`normalised`, which renormalises explicitly and records that in ``meta``.
    """

    name: str
    weights: Mapping[str, float]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name)
        weights = _coerce_weights(self.weights, self.name)
        _check_sum(weights, self.name, SUM_TOLERANCE)
        if not isinstance(self.meta, Mapping):
            raise MixtureError(f"mixture {self.name!r}: meta must be a mapping, got {type(self.meta).__name__}")
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @classmethod
    def normalised(
        cls,
        name: str,
        weights: Mapping[str, float],
        meta: Mapping[str, Any] | None = None,
        *,
        tol: float = 1e-3,
    ) -> "Mixture":
        """Divide ``weights`` by their sum, provided that sum is within ``tol`` of 1.

        For tables that round each share (the paper prints 4 decimals, so a 22-domain column can miss
        1 by up to 22 * 0.5e-4). The tolerance still catches a dropped or mistyped row. The raw sum
        and the tolerance are recorded in ``meta["renormalised"]``.
        """
        _check_name(name)
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise MixtureError(f"mixture {name!r}: tolerance must be a finite number >= 0, got {tol!r}")
        raw = _coerce_weights(weights, name)
        total = _check_sum(raw, name, tol)
        if total <= 0:
            raise MixtureError(f"mixture {name!r}: weights sum to {total!r}; cannot renormalise (domains: {_fmt_weights(raw)})")
        scaled = {d: w / total for d, w in raw.items()}
        meta = dict(meta or {})
        meta["renormalised"] = {"raw_sum": total, "tolerance": tol}
        return cls(name, scaled, meta)

    @property
    def domains(self) -> tuple[str, ...]:
        """Domain names in the order the weights were given."""
        return tuple(self.weights)

    def check_domains(self, domains: Iterable[str]) -> None:
        """Raise :class:`MixtureError` unless this mixture covers exactly ``domains`` (order free)."""
        domains = list(domains)
        duplicates = sorted({d for d in domains if domains.count(d) > 1})
        if duplicates:
            raise MixtureError(f"domain list for mixture {self.name!r} repeats {_fmt_domains(duplicates)}")
        unknown = [d for d in self.domains if d not in set(domains)]
        missing = [d for d in domains if d not in self.weights]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"domains in the mixture but not in the corpus: {_fmt_domains(unknown)}")
            if missing:
                parts.append(f"corpus domains missing from the mixture: {_fmt_domains(missing)}")
            raise MixtureError(
                f"mixture {self.name!r} does not match the corpus domains; " + "; ".join(parts)
                + f". Mixture domains: {_fmt_domains(self.domains)}; corpus domains: {_fmt_domains(domains)}"
            )

    def array(self, domains: Sequence[str]) -> np.ndarray:
        """Shares in the order of ``domains`` (checked first), shape (n_domains,), float64."""
        domains = list(domains)
        self.check_domains(domains)
        return np.array([self.weights[d] for d in domains], dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weights": dict(self.weights), "meta": _plain(self.meta)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], *, tol: float | None = None) -> "Mixture":
        """Inverse of :meth:`to_json`. With ``tol``, renormalise as :meth:`normalised` does."""
        if not isinstance(obj, Mapping) or "weights" not in obj or "name" not in obj:
            keys = list(obj) if isinstance(obj, Mapping) else type(obj).__name__
            raise MixtureError(f"a mixture JSON object needs 'name' and 'weights' (and optional 'meta'); got {keys}")
        meta = obj.get("meta") or {}
        if tol is None:
            return cls(obj["name"], obj["weights"], meta)
        return cls.normalised(obj["name"], obj["weights"], meta, tol=tol)


def _plain(obj: Any) -> Any:
    """Mappings (including read-only proxies) as dicts, recursively, so ``json`` can write them."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
