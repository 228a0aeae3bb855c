"""Lab 2 (races and locks): the helpers, the blank learner notebook, and wrong answers caught.

- :mod:`threadlab.labs.lab2`: account locks that record owners and waiters, refuse a re-entrant
  acquire and break a deadlock; the thread harness that reports and breaks deadlocks; the
  instruments that widen race windows (:class:`~threadlab.labs.lab2.SlowAmount`, yielding locks);
- the blank learner version (``labs/``) fails every check quickly, each test "not attempted";
- wrong answers run through the real check cells of the reference notebook (hidden tests
  included): every racy variant is caught in every one of ``RUNS`` runs (the catch rates are
  printed: ``pytest -s tests/test_lab2.py``), a deadlock-prone transfer is reported as a deadlock
  naming who holds and waits for which account, and the reference answers are never caught.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time

import nbformat
import pytest

from threadlab.labcheck import CheckFailed
from threadlab.labs import lab2
from threadlab.labs.lab2 import Account, AccountMonitor, LockBroken, SlowAmount, open_accounts
from threadlab.labs.notebooks import assert_blank_lab, lab_paths, sources_by_id

LAB = "lab2-races-and-locks"
SOLUTION, BLANK = lab_paths(LAB)
RUNS = 10  #: runs per racy variant for the catch rates


# --- (a) the helpers ------------------------------------------------------------------------------


def test_account_lock_behaves_like_a_lock_and_records_its_owner():
    a, b = open_accounts(10, 20)
    monitor = a.lock.monitor
    assert b.lock.monitor is monitor and repr(a) == "Account(1, balance=10)"
    assert a.lock.acquire() is True and a.lock.locked()
    assert monitor.owners == {"account 1": threading.current_thread().name}
    got = []
    other = threading.Thread(target=lambda: got.extend([a.lock.acquire(False), a.lock.acquire(timeout=0.05)]))
    other.start()
    other.join(5)
    assert got == [False, False]
    a.lock.release()
    assert not a.lock.locked() and monitor.owners == {} and monitor.waiting == {}
    with pytest.raises(ValueError):
        a.lock.acquire(False, 1)


def test_account_lock_refuses_to_wait_for_itself():
    (a,) = open_accounts(10)
    with a.lock:
        with pytest.raises(LockBroken, match="already holds account 1"):
            a.lock.acquire()
        assert a.lock.acquire(timeout=0.01) is False  # with a timeout it behaves like a Lock
    assert not a.lock.locked()


def test_account_lock_shows_who_waits_and_unblocks_when_broken():
    monitor = AccountMonitor()
    a = Account(1, 0, monitor)
    a.lock.acquire()
    errors = []

    def waiter():
        try:
            a.lock.acquire()
        except LockBroken as exc:
            errors.append(exc)

    t = threading.Thread(target=waiter, name="waiter")
    t.start()
    deadline = time.monotonic() + 5
    while "waiter" not in monitor.waiting and time.monotonic() < deadline:
        time.sleep(0.005)
    assert monitor.waiting == {"waiter": "account 1"}
    assert monitor.report() == [f"waiter holds nothing; waits for account 1, held by {threading.current_thread().name}"]
    monitor.broken.set()
    t.join(5)
    assert not t.is_alive() and len(errors) == 1 and monitor.waiting == {}
    a.lock.release()


def test_run_threads_returns_results_in_order_and_raises_a_threads_error():
    assert lab2.run_threads([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    with pytest.raises(ZeroDivisionError):
        lab2.run_threads([lambda: 1, lambda: 1 / 0])


def test_run_threads_reports_a_deadlock_then_breaks_it():
    a, b = open_accounts(10, 10)
    both_hold = threading.Barrier(2)

    def take(first, second):
        with first.lock:
            both_hold.wait(5)
            with second.lock:
                return "never"

    start = time.perf_counter()
    with pytest.raises(AssertionError) as caught:
        lab2.run_threads(
            [lambda: take(a, b), lambda: take(b, a)], names=["T1", "T2"], monitor=a.lock.monitor, hint="order them"
        )
    message = str(caught.value)
    assert message.startswith("deadlock: ") and message.endswith("Hint: order them")
    assert "T1 holds account 1; waits for account 2, held by T2" in message
    assert "T2 holds account 2; waits for account 1, held by T1" in message
    assert time.perf_counter() - start < 5
    assert not a.lock.locked() and not b.lock.locked()  # the broken threads let go of their locks
    assert not [t for t in threading.enumerate() if t.name in ("T1", "T2")]


def test_run_threads_gives_up_on_a_thread_that_never_ends():
    release = threading.Event()
    try:
        with pytest.raises(AssertionError, match=r"still running after 0.3 s .*stuck"):
            lab2.run_threads([lambda: None, lambda: release.wait(10)], names=["quick", "stuck"], timeout=0.3)
    finally:
        release.set()


def test_run_audited_audits_until_every_body_ended():
    results, audits = lab2.run_audited([lambda: time.sleep(0.1) or "slept", lambda: "quick"], lambda: "audit")
    assert results == ["slept", "quick"] and len(audits) > 1 and set(audits) == {"audit"}


def test_random_transfers_is_repeatable_and_counts_successes():
    moves = []
    body = lab2.random_transfers(lambda s, d, a: moves.append((s, d, a)) or a > 15, range(4), seed=3, n=50)
    done = body()
    first, moves[:] = list(moves), []
    assert body() == done and moves == first and done == sum(a > 15 for _, _, a in first)
    assert all(s != d and 0 <= min(s, d) and max(s, d) < 4 and 1 <= a <= 30 for s, d, a in first)


def test_background_and_calls():
    job = lab2.Background(lambda: time.sleep(0.2) or "done")
    assert not job.done(0.01) and job.done(5) and job.result() == "done"
    failing = lab2.Background(lambda: 1 / 0)
    assert failing.done(5)
    with pytest.raises(ZeroDivisionError):
        failing.result()
    assert lab2.calls(divmod, 2, 7, 3)() == [(2, 1), (2, 1)]


def test_slow_amount_pauses_and_gives_plain_numbers():
    amount = SlowAmount(10, pause=0.02)
    start = time.perf_counter()
    results = [100 - amount, 100 + amount, amount - 1, amount + 1, 10 <= amount, 10 < amount, 9 >= amount, 11 > amount]
    assert time.perf_counter() - start >= 8 * 0.02 * 0.9
    assert results == [90, 110, 9, 11, True, False, False, True]
    assert [type(r) for r in results[:4]] == [int] * 4 and amount == 10 and hash(amount) == hash(10)


def test_with_yielding_locks_wraps_every_lock_and_they_still_work():
    class Thing:
        def __init__(self, outside_lock):
            self.lock = threading.Lock()
            self.rlock = threading.RLock()
            self.outside = outside_lock
            self.cond = threading.Condition(threading.RLock())

    made_before = threading.Lock()
    thing = lab2.with_yielding_locks(lambda: Thing(made_before))
    assert all(isinstance(getattr(thing, n), lab2.YieldingLock) for n in ("lock", "rlock", "outside", "cond"))
    assert threading.Lock().__class__.__name__ != "YieldingLock"  # the patch ended
    with thing.rlock, thing.rlock:
        pass
    with thing.cond:
        assert thing.cond.wait(0.01) is False  # Condition's own machinery still works through the wrapper
    assert not thing.lock.locked()


# --- the notebooks' code ------------------------------------------------------------------------------


def check_tests(exercise: str, **answer) -> dict:
    """The tests (visible and hidden) of an exercise's check cell, bound to ``answer`` (e.g. Counter=...)."""
    sources = sources_by_id(SOLUTION)
    ns: dict = {}
    exec(sources["setup"], ns)
    captured = []
    ns.update(answer)
    ns["check_exercise"] = lambda title, tests, timeout=5.0: captured.extend(tests)
    exec(compile(sources[f"{exercise}-check"], f"<{exercise}-check>", "exec"), ns)
    return {t.__name__: t for t in captured}


