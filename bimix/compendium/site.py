"""A static site of a profile's executed notebooks: one HTML page per notebook, and an index with the
figure gallery and the paper-vs-compendium table. Nothing is trained or executed here.

Source: the papermill outputs in ``build/<profile>/notebooks/`` (written by ``python -m bimix
reproduce``), or, when there are none, the tracked copies in ``docs/executed/<profile>/`` that let a
reader of a fresh clone see the results without running anything. Those tracked copies are the
executed notebooks stripped of what changes from one execution to the next without changing a result
(:func:`strip_notebook`: timestamps, durations, papermill's metadata, machine paths, stderr; relative links rewritten for their
folder), so that
stripping again is byte-identical and a diff shows only changed results.

The site also holds every Markdown document of ``docs/`` and ``data/README.md``, rendered by the same
exporter as a one-cell notebook (nbconvert's ``mistune`` renderer, which keeps ``$...$`` and ``$$...$$``
intact for MathJax), and every relative link between notebooks, documents and figures is rewritten to
the site's pages (:func:`_finish_page`); pages carry previous/index/next links in reading order and a
contents list of their ``h2`` headings, whose ids are GitHub's anchors. A plumbing cell (cell metadata
``jupyter.source_hidden``, collapsed in JupyterLab) shows its code folded under "show code", its
outputs in view. The tracked executed copies get
their relative links rewritten to resolve from ``docs/executed/<profile>/`` (:func:`relink_markdown`).

Pages are rendered by ``nbconvert`` (the ``lab`` template, extended in ``bimix/compendium/site_template/``):
it is the Jupyter project's own renderer, already installed with JupyterLab, it renders outputs exactly
as the notebook stores them, and its pages typeset the notebooks' LaTeX with MathJax. The template
drops the CDN scripts the notebooks do not use (require.js, mermaid) and MathJax is copied into the
site from the ``jupyter-server-mathjax`` package (or Debian's ``libjs-mathjax``) when either is
installed, so the site works offline; otherwise pages load MathJax from its CDN.

The site is built in a temporary folder beside ``--out`` and renamed into place only when every page
was written, so a failure (a corrupt notebook, Ctrl-C) leaves the previous site as it was. A site
carries a marker file (:data:`SITE_MARKER`); an existing ``--out`` is replaced only when it holds a
previous site (or nothing), never when it holds anything else, and a path git tracks is refused.
``--check`` then checks every page (:mod:`bimix.compendium.site_check`).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bimix.files import atomic_dir, atomic_path, git_tracked, read_json, write_json
from bimix.paths import BUILD_DIR, FIGURES_DIR, NOTEBOOKS_DIR, REPO_ROOT

EXECUTED_DIR = REPO_ROOT / "docs" / "executed"
TEMPLATE_DIR = Path(__file__).resolve().parent / "site_template"
CDN_MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe"
# Cell metadata papermill and Jupyter write at every execution; none of it is a result.
_VOLATILE_CELL_KEYS = ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled")


SITE_MARKER = ".bimix-site"  # written into every site; only a folder holding it is ever replaced
# what an unmarked site of an older version holds; accepted in the default build/site/<profile> only
_LEGACY_SITE = re.compile(r"[^/]+\.html|figures|_static")


class SiteError(RuntimeError):
    """The site could not be built (missing or failed notebooks, no browser)."""


class SiteTargetError(SiteError, ValueError):
    """``--out`` names a folder the site must not replace; nothing was written."""


# --------------------------------------------------------------------------------------------------
# Executed notebooks stripped of volatile metadata.

def _relative_paths(text: str, root: Path = REPO_ROOT) -> str:
    """Absolute paths inside the repository written relative to it (``/home/x/bimix/figures`` ->
    ``figures``), others under the home folder from ``~`` (the cache): the same on every machine."""
    prefix = str(root).rstrip("/")
    text = re.sub(re.escape(prefix) + r"(/|\b)", lambda m: "" if m.group(1) == "/" else ".", text)
    home = str(Path.home()).rstrip("/")
    return re.sub(re.escape(home) + r"(?=/|\b)", "~", text) if len(home) > 1 else text


_OUTSIDE_PATH_VALUE = re.compile(r'^(\w+ = )"/[^"\n]*"', re.M)  # name = "/absolute/path", after _relative_paths


# the target of a Markdown link or image, "](target)", and of an href/src attribute in raw HTML
_LINK_TARGETS = (re.compile(r"(\]\(\s*<?)([^)\s>]+)()"), re.compile(r"(\b(?:href|src)=\")([^\"]*)(\")"))
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # http:, data:, mailto:, protocol-relative


def _sub_links(text: str, new_target, markdown: bool = True) -> str:
    """``text`` with every relative link target (not ``#anchor`` alone) replaced by
    ``new_target(path, suffix)`` (``suffix``: ``?query#anchor``); None keeps it. ``markdown``: Markdown
    links too, not only HTML attributes."""
    def sub(m):
        target = m.group(2)
        if not target or target.startswith("#") or _SCHEME.match(target):
            return m.group(0)
        cut = min((i for i in (target.find("?"), target.find("#")) if i >= 0), default=len(target))
        replaced = new_target(target[:cut], target[cut:])
        return m.group(0) if replaced is None else m.group(1) + replaced + m.group(3)

    for pattern in _LINK_TARGETS[0 if markdown else 1:]:
        text = pattern.sub(sub, text)
    return text


def _repo_file(base: Path, path: str, root: Path) -> Path | None:
    """``base/path`` when it is an existing file or folder inside ``root``, else None."""
    from urllib.parse import unquote

    dest = Path(os.path.normpath(Path(base) / unquote(path)))
    return dest if dest.is_relative_to(Path(root)) and dest.exists() else None


def relink_markdown(text: str, from_dir: Path, to_dir: Path, root: Path = REPO_ROOT) -> str:
    """Relative links of Markdown written in ``from_dir`` rewritten to resolve from ``to_dir``
    (``../docs/paper.md`` from ``notebooks/`` is ``../../paper.md`` from ``docs/executed/cpu/``). A link
    to a notebook beside ``from_dir``'s stays as it is: the executed copies sit side by side too. Only
    links to files that exist from ``from_dir`` change, so relinking again is a no-op."""
    from_dir, to_dir = Path(os.path.normpath(from_dir)), Path(os.path.normpath(to_dir))
    if from_dir == to_dir:
        return text

    def new_target(path, suffix):
        dest = _repo_file(from_dir, path, root)
        if dest is None or (dest.parent == from_dir and dest.suffix == ".ipynb"):
            return None
        return Path(os.path.relpath(dest, to_dir)).as_posix() + suffix

    return _sub_links(text, new_target)


def strip_notebook(nb: "nbformat.NotebookNode", root: Path = REPO_ROOT,
                   relink: tuple[Path, Path] | None = None) -> "nbformat.NotebookNode":
    """A copy of an executed notebook without what differs between two executions of the same code
    on the same data: papermill's notebook and cell metadata (parameters with machine paths,
    timestamps, durations), execution timestamps, empty tag lists, what stderr holds besides Python
    warnings (progress bars, logging; the warnings stay, without machine paths: :func:`warnings_only`);
    consecutive stdout pieces joined; execution counts
    renumbered 1, 2, … in cell order; repository paths made relative, other absolute folders given as
    parameters replaced by ``<a local folder>``; papermill's inserted cell gets a
    fixed id. ``relink`` (from folder, to folder): the relative links of Markdown cells and Markdown or
    HTML outputs rewritten for a copy in the second folder (:func:`relink_markdown`). What a reader's
    view depends on stays: tags and ``jupyter.source_hidden`` (a plumbing cell's code folded, in
    JupyterLab and on the site). Idempotent."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    count = 0
    for cell in nb.cells:
        for key in _VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if not cell.metadata.get("tags", True):
            cell.metadata.pop("tags")
        cell.source = _relative_paths(cell.source, root)
        if relink and cell.cell_type == "markdown":
            cell.source = relink_markdown(cell.source, *relink, root=root)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill draws a random id for the cell it inserts
            # a folder given as a parameter outside the repository (a local mirror, a scratch folder) says
            # nothing to a reader elsewhere and differs per machine
            cell.source = _OUTSIDE_PATH_VALUE.sub(r'\1"<a local folder>"', cell.source)
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is not None:
            count += 1
            cell.execution_count = count
        outputs, stderr = [], ""
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                if out.name == "stderr":
                    stderr += out.text
                    continue
                out.text = _relative_paths(out.text, root)
                if outputs and outputs[-1].output_type == "stream":  # one block however it was flushed
                    outputs[-1].text += out.text
                    continue
            elif out.output_type in ("execute_result", "display_data"):
                if out.output_type == "execute_result":
                    out.execution_count = cell.execution_count
                for mime in ("text/plain", "text/html", "text/markdown"):
                    if mime in out.get("data", {}):
                        out.data[mime] = _relative_paths(out.data[mime], root)
                        if relink and mime != "text/plain":
                            out.data[mime] = relink_markdown(out.data[mime], *relink, root=root)
            outputs.append(out)
        if warned := warnings_only(stderr, root):  # after what the cell printed, before what it showed
            at = next((i + 1 for i in range(len(outputs) - 1, -1, -1) if outputs[i].output_type == "stream"), 0)
            outputs.insert(at, nbformat.v4.new_output("stream", name="stderr", text=warned))
        cell.outputs = outputs
    return nb


# Python's warning line, "FILE:LINE: CATEGORY: message", then (optionally) the line of code it names
_WARNING = re.compile(r"^(?P<file>[^\r\n]+?):(?P<line>\d+): (?P<category>\w*Warning): (?P<message>[^\r\n]*)$"
                      r"(?:\n  [^\r\n]*$)?", re.MULTILINE)
_SITE_PACKAGES = re.compile(r"^.*/site-packages/")


def warnings_only(stderr: str, root: Path = REPO_ROOT) -> str:
    """The warnings in a cell's stderr, one line each, with the file each names said without a machine
    path (``<cell>`` for the notebook's own cells, ``package/module.py`` for installed code); progress
    bars, logging and the quoted code lines are left out, so two executions give the same text."""
    lines = []
    for m in _WARNING.finditer(stderr.replace("\r", "\n")):
        where = m["file"]
        if re.match(r"^/tmp/ipykernel_\d+/", where):
            where = "<cell>"
        elif _SITE_PACKAGES.match(where):
            where = _SITE_PACKAGES.sub("", where)
        else:
            where = _relative_paths(where, root)
            where = where if not Path(where).is_absolute() else Path(where).name
        lines.append(f"{where}:{m['line']}: {m['category']}: {_relative_paths(m['message'], root)}\n")
    return "".join(dict.fromkeys(lines))


def write_stripped(source: Path, target: Path, root: Path = REPO_ROOT) -> Path:
    """``source`` stripped into ``target``, its links rewritten from ``notebooks/`` to ``target``'s folder."""
    import nbformat

    nb = strip_notebook(nbformat.read(str(source), as_version=4), root,
                        relink=(Path(root) / "notebooks", Path(target).resolve().parent))
    with atomic_path(target) as tmp:
        tmp.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return target


def refresh_executed(profile: str, build_dir: Path = BUILD_DIR, executed_dir: Path = EXECUTED_DIR) -> list[Path]:
    """Copy ``build/<profile>/notebooks/*.ipynb`` into ``docs/executed/<profile>/``, stripped; a
    notebook that failed (an error output) is refused, since the folder is what a reader trusts. The
    copies of notebooks not executed this time stay; that of a notebook removed from notebooks/ goes.
    Without executed notebooks in ``build/``, the tracked copies are stripped again in place (what a
    change of :func:`strip_notebook` needs), nothing re-executed."""
    import nbformat

    source = Path(build_dir) / profile / "notebooks"
    notebooks = sorted(source.glob("*.ipynb")) or sorted((Path(executed_dir) / profile).glob("*.ipynb"))
    if not notebooks:
        raise SiteError(f"no executed notebooks in {source} nor in {Path(executed_dir) / profile}; "
                        f"run `python -m bimix reproduce --profile {profile}`")
    for path in notebooks:
        errors = error_cells(nbformat.read(str(path), as_version=4))
        if errors:
            raise SiteError(f"{path.name} has error output in cell(s) {errors}; not copied")
    target = Path(executed_dir) / profile
    target.mkdir(parents=True, exist_ok=True)
    written = [write_stripped(p, target / p.name) for p in notebooks]
    # a copy whose notebook was not executed this time (``reproduce --only``) is kept; only the copy of
    # a notebook that no longer exists in notebooks/ goes
    for stale in set(target.glob("*.ipynb")) - set(written):
        if not (NOTEBOOKS_DIR / stale.name).exists():
            stale.unlink()
    return written


def error_cells(nb) -> list[int]:
    """Indices of the cells with an error output (or papermill's error marker)."""
    bad = []
    for i, cell in enumerate(nb.cells):
        outs = cell.get("outputs", [])
        if any(o.output_type == "error" for o in outs) or "papermill-error-cell-tag" in cell.metadata.get("tags", []):
            bad.append(i)
    return bad


# --------------------------------------------------------------------------------------------------
# The site.

@dataclass(frozen=True)
class Page:
    name: str  # notebook stem, or the document's path in the repository (docs/paper.md)
    title: str  # the notebook's or document's first heading
    href: str  # file name in the site
    source: str = ""  # what the page renders, relative to the repository (notebooks/00_x.ipynb, docs/paper.md)


# after the notebooks, in this order; others alphabetically after them (docs/paper.md follows notebook 00)
_DOC_ORDER = ("docs/guide.md", "docs/glossary.md", "docs/gallery.md", "docs/run_tables.md", "data/README.md",
              "docs/install.md", "docs/reliability.md", "docs/architecture.md")
_FIRST_DOC = "docs/paper.md"


def _documents(root: Path) -> list[Path]:
    """The Markdown documents the site renders: ``docs/*.md`` and ``data/README.md``, in reading order."""
    docs = sorted(Path(root).glob("docs/*.md")) + [p for p in [Path(root) / "data" / "README.md"] if p.is_file()]
    rank = {name: k for k, name in enumerate((_FIRST_DOC, *_DOC_ORDER))}
    return sorted(docs, key=lambda p: (rank.get(p.relative_to(root).as_posix(), len(rank)), p.name))


def _doc_href(rel: str) -> str:
    """The site page of a document: docs/paper.md -> paper.html, data/README.md -> data.html."""
    folder, _, name = rel.rpartition("/")
    return ("data" if name == "README.md" and folder == "data" else Path(name).stem) + ".html"


def _reading_order(notebooks: list[Page], docs: list[Page]) -> list[Page]:
    """Notebook 00, docs/paper.md, the other notebooks, then the other documents."""
    first = [d for d in docs if d.source == _FIRST_DOC]
    rest = [d for d in docs if d.source != _FIRST_DOC]
    return notebooks[:1] + first + notebooks[1:] + rest


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_HEADING_TAG = re.compile(r"<h([1-6])((?:\s[^>]*)?)>(.*?)</h\1>", re.S)
_ANCHOR_LINK = re.compile(r'<a class="anchor-link" href="#[^"]*">.*?</a>', re.S)
_ID_ATTR = re.compile(r'\s+id="[^"]*"')
_CONTENTS_MARK = "<!-- bimix-contents -->"  # where the template wants the page's contents list


def _heading_ids(page: str) -> tuple[str, list[tuple[str, str]]]:
    """The page with GitHub's anchors as heading ids (``paper.md#setting-and-notation`` works on
    the site as on GitHub; nbconvert would write ``Setting-and-notation``), and its h2 (id, text)."""
    seen: dict[str, int] = {}
    contents = []

    def sub(m):
        level, attrs, inner = m.groups()
        text = html.unescape(re.sub(r"<[^>]+>", "", _ANCHOR_LINK.sub("", inner))).strip()
        slug = github_slug(text) or "section"
        seen[slug] = seen.get(slug, -1) + 1
        slug = f"{slug}-{seen[slug]}" if seen[slug] else slug
        if level == "2":
            contents.append((slug, text))
        inner = re.sub(r'(<a class="anchor-link" href=")#[^"]*', lambda a: f"{a.group(1)}#{slug}", inner)
        return f'<h{level} id="{slug}"{_ID_ATTR.sub("", attrs)}>{inner}</h{level}>'

    return _HEADING_TAG.sub(sub, page), contents


def _finish_page(page: str, base: Path, hrefs: dict[str, str], root: Path, out: Path) -> str:
    """A rendered page made a page of the site: heading ids GitHub's, the contents list of its h2
    headings, and relative links written from ``base`` (its folder in the repository) rewritten: to
    a notebook or document of the site -> its page (``../docs/paper.md#law`` -> ``paper.html#law``),
    to a figure -> a copy in ``figures/``, to another file of the repository -> no link (its path
    in the title), since the site does not hold it. ``hrefs``: {path in the repository: page}."""
    page, contents = _heading_ids(page)
    items = "".join(f'<li><a href="#{slug}">{html.escape(text)}</a></li>' for slug, text in contents)
    toc = f'<nav class="bimix-toc"><b>On this page</b><ol>{items}</ol></nav>' if len(contents) > 1 else ""
    page = page.replace(_CONTENTS_MARK, toc, 1)

    def new_target(path, suffix):
        dest = _repo_file(base, path, root)
        if dest is None:
            return None  # not a file of the repository: left for the check to judge
        rel = dest.relative_to(root).as_posix()
        if rel in hrefs:
            return hrefs[rel] + suffix
        if rel.startswith("figures/") and dest.is_file():
            (out / "figures").mkdir(exist_ok=True)
            shutil.copy2(dest, out / "figures" / dest.name)
            return f"figures/{dest.name}"
        return "\0" + rel  # a file the site does not hold (source code, a run table): see below

    page = _sub_links(page, new_target, markdown=False)
    # no dead link to it: the link says where the file is in the repository instead
    page = re.sub(r'href="\0([^"]*)"', lambda m: f'class="repo-path" title="{m.group(1)} in the repository"', page)
    return page.replace('="\0', '="')  # an image the site does not hold stays dead, for the check


def find_mathjax() -> Path | None:
    """A local MathJax 2 folder (holding ``MathJax.js``): ``$BIMIX_MATHJAX``, the
    ``jupyter-server-mathjax`` package, or Debian's ``libjs-mathjax``; None when there is none."""
    import importlib.util

    candidates = []
    if os.environ.get("BIMIX_MATHJAX"):
        candidates.append(Path(os.environ["BIMIX_MATHJAX"]))
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "static")
    candidates.append(Path("/usr/share/javascript/mathjax"))
    return next((c for c in candidates if (c / "MathJax.js").is_file()), None)


