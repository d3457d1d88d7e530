"""Downstream tasks built from a token store's validation split, in the form ``lm-eval`` loads.

The paper scores its 1B models one-shot on LAMBADA, TriviaQA and WebQuestions, which come
from the Hugging Face Hub. Offline, and for models far too small for question answering, two task
families are built per domain from the store's *validation* documents (never trained on):

``bimix_lastword_<domain>``  LAMBADA-style: a passage with its last word removed; the model must
    produce that word. Scored like ``lambada_openai``: ``acc`` is exact match of the greedy
    continuation (every token of the word is the model's top choice), ``perplexity`` is
    ``exp(-mean log p(word | passage))``.
``bimix_choice_<domain>``   Multiple choice: the first two thirds of a passage, and ``n_choices``
    endings: its own last third, and the last thirds of other passages of the same domain (from
    other documents where the domain has more than one). ``acc`` picks the ending of highest
    log-likelihood, ``acc_norm`` the highest per byte; chance is ``1/n_choices``.

A passage is a window of ``item_tokens`` tokens of one document, so two passages (the one-shot
example and the question) fit in the proxy's context. Windows are cut at stride ``item_tokens``,
decoded, and trimmed to whole words; which windows become items is drawn from
``numpy.random.default_rng([seed, crc32(domain), family])``. Every domain also gets a small ``train``
split (``n_fewshot`` items, disjoint from the test items) that the one-shot example is drawn from.

Output, written atomically into one folder (the YAML names its JSONL by absolute path, which is how
``datasets.load_dataset("json", data_files=...)`` finds them)::

    <folder>/bimix_lastword_books.yaml   data/bimix_lastword_books.{train,test}.jsonl   tasks.json

The same store and settings give the same bytes. ``tasks.json`` lists the tasks and a hash per task
(its JSONL contents and settings, not the folder), which evaluation results record, and the sha256 of
every file beside it (``files``): a folder whose files differ from that record (an emptied or edited
task file) is built again before it is used (:func:`ensure_tasks`).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import re
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bimix.files import atomic_dir, changed_files, read_json, sha256_json, sha256_tree, write_json

TASKS_VERSION = "1"  # bump when the items or YAML a config produces change; older folders are rebuilt
FAMILIES = ("lastword", "choice")
_WORD = re.compile(r"\S+")
_TARGET = re.compile(r"[A-Za-z]{2,}")  # a last-word target: letters only, as in LAMBADA


class TaskBuildError(ValueError):
    """Too little validation text, or settings that cannot make a task."""


@dataclass(frozen=True)
class LocalTaskConfig:
    """Size and shape of the local tasks (one pair of tasks per domain)."""

    item_tokens: int = 60  # tokens per passage window; ≤ (context length - 8) / 2 for one-shot
    # test items per domain and task. 100, not 200: scoring was a fifth of `make reproduce-all`; the
    # seed-to-seed spread of a mixture's average score went from 0.0054 (200) to 0.0071 (100), median
    # over the cpu mixtures, far below the spread between mixtures (0.05-0.07)
    n_items: int = 100
    n_fewshot: int = 16  # items per domain and task in the train split (one-shot examples)
    n_choices: int = 4  # choices per multiple-choice item (1 true + distractors)
    min_context_words: int = 3  # passages with a shorter context are skipped
    seed: int = 0  # item selection and distractor draw

    def __post_init__(self):
        # checked before any folder is made: a bad setting must not leave empty task files behind
        for name, least in (("item_tokens", 1), ("n_items", 1), ("n_fewshot", 1), ("n_choices", 2),
                            ("min_context_words", 0)):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
                raise TaskBuildError(f"local tasks: {name} must be an integer >= {least}, got {value!r}")

    @classmethod
    def for_context(cls, seq_len: int, **overrides) -> "LocalTaskConfig":
        """Settings whose one-shot prompts (two passages) fit in ``seq_len`` tokens."""
        return cls(item_tokens=max(16, (seq_len - 8) // 2), **overrides)


def task_name(family: str, domain: str) -> str:
    return f"bimix_{family}_{domain}"


def split_documents(stream: np.ndarray, eos_id: int) -> list[np.ndarray]:
    """A store's flat token stream (EOS after every document) as a list of documents."""
    stream = np.asarray(stream)
    ends = np.flatnonzero(stream == eos_id)
    starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else np.array([0])
    stops = ends if len(ends) else np.array([len(stream)])
    return [stream[a:b] for a, b in zip(starts, stops) if b > a]


