"""Hidden tests stay hidden: nothing a learner installs, and no sandboxed kernel, can reach them.

Every hidden-test region of every reference notebook (``solutions/*/*.ipynb``) is collected; no file of
the installed ``threadlab`` package and no learner notebook in ``labs/`` may hold its test descriptions or
its lines of code, and a kernel in the grader's sandbox cannot even see ``solutions/``. Also the helpers
that keep hidden tests out of what students get back (:mod:`threadlab.grading.hidden`).
"""

import glob
import importlib.util
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from threadlab.grading import hidden, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLUTIONS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))


def hidden_material():
    """(lab, descriptions, code lines) of every hidden region: descriptions are the tests' docstrings or
    function names; code lines are the region's telling lines: 40 characters or more, no import, no
    ``tests += ...`` and none that also appears outside the hidden regions (a visible check's line is no secret)."""
    found = []
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        descriptions, lines, visible = set(), set(), set()
        shown = "\n".join(hidden.strip_regions(cell.source)[0] for cell in nb.cells)  # what learners read anyway
        for cell in nb.cells:
            visible.update(line.strip() for line in hidden.strip_regions(cell.source)[0].splitlines())
            for region in hidden.regions(cell.source):
                for pattern in hidden.test_name_patterns(region):
                    text = pattern.replace("\\", "")
                    if len(text) >= 12 and "w+" not in text:
                        descriptions.add(text)
                lines.update(line.strip() for line in region.splitlines() if len(line.strip()) >= 40
                             and not line.strip().startswith(("import ", "from ", "tests +=", "tests =")))
        descriptions = {d for d in descriptions if d not in shown}
        found.append((os.path.basename(os.path.dirname(path)), descriptions, lines - visible))
    return found


MATERIAL = hidden_material()


def test_every_lab_has_hidden_tests_to_protect():
    assert len(MATERIAL) == 6
    for lab, descriptions, lines in MATERIAL:
        assert len(descriptions) >= 3 and len(lines) >= 5, lab


def installed_files():
    spec = importlib.util.find_spec("threadlab")
    package = os.path.dirname(spec.origin)
    files = []
    for folder, dirs, names in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        files += [os.path.join(folder, name) for name in names]
    return package, files


def test_no_installed_threadlab_file_holds_a_hidden_test():
    package, files = installed_files()
    assert len(files) > 20, package
    leaks = []
    for path in files:
        text = open(path, encoding="utf-8", errors="replace").read()
        for lab, descriptions, lines in MATERIAL:
            # a hidden test moved into the package keeps its description, even if its code is reworded
            leaks += [(lab, os.path.relpath(path, package), d) for d in descriptions if d in text]
            leaks += [(lab, os.path.relpath(path, package), line) for line in lines if line in text]
    assert leaks == [], leaks[:5]


def test_no_learner_lab_holds_a_hidden_test():
    for lab, descriptions, lines in MATERIAL:
        learner = os.path.join(ROOT, "labs", lab, lab + ".ipynb")
        text = open(learner, encoding="utf-8").read()
        assert "HIDDEN TESTS" not in text
        assert [d for d in descriptions if d in text] == [], lab
        assert [line for line in lines if line in text] == [], lab


