"""The paper's measurements repeated per seed, so every number carries its seed-to-seed spread.

Runs of one seed share their initialisation and each domain's data order across mixtures (the paired
design of :mod:`bimix.train.proxy`), so differences between mixtures are taken *within* a seed and then
summarised over seeds (:mod:`bimix.law.verdicts` turns them into intervals and verdicts). Pooled versions
(all seeds fitted together) sit beside the per-seed ones in the notebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.law.protocols import (average_loss_curves, extrapolate_steps, generalise_mixtures, holdout_gap,
                                 steps_to_reach, steps_to_target, thin_to_gap)


def final_average_by_seed(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over domains of each run's last evaluation: rows mixture, columns seed (nats)."""
    last = table[table["step"] == table.groupby("run")["step"].transform("max")]
    avg = last.groupby(["mixture", "seed"])["loss"].mean()
    return avg.unstack("seed").sort_index()


def paired_differences(finals: pd.DataFrame, reference: str, mixtures: Sequence[str]) -> dict[str, list[float]]:
    """Per seed, mixture − reference (nats), for the seeds both were trained on."""
    out = {}
    for m in mixtures:
        if m in finals.index and reference in finals.index:
            d = (finals.loc[m] - finals.loc[reference]).dropna()
            out[m] = [float(x) for x in d]
    return out


def table1_by_seed(table: pd.DataFrame, holdout_last: int = 1, n_starts: int = 8,
                   gap: float | None = None) -> dict[int, dict]:
    """Table 1 per seed: mean, worst and best relative error of the extrapolated last step(s) over
    the seed's runs and domains; beside them carry-forward's mean error and the law's skill against
    it (:mod:`bimix.law.protocols`: law error / naive error). ``gap``: predict the last step from a
    fit ending at least ``gap`` times earlier (:func:`bimix.law.protocols.thin_to_gap`); ``gap`` in
    the result is the held-out step over the last fitted one."""
    out = {}
    for seed, rows in table.groupby("seed"):
        if gap is not None:
            rows = thin_to_gap(rows, gap)
        ext = extrapolate_steps(rows, holdout_last=holdout_last, n_starts=n_starts)
        if ext.applicable:
            out[int(seed)] = {"mre_mean": ext.mre_mean, "mre_worst": ext.mre_worst, "mre_best": ext.mre_best,
                              "mre_carry_forward": ext.mre_mean_carry_forward,
                              "skill_carry_forward": ext.skill_carry_forward, "gap": holdout_gap(rows)}
    return out


def table2_by_seed(table: pd.DataFrame, fit_on: Sequence[str], predict: Sequence[str],
                   n_starts: int = 8) -> dict[int, dict[str, dict]]:
    """Table 2 per seed: the law fitted on one seed's ``fit_on`` runs predicts that seed's ``predict``
    runs; per held-out mixture the mean and worst R² over domains, and the mixture-blind null's mean
    R² with the law's skill against it ((1 − R²_law) / (1 − R²_null)). Seeds lacking a run are skipped."""
    out = {}
    for seed, rows in table.groupby("seed"):
        present = set(rows["mixture"])
        if not (set(fit_on) <= present and set(predict) <= present):
            continue
        gen = generalise_mixtures(rows, list(fit_on), list(predict), n_starts=n_starts)
        if gen.applicable:
            per = gen.per_mixture.set_index("mixture")
            out[int(seed)] = {m: {"mean": float(per.loc[m, "r2_log_mean"]), "worst": float(per.loc[m, "r2_log_worst"]),
                                  "mre_final": float(per.loc[m, "mre_final"]),
                                  "r2_null": float(per.loc[m, "r2_log_mean_null"]),
                                  "skill_r2": float(per.loc[m, "skill_r2"]),
                                  "mre_final_null": float(per.loc[m, "mre_final_null"]),
                                  "skill_mre_final": float(per.loc[m, "skill_mre_final"])} for m in predict}
    return out


