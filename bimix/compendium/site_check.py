"""Checks of a built site (:mod:`bimix.compendium.site`), in a real browser: headless Chromium
(Debian's ``chromium`` package, no Playwright) renders each page, MathJax included, and the checks read
the DOM it leaves. Without Chromium the pages are checked as written, the TeX unchecked.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bimix.compendium.site import SiteError
from bimix.paths import REPO_ROOT


def find_chromium() -> str | None:
    """The Chromium executable (``$BIMIX_CHROMIUM``, ``chromium``, ``chromium-browser``), or None."""
    if os.environ.get("BIMIX_CHROMIUM"):
        return os.environ["BIMIX_CHROMIUM"]
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _chromium(page: Path, *flags: str, chromium: str | None = None, fragment: str = "",
              timeout: float = 120) -> "subprocess.CompletedProcess":
    import subprocess

    exe = chromium or find_chromium()
    if exe is None:
        raise SiteError("no Chromium found (Debian: apt-get install chromium)")
    # --virtual-time-budget lets the page's scripts (MathJax typesetting) finish before the dump
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-extensions", "--virtual-time-budget=30000", *flags,
           Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")]
    try:
        return subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SiteError(f"Chromium did not finish {Path(page).name} in {timeout:.0f} s") from None


def rendered_dom(page: Path, chromium: str | None = None) -> str:
    """The page's DOM after its scripts ran, as Chromium serialises it."""
    done = _chromium(page, "--dump-dom", chromium=chromium)
    if done.returncode != 0 or "</html>" not in done.stdout:
        raise SiteError(f"Chromium could not load {page} (exit {done.returncode}): {done.stderr[-500:]}")
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 3000, chromium: str | None = None,
               fragment: str = "") -> Path:
    """A PNG of the page's first ``height`` pixels, or of those from its element ``#fragment`` on."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _chromium(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}", chromium=chromium,
                     fragment=fragment)
    if done.returncode != 0 or not png.exists():
        raise SiteError(f"Chromium could not screenshot {page}: {done.stderr[-500:]}")
    return png


_RAW_MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$\w])\$[^$\s][^$]*?(?<!\s)\$(?!\w)", re.S)
_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|An Exception was encountered|^\w*(Error|Exception): ", re.M)

# an absolute folder of one machine: a home, the scratch and temporary folders, a Windows profile, and
# wherever this repository sits
_MACHINE_PATH = re.compile(r"(?<![\w.~/-])(?:/(?:home|Users|root|tmp|work|scratch|mnt|opt|srv|private|Volumes)/"
                           rf"|{re.escape(str(REPO_ROOT))}/)[\w.-]+|\b[A-Za-z]:\\(?:Users|home)\\[\w.-]+")
_MEDIA = ("img", "svg", "canvas", "video", "iframe", "object", "embed")


@dataclass
class _Output:
    """One output area of a code cell: its text, whether it shows a picture or typeset maths, its tables."""
    text: str = ""
    media: bool = False
    tables: int = 0
    cells: int = 0  # table cells (td): pandas writes an empty DataFrame as a header row only

    def empty(self) -> bool:
        if self.media:
            return False
        return not self.text.strip() or (self.tables > 0 and self.cells == 0) or \
            self.text.lstrip().startswith("Empty DataFrame")


@dataclass
class _Cell:
    """One notebook cell of a page: markdown (with its headings) or code (folded or not, its outputs)."""
    code: bool
    hidden: bool = False
    headings: list = field(default_factory=list)  # (level, text) of the h1-h6 it holds
    outputs: list = field(default_factory=list)


class _PageReader:
    """What the checks read in a page: its text outside code (where TeX would be left raw), all its
    text, image sources, link targets, element ids, MathJax's marks, stderr outputs, and its notebook
    cells with their headings and outputs (the classes of nbconvert's ``lab`` template)."""

    def __init__(self, dom: str):
        from html.parser import HTMLParser

        reader = self

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                reader.start(tag, dict(attrs))

            def handle_endtag(self, tag):
                reader.end(tag)

            def handle_data(self, data):
                reader.data(data)

        self.skip, self.text, self.all_text, self.images, self.links, self.ids = 0, [], [], [], [], set()
        self.math, self.merror, self.stderr_depth, self.stderr_text, self.div_depth, self.in_script = 0, 0, None, [], 0, 0
        self.machine_refs = []  # href/src attributes naming a file by its absolute path
        self.cells, self.output_depth, self.heading = [], None, None
        Parser(convert_charrefs=True).feed(dom)

    skip_tags = ("script", "style", "pre", "code", "textarea")

    def start(self, tag, a):
        cls = a.get("class") or ""
        classes = cls.split()
        if tag in self.skip_tags:
            self.skip += 1
        self.in_script += tag in ("script", "style")
        self.ids.update(v for k, v in a.items() if k == "id" or (tag == "a" and k == "name"))
        if tag == "img":
            self.images.append(a.get("src") or "")
        elif a.get("href") is not None or (tag in ("script", "iframe") and a.get("src")):
            self.links.append(a.get("href") or a.get("src"))
        # MathJax loads its own scripts by absolute URL once a page is opened from disk: not the page's
        for ref in (a.get("href"), a.get("src") if tag != "script" else None):
            if ref and (ref.lower().startswith("file:") or (ref.startswith("/") and not ref.startswith("//"))):
                self.machine_refs.append(ref)
        math = tag == "script" and (a.get("type") or "").startswith("math/tex")
        if math:
            self.math += 1
        if "MathJax_Display" in cls or cls.split(" ")[0] in ("MathJax", "MathJax_CHTML", "MathJax_SVG"):
            self.math += 1
            math = True
        if "merror" in classes:
            self.merror += 1
        if tag == "div":
            self.div_depth += 1
            if a.get("data-mime-type") == "application/vnd.jupyter.stderr" and self.stderr_depth is None:
                self.stderr_depth = self.div_depth
                self.stderr_text.append("")
            if "jp-Cell" in classes:
                self.cells.append(_Cell(code="jp-CodeCell" in classes))
            elif "jp-OutputArea-output" in classes and self.cells and self.output_depth is None:
                self.cells[-1].outputs.append(_Output())
                self.output_depth = self.div_depth
        if not self.cells:
            return
        cell = self.cells[-1]
        if tag == "details" and "bimix-code" in classes:
            cell.hidden = True
        elif re.fullmatch(r"h[1-6]", tag) and not cell.code:
            cell.headings.append((int(tag[1]), ""))
            self.heading = tag
        if self.output_depth is not None:
            out = cell.outputs[-1]
            out.media |= tag in _MEDIA or math
            out.tables += tag == "table"
            out.cells += tag == "td"

    def end(self, tag):
        if tag in self.skip_tags and self.skip:
            self.skip -= 1
        if tag in ("script", "style") and self.in_script:
            self.in_script -= 1
        if tag == self.heading:
            self.heading = None
        if tag == "div":
            if self.stderr_depth == self.div_depth:
                self.stderr_depth = None
            if self.output_depth == self.div_depth:
                self.output_depth = None
            self.div_depth -= 1

    def data(self, data):
        if not self.in_script:
            self.all_text.append(data)
            if self.output_depth is not None:
                self.cells[-1].outputs[-1].text += data
            if self.heading:
                level, text = self.cells[-1].headings[-1]
                self.cells[-1].headings[-1] = (level, text + data)
        if self.stderr_depth is not None:
            self.stderr_text[-1] += data
        elif not self.skip:
            self.text.append(data)

    def sections(self) -> list[tuple[str | None, list[_Cell]]]:
        """The code cells under each heading below the title (h2 to h6), in page order, after the
        code cells above the first such heading (title, parameters, imports: heading None)."""
        found = [(None, [])]
        for cell in self.cells:
            sub = [text for level, text in cell.headings if level > 1]
            if sub:
                found.append((sub[-1].replace("\u00b6", "").strip(), []))
            elif cell.code:
                found[-1][1].append(cell)
        return found


def _output_problems(reader: _PageReader, page: Path) -> list[str]:
    """An output that shows nothing (blank text, an empty table), and a section whose visible code
    shows no output at all: what a page looks like when a step was skipped. The opening cells
    (parameters, imports) and a section of folded code only (plumbing) may stay silent."""
    problems = []
    for heading, cells in reader.sections():
        outputs = [o for c in cells for o in c.outputs]
        empty = [o for o in outputs if o.empty()]
        where = repr(heading) if heading else "the opening cells"
        if empty:
            problems.append(f"{page.name}: {len(empty)} empty output(s) under {where}, e.g. "
                            f"{empty[0].text.strip()[:60]!r}")
        if heading and any(not c.hidden for c in cells) and len(empty) == len(outputs):
            problems.append(f"{page.name}: section {where} shows no output: its {len(cells)} code cell(s) "
                            "printed and drew nothing")
    return problems


def _link_problems(reader: _PageReader, page: Path, ids: dict[Path, set[str]]) -> tuple[list[str], int]:
    """Relative links whose file does not exist (or is a folder without a page), or whose #anchor
    names no id of a page of the site; and how many links were followed."""
    from urllib.parse import unquote, urlparse

    problems, followed = [], 0
    for href in reader.links:
        url = urlparse(href)
        if url.scheme or url.netloc or href.startswith("/"):
            continue  # http(s), mailto, data: not the site's to check; an absolute path is a machine path
        if not url.path and not url.fragment:
            continue
        followed += 1
        target = page if not url.path else Path(os.path.normpath(page.parent / unquote(url.path)))
        if not target.exists() or (target.is_dir() and not (target / "index.html").is_file()):
            problems.append(f"{page.name}: link {href} is dead (no {target.name})")
        elif url.fragment and target.suffix == ".html" and target.parent == page.parent:
            if target not in ids:
                ids[target] = reader.ids if target == page else _PageReader(target.read_text(encoding="utf-8")).ids
            if unquote(url.fragment) not in ids[target]:
                problems.append(f"{page.name}: link {href} is dead (no #{url.fragment} in {target.name})")
    return problems, followed


def _image_problems(reader: _PageReader, page: Path) -> list[str]:
    import base64
    from urllib.parse import unquote, urlparse

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
        elif url.scheme == "file" or src.startswith("/"):
            continue  # a machine path: reported as one
        elif not (page.parent / unquote(url.path)).is_file():
            problems.append(f"{page.name}: image {src} does not exist")
    return problems


@dataclass
class PageCheck:
    problems: list[str]
    links: int  # relative links and anchors followed
    images: int


def check_page(dom: str, page: Path, rendered: bool = True, ids: dict[Path, set[str]] | None = None) -> PageCheck:
    """What is wrong with one page: an image that does not resolve, a relative link to a file that does
    not exist or to an anchor a page of the site does not have, a machine path (in the text or as a
    link), an error output cell, an empty output or a section whose code shows nothing; when
    ``rendered`` (the DOM after MathJax ran) also TeX left raw or a MathJax error. ``ids``: a cache
    of the ids of the site's pages."""
    page = Path(page)
    reader = _PageReader(dom)
    links, followed = _link_problems(reader, page, {} if ids is None else ids)
    problems = _image_problems(reader, page) + links
    machine = _MACHINE_PATH.findall(" ".join(reader.all_text)) + reader.machine_refs
    if machine:
        problems.append(f"{page.name}: {len(machine)} machine path(s), e.g. {machine[0]!r}")
    raw = _RAW_MATH.findall(" ".join(reader.text)) if rendered else []
    if raw:
        problems.append(f"{page.name}: {len(raw)} piece(s) of TeX left unrendered, e.g. {raw[0][:60]!r}")
    if reader.merror:
        problems.append(f"{page.name}: {reader.merror} MathJax error(s)")
    errors = [t for t in reader.stderr_text if _ERROR_TEXT.search(t)]
    if errors:
        problems.append(f"{page.name}: {len(errors)} error output cell(s), e.g. {errors[0].strip()[:120]!r}")
    problems += _output_problems(reader, page)
    return PageCheck(problems, followed, len(reader.images))


def dom_problems(dom: str, page: Path, rendered: bool = True, ids: dict[Path, set[str]] | None = None) -> list[str]:
    """The problems of :func:`check_page`."""
    return check_page(dom, page, rendered, ids).problems


@dataclass
class SiteCheck:
    pages: int
    links: int  # relative links and anchors followed, over all pages
    images: int
    problems: list[str]
    browser: bool  # every page rendered in headless Chromium (else checked as written)


def check_site(out: Path, screenshots: dict[str, Path] | None = None, chromium: str | None = None,
               jobs: int | None = None) -> SiteCheck:
    """Check every page of a built site (empty ``problems``: every image and relative link resolves,
    anchors included, no machine path, no error or empty output and, each page rendered in headless
    Chromium, no raw TeX). Without Chromium the pages are checked as written, TeX unchecked, and no
    screenshots are taken; :func:`find_chromium` says which. ``screenshots`` {page file: PNG path};
    ``jobs``: pages rendered at once (default: one per core, at most 4)."""
    from concurrent.futures import ThreadPoolExecutor

    chromium = chromium or find_chromium()
    pages = sorted(Path(out).glob("*.html"))

    def dom(page):
        try:
            return rendered_dom(page, chromium) if chromium else page.read_text(encoding="utf-8")
        except SiteError as exc:
            return exc

    # Chromium is a process per page, most of its time starting up: pages render side by side
    with ThreadPoolExecutor(max_workers=jobs or min(4, os.cpu_count() or 1)) as pool:
        doms = list(pool.map(dom, pages))
    problems, ids, links, images = [], {}, 0, 0
    for page, text in zip(pages, doms):
        if isinstance(text, SiteError):
            problems.append(str(text))
            continue
        found = check_page(text, page, rendered=bool(chromium), ids=ids)
        problems += found.problems
        links, images = links + found.links, images + found.images
    for name, png in (screenshots or {}).items() if chromium else ():
        screenshot(Path(out) / name, png, chromium=chromium)
    return SiteCheck(len(pages), links, images, problems, bool(chromium))
