"""Checks for exercises on condition variables and events (lesson 06), and the Condition they run with.

A wrong answer with a Condition usually works on a good day: ``notify()`` where every waiter had to
wake up works when the waiters happen to wait in a lucky order, and ``if`` around ``wait()`` works
as long as nothing wakes a waiter early. The checks do not wait for a bad day. Inside them,
``threading.Condition`` is a :class:`StrictCondition`: a real Condition that uses every freedom the
documentation leaves it.

- ``notify(n)`` wakes the *newest* waiters, not the oldest: the documentation says it wakes "one thread
  waiting on this condition", never which one. Code that needs one particular waiter to wake up fails
  every time, instead of only when the waiters queued in an unlucky order.
- The first ``wait()`` of each thread on a Condition that the learner's code created returns at once,
  as if notified: the documentation warns that ``notify(n)`` "may occasionally wake up more than n
  threads", and a ``notify`` meant for another waiter wakes a thread just the same, so a waiter must
  test its condition again after every wakeup (``while``, or ``wait_for``). Conditions
  that the standard library creates for itself (inside an ``Event``, a ``Semaphore``, a ``Queue``)
  are not woken early: their own code assumes CPython's behaviour.
- It counts the threads blocked in ``wait()`` (so a check knows when every waiter is really
  waiting) and records every ``notify`` with the number of threads that were waiting.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

from threadlab.checks import check
from threadlab.checks.interleavings import LAB_SEARCH, also_show_schedule, explorable, prove, traced_functions
from threadlab.checks.watching import StillRunning, ThreadCalls, call_within, describe, learner_call, thread_errors
from threadlab.explorer import Program, State
from threadlab.labcheck import _is_library, amplified_races

_Condition = threading.Condition  # the real class, whatever the module attribute is at the moment


class StrictCondition(_Condition):
    """A ``threading.Condition`` that wakes the newest waiters first and wakes each waiter once early.

    ``early``: wake the first ``wait()`` of each thread at once (default: only when the Condition
    was created by code outside the standard library, site-packages and threadlab).
    """

    def __init__(self, lock=None, early: bool | None = None):
        super().__init__(lock)
        if early is None:
            early = not _is_library(sys._getframe(1).f_code.co_filename)
        self.early = early
        self.woken_early = 0  #: how many waits returned early
        self.blocked = 0  #: threads blocked in wait() right now
        self.notifies: list[tuple[int, int]] = []  #: (threads to wake, threads waiting) for every notify
        self._had_early: set[int] = set()

    def wait(self, timeout=None):
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        me = threading.get_ident()
        if self.early and me not in self._had_early:
            self._had_early.add(me)
            self.woken_early += 1
            saved = self._release_save()  # let the others in, as a real wait would
            try:
                time.sleep(0)
            finally:
                self._acquire_restore(saved)
            return True
        self.blocked += 1  # changed only while holding the lock
        try:
            return super().wait(timeout)
        finally:
            self.blocked -= 1

    def notify(self, n=1):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        waiters = self._waiters
        self.notifies.append((n, len(waiters)))
        while waiters and n > 0:
            waiter = waiters[-1]  # the newest waiter first
            try:
                waiter.release()
            except RuntimeError:
                pass
            else:
                n -= 1
            try:
                waiters.remove(waiter)
            except ValueError:
                pass

    def notified_one_of_many(self) -> int:
        """The most threads that were waiting when a plain ``notify()`` woke only one of them (0: never)."""
        return max((waiting for n, waiting in self.notifies if n < waiting), default=0)


@contextmanager
def strict_conditions():
    """Inside the block, ``threading.Condition(...)`` makes a :class:`StrictCondition`.

    Yields the list of the Conditions made meanwhile (including those inside the Events and
    Semaphores made meanwhile). Objects made inside the block keep their Conditions afterwards.
    """
    made: list[StrictCondition] = []

    class Recorded(StrictCondition):
        def __init__(self, lock=None):
            early = not _is_library(sys._getframe(1).f_code.co_filename)
            super().__init__(lock, early=early)
            made.append(self)

    saved = threading.Condition
    threading.Condition = Recorded
    try:
        yield made
    finally:
        threading.Condition = saved


def _blocked(conditions) -> int:
    return sum(c.blocked for c in conditions)


def _wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


def _early_hint(conditions) -> str:
    if any(c.woken_early for c in conditions):
        return (" The check's Condition woke it once before the count reached 0, as a notify() meant for another "
                "waiter can: after every wakeup, test the count again (`while self.count > 0: ...wait(...)`, "
                "or `wait_for`).")
    return ""


# --- Exercise 6.1: a count-down latch ------------------------------------------------------------


def _count_down(latch):
    try:
        latch.count_down()
    except RuntimeError as exc:
        if "un-acquired" in str(exc):
            raise AssertionError(f"count_down() raised {describe(exc)}: notify() and notify_all() may only be "
                                 "called while holding the Condition's lock (`with self.cond:`)") from None
        raise AssertionError(f"count_down() raised {describe(exc)}") from None
    except Exception as exc:
        raise AssertionError(f"count_down() raised {describe(exc)}") from None


def _latch_timeout(CountDownLatch):
    with strict_conditions() as conds:
        latch = learner_call("CountDownLatch(3)", CountDownLatch, 3)
    start = time.monotonic()
    got = call_within(lambda: latch.wait(0.05), 2, "wait(0.05) on CountDownLatch(3) that nobody counted down",
                      "pass the timeout on to wait()/wait_for()",
                      on_timeout=lambda: [latch.count_down() for _ in range(3)])
    seconds = time.monotonic() - start
    if got is None:
        raise AssertionError("wait(0.05) returned None: wait() must return True when the count reached 0, False "
                             "when the timeout passed first (return what wait_for returns)")
    if got is not False:
        raise AssertionError(f"wait(0.05) returned {got!r} after {seconds:.2f} s, although nobody called count_down(): "
                             "it must return False when the timeout passes." + _early_hint(conds))
    if seconds < 0.045:
        raise AssertionError(f"wait(0.05) returned False after {seconds:.3f} s, before its timeout had passed."
                             + _early_hint(conds))


def _latch_waiters(CountDownLatch):
    with strict_conditions() as conds:
        latch = CountDownLatch(3)
    results: dict = {}

    def waiter(i):
        start = time.monotonic()
        value = latch.wait(3)
        results[i] = (value, time.monotonic() - start)

    waiters = [threading.Thread(target=waiter, args=(i,), name=f"waiter-{i}") for i in range(3)]
    for t in waiters:
        t.start()
    try:
        # every waiter inside a real wait() before the first count_down (or returned: a mistake)
        _wait_until(lambda: _blocked(conds) >= 3 or results, 2)
        if results:
            value, seconds = next(iter(results.values()))
            raise AssertionError(f"a waiter's wait(3) returned {value!r} after {seconds:.2f} s, before anyone called "
                                 "count_down()." + _early_hint(conds))
        for _ in range(3):
            _count_down(latch)
        opened = time.monotonic()
        for t in waiters:
            t.join(max(0.0, opened + 1.5 - time.monotonic()))
        still = [t.name for t in waiters if t.is_alive()]
        if still:
            several = max((c.notified_one_of_many() for c in conds), default=0)
            if several:
                hint = (f"notify() woke one of the {several} waiting threads, and every one of them may go on "
                        "now: wake them all with notify_all()")
            elif not any(c.notifies for c in conds):
                hint = "count_down() never notified the Condition: wake the waiters with notify_all()"
            else:
                hint = "does count_down() wake every waiter when the count reaches 0 (notify_all)?"
            raise AssertionError(f"{len(still)} of the 3 waiters were still inside wait(3) 1.5 s after the count "
                                 f"reached 0: {hint}")
        bad = {i: r for i, r in results.items() if r[0] is not True}
        if bad:
            value, seconds = next(iter(bad.values()))
            raise AssertionError(f"after 3 count_down() calls on CountDownLatch(3), a waiter's wait(3) returned "
                                 f"{value!r} after {seconds:.2f} s: it must return True once the count reached 0")
    finally:
        for t in waiters:
            t.join(5)  # wrong answers leave waiters that return at their own 3 s timeout
    return latch


def _latch_race(CountDownLatch, errors):
    with strict_conditions():
        latch = CountDownLatch(40)
    go = threading.Barrier(4, timeout=5)

    def count_down_ten():
        go.wait()
        for _ in range(10):
            _count_down(latch)

    with amplified_races():
        workers = [threading.Thread(target=count_down_ten, name=f"counter-{i}") for i in range(4)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(5)
    if errors:
        raise AssertionError(str(errors[0]))
    opened = call_within(lambda: latch.wait(0.2), 2, "wait(0.2)")
    if opened is not True:
        raise AssertionError("4 threads called count_down() 10 times each on CountDownLatch(40), at the same time: "
                             f"then wait(0.2) returned {opened!r}. Some count_down()s were lost: two threads read "
                             "the same count and both wrote back count - 1. Change the count only while holding "
                             "the Condition's lock (`with self.cond:`)")


def check_latch(CountDownLatch):
    """Exercise 6.1: ``CountDownLatch(count)`` with ``count_down()`` and ``wait(timeout) -> bool``.

    Tests: a wait that times out returns False, after its timeout; three waiters blocked in wait()
    all return True, at once, when the third count_down() arrives (a notify() that wakes only one
    of them is caught: the Condition wakes the newest waiter first); waiters woken early (before
    the count reached 0) wait again; 40 count_down() calls from 4 threads at once, with thread
    switches forced between almost any two bytecodes, open a latch of 40 (a lost decrement is
    caught); an open latch's wait returns True at once, and stays open after extra count_down()s.
    """

    def test():
        with thread_errors() as errors:
            _latch_timeout(CountDownLatch)
            latch = _latch_waiters(CountDownLatch)
            _latch_race(CountDownLatch, errors)
        start = time.monotonic()
        if call_within(lambda: latch.wait(1), 2, "wait(1) on an open latch") is not True:
            raise AssertionError("once the count is 0, wait() must return True")
        if time.monotonic() - start > 0.5:
            raise AssertionError("once the count is 0, wait() must return True at once, without waiting for a "
                                 "notify (test the count before waiting: wait_for does)")
        _count_down(latch)  # counting below zero must not break anything
        if latch.wait(0.01) is not True:
            raise AssertionError("an extra count_down() must leave the latch open")

    return check("Exercise 6.1", also_show_schedule(test, lambda: explore_latch(CountDownLatch)), timeout=9)


# --- Exercise 6.2: taking turns ------------------------------------------------------------------


def _turns_hint(conds, log, expected) -> str:
    if isinstance(log, list) and log != expected[:len(log)] and any(c.woken_early for c in conds):
        return ("a thread appended its name out of turn. The check's Condition wakes each thread once early, as a "
                "notify() meant for another thread can: after every wakeup, test whose turn it is again "
                "(`while`, or `wait_for`)")
    return ""


def check_take_turns(take_turns):
    """Exercise 6.2: ``take_turns(names, rounds)`` -> the log, names appended in strict rotation.

    Runs with 2, 3 and 4 names. Inside the check, a ``notify()`` wakes the newest waiter (with 3
    names or more that is never the one whose turn it is), and each thread's first wait returns
    early (an ``if`` in place of ``while`` appends out of turn). A ``notify()`` that woke one of
    several waiters, or a Condition waited on and never notified, fails even if the turns went on
    (at waits that timed out). Also caught: threads started and joined one at a time, ``run()``
    for ``start()``, exceptions in the threads, threads never joined.
    """

    def test():
        for names, rounds in [(["A", "B"], 4), (["A", "B", "C"], 5), (["w", "x", "y", "z"], 3)]:
            expected = names * rounds
            call = f"take_turns({names}, {rounds})"
            calls = ThreadCalls()
            failure, log = None, None
            with thread_errors() as errors, strict_conditions() as conds, calls:
                try:
                    log = call_within(lambda names=names, rounds=rounds: take_turns(list(names), rounds), 6, call,
                                      "is a thread waiting for a turn that nobody gives it?", calls=calls)
                except StillRunning as exc:
                    failure = str(exc)
                except (AssertionError, NotImplementedError):
                    raise
                except Exception as exc:
                    failure = f"{call} raised {describe(exc)}"
            mistake = calls.verdict(expected=len(names), what=call, joined=failure is None)
            if mistake:
                raise AssertionError(mistake)
            if errors:
                raise AssertionError(f"{call}: {errors[0]}")
            mine = [c for c in conds if c.early]  # the Conditions the learner's code made
            several = max((c.notified_one_of_many() for c in mine), default=0)
            if several:  # even if the turns went on, at waits that timed out
                raise AssertionError(f"{call}: notify() woke one of {several} waiting threads, and not the one whose "
                                     "turn it was (a Condition may wake any of its waiters; this check's wakes the "
                                     "newest). Threads that wait for different things need notify_all()")
            if any(c.woken_early for c in mine) and not any(c.notifies for c in mine):
                raise AssertionError(f"{call}: no thread ever called notify() on your Condition, so a waiting thread "
                                     "goes on only when its wait times out. After its turn, a thread must wake the "
                                     "others: notify_all()")
            hint = _turns_hint(conds, log, expected)
            if failure:
                raise AssertionError(failure + (f" {hint[0].upper()}{hint[1:]}" if hint else ""))
            if log != expected:
                shown = log if not isinstance(log, list) or len(log) <= 16 else log[:16] + ["..."]
                raise AssertionError(f"{call} returned {shown!r}, expected {expected!r}" + (f": {hint}" if hint else ""))

    return check("Exercise 6.2", also_show_schedule(test, lambda: explore_take_turns(take_turns)), timeout=9.5)


# --- every schedule of a latch, with the explorer (see threadlab.checks.interleavings) ----------------


def explore_latch(CountDownLatch) -> None:
    """Small programs on the learner's own latch, every schedule: two count_down() calls open a latch
    of 2 (none lost); two waiters of a latch of 1 both return True after one count_down(); a waiter
    never returns True before both count_down() calls of a latch of 2 have begun."""
    copy = explorable(CountDownLatch)
    trace = traced_functions(copy)

    def down(s):
        s.downs += 1  # before the call: a waiter may return only after every call has begun
        s.latch.count_down()

    def wait(s):
        opened = s.latch.wait()
        if opened and s.downs < s.needed:
            raise AssertionError(f"wait() returned True after only {s.downs} of the {s.needed} count_down() calls")
        s.woke.append(opened)

    def setup(count):
        return lambda: State(latch=copy(count), downs=0, needed=count, woke=[])

    def opened(s):
        if s.latch.wait(0) is not True:
            raise AssertionError("two count_down() calls on CountDownLatch(2), and wait(0) says the latch is still "
                                 "closed: a count_down() was lost")

    def all_woke(s):
        if s.woke != [True] * len(s.woke) or not s.woke:
            raise AssertionError(f"the waiters' wait() returned {s.woke}, expected True each")

    hint = ("change the count and notify under the Condition's lock (`with self.cond:`), wake every waiter "
            "(notify_all()), and wait in a loop on the count (`wait_for`)")
    prove(Program(down, down, setup=setup(2), final=opened, trace=trace,
                  name="two threads call count_down() on CountDownLatch(2)"), hint, searches=LAB_SEARCH)
    three = (("sync", 2),)
    prove(Program(wait, wait, down, setup=setup(1), final=all_woke, trace=trace, mode="sync",
                  name="two threads wait() on CountDownLatch(1); a third calls count_down()"), hint, searches=three)
    prove(Program(wait, down, down, setup=setup(2), final=all_woke, trace=trace, mode="sync",
                  name="one thread waits on CountDownLatch(2); two call count_down()"), hint, searches=three)


def explore_take_turns(take_turns) -> None:
    """Every schedule of the learner's own ``take_turns`` (up to two switches with two names, one with
    three), its threads and Condition the explorer's: the log is the names in strict rotation and no
    thread is left running. Timeouts fire only when nothing else can happen (``timeouts="last"``):
    a wait with a timeout that guards against a hang is not a bug, a thread out of turn is."""
    from threadlab.explorer import current_run

    copy = explorable(take_turns)
    trace = traced_functions(copy)

    def program(names, rounds):
        expected = list(names) * rounds

        def play(s):
            s.log = copy(list(names), rounds)
            s.alive_at_return = current_run().started_alive()

        def in_turn(s):
            if s.alive_at_return:
                raise AssertionError(f"thread(s) {s.alive_at_return} were still running when take_turns returned: "
                                     "join every thread before you return")
            if s.log != expected:
                raise AssertionError(f"take_turns returned {s.log!r}, expected {expected!r}")

        return Program(play, setup=lambda: State(log="nothing yet", alive_at_return=[]), final=in_turn, trace=trace,
                       mode="sync", timeouts="last", name=f"take_turns({list(names)}, {rounds})")

    hint = ("after every wakeup, test whose turn it is again (`while`, or `wait_for`), change the turn and "
            "notify_all() under the Condition's lock, and join every thread")
    prove(program(["A", "B"], 2), hint, searches=(("sync", 2),))
    prove(program(["A", "B", "C"], 1), hint, searches=(("sync", 1),))
