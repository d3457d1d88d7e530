"""The paper's evaluation protocols and metrics, for every law form on identical splits.

``extrapolate_steps``   Table 1: fit on all but the last k steps of a run, predict the held-out steps;
                        relative error |y − ŷ| / y per domain; mean / worst / best.
``generalise_mixtures`` Table 2 / Figure 3: fit on named mixtures, predict other mixtures at every
                        step; R² on log loss per domain over the step points; mean / worst / best per
                        held-out mixture; relative error of the final loss; Spearman correlation of
                        final losses across held-out mixtures.
``leave_one_mixture_out`` each mixture held out once, fitted on all others, for each form.

Naive baselines and skill. A law's error means little without the error of a predictor that knows
no law, so every protocol scores naive predictors on the same held-out points:

``carry_forward`` (Table 1)     each held-out step of a (run, domain) predicted as the loss of the last
                                fitted evaluation: L̂(s) = L(s_last). A law that cannot beat it has
                                learnt nothing from the curve's fall.
``steps law`` (Table 1)         L = B / s^β + C fitted per (domain, mixture) on the same truncated curves
                                (the ``steps`` form, Eq. 4); skipped when the form is ``steps``. Fitted
                                per run, ``bimix`` and ``additive`` see one share and reduce to it, so
                                their skill against it is 1.
``mixture_blind`` (Table 2)     a held-out mixture's loss for domain i at step s predicted as the
                                geometric mean, over the fitted mixtures, of their loss for i at s
                                (each mixture's seeds averaged in log space first): it ignores shares.

Skill = law error / naive error (relative errors, aggregated as the protocol's own metric); for R²
on log loss, skill = (1 − R²_law) / (1 − R²_null), the ratio of unexplained log-loss variance.
Skill < 1: the law beats the naive predictor; skill ≈ 1: it adds nothing; NaN where either part is
undefined. The mixture-blind null gives every held-out mixture the same prediction, so it cannot rank
them: its Spearman correlation is NaN in :func:`generalise_mixtures` and defined in
:func:`leave_one_mixture_out`, where each held-out mixture's null uses the other mixtures. Spearman
correlations over held-out mixtures are reported as ``*_min3`` only with at least 3 held-out mixtures
(with two, any ranking is ±1).

A form that cannot make a protocol's predictions (``share`` and ``exponential`` have no step variable,
so they cannot extrapolate in steps; ``steps`` has no share variable, so it cannot generalise to a new
mixture) is reported as not applicable with the reason, never scored as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bimix.law.forms import FORMS, LawError, NotPredictableError, fit_law


class ProtocolError(LawError, ValueError):
    """A split or setting a protocol cannot use (overlapping or unknown mixtures, k < 1)."""


# --------------------------------------------------------------------------------------------------
# Metrics.

def relative_error(y, y_hat) -> np.ndarray:
    """|y − ŷ| / y, elementwise (docs/paper.md#table-1)."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    return np.abs(y - y_hat) / y


def r2_log(y, y_hat) -> float:
    """Coefficient of determination on log loss: 1 − Σ(log y − log ŷ)² / Σ(log y − mean log y)²
    (the paper's score, docs/paper.md#protocols). NaN when log y has no spread."""
    ly, lh = np.log(np.asarray(y, float)), np.log(np.asarray(y_hat, float))
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    return 1.0 - float(np.sum((ly - lh) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def spearman(a, b) -> float:
    """Spearman rank correlation; NaN with fewer than two values or no spread."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def skill(law_error: float, naive_error: float) -> float:
    """law error / naive error: < 1 where the law beats the naive predictor; NaN if undefined."""
    law_error, naive_error = float(law_error), float(naive_error)
    if not (np.isfinite(law_error) and np.isfinite(naive_error)) or naive_error <= 0:
        return float("nan")
    return law_error / naive_error


def skill_r2(r2_law: float, r2_null: float) -> float:
    """(1 − R²_law) / (1 − R²_null): the law's unexplained log-loss variance over the null's."""
    return skill(1.0 - float(r2_law), 1.0 - float(r2_null))


MIN_RANKED = 3  # held-out mixtures needed before a Spearman correlation over them is reported


def carry_forward(fitted: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """(rows,) the carry-forward prediction: each row's loss predicted as its (run, domain)'s loss at
    the last step in ``fitted``; NaN where ``fitted`` has no such (run, domain)."""
    last = (fitted.sort_values("step", kind="stable").drop_duplicates(["run", "domain"], keep="last")
            .set_index(["run", "domain"])["loss"])
    return last.reindex(pd.MultiIndex.from_frame(rows[["run", "domain"]])).to_numpy(float)


def mixture_blind(fitted: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """(rows,) the mixture-blind null: each row's loss predicted as the geometric mean, over the
    mixtures in ``fitted``, of their loss for the row's domain at the row's step (a mixture's seeds
    averaged in log space first); NaN where no fitted mixture has that (domain, step)."""
    log = fitted.assign(log_loss=np.log(fitted["loss"].to_numpy(float)))
    per_mix = log.groupby(["domain", "step", "mixture"], sort=False)["log_loss"].mean()
    geo = np.exp(per_mix.groupby(level=["domain", "step"], sort=False).mean())
    return geo.reindex(pd.MultiIndex.from_frame(rows[["domain", "step"]])).to_numpy(float)


def _at_last_step(table: pd.DataFrame, keys: Sequence[str] = ("run", "domain")) -> np.ndarray:
    """(rows,) True where a row is at the last step of its group of ``keys``: by default each run's
    rows of a domain at the run's own last step there (runs need not reach the same step)."""
    if not len(table):
        return np.zeros(0, bool)
    return (table["step"] == table.groupby(list(keys))["step"].transform("max")).to_numpy()


def _positions(table: pd.DataFrame, keys: Sequence[str]) -> list[tuple[tuple, np.ndarray]]:
    """``[(key, row positions)]`` per group of ``keys``, groups in order of first appearance and rows
    in table order, as ``groupby(keys, sort=False)`` iterates them, without a frame per group."""
    codes = table.groupby(list(keys), sort=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    cols = [table[k].to_numpy() for k in keys]
    return [(tuple(c[pos[0]] for c in cols), pos) for pos in np.split(order, starts[1:])]


# --------------------------------------------------------------------------------------------------
# Step extrapolation (Table 1).

@dataclass
class Extrapolation:
    form: str
    applicable: bool
    reason: str = ""
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)  # per held-out point, law and naive
    per_run: pd.DataFrame = field(default_factory=pd.DataFrame)  # mean/worst/best over domains
    n_excluded_zero_share: int = 0  # held-out or training rows with r = 0, left out
    failed: pd.DataFrame = field(default_factory=pd.DataFrame)  # (run, reason) not fitted or not scored
    # runs with no more evaluated steps than are held out: nothing to fit on, left out
    runs_too_short: tuple[str, ...] = ()
    per_domain: pd.DataFrame = field(default_factory=pd.DataFrame)  # law vs naive per domain
    steps_law_note: str = ""  # why the steps-law baseline is not scored, if it is not

    @property
    def mre_mean(self) -> float:
        return float(self.per_run["mre_mean"].mean()) if self.applicable else float("nan")

    @property
    def mre_worst(self) -> float:
        return float(self.per_run["mre_worst"].max()) if self.applicable else float("nan")

    @property
    def mre_best(self) -> float:
        return float(self.per_run["mre_best"].min()) if self.applicable else float("nan")

    def _pooled(self, naive: str) -> tuple[float, float]:
        """(law's pooled error, naive's) over the points where the naive predictor is scored."""
        if not self.applicable:
            return float("nan"), float("nan")
        e = self.errors[np.isfinite(self.errors[f"rel_error_{naive}"])]
        return _pooled_mre(e, "rel_error"), _pooled_mre(e, f"rel_error_{naive}")

    @property
    def mre_mean_carry_forward(self) -> float:
        """Pooled mean relative error of carry-forward (aggregated as ``mre_mean``)."""
        return self._pooled("carry_forward")[1]

    @property
    def skill_carry_forward(self) -> float:
        """``mre_mean`` / ``mre_mean_carry_forward``: < 1 where the law beats carry-forward."""
        return skill(*self._pooled("carry_forward"))

    @property
    def mre_mean_steps_law(self) -> float:
        """Pooled mean relative error of the per-(domain, mixture) steps law (NaN for form steps)."""
        return self._pooled("steps_law")[1]

    @property
    def skill_steps_law(self) -> float:
        """The law's pooled error over the steps law's, on the points both predict."""
        return skill(*self._pooled("steps_law"))

    def by_mixture(self) -> pd.DataFrame:
        """Table 1's rows: per mixture, the mean of its runs' mean errors, the worst and the best
        (fractions; a mixture's seeds are its runs)."""
        return self.per_run.groupby("mixture", sort=False).agg(
            mre_mean=("mre_mean", "mean"), mre_worst=("mre_worst", "max"), mre_best=("mre_best", "min"))

    def to_json(self) -> dict:
        return {"form": self.form, "applicable": self.applicable, "reason": self.reason,
                "mre_mean": self.mre_mean, "mre_worst": self.mre_worst, "mre_best": self.mre_best,
                "n_excluded_zero_share": self.n_excluded_zero_share,
                "n_failed": len(self.failed),
                "failed": self.failed.head(20).to_dict(orient="records"),
                "per_run": self.per_run.to_dict(orient="records"),
                "n_runs_too_short": len(self.runs_too_short), "runs_too_short": list(self.runs_too_short),
                "mre_mean_carry_forward": self.mre_mean_carry_forward,
                "skill_carry_forward": self.skill_carry_forward,
                "mre_mean_steps_law": self.mre_mean_steps_law, "skill_steps_law": self.skill_steps_law,
                "steps_law_note": self.steps_law_note,
                "per_domain": self.per_domain.to_dict(orient="records")}


def _pooled_mre(err: pd.DataFrame, col: str) -> float:
    """Table 1's pooled metric for one error column: mean over a (run, domain)'s held-out steps, then
    over the run's domains, then over runs."""
    if not len(err):
        return float("nan")
    dom = err.groupby(["run", "domain"], sort=False)[col].mean()
    return float(dom.groupby(level="run", sort=False).mean().mean())


def _per_domain_skill(err: pd.DataFrame) -> pd.DataFrame:
    """Per domain: the law's and each naive predictor's mean relative error (mean over held-out
    steps per run, then over runs) and the skills, each naive compared on the points it predicts."""
    rows = []
    for d, g in err.groupby("domain", sort=False):
        row = {"domain": d, "n_runs": int(g["run"].nunique()), "mre": _pooled_mre(g, "rel_error")}
        for naive in ("carry_forward", "steps_law"):
            sub = g[np.isfinite(g[f"rel_error_{naive}"])]
            law, base = _pooled_mre(sub, "rel_error"), _pooled_mre(sub, f"rel_error_{naive}")
            row.update({f"mre_{naive}": base, f"skill_{naive}": skill(law, base)})
        rows.append(row)
    return pd.DataFrame(rows)


def _failed_units(fit, rows: pd.DataFrame, bad: np.ndarray) -> list:
    """The failed units behind the rows marked ``bad``, each once: a ``steps`` fit's units are
    (domain, mixture), the per-domain forms' (domain, None)."""
    by_mixture = fit.form == "steps"
    keys = set(zip(rows["domain"].to_numpy()[bad],
                   rows["mixture"].to_numpy()[bad] if by_mixture else [None] * int(bad.sum())))
    return [u for key, u in fit.units.items() if u.failure and key in keys]


def holdout_gap(table: pd.DataFrame) -> float:
    """Table 1's extrapolation distance: the median over runs of the last evaluated step divided by the
    one before it (the paper: 200k / 190k = 1.053). NaN when no run has two evaluations."""
    ratios = []
    for _, g in table.groupby("run", sort=False):
        steps = np.unique(g["step"].to_numpy())
        if len(steps) > 1:
            ratios.append(steps[-1] / steps[-2])
    return float(np.median(ratios)) if ratios else float("nan")


def thin_to_gap(table: pd.DataFrame, gap: float) -> pd.DataFrame:
    """Each run's rows with the evaluations strictly between ``last step / gap`` and the last step
    dropped, so Table 1 on the result (``holdout_last=1``) predicts the last step from a fit that ends
    at least ``gap`` times earlier (the "longer extrapolation" row beside the paper's 1.05x)."""
    if not gap >= 1:
        raise ProtocolError(f"gap must be >= 1, got {gap}")
    last = table.groupby("run")["step"].transform("max")
    return table[(table["step"] == last) | (table["step"] <= last / gap)]


def extrapolate_steps(table: pd.DataFrame, form: str = "bimix", method: str = "trf",
                      holdout_last: int = 1, n_starts: int = 8, per_run: bool = True) -> Extrapolation:
    """Fit on all but each run's last ``holdout_last`` steps, predict those steps (docs/paper.md#table-1).

    ``per_run=True`` (the paper's protocol) fits each run on its own: one mixture, so for ``bimix``
    only the step part is identified, which is all a same-mixture prediction needs.
    ``per_run=False`` fits all runs jointly on their truncated curves.
    The relative error of a domain is averaged over its held-out steps; per run the mean, worst and
    best over domains are reported. Carry-forward and the steps law are scored on the same points
    (module docstring); ``per_domain`` compares them with the law domain by domain.
    A run with no more evaluated steps than ``holdout_last`` is left out (``runs_too_short``); a
    run or unit whose fit fails is left out and listed in ``failed``; the rest are scored.
    """
    if holdout_last < 1:
        raise ProtocolError(f"holdout_last must be >= 1, got {holdout_last}")
    if form in ("share", "exponential"):
        return Extrapolation(form=form, applicable=False,
                             reason=f"the {form} law has no step variable: it is fitted per step")
    n_steps = table.groupby("run", sort=False)["step"].nunique()
    short = tuple(str(r) for r in n_steps.index[n_steps <= holdout_last])
    table = table[~table["run"].isin(short)]
    # a run-domain where the domain is absent (r = 0) has no r^-α: left out of the protocol, counted
    zero = (table["r"] <= 0) if form in ("bimix", "additive") else pd.Series(False, index=table.index)
    n_zero = int(zero.sum())
    table = table[~zero]
    rank = table.groupby("run")["step"].rank(method="dense", ascending=False)
    held = rank <= holdout_last
    groups = [(run, table["run"] == run) for run in dict.fromkeys(table["run"])] if per_run \
        else [(None, pd.Series(True, index=table.index))]
    steps_note = "the form is the steps law" if form == "steps" else ""
    pieces, failed = [], []
    for run, sel in groups:
        train, test = table[sel & ~held], table[sel & held]
        try:
            fit = fit_law(train, form=form, method=method, n_starts=n_starts)
            pred = fit.predict(test, on_zero_share="nan")
        except LawError as exc:
            failed.append({"run": run, "reason": str(exc)})
            continue
        bad = fit.unit_failed(test)
        pred[bad] = np.nan
        failed += [{"run": run, "reason": f"domain {u.domain!r}"
                    + ("" if u.group is None else f", mixture {u.group!r}") + f": {u.failure}"}
                   for u in _failed_units(fit, test, bad)]
        ok = np.isfinite(pred)
        steps_pred = np.full(len(test), np.nan)
        if form != "steps" and all(u.form == "steps" for u in fit.units.values()):
            # one share per domain: the law's fit is the steps law on the same points
            steps_pred = pred.copy()
        elif form != "steps":
            try:
                naive = fit_law(train, form="steps", method=method, n_starts=n_starts)
                steps_pred = naive.predict(test)
                steps_pred[naive.unit_failed(test)] = np.nan
            except LawError:  # a steps fit that fails leaves its baseline unscored, not the law
                pass
        pieces.append(test[ok].assign(pred=pred[ok], pred_carry_forward=carry_forward(train, test[ok]),
                                      pred_steps_law=steps_pred[ok]))
    failed = pd.DataFrame(failed, columns=["run", "reason"])
    if not pieces or not sum(len(p) for p in pieces):
        why = failed["reason"].iloc[0] if len(failed) else (
            f"every run has at most {holdout_last} evaluated steps" if short else "no held-out points")
        return Extrapolation(form=form, applicable=False, reason=f"no run could be fitted ({why})",
                             n_excluded_zero_share=n_zero, failed=failed, runs_too_short=short)
    err = pd.concat(pieces)
    err["rel_error"] = relative_error(err["loss"], err["pred"])
    for naive in ("carry_forward", "steps_law"):
        err[f"rel_error_{naive}"] = relative_error(err["loss"], err[f"pred_{naive}"])
    err = err[["run", "mixture", "domain", "step", "loss", "pred", "rel_error", "pred_carry_forward",
               "rel_error_carry_forward", "pred_steps_law", "rel_error_steps_law"]]
    dom = err.groupby(["run", "mixture", "domain"], sort=False)["rel_error"].mean().reset_index()
    per = dom.groupby(["run", "mixture"], sort=False)["rel_error"].agg(
        mre_mean="mean", mre_worst="max", mre_best="min").reset_index()
    if not steps_note and not np.isfinite(err["pred_steps_law"]).any():
        steps_note = "the steps law could not be fitted to any run"
    return Extrapolation(form=form, applicable=True, errors=err.reset_index(drop=True), per_run=per,
                         n_excluded_zero_share=n_zero, failed=failed, runs_too_short=short,
                         per_domain=_per_domain_skill(err), steps_law_note=steps_note)


# --------------------------------------------------------------------------------------------------
# Generalisation to unseen mixtures (Table 2).

@dataclass
class Generalisation:
    form: str
    fit_on: tuple[str, ...]
    predict: tuple[str, ...]
    applicable: bool
    reason: str = ""
    points: pd.DataFrame = field(default_factory=pd.DataFrame)  # every predicted row
    per_domain: pd.DataFrame = field(default_factory=pd.DataFrame)  # (mixture, domain): r2_log, mre_final
    per_mixture: pd.DataFrame = field(default_factory=pd.DataFrame)  # mean/worst/best per mixture
    spearman_final: float = float("nan")  # mean final loss over domains, ranked across mixtures
    spearman_final_per_domain: float = float("nan")  # per domain across mixtures, then averaged
    n_excluded_zero_share: int = 0  # held-out rows not predicted: r = 0, or a step the fit skipped
    n_failed: int = 0  # held-out rows of units whose fit failed (not scored)
    spearman_domains: tuple[str, ...] = ()  # the domains spearman_final averages over
    n_outside_support: int = 0  # predicted rows whose shares leave the range the fit saw

    def _mean(self, col: str) -> float:
        if not self.applicable or col not in self.per_mixture:
            return float("nan")
        return float(self.per_mixture[col].mean())

    @property
    def r2_log_mean(self) -> float:
        """The law's R² on log loss: mean over held-out mixtures of their mean over domains."""
        return self._mean("r2_log_mean")

    @property
    def r2_log_mean_null(self) -> float:
        """The mixture-blind null's R², aggregated as ``r2_log_mean``."""
        return self._mean("r2_log_mean_null")

    @property
    def skill_r2(self) -> float:
        """(1 − r2_log_mean) / (1 − r2_log_mean_null): < 1 where the law beats the null."""
        return skill_r2(self.r2_log_mean, self.r2_log_mean_null)

    @property
    def mre_final(self) -> float:
        """The law's relative error of the final loss, mean over held-out mixtures and domains."""
        return self._mean("mre_final")

    @property
    def mre_final_null(self) -> float:
        return self._mean("mre_final_null")

    @property
    def skill_mre_final(self) -> float:
        """mre_final / mre_final_null."""
        return skill(self.mre_final, self.mre_final_null)

    @property
    def spearman_final_min3(self) -> float:
        """``spearman_final`` where at least ``MIN_RANKED`` mixtures are held out, else NaN."""
        return self.spearman_final if len(self.predict) >= MIN_RANKED else float("nan")

    @property
    def spearman_final_null(self) -> float:
        """NaN: the null predicts every held-out mixture alike, so it cannot rank them."""
        return float("nan")

    def to_json(self) -> dict:
        out = {"form": self.form, "fit_on": list(self.fit_on), "predict": list(self.predict),
               "applicable": self.applicable, "reason": self.reason,
               "spearman_final": self.spearman_final,
               "spearman_final_per_domain": self.spearman_final_per_domain,
               "n_excluded_zero_share": self.n_excluded_zero_share, "n_failed": self.n_failed,
               "spearman_domains": list(self.spearman_domains),
               "n_outside_support": self.n_outside_support,
               "r2_log_mean": self.r2_log_mean, "r2_log_mean_null": self.r2_log_mean_null,
               "skill_r2": self.skill_r2, "mre_final": self.mre_final,
               "mre_final_null": self.mre_final_null, "skill_mre_final": self.skill_mre_final,
               "spearman_final_min3": self.spearman_final_min3,
               "spearman_final_null": self.spearman_final_null, "heldout": {}}
        for _, row in self.per_mixture.iterrows():
            out["heldout"][row["mixture"]] = {k: float(v) for k, v in row.items() if k != "mixture"}
        return out


def _score(form, fit_on, predict, fit, held, fitted) -> Generalisation:
    pred = fit.predict(held, on_zero_share="nan", on_unfitted="nan")
    failed = fit.unit_failed(held)
    pred[failed] = np.nan
    ok = np.isfinite(pred)
    if not ok.any():
        why = next((u.failure for u in fit.units.values() if u.failure), "") or \
            "every held-out row has r = 0 or a step the fit could not use"
        return Generalisation(form=form, fit_on=tuple(fit_on), predict=tuple(predict),
                              applicable=False, reason=f"nothing to score: {why}",
                              n_excluded_zero_share=int((~ok).sum()))
    pts = held[ok].assign(pred=pred[ok])
    pts["outside_support"] = outside_support(fit, pts)
    pts["pred_null"] = mixture_blind(fitted, pts)
    # per (mixture, domain): its runs' rows at their last step; the null is scored where it has a
    # prediction (steps some fitted mixture also reached), so at the last such step. Arrays, not a frame
    # per group: RegMix's tables have thousands of groups.
    loss, pred, null = (pts[c].to_numpy(float) for c in ("loss", "pred", "pred_null"))
    fin = _at_last_step(pts)
    has_null = np.isfinite(null)
    fin_null = np.zeros(len(pts), bool)
    fin_null[has_null] = _at_last_step(pts[has_null])
    rows = []
    for (mix, d), at in _positions(pts, ["mixture", "domain"]):
        y, p, f = loss[at], pred[at], fin[at]
        row = {"mixture": mix, "domain": d, "r2_log": r2_log(y, p),
               "mre_final": float(relative_error(y[f], p[f]).mean()),
               "final_loss": float(y[f].mean()), "final_pred": float(p[f].mean())}
        n, fn = has_null[at], fin_null[at]
        row.update({"r2_log_null": r2_log(y[n], null[at][n]) if n.any() else float("nan"),
                    "mre_final_null": float(relative_error(y[fn], null[at][fn]).mean())
                    if fn.any() else float("nan"),
                    "final_pred_null": float(null[at][fn].mean()) if fn.any() else float("nan")})
        rows.append(row)
    per_domain = pd.DataFrame(rows)
    per_mix = per_domain.groupby("mixture", sort=False).agg(
        r2_log_mean=("r2_log", "mean"), r2_log_worst=("r2_log", "min"), r2_log_best=("r2_log", "max"),
        mre_final=("mre_final", "mean"), mre_final_worst=("mre_final", "max"),
        r2_log_mean_null=("r2_log_null", "mean"), r2_log_worst_null=("r2_log_null", "min"),
        mre_final_null=("mre_final_null", "mean")).reset_index()
    per_mix["skill_r2"] = [skill_r2(a, b) for a, b in zip(per_mix["r2_log_mean"], per_mix["r2_log_mean_null"])]
    per_mix["skill_mre_final"] = [skill(a, b) for a, b in zip(per_mix["mre_final"], per_mix["mre_final_null"])]
    # mixtures are compared over the same domains: those predicted for every held-out mixture
    n_mix = per_domain["mixture"].nunique()
    common = per_domain.groupby("domain")["mixture"].transform("nunique") == n_mix
    finals = per_domain[common].groupby("mixture", sort=False)[["final_loss", "final_pred"]].mean()
    rho_dom = [spearman(g["final_loss"], g["final_pred"]) for _, g in per_domain.groupby("domain")]
    rho_dom = [x for x in rho_dom if np.isfinite(x)]
    return Generalisation(form=form, fit_on=tuple(fit_on), predict=tuple(predict), applicable=True,
                          points=pts, per_domain=per_domain, per_mixture=per_mix,
                          spearman_final=spearman(finals["final_loss"], finals["final_pred"]),
                          spearman_final_per_domain=float(np.mean(rho_dom)) if rho_dom else float("nan"),
                          n_excluded_zero_share=int((~ok & ~failed).sum()), n_failed=int(failed.sum()),
                          spearman_domains=tuple(sorted(set(per_domain.loc[common, "domain"]))),
                          n_outside_support=int(pts["outside_support"].sum()))


def generalise_mixtures(table: pd.DataFrame, fit_on: Sequence[str], predict: Sequence[str],
                        form: str = "bimix", method: str = "trf", n_starts: int = 8) -> Generalisation:
    """Fit ``form`` on the runs of mixtures ``fit_on``, predict the runs of ``predict`` at every
    step (docs/paper.md#table-2). Rows with r = 0 in an r^-α form are excluded and counted."""
    overlap = sorted(set(fit_on) & set(predict))
    if overlap:
        raise ProtocolError(f"mixtures {overlap} are both fitted on and predicted")
    missing = sorted(set(predict) - set(table["mixture"]))
    if missing:
        raise ProtocolError(f"mixtures to predict {missing} are not in the run table")
    fit = fit_law(table, form=form, method=method, n_starts=n_starts, mixtures=fit_on)
    held = table[table["mixture"].isin(list(predict))]
    try:
        return _score(form, fit_on, predict, fit, held, table[table["mixture"].isin(list(fit_on))])
    except NotPredictableError as exc:
        return Generalisation(form=form, fit_on=tuple(fit_on), predict=tuple(predict),
                              applicable=False, reason=str(exc))


def leave_one_mixture_out(table: pd.DataFrame, forms: Sequence[str] = ("bimix",), method: str = "trf",
                          n_starts: int = 8) -> pd.DataFrame:
    """Each mixture held out once and predicted by a fit on all the others, for each form, on the
    same splits. One row per (form, held-out mixture); ``spearman_final`` (one value per form) ranks
    the held-out mixtures' mean final losses, each predicted by the fit that did not see it.
    Beside the law's scores each row has the mixture-blind null's (``*_null``) and the skills;
    ``spearman_final_min3`` and ``spearman_final_null`` rank with at least 3 scored mixtures."""
    mixtures = list(dict.fromkeys(table["mixture"]))
    rows = []
    for form in forms:
        finals = []
        for mix in mixtures:
            rest = [x for x in mixtures if x != mix]
            try:
                g = generalise_mixtures(table, rest, [mix], form=form, method=method, n_starts=n_starts)
            except LawError as exc:  # e.g. too few mixtures left for the exponential law
                g = Generalisation(form=form, fit_on=tuple(rest), predict=(mix,), applicable=False,
                                   reason=str(exc))
            row = {"form": form, "heldout": mix, "applicable": g.applicable, "reason": g.reason}
            if g.applicable:
                row.update(g.per_mixture.iloc[0].drop("mixture").to_dict())
                finals.append(g.per_domain[["mixture", "domain", "final_loss", "final_pred",
                                            "final_pred_null"]])
            rows.append(row)
        rho = rho_null = float("nan")
        n_ranked = len(finals)
        if len(finals) >= 2:
            # every held-out mixture averaged over the same domains: those predicted for all of them
            f = pd.concat(finals, ignore_index=True)
            common = f.groupby("domain")["mixture"].transform("nunique") == f["mixture"].nunique()
            mean = f[common].groupby("mixture")[["final_loss", "final_pred", "final_pred_null"]].mean()
            rho = spearman(mean["final_loss"], mean["final_pred"])
            # each held-out mixture's null comes from the other mixtures, so here the null can rank
            rho_null = spearman(mean["final_loss"], mean["final_pred_null"])
        for row in rows:
            if row["form"] == form:
                row["spearman_final"] = rho
                row["spearman_final_min3"] = rho if n_ranked >= MIN_RANKED else float("nan")
                row["spearman_final_null"] = rho_null if n_ranked >= MIN_RANKED else float("nan")
    return pd.DataFrame(rows)


def compare_forms(table: pd.DataFrame, fit_on: Sequence[str], predict: Sequence[str],
                  forms: Sequence[str] = FORMS, method: str = "trf", holdout_last: int = 1,
                  n_starts: int = 8) -> pd.DataFrame:
    """Both protocols for every form on identical splits: one row per form with the held-out
    mixtures' R² (mean of per-mixture means, and the worst domain) and the step-extrapolation
    error (mean, worst); beside them the naive baselines' scores and the skills (``*_null``,
    ``skill_*``, ``extrap_*_carry_forward``, ``extrap_skill_steps_law``; module docstring); NaN with
    a reason where a form does not apply."""
    rows = []
    for form in forms:
        try:
            g = generalise_mixtures(table, fit_on, predict, form=form, method=method, n_starts=n_starts)
        except LawError as exc:
            g = Generalisation(form=form, fit_on=tuple(fit_on), predict=tuple(predict),
                               applicable=False, reason=str(exc))
        e = extrapolate_steps(table, form=form, method=method, holdout_last=holdout_last,
                              n_starts=n_starts)
        rows.append({
            "form": form,
            "r2_log_mean": float(g.per_mixture["r2_log_mean"].mean()) if g.applicable else np.nan,
            "r2_log_worst": float(g.per_mixture["r2_log_worst"].min()) if g.applicable else np.nan,
            "mre_final_heldout": float(g.per_mixture["mre_final"].mean()) if g.applicable else np.nan,
            "spearman_final": g.spearman_final,
            "extrap_mre_mean": e.mre_mean, "extrap_mre_worst": e.mre_worst,
            "r2_log_mean_null": g.r2_log_mean_null, "skill_r2": g.skill_r2,
            "mre_final_null": g.mre_final_null, "skill_mre_final": g.skill_mre_final,
            "extrap_mre_carry_forward": e.mre_mean_carry_forward,
            "extrap_skill_carry_forward": e.skill_carry_forward,
            "extrap_skill_steps_law": e.skill_steps_law,
            "note": "; ".join(x for x in (
                "" if g.applicable else f"mixtures: {g.reason}",
                "" if e.applicable else f"steps: {e.reason}") if x),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Beyond the paper (docs/paper.md#beyond): mixture names, seed variance, the no-interaction assumption, and
# leave-one-mixture-out predictions point by point.

# The paper's "Baseline" is the corpus's natural mixture (train-token shares); the sweep writes it as
# ``baseline`` (bimix.train.proxy.resolve_mixture treats both names alike), other tables may say ``natural``.
MIXTURE_ALIASES = {"baseline": ("baseline", "natural"), "natural": ("natural", "baseline")}


def natural_name(names: Sequence[str], what: str = "compare") -> str:
    """The natural mixture among ``names`` (``baseline`` or ``natural``); refuses a list without it."""
    found = next((m for m in names if m in MIXTURE_ALIASES), None)
    if found is None:
        raise ProtocolError(f"{what} = {','.join(names)!r} must hold the natural mixture (baseline): it sets the "
                            "target loss")
    return found


def resolve_mixture_names(table: pd.DataFrame, names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map requested mixture names to the names the run table uses, through ``MIXTURE_ALIASES``.
    Returns ``({requested: name in table}, [requested names found under no alias])``."""
    present = set(table["mixture"])
    found, missing = {}, []
    for name in names:
        hit = next((a for a in MIXTURE_ALIASES.get(name, (name,)) if a in present), None)
        if hit is None:
            missing.append(name)
        else:
            found[name] = hit
    return found, missing


@dataclass(frozen=True)
class MixtureSplit:
    """The mixtures a law is fitted on and those it predicts, each ``{requested name: name in the table}``."""

    fit_names: dict[str, str]
    predict_names: dict[str, str]
    missing_predict: list[str]  # requested mixtures to predict that the table holds under no alias

    @property
    def fit(self) -> list[str]:
        return list(self.fit_names.values())

    @property
    def predict(self) -> list[str]:
        return list(self.predict_names.values())

    @property
    def warning(self) -> str:
        """One line when a mixture to predict is missing (the protocol goes on without it), else empty."""
        return (f"WARNING: mixtures to predict {self.missing_predict} are not in the run table; Table 2 covers "
                f"{list(self.predict_names)} only" if self.missing_predict else "")


def split_mixtures(table: pd.DataFrame, fit_on: str, predict: str, source: object = "the run table") -> MixtureSplit:
    """``fit_on`` and ``predict``, comma-separated names as a notebook's parameters give them, resolved
    through ``MIXTURE_ALIASES``. Raises :class:`ProtocolError` naming ``source`` when a mixture to fit
    on is missing or none to predict is present; a missing mixture to predict is only left out."""
    fit_names, missing_fit = resolve_mixture_names(table, [x.strip() for x in fit_on.split(",") if x.strip()])
    pred_names, missing_pred = resolve_mixture_names(table, [x.strip() for x in predict.split(",") if x.strip()])
    if missing_fit:
        raise ProtocolError(f"mixtures to fit on {missing_fit} are not in {source} "
                            f"(it has {sorted(set(table['mixture']))})")
    if not pred_names:
        raise ProtocolError(f"none of the mixtures to predict ({predict}) is in {source}")
    return MixtureSplit(fit_names, pred_names, missing_pred)


def seed_variance(table: pd.DataFrame) -> pd.DataFrame:
    """Seed-to-seed spread of every (mixture, domain, step) trained with at least two seeds: the
    standard deviation of log loss across seeds (≈ relative standard deviation of the loss).
    Empty when no mixture has two seeds."""
    t = table.assign(log_loss=np.log(table["loss"].to_numpy(float)))
    g = t.groupby(["mixture", "domain", "step"], sort=False)
    out = g.agg(n_seeds=("seed", "nunique"), loss_mean=("loss", "mean"), log_std=("log_loss", "std"))
    return out[out["n_seeds"] >= 2].reset_index()


def share_slopes(table: pd.DataFrame) -> dict[str, float]:
    """Per domain, the common slope α of Eq. 8 at every step: least squares of log L on −log r with one
    intercept per step (rows with r = 0 excluded). NaN for a domain with a single share."""
    out = {}
    for d, g in table[table["r"] > 0].groupby("domain", sort=False):
        x = -np.log(g["r"].to_numpy(float))
        y = np.log(g["loss"].to_numpy(float))
        step = g["step"].to_numpy()
        x = x - pd.Series(x).groupby(step).transform("mean").to_numpy()
        y = y - pd.Series(y).groupby(step).transform("mean").to_numpy()
        out[d] = float(x @ y / (x @ x)) if x @ x > 0 else float("nan")
    return out


def share_adjusted_spread(table: pd.DataFrame, alpha: dict[str, float] | None = None) -> pd.DataFrame:
    """How strongly the law's no-interaction assumption (Eq. 3: L_i depends on r_i and s only) fails.

    At a fixed step the law says log L_i + α_i log r_i is the same for every mixture; its spread
    across mixtures is what the domain's loss varies by at equal share. Per (domain, step): standard
    deviation and range of that share-adjusted log loss over mixtures (each mixture's seeds averaged
    first). The spread also holds seed noise and any departure from the power law in r, so read it
    beside :func:`seed_variance`. ``alpha``: per-domain exponents (e.g. a bimix fit's); default
    :func:`share_slopes`. Rows with r = 0 are excluded.
    """
    alpha = share_slopes(table) if alpha is None else alpha
    t = table[table["r"] > 0]
    t = t.assign(adj=np.log(t["loss"].to_numpy(float))
                 + t["domain"].map(alpha).to_numpy(float) * np.log(t["r"].to_numpy(float)))
    per_mix = t.groupby(["domain", "step", "mixture"], sort=False)["adj"].mean().reset_index()
    out = per_mix.groupby(["domain", "step"], sort=False)["adj"].agg(
        n_mixtures="count", spread_log_std="std", spread_log_range=lambda x: float(x.max() - x.min())).reset_index()
    out["alpha"] = out["domain"].map(alpha)
    return out


def equal_share_spread(table: pd.DataFrame, decimals: int = 6) -> pd.DataFrame:
    """The direct check where a table allows it: runs of different mixtures giving a domain the same
    share (rounded to ``decimals``) are compared at the same step; per group the relative range
    (max − min) / mean of the domain's loss. Under Eq. 3 it is noise only. Empty if no such groups."""
    t = table[table["r"] > 0].assign(r_eq=table["r"].round(decimals))
    g = t.groupby(["domain", "step", "r_eq"], sort=False)
    out = g.agg(n_mixtures=("mixture", "nunique"), loss_mean=("loss", "mean"),
                loss_min=("loss", "min"), loss_max=("loss", "max")).reset_index()
    out = out[out["n_mixtures"] >= 2].rename(columns={"r_eq": "r"})
    return out.assign(rel_range=(out["loss_max"] - out["loss_min"]) / out["loss_mean"]).reset_index(drop=True)


def lomo_points(table: pd.DataFrame, form: str = "bimix", method: str = "trf",
                n_starts: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-mixture-out predictions, point by point: each mixture's rows predicted by ``form``
    fitted on every other mixture. Separable forms are fitted domain by domain, so a domain the other
    mixtures cannot identify (e.g. a single distinct share left) is skipped with its reason rather
    than failing the whole mixture; the exponential law uses every domain's share, so it is fitted
    on all domains at once. Returns ``(points with a pred column, skipped (heldout, domain, reason))``;
    rows with r = 0 in an r^-α form are skipped and counted there. ``pred_null`` is the
    mixture-blind null from the same training mixtures (:func:`mixture_blind`)."""
    mixtures = list(dict.fromkeys(table["mixture"]))
    domains = list(dict.fromkeys(table["domain"]))
    groups = [domains] if form == "exponential" else [[d] for d in domains]
    # a separable form is fitted on one domain's rows: split the table by domain once. The null is
    # computed once per held-out mixture, from every other mixture, and looked up per domain.
    by_domain = {} if form == "exponential" else {d: table[table["domain"] == d] for d in domains}
    mixture_of = table["mixture"].to_numpy()
    pieces, skipped = [], []
    for mix in mixtures:
        train_all, held = table[mixture_of != mix], table[mixture_of == mix]
        if form != "exponential":
            null_held, held_domain = mixture_blind(train_all, held), held["domain"].to_numpy()
        for doms in groups:
            if form == "exponential":  # one joint fit over the domains the other mixtures measured
                gone = [d for d in doms if d not in set(train_all["domain"])]
                skipped += [{"heldout": mix, "domain": d, "reason": f"domain {d!r} is measured only in "
                             f"the held-out mixture {mix!r}"} for d in gone if d in set(held["domain"])]
                doms = [d for d in doms if d not in gone]
                train, test = train_all, held[held["domain"].isin(doms)]
            else:
                part, at = by_domain[doms[0]], held_domain == doms[0]
                train, test, null_test = part[part["mixture"].to_numpy() != mix], held[at], null_held[at]
            try:
                fit = fit_law(train, form=form, method=method, n_starts=n_starts, domains=doms)
                pred = fit.predict(test, on_zero_share="nan", on_unfitted="nan")
            except LawError as exc:
                skipped += [{"heldout": mix, "domain": d, "reason": str(exc)} for d in doms]
                continue
            bad = fit.unit_failed(test)
            if bad.any():
                pred[bad] = np.nan
                skipped += [{"heldout": mix, "domain": d, "reason": f"failed fit: {fit.unit(d, g).failure}"}
                            for d, g in {(u.domain, u.group) for u in fit.units.values() if u.failure}]
            ok = np.isfinite(pred) | bad
            if (~ok).any():
                skipped.append({"heldout": mix, "domain": ", ".join(doms),
                                "reason": f"{int((~ok).sum())} rows with r = 0 (or at a step the fit "
                                          "skipped) cannot be predicted"})
            ok = np.isfinite(pred)
            null = mixture_blind(train_all, test[ok]) if form == "exponential" else null_test[ok]
            pieces.append(test[ok].assign(pred=pred[ok], heldout=mix,
                                          outside_support=outside_support(fit, test[ok]), pred_null=null))
    points = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(
        columns=[*table.columns, "pred", "heldout", "outside_support", "pred_null"])
    return points, pd.DataFrame(skipped, columns=["heldout", "domain", "reason"])


def lomo_overview(lomo: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Leave-one-mixture-out of several forms (``{form: lomo_points(...)}``) summed up: the scores of
    every held-out mixture and form (:func:`pooled_scores` per ``heldout``, with a ``form`` column),
    and per form the R² on log loss pooled over every held-out point, the Spearman correlation of the
    held-out mixtures' mean final losses with their predictions (what choosing a mixture needs), and
    how many (mixture, domain) pairs were skipped, with the first reason."""
    scores = pd.concat([pooled_scores(pts, "heldout").assign(form=form)
                        for form, (pts, _) in lomo.items() if len(pts)], ignore_index=True)
    summary = {}
    for form, (pts, skipped) in lomo.items():
        fin = pts[pts.groupby("run")["step"].transform("max") == pts["step"]].groupby("heldout")[["loss", "pred"]].mean()
        summary[form] = {"r2_log_pooled": pooled_scores(pts.assign(all="all"), "all")["r2_log"].iloc[0]
                         if len(pts) else np.nan,
                         "spearman_final": spearman(fin["loss"], fin["pred"]) if len(fin) else np.nan,
                         "n_skipped": len(skipped),
                         "skip_reason": skipped["reason"].iloc[0] if len(skipped) else ""}
    return scores, summary


@dataclass
class InteractionCheck:
    """How far a run table departs from Eq. 3's no-interaction assumption, beside the noise that bounds
    what can be seen (:func:`interaction_check`). Series are per domain, in log loss."""

    seeds: pd.DataFrame  # seed_variance
    noise: pd.Series | None  # mean seed-to-seed sd of log loss; None when no mixture has two seeds
    spread: pd.Series  # mean spread of the share-adjusted log loss across mixtures (share_adjusted_spread)
    fit_error: pd.Series  # root mean square of log pred - log loss over the held-out points
    equal: pd.DataFrame  # equal_share_spread
    n_seeds_max: int  # most seeds any mixture has

    def table(self) -> pd.DataFrame:
        """The three spreads side by side, in % of log loss."""
        return pd.DataFrame({"spread_at_equal_share": self.spread, "seed_noise": self.noise,
                             "lomo_rmse_log": self.fit_error}).mul(100).round(3)

    def to_json(self) -> dict:
        noise = self.noise
        return {
            "seeds": {"n_seeds_max": self.n_seeds_max,
                      "log_std_mean": float(self.seeds["log_std"].mean()) if len(self.seeds) else None,
                      "per_domain": noise.to_dict() if noise is not None else {}},
            "interaction": {"spread_log_std_mean": float(self.spread.mean()), "per_domain": self.spread.to_dict(),
                            "ratio_to_seed_noise": float(self.spread.mean() / noise.mean()) if noise is not None else None,
                            "lomo_rmse_log_mean": float(self.fit_error.mean()),
                            "equal_share_groups": len(self.equal),
                            "equal_share_rel_range_mean": float(self.equal["rel_range"].mean()) if len(self.equal) else None}}


def interaction_check(table: pd.DataFrame, heldout_points: pd.DataFrame) -> InteractionCheck:
    """The spread at equal share (:func:`share_adjusted_spread`) beside the seed noise
    (:func:`seed_variance`) and the law's held-out error (``heldout_points``: :func:`lomo_points`'
    points), per domain; and the exact equal-share groups (:func:`equal_share_spread`). Spread well
    above the seed noise means the other domains' shares matter."""
    seeds = seed_variance(table)
    noise = seeds.groupby("domain", sort=False)["log_std"].mean() if len(seeds) else None
    spread = share_adjusted_spread(table).groupby("domain", sort=False)["spread_log_std"].mean()
    pts = heldout_points
    fit_error = (np.log(pts["pred"]) - np.log(pts["loss"])).pow(2).groupby(pts["domain"]).mean().pow(0.5)
    return InteractionCheck(seeds, noise, spread, fit_error, equal_share_spread(table),
                            int(table.groupby("mixture")["seed"].nunique().max()))


def outside_support(fit, rows: pd.DataFrame) -> np.ndarray:
    """(rows,) True where a prediction extrapolates beyond the shares the fit saw: the row's own share
    outside its domain's fitted range (r^-α forms), or, for the exponential law, any share of the
    row's mixture outside that domain's fitted range."""
    sup = fit.support
    if not sup or not len(rows):
        return np.zeros(len(rows), bool)
    if fit.form != "exponential":
        lo = rows["domain"].map(lambda d: sup.get(d, (0.0, 1.0))[0]).to_numpy(float)
        hi = rows["domain"].map(lambda d: sup.get(d, (0.0, 1.0))[1]).to_numpy(float)
        r = rows["r"].to_numpy(float)
        return (r < lo - 1e-12) | (r > hi + 1e-12)
    from bimix.law.forms import mixture_matrix

    doms = list(fit.t_domains)
    R = mixture_matrix(rows, doms)  # (rows, m)
    lo = np.array([sup.get(d, (0.0, 1.0))[0] for d in doms])
    hi = np.array([sup.get(d, (0.0, 1.0))[1] for d in doms])
    return np.any((R < lo - 1e-12) | (R > hi + 1e-12), axis=1)


def pooled_scores(points: pd.DataFrame, by: str | Sequence[str] = "domain") -> pd.DataFrame:
    """R² on log loss and mean relative error of predicted points (columns ``loss``, ``pred``),
    pooled within each group of ``by``: e.g. per domain over every held-out mixture and step, which
    is defined even where a run has one step only (RegMix). With a ``pred_null`` column, the
    mixture-blind null's scores and the skills beside them, on the points the null predicts."""
    rows = []
    for key, g in points.groupby(by, sort=False):
        row = {**dict(zip([by] if isinstance(by, str) else by, key if isinstance(key, tuple) else (key,))),
               "n_points": len(g), "r2_log": r2_log(g["loss"], g["pred"]),
               "mre": float(relative_error(g["loss"], g["pred"]).mean())}
        if "pred_null" in g:
            gn = g[np.isfinite(g["pred_null"].to_numpy(float))]
            law_r2, law_mre = r2_log(gn["loss"], gn["pred"]), float(relative_error(gn["loss"], gn["pred"]).mean())
            null_r2 = r2_log(gn["loss"], gn["pred_null"])
            null_mre = float(relative_error(gn["loss"], gn["pred_null"]).mean())
            row.update({"r2_log_null": null_r2, "mre_null": null_mre, "skill_r2": skill_r2(law_r2, null_r2),
                        "skill_mre": skill(law_mre, null_mre)})
        rows.append(row)
    return pd.DataFrame(rows)


def lomo_summary(table: pd.DataFrame, forms: Sequence[str], method: str = "trf",
                 n_starts: int = 8) -> dict[str, dict]:
    """Per form, leave-one-mixture-out over ``table`` (:func:`lomo_points`, identical splits) summed up:
    mean and worst relative error of the held-out points, how many points and held-out mixtures were
    scored, and how many (held-out mixture, domain) pairs were skipped; beside them the mixture-blind
    null's mean relative error on the same points and the skill (law / null)."""
    out = {}
    for form in forms:
        pts, skipped = lomo_points(table, form=form, method=method, n_starts=n_starts)
        err = relative_error(pts["loss"], pts["pred"]) if len(pts) else np.array([np.nan])
        null = relative_error(pts["loss"], pts["pred_null"]) if len(pts) else np.array([np.nan])
        both = np.isfinite(null)
        out[form] = {"mean_rel_error": float(np.mean(err)), "worst_rel_error": float(np.max(err)),
                     "n_points": int(len(pts)), "n_heldout": int(pts["heldout"].nunique()) if len(pts) else 0,
                     "n_skipped": int(len(skipped)),
                     "mean_rel_error_null": float(np.mean(null[both])) if both.any() else float("nan"),
                     "skill_rel_error": skill(np.mean(err[both]), np.mean(null[both])) if both.any()
                     else float("nan")}
    return out


def json_ready(obj):
    """A nested result made JSON-clean: numpy scalars to Python numbers, NaN/inf to None (so the
    notebooks' JSON is standard JSON), tuples to lists, non-string keys to strings."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


# --------------------------------------------------------------------------------------------------
# Verifying an optimised mixture (notebook 06): loss curves, steps to a target, compute.

def average_loss_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Average log-perplexity (docs/paper.md#setup: the unweighted mean over domains of each domain's mean
    token loss) per step, one column per mixture; seeds are averaged after the domains.
    Returns (n_steps, n_mixtures), nats."""
    per_run = table.groupby(["mixture", "seed", "step"], sort=False)["loss"].mean()
    return per_run.groupby(["step", "mixture"]).mean().unstack("mixture").sort_index()


def steps_to_reach(steps, losses, target: float) -> float:
    """The first step at which a loss curve gets down to ``target`` (Figure 8, docs/paper.md#figures: steps to reach
    the Baseline's loss), interpolated linearly in log step between the two evaluations that bracket
    the crossing. The first evaluated step when the curve starts at or below the target (an upper
    bound: nothing earlier was measured); NaN when the curve never reaches it."""
    s, y = np.asarray(steps, float), np.asarray(losses, float)
    ok = np.isfinite(s) & np.isfinite(y)
    s, y = s[ok], y[ok]
    order = np.argsort(s)
    s, y = s[order], y[order]
    hit = np.flatnonzero(y <= target)
    if not len(hit):
        return float("nan")
    i = int(hit[0])
    if i == 0 or y[i] == target:
        return float(s[i])
    t = (y[i - 1] - target) / (y[i - 1] - y[i])
    return float(np.exp(np.log(s[i - 1]) + t * (np.log(s[i]) - np.log(s[i - 1]))))


def steps_to_target(curves: pd.DataFrame, natural: str, final_step: int) -> tuple[float, dict, pd.DataFrame]:
    """Figure 8's reading of average loss curves (``curves``: steps x mixtures): the target, the natural
    mixture's final value; the steps each mixture needs to reach it (:func:`steps_to_reach`, NaN never);
    and per mixture its final average loss, those steps and the speed-up ``final_step`` / steps."""
    target = float(curves[natural].dropna().iloc[-1])
    reach = {name: steps_to_reach(curves.index, curves[name], target) for name in curves.columns}
    table = pd.DataFrame({"final_avg_loss": curves.ffill().iloc[-1], "steps_to_natural_final": pd.Series(reach)})
    table["speedup_vs_natural"] = final_step / table["steps_to_natural_final"]
    return target, reach, table


def predicted_vs_measured(runs: pd.DataFrame, predicted: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A mixture's measured losses (``runs``, averaged over seeds) beside a prediction made before it was
    trained (``predicted``: step, domain, pred), per (step, domain); and per domain at the last step the
    loss, the prediction, the relative error (Table 1's metric) and R² on log loss over the steps
    (Table 2's)."""
    measured = runs.groupby(["step", "domain"], as_index=False)["loss"].mean()
    pvm = measured.merge(predicted, on=["step", "domain"])
    final = pvm[pvm["step"] == pvm["step"].max()].set_index("domain")
    final["rel_error"] = relative_error(final["loss"], final["pred"])
    final["r2_log"] = pd.Series({d: r2_log(g["loss"], g["pred"]) for d, g in pvm.groupby("domain")})
    return pvm, final


def end_slope(steps, losses, last: int = 4) -> float:
    """How fast a loss curve still falls at its end: minus the least-squares slope of the loss against
    log step over its last ``last`` evaluations, in nats per e-fold of steps (positive while it falls).

        L(s) ≈ a − b · ln s  over the last evaluations,   end_slope = b.

    NaN with fewer than two finite evaluations."""
    s, y = np.asarray(steps, float), np.asarray(losses, float)
    ok = np.isfinite(s) & np.isfinite(y) & (s > 0)
    s, y = s[ok], y[ok]
    order = np.argsort(s)
    s, y = s[order][-last:], y[order][-last:]
    if len(s) < 2:
        return float("nan")
    return float(-np.polyfit(np.log(s), y, 1)[0])


def gain_as_step_ratio(gain_nats: float, slope: float) -> float:
    """The step ratio a final-loss gain is worth on the reference's own curve: a reference still falling
    ``slope`` nats per e-fold of steps (:func:`end_slope`) needs about exp(gain / slope) times its steps
    to lose ``gain_nats`` more (first order: it keeps its final rate). This makes a gain in nats
    comparable across scales whose curves fall at different rates; a step ratio alone is not (the same
    2.5x is a large gain on a flat curve and a small one on a steep curve). NaN when the slope is not
    positive."""
    if not (np.isfinite(gain_nats) and np.isfinite(slope)) or slope <= 0:
        return float("nan")
    return float(np.exp(gain_nats / slope))


def _run_seconds(sidecars: Sequence[dict]) -> tuple[float, str]:
    devices = sorted({str(sc.get("device", "?")).split(":")[0] for sc in sidecars})
    return float(sum(sc.get("wall_time_s") or 0.0 for sc in sidecars)), "+".join(devices) or "-"


def compute_accounting(*, entropy_s: float, entropy_source: str, doremi_reference: Sequence[dict],
                       doremi_proxy: Sequence[dict], fit_runs: Sequence[dict], law_fit_s: float,
                       optimise_s: float, fit_uses_entropy: bool = True) -> pd.DataFrame:
    """Device seconds each mixture method costs, part by part (a reviewer request, docs/paper.md#beyond).

    ``entropy``: counting and VNE (CPU). ``doremi``: its reference run on the natural mixture plus the
    Group-DRO proxy (run sidecars' wall time, single-thread CPU workers or one GPU). ``bimix``: the runs
    the law is fitted on, the fit and the optimisation, plus the entropy mixtures when the fitting
    runs use them (the paper's choice). Returns rows (method, part, seconds, device, source)."""
    ref_s, ref_dev = _run_seconds(doremi_reference)
    prx_s, prx_dev = _run_seconds(doremi_proxy)
    fit_s, fit_dev = _run_seconds(fit_runs)
    rows = [("entropy", "unigram/bigram counts and VNE", entropy_s, "cpu", entropy_source),
            ("doremi", f"reference run(s) on the natural mixture ({len(doremi_reference)})", ref_s, ref_dev, "sidecars"),
            ("doremi", f"Group-DRO proxy run(s) ({len(doremi_proxy)})", prx_s, prx_dev, "sidecars"),
            ("bimix", f"fitting runs ({len(fit_runs)})", fit_s, fit_dev, "sidecars"),
            ("bimix", "law fit", law_fit_s, "cpu", "measured here"),
            ("bimix", "optimisation (KKT)", optimise_s, "cpu", "measured here")]
    if fit_uses_entropy:
        rows.insert(3, ("bimix", "entropy mixtures to fit on", entropy_s, "cpu", entropy_source))
    return pd.DataFrame(rows, columns=["method", "part", "seconds", "device", "source"])
