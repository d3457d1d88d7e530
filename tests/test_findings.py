"""The "What we found" boxes: every sentence follows the numbers, both ways (no notebook is executed)."""

from __future__ import annotations

import copy

from bimix.compendium import findings

SEEDS = ("0", "1", "2", "3", "4")


def _by_seed(values):
    return dict(zip(SEEDS, values))


# --------------------------------------------------------------------------------------------- 05
def _c05(t1=0.002, skill=0.6, r2=0.99, c=(0.0, 0.0, 1.2), spearman=None, ratio=3.0):
    spearman = spearman or {"bimix": 0.72, "exponential": 0.965, "share": 0.9, "additive": 0.8}
    return {
        "table1_by_seed": {s: {"mre_mean": t1 + 1e-5 * i, "skill_carry_forward": skill + 0.01 * i, "gap": 1.05}
                           for i, s in enumerate(SEEDS)},
        "table2_by_seed": {s: {m: {"mean": r2 - 1e-4 * i, "worst": r2 - 0.1, "skill_r2": 0.2}
                               for m in ("baseline", "doremi")} for i, s in enumerate(SEEDS)},
        "coefficients": {d: {"C": v, "C_hi": v + 0.5} for d, v in zip(("math", "code", "books"), c)},
        "table2_per_domain": [{"mixture": "baseline", "domain": "math", "r2_log": 0.4},
                              {"mixture": "baseline", "domain": "code", "r2_log": 0.95}],
        "lomo": {f: {"spearman_final": v} for f, v in spearman.items()},
        "interaction": {"ratio_to_seed_noise": ratio},
    }


def test_fit_law_box_states_the_verdicts_both_ways():
    good = findings.fit_law(_c05())
    assert "**Verdict: agrees**" in good and "beats carry-forward" in good
    bad = findings.fit_law(_c05(t1=0.01, skill=1.5, r2=0.5))
    assert "**Verdict: disagrees**" in bad and "worse than carry-forward" in bad
    assert "**Verdict: agrees**" not in bad


def test_fit_law_box_counts_the_zero_floors_and_ranks_the_laws():
    text = findings.fit_law(_c05())
    assert "The floor C is 0 in 2 of 3 domains (math and code; 95 % bootstrap upper ends math 0.500, code 0.500)" in text
    assert "rank 4 of 4 laws (best: exponential at 0.965)" in text
    assert "baseline math (R² 0.400, a domain with C = 0)" in text
    assert "other domains' shares matter" in text
    other = findings.fit_law(_c05(c=(0.3, 0.2, 1.2), spearman={"bimix": 0.99, "exponential": 0.9}, ratio=1.2))
    assert "above 0 in all 3 domains" in other and "C = 0" not in other
    assert "the best of the 2 laws" in other and "rank 1" not in other
    assert "not contradicted" in other


# --------------------------------------------------------------------------------------------- 06
def _c06(gain=0.05, at_bound=None, outside=None, err=None, width=0.3, apart=(), finals=None, noise=0.02):
    at_bound = at_bound if at_bound is not None else {"math": "", "code": "lower", "books": "lower", "legal": "lower"}
    return {
        "gain_nats": [{"reference": "baseline", "values": [gain + 0.001 * i for i in range(5)], "end_slope": 0.05,
                       "lo": gain - noise, "hi": gain + noise},
                      {"reference": "ye_opt", "values": [gain / 2 + 0.001 * i for i in range(5)], "end_slope": 0.05},
                      {"reference": "uniform", "values": [gain + 0.001 * i for i in range(5)], "end_slope": 0.05}],
        "optimum": {"weights": {d: 0.25 for d in at_bound}, "at_bound": at_bound, "near_delta": 0.01,
                    "near_optimal": {"math": {"r_min": 0.1, "r_max": 0.1 + width}, "code": {"r_min": 0.2, "r_max": 0.21}},
                    "sensitivity": {"math": {"cost_plus": 0.0004, "cost_minus": 0.0005}}},
        "outside_fitted_shares": {"bimix_opt": outside if outside is not None else {"math": 0.188}},
        "prediction_error_final": err or {"mre": 0.115, "per_domain": {"math": 0.4, "code": 0.02}},
        "optimum_interval": {"natural_outside": list(apart)},
        "measured_final_avg_loss": finals or {"bimix_opt-c66bb62e": 4.10, "baseline": 4.15, "ye_opt-576d72d2": 4.12},
        "fitted_share_range": {"math": [0.03, 0.067], "code": [0.2, 0.3]},
    }


