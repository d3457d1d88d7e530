"""The GPU path, exercised on CPU: resume under a GPU map_location, the memory model, DoReMi with
micro-batches and over DDP ranks, device options and run ids, sweep devices, and the GPU check script."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from bimix import cli
from bimix.files import sha256_json
from bimix.paths import REPO_ROOT
from bimix.profiles import ModelConfig, TrainConfig, get_profile
from bimix.train import doremi, proxy, sweep

SMOKE = get_profile("smoke")


def _tiny(steps: int = 6, **train):
    cfg = SMOKE.proxy
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps, n_evals=2, eval_sequences=2,
                                                              checkpoint_every=3, **train))


# ---------------------------------------------------------------------------------------- 1. resume
def test_rng_state_is_restored_from_a_checkpoint_loaded_onto_another_device(smoke_store, tmp_path, one_thread):
    """On CUDA the checkpoint is loaded with map_location=<the GPU>; its RNG state must still reach
    torch.set_rng_state as a CPU ByteTensor. "meta" stands in for a GPU: tensors leave the CPU."""
    spec = proxy.make_spec(SMOKE, "uniform", smoke_store, config=_tiny(), device="cpu")
    proxy.train_run(spec, smoke_store, out_dir=tmp_path / "cut", resume=False, stop_after=3)
    ckpt = proxy.checkpoint_path(spec, tmp_path / "cut")
    expected = torch.load(ckpt, map_location="cpu", weights_only=False)["rng"]
    for location in ("meta", lambda storage, _: torch.UntypedStorage(storage.nbytes(), device="meta")):
        blob = proxy.load_checkpoint(ckpt, map_location=location)
        assert next(iter(blob["model"].values())).device.type == "meta"
        torch.manual_seed(123)
        proxy.restore_rng_states(blob["rng"], torch.device("cpu"))
        assert torch.get_rng_state().numpy().tobytes() == expected["cpu"]


def test_resumed_run_continues_bit_exactly(smoke_store, tmp_path, one_thread):
    spec = proxy.make_spec(SMOKE, "uniform", smoke_store, config=_tiny(), device="cpu")
    proxy.train_run(spec, smoke_store, out_dir=tmp_path / "cut", resume=False, stop_after=3)
    resumed = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "cut")
    straight = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "straight", resume=False)
    assert resumed["status"] == straight["status"] == "complete"
    assert [e["losses"] for e in resumed["evals"]] == [e["losses"] for e in straight["evals"]]
    assert resumed["accelerator"] == {"device_type": "cpu", "gpu_model": None, "cuda": None, "cudnn": None,
                                      "nccl": None, "autocast_dtype": None}
    assert resumed["precision"] == "fp32"


# ------------------------------------------------------------------------------------ 2. memory model
class _Meter:
    """Peak bytes allocated by one training step on CPU (torch's MemTracker)."""

    @staticmethod
    def step_peak(model: ModelConfig, vocab: int, micro: int, precision: str) -> int:
        from torch.distributed._tools.mem_tracker import MemTracker

        net = proxy.build_model(model, vocab, seed=0)
        optimizer, _ = proxy.make_optimizer(net, TrainConfig(steps=10))
        x = torch.randint(0, vocab, (micro, model.seq_len + 1), generator=torch.Generator().manual_seed(0))

        def step():
            with proxy._autocast(torch.device("cpu"), precision):
                loss = proxy.token_losses(net, x).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)  # keeps the gradients, as at the peak of a step

        step()  # AdamW's moments exist from the first step on
        tracker = MemTracker()
        tracker.track_external(net, optimizer)
        with tracker:
            step()
        return int(sum(v.get("Total", 0) for v in tracker.get_tracker_snapshot("peak").values()))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("shape", [(2, 64, 64, 1024, 8), (2, 128, 128, 4096, 8), (4, 128, 128, 512, 16)])
def test_memory_model_matches_measured_allocations_within_20_percent(shape, precision, one_thread):
    layers, width, seq_len, vocab, micro = shape
    model = ModelConfig(n_layers=layers, d_model=width, n_heads=4, seq_len=seq_len)
    measured = _Meter.step_peak(model, vocab, micro, precision)
    modelled = proxy.estimate_peak_bytes(model, vocab, micro, precision)
    assert abs(modelled / measured - 1) < 0.20, (modelled, measured)


