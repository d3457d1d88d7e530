"""Trained proxies in Hugging Face format, so any tool that reads a hub model reads ours.

A proxy run leaves its final weights as a bare ``state_dict`` (``proxy.final_model_path``). Exporting
rebuilds the same GPT-NeoX model (``proxy.build_model``), loads those weights and writes

    <folder>/config.json  model.safetensors  generation_config.json
             tokenizer.json  tokenizer_config.json  special_tokens_map.json

with ``save_pretrained``: the tokenizer is the token store's own (a ``PreTrainedTokenizerFast`` around
its ``tokenizers`` JSON, EOS as the only special token). ``lm-eval --model hf --model_args
pretrained=<folder>`` loads the folder unchanged, and so does ``AutoModelForCausalLM.from_pretrained``.

Exported folders live beside the run's checkpoint, one per step:
``<checkpoint dir>/hf/step-000060/``. The final step is exported on demand from ``final_model.pt``;
earlier steps exist only when the run was trained with snapshots (:func:`train_with_snapshots`), which
exports the model at chosen steps (by default the run's evaluation steps) while it trains.

Every folder holds ``export.json``: the run and step it was exported from and the sha256 of each of its
files. A folder whose record names another run is not this run's export, and the files are checked
against the record before a model is evaluated (:func:`verified_export`): a changed final step is
exported again from its (checked) ``final_model.pt``, a changed earlier one is refused, and one exported
before records were kept is recorded on first use (the final step: exported again).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable, Mapping

from bimix.files import atomic_dir, changed_files, read_json, sha256_tree, write_json

SNAPSHOT_DIR = "hf"  # under a run's checkpoint folder
RECORD = "export.json"  # in every exported folder: run, step and the sha256 of each file
_STEP_DIR = re.compile(r"^step-(\d+)$")


class ExportError(RuntimeError):
    """A model cannot be exported (no final weights, unknown store, mismatched vocabulary)."""


def step_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:06d}"


def run_export_root(profile: str, run_id: str, out_dir=None) -> Path:
    """Folder of a run's exported steps. Only the profile and run id locate a run's checkpoint
    folder (``proxy._checkpoint_dir``), so a finished run can be found from its sidecar alone."""
    from bimix.train.proxy import final_model_path

    return final_model_path(SimpleNamespace(profile=profile, run_id=run_id), out_dir).parent / SNAPSHOT_DIR


def final_weights(profile: str, run_id: str, out_dir=None) -> Path:
    from bimix.train.proxy import final_model_path

    return final_model_path(SimpleNamespace(profile=profile, run_id=run_id), out_dir)


def hf_tokenizer(store, seq_len: int):
    """The store's tokenizer as a ``PreTrainedTokenizerFast`` with EOS (= BOS = UNK = PAD) set and
    ``model_max_length`` = the proxy's context, so harnesses truncate where training did."""
    from transformers import PreTrainedTokenizerFast

    tok = store.tokenizer
    if tok is None:
        folder = Path(store.root) / "tokenizer"
        if not (folder / "tokenizer.json").exists():
            raise ExportError(f"token store {store.root} has no saved tokenizer (tokenizer/tokenizer.json)")
        tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer, eos_token=tok.eos_token,
                                      bos_token=tok.eos_token, unk_token=tok.eos_token,
                                      pad_token=tok.eos_token, clean_up_tokenization_spaces=False)
    wrapped.model_max_length = int(seq_len)
    if len(wrapped) != store.vocab_size:
        raise ExportError(f"tokenizer has {len(wrapped)} tokens, the store says {store.vocab_size}")
    return wrapped


def export_record(folder: str | os.PathLike) -> dict | None:
    """The folder's ``export.json`` (run, step, files), or None when there is none."""
    path = Path(folder) / RECORD
    return read_json(path) if path.is_file() else None


def export_problem(folder: str | os.PathLike, run: str) -> str | None:
    """What is wrong with an exported folder of ``run`` (no record, another run's, a file missing or
    changed since it was written), or None when every file is the one its record lists."""
    folder = Path(folder)
    record = export_record(folder)
    if record is None:
        return f"{folder} has no {RECORD} (exported by an older version, or not by bimix)"
    if record.get("run") != run:
        return f"{folder / RECORD} names run {record.get('run')!r}, not {run!r}"
    changed = changed_files(record.get("files") or {}, sha256_tree(folder, skip=RECORD))
    return f"{folder / changed[0]} is not the file exported there" if changed else None


def export_model(net, tokenizer, folder: str | os.PathLike, *, run: str | None = None,
                 step: int | None = None) -> Path:
    """``save_pretrained`` of a proxy and its tokenizer into ``folder`` (atomically replaced), with
    ``export.json`` recording ``run``, ``step`` and every file's sha256.

    The saved config names the store's EOS as bos/eos/pad and enables the KV cache (training turns it
    off; generation tasks such as TriviaQA need it to be fast)."""
    import copy

    net = copy.deepcopy(net).cpu().eval()
    eos = int(tokenizer.eos_token_id)
    net.config.bos_token_id = net.config.eos_token_id = net.config.pad_token_id = eos
    net.config.use_cache = True
    if net.generation_config is not None:
        net.generation_config.bos_token_id = net.generation_config.eos_token_id = eos
        net.generation_config.pad_token_id = eos
    with atomic_dir(folder) as tmp:
        net.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / RECORD, {"run": run, "step": step, "files": sha256_tree(tmp, skip=RECORD)})
    return Path(folder)


