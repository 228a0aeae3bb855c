"""threadlab.checks.watching and threadlab.checks.scheduling: watching a learner's threads, and the
checks of lesson 07's exercises, on right answers and on the wrong answers learners write."""

from __future__ import annotations

import threading
import time

import pytest

from threadlab.checks.scheduling import check_balanced_run, check_take_in_chunks, imbalance, sieve_costs
from threadlab.checks.watching import StillRunning, ThreadCalls, call_within, describe, learner_call, thread_errors

# --- watching ----------------------------------------------------------------------------------------


def _pool(n, target=lambda: None):
    return [threading.Thread(target=target, name=f"t{i}") for i in range(n)]


def test_thread_calls_see_start_join_and_run():
    with ThreadCalls() as calls:
        together = _pool(2)
        for t in together:
            t.start()
        for t in together:
            t.join(5)
    assert calls.started == together and calls.verdict(expected=2) is None
    with ThreadCalls() as calls:
        for t in _pool(2):
            t.start()
            t.join(5)
    assert "joined thread 't0' before starting thread 't1'" in calls.verdict()
    with ThreadCalls() as calls:
        for t in _pool(2):
            t.run()
    assert "called run() on thread 't0'" in calls.verdict()
    with ThreadCalls() as calls:
        for t in _pool(2):
            t.start()
    assert "never joined" in calls.verdict() and calls.verdict(joined=False) is None
    assert "started 2 thread(s), expected 3" in calls.verdict(expected=3, joined=False)
    assert threading.Thread.start.__name__ == "start"  # restored


def test_thread_calls_ignore_other_threads():
    outside = _pool(1)[0]
    with ThreadCalls() as calls:
        starter = threading.Thread(target=outside.start)
        starter.start()
        starter.join(5)
    outside.join(5)
    assert calls.started == [starter]


def test_thread_errors_are_collected_with_the_line():
    def fails():
        raise ValueError("boom")

    saved = threading.excepthook
    with thread_errors() as errors:
        t = threading.Thread(target=fails, name="failing")
        t.start()
        t.join(5)
    assert len(errors) == 1 and "thread 'failing' raised ValueError: boom (in fails" in str(errors[0])
    assert threading.excepthook is saved


def test_call_within_returns_raises_and_gives_up():
    assert call_within(lambda: 42, 2, "answer") == 42
    with pytest.raises(KeyError):
        call_within(lambda: {}["x"], 2, "lookup")
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(StillRunning, match="wait was still running after 0.1 s: set it"):
        call_within(lambda: release.wait(5), 0.1, "wait", "set it", on_timeout=release.set)
    assert time.monotonic() - start < 2


def test_learner_call_and_describe():
    def broken():
        return [][1]

    with pytest.raises(AssertionError, match=r"f\(\) raised IndexError: list index out of range \(in broken"):
        learner_call("f()", broken)
    with pytest.raises(NotImplementedError):
        learner_call("f()", lambda: (_ for _ in ()).throw(NotImplementedError))
    try:
        broken()
    except IndexError as exc:
        assert describe(exc).startswith("IndexError: list index out of range (in broken, at `return [][1]`")


# --- Exercise 7.1 ------------------------------------------------------------------------------------


def chunks(variant="good"):
    def take_in_chunks(items, threads, chunk, job):
        position = 0
        lock = threading.Lock()

        def worker():
            nonlocal position
            while True:
                if variant == "racy":
                    with lock:
                        start = position
                    position = start + chunk
                else:
                    with lock:
                        start = position
                        position += 1 if variant == "one at a time" else chunk
                size = 1 if variant == "one at a time" else chunk - (variant == "off by one")
                mine = items[start:start + size]
                if not mine:
                    return
                if variant == "jobs under the lock":
                    with lock:
                        for item in mine:
                            job(item)
                else:
                    for item in mine:
                        job(item)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
            if variant == "one by one":
                t.join(5)
        if variant != "never joined":
            for t in pool:
                t.join(5)

    return take_in_chunks


def static_blocks(items, threads, chunk, job):
    size = -(-len(items) // threads)
    pool = [threading.Thread(target=lambda b=items[i * size:(i + 1) * size]: [job(x) for x in b]) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(5)


def test_check_take_in_chunks_passes_the_right_answer(capsys):
    assert check_take_in_chunks(chunks())
    capsys.readouterr()


@pytest.mark.parametrize("answer, says", [
    (chunks("racy"), "same position"),
    (chunks("one at a time"), "at once"),
    (chunks("off by one"), "never done"),
    (chunks("jobs under the lock"), "same time"),
    (chunks("one by one"), "one after another"),
    (chunks("never joined"), "never joined"),
    (static_blocks, "at once"),
    (lambda items, threads, chunk, job: [job(x) for x in items], "started 0 thread"),
])
def test_check_take_in_chunks_catches_wrong_answers(answer, says, capsys):
    verdict = check_take_in_chunks(answer)
    assert verdict.status == "failed", verdict
    assert says in verdict.message
    capsys.readouterr()


# --- Exercise 7.2 ------------------------------------------------------------------------------------


def test_sieve_costs_and_imbalance():
    costs = sieve_costs(10**6)
    assert len(costs) == 168 and costs[2] == 499_999 and sum(costs.values()) == 2_122_048
    assert imbalance([1, 1, 1]) == 1.0 and imbalance([0, 0]) == 1.0 and imbalance([3, 1]) == 1.5


def balanced(split="biggest first", start="together"):
    def run_balanced(tasks, threads):
        if split in ("biggest first", "in the given order"):
            lists, costs = [[] for _ in range(threads)], [0] * threads
            order = sorted(tasks, key=lambda t: t[0], reverse=True) if split == "biggest first" else tasks
            for cost, job in order:
                i = costs.index(min(costs))
                lists[i].append(job)
                costs[i] += cost
        elif split == "dealt in turn":
            lists = [[job for _, job in tasks[i::threads]] for i in range(threads)]
        else:
            size = -(-len(tasks) // threads)
            lists = [[job for _, job in tasks[i * size:(i + 1) * size]] for i in range(threads)]
        pool = [threading.Thread(target=lambda jobs=jobs: [job() for job in jobs]) for jobs in lists]
        for t in pool:
            t.start()
            if start == "one by one":
                t.join(5)
        for t in pool:
            t.join(5)

    return run_balanced


def test_check_balanced_run_passes_the_right_answer(capsys):
    assert check_balanced_run(balanced())
    capsys.readouterr()


@pytest.mark.parametrize("answer, says", [
    (balanced("in the given order"), "biggest task first"),
    (balanced("dealt in turn"), "biggest task first"),
    (balanced("equal numbers"), "equal numbers of tasks are not equal work"),
    (balanced(start="one by one"), "one after another"),
    (lambda tasks, threads: [job() for _, job in tasks], "started 0 thread"),
])
def test_check_balanced_run_catches_wrong_answers(answer, says, capsys):
    verdict = check_balanced_run(answer)
    assert verdict.status == "failed", verdict
    assert says in verdict.message
    capsys.readouterr()
