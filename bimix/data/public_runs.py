"""Other people's published run tables (docs/run_tables.md): fetched by pin, verified, cached, read
from a local mirror when one is given, and converted with :mod:`bimix.data.runs` (notebook 07). The
law's protocols on them are :mod:`bimix.law.public_analysis`.

Three public sources (``SOURCES``), each a repository at one commit and the files of it the project
reads, pinned by size and sha256; none is copied into this repository:

``regmix``  ``sail-sg/regmix``: RegMix's proxy runs (Liu et al. 2024), eight CSVs
``dml``     ``yegcjs/mixinglaws``: the Data Mixing Laws loss tables (Ye et al. 2024), per set in ``DML_SETS``
``dmsl``    ``meiqwq/Explaining-Data-Mixing-Scaling-Laws``: the SlimPajama table of Shukor et al. (2025)

Where a pinned file comes from, first found first:

1. a local mirror: the ``mirror`` argument, else ``$BIMIX_PUBLIC_MIRROR``; a folder holding
   ``<source>/<path at the commit>`` (``dml/data/3Mix/70M.txt``) or ``<source>/<path without its
   first folder>`` (``regmix/train_mixture_1m.csv``). A mirror file is verified against its pin
   before use and read in place; one that does not match raises :class:`MirrorError`.
2. the cache, ``<cache>/<source>/<commit>/<path>`` (default cache ``$BIMIX_CACHE/public_runs``).
3. the raw-file URL at the commit, when ``download`` is on: pooch downloads it into the cache and
   keeps it only if its sha256 matches (a cached file that no longer matches is fetched again).
   A network failure is never raised: the caller gets a message and carries on without the file.

Tests and a newer commit pass their own pins: the fetchers take ``sources`` (a dict like
``SOURCES``) or ``registry`` (like ``DML_SETS``); :func:`read_sources` reads sources from JSON.

Other tables in a local folder (any folder; file names carry what the formats themselves do not say):

``dml_<Domain1>-<Domain2>-....txt``          a Data Mixing Laws loss table; the name after ``dml_``
                                              lists the training domains in the order of the shares
                                              in its run names (the published sets are folders named
                                              that way, e.g. ``Github-Books3-PileCC``)
``regmix_mixtures<tag>.csv`` + ``regmix_losses<tag>.csv``   a RegMix pair (same ``<tag>``)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pandas as pd

from bimix.data.runs import ConversionReport, dml_mixtures, from_dml, from_dmsl, from_regmix
from bimix.files import sha256_file, write_json
from bimix.paths import cache_dir

MIRROR_ENV = "BIMIX_PUBLIC_MIRROR"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/"


class PublicRunsError(ValueError):
    """A user-supplied name or setting that cannot be used; the message says which and why."""


class MirrorError(PublicRunsError):
    """A mirror file that is not the pinned file."""


@dataclass
class PublicTable:
    """One converted public run table."""

    name: str  # e.g. "dml_Github-Books3-PileCC"
    source: str  # "dml" | "regmix" | "dmsl"
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


@dataclass(frozen=True)
class Pinned:
    path: str  # inside the repository, e.g. "data/3Mix/160M.txt"
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class Source:
    """A public repository at one commit and the files of it the project reads."""

    name: str  # short name: its folder in the cache and in a mirror ("regmix", "dml", "dmsl")
    repo: str  # owner/name on GitHub
    commit: str  # 40 hex digits
    files: tuple[Pinned, ...]
    licence: str  # as the repository states it

    @property
    def base_url(self) -> str:
        return RAW_URL.format(repo=self.repo, commit=self.commit)

    def pin(self, path: str) -> Pinned:
        """The pin of ``path`` (inside the repository, or its file name alone)."""
        for p in self.files:
            if path in (p.path, Path(p.path).name):
                return p
        raise PublicRunsError(f"{self.name}: no pinned file {path!r} (pinned: "
                              f"{', '.join(p.path for p in self.files)})")


def check_name(name: str, what: str) -> str:
    """``name`` if it is safe as one component of a file name (letters, digits, ``_ . +``, not
    starting with a dot); raises PublicRunsError otherwise, so that a user-supplied name such as
    ``Books3/../../x`` can never place a file outside the folder it is meant for."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_+][A-Za-z0-9_.+]*", name):
        raise PublicRunsError(f"{what} {name!r} is not a plain name: use letters, digits, '_', '.' or "
                              "'+', not starting with '.' (no '/', '\\', '-', spaces or '..')")
    return name


