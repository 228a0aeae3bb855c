"""Show the bug: does the schedule explorer give each race or deadlock of the labs a counterexample,
the same one every time?

The labs' checks run the learner's lock-based code in the course's schedule explorer (``explore_*``
in ``threadlab.labs.lab2``/``lab4``/``lab6`` and the explorer cases of ``lab3``). This tool takes the lab
mutants of ``mutants/labN.py`` (realistic wrong answers); for each it runs the lab's setup cell and
its solution cells, one of them edited, in a fresh IPython shell, then the explorer's test for the
edited cell, and keeps what it said: a failing schedule as a table, a pass, or "cannot explore".
Each lab runs ``--runs`` times, each time in a new process; a counterexample counts only when every
run printed exactly the same text. Mutants marked ``schedule=True`` (a race or a deadlock) must get
one, and every reference answer must pass.

    python3 ci/course.py counterexamples                 # labs 2, 3, 4 and 6, 10 runs each
    python3 ci/course.py counterexamples lab2 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import REFERENCE, ROOT, apply_in_solution, lab_notebook, load_mutants  # noqa: E402

#: the explorer's test for each solution cell (None: the cell's code cannot be explored)
EXPLORE = {
    "lab2": {"ex1-solution": "lab2.explore_counter(Counter)", "ex2-solution": "lab2.explore_bank(Bank)",
             "ex3-solution": "lab2.explore_transfer(transfer)"},
    "lab3": {"ex1-semaphore": "lab3.every_schedule_semaphore(Semaphore)",
             "ex1-bounded-semaphore": "lab3.every_schedule_semaphore(BoundedSemaphore)",
             "ex2-solution": "lab3.every_schedule_event(Event)", "ex3-solution": "lab3.every_schedule_barrier(Barrier)",
             "ex4-solution": "lab3.every_schedule_queue(Queue)"},
    "lab4": {"ex1-solution": "lab4.explore_pool(run_pool)", "ex2-solution": "lab4.explore_pool(run_pool)"},
    "lab6": {"ex1-solution": "lab6.explore_dinner(philosopher, deadlocks=True)",
             "ex2-solution": "lab6.explore_dinner(safe_philosopher)", "ex3-solution": "lab6.explore_scan(scan_ports)"},
}
TIMEOUT = 900.0  #: seconds one run of one lab may take

RUNNER = """
import contextlib, io, json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
jobs = json.loads(sys.stdin.read())
shell.run_cell("from threadlab.labs import lab2, lab3, lab4, lab6", silent=True)
results = []
for setup, cells, call in jobs:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ok = shell.run_cell(setup, silent=True).success and all(shell.run_cell(c, silent=True).success for c in cells)
        start = time.perf_counter()
        result = shell.run_cell(call, silent=True) if ok else None
    seconds = time.perf_counter() - start if ok else 0.0
    if not ok:
        results.append(("crashed", out.getvalue()[-800:], 0.0))
    elif result.success:
        text = out.getvalue()
        results.append(("unexplored" if "not explored" in text else "passed", text, seconds))
    else:
        error = result.error_in_exec
        status = "schedule" if isinstance(error, AssertionError) else "error"
        results.append((status, out.getvalue() + f"{type(error).__name__}: {error}", seconds))
print(json.dumps(results))
sys.stdout.flush()
import os
os._exit(0)
"""


def jobs_of(lab: str):
    """[(cell, mutant, setup source, solution sources, call)] for one lab: each cell's reference, then its mutants."""
    notebook = lab_notebook(lab)
    nb = nbformat.read(notebook, as_version=4)
    setup = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    solutions = [(c.metadata["nbgrader"]["grade_id"], c.source) for c in nb.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    found = []
    for cell, mutants in load_mutants(ROOT / "mutants" / f"{lab}.py").items():
        call = EXPLORE[lab].get(cell)
        for mutant in [REFERENCE, *mutants]:
            sources = [apply_in_solution(src, mutant) if gid == cell else src for gid, src in solutions]
            found.append((cell, mutant, setup, sources, call))
    return notebook, found


def run_once(lab: str) -> list:
    """One run of every mutant of ``lab`` (in one new process): [(status, text, seconds)]."""
    notebook, jobs = jobs_of(lab)
    payload = [(setup, sources, call or "print('not explored: no explorer test')") for _, _, setup, sources, call in jobs]
    with tempfile.TemporaryDirectory(prefix="counterexamples-") as scratch:
        work = Path(scratch) / notebook.parent.name
        shutil.copytree(notebook.parent, work)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
        done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(payload), text=True,
                              capture_output=True, timeout=TIMEOUT, cwd=work, env=env)
    last = (done.stdout.strip().splitlines() or ["[]"])[-1]
    if not last.startswith("["):
        raise RuntimeError(f"{lab}: the runner failed: {done.stderr[-800:]}")
    return json.loads(last)


