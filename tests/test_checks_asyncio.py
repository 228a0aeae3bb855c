"""Checks of the cooperative-multitasking exercises: right answers pass, the usual wrong ones fail and say why.

(The full set of wrong answers runs in the mutation suite, ``mutants/lesson12.py``.)
"""

import asyncio

import pytest

from threadlab.checks.asyncio import check_fetch_all, check_fetch_within, check_transfer, leaves, raised, round_robin

pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def steps(name, n, log):
    for i in range(n):
        log.append(f"{name}{i}")
        yield


def test_round_robin_is_the_lessons_scheduler():
    log = []
    turns = round_robin({"A": steps("A", 3, log), "B": steps("B", 2, log), "C": steps("C", 1, log)})
    assert log == ["A0", "B0", "C0", "A1", "B1", "A2"]
    assert turns == {"A": 4, "B": 3, "C": 2}


def test_round_robin_stops_a_task_that_never_ends():
    def forever():
        while True:
            yield

    with pytest.raises(RuntimeError, match="still running after 50 turns"):
        round_robin({"f": forever()}, max_turns=50)


def good_transfer(accounts, src, dst, amount, times):
    for _ in range(times):
        if accounts[src] >= amount:
            accounts[src] -= amount
            accounts[dst] += amount
        yield


def test_check_transfer_passes_the_reference(capsys):
    assert check_transfer(good_transfer)
    assert "✔ Exercise 12.1: passed" in capsys.readouterr().out


def test_check_transfer_catches_a_yield_inside_a_transfer():
    def half_way(accounts, src, dst, amount, times):
        for _ in range(times):
            if accounts[src] >= amount:
                accounts[src] -= amount
                yield
                accounts[dst] += amount
            yield

    verdict = check_transfer(half_way)
    assert verdict.status == "failed" and "half-way through a transfer" in verdict.message


def test_check_transfer_catches_check_then_act_across_a_yield():
    def late(accounts, src, dst, amount, times):
        for _ in range(times):
            enough = accounts[src] >= amount
            yield
            if enough:
                accounts[src] -= amount
                accounts[dst] += amount

    verdict = check_transfer(late)
    assert verdict.status == "failed" and "her balance is -4" in verdict.message


def test_check_transfer_wants_a_generator_and_a_turn_per_transfer():
    def plain(accounts, src, dst, amount, times):
        for _ in range(times):
            accounts[src] -= amount
            accounts[dst] += amount

    def one_turn(accounts, src, dst, amount, times):
        for _ in range(times):
            accounts[src] -= amount
            accounts[dst] += amount
        yield

    assert "not a generator" in check_transfer(plain).message
    assert "yield after each transfer" in check_transfer(one_turn).message


def test_check_transfer_placeholder_is_not_attempted():
    def todo(accounts, src, dst, amount, times):
        raise NotImplementedError

    assert check_transfer(todo).status == "not attempted"


async def good_fetch_all(fetch, items):
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]
    return [task.result() for task in tasks]


def test_check_fetch_all_passes_the_reference_and_gather():
    async def with_gather(fetch, items):
        return await asyncio.gather(*(asyncio.to_thread(fetch, item) for item in items))

    assert check_fetch_all(good_fetch_all)
    assert check_fetch_all(with_gather)


def test_check_fetch_all_catches_blocking_calls_and_finishing_order():
    async def blocking(fetch, items):
        return [fetch(item) for item in items]

    async def finishing_order(fetch, items):
        return [await job for job in asyncio.as_completed([asyncio.to_thread(fetch, i) for i in items])]

    async def not_awaited(fetch, items):
        return asyncio.gather(*(asyncio.to_thread(fetch, item) for item in items))

    assert "event loop's own thread" in check_fetch_all(blocking).message
    assert "order the fetches finished" in check_fetch_all(finishing_order).message
    assert "forget `await`" in check_fetch_all(not_awaited).message


def test_check_fetch_all_catches_one_at_a_time():
    async def sequential(fetch, items):
        return [await asyncio.to_thread(fetch, item) for item in items]

    verdict = check_fetch_all(sequential)
    assert verdict.status == "failed" and "did not all run at the same time" in verdict.message


def test_check_fetch_all_placeholder_is_not_attempted():
    async def todo(fetch, items):
        raise NotImplementedError

    assert check_fetch_all(todo).status == "not attempted"


async def good_fetch_within(fetch, items, seconds):
    results = {}

    async def one(item):
        results[item] = await fetch(item)

    try:
        async with asyncio.timeout(seconds):
            async with asyncio.TaskGroup() as tg:
                for item in items:
                    tg.create_task(one(item))
    except TimeoutError:
        pass
    return results


def test_check_fetch_within_passes_the_reference():
    assert check_fetch_within(good_fetch_within)


def test_check_fetch_within_catches_tasks_left_running_and_lost_results():
    async def left_running(fetch, items, seconds):
        results = {}

        async def one(item):
            results[item] = await fetch(item)

        await asyncio.wait([asyncio.create_task(one(item)) for item in items], timeout=seconds)
        return results

    async def all_or_nothing(fetch, items, seconds):
        try:
            async with asyncio.timeout(seconds):
                return dict(zip(items, await asyncio.gather(*(fetch(item) for item in items))))
        except TimeoutError:
            return {}

    async def lets_it_out(fetch, items, seconds):
        async with asyncio.timeout(seconds):
            await asyncio.gather(*(fetch(item) for item in items))

    assert "still running" in check_fetch_within(left_running).message
    assert "results were lost" in check_fetch_within(all_or_nothing).message
    assert "raised TimeoutError" in check_fetch_within(lets_it_out).message


def test_check_fetch_within_stops_an_answer_without_a_timeout():
    async def no_timeout(fetch, items, seconds):
        return dict(zip(items, await asyncio.gather(*(fetch(item) for item in items))))

    verdict = check_fetch_within(no_timeout)
    assert verdict.status == "failed" and "asyncio.timeout" in verdict.message


def test_raised_tells_groups_and_placeholders_apart():
    group = ExceptionGroup("g", [ValueError("x"), ExceptionGroup("h", [KeyError("k")])])
    assert [type(e) for e in leaves(group)] == [ValueError, KeyError]
    assert "exception group of 2, the first ValueError: x" in str(raised("f", group))
    assert isinstance(raised("f", ExceptionGroup("g", [NotImplementedError()])), NotImplementedError)
    assert "read the results after" in str(raised("f", asyncio.InvalidStateError("Result is not set.")))
