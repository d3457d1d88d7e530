"""Proxy pretraining on the smoke token store: tiny models, real training, real subprocesses."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from bimix.train import proxy, sweep
from bimix.data.mixtures import Mixture, largest_remainder
from bimix.profiles import get_profile
from bimix.data.runs import read_runs, validate_runs

SMOKE_PROFILE = get_profile("smoke")  # resolved once, as the CLI and notebooks do
SMOKE = SMOKE_PROFILE.proxy


def _config(**train):
    return dataclasses.replace(SMOKE, train=dataclasses.replace(SMOKE.train, **train))


def test_model_is_the_papers_family():
    net = proxy.build_model(SMOKE.model, vocab_size=1024, seed=0)
    assert net.get_output_embeddings().weight is net.get_input_embeddings().weight
    assert net.config.rope_parameters["partial_rotary_factor"] == pytest.approx(0.25)
    assert net.config.hidden_dropout == 0 and net.config.attention_dropout == 0
    same = proxy.build_model(SMOKE.model, vocab_size=1024, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), same.parameters()))


def test_schedule_warms_up_then_decays_tenfold():
    f = [proxy.lr_factor(s, 100, 0.06, 10.0) for s in range(100)]
    assert f[0] == pytest.approx(1 / 6) and f[5] == pytest.approx(1.0)
    assert f[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[5:], f[6:]))
    steps = proxy.eval_schedule(dataclasses.replace(SMOKE.train, steps=1000, n_evals=8))
    assert steps[0] == 60 and steps[-1] == 1000 and steps == sorted(set(steps))
    ratios = np.diff(np.log(steps))
    assert np.allclose(ratios, ratios.mean(), rtol=0.05)


def test_sampler_counts_match_mixture_and_windows_are_paired():
    rng = np.random.default_rng(0)
    streams = {d: rng.integers(0, 100, 5000).astype(np.uint16) for d in "abcd"}
    r = np.array([0.5, 0.3, 0.15, 0.05])
    sampler = proxy.MixtureSampler(streams, "abcd", r, seq_len=16, batch_size=10, seed=3)
    first_counts = sampler.counts()
    expected = largest_remainder(Mixture("m", dict(zip("abcd", r))), list("abcd"), 10)
    assert first_counts.tolist() == list(expected)
    seen = {d: [] for d in range(4)}
    for step in range(1, 41):
        windows, ids = sampler.next_batch()
        assert windows.shape == (10, 17) and len(ids) == 10
        for w, i in zip(windows, ids):
            seen[int(i)].append(w)
        assert np.all(np.abs(sampler.consumed - r * 10 * step) < 1)
    # the same seed with another mixture draws the same windows of each domain, in the same order
    other = proxy.MixtureSampler(streams, "abcd", np.array([0.1, 0.2, 0.3, 0.4]), 16, 10, seed=3)
    for _ in range(20):
        windows, ids = other.next_batch()
        for i in range(4):
            mine = [w for w, j in zip(windows, ids) if j == i]
            k0 = int(other.consumed[i]) - len(mine)
            for k, w in enumerate(mine):
                if k0 + k < len(seen[i]):
                    assert np.array_equal(w, seen[i][k0 + k])
    # windows are contiguous slices of the stream
    w = sampler.window(0, 0)
    s = streams["a"]
    starts = [j for j in range(len(s) - 16) if np.array_equal(s[j:j + 17], w)]
    assert starts


def test_sampler_warns_past_epoch_limit():
    streams = {"a": np.arange(200, dtype=np.uint16), "b": np.arange(5000, dtype=np.uint16)}
    sampler = proxy.MixtureSampler(streams, "ab", np.array([0.5, 0.5]), 16, 4, seed=0, epoch_limit=2)
    with pytest.warns(proxy.EpochWarning, match="'a'"):
        for _ in range(20):
            sampler.next_batch()


def test_bad_mixture_is_rejected():
    streams = {"a": np.arange(200, dtype=np.uint16)}
    with pytest.raises(proxy.TrainError, match="sum to 1"):
        proxy.MixtureSampler(streams, "a", np.array([0.7]), 16, 4, seed=0)


def test_smoke_run_loss_falls_and_writes_run_table(smoke_store, tmp_path, one_thread):
    config = _config(steps=40, n_evals=3)
    spec = proxy.make_spec(SMOKE_PROFILE, "uniform", smoke_store, config=config)
    result = proxy.train_run(spec, smoke_store, out_dir=tmp_path, resume=False)
    averages = [e["average"] for e in result["evals"]]
    assert averages[-1] < averages[0] - 0.3, averages
    assert averages[-1] < np.log(smoke_store.vocab_size) - 1
    table = validate_runs(read_runs(tmp_path / "runs.csv"))
    assert set(table["domain"]) == set(smoke_store.domains)
    assert sorted(set(table["step"])) == proxy.eval_schedule(config.train)
    assert np.allclose(table["r"], 1 / len(smoke_store.domains))
    assert (table["tokens"] == table["step"] * config.train.batch_size * config.model.seq_len).all()
    side = result
    for key in ("corpus_hash", "code_version", "tokenizer", "wall_time_s", "tokens_per_s", "weights"):
        assert side[key], key
    assert 0 < side["eval_time_s"] < side["wall_time_s"]  # evaluation is timed, inside the run's time
    assert side["status"] == "complete"


def test_evaluation_sets_identical_across_runs(smoke_store, tmp_path, one_thread):
    config = _config(steps=4, n_evals=1)
    hashes = set()
    for mixture in ("uniform", "baseline"):
        spec = proxy.make_spec(SMOKE_PROFILE, mixture, smoke_store, config=config)
        hashes.add(proxy.train_run(spec, smoke_store, out_dir=tmp_path, resume=False)["validation_hash"])
    assert len(hashes) == 1
    a = proxy.validation_windows(smoke_store, 64, 8)
    b = proxy.validation_windows(smoke_store, 64, 8)
    assert all(np.array_equal(a[d], b[d]) for d in a)
    assert proxy.validation_hash(a) == hashes.pop()


def test_resume_after_sigkill_reproduces_losses(smoke_store, tmp_path, one_thread):
    steps = 80
    config = proxy.override_config(SMOKE, steps=steps)  # what `train --steps` runs
    spec = proxy.make_spec(SMOKE_PROFILE, "baseline", smoke_store, config=config, device="cpu")
    ckpt = proxy.checkpoint_path(spec, tmp_path / "killed")
    ckpt.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bimix", "train", "--profile", "smoke", "--mixture", "baseline",
           "--steps", str(steps), "--threads", "1", "--out", str(tmp_path / "killed"), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "child.log", "w")
    child = subprocess.Popen(cmd + ["--no-resume"], env=env, stdout=log, stderr=log)
    deadline = time.time() + 90
    while time.time() < deadline and not ckpt.exists() and child.poll() is None:
        time.sleep(0.02)
    time.sleep(0.1)  # let it run past the first checkpoint
    child.send_signal(signal.SIGKILL)
    child.wait()
    log.close()
    assert child.returncode == -signal.SIGKILL, (tmp_path / "child.log").read_text()[-2000:]
    killed_at = torch.load(ckpt, weights_only=False)["state"]["step"]
    assert 0 < killed_at < steps, "the run ended before it could be killed"
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

    uninterrupted = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "straight", resume=False)
    assert uninterrupted["status"] == "complete"
    a = read_runs(tmp_path / "killed" / "runs.csv").sort_values(["step", "domain"]).reset_index(drop=True)
    b = read_runs(tmp_path / "straight" / "runs.csv").sort_values(["step", "domain"]).reset_index(drop=True)
    assert len(a) == len(b) == len(proxy.eval_schedule(config.train)) * len(smoke_store.domains)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def _ddp_worker(rank, world, init_file, cache, out, steps):
    os.environ["BIMIX_CACHE"] = cache
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from bimix.data.tokens import open_store

        store = open_store(SMOKE_PROFILE, "bpe", progress=False)
        config = _config(steps=steps, n_evals=3)
        spec = proxy.make_spec(SMOKE_PROFILE, "baseline", store, config=config, device="cpu")
        proxy.train_run(spec, store, out_dir=out, resume=False)
    finally:
        torch.distributed.destroy_process_group()


def _start_method() -> str:
    return "spawn" if torch.cuda.is_initialized() else "fork"


def test_ddp_two_processes_match_single_process(smoke_store, tmp_path, one_thread):
    steps = 20
    # fork: the workers inherit the imported modules, which saves seconds per process; but a process
    # that has initialised CUDA cannot fork usable children, so spawn then
    torch.multiprocessing.start_processes(
        _ddp_worker, args=(2, str(tmp_path / "init"), os.environ["BIMIX_CACHE"], str(tmp_path / "ddp"), steps),
        nprocs=2, join=True, start_method=_start_method())
    spec = proxy.make_spec(SMOKE_PROFILE, "baseline", smoke_store, config=_config(steps=steps, n_evals=3),
                           device="cpu")
    single = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "single", resume=False)
    ddp = read_runs(tmp_path / "ddp" / "runs.csv").sort_values(["step", "domain"]).reset_index(drop=True)
    one = read_runs(tmp_path / "single" / "runs.csv").sort_values(["step", "domain"]).reset_index(drop=True)
    assert single["world_size"] == 1
    assert list(ddp["step"]) == list(one["step"])
    np.testing.assert_allclose(ddp["loss"], one["loss"], rtol=1e-4)
    assert not np.array_equal(ddp["loss"], np.full(len(ddp), ddp["loss"].iloc[0]))


def test_sweep_is_idempotent(smoke_store, tmp_path):
    """In one process (two worker processes writing one table: test_run_identity)."""
    config = _config(steps=8, n_evals=2)
    mixtures = ("uniform", "div0")
    first = sweep.sweep(SMOKE_PROFILE, mixtures, (0,), config=config, out_dir=tmp_path, workers=1,
                        show_progress=False)
    assert len(first) == 2
    before = (tmp_path / "runs.csv").read_text()
    table = validate_runs(read_runs(tmp_path / "runs.csv"))
    assert set(table["mixture"]) == set(mixtures)
    assert not table.duplicated(["run", "step", "domain"]).any()
    again = sweep.sweep(SMOKE_PROFILE, mixtures, (0,), config=config, out_dir=tmp_path, workers=1,
                        show_progress=False)
    assert again == []
    assert (tmp_path / "runs.csv").read_text() == before
    extra = sweep.sweep(SMOKE_PROFILE, mixtures + ("uniform",), (0, 1), config=config, out_dir=tmp_path,
                        workers=1, show_progress=False)
    assert len(extra) == 2 and all("-s1-" in label for label in extra)


_POOL_PARENT = """
import multiprocessing as mp, sys, time
from concurrent.futures import ProcessPoolExecutor
from bimix.train.sweep import init_worker

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(2, mp_context=ctx, initializer=init_worker, initargs=(ctx.Queue(), 1))
    futures = [pool.submit(time.sleep, 120) for _ in range(2)]
    while len(pool._processes) < 2:
        time.sleep(0.05)
    print(" ".join(str(pid) for pid in pool._processes), flush=True)
    time.sleep(120)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie is dead
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sweep_workers_die_with_a_sigkilled_parent():
    """The pool that `sweep --workers 2` starts, with the sweep's own initializer; the parent is
    SIGKILLed as a user or the OOM killer would, and its workers must not train on."""
    from bimix.paths import REPO_ROOT

    parent = subprocess.Popen([sys.executable, "-c", _POOL_PARENT], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              text=True)
    workers: list[int] = []
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
        time.sleep(0.5)  # the initializers are running; the watch must hold from the start
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers), "workers outlived their parent"
    finally:
        parent.kill()
        for pid in workers:  # only the processes this test started
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _row(run: str, step: int, domain: str, loss: float) -> dict:
    return {"run": run, "mixture": "uniform", "seed": 0, "step": step, "tokens": step * 512,
            "domain": domain, "r": 0.5, "loss": loss}


