"""The lock exercises' checks (threadlab.checks.locks): right answers pass, the usual wrong ones fail
with a message that says what went wrong and where. The full set of wrong answers is in
mutants/lesson04.py (``python3 ci/course.py mutants 04``)."""

import threading
import time

import pytest

from threadlab.checks.locks import DeadlockSuspected, WatchedLock, check_safe_add, check_transfer


@pytest.fixture(autouse=True)
def _every_test_leaves_no_thread(no_leftover_threads):
    """Every check here must end or join the threads it started (tests/conftest.py)."""


def test_watched_lock_knows_its_owner_and_gives_up_instead_of_hanging():
    lock = WatchedLock("the lock", patience=0.1)
    with lock:
        assert lock.locked() and lock.held_by_me() and "test_watched_lock" in lock.where
        assert lock.acquire(timeout=0.05) is False and lock.acquire(blocking=False) is False
        with pytest.raises(DeadlockSuspected, match="waited 0.1 s for the lock"):
            lock.acquire()
    assert not lock.locked() and lock.hold == 1
    with pytest.raises(RuntimeError):
        lock.release()


def test_abandoning_a_watched_lock_frees_its_waiters():
    lock = WatchedLock("the lock", patience=5)
    lock.acquire()
    waiter = threading.Thread(target=lock.acquire)
    waiter.start()
    time.sleep(0.1)
    lock.abandoned = True
    waiter.join(2)
    assert not waiter.is_alive() and not lock.locked()


def safe_add(box, n, lock):
    for _ in range(n):
        with lock:
            seen = box.value
            time.sleep(0)
            box.value = seen + 1


def no_lock(box, n, lock):
    for _ in range(n):
        seen = box.value
        time.sleep(0)
        box.value = seen + 1


def lock_around_the_write(box, n, lock):
    for _ in range(n):
        seen = box.value
        time.sleep(0)
        with lock:
            box.value = seen + 1


def no_finally(box, n, lock):
    for _ in range(n):
        lock.acquire()
        seen = box.value
        time.sleep(0)
        box.value = seen + 1
        lock.release()


def never_released(box, n, lock):
    for _ in range(n):
        lock.acquire()
        box.value += 1


def test_check_safe_add(capsys):
    assert check_safe_add(safe_add)
    assert "passed" in capsys.readouterr().out
    assert "never acquired the lock" in check_safe_add(no_lock, rounds=1).message
    verdict = check_safe_add(lock_around_the_write, rounds=1)
    assert verdict.status == "failed" and "read on line" in verdict.message and "lock_around_the_write" in verdict.message
    assert "stayed held" in check_safe_add(no_finally, rounds=1).message
    assert "nobody released it" in check_safe_add(never_released, rounds=1).message

    def placeholder(box, n, lock):
        raise NotImplementedError

    assert check_safe_add(placeholder).status == "not attempted"


def transfer(src, dst, amount):
    first, second = sorted((src, dst), key=lambda account: account.number)
    with first.lock, second.lock:
        if src.balance < amount:
            raise ValueError("not enough")
        src.balance -= amount
        dst.balance += amount


def argument_order(src, dst, amount):
    with src.lock, dst.lock:
        if src.balance < amount:
            raise ValueError("not enough")
        src.balance -= amount
        dst.balance += amount


def one_lock_at_a_time(src, dst, amount):
    with src.lock:
        if src.balance < amount:
            raise ValueError("not enough")
        src.balance -= amount
    with dst.lock:
        dst.balance += amount


def check_then_act(src, dst, amount):
    if src.balance < amount:
        raise ValueError("not enough")
    first, second = sorted((src, dst), key=lambda account: account.number)
    with first.lock, second.lock:
        src.balance -= amount
        dst.balance += amount


def test_check_transfer():
    assert check_transfer(transfer)
    verdict = check_transfer(argument_order)
    assert verdict.status == "failed" and "deadlock" in verdict.message and "global order" in verdict.message
    assert "account 2's lock was not held" in check_transfer(one_lock_at_a_time).message
    assert "check-then-act" in check_transfer(check_then_act).message
