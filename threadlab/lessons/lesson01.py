"""Lesson 01: slow tasks, one after another and in threads."""

from __future__ import annotations

import math
import threading
import time

from threadlab.exercises import check, expect_between
from threadlab.measure import Scaling, measure_scaling
from threadlab.plotting import new_figure
from threadlab.workers import cpu_task, sleep_task

TASKS = 8  #: the lesson's task set: 8 "downloads" ...
DELAY = 0.2  #: ... of 0.2 s each (lesson 12 runs the same set with asyncio)
WIDGET_DELAY = 0.1  #: shorter tasks for the slider, so it answers within seconds


def run_sequentially(delays) -> float:
    """Run sleep_task for every delay, one after another; return the elapsed seconds."""
    start = time.perf_counter()
    for d in delays:
        sleep_task(d)
    return time.perf_counter() - start


def run_in_threads(delays) -> float:
    """One thread per delay, all started, then all joined; return the elapsed seconds."""
    start = time.perf_counter()
    threads = [threading.Thread(target=sleep_task, args=(d,)) for d in delays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def scaling(max_threads: int = TASKS, tasks: int = TASKS, delay: float = WIDGET_DELAY) -> Scaling:
    """Speedup of ``tasks`` sleeping tasks on 1..max_threads threads."""
    return measure_scaling(sleep_task, [delay] * tasks, workers=range(1, max_threads + 1))


def plot_elapsed_and_speedup(result: Scaling):
    """Two panels: elapsed time and speedup, each against the ideal."""
    fig, (left, right) = new_figure(figsize=(8.4, 3.4), ncols=2)
    xs = [r.workers for r in result.rows]
    base = result.rows[0].elapsed
    left.plot(xs, [base / r.ideal for r in result.rows], "--", color="grey", label="ideal")
    left.plot(xs, [r.elapsed for r in result.rows], "o-", label="measured")
    left.set(xlabel="threads", ylabel="elapsed (s)", title=f"{result.tasks} sleeping tasks", ylim=(0, None))
    right.plot(xs, [r.ideal for r in result.rows], "--", color="grey", label="ideal")
    right.plot(xs, [r.speedup for r in result.rows], "o-", label="measured")
    right.set(xlabel="threads", ylabel="speedup (x)", title="speedup = T(1) / T(n)", ylim=(0, None))
    for ax in (left, right):
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def summary(result: Scaling) -> str:
    last = result.rows[-1]
    return (
        f"{last.workers} threads: {last.elapsed:.2f} s, speedup {last.speedup:.1f}x "
        f"(ideal {last.ideal:.1f}x, efficiency {last.efficiency:.0%})"
    )


def cpu_speedup(n: int = 500_000, tasks: int = 4, repeat: int = 5) -> tuple[float, float]:
    """Time pure-Python CPU work on 1 and 2 threads: (best seconds with 1, best with 2).

    The two are measured alternately and the best of ``repeat`` kept for each, so a burst of
    load from another program slows both alike instead of faking a speedup or a slowdown.
    """
    from threadlab.measure import time_run

    one, two = [], []
    for _ in range(repeat):
        one.append(time_run(cpu_task, [n] * tasks, 1)[0])
        two.append(time_run(cpu_task, [n] * tasks, 2)[0])
    return min(one), min(two)


# --- exercises -----------------------------------------------------------------------------


def check_predicted_time(predicted_time) -> object:
    """Exercise 1.1: predicted_time(tasks, seconds, threads) -> seconds for equal sleeping tasks."""

    def test():
        cases = [(8, 0.2, 1), (8, 0.2, 8), (8, 0.2, 3), (8, 0.2, 5), (10, 0.5, 4), (3, 1.0, 16)]
        for tasks, seconds, threads in cases:
            expected = math.ceil(tasks / threads) * seconds
            got = predicted_time(tasks, seconds, threads)
            if got is None or abs(got - expected) > 1e-9:
                hint = " (tasks cannot be split: how many rounds of `threads` tasks are there?)"
                raise AssertionError(
                    f"predicted_time({tasks}, {seconds}, {threads}): expected {expected:g} s, got {got!r}{hint}"
                )
        got = predicted_time(4, 0.1, 3)
        measured = _measure_pool(4, 0.1, 3)
        expect_between(measured, got * 0.9, got + 0.15, "measured time with 4 tasks on 3 threads vs your prediction")

    return check("Exercise 1.1", test)


def _measure_pool(tasks: int, seconds: float, threads: int) -> float:
    from threadlab.measure import time_run

    return time_run(sleep_task, [seconds] * tasks, threads)[0]


def check_run_all(run_all) -> object:
    """Exercise 1.2: run_all(delays) runs sleep_task(d) for every d in its own thread, joins all."""

    def test():
        before = threading.active_count()
        delays = [0.3, 0.1, 0.2, 0.3]
        start = time.perf_counter()
        run_all(delays)
        elapsed = time.perf_counter() - start
        if elapsed < max(delays) * 0.9:
            raise AssertionError(
                f"run_all returned after {elapsed:.2f} s, before the longest task (0.3 s) could end: "
                "did you join() every thread?"
            )
        if elapsed > sum(delays) * 0.8:
            raise AssertionError(
                f"run_all took {elapsed:.2f} s, about the sum of the delays ({sum(delays):.1f} s): "
                "the tasks ran one after another. Start all threads first, then join them."
            )
        expect_between(threading.active_count(), 0, before, "threads still running after run_all")

    return check("Exercise 1.2", test)
