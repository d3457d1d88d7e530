"""The corpus domains: which artifacts each one is read from, and :func:`documents`, which reads one.

``documents(domain, paths)`` is the one entry point the corpus builder uses: it verifies the domain's
artifacts again, calls the domain's extractor (:mod:`bimix.data.sources.core_domains`,
:mod:`bimix.data.sources.optional_domains`) or the generator (:mod:`bimix.data.sources.math_generator`), and
returns the documents sorted by id with exact duplicate texts removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from bimix.data.sources.artifacts import ARTIFACTS, Artifact, SourceError, verify_sha256
from bimix.data.sources.core_domains import (_code_documents, _gcide_documents, _kjv_documents, _legal_documents,
                                             _shakespeare_documents, _sotu_documents)
from bimix.data.sources.document import Document
from bimix.data.sources.math_generator import math_documents
from bimix.data.sources.optional_domains import _latex_documents, _python_doc_documents

DOMAINS = ("code", "books", "speeches", "legal", "reference", "math")
OPTIONAL_DOMAINS = ("docs", "latex")


class DomainError(ValueError):
    """An unknown domain was asked for."""


_DOMAIN_ARTIFACTS: dict[str, tuple[str, ...]] = {
    "code": ("sympy",),
    "books": ("shakespeare", "kjv"),
    "speeches": ("sotu",),
    "legal": ("licensedcode",),
    "reference": ("gcide",),
    "math": (),
    "docs": ("python-doc",),
    "latex": ("texlive-science-doc",),
}


def _check_domain(domain: str) -> None:
    if domain not in _DOMAIN_ARTIFACTS:
        raise DomainError(f"unknown domain {domain!r}; known domains: "
                          f"{', '.join(DOMAINS + OPTIONAL_DOMAINS)}")


def artifacts_for(domain: str) -> tuple[Artifact, ...]:
    """The pinned artifacts a domain is read from (empty for the generated ``math``)."""
    _check_domain(domain)
    return tuple(ARTIFACTS[key] for key in _DOMAIN_ARTIFACTS[domain])


def documents(domain: str, artifact_paths: dict[str, Path], *, seed: int = 0,
              math_bytes: int = 16_000_000) -> list[Document]:
    """The documents of one domain, sorted by id, exact duplicate texts removed (first id kept).

    ``artifact_paths`` maps artifact keys (see :data:`ARTIFACTS`) to files from :func:`fetch_artifact`;
    each is verified again before it is read. ``seed`` and ``math_bytes`` only affect ``math``.
    """
    _check_domain(domain)
    paths = {}
    for artifact in artifacts_for(domain):
        if artifact.key not in artifact_paths:
            raise SourceError(f"domain {domain!r} needs artifact {artifact.key!r} ({artifact.requirement}), "
                              f"which was not given")
        path = Path(artifact_paths[artifact.key])
        verify_sha256(path, artifact.sha256)
        paths[artifact.key] = path
    readers: dict[str, Callable[[], Iterable[Document]]] = {
        "code": lambda: _code_documents(paths["sympy"]),
        "books": lambda: [*_shakespeare_documents(paths["shakespeare"]), *_kjv_documents(paths["kjv"])],
        "speeches": lambda: _sotu_documents(paths["sotu"]),
        "legal": lambda: _legal_documents(paths["licensedcode"]),
        "reference": lambda: _gcide_documents(paths["gcide"]),
        "math": lambda: math_documents(seed, math_bytes),
        "docs": lambda: _python_doc_documents(paths["python-doc"]),
        "latex": lambda: _latex_documents(paths["texlive-science-doc"]),
    }
    return _finish(readers[domain](), domain)


def _finish(docs: Iterable[Document], domain: str) -> list[Document]:
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    out = []
    for doc in sorted(docs, key=lambda d: d.id):
        if doc.id in seen_ids:
            raise SourceError(f"domain {domain!r}: duplicate document id {doc.id!r}")
        seen_ids.add(doc.id)
        if doc.text in seen_texts:
            continue
        seen_texts.add(doc.text)
        out.append(doc)
    return out
