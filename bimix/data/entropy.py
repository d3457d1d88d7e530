"""Entropy-driven, training-free mixtures: SE, JE, CE and VNE per domain, then a softmax (docs/paper.md#entropy).

Counting (Section 4 / Appendix A of the paper). A domain's token stream is cut into sequences of
``T`` tokens (T = 1024, as the paper); unigrams are counted over every token and bigrams
(x_t, x_{t+1}) only *within* a sequence, never across a boundary. Counting is vectorised with numpy:
a bigram is the integer ``a * V + b`` (uint32 while V <= 65,536, else uint64), a chunk of the stream
is sorted and run-length encoded, and chunk results are merged as sorted sparse arrays, so memory is
bounded by the number of distinct bigrams, never by V². :class:`Counts` add up (``a + b``,
:meth:`Counts.merge`): shards cut at sequence boundaries give exactly the counts of the whole, which
is how :func:`count_tokens` uses several processes.

Entropies, in nats unless ``base`` says otherwise:

- SE  = H(x)                      Shannon entropy of the unigram distribution;
- JE  = H(x_t, x_{t+1})           joint entropy of the within-sequence bigram distribution;
- CE  = H(x_{t+1} | x_t) = JE − H(x_t)      (Eq. 12), H(x_t) over the *first* tokens of the pairs;
- VNE = −Σ λ log λ over the eigenvalues of ρ = K / N, K the cosine kernel of N unit-norm document
  embeddings (the Vendi score's construction); computed from the N×N Gram matrix or the d×d
  covariance, whichever is smaller (they share their non-zero eigenvalues).

VNE sample size. VNE is bounded by log N and grows with N, so domains are compared at one N:
every domain's VNE is computed from the same number of documents (:func:`equal_size_vne`). A
stated N (``n_docs``) is a ceiling: each domain samples up to N documents (those without features
are dropped), and N is lowered to the smallest domain's count when some domain has fewer; by default
(``n_docs=None``) N is the smallest domain's document count, at most ``DEFAULT_N_DOCS``. Larger
domains are subsampled (seeded by domain name) to N. The N used, and the domain that set it, are
recorded in the report's meta (``vne_n``, ``vne_n_set_by``) and in the ``docs`` column.

Mixtures (Eq. 13): r_i = exp(H_i / τ) / Σ_j exp(H_j / τ), τ = 1 in the paper. The paper does not
state its log base; since a base b divides every H by ln b, the base acts as a temperature τ = ln b.

Chain rule: JE = H(x_t) + CE exactly, so whenever the first-token marginal equals the unigram
marginal (SE = H(x_t)), softmax(JE) is the renormalised product softmax(SE) · softmax(CE);
:func:`chain_rule_gap` measures how far three mixtures are from that identity.

Counting imports only numpy; pandas, tqdm, fasttext and the mixture module load inside the functions
that need them. Nothing happens at import.
"""

from __future__ import annotations

import argparse
import math
import mmap
import os
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from bimix.files import atomic_path
from bimix.paths import cache_dir

MEASURES = ("se", "je", "ce", "vne")  # the paper's four proxies, in the order of its tables
TOKEN_MEASURES = ("se", "je", "ce")  # those computed from token counts
DEFAULT_SEQ_LEN = 1024  # T, tokens per sequence (docs/paper.md#entropy, #setup)
DEFAULT_N_DOCS = 1000  # ceiling on the VNE sample size N, the same in every domain (the paper does not state its N)
DEFAULT_CHUNK_TOKENS = 1 << 20  # tokens sorted at once; rounded down to a multiple of T
DEFAULT_DENSE_TOKENS = 2048  # R: bigrams of the R most frequent tokens counted in a dense R×R table (32 MiB)
MAX_DENSE_TOKENS = 4096  # R² int64 cells = 128 MiB; beyond that the dense table would dominate memory
DOREMI_GPU_HOURS = 670.0  # one DoReMi round (docs/paper.md#setup)
COUNTS_VERSION = 1  # bump when the cached count files change meaning


class EntropyError(ValueError):
    """Bad input to counting, entropies or mixtures; the message names the domain or value."""


class EmbedderUnavailable(EntropyError):
    """An embedder needs a package or a vectors file that is not present here."""


# ---------------------------------------------------------------------------------------- counting

def _pair_dtype(vocab_size: int) -> np.dtype:
    """Smallest unsigned dtype holding every pair id a * V + b < V²."""
    return np.dtype(np.uint32) if vocab_size * vocab_size <= 1 << 32 else np.dtype(np.uint64)


def _run_starts(sorted_ids: np.ndarray) -> np.ndarray:
    """Indices where a new value starts in a sorted array."""
    flag = np.empty(len(sorted_ids), dtype=bool)
    if len(sorted_ids):
        flag[0] = True
        np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=flag[1:])
    return np.flatnonzero(flag)


