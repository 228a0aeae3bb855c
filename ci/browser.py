"""Test the course as a learner sees it: JupyterLab in a real (headless) browser.

For every notebook in ``notebooks/`` and ``solutions/``: open it in JupyterLab, clear its outputs,
restart the kernel and run all cells through the menus, wait until the kernel is idle with no cell
queued, save it, and check the saved notebook against the stored one with nbval's rules and nbval's
own comparison code (``ci/nbcompare.py``): a cell shows an error it should not (or a
``raises-exception`` cell does not raise), a cell did not run, or a compared cell's outputs differ
from the stored ones. This run is the course's one execution of each notebook in CI: the test
command does not run nbval's pytest plugin as well (``--no-browser`` does). A widget that shows
"Error displaying widget" fails too. Then use every widget as a person does and check that the page
changes:

- every slider of every ``threadlab`` Experiment (keyboard on the slider handle): the readout, the
  plot image and the summary line must all change;
- lesson 13's Fibonacci app: type n, click Start, see it compute, click Stop, see it stop, then a
  small n runs to the end and shows F(n);
- lesson 15's explorers: reset, step a thread, "find a bug for me", replay the bug's first step.

The whole suite also opens a lesson page of the built website (``build/site``: figures drawn with
alt text, a collapsed solution, the live-kernel note) and starts a lesson as slides in JupyterLab
(``ci/browser_site.py``), in a third browser, while the notebooks run.

For every lab with a learner version in ``labs/``: run the cells above its first exercise, type a
wrong answer (the reference solution with its solution region emptied: ``return None`` in a function,
``pass`` in a class or module; the exercise's other answer cells get their reference answers), run
the check and see it fail; type the reference solution, run the check and see it pass.

JupyterLab is started with ``course.lab_command()``, exactly as ``python3 ci/course.py open`` starts
it (127.0.0.1, a free port, a token), on a copy of the repo so autosave changes nothing here. The
browser is Debian's ``chromium`` driven by the ``playwright`` package (never its own download).
Screenshots go to ``screenshots/`` (ignored by git). Two browsers work at once; every notebook shares
the machine with the other browser and its kernel, and its asserts hold on a busy machine (the
course's claims policy in CONTRIBUTING.md), so no notebook runs alone and none gets a second try.

    python3 ci/browser.py [NOTEBOOK ...] [--jobs 2]
    python3 ci/browser.py --self-test     # breaks the Experiment slider callback in a copy: must be caught
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import course  # noqa: E402
import nbcompare  # noqa: E402
from regenerate import targets as default_notebooks  # noqa: E402  (every lesson and lab solution)

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    "--disable-dev-shm-usage",
]
RUN_TIMEOUT = 180.0     # seconds for one notebook's Run All (lessons take under 45 s on a 2-core machine)
WIDGET_TIMEOUT = 60.0   # seconds for a widget to show the effect of one action
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def say(message: str) -> None:
    print(f"[browser] {message}", flush=True)


# ---------------------------------------------------------------- pure helpers (tests/test_browser_tools.py)


def lab_notebooks(root: Path = ROOT) -> list[Path]:
    """Learner versions of the labs that have a reference version next to them."""
    return [p for p in sorted((root / "labs").glob("*/*.ipynb"))
            if (root / "solutions" / p.parent.name / p.name).exists()]


def code_cells(nb: dict) -> list[tuple[int, dict]]:
    return [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def solution_answers(solution_cell_source: str) -> tuple[str, str] | None:
    """(wrong answer, right answer) for an exercise cell with a solution region.

    The right answer is the reference solution. The wrong one is the same cell with its solution
    regions emptied: inside a function the first region becomes ``return None`` and later ones
    are dropped; in a class body or at module level (a ``%%writefile`` module too) each region
    becomes ``pass``, so the class or module defines nothing the check needs. None when the cell
    is not valid Python that way (another cell magic, unbalanced markers).
    """
    lines = solution_cell_source.splitlines()
    starts = [k for k, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [k for k, line in enumerate(lines) if line.strip() == END]
    if not starts or len(starts) != len(ends) or any(b <= a for a, b in zip(starts, ends)):
        return None
    wrong_lines, k = [], 0
    for begin, end in zip(starts, ends):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        enclosing = next((line.strip() for line in reversed(lines[:begin])
                          if line.strip() and len(line) - len(line.lstrip()) < len(indent)), "")
        in_function = bool(indent) and re.match(r"(async\s+)?def\s", enclosing)
        wrong_lines += lines[k:begin] + [f"{indent}{'return None' if in_function else 'pass'}  # a wrong answer"]
        k = end + 1
    wrong = "\n".join(wrong_lines + lines[k:]) + "\n"
    right = "\n".join(line for line in lines if line.strip() not in (BEGIN, END)) + "\n"
    python = wrong
    if wrong.startswith("%%"):
        magic, _, python = wrong.partition("\n")
        if not magic.startswith("%%writefile"):
            return None
    try:
        compile(python, "<wrong answer>", "exec")
    except SyntaxError:
        return None
    return wrong, right


def first_exercise(solution_nb: dict) -> tuple[int, str, str, str, list[tuple[str, str]]] | None:
    """(index of the first answer cell, its grade_id, wrong answer, right answer, later answer cells)
    of the lab's first exercise: one or more answer cells, then its autograded check. The later
    answer cells of the same exercise come as (grade_id, reference answer): the suite fills them in
    rightly, so only the first cell's answer decides the check."""
    cells = solution_nb["cells"]
    grader = lambda c: c.get("metadata", {}).get("nbgrader", {})  # noqa: E731
    for i, cell in enumerate(cells):
        meta = grader(cell)
        if cell["cell_type"] != "code" or not meta.get("solution"):
            continue
        # only the first exercise: a later one may need the earlier ones' answers
        answers = solution_answers(source(cell))
        more, j = [], i + 1
        while j < len(cells) and (cells[j]["cell_type"] != "code" or grader(cells[j]).get("solution")):
            if cells[j]["cell_type"] == "code":
                right = solution_answers(source(cells[j]))
                if right is None:
                    return None
                more.append((grader(cells[j]).get("grade_id", f"cell {j}"), right[1]))
            j += 1
        if answers and j < len(cells) and grader(cells[j]).get("grade"):
            return i, meta.get("grade_id", f"cell {i}"), *answers, more
        return None
    return None


