"""The mutation suite: realistic wrong answers to every exercise, and whether the checks catch them.

A check is only as good as the wrong answers it catches. For each lesson exercise, ``mutants/`` holds
mistakes learners really make, each written as a small edit of the reference answer (the lesson's
solution cell): a lock left out, ``if`` for ``while``, ``notify`` for ``notify_all``, no ``finally``,
threads started and joined one at a time. Each mutant runs in a fresh Python process: the lesson's
first code cell (its imports), then the solution cell with the edit applied, its final
``assert check(...)`` turned into a call whose verdict is kept. The reference answer must pass; every
mutant must fail, and its verdict must contain the words the mutant names (so the learner is told
what went wrong, not only that something did).

A mutants file ``mutants/lessonNN.py`` holds ``MUTANTS = {"6.1": [Mutant(...), ...], ...}``; the key
is the ``exercise`` value in the solution cell's metadata. ``Mutant(name, old, new, says)``: ``old``
must occur exactly once in the solution cell; ``says`` is a piece of text the verdict must contain.

A lab's mutants live in ``mutants/labN.py``: ``MUTANTS = {"ex1-solution": [Mutant(...), ...]}``, keyed
by the ``grade_id`` of the solution cell in ``solutions/<lab>/<lab>.ipynb``; ``old`` must occur exactly once
between its ``### BEGIN SOLUTION`` and ``### END SOLUTION``. A lab mutant runs the notebook as a learner
would, in a fresh IPython shell in a scratch copy of the lab's folder: the setup cell, every solution
cell (one of them edited) and every graded check cell from the edited solution on. It runs twice: once
with the hidden tests stripped (what a learner alone sees: the **visible** checks) and once as the grader
runs it (**all** checks). A mutant is caught when a graded check cell fails and its output says the
mutant's words. A mutant the visible checks catch is caught by all checks too (the full cell runs the
same visible tests first), so its second run is skipped. The reference must pass every check cell, both
ways.

    python3 ci/course.py mutants                 # every lesson exercise and lab: catch tables
    python3 ci/course.py mutants 06 --jobs 2     # lesson 06 only
    python3 ci/course.py mutants lab1 lab3       # labs 1 and 3 only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
TIMEOUT = 120.0  #: seconds one mutant's process may take (the checks bound themselves far below this)


@dataclass(frozen=True)
class Mutant:
    name: str   #: what the learner did, in a few words
    old: str    #: text of the reference answer ...
    new: str    #: ... replaced by this
    says: str = ""  #: the verdict (status and message) must contain this, case-insensitive: the hint
    #: a race or a deadlock in code that uses locks, conditions, events or semaphores: the schedule
    #: explorer must show a schedule that breaks it (``python3 ci/course.py counterexamples``)
    schedule: bool = False


REFERENCE = Mutant("the reference answer", "", "")


@dataclass
class Outcome:
    lesson: str
    exercise: str
    mutant: Mutant
    status: str     #: the check's verdict: "passed", "failed", "timed out", "error", "not attempted", or "crashed"
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        """The reference passes; a mutant is caught, with the promised words in the verdict."""
        if self.mutant is REFERENCE:
            return self.status == "passed"
        said = f"{self.status}: {self.message}".lower()
        return self.status not in ("passed", "crashed") and self.mutant.says.lower() in said


def load_mutants(path: Path) -> dict[str, list[Mutant]]:
    spec = importlib.util.spec_from_file_location(f"mutants_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module.MUTANTS


def lesson_notebook(stem: str, root: Path = ROOT) -> Path:
    """'lesson06' -> notebooks/06-....ipynb"""
    matches = sorted((root / "notebooks").glob(f"{stem.removeprefix('lesson')}-*.ipynb"))
    if len(matches) != 1:
        raise FileNotFoundError(f"no single notebook for {stem}: {matches}")
    return matches[0]


def exercise_cells(nb) -> tuple[str, dict[str, str]]:
    """(the first code cell's source, {exercise: solution cell source})."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    solutions = {c.metadata["exercise"]: c.source for c in code
                 if "solution" in c.metadata.get("tags", []) and "exercise" in c.metadata}
    return code[0].source, solutions