def _merge_sparse(parts: Sequence[tuple[np.ndarray, np.ndarray]], dtype: np.dtype
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Sum several sparse (sorted ids, counts) arrays into one."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.empty(0, dtype), np.empty(0, np.int64)
    if len(parts) == 1:
        return parts[0]
    ids = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    # each part is already sorted: a stable sort (timsort) merges the runs in near-linear time
    order = np.argsort(ids, kind="stable")
    ids, counts = ids[order], counts[order]
    starts = _run_starts(ids)
    return ids[starts], np.add.reduceat(counts, starts)



def reference_counts(tokens, seq_len: int) -> tuple[Counter, Counter]:
    """The plain-Python reference: ``collections.Counter`` over each sequence and its within-sequence
    pairs. Slow; tests check the vectorised counter against it and benchmarks time it."""
    tokens = [int(t) for t in tokens]
    unigram, bigram = Counter(), Counter()
    for start in range(0, len(tokens), seq_len):
        seq = tokens[start:start + seq_len]
        unigram.update(seq)
        bigram.update(zip(seq, seq[1:]))
    return unigram, bigram

@dataclass(frozen=True, eq=False)
class Counts:
    """Unigram and within-sequence bigram counts of a token stream cut into sequences of ``seq_len``.

    Bigram (a, b) is stored as the pair id a * vocab_size + b, ids sorted ascending, zero counts
    omitted. Counts of disjoint shards cut at sequence boundaries add up to the counts of the whole.
    Invariant: n_pairs = n_tokens − n_sequences (a sequence of L tokens holds L − 1 pairs).
    """

    vocab_size: int  # V
    seq_len: int  # T
    unigram: np.ndarray  # (V,) int64, occurrences of each token id
    pair_ids: np.ndarray  # (n_distinct,) uint32/uint64, sorted a * V + b
    pair_counts: np.ndarray  # (n_distinct,) int64, > 0
    n_sequences: int  # sequences started (the last one of a shard may be shorter than T)

    def __post_init__(self) -> None:
        if self.unigram.shape != (self.vocab_size,):
            raise EntropyError(f"unigram counts have shape {self.unigram.shape}, expected ({self.vocab_size},)")
        if self.pair_ids.shape != self.pair_counts.shape:
            raise EntropyError(f"{len(self.pair_ids)} pair ids but {len(self.pair_counts)} pair counts")

    @classmethod
    def empty(cls, vocab_size: int, seq_len: int) -> "Counts":
        return cls(vocab_size, seq_len, np.zeros(vocab_size, np.int64),
                   np.empty(0, _pair_dtype(vocab_size)), np.empty(0, np.int64), 0)

    @property
    def n_tokens(self) -> int:
        return int(self.unigram.sum())

    @property
    def n_pairs(self) -> int:
        return int(self.pair_counts.sum())

    @property
    def n_distinct_pairs(self) -> int:
        return len(self.pair_ids)

    @property
    def nbytes(self) -> int:
        return self.unigram.nbytes + self.pair_ids.nbytes + self.pair_counts.nbytes

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first token, second token, count) of every distinct bigram, each (n_distinct,)."""
        ids = self.pair_ids.astype(np.uint64)
        return ((ids // self.vocab_size).astype(np.int64), (ids % self.vocab_size).astype(np.int64),
                self.pair_counts)

    def first_marginal(self) -> np.ndarray:
        """(V,) int64: how often each token is the first of a pair (the x_t of H(x_t) in Eq. 12)."""
        first = self.pair_ids // self.pair_ids.dtype.type(self.vocab_size)
        out = np.zeros(self.vocab_size, np.int64)
        if len(first):
            # ids are sorted, so equal first tokens are contiguous: exact integer sums per run
            starts = _run_starts(first)
            out[first[starts].astype(np.int64)] = np.add.reduceat(self.pair_counts, starts)
        return out

    def _check_compatible(self, other: "Counts") -> None:
        if not isinstance(other, Counts):
            raise TypeError(f"cannot add Counts and {type(other).__name__}")
        if (self.vocab_size, self.seq_len) != (other.vocab_size, other.seq_len):
            raise EntropyError(
                f"cannot merge counts with vocab_size={self.vocab_size}, seq_len={self.seq_len} and "
                f"vocab_size={other.vocab_size}, seq_len={other.seq_len}")

    def __add__(self, other: "Counts") -> "Counts":
        return Counts.merge([self, other])

    @classmethod
    def merge(cls, parts: Iterable["Counts"]) -> "Counts":
        """The counts of the concatenation of disjoint shards (each cut at a sequence boundary)."""
        parts = list(parts)
        if not parts:
            raise EntropyError("nothing to merge: no Counts given")
        for p in parts[1:]:
            parts[0]._check_compatible(p)
        first = parts[0]
        ids, counts = _merge_sparse([(p.pair_ids, p.pair_counts) for p in parts], first.pair_ids.dtype)
        return cls(first.vocab_size, first.seq_len, np.sum([p.unigram for p in parts], axis=0),
                   ids, counts, sum(p.n_sequences for p in parts))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counts):
            return NotImplemented
        return ((self.vocab_size, self.seq_len, self.n_sequences)
                == (other.vocab_size, other.seq_len, other.n_sequences)
                and np.array_equal(self.unigram, other.unigram)
                and np.array_equal(self.pair_ids, other.pair_ids)
                and np.array_equal(self.pair_counts, other.pair_counts))

    __hash__ = None  # mutable arrays inside

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, version=COUNTS_VERSION, vocab_size=self.vocab_size, seq_len=self.seq_len,
                     unigram=self.unigram, pair_ids=self.pair_ids, pair_counts=self.pair_counts,
                     n_sequences=self.n_sequences)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Counts":
        with np.load(path) as z:
            if int(z["version"]) != COUNTS_VERSION:
                raise EntropyError(f"{path}: counts version {int(z['version'])}, expected {COUNTS_VERSION}")
            return cls(int(z["vocab_size"]), int(z["seq_len"]), z["unigram"], z["pair_ids"],
                       z["pair_counts"], int(z["n_sequences"]))


def check_vocab_fits(vocab_size: int, dtype: np.dtype | type, *, domain: str | None = None) -> None:
    """Raise unless every id of a vocabulary of ``vocab_size`` tokens is representable in ``dtype``."""
    dtype = np.dtype(dtype)
    where = f" (domain {domain!r})" if domain else ""
    if dtype.kind not in "iu":
        raise EntropyError(f"token ids must be stored as integers{where}, got dtype {dtype}")
    if vocab_size < 1:
        raise EntropyError(f"vocabulary size must be >= 1{where}, got {vocab_size}")
    if vocab_size - 1 > np.iinfo(dtype).max:
        raise EntropyError(
            f"a vocabulary of {vocab_size:,} tokens does not fit the store's dtype {dtype}{where} "
            f"(largest id {np.iinfo(dtype).max:,}); rebuild the store with a wider dtype")


def _check_seq_len(seq_len: int) -> int:
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 2:
        raise EntropyError(f"sequence length T must be an integer >= 2 (a bigram needs two tokens), got {seq_len!r}")
    return int(seq_len)


def _chunk_pairs(x: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) tokens of every within-sequence pair of ``x``, which starts a sequence."""
    n_full = len(x) // seq_len
    firsts, seconds = [], []
    if n_full:
        # (n_seq, T) view: pairs run along rows, so none crosses a sequence boundary
        rows = x[: n_full * seq_len].reshape(n_full, seq_len)
        firsts.append(rows[:, :-1].ravel())
        seconds.append(rows[:, 1:].ravel())
    tail = x[n_full * seq_len:]
    if len(tail) > 1:
        firsts.append(tail[:-1])
        seconds.append(tail[1:])
    if len(firsts) == 1:
        return firsts[0], seconds[0]
    if not firsts:
        return x[:0], x[:0]
    return np.concatenate(firsts), np.concatenate(seconds)


