"""Checks for the exercises on schedules (lesson 15): every interleaving, not a lucky run.

- :func:`check_safe_withdraw`  a withdrawal that checks and subtracts in one critical section
- :func:`check_lock_order`     a second thread that takes two locks in the same order as the first
- :func:`check_consumer`       a consumer that waits for an item in a loop
- :func:`check_slot_wait`      a scanner's "wait for a free slot" without a lost wakeup

Each check puts the learner's thread bodies into a small program of its own (the shared state, the
other threads, what must hold) and lets :meth:`threadlab.explorer.Program.search` try every schedule
with at most :data:`BOUND` preemptions. It first runs the program without any preemption, so a body
that is wrong whatever the schedule (an exception, a deadlock with itself, a busy loop) is named as
such. The search is deterministic: the same answer gets the same verdict and the same failing
schedule every time, on any machine. :func:`show_last_bug` opens that schedule in the explorer widget.
"""

from __future__ import annotations

from threadlab.checks import Verdict, check
from threadlab.explorer import Condition, Event, GuardedState, Lock, Program, State

__all__ = ["BOUND", "check_consumer", "check_lock_order", "check_safe_withdraw", "check_slot_wait", "show_last_bug"]

BOUND = 2  #: preemptions: "every schedule" in these checks means every schedule with at most two
TIME_LIMIT = 8.0  #: seconds a search may take (they take well under one second)

_last: dict = {}  # the program and schedule of the last failing check, for show_last_bug()


def show_last_bug():
    """The explorer widget on the schedule that failed the last check, to step through it."""
    from threadlab.explorer_widget import ExplorerWidget

    if not _last:
        raise LookupError("no check has found a failing schedule yet")
    widget = ExplorerWidget(_last["program"], title=_last["program"].name)
    widget.run(_last["schedule"])
    return widget


def _attempted(*bodies):
    for body in bodies:
        if body is ... or body is None:
            raise NotImplementedError
        if not callable(body):
            raise AssertionError(f"expected a function (a thread body), got {body!r}")


def _outcome_text(outcome) -> str:
    if outcome.kind == "limit":
        return f"{outcome.message}: a thread was still running (a loop that spins instead of waiting?)"
    return str(outcome)


def _prove(program: Program, hint: str, bound: int = BOUND):
    """Every schedule of ``program`` with at most ``bound`` preemptions must complete."""
    plain = program.replay("", finish=True)
    if "NotImplementedError" in plain.outcome.message:
        raise NotImplementedError
    if plain.outcome.kind != "completed":
        _last.update(program=program, schedule=plain.schedule)
        raise AssertionError(f"{program.name}: even without any preemption it ends {_outcome_text(plain.outcome)}. "
                             f"Hint: {hint}")
    found = program.search(bound=bound, time_limit=TIME_LIMIT)
    if found.found:
        _last.update(program=program, schedule=found.schedule)
        raise AssertionError(f"{program.name}: the schedule {found.schedule_string!r} ends "
                             f"{_outcome_text(found.outcome)}. Hint: {hint} "
                             "(step through it: show_last_bug() from threadlab.checks.interleavings)")
    if not found.exhaustive:
        raise AssertionError(f"{program.name}: the search was cut short after {found.runs} schedules in "
                             f"{found.seconds:.1f} s: make the thread bodies shorter")


# ---------------------------------------------------------------- 15.1: check, then act


def _never_negative(s):
    """the balance never goes below zero"""
    return s.balance >= 0


def check_safe_withdraw(withdraw) -> Verdict:
    """Exercise 15.1: two threads call ``withdraw(s, 80)``; no schedule may overdraw the account
    (balance 100: exactly one goes through; balance 80: exactly one goes through too)."""

    def test():
        _attempted(withdraw)
        for balance, left in ((100, 20), (80, 0)):

            def one_withdrawal(s, left=left):
                return s.balance == left and not s.lock.locked()

            one_withdrawal.__doc__ = f"exactly one withdrawal of 80 went through (balance {left} left), s.lock is free"
            program = Program((withdraw, 80), (withdraw, 80), setup=lambda b=balance: State(balance=b, lock=Lock()),
                              invariant=_never_negative, final=one_withdrawal,
                              name=f"two withdrawals of 80 from {balance}")
            _prove(program, "check the balance and subtract inside one `with s.lock:` block (it also releases "
                            "the lock on every path), and allow a withdrawal of the whole balance (`>=`)")

    return check("Exercise 15.1: a safe withdrawal", test)


