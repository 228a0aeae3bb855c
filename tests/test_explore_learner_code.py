"""The explorer on a learner's own code (threadlab.checks.interleavings): explorable copies, the
failing schedule as a table, the same verdict and the same text every time, and the labs' explorer
tests on right and wrong answers written the way learners write them."""

import queue
import threading
import time
from threading import Lock as ImportedLock

import pytest

from threadlab import explorer
from threadlab.checks import interleavings as I
from threadlab.checks import threads_left
from threadlab.labs import lab2, lab3, lab4, lab6


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    assert threads_left(before, timeout=5) == []


# ---------------------------------------------------------------- explorable copies

MODULE_LOCK = threading.Lock()


class Base:
    def __init__(self):
        self.lock = threading.Lock()
        self.value = 0


class Child(Base):
    def __init__(self):
        super().__init__()
        self.cond = threading.Condition(self.lock)
        self.sem = threading.BoundedSemaphore(2)

    @property
    def doubled(self):
        with self.lock:
            return 2 * self.value

    @staticmethod
    def helper():
        return ImportedLock()


def uses_module_lock():
    with MODULE_LOCK:
        time.sleep(10)  # a no-op in the copy
        return MODULE_LOCK.locked()


def test_a_class_copy_uses_the_explorer_primitives_and_leaves_the_original_alone():
    Copy = I.explorable(Child)
    made = Copy()
    assert isinstance(made.lock, explorer.Lock) and isinstance(made.cond, explorer.Condition)
    assert isinstance(made.sem, explorer.BoundedSemaphore) and isinstance(Copy.helper(), explorer.Lock)
    assert made.doubled == 0 and Copy.__name__ == "Child" and Copy is not Child
    assert isinstance(Child().lock, type(threading.Lock()))  # the original is untouched
    assert I.traced_functions(Copy)  # __init__ (both), doubled, helper: their files are stepped through


def test_a_module_wide_lock_gets_an_explorer_twin_and_sleep_does_nothing():
    copy = I.explorable(uses_module_lock)
    start = time.perf_counter()
    assert copy() is True
    assert time.perf_counter() - start < 5
    assert not MODULE_LOCK.locked()


def test_threads_become_the_explorer_s_and_a_timer_is_not_explorable_it_says_so():
    def starts_a_timer():
        threading.Timer(1.0, print).start()

    def makes_a_thread():
        return threading.Thread(target=print)

    assert isinstance(I.explorable(makes_a_thread)(), explorer.Thread)
    with pytest.raises(I.Unexplorable, match="threading.Timer"):
        I.explorable(starts_a_timer)()


def test_explorable_refuses_a_non_function():
    with pytest.raises(TypeError):
        I.explorable(42)


# ---------------------------------------------------------------- the table, the same every time


class RacyCounter:
    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def increment(self, amount=1):
        self._value += amount  # no lock: a lost update
        return self._value

    @property
    def value(self):
        with self._lock:
            return self._value


def verdict(fn, *args):
    try:
        fn(*args)
    except AssertionError as exc:
        return str(exc)
    return "passed"


def test_a_lost_update_is_shown_as_a_table_the_same_every_time():
    first = verdict(lab2.explore_counter, RacyCounter)
    assert "a schedule with 1 preemption ends failed" in first and "an increment was lost" in first
    assert "self._value += amount" in first  # the learner's line, in the table
    assert "counter=RacyCounter(_lock=free, _value=1)" in first  # shared values, no addresses
    assert "show_bug()" in first
    assert all(verdict(lab2.explore_counter, RacyCounter) == first for _ in range(3))


def test_show_bug_opens_the_last_failing_schedule_in_the_widget():
    verdict(lab2.explore_counter, RacyCounter)
    widget = I.show_bug()
    assert widget.snapshot.outcome.kind == "running" and "replay the bug" in widget.status.value
    widget.run(widget.schedule_box.value)
    assert widget.snapshot.outcome.kind == "failed" and "lost" in widget.snapshot.outcome.message


# ---------------------------------------------------------------- lab 2: right and wrong answers


class Counter:
    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def increment(self, amount=1):
        with self._lock:
            self._value += amount
            return self._value

    @property
    def value(self):
        with self._lock:
            return self._value


class TicketAfterRelease(Counter):
    def increment(self, amount=1):
        with self._lock:
            self._value += amount
        return self._value  # read after the lock is let go


class LockPerCall(Counter):
    def increment(self, amount=1):
        with threading.Lock():  # every call its own lock: protects nothing
            self._value += amount
            return self._value


@pytest.mark.parametrize("wrong, says", [(TicketAfterRelease, "tickets [2, 2]"), (LockPerCall, "was lost")])
def test_lab2_counter_mistakes_get_a_schedule(wrong, says):
    text = verdict(lab2.explore_counter, wrong)
    assert says in text and "preemption" in text