def _sorted_counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``ids`` (sorted in place) and how often each occurs."""
    ids.sort()
    starts = _run_starts(ids)
    return ids[starts], np.diff(np.append(starts, len(ids))).astype(np.int64)


class _Accumulator:
    """Counts of one shard, chunk by chunk.

    Bigrams of the R most frequent tokens (ranked on the first chunk; R = ``dense_tokens``) go to a
    dense R×R table through ``np.bincount``, which is several times faster than sorting; all other
    bigrams are sorted, run-length encoded and kept sparse. Pending sparse chunks are folded in once
    they outgrow the total, so each pair id is re-sorted O(log n_chunks) times and memory stays about
    R² + 2 × the distinct bigrams. Which tokens are dense changes speed only, never the counts.
    """

    def __init__(self, vocab_size: int, seq_len: int, dense_tokens: int, domain: str | None,
                 min_merge: int = 1 << 22):
        self.vocab_size, self.seq_len, self.domain, self.min_merge = vocab_size, seq_len, domain, min_merge
        self.dtype = _pair_dtype(vocab_size)
        self.r = min(vocab_size, max(int(dense_tokens), 0))
        self.rank: np.ndarray | None = None  # (V,) token -> dense rank, R for sparse tokens
        self.top: np.ndarray | None = None  # (R,) dense rank -> token
        self.dense = np.zeros(self.r * self.r, np.int64)  # (R*R,) counts, index rank_a * R + rank_b
        self.dense_buffer: list[np.ndarray] = []
        self.dense_buffered = 0
        self.unigram = np.zeros(vocab_size, np.int64)
        self.merged = (np.empty(0, self.dtype), np.empty(0, np.int64))
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending_size = 0
        self.n_sequences = 0

    def _choose_dense(self, unigram: np.ndarray) -> None:
        if self.r == self.vocab_size:  # everything dense: ranks are the ids themselves
            self.top = np.arange(self.r)
        else:
            self.top = np.sort(np.argsort(-unigram, kind="stable")[: self.r])
        rank_dtype = np.uint16 if self.r < 1 << 16 else np.uint32
        self.rank = np.full(self.vocab_size, self.r, rank_dtype)
        self.rank[self.top] = np.arange(self.r, dtype=rank_dtype)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x)
        unigram = np.bincount(x, minlength=self.vocab_size)
        if len(unigram) > self.vocab_size:
            where = f"domain {self.domain!r}: " if self.domain else ""
            raise EntropyError(
                f"{where}token id {len(unigram) - 1} is outside the vocabulary of {self.vocab_size} tokens")
        self.unigram += unigram
        self.n_sequences += -(-len(x) // self.seq_len)
        if self.rank is None:
            self._choose_dense(unigram)
        a, b = _chunk_pairs(x, self.seq_len)
        if self.r == self.vocab_size:
            self._add_dense(a.astype(np.uint32) * np.uint32(self.r) + b)
            return
        if self.r:
            ra, rb = self.rank[a], self.rank[b]
            dense = (ra < self.r) & (rb < self.r)
            self._add_dense(ra[dense].astype(np.uint32) * np.uint32(self.r) + rb[dense])
            sparse = ~dense
            a, b = a[sparse], b[sparse]
        part = _sorted_counts(a.astype(self.dtype) * self.dtype.type(self.vocab_size) + b)
        self.pending.append(part)
        self.pending_size += len(part[0])
        if self.pending_size >= max(len(self.merged[0]), self.min_merge):
            self._fold()

    def _add_dense(self, ids: np.ndarray) -> None:
        # bincount over R² bins costs O(R²) per call: buffer until there are that many ids
        self.dense_buffer.append(ids)
        self.dense_buffered += len(ids)
        if self.dense_buffered >= len(self.dense):
            self._flush_dense()

    def _flush_dense(self) -> None:
        if self.dense_buffer:
            ids = np.concatenate(self.dense_buffer) if len(self.dense_buffer) > 1 else self.dense_buffer[0]
            self.dense += np.bincount(ids, minlength=len(self.dense))
        self.dense_buffer, self.dense_buffered = [], 0

    def _fold(self) -> None:
        self.merged = _merge_sparse([self.merged, *self.pending], self.dtype)
        self.pending, self.pending_size = [], 0

    def result(self) -> Counts:
        self._flush_dense()
        cells = np.flatnonzero(self.dense)
        if len(cells) and self.top is not None:
            top = self.top.astype(self.dtype)
            ids = top[cells // self.r] * self.dtype.type(self.vocab_size) + top[cells % self.r]
            order = np.argsort(ids)
            self.pending.append((ids[order], self.dense[cells][order]))
        self._fold()
        return Counts(self.vocab_size, self.seq_len, self.unigram, *self.merged, self.n_sequences)


def _aligned_bounds(n: int, seq_len: int, step: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering 0..n, every start a multiple of ``seq_len``."""
    step = max(seq_len, step // seq_len * seq_len)
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def _count_serial(tokens: np.ndarray, vocab_size: int, seq_len: int, chunk_tokens: int,
                  dense_tokens: int, domain: str | None, progress: bool) -> Counts:
    bounds = _aligned_bounds(len(tokens), seq_len, chunk_tokens)
    acc = _Accumulator(vocab_size, seq_len, dense_tokens, domain)
    if progress:
        from tqdm.auto import tqdm

        bounds = tqdm(bounds, desc=f"count {domain or ''}".strip(), unit="chunk", leave=False)
    for start, stop in bounds:
        acc.add(tokens[start:stop])
    return acc.result()


def _shard_source(tokens: np.ndarray, start: int, stop: int) -> tuple:
    """What a worker process needs to read tokens[start:stop] without pickling the data itself."""
    if isinstance(tokens, np.memmap) and tokens.filename and isinstance(tokens.base, mmap.mmap):
        return ("memmap", tokens.filename, tokens.dtype.str, tokens.offset + start * tokens.itemsize,
                stop - start)
    return ("array", np.asarray(tokens[start:stop]))


def _count_shard(job: tuple) -> Counts:
    source, vocab_size, seq_len, chunk_tokens, dense_tokens, domain = job
    if source[0] == "memmap":
        _, filename, dtype, offset, length = source
        tokens = np.memmap(filename, dtype=np.dtype(dtype), mode="r", offset=offset, shape=(length,))
    else:
        tokens = source[1]
    return _count_serial(tokens, vocab_size, seq_len, chunk_tokens, dense_tokens, domain, progress=False)


def count_tokens(tokens: np.ndarray, vocab_size: int, seq_len: int = DEFAULT_SEQ_LEN, *,
                 num_proc: int = 1, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                 dense_tokens: int = DEFAULT_DENSE_TOKENS, domain: str | None = None,
                 progress: bool = False) -> Counts:
    """Unigram and within-sequence bigram counts of a 1-D token stream cut into sequences of T tokens.

    The stream is cut at positions 0, T, 2T, ...; a final sequence shorter than T is kept. With
    ``num_proc > 1`` the stream is split into shards at sequence boundaries, counted in that many
    worker processes (spawned, so safe inside a notebook kernel that holds threads) and merged.
    """
    seq_len = _check_seq_len(seq_len)
    if not 0 <= dense_tokens <= MAX_DENSE_TOKENS:
        raise EntropyError(f"dense_tokens must be within 0..{MAX_DENSE_TOKENS} (an R×R int64 table), "
                           f"got {dense_tokens}")
    tokens = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    where = f"domain {domain!r}" if domain else "the token stream"
    if tokens.ndim != 1:
        raise EntropyError(f"{where}: expected a 1-D token array, got shape {tokens.shape}")
    if len(tokens) == 0:
        raise EntropyError(f"{where} is empty: no tokens to count")
    check_vocab_fits(vocab_size, tokens.dtype, domain=domain)
    if num_proc <= 1 or len(tokens) <= chunk_tokens:
        return _count_serial(tokens, vocab_size, seq_len, chunk_tokens, dense_tokens, domain, progress)
    import multiprocessing

    # a few shards per process balance the load; each is still many chunks long
    shard = max(chunk_tokens, -(-len(tokens) // (4 * num_proc)))
    jobs = [(_shard_source(tokens, a, b), vocab_size, seq_len, chunk_tokens, dense_tokens, domain)
            for a, b in _aligned_bounds(len(tokens), seq_len, shard)]
    with multiprocessing.get_context("spawn").Pool(min(num_proc, len(jobs))) as pool:
        results = pool.imap(_count_shard, jobs)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(jobs), desc=f"count {domain or ''}".strip(), unit="shard",
                           leave=False)
        return Counts.merge(list(results))


def count_store(store, *, seq_len: int = DEFAULT_SEQ_LEN, split: str = "train",
                domains: Sequence[str] | None = None, num_proc: int = 1, cache: bool = True,
                progress: bool = True) -> dict[str, Counts]:
    """Counts per domain of a token store (``bimix.data.tokens.TokenStore``), cached per domain.

    The cache lives in ``$BIMIX_CACHE/entropy/<store_id>/<split>-T<seq_len>/<domain>.npz``; a killed
    run resumes at the first domain without a file.
    """
    seq_len = _check_seq_len(seq_len)
    check_vocab_fits(store.vocab_size, store.dtype)
    domains = tuple(domains or store.domains)
    folder = cache_dir() / "entropy" / store.store_id / f"{split}-T{seq_len}"
    out = {}
    for domain in domains:
        path = folder / f"{domain}.npz"
        if cache and path.is_file():
            counts = Counts.load(path)
        else:
            counts = count_tokens(store.tokens(domain, split), store.vocab_size, seq_len,
                                  num_proc=num_proc, domain=domain, progress=progress)
            if cache:
                counts.save(path)
        out[domain] = counts
    return out


# --------------------------------------------------------------------------------------- entropies

def _log_base(base: float) -> float:
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 0 or base == 1 \
            or not math.isfinite(base):
        raise EntropyError(f"log base must be a positive number other than 1, got {base!r}")
    return math.log(base)


def shannon_entropy(counts: np.ndarray, base: float = math.e) -> float:
    """H = −Σ p log p of the distribution proportional to ``counts`` (zeros ignored), in log ``base``."""
    c = np.asarray(counts)
    c = c[c > 0].astype(np.float64)
    if not len(c):
        raise EntropyError("entropy of an empty distribution (all counts are 0)")
    p = c / c.sum()
    return float(-(p * np.log(p)).sum() / _log_base(base))


def token_entropies(counts: Counts, base: float = math.e) -> dict[str, float]:
    """SE, JE, CE (Eq. 12) and H(x_t) of one domain's counts, plus how far the first-token marginal
    is from the unigram marginal (total variation), the condition under which JE = SE + CE."""
    if counts.n_pairs == 0:
        raise EntropyError(f"no bigrams: every sequence has a single token (T = {counts.seq_len})")
    se = shannon_entropy(counts.unigram, base)
    je = shannon_entropy(counts.pair_counts, base)
    first = counts.first_marginal()
    h_first = shannon_entropy(first, base)
    tv = 0.5 * float(np.abs(first / first.sum() - counts.unigram / counts.unigram.sum()).sum())
    return {"se": se, "je": je, "ce": je - h_first, "h_first": h_first, "first_marginal_tv": tv,
            "tokens": counts.n_tokens, "pairs": counts.n_pairs, "distinct_pairs": counts.n_distinct_pairs}


# ---------------------------------------------------------------------------------------------- VNE

def von_neumann_entropy(embeddings: np.ndarray, base: float = math.e) -> float:
    """Von Neumann entropy −Σ λ log λ of ρ = K / N, K_jk = cos(v_j, v_k) (Vendi score: log of it).

    The non-zero eigenvalues of X Xᵀ / N (N×N) and Xᵀ X / N (d×d) coincide for unit-norm rows X, so
    the smaller matrix is decomposed. Ranges from 0 (all documents alike) to log min(N, d).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise EntropyError(f"expected an (N, d) matrix of document embeddings with N, d >= 1, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1)
    bad = np.flatnonzero(~(norms > 0) | ~np.isfinite(norms))
    if len(bad):
        raise EntropyError(f"document embeddings at rows {bad[:20].tolist()} are zero or not finite; "
                           "a cosine kernel needs non-zero vectors")
    x = x / norms[:, None]
    n, d = x.shape
    gram = x @ x.T if n <= d else x.T @ x
    lam = np.linalg.eigvalsh(gram / n)
    lam = lam[lam > 0]  # round-off leaves tiny negative eigenvalues of a PSD matrix
    return float(-(lam * np.log(lam)).sum() / _log_base(base))


class Embedder(Protocol):
    """Maps documents to vectors (N, d). ``describe()`` is recorded in the provenance."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def describe(self) -> dict: ...


_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class HashedNgramEmbedder:
    """Dependency-free stand-in for FastText: signed feature hashing of word n-grams, log(1 + tf).

    Deterministic across processes (CRC32 salted with ``seed``, not Python's randomised ``hash``).
    Words are runs of word characters or single punctuation marks, lower-cased, so code and prose
    both yield features.
    """

    dim: int = 300
    ngrams: tuple[int, ...] = (1, 2)
    seed: int = 0
    name: str = "hashed"

    def _features(self, text: str) -> Counter:
        words = _WORD.findall(text.lower())
        feats: Counter = Counter()
        for n in self.ngrams:
            feats.update(words if n == 1 else (" ".join(words[i:i + n]) for i in range(len(words) - n + 1)))
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float64)
        salt = zlib.crc32(f"bimix-hashed-{self.seed}".encode())
        for row, text in enumerate(texts):
            feats = self._features(text)
            if not feats:
                continue
            h = np.fromiter((zlib.crc32(f.encode(), salt) for f in feats), np.uint64, len(feats))
            tf = np.fromiter(feats.values(), np.float64, len(feats))
            sign = np.where(h >> np.uint64(31) & np.uint64(1), 1.0, -1.0)
            np.add.at(out[row], (h % np.uint64(self.dim)).astype(np.int64), sign * np.log1p(tf))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "dim": self.dim, "ngrams": list(self.ngrams), "seed": self.seed}


