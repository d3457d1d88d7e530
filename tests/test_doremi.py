"""DoReMi's Group-DRO update (docs/paper.md#doremi) and the end-to-end baseline on the smoke store."""

from __future__ import annotations

import copy
import dataclasses

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


def test_a_config_cannot_replace_or_train_on_another_profiles_doremi_mixture(tmp_path):
    # `doremi --config OTHER.toml` replaced the store-wide doremi.json, and smoke's next
    # `train --mixture doremi` put a second, different `doremi` run in the smoke table
    from bimix.config import config_from_dict, config_hash
    from bimix.data.tokens import TokenStore

    store = TokenStore(tmp_path / "stores" / "s1", {"domains": {"code": {}, "books": {}}})
    other = config_from_dict({"profile": "smoke", "name": "smoke-eta", "proxy": {"doremi": {"eta": 0.5}}})
    theirs = {"profile": "smoke", "config_hash": None, "proxy_run": "doremi-proxy-s0-aaaa"}
    path = doremi._save_mixture({"code": 0.25, "books": 0.75}, store, theirs)
    before = path.read_bytes()
    mine = {"profile": other.name, "config_hash": config_hash(other), "proxy_run": "doremi-proxy-s0-bbbb"}
    with pytest.raises(doremi.MixtureTaken, match=r"doremi.json is the DoReMi mixture of profile 'smoke'.*"
                                                  r"remove the file first"):
        doremi._save_mixture({"code": 0.5, "books": 0.5}, store, mine)
    assert path.read_bytes() == before
    with pytest.raises(doremi.MixtureTaken, match=r"mixture 'doremi' of profile 'smoke-eta' \(config hash"):
        proxy.make_spec(other, "doremi", store, seed=0, device="cpu", precision="fp32")
    # the profile that made it trains on it and may replace it (a new proxy of its own)
    assert dict(proxy.make_spec(SMOKE_PROFILE, "doremi", store, seed=0, device="cpu", precision="fp32").weights) \
        == {"code": 0.25, "books": 0.75}
    doremi._save_mixture({"code": 0.5, "books": 0.5}, store, {**theirs, "proxy_run": "doremi-proxy-s0-cccc"})
