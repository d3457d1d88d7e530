"""The paper-vs-compendium report and the README's figure gallery, generated from notebook results.

Each claim of the paper (PAPER.md §3, §5, §9) is set beside what our notebooks measured, per profile,
with a verdict computed from the numbers — whichever way it goes. Inputs are the JSON files the
notebooks write (``build/<profile>/results/<notebook>.json``); nothing here trains or fits.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bimix.files import atomic_path, read_json
from bimix.paths import BUILD_DIR, FIGURES_DIR, REPO_ROOT

ENTROPY_MIXTURES = ("se", "ce", "je", "vne")
SCALE = {
    "cpu": "4-layer, d=128 GPT-NeoX proxies (1.3M parameters), 0.8M tokens per run, 6-domain mini-pile, BPE 4,096",
    "gpu": "6-layer, d=384 proxies on one GPU, mini-pile, BPE 16,384",
    "paper": "124M proxies, 100B tokens per run, the Pile / SlimPajama, GPT-NeoX tokenizer",
}

# paper label -> (figure stem, notebook, what it shows); a row appears only if its PNG exists
GALLERY: tuple[tuple[str, str, str, str], ...] = (
    ("Fig. 1", "fig1_loss_vs_steps", "05_fit_law", "loss vs steps per domain, coloured by share, fitted law dotted"),
    ("Fig. 2", "fig2_loss_vs_share", "05_fit_law", "loss vs share at several steps (log-log), fitted law"),
    ("Fig. 3 / Table 2", "fig3_predicted_vs_observed", "05_fit_law", "held-out mixtures: predicted vs observed"),
    ("Fig. 5", "avg_logppl_vs_steps", "04_proxy_pretraining", "average log-perplexity vs steps per mixture"),
    ("Fig. 1 (raw)", "loss_vs_steps_by_share", "04_proxy_pretraining", "measured loss curves coloured by share"),
    ("Fig. 2 (raw)", "loss_vs_share_by_step", "04_proxy_pretraining", "measured loss vs share coloured by step"),
    ("Fig. 8", "fig8_optimised_vs_baselines", "06_optimize_mixture", "BiMix-optimised mixture vs natural, DoReMi, CE"),
    ("§5.3", "optimum_mixture", "06_optimize_mixture", "the optimised mixture, near-optimal region"),
    ("§5.3", "bimix_opt_predicted_vs_measured", "06_optimize_mixture", "law's prediction vs the optimised run"),
    ("Tables 4/5", "entropy_mixtures", "02_entropy_mixtures", "entropy mixtures beside the natural mixture"),
    ("§5 (unstated base)", "entropy_temperature", "02_entropy_mixtures", "how log base / temperature move the mixtures"),
    ("§7 (DoReMi)", "doremi_weights", "03_doremi", "DoReMi domain weights over training"),
    ("beyond", "fig_lomo_heldout", "05_fit_law", "leave-one-mixture-out R² for every law form"),
    ("beyond", "fig_interaction_spread", "05_fit_law", "no-interaction check: spread at equal share vs seed noise"),
    ("beyond", "fig_public_runs_lomo", "07_public_runs", "the law on published runs"),
    ("§8 (data)", "corpus_domains", "01_build_corpus", "tokens and bytes per token per domain"),
    ("teaching", "fig1_loss_vs_steps_synthetic", "00_law_in_five_minutes", "Fig. 1 on synthetic runs"),
    ("teaching", "fig3_pred_vs_obs_synthetic", "00_law_in_five_minutes", "Fig. 3 on synthetic runs"),
)


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


def _pct(x: float | None) -> str:
    return "not measured" if x is None else f"{100 * x:.2f} %"


@dataclass(frozen=True)
class Claim:
    label: str  # the paper's claim
    paper: str  # the paper's number
    measure: Callable[[dict[str, dict]], tuple[str, bool | None]]  # results -> (our value, agrees?)


def _table1(r):
    mean, worst = _num(_get(r, "05_fit_law", "table1_all", "mre_mean")), _num(_get(r, "05_fit_law", "table1_all", "mre_worst"))
    if mean is None:
        return "not measured", None
    return f"mean {_pct(mean)}, worst {_pct(worst)}", mean <= 0.002


def _table2(r):
    rows = _get(r, "05_fit_law", "table2") or {}
    parts, ok = [], []
    for name, row in rows.items():
        mean, worst = _num(_get(row, "r2_log_mean")), _num(_get(row, "r2_log_worst"))
        if mean is not None:
            parts.append(f"{name} {mean:.3f} (worst {worst:.3f})" if worst is not None else f"{name} {mean:.3f}")
            ok.append(mean > 0.97)
    if not parts:
        return "not measured", None
    return "; ".join(parts), all(ok)


def _final_losses(r) -> dict[str, float]:
    final = _get(r, "04_proxy_pretraining", "final_average_loss") or {}
    return {k: v for k, v in ((k, _num(v)) for k, v in final.items()) if v is not None}


def _baseline(final: dict[str, float]) -> str | None:
    return next((k for k in ("baseline", "natural") if k in final), None)


def _entropy_beats_baseline(r):
    final = _final_losses(r)
    base = _baseline(final)
    ents = {k: final[k] for k in ENTROPY_MIXTURES if k in final}
    if base is None or not ents:
        return "not measured", None
    wins = [k for k, v in ents.items() if v < final[base]]
    text = (f"{base} {final[base]:.4f}; " + ", ".join(f"{k} {v:.4f}" for k, v in ents.items())
            + f" nats ({len(wins)}/{len(ents)} below {base})")
    return text, len(wins) == len(ents)


def _ce_best(r):
    final = _final_losses(r)
    ents = {k: final[k] for k in ENTROPY_MIXTURES if k in final}
    if len(ents) < 2:
        return "not measured", None
    best = min(ents, key=ents.get)
    return f"best entropy mixture: {best} ({ents[best]:.4f} nats)", best == "ce"


def _optimised_faster(r):
    speed = _get(r, "06_optimize_mixture", "speedup_vs_natural") or {}
    steps = _get(r, "06_optimize_mixture", "steps_to_natural_final") or {}
    # curves label the optimum "bimix_opt" even when its runs are stored under "bimix_opt-<hash>"
    name = _get(r, "06_optimize_mixture", "optimum", "mixture_name") or "bimix_opt"
    name = name if name in speed or name in steps else "bimix_opt"
    value = _num(speed.get(name)) if isinstance(speed, dict) else None
    if value is None:
        reached = steps.get(name) if isinstance(steps, dict) else None
        if reached is None and name in (steps or {}):
            return "never reached the natural mixture's final loss", False
        return "not measured", None
    return f"{value:.2f}× fewer steps than natural to its final average loss", value > 1


def _chain_rule(r):
    gap = _get(r, "02_entropy_mixtures", "paper_chain_rule_gap")
    if isinstance(gap, dict):
        values = [_num(v) for v in gap.values()]
        values = [v for v in values if v is not None]
        gap = max(values) if values else None
    gap = _num(gap)
    if gap is None:
        return "not measured", None
    return f"max gap {gap:.1e} over 29 domains of the paper's tables", gap <= 1e-4


def _cost(r):
    seconds = _num(_get(r, "02_entropy_mixtures", "cost", "cpu_seconds"))
    if seconds is None:
        return "not measured", None
    return f"{seconds:.0f} CPU-seconds for all four entropy mixtures, two tokenizers", seconds < 3600


CLAIMS: tuple[Claim, ...] = (
    Claim("Step extrapolation of the final loss is accurate (Table 1)",
          "mean 0.16–0.19 %, worst 0.24–0.95 %", _table1),
    Claim("The law predicts unseen mixtures at every step (Table 2, R² on log loss)",
          "mean R² 0.974–0.995 (worst 0.79–0.99)", _table2),
    Claim("Entropy mixtures beat the Baseline on average log-perplexity (Fig. 5)",
          "all four below Baseline", _entropy_beats_baseline),
    Claim("CE is the best entropy proxy (Fig. 5)", "CE lowest", _ce_best),
    Claim("The BiMix-optimised mixture reaches the Baseline's loss in fewer steps (Fig. 8)",
          "80k vs 160k steps (2×)", _optimised_faster),
    Claim("JE = renormalised SE × CE (chain rule, Tables 4/5)", "±0.0001 on all 29 domains", _chain_rule),
    Claim("Entropy mixtures need no training (§4)", "no GPU time vs 670 GPU-hours for DoReMi", _cost),
)


# the notebooks whose results the claims read; a profile's column is written only when it has them all
NEEDED_RESULTS = ("02_entropy_mixtures", "04_proxy_pretraining", "05_fit_law", "06_optimize_mixture")


class ReportError(RuntimeError):
    """The results a report needs are absent; nothing was written."""


def check_results(results: dict[str, dict[str, dict]], build_dir: Path = BUILD_DIR) -> None:
    """Refuse to report from missing or partial results (a profile with none at all is skipped)."""
    present = {p: r for p, r in results.items() if r}
    if not present:
        raise ReportError(f"no notebook results for profile(s) {', '.join(results)} under {build_dir}; "
                          "run `python -m bimix reproduce --profile PROFILE` first (nothing written)")
    for profile, r in present.items():
        missing = [n for n in NEEDED_RESULTS if n not in r]
        if missing:
            raise ReportError(f"{Path(build_dir) / profile / 'results'} lacks {', '.join(missing)}; run "
                              f"`python -m bimix reproduce --profile {profile}` first (nothing written)")


def load_results(profile: str, build_dir: Path = BUILD_DIR) -> dict[str, dict]:
    folder = Path(build_dir) / profile / "results"
    return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}


def report_markdown(results: dict[str, dict[str, dict]]) -> str:
    """The claims table; ``results`` maps profile -> notebook name -> that notebook's JSON."""
    profiles = [p for p, r in results.items() if r]
    head = "| claim of the paper | paper | " + " | ".join(f"ours ({p})" for p in profiles) + " |"
    lines = [head, "|" + "---|" * (2 + len(profiles))]
    verdict = {True: "agrees", False: "**does not agree**", None: "n/a"}
    for claim in CLAIMS:
        cells = []
        for p in profiles:
            text, ok = claim.measure(results[p])
            cells.append(f"{text} — {verdict[ok]}")
        lines.append(f"| {claim.label} | {claim.paper} | " + " | ".join(cells) + " |")
    scale = "\n".join(f"- `{p}`: {SCALE.get(p, p)}" for p in profiles)
    return ("Scale of each column (the paper: " + SCALE["paper"] + "):\n" + scale + "\n\n"
            + "\n".join(lines) + "\n")