def _passages(docs: list[np.ndarray], decode, n_tokens: int) -> list[tuple[int, int, str]]:
    """(document, window, text) of every full window, text trimmed to whole words at both ends
    (a window may start or stop inside a word or a multi-byte character)."""
    out = []
    for d, ids in enumerate(docs):
        for w, start in enumerate(range(0, len(ids) - n_tokens + 1, n_tokens)):
            text = decode(ids[start:start + n_tokens].tolist())
            words = list(_WORD.finditer(text))
            if len(words) < 3:
                continue
            body = text[words[1].start():words[-2].end()]  # drop the possibly cut first and last words
            if "\ufffd" not in body:
                out.append((d, w, body))
    return out


def _lastword_item(text: str, min_words: int) -> dict | None:
    """Cut the passage after its last letters-only word preceded by a single space."""
    words = list(_WORD.finditer(text))
    for m in reversed(words):
        word = m.group()
        if _TARGET.fullmatch(word) and m.start() > 0 and text[m.start() - 1] == " " \
                and text[m.start() - 2: m.start() - 1] not in (" ", "\n", "\t"):
            context = text[:m.start() - 1]
            if len(_WORD.findall(context)) >= min_words:
                return {"context": context, "target": " " + word}  # the space belongs to the target
            return None
    return None


def _split_continuation(text: str, min_words: int) -> tuple[str, str, str] | None:
    """(context, separator, continuation): the passage cut at the last whitespace before two thirds
    of its length, so continuations are about a third of a passage whatever the domain's words."""
    words = list(_WORD.finditer(text))
    cut = next((i for i in range(len(words) - 1, 0, -1) if words[i].start() <= 2 * len(text) // 3), None)
    if cut is None or cut < min_words or len(words) - cut < 2:
        return None
    return text[:words[cut - 1].end()], text[words[cut - 1].end():words[cut].start()], text[words[cut].start():]


def build_items(docs: list[np.ndarray], decode, domain: str, config: LocalTaskConfig
                ) -> dict[str, dict[str, list[dict]]]:
    """family -> split ('train', 'test') -> items, for one domain."""
    passages = _passages(docs, decode, config.item_tokens)
    out: dict[str, dict[str, list[dict]]] = {}
    need = config.n_items + config.n_fewshot
    key = zlib.crc32(domain.encode("utf-8"))
    for fi, family in enumerate(FAMILIES):
        rng = np.random.default_rng([config.seed, key, fi])
        if family == "lastword":
            cands = [(d, w, item) for d, w, t in passages
                     if (item := _lastword_item(t, config.min_context_words)) is not None]
        else:
            cands = [(d, w, parts) for d, w, t in passages
                     if (parts := _split_continuation(t, config.min_context_words)) is not None]
        if len(cands) < need:
            raise TaskBuildError(f"domain {domain!r}: {len(cands)} usable validation passages of "
                                 f"{config.item_tokens} tokens for {family}, need {need} "
                                 f"(n_items + n_fewshot); lower n_items or item_tokens")
        order = rng.permutation(len(cands))
        chosen = {"train": sorted(order[:config.n_fewshot].tolist()),
                  "test": sorted(order[config.n_fewshot:need].tolist())}
        many_docs = len({d for d, _, _ in cands}) > 1
        out[family] = {}
        for split, idx in chosen.items():
            items = []
            for i in idx:
                d, w, payload = cands[i]
                base = {"id": f"{domain}-{family}-{split}-{len(items)}", "doc": int(d), "window": int(w)}
                if family == "lastword":
                    items.append({**base, **payload})
                    continue
                context, sep, true = payload
                items.append({**base, **_choices(cands, i, context, sep, true, many_docs, rng, config)})
            out[family][split] = items
    return out


def _choices(cands, i, context, sep, true, many_docs, rng, config) -> dict:
    """True continuation plus distractors from other passages (other documents when there are),
    all after the question's own separator, in a random order."""
    d, w, _ = cands[i]
    pool = [j for j, (dj, wj, _) in enumerate(cands)
            if (dj != d if many_docs else abs(wj - w) > 1)]
    picked, seen = [], {true}
    for j in rng.permutation(pool):
        text = cands[int(j)][2][2]
        if text not in seen:
            seen.add(text)
            picked.append(text)
        if len(picked) == config.n_choices - 1:
            break
    if len(picked) < config.n_choices - 1:
        raise TaskBuildError(f"too few distinct distractors for passage {i} of document {d}")
    label = int(rng.integers(config.n_choices))
    choices = picked[:label] + [true] + picked[label:]
    return {"context": context, "choices": [sep + c for c in choices], "label": label}


def _yaml(family: str, name: str, files: dict[str, str]) -> dict:
    common = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": files},
              "training_split": "train", "test_split": "test", "doc_to_text": "context",
              "metadata": {"version": 1.0}}
    if family == "lastword":
        # lm-eval scores a loglikelihood target as given (no delimiter), so the target carries its
        # leading space, as lambada_openai's does; the delimiter only joins the one-shot example
        return {**common, "output_type": "loglikelihood", "doc_to_target": "target",
                "target_delimiter": "",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                                {"metric": "perplexity", "aggregation": "perplexity",
                                 "higher_is_better": False}]}
    # choices carry their own leading whitespace (the passage's separator)
    return {**common, "output_type": "multiple_choice", "doc_to_choice": "choices",
            "doc_to_target": "label", "target_delimiter": "",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]}


