"""Run tables: the project's long format, its validation, and converters from public formats.

One row per (run, step, domain) with exactly the columns ``COLUMNS`` (docs/run_tables.md):

    run      str    run id, unique per (mixture, model config, seed)
    mixture  str    mixture name
    seed     int    training seed
    step     int    optimiser steps completed, > 0
    tokens   Int64  training tokens seen so far; missing (<NA>) where a public table does not say
    domain   str    validation domain
    r        float  that domain's training share in this run, 0 ≤ r ≤ 1
    loss     float  mean token cross-entropy on the domain's validation set, nats

``read_runs`` / ``write_runs`` round-trip CSV and Parquet without loss (floats are written in their
shortest round-tripping form; ids stay strings even when they look like numbers). A per-run JSON
sidecar sits at ``<table folder>/sidecars/<run>.json`` (the layout :mod:`bimix.train.proxy` writes).

Converters (``from_dml``, ``from_regmix``, ``from_olmix``, ``from_dmsl``) read the published formats
as they are and return ``(table, ConversionReport)``; domain names are mapped explicitly (``domain_map``) or by a
normaliser against the ``domains`` you name, and every name that matches nothing is reported.

This module imports only numpy and pandas (pyarrow for Parquet).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.files import atomic_path, read_json, write_json

COLUMNS = ("run", "mixture", "seed", "step", "tokens", "domain", "r", "loss")
DTYPES = {"run": "string", "mixture": "string", "seed": "int64", "step": "int64", "tokens": "Int64",
          "domain": "string", "r": "float64", "loss": "float64"}
SHARE_SUM_TOL = 1e-6  # a run's shares over its listed domains may not exceed 1 by more than this


# pandas < 3 parses floats with a fast, slightly lossy routine unless asked; pandas 3 is exact
# by default and deprecates the option
_EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


class RunsSchemaError(ValueError):
    """A run table that does not follow the format; the message names the rows or runs."""


class ConversionError(ValueError):
    """A public table that cannot be converted; the message names the file and line."""


# --------------------------------------------------------------------------------------------------
# Schema.

def _rows(df: pd.DataFrame, bad) -> str:
    idx = list(df.index[np.asarray(bad, bool)])
    more = f" and {len(idx) - 10} more" if len(idx) > 10 else ""
    return f"rows {idx[:10]}{more}"


def validate_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Check a run table and return it with the canonical column order and dtypes.

    Raises RunsSchemaError for: missing or extra columns, missing values (``tokens`` may be
    missing), non-integer seed/step/tokens, step ≤ 0, tokens < 0, r outside [0, 1] or non-finite,
    non-finite or non-positive loss, empty ids, duplicate (run, step, domain) rows, a run with more
    than one mixture or seed, a (run, domain) with more than one share, a run whose shares sum to
    more than 1, and a mixture name used with different shares by different runs.
    """
    if not isinstance(df, pd.DataFrame):
        raise RunsSchemaError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in COLUMNS if c not in df.columns]
    extra = [c for c in df.columns if c not in COLUMNS]
    if missing or extra:
        raise RunsSchemaError(f"run table columns must be exactly {list(COLUMNS)}; "
                              f"missing {missing}, unexpected {extra}")
    df = df.loc[:, list(COLUMNS)].copy()
    for c in COLUMNS:
        if c == "tokens":
            continue
        na = df[c].isna().to_numpy()
        if na.any():
            raise RunsSchemaError(f"column {c!r} has missing values in {_rows(df, na)}")
    for c in ("run", "mixture", "domain"):
        df[c] = df[c].astype(str).astype("string")
        empty = (df[c].str.len() == 0).to_numpy()
        if empty.any():
            raise RunsSchemaError(f"column {c!r} is empty in {_rows(df, empty)}")
    for c in ("seed", "step", "tokens"):
        num = pd.to_numeric(df[c], errors="coerce")
        bad = (num.isna() & df[c].notna()) | (num.notna() & (num != np.floor(num.fillna(0))))
        if bad.any():
            raise RunsSchemaError(f"column {c!r} must hold integers; {_rows(df, bad)} do not")
        df[c] = num.astype("Int64" if c == "tokens" else "int64")
    for c in ("r", "loss"):
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() & df[c].notna()
        if bad.any():
            raise RunsSchemaError(f"column {c!r} must hold numbers; {_rows(df, bad)} do not")
        df[c] = num.astype("float64")
    checks = [
        (df["step"].to_numpy() <= 0, "step must be > 0"),
        ((df["tokens"] < 0).fillna(False).to_numpy(bool), "tokens must be >= 0"),
        (~np.isfinite(df["r"].to_numpy()) | (df["r"].to_numpy() < 0) | (df["r"].to_numpy() > 1),
         "share r must be within [0, 1]"),
        (~np.isfinite(df["loss"].to_numpy()) | (df["loss"].to_numpy() <= 0),
         "loss must be finite and > 0"),
        (df.duplicated(["run", "step", "domain"], keep=False).to_numpy(),
         "duplicate (run, step, domain)"),
    ]
    for bad, what in checks:
        if bad.any():
            raise RunsSchemaError(f"{what}: {_rows(df, bad)}")
    for c in ("mixture", "seed"):
        n = df.groupby("run")[c].nunique()
        if (n > 1).any():
            raise RunsSchemaError(f"runs {list(n.index[n > 1])[:10]} have more than one {c}")
    n = df.groupby(["run", "domain"])["r"].nunique()
    if (n > 1).any():
        raise RunsSchemaError(f"(run, domain) pairs {list(n.index[n > 1])[:10]} have more than one "
                              "share r")
    shares = df.drop_duplicates(["run", "domain"])
    total = shares.groupby("run")["r"].sum()
    if (total > 1 + SHARE_SUM_TOL).any():
        bad = total[total > 1 + SHARE_SUM_TOL]
        raise RunsSchemaError(f"shares of runs {dict(bad.head(10))} sum to more than 1")
    n = shares.groupby(["mixture", "domain"])["r"].nunique()
    if (n > 1).any():
        raise RunsSchemaError(f"mixtures {sorted({m for m, _ in n.index[n > 1]})[:10]} give different "
                              "shares to the same domain in different runs")
    return df


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise RunsSchemaError(f"{path}: unknown run-table format {suffix!r}; use .csv or .parquet")