def gallery_markdown(figures_dir: Path = FIGURES_DIR, relative_to: Path = REPO_ROOT) -> str:
    lines = ["| paper | our figure | notebook | shows |", "|---|---|---|---|"]
    for label, stem, notebook, shows in GALLERY:
        png = Path(figures_dir) / f"{stem}.png"
        if png.exists():
            rel = png.relative_to(relative_to).as_posix()
            pdf = rel[:-4] + ".pdf"
            lines.append(f"| {label} | [![{stem}]({rel})]({pdf}) | `notebooks/{notebook}.ipynb` | {shows} |")
    return "\n".join(lines) + "\n"


def _replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no {start} … {end} block")
    return pattern.sub(lambda _: f"{start}\n{body}{end}", text)


def write_report(profiles: list[str], *, build_dir: Path = BUILD_DIR, figures_dir: Path = FIGURES_DIR,
                 readme: Path | None = None) -> Path:
    """Write ``figures/paper_vs_compendium.md``; with ``readme``, refresh its generated blocks.

    Raises :class:`ReportError`, writing nothing, when the results the claims need are absent."""
    results = {p: load_results(p, build_dir) for p in profiles}
    check_results(results, build_dir)
    report = report_markdown(results)
    target = Path(figures_dir) / "paper_vs_compendium.md"
    with atomic_path(target) as tmp:
        tmp.write_text("# Paper vs compendium\n\nGenerated by `python -m bimix report` from the "
                       "notebooks' results JSON.\n\n" + report, encoding="utf-8")
    if readme is not None:
        text = readme.read_text(encoding="utf-8")
        text = _replace_block(text, "report", report)
        text = _replace_block(text, "gallery", gallery_markdown(figures_dir, readme.parent))
        with atomic_path(readme) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default="cpu,gpu",
                        help="comma-separated profiles whose results to report (missing ones are skipped)")
    parser.add_argument("--update-readme", action="store_true",
                        help="also refresh the README's report and gallery blocks")


def run(args: argparse.Namespace) -> int:
    from bimix.profiles import get_profile

    profiles = [get_profile(p).name for p in args.profiles.split(",") if p]  # unknown names refused
    path = write_report(profiles, readme=REPO_ROOT / "README.md" if args.update_readme else None)
    print(path.read_text(encoding="utf-8"))
    return 0
