"""Benchmark entropy counting: throughput (1 and 2 processes), a plain Counter loop, peak memory, and
the full entropy table (SE/JE/CE + VNE on N documents per domain) with the wall time of each step.

    .venv/bin/python benchmarks/bench_entropy.py [--profile cpu] [--tokenizers bpe,gpt2]
                                                 [--docs 1000] [--json build/bench/entropy.json]

Counts every domain's train split of the profile's token store for each tokenizer (the default BPE
and GPT-2's 50,257 ids), never from the cache. Throughput is tokens per second of wall time and per
CPU-second (the machine is shared, so CPU time is the fairer "one core" figure); each figure is the
best of ``--repeats``. The Counter baseline runs on the first 1M tokens of the largest domain, beside
bimix.data.entropy on the same tokens. Peak memory is measured in a fresh child process (ru_maxrss) that
counts the whole corpus, less the resident size before counting.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter

from _cli import guarded  # benchmarks/_cli.py


def _best(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeats`` calls, and the last result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, result


def counter_loop(tokens: list[int], seq_len: int) -> tuple[Counter, Counter]:
    """The plain loop: one Counter increment per token and per within-sequence bigram."""
    unigram, bigram = Counter(), Counter()
    for start in range(0, len(tokens), seq_len):
        prev = None
        for i, tok in enumerate(tokens[start:start + seq_len]):
            unigram[tok] += 1
            if i:
                bigram[(prev, tok)] += 1
            prev = tok
    return unigram, bigram


def peak_child(profile: str, tokenizer: str, seq_len: int, num_proc: int) -> dict:
    """Run in a fresh process: count the whole corpus, report resident-memory growth."""
    import numpy as np  # noqa: F401

    from bimix.data import entropy
    from bimix.data.tokens import open_store
    from bimix.profiles import get_profile

    store = open_store(get_profile(profile), tokenizer, progress=False)  # a script: its own edge
    import tracemalloc

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = distinct = kept = 0
    # numpy reports its buffers to tracemalloc: the peak is what counting allocates (the memmapped
    # tokens live in the page cache and are not counted)
    tracemalloc.start()
    for d in store.domains:
        c = entropy.count_tokens(store.tokens(d), store.vocab_size, seq_len, num_proc=num_proc, domain=d)
        total, distinct, kept = total + c.n_tokens, distinct + c.n_distinct_pairs, kept + c.nbytes
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"tokens": total, "distinct_pairs": distinct, "counts_mib": kept / 2**20,
            "counting_peak_alloc_mib": peak / 2**20, "rss_before_mib": before / 1024,
            "peak_rss_mib": after / 1024}


def bench_tokenizer(profile: str, tokenizer: str, seq_len: int, repeats: int) -> dict:
    import numpy as np

    from bimix.data import entropy
    from bimix.data.tokens import open_store
    from bimix.profiles import get_profile

    store = open_store(get_profile(profile), tokenizer, progress=False)  # a script: its own edge
    arrays = {d: np.asarray(store.tokens(d)) for d in store.domains}  # read once: time counting, not disk
    n_tokens = sum(len(a) for a in arrays.values())
    out = {"vocab_size": store.vocab_size, "dtype": str(store.dtype), "store_id": store.store_id,
           "tokens": n_tokens, "domains": {d: len(a) for d, a in arrays.items()}}

    def count_all(num_proc: int, dense: int = entropy.DEFAULT_DENSE_TOKENS):
        return {d: entropy.count_tokens(store.tokens(d) if num_proc > 1 else a, store.vocab_size, seq_len,
                                        num_proc=num_proc, dense_tokens=dense, domain=d)
                for d, a in arrays.items()}

    for label, kwargs in (("serial", {"num_proc": 1}), ("serial_sort_only", {"num_proc": 1, "dense": 0}),
                          ("num_proc_2", {"num_proc": 2})):
        wall, cpu, counts = _best(lambda: count_all(**kwargs), repeats)
        out[label] = {"wall_s": wall, "tokens_per_s": n_tokens / wall}
        if kwargs["num_proc"] == 1:
            out[label].update({"cpu_s": cpu, "tokens_per_cpu_s": n_tokens / cpu})
    out["distinct_pairs"] = {d: c.n_distinct_pairs for d, c in counts.items()}

    # the same 1M tokens through three counters
    largest = max(arrays, key=lambda d: len(arrays[d]))
    head = arrays[largest][: 1_000_000]
    as_list = head.tolist()
    ref_uni, ref_bi = counter_loop(as_list, seq_len)
    ours = entropy.count_tokens(head, store.vocab_size, seq_len)
    a, b, c = ours.pairs()
    assert dict(zip(zip(a.tolist(), b.tolist()), c.tolist())) == dict(ref_bi), "bigram counts differ"
    assert sum(ref_uni.values()) == ours.n_tokens
    loop_wall, loop_cpu, _ = _best(lambda: counter_loop(head.tolist(), seq_len), 1)
    upd_wall, upd_cpu, _ = _best(lambda: entropy.reference_counts(head.tolist(), seq_len), max(1, repeats))
    our_wall, our_cpu, _ = _best(lambda: entropy.count_tokens(head, store.vocab_size, seq_len), repeats * 3)
    out["one_million"] = {
        "domain": largest, "tokens": len(head),
        "counter_loop_cpu_s": loop_cpu, "counter_update_cpu_s": upd_cpu, "bimix_cpu_s": our_cpu,
        "counter_loop_wall_s": loop_wall, "counter_update_wall_s": upd_wall, "bimix_wall_s": our_wall,
        "speedup_vs_loop_cpu": loop_cpu / our_cpu, "speedup_vs_update_cpu": upd_cpu / our_cpu,
    }
    child = subprocess.run([sys.executable, __file__, "--peak-child", profile, tokenizer, str(seq_len)],
                           capture_output=True, text=True, check=True)
    out["peak_memory"] = json.loads(child.stdout.strip().splitlines()[-1])
    return out


def full_table(profile: str, tokenizer: str, seq_len: int, n_docs: int) -> dict:
    from bimix.data import entropy
    from bimix.data.tokens import open_store
    from bimix.profiles import get_profile

    t0, c0 = time.perf_counter(), time.process_time()
    store = open_store(get_profile(profile), tokenizer, progress=False)  # a script: its own edge
    open_s = time.perf_counter() - t0, time.process_time() - c0
    report = entropy.compute_entropies(store, seq_len=seq_len, n_docs=n_docs, cache=False, progress=False)
    print(report.table[list(report.measures) + ["tokens", "docs"]].round(4).to_string())
    print(report.mixture_table().round(4).to_string())
    return {"open_store_s": open_s[0], "timings_s": report.timings, "cpu_s": report.cpu_seconds,
            "entropies": report.table.to_dict(orient="index"),
            "mixtures": report.mixture_table().to_dict(orient="index"),
            "doremi_gpu_hours": entropy.DOREMI_GPU_HOURS}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--peak-child":
        profile, tokenizer, seq_len = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(peak_child(profile, tokenizer, seq_len, 1)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--tokenizers", default="bpe,gpt2")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=1000, help="VNE documents per domain; 0 skips the table")
    parser.add_argument("--json", default="build/bench/entropy.json")
    args = parser.parse_args()

    from bimix.files import write_json
    from bimix.provenance import environment

    out = {"profile": args.profile, "seq_len": args.seq_len, "cpus": os.cpu_count(),
           "load_average": os.getloadavg(), "environment": environment(), "tokenizers": {}}
    for tokenizer in args.tokenizers.split(","):
        r = bench_tokenizer(args.profile, tokenizer, args.seq_len, args.repeats)
        if args.docs:
            r["full_table"] = full_table(args.profile, tokenizer, args.seq_len, args.docs)
        out["tokenizers"][tokenizer] = r
        m, p = r["one_million"], r["peak_memory"]
        print(f"[{tokenizer}] V={r['vocab_size']:,} tokens={r['tokens']:,}: "
              f"serial {r['serial']['tokens_per_s'] / 1e6:.1f}M tok/s wall, "
              f"{r['serial']['tokens_per_cpu_s'] / 1e6:.1f}M tok/CPU-s "
              f"(sort only {r['serial_sort_only']['tokens_per_cpu_s'] / 1e6:.1f}M); "
              f"2 processes {r['num_proc_2']['tokens_per_s'] / 1e6:.1f}M tok/s wall; "
              f"1M tokens: {m['speedup_vs_loop_cpu']:.0f}x the Counter loop, "
              f"{m['speedup_vs_update_cpu']:.0f}x Counter.update; "
              f"counting peak allocation {p['counting_peak_alloc_mib']:.0f} MiB, counts kept {p['counts_mib']:.0f} MiB "
              f"(process peak RSS {p['peak_rss_mib']:.0f} MiB)")
        if args.docs:
            print(f"[{tokenizer}] steps (s): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in r["full_table"]["timings_s"].items()))
    out["load_average_after"] = os.getloadavg()
    write_json(args.json, out)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    raise SystemExit(guarded(main))
