"""The entropy rationale, tested directly: do a domain's entropies track its fitted exponents?

The paper's entropy mixtures give each domain the share ``exp(H_i) / Σ_j exp(H_j)`` (docs/paper.md,
"Entropy-driven mixtures"): a domain with more entropy is taken to need more data. If entropy says how
much a domain has left to learn, it should go with how its loss responds to data: the share exponent
``α_i`` and the step exponent ``β_i`` of the BiMix law ``L_i = A_i / r_i^α_i · (B_i / s^β_i + C_i)``.
The paper never checks this; here it is checked on every table where both are at hand.

Entropies. A softmax mixture carries its entropies up to one constant: ``H_i = log r_i + c``. So the
log-shares of a published SE (or CE) mixture are that domain set's entropies up to a shift, which a
correlation ignores; the same holds for the SE/CE mixtures the sweep trained on (computed from the
corpus by :mod:`bimix.data.entropy`). No entropy is recomputed from text here.

Exponents. BiMix fitted on every run of a set (one seed of the CPU sweep, one model size of a public
table), each domain on its own; a domain whose fit failed or hit a bound, or that had one share only
(no α), is left out of that set and listed.

Correlation. Sets differ in level (a larger model has other exponents), so each set's exponents and
entropies are centred on their set means, and Pearson's r is taken over the pooled centred points: the
within-set association, the question asked. The domains are the units (a set adds no new domain), so
the 95 % interval resamples domains with replacement (every set's point of a drawn domain comes along)
and recomputes r; a replicate with fewer than three distinct domains is dropped and counted. The rule
of the verdict: the interval excludes 0 (an association of that sign), else no association shown.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.law.forms import LawError, fit_law

PROXIES = ("se", "ce")  # the entropies tested: Shannon (unigram) and conditional (bigram)
EXPONENTS = ("alpha", "beta")
MIN_DOMAINS = 3  # fewer distinct domains in a bootstrap replicate leave r meaningless
VERDICT_DOMAINS = 5  # fewer domains in all: resampling them cannot give an interval worth a verdict


def log_shares(shares: Mapping[str, float]) -> dict[str, float]:
    """A softmax mixture's entropies up to one additive constant: ``log r_i`` (shares > 0)."""
    out = {}
    for domain, r in shares.items():
        if not r > 0:
            raise ValueError(f"domain {domain!r} has share {r}: an entropy mixture gives every domain a share > 0")
        out[domain] = float(np.log(r))
    return out


def fitted_exponents(table: pd.DataFrame, label: str, *, method: str = "trf",
                     n_starts: int = 4) -> tuple[pd.DataFrame, list[dict]]:
    """BiMix fitted on every run of ``table`` (rows with r > 0): per domain ``alpha`` and ``beta``.
    Returns (rows set, domain, alpha, beta; left-out domains with their reason)."""
    rows, left_out = [], []
    try:
        fit = fit_law(table[table["r"] > 0], form="bimix", method=method, n_starts=n_starts)
    except LawError as exc:
        return pd.DataFrame(columns=["set", "domain", "alpha", "beta"]), [{"set": label, "domain": "*",
                                                                          "reason": str(exc)}]
    for (domain, _), unit in fit.units.items():
        if unit.failure or unit.identified != "full":
            left_out.append({"set": label, "domain": domain,
                             "reason": unit.failure or "one share only: no share exponent"})
            continue
        rows.append({"set": label, "domain": domain, "alpha": float(unit.params["alpha"]),
                     "beta": float(unit.params["beta"])})
    return pd.DataFrame(rows, columns=["set", "domain", "alpha", "beta"]), left_out


