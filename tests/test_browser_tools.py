"""Unit tests of the pure helpers of ci/browser.py (the browser suite itself needs chromium)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("course_browser", ROOT / "ci" / "browser.py")
browser = importlib.util.module_from_spec(_spec)
sys.modules["course_browser"] = browser
_spec.loader.exec_module(browser)


def code(src, outputs=(), count=1, tags=(), nbgrader=None):
    meta = {"tags": list(tags)} if tags else {}
    if nbgrader:
        meta["nbgrader"] = nbgrader
    return {"cell_type": "code", "id": _cell_id(), "source": src, "outputs": list(outputs), "execution_count": count,
            "metadata": meta}


def md(src):
    return {"cell_type": "markdown", "id": _cell_id(), "source": src, "metadata": {}}


_ids = iter(range(10**6))


def _cell_id():
    return f"cell-{next(_ids)}"


ERROR = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}


def test_summarize_one_line_per_problem_and_the_cells_that_did_not_run_in_one():
    nb = {"cells": [md("# t"), code("x = 1", [ERROR]), code("y = 2", count=None), code("z = 3", count=None),
                    code("raise ValueError", tags=["raises-exception"], count=None)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    ran = {**nb, "cells": [md("# t"), code("x = 1", [ERROR]), code("y = 2", count=None), code("z = 3", count=None),
                           code("raise ValueError", tags=["raises-exception"], count=None)]}
    stored = {**nb, "cells": [md("# t"), code("x = 1"), code("y = 2"), code("z = 3"),
                              code("raise ValueError", [ERROR], tags=["raises-exception"])]}
    lines = browser.summarize(browser.nbcompare.compare(stored, ran))
    assert lines == ["cell 1 (nbval Cell 0): error: ValueError: boom", "3 cells did not run (from cell 2 on)"]
    assert browser.summarize([]) == []


SOLUTION = """def f(urls):
    \"\"\"doc\"\"\"
    ### BEGIN SOLUTION
    out = [u.upper() for u in urls]
    return out
    ### END SOLUTION
"""


def test_solution_answers_inside_a_function():
    wrong, right = browser.solution_answers(SOLUTION)
    assert "BEGIN SOLUTION" not in right and "return out" in right
    assert "return None" in wrong and "upper" not in wrong
    namespace = {}
    exec(wrong, namespace)
    assert namespace["f"](["a"]) is None
    exec(right, namespace)
    assert namespace["f"](["a"]) == ["A"]


@pytest.mark.parametrize("src, defined", [
    ("### BEGIN SOLUTION\ndef g():\n    return 1\n### END SOLUTION\n", "g"),                   # module level
    ("%%writefile w.py\nimport math\n### BEGIN SOLUTION\ndef g():\n    return 1\n### END SOLUTION\n", "g"),
])
def test_solution_answers_at_module_level_define_nothing(src, defined):
    wrong, right = browser.solution_answers(src)
    body = lambda text: text.split("\n", 1)[1] if text.startswith("%%") else text  # noqa: E731
    namespace = {}
    exec(body(wrong), namespace)
    assert defined not in namespace and "pass  # a wrong answer" in wrong
    exec(body(right), namespace)
    assert namespace[defined]() == 1
    assert wrong.startswith("%%writefile") == src.startswith("%%writefile")


def test_solution_answers_in_a_class_body_with_several_regions():
    src = ("class C:\n    \"\"\"doc\"\"\"\n\n    ### BEGIN SOLUTION\n    def __init__(self, v=1):\n        self.v = v\n"
           "    ### END SOLUTION\n\n    def get(self):\n        ### BEGIN SOLUTION\n        return self.v\n"
           "        ### END SOLUTION\n")
    wrong, right = browser.solution_answers(src)
    namespace = {}
    exec(wrong, namespace)
    with pytest.raises(TypeError):
        namespace["C"](5)            # the constructor is gone: the check will fail
    assert namespace["C"]().get() is None
    exec(right, namespace)
    assert namespace["C"](5).get() == 5


@pytest.mark.parametrize("src", [
    "%%bash\n### BEGIN SOLUTION\necho hi\n### END SOLUTION\n",                        # not Python
    "### END SOLUTION\nx = 1\n### BEGIN SOLUTION\n",                                   # markers reversed
    "def f():\n    x = 1\n",                                                          # no region
])
def test_solution_answers_none_when_no_generic_wrong_answer(src):
    assert browser.solution_answers(src) is None


def test_first_exercise_needs_the_first_solution_and_its_check():
    sol = {"grade_id": "ex1-solution", "solution": True, "grade": False}
    check = {"grade_id": "ex1-check", "solution": False, "grade": True}
    nb = {"cells": [md("# Lab"), code("import x"), code(SOLUTION, nbgrader=sol), code("check()", nbgrader=check)]}
    index, grade_id, wrong, right, more = browser.first_exercise(nb)
    assert (index, grade_id, more) == (2, "ex1-solution", []) and "return None" in wrong
    # an exercise of two answer cells (lab 3: Semaphore, then BoundedSemaphore) before its check
    second = code("class D:\n    ### BEGIN SOLUTION\n    y = 2\n    ### END SOLUTION\n",
                  nbgrader={**sol, "grade_id": "ex1b"})
    two = {"cells": [*nb["cells"][:3], md("and then"), second, nb["cells"][3]]}
    assert browser.first_exercise(two)[1] == "ex1-solution"
    assert browser.first_exercise(two)[4] == [("ex1b", "class D:\n    y = 2\n")]
    # a first exercise with no generic wrong answer: no later one is taken
    first = code("%%bash\n### BEGIN SOLUTION\necho hi\n### END SOLUTION\n", nbgrader={**sol, "grade_id": "ex0"})
    nb["cells"].insert(1, first)
    assert browser.first_exercise(nb) is None


def test_longest_first_and_default_lists(tmp_path):
    (tmp_path / "notebooks").mkdir()
    small = {"cells": [code("a")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    big = {"cells": [code("a")] * 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    import json
    (tmp_path / "notebooks" / "01-a.ipynb").write_text(json.dumps(small))
    (tmp_path / "notebooks" / "02-b.ipynb").write_text(json.dumps(big))
    paths = browser.default_notebooks(tmp_path)
    assert [p.name for p in paths] == ["01-a.ipynb", "02-b.ipynb"]
    assert [p.name for p in browser.longest_first(paths)] == ["02-b.ipynb", "01-a.ipynb"]
    assert browser.lab_notebooks(tmp_path) == []


def test_widget_cells():
    view = {"output_type": "display_data", "data": {browser.WIDGET_MIME: {"model_id": "x"}}}
    nb = {"cells": [code("a"), md("b"), code("w", [view])]}
    assert browser.widget_cells(nb) == [2]


class FakePage:
    """A page whose kernel is idle (or not) and whose prompts never all show a number."""

    def __init__(self, idle: bool):
        self.idle = idle

    def evaluate(self, js, arg=None):
        return self.idle if js == browser.IDLE_JS else False

    def wait_for_timeout(self, ms):
        import time

        time.sleep(ms / 1000 / 20)


def test_run_all_is_over_after_a_long_idle_even_if_a_prompt_was_never_redrawn(monkeypatch):
    monkeypatch.setattr(browser, "IDLE_LONG", 0.3)
    assert browser.wait_run_over(FakePage(idle=True), timeout=20)
    assert not browser.wait_run_over(FakePage(idle=False), timeout=1.0)
