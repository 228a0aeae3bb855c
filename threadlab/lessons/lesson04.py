"""Lesson 04: race conditions and locks.

Everything here is small on purpose: each function is one experiment of the lesson. Threads
are always joined with a timeout, locks are always acquired with a timeout where a demo could
block for ever, and ``sys.setswitchinterval`` is always put back the way it was.
"""

from __future__ import annotations

import dis
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

from threadlab.checks import check, expect_equal
from threadlab.plotting import new_figure

TINY_SWITCH = 1e-6  #: a switch interval so small that the GIL changes hands at every chance
JOIN_TIMEOUT = 30.0  #: no demo thread may run longer than this


# --- running threads together --------------------------------------------------------------


def run_together(fn, threads: int, switch_interval: float | None = None, timeout: float = JOIN_TIMEOUT) -> float:
    """Call ``fn(i)`` in ``threads`` threads that start at the same moment; return the seconds.

    The threads line up at a Barrier first, so none gets a head start while the others are
    still being created. Then each waits (yielding, for at most a second) until every thread has
    really run past the Barrier: on a busy machine the OS can leave a released thread waiting for
    a core for milliseconds, long enough for the first thread to finish alone (a CI run saw 100
    read-sleep(0)-write steps of 2 threads lose nothing). ``switch_interval`` (seconds) is set for
    the run and restored after. An exception raised by ``fn`` in a thread is raised again here,
    after all threads ended.
    """
    barrier = threading.Barrier(threads)
    running = []  # one entry per thread that got past the Barrier (list.append is atomic)
    errors = []

    def body(i):
        try:
            barrier.wait(timeout)
            running.append(i)
            deadline = time.monotonic() + 1.0
            while len(running) < threads and time.monotonic() < deadline:
                time.sleep(0)
            fn(i)
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    workers = [threading.Thread(target=body, args=(i,), name=f"racer-{i}") for i in range(threads)]
    old = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    start = time.perf_counter()
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout)
    finally:
        sys.setswitchinterval(old)
    elapsed = time.perf_counter() - start
    alive = [w.name for w in workers if w.is_alive()]
    if alive:
        raise RuntimeError(f"threads still running after {timeout} s: {alive}")
    if errors:
        raise errors[0]
    return elapsed


# --- the counters ----------------------------------------------------------------------------


class Box:
    """A shared counter: one attribute, ``value``."""

    def __init__(self, value=0):
        self.value = value


def nothing():
    """An empty Python function: calling it is enough to give the interpreter a switch point."""


def add_plain(box: Box, n: int):
    """``box.value += 1``, n times: one statement, several bytecodes."""
    for _ in range(n):
        box.value += 1


def add_with_call(box: Box, n: int):
    """Read, call a (trivial) Python function, write: the call is a point where threads can switch."""
    for _ in range(n):
        seen = box.value
        nothing()
        box.value = seen + 1


def add_with_sleep(box: Box, n: int):
    """Read, ``time.sleep(0)``, write: sleep(0) lets the other threads run between read and write."""
    for _ in range(n):
        seen = box.value
        time.sleep(0)
        box.value = seen + 1


def add_with_sleep_locked(box: Box, n: int, lock):
    """The same read, sleep(0), write, with the whole read-modify-write inside the lock."""
    for _ in range(n):
        with lock:
            seen = box.value
            time.sleep(0)
            box.value = seen + 1


BODIES = {
    "plain": add_plain,
    "call": add_with_call,
    "sleep": add_with_sleep,
    "locked": add_with_sleep_locked,
}


@dataclass(frozen=True)
class Count:
    """One run: ``threads`` threads each added 1 ``iterations`` times."""

    body: str
    threads: int
    iterations: int
    counted: int
    seconds: float

    @property
    def expected(self) -> int:
        return self.threads * self.iterations

    @property
    def lost(self) -> int:
        return self.expected - self.counted


def count(body: str, threads: int, iterations: int, switch_interval: float | None = None) -> Count:
    """Run one of :data:`BODIES` in ``threads`` threads on one shared Box; return what was counted."""
    fn = BODIES[body]
    box = Box()
    lock = threading.Lock()
    if body == "locked":
        target = lambda i: fn(box, iterations, lock)
    else:
        target = lambda i: fn(box, iterations)
    seconds = run_together(target, threads, switch_interval)
    return Count(body, threads, iterations, box.value, seconds)


def catch_rate(body: str, runs: int = 20, threads: int = 4, iterations: int = 1000, switch_interval=None):
    """Repeat :func:`count` ``runs`` times; return the list of results (``r.lost`` for each)."""
    return [count(body, threads, iterations, switch_interval) for _ in range(runs)]


