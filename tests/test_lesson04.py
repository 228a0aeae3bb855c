"""Unit tests for threadlab.lessons.lesson04 (race conditions and locks)."""

import sys
import threading
import time
from fractions import Fraction

import pytest

from threadlab import env
from threadlab.lessons import lesson04 as L


@pytest.fixture(autouse=True)
def no_leftovers():
    """Every test leaves the switch interval and the set of threads as it found them."""
    interval = sys.getswitchinterval()
    before = set(threading.enumerate())
    yield
    assert sys.getswitchinterval() == interval
    assert set(threading.enumerate()) <= before


def test_run_together_runs_every_index_and_restores_the_interval():
    seen = []
    old = sys.getswitchinterval()
    L.run_together(seen.append, 5, switch_interval=L.TINY_SWITCH)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert sys.getswitchinterval() == old


def test_run_together_reraises_a_thread_exception():
    def boom(i):
        if i == 1:
            raise ValueError("thread 1 failed")

    with pytest.raises(ValueError, match="thread 1"):
        L.run_together(boom, 3)


def test_run_together_reports_threads_that_do_not_finish():
    stop = threading.Event()
    with pytest.raises(RuntimeError, match="still running"):
        L.run_together(lambda i: stop.wait(5), 2, timeout=0.2)
    stop.set()
    time.sleep(0.1)


def test_sleep_counter_loses_updates_in_every_run():
    results = L.catch_rate("sleep", runs=20, threads=4, iterations=300)
    assert all(r.lost > 0 for r in results)
    assert all(0 <= r.counted < r.expected == 1200 for r in results)


def test_locked_counter_loses_nothing():
    results = L.catch_rate("locked", runs=5, threads=4, iterations=200)
    assert [r.lost for r in results] == [0] * 5


def test_one_thread_cannot_lose_updates():
    for body in L.BODIES:
        assert L.count(body, 1, 200).lost == 0


@pytest.mark.skipif(not env.gil_enabled(), reason="with the GIL only")
def test_plain_increment_is_not_interrupted_with_the_gil():
    results = L.catch_rate("plain", runs=5, threads=4, iterations=5000, switch_interval=L.TINY_SWITCH)
    assert all(r.lost == 0 for r in results)


def test_a_call_between_read_and_write_opens_the_window():
    results = L.catch_rate("call", runs=10, threads=4, iterations=2000, switch_interval=L.TINY_SWITCH)
    assert any(r.lost > 0 for r in results)


def test_catch_table_and_format():
    table = L.catch_table(runs=3, threads=3, iterations=500)
    assert table["read; sleep(0); write"] == 3
    assert table["read; sleep(0); write inside the lock"] == 0
    text = L.format_table(table, runs=3)
    assert len(text.splitlines()) == len(table) and "/3 runs" in text


def test_lost_experiment_plot_and_summary():
    result = L.lost_experiment(3, 100)
    assert sorted(result) == [1, 2, 3] and result.iterations == 100
    assert result[1] == (0, 0) and result[3][0] > 0 and result[3][1] == 0
    assert L.plot_lost(result).axes
    assert "3 threads x 100" in L.summary_lost(result)


def test_replay_seed_race_loses_the_w():
    v, trace = L.replay_seed_race("abx")
    assert v == "abxg" and len(trace) == 3


def test_instructions_split_load_and_store():
    ops = [op for op, _ in L.instructions("v += k")]
    assert any(op.startswith("LOAD") for op in ops) and any(op.startswith("STORE") for op in ops)
    first, last, between = L.load_and_store("v += k")
    assert last - first >= 2 and len(between) == last - first - 1
    with pytest.raises(ValueError):
        L.load_and_store("print(k)")


def test_between_load_and_store_and_switch_points():
    assert not any(op.startswith("CALL") for op in L.between_load_and_store(L.add_plain))
    assert any(op.startswith("CALL") for op in L.between_load_and_store(L.add_with_call))
    points = L.switch_points(L.add_plain)
    assert points, "a loop has at least one backward jump"


def test_acquire_twice():
    lock, rlock = threading.Lock(), threading.RLock()
    assert L.acquire_twice(lock, timeout=0.05) == (True, False)
    assert L.acquire_twice(rlock) == (True, True)
    assert not lock.locked()
    assert rlock.acquire(blocking=False)
    rlock.release()


def test_release_from_other_thread():
    lock, rlock = threading.Lock(), threading.RLock()
    assert L.release_from_other_thread(lock) == "released" and not lock.locked()
    assert L.release_from_other_thread(rlock) == "RuntimeError"
    assert rlock.acquire(blocking=False)  # released again by its owner
    rlock.release()


def test_held_by_and_timed():
    lock = threading.Lock()
    with L.HeldBy(lock):
        got, waited = L.timed(lambda: lock.acquire(timeout=0.1))
        assert got is False and 0.08 <= waited < 2
        assert lock.acquire(blocking=False) is False
    assert lock.acquire(timeout=2)
    lock.release()


def test_two_lock_threads():
    assert L.two_lock_threads(ordered=False, timeout=0.2) == {"T1": "gave up", "T2": "gave up"}
    assert L.two_lock_threads(ordered=True, timeout=0.2) == {"T1": "got both", "T2": "got both"}


def test_single_operations_are_safe():
    assert L.many_appends(4, 5000) == 0
    assert L.many_dict_stores(4, 2000) == 0


def test_read_modify_write_sequences_lose_updates():
    assert max(L.dict_increments() for _ in range(5)) > 0
    assert max(L.global_adds(Fraction(1)) for _ in range(5)) > 0
    assert max(L.check_then_act() for _ in range(5)) > 0


def test_key_hash_and_eq():
    assert L.Key("a") == L.Key("a") and L.Key("a") != "a"
    assert {L.Key("a"): 1}[L.Key("a")] == 1


def good_safe_add(box, n, lock):
    for _ in range(n):
        with lock:
            seen = box.value
            time.sleep(0)
            box.value = seen + 1


def test_check_safe_add(capsys):
    assert L.check_safe_add(good_safe_add)
    assert not L.check_safe_add(L.add_with_sleep)  # racy: fails
    assert L.check_safe_add(lambda box, n, lock: ...).status == "failed"

    def placeholder(box, n, lock):
        raise NotImplementedError

    assert L.check_safe_add(placeholder).status == "not attempted"
    assert "passed" in capsys.readouterr().out


def ordered_transfer(src, dst, amount):
    first, second = sorted((src, dst), key=lambda a: a.number)
    with first.lock, second.lock:
        src.balance -= amount
        dst.balance += amount


def naive_transfer(src, dst, amount):
    with src.lock, dst.lock:
        src.balance -= amount
        dst.balance += amount


def test_check_transfer_accepts_ordering_and_detects_deadlock():
    assert L.check_transfer(ordered_transfer)
    verdict = L.check_transfer(naive_transfer)
    assert verdict.status == "failed" and "deadlock" in verdict.message


def test_timeout_lock_and_account():
    acc = L.Account(7, 10)
    assert "balance=10" in repr(acc)
    lock = L.TimeoutLock("x", timeout=0.05)
    with lock:
        assert lock.locked()
        with pytest.raises(L.DeadlockSuspected):
            lock.__enter__()
    assert not lock.locked()