# --------------------------------------------------------------------------------------------------
# One pinned file: from the mirror, the cache, or a verified download (pooch).

@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """pooch logs every download at INFO through its own handler; the caller prints our messages."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download_error(exc: Exception) -> tuple[str, bool]:
    """``(reason, unreachable)`` for a failed download; unreachable: the host never answered."""
    import requests

    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.exceptions.HTTPError):
        return reason, False
    return reason, isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def mirror_folder(mirror: str | os.PathLike | None = None) -> Path | None:
    """The mirror in use: the argument, else ``$BIMIX_PUBLIC_MIRROR``, else None."""
    value = mirror if mirror not in (None, "") else os.environ.get(MIRROR_ENV, "")
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        origin = "the mirror argument" if mirror not in (None, "") else f"${MIRROR_ENV}"
        raise PublicRunsError(f"public mirror {folder} (from {origin}) is not a folder")
    return folder


def mirror_candidates(folder: Path, source: str, path: str) -> list[Path]:
    """Where a mirror may hold ``path`` of ``source``: ``<source>/<path>`` (the repository's own
    layout), then ``<source>/<path without its first folder>`` (``regmix/train_mixture_1m.csv``)."""
    parts = Path(path).parts
    out = [folder / source / path]
    if len(parts) > 1:
        out.append(folder.joinpath(source, *parts[1:]))
    return out


def _from_mirror(folder: Path, source: Source, pin: Pinned) -> Fetched | None:
    for path in mirror_candidates(folder, source.name, pin.path):
        if path.is_file():
            size, digest = path.stat().st_size, sha256_file(path)
            if size != pin.size or digest != pin.sha256:
                raise MirrorError(f"mirror file {path} is not {source.repo}@{source.commit[:12]} {pin.path}: "
                                  f"{size} bytes with sha256 {digest}; the pin says {pin.size} bytes with "
                                  f"sha256 {pin.sha256}")
            return Fetched(path, f"{pin.path}: from the mirror, sha256 verified")
    return None


def fetch_pinned(url: str, dest: str | Path, pin: Pinned, timeout: float = 20.0) -> Fetched:
    """Download ``url`` to ``dest`` with pooch unless a verified copy is there. pooch downloads into a
    temporary file beside ``dest`` and renames it into place only after its sha256 matched, so the
    cache never holds a partial or wrong file; a cached file whose hash no longer matches is fetched
    again. Never raises for network or hash errors: the message says what happened."""
    import pooch

    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == pin.sha256:
        return Fetched(dest, f"{pin.path}: cached, sha256 verified")
    try:
        with _quiet_pooch():
            got = pooch.retrieve(url, known_hash=f"sha256:{pin.sha256}", fname=dest.name, path=dest.parent,
                                 downloader=pooch.HTTPDownloader(timeout=timeout, progressbar=False))
    except ValueError as exc:  # pooch: the downloaded file's hash is not the pin's
        return Fetched(None, f"{pin.path}: refused, {exc}")
    except Exception as exc:  # noqa: BLE001 (requests' and the OS's errors: reported, never raised)
        reason, unreachable = _download_error(exc)
        return Fetched(None, f"{pin.path}: could not download ({reason})", unreachable=unreachable)
    return Fetched(Path(got), f"{pin.path}: downloaded {pin.size:,} bytes, sha256 verified")


def _cache_root(source_name: str, commit: str, cache: str | os.PathLike | None) -> Path:
    return (Path(cache) if cache else cache_dir() / "public_runs") / source_name / commit


def get_pinned(source: Source, pin: Pinned, *, folder: Path | None, root: Path, base_url: str,
               download: bool, timeout: float, unreachable: bool = False) -> Fetched:
    """One pinned file from the mirror ``folder``, the cache ``root`` or ``base_url`` (module
    docstring). ``unreachable``: the host already failed for an earlier file, so do not wait again."""
    f = _from_mirror(folder, source, pin) if folder else None
    if f is not None:
        return f
    dest = root / pin.path
    if download and not unreachable:
        return fetch_pinned(base_url + pin.path, dest, pin, timeout=timeout)
    if dest.is_file() and sha256_file(dest) == pin.sha256:
        return Fetched(dest, f"{pin.path}: cached, sha256 verified")
    if unreachable:
        return Fetched(None, f"{pin.path}: not cached and the host was unreachable", unreachable=True)
    where = "not in the mirror and not cached" if folder else "not cached"
    return Fetched(None, f"{pin.path}: {where}, and downloads are off")


def fetch_files(source: Source, paths: Sequence[str] | None = None, *, mirror: str | os.PathLike | None = None,
                cache: str | os.PathLike | None = None, base_url: str | None = None, download: bool = True,
                timeout: float = 20.0) -> tuple[dict[str, Path], list[str]]:
    """The pinned files ``paths`` of ``source`` (default: all), each from the mirror, the cache or a
    verified download. Returns ``{path: local file}`` for the files had, and the messages: one line
    per file had and one line naming every file that could not be had, with the first reason.
    Raises only :class:`PublicRunsError` (a mirror that is not a folder, or a mirror file that is
    not the pinned one), never for the network."""
    pins = source.files if paths is None else tuple(source.pin(p) for p in paths)
    folder = mirror_folder(mirror)
    root = _cache_root(source.name, source.commit, cache)
    got, messages, missing, first = {}, [], [], ""
    for pin, f in _get_all(source, pins, folder=folder, root=root, base_url=base_url or source.base_url,
                           download=download, timeout=timeout):
        if f.path is None:
            missing.append(pin.path)
            first = first or f.message
        else:
            messages.append(f.message)
            got[pin.path] = f.path
    if missing:
        messages.append(f"could not fetch {len(missing)} {source.name} file(s) of {source.repo}: "
                        f"{', '.join(missing)} (first: {first}); carrying on without them")
    return got, messages


def _get_all(source, pins, *, state: dict | None = None, **kwargs):
    """(pin, :class:`Fetched`) for each pin through :func:`get_pinned`; once the host proved unreachable,
    the later pins (also of later calls sharing ``state``) are not downloaded again."""
    state = {"unreachable": False} if state is None else state
    for pin in pins:
        f = get_pinned(source, pin, unreachable=state["unreachable"], **kwargs)
        state["unreachable"] = state["unreachable"] or f.unreachable
        yield pin, f


def fetch(url: str, dest: str | Path, timeout: float = 20.0) -> Fetched:
    """Download an unpinned ``url`` (a table a user names) to ``dest`` unless ``dest`` exists, with
    pooch (a temporary file renamed into place). Network and HTTP errors are reported, never raised."""
    import pooch

    dest = Path(dest)
    if dest.is_file():
        return Fetched(dest, f"{dest.name}: already present")
    try:
        with _quiet_pooch():
            got = Path(pooch.retrieve(url, known_hash=None, fname=dest.name, path=dest.parent,
                                      downloader=pooch.HTTPDownloader(timeout=timeout, progressbar=False)))
    except Exception as exc:  # noqa: BLE001 (reported, never raised)
        reason, unreachable = _download_error(exc)
        return Fetched(None, f"{dest.name}: could not download {url} ({reason})", unreachable=unreachable)
    return Fetched(got, f"{dest.name}: downloaded {got.stat().st_size:,} bytes from {url}")


def fetch_dml_url(url: str, domains: Sequence[str], folder: str | Path, timeout: float = 20.0) -> Fetched:
    """Fetch a Data Mixing Laws table a user names by URL into ``folder`` as
    ``dml_<Domain1>-<Domain2>-....txt`` (:func:`discover` reads the domains back from that name).
    Each domain must be a plain name (:func:`check_name`), since it becomes part of a file name."""
    if not domains:
        raise PublicRunsError("a Data Mixing Laws table given by URL needs its training domains in share "
                              "order (dml_domains, e.g. Github,Books3,PileCC): the file does not name them")
    names = [check_name(d, "dml_domains entry") for d in domains]
    return fetch(url, Path(folder) / f"dml_{'-'.join(names)}.txt", timeout=timeout)


# --------------------------------------------------------------------------------------------------
# Data Mixing Laws (Ye et al. 2024): commit-pinned files of the authors' repository (no licence
# published).

DML_REPO = "yegcjs/mixinglaws"
DML_COMMIT = "8ad3e1244b53294ded55a96ae325f4112ce3bc63"
DML_RAW_URL = RAW_URL.format(repo=DML_REPO, commit=DML_COMMIT)
DML_LICENCE = "none published"


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


def fetch_dml(names: Sequence[str] = tuple(DML_SETS), cache: str | Path | None = None,
              base_url: str = DML_RAW_URL, timeout: float = 20.0,
              registry: dict[str, DmlSet] | None = None, *, mirror: str | os.PathLike | None = None,
              download: bool = True) -> tuple[dict[str, list[Path]], list[str]]:
    """The pinned Data Mixing Laws files of the sets ``names``, each from the mirror, the cache
    (``<cache>/dml/<commit>/``, default cache ``$BIMIX_CACHE/public_runs``) or a verified download
    (module docstring). Returns the loss tables per set (a set missing any table is left out) and
    the messages: one line per file had, and one line naming every file that could not be had,
    with the first reason. Never raises for the network; a mirror file that is not the pinned one
    raises :class:`MirrorError`."""
    registry = DML_SETS if registry is None else registry
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise PublicRunsError(f"unknown Data Mixing Laws sets {unknown}; choose from: {', '.join(registry)}")
    source = Source("dml", DML_REPO, DML_COMMIT, (), DML_LICENCE)
    folder, root = mirror_folder(mirror), _cache_root("dml", DML_COMMIT, cache)
    got, messages, missing, first = {}, [], [], ""
    state = {"unreachable": False}  # one unreachable host is not asked again for the next set
    for name in names:
        dml = registry[name]
        paths = []
        for pin, f in _get_all(source, dml.tables + ((dml.proportions,) if dml.proportions else ()),
                               folder=folder, root=root, base_url=base_url, download=download,
                               timeout=timeout, state=state):
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


# --------------------------------------------------------------------------------------------------
# RegMix (Liu et al. 2024; MIT) and the SlimPajama table of Shukor et al. (2025), which a repository
# explaining data-mixing scaling laws republished (no licence stated there): pinned, never vendored.

REGMIX = Source("regmix", "sail-sg/regmix", "b004d3a3f39846dcec6b3740da22bcd1ba95a5d0", (
    Pinned("data/train_mixture_1m.csv", 46412, "04a32ef4ab594376bf90e11404c033668f887c351d6a03ad3744824c7296a2d8"),
    Pinned("data/train_pile_loss_1m.csv", 121898, "49a959aa07ce5c20831d5abe3a7896ff0cd90a398bd407c8913fd5588be0465a"),
    Pinned("data/test_mixture_1m.csv", 23537, "197267b7d6f15367e2f46c881e564c35b0d34e51b1754bb09d07e650cf8e1ce8"),
    Pinned("data/test_pile_loss_1m.csv", 61175, "e027b1674f60140a65a87b5e4a59ab5f09dc33e8fd02c080682678074b160f53"),
    Pinned("data/test_mixture_60m.csv", 23537, "197267b7d6f15367e2f46c881e564c35b0d34e51b1754bb09d07e650cf8e1ce8"),
    Pinned("data/test_pile_loss_60m.csv", 61827, "8fe69d59ab7dd4fae4736459f4265ec93c7ed1ad1eca407346052560edc72b5b"),
    Pinned("data/test_mixture_1B.csv", 6393, "dd38052949c0a5f84165bdcb3ae3a331c7f07efd9bb83848bd579dfc4ce75a2c"),
    Pinned("data/test_pile_loss_1B.csv", 10639, "b2451e2b7fa15400688edc39e4d32f21ccbe0fb356e07d62a0e9ccddf247114f")),
    licence="MIT (Copyright (c) 2024 Sea AI Lab)")
DMSL = Source("dmsl", "meiqwq/Explaining-Data-Mixing-Scaling-Laws", "c2bf1106e8e54b8d368cd6de2515d4804f1c8a36", (
    Pinned("data/dmsl_llm_slimpajama.csv", 738762, "9c950a9f96e058318cfcefde5835143525937186163f4c2345b030ef0ea0519f"),),
    licence="none published (a copy of the table released with Shukor et al., arXiv 2507.09404)")
SOURCES: dict[str, Source] = {
    "regmix": REGMIX,
    "dml": Source("dml", DML_REPO, DML_COMMIT,
                  tuple(dict.fromkeys(p for s in DML_SETS.values()
                                      for p in s.tables + ((s.proportions,) if s.proportions else ()))),
                  DML_LICENCE),
    "dmsl": DMSL,
}


def read_sources(path: str | os.PathLike) -> dict[str, Source]:
    """Pinned sources from JSON, ``{name: {"repo", "commit", "licence", "files": [{"path", "size",
    "sha256"}]}}`` (what :func:`write_sources` writes): pins of a newer commit, or a test's fixtures.
    Raises PublicRunsError, in words, for a file that is not such a registry."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {name: Source(name, s["repo"], s["commit"],
                             tuple(Pinned(f["path"], int(f["size"]), f["sha256"]) for f in s["files"]),
                             s.get("licence", ""))
                for name, s in raw.items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PublicRunsError(f"{path} is not a pins file ({type(exc).__name__}: {exc}); expected "
                              '{"<source>": {"repo", "commit", "files": [{"path", "size", "sha256"}]}}') from None


