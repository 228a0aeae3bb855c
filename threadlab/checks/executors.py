"""Checks for the exercises on executors and futures (``concurrent.futures``).

The checks hand the answer an executor and a task function of their own, and watch what the answer
does with them: whether the tasks ran on the executor or in the answer's own thread, how many were
submitted, and whether they were in flight at the same time. The first two tasks wait for each other
at a Barrier: an answer that submits every task before waiting for any result lets them meet at once;
one that waits for each result before submitting the next keeps them apart, and the Barrier's time
limit says so, every time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from threadlab.checks import check, expect_equal
from threadlab.checks.processes import run_answer
from threadlab.workers import count_primes

TOGETHER = 3.0  #: seconds the first two tasks wait for each other (they meet in microseconds when in flight)


class Meeting:
    """The first two calls of :meth:`arrive` wait for each other; ``met`` says whether they met."""

    def __init__(self, timeout: float | None = None):
        self._barrier = threading.Barrier(2, timeout=TOGETHER if timeout is None else timeout)
        self._lock = threading.Lock()
        self._tickets = 0
        self.met: bool | None = None  #: None until two tasks have arrived (or the first gave up)

    def arrive(self) -> None:
        with self._lock:
            self._tickets += 1
            ticket = self._tickets
        if ticket > 2:
            return
        try:
            self._barrier.wait()
            self.met = True
        except threading.BrokenBarrierError:
            self.met = False


ONE_AT_A_TIME = ("the tasks ran one at a time: submit every call first, then wait for the results (a result() "
                 "right after each submit() waits for that task before the next one is even submitted)")


# --- Exercise: every result, every error ------------------------------------------------------------


def check_collect(collect, name: str = "Exercise 11.1") -> object:
    """``collect(executor, fn, args)`` -> (results, errors): dicts keyed by argument.

    The task function squares positive numbers, raises ValueError for negative ones and
    ZeroDivisionError for 0; the first two calls must be in flight together.
    """
    args = [3, -1, 0, 2, 5]

    def test():
        meeting = Meeting()
        threads = set()

        def task(x):
            threads.add(threading.current_thread())
            meeting.arrive()
            if x < 0:
                raise ValueError(f"no square root of {x}")
            if x == 0:
                raise ZeroDivisionError("0 has no inverse")
            return x * x

        with ThreadPoolExecutor(4, thread_name_prefix="check-pool") as pool:
            answer, error = run_answer(collect, (pool, task, args), limit=8.0)
        if isinstance(error, (ValueError, ZeroDivisionError)):
            raise AssertionError(f"the {type(error).__name__} raised by one task escaped from your function: "
                                 "future.result() raises the task's exception again (and executor.map stops at "
                                 "the first one). Catch it around result() (except Exception), or ask "
                                 "future.exception() first") from None
        if error is not None:
            raise error
        if any(not t.name.startswith("check-pool") for t in threads):
            raise AssertionError("fn ran in your own thread, not on the executor: executor.submit(fn, arg) runs it "
                                 "there and gives you a future")
        if meeting.met is False:
            raise AssertionError(ONE_AT_A_TIME)
        if not (isinstance(answer, tuple) and len(answer) == 2 and all(isinstance(d, dict) for d in answer)):
            raise AssertionError(f"return a pair of dicts (results, errors), got {answer!r:.80}")
        results, errors = answer
        expect_equal(results, {3: 9, 2: 4, 5: 25}, "results (argument: value)")
        expect_equal(sorted(errors), [-1, 0], "the arguments whose call raised (the keys of errors)")
        for arg, kind in ((-1, ValueError), (0, ZeroDivisionError)):
            if not isinstance(errors[arg], kind):
                raise AssertionError(f"errors[{arg}] should be the {kind.__name__} the call raised (future.exception() "
                                     f"returns it), got {errors[arg]!r:.80}")

    return check(name, test, timeout=9.5)


# --- Exercise: prime counting on any executor ---------------------------------------------------------


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that runs a counting twin of ``count_primes``: it records each (lo, hi) it gets,
    and its first two calls wait for each other (see :class:`Meeting`)."""

    def __init__(self, workers: int = 2):
        super().__init__(workers, thread_name_prefix="check-pool")
        self.pieces: list[tuple[int, int]] = []
        self.meeting = Meeting()

    def _twin(self, fn):
        if fn is not count_primes:
            return fn

        def counting(bounds):
            self.pieces.append(tuple(bounds))
            self.meeting.arrive()
            return count_primes(bounds)

        return counting

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(self._twin(fn), *args, **kwargs)


def _pieces_problem(pieces: list[tuple[int, int]], n: int, chunks: int) -> str:
    """What is wrong with how ``pieces`` split range(0, n) into ``chunks`` (empty if nothing)."""
    if len(pieces) != chunks:
        return f"{chunks} chunks should make {chunks} count_primes tasks, your function submitted {len(pieces)}"
    ordered = sorted(pieces)
    for (lo1, hi1), (lo2, _) in zip(ordered, ordered[1:]):
        if hi1 != lo2:
            gap = "overlap" if hi1 > lo2 else "leave a gap"
            return f"the pieces ({lo1}, {hi1}) and ({lo2}, ...) {gap}: each hi must be the next piece's lo"
    if ordered[0][0] != 0 or ordered[-1][1] != n:
        return f"the pieces cover {ordered[0][0]}..{ordered[-1][1]}, not 0..{n}"
    sizes = [hi - lo for lo, hi in ordered]
    if max(sizes) > 1.5 * -(-n // chunks):
        return f"the pieces are far from equal (sizes {min(sizes)} to {max(sizes)}): split n into nearly equal parts"
    return ""


def check_parallel_primes(count_primes_on, name: str = "Exercise 11.2") -> object:
    """``count_primes_on(executor, n, chunks)``: the primes below n, one ``count_primes`` task per chunk."""

    def test():
        for n, chunks, expected in ((10_000, 4, 1229), (1_000, 7, 168)):
            call = f"count_primes_on(executor, {n}, {chunks})"
            with CountingExecutor(2) as pool:
                got, error = run_answer(count_primes_on, (pool, n, chunks), limit=8.0)
            if error is not None:
                raise error
            if not pool.pieces:
                raise AssertionError(f"{call} submitted no count_primes task to the executor it was given: use that "
                                     "executor (not a loop of your own, nor a pool of your own)")
            problem = _pieces_problem(pool.pieces, n, chunks)
            if problem:
                raise AssertionError(f"{call}: {problem}")
            if pool.meeting.met is False:
                raise AssertionError(ONE_AT_A_TIME)
            expect_equal(got, expected, call)
        with ProcessPoolExecutor(2) as pool:  # the same function, on processes
            got, error = run_answer(count_primes_on, (pool, 100_000, 8), limit=8.0)
        if error is not None:
            raise error
        expect_equal(got, 9592, "count_primes_on(a process pool, 100_000, 8)")

    return check(name, test, timeout=9.5)