def _import_fasttext():
    try:
        import fasttext
    except ImportError as exc:
        raise EmbedderUnavailable(
            "the fasttext package is not installed; `pip install fasttext-wheel` provides it") from exc
    return fasttext


FASTTEXT_VECTORS = "cc.en.300.bin"  # Common Crawl English, 300-d: the paper's document vectors


def default_vectors_path() -> Path:
    """``$BIMIX_FASTTEXT_VECTORS`` or ``$BIMIX_CACHE/fasttext/cc.en.300.bin``."""
    return Path(os.environ.get("BIMIX_FASTTEXT_VECTORS") or cache_dir() / "fasttext" / FASTTEXT_VECTORS)


@dataclass
class FastTextEmbedder:
    """Mean FastText word vectors of a document (``get_sentence_vector``), as the paper's VNE uses.

    ``path`` is a FastText ``.bin`` model: the pretrained ``cc.en.300.bin`` or one trained on the
    corpus by :func:`train_fasttext`. The model loads on first use.
    """

    path: Path
    name: str = "fasttext"
    _model: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise EmbedderUnavailable(
                f"FastText model {self.path} not found; download {FASTTEXT_VECTORS} from fasttext.cc "
                f"into {default_vectors_path().parent} (or set BIMIX_FASTTEXT_VECTORS), or train one on "
                "the corpus with --embedder fasttext-train")

    @property
    def model(self):
        if self._model is None:
            self._model = _import_fasttext().load_model(str(self.path))
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self.model
        # FastText reads one line per call; a newline would end the document early
        return np.stack([model.get_sentence_vector(" ".join(t.split())) for t in texts]).astype(np.float64)

    def describe(self) -> dict:
        return {"name": self.name, "path": str(self.path), "dim": int(self.model.get_dimension()),
                "bytes": self.path.stat().st_size}


