"""A class of two on a local nbgrader exchange, end to end, with nbgrader's own commands.

generate_assignment, release_assignment; each student fetches, answers and submits; collect; grade with
``python -m threadlab grade``; bob resubmits after the due time, ``collect --update``, re-grade (the teacher's
manual grade survives it); ``release_feedback`` from the grading folder; each student's ``fetch_feedback``
gets a page with their score and no hidden test. Then nbgrader commands run in the grading folder
(``autograde``, ``generate_feedback``, ``export``) must not bring a hidden test back into feedback, nor
overwrite the grader's CSV. One small lab (the fixture, 5 points), two students. The set-up and the
students' side run nbgrader's apps in this process (a CLI start costs 2-3 s of CPU each); the commands run in
the grading folder run as ``nbgrader`` commands, reading that folder's nbgrader_config.py as a teacher's would.
"""

import csv
import datetime as dt
import glob
import importlib.util
import json
import os
import subprocess
import sys
import time

import nbformat

from threadlab.grading import grader, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("grading_submissions",
                                               os.path.join(ROOT, "tests", "grading", "submissions.py"))
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)
LAB, COURSE = subs.LAB, "e2e-course"
BIN = os.path.dirname(sys.executable)


def env_for(tmp, who):
    home = tmp / f"home-{who}"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    env.update(HOME=str(home), USER=who, LOGNAME=who, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               IPYTHONDIR=str(home / "ipython"), PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return env


def app(cwd, *args, monkeypatch):
    """``nbgrader ARGS`` in this process, in ``cwd`` (its nbgrader_config.py is read, as by the command)."""
    from jupyter_core.application import NoStart
    from nbgrader.apps.nbgraderapp import NbGraderApp

    grader._quiet_nbgrader()  # nbgrader asks the alembic command for a version otherwise (a slow subprocess)
    monkeypatch.chdir(cwd)
    nb_app = NbGraderApp.instance()
    try:
        nb_app.initialize(list(args))
        nb_app.start()
    except NoStart:  # jupyter_core's way of saying the subcommand ran
        pass
    except SystemExit as exc:
        assert not exc.code, f"nbgrader {' '.join(args)} exited with {exc.code}"
    finally:
        if getattr(nb_app, "subapp", None) is not None:
            type(nb_app.subapp).clear_instance()
        NbGraderApp.clear_instance()


def nbgrader(tmp, who, cwd, *args):
    out = subprocess.run([os.path.join(BIN, "nbgrader"), *args], cwd=cwd, env=env_for(tmp, who),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"nbgrader {' '.join(args)} as {who}: {out.stdout[-1500:]}{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def answer(path, answers):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    nbformat.write(nb, path)


def grade(teacher, monkeypatch, capsys, *extra):
    """``python -m threadlab grade LAB submitted --out grading ...`` in the teacher's course folder."""
    from threadlab.__main__ import main

    monkeypatch.chdir(teacher)
    capsys.readouterr()
    code = main(["grade", LAB, "submitted", "--source", os.path.join("source", LAB, LAB + ".ipynb"), "--out",
                 "grading", "--cell-timeout", "5", "--budget", "30", "--isolation", subs.isolation_for_tests(), *extra])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    return printed.out


def test_a_class_on_the_exchange_gets_feedback_without_hidden_tests(tmp_path, monkeypatch, capsys):
    exchange, teacher = tmp_path / "exchange", tmp_path / "course"
    exchange.mkdir()
    (teacher / "source" / LAB).mkdir(parents=True)
    nbformat.write(subs.fixture_source(), str(teacher / "source" / LAB / (LAB + ".ipynb")))
    (teacher / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = {COURSE!r}\nc.Exchange.root = {str(exchange)!r}\n")
    for name, value in env_for(tmp_path, "teacher").items():  # Jupyter's own files go to the test's folder
        if name.startswith(("JUPYTER", "IPYTHON")):
            monkeypatch.setenv(name, value)
    app(teacher, "generate_assignment", LAB, "--force", monkeypatch=monkeypatch)
    app(teacher, "release_assignment", LAB, monkeypatch=monkeypatch)

    students = {}
    for who in ("alice", "bob"):
        folder = tmp_path / who
        folder.mkdir()
        (folder / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.course_id = {COURSE!r}\nc.Exchange.root = {str(exchange)!r}\n")
        app(folder, "fetch_assignment", LAB, f"--Exchange.cache={tmp_path / who / 'cache'}", monkeypatch=monkeypatch)
        students[who] = folder / LAB / (LAB + ".ipynb")
    answer(students["alice"], {"ex1-solution": subs.EX1_PLAIN, "ex2-solution": subs.EX2_PLAIN})
    answer(students["bob"], {"ex1-solution": "def count_with_threads(n_threads, n):\n    return n",
                             "ex2-solution": subs.EX2_PLAIN})
    for who in ("alice", "bob"):
        app(tmp_path / who, "submit", LAB, f"--student={who}", f"--Exchange.cache={tmp_path / who / 'cache'}",
            monkeypatch=monkeypatch)
    app(teacher, "collect", LAB, monkeypatch=monkeypatch)
    time.sleep(1.1)
    due = dt.datetime.now(dt.UTC)
    time.sleep(1.1)

    printed = grade(teacher, monkeypatch, capsys, "--due", due.isoformat(), "--late-penalty", "1/hour")
    assert ("isolation: bwrap" in printed) == sandbox.probe_bwrap()[0]
    out = teacher / "grading"
    results = {r["student"]: r for r in (json.load(open(p)) for p in glob.glob(str(out / "results" / "*" / "*.json")))}
    assert {s: r["score"] for s, r in results.items()} == {"alice": 5, "bob": 2}
    assert results["alice"]["submitted_at_source"] == "timestamp.txt" and "late" not in results["alice"]["verdict"]

    # the teacher adds a manual grade and a comment in formgrader (here: straight into the gradebook)
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(out / "gradebook.db"), COURSE) as gb:
        gb.find_grade("ex1-check", LAB, LAB, "bob").manual_score = 1.0
        gb.find_comment("ex1-solution", LAB, LAB, "bob").manual_comment = "see me about locks"
        gb.db.commit()

    # bob fixes his answer after the due time and submits again; the teacher collects the update and re-grades
    answer(students["bob"], {"ex1-solution": subs.EX1_PLAIN})
    app(tmp_path / "bob", "submit", LAB, "--student=bob", f"--Exchange.cache={tmp_path / 'bob' / 'cache'}",
        monkeypatch=monkeypatch)
    app(teacher, "collect", "--update", LAB, monkeypatch=monkeypatch)
    printed = grade(teacher, monkeypatch, capsys, "--due", due.isoformat(), "--late-penalty", "1/hour")
    bob = json.load(open(out / "results" / "bob" / (LAB + ".json")))
    assert bob["raw_score"] == 5 and bob["late_penalty"] == 1 and bob["score"] == 4, bob
    assert "full marks before the late penalty; late by" in bob["verdict"] and bob["manual_kept"] == 2
    with Gradebook("sqlite:///" + str(out / "gradebook.db"), COURSE) as gb:
        submission = gb.find_submission(LAB, "bob")
        assert submission.timestamp is not None and submission.timestamp > due.replace(tzinfo=None)
        assert gb.find_grade("ex1-check", LAB, LAB, "bob").manual_score == 1.0  # kept across the re-grade
        assert gb.find_comment("ex1-solution", LAB, LAB, "bob").manual_comment == "see me about locks"
        assert submission.late_submission_penalty == 1
    rows = {r["student"]: r for r in csv.DictReader(open(out / grader.GRADES_CSV))}
    assert rows["bob"]["late_penalty"] == "1" and rows["bob"]["late_by"] and rows["bob"]["submitted_at"]
    # the gradebook's score for bob: manual 1 for ex1 (overrides the auto 3) + 2 for ex2, minus 1 late = 2
    assert (rows["bob"]["raw_score"], rows["bob"]["score"]) == ("3", "2")

    # formgrader (JupyterLab started in the grading folder) sees a released lab with both submissions
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(out)).load_config()
    config.CourseDirectory.root = str(out)
    summary = NbGraderAPI(CourseDirectory(config=config), config=config).get_assignment(LAB)
    assert (summary["status"], summary["num_submissions"]) == ("released", 2)

    # feedback goes back through nbgrader's own exchange; each student fetches theirs
    nbgrader(tmp_path, "teacher", out, "release_feedback", LAB)
    for who, score in (("alice", "5.0"), ("bob", "5.0")):
        app(tmp_path / who, "fetch_feedback", LAB, f"--student={who}", f"--Exchange.cache={tmp_path / who / 'cache'}",
            monkeypatch=monkeypatch)
        pages = glob.glob(str(tmp_path / who / LAB / "feedback" / "*" / (LAB + ".html")))
        assert pages, f"{who} got no feedback"
        text = open(max(pages, key=os.path.getmtime), encoding="utf-8").read()
        assert subs.HIDDEN_MARKER not in text and "HIDDEN TESTS" not in text, who
        assert "two threads x 100 increments" in text  # the visible check is shown
        assert f"(Score: {score} / 5.0)" in text
    assert "Late submission penalty (Score: -1.0)" in text  # bob's

    # nbgrader commands a teacher may run in the grading folder cannot bring the hidden tests back
    before = (out / grader.GRADES_CSV).read_text()
    nbgrader(tmp_path, "teacher", out, "autograde", LAB, "--force")
    nbgrader(tmp_path, "teacher", out, "generate_feedback", LAB, "--force")
    nbgrader(tmp_path, "teacher", out, "export")
    pages = glob.glob(str(out / "feedback" / "*" / LAB / "*.html"))
    for path in pages + glob.glob(str(out / "autograded" / "*" / LAB / "*.ipynb")):
        text = open(path, encoding="utf-8").read()
        assert subs.HIDDEN_MARKER not in text and "HIDDEN TESTS" not in text, path
    assert (out / grader.GRADES_CSV).read_text() == before and (out / "grades.csv").exists()
    # generate_feedback made bob's page from the class gradebook: the teacher's manual grade is in it now
    assert "(Score: 3.0 / 5.0)" in (out / "feedback" / "bob" / LAB / (LAB + ".html")).read_text()