def program(setup: str, solution: str, mutant: Mutant) -> str:
    """The code one mutant's process runs: setup, the edited answer, the check's verdict as JSON."""
    if mutant is not REFERENCE:
        if solution.count(mutant.old) != 1:
            raise ValueError(f"mutant {mutant.name!r}: {mutant.old!r} occurs {solution.count(mutant.old)} times "
                             "in the reference answer (it must occur once)")
        solution = solution.replace(mutant.old, mutant.new)
    lines = solution.rstrip().splitlines()
    last = next(k for k in range(len(lines) - 1, -1, -1) if lines[k].strip())
    if not lines[last].startswith("assert "):
        raise ValueError("a solution cell must end with `assert check(...)`")
    lines[last] = "__verdict__ = " + lines[last][len("assert "):]
    return "\n".join(lines)


RUNNER = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
setup, answer = json.loads(sys.stdin.read())
for code in (setup, answer):
    result = shell.run_cell(code, silent=True)
    if not result.success:
        error = result.error_in_exec or result.error_before_exec
        print(json.dumps({"status": "crashed", "message": f"{type(error).__name__}: {error}"}))
        sys.exit(0)
verdict = shell.user_ns.get("__verdict__")
print(json.dumps({"status": getattr(verdict, "status", "passed" if verdict else "failed"),
                  "message": getattr(verdict, "message", "")}))
