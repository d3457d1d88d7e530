"""The results JSON a notebook writes in its last cell, "the numbers it claims", assembled from what it
computed.

One function per notebook. Each takes the notebook's results as they are (fits, protocol results,
frames) and returns a plain dictionary: the parameters and provenance of the run (inputs' sha256, code
version), every number the notebook shows, and the extract the report keeps
(:data:`bimix.compendium.report.REPORT_KEYS`). Tests, the report and the "What we found" box
(:mod:`bimix.compendium.findings`) read these dictionaries, never a notebook's text. Nothing here fits,
trains or draws; :meth:`bimix.compendium.notebook.Places.write_results` writes the JSON.

The notebooks call the dictionary ``claims`` (the numbers a notebook claims); this module is named for
the file it becomes, ``results/<notebook>.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from bimix.files import sha256_file
from bimix.provenance import code_version


def _rows(frame: pd.DataFrame) -> dict:
    """``{index: {column: value}}`` of a frame indexed by mixture, form or domain."""
    return {k: row.to_dict() for k, row in frame.iterrows()}


def _by_seed(by_seed: Mapping) -> dict:
    return {str(s): v for s, v in by_seed.items()}


# --------------------------------------------------------------------------------- 02 entropy mixtures
def entropy_mixtures(*, profile: str, settings: Mapping[str, Any], stores: Mapping, reports: Mapping,
                     mixtures: Mapping[str, pd.DataFrame], saved: Mapping[str, list], ours_gap: Mapping[str, float],
                     paper_gap: Mapping[str, float], base_table: pd.DataFrame, total_cpu: float, ratio: float) -> dict:
    """Notebook 02's results. ``settings``: seq_len, n_docs, embedder; per tokenizer kind its token store,
    its :class:`bimix.data.entropy.EntropyReport`, its mixtures (domains x mixtures), the mixture files
    written and our chain-rule gap; the paper's chain-rule gaps; the CE mixture's largest/smallest share
    per log base (``base_table``: :func:`bimix.data.entropy.ratio_by_base`); the CPU seconds of it all and
    how many times more device time one DoReMi round took."""
    from bimix.data import entropy

    return {
        "profile": profile, "seq_len": settings["seq_len"], "n_docs": settings["n_docs"],
        "embedder": settings["embedder"],
        "tokenizers": {kind: {"store_id": stores[kind].store_id, "vocab_size": stores[kind].vocab_size,
                              "corpus_hash": stores[kind].corpus_hash,
                              "entropies": r.table[list(entropy.MEASURES) + ["h_first", "tokens", "docs"]]
                              .to_dict(orient="index"),
                              "mixtures": mixtures[kind].to_dict(orient="index"),
                              "chain_rule_gap": ours_gap[kind], "timings_s": r.timings, "cpu_s": r.cpu_seconds,
                              "mixture_files": saved[kind]}
                       for kind, r in reports.items()},
        "paper_chain_rule_gap": dict(paper_gap),
        "ce_ratio_by_base": base_table.loc["ce"].to_dict(),
        "cost": {"cpu_seconds": total_cpu, "doremi_gpu_hours": entropy.DOREMI_GPU_HOURS, "ratio": ratio},
    }


# ---------------------------------------------------------------------------------------- 05 fit law
def fit_law(*, profile: str, runs_csv: Path, current, split, settings: Mapping[str, Any], ext, ext_long,
            gap: float, gap_long: float, t1_seeds: Mapping, t1_long_seeds: Mapping, coef: pd.DataFrame, boot,
            gen, t2_seeds: Mapping, forms: pd.DataFrame, lomo_scores: pd.DataFrame, lomo_summary: Mapping,
            interaction) -> dict:
    """Notebook 05's results. ``current``: :func:`bimix.data.runs.current_runs` of ``runs_csv``;
    ``split``: :class:`~bimix.law.protocols.MixtureSplit`; ``settings``: the parameters that shape the
    numbers (method, n_starts, seed, holdout_last, long_gap, n_bootstrap, bootstrap_scheme); ``ext`` and
    ``ext_long``: Table 1 at the paper's distance ``gap`` and further ahead ``gap_long``
    (:class:`~bimix.law.protocols.Extrapolation`), per seed in ``t1_seeds``/``t1_long_seeds``; ``coef``:
    :func:`~bimix.law.forms.coefficient_intervals` of the fit and its bootstrap ``boot`` (or None);
    ``gen``: Table 2 (:class:`~bimix.law.protocols.Generalisation`), per seed in ``t2_seeds``; ``forms``:
    :func:`~bimix.law.protocols.compare_forms` by form; ``lomo_scores``, ``lomo_summary``:
    :func:`~bimix.law.protocols.lomo_overview`; ``interaction``: :class:`~bimix.law.protocols.InteractionCheck`."""
    from bimix.law.forms import SCALE_CONVENTION

    table = current.table
    table2 = gen.per_mixture.set_index("mixture")
    return {
        "profile": profile, "runs_csv": str(runs_csv), "runs_sha256": sha256_file(runs_csv),
        "code_version": code_version(), "method": settings["method"], "n_starts": settings["n_starts"],
        "seed": settings["seed"], "fit_on": split.fit, "predict": split.predict,
        "missing_predict": split.missing_predict, "mixture_names": {**split.fit_names, **split.predict_names},
        "n_rows": len(table), "n_runs": table["run"].nunique(),
        "n_excluded_zero_share": int((~(table["r"] > 0)).sum()), "holdout_last": settings["holdout_last"],
        "table1": _rows(ext.by_mixture()),
        "table1_all": {"mre_mean": ext.mre_mean, "mre_worst": ext.mre_worst, "mre_best": ext.mre_best, "gap": gap,
                       "mre_carry_forward": ext.mre_mean_carry_forward, "skill_carry_forward": ext.skill_carry_forward},
        "table1_long_all": {"mre_mean": ext_long.mre_mean, "mre_worst": ext_long.mre_worst, "gap": gap_long,
                            "long_gap": settings["long_gap"], "mre_carry_forward": ext_long.mre_mean_carry_forward,
                            "skill_carry_forward": ext_long.skill_carry_forward},
        "table1_long": _rows(ext_long.by_mixture()),
        "table1_long_by_seed": _by_seed(t1_long_seeds),
        "table2": _rows(table2),
        "table2_per_domain": gen.per_domain[["mixture", "domain", "r2_log"]].to_dict(orient="records"),
        "table1_by_seed": _by_seed(t1_seeds),
        "table2_by_seed": _by_seed(t2_seeds),
        "runs_used": current.used, "runs_excluded": current.excluded,
        "spearman_final": gen.spearman_final,
        "naive": {"table1_mre_carry_forward": ext.mre_mean_carry_forward,
                  "table1_skill_carry_forward": ext.skill_carry_forward,
                  "table2_r2_log_mean": gen.r2_log_mean, "table2_r2_log_mean_null": gen.r2_log_mean_null,
                  "table2_skill_r2": gen.skill_r2, "table2_mre_final": gen.mre_final,
                  "table2_mre_final_null": gen.mre_final_null, "table2_skill_mre_final": gen.skill_mre_final},
        "scale_convention": SCALE_CONVENTION,
        "coefficients": {d: {k: row[k] for k in coef.columns if k.split("_")[0] in ("alpha", "beta", "B", "C")}
                         | {"identified": row["identified"], "rmse_log": row["rmse_log"]} for d, row in coef.iterrows()},
        "bootstrap": {"n": settings["n_bootstrap"], "scheme": settings["bootstrap_scheme"],
                      "n_failed": sum(boot.n_failed.values()) if boot else 0},
        "forms": _rows(forms),
        "lomo": {f: {**s, "heldout": lomo_scores[lomo_scores["form"] == f].set_index("heldout")[["r2_log", "mre"]]
                     .to_dict(orient="index")} for f, s in lomo_summary.items()},
        **interaction.to_json(),
    }


# ------------------------------------------------------------------------------------ 07 public runs
def public_runs(*, profile: str, got, committed: Mapping | None, committed_name: str | None,
                settings: Mapping[str, Any],
                bench, law_table: pd.DataFrame | None, analyses: Mapping, lomo: pd.DataFrame,
                extrapolation: pd.DataFrame, size_table: pd.DataFrame | None, sized: Mapping, by_size_s: Mapping,
                spj: pd.DataFrame | None, spj_claims: Mapping) -> dict:
    """Notebook 07's results. ``got``: :class:`bimix.data.public_runs.PublicTables`; ``committed``: the
    committed results shown offline (or None) and where they came from; ``settings``: the parameters that
    shape the numbers (method, n_starts, lomo_starts, n_bootstrap, seed, run_filter, lightgbm_iterations,
    by_size_dml, by_size_splits, slimpajama_boot); ``bench``/``law_table``: the RegMix benchmark;
    ``analyses``: :func:`bimix.law.public_analysis.analyse` per table, summed up in ``lomo`` and
    ``extrapolation``; ``size_table``, ``sized``, ``by_size_s``: the protocols by model size; ``spj``,
    ``spj_claims``: the paper's SlimPajama mixtures. ``extract`` is what the committed results keep:
    the numbers an offline run shows, no timings or paths (offline, the committed extract as it was)."""
    status = ("ok" if bench is not None or got.dml_files or got.dmsl is not None else "committed" if committed
              else "ok" if got.tables else "no_data")
    return {
        "status": status, "profile": profile, "code_version": code_version(), "public_dir": str(got.folder),
        "messages": got.messages, "method": settings["method"], "n_starts": settings["n_starts"],
        "lomo_starts": settings["lomo_starts"], "n_bootstrap": settings["n_bootstrap"], "seed": settings["seed"],
        "run_filter": settings["run_filter"],
        "regmix_benchmark": None if bench is None else {
            **bench.to_json(), "table": law_table.reset_index().to_dict(orient="records"),
            "lightgbm_iterations": settings["lightgbm_iterations"],
            "sha256": {name: sha256_file(p) for name, p in sorted(got.regmix_files.items())}},
        "tables": {name: {**a.claims, "sha256": {p.name: sha256_file(p) for p in t.files}}
                   for t, (name, a) in zip(got.tables, analyses.items())},
        "extract": committed.get("extract", {}) if committed else {
            "regmix_table": None if bench is None else law_table.drop(columns=["fit s"], errors="ignore").reset_index()
            .to_dict(orient="records"),
            "dml_summary": lomo.drop(columns=["fit_s"]).to_dict(orient="records"),
            "table1": extrapolation.to_dict(orient="records"),
            "by_size_table": None if size_table is None else size_table.reset_index().to_dict(orient="records"),
            "slimpajama_mixtures": None if spj is None else spj.to_dict(orient="records"),
            "slimpajama_claims": spj_claims},
        "by_size": sized, "by_size_seconds": by_size_s, "by_size_dml": settings["by_size_dml"],
        "by_size_splits": settings["by_size_splits"], "slimpajama_boot": settings["slimpajama_boot"],
        "committed_from": committed_name if committed else None,
    }


# ---------------------------------------------------------------------------------------- 06 optimum
def optimize_mixture(*, profile: str, runs, settings: Mapping[str, Any], fit_rows: pd.DataFrame, opt, lower: Mapping,
                     caps, saved: Mapping[str, tuple], region: pd.DataFrame, samples, sens: pd.DataFrame,
                     interval: pd.DataFrame | None, apart: list[str], rival, fig8, rival_ratio: Mapping,
                     gain_table: pd.DataFrame, support_flags: Mapping, final: pd.DataFrame, compute: pd.DataFrame,
                     law_fit_s: float, optimise_s: float) -> dict:
    """Notebook 06's results. ``runs``: :class:`bimix.train.sweep.RunSet` (its store, seeds, run ids,
    sidecars and the jobs it trained); ``settings``: fit_on, method, compare, natural, step, final_step,
    near_delta; ``opt``: the BiMix optimum within ``lower`` and ``caps``
    (:class:`bimix.law.optimum.EpochCaps`), saved as ``saved["bimix_opt"]`` (and the rival's as
    ``saved["ye_opt"]``): (name, file, rounded shares); ``region``/``samples``, ``sens``, ``interval``
    and ``apart``: the near-optimal region, the sensitivities, the bootstrap interval and where the natural
    mixture leaves it; ``rival``: :class:`bimix.law.optimum.Rival`; ``fig8``:
    :class:`bimix.law.seeds.AgainstNatural` of the mixtures shown, with ``rival_ratio`` and ``gain_table``;
    ``support_flags``: shares outside each law's fitted shares; ``final``: the optimum's predicted against
    measured final losses; ``compute``: :func:`bimix.compendium.compute.optimum_compute`."""
    from bimix.data.entropy import DOREMI_GPU_HOURS
    from bimix.law.optimum import fitted_range

    m = len(opt.domains)
    sidecars, shown, steps_table = runs.sidecars(), list(fig8.curves.columns), fig8.steps_table
    name, path, shares = saved["bimix_opt"]
    totals = compute.groupby("method", sort=False)["seconds"].sum()
    return {
        "profile": profile, "store_id": runs.store.store_id, "code_version": code_version(),
        "runs_csv": str(runs.csv_path), "seeds": list(runs.seeds), "fit_on": settings["fit_on"],
        "fit_method": settings["method"], "compare": settings["compare"], "natural_mixture": settings["natural"],
        "final_step": settings["final_step"], "jobs_run": runs.jobs,
        "optimum": {"step": settings["step"], "weights": opt.shares, "predicted_avg_loss": opt.objective / m,
                    "predicted_losses": dict(zip(opt.domains, opt.losses.tolist())), "lambda": opt.lam,
                    "lower": dict(lower), "upper": caps.upper, "epochs_max": caps.epochs_max,
                    "budget_tokens": caps.budget_tokens, "at_bound": dict(zip(opt.domains, opt.table()["at_bound"])),
                    "mixture_name": name, "mixture_file": str(path),
                    "near_delta": settings["near_delta"], "n_near_optimal": len(samples),
                    "near_optimal": region.set_index("domain")[["r_min", "r_max"]].to_dict(orient="index"),
                    "sensitivity": sens.set_index("domain")[["gradient", "cost_plus", "cost_minus"]].to_dict(orient="index")},
        "natural_final_avg_loss": fig8.target,
        "measured_final_avg_loss": steps_table["final_avg_loss"].to_dict(),
        "steps_to_natural_final": fig8.reach,
        "speedup_vs_natural": steps_table["speedup_vs_natural"].to_dict(),
        "speedup_by_seed": {mix: _by_seed(d) for mix, d in fig8.speedups.items()},
        "gain_nats": gain_table.to_dict(orient="records"),
        "trained_shares": shares, "outside_fitted_shares": support_flags,
        "fitted_share_range": fitted_range(fit_rows),
        "rival": rival.to_json(saved["ye_opt"][0] if "ye_opt" in saved else None),
        "rival_ratio_by_seed": _by_seed(rival_ratio),
        "optimum_interval": None if interval is None else {
            "n_replicates": int(interval["n_replicates"].iloc[0]), "level": 0.95,
            "per_domain": interval.set_index("domain")[["r_opt", "lo", "hi"]].to_dict(orient="index"),
            "natural_outside": apart, "distinguishable_from_natural": bool(apart)},
        "prediction_error_final": {"mre": float(final["rel_error"].mean()), "worst": float(final["rel_error"].max()),
                                   "per_domain": final["rel_error"].to_dict(),
                                   "predicted_avg_loss": float(final["pred"].mean()),
                                   "measured_avg_loss": float(final["loss"].mean())},
        "r2_log_bimix_opt": {"mean": float(np.nanmean(final["r2_log"].to_numpy(float))),
                             "per_domain": final["r2_log"].to_dict()},
        "compute_seconds": {**totals.to_dict(), "law_fit": law_fit_s, "optimisation": optimise_s,
                            "fitting_runs": float(compute.loc[compute["part"].str.startswith("fitting"), "seconds"].sum()),
                            "verification_runs": sum(sidecars[runs.ids[(c, s)]]["wall_time_s"]
                                                     for c in shown for s in runs.seeds)},
        "compute_parts": compute.to_dict(orient="records"), "entropy_source": compute["source"].iloc[0],
        "paper_doremi_gpu_hours": DOREMI_GPU_HOURS,
    }