def with_entropies(exponents: pd.DataFrame, entropies: Mapping[str, Mapping[str, float]],
                   names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``exponents`` with one column per entropy proxy (``entropies[proxy][domain]``, e.g. from
    :func:`log_shares`); ``names`` maps a table's domain names to the entropy tables' (e.g.
    ``PileCC`` -> ``Pile-CC``). A domain without an entropy is dropped."""
    out = exponents.copy()
    key = out["domain"].map(lambda d: (names or {}).get(d, d))
    for proxy, values in entropies.items():
        out[proxy] = key.map(values).astype(float)
    return out.dropna(subset=list(entropies)).reset_index(drop=True)


def rounded(frame: pd.DataFrame, digits: int = 6) -> pd.DataFrame:
    """The points with every number at ``digits`` significant digits, as the committed extract keeps
    them: computed from these, the correlations are the same whether the public points were just
    fitted or read back from the extract offline."""
    out = frame.copy()
    for column in out.select_dtypes("number").columns:
        out[column] = [float(f"{v:.{digits}g}") if np.isfinite(v) else v for v in out[column].astype(float)]
    return out


def _centred_r(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Pearson r of x and y after subtracting each group's means."""
    xs, ys = pd.Series(x), pd.Series(y)
    xc = (xs - xs.groupby(groups).transform("mean")).to_numpy()
    yc = (ys - ys.groupby(groups).transform("mean")).to_numpy()
    den = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / den) if den > 0 else float("nan")