sys.stdout.flush()
import os
os._exit(0)  # threads a wrong answer left running must not keep the process alive
"""


def run(lesson: str, exercise: str, setup: str, solution: str, mutant: Mutant, cwd: Path) -> Outcome:
    start = time.perf_counter()
    try:
        code = program(setup, solution, mutant)
    except ValueError as exc:
        return Outcome(lesson, exercise, mutant, "crashed", f"bad mutant: {exc}", 0.0)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    try:
        done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([setup, code]), text=True,
                              capture_output=True, timeout=TIMEOUT, cwd=cwd, env=env)
        last = (done.stdout.strip().splitlines() or ["{}"])[-1]
        result = json.loads(last) if last.startswith("{") else {"status": "crashed", "message": done.stderr[-500:]}
    except subprocess.TimeoutExpired:
        result = {"status": "crashed", "message": f"the process ran over {TIMEOUT:.0f} s"}
    return Outcome(lesson, exercise, mutant, result.get("status", "crashed"), result.get("message", ""),
                   time.perf_counter() - start)


def plan(lessons: list[str] | None = None, root: Path = ROOT):
    """Every (lesson, exercise, setup, solution, mutant, cwd) to run, the references first."""
    jobs = []
    for path in sorted((root / "mutants").glob("lesson*.py")):
        if lessons and not any(path.stem == f"lesson{n.zfill(2)}" for n in lessons):
            continue
        notebook = lesson_notebook(path.stem, root)
        setup, solutions = exercise_cells(nbformat.read(notebook, as_version=4))
        for exercise, mutants in load_mutants(path).items():
            if exercise not in solutions:
                raise KeyError(f"{path.name}: no solution cell with exercise {exercise!r} in {notebook.name}")
            for mutant in [REFERENCE, *mutants]:
                jobs.append((path.stem, exercise, setup, solutions[exercise], mutant, notebook.parent))
    return jobs


# --- labs: the real check cells, visible and all -------------------------------------------------

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass
class LabOutcome:
    lab: str
    cell: str       #: grade_id of the edited solution cell
    mutant: Mutant
    visible: tuple[str, str]   #: (status, text) with the hidden tests stripped: "passed", "caught", "failed", "crashed"
    full: tuple[str, str]      #: the same with every test (skipped: ("inferred", ...) when visible caught it)
    seconds: float

    def caught(self, which: str) -> bool:
        status, text = self.visible if which == "visible" else self.full
        if status == "inferred":
            return self.caught("visible")
        return status == "failed" and self.mutant.says.lower() in text.lower()

    @property
    def ok(self) -> bool:
        if self.mutant is REFERENCE:
            return self.visible[0] == "passed" and self.full[0] == "passed"
        return self.caught("all")


def lab_notebook(stem: str, root: Path = ROOT) -> Path:
    """'lab1' -> solutions/lab1-.../lab1-....ipynb"""
    matches = sorted((root / "solutions").glob(f"{stem}-*/{stem}-*.ipynb"))
    if len(matches) != 1:
        raise FileNotFoundError(f"no single solution notebook for {stem}: {matches}")
    return matches[0]


def apply_in_solution(source: str, mutant: Mutant) -> str:
    """``source`` with ``mutant.old`` replaced, where it occurs once between the solution markers."""
    if mutant is REFERENCE:
        return source
    begin, end = source.find(SOLUTION_BEGIN), source.rfind(SOLUTION_END)
    if begin < 0 or end < begin:
        raise ValueError(f"mutant {mutant.name!r}: the cell has no {SOLUTION_BEGIN} ... {SOLUTION_END}")
    region = source[begin:end]
    if region.count(mutant.old) != 1:
        raise ValueError(f"mutant {mutant.name!r}: {mutant.old!r} occurs {region.count(mutant.old)} times "
                         "in the reference answer (it must occur once)")
    return source[:begin] + region.replace(mutant.old, mutant.new) + source[end:]


def lab_cells(nb, cell: str, mutant: Mutant, visible: bool) -> list[tuple[str, str]]:
    """(grade_id or "", source) of the cells a lab mutant runs, in notebook order; graded check cells are
    marked by a grade_id starting with "check:"."""
    from threadlab.grading.hidden import strip_regions

    cells, seen = [], False
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    if cell not in ids:
        raise KeyError(f"no cell with grade_id {cell!r}")
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if c.cell_type != "code":
            continue
        if gid == cell:
            seen = True
            cells.append((gid, apply_in_solution(c.source, mutant)))
        elif meta.get("solution") or gid == "setup":
            cells.append((gid, c.source))
        elif meta.get("grade") and seen:
            cells.append(("check:" + gid, strip_regions(c.source)[0] if visible else c.source))
    return cells


LAB_RUNNER = """
import contextlib, io, json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = json.loads(sys.stdin.read())
verdict = {"status": "passed", "text": ""}
for gid, code in cells:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = shell.run_cell(code, silent=True)
    if not result.success:
        error = result.error_in_exec or result.error_before_exec
        text = out.getvalue() + f"\\n{type(error).__name__}: {error}"
        if gid.startswith("check:"):
            verdict = {"status": "failed", "text": f"[{gid[6:]}] " + text}
        else:
            verdict = {"status": "crashed", "text": f"[{gid}] " + text}
        break
print(json.dumps(verdict))
sys.stdout.flush()
import os
os._exit(0)  # threads or processes a wrong answer left running must not keep it alive
"""


def run_lab_cells(cells: list[tuple[str, str]], folder: Path) -> tuple[str, str]:
    """Run the cells in a scratch copy of the lab's folder: ("passed" | "failed" | "crashed", text)."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as scratch:
        work = Path(scratch) / folder.name
        shutil.copytree(folder, work)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
        try:
            done = subprocess.run([sys.executable, "-c", LAB_RUNNER], input=json.dumps(cells), text=True,
                                  capture_output=True, timeout=TIMEOUT, cwd=work, env=env)
        except subprocess.TimeoutExpired:
            return "crashed", f"the process ran over {TIMEOUT:.0f} s"
    last = (done.stdout.strip().splitlines() or ["{}"])[-1]
    if not last.startswith("{"):
        return "crashed", done.stderr[-500:]
    result = json.loads(last)
    return result["status"], result["text"]


