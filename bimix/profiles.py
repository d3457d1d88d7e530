"""Named profiles: one registry saying how big every stage is.

``smoke``  seconds, for tests;  ``cpu``  the default main job on a laptop (≤ 30 min);
``gpu``    a single GPU, tens of millions of parameters;  ``paper``  the paper's settings (PAPER.md §8).

Each stage's settings are a frozen dataclass whose defaults are the paper's values where it has one.
"""

from __future__ import annotations

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
class Profile:
    name: str
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizers: tuple[TokenizerConfig, ...] = (TokenizerConfig(), TokenizerConfig(kind="gpt2"))
    num_proc: int = 2  # worker processes for tokenization and counting


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        corpus=CorpusConfig(max_bytes_per_domain=600_000, valid_bytes_per_domain=100_000,
                            math_bytes=600_000),
        tokenizers=(TokenizerConfig(vocab_size=1024, train_bytes=1_000_000), TokenizerConfig(kind="gpt2")),
    ),
    "cpu": Profile(name="cpu"),
    "gpu": Profile(name="gpu", tokenizers=(TokenizerConfig(vocab_size=16384, train_bytes=None),
                                           TokenizerConfig(kind="gpt2"))),
    "paper": Profile(
        name="paper",
        corpus=CorpusConfig(source="pile", max_docs_per_domain=200_000),
        tokenizers=(TokenizerConfig(kind="hf", name="EleutherAI/gpt-neox-20b"),),
        num_proc=16,
    ),
}


class ProfileError(KeyError):
    pass


def get_profile(name: str, **overrides) -> Profile:
    """The named profile, optionally with top-level fields replaced."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ProfileError(f"unknown profile {name!r}; choose from: {', '.join(PROFILES)}") from None
    return replace(profile, **overrides) if overrides else profile
