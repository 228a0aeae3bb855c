"""Checks for the exercises on locks: a counter that loses nothing, transfers without deadlock.

The learner's code gets objects made for checking: a :class:`WatchedLock` knows which thread holds it
and since which line, gives up (raising :class:`DeadlockSuspected`) instead of waiting for ever, and
can be *abandoned* after a verdict so that a wrong answer's threads run to their end; a box or an
account whose ``value``/``balance`` notes, at every read and write, whether the right locks were
held by the thread doing it. So the usual mistakes are found from what the code *did*, on any machine,
in every run, and the verdict says which line did it:

- a read or a write outside the lock, or the lock let go between the read and the write;
- a lock made inside the function (each call gets its own, and it protects nothing);
- a lock left held after an error (no ``with`` or ``finally``), or never released;
- two locks taken in opposite orders: a round in which each thread first takes one lock and waits
  for the other to take one too makes the deadlock certain, where one exists;
- a balance tested before the locks are taken (check-then-act): a round in which both threads read
  before either may go on makes the overdraft certain, where one can happen.
"""

from __future__ import annotations

import linecache
import sys
import threading
import time

from threadlab.checks import Verdict, check
from threadlab.checks.interleavings import LAB_SEARCH, accounts, also_show_schedule, explorable, prove, traced_functions
from threadlab.explorer import Lock, Program, State

__all__ = ["DeadlockSuspected", "WatchedLock", "check_safe_add", "check_transfer"]

PATIENCE = 1.0  #: seconds a blocking acquire waits before it is called a deadlock
JOIN = 6.0  #: seconds the threads of one round may take, all together
FORCED_WAIT = 0.3  #: seconds a forced interleaving waits for the other thread before it goes on alone
_HERE = __file__
_NOT_LEARNER = (_HERE, threading.__file__)


class DeadlockSuspected(RuntimeError):
    """A blocking acquire of a :class:`WatchedLock` waited its patience out; says who held the lock."""

    def __init__(self, lock: WatchedLock, owner: int | None, where: str):
        super().__init__(f"waited {lock.patience:g} s for {lock.name}" + (f", taken on {where}" if where else ""))
        self.lock, self.owner, self.where = lock, owner, where


class Injected(RuntimeError):
    """An error the check raises on purpose inside the learner's code (is the lock released?)."""


def learner_line(depth: int = 2) -> str:
    """'line 4 of safe_add (`seen = box.value`)': the innermost frame outside this module."""
    frame = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename in _NOT_LEARNER:
        frame = frame.f_back
    if frame is None:
        return "an unknown line"
    source = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    where = f"line {frame.f_lineno} of {frame.f_code.co_name}"
    return f"{where} (`{source}`)" if source else where


class WatchedLock:
    """A ``threading.Lock`` look-alike for checks (``with``, ``acquire``, ``release``, ``locked``).

    It records its owner and where it was taken; a blocking acquire without a timeout waits at most
    ``patience`` seconds and then raises :class:`DeadlockSuspected`; ``after_acquire(lock)`` is called
    right after every acquire (a hook to force interleavings); once ``abandoned`` is set every acquire
    succeeds at once and every release does nothing, so threads stuck in a wrong answer finish.
    """

    def __init__(self, name: str, patience: float = PATIENCE):
        self.name = name
        self.patience = patience
        self._lock = threading.Lock()
        self.owner: int | None = None  #: ident of the thread holding it
        self.where = ""  #: the line where the holder took it
        self.hold = 0  #: +1 at every acquire: tells one critical section from the next
        self.acquired_by: set[int] = set()  #: idents of the threads that ever held it
        self.after_acquire = None
        self.abandoned = False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.abandoned:
            return True
        forever = blocking and (timeout is None or timeout < 0)
        limit = self.patience if forever else (timeout if blocking else 0.0)
        deadline = time.monotonic() + limit
        while True:  # in slices, so that abandoning the lock frees its waiters
            remaining = deadline - time.monotonic()
            if blocking and remaining > 0:
                got = self._lock.acquire(timeout=min(0.05, remaining))
            else:
                got = self._lock.acquire(False)
            if got or self.abandoned or remaining <= 0:
                break
        if self.abandoned:
            if got:
                self._lock.release()
            return True
        if not got:
            if forever:
                raise DeadlockSuspected(self, self.owner, self.where)
            return False
        self.owner = threading.get_ident()
        self.where = learner_line()
        self.hold += 1
        self.acquired_by.add(self.owner)
        if self.after_acquire is not None:
            self.after_acquire(self)
        return True

    def release(self) -> None:
        if self.abandoned:
            return
        if not self._lock.locked():
            raise RuntimeError("release unlocked lock")
        self.owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked() and not self.abandoned

    def held_by_me(self) -> bool:
        return self.owner == threading.get_ident() and self._lock.locked()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return f"<WatchedLock {self.name}>"