def pretrained_fasttext(path: str | os.PathLike | None = None) -> FastTextEmbedder:
    """The paper's embedder: pretrained FastText vectors from a local file (never downloaded here)."""
    _import_fasttext()
    return FastTextEmbedder(Path(path) if path else default_vectors_path(), name="fasttext-cc")


def train_fasttext(store, *, dim: int = 100, epoch: int = 5, min_count: int = 5, threads: int = 1,
                   split: str = "train", max_docs_per_domain: int | None = None,
                   progress: bool = True) -> FastTextEmbedder:
    """FastText skip-gram vectors trained offline on the store's train split (all domains).

    Cached as ``$BIMIX_CACHE/fasttext/<store_id>-d<dim>-e<epoch>-m<min_count>[-n<docs>].bin``; with
    ``max_docs_per_domain`` only each domain's first documents are used (quick checks). The unsupervised
    trainer fixes its own seed (0; the Python API does not expose it), so with one thread the model is
    a deterministic function of the corpus; more threads train faster but not reproducibly.
    """
    fasttext = _import_fasttext()
    cap = f"-n{max_docs_per_domain}" if max_docs_per_domain else ""
    path = cache_dir() / "fasttext" / f"{store.store_id}-d{dim}-e{epoch}-m{min_count}{cap}.bin"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path.with_suffix(".txt")) as text_path:
            with open(text_path, "w", encoding="utf-8") as fh:
                for domain in store.domains:
                    for i, doc in enumerate(store.documents(domain, split)):
                        if max_docs_per_domain and i >= max_docs_per_domain:
                            break
                        fh.write(" ".join(doc.split()) + "\n")
            model = fasttext.train_unsupervised(str(text_path), model="skipgram", dim=dim, epoch=epoch,
                                                minCount=min_count, thread=threads,
                                                verbose=2 if progress else 0)
            with atomic_path(path) as tmp:
                model.save_model(str(tmp))
        path.with_suffix(".txt").unlink(missing_ok=True)  # the training text is not worth keeping
    return FastTextEmbedder(path, name="fasttext-corpus")


