"""The checks of lesson 14's exercises (threadlab.checks.debugging): right answers pass, wrong ones are
named. The full set of wrong answers is mutants/lesson14.py (``python3 ci/course.py mutants 14``)."""

import threading

import pytest

from threadlab.checks import threads_left
from threadlab.checks.debugging import check_run_all, check_watchdog


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    assert threads_left(before, timeout=6) == []


def start_watchdog(done, after, dump):
    def watch():
        if not done.wait(after):
            dump()

    watchdog = threading.Thread(target=watch, name="watchdog", daemon=True)
    watchdog.start()
    return watchdog


def inverted_watchdog(done, after, dump):
    def watch():
        if done.wait(after):
            dump()

    watchdog = threading.Thread(target=watch, name="watchdog", daemon=True)
    watchdog.start()
    return watchdog


def looping_watchdog(done, after, dump):
    def watch():
        while not done.wait(after):
            dump()

    watchdog = threading.Thread(target=watch, name="watchdog", daemon=True)
    watchdog.start()
    return watchdog


def test_watchdog_reference_passes():
    verdict = check_watchdog(start_watchdog)
    assert verdict and verdict.status == "passed"


@pytest.mark.parametrize(
    "answer, says",
    [
        (inverted_watchdog, "done was set in time"),
        (looping_watchdog, "once is enough"),
        (lambda done, after, dump: threading.Thread(target=dump, name="watchdog"), "never started"),
        (lambda done, after, dump: None, "return the thread"),
    ],
)
def test_watchdog_mistakes_are_named(answer, says):
    verdict = check_watchdog(answer)
    assert verdict.status == "failed" and says in verdict.message, verdict


def test_watchdog_blank_is_not_attempted():
    def blank(done, after, dump):
        raise NotImplementedError

    assert check_watchdog(blank).status == "not attempted"
    assert check_watchdog(...).status == "not attempted"


def run_all(fn, items):
    results, errors = [None] * len(items), [None] * len(items)

    def work(i, item):
        try:
            results[i] = fn(item)
        except Exception as exc:
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i, item)) for i, item in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def swallowing_run_all(fn, items):
    results = [None] * len(items)

    def work(i, item):
        try:
            results[i] = fn(item)
        except Exception:
            pass

    threads = [threading.Thread(target=work, args=(i, item)) for i, item in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def finish_order_run_all(fn, items):
    results = []
    threads = [threading.Thread(target=lambda item=item: results.append(fn(item))) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def unjoined_run_all(fn, items):
    results = [None] * len(items)
    for i, item in enumerate(items):
        threading.Thread(target=lambda i=i, item=item: results.__setitem__(i, fn(item))).start()
    return results


def test_run_all_reference_passes():
    verdict = check_run_all(run_all)
    assert verdict and verdict.status == "passed"


@pytest.mark.parametrize(
    "answer, says",
    [
        (swallowing_run_all, "vanished"),
        (finish_order_run_all, "in the order the threads finished"),
        (unjoined_run_all, "join every thread"),
    ],
)
def test_run_all_mistakes_are_named(answer, says):
    verdict = check_run_all(answer)
    assert verdict.status == "failed" and says in verdict.message, verdict


def test_run_all_blank_is_not_attempted():
    def blank(fn, items):
        raise NotImplementedError

    assert check_run_all(blank).status == "not attempted"
