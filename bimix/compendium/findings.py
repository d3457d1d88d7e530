""""What we found": the box at the end of notebooks 02 and 04-09, written from the notebook's own numbers,
and the sentences beside their tables that state a result.

One function per notebook takes the dictionary the notebook writes to its results JSON (``claims``) and
returns Markdown; the sentences beside a table (``against_*``, ``*_sentence``) take the numbers of that
table. Every sentence is computed from those numbers and says the opposite when they do: a
verdict comes from the rules of :mod:`bimix.law.verdicts` through the report's claims
(:data:`bimix.compendium.report.CLAIMS`), so the box, the report and the README never disagree.
Nothing here fits, trains or reads files; the tests build both outcomes of every sentence directly.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from bimix.compendium import report
from bimix.law import verdicts

ZERO_FLOOR = 1e-6  # a fitted floor C (nats) at or below this is "0": the fit put it on its bound
PAPER_T1_MEAN = (0.16, 0.19)  # Table 1, mean relative error of the final loss, % (docs/paper.md#table-1)
# the paper's ranges over its two corpora and three (Table 1) or two (Table 2) mixtures:
# docs/paper.md#table-1 and #table-2
PAPER_T1 = {"mean": PAPER_T1_MEAN, "worst": (0.24, 0.95)}  # relative error of the final loss, %
PAPER_T2 = {"mean": (0.9744, 0.9945), "worst": (0.7864, 0.9904)}  # R² on log loss


_num = report._num  # a finite float, or None


def _list(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def short_name(mixture: str) -> str:
    """``bimix_opt-c66bb62e`` -> ``bimix_opt``: a run table names an optimum by a hash of its shares."""
    return re.sub(r"-[0-9a-f]{8}$", "", str(mixture))


def box(title: str, lines: list[str]) -> str:
    """The Markdown box: a quoted block headed "What we found"."""
    body = "\n".join(f"> - {line}" for line in lines if line)
    return (f"> **What we found: {title}** (every sentence computed from this notebook's numbers by "
            f"`bimix.compendium.findings`)\n>\n{body}\n")


def show(text: str):
    """The box as a displayable IPython Markdown object (falls back to the text outside IPython)."""
    try:
        from IPython.display import Markdown
    except ImportError:  # pragma: no cover
        return text
    return Markdown(text)


def claim_lines(label: str, results: Mapping[str, dict]) -> list[str]:
    """The paper's claim, ours with its interval and its naive baseline, and the verdict with its rule,
    for the report claim whose label contains ``label``."""
    claim = next(c for c in report.CLAIMS if label in c.label)
    m = claim.measure(dict(results))
    v = m.verdict
    ours = v.measured or "not measured here"
    naive = (f"; against the naive predictor ({claim.compared_with}): {m.skill}" if m.skill
             else f" (compared with: {claim.compared_with})" if claim.compared_with != "—" else "")
    kind = "" if v.kind == verdicts.REPRODUCTION else f" ({v.kind})"
    return [f"**The paper**: {claim.label.rstrip('.')} — {claim.paper}.",
            f"**Ours**: {ours}{naive}.",
            f"**Verdict: {v.outcome}**{kind}. Rule: {v.rule}."]


# ----------------------------------------------------------------------------------------- 02 entropy
def spread(weights: Mapping[str, float]) -> float:
    """Largest share / smallest share (1: uniform)."""
    values = [float(x) for x in weights.values()]
    return max(values) / min(values)


def flatness(mixtures: Mapping[str, Any], paper: Mapping[str, Mapping[str, float]]) -> str:
    """Largest share / smallest share of every mixture, per tokenizer (``mixtures``: tokenizer -> domains x
    mixtures, a ``natural`` column beside the measures), and which entropy mixtures are flatter than the
    natural one; beside it the paper's Table 4 (``paper``: ``baseline`` and each measure, name -> weights)."""
    from bimix.data.entropy import MEASURES

    def ratio(values) -> float:
        values = list(values)
        return float(max(values) / min(values))

    lines = []
    for kind, table in mixtures.items():
        r = {name: ratio(table[name]) for name in table.columns}
        flatter = [m for m in MEASURES if "natural" in r and r[m] < r["natural"]]
        lines.append(f"- **{kind}**: " + ", ".join(f"{name} {v:.1f}" for name, v in r.items())
                     + f"; flatter than natural: {', '.join(flatter) or 'none'}.")
    natural = ratio(paper["baseline"].values())
    published = {m: ratio(paper[m].values()) for m in MEASURES}
    return ("Largest share / smallest share of each mixture (1 means uniform):\n\n" + "\n".join(lines)
            + f"\n\nThe paper's Table 4 (the Pile, 22 domains) for comparison: Baseline {natural:.1f}, "
            + ", ".join(f"{m} {v:.1f}" for m, v in published.items())
            + f"; flatter than its Baseline: {', '.join(m for m, v in published.items() if v < natural) or 'none'}.")


