"""Train the regime study's pilot runs (idempotent; resumes where it stopped).

    .venv/bin/python benchmarks/run_regime.py configs/regime/small.toml [more.toml ...]
        [--spread-seeds 1,2] [--doremi-seeds 1,2] [--workers 2]

Each config's runs go to data/runs/regime/<name>/; the study's table is computed from those tables by
notebook 08 (bimix.train.regime.regime_table), without training.
"""

from __future__ import annotations

import argparse
import time

from bimix.config import load_config
from bimix.train.regime import train_regime

from _cli import guarded  # benchmarks/_cli.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--spread-seeds", default="1,2", help="extra Baseline seeds ('' for none)")
    parser.add_argument("--doremi-seeds", default="", help="extra DoReMi proxy seeds ('' for none)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seeds = lambda s: tuple(int(x) for x in s.split(",") if x.strip())  # noqa: E731
    for path in args.configs:
        profile = load_config(path)
        t0 = time.perf_counter()
        done = train_regime(profile, spread_seeds=seeds(args.spread_seeds), doremi_seeds=seeds(args.doremi_seeds),
                            workers=args.workers, show_progress=False)
        print(f"{profile.name}: {len(done)} job(s) in {time.perf_counter() - t0:.0f} s: {', '.join(done)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(guarded(main))