def write_sources(sources: Mapping[str, Source], path: str | os.PathLike) -> Path:
    return write_json(path, {name: {"repo": s.repo, "commit": s.commit, "licence": s.licence,
                                    "files": [{"path": p.path, "size": p.size, "sha256": p.sha256}
                                              for p in s.files]}
                             for name, s in sources.items()})


def fetch_source(name: str, sources: Mapping[str, Source] | None = None, **kwargs) -> tuple[dict[str, Path], list[str]]:
    """:func:`fetch_files` for the source ``name`` of ``sources`` (default :data:`SOURCES`),
    keyed by file name (``train_mixture_1m.csv``) rather than path; ``kwargs`` go to fetch_files."""
    sources = SOURCES if sources is None else sources
    if name not in sources:
        raise PublicRunsError(f"unknown public source {name!r}; registered: {', '.join(sources)}")
    got, messages = fetch_files(sources[name], **kwargs)
    return {Path(p).name: f for p, f in got.items()}, messages


def load_dmsl(path: str | os.PathLike, run_filter: str = "") -> PublicTable:
    """The SlimPajama table of Shukor et al. converted (:func:`bimix.data.runs.from_dmsl`)."""
    table, report = from_dmsl(path)
    table, report = _filtered(table, report, run_filter)
    return PublicTable(name="dmsl_slimpajama", source="dmsl", files=[Path(path)], table=table, report=report)


