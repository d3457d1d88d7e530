"""The paper-vs-compendium report and the README gallery."""

from __future__ import annotations

import re

import pytest

from bimix import report
from bimix.files import write_json
from bimix.paths import REPO_ROOT


def _results(**final):
    return {
        "04_proxy_pretraining": {"final_average_loss": final},
        "05_fit_law": {"table1_all": {"mre_mean": 0.004, "mre_worst": 0.012},
                       "table2": {"baseline": {"r2_log_mean": 0.99, "r2_log_worst": 0.95},
                                  "doremi": {"r2_log_mean": 0.80, "r2_log_worst": 0.4}}},
        "06_optimize_mixture": {"optimum": {"mixture_name": "bimix_opt"},
                                "speedup_vs_natural": {"bimix_opt": 1.6, "baseline": 1.0},
                                "steps_to_natural_final": {"bimix_opt": 300.0}},
        "02_entropy_mixtures": {"paper_chain_rule_gap": {"pile": 9.6e-5, "slimpajama": 4e-5},
                                "cost": {"cpu_seconds": 15.0}},
    }


def test_verdicts_follow_the_numbers():
    text = report.report_markdown({"cpu": _results(baseline=4.0, se=3.9, ce=3.8, je=3.95, vne=4.1)})
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "does not agree" in rows["Step extrapolation of the final loss is accurate (Table 1)"]
    assert "does not agree" in rows["The law predicts unseen mixtures at every step (Table 2, R² on log loss)"]
    assert "3/4 below baseline" in rows["Entropy mixtures beat the Baseline on average log-perplexity (Fig. 5)"]
    assert "best entropy mixture: ce" in rows["CE is the best entropy proxy (Fig. 5)"]
    assert rows["CE is the best entropy proxy (Fig. 5)"].endswith("agrees |")
    assert "1.60× fewer steps" in rows["The BiMix-optimised mixture reaches the Baseline's loss in fewer steps (Fig. 8)"]
    assert "9.6e-05" in rows["JE = renormalised SE × CE (chain rule, Tables 4/5)"]
    flipped = report.report_markdown({"cpu": _results(baseline=4.0, se=3.9, ce=3.95, je=3.8, vne=3.7)})
    assert "best entropy mixture: vne" in flipped and "(4/4 below baseline) — agrees" in flipped


def test_missing_results_say_not_measured():
    text = report.report_markdown({"cpu": {"00_law_in_five_minutes": {}}})
    assert text.count("not measured") == len(report.CLAIMS)


def test_readme_gallery_and_links_resolve():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- gallery:start -->" in readme and "<!-- report:start -->" in readme
    links = re.findall(r"\]\(((?:figures|notebooks)/[^)]+)\)", readme)
    for link in links:
        assert (REPO_ROOT / link).exists(), f"README links to missing {link}"
    for notebook in re.findall(r"`(notebooks/[0-9a-z_]+\.ipynb)`", readme):
        assert (REPO_ROOT / notebook).exists(), notebook


def test_write_report_refreshes_readme_blocks(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- report:start -->\nold\n<!-- report:end -->\n"
                      "<!-- gallery:start -->\n<!-- gallery:end -->\n", encoding="utf-8")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig1_loss_vs_steps.png").write_bytes(b"png")
    build = tmp_path / "build"
    (build / "cpu" / "results").mkdir(parents=True)
    for name, claims in _results(baseline=4.0, ce=3.9).items():
        write_json(build / "cpu" / "results" / f"{name}.json", claims)
    report.write_report(["cpu"], build_dir=build, figures_dir=tmp_path / "figures", readme=readme)
    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and "ce 3.9000" in text
    assert "(figures/fig1_loss_vs_steps.png)" in text
    assert (tmp_path / "figures" / "paper_vs_compendium.md").exists()


def test_report_refuses_absent_or_partial_results_and_writes_nothing(tmp_path, capsys):
    """A clone without build/, or one after the fast path only, keeps its committed report."""
    from bimix.cli import main

    readme = tmp_path / "README.md"
    readme.write_text("<!-- report:start -->\ncommitted\n<!-- report:end -->\n"
                      "<!-- gallery:start -->\n<!-- gallery:end -->\n", encoding="utf-8")
    figures, build = tmp_path / "figures", tmp_path / "build"
    figures.mkdir()
    with pytest.raises(report.ReportError, match="no notebook results"):
        report.write_report(["cpu", "gpu"], build_dir=build, figures_dir=figures, readme=readme)
    write_json(build / "cpu" / "results" / "05_fit_law.json", _results()["05_fit_law"])  # fast path only
    with pytest.raises(report.ReportError, match="lacks 02_entropy_mixtures, 04_proxy_pretraining, "
                                                 "06_optimize_mixture"):
        report.write_report(["cpu", "gpu"], build_dir=build, figures_dir=figures, readme=readme)
    assert "committed" in readme.read_text(encoding="utf-8")
    assert list(figures.iterdir()) == []
    # the command line: one line on stderr, non-zero, the repository's report untouched
    committed = (REPO_ROOT / "figures" / "paper_vs_compendium.md").read_bytes()
    assert main(["report", "--profiles", "laptop"]) == 2
    assert capsys.readouterr().err == "error: unknown profile 'laptop'; choose from: smoke, cpu, gpu, paper\n"
    if not (report.BUILD_DIR / "paper" / "results").exists():
        assert main(["report", "--profiles", "paper"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: no notebook results") and err.count("\n") == 1
    assert (REPO_ROOT / "figures" / "paper_vs_compendium.md").read_bytes() == committed