def read_runs(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a run table (.csv or .parquet)."""
    path = Path(path)
    if _format(path) == "csv":
        df = pd.read_csv(path, dtype={"run": str, "mixture": str, "domain": str},
                         keep_default_na=False, na_values={"tokens": [""]}, **_EXACT_FLOATS)
    else:
        df = pd.read_parquet(path)
    try:
        return validate_runs(df)
    except RunsSchemaError as exc:
        raise RunsSchemaError(f"{path}: {exc}") from None


def write_runs(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate and write a run table atomically (.csv or .parquet)."""
    path = Path(path)
    fmt = _format(path)
    df = validate_runs(df)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False, lineterminator="\n")
        else:
            df.to_parquet(tmp, index=False)
    return path


# --------------------------------------------------------------------------------------------------
# Sidecars.

def sidecar_path(table_path: str | os.PathLike, run: str) -> Path:
    """``<folder of the table>/sidecars/<run>.json``."""
    return Path(table_path).parent / "sidecars" / f"{run}.json"


def write_sidecar(table_path: str | os.PathLike, run: str, meta: Mapping[str, Any]) -> Path:
    """Write a run's sidecar atomically. ``meta`` must name the run and give its full mixture
    (domain -> share, summing to 1 within 1e-6); config, tokenizer, corpus hash, code version and
    wall time are recommended (docs/run_tables.md)."""
    meta = dict(meta)
    if meta.get("run", run) != run:
        raise RunsSchemaError(f"sidecar for run {run!r} names run {meta['run']!r}")
    meta["run"] = run
    mix = meta.get("mixture_weights", meta.get("weights"))
    if not isinstance(mix, Mapping) or not mix:
        raise RunsSchemaError(f"sidecar for run {run!r} needs 'mixture_weights': domain -> share")
    total = sum(float(v) for v in mix.values())
    if abs(total - 1) > 1e-6:
        raise RunsSchemaError(f"sidecar for run {run!r}: mixture weights sum to {total:.8g}, expected 1")
    return write_json(sidecar_path(table_path, run), meta)


def read_sidecar(table_path: str | os.PathLike, run: str) -> dict:
    path = sidecar_path(table_path, run)
    if not path.is_file():
        raise FileNotFoundError(f"no sidecar for run {run!r} at {path}")
    return read_json(path)


def read_sidecars(table_path: str | os.PathLike) -> dict[str, dict]:
    """Every sidecar beside a table, by run id."""
    folder = Path(table_path).parent / "sidecars"
    return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


# --------------------------------------------------------------------------------------------------
# Which runs of a table count: superseded and unfinished runs are left out, in one place.

SUPERSEDED_FILE = "superseded.json"  # beside runs.csv: {"run id": "why a later rule replaced it", ...}


def superseded_runs(table_path: str | os.PathLike) -> dict[str, str]:
    """Runs a changed rule superseded (run id -> reason), from ``superseded.json`` beside the table."""
    path = Path(table_path).parent / SUPERSEDED_FILE
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise RunsSchemaError(f"{path}: expected an object of run id -> reason")
    return data


def mark_superseded(table_path: str | os.PathLike, runs: Mapping[str, str]) -> Path:
    """Add runs (run id -> reason) to the table's superseded list."""
    path = Path(table_path).parent / SUPERSEDED_FILE
    return write_json(path, {**superseded_runs(table_path), **dict(runs)})


@dataclass
class CurrentRuns:
    """The rows of a run table that count, and why the others do not."""

    table: pd.DataFrame
    used: list[str]  # run ids kept, in table order
    excluded: dict[str, str]  # run id -> reason (superseded, not complete)

    def note(self) -> str:
        if not self.excluded:
            return f"{len(self.used)} runs used, none excluded"
        return (f"{len(self.used)} runs used; {len(self.excluded)} excluded: "
                + "; ".join(f"{r} ({why})" for r, why in self.excluded.items()))


def current_runs(table_path: str | os.PathLike, *, require_complete: bool = True) -> CurrentRuns:
    """Read a run table without its superseded runs (``superseded.json``) and, when sidecars say so,
    without runs that did not complete. Every notebook reads its runs through this function."""
    table = read_runs(table_path)
    gone = superseded_runs(table_path)
    sidecars = read_sidecars(table_path) if require_complete else {}
    excluded: dict[str, str] = {}
    for run in dict.fromkeys(table["run"]):
        if run in gone:
            excluded[run] = f"superseded: {gone[run]}"
        elif run in sidecars and sidecars[run].get("status", "complete") != "complete":
            excluded[run] = f"{sidecars[run].get('status')} at step {sidecars[run].get('step')}"
    kept = table[~table["run"].isin(list(excluded))].reset_index(drop=True)
    return CurrentRuns(kept, list(dict.fromkeys(kept["run"])), excluded)


# --------------------------------------------------------------------------------------------------
# Domain names.

def normalise_domain(name: str) -> str:
    """Lower-case alphanumerics without Pile/RegMix decorations: ``the_pile_pile_cc`` -> ``pilecc``,
    ``Pile-CC`` -> ``pilecc``, ``metric/the_pile_github_val_loss`` -> ``github``."""
    s = name.strip()
    s = re.sub(r"^metric/", "", s)
    s = re.sub(r"^train_", "", s)
    s = re.sub(r"_val_loss$", "", s)
    s = re.sub(r"[^0-9a-z]", "", s.lower())
    return re.sub(r"^thepile", "", s) or s


