"""Near-duplicate detection on word shingles (MinHash candidates, exact Jaccard), used for ``legal``."""

from __future__ import annotations

import re
import zlib

import numpy as np

_WORD = re.compile(r"\w+")


def _shingles(text: str, n: int, cache: dict[str, int]) -> np.ndarray:
    """Sorted unique uint64 hashes of the text's lower-cased word ``n``-grams."""
    words = _WORD.findall(text.lower())
    ids = np.fromiter((cache[w] if w in cache else cache.setdefault(w, zlib.crc32(w.encode("utf-8")) + 1)
                       for w in words), dtype=np.uint64, count=len(words))
    if len(ids) < n:
        ids = np.concatenate([ids, np.zeros(n - len(ids), dtype=np.uint64)])
    prime = np.uint64(1_000_003)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # polynomial rolling hash, wrapping mod 2**64
        for k in range(n):
            h = h * prime + ids[k:len(ids) - n + 1 + k]
    return np.unique(h)


def near_duplicates(texts: list[str], *, dup_threshold: float = 0.8, group_threshold: float = 0.5,
                    shingle: int = 5, num_perm: int = 128, bands: int = 32) -> tuple[list[int], list[int]]:
    """Indices to keep and a group index per text, from word-``shingle`` Jaccard similarity.

    Candidate pairs come from MinHash with LSH banding (``bands`` bands of ``num_perm / bands`` rows:
    pairs with Jaccard above about ``(1/bands) ** (bands/num_perm)`` collide); every candidate is then
    checked with the exact Jaccard of its shingle sets, so the result has no MinHash error beyond missed
    candidates. Walking texts in order, a text whose Jaccard with an earlier kept text is at least
    ``dup_threshold`` is dropped. Kept texts linked by Jaccard >= ``group_threshold`` share a group,
    named by the index of its first member. Deterministic: fixed hash parameters, no Python ``hash``.
    """
    cache: dict[str, int] = {}
    sets = [_shingles(t, shingle, cache) for t in texts]
    rng = np.random.Generator(np.random.PCG64(20240523))
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    rows = num_perm // bands
    buckets: dict[bytes, list[int]] = {}
    for i, h in enumerate(sets):
        with np.errstate(over="ignore"):  # multiply-shift hashing relies on wrap-around mod 2**64
            signature = ((h[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).min(axis=0)
        for band in range(bands):
            key = band.to_bytes(2, "little") + signature[band * rows:(band + 1) * rows].tobytes()
            buckets.setdefault(key, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    similar: dict[int, list[tuple[int, float]]] = {}
    for i, j in sorted(pairs):
        common = len(np.intersect1d(sets[i], sets[j], assume_unique=True))
        jaccard = common / (len(sets[i]) + len(sets[j]) - common)
        if jaccard >= group_threshold:
            similar.setdefault(i, []).append((j, jaccard))
            similar.setdefault(j, []).append((i, jaccard))
    dropped: set[int] = set()
    for i in range(len(texts)):
        if i in dropped:
            continue
        for j, jaccard in similar.get(i, ()):
            if j > i and jaccard >= dup_threshold:
                dropped.add(j)
    keep = [i for i in range(len(texts)) if i not in dropped]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in keep:
        for j, _ in similar.get(i, ()):
            if j not in dropped:
                ri, rj = root(i), root(j)
                parent[max(ri, rj)] = min(ri, rj)  # the first index names the group
    return keep, [root(i) for i in range(len(texts))]
