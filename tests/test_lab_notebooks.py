"""threadlab.labs.notebooks: the plumbing the lab tests use to run a lab notebook's cells in a kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from threadlab.labs.notebooks import (
    LabKernel,
    assert_blank_exercises,
    assert_blank_lab,
    assert_not_attempted,
    cells_by_id,
    failed_lines,
    keep_only_source,
    lab_paths,
    output_text,
    reference_namespace,
    replace_solution,
    run_cells,
    sources_by_id,
    verdict_lines,
)


def nbgrader(grade_id: str, **flags) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, **flags}}


def write_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lab 0"),
        nbformat.v4.new_code_cell("import os\nprint(os.path.basename(os.getcwd()))", metadata=nbgrader("setup")),
        nbformat.v4.new_markdown_cell("## Exercise 1", metadata=nbgrader("ex1-text")),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                  metadata=nbgrader("ex1-solution", solution=True)),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    nbformat.write(nb, path)
    return path


def test_cells_and_sources_by_grade_id(tmp_path):
    path = write_notebook(tmp_path / "lab.ipynb")
    cells = cells_by_id(path)
    assert list(cells) == ["setup", "ex1-text", "ex1-solution"]
    assert cells["ex1-text"].cell_type == "markdown"
    assert sources_by_id(path)["ex1-solution"].startswith("def f():\n    ### BEGIN SOLUTION")


def test_output_text_keeps_streams_and_errors_in_order():
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="✔ a: passed\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "not printed"}),
        nbformat.v4.new_output("stream", name="stdout", text="✘ b: failed - no\n"),
        nbformat.v4.new_output("error", ename="CheckFailed", evalue="1 of 2 failed", traceback=["CheckFailed: 1 of 2"]),
    ]
    text = output_text(cell)
    assert text == "✔ a: passed\n✘ b: failed - no\nCheckFailed: 1 of 2 failed\nCheckFailed: 1 of 2"
    assert verdict_lines(text) == ["✔ a: passed", "✘ b: failed - no"]
    assert failed_lines(verdict_lines(text)) == ["✘ b: failed - no"]
    assert output_text(nbformat.v4.new_markdown_cell("text")) == ""


def test_replace_solution_replaces_each_region_in_order_keeping_its_indentation():
    source = ("import math\n\n"
              "def split(lo, hi):\n    ### BEGIN SOLUTION\n    return [(lo, hi)]\n    ### END SOLUTION\n\n"
              "def count(n):\n    ### BEGIN SOLUTION\n    return n\n    ### END SOLUTION\n")
    one = replace_solution(source, """
        return []
        """)
    assert one == ("import math\n\ndef split(lo, hi):\n    return []\n\n"
                   "def count(n):\n    ### BEGIN SOLUTION\n    return n\n    ### END SOLUTION\n")
    both = replace_solution(source, """
        if hi < lo:
            raise ValueError
        return []
        ---
        return 0
        """)
    assert both == ("import math\n\ndef split(lo, hi):\n    if hi < lo:\n        raise ValueError\n    return []\n\n"
                    "def count(n):\n    return 0\n")
    assert replace_solution("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "x = 2") == "x = 2\n"
    with pytest.raises(ValueError, match="no solution region"):
        replace_solution(source, "return 1\n---\nreturn 2\n---\nreturn 3")


def test_keep_only_source_filters_the_tests_and_may_override_the_timeout():
    def test_a():
        pass

    def test_b():
        pass

    calls = []

    def kernel(source: str) -> dict:  # a fresh notebook namespace after its setup cell and ``source``
        scope = {"check_exercise": lambda title, tests, **options: calls.append((title, tests, options))}
        exec(source, scope)
        return scope

    scope = kernel(keep_only_source())
    scope["KEEP"] = ["test_b"]
    scope["check_exercise"]("Exercise 1", [test_a, test_b], timeout=5.0)
    scope = kernel(keep_only_source(timeout=4))
    scope["KEEP"] = ["test_a", "test_b"]
    scope["check_exercise"]("Exercise 2", [test_a, test_b], timeout=5.0)
    assert calls == [("Exercise 1", [test_b], {"timeout": 5.0}), ("Exercise 2", [test_a, test_b], {"timeout": 4})]


BLANK_CHECK = ("✘ first test: not attempted - `f` is not defined yet\n"
               "✘ second test: not attempted - your code still raises NotImplementedError\n"
               "CheckFailed: 2 of 2 tests not attempted\nCheckFailed: 2 of 2 tests not attempted")


def test_assert_not_attempted_accepts_a_blank_check_and_rejects_anything_else():
    assert assert_not_attempted("ex1", BLANK_CHECK, 0.1, tests=2) == verdict_lines(BLANK_CHECK)
    assert_not_attempted("ex1", BLANK_CHECK, 2.5, limit=3.0)
    wrong = {
        "a wrong count": (BLANK_CHECK, 0.1, {"tests": 3}),
        "too slow": (BLANK_CHECK, 2.0, {}),
        "no verdicts": ("CheckFailed: nothing ran", 0.1, {}),
        "a passed test": (BLANK_CHECK.replace("✘ first test: not attempted", "✔ first test: not attempted"), 0.1, {}),
        "a failed test": (BLANK_CHECK.replace("not attempted - `f`", "failed - `f`"), 0.1, {}),
        "no CheckFailed": (BLANK_CHECK.replace("CheckFailed", "Error"), 0.1, {}),
        "a traceback": (BLANK_CHECK + "\nTraceback (most recent call last):", 0.1, {}),
        "the checker's own frames": (BLANK_CHECK + '\n  File "threadlab/labcheck.py", line 1', 0.1, {}),
    }
    for what, (text, seconds, options) in wrong.items():
        with pytest.raises(AssertionError):
            assert_not_attempted("ex1", text, seconds, **options)
            pytest.fail(f"accepted {what}")


def test_lab_kernel_runs_source_in_its_folder_and_survives_errors(tmp_path):
    kernel = LabKernel(tmp_path, timeout=60)
    with pytest.raises(RuntimeError, match="with"):
        kernel.run("1")
    with kernel:
        text, seconds = kernel.run("import os\nx = 6 * 7\nprint(x, os.getcwd())")
        assert text == f"42 {tmp_path}\n" and 0 <= seconds < 60
        text, _ = kernel.run("raise KeyError('boom')")
        assert text.startswith("KeyError: 'boom'\n") and "Traceback" in text
        text, _ = kernel.run("print(x + 1)")  # the same kernel, still usable
        assert text == "43\n"
    assert len(kernel.nb.cells) == 3


def test_run_cells_runs_every_code_cell_in_the_notebook_folder(tmp_path):
    folder = tmp_path / "lab0-folder"
    folder.mkdir()
    cells = run_cells(write_notebook(folder / "lab.ipynb"))
    assert [c.cell_type for c, _ in cells] == ["code"] * 3
    assert output_text(cells[0][0]) == "lab0-folder\n"
    assert output_text(cells[1][0]) == ""
    assert output_text(cells[2][0]).startswith("ZeroDivisionError: division by zero")  # errors allowed: it went on
    assert all(seconds >= 0 for _, seconds in cells)


def test_lab_paths_name_the_reference_and_the_learner_notebooks():
    solution, blank = lab_paths("lab6-deadlock")
    assert solution.parts[-3:] == ("solutions", "lab6-deadlock", "lab6-deadlock.ipynb")
    assert blank.parts[-3:] == ("labs", "lab6-deadlock", "lab6-deadlock.ipynb")
    assert solution.parent.parent.parent == blank.parent.parent.parent == Path(__file__).resolve().parent.parent


def blank_lab(path: Path, exercise: str) -> Path:
    """A one-exercise lab as nbgrader leaves it for the learner, with ``exercise`` as the exercise cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from threadlab.labcheck import check_exercise", metadata=nbgrader("setup")),
        nbformat.v4.new_code_cell(exercise, metadata=nbgrader("ex1-solution", solution=True)),
        nbformat.v4.new_code_cell(
            "def test_answer():\n    assert answer() == 42\n\n\ncheck_exercise('Exercise 1', [test_answer], timeout=5)",
            metadata=nbgrader("ex1-check", grade=True, points=1)),
    ]
    nbformat.write(nb, path)
    return path


