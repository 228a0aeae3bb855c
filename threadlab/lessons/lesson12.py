"""Lesson 12: cooperative multitasking, from generator "threads" to asyncio.

- :class:`Scheduler`  a round-robin scheduler for generators (and ``async def`` coroutines) with sleeping
- counters that lose updates, or not: threads, generators, asyncio, with and without a lock
- :func:`run_sequentially` / :func:`run_in_threads` / :func:`run_generators` / :func:`run_asyncio`:
  lesson 01's task set (8 tasks of 0.2 s of waiting) four ways
- :func:`stall_test`  what a blocking call inside a coroutine does to every other task
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from threadlab.checks import check, expect_equal
from threadlab.workers import cpu_task, sleep_task

TASKS = 8  #: lesson 01's task set: 8 "downloads" ...
DELAY = 0.2  #: ... of 0.2 s of waiting each


# --- 1. a round-robin scheduler for generators ----------------------------------------------


@dataclass(frozen=True)
class Sleep:
    """Yielded by a task: "wake me again in ``seconds``" (other tasks run meanwhile)."""

    seconds: float

    def __await__(self):  # so that ``async def`` tasks can write ``await Sleep(0.2)``
        yield self


class _Switch:
    def __await__(self):
        yield None


def switch() -> _Switch:
    """``await switch()`` in an ``async def`` task gives the turn to the next task, like a bare ``yield``."""
    return _Switch()


class Scheduler:
    """Non-pre-emptive "threads": each task runs until it yields, then the next one gets a turn.

    A task is a generator (or an ``async def`` coroutine, driven the same way with ``send``).
    ``yield`` gives up the turn; ``yield Sleep(s)`` gives it up for at least ``s`` seconds.
    Ready tasks take turns in a fixed round-robin order, so the interleaving is the same on every
    run. :meth:`run` returns how many turns each task had.
    """

    def __init__(self):
        self.ready: deque = deque()
        self.sleeping: list = []  # heap of (wake-up time, sequence number, name, task)
        self._seq = itertools.count()
        self.turns: Counter = Counter()

    def spawn(self, name: str, task) -> None:
        self.ready.append((name, task))

    def run(self, timeout: float = 10.0) -> Counter:
        deadline = time.monotonic() + timeout
        while self.ready or self.sleeping:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"tasks still running after {timeout} s: {self.pending()}")
            while self.sleeping and self.sleeping[0][0] <= now:
                _, _, name, task = heapq.heappop(self.sleeping)
                self.ready.append((name, task))
            if not self.ready:  # everybody sleeps: the whole program waits for the first alarm
                time.sleep(max(0.0, min(self.sleeping[0][0], deadline) - now))
                continue
            name, task = self.ready.popleft()
            self.turns[name] += 1
            try:
                request = task.send(None)
            except StopIteration:
                continue
            if isinstance(request, Sleep):
                heapq.heappush(self.sleeping, (time.monotonic() + request.seconds, next(self._seq), name, task))
            else:
                self.ready.append((name, task))
        return self.turns

    def pending(self) -> list[str]:
        return [name for name, _ in self.ready] + [entry[2] for entry in self.sleeping]


def run_tasks(tasks: dict, timeout: float = 10.0) -> Counter:
    """Spawn every ``name: task`` in order on a new :class:`Scheduler` and run them all."""
    s = Scheduler()
    for name, task in tasks.items():
        s.spawn(name, task)
    return s.run(timeout)


def steps(name: str, n: int, log: list):
    """A task that logs ``name0``, ``name1``, ... and gives up its turn after each step."""
    for i in range(n):
        log.append(f"{name}{i}")
        yield


async def async_steps(name: str, n: int, log: list):
    """:func:`steps` written with ``async def``/``await``: same scheduler, same interleaving."""
    for i in range(n):
        log.append(f"{name}{i}")
        await switch()


# --- 2. counters: who loses updates? --------------------------------------------------------


def add_between_yields(counter: dict, n: int):
    """Read-modify-write with no yield inside it: no other task can run in the middle."""
    for _ in range(n):
        counter["value"] += 1
        yield


def add_across_a_yield(counter: dict, n: int):
    """The same increment with a ``yield`` between the read and the write: other tasks run there."""
    for _ in range(n):
        seen = counter["value"]
        yield
        counter["value"] = seen + 1


def generator_counter(tasks: int, n: int, body=add_between_yields) -> int:
    counter = {"value": 0}
    run_tasks({f"t{i}": body(counter, n) for i in range(tasks)})
    return counter["value"]


def thread_counter(threads: int, n: int) -> int:
    """Threads doing read; ``time.sleep(0)``; write without a lock: updates get lost (lesson 04)."""
    counter = {"value": 0}

    def work():
        for _ in range(n):
            seen = counter["value"]
            time.sleep(0)  # any call that may switch threads opens the window
            counter["value"] = seen + 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(10)
    return counter["value"]


def generator_counter_no_window(tasks: int, n: int) -> int:
    """Generators doing read; a plain call (no yield); write: the same code as the threads, minus the switch."""
    counter = {"value": 0}

    def work():
        for _ in range(n):
            seen = counter["value"]
            time.sleep(0)  # a real call, but a generator is never interrupted: only `yield` switches
            counter["value"] = seen + 1
            yield

    run_tasks({f"t{i}": work() for i in range(tasks)})
    return counter["value"]


async def asyncio_counter(tasks: int, n: int, lock: bool = False) -> int:
    """Coroutines that ``await asyncio.sleep(0)`` between read and write; optionally under an asyncio.Lock."""
    counter = {"value": 0}
    guard = asyncio.Lock() if lock else None

    async def once():
        seen = counter["value"]
        await asyncio.sleep(0)
        counter["value"] = seen + 1

    async def work():
        for _ in range(n):
            if guard is None:
                await once()
            else:
                async with guard:
                    await once()

    await asyncio.gather(*(work() for _ in range(tasks)))
    return counter["value"]


# --- 3. lesson 01's task set, four ways -----------------------------------------------------


def run_sequentially(tasks: int = TASKS, delay: float = DELAY) -> float:
    start = time.perf_counter()
    for _ in range(tasks):
        sleep_task(delay)
    return time.perf_counter() - start


def run_in_threads(tasks: int = TASKS, delay: float = DELAY) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=tasks) as pool:
        list(pool.map(sleep_task, [delay] * tasks))
    return time.perf_counter() - start


def sleeper(delay: float):
    """A generator task that waits ``delay`` seconds the cooperative way."""
    yield Sleep(delay)
    return delay


def run_generators(tasks: int = TASKS, delay: float = DELAY) -> float:
    start = time.perf_counter()
    run_tasks({f"t{i}": sleeper(delay) for i in range(tasks)})
    return time.perf_counter() - start


async def run_asyncio(tasks: int = TASKS, delay: float = DELAY) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(asyncio.sleep(delay) for _ in range(tasks)))
    return time.perf_counter() - start


async def many_sleepers(n: int = 1000, delay: float = 0.1) -> tuple[float, int, int]:
    """``n`` coroutines sleeping at once: (seconds, threads before, threads while they slept)."""
    before = threading.active_count()
    during = []

    async def one(i):
        await asyncio.sleep(delay)
        if i == 0:
            during.append(threading.active_count())

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - start, before, during[0]


async def cpu_in_coroutines(n: int = 100_000, tasks: int = 4, repeat: int = 3) -> tuple[float, float, float]:
    """``tasks`` x cpu_task(n), one after another and as gathered coroutines, best of ``repeat``.

    Returns (sequential wall s, sequential CPU s, coroutines wall s). CPU time counts only this
    process, so it is a steady yardstick on a busy machine.
    """

    async def crunch():
        return cpu_task(n)

    seq = seq_cpu = par = float("inf")
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(tasks):
            cpu_task(n)
        seq = min(seq, time.perf_counter() - start)
        seq_cpu = min(seq_cpu, time.process_time() - cpu)
        start = time.perf_counter()
        await asyncio.gather(*(crunch() for _ in range(tasks)))
        par = min(par, time.perf_counter() - start)
    return seq, seq_cpu, par


# --- 4. a blocking call stalls the event loop -----------------------------------------------


@contextmanager
def own_default_executor(workers: int):
    """Give the running loop a default thread pool of ``workers`` threads for the block, then retire it.

    ``asyncio.to_thread`` runs on the loop's default executor, which otherwise keeps its threads
    for the life of the loop (here: the notebook kernel). Afterwards the loop gets a fresh pool
    (it starts threads only when used) and ours is shut down, so no thread outlives the demo.
    """
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="to_thread")
    loop.set_default_executor(pool)
    try:
        yield pool
    finally:
        loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        pool.shutdown(wait=True)


@dataclass
class Stall:
    how: str
    elapsed: float
    max_gap: float  # longest time the heartbeat task went without a turn
    beats: int


async def stall_test(how: str, tasks: int = TASKS, delay: float = DELAY, period: float = 0.02) -> Stall:
    """Run ``tasks`` waits of ``delay`` s next to a heartbeat that wants a turn every ``period`` s.

    ``how``: "asyncio.sleep" (cooperative), "time.sleep" (a blocking call inside the coroutine) or
    "to_thread" (the blocking call moved to a thread with ``asyncio.to_thread``).
    """
    stop = asyncio.Event()
    beats = []

    async def heartbeat():
        while not stop.is_set():
            beats.append(time.perf_counter())
            await asyncio.sleep(period)

    async def job():
        if how == "asyncio.sleep":
            await asyncio.sleep(delay)
        elif how == "time.sleep":
            time.sleep(delay)  # blocks the one thread that runs every task
        elif how == "to_thread":
            await asyncio.to_thread(time.sleep, delay)
        else:
            raise ValueError(f"unknown way {how!r}")

    with own_default_executor(tasks):
        pulse = asyncio.create_task(heartbeat())
        await asyncio.sleep(period)  # let the heartbeat start
        start = time.perf_counter()
        await asyncio.gather(*(job() for _ in range(tasks)))
        end = time.perf_counter()
        stop.set()
        await pulse
    gaps = [b - a for a, b in zip(beats, beats[1:] + [end])]
    return Stall(how, end - start, max(gaps), len(beats))


# --- exercises ------------------------------------------------------------------------------


def check_transfer(transfer) -> object:
    """Exercise 12.1: transfer(accounts, src, dst, amount, times) as a generator task."""

    def test():
        accounts = {"alice": 100, "bob": 100, "carol": 100}
        total = sum(accounts.values())
        audits = []

        def auditor():
            for _ in range(50):
                audits.append(sum(accounts.values()))
                yield

        tasks = {
            "a->b": transfer(accounts, "alice", "bob", 3, 10),
            "b->c": transfer(accounts, "bob", "carol", 5, 10),
            "audit": auditor(),
            "c->a": transfer(accounts, "carol", "alice", 7, 10),
        }
        if not all(hasattr(t, "send") for t in tasks.values()):
            raise AssertionError("transfer(...) must be a generator function: it needs a `yield`")
        turns = run_tasks(tasks, timeout=5)
        for name in ("a->b", "b->c", "c->a"):
            if turns[name] < 10:
                raise AssertionError(f"task {name} had {turns[name]} turns: yield once after each transfer")
        expect_equal(accounts, {"alice": 140, "bob": 80, "carol": 80}, "balances after all transfers")
        broken = [s for s in audits if s != total]
        if broken:
            raise AssertionError(
                f"the auditor saw a total of {broken[0]} instead of {total}: a task yielded in the middle "
                "of a transfer (between taking the money out and putting it in)"
            )

    return check("Exercise 12.1", test)


def legacy_fetch(item: str) -> str:
    """A blocking "download" from an old library: 0.1 s of waiting, no async version."""
    time.sleep(0.1)
    return item.upper()


def check_fetch_all(fetch_all) -> object:
    """Exercise 12.2: ``async def fetch_all(items)`` runs legacy_fetch on every item without stalling the loop."""

    def test():
        items = ["a", "b", "c", "d", "e"]

        async def scenario():
            beats = []
            stop = asyncio.Event()

            async def heartbeat():
                while not stop.is_set():
                    beats.append(time.perf_counter())
                    await asyncio.sleep(0.01)

            pulse = asyncio.create_task(heartbeat())
            await asyncio.sleep(0.02)
            start = time.perf_counter()
            got = await fetch_all(items)
            end = time.perf_counter()
            stop.set()
            await pulse
            gaps = [b - a for a, b in zip(beats, beats[1:] + [end])]
            return got, end - start, max(gaps)

        got, elapsed, gap = asyncio.run(scenario())  # a fresh event loop in the checking thread
        expect_equal(got, [x.upper() for x in items], "fetch_all(['a', 'b', 'c', 'd', 'e'])")
        if gap > 0.3:
            raise AssertionError(
                f"the event loop froze for {gap:.2f} s: legacy_fetch blocks; run it with asyncio.to_thread"
            )
        if elapsed > 0.4:
            raise AssertionError(
                f"5 fetches of 0.1 s took {elapsed:.2f} s: start them all, then await them together (gather)"
            )

    return check("Exercise 12.2", test)
