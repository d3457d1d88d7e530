"""A document of the corpus, and the text clean-up every extractor applies before making one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Document:
    id: str  # stable, unique within the domain
    text: str  # UTF-8, "\n" newlines, stripped, non-empty
    group: str  # parts of one work / near-duplicates share a group


def _clean(text: str) -> str:
    """Newlines normalised to ``\\n``, byte-order mark and trailing spaces dropped, stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _decode(data: bytes) -> str:
    # A few old texts are Latin-1; the fallback is deterministic, so the output stays reproducible.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _doc(id: str, text: str, group: str) -> Iterator[Document]:
    text = _clean(text)
    if text:
        yield Document(id=id, text=text, group=group)