def test_paper_micro_batch_fits_an_80_gb_gpu_and_the_whole_batch_does_not():
    paper = get_profile("paper").proxy
    vocab = 50_277  # the GPT-NeoX-20B tokenizer's
    micro = paper.train.micro_batch
    assert micro is not None and paper.train.batch_size % micro == 0
    assert proxy.estimate_peak_bytes(paper.model, vocab, micro, "bf16") < 0.5 * 80e9
    assert proxy.estimate_peak_bytes(paper.model, vocab, paper.train.batch_size, "bf16") > 400 * 2**30
    gpu = get_profile("gpu").proxy
    assert proxy.estimate_peak_bytes(gpu.model, 16_384, gpu.train.micro_batch or gpu.train.batch_size) < 16e9
    assert proxy.fitting_micro_batch(paper.model, vocab, 512, 80e9) == micro  # 64 would need 60 GiB, > 80 % of 80 GB


# ------------------------------------------------------------------------------------------ 3. DoReMi
def _doremi_setup(store, config):
    reference = proxy.build_model(config.model, store.vocab_size, seed=1)
    objective = doremi.DoReMiObjective(reference, store.domains, eta=1.0, smoothing=1e-3)
    spec = proxy.make_spec(SMOKE, "doremi-proxy", store, config=config, objective="doremi",
                           weights=proxy.resolve_mixture("uniform", store), device="cpu")
    return spec, objective


def test_micro_batched_doremi_equals_the_full_batch(smoke_store, tmp_path, one_thread):
    weights = {}
    for micro in (None, 3):  # 8 sequences: micro-batches of 3, 3 and 2
        spec, objective = _doremi_setup(smoke_store, _tiny(steps=4, micro_batch=micro))
        proxy.train_run(spec, smoke_store, out_dir=tmp_path / str(micro), objective=objective, resume=False)
        weights[micro] = np.array([w for _, w, _ in objective.trajectory])
    assert weights[None].shape == (4, len(smoke_store.domains))
    assert np.ptp(weights[None][-1]) > 1e-3  # the weights moved, so agreement is not trivial
    np.testing.assert_allclose(weights[3], weights[None], rtol=0, atol=1e-6)


def _doremi_rank(rank, world, init_file, cache, out):
    os.environ["BIMIX_CACHE"] = cache
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from bimix.data.tokens import open_store

        store = open_store(SMOKE, "bpe", progress=False)
        spec, objective = _doremi_setup(store, _tiny(steps=4))
        proxy.train_run(spec, store, out_dir=out, objective=objective, resume=False)
        with open(f"{out}/weights-{rank}.json", "w") as fh:
            json.dump([w.tolist() for _, w, _ in objective.trajectory], fh)
    finally:
        torch.distributed.destroy_process_group()