def _run_together(targets: dict[str, callable], timeout: float = JOIN) -> tuple[dict[str, BaseException], list[str]]:
    """Run each target in a daemon thread, all released by one Barrier; join with one deadline.

    Returns ({thread name: exception raised}, [names of threads still running]).
    """
    barrier = threading.Barrier(len(targets))
    errors: dict[str, BaseException] = {}

    def body(name, fn):
        try:
            barrier.wait(timeout)
            fn()
        except BaseException as exc:  # reported by the caller
            errors[name] = exc

    threads = [threading.Thread(target=body, args=item, name=item[0], daemon=True) for item in targets.items()]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return errors, [t.name for t in threads if t.is_alive()]


def _wait_for_barrier(barrier: threading.Barrier) -> None:
    """Wait for the other thread of a forced interleaving, or go on alone after FORCED_WAIT s."""
    try:
        barrier.wait(FORCED_WAIT)
    except threading.BrokenBarrierError:
        pass


# --- Exercise: safe_add(box, n, lock) -----------------------------------------------------------


class CheckedBox:
    """``box.value`` for the check: every read and write notes whether ``lock`` was held, and held
    without a break from the read to the write. ``fail_at=k`` makes the k-th read raise :class:`Injected`."""

    def __init__(self, lock: WatchedLock, fail_at: int | None = None):
        self._value = 0
        self.lock = lock
        self.fail_at = fail_at
        self.reads = 0
        self.problems: list[str] = []
        self._hold_at_read: dict[int, int | None] = {}

    @property
    def value(self):
        self.reads += 1
        if self.fail_at is not None and self.reads == self.fail_at:
            raise Injected("reading box.value failed (an error the check raised on purpose)")
        if self.lock.held_by_me():
            self._hold_at_read[threading.get_ident()] = self.lock.hold
        else:
            self._hold_at_read[threading.get_ident()] = None
            self.problems.append(f"box.value was read on {learner_line()} while the lock was not held")
        return self._value

    @value.setter
    def value(self, new):
        if not self.lock.held_by_me():
            self.problems.append(f"box.value was written on {learner_line()} while the lock was not held")
        elif self._hold_at_read.get(threading.get_ident()) not in (None, self.lock.hold):
            self.problems.append(
                f"the lock was released between the read of box.value and the write on {learner_line()}: "
                "another thread can read the same value in between"
            )
        self._value = new


def _stuck_message(lock: WatchedLock, errors: dict, alive: list) -> str | None:
    if any(isinstance(e, DeadlockSuspected) for e in errors.values()):
        held = f", held since {lock.where}" if lock.locked() and lock.where else ""
        return (f"a thread waited {lock.patience:g} s for the lock{held}, and nobody released it. "
                "Every acquire needs its release: use `with lock:`")
    if alive:
        return (f"safe_add had not returned after {JOIN:g} s in {len(alive)} thread(s): an endless loop, "
                "or a wait that never ends?")
    return None


