"""Unit tests of threadlab.checks.processes: right answers pass, the usual wrong ones fail with a message
that says what went wrong, and no child is ever left behind; and the spy the lesson 10 checks share. The full
sets of wrong answers are the mutation suites (mutants/lesson02.py, mutants/lesson10.py)."""

import multiprocessing
import queue
import subprocess
import sys
import threading
from multiprocessing import shared_memory
from multiprocessing.pool import ThreadPool

import numpy as np
import psutil
import pytest

from threadlab.checks.processes import (
    ProcessSpy,
    SpyError,
    check_parallel_count,
    check_queue_round_trip,
    check_run_children,
    check_run_with_deadline,
    check_shared_squares,
    children_left,
    run_answer,
)
from threadlab.workers import count_primes, square_each, square_in_place


@pytest.fixture(autouse=True)
def no_children_left():
    before = {p.pid for p in psutil.Process().children()}
    yield
    helpers = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
    left = []
    for proc in psutil.Process().children():
        try:
            if proc.pid not in before and not any(h in " ".join(proc.cmdline()) for h in helpers):
                left.append(proc.pid)
        except psutil.Error:
            pass
    assert left == [], "a check left child processes behind"
    assert multiprocessing.active_children() == [], "multiprocessing still lists a child the check ended"


def run_children(codes, timeout):
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for code in codes]
    outputs = []
    for child in children:
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            out = None
        outputs.append(out)
    return outputs


def test_run_children_right_answer_passes():
    assert check_run_children(run_children)


def test_run_children_one_after_another_is_caught():
    def sequential(codes, timeout):
        return run_children(codes[:1], timeout) + run_children(codes[1:2], timeout) + run_children(codes[2:], timeout)

    verdict = check_run_children(sequential)
    assert verdict.status == "failed" and "one after another" in verdict.message


def test_run_children_waiting_before_reading_is_caught():
    def wait_first(codes, timeout):
        children = [subprocess.Popen([sys.executable, "-c", c], stdout=subprocess.PIPE, text=True) for c in codes]
        outputs = []
        for child in children:
            try:
                child.wait(timeout=timeout)
                outputs.append(child.stdout.read())
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                outputs.append(None)
        return outputs

    assert "pipe" in check_run_children(wait_first).message


def run_with_deadline(target, args, seconds):
    child = multiprocessing.Process(target=target, args=args)
    child.start()
    child.join(timeout=seconds)
    if child.is_alive():
        child.terminate()
        child.join(timeout=10)
    return child.exitcode


def test_run_with_deadline_right_answer_passes():
    assert check_run_with_deadline(run_with_deadline)


def test_run_with_deadline_catches_run_and_a_child_left_running():
    def runs_it_here(target, args, seconds):
        child = multiprocessing.Process(target=target, args=args)
        child.run()
        return child.exitcode

    assert "never p.run()" in check_run_with_deadline(runs_it_here).message

    def never_ends_it(target, args, seconds):
        child = multiprocessing.Process(target=target, args=args)
        child.start()
        child.join(timeout=seconds)
        return child.exitcode

    verdict = check_run_with_deadline(never_ends_it)
    assert verdict.status == "failed" and "terminate()" in verdict.message


# --- lesson 10 -----------------------------------------------------------------------------------------


