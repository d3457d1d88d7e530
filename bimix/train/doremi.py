"""DoReMi (Xie et al. 2023), the baseline mixture method, exactly as docs/paper.md#doremi describes it.

1. A reference model trained on the baseline mixture (the sweep's baseline run is reused when it has
   the same config, seed and store).
2. A proxy of the same size trained with Group DRO over domains. At each step, per domain i present in
   the batch, the excess loss is the mean over that domain's tokens of max(proxy - reference, 0); then
   log w <- log w + eta * excess, w <- softmax(log w), w <- (1 - eps) w + eps / m, and the proxy's
   training loss is sum_i w_i * (mean proxy token loss on domain i).
3. The output mixture is w averaged over all proxy steps, saved as the named mixture ``doremi``, with the
   per-step trajectory as a table (step, domain, weight, excess).

Where the mixture is kept: one token store serves several profiles and configs (cpu and cpu-long, a
config file's variant), and DoReMi runs on several seeds, so each DoReMi mixture has its own file,
named for what made it: ``<store>/mixtures/doremi/<profile>.<proxy run id>.json`` (the proxy's run id
holds its config, store and seed; see :func:`mixture_file`). A file is never replaced by a different
mixture: another proxy run under the same name is refused in one line (:class:`MixtureTaken`).
``train``/``sweep --mixture doremi`` train on the profile's own mixture, the one its config's proxy made
with the sweep's first seed (:func:`find_mixture`). ``<store>/mixtures/doremi.json`` is a copy of the
mixture a sweep or ``doremi`` run last made current, for readers that look a mixture up by name; a
``doremi.json`` from before the per-producer files is still read as the mixture of the proxy run its
meta names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bimix.files import atomic_path, read_json
from bimix.profiles import Profile
from bimix.provenance import code_version
from bimix.train.proxy import (RunSpec, TrainError, add_device_arguments, build_model, final_model_ok,
                               final_model_path, is_complete, make_spec, open_profile_store, override_config,
                               resolve_mixture, run_device, run_paths, start_training, token_losses, train_run)


def update_weights(w: np.ndarray, excess: np.ndarray, eta: float = 1.0, smoothing: float = 1e-3) -> np.ndarray:
    """One Group-DRO step (docs/paper.md#doremi): exponentiated-gradient ascent on the excess losses, then
    smoothing towards uniform. ``w`` on the simplex, ``excess`` >= 0 per domain (nats)."""
    w = np.asarray(w, dtype=np.float64)
    excess = np.asarray(excess, dtype=np.float64)
    if w.shape != excess.shape:
        raise ValueError(f"{w.shape[0]} weights but {excess.shape[0]} excess losses")
    if np.any(excess < 0) or not np.all(np.isfinite(excess)):
        raise ValueError(f"excess losses must be finite and >= 0 (clipped), got {excess.tolist()}")
    logits = np.log(w) + eta * excess
    logits -= logits.max()
    w_new = np.exp(logits)
    w_new /= w_new.sum()
    return (1.0 - smoothing) * w_new + smoothing / len(w_new)


class DoReMiObjective:
    """Group-DRO training loss of the DoReMi proxy; keeps the domain weights and their trajectory.

    One weight update per optimiser step from the excess losses of the whole *global* batch: per domain,
    the excess summed over its sequences (on every micro-batch and every DDP rank) over the number of its
    sequences. With one micro-batch the excess comes from the training forward pass; with several, a
    gradient-free pass over the micro-batches (``prepare``) computes it first, since every micro-batch's
    loss needs the updated weights. Every rank therefore holds the same weights."""

    name = "doremi"

    def __init__(self, reference: torch.nn.Module, domains, eta: float, smoothing: float):
        self.reference = reference.eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.domains = tuple(domains)
        self.eta, self.smoothing = eta, smoothing
        self.w = np.full(len(self.domains), 1.0 / len(self.domains))
        self.weight_sum = np.zeros(len(self.domains))
        self.n_steps = 0
        self.trajectory: list[tuple[int, np.ndarray, np.ndarray]] = []  # (step, w, excess)
        self._counts: torch.Tensor | None = None  # (m,) sequences per domain in this step's global batch

    def _excess_sums(self, proxy: torch.Tensor, x: torch.Tensor, domain_ids: torch.Tensor):
        """Per domain: summed per-sequence mean excess loss (double) and sequence count, this micro-batch."""
        m = len(self.domains)
        with torch.no_grad():
            ref = token_losses(self.reference, x)
            excess_seq = (proxy.detach() - ref).clamp(min=0.0).double().mean(dim=1)  # (b,) nats
            sums = torch.zeros(m, dtype=torch.float64, device=x.device).index_add(0, domain_ids, excess_seq)
            counts = torch.zeros(m, dtype=torch.float64, device=x.device).index_add(
                0, domain_ids, torch.ones_like(excess_seq))
        return sums, counts

    def _update(self, sums: torch.Tensor, counts: torch.Tensor, step: int) -> None:
        """All-reduce the batch's excess sums and counts over the ranks, then one Group-DRO step."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            both = torch.stack([sums, counts])
            torch.distributed.all_reduce(both)
            sums, counts = both[0], both[1]
        present = (counts > 0).cpu().numpy()
        excess = np.where(present, (sums / counts.clamp(min=1)).cpu().numpy(), 0.0)
        self.w = update_weights(self.w, excess, self.eta, self.smoothing)
        self.weight_sum += self.w
        self.n_steps += 1
        self.trajectory.append((step + 1, self.w.copy(), excess))
        self._counts = counts

    def prepare(self, model, chunks, step: int, autocast) -> None:
        """Before a step's micro-batches: with several, the excess losses of all of them (no gradients)."""
        self._counts = None
        if len(chunks) == 1:
            return  # the training forward pass gives the excess (micro_loss)
        total_sums = total_counts = None
        with torch.no_grad():
            for x, ids in chunks:
                with autocast():
                    proxy = token_losses(model, x)
                    sums, counts = self._excess_sums(proxy, x, ids)
                total_sums = sums if total_sums is None else total_sums + sums
                total_counts = counts if total_counts is None else total_counts + counts
        self._update(total_sums, total_counts, step)

    def micro_loss(self, model, x: torch.Tensor, domain_ids: torch.Tensor, step: int, n_local: int) -> torch.Tensor:
        """sum_i w_i * (this micro-batch's summed per-sequence proxy loss on domain i) / (domain i's
        sequences in the global batch), times the DDP world size (DDP averages gradients over ranks),
        so that the micro-batches of all ranks add up to the full-batch Group-DRO loss."""
        m = len(self.domains)
        proxy = token_losses(model, x)  # (b, T)
        if self._counts is None:  # one micro-batch: the excess comes from this forward pass
            self._update(*self._excess_sums(proxy, x, domain_ids), step)
        counts = self._counts.to(proxy.dtype)
        per_seq = proxy.mean(dim=1)
        sums = torch.zeros(m, dtype=per_seq.dtype, device=x.device).index_add(0, domain_ids, per_seq)
        domain_loss = sums / counts.clamp(min=1)
        w = torch.as_tensor(self.w, dtype=proxy.dtype, device=proxy.device)
        loss = (w * domain_loss * (counts > 0)).sum()
        world = torch.distributed.get_world_size() if (torch.distributed.is_available()
                                                       and torch.distributed.is_initialized()) else 1
        return loss * world if world > 1 else loss

    def batch_loss(self, model, x: torch.Tensor, domain_ids: torch.Tensor, step: int) -> torch.Tensor:
        """The whole batch in one pass: update the weights from it, return its Group-DRO loss."""
        self._counts = None
        return self.micro_loss(model, x, domain_ids, step, len(x))

    def average(self) -> np.ndarray:
        if self.n_steps == 0:
            raise TrainError("DoReMi proxy has taken no steps: no weights to average")
        avg = self.weight_sum / self.n_steps
        return avg / avg.sum()

    def trajectory_frame(self) -> pd.DataFrame:
        rows = [{"step": s, "domain": d, "weight": float(w[i]), "excess": float(e[i])}
                for s, w, e in self.trajectory for i, d in enumerate(self.domains)]
        return pd.DataFrame(rows, columns=["step", "domain", "weight", "excess"])

    def state_dict(self) -> dict:
        return {"w": self.w.tolist(), "weight_sum": self.weight_sum.tolist(), "n_steps": self.n_steps,
                "trajectory": [(s, w.tolist(), e.tolist()) for s, w, e in self.trajectory]}

    def load_state_dict(self, state: dict) -> None:
        self.w = np.asarray(state["w"])
        self.weight_sum = np.asarray(state["weight_sum"])
        self.n_steps = int(state["n_steps"])
        self.trajectory = [(s, np.asarray(w), np.asarray(e)) for s, w, e in state["trajectory"]]

    def summary(self) -> dict:
        return {"doremi_weights": dict(zip(self.domains, self.average().tolist()))} if self.n_steps else {}


class MixtureTaken(TrainError, ValueError):
    """Another DoReMi mixture is already kept under the same name (bad input: exit 2)."""


class MixtureMissing(TrainError, ValueError):
    """No DoReMi mixture of this profile and config in the store yet (bad input: exit 2)."""


def proxy_spec(profile: Profile, store, *, seed: int | None, config=None, device: str | None = "auto",
               precision: str | None = "auto") -> RunSpec:
    """The DoReMi proxy run of ``config`` (default: the profile's) and ``seed``."""
    config = config or profile.proxy
    return make_spec(profile, "doremi-proxy", store, seed=seed, config=config, objective="doremi",
                     weights=resolve_mixture(config.doremi.sample, store), device=device, precision=precision)


def mixture_file(store, profile: str, proxy_run: str) -> Path:
    """Where the DoReMi mixture of ``profile``'s proxy run ``proxy_run`` is kept in ``store``."""
    return Path(store.mixtures_dir) / "doremi" / f"{profile}.{proxy_run}.json"


def find_mixture(profile: Profile, store, config=None, *, seed: int | None = None, device: str | None = "auto",
                 precision: str | None = "auto"):
    """The DoReMi mixture that ``profile``'s proxy of ``config`` and ``seed`` (default: the sweep's first
    seed, whose mixture the sweep trains) made: its file (:func:`mixture_file`), else a store-wide
    ``doremi.json`` whose meta names that profile and proxy run (one written before the per-producer
    files); None when there is neither."""
    from bimix.data.mixtures import load_mixture, load_named

    config = config or profile.proxy
    run = proxy_spec(profile, store, seed=config.seeds[0] if seed is None else seed, config=config,
                     device=device, precision=precision).run_id
    path = mixture_file(store, profile.name, run)
    if path.is_file():
        return load_mixture(path, domains=store.domains)
    if (Path(store.mixtures_dir) / "doremi.json").is_file():
        shown = load_named("doremi", store.mixtures_dir, domains=store.domains)
        if (shown.meta.get("profile"), shown.meta.get("proxy_run")) == (profile.name, run):
            return shown
    return None


def mixture_weights(profile: Profile, store, config=None, *, device: str | None = "auto",
                    precision: str | None = "auto") -> dict[str, float]:
    """Weights (store order) of the ``doremi`` mixture ``profile`` and ``config`` train on
    (:func:`find_mixture`); a ``doremi.json`` without a profile in its meta (made by hand) is anyone's."""
    from bimix.data.mixtures import load_named

    found = find_mixture(profile, store, config, device=device, precision=precision)
    if found is None and (Path(store.mixtures_dir) / "doremi.json").is_file():
        by_hand = load_named("doremi", store.mixtures_dir, domains=store.domains)
        found = None if by_hand.meta.get("profile") else by_hand
    if found is None:
        config = config or profile.proxy
        run = proxy_spec(profile, store, seed=config.seeds[0], config=config, device=device,
                         precision=precision).run_id
        raise MixtureMissing(f"no DoReMi mixture of profile {profile.name!r} from its proxy run {run} in "
                             f"{Path(store.mixtures_dir) / 'doremi'}: run `python -m bimix doremi` for this "
                             f"profile and config first (or `sweep` with the doremi mixture)")
    return dict(zip(store.domains, found.array(store.domains).tolist()))


def _save_mixture(weights: dict[str, float], store, meta: dict, *, shown: bool) -> Path:
    """Keep ``weights`` as the DoReMi mixture of the proxy run ``meta`` names (:func:`mixture_file`);
    refused when that file holds other weights. ``shown``: also copy it to the store's ``doremi.json``."""
    from bimix.data.mixtures import Mixture, load_mixture, save_mixture, save_named

    mixture = Mixture("doremi", weights, meta)
    path = mixture_file(store, meta["profile"], meta["proxy_run"])
    if path.is_file():
        kept = load_mixture(path, domains=store.domains)
        gap = np.abs(kept.array(store.domains) - mixture.array(store.domains)).max()
        if gap > 0:
            raise MixtureTaken(
                f"{path} already holds the DoReMi mixture of proxy run {meta['proxy_run']} (profile "
                f"{meta['profile']!r}, trajectory {kept.meta.get('trajectory')}), and this one differs from it "
                f"(largest share difference {gap:.3g}): remove the file first to replace it on purpose")
        mixture = kept
    else:
        save_mixture(mixture, path)
    if shown:
        save_named(mixture, store.mixtures_dir)
    return path


def show_mixture(mixture, store) -> None:
    """Make ``mixture`` the one the store's ``doremi.json`` holds (what notebooks read by name)."""
    from bimix.data.mixtures import load_named, save_named

    folder = Path(store.mixtures_dir)
    if (folder / "doremi.json").is_file() and load_named("doremi", folder).to_json() == mixture.to_json():
        return
    save_named(mixture, folder)


def trajectory_name(seed: int, config) -> str:
    """The weight trajectory's file: ``doremi_trajectory.csv`` for the sweep's (first) seed, whose
    mixture is trained; ``doremi_trajectory-s<seed>.csv`` for proxies run only to measure the spread."""
    return "doremi_trajectory.csv" if seed == config.seeds[0] else f"doremi_trajectory-s{seed}.csv"


def run_doremi(profile: Profile, store=None, *, seed: int | None = None, config=None, out_dir=None,
               progress=None, device: str | None = "auto", precision: str | None = "auto",
               torch_device: str | None = None, shown: bool | None = None) -> dict:
    """Reference run (reused if complete), Group-DRO proxy, averaged weights saved as mixture ``doremi``
    in the proxy run's own file (:func:`mixture_file`; refused if that holds other weights). ``shown``:
    also make it the store's ``doremi.json`` (default: for the sweep's first seed, whose mixture is
    trained). ``device``/``precision`` as :func:`bimix.train.proxy.make_spec` takes them; ``torch_device``
    the exact device (``cuda:1``; default: the spec's, per rank under torchrun). Under torchrun both runs
    use DDP and rank 0 writes the mixture and the trajectory.

    Returns {"weights", "mixture_path", "trajectory_path", "reference_run", "proxy_run"}."""
    config = config or profile.proxy
    store = store or open_profile_store(profile, config)
    dcfg = config.doremi
    ref_spec = make_spec(profile, dcfg.reference, store, seed=seed, config=config, device=device,
                         precision=precision)
    if not is_complete(ref_spec, out_dir) or not final_model_ok(ref_spec, out_dir):
        # resuming a finished checkpoint writes the final weights (and their hash) again
        train_run(ref_spec, store, out_dir=out_dir, progress=progress, device=torch_device)
    reference = build_model(config.model, store.vocab_size, seed=ref_spec.seed)
    reference.load_state_dict(torch.load(final_model_path(ref_spec, out_dir), map_location="cpu",
                                         weights_only=True))
    reference = reference.to(run_device(ref_spec, torch_device))  # this rank's own device

    csv_path, _ = run_paths(profile.name, out_dir)
    proxy_dir = csv_path.parent / "doremi_proxy"
    proxy = proxy_spec(profile, store, seed=seed, config=config, device=device, precision=precision)
    objective = DoReMiObjective(reference, store.domains, dcfg.eta, dcfg.smoothing)
    result = train_run(proxy, store, out_dir=proxy_dir, objective=objective, progress=progress,
                       device=torch_device)
    if result["status"] != "complete":
        raise TrainError(f"DoReMi proxy {proxy.run_id} stopped at step {result['step']}")
    weights = dict(zip(store.domains, objective.average().tolist()))
    traj_path = proxy_dir / trajectory_name(proxy.seed, config)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if rank != 0:  # every rank holds the same weights (all-reduced excess); one writes them
        return {"weights": weights, "mixture_path": None, "trajectory_path": str(traj_path),
                "reference_run": ref_spec.run_id, "proxy_run": proxy.run_id}
    with atomic_path(traj_path) as tmp:
        objective.trajectory_frame().to_csv(tmp, index=False)
    meta = {"method": "DoReMi (Xie et al. 2023), docs/paper.md#doremi", "profile": profile.name,
            "reference_run": ref_spec.run_id, "proxy_run": proxy.run_id, "eta": dcfg.eta,
            "smoothing": dcfg.smoothing, "sample_mixture": dcfg.sample, "steps": objective.n_steps,
            "store_id": store.store_id, "code_version": code_version(), "trajectory": str(traj_path),
            "config_hash": ref_spec.config_hash}
    mixture_path = _save_mixture(weights, store, meta,
                                 shown=proxy.seed == config.seeds[0] if shown is None else shown)
    return {"weights": weights, "mixture_path": str(mixture_path), "trajectory_path": str(traj_path),
            "reference_run": ref_spec.run_id, "proxy_run": proxy.run_id}


def restore_mixture(profile: Profile, store, *, seed: int, config=None, out_dir=None,
                    device: str | None = "auto", precision: str | None = "auto", shown: bool | None = None) -> bool:
    """Write the ``doremi`` mixture again from a finished proxy run recorded in the run folder (its sidecar
    keeps the averaged weights), without training; False when no such run is there. ``shown`` as
    :func:`run_doremi` takes it.

    A fresh clone has the committed run tables but an empty cache: the mixture the DoReMi runs were
    trained on is thereby recovered exactly, and nothing is retrained."""
    config = config or profile.proxy
    dcfg = config.doremi
    ref_spec = make_spec(profile, dcfg.reference, store, seed=seed, config=config, device=device,
                         precision=precision)
    proxy = proxy_spec(profile, store, seed=seed, config=config, device=device, precision=precision)
    csv_path, _ = run_paths(profile.name, out_dir)
    proxy_dir = csv_path.parent / "doremi_proxy"
    sidecar = proxy_dir / "sidecars" / f"{proxy.run_id}.json"
    if not sidecar.is_file():
        return False
    meta_run = read_json(sidecar)
    weights = meta_run.get("doremi_weights")
    if meta_run.get("status") != "complete" or not isinstance(weights, dict) or list(weights) != list(store.domains):
        return False
    traj_path = proxy_dir / trajectory_name(seed, config)
    meta = {"method": "DoReMi (Xie et al. 2023), docs/paper.md#doremi", "profile": profile.name,
            "reference_run": ref_spec.run_id, "proxy_run": proxy.run_id, "eta": dcfg.eta,
            "smoothing": dcfg.smoothing, "sample_mixture": dcfg.sample, "steps": meta_run.get("step"),
            "store_id": store.store_id, "code_version": meta_run.get("code_version"),
            "trajectory": str(traj_path), "restored_from": str(sidecar), "config_hash": ref_spec.config_hash}
    _save_mixture({d: float(w) for d, w in weights.items()}, store, meta,
                  shown=seed == config.seeds[0] if shown is None else shown)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="smoke | cpu | gpu | paper")
    parser.add_argument("--seed", type=int, default=None, help="seed of the reference and proxy runs")
    parser.add_argument("--steps", type=int, default=None, help="override the profile's steps")
    parser.add_argument("--out", default=None, help="folder for runs.csv and sidecars/ (default data/runs/PROFILE)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of the runs (default 1; another count is part of the run id)")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="sequences per forward pass (gradient accumulation; default: the profile's)")
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Also under torchrun: the reference and the proxy train with DDP, rank 0 writes."""
    from tqdm.auto import tqdm

    device, precision, distributed = start_training(args)
    try:
        rank = torch.distributed.get_rank() if distributed else 0
        config = override_config(args.profile.proxy, steps=args.steps, cpu_threads=args.threads,
                                 micro_batch=args.micro_batch)
        with tqdm(unit="tok", unit_scale=True, desc="doremi", disable=rank != 0) as bar:
            out = run_doremi(args.profile, seed=args.seed, config=config, out_dir=args.out, progress=bar.update,
                             device=device, precision=precision)
        if rank == 0:
            print("doremi mixture:", ", ".join(f"{d} {w:.4f}" for d, w in out["weights"].items()))
            print("saved to", out["mixture_path"])
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    return 0
