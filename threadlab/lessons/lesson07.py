"""Lesson 07: the seeds' threaded prime sieve, load balancing, and the GIL's switch interval."""

from __future__ import annotations

import inspect
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import groupby

from threadlab.checks import check, expect_equal
from threadlab.measure import QUIET, Elsewhere
from threadlab.plotting import new_figure

#: pi(n), the number of primes <= n, for the sizes the lesson uses
PRIME_COUNTS = {100: 25, 10**4: 1229, 10**5: 9592, 10**6: 78498}
CHUNK = 128  #: multiples crossed out per statement (a slice assignment)


def show_source(obj) -> None:
    """Print the source of a function or class of this module (what the notebook explains)."""
    print(inspect.getsource(obj).rstrip())


def cross_out(prime: bytearray, k: int, n: int, chunk: int = CHUNK) -> int:
    """Cross out the multiples k*k, k*k + k, ... <= n, ``chunk`` of them per statement.

    Returns how many were crossed out. Slices keep n = 10**6 fast; between two statements the
    interpreter may switch threads, as it could between the single writes of the seed's loop.
    """
    crossed = 0
    start = k * k
    while start <= n:
        stop = min(n + 1, start + chunk * k)
        count = len(range(start, stop, k))
        prime[start:stop:k] = bytes(count)
        crossed += count
        start = stop
    return crossed


def new_table(n: int) -> bytearray:
    prime = bytearray([1]) * (n + 1)
    prime[0] = prime[1] = 0
    return prime


def sequential_sieve(n: int) -> tuple[int, int]:
    """The sieve of Eratosthenes in one thread: (number of primes <= n, multiples crossed out)."""
    prime = new_table(n)
    crossed = 0
    for k in range(2, math.isqrt(n) + 1):
        if prime[k]:
            crossed += cross_out(prime, k, n)
    return prime.count(1), crossed


def base_primes(n: int) -> list:
    """The primes p <= sqrt(n): the only k whose multiples a sieve must cross out."""
    return [p for p in range(2, math.isqrt(n) + 1) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def work_of(p: int, n: int) -> int:
    """Multiples of p a sequential sieve crosses out: p*p, p*p + p, ... <= n."""
    return len(range(p * p, n + 1, p))


@dataclass
class ThreadWork:
    name: str
    ks: int = 0  #: values of k this thread took (the seed's "processed nk values of k")
    bases: int = 0  #: of those, how many were still uncrossed, so it crossed out their multiples
    crossed: int = 0  #: multiples it crossed out


@dataclass
class SieveResult:
    n: int
    count: int
    work: list = field(default_factory=list)
    elapsed: float = 0.0
    strategy: str = "dynamic"

    @property
    def total_crossed(self) -> int:
        return sum(w.crossed for w in self.work)

    @property
    def total_ks(self) -> int:
        return sum(w.ks for w in self.work)

    @property
    def imbalance(self) -> float:
        """Most work done by one thread / average work per thread (1.0 = perfectly balanced)."""
        loads = [w.crossed for w in self.work]
        mean = sum(loads) / len(loads)
        return max(loads) / mean if mean else 1.0

    def table(self) -> str:
        lines = [f"{'thread':<10}{'k taken':>9}{'bases':>7}{'crossed out':>13}"]
        for w in self.work:
            lines.append(f"{w.name:<10}{w.ks:>9}{w.bases:>7}{w.crossed:>13}")
        lines.append(f"{'total':<10}{self.total_ks:>9}{sum(w.bases for w in self.work):>7}{self.total_crossed:>13}")
        return "\n".join(lines)


def threaded_sieve(n: int, threads: int = 2, assignment: list | None = None) -> SieveResult:
    """The seeds' threaded sieve, modernised.

    Dynamic (default, as in the seeds): the threads share a counter ``next_k``; each takes the
    next k under a lock and, if k is still uncrossed, crosses out its multiples, until k > sqrt(n).
    Static: ``assignment[i]`` is the list of k values thread i handles, fixed in advance.
    The threads are started and then joined (the seeds used a busy wait and a lock per thread).
    """
    prime = new_table(n)
    limit = math.isqrt(n)
    work = [ThreadWork(f"thread-{i}") for i in range(threads)]
    next_k = [2]
    lock = threading.Lock()

    def take(i):
        if assignment is not None:
            yield from assignment[i]
            return
        while True:
            with lock:
                k = next_k[0]
                next_k[0] += 1
            if k > limit:
                return
            yield k

    def worker(i):
        mine = work[i]
        for k in take(i):
            mine.ks += 1
            if prime[k]:  # may be a composite that nobody has crossed out *yet*: wasted work
                mine.bases += 1
                mine.crossed += cross_out(prime, k, n)

    pool = [threading.Thread(target=worker, args=(i,), name=f"thread-{i}") for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    elapsed = time.perf_counter() - start
    strategy = "dynamic" if assignment is None else "static"
    return SieveResult(n, prime.count(1), work, elapsed, strategy)


def run_all(pool: list, timeout: float) -> float:
    """Start every thread of ``pool``, join each (at most ``timeout`` seconds); return the seconds taken.

    (``threaded_sieve`` keeps these lines inline: the lesson shows its source as the seed's program.)
    """
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout)
    return time.perf_counter() - start


def contiguous_split(items: list, parts: int) -> list:
    """Split ``items`` into ``parts`` consecutive blocks of (nearly) equal length."""
    size, extra = divmod(len(items), parts)
    blocks, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        blocks.append(items[start:stop])
        start = stop
    return blocks


def split_work(blocks: list, n: int) -> list:
    """Sequential-sieve work of each block of base primes (composites in a block cost nothing)."""
    primes = set(base_primes(n))
    return [sum(work_of(k, n) for k in block if k in primes) for block in blocks]


def imbalance(loads: list) -> float:
    mean = sum(loads) / len(loads)
    return max(loads) / mean if mean else 1.0


# --- the widget: work per thread ---------------------------------------------------------------


def plot_work(result: SieveResult):
    """Two bar charts: multiples crossed out per thread, and values of k taken per thread."""
    fig, (left, right) = new_figure(figsize=(8.4, 3.2), ncols=2)
    names = [w.name.replace("thread-", "") for w in result.work]
    seq = sequential_sieve(result.n)[1]
    left.bar(names, [w.crossed for w in result.work], color="tab:blue")
    left.axhline(seq / len(names), color="grey", ls="--", label="sequential work / threads")
    left.set(xlabel="thread", ylabel="multiples crossed out", title=f"n = {result.n:,}: work per thread")
    left.legend(fontsize="small")
    right.bar(names, [w.ks for w in result.work], color="tab:orange")
    right.set(xlabel="thread", ylabel="values of k taken", title=f"{result.total_ks} values of k in all")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="y")
    return fig


