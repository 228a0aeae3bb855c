"""Unit tests of threadlab.lessons.lesson13: the Fibonacci app driven by its buttons, the slides' deadlock."""

import queue
import time

import pytest

from threadlab.lessons import lesson13
from threadlab.lessons.lesson13 import FibonacciApp, SlidesFib, describe, digit_count, fibonacci

pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_fibonacci():
    assert [fibonacci(n) for n in range(12)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    with pytest.raises(ValueError):
        fibonacci(-1)


@pytest.mark.parametrize("value", [0, 7, 9, 10, 99, 100, 10**20 - 1, 10**20, 3**1000, -12345])
def test_digit_count_matches_str(value):
    assert digit_count(value) == len(str(abs(value)))


def test_describe_never_calls_str_on_huge_values():
    big = fibonacci(50_000)  # 10450 digits: str() would raise ValueError on 3.11+
    text = describe(big)
    assert text.endswith("(10450 digits)")
    assert text.startswith("10777734…")
    assert describe(832040) == "832040 (6 digits)"


def test_start_button_runs_to_completion():
    app = FibonacciApp(n=20_000)
    app.start_button.click()
    assert app.wait(timeout=30)
    assert app.state == "done" and app.result == fibonacci(20_000)
    assert app.progress.value == 1.0 and app.progress.bar_style == "success"
    assert app.label_text.startswith("F(20,000) = ")
    assert not app.start_button.disabled and app.stop_button.disabled
    assert app.messages.outputs[-1]["text"].startswith("run 1: done after 20,000 steps")


def test_stop_button_stops_promptly():
    app = FibonacciApp(n=lesson13.MAX_N)
    app.start_button.click()
    assert app.wait_for_steps(1000, timeout=10)
    assert app.stop_button.disabled is False
    app.stop_button.click()
    assert app.wait(timeout=5)
    assert app.state == "stopped" and app.result is None
    assert app.stop_latency is not None and app.stop_latency < 1.0
    assert app.label_text.startswith("stopped at step")


def test_second_start_while_running_is_refused():
    app = FibonacciApp(n=lesson13.MAX_N)
    assert app.start()
    try:
        assert not app.start()
        assert app.runs == 1
        assert "already running" in app.messages.outputs[-1]["text"]
    finally:
        assert app.shutdown(timeout=5)


@pytest.mark.parametrize("n", [-1, lesson13.MAX_N + 1])
def test_illegal_n_is_reported_and_starts_nothing(n):
    app = FibonacciApp(n=n)
    app.start_button.click()
    assert app.state == "invalid" and app.worker is None
    assert "must be between 0 and" in app.label_text


def test_errors_in_the_worker_are_shown(monkeypatch):
    app = FibonacciApp(n=10)
    monkeypatch.setattr(app, "update_interval", "not a number")  # makes the worker's comparison fail
    app.start_button.click()
    assert app.wait(timeout=5)
    assert app.state == "error" and isinstance(app.error, TypeError)
    assert "TypeError" in app.label_text


def test_repr_is_stable():
    assert repr(FibonacciApp(n=5, title="x")) == repr(FibonacciApp(n=7, title="x"))


def test_every_step_updates():
    app = lesson13.time_updates(300, update_interval=0)
    assert app.updates == 300 and app.result == fibonacci(300)


def test_slides_deadlock_is_detected_and_released():
    app = SlidesFib(blocking_put=True).start()
    assert app.run_gui(0.05) > 0
    assert app.worker_waits_for_gui(timeout=5)
    assert not app.quit_buggy(timeout=0.3)
    assert app.thread.is_alive()
    assert app.release(timeout=5)


def test_slides_non_blocking_put_quits():
    app = SlidesFib(blocking_put=False).start()
    app.run_gui(0.05)
    assert not app.worker_waits_for_gui(timeout=0.2)
    assert app.quit_buggy(timeout=5)
    assert app.dropped > 0


def test_slides_quit_fixed_with_blocking_put():
    app = SlidesFib(blocking_put=True).start()
    assert app.worker_waits_for_gui(timeout=5)
    assert app.quit_fixed(timeout=5)


def test_slides_worker_finishes_small_n():
    app = SlidesFib(blocking_put=True, n=5).start()
    deadline = time.monotonic() + 5
    seen = []
    while app.thread.is_alive() and time.monotonic() < deadline:
        if app.poll():
            seen.append(app.latest)
    while app.poll():
        seen.append(app.latest)
    assert seen == [1, 2, 3, 4, 5]
    with pytest.raises(queue.Empty):
        app.slot.get_nowait()


def _good_sum(n, stop):
    total = 0
    for i in range(n):
        if stop.is_set():
            return None
        total += i
    return total


def _deaf_sum(n, stop):
    return sum(range(min(n, 10**9)))


def test_check_stoppable_sum():
    assert lesson13.check_stoppable_sum(_good_sum)
    assert not lesson13.check_stoppable_sum(lambda n, stop: sum(range(n)) if n < 10**6 else None)


def test_check_quit_safely():
    def good(app, timeout):
        app.quit_flag.set()
        deadline = time.monotonic() + timeout
        while app.thread.is_alive() and time.monotonic() < deadline:
            app.poll()
            app.thread.join(0.01)
        return not app.thread.is_alive()

    def buggy(app, timeout):
        return app.quit_buggy(0.2)

    assert lesson13.check_quit_safely(good)
    verdict = lesson13.check_quit_safely(buggy)
    assert not verdict and "blocked in put()" in verdict.message