def entropy_mixtures(claims: Mapping[str, Any]) -> str:
    results = {"02_entropy_mixtures": dict(claims)}
    lines = claim_lines("chain rule", results) + claim_lines("need no training", results)
    ratio = _num((claims.get("cost") or {}).get("ratio"))
    if ratio:
        lines.append(f"Counting and the eigenproblem took {claims['cost']['cpu_seconds']:.0f} CPU-seconds; one "
                     f"DoReMi round in the paper took {ratio:,.0f}× more device time (670 GPU-hours).")
    for kind, t in (claims.get("tokenizers") or {}).items():
        table = t.get("mixtures") or {}  # domain -> {natural, se, je, ce, vne}
        columns = {c: {d: row[c] for d, row in table.items()} for c in next(iter(table.values()), {})}
        if "natural" not in columns:
            continue
        nat = spread(columns["natural"])
        measures = [c for c in ("se", "je", "ce", "vne") if c in columns]
        flatter = [c.upper() for c in measures if spread(columns[c]) < nat]
        text = ", ".join(f"{c.upper()} {spread(columns[c]):.1f}" for c in measures)
        lines.append(f"**{kind}**: the natural mixture's largest/smallest share is {nat:.1f}; the entropy "
                     f"mixtures' {text}: "
                     + (f"all four are flatter than natural, as on the Pile (Baseline 42.8)." if len(flatter) == len(measures)
                        else f"flatter than natural: {', '.join(flatter) or 'none'} — unlike the Pile, whose "
                             f"Baseline (42.8) is more uneven than all four.")
                     + (f" Our own chain-rule gap: {t['chain_rule_gap']:.1e}." if _num(t.get("chain_rule_gap")) is not None else ""))
    return box("entropy mixtures (Tables 4/5)", lines)


# ------------------------------------------------------------------------------------ 04 pretraining
def pretraining(claims: Mapping[str, Any]) -> str:
    results = {"04_proxy_pretraining": dict(claims)}
    lines = claim_lines("beat the Baseline on average log-perplexity", results)
    for label, name in (("against the corpus's own natural", "natural"), ("against the uniform", "uniform")):
        v = next(c for c in report.CLAIMS if label in c.label).measure(results).verdict
        if v.outcome != verdicts.NOT_MEASURED:
            lines.append(f"The same claim against the **{name}** mixture (beyond the paper): **{v.outcome}** "
                         f"({v.measured}).")
    lines += claim_lines("CE is the best", results)
    finals = {m: _num(v) for m, v in (claims.get("final_average_loss") or {}).items()}
    finals = {m: v for m, v in finals.items() if v is not None}
    if finals:
        best = min(finals, key=finals.get)
        entropy = [m for m in ("se", "ce", "je", "vne") if m in finals]
        lines.append(f"Lowest final average loss of the {len(finals)} mixtures (mean over seeds): **{best}** "
                     f"({finals[best]:.3f} nats)"
                     + ("; an entropy mixture." if best in entropy else
                        f"; not an entropy mixture (best of those: {min(entropy, key=finals.get)}, "
                        f"{min(finals[m] for m in entropy):.3f} nats)." if entropy else "."))
    return box("entropy mixtures in training (Fig. 5)", lines)


