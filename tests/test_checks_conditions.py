"""threadlab.checks.conditions: the strict Condition, and the checks of lesson 06's exercises.

Each checker is run on a right answer and on the wrong answers learners write; every wrong answer
must fail with a message that says what went wrong. (mutants/lesson06.py runs the same mistakes
through the lesson's own solution cells.)
"""

from __future__ import annotations

import threading
import time

import pytest

from threadlab.checks.conditions import (
    StrictCondition,
    check_latch,
    check_take_turns,
    explore_latch,
    explore_take_turns,
    strict_conditions,
)

# --- the strict Condition --------------------------------------------------------------------------


def test_strict_condition_wakes_the_newest_waiter_first():
    cond = StrictCondition(early=False)
    order, ready = [], []

    def waiter(name):
        with cond:
            ready.append(name)
            cond.wait(5)
            order.append(name)

    threads = []
    for name in ("old", "new"):
        t = threading.Thread(target=waiter, args=(name,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while cond.blocked < len(threads) and time.monotonic() < deadline:
            time.sleep(0.001)
    assert cond.blocked == 2
    with cond:
        cond.notify()
    deadline = time.monotonic() + 5
    while not order and time.monotonic() < deadline:
        time.sleep(0.001)
    assert order == ["new"] and cond.notified_one_of_many() == 2
    with cond:
        cond.notify_all()
    for t in threads:
        t.join(5)
    assert order == ["new", "old"] and cond.blocked == 0


def test_strict_condition_wakes_each_thread_once_early_only_if_asked():
    early = StrictCondition(early=True)
    with early:
        start = time.monotonic()
        assert early.wait(5) is True  # at once, as if notified
        assert time.monotonic() - start < 1
        assert early.wait(0.01) is False  # the second wait is a real one
        assert early.wait_for(lambda: False, 0.01) is False
    assert early.woken_early == 1
    plain = StrictCondition(early=False)
    with plain:
        assert plain.wait(0.01) is False


def test_strict_condition_rules_of_the_real_one():
    cond = StrictCondition(early=False)
    with pytest.raises(RuntimeError, match="un-acquired"):
        cond.wait(0.01)
    with pytest.raises(RuntimeError, match="un-acquired"):
        cond.notify()
    rlock = threading.RLock()
    nested = StrictCondition(rlock, early=False)
    with nested, nested:  # an RLock is released fully while waiting, and restored after
        assert nested.wait(0.01) is False
        assert rlock._is_owned()


def test_strict_conditions_patch_only_inside_and_wake_early_only_the_learners():
    with strict_conditions() as made:
        mine = threading.Condition()
        event = threading.Event()  # its Condition is made by the standard library
        semaphore = threading.Semaphore(0)
    assert threading.Condition is not type(mine) and isinstance(mine, StrictCondition)
    assert mine.early and not event._cond.early and not semaphore._cond.early
    assert set(made) == {mine, event._cond, semaphore._cond}
    assert event.wait(0.01) is False  # library code keeps its usual behaviour
    threading.Timer(0.02, event.set).start()
    assert event.wait(5) is True


# --- Exercise 6.1 ------------------------------------------------------------------------------------


class GoodLatch:
    def __init__(self, count):
        self.count = count
        self.cond = threading.Condition()

    def count_down(self):
        with self.cond:
            self.count -= 1
            if self.count <= 0:
                self.cond.notify_all()

    def wait(self, timeout=None):
        with self.cond:
            return self.cond.wait_for(lambda: self.count <= 0, timeout)


class EventLatch:
    """Another right answer: a lock for the count, an Event that stays set."""

    def __init__(self, count):
        self.count, self.lock, self.opened = count, threading.Lock(), threading.Event()

    def count_down(self):
        with self.lock:
            self.count -= 1
            if self.count <= 0:
                self.opened.set()

    def wait(self, timeout=None):
        return self.opened.wait(timeout)


class NotifyOne(GoodLatch):
    def count_down(self):
        with self.cond:
            self.count -= 1
            if self.count <= 0:
                self.cond.notify()


class IfNotWhile(GoodLatch):
    def wait(self, timeout=None):
        with self.cond:
            if self.count > 0:
                self.cond.wait(timeout)
            return self.count <= 0


class NoPredicate(GoodLatch):
    def wait(self, timeout=None):
        with self.cond:
            return self.cond.wait(timeout)


class Forgetful(GoodLatch):
    def wait(self, timeout=None):
        with self.cond:
            self.cond.wait_for(lambda: self.count <= 0, timeout)


class NoTimeout(GoodLatch):
    def wait(self, timeout=None):
        with self.cond:
            return self.cond.wait_for(lambda: self.count <= 0)


class LostUpdate(GoodLatch):
    def count_down(self):
        self.count -= 1
        with self.cond:
            if self.count <= 0:
                self.cond.notify_all()


class NoLock(GoodLatch):
    def count_down(self):
        self.count -= 1
        if self.count <= 0:
            self.cond.notify_all()


class Placeholder:
    def __init__(self, count):
        raise NotImplementedError


def test_explore_latch_passes_a_right_latch_and_shows_notify_for_notify_all_deadlocking():
    explore_latch(GoodLatch)  # every schedule of the small programs passes
    with pytest.raises(AssertionError) as shown:
        explore_latch(NotifyOne)
    assert "ends deadlock" in str(shown.value)


@pytest.mark.parametrize("latch", [GoodLatch, EventLatch])
def test_check_latch_passes_right_answers(latch, capsys):
    assert check_latch(latch)
    assert "passed" in capsys.readouterr().out


def test_check_latch_not_attempted(capsys):
    assert check_latch(Placeholder).status == "not attempted"
    capsys.readouterr()


@pytest.mark.parametrize("latch, says", [
    (NotifyOne, "notify_all()"),
    (IfNotWhile, "test the count again"),
    (NoPredicate, "returned True"),
    (Forgetful, "returned None"),
    (NoTimeout, "pass the timeout on"),
    (LostUpdate, "were lost"),
    (NoLock, "un-acquired lock"),
])
def test_check_latch_catches_wrong_answers(latch, says, capsys):
    verdict = check_latch(latch)
    assert verdict.status == "failed", verdict
    assert says in verdict.message
    words, _, schedule = verdict.message.partition("\n\nThe schedule explorer shows it")
    assert len(words) < 600  # a few lines, no stacks ...
    assert len(schedule.splitlines()) <= 4 + 14  # ... then, if any, a schedule table of at most 14 rows
    assert "Traceback" not in verdict.message
    capsys.readouterr()


# --- Exercise 6.2 ------------------------------------------------------------------------------------


def turns(notify_all=True, use_while=True, modulo=True, start="together", join=True, notify=True):
    def take_turns(names, rounds):
        log, turn = [], [0]
        cond = threading.Condition()

        def player(i):
            for _ in range(rounds):
                with cond:
                    if use_while:
                        mine = (lambda: turn[0] % len(names) == i) if modulo else (lambda: turn[0] == i)
                        if not cond.wait_for(mine, timeout=0.3):   # short: wrong answers stall less
                            return
                    elif turn[0] % len(names) != i:
                        cond.wait(0.3)
                    log.append(names[i])
                    turn[0] += 1
                    if notify:
                        cond.notify_all() if notify_all else cond.notify()

        threads = [threading.Thread(target=player, args=(i,)) for i in range(len(names))]
        for t in threads:
            t.run() if start == "run" else t.start()
            if start == "one by one":
                t.join(5)
        if join and start == "together":
            for t in threads:
                t.join(5)
        return log

    return take_turns


def semaphore_turns(names, rounds):
    """Another right answer: a semaphore per thread, as ping_pong does for two."""
    turn = [threading.Semaphore(1 if i == 0 else 0) for i in range(len(names))]
    log = []

    def player(i):
        for _ in range(rounds):
            if not turn[i].acquire(timeout=2):
                return
            log.append(names[i])
            turn[(i + 1) % len(names)].release()

    threads = [threading.Thread(target=player, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return log


@pytest.mark.parametrize("take_turns", [turns(), semaphore_turns])
def test_check_take_turns_passes_right_answers(take_turns, capsys):
    assert check_take_turns(take_turns)
    capsys.readouterr()


@pytest.mark.parametrize("take_turns, says", [
    (turns(notify_all=False), "notify_all()"),
    (turns(use_while=False), "whose turn it is again"),
    (turns(notify=False), "ever called notify()"),
    (turns(start="one by one"), "one after another"),
    (turns(start="run"), "called run()"),
    (turns(join=False), "never joined"),
    (turns(modulo=False), "expected ['A', 'B', 'A', 'B'"),
    (lambda names, rounds: names * rounds + ["extra"], "started 0 thread"),
])
def test_check_take_turns_catches_wrong_answers(take_turns, says, capsys):
    verdict = check_take_turns(take_turns)
    assert verdict.status == "failed", verdict
    assert says in verdict.message
    capsys.readouterr()
    time.sleep(0.1)


def polling_turns(names, rounds):
    """A right answer without a Condition: each thread polls for its turn with a short sleep."""
    log, turn, lock = [], [0], threading.Lock()

    def player(i):
        for _ in range(rounds):
            while True:
                with lock:
                    if turn[0] % len(names) == i:
                        log.append(names[i])
                        turn[0] += 1
                        break
                time.sleep(0.001)

    threads = [threading.Thread(target=player, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return log


def test_explore_take_turns_passes_right_answers_and_shows_an_if_out_of_turn():
    explore_take_turns(turns())  # waits with timeouts: they fire only when nothing else can happen
    explore_take_turns(semaphore_turns)
    explore_take_turns(polling_turns)  # every thread asleep: the one whose sleep ends first goes on
    with pytest.raises(AssertionError, match=r"(?s)expected \['A', 'B', 'C'\].*steps  thread.*show_bug"):
        explore_take_turns(turns(use_while=False))
    verdict = check_take_turns(turns(use_while=False))
    assert "The schedule explorer shows it with your code, step by step" in verdict.message


def test_check_take_turns_reports_an_exception_in_a_thread(capsys):
    def no_lock(names, rounds):
        cond = threading.Condition()
        threads = [threading.Thread(target=cond.wait, args=(1,), name=f"player-{i}") for i in range(len(names))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        return []

    verdict = check_take_turns(no_lock)
    assert verdict.status == "failed" and "un-acquired lock" in verdict.message and "player-" in verdict.message
    capsys.readouterr()
