"""``python -m bimix``: every subcommand is listed and has --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bimix.cli import COMMANDS
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
def test_subcommand_help(name):
    result = _run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert f"python -m bimix {name}" in result.stdout


def test_unknown_subcommand_is_an_error():
    result = _run("frobnicate")
    assert result.returncode == 2 and "unknown subcommand 'frobnicate'" in result.stderr
