"""The paper's protocols on every public table, one model size at a time (notebook 07).

For each size of a public table (Apple's SlimPajama ladder 122M–2.7B, the Data Mixing Laws sets,
RegMix's 1M / 60M / 1B):

``table1``        Table 1 at the table's own last-gap ratio (:func:`bimix.law.protocols.holdout_gap`)
                  and at the ratio nearest the paper's 1.05x the grid allows (a grid finer than 1.05x
                  is thinned with :func:`bimix.law.protocols.thin_to_gap`; a coarser one cannot come
                  nearer than its own ratio). Each run fitted alone, its last step predicted; the
                  carry-forward and per-domain steps-law predictors scored on the same points. Fitted
                  per run, BiMix and the additive law see one share and reduce to the steps law.
``table2_splits`` Table 2: fit on ``n_fit`` (4, as the paper) mixtures drawn with a seeded generator,
                  predict every other mixture at every step; several splits and their spread; every
                  form on the same splits, each with the mixture-blind null's score and the skill.
``lomo``          each mixture held out once, per form on identical splits, pooled R² on log loss
                  with the null and the skill.
``slimpajama_mixtures`` the paper's published SlimPajama mixtures (Table 5: Baseline, DoReMi, SE, JE,
                  CE, VNE; uniform beside them) predicted at a size's last step by BiMix fitted on
                  that size's runs, with run-bootstrap intervals, and claims 3–4 read from them.

Tables are split by size with :func:`split_by_size`; everything returns JSON-ready dicts or frames.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from bimix.data.mixtures import published, uniform
from bimix.data.public_runs import PublicTable, PublicTables
from bimix.data.runs import ConversionReport, from_regmix
from bimix.law.forms import LawError, bootstrap, fit_law
from bimix.law.protocols import (Generalisation, extrapolate_steps, generalise_mixtures, holdout_gap,
                                 lomo_points, pooled_scores, skill_r2, thin_to_gap)

PAPER_GAP = 1.05  # the paper's Table 1: step 200k predicted from a fit ending at 190k
RIVAL_FORMS = ("bimix", "additive", "share", "exponential", "steps")
# the Apple SlimPajama table's domain names -> the paper's (bimix.data.mixtures, collection slimpajama)
DMSL_DOMAINS = {"arxiv": "ArXiv", "book": "Books", "c4": "C4", "commoncrawl": "CommonCrawl",
                "github": "GitHub", "stackexchange": "StackExchange", "wikipedia": "Wikipedia"}
PAPER_SLIMPAJAMA = ("baseline", "doremi", "se", "je", "ce", "vne")
ENTROPY = ("se", "ce", "je", "vne")
_SIZE = re.compile(r"(?:^|_)(\d+(?:\.\d+)?[MB])_")


def _size_key(label: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([MB])", label)
    return float(m.group(1)) * (1e3 if m.group(2) == "B" else 1) if m else float("inf")


def _runs_in_file(path: Path) -> set[str]:
    """Run names of a Data Mixing Laws loss table (the folder before the step in each line's path)."""
    runs = set()
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t", 1)[0].rstrip("/").split("/")
        if len(parts) >= 2:
            runs.add(parts[-2])
    return runs


def size_of_runs(pub: PublicTable) -> pd.Series:
    """run id -> model size label. A size in the run id (``dmsl_122M_m0``, ``70M_13-...``) is used;
    a Data Mixing Laws run without one (3Mix at 410M) takes the stem of the file that lists it."""
    runs = pd.Series(pd.unique(pub.table["run"]))
    found = runs.str.extract(_SIZE, expand=False)
    if found.isna().any() and pub.source == "dml":
        by_file = {}
        for f in pub.files:
            for r in _runs_in_file(f):
                by_file.setdefault(r, Path(f).stem)
        found = found.fillna(runs.map(by_file))
    return pd.Series(found.fillna("all").to_numpy(), index=runs.to_numpy(), name="size")


def split_by_size(pub: PublicTable) -> dict[str, PublicTable]:
    """One :class:`PublicTable` per model size (smallest first), named ``<table> <size>``; rows of
    validation domains that no run trains on (Apple's ``openhermes``) are dropped from tables
    whose validation domains are their training domains."""
    size = size_of_runs(pub)
    table = pub.table
    if pub.mixtures is None:
        trained = table.groupby("domain")["r"].max()
        table = table[table["domain"].isin(trained.index[trained > 0])]
    out = {}
    for label in sorted(set(size), key=_size_key):
        keep = table["run"].map(size) == label
        part = table[keep].reset_index(drop=True)
        mix = None if pub.mixtures is None else pub.mixtures.loc[[r for r in pub.mixtures.index if size.get(r) == label]]
        out[label] = PublicTable(name=f"{pub.name} {label}", source=pub.source, files=pub.files, table=part,
                                 report=pub.report, mixtures=mix, shares=pub.shares)
    return out


# RegMix's pairs by model size: the 1M train and test runs together, the 60M and 1B test runs.
REGMIX_SIZES = {"1M": (("train_mixture_1m.csv", "train_pile_loss_1m.csv"), ("test_mixture_1m.csv", "test_pile_loss_1m.csv")),
                "60M": (("test_mixture_60m.csv", "test_pile_loss_60m.csv"),),
                "1B": (("test_mixture_1B.csv", "test_pile_loss_1B.csv"),)}


def regmix_table(files: dict[str, Path]) -> PublicTable:
    """RegMix's runs (``{file name: path}`` as :func:`bimix.data.public_runs.fetch_source` returns them)
    as one table whose run ids carry the size (``regmix_1M_train_5``), final loss only; a size whose
    files are missing is left out. Validation domains without a training share keep r = 0."""
    parts, reports = [], []
    for size, pairs in REGMIX_SIZES.items():
        for mix, loss in pairs:
            if mix in files and loss in files:
                t, rep = from_regmix(files[mix], files[loss], run_prefix=f"regmix_{size}_{mix.split('_')[0]}")
                parts.append(t.assign(mixture=t["run"]))
                reports.append(rep)
    if not parts:
        raise LawError("no RegMix pair was given")
    report = ConversionReport(source="regmix", files=[f for r in reports for f in r.files],
                              notes=[n for r in reports for n in r.notes][:6])
    return PublicTable(name="regmix", source="regmix", files=[Path(f) for f in report.files],
                       table=pd.concat(parts, ignore_index=True), report=report)


# --------------------------------------------------------------------------------------------------
# Table 1 at two distances.

def paper_gap(table: pd.DataFrame, target: float = PAPER_GAP) -> tuple[pd.DataFrame, float, str]:
    """The table thinned so that Table 1 extrapolates as near ``target`` as the grid allows:
    ``(table, achieved gap, note)``. A grid whose own last gap is at least ``target`` is returned as
    it is (dropping evaluations only lengthens the gap)."""
    own = holdout_gap(table)
    if not np.isfinite(own) or own >= target:
        return table, own, (f"the grid's own last gap {own:.3g}x is the nearest to {target}x it allows"
                            if np.isfinite(own) else "runs have one evaluation")
    thinned = thin_to_gap(table, target)
    return thinned, holdout_gap(thinned), f"thinned to a gap of at least {target}x"


def table1(table: pd.DataFrame, method: str = "trf", n_starts: int = 4) -> list[dict]:
    """Table 1 rows (``distance`` "own" and "paper"; one row when both are the same grid): the
    law's mean error, carry-forward's and the steps law's, and the skills. Not applicable (with the
    reason) where runs have fewer than 4 evaluations."""
    rows = []
    own = holdout_gap(table)
    near, gap, note = paper_gap(table)
    todo = [("own", table, own, "the table's own last gap")]
    if gap != own:
        todo.append(("paper", near, gap, note))
    else:
        todo[0] = ("own = paper", table, own, note)
    for name, t, g, why in todo:
        n_steps = t.groupby("run")["step"].nunique()
        row = {"distance": name, "gap": g, "note": why, "n_runs": int(len(n_steps))}
        if not len(n_steps) or n_steps.max() < 4:
            row.update(applicable=False, reason=f"runs have at most {int(n_steps.max()) if len(n_steps) else 0} "
                       "evaluation(s): the step law needs 3 to fit and one to predict")
            rows.append(row)
            continue
        e = extrapolate_steps(t, form="bimix", method=method, holdout_last=1, n_starts=n_starts)
        row.update(applicable=e.applicable, reason=e.reason, mre_mean=e.mre_mean, mre_worst=e.mre_worst,
                   mre_carry_forward=e.mre_mean_carry_forward, skill_carry_forward=e.skill_carry_forward,
                   mre_steps_law=e.mre_mean_steps_law, skill_steps_law=e.skill_steps_law,
                   n_scored=int(e.per_run["run"].nunique()) if e.applicable else 0, n_failed=len(e.failed))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# Table 2 on seeded splits, and leave-one-mixture-out.

def seeded_splits(mixtures: Sequence[str], n_splits: int, n_fit: int = 4, seed: int = 0) -> list[list[str]]:
    """``n_splits`` draws of ``n_fit`` mixtures to fit on (split k drawn from ``default_rng(seed + k)``),
    each sorted in table order; empty when fewer than ``n_fit + 1`` mixtures exist."""
    mixtures = list(dict.fromkeys(mixtures))
    if len(mixtures) <= n_fit:
        return []
    out = []
    for k in range(n_splits):
        pick = set(np.random.default_rng(seed + k).choice(len(mixtures), size=n_fit, replace=False).tolist())
        out.append([m for i, m in enumerate(mixtures) if i in pick])
    return out


def domain_scores(points: pd.DataFrame) -> dict:
    """R² on log loss per validation domain, pooled over the held-out points, then averaged over the
    domains (so that the spread between domains' loss levels does not count as explained), the
    mixture-blind null's likewise, and the skill (1 − R²) / (1 − R²_null)."""
    per = pooled_scores(points, "domain")
    r2, null = float(per["r2_log"].mean()), float(per["r2_log_null"].mean())
    return {"r2": r2, "r2_null": null, "skill_r2": skill_r2(r2, null), "mre": float(per["mre"].mean()),
            "mre_null": float(per["mre_null"].mean())}


def _scores(g: Generalisation) -> dict:
    """A split's scores: the paper's R² (per held-out mixture and domain over its steps, then averaged)
    where runs have steps, else R² per domain pooled over the held-out mixtures and averaged over
    domains (:func:`domain_scores`); with the null and the skills."""
    dom = domain_scores(g.points)
    out = {"r2_domain_pooled": dom["r2"], "r2_domain_pooled_null": dom["r2_null"],
           "skill_domain_pooled": dom["skill_r2"], "mre_final": g.mre_final,
           "skill_mre_final": g.skill_mre_final, "spearman_final": g.spearman_final_min3,
           "n_outside_support": g.n_outside_support}
    paper = np.isfinite(g.r2_log_mean)
    out.update(r2=g.r2_log_mean if paper else dom["r2"], r2_null=g.r2_log_mean_null if paper else dom["r2_null"],
               skill_r2=g.skill_r2 if paper else dom["skill_r2"],
               r2_kind="per mixture over steps" if paper else "per domain over mixtures")
    return out


def table2_splits(table: pd.DataFrame, forms: Sequence[str] = RIVAL_FORMS, n_splits: int = 5, n_fit: int = 4,
                  seed: int = 0, method: str = "trf", n_starts: int = 2) -> pd.DataFrame:
    """One row per (split, form): fitted on ``n_fit`` seeded mixtures, every other mixture predicted
    (:func:`bimix.law.protocols.generalise_mixtures`); a form that cannot (the steps law has no share;
    the exponential law has more coefficients per step than 4 mixtures give) is a row with its reason."""
    rows = []
    for k, fit_on in enumerate(seeded_splits(table["mixture"], n_splits, n_fit, seed)):
        predict = [m for m in dict.fromkeys(table["mixture"]) if m not in fit_on]
        for form in forms:
            row = {"split": k, "form": form, "fit_on": ",".join(fit_on), "n_predicted": len(predict)}
            try:
                g = generalise_mixtures(table, fit_on, predict, form=form, method=method, n_starts=n_starts)
            except LawError as exc:
                g = Generalisation(form=form, fit_on=tuple(fit_on), predict=tuple(predict), applicable=False,
                                   reason=str(exc))
            row.update(applicable=g.applicable, reason=g.reason[:200])
            if g.applicable:
                row.update(_scores(g))
            rows.append(row)
    return pd.DataFrame(rows)


def summarise_splits(splits: pd.DataFrame) -> pd.DataFrame:
    """Per form over the splits: mean, median, sd, min and max of R² and of its skill against the null, the
    null's mean R² and the number of splits scored (a form scored on none keeps its first reason)."""
    rows = []
    for form, g in splits.groupby("form", sort=False):
        ok = g[g["applicable"].astype(bool)] if "applicable" in g else g.iloc[:0]
        row = {"form": form, "n_splits": len(ok)}
        if len(ok):
            r2, sk = ok["r2"].astype(float), ok["skill_r2"].astype(float)
            row.update(r2_mean=r2.mean(), r2_median=r2.median(), r2_sd=r2.std(ddof=1) if len(ok) > 1 else float("nan"), r2_min=r2.min(),
                       r2_max=r2.max(), r2_null_mean=ok["r2_null"].astype(float).mean(), skill_mean=sk.mean(),
                       skill_sd=sk.std(ddof=1) if len(ok) > 1 else float("nan"), r2_kind=ok["r2_kind"].iloc[0])
        else:
            row["reason"] = str(g["reason"].iloc[0]) if len(g) else "no split"
        rows.append(row)
    return pd.DataFrame(rows)


def lomo(table: pd.DataFrame, forms: Sequence[str] = RIVAL_FORMS, method: str = "trf", n_starts: int = 2,
         max_mixtures: int = 80) -> dict[str, dict]:
    """Leave-one-mixture-out per form on identical splits (:func:`bimix.law.protocols.lomo_points`):
    R² on log loss per domain over every held-out point, averaged over domains (:func:`domain_scores`),
    the null's, the skill and the mean relative error; ``r2_all_domains`` pools the domains together.
    Not run (with the reason) above ``max_mixtures`` mixtures, or below 3."""
    n_mix = table["mixture"].nunique()
    out = {}
    for form in forms:
        if form == "steps":
            out[form] = {"applicable": False, "reason": "the steps law has no share variable: it cannot "
                         "predict an unseen mixture"}
            continue
        if n_mix > max_mixtures or n_mix < 3:
            out[form] = {"applicable": False, "reason": f"{n_mix} mixtures: leave-one-out runs here for 3 to "
                         f"{max_mixtures} (parameter)"}
            continue
        pts, skipped = lomo_points(table, form=form, method=method, n_starts=n_starts)
        if not len(pts):
            out[form] = {"applicable": False, "reason": ("nothing to score; first: " + skipped["reason"].iloc[0])
                         if len(skipped) else "nothing to score"}
            continue
        all_points = pooled_scores(pts.assign(all="all"), "all").iloc[0]
        out[form] = {"applicable": True, **domain_scores(pts), "r2_all_domains": float(all_points["r2_log"]),
                     "n_points": int(len(pts)), "n_heldout": int(pts["heldout"].nunique()),
                     "n_skipped": int(len(skipped))}
    return out


def by_size(pub: PublicTable, forms: Sequence[str] = RIVAL_FORMS, n_splits: int = 5, n_fit: int = 4,
            seed: int = 0, method: str = "trf", n_starts: int = 4, lomo_starts: int = 2,
            lomo_max: int = 80) -> dict[str, dict]:
    """Table 1, Table 2 on seeded splits and leave-one-mixture-out, per model size of ``pub``:
    ``{size: {"n_runs", "n_mixtures", "table1": [...], "table2": {form: summary}, "splits": [...],
    "lomo": {form: ...}}}``. Only tables whose validation domains are their training domains are
    supported (the r^-α laws need a domain's own share)."""
    if pub.mixtures is not None:
        raise LawError(f"{pub.name}: trains on groups; the per-size protocols need each validation domain's "
                       "own share (use bimix.law.public_analysis.analyse for the exponential law there)")
    out = {}
    for label, part in split_by_size(pub).items():
        t = part.table[part.table["r"] > 0]
        splits = table2_splits(t, forms, n_splits, n_fit, seed, method, lomo_starts)
        out[label] = {"n_runs": int(t["run"].nunique()), "n_mixtures": int(t["mixture"].nunique()),
                      "n_domains": int(t["domain"].nunique()),
                      "table1": table1(t, method, n_starts),
                      "table2": {r["form"]: {k: v for k, v in r.items() if k != "form"}
                                 for r in summarise_splits(splits).to_dict(orient="records")} if len(splits) else {},
                      "table2_reason": "" if len(splits) else (f"{t['mixture'].nunique()} mixtures: fitting on "
                                                               f"{n_fit} leaves none to predict"),
                      "splits": splits.to_dict(orient="records"),
                      "lomo": lomo(t, forms, method, lomo_starts, lomo_max)}
    return out


def by_size_all(got: PublicTables, dml_sets: str = "", **kwargs) -> tuple[dict[str, dict], dict[str, float]]:
    """:func:`by_size` on every public table notebook 07 judges by size: Apple's SlimPajama table, the
    Data Mixing Laws sets named in ``dml_sets`` (comma-separated: those whose validation domains are
    their training domains) and RegMix, each when ``got`` has it. Returns the results per table
    (``dmsl``, ``dml_<set>``, ``regmix``) and the seconds each took; ``kwargs`` go to :func:`by_size`."""
    import time

    wanted = {f"dml_{n.strip()}" for n in dml_sets.split(",") if n.strip()}
    todo = ([("dmsl", got.dmsl)] if got.dmsl is not None else []) + [(t.name, t) for t in got.tables if t.name in wanted]
    todo += [("regmix", regmix_table(got.regmix_files))] if got.have_regmix else []
    sized, seconds = {}, {}
    for name, pub in todo:
        t0 = time.perf_counter()
        sized[name] = by_size(pub, **kwargs)
        seconds[name] = time.perf_counter() - t0
    return sized, seconds


def size_rows(results: dict[str, dict], table: str) -> pd.DataFrame:
    """One row per (size, form) for a committed markdown table: Table 1 (own gap, paper's gap), Table 2
    over the splits (mean ± sd) and leave-one-mixture-out, each with its skill."""
    rows = []
    for size, res in results.items():
        t1 = {r["distance"]: r for r in res["table1"]}
        own = t1.get("own") or t1.get("own = paper") or {}
        paper = t1.get("paper") or t1.get("own = paper") or {}
        for form in RIVAL_FORMS:
            row = {"table": table, "size": size, "form": form, "mixtures": res["n_mixtures"]}
            if form in ("bimix", "additive", "steps"):  # fitted per run, all three are the steps law
                key = "mre_mean" if form != "steps" else "mre_steps_law"
                for label, r in (("T1", own), ("T1@paper", paper)):
                    err, cf = r.get(key, np.nan), r.get("mre_carry_forward", np.nan)
                    row.update({f"{label} gap": r.get("gap"), f"{label} error %": 100 * err,
                                f"{label} skill (carry-fwd)": err / cf if cf else np.nan})
            t2 = res["table2"].get(form, {})
            row.update({"T2 R2": t2.get("r2_mean"), "T2 R2 sd": t2.get("r2_sd"),
                        "T2 R2 median": t2.get("r2_median"), "T2 null R2": t2.get("r2_null_mean"),
                        "T2 skill (null)": t2.get("skill_mean"), "splits": t2.get("n_splits")})
            lo = res["lomo"].get(form, {})
            row.update({"LOMO R2": lo.get("r2"), "LOMO skill (null)": lo.get("skill_r2")})
            rows.append(row)
    df = pd.DataFrame(rows)
    return df.set_index(["table", "size", "form"]).astype(float, errors="ignore")


# --------------------------------------------------------------------------------------------------
# The paper's SlimPajama mixtures on Apple's SlimPajama runs.

def paper_mixtures(domain_names: dict[str, str] = DMSL_DOMAINS, names: Sequence[str] = PAPER_SLIMPAJAMA,
                   with_uniform: bool = True) -> pd.DataFrame:
    """(mixtures, table domains) shares of the paper's published SlimPajama mixtures (Table 5), columns
    named as the table names its domains, each row renormalised over them; ``uniform`` appended."""
    paper_names = list(domain_names.values())
    rows = {n: published("slimpajama", n).array(paper_names) for n in names}
    if with_uniform:
        rows["uniform"] = uniform(paper_names).array(paper_names)
    df = pd.DataFrame(rows, index=list(domain_names)).T
    return df.div(df.sum(axis=1), axis=0)


def _mixture_rows(shares: pd.DataFrame, step: int) -> pd.DataFrame:
    return pd.DataFrame([{"run": m, "mixture": m, "seed": 0, "step": step, "tokens": step, "domain": d,
                          "r": float(shares.loc[m, d]), "loss": np.nan}
                         for m in shares.index for d in shares.columns])


def slimpajama_mixtures(table: pd.DataFrame, shares: pd.DataFrame | None = None, reference: str = "baseline",
                        n_boot: int = 200, seed: int = 0, method: str = "trf", n_starts: int = 4,
                        level: float = 0.95) -> pd.DataFrame:
    """The paper's SlimPajama mixtures predicted at the table's last step by BiMix fitted on every run of
    ``table`` (one model size), with percentile intervals from ``n_boot`` run-bootstrap refits
    (:func:`bimix.law.forms.bootstrap`, scheme "runs"). One row per mixture: predicted average loss
    over the domains (nats), its interval, the difference to ``reference`` (paired: each replicate
    predicts both) and its interval, CE minus the mixture (``ce_minus``, paired, for claim 4), and how
    many domains' shares lie outside the fitted range."""
    shares = paper_mixtures() if shares is None else shares
    last = int(table.groupby("run")["step"].max().median())
    fit = fit_law(table, form="bimix", method=method, n_starts=n_starts)
    rows = _mixture_rows(shares[[d for d in shares.columns if d in set(table["domain"])]], last)
    doms = list(dict.fromkeys(rows["domain"]))
    mixtures = list(dict.fromkeys(rows["mixture"]))

    def average(f) -> np.ndarray:
        pred = f.predict(rows, on_zero_share="nan", on_unfitted="nan")
        return rows.assign(pred=pred).groupby("mixture", sort=False)["pred"].mean().reindex(mixtures).to_numpy()

    point = average(fit)
    reps = np.empty((0, len(mixtures)))
    if n_boot:
        boot = bootstrap(table, fit, n_boot=n_boot, seed=seed, scheme="runs")
        reps = np.array([average(boot.replicate(b)) for b in range(boot.thetas.shape[0])
                         if not np.isnan(boot.thetas[b, :, 0]).any()]).reshape(-1, len(mixtures))
    q = [(1 - level) / 2, (1 + level) / 2]
    sup = {d: fit.support.get(d, (0.0, 1.0)) for d in doms}

    def paired(a: int, b: int) -> tuple[float, float, float]:
        """mixture a − mixture b: the point difference and its percentile interval over the replicates"""
        lo, hi = np.quantile(reps[:, a] - reps[:, b], q) if len(reps) else (np.nan, np.nan)
        return point[a] - point[b], lo, hi

    ref = mixtures.index(reference) if reference in mixtures else None
    ce = mixtures.index("ce") if "ce" in mixtures else None
    out = []
    for j, m in enumerate(mixtures):
        r = shares.loc[m, doms]
        lo, hi = np.quantile(reps[:, j], q) if len(reps) else (np.nan, np.nan)
        row = {"mixture": m, "step": last, "pred": point[j], "lo": lo, "hi": hi, "n_boot": len(reps),
               "n_outside_support": int(sum(not (sup[d][0] - 1e-12 <= r[d] <= sup[d][1] + 1e-12) for d in doms))}
        if ref is not None:  # mixture − reference
            row.update(zip(("diff", "diff_lo", "diff_hi"), paired(j, ref)))
        if ce is not None:  # CE − mixture, for claim 4
            row.update(zip(("ce_minus", "ce_minus_lo", "ce_minus_hi"), paired(ce, j)))
        out.append(row)
    return pd.DataFrame(out)


def claims_3_4(pred: pd.DataFrame, entropy: Sequence[str] = ENTROPY) -> dict:
    """Claims 3–4 read from :func:`slimpajama_mixtures`: claim 3 (every entropy mixture below the
    Baseline) "agrees" when every difference's interval lies below 0, "disagrees" when one lies
    above, else "undecided"; claim 4 (CE lowest of the four) from the paired replicates of CE − X."""
    p = pred.set_index("mixture")
    ent = [m for m in entropy if m in p.index]
    c3 = ("agrees" if all(p.loc[m, "diff_hi"] < 0 for m in ent) else
          "disagrees" if any(p.loc[m, "diff_lo"] > 0 for m in ent) else "undecided")
    ce = {m: {"diff": float(p.loc[m, "ce_minus"]), "lo": float(p.loc[m, "ce_minus_lo"]),
              "hi": float(p.loc[m, "ce_minus_hi"])} for m in ent if m != "ce" and "ce" in p.index}
    c4 = ("agrees" if ce and all(v["hi"] < 0 for v in ce.values()) else
          "disagrees" if any(v["lo"] > 0 for v in ce.values()) else "undecided")
    best = p.loc[ent, "pred"].idxmin() if ent else None
    return {"claim3": c3, "claim4": c4, "ce_minus": ce, "best_entropy": best,
            "entropy_minus_baseline": {m: float(p.loc[m, "diff"]) for m in ent},
            "uniform_minus_baseline": float(p.loc["uniform", "diff"]) if "uniform" in p.index else None}


def slimpajama_by_size(dmsl: PublicTable, n_boot: int = 200, seed: int = 0, method: str = "trf",
                       n_starts: int = 4) -> tuple[pd.DataFrame, dict[str, dict]]:
    """:func:`slimpajama_mixtures` and :func:`claims_3_4` at every size of Apple's SlimPajama table:
    one row per (size, mixture) with its interval, its paired difference to the Baseline and how many
    domains lie outside the fitted shares; and the claims per size."""
    rows, claims = [], {}
    for size, part in split_by_size(dmsl).items():
        pred = slimpajama_mixtures(part.table, n_boot=n_boot, seed=seed, method=method, n_starts=n_starts)
        claims[size] = claims_3_4(pred)
        rows.append(pred.assign(size=size))
    columns = ["size", "mixture", "step", "pred", "lo", "hi", "diff", "diff_lo", "diff_hi", "n_outside_support", "n_boot"]
    return pd.concat(rows, ignore_index=True)[columns], claims
