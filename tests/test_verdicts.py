"""Every verdict rule, driven to each of its three outcomes by constructed inputs."""

from __future__ import annotations

import pytest

from bimix.law import verdicts as v


def test_interval_is_a_t_interval():
    iv = v.interval([1.0, 2.0, 3.0])
    assert iv.n == 3 and iv.mean == 2.0
    assert iv.hi - iv.mean == pytest.approx(4.302653 * 1.0 / 3 ** 0.5, rel=1e-5)
    one = v.interval([0.5])
    assert (one.lo, one.hi, one.n) == (0.5, 0.5, 1)
    assert v.interval([float("nan")]) is None


@pytest.mark.parametrize("values, outcome", [
    ([0.001, 0.0012, 0.0011], v.AGREES),
    ([0.010, 0.011, 0.012], v.DISAGREES),
    ([0.001, 0.005, 0.003], v.INCONCLUSIVE),
    ([], v.NOT_MEASURED),
])
def test_table1(values, outcome):
    assert v.table1_rule(values).outcome == outcome


@pytest.mark.parametrize("mean, worst, outcome", [
    ([0.99, 0.991, 0.989], [0.95, 0.96, 0.95], v.AGREES),
    ([0.90, 0.91, 0.905], [0.95, 0.96, 0.95], v.DISAGREES),
    ([0.99, 0.991, 0.989], [0.5, 0.52, 0.51], v.DISAGREES),
    ([0.96, 0.99, 0.975], [0.95, 0.96, 0.95], v.INCONCLUSIVE),
])
def test_table2(mean, worst, outcome):
    verdict = v.table2_rule({"baseline": {"mean": mean, "worst": worst},
                             "doremi": {"mean": [0.99, 0.99, 0.991], "worst": [0.9, 0.9, 0.91]}})
    assert verdict.outcome == outcome
    assert "0.974" in verdict.rule


@pytest.mark.parametrize("diffs, outcome", [
    ({"se": [-0.02, -0.03, -0.025], "ce": [-0.01, -0.012, -0.011]}, v.AGREES),
    ({"se": [-0.02, -0.03, -0.025], "ce": [0.01, 0.012, 0.011]}, v.DISAGREES),
    ({"se": [-0.02, -0.03, -0.025], "ce": [-0.01, 0.01, 0.0]}, v.INCONCLUSIVE),
])
def test_paired_below(diffs, outcome):
    assert v.paired_below(diffs, "baseline").outcome == outcome


@pytest.mark.parametrize("diffs, outcome", [
    ({"se": [-0.02, -0.03, -0.025], "je": [-0.01, -0.012, -0.011]}, v.AGREES),
    ({"se": [0.02, 0.03, 0.025], "je": [-0.01, -0.012, -0.011]}, v.DISAGREES),
    ({"se": [-0.02, 0.03, 0.0], "je": [-0.01, -0.012, -0.011]}, v.INCONCLUSIVE),
])
def test_best_of(diffs, outcome):
    assert v.best_of(diffs, "ce").outcome == outcome


@pytest.mark.parametrize("speedups, reached, outcome", [
    ([2.6, 2.5, 2.4], True, v.AGREES),
    ([1.05, 1.07, 1.06], True, v.DISAGREES),
    ([1.2, 3.4, 2.3], True, v.INCONCLUSIVE),
    ([], False, v.DISAGREES),
])
def test_speedup_compares_with_the_papers_two_and_a_half(speedups, reached, outcome):
    verdict = v.speedup_rule(speedups, reached=reached)
    assert verdict.outcome == outcome
    assert "2.5×" in verdict.rule and "2.00×" in verdict.rule


@pytest.mark.parametrize("ratios, outcome", [
    ([2.1, 2.0, 1.9], v.AGREES),
    ([1.0, 1.05, 0.95], v.DISAGREES),
    ([1.2, 2.4, 1.8], v.INCONCLUSIVE),
])
def test_rival_ratio_compares_with_two(ratios, outcome):
    verdict = v.speedup_rule(ratios, paper=v.RIVAL_RATIO_PAPER, what="ratio")
    assert verdict.outcome == outcome
    assert "the paper's 2×" in verdict.rule and "1.60×" in verdict.rule and "ratio" in verdict.rule


def test_arithmetic_and_cost_are_labelled():
    assert v.chain_rule_rule(5e-5).outcome == v.AGREES and v.chain_rule_rule(5e-5).kind == v.ARITHMETIC
    assert v.chain_rule_rule(1e-3).outcome == v.DISAGREES
    assert v.chain_rule_rule(None).outcome == v.NOT_MEASURED
    assert v.cost_rule(20.0).outcome == v.AGREES and v.cost_rule(20.0).kind == v.COST
    assert v.cost_rule(1e5).outcome == v.DISAGREES


def test_combine():
    assert v.combine([v.AGREES, v.AGREES]) == v.AGREES
    assert v.combine([v.AGREES, v.INCONCLUSIVE]) == v.INCONCLUSIVE
    assert v.combine([v.INCONCLUSIVE, v.DISAGREES]) == v.DISAGREES
    assert v.combine([]) == v.NOT_MEASURED
