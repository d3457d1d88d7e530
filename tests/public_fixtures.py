"""Small tables in the published formats of RegMix and of the SlimPajama table of Shukor et al., written
from known laws, and a mirror folder of them with their own pins. The real tables are never in the
repository: tests use these (see bimix.data.public_runs)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bimix.data.public_runs import Pinned, Source, write_sources

# RegMix's 17 training domains, in its column order, and the 13 with a validation loss
REGMIX_TRAIN = ("arxiv", "freelaw", "nih_exporter", "pubmed_central", "wikipedia_en", "dm_mathematics", "github",
                "philpapers", "stackexchange", "enron_emails", "gutenberg_pg_19", "pile_cc", "ubuntu_irc",
                "europarl", "hackernews", "pubmed_abstracts", "uspto_backgrounds")
REGMIX_VALID = tuple(d for d in REGMIX_TRAIN if d not in ("nih_exporter", "philpapers", "enron_emails", "europarl"))
# split -> (runs, first index, loss factor of the model size); test_60m repeats test_1m's mixtures
REGMIX_FIXTURE_SPLITS = {"train_1m": (240, 1, 1.0), "test_1m": (96, 1, 1.0), "test_60m": (96, 1, 0.72),
                         "test_1B": (40, 0, 0.55)}


def _regmix_shares(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 17) shares as RegMix publishes them: a random subset of domains, printed with 3 decimals
    (so rows sum to 1 only up to rounding), many exact zeros."""
    out = np.zeros((n, len(REGMIX_TRAIN)))
    for i in range(n):
        on = rng.random(len(REGMIX_TRAIN)) < 0.6
        on[rng.integers(len(REGMIX_TRAIN))] = True
        out[i, on] = rng.dirichlet(np.full(on.sum(), 0.8))
    return np.round(out, 3)


def _regmix_losses(shares: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 13) final losses: each domain's loss falls as a power of its own share (floor 0.002 for a
    domain left out) and a little with the web and code shares; 0.5 % noise."""
    idx = {d: j for j, d in enumerate(REGMIX_TRAIN)}
    cols = []
    for k, d in enumerate(REGMIX_VALID):
        r = np.maximum(shares[:, idx[d]], 0.002)
        base = (2.5 + 0.1 * k) * r ** -(0.06 + 0.005 * k)
        base *= np.exp(-0.08 * shares[:, idx["pile_cc"]] - 0.04 * shares[:, idx["github"]])
        cols.append(factor * base * np.exp(rng.normal(0, 0.005, len(r))))
    return np.column_stack(cols)


def _csv(header: list[str], index: np.ndarray, values: np.ndarray, fmt: str) -> bytes:
    lines = [",".join(header)]
    lines += [",".join([str(i)] + [format(v, fmt) for v in row]) for i, row in zip(index, values)]
    return ("\n".join(lines) + "\n").encode()


def regmix_fixture_files(seed: int = 0) -> dict[str, bytes]:
    """The eight RegMix files (published names -> bytes) for the splits of REGMIX_FIXTURE_SPLITS."""
    rng = np.random.default_rng(seed)
    out, test_shares = {}, None
    for split, (n, first, factor) in REGMIX_FIXTURE_SPLITS.items():
        kind, size = split.split("_")
        shares = test_shares if split == "test_60m" else _regmix_shares(n, rng)
        test_shares = shares if split == "test_1m" else test_shares
        index = np.arange(first, first + n)
        out[f"{kind}_mixture_{size}.csv"] = _csv(["index"] + [f"train_the_pile_{d}" for d in REGMIX_TRAIN],
                                                 index, shares, "g")
        out[f"{kind}_pile_loss_{size}.csv"] = _csv(
            ["index"] + [f"metric/the_pile_{d}_val_loss" for d in REGMIX_VALID], index,
            _regmix_losses(shares, factor, rng), ".6f")
    return out


DMSL_DOMAINS = ("arxiv", "book", "c4", "github", "commoncrawl", "stackexchange", "wikipedia")
DMSL_MIXTURES = ((0.02, 0.02, 0.4, 0.02, 0.34, 0.02, 0.18), (0.1, 0.1, 0.2, 0.1, 0.3, 0.1, 0.1),
                 (0.3, 0.05, 0.15, 0.2, 0.15, 0.1, 0.05))
DMSL_SIZES = {122e6: 2e9, 310e6: 4e9}  # parameters -> tokens of the run


def dmsl_fixture() -> bytes:
    """A table in the published SlimPajama format: per size and mixture, evaluations at 10 %, ..., 100 %
    of the run (a token count ending in 998M, as published) and the last one repeated 2M tokens
    later with identical losses; loss = BiMix-like in own share and tokens; an ``openhermes_loss``
    column with no weight column."""
    header = ([f"weight_{d}" for d in DMSL_DOMAINS] + ["model_size", "n_tokens"]
              + [f"{d}_loss" for d in DMSL_DOMAINS] + ["openhermes_loss"])
    lines = [",".join(header)]
    for size, total in DMSL_SIZES.items():
        for mix in DMSL_MIXTURES:
            points = [total * k / 10 - 2e6 for k in range(1, 11)]
            for n_tokens in points + [total]:
                t = min(n_tokens, points[-1])  # the repeat carries the last evaluation's losses
                losses = [(2.0 + 0.1 * j) / mix[j] ** 0.05 * ((t / 1e9) ** -0.2 * 0.8 + 1.0) * (122e6 / size) ** 0.05
                          for j in range(len(DMSL_DOMAINS))]
                values = list(mix) + [size, n_tokens] + losses + [3.0 * (t / 1e9) ** -0.1]
                lines.append(",".join(repr(float(v)) for v in values))
    return ("\n".join(lines) + "\n").encode()


def pin(path: str, blob: bytes) -> Pinned:
    return Pinned(path, len(blob), hashlib.sha256(blob).hexdigest())


def fixture_mirror(folder: Path, flat: bool = False) -> dict[str, Source]:
    """A mirror of the RegMix and SlimPajama fixtures under ``folder`` (``<source>/data/<file>``, or
    ``<source>/<file>`` when ``flat``) and the sources that pin them (same repositories and commits
    as the real ones, the fixtures' sizes and sha256)."""
    from bimix.data.public_runs import SOURCES

    sources = {}
    for name, files in (("regmix", regmix_fixture_files()), ("dmsl", {"dmsl_llm_slimpajama.csv": dmsl_fixture()})):
        pins = []
        for file, blob in files.items():
            dest = folder / name / (file if flat else f"data/{file}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(blob)
            pins.append(pin(f"data/{file}", blob))
        real = SOURCES[name]
        sources[name] = Source(name, real.repo, real.commit, tuple(pins), real.licence)
    return sources


def write_fixture_pins(sources: dict[str, Source], path: Path) -> Path:
    return write_sources(sources, path)
