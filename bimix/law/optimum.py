"""The optimised mixture as something to train: its bounds, rounded shares, a name that is its
identity, and the rival law's optimum it is compared with (Figure 8).

A mixture's identity is its weights (a run table refuses the same weights under two names). The
optimiser's shares carry floating-point noise that can differ between machines or thread counts in
the last digits, so they are rounded to ``decimals`` places (largest-remainder, still summing to 1)
before training, and the name is derived from those rounded shares and the run config:
``bimix_opt-<8 hex>``. Re-running the notebook on the same runs gives the same name and finds the runs
already trained; a different fit gives a different name and never overwrites the earlier optimum.

The upper bounds come from an epoch policy (:func:`epoch_caps`); Figure 8's rival is the mixture that
Ye et al.'s exponential law calls optimal under the same bounds (:func:`exponential_optimum`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from bimix.files import sha256_json


def round_shares(shares: Mapping[str, float], decimals: int = 6) -> dict[str, float]:
    """Shares rounded to ``decimals`` places, summing to exactly 1 at that resolution (the units lost
    to rounding go to the largest remainders); zero stays zero."""
    names = list(shares)
    x = np.asarray([float(shares[k]) for k in names], dtype=np.float64)
    if np.any(x < 0) or not np.isclose(x.sum(), 1.0, atol=1e-6):
        raise ValueError(f"shares must be >= 0 and sum to 1, got sum {float(x.sum()):.8f}")
    unit = 10 ** decimals
    scaled = x / x.sum() * unit
    base = np.floor(scaled).astype(np.int64)
    short = unit - int(base.sum())
    order = np.argsort(-(scaled - base), kind="stable")
    base[order[:short]] += 1
    return {k: int(v) / unit for k, v in zip(names, base)}


def optimum_name(shares: Mapping[str, float], store_id: str, config, prefix: str = "bimix_opt") -> str:
    """``<prefix>-<hash>`` of the (rounded) shares, the token store and the model/train config."""
    train = asdict(config.train)
    if train.get("cpu_threads") == 1:
        train.pop("cpu_threads")  # added later: at its default it leaves existing names unchanged
    key = {"shares": {k: round(float(v), 12) for k, v in shares.items()}, "store": store_id,
           "model": asdict(config.model), "train": train}
    return f"{prefix}-{sha256_json(key)[:8]}"


# --------------------------------------------------------------------------------------- epoch caps
@dataclass(frozen=True)
class EpochCaps:
    """Upper bounds on the shares that keep every domain within ``epochs_max`` passes in one run."""

    budget_tokens: int  # training tokens of one run (steps × batch × sequence length)
    train_tokens: dict  # domain -> training tokens in the store
    natural_epochs: float  # passes over the whole corpus one run makes at the natural mixture
    epochs_max: float  # the cap actually used
    upper: dict  # domain -> upper bound on its share
    note: str  # why the cap differs from the profile's epoch_limit ("" when it does not)


def epoch_caps(config, train_tokens: Mapping[str, float], epochs_max: float = 0.0) -> EpochCaps:
    """The optimum's epoch policy (docs/paper.md#optimum): a run of N tokens that gives domain i the
    share r_i reads r_i N of its n_i training tokens, so u_i = min(1, e_max n_i / N). ``epochs_max`` > 0
    is used as given; 0 takes the profile's ``epoch_limit``, unless one run already reads the whole
    corpus more often than that at the natural mixture (the gpu profile reads it about four times):
    then twice the natural mixture's epochs, so that upweighting a small domain stays possible."""
    from bimix.law.optimize import epoch_upper_bounds

    train = config.train
    budget = int(train.steps * train.batch_size * config.model.seq_len)
    tokens = {d: float(t) for d, t in train_tokens.items()}
    natural = budget / sum(tokens.values())
    cap = float(epochs_max) if epochs_max else max(float(train.epoch_limit), 2 * natural)
    note = ""
    if not epochs_max and cap > train.epoch_limit:
        note = (f"a run reads {natural:.2f} epochs of the corpus at the natural mixture: caps at {cap:.2f} "
                f"epochs instead of the profile epoch_limit {train.epoch_limit:g}")
    return EpochCaps(budget, tokens, natural, cap, epoch_upper_bounds(tokens, budget, cap), note)


# ------------------------------------------------------------------ the rival optimum (Ye et al. 2024)
def exponential_optimum(rows, step: int, fit_on: Sequence[str], *, lower=None, upper=None,
                        method: str = "trf", n_starts: int = 8):
    """Ye et al.'s mixing law fitted at one step and optimised like BiMix's (Figure 8's rival).

    The law (docs/paper.md#rival-law) is L_i(r) = c_i + k_i exp(Σ_j t_ij r_j): m + 2 coefficients per
    domain at one step, fitted by least squares on log loss on the rows of ``fit_on`` at ``step`` (every
    seed's row is a point). It is then minimised as BiMix's optimum is (the sum of the domains' predicted
    losses over the simplex, within ``lower``/``upper``), with SciPy's SLSQP rather than Ye et al.'s
    sampling of candidate mixtures; with every k_i > 0 each term is convex in r, so SLSQP's answer is the
    global optimum (``convex`` says whether that holds).

    Returns ``(fit, optimum, convex)``. Raises :class:`bimix.law.forms.LawError` with the reason in words when
    the law cannot be fitted (fewer mixtures than coefficients, a failed fit)."""
    from bimix.law.forms import LawError, fit_law
    from bimix.law.optimize import optimize_mixture

    at = rows[(rows["step"] == step) & rows["mixture"].isin(list(fit_on))]
    if at.empty:
        raise LawError(f"none of the mixtures {list(fit_on)} was evaluated at step {step}")
    present = list(dict.fromkeys(m for m in fit_on if m in set(at["mixture"])))
    fit = fit_law(at, form="exponential", method=method, n_starts=n_starts, mixtures=present)
    failed = [f"{u.domain}: {u.failure}" for u in fit.units.values() if u.failure]
    if failed:
        raise LawError("the exponential law's fit failed (" + "; ".join(failed) + ")")
    convex = all(fit.params(d, step)["k"] > 0 for d in fit.domains)
    opt = optimize_mixture(fit, step, lower=lower, upper=upper, method="slsqp", within_support=False)
    return fit, opt, convex


def outside_fitted_shares(shares: Mapping[str, float], rows, tol: float = 1e-9) -> dict[str, float]:
    """Domains whose optimal share lies outside the shares the law was fitted on (``rows``: the fitted
    run table, columns domain and r), with that share rounded to 4 decimals: where the optimum
    extrapolates its law. Both optima of notebook 06 are flagged by this one rule."""
    lo, hi = rows.groupby("domain")["r"].min(), rows.groupby("domain")["r"].max()
    return {d: round(float(r), 4) for d, r in shares.items()
            if d in lo.index and not lo[d] - tol <= r <= hi[d] + tol}