# ---------------------------------------------------------------------------------------- 05 fit law
def zero_floors(coefficients: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Domains whose fitted floor C is 0 (on its bound)."""
    return [d for d, c in coefficients.items() if _num(c.get("C")) is not None and _num(c.get("C")) <= ZERO_FLOOR]


def lomo_ranking(lomo: Mapping[str, Mapping[str, Any]], key: str = "spearman_final") -> list[tuple[str, float]]:
    """Laws by their leave-one-mixture-out score, best first (laws without one left out)."""
    scores = [(f, _num(s.get(key))) for f, s in lomo.items()]
    return sorted([(f, v) for f, v in scores if v is not None], key=lambda x: -x[1])


def worst_domains(per_domain: list[Mapping[str, Any]]) -> dict[str, tuple[str, float]]:
    """Held-out mixture -> (its domain with the lowest R² on log loss, that R²)."""
    out: dict[str, tuple[str, float]] = {}
    for row in per_domain or []:
        r2 = _num(row.get("r2_log"))
        if r2 is not None and (row["mixture"] not in out or r2 < out[row["mixture"]][1]):
            out[row["mixture"]] = (row["domain"], r2)
    return out


def against_carry_forward(ext, ext_long, gap: float, gap_long: float) -> str:
    """Table 1 beside carrying the last fitted loss forward, at the paper's distance (``ext``, held-out
    step ``gap``× the last fitted) and further ahead (``ext_long``): :class:`bimix.law.protocols.Extrapolation`."""
    return (
        f"**Against a naive predictor.** At the paper's distance ({gap:.3f}×), carrying the last fitted loss forward "
        f"misses the held-out step by {100 * ext.mre_mean_carry_forward:.2f} % on average; the law misses it by "
        f"{100 * ext.mre_mean:.2f} %, a skill of {ext.skill_carry_forward:.2f} (law error / naive error), so the law "
        + ("extrapolates better than the naive predictor." if ext.skill_carry_forward < 1
           else "does no better than the naive predictor.")
        + f" Predicting {gap_long:.2f}× ahead, the law misses by {100 * ext_long.mre_mean:.2f} % against "
        f"{100 * ext_long.mre_mean_carry_forward:.2f} % for carry-forward (skill {ext_long.skill_carry_forward:.2f}): "
        + ("the law's advantage holds further ahead." if ext_long.skill_carry_forward < 1
           else "further ahead the law loses its advantage."))


def against_null(gen) -> str:
    """Table 2 beside the mixture-blind null (:class:`bimix.law.protocols.Generalisation`)."""
    return (
        f"**Against a mixture-blind null** (each held-out curve predicted as the geometric mean of the fitted "
        f"mixtures' curves, ignoring the shares): mean R² {gen.r2_log_mean:.3f} for the law against "
        f"{gen.r2_log_mean_null:.3f} for the null (skill (1 − R²_law)/(1 − R²_null) = {gen.skill_r2:.2f}); final-loss "
        f"error {100 * gen.mre_final:.2f} % against {100 * gen.mre_final_null:.2f} % (skill {gen.skill_mre_final:.2f}). "
        + ("The law's knowledge of the shares is worth something here." if gen.skill_r2 < 1 and gen.skill_mre_final < 1
           else "On at least one of the two scores the shares add nothing the null does not already have."))


def versus(x: float, lo_hi: tuple[float, float], higher_is_better: bool, unit: str = "") -> str:
    """Where ``x`` falls against the paper's range ``lo_hi``: within it, better or worse."""
    lo, hi = lo_hi
    if not math.isfinite(x):
        return "not measured"
    if lo <= x <= hi:
        return f"within the paper's {lo:g}–{hi:g}{unit}"
    better = x > hi if higher_is_better else x < lo
    return f"{'better' if better else 'worse'} than the paper's {lo:g}–{hi:g}{unit}"


def against_paper(ext, table2, forms, holdout_last: int) -> str:
    """Tables 1 and 2 beside the paper's ranges, and the law forms by held-out R²: ``ext`` an
    :class:`~bimix.law.protocols.Extrapolation`, ``table2`` one row per held-out mixture, ``forms`` one
    row per law form (:func:`bimix.law.protocols.compare_forms`)."""
    ranked = forms["r2_log_mean"].dropna().sort_values(ascending=False)
    return "\n".join([
        f"- **Table 1** (last {holdout_last} step(s) held out): mean relative error {100 * ext.mre_mean:.2f} % "
        f"({versus(100 * ext.mre_mean, PAPER_T1['mean'], False, ' %')}), worst domain {100 * ext.mre_worst:.2f} % "
        f"({versus(100 * ext.mre_worst, PAPER_T1['worst'], False, ' %')}).",
        *[f"- **Table 2, {mix}**: mean R² {row['r2_log_mean']:.4f} ({versus(row['r2_log_mean'], PAPER_T2['mean'], True)}), "
          f"worst domain {row['r2_log_worst']:.4f} ({versus(row['r2_log_worst'], PAPER_T2['worst'], True)})."
          for mix, row in table2.iterrows()],
        "- **Law forms**, by mean held-out R² on this split: "
        + (", ".join(f"`{form}` {v:.4f}" for form, v in ranked.items()) if len(ranked) else "no form applies") + ".",
    ])


