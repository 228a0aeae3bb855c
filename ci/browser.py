"""Test the course as a learner sees it: JupyterLab in a real (headless) browser.

For every notebook in ``notebooks/`` and ``solutions/``: open it in JupyterLab, restart the kernel
and run all cells through the Run menu, wait until every cell has run, and fail when a cell shows
an error it should not, or a widget shows "Error displaying widget". Then move every slider of
every ``Experiment`` widget with the keyboard, as a person would, and check that its plot and its
summary changed on the page. A screenshot of each notebook goes to ``screenshots/`` (ignored by git).

JupyterLab is started the way ``python3 ci/course.py open`` starts it (127.0.0.1, a free port,
a token), on a copy of the repo so autosave changes nothing here. The browser is Debian's
``chromium``, driven by the ``playwright`` package (never its own browser download).

    python3 ci/browser.py [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import course  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]
# an IPython error (not a traceback printed on purpose by a lesson): "NameError     Traceback (most recent call last)"
IPYTHON_ERROR = re.compile(r"^\s*-*\s*\w+\s{2,}Traceback \(most recent call last\)", re.M)


def say(message: str) -> None:
    print(f"[browser] {message}", flush=True)


def ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    say("installing Debian's chromium (once)")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.call(cmd, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}):
            sys.exit(f"failed: {' '.join(cmd)}")


def default_notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*/*.ipynb"))


def copy_repo(dest: Path) -> None:
    for folder in ("notebooks", "solutions", "labs"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


class Lab:
    """A JupyterLab server on a copy of the repo, started like `course.py open` starts it."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="course-browser-"))
        copy_repo(self.dir)
        self.port, self.token = course.free_port(), secrets.token_hex(16)
        env = course.jupyter_env()
        env["JUPYTER_CONFIG_DIR"] = str(self.dir / ".jupyter")
        env["JUPYTER_RUNTIME_DIR"] = str(self.dir / ".runtime")
        self.log = open(self.dir / "server.log", "w")
        self.proc = subprocess.Popen(
            course.lab_command(self.port, self.token, browser=False, root=self.dir),
            cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        log = (self.dir / "server.log").read_text()[-3000:]
        self.close()
        sys.exit("JupyterLab did not start within 60 s; its log:\n" + log)

    def url(self, rel: str) -> str:
        return f"{self.base}/lab/tree/{rel}?token={self.token}&reset"

    def shutdown_kernels(self):
        req = urllib.request.Request(f"{self.base}/api/kernels?token={self.token}")
        with urllib.request.urlopen(req, timeout=5) as response:
            kernels = json.load(response)
        for kernel in kernels:
            urllib.request.urlopen(urllib.request.Request(
                f"{self.base}/api/kernels/{kernel['id']}?token={self.token}", method="DELETE"), timeout=10)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def expected_errors(path: Path) -> list[int]:
    """Indices (among all cells) of cells that are meant to raise."""
    nb = nbformat.read(path, as_version=4)
    return [i for i, c in enumerate(nb.cells) if "raises-exception" in c.get("metadata", {}).get("tags", [])]


def code_cell_count(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())


def wait_idle(page, timeout_ms: int = 60_000):
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                .some(e => /\\| Idle$/.test(e.textContent.trim()))""",
        timeout=timeout_ms,
    )


def run_all(page, cells: int, timeout_s: float):
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:restart-and-run-all"]').click()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    # every non-empty code cell shows a number in its prompt, none shows [*]
    page.wait_for_function(
        """(n) => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(e => e.textContent.trim());
            const done = prompts.filter(t => /^\\[\\d+\\]:$/.test(t)).length;
            return done >= n && !prompts.some(t => t === '[*]:');
        }""",
        arg=cells,
        timeout=timeout_s * 1000,
    )
    wait_idle(page)


def cell_errors(page) -> list[int]:
    """Indices of cells whose output shows an IPython error."""
    texts = page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c =>
              [...c.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\\n'))"""
    )
    return [i for i, t in enumerate(texts) if IPYTHON_ERROR.search(t)]


def check_experiments(page, problems: list[str]) -> int:
    """Move the first slider of every Experiment with the keyboard; its plot and summary must change."""
    experiments = page.locator(".threadlab-experiment")
    for i in range(experiments.count()):
        exp = experiments.nth(i)
        exp.scroll_into_view_if_needed()
        plot, status = exp.locator("img.threadlab-plot"), exp.locator(".threadlab-status")
        before = (plot.get_attribute("src"), status.text_content())
        handle = exp.locator(".noUi-handle").first
        label = exp.locator(".widget-readout").first
        old_value = label.text_content()
        handle.focus()
        handle.press("ArrowLeft" if old_value.strip() not in ("0", "1") else "ArrowRight")
        try:
            page.wait_for_function(
                """([el, src, text]) => {
                    const img = el.querySelector('img.threadlab-plot');
                    const st = el.querySelector('.threadlab-status').textContent;
                    return img && img.src !== src && st !== text && !st.includes('running');
                }""",
                arg=[exp.element_handle(), before[0], before[1]],
                timeout=90_000,
            )
        except Exception:
            problems.append(f"experiment {i + 1}: moving its slider ({old_value} -> {label.text_content()}) "
                            "did not change both its plot and its summary within 90 s")
            continue
        if "error" in (status.text_content() or ""):
            problems.append(f"experiment {i + 1}: the slider move ended in an error: {status.text_content()}")
    return experiments.count()


def check_notebook(browser, lab: Lab, path: Path) -> tuple[list[str], str]:
    rel = path.relative_to(ROOT).as_posix()
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    console_errors = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    start = time.perf_counter()
    try:
        page.goto(lab.url(rel))
        wait_idle(page)
        run_all(page, code_cell_count(path), timeout_s=240)
        wanted = expected_errors(path)
        shown = cell_errors(page)
        for i in sorted(set(shown) - set(wanted)):
            problems.append(f"cell {i} shows an error")
        for i in sorted(set(wanted) - set(shown)):
            problems.append(f"cell {i} should raise (tagged raises-exception) but shows no error")
        body = page.locator("body").text_content()
        for bad in ("Error displaying widget", "model not found"):
            if bad in body:
                problems.append(f"a widget shows '{bad}'")
        n = check_experiments(page, problems)
        detail = f"{code_cell_count(path)} cells run, {len(wanted)} expected errors, {n} slider widgets moved"
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / (path.stem + ".png")), full_page=False)
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        detail = "did not finish"
        try:
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / (path.stem + "-FAILED.png")))
        except Exception:
            pass
    finally:
        page.close()
        lab.shutdown_kernels()
    problems += [f"browser console: {e}" for e in console_errors[:3]]
    return problems, f"{time.perf_counter() - start:5.1f} s  {rel}: {detail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or default_notebooks()
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    lab = Lab()
    failed = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for path in paths:
                problems, line = check_notebook(browser, lab, path)
                say(("ok     " if not problems else "FAILED ") + line)
                for problem in problems:
                    say(f"         - {problem}")
                failed += bool(problems)
            browser.close()
    finally:
        lab.close()
    say(f"screenshots in {SHOTS.relative_to(ROOT)}/: " + ", ".join(sorted(p.name for p in SHOTS.glob("*.png"))))
    say(f"browser suite: {time.perf_counter() - start:.0f} s")
    print(f"{len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