def _jsonl(items: list[dict]) -> bytes:
    return "".join(json.dumps(x, ensure_ascii=False, sort_keys=True) + "\n" for x in items).encode("utf-8")


def build_tasks(store, folder: str | Path, config: LocalTaskConfig, *, decode=None,
                domains: tuple[str, ...] | None = None) -> dict:
    """Write every domain's local tasks into ``folder`` (atomically replaced); returns the index
    ``{"tasks": {name: {"family", "domain", "hash", "n_test"}}, "config": ..., "store_id": ...}``.
    ``decode`` maps token ids to text (default: the store's saved tokenizer)."""
    import yaml

    folder = Path(folder).resolve()
    decode = decode or store_decoder(store)
    domains = tuple(domains or store.domains)
    unknown = sorted(set(domains) - set(store.domains))
    if unknown:
        raise TaskBuildError(f"unknown domain(s) {unknown}; the store has: {', '.join(store.domains)}")
    index = {"tasks_version": TASKS_VERSION, "store_id": store.store_id, "config": asdict(config), "tasks": {}}
    with atomic_dir(folder) as tmp:
        (tmp / "data").mkdir()
        for domain in domains:
            docs = split_documents(store.tokens(domain, "valid"), store.eos_id)
            for family, splits in build_items(docs, decode, domain, config).items():
                name = task_name(family, domain)
                blobs = {split: _jsonl(items) for split, items in splits.items()}
                files = {}
                for split, blob in blobs.items():
                    (tmp / "data" / f"{name}.{split}.jsonl").write_bytes(blob)
                    files[split] = str(folder / "data" / f"{name}.{split}.jsonl")
                spec = _yaml(family, name, files)
                (tmp / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=True, allow_unicode=True),
                                                  encoding="utf-8")
                portable = {**spec, "dataset_kwargs": None}
                digest = sha256_json({"version": TASKS_VERSION, "spec": portable,
                                      "data": {s: hashlib.sha256(b).hexdigest() for s, b in blobs.items()}})[:16]
                index["tasks"][name] = {"family": family, "domain": domain, "hash": digest,
                                        "n_test": len(splits["test"]), "n_train": len(splits["train"])}
        index["files"] = sha256_tree(tmp, skip="tasks.json")
        write_json(tmp / "tasks.json", index)
    return index


def store_decoder(store):
    """Token ids -> text with the store's own tokenizer (no ``transformers`` needed)."""
    from tokenizers import Tokenizer

    path = Path(store.root) / "tokenizer" / "tokenizer.json"
    if not path.exists():
        raise TaskBuildError(f"token store {store.root} has no tokenizer/tokenizer.json")
    tok = Tokenizer.from_file(str(path))
    return lambda ids: tok.decode(ids, skip_special_tokens=False)


def task_folder(store, config: LocalTaskConfig) -> Path:
    """Default folder of a store's local tasks: ``$BIMIX_CACHE/tasks/<store id>-<settings hash>``."""
    from bimix.paths import cache_dir

    return cache_dir() / "tasks" / f"{store.store_id}-{sha256_json([TASKS_VERSION, asdict(config)])[:8]}"


def ensure_tasks(store, config: LocalTaskConfig, folder: str | Path | None = None,
                 domains: tuple[str, ...] | None = None) -> tuple[Path, dict]:
    """The folder and index of a store's local tasks, built when missing, built for other domains, or
    when its files are not those its index recorded (a note on stderr says which)."""
    folder = Path(folder or task_folder(store, config))
    index_path = folder / "tasks.json"
    want = tuple(domains or store.domains)
    if index_path.exists():
        index = read_json(index_path)
        have = {v["domain"] for v in index["tasks"].values()}
        if index.get("tasks_version") == TASKS_VERSION and index.get("config") == asdict(config) \
                and index.get("store_id") == store.store_id and set(want) == have:
            recorded = index.get("files")
            changed = changed_files(recorded, sha256_tree(folder, skip="tasks.json")) if recorded else None
            if changed == []:
                return folder, index
            why = f"{folder / changed[0]} is not the file built there" if changed else \
                f"{folder} has no record of its files (built by an older version)"
            print(f"warning: local tasks: {why}; building them again", file=sys.stderr)
    return folder, build_tasks(store, folder, config, domains=want)
