"""The static site: stripping executed notebooks is deterministic, the site is built from executed
copies without running anything, and its pages pass the browser check (headless Chromium)."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from bimix.compendium import site, site_check


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
        new_code_cell("plot()", execution_count=9,  # plumbing, its code folded
                      metadata={"papermill": stamp, "jupyter": {"source_hidden": True}}, outputs=[
            new_output("stream", name="stdout", text=f"wrote {root}/figures/fig.png\n"),
            *([new_output("stream", name="stderr", text="\r100%|##########| 3/3 [00:01<00:00]\n"),
               new_output("stream", name="stderr", text=f"/tmp/ipykernel_4711/123.py:5: OutsideSupportWarning: "
                          f"math: r = 0.19 is outside the fitted shares\n  opt = optimize(fit)\n{root}/.venv/lib/"
                          "python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found\n")]
              if stderr else []),
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
    assert once.cells[2].metadata == {"jupyter": {"source_hidden": True}}  # folded in JupyterLab and on the site
    assert once.cells[2].outputs[0].text == "wrote figures/fig.png\ndone\n"  # stdout pieces joined
    # the warnings stay (06's extrapolated share, 00's optimiser), without machine paths or progress bars
    assert once.cells[2].outputs[1].name == "stderr" and once.cells[2].outputs[1].text == (
        "<cell>:5: OutsideSupportWarning: math: r = 0.19 is outside the fitted shares\n"
        "tqdm/auto.py:21: TqdmWarning: IProgress not found\n")
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


# a document whose math Markdown would mangle (_ and * as emphasis, \\ as an escape) if not protected
PAPER = """# The paper

<a id="law"></a>
## The law

$$
L_i = A_i \\, r_i^{-\\alpha_i} * (B_i s^{-\\beta_i} + C_i) \\\\ \\text{and } x_{t+1} * y_{t+1}
$$

