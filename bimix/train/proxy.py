"""Proxy pretraining: a small GPT-NeoX decoder trained on one mixture, every domain's loss logged.

One run = one mixture r (docs/paper.md#setting) trained for ``TrainConfig.steps`` optimiser steps with the paper's
recipe (docs/paper.md#setup): AdamW (0.9, 0.99), 6 % linear warm-up, exponential decay by 10x, clip 1.0.

Paired design (common random numbers). Within a sweep every run shares the initialisation seed and each
domain's *sequence of windows*: the k-th window drawn from domain d is a pure function of
(seed, d, k), whatever the mixture. Two runs therefore differ only in how many windows they take from
each domain, which removes most of the run-to-run noise from mixture comparisons. The per-step domain
counts come from a deterministic largest-remainder rule on the running deficit, so after n steps every
domain has received within one sequence of r_i * B * n.

Evaluation uses fixed, unweighted per-domain validation sequences that depend only on the token store
and T, so they are identical for every run of a profile (their hash is in every sidecar). Rows in the
run-table long format (``run, mixture, seed, step, tokens, domain, r, loss``; docs/run_tables.md)
are appended as each evaluation completes.

Checkpoints (model, optimiser, scheduler, sampler, objective and RNG state) are written atomically every
``checkpoint_every`` steps; a resumed run reproduces the uninterrupted run's losses exactly on CPU.
Under ``torchrun`` the same entry point uses DDP (gloo on CPU, NCCL on CUDA): every rank draws the same
global batch and trains on its slice, so the data and the global batch equal the single-process run's.
Only rank 0 writes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import math
import os
import sys
import time
import warnings
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bimix.files import atomic_path, read_json, sha256_file, sha256_json
from bimix.paths import RUNS_DIR, cache_dir
from bimix.profiles import PROFILES, ModelConfig, Profile, ProxyConfig, TrainConfig
from bimix.provenance import accelerator, code_version, environment
from bimix.data.runs import COLUMNS, write_sidecar

RUN_COLUMNS = COLUMNS  # the run-table long format, owned by bimix.data.runs


class TrainError(RuntimeError):
    """A proxy run cannot start or continue (bad mixture, too little data, inconsistent resume)."""


class NonFiniteLoss(TrainError):
    """A run's training or validation loss became NaN or infinite: it stops, and is not complete."""


class ConfigNameTaken(TrainError, ValueError):
    """A config file's profile name is already used, in the run table, by a config with other contents."""


class EpochWarning(UserWarning):
    """A domain's train stream is being repeated more often than ``TrainConfig.epoch_limit``."""


# --------------------------------------------------------------------------------------------- model
def build_model(model: ModelConfig, vocab_size: int, seed: int = 0):
    """A GPT-NeoX causal LM: rotary on ``rotary_pct`` of head dims, tied embeddings, no dropout.

    Initialised under a private copy of torch's RNG seeded with ``seed`` (global state untouched)."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    if model.d_model % model.n_heads:
        raise TrainError(f"d_model={model.d_model} is not divisible by n_heads={model.n_heads}")
    config = GPTNeoXConfig(
        vocab_size=vocab_size, hidden_size=model.d_model, num_hidden_layers=model.n_layers,
        num_attention_heads=model.n_heads, intermediate_size=model.mlp_ratio * model.d_model,
        rotary_pct=model.rotary_pct, max_position_embeddings=model.seq_len, tie_word_embeddings=True,
        attention_dropout=0.0, hidden_dropout=0.0, use_cache=False,
    )
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = GPTNeoXForCausalLM(config)
    return net


def count_parameters(net: torch.nn.Module, non_embedding: bool = False) -> int:
    """Distinct parameters (tied weights counted once); ``non_embedding`` drops the token embedding."""
    seen = {id(p): p for p in net.parameters()}
    total = sum(p.numel() for p in seen.values())
    if non_embedding:
        total -= net.get_input_embeddings().weight.numel()
    return total


def token_losses(net: torch.nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (nats) of next-token prediction; windows (B, T+1) -> losses (B, T)."""
    inputs, targets = windows[:, :-1], windows[:, 1:]
    logits = net(input_ids=inputs).logits  # (B, T, V)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)


# ------------------------------------------------------------------------------------ optimisation
def lr_factor(step: int, steps: int, warmup_frac: float, decay_factor: float) -> float:
    """Multiplier of the peak lr before optimiser step ``step`` (0-based): linear warm-up over
    ``warmup_frac * steps`` steps, then exponential decay reaching ``1/decay_factor`` at the last step."""
    warmup = max(1, round(warmup_frac * steps))
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, steps - 1 - warmup)
    return decay_factor ** (-min(1.0, (step - warmup) / span))


def make_optimizer(net: torch.nn.Module, train: TrainConfig):
    """AdamW with weight decay on matrices only (norm gains and biases are not decayed)."""
    params = list({id(p): p for p in net.parameters()}.values())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": train.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=train.lr, betas=tuple(train.betas), eps=train.eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, train.steps, train.warmup_frac, train.decay_factor))
    return optimizer, scheduler


def make_ema(net: torch.nn.Module, decay: float):
    """An exponential moving average of ``net``'s parameters (torch's AveragedModel), or None for 0.
    After each optimiser step, w_ema <- decay * w_ema + (1 - decay) * w."""
    if not decay:
        return None
    if not 0.0 < decay < 1.0:
        raise TrainError(f"ema_decay must be 0 (off) or in (0, 1), got {decay}")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay))


def warmup_steps(train: TrainConfig) -> int:
    return max(1, round(train.warmup_frac * train.steps))


def eval_schedule(train: TrainConfig) -> list[int]:
    """Evaluation steps, duplicates dropped, last step always included. ``eval_grid="log"``: ``n_evals``
    log-spaced integers from ``eval_start`` (default: end of warm-up) to the last step. ``"linear"``:
    ``n_evals`` evenly spaced integers from ``eval_start`` (default: ``steps / n_evals``, so every
    ``steps / n_evals`` steps, the paper's every 10k of 200k) to the last step."""
    if train.eval_grid == "linear":
        default = train.steps / max(1, train.n_evals)
    else:
        default = warmup_steps(train)
    first = train.eval_start if train.eval_start is not None else default
    first = min(max(1, first), train.steps)
    if train.n_evals <= 1 or first == train.steps:
        return [train.steps]
    space = np.linspace if train.eval_grid == "linear" else np.geomspace
    grid = space(first, train.steps, train.n_evals)
    return sorted({int(round(x)) for x in grid} | {train.steps})


