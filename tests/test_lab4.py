"""Lab 4 (a thread pool): the helpers, the blank learner notebook, and wrong answers caught.

- :mod:`threadlab.labs.lab4`'s Recorder counts every call, thread and the most calls at once;
  ``drive_worker`` runs a worker like a pool does and never hangs on a wrong one;
- the blank learner version (``labs/``) fails every check quickly, as "not attempted";
- wrong answers (a worker that quits on an empty queue, drains past STOP or dies on a failing job; a
  pool with a thread per job, too few sentinels, skipped repeats or a racy shared index; a scanner
  that trusts exception objects) run through the real check cells of the reference notebook, hidden
  tests included, and are caught; the racy pool is caught in every run under ``amplified_races``.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from threadlab.labs.lab4 import STOP, Recorder, drive_worker, observe, probe, slow_square
from threadlab.labs.notebooks import assert_blank_lab, check_verdicts, failed_lines, lab_paths, reference_namespace

LAB = "lab4-a-thread-pool"
SOLUTION, BLANK = lab_paths(LAB)


# --- (a) the helpers ------------------------------------------------------------------------------


def test_recorder_counts_calls_threads_and_the_most_at_once():
    counted = Recorder(lambda x: slow_square(x, 0.05))
    threads = [threading.Thread(target=counted, args=(x,)) for x in (1, 2, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted.calls == {1: 1, 2: 2} and counted.max_running == 3 and counted.running == 0
    assert counted.threads == set(threads)
    assert counted.each_once([2, 1, 2]) and not counted.each_once([1, 2])
    assert counted.problems([1, 2, 3]) == "never done: [3]; done too often: [(2, 2)]"
    failing = Recorder(lambda x: 1 / x)
    with pytest.raises(ZeroDivisionError):
        failing(0)
    assert failing.calls == {0: 1} and failing.running == 0


def reference_worker(jobs, results, func):
    while (item := jobs.get()) is not STOP:
        i, x = item
        try:
            results.put((i, func(x)))
        except Exception as exc:
            results.put((i, exc))


def test_drive_worker_reports_results_leftovers_early_return_and_stuck_workers():
    run = drive_worker(reference_worker, [1, 2], lambda x: -x, workers=2, after_stop=["later"])
    assert sorted(run.pairs) == [(0, -1), (1, -2)] and run.left == ["later"]
    assert not run.returned_early and run.stuck == 0

    def quits_when_empty(jobs, results, func):
        pass

    assert drive_worker(quits_when_empty, [1], abs).returned_early

    def ignores_stop(jobs, results, func):
        while True:
            jobs.get()

    start = time.perf_counter()
    run = drive_worker(ignores_stop, [1], abs, timeout=0.2)
    assert run.stuck == 1 and time.perf_counter() - start < 2  # a daemon: it cannot keep anything waiting

    def blank(jobs, results, func):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        drive_worker(blank, [1], abs, head_start=0)


def test_observe_reports_threads_left_running():
    release = threading.Event()

    def leaves_one():
        threading.Thread(target=release.wait, args=(5,)).start()
        return 42

    run = observe(leaves_one)
    release.set()
    assert run.result == 42 and len(run.left_running) == 1
    assert observe(slow_square, 3, 0.01).left_running == []


def test_observe_ends_a_hung_pool_and_says_so():
    def one_stop(func, items, workers):
        jobs, results = queue.Queue(), queue.Queue()
        pool = [threading.Thread(target=reference_worker, args=(jobs, results, func)) for _ in range(workers)]
        for t in pool:
            t.start()
        jobs.put(STOP)
        for t in pool:
            t.join()
        return []

    before = set(threading.enumerate())
    with pytest.raises(AssertionError, match=r"had not returned after 0.3 s: 2 thread\(s\) it started still running"):
        observe(one_stop, abs, [], 3, limit=0.3)
    time.sleep(0.2)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_probe_sees_open_and_closed_ports():
    from threadlab.labs.lab4 import scan_targets

    with scan_targets(2, 2) as targets:
        assert [probe(p) for p in targets.ports] == [p in targets.open_ports for p in targets.ports]


# --- (b) the blank learner notebook -------------------------------------------------------------------


def test_blank_lab_fails_every_check_quickly_as_not_attempted():
    assert BLANK.exists(), "generate the learner version: python ci/labs.py generate " + LAB
    cells = assert_blank_lab(BLANK, ["ex1-check", "ex2-check", "ex3-check"], limit=2.0)
    # nothing else fails in a blank lab, and the hidden tests are not in it
    others = [c for c, _ in cells if not c.metadata.get("nbgrader", {}).get("grade")]
    assert all(o.output_type != "error" for c in others for o in c.outputs)
    assert all("HIDDEN" not in c.source and "amplified_races" not in c.source for c, _ in cells)


# --- (c) wrong answers through the real check cells --------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    """The reference notebook's namespace after its setup cell and its solutions."""
    src, ns = reference_namespace(SOLUTION, ["ex1-solution", "ex2-solution", "ex3-solution"])
    reference = {name: ns[name] for name in ("worker", "run_pool", "scan_ports")}
    return src, ns, reference