def test_two_rank_doremi_gives_the_single_process_weights(smoke_store, tmp_path, one_thread):
    out = tmp_path / "ddp"
    out.mkdir()
    torch.multiprocessing.start_processes(
        _doremi_rank, args=(2, str(tmp_path / "init"), os.environ["BIMIX_CACHE"], str(out)), nprocs=2,
        join=True, start_method="spawn" if torch.cuda.is_initialized() else "fork")
    spec, objective = _doremi_setup(smoke_store, _tiny(steps=4))
    proxy.train_run(spec, smoke_store, out_dir=tmp_path / "one", objective=objective, resume=False)
    single = np.array([w for _, w, _ in objective.trajectory])
    for rank in (0, 1):
        ranked = np.array(json.loads((out / f"weights-{rank}.json").read_text()))
        np.testing.assert_allclose(ranked, single, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------ 4. sweeps and devices
def test_sweep_worker_k_gets_gpu_k_mod_the_gpu_count():
    assert [sweep.worker_device(k, "cuda", 2) for k in range(5)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert [sweep.worker_device(k, "cuda", 1) for k in range(2)] == ["cuda:0", "cuda:0"]
    assert sweep.worker_device(3, "cpu", 0) == "cpu"
    with pytest.raises(sweep.SweepError):
        sweep.worker_device(0, "cuda", 0)


def test_sweep_refuses_torchrun_with_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    code = cli.main(["sweep", "--profile", "smoke", "--out", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: sweep does not run under torchrun"), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA can train on it")
@pytest.mark.parametrize("command", ["train", "sweep", "doremi", "evaluate"])
def test_device_cuda_without_a_gpu_is_one_error_line(command, tmp_path, capsys):
    out = ["--runs-dir" if command == "evaluate" else "--out", str(tmp_path)]
    code = cli.main([command, "--profile", "smoke", *out, "--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --device cuda"), err


def test_device_and_precision_enter_the_run_id_only_off_cpu_fp32(smoke_store):
    cpu = proxy.make_spec(SMOKE, "uniform", smoke_store, device="cpu")
    key = {"model": dataclasses.asdict(cpu.config.model), "train": proxy._train_key(cpu.config.train),
           "weights": [[d, round(w, 12)] for d, w in cpu.weights], "store": cpu.store_id, "objective": "mean"}
    assert cpu.run_id == f"uniform-s0-{sha256_json(key)[:8]}"  # the id committed CPU runs were filed under
    cuda = dataclasses.replace(cpu, device="cuda", precision="bf16")
    cuda32 = dataclasses.replace(cpu, device="cuda", precision="fp32")
    cpu16 = proxy.make_spec(SMOKE, "uniform", smoke_store, device="cpu", precision="bf16")
    assert len({cpu.run_id, cuda.run_id, cuda32.run_id, cpu16.run_id}) == 4
    with pytest.raises(proxy.TrainError, match="cpu run"):
        proxy.run_device(cpu, "cuda:0")
    assert proxy.resolve_precision("auto", "cuda") == "bf16" and proxy.resolve_precision("auto", "cpu") == "fp32"


# ----------------------------------------------------------------------------------- 7. the GPU check
def test_gpu_check_dry_run_passes_every_check_on_cpu(smoke_store, tmp_path):
    from bimix.paths import cache_dir

    # as a user runs it: no $BIMIX_CACHE, the cache found under $HOME (here: this session's cache)
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "bimix").symlink_to(cache_dir())
    env = {k: v for k, v in os.environ.items() if k != "BIMIX_CACHE"}
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py"), "--dry-run",
                           "--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=300,
                          env={**env, "HOME": str(home), "OMP_NUM_THREADS": "1"})  # its sweep spawns 2 workers
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    checks = [line.split() for line in done.stdout.splitlines() if line.startswith("CHECK ")]
    names = {c[1] for c in checks}
    assert {"resume_exact", "bf16_vs_fp32", "ddp_2rank", "doremi_2rank", "sweep_2workers"} <= names, names
    assert all(c[2] in ("PASS", "INFO") for c in checks), [c for c in checks if c[2] == "FAIL"]
    assert "SUMMARY" in done.stdout


# ------------------------------------------------------------------------------------- on a real GPU
@pytest.mark.gpu
def test_cuda_run_resumes_exactly_and_records_the_gpu(smoke_store, tmp_path):
    spec = proxy.make_spec(SMOKE, "uniform", smoke_store, config=_tiny(), device="cuda")
    assert spec.precision == "bf16"
    proxy.train_run(spec, smoke_store, out_dir=tmp_path / "cut", resume=False, stop_after=3)
    resumed = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "cut")
    straight = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "straight", resume=False)
    again = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "again", resume=False)

    def gap(a, b):
        return max(abs(x - y) for ea, eb in zip(a["evals"], b["evals"]) for x, y in
                   zip(ea["losses"].values(), eb["losses"].values()))

    # bit for bit, or (kernels with atomics) no further off than a second uninterrupted run
    assert gap(resumed, straight) == 0 or gap(resumed, straight) <= 5 * gap(again, straight)
    assert resumed["accelerator"]["gpu_model"] and resumed["accelerator"]["autocast_dtype"] == "bfloat16"
