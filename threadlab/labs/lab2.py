"""Lab 2 (races and locks): accounts with watched locks, and a harness that runs threads for the checks.

Nothing here is an answer to the lab. :class:`Account` is what exercise 3's ``transfer`` works on:
its lock is an :class:`AccountLock`, the course's traced lock (:class:`threadlab.labcheck.TracedLock`)
with a name, so it records who holds it and who waits for it; an :class:`AccountMonitor` reads those
records for the accounts of one bank. :func:`run_threads` starts the threads of a check all at once
and waits for them; when the monitor's wait-for graph has a cycle (a deadlock) it reports which
thread holds and waits for which lock, then *breaks* the deadlock: every waiting ``acquire`` raises
:class:`LockBroken`, so the learner's threads unwind, release what they hold and end, and the
kernel is left with no stuck thread.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import traceback
from typing import Callable

from threadlab.labcheck import TracedLock, find_cycle, wait_for_graph

POLL = 0.005  #: seconds between two looks at the wait-for graph
SLICE = 0.02  #: a blocked acquire wakes up this often to see whether its deadlock was broken


class LockBroken(RuntimeError):
    """Raised inside a thread whose acquire was part of a deadlock that the check broke."""


def _names() -> dict[int, str]:
    return {t.ident: t.name for t in threading.enumerate()}


class AccountMonitor:
    """The account locks of one bank: who holds which, who waits for which, and a deadlock if any.

    ``owners`` ({lock name: thread name}), ``waiting`` ({thread name: lock name}) and
    :meth:`wait_for_graph` are read from the traced locks' records at the moment you ask. Setting
    ``broken`` makes every waiting ``acquire`` of these locks raise :class:`LockBroken`.
    """

    def __init__(self):
        self.locks: list[AccountLock] = []
        self.broken = threading.Event()

    def lock(self, name: str) -> AccountLock:
        return AccountLock(name, self)

    @property
    def owners(self) -> dict[str, str]:
        names = _names()
        return {lock.name: names.get(h, f"thread {h}") for lock in self.locks for h in lock.holders()[:1]}

    @property
    def waiting(self) -> dict[str, str]:
        names = _names()
        return {names.get(ident, f"thread {ident}"): lock.name for lock in self.locks for ident in lock.waiters()}

    def wait_for_graph(self) -> dict[str, str]:
        """{waiting thread: thread that holds the lock it waits for}, by thread name."""
        names = _names()
        return {names.get(w, f"thread {w}"): names.get(h, f"thread {h}") for w, h in wait_for_graph(self.locks).items()}

    def deadlock(self) -> list[str] | None:
        """The names of the threads on a wait-for cycle, or None."""
        cycle = find_cycle(wait_for_graph(self.locks))  # found on thread idents: names need not be unique
        if cycle is None:
            return None
        names = _names()
        return [names.get(ident, f"thread {ident}") for ident in cycle]

    def report(self) -> list[str]:
        """One line per waiting thread: what it holds, what it waits for, who holds that."""
        owners, waiting = self.owners, self.waiting
        lines = []
        for thread, lock in sorted(waiting.items()):
            held = sorted(name for name, owner in owners.items() if owner == thread)
            holds = f"holds {', '.join(held)}" if held else "holds nothing"
            lines.append(f"{thread} {holds}; waits for {lock}, held by {owners.get(lock, 'nobody')}")
        return lines


class AccountLock(TracedLock):
    """A ``threading.Lock`` with a name, watched by an :class:`AccountMonitor`.

    Same interface as a Lock: ``acquire(blocking=True, timeout=-1)``, ``release()``, ``locked()``
    and ``with``. Right after a successful acquire the thread gives up the GIL (``time.sleep(0)``),
    so another thread can take its own first lock before this one asks for its second: an answer
    that takes two locks in opposite orders deadlocks in every run instead of now and then.
    A blocked acquire waits in short slices; once the monitor is broken it raises
    :class:`LockBroken` instead of waiting for ever. So does a thread that asks, without a timeout,
    for a lock it already holds (a plain Lock would wait for ever there).
    """

    def __init__(self, name: str, monitor: AccountMonitor):
        super().__init__(name)
        self.monitor = monitor
        monitor.locks.append(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if timeout != -1 and not blocking:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number")
        if blocking and timeout == -1 and threading.get_ident() in self.holders():
            raise LockBroken(
                f"{threading.current_thread().name} already holds {self.name} and asked for it again: a Lock is "
                "not re-entrant, so this acquire would wait for ever"
            )
        got = super().acquire(blocking, timeout)
        if got:
            time.sleep(0)  # let the other threads run now: a wrong lock order then deadlocks at once
        return got

    __enter__ = acquire

    def _wait(self, raw_acquire, timeout) -> bool:
        deadline = None if timeout == -1 else time.monotonic() + timeout
        while True:
            if self.monitor.broken.is_set():
                raise LockBroken(
                    f"{threading.current_thread().name} was stuck waiting for {self.name}: the check broke the deadlock"
                )
            wait = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
            if wait <= 0:
                return False
            if raw_acquire(True, wait):
                return True

    def __repr__(self):
        owner = self.monitor.owners.get(self.name)
        return f"<AccountLock {self.name} {'held by ' + owner if owner else 'free'}>"


class Account:
    """A bank account: ``number``, ``balance`` and ``lock`` (an :class:`AccountLock`).

    >>> a = Account(1, 100)
    >>> a
    Account(1, balance=100)
    >>> with a.lock:
    ...     a.lock.locked()
    True
    """

    def __init__(self, number: int, balance: int = 0, monitor: AccountMonitor | None = None):
        self.number = number
        self.balance = balance
        self.lock = AccountLock(f"account {number}", monitor if monitor is not None else AccountMonitor())

    def __repr__(self):
        return f"Account({self.number}, balance={self.balance})"


def open_accounts(*balances: int) -> list[Account]:
    """Accounts numbered 1, 2, ... with these balances, all watched by one :class:`AccountMonitor`.

    >>> a, b = open_accounts(10, 20)
    >>> a.number, b.number, a.lock.monitor is b.lock.monitor
    (1, 2, True)
    """
    monitor = AccountMonitor()
    return [Account(i, balance, monitor) for i, balance in enumerate(balances, start=1)]


def deadlock_report(monitor: AccountMonitor, cycle: list[str]) -> str:
    """One line per thread of the cycle: what it holds, what it waits for, who holds that."""
    lines = [line for line in monitor.report() if any(line.startswith(f"{name} ") for name in cycle)]
    return "; ".join(lines)


def stacks_of(threads: list[threading.Thread], last: int = 2) -> str:
    """The last ``last`` frames of each thread still alive, for a 'still running' message."""
    frames = sys._current_frames()
    parts = []
    for t in threads:
        frame = frames.get(t.ident)
        if t.is_alive() and frame is not None:
            where = traceback.extract_stack(frame)[-last:]
            parts.append(f"{t.name} at " + " <- ".join(f"{f.name}() line {f.lineno}" for f in reversed(where)))
    return "; ".join(parts)


def run_threads(
    targets: list[Callable[[], object]],
    names: list[str] | None = None,
    monitor: AccountMonitor | None = None,
    timeout: float = 20.0,
    hint: str = "",
) -> list:
    """Run each target in its own daemon thread, all starting together; return their results.

    - The threads wait at a Barrier, so none gets a head start.
    - An exception in a thread is raised again here once all threads ended (the first one).
    - With a ``monitor``: if its locks deadlock, raise an AssertionError saying which thread holds
      and waits for which lock (plus ``hint``), after breaking the deadlock so every thread ends.
    - A thread still running after ``timeout`` s: AssertionError (deadlock or endless loop).
    """
    names = names or [f"worker-{i}" for i in range(1, len(targets) + 1)]
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list[BaseException] = []

    def body(i, target):
        try:
            barrier.wait(timeout)
            results[i] = target()
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=body, args=(i, t), name=name, daemon=True)
        for i, (t, name) in enumerate(zip(targets, names))
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    report = None
    while alive := [t for t in threads if t.is_alive()]:
        if monitor is not None:
            cycle = monitor.deadlock()
            if cycle:
                report = deadlock_report(monitor, cycle)
                monitor.broken.set()
                break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"threads still running after {timeout:g} s (a deadlock or an endless loop?): {stacks_of(threads)}"
            )
        alive[0].join(POLL)
    if report is not None:
        for t in threads:
            t.join(5)
        stuck = [t.name for t in threads if t.is_alive()]
        after = f" ({', '.join(stuck)} did not end after the deadlock was broken)" if stuck else ""
        raise AssertionError(f"deadlock: {report}{after}." + (f" Hint: {hint}" if hint else ""))
    errors = [e for e in errors if not isinstance(e, LockBroken)] or errors
    if errors:
        raise errors[0]
    return results


def run_audited(
    bodies: list[Callable[[], object]],
    audit: Callable[[], object],
    names: list[str] | None = None,
    monitor: AccountMonitor | None = None,
    timeout: float = 20.0,
    hint: str = "",
) -> tuple[list, list]:
    """:func:`run_threads` on ``bodies`` plus an auditor thread that calls ``audit()`` again and
    again until every body has returned (at least once, at most until ``timeout``).

    Returns (the bodies' results, the list of what ``audit()`` returned).

    >>> results, audits = run_audited([lambda: 1, lambda: 2], lambda: "seen")
    >>> results, audits[0], len(audits) >= 1
    ([1, 2], 'seen', True)
    """
    left = [len(bodies)]
    guard = threading.Lock()
    finished = threading.Event()
    broken = monitor.broken if monitor is not None else threading.Event()

    def counted(body):
        def run():
            try:
                return body()
            finally:
                with guard:
                    left[0] -= 1
                    if left[0] == 0:
                        finished.set()

        return run

    def auditor():
        seen = [audit()]
        deadline = time.monotonic() + timeout
        while not finished.is_set() and not broken.is_set() and time.monotonic() < deadline:
            seen.append(audit())
        return seen

    names = (names or [f"worker-{i}" for i in range(1, len(bodies) + 1)]) + ["auditor"]
    *results, audits = run_threads([counted(b) for b in bodies] + [auditor], names, monitor, timeout, hint)
    return results, audits


class SlowAmount(int):
    """An int that pauses (``time.sleep(pause)``, so other threads run) inside every sum,
    difference and comparison it takes part in, then gives a plain int or bool as usual.

    Passed as the ``amount`` of a transfer, it holds a thread in the middle of its
    ``balance - amount`` / ``balance + amount`` / ``balance >= amount`` for a moment: whatever
    another thread sees then (a total, a balance) is what it would see in the worst interleaving.

    >>> ten = SlowAmount(10, pause=0.0)
    >>> 100 - ten, 5 + ten, 10 >= ten, type(100 - ten).__name__
    (90, 15, True, 'int')
    """

    pause: float

    def __new__(cls, value: int, pause: float = 1e-4):
        self = super().__new__(cls, value)
        self.pause = pause
        return self

    def _wait(self):
        time.sleep(self.pause)

    def __add__(self, other):
        self._wait()
        return int(self) + other

    def __radd__(self, other):
        self._wait()
        return other + int(self)

    def __sub__(self, other):
        self._wait()
        return int(self) - other

    def __rsub__(self, other):
        self._wait()
        return other - int(self)

    def __lt__(self, other):
        self._wait()
        return int(self) < other

    def __le__(self, other):
        self._wait()
        return int(self) <= other

    def __gt__(self, other):
        self._wait()
        return int(self) > other

    def __ge__(self, other):
        self._wait()
        return int(self) >= other

    __hash__ = int.__hash__

    def __repr__(self):
        return repr(int(self))


def calls(fn: Callable, n: int, *args) -> Callable[[], list]:
    """A thread body that calls ``fn(*args)`` ``n`` times and returns the list of what it returned.

    >>> calls(pow, 3, 2, 5)()
    [32, 32, 32]
    """
    return lambda: [fn(*args) for _ in range(n)]


def random_transfers(transfer: Callable, accounts: list, seed: int, n: int = 200, most: int = 30) -> Callable[[], int]:
    """A thread body: ``n`` calls ``transfer(src, dst, amount)`` between random pairs of ``accounts``.

    Random but repeatable (``seed``); amounts are 1..``most``. The body returns how many calls
    returned a true value (transfers that went through).

    >>> moves = []
    >>> random_transfers(lambda s, d, a: moves.append((s, d, a)) or True, [0, 1, 2], seed=1, n=5)()
    5
    >>> all(s != d and 1 <= a <= 30 for s, d, a in moves)
    True
    """

    def body() -> int:
        rng = random.Random(seed)
        done = 0
        for _ in range(n):
            src, dst = rng.sample(accounts, 2)
            done += bool(transfer(src, dst, rng.randint(1, most)))
        return done

    return body


class YieldingLock:
    """A lock (or RLock, Condition...) whose ``release`` gives up the GIL right after releasing.

    Another thread then runs right after every release, so code that uses a value after leaving
    the locked block (``with lock: x += 1`` then ``return x``) meets the thread that changed it in
    between. Everything else is the wrapped lock's own.

    >>> lock = YieldingLock(threading.Lock())
    >>> with lock:
    ...     lock.locked()
    True
    >>> lock.locked()
    False
    """

    def __init__(self, inner):
        self._inner = inner

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._inner.acquire(blocking, timeout)

    def release(self) -> None:
        self._inner.release()
        time.sleep(0)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __repr__(self):
        return f"<YieldingLock {self._inner!r}>"


def _lock_like(value) -> bool:
    return callable(getattr(value, "acquire", None)) and callable(getattr(value, "release", None))


def with_yielding_locks(factory: Callable[[], object]):
    """``factory()`` with every lock it makes or keeps wrapped in a :class:`YieldingLock`.

    Locks made by ``threading.Lock()``/``threading.RLock()`` while ``factory`` runs are wrapped, and
    so is any lock-like attribute of the object it returns.

    >>> class Box:
    ...     def __init__(self):
    ...         self.lock = threading.Lock()
    >>> type(with_yielding_locks(Box).lock).__name__
    'YieldingLock'
    """
    made_lock, made_rlock = threading.Lock, threading.RLock
    threading.Lock = lambda *a, **k: YieldingLock(made_lock(*a, **k))
    threading.RLock = lambda *a, **k: YieldingLock(made_rlock(*a, **k))
    try:
        obj = factory()
    finally:
        threading.Lock, threading.RLock = made_lock, made_rlock
    for name, value in list(getattr(obj, "__dict__", {}).items()):
        if _lock_like(value) and not isinstance(value, YieldingLock):
            setattr(obj, name, YieldingLock(value))
    return obj


class Background:
    """Call ``fn()`` in a daemon thread now; ``done(seconds)`` tells whether it has returned.

    >>> job = Background(lambda: 6 * 7)
    >>> job.done(5), job.result()
    (True, 42)
    """

    def __init__(self, fn: Callable[[], object], name: str = "background"):
        self._box: dict = {}

        def body():
            try:
                self._box["value"] = fn()
            except BaseException as exc:  # given to the caller by result()
                self._box["error"] = exc

        self.thread = threading.Thread(target=body, name=name, daemon=True)
        self.thread.start()

    def done(self, seconds: float) -> bool:
        self.thread.join(seconds)
        return not self.thread.is_alive()

    def result(self):
        if "error" in self._box:
            raise self._box["error"]
        return self._box.get("value")


# --- every schedule of two threads, with the explorer -----------------------------------------
#
# The amplified tests above make races likely; these make them certain. Each runs the learner's
# own class or function (copied by threadlab.checks.interleavings.explorable, so its locks are the
# explorer's) in a program of two threads, and tries every schedule with at most two preemptions.
# A failing one is shown as a table, with the call that opens it in the explorer widget.


def _explore(program_of, *code, hint: str):
    from threadlab.checks.interleavings import LAB_SEARCH, Unexplorable, explorable, prove, traced_functions

    try:
        copies = explorable(*code)
        copies = copies if isinstance(copies, tuple) else (copies,)
        for program in program_of(*copies, trace=traced_functions(*copies)):
            prove(program, hint, searches=LAB_SEARCH)
    except Unexplorable as exc:
        print(f"  (not explored schedule by schedule: {exc}; the amplified tests checked it instead)")


def explore_counter(counter_class) -> None:
    """Two threads call ``increment()`` once each on a new counter: in every schedule the value
    ends at 2 and the two calls return the tickets 1 and 2."""
    from threadlab.explorer import Program, State

    def increment_once(s):
        s.tickets.append(s.counter.increment())

    def both_counted(s):
        value = s.counter.value
        if value != 2:
            raise AssertionError(f"counter.value is {value} after two increments: an increment was lost")
        if sorted(s.tickets) != [1, 2]:
            raise AssertionError(f"the two increment() calls returned the tickets {s.tickets}, expected 1 and 2")

    def programs(counter, trace):
        yield Program(increment_once, increment_once, setup=lambda: State(counter=counter(), tickets=[]),
                      final=both_counted, trace=trace, name="two threads call increment() once each")

    _explore(programs, counter_class,
             hint="hold the lock around the read, the write and the read of the value you return")


def explore_bank(bank_class) -> None:
    """Two programs of two threads on a new bank: two transfers of 80 from an account of 100 (one
    must be refused, no balance below zero), and an audit while a transfer runs (total() must see
    100, never a transfer half done)."""
    from threadlab.explorer import Program, State

    def spend_80(s, dst):
        s.results.append(s.bank.transfer(0, dst, 80))

    def one_transfer(s):
        balances = [s.bank.balance(i) for i in range(3)]
        if sorted(s.results, key=str) != [False, True] or min(balances) < 0 or sum(balances) != 100:
            raise AssertionError(f"two transfers of 80 from 100 returned {s.results}, balances {balances}: expected "
                                 "one True and one False, no balance below zero (an overdraft)")

    def move_30(s):
        s.bank.transfer(0, 1, 30)

    def audit(s):
        s.totals.append(s.bank.total())

    def audit_right(s):
        if s.totals != [100]:
            raise AssertionError(f"total() returned {s.totals[0]} while a transfer ran, expected 100: it saw the "
                                 "transfer half done")

    def programs(bank, trace):
        yield Program((spend_80, 1), (spend_80, 2), setup=lambda: State(bank=bank([100, 0, 0]), results=[]),
                      final=one_transfer, trace=trace, name="two transfers of 80 from account 0 (balance 100)")
        yield Program(move_30, audit, setup=lambda: State(bank=bank([100, 0]), totals=[]),
                      final=audit_right, trace=trace, name="transfer(0, 1, 30) while another thread calls total()")

    _explore(programs, bank_class, hint="test the balance and make both updates in one `with self._lock:` block, "
                                        "and read the total under the same lock")


def explore_transfer(transfer) -> None:
    """Three programs of two threads: transfers between accounts 1 and 2 in both directions at once
    (no deadlock, no money lost), two transfers of 60 from an account of 100 (one refused, no lock
    left held), and two transfers into the same account (no payment lost)."""
    from threadlab.explorer import Program, State

    def accounts(*balances):
        from threadlab.checks.interleavings import accounts as explored_accounts

        return explored_accounts(*balances, results=[])

    def pay(s, src, dst, amount):
        s.results.append(transfer_copy[0](getattr(s, src), getattr(s, dst), amount))

    def both_ways_done(s):
        if (s.a.balance, s.b.balance) != (100, 100) or s.a.lock.locked() or s.b.lock.locked():
            raise AssertionError(f"after transfers of 10 both ways: {s.a!r}, {s.b!r}; expected balances 100 and 100 "
                                 "and both locks free")

    def one_paid(s):
        if sorted(s.results, key=str) != [False, True] or s.a.balance < 0 or s.a.balance + s.b.balance + s.c.balance != 100:
            raise AssertionError(f"two transfers of 60 from 100 returned {s.results}: {s.a!r}, {s.b!r}, {s.c!r}; "
                                 "expected one True, one False and no overdraft")
        held = [acc for acc in (s.a, s.b, s.c) if acc.lock.locked()]
        if held:
            raise AssertionError(f"after one transfer was refused, {held[0]!r}: a lock was never released, and every "
                                 "later transfer of that account would wait for ever")

    def both_paid_in(s):
        if (s.a.balance, s.b.balance, s.c.balance) != (90, 90, 20):
            raise AssertionError(f"after transfer(a, c, 10) and transfer(b, c, 10): {s.a!r}, {s.b!r}, {s.c!r}; "
                                 "expected balances 90, 90 and 20: a payment into account 3 was lost")

    transfer_copy = []

    def programs(copy, trace):
        transfer_copy.append(copy)
        yield Program((pay, "a", "b", 10), (pay, "b", "a", 10), setup=lambda: accounts(100, 100),
                      final=both_ways_done, trace=trace,
                      name="transfer(a, b, 10) and transfer(b, a, 10) at the same time")
        yield Program((pay, "a", "b", 60), (pay, "a", "c", 60), setup=lambda: accounts(100, 0, 0),
                      final=one_paid, trace=trace, name="transfer(a, b, 60) and transfer(a, c, 60) from 100")
        yield Program((pay, "a", "c", 10), (pay, "b", "c", 10), setup=lambda: accounts(100, 100, 0),
                      final=both_paid_in, trace=trace, name="transfer(a, c, 10) and transfer(b, c, 10) at the same time")

    _explore(programs, transfer, hint="take both accounts' locks in one global order (the smaller account number "
                                      "first) before you test the balance, and hold both until the money has moved")
