"""Every page of the built documentation, opened in a real browser (headless Chromium).

The site is the one ``mkdocs build`` wrote (``$REFNET_SITE``, default ``site/``), served
from 127.0.0.1; every request to any other host is refused and reported, so the pages must
render with no network.  Each page is loaded once and checked for console errors, failed
requests, broken or shrunken images, links and anchors that lead nowhere, formulas KaTeX
did not typeset (or ``$...$`` nobody marked), tables wider than their column, anything
wider than the 1280 px window, a name in code font broken across lines inside a word, the
navigation sidebar missing and, in a test of its own, Sphinx roles (``:func:``) left as
literal text.  Screenshots of the home page, the tutorial, the installation page and the
numerical differentiation reference are kept in ``build/screenshots/`` (see SHOTS).

Playwright drives Debian's Chromium (``$REFNET_CHROMIUM``, default /usr/bin/chromium): no
browser is downloaded.  Without Playwright, Chromium or a built site the tests skip, unless
``REFNET_BROWSER_TEST=required`` (as in .ci/run), where that is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

from .conftest import ROOT

SITE = Path(os.environ.get("REFNET_SITE", ROOT / "site")).resolve()
CHROMIUM = os.environ.get("REFNET_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("REFNET_BROWSER_TEST") == "required"
SCREENSHOTS = ROOT / "build" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A figure shown at less than this fraction of its pixel width has its text shrunk too far.
MIN_IMAGE_SCALE = 0.7
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|ref|term|const):(?=\S)")

#: Pages kept as screenshots (whole page, and the first screen) in build/screenshots/.
SHOTS = {
    "index.html": "home",
    "tutorial/index.html": "tutorial",
    "installation/index.html": "installation",
    "reference/differentiation/index.html": "reference-differentiation",
}
#: Links a page's navigation sidebar shows at least (the site has over 20 pages).
MIN_NAV_LINKS = 15

#: What the page finds about itself once loaded (all lists of short descriptions).
CHECKS_JS = r"""
() => {
  const article = document.querySelector("article") || document.body;
  const images = [...document.images].map(i => ({
    src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
    scale: i.naturalWidth ? i.getBoundingClientRect().width / i.naturalWidth : 0,
    visible: i.getBoundingClientRect().width > 0,
  }));
  const untypeset = [...document.querySelectorAll(".arithmatex")]
    .filter(n => !n.querySelector(".katex")).map(n => n.textContent.trim().slice(0, 80));
  // Delimiters left in the text (outside code and typeset math) are formulas nobody typeset.
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let node; (node = walker.nextNode());) {
    if (node.parentElement.closest("pre, code, .katex, script, style")) continue;
    const m = node.textContent.match(/\\\(|\\\[|\$\$/);
    if (m) raw.push(node.textContent.trim().slice(0, 80));
  }
  const tables = [...article.querySelectorAll("table")]
    .filter(t => t.scrollWidth > t.clientWidth + 1 || t.getBoundingClientRect().right > article.getBoundingClientRect().right + 1)
    .map(t => (t.querySelector("tr") || t).innerText.replace(/\s+/g, " ").slice(0, 80));
  const links = [...document.querySelectorAll("a[href]")].map(a => a.href);
  const ids = [...document.querySelectorAll("[id]")].map(e => e.id);
  // Inline $...$ that arithmatex did not take (a docstring's maths outside its reach).
  for (let node, w = document.createTreeWalker(article, NodeFilter.SHOW_TEXT); (node = w.nextNode());) {
    if (node.parentElement.closest("pre, code, .katex, .arithmatex, script, style")) continue;
    const m = node.textContent.match(/\$[^$\s][^$]*[^$\s]\$|\$[^$\s]\$/);
    if (m) raw.push(m[0].slice(0, 80));
  }
  // Wider than the window: the page scrolls sideways, or an element sticks out of the
  // text column without a scrolling box of its own around it.
  const overflow = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) overflow.push(`page ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
  const right = article.getBoundingClientRect().right + 1;
  const scrolls = e => ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(e).overflowX);
  // An inline element's own box may stick out by its padding at a line's end (Material
  // pads inline code); what counts is where its content ends.
  const contentRight = e => {
    if (getComputedStyle(e).display !== "inline") return e.getBoundingClientRect().right;
    let most = -Infinity;
    for (let t, w = document.createTreeWalker(e, NodeFilter.SHOW_TEXT); (t = w.nextNode());) {
      const range = document.createRange();
      range.selectNodeContents(t);
      for (const r of range.getClientRects()) most = Math.max(most, r.right);
    }
    return most;
  };
  // A typeset formula is measured by its visible pieces (KaTeX's .base boxes), not by the
  // hidden MathML copy it keeps for screen readers.
  for (const e of article.querySelectorAll("*")) {
    if ((e.closest(".katex") || e.matches(".arithmatex")) && !e.matches(".katex-html > .base")) continue;
    if (!e.getClientRects().length || contentRight(e) <= right) continue;
    let boxed = false;
    for (let a = e.parentElement; a && a !== article; a = a.parentElement) if (scrolls(a)) { boxed = true; break; }
    if (!boxed && !scrolls(e)) overflow.push(`<${e.tagName.toLowerCase()}> ${(e.innerText || "").replace(/\s+/g, " ").slice(0, 60)}`);
  }
  // A name in code font broken across lines inside a word: a line break between two
  // letters or digits of one inline <code> ("return_err" / "or"; "test_a_" / "b" is
  // between two words of a long name).
  const broken = [];
  for (const code of article.querySelectorAll("code")) {
    if (code.closest("pre") || code.getClientRects().length < 2) continue;
    let previous = null;
    const w = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    for (let node; (node = w.nextNode());) {
      for (let i = 0; i < node.length; i++) {
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + 1);
        const box = range.getClientRects()[0];
        const ch = node.data[i];
        if (!box) { previous = null; continue; }
        if (previous && box.top > previous.top + 2 && /[A-Za-z0-9]/.test(previous.ch) && /[A-Za-z0-9]/.test(ch)) {
          broken.push(`${code.textContent.slice(0, 60)} (between "${previous.ch}" and "${ch}")`);
        }
        previous = {top: box.top, ch};
      }
    }
  }
  const sidebar = document.querySelector(".md-sidebar--primary");
  const shown = sidebar && getComputedStyle(sidebar).display !== "none" && sidebar.getBoundingClientRect().width > 0;
  const navLinks = shown ? [...sidebar.querySelectorAll("a.md-nav__link")].filter(a => a.getClientRects().length).length : 0;
  return {images, untypeset, raw, tables, links, ids, overflow, broken, navLinks, text: article.innerText};
}
"""


@dataclass
class PageReport:
    url: str
    errors: list = field(default_factory=list)  # console errors and uncaught exceptions
    failed: list = field(default_factory=list)  # requests that failed or got >= 400
    found: dict = field(default_factory=dict)  # CHECKS_JS's answer


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(f"the browser test must run here but cannot: {reason}")
    pytest.skip(reason)


def _pages():
    return sorted(
        path.relative_to(SITE).as_posix()
        for path in SITE.rglob("*.html")
        if path.name != "404.html" and not path.relative_to(SITE).parts[0].startswith("assets")
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        _unavailable(f"no built site at {SITE}: run `mkdocs build` first (or set REFNET_SITE)")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def reports(server):
    """Every page loaded once in Chromium: url path -> PageReport."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[browser]'")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    origin = urlsplit(server).netloc
    offsite = []

    def only_this_site(route):
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    found = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        context.route("**/*", only_this_site)
        try:
            for path in _pages():
                found[path] = _load(context, server + path, path)
        finally:
            context.close()
    found["(offsite requests)"] = PageReport(url="", failed=offsite)
    return found


def _load(context, url, path):
    report = PageReport(url=url)
    page = context.new_page()
    page.on(
        "console",
        lambda m: report.errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: report.errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: report.failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response",
        lambda r: report.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None,
    )
    page.goto(url, wait_until="load")
    page.wait_for_function("document.readyState === 'complete'")
    report.found = page.evaluate(CHECKS_JS)
    if path in SHOTS:
        page.screenshot(path=SCREENSHOTS / f"{SHOTS[path]}.png", full_page=True)
        page.screenshot(path=SCREENSHOTS / f"{SHOTS[path]}-first-screen.png")
    page.close()
    return report


def _problems(reports, describe):
    lines = []
    for path, report in reports.items():
        lines += [f"{path}: {item}" for item in describe(report)]
    return lines


def test_every_page_was_opened(reports):
    pages = [p for p in reports if p.endswith(".html")]
    assert "index.html" in pages and "tutorial/index.html" in pages
    assert "explanation/differences-from-the-book/index.html" in pages
    assert len(pages) >= 18, pages


def test_no_console_errors(reports):
    problems = _problems(reports, lambda r: r.errors)
    assert not problems, "\n".join(problems)


def test_no_failed_or_offsite_requests(reports):
    problems = _problems(reports, lambda r: r.failed)
    assert not problems, "\n".join(problems)


def test_every_image_loads_and_is_shown_large_enough(reports):
    problems = _problems(
        reports,
        lambda r: [
            f"{i['src']}: "
            + ("broken" if not i["ok"] else f"shown at {i['scale']:.0%} of its width")
            for i in r.found.get("images", [])
            if not i["ok"] or (i["visible"] and i["scale"] < MIN_IMAGE_SCALE)
        ],
    )
    assert not problems, "\n".join(problems)


def test_every_link_and_anchor_resolves(reports, server):
    ids = {report.url: set(report.found.get("ids", [])) for report in reports.values()}
    problems = []
    for path, report in reports.items():
        for link in report.found.get("links", []):
            if not link.startswith(server):
                continue  # another site: not fetched (no network here)
            target, fragment = urldefrag(link)
            relative = target[len(server) :]
            file = SITE / relative
            if relative == "" or relative.endswith("/"):
                file = file / "index.html"
            if not file.exists():
                problems.append(f"{path}: {link} leads to no file")
            elif fragment and target in ids and fragment not in ids[target]:
                problems.append(f"{path}: {link}: no element with id {fragment!r} there")
    assert not problems, "\n".join(problems)


def test_every_formula_is_typeset(reports):
    problems = _problems(
        reports,
        lambda r: (
            [f"not typeset: {f}" for f in r.found.get("untypeset", [])]
            + [f"math delimiters left in the text: {t}" for t in r.found.get("raw", [])]
        ),
    )
    assert not problems, "\n".join(problems)
    typeset = sum(
        1 for r in reports.values() for _ in range(1) if r.found and not r.found["untypeset"]
    )
    assert typeset > 0


def test_tables_fit_their_column(reports):
    problems = _problems(
        reports, lambda r: [f"table wider than the page: {t}" for t in r.found.get("tables", [])]
    )
    assert not problems, "\n".join(problems)


def test_screenshots_are_kept(reports):
    for name in SHOTS.values():
        for shot in (SCREENSHOTS / f"{name}.png", SCREENSHOTS / f"{name}-first-screen.png"):
            assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot


def test_no_page_is_wider_than_the_window(reports):
    problems = _problems(reports, lambda r: [f"too wide: {o}" for o in r.found.get("overflow", [])])
    assert not problems, "\n".join(problems)


def test_no_name_in_code_font_is_broken_inside_a_word(reports):
    problems = _problems(reports, lambda r: [f"broken: {b}" for b in r.found.get("broken", [])])
    assert not problems, "\n".join(problems)


def test_every_page_shows_the_navigation(reports):
    problems = _problems(
        reports,
        lambda r: (
            [f"{r.found.get('navLinks', 0)} navigation links shown"]
            if r.url and r.found.get("navLinks", 0) < MIN_NAV_LINKS
            else []
        ),
    )
    assert not problems, "\n".join(problems)


def test_no_sphinx_roles_in_the_text(reports):
    problems = _problems(reports, lambda r: sorted(set(ROLE.findall(r.found.get("text", "")))))
    count = sum(len(ROLE.findall(r.found.get("text", ""))) for r in reports.values())
    assert not problems, f"{count} Sphinx roles shown as text:\n" + "\n".join(problems)
