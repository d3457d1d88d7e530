"""The law judged against RegMix's own regressor, on RegMix's public runs (notebook 07).

RegMix (Liu et al. 2024) trained 512 small models (1M parameters) on random mixtures of 17 Pile
domains, fitted one LightGBM regressor per validation domain on them (mixture shares in, final loss
out) and scored it on 256 further mixtures; the same 256 mixtures were also trained at 60M, and 64
other mixtures at 1B (fetched by pin with :func:`bimix.data.public_runs.fetch_source`, read by
:func:`load_regmix`). Here three models see
exactly the same split, per validation domain d:

``share``        the law at one step, L_d = A_d / r_d^α_d (Eq. 8; BiMix with s fixed). It uses
                 only the domain's own share and cannot score a mixture without it (r_d = 0): those
                 mixtures are left out of its scores and counted.
``exponential``  Ye et al.'s law, L_d = c_d + k_d · exp(Σ_j t_dj r_j), over all 17 training shares.
``lightgbm``     RegMix's regressor with RegMix's settings (``LIGHTGBM``: 1000 iterations, learning
                 rate 0.01), all 17 shares as features.

Every model is fitted on the train split only (:func:`fit_models` never sees another split) and then
predicts every other split. Scores per (model, split, domain): Spearman rank correlation between
predicted and observed losses, R² on log loss (the project's convention, docs/paper.md#protocols) and relative
error. "Rank transfer": the 1M-trained predictions ranked against the losses observed at 60M and 1B.
The 1M runs' own losses, as a predictor of the 60M losses of the same mixtures, give the reference
for how much rank survives the change of scale at all.

LightGBM is imported only when the ``lightgbm`` model is fitted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bimix.data.runs import read_regmix_pair
from bimix.law.forms import LawError, exponential_loss, fit_exponential_matrix, fit_law, share_loss
from bimix.law.protocols import r2_log, relative_error, spearman

REGMIX_SPLITS = {  # name -> (mixtures file, losses file)
    "train_1m": ("train_mixture_1m.csv", "train_pile_loss_1m.csv"),
    "test_1m": ("test_mixture_1m.csv", "test_pile_loss_1m.csv"),
    "test_60m": ("test_mixture_60m.csv", "test_pile_loss_60m.csv"),
    "test_1B": ("test_mixture_1B.csv", "test_pile_loss_1B.csv"),
}
MODELS = ("share", "exponential", "lightgbm")
# RegMix's regressor settings (their paper and code): 1000 boosting iterations, learning rate 0.01;
# everything else LightGBM's defaults. One thread: the fits are small and the machine is shared.
LIGHTGBM = {"n_estimators": 1000, "learning_rate": 0.01, "n_jobs": 1, "verbose": -1}
# RegMix's reported Spearman correlation of LightGBM on held-out 1M mixtures (their Table), quoted for
# comparison only; nothing here is computed from it.
REGMIX_PUBLISHED_SPEARMAN = (0.97, 0.998)


def _domain(column: str) -> str:
    """``train_the_pile_pile_cc`` / ``metric/the_pile_pile_cc_val_loss`` -> ``the_pile_pile_cc``."""
    return re.sub(r"_val_loss$", "", re.sub(r"^(metric/|train_)", "", column))


@dataclass
class Split:
    """One RegMix file pair, wide: ``X`` (runs, training domains) shares summing to 1, ``Y`` (runs,
    validation domains) final losses in nats, both indexed by the file's ``index``."""

    name: str
    X: pd.DataFrame
    Y: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def load_regmix(files: str | Path | Mapping[str, Path], splits: Sequence[str] = tuple(REGMIX_SPLITS)) -> dict[str, Split]:
    """RegMix's pairs as :class:`Split` objects (shares renormalised as
    :func:`bimix.data.runs.read_regmix_pair` does, and noted). ``files``: ``{file name: path}`` as
    :func:`bimix.data.public_runs.fetch_source` returns for ``"regmix"`` (pinned and verified), or a
    folder holding the files under their published names (read as they are)."""
    if isinstance(files, Mapping):
        where = dict(files)
    else:
        where = {name: Path(files) / name for pair in REGMIX_SPLITS.values() for name in pair}
    out = {}
    for name in splits:
        mix_file, loss_file = REGMIX_SPLITS[name]
        missing = [f for f in (mix_file, loss_file) if f not in where or not Path(where[f]).is_file()]
        if missing:
            raise LawError(f"RegMix split {name}: {', '.join(missing)} not available "
                           f"({'folder ' + str(files) if not isinstance(files, Mapping) else 'not fetched'})")
        mix, loss, notes = read_regmix_pair(where[mix_file], where[loss_file])
        mix, loss = mix.set_index("index"), loss.set_index("index")
        if set(mix.index) != set(loss.index):
            raise LawError(f"{name}: the mixtures and losses files list different runs")
        X = mix.rename(columns=_domain).astype(float)
        Y = loss.loc[mix.index].rename(columns=_domain).astype(float)
        out[name] = Split(name=name, X=X, Y=Y, notes=notes)
    return out


