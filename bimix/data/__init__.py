"""Stage 1, data: everything that exists before a model is trained.

The embedded mini-pile corpus and its sources (``corpus``, ``sources/``), the paper's datasets streamed
from the Hugging Face hub or read from a local mirror (``hub``), tokenizers and token stores
(``tokens``), mixtures as named files and the entropy-driven mixtures computed from token counts
(``mixtures/``, ``entropy``), the run-table format every training writes (``runs``), and other groups'
published run tables fetched by pin and converted to that format (``public_runs``).

Entropy mixtures live here, not under ``law``: they are computed from token statistics alone, with no
training and no fitted law, like the natural and uniform mixtures beside them.

May import: the top-level helpers (``bimix.files``, ``bimix.paths``, ``bimix.profiles``,
``bimix.provenance``) and this package. Never ``law``, ``train`` or ``compendium``.
"""