def test_a_sandboxed_kernel_cannot_see_solutions():
    ok, detail = sandbox.probe_bwrap()
    if not ok:
        pytest.skip(f"bubblewrap not usable here ({detail}): the grader refuses to grade without --isolation")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        home, runtime = os.path.join(tmp, "home"), os.path.join(tmp, "run")
        os.makedirs(home)
        os.makedirs(runtime)
        if os.geteuid() == 0:
            os.chown(home, 65534, 65534)
            os.chown(runtime, 65534, 65534)
        target = SOLUTIONS[0]
        code = (f"import os, threadlab\nprint('exists', os.path.exists({target!r}), "
                f"os.path.exists({ROOT + '/solutions'!r}))\n"
                f"print('root', sorted(os.listdir({ROOT!r})))\nprint('package', threadlab.__file__)")
        cmd = sandbox.bwrap_prefix(home, runtime, 16 * 1024**2) + [sys.executable, "-m", sandbox.LAUNCHER, "--probe", code]
        if os.geteuid() == 0:
            cmd[-2:-2] = ["--uid", "65534"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "exists False False" in out.stdout, out.stdout
    # the repository shows nothing but the package (and the venv, when it lives in the checkout)
    assert "root ['.venv', 'threadlab']" in out.stdout or "root ['threadlab']" in out.stdout, out.stdout
    assert "package " + os.path.join(ROOT, "threadlab") in out.stdout


# ------------------------------------------------------------------------------- the helpers

REFERENCE_CHECK = '''check_one()
### BEGIN HIDDEN TESTS
def test_overdraft():
    """no overdraft: 8 threads race to spend the same 100"""
    assert spend(8) == 100, "hidden: eight spenders"
tests += [test_overdraft]
### END HIDDEN TESTS
check_exercise("Exercise 2: a bank", tests)'''


def test_strip_regions_never_raises_and_keeps_the_rest():
    assert hidden.strip_regions(REFERENCE_CHECK)[0] == 'check_one()\ncheck_exercise("Exercise 2: a bank", tests)'
    # an unterminated region (nbgrader's ClearHiddenTests raises "No end hidden tests statement found")
    text, removed = hidden.strip_regions("a = 1\n# ### BEGIN HIDDEN TESTS is a marker\nb = 2\n")
    assert (text, removed) == ("a = 1\n", True)
    assert hidden.strip_regions("x = 1\n") == ("x = 1\n", False)


def test_student_text_with_markers_is_found_but_never_cut():
    nb = new_notebook(cells=[new_code_cell("# quoting ### BEGIN HIDDEN TESTS here\nx = 1"),
                             new_code_cell(REFERENCE_CHECK, metadata={"nbgrader": {"grade_id": "ex2-check"}})])
    reference = hidden.Reference.from_sources({"ex2-check": REFERENCE_CHECK})
    assert hidden.student_markers(nb, set(reference.locked)) == [0]
    hidden.hide(nb, reference)
    assert nb.cells[0].source.startswith("# quoting ### BEGIN HIDDEN TESTS")
    assert "HIDDEN" not in nb.cells[1].source and "spend(8)" not in nb.cells[1].source


def _check_output(text):
    return new_code_cell(REFERENCE_CHECK, metadata={"nbgrader": {"grade_id": "ex2-check"}},
                         outputs=[new_output("stream", name="stdout", text=text)])


VERDICTS = ("Exercise 2: a bank\n✔ one thread\n"
            "✘ no overdraft: 8 threads race to spend the same 100: failed - spent: expected 100, got 140. Hint: lock\n"
            "✘ two banks: timed out after 5 s: deadlock or busy loop?\n    thread-1 blocked in acquire\n"
            "    assert spend(8) == 100, \"hidden: eight spenders\"\n")


@pytest.mark.parametrize("detail", hidden.DETAILS)
def test_what_a_student_sees_of_a_hidden_test(detail):
    reference = hidden.Reference.from_sources({"ex2-check": REFERENCE_CHECK})
    nb = hidden.hide(new_notebook(cells=[_check_output(VERDICTS)]), reference, detail)
    text = nb.cells[0].outputs[0].text
    assert "✔ one thread" in text and "✘ two banks: timed out" in text and "thread-1 blocked" in text  # visible ones
    assert "spend(8) == 100" not in text and "line(s) quoting hidden tests removed" in text
    if detail == "full":
        assert "expected 100, got 140" in text
    elif detail == "names":
        assert "✘ no overdraft: 8 threads race to spend the same 100: failed (hidden test: details" in text
        assert "got 140" not in text
    else:
        assert "no overdraft" not in text


def test_a_failed_hidden_assert_message_is_withheld():
    reference = hidden.Reference.from_sources({"ex2-check": REFERENCE_CHECK})
    cell = new_code_cell(REFERENCE_CHECK, metadata={"nbgrader": {"grade_id": "ex2-check"}}, outputs=[
        new_output("error", ename="AssertionError", evalue="hidden: eight spenders",
                   traceback=["AssertionError: hidden: eight spenders"])])
    hidden.hide(new_notebook(cells=[cell]), reference)
    assert "eight spenders" not in str(cell.outputs)


@pytest.mark.parametrize("path", SOLUTIONS, ids=[os.path.basename(p) for p in SOLUTIONS])
def test_a_full_marks_feedback_keeps_every_verdict_line_of_the_real_labs(path):
    """The reference's own stored run stands in for a full-marks submission: hiding the hidden tests drops no
    verdict (a hidden test's name may quote its code, as lab 3's "`with sem:` acquires ..." does)."""
    nb = nbformat.read(path, as_version=4)
    reference = hidden.Reference.from_notebook(nb)
    safe = hidden.hide(nbformat.from_dict(nb), reference, "names")
    lines = [line for c in nb.cells if c.cell_type == "code" for o in c.outputs for line in o.get("text", "").splitlines()]
    kept = [line for c in safe.cells if c.cell_type == "code" for o in c.outputs for line in o.get("text", "").splitlines()]
    assert kept == lines and any(reference.matches_name(line[2:]) for line in kept if line.startswith("✔ "))
    assert not [c for c in safe.cells if c.cell_type == "code" and "HIDDEN TESTS" in c.source]
