"""Lesson 11: concurrent.futures, and the same code on a Dask cluster.

Task functions live here (not in the notebook) so that process pools and Dask workers, which
run in other processes, can import them by name.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Executor, as_completed

from threadlab.checks import check, expect_equal
from threadlab.workers import count_primes, noop

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"  #: set it to e.g. tcp://10.0.0.5:8786 to use a real cluster


def slow_square(x: int, delay: float = 0.05) -> int:
    """A task that takes ``delay`` seconds and returns x*x."""
    time.sleep(delay)
    return x * x


def slow_square_rev(x: int) -> int:
    """Like slow_square, but small x take longest: completion order is the reverse of submission."""
    time.sleep(0.04 * (5 - x))
    return x * x


def fail_on_three(x: int) -> int:
    """Returns x*x, except for 3, which raises ValueError (in whatever worker runs it)."""
    if x == 3:
        raise ValueError(f"cannot square {x}: three is unlucky")
    return x * x


def run_with(executor: Executor, fn, args) -> dict:
    """The code this lesson runs unchanged on threads, processes and Dask.

    Submits ``fn(arg)`` for every arg, collects results in submission order and notes the
    order in which the tasks completed.
    """
    futures = {executor.submit(fn, arg): arg for arg in args}
    completed = [futures[f] for f in as_completed(futures, timeout=60)]
    return {"results": [f.result() for f in futures], "completed": completed}


def wait_until(predicate, timeout: float = 5.0, step: float = 0.005) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def per_task_overhead(executor: Executor, tasks: int = 100, rounds: int = 5) -> float:
    """Seconds per tiny task: submit ``tasks`` no-op calls, wait for all, divide; best of ``rounds``.

    The best round is the cost itself; slower rounds measured the rest of the machine too (one
    round on a busy CI machine made threads look slower than processes).
    """
    executor.submit(noop).result(timeout=30)  # warm up: workers started, function shipped
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        futures = [executor.submit(noop, i) for i in range(tasks)]
        for f in futures:
            f.result(timeout=60)
        best = min(best, (time.perf_counter() - start) / tasks)
    return best


def start_dask(n_workers: int = 2):
    """A Dask client: on the scheduler named by $DASK_SCHEDULER_ADDRESS, else on a new local cluster.

    The local cluster has ``n_workers`` worker processes with one thread each, on 127.0.0.1, with
    logs kept quiet. Its dashboard (which needs the ``bokeh`` package) is served on a free port
    when bokeh is installed. Returns (client, cluster); cluster is None for a remote scheduler,
    which this code must not shut down.
    """
    from importlib.util import find_spec

    from distributed import Client, LocalCluster

    address = os.environ.get(SCHEDULER_ENV)
    if address:
        return Client(address, timeout=10), None
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0" if find_spec("bokeh") else None,
        silence_logs=logging.CRITICAL,
    )
    return Client(cluster), cluster


def dashboard(client) -> str:
    """The dashboard's address, or why there is none (it needs the bokeh package)."""
    from importlib.util import find_spec

    if find_spec("bokeh") is None and not os.environ.get(SCHEDULER_ENV):
        return "not served: the dashboard needs `pip install bokeh`"
    return client.dashboard_link


def stop_dask(client, cluster) -> None:
    """Close the client, and the cluster if this notebook started it."""
    client.close(timeout=10)
    if cluster is not None:
        cluster.close(timeout=10)


HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def children_left(timeout: float = 10.0) -> list[str]:
    """Command lines of child processes still alive after up to ``timeout`` seconds.

    multiprocessing's own helper processes (the resource tracker, the forkserver) are left out:
    they serve the whole session and end with it.
    """
    import psutil

    def left():
        found = []
        for child in psutil.Process().children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
            except psutil.Error:  # ended meanwhile
                continue
            if not any(helper in cmd for helper in HELPERS):
                found.append(cmd)
        return found

    wait_until(lambda: not left(), timeout, 0.05)
    return left()


# --- exercises ------------------------------------------------------------------------------------


def check_collect(fn) -> bool:
    """Exercise 11.1: ``fn(executor, func, args)`` -> (results dict, errors dict) keyed by arg."""
    from concurrent.futures import ThreadPoolExecutor

    def test():
        with ThreadPoolExecutor(4) as pool:
            got = fn(pool, fail_on_three, range(6))
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError(f"expected a pair (results, errors), got {got!r}")
        results, errors = got
        expect_equal(results, {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}, "results")
        expect_equal(sorted(errors), [3], "arguments that failed")
        expect_equal(type(errors[3]), ValueError, "type of the error for 3")

    return check("Exercise 11.1 (collect results and errors)", test)


def check_parallel_primes(fn) -> bool:
    """Exercise 11.2: ``fn(executor, n, chunks)`` counts primes below n with ``chunks`` tasks."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    calls = []

    def counting(bounds):
        calls.append(bounds)
        return count_primes(bounds)

    class Spy(ThreadPoolExecutor):
        """Counts the tasks: a thread pool that replaces count_primes by a counting twin."""

        def submit(self, f, *args, **kwargs):
            return super().submit(counting if f is count_primes else f, *args, **kwargs)

        def map(self, f, *iterables, **kwargs):
            return super().map(counting if f is count_primes else f, *iterables, **kwargs)

    def test():
        with Spy(2) as pool:
            expect_equal(fn(pool, 10_000, 4), 1229, "primes below 10 000 with 4 chunks")
        expect_equal(len(calls), 4, "number of count_primes tasks for 4 chunks")
        with ThreadPoolExecutor(2) as pool:
            expect_equal(fn(pool, 100, 3), 25, "primes below 100 with 3 chunks")
        with ProcessPoolExecutor(2) as pool:
            expect_equal(fn(pool, 100_000, 8), 9592, "primes below 100 000 on processes")

    return check("Exercise 11.2 (prime counting on any executor)", test, timeout=60)