def run_lab(lab: str, cell: str, notebook: Path, mutant: Mutant) -> LabOutcome:
    start = time.perf_counter()
    nb = nbformat.read(notebook, as_version=4)
    try:
        visible_cells, full_cells = (lab_cells(nb, cell, mutant, visible) for visible in (True, False))
    except (ValueError, KeyError) as exc:
        bad = ("crashed", f"bad mutant: {exc}")
        return LabOutcome(lab, cell, mutant, bad, bad, 0.0)
    visible = run_lab_cells(visible_cells, notebook.parent)
    outcome = LabOutcome(lab, cell, mutant, visible, ("inferred", ""), 0.0)
    if mutant is REFERENCE or not outcome.caught("visible"):
        outcome.full = run_lab_cells(full_cells, notebook.parent)
    outcome.seconds = time.perf_counter() - start
    return outcome


def plan_labs(labs: list[str] | None = None, root: Path = ROOT):
    """Every (lab, cell, notebook, mutant) to run: per solution cell, the reference first."""
    jobs = []
    for path in sorted((root / "mutants").glob("lab*.py")):
        if labs is not None and path.stem not in labs:
            continue
        notebook = lab_notebook(path.stem, root)
        for cell, mutants in load_mutants(path).items():
            for mutant in [REFERENCE, *mutants]:
                jobs.append((path.stem, cell, notebook, mutant))
    return jobs