def _copy_mathjax(mathjax: Path, out: Path) -> str:
    """Copy what MathJax 2 needs for TeX input and HTML-CSS output; returns the script's URL."""
    target = out / "_static" / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    keep = ("config", "extensions", "fonts/HTML-CSS/STIX-Web", "jax/input/TeX", "jax/output/HTML-CSS",
            "jax/element", "localization/en")
    target.mkdir(parents=True)
    shutil.copy2(mathjax / "MathJax.js", target / "MathJax.js")
    for sub in keep:
        if (mathjax / sub).exists():
            shutil.copytree(mathjax / sub, target / sub)
    configs = sorted(p.stem for p in (target / "config").glob("TeX-*.js"))
    config = next((c for c in ("TeX-AMS_CHTML-full", "TeX-AMS-MML_HTMLorMML-full", "TeX-AMS_HTML-full")
                   if c in configs), configs[0] if configs else "TeX-AMS-MML_HTMLorMML")
    return f"_static/mathjax/MathJax.js?config={config},Safe"


def _exporter(mathjax_url: str, embed_images: bool = True):
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="bimix", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.mathjax_url = mathjax_url
    exporter.embed_images = embed_images  # a notebook's Markdown images travel inside its page
    exporter.exclude_input_prompt = False
    return exporter


