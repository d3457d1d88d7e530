"""Mixtures as JSON files ``{"name", "weights", "meta"}``: write, read, and find them by name.

Computed, corpus-specific mixtures (``natural``, ``se``, ``doremi``, ``bimix_opt`` ...) live in a folder
the caller chooses (:func:`save_named`, :func:`load_named`, :func:`list_named`); :func:`load_mixture`
finds a mixture by path, by ``"collection/name"`` or by name in a collection, published or not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from bimix.files import atomic_path
from bimix.data.mixtures.mixture import Mixture, MixtureError, _check_name
from bimix.data.mixtures.publications import list_published, published


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