def test_lab2_right_answers_pass():
    assert verdict(lab2.explore_counter, Counter) == "passed"

    def transfer(src, dst, amount):
        first, second = sorted((src, dst), key=lambda account: account.number)
        with first.lock, second.lock:
            if src.balance < amount:
                return False
            src.balance -= amount
            dst.balance += amount
            return True

    assert verdict(lab2.explore_transfer, transfer) == "passed"


def test_lab2_locks_in_argument_order_deadlock_in_a_schedule():
    def transfer(src, dst, amount):
        with src.lock, dst.lock:
            if src.balance < amount:
                return False
            src.balance -= amount
            dst.balance += amount
            return True

    text = verdict(lab2.explore_transfer, transfer)
    assert "ends deadlock" in text and "account 1" in text and "(blocks)" in text


def test_lab2_check_then_act_in_the_bank_overdraws_in_a_schedule():
    class Bank:
        def __init__(self, balances):
            self._lock = threading.Lock()
            self._balances = list(balances)

        def balance(self, account):
            with self._lock:
                return self._balances[account]

        def transfer(self, src, dst, amount):
            if self._balances[src] < amount:  # tested outside the lock
                return False
            with self._lock:
                self._balances[src] -= amount
                self._balances[dst] += amount
                return True

        def total(self):
            with self._lock:
                return sum(self._balances)

    assert "overdraft" in verdict(lab2.explore_bank, Bank)


# ---------------------------------------------------------------- lab 3 and lab 6


class Semaphore:
    def __init__(self, value=1):
        self._cond = threading.Condition(threading.Lock())
        self._value = value

    def acquire(self, blocking=True, timeout=None):
        with self._cond:
            while self._value == 0:
                if not blocking:
                    return False
                self._cond.wait()
            self._value -= 1
            return True

    def release(self, n=1):
        with self._cond:
            self._value += n
            self._cond.notify(n)


class IfSemaphore(Semaphore):
    def acquire(self, blocking=True, timeout=None):
        with self._cond:
            if self._value == 0:  # `if` for `while`: a woken thread does not test again
                if not blocking:
                    return False
                self._cond.wait()
            self._value -= 1
            return True


def test_lab3_semaphore_right_passes_and_if_for_while_gets_a_schedule():
    assert verdict(lab3.every_schedule_semaphore, Semaphore) == "passed"
    text = verdict(lab3.every_schedule_semaphore, IfSemaphore)
    assert "threads hold the semaphore's 1 permit(s) at once" in text and "show_bug()" in text


def test_lab3_explorer_tests_are_left_out_on_request():
    names = [t.__name__ for t in lab3.tests("Semaphore", Semaphore, explore=False)]
    assert "every_schedule_semaphore" not in names
    assert "every_schedule_semaphore" in [t.__name__ for t in lab3.tests("Semaphore", Semaphore)]


def obvious(table, i, meals):
    for _ in range(meals):
        with table.left(i):
            with table.right(i):
                table.eat(i)


def ordered_forks(table, i, meals):
    first, second = sorted([table.left(i), table.right(i)], key=lambda fork: fork.number)
    for _ in range(meals):
        with first:
            with second:
                table.eat(i)


def test_lab6_the_obvious_philosopher_deadlocks_and_the_ordered_one_cannot():
    found = lab6.explore_dinner(obvious, deadlocks=True)
    assert found.outcome.kind == "deadlock"
    assert verdict(lab6.explore_dinner, ordered_forks) == "passed"
    assert "ends deadlock" in verdict(lab6.explore_dinner, obvious)


def test_lab6_one_lock_for_the_table_is_safe_but_serial():
    waiter = threading.Lock()

    def serial(table, i, meals):
        first, second = sorted([table.left(i), table.right(i)], key=lambda fork: fork.number)
        for _ in range(meals):
            with waiter, first, second:
                table.eat(i)

    assert "safe but serial" in verdict(lab6.explore_dinner, serial)



# lab 4: pools, written the way learners write them (the worker of exercise 1 along)

STOP = lab4.STOP


def worker(jobs, results, func):
    while (item := jobs.get()) is not STOP:
        i, x = item
        try:
            results.put((i, func(x)))
        except Exception as exc:
            results.put((i, exc))


def pool(func, items, workers, stops=None, stops_first=False, join=True, finish_order=False):
    jobs, results = queue.Queue(), queue.Queue()
    threads = [threading.Thread(target=worker, args=(jobs, results, func)) for _ in range(workers)]
    for t in threads:
        t.start()
    for _ in range(workers if stops_first else 0):
        jobs.put(STOP)
    for i, x in enumerate(items):
        jobs.put((i, x))
    for _ in range(0 if stops_first else workers if stops is None else stops):
        jobs.put(STOP)
    if join:
        for t in threads:
            t.join()
    if finish_order:
        return [results.get()[1] for _ in items]
    answer = [None] * len(items)
    for _ in items:
        i, value = results.get()
        answer[i] = value
    return answer


