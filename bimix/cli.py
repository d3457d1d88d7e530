"""Command line: ``python -m bimix SUBCOMMAND ...``.

Each subcommand lives in the module that does the work; that module defines
``add_arguments(parser)`` and ``run(args) -> int``. A module is imported only when its subcommand
runs, so ``--help`` stays fast and torch is loaded only by commands that train.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help), in pipeline order
COMMANDS: dict[str, tuple[str, str]] = {
    "corpus": ("bimix.corpus", "build, verify or describe the embedded mini-pile corpus"),
    "tokenize": ("bimix.tokens", "train/load a tokenizer and build the token store"),
    "stats": ("bimix.tokens", "per-domain statistics table (documents, bytes, tokens)"),
    "entropy": ("bimix.entropy", "SE/JE/CE/VNE entropies per domain and their softmax mixtures (Eq. 12-13)"),
    "train": ("bimix.proxy", "train one proxy model on a mixture, logging every domain's loss"),
    "sweep": ("bimix.sweep", "train the missing proxy runs of mixtures x seeds (idempotent, parallel)"),
    "doremi": ("bimix.doremi", "DoReMi baseline: Group-DRO proxy against a reference run -> mixture"),
    "fit": ("bimix.fitcli", "fit a law (bimix or a rival) to a run table; held-out and extrapolation metrics"),
    "optimize": ("bimix.fitcli", "loss-minimising mixture at a step from a fitted law (exact KKT for bimix)"),
    "convert": ("bimix.runs", "convert public run tables (Data Mixing Laws, RegMix, Olmix) to the run format"),
    "evaluate": ("bimix.evaluate", "one-shot downstream scores of trained proxies with lm-eval (Figs 4, 6, 7)"),
    "reproduce": ("bimix.reproduce", "execute the notebooks of a profile with papermill"),
    "report": ("bimix.report", "paper-vs-compendium table and README gallery from notebook results"),
}


def _top_parser() -> argparse.ArgumentParser:
    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="python -m bimix",
        description="BiMix compendium (arXiv 2405.14908).",
        epilog=f"subcommands:\n{listing}\n\nRun `python -m bimix SUBCOMMAND --help` for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [-h] SUBCOMMAND ...",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown subcommand {name!r}; choose from: {', '.join(COMMANDS)}")
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m bimix {name}", description=help_)
    add = getattr(module, f"add_{name}_arguments", None) or module.add_arguments
    run = getattr(module, f"run_{name}", None) or module.run
    add(parser)
    args = parser.parse_args(rest)
    return int(run(args) or 0)
