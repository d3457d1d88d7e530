"""``python -m bimix``: every subcommand is listed and has --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bimix.cli import COMMANDS, main
from bimix.paths import REPO_ROOT


def _run(*args):
    return subprocess.run([sys.executable, "-m", "bimix", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_every_subcommand():
    result = _run("--help")
    assert result.returncode == 0
    for name in ("corpus", "tokenize", "reproduce", *COMMANDS):
        assert f"  {name} " in result.stdout, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_subcommand_help(name, capsys):
    # in this process (the top-level help above runs the real command line): a subprocess per verb
    # spent most of its seconds importing torch again
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m bimix {name}") and COMMANDS[name][1] in " ".join(out.split())


def test_unknown_subcommand_is_an_error():
    result = _run("frobnicate")
    assert result.returncode == 2 and "unknown subcommand 'frobnicate'" in result.stderr