# ---------------------------------------------------------------------------------------- sampling
def step_counts(weights: np.ndarray, batch_size: int, deficit: np.ndarray) -> np.ndarray:
    """Sequences per domain for one step: floor of the deficit, remaining slots to the largest
    remainders (ties to the lower index). ``deficit`` = r*B*(steps so far + 1) - sequences so far."""
    want = np.maximum(deficit, 0.0)
    counts = np.minimum(np.floor(want).astype(np.int64), batch_size)
    short = batch_size - int(counts.sum())
    if short < 0:  # only possible through float error; take back from the smallest remainders
        order = np.argsort(want - counts, kind="stable")
        for i in order[: -short]:
            counts[i] -= 1
    elif short > 0:
        order = np.argsort(-(want - counts), kind="stable")
        eligible = [i for i in order if weights[i] > 0]
        for i in eligible[:short]:
            counts[i] += 1
    return counts


def _domain_key(domain: str) -> int:
    return zlib.crc32(domain.encode("utf-8"))


class MixtureSampler:
    """Deterministic mixture batches with per-domain common random numbers.

    Domain d's stream is cut into windows of T+1 tokens (T-token stride, one token of overlap so every
    position has a target); each epoch visits all windows once in a random order with a random offset,
    both from ``numpy.random.default_rng([seed, crc32(d), epoch])``. The k-th window of d is thus fixed
    by (seed, d, k) and shared by every run of a sweep."""

    def __init__(self, streams: Mapping[str, np.ndarray], domains: Sequence[str], weights: np.ndarray,
                 seq_len: int, batch_size: int, seed: int, epoch_limit: float = math.inf):
        self.domains = tuple(domains)
        self.weights = np.asarray(weights, dtype=np.float64)
        if self.weights.shape != (len(self.domains),):
            raise TrainError(f"{len(self.weights)} weights for {len(self.domains)} domains")
        if np.any(self.weights < 0) or not np.isclose(self.weights.sum(), 1.0, atol=1e-6):
            raise TrainError(f"mixture weights must be >= 0 and sum to 1, got sum {self.weights.sum():.6f}")
        self.streams = [streams[d] for d in self.domains]
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.epoch_limit = epoch_limit
        self.n_windows = []
        for d, s in zip(self.domains, self.streams):
            n = (len(s) - seq_len) // seq_len
            if n < 1 and self.weights[self.domains.index(d)] > 0:
                raise TrainError(f"domain {d!r}: {len(s)} train tokens, too few for one window of {seq_len + 1}")
            self.n_windows.append(max(n, 0))
        self.step = 0
        self.consumed = np.zeros(len(self.domains), dtype=np.int64)  # windows drawn per domain
        self._perm_cache: dict[int, tuple[int, int, np.ndarray]] = {}
        self._warned: set[int] = set()

    def _epoch_order(self, i: int, epoch: int) -> tuple[int, np.ndarray]:
        cached = self._perm_cache.get(i)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, _domain_key(self.domains[i]), epoch])
            offset = int(rng.integers(self.seq_len))
            cached = (epoch, offset, rng.permutation(self.n_windows[i]))
            self._perm_cache[i] = cached
        return cached[1], cached[2]

    def window(self, i: int, k: int) -> np.ndarray:
        """The k-th window (T+1 tokens) of domain index i."""
        epoch, j = divmod(k, self.n_windows[i])
        offset, order = self._epoch_order(i, epoch)
        start = offset + int(order[j]) * self.seq_len
        return np.asarray(self.streams[i][start: start + self.seq_len + 1], dtype=np.int64)

    def counts(self, step: int | None = None) -> np.ndarray:
        """Per-domain sequence counts of step ``step`` (default: the next one), without drawing."""
        step = self.step if step is None else step
        total = np.zeros(len(self.domains), dtype=np.int64)
        for s in range(step + 1):  # cheap: a few thousand steps of m-vectors at most
            c = step_counts(self.weights, self.batch_size, self.weights * self.batch_size * (s + 1) - total)
            total += c
        return c

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Global batch: windows (B, T+1) int64 grouped by domain, and domain indices (B,)."""
        deficit = self.weights * self.batch_size * (self.step + 1) - self.consumed
        counts = step_counts(self.weights, self.batch_size, deficit)
        rows, ids = [], []
        for i, c in enumerate(counts):
            for _ in range(int(c)):
                rows.append(self.window(i, int(self.consumed[i])))
                ids.append(i)
                self.consumed[i] += 1
            if self.n_windows[i] and self.epochs()[i] > self.epoch_limit and i not in self._warned:
                self._warned.add(i)
                warnings.warn(f"domain {self.domains[i]!r} repeated {self.epochs()[i]:.2f} times "
                              f"(limit {self.epoch_limit})", EpochWarning, stacklevel=2)
        self.step += 1
        return np.stack(rows), np.asarray(ids, dtype=np.int64)

    def epochs(self) -> np.ndarray:
        """Passes over each domain's train stream so far."""
        n = np.maximum(np.asarray(self.n_windows, dtype=np.float64), 1)
        return self.consumed / n

    def state_dict(self) -> dict:
        return {"step": self.step, "consumed": self.consumed.tolist(), "seed": self.seed,
                "weights": self.weights.tolist()}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed or not np.allclose(state["weights"], self.weights):
            raise TrainError("checkpoint's sampler has a different seed or mixture than this run")
        self.step = int(state["step"])
        self.consumed = np.asarray(state["consumed"], dtype=np.int64)


