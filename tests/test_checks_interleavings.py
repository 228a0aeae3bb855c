"""The checks of lesson 15's exercises (threadlab.checks.interleavings): right answers pass, wrong ones
fail with the schedule that breaks them, the same one every time. The full set of wrong answers is
mutants/lesson15.py (``python3 ci/course.py mutants 15``)."""

import threading

import pytest

from threadlab.checks import interleavings as I
from threadlab.checks import threads_left


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    assert threads_left(before, timeout=5) == []


def safe_withdraw(s, amount):
    with s.lock:
        if s.balance >= amount:
            s.balance -= amount


def two_sections(s, amount):
    with s.lock:
        enough = s.balance >= amount
    if enough:
        with s.lock:
            s.balance -= amount


def strictly_more(s, amount):
    with s.lock:
        if s.balance > amount:
            s.balance -= amount


def ordered(s):
    with s.left:
        with s.right:
            s.moved += 1


def reversed_order(s):
    with s.right:
        with s.left:
            s.moved += 1


def one_lock(s):
    with s.right:
        s.moved += 1


def consumer(s):
    with s.cv:
        while not s.items:
            s.cv.wait()
        s.items.pop()


def consumer_if(s):
    with s.cv:
        if not s.items:
            s.cv.wait()
        s.items.pop()


def pop_outside(s):
    with s.cv:
        while not s.items:
            s.cv.wait()
    s.items.pop()


def main_fixed(s):
    with s.slot_cv:
        while s.active >= s.limit:
            s.slot_cv.wait()
        s.active += 1
        s.started += 1


def scan_done(s):
    with s.slot_cv:
        s.active -= 1
        s.slot_cv.notify()


def main_check_outside(s):
    if s.active >= s.limit:
        with s.slot_cv:
            s.slot_cv.wait()
    with s.slot_cv:
        s.active += 1
        s.started += 1


def test_reference_answers_pass():
    assert I.check_safe_withdraw(safe_withdraw)
    assert I.check_lock_order(ordered)
    assert I.check_consumer(consumer)
    assert I.check_slot_wait(main_fixed, scan_done)


@pytest.mark.parametrize(
    "run, says",
    [
        (lambda: I.check_safe_withdraw(two_sections), "balance never goes below zero"),
        (lambda: I.check_safe_withdraw(strictly_more), "from 80: even without any preemption"),
        (lambda: I.check_lock_order(reversed_order), "ends deadlock"),
        (lambda: I.check_lock_order(one_lock), "changed s.moved without holding s.left"),
        (lambda: I.check_consumer(consumer_if), "IndexError: pop from empty list"),
        (lambda: I.check_consumer(pop_outside), "another consumer"),
        (lambda: I.check_slot_wait(main_check_outside, scan_done), "deadlock"),
    ],
)
def test_wrong_answers_fail_with_a_schedule(run, says):
    first, second = run(), run()
    assert first.status == "failed" and says in first.message, first
    assert first.message == second.message  # deterministic: the same schedule every time


def test_the_failing_schedule_opens_in_the_explorer():
    assert not I.check_lock_order(reversed_order)
    widget = I.show_last_bug()
    assert widget.schedule == [] and not widget.replay_button.disabled  # at the start, ready to replay
    while not widget.replay_button.disabled:
        widget.replay_button.click()
    assert widget.outcome.kind == "deadlock" and widget.schedule_string == widget.schedule_box.value


def test_blank_answers_are_not_attempted():
    def blank(s):
        raise NotImplementedError

    assert I.check_safe_withdraw(...).status == "not attempted"
    assert I.check_lock_order(blank).status == "not attempted"
    assert I.check_consumer(blank).status == "not attempted"
    assert I.check_slot_wait(blank, blank).status == "not attempted"


def fan_out(s):
    """Starts two workers with threading.Thread, as a learner's code would, and joins them."""
    def work():
        with lock:
            s.idents.append((threading.current_thread().name, threading.get_ident()))

    lock = threading.Lock()
    workers = [threading.Thread(target=work, name=f"w{k}") for k in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def with_a_timer(s):
    threading.Timer(1, print).start()


def test_the_shim_maps_threads_to_the_explorer_and_refuses_timers():
    from threadlab.explorer import Program, State

    copy = I.explorable(fan_out)
    program = Program(copy, setup=lambda: State(idents=[]), trace=I.traced_functions(copy), mode="sync",
                      final=lambda s: sorted(s.idents) == [("w0", 1001), ("w1", 1002)])
    assert program.replay("", finish=True).outcome.kind == "completed"
    assert not program.search(bound=2).found
    table = I.schedule_table(program, program.replay("", finish=True).schedule)
    assert "(starts threads 1, 2)" in table
    timer = I.explorable(with_a_timer)
    outcome = Program(timer, trace=I.traced_functions(timer)).replay("", finish=True).outcome
    assert outcome.kind == "failed" and "Unexplorable: your code calls threading.Timer" in outcome.message
