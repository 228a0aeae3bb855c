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
    return {"cell_type": "code", "source": src, "outputs": list(outputs), "execution_count": count, "metadata": meta}


def md(src):
    return {"cell_type": "markdown", "source": src, "metadata": {}}


ERROR = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}


def test_run_problems_clean_notebook():
    nb = {"cells": [md("# t"), code("x = 1"), code("raise ValueError", [ERROR], tags=["raises-exception"])]}
    assert browser.run_problems(nb) == []


def test_run_problems_unexpected_error_and_cells_not_run():
    nb = {"cells": [code("x = 1", [ERROR]), code("y = 2", count=None), code("", count=None)]}
    problems = browser.run_problems(nb)
    assert problems == ["cell 0 shows an error: ValueError: boom", "cell 1 did not run"]


def test_run_problems_tagged_cell_that_did_not_raise():
    nb = {"cells": [code("x = 1", tags=["raises-exception"])]}
    assert browser.run_problems(nb) == ["cell 0 is tagged raises-exception but shows no error"]


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


def test_speed_measuring_notebooks_run_alone(tmp_path):
    import json
    import threading
    import time

    timed, plain = tmp_path / "timed.ipynb", tmp_path / "plain.ipynb"
    timed.write_text(json.dumps({"cells": [code("assert result.speedup(8) >= 5")]}))
    plain.write_text(json.dumps({"cells": [code("assert x == 1")]}))
    assert browser.measures_speed(timed) and not browser.measures_speed(plain)
    cores_judged = tmp_path / "cores.ipynb"
    cores_judged.write_text(json.dumps({"cells": [code("speedup = a / b"), code("if quiet:\n    assert speedup > 1.5")]}))
    md_only = tmp_path / "md.ipynb"   # the words in prose do not count
    md_only.write_text(json.dumps({"cells": [code("speedup = 2"), md("on a quiet machine")]}))
    assert browser.judges_cores(cores_judged)
    assert not browser.judges_cores(timed) and not browser.judges_cores(md_only) and not browser.judges_cores(plain)

    cores, log = browser.Cores(2), []
    first = cores.take(alone=False)            # another browser is busy with an ordinary notebook
    alone = threading.Thread(target=lambda: log.append(("alone", cores.take(alone=True))))
    alone.start()
    time.sleep(0.1)
    assert log == []                           # the speed-measuring notebook waits for it to end
    cores.give_back(first)
    alone.join(5)
    assert log == [("alone", 2)] and cores.free == 0
    cores.give_back(2)
    assert cores.free == 2


def test_only_a_failed_assert_earns_a_run_alone():
    failed_assert = {"output_type": "error", "ename": "AssertionError", "evalue": "(0.0003, 0.0002)", "traceback": []}
    nb = {"cells": [code("x = 1"), code("assert x < 0", [failed_assert]), code("y = 2", count=None)]}
    assert browser.only_failed_asserts(browser.run_problems(nb))
    other = {"cells": [code("x = 1", [ERROR]), code("y = 2", count=None)]}
    assert not browser.only_failed_asserts(browser.run_problems(other))          # a real exception
    assert not browser.only_failed_asserts(["cell 3 shows an error: AssertionError: x",
                                            "widget 0 shows 'Error displaying widget'"])  # a broken widget
    assert not browser.only_failed_asserts([])                                  # nothing failed
