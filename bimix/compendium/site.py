"""A static site of a profile's executed notebooks: one HTML page per notebook, and an index with the
figure gallery and the paper-vs-compendium table. Nothing is trained or executed here.

Source: the papermill outputs in ``build/<profile>/notebooks/`` (written by ``python -m bimix
reproduce``), or, when there are none, the tracked copies in ``docs/executed/<profile>/`` that let a
reader of a fresh clone see the results without running anything. Those tracked copies are the
executed notebooks stripped of what changes from one execution to the next without changing a result
(:func:`strip_notebook`: timestamps, durations, papermill's metadata, machine paths, stderr), so that
stripping again is byte-identical and a diff shows only changed results.

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


def strip_notebook(nb: "nbformat.NotebookNode", root: Path = REPO_ROOT) -> "nbformat.NotebookNode":
    """A copy of an executed notebook without what differs between two executions of the same code
    on the same data: papermill's notebook and cell metadata (parameters with machine paths,
    timestamps, durations), execution timestamps, empty tag lists, stderr streams (progress bars,
    warnings that quote site-packages paths); consecutive stdout pieces joined; execution counts
    renumbered 1, 2, … in cell order; repository paths made relative, other absolute folders given as
    parameters replaced by ``<a local folder>``; papermill's inserted cell gets a
    fixed id. Idempotent."""
    import copy

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
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                if out.name == "stderr":
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
            outputs.append(out)
        cell.outputs = outputs
    return nb


def write_stripped(source: Path, target: Path, root: Path = REPO_ROOT) -> Path:
    import nbformat

    nb = strip_notebook(nbformat.read(str(source), as_version=4), root)
    with atomic_path(target) as tmp:
        tmp.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return target


def refresh_executed(profile: str, build_dir: Path = BUILD_DIR, executed_dir: Path = EXECUTED_DIR) -> list[Path]:
    """Copy ``build/<profile>/notebooks/*.ipynb`` into ``docs/executed/<profile>/``, stripped; a
    notebook that failed (an error output) is refused, since the folder is what a reader trusts."""
    import nbformat

    source = Path(build_dir) / profile / "notebooks"
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        raise SiteError(f"no executed notebooks in {source}; run `python -m bimix reproduce --profile {profile}`")
    for path in notebooks:
        errors = error_cells(nbformat.read(str(path), as_version=4))
        if errors:
            raise SiteError(f"{path.name} has error output in cell(s) {errors}; not copied")
    target = Path(executed_dir) / profile
    target.mkdir(parents=True, exist_ok=True)
    written = [write_stripped(p, target / p.name) for p in notebooks]
    for stale in set(target.glob("*.ipynb")) - set(written):
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
    name: str  # notebook stem
    title: str  # the notebook's first heading
    href: str  # file name in the site


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


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


def _exporter(mathjax_url: str):
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="bimix", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.mathjax_url = mathjax_url
    exporter.embed_images = True  # Markdown images travel inside the page
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

    from bimix.compendium.report import load_results, report_markdown

    results = load_results(profile, build_dir)
    if results:
        text = report_markdown({profile: results})
        origin = f"computed from <code>build/{html.escape(profile)}/results/</code>"
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


def _index_html(profile: str, pages: list[Page], source: Path, gallery: str, report: str) -> str:
    rel = source.relative_to(REPO_ROOT).as_posix() if source.is_relative_to(REPO_ROOT) else source.name
    items = "\n".join(f'<li><a href="{html.escape(p.href)}">{html.escape(p.title)}</a></li>' for p in pages)
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
               mathjax: Path | None | bool = None) -> dict:
    """Write ``out`` (default ``build/site/<profile>``): ``index.html``, one ``<notebook>.html`` per
    executed notebook, the gallery's figures and MathJax. ``mathjax``: a MathJax 2 folder, None to look
    for one (:func:`find_mathjax`), False for the CDN. Returns a summary (pages, seconds, source).

    ``out`` is replaced only when the whole site was written (:func:`bimix.files.atomic_dir`), and only
    when it is new, empty or a previous site (:func:`check_target`, :class:`SiteTargetError`)."""
    started = time.perf_counter()
    source = Path(source) if source else _source_dir(profile, build_dir, executed_dir)
    out = Path(out or Path(build_dir) / "site" / profile)
    figures_dir = Path(figures_dir) if figures_dir else _figures_dir(profile, build_dir)
    check_target(out, legacy_ok=out.resolve() == (Path(build_dir) / "site" / profile).resolve())
    with atomic_dir(out) as tmp:
        summary = _write_site(profile, tmp, source, build_dir, figures_dir, mathjax)
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
                mathjax: Path | None | bool) -> dict:
    """Every page, the gallery, MathJax and the marker into ``out`` (an empty folder)."""
    import nbformat

    local = find_mathjax() if mathjax is None else (mathjax or None)
    mathjax_url = _copy_mathjax(Path(local), out) if local else CDN_MATHJAX
    # pages show what the tracked copies hold: no timestamps, machine paths or progress bars
    notebooks = {p.stem: strip_notebook(nbformat.read(str(p), as_version=4)) for p in sorted(source.glob("*.ipynb"))}
    pages = [Page(name, _title(nb, name), f"{name}.html") for name, nb in notebooks.items()]
    exporter = _exporter(mathjax_url)
    errors = {}
    for k, page in enumerate(pages):
        nb = notebooks[page.name]
        if error_cells(nb):
            errors[page.name] = error_cells(nb)
        nav = {"index": "index.html", "profile": profile,
               "prev": pages[k - 1] if k > 0 else None, "next": pages[k + 1] if k + 1 < len(pages) else None}
        # relative Markdown links and images resolve as in the source notebook
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": page.title, "path": str(NOTEBOOKS_DIR)},
                                                             "site_nav": nav})
        (out / page.href).write_text(body, encoding="utf-8")
    gallery = _gallery(profile, figures_dir, out, {p.name: p for p in pages})
    report = _report_html(profile, build_dir)
    (out / "index.html").write_text(_index_html(profile, pages, source, gallery, report), encoding="utf-8")
    write_json(out / SITE_MARKER, {"profile": profile, "pages": len(pages) + 1})
    return {"source": source, "pages": len(pages) + 1, "notebooks": [p.name for p in pages],
            "mathjax": mathjax_url, "errors": errors}


# --------------------------------------------------------------------------------------------------
# Checked in a real browser: headless Chromium (Debian's ``chromium`` package), no Playwright.

def find_chromium() -> str | None:
    """The Chromium executable (``$BIMIX_CHROMIUM``, ``chromium``, ``chromium-browser``), or None."""
    if os.environ.get("BIMIX_CHROMIUM"):
        return os.environ["BIMIX_CHROMIUM"]
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _chromium(page: Path, *flags: str, chromium: str | None = None, timeout: float = 60) -> "subprocess.CompletedProcess":
    import subprocess

    exe = chromium or find_chromium()
    if exe is None:
        raise SiteError("no Chromium found (Debian: apt-get install chromium)")
    # --virtual-time-budget lets the page's scripts (MathJax typesetting) finish before the dump
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-extensions", "--virtual-time-budget=30000", *flags, Path(page).resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def rendered_dom(page: Path, chromium: str | None = None) -> str:
    """The page's DOM after its scripts ran, as Chromium serialises it."""
    done = _chromium(page, "--dump-dom", chromium=chromium)
    if done.returncode != 0 or "</html>" not in done.stdout:
        raise SiteError(f"Chromium could not load {page} (exit {done.returncode}): {done.stderr[-500:]}")
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 3000, chromium: str | None = None) -> Path:
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _chromium(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}", chromium=chromium)
    if done.returncode != 0 or not png.exists():
        raise SiteError(f"Chromium could not screenshot {page}: {done.stderr[-500:]}")
    return png


_RAW_MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$\w])\$[^$\s][^$]*?(?<!\s)\$(?!\w)", re.S)
_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|An Exception was encountered|^\w*(Error|Exception): ", re.M)


def dom_problems(dom: str, page: Path) -> list[str]:
    """What is wrong with one rendered page: an image that does not resolve, TeX left raw (or a MathJax
    error), an error output cell."""
    import base64
    from html.parser import HTMLParser
    from urllib.parse import unquote, urlparse

    class Reader(HTMLParser):
        skip_tags = ("script", "style", "pre", "code", "textarea")

        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.skip, self.text, self.images, self.math, self.merror = 0, [], [], 0, 0
            self.stderr_depth, self.stderr_text, self.div_depth = None, [], 0

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            cls = a.get("class") or ""
            if tag in self.skip_tags:
                self.skip += 1
            if tag == "img":
                self.images.append(a.get("src") or "")
            if tag == "script" and (a.get("type") or "").startswith("math/tex"):
                self.math += 1
            if "MathJax_Display" in cls or cls.split(" ")[0] in ("MathJax", "MathJax_CHTML", "MathJax_SVG"):
                self.math += 1
            if "merror" in cls.split():
                self.merror += 1
            if tag == "div":
                self.div_depth += 1
                if a.get("data-mime-type") == "application/vnd.jupyter.stderr" and self.stderr_depth is None:
                    self.stderr_depth = self.div_depth
                    self.stderr_text.append("")

        def handle_endtag(self, tag):
            if tag in self.skip_tags and self.skip:
                self.skip -= 1
            if tag == "div":
                if self.stderr_depth == self.div_depth:
                    self.stderr_depth = None
                self.div_depth -= 1

        def handle_data(self, data):
            if self.stderr_depth is not None:
                self.stderr_text[-1] += data
            elif not self.skip:
                self.text.append(data)

    reader = Reader()
    reader.feed(dom)
    problems = []
    for src in reader.images:
        url = urlparse(src)
        if url.scheme == "data":
            head, _, payload = src.partition(",")
            try:
                ok = len(base64.b64decode(payload, validate=True)) > 0 if ";base64" in head else bool(payload)
            except ValueError:
                ok = False
            if not ok:
                problems.append(f"{page.name}: an embedded image is empty or corrupt")
        elif url.scheme in ("http", "https"):
            problems.append(f"{page.name}: image {src} needs the network")
        elif not (page.parent / unquote(url.path)).is_file():
            problems.append(f"{page.name}: image {src} does not exist")
    raw = _RAW_MATH.findall(" ".join(reader.text))
    if raw:
        problems.append(f"{page.name}: {len(raw)} piece(s) of TeX left unrendered, e.g. {raw[0][:60]!r}")
    if reader.merror:
        problems.append(f"{page.name}: {reader.merror} MathJax error(s)")
    errors = [t for t in reader.stderr_text if _ERROR_TEXT.search(t)]
    if errors:
        problems.append(f"{page.name}: {len(errors)} error output cell(s), e.g. {errors[0].strip()[:120]!r}")
    return problems


def check_site(out: Path, screenshots: dict[str, Path] | None = None, chromium: str | None = None) -> list[str]:
    """Render every page of a built site in headless Chromium; returns the problems found (empty: all
    pages load, every image resolves, no raw TeX, no error output). ``screenshots`` {page file:
    PNG path} are taken too."""
    problems = []
    for page in sorted(Path(out).glob("*.html")):
        try:
            problems += dom_problems(rendered_dom(page, chromium), page)
        except SiteError as exc:
            problems.append(str(exc))
    for name, png in (screenshots or {}).items():
        screenshot(Path(out) / name, png, chromium=chromium)
    return problems


# ---------------------------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="whose executed notebooks (default: cpu)")
    parser.add_argument("--source", type=Path, help="folder of executed notebooks (default: build/<profile>/notebooks, "
                                                    "else docs/executed/<profile>)")
    parser.add_argument("--out", type=Path, help="default: build/site/<profile>")
    parser.add_argument("--figures-dir", type=Path, help="gallery figures (default: where the notebooks wrote them)")
    parser.add_argument("--cdn-mathjax", action="store_true", help="load MathJax from its CDN even if a local copy exists")
    parser.add_argument("--refresh-executed", action="store_true",
                        help="first copy build/<profile>/notebooks into docs/executed/<profile>, stripped")
    parser.add_argument("--check", action="store_true",
                        help="then render every page in headless Chromium and check it; screenshots of the index "
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
    screens = BUILD_DIR / "site-screens"
    shots = {"index.html": screens / f"{args.profile.name}_index.png"}
    shots.update({p.name: screens / f"{args.profile.name}_{p.stem}.png"
                  for p in Path(summary["out"]).glob("05_*.html")})
    problems = check_site(summary["out"], shots)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"browser check: {summary['pages']} pages, {len(problems)} problem(s); screenshots: "
          + ", ".join(str(p) for p in shots.values()))
    return 1 if problems or summary["errors"] else 0
