"""The paper-vs-compendium report and the README gallery."""

from __future__ import annotations

import json
import math
import re

import pytest

from bimix.compendium import report
from bimix.files import write_json
from bimix.paths import REPO_ROOT


def _results(finals: dict[str, list[float]], gains=(0.30, 0.28, 0.32), rival_gains=(0.2, 0.22, 0.21), slope=0.3,
             t1=(0.004, 0.0045, 0.0042), t1_skill=(0.3, 0.35, 0.32)):
    gain_rows = [{"reference": "baseline", "values": list(gains), "end_slope": slope},
                 {"reference": "ye_opt", "values": list(rival_gains), "end_slope": slope},
                 {"reference": "uniform", "values": [0.01, -0.02, 0.015], "end_slope": slope}]
    return {
        "04_proxy_pretraining": {"final_average_by_seed": {m: {str(i): v for i, v in enumerate(vals)}
                                                           for m, vals in finals.items()}},
        "05_fit_law": {"table1_by_seed": {str(i): {"mre_mean": e, "skill_carry_forward": k, "gap": 300 / 285}
                                          for i, (e, k) in enumerate(zip(t1, t1_skill))},
                       "table1_long_by_seed": {str(i): {"mre_mean": 2 * e, "skill_carry_forward": k, "gap": 1.25}
                                               for i, (e, k) in enumerate(zip(t1, t1_skill))},
                       "table2_by_seed": {s: {"baseline": {"mean": 0.99, "worst": 0.95, "skill_r2": 0.2},
                                              "doremi": {"mean": 0.80, "worst": 0.4, "skill_r2": 1.5},
                                              "uniform": {"mean": 0.99, "worst": 0.9, "skill_r2": 0.1}}
                                          for s in "012"}},
        "06_optimize_mixture": {"gain_nats": gain_rows},
        "02_entropy_mixtures": {"paper_chain_rule_gap": {"pile": 9.6e-5, "slimpajama": 4e-5},
                                "cost": {"cpu_seconds": 15.0}},
    }


T1 = "Step extrapolation of the final loss is accurate (Table 1)"
T2 = "The law predicts unseen mixtures at every step (Table 2, R² on log loss)"
ENT = "Entropy mixtures beat the Baseline on average log-perplexity (Fig. 5)"
EARLY = "The BiMix-optimised mixture reaches the Baseline's final loss early (Fig. 8)"
RIVAL = "The BiMix-optimised mixture needs half the steps of the one Ye et al.'s law optimises (Fig. 8)"


