"""The paper's protocols on other people's published run tables (notebook 07): Table 1, leave-one-mixture-out
for every law form, and the law fitted on all runs, for one :class:`bimix.data.public_runs.PublicTable`.

The tables themselves (pinned downloads, conversion, share maps) are :mod:`bimix.data.public_runs`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.data.public_runs import PublicTable
from bimix.law.forms import LawError, bootstrap, exponential_loss, fit_exponential_matrix, fit_law
from bimix.law.protocols import (equal_share_spread, extrapolate_steps, lomo_points, pooled_scores,
                                 share_adjusted_spread, spearman)

LOMO_FORMS = ("bimix", "additive", "share", "exponential")
SHARE_FORMS = ("bimix", "additive", "share")  # the forms that need a validation domain's own share r
EXTRAPOLATE_STEPS = (1, 3)  # Table 1: the last step, and the last three, held out


@dataclass
class Analysis:
    """The paper's protocols on one public table: JSON-ready ``claims`` and the points behind them."""

    claims: dict
    lomo: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)


def no_share_reason(pub: PublicTable, form: str, domains: Sequence[str]) -> str:
    """Why a form that needs a domain's own share r does not apply to a set that trains on groups."""
    groups = ", ".join(pub.shares.get("training_domains", []))
    first, rest = (domains[0], len(domains) - 1) if domains else ("?", 0)
    return (f"validation domain {first!r}" + (f" (and {rest} more)" if rest else "")
            + f" has no training share of its own: the set trains on groups ({groups}), so the {form} "
            "law has no r to use; an explicit share map (load_dml(share_map=...), notebook 07's "
            "dml_share_maps) supplies one")


def exponential_on_mixtures(table: pd.DataFrame, mixtures: pd.DataFrame, fit_on: Sequence[str],
                            method: str = "trf", n_starts: int = 2):
    """The exponential law fitted per (validation domain, step) on the runs of mixtures ``fit_on``,
    each run's share vector taken from ``mixtures`` (index run; the training groups) rather than from
    the table's r: the share-free rival on sets whose validation domains are not the training
    domains. Returns ``({(domain, step): UnitFit}, [(domain, step, reason)], names)``: units not
    fitted (too few mixtures at a step, ...) are listed with their reason; failed units are kept
    (``UnitFit.failure``) for the caller to leave out."""
    names = [c for c in mixtures.columns if float(mixtures[c].max()) > 0]
    train = table[table["mixture"].isin(list(fit_on))]
    units, missed = {}, []
    for (d, st), g in train.groupby(["domain", "step"], sort=False):
        try:
            units[(d, int(st))] = fit_exponential_matrix(mixtures.loc[g["run"], names].to_numpy(float),
                                                         g["loss"].to_numpy(float), names, domain=d,
                                                         method=method, n_starts=n_starts)
        except LawError as exc:
            missed.append((d, int(st), f"step {int(st)}: {exc}"))
    return units, missed, names