def test_optimum_box_bounds_extrapolation_and_error():
    text = findings.optimum(_c06())
    assert "lower bound (the smallest share it was fitted on) in 3 of 4 domains (code, books and legal)" in text
    assert "It gives **math** 0.188, 2.8× the largest share it was fitted on (0.067)" in text
    assert "11.5 % on average (Table 1's metric), worst in math (40.0 %), the extrapolated domain." in text
    assert "math's share ranges from 0.100 to 0.400 (30 points, the widest domain)" in text
    assert "costs at most 0.0005 nats. 0.01 nats is below the half-width" in text and "the objective is flat" in text
    assert "not distinguishable" in text
    assert "`bimix_opt` 4.1000 nats, the lowest of the 3 mixtures" in text


def test_optimum_box_says_the_opposite_when_the_numbers_do():
    text = findings.optimum(_c06(gain=-0.05, at_bound={"math": "", "code": ""}, outside={},
                                 err={"mre": 0.02, "per_domain": {"math": 0.01, "code": 0.03}}, width=0.02,
                                 apart=("code",), finals={"bimix_opt": 4.2, "baseline": 4.15}, noise=0.004))
    assert text.count("**Verdict: disagrees**") == 2 and "**Verdict: agrees**" not in text
    assert "beats the uniform mixture: **disagrees**" in text
    assert "in 0 of 2 domains." in text and "extrapolated there" not in text
    assert "Every share of the optimum lies within the shares the law was fitted on." in text
    assert "worst in code (3.0 %)." in text
    assert "objective is flat" not in text and "(0.004 nats): our runs can resolve" in text
    assert "(code): the optimum is distinguishable" in text
    assert "not the lowest (that is baseline, 4.1500)" in text


def test_optimum_box_agrees_with_a_large_gain():
    text = findings.optimum(_c06(gain=0.2))  # exp(0.2 / 0.05) = 55× the natural run's steps
    assert text.count("**Verdict: agrees**") == 2 and "beats the uniform mixture: **agrees** (+0.2" in text


# ------------------------------------------------------------------------------------------ 02, 04
def test_entropy_box_flatness_and_checks():
    mixtures = {"a": {"natural": 0.5, "se": 0.3, "je": 0.3, "ce": 0.3, "vne": 0.3},
                "b": {"natural": 0.1, "se": 0.2, "je": 0.2, "ce": 0.2, "vne": 0.2},
                "c": {"natural": 0.4, "se": 0.5, "je": 0.5, "ce": 0.5, "vne": 0.5}}
    claims = {"paper_chain_rule_gap": {"pile": 4e-5, "slimpajama": 3e-5}, "cost": {"cpu_seconds": 20.0, "ratio": 1e5},
              "tokenizers": {"bpe": {"mixtures": mixtures, "chain_rule_gap": 1e-3}}}
    text = findings.entropy_mixtures(claims)
    assert "all four are flatter than natural" in text and text.count("**Verdict: agrees**") == 2
    uneven = copy.deepcopy(claims)
    uneven["tokenizers"]["bpe"]["mixtures"]["b"].update(se=0.01, ce=0.01)
    uneven["paper_chain_rule_gap"]["pile"] = 1e-3
    text = findings.entropy_mixtures(uneven)
    assert "flatter than natural: JE, VNE" in text and "**Verdict: disagrees**" in text


def _c04(delta):
    mixtures = {"skewed": 4.0, "baseline": 4.0, "uniform": 4.0, "se": 4.0 + delta, "ce": 4.0 + 2 * delta,
                "je": 4.0 + delta, "vne": 4.0 + delta}
    return {"final_average_by_seed": {m: _by_seed([v + 0.001 * i for i in range(5)]) for m, v in mixtures.items()},
            "final_average_loss": {m: v + 0.002 for m, v in mixtures.items()}}


def test_pretraining_box_both_ways():
    good = findings.pretraining(_c04(-0.05))
    assert "**Verdict: agrees**" in good and "**ce**" in good and "an entropy mixture." in good
    assert "The same claim against the **natural** mixture (beyond the paper): **agrees**" in good
    assert "**The paper**: CE is the best entropy proxy (Fig. 5)" in good
    bad = findings.pretraining(_c04(+0.05))
    assert "**Verdict: disagrees**" in bad and "not an entropy mixture (best of those: se" in bad
    assert "against the **uniform** mixture (beyond the paper): **disagrees**" in bad


