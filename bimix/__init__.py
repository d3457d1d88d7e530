"""BiMix compendium: a bivariate data mixing law for language model pretraining (arXiv 2405.14908).

Logic lives here; the notebooks in ``notebooks/`` tell the story. Importing this package does nothing
beyond defining names: no seeds, no logging set-up, no plotting styles.
"""

__version__ = "0.1.0"
