"""Other people's published run tables (docs/run_tables.md): find local copies, download missing ones,
convert them with :mod:`bimix.runs`, and run the paper's protocols on each (notebook 07).

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

import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from bimix.files import atomic_path, sha256_file
from bimix.paths import cache_dir
from bimix.law import LawError, bootstrap, fit_law
from bimix.protocols import (equal_share_spread, extrapolate_steps, lomo_points, pooled_scores,
                             share_adjusted_spread, spearman)
from bimix.runs import ConversionReport, from_dml, from_regmix

LOMO_FORMS = ("bimix", "additive", "share", "exponential")
EXTRAPOLATE_STEPS = (1, 3)  # Table 1: the last step, and the last three, held out


@dataclass
class PublicTable:
    """One converted public run table."""

    name: str  # e.g. "dml_Github-Books3-PileCC"
    source: str  # "dml" | "regmix"
    files: list[Path]
    table: pd.DataFrame
    report: ConversionReport


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
    its run names (the files do not name them). ``domains`` is None where no share mapping is
    decided: the set is fetched and verified but not converted (``note`` says why)."""

    name: str
    tables: tuple[Pinned, ...]
    domains: tuple[str, ...] | None
    proportions: Pinned | None = None
    domain_map: tuple[tuple[str, str], ...] = ()  # validation domain -> training domain
    note: str = ""


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
        note="two-domain runs of Ye et al. (Github and Pile-CC in their paper's two-domain "
             "experiments); not checked against the file here: the converter refuses the order if no "
             "validation file matches, and reports any that does not"),
    DmlSet("5Mix", (
        Pinned("data/5Mix/70M.txt", 2223659, "e2291932bc49162c4d57f42b953d9d44c9e7bc2a8617ee051f99c12b89b3c26c"),
        Pinned("data/5Mix/160M.txt", 1902812, "2cfa8f7ee450ac4b1e2e9e605b9fa90372f856fbdb759cc5bcde6a552e843964")),
        None,
        proportions=Pinned("data/5Mix/proportions.txt", 703,
                           "41cdb39191417bb75487d5f25229206c4116c93d7667cc1d0b4a5bca35d693c8"),
        note="trains on five groups of Pile domains (academic, prose, dialogue, symbolic, internet, in "
             "run-name order per the authors' notebook) but validates on the 22 Pile domains; which "
             "group each validation domain belongs to is not decided here, so the set is fetched and "
             "verified but not converted"),
    DmlSet("RedPajama", (
        Pinned("data/RedPajama/70M.txt", 2798200, "4a3e3afec60dadfbf77b23e09d89653e9abdfa0c1db35c83fe073e039f142991"),
        Pinned("data/RedPajama/160M.txt", 1411793, "4bd1696e96ef86f8f4114c3b4920f99395ffc9cfe7455d7fd9b080e09f7643d0")),
        None,
        proportions=Pinned("data/RedPajama/proportions.txt", 959,
                           "63c9cb67cbbfd1d09143ac2398413b4bd32290d89925140d174e31c4fcd84482"),
        note="trains on seven RedPajama sources but validates on the 22 Pile domains; the source order "
             "in the run names and a validation-domain mapping are not decided here, so the set is "
             "fetched and verified but not converted"),
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


def load_dml(name: str, files: Sequence[Path], registry: dict[str, DmlSet] | None = None,
             run_filter: str = "") -> PublicTable | str:
    """Convert a fetched set, or say in words why it is not converted."""
    dml = (DML_SETS if registry is None else registry)[name]
    if dml.domains is None:
        return f"dml {name}: not converted: {dml.note}"
    table, report = from_dml(list(files), list(dml.domains), dict(dml.domain_map) or None)
    if run_filter:
        keep = table["run"].str.contains(run_filter, regex=True).to_numpy(bool)
        report.notes.append(f"run_filter {run_filter!r} kept {table[keep]['run'].nunique()} of "
                            f"{table['run'].nunique()} runs")
        table = table[keep].reset_index(drop=True)
    return PublicTable(name=f"dml_{name}", source="dml", files=list(files), table=table, report=report)


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


@dataclass
class Analysis:
    """The paper's protocols on one public table: JSON-ready ``claims`` and the points behind them."""

    claims: dict
    lomo: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)


