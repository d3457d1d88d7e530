"""Train the DoReMi step-size study (idempotent; resumes where it stopped).

    .venv/bin/python benchmarks/run_doremi_eta.py [--profile cpu] [--etas 1,0.3,0.1,3] [--seeds 0,1,2]

Group-DRO proxies of the profile for each step size η and seed go to data/runs/regime/doremi-eta/;
notebook 08 summarises them (bimix.train.regime.doremi_eta_table), without training.
"""

from __future__ import annotations

import argparse
import time

from bimix.profiles import get_profile
from bimix.train.regime import doremi_eta_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--etas", default="1,0.3,0.1,3")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    t0 = time.perf_counter()
    done = doremi_eta_study(get_profile(args.profile), [float(x) for x in args.etas.split(",")],
                            [int(x) for x in args.seeds.split(",")])
    print(f"{len(done)} proxy run(s) in {time.perf_counter() - t0:.0f} s: {', '.join(done)}", flush=True)


if __name__ == "__main__":
    main()
