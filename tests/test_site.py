"""The static site: stripping executed notebooks is deterministic, the site is built from executed
copies without running anything, and its pages pass the browser check (headless Chromium)."""

from __future__ import annotations

import base64
import io

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from bimix.compendium import site


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _executed(root, title="# 00 · A notebook", stderr=True):
    """A notebook as papermill leaves it: timestamps, durations, machine paths, stderr."""
    stamp = {"start_time": "2026-01-01T00:00:00", "end_time": "2026-01-01T00:00:01", "duration": 1.0,
             "status": "completed", "exception": False}
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "papermill": {"parameters": {"figures_dir": f"{root}/figures"}, **stamp}})
    nb.cells = [
        new_markdown_cell(f"{title}\n\nThe law: $L_i(s, r_i) = \\frac{{A_i}}{{r_i^{{\\alpha_i}}}}"
                          "\\left(\\frac{B_i}{s^{\\beta_i}} + C_i\\right)$ and\n\n$$\\sum_i r_i = 1.$$",
                          metadata={"papermill": stamp, "tags": []}),
        new_code_cell(f'figures_dir = "{root}/figures"\npublic_mirror = "/scratch/mirror"', execution_count=7,
                      metadata={"tags": ["injected-parameters"], "papermill": stamp,
                                "execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"}}),
        new_code_cell("plot()", execution_count=9, metadata={"papermill": stamp}, outputs=[
            new_output("stream", name="stdout", text=f"wrote {root}/figures/fig.png\n"),
            *([new_output("stream", name="stderr", text="100%|##########| 3/3 [00:01<00:00]\n")] if stderr else []),
            new_output("stream", name="stdout", text="done\n"),
            new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure size 200x150 with 1 Axes>"}),
            new_output("execute_result", data={"text/plain": "0.5"}, execution_count=9)]),
    ]
    return nb


def test_strip_drops_volatile_metadata_and_is_idempotent(tmp_path):
    nb = _executed("/machine/repo")
    once = site.strip_notebook(nb, root="/machine/repo")
    twice = site.strip_notebook(once, root="/machine/repo")
    assert nbformat.writes(once) == nbformat.writes(twice)
    text = nbformat.writes(once)
    for volatile in ("papermill", "iopub", "2026-01-01", "/machine/repo", "00:01<00:00", "/scratch"):
        assert volatile not in text, volatile
    assert [c.get("execution_count") for c in once.cells] == [None, 1, 2]
    assert once.cells[2].outputs[-1].execution_count == 2
    assert once.cells[1].source == 'figures_dir = "figures"\npublic_mirror = "<a local folder>"'
    assert once.cells[1].metadata == {"tags": ["injected-parameters"]}
    assert once.cells[2].outputs[0].text == "wrote figures/fig.png\ndone\n"  # stdout pieces joined
    # the same executed notebook stripped twice into files gives the same bytes
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(src))
    a = site.write_stripped(src, tmp_path / "a.ipynb", root="/machine/repo").read_bytes()
    b = site.write_stripped(tmp_path / "a.ipynb", tmp_path / "b.ipynb", root="/machine/repo").read_bytes()
    assert a == b


def test_refresh_refuses_a_failed_notebook(tmp_path):
    nb = _executed("/x")
    nb.cells[2].outputs.append(new_output("error", ename="ValueError", evalue="boom", traceback=["ValueError: boom"]))
    (tmp_path / "build" / "smoke" / "notebooks").mkdir(parents=True)
    nbformat.write(nb, str(tmp_path / "build" / "smoke" / "notebooks" / "00_a.ipynb"))
    with pytest.raises(site.SiteError, match="error output"):
        site.refresh_executed("smoke", build_dir=tmp_path / "build", executed_dir=tmp_path / "executed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A two-notebook site built from tracked executed copies only (no build/ folder)."""
    root = tmp_path_factory.mktemp("site")
    executed = root / "executed" / "smoke"
    executed.mkdir(parents=True)
    nbformat.write(_executed(root, "# 00 · The law"), str(executed / "00_law.ipynb"))
    nbformat.write(_executed(root, "# 01 · More", stderr=False), str(executed / "01_more.ipynb"))
    summary = site.build_site("smoke", out=root / "out", build_dir=root / "build", executed_dir=root / "executed",
                              figures_dir=root / "no-figures")
    return summary


def test_site_pages_index_and_navigation(built):
    out = built["out"]
    assert built["pages"] == 3 and built["notebooks"] == ["00_law", "01_more"] and not built["errors"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<a href="00_law.html">00 · The law</a>' in index and "Paper against compendium" in index
    page = (out / "00_law.html").read_text(encoding="utf-8")
    assert 'href="01_more.html"' in page and 'href="index.html"' in page
    assert "require.min.js" not in page and "mermaid" not in page  # nothing from a CDN but, maybe, MathJax
    assert "papermill" not in page and "00:01<00:00" not in page


def test_dom_checks_catch_raw_tex_missing_images_and_errors(tmp_path):
    page = tmp_path / "p.html"
    (tmp_path / "ok.png").write_bytes(b"png")
    good = ('<html><body><p>see <script type="math/tex">x</script></p><img src="ok.png">'
            '<pre>cost = "$5"$</pre></body></html>')
    assert site.dom_problems(good, page) == []
    bad = ('<html><body><p>the law $L = A/r^\\alpha$</p><img src="missing.png"><img src="data:image/png;base64,">'
           '<div data-mime-type="application/vnd.jupyter.stderr"><pre>Traceback (most recent call last):\n'
           'ValueError: boom</pre></div><span class="merror">x</span></body></html>')
    problems = " | ".join(site.dom_problems(bad, page))
    for expected in ("TeX left unrendered", "missing.png does not exist", "empty or corrupt", "error output",
                     "MathJax error"):
        assert expected in problems, expected


@pytest.mark.skipif(site.find_chromium() is None, reason="no Chromium (Debian: apt-get install chromium)")
def test_pages_render_in_headless_chromium(built):
    if not built["mathjax"].startswith("_static/"):
        pytest.skip("no local MathJax (pip install jupyter-server-mathjax); the CDN is unreachable offline")
    page = built["out"] / "00_law.html"
    dom = site.rendered_dom(page)
    assert site.dom_problems(dom, page) == []
    assert dom.count('type="math/tex') >= 2, "MathJax typeset the inline and the display equation"
