"""A small fixture lab in nbgrader format and a set of bad submissions for it, with expected scores.

``python tests/grading/submissions.py DIR`` writes ``DIR/lab0-fixture/lab0-fixture.ipynb`` (the
reference, hidden tests included) and ``DIR/submissions/<kind>.ipynb`` (one per kind of
submission), so a teacher can try ``python -m threadlab grade`` on them:

    python -m threadlab grade lab0-fixture DIR/submissions --source DIR/lab0-fixture/lab0-fixture.ipynb --out /tmp/g

The fixture has two exercises: ``ex1-check`` is worth 3 points, ``ex2-check`` 2 points.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LAB = "lab0-fixture"
HIDDEN_MARKER = "HIDDEN-FIXTURE-TEST"


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


EX1_SOLUTION = """def count_with_threads(n_threads, n):
    ### BEGIN SOLUTION
    total = 0
    lock = threading.Lock()

    def work():
        nonlocal total
        for _ in range(n):
            with lock:
                total += 1

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total
    ### END SOLUTION"""

EX1_CHECK = f"""from threadlab.labcheck import expect_equal
expect_equal(count_with_threads(2, 100), 200, "two threads x 100 increments")
### BEGIN HIDDEN TESTS
expect_equal(count_with_threads(4, 1000), 4000, "{HIDDEN_MARKER} four threads")
_ = expect_equal(count_with_threads(3, 0), 0, "{HIDDEN_MARKER} no increments")  # a number shown = partial credit
### END HIDDEN TESTS"""

EX2_SOLUTION = """def parallel_squares(xs):
    ### BEGIN SOLUTION
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda x: x * x, xs))
    ### END SOLUTION"""

EX2_CHECK = f"""assert parallel_squares([1, 2, 3]) == [1, 4, 9], "squares of 1, 2, 3"
### BEGIN HIDDEN TESTS
assert parallel_squares(range(40)) == [x * x for x in range(40)], "{HIDDEN_MARKER} forty squares"
### END HIDDEN TESTS"""


