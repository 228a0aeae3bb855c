"""The mutation-suite runner (ci/mutants.py) on a small lesson of its own."""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import mutants  # noqa: E402

SETUP = """\
import threading
from threadlab.checks import check, expect_equal

def check_counter(Counter):
    def test():
        c = Counter()
        barrier = threading.Barrier(4)
        def work():
            barrier.wait(5)
            for _ in range(200):
                c.add()
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        expect_equal(c.value, 800, "value after 4 threads x 200 add() (a lost update? hold the lock)")
    return check("counter", test, timeout=2)
"""

SOLUTION = """\
import time

class Counter:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def add(self):
        with self.lock:
            v = self.value
            time.sleep(0)
            self.value = v + 1

assert check_counter(Counter)
"""


@pytest.fixture
def lesson(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "mutants").mkdir()
    solution = nbformat.v4.new_code_cell(SOLUTION)
    solution.metadata.update({"tags": ["solution"], "exercise": "99.1"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), solution])
    nbformat.write(nb, tmp_path / "notebooks" / "99-test.ipynb")
    (tmp_path / "mutants" / "lesson99.py").write_text(
        "from mutants import Mutant\n\nMUTANTS = {'99.1': [\n"
        "    Mutant('no lock', 'with self.lock:', 'if True:', says='lost update'),\n"
        "    Mutant('lock taken twice', 'with self.lock:', 'with self.lock:\\n            self.lock.acquire()', "
        "says='timed out'),\n"
        "    Mutant('harmless', 'time.sleep(0)', 'pass', says=''),\n"
        "    Mutant('not there', 'no such text', 'x'),\n"
        "]}\n")
    return tmp_path


def test_reference_passes_mutants_are_caught_and_misses_are_reported(lesson):
    jobs = mutants.plan(root=lesson)
    assert [job[4].name for job in jobs] == ["the reference answer", "no lock", "lock taken twice", "harmless",
                                             "not there"]
    outcomes = [mutants.run(*job) for job in jobs]
    by_name = {o.mutant.name: o for o in outcomes}
    assert by_name["the reference answer"].ok
    assert by_name["no lock"].ok and by_name["no lock"].status == "failed"
    assert by_name["lock taken twice"].ok and by_name["lock taken twice"].status == "timed out"
    assert not by_name["harmless"].ok and by_name["harmless"].status == "passed"   # a miss, reported
    assert by_name["not there"].status == "crashed" and "occurs 0 times" in by_name["not there"].message
    text = mutants.table(outcomes)
    assert "| lesson99 | 99.1 | passes | 2/4 | harmless (passed: ); not there (crashed: bad mutant" in text
    assert text.endswith("2 of 4 mutants caught (50%)")


def test_a_solution_cell_must_end_with_its_check():
    with pytest.raises(ValueError, match="must end with"):
        mutants.program("", "x = 1\n", mutants.REFERENCE)


LAB_CHECK = """\
def test_small():
    assert add(2, 3) == 5, "add(2, 3): expected 5. Hint: add the two numbers"

tests = [test_small]
### BEGIN HIDDEN TESTS
def test_negative():
    assert add(-2, -3) == -5, "add(-2, -3): expected -5"

tests += [test_negative]
### END HIDDEN TESTS
for test in tests:
    test()
"""