def check_scope(lab, grade_id: str, **answers) -> dict:
    """The namespace of a check cell after it defined its tests (hidden ones included), not yet run."""
    src, ns, reference = lab
    scope = dict(ns, **dict(reference, **answers), reference_run_pool=reference["run_pool"])
    for name, fn in answers.items():  # an answer sees the other answers as globals, like in the notebook
        if hasattr(fn, "__globals__") and fn.__module__ == __name__:
            scope[name] = type(fn)(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    exec(src[grade_id].rsplit("check_exercise(", 1)[0], scope)
    return scope


def run_check(lab, grade_id: str, only=None, timeout: float = 10, **answers) -> list[str]:
    """Run a check cell's tests (``only``: some of them by name) with ``answers`` replacing the reference ones."""
    scope = check_scope(lab, grade_id, **answers)
    chosen = scope["tests"] if only is None else [scope[name] for name in only]
    return check_verdicts(grade_id, chosen, timeout=timeout)


# exercise 1: workers


def quits_on_empty_queue(jobs, results, func):
    while not jobs.empty():
        item = jobs.get()
        if item is STOP:
            return
        i, x = item
        try:
            results.put((i, func(x)))
        except Exception as exc:
            results.put((i, exc))


def dies_on_failing_job(jobs, results, func):
    while (item := jobs.get()) is not STOP:
        i, x = item
        results.put((i, func(x)))


def drains_past_stop(jobs, results, func):
    while True:
        item = jobs.get()
        if item is STOP:
            if jobs.empty():
                return
            continue
        i, x = item
        try:
            results.put((i, func(x)))
        except Exception as exc:
            results.put((i, exc))


def forgets_the_index(jobs, results, func):
    while (item := jobs.get()) is not STOP:
        try:
            results.put(func(item[1]))
        except Exception as exc:
            results.put(exc)


@pytest.mark.parametrize("wrong", [quits_on_empty_queue, dies_on_failing_job, drains_past_stop, forgets_the_index])
def test_exercise1_wrong_workers_are_caught(lab, wrong):
    only = ["test_stops_at_stop"] if wrong is drains_past_stop else None
    lines = run_check(lab, "ex1-check", worker=wrong, only=only)
    assert failed_lines(lines), lines
    print(wrong.__name__, "->", failed_lines(lines)[0][:150])


def test_reference_answers_pass_every_check(lab):
    for gid in ("ex1-check", "ex2-check", "ex3-check"):
        lines = run_check(lab, gid)
        assert lines and not failed_lines(lines), lines


# exercise 2: pools


def thread_per_job(func, items, workers):
    out = [None] * len(items)

    def one(i, x):
        try:
            out[i] = func(x)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i, x)) for i, x in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def skips_repeats(func, items, workers):
    unique = list(dict.fromkeys(items))
    done = dict(zip(unique, reference_run_pool(func, unique, workers)))  # noqa: F821
    return [done[x] for x in items]


