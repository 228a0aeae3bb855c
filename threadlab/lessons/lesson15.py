"""Lesson 15, Be the scheduler: the levels, their thread bodies and their checks.

Each level is a small program with a bug that only some schedules show. The learner first
*breaks* it (finds a schedule that shows the bug: :func:`check_break` replays it) and then
*fixes* it (writes new thread bodies: :func:`check_fix` searches every schedule with at most two
preemptions, one for the three-thread level, and must find no bug). The bodies below are what the explorer steps through, so
they are written to be read: one statement per line, state in ``s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from threadlab.checks import check, expect_equal
from threadlab.explorer import Condition, Event, Lock, Program, SearchResult, State
from threadlab.explorer_widget import ExplorerWidget

SEARCH_BOUND = 2  # preemptions: what "every schedule" means in the fix checks


# ------------------------------------------------------------------ level 1: the seed's v += k


def append_letter(s, k):
    s.v += k


def append_letter_locked(s, k):
    with s.lock:
        s.v += k


def letters_setup():
    return State(v="", lock=Lock())


def both_letters(s):
    """both letters are in v"""
    return sorted(s.v) == ["a", "b"]


# the plain counter of the issue: two threads, each doing v += 1 once


def add_one(s):
    s.v += 1


def add_one_locked(s):
    with s.lock:
        s.v += 1


def counter_setup():
    return State(v=0, lock=Lock())


def counted_twice(s):
    """v == 2: both increments counted"""
    return s.v == 2


def counter_program(locked: bool = False) -> Program:
    body = add_one_locked if locked else add_one
    return Program(body, body, setup=counter_setup, final=counted_twice, name="v += 1 twice")


# ------------------------------------------------------------------ level 2: check, then act


def withdraw(s, amount):
    if s.balance >= amount:
        s.balance -= amount


def withdraw_locked(s, amount):
    with s.lock:
        if s.balance >= amount:
            s.balance -= amount


def bank_setup():
    return State(balance=100, lock=Lock())


def never_negative(s):
    """the balance never goes below zero"""
    return s.balance >= 0


def one_withdrawal(s):
    """exactly one withdrawal of 80 went through"""
    return s.balance == 20


# ------------------------------------------------------------------ level 3: two locks


def left_then_right(s):
    with s.left:
        with s.right:
            s.moved += 1


def right_then_left(s):
    with s.right:
        with s.left:
            s.moved += 1


def two_locks_setup():
    return State(moved=0, left=Lock(), right=Lock())


def both_moved(s):
    """both threads did their work"""
    return s.moved == 2


# ------------------------------------------------------------------ level 4: Condition with if


def consumer_if(s):
    with s.cv:
        if not s.items:
            s.cv.wait()
        s.items.pop()


def consumer_while(s):
    with s.cv:
        while not s.items:
            s.cv.wait()
        s.items.pop()


def producer(s):
    with s.cv:
        s.items.append("x")
        s.cv.notify()
    with s.cv:
        s.items.append("y")
        s.cv.notify()


def queue_setup():
    return State(items=[], cv=Condition(Lock()))


def both_consumed(s):
    """both items were consumed"""
    return s.items == []


# ------------------------------------------------------------------ level 5: the seed's port scanner


def scanner_main(s):
    s.lock.acquire()
    if s.active >= s.limit:
        s.lock.release()
        s.slot_free.wait()
    else:
        s.lock.release()
    with s.lock:
        s.active += 1
        s.started += 1


def scanner_finishes(s):
    with s.lock:
        s.active -= 1
        if s.active == s.limit - 1:
            s.slot_free.set()
            s.slot_free.clear()


def scanner_main_fixed(s):
    with s.slot_cv:
        while s.active >= s.limit:
            s.slot_cv.wait()
        s.active += 1
        s.started += 1


def scanner_finishes_fixed(s):
    with s.slot_cv:
        s.active -= 1
        s.slot_cv.notify()


def scanner_setup():
    lock = Lock()
    return State(active=1, limit=1, started=0, lock=lock, slot_free=Event(), slot_cv=Condition(lock))


def next_scan_started(s):
    """main started its next scan and one scan is running"""
    return s.started == 1 and s.active == 1


# ------------------------------------------------------------------ the levels


@dataclass
class Level:
    """A buggy program, what breaking it means, and how a fix is checked."""

    key: str
    title: str
    bodies: tuple  # the buggy body of each role
    roles: tuple  # role of each thread (index into bodies)
    args: tuple  # extra arguments of each thread
    setup: Callable
    expect: str  # the outcome kind of the bug: "failed" or "deadlock"
    fixed: tuple  # a reference fix, one body per role
    invariant: Callable | None = None
    final: Callable | None = None
    goal: str = ""
    bound: int = SEARCH_BOUND  # preemptions searched by the fix check

    def program(self, *bodies) -> Program:
        bodies = bodies or self.bodies
        if len(bodies) != len(self.bodies):
            raise TypeError(f"level {self.key!r} needs {len(self.bodies)} thread bodies, got {len(bodies)}")
        threads = [(bodies[r], *a) for r, a in zip(self.roles, self.args)]
        return Program(*threads, setup=self.setup, invariant=self.invariant, final=self.final, name=self.title)

    def widget(self, *bodies) -> ExplorerWidget:
        return ExplorerWidget(self.program(*bodies), title=self.title, bound=self.bound)

    def search(self, *bodies, bound: int | None = None) -> SearchResult:
        return self.program(*bodies).search(bound=self.bound if bound is None else bound)


LEVELS = {
    "letters": Level(
        "letters",
        "v += k, the 2009 server's shared string",
        (append_letter,),
        (0, 0),
        (("a",), ("b",)),
        letters_setup,
        "failed",
        (append_letter_locked,),
        final=both_letters,
        goal="lose a letter: v ends as 'a' or 'b' instead of 'ab' or 'ba'",
    ),
    "bank": Level(
        "bank",
        "check, then act: two withdrawals of 80 from 100",
        (withdraw,),
        (0, 0),
        ((80,), (80,)),
        bank_setup,
        "failed",
        (withdraw_locked,),
        invariant=never_negative,
        final=one_withdrawal,
        goal="make the balance negative",
    ),
    "two locks": Level(
        "two locks",
        "two locks taken in opposite orders",
        (left_then_right, right_then_left),
        (0, 1),
        ((), ()),
        two_locks_setup,
        "deadlock",
        (left_then_right, left_then_right),
        final=both_moved,
        goal="reach a deadlock: each thread holds one lock and waits for the other",
    ),
    "condition": Level(
        "condition",
        "Condition.wait under `if` instead of `while`",
        (consumer_if, producer),
        (0, 0, 1),
        ((), (), ()),
        queue_setup,
        "failed",
        (consumer_while, producer),
        final=both_consumed,
        goal="make a consumer pop from an empty list",
        bound=1,  # three threads: two preemptions would mean ~4500 schedules (~16 s)
    ),
    "scanner": Level(
        "scanner",
        "the 2009 port scanner: Event.set(); Event.clear()",
        (scanner_main, scanner_finishes),
        (0, 1),
        ((), ()),
        scanner_setup,
        "deadlock",
        (scanner_main_fixed, scanner_finishes_fixed),
        final=next_scan_started,
        goal="make main wait forever for a wakeup that already happened",
    ),
}


def level(key: str) -> Level:
    return LEVELS[key]


# ------------------------------------------------------------------ checks


def _break_test(lv: Level, schedule):
    def test():
        if schedule is ... or schedule is None:
            raise NotImplementedError
        snap = lv.program().replay(schedule, finish=True)
        if snap.outcome.kind != lv.expect:
            raise AssertionError(
                f"schedule {snap.schedule_string!r} ends {snap.outcome}: the goal is to {lv.goal}"
            )

    return test


def check_break(key: str, schedule) -> bool:
    """Replay ``schedule`` (then go on without preemption): it must show the level's bug."""
    lv = LEVELS[key]
    return check(f"break '{key}'", _break_test(lv, schedule))


