"""Tests of lesson 15: the levels, their checks and the explorer widget driven from code."""

import threading

import pytest

from threadlab.checks import threads_left
from threadlab.explorer_widget import ExplorerWidget
from threadlab.lessons import lesson15 as L


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())  # threads of earlier tests may still be ending: compare sets
    yield
    assert threads_left(before, timeout=5) == []


@pytest.mark.parametrize("key", list(L.LEVELS))
def test_each_level_breaks_and_its_reference_fix_holds(key):
    lv = L.LEVELS[key]
    plain = lv.program().replay("", finish=True)
    assert plain.outcome.kind == "completed"  # without preemption the bug hides
    found = lv.search()
    assert found.found and found.outcome.kind == lv.expect
    assert L.check_break(key, found.schedule_string)
    assert L.check_fix(key, *lv.fixed)


def test_checks_reject_wrong_answers(capsys):
    assert not L.check_break("letters", "")  # no preemption: both letters arrive
    assert "goal" in capsys.readouterr().out
    assert not L.check_break("letters", ...)
    assert "not attempted" in capsys.readouterr().out
    assert not L.check_fix("letters", L.append_letter)  # the buggy body is not a fix
    assert "still ends failed" in capsys.readouterr().out
    assert not L.check_fix("two locks", L.left_then_right, L.right_then_left)
    assert not L.check_fix("condition", L.consumer_if, L.producer)
    assert not L.check_break("bank", "9")
    assert "there is no thread 9" in capsys.readouterr().out


def test_counter_program_search_figures():
    bug = L.counter_program().search()
    assert bug.found and bug.seconds < 1.0
    proof = L.counter_program(locked=True).search()
    assert not proof.found and proof.exhaustive


def test_widget_buttons_pressed_from_code():
    w = L.LEVELS["letters"].widget()
    assert repr(w) == "ExplorerWidget(v += k, the 2009 server's shared string; 2 threads)"
    assert w.schedule == [] and w.outcome.kind == "running"
    w.step_until(0, "STORE_ATTR")
    assert w.snapshot.threads[0].instruction.startswith("STORE_ATTR")
    k = len(w.schedule)
    while not w.buttons[1].disabled:
        w.buttons[1].click()
    assert w.snapshot.threads[1].status == "done"
    assert "STORE_ATTR" in w.codes[0].value or "next instruction" in w.codes[0].value
    while not w.buttons[0].disabled:
        w.buttons[0].click()
    assert w.outcome.kind == "failed" and w.snapshot.shared["v"] in ("'a'", "'b'")
    assert "final check failed" in w.state.value
    w.undo_button.click()
    assert w.outcome.kind == "running" and len(w.schedule) > k
    w.reset_button.click()
    assert w.schedule == []
    w.schedule_box.value = "0x"
    w.run_button.click()
    assert "schedule" in w.status.value and w.schedule == []
    w.search_button.click()
    assert w.found.found and not w.replay_button.disabled
    while not w.replay_button.disabled:
        w.replay_button.click()
    assert w.schedule == w.found.schedule and w.outcome.kind == "failed"


def test_widget_shows_blocked_threads_and_deadlock():
    w = ExplorerWidget(L.LEVELS["two locks"].program(), title="t")
    result = w.find_bug()
    w.run(result.schedule_string)
    assert w.outcome.kind == "deadlock"
    assert all(b.disabled for b in w.buttons)
    assert "blocked on lock" in w.codes[0].value
    assert "held by thread" in w.state.value


def test_search_table_lists_every_level():
    rows = L.search_table(["letters", "two locks"])
    assert [r["level"] for r in rows] == ["letters", "two locks"]
    assert all(r["bug found"] for r in rows)
