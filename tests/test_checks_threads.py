"""The thread exercise checks (threadlab.checks.threads): right answers pass, the usual wrong ones fail
with a message that says what went wrong. The full set of wrong answers is the mutation suite
(mutants/lesson01.py, mutants/lesson03.py, run by `python3 ci/course.py mutants`)."""

import threading
import time

import pytest

from threadlab.checks.threads import (
    TracingLock,
    check_collect_errors,
    check_fetch_all,
    check_prime_checker,
    check_run_on_threads,
    check_wait_all,
)

pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def fetch_all(task, args):
    results = [None] * len(args)

    def run(i, a):
        results[i] = task(a)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def test_fetch_all_right_answer_passes():
    assert check_fetch_all(fetch_all, timeout=9)


def test_fetch_all_in_the_callers_thread_is_caught():
    def sequential(task, args):
        return [task(a) for a in args]

    verdict = check_fetch_all(sequential)
    assert verdict.status == "failed" and "in the thread that called it" in verdict.message


def test_fetch_all_results_in_finish_order_and_missing_join_are_caught():
    def appended(task, args):
        results = []
        threads = [threading.Thread(target=lambda a=a: results.append(task(a))) for a in args]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        return results

    assert "order in which the threads finished" in check_fetch_all(appended).message

    def no_join(task, args):
        results = [None] * len(args)

        def run(i, a):
            results[i] = task(a)

        for i, a in enumerate(args):
            threading.Thread(target=run, args=(i, a)).start()
        return results

    assert "join() every thread" in check_fetch_all(no_join).message


def test_fetch_all_not_attempted():
    def todo(task, args):
        raise NotImplementedError

    assert check_fetch_all(todo).status == "not attempted"


def run_on_threads(task, args, n):
    results = [None] * len(args)

    def worker(i):
        for k in range(i, len(args), n):
            results[k] = task(args[k])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(min(n, len(args)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_run_on_threads_right_answer_passes_and_a_thread_per_task_fails():
    assert check_run_on_threads(run_on_threads)

    def thread_per_task(task, args, n):
        return fetch_all(task, args)

    verdict = check_run_on_threads(thread_per_task)
    assert verdict.status == "failed" and "a pool of n threads uses 3" in verdict.message


def wait_all(threads, timeout):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def test_wait_all_right_answer_passes_and_a_timeout_per_thread_fails():
    assert check_wait_all(wait_all)

    def each(threads, timeout):
        for t in threads:
            t.join(timeout)
        return [t for t in threads if t.is_alive()]

    verdict = check_wait_all(each)
    assert verdict.status == "failed" and "one deadline" in verdict.message


class PrimeChecker(threading.Thread):
    def __init__(self, number, results, lock):
        super().__init__()
        self.number, self.results, self.lock = number, results, lock

    def run(self):
        n = self.number
        is_prime = n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))
        with self.lock:
            self.results[n] = is_prime


def test_prime_checker_right_answer_passes():
    assert check_prime_checker(PrimeChecker)


def test_prime_checker_catches_the_tutorials_square_bug_and_a_missing_lock():
    class Tutorial(PrimeChecker):
        def run(self):
            n, d, is_prime = self.number, 2, self.number > 1
            while d * d < n:  # python-course.eu's loop: 25 comes out prime
                if n % d == 0:
                    is_prime = False
                d += 1
            with self.lock:
                self.results[n] = is_prime

    assert "square root" in check_prime_checker(Tutorial).message

    class NoLock(PrimeChecker):
        def run(self):
            self.results[self.number] = self.number in (2, 3, 97, 7919)

    assert "without holding the lock" in check_prime_checker(NoLock).message
    assert not check_prime_checker(object)


def test_tracing_lock_knows_its_owner():
    lock = TracingLock()
    assert not lock.held_by_me()
    with lock:
        assert lock.held_by_me() and lock.locked()
        seen = []
        t = threading.Thread(target=lambda: seen.append(lock.held_by_me()))
        t.start()
        t.join(5)
        assert seen == [False]
    assert not lock.locked() and lock.acquired == 1


def collect_errors(functions):
    names, names_lock = [], threading.Lock()

    def hook(args):
        with names_lock:
            names.append(args.exc_type.__name__)

    old, threading.excepthook = threading.excepthook, hook
    try:
        threads = [threading.Thread(target=f) for f in functions]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    finally:
        threading.excepthook = old
    return names


def test_collect_errors_right_answer_passes_and_the_hook_is_left_as_it_was():
    hook = threading.excepthook
    assert check_collect_errors(collect_errors)
    assert threading.excepthook is hook


def test_collect_errors_without_finally_is_caught():
    def no_finally(functions):
        names = []
        old, threading.excepthook = threading.excepthook, lambda args: names.append(args.exc_type.__name__)
        threads = [threading.Thread(target=f) for f in functions]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        threading.excepthook = old
        return names

    hook = threading.excepthook
    verdict = check_collect_errors(no_finally)
    assert verdict.status == "failed" and "finally" in verdict.message
    assert threading.excepthook is hook  # the check put the hook back itself
