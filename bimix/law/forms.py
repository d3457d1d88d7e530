"""The BiMix law and its rivals: forms, fits, predictions, bootstrap uncertainty.

Law forms (docs/paper.md#law), each fitted on log loss, per domain unless stated:

``bimix``        L_i(r_i, s) = A_i / r_i^α_i · (B_i / s^β_i + C_i)                    (Eq. 3)
``steps``        L_i(s) = B_i / s^β_i + C_i, one fit per (domain, mixture)            (Eq. 4)
``share``        L_i(r_i) = A_i / r_i^α_i, one fit per (domain, step)                 (Eq. 8)
``exponential``  L_i(r) = c_i + k_i · exp(Σ_j t_ij r_j), one fit per (domain, step)  (Ye et al. 2024)
``additive``     L_i(r_i, s) = E_i + A_i / r_i^a_i + B_i / s^b_i                     (Chinchilla-like rival)

Scale convention (``SCALE_CONVENTION``): in the ``bimix`` form A, B and C share one scale
(A·k, B/k, C/k is the same law), so a fit fixes **A = 1** and reports B and C, which are then the
identified products A·B and A·C. Four numbers per domain are identified: α, β, A·B, A·C.

Identifiability: a ``bimix`` or ``additive`` fit needs at least two distinct shares r_i per domain.
With one share only the step part is identified; the fit says so (``identified == "steps"``), stores
the step-law coefficients with r^-α folded in, and refuses to predict at any other share.

Points with r_i = 0 cannot be used by forms with r^-α (``bimix``, ``share``, ``additive``): they are
excluded and counted (``n_excluded_zero_share``), never silently.

Two fitting methods, both multi-start, both on log-loss residuals ρ = log L̂ − log L:
``trf``    ``scipy.optimize.least_squares(method="trf")`` with bounds (the paper's optimiser);
``huber``  Huber loss with δ = 1e-3 on ρ, L-BFGS-B, best of the starting points (Hoffmann et al.).

This module imports only numpy, scipy and pandas.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize

SCALE_CONVENTION = ("bimix form: A is fixed to 1, so the reported B and C are the identified products "
                    "A*B and A*C (A, B, C share one scale: A*k, B/k, C/k give the same law)")
FORMS = ("bimix", "steps", "share", "exponential", "additive")
METHODS = ("trf", "huber")
HUBER_DELTA = 1e-3  # on log loss, as Hoffmann et al.

_LOG_BOUND = 50.0  # bound on log-coefficients: exp(±50) is far outside any loss in nats
_EXP_BOUND = 10.0  # bound on exponents α, β, a, b
_EXP_FLOOR = 1e-9  # exponents are > 0 (docs/paper.md#law); the floor keeps them strictly positive
# the loss floors of the rival laws (E of ``additive``, c of ``exponential``) are fitted as themselves,
# in [0, _FLOOR_BOUND] nats, not through their logarithm: a floor the data do not want reaches 0 in a
# few solver steps, where log E had to creep to −50 through a flat valley and ran out of iterations.
# 1000 nats is far above any per-token loss (ln of a million-token vocabulary is 14).
_FLOOR_BOUND = 1e3
# rms log-loss residual below which a fit that hit the iteration limit counts as converged: it is
# polishing a fit already exact to 0.01 %, far below any measurement noise
_EXACT_FIT = 1e-4


class LawError(Exception):
    """Base class of this module's errors."""


class LawInputError(LawError, ValueError):
    """The run table cannot be fitted as given (non-finite loss, s <= 0, r outside [0, 1] ...)."""


class TooFewPointsError(LawInputError):
    """Fewer usable points (or distinct steps/shares) than the form has coefficients."""


class NotPredictableError(LawError):
    """The fit cannot predict these rows (unidentified share part, unseen step or mixture, r = 0)."""


# --------------------------------------------------------------------------------------------------
# Closed-form predictions, vectorised by numpy broadcasting over r and s.

def bimix_loss(r, s, A, alpha, B, beta, C):
    """Eq. 3: L(r, s) = A / r^α · (B / s^β + C). Broadcasts over every argument."""
    r, s = np.asarray(r, float), np.asarray(s, float)
    return A * r ** (-alpha) * (B * s ** (-beta) + C)


def steps_loss(s, B, beta, C):
    """Eq. 4: L(s) = B / s^β + C at a fixed mixture."""
    return B * np.asarray(s, float) ** (-beta) + C


def share_loss(r, A, alpha):
    """Eq. 8: L(r) = A / r^α at a fixed step."""
    return A * np.asarray(r, float) ** (-alpha)


def exponential_loss(R, c, k, t):
    """Ye et al.: L(r) = c + k · exp(Σ_j t_j r_j). ``R``: (..., m) mixture vectors; ``t``: (m,)."""
    return c + k * np.exp(np.asarray(R, float) @ np.asarray(t, float))


def additive_loss(r, s, E, A, a, B, b):
    """Additive rival: L(r, s) = E + A / r^a + B / s^b."""
    r, s = np.asarray(r, float), np.asarray(s, float)
    return E + A * r ** (-a) + B * s ** (-b)


def n_params(form: str, m: int, n_steps: int = 1, n_mixtures: int = 1) -> int:
    """Coefficient count of a form over m domains (docs/paper.md#table-3 for ``bimix``/``exponential``):
    bimix 5m over all steps; share 2m per step; exponential (m² + 2m) per step; steps 3m per
    mixture; additive 5m."""
    counts = {"bimix": 5 * m, "steps": 3 * m * n_mixtures, "share": 2 * m * n_steps,
              "exponential": (m * m + 2 * m) * n_steps, "additive": 5 * m}
    if form not in counts:
        raise LawError(f"unknown form {form!r}; choose from: {', '.join(FORMS)}")
    return counts[form]


def n_params_identified(form: str, m: int, n_steps: int = 1, n_mixtures: int = 1) -> int:
    """Identified coefficients: bimix loses one per domain to the A/B/C scale; exponential loses one
    per (domain, step) because Σ_j r_j = 1 makes a constant shift of t the same as rescaling k."""
    if form == "bimix":
        return 4 * m
    if form == "exponential":
        return (m * m + m) * n_steps
    return n_params(form, m, n_steps, n_mixtures)


# --------------------------------------------------------------------------------------------------
# Fitting units: the points one independent fit sees.

@dataclass
class _Unit:
    """Points of one independent fit: a domain, or a (domain, mixture) / (domain, step) group."""

    domain: str
    group: Any  # None | mixture name | step
    r: np.ndarray  # (n,), the domain's share
    s: np.ndarray  # (n,), steps
    y: np.ndarray  # (n,), loss in nats
    R: np.ndarray | None  # (n, m) full mixture vectors, exponential form only
    point: np.ndarray  # (n,) ids of (run, step) points, shared across domains, for the bootstrap
    rows: np.ndarray  # (n,) row labels in the caller's table, for messages
    n_excluded_zero_share: int = 0

    def __post_init__(self):
        self.log_s = np.log(self.s)
        self.log_y = np.log(self.y)
        with np.errstate(divide="ignore"):
            self.log_r = np.log(self.r)