def lomo_on_mixtures(table: pd.DataFrame, mixtures: pd.DataFrame, method: str = "trf",
                     n_starts: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-mixture-out for the exponential law on full share vectors
    (:func:`exponential_on_mixtures`); the same output as :func:`bimix.law.protocols.lomo_points`.
    A prediction whose mixture has a share outside the range the fitted runs gave that training
    group is marked ``outside_support``."""
    pieces, skipped = [], []
    for held in dict.fromkeys(table["mixture"]):
        rest = [m for m in dict.fromkeys(table["mixture"]) if m != held]
        units, missed, names = exponential_on_mixtures(table, mixtures, rest, method, n_starts)
        test = table[table["mixture"] == held]
        train_runs = table.loc[table["mixture"] != held, "run"].unique()
        lo = mixtures.loc[train_runs, names].min().to_numpy(float)
        hi = mixtures.loc[train_runs, names].max().to_numpy(float)
        skipped += [{"heldout": held, "domain": d, "reason": why} for d, _, why in missed]
        for (d, st), g in test.groupby(["domain", "step"], sort=False):
            u = units.get((d, int(st)))
            if u is None:
                if not any(md == d and ms == int(st) for md, ms, _ in missed):
                    skipped.append({"heldout": held, "domain": d, "reason": f"domain {d!r} at step "
                                    f"{int(st)} is measured only in the held-out mixture {held!r}"})
                continue
            if u.failure:
                skipped.append({"heldout": held, "domain": d, "reason": f"failed fit: {u.failure}"})
                continue
            R = mixtures.loc[g["run"], names].to_numpy(float)
            t = np.array([u.params[f"t[{e}]"] for e in names])
            pred = exponential_loss(R, u.params["c"], u.params["k"], t)
            outside = np.any((R < lo - 1e-12) | (R > hi + 1e-12), axis=1)
            pieces.append(g.assign(pred=pred, heldout=held, outside_support=outside))
    points = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(
        columns=[*table.columns, "pred", "heldout", "outside_support"])
    return points, pd.DataFrame(skipped, columns=["heldout", "domain", "reason"])


def analyse(pub: PublicTable, method: str = "trf", holdout_last: int = 1, n_starts: int = 8,
            lomo_starts: int = 2, n_bootstrap: int = 0, seed: int = 0) -> Analysis:
    """Table 1 (when runs have enough steps), leave-one-mixture-out for every form in ``LOMO_FORMS``
    (the only held-out protocol a table without named entropy mixtures allows), the law fitted on all
    runs with bootstrap intervals, and the no-interaction checks. Rows with r = 0 are excluded from
    every fit and counted; a protocol a table cannot support is reported with its reason.

    A set that trains on groups (``pub.mixtures`` given: 5Mix, RedPajama) is judged by its policy
    (``pub.shares``, recorded in the claims): the forms that need a domain's own share apply only to
    the validation domains a share map gave one, and are "not applicable", with the reason, where
    none has; the exponential law uses every run's group shares (:func:`lomo_on_mixtures`); Table 1
    fits each run alone, where the share is a constant the step law absorbs, so it needs none."""
    table = pub.table
    grouped = pub.mixtures is not None
    usable = table[table["r"] > 0]
    without = sorted(set(table["domain"]) - set(usable["domain"])) if grouped else []
    # Table 1 data: each run is fitted alone, so for a set that trains on groups any constant share
    # stands in for the one a validation domain lacks
    stepped = table.assign(r=1.0) if grouped else usable
    steps_per_run = stepped.groupby("run")["step"].nunique()
    claims: dict = {"source": pub.source, "files": [p.name for p in pub.files],
                    "n_runs": int(table["run"].nunique()), "n_mixtures": int(table["mixture"].nunique()),
                    "n_domains": int(table["domain"].nunique()), "n_steps": int(table["step"].nunique()),
                    "n_rows": len(table), "n_excluded_zero_share": len(table) - len(usable),
                    "shares": pub.shares, "conversion": pub.report.to_json()}
    if grouped:
        claims["n_excluded_zero_share"] = 0  # r = 0 here means "no share of its own", not "absent"
        claims["n_rows_without_share"] = len(table) - len(usable)
        claims["domains_without_share"] = without
    multi_step = bool(len(steps_per_run) and (steps_per_run >= 3 + holdout_last).all())
    if multi_step:
        ext = extrapolate_steps(stepped, form="bimix", method=method, holdout_last=holdout_last,
                                n_starts=n_starts)
        claims["extrapolation"] = ext.to_json()
    else:
        claims["extrapolation"] = {"applicable": False, "reason": (
            f"runs have {int(steps_per_run.min()) if len(steps_per_run) else 0} step(s); extrapolating "
            f"{holdout_last} step(s) needs at least 3 more to fit the step law")}
    # Table 1 for the two laws with a step variable, one and three steps ahead, on the same runs
    claims["extrapolation_by_form"] = {}
    for form in ("bimix", "additive"):
        for k in EXTRAPOLATE_STEPS:
            if len(steps_per_run) and bool((steps_per_run >= 3 + k).all()):
                e = extrapolate_steps(stepped if grouped else table, form=form, method=method,
                                      holdout_last=k, n_starts=n_starts)
                entry = {"applicable": e.applicable, "reason": e.reason, "mre_mean": e.mre_mean,
                         "mre_worst": e.mre_worst, "n_runs": len(e.per_run), "n_failed": len(e.failed),
                         "n_excluded_zero_share": e.n_excluded_zero_share}
            else:
                entry = {"applicable": False, "reason": (
                    f"runs have {int(steps_per_run.min()) if len(steps_per_run) else 0} step(s); "
                    f"holding out {k} needs at least {3 + k}")}
            claims["extrapolation_by_form"][f"{form}, last {k}"] = entry
    lomo, claims["lomo"] = {}, {}
    n_steps = int(usable["step"].nunique())
    for form in LOMO_FORMS:
        if grouped and form in SHARE_FORMS and usable.empty:
            claims["lomo"][form] = {"n_points": 0, "applicable": False,
                                    "reason": no_share_reason(pub, form, without)}
            continue
        if form in ("bimix", "additive") and n_steps < 3:
            claims["lomo"][form] = {"n_points": 0, "applicable": False, "reason": (
                f"the table has {n_steps} step(s): the {form} law's step part needs at least 3")}
            continue
        # the exponential law has no r^-α: rows where a domain is absent are data for it
        data = table if form == "exponential" else usable
        t0 = time.perf_counter()
        if grouped and form == "exponential":
            pts, skipped = lomo_on_mixtures(table, pub.mixtures, method=method, n_starts=lomo_starts)
        else:
            pts, skipped = lomo_points(data, form=form, method=method, n_starts=lomo_starts)
        lomo_s = time.perf_counter() - t0
        lomo[form] = (pts, skipped)
        entry = {"n_points": len(pts), "applicable": bool(len(pts)), "n_skipped": len(skipped),
                 "skip_reasons": sorted(set(skipped["reason"]))[:3], "lomo_seconds": lomo_s}
        if grouped and form in SHARE_FORMS:
            entry.update(share_map=pub.shares.get("share_map"), domains_without_share=without)
        if not len(pts) and len(skipped):
            entry["reason"] = f"nothing to score; first: {skipped['reason'].iloc[0]}"
        # coefficients and fit time of the form fitted once on every run
        try:
            t0 = time.perf_counter()
            if grouped and form == "exponential":
                units, _, names = exponential_on_mixtures(table, pub.mixtures, list(dict.fromkeys(table["mixture"])),
                                                          method, lomo_starts)
                entry.update(n_params=(len(names) + 2) * len(units), fit_seconds=time.perf_counter() - t0,
                             n_failed_units=sum(bool(u.failure) for u in units.values()))
            else:
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
            inside = pts[~pts["outside_support"].astype(bool)]
            entry["n_outside_support"] = int(pts["outside_support"].astype(bool).sum())
            entry["r2_log_within_support"] = (pooled_scores(inside.assign(all="all"), "all")["r2_log"].iloc[0]
                                              if len(inside) else None)
            entry["spearman_final"] = spearman(fin["loss"], fin["pred"])
            entry["per_domain"] = pooled_scores(pts, "domain").set_index("domain")[["r2_log", "mre"]].to_dict(orient="index")
        claims["lomo"][form] = entry
    form = "bimix" if multi_step else "share"
    coef = pd.DataFrame()
    if grouped and usable.empty:
        claims["fit_all"] = {"form": form, "applicable": False, "reason": no_share_reason(pub, form, without)}
        claims["interaction"] = {"applicable": False, "reason": (
            "the no-interaction checks compare losses at equal own share: "
            + no_share_reason(pub, "bimix", without).split(": ", 1)[0])}
        return Analysis(claims=claims, lomo=lomo, coefficients=coef)
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


def lomo_table(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """Leave-one-mixture-out of every form on every table (:func:`analyse`), one row per (table, form):
    R² on log loss and relative error pooled over domains and steps, R² within the fitted shares and how
    many predictions left them, the Spearman correlation of held-out final losses, points, parameters,
    fit seconds, BiMix's Table 1 error beside its row, and why a form was not applicable."""
    return pd.DataFrame([
        {"table": name, "form": form, "r2_log": s.get("r2_log"), "mre": s.get("mre"),
         "r2_log_within_support": s.get("r2_log_within_support"), "n_outside_support": s.get("n_outside_support"),
         "n_params": s.get("n_params"), "fit_s": s.get("fit_seconds"),
         "spearman_final": s.get("spearman_final"), "n_points": s["n_points"],
         "extrap_mre_mean": a.claims["extrapolation"].get("mre_mean") if form == "bimix" else None,
         "note": s.get("reason") or "; ".join(s.get("skip_reasons", []))[:120]}
        for name, a in analyses.items() for form, s in a.claims["lomo"].items()],
        columns=["table", "form", "r2_log", "mre", "r2_log_within_support", "n_outside_support", "spearman_final",
                 "n_points", "n_params", "fit_s", "extrap_mre_mean", "note"])


def extrapolation_table(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """Table 1 (step extrapolation) of every form and held-out count on every table, one row per
    (table, protocol): mean and worst relative error, or the reason it does not apply."""
    return pd.DataFrame([{"table": name, "protocol": key, "mre_mean": e.get("mre_mean"), "mre_worst": e.get("mre_worst"),
                          "note": e.get("reason", "")[:100]}
                         for name, a in analyses.items() for key, e in a.claims["extrapolation_by_form"].items()],
                        columns=["table", "protocol", "mre_mean", "mre_worst", "note"])


def heldout_points(analysis: Analysis) -> tuple[str, pd.DataFrame]:
    """The leave-one-mixture-out points a figure draws for one table, with their form: BiMix's where it
    has points, else the share law's, else (a set that trains on groups, with no share map) the
    exponential law's; empty points when none has any."""
    form = next((f for f in ("bimix", "share", "exponential") if len(analysis.lomo.get(f, ((),))[0])), "bimix")
    return form, analysis.lomo.get(form, (pd.DataFrame(),))[0]
