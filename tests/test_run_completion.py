"""A run is complete only when its rows are in the table it names; a run whose loss stops being finite
fails instead of finishing; two config files with one name cannot share a run table. Smoke profile,
tiny runs, each in its own temporary folders (the session's $BIMIX_CACHE)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from bimix.config import config_hash, load_config
from bimix.data.runs import read_runs
from bimix.profiles import get_profile, register
from bimix.train import proxy, sweep

SMOKE_PROFILE = get_profile("smoke")  # resolved once, as the CLI and notebooks do
SMOKE = SMOKE_PROFILE.proxy
STEPS = 10


def tiny(**train):
    return dataclasses.replace(SMOKE, train=dataclasses.replace(SMOKE.train, steps=STEPS, n_evals=3, **train))


def bimix(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # BIMIX_CACHE: the session's, set by the fixture
    return subprocess.run([sys.executable, "-m", "bimix", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def sorted_rows(csv_path) -> pd.DataFrame:
    return read_runs(csv_path).sort_values(["step", "domain"]).reset_index(drop=True)


def test_a_deleted_table_is_written_back_from_the_finished_checkpoint(smoke_store, tmp_path, one_thread):
    out = tmp_path / "table"
    spec = proxy.make_spec(SMOKE_PROFILE, "uniform", smoke_store, config=proxy.override_config(SMOKE, steps=STEPS))
    proxy.train_run(spec, smoke_store, out_dir=out, resume=False)  # the run `train` below names
    rows = sorted_rows(out / "runs.csv")
    assert torch.load(proxy.checkpoint_path(spec, out), weights_only=False)["state"]["step"] == STEPS

    shutil.rmtree(out)  # the table folder goes; the finished checkpoint stays in the cache
    again = bimix("train", "--profile", "smoke", "--mixture", "uniform", "--steps", str(STEPS), "--threads", "1",
                  "--out", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{spec.run_id}: complete at step {STEPS}" in again.stdout
    pd.testing.assert_frame_equal(sorted_rows(out / "runs.csv"), rows, check_exact=True)
    assert len(rows) == len(proxy.eval_schedule(spec.config.train)) * len(smoke_store.domains)
    assert proxy.is_complete(spec, out)


def test_complete_needs_every_row_and_a_sweep_restores_them(smoke_store, tmp_path, one_thread):
    config = tiny()
    spec = proxy.make_spec(SMOKE_PROFILE, "uniform", smoke_store, config=config)
    proxy.train_run(spec, smoke_store, out_dir=tmp_path, resume=False)
    csv_path = tmp_path / "runs.csv"
    full = csv_path.read_text()
    assert proxy.is_complete(spec, tmp_path)

    lines = full.splitlines(keepends=True)
    csv_path.write_text("".join(lines[:-1]))  # one domain's row at the last step is gone
    assert not proxy.is_complete(spec, tmp_path)
    csv_path.write_text("")  # created by a writer killed before its header
    assert not proxy.is_complete(spec, tmp_path)
    csv_path.unlink()  # the sidecar still says complete
    assert json.loads((tmp_path / "sidecars" / f"{spec.run_id}.json").read_text())["status"] == "complete"
    assert not proxy.is_complete(spec, tmp_path)
    assert sweep.plan(SMOKE_PROFILE, ["uniform"], (spec.seed,), smoke_store, config, tmp_path) == \
        [sweep.Job("run", "uniform", spec.seed)]
    done = sweep.sweep(SMOKE_PROFILE, ["uniform"], (spec.seed,), config=config, out_dir=tmp_path, workers=1,
                       store=smoke_store, show_progress=False)
    assert done == [spec.run_id]
    assert sorted(csv_path.read_text().splitlines()) == sorted(full.splitlines())
    assert proxy.is_complete(spec, tmp_path)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_diverging_run_stops_with_an_error_and_is_not_complete(smoke_store, tmp_path):
    # a finite learning rate passes the config checks; this one blows the weights up within a few steps
    config = write(tmp_path, "diverge.toml", f'profile = "smoke"\nname = "diverge"\n'
                                             f'proxy.train.steps = {STEPS}\nproxy.train.lr = 1e30\n')
    out = tmp_path / "out"
    result = bimix("train", "--config", str(config), "--mixture", "uniform", "--out", str(out))
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # beside tqdm's bar
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert errors[0].startswith("error: run uniform-s0-") and "not finite" in errors[0], errors
    sidecars = list((out / "sidecars").glob("*.json"))
    assert len(sidecars) == 1
    side = json.loads(sidecars[0].read_text())
    assert side["status"] == "failed" and "not finite" in side["error"]
    if (out / "runs.csv").exists():
        assert read_runs(out / "runs.csv")["loss"].map(pd.notna).all()


def test_two_configs_with_one_name_cannot_share_a_table(smoke_store, tmp_path):
    text = f'profile = "smoke"\nname = "shared-name"\nproxy.train.steps = 4\nproxy.train.n_evals = 1\n'
    first = write(tmp_path, "first.toml", text)
    other = write(tmp_path, "other.toml", text + "proxy.train.lr = 1e-3\n")
    out = tmp_path / "out"
    args = ("train", "--mixture", "uniform", "--out", str(out))
    done = bimix(*args, "--config", str(first))
    assert done.returncode == 0, done.stderr[-2000:]
    refused = bimix(*args, "--config", str(other))
    assert refused.returncode == 2, refused.stderr[-2000:]
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]  # beside tqdm's bar
    line, = errors
    assert "Traceback" not in refused.stderr
    assert line.startswith("error: profile 'shared-name'") and "different config with the same name" in line
    assert len(list((out / "sidecars").glob("*.json"))) == 1  # nothing of the second config was written

    profile = register(load_config(first))  # the same file again is welcome (in this process: cheaper)
    spec = proxy.make_spec(profile, "uniform", smoke_store, config=profile.proxy)
    assert proxy.train_run(spec, smoke_store, out_dir=out)["config_hash"] == config_hash(profile)
    assert proxy.is_complete(spec, out)


def test_a_run_folder_needs_its_own_doremi_proxy(smoke_store, tmp_path, one_thread):
    """The doremi mixture file lives in the shared store; a folder without the proxy run that made it
    (reproduce --from-scratch into an empty folder) plans the proxy, and does not borrow the mixture."""
    config = tiny()
    first, second = tmp_path / "a", tmp_path / "b"
    sweep.sweep(SMOKE_PROFILE, ["baseline", "doremi"], (0,), config=config, out_dir=first, workers=1,
                store=smoke_store, show_progress=False)
    assert sweep.doremi_is_current(SMOKE_PROFILE, smoke_store, config, 0, out_dir=first)
    assert not sweep.doremi_is_current(SMOKE_PROFILE, smoke_store, config, 0, out_dir=second)
    assert all(j.kind != "doremi" for j in sweep.plan(SMOKE_PROFILE, ["baseline", "doremi"], (0,), smoke_store,
                                                       config, first))
    jobs = sweep.plan(SMOKE_PROFILE, ["baseline", "doremi"], (0,), smoke_store, config, second)
    assert sweep.Job("doremi", "doremi", 0) in jobs
