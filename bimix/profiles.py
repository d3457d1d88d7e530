"""Named profiles: one registry saying how big every stage is.

``smoke``  seconds, for tests;  ``cpu``  the default main job on a laptop (≤ 30 min);  ``cpu-long``  the
same design with 4x the tokens per run, for a user with a few hours;
``gpu``    a single GPU, tens of millions of parameters;  ``paper``  the paper's settings (docs/paper.md#setup).

Each stage's settings are a frozen dataclass whose defaults are the paper's values where it has one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class CorpusConfig:
    """Which text, and how much of it."""

    source: str = "mini-pile"  # mini-pile | pile | slimpajama | slimpajama-6b | a local folder of JSONL/Parquet
    max_bytes_per_domain: int | None = None  # bytes of text kept per domain after dedupe; None = all
    valid_bytes_per_domain: int = 1_200_000  # validation text per domain (≈ 250k BPE tokens), bytes
    math_bytes: int = 16_000_000  # size of the generated math domain, bytes
    extra_domains: tuple[str, ...] = ()  # optional Debian-sourced domains: "docs", "latex"
    max_docs_per_domain: int | None = None  # cap for streamed hub datasets (pile, slimpajama)
    seed: int = 0  # split and generator seed


@dataclass(frozen=True)
class TokenizerConfig:
    """One tokenizer. ``bpe``: byte-level BPE trained on the corpus's train split;
    ``gpt2``: GPT-2's 50,257-token BPE from a pinned artifact; ``hf``: any Hugging Face name."""

    kind: str = "bpe"  # bpe | gpt2 | hf
    vocab_size: int = 4096  # bpe only: merges + byte alphabet + special tokens
    name: str | None = None  # hf only, e.g. "EleutherAI/gpt-neox-20b"
    train_bytes: int | None = 8_000_000  # bpe only: train-split bytes sampled to learn merges; None = all