def catch_table(runs: int = 10, threads: int = 4, iterations: int = 2000) -> dict[str, int]:
    """How many of ``runs`` runs lost updates, for each body and switch interval."""
    rows = {
        "box.value += 1": ("plain", None),
        "box.value += 1, switch interval 1 µs": ("plain", TINY_SWITCH),
        "read; call; write": ("call", None),
        "read; call; write, switch interval 1 µs": ("call", TINY_SWITCH),
        "read; sleep(0); write": ("sleep", None),
        "read; sleep(0); write inside the lock": ("locked", None),
    }
    table = {}
    for label, (body, interval) in rows.items():
        n = iterations if body in ("plain", "call") else iterations // 10
        results = catch_rate(body, runs, threads, n, interval)
        table[label] = sum(r.lost > 0 for r in results)
    return table


def format_table(table: dict[str, int], runs: int) -> str:
    width = max(len(k) for k in table)
    return "\n".join(f"{k:<{width}}  {v:>2}/{runs} runs lost updates" for k, v in table.items())


# --- the slider ----------------------------------------------------------------------------


def lost_by_threads(threads: int, iterations: int) -> dict[int, tuple[int, int]]:
    """For 1..threads threads: (lost without the lock, lost with the lock), read; sleep(0); write."""
    out = {}
    for n in range(1, threads + 1):
        out[n] = (count("sleep", n, iterations).lost, count("locked", n, iterations).lost)
    return out


class LostTable(dict):
    """The slider's result: {threads: (lost without lock, lost with lock)} and ``iterations``."""

    iterations = 0


def plot_lost(result: LostTable):
    """Lost updates against the number of threads, without and with the lock."""
    fig, ax = new_figure()
    xs = list(result)
    ax.plot(xs, [n * result.iterations for n in xs], "--", color="grey", label="updates made")
    ax.plot(xs, [result[n][0] for n in xs], "o-", color="tab:red", label="lost, no lock")
    ax.plot(xs, [result[n][1] for n in xs], "s-", color="tab:green", label="lost, with a Lock")
    ax.set(xlabel="threads", ylabel="updates", title="read; sleep(0); write", ylim=(0, None))
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def lost_experiment(threads: int, iterations: int) -> LostTable:
    table = LostTable(lost_by_threads(threads, iterations))
    table.iterations = iterations
    return table


def summary_lost(result: LostTable) -> str:
    n = max(result)
    unlocked, locked = result[n]
    made = n * result.iterations
    return f"{n} threads x {result.iterations}: {unlocked} of {made} updates lost without a lock, {locked} with it"


# --- the seed's story, replayed step by step ------------------------------------------------


