"""Command line for the law engine: ``python -m bimix fit`` and ``python -m bimix optimize``.

``fit RUNS``          fit a law form to a run table; optionally predict held-out mixtures
                      (Table 2), extrapolate held-out steps (Table 1) and bootstrap intervals.
``optimize FIT.json`` the loss-minimising mixture at a step, from a ``fit --json`` output.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from bimix.files import sha256_file, write_json
from bimix.law.forms import FORMS, METHODS, SCALE_CONVENTION, LawFit, LawInputError, bootstrap, fit_law
from bimix.law.optimize import OptimumWarning, near_optimal_region, optimize_mixture, sensitivity
from bimix.law.protocols import (MIN_RANKED, extrapolate_steps, generalise_mixtures, json_ready,
                                 pooled_scores, resolve_mixture_names)
from bimix.provenance import environment
from bimix.data.runs import RunsSchemaError, read_runs, read_sidecars


def _names(text: str | None) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()] if text else []


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", help="run table (.csv or .parquet, bimix.data.runs format)")
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


def _check_holdout(table: pd.DataFrame, holdout_last: int) -> list[str]:
    """The runs too short for ``--holdout-last`` (no more evaluated steps than held out), which the
    step extrapolation leaves out; an error when that is every run."""
    if holdout_last < 0:
        raise RunsSchemaError(f"--holdout-last must be >= 0, got {holdout_last}")
    if not holdout_last:
        return []
    steps = table.groupby("run", sort=False)["step"].nunique()
    if holdout_last >= int(steps.max()):
        raise RunsSchemaError(
            f"--holdout-last {holdout_last} leaves nothing to fit on: the longest run, {steps.idxmax()}, has "
            f"{int(steps.max())} evaluated steps (hold out fewer than that)")
    return [str(r) for r in steps.index[steps <= holdout_last]]


MAX_ROWS = 40  # longer tables are printed as their head and tail (the JSON holds every row)


def _listing(names: list[str], most: int = 8) -> str:
    return ", ".join(names) if len(names) <= most else \
        f"{', '.join(names[:most // 2])}, … ({len(names) - most} more) …, {', '.join(names[-most // 2:])}"


def _table_text(df: pd.DataFrame) -> str:
    df = df.dropna(axis=1, how="all")
    if len(df) <= MAX_ROWS:
        return df.to_string(index=False)
    half = MAX_ROWS // 2
    return (df.head(half).to_string(index=False) + f"\n… {len(df) - MAX_ROWS} rows not shown (all in "
            "the JSON) …\n" + df.tail(half).to_string(index=False, header=False))


def _write(path: str | None, out: dict) -> None:
    if path:
        write_json(path, json_ready(out))  # NaN/inf become null: strict JSON parsers accept the file


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
    too_short = _check_holdout(table[table["mixture"].isin(fit_on)], args.holdout_last)
    if too_short:
        print(f"note: the step extrapolation skips {len(too_short)} run(s) with at most {args.holdout_last} "
              f"evaluated steps (nothing left to fit on): {_listing(too_short)}", file=sys.stderr)
    fit = fit_law(table, form=args.form, method=args.method, n_starts=args.starts, mixtures=fit_on)
    out = fit.to_json()
    out["provenance"] = {**environment(), "runs": str(args.runs), "runs_sha256": sha256_file(args.runs),
                         "args": {k: v for k, v in vars(args).items() if not callable(v)}}
    # the main fit is on disk before any protocol runs: a protocol that fails cannot lose it
    _write(args.json, out)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 5):
        print(f"{args.form} fit ({args.method}) on {len(fit_on)} mixtures: {_listing(fit_on)}")
        if args.form == "bimix":
            print(f"scale: {SCALE_CONVENTION}")
        print(_table_text(fit.summary()))
        if fit.n_excluded_zero_share:
            print(f"excluded {fit.n_excluded_zero_share} points with r = 0 (the law diverges there)")
        if fit.skipped and args.form in ("bimix", "additive"):
            print(f"left out {len(fit.skipped)} domain(s) no fitted run trains on: "
                  f"{_listing([x['domain'] for x in fit.skipped])}")
        elif fit.skipped:
            groups = sorted({str(x["group"]) for x in fit.skipped}, key=lambda g: (len(g), g))
            print(f"skipped {len(fit.skipped)} (domain, {_form_group(args.form)}) fits with too few points, "
                  f"at {_form_group(args.form)} {_listing(groups)}; first: {fit.skipped[0]['reason']}")
        failed = [u for u in fit.units.values() if u.failure]
        if failed:
            print(f"FAILED fits ({len(failed)} of {len(fit.units)}), not to be trusted: "
                  + "; ".join(f"{u.domain}{'' if u.group is None else f' @ {u.group}'}: {u.failure}"
                              for u in failed[:5]) + (" …" if len(failed) > 5 else ""))
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
                if g.per_mixture["r2_log_mean"].notna().any():
                    print("held-out mixtures (R² on log loss over steps, per domain):")
                    print(_table_text(g.per_mixture))
                else:
                    # one step per run: R² over a mixture's steps is undefined; pool over mixtures
                    print("held-out mixtures have one step each: R² on log loss pooled per domain over "
                          "the held-out mixtures:")
                    print(_table_text(pooled_scores(g.points, "domain")))
                if g.n_outside_support:
                    print(f"{g.n_outside_support} of {len(g.points)} predicted rows have shares outside the "
                          "range the law was fitted on: those predictions are extrapolations")
                if g.n_excluded_zero_share or g.n_failed:
                    print(f"not predicted: {g.n_excluded_zero_share} held-out rows with r = 0 or at a "
                          f"skipped step; {g.n_failed} rows of failed fits")
                print(f"Spearman of final losses across held-out mixtures (mean over the "
                      f"{len(g.spearman_domains)} domains predicted for all of them): {g.spearman_final:.4f}"
                      + ("" if len(predict) >= MIN_RANKED else
                         f" (only {len(predict)} held-out mixtures: any ranking of two is ±1)"))
                print(f"mixture-blind null (geometric mean of the fitted mixtures' losses): R² on log loss "
                      f"{g.r2_log_mean_null:.4f} vs the law's {g.r2_log_mean:.4f}, skill "
                      f"(1 − R²_law)/(1 − R²_null) {g.skill_r2:.4f}; final-loss relative error "
                      f"{g.mre_final_null:.5f} vs {g.mre_final:.5f}, skill {g.skill_mre_final:.4f} "
                      "(skill < 1: the law beats the null)")
            else:
                print(f"held-out mixtures: not applicable — {g.reason}")
            _write(args.json, out)
        if args.holdout_last:
            e = extrapolate_steps(table[table["mixture"].isin(fit_on)], form=args.form,
                                  method=args.method, holdout_last=args.holdout_last, n_starts=args.starts)
            out["extrapolation"] = e.to_json()
            if e.applicable:
                print(f"step extrapolation (last {args.holdout_last} steps held out), relative error:")
                print(_table_text(e.per_run))
                print(f"mean {e.mre_mean:.5f}  worst {e.mre_worst:.5f}  best {e.mre_best:.5f}")
                print("naive baselines on the same held-out steps (skill = law error / naive error, "
                      "< 1: the law is better):")
                print(_table_text(e.per_domain))
                steps_law = (f"steps law B/s^β + C {e.mre_mean_steps_law:.5f} (skill {e.skill_steps_law:.4f})"
                             if not e.steps_law_note else f"steps law: {e.steps_law_note}")
                print(f"pooled: carry-forward {e.mre_mean_carry_forward:.5f} (skill "
                      f"{e.skill_carry_forward:.4f}); {steps_law}")
            else:
                print(f"step extrapolation: not applicable — {e.reason}")
            if e.n_excluded_zero_share:
                print(f"left out {e.n_excluded_zero_share} rows with r = 0 (run-domains where the "
                      "domain is absent)")
            if len(e.failed):
                print(f"{len(e.failed)} run(s) not fitted or not scored; first: {e.failed['reason'].iloc[0]}")
    if args.json:
        _write(args.json, out)
        print(f"wrote {args.json}")
    return 0


def _form_group(form: str) -> str:
    return {"steps": "mixture"}.get(form, "step")


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
    parser.add_argument("--outside-support", action="store_true",
                        help="let shares leave the range the law was fitted on (default: each share stays "
                             "within the smallest and largest share of its domain in the fitted runs)")
    parser.add_argument("--json", default=None, help="write the results as JSON here")


STEP_EXTRAPOLATION_WARN = 2.0  # warn when the target step is beyond this factor of the fitted steps


def read_fit(path) -> LawFit:
    """A fit from the JSON ``fit --json`` wrote; anything else is refused in one line naming the file."""
    from bimix.files import read_json

    obj = read_json(path)
    try:
        return LawFit.from_json(obj)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        what = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else str(exc)
        raise LawInputError(f"{path} is not a fit written by `python -m bimix fit --json` ({what})") from None


def run_optimize(args: argparse.Namespace) -> int:
    if not args.delta > 0:
        raise LawInputError(f"--delta must be > 0 nats (the near-optimal region's width), got {args.delta}")
    fit = read_fit(args.fit)
    with warnings.catch_warnings():
        # the same words are printed below as "warning: ..." lines and kept in the JSON
        warnings.simplefilter("ignore", OptimumWarning)
        opt = optimize_mixture(fit, args.step, weights=_bounds(args.weight, "--weight") or None,
                               lower=_bounds(args.lower, "--lower") or None,
                               upper=_bounds(args.upper, "--upper") or None, method=args.method,
                               within_support=not args.outside_support)
    if fit.steps and (args.step > STEP_EXTRAPOLATION_WARN * max(fit.steps)
                      or args.step < min(fit.steps) / STEP_EXTRAPOLATION_WARN):
        opt.warnings.insert(0, f"step {args.step:g} is far outside the fitted steps "
                               f"{min(fit.steps)}–{max(fit.steps)}: the law is extrapolated in steps")
    region, _ = near_optimal_region(fit, opt, delta=args.delta, seed=args.seed)
    sens = sensitivity(fit, opt)
    table = opt.table().merge(region[["domain", "r_min", "r_max"]], on="domain").merge(
        sens[["domain", "gradient", "cost_plus", "cost_minus"]], on="domain")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 5):
        print(f"optimum of Σ w_i L_i at step {args.step:g} ({opt.method}): mean loss "
              f"{opt.objective / opt.weights.sum():.5f} nats")
        print(table.to_string(index=False))
        print(f"r_min/r_max: shares among sampled mixtures within {args.delta} nats of the optimum")
        if not args.outside_support:
            print("each share kept within the shares the law was fitted on (--outside-support to leave them)")
        for w in opt.warnings:
            print(f"warning: {w}")
    if args.json:
        out = {**opt.to_json(), "near_optimal": {"delta": args.delta, "seed": args.seed,
                                                 "r_min": dict(zip(region["domain"], region["r_min"])),
                                                 "r_max": dict(zip(region["domain"], region["r_max"]))},
               "sensitivity": sens.set_index("domain").drop(columns="r").to_dict(orient="index"),
               "fit": {"path": str(args.fit), "sha256": sha256_file(args.fit), "form": fit.form},
               "provenance": environment()}
        write_json(args.json, json_ready(out))
        print(f"wrote {args.json}")
    return 0