# -------------------------------------------------------------------------------------- validation
def validation_windows(store, seq_len: int, n_sequences: int) -> dict[str, np.ndarray]:
    """Fixed validation windows per domain: the first ``n_sequences`` windows of T+1 tokens
    (stride T) of the domain's valid split. Depends only on the store and T: identical for every run."""
    out = {}
    for d in store.domains:
        stream = store.tokens(d, "valid")
        n = min(n_sequences, (len(stream) - 1) // seq_len)
        if n < 1:
            raise TrainError(f"domain {d!r}: {len(stream)} validation tokens, too few for one window "
                             f"of {seq_len + 1}")
        if n < n_sequences:
            warnings.warn(f"domain {d!r}: only {n} validation sequences of {seq_len} tokens "
                          f"(asked for {n_sequences})", stacklevel=2)
        out[d] = np.stack([np.asarray(stream[j * seq_len: j * seq_len + seq_len + 1], dtype=np.int64)
                           for j in range(n)])
    return out


def validation_hash(windows: Mapping[str, np.ndarray]) -> str:
    return sha256_json({d: zlib.crc32(np.ascontiguousarray(w).tobytes()) for d, w in windows.items()})[:16]


@torch.no_grad()
def evaluate(net: torch.nn.Module, windows: Mapping[str, np.ndarray], device: torch.device,
             batch: int = 32, precision: str | None = None) -> dict[str, float]:
    """Mean token cross-entropy (nats) per domain on the fixed validation windows."""
    was_training = net.training
    net.eval()
    out = {}
    for d, w in windows.items():
        total, n = 0.0, 0
        for start in range(0, len(w), batch):
            x = torch.from_numpy(w[start: start + batch]).to(device)
            with _autocast(device, precision):
                losses = token_losses(net, x)
            total += float(losses.double().sum())
            n += losses.numel()
        out[d] = total / n
    net.train(was_training)
    return out


def _autocast(device: torch.device, precision: str | None = None):
    """bf16 autocast for ``precision="bf16"``; plain fp32 otherwise. Without a precision, CUDA means bf16."""
    precision = precision or ("bf16" if device.type == "cuda" else "fp32")
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------ devices
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


class DeviceError(ValueError):
    """A device or precision this machine or this torch cannot give (a user mistake: exit 2)."""


def resolve_device(name: str | None = "auto") -> str:
    """The device type a run trains on: ``cpu`` or ``cuda``; ``auto`` (or None) is CUDA when this torch
    sees a GPU, else CPU."""
    name = name or "auto"
    if name not in DEVICES:
        raise DeviceError(f"unknown device {name!r}; choose from: {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceError(f"--device cuda, but torch {torch.__version__} ({build}) sees no GPU; "
                          "use --device cpu, or install a CUDA build of torch (README, GPUs)")
    return name


def resolve_precision(name: str | None, device: str) -> str:
    """``fp32`` or ``bf16`` (autocast: matmuls in bfloat16, losses, norms and weights in fp32);
    ``auto`` (or None) is bf16 on CUDA and fp32 on CPU."""
    name = name or "auto"
    if name not in PRECISIONS:
        raise DeviceError(f"unknown precision {name!r}; choose from: {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if device == "cuda" else "fp32"
    return name


def run_device(spec: RunSpec, device: str | None = None) -> torch.device:
    """The torch device ``spec`` trains on: ``device`` when given (``cuda:1``), else the spec's device
    type, on ``cuda:$LOCAL_RANK`` under torchrun. A device of another type than the spec's is refused:
    the run id says where the run trains."""
    if device is None:
        if spec.device == "cuda":
            return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        return torch.device(spec.device)
    dev = torch.device(device)
    if dev.type != spec.device:
        raise TrainError(f"run {spec.run_id} is a {spec.device} run (its id says so); asked to train it "
                         f"on {device}. Make the spec with device={dev.type!r}")
    return dev


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --precision, for every subcommand that trains."""
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="auto (default): cuda when torch sees a GPU, else cpu. A device other than "
                             "cpu is part of the run id")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto (default): bf16 autocast on cuda, fp32 on cpu; other than cpu fp32 "
                             "is part of the run id")


# ------------------------------------------------------------------------------------- checkpoints
def rng_states(device: torch.device) -> dict:
    """Torch's RNG states as bytes (CPU, and the run's GPU on CUDA). Bytes, not tensors, so that
    ``torch.load(map_location=<a GPU>)`` cannot move them off the CPU, where torch needs them."""
    states = {"cpu": torch.get_rng_state().numpy().tobytes()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device).numpy().tobytes()
    return states


def restore_rng_states(saved, device: torch.device) -> None:
    """Set the RNG states :func:`rng_states` saved. Checkpoints written before held the CPU state as a
    tensor, which a GPU map_location moved onto the GPU; it is brought back to a CPU ByteTensor."""
    def as_byte_tensor(state) -> torch.Tensor:
        if isinstance(state, (bytes, bytearray)):
            return torch.frombuffer(bytearray(state), dtype=torch.uint8)
        return state.detach().to("cpu", torch.uint8)

    if not isinstance(saved, dict):
        saved = {"cpu": saved}
    torch.set_rng_state(as_byte_tensor(saved["cpu"]))
    if device.type == "cuda" and "cuda" in saved:
        torch.cuda.set_rng_state(as_byte_tensor(saved["cuda"]), device)


def load_checkpoint(path, map_location) -> dict:
    """A checkpoint with its tensors on ``map_location`` (what ``torch.load`` accepts); the RNG states
    stay bytes on the CPU whatever the location. One that cannot be read (cut off or damaged on disk:
    it is written atomically) is refused in one line naming it."""
    import pickle

    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainError(f"checkpoint {path} cannot be read ({reason}); delete it, or train with --no-resume, "
                         "to train the run from its start") from None


# ------------------------------------------------------------------------------------ memory model
def estimate_peak_bytes(model: ModelConfig, vocab_size: int, micro_batch: int, precision: str = "bf16",
                        ema: bool = False) -> int:
    """Peak memory (bytes) of one training step, by a stated model (README, "GPUs").

    With P parameters, N = micro_batch * T tokens per forward pass, d the width, L the layers, V the
    vocabulary, r the MLP ratio and s the bytes of an activation (2 under bf16 autocast, 4 in fp32):

      state   = 16 P (+ 4 P with an EMA)  fp32 weights 4, gradients 4, AdamW moments 8;
                + 2 P under bf16           autocast's bf16 copy of the weights
      layers  = L * N * d * s * (7 + 3 r)  activations each block keeps for backward (norms, QKV,
                                           attention output, projections, the MLP's r*d wide tensors)
      logits  = 12 * N * V                 the logits, their fp32 copy and log-softmax, and in backward
                                           the fp32 gradient: 12 bytes a logit in fp32 and in bf16
      peak    = state + layers + logits

    The attention score matrix is not counted: SDPA's fused kernels on CUDA never store it. The model
    was fitted to allocations measured on CPU at toy sizes (tests/test_gpu_path.py holds it to 20 %);
    for the paper's 124M model at micro-batch 64 the logits are ~60 % of the peak."""
    if micro_batch < 1:
        raise TrainError(f"micro_batch must be >= 1, got {micro_batch}")
    if precision not in ("bf16", "fp32"):
        raise DeviceError(f"unknown precision {precision!r}; choose from: bf16, fp32")
    s = 2 if precision == "bf16" else 4
    d, L, T, r = model.d_model, model.n_layers, model.seq_len, model.mlp_ratio
    per_layer = (4 + 2 * r) * d * d + (9 + r) * d  # QKV + output, MLP in + out, their biases, two norms
    P = vocab_size * d + L * per_layer + 2 * d  # tied embedding, blocks, final norm
    N = micro_batch * T
    state = (16 + (4 if ema else 0) + (2 if precision == "bf16" else 0)) * P
    layers = L * N * d * s * (7 + 3 * r)
    logits = 12 * N * vocab_size
    return int(state + layers + logits)


def fitting_micro_batch(model: ModelConfig, vocab_size: int, batch_size: int, memory_bytes: float,
                        precision: str = "bf16", headroom: float = 0.8, ema: bool = False) -> int:
    """The largest power-of-two micro-batch (dividing ``batch_size``) whose modelled peak is within
    ``headroom`` of ``memory_bytes``."""
    micro = batch_size
    while micro > 1 and estimate_peak_bytes(model, vocab_size, micro, precision, ema) > headroom * memory_bytes:
        if micro % 2:
            break
        micro //= 2
    return micro


# ---------------------------------------------------------------------------------------- run table
def append_rows(csv_path: Path, rows: list[dict]) -> int:
    """Append run-table rows under an exclusive lock, skipping (run, step, domain) already present
    (a resumed run recomputes identical evaluations). Returns the number of rows written.

    Every row is written with its newline in one call, so a last line without one was cut off by a
    killed writer (its last number may be cut too): it is dropped, with a message on stderr, before
    appending. A finished run never resumes, so its missing rows are written back from its sidecar
    (which keeps every evaluation, :func:`_sidecar_rows`); an unfinished run recomputes them when it
    resumes from its checkpoint."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "a+", encoding="utf-8", newline="") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            text = fh.read()
            if text and not text.endswith("\n"):
                kept, _, torn = text.rpartition("\n")
                kept = kept + "\n" if kept else ""
                fh.truncate(len(kept.encode("utf-8")))
                text = kept
                restored, note = _sidecar_rows(csv_path, torn, text.splitlines()[1:])
                rows = restored + list(rows)
                print(f"warning: {csv_path}: dropped its cut-off last line {torn[:80]!r} (left by an "
                      f"interrupted write); {note}", file=sys.stderr)
            present = set()
            lines = text.splitlines()
            if lines:
                header = lines[0].split(",")
                if tuple(header) != RUN_COLUMNS:
                    raise TrainError(f"{csv_path}: header {header} is not the run-table format {RUN_COLUMNS}")
                runs = {r["run"] for r in rows}
                for line in lines[1:]:
                    f = line.split(",")
                    if f and f[0] in runs:
                        present.add((f[0], int(f[3]), f[5]))
            new = [r for r in rows if (r["run"], int(r["step"]), r["domain"]) not in present]
            fh.seek(0, os.SEEK_END)
            if not lines:
                fh.write(",".join(RUN_COLUMNS) + "\n")
            for r in new:
                fh.write(",".join(_fmt(r[c]) for c in RUN_COLUMNS) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return len(new)


def _sidecar_rows(csv_path: Path, torn: str, lines: list[str]) -> tuple[list[dict], str]:
    """The rows a cut-off last line took away that the run's sidecar can give back, and what happened,
    in words. Only a finished run's sidecar (status ``complete``, every evaluation under ``evals``) is
    used: its rows missing from the table come back with the numbers the run wrote, its domains in the
    table's order. A run that did not finish writes its rows again when it resumes."""
    prefix = torn.split(",")[0]
    folder = Path(csv_path).parent / "sidecars"  # the layout of bimix.data.runs.sidecar_path
    candidates = sorted(folder.glob(f"{prefix}*.json")) if prefix and folder.is_dir() else []
    out, notes = [], []
    for path in candidates:
        side = read_json(path)
        run = side.get("run", path.stem)
        if side.get("status") != "complete":
            continue
        have, order = set(), []  # (step, domain) of the run's rows in the table; the table's domain order
        for line in lines:
            f = line.split(",")
            if f[0] == run:
                have.add((int(f[3]), f[5]))
                if f[5] not in order:
                    order.append(f[5])
        weights = side.get("weights") or {}
        evals = side.get("evals") or []
        steps = {int(e["step"]) for e in evals}
        if not evals or not set(int(s) for s in side.get("eval_steps") or steps) <= steps:
            notes.append(f"run {run} is finished but its sidecar {path} does not keep every evaluation: it "
                         f"is no longer complete, and `sweep` or `train` trains it again")
            continue
        domains = order + sorted(d for d in weights if d not in order)
        rows = [{"run": run, "mixture": side["mixture"], "seed": side["seed"], "step": int(e["step"]),
                 "tokens": int(e["tokens"]), "domain": d, "r": float(weights[d]), "loss": float(e["losses"][d])}
                for e in sorted(evals, key=lambda e: int(e["step"])) for d in domains
                if (int(e["step"]), d) not in have]
        if rows:
            notes.append(f"run {run} is finished: restored its {len(rows)} missing row(s) from its sidecar {path}")
        out += rows
    return out, "; ".join(notes) or "the run recomputes it when it resumes from its checkpoint"


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v)  # shortest round-tripping form
    s = str(v)
    if "," in s or "\n" in s:
        raise TrainError(f"run-table value {s!r} contains a comma or newline")
    return s


# --------------------------------------------------------------------------------------- objectives
class MeanLoss:
    """The plain objective: mean token cross-entropy over the batch."""

    name = "mean"

    def micro_loss(self, model, x: torch.Tensor, domain_ids: torch.Tensor, step: int, n_local: int) -> torch.Tensor:
        """This micro-batch's share of the local batch's mean token loss (shares sum to the mean)."""
        return token_losses(model, x).mean() * (len(x) / n_local)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def summary(self) -> dict:
        return {}


# -------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class RunSpec:
    """One proxy run: a named mixture (domain -> share) under a profile's proxy config and a seed."""

    profile: str
    mixture: str
    weights: tuple[tuple[str, float], ...]  # (domain, r) in store order
    seed: int
    config: ProxyConfig
    store_id: str
    objective: str = "mean"
    # bimix.config.config_hash of the profile when it came from a config file (None for a built-in one):
    # recorded in the sidecar, so two config files with one name cannot share a run table; not in the id
    config_hash: str | None = None
    device: str = "cpu"  # device type the run trains on: cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 (autocast); see resolve_precision

    @property
    def run_id(self) -> str:
        key = {"model": asdict(self.config.model), "train": _train_key(self.config.train),
               "weights": [[d, round(w, 12)] for d, w in self.weights], "store": self.store_id,
               "objective": self.objective}
        if self.objective != "mean":
            key["doremi"] = asdict(self.config.doremi)
        if (self.device, self.precision) != ("cpu", "fp32"):
            # another device or precision gives other losses; CPU fp32 runs keep the ids they had
            key["device"], key["precision"] = self.device, self.precision
        return f"{self.mixture}-s{self.seed}-{sha256_json(key)[:8]}"


def _train_key(train: TrainConfig) -> dict:
    """Train settings that change results (checkpoint spacing and micro-batching do not)."""
    d = asdict(train)
    for k in ("checkpoint_every", "micro_batch", "seed"):
        d.pop(k)
    if not d["ema_decay"]:
        d.pop("ema_decay")  # runs from before the option existed keep their ids
    if d["cpu_threads"] == 1:
        d.pop("cpu_threads")  # the default (every sweep worker's); runs trained before it keep their ids
    if d["eval_grid"] == "log":
        d.pop("eval_grid")  # the log grid came first; its runs keep their ids
    return d


def run_paths(profile: str, out_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(runs.csv, sidecars/) of a profile, under ``RUNS_DIR/profile`` unless ``out_dir`` is given."""
    base = Path(out_dir) if out_dir else RUNS_DIR / profile
    return base / "runs.csv", base / "sidecars"


def _checkpoint_dir(spec: RunSpec, out_dir=None) -> Path:
    # Keyed by the run table's folder too: the same run trained into another folder starts afresh
    # instead of resuming a finished checkpoint whose rows live elsewhere.
    table = run_paths(spec.profile, out_dir)[0].resolve().parent
    return cache_dir() / "checkpoints" / spec.profile / sha256_json(str(table))[:8] / spec.run_id


def checkpoint_path(spec: RunSpec, out_dir=None) -> Path:
    return _checkpoint_dir(spec, out_dir) / "last.pt"


def final_model_path(spec: RunSpec, out_dir=None) -> Path:
    return _checkpoint_dir(spec, out_dir) / "final_model.pt"


class FinalModelMismatch(TrainError):
    """A run's ``final_model.pt`` is not the file its sidecar recorded (damaged, or another run's)."""


def check_final_model(path: Path, sidecar: Mapping, sidecar_file=None) -> Path:
    """``path`` (a run's ``final_model.pt``) if its sha256 is the one the run's sidecar recorded when
    it wrote it (sidecars from before the record are taken as they are); else FinalModelMismatch."""
    want = sidecar.get("final_model_sha256")
    if want and sha256_file(path) != want:
        raise FinalModelMismatch(f"{path} is not the final model of run {sidecar.get('run')}: its sha256 differs "
                                 f"from the one {sidecar_file or 'its sidecar'} recorded; train the run again "
                                 "(its checkpoint, if cached, writes it back)")
    return path


def final_model_ok(spec: RunSpec, out_dir=None) -> bool:
    """Whether the run's final weights are in the cache and are the ones its sidecar recorded."""
    path = final_model_path(spec, out_dir)
    sidecar = run_paths(spec.profile, out_dir)[1] / f"{spec.run_id}.json"
    if not path.exists() or not sidecar.exists():
        return False
    try:
        check_final_model(path, read_json(sidecar), sidecar)
    except FinalModelMismatch as exc:
        print(f"warning: {exc}", file=sys.stderr)
        return False
    return True


def same_weights_run(spec: RunSpec, out_dir=None) -> str | None:
    """A run in the same table with this run's weights, config, store and seed under another mixture
    name (run ids share their hash suffix then), or None. A mixture's identity is its weights."""
    suffix = spec.run_id[len(spec.mixture):]  # "-s<seed>-<hash>"
    folder = run_paths(spec.profile, out_dir)[1]
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"*{suffix}.json")):
        if path.stem != spec.run_id and path.stem.endswith(suffix):
            return path.stem
    return None


