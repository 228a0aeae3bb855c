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
