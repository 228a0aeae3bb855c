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

    python3 ci/course.py mutants                 # every lesson exercise: a catch table
    python3 ci/course.py mutants 06 --jobs 2     # lesson 06 only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: every mutants/lessonNN.py)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args(argv)
    jobs = plan(args.lessons)
    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda job: run(*job), jobs))
    for o in outcomes:
        if not o.ok:
            print(f"{'reference FAILS' if o.mutant is REFERENCE else 'missed'}: {o.lesson} {o.exercise} "
                  f"{o.mutant.name}: {o.status}: {' '.join(o.message.split())[:300]}")
    print(table(outcomes))
    print(f"{len(outcomes)} runs in {time.perf_counter() - start:.0f} s")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