def refuse_duplicate_weights(spec: RunSpec, out_dir=None) -> None:
    other = same_weights_run(spec, out_dir)
    if other is not None:
        name = other[: -len(spec.run_id) + len(spec.mixture)]
        raise TrainError(f"mixture {spec.mixture!r} has the same weights, config and seed as run {other} "
                         f"(mixture {name!r}); train or refer to it under that name")


def is_complete(spec: RunSpec, out_dir=None) -> bool:
    """Whether the run is done: its sidecar says ``complete`` and the run table beside it holds its
    rows, one per domain at every evaluation step the sidecar lists. A finished checkpoint, or a
    sidecar whose table was deleted or replaced, is not enough: training again writes the rows back."""
    csv_path, sidecar_dir = run_paths(spec.profile, out_dir)
    sidecar = sidecar_dir / f"{spec.run_id}.json"
    if not sidecar.exists():
        return False
    side = read_json(sidecar)
    if side.get("status") != "complete":
        return False
    wanted = {(int(step), domain) for step in side.get("eval_steps") or () for domain in side.get("weights") or {}}
    return bool(wanted) and wanted <= table_rows(csv_path).get(spec.run_id, frozenset())


_TABLE_ROWS: dict[Path, tuple[tuple[int, int], dict[str, frozenset]]] = {}  # path -> (mtime, size), rows