def check_safe_add(safe_add, threads: int = 4, n: int = 100, rounds: int = 2) -> Verdict:
    """Exercise: ``safe_add(box, n, lock)`` adds 1 to ``box.value`` n times (read, sleep(0), write),
    holding ``lock`` from each read to its write, and leaves the lock free even when a read raises."""

    def test():
        # 1. one thread: the arithmetic, and the lock used at all
        lock = WatchedLock("the lock")
        box = CheckedBox(lock)
        try:
            errors, alive = _run_together({"adder": lambda: safe_add(box, 3, lock)})
            if message := _stuck_message(lock, errors, alive):
                raise AssertionError(message)
            if errors:
                raise errors["adder"]
            if not lock.acquired_by:
                raise AssertionError("safe_add never acquired the lock it was given: hold `lock` from each read "
                                     "of box.value to the write (a Lock made inside safe_add would protect "
                                     "nothing: every call gets its own)")
            if box.problems:
                raise AssertionError(box.problems[0])
            if box._value != 3:
                raise AssertionError(f"safe_add(box, 3, lock) from 0: expected box.value == 3, got {box._value}")
            if lock.locked():
                raise AssertionError(f"the lock is still held after safe_add returned (taken on {lock.where})")
        finally:
            lock.abandoned = True

        # 2. several threads at once, sharing one box and one lock
        for _ in range(rounds):
            lock = WatchedLock("the lock")
            box = CheckedBox(lock)
            try:
                adders = {f"adder-{i}": lambda box=box, lock=lock: safe_add(box, n, lock) for i in range(threads)}
                errors, alive = _run_together(adders)
                if message := _stuck_message(lock, errors, alive):
                    raise AssertionError(message)
                if errors:
                    raise next(iter(errors.values()))
                if box.problems:
                    others = len(box.problems) - 1
                    more = f" (and {others} more times)" if others else ""
                    raise AssertionError(f"{box.problems[0]}{more}. Hold the lock from the read of box.value "
                                         "to the write, in one `with lock:` block")
                made = threads * n
                if box._value != made:
                    raise AssertionError(f"{threads} threads each added {n}: expected box.value == {made}, "
                                         f"got {box._value} ({made - box._value} updates lost)")
            finally:
                lock.abandoned = True

        # 3. an error between acquire and release must not leave the lock held
        lock = WatchedLock("the lock")
        box = CheckedBox(lock, fail_at=2)
        try:
            errors, alive = _run_together({"adder": lambda: safe_add(box, 3, lock)})
            if message := _stuck_message(lock, errors, alive):
                raise AssertionError(message)
            error = errors.get("adder")
            if error is not None and not isinstance(error, Injected):
                raise error
            if lock.locked():
                raise AssertionError(f"when reading box.value raised an error, the lock taken on {lock.where} "
                                     "stayed held, and every later acquire would wait for ever. "
                                     "Use `with lock:` (or release it in a `finally:` block)")
        finally:
            lock.abandoned = True

    return check("safe_add loses no update", also_show_schedule(test, lambda: explore_safe_add(safe_add)), timeout=9)


# --- Exercise: transfer(src, dst, amount) -----------------------------------------------------------


class CheckedAccount:
    """An account for the check: ``number``, ``lock`` (a WatchedLock) and ``balance``, whose every
    write notes whether the writing thread held the locks of *both* accounts of the pair."""

    def __init__(self, number: int, balance: int):
        self.number = number
        self.lock = WatchedLock(f"account {number}'s lock")
        self._balance = balance
        self.partner: CheckedAccount | None = None
        self.problems: list[str] = []
        self.read_hook = None  # called at every read (forced interleavings)

    @property
    def balance(self):
        value = self._balance
        if self.read_hook is not None:
            self.read_hook(self)  # after the read: what this thread saw may be out of date when it goes on
        return value

    @balance.setter
    def balance(self, new):
        missing = [a for a in (self, self.partner) if a is not None and not a.lock.held_by_me()]
        if missing:
            names = " and ".join(f"account {a.number}'s lock" for a in missing)
            self.problems.append(f"account {self.number}'s balance was changed on {learner_line()} while {names} "
                                 "was not held. Hold both accounts' locks while you move the money")
        self._balance = new

    def __repr__(self):
        return f"Account({self.number}, balance={self._balance})"


def _pair(balance_a: int = 1000, balance_b: int = 1000) -> tuple[CheckedAccount, CheckedAccount]:
    a, b = CheckedAccount(1, balance_a), CheckedAccount(2, balance_b)
    a.partner, b.partner = b, a
    return a, b


def _held_locks(accounts, ident) -> str:
    return " and ".join(f"account {a.number}'s" for a in accounts if a.lock.owner == ident) or "no"


def _transfer_problems(accounts) -> None:
    for account in accounts:
        if account.problems:
            raise AssertionError(account.problems[0])


def _release_all(accounts) -> None:
    for account in accounts:
        account.lock.abandoned = True