def racy_shared_index(func, items, workers):
    """No queue: workers share a 'next job' index without a lock (read, then write back)."""
    out = [None] * len(items)
    following = [0]

    def work():
        while True:
            i = following[0]
            if i >= len(items):
                return
            following[0] = i + 1
            try:
                out[i] = func(items[i])
            except Exception as exc:
                out[i] = exc

    pool = [threading.Thread(target=work) for _ in range(workers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out


hung_queues: list = []


def one_stop_too_few(func, items, workers, hung=hung_queues):
    jobs, results = queue.Queue(), queue.Queue()
    hung.append(jobs)
    pool = [threading.Thread(target=worker, args=(jobs, results, func)) for _ in range(workers)]  # noqa: F821
    for t in pool:
        t.start()
    for i, x in enumerate(items):
        jobs.put((i, x))
    for _ in range(workers - 1):
        jobs.put(STOP)
    for t in pool:
        t.join()
    return [v for _, v in sorted(results.get() for _ in items)]


@pytest.mark.parametrize("wrong, catches", [
    (thread_per_job, "exactly `workers` threads"),
    (skips_repeats, "repeated items"),
])
def test_exercise2_wrong_pools_are_caught(lab, wrong, catches):
    lines = run_check(lab, "ex2-check", run_pool=wrong)
    assert [line for line in failed_lines(lines) if catches in line], lines


def test_exercise2_missing_sentinel_is_reported_as_a_deadlock_not_a_hang(lab):
    start = time.perf_counter()
    # The check's own 1.5 s limit on the call reports it, well before the test's 4 s time-out would
    lines = run_check(lab, "ex2-check", run_pool=one_stop_too_few, only=["test_squares_in_order"], timeout=4.0)
    elapsed = time.perf_counter() - start
    for jobs in hung_queues:  # release the worker that is still waiting for its STOP
        jobs.put(STOP)
    assert len(lines) == 1 and "had not returned" in lines[0] and "one STOP per worker" in lines[0], lines
    assert elapsed < 6


def test_racy_pool_is_caught_every_time_under_amplified_races(lab, capsys):
    """The hidden exactly-once test, 10 runs on a pool with an unlocked shared index: caught every run."""
    scope = check_scope(lab, "ex2-check", run_pool=racy_shared_index)
    test = scope["test_each_job_once_under_forced_switches"]
    runs, caught = 10, 0
    for _ in range(runs):
        try:
            test()
        except AssertionError:
            caught += 1
    plain = 0
    for _ in range(runs):
        counted = Recorder(lambda x: x + 1)
        racy_shared_index(counted, list(range(120)), 6)
        plain += not counted.each_once(range(120))
    with capsys.disabled():
        print(f"\nlab 4 racy pool caught: {caught}/{runs} with amplified_races, {plain}/{runs} without")
    assert caught == runs


# exercise 3: scanners


def trusts_exceptions(ports, workers, probe=probe):
    return sorted(p for p, ok in zip(ports, run_pool(probe, ports, workers)) if ok)  # noqa: F821


def sequential_scan(ports, workers, probe=probe):
    return sorted(p for p in ports if probe(p))


def unsorted_scan(ports, workers, probe=probe):
    return [p for p, ok in zip(ports, run_pool(probe, ports, workers)) if ok is True]  # noqa: F821


@pytest.mark.parametrize("wrong, catches", [
    (trusts_exceptions, "probe raises"),
    (sequential_scan, "8 at a time"),
    (unsorted_scan, "any order"),
])
def test_exercise3_wrong_scanners_are_caught(lab, wrong, catches):
    lines = run_check(lab, "ex3-check", scan_ports=wrong)
    assert [line for line in failed_lines(lines) if catches in line], lines
