"""The batch grader (threadlab.grading): bad submissions with expected scores, isolation, outputs, real labs.

The bad-submission set is built by tests/grading/submissions.py against a small fixture lab. One
grading run of the whole set is shared by most tests (module fixture), so keep this module on one
xdist worker (the course runs pytest with ``--dist loadfile``).
"""

import csv
import glob
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from threadlab.grading import grader, hidden, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("grading_submissions",
                                               os.path.join(ROOT, "tests", "grading", "submissions.py"))
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)

LAB = subs.LAB
BAD_SET = sorted(set(subs.KINDS) - {"slow-overall"})  # slow-overall gets its own test (its own budget)
if subs.isolation_for_tests() == "none" and os.geteuid() == 0:  # no process limit binds root: never fork-bomb the host
    BAD_SET = [k for k in BAD_SET if "fork-bomb" not in k]
# tight limits keep the bad set fast; a correct fixture submission needs ~1 s of kernel time
FAST = dict(cell_timeout=3, budget=30, output_limit=300_000, jobs=4, isolation=subs.isolation_for_tests(),
            limits=sandbox.Limits(cpu_seconds=60, memory_bytes=512 * 1024**2, processes=128))


def settings(**kw):
    return grader.Settings(**{**FAST, "limits": sandbox.Limits(**vars(FAST["limits"])), **kw})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the whole bad-submission set once: (results by student, printed text, out folder, seconds)."""
    folder = tmp_path_factory.mktemp("grading")
    source, sub_dir = subs.write_all(str(folder), kinds=BAD_SET)
    out = str(folder / "out")
    lines = []
    t0 = time.monotonic()
    results = grader.grade_class(LAB, [sub_dir], out, source=source, settings=settings(), echo=lines.append)
    seconds = time.monotonic() - t0
    print("\n".join(lines))
    return {r["student"]: r for r in results}, "\n".join(lines), out, seconds, source


@pytest.mark.parametrize("kind", BAD_SET)
def test_bad_submission_gets_expected_score_and_verdict(graded, kind):
    results, _, _, _, _ = graded
    _, expected, word = subs.KINDS[kind]
    result = results[kind]
    assert result["max_score"] == 5
    assert result["score"] == expected, (kind, result["verdict"], result["checks"])
    assert word.lower() in result["verdict"].lower(), (kind, result["verdict"])
    assert result["complete"] is True


def test_isolation_is_printed_and_limits_bound_the_bad_set(graded):
    results, text, _, seconds, _ = graded
    level = results["correct"]["isolation"]
    assert level in ("bwrap", "uid") or FAST["isolation"] == "none"
    assert f"isolation: {level}:" in text
    assert all(r["isolation"] == level for r in results.values())
    # nothing may take longer than the watchdog plus kernel start-up and feedback
    assert max(r["seconds"] for r in results.values()) < FAST["budget"] + 30
    for kind in ("deadlock", "busy-loop", "deadlock-ignores-ctrl-c"):
        assert results[kind]["seconds"] < FAST["budget"] + 30
    assert "submissions graded in" in text
    print(f"bad-submission set: {len(results)} submissions in {seconds:.1f} s")


def test_the_class_gradebook_csv_and_files_agree(graded):
    from nbgrader.api import Gradebook

    results, _, out, _, _ = graded
    assert not os.path.exists(os.path.join(out, grader.MARKER))
    with open(os.path.join(out, grader.GRADES_CSV)) as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    with Gradebook("sqlite:///" + os.path.join(out, "gradebook.db"), grader.COURSE) as gb:
        book = {s.student.id: s.score for s in gb.find_assignment(LAB).submissions}
    for kind, (_, expected, _) in ((k, subs.KINDS[k]) for k in BAD_SET):
        assert float(rows[kind]["score"]) == expected
        assert rows[kind]["verdict"] == results[kind]["verdict"]
        if kind in ("malformed-json", "not-a-notebook"):
            assert kind in book and book[kind] == 0
            continue
        assert book[kind] == expected
        assert os.path.exists(os.path.join(out, "feedback", kind, LAB, LAB + ".html"))
        with open(os.path.join(out, "logs", kind, LAB + ".log")) as fh:
            assert "verdict: " + results[kind]["verdict"] in fh.read()
        saved = json.load(open(os.path.join(out, "results", kind, LAB + ".json")))
        assert saved["score"] == expected and saved["complete"]


def test_feedback_never_shows_hidden_tests(graded):
    _, _, out, _, _ = graded
    pages = glob.glob(os.path.join(out, "feedback", "*", LAB, LAB + ".html"))
    assert len(pages) >= len(BAD_SET) - 2
    for page in pages:
        text = open(page, encoding="utf-8").read()
        assert subs.HIDDEN_MARKER not in text, page
        if "marker-in-text" not in page:  # (that student's own code quotes the marker, and is shown as written)
            assert "BEGIN HIDDEN TESTS" not in text, page
    # the visible part of a check is still shown
    assert "two threads x 100 increments" in open(os.path.join(out, "feedback", "correct", LAB, LAB + ".html")).read()
    # neither do the autograded notebooks nbgrader's own commands would make feedback from
    for graded_nb in glob.glob(os.path.join(out, "autograded", "*", LAB, LAB + ".ipynb")):
        text = open(graded_nb, encoding="utf-8").read()
        assert subs.HIDDEN_MARKER not in text, graded_nb
    # the leak submission printed each cell's source as it ran: the teacher's copy has it, the feedback does not
    teacher_nb = open(os.path.join(out, "teacher", "attack", LAB + ".ipynb")).read()
    assert subs.HIDDEN_MARKER in teacher_nb
    leak_page = os.path.join(out, "feedback", "attack", LAB, LAB + ".html")
    assert "quoting hidden tests removed" in open(leak_page).read()


def test_a_huge_print_is_capped_in_the_kernel(graded):
    results, _, out, _, _ = graded
    teacher = open(os.path.join(out, "teacher", "huge-print", LAB + ".ipynb"), encoding="utf-8").read()
    assert os.path.getsize(os.path.join(out, "teacher", "huge-print", LAB + ".ipynb")) < 2 * FAST["output_limit"]
    assert "output limit was reached" in teacher
    assert "MemoryError" not in teacher and "iostream.py" not in teacher  # no traceback of the kernel's own threads
    assert [ev["kind"] for ev in results["huge-print"]["events"]] == ["output-truncated"]


def test_sandbox_hides_gradebook_hidden_tests_and_other_work(graded):
    if not sandbox.probe_bwrap()[0]:
        pytest.skip("bubblewrap not usable here: the grader ran without OS isolation (it said so)")
    _, _, out, _, _ = graded
    nb = nbformat.read(os.path.join(out, "autograded", "attack", LAB, LAB + ".ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "ATTACK found 0 wrote 0" in text, text[:500]


def test_no_process_of_a_submission_survives_grading(graded):
    _, _, out, _, _ = graded
    time.sleep(1)
    survivors = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if any(f"threadlab-grade-{kind}-" in cmd for kind in BAD_SET) or "gradebook.db')" in cmd or cmd == "sleep 313":
            survivors.append(cmd[:120])
    assert survivors == []
    # the detached "rewrite every gradebook" process of the attack is gone: the class gradebook is intact
    before = os.path.getmtime(os.path.join(out, "gradebook.db"))
    time.sleep(0.6)
    assert os.path.getmtime(os.path.join(out, "gradebook.db")) == before


def test_regrading_is_idempotent(graded, tmp_path):
    from nbgrader.api import Gradebook

    results, _, out, _, source = graded
    picked = [os.path.join(os.path.dirname(results["correct"]["submission"]), k + ".ipynb")
              for k in ("correct", "wrong-answer", "malformed-json")]
    again = grader.grade_class(LAB, picked, out, source=source, settings=settings(), echo=lambda s: None)
    assert {r["student"]: r["score"] for r in again} == {"correct": 5, "wrong-answer": 2, "malformed-json": 0}
    with Gradebook("sqlite:///" + os.path.join(out, "gradebook.db"), grader.COURSE) as gb:
        subs_ = gb.find_assignment(LAB).submissions
        assert len(subs_) == len(BAD_SET)
        assert {s.student.id: s.score for s in subs_}["correct"] == 5
    rows = list(csv.DictReader(open(os.path.join(out, grader.GRADES_CSV))))
    assert len(rows) == len(BAD_SET)


def test_watchdog_bounds_a_submission_and_keeps_earned_points(tmp_path):
    # two cells of 4 s each: no cell reaches the 5 s cell timeout, but the whole notebook passes the 6 s budget
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["slow-overall"])
    t0 = time.monotonic()
    (result,) = grader.grade_class(LAB, [sub_dir], str(tmp_path / "out"), source=source,
                                   settings=settings(cell_timeout=5, budget=6), echo=lambda s: None)
    assert "watchdog" in result["verdict"]
    assert result["score"] == 3  # exercise 1 was checked before the watchdog fired
    assert [c["status"] for c in result["checks"]] == ["passed", "failed: GradingStopped"]
    assert time.monotonic() - t0 < 6 + 40


def test_a_killed_run_leaves_no_score_looking_final(tmp_path):
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["deadlock"])
    out = tmp_path / "out"
    # a previous, finished grading of this student ...
    grader.grade_class(LAB, [os.path.join(sub_dir, "deadlock.ipynb")], str(out), source=source,
                       settings=settings(cell_timeout=1, budget=8), echo=lambda s: None)
    assert (out / "results" / "deadlock" / (LAB + ".json")).exists()
    # ... then a re-grade killed half-way
    code = ("import sys; from threadlab.grading import grader; grader.main(sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", code, LAB, os.path.join(sub_dir, "deadlock.ipynb"), "--source", source,
                             "--out", str(out), "--cell-timeout", "20", "--budget", "60", "--isolation", FAST["isolation"]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / "logs" / "deadlock" / (LAB + ".log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "IN PROGRESS" not in log.read_text():
        time.sleep(0.2)
    time.sleep(2)  # the kernel is running the deadlock now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    assert (out / grader.MARKER).exists()
    assert not (out / grader.GRADES_CSV).exists()
    assert not (out / "results" / "deadlock" / (LAB + ".json")).exists()
    assert "IN PROGRESS" in log.read_text()
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(out / "gradebook.db"), grader.COURSE) as gb:
        assert gb.find_assignment(LAB).submissions == []
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if "threadlab-grade-deadlock-" in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []  # the worker died with the run, and the kernel with the worker


def test_without_isolation_the_grader_still_limits_and_says_so(tmp_path):
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["busy-loop", "detached-process"])
    lines = []
    results = grader.grade_class(LAB, [sub_dir], str(tmp_path / "out"), source=source,
                                 settings=settings(isolation="none", cell_timeout=2), echo=lines.append)
    assert "isolation: none:" in lines[0]
    assert {r["student"]: r["score"] for r in results} == {"busy-loop": 2, "detached-process": 5}
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "313"]]


def test_uid_level_is_used_only_where_it_works(tmp_path):
    ok, detail = sandbox.probe_uid()
    if not ok:  # e.g. this machine: Python lives under /root, which an unprivileged uid cannot enter
        with pytest.raises(RuntimeError):
            sandbox.detect_isolation("uid")
        try:
            assert sandbox.detect_isolation("auto")[0] == "bwrap"
        except sandbox.IsolationError as exc:  # no bwrap either: grading is refused, never silently unisolated
            assert "--isolation none" in str(exc)
        return
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["correct", "fork-bomb"])
    results = grader.grade_class(LAB, [sub_dir], str(tmp_path / "out"), source=source,
                                 settings=settings(isolation="uid"), echo=lambda s: None)
    assert {r["student"]: r["score"] for r in results} == {"correct": 5, "fork-bomb": 3}


def test_a_dying_grader_worker_costs_only_its_own_submission(tmp_path, monkeypatch):
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["correct", "malformed-json"])
    real = grader.grade_one

    def dies_on_correct(lab, sid, *args):
        if sid == "correct":
            os._exit(3)  # as if the grading process itself crashed (runs in the forked worker)
        return real(lab, sid, *args)

    monkeypatch.setattr(grader, "grade_one", dies_on_correct)
    out = tmp_path / "out"
    results = {r["student"]: r for r in grader.grade_class(LAB, [sub_dir], str(out), source=source,
                                                             settings=settings(), echo=lambda s: None)}
    assert results["correct"]["score"] == 0 and "worker died (exit code 3)" in results["correct"]["verdict"]
    assert results["malformed-json"]["verdict"].startswith("malformed JSON")
    rows = {row["student"]: row for row in csv.DictReader(open(out / grader.GRADES_CSV))}
    assert rows["correct"]["score"] == "0" and "worker died" in rows["correct"]["verdict"]


def test_two_runs_never_write_into_the_same_folder(tmp_path):
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["correct"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / grader.MARKER).write_text(f"pid {os.getppid()} started earlier\n")
    with pytest.raises(RuntimeError, match="another grading run"):
        grader.grade_class(LAB, [sub_dir], str(tmp_path / "out"), source=source, echo=lambda s: None)


def test_kernel_folder_gets_data_files_but_never_a_reference_answer(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "lab9.ipynb").write_text("{}")
    (source / "data.csv").write_text("1,2\n")
    (source / "worker.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")
    alice = tmp_path / "alice"
    alice.mkdir()
    for name in ("lab9.ipynb", "worker.py", "threadlab.py", "data.csv"):
        (alice / name).write_text("mine")
    got = dict(grader.lab_files(str(source), str(alice / "lab9.ipynb"), "lab9"))
    assert got == {"data.csv": str(source / "data.csv"), "worker.py": str(alice / "worker.py")}
    flat = dict(grader.lab_files(str(source), str(tmp_path / "bob.ipynb"), "lab9"))
    assert flat == {"data.csv": str(source / "data.csv")}


def test_student_ids_from_files_and_folders(tmp_path):
    for rel in ("alice.ipynb", "bob/lab9.ipynb", "carol/lab9/lab9.ipynb", "dave/notes.txt", "x y!.ipynb",
                "lab9-erin/labs/lab9/lab9.ipynb"):
        path = tmp_path / "class" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    found = dict(grader.find_submissions("lab9", [str(tmp_path / "class")]))
    assert sorted(found) == ["alice", "bob", "carol", "lab9-erin", "x_y"]
    assert grader.student_id_for(str(tmp_path / "class" / "lab9-erin/labs/lab9/lab9.ipynb"), "lab9") == "lab9-erin"
    assert grader.student_id_for("/x/submitted/frank/lab9/lab9.ipynb", "lab9") == "frank"
    assert found["carol"].endswith("carol/lab9/lab9.ipynb")
    assert grader.find_submissions("lab9", [str(tmp_path / "class" / "bob")])[0][0] == "bob"
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "alice.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="two submissions"):
        grader.find_submissions("lab9", [str(tmp_path / "class"), str(tmp_path / "again")])


def test_output_quoting_hidden_code_is_removed():
    text = "ok\nassert secret_check(42) == 1\n"
    cell = nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", text=text)])
    reference = hidden.Reference.from_sources({"ex1-check": "### BEGIN HIDDEN TESTS\nassert secret_check(42) == 1\n"
                                                            "### END HIDDEN TESTS"})
    hidden.hide(nbformat.v4.new_notebook(cells=[cell]), reference)
    assert "secret_check" not in cell.outputs[0].text
    assert cell.outputs[0].text.startswith("ok\n") and "removed" in cell.outputs[0].text


def test_launcher_applies_limits_and_drops_to_the_uid():
    code = ("import os, resource; print(resource.getrlimit(resource.RLIMIT_NPROC)[0], "
            "resource.getrlimit(resource.RLIMIT_DATA)[0], resource.getrlimit(resource.RLIMIT_CORE)[0], os.getuid())")
    limits = sandbox.Limits(processes=77, memory_bytes=300 * 1024**2)
    cmd = [sys.executable, "-m", sandbox.LAUNCHER, "--limits", limits.to_json(), "--probe", code]
    uid = None
    if os.geteuid() == 0:
        uid = 65534
        cmd[-2:-2] = ["--uid", str(uid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
    if uid is not None and out.returncode != 0 and "Permission" in out.stderr:
        pytest.skip("this Python is not readable by an unprivileged uid outside a sandbox (that is why bwrap is used)")
    assert out.returncode == 0, out.stderr
    nproc, data, core, got_uid = out.stdout.split()
    assert (int(nproc), int(data), int(core)) == (77, 300 * 1024**2, 0)
    assert int(got_uid) == (uid if uid is not None else os.getuid())


def test_grade_command_is_wired_into_python_m_threadlab():
    from threadlab.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["grade", "--help"])
    assert exc.value.code == 0
    assert main(["grade", "no-such-lab", "nowhere.ipynb", "--out", "/tmp/threadlab-never"]) == 2
