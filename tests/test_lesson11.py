"""Unit tests for threadlab.lessons.lesson11 (executors and Dask): a few seconds in all."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from threadlab.lessons import lesson11 as L


def test_task_functions():
    assert L.slow_square(3, 0) == 9
    assert L.slow_square_rev(4) == 16
    with pytest.raises(ValueError):
        L.fail_on_three(3)


def test_run_with_threads_orders():
    with ThreadPoolExecutor(5) as pool:
        out = L.run_with(pool, L.slow_square_rev, range(5))
    assert out["results"] == [0, 1, 4, 9, 16]
    assert sorted(out["completed"]) == list(range(5)) and out["completed"][0] == 4


def test_wait_until_and_overhead():
    assert L.wait_until(lambda: True)
    assert not L.wait_until(lambda: False, timeout=0.05)
    with ThreadPoolExecutor(2) as pool:
        assert 0 < L.per_task_overhead(pool, tasks=20) < 0.05


def test_overhead_is_the_best_round():
    class FirstRoundSlow(ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn, *args):
            self.submitted += 1
            if self.submitted <= 11:       # the warm-up call and the whole first round of 10
                time.sleep(0.01)
            return super().submit(fn, *args)

    with FirstRoundSlow(1) as pool:
        assert L.per_task_overhead(pool, tasks=10, rounds=3) < 0.005
        assert pool.submitted == 31


def test_exercise_checks(capsys):
    def collect(executor, fn, args):
        futures = {executor.submit(fn, a): a for a in args}
        results = {a: f.result() for f, a in futures.items() if f.exception() is None}
        errors = {a: f.exception() for f, a in futures.items() if f.exception() is not None}
        return results, errors

    assert L.check_collect(collect)
    assert not L.check_collect(lambda e, f, a: ({}, {}))

    def primes(executor, n, chunks):
        edges = [n * i // chunks for i in range(chunks + 1)]
        return sum(executor.map(L.count_primes, zip(edges, edges[1:])))

    assert L.check_parallel_primes(primes)
    assert not L.check_parallel_primes(lambda e, n, c: L.count_primes((0, n)))
    assert "passed" in capsys.readouterr().out


def test_local_dask_cluster_runs_and_closes(monkeypatch):
    monkeypatch.delenv(L.SCHEDULER_ENV, raising=False)
    client, cluster = L.start_dask(n_workers=1)
    try:
        assert client.gather(client.map(L.slow_square, [1, 2])) == [1, 4]
        assert L.run_with(client.get_executor(), L.slow_square, [3])["results"] == [9]
        assert L.dashboard(client)
    finally:
        L.stop_dask(client, cluster)
    assert client.status == "closed"
    assert L.children_left() == []
