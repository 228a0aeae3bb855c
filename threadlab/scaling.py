"""Run one task set with 1..N threads (or processes) and compare with the ideal.

>>> from threadlab.workers import sleep_task
>>> result = measure_scaling(sleep_task, [0.01] * 4, workers=[1, 2, 4])
>>> [row.workers for row in result.rows]
[1, 2, 4]
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from threadlab.workers import noop

KINDS = ("thread", "process")


def ideal_speedup(workers: int, tasks: int, cores: int | None = None) -> float:
    """The best speedup ``workers`` can give on ``tasks`` equal tasks.

    Tasks are indivisible, so 8 tasks on 3 workers take 3 rounds, not 8/3: the ideal is
    ``tasks / ceil(tasks / workers)``. When the tasks need a CPU each (``cores`` given), no
    more than ``cores`` of them can run at once.
    """
    if workers < 1 or tasks < 1:
        raise ValueError("workers and tasks must be at least 1")
    parallel = workers if cores is None else min(workers, cores)
    return tasks / math.ceil(tasks / parallel)


def amdahl(parallel_fraction: float, workers: int) -> float:
    """Amdahl's law: the speedup when only ``parallel_fraction`` of the work can run in parallel."""
    if not 0.0 <= parallel_fraction <= 1.0:
        raise ValueError("parallel_fraction must be between 0 and 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    return 1.0 / ((1.0 - parallel_fraction) + parallel_fraction / workers)


@dataclass(frozen=True)
class Row:
    workers: int
    elapsed: float
    speedup: float
    ideal: float

    @property
    def efficiency(self) -> float:
        """Measured speedup as a fraction of the ideal one (1.0 = as good as it can get)."""
        return self.speedup / self.ideal


@dataclass
class Scaling:
    """What :func:`measure_scaling` measured: one :class:`Row` per worker count."""

    kind: str
    tasks: int
    cores: int | None
    rows: list[Row] = field(default_factory=list)

    def row(self, workers: int) -> Row:
        for row in self.rows:
            if row.workers == workers:
                return row
        raise KeyError(f"no measurement with {workers} workers")

    def speedup(self, workers: int) -> float:
        return self.row(workers).speedup

    def table(self) -> str:
        """A text table of the measurement (its numbers vary from run to run)."""
        lines = [f"{'workers':>7} {'elapsed s':>9} {'speedup':>7} {'ideal':>6} {'efficiency':>10}"]
        for r in self.rows:
            lines.append(
                f"{r.workers:>7} {r.elapsed:>9.3f} {r.speedup:>7.2f} {r.ideal:>6.2f} {r.efficiency:>10.0%}"
            )
        return "\n".join(lines)


def make_executor(kind: str, workers: int, mp_context=None) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
    if kind == "process":
        return ProcessPoolExecutor(max_workers=workers, mp_context=mp_context)
    raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


def time_run(
    fn: Callable, args: Sequence, workers: int, kind: str = "thread", mp_context=None
) -> tuple[float, list]:
    """Run ``fn(arg)`` for every arg on a pool of ``workers``; return (seconds, results in order).

    Process pools are started and warmed up (every worker spawned) before the clock starts,
    so the time is the work, not the start-up; lesson 02 measures start-up on its own.
    """
    with make_executor(kind, workers, mp_context) as pool:
        if kind == "process":
            list(pool.map(noop, range(workers)))
        start = time.perf_counter()
        results = list(pool.map(fn, args))
        elapsed = time.perf_counter() - start
    return elapsed, results


def measure_scaling(
    fn: Callable,
    args: Sequence,
    workers: Iterable[int] = (1, 2, 4, 8),
    kind: str = "thread",
    cores: int | None = None,
    repeat: int = 1,
    mp_context=None,
) -> Scaling:
    """Time the same task set with each worker count and compute speedups.

    ``fn`` is called once per element of ``args``. ``cores`` caps the ideal for CPU-bound work
    (pass :func:`threadlab.env.usable_cores`); leave it None for waiting (sleep, I/O) work.
    The baseline is the time with one worker, measured in the same call. With ``repeat`` > 1
    the best (shortest) of the repeats is kept, the usual way to filter out a busy machine.
    """
    counts = sorted(set(workers))
    if not counts or counts[0] < 1:
        raise ValueError("worker counts must be positive")
    args = list(args)
    if not args:
        raise ValueError("need at least one task")
    if 1 not in counts:
        counts.insert(0, 1)
    times = {}
    for n in counts:
        times[n] = min(time_run(fn, args, n, kind, mp_context)[0] for _ in range(max(1, repeat)))
    result = Scaling(kind=kind, tasks=len(args), cores=cores)
    for n in counts:
        result.rows.append(
            Row(n, times[n], times[1] / times[n], ideal_speedup(n, len(args), cores))
        )
    return result


def plot_scaling(result: Scaling, title: str = "", ax=None, label: str | None = None):
    """Draw measured speedup against the ideal; returns the matplotlib Figure."""
    from threadlab.plotting import new_figure

    fig, ax = new_figure(ax=ax)
    xs = [r.workers for r in result.rows]
    ax.plot(xs, [r.ideal for r in result.rows], "--", color="grey", label="ideal")
    workers = {"thread": "threads", "process": "processes"}.get(result.kind, result.kind)
    ax.plot(xs, [r.speedup for r in result.rows], "o-", label=label or f"measured ({workers})")
    ax.set_xlabel(workers)
    ax.set_ylabel("speedup (x)")
    ax.set_xticks(xs)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def time_copies(pool: Executor, job, copies: int, repeat: int = 3) -> tuple[float, float]:
    """(seconds for ``count_primes(job)`` alone here, seconds for ``copies`` copies at once on ``pool``).

    The yardstick for a process pool's speedup: independent copies of one job share nothing and wait
    for nothing, so ``copies * alone / together`` is the most ``copies`` processes can gain on this
    machine right now. Each time is the best of ``repeat`` tries, taken in turn: the job is short,
    and one burst of load from elsewhere would otherwise make the machine look like it has fewer
    cores than it has.
    """
    from threadlab.workers import count_primes

    alone = together = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        count_primes(job)
        alone = min(alone, time.perf_counter() - start)
        start = time.perf_counter()
        list(pool.map(count_primes, [job] * copies))
        together = min(together, time.perf_counter() - start)
    return alone, together


def plot_amdahl(speedups: dict[int, float], parallel_fraction: float, cores: int, tasks: int, title: str = ""):
    """Two panels. Left: measured ``speedups`` ({workers: speedup}) against the ideal for ``tasks`` equal
    tasks on ``cores`` cores and against Amdahl's law with ``parallel_fraction`` on those cores. Right:
    what the law gives on 1 to 64 cores, and its ceiling 1 / (1 - p). Returns the Figure."""
    from threadlab.plotting import new_figure

    p, ns = parallel_fraction, sorted(speedups)
    fig, (left, right) = new_figure(figsize=(9.6, 3.4), ncols=2)
    left.plot(ns, [ideal_speedup(n, tasks, cores) for n in ns], "--", color="grey", label="ideal")
    left.plot(ns, [amdahl(p, min(n, cores)) for n in ns], ":", color="tab:red", label=f"Amdahl, p = {p:.2f}")
    left.plot(ns, [speedups[n] for n in ns], "o-", label="measured")
    left.set(xlabel="processes", ylabel="speedup (x)", xticks=ns, ylim=(0, None), title=title)
    left.legend()
    many = [1, 2, 4, 8, 16, 32, 64]
    right.plot(many, many, "--", color="grey", label="ideal")
    right.plot(many, [amdahl(p, n) for n in many], "o:", color="tab:red", label=f"Amdahl, p = {p:.2f}")
    if p < 1:
        right.axhline(1 / (1 - p), color="tab:red", alpha=0.4, label=f"ceiling 1 / (1 - p) = {1 / (1 - p):.1f}x")
    right.set(xscale="log", yscale="log", xlabel="cores (log scale)", ylabel="speedup (x)",
              title="what more cores would give")
    right.set_xticks(many, [str(n) for n in many])
    right.minorticks_off()
    right.legend(fontsize="small")
    return fig
