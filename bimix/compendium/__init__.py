"""Stage 4, compendium: the machinery that turns the stages below into notebooks, figures and a report.

Executing the notebooks with papermill per profile (``reproduce``), the paper-vs-compendium report and
README gallery (``report``), the static site of executed notebooks (``site``, ``site_template/``) and
its checks in a browser (``site_check``), every figure (``plots``), and the sliders of notebooks 00, 02,
03 and 06 (``sliders``: views recomputed from committed tables, behind ipywidgets controls). What the
notebooks call around their science: where they write and which run table they read (``notebook``),
the tables they commit with their captions (``tables``), the results JSON each writes (``results``),
the sentences and "What we found" boxes computed from their numbers (``findings``), compute accounting
(``compute``), and the writers that keep an equivalent committed file (``outputs``).

May import every stage below it (``bimix.data``, ``bimix.law``, ``bimix.train``) and the top-level
helpers. Nothing below imports it.
"""