def run_pool(func, items, workers):
    return pool(func, items, workers)


def one_stop(func, items, workers):
    return pool(func, items, workers, stops=1)


def stops_first(func, items, workers):
    return pool(func, items, workers, stops_first=True)


def never_joined(func, items, workers):
    return pool(func, items, workers, join=False)


def finish_order(func, items, workers):
    return pool(func, items, workers, finish_order=True)


def one_by_one(func, items, workers):
    jobs, results = queue.Queue(), queue.Queue()
    for i, x in enumerate(items):
        jobs.put((i, x))
    for _ in range(workers):
        jobs.put(STOP)
    for _ in range(workers):
        t = threading.Thread(target=worker, args=(jobs, results, func))
        t.start()
        t.join()
    answer = [None] * len(items)
    for _ in items:
        i, value = results.get()
        answer[i] = value
    return answer



def impatient_worker(jobs, results, func):  # gives up after 10 s without a job: a schedule may be that slow
    while (item := jobs.get(timeout=10)) is not STOP:
        i, x = item
        results.put((i, func(x)))


def impatient_pool(func, items, workers):
    jobs, results = queue.Queue(), queue.Queue()
    threads = [threading.Thread(target=impatient_worker, args=(jobs, results, func)) for _ in range(workers)]
    for t in threads:
        t.start()
    for i, x in enumerate(items):
        jobs.put((i, x))
    for _ in threads:
        jobs.put(STOP)
    for t in threads:
        t.join()
    return [value for _, value in sorted(results.get() for _ in items)]

@pytest.mark.parametrize("wrong, says", [
    (one_stop, "ends deadlock: every live thread is blocked: thread 0 waits for thread 2 to end (it waits for queue)"),
    (stops_first, "ends deadlock"),
    (never_joined, "were still running when run_pool returned"),
    (finish_order, "run_pool returned [20, 30, 10], expected [10, 20, 30]"),
    (one_by_one, "in no schedule were two jobs in progress at once"),
])
def test_lab4_pool_mistakes_get_a_schedule(wrong, says):
    text = verdict(lab4.explore_pool, wrong)
    assert says in text, text
    if "in no schedule" not in says:
        assert "steps  thread" in text and "queues=" in text and "STOP" in text and " at 0x" not in text


def test_a_timeout_that_guards_against_a_hang_fires_only_when_everything_waits():
    assert verdict(lab4.explore_pool, impatient_pool) == "passed"
    copy = I.explorable(impatient_pool)
    anytime = I._pool_program(copy, "impatient_pool", (1, 2, 3), 2, I.traced_functions(copy))
    anytime.timeouts = "any"  # a get(timeout=10) may time out at any step: the worker ends with Empty
    text = verdict(I.prove, anytime, "a hint")
    assert "(raised Empty)" in text and "ends deadlock" in text, text


def test_lab4_right_pool_passes_and_its_queues_are_the_explorer_s():
    assert verdict(lab4.explore_pool, run_pool) == "passed"
    copy = I.explorable(run_pool)
    assert copy.__globals__["queue"].Queue is explorer.Queue and queue.Queue is not explorer.Queue

def test_sync_mode_skips_switches_just_before_a_release_and_still_finds_the_deadlock():
    def left_right(s):
        with s.a:
            with s.b:
                pass

    def right_left(s):
        with s.b:
            with s.a:
                pass

    program = explorer.Program(left_right, right_left, mode="sync",
                               setup=lambda: explorer.State(a=explorer.Lock(), b=explorer.Lock()))
    found = program.search(bound=1)
    assert found.found and found.outcome.kind == "deadlock" and found.runs <= 10


# ---------------------------------------------------------------- lesson 04 (lesson 06: test_checks_conditions.py)


def test_lesson_safe_add_right_passes_and_a_lock_let_go_in_between_gets_a_schedule():
    from threadlab.checks.locks import explore_safe_add

    def right(box, n, lock):
        for _ in range(n):
            with lock:
                seen = box.value
                time.sleep(0)
                box.value = seen + 1

    def let_go(box, n, lock):
        for _ in range(n):
            with lock:
                seen = box.value
            with lock:
                box.value = seen + 1

    assert verdict(explore_safe_add, right) == "passed"
    assert "an update was lost" in verdict(explore_safe_add, let_go)


def test_also_show_schedule_appends_the_schedule_to_a_failure_and_catches_what_the_test_missed():
    def failing_test():
        raise AssertionError("the check's own words")

    def explore():
        lab2.explore_counter(RacyCounter)

    with pytest.raises(AssertionError) as failed:
        I.also_show_schedule(failing_test, explore)()
    assert str(failed.value).startswith("the check's own words") and "step by step" in str(failed.value)
    with pytest.raises(AssertionError, match="an increment was lost"):
        I.also_show_schedule(lambda: None, explore)()
    I.also_show_schedule(lambda: None, lambda: lab2.explore_counter(Counter))()