def analyse(pub: PublicTable, method: str = "trf", holdout_last: int = 1, n_starts: int = 8,
            lomo_starts: int = 2, n_bootstrap: int = 0, seed: int = 0) -> Analysis:
    """Table 1 (when runs have enough steps), leave-one-mixture-out for every form in ``LOMO_FORMS``
    (the only held-out protocol a table without named entropy mixtures allows), the law fitted on all
    runs with bootstrap intervals, and the no-interaction checks. Rows with r = 0 are excluded from
    every fit and counted; a protocol a table cannot support is reported with its reason."""
    table = pub.table
    usable = table[table["r"] > 0]
    steps_per_run = usable.groupby("run")["step"].nunique()
    claims: dict = {"source": pub.source, "files": [p.name for p in pub.files],
                    "n_runs": int(table["run"].nunique()), "n_mixtures": int(table["mixture"].nunique()),
                    "n_domains": int(table["domain"].nunique()), "n_steps": int(table["step"].nunique()),
                    "n_rows": len(table), "n_excluded_zero_share": len(table) - len(usable),
                    "conversion": pub.report.to_json()}
    multi_step = bool((steps_per_run >= 3 + holdout_last).all())
    if multi_step:
        ext = extrapolate_steps(usable, form="bimix", method=method, holdout_last=holdout_last,
                                n_starts=n_starts)
        claims["extrapolation"] = ext.to_json()
    else:
        claims["extrapolation"] = {"applicable": False, "reason": (
            f"runs have {int(steps_per_run.min())} step(s); extrapolating {holdout_last} step(s) "
            "needs at least 3 more to fit the step law")}
    # Table 1 for the two laws with a step variable, one and three steps ahead, on the same runs
    claims["extrapolation_by_form"] = {}
    for form in ("bimix", "additive"):
        for k in EXTRAPOLATE_STEPS:
            if bool((steps_per_run >= 3 + k).all()):
                e = extrapolate_steps(table, form=form, method=method, holdout_last=k, n_starts=n_starts)
                entry = {"applicable": e.applicable, "reason": e.reason, "mre_mean": e.mre_mean,
                         "mre_worst": e.mre_worst, "n_runs": len(e.per_run), "n_failed": len(e.failed),
                         "n_excluded_zero_share": e.n_excluded_zero_share}
            else:
                entry = {"applicable": False, "reason": (
                    f"runs have {int(steps_per_run.min())} step(s); holding out {k} needs at least "
                    f"{3 + k}")}
            claims["extrapolation_by_form"][f"{form}, last {k}"] = entry
    lomo, claims["lomo"] = {}, {}
    n_steps = int(usable["step"].nunique())
    for form in LOMO_FORMS:
        if form in ("bimix", "additive") and n_steps < 3:
            claims["lomo"][form] = {"n_points": 0, "applicable": False, "reason": (
                f"the table has {n_steps} step(s): the {form} law's step part needs at least 3")}
            continue
        # the exponential law has no r^-α: rows where a domain is absent are data for it
        data = table if form == "exponential" else usable
        t0 = time.perf_counter()
        pts, skipped = lomo_points(data, form=form, method=method, n_starts=lomo_starts)
        lomo_s = time.perf_counter() - t0
        lomo[form] = (pts, skipped)
        entry = {"n_points": len(pts), "applicable": bool(len(pts)), "n_skipped": len(skipped),
                 "skip_reasons": sorted(set(skipped["reason"]))[:3], "lomo_seconds": lomo_s}
        # coefficients and fit time of the form fitted once on every run
        try:
            t0 = time.perf_counter()
            whole = fit_law(data, form=form, method=method, n_starts=lomo_starts)
            entry.update(n_params=whole.n_params, fit_seconds=time.perf_counter() - t0,
                         n_failed_units=sum(bool(u.failure) for u in whole.units.values()))
        except LawError as exc:
            entry.update(n_params=None, fit_seconds=None, fit_error=str(exc))
        if len(pts):
            fin = pts[pts.groupby("run")["step"].transform("max") == pts["step"]]
            # every mixture is averaged over the same domains: those predicted for all of them
            n_mix = fin["heldout"].nunique()
            common = fin.groupby("domain")["heldout"].transform("nunique") == n_mix
            entry["spearman_domains"] = sorted(set(fin.loc[common, "domain"]))
            fin = fin[common].groupby("heldout")[["loss", "pred"]].mean()
            entry.update(pooled_scores(pts.assign(all="all"), "all").iloc[0][["r2_log", "mre"]].to_dict())
            # predictions for mixtures whose shares leave the range the fit saw are extrapolations
            inside = pts[~pts["outside_support"]]
            entry["n_outside_support"] = int(pts["outside_support"].sum())
            entry["r2_log_within_support"] = (pooled_scores(inside.assign(all="all"), "all")["r2_log"].iloc[0]
                                              if len(inside) else None)
            entry["spearman_final"] = spearman(fin["loss"], fin["pred"])
            entry["per_domain"] = pooled_scores(pts, "domain").set_index("domain")[["r2_log", "mre"]].to_dict(orient="index")
        claims["lomo"][form] = entry
    form = "bimix" if multi_step else "share"
    coef = pd.DataFrame()
    try:
        fit = fit_law(usable, form=form, method=method, n_starts=n_starts)
        coef = fit.summary()
        claims["fit_all"] = {"form": form, "n_params": fit.n_params, "rmse_log_mean": float(coef["rmse_log"].mean())}
        if n_bootstrap:
            boot = bootstrap(usable, fit, n_boot=n_bootstrap, seed=seed,
                             scheme="runs+points" if multi_step else "runs")
            claims["fit_all"]["ci"] = boot.ci(level=0.95)
            claims["fit_all"]["bootstrap"] = {"n": n_bootstrap, "n_failed": sum(boot.n_failed.values())}
    except LawError as exc:
        claims["fit_all"] = {"form": form, "error": str(exc)}
    spread = share_adjusted_spread(usable)
    equal = equal_share_spread(usable)
    claims["interaction"] = {
        "spread_log_std_mean": float(spread["spread_log_std"].mean()),
        "equal_share_groups": len(equal),
        "equal_share_rel_range_mean": float(equal["rel_range"].mean()) if len(equal) else None,
        "equal_share_rel_range_max": float(equal["rel_range"].max()) if len(equal) else None}
    return Analysis(claims=claims, lomo=lomo, coefficients=coef)