def reference(exercise: str):
    """The reference answer of an exercise, from the solution cell."""
    sources = sources_by_id(SOLUTION)
    ns: dict = {}
    exec(sources["setup"], ns)
    exec(sources[f"{exercise}-solution"], ns)
    return ns[{"ex1": "Counter", "ex2": "Bank", "ex3": "transfer"}[exercise]]


def full_check(exercise: str, **answer) -> tuple[bool, str]:
    """Run the whole check cell through the real check_exercise: (passed, what it printed)."""
    sources = sources_by_id(SOLUTION)
    ns: dict = {}
    exec(sources["setup"], ns)
    ns.update(answer)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(sources[f"{exercise}-check"], f"<{exercise}-check>", "exec"), ns)
            passed = True
        except CheckFailed:
            passed = False
    return passed, out.getvalue()


# --- wrong answers ------------------------------------------------------------------------------------


class BareCounter:
    """`self._value += amount`: no lock at all."""

    def __init__(self):
        self._value = 0

    def increment(self, amount=1):
        self._value += amount
        return self._value

    @property
    def value(self):
        return self._value


class ReadWriteCounter(BareCounter):
    """Read, add, write back: no lock."""

    def increment(self, amount=1):
        seen = self._value
        self._value = seen + amount
        return self._value


