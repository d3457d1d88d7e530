"""Named profiles: one registry saying how big every stage is.

``smoke``  seconds, for tests;  ``cpu``  the default main job on a laptop (≤ 30 min);  ``cpu-long``  the
same design with 4x the tokens per run, for a user with a few hours;
``gpu``    a single GPU, tens of millions of parameters;  ``paper``  the paper's settings (docs/paper.md#setup).

Each stage's settings are a frozen dataclass whose defaults are the paper's values where it has one.
"""

from __future__ import annotations

import dataclasses
import math
import re
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
    n_evals: int = 20  # evaluations from eval_start to the last step
    eval_start: int | None = None  # first evaluation step; None = end of warm-up (log grid), steps/n_evals (linear)
    eval_grid: str = "log"  # log: log-spaced steps | linear: every steps/n_evals steps, as the paper (every 10k
    #                         of 200k steps: its Table 1 predicts step 200k from a fit ending at 190k, 1.05x)
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
    # 20 evaluations every 15 steps, the paper's protocol (its 20 every 10k steps): Table 1 holds out step
    # 300 from a fit ending at 285, the paper's 1.05x (a 16-point log grid ended 249 -> 300, 1.2x)
    train=TrainConfig(batch_size=32, steps=300, lr=2e-3, n_evals=20, eval_grid="linear", eval_sequences=32,
                      checkpoint_every=100, decay_factor=1.0),
    # skewed and uniform: the baselines claims 3-4 need beside natural (bimix.data.mixtures.baselines)
    mixtures=("baseline", "doremi", "se", "ce", "je", "vne", "skewed", "uniform"),
    seeds=(0, 1, 2, 3, 4),  # five paired seeds: the pairwise claims' spread (bimix.law.seeds.seeds_needed)
    single_seed_mixtures=("div0", "div1", "div2", "div3"),
    workers=2,  # two single-thread processes: ~30 % more tokens/s than one two-thread process here
)
_PROXY_CPU_LONG = dataclasses.replace(  # the cpu design for a user with a few hours: 4x the tokens per run
    _PROXY_CPU, train=dataclasses.replace(_PROXY_CPU.train, batch_size=64, steps=600, checkpoint_every=100))
_PROXY_GPU = ProxyConfig(
    model=ModelConfig(n_layers=6, d_model=384, n_heads=6, seq_len=512),
    # micro_batch None: the whole batch of 64 in one pass, ~9 GiB modelled peak under bf16 (fits a 16 GB GPU)
    train=TrainConfig(batch_size=64, steps=3000, lr=1e-3, n_evals=20, eval_grid="linear", eval_sequences=128,
                      checkpoint_every=500),
    mixtures=("baseline", "doremi", "se", "ce", "je", "vne", "div0", "div1", "div2", "div3"),
)
# micro_batch 32: ~31 GiB modelled peak under bf16 (estimate_peak_bytes; 64 would need ~60 GiB and the
# whole batch of 512 ~470 GiB), so one 80 GB H100 accumulates 16 micro-batches a step and 8 GPUs 2 each
_PROXY_PAPER = ProxyConfig(train=TrainConfig(eval_grid="linear", eval_sequences=256, micro_batch=32))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        corpus=CorpusConfig(max_bytes_per_domain=600_000, valid_bytes_per_domain=100_000,
                            math_bytes=600_000),
        tokenizers=(TokenizerConfig(vocab_size=1024, train_bytes=1_000_000), TokenizerConfig(kind="gpt2")),
        # one process: on a corpus this small, datasets' worker processes cost more than they save
        # (measured: both stores took 16.3 CPU-s to build with 2 workers, 8.9 with 1, and 3.5 s instead of 6.5 s each)
        num_proc=1,
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


# ---------------------------------------------------------------------------------------- validation
# Checked before any work: a value that parses but cannot train (0 steps, an infinite learning rate,
# no seeds) would otherwise run and be recorded as a finished run.
MAX_COUNT = 2**31 - 1  # largest step, size or count accepted: far past any real run, and every
#                        product of them (tokens = steps x batch x T) stays exact in a float64
MAX_SEED = 2**32 - 1  # numpy's and torch's seed range
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
TOKENIZER_KINDS = ("bpe", "gpt2", "hf")
MIN_BPE_VOCAB = 257  # the 256-byte alphabet and the end-of-text token


def is_safe_name(name) -> bool:
    """A name that is one ordinary path component: letters, digits, ``. _ + -``, not starting with a
    dot or a dash, at most 100 characters (profiles and mixtures name folders and files)."""
    return isinstance(name, str) and _SAFE_NAME.fullmatch(name) is not None