class _Resolver:
    """Source name -> canonical domain: the explicit map first, then the normaliser against the
    canonical names (``domains``, or the map's values); with neither, the source name as written."""

    def __init__(self, domains: Sequence[str] | None, domain_map: Mapping[str, str] | None):
        self.map = dict(domain_map or {})
        canon = list(domains) if domains else list(dict.fromkeys(self.map.values()))
        self.canon = {normalise_domain(d): d for d in canon}
        self.free = not canon

    def __call__(self, raw: str, stripped: str | None = None) -> str | None:
        for key in (raw, stripped):
            if key is not None and key in self.map:
                return self.map[key]
        if self.free:
            return stripped or raw
        return self.canon.get(normalise_domain(stripped or raw))


@dataclass
class ConversionReport:
    source: str
    files: list[str]
    n_rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    duplicates_dropped: int = 0
    unmatched_validation: list[str] = field(default_factory=list)  # kept, with r = 0
    unmatched_training: list[str] = field(default_factory=list)  # shares with no validation loss
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"{self.source}: {self.n_rows} rows from {len(self.files)} file(s)"]
        for reason, n in self.skipped.items():
            lines.append(f"  skipped {n} rows: {reason}")
        if self.duplicates_dropped:
            lines.append(f"  dropped {self.duplicates_dropped} duplicate rows (equal losses)")
        if self.unmatched_validation:
            lines.append(f"  validation domains matching no training domain (kept with r = 0): "
                         f"{self.unmatched_validation}")
        if self.unmatched_training:
            lines.append(f"  training domains with no validation loss: {self.unmatched_training}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _finish(rows: pd.DataFrame, report: ConversionReport, key: Sequence[str]) -> pd.DataFrame:
    dup = rows.duplicated(list(key), keep=False)
    if dup.any():
        spread = rows[dup].groupby(list(key))["loss"].nunique()
        if (spread > 1).any():
            raise ConversionError(f"{report.source}: the same (run, step, domain) has different losses: "
                                  f"{list(spread.index[spread > 1])[:5]}")
        before = len(rows)
        rows = rows.drop_duplicates(list(key))
        report.duplicates_dropped += before - len(rows)
    table = validate_runs(rows.reset_index(drop=True))
    report.n_rows = len(table)
    return table


# --------------------------------------------------------------------------------------------------
# Data Mixing Laws (Ye et al. 2024) text tables.

_DML_VALID = re.compile(r"valid\.([^/]+)\.bin$")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DML_RUN = re.compile(rf"^(?:(?P<prefix>.*)_)?(?P<index>\d+)-(?P<shares>{_NUMBER}(?:-{_NUMBER})*)$")


def from_dml(paths: Sequence[str | os.PathLike], domains: Sequence[str],
             domain_map: Mapping[str, str] | None = None,
             own_shares: bool = True) -> tuple[pd.DataFrame, ConversionReport]:
    """Convert Data Mixing Laws loss tables (tab-separated ``checkpoint  validation-file  loss``).

    ``domains``: the training domains in the order of the shares in the run names — the files do not
    name them (the set's folder does, e.g. ``Github-Books3-PileCC``). Validation files
    ``…valid.<Domain>.bin`` are matched to them through ``domain_map`` or :func:`normalise_domain`.
    Steps that are not numbers (``last``) are skipped and counted; duplicate (checkpoint, domain)
    lines with equal losses are dropped and counted.

    ``own_shares=False`` is for sets whose training domains are groups or sources that the
    validation domains are not (5Mix, RedPajama): a validation domain then has a share only through
    an explicit ``domain_map`` entry (no name matching), and every other one is written with r = 0,
    which here means "no training share of its own", and listed in ``unmatched_validation``. The
    run's shares over ``domains`` stay readable from its mixture name (:func:`dml_mixtures`).
    """
    if not domains:
        raise ConversionError("Data Mixing Laws tables do not name their training domains: pass "
                              "them in the order of the shares in the run names (e.g. the set's "
                              "folder name Github-Books3-PileCC gives Github,Books3,PileCC)")
    if own_shares:
        resolve = _Resolver(domains, domain_map)
    else:
        explicit = dict(domain_map or {})
        bad = sorted({v for v in explicit.values() if v not in domains})
        if bad:
            raise ConversionError(f"the share map names {bad}, which are not training domains of the "
                                  f"set ({', '.join(domains)})")

        def resolve(raw: str) -> str | None:
            return explicit.get(raw)
    report = ConversionReport(source="dml", files=[str(p) for p in paths])
    rows, unmatched, last_steps = [], set(), {}
    sources: dict[str, set[str]] = {}  # training domain -> validation names matched to it
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                fields = line.rstrip("\n").rstrip("\r").split("\t")
                if len(fields) != 3:
                    raise ConversionError(f"{where}: expected 3 tab-separated fields, got {len(fields)}")
                ckpt, valid, loss_s = fields
                parts = [p for p in ckpt.strip().split("/") if p]
                if len(parts) < 2:
                    raise ConversionError(f"{where}: checkpoint path {ckpt!r} has no run/step components")
                step_s, run = parts[-1], parts[-2]
                if not step_s.isdigit():
                    reason = f"non-numeric checkpoint step {step_s!r}"
                    report.skipped[reason] = report.skipped.get(reason, 0) + 1
                    continue
                m = _DML_RUN.match(run)
                if not m:
                    raise ConversionError(f"{where}: run component {run!r} is not "
                                          "[<size>_][<tag>_]<index>-<p1>-<p2>-...")
                share_s = m["shares"].split("-")
                if len(share_s) != len(domains):
                    raise ConversionError(f"{where}: run {run!r} has {len(share_s)} shares but "
                                          f"{len(domains)} training domains were given {list(domains)}")
                shares = dict(zip(domains, map(float, share_s)))
                v = _DML_VALID.search(valid.strip())
                if not v:
                    raise ConversionError(f"{where}: validation path {valid!r} does not end in valid.<Domain>.bin")
                domain = resolve(v[1])
                if domain is None:
                    unmatched.add(v[1])
                    domain, r = v[1], 0.0
                elif domain not in shares:
                    raise ConversionError(f"{where}: validation domain {v[1]!r} maps to {domain!r}, "
                                          f"which is not one of the training domains {list(domains)}")
                else:
                    r = shares[domain]
                    sources.setdefault(domain, set()).add(v[1])
                try:
                    loss = float(loss_s)
                except ValueError:
                    raise ConversionError(f"{where}: loss {loss_s!r} is not a number") from None
                last_steps[run] = max(last_steps.get(run, 0), int(step_s))
                rows.append({"run": run, "mixture": m["shares"], "seed": 0, "step": int(step_s),
                             "tokens": pd.NA, "domain": domain, "r": r, "loss": loss, "_valid": v[1]})
    if not rows:
        raise ConversionError(f"no usable rows in {report.files} (skipped: {report.skipped})")
    report.unmatched_validation = sorted(unmatched)
    report.unmatched_training = sorted(set(domains) - set(sources))
    if not own_shares:
        report.notes.append(
            f"the runs train on {', '.join(domains)}, not on the validation domains: "
            + (f"{len(sources)} training domain(s) give a share to validation domains through the share "
               f"map; the {len(unmatched)} validation domain(s) without one are written with r = 0 "
               "(no training share of their own)" if sources else
               f"no share map, so none of the {len(unmatched)} validation domains has a training share "
               "of its own (written with r = 0); the run's shares are in its mixture name"))
    elif not sources:
        raise ConversionError(f"none of the training domains {list(domains)} matches a validation "
                              f"file in {report.files} (validation domains: {sorted(unmatched)[:12]}); "
                              "pass --domain-map to say which validation domain belongs to which")
    # where the training domains are groups (own_shares False) a validation domain always keeps its
    # own name, even when it is the only one mapped to its group
    grouped = {d: sorted(v) for d, v in sources.items() if len(v) > 1 or not own_shares}
    if grouped:
        # several validation domains draw on one training group: each keeps its own name (one loss
        # per row) and an equal part of the group's share as r. The split keeps a run's shares
        # summing to 1; for the r^-α laws a constant factor per domain is absorbed by A, so any
        # fixed split within the group gives the same fit.
        for row in rows:
            if row["domain"] in grouped:
                row["r"] = row["r"] / len(grouped[row["domain"]])
                row["domain"] = row.pop("_valid")
            else:
                row.pop("_valid")
        report.notes.append("validation domains sharing one training domain keep their own names, "
                            f"each with an equal part of that domain's share as r: {grouped}")
    else:
        for row in rows:
            row.pop("_valid")
    ends = sorted(set(last_steps.values()))
    if len(ends) > 1:
        report.notes.append(f"runs end at different steps: {ends}")
    report.notes.append("seed unknown (set to 0); tokens unknown (missing)")
    return _finish(pd.DataFrame(rows), report, ("run", "step", "domain")), report


def dml_mixtures(table: pd.DataFrame, domains: Sequence[str]) -> pd.DataFrame:
    """(runs, training domains) shares of a converted Data Mixing Laws table, read from its mixture
    names (the share strings of the run names, in the order of ``domains``): what the share-free
    exponential law needs where the validation domains are not the training domains."""
    runs = table.drop_duplicates("run").set_index("run")["mixture"]
    rows = {}
    for run, mix in runs.items():
        shares = [float(x) for x in str(mix).split("-")]
        if len(shares) != len(domains):
            raise ConversionError(f"run {run!r}: mixture {mix!r} has {len(shares)} shares for "
                                  f"{len(domains)} training domains {list(domains)}")
        rows[run] = shares
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(domains)).rename_axis("run")