def _share(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "-"


def lab_table(outcomes: list[LabOutcome]) -> str:
    lines = ["| lab | reference | mutants | visible checks catch | all checks catch | missed by the visible checks |",
             "|---|---|---|---|---|---|"]
    totals = [0, 0, 0]
    for lab in sorted({o.lab for o in outcomes}):
        mine = [o for o in outcomes if o.lab == lab]
        refs = [o for o in mine if o.mutant is REFERENCE]
        mutants = [o for o in mine if o.mutant is not REFERENCE]
        n = len(mutants)
        visible = sum(o.caught("visible") for o in mutants)
        full = sum(o.caught("all") for o in mutants)
        totals = [totals[0] + n, totals[1] + visible, totals[2] + full]
        failing = [o for o in refs if not o.ok]
        ref = "full marks" if not failing else "FAILS: " + "; ".join(
            f"{o.cell}: {' '.join((o.visible[1] if o.visible[0] != 'passed' else o.full[1]).split())[-120:]}"
            for o in failing)
        missed = ", ".join(o.mutant.name + ("" if o.caught("all") else " (ALL MISS)") for o in mutants
                           if not o.caught("visible"))
        lines.append(f"| {lab} | {ref} | {n} | {_share(visible, n)} | {_share(full, n)} | {missed} |")
    n, visible, full = totals
    if n:
        lines.append(f"\n{n} lab mutants: visible checks catch {visible} ({100 * visible / n:.0f}%), "
                     f"all checks {full} ({100 * full / n:.0f}%)")
    return "\n".join(lines)


def table(outcomes: list[Outcome]) -> str:
    lines = ["| lesson | exercise | reference | mutants caught | missed (status: message) |", "|---|---|---|---|---|"]
    keys = sorted({(o.lesson, o.exercise) for o in outcomes})
    for lesson, exercise in keys:
        mine = [o for o in outcomes if (o.lesson, o.exercise) == (lesson, exercise)]
        ref = next(o for o in mine if o.mutant is REFERENCE)
        mutants = [o for o in mine if o.mutant is not REFERENCE]
        missed = [o for o in mutants if not o.ok]
        what = "; ".join(f"{o.mutant.name} ({o.status}: {' '.join(o.message.split())[:80]})" for o in missed)
        lines.append(f"| {lesson} | {exercise} | {'passes' if ref.ok else 'FAILS: ' + ref.message[:80]} | "
                     f"{len(mutants) - len(missed)}/{len(mutants)} | {what} |")
    caught = sum(o.ok for o in outcomes if o.mutant is not REFERENCE)
    total = sum(o.mutant is not REFERENCE for o in outcomes)
    lines.append(f"\n{caught} of {total} mutants caught" + (f" ({100 * caught / total:.0f}%)" if total else ""))
    return "\n".join(lines)


def report(tables: list[str], lab_outcomes: list[LabOutcome], took: str, command: str) -> str:
    """The Markdown page: when and how it was made, the tables, and each lab mutant's verdict."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = ["# The mutation suite: do the checks catch realistic wrong answers?\n",
             f"Made by `python3 ci/course.py {command} --report bench/mutants.md` on {when} ({took}). Each "
             "wrong answer is a small edit of the reference answer, written from how learners fail "
             "(`mutants/`); a check catches it when it fails *and* its message says the words the mutant "
             "names. For labs, **visible** is what a learner alone sees (hidden tests stripped), **all** is "
             "what the grader runs.\n", *tables]
    if lab_outcomes:
        lines += ["\n## Each lab mutant\n",
                  "| lab | cell | wrong answer | visible | all | the visible verdict, last words |",
                  "|---|---|---|---|---|---|"]
        for o in lab_outcomes:
            if o.mutant is REFERENCE:
                continue
            said = " ".join(o.visible[1].split())[-140:].replace("|", "/")
            lines.append(f"| {o.lab} | {o.cell} | {o.mutant.name} | {'caught' if o.caught('visible') else 'missed'} | "
                         f"{'caught' if o.caught('all') else 'MISSED'} | {said} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*",
                        help="lesson numbers and/or labs such as lab1 (default: every file in mutants/)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--report", type=Path, help="also write the tables as Markdown to this file "
                                                    "(the committed one: bench/mutants.md)")
    args = parser.parse_args(argv)
    labs = [a for a in args.lessons if a.startswith("lab")]
    lessons = [a for a in args.lessons if not a.startswith("lab")]
    jobs = plan(lessons) if lessons or not labs else []
    lab_jobs = plan_labs(labs) if labs or not lessons else []
    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda job: run(*job), jobs))
        lab_outcomes = list(pool.map(lambda job: run_lab(*job), lab_jobs))
    for o in outcomes:
        if not o.ok:
            print(f"{'reference FAILS' if o.mutant is REFERENCE else 'missed'}: {o.lesson} {o.exercise} "
                  f"{o.mutant.name}: {o.status}: {' '.join(o.message.split())[:300]}")
    for o in lab_outcomes:
        if o.mutant is REFERENCE and not o.ok:
            print(f"reference FAILS: {o.lab} {o.cell}: visible {o.visible[0]}, all {o.full[0]}: "
                  f"{' '.join((o.visible[1] + ' ' + o.full[1]).split())[-400:]}")
        elif o.mutant is not REFERENCE and not o.caught("visible"):
            status, text = o.visible
            print(f"visible checks miss: {o.lab} {o.cell} {o.mutant.name} ({o.seconds:.0f} s): {status}: "
                  f"{' '.join(text.split())[-300:]}" + ("" if o.caught("all") else "  [ALL CHECKS MISS TOO]"))
    tables = ([table(outcomes)] if outcomes else []) + ([lab_table(lab_outcomes)] if lab_outcomes else [])
    print("\n\n".join(tables))
    took = f"{len(outcomes) + len(lab_outcomes)} runs in {time.perf_counter() - start:.0f} s"
    print(took)
    if args.report:
        args.report.write_text(report(tables, lab_outcomes, took, " ".join(["mutants", *args.lessons])))
    return 0 if all(o.ok for o in outcomes) and all(o.ok for o in lab_outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
