"""Other people's published run tables (RUN_TABLES.md): find local copies, download missing ones,
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from bimix.files import atomic_path
from bimix.law import LawError, bootstrap, fit_law
from bimix.protocols import (equal_share_spread, extrapolate_steps, lomo_points, pooled_scores,
                             share_adjusted_spread, spearman)
from bimix.runs import ConversionReport, from_dml, from_regmix

LOMO_FORMS = ("bimix", "additive", "share", "exponential")


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
    lomo, claims["lomo"] = {}, {}
    n_steps = int(usable["step"].nunique())
    for form in LOMO_FORMS:
        if form in ("bimix", "additive") and n_steps < 3:
            claims["lomo"][form] = {"n_points": 0, "applicable": False, "reason": (
                f"the table has {n_steps} step(s): the {form} law's step part needs at least 3")}
            continue
        # the exponential law has no r^-α: rows where a domain is absent are data for it
        data = table if form == "exponential" else usable
        pts, skipped = lomo_points(data, form=form, method=method, n_starts=lomo_starts)
        lomo[form] = (pts, skipped)
        entry = {"n_points": len(pts), "applicable": bool(len(pts)), "n_skipped": len(skipped),
                 "skip_reasons": sorted(set(skipped["reason"]))[:3]}
        if len(pts):
            fin = pts[pts.groupby("run")["step"].transform("max") == pts["step"]]
            # every mixture is averaged over the same domains: those predicted for all of them
            n_mix = fin["heldout"].nunique()
            common = fin.groupby("domain")["heldout"].transform("nunique") == n_mix
            entry["spearman_domains"] = sorted(set(fin.loc[common, "domain"]))
            fin = fin[common].groupby("heldout")[["loss", "pred"]].mean()
            entry.update(pooled_scores(pts.assign(all="all"), "all").iloc[0][["r2_log", "mre"]].to_dict())
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
