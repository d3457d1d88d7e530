"""Data mixtures: a share r_i of training tokens per domain, with r_i >= 0 and sum_i r_i = 1 (docs/paper.md#setting).

A :class:`Mixture` is a named, validated, immutable mapping domain -> share plus free-form provenance
(``meta``). Mixtures are small JSON files ``{"name", "weights", "meta"}``:

- the paper's mixtures (docs/paper.md#published-mixtures: Tables 4 and 5 of arXiv 2405.14908, plus the DoGE and
  RegMix weights it compares against at 1B scale) ship beside this module in ``pile/`` and
  ``slimpajama/``; read them with :func:`published` or ``load_mixture(name, collection="pile")``;
- corpus-specific mixtures computed by the pipeline (``natural``, ``uniform``, ``se``, ``ce``, ``je``,
  ``vne``, ``doremi``, ``bimix_opt`` ...) live in a folder chosen by the caller
  (:func:`save_named`, :func:`load_named`, :func:`list_named`).

Domain names are the names the data carries: the Pile's ``meta.pile_set_name`` values (so the paper's
"GitHub" row is ``"Github"``), and SlimPajama's short names ``ArXiv, Books, C4, CommonCrawl, GitHub,
StackExchange, Wikipedia`` (``bimix.data`` maps ``RedPajamaArXiv`` etc. onto them).

Conversions: DoReMi's released domain-weight JSON (a flat ``{"domain": weight}`` dict) and the
``probabilities`` list of Hugging Face ``datasets.interleave_datasets``, both directions; and
:func:`largest_remainder`, integer per-domain counts for a sampler.

Only numpy is imported here; nothing happens at import.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from bimix.files import atomic_path

__all__ = [
    "MixtureError",
    "Mixture",
    "SUM_TOLERANCE",
    "PUBLISHED_DIR",
    "save_mixture",
    "load_mixture",
    "published",
    "list_published",
    "uniform",
    "natural",
    "save_named",
    "load_named",
    "list_named",
    "to_doremi_json",
    "from_doremi_json",
    "to_interleave_probabilities",
    "from_interleave_probabilities",
    "largest_remainder",
]

SUM_TOLERANCE = 1e-6  # |sum_i r_i - 1| allowed for a mixture built directly
PUBLISHED_DIR = Path(__file__).resolve().parent
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


# ----------------------------------------------------------------------------------------- files


def save_mixture(m: Mixture, path: str | os.PathLike) -> Path:
    """Write ``m`` as JSON ``{"name", "weights", "meta"}`` atomically; domain order is kept."""
    path = Path(path)
    try:
        text = json.dumps(m.to_json(), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise MixtureError(f"mixture {m.name!r}: meta is not JSON-serialisable ({err})") from err
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _read_mixture_file(path: Path, *, tol: float | None = None) -> Mixture:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise MixtureError(f"{path} is not valid JSON: {err}") from err
    try:
        return Mixture.from_json(obj, tol=tol)
    except MixtureError as err:
        raise MixtureError(f"{path}: {err}") from err


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


def save_named(m: Mixture, folder: str | os.PathLike) -> Path:
    """Store a computed, corpus-specific mixture as ``folder/<name>.json``."""
    return save_mixture(m, Path(folder) / f"{_check_name(m.name)}.json")


def list_named(folder: str | os.PathLike) -> list[str]:
    """Names of the mixtures stored in ``folder`` (empty when the folder does not exist)."""
    folder = Path(folder)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_named(name: str, folder: str | os.PathLike, domains: Iterable[str] | None = None) -> Mixture:
    """Read ``folder/<name>.json``; with ``domains``, check it covers exactly those domains."""
    path = Path(folder) / f"{_check_name(name)}.json"
    if not path.is_file():
        raise MixtureError(f"no mixture {name!r} in {folder}; available: {list_named(folder)}")
    m = _read_mixture_file(path)
    if m.name != name:
        raise MixtureError(f"{path} names itself {m.name!r}, not {name!r}: rename the file or fix its "
                           "\"name\" (a copied file would otherwise train under the wrong label)")
    if domains is not None:
        m.check_domains(domains)
    return m


def load_mixture(
    path_or_name: str | os.PathLike,
    *,
    collection: str | os.PathLike | None = None,
    domains: Iterable[str] | None = None,
) -> Mixture:
    """Load a mixture by file path, by name in a collection, or as ``"collection/name"``.

    ``collection`` is ``"pile"`` / ``"slimpajama"`` for the published mixtures, or a folder holding
    computed ones (:func:`save_named`). With ``domains``, the mixture must cover exactly those domains;
    loading a Pile mixture for another corpus raises :class:`MixtureError` listing both domain sets.
    """
    published_names = list_published()
    key = os.fspath(path_or_name)
    if collection is not None:
        coll = os.fspath(collection)
        if coll in published_names:
            m = published(coll, key)
        elif Path(coll).is_dir():
            m = load_named(key, coll)
        else:
            raise MixtureError(
                f"collection {coll!r} is neither a published collection {sorted(published_names)} nor an existing folder"
            )
    elif Path(key).is_file():
        m = _read_mixture_file(Path(key))
    elif key.count("/") == 1 and key.split("/")[0] in published_names:
        m = published(*key.split("/"))
    else:
        raise MixtureError(
            f"cannot find mixture {key!r}: not a file, and not 'collection/name' for a published collection "
            f"{sorted(published_names)}; pass collection= for a name in a folder"
        )
    if domains is not None:
        m.check_domains(domains)
    return m


# -------------------------------------------------------------------------------- constructors


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


# --------------------------------------------------------------------------------- conversions


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
