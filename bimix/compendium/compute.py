"""Compute accounting for notebook 06: the device seconds each way of choosing a mixture costs.

DoReMi needs a reference run on the natural mixture and a Group-DRO proxy; BiMix needs the runs it is
fitted on (plus the entropy mixtures when it is fitted on them, as the paper's is), the fit and the
optimisation; the entropy mixtures need counting only. Seconds come from the runs' sidecars, the
entropy counting from notebook 02's results JSON when it is there (else it is measured here), and the
fit and optimisation from the notebook's own timers (:class:`bimix.compendium.notebook.Timer`);
:func:`bimix.law.protocols.compute_accounting` sums them up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd


def entropy_seconds(results_dir: Path, store) -> tuple[float, str]:
    """CPU seconds of counting and the eigenproblem for ``store``'s entropy mixtures, and where they come
    from: notebook 02's results in ``results_dir`` when it ran on this store, else measured now."""
    from bimix.data import entropy
    from bimix.files import read_json

    e02 = Path(results_dir) / "02_entropy_mixtures.json"
    entry = next((t for t in read_json(e02)["tokenizers"].values() if t["store_id"] == store.store_id), None) \
        if e02.is_file() else None
    if entry:
        return float(entry["cpu_s"]["total"]), e02.name
    return entropy.compute_entropies(store, progress=False, cache=False).cpu_seconds["total"], "measured here"


def optimum_compute(runs, sidecars: dict[str, dict], *, fit_on: Sequence[str], compared: Sequence[str],
                    results_dir: Path, law_fit_s: float, optimise_s: float) -> pd.DataFrame:
    """Device seconds per method and part (:func:`bimix.law.protocols.compute_accounting`) for the runs
    of ``runs`` (:class:`bimix.train.sweep.RunSet`, with their ``sidecars``): BiMix fitted on ``fit_on``
    (with the entropy counting when those are entropy mixtures), DoReMi when ``compared`` holds it, the
    entropy mixtures; ``law_fit_s`` and ``optimise_s`` as timed."""
    from bimix.data import entropy
    from bimix.data.runs import read_sidecars
    from bimix.law.protocols import compute_accounting
    from bimix.train.doremi import find_mixture

    entropy_s, entropy_source = entropy_seconds(results_dir, runs.store)
    doremi_meta = find_mixture(runs.profile, runs.store, runs.config).meta if "doremi" in compared else {}
    proxy_sidecars = read_sidecars(runs.csv_path.parent / "doremi_proxy" / "runs.csv") if doremi_meta else {}
    all_sidecars = read_sidecars(runs.csv_path)
    return compute_accounting(
        entropy_s=entropy_s, entropy_source=entropy_source,
        doremi_reference=[all_sidecars[doremi_meta["reference_run"]]] if doremi_meta else [],
        doremi_proxy=[proxy_sidecars[doremi_meta["proxy_run"]]] if doremi_meta else [],
        fit_runs=[sidecars[runs.ids[(f, s)]] for f in fit_on for s in runs.seeds],
        law_fit_s=law_fit_s, optimise_s=optimise_s, fit_uses_entropy=bool(set(fit_on) & set(entropy.MEASURES)))