def table_rows(csv_path: str | os.PathLike) -> dict[str, frozenset]:
    """run -> {(step, domain)} of the rows in a run table (empty when there is none). Read once per
    version of the file: a sweep's plan asks for every run of a table."""
    path = Path(csv_path).resolve()
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    version = (st.st_mtime_ns, st.st_size)
    cached = _TABLE_ROWS.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows: dict[str, set] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\n").split(",")
        if header == [""]:
            return {}  # created, header not yet written: no rows
        if tuple(header) != RUN_COLUMNS:
            raise TrainError(f"{path}: header {header} is not the run-table format {RUN_COLUMNS}")
        i_run, i_step, i_domain = (RUN_COLUMNS.index(c) for c in ("run", "step", "domain"))
        for line in fh:
            if not line.endswith("\n"):
                break  # cut off by a killed writer: not a row (append_rows drops it)
            f = line.rstrip("\n").split(",")
            rows.setdefault(f[i_run], set()).add((int(f[i_step]), f[i_domain]))
    frozen = {run: frozenset(v) for run, v in rows.items()}
    _TABLE_ROWS[path] = (version, frozen)
    return frozen


def refuse_other_config(spec: RunSpec, out_dir=None) -> None:
    """A profile from a config file is named by the file, and the name picks the run table. Two files
    with one name and different contents would write one table, mixing two designs under one name: a
    table whose sidecars record another config hash for this profile name is refused. Built-in profiles
    are exempt (their values change with the code, and run ids already keep such runs apart)."""
    mine = spec.config_hash
    folder = run_paths(spec.profile, out_dir)[1]
    if mine is None or not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        side = read_json(path)
        theirs = side.get("config_hash")
        if side.get("profile") == spec.profile and theirs and theirs != mine:
            raise ConfigNameTaken(
                f"profile {spec.profile!r} (config hash {mine}) would write run table {folder.parent}, which "
                f"holds run {path.stem} of a different config with the same name (hash {theirs}); give the "
                f"config file another name, or train into another folder with --out")


