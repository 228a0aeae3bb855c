"""Grades for Canvas and Moodle from a grading folder's gradebook, with a roster; the similarity report."""

import csv
import importlib.util
import io
import json
import os

import nbformat
import pytest

from threadlab.grading import exports, grader, similarity

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("grading_submissions",
                                               os.path.join(ROOT, "tests", "grading", "submissions.py"))
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)
LAB = subs.LAB


@pytest.fixture(scope="module")
def graded_folder(tmp_path_factory):
    """A grading folder as `grade` leaves it (gradebook, results), made without running kernels:
    alice 5/5, bob 2/5 with a 1-point late penalty, mallory 3/5 (not on the roster)."""
    folder = tmp_path_factory.mktemp("exports")
    source, _ = subs.write_all(str(folder), kinds=[])
    out = str(folder / "grading")
    template = grader.prepare_template(LAB, source, str(folder))
    grader._prepare_out(out, LAB, template)
    for sid, ex1, ex2, penalty, verdict in (("alice", 3, 2, 0, "ok: full marks"),
                                            ("bob", 0, 2, 1, "exceptions: AssertionError; late by 1 h 5 min: -1 point"),
                                            ("mallory", 3, 0, 0, "exceptions: AssertionError")):
        result = {"student": sid, "lab": LAB, "late_penalty": penalty, "verdict": verdict,
                  "submitted_at": "2026-12-15T23:00:00+00:00",
                  "checks": [{"grade_id": "ex1-check", "points": ex1, "max_points": 3},
                             {"grade_id": "ex2-check", "points": ex2, "max_points": 2}]}
        grader._merge(out, LAB, result)
        grader._atomic_write(os.path.join(out, "results", sid, LAB + ".json"), json.dumps(result))
    return out


def roster(tmp_path, header, rows):
    path = tmp_path / "roster.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:  # as a spreadsheet saves it, with a BOM
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_canvas_csv_has_canvas_identity_columns_then_one_column_per_lab(graded_folder, tmp_path):
    path = roster(tmp_path, ["student", "Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
                  [["alice", "Liddell, Alice", "101", "S1", "alice@uni.example", "CS-1"],
                   ["bob", "Builder, Bob", "102", "S2", "bob@uni.example", "CS-1"],
                   ["carol", "Danvers, Carol", "103", "S3", "carol@uni.example", "CS-2"]])
    text, warnings = exports.lms_csv("canvas", [graded_folder], path, columns={LAB: "Lab 0 (4711)"})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 0 (4711)"]
    assert rows[1] == ["Liddell, Alice", "101", "S1", "alice@uni.example", "CS-1", "5"]
    assert rows[2][-1] == "1"  # 2 points minus the late penalty
    assert rows[3][-1] == ""  # carol submitted nothing: Canvas leaves her grade as it is
    assert warnings == [f"mallory ({LAB}) is not in the roster: left out"]
    text, _ = exports.lms_csv("canvas", [graded_folder], path, missing_zero=True)
    assert os.stat(graded_folder).st_mode & 0o777 == 0o700  # a grading folder holds hidden tests: the teacher's only
    assert list(csv.reader(io.StringIO(text)))[3][-1] == "0"


def test_moodle_csv_has_an_identity_column_grades_and_feedback(graded_folder, tmp_path):
    path = roster(tmp_path, ["student", "First name", "Last name", "Email address"],
                  [["alice", "Alice", "Liddell", "alice@uni.example"], ["bob", "Bob", "Builder", "bob@uni.example"]])
    text, _ = exports.lms_csv("moodle", [graded_folder], path, feedback=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["First name", "Last name", "Email address", LAB, f"{LAB} feedback"]
    assert rows[1] == ["Alice", "Liddell", "alice@uni.example", "5", "ok: full marks"]
    assert rows[2][3:] == ["1", "exceptions: AssertionError; late by 1 h 5 min: -1 point"]


def test_a_roster_that_cannot_map_students_is_refused(graded_folder, tmp_path):
    with pytest.raises(ValueError, match="'student' column"):
        exports.lms_csv("moodle", [graded_folder], roster(tmp_path, ["Email address"], [["a@b"]]))
    with pytest.raises(ValueError, match="Email address or ID number or Username"):
        exports.lms_csv("moodle", [graded_folder], roster(tmp_path, ["student", "Name"], [["alice", "A"]]))
    with pytest.raises(ValueError, match="more than one row"):
        exports.lms_csv("canvas", [graded_folder], roster(tmp_path, ["student", "ID"], [["a", "1"], ["a", "2"]]))


def test_export_command(graded_folder, tmp_path, capsys):
    from threadlab.__main__ import main

    path = roster(tmp_path, ["student", "ID number"], [["alice", "2026001"]])
    assert main(["export", "moodle", graded_folder, "--roster", path, "--out", str(tmp_path / "m.csv")]) == 0
    assert (tmp_path / "m.csv").read_text().splitlines() == ["ID number," + LAB, "2026001,5"]
    assert "bob" in capsys.readouterr().err  # not on this roster: said, not exported
    assert main(["export", "canvas", str(tmp_path), "--roster", path, "--out", str(tmp_path / "c.csv")]) == 2


def test_similarity_report_flags_copies_and_ignores_starter_code(tmp_path):
    source, sub_dir = subs.write_all(str(tmp_path), kinds=["correct", "blank", "one-blank"])
    renamed = subs.EX1_PLAIN.replace("total", "count").replace("work", "job").replace("threads", "pool")
    nbformat.write(subs.student_version({"ex1-solution": renamed}), os.path.join(sub_dir, "renamer.ipynb"))
    own = ("def count_with_threads(n_threads, n):\n    import itertools\n    counter = itertools.count()\n"
           "    guard = threading.RLock()\n    def go():\n        for i in range(n):\n            with guard:\n"
           "                next(counter)\n    ts = [threading.Thread(target=go, name=f't{i}') for i in range(n_threads)]\n"
           "    [t.start() for t in ts]\n    [t.join() for t in ts]\n    return next(counter)")
    nbformat.write(subs.student_version({"ex1-solution": own, "ex2-solution": "def parallel_squares(xs):\n"
                                         "    return [x ** 2 for x in xs]"}), os.path.join(sub_dir, "independent.ipynb"))
    lines = []
    pairs = similarity.similarity_report(LAB, [sub_dir], str(tmp_path / "out"), source=source, threshold=0.6,
                                         echo=lines.append)
    top = {(p["a"], p["b"]): max(p["similarity_a"], p["similarity_b"]) for p in pairs}
    assert top[("correct", "renamer")] == 1.0  # renamed variables do not hide a copy
    assert top[(similarity.REFERENCE, "correct")] == 1.0  # nor does copying the public reference solution
    assert all(v < 0.2 for k, v in top.items() if "independent" in k)
    assert not [k for k in top if "blank" in k]  # nothing but starter code: not compared at all
    rows = list(csv.DictReader(open(tmp_path / "out" / "similarity.csv")))
    assert {(r["student_a"], r["student_b"]) for r in rows if r["listed"]} >= {("correct", "renamer")}
    page = (tmp_path / "out" / "similarity.html").read_text()
    assert "Advisory only: this report never changes a score" in page and "<mark>" in page
    assert "advisory" in lines[0]
