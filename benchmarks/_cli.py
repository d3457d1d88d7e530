"""Errors of the benchmark scripts end as those of ``python -m bimix`` do.

A script calls ``raise SystemExit(guarded(main))``: an error the command line reports in one line
(:func:`bimix.cli.classify`) prints ``error: ...`` (:func:`bimix.cli.error_line`) and exits 2 for bad
input, 1 for a failure during the work, 130 for Ctrl-C; any other exception is a bug and keeps its
traceback, as does every error under ``--debug`` (anywhere on the line) or ``BIMIX_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from bimix.cli import DEBUG_ENV, classify, error_line


def guarded(main: Callable[[], int | None]) -> int:
    debug = "--debug" in sys.argv[1:] or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    sys.argv[1:] = [a for a in sys.argv[1:] if a != "--debug"]
    try:
        return int(main() or 0)
    except BaseException as exc:  # noqa: BLE001 - classified below; bugs and exits re-raise
        code = None if debug else classify(exc)
        if code is None:
            raise
        print(error_line(exc), file=sys.stderr)
        return code