# -------------------------------------------------------------------------------------- 07, 08, 09
def test_public_runs_box_counts_tables_both_ways():
    def row(size, form, lomo, t1=None, t2=None):
        return {"table": "dmsl", "size": size, "form": form, "LOMO R2": lomo, "T1 error %": t1,
                "T1 skill (carry-fwd)": 0.6 if t1 else None, "T2 R2": t2, "T2 skill (null)": 0.3 if t2 else None}
    rows = [row("122M", "bimix", 0.97, 0.36, 0.875), row("122M", "exponential", 0.996),
            row("1B", "bimix", 0.99, 0.2, 0.98), row("1B", "exponential", 0.95)]
    text = findings.public_runs({"extract": {"by_size_table": rows, "slimpajama_claims": {
        "1235M": {"claim3": "agrees", "claim4": "inconclusive"}, "122M": {"claim3": "agrees", "claim4": "disagrees"},
        "310M": {"claim3": "agrees", "claim4": "disagrees"}}}})
    assert "in 1 of 2 table-sizes, and beats carrying" in text
    assert "mean R² at or above the paper's lowest (0.974) in 1 of 2" in text
    assert "above Ye et al.'s exponential law in 1 of 2 table-sizes (dmsl 1B)." in text
    assert "claim 3 (entropy mixtures below the Baseline): **agrees** at 3 of 3 sizes (122M, 310M and 1235M)." in text
    assert "claim 4 (CE lowest): **disagrees** at 2 of 3 sizes (122M and 310M); **inconclusive** at 1 of 3 sizes (1235M)." in text
    rows[3]["LOMO R2"] = 0.999
    assert "predicts the public runs better" in findings.public_runs({"extract": {"by_size_table": rows}})
    assert "No public table" in findings.public_runs({})


def test_regime_box():
    table = {"cpu (this profile)": {"table1_mean_last1": 0.004, "table2_baseline_mean": 0.91, "final_avg_loss": 4.0,
                                    "seed_std_final": 0.01},
             "small": {"table1_mean_last1": 0.002, "table2_baseline_mean": 0.98, "final_avg_loss": 4.5}}
    text = findings.regimes({"regimes": table, "reference": "cpu (this profile)"})
    assert "1 of 2 regimes at or below 0.3 % mean error (`small`)" in text
    assert "1 of 2 regimes reach the paper's lowest mean R²" in text
    table["small"].update(table1_mean_last1=0.01, table2_baseline_mean=0.5, final_avg_loss=4.005)
    text = findings.regimes({"regimes": table, "reference": "cpu (this profile)"})
    assert "0 of 2 regimes at or below" in text and "0 of 2 regimes reach" in text and "best `cpu (this profile)`" in text


def test_downstream_box_lead_or_not():
    claims = {"tasks": ["a", "b"], "final_average": {"bimix_opt-c66bb62e": 0.217, "div3": 0.25, "je": 0.2},
              "final_stderr": {"bimix_opt-c66bb62e": 0.008, "div3": 0.008, "je": 0.008}}
    text = findings.downstream(claims, {"bimix_opt-c66bb62e": 4.0, "div3": 4.2, "je": 4.1})
    assert "rank 2 of 3" in text and "1 mixture(s) score higher (div3)" in text and "no downstream lead" in text
    assert "Lowest final validation loss: **bimix_opt**" in text and "did not buy" in text
    claims["final_average"]["bimix_opt-c66bb62e"] = 0.3
    text = findings.downstream(claims, {"bimix_opt": 4.0, "div3": 4.2})
    assert "rank 1 of 3" in text and "a downstream lead beyond the noise" in text and "also scores highest" in text
    claims["final_average"]["bimix_opt-c66bb62e"] = 0.255
    assert "within the noise of the next" in findings.downstream(claims)
    assert "No downstream score" in findings.downstream({"note": "no checkpoints"})


def test_box_is_a_quoted_markdown_block():
    text = findings.box("x", ["one", "", "two"])
    assert text.startswith("> **What we found: x**") and text.count("> - ") == 2
