"""Checks of a built site (:mod:`bimix.compendium.site`), in a real browser: headless Chromium
(Debian's ``chromium`` package, no Playwright) renders each page, MathJax included, and the checks read
the DOM it leaves. Without Chromium the pages are checked as written, the TeX unchecked.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from bimix.compendium.site import SiteError


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


_MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:home|Users|root|tmp|work|scratch|mnt)/[\w.-]+")


class _PageReader:
    """What the checks read in a page: its text outside code (where TeX would be left raw), all its
    text, image sources, link targets, element ids, MathJax's marks and stderr outputs."""

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
        Parser(convert_charrefs=True).feed(dom)

    skip_tags = ("script", "style", "pre", "code", "textarea")

    def start(self, tag, a):
        cls = a.get("class") or ""
        if tag in self.skip_tags:
            self.skip += 1
        self.in_script += tag in ("script", "style")
        self.ids.update(v for k, v in a.items() if k == "id" or (tag == "a" and k == "name"))
        if tag == "img":
            self.images.append(a.get("src") or "")
        elif a.get("href") is not None or (tag in ("script", "iframe") and a.get("src")):
            self.links.append(a.get("href") or a.get("src"))
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

    def end(self, tag):
        if tag in self.skip_tags and self.skip:
            self.skip -= 1
        if tag in ("script", "style") and self.in_script:
            self.in_script -= 1
        if tag == "div":
            if self.stderr_depth == self.div_depth:
                self.stderr_depth = None
            self.div_depth -= 1

    def data(self, data):
        if not self.in_script:
            self.all_text.append(data)
        if self.stderr_depth is not None:
            self.stderr_text[-1] += data
        elif not self.skip:
            self.text.append(data)


def _link_problems(reader: _PageReader, page: Path, ids: dict[Path, set[str]]) -> list[str]:
    """Relative links whose file does not exist, or whose #anchor names no id of a page of the site."""
    from urllib.parse import unquote, urlparse

    problems = []
    for href in reader.links:
        url = urlparse(href)
        if url.scheme or url.netloc:
            continue  # http(s), mailto, data: not the site's to check
        target = page if not url.path else Path(os.path.normpath(page.parent / unquote(url.path)))
        if not url.path and not url.fragment:
            continue
        if not target.exists():
            problems.append(f"{page.name}: link {href} is dead (no {target.name})")
        elif url.fragment and target.suffix == ".html" and target.parent == page.parent:
            if target not in ids:
                ids[target] = reader.ids if target == page else _PageReader(target.read_text(encoding="utf-8")).ids
            if unquote(url.fragment) not in ids[target]:
                problems.append(f"{page.name}: link {href} is dead (no #{url.fragment} in {target.name})")
    return problems


def dom_problems(dom: str, page: Path, rendered: bool = True, ids: dict[Path, set[str]] | None = None) -> list[str]:
    """What is wrong with one page: an image that does not resolve, a relative link to a file that does
    not exist or to an anchor a page of the site does not have, a machine path, an error output cell;
    when ``rendered`` (the DOM after MathJax ran) also TeX left raw or a MathJax error. ``ids``: a cache
    of the ids of the site's pages."""
    import base64
    from urllib.parse import unquote, urlparse

    page = Path(page)
    reader = _PageReader(dom)
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
    problems += _link_problems(reader, page, {} if ids is None else ids)
    machine = _MACHINE_PATH.findall(" ".join(reader.all_text))
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
    return problems


def check_site(out: Path, screenshots: dict[str, Path] | None = None, chromium: str | None = None) -> list[str]:
    """Check every page of a built site; returns the problems found (empty: every image and relative
    link resolves, anchors included, no machine path, no error output and, rendered in headless
    Chromium, no raw TeX). Without Chromium the pages are checked as written, TeX unchecked, and
    no screenshots are taken; :func:`find_chromium` says which. ``screenshots`` {page file: PNG path}."""
    chromium = chromium or find_chromium()
    problems, ids = [], {}
    for page in sorted(Path(out).glob("*.html")):
        try:
            dom = rendered_dom(page, chromium) if chromium else page.read_text(encoding="utf-8")
            problems += dom_problems(dom, page, rendered=bool(chromium), ids=ids)
        except SiteError as exc:
            problems.append(str(exc))
    for name, png in (screenshots or {}).items() if chromium else ():
        screenshot(Path(out) / name, png, chromium=chromium)
    return problems