def _filtered(table: pd.DataFrame, report: ConversionReport, run_filter: str) -> tuple[pd.DataFrame, ConversionReport]:
    if not run_filter:
        return table, report
    keep = table["run"].str.contains(run_filter, regex=True).to_numpy(bool)
    report.notes.append(f"run_filter {run_filter!r} kept {table[keep]['run'].nunique()} of "
                        f"{table['run'].nunique()} runs")
    return table[keep].reset_index(drop=True), report


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
        table, report = _filtered(table, report, run_filter)
        out.append(PublicTable(name=name, source=source, files=files, table=table, report=report))
    return out


def parse_domains(text: str) -> list[str]:
    """``"Github,Books3,PileCC"`` -> ``["Github", "Books3", "PileCC"]``, each checked with
    :func:`check_name` (the names become part of a file name); empty text -> ``[]``."""
    return [check_name(d.strip(), "dml_domains entry") for d in text.split(",") if d.strip()]


# --------------------------------------------------------------------------------------------------
# Everything notebook 07 reads, in one call.

@dataclass
class PublicTables:
    """The public tables one notebook run could have: what was fetched, converted, and said on the way."""

    regmix_files: dict[str, Path]  # RegMix's pinned files had, by file name
    have_regmix: bool  # every pinned RegMix file was had
    dmsl: PublicTable | None  # Apple's SlimPajama table (Shukor et al.), None if not had
    dml_files: dict[str, list[Path]]  # the pinned Data Mixing Laws sets had
    tables: list[PublicTable]  # the Data Mixing Laws sets converted, then every table of ``folder``
    messages: list[str]  # one line per file had or missed, and per set not converted
    folder: Path  # other tables, and downloads from URLs a user names
    mirror: Path | None
    download: bool

    @property
    def offline(self) -> bool:
        """No pinned table could be had: no mirror holds them, nothing is cached, downloads are off or failed."""
        return not self.have_regmix and not self.dml_files and self.dmsl is None

    def note(self, standing_in: str | None = None) -> str:
        """What was had, in lines; offline, one line saying so and naming the committed results that
        ``standing_in`` (their path) says are shown instead, then the conversion reports of any other table."""
        reports = [str(t.report) for t in self.tables]
        if not self.offline:
            return "\n".join(self.messages + reports)
        why = (f"{'no mirror' if self.mirror is None else 'not in the mirror'}, not cached, "
               f"{'downloads failed' if self.download else 'downloads off'}")
        line = (f"offline ({why}): no pinned public table could be had; showing the committed results "
                f"({standing_in}) and leaving the committed figures as they are" if standing_in else
                f"offline ({why}): no pinned public table could be had and no committed results exist; give "
                "public_mirror or allow downloads")
        return "\n".join([line] + reports)