def speedups_by_seed(table: pd.DataFrame, natural: str, mixtures: Sequence[str]) -> dict[str, dict[int, float]]:
    """Per seed: the natural mixture's last step divided by the steps each mixture needs to reach the
    natural mixture's final average loss (interpolated in log steps); NaN where never reached."""
    out: dict[str, dict[int, float]] = {m: {} for m in mixtures}
    for seed, rows in table.groupby("seed"):
        curves = average_loss_curves(rows)
        if natural not in curves:
            continue
        nat = curves[natural].dropna()
        target, last = float(nat.iloc[-1]), float(nat.index[-1])
        for m in mixtures:
            if m in curves:
                reach = steps_to_reach(curves.index, curves[m], target)
                out[m][int(seed)] = last / reach if reach and math.isfinite(reach) else math.nan
    return out


def step_ratios_by_seed(speedups: Mapping[str, Mapping[int, float]], slower: str, faster: str,
                        ) -> dict[int, dict]:
    """Per seed, how many times more steps ``slower`` needs than ``faster`` to reach the natural
    mixture's final loss (the ratio of their speed-ups, from :func:`speedups_by_seed`).

    ``{"ratio": x, "bound": b}``: when only ``slower`` never reached the target, the run's length bounds
    its steps from below, so ``ratio`` is the lower bound ``b`` = (last step / steps of ``faster``) and
    ``bound`` is ``"at least"``; NaN with ``bound`` ``"undefined"`` when ``faster`` never reached it."""
    out = {}
    for seed in sorted(set(speedups.get(slower, {})) & set(speedups.get(faster, {}))):
        fast, slow = speedups[faster][seed], speedups[slower][seed]
        if not math.isfinite(fast):
            out[int(seed)] = {"ratio": math.nan, "bound": "undefined"}
        elif not math.isfinite(slow):
            out[int(seed)] = {"ratio": float(fast), "bound": "at least"}
        else:
            out[int(seed)] = {"ratio": float(fast / slow), "bound": ""}
    return out


@dataclass
class AgainstNatural:
    """Figure 8's readings (:func:`against_natural`): average loss curves and how soon each mixture reaches
    the natural mixture's final loss, over seeds and per seed."""

    per_seed: pd.DataFrame  # (mixture, seed, step, value): each run's unweighted mean loss over domains, nats
    curves: pd.DataFrame  # (n_steps, n_mixtures): per_seed averaged over seeds, nats
    target: float  # the natural mixture's final value of ``curves``
    reach: dict[str, float]  # mixture -> steps to the target (NaN: never)
    steps_table: pd.DataFrame  # per mixture: final_avg_loss, steps_to_natural_final, speedup_vs_natural
    speedups: dict[str, dict[int, float]]  # :func:`speedups_by_seed`

    def ratio(self, slower: str, faster: str) -> dict[int, dict]:
        """:func:`step_ratios_by_seed` of two mixtures."""
        return step_ratios_by_seed(self.speedups, slower, faster)


def against_natural(table: pd.DataFrame, mixtures: Sequence[str], natural: str, final_step: int) -> AgainstNatural:
    """The runs of ``mixtures`` against the ``natural`` mixture (Figure 8): each run's average loss over
    domains per step, its mean over seeds, the steps each mixture needs to reach the natural mixture's
    final value and its speed-up over ``final_step`` (:func:`bimix.law.protocols.steps_to_target`), and
    the same per seed, each seed's natural run setting that seed's target (the paired design)."""
    rows = table[table["mixture"].isin(list(mixtures))]
    per_seed = rows.groupby(["mixture", "seed", "step"])["loss"].mean().rename("value").reset_index()
    curves = per_seed.groupby(["step", "mixture"])["value"].mean().unstack("mixture")[list(mixtures)]
    target, reach, steps_table = steps_to_target(curves, natural, final_step)
    return AgainstNatural(per_seed, curves, target, reach, steps_table, speedups_by_seed(rows, natural, mixtures))