def make_embedder(kind: str | Embedder, store=None, *, seed: int = 0, progress: bool = True) -> Embedder:
    """``hashed`` | ``fasttext`` (pretrained cc.en.300.bin) | ``fasttext-train`` (trained on the store)."""
    if not isinstance(kind, str):
        return kind
    if kind == "hashed":
        return HashedNgramEmbedder(seed=seed)
    if kind == "fasttext":
        return pretrained_fasttext()
    if kind == "fasttext-train":
        if store is None:
            raise EntropyError("the fasttext-train embedder needs a token store to train on")
        return train_fasttext(store, progress=progress)
    raise EntropyError(f"unknown embedder {kind!r}; choose from: hashed, fasttext, fasttext-train")


def sample_documents(texts: Iterable[str], n: int, rng: np.random.Generator) -> list[str]:
    """A uniform sample of ``n`` texts (all of them if fewer), in one pass, in corpus order.

    Reservoir sampling (Algorithm R), so the corpus never has to fit in memory.
    """
    if n < 1:
        raise EntropyError(f"sample size N must be >= 1, got {n}")
    keep: list[tuple[int, str]] = []
    draws = np.empty(0)
    for i, text in enumerate(texts):
        if i < n:
            keep.append((i, text))
            continue
        if not len(draws):
            draws = rng.random(4096)
        u, draws = draws[0], draws[1:]
        j = int(u * (i + 1))
        if j < n:
            keep[j] = (i, text)
    return [text for _, text in sorted(keep)]


def _domain_rng(seed: int, domain: str) -> np.random.Generator:
    # keyed by the domain's name, so a domain's sample does not depend on which other domains exist
    return np.random.default_rng([seed, zlib.crc32(domain.encode())])


def domain_embeddings(texts: Iterable[str], embedder: Embedder, *, n_docs: int = DEFAULT_N_DOCS,
                      seed: int = 0, domain: str = "") -> tuple[np.ndarray, int]:
    """Embeddings (n, d) of a seeded sample of up to ``n_docs`` documents of one domain, documents with
    no features (e.g. empty ones) left out; and how many were left out."""
    sample = sample_documents(texts, n_docs, _domain_rng(seed, domain))
    if not sample:
        raise EntropyError(f"domain {domain!r} has no documents to embed")
    x = embedder.embed(sample)
    keep = np.linalg.norm(x, axis=1) > 0
    if not keep.any():
        raise EntropyError(f"domain {domain!r}: none of the {len(sample)} sampled documents has an embedding")
    return x[keep], int((~keep).sum())


def domain_vne(texts: Iterable[str], embedder: Embedder, *, n_docs: int = DEFAULT_N_DOCS, seed: int = 0,
               domain: str = "", base: float = math.e) -> dict[str, Any]:
    """VNE of a seeded sample of ``n_docs`` documents of one domain on its own (documents with no
    features are left out and counted). To compare domains, use :func:`equal_size_vne`."""
    x, dropped = domain_embeddings(texts, embedder, n_docs=n_docs, seed=seed, domain=domain)
    return {"vne": von_neumann_entropy(x, base), "docs": len(x), "docs_dropped": dropped}