# --------------------------------------------------------------------------------------------------
# Models: fitted on one split, predicting any other.

@dataclass
class Fitted:
    """One model fitted per validation domain. ``predictors[d]`` maps X (n, m) to (n,) losses, NaN
    where the model cannot predict; ``failures[d]`` says why a domain's fit is not used."""

    model: str
    trained_on: str
    predictors: dict[str, object]
    n_params: int  # coefficients (share, exponential) or leaves of all trees (lightgbm), all domains
    fit_seconds: float
    failures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _fit_share(train: Split, n_starts: int) -> Fitted:
    rows = []
    for d in train.Y.columns:
        if d not in train.X.columns:
            continue
        rows.append(pd.DataFrame({"run": train.Y.index.astype(str), "step": 1, "domain": d,
                                  "r": train.X[d].to_numpy(), "loss": train.Y[d].to_numpy()}))
    long = pd.concat(rows, ignore_index=True).assign(mixture=lambda t: t["run"])
    t0 = time.perf_counter()
    fit = fit_law(long, form="share", n_starts=n_starts)
    seconds = time.perf_counter() - t0
    preds, failures = {}, {}
    for d in fit.domains:
        u = fit.unit(d, 1)
        if u.failure:
            failures[d] = u.failure
            continue
        A, alpha = u.params["A"], u.params["alpha"]

        def predict(X, d=d, A=A, alpha=alpha):
            r = X[d].to_numpy(float)
            with np.errstate(divide="ignore"):
                return np.where(r > 0, share_loss(np.where(r > 0, r, 1.0), A, alpha), np.nan)
        preds[d] = predict
    no_share = [d for d in train.Y.columns if d not in train.X.columns]
    notes = [f"left out {fit.n_excluded_zero_share} training points with r = 0 (of "
             f"{len(long)}): the law diverges there"]
    if no_share:
        notes.append(f"validation domains without a training share: {no_share}")
    return Fitted("share", train.name, preds, 2 * len(fit.domains), seconds, failures, notes)


def _fit_exponential(train: Split, n_starts: int) -> Fitted:
    preds, failures, at_bound = {}, {}, []
    names = list(train.X.columns)
    t0 = time.perf_counter()
    for d in train.Y.columns:
        try:
            u = fit_exponential_matrix(train.X.to_numpy(float), train.Y[d].to_numpy(float), names,
                                       domain=d, n_starts=n_starts)
        except LawError as exc:
            failures[d] = str(exc)
            continue
        if u.failure:
            failures[d] = u.failure
            continue
        at_bound += [f"{d}: {n}" for n in u.at_bound if n.startswith("t[")]
        c, k = u.params["c"], u.params["k"]
        t = np.array([u.params[f"t[{e}]"] for e in names])
        preds[d] = lambda X, c=c, k=k, t=t: exponential_loss(X[names].to_numpy(float), c, k, t)
    seconds = time.perf_counter() - t0
    notes = []
    if at_bound:
        notes.append(f"{len(at_bound)} exponents t at the bound |t| = 50 (the loss jumps between r = 0 "
                     f"and r > 0 more steeply than an exponential can follow), e.g. {at_bound[:3]}")
    return Fitted("exponential", train.name, preds, (len(names) + 2) * len(preds), seconds, failures, notes)


def _fit_lightgbm(train: Split, iterations: int, seed: int) -> Fitted:
    import lightgbm

    preds, leaves = {}, 0
    t0 = time.perf_counter()
    for d in train.Y.columns:
        model = lightgbm.LGBMRegressor(**{**LIGHTGBM, "n_estimators": iterations}, random_state=seed)
        model.fit(train.X.to_numpy(float), train.Y[d].to_numpy(float))
        leaves += sum(tree["num_leaves"] for tree in model.booster_.dump_model()["tree_info"])
        cols = list(train.X.columns)
        preds[d] = lambda X, model=model, cols=cols: model.predict(X[cols].to_numpy(float))
    return Fitted("lightgbm", train.name, preds, leaves, time.perf_counter() - t0,
                  notes=[f"{iterations} iterations, learning rate {LIGHTGBM['learning_rate']}"])


