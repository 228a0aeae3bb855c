"""Unit tests for threadlab.lessons.lesson12 (cooperative multitasking)."""

import asyncio
import threading
import time

import pytest

from threadlab.checks import threads_left
from threadlab.lessons import lesson12 as L


def test_round_robin_trace_is_exact():
    log = []
    turns = L.run_tasks({"A": L.steps("A", 3, log), "B": L.steps("B", 2, log), "C": L.steps("C", 1, log)})
    assert log == ["A0", "B0", "C0", "A1", "B1", "A2"]
    assert turns == {"A": 4, "B": 3, "C": 2}  # one more turn each, to finish


def test_async_def_tasks_interleave_the_same_way():
    log_gen, log_async = [], []
    L.run_tasks({"A": L.steps("A", 2, log_gen), "B": L.steps("B", 3, log_gen)})
    L.run_tasks({"A": L.async_steps("A", 2, log_async), "B": L.async_steps("B", 3, log_async)})
    assert log_gen == log_async == ["A0", "B0", "A1", "B1", "B2"]


def test_sleep_lets_others_run_and_waits_at_least_the_delay():
    log = []

    def napper():
        log.append("nap")
        yield L.Sleep(0.05)
        log.append("woke")

    start = time.perf_counter()
    L.run_tasks({"n": napper(), "s": L.steps("s", 2, log)})
    assert time.perf_counter() - start >= 0.05
    assert log == ["nap", "s0", "s1", "woke"]


def test_scheduler_times_out_instead_of_hanging():
    def forever():
        while True:
            yield

    with pytest.raises(TimeoutError):
        L.run_tasks({"f": forever()}, timeout=0.05)


def test_counters():
    assert L.generator_counter(4, 200) == 800
    assert L.generator_counter_no_window(3, 100) == 300
    assert L.generator_counter(4, 200, L.add_across_a_yield) == 200  # every round, all read the same value
    assert L.thread_counter(4, 300) < 1200
    assert asyncio.run(L.asyncio_counter(4, 100)) < 400
    assert asyncio.run(L.asyncio_counter(4, 100, lock=True)) == 400


def test_task_set_four_ways_small():
    assert L.run_sequentially(3, 0.02) >= 0.06
    for elapsed in (L.run_in_threads(3, 0.02), L.run_generators(3, 0.02), asyncio.run(L.run_asyncio(3, 0.02))):
        assert 0.02 <= elapsed < 0.06 + 0.1


def test_many_sleepers_use_no_threads():
    elapsed, before, during = asyncio.run(L.many_sleepers(200, 0.02))
    assert during == before and elapsed < 1


def test_stall_test_and_no_thread_left():
    before = set(threading.enumerate())

    async def main():
        return [await L.stall_test(how, tasks=3, delay=0.05) for how in ("asyncio.sleep", "time.sleep", "to_thread")]

    coop, blocking, moved = asyncio.run(main())
    assert blocking.elapsed >= 0.15 and blocking.max_gap >= 0.14
    assert coop.max_gap < blocking.max_gap and moved.max_gap < blocking.max_gap
    assert threads_left(before, timeout=2) == []
    with pytest.raises(ValueError):
        asyncio.run(L.stall_test("nonsense", tasks=1, delay=0.01))


def test_cpu_in_coroutines_returns_two_times():
    seq, seq_cpu, par = asyncio.run(L.cpu_in_coroutines(1000, 2, 1))
    assert seq > 0 and seq_cpu > 0 and par > 0


def test_check_transfer():
    def good(accounts, src, dst, amount, times):
        for _ in range(times):
            accounts[src] -= amount
            accounts[dst] += amount
            yield

    def yields_in_the_middle(accounts, src, dst, amount, times):
        for _ in range(times):
            accounts[src] -= amount
            yield
            accounts[dst] += amount

    def not_a_generator(accounts, src, dst, amount, times):
        for _ in range(times):
            accounts[src] -= amount
            accounts[dst] += amount

    assert L.check_transfer(good)
    assert L.check_transfer(yields_in_the_middle).status == "failed"
    assert L.check_transfer(not_a_generator).status == "failed"


def test_check_fetch_all():
    async def good(items):
        return await asyncio.gather(*(asyncio.to_thread(L.legacy_fetch, x) for x in items))

    async def blocking(items):
        return [L.legacy_fetch(x) for x in items]

    async def todo(items):
        raise NotImplementedError

    assert L.check_fetch_all(good)
    assert L.check_fetch_all(blocking).status == "failed"
    assert L.check_fetch_all(todo).status == "not attempted"
