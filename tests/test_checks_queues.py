"""The queue checks (exercises 8.1 and 8.2) pass right answers and catch the mistakes learners make.

Each wrong answer is the right one with one realistic mistake; the check must fail it, every run,
with a message that says what went wrong. (mutants/lesson08.py runs the same kind of mistakes
through the lesson's own solution cells.)
"""

import queue
import threading
import time

import pytest

from threadlab.checks import threads_left
from threadlab.checks.queues import STOP, check_pool_map, check_robust_worker


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch):
    """Wrong answers that hang are judged after 1.5 s instead of the check's 3 s: the same verdicts, sooner."""
    import threadlab.checks.queues as checks

    monkeypatch.setattr(checks, "DEADLINE", 1.5)
    monkeypatch.setattr(checks, "MEET", 0.5)


def take(jobs):
    """jobs.get(), or STOP after 10 s: a wrong pool's forgotten worker ends quietly instead of raising Empty."""
    try:
        return jobs.get(timeout=10)
    except queue.Empty:
        return STOP


def pool_map(fn, items, workers, *, start_join_together=False, sentinels=None, join=True, order=True,
             empty_loop=False, call_target=False):
    jobs = queue.Queue()
    results = [None] * len(items) if order else []

    def work():
        if empty_loop:
            while not jobs.empty():
                if (job := take(jobs)) is STOP:
                    return
                index, item = job
                results[index] = fn(item)
            return
        while (job := take(jobs)) is not STOP:
            index, item = job
            if order:
                results[index] = fn(item)
            else:
                results.append(fn(item))

    threads = [threading.Thread(target=work() if call_target else work) for _ in range(workers)]
    if empty_loop or start_join_together:
        for job in enumerate(items):
            jobs.put(job)
        for _ in range(workers if start_join_together else 0):
            jobs.put(STOP)
    for t in threads:
        t.start()
        if start_join_together:
            t.join(10)
    if not (empty_loop or start_join_together):
        for job in enumerate(items):
            jobs.put(job)
        for _ in range(workers if sentinels is None else sentinels):
            jobs.put(STOP)
    if join:
        for t in threads:
            t.join(10)
    return results


def test_pool_map_right_answer_passes_and_leaves_no_thread():
    before = set(threading.enumerate())
    assert check_pool_map(pool_map)
    assert threads_left(before, timeout=2) == []


@pytest.mark.parametrize("mistake, says", [
    (dict(start_join_together=True), "at a time"),
    (dict(empty_loop=True), "empty()"),
    (dict(sentinels=1), "one STOP per worker"),
    (dict(join=False), "join"),
    (dict(order=False), "order"),
])
def test_pool_map_mistakes_are_caught(mistake, says):
    verdict = check_pool_map(lambda fn, items, workers: pool_map(fn, items, workers, **mistake))
    assert verdict.status == "failed" and says in verdict.message, verdict
    own, _, schedule = verdict.message.partition("\n\nThe schedule explorer shows it with your code, step by step. ")
    assert len(own) < 600 and len(schedule) < 2500  # the check's own message, then the explorer's table
    if "start_join_together" not in mistake:  # (one at a time is not a schedule: nothing to show)
        assert "steps  thread" in schedule and " at 0x" not in schedule, verdict.message


def test_pool_map_that_calls_the_worker_instead_of_passing_it_is_told_so():
    verdict = check_pool_map(lambda fn, items, workers: pool_map(fn, items, workers, call_target=True))
    assert verdict.status == "failed" and "target=work" in verdict.message, verdict


def test_pool_map_that_joins_before_putting_jobs_is_told_so():
    def joins_first(fn, items, workers):
        jobs, results = queue.Queue(), [None] * len(items)

        def work():
            while (job := take(jobs)) is not STOP:
                results[job[0]] = fn(job[1])

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        for job in enumerate(items):
            jobs.put(job)
        return results

    verdict = check_pool_map(joins_first)
    assert verdict.status == "failed" and "only then join" in verdict.message, verdict


def test_other_right_answers_pass():
    def waits_by_polling(fn, items, workers):
        jobs, results = queue.Queue(), [None] * len(items)

        def work():
            while (job := take(jobs)) is not STOP:
                results[job[0]] = fn(job[1])

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for job in enumerate(items):
            jobs.put(job)
        for _ in threads:
            jobs.put(STOP)
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(0.01)
        return results

    def results_on_a_queue(fn, items, workers):
        jobs, done = queue.Queue(), queue.Queue()

        def work():
            while (job := take(jobs)) is not STOP:
                done.put((job[0], fn(job[1])))

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        for job in enumerate(items):
            jobs.put(job)
        for _ in threads:
            jobs.put(STOP)
        results = dict(done.get(timeout=10) for _ in items)
        for t in threads:
            t.join(10)
        return [results[i] for i in range(len(items))]

    assert check_pool_map(waits_by_polling)
    assert check_pool_map(results_on_a_queue)


def test_pool_map_sequential_or_placeholder():
    assert not check_pool_map(lambda fn, items, workers: [fn(x) for x in items])

    def blank(fn, items, workers):
        raise NotImplementedError

    assert check_pool_map(blank).status == "not attempted"


def robust_worker(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        try:
            handle(item)
        except Exception as exc:
            errors.append(exc)
        finally:
            q.task_done()


def test_robust_worker_right_answer_passes():
    before = set(threading.enumerate())
    assert check_robust_worker(robust_worker)
    assert threads_left(before, timeout=2) == []


def no_finally(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        try:
            handle(item)
            q.task_done()
        except Exception as exc:
            errors.append(exc)


def done_twice(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        try:
            handle(item)
        except Exception as exc:
            errors.append(exc)
            q.task_done()
        finally:
            q.task_done()


def done_first(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        q.task_done()
        try:
            handle(item)
        except Exception as exc:
            errors.append(exc)


def only_value_errors(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        try:
            handle(item)
        except ValueError as exc:
            errors.append(exc)
        finally:
            q.task_done()


def gives_up(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        try:
            handle(item)
        except Exception as exc:
            errors.append(exc)
            return
        finally:
            q.task_done()


def no_stop(q, handle, errors):
    while True:
        item = q.get(timeout=10)
        try:
            handle(item)
        except Exception as exc:
            errors.append(exc)
        finally:
            q.task_done()


def keeps_the_item(q, handle, errors):
    while (item := q.get(timeout=10)) is not STOP:
        try:
            handle(item)
        except Exception:
            errors.append(item)
        finally:
            q.task_done()


@pytest.mark.parametrize("worker, says", [
    (no_finally, "finally"),
    (done_twice, "twice"),
    (done_first, "before the item was handled"),
    (only_value_errors, "crashed with KeyError"),
    (gives_up, "before it took a STOP"),
    (no_stop, "did not stop at STOP"),
    (keeps_the_item, "exception object"),
])
def test_robust_worker_mistakes_are_caught(worker, says):
    verdict = check_robust_worker(worker)
    assert verdict.status == "failed" and says in verdict.message, verdict
