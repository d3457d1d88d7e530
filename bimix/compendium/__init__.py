"""Stage 4, compendium: the machinery that turns the stages below into notebooks, figures and a report.

Executing the notebooks with papermill per profile (``reproduce``), the paper-vs-compendium report and
README gallery (``report``), the static site of executed notebooks (``site``, ``site_template/``),
every figure (``plots``), and the sliders of notebooks 00, 02, 03 and 06 (``sliders``: views recomputed from
committed tables, behind ipywidgets controls).

May import every stage below it (``bimix.data``, ``bimix.law``, ``bimix.train``) and the top-level
helpers. Nothing below imports it.
"""