def check_lose_letter(letter: str, schedule) -> bool:
    """Level 'letters': replaying ``schedule`` (then no preemption) must lose ``letter``."""
    lv = LEVELS["letters"]

    def test():
        if schedule is ... or schedule is None:
            raise NotImplementedError
        snap = lv.program().replay(schedule, finish=True)
        other = ({"a", "b"} - {letter}).pop()
        expect_equal(snap.shared["v"], repr(other), f"v after schedule {snap.schedule_string!r}")

    return check(f"lose the letter {letter!r}", test)


def _fix_test(lv: Level, bodies):
    def test():
        if not bodies or any(b is ... or b is None for b in bodies):
            raise NotImplementedError
        prog = lv.program(*bodies)
        plain = prog.replay("", finish=True)
        if "NotImplementedError" in plain.outcome.message:
            raise NotImplementedError
        if plain.outcome.kind != "completed":
            raise AssertionError(f"even without any preemption it ends {plain.outcome}")
        result = prog.search(bound=lv.bound)
        if result.found:
            raise AssertionError(
                f"schedule {result.schedule_string!r} still ends {result.outcome} "
                f"(found after {result.runs} schedules)"
            )
        expect_equal(result.exhaustive, True, "every schedule within the bound searched")

    return test


def check_fix(key: str, *bodies) -> bool:
    """Search every schedule of the level with ``bodies`` (up to the level's bound): no bug allowed."""
    lv = LEVELS[key]
    return check(f"fix '{key}'", _fix_test(lv, bodies), timeout=60)


def search_table(keys=None, fixed: bool = False) -> list[dict]:
    """Search each level (buggy or reference fix): schedules explored, time, outcome."""
    rows = []
    for key in keys or LEVELS:
        lv = LEVELS[key]
        result = lv.search(*(lv.fixed if fixed else ()))
        rows.append(
            {
                "level": key,
                "version": "fixed" if fixed else "buggy",
                "bug found": result.found,
                "bound": lv.bound,
                "schedules": result.runs,
                "seconds": round(result.seconds, 3),
                "exhaustive": result.exhaustive,
                "outcome": str(result.outcome.kind) if result.found else "no bug",
                "schedule": result.schedule_string,
            }
        )
    return rows