def _eval_rows(spec: RunSpec, step: int, tokens: int, losses: Mapping[str, float]) -> list[dict]:
    weights = dict(spec.weights)
    return [{"run": spec.run_id, "mixture": spec.mixture, "seed": spec.seed, "step": step, "tokens": tokens,
             "domain": d, "r": float(weights[d]), "loss": float(losses[d])} for d in weights]


def accumulate_gradients(model, objective, x_all: torch.Tensor, ids_all: torch.Tensor, micro: int, step: int,
                         autocast: Callable[[], contextlib.AbstractContextManager]) -> torch.Tensor:
    """Forward and backward of one step's local batch (this rank's slice, (b, T+1)) in micro-batches of
    ``micro`` sequences; the gradients add up in the parameters, and DDP all-reduces them with the last
    micro-batch only. An objective that needs statistics of the whole global batch before its first
    loss (DoReMi's excess losses) computes them in ``objective.prepare``. Returns the local loss, detached."""
    chunks = [(x_all[j:j + micro], ids_all[j:j + micro]) for j in range(0, len(x_all), micro)]
    prepare = getattr(objective, "prepare", None)
    if prepare is not None:
        prepare(model, chunks, step, autocast)
    total = torch.zeros((), device=x_all.device)
    for j, (x, ids) in enumerate(chunks):
        last = j == len(chunks) - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast():
                loss = objective.micro_loss(model, x, ids, step, len(x_all))
            loss.backward()
        total += loss.detach().float()
    return total


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def train_run(spec: RunSpec, store, *, device: str | None = None, **kwargs) -> dict:
    """Train one proxy run (or continue it from its checkpoint) and return its sidecar dict; see
    :func:`_train_run` for the arguments. On CPU the run trains with ``TrainConfig.cpu_threads`` torch
    threads whatever the caller set (restored afterwards), so its losses are the same bit for bit on
    any machine and the run id says which thread count made them."""
    on_cpu = run_device(spec, device).type == "cpu"
    previous = torch.get_num_threads()
    if on_cpu:
        torch.set_num_threads(spec.config.train.cpu_threads)
    try:
        return _train_run(spec, store, device=device, **kwargs)
    finally:
        torch.set_num_threads(previous)