def replay_seed_race(start: str = "abx", timeout: float = 5.0) -> tuple[str, list[str]]:
    """Force the schedule of the 2009 tutorial: thread 0 adds 'g', thread 1 adds 'w'.

    Thread 0 reads v and computes v + 'g', then pauses before it stores; thread 1 runs its
    whole ``v += 'w'``; thread 0 stores. Events make the schedule certain. Returns the final v
    and the trace of steps.
    """
    shared = {"v": start}
    trace = []
    zero_computed = threading.Event()
    one_done = threading.Event()

    def thread0():
        new = shared["v"] + "g"  # load v, add 'g' ...
        trace.append(f"thread 0 read {shared['v']!r}, computed {new!r}")
        zero_computed.set()
        if not one_done.wait(timeout):  # ... its turn ends here ...
            raise RuntimeError("thread 1 never finished")
        shared["v"] = new  # ... and it stores later
        trace.append(f"thread 0 stored {new!r}")

    def thread1():
        if not zero_computed.wait(timeout):
            raise RuntimeError("thread 0 never started")
        shared["v"] = shared["v"] + "w"
        trace.append(f"thread 1 read, added 'w', stored {shared['v']!r}")
        one_done.set()

    workers = [threading.Thread(target=thread0), threading.Thread(target=thread1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout)
    if any(w.is_alive() for w in workers):
        raise RuntimeError("replay did not finish")
    return shared["v"], trace


# --- dis ---------------------------------------------------------------------------------------


def instructions(source: str = "v += k") -> list[tuple[str, str]]:
    """(opname, argument) of each instruction the statement compiles to (module level)."""
    code = compile(source, "<lesson>", "exec")
    return [(i.opname, i.argrepr) for i in dis.get_instructions(code)]


def load_and_store(source: str = "v += k", name: str = "v") -> tuple[int, int, list[str]]:
    """Index of the instruction that loads ``name``, of the one that stores it, and what runs between."""
    ins = instructions(source)
    loads = [i for i, (op, arg) in enumerate(ins) if op.startswith("LOAD") and arg == name]
    stores = [i for i, (op, arg) in enumerate(ins) if op.startswith("STORE") and arg == name]
    if not loads or not stores:
        raise ValueError(f"{source!r} does not load and store {name!r}")
    first, last = loads[0], stores[-1]
    return first, last, [op for op, _ in ins[first + 1 : last]]


def between_load_and_store(fn, name: str = "value") -> list[str]:
    """Opnames that ``fn`` runs after loading attribute/variable ``name`` and before storing it."""
    ins = list(dis.get_instructions(fn))
    first = next(i for i, x in enumerate(ins) if x.opname.startswith("LOAD") and x.argval == name)
    last = next(i for i, x in enumerate(ins) if x.opname.startswith("STORE") and x.argval == name)
    return [x.opname for x in ins[first + 1 : last]]


def switch_points(fn) -> list[str]:
    """Instructions of ``fn`` at which CPython 3.10+ may hand the GIL to another thread.

    The interpreter checks for a pending switch request only at some instructions: the start of
    a function (RESUME, 3.11+), a jump backwards (the end of a loop body) and calls.
    """
    names = []
    for ins in dis.get_instructions(fn):
        op = ins.opname
        if op == "RESUME" or "BACKWARD" in op or op == "JUMP_ABSOLUTE" or op.startswith("CALL"):
            names.append(op)
        elif op.startswith("JUMP") and ins.argval is not None and ins.argval < ins.offset:
            names.append(op)
    return names


# --- Lock, RLock, acquire with a timeout -----------------------------------------------------


def acquire_twice(lock, timeout: float = 0.2) -> tuple[bool, bool]:
    """The owner acquires ``lock`` and then acquires it again with a timeout.

    Returns (first acquire, second acquire) and releases whatever was acquired, so it can
    never hang and never leaves the lock held.
    """
    first = lock.acquire(timeout=timeout)
    second = lock.acquire(timeout=timeout)
    if second:
        lock.release()
    if first:
        lock.release()
    return first, second


def release_from_other_thread(lock, timeout: float = 5.0) -> str:
    """Acquire ``lock`` here, release it from another thread: 'released' or the exception's name."""
    if not lock.acquire(timeout=timeout):
        raise RuntimeError("lock busy")
    box = {}

    def other():
        try:
            lock.release()
            box["result"] = "released"
        except RuntimeError as exc:
            box["result"] = type(exc).__name__

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout)
    if box.get("result") != "released":
        lock.release()  # still ours: give it back
    return box["result"]


class HeldBy:
    """``with HeldBy(lock, seconds):`` another thread holds ``lock`` for ``seconds`` (or until the block ends)."""

    def __init__(self, lock, seconds: float = 5.0):
        self.lock = lock
        self.seconds = seconds
        self._taken = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._hold, name="holder")

    def _hold(self):
        with self.lock:
            self._taken.set()
            self._done.wait(self.seconds)

    def __enter__(self):
        self._thread.start()
        if not self._taken.wait(5):
            raise RuntimeError("the holder thread could not take the lock")
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join(self.seconds + 5)


