"""Checks for exercises on sharing work between threads: dynamic taking, static splits (lesson 07).

The checks hand the learner's code jobs of their own, which record which thread did what. The first
job each thread does waits at a ``Barrier`` of all the threads (with a timeout): it passes only if
every thread really got work and they all ran at the same time, so "the threads ran one after
another" and "one thread did everything" are caught by construction, not by timing. Thread switches
between almost any two bytecodes (the race amplifier) make a counter that is not advanced under its
lock hand out the same work twice in every run.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from threadlab.checks import check
from threadlab.checks.watching import StillRunning, ThreadCalls, call_within, describe, thread_errors
from threadlab.labcheck import amplified_races


class _Jobs:
    """Jobs that record (thread, item); each thread's first job waits for all ``threads`` at a Barrier."""

    def __init__(self, threads: int, meet: bool = True):
        self.done: list[tuple[int, object]] = []
        self.first: set[int] = set()
        self.barrier = threading.Barrier(threads, timeout=2) if meet and threads > 1 else None
        self.missed_meeting = False
        self._lock = threading.Lock()

    def __call__(self, item):
        me = threading.get_ident()
        with self._lock:
            self.done.append((me, item))
            first = me not in self.first
            self.first.add(me)
        if first and self.barrier is not None:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                self.missed_meeting = True

    def by_thread(self) -> dict[int, list]:
        result: dict[int, list] = {}
        for ident, item in self.done:
            result.setdefault(ident, []).append(item)
        return result


def _run(fn, args, what: str, calls: ThreadCalls):
    """Call the learner's function under a deadline, recording its threads; a mistake in how threads were
    started or joined is reported before whatever else went wrong."""
    failure = None
    with thread_errors() as errors, calls:
        try:
            result = call_within(lambda: fn(*args), 6, what, "is a thread stuck, or waiting without a timeout?",
                                 calls=calls)
        except (StillRunning, AssertionError, NotImplementedError):
            raise
        except Exception as exc:
            failure, result = f"{what} raised {describe(exc)}", None
    deadline = time.monotonic() + 2  # a wrong answer may leave its threads running: let them end first
    for t in calls.started:
        t.join(max(0.0, deadline - time.monotonic()))
    if failure:
        raise AssertionError(calls.verdict(what=what) or failure)
    if errors:
        raise AssertionError(f"{what}: {errors[0]}")
    return result


def _each_once(done: list, items: list, what: str, hint: str):
    counts = Counter(item for _, item in done)
    twice = [item for item in items if counts[item] > 1]
    never = [item for item in items if counts[item] == 0]
    if twice:
        raise AssertionError(f"{what}: item {twice[0]!r} was done {counts[twice[0]]} times"
                             + (f" ({len(twice)} items more than once)" if len(twice) > 1 else "") + f": {hint}")
    if never:
        raise AssertionError(f"{what}: {len(never)} of {len(items)} items were never done, e.g. {never[:3]}")


# --- Exercise 7.1: take the work in chunks -------------------------------------------------------


def check_take_in_chunks(take_in_chunks):
    """Exercise 7.1: ``take_in_chunks(items, threads, chunk, job)`` calls ``job(item)`` once per item, in
    ``threads`` threads that each take ``chunk`` items at a time from a shared position, under a lock.

    Caught: an item done twice or never (the position read and advanced in two steps, an off-by-one
    at the end), items of one chunk done by several threads (taking one at a time, or a static
    split), jobs run while holding the lock or in the calling thread, threads run one after another,
    never joined, or fewer than asked for.
    """

    def test():
        for n, threads, chunk in [(40, 4, 5), (37, 3, 4), (10, 2, 1), (12, 4, 3)]:
            items = list(range(100, 100 + n))
            what = f"take_in_chunks({n} items, {threads} threads, chunk={chunk})"
            jobs = _Jobs(threads)
            calls = ThreadCalls()
            _run(take_in_chunks, (list(items), threads, chunk, jobs), what, calls)
            mistake = calls.verdict(expected=threads, what=what)
            if mistake:
                raise AssertionError(mistake)
            caller = calls.owner.ident
            if any(ident == caller for ident, _ in jobs.done):
                raise AssertionError(f"{what}: job() ran in the thread that called take_in_chunks: "
                                     "let the threads you start do the jobs")
            _each_once(jobs.done, items, what, "two threads took the same chunk. Read the shared position and move "
                                               "it on in one step, while holding the lock")
            if jobs.missed_meeting:
                raise AssertionError(f"{what}: the threads never ran job() at the same time: does a thread hold the "
                                     "lock while it runs the jobs of its chunk? Take the chunk under the lock, "
                                     "then release it and run the jobs")
            who = {item: ident for ident, item in jobs.done}
            for start in range(0, n, chunk):
                block = items[start:start + chunk]
                if len({who[item] for item in block}) > 1:
                    raise AssertionError(
                        f"{what}: the items {block[0]}..{block[-1]} (positions {start}..{start + len(block) - 1}, one "
                        f"chunk) were done by {len({who[item] for item in block})} different threads: each visit to "
                        f"the lock must take the next {chunk} items at once")
        # the same, with thread switches forced between almost any two bytecodes of the learner's code
        items = list(range(1000, 1200))
        what = "take_in_chunks(200 items, 4 threads, chunk=3), with forced thread switches"
        jobs = _Jobs(4, meet=False)
        with amplified_races():
            _run(take_in_chunks, (list(items), 4, 3, jobs), what, ThreadCalls())
        _each_once(jobs.done, items, what, "two threads read the same position before either moved it on. Read it "
                                           "and move it on in one step, while holding the lock")

    return check("Exercise 7.1", test, timeout=9.5)