def fit_law(claims: Mapping[str, Any]) -> str:
    results = {"05_fit_law": dict(claims)}
    lines = claim_lines("(Table 1)", results) + claim_lines("(Table 2", results)
    coefficients = claims.get("coefficients") or {}
    zero = zero_floors(coefficients)
    upper_c = [f"{d} {_num(coefficients[d].get('C_hi')):.3f}" for d in zero if _num(coefficients[d].get("C_hi")) is not None]
    if coefficients:
        lines.append(
            f"The floor C is 0 in {len(zero)} of {len(coefficients)} domains ({_list(zero)}"
            + (f"; 95 % bootstrap upper ends {', '.join(upper_c)}" if upper_c else "") + "): there the fit finds no "
            "irreducible loss, so the law lets those losses fall as a pure power of steps without limit, and a long "
            "extrapolation there is the law's guess, not the data's." if zero else
            f"The floor C is above 0 in all {len(coefficients)} domains: every domain's loss levels off in the fit.")
    worst = worst_domains(claims.get("table2_per_domain") or [])
    if worst:
        lines.append("Table 2's worst domain: " + "; ".join(
            f"{m} {d} (R² {r2:.3f}{', a domain with C = 0' if d in zero else ''})" for m, (d, r2) in worst.items()) + ".")
    ranking = lomo_ranking(claims.get("lomo") or {})
    if "bimix" in dict(ranking):
        rank = [f for f, _ in ranking].index("bimix") + 1
        best, best_v = ranking[0]
        lines.append(
            f"Leave one mixture out, over all runs: BiMix orders the mixtures' final losses with Spearman ρ = "
            f"{dict(ranking)['bimix']:.3f}, "
            + (f"the best of the {len(ranking)} laws" if rank == 1 else
               f"rank {rank} of {len(ranking)} laws (best: {best} at {best_v:.3f})")
            + " (" + ", ".join(f"{f} {v:.3f}" for f, v in ranking) + "); choosing a mixture needs this ranking.")
    ratio = _num((claims.get("interaction") or {}).get("ratio_to_seed_noise"))
    if ratio is not None:
        lines.append(f"No-interaction check: at equal share, losses spread {ratio:.1f}× the seed noise across "
                     "mixtures — " + ("the other domains' shares matter, which Eq. 3 leaves out." if ratio > 2 else
                                      "within twice the noise, so Eq. 3's assumption is not contradicted here."))
    return box("the law on our runs (Tables 1 and 2)", lines)


# ----------------------------------------------------------------------------------------- 06 optimum
def natural_vs_interval(apart: list[str], n_domains: int) -> str:
    """Whether the natural mixture lies inside the optimum's bootstrap interval (``apart``: the domains
    where it does not, :func:`bimix.law.optimize.outside_interval`)."""
    return (f"The natural mixture's share lies outside the optimum's 95 % interval for {len(apart)} of "
            f"{n_domains} domains" + (f" ({', '.join(apart)})" if apart else "") + ": by this test the optimum is "
            + ("distinguishable" if apart else "**not** distinguishable") + " from the natural mixture.")


def rival_ratio_sentence(rival_ratio: Mapping[Any, Mapping[str, Any]], speedups: Mapping[str, Mapping[Any, float]]) -> str:
    """Figure 8's ratio in steps, ``ye_opt`` over ``bimix_opt``, per seed
    (:func:`bimix.law.seeds.step_ratios_by_seed`), and each optimum's speed-up over the natural mixture,
    with their 95 % intervals over seeds, beside the paper's."""
    def spread(values):  # mean and 95 % interval over seeds, or why there is none
        iv = verdicts.interval(values)
        return iv.text("{:.2f}", 1, "×") if iv else "never reached"

    bounded = sum(v["bound"] == "at least" for v in rival_ratio.values())
    return ("Steps of `ye_opt` over steps of `bimix_opt` to the natural mixture's final loss: "
            f"**{spread([v['ratio'] for v in rival_ratio.values()])}**"
            + (f", of which {bounded} seed(s) are lower bounds (`ye_opt` never reached it)" if bounded else "")
            + "; the paper's ratio is 2×. Speed-up over the natural mixture: BiMix "
            + f"{spread(list(speedups['bimix_opt'].values()))}, Ye et al. {spread(list(speedups['ye_opt'].values()))}"
            + " (the paper's: 2.5× and 1.25×).")


def gain_lines(gains) -> str:
    """Per reference mixture, the optimum's gain in nats with its interval, the step ratio it is worth on
    the reference's curve, and the verdict (:func:`bimix.law.seeds.gains_over`, one row per reference)."""
    return "\n".join(
        f"- over **{r.reference}**: {r.gain_nats:+.3f} nats [{r.lo:+.3f}, {r.hi:+.3f}] over {r.seeds} seed(s) "
        f"(the reference still falls {r.end_slope:.3f} nats per e-fold at its end, so worth "
        f"{r.step_ratio:.2f}× its steps [{r.step_ratio_lo:.2f}, {r.step_ratio_hi:.2f}]): **{r.outcome}**"
        + (f"; about {r.seeds_needed:.0f} seeds would decide it" if r.outcome == "undecided" and math.isfinite(r.seeds_needed) else "")
        for r in gains.itertuples())


