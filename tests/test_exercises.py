"""Exercises through the runner: parameters other than the committed run's never write tracked files."""

from __future__ import annotations

import os

import pytest

from bimix.compendium import reproduce
from bimix.paths import FIGURES_DIR, RUNS_DIR


def test_only_values_other_than_the_committed_run_make_an_exercise():
    assert reproduce.exercise_parameters("cpu", ["05_fit_law"], {"holdout_last": 3}) == {
        "05_fit_law": {"holdout_last": [1, 3]}}
    assert reproduce.exercise_parameters("cpu", ["05_fit_law"], {"holdout_last": 1}) == {}
    assert reproduce.exercise_parameters("cpu", ["05_fit_law"], {}) == {}
    # the registry's value for the profile is the committed one (smoke fits with 20 bootstrap replicates)
    assert reproduce.exercise_parameters("smoke", ["05_fit_law"], {"n_bootstrap": 20}) == {}
    assert reproduce.exercise_parameters("smoke", ["05_fit_law"], {"n_bootstrap": 200}) == {
        "05_fit_law": {"n_bootstrap": [20, 200]}}


def _planned(**kw):
    manifest = reproduce.reproduce("cpu", ["05_fit_law"], dry_run=True, progress=False, **kw)
    (entry,) = manifest["planned"]
    return manifest, entry["parameters"]


def test_an_exercise_is_routed_to_the_scratch_folder():
    scratch = reproduce.exercise_dir("cpu")
    manifest, params = _planned(extra={"holdout_last": 3})
    assert manifest["exercise"] == {"05_fit_law": {"holdout_last": [1, 3]}}
    assert params["figures_dir"] == str(scratch / "figures")
    assert params["results_dir"] == str(scratch / "results")
    assert params["runs_dir"] == str(scratch / "runs")
    # the committed run itself still draws into figures/ and reads data/runs/cpu
    manifest, params = _planned(extra={"holdout_last": 1})
    assert manifest["exercise"] == {} and params["figures_dir"] == str(FIGURES_DIR) and "runs_dir" not in params


def test_folders_a_caller_routes_are_not_an_exercise_and_are_kept(tmp_path):
    assert reproduce.exercise_parameters("cpu", ["05_fit_law"], {"runs_dir": str(tmp_path)}) == {}
    manifest, params = _planned(extra={"runs_dir": str(tmp_path), "holdout_last": 3})
    assert manifest["exercise"] == {"05_fit_law": {"holdout_last": [1, 3]}}
    assert params["runs_dir"] == str(tmp_path) and params["figures_dir"] != str(FIGURES_DIR)


def test_an_exercise_refuses_to_draw_into_the_committed_figures():
    with pytest.raises(reproduce.ParameterError, match="differ from the committed run"):
        _planned(extra={"holdout_last": 3}, figures_dir=FIGURES_DIR)


def test_the_exercise_gets_its_own_copy_of_the_committed_runs(tmp_path, monkeypatch):
    committed = tmp_path / "data" / "runs"
    (committed / "cpu" / "sidecars").mkdir(parents=True)
    (committed / "cpu" / "runs.csv").write_text("run,mixture\na,se\n")
    (committed / "cpu" / "sidecars" / "a.json").write_text("{}")
    monkeypatch.setattr(reproduce, "RUNS_DIR", committed)
    copy = tmp_path / "exercise" / "runs"
    assert reproduce.seed_exercise_runs("cpu", copy)
    assert (copy / "runs.csv").read_text() == "run,mixture\na,se\n" and (copy / "sidecars" / "a.json").is_file()
    (copy / "runs.csv").write_text("run,mixture\na,se\nb,mine\n")  # a run the exercise trained
    assert not reproduce.seed_exercise_runs("cpu", copy)  # kept, not overwritten
    assert "mine" in (copy / "runs.csv").read_text()
    assert not reproduce.seed_exercise_runs("gpu", tmp_path / "other")  # nothing committed: nothing copied


@pytest.mark.slow
def test_an_exercise_run_leaves_every_tracked_file_alone(tmp_path, monkeypatch):
    """Notebook 00 with another noise level, through the runner on `cpu`: its figures land in the
    scratch folder and the committed ones keep their bytes."""
    monkeypatch.setattr(reproduce, "BUILD_DIR", tmp_path)
    tracked = sorted(FIGURES_DIR.glob("*_synthetic.png"))
    assert tracked, "notebook 00's committed figures are missing"
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in tracked}
    manifest = reproduce.reproduce("cpu", ["00_law_in_five_minutes"], extra={"noise": 0.005, "n_bootstrap": 20},
                                   progress=False)
    assert manifest["notebooks"][0]["status"] == "ok"
    drawn = tmp_path / "cpu-exercise" / "figures"
    assert {p.name for p in drawn.glob("*_synthetic.png")} >= {p.name for p in tracked}
    assert (tmp_path / "cpu-exercise" / "results" / "00_law_in_five_minutes.json").is_file()
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in tracked} == before
    assert RUNS_DIR.is_dir()
