"""How the grader finds a class's work, dates it, prices lateness and chooses isolation (fast, no kernel)."""

import datetime as dt
import os

import pytest

from threadlab.grading import grader, late, sandbox

LAB = "lab9"


def make(root, *paths):
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def test_a_gh_classroom_clone_gives_one_notebook_per_repository(tmp_path):
    # `gh classroom clone student-repos` puts each repository in <assignment>-submissions/
    make(tmp_path, "lab9-submissions/lab9-alice/labs/lab9/lab9.ipynb", "lab9-submissions/lab9-alice/Untitled.ipynb",
         "lab9-submissions/lab9-bob/labs/lab9/lab9.ipynb", "lab9-submissions/lab9-bob/Untitled.ipynb",
         "lab9-submissions/lab9-bob/notes/Untitled1.ipynb", "lab9-submissions/lab9-carol/scratch.ipynb")
    skipped = []
    found = dict(grader.find_submissions(LAB, [str(tmp_path / "lab9-submissions")], skipped))
    assert sorted(found) == ["lab9-alice", "lab9-bob"]  # never a student called "Untitled"
    assert len(skipped) == 1 and skipped[0][0].endswith("lab9-carol") and "scratch.ipynb" in skipped[0][1]
    # the shell's `lab9-submissions/*/` gives the repositories one by one: the same
    repos = sorted(str(p) for p in (tmp_path / "lab9-submissions").iterdir())
    assert sorted(dict(grader.find_submissions(LAB, repos[:2]))) == ["lab9-alice", "lab9-bob"]


def test_an_empty_class_or_a_pattern_that_matched_nothing_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no submissions of lab9"):
        grader.find_submissions(LAB, [str(tmp_path / "empty")])
    with pytest.raises(FileNotFoundError, match="matched nothing"):
        grader.find_submissions(LAB, [str(tmp_path / "lab9-submissions/*/")])
    from threadlab.__main__ import main

    assert main(["grade", LAB, str(tmp_path / "empty"), "--out", str(tmp_path / "out"),
                 "--source", str(tmp_path / "nowhere.ipynb")]) == 2


def test_due_times_need_a_time_zone():
    assert late.parse_due("2026-12-15T23:59+01:00") == dt.datetime(2026, 12, 15, 22, 59, tzinfo=dt.UTC)
    assert late.parse_due("2026-12-15T22:59Z").hour == 22
    with pytest.raises(ValueError, match="time zone"):
        late.parse_due("2026-12-15T23:59")
    with pytest.raises(ValueError, match="ISO 8601"):
        late.parse_due("next friday")


@pytest.mark.parametrize("penalty, cap, grace, late_seconds, expected", [
    ("10%/day", None, 0, 1, 1.0),            # 10 % of 10 points for a started day
    ("10%/day", None, 0, 86400 + 1, 2.0),    # two started days
    ("0.5/hour", None, 0, 3 * 3600, 1.5),
    ("0.5/hour", "1", 0, 30 * 3600, 1.0),    # capped at 1 point
    ("10%/day", "15%", 0, 5 * 86400, 1.5),   # capped at 15 % of 10
    ("1/hour", None, 10, 9 * 60, 0.0),       # inside 10 minutes of grace
    ("1/hour", None, 10, 11 * 60, 1.0),
    (None, None, 0, 99999, 0.0),             # lateness reported, no penalty
])
def test_late_penalties(penalty, cap, grace, late_seconds, expected):
    policy = late.LatePolicy.parse(penalty, cap, grace)
    assert policy.penalty(late_seconds, 10) == expected
    assert policy.penalty(0, 10) == 0


def test_bad_penalties_say_how_to_write_them():
    with pytest.raises(ValueError, match="RATE/UNIT"):
        late.LatePolicy.parse("10% a day")
    with pytest.raises(ValueError, match="percentage"):
        late.LatePolicy.parse("ten/day")