def support_sentence(flags: Mapping[str, Mapping[str, float]]) -> str:
    """The support rule both optima share, and where each leaves its fitted shares
    (``flags``: optimum -> :func:`bimix.law.optimum.outside_fitted_shares`)."""
    return ("**One support rule for both optima**: each share at least the smallest share its law was fitted on, at "
            "most the epoch cap; a share above the largest fitted one is allowed and flagged (the law is extrapolated "
            "there). " + "; ".join(f"`{k}` leaves its fitted shares in {len(v)} domain(s)"
                                   + (f" ({', '.join(f'{d} {r}' for d, r in v.items())})" if v else "")
                                   for k, v in flags.items()) + ".")


def optimum(claims: Mapping[str, Any]) -> str:
    """``claims["fitted_share_range"]``: domain -> (smallest, largest) share in the runs the law was fitted on."""
    results = {"06_optimize_mixture": dict(claims)}
    uniform = next(c for c in report.CLAIMS if "beats the uniform" in c.label).measure(results).verdict
    lines = (claim_lines("reaches the Baseline's final loss early", results)
             + claim_lines("needs half the steps", results)
             + [f"Beyond the paper, the optimum beats the uniform mixture: **{uniform.outcome}** "
                f"({uniform.measured or 'not measured'}, uniform − optimum)."])
    fitted_range = claims.get("fitted_share_range") or {}
    opt = claims.get("optimum") or {}
    weights, at_bound = opt.get("weights") or {}, opt.get("at_bound") or {}
    lower = [d for d, b in at_bound.items() if b == "lower"]
    upper = [d for d, b in at_bound.items() if b == "upper"]
    if weights:
        lines.append(f"The optimum sits at its lower bound (the smallest share it was fitted on) in {len(lower)} of "
                     f"{len(weights)} domains" + (f" ({_list(lower)})" if lower else "")
                     + (f" and at its epoch cap in {_list(upper)}" if upper else "")
                     + (": the law would push those shares lower still if the bounds allowed it." if lower else "."))
    outside = (claims.get("outside_fitted_shares") or {}).get("bimix_opt") or {}
    for d, r in outside.items():
        lo, hi = fitted_range.get(d, (None, None))
        where = f", {r / hi:.1f}× the largest share it was fitted on ({hi:.3f})" if hi and r > hi else \
            f", below the smallest share it was fitted on ({lo:.3f})" if lo and r < lo else ""
        lines.append(f"It gives **{d}** {r:.3f}{where}: the law is extrapolated there.")
    if not outside and weights:
        lines.append("Every share of the optimum lies within the shares the law was fitted on.")
    err = claims.get("prediction_error_final") or {}
    per = {d: _num(v) for d, v in (err.get("per_domain") or {}).items() if _num(v) is not None}
    if per and _num(err.get("mre")) is not None:
        w = max(per, key=per.get)
        lines.append(f"Predicted before it was trained, `bimix_opt`'s final losses miss the measured ones by "
                     f"{100 * err['mre']:.1f} % on average (Table 1's metric), worst in {w} ({100 * per[w]:.1f} %)"
                     + (", the extrapolated domain." if w in outside else
                        "; the extrapolated domain is not the worst." if outside else "."))
    near, sens = opt.get("near_optimal") or {}, opt.get("sensitivity") or {}
    if near:
        widths = {d: v["r_max"] - v["r_min"] for d, v in near.items()}
        d = max(widths, key=widths.get)
        costs = [_num(s.get(k)) for s in sens.values() for k in ("cost_plus", "cost_minus")]
        cost = max((c for c in costs if c is not None), default=None)
        delta = _num(opt.get("near_delta")) or 0.01
        text = (f"Within {delta:g} nats of the optimum's predicted average loss, {d}'s share ranges from "
                f"{near[d]['r_min']:.3f} to {near[d]['r_max']:.3f} ({100 * widths[d]:.0f} points, the widest domain)"
                + (f"; moving 1 % of share into or out of one domain costs at most {cost:.4f} nats" if cost is not None else ""))
        row = next((r for r in claims.get("gain_nats") or [] if r.get("reference") in ("baseline", "natural")), {})
        lo, hi = _num(row.get("lo")), _num(row.get("hi"))
        if lo is not None and hi is not None:
            half = (hi - lo) / 2
            text += (f". {delta:g} nats is below the half-width of the measured gain's 95 % interval ({half:.3f} nats): "
                     "our runs cannot tell these mixtures apart, so at their resolution the objective is flat and "
                     "the optimum is a region, not a point." if delta < half else
                     f". {delta:g} nats is at least the half-width of the measured gain's 95 % interval ({half:.3f} "
                     "nats): our runs can resolve differences of this size, so the region is a real constraint.")
        lines.append(text + ("" if text.endswith(".") else "."))
    iv = claims.get("optimum_interval") or {}
    if iv:
        apart = iv.get("natural_outside") or []
        lines.append(f"The natural mixture lies outside the optimum's 95 % bootstrap interval in {len(apart)} domain(s)"
                     + (f" ({_list(apart)}): the optimum is distinguishable from it." if apart else
                        ": the optimum is not distinguishable from it."))
    finals = {short_name(m): _num(v) for m, v in (claims.get("measured_final_avg_loss") or {}).items()}
    finals = {m: v for m, v in finals.items() if v is not None}
    if "bimix_opt" in finals and len(finals) > 1:
        best = min(finals, key=finals.get)
        lines.append(f"Measured final average loss: `bimix_opt` {finals['bimix_opt']:.4f} nats, "
                     + ("the lowest of the " if best == "bimix_opt" else f"not the lowest (that is {best}, "
                        f"{finals[best]:.4f}) of the ") + f"{len(finals)} mixtures trained here (mean over seeds).")
    return box("the optimised mixture (Fig. 8, §5.3)", lines)


