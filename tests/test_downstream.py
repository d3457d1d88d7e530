"""Downstream evaluation: export to Hugging Face format, local tasks, and lm-eval one-shot scores.

Offline: the tasks are built from the smoke token store's validation split and loaded from files.
Two tiny smoke runs are trained once for the module (one on math only, one on books only), with a
snapshot after the first evaluation step of the math run, so a longer-trained and a domain-matched
model can be compared with the same harness call the command makes.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
import torch

from bimix.train import export, localtasks, proxy
from bimix.cli import main
from bimix.files import read_json
from bimix.profiles import get_profile

SMOKE = get_profile("smoke")  # resolved once, as the CLI and notebooks do

DOMAIN = "math"  # templated text: a few steps on it already give exact matches
N_ITEMS = 40
SMALL = localtasks.LocalTaskConfig(item_tokens=28, n_items=N_ITEMS, n_fewshot=4)


@pytest.fixture(scope="module", autouse=True)
def offline():
    keys = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
    previous = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    yield
    for k, v in previous.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _single_domain(store, domain):
    return {d: float(d == domain) for d in store.domains}


@pytest.fixture(scope="module")
def trained(smoke_store, tmp_path_factory):
    """Two 40-step smoke runs (math only, books only) in one run table; the math run keeps a
    snapshot at its first evaluation step."""
    runs_dir = tmp_path_factory.mktemp("downstream-runs")
    smoke = get_profile("smoke").proxy
    config = dataclasses.replace(smoke, train=dataclasses.replace(smoke.train, steps=40, n_evals=3))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        specs = {}
        for domain in (DOMAIN, "books"):
            spec = proxy.make_spec(SMOKE, f"{domain}_only", smoke_store, config=config,
                                   weights=_single_domain(smoke_store, domain))
            first = proxy.eval_schedule(config.train)[0]
            snaps = [first] if domain == DOMAIN else []
            export.train_with_snapshots(spec, smoke_store, snaps, out_dir=runs_dir, resume=False)
            specs[domain] = spec
    finally:
        torch.set_num_threads(threads)
    return runs_dir, specs


def test_task_files_are_deterministic_and_from_validation(smoke_store, tmp_path):
    a = localtasks.build_tasks(smoke_store, tmp_path / "t", SMALL, domains=(DOMAIN, "code"))
    first = {p.relative_to(tmp_path): p.read_bytes() for p in sorted((tmp_path / "t").rglob("*")) if p.is_file()}
    b = localtasks.build_tasks(smoke_store, tmp_path / "t", SMALL, domains=(DOMAIN, "code"))
    again = {p.relative_to(tmp_path): p.read_bytes() for p in sorted((tmp_path / "t").rglob("*")) if p.is_file()}
    assert a == b and first == again
    assert len(first) == 2 * 2 * 3 + 1  # per task: yaml + train + test jsonl; plus tasks.json
    # the hash does not depend on the folder; the items come from validation text only
    c = localtasks.build_tasks(smoke_store, tmp_path / "elsewhere", SMALL, domains=(DOMAIN, "code"))
    assert {k: v["hash"] for k, v in c["tasks"].items()} == {k: v["hash"] for k, v in a["tasks"].items()}
    decode = localtasks.store_decoder(smoke_store)
    valid = decode(np.asarray(smoke_store.tokens(DOMAIN, "valid")).tolist())
    items = pd.read_json(tmp_path / "t" / "data" / f"bimix_choice_{DOMAIN}.test.jsonl", lines=True)
    assert len(items) == N_ITEMS and set(items["label"]) <= set(range(SMALL.n_choices))
    for _, item in items.head(10).iterrows():
        true = item["choices"][item["label"]]
        assert item["context"] + true in valid
        assert len(set(item["choices"])) == SMALL.n_choices
    words = pd.read_json(tmp_path / "t" / "data" / f"bimix_lastword_{DOMAIN}.test.jsonl", lines=True)
    for context, target in zip(words["context"].head(10), words["target"].head(10)):
        assert target.startswith(" ") and context + target in valid
    with pytest.raises(localtasks.TaskBuildError, match="need"):
        localtasks.build_tasks(smoke_store, tmp_path / "big", dataclasses.replace(SMALL, n_items=10**6),
                               domains=(DOMAIN,))


def test_lm_eval_loads_the_local_tasks(smoke_store, tmp_path):
    from lm_eval.tasks import TaskManager

    index = localtasks.build_tasks(smoke_store, tmp_path / "t", SMALL, domains=(DOMAIN,))
    manager = TaskManager(include_path=str(tmp_path / "t"), include_defaults=False)
    assert set(index["tasks"]) <= set(manager.all_tasks)
    loaded = manager.load([f"bimix_choice_{DOMAIN}"])["tasks"]
    task = next(iter(loaded.values()))
    docs = list(task.test_docs())
    assert len(docs) == N_ITEMS and len(list(task.fewshot_docs())) == SMALL.n_fewshot
    assert task.doc_to_choice(docs[0])[task.doc_to_target(docs[0])].strip()


def test_export_loads_unchanged_with_transformers(trained, smoke_store):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    runs_dir, specs = trained
    spec = specs[DOMAIN]
    sidecar = read_json(proxy.run_paths("smoke", runs_dir)[1] / f"{spec.run_id}.json")
    folder = export.export_final(smoke_store, sidecar, runs_dir)
    first = proxy.eval_schedule(spec.config.train)[0]
    assert sorted(export.exported_steps("smoke", spec.run_id, runs_dir)) == [first, 40]
    with pytest.raises(export.ExportError, match="evaluation steps"):
        export.train_with_snapshots(spec, smoke_store, [3], out_dir=runs_dir)
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert tok.eos_token_id == smoke_store.eos_id and tok.model_max_length == spec.config.model.seq_len
    text = "What is the remainder when 2151 is divided by 4?\n3"
    assert tok.decode(tok(text)["input_ids"]) == text
    net = proxy.build_model(spec.config.model, smoke_store.vocab_size)
    net.load_state_dict(torch.load(export.final_weights("smoke", spec.run_id, runs_dir), weights_only=True))
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, net.eval()(ids).logits, atol=1e-5)


def test_evaluate_command_scores_longer_and_matched_training_better(trained, capsys):
    runs_dir, specs = trained
    math, books = specs[DOMAIN].run_id, specs["books"].run_id
    args = ["evaluate", "--profile", "smoke", "--runs-dir", str(runs_dir), "--domains", DOMAIN,
            "--n-items", str(N_ITEMS), "--threads", "1"]
    assert main(args) == 0
    table = pd.read_csv(runs_dir / "downstream.csv")
    assert list(table.columns) == ["run", "mixture", "seed", "step", "task", "metric", "value", "stderr"]
    first = proxy.eval_schedule(specs[DOMAIN].config.train)[0]
    assert set(zip(table["run"], table["step"])) == {(math, first), (math, 40), (books, 40)}
    assert set(table["task"]) == {f"bimix_lastword_{DOMAIN}", f"bimix_choice_{DOMAIN}"}
    acc = table[table["metric"] == "acc"]
    assert acc["value"].between(0, 1).all() and (acc["stderr"] > 0).any() and acc["stderr"].notna().all()

    def score(run, step, metric, task="lastword"):
        row = table[(table["run"] == run) & (table["step"] == step)
                    & (table["task"] == f"bimix_{task}_{DOMAIN}") & (table["metric"] == metric)]
        return float(row["value"].iloc[0]), float(row["stderr"].iloc[0])

    # exact match of the last word (lambada_openai's acc): the matched model beats the other one
    matched, other = score(math, 40, "acc"), score(books, 40, "acc")
    assert matched[0] > other[0], (matched, other)
    assert 0 < matched[1] < 0.5
    # its perplexity (lower is better) falls with training and is lowest for the matched model
    longer, early, mismatched = (score(math, 40, "perplexity"), score(math, first, "perplexity"),
                                 score(books, 40, "perplexity"))
    assert longer[0] < early[0] and longer[0] < mismatched[0], (longer, early, mismatched)
    assert np.isfinite(longer[1]) and longer[1] > 0
    meta = pd.read_json(runs_dir / "downstream.json", typ="series")
    assert meta["num_fewshot"] == 1 and meta["lm_eval_version"].startswith("0.4.")
    assert set(meta["task_hashes"]) == set(table["task"])
    # a second call finds everything done and evaluates nothing
    stamp = (runs_dir / "downstream.csv").stat().st_mtime_ns
    assert main(args) == 0
    assert (runs_dir / "downstream.csv").stat().st_mtime_ns == stamp


def test_two_worker_processes_write_the_table_one_process_writes(trained):
    """`--workers 2` splits the runs between two single-thread processes: the same rows, the same
    scores, and every (run, step) once."""
    runs_dir, specs = trained
    if not (runs_dir / "downstream.csv").exists():
        pytest.skip("needs the table of test_evaluate_command_scores_longer_and_matched_training_better")
    one = pd.read_csv(runs_dir / "downstream.csv")
    for name in ("downstream.csv", "downstream.json"):
        (runs_dir / name).unlink()
    assert main(["evaluate", "--profile", "smoke", "--runs-dir", str(runs_dir), "--domains", DOMAIN,
                 "--n-items", str(N_ITEMS), "--workers", "2"]) == 0
    two = pd.read_csv(runs_dir / "downstream.csv")
    pd.testing.assert_frame_equal(two, one)
    timings = read_json(runs_dir / "downstream.json")["timings"]
    assert sorted((t["run"], t["step"]) for t in timings) == sorted(set(zip(one["run"], one["step"])))
    assert {t["threads"] for t in timings} == {1}


def test_notebook_draws_the_table_through_the_runner(trained, tmp_path):
    """Notebook 09 on the table the command test wrote (same task settings: nothing is re-scored)."""
    from bimix.compendium import reproduce

    runs_dir, specs = trained
    if not (runs_dir / "downstream.csv").exists():
        pytest.skip("needs the table of test_evaluate_command_scores_longer_and_matched_training_better")
    reproduce.reproduce("smoke", ["09_downstream"], output_dir=tmp_path / "build", figures_dir=tmp_path / "fig",
                        extra={"runs_dir": str(runs_dir), "n_items": N_ITEMS, "domains": DOMAIN, "steps": "all"},
                        progress=False)
    claims = read_json(tmp_path / "build" / "results" / "09_downstream.json")
    assert claims["n_runs"] == 2 and claims["note"] == ""
    assert claims["tasks"] == [f"bimix_choice_{DOMAIN}", f"bimix_lastword_{DOMAIN}"]
    assert claims["steps"] == [proxy.eval_schedule(specs[DOMAIN].config.train)[0], 40]
    assert claims["best_final"] == f"{DOMAIN}_only"
    assert {p.name for p in (tmp_path / "fig").iterdir()} == {
        f"downstream_{k}.{x}" for k in ("average", "tasks") for x in ("pdf", "png")}


def test_rescoring_one_run_with_a_limit_keeps_the_other_runs(trained):
    """`--runs X --limit 5` scores X on fewer documents: a different measurement, which replaces X's
    rows only; the other run's rows stay as they were."""
    runs_dir, specs = trained
    if not (runs_dir / "downstream.csv").exists():
        pytest.skip("needs the table of test_evaluate_command_scores_longer_and_matched_training_better")
    math, books = specs[DOMAIN].run_id, specs["books"].run_id
    before = pd.read_csv(runs_dir / "downstream.csv")
    assert main(["evaluate", "--profile", "smoke", "--runs-dir", str(runs_dir), "--domains", DOMAIN,
                 "--n-items", str(N_ITEMS), "--threads", "1", "--runs", books, "--limit", "5"]) == 0
    after = pd.read_csv(runs_dir / "downstream.csv")
    pd.testing.assert_frame_equal(after[after["run"] == math].reset_index(drop=True),
                                  before[before["run"] == math].reset_index(drop=True))
    rescored = after[after["run"] == books]
    assert set(rescored["task"]) == set(before["task"]) and len(rescored) == len(before[before["run"] == books])
    hashes = read_json(runs_dir / "downstream.json")["task_hashes_by_run"]
    assert all(h.endswith("/limit=5") for h in hashes[books].values())
    assert not any(h.endswith("/limit=5") for h in hashes[math].values())


