"""Unit tests for threadlab.lessons.lesson07 (threaded sieve, load balancing, switch interval)."""

import math
import sys

import pytest

from threadlab.lessons import lesson07


@pytest.mark.parametrize("n, count", sorted(lesson07.PRIME_COUNTS.items()))
def test_sequential_sieve_counts(n, count):
    assert lesson07.sequential_sieve(n)[0] == count


def test_cross_out_matches_a_plain_loop():
    n = 1000
    table = lesson07.new_table(n)
    crossed = lesson07.cross_out(table, 3, n, chunk=7)
    assert crossed == lesson07.work_of(3, n) == len(range(9, n + 1, 3))
    assert [m for m in range(n + 1) if not table[m]] == [0, 1, *range(9, n + 1, 3)]


def test_base_primes():
    assert lesson07.base_primes(100) == [2, 3, 5, 7]
    assert len(lesson07.base_primes(10**6)) == 168


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_threaded_sieve_invariants(threads):
    for n in (100, 10**4, 10**5):
        r = lesson07.threaded_sieve(n, threads)
        assert r.count == lesson07.PRIME_COUNTS[n]
        assert r.total_ks == math.isqrt(n) - 1
        assert r.total_crossed >= lesson07.sequential_sieve(n)[1]
        assert len(r.work) == threads
    if threads == 1:
        assert r.total_crossed == lesson07.sequential_sieve(n)[1]


def test_static_split_is_correct_but_unbalanced():
    n = 10**5
    ks = list(range(2, math.isqrt(n) + 1))
    blocks = lesson07.contiguous_split(ks, 3)
    assert [len(b) for b in blocks] == [105, 105, 105] and sum(blocks, []) == ks
    r = lesson07.threaded_sieve(n, 3, assignment=blocks)
    assert r.count == 9592 and r.strategy == "static"
    assert [w.ks for w in r.work] == [105, 105, 105]
    assert lesson07.imbalance(lesson07.split_work(blocks, n)) > 2
    assert "total" in r.table()


def test_contiguous_split_uneven():
    assert lesson07.contiguous_split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert lesson07.imbalance([1, 1, 1]) == 1.0
    assert lesson07.imbalance([0, 0]) == 1.0


def test_schedules_static_vs_dynamic():
    tasks = lesson07.model_tasks(n=10**4, seconds=0.12)
    assert sum(tasks) == pytest.approx(0.12)
    static = lesson07.run_schedule(tasks, 2, "static")
    dynamic = lesson07.run_schedule(tasks, 2, "dynamic")
    assert static.elapsed >= sum(lesson07.contiguous_split(tasks, 2)[0]) * 0.95
    assert dynamic.elapsed >= dynamic.ideal * 0.95
    assert dynamic.elapsed < static.elapsed
    assert static.elsewhere >= 0 and dynamic.elsewhere >= 0
    assert dynamic.quiet == (dynamic.elsewhere < lesson07.QUIET)
    assert lesson07.plot_schedules([static, dynamic]) is not None


def test_alternation_restores_the_interval_and_counts_switches():
    before = sys.getswitchinterval()
    a = lesson07.alternation(0.001, duration=0.05)
    assert sys.getswitchinterval() == before
    assert set(a.log) <= {"A", "B"} and a.log
    assert a.switches == len(a.turn_lengths()) - 1
    assert sum(a.turn_lengths()) == len(a.log)
    assert a.switches <= a.duration / a.interval + 5


def test_alternation_log_helpers():
    a = lesson07.Alternation(0.005, 0.1, ["A", "A", "B", "A", "A", "A"])
    assert a.switches == 2 and a.turn_lengths() == [2, 1, 3]
    assert lesson07.Alternation(0.005, 0.1, []).switches == 0


def test_plot_and_summary():
    r = lesson07.threaded_sieve(10**4, 3)
    assert lesson07.plot_work(r) is not None
    assert lesson07.summary(r).startswith("1229 primes")


def _greedy(primes, threads, n):
    lists, loads = [[] for _ in range(threads)], [0] * threads
    for p in sorted(primes, key=lambda p: lesson07.work_of(p, n), reverse=True):
        i = loads.index(min(loads))
        lists[i].append(p)
        loads[i] += lesson07.work_of(p, n)
    return lists


def test_check_balanced_split_verdicts(capsys):
    assert lesson07.check_balanced_split(_greedy)
    assert not lesson07.check_balanced_split(lambda primes, threads, n: lesson07.contiguous_split(primes, threads))
    assert not lesson07.check_balanced_split(lambda primes, threads, n: [primes[i::threads] for i in range(threads)])
    assert not lesson07.check_balanced_split(lambda primes, threads, n: [primes] + [[]] * (threads - 1))
    capsys.readouterr()


def test_check_turns_verdicts(capsys):
    from itertools import groupby

    assert lesson07.check_turns(lambda log: [(k, len(list(g))) for k, g in groupby(log)])
    assert not lesson07.check_turns(lambda log: [(k, 1) for k in log])

    def placeholder(log):
        raise NotImplementedError

    assert lesson07.check_turns(placeholder).status == "not attempted"
    capsys.readouterr()


def test_show_source(capsys):
    lesson07.show_source(lesson07.work_of)
    assert capsys.readouterr().out.startswith("def work_of(")