def split(n, parts):
    edges = [n * i // parts for i in range(parts + 1)]
    return list(zip(edges, edges[1:]))


# --- the spy --------------------------------------------------------------------------------


def test_spy_counts_processes_tasks_and_joins_and_puts_everything_back():
    start, join = multiprocessing.Process.start, multiprocessing.Process.join
    with ProcessSpy() as spy:
        with multiprocessing.Pool(2) as pool:
            assert sum(pool.map(count_primes, split(1000, 4))) == 168
        child = multiprocessing.Process(target=count_primes, args=((0, 10),))
        child.start()
        child.join(10)
    assert len(spy.by_pools) == 2 and spy.started == [child] and spy.tasks == 4 and spy.not_joined() == []
    assert multiprocessing.Process.start is start and multiprocessing.Process.join is join


def test_spy_refuses_run_and_bounds_a_join_that_cannot_end():
    with ProcessSpy(join_limit=0.5, stuck_hint="hint!") as spy:
        child = multiprocessing.Process(target=count_primes, args=((0, 10),))
        with pytest.raises(SpyError, match="start()"):
            child.run()
        inbox = multiprocessing.Queue()
        waiter = multiprocessing.Process(target=square_each, args=(inbox, multiprocessing.Queue()))
        waiter.start()
        with pytest.raises(SpyError, match="0.5 s .* still running. hint!"):
            waiter.join()  # never sent None: it waits for more
    assert spy.ran_here == [child] and not waiter.is_alive()  # the spy ended it
    assert multiprocessing.active_children() == []


def test_deferred_start_runs_the_child_at_join():
    with ProcessSpy(defer_start=True) as spy:
        child = multiprocessing.Process(target=count_primes, args=((0, 10),))
        child.start()
        assert child.exitcode is None and child.pid is None  # not started yet
        child.join(10)
        assert child.exitcode == 0
    assert spy.not_joined() == []


def test_run_answer_says_where_an_answer_waits():
    gate = threading.Event()

    def answer():
        gate.wait(5)  # the line the message quotes

    value, error = run_answer(answer, (), limit=0.2, hint="open the gate")
    gate.set()
    assert value is None and isinstance(error, SpyError)
    assert "still running after 0.2 s at line" in str(error) and "gate.wait(5)" in str(error)
    assert str(error).endswith("open the gate")


def test_close_refuses_while_an_ndarray_view_lives():
    with ProcessSpy(shared_memory=True) as spy:
        block = shared_memory.SharedMemory(create=True, size=64)
        view = np.ndarray((8,), dtype=np.int64, buffer=block.buf)  # holds the mapping, not a buffer export
        with pytest.raises(BufferError):
            block.close()
        view[0] = 1  # still mapped: reading and writing are safe
        del view
        block.close()
    assert spy.blocks == [block] and spy.closed == {block.name} and spy.unlinked == set()
    with pytest.raises(FileNotFoundError):  # the spy unlinked the block left behind
        shared_memory.SharedMemory(name=block.name)


# --- exercise checks ---------------------------------------------------------------------------------


def counted(n, processes):
    with multiprocessing.Pool(processes) as pool:
        return sum(pool.map(count_primes, split(n, 4 * processes)))


def counted_with_threads(n, processes):
    with ThreadPool(processes) as pool:
        return sum(pool.map(count_primes, split(n, 4 * processes)))


def counted_in_one_task(n, processes):
    with multiprocessing.Pool(processes) as pool:
        return pool.apply(count_primes, ((0, n),))


def counted_and_left_open(n, processes):
    pool = multiprocessing.Pool(processes)
    return sum(pool.map(count_primes, split(n, 4 * processes)))


@pytest.mark.parametrize("answer, words", [
    (counted_with_threads, "no process was started"),
    (counted_in_one_task, "1 task(s) for 3 processes"),
    (counted_and_left_open, "still open (unclosed running multiprocessing pool"),
    (lambda n, p: counted(n, p) - 1, "expected 3245, got 3244"),
])
def test_parallel_count_catches(answer, words):
    verdict = check_parallel_count(answer)
    assert not verdict and words in verdict.message


def test_parallel_count_passes_and_knows_not_attempted():
    assert check_parallel_count(counted)

    def todo(n, processes):
        raise NotImplementedError

    assert check_parallel_count(todo).status == "not attempted"


def squares(values, *, start=True, join=True, read_first=False, unlink=True, keep_view=False, ndarray=False):
    block = shared_memory.SharedMemory(create=True, size=8 * len(values))
    if ndarray:
        numbers = np.ndarray((len(values),), dtype=np.int64, buffer=block.buf)
    else:
        numbers = np.frombuffer(block.buf, dtype=np.int64, count=len(values))
    numbers[:] = values
    child = multiprocessing.Process(target=square_in_place, args=(block.name, len(values)))
    child.start() if start else child.run()
    if read_first:
        result = numbers.tolist()
    if join:
        child.join(30)
    if not read_first:
        result = numbers.tolist()
    if not keep_view:
        del numbers
    block.close()
    if unlink:
        block.unlink()
    return result, block.name


@pytest.mark.parametrize("options, words", [
    ({"start": False}, "start() is what runs it"),
    ({"join": False}, "never joined"),
    ({"read_first": True}, "not squared: the child had not run"),
    ({"unlink": False}, "unlink() it when done"),
    ({"keep_view": True}, "close() refused"),
    ({"keep_view": True, "ndarray": True}, "close() refused"),  # would crash the kernel without the spy
])
def test_shared_squares_catches(options, words):
    verdict = check_shared_squares(lambda values: squares(values, **options))
    assert not verdict and words in verdict.message, verdict.message
    assert multiprocessing.active_children() == []


def test_shared_squares_passes_and_catches_a_thread():
    assert check_shared_squares(squares)

    def in_a_thread(values):
        block = shared_memory.SharedMemory(create=True, size=8 * len(values))
        np.frombuffer(block.buf, dtype=np.int64, count=len(values))[:] = values
        worker = threading.Thread(target=square_in_place, args=(block.name, len(values)))
        worker.start()
        worker.join()
        result = np.frombuffer(block.buf, dtype=np.int64, count=len(values)).tolist()
        block.close()
        block.unlink()
        return result, block.name

    verdict = check_shared_squares(in_a_thread)
    assert not verdict and "no process was started" in verdict.message


def round_trip(numbers, *, join_first=False, sentinel=True, until_empty=False, thread_queues=False):
    make = queue.Queue if thread_queues else multiprocessing.Queue
    inbox, outbox = make(), make()
    child = multiprocessing.Process(target=square_each, args=(inbox, outbox))
    child.start()
    for x in numbers:
        inbox.put(x)
    if sentinel:
        inbox.put(None)
    if join_first:
        child.join(30)
    if until_empty:
        answers = []
        while not outbox.empty():
            answers.append(outbox.get(timeout=30))
    else:
        answers = [outbox.get(timeout=1) for _ in numbers]
    child.join(30)
    return answers


@pytest.mark.parametrize("options, words", [
    ({"join_first": True}, "one answer per number"),
    ({"sentinel": False}, "one answer per number"),
    ({"until_empty": True}, "one answer per number"),
    ({"thread_queues": True}, "multiprocessing.Queue"),
])
def test_queue_round_trip_catches(options, words):
    verdict = check_queue_round_trip(lambda numbers: round_trip(numbers, **options), join_limit=1.0)
    assert not verdict and words in verdict.message, verdict.message


def test_queue_round_trip_passes():
    assert check_queue_round_trip(round_trip)


def test_children_left_ignores_what_ended():
    child = multiprocessing.Process(target=count_primes, args=((0, 10),))
    child.start()
    child.join(10)
    assert children_left(timeout=2) == []
