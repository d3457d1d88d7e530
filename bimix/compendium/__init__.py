"""Stage 4, compendium: the machinery that turns the stages below into notebooks, figures and a report.

Executing the notebooks with papermill per profile (``reproduce``), the paper-vs-compendium report and
README gallery (``report``), the static site of executed notebooks (``site``, ``site_template/``) and
its checks in a browser (``site_check``), and every figure (``plots``).

May import every stage below it (``bimix.data``, ``bimix.law``, ``bimix.train``) and the top-level
helpers. Nothing below imports it.
"""
