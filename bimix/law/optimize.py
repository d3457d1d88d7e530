"""Optimising the mixture with a fitted law (docs/paper.md#optimum, the paper's Section 5.3).

Minimise Σ_i w_i L_i(r, s) at a target step s over the simplex Σ r_i = 1, with optional bounds
lo_i ≤ r_i ≤ hi_i (e.g. hi_i = epochs_max × tokens_i / budget for a small domain). w_i = 1 by default,
as in the paper.

For the ``bimix`` form the objective is Σ K_i r_i^{-α_i} with K_i = w_i A_i (B_i s^{-β_i} + C_i),
strictly convex; the KKT conditions give r_i(λ) = (α_i K_i / λ)^{1/(1+α_i)}, clamped to [lo_i, hi_i]
(the minimiser of each separable term plus λ r_i over its box), and λ > 0 is the unique root of
Σ_i r_i(λ) = 1, which is monotone in λ. That exact solution is ``method="kkt"``; every form can use
``method="slsqp"`` (``scipy.optimize.minimize``, analytic gradients), which the tests check against it.

By default every share also stays within the shares the law was fitted on (``within_support=True``;
``LawFit.support``): outside them the law is extrapolated, and r^-α pulls the optimiser towards
shares no run measured. ``within_support=False`` (CLI ``--outside-support``) leaves them. Whenever the
answer touches a bound, or (outside the support) leaves the fitted shares, ``MixtureOptimum.warnings``
says so in words and a Python warning is issued: :class:`AtBoundWarning`,
:class:`OutsideSupportWarning`, or :class:`UnknownSupportWarning` when the fit does not record its
support (a fit written by an older version), so it cannot be kept there.

This module imports only numpy, scipy and pandas.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize

from bimix.law.forms import LawError, LawFit, NotPredictableError, _as_step


class OptimizeError(LawError, ValueError):
    """Bad bounds, weights or step; or bounds that no mixture satisfies."""


class OptimumWarning(UserWarning):
    """The optimum needs a second look (base class of the warnings below)."""


class AtBoundWarning(OptimumWarning):
    """A share of the optimum sits at a bound (a given one, or an end of the fitted support): the bound
    decided that share, not the law."""


class OutsideSupportWarning(OptimumWarning):
    """A share of the optimum lies outside the shares the law was fitted on: the law is extrapolated."""


class UnknownSupportWarning(OptimumWarning):
    """The fit does not record the shares it was fitted on, so the optimum cannot be kept within them."""


@dataclass
class MixtureOptimum:
    domains: tuple[str, ...]
    r: np.ndarray  # (m,) optimal shares, sums to 1
    step: float
    objective: float  # Σ w_i L_i at r, nats
    losses: np.ndarray  # (m,) predicted L_i at r, nats
    weights: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str
    lam: float | None = None  # KKT multiplier of Σ r = 1 (kkt only)
    warnings: list[str] = field(default_factory=list)  # an answer at a bound or outside the support
    support: dict[str, tuple[float, float]] = field(default_factory=dict)  # fitted shares per domain
    within_support: bool = False  # were the shares kept within ``support``

    @property
    def shares(self) -> dict[str, float]:
        return dict(zip(self.domains, map(float, self.r)))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"domain": self.domains, "r": self.r, "loss": self.losses,
                             "weight": self.weights, "lower": self.lower, "upper": self.upper,
                             "at_bound": _at_bound(self.r, self.lower, self.upper)})

    def to_json(self) -> dict:
        return {"step": self.step, "method": self.method, "objective": self.objective,
                "mean_loss": float(self.objective / self.weights.sum()), "lambda": self.lam,
                "r": self.shares, "losses": dict(zip(self.domains, map(float, self.losses))),
                "weights": dict(zip(self.domains, map(float, self.weights))),
                "lower": dict(zip(self.domains, map(float, self.lower))),
                "upper": dict(zip(self.domains, map(float, self.upper))),
                "at_bound": dict(zip(self.domains, _at_bound(self.r, self.lower, self.upper))),
                "support": {d: list(v) for d, v in self.support.items()},
                "within_support": self.within_support, "warnings": list(self.warnings)}


_SHARE_FLOOR = 1e-10  # SLSQP's strictly positive floor for a lower bound of 0 (r^-α is infinite at 0)


def _at_bound(r, lo, hi) -> list[str]:
    return ["lower" if x <= max(a, _SHARE_FLOOR) + 1e-12 else "upper" if x >= b - 1e-12 else ""
            for x, a, b in zip(r, lo, hi)]


def _vector(values, domains: Sequence[str], default: float, what: str) -> np.ndarray:
    """Per-domain values from None, a scalar, a mapping (domain -> value) or a sequence."""
    m = len(domains)
    if values is None:
        return np.full(m, default)
    if isinstance(values, Mapping):
        unknown = sorted(set(values) - set(domains))
        if unknown:
            raise OptimizeError(f"{what} names unknown domains {unknown}; the fit has {list(domains)}")
        return np.array([float(values.get(d, default)) for d in domains])
    arr = np.broadcast_to(np.asarray(values, float), (m,)).copy()
    return arr


def _check(domains, w, lo, hi):
    for name, v in (("weights", w), ("lower bounds", lo), ("upper bounds", hi)):
        if not np.all(np.isfinite(v)):
            raise OptimizeError(f"{name} must be finite: {dict(zip(domains, v))}")
    if np.any(w < 0) or not np.any(w > 0):
        raise OptimizeError(f"weights must be >= 0 with one > 0: {dict(zip(domains, w))}")
    bad = [d for d, a, b in zip(domains, lo, hi) if not 0 <= a <= b <= 1]
    if bad:
        raise OptimizeError(f"bounds must satisfy 0 <= lower <= upper <= 1; violated for {bad}")
    if lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
        raise OptimizeError(f"no mixture satisfies the bounds: lower bounds sum to {lo.sum():.6g} and "
                            f"upper bounds to {hi.sum():.6g}; need lower <= 1 <= upper")


def kkt_bimix(alpha: np.ndarray, K: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact minimiser of Σ K_i r_i^{-α_i} on {Σ r = 1, lower ≤ r ≤ upper} (docs/paper.md#optimum).

    r_i(λ) = clip((α_i K_i / λ)^{1/(1+α_i)}, lower_i, upper_i) is non-increasing in λ, so the root of
    Σ r_i(λ) = 1 is found by bracketing in log λ. A domain with K_i = 0 (weight 0) sits at its lower
    bound. Returns (r, λ)."""
    alpha, K = np.asarray(alpha, float), np.asarray(K, float)
    live = (K > 0) & (alpha > 0)
    log_aK = np.where(live, np.log(np.where(live, alpha * K, 1.0)), -np.inf)

    def shares(log_lam):
        with np.errstate(over="ignore"):
            free = np.exp((log_aK - log_lam) / (1.0 + alpha))
        return np.clip(np.where(live, free, 0.0), lower, upper)

    def gap(log_lam):
        return shares(log_lam).sum() - 1.0

    if not live.any() or abs(lower.sum() - 1.0) <= 1e-15:
        return lower.copy(), 0.0
    # every free share ≥ 1 at the low end of the bracket, ≤ 1/(2m) at the high end
    m = len(K)
    a = float(np.min(log_aK[live])) - 1.0
    b = float(np.max(log_aK[live] + (1.0 + alpha[live]) * np.log(2.0 * m))) + 1.0
    ga, gb = gap(a), gap(b)
    if ga < 0:  # all free shares pinned at their upper bounds and still short: hi sum < 1
        raise OptimizeError("upper bounds of the domains with weight > 0 sum to less than 1")
    if gb > 0:  # lower bounds alone exceed 1 (checked before) or only dead domains left
        return shares(b), float(np.exp(b))
    log_lam = brentq(gap, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return shares(log_lam), float(np.exp(log_lam))


class _Objective:
    """Σ w_i L_i(r, s) for one mixture (value and gradient in r) or for many at once
    (``values``: rows of R), for any form that has a share variable."""

    def __init__(self, fit: LawFit, step: float, w: np.ndarray):
        doms = fit.domains
        self.w = w
        self.kind = "power"
        if fit.form in ("bimix", "additive", "share"):
            if fit.form == "share":
                p = [fit.params(d, _as_step(step, fit)) for d in doms]
                self.A = np.array([q["A"] for q in p])
                self.alpha = np.array([q["alpha"] for q in p])
                self.const = np.zeros(len(doms))
                return
            p = [fit.params(d) for d in doms]
            steps_only = [d for d, q in zip(doms, p) if q.get("alpha", q.get("a")) is None]
            if steps_only:
                raise NotPredictableError(f"domains {steps_only} were fitted at a single share: their "
                                          "share exponent is not identified, so no mixture can be optimised")
            if fit.form == "bimix":
                self.A = np.array([q["A"] * (q["B"] * step ** -q["beta"] + q["C"]) for q in p])
                self.alpha = np.array([q["alpha"] for q in p])
                self.const = np.zeros(len(doms))
            else:
                self.A = np.array([q["A"] for q in p])
                self.alpha = np.array([q["a"] for q in p])
                self.const = np.array([q["E"] + q["B"] * step ** -q["b"] for q in p])
        elif fit.form == "exponential":
            self.kind = "exp"
            p = [fit.params(d, _as_step(step, fit)) for d in doms]
            self.c = np.array([q["c"] for q in p])
            self.k = np.array([q["k"] for q in p])
            self.T = np.array([[q[f"t[{e}]"] for e in doms] for q in p])  # row i = domain i's t
        else:
            raise NotPredictableError("the steps form has no share variable: it cannot score mixtures")

    def values(self, R: np.ndarray) -> np.ndarray:
        """Objective of each row of R, (n, m) -> (n,)."""
        R = np.asarray(R, float)
        if self.kind == "power":
            with np.errstate(divide="ignore"):
                return (self.const + self.A * R ** -self.alpha) @ self.w
        return (self.c + self.k * np.exp(R @ self.T.T)) @ self.w

    def __call__(self, r: np.ndarray) -> tuple[float, np.ndarray]:
        if self.kind == "power":
            r = np.maximum(r, 1e-300)
            term = self.A * r ** -self.alpha
            return float(self.w @ (self.const + term)), -self.w * self.alpha * term / r
        e = self.k * np.exp(self.T @ r)
        return float(self.w @ (self.c + e)), self.T.T @ (self.w * e)


def _objective(fit: LawFit, step: float, w: np.ndarray) -> _Objective:
    return _Objective(fit, step, w)


def _losses(fit: LawFit, r: np.ndarray, step: float) -> np.ndarray:
    return fit.domain_losses(r, step)


def optimize_mixture(fit: LawFit, step: float, weights=None, lower=None, upper=None,
                     method: str = "auto", within_support: bool = True) -> MixtureOptimum:
    """Minimise Σ_i w_i L_i(r, step) over the simplex with lower ≤ r ≤ upper.

    ``weights``, ``lower``, ``upper``: None, a scalar, a sequence in ``fit.domains`` order or a
    mapping domain -> value (unnamed domains take the defaults 1, 0, 1). ``method``: "kkt" (exact,
    ``bimix`` only), "slsqp", or "auto" (kkt for bimix, else slsqp).

    ``within_support`` (default True): each share also stays within the shares its domain had in the
    fitted runs (``fit.support``), where the law was measured; the bounds are intersected with them,
    and OptimizeError says so when no mixture satisfies both. A domain whose support the fit does
    not record (a fit written by an older version) keeps only the given bounds, with an
    :class:`UnknownSupportWarning`. ``within_support=False`` leaves the support (notebook 00 does, to
    compare the exact optimum with an unbounded grid search).

    Either way ``MixtureOptimum.warnings`` names every share at a bound (:class:`AtBoundWarning`) and
    every share outside the fitted support (:class:`OutsideSupportWarning`), and each is also issued
    through :mod:`warnings`.
    """
    doms = fit.domains
    if not np.isfinite(step) or step <= 0:
        raise OptimizeError(f"step must be a positive number, got {step!r}")
    w = _vector(weights, doms, 1.0, "weights")
    lo = _vector(lower, doms, 0.0, "lower bounds")
    hi = _vector(upper, doms, 1.0, "upper bounds")
    _check(doms, w, lo, hi)
    notes: list[tuple[str, type[OptimumWarning]]] = []
    support = {d: fit.support[d] for d in doms if d in fit.support}
    if within_support:
        unknown = [d for d in doms if d not in support]
        if unknown:
            notes.append((f"the fit does not record the shares it was fitted on for {', '.join(unknown)} "
                          "(written by an older version): those shares are not kept within them",
                          UnknownSupportWarning))
        s_lo = np.array([support.get(d, (0.0, 1.0))[0] for d in doms])
        s_hi = np.array([support.get(d, (0.0, 1.0))[1] for d in doms])
        lo, hi = np.maximum(lo, s_lo), np.minimum(hi, s_hi)
        if np.any(lo > hi) or lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
            raise OptimizeError(
                f"no mixture lies within both the given bounds and the shares the law was fitted on "
                f"(per domain {dict((d, [round(a, 6), round(b, 6)]) for d, a, b in zip(doms, s_lo, s_hi))}); "
                "relax the bounds or leave the fitted support (within_support=False, CLI --outside-support)")
    if method == "auto":
        method = "kkt" if fit.form == "bimix" else "slsqp"
    f = _objective(fit, step, w)
    lam = None
    if method == "kkt":
        if fit.form != "bimix":
            raise OptimizeError(f"the KKT solution exists for the bimix form only, not {fit.form!r}")
        p = [fit.params(d) for d in doms]
        alpha = np.array([q["alpha"] for q in p])
        K = w * np.array([q["A"] * (q["B"] * step ** -q["beta"] + q["C"]) for q in p])
        r, lam = kkt_bimix(alpha, K, lo, hi)
    elif method == "slsqp":
        r = _slsqp(f, lo, hi)
    else:
        raise OptimizeError(f"unknown method {method!r}; choose from: auto, kkt, slsqp")
    losses = _losses(fit, r, step)
    for d, x, a, b, where in zip(doms, r, lo, hi, _at_bound(r, lo, hi)):
        if where:
            end = (a, b)[where == "upper"]
            origin = ("the fitted support" if within_support and d in support
                      and np.isclose(end, support[d][where == "upper"], rtol=0, atol=1e-15)
                      else "its bound")
            notes.append((f"{d}: r = {float(x):.6g} is at the {where} end of {origin} ({float(end):.6g})",
                          AtBoundWarning))
        if d in support and not (support[d][0] - 1e-12 <= x <= support[d][1] + 1e-12):
            notes.append((f"{d}: r = {float(x):.6g} is outside the shares the law was fitted on "
                          f"[{support[d][0]:.6g}, {support[d][1]:.6g}]: the law is extrapolated there",
                          OutsideSupportWarning))
    for text, category in notes:
        warnings.warn(text, category, stacklevel=2)
    return MixtureOptimum(domains=doms, r=r, step=float(step), objective=float(w @ losses),
                          losses=losses, weights=w, lower=lo, upper=hi, method=method, lam=lam,
                          warnings=[text for text, _ in notes], support=support,
                          within_support=within_support)


def _slsqp(f, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # a strictly positive floor: the r^-α forms are infinite at 0
    lo_eff = np.maximum(lo, _SHARE_FLOOR)
    span = hi - lo_eff
    x0 = lo_eff + (1.0 - lo_eff.sum()) * span / span.sum() if span.sum() > 0 else lo_eff
    scale = 1.0 / max(abs(f(x0)[0]), 1e-300)  # SLSQP's tolerances are absolute: make f ~ 1

    def scaled(r):
        v, g = f(r)
        return v * scale, g * scale

    sol = None
    for attempt in range(3):
        sol = minimize(scaled, x0, jac=True, method="SLSQP", bounds=list(zip(lo_eff, hi)),
                       constraints=[{"type": "eq", "fun": lambda r: r.sum() - 1.0,
                                     "jac": lambda r: np.ones_like(r)}],
                       options={"ftol": 1e-16, "maxiter": 2000})
        if sol.success or sol.status == 8:  # 8: positive directional derivative at the optimum
            break
        # a failed line search leaves a feasible, improved point: restart from it, renormalised
        x0 = np.clip(sol.x, lo_eff, hi)
        x0 = x0 / x0.sum() if np.all(np.isfinite(x0)) and x0.sum() > 0 else x0
    else:
        raise OptimizeError(f"SLSQP did not converge: {sol.message}")
    return np.clip(sol.x, lo_eff, hi)


def grid_search(fit: LawFit, step: float, resolution: int = 200, weights=None) -> MixtureOptimum:
    """Brute force over the simplex grid {k/resolution}, shares > 0 (three or fewer domains, for
    checking the optimiser). Unbounded."""
    m = len(fit.domains)
    if m > 3:
        raise OptimizeError(f"grid search is for checks with <= 3 domains, the fit has {m}")
    w = _vector(weights, fit.domains, 1.0, "weights")
    f = _objective(fit, step, w)
    n = resolution
    if m == 1:
        pts = np.ones((1, 1))
    elif m == 2:
        i = np.arange(1, n)
        pts = np.column_stack([i, n - i]) / n
    else:
        i, j = np.meshgrid(np.arange(1, n), np.arange(1, n), indexing="ij")
        keep = (i + j) < n
        pts = np.column_stack([i[keep], j[keep], n - i[keep] - j[keep]]) / n
    vals = f.values(pts)
    best = pts[int(np.argmin(vals))]
    losses = _losses(fit, best, step)
    return MixtureOptimum(domains=fit.domains, r=best, step=float(step), objective=float(vals.min()),
                          losses=losses, weights=w, lower=np.zeros(m), upper=np.ones(m), method="grid")


def near_optimal_region(fit: LawFit, opt: MixtureOptimum, delta: float = 0.01, n_samples: int = 20_000,
                        seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mixtures whose weighted-mean predicted loss is within ``delta`` nats of the optimum's.

    Sampled, not exact: half the samples are uniform on the simplex, half from Dirichlet
    distributions centred on the optimum (concentrations 10² to 10⁴, to resolve a narrow region);
    samples outside the bounds are dropped. Returns (per-domain summary: optimum, min, max share
    among the optimum and the near-optimal samples; the near-optimal samples themselves)."""
    rng = np.random.default_rng(seed)
    m = len(opt.domains)
    f = _objective(fit, opt.step, opt.weights)
    n_u = n_samples // 2
    conc = np.array([1e2, 1e3, 1e4])[rng.integers(0, 3, n_samples - n_u)]
    centred = np.array([rng.dirichlet(c * np.maximum(opt.r, 1e-6)) for c in conc])
    pts = np.vstack([rng.dirichlet(np.ones(m), n_u), centred])
    ok = np.all((pts >= opt.lower - 1e-12) & (pts <= opt.upper + 1e-12), axis=1) & np.all(pts > 0, axis=1)
    pts = pts[ok]
    mean_loss = f.values(pts) / opt.weights.sum()
    best = opt.objective / opt.weights.sum()
    near = pts[mean_loss <= best + delta]
    # the optimum belongs to its own region: with a share pinned at a bound, no sample lands on it
    span = np.vstack([near, opt.r[None, :]])
    summary = pd.DataFrame({"domain": opt.domains, "r_opt": opt.r,
                            "r_min": span.min(axis=0), "r_max": span.max(axis=0)})
    samples = pd.DataFrame(near, columns=list(opt.domains))
    samples["mean_loss"] = mean_loss[mean_loss <= best + delta]
    return summary, samples


def sensitivity(fit: LawFit, opt: MixtureOptimum, eps: float = 0.01) -> pd.DataFrame:
    """How the objective reacts to each share at the optimum: the partial derivative ∂/∂r_i (at an
    interior KKT optimum every free domain's equals −λ), and the objective's increase, in nats of
    weighted-mean loss, when ``eps`` of share moves into (``cost_plus``) or out of (``cost_minus``)
    domain i, taken from or given to the other domains in proportion to their shares. Domains
    pinned at the bound that blocks the move do not take part; a move that would push domain i
    itself past a bound is NaN (infeasible)."""
    f = _objective(fit, opt.step, opt.weights)
    base, grad = f(opt.r)
    wsum = opt.weights.sum()
    at = np.array(_at_bound(opt.r, opt.lower, opt.upper))
    plus, minus = [], []
    for i in range(len(opt.r)):
        for sign, out in ((1, plus), (-1, minus)):
            others = np.delete(np.arange(len(opt.r)), i)
            # taking share needs donors above their lower bound; giving needs room below the upper
            others = others[at[others] != ("lower" if sign > 0 else "upper")]
            rest = opt.r[others].sum()
            target = opt.r[i] + sign * eps
            if not opt.lower[i] <= target <= opt.upper[i] or rest <= (eps if sign > 0 else 0):
                out.append(np.nan)
                continue
            r = opt.r.copy()
            r[i] = target
            r[others] *= (rest - sign * eps) / rest
            out.append((f(r)[0] - base) / wsum)
    return pd.DataFrame({"domain": opt.domains, "r": opt.r, "gradient": grad,
                         "cost_plus": plus, "cost_minus": minus})


def optimum_interval(boot, step: float, level: float = 0.95, **kwargs) -> pd.DataFrame:
    """Interval of the optimal shares over bootstrap replicates (:class:`bimix.law.forms.Bootstrap`): each
    replicate's fit is optimised with the same ``kwargs`` (``within_support`` included: a replicate
    keeps the base fit's support); percentile interval per domain. Only the base fit's optimum warns
    (:class:`OptimumWarning`); the replicates' would repeat it a hundred times."""
    rs = []
    for b in range(boot.thetas.shape[0]):
        rep = boot.replicate(b)
        if len(rep.units) < len(boot.base.units):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimumWarning)
            rs.append(optimize_mixture(rep, step, **kwargs).r)
    rs = np.array(rs)
    opt = optimize_mixture(boot.base, step, **kwargs)
    lo, hi = np.quantile(rs, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame({"domain": opt.domains, "r_opt": opt.r, "lo": lo, "hi": hi, "n_replicates": len(rs)})


def predicted_curves(fit: LawFit, r, steps) -> pd.DataFrame:
    """The law's loss of every domain at every step of ``steps`` for the mixture ``r`` (shares in
    ``fit.domains`` order): rows (step, domain, pred), nats. Computed before a run of ``r`` exists, it is
    a prediction that run can test."""
    return pd.DataFrame([{"step": s, "domain": d, "pred": v} for s in steps
                         for d, v in zip(fit.domains, fit.domain_losses(r, s))])


def outside_interval(interval: pd.DataFrame | None, shares: Mapping[str, float]) -> list[str]:
    """The domains whose share in ``shares`` (e.g. the natural mixture) lies outside the optimum's
    interval (:func:`optimum_interval`); empty without an interval. Any such domain makes the optimum
    distinguishable from that mixture."""
    if interval is None:
        return []
    return [d for d, lo, hi in zip(interval["domain"], interval["lo"], interval["hi"]) if not lo <= shares[d] <= hi]


def epoch_upper_bounds(train_tokens: Mapping[str, float], budget_tokens: float,
                       epochs_max: float) -> dict[str, float]:
    """Upper bounds hi_i = min(1, epochs_max × tokens_i / budget) that keep every domain within
    ``epochs_max`` passes over its training tokens in a run of ``budget_tokens`` tokens (docs/paper.md#optimum:
    a cap from how many epochs of a small domain the budget allows). Raises OptimizeError when the
    caps sum to less than 1: no mixture can then respect them, and either the budget must shrink or
    ``epochs_max`` grow."""
    if not np.isfinite(budget_tokens) or budget_tokens <= 0:
        raise OptimizeError(f"token budget must be a positive number, got {budget_tokens!r}")
    if not np.isfinite(epochs_max) or epochs_max <= 0:
        raise OptimizeError(f"epochs_max must be a positive number, got {epochs_max!r}")
    bad = {d: t for d, t in train_tokens.items() if not np.isfinite(t) or t < 0}
    if bad:
        raise OptimizeError(f"training tokens must be finite and >= 0; got {bad}")
    hi = {d: min(1.0, epochs_max * float(t) / budget_tokens) for d, t in train_tokens.items()}
    if sum(hi.values()) < 1 - 1e-12:
        raise OptimizeError(
            f"at {epochs_max:g} epochs the domains hold only {sum(hi.values()):.3f} of a {budget_tokens:,.0f}-token "
            f"run (caps {', '.join(f'{d}={v:.3f}' for d, v in hi.items())}); raise epochs_max or shorten the run")
    return hi
