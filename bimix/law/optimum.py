"""The optimised mixture as something to train: its bounds, rounded shares, a name that is its
identity, and the rival law's optimum it is compared with (Figure 8).

A mixture's identity is its weights (a run table refuses the same weights under two names). The
optimiser's shares carry floating-point noise that can differ between machines or thread counts in
the last digits, so they are rounded to ``decimals`` places (largest-remainder, still summing to 1)
before training, and the name is derived from those rounded shares and the run config:
``bimix_opt-<8 hex>``. Re-running the notebook on the same runs gives the same name and finds the runs
already trained; a different fit gives a different name and never overwrites the earlier optimum.

The upper bounds come from an epoch policy (:func:`epoch_caps`); Figure 8's rival is the mixture that
Ye et al.'s exponential law calls optimal under the same bounds (:func:`exponential_optimum`,
:func:`rival_optimum`). :func:`save_optimum` writes an optimum as a named mixture with its provenance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

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


@dataclass
class Rival:
    """Figure 8's rival (:func:`rival_optimum`): Ye et al.'s law fitted at the target step, its optimum,
    and how the two laws judge each other's optimum. ``opt`` is None, with the ``reason``, where the
    law cannot be fitted."""

    mixtures: list[str]  # the mixtures it was asked to fit on
    at_step: pd.DataFrame  # the rows of their runs at the target step: the points it is fitted on
    lower: dict | None = None  # lower bounds: the smallest share of each domain in those runs
    fit: Any = None  # bimix.law.forms.LawFit of the exponential form
    opt: Any = None  # bimix.law.optimize.MixtureOptimum
    convex: bool = False  # every k_i > 0, so SLSQP's answer is the global optimum
    reason: str = ""
    lomo: dict = field(default_factory=dict)  # leave-one-mixture-out at the step, exponential and share laws
    cross: pd.DataFrame | None = None  # average loss of each optimum (columns) predicted by each law (rows)

    def note(self, step: int) -> str:
        if self.opt is None:
            return f"Ye et al.'s law is not applicable here: {self.reason}. Figure 8 is drawn without its optimum."
        return "\n".join([f"exponential law fitted at step {step} on {self.at_step['mixture'].nunique()} of the "
                          f"{len(self.mixtures)} mixtures asked for ({len(self.at_step['run'].unique())} runs); "
                          f"convex objective: {self.convex}"]
                         + ["  " + note for note in self.opt.warnings])

    def save(self, store, config, *, profile: str, step: int, upper=None):
        """:func:`save_optimum` of the rival's optimum (``ye_opt-<hash>``), with its fit and bounds."""
        return save_optimum(
            self.opt, self.fit, self.at_step, store, config, prefix="ye_opt", coefficients_at=step,
            method="Ye et al. 2024 exponential law (docs/paper.md#rival-law) at one step, minimised by SLSQP "
                   "within the bounds", profile=profile, step=step, fit_on=sorted(self.at_step["mixture"].unique()),
            convex=self.convex, bounds={"lower": self.lower or 0.0, "upper": upper})

    def shares(self, natural: Mapping[str, float], bimix: Mapping[str, float]) -> pd.DataFrame:
        """The natural mixture beside both optima, one row per domain."""
        return pd.DataFrame({"natural": pd.Series(natural), "BiMix optimum": pd.Series(bimix),
                             "Ye et al. optimum": pd.Series(self.opt.shares)})

    def to_json(self, mixture_name: str | None = None) -> dict:
        out = {"law": "exponential (Ye et al. 2024)", "fit_on": self.mixtures, "applicable": self.opt is not None,
               "reason": self.reason}
        if self.opt is None:
            return out
        m = len(self.opt.domains)
        return {**out, "mixture_name": mixture_name, "fitted_mixtures": sorted(self.at_step["mixture"].unique()),
                "n_runs": int(self.at_step["run"].nunique()), "weights": self.opt.shares, "convex": self.convex,
                "predicted_avg_loss": self.opt.objective / m, "warnings": self.opt.warnings,
                "lomo_at_step": self.lomo, "cross_predictions": self.cross.to_dict()}