def fit_models(train: Split, models: Sequence[str] = MODELS, n_starts: int = 8,
               lightgbm_iterations: int = LIGHTGBM["n_estimators"], seed: int = 0) -> dict[str, Fitted]:
    """Fit each model on ``train`` (its X and Y only), one per validation domain."""
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise LawError(f"unknown models {unknown}; choose from: {', '.join(MODELS)}")
    out = {}
    for m in models:
        if m == "share":
            out[m] = _fit_share(train, n_starts)
        elif m == "exponential":
            out[m] = _fit_exponential(train, n_starts)
        else:
            out[m] = _fit_lightgbm(train, lightgbm_iterations, seed)
    return out


def predict(fitted: Fitted, split: Split) -> pd.DataFrame:
    """(runs, validation domains) predicted losses for ``split``; NaN where the model cannot predict
    (a failed fit, or r = 0 for the share law)."""
    out = pd.DataFrame(np.nan, index=split.Y.index, columns=split.Y.columns)
    for d, f in fitted.predictors.items():
        if d in out.columns:
            out[d] = f(split.X)
    return out


def score(pred: pd.DataFrame, split: Split, own_share_only: bool = False) -> pd.DataFrame:
    """Per validation domain: how many runs could be scored, Spearman between predicted and observed
    losses over them, R² on log loss and mean relative error. ``own_share_only`` scores only the runs
    that train on the domain (r_d > 0): the runs the share law can predict, so every model is
    compared on the same runs."""
    rows = []
    for d in split.Y.columns:
        p, y = pred[d].to_numpy(float), split.Y[d].to_numpy(float)
        ok = np.isfinite(p)
        if own_share_only:
            ok &= (split.X[d].to_numpy(float) > 0) if d in split.X.columns else False
        rows.append({"domain": d, "n_scored": int(ok.sum()), "n_runs": len(y),
                     "spearman": spearman(y[ok], p[ok]) if ok.sum() >= 3 else float("nan"),
                     "r2_log": r2_log(y[ok], p[ok]) if ok.sum() >= 3 else float("nan"),
                     "mre": float(relative_error(y[ok], p[ok]).mean()) if ok.any() else float("nan")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# The benchmark.

@dataclass
class Benchmark:
    scores: pd.DataFrame  # (model, split, domain): n_scored, n_runs, spearman, r2_log, mre
    fitted: dict[str, Fitted]
    predictions: dict[tuple[str, str], pd.DataFrame]  # (model, split) -> (runs, domains)
    notes: list[str]

    def summary(self) -> pd.DataFrame:
        """One row per (model, split): Spearman mean / worst over domains, R² on log loss mean /
        worst, relative error, share of (run, domain) pairs scored, parameters, fit seconds."""
        g = self.scores.groupby(["model", "split"], sort=False)
        out = g.agg(spearman_mean=("spearman", "mean"), spearman_worst=("spearman", "min"),
                    r2_log_mean=("r2_log", "mean"), r2_log_worst=("r2_log", "min"),
                    mre_mean=("mre", "mean"), n_scored=("n_scored", "sum"), n_pairs=("n_runs", "sum"))
        out["scored"] = out.pop("n_scored") / out.pop("n_pairs")
        out = out.reset_index()
        out["n_params"] = [self.fitted[m].n_params if m in self.fitted else np.nan for m in out["model"]]
        out["fit_s"] = [self.fitted[m].fit_seconds if m in self.fitted else np.nan for m in out["model"]]
        return out

    def report(self) -> str:
        """The benchmark's notes, each model's notes, and every domain a model could not be fitted for."""
        return "\n".join(self.notes + [f"{m}: {n}" for m, f in self.fitted.items() for n in f.notes]
                         + [f"{m}: failed for {d}: {why}" for m, f in self.fitted.items() for d, why in f.failures.items()])

    def to_json(self) -> dict:
        return {"summary": self.summary().to_dict(orient="records"),
                "scores": self.scores.to_dict(orient="records"),
                "failures": {m: f.failures for m, f in self.fitted.items()},
                "model_notes": {m: f.notes for m, f in self.fitted.items()},
                "notes": self.notes, "regmix_published_spearman": list(REGMIX_PUBLISHED_SPEARMAN)}


def run_regmix_benchmark(splits: dict[str, Split], train: str = "train_1m",
                         evaluate: Sequence[str] = ("test_1m", "test_60m", "test_1B"),
                         models: Sequence[str] = MODELS, n_starts: int = 8,
                         lightgbm_iterations: int = LIGHTGBM["n_estimators"], seed: int = 0) -> Benchmark:
    """Fit every model on ``train``, predict each split in ``evaluate``, score per domain. Adds the
    reference "observed_1m" (the 1M runs' own losses as the predictor of another size's losses of
    the same mixtures) where an evaluated split repeats the mixtures of ``test_1m``."""
    if train in evaluate:
        raise LawError(f"the train split {train!r} cannot also be evaluated")
    fitted = fit_models(splits[train], models, n_starts=n_starts,
                        lightgbm_iterations=lightgbm_iterations, seed=seed)
    pieces, preds = [], {}
    for name in evaluate:
        split = splits[name]
        for m, f in fitted.items():
            preds[(m, name)] = predict(f, split)
            pieces.append(score(preds[(m, name)], split).assign(model=m, split=name))
            if name == "test_1m":
                pieces.append(score(preds[(m, name)], split, own_share_only=True)
                              .assign(model=m, split=f"{name} r>0"))
        ref = splits.get("test_1m")
        if name != "test_1m" and ref is not None and ref.X.shape == split.X.shape and \
                np.allclose(ref.X.to_numpy(), split.X.loc[ref.X.index].to_numpy(), atol=1e-9):
            observed = ref.Y.loc[split.Y.index]
            preds[("observed_1m", name)] = observed
            pieces.append(score(observed, split).assign(model="observed_1m", split=name))
    scores = pd.concat(pieces, ignore_index=True)[["model", "split", "domain", "n_scored", "n_runs",
                                                   "spearman", "r2_log", "mre"]]
    notes = [f"{s.name}: {n}" for s in splits.values() for n in s.notes]
    return Benchmark(scores=scores, fitted=fitted, predictions=preds, notes=notes)


def benchmark_table(bench: Benchmark) -> pd.DataFrame:
    """The committed table: per model, the held-out 1M scores and the rank transfer to larger models."""
    s = bench.summary().set_index(["model", "split"])
    rows = []
    for model in dict.fromkeys(s.index.get_level_values(0)):
        row = {"model": model}
        for split, tag in (("test_1m", "1M"), ("test_60m", "60M"), ("test_1B", "1B")):
            if (model, split) not in s.index:
                continue
            e = s.loc[(model, split)]
            row[f"spearman {tag}"] = float(e["spearman_mean"])
            if split == "test_1m":
                row["spearman 1M worst"] = float(e["spearman_worst"])
                row["R² log 1M"] = float(e["r2_log_mean"])
                row["scored 1M"] = float(e["scored"])
                if (model, "test_1m r>0") in s.index:
                    row["spearman 1M, r>0 runs"] = float(s.loc[(model, "test_1m r>0")]["spearman_mean"])
        row["parameters"] = float(s.loc[model]["n_params"].iloc[0])
        row["fit s"] = float(s.loc[model]["fit_s"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def plot_benchmark(bench: Benchmark, ax, split: str = "test_1m"):
    """Spearman per validation domain on ``split``, one marker series per model; the band is RegMix's
    published range for LightGBM."""
    sc = bench.scores[bench.scores["split"] == split]
    domains = list(dict.fromkeys(sc["domain"]))
    x = np.arange(len(domains))
    markers = {"share": "o", "exponential": "s", "lightgbm": "D", "observed_1m": "x"}
    for k, (model, g) in enumerate(sc.groupby("model", sort=False)):
        g = g.set_index("domain").reindex(domains)
        label = "share (only runs with r_d > 0)" if model == "share" else model
        ax.plot(x + (k - 1) * 0.15, g["spearman"], markers.get(model, "^"), label=label, ms=5)
    lo, hi = REGMIX_PUBLISHED_SPEARMAN
    ax.axhspan(lo, hi, color="0.85", zorder=0, label="RegMix published (LightGBM)")
    ax.set_xticks(x, [d.replace("the_pile_", "") for d in domains], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"Spearman, predicted vs observed ({split})")
    ax.legend(fontsize=7, loc="lower left")
    return ax