class _Form:
    """A law form in its fitting parametrisation θ (logs of positive coefficients, the rival laws'
    loss floors as themselves, raw exponents)."""

    name = ""
    names: tuple[str, ...] = ()
    group: str | None = None  # None | "mixture" | "step"
    zero_share_excluded = False
    needs_distinct_r = 1
    needs_distinct_s = 1

    def n_theta(self, m: int) -> int:
        return len(self.names)

    def bounds(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def log_pred(self, th: np.ndarray, u: _Unit) -> np.ndarray:
        raise NotImplementedError

    def jac(self, th: np.ndarray, u: _Unit) -> np.ndarray:
        raise NotImplementedError

    def starts(self, u: _Unit, n: int) -> list[np.ndarray]:
        raise NotImplementedError

    def params(self, th: np.ndarray, domains: Sequence[str]) -> dict[str, float]:
        raise NotImplementedError

    def theta(self, p: dict, domains: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


def _lse2(u, v):
    """log(e^u + e^v) and the two softmax weights, stable."""
    hi = np.maximum(u, v)
    eu, ev = np.exp(u - hi), np.exp(v - hi)
    tot = eu + ev
    return hi + np.log(tot), eu / tot, ev / tot


def _floor_lse(E: float, t: np.ndarray):
    """log(E + Σ_k exp(t_k)) over the rows of ``t`` (k, n), E >= 0, stable; with the derivative in E
    (1 / L) and the weights exp(t_k) / L of the terms."""
    hi = t.max(axis=0)
    if E > 0:
        hi = np.maximum(hi, math.log(E))
    e = np.exp(t - hi)
    tot = E * np.exp(-hi) + e.sum(axis=0)
    return hi + np.log(tot), np.exp(-hi) / tot, e / tot


# fractions of the smallest (share-adjusted) loss tried as the floor C; ordered so the first starts
# are the likeliest, because a caller asking for n starts gets the first n
_FLOOR_FRACTIONS = (0.9, 0.5, 0.97, 0.2, 0.75, 0.99, 0.35, 0.6, 0.05, 0.85, 0.995, 0.1)


def _step_starts(s: np.ndarray, z: np.ndarray, n: int) -> list[tuple[float, float, float]]:
    """Starting (log B, β, log C) for L = B s^-β + C from log losses z: C a fraction of min L,
    then β and log B from a straight line of log(L − C) on log s."""
    y, log_s = np.exp(z), np.log(s)
    out = []
    for f in _FLOOR_FRACTIONS[:max(n, 1)]:
        C = f * y.min()
        gap = np.log(np.maximum(y - C, 1e-12 * y.min()))
        if np.ptp(log_s) > 0:
            slope, icpt = np.polyfit(log_s, gap, 1)
        else:
            slope, icpt = 0.0, gap.mean()
        beta = float(np.clip(-slope, 0.05, 3.0))
        logB = float(np.clip(np.mean(gap + beta * log_s), -_LOG_BOUND + 1, _LOG_BOUND - 1))
        out.append((logB, beta, float(np.log(C))))
    return out


def _share_slope(u: _Unit) -> float:
    """α from log L = −α log r + (one intercept per step): least squares with step fixed effects."""
    steps, inv = np.unique(u.s, return_inverse=True)
    lr, ly = u.log_r.copy(), u.log_y.copy()
    for k in range(len(steps)):
        sel = inv == k
        lr[sel] -= lr[sel].mean()
        ly[sel] -= ly[sel].mean()
    den = float(lr @ lr)
    return float(np.clip(-(lr @ ly) / den, 0.01, 3.0)) if den > 0 else 0.1


class _Bimix(_Form):
    name, names = "bimix", ("alpha", "beta", "log_B", "log_C")  # A = 1 (SCALE_CONVENTION)
    zero_share_excluded, needs_distinct_r, needs_distinct_s = True, 2, 3

    def bounds(self, m):
        return (np.array([_EXP_FLOOR, _EXP_FLOOR, -_LOG_BOUND, -_LOG_BOUND]),
                np.array([_EXP_BOUND, _EXP_BOUND, _LOG_BOUND, _LOG_BOUND]))

    def log_pred(self, th, u):
        return -th[0] * u.log_r + _lse2(th[2] - th[1] * u.log_s, th[3])[0]

    def jac(self, th, u):
        _, p, q = _lse2(th[2] - th[1] * u.log_s, th[3])
        return np.column_stack([-u.log_r, -p * u.log_s, p, q])

    def starts(self, u, n):
        alpha = _share_slope(u)
        z = u.log_y + alpha * u.log_r
        return [np.array([alpha, beta, lb, lc]) for lb, beta, lc in _step_starts(u.s, z, n)]

    def params(self, th, domains):
        return {"A": 1.0, "alpha": float(th[0]), "B": float(np.exp(th[2])), "beta": float(th[1]),
                "C": float(np.exp(th[3]))}

    def theta(self, p, domains):
        # any A is folded into B and C, so a law written with another scale is accepted unchanged
        A = p.get("A", 1.0)
        return np.array([p["alpha"], p["beta"], math.log(A * p["B"]), math.log(A * p["C"])])


class _Steps(_Form):
    name, names, group = "steps", ("beta", "log_B", "log_C"), "mixture"
    needs_distinct_s = 3

    def bounds(self, m):
        return (np.array([_EXP_FLOOR, -_LOG_BOUND, -_LOG_BOUND]),
                np.array([_EXP_BOUND, _LOG_BOUND, _LOG_BOUND]))

    def log_pred(self, th, u):
        return _lse2(th[1] - th[0] * u.log_s, th[2])[0]

    def jac(self, th, u):
        _, p, q = _lse2(th[1] - th[0] * u.log_s, th[2])
        return np.column_stack([-p * u.log_s, p, q])

    def starts(self, u, n):
        return [np.array([beta, lb, lc]) for lb, beta, lc in _step_starts(u.s, u.log_y, n)]

    def params(self, th, domains):
        return {"B": float(np.exp(th[1])), "beta": float(th[0]), "C": float(np.exp(th[2]))}

    def theta(self, p, domains):
        return np.array([p["beta"], math.log(p["B"]), math.log(p["C"])])


class _Share(_Form):
    name, names, group = "share", ("alpha", "log_A"), "step"
    zero_share_excluded, needs_distinct_r = True, 2

    def bounds(self, m):
        return np.array([_EXP_FLOOR, -_LOG_BOUND]), np.array([_EXP_BOUND, _LOG_BOUND])

    def log_pred(self, th, u):
        return th[1] - th[0] * u.log_r

    def jac(self, th, u):
        return np.column_stack([-u.log_r, np.ones_like(u.log_r)])

    def starts(self, u, n):
        slope, icpt = np.polyfit(u.log_r, u.log_y, 1)
        alpha = float(np.clip(-slope, 0.01, 3.0))
        return [np.array([alpha * f, float(np.mean(u.log_y + alpha * f * u.log_r))])
                for f in (1.0, 0.5, 2.0, 0.25, 1.5, 0.75, 3.0, 0.1)[:max(n, 1)]]

    def params(self, th, domains):
        return {"A": float(np.exp(th[1])), "alpha": float(th[0])}

    def theta(self, p, domains):
        return np.array([p["alpha"], math.log(p["A"])])


class _Exponential(_Form):
    """θ = (c, log k, t_1..t_m); t is indexed by the fit's domains (the training domains). The floor
    c is fitted as itself in [0, _FLOOR_BOUND] (see there), k through its log."""

    name, group = "exponential", "step"

    def n_theta(self, m):
        return m + 2

    def bounds(self, m):
        return (np.r_[0.0, -_LOG_BOUND, np.full(m, -_LOG_BOUND)],
                np.r_[_FLOOR_BOUND, _LOG_BOUND, np.full(m, _LOG_BOUND)])

    def log_pred(self, th, u):
        return _floor_lse(th[0], (th[1] + u.R @ th[2:])[None, :])[0]

    def jac(self, th, u):
        _, d_c, w = _floor_lse(th[0], (th[1] + u.R @ th[2:])[None, :])
        return np.column_stack([d_c, w[0], w[0][:, None] * u.R])

    def starts(self, u, n):
        m, y = u.R.shape[1], u.y
        out = []
        for f in _FLOOR_FRACTIONS[:max(n, 1)]:
            c = f * y.min()
            # log(y - c) = log k + R t: least squares, minimum-norm because Σ_j r_j = 1
            A = np.column_stack([np.ones(len(y)), u.R])
            coef, *_ = np.linalg.lstsq(A, np.log(y - c), rcond=None)
            t = np.clip(coef[1:], -_LOG_BOUND + 1, _LOG_BOUND - 1)
            out.append(np.r_[c, np.clip(coef[0], -_LOG_BOUND + 1, _LOG_BOUND - 1), t])
        return out

    def params(self, th, domains):
        out = {"c": float(th[0]), "k": float(np.exp(th[1]))}
        out.update({f"t[{d}]": float(v) for d, v in zip(domains, th[2:])})
        return out

    def theta(self, p, domains):
        return np.r_[p["c"], math.log(p["k"]), [p[f"t[{d}]"] for d in domains]]


# part of the (share-adjusted) floor given to E in the additive law's starts; the rest is the share
# term A r^-a at the domain's typical share. Cycled with _FLOOR_FRACTIONS, first the likeliest.
_FLOOR_SPLITS = (0.5, 0.0, 0.9, 0.25, 0.0, 0.75)


class _Additive(_Form):
    """θ = (E, log A, a, log B, b). The floor E is fitted as itself in [0, _FLOOR_BOUND] (a vanishing
    floor is common: then the share and step terms carry the whole loss), A and B through their logs."""

    name, names = "additive", ("E", "log_A", "a", "log_B", "b")
    zero_share_excluded, needs_distinct_r, needs_distinct_s = True, 2, 3

    def bounds(self, m):
        lo = np.array([0.0, -_LOG_BOUND, _EXP_FLOOR, -_LOG_BOUND, _EXP_FLOOR])
        hi = np.array([_FLOOR_BOUND, _LOG_BOUND, _EXP_BOUND, _LOG_BOUND, _EXP_BOUND])
        return lo, hi

    def _terms(self, th, u):
        return _floor_lse(th[0], np.stack([th[1] - th[2] * u.log_r, th[3] - th[4] * u.log_s]))

    def log_pred(self, th, u):
        return self._terms(th, u)[0]

    def jac(self, th, u):
        _, d_e, w = self._terms(th, u)
        return np.column_stack([d_e, w[0], -w[0] * u.log_r, w[1], -w[1] * u.log_s])

    def starts(self, u, n):
        """From the data: the step law B s^-b + C through the losses gives b, B and the floor C at
        the domain's typical share; C is split between E and the share term D = A r^-a there, and
        a follows from the slope of log loss on log share at fixed steps (−a D / L)."""
        alpha = _share_slope(u)
        log_r_mid = float(np.mean(u.log_r))
        y_mid = float(np.exp(np.mean(u.log_y)))
        out = []
        for i, (lb, beta, lc) in enumerate(_step_starts(u.s, u.log_y, n)):
            C = math.exp(lc)
            q = _FLOOR_SPLITS[i % len(_FLOOR_SPLITS)]
            D = (1.0 - q) * C
            a = float(np.clip(alpha * y_mid / D, 0.01, _EXP_BOUND - 1))
            lA = float(np.clip(math.log(D) + a * log_r_mid, -_LOG_BOUND + 1, _LOG_BOUND - 1))
            out.append(np.array([q * C, lA, a, lb, beta]))
        return out

    def params(self, th, domains):
        return {"E": float(th[0]), "A": float(np.exp(th[1])), "a": float(th[2]),
                "B": float(np.exp(th[3])), "b": float(th[4])}

    def theta(self, p, domains):
        return np.array([p["E"], math.log(p["A"]), p["a"], math.log(p["B"]), p["b"]])


_FORMS: dict[str, _Form] = {f.name: f for f in (_Bimix(), _Steps(), _Share(), _Exponential(), _Additive())}


_THREADPOOLS: dict[int, Any] = {}  # process id -> threadpoolctl controller


def _blas_single_thread():
    """Limit BLAS to one thread for the duration of a fit (restored afterwards). The fits do
    linear algebra on tiny arrays (≤ a few hundred × 5), which threads cannot speed up; on a busy
    machine idle BLAS threads spin, and L-BFGS-B was measured 20× slower with them. The loaded BLAS
    libraries are looked up once per process (about 3 ms a time, which per-step fits of a public
    table would repeat thousands of times). A no-op when threadpoolctl is not installed."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    controller = _THREADPOOLS.get(os.getpid())
    if controller is None:
        controller = _THREADPOOLS[os.getpid()] = ThreadpoolController()
    return controller.limit(limits=1, user_api="blas")


_FIT_POOL: list = []  # [executor, workers] while use_fit_workers(n > 1) is in force


def use_fit_workers(n: int) -> int:
    """Solve the units (domains, groups) of every later :func:`fit_law` call on ``n`` processes;
    ``n <= 1`` goes back to this process. Returns the number in force.

    Each unit is solved exactly as in one process (same starts, BLAS on one thread), so the fits are
    identical whatever ``n``: it changes time only. The processes are spawned once and reused (a
    notebook's many small fits would otherwise pay ~2 s of start-up each), and shut down at exit.
    Worth it where one call has several units that take tens of milliseconds each (notebook 05's
    per-run and leave-one-mixture-out fits); a pool's own processes never start another."""
    import atexit
    import multiprocessing as mp

    n = int(n)
    if _FIT_POOL and _FIT_POOL[1] == n:
        return n
    if _FIT_POOL:
        executor = _FIT_POOL[0]
        _FIT_POOL.clear()
        executor.shutdown()
    if n > 1 and mp.parent_process() is None:
        _FIT_POOL.extend([ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                              initializer=_ignore_interrupts), n])
        atexit.unregister(use_fit_workers)  # one shutdown at exit, however often the count changes
        atexit.register(use_fit_workers, 1)
    return _FIT_POOL[1] if _FIT_POOL else 1


def _ignore_interrupts() -> None:
    """A fit worker leaves Ctrl-C to its parent (a notebook kernel's interrupt reaches the whole
    process group; the parent stops the pool), instead of printing a traceback of its own."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _solve_job(job) -> "_Solved":
    with _blas_single_thread():
        return _solve_unit(*job)


def _form(name: str) -> _Form:
    if name not in _FORMS:
        raise LawError(f"unknown form {name!r}; choose from: {', '.join(FORMS)}")
    return _FORMS[name]


# --------------------------------------------------------------------------------------------------
# One unit, several starts.

@dataclass
class _Solved:
    theta: np.ndarray
    cost: float
    success: bool
    n_converged: int
    residuals: np.ndarray  # log L̂ − log L at the unit's points


def _max_nfev(p: int) -> int:
    """Function evaluations allowed per start: 500 for the 2–5 coefficients of the per-domain laws,
    more for the exponential law's m + 2 (its t's are strongly correlated through Σ_j r_j = 1)."""
    return 500 * max(1, p // 4)


def _solve_unit(form: _Form, u: _Unit, method: str, starts: Iterable[np.ndarray], m: int,
                weights: np.ndarray | None = None) -> _Solved:
    """Best of several local fits from ``starts``; ``weights`` (point multiplicities) let the
    bootstrap reweight points instead of copying rows."""
    lo, hi = form.bounds(m)
    sw = None if weights is None else np.sqrt(weights)
    results = []
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, float), lo + 1e-12, hi - 1e-12)
        if method == "trf":
            if sw is None:
                fun = lambda th: form.log_pred(th, u) - u.log_y  # noqa: E731
                jac = lambda th: form.jac(th, u)  # noqa: E731
            else:
                fun = lambda th: sw * (form.log_pred(th, u) - u.log_y)  # noqa: E731
                jac = lambda th: sw[:, None] * form.jac(th, u)  # noqa: E731
            sol = least_squares(fun, x0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac",
                                ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=_max_nfev(len(x0)))
            results.append((float(sol.cost), sol.x, bool(sol.status > 0)))
        elif method == "huber":
            w = np.ones(len(u.y)) if weights is None else weights

            def obj(th):
                res = form.log_pred(th, u) - u.log_y
                a = np.abs(res)
                quad = a <= HUBER_DELTA
                # divided by δ so the objective is O(n) and L-BFGS-B's relative tolerances bite
                val = np.where(quad, 0.5 * res**2, HUBER_DELTA * (a - 0.5 * HUBER_DELTA)) / HUBER_DELTA
                grad = form.jac(th, u).T @ (w * np.clip(res, -HUBER_DELTA, HUBER_DELTA)) / HUBER_DELTA
                return float(w @ val), grad

            sol = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                           options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000, "maxcor": 20})
            results.append((float(sol.fun), sol.x, bool(sol.success)))
        else:
            raise LawError(f"unknown method {method!r}; choose from: {', '.join(METHODS)}")
    costs = np.array([c for c, _, _ in results])
    best = int(np.argmin(costs))
    cost, theta, success = results[best]
    # starts that reached the best value: the same minimum, up to the solvers' relative tolerance
    n_conv = int(np.sum(costs <= cost + 1e-6 * abs(cost) + 1e-12))
    return _Solved(theta=theta, cost=cost, success=success, n_converged=n_conv,
                   residuals=form.log_pred(theta, u) - u.log_y)


# --------------------------------------------------------------------------------------------------
# Results.

@dataclass
class UnitFit:
    """The fit of one domain (or one (domain, group) for grouped forms).

    ``identified`` is ``"full"``, or ``"steps"`` when the domain had a single share: then ``params``
    are the step law's B, β, C with the share factor folded in, ``A`` and ``alpha`` are None, and
    ``r_fixed`` is the only share at which the fit can predict.
    """

    domain: str
    group: Any
    form: str  # the form actually fitted ("steps" for a step-only bimix/additive fit)
    identified: str
    params: dict[str, float | None]
    theta: np.ndarray
    success: bool
    n_starts: int
    n_converged_to_best: int
    cost: float
    residuals: np.ndarray  # log L̂ − log L, nats of log loss
    n_points: int
    n_excluded_zero_share: int
    r_fixed: float | None = None
    at_bound: tuple[str, ...] = ()
    failure: str = ""  # why the fit is not to be trusted (solver failed, optimum ran away); "" if fine

    @property
    def rmse_log(self) -> float:
        return float(np.sqrt(np.mean(self.residuals**2))) if len(self.residuals) else float("nan")

    def to_json(self) -> dict:
        return {"params": self.params, "identified": self.identified, "form": self.form,
                "success": self.success, "n_starts": self.n_starts,
                "n_converged_to_best": self.n_converged_to_best, "cost": self.cost,
                "rmse_log": self.rmse_log, "n_points": self.n_points,
                "n_excluded_zero_share": self.n_excluded_zero_share, "r_fixed": self.r_fixed,
                "at_bound": list(self.at_bound), "failure": self.failure}


@dataclass
class LawFit:
    """A fitted law over several domains. ``units`` maps (domain, group) to its fit; the group is
    None for per-domain forms, the mixture for ``steps``, the step for ``share``/``exponential``."""

    form: str
    method: str
    domains: tuple[str, ...]  # fitted domains; for ``exponential`` also the order of t
    units: dict[tuple[str, Any], UnitFit]
    fit_on: tuple[str, ...] = ()  # mixtures the fit saw
    steps: tuple[int, ...] = ()  # steps the fit saw
    n_starts: int = 0
    provenance: dict = field(default_factory=dict)
    # units a grouped form could not fit (e.g. a step present in too few runs): domain, group, reason
    skipped: list[dict] = field(default_factory=list)
    # domain -> (smallest, largest) share among the points fitted: where the law was measured
    support: dict[str, tuple[float, float]] = field(default_factory=dict)
    # exponential form: the domains whose shares enter Σ_j t_j r_j (those some run trains on);
    # empty means ``domains``
    mixture_domains: tuple[str, ...] = ()

    @property
    def t_domains(self) -> tuple[str, ...]:
        return self.mixture_domains or self.domains

    def unit(self, domain: str, group: Any = None) -> UnitFit:
        try:
            return self.units[(domain, group)]
        except KeyError:
            what = f"domain {domain!r}" + ("" if group is None else f", {_form(self.form).group} {group!r}")
            raise NotPredictableError(f"{self.form} fit has no coefficients for {what}") from None

    def params(self, domain: str, group: Any = None) -> dict:
        return self.unit(domain, group).params

    @property
    def n_params(self) -> int:
        f = _form(self.form)
        groups = {g for _, g in self.units}
        if self.form == "exponential":  # c, k and one t per mixture domain, per (domain, step)
            return (len(self.t_domains) + 2) * len(self.units)
        return n_params(self.form, len(self.domains), n_steps=len(groups) if f.group == "step" else 1,
                        n_mixtures=len(groups) if f.group == "mixture" else 1)

    @property
    def n_excluded_zero_share(self) -> int:
        return sum(u.n_excluded_zero_share for u in self.units.values())

    # -- prediction ---------------------------------------------------------------------------------
    def predict_domain(self, domain: str, r, s) -> np.ndarray:
        """Vectorised prediction for a per-domain form (``bimix``/``additive``): broadcasts r and s.
        Raises NotPredictableError at r = 0 and, for a step-only fit, at any share but ``r_fixed``."""
        if _form(self.form).group is not None:
            raise NotPredictableError(f"predict_domain needs a per-domain form, not {self.form!r}; "
                                      "use predict(table)")
        u = self.unit(domain)
        r, s = np.broadcast_arrays(np.asarray(r, float), np.asarray(s, float))
        if np.any(r <= 0):
            raise NotPredictableError(f"domain {domain!r}: the {self.form} law diverges at r = 0")
        if u.identified == "steps":
            if np.any(np.abs(r - u.r_fixed) > 1e-9):
                raise NotPredictableError(
                    f"domain {domain!r} was fitted at a single share r = {u.r_fixed:g}: only its "
                    "step part is identified, so it cannot predict other shares")
            return steps_loss(s, u.params["B"], u.params["beta"], u.params["C"])
        p = u.params
        if self.form == "bimix":
            return bimix_loss(r, s, p["A"], p["alpha"], p["B"], p["beta"], p["C"])
        return additive_loss(r, s, p["E"], p["A"], p["a"], p["B"], p["b"])

    def domain_losses(self, r: np.ndarray, s: float) -> np.ndarray:
        """Predicted loss of every domain (in ``self.domains`` order) for one mixture vector r (m,)
        at step s; the objective of :mod:`bimix.law.optimize`."""
        r = np.asarray(r, float)
        if self.form in ("bimix", "additive"):
            return np.array([float(self.predict_domain(d, r[i], s)) for i, d in enumerate(self.domains)])
        if self.form == "share":
            p = [self.params(d, _as_step(s, self)) for d in self.domains]
            return np.array([share_loss(r[i], q["A"], q["alpha"]) for i, q in enumerate(p)])
        if self.form == "exponential":
            out = []
            rm = pd.Series(r, index=list(self.domains)).reindex(list(self.t_domains)).fillna(0.0).to_numpy()
            for d in self.domains:
                q = self.params(d, _as_step(s, self))
                t = np.array([q[f"t[{e}]"] for e in self.t_domains])
                out.append(float(exponential_loss(rm, q["c"], q["k"], t)))
            return np.array(out)
        raise NotPredictableError("the steps form has no share variable: it cannot score mixtures")

    def unit_failed(self, table: pd.DataFrame) -> np.ndarray:
        """(rows,) True where the row's unit exists but its fit failed (``UnitFit.failure``)."""
        group = _form(self.form).group
        dom = table["domain"].to_numpy()
        key = (np.full(len(table), None, object) if group is None
               else table["mixture"].to_numpy() if group == "mixture" else table["step"].to_numpy())
        bad = {(d, g) for (d, g), u in self.units.items() if u.failure}
        if not bad:
            return np.zeros(len(table), bool)
        cast = (lambda g: int(g)) if group == "step" else (lambda g: g)
        return np.array([(d, None if g is None else cast(g)) in bad for d, g in zip(dom, key)], bool)

    def predict(self, table: pd.DataFrame, on_zero_share: str = "raise",
                on_unfitted: str = "raise") -> np.ndarray:
        """Predicted loss for every row of a run table (columns of :mod:`bimix.data.runs`), in row order.
        ``on_zero_share``: "raise" (default) or "nan" for rows whose share is 0 in an r^-α form.
        ``on_unfitted``: "raise" (default) or "nan" for rows of a step a grouped form did not fit."""
        f = _form(self.form)
        out = np.full(len(table), np.nan)
        r = table["r"].to_numpy(float)
        s = table["step"].to_numpy(float)
        zero = (r <= 0) if (f.zero_share_excluded or self.form in ("bimix", "additive")) else np.zeros(len(r), bool)
        if zero.any() and on_zero_share == "raise":
            rows = _ids(table.index[zero])
            raise NotPredictableError(f"the {self.form} law diverges at r = 0 (rows {rows})")
        domain = table["domain"].to_numpy()
        if f.group is None:
            for d in np.unique(domain):
                sel = (domain == d) & ~zero
                out[sel] = self.predict_domain(d, r[sel], s[sel])
            return out
        if f.group == "mixture":
            mix = table["mixture"].to_numpy()
            for key in sorted(set(zip(domain, mix)), key=str):  # sorted: errors name the same key every run
                sel = (domain == key[0]) & (mix == key[1])
                p = self.params(*key)
                out[sel] = steps_loss(s[sel], p["B"], p["beta"], p["C"])
            return out
        step = table["step"].to_numpy()
        R = mixture_matrix(table, self.t_domains) if self.form == "exponential" else None
        for key in sorted(set(zip(domain, step)), key=str):
            sel = (domain == key[0]) & (step == key[1]) & ~zero
            if not sel.any():
                continue
            if on_unfitted == "nan" and (key[0], int(key[1])) not in self.units:
                continue
            p = self.params(key[0], int(key[1]))
            if self.form == "share":
                out[sel] = share_loss(r[sel], p["A"], p["alpha"])
            else:
                t = np.array([p[f"t[{e}]"] for e in self.t_domains])
                out[sel] = exponential_loss(R[sel], p["c"], p["k"], t)
        return out

    # -- serialisation ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """JSON-ready dict: ``domains.<domain>.params`` holds named coefficients (grouped forms:
        ``params.<group>``), with the scale convention stated at the top."""
        f = _form(self.form)
        doms: dict[str, dict] = {}
        for d in self.domains:
            units = {g: u for (dd, g), u in self.units.items() if dd == d}
            if f.group is None:
                doms[d] = units[None].to_json()
            else:
                groups = {str(g): units[g].to_json() for g in sorted(units, key=_sort_key)}
                doms[d] = {"params": {g: v["params"] for g, v in groups.items()},
                           "success": all(v["success"] for v in groups.values()),
                           "n_points": sum(v["n_points"] for v in groups.values()),
                           "n_excluded_zero_share": sum(v["n_excluded_zero_share"] for v in groups.values()),
                           "groups": groups}
        return {"form": self.form, "method": self.method, "group_by": f.group,
                "scale_convention": SCALE_CONVENTION if self.form == "bimix" else None,
                "n_params": self.n_params,
                "n_params_identified": _n_identified(self),
                "domains": doms, "domain_order": list(self.domains), "fit_on": list(self.fit_on),
                "steps": list(self.steps), "n_starts": self.n_starts,
                "n_excluded_zero_share": self.n_excluded_zero_share, "provenance": self.provenance,
                "skipped": [{**x, "group": None if x["group"] is None else str(x["group"])}
                            for x in self.skipped],
                "failed": [{"domain": u.domain, "group": None if u.group is None else str(u.group),
                            "reason": u.failure} for u in self.units.values() if u.failure],
                "support": {d: list(v) for d, v in self.support.items()},
                "mixture_domains": list(self.t_domains)}

    @classmethod
    def from_json(cls, obj: dict) -> "LawFit":
        """Rebuild a fit (enough to predict and optimise) from :meth:`to_json` output."""
        form = _form(obj["form"])
        domains = tuple(obj["domain_order"])
        units = {}
        for d in domains:
            entry = obj["domains"][d]
            if form.group is None:
                items = [(None, entry)]
            else:
                cast = int if form.group == "step" else str
                items = [(cast(g), v) for g, v in entry["groups"].items()]
            for g, v in items:
                sub = _FORMS[v["form"]]
                p = v["params"]
                th = sub.theta(p, tuple(obj.get("mixture_domains") or domains)
                               if sub.name == "exponential" else domains)
                units[(d, g)] = UnitFit(
                    domain=d, group=g, form=v["form"], identified=v["identified"], params=p, theta=th,
                    success=v["success"], n_starts=v["n_starts"],
                    n_converged_to_best=v["n_converged_to_best"], cost=v["cost"],
                    residuals=np.array([]), n_points=v["n_points"],
                    n_excluded_zero_share=v["n_excluded_zero_share"], r_fixed=v.get("r_fixed"),
                    at_bound=tuple(v.get("at_bound", ())), failure=v.get("failure", ""))
        return cls(form=obj["form"], method=obj["method"], domains=domains, units=units,
                   fit_on=tuple(obj.get("fit_on", ())), steps=tuple(obj.get("steps", ())),
                   n_starts=obj.get("n_starts", 0), provenance=obj.get("provenance", {}),
                   skipped=list(obj.get("skipped", [])),
                   support={d: (float(v[0]), float(v[1])) for d, v in obj.get("support", {}).items()},
                   mixture_domains=tuple(obj.get("mixture_domains") or ()))

    def summary(self) -> pd.DataFrame:
        """One row per unit: coefficients, rmse on log loss, convergence."""
        rows = []
        for (d, g), u in self.units.items():
            row = {"domain": d, "group": g, "identified": u.identified, **u.params,
                   "rmse_log": u.rmse_log, "converged": f"{u.n_converged_to_best}/{u.n_starts}",
                   "success": u.success, "n_points": u.n_points, "excluded_r0": u.n_excluded_zero_share}
            if any(v.failure for v in self.units.values()):
                row["failure"] = u.failure
            rows.append(row)
        df = pd.DataFrame(rows)
        if _form(self.form).group is None:
            df = df.drop(columns="group")
        return df


def _sort_key(g):
    return (0, g, "") if isinstance(g, (int, np.integer)) else (1, 0, str(g))


def _as_step(s, fit: LawFit) -> int:
    st = int(round(float(s)))
    if st not in fit.steps or abs(float(s) - st) > 1e-9:
        raise NotPredictableError(f"the {fit.form} form is fitted per step; step {s} is not one of "
                                  f"the fitted steps {list(fit.steps)}")
    return st


def _n_identified(fit: LawFit) -> int:
    full = {"bimix": 4, "additive": 5, "steps": 3, "share": 2}
    n = 0
    for u in fit.units.values():
        if fit.form == "exponential":
            n += len(fit.t_domains) + 1
        else:
            n += full[fit.form] if u.identified == "full" else 3
    return n


# --------------------------------------------------------------------------------------------------
# From a run table to units.

_REQUIRED = ("run", "mixture", "step", "domain", "r", "loss")


def mixture_matrix(table: pd.DataFrame, domains: Sequence[str]) -> np.ndarray:
    """(rows, m) mixture vector of each row's run over ``domains`` (shares from the table's r column;
    a domain the run does not list has share 0)."""
    shares = (table.drop_duplicates(["run", "domain"]).pivot(index="run", columns="domain", values="r")
              .reindex(columns=list(domains)).fillna(0.0))
    return shares.loc[table["run"].to_numpy()].to_numpy(float)


def _check_rows(table: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise LawInputError(f"run table lacks columns {missing}; expected at least {list(_REQUIRED)}")
    loss = pd.to_numeric(table["loss"], errors="coerce").to_numpy(float)
    step = pd.to_numeric(table["step"], errors="coerce").to_numpy(float)
    r = pd.to_numeric(table["r"], errors="coerce").to_numpy(float)
    domain = table["domain"].to_numpy()
    checks = [
        (~np.isfinite(loss) | (loss <= 0), "non-finite or non-positive loss"),
        (~np.isfinite(step) | (step <= 0), "step s <= 0 or not finite"),
        (~np.isfinite(r) | (r < 0) | (r > 1), "share r outside [0, 1]"),
    ]
    for bad, what in checks:
        if bad.any():
            first = domain[bad][0]
            rows = _ids(table.index[bad & (domain == first)])
            n = int(bad.sum())
            raise LawInputError(f"domain {first!r}: {what} in rows {rows}"
                                + (f" ({n} bad rows in all)" if n > len(rows) else ""))


def _units(table: pd.DataFrame, form: _Form, domains: Sequence[str],
           mixture_domains: Sequence[str] | None = None) -> list[_Unit]:
    _check_rows(table)
    points = pd.MultiIndex.from_frame(table[["run", "step"]])
    point_id = points.factorize()[0]
    R_all = (mixture_matrix(table, mixture_domains or domains) if form.name == "exponential" else None)
    dom = table["domain"].to_numpy()
    grp = (table["mixture"].to_numpy() if form.group == "mixture"
           else table["step"].to_numpy() if form.group == "step" else None)
    r_all = table["r"].to_numpy(float)
    s_all = table["step"].to_numpy(float)
    y_all = table["loss"].to_numpy(float)
    units = []
    for d in domains:
        sel_d = dom == d
        if not sel_d.any():
            raise LawInputError(f"domain {d!r} has no rows in the run table")
        groups = [None] if grp is None else sorted(set(grp[sel_d]), key=_sort_key)
        for g in groups:
            sel = sel_d if g is None else sel_d & (grp == g)
            zero = sel & (r_all == 0)
            n_zero = int(zero.sum()) if form.zero_share_excluded else 0
            if form.zero_share_excluded:
                sel = sel & (r_all > 0)
            g_out = int(g) if form.group == "step" else g
            units.append(_Unit(domain=d, group=g_out, r=r_all[sel], s=s_all[sel], y=y_all[sel],
                               R=None if R_all is None else R_all[sel], point=point_id[sel],
                               rows=table.index.to_numpy()[sel], n_excluded_zero_share=n_zero))
    return units


def _ids(labels, most: int = 10) -> list:
    """Row labels as plain Python values (messages never show numpy reprs)."""
    return [x.item() if isinstance(x, np.generic) else x for x in list(labels)[:most]]


def _where(u: _Unit) -> str:
    return f"domain {u.domain!r}" + ("" if u.group is None else f", group {u.group!r}")


def _effective_form(form: _Form, u: _Unit, m: int) -> _Form:
    """The form a unit can identify: bimix/additive with one distinct share fall back to steps.
    Raises TooFewPointsError when even that is impossible."""
    n, n_r, n_s = len(u.y), len(np.unique(u.r)), len(np.unique(u.s))
    excl = f" ({u.n_excluded_zero_share} points with r = 0 excluded)" if u.n_excluded_zero_share else ""
    eff = form
    if form.name in ("bimix", "additive") and n_r < 2:
        eff = _FORMS["steps"]
    if form.name == "exponential":
        need = m + 2
        if n < need:
            raise TooFewPointsError(
                f"{_where(u)}: the exponential law has {need} coefficients per step but only {n} "
                f"mixtures at this step (rows {_ids(u.rows)})")
        return eff
    p = eff.n_theta(m)
    if n < p:
        raise TooFewPointsError(f"{_where(u)}: {n} usable points for {p} coefficients of the "
                                f"{eff.name} form{excl} (rows {_ids(u.rows)})")
    if n_r < eff.needs_distinct_r:
        raise TooFewPointsError(f"{_where(u)}: the {eff.name} form needs {eff.needs_distinct_r} "
                                f"distinct shares, got {n_r}{excl} (rows {_ids(u.rows)})")
    if n_s < eff.needs_distinct_s:
        raise TooFewPointsError(f"{_where(u)}: the {eff.name} form needs {eff.needs_distinct_s} "
                                f"distinct steps, got {n_s} (rows {_ids(u.rows)})")
    return eff


def _theta_names(eff: _Form, domains) -> tuple[str, ...]:
    return eff.names if eff.name != "exponential" else ("c", "log_k", *[f"t[{d}]" for d in domains])


def _unit_fit(form: _Form, eff: _Form, u: _Unit, sol: _Solved, n_starts: int, domains) -> UnitFit:
    lo, hi = eff.bounds(len(domains))
    span = hi - lo
    names = _theta_names(eff, domains)
    at = tuple(n for n, x, a, b, w in zip(names, sol.theta, lo, hi, span) if min(x - a, b - x) <= 1e-6 * w)
    # the lower bounds of exponents (> 0), of log-coefficients and of the floors E and c (a term
    # that vanishes) are limits the law allows; an upper bound, or either bound of the exponential
    # law's log k, only stops an optimum that ran away (the coefficient would go to infinity). The
    # exponential law's t at its bound (|t| = 50) is its best approximation of a loss that jumps
    # between r = 0 and r > 0: reported in at_bound, still a fit.
    runaway = [n for n, x, b, w in zip(names, sol.theta, hi, span) if b - x <= 1e-6 * w]
    if eff.name == "exponential":
        runaway = [n for n in at if n == "log_k" or (n == "c" and n in runaway)]
    n_ident = (len(domains) + 1 if eff.name == "exponential" and u.R is not None
               and np.allclose(u.R.sum(axis=1), 1, atol=1e-6) else len(sol.theta))
    # what identifies the exponential law is the number of distinct mixtures, not of points: seeds
    # of one mixture repeat its vector, and with no more mixtures than identified coefficients the
    # solver can only pick one of many exact interpolations (checked first: it also explains a
    # solver that wanders along the flat directions without converging)
    n_mix = len(np.unique(np.round(u.R, 12), axis=0)) if eff.name == "exponential" and u.R is not None else 0
    failure = ""
    if eff.name == "exponential" and n_mix <= n_ident:
        seeds = f" ({len(u.y)} points)" if len(u.y) != n_mix else ""
        failure = (f"{n_mix} distinct mixtures{seeds} for {n_ident} identified coefficients: the fit "
                   "interpolates them and says nothing about other mixtures")
    elif not np.all(np.isfinite(sol.residuals)):
        failure = "the fit's predictions are not finite"
    elif not sol.success and np.sqrt(np.mean(sol.residuals**2)) > _EXACT_FIT:
        failure = "the solver did not converge (iteration limit reached)"
    elif runaway:
        failure = (f"degenerate optimum: {', '.join(runaway)} ran to the bound of its range (the "
                   "coefficient would go to infinity; the data do not identify it)")
    if eff is form:
        params, identified, r_fixed = form.params(sol.theta, domains), "full", None
    else:
        sp = eff.params(sol.theta, domains)
        params = ({"A": None, "alpha": None, **sp} if form.name == "bimix"
                  else {"E": None, "A": None, "a": None, **sp})
        identified, r_fixed = "steps", float(u.r[0])
    return UnitFit(domain=u.domain, group=u.group, form=eff.name, identified=identified,
                   params=params, theta=sol.theta, success=sol.success, n_starts=n_starts,
                   n_converged_to_best=sol.n_converged, cost=sol.cost, residuals=sol.residuals,
                   n_points=len(u.y), n_excluded_zero_share=u.n_excluded_zero_share,
                   r_fixed=r_fixed, at_bound=at, failure=failure)


def fit_law(table: pd.DataFrame, form: str = "bimix", method: str = "trf", n_starts: int = 8,
            domains: Sequence[str] | None = None, mixtures: Sequence[str] | None = None,
            skip_unfittable: bool = True) -> LawFit:
    """Fit ``form`` to a long run table (:mod:`bimix.data.runs` columns), each domain (or group) on its own.

    ``mixtures`` restricts the fit to those mixtures' runs; ``domains`` to those domains (default:
    all, in order of first appearance). ``n_starts`` starting points per unit, best kept.
    Grouped forms (``share``/``exponential`` per step, ``steps`` per mixture) leave out a group with
    too few points and list it in ``LawFit.skipped`` (``skip_unfittable=False`` raises instead).
    A unit whose optimum ran off to an artificial bound, or whose solver failed, is kept but marked
    (``UnitFit.failure``); protocols do not score its predictions.
    Raises LawInputError / TooFewPointsError naming the domain and rows for unusable input.
    """
    f = _form(form)
    if method not in METHODS:
        raise LawError(f"unknown method {method!r}; choose from: {', '.join(METHODS)}")
    if n_starts < 1:
        raise LawError(f"n_starts must be >= 1, got {n_starts}")
    if mixtures is not None:
        unknown = sorted(set(mixtures) - set(table["mixture"]))
        if unknown:
            raise LawInputError(f"mixtures {unknown} are not in the run table "
                                f"(it has {sorted(set(table['mixture']))})")
        table = table[table["mixture"].isin(list(mixtures))]
    doms = tuple(dict.fromkeys(table["domain"])) if domains is None else tuple(domains)
    mix = doms
    if f.name == "exponential":
        # Σ_j t_j r_j runs over the domains some run trains on: a domain with r = 0 in every run
        # (validated but never trained on) would add a t the data cannot identify
        trained = table.groupby("domain")["r"].max()
        mix = tuple(d for d in dict.fromkeys(table["domain"]) if trained.get(d, 0) > 0)
        if not mix:
            raise LawInputError("no domain has a share > 0 in any run: the exponential law has no mixture to use")
    units = _units(table, f, doms, mix)
    if not units:
        raise TooFewPointsError(f"the {form} form has nothing to fit: the run table has no rows"
                                + ("" if mixtures is None else f" for mixtures {list(mixtures)}"))
    m = len(mix)
    fitted, skipped, jobs = {}, [], []
    for u in units:
        try:
            eff = _effective_form(f, u, m)
        except TooFewPointsError as exc:
            # a grouped form fits each step (or mixture) on its own: a group present in too few
            # runs is left out and reported, the others still fit. So is a domain no run trains
            # on (r = 0 everywhere: nothing an r^-α law can use)
            never_trained = len(u.y) == 0 and u.n_excluded_zero_share > 0
            if not skip_unfittable or (f.group is None and not never_trained):
                raise
            skipped.append({"domain": u.domain, "group": u.group, "reason": str(exc)})
            continue
        jobs.append((eff, u, method, eff.starts(u, n_starts), m))
    if _FIT_POOL and len(jobs) > 1:  # same solves, in the pool's processes (use_fit_workers)
        solved = list(_FIT_POOL[0].map(_solve_job, jobs))
    else:
        with _blas_single_thread():
            solved = [_solve_unit(*job) for job in jobs]
    for (eff, u, *_), sol in zip(jobs, solved):
        fitted[(u.domain, u.group)] = _unit_fit(f, eff, u, sol, n_starts, mix)
    if not fitted:
        raise TooFewPointsError(f"the {form} form could fit none of its {len(units)} groups; first: "
                                f"{skipped[0]['reason']}")
    kept = {g for _, g in fitted} if f.group == "step" else None
    steps = sorted(int(x) for x in set(table["step"]) if kept is None or int(x) in kept)
    if f.group is None:  # a per-domain form's domains are the ones it fitted
        doms = tuple(d for d in doms if (d, None) in fitted)
    fitted_rows = table[table["r"] > 0] if f.zero_share_excluded else table
    span = fitted_rows.groupby("domain")["r"].agg(["min", "max"])
    support = {d: (float(span.loc[d, "min"]), float(span.loc[d, "max"])) for d in doms if d in span.index}
    return LawFit(form=form, method=method, domains=doms, units=fitted,
                  fit_on=tuple(dict.fromkeys(table["mixture"])), steps=tuple(steps),
                  n_starts=n_starts, skipped=skipped, support=support,
                  mixture_domains=mix if f.name == "exponential" else ())


def fit_exponential_matrix(R: np.ndarray, y: np.ndarray, mixture_domains: Sequence[str],
                           domain: str = "", method: str = "trf", n_starts: int = 8) -> UnitFit:
    """The exponential law (Ye et al.) for one validation domain from full mixture vectors:
    ``R`` (n, m) shares over every training domain (including those with no validation loss, which a
    long run table cannot carry), ``y`` (n,) losses in nats. Same parametrisation, starts, solver and
    failure checks as :func:`fit_law`'s ``exponential`` form; ``UnitFit.params`` holds c, k and
    ``t[<mixture domain>]``. Predict with :func:`exponential_loss`."""
    R, y = np.asarray(R, float), np.asarray(y, float)
    if R.ndim != 2 or R.shape[0] != len(y) or R.shape[1] != len(mixture_domains):
        raise LawInputError(f"R must be (n, {len(mixture_domains)}) with n = len(y) = {len(y)}, "
                            f"got {R.shape}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise LawInputError(f"domain {domain!r}: losses must be finite and > 0")
    f, m = _FORMS["exponential"], len(mixture_domains)
    ones = np.ones(len(y))
    u = _Unit(domain=domain, group=None, r=ones, s=ones, y=y, R=R, point=np.arange(len(y)),
              rows=np.arange(len(y)))
    eff = _effective_form(f, u, m)
    with _blas_single_thread():
        sol = _solve_unit(eff, u, method, eff.starts(u, n_starts), m)
    return _unit_fit(f, eff, u, sol, n_starts, tuple(mixture_domains))


# --------------------------------------------------------------------------------------------------
# Bootstrap.

BOOTSTRAP_SCHEMES = ("runs", "points", "runs+points")


@dataclass
class Bootstrap:
    """Bootstrap replicates of a fit. ``thetas[b, j]`` is unit j's θ in replicate b (NaN where the
    replicate could not identify that unit, counted in ``n_failed``)."""

    base: LawFit
    keys: tuple[tuple[str, Any], ...]
    thetas: np.ndarray  # (n_boot, n_units, p)
    scheme: str
    seed: int
    n_failed: dict[tuple[str, Any], int]

    def replicate(self, b: int) -> LawFit:
        """Replicate b as a LawFit (same units, its coefficients)."""
        units = {}
        for j, key in enumerate(self.keys):
            u0 = self.base.units[key]
            th = self.thetas[b, j]
            if np.isnan(th).any():
                continue
            eff = _FORMS[u0.form]
            f = _form(self.base.form)
            if eff is f:
                params = f.params(th, self.base.t_domains)
            else:
                sp = eff.params(th, self.base.t_domains)
                params = ({"A": None, "alpha": None, **sp} if f.name == "bimix"
                          else {"E": None, "A": None, "a": None, **sp})
            units[key] = UnitFit(**{**u0.__dict__, "params": params, "theta": th})
        return LawFit(form=self.base.form, method=self.base.method, domains=self.base.domains,
                      units=units, fit_on=self.base.fit_on, steps=self.base.steps, n_starts=1,
                      support=self.base.support, mixture_domains=self.base.mixture_domains)

    def param_samples(self, domain: str, group: Any = None) -> pd.DataFrame:
        """(n_boot, coefficients) named samples for one unit."""
        j = self.keys.index((domain, group))
        u0 = self.base.units[(domain, group)]
        rows = []
        for b in range(self.thetas.shape[0]):
            th = self.thetas[b, j]
            if np.isnan(th).any():
                continue
            rows.append(_FORMS[u0.form].params(th, self.base.t_domains))
        return pd.DataFrame(rows)

    def ci(self, level: float = 0.95) -> dict[str, dict[str, dict[str, list[float]]]]:
        """Percentile intervals: ``{domain: {group or "": {coefficient: [lo, hi]}}}``; the bimix
        scale convention applies (A = 1 has no interval)."""
        q = [(1 - level) / 2, (1 + level) / 2]
        out: dict = {}
        for key in self.keys:
            smp = self.param_samples(*key)
            g = "" if key[1] is None else str(key[1])
            out.setdefault(key[0], {})[g] = {
                c: [float(v) for v in smp[c].quantile(q)] for c in smp.columns
                if c != "A" or self.base.form != "bimix"}
        return out

    def predict_interval(self, table: pd.DataFrame, level: float = 0.95, noise: bool = True,
                         seed: int = 0) -> pd.DataFrame:
        """Per-row point prediction and interval. The interval combines coefficient uncertainty
        (replicates) with, when ``noise``, observation noise: each replicate's prediction is
        multiplied by exp(ρ) with ρ drawn from the base fit's log residuals."""
        point = self.base.predict(table)
        preds = np.stack([self.replicate(b).predict(table) for b in range(self.thetas.shape[0])])
        if noise:
            rng = np.random.default_rng(seed)
            res = np.concatenate([u.residuals for u in self.base.units.values()])
            preds = preds * np.exp(rng.choice(res, size=preds.shape))
        lo, hi = np.nanquantile(preds, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return pd.DataFrame({"pred": point, "lo": lo, "hi": hi}, index=table.index)


def _bootstrap_chunk(form_name: str, method: str, units: list[_Unit], effs: list[str], m: int,
                     base: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Refit every unit for a block of replicates. ``weights``: (n_rep, n_points) multiplicities."""
    out = np.full((weights.shape[0], len(units), max(len(b) for b in base)), np.nan)
    with _blas_single_thread():
        _refit_block(form_name, method, units, effs, m, base, weights, out)
    return out


def _refit_block(form_name, method, units, effs, m, base, weights, out) -> None:
    for b in range(weights.shape[0]):
        for j, (u, e) in enumerate(zip(units, effs)):
            w = weights[b, u.point]
            keep = w > 0
            eff = _FORMS[e]
            if len(np.unique(u.r[keep])) < eff.needs_distinct_r or \
                    len(np.unique(u.s[keep])) < eff.needs_distinct_s or keep.sum() < len(base[j]):
                continue
            # the refit starts from the full-data optimum: a replicate is a small perturbation of it
            sol = _solve_unit(eff, u, method, [base[j]], m, weights=w.astype(float))
            out[b, j, :len(base[j])] = sol.theta


def bootstrap(table: pd.DataFrame, fit: LawFit, n_boot: int = 1000, seed: int = 0,
              scheme: str = "runs+points", n_jobs: int = 1, progress: bool = False) -> Bootstrap:
    """Bootstrap ``fit`` (made by :func:`fit_law` on ``table``) ``n_boot`` times.

    ``scheme``: "runs" resamples whole runs with replacement (keeps each run's curve intact);
    "points" resamples (run, step) points within each run; "runs+points" does both, in that order.
    Every domain sees the same resampled points, so replicates keep cross-domain consistency (the
    optimiser's interval needs that). Resampling is drawn here from ``numpy.random.default_rng(seed)``
    before any work is split, so results do not depend on ``n_jobs``. Each refit starts once, from
    the full-data optimum.
    """
    if scheme not in BOOTSTRAP_SCHEMES:
        raise LawError(f"unknown bootstrap scheme {scheme!r}; choose from: {', '.join(BOOTSTRAP_SCHEMES)}")
    f = _form(fit.form)
    table = table[table["mixture"].isin(list(fit.fit_on))]
    units = _units(table, f, fit.domains, fit.t_domains)
    keys = tuple((u.domain, u.group) for u in units)
    effs = [fit.units[k].form for k in keys]
    base = [fit.units[k].theta for k in keys]
    pts = table[["run", "step"]].drop_duplicates()
    run_of_point = pd.MultiIndex.from_frame(table[["run", "step"]]).factorize()[1].get_level_values(0)
    runs, run_idx = np.unique(np.asarray(run_of_point), return_inverse=True)
    n_points = len(pts)
    members = [np.flatnonzero(run_idx == k) for k in range(len(runs))]
    rng = np.random.default_rng(seed)
    W = np.zeros((n_boot, n_points), np.int32)
    for b in range(n_boot):
        chosen = rng.integers(len(runs), size=len(runs)) if scheme != "points" else np.arange(len(runs))
        for k in chosen:
            pick = members[k] if scheme == "runs" else rng.choice(members[k], size=len(members[k]))
            np.add.at(W[b], pick, 1)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    blocks = np.array_split(np.arange(n_boot), max(1, min(n_jobs, n_boot)))
    args = (fit.form, fit.method, units, effs, len(fit.t_domains), base)
    if n_jobs <= 1:
        parts = [_bootstrap_chunk(*args, W[blk]) for blk in _progress(blocks, progress)]
    else:
        with ProcessPoolExecutor(max_workers=len(blocks)) as pool:
            futures = [pool.submit(_bootstrap_chunk, *args, W[blk]) for blk in blocks]
            parts = [fu.result() for fu in _progress(futures, progress)]
    thetas = np.concatenate(parts, axis=0)
    failed = {k: int(np.isnan(thetas[:, j, 0]).sum()) for j, k in enumerate(keys)}
    return Bootstrap(base=fit, keys=keys, thetas=thetas, scheme=scheme, seed=seed, n_failed=failed)


def coefficient_intervals(fit: LawFit, boot: Bootstrap | None = None, level: float = 0.95) -> pd.DataFrame:
    """A BiMix fit's coefficients (:meth:`LawFit.summary`, one row per domain) with their percentile
    bootstrap intervals beside them, ``alpha_lo``/``alpha_hi`` and the same for ``beta``, ``B`` and
    ``C`` (NaN without replicates, or where no replicate identified the coefficient)."""
    ci = boot.ci(level=level) if boot else {}
    coef = fit.summary().set_index("domain")
    for q in ("alpha", "beta", "B", "C"):
        coef[f"{q}_lo"] = [ci.get(d, {}).get("", {}).get(q, [np.nan])[0] for d in coef.index]
        coef[f"{q}_hi"] = [ci.get(d, {}).get("", {}).get(q, [np.nan, np.nan])[1] for d in coef.index]
    return coef


def _progress(items, show: bool):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="bootstrap blocks")
