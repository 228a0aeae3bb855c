"""The Gradescope autograder: the zip's layout, and its run_autograder run locally in Gradescope's folder layout
(a temporary folder standing in for /autograder) against a good submission and a hostile one."""

import importlib.util
import json
import os
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest

from threadlab.grading import gradescope, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("grading_submissions",
                                               os.path.join(ROOT, "tests", "grading", "submissions.py"))
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)
LAB = subs.LAB

# reads the hidden tests from disk if it can (then it answers wrongly, so the score tells), and prints the
# source of every cell it sees run: the check cells' hidden tests arrive in the kernel that way
SNOOP = r'''import glob
could_read = False
for path in glob.glob("/tmp/**/source/reference/*.ipynb", recursive=True) + glob.glob("/autograder/source/**/*.ipynb"):
    try:
        open(path).read()
        could_read = True
    except OSError:
        pass
get_ipython().events.register("pre_run_cell", lambda info: print(info.raw_cell))
''' + subs.EX1_PLAIN.replace("    return total", "    return -1 if could_read else total")


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gradescope")
    source, _ = subs.write_all(str(folder), kinds=[])
    zip_path = str(folder / "autograder.zip")
    from threadlab.__main__ import main

    assert main(["gradescope", LAB, "--out", zip_path, "--source", source, "--cell-timeout", "5", "--budget", "30"]) == 0
    return zip_path


def test_the_zip_follows_gradescopes_layout(autograder):
    with zipfile.ZipFile(autograder) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "config.json", "requirements.txt", f"reference/{LAB}.ipynb",
            "package/pyproject.toml", "package/threadlab/__init__.py"} <= set(names)
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert "/opt/threadlab-venv" in setup and "go-rwx /autograder/source" in setup
    assert not [n for n in names if "__pycache__" in n or n.startswith("solutions/")]


def grade_locally(autograder, tmp_path, submission_nb):
    """What Gradescope does: unzip into source/, put the submission in submission/, run run_autograder."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(autograder) as zf:
        zf.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    nbformat.write(submission_nb, str(root / "submission" / (LAB + ".ipynb")))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "THREADLAB_PYTHON": sys.executable}
    out = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.load(open(root / "results" / "results.json")), out.stdout, root


@pytest.mark.skipif(not sandbox.probe_bwrap()[0] and not sandbox.probe_uid()[0],
                    reason="neither bubblewrap nor a separate uid works here: the runner would refuse")
def test_run_autograder_grades_a_good_and_a_hostile_submission(autograder, tmp_path):
    good, stdout, root = grade_locally(autograder, tmp_path / "good", subs.student_version())
    assert [t["max_score"] for t in good["tests"]] == [0, 3, 0, 2]  # each check cell, and its visible checks
    assert all(t["visibility"] == "after_published" for t in good["tests"] if t["max_score"])  # hidden tests in both
    assert all(t["visibility"] == "visible" for t in good["tests"] if not t["max_score"])
    assert sum(t["score"] for t in good["tests"]) == 5
    assert [t["name"] for t in good["tests"]][1::2] == ["ex1-check", "ex2-check"]  # no check_exercise title here
    assert '"verdict": "ok: full marks"' in stdout  # the instructor's view (stdout) has the verdict
    assert stat.S_IMODE(os.stat(root / "source").st_mode) == 0o700  # the hidden tests: root only

    wrong, _, _ = grade_locally(autograder, tmp_path / "wrong", subs.student_version(
        {"ex1-solution": "def count_with_threads(n_threads, n):\n    return n"}))
    assert [t["score"] for t in wrong["tests"] if t["max_score"]] == [0, 2]
    assert wrong["tests"][1]["output"].startswith("AssertionError: two threads x 100 increments: expected 200")

    hostile = subs.student_version({"ex1-solution": SNOOP})
    bad, stdout, _ = grade_locally(autograder, tmp_path / "hostile", hostile)
    scores = [t["score"] for t in bad["tests"] if t["max_score"]]
    assert scores == [3, 2], (scores, stdout[-3000:])  # 3: its code could not read the reference from disk
    shown = json.dumps(bad)
    assert subs.HIDDEN_MARKER not in shown and "BEGIN HIDDEN" not in shown  # what the kernel saw is not shown
    assert "other line(s) of output not shown" in shown
    assert "isolation" in bad["extra_data"] and bad["extra_data"]["isolation"] in ("bwrap", "uid")


def test_a_submission_without_the_lab_notebook_gets_a_clear_message(autograder, tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "a.ipynb").write_text("{}")
    (root / "submission" / "b.ipynb").write_text("{}")
    with zipfile.ZipFile(autograder) as zf:
        zf.extractall(root / "source")
    assert gradescope.run(str(root)) == 0
    results = json.load(open(root / "results" / "results.json"))
    assert results["score"] == 0 and f"submit the lab's notebook, {LAB}.ipynb" in results["output"]


def test_checker_lines_keep_the_checkers_output_only():
    text = "Exercise 1: x\nsecret = 'exfiltrated'\n✔ one\n✘ two: failed - expected 1, got 2\n    thread-1 waits\nnoise\n"
    assert gradescope.checker_lines(text) == ("Exercise 1: x\n✔ one\n✘ two: failed - expected 1, got 2\n"
                                              "    thread-1 waits\n[2 other line(s) of output not shown]")