def profile_problems(profile: Profile) -> list[tuple[str, str]]:
    """``(dotted key, what is wrong)`` for every value of ``profile`` that cannot work; empty when
    all can. Keys are spelled as in a config file (``proxy.train.lr``, ``tokenizers[1].kind``)."""
    out: list[tuple[str, str]] = []

    def count(key, v, lo=1, hi=MAX_COUNT, optional=False):
        if optional and v is None:
            return
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            out.append((key, f"expected an integer from {lo} to {hi}, got {v!r}"))

    def number(key, v, lo, hi, low_open=False, high_open=False):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
            and (v > lo if low_open else v >= lo) and (v < hi if high_open else v <= hi)
        if not ok:
            interval = f"{'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
            out.append((key, f"expected a finite number in {interval}, got {v!r}"))

    def name(key, v):
        if not is_safe_name(v):
            out.append((key, f"expected a safe single path component (letters, digits, . _ + -; not starting "
                             f"with . or -; at most 100 characters), got {v!r}"))

    name("name", profile.name)
    c = profile.corpus
    if not isinstance(c.source, str) or not c.source:
        out.append(("corpus.source", f"expected a non-empty string, got {c.source!r}"))
    count("corpus.max_bytes_per_domain", c.max_bytes_per_domain, optional=True)
    count("corpus.valid_bytes_per_domain", c.valid_bytes_per_domain)
    count("corpus.math_bytes", c.math_bytes)
    count("corpus.max_docs_per_domain", c.max_docs_per_domain, optional=True)
    count("corpus.seed", c.seed, lo=0, hi=MAX_SEED)
    if not profile.tokenizers:
        out.append(("tokenizers", "expected at least one tokenizer"))
    for i, t in enumerate(profile.tokenizers):
        key = f"tokenizers[{i}]"
        if t.kind not in TOKENIZER_KINDS:
            out.append((f"{key}.kind", f"expected one of {', '.join(TOKENIZER_KINDS)}, got {t.kind!r}"))
        count(f"{key}.vocab_size", t.vocab_size, lo=MIN_BPE_VOCAB if t.kind == "bpe" else 1)
        if t.kind == "hf" and not t.name:
            out.append((f"{key}.name", "a tokenizer of kind 'hf' needs the Hugging Face name"))
        count(f"{key}.train_bytes", t.train_bytes, optional=True)
    count("num_proc", profile.num_proc)

    p = profile.proxy
    m = p.model
    for field_ in ("n_layers", "d_model", "n_heads", "mlp_ratio", "seq_len"):
        count(f"proxy.model.{field_}", getattr(m, field_))
    if not [k for k, _ in out if k in ("proxy.model.d_model", "proxy.model.n_heads")] and m.d_model % m.n_heads:
        out.append(("proxy.model.n_heads", f"d_model={m.d_model} is not divisible by n_heads={m.n_heads}"))
    number("proxy.model.rotary_pct", m.rotary_pct, 0, 1)

    t = p.train
    n_tok = len(profile.tokenizers)
    if isinstance(t.tokenizer, bool) or not isinstance(t.tokenizer, int) or not 0 <= t.tokenizer < n_tok:
        out.append(("proxy.train.tokenizer", f"expected an index into tokenizers (0 to {n_tok - 1}), "
                                             f"got {t.tokenizer!r}"))
    count("proxy.train.batch_size", t.batch_size)
    count("proxy.train.steps", t.steps)
    number("proxy.train.lr", t.lr, 0, math.inf, low_open=True, high_open=True)
    if not isinstance(t.betas, tuple) or len(t.betas) != 2:
        out.append(("proxy.train.betas", f"expected two numbers, got {t.betas!r}"))
    else:
        for i, b in enumerate(t.betas):
            number(f"proxy.train.betas[{i}]", b, 0, 1, high_open=True)
    number("proxy.train.eps", t.eps, 0, math.inf, low_open=True, high_open=True)
    number("proxy.train.weight_decay", t.weight_decay, 0, math.inf, high_open=True)
    number("proxy.train.warmup_frac", t.warmup_frac, 0, 1, high_open=True)
    number("proxy.train.decay_factor", t.decay_factor, 0, math.inf, low_open=True, high_open=True)
    number("proxy.train.grad_clip", t.grad_clip, 0, math.inf, low_open=True, high_open=True)
    count("proxy.train.n_evals", t.n_evals)
    count("proxy.train.eval_start", t.eval_start, optional=True)
    if t.eval_grid not in ("log", "linear"):
        out.append(("proxy.train.eval_grid", f"expected 'log' or 'linear', got {t.eval_grid!r}"))
    count("proxy.train.eval_sequences", t.eval_sequences)
    count("proxy.train.checkpoint_every", t.checkpoint_every)
    number("proxy.train.epoch_limit", t.epoch_limit, 0, math.inf, low_open=True, high_open=True)
    count("proxy.train.micro_batch", t.micro_batch, optional=True)
    count("proxy.train.seed", t.seed, lo=0, hi=MAX_SEED)
    count("proxy.train.cpu_threads", t.cpu_threads, hi=1024)
    number("proxy.train.ema_decay", t.ema_decay, 0, 1, high_open=True)

    d = p.doremi
    number("proxy.doremi.eta", d.eta, 0, math.inf, low_open=True, high_open=True)
    number("proxy.doremi.smoothing", d.smoothing, 0, 1)
    name("proxy.doremi.reference", d.reference)
    name("proxy.doremi.sample", d.sample)

    if not p.mixtures:
        out.append(("proxy.mixtures", "expected at least one mixture"))
    for key, names in (("proxy.mixtures", p.mixtures), ("proxy.single_seed_mixtures", p.single_seed_mixtures)):
        for i, mixture in enumerate(names):
            name(f"{key}[{i}]", mixture)
    if not p.seeds:
        out.append(("proxy.seeds", "expected at least one seed"))
    for i, seed in enumerate(p.seeds):
        count(f"proxy.seeds[{i}]", seed, lo=0, hi=MAX_SEED)
    if len(set(p.seeds)) != len(p.seeds):
        out.append(("proxy.seeds", f"a seed is listed twice: {list(p.seeds)}"))
    count("proxy.workers", p.workers, hi=1024)
    return out