def longest_first(paths: list[Path]) -> list[Path]:
    """Order the work so the longest notebooks start first (two workers finish together)."""
    def weight(p: Path) -> float:
        try:
            nb = json.loads(p.read_text())
        except (OSError, ValueError):
            return 0
        slow = 2.0 if re.match(r"(09|10|11)-", p.name) or p.parent.name.startswith("lab") else 1.0
        return slow * len(code_cells(nb))
    return sorted(paths, key=weight, reverse=True)


# ---------------------------------------------------------------- the server

def ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    say("installing Debian's chromium (once)")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.call(cmd, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}):
            sys.exit(f"failed: {' '.join(cmd)}")


class Lab:
    """A JupyterLab server on a copy of the repo, started like `course.py open` starts it.

    ``break_widgets``: the copy gets its own threadlab in which moving an Experiment's slider
    does nothing (for --self-test).
    """

    def __init__(self, break_widgets: bool = False):
        self.dir = Path(tempfile.mkdtemp(prefix="course-browser-"))
        for folder in ("notebooks", "solutions", "labs"):
            if (ROOT / folder).exists():
                shutil.copytree(ROOT / folder, self.dir / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        env = course.jupyter_env()
        env["JUPYTER_CONFIG_DIR"] = str(self.dir / ".jupyter")
        env["JUPYTER_RUNTIME_DIR"] = str(self.dir / ".runtime")
        if break_widgets:
            shutil.copytree(ROOT / "threadlab", self.dir / "threadlab", ignore=shutil.ignore_patterns("__pycache__"))
            widgets = self.dir / "threadlab" / "widgets.py"
            text = widgets.read_text()
            hook = "    def _on_change(self, change):\n"
            if hook not in text:
                sys.exit("self-test: Experiment._on_change not found in threadlab/widgets.py")
            broken = hook + "        return  # broken on purpose by ci/browser.py --self-test\n"
            widgets.write_text(text.replace(hook, broken))
            env["PYTHONPATH"] = str(self.dir)  # the kernels import the broken copy
        self.port, self.token = course.free_port(), secrets.token_hex(16)
        self.log = open(self.dir / "server.log", "w")
        self.proc = subprocess.Popen(
            course.lab_command(self.port, self.token, browser=False, root=self.dir),
            cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                self.api("status")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        log = (self.dir / "server.log").read_text()[-3000:]
        self.close()
        sys.exit("JupyterLab did not start within 90 s; its log:\n" + log)

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, rel: str, workspace: str) -> str:
        return f"{self.base}/lab/workspaces/{workspace}/tree/{urllib.parse.quote(rel)}?reset&token={self.token}"

    def notebook(self, rel: str) -> dict:
        """The notebook as saved, read from the copy's disk. Never through the contents API: a read
        that meets a save in progress makes Jupyter "recover" the file (renamed to .invalid)."""
        path = self.dir / rel
        for attempt in range(50):
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):  # being written right now
                if attempt == 49:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def mtime(self, rel: str) -> int:
        try:
            return (self.dir / rel).stat().st_mtime_ns
        except OSError:
            return 0

    def shutdown_kernel_of(self, rel: str) -> None:
        for session in self.api("sessions"):
            if session.get("path") == rel:
                self.api(f"sessions/{session['id']}", method="DELETE")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(self.dir / "server.log", SHOTS / "server.log")  # for a failure's post-mortem
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- driving JupyterLab

