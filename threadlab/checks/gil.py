"""Checks for the exercises on what the GIL does and does not do.

- :func:`check_add_many`   the GIL does not make a read-modify-write atomic: a lock must, and must be released
- :func:`check_cores_used` how many cores threads used: CPU seconds per thread over the wall-clock time

Both checks arrange the timing of what they hand the learner's code so that a mistake shows in
every run: the counter makes every unprotected read-then-write lose an update, and the meter is
given threads whose CPU time and wall time the check knows in advance.
"""

from __future__ import annotations

import threading
import time

from threadlab.checks import check, where_is

__all__ = ["check_add_many", "check_cores_used"]

DEADLINE = 4.0  #: seconds add_many's threads get before the check looks at where they are stuck
METER_DEADLINE = 6.0  #: seconds cores_used gets (its calls need 0.4 s of CPU time, far more on a busy machine)
PATIENCE = 0.25  #: seconds the first few writes of add_many's counter wait for another thread's read
CHAIN = (0.04, 0.08, 0.12, 0.16)  #: CPU seconds of the four calls a cores_used check hands the meter
TOGETHER = 1.0  #: seconds the calls of a cores_used check wait for each other before saying they ran one by one


class Hiccup(Exception):
    """What the check's counter raises once, on purpose, to see that the lock is released after an error."""


class _Box(dict):
    """``box["count"]`` for check_add_many: an unprotected read-then-write loses an update, every run.

    A write waits (up to ``patience`` seconds, for the first few writes) until another thread has read
    the count since this thread read it. With the lock held from the read to the write nobody can,
    and the write goes on after the wait; without it, another thread reads the old value in the
    meantime and one of the two updates is lost. One write (the ``fail_at``-th) raises
    :class:`Hiccup` instead of writing.
    """

    def __init__(self, waits: int = 4, patience: float | None = None, fail_at: int = 10):
        super().__init__(count=0)
        self.cond = threading.Condition(threading._allocate_lock())  # a plain lock, never the learner's
        self.reads = 0
        self.read_at: dict[threading.Thread, int] = {}  #: thread -> number of the read it did last
        self.writes = 0  #: writes done
        self.overlaps = 0  #: writes with another thread's read between this thread's read and write
        self.waits, self.patience, self.fail_at = waits, PATIENCE if patience is None else patience, fail_at
        self.failed_in: threading.Thread | None = None
        self.written_by: dict[threading.Thread, int] = {}  #: thread -> its writes

    def __getitem__(self, key):
        with self.cond:
            self.reads += 1
            self.read_at[threading.current_thread()] = self.reads
            self.cond.notify_all()
            return super().__getitem__(key)

    def __setitem__(self, key, value):
        me = threading.current_thread()
        with self.cond:
            mine = self.read_at.get(me, 0)
            if self.waits > 0 and self.overlaps == 0:
                self.waits -= 1
                self.cond.wait_for(lambda: self.reads > mine, self.patience)
            if self.reads > mine:
                self.overlaps += 1
            if self.failed_in is None and self.writes + 1 == self.fail_at:
                self.failed_in = me
                raise Hiccup("the check's counter failed this write on purpose")
            self.writes += 1
            self.written_by[me] = self.written_by.get(me, 0) + 1
            super().__setitem__(key, value)


def check_add_many(add_many, threads: int = 4, n: int = 25) -> object:
    """Exercise 9.1: ``add_many(box, n, lock)`` adds 1 to ``box["count"]`` n times (read, ``sleep(0)``,
    write) so that threads sharing ``lock`` lose no update, and the lock is free again after an error."""

    def test():
        box, lock = _Box(), threading.Lock()
        errors: dict = {}

        def run():
            try:
                add_many(box, n, lock)
            except BaseException as exc:  # Hiccup is expected in one thread; anything else is reported
                errors[threading.current_thread()] = exc

        workers = [threading.Thread(target=run, name=f"adder-{i}", daemon=True) for i in range(threads)]
        for t in workers:
            t.start()
        deadline = time.monotonic() + DEADLINE
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        stuck = [t for t in workers if t.is_alive()]
        others = {t: e for t, e in errors.items() if not isinstance(e, Hiccup)}
        if any(isinstance(e, NotImplementedError) for e in others.values()):
            raise NotImplementedError
        if others:
            t, exc = next(iter(others.items()))
            raise exc
        if stuck:
            if box.failed_in is not None and not box.failed_in.is_alive():
                raise AssertionError(
                    f"after one thread's write failed (the check raised an error there on purpose), {len(stuck)} "
                    f"thread(s) wait for ever for the lock ({where_is(stuck[0])}): the failing thread never released "
                    "it. Use `with lock:` (or release it in a finally block)")
            raise AssertionError(f"{len(stuck)} thread(s) still wait {DEADLINE:g} s later, at {where_is(stuck[0])}: every "
                                 "acquire() needs its release() (use `with lock:`)")
        if box.writes == 0:
            raise AssertionError("add_many wrote nothing to box['count']")
        lost = box.writes - box["count"]
        if box["count"] != box.writes or box.overlaps:
            raise AssertionError(
                f"{threads} threads made {box.writes} increments, but the count is {box['count']}: {lost} lost. "
                "Another thread read the count between your read and your write; hold the one shared lock "
                "from the read to the write (`with lock:` around all three lines)")
        short = [t for t in workers if t is not box.failed_in and box.written_by.get(t, 0) < n]
        if short:
            raise AssertionError(f"add_many(box, {n}, lock) made only {box.written_by.get(short[0], 0)} of its {n} "
                                 "increments in one thread: each increment must wait for the lock, not skip it")

    return check("Exercise 9.1", test, timeout=9.0)