def check_transfer(transfer) -> Verdict:
    """Exercise: ``transfer(src, dst, amount)`` moves money holding both accounts' locks, takes them in
    one global order (no deadlock when transfers run both ways at once), raises ValueError and moves
    nothing when ``src`` has less than ``amount``, and never leaves a lock held."""

    def one(name, fn, what):
        errors, alive = _run_together({name: fn})
        if alive or isinstance(errors.get(name), DeadlockSuspected):
            raise AssertionError(f"{what} waited {PATIENCE:g} s for a lock held by nobody else: a lock taken "
                                 "twice, or never released?")
        return errors.get(name)

    def test():
        # 1. one transfer, alone: the arithmetic and the locks
        a, b = _pair()
        try:
            error = one("transfer", lambda: transfer(a, b, 30), "transfer(account 1, account 2, 30)")
            if error is not None:
                raise error
            if not (a.lock.acquired_by and b.lock.acquired_by):
                unused = " and ".join(f"account {x.number}'s" for x in (a, b) if not x.lock.acquired_by)
                raise AssertionError(f"transfer never took {unused} lock: hold both accounts' locks while you "
                                     "move the money")
            _transfer_problems((a, b))
            if (a._balance, b._balance) != (970, 1030):
                raise AssertionError(f"transfer(account 1, account 2, 30) from 1000 and 1000: expected balances "
                                     f"970 and 1030, got {a._balance} and {b._balance}")
            if a.lock.locked() or b.lock.locked():
                raise AssertionError("a lock is still held after transfer returned: release both")
        finally:
            _release_all((a, b))

        # 2. not enough money: ValueError, nothing moved, no lock left held
        a, b = _pair(20, 0)
        try:
            error = one("transfer", lambda: transfer(a, b, 50), "transfer(account 1, account 2, 50)")
            _transfer_problems((a, b))
            if not isinstance(error, ValueError):
                if error is not None:
                    raise error
                raise AssertionError(f"account 1 had 20 and transfer(account 1, account 2, 50) did not raise "
                                     f"ValueError (balances now {a._balance} and {b._balance}). Test the "
                                     "balance and raise ValueError before moving anything")
            if (a._balance, b._balance) != (20, 0):
                raise AssertionError(f"after the ValueError, expected balances 20 and 0 (nothing moved), got "
                                     f"{a._balance} and {b._balance}")
            held = [x for x in (a, b) if x.lock.locked()]
            if held:
                raise AssertionError(f"after transfer raised ValueError, {held[0].lock.name} (taken on "
                                     f"{held[0].lock.where}) was still held: every later transfer would wait "
                                     "for ever. Use `with` (or release the locks in a `finally:` block)")
        finally:
            _release_all((a, b))

        # 3. both directions at once, each thread first holding one lock: a deadlock if there is one
        a, b = _pair()
        both_hold_one = threading.Barrier(2)
        first_acquire = {}
        names = {}
        try:
            for account in (a, b):
                account.lock.after_acquire = lambda lock: _first_acquire_waits(lock, first_acquire, both_hold_one)

            def forward():
                names[threading.get_ident()] = "transfer(1 → 2)"
                transfer(a, b, 1)

            def backward():
                names[threading.get_ident()] = "transfer(2 → 1)"
                transfer(b, a, 1)

            errors, alive = _run_together({"transfer(1 → 2)": forward, "transfer(2 → 1)": backward})
            stuck = {who: e for who, e in errors.items() if isinstance(e, DeadlockSuspected)}
            if stuck or alive:
                detail = "; ".join(f"{who} waited for {e.lock.name}, which {names.get(e.owner, 'the other')} "
                                   f"had taken on {e.where}" for who, e in stuck.items())
                raise AssertionError(
                    "deadlock: with transfer(1 → 2) and transfer(2 → 1) running at once, each took one lock "
                    f"and waited for the other{': ' + detail if detail else ''}. Take the two locks in one "
                    "global order, the same for every transfer (for example by account number)")
            if errors:
                raise next(iter(errors.values()))
            _transfer_problems((a, b))
            if (a._balance, b._balance) != (1000, 1000):
                raise AssertionError(f"after one transfer of 1 each way, expected balances 1000 and 1000, got "
                                     f"{a._balance} and {b._balance}")
        finally:
            _release_all((a, b))

        # 4. two transfers of everything at once, both reading the balance first: one must fail
        a, b = _pair(1000, 0)
        both_read = threading.Barrier(2)
        readers = set()

        def read_hook(account):
            me = threading.get_ident()
            if me not in readers:
                readers.add(me)
                _wait_for_barrier(both_read)

        a.read_hook = read_hook
        try:
            errors, alive = _run_together({"first": lambda: transfer(a, b, 1000), "second": lambda: transfer(a, b, 1000)})
            if alive or any(isinstance(e, DeadlockSuspected) for e in errors.values()):
                raise AssertionError("two transfer(account 1, account 2, 1000) at once did not finish: a lock "
                                     "waited for that nobody released")
            _transfer_problems((a, b))
            if a._balance < 0:
                raise AssertionError(
                    f"account 1 held 1000 and two transfer(account 1, account 2, 1000) ran at once: its balance "
                    f"went to {a._balance}. Both read the balance before either had taken the money "
                    "(check-then-act): test the balance after taking the locks, while you hold them")
            others = [e for e in errors.values() if not isinstance(e, ValueError)]
            if others:
                raise others[0]
            if len(errors) != 1 or (a._balance, b._balance) != (0, 1000):
                raise AssertionError(f"two transfers of 1000 from an account holding 1000: expected one to move "
                                     f"the money and one ValueError, got {len(errors)} ValueError(s) and balances "
                                     f"{a._balance} and {b._balance}")
        finally:
            _release_all((a, b))

        # 5. many transfers both ways: no money made or lost, no lock left held
        a, b = _pair()
        try:
            def many(src, dst, amounts):
                for amount in amounts:
                    transfer(src, dst, amount)

            amounts = [1 + (7 * k) % 5 for k in range(100)]
            errors, alive = _run_together({"1 to 2": lambda: many(a, b, amounts), "2 to 1": lambda: many(b, a, amounts)})
            if alive or any(isinstance(e, DeadlockSuspected) for e in errors.values()):
                raise AssertionError("100 transfers each way at once did not finish: a deadlock now and then? "
                                     "Take the two locks in one global order")
            if errors:
                raise next(iter(errors.values()))
            _transfer_problems((a, b))
            if (a._balance, b._balance) != (1000, 1000):
                raise AssertionError(f"after the same 100 transfers each way, expected balances 1000 and 1000, "
                                     f"got {a._balance} and {b._balance}")
            if a.lock.locked() or b.lock.locked():
                raise AssertionError("a lock is still held after all transfers returned")
        finally:
            _release_all((a, b))

    return check("transfers both ways without deadlock", also_show_schedule(test, lambda: explore_transfer(transfer)),
                 timeout=9)


