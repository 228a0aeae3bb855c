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
