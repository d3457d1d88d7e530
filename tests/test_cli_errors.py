"""The command line's dispatch and its one top-level error handler, in-process.

A user's mistake ends in one line ``error: ...`` and exit code 2 (1 for a failure during the work);
``--debug`` or BIMIX_DEBUG=1 shows the traceback; a bug keeps its traceback.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil

import pytest

from bimix import cli
from bimix.cli import COMMANDS, main


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_every_subcommand_resolves_to_its_modules_entry_points():
    for name, (target, _) in COMMANDS.items():
        add, run = cli.entry_points(name)
        assert run.__module__ == target.split(":")[0] == add.__module__, name
        assert list(inspect.signature(run).parameters) == ["args"], f"{name}: {run.__qualname__}"
        assert list(inspect.signature(add).parameters) == ["parser"], f"{name}: {add.__qualname__}"
    # bimix.train.doremi has a library function run_doremi(profile, store, ...): never the entry point
    assert cli.entry_points("doremi")[1] is importlib.import_module("bimix.train.doremi").run


def test_doremi_runs_its_own_cli_entry_point(bimix_cache, capsys):
    # the library's run_doremi(Namespace) used to crash with "unhashable type: 'Namespace'"
    assert main(["doremi", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in _one_error_line(capsys)


@pytest.mark.parametrize("make_args, expected", [
    (lambda d: ["fit", str(d / "missing.csv")], "No such file or directory"),
    (lambda d: ["fit", str(_mkdir(d / "folder.csv"))], "Is a directory"),
    (lambda d: ["fit", str(_write(d / "empty.csv", b""))], "No columns to parse"),
    (lambda d: ["fit", str(_write(d / "latin1.csv", "run,mixture\nJosé,é\n".encode("latin-1")))],
     "not UTF-8"),
    (lambda d: ["fit", str(_write(d / "neg.csv", b"run,mixture,seed,step,tokens,domain,r,loss\n"
                                                b"a,a,0,1,1,x,0.5,1.0\na,a,0,2,2,x,0.5,-1.0\n"))],
     "loss must be finite and > 0: rows [1]"),
    (lambda d: ["optimize", str(_write(d / "fit.json", b'{"domains": ')), "--step", "10"],
     "fit.json: invalid JSON"),
    (lambda d: ["stats", "--profile", "nope"], "unknown profile 'nope'"),
    (lambda d: ["corpus", "info", "--profile", "nope"], "unknown profile 'nope'"),
    (lambda d: ["entropy", "--profile", "nope"], "--profile 'nope' is neither a profile"),
    (lambda d: ["sweep", "--profile", "nope"], "unknown profile 'nope'"),
], ids=["missing", "directory", "empty", "not-utf8", "numpy-repr", "bad-json", "stats-profile",
        "corpus-profile", "entropy-profile", "sweep-profile"])
def test_user_errors_are_one_line_with_exit_code_2(make_args, expected, bimix_cache, tmp_path, capsys):
    assert main(make_args(tmp_path)) == 2
    err = _one_error_line(capsys)
    assert expected in err
    assert "np.int64" not in err and "np.float64" not in err


def _mkdir(path):
    path.mkdir()
    return path


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("argv, expected", [
    (["train", "--steps", "0"], "--steps must be a positive integer, got 0"),
    (["sweep", "--steps", "-5"], "--steps must be a positive integer, got -5"),
    (["doremi", "--steps", "0"], "--steps must be a positive integer"),
    (["sweep", "--seeds", "0,one"], "--seeds must be comma-separated integers"),
    (["sweep", "--workers", "0"], "--workers must be a positive integer"),
])
def test_bad_option_values_are_usage_errors(argv, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and expected in capsys.readouterr().err


def _unwritable(tmp_path):
    """A folder this process cannot write: without write permission, or /proc when running as root."""
    if os.geteuid() == 0:
        return "/proc/bimix-out"
    folder = tmp_path / "readonly"
    folder.mkdir(mode=0o500)
    return str(folder / "out")


def test_training_refuses_unwritable_outputs_before_any_work(bimix_cache, tmp_path, monkeypatch, capsys):
    out = _unwritable(tmp_path)
    assert main(["train", "--profile", "smoke", "--out", out]) == 2
    assert "run-table folder" in _one_error_line(capsys) and not os.path.exists(out)
    monkeypatch.setenv("BIMIX_CACHE", _unwritable(tmp_path / "c") if os.geteuid() else "/proc/bimix-cache")
    assert main(["sweep", "--profile", "smoke", "--out", str(tmp_path / "runs")]) == 2
    assert "cache folder" in _one_error_line(capsys)
    assert not (tmp_path / "runs" / "runs.csv").exists()


def test_debug_flag_and_environment_show_the_traceback(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "fit", str(tmp_path / "missing.csv")])
    monkeypatch.setenv("BIMIX_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["fit", str(tmp_path / "missing.csv")])


def test_bugs_keep_their_traceback_and_interrupts_exit_130():
    from bimix.profiles import ProfileError
    from bimix.data.tokens import StoreError

    assert cli.classify(TypeError("unhashable type")) is None
    assert cli.classify(KeyError("column")) is None and cli.classify(AttributeError("x")) is None
    assert cli.classify(ProfileError("unknown profile")) == 2 and cli.classify(StoreError("x")) == 1
    assert cli.classify(KeyboardInterrupt()) == 130
    assert cli.error_line(ProfileError("unknown profile 'x'")) == "error: unknown profile 'x'"


def test_corpus_info_on_a_damaged_cache_says_so_and_does_not_rebuild(smoke_corpus, bimix_cache, tmp_path,
                                                                    monkeypatch, capsys):
    shutil.copytree(bimix_cache / "corpus", tmp_path / "corpus")
    monkeypatch.setenv("BIMIX_CACHE", str(tmp_path))
    shard = next((tmp_path / "corpus").glob("*/books/train-*.jsonl"))
    shard.write_text("{}\n", encoding="utf-8")
    assert main(["corpus", "info", "--profile", "smoke"]) == 1
    err = _one_error_line(capsys)
    assert "failed verification" in err and "corpus build" in err and "rebuilding" not in err
    assert shard.read_text(encoding="utf-8") == "{}\n"


def test_mixture_file_whose_name_disagrees_is_refused(tmp_path):
    import json

    from bimix.data.mixtures import Mixture, MixtureError, load_named, save_named

    path = save_named(Mixture("ce", {"a": 0.25, "b": 0.75}), tmp_path)
    obj = json.loads(path.read_text())
    obj["name"] = "se"  # a copied file, renamed but not edited
    path.write_text(json.dumps(obj))
    with pytest.raises(MixtureError, match="names itself 'se', not 'ce'"):
        load_named("ce", tmp_path)


def test_help_texts_name_options_plainly(capsys):
    for argv in (["optimize", "--help"], ["entropy", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    out = capsys.readouterr().out
    assert "kkt: exact optimum of the bimix law" in out
    assert "--profile PROFILE" in out and "--corpus" not in out


# a command interrupted while an asyncio task it started has failed and was never awaited: what nbclient
# leaves when Ctrl-C reaches `reproduce` during a cell that waits on a process pool (a sweep)
_INTERRUPTED_WITH_A_FAILED_TASK = """
import asyncio, sys
from bimix.cli import main
from bimix.compendium import reproduce

def run(args):
    loop = asyncio.new_event_loop()
    async def cell():
        raise RuntimeError("the kernel's KeyboardInterrupt traceback")
    task = loop.create_task(cell())
    loop.run_until_complete(asyncio.sleep(0.05))  # the task fails; nobody retrieves its exception
    loop.close()
    raise KeyboardInterrupt

reproduce.run = run
sys.exit(main(["reproduce", "--profile", "smoke"]))
"""


def test_ctrl_c_with_a_failed_task_left_behind_is_still_one_line():
    import subprocess
    import sys

    from bimix.paths import REPO_ROOT

    done = subprocess.run([sys.executable, "-c", _INTERRUPTED_WITH_A_FAILED_TASK], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "error: interrupted", done.stderr