IDLE_JS = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                   .some(e => /\\| Idle$/.test(e.textContent.trim()))"""

# Run All has finished when the kernel is idle, no cell is queued or running ([*]) and every visible
# prompt has a number, or a cell shows an error (JupyterLab then skips the cells after it).
# Cells whose input is collapsed show an empty prompt; the saved notebook is checked for them.
RUN_DONE_JS = """() => {
    const idle = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
        .some(e => /\\| Idle$/.test(e.textContent.trim()));
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim()).filter(t => t !== '');
    const queued = prompts.some(t => t === '[*]:');
    const numbered = prompts.every(t => /^\\[\\d+\\]:$/.test(t));
    const error = [...document.querySelectorAll('.jp-OutputArea-output')]
        .some(o => /Traceback \\(most recent call last\\)/.test(o.textContent));
    return idle && !queued && (numbered || error);
}"""


IDLE_LONG = 10.0  # seconds of an idle kernel after which Run All is over, whatever the prompts say


def wait_run_over(page, timeout: float) -> bool:
    """Run All is over: the kernel idle, no cell queued and every prompt numbered (or an error
    shown) for a second; or the kernel idle for ``IDLE_LONG`` seconds whatever the prompts say
    (once in five fresh clones JupyterLab left a prompt it did not redraw, and the wait ran out with
    every cell done and the kernel idle): the saved notebook then tells what ran. False on timeout."""
    return wait_for_any(page, [(RUN_DONE_JS, 1.0, None), (IDLE_JS, IDLE_LONG, None)], timeout)


def menu(page, title: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=title).first.click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def wait_until(page, js: str, timeout: float, stable: float = 0.0, arg=None) -> bool:
    """Poll ``js`` in the page until it has been true for ``stable`` seconds; False on timeout."""
    return wait_for_any(page, [(js, stable, arg)], timeout)


def wait_for_any(page, conditions: list[tuple[str, float, object]], timeout: float) -> bool:
    """Poll each ``(js, stable, arg)`` in the page until one of them has been true for its ``stable``
    seconds; False on timeout."""
    deadline = time.monotonic() + timeout
    since: list[float | None] = [None] * len(conditions)
    while time.monotonic() < deadline:
        for k, (js, stable, arg) in enumerate(conditions):
            ok = page.evaluate(js, arg) if arg is not None else page.evaluate(js)
            now = time.monotonic()
            if ok:
                since[k] = since[k] if since[k] is not None else now
                if now - since[k] >= stable:
                    return True
            else:
                since[k] = None
        page.wait_for_timeout(200)
    return False


def open_notebook(page, lab: Lab, rel: str, workspace: str) -> float:
    """Open the notebook and wait for its kernel; returns the seconds until the notebook was drawn."""
    start = time.perf_counter()
    page.goto(lab.url(rel, workspace))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
    drawn = time.perf_counter() - start
    if not wait_until(page, IDLE_JS, 90):
        raise RuntimeError("the kernel did not become idle within 90 s of opening the notebook")
    return drawn


def save(page, lab: Lab, rel: str) -> dict:
    """Save from the File menu (then, if nothing happened, with Ctrl+S); return the saved notebook."""
    before = lab.mtime(rel)
    for attempt in range(3):
        if attempt == 0:
            menu(page, "File", "docmanager:save")
        else:
            page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
            page.keyboard.press("Escape")
            page.keyboard.press("Control+s")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if lab.mtime(rel) != before:
                time.sleep(0.3)  # let the write finish
                return lab.notebook(rel)
            time.sleep(0.2)
    files = [f.name for f in (lab.dir / rel).parent.iterdir()]
    raise RuntimeError(f"saving the notebook changed nothing on disk (folder holds: {', '.join(sorted(files))})")


def run_all(page, lab: Lab, rel: str, stored: dict) -> tuple[dict, list]:
    """Clear outputs, Restart Kernel and Run All Cells, wait, save; return the saved notebook and
    what nbval's rules find wrong with it (``nbcompare.compare`` against ``stored``)."""
    menu(page, "Edit", "editmenu:clear-all")
    menu(page, "Run", "runmenu:restart-and-run-all")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    # the run has started once a prompt shows [*] or a number (clearing left them all empty: [ ]:)
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]
        .some(e => /^\\[(\\*|\\d+)\\]:$/.test(e.textContent.trim()))""", timeout=60_000)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        if not wait_run_over(page, deadline - time.monotonic()):
            raise RuntimeError(f"Run All did not finish within {RUN_TIMEOUT:.0f} s")
        nb = save(page, lab, rel)
        problems = nbcompare.compare(stored, nb)
        if not any(p.kind == "did not run" for p in problems) or time.monotonic() > deadline:
            return nb, problems
        if any(p.kind == "error" for p in problems):
            return nb, problems  # JupyterLab stops at an unexpected error: the cells after it did not run
        # else a cell with collapsed input (a solution) may still be running: its prompt is not shown
        page.wait_for_timeout(1000)


# ---------------------------------------------------------------- widgets

EXPERIMENT_STATE_JS = """(el) => {
    const img = el.querySelector('img.threadlab-plot');
    const status = el.querySelector('.threadlab-status');
    return {src: img ? img.src : null, status: status ? status.textContent : null,
            readouts: [...el.querySelectorAll('.widget-readout')].map(r => r.textContent.trim())};
}"""

EXPERIMENT_CHANGED_JS = """([el, before, k]) => {
    const img = el.querySelector('img.threadlab-plot');
    const status = el.querySelector('.threadlab-status').textContent;
    const readout = el.querySelectorAll('.widget-readout')[k].textContent.trim();
    if (status !== before.status && status.startsWith('error')) return true;  // reported by the caller
    return readout !== before.readouts[k] && !!img && img.src !== before.src
        && status !== before.status && !status.includes('running');
}"""


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def widget_cells(nb: dict) -> list[int]:
    """Indices of the cells whose outputs include a widget view."""
    return [i for i, c in code_cells(nb) if any(WIDGET_MIME in o.get("data", {}) for o in c.get("outputs", []))]


def render_widgets(page, nb: dict) -> tuple[int, list[str]]:
    """Scroll to every cell with a widget output (JupyterLab renders offscreen outputs lazily) and
    wait until the widget is drawn; a cell showing "Error displaying widget" or nothing is a problem."""
    problems = []
    cells = page.locator(".jp-Notebook .jp-Cell")
    for i in widget_cells(nb):
        cell = cells.nth(i)
        cell.scroll_into_view_if_needed()
        try:
            cell.locator(".jp-OutputArea-output .jupyter-widgets").first.wait_for(timeout=20_000)
        except Exception:
            text = " ".join((cell.locator(".jp-OutputArea").text_content() or "").split())
            problems.append(f"cell {i}: its widget was not drawn within 20 s (the output shows {text[:200]!r})")
    return len(widget_cells(nb)), problems


def check_experiments(page) -> tuple[list[str], list[str]]:
    """Move every slider of every Experiment one step with the keyboard; readout, plot and summary
    must change. Returns (what was checked, problems)."""
    checked, problems = [], []
    experiments = page.locator(".threadlab-experiment")
    for i in range(experiments.count()):
        exp = experiments.nth(i)
        exp.scroll_into_view_if_needed()
        title = (exp.locator("b").first.text_content() or f"experiment {i + 1}").strip()
        sliders = exp.locator(".widget-slider")
        for k in range(sliders.count()):
            handle = sliders.nth(k).locator(".noUi-handle").first
            name = (sliders.nth(k).locator(".widget-label").first.text_content() or f"slider {k + 1}").strip()
            before = exp.evaluate(EXPERIMENT_STATE_JS)
            value, low = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemin")
            key = "ArrowRight" if value is not None and float(value) <= float(low or 0) else "ArrowLeft"
            handle.focus()
            handle.press(key)
            ok = wait_until(page, EXPERIMENT_CHANGED_JS, WIDGET_TIMEOUT, arg=[exp.element_handle(), before, k])
            after = exp.evaluate(EXPERIMENT_STATE_JS)
            move = f"{name} {before['readouts'][k]}->{after['readouts'][k]}"
            if (after["status"] or "").startswith("error"):
                problems.append(f"'{title}': {key} on slider '{name}' ended in an error: {after['status'][:200]}")
            elif not ok:
                what = [w for w, changed in (("readout", after["readouts"][k] != before["readouts"][k]),
                                             ("plot", after["src"] != before["src"]),
                                             ("summary", after["status"] != before["status"])) if not changed]
                problems.append(f"'{title}': {key} on slider '{name}' did not change its {', '.join(what) or 'state'} "
                                f"within {WIDGET_TIMEOUT:.0f} s (summary: {(after['status'] or '')[:120]!r})")
            else:
                checked.append(move)
    return checked, problems


def text_of(locator) -> str:
    return " ".join((locator.text_content() or "").split())


def wait_text(locator, pattern: str, timeout: float = WIDGET_TIMEOUT) -> str:
    """Wait until the element's text matches ``pattern``; return the text (raise on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        text = text_of(locator)
        if re.search(pattern, text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"expected text matching {pattern!r}, page shows {text[:200]!r}")
        time.sleep(0.1)