def fixture_source():
    """The reference notebook (nbgrader source format, with hidden tests)."""
    cells = [
        new_markdown_cell("# Lab 0 · Fixture\n\nA tiny lab used to test the batch grader.",
                          metadata=_meta("intro", locked=True)),
        new_code_cell("import threading\nfrom concurrent.futures import ThreadPoolExecutor",
                      metadata=_meta("imports", locked=True)),
        new_markdown_cell("## Exercise 1: a counter with a lock", metadata=_meta("ex1-text", locked=True)),
        new_code_cell(EX1_SOLUTION, metadata=_meta("ex1-solution", solution=True)),
        new_code_cell(EX1_CHECK, metadata=_meta("ex1-check", grade=True, locked=True, points=3)),
        new_markdown_cell("## Exercise 2: squares in parallel", metadata=_meta("ex2-text", locked=True)),
        new_code_cell(EX2_SOLUTION, metadata=_meta("ex2-solution", solution=True)),
        new_code_cell(EX2_CHECK, metadata=_meta("ex2-check", grade=True, locked=True, points=2)),
        new_markdown_cell("## Key points\n\n- locks make `+=` safe", metadata=_meta("key-points", locked=True)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _strip_hidden(source):
    out, inside = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def student_version(answers=None):
    """What a learner submits: hidden tests gone; solution cells replaced by ``answers`` (grade_id -> source)."""
    nb = copy.deepcopy(fixture_source())
    answers = answers or {}
    for cell in nb.cells:
        meta = cell.metadata["nbgrader"]
        if meta["grade"]:
            cell.source = _strip_hidden(cell.source)
        gid = meta["grade_id"]
        if gid in answers:
            cell.source = answers[gid]
        elif meta["solution"]:
            cell.source = cell.source.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")
    return nb


def blank(gid):
    head = {"ex1-solution": "def count_with_threads(n_threads, n):", "ex2-solution": "def parallel_squares(xs):"}[gid]
    return head + "\n    # YOUR CODE HERE\n    raise NotImplementedError()"


EX1_PLAIN = EX1_SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")
EX2_PLAIN = EX2_SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")

ATTACK = r'''import glob, os, subprocess, sys
found = []
for pattern in ("/work/*/gradebook.db", "/work/*/solutions/*/*.ipynb", "/work/*/tests/grading/*",
                "/tmp/threadlab-grad*/*/*", "/tmp/threadlab-grad*/*/*/*.db", "/tmp/*/gradebook.db", "/root/*",
                "../*", "../*/*", "../../*/*", "../../../*/*"):
    found += glob.glob(pattern)
mine = os.path.dirname(os.getcwd())  # this kernel's own scratch folders
words = ("gradebook.db", "/solutions/", "/submitted/", "/autograded/", "/source/lab", "/tests/grading")
found = [p for p in map(os.path.realpath, found) if not p.startswith(mine) and any(k in p for k in words)]
written = []
for path in found:
    if "threadlab-grad" not in path:  # never touch anything outside the grader's temporary folders
        continue
    try:
        with open(path, "a") as fh:
            fh.write("pwned")
        written.append(path)
    except OSError:
        pass
# a detached process that would rewrite every gradebook after grading ends
subprocess.Popen([sys.executable, "-c", "import time, glob\nwhile True:\n    time.sleep(0.2)\n"
                  "    [open(p, 'a').write('x') for p in glob.glob('/tmp/threadlab-grad*/*/gradebook.db')]"],
                 start_new_session=True)
print("ATTACK found", len(found), "wrote", len(written), found[:5])


def _leak(info):  # print every cell's source as it runs: the hidden tests would land in the feedback
    print(info.raw_cell)


get_ipython().events.register("pre_run_cell", _leak)
''' + EX1_PLAIN

FORK_BOMB = r'''import os, time, threading
children = 0
try:
    for _ in range(100000):
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
finally:
    print("forked", children)
''' + EX2_PLAIN

# forks slowly, as a fork bomb does on a loaded machine: the cell times out below the process limit
SLOW_FORK_BOMB = r'''import os, time
for _ in range(40):
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
    time.sleep(0.01)
time.sleep(600)
''' + EX2_PLAIN

MEMORY_BOMB = r'''def bomb():
    hog = []
    while True:
        hog.append(bytearray(20 * 1024 * 1024))
bomb()
''' + "\n" + EX2_PLAIN

DEADLOCK = """def count_with_threads(n_threads, n):
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # waits for itself forever
    return n_threads * n"""

DEADLOCK_NO_CTRL_C = """def parallel_squares(xs):
    lock = threading.Lock()
    lock.acquire()
    while True:
        try:
            lock.acquire()  # waits for itself forever ...
        except KeyboardInterrupt:
            pass  # ... and swallows Ctrl-C: only killing the kernel helps"""

BUSY = """def count_with_threads(n_threads, n):
    while True:
        pass"""

HUGE_OUTPUT = """for i in range(40):
    print(i, "spam " * 20000)
""" + EX1_PLAIN

# a cell that prints a few hundred MB: the kernel itself must cap it before its output thread runs out of memory
HUGE_PRINT = """print("x" * 150_000_000)
""" + EX1_PLAIN

# the student's own text quotes nbgrader's hidden-test marker (nbgrader's ClearHiddenTests raised on it)
MARKER_TEXT = """# the teacher's tests sit between ### BEGIN HIDDEN TESTS and ...
""" + EX1_PLAIN

DETACHED = """import subprocess
subprocess.Popen(["sleep", "313"], start_new_session=True)  # escapes the kernel's session
""" + EX1_PLAIN

SLOW_1 = "import time\ntime.sleep(4)\n" + EX1_PLAIN
SLOW_2 = "import time\ntime.sleep(4)\n" + EX2_PLAIN

FORGED = """import threadlab.labcheck
threadlab.labcheck.expect_equal = lambda *args, **kwargs: None  # every check "passes"
def count_with_threads(n_threads, n):
    return 0"""

SEGFAULT = """import ctypes
ctypes.string_at(0)
""" + EX2_PLAIN

#: kind -> (answers or a builder, expected score out of 5, a word the verdict must contain).
#: "attack" looks for gradebooks, hidden tests and other submissions, tries to write them, leaves a
#: detached process rewriting gradebooks, and prints every cell's source as it runs (hidden tests too).
KINDS = {
    "correct": ({}, 5, "ok"),
    "blank": ({"ex1-solution": blank("ex1-solution"), "ex2-solution": blank("ex2-solution")}, 0, "not attempted"),
    "one-blank": ({"ex2-solution": blank("ex2-solution")}, 3, "not attempted"),
    "exception": ({"ex1-solution": "raise ValueError('oops')\n" + EX1_PLAIN}, 2, "ValueError"),
    "wrong-answer": ({"ex1-solution": "def count_with_threads(n_threads, n):\n    return n"}, 2, "AssertionError"),
    "sys-exit": ({"ex1-solution": "import sys\nsys.exit(3)\n" + EX1_PLAIN}, 2, "sys.exit"),
    "os-exit": ({"ex2-solution": "import os\nos._exit(1)\n" + EX2_PLAIN}, 3, "kernel died"),
    "deadlock": ({"ex1-solution": DEADLOCK}, 2, "timed out"),
    "deadlock-ignores-ctrl-c": ({"ex2-solution": DEADLOCK_NO_CTRL_C}, 3, "did not respond"),
    "busy-loop": ({"ex1-solution": BUSY}, 2, "timed out"),
    "fork-bomb": ({"ex2-solution": FORK_BOMB}, 3, "process limit"),
    "slow-fork-bomb": ({"ex2-solution": SLOW_FORK_BOMB}, 3, "process limit"),
    "memory-bomb": ({"ex2-solution": MEMORY_BOMB}, 3, "memory limit"),
    "huge-output": ({"ex1-solution": HUGE_OUTPUT}, 5, "output"),
    "huge-print": ({"ex1-solution": HUGE_PRINT}, 5, "output beyond"),
    "marker-in-text": ({"ex1-solution": MARKER_TEXT}, 5, "hidden-test marker text: graded as ordinary code"),
    "attack": ({"ex1-solution": ATTACK}, 5, ""),
    "detached-process": ({"ex1-solution": DETACHED}, 5, "ok"),
    "forged-checker": ({"ex1-solution": FORGED}, 2, "replaced the checker"),
    "segfault": ({"ex2-solution": SEGFAULT}, 3, "kernel died"),
    "slow-overall": ({"ex1-solution": SLOW_1, "ex2-solution": SLOW_2}, 5, "ok"),  # see test_watchdog_...
    "cells-deleted": ("deleted", 3, "cells deleted"),
    "cells-reordered": ("reordered", 3, "reordered"),
    "malformed-json": ("malformed", 0, "malformed JSON"),
    "not-a-notebook": ("not-notebook", 0, "not a notebook"),
}


def isolation_for_tests() -> str:
    """``auto`` where bubblewrap works, else ``none``, asked for explicitly: the grader never falls to it by
    itself, and a machine without bubblewrap still runs the grader's tests (the isolation tests skip there)."""
    from threadlab.grading import sandbox

    return "auto" if sandbox.probe_bwrap()[0] else "none"


def write_submission(kind, path):
    answers = KINDS[kind][0]
    if answers == "malformed":
        text = nbformat.writes(student_version())
        open(path, "w").write(text[: len(text) // 2])
        return
    if answers == "not-notebook":
        open(path, "w").write(json.dumps({"homework": "I did it", "cells": "none"}))
        return
    nb = student_version({} if isinstance(answers, str) else answers)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    if answers == "deleted":
        nb.cells = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] != "ex2-check"]
    elif answers == "reordered":  # the check of exercise 2 moved before its solution
        i, j = ids.index("ex2-solution"), ids.index("ex2-check")
        nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]
    nbformat.write(nb, path)


def write_all(folder, kinds=None):
    """Write the fixture source and the submissions; return (source path, submissions folder)."""
    src_dir = os.path.join(folder, LAB)
    sub_dir = os.path.join(folder, "submissions")
    os.makedirs(src_dir, exist_ok=True)
    os.makedirs(sub_dir, exist_ok=True)
    source = os.path.join(src_dir, LAB + ".ipynb")
    nbformat.write(fixture_source(), source)
    for kind in kinds or KINDS:
        write_submission(kind, os.path.join(sub_dir, kind + ".ipynb"))
    return source, sub_dir


if __name__ == "__main__":
    print(write_all(sys.argv[1] if len(sys.argv) > 1 else "grading-fixture"))