def seeds_needed(mean: float, std: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Paired seeds needed to tell a mean difference ``mean`` from 0 with seed spread ``std``: a two-sided
    test at level ``alpha`` with probability ``power`` of deciding, normal approximation

        n = ((z_(1-alpha/2) + z_power) * std / |mean|)^2      (about 7.85 (std/mean)^2 at 0.05 and 0.8),

    rounded up (a t-test needs one or two more at these sizes). NaN when std is unknown (one seed);
    inf when the mean is 0."""
    from scipy.stats import norm

    if not (math.isfinite(mean) and math.isfinite(std)):
        return math.nan
    if mean == 0:
        return math.inf
    return float(math.ceil(((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * std / abs(mean)) ** 2))


def spread_summary(values: Sequence[float]) -> dict:
    """Mean, standard deviation, count and :func:`seeds_needed` of finite values (for JSON)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    mean = float(x.mean()) if len(x) else math.nan
    std = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    return {"mean": mean, "std": std, "n": int(len(x)), "values": [float(v) for v in x],
            "seeds_needed": seeds_needed(mean, std)}


def _outcome(ci, better_when_negative: bool = True) -> str:
    """Whether a paired difference's 95 % interval excludes 0, and on which side."""
    if ci.n < 2:
        return "one seed"
    below, above = ci.hi < 0, ci.lo > 0
    if better_when_negative:
        return "better" if below else "worse" if above else "undecided"
    return "agrees" if above else "disagrees" if below else "undecided"


def against_baselines(finals: pd.DataFrame, baselines: Sequence[str] = ("baseline", "skewed", "uniform"),
                      methods: Sequence[str] = ("se", "ce", "je", "vne", "doremi")) -> pd.DataFrame:
    """Claims 3-4 against each baseline the sweep trained: per (baseline, mixture), the paired difference
    of final average loss over seeds (mixture − baseline, nats; negative: the mixture is better), its 95 %
    t-interval, :func:`seeds_needed`, and the outcome ("better", "worse", "undecided", "one seed").
    ``finals``: :func:`final_average_by_seed`. The other baselines are compared with each one too."""
    from bimix.law.verdicts import interval

    refs = [r for r in baselines if r in finals.index]
    present = [m for m in methods if m in finals.index]
    rows = []
    for ref in refs:
        for m, diffs in paired_differences(finals, ref, [x for x in present + refs if x != ref]).items():
            s, ci = spread_summary(diffs), interval(diffs)
            rows.append({"baseline": ref, "mixture": m, "mean_diff": s["mean"], "lo": ci.lo, "hi": ci.hi,
                         "seeds": s["n"], "seeds_needed": s["seeds_needed"], "values": s["values"],
                         "outcome": _outcome(ci)})
    return pd.DataFrame(rows, columns=["baseline", "mixture", "mean_diff", "lo", "hi", "seeds", "seeds_needed",
                                       "values", "outcome"])


def gains_over(finals: pd.DataFrame, curves: pd.DataFrame, optimum: str, references: Sequence[str]) -> pd.DataFrame:
    """Claims 5-6 in nats: per reference, the optimum's paired gain in final average loss over seeds
    (reference − optimum, nats; positive: the optimum is better) with its 95 % t-interval and
    :func:`seeds_needed`, converted to a step ratio with the reference's own end slope
    (:func:`bimix.law.protocols.end_slope`, :func:`~bimix.law.protocols.gain_as_step_ratio`). Outcome:
    "agrees" when the interval lies above 0, "disagrees" below, else "undecided". ``finals``:
    :func:`final_average_by_seed`; ``curves``: seed-averaged average loss, one column per mixture."""
    from bimix.law.protocols import end_slope, gain_as_step_ratio
    from bimix.law.verdicts import interval

    rows = []
    for ref in [r for r in references if r in finals.index and optimum in finals.index]:
        gains = [-x for x in paired_differences(finals, ref, [optimum])[optimum]]
        s, ci = spread_summary(gains), interval(gains)
        slope = end_slope(curves.index, curves[ref]) if ref in curves else math.nan
        rows.append({"reference": ref, "gain_nats": ci.mean, "lo": ci.lo, "hi": ci.hi, "seeds": ci.n,
                     "seeds_needed": s["seeds_needed"], "end_slope": slope,
                     "step_ratio": gain_as_step_ratio(ci.mean, slope),
                     "step_ratio_lo": gain_as_step_ratio(ci.lo, slope),
                     "step_ratio_hi": gain_as_step_ratio(ci.hi, slope), "values": s["values"],
                     "outcome": _outcome(ci, better_when_negative=False) if ci.n > 1 else "one seed"})
    return pd.DataFrame(rows)
