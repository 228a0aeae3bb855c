"""Unit tests of threadlab.checks.executors: each check on the right answer and on wrong ones."""

from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest

from threadlab.checks import executors
from threadlab.checks.executors import Meeting, _pieces_problem, check_collect, check_parallel_primes
from threadlab.workers import count_primes


@pytest.fixture(autouse=True)
def shorter_meetings(monkeypatch):
    """Tasks that run one at a time wait 1 s, not 3, for a partner that never comes."""
    monkeypatch.setattr(executors, "TOGETHER", 1.0)


def collect(executor, fn, args):
    futures = {executor.submit(fn, arg): arg for arg in args}
    results, errors = {}, {}
    for future in as_completed(futures, timeout=10):
        if future.exception() is None:
            results[futures[future]] = future.result()
        else:
            errors[futures[future]] = future.exception()
    return results, errors


def collect_unguarded(executor, fn, args):
    futures = {executor.submit(fn, arg): arg for arg in args}
    return {futures[f]: f.result() for f in as_completed(futures, timeout=10)}, {}


def collect_one_at_a_time(executor, fn, args):
    results, errors = {}, {}
    for arg in args:
        future = executor.submit(fn, arg)
        if future.exception(timeout=10) is None:
            results[arg] = future.result()
        else:
            errors[arg] = future.exception()
    return results, errors


def collect_here(executor, fn, args):
    results, errors = {}, {}
    for arg in args:
        try:
            results[arg] = fn(arg)
        except Exception as exc:
            errors[arg] = exc
    return results, errors


def collect_messages(executor, fn, args):
    results, errors = collect(executor, fn, args)
    return results, {arg: str(exc) for arg, exc in errors.items()}


@pytest.mark.parametrize("answer, words", [
    (collect_unguarded, "escaped from your function"),
    (lambda e, f, a: (dict(zip(a, e.map(f, a))), {}), "escaped from your function"),
    (collect_one_at_a_time, "one at a time"),
    (collect_here, "ran in your own thread"),
    (collect_messages, "should be the ValueError"),
])
def test_collect_catches(answer, words):
    verdict = check_collect(answer)
    assert not verdict and words in verdict.message, verdict.message


def test_collect_passes_and_knows_not_attempted():
    assert check_collect(collect)

    def todo(executor, fn, args):
        raise NotImplementedError

    assert check_collect(todo).status == "not attempted"


def pieces(n, chunks):
    edges = [n * i // chunks for i in range(chunks + 1)]
    return list(zip(edges, edges[1:]))


def count_on(executor, n, chunks):
    return sum(executor.map(count_primes, pieces(n, chunks), timeout=10))


@pytest.mark.parametrize("answer, words", [
    (lambda e, n, c: e.submit(count_primes, (0, n)).result(10), "submitted 1"),
    (lambda e, n, c: sum(e.submit(count_primes, p).result(10) for p in pieces(n, c)), "one at a time"),
    (lambda e, n, c: sum(map(count_primes, pieces(n, c))), "submitted no count_primes task"),
    (lambda e, n, c: sum(e.map(count_primes, [(i * (n // c), (i + 1) * (n // c)) for i in range(c)])), "cover 0..994"),
    (lambda e, n, c: sum(e.map(count_primes, [(lo, hi + 1) for lo, hi in pieces(n, c)])), "overlap"),
    (lambda e, n, c: list(e.map(count_primes, pieces(n, c))), "expected 1229"),
])
def test_parallel_primes_catches(answer, words):
    verdict = check_parallel_primes(answer)
    assert not verdict and words in verdict.message, verdict.message


def test_parallel_primes_passes():
    assert check_parallel_primes(count_on)


def test_meeting_knows_whether_two_tasks_met():
    together = Meeting(timeout=5)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: together.arrive(), range(3)))
    assert together.met is True
    apart = Meeting(timeout=0.05)
    apart.arrive()
    assert apart.met is False


def test_pieces_problem_names_the_mistake():
    assert _pieces_problem(pieces(100, 4), 100, 4) == ""
    assert "submitted 3" in _pieces_problem(pieces(100, 3), 100, 4)
    assert "gap" in _pieces_problem([(0, 10), (11, 20)], 20, 2)
    assert "far from equal" in _pieces_problem([(0, 1), (1, 100)], 100, 2)
