"""Unit tests for threadlab.lessons.lesson03 (threads). Loose bounds: a busy 2-core machine."""

import math
import sys
import threading

import pytest

from threadlab.lessons import lesson03


def test_heron_matches_sqrt():
    for a in (2, 99, 999, 1733, 17334):
        assert math.isclose(lesson03.heron(a), math.sqrt(a), rel_tol=1e-9)


def test_seed_counter_busy_wait_goes_on_too_early_but_cleans_up():
    runs = [lesson03.seed_heron_counter() for _ in range(5)]
    assert any(r["finished_when_main_went_on"] < r["threads"] for r in runs)
    assert all(r["finished_in_the_end"] == r["threads"] for r in runs)


def test_seed_flag_fails_when_threads_start_late():
    late = lesson03.seed_heron_flag(late_start=0.2)
    assert late["finished_when_main_went_on"] < late["threads"] == late["finished_in_the_end"]


def test_low_level_done_locks_wait_for_all():
    results = lesson03.heron_low_level((4, 9, 16))
    assert {a: round(r, 6) for a, r in results.items()} == {4: 2.0, 9: 3.0, 16: 4.0}


def test_lock_does_not_stop_other_threads():
    held = lesson03.lock_does_not_stop_others(hold=0.1)
    assert held["counted_while_held"] > 0
    assert held["insider_waited"] and held["insider_got_lock_after_release"]


def test_old_names():
    report = lesson03.old_names_report()
    assert report["threading.Thread.isAlive"] == "removed"
    assert report["sys.setcheckinterval"] == "removed"
    assert set(report.values()) <= {"deprecated", "removed"}


@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux only")
def test_python_threads_are_os_threads():
    gate = threading.Event()
    t = threading.Thread(target=gate.wait, args=(5,))
    t.start()
    try:
        assert {x.native_id for x in threading.enumerate()} <= lesson03.os_thread_ids()
        assert str(t.native_id) in lesson03.ps_threads(threading.main_thread().native_id)
    finally:
        gate.set()
        t.join(5)


def test_busy_wait_burns_cpu_join_does_not():
    busy = lesson03.wait_for_workers("busy", seconds=0.3)
    joined = lesson03.wait_for_workers("join", seconds=0.3)
    assert busy["left"] == joined["left"] == 0
    assert busy["waiting_thread_cpu"] > 10 * joined["waiting_thread_cpu"]
    with pytest.raises(ValueError):
        lesson03.wait_for_workers("poll")


def test_exit_rules():
    non_daemon = lesson03.run_exit_script("non-daemon")
    assert non_daemon["lines"][-2:] == ["worker: finished", "worker: cleanup"]
    for kind in ("daemon", "_thread"):
        assert lesson03.run_exit_script(kind)["lines"] == ["worker: started", "main: end of script"]
    with pytest.raises(ValueError):
        lesson03.run_exit_script("zombie")


def test_check_run_sleepers():
    def right(n, seconds):
        log = []
        ts = [threading.Thread(target=lesson03.sleeper, args=(i, seconds, log)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
        return log

    def no_join(n, seconds):
        log = []
        for i in range(n):
            threading.Thread(target=lesson03.sleeper, args=(i, seconds, log)).start()
        return log

    assert lesson03.check_run_sleepers(right)
    assert not lesson03.check_run_sleepers(no_join)
    for t in threading.enumerate():  # let the unjoined sleepers end
        if t is not threading.current_thread() and not t.daemon:
            t.join(5)


def test_check_prime_checker():
    class Right(threading.Thread):
        def __init__(self, number, results, lock):
            super().__init__()
            self.number, self.results, self.lock = number, results, lock

        def run(self):
            n = self.number
            with self.lock:
                self.results[n] = n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))

    class Eager(Right):  # works in the constructor: wrong
        def __init__(self, number, results, lock):
            super().__init__(number, results, lock)
            self.run()

    class Todo(threading.Thread):
        def __init__(self, number, results, lock):
            raise NotImplementedError

    assert lesson03.check_prime_checker(Right)
    assert not lesson03.check_prime_checker(Eager)
    assert lesson03.check_prime_checker(Todo).status == "not attempted"
    assert not lesson03.check_prime_checker(object)


def test_check_collect_errors():
    def right(functions):
        names = []
        old, threading.excepthook = threading.excepthook, lambda a: names.append(a.exc_type.__name__)
        try:
            ts = [threading.Thread(target=f) for f in functions]
            for t in ts:
                t.start()
            for t in ts:
                t.join(10)
        finally:
            threading.excepthook = old
        return names

    def leaves_hook(functions):
        threading.excepthook = lambda a: None
        return right(functions)

    hook = threading.excepthook
    assert lesson03.check_collect_errors(right)
    assert not lesson03.check_collect_errors(leaves_hook)
    assert threading.excepthook is hook