def summary(result: SieveResult) -> str:
    seq = sequential_sieve(result.n)[1]
    return (f"{result.count} primes <= {result.n:,}; crossed out {result.total_crossed:,} "
            f"(sequential sieve: {seq:,}); busiest thread did {result.imbalance:.2f}x the average")


# --- load balancing, measured with waiting tasks --------------------------------------------------


@dataclass
class Schedule:
    strategy: str
    elapsed: float
    busy: list  #: seconds each thread spent on its tasks
    ideal: float  #: the best any schedule can do: max(total / threads, longest task)
    elsewhere: float = 0.0  #: cores other programs kept busy meanwhile (they delay the sleepers' wake-ups)

    @property
    def quiet(self) -> bool:
        """True when other programs left the cores (nearly) free, so wake-ups came on time."""
        return self.elsewhere < QUIET


def model_tasks(n: int = 10**5, seconds: float = 0.4) -> list:
    """One task per base prime p <= sqrt(n), lasting in proportion to p's work; ``seconds`` in all."""
    works = [work_of(p, n) for p in base_primes(n)]
    total = sum(works)
    return [seconds * w / total for w in works]


def run_schedule(durations: list, threads: int, strategy: str) -> Schedule:
    """Run sleeping tasks on ``threads`` threads, statically split (contiguous blocks) or dynamically.

    The tasks *wait* (sleep) instead of computing, so they really overlap under the GIL: this is
    what the sieve's balance would cost on a machine whose threads run in parallel.
    """
    busy = [0.0] * threads
    nxt, lock = [0], threading.Lock()
    blocks = contiguous_split(list(range(len(durations))), threads)

    def worker(i):
        if strategy == "static":
            mine = blocks[i]
        else:
            def dynamic():
                while True:
                    with lock:
                        j = nxt[0]
                        nxt[0] += 1
                    if j >= len(durations):
                        return
                    yield j
            mine = dynamic()
        for j in mine:
            t0 = time.perf_counter()
            time.sleep(durations[j])
            busy[i] += time.perf_counter() - t0

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    with Elsewhere() as others:
        elapsed = run_all(pool, 30)
    ideal = max(sum(durations) / threads, max(durations))
    return Schedule(strategy, elapsed, busy, ideal, others.cores)


