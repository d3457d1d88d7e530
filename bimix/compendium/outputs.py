"""Committed outputs that reproduce on any machine: a file is rewritten only when what it shows changed.

A fit's last bits depend on the processor (the BLAS and SIMD kernels numpy and OpenBLAS pick for it)
and on the order of floating-point reductions. Measured here: notebook 00 run with numpy's AVX-512
kernels and OpenBLAS's SkylakeX kernels, then with both held to AVX2 (``NPY_DISABLE_CPU_FEATURES``,
``OPENBLAS_CORETYPE=Haswell``), gives results that differ by up to 3e-8 relative in derived numbers
(differences of nearly equal losses) and PDF coordinates that differ in their 10th decimal. Rounding
alone cannot hide that: a value near a rounding boundary flips whatever the number of digits kept. So
instead of comparing bytes, a regenerated output is compared with the committed one, and the
committed file is kept when the two are equivalent:

- **text** (markdown tables, JSON extracts): the same text once every number is masked, every integer
  the same, and every decimal number within one unit of its last printed digit of the committed one
  (:func:`texts_equivalent`);
- **figures**: the PNG renderings have the same size and no channel of any pixel differs by more than
  ``PIXEL_TOLERANCE`` (8/255, invisible; measured: at most 2/255 between two processors); then neither the PNG nor its PDF is rewritten
  (:func:`images_equivalent`).

A real change (another number in a table, a curve that moved, a new label) exceeds both tolerances
and is written. Each writer says whether it wrote (``True``) or kept the committed file (``False``).
"""

from __future__ import annotations

import io
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bimix.files import atomic_path

PIXEL_TOLERANCE = 8  # of 255 (3 %, invisible): the largest channel difference of two equivalent renderings
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def _last_digit_unit(text: str) -> Decimal:
    """One unit of the last printed digit of a number as written: ``0.00178829`` → 1e-8, ``1.5e-05``
    → 1e-6, ``300`` → 1."""
    value = Decimal(text)
    return Decimal(1).scaleb(value.as_tuple().exponent)


def texts_equivalent(old: str, new: str) -> bool:
    """Whether ``new`` says what ``old`` says: identical once numbers are masked, and each number within
    one unit of the last printed digit (the larger of the two units) of its counterpart."""
    if _NUMBER.sub("#", old) != _NUMBER.sub("#", new):
        return False
    for a, b in zip(_NUMBER.findall(old), _NUMBER.findall(new)):
        if a == b:
            continue
        if not any(c in a + b for c in ".eE"):  # integers (counts, steps, seeds) must match exactly
            return False
        try:
            if abs(Decimal(a) - Decimal(b)) > max(_last_digit_unit(a), _last_digit_unit(b)):
                return False
        except InvalidOperation:
            return False
    return True


def write_text(path: str | os.PathLike, text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds an equivalent text; True when written."""
    path = Path(path)
    if path.is_file():
        try:
            if texts_equivalent(path.read_text(encoding="utf-8"), text):
                return False
        except UnicodeDecodeError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


def images_equivalent(old_png: bytes, new_png: bytes, tolerance: int = PIXEL_TOLERANCE) -> bool:
    """Whether two PNG renderings are the same picture: same size, no channel differing by more than
    ``tolerance`` levels of 255."""
    if old_png == new_png:
        return True
    import numpy as np
    from matplotlib import image

    try:
        a = image.imread(io.BytesIO(old_png), format="png")
        b = image.imread(io.BytesIO(new_png), format="png")
    except (OSError, ValueError, SyntaxError):  # a damaged committed file is replaced
        return False
    if a.shape != b.shape:
        return False
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) * 255 <= tolerance + 0.5