def check_fibonacci_app(page) -> tuple[list[str], list[str]]:
    """Lesson 13's app: type n, Start, see it compute and the progress bar move, Stop, see it stop;
    a small n runs to the end."""
    apps = page.locator(".jp-OutputArea-output:has(button:text-is('Start')):has(button:text-is('Stop'))")
    checked, problems = [], []
    for i in range(apps.count()):
        app = apps.nth(i)
        app.scroll_into_view_if_needed()
        start = app.locator("button", has_text=re.compile(r"^\s*Start\s*$"))
        stop = app.locator("button", has_text=re.compile(r"^\s*Stop\s*$"))
        n_box = app.locator(".widget-text input").first
        bar = app.locator(".progress-bar").first
        try:
            if not start.is_enabled():  # still running from the notebook: stop it first
                stop.click()
                page.wait_for_function("(b) => !b.disabled", arg=start.element_handle(), timeout=WIDGET_TIMEOUT * 1000)
            n_box.fill("1000000")
            n_box.press("Enter")
            start.click()
            wait_text(app, r"computing F\(1,000,000\)")
            page.wait_for_function("(b) => parseFloat(b.style.width || '0') > 0", arg=bar.element_handle(),
                                   timeout=WIDGET_TIMEOUT * 1000)
            if not stop.is_enabled():
                raise AssertionError("Stop is not enabled while the app computes")
            stop.click()
            wait_text(app, r"stopped at step [\d,]+ of 1,000,000")
            page.wait_for_function("(b) => !b.disabled", arg=start.element_handle(), timeout=WIDGET_TIMEOUT * 1000)
            n_box.fill("1000")
            n_box.press("Enter")
            start.click()
            wait_text(app, r"F\(1,000\) = \d")
            page.wait_for_function("(b) => parseFloat(b.style.width) >= 99.9", arg=bar.element_handle(),
                                   timeout=WIDGET_TIMEOUT * 1000)
            checked.append("Fibonacci app: Start/progress/Stop/result")
        except Exception as exc:
            problems.append(f"Fibonacci app {i + 1}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    return checked, problems


def check_explorers(page) -> tuple[list[str], list[str]]:
    """Lesson 15's explorers: reset, step thread 0, find a bug, replay its first step."""
    explorers = page.locator(".jp-OutputArea-output:has(button:has-text('find a bug for me'))")
    checked, problems = [], []
    for i in range(explorers.count()):
        ex = explorers.nth(i)
        ex.scroll_into_view_if_needed()
        try:
            title = text_of(ex.locator("b").first)
            ex.locator("button", has_text="reset").click()
            wait_text(ex, r"schedule so far: \(empty\) \(0 steps\)")
            column = ex.locator(".widget-html").nth(1)  # thread 0's code (the first HTML is the title)
            before = text_of(column)
            ex.locator("button", has_text="step thread 0").click()
            wait_text(ex, r"schedule so far: 0 \(1 steps\)")
            if text_of(column) == before:
                raise AssertionError("stepping thread 0 did not change its column (line, instruction)")
            ex.locator("button", has_text="find a bug for me").click()
            found = wait_text(ex, r"schedule so far: \(empty\).*(found|no )")
            replay = ex.locator("button", has_text="replay the bug")
            if not replay.is_enabled():
                raise AssertionError(f"the search found no bug to replay: {found[-200:]!r}")
            replay.click()
            wait_text(ex, r"schedule so far: \d \(1 steps\)")
            checked.append(f"explorer '{title[:40]}': reset/step/find a bug/replay")
        except Exception as exc:
            problems.append(f"explorer {i + 1}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    return checked, problems


# ---------------------------------------------------------------- labs

def type_into_cell(page, cell, text: str) -> None:
    """Replace a code cell's text as a person does: click in it, select all, type (paste) the new code."""
    editor = cell.locator(".cm-content").first
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)  # like a paste: no auto-indent or bracket closing by the editor


def run_cell_and_check(page, answer_cells, check_cell) -> str:
    """Shift+Enter in each answer cell, then in the check cell; return the check cell's output."""
    for answer in answer_cells:
        answer.locator(".cm-content").first.click()
        page.keyboard.press("Shift+Enter")
    check_cell.locator(".cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    prompt = check_cell.locator(".jp-InputPrompt")
    page.wait_for_function("(p) => /^\\[\\d+\\]:$/.test(p.textContent.trim())", arg=prompt.element_handle(),
                           timeout=WIDGET_TIMEOUT * 1000)
    return text_of(check_cell.locator(".jp-OutputArea"))


#: a racy answer to a lab's first exercise, whose check prints the explorer's failing schedule: the
#: suite then opens that schedule with show_bug() in a new cell and replays it in the widget
RACY_ANSWERS = {
    "lab2-races-and-locks": """class Counter:
    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def increment(self, amount=1):
        self._value += amount  # no lock: two threads can read the same value
        return self._value

    @property
    def value(self):
        with self._lock:
            return self._value
""",
}


def check_show_bug(page, cells, cell, check, check_k: int, answer_cells, racy: str) -> tuple[list[str], list[str]]:
    """Type a racy answer, see its check print a schedule, open it with show_bug() in a new cell
    below the check and replay it to its end in the explorer widget."""
    type_into_cell(page, cell, racy)
    out = run_cell_and_check(page, answer_cells, check)
    if "✘" not in out or "show_bug()" not in out:
        return [], [f"a racy answer's check printed no schedule to open with show_bug(): {out[-300:]!r}"]
    check.locator(".jp-InputPrompt").click()  # select the check cell, in command mode
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below it
    new = cells.nth(check_k + 1)
    type_into_cell(page, new, "show_bug()")
    page.keyboard.press("Shift+Enter")
    explorer = new.locator(".jp-OutputArea-output:has(button:has-text('replay the bug'))")
    explorer.wait_for(timeout=WIDGET_TIMEOUT * 1000)
    replay = explorer.locator("button", has_text="replay the bug")
    for steps in (1, 2, 3):  # a few steps one click at a time ...
        replay.click()
        wait_text(explorer, rf"schedule so far: \d+ \({steps} steps\)")
    explorer.locator("button", has_text="run this schedule").click()  # ... then the whole schedule
    final = wait_text(explorer, r"failed: final check failed")
    if "lost" not in final:
        return [], [f"show_bug()'s schedule did not end with the lost increment: {final[-300:]!r}"]
    return ["a racy answer's schedule opened with show_bug(), stepped and replayed in the widget"], []


def check_lab_exercise(page, lab: Lab, rel: str, solution: Path) -> tuple[list[str], list[str]]:
    """In the learner version: run the cells above the first exercise, type a wrong answer and see
    its check fail, type the reference answer and see it pass."""
    exercise = first_exercise(json.loads(solution.read_text()))
    if exercise is None:  # no generic wrong answer (e.g. a cell magic other than %%writefile)
        return ["skipped: no generic wrong answer for its first exercise"], []
    index, grade_id, wrong, right, more = exercise
    learner = lab.notebook(rel)
    ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in learner["cells"]]
    if grade_id not in ids:
        return [], [f"the learner version has no cell {grade_id!r}"]
    if any(other not in ids for other, _ in more):
        return [], [f"the learner version lacks one of the cells {[other for other, _ in more]}"]
    k = ids.index(grade_id)
    later = [ids.index(other) for other, _ in more]
    check_k = next(j for j in range(max([k, *later]) + 1, len(learner["cells"]))
                   if learner["cells"][j]["cell_type"] == "code")
    cells = page.locator(".jp-Notebook .jp-Cell")
    cell, check = cells.nth(k), cells.nth(check_k)
    answer_cells = [cell, *(cells.nth(j) for j in later)]
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").click()  # select the exercise cell
    menu(page, "Run", "notebook:run-all-above")
    above = [j for j in range(k) if learner["cells"][j]["cell_type"] == "code" and source(learner["cells"][j]).strip()]
    if above and not wait_until(page, """(p) => /^\\[\\d+\\]:$/.test(p.textContent.trim())""", RUN_TIMEOUT,
                                arg=cells.nth(above[-1]).locator(".jp-InputPrompt").element_handle()):
        return [], [f"the cells above {grade_id} did not finish within {RUN_TIMEOUT:.0f} s"]
    if not wait_until(page, IDLE_JS, RUN_TIMEOUT, stable=0.5):
        return [], [f"the kernel did not become idle after running the cells above {grade_id}"]
    problems, checked = [], []
    for j, (_, text) in zip(later, more):   # the exercise's other cells: answered rightly
        type_into_cell(page, cells.nth(j), text)
    type_into_cell(page, cell, wrong)
    out = run_cell_and_check(page, answer_cells, check)
    if "✘" not in out:
        problems.append(f"{grade_id}: a wrong answer (its solution emptied) was not reported as failing: {out[:300]!r}")
    else:
        checked.append(f"{grade_id}: wrong answer fails")
    type_into_cell(page, cell, right)
    out = run_cell_and_check(page, answer_cells, check)
    if "✘" in out or "✔" not in out or "Traceback" in out:
        problems.append(f"{grade_id}: the reference answer was not reported as passing: {out[:300]!r}")
    else:
        checked.append(f"{grade_id}: reference answer passes")
    racy = RACY_ANSWERS.get(Path(rel).parent.name)
    if racy is not None:
        c, p = check_show_bug(page, cells, cell, check, check_k, answer_cells, racy)
        checked += c
        problems += [f"{grade_id}: {x}" for x in p]
    return checked, problems


# ---------------------------------------------------------------- one notebook, workers, main

def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(SHOTS / f"{name}.png"))
    except Exception as exc:
        say(f"screenshot {name}.png failed: {exc}")