class _Chain:
    """The calls a cores_used check hands the learner's meter.

    All calls first wait until every one of them has started (the threads run at the same time).
    Then they take turns: call i spins until *its own thread* has used ``cpu[i]`` CPU seconds,
    then lets call i+1 go. So the check knows the CPU seconds of each thread, and the wall time
    of any right measurement is at least the span from the first call's start to the last call's end.
    """

    def __init__(self, cpu: list[float]):
        self.cpu = cpu
        self.cond = threading.Condition(threading._allocate_lock())
        self.entered = 0
        self.together: bool | None = None
        self.turn = 0
        self.threads: list = [None] * len(cpu)
        self.used = [0.0] * len(cpu)
        self.first_start = self.last_end = 0.0

    def call(self, i: int):
        def spin():
            with self.cond:
                if self.entered == 0:
                    self.first_start = time.perf_counter()
                self.entered += 1
                self.threads[i] = threading.current_thread()
                self.cond.notify_all()
                if not self.cond.wait_for(lambda: self.entered == len(self.cpu) or self.together is False, TOGETHER):
                    self.together = False
                self.cond.wait_for(lambda: self.turn == i, 10.0)
            start = time.thread_time()
            while time.thread_time() - start < self.cpu[i]:
                pass
            self.used[i] = time.thread_time() - start
            with self.cond:
                self.turn += 1
                self.last_end = time.perf_counter()
                self.cond.notify_all()

        return spin


def check_cores_used(cores_used) -> object:
    """Exercise 9.2: ``cores_used(calls)`` runs each call in its own thread, released together, and returns
    the CPU seconds of all the threads (``time.thread_time()`` in each) over the wall-clock seconds."""

    def test():
        chain = _Chain(list(CHAIN))
        calls = [chain.call(i) for i in range(4)]
        box = {}

        def run():
            try:
                box["value"] = cores_used(calls)
                box["returned"] = time.perf_counter()
            except BaseException as exc:  # reported by the check
                box["error"] = exc

        caller = threading.Thread(target=run, name="cores_used caller", daemon=True)
        start = time.perf_counter()
        caller.start()
        caller.join(METER_DEADLINE)
        outer = time.perf_counter() - start
        if caller.is_alive():
            raise AssertionError(f"cores_used did not return within {METER_DEADLINE:g} s; it is at {where_is(caller)}: "
                                 "start every thread before you join any (a Barrier waits until all of them have arrived)")
        if "error" in box:
            raise box["error"]
        got = box.get("value")
        with chain.cond:  # threads that cores_used did not wait for may still be running the calls
            chain.cond.wait_for(lambda: chain.turn == 4, 3.0)
        if chain.entered < 4:
            raise AssertionError(f"only {chain.entered} of the 4 calls ran: call each one in a thread of its own")
        if chain.together is False:
            raise AssertionError("the 4 calls did not run at the same time: start every thread before you join any")
        if len({id(t) for t in chain.threads}) < 4 or caller in chain.threads:
            raise AssertionError("the calls did not each run in a thread of their own")
        if not isinstance(got, (int, float)):
            raise AssertionError(f"cores_used should return a number (CPU seconds / wall seconds), got {got!r}")
        if box["returned"] < chain.last_end:
            raise AssertionError("cores_used returned before every call had finished: join every thread (and let "
                                 "the join wait for it) before you add up the CPU seconds and stop the clock")
        cpu, span = sum(chain.used), chain.last_end - chain.first_start
        # A right meter divides about `cpu` (plus a little: the threads' bookkeeping, and clocks that count in
        # 16 ms ticks, as on Windows) by a wall time that covers the calls' span and lies within this check's
        # clock around cores_used.
        low, high = cpu / outer, (cpu + 0.02 + 0.016 * len(calls)) / span
        if got > high:
            raise AssertionError(
                f"cores_used read {got:.2f} cores, but the 4 threads used {cpu:.2f} CPU seconds one after another "
                f"in {span:.2f} s (at most {cpu / span:.2f} cores): the CPU seconds of each thread must be "
                "time.thread_time() taken inside that thread (perf_counter and process_time also count the time "
                "it waited and the other threads' CPU time), over the wall time up to the last join")
        if got < 0.95 * low:
            raise AssertionError(
                f"cores_used read {got:.2f} cores, but the 4 threads used {cpu:.2f} CPU seconds while it ran for "
                f"{outer:.2f} s (at least {low:.2f} cores): take time.thread_time() inside each thread (in the main "
                "thread it counts only the main thread), join every thread before you add them up and stop the "
                "clock, and divide by the wall time (not by the number of threads)")

    return check("Exercise 9.2", test, timeout=9.0)
