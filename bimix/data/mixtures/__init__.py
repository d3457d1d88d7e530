"""Data mixtures: a share r_i of training tokens per domain, with r_i >= 0 and sum_i r_i = 1 (docs/paper.md#setting).

A :class:`Mixture` is a named, validated, immutable mapping domain -> share plus free-form provenance
(``meta``). Mixtures are small JSON files ``{"name", "weights", "meta"}``:

- the paper's mixtures (docs/paper.md#published-mixtures: Tables 4 and 5 of arXiv 2405.14908, plus the DoGE and
  RegMix weights it compares against at 1B scale) ship in this package's ``pile/`` and
  ``slimpajama/``; read them with :func:`published` or ``load_mixture(name, collection="pile")``;
- corpus-specific mixtures computed by the pipeline (``natural``, ``uniform``, ``se``, ``ce``, ``je``,
  ``vne``, ``doremi``, ``bimix_opt`` ...) live in a folder chosen by the caller
  (:func:`save_named`, :func:`load_named`, :func:`list_named`).

Domain names are the names the data carries: the Pile's ``meta.pile_set_name`` values (so the paper's
"GitHub" row is ``"Github"``), and SlimPajama's short names ``ArXiv, Books, C4, CommonCrawl, GitHub,
StackExchange, Wikipedia`` (``bimix.data.hub`` maps ``RedPajamaArXiv`` etc. onto them).

Conversions: DoReMi's released domain-weight JSON (a flat ``{"domain": weight}`` dict) and the
``probabilities`` list of Hugging Face ``datasets.interleave_datasets``, both directions; and
:func:`largest_remainder`, integer per-domain counts for a sampler.

Modules, one concern each (this file only re-exports their public names):

- :mod:`~bimix.data.mixtures.mixture`: the :class:`Mixture` type, ``MixtureError`` and the validation;
- :mod:`~bimix.data.mixtures.publications`: the published mixtures shipped in ``pile/`` and ``slimpajama/``;
- :mod:`~bimix.data.mixtures.store`: JSON files, named mixtures in a folder, and ``load_mixture``;
- :mod:`~bimix.data.mixtures.baselines`: the ``uniform``, ``natural`` and ``skewed`` mixtures of a corpus;
- :mod:`~bimix.data.mixtures.convert`: DoReMi JSON, ``interleave_datasets`` probabilities, ``largest_remainder``.

Only numpy is imported here; nothing happens at import.
"""

from bimix.data.mixtures.baselines import PILE_BASELINE_RATIO, natural, skewed, uniform
from bimix.data.mixtures.convert import (from_doremi_json, from_interleave_probabilities, largest_remainder,
                                         to_doremi_json, to_interleave_probabilities)
from bimix.data.mixtures.mixture import SUM_TOLERANCE, Mixture, MixtureError
from bimix.data.mixtures.publications import PUBLISHED_DIR, list_published, published
from bimix.data.mixtures.store import list_named, load_mixture, load_named, save_mixture, save_named

__all__ = [
    "MixtureError",
    "Mixture",
    "SUM_TOLERANCE",
    "PUBLISHED_DIR",
    "save_mixture",
    "load_mixture",
    "published",
    "list_published",
    "uniform",
    "natural",
    "skewed",
    "PILE_BASELINE_RATIO",
    "save_named",
    "load_named",
    "list_named",
    "to_doremi_json",
    "from_doremi_json",
    "to_interleave_probabilities",
    "from_interleave_probabilities",
    "largest_remainder",
]
