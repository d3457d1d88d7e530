"""The paper's datasets (docs/paper.md#setup), streamed with Hugging Face ``datasets``: the Pile and SlimPajama.

Every source, on the hub or on disk, becomes a streaming ``datasets.IterableDataset`` and then goes
through one function, :func:`_documents`, that reads each record's domain and text and applies the
per-domain caps. A local folder of JSONL/Parquet files in the same schema (for instance a capped
sample saved from the hub, or the embedded mini-pile corpus) is read by exactly the code a hub load
uses, so the offline tests exercise the real path.

Schemas (where a record keeps its domain):

- the Pile: ``{"text": ..., "meta": {"pile_set_name": "Pile-CC"}}``;
- SlimPajama: ``{"text": ..., "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}``; the
  ``RedPajama*`` values are reported under the short names the paper and ``bimix.data.mixtures`` use
  (``CommonCrawl``, ``C4``, ``GitHub``, ``Books``, ``ArXiv``, ``Wikipedia``, ``StackExchange``).

``datasets`` is imported only when a source is opened; importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Sequence

__all__ = [
    "DataError",
    "DatasetSpec",
    "Schema",
    "DATASETS",
    "SCHEMAS",
    "PILE_DOMAINS",
    "SLIMPAJAMA_DOMAINS",
    "iter_documents",
    "load_local",
    "local_data_files",
]


class DataError(ValueError):
    """A source cannot be opened or its records do not fit the expected schema; the message says which."""


# The Pile's 22 `meta.pile_set_name` values (Gao et al. 2020). Note "Github", not the paper's "GitHub".
PILE_DOMAINS: tuple[str, ...] = (
    "ArXiv", "BookCorpus2", "Books3", "DM Mathematics", "Enron Emails", "EuroParl", "FreeLaw", "Github",
    "Gutenberg (PG-19)", "HackerNews", "NIH ExPorter", "OpenSubtitles", "OpenWebText2", "PhilPapers",
    "Pile-CC", "PubMed Abstracts", "PubMed Central", "StackExchange", "USPTO Backgrounds", "Ubuntu IRC",
    "Wikipedia (en)", "YoutubeSubtitles",
)
# removed from monology/pile-uncopyrighted for copyright reasons; absent from its files
PILE_COPYRIGHTED: tuple[str, ...] = ("BookCorpus2", "Books3", "OpenSubtitles", "OpenWebText2", "YoutubeSubtitles")

SLIMPAJAMA_NAMES: Mapping[str, str] = MappingProxyType({
    "RedPajamaArXiv": "ArXiv",
    "RedPajamaBook": "Books",
    "RedPajamaC4": "C4",
    "RedPajamaCommonCrawl": "CommonCrawl",
    "RedPajamaGithub": "GitHub",
    "RedPajamaStackExchange": "StackExchange",
    "RedPajamaWikipedia": "Wikipedia",
})
SLIMPAJAMA_DOMAINS: tuple[str, ...] = tuple(SLIMPAJAMA_NAMES.values())


@dataclass(frozen=True)
class Schema:
    """Where a record keeps its domain and text, and how raw domain values are renamed."""

    name: str
    domain_field: str  # dotted path into the record, e.g. "meta.pile_set_name"
    text_field: str = "text"
    domains: tuple[str, ...] = ()  # known domain names (after renaming); empty = not known in advance
    rename: Mapping[str, str] = field(default_factory=dict)  # raw value in the data -> reported name


SCHEMAS: dict[str, Schema] = {
    "pile": Schema("pile", "meta.pile_set_name", domains=PILE_DOMAINS),
    "slimpajama": Schema("slimpajama", "meta.redpajama_set_name", domains=SLIMPAJAMA_DOMAINS, rename=SLIMPAJAMA_NAMES),
}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset on the Hugging Face hub: id, schema, splits, and which domains its files hold."""

    name: str
    hub_id: str
    schema: Schema
    splits: tuple[str, ...]
    unavailable: tuple[str, ...] = ()  # domains of the schema that this copy does not contain
    zstd: bool = False  # files stored as .jsonl.zst: reading them needs the zstandard package
    notes: str = ""

    @property
    def domain_field(self) -> str:
        return self.schema.domain_field

    @property
    def domains(self) -> tuple[str, ...]:
        """All domains of the dataset as published (the Pile: 22; SlimPajama: 7)."""
        return self.schema.domains

    @property
    def available(self) -> tuple[str, ...]:
        """Domains actually present in this hub copy."""
        return tuple(d for d in self.schema.domains if d not in self.unavailable)