def test_submission_time_from_nbgrader_timestamp_else_file_time(tmp_path):
    nb = tmp_path / "alice" / "lab9" / "lab9.ipynb"
    make(tmp_path, "alice/lab9/lab9.ipynb")
    os.utime(nb, (1_000_000_000, 1_000_000_000))
    when, how = late.submission_time(str(nb))
    assert when.timestamp() == 1_000_000_000 and how.startswith("file time")
    (nb.parent / "timestamp.txt").write_text("2026-12-15 23:01:05.123456 UTC")
    when, how = late.submission_time(str(nb))
    assert (when.isoformat(timespec="seconds"), how) == ("2026-12-15T23:01:05+00:00", "timestamp.txt")


def test_apply_lateness_to_a_result(tmp_path):
    nb = tmp_path / "lab9.ipynb"
    make(tmp_path, "lab9.ipynb")
    (tmp_path / "timestamp.txt").write_text("2026-12-16 01:30:00.000000 UTC")
    settings = grader.Settings(due=late.parse_due("2026-12-15T23:59Z"), late_policy=late.LatePolicy.parse("1/hour"))
    result = {"raw_score": 5.0, "score": 5.0, "max_score": 5.0, "verdict": "ok: full marks"}
    grader._apply_lateness(result, str(nb), settings)
    assert (result["late_seconds"], result["late_penalty"], result["score"]) == (5460, 2.0, 3.0)
    assert result["verdict"] == "full marks before the late penalty; late by 1 h 31 min: -2 points"


def test_isolation_is_never_quietly_none(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: (False, "bubblewrap is not installed"))
    monkeypatch.setattr(sandbox, "probe_uid", lambda: (False, "not grading as root"))
    with pytest.raises(sandbox.IsolationError, match="--isolation none"):
        sandbox.detect_isolation("auto", hidden_tests=str(tmp_path / "x.ipynb"))
    assert sandbox.detect_isolation("none")[0] == "none"
    # a separate uid is enough only when the hidden tests are not readable by other users
    monkeypatch.setattr(sandbox, "probe_uid", lambda: (True, "ok"))
    readable = {"yes": True}
    monkeypatch.setattr(sandbox, "others_can_read", lambda path: readable["yes"])
    with pytest.raises(sandbox.IsolationError, match="every user can read"):
        sandbox.detect_isolation("auto", hidden_tests=str(tmp_path / "lab.ipynb"))
    readable["yes"] = False
    assert sandbox.detect_isolation("auto", hidden_tests=str(tmp_path / "lab.ipynb"))[0] == "uid"


def test_others_can_read_follows_every_folder(tmp_path):
    make(tmp_path, "a/b/lab.ipynb")
    os.chmod(tmp_path / "a" / "b" / "lab.ipynb", 0o600)
    assert not sandbox.others_can_read(str(tmp_path / "a" / "b" / "lab.ipynb"))
    os.chmod(tmp_path / "a" / "b" / "lab.ipynb", 0o644)
    os.chmod(tmp_path / "a", 0o700)
    assert not sandbox.others_can_read(str(tmp_path / "a" / "b" / "lab.ipynb"))
    assert sandbox.others_can_read("/etc/hostname") or not os.path.exists("/etc/hostname")


def test_bwrap_works_through_a_symlinked_venv_and_from_another_checkout(tmp_path):
    """The two set-ups in which the kernel used to fail to start inside bubblewrap (and grading fell to none)."""
    import shutil
    import subprocess
    import sys

    if not sandbox.probe_bwrap()[0]:
        pytest.skip("bubblewrap not usable here")
    link = tmp_path / "venv-link"
    link.symlink_to(sys.prefix)
    checkout = tmp_path / "checkout"
    shutil.copytree(os.path.dirname(os.path.dirname(sandbox.__file__)), checkout / "threadlab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import sys; sys.path.insert(0, '')\nfrom threadlab.grading import sandbox\n"
            "ok, detail = sandbox.probe_bwrap(); print(ok, detail)")
    out = subprocess.run([str(link / "bin" / "python"), "-c", code], cwd=checkout, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.startswith("True"), out.stdout + out.stderr
    assert f"threadlab at {checkout / 'threadlab' / '__init__.py'}" in out.stdout  # the grader's copy, not the venv's