@dataclass(frozen=True)
class ModelConfig:
    """Decoder-only proxy in the GPT-NeoX family (docs/paper.md#setup); the vocabulary comes from the token store."""

    n_layers: int = 12
    d_model: int = 768  # width
    n_heads: int = 12
    mlp_ratio: int = 4  # MLP width = mlp_ratio * d_model
    seq_len: int = 1024  # T, tokens per training sequence
    rotary_pct: float = 0.25  # share of each head's dimensions that get rotary embeddings


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, sampling and evaluation of one proxy run (docs/paper.md#setup defaults)."""

    tokenizer: int = 0  # index into Profile.tokenizers
    batch_size: int = 512  # sequences per optimiser step, global (all ranks together)
    steps: int = 200_000  # optimiser steps per run
    lr: float = 1e-3  # peak learning rate
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW
    eps: float = 1e-8  # AdamW
    weight_decay: float = 0.01  # AdamW, on matrices only
    warmup_frac: float = 0.06  # linear warm-up, share of steps
    decay_factor: float = 10.0  # exponential decay from peak lr to peak/decay_factor at the last step
    grad_clip: float = 1.0  # global gradient-norm clip
    n_evals: int = 20  # evaluations, log-spaced from eval_start to the last step
    eval_start: int | None = None  # first evaluation step; None = end of warm-up
    eval_sequences: int = 64  # fixed validation sequences of T tokens per domain
    checkpoint_every: int = 1000  # steps between checkpoints
    epoch_limit: float = 4.0  # warn when a domain's train stream is repeated more often than this
    micro_batch: int | None = None  # sequences per forward pass on each rank (gradient accumulation);
    #                                  None = the rank's whole share. Peak memory per micro-batch:
    #                                  bimix.train.proxy.estimate_peak_bytes
    seed: int = 0  # default seed: initialisation and every domain's window sequence
    cpu_threads: int = 1  # torch threads of a training process on CPU. Losses differ in their last digits
    #                       between thread counts, so a count other than 1 is part of the run id
    ema_decay: float = 0.0  # 0 = evaluate the raw weights; else an exponential moving average of the
    #                         weights with this decay per step is evaluated (and saved) instead


@dataclass(frozen=True)
class DoReMiConfig:
    """Group-DRO proxy of DoReMi (docs/paper.md#doremi)."""

    eta: float = 1.0  # step size of the log-weight update
    smoothing: float = 1e-3  # epsilon: w <- (1 - epsilon) w + epsilon / m
    reference: str = "baseline"  # mixture of the reference run
    sample: str = "uniform"  # mixture the proxy's batches are drawn from (DoReMi Algorithm 1)


@dataclass(frozen=True)
class ProxyConfig:
    """Everything proxy pretraining needs: model, training, DoReMi, and the sweep a notebook needs."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    doremi: DoReMiConfig = field(default_factory=DoReMiConfig)
    mixtures: tuple[str, ...] = ("baseline", "doremi", "se", "ce", "je", "vne")  # the main sweep, every seed
    seeds: tuple[int, ...] = (0,)  # paired seeds: the same initialisation and data order across mixtures
    single_seed_mixtures: tuple[str, ...] = ()  # also swept, on the first seed only (e.g. diverse mixtures)
    workers: int = 1  # parallel single-thread training processes in a sweep


@dataclass(frozen=True)
class Profile:
    name: str
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizers: tuple[TokenizerConfig, ...] = (TokenizerConfig(), TokenizerConfig(kind="gpt2"))
    num_proc: int = 2  # worker processes for tokenization and counting
    proxy: ProxyConfig = field(default_factory=ProxyConfig)  # proxy pretraining and DoReMi


# Proxy pretraining per profile. The cpu sizes were chosen by measurement (benchmarks/bench_proxy.py).
_PROXY_SMOKE = ProxyConfig(
    model=ModelConfig(n_layers=2, d_model=64, n_heads=4, seq_len=64),
    train=TrainConfig(batch_size=8, steps=60, lr=3e-3, n_evals=4, eval_sequences=8, checkpoint_every=10),
)
_PROXY_CPU = ProxyConfig(  # chosen by the regime study (notebook 08, configs/regime/); 1.2M tokens per run
    model=ModelConfig(n_layers=2, d_model=64, n_heads=4, seq_len=128),
    # decay_factor=1: a constant learning rate after warm-up. The regime study measured the paper's 10x
    # decay against it on this budget: the decay flattens the last third of a 300-step run, which the
    # law's power law in steps cannot follow (Table 1 error 1.6-2.2 % vs 0.9 %), and ends 0.44 nats higher.
    train=TrainConfig(batch_size=32, steps=300, lr=2e-3, n_evals=16, eval_sequences=32, checkpoint_every=100,
                      decay_factor=1.0),
    mixtures=("baseline", "doremi", "se", "ce", "je", "vne"),
    seeds=(0, 1, 2),
    single_seed_mixtures=("div0", "div1", "div2", "div3"),
    workers=2,  # two single-thread processes: ~30 % more tokens/s than one two-thread process here
)
_PROXY_CPU_LONG = dataclasses.replace(  # the cpu design for a user with a few hours: 4x the tokens per run
    _PROXY_CPU, train=dataclasses.replace(_PROXY_CPU.train, batch_size=64, steps=600, checkpoint_every=100))
_PROXY_GPU = ProxyConfig(
    model=ModelConfig(n_layers=6, d_model=384, n_heads=6, seq_len=512),
    # micro_batch None: the whole batch of 64 in one pass, ~9 GiB modelled peak under bf16 (fits a 16 GB GPU)
    train=TrainConfig(batch_size=64, steps=3000, lr=1e-3, n_evals=16, eval_sequences=128, checkpoint_every=500),
    mixtures=("baseline", "doremi", "se", "ce", "je", "vne", "div0", "div1", "div2", "div3"),
)
# micro_batch 32: ~31 GiB modelled peak under bf16 (estimate_peak_bytes; 64 would need ~60 GiB and the
# whole batch of 512 ~470 GiB), so one 80 GB H100 accumulates 16 micro-batches a step and 8 GPUs 2 each
_PROXY_PAPER = ProxyConfig(train=TrainConfig(eval_sequences=256, micro_batch=32))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        corpus=CorpusConfig(max_bytes_per_domain=600_000, valid_bytes_per_domain=100_000,
                            math_bytes=600_000),
        tokenizers=(TokenizerConfig(vocab_size=1024, train_bytes=1_000_000), TokenizerConfig(kind="gpt2")),
        proxy=_PROXY_SMOKE,
    ),
    "cpu": Profile(name="cpu", tokenizers=(TokenizerConfig(vocab_size=1024), TokenizerConfig(kind="gpt2")),
                   proxy=_PROXY_CPU),
    "cpu-long": Profile(name="cpu-long", tokenizers=(TokenizerConfig(vocab_size=1024), TokenizerConfig(kind="gpt2")),
                        proxy=_PROXY_CPU_LONG),
    "gpu": Profile(name="gpu", tokenizers=(TokenizerConfig(vocab_size=16384, train_bytes=None),
                                           TokenizerConfig(kind="gpt2")), proxy=_PROXY_GPU),
    "paper": Profile(
        name="paper",
        corpus=CorpusConfig(source="pile", max_docs_per_domain=200_000),
        tokenizers=(TokenizerConfig(kind="hf", name="EleutherAI/gpt-neox-20b"),),
        num_proc=16,
        proxy=_PROXY_PAPER,
    ),
}


class ProfileError(KeyError):
    pass


# Profiles resolved from config files (bimix.config) during this process, by name. Filled only by an
# explicit register() call (a CLI command, a notebook, a sweep worker), never at import.
_REGISTERED: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    """Make a resolved profile findable by its name in this process (built-in names cannot be reused
    for a different profile)."""
    known = PROFILES.get(profile.name) or _REGISTERED.get(profile.name)
    if known is not None and known != profile:
        raise ProfileError(f"profile name {profile.name!r} is already taken by a different profile")
    _REGISTERED[profile.name] = profile
    return profile


def known_names(names) -> list[str]:
    """The given profile names, each checked to be built in or registered (``ProfileError`` for the
    first that is not); for commands that only pass names on (the report, the notebook runner)."""
    return [get_profile(name).name for name in names]


def get_profile(name: str | Profile, **overrides) -> Profile:
    """The named (built-in or registered) profile, optionally with top-level fields replaced."""
    if isinstance(name, Profile):
        profile = name
    else:
        profile = PROFILES.get(name) or _REGISTERED.get(name)
        if profile is None:
            raise ProfileError(f"unknown profile {name!r}; choose from: {', '.join(PROFILES)} "
                               f"(or a config file with --config)")
    return replace(profile, **overrides) if overrides else profile
