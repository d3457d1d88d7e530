"""Other people's published run tables (docs/run_tables.md): find local copies, download missing ones,
convert them with :mod:`bimix.data.runs` (notebook 07). The law's protocols on them are
:mod:`bimix.law.public_analysis`.

Local layout (any folder; file names carry what the formats themselves do not say):

``dml_<Domain1>-<Domain2>-....txt``          a Data Mixing Laws loss table; the name after ``dml_``
                                              lists the training domains in the order of the shares
                                              in its run names (the published sets are folders named
                                              that way, e.g. ``Github-Books3-PileCC``)
``regmix_mixtures<tag>.csv`` + ``regmix_losses<tag>.csv``   a RegMix pair (same ``<tag>``)

Downloads use ``urllib`` with a timeout, write atomically, and never raise for a network failure: the
caller gets ``None`` and a message, so a machine without network says so and carries on.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from bimix.files import atomic_path, sha256_file
from bimix.paths import cache_dir
from bimix.data.runs import ConversionReport, dml_mixtures, from_dml, from_regmix


@dataclass
class PublicTable:
    """One converted public run table."""

    name: str  # e.g. "dml_Github-Books3-PileCC"
    source: str  # "dml" | "regmix"
    files: list[Path]
    table: pd.DataFrame
    report: ConversionReport
    # sets that train on groups (5Mix, RedPajama): every run's shares over the training groups
    # (index run), which the share-free exponential law uses; None where the validation domains
    # are the training domains
    mixtures: pd.DataFrame | None = None
    # how validation domains got their share r: {"own_shares": True} or, for a set that trains on
    # groups, {"own_shares": False, "share_map": None | its name, "map": {validation: training}}
    shares: dict = field(default_factory=lambda: {"own_shares": True})


@dataclass
class Fetched:
    path: Path | None
    message: str
    unreachable: bool = False  # the host could not be reached at all (no network, refused, timeout)


def fetch(url: str, dest: str | Path, timeout: float = 20.0) -> Fetched:
    """Download ``url`` to ``dest`` (atomically) unless ``dest`` exists. Network errors, timeouts and
    HTTP errors are reported in the message, never raised."""
    dest = Path(dest)
    if dest.is_file():
        return Fetched(dest, f"{dest.name}: already present")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (user-given URL)
            blob = response.read()
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return Fetched(None, f"{dest.name}: could not download {url} ({type(exc).__name__}: {exc})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(blob)
    return Fetched(dest, f"{dest.name}: downloaded {len(blob):,} bytes from {url}")


# --------------------------------------------------------------------------------------------------
# Data Mixing Laws (Ye et al. 2024): commit-pinned files of the authors' repository. No licence file
# is published with them, so they are not vendored: fetched on first use, verified, cached.

DML_REPO = "yegcjs/mixinglaws"
DML_COMMIT = "8ad3e1244b53294ded55a96ae325f4112ce3bc63"
DML_RAW_URL = f"https://raw.githubusercontent.com/{DML_REPO}/{DML_COMMIT}/"


@dataclass(frozen=True)
class Pinned:
    path: str  # inside the repository, e.g. "data/3Mix/160M.txt"
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class DmlSet:
    """One published set: its loss tables, and the training domains in the order of the shares in
    its run names (the files do not name them; ``None``: not decided, the set is fetched and
    verified but not converted, ``note`` says why).

    ``own_shares``: the validation domains include the training domains themselves (3Mix, 2Mix), so
    each has its own share r. Sets that train on groups of sources but validate on the 22 Pile
    domains (5Mix, RedPajama) have ``own_shares=False``: by default no validation domain has a
    share, the forms that need one (``SHARE_FORMS``: bimix, additive, share) are not applicable
    there, and the share-free exponential law predicts each validation domain from the whole vector
    of group shares. ``share_maps`` are named, opt-in representative maps (validation domain ->
    training group) that give mapped validation domains their group's share, so that BiMix can be
    fitted there; :func:`load_dml` takes one of them, or any map, and the result records which."""

    name: str
    tables: tuple[Pinned, ...]
    domains: tuple[str, ...] | None
    proportions: Pinned | None = None
    domain_map: tuple[tuple[str, str], ...] = ()  # validation domain -> training domain
    note: str = ""
    own_shares: bool = True
    share_maps: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # name -> validation -> training


# The 5Mix groups, in run-name order, and their Pile domains as the validation files name them: the
# grouping of Ye et al.'s five-domain experiments (their notebook for this set).
FIVE_MIX_GROUPS: dict[str, tuple[str, ...]] = {
    "academic": ("ArXiv", "PubMed_Abstracts", "PhilPapers", "NIH_ExPorter", "FreeLaw", "USPTO_Backgrounds",
                 "PubMed_Central"),
    "prose": ("PG19", "Books3", "BookCorpus2"),
    "dialogue": ("Ubuntu_IRC", "OpenSubtitles", "EuroParl", "Enron_Emails", "HackerNews", "YoutubeSubtitles"),
    "symbolic": ("DM_Mathematics", "Github"),
    "internet": ("Pile-CC", "OpenWebText2", "StackExchange", "Wikipedia_en"),
}
# RedPajama's seven sources in run-name order. The files do not name them; the authors' reference
# mixture for this set (0.668, 0.148, 0.047, 0.043, 0.043, 0.027, 0.023) is LLaMA's sampling mixture
# (CommonCrawl 67 %, C4 15 %, GitHub 4.5 %, Wikipedia 4.5 %, Books 4.5 %, ArXiv 2.5 %,
# StackExchange 2 %) in the order LLaMA's table lists it. Wikipedia and Books have equal shares
# there, so their order (4th, 5th) rests on that listing alone.
REDPAJAMA_SOURCES = ("CommonCrawl", "C4", "GitHub", "Wikipedia", "Books", "ArXiv", "StackExchange")
# Opt-in for RedPajama: the Pile domains drawn from the same kind of source as a RedPajama source
# (C4 has no Pile counterpart; the other 14 Pile domains get no share).
REDPAJAMA_SAME_SOURCE = (("Pile-CC", "CommonCrawl"), ("Github", "GitHub"), ("Wikipedia_en", "Wikipedia"),
                         ("Books3", "Books"), ("PG19", "Books"), ("BookCorpus2", "Books"),
                         ("ArXiv", "ArXiv"), ("StackExchange", "StackExchange"))

DML_SETS: dict[str, DmlSet] = {s.name: s for s in (
    DmlSet("3Mix", (
        Pinned("data/3Mix/70M.txt", 257566, "c3f5a3f9bfdae2b8873cfad442b82c2f574b50c0b0dcab17f537d8c85838e10c"),
        Pinned("data/3Mix/160M.txt", 553178, "49185ea7b1c50214afb1f57752bee08e7462b562f3ba9b73a2e32d6bbc08fc6a"),
        Pinned("data/3Mix/410M.txt", 26324, "f0ecb091e6ba05f8d3054cbf88ded3c04b79bb5eb865d25e7875cccbbf9f21de")),
        ("Github", "Books3", "PileCC"),
        note="trains and validates on the same three Pile domains"),
    DmlSet("2Mix", (
        Pinned("data/2Mix/70M.txt", 25345, "f145e8c9d2a017de8eeb16c3c4e2fb096dc15a815f3aeed66d617283627db76e"),
        Pinned("data/2Mix/160M.txt", 25459, "15ca2f0b918fb6e34d1e52daa6ef6e1fc0c9fd10ad300fe17fd99f64699214fe")),
        ("Github", "PileCC"),
        note="two-domain runs of Ye et al., validated on Github and Pile-CC; the first share is "
             "Github's (its loss falls as that share grows); the converter refuses the order if no "
             "validation file matches, and reports any that does not"),
    DmlSet("5Mix", (
        Pinned("data/5Mix/70M.txt", 2223659, "e2291932bc49162c4d57f42b953d9d44c9e7bc2a8617ee051f99c12b89b3c26c"),
        Pinned("data/5Mix/160M.txt", 1902812, "2cfa8f7ee450ac4b1e2e9e605b9fa90372f856fbdb759cc5bcde6a552e843964")),
        tuple(FIVE_MIX_GROUPS),
        proportions=Pinned("data/5Mix/proportions.txt", 703,
                           "41cdb39191417bb75487d5f25229206c4116c93d7667cc1d0b4a5bca35d693c8"),
        own_shares=False,
        share_maps=(("members", tuple((v, g) for g, vs in FIVE_MIX_GROUPS.items() for v in vs)),),
        note="trains on five groups of Pile domains (academic, prose, dialogue, symbolic, internet: five "
             "shares per run name and per line of proportions.txt) but validates on the 22 Pile "
             "domains: by default only the share-free exponential law applies; the opt-in map "
             "'members' gives each Pile domain the share of its group"),
    DmlSet("RedPajama", (
        Pinned("data/RedPajama/70M.txt", 2798200, "4a3e3afec60dadfbf77b23e09d89653e9abdfa0c1db35c83fe073e039f142991"),
        Pinned("data/RedPajama/160M.txt", 1411793, "4bd1696e96ef86f8f4114c3b4920f99395ffc9cfe7455d7fd9b080e09f7643d0")),
        REDPAJAMA_SOURCES,
        proportions=Pinned("data/RedPajama/proportions.txt", 959,
                           "63c9cb67cbbfd1d09143ac2398413b4bd32290d89925140d174e31c4fcd84482"),
        own_shares=False,
        share_maps=(("same-source", REDPAJAMA_SAME_SOURCE),),
        note="trains on seven RedPajama sources (seven shares per run name and per line of "
             "proportions.txt) but validates on the 22 Pile domains: by default only the share-free "
             "exponential law applies; the opt-in map 'same-source' gives 8 Pile domains the share "
             "of the RedPajama source of the same kind"),
)}


def fetch_pinned(url: str, dest: str | Path, pin: Pinned, timeout: float = 20.0) -> Fetched:
    """Download ``url`` to ``dest`` unless a verified copy is there. The bytes are checked against the
    pin's size and sha256 in memory, before anything is written; only a verified file is renamed
    into place (atomically), so the cache never holds a partial or wrong file. A cached file whose
    hash no longer matches is removed and fetched again. Never raises for network or hash errors."""
    import hashlib

    dest = Path(dest)
    if dest.is_file():
        if sha256_file(dest) == pin.sha256:
            return Fetched(dest, f"{pin.path}: cached, sha256 verified")
        dest.unlink()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (pinned URL)
            blob = response.read()
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        return Fetched(None, f"{pin.path}: could not download ({type(exc).__name__}: {exc})",
                       unreachable=not isinstance(exc, urllib.error.HTTPError))
    digest = hashlib.sha256(blob).hexdigest()
    if digest != pin.sha256 or len(blob) != pin.size:
        return Fetched(None, f"{pin.path}: refused, {len(blob)} bytes with sha256 {digest}; expected "
                             f"{pin.size} bytes with sha256 {pin.sha256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(blob)
    return Fetched(dest, f"{pin.path}: downloaded {len(blob):,} bytes, sha256 verified")


def fetch_dml(names: Sequence[str] = tuple(DML_SETS), cache: str | Path | None = None,
              base_url: str = DML_RAW_URL, timeout: float = 20.0,
              registry: dict[str, DmlSet] | None = None) -> tuple[dict[str, list[Path]], list[str]]:
    """Fetch the pinned Data Mixing Laws files of the sets ``names`` into
    ``<cache>/dml/<commit>/`` (default cache: ``$BIMIX_CACHE/public_runs``). Returns the verified
    loss tables per set (a set missing any table is left out) and the messages: one line per
    file fetched, and one line naming every file that could not be had, with the first reason."""
    registry = DML_SETS if registry is None else registry
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise ValueError(f"unknown Data Mixing Laws sets {unknown}; choose from: {', '.join(registry)}")
    root = (Path(cache) if cache else cache_dir() / "public_runs") / "dml" / DML_COMMIT
    got, messages, missing, first = {}, [], [], ""
    unreachable = False
    for name in names:
        dml = registry[name]
        paths = []
        for pin in dml.tables + ((dml.proportions,) if dml.proportions else ()):
            dest = root / pin.path
            if unreachable and not dest.is_file():
                missing.append(pin.path)  # the host is unreachable: do not wait for it once per file
                continue
            f = fetch_pinned(base_url + pin.path, dest, pin, timeout=timeout)
            unreachable = unreachable or f.unreachable
            if f.path is None:
                missing.append(pin.path)
                first = first or f.message
            else:
                messages.append(f.message)
                if pin in dml.tables:
                    paths.append(f.path)
        if len(paths) == len(dml.tables):
            got[name] = paths
    if missing:
        messages.append(f"could not fetch {len(missing)} Data Mixing Laws file(s): {', '.join(missing)} "
                        f"(first: {first}); carrying on without them")
    return got, messages


def resolve_share_map(dml: DmlSet, share_map: str | Mapping[str, str] | None) -> tuple[dict[str, str] | None, str | None]:
    """``(map, name)`` for :func:`load_dml`: None (the default: no validation domain of a set that
    trains on groups has a share), the name of one of the set's ``share_maps``, a JSON file holding
    ``{validation domain: training domain}``, or such a mapping. Raises ValueError, in words, for a
    set that needs no map, an unknown name or a map naming no training domain of the set."""
    if share_map is None or share_map == "":
        return None, None
    if dml.own_shares:
        raise ValueError(f"dml {dml.name} validates on its own training domains: a share map is for sets "
                         f"that train on groups ({', '.join(n for n, s in DML_SETS.items() if not s.own_shares)})")
    named = dict(dml.share_maps)
    if isinstance(share_map, str):
        if share_map in named:
            return dict(named[share_map]), share_map
        path = Path(share_map)
        if not path.is_file():
            raise ValueError(f"dml {dml.name}: share map {share_map!r} is neither one of the set's maps "
                             f"({', '.join(named) or 'none'}) nor a JSON file")
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"dml {dml.name}: share map {share_map} is not JSON ({exc.msg}, line {exc.lineno})") from None
        name = str(path)
    else:
        mapping, name = dict(share_map), "custom"
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValueError(f"dml {dml.name}: a share map is a JSON object {{validation domain: training domain}}")
    bad = sorted({v for v in mapping.values() if v not in (dml.domains or ())})
    if bad or not mapping:
        raise ValueError(f"dml {dml.name}: the share map names {bad or 'nothing'}, not training domains of "
                         f"the set ({', '.join(dml.domains or ())})")
    return mapping, name


def load_dml(name: str, files: Sequence[Path], registry: dict[str, DmlSet] | None = None,
             run_filter: str = "", share_map: str | Mapping[str, str] | None = None) -> PublicTable | str:
    """Convert a fetched set, or say in words why it is not converted.

    A set that trains on groups (``DmlSet.own_shares`` False: 5Mix, RedPajama) is converted with its
    validation domains as they are and, unless ``share_map`` is given, no share of their own (r = 0
    in the table); ``PublicTable.mixtures`` holds every run's group shares for the share-free
    exponential law. ``share_map`` (opt-in; see :func:`resolve_share_map`) gives each mapped
    validation domain its group's share, split equally among the domains mapped to one group (the
    r^-α laws absorb a constant factor per domain). ``PublicTable.shares`` records the map used."""
    dml = (DML_SETS if registry is None else registry)[name]
    if dml.domains is None:
        return f"dml {name}: not converted: {dml.note}"
    mapping, map_name = resolve_share_map(dml, share_map)
    mixtures = None
    if dml.own_shares:
        table, report = from_dml(list(files), list(dml.domains), dict(dml.domain_map) or None)
        shares = {"own_shares": True}
    else:
        table, report = from_dml(list(files), list(dml.domains), mapping, own_shares=False)
        mixtures = dml_mixtures(table, dml.domains)
        shares = {"own_shares": False, "training_domains": list(dml.domains), "share_map": map_name,
                  "map": mapping or {}, "without_share": list(report.unmatched_validation)}
    if run_filter:
        keep = table["run"].str.contains(run_filter, regex=True).to_numpy(bool)
        report.notes.append(f"run_filter {run_filter!r} kept {table[keep]['run'].nunique()} of "
                            f"{table['run'].nunique()} runs")
        table = table[keep].reset_index(drop=True)
        if mixtures is not None:
            mixtures = mixtures.loc[sorted(set(table["run"]), key=list(mixtures.index).index)]
    return PublicTable(name=f"dml_{name}", source="dml", files=list(files), table=table, report=report,
                       mixtures=mixtures, shares=shares)


def dml_domains_from_name(path: str | Path) -> list[str]:
    """``dml_Github-Books3-PileCC.txt`` -> ``["Github", "Books3", "PileCC"]``."""
    stem = Path(path).stem
    return [d for d in re.sub(r"^dml_", "", stem).split("-") if d]


def discover(folder: str | Path) -> list[tuple[str, str, list[Path]]]:
    """Public tables in ``folder``: ``(name, source, files)`` per DML table and per RegMix pair.
    A RegMix mixtures file without its losses partner is skipped (and vice versa)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(p.stem, "dml", [p]) for p in sorted(folder.glob("dml_*.txt"))]
    for mix in sorted(folder.glob("regmix_mixtures*.csv")):
        tag = mix.stem[len("regmix_mixtures"):]
        losses = folder / f"regmix_losses{tag}.csv"
        if losses.is_file():
            found.append((f"regmix{tag}", "regmix", [mix, losses]))
    return found


def load(folder: str | Path, dml_domains: Sequence[str] | None = None,
         run_filter: str = "") -> list[PublicTable]:
    """Convert every table :func:`discover` finds. ``dml_domains`` overrides the domains read from a
    DML file name; ``run_filter`` (a regular expression on run ids) keeps e.g. one model size."""
    out = []
    for name, source, files in discover(folder):
        if source == "dml":
            table, report = from_dml(files, list(dml_domains or dml_domains_from_name(files[0])))
        else:
            table, report = from_regmix(files[0], files[1])
        if run_filter:
            keep = table["run"].str.contains(run_filter, regex=True).to_numpy(bool)
            report.notes.append(f"run_filter {run_filter!r} kept {table[keep]['run'].nunique()} of "
                                f"{table['run'].nunique()} runs")
            table = table[keep].reset_index(drop=True)
        out.append(PublicTable(name=name, source=source, files=files, table=table, report=report))
    return out
