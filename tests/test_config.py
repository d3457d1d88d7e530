"""Profiles from TOML config files: overrides, refusals with the key's path, run ids that follow the config."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from bimix.config import ConfigError, config_hash, load_config
from bimix.profiles import get_profile, register


def write(tmp_path, text: str, name: str = "c.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_reach_every_level(tmp_path):
    path = write(tmp_path, """
profile = "cpu"
proxy.model.d_model = 64
proxy.train.batch_size = 128
proxy.train.lr = 1
proxy.seeds = [0, 1, 2]
proxy.mixtures = ["baseline", "se"]
corpus.source = "path/to/my/jsonl"
[[tokenizers]]
kind = "bpe"
vocab_size = 1024
""")
    p = load_config(path)
    base = get_profile("cpu")
    assert p.proxy.model.d_model == 64 and p.proxy.model.n_layers == base.proxy.model.n_layers
    assert p.proxy.train.batch_size == 128 and p.proxy.train.lr == 1.0 and isinstance(p.proxy.train.lr, float)
    assert p.proxy.seeds == (0, 1, 2) and p.proxy.mixtures == ("baseline", "se")
    assert p.corpus.source == "path/to/my/jsonl"
    assert p.tokenizers == (dataclasses.replace(base.tokenizers[0], vocab_size=1024),)
    assert p.name == f"cpu+{config_hash(p)}" and p.name != "cpu"


def test_no_override_is_the_base_profile(tmp_path):
    assert load_config(write(tmp_path, 'profile = "smoke"\n')) == get_profile("smoke")


@pytest.mark.parametrize("text, message", [
    ('profile = "cpu"\nproxy.model.d_mdel = 64\n', "proxy.model.d_mdel: unknown key"),
    ('profile = "cpu"\n[proxy.train]\nbatch_size = "big"\n', "proxy.train.batch_size: expected int, got str"),
    ('profile = "cpu"\nproxy.train.steps = 1.5\n', "proxy.train.steps: expected int, got float"),
    ('profile = "cpu"\nproxy.seeds = 3\n', "proxy.seeds: expected an array"),
    ('profile = "cpu"\nproxy.seeds = [0, "a"]\n', "proxy.seeds[1]: expected int"),
    ('profile = "cpu"\nproxy.model = 3\n', "proxy.model: expected a table"),
    ('profile = "cpu"\nproxy.train.betas = [0.9]\n', "proxy.train.betas: expected 2 values"),
    ('profile = "nope"\n', "unknown profile 'nope'"),
    ('proxy.seeds = [1]\n', "'profile' must name the base profile"),
    ('profile = "cpu"\nproxy = [\n', "not valid TOML"),
])
def test_refusals_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)


def test_run_id_changes_with_the_config(tmp_path, smoke_store):
    from bimix.train.proxy import make_spec

    base = get_profile("smoke")
    other = register(load_config(write(tmp_path, 'profile = "smoke"\nproxy.model.d_model = 32\n')))
    lr = register(load_config(write(tmp_path, 'profile = "smoke"\nproxy.train.lr = 1e-3\n', "lr.toml")))
    ids = {make_spec(p, "uniform", smoke_store, seed=0, config=p.proxy).run_id for p in (base, other, lr)}
    assert len(ids) == 3
    again = register(load_config(write(tmp_path, 'profile = "smoke"\nproxy.model.d_model = 32\n', "same.toml")))
    assert again.name == other.name
    assert make_spec(again, "uniform", smoke_store, seed=0, config=again.proxy).run_id in ids


def test_cli_config_flag_refuses_with_one_line(tmp_path):
    bad = write(tmp_path, 'profile = "cpu"\nproxy.model.width = 3\n')
    out = subprocess.run([sys.executable, "-m", "bimix", "sweep", "--config", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "proxy.model.width: unknown key" in out.stderr
    assert "Traceback" not in out.stderr


def test_notebooks_receive_the_config(tmp_path):
    from bimix.compendium import reproduce
    from bimix.config import resolve_profile

    path = write(tmp_path, 'profile = "smoke"\nproxy.seeds = [0, 1]\n')
    resolved = resolve_profile("smoke", str(path))
    name = resolved.name
    assert name.startswith("smoke+") and resolved.proxy.seeds == (0, 1) and get_profile(name) == resolved
    assert resolve_profile("smoke", "") == get_profile("smoke")
    with pytest.raises(ConfigError, match="was given profile 'cpu'"):
        resolve_profile("cpu", str(path))
    steps = reproduce.plan(name, ["05_fit_law"], optional={"config": str(path), "not_declared": 1})
    (spec, params), = steps
    assert params["profile"] == name and params["config"] == str(path) and "not_declared" not in params
    assert params["n_bootstrap"] == 20  # the smoke profile's parameters, since the config builds on smoke