def open_in_app(page, rel: str) -> float:
    """Open another notebook in the JupyterLab already on the page (File > Open from Path...)."""
    start = time.perf_counter()
    menu(page, "File", "filebrowser:open-path")
    field = page.locator(".jp-Dialog input").first
    field.fill(rel)
    field.press("Enter")
    page.wait_for_function(
        """(name) => [...document.querySelectorAll('.lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel')]
                      .some(t => t.textContent.trim() === name)""", arg=Path(rel).name, timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    drawn = time.perf_counter() - start
    if not wait_until(page, IDLE_JS, 90, stable=0.5):
        raise RuntimeError("the kernel did not become idle within 90 s of opening the notebook")
    return drawn


def close_notebook(page) -> None:
    """File > Close and Shut Down Notebook; discard unsaved edits (a lab's typed answers)."""
    menu(page, "File", "filemenu:close-and-cleanup")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if page.locator(".jp-NotebookPanel").count() == 0:
            return
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            discard = dialog.locator(".jp-Dialog-button", has_text=re.compile("Discard|Don't Save"))
            (discard.first if discard.count() else dialog.locator(".jp-Dialog-button.jp-mod-accept").first).click()
        page.wait_for_timeout(200)
    raise RuntimeError("the notebook did not close")


def check_notebook(context, lab: Lab, path: Path, workspace: str, lab_exercise: bool = False,
                   worker: dict | None = None) -> tuple[list[str], str]:
    """Check one notebook. ``worker`` keeps this worker's page between notebooks: the next one is
    opened inside the same JupyterLab (no reload), or on a fresh page when that is not possible."""
    worker = worker if worker is not None else {}
    rel = path.relative_to(ROOT).as_posix()
    name = ("exercise-" if lab_exercise else "") + path.stem
    problems: list[str] = []
    checked: list[str] = []
    start = time.perf_counter()
    detail = "did not finish"
    page = worker.pop("page", None)
    if page is not None:
        worker["errors"].clear()
        try:
            drawn = open_in_app(page, rel)
        except Exception:
            page.close()
            page = None
    if page is None:
        page = context.new_page()
        page.set_default_timeout(30_000)
        worker["errors"] = errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
    page_errors = worker["errors"]
    reusable = False
    try:
        if not page.url.startswith(lab.base):
            drawn = open_notebook(page, lab, rel, workspace)
        opened = time.perf_counter()
        if lab_exercise:
            solution = ROOT / "solutions" / path.parent.name / path.name
            checked, problems = check_lab_exercise(page, lab, rel, solution)
            detail = "; ".join(checked) or "no exercise checked"
        else:
            nb, found = run_all(page, lab, rel, nbcompare.read(path))
            ran = time.perf_counter()
            problems += summarize(found)
            n_code = len([c for _, c in code_cells(nb) if source(c).strip()])
            tagged = sum("raises-exception" in c.get("metadata", {}).get("tags", []) for _, c in code_cells(nb))
            widgets, not_drawn = render_widgets(page, nb)
            problems += not_drawn
            body = page.locator("body").text_content() or ""
            for bad in ("Error displaying widget", "Model not found", "model not found"):
                if bad in body:
                    problems.append(f"a widget shows '{bad}'")
            for check in (check_experiments, check_fibonacci_app, check_explorers):
                c, p = check(page)
                checked += c
                problems += p
            phases = (f"[open {drawn:.0f} s + kernel {opened - start - drawn:.0f} s, run all {ran - opened:.0f} s, "
                      f"widgets {time.perf_counter() - ran:.0f} s] ")
            detail = (phases + f"{n_code} cells run, {tagged} expected errors, {widgets} widgets drawn"
                      + (f"; {'; '.join(checked)}" if checked else ""))
        reusable = True
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    finally:
        shot(page, name + ("-FAILED" if problems else ""))
        problems += [f"browser page error: {e[:200]}" for e in page_errors[:3]]
        if reusable:
            try:
                close_notebook(page)  # also shuts its kernel down
                worker["page"] = page
            except Exception:
                reusable = False
        if not reusable:
            page.close()
        try:
            lab.shutdown_kernel_of(rel)
        except OSError:
            pass
    return problems, f"{time.perf_counter() - start:5.1f} s  {rel}: {detail}"


def summarize(found: list) -> list[str]:
    """One line per problem nbcompare found; the cells that did not run after an error, in one line."""
    failed = [str(p) for p in found if p.kind != "did not run"]
    skipped = [p.cell for p in found if p.kind == "did not run"]
    if skipped:
        failed.append(f"{len(skipped)} cells did not run (from cell {skipped[0]} on)")
    return failed


def run_suite(lab: Lab, jobs: list[tuple[Path, bool]], workers: int) -> list[tuple[list[str], str]]:
    """Check the jobs on ``workers`` browsers in parallel (one playwright per thread)."""
    from playwright.sync_api import sync_playwright

    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    results: list[tuple[list[str], str]] = []
    lock = threading.Lock()

    def worker(n: int):
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # one context per browser: its HTTP cache keeps JupyterLab's scripts between notebooks
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                state: dict = {}
                while True:
                    try:
                        path, exercise = todo.get_nowait()
                    except queue.Empty:
                        break
                    problems, line = check_notebook(context, lab, path, f"browser-test-{n}", exercise, state)
                    with lock:
                        results.append((problems, line))
                        say(("ok     " if not problems else "FAILED ") + line)
                        for problem in problems:
                            say(f"         - {problem}")
                browser.close()
        except Exception as exc:  # the browser itself failed: every job left fails
            with lock:
                say(f"worker {n} failed: {type(exc).__name__}: {exc}")
                while not todo.empty():
                    path, _ = todo.get_nowait()
                    results.append(([f"not run: {exc}"], f"  0.0 s  {path.relative_to(ROOT)}: not run"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def check_site_and_slides(lab: Lab) -> list[tuple[list[str], str]]:
    """The built website's lesson page and a lesson shown as slides (``ci/browser_site.py``), in a
    browser of their own, while the notebooks run. Builds the site first when it is missing."""
    import browser_site  # imports this module: not at the top
    from playwright.sync_api import sync_playwright

    results = []
    if not browser_site.SITE.exists():
        import website

        if website.build():
            return [(["the website did not build"], "  0.0 s  website")]
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, check in (("website: a lesson page", lambda: browser_site.check_site(chromium)),
                                ("slides: a lesson in JupyterLab", lambda: browser_site.check_slides(chromium, lab))):
                start = time.perf_counter()
                try:
                    checked, problems = check()
                except Exception as exc:  # reported, never hidden
                    checked, problems = [], [f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"]
                results.append((problems, f"{time.perf_counter() - start:5.1f} s  {name}: {'; '.join(checked)}"))
                say(("ok     " if not problems else "FAILED ") + results[-1][1])
        finally:
            chromium.close()
    return results


def self_test(workers: int) -> int:
    """Break Experiment's slider callback in a copy of threadlab; the suite must catch it."""
    global WIDGET_TIMEOUT
    WIDGET_TIMEOUT = 15.0  # a working slider redraws in about a second; the broken one never does
    say("self-test: the Experiment slider callback does nothing in this copy; the slider checks must fail")
    lab = Lab(break_widgets=True)
    try:
        results = run_suite(lab, [(ROOT / "notebooks" / "01-why-concurrency.ipynb", False)], workers)
    finally:
        lab.close()
    problems = [p for ps, _ in results for p in ps]
    caught = any("did not change" in p and "slider" in p for p in problems)
    others = [p for p in problems if not ("did not change" in p and "slider" in p)]
    if caught and not others:
        print("self-test passed: the broken slider callback was caught, nothing else failed")
        return 0
    print(f"self-test FAILED: caught={caught}, other problems={others}")
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/, solutions/ and the labs")
    parser.add_argument("--jobs", type=int, default=2, help="browsers (and kernels) at once (default 2)")
    parser.add_argument("--self-test", action="store_true", help="check that a broken widget callback is caught")
    args = parser.parse_args(argv)
    # a CI timeout's SIGTERM still stops JupyterLab and its kernels (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"{Path(__file__).name}: terminated"))
    ensure_chromium()
    if args.self_test:
        return self_test(1)
    if args.notebooks:
        paths = [p.resolve() for p in args.notebooks]
        jobs = [(p, p.relative_to(ROOT).parts[0] == "labs") for p in paths]
    else:
        # the longest first: the browsers finish together
        jobs = [(p, False) for p in longest_first(default_notebooks())] + [(p, True) for p in lab_notebooks()]
    start = time.perf_counter()
    if SHOTS.exists():
        for old in SHOTS.glob("*.png"):
            old.unlink()
    lab = Lab()
    extras: list = []
    try:
        side = None
        if not args.notebooks:  # the whole suite: the website and the slides too, alongside
            side = threading.Thread(target=lambda: extras.extend(check_site_and_slides(lab)), name="site-and-slides")
            side.start()
        results = run_suite(lab, jobs, max(1, args.jobs))
        if side is not None:
            side.join()
            results += extras
            if len(extras) < 2:
                results.append((["the website and slides checks did not finish"], "  0.0 s  website and slides"))
    finally:
        lab.close()
    exercised = [line for problems, line in results if "wrong answer fails" in line]
    if any(exercise for _, exercise in jobs) and not exercised:
        results.append((["no lab had an exercise the suite could answer wrongly and rightly"], "labs: none exercised"))
    failed = sum(bool(problems) for problems, _ in results)
    print()
    for problems, line in sorted(results, key=lambda r: r[1].split("  ", 1)[-1]):
        print(("ok     " if not problems else "FAILED ") + line)
        for problem in problems:
            print(f"         - {problem}")
    shots = sorted(p.name for p in SHOTS.glob("*.png")) if SHOTS.exists() else []
    print(f"screenshots in {SHOTS.relative_to(ROOT)}/: {', '.join(shots)}")
    print(f"browser suite: {time.perf_counter() - start:.0f} s with {args.jobs} browsers")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or len(results) < len(jobs) else 0


if __name__ == "__main__":
    sys.exit(main())