with $r_i * s_i$ and $a_i$ and $b_i$; see [the guide](guide.md#the-guide-part) and [the data](../data/README.md).

## Fitting: the *second* section

Back to [the law](#law), the [README](../README.md) and [notebook 01](../notebooks/01_more.ipynb).
"""
GUIDE = """# The guide

## The guide part

[Paper](paper.md#law), [notebook 00](../notebooks/00_law.ipynb), [code](../bimix/law.py),
![a figure](../figures/fig.png)
"""


def test_refresh_without_build_restrips_the_tracked_copies_in_place(tmp_path):
    """No executed notebooks in build/: the tracked copies are stripped again where they are, links
    rewritten for their folder, nothing executed."""
    executed = tmp_path / "executed" / "smoke"
    executed.mkdir(parents=True)
    nbformat.write(_executed("/x"), str(executed / "00_a.ipynb"))
    written = site.refresh_executed("smoke", build_dir=tmp_path / "build", executed_dir=tmp_path / "executed")
    assert written == [executed / "00_a.ipynb"] and "papermill" not in written[0].read_text()


def test_refresh_of_some_notebooks_keeps_the_other_copies(tmp_path):
    """`reproduce --only 05` then refresh: the copy of a notebook not executed this time stays; the copy
    of a notebook that no longer exists in notebooks/ goes."""
    build = tmp_path / "build" / "smoke" / "notebooks"
    build.mkdir(parents=True)
    nbformat.write(_executed("/x"), str(build / "05_fit_law.ipynb"))
    executed = tmp_path / "executed" / "smoke"
    executed.mkdir(parents=True)
    for name in ("07_public_runs.ipynb", "99_removed.ipynb"):
        nbformat.write(_executed("/x"), str(executed / name))
    site.refresh_executed("smoke", build_dir=tmp_path / "build", executed_dir=tmp_path / "executed")
    assert sorted(p.name for p in executed.iterdir()) == ["05_fit_law.ipynb", "07_public_runs.ipynb"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A site of two notebooks and three documents, built from tracked executed copies only (no build/
    folder) in a repository of its own."""
    root = tmp_path_factory.mktemp("site")
    executed = root / "docs" / "executed" / "smoke"
    executed.mkdir(parents=True)
    for folder, name, text in (("docs", "paper.md", PAPER), ("docs", "guide.md", GUIDE),
                               ("data", "README.md", "# Data\n\n[Formats](../docs/paper.md#law)\n"),
                               ("bimix", "law.py", ""), ("", "README.md", "# R\n"), ("figures", "fig.png", "png")):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / name).write_text(text)
    (root / "notebooks").mkdir()
    first = _executed(root, "# 00 · The law")
    first.cells[0].source += "\n\nAs in [the paper](../docs/paper.md#law) and [notebook 01](01_more.ipynb)."
    for name, nb in (("00_law", first), ("01_more", _executed(root, "# 01 · More", stderr=False))):
        nbformat.write(nb, str(root / "notebooks" / f"{name}.ipynb"))
        site.write_stripped(root / "notebooks" / f"{name}.ipynb", executed / f"{name}.ipynb", root=root)
    summary = site.build_site("smoke", out=root / "out", build_dir=root / "build", executed_dir=root / "docs" / "executed",
                              figures_dir=root / "no-figures", root=root)
    return summary


def test_site_pages_index_and_navigation(built):
    out = built["out"]
    assert built["pages"] == 6 and built["notebooks"] == ["00_law", "01_more"] and not built["errors"]
    assert built["documents"] == ["paper.html", "guide.html", "data.html"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<a href="00_law.html">00 · The law</a>' in index and "Paper against compendium" in index
    assert '<a href="paper.html">The paper</a>' in index and '<a href="data.html">Data</a>' in index
    page = (out / "00_law.html").read_text(encoding="utf-8")
    assert 'href="paper.html"' in page and 'href="index.html"' in page
    assert "require.min.js" not in page and "mermaid" not in page  # nothing from a CDN but, maybe, MathJax
    assert "papermill" not in page and "00:01<00:00" not in page


def test_index_says_where_its_verdicts_come_from(tmp_path):
    """Without an execution in build/, the index's verdicts are the committed results: it must not
    name build/ as their source."""
    from bimix.paths import REPO_ROOT

    assert list((REPO_ROOT / "data" / "results" / "cpu").glob("*.json")), "no committed results"
    empty = site._report_html("cpu", tmp_path / "build")
    assert "computed from the committed results in <code>data/results/cpu/</code>" in empty
    (tmp_path / "build" / "cpu" / "results").mkdir(parents=True)
    (tmp_path / "build" / "cpu" / "results" / "05_fit_law.json").write_text("{}")
    assert "computed from <code>build/cpu/results/</code> (a notebook not executed there" in \
        site._report_html("cpu", tmp_path / "build")


def _bottom_nav(page):
    nav = page.split('<nav class="bimix-nav bimix-bottom">')[1].split("</nav>")[0]
    return [href for href in re.findall(r'href="([^"]+)"', nav)]


def test_reading_order_bottom_navigation_and_contents(built):
    """00, docs/paper.md, 01, then the other documents; each page ends with previous / index / next,
    and a page with two h2 headings lists them under their GitHub anchors."""
    out = built["out"]
    read = lambda name: (out / name).read_text(encoding="utf-8")  # noqa: E731
    assert _bottom_nav(read("00_law.html")) == ["index.html", "paper.html"]
    assert _bottom_nav(read("paper.html")) == ["00_law.html", "index.html", "01_more.html"]
    assert _bottom_nav(read("01_more.html")) == ["paper.html", "index.html", "guide.html"]
    assert _bottom_nav(read("data.html")) == ["guide.html", "index.html"]
    paper = read("paper.html")
    toc = paper.split('<nav class="bimix-toc">')[1].split("</nav>")[0]
    assert re.findall(r'href="#([^"]+)"', toc) == ["the-law", "fitting-the-second-section"]
    assert '<h2 id="the-law">' in paper and '<h2 id="fitting-the-second-section">' in paper
    assert '<nav class="bimix-toc">' not in read("guide.html")  # one h2: no list


def test_documents_keep_their_math_and_links_point_at_site_pages(built):
    out = built["out"]
    paper = (out / "paper.html").read_text(encoding="utf-8")
    for math in re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", PAPER, re.S):
        assert html.escape(math, quote=False) in paper, math  # verbatim for MathJax: no <em>, no lost \\
    for href in ("guide.html#the-guide-part", "data.html", "#law", "index.html", "01_more.html"):
        assert f'href="{href}"' in paper, href
    guide = (out / "guide.html").read_text(encoding="utf-8")
    assert 'href="paper.html#law"' in guide and 'href="00_law.html"' in guide
    assert 'class="repo-path" title="bimix/law.py in the repository"' in guide  # not on the site: no dead link
    assert 'src="figures/fig.png"' in guide and (out / "figures" / "fig.png").read_text() == "png"
    # the notebook's links, written in notebooks/ and rewritten for docs/executed/, lead to the pages
    page = (out / "00_law.html").read_text(encoding="utf-8")
    assert 'href="paper.html#law"' in page and 'href="01_more.html"' in page
    # every link of every page resolves, anchors included (the checks that need no browser)
    assert [p for f in sorted(out.glob("*.html")) for p in site_check.dom_problems(f.read_text(), f, rendered=False)] == []


def test_site_check_fails_on_dead_links_and_anchors(built, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(built["out"], out)
    page = out / "guide.html"
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace('href="paper.html#law"', 'href="paper.html#no-such-anchor"')
                    .replace('href="00_law.html"', 'href="../docs/paper.md"')
                    .replace("</main>", '<a href="#nowhere">x</a><p>saved in /home/someone/runs</p>'
                             '<a href="file:///home/someone/repo/docs/paper.md">paper</a><img src="/work/r/f.png">'
                             '<a href="figures/">all figures</a></main>'),
                    encoding="utf-8")
    problems = " | ".join(site_check.dom_problems(page.read_text(encoding="utf-8"), page, rendered=False))
    for expected in ("paper.html#no-such-anchor is dead (no #no-such-anchor in paper.html)",
                     "../docs/paper.md is dead", "#nowhere is dead", "figures/ is dead",
                     "3 machine path(s), e.g. '/home/someone'"):
        assert expected in problems, expected
    assert len(site_check.dom_problems(page.read_text(encoding="utf-8"), page, rendered=False)) == 5


def _export(cells) -> str:
    """A notebook of ``cells`` as a page of the site (the real exporter and template, no site around it)."""
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    body, _ = site._exporter(site.CDN_MATHJAX).from_notebook_node(nb)
    return body


def _code(source, *outputs, hidden=False):
    return new_code_cell(source, execution_count=1, outputs=list(outputs),
                         metadata={"jupyter": {"source_hidden": True}} if hidden else {})


def test_a_plumbing_cell_folds_its_code_and_shows_its_output():
    """A cell with ``jupyter.source_hidden`` (JupyterLab opens it collapsed) shows its code inside a
    closed <details> and its output below it; a scientific cell is shown as it is."""
    page = _export([new_markdown_cell("# T"),
                    _code("shown_step()", new_output("execute_result", data={"text/plain": "0.25"}, execution_count=1)),
                    _code("write_claims()", new_output("stream", name="stdout", text="claims written\n"), hidden=True)])
    visible, hidden = re.split(r'<div[^>]*class="jp-Cell jp-CodeCell', page)[1:]
    assert "<details" not in visible and visible.index("shown_step") < visible.index("0.25")
    assert page.count("<details") == 1
    opening = re.search(r"<details[^>]*>", hidden).group(0)
    assert opening == '<details class="bimix-code">', opening  # closed by default: no `open`
    assert hidden.index(opening) < hidden.index("<summary>show code</summary>") < hidden.index("write_claims") \
        < hidden.index("</details>") < hidden.index("claims written")


def test_empty_outputs_and_silent_sections_are_problems(tmp_path):
    """A section whose visible code shows nothing (a skipped step), a blank Markdown output and an empty
    table fail the check; the opening cells and a folded plumbing cell may stay silent."""
    import pandas as pd

    md, out = new_markdown_cell, new_output
    page = _export([
        md("# T"), _code("steps = 3"),
        md("## Skipped step\nThe fit, when the table exists."), _code("if False:\n    fit()"),
        md("## An empty table"), _code("table", out("execute_result", execution_count=1, data={
            "text/html": pd.DataFrame(columns=["loss"]).to_html(), "text/plain": "Empty DataFrame"})),
        md("## Blank box"), _code("box", out("display_data", data={"text/markdown": "", "text/plain": "<Markdown>"}),
                                  out("stream", name="stdout", text="ok\n")),
        md("## Plumbing"), _code("write_claims()", hidden=True),
        md("## A result"), _code("fit()", out("execute_result", data={"text/plain": "0.5"}, execution_count=1))])
    (tmp_path / "p.html").write_text(page, encoding="utf-8")  # its heading anchors are checked against it
    problems = site_check.dom_problems(page, tmp_path / "p.html", rendered=False)
    assert problems == [
        "p.html: section 'Skipped step' shows no output: its 1 code cell(s) printed and drew nothing",
        "p.html: 1 empty output(s) under 'An empty table', e.g. 'loss'",
        "p.html: section 'An empty table' shows no output: its 1 code cell(s) printed and drew nothing",
        "p.html: 1 empty output(s) under 'Blank box', e.g. ''"], problems


def test_dom_checks_catch_raw_tex_missing_images_and_errors(tmp_path):
    page = tmp_path / "p.html"
    (tmp_path / "ok.png").write_bytes(b"png")
    good = ('<html><body><p>see <script type="math/tex">x</script></p><img src="ok.png">'
            '<pre>cost = "$5"$</pre></body></html>')
    assert site_check.dom_problems(good, page) == []
    bad = ('<html><body><p>the law $L = A/r^\\alpha$</p><img src="missing.png"><img src="data:image/png;base64,">'
           '<div data-mime-type="application/vnd.jupyter.stderr"><pre>Traceback (most recent call last):\n'
           'ValueError: boom</pre></div><span class="merror">x</span></body></html>')
    problems = " | ".join(site_check.dom_problems(bad, page))
    for expected in ("TeX left unrendered", "missing.png does not exist", "empty or corrupt", "error output",
                     "MathJax error"):
        assert expected in problems, expected


@pytest.mark.skipif(site_check.find_chromium() is None, reason="no Chromium (Debian: apt-get install chromium)")
def test_pages_render_in_headless_chromium(built):
    if not built["mathjax"].startswith("_static/"):
        pytest.skip("no local MathJax (pip install jupyter-server-mathjax); the CDN is unreachable offline")
    page = built["out"] / "00_law.html"
    dom = site_check.rendered_dom(page)
    assert site_check.dom_problems(dom, page) == []
    assert dom.count('type="math/tex') >= 2, "MathJax typeset the inline and the display equation"
    # the plumbing cell's code is folded (no `open`) and its figure below the fold, visible
    assert re.findall(r"<details[^>]*>", dom) == ['<details class="bimix-code">']
    assert dom.index("</details>") < re.search(r'<img[^>]*src="data:image/png', dom).start()


def test_check_site_renders_every_page_in_the_browser(built, tmp_path):
    """Every page goes through the browser: a stand-in that serves each page as written (no MathJax)
    is called once per page, and each page with maths is then reported with raw TeX."""
    import sys

    log, fake = tmp_path / "rendered.txt", tmp_path / "chromium"
    fake.write_text(f"#!{sys.executable}\nimport sys\nfrom urllib.parse import unquote, urlparse\n"
                    "page = unquote(urlparse(sys.argv[-1]).path)\n"
                    f"open({str(log)!r}, 'a').write(page + '\\n')\nsys.stdout.buffer.write(open(page, 'rb').read())\n")
    fake.chmod(0o755)
    checked = site_check.check_site(built["out"], chromium=str(fake), jobs=2)
    pages = sorted(p.name for p in built["out"].glob("*.html"))
    assert sorted(Path(line).name for line in log.read_text().split()) == pages and checked.pages == len(pages) == 6
    assert checked.browser and checked.links >= 20
    assert sorted(p.split(":")[0] for p in checked.problems) == ["00_law.html", "01_more.html", "paper.html"]
    assert all("TeX left unrendered" in p for p in checked.problems)


def test_site_check_command_prints_pages_links_and_problems(built, tmp_path, monkeypatch, capsys):
    """`site --check` ends with one line of counts and exits 1 on a problem (here without a browser)."""
    import shutil

    from bimix.cli import main

    out = tmp_path / "out"
    shutil.copytree(built["out"], out)
    monkeypatch.setattr(site, "build_site", lambda *a, **k: {**built, "out": out, "seconds": 0.1})
    monkeypatch.setattr(site_check, "find_chromium", lambda: None)
    assert main(["site", "--profile", "smoke", "--check"]) == 0
    assert re.search(r"^static check: 6 pages, \d+ links, \d+ images, 0 problem\(s\)$", capsys.readouterr().out, re.M)
    page = out / "01_more.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</main>", '<a href="notes.html">x</a></main>'))
    assert main(["site", "--profile", "smoke", "--check"]) == 1
    captured = capsys.readouterr()
    assert "problem: 01_more.html: link notes.html is dead (no notes.html)" in captured.err
    assert re.search(r"^static check: 6 pages, \d+ links, \d+ images, 1 problem\(s\)$", captured.out, re.M)


def test_executed_copies_link_from_their_folder(built):
    """A stripped copy in docs/executed/<profile>/ has its relative links rewritten from notebooks/
    (the paper two folders up, a notebook beside it stays), and stripping it again changes nothing."""
    root = built["out"].parent
    copy = root / "docs" / "executed" / "smoke" / "00_law.ipynb"
    text = nbformat.read(str(copy), as_version=4).cells[0].source
    assert "[the paper](../../paper.md#law)" in text and "[notebook 01](01_more.ipynb)" in text
    assert copy.read_bytes() == site.write_stripped(copy, copy, root=root).read_bytes()


def test_tracked_executed_copies_have_no_dead_link_on_github():
    """The links of every tracked executed notebook resolve from docs/executed/<profile>/ (the link
    checker of test_docs)."""
    from test_docs import _broken_links, _markdown_of

    copies = sorted(site.EXECUTED_DIR.glob("*/*.ipynb"))
    assert copies, "no tracked executed notebooks"
    broken = {p.name: b for p in copies if (b := _broken_links(p, "\n\n".join(_markdown_of(p))))}
    assert not broken, f"dead links in docs/executed: {broken}"