def equal_size_vne(documents: Mapping[str, Iterable[str]], embedder: Embedder, *,
                   n_docs: int | None = None, seed: int = 0, base: float = math.e
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """VNE of every domain from the same number N of documents (see the module docstring).

    ``documents``: domain -> its texts. ``n_docs``: the ceiling on N (None: ``DEFAULT_N_DOCS``, so N
    is the smallest domain's document count up to that). Returns per domain ``{"vne", "docs" (= N),
    "docs_available" (usable documents sampled before equalising), "docs_dropped"}`` and a meta dict
    ``{"vne_n", "vne_n_set_by", "vne_docs_requested"}``.
    """
    if n_docs is not None and n_docs < 1:
        raise EntropyError(f"VNE sample size N must be >= 1, got {n_docs}")
    cap = DEFAULT_N_DOCS if n_docs is None else int(n_docs)
    emb, dropped = {}, {}
    for domain, texts in documents.items():
        emb[domain], dropped[domain] = domain_embeddings(texts, embedder, n_docs=cap, seed=seed, domain=domain)
    if not emb:
        raise EntropyError("VNE of no domains")
    smallest = min(emb, key=lambda d: len(emb[d]))
    n = min(cap, len(emb[smallest]))
    rows = {}
    for domain, x in emb.items():
        if len(x) > n:
            # a uniform subset of the uniform sample is a uniform sample of N; seeded by the domain's
            # name (its own stream), so a domain's subset depends only on N, not on the other domains
            rng = np.random.default_rng([seed, zlib.crc32(domain.encode()), n])
            x = x[np.sort(rng.choice(len(x), size=n, replace=False))]
        rows[domain] = {"vne": von_neumann_entropy(x, base), "docs": n,
                        "docs_available": len(emb[domain]), "docs_dropped": dropped[domain]}
    meta = {"vne_n": n, "vne_n_set_by": smallest if len(emb[smallest]) < cap else "n_docs",
            "vne_docs_requested": n_docs}
    return rows, meta


# ----------------------------------------------------------------------------------------- mixtures

def softmax_mixture(values: Mapping[str, float], temperature: float = 1.0) -> dict[str, float]:
    """Eq. 13: r_i = exp(H_i / τ) / Σ_j exp(H_j / τ); τ = 1 is the paper's choice."""
    if not values:
        raise EntropyError("softmax of no domains")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 \
            or not math.isfinite(temperature):
        raise EntropyError(f"temperature must be a positive finite number, got {temperature!r}")
    bad = {d: v for d, v in values.items() if not math.isfinite(float(v))}
    if bad:
        raise EntropyError(f"entropies must be finite; got {bad}")
    h = np.array([float(v) for v in values.values()]) / temperature
    w = np.exp(h - h.max())
    w /= w.sum()
    return dict(zip(values, w.tolist()))


def ratio_by_base(table, bases: Mapping[str, float], measures: Sequence[str] = MEASURES):
    """How uneven each measure's mixture (Eq. 13) is when its entropies are taken in another log base: an
    entropy in base b is the nats divided by ln b, a temperature τ = ln b. ``table``: domains x measures,
    nats; ``bases``: label -> base. Returns measures x bases, the largest share over the smallest."""
    import pandas as pd

    def ratio(values: Mapping[str, float], base: float) -> float:
        w = softmax_mixture(values, math.log(base)).values()
        return max(w) / min(w)

    return pd.DataFrame({name: {m: ratio(table[m].to_dict(), b) for m in measures}
                         for name, b in bases.items()}).rename_axis("max/min share")


def chain_rule_gap(se: Mapping[str, float], ce: Mapping[str, float], je: Mapping[str, float]) -> float:
    """max_i |normalise(r_SE · r_CE)_i − r_JE,i|: 0 when JE = SE + CE in every domain (chain rule)."""
    if not (set(se) == set(ce) == set(je)):
        raise EntropyError(f"the three mixtures cover different domains: SE {sorted(se)}, CE {sorted(ce)}, "
                           f"JE {sorted(je)}")
    domains = list(se)
    product = np.array([se[d] * ce[d] for d in domains], dtype=np.float64)
    if not product.sum() > 0:
        raise EntropyError("SE · CE is zero in every domain")
    product /= product.sum()
    return float(np.max(np.abs(product - np.array([je[d] for d in domains]))))


# ---------------------------------------------------------------------------------- orchestration

@dataclass
class EntropyReport:
    """Per-domain entropies of one store, the step timings, and the provenance of both."""

    table: Any  # pandas.DataFrame, index domain; columns se/je/ce/vne (log base in meta) + diagnostics
    timings: dict[str, float]  # wall seconds per step
    cpu_seconds: dict[str, float]  # process CPU seconds per step (this process; workers excluded)
    meta: dict  # provenance: store, tokenizer, T, sample sizes, base, embedder, code version

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(m for m in MEASURES if m in self.table.columns)

    def mixtures(self, temperature: float = 1.0, measures: Sequence[str] | None = None) -> dict:
        """Named ``bimix.data.mixtures.Mixture`` per measure (Eq. 13), provenance in ``meta``."""
        from bimix.data.mixtures import Mixture

        out = {}
        for m in measures or self.measures:
            values = self.table[m].to_dict()
            out[m] = Mixture(m, softmax_mixture(values, temperature), {
                **self.meta, "method": f"softmax of per-domain {m.upper()} (Eq. 13)", "measure": m,
                "temperature": temperature, "entropies": values})
        return out

    def mixture_table(self, temperature: float = 1.0):
        """Domains × measures DataFrame of the mixtures, beside the natural (token-share) mixture."""
        import pandas as pd

        cols = {m: dict(mix.weights) for m, mix in self.mixtures(temperature).items()}
        df = pd.DataFrame(cols).loc[list(self.table.index)]
        if "tokens" in self.table.columns:
            df.insert(0, "natural", self.table["tokens"] / self.table["tokens"].sum())
        return df

    def to_json(self, temperature: float = 1.0) -> dict:
        return {"meta": self.meta, "timings_s": self.timings, "cpu_s": self.cpu_seconds,
                "entropies": self.table.to_dict(orient="index"),
                "mixtures": self.mixture_table(temperature).to_dict(orient="index"),
                "temperature": temperature}


def compute_entropies(store, measures: Sequence[str] = MEASURES, *, seq_len: int = DEFAULT_SEQ_LEN,
                      base: float = math.e, split: str = "train", n_docs: int | None = None,
                      seed: int = 0, embedder: str | Embedder = "hashed", num_proc: int = 1,
                      cache: bool = True, progress: bool = True) -> EntropyReport:
    """SE/JE/CE from the store's token counts and VNE from sampled documents, per domain, timed.
    VNE uses the same number of documents N in every domain (:func:`equal_size_vne`; ``n_docs`` is
    the ceiling on N, None for the default)."""
    import pandas as pd

    from bimix.provenance import code_version

    measures = tuple(measures)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise EntropyError(f"unknown measure(s) {unknown or measures}; choose from: {', '.join(MEASURES)}")
    _log_base(base)
    seq_len = _check_seq_len(seq_len)
    rows: dict[str, dict] = {d: {} for d in store.domains}
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    meta: dict[str, Any] = {
        "corpus_hash": store.corpus_hash, "store_id": store.store_id,
        "tokenizer": dict(store.meta.get("tokenizer", {})), "split": split, "seq_len": seq_len,
        "log_base": base, "measures": list(measures), "code_version": code_version(),
        "equations": "Eq. 12 (CE = JE - H(first token)), Eq. 13 (softmax)",
    }
    if any(m in TOKEN_MEASURES for m in measures):
        t0, c0 = time.perf_counter(), time.process_time()
        counts = count_store(store, seq_len=seq_len, split=split, num_proc=num_proc, cache=cache,
                             progress=progress)
        timings["count"], cpu["count"] = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        for domain, c in counts.items():
            e = token_entropies(c, base)
            rows[domain].update({k: v for k, v in e.items() if k not in MEASURES or k in measures})
        timings["token_entropies"] = time.perf_counter() - t0
        cpu["token_entropies"] = time.process_time() - c0
        meta["tokens"] = {d: rows[d]["tokens"] for d in rows}
    if "vne" in measures:
        t0, c0 = time.perf_counter(), time.process_time()
        emb = make_embedder(embedder, store, seed=seed, progress=progress)
        timings["embedder"], cpu["embedder"] = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        vne, vne_meta = equal_size_vne({d: store.documents(d, split) for d in store.domains}, emb,
                                       n_docs=n_docs, seed=seed, base=base)
        for domain, row in vne.items():
            rows[domain].update(row)
        timings["vne"], cpu["vne"] = time.perf_counter() - t0, time.process_time() - c0
        meta.update({"embedder": emb.describe(), **vne_meta, "vne_seed": seed,
                     "vne_docs": {d: rows[d]["docs"] for d in rows}})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "domain"
    first = [m for m in MEASURES if m in table.columns]
    table = table[first + [c for c in table.columns if c not in first]]
    timings["total"] = sum(timings.values())
    cpu["total"] = sum(cpu.values())
    return EntropyReport(table, timings, cpu, meta)


def save_mixtures(report: EntropyReport, folder: str | os.PathLike, temperature: float = 1.0) -> list[Path]:
    """Write the ``se``/``je``/``ce``/``vne`` mixtures as named mixture files in ``folder``."""
    from bimix.data.mixtures import save_named

    return [save_named(m, folder) for m in report.mixtures(temperature).values()]


# ---------------------------------------------------------------------------------------------- CLI

def _parse_base(text: str) -> float:
    return math.e if text.strip().lower() in ("e", "nats", "nat") else float(text)


def open_corpus_store(corpus, tokenizer: str | int = "bpe", *, base=None, progress: bool = True):
    """A store from a resolved :class:`bimix.profiles.Profile`, a token-store folder (with meta.json), or
    a corpus folder/path, whose store is built with the tokenizers and sizes of the profile ``base``."""
    from bimix.profiles import PROFILES, Profile
    from bimix.data.tokens import StoreError, TokenStore, open_store, verify_store

    if isinstance(corpus, Profile):
        return open_store(corpus, tokenizer, progress=progress)
    path = Path(corpus).expanduser()
    if (path / "meta.json").is_file():
        meta, problems = verify_store(path)
        if problems:  # a folder named by hand is not ours to rebuild
            raise StoreError(f"token store {path} failed verification: {'; '.join(problems[:3])}")
        return TokenStore(path, meta)
    if not path.exists():
        raise EntropyError(f"--profile {corpus!r} is neither a profile ({', '.join(PROFILES)}) nor a path")
    if base is None:
        raise EntropyError(f"corpus folder {corpus!r}: give the profile its store is built with (base=)")
    from dataclasses import replace

    profile = replace(base, corpus=replace(base.corpus, source=str(path)))
    return open_store(profile, tokenizer, progress=progress)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu",
                        help="profile name (smoke|cpu|gpu|paper), a token-store folder, or a corpus folder")
    parser.add_argument("--corpus", dest="profile", help=argparse.SUPPRESS)  # its former name
    parser.set_defaults(profile_or_path=True)  # the CLI keeps an unknown name as a path (bimix.cli)
    parser.add_argument("--tokenizer", default="bpe", help="bpe | gpt2 | hf | a Hugging Face name | an index")
    parser.add_argument("--seq-len", type=int, default=DEFAULT_SEQ_LEN, help="T, tokens per sequence")
    parser.add_argument("--measures", default=",".join(MEASURES), help="comma-separated: se,je,ce,vne")
    parser.add_argument("--json", type=Path, default=None, help="write entropies, mixtures, timings here")
    parser.add_argument("--save-mixtures", action="store_true",
                        help="write se/je/ce/vne as named mixtures into the store's mixtures folder")
    parser.add_argument("--base", type=_parse_base, default=math.e, help="log base: e (default), 2, 10, ...")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (Eq. 13: 1)")
    parser.add_argument("--docs", type=int, default=None,
                        help=f"VNE sample size N, the same in every domain: at most this many documents, fewer "
                             f"when the smallest domain has fewer (default {DEFAULT_N_DOCS})")
    parser.add_argument("--embedder", default="hashed", help="VNE embedder: hashed | fasttext | fasttext-train")
    parser.add_argument("--seed", type=int, default=0, help="document sample and embedder seed")
    parser.add_argument("--split", default="train", help="train | valid")
    parser.add_argument("--num-proc", type=int, default=1, help="processes counting each domain")
    parser.add_argument("--no-cache", action="store_true", help="recount even when cached counts exist")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from bimix.files import write_json

    tokenizer: str | int = int(args.tokenizer) if args.tokenizer.isdigit() else args.tokenizer
    measures = [m.strip() for m in args.measures.split(",") if m.strip()]
    t0, c0 = time.perf_counter(), time.process_time()
    store = open_corpus_store(args.profile, tokenizer, base=getattr(args, "base_profile", None))
    open_s, open_cpu = time.perf_counter() - t0, time.process_time() - c0
    report = compute_entropies(store, measures, seq_len=args.seq_len, base=args.base, split=args.split,
                               n_docs=args.docs, seed=args.seed, embedder=args.embedder,
                               num_proc=args.num_proc, cache=not args.no_cache)
    report.timings["open_store"], report.cpu_seconds["open_store"] = open_s, open_cpu
    mixtures = report.mixture_table(args.temperature)
    shown = report.table[list(report.measures)].join(mixtures, rsuffix="_r", lsuffix="_H")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format",
                           "{:.4f}".format):
        print(f"store {store.store_id}  tokenizer {store.meta['tokenizer'].get('name', '?')}  "
              f"T={args.seq_len}  base={args.base:g}  temperature={args.temperature:g}")
        print(shown)
    if "vne_n" in report.meta:
        by = report.meta["vne_n_set_by"]
        print(f"VNE from N = {report.meta['vne_n']} documents per domain"
              + (" (--docs)" if by == "n_docs" else f" (the smallest domain, {by!r}, has no more)"))
    print("timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items()))
    cpu_h = report.cpu_seconds["total"] / 3600
    print(f"cost: {report.cpu_seconds['total']:.1f} CPU-seconds here vs {DOREMI_GPU_HOURS:g} GPU-hours "
          f"for one DoReMi round ({DOREMI_GPU_HOURS / max(cpu_h, 1e-12):,.0f}x fewer device-hours)")
    if args.json:
        write_json(args.json, report.to_json(args.temperature))
        print(f"wrote {args.json}")
    if args.save_mixtures:
        for path in save_mixtures(report, store.mixtures_dir, args.temperature):
            print(f"wrote {path}")
    return 0