def export_final(store, sidecar: Mapping, out_dir=None, *, check: bool = False) -> Path:
    """Export a finished run's final weights (from its sidecar) as ``hf/step-<steps>``; reused when
    the folder already exists with the run's record (``check``: and every file as recorded; else it
    is exported again). Raises ExportError when the run has no final weights in the cache, and
    FinalModelMismatch when they are not the ones its sidecar recorded."""
    import torch

    from bimix.profiles import ModelConfig
    from bimix.train.proxy import build_model, check_final_model

    run_id, profile, step = sidecar["run"], sidecar["profile"], int(sidecar["step"])
    folder = step_dir(run_export_root(profile, run_id, out_dir), step)
    record = export_record(folder)
    if record is not None and record.get("run") == run_id and not (check and export_problem(folder, run_id)):
        return folder
    weights = final_weights(profile, run_id, out_dir)
    if sidecar.get("status") != "complete" or not weights.exists():
        raise ExportError(f"run {run_id} has no final model at {weights}")
    if sidecar.get("store_id") not in (None, store.store_id):
        raise ExportError(f"run {run_id} was trained on store {sidecar['store_id']}, not {store.store_id}")
    model = ModelConfig(**sidecar["model"])
    net = build_model(model, int(sidecar["vocab_size"]), seed=int(sidecar.get("seed", 0)))
    net.load_state_dict(torch.load(check_final_model(weights, sidecar), map_location="cpu", weights_only=True))
    return export_model(net, hf_tokenizer(store, model.seq_len), folder, run=run_id, step=step)


def verified_export(checkpoint: Mapping, sidecar: Mapping, out_dir=None) -> Path:
    """The exported folder of ``checkpoint`` (``{run, step, path, store}``, as
    ``evaluate.find_checkpoints`` lists them) once its files are checked against its record. The final
    step is exported again when they differ; an earlier step cannot be, and is refused (ExportError)."""
    folder = Path(checkpoint["path"])
    problem = export_problem(folder, checkpoint["run"])
    if problem is None:
        return folder
    if int(checkpoint["step"]) == int(sidecar["step"]):
        return export_final(checkpoint["store"], sidecar, out_dir, check=True)
    if export_record(folder) is None:  # a snapshot exported before records were kept: recorded from now on
        print(f"warning: {problem}; its files are recorded now and checked from here on", file=sys.stderr)
        write_json(folder / RECORD, {"run": checkpoint["run"], "step": int(checkpoint["step"]),
                                     "files": sha256_tree(folder, skip=RECORD)})
        return folder
    raise ExportError(f"{problem}: the snapshot of run {checkpoint['run']} at step {checkpoint['step']} "
                      "cannot be checked, nor exported again; train the run again with snapshots, or "
                      "evaluate --steps final")


def exported_steps(profile: str, run_id: str, out_dir=None) -> dict[int, Path]:
    """step -> exported folder, for every complete export of a run (snapshots and final) that its
    record (``export.json``) does not give to another run; its files are checked before use
    (:func:`verified_export`)."""
    root = run_export_root(profile, run_id, out_dir)
    if not root.is_dir():
        return {}
    out = {}
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / "config.json").exists() and (export_record(child) or {}).get("run", run_id) == run_id:
            out[int(match.group(1))] = child
    return dict(sorted(out.items()))


def snapshot_callback(spec, store, steps: Iterable[int], out_dir=None) -> Callable[[int, object], None]:
    """A ``train_run(on_eval=...)`` callback exporting the model at each of ``steps`` it is called at."""
    wanted = set(int(s) for s in steps)
    root = run_export_root(spec.profile, spec.run_id, out_dir)
    tokenizer = hf_tokenizer(store, spec.config.model.seq_len)

    def on_eval(step: int, net) -> None:
        if step in wanted:
            export_model(net, tokenizer, step_dir(root, step), run=spec.run_id, step=step)

    return on_eval


def train_with_snapshots(spec, store, steps: Iterable[int] | None = None, *, out_dir=None,
                         **train_kwargs) -> dict:
    """``proxy.train_run`` that also exports the model at ``steps`` (default: every evaluation step,
    the only steps a snapshot can be taken at) and returns the run's sidecar dict. A resumed run
    exports only the steps it still trains through."""
    from bimix.train.proxy import eval_schedule, train_run

    schedule = eval_schedule(spec.config.train)
    steps = schedule if steps is None else sorted(set(int(s) for s in steps))
    missing = sorted(set(steps) - set(schedule))
    if missing:
        raise ExportError(f"snapshots are taken at evaluation steps only; {missing} are not in "
                          f"{schedule}")
    return train_run(spec, store, out_dir=out_dir,
                     on_eval=snapshot_callback(spec, store, steps, out_dir), **train_kwargs)


def open_store_of(sidecar: Mapping):
    """The token store a run was trained on, opened from the cache by its id (no corpus needed)."""
    from bimix.paths import cache_dir
    from bimix.data.tokens import TokenStore

    root = cache_dir() / "stores" / str(sidecar["store_id"])
    if not (root / "meta.json").exists():
        raise ExportError(f"run {sidecar['run']} needs token store {sidecar['store_id']}, not in "
                          f"{cache_dir() / 'stores'}; build it with `python -m bimix tokenize --profile "
                          f"{sidecar['profile']}`")
    return TokenStore(root, read_json(root / "meta.json"))