def centred_correlation(frame: pd.DataFrame, x: str, y: str, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Within-set Pearson r of columns ``x`` and ``y`` (module docstring) with a 95 % interval from
    resampling domains; also the mean over sets of Spearman's ρ (sets with three domains or more)."""
    frame = frame.dropna(subset=[x, y])
    domains = np.asarray(sorted(set(frame["domain"])))
    r = _centred_r(frame[x].to_numpy(float), frame[y].to_numpy(float), frame["set"].to_numpy())
    rows_of = {d: np.flatnonzero(frame["domain"].to_numpy() == d) for d in domains}
    rng = np.random.default_rng(seed)
    xs, ys, sets = frame[x].to_numpy(float), frame[y].to_numpy(float), frame["set"].to_numpy()
    reps, dropped = [], 0
    for _ in range(n_boot):
        drawn = rng.choice(domains, size=len(domains), replace=True)
        if len(set(drawn)) < MIN_DOMAINS:
            dropped += 1
            continue
        idx = np.concatenate([rows_of[d] for d in drawn])  # a domain drawn twice counts twice
        value = _centred_r(xs[idx], ys[idx], sets[idx])
        if np.isfinite(value):
            reps.append(value)
        else:
            dropped += 1
    low, high = (np.percentile(reps, [2.5, 97.5]) if reps else (np.nan, np.nan))
    rho = [frame.loc[g.index, x].rank().corr(frame.loc[g.index, y].rank())
           for _, g in frame.groupby("set") if g["domain"].nunique() >= MIN_DOMAINS]
    return {"r": r, "low": float(low), "high": float(high), "n_domains": int(len(domains)),
            "n_sets": int(frame["set"].nunique()), "n_points": int(len(frame)),
            "spearman_mean": float(np.nanmean(rho)) if rho else float("nan"),
            "n_boot": int(n_boot), "n_boot_dropped": int(dropped), "seed": int(seed)}


def verdict(row: Mapping) -> str:
    """The rule: the 95 % interval excludes 0 -> "positive" / "negative", else "none shown"; with
    fewer than ``VERDICT_DOMAINS`` domains, "too few domains" whatever the interval."""
    if row["n_domains"] < VERDICT_DOMAINS:
        return "too few domains"
    if not (np.isfinite(row["low"]) and np.isfinite(row["high"])):
        return "not measurable"
    if row["low"] > 0:
        return "positive"
    if row["high"] < 0:
        return "negative"
    return "none shown"


def correlations(frame: pd.DataFrame, proxies: Sequence[str] = PROXIES, exponents: Sequence[str] = EXPONENTS,
                 *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (source, exponent, proxy): :func:`centred_correlation` and its :func:`verdict`.
    ``frame`` has columns source, set, domain, the exponents and the proxies."""
    rows = []
    parts = list(frame.groupby("source", sort=False))
    if len(parts) > 1:  # every table together: a domain is (table, domain), a set (table, set)
        parts.append(("all tables", frame.assign(domain=frame["source"] + ": " + frame["domain"],
                                                 set=frame["source"] + ": " + frame["set"])))
    for source, part in parts:
        for exponent in exponents:
            for proxy in proxies:
                if proxy not in part or part[proxy].isna().all():
                    continue
                c = centred_correlation(part, proxy, exponent, n_boot=n_boot, seed=seed)
                rows.append({"source": source, "exponent": exponent, "entropy": proxy, **c})
    out = pd.DataFrame(rows)
    if len(out):
        out["verdict"] = [verdict(r) for r in out.to_dict("records")]
    return out


def sentence(row: Mapping, what: str) -> str:
    """One computed sentence for a correlation row; ``what`` names the data (e.g. "Apple's SlimPajama
    ladder, 6 sizes")."""
    name = {"alpha": "share exponent α", "beta": "step exponent β"}[row["exponent"]]
    measured = (f"r = {row['r']:+.2f} [{row['low']:+.2f}, {row['high']:+.2f}] over {row['n_domains']} domains "
                f"× {row['n_sets']} sets")
    v = row["verdict"]
    if v == "too few domains":
        return (f"{what}: {row['entropy'].upper()} vs {name}: {measured}; {row['n_domains']} domains are too "
                f"few for a verdict (the rule needs {VERDICT_DOMAINS}).")
    if v in ("positive", "negative"):
        meaning = {"alpha": "their loss falls {} as their share grows",
                   "beta": "their loss falls {} with training steps"}[row["exponent"]]
        tail = (("domains with more entropy have the larger" if v == "positive" else
                 "domains with more entropy have the smaller") + f" {name} ("
                + meaning.format("faster" if v == "positive" else "more slowly") + ")")
        return f"{what}: {row['entropy'].upper()} vs {name}: {measured}; the interval excludes 0: {tail}."
    return (f"{what}: {row['entropy'].upper()} vs {name}: {measured}; the interval includes 0: "
            "no association shown at this number of domains.")


# ------------------------------------------------------------------------------- the tables' sets
# The Data Mixing Laws 3Mix domains as the paper's Pile table names them.
DML_PILE_NAMES = {"Github": "Github", "PileCC": "Pile-CC", "Books3": "Books3"}


def sweep_sets(table: pd.DataFrame, proxies: Sequence[str] = PROXIES, *, source: str = "cpu",
               n_starts: int = 4, method: str = "trf") -> tuple[pd.DataFrame, list[dict]]:
    """A sweep's run table: one set per seed that has three mixtures or more; the entropies are the
    log-shares of the sweep's own ``se``/``ce`` mixtures (as trained, from the table's r column)."""
    entropies = {}
    for proxy in proxies:
        rows = table[table["mixture"] == proxy]
        if len(rows):
            entropies[proxy] = log_shares(rows.groupby("domain", sort=False)["r"].first().to_dict())
    if not entropies:
        raise ValueError(f"the run table has none of the entropy mixtures {list(proxies)}")
    frames, left_out = [], []
    for seed, runs in table.groupby("seed"):
        if runs["mixture"].nunique() < 3:
            continue
        exps, gone = fitted_exponents(runs, f"seed {seed}", n_starts=n_starts, method=method)
        frames.append(with_entropies(exps, entropies).assign(source=source))
        left_out += [{**g, "source": source} for g in gone]
    return _joined(frames), left_out


def public_sets(tables: Mapping[str, pd.DataFrame], collection: str, names: Mapping[str, str] | None,
                source: str, proxies: Sequence[str] = PROXIES, *, n_starts: int = 4,
                method: str = "trf") -> tuple[pd.DataFrame, list[dict]]:
    """A public table split by model size (``{size: run table}``): one set per size, the entropies the
    log-shares of the paper's published SE/CE mixtures of ``collection`` ("pile" or "slimpajama");
    ``names`` maps the table's domain names to the paper's."""
    from bimix.data.mixtures import published

    entropies = {p: log_shares(published(collection, p).weights) for p in proxies}
    frames, left_out = [], []
    for size, table in tables.items():
        exps, gone = fitted_exponents(table, size, n_starts=n_starts, method=method)
        frames.append(with_entropies(exps, entropies, names=names).assign(source=source))
        left_out += [{**g, "source": source} for g in gone]
    return _joined(frames), left_out


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    columns = ["source", "set", "domain", *EXPONENTS, *PROXIES]
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns))[columns]
