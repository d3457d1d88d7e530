"""Extractors of the optional domains ``docs`` and ``latex``, read from Debian packages in pure Python."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import Iterator

from bimix.data.sources.artifacts import SourceError
from bimix.data.sources.document import Document, _decode, _doc


def _deb_data_members(deb: Path) -> Iterator[tuple[str, bytes]]:
    """``(path, bytes)`` of every regular file in a ``.deb``'s data archive, read in pure Python.

    A ``.deb`` is an ``ar`` archive whose ``data.tar.*`` member holds the file system tree.
    """
    with open(deb, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise SourceError(f"{deb.name} is not a Debian package (no ar header)")
        while header := fh.read(60):
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                with tarfile.open(fileobj=io.BytesIO(fh.read(size)), mode="r:*") as tf:
                    for member in tf:
                        if member.isfile():
                            yield member.name.lstrip("./"), tf.extractfile(member).read()
                return
            fh.seek(size + size % 2, os.SEEK_CUR)
    raise SourceError(f"{deb.name} has no data.tar member")


_PY_SOURCES = "usr/share/doc/python3.11/html/_sources/"


def _python_doc_documents(deb: Path) -> Iterator[Document]:
    for name, data in _deb_data_members(deb):
        if not (name.startswith(_PY_SOURCES) and name.endswith(".txt")):
            continue
        rel = name[len(_PY_SOURCES):].removesuffix(".txt")
        parts = rel.split("/")
        # a library or C-API page documents one module; the other folders are chapters of one guide
        if len(parts) == 1 or parts[0] in ("library", "c-api"):
            group = rel
        else:
            group = parts[0]
        yield from _doc(f"python-doc/{rel}", _decode(data), f"python-doc/{group}")


_TEX_ROOT = "usr/share/doc/texlive-doc/"


def _latex_documents(deb: Path) -> Iterator[Document]:
    for name, data in _deb_data_members(deb):
        if not name.startswith(_TEX_ROOT):
            continue
        if name.endswith(".tex.gz"):
            data, name = gzip.decompress(data), name[:-3]
        elif not name.endswith(".tex"):
            continue
        rel = name[len(_TEX_ROOT):]
        group = "/".join(rel.split("/")[:2])  # e.g. latex/algorithm2e: the files of one TeX package
        yield from _doc(f"texlive/{rel}", _decode(data), f"texlive/{group}")
