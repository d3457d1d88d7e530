"""Command line for the law engine: ``python -m bimix fit`` and ``python -m bimix optimize``.

``fit RUNS``          fit a law form to a run table; optionally predict held-out mixtures
                      (Table 2), extrapolate held-out steps (Table 1) and bootstrap intervals.
``optimize FIT.json`` the loss-minimising mixture at a step, from a ``fit --json`` output.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from bimix.files import sha256_file, write_json
from bimix.law import FORMS, METHODS, SCALE_CONVENTION, LawFit, bootstrap, fit_law
from bimix.optimize import near_optimal_region, optimize_mixture, sensitivity
from bimix.protocols import extrapolate_steps, generalise_mixtures, resolve_mixture_names
from bimix.provenance import environment
from bimix.runs import RunsSchemaError, read_runs, read_sidecars


def _names(text: str | None) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()] if text else []


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", help="run table (.csv or .parquet, bimix.runs format)")
    parser.add_argument("--form", choices=FORMS, default="bimix", help="law form (default bimix, Eq. 3)")
    parser.add_argument("--method", choices=METHODS, default="trf",
                        help="trf: least squares on log loss (the paper's); huber: Huber δ=1e-3, L-BFGS-B")
    parser.add_argument("--fit-on", default=None,
                        help="comma-separated mixtures to fit on (default: all not in --predict)")
    parser.add_argument("--predict", default=None, help="comma-separated held-out mixtures to predict")
    parser.add_argument("--holdout-last", type=int, default=0,
                        help="also extrapolate: fit each run without its last K steps, predict them")
    parser.add_argument("--bootstrap", type=int, default=0, help="bootstrap replicates for intervals")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--starts", type=int, default=8, help="starting points per domain (default 8)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the bootstrap")
    parser.add_argument("--json", default=None, help="write the results as JSON here")


def _mixtures(table: pd.DataFrame, text: str | None, option: str) -> list[str]:
    """Mixture names of an option, resolved through the aliases (natural <-> baseline), or an error
    naming the mixtures the table has."""
    names = _names(text)
    found, missing = resolve_mixture_names(table, names)
    if missing:
        raise RunsSchemaError(f"{option}: no mixture {', '.join(missing)} in the run table; it has: "
                              f"{', '.join(dict.fromkeys(table['mixture']))}")
    return [found[n] for n in names]


def _complete_runs_only(table: pd.DataFrame, path: str) -> pd.DataFrame:
    """Drop the runs whose sidecar says they did not finish (``partial``/``running``), saying so:
    a shorter curve would pass for a finished one. Tables without sidecars are used as they are."""
    status = {run: meta.get("status") for run, meta in read_sidecars(path).items()}
    unfinished = sorted({r for r in table["run"] if status.get(r, "complete") != "complete"})
    if unfinished:
        print(f"note: excluding {len(unfinished)} unfinished run(s) (sidecar status not complete): "
              + ", ".join(f"{r} ({status[r]})" for r in unfinished), file=sys.stderr)
        table = table[~table["run"].isin(unfinished)].reset_index(drop=True)
    return table


def _check_holdout(table: pd.DataFrame, holdout_last: int) -> None:
    if holdout_last < 0:
        raise RunsSchemaError(f"--holdout-last must be >= 0, got {holdout_last}")
    if not holdout_last:
        return
    steps = table.groupby("run")["step"].nunique()
    if holdout_last >= int(steps.min()):
        raise RunsSchemaError(
            f"--holdout-last {holdout_last} leaves nothing to fit on: run {steps.idxmin()} has "
            f"{int(steps.min())} evaluated steps (hold out fewer than that)")


def run_fit(args: argparse.Namespace) -> int:
    table = read_runs(args.runs)
    if table.empty:
        raise RunsSchemaError(f"{args.runs}: the run table has a header but no rows")
    table = _complete_runs_only(table, args.runs)
    if table.empty:
        raise RunsSchemaError(f"{args.runs}: no finished run left to fit")
    # every name and option is checked before the fit, which takes minutes with --bootstrap
    predict = _mixtures(table, args.predict, "--predict")
    fit_on = _mixtures(table, args.fit_on, "--fit-on") or [
        m for m in dict.fromkeys(table["mixture"]) if m not in predict]
    overlap = sorted(set(fit_on) & set(predict))
    if overlap:
        raise RunsSchemaError(f"mixtures {', '.join(overlap)} are both in --fit-on and --predict")
    if not fit_on:
        raise RunsSchemaError("no mixture left to fit on: --predict names every mixture of the table")
    _check_holdout(table[table["mixture"].isin(fit_on)], args.holdout_last)
    fit = fit_law(table, form=args.form, method=args.method, n_starts=args.starts, mixtures=fit_on)
    out = fit.to_json()
    out["provenance"] = {**environment(), "runs": str(args.runs), "runs_sha256": sha256_file(args.runs),
                         "args": {k: v for k, v in vars(args).items() if not callable(v)}}
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 5):
        print(f"{args.form} fit ({args.method}) on {len(fit_on)} mixtures: {', '.join(fit_on)}")
        if args.form == "bimix":
            print(f"scale: {SCALE_CONVENTION}")
        print(fit.summary().to_string(index=False))
        if fit.n_excluded_zero_share:
            print(f"excluded {fit.n_excluded_zero_share} points with r = 0 (the law diverges there)")
        if args.bootstrap:
            boot = bootstrap(table, fit, n_boot=args.bootstrap, seed=args.seed, n_jobs=args.jobs)
            ci = boot.ci()
            for d in fit.domains:
                entry = ci.get(d, {})
                out["domains"][d]["ci"] = entry.get("", entry)
            out["bootstrap"] = {"n": args.bootstrap, "seed": args.seed, "scheme": boot.scheme,
                                "level": 0.95, "n_failed": {f"{d}|{g}": n for (d, g), n in boot.n_failed.items()}}
            print(f"bootstrap: {args.bootstrap} replicates ({boot.scheme}), 95 % percentile intervals in the JSON")
        if predict:
            g = generalise_mixtures(table, fit_on, predict, form=args.form, method=args.method,
                                    n_starts=args.starts)
            out["heldout"] = g.to_json()["heldout"]
            out["generalisation"] = {k: v for k, v in g.to_json().items() if k != "heldout"}
            if g.applicable:
                print("held-out mixtures (R² on log loss over steps, per domain):")
                print(g.per_mixture.to_string(index=False))
                print(f"Spearman of final losses across held-out mixtures: {g.spearman_final:.4f}")
            else:
                print(f"held-out mixtures: not applicable — {g.reason}")
        if args.holdout_last:
            e = extrapolate_steps(table[table["mixture"].isin(fit_on)], form=args.form,
                                  method=args.method, holdout_last=args.holdout_last, n_starts=args.starts)
            out["extrapolation"] = e.to_json()
            if e.applicable:
                print(f"step extrapolation (last {args.holdout_last} steps held out), relative error:")
                print(e.per_run.to_string(index=False))
                print(f"mean {e.mre_mean:.5f}  worst {e.mre_worst:.5f}  best {e.mre_best:.5f}")
            else:
                print(f"step extrapolation: not applicable — {e.reason}")
    if args.json:
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


def _bounds(items: list[str] | None, what: str) -> dict[str, float]:
    out = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise SystemExit(f"error: {what} {item!r} is not DOMAIN=VALUE")
        out[name] = float(value)
    return out


def add_optimize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fit", help="JSON written by `python -m bimix fit --json`")
    parser.add_argument("--step", type=float, required=True, help="target step s")
    parser.add_argument("--lower", action="append", metavar="D=x", help="lower bound on a share (repeatable)")
    parser.add_argument("--upper", action="append", metavar="D=x", help="upper bound on a share (repeatable)")
    parser.add_argument("--weight", action="append", metavar="D=x", help="objective weight (default 1)")
    parser.add_argument("--method", choices=("auto", "kkt", "slsqp"), default="auto",
                        help="kkt: exact optimum of the bimix law (KKT conditions, bounds included); "
                             "slsqp: numerical (scipy SLSQP), any law form; auto (default): kkt for "
                             "bimix, else slsqp")
    parser.add_argument("--delta", type=float, default=0.01,
                        help="near-optimal region: mean loss within this many nats of the optimum")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling the near-optimal region")
    parser.add_argument("--json", default=None, help="write the results as JSON here")


def run_optimize(args: argparse.Namespace) -> int:
    from bimix.files import read_json

    fit = LawFit.from_json(read_json(args.fit))
    opt = optimize_mixture(fit, args.step, weights=_bounds(args.weight, "--weight") or None,
                           lower=_bounds(args.lower, "--lower") or None,
                           upper=_bounds(args.upper, "--upper") or None, method=args.method)
    region, _ = near_optimal_region(fit, opt, delta=args.delta, seed=args.seed)
    sens = sensitivity(fit, opt)
    table = opt.table().merge(region[["domain", "r_min", "r_max"]], on="domain").merge(
        sens[["domain", "gradient", "cost_plus", "cost_minus"]], on="domain")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 5):
        print(f"optimum of Σ w_i L_i at step {args.step:g} ({opt.method}): mean loss "
              f"{opt.objective / opt.weights.sum():.5f} nats")
        print(table.to_string(index=False))
        print(f"r_min/r_max: shares among sampled mixtures within {args.delta} nats of the optimum")
    if args.json:
        out = {**opt.to_json(), "near_optimal": {"delta": args.delta, "seed": args.seed,
                                                 "r_min": dict(zip(region["domain"], region["r_min"])),
                                                 "r_max": dict(zip(region["domain"], region["r_max"]))},
               "sensitivity": sens.set_index("domain").drop(columns="r").to_dict(orient="index"),
               "fit": {"path": str(args.fit), "sha256": sha256_file(args.fit), "form": fit.form},
               "provenance": environment()}
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0
