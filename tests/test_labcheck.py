"""Tests of threadlab.labcheck, the checker behind the labs' check cells."""

from __future__ import annotations

import linecache
import queue
import sys
import threading
import time
import types

import pytest

from threadlab import labcheck
from threadlab.labcheck import (
    CheckFailed,
    amplified_races,
    check_exercise,
    expect_between,
    expect_equal,
    expect_raises,
    traced_locks,
)

ORIGINAL_LOCK, ORIGINAL_RLOCK = threading.Lock, threading.RLock


def run_check(tests, timeout=2.0, **kwargs):
    """(report or CheckFailed, printed text) of check_exercise."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            outcome = check_exercise("Exercise 9: testing", tests, timeout=timeout, **kwargs)
        except CheckFailed as exc:
            outcome = exc
    return outcome, out.getvalue()


def statuses(outcome):
    report = outcome.report if isinstance(outcome, CheckFailed) else outcome
    return [r.status for r in report.results]


@pytest.fixture(autouse=True)
def _state_is_restored():
    interval, ttrace, trace = sys.getswitchinterval(), threading.gettrace(), sys.gettrace()
    yield
    assert threading.Lock is ORIGINAL_LOCK and threading.RLock is ORIGINAL_RLOCK
    assert sys.getswitchinterval() == interval
    assert threading.gettrace() is ttrace and sys.gettrace() is trace


# --- verdicts ------------------------------------------------------------------------------------


def test_all_passed_returns_a_true_report_and_prints_one_line_per_test():
    def first():
        """adds two numbers"""
        expect_equal(1 + 1, 2, "1 + 1")

    def second():
        pass

    report, printed = run_check([first, second])
    assert report and report.passed == 2
    assert printed.splitlines() == ["Exercise 9: testing", "✔ adds two numbers", "✔ second"]


def test_a_wrong_answer_is_reported_with_its_message_and_raises_checkfailed():
    def counts():
        """counts to three"""
        expect_equal(2, 3, "the count", hint="did every thread finish?")

    def fine():
        pass

    outcome, printed = run_check([counts, fine])
    assert isinstance(outcome, CheckFailed)
    assert statuses(outcome) == ["failed", "passed"]
    assert "✘ counts to three: failed - the count: expected 3, got 2. Hint: did every thread finish?" in printed
    assert "1 of 2 checks passed (1 failed)" in str(outcome)


def test_a_bare_assert_points_at_its_line():
    def bare():
        raise AssertionError  # what `assert x == y` raises in a notebook (no pytest rewriting there)

    outcome, printed = run_check([bare])
    assert statuses(outcome) == ["failed"]
    assert "an assertion failed at line" in printed and "of bare" in printed and "`raise AssertionError" in printed


def test_notimplementederror_and_undefined_names_are_not_attempted():
    def blank():
        raise NotImplementedError()

    def uses_learner_name():
        return LearnerCounter()  # noqa: F821  (defined by the learner's exercise cell)

    def factory_user(make=lambda: LearnerQueue()):  # noqa: F821
        return make()

    started = time.perf_counter()
    outcome, printed = run_check([blank, uses_learner_name, factory_user])
    assert time.perf_counter() - started < 1.5  # a blank exercise fails fast
    assert statuses(outcome) == ["not attempted"] * 3
    assert "`LearnerCounter` is not defined yet" in printed and "`LearnerQueue` is not defined yet" in printed
    assert "Traceback" not in printed


def learner_cell(source: str, number: int) -> dict:
    """Run code the way a notebook cell is run (own file name, source in linecache); its namespace."""
    filename = f"<learner-cell-{number}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_a_nameerror_inside_learner_code_is_an_error_with_its_line():
    cell = learner_cell("def count_words(text):\n    return len(splitt(text))\n", 1)

    def test():
        expect_equal(cell["count_words"]("a b"), 2, "count_words('a b')")

    outcome, printed = run_check([test])
    assert statuses(outcome) == ["error"]
    assert "NameError: name 'splitt' is not defined (line 2 of count_words" in printed
    assert "`return len(splitt(text))`" in printed


def test_an_exception_is_an_error_pointing_at_the_learners_line():
    cell = learner_cell("def ratio(a, b):\n    result = a / b\n    return result\n", 2)

    def test():
        cell["ratio"](1, 0)

    outcome, printed = run_check([test])
    assert statuses(outcome) == ["error"]
    line = next(x for x in printed.splitlines() if x.startswith("✘"))
    assert "ZeroDivisionError: division by zero (line 2 of ratio" in line and "`result = a / b`" in line


def test_an_exception_in_a_thread_started_by_the_test_is_shown():
    def test():
        def worker():
            raise ValueError("bad item")

        t = threading.Thread(target=worker, name="worker-1")
        t.start()
        t.join()
        expect_equal(0, 1, "items done")

    outcome, printed = run_check([test])
    assert statuses(outcome) == ["failed"]
    assert "thread 'worker-1' died with ValueError: bad item" in printed


def test_checkfailed_renders_as_one_short_line():
    outcome, _ = run_check([lambda: expect_equal(1, 2, "x")])
    lines = outcome._render_traceback_()
    assert len(lines) == 1 and "CheckFailed" in lines[0] and "0 of 1 checks passed" in lines[0]
    assert "Traceback" not in lines[0]


# --- timeouts --------------------------------------------------------------------------------------


def test_a_deadlock_times_out_with_stacks_and_lock_owners_and_later_tests_still_run():
    def deadlock():
        """transfers both ways"""
        a, b = threading.Lock(), threading.Lock()
        ready = threading.Barrier(2, timeout=5)

        def one():
            with a:
                ready.wait()
                with b:
                    pass

        def two():
            with b:
                ready.wait()
                with a:
                    pass

        threads = [threading.Thread(target=one, name="one"), threading.Thread(target=two, name="two")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def later():
        pass

    alive_before = set(threading.enumerate())
    started = time.perf_counter()
    outcome, printed = run_check([deadlock, later], timeout=1.0)
    elapsed = time.perf_counter() - started
    assert statuses(outcome) == ["timed out", "passed"]
    assert elapsed < 1.0 + 4.0, elapsed
    assert "transfers both ways: timed out - after 1 s: deadlock or busy loop?" in printed
    assert "thread 'one' is blocked" in printed and "thread 'two' is blocked" in printed
    assert "`with b:`" in printed and "`with a:`" in printed  # where each one waits
    assert "'one' holds Lock #" in printed and "held by 'two'" in printed
    assert "deadlock: 'one' -> 'two' -> 'one'" in printed or "deadlock: 'two' -> 'one' -> 'two'" in printed
    # the stuck threads are daemons left behind (3: the test's runner and its two threads); nothing else changed
    # (counted as threads that are new, so a thread of an earlier test that ends meanwhile changes nothing)
    assert len(set(threading.enumerate()) - alive_before) == 3
    assert all(t.daemon for t in threading.enumerate() if t.name in ("one", "two"))


def test_a_condition_wait_that_nobody_notifies_is_reported_blocked():
    def waits():
        cond = threading.Condition()
        with cond:
            cond.wait()

    outcome, printed = run_check([waits], timeout=0.5)
    assert statuses(outcome) == ["timed out"]
    assert "is blocked" in printed and "`cond.wait()`" in printed


def test_a_busy_loop_is_reported_as_spinning_and_stopped():
    def spins():
        x = 0
        while True:
            x += 1

    outcome, printed = run_check([spins, lambda: None], timeout=0.5)
    assert statuses(outcome) == ["timed out", "passed"]
    assert "is running (using CPU: a busy loop?)" in printed
    assert "stopped the spinning thread(s)" in printed
    assert not any(t.name.startswith("check: spins") for t in threading.enumerate())


def test_a_busy_loop_that_cannot_be_stopped_keeps_running_and_does_not_hang_later_checks():
    done = threading.Event()

    def stubborn():
        while True:  # swallows the exception meant to stop it, wherever it lands
            try:
                while not done.is_set():
                    sum(range(100))
                return
            except BaseException:
                pass

    def later():
        expect_equal(sum(range(10)), 45, "a sum")

    try:
        outcome, printed = run_check([stubborn, later], timeout=0.5)
        assert statuses(outcome) == ["timed out", "passed"]
        assert "still running in the background as daemon thread(s)" in printed
        # a second exercise run while it still spins is slower, not stuck
        started = time.perf_counter()
        report, _ = run_check([later, later], timeout=5.0)
        assert report and time.perf_counter() - started < 5.0
    finally:
        done.set()


def test_a_timeout_inside_amplified_races_restores_switch_interval_and_tracing():
    def stuck_while_amplified():
        with amplified_races():
            threading.Event().wait()

    interval = sys.getswitchinterval()
    outcome, _ = run_check([stuck_while_amplified], timeout=0.5)
    assert statuses(outcome) == ["timed out"]
    assert sys.getswitchinterval() == interval and threading.gettrace() is None


# --- expect_* helpers ----------------------------------------------------------------------------------


def test_expect_helpers_messages():
    assert expect_equal([1], [1]) == [1]
    with pytest.raises(AssertionError, match=r"^total: expected 10, got 9$"):
        expect_equal(9, 10, "total")
    assert expect_between(0.5, 0, 1) == 0.5
    with pytest.raises(AssertionError, match=r"speedup: expected between 2 and 8, got 1.5. Hint: more threads"):
        expect_between(1.5, 2, 8, "speedup", hint="more threads")
    with pytest.raises(AssertionError, match="expected between"):
        expect_between(None, 0, 1)
    exc = expect_raises(ValueError, int, "x", what="int('x')")
    assert isinstance(exc, ValueError)
    with pytest.raises(AssertionError, match=r"^int\('1'\): expected ValueError to be raised, got a return value 1$"):
        expect_raises(ValueError, int, "1", what="int('1')")
    with pytest.raises(AssertionError, match=r"^get\(\): expected queue.Empty|^get\(\): expected Empty, got TypeError"):
        expect_raises(queue.Empty, lambda: None + 1, what="get()")
    with pytest.raises(NotImplementedError):  # a blank exercise stays "not attempted"
        expect_raises(ValueError, lambda: (_ for _ in ()).throw(NotImplementedError()))


# --- traced locks ----------------------------------------------------------------------------------------


def test_traced_locks_are_drop_ins_for_lock_rlock_condition_and_friends():
    with traced_locks():
        lock, rlock, cond = threading.Lock(), threading.RLock(), threading.Condition()
        sem, event, q = threading.Semaphore(1), threading.Event(), queue.Queue(maxsize=1)
        barrier = threading.Barrier(2, timeout=5)
    assert threading.Lock is ORIGINAL_LOCK and threading.RLock is ORIGINAL_RLOCK
    assert isinstance(lock, labcheck.TracedLock) and isinstance(rlock, labcheck.TracedRLock)
    assert isinstance(cond._lock, labcheck.TracedRLock)

    assert lock.acquire() and not lock.acquire(timeout=0.01) and lock.locked()
    threading.Thread(target=lock.release).start()  # a Lock may be released by another thread
    assert lock.acquire(timeout=2)
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()

    with rlock, rlock:
        assert rlock._is_owned()
    with pytest.raises(RuntimeError):
        rlock.release()

    got = []

    def waiter():
        with cond:
            got.append(cond.wait_for(lambda: event.is_set(), timeout=5))

    t = threading.Thread(target=waiter)
    t.start()
    with cond:
        assert cond.wait(0.01) is False
    with cond:
        event.set()
        cond.notify_all()
    t.join(5)
    assert got == [True]

    assert sem.acquire() and not sem.acquire(timeout=0.01)
    sem.release()
    q.put(1)
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.01)
    assert q.get() == 1
    other = threading.Thread(target=barrier.wait)
    other.start()
    barrier.wait()
    other.join(5)
    assert not other.is_alive()
    assert labcheck.lock_report([threading.get_ident()]) == []  # nothing held any more


def test_lock_report_names_holder_and_waiter():
    with traced_locks():
        lock = threading.Lock()
    lock.acquire()
    t = threading.Thread(target=lambda: lock.acquire(timeout=5), name="waiter")
    t.start()
    deadline = time.monotonic() + 5
    while t.ident not in labcheck._registry.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = labcheck.lock_report()
    lock.release()
    t.join(5)
    lock.release()
    expected = "'waiter' holds no traced lock and waits for Lock #"
    assert any(expected in line and "held by 'MainThread'" in line for line in lines), lines


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({}, None),
        ({"a": "b"}, None),
        ({"t1": "t2", "t2": "t3"}, None),
        ({"b": "a", "a": "b"}, ["a", "b"]),
        ({"z": "y", "y": "x", "x": "z"}, ["x", "z", "y"]),  # from the smallest, following the waits
        ({"t": "a", "a": "a"}, ["a"]),  # waiting for itself: a cycle of one
        ({"p": "q", "s": "t", "t": "s"}, ["s", "t"]),
        ({3: 1, 1: 2, 2: 3, 0: 1}, [1, 2, 3]),
        ({4: 0, 0: 1, 1: 2, 2: 3, 3: 4}, [0, 1, 2, 3, 4]),
    ],
)
def test_find_cycle(graph, expected):
    assert labcheck.find_cycle(graph) == expected


def test_named_traced_lock_and_its_wait_for_graph():
    a, b = labcheck.TracedLock("account A"), labcheck.TracedLock("account B")
    assert repr(a) == "<TracedLock 'account A' free>" and a.label == "account A"
    me = threading.get_ident()
    with a:
        assert a.holders() == [me] and repr(a) == "<TracedLock 'account A' held by MainThread>"
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("ok", a.acquire(timeout=5)), name="waiter")
        t.start()
        deadline = time.monotonic() + 5
        while not a.waiters() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert a.waiters() == [t.ident] and labcheck.wait_for_graph([a]) == {t.ident: me}
        assert labcheck.wait_for_graph([b]) == {}
    t.join(5)
    assert got == {"ok": True} and a.holders() == [t.ident] and a.waiters() == []
    a.release()  # a Lock may be released by another thread
    assert a.holders() == [] and not a.locked()
    with pytest.raises(RuntimeError):
        a.release()


def test_two_threads_in_opposite_orders_make_a_cycle():
    a, b = labcheck.TracedLock("A"), labcheck.TracedLock("B")
    lined_up = threading.Barrier(2, timeout=5)
    results = {}

    def transfer(first, second):
        with first:
            lined_up.wait()  # both hold their first lock now
            results[threading.current_thread().name] = second.acquire(timeout=1.0)
            if results[threading.current_thread().name]:
                second.release()

    threads = [threading.Thread(target=transfer, args=plan, name=name) for plan, name in (((a, b), "one"), ((b, a), "two"))]
    for t in threads:
        t.start()
    cycle, deadline = None, time.monotonic() + 5
    while cycle is None and time.monotonic() < deadline:
        cycle = labcheck.find_cycle(labcheck.wait_for_graph([a, b]))
        time.sleep(0.001)
    for t in threads:
        t.join(5)
    assert sorted(cycle) == sorted(t.ident for t in threads)
    assert a.holders() == b.holders() == [] and labcheck.wait_for_graph([a, b]) == {}


# --- race amplification: measured catch rate -------------------------------------------------------------------


class BareCounter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1


class ReadAddWriteCounter:
    def __init__(self):
        self.value = 0

    def increment(self):
        current = self.value
        current = current + 1
        self.value = current


class ReadCallWriteCounter:
    def __init__(self):
        self.value = 0

    def _plus_one(self, n):
        return n + 1

    def increment(self):
        current = self.value
        self.value = self._plus_one(current)


class LockedCounter:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def increment(self):
        with self.lock:
            self.value += 1


def lost_updates(counter_class, threads: int, increments: int, amplified: bool) -> bool:
    counter = counter_class()

    def work():
        for _ in range(increments):
            counter.increment()

    with amplified_races() if amplified else _nothing():
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return counter.value != threads * increments


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


RUNS = 20
# (threads, increments each, racy runs that must be caught). 4 threads or more: every run, on
# Python 3.10-3.13 (100 of 100 runs). 2 threads: 96-100 of 100 runs measured on a 2-core machine at load 9, where
# the OS can deschedule one of the two threads for its whole run; hence 19 of 20 there.
SIZES = ((4, 300, RUNS), (2, 300, RUNS - 1))


def test_amplified_races_catches_every_racy_counter_every_time_and_never_a_locked_one():
    rates = {}
    started = time.perf_counter()
    for threads, increments, _ in SIZES:
        for cls in (BareCounter, ReadAddWriteCounter, ReadCallWriteCounter, LockedCounter):
            for amplified in (False, True):
                caught = sum(lost_updates(cls, threads, increments, amplified) for _ in range(RUNS))
                rates[threads, increments, cls.__name__, amplified] = caught
    elapsed = time.perf_counter() - started
    print(f"\ncatch rate over {RUNS} runs, Python {sys.version.split()[0]}:")
    for (threads, increments, name, amplified), caught in rates.items():
        how = "amplified_races()" if amplified else "plain"
        print(f"  {threads} threads x {increments:4} increments  {name:22} {how:17} {caught}/{RUNS}")
    print(f"  ({elapsed:.1f} s in all)")
    for threads, increments, at_least in SIZES:
        for name in ("BareCounter", "ReadAddWriteCounter", "ReadCallWriteCounter"):
            assert rates[threads, increments, name, True] >= at_least, (threads, increments, name, rates)
        assert rates[threads, increments, "LockedCounter", True] == 0
        assert rates[threads, increments, "LockedCounter", False] == 0


def test_amplified_races_restores_everything_even_on_error():
    def my_trace(frame, event, arg):
        return None

    interval = sys.getswitchinterval()
    threading.settrace(my_trace)
    try:
        with pytest.raises(KeyError), amplified_races():
            assert sys.getswitchinterval() < interval and threading.gettrace() is labcheck._new_thread_tracer
            raise KeyError("boom")
        assert threading.gettrace() is my_trace and sys.getswitchinterval() == interval
        assert labcheck._yield_every == 0 and labcheck._start_delay == 0
    finally:
        threading.settrace(None)


def test_amplified_races_does_not_trace_library_code():
    assert labcheck._is_library(threading.__file__) and labcheck._is_library(labcheck.__file__)
    assert not labcheck._is_library(__file__)


# --- in a real kernel ---------------------------------------------------------------------------------------


def test_in_a_kernel_blank_exercise_deadlock_and_short_checkfailed_then_the_kernel_still_works(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import threading, time\nfrom threadlab.labcheck import check_exercise, expect_equal",
        "# YOUR CODE HERE\nraise NotImplementedError()",
        'def test_counter():\n    """a counter counts"""\n    expect_equal(Counter().value, 0, "a new counter")\n'
        'started = time.perf_counter()\ncheck_exercise("Exercise 1: a counter", [test_counter])',
        "blank_seconds = time.perf_counter() - started\n"
        "def test_waits():\n    lock = threading.Lock()\n    lock.acquire()\n    lock.acquire()\n"
        'check_exercise("Exercise 2: stuck", [test_waits], timeout=0.5)',
        "print(threading.Lock is threading._allocate_lock, blank_seconds < 2, 1 + 1)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        nb, timeout=60, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    blank, check1, check2, after = nb.cells[1:]
    assert blank.outputs[0].ename == "NotImplementedError"
    text1 = "".join(o.get("text", "") for o in check1.outputs if o.output_type == "stream")
    assert "✘ a counter counts: not attempted - `Counter` is not defined yet" in text1
    error1 = next(o for o in check1.outputs if o.output_type == "error")
    assert error1.ename == "CheckFailed" and len(error1.traceback) == 1 and "0 of 1 checks passed" in error1.traceback[0]
    text2 = "".join(o.get("text", "") for o in check2.outputs if o.output_type == "stream")
    assert "timed out - after 0.5 s" in text2 and "waiting to acquire Lock #" in text2 and "Cell In[" in text2
    assert next(o for o in check2.outputs if o.output_type == "error").ename == "CheckFailed"
    assert after.outputs[0].text == "True True 2\n"


def test_amplified_races_yields_right_before_each_store_in_a_new_thread_from_the_first_call(monkeypatch):
    class Box:
        value = 0

    def bump(box):
        current = box.value
        box.value = current + 1

    stores = labcheck._offsets_of_stores(bump.__code__)
    assert len(stores) == 1  # the STORE_ATTR
    yielded = []
    monkeypatch.setattr(labcheck, "_sleep", lambda seconds: yielded.append(sys._getframe(2).f_lasti))
    with amplified_races(yield_every=1, start_delay=0):
        t = threading.Thread(target=bump, args=(Box(),))
        t.start()
        t.join()
    assert set(yielded) == stores  # (it sleeps in small steps waiting for another thread's store)



def test_amplified_races_with_yield_every_1_yields_at_both_stores_of_a_loop_whatever_ran_before(monkeypatch):
    """With yield_every=4 a loop with two stores may yield at one of them only, whichever the stores
    run before decide (lab 4's racy pool, whose window is before its first store, was then missed in
    1-5 runs of 10): yield_every=1 yields at both, always."""
    def two_stores(box, n):
        for _ in range(n):
            box.first = box.first + 1
            box.second = box.first

    first, second = sorted(labcheck._offsets_of_stores(two_stores.__code__))
    for before in range(3):  # stores reached before, in some other code
        yielded = []
        monkeypatch.setattr(labcheck, "_sleep", lambda seconds, seen=yielded: seen.append(sys._getframe(2).f_lasti))
        monkeypatch.setattr(labcheck, "_YIELD_WAIT", 0.0)
        with amplified_races(yield_every=1, start_delay=0):
            labcheck._stores_total += before
            t = threading.Thread(target=two_stores, args=(types.SimpleNamespace(first=0, second=0), 8))
            t.start()
            t.join()
        assert yielded.count(first) == 8 and yielded.count(second) == 8, (before, yielded)


def test_a_block_left_late_by_a_timed_out_check_does_not_undo_the_next_one():
    interval = sys.getswitchinterval()
    leave, left = threading.Event(), threading.Event()

    def stuck_while_amplified():
        with amplified_races():
            leave.wait(5)
        left.set()

    outcome, _ = run_check([stuck_while_amplified], timeout=0.3)
    assert statuses(outcome) == ["timed out"] and sys.getswitchinterval() == interval
    with amplified_races(yield_every=3):
        leave.set()  # the abandoned test now leaves its block, inside this one
        assert left.wait(5)
        assert sys.getswitchinterval() < interval and labcheck._yield_every == 3
        assert threading.gettrace() is labcheck._new_thread_tracer
    assert sys.getswitchinterval() == interval and threading.gettrace() is None and labcheck._yield_every == 0

# --- resource limits ------------------------------------------------------------------------------------------


def test_a_memory_bomb_is_stopped_and_reported(monkeypatch):
    monkeypatch.setattr(labcheck, "MEMORY_LIMIT_MB", 100)

    def hoards():
        """keeps everything"""
        kept = []
        while True:
            kept.append(bytearray(5 * 2**20))  # touched: counts as resident memory
            time.sleep(0.001)

    started = time.perf_counter()
    outcome, printed = run_check([hoards, lambda: None], timeout=20)
    assert time.perf_counter() - started < 15
    assert statuses(outcome) == ["error", "passed"]
    assert "✘ keeps everything: error - stopped: it used more than 100 MB of memory" in printed
    assert not any(t.name.startswith("check: keeps") for t in threading.enumerate())


def test_too_many_processes_are_killed_and_reported_and_so_are_those_of_a_timed_out_test(monkeypatch):
    import subprocess

    monkeypatch.setattr(labcheck, "PROCESS_LIMIT", 3)
    started_here = []

    def spawns():
        while True:
            started_here.append(subprocess.Popen(["sleep", "30"]))
            time.sleep(0.01)

    def waits_for_a_child():
        child = subprocess.Popen(["sleep", "30"])
        started_here.append(child)
        child.wait()

    try:
        outcome, printed = run_check([spawns, waits_for_a_child], timeout=5)
        assert statuses(outcome) == ["error", "timed out"]
        assert "stopped: it started more than 3 processes" in printed
        assert "killed 1 process(es) it started" in printed
        for child in started_here:
            assert child.wait(timeout=5) is not None  # killed, not left running
    finally:
        for child in started_here:
            if child.poll() is None:
                child.kill()


def test_an_interrupted_check_restores_locks_and_amplification():
    import _thread

    def slow():
        with amplified_races():
            time.sleep(5)

    interval = sys.getswitchinterval()

    def interrupt():  # once the test is inside amplified_races(), like a learner pressing stop
        deadline = time.monotonic() + 10
        while sys.getswitchinterval() == interval and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()

    threading.Thread(target=interrupt).start()
    with pytest.raises(KeyboardInterrupt):
        run_check([slow], timeout=5)
    assert sys.getswitchinterval() == interval and threading.gettrace() is None
    assert threading.Lock is ORIGINAL_LOCK