def gather(sources: Mapping[str, Source], folder: str | Path, *, mirror: Path | None = None, download: bool = True,
           timeout: float = 20.0, dml_sets: str = "", dml_share_maps: str = "", run_filter: str = "",
           dml_domains: str = "", dml_url: str = "", regmix_urls: tuple[str, str] = ("", "")) -> PublicTables:
    """Every public table notebook 07 reads: RegMix's and Apple's SlimPajama files of ``sources``
    (:func:`fetch_source`), the Data Mixing Laws sets named in ``dml_sets`` (comma-separated;
    :func:`fetch_dml`, converted with the maps of ``dml_share_maps``, ``set=map`` pairs), and, with
    ``download`` on, the tables a user names by URL (``regmix_urls``: the mixtures and losses CSVs;
    ``dml_url`` with its ``dml_domains``), then every table in ``folder`` (:func:`load`). Each from
    the mirror, the cache or a verified download (module docstring); ``run_filter`` keeps matching run
    ids. Refuses a ``dml_domains`` entry that is not a plain name before fetching anything."""
    domains = parse_domains(dml_domains)  # each becomes part of a file name
    folder = Path(folder)
    kw = dict(mirror=mirror, download=download, timeout=timeout)
    regmix_files, messages = fetch_source("regmix", sources, **kw)
    dmsl_files, dmsl_messages = fetch_source("dmsl", sources, **kw)
    messages += dmsl_messages
    dmsl = load_dmsl(next(iter(dmsl_files.values())), run_filter=run_filter) if dmsl_files else None
    share_maps = dict(item.strip().split("=", 1) for item in dml_share_maps.split(",") if item.strip())
    dml_files, dml_messages = fetch_dml([n.strip() for n in dml_sets.split(",") if n.strip()], **kw)
    messages += dml_messages
    tables = []
    for name, files in dml_files.items():
        got = load_dml(name, files, run_filter=run_filter, share_map=share_maps.get(name))
        if isinstance(got, str):
            messages.append(got)
        else:
            tables.append(got)
    if download:
        urls = zip(regmix_urls, (folder / "regmix_mixtures.csv", folder / "regmix_losses.csv"))
        messages += [fetch(url, dest, timeout=timeout).message for url, dest in urls if url]
        if dml_url:
            messages.append(fetch_dml_url(dml_url, domains, folder, timeout=timeout).message)
    tables += load(folder, dml_domains=domains or None, run_filter=run_filter)
    out = PublicTables(regmix_files, len(regmix_files) == len(sources["regmix"].files), dmsl, dml_files, tables,
                       messages, folder, mirror, download)
    if not out.offline and not tables:
        messages.append(f"no Data Mixing Laws or other public run tables fetched or in {folder}")
    return out