# ------------------------------------------------------------------------------------ 07 public runs
def public_runs(claims: Mapping[str, Any]) -> str:
    rows = ((claims.get("extract") or {}).get("by_size_table")) or []
    lines = [f"**The paper**: Table 1 mean error {PAPER_T1_MEAN[0]}–{PAPER_T1_MEAN[1]} %, Table 2 mean R² at least "
             f"{verdicts.TABLE2_MEAN_MIN} (its own runs); here the same protocols on other people's published runs, "
             "per model size (one number each: no seeds)."]
    groups: dict[tuple[str, str], dict[str, Mapping]] = {}
    for r in rows:
        groups.setdefault((r["table"], r["size"]), {})[r["form"]] = r
    t1_ok, t2_ok, t1_n, t2_n, beats_exp, exp_n, t1_skill, t2_skill = 0, 0, 0, 0, [], 0, 0, 0
    for (table, size), forms in groups.items():
        b = forms.get("bimix") or {}
        t1, t2 = _num(b.get("T1 error %")), _num(b.get("T2 R2"))
        if t1 is not None:
            t1_n += 1
            t1_ok += t1 <= 100 * verdicts.TABLE1_MEAN_MAX
            t1_skill += (_num(b.get("T1 skill (carry-fwd)")) or math.inf) < 1
        if t2 is not None:
            t2_n += 1
            t2_ok += t2 >= verdicts.TABLE2_MEAN_MIN
            t2_skill += (_num(b.get("T2 skill (null)")) or math.inf) < 1
        lb, le = _num(b.get("LOMO R2")), _num((forms.get("exponential") or {}).get("LOMO R2"))
        if lb is not None and le is not None:
            exp_n += 1
            if lb > le:
                beats_exp.append(f"{table} {size}")
    if t1_n:
        lines.append(f"**Table 1 on public runs**: BiMix's mean error is at or below {100 * verdicts.TABLE1_MEAN_MAX:.1f} % "
                     f"(this compendium's threshold) in {t1_ok} of {t1_n} table-sizes, and beats carrying the last "
                     f"fitted loss forward in {t1_skill} of {t1_n}.")
    if t2_n:
        lines.append(f"**Table 2 on public runs**: mean R² at or above the paper's lowest ({verdicts.TABLE2_MEAN_MIN}) in "
                     f"{t2_ok} of {t2_n} table-sizes; better than the mixture-blind null in {t2_skill} of {t2_n}.")
    if exp_n:
        lines.append(f"Leave one mixture out, BiMix's R² is above Ye et al.'s exponential law in {len(beats_exp)} of "
                     f"{exp_n} table-sizes" + (f" ({_list(beats_exp)})" if beats_exp else "")
                     + (": the exponential law, which sees the whole mixture, predicts the public runs better."
                        if len(beats_exp) < exp_n / 2 else "."))
    spj = (claims.get("extract") or {}).get("slimpajama_claims") or {}
    for key, what in (("claim3", "claim 3 (entropy mixtures below the Baseline)"), ("claim4", "claim 4 (CE lowest)")):
        by_outcome: dict[str, list[str]] = {}
        for size in sorted(spj, key=_size):
            by_outcome.setdefault(str(spj[size].get(key)), []).append(size)
        if by_outcome:
            lines.append(f"The paper's SlimPajama mixtures predicted on Apple's runs, {what}: " + "; ".join(
                f"**{o}** at {len(sizes)} of {len(spj)} sizes ({_list(sizes)})" for o, sizes in by_outcome.items()) + ".")
    if len(lines) == 1:
        lines.append("No public table was available to this run.")
    return box("the law on published runs", lines)


