"""Which runs count: superseded runs are excluded in one place, the same weights are never trained
under two names, and parallel sweep workers train on the store they are given."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bimix.train import proxy, sweep
from bimix.data.mixtures import Mixture, save_named
from bimix.profiles import get_profile
from bimix.data.runs import current_runs, mark_superseded, read_runs, validate_runs

SMOKE = get_profile("smoke")  # resolved once, as the CLI and notebooks do


def _tiny(steps: int = 2):
    config = get_profile("smoke").proxy
    return dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps, batch_size=4, n_evals=1,
                                                                 eval_sequences=2, checkpoint_every=steps),
                               model=dataclasses.replace(config.model, seq_len=32))


def test_same_weights_under_another_name_are_refused(smoke_store, tmp_path):
    config = _tiny()
    spec = proxy.make_spec(SMOKE, "uniform", smoke_store, seed=0, config=config)
    proxy.train_run(spec, smoke_store, out_dir=tmp_path)
    twin = Mixture("even", {d: 1 / len(smoke_store.domains) for d in smoke_store.domains}, {})
    folder = tmp_path / "mixtures"
    save_named(twin, folder)
    store = dataclasses.replace(smoke_store, root=smoke_store.root)
    spec2 = proxy.make_spec(SMOKE, "even", store, seed=0, config=config,
                            weights=dict(twin.weights))
    assert spec2.run_id != spec.run_id and spec2.run_id.endswith(spec.run_id[len("uniform"):])
    with pytest.raises(proxy.TrainError, match="same weights, config and seed as run uniform-s0"):
        proxy.train_run(spec2, smoke_store, out_dir=tmp_path)
    assert proxy.same_weights_run(proxy.make_spec(SMOKE, "uniform", smoke_store, seed=1, config=config),
                                  tmp_path) is None  # another seed is another run


def test_superseded_and_unfinished_runs_are_left_out(smoke_store, tmp_path):
    config = _tiny()
    for mixture in ("uniform", "div0"):
        proxy.train_run(proxy.make_spec(SMOKE, mixture, smoke_store, seed=0, config=config), smoke_store,
                        out_dir=tmp_path)
    table = tmp_path / "runs.csv"
    runs = list(dict.fromkeys(read_runs(table)["run"]))
    assert current_runs(table).used == runs and not current_runs(table).excluded
    mark_superseded(table, {runs[0]: "a later rule replaced it"})
    sidecar = tmp_path / "sidecars" / f"{runs[1]}.json"
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "status": "partial", "step": 1}))
    cur = current_runs(table)
    assert cur.used == [] and set(cur.table["run"]) == set()
    assert cur.excluded == {runs[0]: "superseded: a later rule replaced it", runs[1]: "partial at step 1"}
    assert "2 excluded" in cur.note()


def test_parallel_workers_train_on_the_given_store(smoke_store_gpt2, tmp_path):
    """Two worker processes train on the store they are given and write one table, each row once."""
    config = dataclasses.replace(_tiny(steps=2), workers=2)
    assert proxy.open_profile_store(SMOKE, config).store_id != smoke_store_gpt2.store_id
    done = sweep.sweep(SMOKE, ("uniform", "div1"), (0,), config=config, out_dir=tmp_path, workers=2,
                       store=smoke_store_gpt2, show_progress=False)
    assert len(done) == 2
    stores = {json.loads(p.read_text())["store_id"] for p in (tmp_path / "sidecars").glob("*.json")}
    assert stores == {smoke_store_gpt2.store_id}
    table = validate_runs(read_runs(tmp_path / "runs.csv"))
    assert set(table["mixture"]) == {"uniform", "div1"} and not table.duplicated(["run", "step", "domain"]).any()
    assert len(table) == 2 * len(proxy.eval_schedule(config.train)) * len(smoke_store_gpt2.domains)


def test_a_run_trains_with_its_own_thread_count(smoke_store, tmp_path):
    """Losses depend on the torch thread count in their last digits: a run trains with the config's
    count whatever its caller set, and a count other than 1 changes the run id."""
    import torch

    config = _tiny()
    two = dataclasses.replace(config, train=dataclasses.replace(config.train, cpu_threads=2))
    spec = proxy.make_spec(SMOKE, "uniform", smoke_store, seed=0, config=config, device="cpu")
    assert proxy.make_spec(SMOKE, "uniform", smoke_store, seed=0, config=two, device="cpu").run_id != spec.run_id
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "a")
        assert torch.get_num_threads() == 2  # the caller's setting is restored
        torch.set_num_threads(1)
        second = proxy.train_run(spec, smoke_store, out_dir=tmp_path / "b")
    finally:
        torch.set_num_threads(previous)
    assert first["torch_threads"] == second["torch_threads"] == 1
    assert [e["losses"] for e in first["evals"]] == [e["losses"] for e in second["evals"]]


def test_optimum_name_follows_the_thread_count_only_when_it_is_not_the_default():
    from bimix.law.optimum import optimum_name

    cfg = get_profile("smoke").proxy
    shares = {"a": 0.25, "b": 0.75}
    two = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, cpu_threads=2))
    assert optimum_name(shares, "store", cfg) != optimum_name(shares, "store", two)
    # the default leaves the name as it was before the field existed: asdict without cpu_threads
    from dataclasses import asdict

    from bimix.files import sha256_json

    train = asdict(cfg.train)
    train.pop("cpu_threads")
    legacy = sha256_json({"shares": shares, "store": "store", "model": asdict(cfg.model), "train": train})[:8]
    assert optimum_name(shares, "store", cfg) == f"bimix_opt-{legacy}"
