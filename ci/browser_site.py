"""Browser checks of the website and of the slides, for the browser suite (ci/browser.py).

- :func:`check_site` opens a lesson page of the built website (``build/site``, served on
  127.0.0.1) and checks what a reader sees: its figures are drawn and each has alt text that is
  a sentence, not a file name; its solution is a collapsed dropdown whose code is hidden until
  the reader opens it; a widget's place shows the live-kernel note with a launch link; the page
  has previous/next links.
- :func:`check_slides` opens a lesson in JupyterLab (a :class:`browser.Lab` server) and starts
  its slideshow as a teacher does (Alt+R, jupyterlab-rise): the slides must appear, one per
  slide cell, starting with the lesson's title, and the right arrow must move to the next one.

Each takes a playwright ``Browser`` and returns ``(checked, problems)``, lists of strings.

    python ci/browser_site.py [--site-only | --slides-only] [--lesson NB] [--slides NB]

runs them alone (it builds the site first when ``build/site`` is missing).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import browser  # noqa: E402  (its Lab server, chromium settings and page helpers)

SITE = ROOT / "build" / "site"
LESSON = "notebooks/01-why-concurrency.ipynb"  # figures, solutions and a widget
SLIDES = "notebooks/00-start-here.ipynb"        # any lesson once `course.py nav` has written its slides


@contextmanager
def served(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) while the block runs; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


FIGURES_JS = """() => [...document.querySelectorAll('.cell_output img')].map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
    drawn: img.complete && img.naturalWidth > 0}))"""


def check_site(pw_browser, site: Path = SITE, lesson: str = LESSON) -> tuple[list[str], list[str]]:
    """A lesson page of the built site renders its figures (with alt text) and a collapsed solution."""
    page_rel = Path(lesson).with_suffix(".html").as_posix()
    if not (site / page_rel).exists():
        return [], [f"{page_rel} is not in {site} (build the site first: python3 ci/course.py site)"]
    checked, problems = [], []
    context = pw_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        with served(site) as base:
            page.goto(f"{base}/{page_rel}")
            page.wait_for_load_state("load")
            # figures: drawn, with alt text that says something
            page.wait_for_function("() => [...document.querySelectorAll('.cell_output img')].every(i => i.complete)")
            figures = page.evaluate(FIGURES_JS)
            if not figures:
                problems.append(f"{page_rel}: no figure on the page")
            for fig in figures:
                if not fig["drawn"]:
                    problems.append(f"{page_rel}: figure {fig['src']} is not drawn")
                elif len(fig["alt"].split()) < 2 or fig["alt"].endswith(".png"):
                    problems.append(f"{page_rel}: figure {fig['src']} has no alt text (alt={fig['alt']!r})")
            if figures and not any(p.startswith(page_rel + ": figure") for p in problems):
                checked.append(f"{len(figures)} figure(s) drawn, alt text {figures[0]['alt']!r}")
            # a solution: a closed dropdown, its code hidden until opened
            solution = page.locator("details.hide", has_text="Show solution").first
            if page.locator("details.hide", has_text="Show solution").count() == 0:
                problems.append(f"{page_rel}: no collapsed solution ('Show solution' dropdown)")
            else:
                solution.scroll_into_view_if_needed()
                code = solution.locator(".cell_input pre").first
                if solution.get_attribute("open") is not None or code.is_visible():
                    problems.append(f"{page_rel}: the solution is open before the reader asks for it")
                solution.locator("summary").first.click()
                code.wait_for(state="visible", timeout=10_000)
                if not (code.text_content() or "").strip():
                    problems.append(f"{page_rel}: the opened solution shows no code")
                else:
                    checked.append("solution collapsed, opens on click and shows its code")
            # widgets: the note that they need a live kernel, with a launch link
            note = page.locator(".course-live-kernel")
            if note.count():
                link = note.first.locator("a").first
                href = link.get_attribute("href") if link.count() else None
                if not href or "mybinder.org" not in href:
                    problems.append(f"{page_rel}: the live-kernel note has no launch link")
                else:
                    checked.append("widget replaced by a live-kernel note with a Binder link")
            # previous / next, from the same order as the notebooks' navigation
            if not page.locator(".prev-next-area a").count():
                problems.append(f"{page_rel}: no previous/next links")
            else:
                checked.append("previous/next links")
            page.screenshot(path=str(_shots() / "site-lesson.png"), full_page=False)
    except Exception as exc:
        problems.append(f"site: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    finally:
        context.close()
    return checked, problems




def slide_count(nb: dict) -> int:
    return sum(c.get("metadata", {}).get("slideshow", {}).get("slide_type") == "slide" for c in nb["cells"])


def check_slides(pw_browser, lab, rel: str = SLIDES) -> tuple[list[str], list[str]]:
    """The lesson opens as slides in JupyterLab (jupyterlab-rise's Alt+R preview)."""
    checked, problems = [], []
    nb = lab.notebook(rel)
    wanted = slide_count(nb)
    if wanted == 0:
        return [], [f"{rel} has no slide metadata (run: python3 ci/course.py nav)"]
    context = pw_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        browser.open_notebook(page, lab, rel, "slides-test")
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Escape")  # command mode: the shortcut's selector is .jp-Notebook:focus
        page.keyboard.press("Alt+r")
        page.wait_for_function("() => !!document.querySelector('iframe')", timeout=30_000)
        frame = page.frame_locator("iframe").first
        sections = frame.locator(".reveal .slides > section")
        sections.first.wait_for(timeout=60_000)
        deadline = time.monotonic() + 30
        while sections.count() < wanted and time.monotonic() < deadline:
            time.sleep(0.2)
        count = sections.count()
        if count != wanted:
            problems.append(f"{rel}: {count} slides shown, {wanted} cells start a slide")
        current = frame.locator(".reveal .slides > section.present").first
        title = nav_title(nb)
        if title not in (current.text_content() or ""):
            problems.append(f"{rel}: the first slide does not show the title {title!r}")
        before = frame.locator(".reveal .slides > section.present").first.text_content() or ""
        frame.locator(".reveal").first.click()
        page.keyboard.press("ArrowRight")
        moved = False
        for _ in range(50):
            after = frame.locator(".reveal .slides > section.present").first.text_content() or ""
            if after != before:
                moved = True
                break
            time.sleep(0.1)
        if not moved:
            problems.append(f"{rel}: the right arrow did not move to the next slide")
        if not problems:
            checked.append(f"{rel} opens as {count} slides in JupyterLab (Alt+R); title first; arrow keys move on")
        page.screenshot(path=str(_shots() / "slides.png"))
    except Exception as exc:
        problems.append(f"slides: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    finally:
        context.close()
        try:
            lab.shutdown_kernel_of(rel)
        except OSError:
            pass
    return checked, problems


def nav_title(nb: dict) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "nav" not in cell.get("metadata", {}).get("tags", []):
            for line in browser.source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _shots() -> Path:
    browser.SHOTS.mkdir(exist_ok=True)
    return browser.SHOTS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--site-only", action="store_true")
    group.add_argument("--slides-only", action="store_true")
    parser.add_argument("--lesson", default=LESSON, help=f"the lesson page of the site (default {LESSON})")
    parser.add_argument("--slides", default=SLIDES, help=f"the lesson shown as slides (default {SLIDES})")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    browser.ensure_chromium()
    if not args.slides_only and not SITE.exists():
        import website

        if website.build():
            return 1
    results = []
    start = time.perf_counter()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS)
        try:
            if not args.slides_only:
                results.append(("website", *check_site(chromium, SITE, args.lesson)))
            if not args.site_only:
                lab = browser.Lab()
                try:
                    results.append(("slides", *check_slides(chromium, lab, args.slides)))
                finally:
                    lab.close()
        finally:
            chromium.close()
    failed = 0
    for name, checked, problems in results:
        print(("ok     " if not problems else "FAILED ") + f"{name}: " + "; ".join(checked))
        for problem in problems:
            print(f"         - {problem}")
        failed += bool(problems)
    print(f"browser_site: {time.perf_counter() - start:.0f} s")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