def regmix_sentence(law_table, published: tuple[float, float]) -> str:
    """The RegMix benchmark (:func:`bimix.law.benchmark.benchmark_table`, one row per model) in words:
    Spearman on the held-out 1M mixtures against RegMix's published range, and the rank transfer."""
    lo, hi = published
    rho = law_table["spearman 1M"].dropna()
    return (f"On the 1M test mixtures the mean Spearman correlation is "
            + ", ".join(f"{m} {v:.3f}" for m, v in rho.items())
            + f" (RegMix reports {lo}–{hi} for LightGBM); the best is **{rho.idxmax()}**. "
            f"The share law can score {law_table.loc['share', 'scored 1M']:.0%} of the (run, domain) pairs; on those runs "
            + ", ".join(f"{m} {v:.3f}" for m, v in law_table["spearman 1M, r>0 runs"].dropna().items()) + ". "
            f"Rank transfer to 60M: " + ", ".join(f"{m} {v:.3f}" for m, v in law_table["spearman 60M"].dropna().items())
            + "; to 1B: " + ", ".join(f"{m} {v:.3f}" for m, v in law_table["spearman 1B"].dropna().items()) + ".")


def _pct(x) -> str:
    return "n/a" if _num(x) is None else f"{x:.3f} %"


def _f(x, d: int = 3) -> str:
    return "n/a" if _num(x) is None else f"{x:.{d}f}"


def by_size_sentences(size_table) -> list[str]:
    """One paragraph per public table of the by-size table (:func:`bimix.law.public_by_size.size_rows`):
    BiMix's Table 1, Table 2 and leave-one-out scores per size, and the best Table 2 form per size."""
    if size_table is None:
        return []
    out = []
    for name in dict.fromkeys(size_table.index.get_level_values("table")):
        b = size_table.loc[name].xs("bimix", level="form")
        parts = [f"{size}: Table 1 {_pct(r['T1 error %'])} (carry-forward skill {_f(r['T1 skill (carry-fwd)'], 2)}), "
                 f"Table 2 R² {_f(r['T2 R2'])} (null skill {_f(r['T2 skill (null)'], 2)}), "
                 f"leave-one-out R² {_f(r['LOMO R2'])}" for size, r in b.iterrows()]
        rivals = size_table.loc[name]
        best = {size: g.droplevel("size")["T2 R2"].astype(float).idxmax() for size, g in rivals.groupby(level="size", sort=False)
                if g["T2 R2"].notna().any()}
        out.append(f"**{name}**, BiMix per size — " + "; ".join(parts) + "."
                   + (" Best Table 2 form per size: " + ", ".join(f"{s} {f}" for s, f in best.items()) + "."
                      if best else ""))
    return out