def test_append_after_a_cut_off_last_row_drops_it_and_keeps_the_table_readable(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    proxy.append_rows(path, [_row("u-s0", 1, "code", 5.25), _row("u-s0", 1, "books", 5.5)])
    whole = path.read_text(encoding="utf-8")
    with open(path, "a", encoding="utf-8") as fh:  # a writer killed in the middle of a row
        fh.write("u-s0,uniform,0,2,1024,code,0.5,4.12")
    assert proxy.append_rows(path, [_row("u-s0", 2, "code", 4.125), _row("u-s0", 2, "books", 4.5)]) == 2
    assert "dropped its cut-off last line 'u-s0,uniform,0,2,1024,code,0.5,4.12'" in capsys.readouterr().err
    table = read_runs(path)
    assert path.read_text(encoding="utf-8").startswith(whole)
    assert table.set_index(["step", "domain"])["loss"].to_dict() == {
        (1, "code"): 5.25, (1, "books"): 5.5, (2, "code"): 4.125, (2, "books"): 4.5}

    path.write_text("run,mixture,se", encoding="utf-8")  # even the header was cut off
    assert proxy.append_rows(path, [_row("u-s0", 1, "code", 5.25)]) == 1
    assert len(read_runs(path)) == 1


def test_a_finished_runs_cut_off_last_row_comes_back_from_its_sidecar(tmp_path, capsys):
    # a finished run never resumes: the row a killed writer cut off is restored from the run's sidecar
    from bimix.data.runs import write_sidecar

    path = tmp_path / "runs.csv"
    evals = [{"step": s, "tokens": s * 512, "average": 0.0, "losses": {"code": 5.25 - s / 8, "books": 5.5 - s / 7}}
             for s in (1, 2)]
    write_sidecar(path, "u-s0", {"run": "u-s0", "mixture": "uniform", "seed": 0, "status": "complete",
                                 "weights": {"code": 0.5, "books": 0.5}, "eval_steps": [1, 2], "evals": evals})
    proxy.append_rows(path, [_row("u-s0", e["step"], d, e["losses"][d]) for e in evals for d in ("code", "books")])
    whole = path.read_text(encoding="utf-8")
    path.write_text(whole[: whole.rindex("books") + 12], encoding="utf-8")  # its last row cut mid-number
    proxy.append_rows(path, [_row("v-s0", 1, "code", 5.0), _row("v-s0", 1, "books", 5.0)])
    err = capsys.readouterr().err
    assert "run u-s0 is finished: restored its 1 missing row(s) from its sidecar" in err
    assert path.read_text(encoding="utf-8").startswith(whole)  # the same bytes, then the new run's rows
    table = read_runs(path)
    assert len(table) == 6 and table.query("run == 'u-s0' and step == 2 and domain == 'books'")["loss"].item() \
        == 5.5 - 2 / 7

    # a finished run whose sidecar does not keep its evaluations: said to be incomplete again
    write_sidecar(path, "v-s0", {"run": "v-s0", "mixture": "uniform", "seed": 0, "status": "complete",
                                 "weights": {"code": 0.5, "books": 0.5}, "eval_steps": [1]})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("v-s0,uniform,0,1,512,bo")
    proxy.append_rows(path, [])
    assert "run v-s0 is finished but its sidecar" in capsys.readouterr().err


def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path):
    # a truncated last.pt ended in torch's zip-reader traceback
    good = tmp_path / "good.pt"
    torch.save({"run": "u-s0", "state": {"step": 3}}, good)
    assert proxy.load_checkpoint(good, "cpu")["run"] == "u-s0"
    for damaged in (good.read_bytes()[:50], b""):
        (tmp_path / "last.pt").write_bytes(damaged)
        with pytest.raises(proxy.TrainError, match=r"checkpoint .*last.pt cannot be read \(.*\); delete it, or "
                                                   r"train with --no-resume"):
            proxy.load_checkpoint(tmp_path / "last.pt", "cpu")