DATASETS: dict[str, DatasetSpec] = {
    "pile": DatasetSpec(
        "pile",
        "monology/pile-uncopyrighted",
        SCHEMAS["pile"],
        ("train", "validation", "test"),
        unavailable=PILE_COPYRIGHTED,
        zstd=True,
        notes="the Pile without its five copyrighted domains (17 of 22); the original EleutherAI/pile is no longer hosted",
    ),
    "slimpajama": DatasetSpec(
        "slimpajama",
        "cerebras/SlimPajama-627B",
        SCHEMAS["slimpajama"],
        ("train", "validation", "test"),
        zstd=True,
        notes="627B tokens, 7 domains, deduplicated RedPajama",
    ),
    "slimpajama-6b": DatasetSpec(
        "slimpajama-6b",
        "DKYoon/SlimPajama-6B",
        SCHEMAS["slimpajama"],
        ("train", "validation", "test"),
        notes="a ~6B-token random sample of SlimPajama-627B, same schema",
    ),
}

# Split names as files spell them; a local file belongs to a split when one of these is a token of its path.
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}
_JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".jsonl.xz", ".json.gz", ".json.zst")
_PARQUET_SUFFIXES = (".parquet",)


def _canonical_split(split: str) -> str:
    for canonical, aliases in SPLIT_ALIASES.items():
        if split in aliases:
            return canonical
    raise DataError(f"unknown split {split!r}; use one of {sorted(SPLIT_ALIASES)} (aliases: {SPLIT_ALIASES})")


# --------------------------------------------------------------------------------- local files


def local_data_files(folder: str | os.PathLike, split: str = "train") -> tuple[str, list[str]]:
    """The ``datasets`` builder (``"json"`` or ``"parquet"``) and the sorted files of ``split`` in ``folder``.

    A file belongs to a split when a token of its path below ``folder`` names it (``train/x.jsonl``,
    ``code/valid-00000.jsonl``, ``test.parquet``). A folder whose files name no split at all is one
    ``train`` split. Plain ``.json`` files (manifests) are ignored: data files are JSON Lines or Parquet.
    """
    root = Path(folder)
    if not root.exists():
        raise DataError(f"local dataset folder {root} does not exist")
    candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found: dict[str, list[Path]] = {"json": [], "parquet": []}
    for path in candidates:
        rel = path.relative_to(root) if path != root else Path(path.name)
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue  # hidden files and temporary files of an interrupted write
        name = path.name.lower()
        if name.endswith(_JSONL_SUFFIXES):
            found["json"].append(rel)
        elif name.endswith(_PARQUET_SUFFIXES):
            found["parquet"].append(rel)
    if found["json"] and found["parquet"]:
        raise DataError(
            f"{root} mixes JSON Lines ({len(found['json'])} files, e.g. {found['json'][0]}) and Parquet "
            f"({len(found['parquet'])} files, e.g. {found['parquet'][0]}); keep one format per folder"
        )
    builder = "json" if found["json"] else "parquet"
    files = found[builder]
    if not files:
        raise DataError(
            f"no data files in {root}: expected JSON Lines ({', '.join(_JSONL_SUFFIXES)}) or Parquet (.parquet)"
        )

    def splits_of(rel: Path) -> set[str]:
        tokens = set(re.split(r"[^A-Za-z0-9]+", rel.as_posix().lower()))
        return {c for c, aliases in SPLIT_ALIASES.items() if tokens & set(aliases)}

    wanted = _canonical_split(split)
    by_split = {rel: splits_of(rel) for rel in files}
    if not any(by_split.values()):  # no split named anywhere: the whole folder is "train"
        if wanted != "train":
            raise DataError(f"{root} has no split structure (no file names a split), so only 'train' exists; asked for {split!r}")
        chosen = files
    else:
        chosen = [rel for rel, splits in by_split.items() if wanted in splits]
        if not chosen:
            present = sorted(set().union(*by_split.values()))
            raise DataError(f"{root} has no files for split {split!r}; splits present: {present}")
    return builder, [str(root / rel) if root.is_dir() else str(root) for rel in chosen]