def slimpajama_sentences(spj, spj_claims: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One paragraph per size of the paper's SlimPajama mixtures predicted on Apple's runs
    (:func:`bimix.law.public_by_size.slimpajama_by_size`): each entropy mixture minus the Baseline with its
    interval, DoReMi and uniform beside them, and the readings of claims 3 and 4."""
    if spj is None:
        return []
    out = []
    for size, c in spj_claims.items():
        e = c["entropy_minus_baseline"]
        g = spj[(spj["size"] == size)].set_index("mixture")
        out.append(
            f"**{size}**: predicted minus Baseline " + ", ".join(
                f"{m.upper()} {g.loc[m, 'diff']:+.3f} [{g.loc[m, 'diff_lo']:+.3f}, {g.loc[m, 'diff_hi']:+.3f}]" for m in e)
            + f" nats; DoReMi {g.loc['doremi', 'diff']:+.3f}, uniform {g.loc['uniform', 'diff']:+.3f}. "
            f"Claim 3 {c['claim3']}; claim 4 {c['claim4']} (lowest entropy mixture: {c['best_entropy'].upper()}; CE minus "
            + ", ".join(f"{m.upper()} {v['diff']:+.4f} [{v['lo']:+.4f}, {v['hi']:+.4f}]" for m, v in c["ce_minus"].items())
            + ").")
    return out


def _size(label: str) -> float:
    """'122M' -> 122e6, '1B' -> 1e9 (sorts model sizes; unknown labels last)."""
    m = re.fullmatch(r"([\d.]+)\s*([KMB]?)", str(label))
    return float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)] if m else math.inf


# ---------------------------------------------------------------------------------------- 08 regimes
def regimes(claims: Mapping[str, Any]) -> str:
    table = claims.get("regimes") or {}
    lines = [f"**The paper**: Table 1 mean error {PAPER_T1_MEAN[0]}–{PAPER_T1_MEAN[1]} %, Table 2 mean R² "
             f"0.974–0.995; which of our proxy regimes get there (one seed per regime unless stated)."]
    t1 = {k: _num(v.get("table1_mean_last1")) for k, v in table.items()}
    t1 = {k: v for k, v in t1.items() if v is not None}
    if t1:
        ok = [k for k, v in t1.items() if v <= verdicts.TABLE1_MEAN_MAX]
        best = min(t1, key=t1.get)
        lines.append(f"Table 1 (last step): {len(ok)} of {len(t1)} regimes at or below "
                     f"{100 * verdicts.TABLE1_MEAN_MAX:.1f} % mean error"
                     + (f" ({_list(f'`{k}`' for k in ok)})" if ok else "")
                     + f"; best `{best}` at {100 * t1[best]:.2f} %.")
    t2 = {k: _num(v.get("table2_baseline_mean")) for k, v in table.items()}
    t2 = {k: v for k, v in t2.items() if v is not None}
    if t2:
        ok = [k for k, v in t2.items() if v >= verdicts.TABLE2_MEAN_MIN]
        best = max(t2, key=t2.get)
        lines.append(f"Table 2 (Baseline): {len(ok)} of {len(t2)} regimes reach the paper's lowest mean R² "
                     f"({verdicts.TABLE2_MEAN_MIN})" + (f" ({_list(f'`{k}`' for k in ok)})" if ok else "")
                     + f"; best `{best}` at {t2[best]:.3f}.")
    eta = claims.get("doremi_eta") or []
    if eta:
        calm = min(eta, key=lambda r: r["weight_std_max"])
        lines.append(f"DoReMi's step size: the averaged weights vary least over seeds at η = {calm['eta']:g} "
                     f"(largest per-domain sd {calm['weight_std_max']:.3f}).")
    return box("proxy regimes", lines)


# ------------------------------------------------------------------------------------- 09 downstream
def downstream(claims: Mapping[str, Any], final_loss: Mapping[str, float] | None = None) -> str:
    """``final_loss``: mixture -> final average validation loss (mean over seeds), from the run table."""
    lines = ["**The paper** (Fig. 4, 1B models): the BiMix-optimised mixture compared on one-shot exact match "
             "with Baseline, DoReMi, RegMix and DoGE; it prints no number we can test against, so this is a "
             "comparison, not a verdict."]
    scores = {short_name(m): _num(v) for m, v in (claims.get("final_average") or {}).items()}
    se = {short_name(m): _num(v) for m, v in (claims.get("final_stderr") or {}).items()}
    scores = {m: v for m, v in scores.items() if v is not None}
    if not scores:
        return box("downstream scores", lines + ["No downstream score here: " + (claims.get("note") or "none") + "."])
    ranked = sorted(scores, key=lambda m: -scores[m])
    best = ranked[0]
    lines.append(f"Highest final average score: **{best}** ({scores[best]:.3f}) of {len(scores)} mixtures, "
                 f"{len(claims.get('tasks') or [])} tasks.")
    if "bimix_opt" in scores:
        b = scores["bimix_opt"]
        rank = ranked.index("bimix_opt") + 1
        ahead = [m for m in ranked if scores[m] - b > 2 * math.hypot(se.get(m) or 0, se.get("bimix_opt") or 0)]
        behind = [m for m in ranked if b - scores[m] > 2 * math.hypot(se.get(m) or 0, se.get("bimix_opt") or 0)]
        lines.append(f"`bimix_opt` scores {b:.3f}, rank {rank} of {len(scores)}; beyond twice the combined standard "
                     f"error, {len(ahead)} mixture(s) score higher" + (f" ({_list(ahead)})" if ahead else "")
                     + f" and {len(behind)} lower" + (f" ({_list(behind)})" if behind else "")
                     + (": no downstream lead." if rank > 1 else
                        ": a downstream lead beyond the noise." if len(behind) == len(scores) - 1 else
                        ": the highest score, but within the noise of the next."))
    losses = {short_name(m): _num(v) for m, v in (final_loss or {}).items()}
    losses = {m: v for m, v in losses.items() if v is not None and m in scores}
    if len(losses) > 1:
        low = min(losses, key=losses.get)
        same = low == best
        lines.append(f"Lowest final validation loss: **{low}** ({losses[low]:.3f} nats); "
                     + ("it also scores highest downstream." if same else
                        f"it scores {scores[low]:.3f} downstream, rank {ranked.index(low) + 1}: a lower loss did not "
                        "buy a better downstream score here."))
    return box("downstream scores (Figs. 4, 6–7)", lines)