# ---------------------------------------------------------------- 15.2: two locks


def left_then_right(s):
    with s.left:
        with s.right:
            s.moved += 1


def _two_locks():
    return GuardedState({"moved": ("left", "right")}, moved=0, left=Lock(), right=Lock())


def _both_moved(s):
    """both threads added 1 to s.moved, and both locks are free again"""
    return s.moved == 2 and not s.left.locked() and not s.right.locked()


def check_lock_order(thread1) -> Verdict:
    """Exercise 15.2: thread 0 takes ``left`` then ``right``; ``thread1(s)`` must add 1 to
    ``s.moved`` while holding both locks, and no schedule may deadlock."""

    def test():
        _attempted(thread1)
        program = Program(left_then_right, thread1, setup=_two_locks, final=_both_moved,
                          name="thread 0 takes left then right; thread 1 is yours")
        _prove(program, "take the locks in the order thread 0 takes them (left, then right) and hold both "
                        "while you change s.moved")

    return check("Exercise 15.2: one lock order", test)


# ---------------------------------------------------------------- 15.3: wait in a loop


def producer_with_early_wakeup(s):
    """Wakes the consumer once before there is anything to take (another consumer was faster,
    say), then puts an item and wakes it again."""
    with s.cv:
        s.cv.notify()
    with s.cv:
        s.items.append("x")
        s.cv.notify()


def second_consumer(s):
    """Takes the item that is already there, if it is still there, then puts another one."""
    with s.cv:
        if s.items:
            s.items.pop()
            s.taken += 1
    with s.cv:
        s.items.append("y")
        s.cv.notify()


def _all_consumed(s):
    """the consumer took the item"""
    return s.items == []


def _one_consumed(s):
    """the consumer took exactly one item"""
    return len(s.items) == 1 - s.taken


def check_consumer(consumer) -> Verdict:
    """Exercise 15.3: ``consumer(s)`` takes one item from ``s.items``, waiting on the Condition
    ``s.cv`` while the list is empty. Two programs: a producer that wakes the consumer once too
    early, and a second consumer that may take the item first."""

    def test():
        _attempted(consumer)
        hint = ("hold s.cv, wait in a `while not s.items:` loop (a wakeup only means that something happened: "
                "test again), and pop while you still hold s.cv")
        _prove(Program(consumer, producer_with_early_wakeup, final=_all_consumed,
                       setup=lambda: State(items=[], cv=Condition(Lock())),
                       name="your consumer; a producer that wakes it too early"), hint)
        _prove(Program(consumer, second_consumer, final=_one_consumed,
                       setup=lambda: State(items=["x"], taken=0, cv=Condition(Lock())),
                       name="your consumer; another consumer"), hint)

    return check("Exercise 15.3: wait in a loop", test)


# ---------------------------------------------------------------- 15.4: the scanner's slot


def _never_over_limit(s):
    """never more scans running than the limit"""
    return s.active <= s.limit


def _next_scan_started(s):
    """main started its next scan and one scan is running"""
    return s.started == 1 and s.active == 1


def check_slot_wait(main, scan_done) -> Verdict:
    """Exercise 15.4: one scan runs (``s.active == 1``, ``s.limit == 1``); ``main(s)`` waits for a
    free slot and starts the next scan (``s.active += 1``, ``s.started += 1``); ``scan_done(s)``
    ends the running scan and wakes main. No schedule may lose the wakeup or exceed the limit."""

    def test():
        _attempted(main, scan_done)

        def setup():
            lock = Lock()
            return State(active=1, limit=1, started=0, lock=lock, slot_free=Event(), slot_cv=Condition(lock))

        program = Program(main, scan_done, setup=setup, invariant=_never_over_limit, final=_next_scan_started,
                          name="main waits for a slot; a scan ends")
        _prove(program, "test the count and wait under the same lock: `with s.slot_cv:` then "
                        "`while s.active >= s.limit: s.slot_cv.wait()`; the scan that ends changes s.active "
                        "and calls s.slot_cv.notify() inside `with s.slot_cv:`")

    return check("Exercise 15.4: no lost wakeup", test)
