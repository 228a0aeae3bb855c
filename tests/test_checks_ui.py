"""Checks of the responsive-UI exercises, and the tools they stand on (a counting Event, a worker blocked
in put, seeing where a thread waits). The full set of wrong answers runs in ``mutants/lesson13.py``."""

import queue
import threading
import time

import pytest

from threadlab.checks import waiting_in
from threadlab.checks.ui import CountingEvent, SlotWorker, check_quit_safely, check_stoppable_sum

pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_waiting_in_sees_a_thread_blocked_in_put_and_not_one_that_only_computes():
    slot = queue.Queue(maxsize=1)
    slot.put(0)
    blocked = threading.Thread(target=slot.put, args=(1,), kwargs={"timeout": 5})
    blocked.start()
    assert waiting_in(blocked, "put", timeout=5)
    assert not waiting_in(blocked, "get", timeout=0.05)
    slot.get()
    blocked.join(5)
    assert not waiting_in(blocked, "put", timeout=0.05)  # ended: False at once

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            try:
                slot.put_nowait(1)  # never waits
            except queue.Full:
                pass

    busy = threading.Thread(target=spin)
    busy.start()
    try:
        assert not waiting_in(busy, "put", timeout=0.2)
    finally:
        stop.set()
        busy.join(5)


def test_counting_event_counts_checks_and_sets_itself():
    event = CountingEvent(set_after=3)
    assert [event.is_set(), event.wait(0), event.is_set()] == [False, False, True]
    assert event.checks == 3 and event.blocking_waits == 0
    event.wait(1)
    assert event.blocking_waits == 1


def test_slot_worker_blocks_until_polled_and_ends_on_the_flag():
    app = SlotWorker().start()
    try:
        assert waiting_in(app.thread, "put", timeout=5)
        assert app.poll() and app.latest == 1
        app.quit_flag.set()
        deadline = time.monotonic() + 5
        while app.thread.is_alive() and time.monotonic() < deadline:
            app.poll()
            app.thread.join(0.01)
        assert not app.thread.is_alive() and app.error is None
        assert all(timeout == 0.01 for timeout, _ in app.thread.joins)
    finally:
        app.end()


def test_a_stuck_slot_worker_ignores_the_flag_until_the_check_ends_it():
    app = SlotWorker(stuck=True).start()
    app.quit_flag.set()
    app.thread.join(0.1)
    assert app.thread.is_alive()
    app.end()
    assert not app.thread.is_alive()


def good_sum(n, stop):
    total = 0
    for i in range(n):
        if stop.is_set():
            return None
        total += i
    return total


def test_check_stoppable_sum(capsys):
    assert check_stoppable_sum(good_sum)
    assert "✔ Exercise 13.1: passed" in capsys.readouterr().out

    def deaf(n, stop):
        return sum(range(n))

    def every_1000(n, stop):
        total = 0
        for i in range(n):
            if i % 1000 == 0 and stop.is_set():
                return None
            total += i
        return total

    def partial(n, stop):
        total = 0
        for i in range(n):
            if stop.is_set():
                break
            total += i
        return total

    def todo(n, stop):
        raise NotImplementedError

    assert "checked 0 time(s)" in check_stoppable_sum(deaf).message
    assert "before every addition" in check_stoppable_sum(every_1000).message
    assert "return None" in check_stoppable_sum(partial).message
    assert check_stoppable_sum(todo).status == "not attempted"


def test_check_stoppable_sum_reports_a_blocking_wait_instead_of_hanging():
    def waits(n, stop):
        total = 0
        for i in range(n):
            if stop.wait():
                return None
            total += i
        return total

    start = time.perf_counter()
    verdict = check_stoppable_sum(waits)
    assert time.perf_counter() - start < 8
    assert verdict.status == "failed" and "use stop.is_set()" in verdict.message


def good_quit(app, timeout):
    app.quit_flag.set()
    deadline = time.monotonic() + timeout
    while app.thread.is_alive() and time.monotonic() < deadline:
        app.poll()
        app.thread.join(0.01)
    return not app.thread.is_alive()


def test_check_quit_safely(capsys):
    assert check_quit_safely(good_quit)
    assert "✔ Exercise 13.2: passed" in capsys.readouterr().out

    def slides_quit(app, timeout):
        app.quit_flag.set()
        app.thread.join(timeout)
        return not app.thread.is_alive()

    def todo(app, timeout):
        raise NotImplementedError

    verdict = check_quit_safely(slides_quit)
    assert verdict.status == "failed" and "in one join()" in verdict.message
    assert check_quit_safely(todo).status == "not attempted"


def test_check_quit_safely_stops_an_answer_with_no_time_limit():
    def forever(app, timeout):
        app.quit_flag.set()
        while app.thread.is_alive():
            app.poll()
            app.thread.join(0.01)
        return True

    verdict = check_quit_safely(forever)
    assert verdict.status == "failed" and "give up when the timeout has passed" in verdict.message
