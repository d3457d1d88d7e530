"""Train the DoReMi step-size study (idempotent; resumes where it stopped).

    .venv/bin/python benchmarks/run_doremi_eta.py [--profile cpu] [--etas 1,0.3,0.1,3] [--seeds 0,1,2] [--out DIR]

Group-DRO proxies of the profile for each step size η and seed go to data/runs/regime/doremi-eta/
(``--out DIR``: DIR/doremi-eta/); notebook 08 summarises them (bimix.train.regime.doremi_eta_table),
without training. The committed study is the cpu profile's: a study folder takes the proxies of the
profile it already holds only, since its trajectories are named by η and seed alone; another profile
goes elsewhere (``--out build/regime``). Step sizes must be positive (η scales the exponentiated
gradient of the domain weights; η ≤ 0 never moves them, or moves them away from the hard domains).
"""

from __future__ import annotations

import argparse
import math
import time

from bimix.data.runs import read_sidecars
from bimix.profiles import get_profile
from bimix.train.regime import ETA_STUDY, doremi_eta_study, regime_dir

from _cli import guarded  # benchmarks/_cli.py


def parse_etas(text: str) -> list[float]:
    etas = [float(x) for x in text.split(",") if x.strip()]
    bad = [x for x in etas if not (math.isfinite(x) and x > 0)]
    if not etas or bad:
        raise ValueError(f"--etas: step sizes must be positive and finite, got {text!r}")
    return etas


def check_study_profile(profile: str, out_dir=None) -> None:
    """Refuse to add ``profile``'s proxies to a study folder holding another profile's."""
    folder = regime_dir(ETA_STUDY, out_dir)
    held = {sc.get("profile") for table in (folder / "runs.csv", folder / "doremi_proxy" / "runs.csv")
            for sc in read_sidecars(table).values()}
    others = sorted(str(p) for p in held - {profile})
    if others:
        raise ValueError(f"{folder} is the study of profile {', '.join(others)}; the {profile} profile's "
                         f"proxies go elsewhere: --out build/regime/{profile}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--etas", default="1,0.3,0.1,3")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=None, help="folder of the study's doremi-eta/ (default data/runs/regime)")
    args = parser.parse_args()
    profile = get_profile(args.profile)  # resolved once (this script is an edge); unknown names refused
    etas = parse_etas(args.etas)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    check_study_profile(profile.name, args.out)
    t0 = time.perf_counter()
    done = doremi_eta_study(profile, etas, seeds, out_dir=args.out)
    print(f"{len(done)} proxy run(s) in {time.perf_counter() - t0:.0f} s: {', '.join(done)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(guarded(main))