def test_assert_blank_lab_runs_the_learner_notebook_and_checks_each_check_cell(tmp_path):
    blank = blank_lab(tmp_path / "blank.ipynb", "def answer():\n    raise NotImplementedError()")
    cells = assert_blank_lab(blank, ["ex1-check"], limit=30)
    assert [c.metadata["nbgrader"]["grade_id"] for c, _ in cells] == ["setup", "ex1-solution", "ex1-check"]
    with pytest.raises(AssertionError):
        assert_blank_lab(blank, ["ex1-check", "ex2-check"], limit=30)
    answered = blank_lab(tmp_path / "answered.ipynb", "def answer():\n    return 41")
    with pytest.raises(AssertionError, match="failed"):
        assert_blank_lab(answered, ["ex1-check"], limit=30)


def test_assert_blank_exercises_runs_setup_exercise_and_check_cells_in_a_kernel(tmp_path):
    blank = cells_by_id(blank_lab(tmp_path / "blank.ipynb", "def answer():\n    raise NotImplementedError()"))
    answered = cells_by_id(blank_lab(tmp_path / "answered.ipynb", "def answer():\n    return 42"))
    with LabKernel(tmp_path) as kernel:
        assert_blank_exercises(kernel, blank, {"ex1": 1}, limit=30)
        with pytest.raises(AssertionError):
            assert_blank_exercises(kernel, blank, {"ex1": 2}, limit=30)
        with pytest.raises(AssertionError, match="✔ test_answer"):
            assert_blank_exercises(kernel, answered, {"ex1": 1}, limit=30)


def test_reference_namespace_runs_setup_then_the_solution_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("base = 40", metadata=nbgrader("setup")),
        nbformat.v4.new_code_cell("def answer():\n    return base + 2", metadata=nbgrader("ex1-solution")),
        nbformat.v4.new_code_cell("assert answer() == 42", metadata=nbgrader("ex1-check", grade=True)),
    ]
    nbformat.write(nb, tmp_path / "lab.ipynb")
    sources, namespace = reference_namespace(tmp_path / "lab.ipynb", ["ex1-solution"])
    assert sources["ex1-check"] == "assert answer() == 42"
    assert namespace["answer"]() == 42
    assert "answer" not in reference_namespace(tmp_path / "lab.ipynb", [])[1]


def test_check_verdicts_returns_the_lines_of_a_check():
    from threadlab.labs.notebooks import check_verdicts

    def good():
        """passes"""

    def bad():
        """fails"""
        raise AssertionError("expected 1, got 2")

    assert check_verdicts("ok", [good], timeout=5) == ["✔ passes"]
    lines = check_verdicts("mixed", [good, bad], timeout=5)
    assert lines[0] == "✔ passes" and lines[1].startswith("✘ fails") and "expected 1, got 2" in lines[1]
