"""Checks for the exercises on cooperative multitasking: generator tasks and asyncio.

Each check builds its own small world (a round-robin scheduler, a fresh event loop in the checking
thread) and decides by construction, not by timing: a round-robin order that is the same on every
run, a Barrier that every fetch must reach together, a chain of events that makes fetches finish in
an order of the check's choosing, counts of what was still running.

- :func:`check_transfer`      exercise "transfers that are never seen half-done" (generator tasks)
- :func:`check_fetch_all`     exercise "a blocking library in an asyncio program" (``asyncio.to_thread``)
- :func:`check_fetch_within`  exercise "everything that finishes in time" (``asyncio.timeout``, cancellation)
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
from collections import Counter, deque

from threadlab.checks import check


def round_robin(tasks: dict, max_turns: int = 10_000) -> Counter:
    """Resume each generator in turn until all have finished; returns turns per task.

    The same scheduler as the lesson's ``run``: ready tasks take turns in a fixed order, so the
    interleaving is the same on every run. A task that is still going after ``max_turns`` turns in
    all raises ``RuntimeError`` instead of hanging.
    """
    ready = deque(tasks.items())
    turns = Counter()
    while ready:
        name, task = ready.popleft()
        turns[name] += 1
        if turns.total() > max_turns:
            raise RuntimeError(f"tasks still running after {max_turns} turns: {[name, *(n for n, _ in ready)]}")
        try:
            task.send(None)
        except StopIteration:
            continue
        ready.append((name, task))
    return turns


# --- transfers between two yields ------------------------------------------------------------


def check_transfer(transfer) -> object:
    """``transfer(accounts, src, dst, amount, times)``: a generator task that moves ``amount`` from
    ``accounts[src]`` to ``accounts[dst]`` (only if ``src`` holds at least ``amount``), ``times`` times,
    and yields after each attempt."""

    def tasks_of(**made):
        for task in made.values():
            if not hasattr(task, "send"):
                raise AssertionError(
                    f"transfer(...) returned {type(task).__name__}, not a generator: a task needs a `yield` "
                    "after each transfer, where it gives the turn to the others"
                )
        return made

    def circle():
        accounts = {"alice": 100, "bob": 100, "carol": 100}
        audits = []

        def auditor():
            for _ in range(40):
                audits.append(sum(accounts.values()))
                yield

        tasks = tasks_of(
            a_to_b=transfer(accounts, "alice", "bob", 3, 10),
            b_to_c=transfer(accounts, "bob", "carol", 5, 10),
            c_to_a=transfer(accounts, "carol", "alice", 7, 10),
        )
        turns = round_robin({"audit": auditor(), **tasks})
        for name in tasks:
            if turns[name] < 10:
                raise AssertionError(
                    f"the task {name} (10 transfers) had {turns[name]} turn(s): yield after each transfer, "
                    "inside the loop, so the others get a turn in between"
                )
        expected = {"alice": 140, "bob": 80, "carol": 80}
        if accounts != expected:
            raise AssertionError(
                f"after 10 transfers each of 3 (alice->bob), 5 (bob->carol) and 7 (carol->alice) the balances "
                f"are {accounts}, expected {expected}: an update was lost. Did a task keep a balance in a "
                "variable across a yield and write it back after other tasks had changed it?"
            )
        wrong = [total for total in audits if total != 300]
        if wrong:
            raise AssertionError(
                f"an auditor adding up the balances between turns saw a total of {wrong[0]} instead of 300: "
                "a task gave up its turn half-way through a transfer. Take the money out and put it in "
                "in the same turn (no yield between the two)"
            )

    def overdraft():
        accounts = {"alice": 10, "bob": 0, "carol": 0}
        round_robin(tasks_of(to_bob=transfer(accounts, "alice", "bob", 7, 1),
                             to_carol=transfer(accounts, "alice", "carol", 7, 1)))
        if accounts["alice"] < 0:
            raise AssertionError(
                f"alice held 10 and two tasks each took 7: her balance is {accounts['alice']}. Check "
                "`accounts[src] >= amount` and move the money in the same turn: a yield between the check "
                "and the change lets the other task check the same balance"
            )
        if accounts != {"alice": 3, "bob": 7, "carol": 0}:
            raise AssertionError(
                f"alice held 10, bob and carol 0; alice->bob 7 took its turn first, then alice->carol 7: "
                f"expected {{'alice': 3, 'bob': 7, 'carol': 0}}, got {accounts}"
            )

    def test():
        circle()
        overdraft()

    return check("Exercise 12.1", test)


# --- a blocking library in an asyncio program ----------------------------------------------------

ITEMS = ["a", "b", "c", "d", "e"]
WAIT = 2.0  #: how long a fetch waits for the others (or for the event loop) before it reports the problem


def check_fetch_all(fetch_all) -> object:
    """``async def fetch_all(fetch, items)``: call the blocking ``fetch(item)`` for every item at the same
    time, in threads (``asyncio.to_thread``), without blocking the event loop; results in items' order.

    The check's ``fetch`` decides by construction: every call waits at a Barrier until all five are
    running (so one at a time never gets through); then until a task on the event loop has had a
    turn (so a loop blocked while they run is seen); then the calls finish in reverse order, each
    waiting for the next one (so results collected in finishing order come out reversed). A wrong
    answer can never get through these; a right one needs microseconds for each, and each wait is
    given 2 s before it reports the problem.
    """

    def test():
        seen = {"in the loop": [], "alone": False, "loop frozen": False}

        async def scenario():
            loop_thread = threading.current_thread()
            together = threading.Barrier(len(ITEMS))
            loop_had_a_turn = threading.Event()
            finished = {item: threading.Event() for item in ITEMS}
            arrived = []

            def fetch(item):
                if threading.current_thread() is loop_thread:
                    seen["in the loop"].append(item)  # a blocking call here would stop every task
                    return item.upper()
                try:
                    together.wait(WAIT)
                except threading.BrokenBarrierError:
                    seen["alone"] = True
                    return item.upper()
                arrived.append(item)
                if not loop_had_a_turn.wait(WAIT):
                    seen["loop frozen"] = True
                    return item.upper()
                after = ITEMS[ITEMS.index(item) + 1:]
                if after:
                    finished[after[0]].wait(WAIT)  # finish after the next item: in reverse order
                finished[item].set()
                return item.upper()

            async def watcher():  # a task on the loop: it gets a turn only if the loop is free
                while len(arrived) < len(ITEMS):
                    await asyncio.sleep(0.005)
                loop_had_a_turn.set()

            watch = asyncio.create_task(watcher())
            answer = asyncio.create_task(fetch_all(fetch, list(ITEMS)))
            done, _ = await asyncio.wait({answer}, timeout=3 * WAIT + 1)
            watch.cancel()
            together.abort()  # frees any fetch still waiting at the Barrier
            loop_had_a_turn.set()
            for event in finished.values():
                event.set()
            if not done:
                answer.cancel()
                raise AssertionError(f"fetch_all(fetch, {ITEMS}) did not return within {3 * WAIT + 1:g} s")
            return answer

        answer = asyncio.run(scenario())  # a fresh event loop in the checking thread
        if seen["in the loop"]:
            raise AssertionError(
                f"fetch({seen['in the loop'][0]!r}) ran in the event loop's own thread: while a blocking "
                "call runs there, no other task gets a turn. Hand it to a thread: "
                "`await asyncio.to_thread(fetch, item)` (not `asyncio.to_thread(fetch(item))`, which calls it first)"
            )
        error = answer.exception()
        if error is not None:
            raise raised("fetch_all", error)
        got = answer.result()
        if inspect.isawaitable(got):
            raise AssertionError(
                f"fetch_all returned {type(got).__name__}, something still to be awaited, not the results: "
                "did you forget `await` (before gather, or before a task)?"
            )
        if seen["alone"]:
            raise AssertionError(
                "the fetches did not all run at the same time: each one waited for the others in vain. "
                "Start all of them first (a TaskGroup's create_task, or gather), then wait for them together"
            )
        if seen["loop frozen"]:
            raise AssertionError(
                "the fetches ran in threads, but the event loop was blocked while they ran (no other task got "
                "a turn): `await` them (asyncio.to_thread, then gather or a TaskGroup) instead of waiting for "
                "them with a blocking call"
            )
        if not isinstance(got, list):
            raise AssertionError(f"fetch_all should return a list of results, got {type(got).__name__}")
        expected = [item.upper() for item in ITEMS]
        if got == expected[::-1]:
            raise AssertionError(
                f"got {got}: the results in the order the fetches finished. Return them in the order of "
                "`items` (gather does; so does reading each task's result after the TaskGroup block)"
            )
        if got != expected:
            raise AssertionError(f"fetch_all(fetch, {ITEMS}): expected {expected}, got {got}")

    return check("Exercise 12.2", test)


# --- everything that finishes in time ------------------------------------------------------------

FAST = ["a", "b", "c"]
SLOW = ["slow-1", "slow-2"]
DEADLINE = 0.3  #: seconds given to fetch_within
GUARD = 3.0  #: seconds after which a fetch_within that has not returned is stopped and reported


def check_fetch_within(fetch_within) -> object:
    """``async def fetch_within(fetch, items, seconds)``: start ``await fetch(item)`` for every item at
    once; after at most ``seconds`` return ``{item: result}`` of those that finished and cancel the rest.

    The check's fetch answers three items at its second turn and never answers two (they wait for an
    hour): whatever the machine's speed, the fast ones finish long before the deadline, and the slow
    ones can only end by being cancelled. It counts how many fetches were in progress at once and
    which were still running when ``fetch_within`` returned.
    """

    def test():
        async def scenario():
            running, cancelled, peak = set(), set(), [0]

            async def fetch(item):
                running.add(item)
                peak[0] = max(peak[0], len(running))
                try:
                    await asyncio.sleep(0)  # a fast answer: one turn of waiting
                    if item in SLOW:
                        await asyncio.sleep(3600)  # never answers
                    return item.upper()
                except asyncio.CancelledError:
                    cancelled.add(item)
                    raise
                finally:
                    running.discard(item)

            answer = asyncio.create_task(fetch_within(fetch, FAST[:2] + SLOW[:1] + FAST[2:] + SLOW[1:], DEADLINE))
            done, _ = await asyncio.wait({answer}, timeout=GUARD)
            still = sorted(running)
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            if not done:
                raise AssertionError(
                    f"fetch_within(fetch, items, {DEADLINE}) had not returned after {GUARD:g} s: nothing stopped "
                    f"the fetches that never answer ({', '.join(SLOW)}). Put `async with asyncio.timeout(seconds):` "
                    "around the block that waits for them"
                )
            error = answer.exception()
            if error is not None:
                raise _escaped(error)
            return answer.result(), still, peak[0]

        got, still, peak = asyncio.run(scenario())
        if peak < len(FAST) + len(SLOW):
            raise AssertionError(
                f"at most {peak} fetch(es) were in progress at once: they ran one after another. Start them "
                "all (TaskGroup.create_task), then wait for them together under one timeout"
            )
        if still:
            raise AssertionError(
                f"when fetch_within returned, {', '.join(still)} were still running: cancel what did not "
                "finish in time (a TaskGroup inside `async with asyncio.timeout(...)` does it for you)"
            )
        if not isinstance(got, dict):
            raise AssertionError(f"fetch_within should return a dict {{item: result}}, got {type(got).__name__}")
        expected = {item: item.upper() for item in FAST}
        if got != expected:
            lost = [item for item in FAST if item not in got]
            hint = (f" The fetches of {', '.join(lost)} finished at once, but their results were lost with the "
                    "timeout: let each task store its own result as it finishes") if lost else ""
            raise AssertionError(f"expected {expected}, got {got}.{hint}")

    return check("Exercise 12.3", test)


def _escaped(error: BaseException) -> BaseException:
    """What to tell a learner whose fetch_within let an exception out."""
    if isinstance(error, TimeoutError):
        return AssertionError(
            "fetch_within raised TimeoutError: that is how asyncio.timeout says the time is up. Catch it "
            "(`except TimeoutError:`) and return the results that did finish"
        )
    if isinstance(error, BaseExceptionGroup) and all(isinstance(e, TimeoutError) for e in leaves(error)):
        return AssertionError(
            "fetch_within raised an exception group of TimeoutError: a task inside a TaskGroup timed out, so "
            "the group cancelled the others and raised. Put one timeout around the whole TaskGroup instead"
        )
    return raised("fetch_within", error)


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside an exception group (and groups inside it), or ``[error]``."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


HINTS = {
    "InvalidStateError": "A task's result() was read before the task had finished: read the results after "
    "the `async with asyncio.TaskGroup()` block, where every task is done",
    "cannot be called from a running event loop": "Your function already runs on an event loop: `await` "
    "coroutines, do not start another loop with asyncio.run()",
    "a coroutine was expected": "create_task() takes a coroutine: `tg.create_task(asyncio.to_thread(fetch, item))`",
}


def raised(who: str, error: BaseException) -> BaseException:
    """An exception that a learner's coroutine let out, told in a line or two with a hint where one fits
    (``NotImplementedError``, the placeholder, is passed on as it is: "not attempted")."""
    inner = leaves(error)
    if any(isinstance(e, NotImplementedError) for e in inner):
        return NotImplementedError()
    first = inner[0]
    what = f"{type(first).__name__}: {first}"
    if first is not error:
        what = f"an exception group of {len(inner)}, the first {what}"
    where = [f for f in traceback.extract_tb(first.__traceback__) if not _library(f.filename)]
    if where:
        what += f" (line {where[-1].lineno} of {where[-1].name})"
    hint = next((h for words, h in HINTS.items() if words in f"{type(first).__name__}: {first}"), "")
    return AssertionError(f"{who} raised {what}" + (f". {hint}" if hint else ""))


def _library(filename: str) -> bool:
    return any(part in filename for part in ("asyncio", "threading.py", "concurrent", "threadlab"))
