"""Unit tests of threadlab.explorer_widget: the explorer's buttons pressed from code."""

import threading

import pytest

from threadlab.checks import threads_left
from threadlab.explorer import Lock, Program, State
from threadlab.explorer_widget import ExplorerWidget


def append_letter(s, k):
    s.v += k


def left_then_right(s):
    with s.left:
        with s.right:
            s.moved += 1


def right_then_left(s):
    with s.right:
        with s.left:
            s.moved += 1


def both_letters(s):
    """both letters are in v"""
    return sorted(s.v) == ["a", "b"]


LETTERS = Program((append_letter, "a"), (append_letter, "b"), setup=lambda: State(v=""), final=both_letters,
                  name="v += k")
TWO_LOCKS = Program(left_then_right, right_then_left, setup=lambda: State(moved=0, left=Lock(), right=Lock()),
                    name="two locks")


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())  # threads of earlier tests may still be ending: compare sets
    yield
    assert threads_left(before, timeout=5) == []


def test_widget_buttons_pressed_from_code():
    w = ExplorerWidget(LETTERS)
    assert repr(w) == "ExplorerWidget(v += k; 2 threads)"
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
    assert "final check failed" in w.state.value and "schedule so far: " in w.state.value
    w.undo_button.click()
    assert w.outcome.kind == "running" and len(w.schedule) > k
    w.reset_button.click()
    assert w.schedule == [] and "schedule so far: <code>(empty)</code> (0 steps)" in w.state.value
    w.schedule_box.value = "0x"
    w.run_button.click()
    assert "schedule" in w.status.value and w.schedule == []
    w.search_button.click()
    assert w.found.found and not w.replay_button.disabled
    while not w.replay_button.disabled:
        w.replay_button.click()
    assert w.schedule == w.found.schedule and w.outcome.kind == "failed"


def test_the_browser_suites_texts_and_buttons():
    """ci/browser.py (check_explorers) looks for these button labels and this text."""
    w = ExplorerWidget(LETTERS)
    labels = [b.description for b in w.buttons] + [w.reset_button.description, w.search_button.description,
                                                   w.replay_button.description]
    assert labels == ["step thread 0", "step thread 1", "reset", "find a bug for me", "replay the bug: next step"]
    w.step(0)
    assert "schedule so far: <code>0</code> (1 steps)" in w.state.value


def test_widget_shows_blocked_threads_and_deadlock():
    w = ExplorerWidget(TWO_LOCKS, title="t")
    result = w.find_bug()
    w.run(result.schedule_string)
    assert w.outcome.kind == "deadlock"
    assert all(b.disabled for b in w.buttons)
    assert "blocked on lock" in w.codes[0].value
    assert "held by thread" in w.state.value


def starts_two(s):
    from threadlab.explorer import Thread

    def work(k):
        with s.lock:
            s.v += k

    def fail():
        raise OSError("unreachable")

    workers = [Thread(target=work, args=("a",), name="wa"), Thread(target=fail, name="wf")]
    for t in workers:
        t.start()
    for t in workers:
        t.join()


def test_threads_started_during_a_run_get_a_column_and_lose_it_on_undo():
    w = ExplorerWidget(Program(starts_two, setup=lambda: State(v="", lock=Lock()), mode="sync", name="starts two"))
    assert len(w.columns.children) == 1
    w.step(0)  # the first start(): thread 1 appears, parked before anything
    assert len(w.columns.children) == 2 and not w.buttons[1].disabled
    assert "thread 1 (wa, started by thread 0)" in w.codes[1].value and "runs nothing until" in w.codes[1].value
    w.run_to_end(0)
    assert len(w.columns.children) == 3 and w.snapshot.threads[0].status == "blocked"
    w.buttons[2].click()  # thread 2 raises: recorded, the run goes on
    assert "OSError: unreachable" in w.codes[2].value and "thread 2 raised OSError" in w.state.value
    assert w.outcome.kind == "running"
    w.run(w.schedule_string, finish=True)
    assert w.outcome.kind == "completed" and w.snapshot.shared["v"] == "'a'"
    w.reset()
    assert len(w.columns.children) == 1 and w.schedule == []
