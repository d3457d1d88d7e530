"""Command line: ``python -m bimix [--debug] SUBCOMMAND ...``.

Each subcommand lives in the module that does the work. The table names its entry points: a module
that serves one subcommand defines ``add_arguments(parser)`` and ``run(args) -> int``; one that serves
several (``"bimix.data.tokens:stats"``) defines ``add_stats_arguments`` and ``run_stats``. Nothing else in
the module is looked up, so a library function such as ``bimix.train.doremi.run_doremi`` can never be taken
for an entry point. A module is imported only when its subcommand runs, so ``--help`` stays fast and
torch is loaded only by commands that train.

Errors: the project's own exception classes and the usual user mistakes (a missing or unreadable file,
invalid JSON or CSV, a bad value) end in one line ``error: ...`` on stderr, exit code 2 for bad input
and 1 for a failure during the work. ``--debug`` (or ``BIMIX_DEBUG=1``) shows the traceback instead.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from typing import Callable, Iterator

# name -> ("module" or "module:verb", one-line help), in pipeline order
COMMANDS: dict[str, tuple[str, str]] = {
    "corpus": ("bimix.data.corpus", "build, verify or describe the embedded mini-pile corpus"),
    "tokenize": ("bimix.data.tokens:tokenize", "train/load a tokenizer and build the token store"),
    "stats": ("bimix.data.tokens:stats", "per-domain statistics table (documents, bytes, tokens)"),
    "entropy": ("bimix.data.entropy", "SE/JE/CE/VNE entropies per domain and their softmax mixtures (Eq. 12-13)"),
    "train": ("bimix.train.proxy", "train one proxy model on a mixture, logging every domain's loss"),
    "sweep": ("bimix.train.sweep", "train the missing proxy runs of mixtures x seeds (idempotent, parallel)"),
    "doremi": ("bimix.train.doremi", "DoReMi baseline: Group-DRO proxy against a reference run -> mixture"),
    "fit": ("bimix.law.fitcli:fit", "fit a law (bimix or a rival) to a run table; held-out and extrapolation metrics"),
    "optimize": ("bimix.law.fitcli:optimize", "loss-minimising mixture at a step from a fitted law (exact KKT for bimix)"),
    "convert": ("bimix.data.runs:convert", "convert public run tables (Data Mixing Laws, RegMix, Olmix) to the run format"),
    "evaluate": ("bimix.train.evaluate", "one-shot downstream scores of trained proxies with lm-eval (Figs 4, 6, 7)"),
    "reproduce": ("bimix.compendium.reproduce", "execute the notebooks of a profile with papermill"),
    "report": ("bimix.compendium.report", "paper-vs-compendium table and README gallery from notebook results"),
    "site": ("bimix.compendium.site", "static HTML site of a profile's executed notebooks, gallery and report (no training)"),
}

DEBUG_ENV = "BIMIX_DEBUG"
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def entry_points(name: str) -> tuple[AddArguments, Run]:
    """``(add_arguments, run)`` of a subcommand, exactly as the table names them."""
    target = COMMANDS[name][0]
    module_name, _, verb = target.partition(":")
    module = importlib.import_module(module_name)
    if verb:
        return getattr(module, f"add_{verb}_arguments"), getattr(module, f"run_{verb}")
    return module.add_arguments, module.run


# options shared by several subcommands, checked once here before any work:
# (what a value must be, predicate); argparse reports a failure as a usage error (exit 2)
# (a string value is another subcommand's option of the same name, e.g. evaluate --steps all|final)
_POSITIVE = ("a positive integer", lambda v: v is None or isinstance(v, str) or v > 0)
COMMON_OPTIONS: dict[str, tuple[str, Callable]] = {
    "steps": _POSITIVE, "workers": _POSITIVE, "threads": _POSITIVE, "num_proc": _POSITIVE,
    "seeds": ("comma-separated integers, e.g. 0,1,2",
              lambda v: v is None or all(x.strip().lstrip("-").isdigit() for x in str(v).split(","))),
}
# subcommands that train: their run-table folder and the checkpoint cache must be writable before
# the first row is written
TRAINING = ("train", "sweep", "doremi")


def check_common_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for dest, (expected, ok) in COMMON_OPTIONS.items():
        value = getattr(args, dest, None)
        if not ok(value):
            parser.error(f"--{dest.replace('_', '-')} must be {expected}, got {value}")


def check_outputs_writable(args: argparse.Namespace) -> None:
    """The run-table folder (``--out`` or data/runs/PROFILE) and the cache, before training starts."""
    from bimix.files import check_writable
    from bimix.paths import RUNS_DIR, cache_dir

    table_dir = check_writable(args.out or RUNS_DIR / args.profile.name, "run-table folder")
    if (table_dir / "runs.csv").exists() and not os.access(table_dir / "runs.csv", os.W_OK):
        raise PermissionError(f"run table {table_dir / 'runs.csv'} is not writable")
    check_writable(cache_dir() / "checkpoints", "cache folder ($BIMIX_CACHE)")


def _top_parser() -> argparse.ArgumentParser:
    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="python -m bimix",
        description="BiMix compendium (arXiv 2405.14908).",
        epilog=(f"subcommands:\n{listing}\n\nRun `python -m bimix SUBCOMMAND --help` for details.\n"
                f"--debug (anywhere on the line) or {DEBUG_ENV}=1 shows the traceback of an error."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [-h] [--debug] SUBCOMMAND ...",
    )


# ------------------------------------------------------------------------------------------ errors

def _is_project_error(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] == "bimix" for cls in type(exc).__mro__)


def _user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [FileNotFoundError, PermissionError, IsADirectoryError,
                                         NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError,
                                         ValueError]
    pandas = sys.modules.get("pandas")  # only when the command loaded it
    if pandas is not None:
        types += [pandas.errors.EmptyDataError, pandas.errors.ParserError]
    return tuple(types)


def classify(exc: BaseException) -> int | None:
    """Exit code for an exception the handler reports in one line; None for a bug (traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if _is_project_error(exc):
        return EXIT_BAD_INPUT if isinstance(exc, (ValueError, KeyError)) else EXIT_FAILED
    if isinstance(exc, _user_error_types()):
        return EXIT_BAD_INPUT
    if isinstance(exc, OSError):  # disk full, I/O error: the work failed, the code did not
        return EXIT_FAILED
    return None


def error_line(exc: BaseException) -> str:
    """One line: ``error: <message>``, with the file named where the exception knows it."""
    if isinstance(exc, KeyboardInterrupt):
        return "error: interrupted"
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {exc.filename}"
    elif isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # str(KeyError) would quote the message
    else:
        text = str(exc) or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        text = f"not UTF-8 text ({text})"
    lines = [line for line in text.splitlines() if line.strip()]
    text = lines[0] + (f" (and {len(lines) - 1} more line(s))" if len(lines) > 1 else "") if lines else text
    return f"error: {text}"


@contextlib.contextmanager
def _plain_numbers() -> Iterator[None]:
    """numpy >= 2 writes a scalar as ``np.float64(0.5)``; messages show numbers as ``0.5``."""
    import numpy

    with numpy.printoptions(legacy="1.25") if int(numpy.__version__.split(".")[0]) >= 2 \
            else contextlib.nullcontext():
        yield


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else EXIT_BAD_INPUT
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown subcommand {name!r}; choose from: {', '.join(COMMANDS)}")
    add, run = entry_points(name)
    parser = argparse.ArgumentParser(prog=f"python -m bimix {name}", description=COMMANDS[name][1])
    add(parser)
    takes_profile = any("--profile" in a.option_strings for a in parser._actions)
    if takes_profile:
        parser.add_argument("--config", default=None, metavar="FILE.toml",
                            help="a TOML file naming a base profile and overriding its fields "
                                 "(docs: bimix/config.py); replaces --profile")
    args = parser.parse_args(rest)
    if takes_profile:
        try:
            resolve_profile(args)
        except (ValueError, KeyError) as exc:  # ConfigError, ProfileError: the first error to report
            print(error_line(exc), file=sys.stderr)
            return EXIT_BAD_INPUT
    check_common_options(parser, args)
    try:
        if name in TRAINING:
            check_outputs_writable(args)
        with _plain_numbers():
            return int(run(args) or 0)
    except BaseException as exc:  # noqa: BLE001 - classified below; bugs re-raise
        code = None if debug else classify(exc)
        if code is None:
            raise
        if code == EXIT_INTERRUPTED:
            # the interrupted work may leave asyncio tasks that failed with it (nbclient's cell task holds
            # the kernel's KeyboardInterrupt traceback); asyncio logs those at exit as "Task exception
            # was never retrieved", a traceback after the one line
            import logging

            logging.getLogger("asyncio").disabled = True
        print(error_line(exc), file=sys.stderr)
        return code


def resolve_profile(args: argparse.Namespace) -> None:
    """The one place a command's ``--profile`` (or ``--config``) becomes a :class:`bimix.profiles.Profile`:
    ``args.profile`` is replaced by the resolved object, which the subcommand passes down. A subcommand
    whose ``--profile`` may also name a folder sets ``profile_or_path``; an unknown name then stays a
    string and ``args.base_profile`` is the profile a folder is built with (cpu)."""
    from bimix.config import load_config
    from bimix.profiles import ProfileError, get_profile, register

    if args.config:
        args.profile = register(load_config(args.config))
        return
    try:
        args.profile = get_profile(args.profile)
    except ProfileError:
        if not getattr(args, "profile_or_path", False):
            raise
        args.base_profile = get_profile("cpu")
