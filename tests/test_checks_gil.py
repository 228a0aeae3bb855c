"""The GIL-lesson checks (exercises 9.1 and 9.2) pass right answers and catch learners' mistakes, every run."""

import threading
import time

import pytest

from threadlab.checks import threads_left
from threadlab.checks.gil import check_add_many, check_cores_used


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch):
    """Wrong answers that hang are judged sooner than in a notebook: the same verdicts, less waiting."""
    import threadlab.checks.gil as checks

    monkeypatch.setattr(checks, "DEADLINE", 1.5)
    monkeypatch.setattr(checks, "TOGETHER", 0.5)
    monkeypatch.setattr(checks, "PATIENCE", 0.1)
    monkeypatch.setattr(checks, "CHAIN", (0.02, 0.04, 0.06, 0.08))


def add_many(box, n, lock):
    for _ in range(n):
        with lock:
            value = box["count"]
            time.sleep(0)
            box["count"] = value + 1


def no_lock(box, n, lock):
    for _ in range(n):
        value = box["count"]
        time.sleep(0)
        box["count"] = value + 1


def lock_around_the_read(box, n, lock):
    for _ in range(n):
        with lock:
            value = box["count"]
        time.sleep(0)
        box["count"] = value + 1


def lock_around_the_write(box, n, lock):
    for _ in range(n):
        value = box["count"]
        time.sleep(0)
        with lock:
            box["count"] = value + 1


def a_new_lock_each_time(box, n, lock):
    for _ in range(n):
        with threading.Lock():
            value = box["count"]
            time.sleep(0)
            box["count"] = value + 1


def never_released(box, n, lock):
    for _ in range(n):
        lock.acquire()
        value = box["count"]
        time.sleep(0)
        box["count"] = value + 1


def released_without_finally(box, n, lock):
    for _ in range(n):
        lock.acquire()
        value = box["count"]
        time.sleep(0)
        box["count"] = value + 1
        lock.release()


def skips_when_busy(box, n, lock):
    for _ in range(n):
        if lock.acquire(blocking=False):
            try:
                value = box["count"]
                time.sleep(0)
                box["count"] = value + 1
            finally:
                lock.release()


def test_add_many_right_answer_passes_and_leaves_no_thread():
    before = set(threading.enumerate())
    assert check_add_many(add_many)
    assert threads_left(before, timeout=2) == []


@pytest.mark.parametrize("answer, says", [
    (no_lock, "lost"),
    (lock_around_the_read, "lost"),
    (lock_around_the_write, "lost"),
    (a_new_lock_each_time, "lost"),
    (never_released, "release"),
    (released_without_finally, "finally"),
    (skips_when_busy, "not skip"),
])
def test_add_many_mistakes_are_caught(answer, says):
    verdict = check_add_many(answer)
    assert verdict.status == "failed" and says in verdict.message, verdict


def cores_used(calls, clock=time.thread_time, in_thread=True, join=True, together=True, per_thread=False):
    barrier = threading.Barrier(len(calls) + 1, timeout=10) if together else None
    cpu = [0.0] * len(calls)

    def run(i):
        if barrier:
            barrier.wait()
        start = clock()
        calls[i]()
        cpu[i] = clock() - start

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    main_start = time.thread_time()
    for t in threads:
        t.start()
        if not together:
            t.join(10)
    wall_start = time.perf_counter()
    if barrier:
        barrier.wait()
    if join:
        for t in threads:
            t.join(10)
    wall = time.perf_counter() - wall_start
    used = sum(cpu) if in_thread else time.thread_time() - main_start
    if not join:
        for t in threads:
            t.join(10)
    return used / wall / (len(calls) if per_thread else 1)


def test_cores_used_right_answer_passes():
    assert check_cores_used(cores_used)


@pytest.mark.parametrize("mistake, says", [
    (dict(clock=time.perf_counter), "thread_time() taken inside that thread"),
    (dict(clock=time.process_time), "process_time"),
    (dict(in_thread=False), "in the main thread"),
    (dict(join=False), "join every thread"),
    (dict(together=False), "same time"),
    (dict(per_thread=True), "not by the number of threads"),
])
def test_cores_used_mistakes_are_caught(mistake, says):
    verdict = check_cores_used(lambda calls: cores_used(calls, **mistake))
    assert verdict.status == "failed" and says in verdict.message, verdict