# --------------------------------------------------------------------------------------------------
# RegMix (Liu et al. 2024) CSV pairs.

def _read_csv_strict(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"index": str, "run": str, "name": str}, **_EXACT_FLOATS)


def _decimals(values: np.ndarray, most: int = 12) -> int:
    """The fewest decimals every value is printed with (3 for RegMix's 0.004, 0.209 ...)."""
    v = np.abs(values[np.isfinite(values)])
    for d in range(most + 1):
        if np.all(np.abs(v * 10**d - np.round(v * 10**d)) < 1e-6):
            return d
    return most


def regmix_tag(mixtures_csv: str | os.PathLike) -> str:
    """The split/size tag in a RegMix mixtures file name: ``train_mixture_1m.csv`` -> ``train_1m``,
    ``test_mixture_1B.csv`` -> ``test_1B``, ``regmix_mixtures.csv`` -> ``""``. RegMix numbers the
    rows of every file from 0 or 1, so the tag is what keeps run ids of different files apart."""
    stem = Path(mixtures_csv).stem
    stem = re.sub(r"(^|_)regmix(_|$)", r"\1", stem)
    stem = re.sub(r"(^|_)mixtures?(_|$)", "_", stem)
    return re.sub(r"_+", "_", stem).strip("_")


def read_regmix_pair(mixtures_csv: str | os.PathLike, losses_csv: str | os.PathLike,
                     share_tol: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Read a RegMix pair as published: ``(mixtures, losses, notes)``, both with an ``index`` column
    (kept as text), the mixture rows renormalised to sum to 1 where their rounding allows
    (``share_tol``, see :func:`from_regmix`) and the renormalisation described in ``notes``."""
    mix, loss = _read_csv_strict(mixtures_csv), _read_csv_strict(losses_csv)
    for df, path in ((mix, mixtures_csv), (loss, losses_csv)):
        if "index" not in df.columns:
            raise ConversionError(f"{path}: no 'index' column")
    train_cols = [c for c in mix.columns if c != "index"]
    if not train_cols:
        raise ConversionError(f"{mixtures_csv}: no training-domain columns besides 'index'")
    shares = mix[train_cols].to_numpy(float)  # (n_runs, n_training_domains)
    if not np.isfinite(shares).all() or (shares < 0).any():
        bad = mix["index"][~np.isfinite(shares).all(axis=1) | (shares < 0).any(axis=1)]
        raise ConversionError(f"{mixtures_csv}: missing or negative shares at index "
                              f"{', '.join(map(str, list(bad)[:10]))}")
    sums = shares.sum(axis=1)
    if share_tol is None:
        decimals = _decimals(shares)
        share_tol = max(0.5 * 10.0**-decimals * len(train_cols), 1e-9)
        why = f"rounding to {decimals} decimals over {len(train_cols)} domains"
    else:
        why = "given"
    off = np.abs(sums - 1)
    if (off > share_tol).any():
        bad = mix["index"][off > share_tol]
        raise ConversionError(f"{mixtures_csv}: mixture rows at index {', '.join(map(str, list(bad)[:10]))} sum to "
                              f"{float(sums[off > share_tol][0]):.6g}, beyond 1 ± {share_tol:.4g} ({why})")
    notes = []
    renorm = off > 1e-9  # float noise of the sum itself is not a rounded row
    if renorm.any():
        mix.loc[:, train_cols] = shares / sums[:, None]
        notes.append(f"renormalised {int(renorm.sum())} of {len(mix)} mixture rows whose shares "
                     f"summed to {float(sums.min()):.4g}–{float(sums.max()):.4g} "
                     f"(tolerance 1 ± {share_tol:.4g}, {why})")
    return mix, loss, notes


def from_regmix(mixtures_csv: str | os.PathLike, losses_csv: str | os.PathLike,
                domains: Sequence[str] | None = None, domain_map: Mapping[str, str] | None = None,
                step: int = 1, run_prefix: str | None = None,
                share_tol: float | None = None) -> tuple[pd.DataFrame, ConversionReport]:
    """Convert a RegMix pair: ``index,train_<domain>...`` and ``index,metric/<domain>_val_loss...``
    joined on ``index``. RegMix logs the final loss only: every row gets ``step`` (default 1) and
    the report says so.

    Run ids are ``<run_prefix>_<index>``; the default prefix is ``regmix_<tag>`` with the tag read
    from the mixtures file name (:func:`regmix_tag`), so the train and test files of one release,
    which both number their rows from 1, can be combined. Each run is its own mixture.

    Published shares are rounded (RegMix prints 3 decimals over 17 domains, so a row may sum to
    1 ± 17 × 0.0005). ``share_tol`` is the largest |sum − 1| accepted; by default the rounding bound
    (half a unit of the last printed decimal per training domain). Rows within it are divided by
    their sum and counted in the report; a row beyond it is refused, naming its index.
    """
    mix, loss, notes = read_regmix_pair(mixtures_csv, losses_csv, share_tol=share_tol)
    report = ConversionReport(source="regmix", files=[str(mixtures_csv), str(losses_csv)], notes=notes)
    train_cols = [c for c in mix.columns if c != "index"]
    val_cols = [c for c in loss.columns if c != "index"]
    if run_prefix is None:
        tag = regmix_tag(mixtures_csv)
        run_prefix = f"regmix_{tag}" if tag else "regmix"
    resolve = _Resolver(domains, domain_map)
    train = {c: resolve(c, re.sub(r"^train_", "", c)) for c in train_cols}
    val = {c: resolve(c, re.sub(r"_val_loss$", "", re.sub(r"^metric/", "", c))) for c in val_cols}
    val_domains = {d for d in val.values() if d is not None}
    report.unmatched_training = sorted(c for c, d in train.items() if d is None or d not in val_domains)
    train_of = {d: c for c, d in train.items() if d is not None}
    if (domains or domain_map) and not val_domains:
        raise ConversionError(f"none of the given domain names matches a validation column of "
                              f"{losses_csv} ({val_cols[:6]}...); check --domains / --domain-map")
    joined = mix.merge(loss, on="index", how="inner", validate="one_to_one")
    lost = len(set(mix["index"]) ^ set(loss["index"]))
    if lost:
        report.skipped["index present in only one of the two files"] = lost
    rows, unmatched_val, no_train = [], set(), set()
    for _, rec in joined.iterrows():
        for c in val_cols:
            d = val[c]
            if pd.isna(rec[c]):
                report.skipped["missing loss"] = report.skipped.get("missing loss", 0) + 1
                continue
            if d is None:
                unmatched_val.add(c)
                d, r = re.sub(r"_val_loss$", "", re.sub(r"^metric/", "", c)), 0.0
            elif d in train_of:
                r = float(rec[train_of[d]])
            else:
                no_train.add(d)
                r = 0.0
            run = f"{run_prefix}_{rec['index']}"
            rows.append({"run": run, "mixture": run, "seed": 0, "step": step, "tokens": pd.NA,
                         "domain": d, "r": r, "loss": float(rec[c])})
    report.unmatched_validation = sorted(unmatched_val)
    report.notes.append(f"RegMix logs the final loss only: every row has step {step}")
    if no_train:
        report.notes.append(f"validation domains with no training column (r = 0): {sorted(no_train)}")
    if not rows:
        raise ConversionError(f"no usable rows in {report.files}")
    return _finish(pd.DataFrame(rows), report, ("run", "step", "domain")), report


# --------------------------------------------------------------------------------------------------
# Olmix swarms.

def from_olmix(ratios_csv: str | os.PathLike, metrics_csv: str | os.PathLike,
               domains: Sequence[str] | None = None, domain_map: Mapping[str, str] | None = None,
               step: int = 1) -> tuple[pd.DataFrame, ConversionReport]:
    """Convert an Olmix swarm: ``ratios.csv`` (``run,name,index,<domain>...``) and ``metrics.csv``
    (``run,name,index,<metric>...``) joined on ``run``. The metrics are downstream bits per byte,
    not domain losses: each metric becomes a "domain" of the table, and its share r is that of the
    training domain it maps to (``domain_map`` metric -> training domain), 0 and reported if none."""
    ratios, metrics = _read_csv_strict(ratios_csv), _read_csv_strict(metrics_csv)
    report = ConversionReport(source="olmix", files=[str(ratios_csv), str(metrics_csv)])
    for df, path in ((ratios, ratios_csv), (metrics, metrics_csv)):
        if "run" not in df.columns:
            raise ConversionError(f"{path}: no 'run' column")
    meta = [c for c in ("run", "name", "index") if c in ratios.columns]
    train_cols = [c for c in ratios.columns if c not in meta]
    metric_cols = [c for c in metrics.columns if c not in ("run", "name", "index")]
    resolve = _Resolver(domains or train_cols, domain_map)
    metric_domain = {c: resolve(c, c) for c in metric_cols}
    train_domain = {c: resolve(c, c) for c in train_cols}
    train_of = {d: c for c, d in train_domain.items() if d is not None}
    report.unmatched_training = sorted(c for c in train_cols
                                       if train_domain[c] not in set(metric_domain.values()))
    joined = ratios.merge(metrics[["run"] + metric_cols], on="run", how="inner", validate="one_to_one")
    lost = len(set(ratios["run"]) ^ set(metrics["run"]))
    if lost:
        report.skipped["run present in only one of the two files"] = lost
    rows, unmatched = [], set()
    for _, rec in joined.iterrows():
        name = str(rec["name"]) if "name" in rec and not pd.isna(rec["name"]) else str(rec["run"])
        for c in metric_cols:
            if pd.isna(rec[c]):
                report.skipped["missing metric"] = report.skipped.get("missing metric", 0) + 1
                continue
            d = metric_domain[c]
            r = float(rec[train_of[d]]) if d in train_of else 0.0
            if d not in train_of:
                unmatched.add(c)
            rows.append({"run": str(rec["run"]), "mixture": name, "seed": 0, "step": step,
                         "tokens": pd.NA, "domain": c if d is None else d, "r": r, "loss": float(rec[c])})
    report.unmatched_validation = sorted(unmatched)
    report.notes.append("Olmix metrics are downstream bits per byte, not validation losses in nats; "
                        f"no step column: every row has step {step}")
    return _finish(pd.DataFrame(rows), report, ("run", "step", "domain")), report


# --------------------------------------------------------------------------------------------------
# Apple's SlimPajama table (Shukor et al. 2025, "Scaling Laws for Optimal Data Mixtures").

def _size_label(n_params: float) -> str:
    """122000000.0 -> ``122M``, 2718000000.0 -> ``2718M`` (one unit, so labels sort by size)."""
    return f"{n_params / 1e6:g}M"


def from_dmsl(csv_path: str | os.PathLike, domains: Sequence[str] | None = None,
              domain_map: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, ConversionReport]:
    """Convert the SlimPajama table published with Shukor et al. (``dmsl_llm_slimpajama.csv``): one
    row per (mixture, model size, token count) with columns ``weight_<domain>`` (the training
    shares), ``model_size`` (parameters), ``n_tokens`` and ``<domain>_loss`` (validation loss, nats).

    One run per (model size, mixture), id ``dmsl_<size>_m<k>`` (``dmsl_122M_m0``); the mixture name
    ``m<k>`` numbers the distinct share vectors in order of first appearance, so the same mixture at
    two sizes has one name. The table has no step column: ``step`` and ``tokens`` are both the
    token count. Every published run repeats its last evaluation about 2M tokens later with
    identical losses (19,998M and 20,000M at 122M); an evaluation whose every loss equals the
    previous evaluation's of the same run is dropped (the earlier one kept) and counted, otherwise a
    step-extrapolation test would "predict" a point it has already seen. A loss column without a
    ``weight_`` column (``openhermes``) is kept with r = 0 and reported; an empty loss cell (a few
    in the published table) is skipped and counted."""
    df = pd.read_csv(csv_path, **_EXACT_FLOATS)
    report = ConversionReport(source="dmsl", files=[str(csv_path)])
    missing = [c for c in ("model_size", "n_tokens") if c not in df.columns]
    weight_cols = [c for c in df.columns if c.startswith("weight_")]
    loss_cols = [c for c in df.columns if c.endswith("_loss")]
    if missing or not weight_cols or not loss_cols:
        raise ConversionError(f"{csv_path}: expected columns weight_<domain>..., model_size, n_tokens, "
                              f"<domain>_loss...; missing {missing or ('weight_*' if not weight_cols else '*_loss')}")
    numbers = df[weight_cols + loss_cols + ["model_size", "n_tokens"]].apply(pd.to_numeric, errors="coerce")
    keys = numbers[weight_cols + ["model_size", "n_tokens"]]
    if keys.isna().any().any():
        rows = list(keys.index[keys.isna().any(axis=1)][:10])
        raise ConversionError(f"{csv_path}: missing or non-numeric shares, model_size or n_tokens in rows {rows}")
    bad = numbers[loss_cols].isna() & df[loss_cols].notna()
    if bad.any().any():
        raise ConversionError(f"{csv_path}: non-numeric losses in rows {list(bad.index[bad.any(axis=1)][:10])}")
    resolve = _Resolver(domains, domain_map)
    train = {c: resolve(c, c[len("weight_"):]) for c in weight_cols}
    val = {c: resolve(c, c[: -len("_loss")]) for c in loss_cols}
    if (domains or domain_map) and not {d for d in val.values() if d is not None}:
        raise ConversionError(f"none of the given domain names matches a loss column of {csv_path} "
                              f"({loss_cols[:6]}...); check the domain names or map")
    train_of = {d: c for c, d in train.items() if d is not None}
    report.unmatched_training = sorted(c for c, d in train.items() if d is None or d not in set(val.values()))
    shares = numbers[weight_cols].to_numpy(float)  # (n_rows, n_training_domains)
    sums = shares.sum(axis=1)
    if (np.abs(sums - 1) > 1e-6).any():
        bad = list(numbers.index[np.abs(sums - 1) > 1e-6][:10])
        raise ConversionError(f"{csv_path}: shares of rows {bad} do not sum to 1 (first: {float(sums[bad[0]]):.6g})")
    mixture_of: dict[tuple, str] = {}
    keys = [tuple(row) for row in shares]
    for key in keys:
        mixture_of.setdefault(key, f"m{len(mixture_of)}")
    frame = numbers.assign(mixture=[mixture_of[k] for k in keys],
                           size=[_size_label(s) for s in numbers["model_size"]])
    frame = frame.sort_values(["model_size", "mixture", "n_tokens"], kind="stable")
    run = "dmsl_" + frame["size"] + "_" + frame["mixture"]
    if frame.assign(run=run).duplicated(["run", "n_tokens"]).any():
        raise ConversionError(f"{csv_path}: a (model size, mixture) has two rows at one token count")
    losses = frame[loss_cols].to_numpy(float)
    repeat = np.zeros(len(frame), bool)
    same = (losses[1:] == losses[:-1]) | (np.isnan(losses[1:]) & np.isnan(losses[:-1]))
    repeat[1:] = (run.to_numpy()[1:] == run.to_numpy()[:-1]) & same.all(axis=1)
    if repeat.any():
        gaps = frame["n_tokens"].to_numpy()[1:][repeat[1:]] - frame["n_tokens"].to_numpy()[:-1][repeat[1:]]
        lo, hi = f"{gaps.min() / 1e6:g}M", f"{gaps.max() / 1e6:g}M"
        report.skipped["evaluation repeating the previous one of its run (identical losses), "
                       f"{lo if lo == hi else lo + '–' + hi} tokens later; the earlier kept"] = int(repeat.sum())
    frame, run = frame[~repeat], run[~repeat]
    rows, unmatched = [], set()
    for c in loss_cols:
        d = val[c]
        if d is None or d not in train_of:
            unmatched.add(c[: -len("_loss")] if d is None else d)
            r = np.zeros(len(frame))
        else:
            r = frame[train_of[d]].to_numpy(float)
        tokens = frame["n_tokens"].round().astype("int64").to_numpy()
        part = pd.DataFrame({"run": run.to_numpy(), "mixture": frame["mixture"].to_numpy(), "seed": 0,
                             "step": tokens, "tokens": tokens, "domain": c[: -len("_loss")] if d is None else d,
                             "r": r, "loss": frame[c].to_numpy(float)})
        if part["loss"].isna().any():
            report.skipped["missing loss"] = report.skipped.get("missing loss", 0) + int(part["loss"].isna().sum())
        rows.append(part.dropna(subset=["loss"]))
    report.unmatched_validation = sorted(unmatched)
    report.notes.append("no step column: step = tokens seen (the table's n_tokens)")
    report.notes.append(f"{len(mixture_of)} mixtures, {run.nunique()} runs over "
                        f"{frame['size'].nunique()} model sizes ({', '.join(dict.fromkeys(frame['size']))})")
    return _finish(pd.concat(rows, ignore_index=True), report, ("run", "step", "domain")), report


# --------------------------------------------------------------------------------------------------
# CLI: python -m bimix convert --from dml|regmix|olmix|dmsl INPUT... --out RUNS.csv

def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, choices=("dml", "regmix", "olmix", "dmsl"),
                        help="public format of the inputs")
    parser.add_argument("inputs", nargs="+", help="dml: one or more loss tables; regmix: one or more "
                        "pairs of mixtures and losses CSVs (paired by file name, e.g. train_mixture_1m "
                        "with train_pile_loss_1m); olmix: ratios.csv and metrics.csv (any order); "
                        "dmsl: the one SlimPajama CSV")
    parser.add_argument("--out", required=True, help="run table to write (.csv or .parquet)")
    parser.add_argument("--domains", default=None,
                        help="comma-separated canonical domain names (dml: the training domains in "
                             "share order, required)")
    parser.add_argument("--domain-map", default=None,
                        help="JSON file mapping source names to canonical domain names; combinable "
                             "with --domains (dml: validation domain -> training domain)")
    parser.add_argument("--groups", action="store_true",
                        help="dml: the --domains are groups or sources that the validation domains are "
                             "not (5Mix, RedPajama): no name matching; a validation domain gets a share "
                             "only from --domain-map (validation domain -> group), every other one r = 0, "
                             "meaning no training share of its own")
    parser.add_argument("--step", type=int, default=1,
                        help="step given to final-only formats (regmix, olmix); default 1")
    parser.add_argument("--strict", action="store_true",
                        help="fail instead of keeping unmatched domains with r = 0")
    parser.add_argument("--report", default=None, help="also write the conversion report as JSON")


def _regmix_role(path: str | os.PathLike) -> str:
    """``"mixtures"`` for a RegMix file with ``train_*`` columns, ``"losses"`` for one without."""
    return "mixtures" if any(c.startswith("train_") for c in pd.read_csv(path, nrows=0).columns) else "losses"


def _olmix_role(path: str | os.PathLike) -> str | None:
    """``"ratios"`` or ``"metrics"`` for an Olmix file: by its name where the name says
    (``ratios.csv``, ``metrics.csv``), else ``"ratios"`` when every row's values besides
    ``run,name,index`` sum to 1 and ``"metrics"`` when they do not; None for a table with no rows."""
    name = Path(path).name.lower()
    if ("ratio" in name) != ("metric" in name):
        return "ratios" if "ratio" in name else "metrics"
    df = _read_csv_strict(path)
    values = df.drop(columns=[c for c in ("run", "name", "index") if c in df.columns])
    if values.empty:
        return None
    sums = values.apply(pd.to_numeric, errors="coerce").to_numpy(float).sum(axis=1)
    return "ratios" if np.all(np.abs(sums - 1) < 1e-3 * values.shape[1]) else "metrics"


# the two files each converter pairs: (first role, second role, how each is recognised)
_PAIR_ROLES = {"regmix": ("mixtures", "losses", _regmix_role,
                          "a mixtures file has train_* columns, a losses file has none"),
               "olmix": ("ratios", "metrics", _olmix_role,
                         "named *ratios* / *metrics*, or else told apart by ratio rows summing to 1")}


def _split_pair(inputs: Sequence[str], source: str) -> tuple[str, str]:
    """The two files of a pair in the converter's order, each recognised by its content or name;
    two files of one kind (or one that cannot be told) are refused, naming both."""
    first, second, role_of, how = _PAIR_ROLES[source]
    if len(inputs) != 2:
        raise ConversionError(f"{source} needs exactly two files ({first} and {second}), got "
                              f"{len(inputs)}: {', '.join(map(str, inputs))}")
    roles = [role_of(path) for path in inputs]
    if sorted(map(str, roles)) != sorted((first, second)):
        found = ", ".join(f"{path} ({role or 'no rows'})" for path, role in zip(inputs, roles))
        raise ConversionError(f"{source} needs one {first} file and one {second} file, got {found} "
                              f"({how})")
    a, b = inputs
    return (a, b) if roles[0] == first else (b, a)


def regmix_pairs(inputs: Sequence[str]) -> list[tuple[str, str]]:
    """Pair RegMix mixtures and losses files: a file with ``train_*`` columns holds mixtures; a pair
    shares its name once ``mixture(s)`` / ``pile_loss`` / ``loss(es)`` is removed
    (``train_mixture_1m.csv`` with ``train_pile_loss_1m.csv``). Two files form one pair when one
    holds mixtures and the other losses."""
    if len(inputs) < 2 or len(inputs) % 2:
        raise ConversionError(f"regmix needs pairs of files (mixtures and losses), got {len(inputs)}: "
                              f"{list(inputs)}")
    if len(inputs) == 2:
        return [_split_pair(list(inputs), "regmix")]
    mixes, losses = {}, {}
    for path in inputs:
        key = re.sub(r"(^|_)(mixtures?|pile_loss|losses|loss)(_|$)", "_", Path(path).stem).strip("_")
        (mixes if _regmix_role(path) == "mixtures" else losses).setdefault(key, []).append(str(path))
    pairs = []
    for key in sorted(set(mixes) | set(losses)):
        m, l_ = mixes.get(key, []), losses.get(key, [])
        if len(m) != 1 or len(l_) != 1:
            raise ConversionError(f"regmix files named like {key!r}: {len(m)} mixtures and {len(l_)} "
                                  f"losses file(s) ({m + l_}); each pair needs one of each")
        pairs.append((m[0], l_[0]))
    return pairs


def run_convert(args: argparse.Namespace) -> int:
    domains = [d.strip() for d in args.domains.split(",") if d.strip()] if args.domains else None
    domain_map = json.loads(Path(args.domain_map).read_text(encoding="utf-8")) if args.domain_map else None
    if args.groups and args.source != "dml":
        raise ConversionError(f"--groups is for Data Mixing Laws tables (--from dml), not {args.source}")
    if args.source == "dml":
        table, report = from_dml(args.inputs, domains or [], domain_map, own_shares=not args.groups)
    elif args.source == "regmix":
        parts = [from_regmix(mix, loss, domains=domains, domain_map=domain_map, step=args.step)
                 for mix, loss in regmix_pairs(args.inputs)]
        if len(parts) == 1:
            table, report = parts[0]
        else:
            table = validate_runs(pd.concat([t for t, _ in parts], ignore_index=True))
            report = ConversionReport(source="regmix", files=[f for _, r in parts for f in r.files],
                                      n_rows=len(table))
            for _, r in parts:
                report.unmatched_validation = sorted(set(report.unmatched_validation) | set(r.unmatched_validation))
                report.unmatched_training = sorted(set(report.unmatched_training) | set(r.unmatched_training))
                report.notes += [f"{Path(r.files[0]).name}: {n}" for n in r.notes]
                for k, v in r.skipped.items():
                    report.skipped[k] = report.skipped.get(k, 0) + v
    elif args.source == "dmsl":
        if len(args.inputs) != 1:
            raise ConversionError(f"dmsl takes one CSV, got {len(args.inputs)}: {args.inputs}")
        table, report = from_dmsl(args.inputs[0], domains=domains, domain_map=domain_map)
    else:
        table, report = from_olmix(*_split_pair(args.inputs, "olmix"), domains=domains,
                                   domain_map=domain_map, step=args.step)
    print(report)
    if args.strict and (report.unmatched_validation or report.unmatched_training):
        print("error: unmatched domains (see above); pass --domain-map or drop --strict")
        return 1
    write_runs(table, args.out)
    if args.report:
        write_json(args.report, report.to_json())
    print(f"wrote {args.out}: {table['run'].nunique()} runs, {table['domain'].nunique()} domains, "
          f"{len(table)} rows")
    return 0
