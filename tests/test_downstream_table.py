"""The downstream table loses nothing: writers merge under a lock, one run's re-scoring keeps the
other runs' rows, a torn table is refused (or repaired on request) and bad options are refused
before any work. No model is trained here: rows are written as `evaluate` writes them."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from bimix.cli import main
from bimix.paths import REPO_ROOT
from bimix.train import evaluate, localtasks

TASKS = {"bimix_choice_books": ("acc", "acc_norm"), "bimix_lastword_books": ("acc", "perplexity")}
HASHES = {t: f"hash-{t[6:12]}" for t in TASKS}


def _rows(value: float = 0.5) -> list[dict]:
    return [{"task": t, "metric": m, "value": value, "stderr": 0.01} for t, ms in TASKS.items() for m in ms]


def _checkpoint(run: str, step: int) -> dict:
    return {"run": run, "mixture": run.split("-")[0], "seed": 0, "step": step}


@pytest.fixture()
def runs_dir(tmp_path):
    """A run-table folder with a downstream table of two runs at two steps, as `evaluate` writes it."""
    (tmp_path / "sidecars").mkdir()
    rows = [{**_checkpoint(run, step), **r} for run in ("baseline-s0", "ce-s0") for step in (100, 200)
            for r in _rows()]
    pd.DataFrame(rows).sort_values(["run", "step", "task", "metric"]).to_csv(
        tmp_path / "downstream.csv", index=False, lineterminator="\n", columns=list(evaluate.COLUMNS))
    (tmp_path / "downstream.json").write_text(json.dumps({"task_hashes": HASHES}))
    return tmp_path


def _groups(table) -> set:
    return set(zip(table["run"], table["step"].astype(int), table["task"]))


def test_merges_keep_other_runs_and_rescoring_one_run_replaces_only_its_rows(runs_dir):
    table = evaluate.read_table(runs_dir / "downstream.csv")
    assert len(table) == 16 and len(_groups(table)) == 8
    # one run scored again on the first documents only (`--runs baseline-s0 --limit 5`)
    limited = {t: f"{h}/limit=5" for t, h in HASHES.items()}
    evaluate.merge_scores(runs_dir, _checkpoint("baseline-s0", 200), _rows(0.9), limited)
    table = evaluate.read_table(runs_dir / "downstream.csv")
    ce = table[table["run"] == "ce-s0"]
    assert len(ce) == 8 and (ce["value"] == 0.5).all()  # the other run's rows are all there
    base = table[table["run"] == "baseline-s0"]
    assert set(base["step"]) == {200} and (base["value"] == 0.9).all()  # its other step is stale: gone
    meta = json.loads((runs_dir / "downstream.json").read_text())
    assert meta["task_hashes_by_run"]["ce-s0"] == HASHES and meta["task_hashes_by_run"]["baseline-s0"] == limited
    evaluate.merge_scores(runs_dir, _checkpoint("ce-s0", 300), _rows(0.7), HASHES)
    table = evaluate.read_table(runs_dir / "downstream.csv")
    assert len(table[table["run"] == "ce-s0"]) == 12 and len(table[table["run"] == "baseline-s0"]) == 4


_WRITER = """
import sys
from bimix.train import evaluate
folder, run = sys.argv[1], sys.argv[2]
rows = [{"task": "bimix_choice_books", "metric": m, "value": 0.5, "stderr": 0.01} for m in ("acc", "acc_norm")]
for step in range(1, 16):
    evaluate.merge_scores(folder, {"run": run, "mixture": run, "seed": 0, "step": step}, rows,
                          {"bimix_choice_books": "h"}, timing={"run": run, "step": step})