@pytest.fixture
def lab(tmp_path):
    folder = tmp_path / "solutions" / "lab9-adding"
    folder.mkdir(parents=True)
    (tmp_path / "mutants").mkdir()

    def cell(source, **nbgrader):
        c = nbformat.v4.new_code_cell(source)
        c.metadata["nbgrader"] = {"schema_version": 3, "locked": not nbgrader.get("solution"), **nbgrader}
        return c

    nb = nbformat.v4.new_notebook(cells=[
        cell("import math", grade_id="setup", grade=False, solution=False),
        cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n",
             grade_id="ex1-solution", grade=False, solution=True),
        cell(LAB_CHECK, grade_id="ex1-check", grade=True, solution=False, points=1),
        cell("print('not a check, not run')", grade_id="demo", grade=False, solution=False),
    ])
    nbformat.write(nb, folder / "lab9-adding.ipynb")
    (tmp_path / "mutants" / "lab9.py").write_text(
        "from mutants import Mutant\n\nMUTANTS = {'ex1-solution': [\n"
        "    Mutant('minus', 'a + b', 'a - b', says='add the two numbers'),\n"
        "    Mutant('abs', 'a + b', 'abs(a) + abs(b)', says='-5'),\n"
        "    Mutant('commuted', 'a + b', 'b + a'),\n"
        "    Mutant('wrong words', 'a + b', 'a * b', says='no such words'),\n"
        "    Mutant('outside the solution', 'def add', 'def plus'),\n"
        "]}\n")
    return tmp_path


def test_lab_mutants_run_the_check_cells_visible_and_all(lab):
    jobs = mutants.plan_labs(root=lab)
    assert [job[3].name for job in jobs] == ["the reference answer", "minus", "abs", "commuted", "wrong words",
                                             "outside the solution"]
    outcomes = {o.mutant.name: o for o in (mutants.run_lab(*job) for job in jobs)}
    assert outcomes["the reference answer"].ok
    assert outcomes["minus"].caught("visible") and outcomes["minus"].full[0] == "inferred"   # not run twice
    assert not outcomes["abs"].caught("visible") and outcomes["abs"].caught("all")           # only hidden tests
    assert not outcomes["commuted"].caught("all")                                            # a miss, reported
    assert outcomes["wrong words"].visible[0] == "failed" and not outcomes["wrong words"].caught("visible")
    assert "occurs 0 times" in outcomes["outside the solution"].visible[1]
    text = mutants.lab_table(list(outcomes.values()))
    assert "| lab9 | full marks | 5 | 1/5 (20%) | 2/5 (40%) |" in text


def test_lab_cells_strip_hidden_tests_and_skip_cells_that_are_not_needed(lab):
    nb = nbformat.read(lab / "solutions" / "lab9-adding" / "lab9-adding.ipynb", as_version=4)
    visible = mutants.lab_cells(nb, "ex1-solution", mutants.REFERENCE, visible=True)
    full = mutants.lab_cells(nb, "ex1-solution", mutants.REFERENCE, visible=False)
    assert [gid for gid, _ in visible] == ["setup", "ex1-solution", "check:ex1-check"]
    assert "test_negative" not in visible[2][1] and "test_negative" in full[2][1]
    with pytest.raises(KeyError):
        mutants.lab_cells(nb, "ex9-solution", mutants.REFERENCE, visible=True)


# One mistake per lab whose check was made for it, through the lab's real visible check cells; the whole
# suite is `python3 ci/course.py mutants lab1 lab2 lab3 lab4 lab5 lab6` (about 7 minutes on 2 cores).
FAST_SUBSET = [
    ("lab1", "ex3-solution", "slot not released when the fetch raises (no with/finally)"),
    ("lab2", "ex2-solution", "total() without the lock"),
    ("lab3", "ex1-semaphore", "`if` for `while` around the wait"),
    ("lab4", "ex2-solution", "workers never joined"),
    ("lab5", "ex3-solution", "a new Pool started inside the timed region"),
    ("lab6", "ex3-solution", "permit taken inside each scanner thread"),
]


@pytest.mark.parametrize("lab, cell, name", FAST_SUBSET)
def test_the_visible_lab_checks_catch_a_mistake_made_for_them(lab, cell, name):
    mutant = next(m for m in mutants.load_mutants(ROOT / "mutants" / f"{lab}.py")[cell] if m.name == name)
    outcome = mutants.run_lab(lab, cell, mutants.lab_notebook(lab), mutant)
    assert outcome.caught("visible"), outcome.visible