def plot_schedules(schedules: list):
    fig, ax = new_figure(figsize=(6.4, 2.8))
    for row, s in enumerate(schedules):
        for i, b in enumerate(s.busy):
            ax.barh(row + i * 0.8 / len(s.busy) - 0.3, b, height=0.7 / len(s.busy), color=f"C{i}",
                    label=f"thread {i}" if row == 0 else None)
        ax.plot([s.elapsed], [row], "k|", markersize=18)
        ax.axvline(s.ideal, color="grey", ls="--", lw=0.8)
    ax.set_yticks(range(len(schedules)), [s.strategy for s in schedules])
    ax.set(xlabel="seconds busy per thread (| = elapsed, dashed = ideal)", title="load balance")
    ax.legend(fontsize="small", loc="lower right")
    return fig


# --- the switch interval -----------------------------------------------------------------------


@dataclass
class Alternation:
    interval: float
    duration: float
    log: list  #: the thread name appended at every loop iteration, in order

    @property
    def switches(self) -> int:
        return max(0, sum(1 for _ in groupby(self.log)) - 1)

    def turn_lengths(self) -> list:
        return [len(list(g)) for _, g in groupby(self.log)]


def alternation(interval: float, duration: float = 0.3) -> Alternation:
    """Two CPU-bound threads append their names to one shared list for ``duration`` seconds.

    Runs with ``sys.setswitchinterval(interval)`` and restores the previous interval afterwards.
    Consecutive equal names are one *turn*; a change of name is a thread switch.
    """
    log: list = []
    ready = threading.Barrier(2, timeout=5)
    old = sys.getswitchinterval()

    def spin(name):
        append, clock = log.append, time.perf_counter
        ready.wait()
        deadline = clock() + duration
        while clock() < deadline:
            append(name)

    pool = [threading.Thread(target=spin, args=(name,)) for name in ("A", "B")]
    sys.setswitchinterval(interval)
    try:
        run_all(pool, duration + 10)
    finally:
        sys.setswitchinterval(old)
    return Alternation(interval, duration, log)


# --- exercises -----------------------------------------------------------------------------


def check_balanced_split(split) -> object:
    """Exercise 7.1: split(primes, threads, n) -> lists of primes whose sieve work is balanced."""

    def test():
        n = 10**6
        primes = base_primes(n)
        for threads in (2, 3, 4):
            blocks = split(list(primes), threads, n)
            if blocks is None or len(blocks) != threads:
                raise AssertionError(f"with {threads} threads: expected {threads} lists, got {blocks!r:.80}")
            flat = sorted(p for block in blocks for p in block)
            expect_equal(flat, primes, f"all primes given out exactly once ({threads} threads)")
            got = imbalance(split_work(blocks, n))
            if got > 1.1:
                naive = imbalance(split_work(contiguous_split(primes, threads), n))
                raise AssertionError(
                    f"with {threads} threads the busiest thread does {got:.2f}x the average "
                    f"(contiguous blocks: {naive:.2f}x); aim for at most 1.10x. "
                    "Hint: hand out the biggest jobs first, each to the least loaded thread."
                )

    return check("Exercise 7.1", test)


def check_turns(turns) -> object:
    """Exercise 7.2: turns(log) -> [(name, length), ...] for each run of equal consecutive names."""

    def test():
        cases = [
            ([], []),
            (["A"], [("A", 1)]),
            (["A", "A", "B", "A"], [("A", 2), ("B", 1), ("A", 1)]),
            (["B"] * 5 + ["A"] * 3 + ["B"] * 2, [("B", 5), ("A", 3), ("B", 2)]),
        ]
        for log, expected in cases:
            expect_equal([tuple(t) for t in turns(list(log))], expected, f"turns({log})")
        big = ["A"] * 1000 + ["B"] * 2000 + ["A"]
        expect_equal([tuple(t) for t in turns(big)], [("A", 1000), ("B", 2000), ("A", 1)], "turns of a long log")

    return check("Exercise 7.2", test)
