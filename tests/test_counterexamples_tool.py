"""course.py counterexamples on lab 2: each race or deadlock mutant gets a schedule, the reference passes.

One run here (the same text in every run is what tests/test_explore_learner_code.py checks in one
process, and bench/counterexamples.md over ten runs in new processes)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ci"))

import counterexamples  # noqa: E402


def test_lab2_race_and_deadlock_mutants_get_a_schedule():
    rows, ok = counterexamples.summarise("lab2", [counterexamples.run_once("lab2")])
    assert ok, "\n".join(rows)
    assert any("the reference answer" in row and "| passes |" in row for row in rows)
    marked = [row for row in rows if "| yes |" in row]
    assert len(marked) >= 15 and all("counterexample" in row and "| 1/1 |" in row for row in marked)