def summarise(lab: str, runs: list[list]) -> tuple[list[str], bool]:
    _, jobs = jobs_of(lab)
    rows, ok = [], True
    for k, (cell, mutant, _, _, call) in enumerate(jobs):
        seen = [run[k] for run in runs]
        statuses = {s for s, _, _ in seen}
        same = len({text for _, text, _ in seen}) == 1
        status = seen[0][0] if len(statuses) == 1 else "/".join(sorted(statuses))
        seconds = max(s for _, _, s in seen)
        if mutant is REFERENCE:
            good = status in ("passed", "unexplored") or (call and "deadlocks=True" in call and status == "passed")
        elif mutant.schedule:
            good = status == "schedule" and same
        else:
            good = True
        ok &= good
        text = seen[0][1]
        first = next((line for line in text.splitlines() if line.startswith("AssertionError")), "")
        what = {"schedule": "counterexample", "passed": "passes", "unexplored": "cannot explore (threads, I/O)",
                "crashed": "crashed", "error": "error"}.get(status, status)
        if status == "schedule" and "even without any preemption" in text:
            what = "counterexample (no preemption needed)"
        elif status == "schedule" and "in no schedule" in text:
            what = "fails: no schedule overlaps"
            good = good and not mutant.schedule
        rows.append(f"| {lab} | {cell} | {mutant.name} | {'yes' if mutant.schedule else ''} | {what} | "
                    f"{sum(t == seen[0][1] for _, t, _ in seen)}/{len(seen)} | {seconds:.1f} |"
                    + ("" if good else " **FAILS**"))
        if not good:
            print(f"{lab} {cell} {mutant.name}: {status}, same text in every run: {same}\n{first[:300]}")
    return rows, ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=list(EXPLORE), help="labs (default: lab2 lab3 lab4 lab6)")
    parser.add_argument("--runs", type=int, default=10, help="runs of each lab, each in a new process (default 10)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--report", type=Path, help="also write the table as Markdown to this file "
                                                    "(the committed one: bench/counterexamples.md)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    work = [(lab, k) for lab in args.labs for k in range(args.runs)]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda job: run_once(job[0]), work))
    lines = ["| lab | cell | answer | race or deadlock | explorer | same text | seconds (slowest run) |",
             "|---|---|---|---|---|---|---|"]
    ok = True
    for lab in args.labs:
        rows, good = summarise(lab, [r for (name, _), r in zip(work, results) if name == lab])
        ok &= good
        lines += rows
    took = f"{len(work)} runs in {time.perf_counter() - start:.0f} s"
    print("\n".join(lines))
    print(took)
    if args.report:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        args.report.write_text(
            "# Show the bug: the explorer's schedule for each lab mistake\n\n"
            f"Made by `python3 ci/course.py counterexamples {' '.join(args.labs)} --runs {args.runs} --report "
            f"bench/counterexamples.md` on {when} ({took}; each lab's runs in new processes, two at a time). "
            "Each row is a wrong answer of `mutants/labN.py` (or the reference) run through the explorer test "
            "of its exercise. **race or deadlock**: the mutant is marked `schedule=True` and must get a "
            "counterexample; **same text**: in how many runs the verdict was the very same text as in the "
            "first; **seconds**: the explorer test's time in the slowest run (two runs at once on 2 cores).\n\n"
            + "\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