def _rows(text):
    """claim label -> {"ours", "skill", "seeds", "protocol", "compared"} cells of the cpu column."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and " [" in line:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0].rsplit(" [", 1)[0]] = {"protocol": cells[3], "compared": cells[4], "ours": cells[5],
                                                "skill": cells[6], "seeds": cells[7], "kind": cells[1],
                                                "scale": cells[8]}
    return out


def test_verdicts_follow_the_numbers():
    finals = {"baseline": [4.0, 4.1, 4.05], "skewed": [4.3, 4.4, 4.35], "se": [3.9, 4.0, 3.95],
              "ce": [3.8, 3.9, 3.85], "je": [3.95, 4.05, 4.0], "vne": [4.1, 4.2, 4.15]}
    rows = _rows(report.report_markdown({"cpu": _results(finals)}))
    assert rows[T1]["ours"].endswith("**disagrees**") and "1.05×" in rows[T1]["ours"]
    assert rows[T1]["skill"].endswith("beats carry-forward")
    assert rows[T1]["seeds"].isdigit()  # how many seeds would tell 0.42 % from the 0.3 % threshold
    assert rows[T2]["ours"].endswith("**disagrees**")
    # Table 2's skill per mixture: the baseline beats the mixture-blind null, DoReMi does worse than it
    assert "baseline:" in rows[T2]["skill"] and "beats the null" in rows[T2]["skill"]
    assert "doremi:" in rows[T2]["skill"] and "worse than the null" in rows[T2]["skill"]
    assert "uniform" not in rows[T2]["skill"]  # not one of the paper's held-out mixtures
    # the paper's claim 3 is judged against the skewed baseline: all four entropy mixtures below it
    assert rows[ENT]["ours"].endswith("— agrees") and "skewed" in rows[ENT]["compared"]
    natural = rows["… against the corpus's own natural mixture"]
    assert natural["ours"].endswith("**disagrees**") and "vne − baseline: +0.1000" in natural["ours"]
    assert rows["… against the uniform mixture (the paper never tested it)"]["ours"] == "not measured"
    assert rows["CE is the best entropy proxy (Fig. 5)"]["ours"].endswith("— agrees")
    # gains of 0.28-0.32 nats at 0.3 nats per e-fold: exp(1) = 2.7x, above 2.5 / 1.25 = 2x
    assert rows[EARLY]["ours"].endswith("— agrees") and "2.72×" in rows[EARLY]["ours"]
    # 0.21 nats: exp(0.7) = 2.0x, above 2 / 1.25 = 1.6x
    assert rows[RIVAL]["ours"].endswith("— agrees")
    uniform = rows["The BiMix optimum beats the uniform mixture (beyond the paper)"]
    assert uniform["ours"].endswith("**inconclusive**") and uniform["seeds"].isdigit()
    chain = rows["JE = renormalised SE × CE (chain rule, Tables 4/5)"]
    assert "9.6e-05" in chain["ours"] and "check of the paper's arithmetic" == chain["kind"]
    assert "check of cost" == rows["Entropy mixtures need no training (§4)"]["kind"]
    noisy = {**finals, "vne": [4.2, 4.5, 4.3]}  # below, above and below skewed: within noise
    rows = _rows(report.report_markdown({"cpu": _results(noisy, gains=(0.05, 0.1, 0.07), rival_gains=(-0.01, 0.02, 0.0),
                                                         t1=(0.001, 0.002, 0.0015), t1_skill=(1.2, 1.3, 1.25))}))
    assert rows[ENT]["ours"].endswith("**inconclusive**")
    assert rows[EARLY]["ours"].endswith("**disagrees**") and rows[RIVAL]["ours"].endswith("**disagrees**")
    assert rows[T1]["ours"].endswith("— agrees") and rows[T1]["skill"].endswith("worse than carry-forward")


def test_the_gain_rule_converts_nats_with_the_slope():
    from bimix.law import verdicts

    # the same 0.1-nat gain is 1.4x on a curve falling 0.3 nats per e-fold and 7.4x on one falling 0.05
    steep = verdicts.gain_rule([0.1, 0.1, 0.1], 0.3)
    flat = verdicts.gain_rule([0.1, 0.1, 0.1], 0.05)
    assert steep.outcome == verdicts.DISAGREES and flat.outcome == verdicts.AGREES
    assert "1.40×" in steep.measured and "7.39×" in flat.measured
    assert verdicts.gain_rule([0.1, 0.2], float("nan")).outcome == verdicts.NOT_MEASURED
    # seeds needed to tell a mean of 0.1 with sd 0.1 from 0: ceil(7.85) = 8
    assert verdicts.seeds_to_decide([0.0, 0.1, 0.2]) == 8
    assert math.isnan(verdicts.seeds_to_decide([0.1]))  # one seed has no spread


def test_every_rule_is_stated():
    text = report.report_markdown({"cpu": {"00_law_in_five_minutes": {}}})
    assert text.count("not measured") == len(report.CLAIMS)
    assert "Verdict rules" in text and f"{len(report.CLAIMS)}. " in text


def test_committed_extracts_stand_in_for_notebooks_not_run(tmp_path):
    finals = {"baseline": [4.0, 4.1, 4.05], "ce": [3.8, 3.9, 3.85], "se": [3.9, 4.0, 3.95],
              "skewed": [4.3, 4.4, 4.35], "uniform": [3.95, 4.0, 3.9]}
    build = tmp_path / "build"
    (build / "cpu" / "results").mkdir(parents=True)
    full = _results(finals)
    for name, result in full.items():
        (build / "cpu" / "results" / f"{name}.json").write_text(json.dumps({**result, "sweep_wall_s": 12.5}))
    (tmp_path / "figures").mkdir()
    report.write_report(["cpu"], build_dir=build, figures_dir=tmp_path / "figures", results_root=tmp_path / "res")
    first = (tmp_path / "figures" / "paper_vs_compendium.md").read_text()
    saved = json.loads((tmp_path / "res" / "cpu" / "04_proxy_pretraining.json").read_text())
    assert "sweep_wall_s" not in saved and saved["final_average_by_seed"]["ce"]["2"] == 3.85
    for path in (build / "cpu" / "results").glob("0[46]_*.json"):  # the fast path runs 00, 05, 07 only
        path.unlink()
    report.write_report(["cpu"], build_dir=build, figures_dir=tmp_path / "figures", results_root=tmp_path / "res")
    assert (tmp_path / "figures" / "paper_vs_compendium.md").read_text() == first
    assert "not measured" not in first


def test_readme_gallery_and_links_resolve():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- gallery:start -->" in readme and "<!-- report:start -->" in readme
    links = re.findall(r"\]\(((?:figures|notebooks)/[^)]+)\)", readme)
    for link in links:
        assert (REPO_ROOT / link).exists(), f"README links to missing {link}"
    for notebook in re.findall(r"`(notebooks/[0-9a-z_]+\.ipynb)`", readme):
        assert (REPO_ROOT / notebook).exists(), notebook


def test_every_committed_figure_is_in_the_gallery():
    stems = {stem for _, stem, _, _ in report.GALLERY}
    figures = {p.stem for p in (REPO_ROOT / "figures").glob("*.png")}
    assert figures <= stems, f"figures missing from the gallery: {sorted(figures - stems)}"


def test_write_report_refreshes_readme_blocks(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- report:start -->\nold\n<!-- report:end -->\n"
                      "<!-- gallery:start -->\n<!-- gallery:end -->\n", encoding="utf-8")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig1_loss_vs_steps.png").write_bytes(b"png")
    build = tmp_path / "build"
    (build / "cpu" / "results").mkdir(parents=True)
    for name, claims in _results({"baseline": [4.0], "ce": [3.9], "se": [3.95]}).items():
        write_json(build / "cpu" / "results" / f"{name}.json", claims)
    report.write_report(["cpu"], build_dir=build, figures_dir=tmp_path / "figures", readme=readme,
                        results_root=tmp_path / "res")
    text = readme.read_text(encoding="utf-8")
    assert "\nold\n" not in text and "ce − baseline: -0.1000 nats (1 seed)" in text
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
        report.write_report(["cpu", "gpu"], build_dir=build, figures_dir=figures, readme=readme,
                            results_root=tmp_path / "res")
    write_json(build / "cpu" / "results" / "05_fit_law.json", _results({})["05_fit_law"])  # fast path only
    with pytest.raises(report.ReportError, match="lack 02_entropy_mixtures, 04_proxy_pretraining, "
                                                 "06_optimize_mixture"):
        report.write_report(["cpu", "gpu"], build_dir=build, figures_dir=figures, readme=readme,
                            results_root=tmp_path / "res")
    assert "committed" in readme.read_text(encoding="utf-8")
    assert list(figures.iterdir()) == [] and not (tmp_path / "res").exists()
    # the command line: one line on stderr, non-zero, the repository's report untouched
    committed = (REPO_ROOT / "figures" / "paper_vs_compendium.md").read_bytes()
    assert main(["report", "--profiles", "laptop"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown profile 'laptop'; choose from: smoke, cpu") and err.count("\n") == 1
    if not (report.BUILD_DIR / "paper" / "results").exists():
        assert main(["report", "--profiles", "paper"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: no notebook results") and err.count("\n") == 1
    assert (REPO_ROOT / "figures" / "paper_vs_compendium.md").read_bytes() == committed


def test_gallery_captions_say_what_a_figure_shows_and_does_not_and_where_it_is_drawn():
    import json

    from bimix.compendium import plots
    from bimix.compendium.site import github_slug

    assert {stem for _, stem, _, _ in report.GALLERY} == set(report.GALLERY_NOTES)
    for _, stem, notebook, shows in report.GALLERY:
        functions, not_shown = report.GALLERY_NOTES[stem]
        assert shows and not_shown, stem
        section = report.figure_section(notebook, stem)
        assert section, f"{stem}: no cell of {notebook} saves it"
        cells = json.loads((REPO_ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
        saving = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
                  and re.search(r"save_figure|\.figure\(", "".join(c["source"]))
                  and re.search(rf"[\"']{re.escape(stem)}[\"'{{]", "".join(c["source"]))]
        assert len(saving) == 1, stem
        for f in functions:
            assert callable(getattr(plots, f, None)), f"{stem}: bimix.compendium.plots has no {f}"
        if functions:
            assert re.search(rf"\b{functions[0]}\b", saving[0]), f"{stem}: the cell does not call {functions[0]}"
    text = report.gallery_markdown(REPO_ROOT / "figures", REPO_ROOT / "docs")
    row = next(line for line in text.splitlines() if "(../figures/optimum_mixture.png)" in line)
    assert row.count(" | ") == 4, "paper, figure, shows, does not show, drawn by"
    slug = github_slug(report.figure_section("06_optimize_mixture", "optimum_mixture"))
    assert f"(../notebooks/06_optimize_mixture.ipynb#{slug})" in row
    assert "[`plots.plot_optimum`](../bimix/compendium/plots.py)" in row
    assert "95 % bootstrap interval" in row and "near-optimal" not in row


def test_the_at_scale_column_shows_notebook_11s_reading_or_a_dash():
    finals = {"baseline": [4.0, 4.1, 4.05], "skewed": [4.3, 4.4, 4.35], "se": [3.9, 4.0, 3.95],
              "ce": [3.8, 3.9, 3.85], "je": [3.95, 4.05, 4.0], "vne": [4.1, 4.2, 4.15]}
    results = _results(finals)
    without = _rows(report.report_markdown({"cpu": results}))
    assert all(row["scale"] == "—" for row in without.values())
    results["11_claims_vs_scale"] = {"readings": [
        {"claim": "table1", "reading": "misses at scale", "top": "2718M", "top_value": 0.2712},
        {"claim": "claim3", "reading": "closes with scale", "top": "2718M", "top_value": -0.054}]}
    text = report.report_markdown({"cpu": results})
    assert "| at scale (public runs) |" in text.splitlines()[3]
    rows = _rows(text)
    at_scale = {label: row["scale"] for label, row in rows.items() if row["scale"] != "—"}
    assert at_scale == {"Step extrapolation of the final loss is accurate (Table 1)": "misses at scale (2718M: 0.2712)",
                        "Entropy mixtures beat the Baseline on average log-perplexity (Fig. 5)":
                            "closes with scale (2718M: -0.054)"}