# ---------------------------------------------------------------------------------- opening


def _resolve_schema(schema: str | Schema | None) -> Schema | None:
    if schema is None or isinstance(schema, Schema):
        return schema
    if schema in SCHEMAS:
        return SCHEMAS[schema]
    if "." in schema or schema.isidentifier():  # a field path, e.g. "meta.source"
        return Schema(schema, schema)
    raise DataError(f"unknown schema {schema!r}: use {sorted(SCHEMAS)} or a dotted domain field path like 'meta.source'")


@dataclass(frozen=True)
class _Source:
    """A resolved source: a hub dataset (``spec``) or local files (``builder``, ``files``)."""

    label: str
    schema: Schema | None
    spec: DatasetSpec | None = None
    builder: str = ""
    files: tuple[str, ...] = ()
    split: str = "train"


def _resolve(
    source: str | os.PathLike, split: str, schema: str | Schema | None, data_files: Sequence[str | os.PathLike] | None
) -> _Source:
    """Decide what ``source`` names, check the split, and find local files; touches no network."""
    key = os.fspath(source)
    # a registry name wins over a same-named folder in the working directory; a Path is always local
    local = data_files is not None or isinstance(source, os.PathLike) or (key not in DATASETS and Path(key).exists())
    if local:
        if data_files is not None:
            files = [os.fspath(f) for f in data_files]
            builder = "parquet" if all(f.endswith(_PARQUET_SUFFIXES) for f in files) else "json"
        else:
            builder, files = local_data_files(key, split)
        return _Source(f"{key} [{split}]", _resolve_schema(schema), None, builder, tuple(files), _canonical_split(split))

    spec = DATASETS.get(key)
    if spec is None:
        if "/" not in key:
            raise DataError(
                f"unknown source {key!r}: not a registered dataset {sorted(DATASETS)}, not an existing path, "
                "and not a hub id of the form 'owner/name'"
            )
        resolved = _resolve_schema(schema)
        if resolved is None:
            raise DataError(f"hub dataset {key!r} is not registered; pass schema= ({sorted(SCHEMAS)} or a field path)")
        spec = DatasetSpec(key, key, resolved, (split,))
    elif schema is not None and _resolve_schema(schema) != spec.schema:
        raise DataError(f"{spec.name!r} has schema {spec.schema.name!r}; schema={schema!r} contradicts it")
    if split not in spec.splits:
        raise DataError(f"{spec.hub_id} has no split {split!r}; splits: {list(spec.splits)}")
    return _Source(f"{spec.hub_id} [{split}]", spec.schema, spec, split=split)


def _require_zstd(what: str) -> None:
    # without it fsspec fails deep inside the stream with "Compression type zstd not supported"
    if importlib.util.find_spec("zstandard") is None:
        raise DataError(f"{what} is compressed with Zstandard; install the zstandard package (pip install zstandard)")


