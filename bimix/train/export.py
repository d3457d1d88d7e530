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
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable, Mapping

from bimix.files import atomic_dir, read_json

SNAPSHOT_DIR = "hf"  # under a run's checkpoint folder
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


def export_model(net, tokenizer, folder: str | os.PathLike) -> Path:
    """``save_pretrained`` of a proxy and its tokenizer into ``folder`` (atomically replaced).

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
    return Path(folder)


def export_final(store, sidecar: Mapping, out_dir=None) -> Path:
    """Export a finished run's final weights (from its sidecar) as ``hf/step-<steps>``; reused when
    the folder already exists. Raises ExportError when the run has no final weights in the cache."""
    import torch

    from bimix.profiles import ModelConfig
    from bimix.train.proxy import build_model

    run_id, profile, step = sidecar["run"], sidecar["profile"], int(sidecar["step"])
    folder = step_dir(run_export_root(profile, run_id, out_dir), step)
    if (folder / "config.json").exists():
        return folder
    weights = final_weights(profile, run_id, out_dir)
    if sidecar.get("status") != "complete" or not weights.exists():
        raise ExportError(f"run {run_id} has no final model at {weights}")
    if sidecar.get("store_id") not in (None, store.store_id):
        raise ExportError(f"run {run_id} was trained on store {sidecar['store_id']}, not {store.store_id}")
    model = ModelConfig(**sidecar["model"])
    net = build_model(model, int(sidecar["vocab_size"]), seed=int(sidecar.get("seed", 0)))
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return export_model(net, hf_tokenizer(store, model.seq_len), folder)


def exported_steps(profile: str, run_id: str, out_dir=None) -> dict[int, Path]:
    """step -> exported folder, for every complete export of a run (snapshots and final)."""
    root = run_export_root(profile, run_id, out_dir)
    if not root.is_dir():
        return {}
    out = {}
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / "config.json").exists():
            out[int(match.group(1))] = child
    return dict(sorted(out.items()))


def snapshot_callback(spec, store, steps: Iterable[int], out_dir=None) -> Callable[[int, object], None]:
    """A ``train_run(on_eval=...)`` callback exporting the model at each of ``steps`` it is called at."""
    wanted = set(int(s) for s in steps)
    root = run_export_root(spec.profile, spec.run_id, out_dir)
    tokenizer = hf_tokenizer(store, spec.config.model.seq_len)

    def on_eval(step: int, net) -> None:
        if step in wanted:
            export_model(net, tokenizer, step_dir(root, step))

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