class LateReturnCounter(BareCounter):
    """Locked increment, but the value returned is read after the lock is released."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def increment(self, amount=1):
        with self._lock:
            self._value += amount
        return self._value


class UnlockedBank:
    """No lock anywhere."""

    def __init__(self, balances):
        self._lock = threading.Lock()
        self._balances = list(balances)

    def balance(self, account):
        return self._balances[account]

    def transfer(self, src, dst, amount):
        if self._balances[src] < amount:
            return False
        self._balances[src] -= amount
        self._balances[dst] += amount
        return True

    def total(self):
        return sum(self._balances)


class CheckThenActBank(UnlockedBank):
    """Each step locked, but the balance test and the transfer are separate steps."""

    def balance(self, account):
        with self._lock:
            return self._balances[account]

    def transfer(self, src, dst, amount):
        if self.balance(src) < amount:
            return False
        with self._lock:
            self._balances[src] -= amount
            self._balances[dst] += amount
        return True

    def total(self):
        with self._lock:
            return sum(self._balances)


class UnlockedAuditBank(UnlockedBank):
    """Transfers locked, total() not."""

    def transfer(self, src, dst, amount):
        with self._lock:
            return super().transfer(src, dst, amount)


def transfer_opposite_orders(src, dst, amount):
    with src.lock, dst.lock:
        if src.balance < amount:
            return False
        src.balance -= amount
        dst.balance += amount
        return True


def transfer_src_lock_only(src, dst, amount):
    with src.lock:
        if src.balance < amount:
            return False
        src.balance -= amount
        dst.balance += amount
        return True


def transfer_checks_before_locking(src, dst, amount):
    if src.balance < amount:
        return False
    first, second = sorted((src, dst), key=lambda account: account.number)
    with first.lock, second.lock:
        src.balance -= amount
        dst.balance += amount
        return True


_one_lock = threading.Lock()


def transfer_one_global_lock(src, dst, amount):
    """Correct and deadlock-free, but every transfer waits for every other one."""
    first, second = sorted((src, dst), key=lambda account: account.number)
    with _one_lock, first.lock, second.lock:
        if src.balance < amount:
            return False
        src.balance -= amount
        dst.balance += amount
        return True


# (exercise, name the check looks up, label, wrong answer, the test meant to catch it)
RACY = [
    ("ex1", "Counter", "bare self._value += amount", BareCounter, "test_eight_threads"),
    ("ex1", "Counter", "read; add; write back", ReadWriteCounter, "test_eight_threads"),
    ("ex1", "Counter", "value returned after the lock is released", LateReturnCounter, "test_tickets"),
    ("ex2", "Bank", "no lock", UnlockedBank, "test_random_transfers"),
    ("ex2", "Bank", "check-then-act in two locked steps", CheckThenActBank, "test_overdraft"),
    ("ex2", "Bank", "total() without the lock", UnlockedAuditBank, "test_audits_during_transfers"),
    ("ex3", "transfer", "locks taken in opposite orders", transfer_opposite_orders, "test_both_directions"),
    ("ex3", "transfer", "only the source's lock", transfer_src_lock_only, "test_both_directions"),
    ("ex3", "transfer", "balance checked before locking", transfer_checks_before_locking, "test_overdraft"),
]
RATES: dict[str, str] = {}


@pytest.mark.parametrize("exercise, name, label, answer, test_name", RACY, ids=[r[2] for r in RACY])
def test_racy_answer_is_caught_in_every_run(exercise, name, label, answer, test_name):
    test = check_tests(exercise, **{name: answer})[test_name]
    caught, messages = 0, []
    start = time.perf_counter()
    for _ in range(RUNS):
        try:
            test()
        except AssertionError as exc:
            caught += 1
            messages.append(str(exc))
    seconds = (time.perf_counter() - start) / RUNS
    RATES[f"{exercise} {label}"] = f"{caught}/{RUNS}"
    print(f"\ncatch rate, {exercise} {label} ({test_name}): {caught}/{RUNS} runs, {seconds:.2f} s a run")
    assert caught == RUNS, messages
    assert all("Hint:" in m for m in messages)
    if label == "locks taken in opposite orders":
        assert all(m.startswith("deadlock: transfer-") and "waits for account" in m for m in messages)


@pytest.mark.parametrize("exercise", ["ex1", "ex2", "ex3"])
def test_reference_answer_is_never_caught(exercise):
    name = {"ex1": "Counter", "ex2": "Bank", "ex3": "transfer"}[exercise]
    tests = check_tests(exercise, **{name: reference(exercise)})
    for test_name in {r[4] for r in RACY if r[0] == exercise}:
        for _ in range(2):
            tests[test_name]()


def test_deadlock_prone_transfer_fails_the_check_with_a_deadlock_report():
    start = time.perf_counter()
    passed, printed = full_check("ex3", transfer=transfer_opposite_orders)
    assert not passed
    line = next(x for x in printed.splitlines() if "transfers 2 -> 1 at the same time" in x)
    assert re.search(r"✘ .*failed - deadlock: transfer-\S+ holds account \d; waits for account \d, held by transfer-", line)
    assert "Hint: take the two locks in one global order" in line
    assert "✔ moves money, refuses an overdraft, releases both locks" in printed
    assert time.perf_counter() - start < 20  # the deadlock is detected, not waited out by the check's timeout
    assert not [t for t in threading.enumerate() if t.name.startswith("transfer")]  # and broken: no thread left stuck


def test_one_global_lock_fails_only_the_hidden_test_for_it():
    passed, printed = full_check("ex3", transfer=transfer_one_global_lock)
    assert not passed
    failed = [x for x in printed.splitlines() if x.startswith("✘")]
    assert len(failed) == 1, printed
    assert "transfer(c, d, 1) waited while transfer(a, b, 1) waited for account 1's lock" in failed[0]


# --- (b) the blank learner notebook -----------------------------------------------------------------


def test_blank_lab_fails_every_check_quickly_as_not_attempted():
    text = "\n".join(c.source for c in nbformat.read(BLANK, as_version=4).cells)
    assert "BEGIN HIDDEN TESTS" not in text and "sorted((src, dst)" not in text and "self._lock" not in text
    cells = assert_blank_lab(BLANK, ["ex1-check", "ex2-check", "ex3-check"], limit=3.0)
    for cell, _ in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            assert not errors, cell.source[:80]  # the setup and the skeletons run
        else:
            assert [e.ename for e in errors] == ["CheckFailed"]


class SelfDeadlockBank(CheckThenActBank):
    """transfer() holds the (non-re-entrant) lock and then calls balance(), which takes it again."""

    def transfer(self, src, dst, amount):
        with self._lock:
            if self.balance(src) < amount:
                return False
            self._balances[src] -= amount
            self._balances[dst] += amount
            return True


def test_a_hung_answer_is_reported_as_timed_out_with_the_lock_it_waits_for():
    from threadlab.labcheck import check_exercise

    banks = []
    tests = check_tests("ex2", Bank=lambda balances: banks.append(SelfDeadlockBank(balances)) or banks[-1])
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), pytest.raises(CheckFailed):
        check_exercise("Exercise 2", [tests["test_one_thread"]], timeout=1.0)
    printed = out.getvalue()
    print(printed)
    assert time.perf_counter() - start < 5
    assert "timed out - after 1 s: deadlock or busy loop?" in printed
    assert "of balance, test_lab2.py: `with self._lock:`" in printed  # the stack shows where it waits
    # the lock it waits for is one it already holds (an earlier check thread of the same name may be listed too)
    assert re.search(r"holds (?:.*, )?Lock #(\d+) .*and waits for Lock #\1 ", printed), printed
    banks[0]._lock.release()  # let the stuck thread go: it finishes its transfer and ends