def _source_dir(profile: str, build_dir: Path, executed_dir: Path) -> Path:
    for candidate in (Path(build_dir) / profile / "notebooks", Path(executed_dir) / profile):
        if any(candidate.glob("*.ipynb")):
            return candidate
    raise SiteError(f"no executed notebooks for profile {profile!r}: neither {Path(build_dir) / profile / 'notebooks'} "
                    f"nor {Path(executed_dir) / profile} holds any; run `python -m bimix reproduce --profile {profile}`")


def _figures_dir(profile: str, build_dir: Path) -> Path:
    """Where the profile's notebooks wrote their figures (the manifest's parameters), else figures/."""
    manifest = Path(build_dir) / profile / "manifest.json"
    if manifest.exists():
        dirs = {e["parameters"].get("figures_dir") for e in read_json(manifest).get("notebooks", [])}
        dirs.discard(None)
        if len(dirs) == 1:
            return Path(dirs.pop())
    return FIGURES_DIR


def _gallery(profile: str, figures_dir: Path, out: Path, pages: dict[str, Page]) -> str:
    from bimix.compendium.report import GALLERY

    (out / "figures").mkdir(parents=True, exist_ok=True)
    items = []
    for label, stem, notebook, shows in GALLERY:
        png = next((p for p in (figures_dir / f"{stem}_{profile}.png", figures_dir / f"{stem}.png") if p.exists()),
                   None)
        if png is None:
            continue
        shutil.copy2(png, out / "figures" / png.name)
        page = pages.get(notebook)
        link = (f'<a href="{html.escape(page.href)}">{html.escape(page.title)}</a>' if page
                else f"<code>{html.escape(notebook)}</code>")
        items.append(f'<figure><a href="figures/{html.escape(png.name)}"><img src="figures/{html.escape(png.name)}" '
                     f'alt="{html.escape(stem)}" loading="lazy"></a><figcaption><b>{html.escape(label)}</b>: '
                     f"{html.escape(shows)} ({link})</figcaption></figure>")
    return "\n".join(items)