def _open(src: _Source):
    """The streaming ``datasets.IterableDataset`` of a resolved source."""
    import datasets

    zst = [f for f in src.files if f.endswith(".zst")]
    if zst:
        _require_zstd(f"{zst[0]} ({len(zst)} such files)")
    if src.spec is not None and src.spec.zstd:
        _require_zstd(src.spec.hub_id)

    if src.spec is None:
        return datasets.load_dataset(src.builder, data_files={src.split: list(src.files)}, split=src.split, streaming=True)
    not_found = getattr(getattr(datasets, "exceptions", None), "DatasetNotFoundError", OSError)
    try:
        return datasets.load_dataset(src.spec.hub_id, split=src.split, streaming=True)
    except (OSError, not_found) as err:
        raise DataError(
            f"could not open {src.spec.hub_id!r} (split {src.split!r}) on the Hugging Face hub: {err}. "
            "Check the network and that HF_DATASETS_OFFLINE / HF_HUB_OFFLINE are unset; or download its "
            "files and read them with bimix.data.hub.load_local(folder, schema=...)"
        ) from err


# --------------------------------------------------------------------------------- reading


_MISSING = object()


def _field(record: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted ``path``; a flattened column named ``path`` and JSON-string sub-objects count."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, str):  # some dumps store "meta" as a JSON string
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return _MISSING
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _describe(record: Mapping[str, Any]) -> str:
    parts = []
    for k, v in record.items():
        parts.append(f"{k}{{{', '.join(map(str, v))}}}" if isinstance(v, Mapping) else str(k))
    return ", ".join(parts)


def _detect_schema(record: Mapping[str, Any], label: str) -> Schema:
    for schema in SCHEMAS.values():
        if _field(record, schema.domain_field) not in (_MISSING, None):
            return schema
    tried = ", ".join(f"{s.domain_field!r} ({s.name})" for s in SCHEMAS.values())
    raise DataError(
        f"{label}: document 0 has no domain field; tried {tried}. Fields present: {_describe(record)}. "
        "Pass schema='meta.<field>' for another layout"
    )


def _documents(
    dataset: Any,
    schema: Schema | None,
    label: str,
    domains: Sequence[str] | None,
    max_docs_per_domain: int | None,
    stop_when_all: Sequence[str] | None,
) -> Iterator[tuple[str, str]]:
    """Yield (domain, text) from any streaming dataset; the one code path for hub and local sources."""

    def renamed(names: Sequence[str] | None) -> set[str] | None:
        # requested names may be raw ("RedPajamaArXiv") or reported ("ArXiv"); known once the schema is
        return None if names is None else {schema.rename.get(d, d) if schema else d for d in names}

    counts: dict[str, int] = {}
    full: set[str] = set()
    wanted = renamed(domains)
    # with caps, stop once every domain we can expect has reached its cap instead of reading to the end
    targets = renamed(stop_when_all) if (max_docs_per_domain is not None and stop_when_all) else None
    for index, record in enumerate(dataset):
        if schema is None:
            schema = _detect_schema(record, label)
            wanted = renamed(domains)
            targets = renamed(stop_when_all) if (max_docs_per_domain is not None and stop_when_all) else None
        raw = _field(record, schema.domain_field)
        if raw is _MISSING or raw is None:
            raise DataError(
                f"{label}: document {index} has no domain field {schema.domain_field!r} (schema {schema.name!r}); "
                f"fields present: {_describe(record)}"
            )
        if not isinstance(raw, str):
            raise DataError(f"{label}: document {index} has domain {raw!r} in {schema.domain_field!r}; expected a string")
        domain = schema.rename.get(raw, raw)
        if wanted is not None and domain not in wanted:
            continue
        if max_docs_per_domain is not None and counts.get(domain, 0) >= max_docs_per_domain:
            continue
        text = _field(record, schema.text_field)
        if not isinstance(text, str):
            what = "no" if text is _MISSING else f"a {type(text).__name__} in its"
            raise DataError(f"{label}: document {index} ({domain}) has {what} text field {schema.text_field!r}")
        counts[domain] = counts.get(domain, 0) + 1
        yield domain, text
        if targets is not None and counts[domain] >= max_docs_per_domain:
            full.add(domain)
            if targets <= full:
                return
    if wanted is not None:
        absent = sorted(wanted - set(counts))
        if absent:
            raise DataError(
                f"{label}: no documents for requested domains {absent}; domains read: {sorted(counts)}"
            )


def iter_documents(
    source: str | os.PathLike,
    split: str = "train",
    domains: Sequence[str] | None = None,
    max_docs_per_domain: int | None = None,
    *,
    schema: str | Schema | None = None,
    data_files: Sequence[str | os.PathLike] | None = None,
    shuffle_buffer: int | None = None,
    seed: int = 0,
) -> Iterator[tuple[str, str]]:
    """Stream ``(domain, text)`` pairs from a paper dataset or a local folder, in file order.

    ``source``: a :data:`DATASETS` name (``"pile"``, ``"slimpajama"``, ``"slimpajama-6b"``), another
    hub id with ``schema=``, or a local folder/file of JSONL/Parquet (``schema`` detected from the first
    record when not given). ``domains`` restricts to those domains (names as reported, e.g.
    ``"CommonCrawl"`` for SlimPajama); ``max_docs_per_domain`` caps each domain, and streaming stops as
    soon as every requested domain (default: every domain the source is known to hold) is full.
    ``shuffle_buffer`` shuffles shards and a buffer of that many records with ``seed`` (datasets 5.x
    then waits 5 s after a Parquet stream ends, its guard against apache/arrow#45214).

    Raises :class:`DataError` on an unknown/unavailable domain, a record without the domain or text
    field, a requested domain that never occurs, or a hub that cannot be reached.
    """
    if max_docs_per_domain is not None and (
        isinstance(max_docs_per_domain, bool) or not isinstance(max_docs_per_domain, int) or max_docs_per_domain < 1
    ):
        raise DataError(f"max_docs_per_domain must be a positive integer or None, got {max_docs_per_domain!r}")
    if domains is not None:
        if isinstance(domains, str):
            raise DataError(f"domains must be a list of names, got the string {domains!r}")
        domains = list(dict.fromkeys(domains))
        if not domains:
            raise DataError("domains is empty; pass None for all domains")

    src = _resolve(source, split, schema, data_files)
    spec = src.spec
    if domains is not None:
        rename = src.schema.rename if src.schema is not None else {}
        domains = [rename.get(d, d) for d in domains]
        # only a hub dataset's domain list is binding: local folders in the Pile schema may hold any domains
        if spec is not None and spec.domains:
            unknown = [d for d in domains if d not in spec.domains]
            if unknown:
                raise DataError(f"{src.label}: unknown domains {unknown}; {spec.name} domains: {list(spec.domains)}")
            gone = [d for d in domains if d in spec.unavailable]
            if gone:
                raise DataError(
                    f"{src.label}: domains {gone} are not in this copy ({spec.notes}); available: {list(spec.available)}"
                )
    dataset = _open(src)
    if shuffle_buffer is not None:
        dataset = dataset.shuffle(seed=seed, buffer_size=shuffle_buffer)
    stop_when_all = domains if domains is not None else (spec.available if spec is not None else None)
    return _documents(dataset, src.schema, src.label, domains, max_docs_per_domain, stop_when_all)


def load_local(
    folder: str | os.PathLike,
    split: str = "train",
    domains: Sequence[str] | None = None,
    max_docs_per_domain: int | None = None,
    *,
    schema: str | Schema | None = None,
    shuffle_buffer: int | None = None,
    seed: int = 0,
) -> Iterator[tuple[str, str]]:
    """:func:`iter_documents` for a local folder of JSONL/Parquet files in the Pile or SlimPajama schema."""
    path = Path(folder)
    if not path.exists():
        raise DataError(f"local dataset folder {path} does not exist")
    return iter_documents(
        path, split, domains, max_docs_per_domain, schema=schema, shuffle_buffer=shuffle_buffer, seed=seed
    )
