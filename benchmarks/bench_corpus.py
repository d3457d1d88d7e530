"""Benchmark the foundation: corpus build (cold, warm) and tokenization throughput (1 and 2 processes).

    .venv/bin/python benchmarks/bench_corpus.py [--profile cpu] [--json build/bench/corpus.json]

Uses a fresh temporary $BIMIX_CACHE for the cold build (downloads included), then the same cache for
the warm load, then tokenizes the corpus with each of the profile's tokenizers into fresh stores with
num_proc = 1 and 2. Prints a table; writes JSON with the numbers and the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _cli import guarded  # benchmarks/_cli.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--json", default="build/bench/corpus.json")
    args = parser.parse_args()

    cache = Path(tempfile.mkdtemp(prefix="bimix-bench-"))
    os.environ["BIMIX_CACHE"] = str(cache)
    from bimix.data.corpus import load_corpus
    from bimix.files import write_json
    from bimix.profiles import get_profile
    from bimix.provenance import environment
    from bimix.data.tokens import build_store, load_tokenizer

    profile = get_profile(args.profile)
    out: dict = {"profile": args.profile, "environment": environment(), "cpus": os.cpu_count()}
    t0 = time.perf_counter()
    corpus = load_corpus(profile.corpus, progress=False)
    out["corpus_cold_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    corpus = load_corpus(profile.corpus, progress=False)
    out["corpus_warm_s"] = time.perf_counter() - t0
    out["corpus"] = corpus.counts()
    out["tokenizers"] = {}
    for config in profile.tokenizers:
        t0 = time.perf_counter()
        tok = load_tokenizer(config, corpus)
        entry = {"load_or_train_s": time.perf_counter() - t0}
        for num_proc in (1, 2):
            # each trial starts cold: no store, no Arrow copy of the JSONL shards
            shutil.rmtree(cache / "stores", ignore_errors=True)
            shutil.rmtree(cache / "hf-datasets", ignore_errors=True)
            t0 = time.perf_counter()
            store = build_store(corpus, tok, num_proc=num_proc, progress=False)
            seconds = time.perf_counter() - t0
            tokens = int(store.stats()["tokens"].sum())
            entry[f"num_proc_{num_proc}"] = {"seconds": seconds, "tokens": tokens,
                                             "tokens_per_s": tokens / seconds}
        entry["domains"] = store.stats().reset_index().to_dict(orient="records")
        out["tokenizers"][tok.name] = entry
    write_json(args.json, out)

    print(f"corpus build: cold {out['corpus_cold_s']:.1f} s (downloads included), "
          f"warm {out['corpus_warm_s']:.2f} s")
    for name, entry in out["tokenizers"].items():
        one, two = entry["num_proc_1"], entry["num_proc_2"]
        print(f"{name}: trained/loaded in {entry['load_or_train_s']:.1f} s; "
              f"tokenize {one['tokens']:,} tokens: 1 proc {one['tokens_per_s']:,.0f} tok/s, "
              f"2 procs {two['tokens_per_s']:,.0f} tok/s")
        for row in entry["domains"]:
            print(f"   {row['domain']:<10} docs {row['documents']:>7,}  bytes {row['bytes']:>12,}  "
                  f"tokens {row['tokens']:>11,}  bytes/token {row['bytes_per_token']:.2f}")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(guarded(main))