def _train_run(spec: RunSpec, store, *, out_dir=None, resume: bool = True,
               objective=None, progress: Callable[[int], None] | None = None,
               stop_after: int | None = None, device: str | None = None,
               on_eval: Callable[[int, torch.nn.Module], None] | None = None) -> dict:
    """Train one proxy run (or continue it from its checkpoint) and return its sidecar dict.

    ``progress(tokens)`` is called after every step with the tokens that step consumed (for sweep
    progress bars). ``stop_after`` ends the run early after that many steps in total (tests).
    ``on_eval(step, net)`` is called on rank 0 after each evaluation (model snapshots)."""
    rank, world = _dist_info()
    cfg, train = spec.config, spec.config.train
    T, B = cfg.model.seq_len, train.batch_size
    if B % world:
        raise TrainError(f"batch_size={B} is not divisible by the {world} DDP processes")
    dev = run_device(spec, device)
    domains = tuple(store.domains)
    weights = dict(spec.weights)
    if tuple(weights) != domains:
        raise TrainError(f"mixture {spec.mixture!r} domains {tuple(weights)} differ from the store's {domains}")
    r = np.array([weights[d] for d in domains])
    csv_path, sidecar_dir = run_paths(spec.profile, out_dir)
    ckpt = checkpoint_path(spec, out_dir)
    objective = objective or MeanLoss()

    refuse_duplicate_weights(spec, out_dir)
    refuse_other_config(spec, out_dir)
    net = build_model(cfg.model, store.vocab_size, seed=spec.seed).to(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # NCCL needs each rank on its own device
        torch.backends.cuda.matmul.allow_tf32 = spec.precision == "bf16"  # fp32 means fp32 matmuls
    optimizer, scheduler = make_optimizer(net, train)
    ema = make_ema(net, train.ema_decay)
    sampler = MixtureSampler({d: store.tokens(d, "train") for d in domains}, domains, r, T, B,
                             seed=spec.seed, epoch_limit=train.epoch_limit)
    valid = validation_windows(store, T, train.eval_sequences)
    schedule = eval_schedule(train)
    state = {"step": 0, "wall_s": 0.0, "eval_s": 0.0, "evals": []}

    if resume and ckpt.exists():
        blob = load_checkpoint(ckpt, map_location=dev)
        if blob["run"] != spec.run_id:
            raise TrainError(f"checkpoint {ckpt} belongs to run {blob['run']}, not {spec.run_id}")
        net.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        sampler.load_state_dict(blob["sampler"])
        objective.load_state_dict(blob["objective"])
        if ema is not None:
            ema.load_state_dict(blob["ema"])
        restore_rng_states(blob["rng"], dev)
        state = blob["state"]
        state.setdefault("eval_s", None)  # a checkpoint from before the field: evaluation time unknown
        if rank == 0:
            # every evaluation the checkpoint passed is in it: rows missing from the table (deleted, or
            # a table folder trained anew) are written back from it, the same numbers (duplicates skipped)
            append_rows(csv_path, [row for e in state["evals"]
                                   for row in _eval_rows(spec, e["step"], e["tokens"], e["losses"])])

    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(net, device_ids=[dev.index] if dev.type == "cuda" else None)

    meta = {
        "run": spec.run_id, "mixture": spec.mixture, "weights": weights, "seed": spec.seed,
        "profile": spec.profile, "objective": objective.name,
        "model": asdict(cfg.model), "train": asdict(train), "doremi": asdict(cfg.doremi),
        "tokenizer": store.meta.get("tokenizer"), "corpus_hash": store.corpus_hash,
        "store_id": store.store_id, "vocab_size": store.vocab_size, "validation_hash": validation_hash(valid),
        "validation_sequences": {d: len(w) for d, w in valid.items()}, "eval_steps": schedule,
        "n_params": count_parameters(net), "n_params_non_embedding": count_parameters(net, True),
        "code_version": code_version(), "environment": environment(), "world_size": world,
        "device": str(dev), "torch_threads": torch.get_num_threads(), "precision": spec.precision,
        "accelerator": accelerator(dev, spec.precision),
        "config_hash": spec.config_hash,
    }
    if rank == 0:
        write_sidecar(csv_path, spec.run_id, {**meta, "status": "running", "step": state["step"]})

    def save_checkpoint():
        if rank == 0:
            blob = {"run": spec.run_id, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "sampler": sampler.state_dict(),
                    "objective": objective.state_dict(), "rng": rng_states(dev), "state": state,
                    "ema": ema.state_dict() if ema is not None else None}
            with atomic_path(ckpt) as tmp:
                torch.save(blob, tmp)
        if world > 1:
            torch.distributed.barrier()

    # NaN or inf in any micro-batch's loss, kept on the device and read only where the run would write
    # something (an evaluation, a checkpoint, the end), so a GPU run does not wait on it every step
    nonfinite = torch.zeros((), dtype=torch.int32, device=dev)

    def fail_nonfinite(what: str, step: int):
        message = (f"run {spec.run_id}: the {what} is not finite (NaN or inf) at step {step}; the run stops "
                   f"without writing it (proxy.train.lr={train.lr:g} may be too large)")
        if rank == 0:
            write_sidecar(csv_path, spec.run_id, {**meta, "status": "failed", "step": state["step"],
                                                  "error": message})
        raise NonFiniteLoss(message)

    def stop_if_nonfinite(step: int) -> None:
        flag = nonfinite.clone()
        if world > 1:  # every rank stops together
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item():
            fail_nonfinite("training loss", step)

    micro = train.micro_batch or B // world
    net.train()
    last_stop = train.steps if stop_after is None else min(train.steps, stop_after)
    t0 = time.perf_counter()
    while state["step"] < last_stop:
        windows, ids = sampler.next_batch()
        lo, hi = rank * (B // world), (rank + 1) * (B // world)
        x_all = torch.from_numpy(windows[lo:hi]).to(dev)
        id_all = torch.from_numpy(ids[lo:hi]).to(dev)
        optimizer.zero_grad(set_to_none=True)
        step_loss = accumulate_gradients(model, objective, x_all, id_all, micro, state["step"],
                                         lambda: _autocast(dev, spec.precision))
        nonfinite |= ~torch.isfinite(step_loss)
        torch.nn.utils.clip_grad_norm_(net.parameters(), train.grad_clip)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(net)
        state["step"] += 1
        if progress is not None:
            progress(B * T)
        step = state["step"]
        if step in schedule:
            stop_if_nonfinite(step)
            if rank == 0:
                t_eval = time.perf_counter()
                losses_by_domain = evaluate(ema.module if ema is not None else net, valid, dev,
                                            precision=spec.precision)
                if state["eval_s"] is not None:
                    state["eval_s"] += time.perf_counter() - t_eval
                bad = [d for d, v in losses_by_domain.items() if not math.isfinite(float(v))]
                if bad:
                    fail_nonfinite(f"validation loss of {', '.join(bad)}", step)
                append_rows(csv_path, _eval_rows(spec, step, step * B * T, losses_by_domain))
                state["evals"].append({"step": step, "tokens": step * B * T,
                                       "average": float(np.mean(list(losses_by_domain.values()))),
                                       "losses": losses_by_domain})
                if on_eval is not None:
                    on_eval(step, net)
            if world > 1:
                torch.distributed.barrier()
        if step % train.checkpoint_every == 0 or step == train.steps:
            stop_if_nonfinite(step)
            state["wall_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            save_checkpoint()
    stop_if_nonfinite(state["step"])
    state["wall_s"] += time.perf_counter() - t0

    done = state["step"] >= train.steps
    tokens = state["step"] * B * T
    result = {**meta, "status": "complete" if done else "partial", "step": state["step"],
              "tokens": tokens, "wall_time_s": state["wall_s"],
              # of which evaluation (rank 0; None for a run resumed from a checkpoint older than the field)
              "eval_time_s": state["eval_s"],
              "tokens_per_s": tokens / state["wall_s"] if state["wall_s"] > 0 else None,
              "epochs": dict(zip(domains, sampler.epochs().round(4).tolist())),
              "evals": state["evals"], **objective.summary()}
    if rank == 0:
        if done:  # its hash goes into the sidecar, so what reads the weights back can check them
            with atomic_path(final_model_path(spec, out_dir)) as tmp:
                torch.save((ema.module if ema is not None else net).state_dict(), tmp)
                result["final_model_sha256"] = sha256_file(tmp)
        write_sidecar(csv_path, spec.run_id, result)
    if world > 1:
        torch.distributed.barrier()
    return result


# ----------------------------------------------------------------------------------------- mixtures
def resolve_mixture(name: str, store) -> dict[str, float]:
    """Weights (domain -> r, store order) of a named mixture: a file ``store.mixtures_dir/<name>.json``,
    else a built-in: ``natural`` or ``baseline`` (train-token shares), ``skewed`` (the natural shares made
    as uneven as the paper's Pile Baseline, :func:`bimix.data.mixtures.skewed`), ``uniform``, or
    ``div<k>`` (the k-th diverse mixture, see :func:`diverse_mixture`)."""
    from bimix.data.mixtures import load_named

    domains = tuple(store.domains)
    folder = Path(store.mixtures_dir)
    if (folder / f"{name}.json").is_file():
        return dict(zip(domains, load_named(name, folder, domains=domains).array(domains).tolist()))
    if name in ("natural", "baseline", "skewed"):
        counts = np.array([len(store.tokens(d, "train")) for d in domains], dtype=np.float64)
        shares = dict(zip(domains, (counts / counts.sum()).tolist()))
        if name == "skewed":
            from bimix.data.mixtures import Mixture, skewed

            return dict(skewed(Mixture("natural", shares)).weights)
        return shares
    if name == "uniform":
        return {d: 1.0 / len(domains) for d in domains}
    if name.startswith("div") and name[3:].isdigit():
        return dict(zip(domains, diverse_mixture(len(domains), int(name[3:])).tolist()))
    raise TrainError(f"unknown mixture {name!r}: no {name}.json in {folder} and not a built-in "
                     f"(natural, baseline, skewed, uniform, div<k>)")


def diverse_mixture(m: int, k: int, floor: float = 0.02, concentration: float = 0.5) -> np.ndarray:
    """The k-th 'diverse' mixture for fitting the law: a symmetric Dirichlet(concentration) draw from
    ``default_rng([5, k])``, mixed with ``floor`` per domain so every r_i >= floor (the law needs r_i > 0).
    Far more spread out than the entropy mixtures, which reviewers found too similar to each other."""
    if not 0 <= floor * m < 1:
        raise TrainError(f"floor {floor} is too large for {m} domains")
    x = np.random.default_rng([5, k]).dirichlet(np.full(m, concentration))
    return floor + (1 - floor * m) * x


def make_spec(profile: Profile, mixture: str, store, seed: int | None = None,
              config: ProxyConfig | None = None, objective: str = "mean",
              weights: Mapping[str, float] | None = None, device: str | None = "auto",
              precision: str | None = "auto") -> RunSpec:
    """The run of ``mixture`` on ``store`` under a resolved profile (``config``: its proxy config unless
    given; the run is filed under the profile's name). ``device`` and ``precision`` as
    :func:`resolve_device` and :func:`resolve_precision` take them (auto: CUDA with bf16 when there is
    a GPU, else CPU fp32)."""
    from bimix.config import config_hash

    config = config or profile.proxy
    digest = None if PROFILES.get(profile.name) == profile else config_hash(profile)
    if weights is None and mixture == "doremi":  # this profile's and config's own DoReMi mixture
        from bimix.train.doremi import mixture_weights

        weights = mixture_weights(profile, store, config, device=device, precision=precision)
    w = dict(weights) if weights is not None else resolve_mixture(mixture, store)
    total = sum(w.values())
    if not np.isclose(total, 1.0, atol=1e-6):
        raise TrainError(f"mixture {mixture!r}: weights sum to {total:.6f}, expected 1")
    seed = config.train.seed if seed is None else seed
    device = resolve_device(device)
    return RunSpec(profile=profile.name, mixture=mixture, weights=tuple((d, float(w[d])) for d in store.domains),
                   seed=seed, config=config, store_id=store.store_id, objective=objective, device=device,
                   precision=resolve_precision(precision, device), config_hash=digest)


def open_profile_store(profile: Profile, config: ProxyConfig | None = None):
    """The token store a resolved profile's proxies train on (the tokenizer ``config`` names)."""
    from bimix.data.tokens import open_store

    config = config or profile.proxy
    return open_store(profile, tokenizer=config.train.tokenizer)


def override_config(config: ProxyConfig, **train_overrides) -> ProxyConfig:
    """The config with some TrainConfig fields replaced (None values ignored)."""
    changes = {k: v for k, v in train_overrides.items() if v is not None}
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **changes)) if changes else config


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="smoke | cpu | gpu | paper")
    parser.add_argument("--mixture", default="baseline", help="named mixture (baseline, uniform, ce, ...)")
    parser.add_argument("--seed", type=int, default=None, help="init and data seed (default: profile's)")
    parser.add_argument("--steps", type=int, default=None, help="override the profile's steps")
    parser.add_argument("--out", default=None, help="folder for runs.csv and sidecars/ (default data/runs/PROFILE)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from the run's checkpoint when there is one (default on)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of the run (default 1; another count is part of the run id)")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (testing)")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="sequences per forward pass (gradient accumulation; default: the profile's)")
    add_device_arguments(parser)


def init_distributed(device: str) -> bool:
    """Join the torchrun process group (NCCL for CUDA runs, gloo for CPU ones) when WORLD_SIZE > 1;
    True when this process is one of several."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
    return distributed


def start_training(args: argparse.Namespace) -> tuple[str, str, bool]:
    """What a training command (train, doremi) runs with, checked before any work: its device, its
    precision, and whether it joined a torchrun process group."""
    if args.micro_batch is not None and args.micro_batch < 1:
        raise ValueError(f"--micro-batch must be a positive integer, got {args.micro_batch}")
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    return device, precision, init_distributed(device)


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    device, precision, distributed = start_training(args)
    try:
        config = override_config(args.profile.proxy, steps=args.steps, cpu_threads=args.threads,
                                 micro_batch=getattr(args, "micro_batch", None))
        store = open_profile_store(args.profile, config)
        spec = make_spec(args.profile, args.mixture, store, seed=args.seed, config=config, device=device,
                         precision=precision)
        rank = _dist_info()[0]
        total = config.train.steps * config.train.batch_size * config.model.seq_len
        with tqdm(total=total, unit="tok", unit_scale=True, desc=spec.run_id, disable=rank != 0) as bar:
            result = train_run(spec, store, out_dir=args.out, resume=args.resume, progress=bar.update,
                               stop_after=args.stop_after)
        if rank == 0:
            last = result["evals"][-1] if result["evals"] else None
            print(f"{spec.run_id}: {result['status']} at step {result['step']}, "
                  f"{result['tokens_per_s'] or 0:.0f} tokens/s"
                  + (f", average loss {last['average']:.4f}" if last else ""))
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    return 0
