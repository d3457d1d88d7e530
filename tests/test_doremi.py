"""DoReMi's Group-DRO update (docs/paper.md#doremi) and the end-to-end baseline on the smoke store."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bimix.train import doremi, proxy
from bimix.data.mixtures import load_named
from bimix.profiles import get_profile

SMOKE_PROFILE = get_profile("smoke")  # resolved once, as the CLI and notebooks do
SMOKE = SMOKE_PROFILE.proxy
EPS = 1e-3

simplex = st.lists(st.floats(0.01, 1.0), min_size=2, max_size=8).map(lambda x: np.array(x) / np.sum(x))


def test_equal_losses_leave_weights_at_start():
    w = np.full(5, 0.2)
    for _ in range(100):
        w = doremi.update_weights(w, np.zeros(5), eta=1.0, smoothing=EPS)
    np.testing.assert_allclose(w, 0.2, rtol=0, atol=1e-15)


@given(excess=st.lists(st.floats(0, 5), min_size=3, max_size=3))
def test_larger_excess_gains_weight(excess):
    excess = np.array(excess)
    w = doremi.update_weights(np.full(3, 1 / 3), excess, eta=1.0, smoothing=EPS)
    for i in range(3):
        for j in range(3):
            if excess[i] > excess[j] + 1e-9:
                assert w[i] > w[j]
    if excess.max() > excess.min() + 1e-6:
        assert w[int(np.argmax(excess))] > 1 / 3


@settings(max_examples=200)
@given(w=simplex, data=st.data())
def test_weights_stay_on_simplex_above_floor(w, data):
    m = len(w)
    excess = np.array(data.draw(st.lists(st.floats(0, 50), min_size=m, max_size=m)))
    for _ in range(3):
        w = doremi.update_weights(w, excess, eta=1.0, smoothing=EPS)
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(w >= EPS / m - 1e-15)


def test_negative_excess_is_rejected():
    with pytest.raises(ValueError, match="clipped"):
        doremi.update_weights(np.full(2, 0.5), np.array([0.1, -0.2]))


def test_identical_proxy_and_reference_keep_uniform_weights(smoke_store):
    net = proxy.build_model(SMOKE.model, smoke_store.vocab_size, seed=0)
    objective = doremi.DoReMiObjective(copy.deepcopy(net), smoke_store.domains, eta=1.0, smoothing=EPS)
    m = len(smoke_store.domains)
    sampler = proxy.MixtureSampler({d: smoke_store.tokens(d) for d in smoke_store.domains}, smoke_store.domains,
                                   np.full(m, 1 / m), SMOKE.model.seq_len, 2 * m, seed=0)
    windows, ids = sampler.next_batch()
    loss = objective.batch_loss(net, torch.from_numpy(windows), torch.from_numpy(ids), step=0)
    loss.backward()
    np.testing.assert_allclose(objective.w, 1 / m, atol=1e-15)
    assert objective.trajectory[0][2].max() == 0.0
    assert net.get_input_embeddings().weight.grad is not None  # the weighted loss trains the proxy


def test_doremi_end_to_end_reuses_reference(smoke_store, tmp_path):
    config = dataclasses.replace(SMOKE, train=dataclasses.replace(SMOKE.train, steps=30, n_evals=2))
    ref_spec = proxy.make_spec(SMOKE_PROFILE, "baseline", smoke_store, config=config)
    proxy.train_run(ref_spec, smoke_store, out_dir=tmp_path, resume=False)
    sidecar = tmp_path / "sidecars" / f"{ref_spec.run_id}.json"
    stamp = sidecar.stat().st_mtime_ns

    out = doremi.run_doremi(SMOKE_PROFILE, smoke_store, config=config, out_dir=tmp_path)
    assert out["reference_run"] == ref_spec.run_id
    assert sidecar.stat().st_mtime_ns == stamp, "the reference run was retrained instead of reused"
    m = len(smoke_store.domains)
    mixture = load_named("doremi", smoke_store.mixtures_dir, domains=smoke_store.domains)
    w = mixture.array(smoke_store.domains)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= EPS / m)
    np.testing.assert_allclose(w, [out["weights"][d] for d in smoke_store.domains])
    import pandas as pd

    traj = pd.read_csv(out["trajectory_path"])
    assert len(traj) == 30 * m and traj["step"].max() == 30
    np.testing.assert_allclose(traj.groupby("domain")["weight"].mean()[list(smoke_store.domains)]
                               / traj.groupby("domain")["weight"].mean().sum(), w, rtol=1e-9)
    assert (traj["excess"] >= 0).all() and traj["excess"].max() > 0
    assert not np.allclose(w, 1 / m)  # the reference differs from the proxy, so weights moved


def _proxy_weights(folder, seed):
    """The averaged weights the finished DoReMi proxy of ``seed`` in ``folder`` recorded."""
    (sidecar,) = (folder / "doremi_proxy" / "sidecars").glob(f"doremi-proxy-s{seed}-*.json")
    return json.loads(sidecar.read_text())["doremi_weights"]


def test_doremi_on_another_seed_or_config_keeps_every_mixture(smoke_store, tmp_path, capsys):
    # the store held one doremi.json: `doremi --seed 1` replaced seed 0's mixture (the sweep's `doremi`
    # runs then trained on seed 1's), and a config file's DoReMi on the same store was refused
    from bimix.cli import main

    steps = ["--steps", "6"]
    ours, theirs = tmp_path / "smoke", tmp_path / "smoke-eta-half"
    for seed in ("0", "1"):
        assert main(["doremi", "--profile", "smoke", *steps, "--seed", seed, "--out", str(ours)]) == 0
    w0, w1 = _proxy_weights(ours, 0), _proxy_weights(ours, 1)
    config = proxy.override_config(SMOKE, steps=6)
    assert w0 != w1  # every seed's `doremi` run trains on the mixture of the first seed's proxy
    assert dict(proxy.make_spec(SMOKE_PROFILE, "doremi", smoke_store, seed=1, config=config, device="cpu",
                                precision="fp32").weights) == w0
    toml = tmp_path / "eta.toml"
    toml.write_text('profile = "smoke"\nname = "smoke-eta-half"\n[proxy.doremi]\neta = 0.5\n')
    assert main(["doremi", "--config", str(toml), *steps, "--out", str(theirs)]) == 0
    from bimix.config import load_config

    other, w_other = load_config(toml), _proxy_weights(theirs, 0)
    assert w_other != w0
    for profile, cfg, expected in ((SMOKE_PROFILE, config, w0),
                                   (other, proxy.override_config(other.proxy, steps=6), w_other)):
        spec = proxy.make_spec(profile, "doremi", smoke_store, seed=1, config=cfg, device="cpu", precision="fp32")
        assert dict(spec.weights) == expected
    for seed, expected in ((0, w0), (1, w1)):
        found = doremi.find_mixture(SMOKE_PROFILE, smoke_store, config, seed=seed, device="cpu", precision="fp32")
        assert dict(found.weights) == expected
    # a different mixture under an existing proxy run's name is refused in one line, the file kept
    path = doremi.mixture_file(smoke_store, "smoke", doremi.proxy_spec(SMOKE_PROFILE, smoke_store, seed=0,
                                                                        config=config).run_id)
    before = path.read_text()
    edited = json.loads(before)
    edited["weights"] = {d: 1 / len(edited["weights"]) for d in edited["weights"]}
    path.write_text(json.dumps(edited))
    capsys.readouterr()
    assert main(["doremi", "--profile", "smoke", *steps, "--seed", "0", "--out", str(ours)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"error: {path} already holds the DoReMi mixture of proxy run")
    assert "Traceback" not in err and err.count("error:") == 1
    assert json.loads(path.read_text()) == edited


def test_a_doremi_mixture_is_found_by_its_profile_and_proxy_run(tmp_path):
    from bimix.data.mixtures import Mixture, save_named
    from bimix.data.tokens import TokenStore

    store = TokenStore(tmp_path / "stores" / "s1", {"domains": {"code": {}, "books": {}}})
    run = doremi.proxy_spec(SMOKE_PROFILE, store, seed=0, device="cpu", precision="fp32").run_id
    with pytest.raises(doremi.MixtureMissing, match=rf"no DoReMi mixture of profile 'smoke' from its proxy run {run}"):
        proxy.make_spec(SMOKE_PROFILE, "doremi", store, seed=0, device="cpu", precision="fp32")
    # a store-wide doremi.json written before the per-run files is read when it names this proxy run
    save_named(Mixture("doremi", {"code": 0.25, "books": 0.75}, {"profile": "smoke", "proxy_run": run}),
               store.mixtures_dir)
    assert dict(proxy.make_spec(SMOKE_PROFILE, "doremi", store, seed=3, device="cpu", precision="fp32").weights) \
        == {"code": 0.25, "books": 0.75}
    # ... and not by another profile, whose own mixture is missing
    other = dataclasses.replace(SMOKE_PROFILE, name="smoke-other")
    with pytest.raises(doremi.MixtureMissing, match="profile 'smoke-other'"):
        proxy.make_spec(other, "doremi", store, seed=0, device="cpu", precision="fp32")
    # saving keeps one file per proxy run; the store-wide copy follows the one made current
    meta = {"profile": "smoke-other", "proxy_run": "doremi-proxy-s0-bbbb"}
    path = doremi._save_mixture({"code": 0.5, "books": 0.5}, store, meta, shown=False)
    assert path == store.mixtures_dir / "doremi" / "smoke-other.doremi-proxy-s0-bbbb.json"
    assert doremi._save_mixture({"code": 0.5, "books": 0.5}, store, meta, shown=True) == path  # the same: kept
    assert json.loads((store.mixtures_dir / "doremi.json").read_text())["meta"] == meta
    with pytest.raises(doremi.MixtureTaken, match="remove the file first"):
        doremi._save_mixture({"code": 0.4, "books": 0.6}, store, meta, shown=True)
    assert json.loads(path.read_text())["weights"] == {"code": 0.5, "books": 0.5}