# --- Exercise 7.2: a balanced static split -------------------------------------------------------


def sieve_costs(n: int = 10**6) -> dict[int, int]:
    """{p: multiples of p a sieve crosses out, p*p, p*p + p, ... <= n} for the primes p <= sqrt(n)."""
    limit = int(n**0.5)
    primes = [p for p in range(2, limit + 1) if all(p % d for d in range(2, int(p**0.5) + 1))]
    return {p: len(range(p * p, n + 1, p)) for p in primes}


def imbalance(loads) -> float:
    """The busiest load over the mean load (1.0: perfectly balanced)."""
    loads = list(loads)
    mean = sum(loads) / len(loads) if loads else 0
    return max(loads) / mean if mean else 1.0


#: (name, costs, threads) for the balance tests: the sieve's primes, shuffled, and a few uneven jobs
def _balance_cases():
    sieve = sieve_costs()
    shuffled = list(sieve.items())
    random.Random(7).shuffle(shuffled)
    uneven = [(f"job{k}", cost) for k, cost in enumerate([3, 31, 8, 17, 5, 29, 12, 2, 23, 9, 40, 6, 14, 1, 19])]
    return [("the sieve's 168 base primes, n = 10**6", shuffled, 2),
            ("the sieve's 168 base primes, n = 10**6", shuffled, 3),
            ("15 jobs of uneven cost", uneven, 3),
            ("the sieve's 168 base primes, n = 10**6", shuffled, 4)]


def check_balanced_run(run_balanced, limit: float = 1.10):
    """Exercise 7.2: ``run_balanced(tasks, threads)`` with ``tasks`` a list of ``(cost, job)`` pairs: split
    the tasks in advance into one list per thread, so that the threads' total costs are balanced (the
    busiest at most ``limit`` times the mean), then run each list in its own thread and join them.

    Caught: an unbalanced split (equal numbers of tasks, dealt in turn, greedy without sorting the
    biggest first), a task run twice or never, the tasks run in the calling thread, threads run one
    after another (``start(); join()`` in one loop, ``run()`` for ``start()``), never joined.
    """

    def test():
        for name, named_costs, threads in _balance_cases():
            what = f"run_balanced({name}, {threads} threads)"
            jobs = _Jobs(threads)
            tasks = [(cost, (lambda key=key, jobs=jobs: jobs(key))) for key, cost in named_costs]
            calls = ThreadCalls()
            _run(run_balanced, (list(tasks), threads), what, calls)
            mistake = calls.verdict(expected=threads, what=what)
            if mistake:
                raise AssertionError(mistake)
            if any(ident == calls.owner.ident for ident, _ in jobs.done):
                raise AssertionError(f"{what}: a job ran in the thread that called run_balanced: let the threads "
                                     "you start run the jobs")
            _each_once(jobs.done, [key for key, _ in named_costs], what, "give each task to exactly one thread")
            if jobs.missed_meeting:
                raise AssertionError(f"{what}: the threads never all ran at the same time (did every thread get "
                                     "tasks?)")
            cost_of = dict(named_costs)
            loads = [sum(cost_of[key] for key in keys) for keys in jobs.by_thread().values()]
            loads += [0] * (threads - len(loads))
            got = imbalance(loads)
            if got > limit:
                mean = sum(loads) / threads
                raise AssertionError(
                    f"{what}: the busiest thread's tasks cost {got:.2f} times the mean ({max(loads):,} against "
                    f"{mean:,.0f}); aim for at most {limit:.2f}. Hint: equal numbers of tasks are not equal work: "
                    "hand out the biggest task first, each to the thread whose list costs least so far")

    return check("Exercise 7.2", test, timeout=9.5)
