"""The paper-vs-compendium report and the README's figure gallery, generated from notebook results.

Each claim of the paper (docs/paper.md#published-numbers) is set beside what our notebooks measured, per profile, with a verdict decided
by a declared rule of :mod:`bimix.law.verdicts` (agrees, disagrees, inconclusive) — whichever way it goes.
Inputs are the JSON files the notebooks write (``build/<profile>/results/<notebook>.json``) and, for
notebooks not executed this time, their committed extracts in ``data/results/<profile>/``; nothing here
trains or fits.

The committed report (``figures/paper_vs_compendium.md``), the README's blocks and the extracts are
written only for the profiles the committed report holds (:data:`COMMITTED_PROFILES`). A report of
any other set of profiles goes to ``build/report/<profiles>/`` (or ``--out``) and leaves every
committed file, and ``data/results/``, as it was.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bimix.compendium import outputs
from bimix.files import read_json
from bimix.law import verdicts
from bimix.paths import BUILD_DIR, FIGURES_DIR, REPO_ROOT

ENTROPY_MIXTURES = ("se", "ce", "je", "vne")
SCALE = {
    "cpu": "2-layer, d=64 GPT-NeoX proxies (0.17M parameters), 1.2M tokens per run (~7 per parameter), "
           "constant learning rate after warm-up, 6-domain mini-pile, BPE 1,024, 5 paired seeds",
    "gpu": "6-layer, d=384 proxies on one GPU, mini-pile, BPE 16,384",
    "paper": "124M proxies, 100B tokens per run, the Pile / SlimPajama, GPT-NeoX tokenizer",
}

# paper label -> (figure stem, notebook, what it shows); a row appears only if its PNG exists
GALLERY: tuple[tuple[str, str, str, str], ...] = (
    ("Fig. 1", "fig1_loss_vs_steps", "05_fit_law",
     "two domains' validation loss against steps (log-log), every seed, coloured by the domain's share; the "
     "law fitted on SE, CE, JE, VNE drawn over its fitted runs (filled, dotted), over the held-out Baseline, "
     "DoReMi, skewed and uniform runs (hollow, dashed) and over the runs it never used, the diverse mixtures "
     "and both optima (crosses, dash-dotted); the colour bar hatches shares beyond the fitted ones"),
    ("Fig. 2", "fig2_loss_vs_share", "05_fit_law",
     "two domains' loss against their share at four steps (log-log) with the law's parallel lines; the grey "
     "band is the range of shares the fit saw, so a line beyond it is extrapolated; runs marked fitted, "
     "held out or not fitted as in Fig. 1"),
    ("Fig. 3 / Table 2", "fig3_predicted_vs_observed", "05_fit_law",
     "predicted against observed loss of the held-out mixtures (Baseline, DoReMi, skewed, uniform) at every "
     "step, coloured by domain, one marker shape per mixture, final steps ringed; y = x dashed"),
    ("Fig. 5", "avg_logppl_vs_steps", "04_proxy_pretraining",
     "average log-perplexity against steps for the paper's mixtures (mean of 5 seeds, min–max band) and, "
     "below, each minus the natural mixture paired by seed: differences of hundredths of a nat read directly"),
    ("Fig. 1 (raw)", "loss_vs_steps_by_share", "04_proxy_pretraining",
     "measured loss curves of two domains, every run, coloured by the domain's share, a thin line through "
     "the mean over seeds; no law drawn"),
    ("Fig. 2 (raw)", "loss_vs_share_by_step", "04_proxy_pretraining",
     "measured loss against share for two domains at every evaluation step (colour bar: step); no law drawn"),
    ("Fig. 8", "fig8_optimised_vs_baselines", "06_optimize_mixture",
     "average log-perplexity of the BiMix optimum, Ye et al.'s optimum, natural, DoReMi, CE and uniform "
     "(5 seeds, min–max bands), where each first reaches natural's final loss, and below, each minus natural "
     "paired by seed"),
    ("§5.3", "optimum_mixture", "06_optimize_mixture",
     "the optimised shares (black) with their 95 % bootstrap interval (error bars), the bounds they touch, "
     "and beside each bar the range of shares in the fitted runs (grey bracket; 'beyond fitted' where the "
     "optimum leaves it, as math does), next to the compared mixtures"),
    ("§5.3", "bimix_opt_predicted_vs_measured", "06_optimize_mixture",
     "the law's prediction for the optimised run, written before it was trained, against its measured loss "
     "per domain and step; a domain whose optimal share lies beyond the fitted shares is hollow, its share "
     "and fitted range in the legend"),
    ("Tables 4/5", "entropy_mixtures", "02_entropy_mixtures",
     "the four entropy mixtures (SE, JE, CE, VNE) beside the natural mixture, per tokenizer"),
    ("Eq. 13 (unstated base)", "entropy_temperature", "02_entropy_mixtures",
     "how the CE mixture's shares move with the softmax temperature τ (τ = ln of the log base)"),
    ("DoReMi", "doremi_weights", "03_doremi",
     "the DoReMi proxy's domain weights over its steps (dashed: the average, the mixture it outputs) and "
     "that mixture beside the natural and entropy mixtures"),
    ("DoReMi (beyond)", "doremi_eta_trajectories", "08_proxy_regime",
     "DoReMi's domain weights over training for each step size η of the study (seed 0), domains in their "
     "shared colours"),
    ("beyond", "fig_lomo_heldout", "05_fit_law",
     "leave one mixture out: for every mixture held out and every law form, 1 − R² of the held-out log "
     "loss (log scale, lower is better), dots per form"),
    ("beyond", "fig_interaction_spread", "05_fit_law",
     "the no-interaction check per domain: spread of the share-adjusted loss across mixtures beside the "
     "seed-to-seed spread and the law's held-out error, all as std of log loss"),
    ("beyond", "fig_public_runs_lomo", "07_public_runs",
     "the law on published run tables, each mixture held out once: predicted against observed loss, "
     "coloured by domain"),
    ("beyond", "fig_law_benchmark", "07_public_runs",
     "share law, exponential law and LightGBM on RegMix's 256 held-out 1M-parameter runs, each fitted on the "
     "512 train runs"),
    ("Fig. 4", "downstream_average", "09_downstream",
     "one-shot score of each mixture's final checkpoint averaged over the 12 local tasks, as a dot chart "
     "(best at the top, ±1 standard error), one colour per mixture never repeated"),
    ("Figs. 6–7", "downstream_tasks", "09_downstream",
     "the same per task, one panel per task, mixtures in Fig. 4's order and colours; dotted: chance for "
     "multiple choice"),
    ("beyond", "claims_vs_compute", "11_claims_vs_scale",
     "Table 1's error, Table 2's R² and claim 3 (entropy mixtures minus Baseline) against training compute "
     "6·N·D: the CPU rung (t intervals over seeds), Apple's SlimPajama ladder 122M–2.7B, the paper's range at "
     "its own compute"),
    ("beyond", "entropy_exponents", "10_entropy_exponents",
     "each domain's fitted exponents α (share) and β (steps) against its entropies SE and CE (log-shares of "
     "the entropy mixtures), centred per seed or model size, for our sweep, Apple's SlimPajama ladder and "
     "Data Mixing Laws 3Mix; titles: the pooled within-set r with its domain-resampled 95 % interval"),
    ("setup (data)", "corpus_domains", "01_build_corpus",
     "tokens per domain and bytes per token per domain, for each tokenizer"),
    ("teaching", "fig1_loss_vs_steps_synthetic", "00_law_in_five_minutes",
     "Fig. 1 on synthetic runs from known coefficients: every run fitted (filled, dotted law)"),
    ("teaching", "fig2_loss_vs_share_synthetic", "00_law_in_five_minutes",
     "Fig. 2 on synthetic runs: loss against share at four steps with the fitted law's parallel lines"),
    ("teaching", "fig3_pred_vs_obs_synthetic", "00_law_in_five_minutes",
     "Fig. 3 on synthetic runs: mix4 and mix5 predicted by a fit on mix0–mix3"),
)

# figure stem -> (the functions of bimix.compendium.plots that draw it, what it does not show). The
# notebook cell is found from the figure's name (:func:`figure_section`). A figure drawn in its notebook
# with pandas/matplotlib names no function.
GALLERY_NOTES: dict[str, tuple[tuple[str, ...], str]] = {
    "fig1_loss_vs_steps": (("plot_figures_1_2", "plot_loss_vs_steps"),
                           "the other four domains; the seed spread as such (points are single seeds)"),
    "fig2_loss_vs_share": (("plot_figures_1_2", "plot_loss_vs_share"),
                           "the 16 other evaluation steps; whether the slope −α holds beyond the grey band"),
    "fig3_predicted_vs_observed": (("plot_predicted_vs_observed",),
                                   "the fitted mixtures; errors per seed (points of all seeds overlap)"),
    "avg_logppl_vs_steps": (("plot_curves_and_differences", "plot_curves_with_bands", "plot_differences"),
                            "per-domain losses; the diverse mixtures and optima except as grey lines"),
    "loss_vs_steps_by_share": (("plot_loss_vs_steps",), "any fitted law; the other four domains"),
    "loss_vs_share_by_step": (("plot_loss_vs_share",), "any fitted law; the other four domains"),
    "fig8_optimised_vs_baselines": (("plot_curves_and_differences", "plot_curves_with_bands", "plot_differences"),
                                    "the step ratios of claims 5-6 (computed in the notebook, not drawn); "
                                    "per-domain losses"),
    "optimum_mixture": (("plot_optimum",), "the predicted loss at the optimum, or how flat the objective is "
                        "around it"),
    "bimix_opt_predicted_vs_measured": (("plot_predicted_vs_observed",),
                                        "the other seeds' spread (the measured loss is their mean)"),
    "entropy_mixtures": ((), "any training result: the mixtures only"),
    "entropy_temperature": ((), "the other entropy measures' mixtures (CE only)"),
    "doremi_weights": ((), "how the weights vary across proxy seeds (notebook 08)"),
    "doremi_eta_trajectories": (("plot_weight_trajectory",), "seeds other than 0"),
    "fig_lomo_heldout": (("plot_heldout_scores",), "how well each form ranks the mixtures (Spearman ρ, in the "
                         "notebook's table); per-domain scores"),
    "fig_interaction_spread": (("plot_spread_vs_noise",), "which mixtures differ at equal share"),
    "fig_public_runs_lomo": (("plot_predicted_vs_observed",), "the other law forms' predictions"),
    "fig_law_benchmark": ((), "the bimix form, which needs steps the RegMix runs do not have"),
    "downstream_average": (("plot_downstream",), "scores over training (final checkpoints only on cpu); the "
                           "paper's tasks (local tasks on cpu)"),
    "downstream_tasks": (("plot_downstream",), "scores over training (final checkpoints only on cpu)"),
    "claims_vs_compute": (("plot_claims_vs_compute",), "the other claims; the public Table 1 at the paper's "
                          "1.05x (its grid allows 1.11x only); Table 2 at 2.7B (4 mixtures, too few to split)"),
    "entropy_exponents": (("plot_entropy_exponents",), "the sets' levels (centred away), the per-table "
                          "correlations (in the notebook's table), or any cause: entropy and exponent may "
                          "both follow a third property of a domain"),
    "corpus_domains": (("plot_corpus_domains", "plot_domain_tokens", "plot_bytes_per_token"),
                       "the token share each mixture gives a domain (notebook 02)"),
    "fig1_loss_vs_steps_synthetic": (("plot_loss_vs_steps",), "held-out or extrapolated runs (none here)"),
    "fig2_loss_vs_share_synthetic": (("plot_loss_vs_share",), "the 16 other steps; the true coefficients"),
    "fig3_pred_vs_obs_synthetic": (("plot_predicted_vs_observed",), "the fitted mixtures"),
}


def figure_section(notebook: str, stem: str, root: Path = REPO_ROOT) -> str | None:
    """The heading of the notebook section whose code cell saves figure ``stem`` (``save_figure`` or
    the notebook's ``out.figure``), or None."""
    import json

    cells = json.loads((Path(root) / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    heading = None
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heads = [line.lstrip("#").strip() for line in text.splitlines() if re.match(r"#{1,3} ", line)]
            heading = heads[-1] if heads else heading
        elif re.search(r"save_figure|\.figure\(", text) and re.search(rf"[\"']{re.escape(stem)}[\"'{{]", text):
            return heading
    return None


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _num(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Measured:
    """One claim measured on one profile: the verdict, and beside it the skill against a naive
    predictor and the paired seeds the verdict would need (empty where they do not apply)."""

    verdict: verdicts.Verdict
    skill: str = ""
    seeds_needed: str = ""


@dataclass(frozen=True)
class Claim:
    label: str  # the paper's claim
    paper: str  # the paper's number
    protocol: str  # whether our protocol matches the paper's, and where it does not
    compared_with: str  # the baseline or naive predictor the claim is judged against
    measure: Callable[[dict[str, dict]], Measured]  # results -> verdict (rule in bimix.law.verdicts)


def _finals_by_seed(r) -> dict[str, dict[str, float]]:
    """{mixture: {seed: final average loss}} from notebook 04 (older results: one unnamed seed)."""
    by_seed = _get(r, "04_proxy_pretraining", "final_average_by_seed")
    if isinstance(by_seed, dict) and by_seed:
        return {m: {str(k): v for k, v in seeds.items() if _num(v) is not None} for m, seeds in by_seed.items()}
    final = _get(r, "04_proxy_pretraining", "final_average_loss") or {}
    return {m: {"0": v} for m, v in final.items() if _num(v) is not None}


def _paired(finals: dict[str, dict[str, float]], m: str, ref: str) -> list[float]:
    return [finals[m][s] - finals[ref][s] for s in finals.get(m, {}) if s in finals.get(ref, {})]


def _baseline(finals: dict) -> str | None:
    return next((k for k in ("baseline", "natural") if k in finals), None)


def _needed(values, threshold: float = 0.0) -> str:
    n = verdicts.seeds_to_decide(values, threshold)
    return "" if math.isnan(n) else "never (no difference)" if math.isinf(n) else f"{n:.0f}"


def _needed_each(parts: dict[str, list[float]], threshold: float = 0.0) -> str:
    texts = [f"{m} {t}" for m, t in ((m, _needed(v, threshold)) for m, v in parts.items()) if t]
    return ", ".join(texts)


def _skill_text(skills: list[float], naive: str) -> str:
    v = verdicts.skill_rule(skills, naive)
    if v.outcome == verdicts.NOT_MEASURED:
        return ""
    word = {verdicts.AGREES: f"beats {naive}", verdicts.DISAGREES: f"worse than {naive}",
            verdicts.INCONCLUSIVE: f"not distinguishable from {naive}"}[v.outcome]
    return f"{v.measured.removeprefix('skill ')}: {word}"


def _table1(key: str) -> Callable[[dict], Measured]:
    def measure(r) -> Measured:
        per_seed = _get(r, "05_fit_law", key)
        if isinstance(per_seed, dict) and per_seed:
            values = [_num(_get(v, "mre_mean")) for v in per_seed.values()]
            skills = [_num(_get(v, "skill_carry_forward")) for v in per_seed.values()]
            gaps = [_num(_get(v, "gap")) for v in per_seed.values()]
        elif key == "table1_by_seed":
            values, skills, gaps = [_num(_get(r, "05_fit_law", "table1_all", "mre_mean"))], [], []
        else:
            return Measured(verdicts.Verdict(verdicts.NOT_MEASURED, verdicts.table1_rule([]).rule))
        values = [v for v in values if v is not None]
        verdict = verdicts.table1_rule(values)
        gaps = [g for g in gaps if g is not None]
        if gaps and verdict.measured:
            verdict = verdicts.Verdict(verdict.outcome, verdict.rule,
                                       f"{verdict.measured}, held-out step {max(gaps):.2f}× the last fitted",
                                       verdict.kind)
        return Measured(verdict, _skill_text([x for x in skills if x is not None], "carry-forward"),
                        _needed(values, verdicts.TABLE1_MEAN_MAX))
    return measure


def _table2(mixtures: tuple[str, ...]) -> Callable[[dict], Measured]:
    def measure(r) -> Measured:
        per_seed = _get(r, "05_fit_law", "table2_by_seed")
        series: dict[str, dict[str, list[float]]] = {}
        skills: dict[str, list[float]] = {}
        if isinstance(per_seed, dict) and per_seed:
            for seed in sorted(per_seed):
                for m, v in per_seed[seed].items():
                    if m not in mixtures:
                        continue
                    series.setdefault(m, {"mean": [], "worst": []})
                    series[m]["mean"].append(_num(v.get("mean")))
                    series[m]["worst"].append(_num(v.get("worst")))
                    skills.setdefault(m, []).append(_num(v.get("skill_r2")))
        else:
            for m, row in (_get(r, "05_fit_law", "table2") or {}).items():
                if m in mixtures:
                    series[m] = {"mean": [_num(_get(row, "r2_log_mean"))], "worst": [_num(_get(row, "r2_log_worst"))]}
        series = {m: {k: [x for x in v if x is not None] for k, v in d.items()} for m, d in series.items()}
        if not any(d["mean"] for d in series.values()):
            return Measured(verdicts.Verdict(verdicts.NOT_MEASURED, verdicts.table2_rule({}).rule))
        skill = "; ".join(f"{m}: {t}" for m, t in ((m, _skill_text([x for x in v if x is not None], "the null"))
                                                   for m, v in skills.items()) if t)
        return Measured(verdicts.table2_rule(series), skill,
                        _needed_each({m: d["mean"] for m, d in series.items()}, verdicts.TABLE2_MEAN_MIN))
    return measure


def _entropy_beats(reference: str) -> Callable[[dict], Measured]:
    def measure(r) -> Measured:
        finals = _finals_by_seed(r)
        ref = _baseline(finals) if reference == "baseline" else reference if reference in finals else None
        diffs = {m: _paired(finals, m, ref) for m in ENTROPY_MIXTURES if ref and m in finals}
        if not diffs:
            return Measured(verdicts.Verdict(verdicts.NOT_MEASURED, verdicts.paired_below({}, reference).rule))
        return Measured(verdicts.paired_below(diffs, ref), "", _needed_each(diffs))
    return measure


def _ce_best(r) -> Measured:
    finals = _finals_by_seed(r)
    others = [m for m in ENTROPY_MIXTURES if m != "ce" and m in finals]
    if "ce" not in finals or not others:
        return Measured(verdicts.Verdict(verdicts.NOT_MEASURED, verdicts.best_of({}, "ce").rule))
    diffs = {f"ce − {m}": [-x for x in _paired(finals, m, "ce")] for m in others}
    return Measured(verdicts.best_of(diffs, "ce"), "", _needed_each({k[5:]: v for k, v in diffs.items()}))


def _gain(reference: str, paper: float | None) -> Callable[[dict], Measured]:
    """Claims 5-6 in nats (notebook 06's gains_over rows); ``paper`` None: a direction claim."""
    def measure(r) -> Measured:
        rows = _get(r, "06_optimize_mixture", "gain_nats")
        ref = "baseline" if reference == "natural" else reference
        row = next((x for x in rows if x.get("reference") in ({ref, reference})), None) \
            if isinstance(rows, list) else None
        gains = [v for v in (_num(x) for x in (row or {}).get("values", [])) if v is not None]
        if paper is None:
            verdict = verdicts.paired_above_zero(gains, f"{reference} − optimum")
            return Measured(verdict, "", _needed(gains) if gains else "")
        slope = _num((row or {}).get("end_slope"))
        verdict = verdicts.gain_rule(gains, slope if slope is not None else math.nan, paper, reference)
        needed = _needed(gains, slope * math.log(paper / verdicts.SPEEDUP_TOLERANCE)) if gains and slope else ""
        return Measured(verdict, "", needed)
    return measure


def _chain_rule(r) -> Measured:
    gap = _get(r, "02_entropy_mixtures", "paper_chain_rule_gap")
    if isinstance(gap, dict):
        values = [v for v in (_num(v) for v in gap.values()) if v is not None]
        gap = max(values) if values else None
    return Measured(verdicts.chain_rule_rule(_num(gap)))


def _cost(r) -> Measured:
    cost = _get(r, "02_entropy_mixtures", "cost") or {}
    if "cpu_seconds_at_most" in cost:  # a committed extract: the bound of the measured duration's bucket
        return Measured(verdicts.cost_rule(_num(cost["cpu_seconds_at_most"]), at_most=True))
    seconds = _num(cost.get("cpu_seconds"))
    return Measured(verdicts.cost_rule(_bucket(seconds) if seconds is not None else None, at_most=True))


MATCHED_T1 = "matched: 20 evaluations every 1/20 of the run, the last held out (the paper: every 10k of 200k steps)"
PROXY = "proxy scale, schedule and corpus differ (docs/paper.md)"
CLAIMS: tuple[Claim, ...] = (
    Claim("Step extrapolation of the final loss is accurate (Table 1)",
          "mean 0.16–0.19 %, worst 0.24–0.95 %", MATCHED_T1, "carry-forward (the last fitted loss)",
          _table1("table1_by_seed")),
    Claim("… predicting further ahead (beyond the paper)", "—",
          "not the paper's: the fit ends at least 1.2× before the held-out last step",
          "carry-forward (the last fitted loss)", _table1("table1_long_by_seed")),
    Claim("The law predicts unseen mixtures at every step (Table 2, R² on log loss)",
          "mean R² 0.974–0.995 (worst 0.79–0.99)",
          "matched: fit on SE, CE, JE, VNE, predict Baseline and DoReMi at every evaluation",
          "mixture-blind null (geometric mean of the fitted curves)", _table2(("baseline", "doremi"))),
    Claim("… on the skewed and uniform baselines (beyond the paper)", "—",
          "as above, two further held-out mixtures", "mixture-blind null", _table2(("skewed", "uniform"))),
    Claim("Entropy mixtures beat the Baseline on average log-perplexity (Fig. 5)",
          "all four below Baseline", "the paper's kind of Baseline: skewed (largest/smallest share 42.8×, "
          "as the Pile Baseline)", "skewed natural baseline", _entropy_beats("skewed")),
    Claim("… against the corpus's own natural mixture", "—", "not the paper's Baseline: ours is nearly flat",
          "natural mixture", _entropy_beats("baseline")),
    Claim("… against the uniform mixture (the paper never tested it)", "—", "beyond the paper",
          "uniform mixture", _entropy_beats("uniform")),
    Claim("CE is the best entropy proxy (Fig. 5)", "CE lowest", "matched (the four measures, equal-N VNE)",
          "the other three entropy mixtures", _ce_best),
    Claim("The BiMix-optimised mixture reaches the Baseline's final loss early (Fig. 8)",
          "after 80k of 200k steps (2.5×)", "gain in nats, turned into steps with the natural run's end slope",
          "natural mixture", _gain("natural", verdicts.SPEEDUP_PAPER)),
    Claim("The BiMix-optimised mixture needs half the steps of the one Ye et al.'s law optimises (Fig. 8)",
          "80k vs 160k steps (2×)", "as above; both optima at or above their fitted runs' smallest shares",
          "Ye et al.'s optimum", _gain("ye_opt", verdicts.RIVAL_RATIO_PAPER)),
    Claim("The BiMix optimum beats the uniform mixture (beyond the paper)", "—", "beyond the paper",
          "uniform mixture", _gain("uniform", None)),
    Claim("JE = renormalised SE × CE (chain rule, Tables 4/5)", "±0.0001 on all 29 domains",
          "the paper's own tables", "—", _chain_rule),
    Claim("Entropy mixtures need no training (§4)", "no GPU time vs 670 GPU-hours for DoReMi",
          "measured CPU time", "—", _cost),
)

# What the report reads from each notebook's JSON: the committed extract (data/results/<profile>/)
# keeps exactly these keys, so the fast path and a fresh clone report what was measured.
REPORT_KEYS: dict[str, tuple[str, ...]] = {
    "02_entropy_mixtures": ("paper_chain_rule_gap", "cost"),
    "04_proxy_pretraining": ("final_average_by_seed", "final_average_loss", "seeds", "claim34"),
    "05_fit_law": ("table1_by_seed", "table1_long_by_seed", "table2_by_seed", "table1_all", "table2", "fit_on",
                   "predict", "naive"),
    "06_optimize_mixture": ("gain_nats", "speedup_by_seed", "rival_ratio_by_seed", "seeds"),
    # not a claim of the report: what notebook 07 shows offline, where the public tables cannot be had
    "07_public_runs": ("extract",),
    # the entropy-exponent points of every table, which notebook 10 shows offline
    "10_entropy_exponents": ("extract",),
    # the claims against compute: the report's "at scale" column
    "11_claims_vs_scale": ("readings",),
}

# the notebooks whose results the claims read; a profile's column is written only when it has them all
NEEDED_RESULTS = ("02_entropy_mixtures", "04_proxy_pretraining", "05_fit_law", "06_optimize_mixture")


# the profiles of the committed report, the README's blocks and data/results/ (`make reproduce`)
COMMITTED_PROFILES = ("cpu", "gpu")


class ReportError(RuntimeError):
    """The results a report needs are absent; nothing was written."""


class ReportTargetError(ReportError, ValueError):
    """The report would overwrite a committed file with other profiles' columns; nothing was written."""


def check_results(results: dict[str, dict[str, dict]], build_dir: Path = BUILD_DIR) -> None:
    """Refuse to report from missing or partial results (a profile with none at all is skipped)."""
    present = {p: r for p, r in results.items() if r}
    if not present:
        raise ReportError(f"no notebook results for profile(s) {', '.join(results)} under {build_dir}; "
                          "run `python -m bimix reproduce --profile PROFILE` first (nothing written)")
    for profile, r in present.items():
        missing = [n for n in NEEDED_RESULTS if n not in r]
        if missing:
            raise ReportError(f"{Path(build_dir) / profile / 'results'} and the committed extracts lack "
                              f"{', '.join(missing)}; run "
                              f"`python -m bimix reproduce --profile {profile}` first (nothing written)")


def results_extract(notebook: str, result: dict) -> dict:
    """The keys of a notebook's results that the report uses, with CPU time rounded to 2 significant
    digits (it is the one measured duration the report shows)."""
    out = {k: result[k] for k in REPORT_KEYS.get(notebook, ()) if k in result}
    seconds = _num(_get(out, "cost", "cpu_seconds"))
    if "cost" in out:
        out["cost"] = {"cpu_seconds_at_most": _bucket(seconds) if seconds is not None else None}
    return _rounded(out)


COST_BUCKETS = (10, 30, 60, 300, 600, 1800, 3600, 36000)  # seconds


def _bucket(seconds: float) -> float:
    """The smallest bucket bound at or above a measured duration: the committed report shows how long
    something takes to an order of magnitude, which a rerun on the same machine does not change."""
    return float(next((b for b in COST_BUCKETS if seconds <= b), math.ceil(seconds)))


def _rounded(x, digits: int = 6):
    """Floats to ``digits`` significant digits: the last bits of a fit may differ between thread
    counts, and a committed file must not change when nothing it reports has."""
    if isinstance(x, dict):
        return {k: _rounded(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v, digits) for v in x]
    if isinstance(x, float) and math.isfinite(x):
        return float(f"{x:.{digits}g}")
    return x


def committed_results_dir(profile: str) -> Path:
    return REPO_ROOT / "data" / "results" / profile


def load_results(profile: str, build_dir: Path = BUILD_DIR, committed_dir: Path | None = None) -> dict[str, dict]:
    """A profile's notebook results: those of the latest execution in ``build_dir`` and, for notebooks
    not executed there, the committed extract (so the fast path never forgets a measured claim)."""
    folder = Path(build_dir) / profile / "results"
    fresh = {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}
    committed = Path(committed_dir) if committed_dir else committed_results_dir(profile)
    kept = {p.stem: read_json(p) for p in sorted(committed.glob("*.json"))} if committed.is_dir() else {}
    return {**kept, **fresh}


def save_extracts(profile: str, build_dir: Path = BUILD_DIR, committed_dir: Path | None = None) -> list[Path]:
    """Refresh the committed extracts from the notebooks executed in ``build_dir``."""
    import json

    from bimix.compendium import outputs

    folder = Path(build_dir) / profile / "results"
    committed = Path(committed_dir) if committed_dir else committed_results_dir(profile)
    written = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        if path.stem in REPORT_KEYS:
            extract = results_extract(path.stem, read_json(path))
            if extract:  # kept when only last-digit noise differs (bimix.compendium.outputs)
                outputs.write_text(committed / path.name, json.dumps(extract, indent=2, sort_keys=True) + "\n")
                written.append(committed / path.name)
    return written


# claim label -> the readout of notebook 11 (bimix.law.scale) that judges it against compute
AT_SCALE = {"Step extrapolation of the final loss is accurate (Table 1)": "table1",
            "The law predicts unseen mixtures at every step (Table 2, R² on log loss)": "table2",
            "Entropy mixtures beat the Baseline on average log-perplexity (Fig. 5)": "claim3"}


def _at_scale(results: dict[str, dict[str, dict]], label: str) -> str:
    """The "at scale (public runs)" cell: notebook 11's reading of the claim and its largest public point."""
    key = AT_SCALE.get(label)
    readings = next((r["11_claims_vs_scale"].get("readings") for r in results.values()
                     if r and "11_claims_vs_scale" in r), None)
    found = next((x for x in readings or () if x.get("claim") == key), None) if key else None
    if not found:
        return "—"
    return f"{found['reading']} ({found['top']}: {found['top_value']:.4g})"


def report_markdown(results: dict[str, dict[str, dict]]) -> str:
    """The claims table; ``results`` maps profile -> notebook name -> that notebook's JSON."""
    profiles = [p for p, r in results.items() if r]
    head = ("| claim of the paper | kind | paper | protocol | compared with | "
            + " | ".join(f"{c} ({p})" for p in profiles for c in ("ours", "skill vs naive", "seeds needed"))
            + " | at scale (public runs) |")
    lines = [head, "|" + "---|" * (6 + 3 * len(profiles))]
    rules = []
    for i, claim in enumerate(CLAIMS, 1):
        cells, kind = [], verdicts.REPRODUCTION
        rule = claim.measure({}).verdict.rule
        for p in profiles:
            m = claim.measure(results[p])
            v = m.verdict
            kind = v.kind
            shown = v.outcome if v.outcome in (verdicts.AGREES, verdicts.NOT_MEASURED) else f"**{v.outcome}**"
            cells += [f"{v.measured} — {shown}" if v.measured else shown, m.skill or "—", m.seeds_needed or "—"]
            rule = v.rule
        lines.append(f"| {claim.label} [{i}] | {kind} | {claim.paper} | {claim.protocol} | {claim.compared_with} | "
                     + " | ".join(cells) + f" | {_at_scale(results, claim.label)} |")
        rules.append(f"{i}. {rule}")
    scale = "\n".join(f"- `{p}`: {SCALE.get(p, p)}" for p in profiles)
    return ("Scale of each column (the paper: " + SCALE["paper"] + "):\n" + scale + "\n\n"
            + "\n".join(lines) + "\n\nVerdict rules (bimix/law/verdicts.py; intervals are 95 % t-intervals over "
            "paired seeds):\n\n" + "\n".join(rules) + "\n\n\"skill vs naive\": the law's error over the naive "
            "predictor's, per seed (Table 1: relative error against carry-forward; Table 2: (1 − R²_law) / "
            "(1 − R²_null)); below 1 the law knows something the naive predictor does not. \"seeds needed\": "
            "paired seeds for a 95 % test with power 0.8 to tell the measured mean from the rule's threshold, "
            "n = ((z_0.975 + z_0.8) · sd / |mean − threshold|)², from the measured mean and seed spread. "
            "\"at scale (public runs)\": notebook 11's reading of the claim against training compute, from "
            "this compendium's CPU runs to Apple's public SlimPajama ladder (122M–2.7B), by the rule of "
            "`bimix.law.scale.reading`, with the readout at the largest public size.\n\n"
            "Where the protocols differ from the paper's (evaluation schedule, baselines, units of the speed-ups, "
            "learning rate, scale) and what each difference does: `docs/paper.md`, section \"Where our "
            "protocols differ from the paper's\".\n")


def _gallery_entries(figures_dir: Path, relative_to: Path):
    import os

    for label, stem, notebook, shows in GALLERY:
        png = Path(figures_dir) / f"{stem}.png"
        if png.exists():
            rel = Path(os.path.relpath(png, relative_to)).as_posix()
            yield label, stem, notebook, shows, rel, rel[:-4] + ".pdf"


def gallery_markdown(figures_dir: Path = FIGURES_DIR, relative_to: Path = REPO_ROOT) -> str:
    """Every figure with what it reproduces, what it shows and does not show, and where it is drawn:
    the notebook section whose cell saves it and the :mod:`bimix.compendium.plots` functions that
    draw it (docs/gallery.md)."""
    from bimix.compendium.site import github_slug

    inside = Path(relative_to).resolve().is_relative_to(REPO_ROOT.resolve())

    def link(path: Path) -> str:
        return Path(os.path.relpath(path, relative_to)).as_posix() if inside else path.relative_to(REPO_ROOT).as_posix()

    plots_py = link(REPO_ROOT / "bimix" / "compendium" / "plots.py")
    lines = ["| paper | our figure | shows | does not show | drawn by |", "|---|---|---|---|---|"]
    for label, stem, notebook, shows, rel, pdf in _gallery_entries(figures_dir, relative_to):
        functions, not_shown = GALLERY_NOTES.get(stem, ((), ""))
        section = figure_section(notebook, stem)
        nb = link(REPO_ROOT / "notebooks" / f"{notebook}.ipynb") + (f"#{github_slug(section)}" if section else "")
        where = f"[`{notebook}`]({nb})" + (f", section “{section}”" if section else "")
        drawn = ", ".join(f"[`plots.{f}`]({plots_py})" for f in functions) or "the notebook cell (pandas/matplotlib)"
        lines.append(f"| {label} | [![{stem}]({rel})]({pdf}) | {shows} | {not_shown or '—'} | {where}; {drawn} |")
    return "\n".join(lines) + "\n"


def gallery_grid(figures_dir: Path = FIGURES_DIR, relative_to: Path = REPO_ROOT, per_row: int = 4) -> str:
    """The README's compact gallery: thumbnails ``per_row`` to a row, each with its paper label and
    notebook number; the captions are in docs/gallery.md."""
    cells = [f"[![{stem}]({rel})]({pdf})<br>{label} · {notebook[:2]}"
             for label, stem, notebook, _, rel, pdf in _gallery_entries(figures_dir, relative_to)]
    if not cells:
        return ""
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    width = min(per_row, len(cells))
    lines = ["| " + " | ".join([" "] * width) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r + [" "] * (width - len(r))) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no {start} … {end} block")
    return pattern.sub(lambda _: f"{start}\n{body}{end}", text)


def write_report(profiles: list[str], *, build_dir: Path = BUILD_DIR, figures_dir: Path = FIGURES_DIR,
                 readme: Path | None = None, results_root: Path | None = None, extracts: bool = True) -> Path:
    """Write ``figures/paper_vs_compendium.md``; with ``readme``, refresh its generated blocks.
    Fresh results in ``build_dir`` first refresh the committed extracts (``results_root/<profile>``,
    default ``data/results``), which then stand in for every notebook not executed this time.
    Raises :class:`ReportError`, writing nothing, when the results the claims need are absent from
    both. ``extracts=False`` leaves the extracts as they are (a report that is not the committed one);
    the repository's ``figures/`` takes only the committed profiles' report."""
    same_dir = Path(figures_dir).resolve() == FIGURES_DIR.resolve()
    if same_dir and list(profiles) != list(COMMITTED_PROFILES):
        raise ReportTargetError(f"{FIGURES_DIR / 'paper_vs_compendium.md'} holds the report of profiles "
                                f"{','.join(COMMITTED_PROFILES)}, not {','.join(profiles)}; write it elsewhere")
    folders = {p: (Path(results_root) / p if results_root else committed_results_dir(p)) for p in profiles}
    results = {p: load_results(p, build_dir, folders[p]) for p in profiles}
    check_results(results, build_dir)
    for p in profiles if extracts else ():
        save_extracts(p, build_dir, folders[p])
    report = report_markdown(results)
    target = Path(figures_dir) / "paper_vs_compendium.md"
    # both kept when only last-digit noise differs (bimix.compendium.outputs)
    outputs.write_text(target, "# Paper vs compendium\n\nGenerated by `python -m bimix report` from the "
                       "notebooks' results JSON.\n\n" + report)
    if readme is not None:
        text = readme.read_text(encoding="utf-8")
        text = _replace_block(text, "report", report)
        text = _replace_block(text, "gallery", gallery_grid(figures_dir, readme.parent))
        outputs.write_text(readme, text)
        docs = readme.parent / "docs"
        if docs.is_dir():  # the captions beside the README's thumbnails
            write_gallery(docs, figures_dir)
    return target


def write_gallery(docs: Path, figures_dir: Path = FIGURES_DIR) -> Path:
    """``docs/gallery.md``: the captions beside the README's thumbnails (:func:`gallery_markdown`)."""
    target = Path(docs) / "gallery.md"
    outputs.write_text(target, "# Gallery\n\nEvery figure the notebooks draw (`cpu` profile): what of the paper "
                       "it reproduces, what it shows and what it does not, and where it is drawn (the notebook "
                       "section whose cell saves it, the `bimix.compendium.plots` functions that draw it); click "
                       "a figure for its PDF. Generated by `python -m bimix report --update-readme`.\n\n"
                       + gallery_markdown(figures_dir, docs))
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default="cpu,gpu",
                        help="comma-separated profiles whose results to report (missing ones are skipped)")
    parser.add_argument("--update-readme", action="store_true",
                        help="also refresh the README's report and gallery blocks (profiles cpu,gpu only)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of the report (default: figures/ for cpu,gpu, whose report is committed; "
                             "build/report/<profiles>/ for any other profiles)")


def report_dir(profiles: list[str], out: Path | None = None) -> Path:
    """Where the command writes the report of ``profiles``: ``out``, else ``figures/`` for the
    committed profiles and ``build/report/<p1>-<p2>/`` for others. A folder git tracks takes the
    committed report only."""
    from bimix.files import git_tracked

    if out is None:
        return FIGURES_DIR if list(profiles) == list(COMMITTED_PROFILES) else BUILD_DIR / "report" / "-".join(profiles)
    out = Path(out)
    target = out / "paper_vs_compendium.md"
    if out.resolve() != FIGURES_DIR.resolve() and git_tracked(target):
        raise ReportTargetError(f"--out {out}: {target} is tracked by git; choose an untracked folder")
    return out


def run(args: argparse.Namespace) -> int:
    from bimix.profiles import known_names

    profiles = known_names(p for p in args.profiles.split(",") if p)  # unknown names refused
    if sorted(profiles) == sorted(COMMITTED_PROFILES):
        profiles = list(COMMITTED_PROFILES)  # the committed report's column order
    folder = report_dir(profiles, args.out)
    committed = folder.resolve() == FIGURES_DIR.resolve()
    if args.update_readme and not committed:
        raise ReportTargetError(f"--update-readme refreshes the README's committed report, of profiles "
                                f"{','.join(COMMITTED_PROFILES)}; drop it to report {','.join(profiles)} "
                                f"into {folder}")
    path = write_report(profiles, figures_dir=folder, extracts=committed,
                        readme=REPO_ROOT / "README.md" if args.update_readme else None)
    print(path.read_text(encoding="utf-8"))
    if not committed:
        print(f"wrote {path} (the committed report is of profiles {','.join(COMMITTED_PROFILES)})")
    return 0
