"""Stage 2, law: the BiMix law, its rivals, and what is computed from fitted laws.

The law forms and their fits (``forms``), the paper's protocols on a run table (``protocols``: Table 1
step extrapolation, Table 2 held-out mixtures, leave-one-mixture-out), the same protocols on other
groups' published tables (``public_analysis``), the law against RegMix's regressors (``benchmark``),
per-seed summaries and the reproduction verdicts (``seeds``, ``verdicts``), synthetic runs drawn from a
known law (``synthetic``), the loss-minimising mixture and its naming (``optimize``, ``optimum``), and
the ``fit`` / ``optimize`` commands (``fitcli``).

Pure numerics: numpy, scipy, pandas; no torch. May import the top-level helpers and ``bimix.data``
(run tables, mixtures). Never ``train`` or ``compendium``.
"""