def rival_optimum(rows: pd.DataFrame, step: int, mixtures: Sequence[str], bimix_fit, bimix_opt, *, upper=None,
                  lower_from_fit: bool = True, method: str = "trf", n_starts: int = 8) -> Rival:
    """:func:`exponential_optimum` on the runs ``rows`` of ``mixtures`` at ``step``, within ``upper`` and,
    when ``lower_from_fit``, at least each domain's smallest share in those runs; then the two laws on
    identical leave-one-mixture-out splits at the step (the exponential and the share law, Eq. 8) and
    each law's prediction of both optima (``bimix_fit``, ``bimix_opt``: BiMix's)."""
    from bimix.law.forms import LawError
    from bimix.law.protocols import lomo_summary

    at_step = rows[rows["step"] == step]
    rival = Rival(list(mixtures), at_step)
    if not mixtures:
        rival.reason = "no mixtures given (rival_fit_on is empty)"
        return rival
    if at_step.empty:
        rival.reason = f"none of {list(mixtures)} has a run evaluated at step {step}"
        return rival
    rival.lower = at_step.groupby("domain")["r"].min().to_dict() if lower_from_fit else None
    try:
        rival.fit, rival.opt, rival.convex = exponential_optimum(
            rows, step, mixtures, lower=rival.lower, upper=upper, method=method, n_starts=n_starts)
    except LawError as exc:
        rival.reason = str(exc)
        return rival
    rival.lomo = lomo_summary(at_step, ("exponential", "share"), method=method, n_starts=n_starts)
    m = len(bimix_opt.domains)
    rival.cross = pd.DataFrame({
        "BiMix optimum": [bimix_opt.objective / m, float(np.mean(rival.fit.domain_losses(bimix_opt.r, step)))],
        "Ye et al. optimum": [float(np.mean(bimix_fit.domain_losses(rival.opt.r, step))), rival.opt.objective / m]},
        index=["predicted by BiMix", "predicted by Ye et al."])
    return rival


def support_flags(optima: Mapping[str, tuple[Any, pd.DataFrame]]) -> dict[str, dict[str, float]]:
    """One support rule for several optima (``{name: (optimum, the rows its law was fitted on)}``; an
    optimum of None is left out): where each leaves its fitted shares (:func:`outside_fitted_shares`)."""
    return {name: outside_fitted_shares(opt.shares, rows) for name, (opt, rows) in optima.items() if opt is not None}


def fitted_range(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per domain, the smallest and largest share in the runs a law was fitted on (``rows``)."""
    return {d: (g["r"].min(), g["r"].max()) for d, g in rows.groupby("domain")}


def save_optimum(opt, fit, rows: pd.DataFrame, store, config, *, prefix: str = "bimix_opt",
                 coefficients_at: int | None = None, **meta) -> tuple[str, Path, dict[str, float]]:
    """``opt``'s shares, rounded (:func:`round_shares`: 6 decimals, so the same runs give the same name on
    any machine), saved as the named mixture ``<prefix>-<hash>`` (:func:`optimum_name`) in the store's
    ``mixtures_dir``, with their provenance: ``meta`` (method, profile, step, bounds, ...), the runs the
    law was fitted on and a hash of their rows, its coefficients (at ``coefficients_at`` for a law fitted
    per step),
    the predicted average loss, the store and the code version. Returns (name, file, rounded shares)."""
    from bimix.data.mixtures import Mixture, save_named
    from bimix.law.protocols import json_ready
    from bimix.provenance import code_version

    meta = {**meta, "fit_runs": sorted(rows["run"].unique()), "fit_rows_sha256": sha256_json(rows.to_csv(index=False)),
            "coefficients": {d: fit.params(d) if coefficients_at is None else fit.params(d, coefficients_at)
                             for d in fit.domains},
            "predicted_avg_loss": opt.objective / len(opt.domains), "store_id": store.store_id,
            "code_version": code_version()}
    shares = round_shares(opt.shares)
    name = optimum_name(shares, store.store_id, config, prefix=prefix)
    return name, save_named(Mixture(name, shares, json_ready(meta)), store.mixtures_dir), shares


def save_bimix_optimum(opt, fit, rows: pd.DataFrame, store, config, *, profile: str, step: int, fit_on: Sequence[str],
                       seeds: Sequence[int], fit_method: str, lower: Mapping[str, float], caps: EpochCaps):
    """:func:`save_optimum` of the BiMix optimum (``bimix_opt-<hash>``), its provenance saying how it was
    made: the fit (``fit_on`` x ``seeds``, ``fit_method``), the step, the bounds (``lower``, ``caps``) and
    the losses it predicts."""
    from bimix.law.forms import SCALE_CONVENTION

    return save_optimum(
        opt, fit, rows, store, config,
        method="BiMix optimum (docs/paper.md#optimum): minimise the sum of Eq. 3 losses, exact KKT solution",
        profile=profile, step=step, fit_on=list(fit_on), seeds=list(seeds), fit_method=fit_method,
        scale_convention=SCALE_CONVENTION, predicted_losses=dict(zip(opt.domains, opt.losses.tolist())),
        bounds={"lower": lower or 0.0, "upper": caps.upper, "epochs_max": caps.epochs_max,
                "budget_tokens": caps.budget_tokens})