def _report_html(profile: str, build_dir: Path) -> str:
    import mistune

    from bimix.compendium.report import committed_results_dir, load_results, report_markdown

    results = load_results(profile, build_dir)
    if results:
        text = report_markdown({profile: results})
        committed = f"<code>{committed_results_dir(profile).relative_to(REPO_ROOT).as_posix()}/</code>"
        fresh = f"<code>{html.escape(Path(build_dir).name)}/{html.escape(profile)}/results/</code>"
        origin = (f"computed from {fresh} (a notebook not executed there: its committed results in {committed})"
                  if any((Path(build_dir) / profile / "results").glob("*.json"))
                  else f"computed from the committed results in {committed}")
    else:
        committed = FIGURES_DIR / "paper_vs_compendium.md"  # where `python -m bimix report` writes it
        if not committed.exists():
            return "<p>No results found: run the notebooks of this profile, then <code>python -m bimix report</code>.</p>"
        text = committed.read_text(encoding="utf-8").split("\n", 1)[1]  # without its own heading
        origin = "as committed in <code>figures/paper_vs_compendium.md</code>"
    render = mistune.create_markdown(plugins=["table"])
    return f"<p class='origin'>Verdicts {origin}.</p>\n" + render(text)


_INDEX_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
ol.pages li { margin: .3em 0; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1.2em; }
.gallery figure { margin: 0; } .gallery img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #444; }
table { border-collapse: collapse; font-size: .85em; } td, th { border: 1px solid #ccc; padding: .3em .5em;
vertical-align: top; } th { background: #f4f4f4; }
.origin, .note { color: #555; font-size: .9em; }
"""


def _index_html(profile: str, pages: list[Page], docs: list[Page], source: Path, gallery: str, report: str) -> str:
    rel = source.relative_to(REPO_ROOT).as_posix() if source.is_relative_to(REPO_ROOT) else source.name
    items, doc_items = ("\n".join(f'<li><a href="{html.escape(p.href)}">{html.escape(p.title)}</a></li>' for p in ps)
                        for ps in (pages, docs))
    paper = next((p for p in docs if p.source == _FIRST_DOC), None)
    start = (f'<p class="note">Start with notebook 00, then <a href="{paper.href}">{html.escape(paper.title)}</a>.</p>'
             if paper else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>BiMix compendium: executed notebooks ({html.escape(profile)} profile)</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>BiMix compendium: the executed notebooks of the <code>{html.escape(profile)}</code> profile</h1>
<p class="note">A reproduction of <a href="https://arxiv.org/abs/2405.14908">arXiv 2405.14908</a>
(BiMix, a bivariate data mixing law). Every page below is a notebook as it ran, with its outputs
(executed copies from <code>{html.escape(rel)}</code>); rebuild with <code>make site PROFILE={html.escape(profile)}</code>.</p>
<h2>Notebooks</h2>
<ol class="pages" start="0">
{items}
</ol>
<h2>Documents</h2>
{start}
<ul class="pages">
{doc_items}
</ul>
<h2>Paper against compendium</h2>
{report}
<h2>Figures</h2>
<div class="gallery">
{gallery}
</div>
</body>
</html>
"""


def build_site(profile: str = "cpu", *, out: Path | None = None, source: Path | None = None,
               build_dir: Path = BUILD_DIR, executed_dir: Path = EXECUTED_DIR, figures_dir: Path | None = None,
               mathjax: Path | None | bool = None, root: Path = REPO_ROOT) -> dict:
    """Write ``out`` (default ``build/site/<profile>``): ``index.html``, one ``<notebook>.html`` per
    executed notebook, one page per document of ``root`` (``docs/*.md``, ``data/README.md``), the
    gallery's figures and MathJax. ``mathjax``: a MathJax 2 folder, None to look
    for one (:func:`find_mathjax`), False for the CDN. Returns a summary (pages, seconds, source).

    ``out`` is replaced only when the whole site was written (:func:`bimix.files.atomic_dir`), and only
    when it is new, empty or a previous site (:func:`check_target`, :class:`SiteTargetError`)."""
    started = time.perf_counter()
    source = Path(source) if source else _source_dir(profile, build_dir, executed_dir)
    out = Path(out or Path(build_dir) / "site" / profile)
    figures_dir = Path(figures_dir) if figures_dir else _figures_dir(profile, build_dir)
    check_target(out, legacy_ok=out.resolve() == (Path(build_dir) / "site" / profile).resolve())
    with atomic_dir(out) as tmp:
        summary = _write_site(profile, tmp, source, build_dir, figures_dir, mathjax, root)
    return {**summary, "out": out, "seconds": round(time.perf_counter() - started, 2)}


def check_target(out: Path, legacy_ok: bool = False) -> None:
    """Refuse an ``out`` that git tracks (or that holds tracked files), and an existing ``out`` that
    holds anything but a previous site (its marker file) or nothing. ``legacy_ok``: also accept an
    unmarked folder holding only what a site holds (pages, ``figures/``, ``_static/``)."""
    out = Path(out)
    tracked = git_tracked(out)
    if tracked:
        raise SiteTargetError(f"--out {out} is tracked by git ({len(tracked)} file(s), e.g. {tracked[0]}); "
                              "a site goes to an untracked folder, e.g. build/site/<profile>")
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise SiteTargetError(f"--out {out} exists and is not a folder; choose a new or empty folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries or SITE_MARKER in entries:
        return
    if legacy_ok and "index.html" in entries and all(_LEGACY_SITE.fullmatch(e) for e in entries):
        return
    raise SiteTargetError(f"--out {out} holds files that are not a site this command built (no {SITE_MARKER} "
                          f"marker): {', '.join(entries[:3])}{' ...' if len(entries) > 3 else ''}; "
                          "choose a new or empty folder")


def _write_site(profile: str, out: Path, source: Path, build_dir: Path, figures_dir: Path,
                mathjax: Path | None | bool, root: Path = REPO_ROOT) -> dict:
    """Every page, the gallery, MathJax and the marker into ``out`` (an empty folder). ``root``: the
    repository whose ``docs/*.md`` and ``data/README.md`` become pages too."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    root = Path(os.path.normpath(Path(root).resolve()))
    local = find_mathjax() if mathjax is None else (mathjax or None)
    mathjax_url = _copy_mathjax(Path(local), out) if local else CDN_MATHJAX
    notebooks_dir = root / "notebooks"
    # pages show what the tracked copies hold: no timestamps, machine paths or progress bars; links as
    # written in notebooks/, wherever the executed copy sits
    notebooks = {p.stem: strip_notebook(nbformat.read(str(p), as_version=4), root, relink=(p.resolve().parent, notebooks_dir))
                 for p in sorted(source.glob("*.ipynb"))}
    documents = {d.relative_to(root).as_posix(): new_notebook(cells=[new_markdown_cell(d.read_text(encoding="utf-8"))])
                 for d in _documents(root)}
    nb_pages = [Page(name, _title(nb, name), f"{name}.html", f"notebooks/{name}.ipynb") for name, nb in notebooks.items()]
    doc_pages = [Page(rel, _title(nb, rel), _doc_href(rel), rel) for rel, nb in documents.items()]
    pages = _reading_order(nb_pages, doc_pages)
    hrefs = {p.source: p.href for p in pages} | {"README.md": "index.html"}
    if len({p.href for p in pages} | {"index.html"}) != len(pages) + 1:
        raise SiteError(f"two pages of the site share a name: {sorted(p.href for p in pages)}")
    exporters = {True: _exporter(mathjax_url), False: _exporter(mathjax_url, embed_images=False)}
    errors = {}
    for k, page in enumerate(pages):
        is_notebook = page.name in notebooks
        nb = notebooks[page.name] if is_notebook else documents[page.name]
        if error_cells(nb):
            errors[page.name] = error_cells(nb)
        nav = {"index": "index.html", "profile": profile,
               "prev": pages[k - 1] if k > 0 else None, "next": pages[k + 1] if k + 1 < len(pages) else None}
        base = root / Path(page.source).parent
        body, _ = exporters[is_notebook].from_notebook_node(
            nb, resources={"metadata": {"name": page.title, "path": str(base)}, "site_nav": nav})
        (out / page.href).write_text(_finish_page(body, base, hrefs, root, out), encoding="utf-8")
    gallery = _gallery(profile, figures_dir, out, {p.name: p for p in nb_pages})
    report = _report_html(profile, build_dir)
    (out / "index.html").write_text(_index_html(profile, nb_pages, doc_pages, source, gallery, report), encoding="utf-8")
    write_json(out / SITE_MARKER, {"profile": profile, "pages": len(pages) + 1})
    return {"source": source, "pages": len(pages) + 1, "notebooks": [p.name for p in nb_pages],
            "documents": [p.href for p in doc_pages], "mathjax": mathjax_url, "errors": errors}


# ---------------------------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="whose executed notebooks (default: cpu)")
    parser.add_argument("--source", type=Path, help="folder of executed notebooks (default: build/<profile>/notebooks, "
                                                    "else docs/executed/<profile>)")
    parser.add_argument("--out", type=Path, help="default: build/site/<profile>")
    parser.add_argument("--figures-dir", type=Path, help="gallery figures (default: where the notebooks wrote them)")
    parser.add_argument("--cdn-mathjax", action="store_true", help="load MathJax from its CDN even if a local copy exists")
    parser.add_argument("--refresh-executed", action="store_true",
                        help="first copy build/<profile>/notebooks into docs/executed/<profile>, stripped "
                             "(without them, strip the tracked copies again in place)")
    parser.add_argument("--check", action="store_true",
                        help="then render every page in headless Chromium and check it (dead links and anchors, "
                             "machine paths, empty outputs, error outputs, raw TeX); screenshots of the index "
                             "and notebook 05 go to build/site-screens/")


def run(args: argparse.Namespace) -> int:
    # errors go to the command line's handler: one line, exit 2 for a refused --out, 1 for a failure
    if args.out is not None:
        # before --refresh-executed writes anything
        check_target(args.out, legacy_ok=args.out.resolve() == (BUILD_DIR / "site" / args.profile.name).resolve())
    if args.refresh_executed:
        written = refresh_executed(args.profile.name)
        print(f"{len(written)} stripped notebook(s) in {written[0].parent}")
    summary = build_site(args.profile.name, out=args.out, source=args.source, figures_dir=args.figures_dir,
                         mathjax=False if args.cdn_mathjax else None)
    print(f"{summary['pages']} pages in {summary['out']} from {summary['source']} in {summary['seconds']:.1f} s "
          f"(MathJax: {summary['mathjax'].split('?')[0]})")
    for name, cells in summary["errors"].items():
        print(f"warning: {name} has error output in cell(s) {cells}", file=sys.stderr)
    if not args.check:
        return 1 if summary["errors"] else 0
    from bimix.compendium.site_check import check_site

    screens = BUILD_DIR / "site-screens"
    shots = {"index.html": screens / f"{args.profile.name}_index.png"}
    shots.update({p.name: screens / f"{args.profile.name}_{p.stem}.png"
                  for p in Path(summary["out"]).glob("05_*.html")})
    checked = check_site(summary["out"], shots)
    for problem in checked.problems:
        print(f"problem: {problem}", file=sys.stderr)
    counts = (f"{checked.pages} pages, {checked.links} links, {checked.images} images, "
              f"{len(checked.problems)} problem(s)")
    if checked.browser:
        print(f"browser check (headless Chromium): {counts}; screenshots: " + ", ".join(str(p) for p in shots.values()))
    else:
        print("warning: no Chromium (Debian: apt-get install chromium): pages checked as written, without "
              "MathJax's typesetting, and no screenshots", file=sys.stderr)
        print(f"static check: {counts}")
    return 1 if checked.problems or summary["errors"] else 0