def _first_acquire_waits(lock: WatchedLock, first: dict, barrier: threading.Barrier) -> None:
    """The first lock each thread takes: wait (a little) until the other thread holds one too."""
    me = threading.get_ident()
    if me not in first:
        first[me] = lock
        _wait_for_barrier(barrier)


# --- every schedule of two threads, with the explorer (see threadlab.checks.interleavings) ----------


class _Box:
    def __init__(self):
        self.value = 0

    def __repr__(self):
        return f"box(value={self.value})"


def explore_safe_add(safe_add) -> None:
    """Two threads call ``safe_add(box, 2, lock)`` on one box and one lock: in every schedule (one
    switch before any bytecode, two between lines) the box ends at 4 and the lock is free."""
    copy = explorable(safe_add)

    def add_two(s):
        copy(s.box, 2, s.lock)

    def four(s):
        if s.box.value != 4 or s.lock.locked():
            raise AssertionError(f"two threads each added 2: box.value is {s.box.value} (expected 4)"
                                 + (", and the lock is still held" if s.lock.locked() else ": an update was lost"))

    prove(Program(add_two, add_two, setup=lambda: State(box=_Box(), lock=Lock("lock")), final=four,
                  trace=traced_functions(copy), name="two threads call safe_add(box, 2, lock)"),
          "hold the lock from the read of box.value to the write, in one `with lock:` block", searches=LAB_SEARCH)


def explore_transfer(transfer) -> None:
    """Transfers both ways between two accounts at once (no deadlock, no money lost), and two
    transfers of 60 from an account of 100 (one raises ValueError, no overdraft, no lock left held)."""
    copy = explorable(transfer)
    trace = traced_functions(copy)

    def pay(s, src, dst, amount):
        try:
            copy(getattr(s, src), getattr(s, dst), amount)
        except ValueError:
            s.refused += 1

    def both_ways(s):
        if (s.a.balance, s.b.balance) != (100, 100) or s.a.lock.locked() or s.b.lock.locked():
            raise AssertionError(f"after transfers of 10 both ways: {s.a!r}, {s.b!r}; expected balances 100 and 100 "
                                 "and both locks free")

    def one_refused(s):
        held = [acc for acc in (s.a, s.b, s.c) if acc.lock.locked()]
        if s.refused != 1 or s.a.balance != 40 or held:
            raise AssertionError(f"two transfers of 60 from 100: {s.refused} raised ValueError, {s.a!r}, {s.b!r}, "
                                 f"{s.c!r}; expected one ValueError, balance 40 left and every lock free")

    hint = ("take both locks in one global order (sorted by number) before you test the balance, and hold both "
            "until the money has moved")
    prove(Program((pay, "a", "b", 10), (pay, "b", "a", 10), setup=lambda: accounts(100, 100, refused=0),
                  final=both_ways, trace=trace, name="transfer(a, b, 10) and transfer(b, a, 10) at the same time"),
          hint, searches=LAB_SEARCH)
    prove(Program((pay, "a", "b", 60), (pay, "a", "c", 60), setup=lambda: accounts(100, 0, 0, refused=0),
                  final=one_refused, trace=trace, name="transfer(a, b, 60) and transfer(a, c, 60) from 100"),
          hint, searches=LAB_SEARCH)
