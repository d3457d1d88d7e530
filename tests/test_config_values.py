"""Values that parse but cannot train are refused before any work, with the file and the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bimix.config import ConfigError, load_config
from bimix.paths import REPO_ROOT
from bimix.profiles import PROFILES, profile_problems


def write(tmp_path, text: str, name: str = "c.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("override, key", [
    ("proxy.train.steps = 0", "proxy.train.steps"),
    ("proxy.train.steps = 1099511627776", "proxy.train.steps"),  # 2**40: parses, never ends
    ("proxy.train.batch_size = -8", "proxy.train.batch_size"),
    ("proxy.train.lr = inf", "proxy.train.lr"),
    ("proxy.train.lr = nan", "proxy.train.lr"),
    ("proxy.train.lr = 0", "proxy.train.lr"),
    ("proxy.train.betas = [0.9, 1.0]", "proxy.train.betas[1]"),
    ("proxy.train.betas = [-0.1, 0.99]", "proxy.train.betas[0]"),
    ("proxy.train.eps = 0", "proxy.train.eps"),
    ("proxy.train.warmup_frac = 1.0", "proxy.train.warmup_frac"),
    ("proxy.train.grad_clip = 0", "proxy.train.grad_clip"),
    ("proxy.train.n_evals = 0", "proxy.train.n_evals"),
    ("proxy.train.eval_sequences = 0", "proxy.train.eval_sequences"),
    ("proxy.train.checkpoint_every = 0", "proxy.train.checkpoint_every"),
    ("proxy.train.ema_decay = 1.0", "proxy.train.ema_decay"),
    ("proxy.train.tokenizer = 2", "proxy.train.tokenizer"),  # smoke has two tokenizers
    ("proxy.train.tokenizer = -1", "proxy.train.tokenizer"),
    ("proxy.model.seq_len = 0", "proxy.model.seq_len"),
    ("proxy.model.n_heads = 5", "proxy.model.n_heads"),  # d_model 64 is not 5 heads
    ("proxy.seeds = []", "proxy.seeds"),
    ("proxy.seeds = [0, 0]", "proxy.seeds"),
    ("proxy.seeds = [-1]", "proxy.seeds[0]"),
    ("proxy.mixtures = []", "proxy.mixtures"),
    ('proxy.mixtures = ["baseline", "../up"]', "proxy.mixtures[1]"),
    ("proxy.workers = 0", "proxy.workers"),
    ("proxy.doremi.eta = inf", "proxy.doremi.eta"),
    ("tokenizers = []", "tokenizers"),
    ('tokenizers = [{kind = "wordpiece"}]', "tokenizers[0].kind"),
    ('tokenizers = [{kind = "bpe", vocab_size = 100}]', "tokenizers[0].vocab_size"),
    ("num_proc = 0", "num_proc"),
    ('name = "a\\\\b"', "name"),
    ('name = "two words"', "name"),
    ('name = "-rf"', "name"),
    ('name = "x\\u0000y"', "name"),
])
def test_values_that_cannot_train_are_refused_with_file_and_key(tmp_path, override, key):
    path = write(tmp_path, f'profile = "smoke"\n{override}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert "\n" not in message


def test_several_problems_name_the_first_and_count_the_rest(tmp_path):
    path = write(tmp_path, 'profile = "smoke"\nproxy.train.steps = 0\nproxy.train.lr = inf\nproxy.seeds = []\n')
    with pytest.raises(ConfigError, match=r"proxy\.train\.steps: .* \(and 2 more: proxy\.train\.lr, proxy\.seeds\)"):
        load_config(path)


def test_every_built_in_profile_and_committed_config_is_valid():
    assert {name: profile_problems(p) for name, p in PROFILES.items()} == {name: [] for name in PROFILES}
    configs = sorted((REPO_ROOT / "configs").rglob("*.toml"))
    assert configs
    for path in configs:
        load_config(path)  # raises on a refused value


@pytest.mark.parametrize("verb, override, key", [
    ("sweep", "proxy.seeds = []", "proxy.seeds"),
    ("train", "proxy.train.steps = 0", "proxy.train.steps"),
])
def test_cli_refuses_before_any_work(tmp_path, verb, override, key):
    path = write(tmp_path, f'profile = "smoke"\n{override}\n')
    out_dir = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "bimix", verb, "--config", str(path), "--out", str(out_dir)],
                            capture_output=True, text=True, timeout=120,
                            env={"BIMIX_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: {key}: "), lines
    assert not out_dir.exists() and not (tmp_path / "cache").exists()