def test_two_evaluate_processes_on_one_table_keep_both_runs(trained):
    """Two `evaluate` commands started together on one table, one run each: both runs' rows are
    in the table they leave (each merges into what the other wrote, under the folder's lock)."""
    import subprocess
    import sys

    from bimix.paths import REPO_ROOT

    runs_dir, specs = trained
    for name in ("downstream.csv", "downstream.json"):
        (runs_dir / name).unlink(missing_ok=True)
    runs = [specs[DOMAIN].run_id, specs["books"].run_id]
    procs = [subprocess.Popen([sys.executable, "-m", "bimix", "evaluate", "--profile", "smoke", "--runs-dir",
                               str(runs_dir), "--domains", DOMAIN, "--n-items", str(N_ITEMS), "--threads", "1",
                               "--steps", "final", "--limit", "10", "--runs", run],
                              cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for run in runs]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    table = pd.read_csv(runs_dir / "downstream.csv")
    assert set(zip(table["run"], table["step"])) == {(run, 40) for run in runs}
    assert len(table) == 2 * len(table[table["run"] == runs[0]])


def test_evaluate_bad_input_is_one_line(tmp_path, capsys):
    assert main(["evaluate", "--profile", "smoke", "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no run table")
    (tmp_path / "sidecars").mkdir()  # a run table without runs: nothing has a final model
    assert main(["evaluate", "--profile", "smoke", "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no run in") and "saved final model" in err[0]


def test_paper_tasks_are_summarised_by_exact_match():
    """lm-eval's result keys for the paper's tasks (TriviaQA's metric carries its filter) become rows,
    and the figures use exact match (acc for LAMBADA), never perplexity."""
    from bimix.train import evaluate

    results = {"triviaqa": {"alias": "triviaqa", "exact_match,remove_whitespace": 0.1,
                            "exact_match_stderr,remove_whitespace": 0.01},
               "webqs": {"exact_match,none": 0.2, "exact_match_stderr,none": 0.02},
               "lambada_openai": {"acc,none": 0.3, "acc_stderr,none": 0.03, "perplexity,none": 300.0,
                                  "perplexity_stderr,none": 30.0}}
    rows = [{"run": "r", "mixture": "m", "seed": 0, "step": 10, "task": t, **row}
            for t in evaluate.PAPER_TASKS for row in evaluate.results_rows(results, t)]
    assert len(rows) == 4 and {r["metric"] for r in rows} == {"exact_match,remove_whitespace", "exact_match",
                                                              "acc", "perplexity"}
    summary = evaluate.summarise(pd.DataFrame(rows))
    assert dict(zip(summary["task"], summary["value"])) == {"lambada_openai": 0.3, "triviaqa": 0.1, "webqs": 0.2}
    average = evaluate.average_over_tasks(summary)
    assert average["value"].iloc[0] == pytest.approx(0.2)
    assert average["stderr"].iloc[0] == pytest.approx(np.sqrt(0.01**2 + 0.02**2 + 0.03**2) / 3)


def test_what_is_read_back_from_the_cache_is_checked_against_what_wrote_it(trained, smoke_store, tmp_path, capsys):
    # any config.json made an exported folder trusted, final_model.pt and task files were never checked
    from bimix.files import sha256_file

    runs_dir, specs = trained
    spec = specs[DOMAIN]
    sidecar = read_json(proxy.run_paths("smoke", runs_dir)[1] / f"{spec.run_id}.json")
    weights = export.final_weights("smoke", spec.run_id, runs_dir)
    assert sidecar["final_model_sha256"] == sha256_file(weights)
    export.export_final(smoke_store, sidecar, runs_dir)
    steps = export.exported_steps("smoke", spec.run_id, runs_dir)
    assert all(export.export_record(f)["run"] == spec.run_id for f in steps.values())
    final, snapshot = steps[40], steps[min(steps)]
    ck = {"run": spec.run_id, "store": smoke_store}

    # the final export, damaged, is exported again from its checked weights
    model = final / "model.safetensors"
    good = model.read_bytes()
    model.write_bytes(good[: len(good) // 2])
    assert export.verified_export({**ck, "step": 40, "path": final}, sidecar, runs_dir) == final
    assert model.read_bytes() == good
    # a damaged snapshot cannot be made again: refused, naming the file
    blob = snapshot / "model.safetensors"
    kept = blob.read_bytes()
    blob.write_bytes(kept[:100])
    try:
        with pytest.raises(export.ExportError, match=f"{blob} is not the file exported there.*cannot be checked"):
            export.verified_export({**ck, "step": min(steps), "path": snapshot}, sidecar, runs_dir)
    finally:
        blob.write_bytes(kept)
    # final_model.pt that is not the one the sidecar recorded is refused, and not exported
    saved = weights.read_bytes()
    torch.save({"other": torch.zeros(1)}, weights)
    try:
        assert not proxy.final_model_ok(spec, runs_dir)
        model.write_bytes(b"")
        with pytest.raises(proxy.FinalModelMismatch, match=f"{weights} is not the final model of run {spec.run_id}"):
            export.verified_export({**ck, "step": 40, "path": final}, sidecar, runs_dir)
    finally:
        weights.write_bytes(saved)
    assert export.verified_export({**ck, "step": 40, "path": final}, sidecar, runs_dir) == final
    assert model.read_bytes() == good

    # a task file emptied in the cache is built again before use
    folder, index = localtasks.ensure_tasks(smoke_store, SMALL, tmp_path / "tasks", (DOMAIN,))
    task_file = folder / "data" / f"bimix_choice_{DOMAIN}.test.jsonl"
    built = task_file.read_bytes()
    task_file.write_bytes(b"")
    capsys.readouterr()
    assert localtasks.ensure_tasks(smoke_store, SMALL, folder, (DOMAIN,)) == (folder, index)
    assert task_file.read_bytes() == built
    assert f"{task_file} is not the file built there; building them again" in capsys.readouterr().err