"""


def test_concurrent_writers_lose_no_rows(tmp_path):
    """Three processes merging into one table at once: every row and every timing survives."""
    runs = ("a", "b", "c")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), run], cwd=REPO_ROOT,
                              stderr=subprocess.PIPE, text=True) for run in runs]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    table = evaluate.read_table(tmp_path / "downstream.csv")
    assert _groups(table) == {(r, s, "bimix_choice_books") for r in runs for s in range(1, 16)}
    assert len(table) == 2 * 3 * 15
    assert len(json.loads((tmp_path / "downstream.json").read_text())["timings"]) == 3 * 15


def _evaluate(runs_dir, *extra):
    return main(["evaluate", "--profile", "smoke", "--runs-dir", str(runs_dir), "--device", "cpu", *extra])


@pytest.mark.parametrize("cut, says", [
    (lambda text: text[:-9], "is cut mid-row"),  # a write stopped inside the last row
    (lambda text: text[:text.rindex("\n", 0, -1) + 1], "lack metrics the task has elsewhere"),  # at a line end
    (lambda text: text.replace(",acc_norm,", ",,", 1), "empty or non-integer required fields"),
])
def test_torn_tables_are_refused_then_repaired_on_request(runs_dir, capsys, cut, says):
    csv = runs_dir / "downstream.csv"
    intact = evaluate.read_table(csv)
    csv.write_text(cut(csv.read_text()))
    torn = csv.read_bytes()
    assert _evaluate(runs_dir) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {csv} is torn: ") and "--repair" in err
    with pytest.raises(evaluate.TableError, match=says):
        evaluate.read_table(csv)
    assert csv.read_bytes() == torn  # refused, not rewritten
    # --repair drops the whole (run, step, task) group at fault, then goes on (here: no model to score)
    assert _evaluate(runs_dir, "--repair") == 1
    err = capsys.readouterr().err
    assert f"repaired {csv}" in err and "scores them again" in err and "no run in" in err
    repaired = evaluate.read_table(csv)
    lost = _groups(intact) - _groups(repaired)
    assert len(lost) == 1  # the one group at fault: evaluate scores it again, as it lacks it now
    kept = repaired.merge(intact, how="left", indicator=True)
    assert (kept["_merge"] == "both").all() and len(repaired) == len(intact) - 2


def test_a_table_without_its_columns_is_refused_unrepaired(runs_dir, capsys):
    csv = runs_dir / "downstream.csv"
    csv.write_text("run,step,value\nx,1,0.5\n")
    assert _evaluate(runs_dir, "--repair") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no column(s) mixture, seed, task, metric, stderr" in err
    assert csv.read_text() == "run,step,value\nx,1,0.5\n"
    csv.write_text("run,mixture,se")  # the first write of a table, cut inside its header
    assert _evaluate(runs_dir) == 2
    assert "is cut inside its header" in capsys.readouterr().err


def test_bad_options_are_refused_before_any_work(runs_dir, bimix_cache, capsys):
    tasks = bimix_cache / "tasks"  # shared by the session: other tests may have built tasks there
    before = sorted(tasks.rglob("*")) if tasks.exists() else []
    for extra, says in ((("--n-items", "-5"), "--n-items must be a positive integer, got -5"),
                        (("--limit", "0"), "--limit must be a positive integer"),
                        (("--batch-size", "-1"), "--batch-size must be a positive integer")):
        assert _evaluate(runs_dir, *extra) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {says}") and err.count("\n") == 1
    assert (sorted(tasks.rglob("*")) if tasks.exists() else []) == before  # no task file written
    with pytest.raises(localtasks.TaskBuildError, match="n_items must be an integer >= 1, got -5"):
        localtasks.LocalTaskConfig.for_context(128, n_items=-5)
    assert main(["evaluate", "--profile", "smoke", "--runs-dir", str(runs_dir), "--device", "gpu0"]) == 2
    assert capsys.readouterr().err.startswith("error: --device gpu0: ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_one_line(runs_dir, capsys):
    assert main(["evaluate", "--profile", "smoke", "--runs-dir", str(runs_dir), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --device cuda: ") and "--device cpu" in err


def test_summaries_never_meet_a_torn_row(runs_dir):
    """The crash of the issue (`'NAType' object has no attribute 'split'`) came from a metric left
    empty by a torn row; a verified read stops before the summary."""
    csv = runs_dir / "downstream.csv"
    csv.write_text(csv.read_text()[:-len("perplexity,0.5,0.01\n")])
    with pytest.raises(ValueError, match="is torn"):  # TableError, which the command reports in one line
        evaluate.summarise(evaluate.read_table(csv))
    table = pd.read_csv(csv, dtype={"metric": "string", "task": "string"})  # unverified, as before
    assert table["metric"].isna().any()
