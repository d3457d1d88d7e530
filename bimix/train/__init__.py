"""Stage 3, train: everything that trains or runs a model.

Proxy pretraining of one run with per-domain evaluation (``proxy``), the DoReMi Group-DRO proxy
(``doremi``), sweeps of mixtures x seeds in worker processes (``sweep``), export of a checkpoint to a
Hugging Face model folder (``export``), downstream scores with lm-eval (``evaluate``) on the local tasks
built here (``localtasks``), and the proxy-regime study (``regime``).

torch and transformers are imported only here. May import the top-level helpers, ``bimix.data`` and
``bimix.law`` (the regime study scores its pilots with the law's protocols). Never ``compendium``.
"""