def timed(fn) -> tuple[object, float]:
    """(fn(), seconds it took)."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


# --- deadlock --------------------------------------------------------------------------------


def two_lock_threads(ordered: bool, timeout: float = 0.5) -> dict[str, str]:
    """Two threads each need locks A and B. Unordered: one takes A then B, the other B then A.

    Both first take their first lock and wait at a barrier, so each holds what the other needs:
    the classic deadlock. The second acquire has a timeout, so instead of hanging for ever each
    thread reports 'gave up' and releases its first lock. With ``ordered=True`` both take A then
    B and both finish. Returns {thread name: 'got both' | 'gave up'}.
    """
    a, b = threading.Lock(), threading.Lock()
    plans = {"T1": (a, b), "T2": (a, b) if ordered else (b, a)}
    outcome = {}
    holding, tried = threading.Barrier(2), threading.Barrier(2)

    def worker(name, first, second):
        with first:
            if not ordered:
                holding.wait(5)  # both now hold their first lock
            if second.acquire(timeout=timeout):
                second.release()
                outcome[name] = "got both"
            else:
                outcome[name] = "gave up"
            if not ordered:
                tried.wait(timeout + 5)  # neither lets go before both have tried

    threads = [threading.Thread(target=worker, args=(n, *p), name=n) for n, p in plans.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    return dict(sorted(outcome.items()))


# --- single operations vs read-modify-write ------------------------------------------------------


class Key:
    """A dict key whose ``__hash__`` is Python code (like a dataclass key): hashing it is a call."""

    def __init__(self, name):
        self.name = name

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, Key) and other.name == self.name


def many_appends(threads: int = 4, n: int = 20000) -> int:
    """Every thread appends n items to one list (switch interval 1 µs); returns items missing."""
    items = []
    run_together(lambda i: [items.append(i) for _ in range(n)], threads, TINY_SWITCH)
    return threads * n - len(items)


def many_dict_stores(threads: int = 4, n: int = 5000) -> int:
    """Every thread stores n distinct keys with ``d[k] = v`` (switch interval 1 µs); returns keys missing."""
    d = {}

    def store(i):
        for j in range(n):
            d[Key((i, j))] = j

    run_together(store, threads, TINY_SWITCH)
    return threads * n - len(d)


def dict_increments(threads: int = 4, n: int = 5000) -> int:
    """``d[key] += 1`` from every thread on one key with a Python ``__hash__``; returns updates lost."""
    key = Key("hits")
    d = {key: 0}

    def bump(i):
        for _ in range(n):
            d[key] += 1

    run_together(bump, threads, TINY_SWITCH)
    return threads * n - d[key]


def check_then_act(threads: int = 4, n: int = 300) -> int:
    """``if k not in d: d[k] = []`` then ``d[k].append(...)``; returns appended items lost.

    sleep(0) between the test and the store stands for any switch there: a thread that found
    the key missing overwrites the list another thread already created and filled.
    """
    d = {}

    def fill(i):
        for k in range(n):
            if k not in d:
                time.sleep(0)
                d[k] = []
            d[k].append(i)

    run_together(fill, threads)
    return threads * n - sum(len(v) for v in d.values())


def global_adds(one=Fraction(1), threads: int = 4, n: int = 2000) -> int:
    """``x = x + one`` on a global from every thread (switch interval 1 µs); returns updates lost.

    With ``one`` a Fraction, ``+`` runs Python code (Fraction.__add__), a point where threads
    can switch between the read of x and the write.
    """
    state = {"x": one * 0}

    def add(i):
        for _ in range(n):
            state["x"] = state["x"] + one

    run_together(add, threads, TINY_SWITCH)
    return threads * n - int(state["x"])


# --- exercises ---------------------------------------------------------------------------------


def check_safe_add(safe_add, threads: int = 4, iterations: int = 300):
    """Exercise 4.1: ``safe_add(box, n, lock)`` must add n to box.value without losing updates."""

    def test():
        box, lock = Box(), threading.Lock()
        for i in range(3):
            box.value = 0
            run_together(lambda i: safe_add(box, iterations, lock), threads, timeout=20)
            expect_equal(box.value, threads * iterations, f"box.value after run {i + 1}")
        if lock.locked():
            raise AssertionError("the lock is still held after all threads finished: a missing release?")

    return check("safe_add loses no update", test, timeout=30)


class DeadlockSuspected(RuntimeError):
    """A lock could not be acquired within its timeout: probably a deadlock."""


class TimeoutLock:
    """A Lock for ``with`` whose acquire gives up after ``timeout`` s and raises DeadlockSuspected."""

    def __init__(self, name: str, timeout: float = 2.0):
        self.name = name
        self.timeout = timeout
        self._lock = threading.Lock()

    def __enter__(self):
        if not self._lock.acquire(timeout=self.timeout):
            raise DeadlockSuspected(f"could not get the lock of {self.name} in {self.timeout} s")
        time.sleep(0)  # let the other thread run now: makes a wrong lock order show quickly
        return self

    def __exit__(self, *exc):
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


class Account:
    """A bank account: ``number`` (unique), ``balance`` and ``lock`` (a TimeoutLock)."""

    def __init__(self, number: int, balance: int = 0):
        self.number = number
        self.balance = balance
        self.lock = TimeoutLock(f"account {number}")

    def __repr__(self):
        return f"Account({self.number}, balance={self.balance})"


def check_transfer(transfer, rounds: int = 300):
    """Exercise 4.2: ``transfer(src, dst, amount)`` under both locks, in both directions at once."""

    def test():
        a, b = Account(1, 1000), Account(2, 1000)
        errors = []

        def worker(src, dst):
            try:
                for _ in range(rounds):
                    transfer(src, dst, 1)
            except BaseException as exc:  # reported below
                errors.append(exc)

        run_together(lambda i: worker(a, b) if i == 0 else worker(b, a), 2, timeout=20)
        for exc in errors:
            if isinstance(exc, DeadlockSuspected):
                raise AssertionError(f"deadlock: {exc}; take the two locks in one global order")
            raise exc
        expect_equal(a.balance + b.balance, 2000, "total money")
        expect_equal((a.balance, b.balance), (1000, 1000), "balances after equal transfers both ways")
        if a.lock.locked() or b.lock.locked():
            raise AssertionError("a lock is still held after the transfers")

    return check("transfers both ways without deadlock", test, timeout=40)
