"""Lesson 09: the GIL, measured on the Python that runs this code.

Three workloads run on 1..N threads side by side (pure Python, sleeping, C code that releases
the GIL); a timeline shows when each thread really made progress; the switch interval and the
"convoy effect" are measured; free-threaded builds and subinterpreters are detected, not assumed.
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field

from threadlab.checks import check, expect_equal
from threadlab.env import gil_enabled, is_free_threaded_build, usable_cores
from threadlab.measure import QUIET, Elsewhere, Row, Scaling, ideal_speedup, plot_scaling, time_run
from threadlab.plotting import new_figure
from threadlab.timeline import Timeline
from threadlab.workers import cpu_task

TASKS = 8  #: tasks per workload in the side-by-side experiment
CPU_N = 80_000  #: pure-Python task: sum of i*i for i < CPU_N (about 10-15 ms)
SLEEP_S = 0.015  #: sleeping task: 15 ms, like a quick network request
HASH_ROUNDS = 4  #: C task: SHA-256 over HASH_ROUNDS MiB (about 10-15 ms)
BUFFER = bytes(range(256)) * 4096  #: 1 MiB; hashlib releases the GIL for data > 2047 bytes


def build_name() -> str:
    """Which CPython this is, in words: the label every measurement of the lesson carries."""
    if not is_free_threaded_build():
        return "standard build (GIL always on)"
    return "free-threaded build, GIL enabled" if gil_enabled() else "free-threaded build, GIL disabled"


# --- 1. kernel threads ------------------------------------------------------------------


def os_threads(n: int = 3, timeout: float = 5.0) -> dict:
    """Start ``n`` threads, read their OS ids while they are alive, then let them finish.

    Returns ``native_ids`` (what the kernel calls each thread), ``tasks`` (the thread ids the
    kernel lists in /proc/self/task, None where there is no /proc) and ``pid``.
    """
    release = threading.Event()
    ready = threading.Barrier(n + 1, timeout=timeout)
    ids = {}

    def body(i):
        ids[i] = threading.get_native_id()
        ready.wait()
        release.wait(timeout)

    threads = [threading.Thread(target=body, args=(i,), name=f"os-thread-{i}") for i in range(n)]
    for t in threads:
        t.start()
    try:
        ready.wait()
        tasks = {int(x) for x in os.listdir("/proc/self/task")} if os.path.isdir("/proc/self/task") else None
    finally:
        release.set()
        for t in threads:
            t.join(timeout)
    return {"native_ids": [ids[i] for i in range(n)], "tasks": tasks, "pid": os.getpid(),
            "main_native_id": threading.get_native_id()}


# --- 2. what the GIL protects, and what it does not ---------------------------------------


def refcount_storm(threads: int = 4, rounds: int = 2_000) -> dict:
    """Threads take and drop references to one shared object, and append to one shared list.

    Reference counts are interpreter state: they must come out exact, or the object would be
    freed while in use (or never). The GIL (per-object machinery on free-threaded builds)
    guarantees that.
    """
    shared = object()
    before = sys.getrefcount(shared)
    appended = []

    def body():
        for _ in range(rounds):
            refs = [shared] * 50  # 50 increfs ...
            appended.append(1)
            del refs  # ... and 50 decrefs

    workers = [threading.Thread(target=body) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    return {"before": before, "after": sys.getrefcount(shared), "appended": len(appended),
            "expected": threads * rounds}


def lost_updates(threads: int = 4, per_thread: int = 1_000) -> dict:
    """Lesson 04's read-modify-write, with a switch point between read and write."""
    box = {"count": 0}

    def body():
        for _ in range(per_thread):
            value = box["count"]  # read
            time.sleep(0)  # any switch point will do: here the GIL is dropped
            box["count"] = value + 1  # write: overwrites what others wrote meanwhile

    workers = [threading.Thread(target=body) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    return {"count": box["count"], "expected": threads * per_thread}


# --- 3. three workloads side by side -------------------------------------------------------


def python_work(n: int = CPU_N) -> int:
    """Pure-Python CPU work: the interpreter executes every step, holding the GIL."""
    return cpu_task(n)


def sleep_work(seconds: float = SLEEP_S) -> float:
    """Waiting, like I/O: time.sleep releases the GIL while it waits."""
    time.sleep(seconds)
    return seconds


def sha256_work(rounds: int = HASH_ROUNDS) -> str:
    """C code that releases the GIL: hashlib hashes each 1 MiB block without holding it."""
    digest = hashlib.sha256()
    for _ in range(rounds):
        digest.update(BUFFER)
    return digest.hexdigest()


#: name -> (function, argument, needs a CPU core per task)
WORKLOADS = {
    "pure Python": (python_work, CPU_N, True),
    "sleep (I/O)": (sleep_work, SLEEP_S, False),
    "sha256 (C, GIL released)": (sha256_work, HASH_ROUNDS, True),
}


@dataclass
class Measured:
    """Best run of one worker count: wall seconds and the cores our process used meanwhile."""

    wall: float
    cores: float


def measure_interleaved(fn, args, counts, cores: int | None = None, repeat: int = 3):
    """Like :func:`threadlab.measure.measure_scaling`, but robust on a shared machine.

    The worker counts take turns (1, 2, ..., 1, 2, ...), so a burst of load from another
    program slows every count alike instead of one of them; the best of ``repeat`` runs of
    each count is kept. For each best run it also records how many cores this process used
    on average (its CPU seconds / wall seconds): with the GIL, pure-Python threads never use
    much more than one, however many there are. Returns (Scaling, {count: Measured}, others),
    ``others`` being the CPU seconds that other programs used while this ran.
    """
    counts = sorted(set(counts) | {1})
    args = list(args)
    best = {n: Measured(float("inf"), 0.0) for n in counts}
    others = 0.0
    for _ in range(repeat):
        for n in counts:
            with Elsewhere() as meter:
                wall = time_run(fn, args, n, "thread")[0]
            others += meter.other_cpu
            if wall < best[n].wall:
                best[n] = Measured(wall, meter.own_cpu / wall)
    result = Scaling(kind="thread", tasks=len(args), cores=cores)
    for n in counts:
        result.rows.append(Row(n, best[n].wall, best[1].wall / best[n].wall, ideal_speedup(n, len(args), cores)))
    return result, best, others


@dataclass
class Comparison:
    """One run of the side-by-side experiment: a :class:`Scaling` per workload."""

    build: str
    cores: int
    results: dict[str, Scaling] = field(default_factory=dict)
    used: dict[str, dict[int, Measured]] = field(default_factory=dict)
    wall: float = 0.0  #: seconds the whole comparison took
    others: float = 0.0  #: CPU seconds other programs used meanwhile

    def speedup(self, kind: str, threads: int) -> float:
        return self.results[kind].speedup(threads)

    def ideal(self, kind: str, threads: int) -> float:
        return self.results[kind].row(threads).ideal

    def cores_used(self, kind: str, threads: int) -> float:
        """Average number of cores this process kept busy during the best run."""
        return self.used[kind][threads].cores

    @property
    def other_load(self) -> float:
        """Cores other programs kept busy on average while we measured."""
        return self.others / self.wall if self.wall else 0.0

    @property
    def quiet(self) -> bool:
        """True when other programs left (nearly) all cores to us: wall-clock speedups are fair."""
        return self.other_load < QUIET

    def table(self) -> str:
        lines = [f"{self.build}; {self.cores} usable cores; "
                 f"other programs kept {self.other_load:.2f} cores busy meanwhile"]
        for kind, result in self.results.items():
            lines.append(f"-- {kind}")
            for row in result.rows:
                lines.append(f"{row.workers:>2} threads  {row.elapsed:6.3f} s  speedup {row.speedup:5.2f}"
                             f" (ideal {row.ideal:4.2f})  cores used {self.cores_used(kind, row.workers):4.2f}")
        return "\n".join(lines)


def compare_workloads(threads: int, tasks: int = TASKS, repeat: int = 3) -> Comparison:
    """Speedup of each workload on 1..``threads`` threads (best of ``repeat`` runs each)."""
    cores = usable_cores()
    out = Comparison(build_name(), cores)
    start = time.perf_counter()
    for kind, (fn, arg, needs_core) in WORKLOADS.items():
        scaling, used, others = measure_interleaved(
            fn, [arg] * tasks, range(1, threads + 1), cores if needs_core else None, repeat
        )
        out.results[kind] = scaling
        out.used[kind] = used
        out.others += others
    out.wall = time.perf_counter() - start
    return out


def plot_comparison(result: Comparison):
    fig, axes = new_figure(figsize=(10.5, 3.3), ncols=len(result.results))
    for ax, (kind, scaling) in zip(axes, result.results.items()):
        plot_scaling(scaling, title=kind, ax=ax, label="measured")
    fig.suptitle(f"{result.results[kind].tasks} tasks on threads; {result.build}; {result.cores} cores")
    return fig


def summarize(result: Comparison) -> str:
    n = max(r.workers for r in next(iter(result.results.values())).rows)
    parts = [f"{kind}: {result.speedup(kind, n):.2f}x (ideal {result.ideal(kind, n):.1f}x)"
             for kind in result.results]
    return f"{n} threads - " + "; ".join(parts)


def two_loops(n: int = 1_000_000, repeat: int = 3) -> dict:
    """Seed 003's "GIL in action": two counting loops in one thread, then in two threads.

    The two ways are timed alternately and the best of ``repeat`` kept for each, so a burst of
    load from another program slows both alike instead of faking a speedup.
    """

    def loop():
        total = 1
        for _ in range(n):
            total += 1
        return total

    def in_one_thread():
        loop()
        loop()

    def in_two_threads():
        workers = [threading.Thread(target=loop) for _ in range(2)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)

    best = {"one thread": math.inf, "two threads": math.inf}
    for _ in range(repeat):
        for name, way in (("one thread", in_one_thread), ("two threads", in_two_threads)):
            start = time.perf_counter()
            way()
            best[name] = min(best[name], time.perf_counter() - start)
    return {**best, "speedup": best["one thread"] / best["two threads"]}


def hold_gil_work(n: int = 2_000_000) -> int:
    """One long call into C that keeps the GIL: sum() over a range never gives it back."""
    return sum(range(n))


def release_gil_work(data: bytes) -> str:
    """One long call into C that releases the GIL: SHA-256 over ``data`` in a single update."""
    return hashlib.sha256(data).hexdigest()


def progress_during(fn, *args, timeout: float = 20.0) -> dict:
    """Can another thread run Python code while ``fn()`` runs? Measured, not assumed.

    A watcher thread counts small chunks of Python work, noting the time of each. ``fn()`` runs
    once in the main thread. If ``fn`` keeps the GIL, the watcher stands still for the whole
    call (its longest pause is at least the call's duration); if ``fn`` releases it, the
    watcher keeps going (only short pauses: switch intervals, the OS).
    """
    stop = threading.Event()
    stamps = []

    def watch():
        while not stop.is_set():
            _chunk()
            stamps.append(time.perf_counter())

    watcher = threading.Thread(target=watch, name="watcher")
    watcher.start()
    try:
        time.sleep(0.02)
        start = time.perf_counter()
        fn(*args)
        end = time.perf_counter()
    finally:
        stop.set()
        watcher.join(timeout)
    inside = [start] + [t for t in stamps if start < t < end] + [end]
    pauses = [b - a for a, b in zip(inside, inside[1:])]
    return {"duration": end - start, "longest_pause": max(pauses), "chunks": len(inside) - 2}


# --- 4. a timeline of who runs when --------------------------------------------------------


def running_spans(times: list[float], gap: float) -> list[tuple[float, float]]:
    """Merge progress checkpoints into intervals of running.

    ``times`` are the moments (sorted) at which a thread finished a small chunk of work. When
    two checkpoints are at most ``gap`` apart the thread ran in between; a longer pause means it
    was not running (waiting for the GIL, or the OS ran something else).
    """
    spans = []
    if not times:
        return spans
    start = prev = times[0]
    for t in times[1:]:
        if t - prev > gap:
            spans.append((start, prev))
            start = t
        prev = t
    spans.append((start, prev))
    return spans


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which an interval of ``a`` and an interval of ``b`` were both open."""
    total, i, j = 0.0, 0, 0
    a, b = sorted(a), sorted(b)
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


CHUNK = 150  #: loop steps between two checkpoints (some 10-20 microseconds of work)
GAP = 0.0003  #: a pause longer than this between checkpoints counts as "not running"


def _chunk() -> None:
    total = 0
    for i in range(CHUNK):
        total += i


@dataclass
class Trace:
    """What :func:`trace_threads` recorded: spans per thread, and the derived measures."""

    kind: str
    build: str
    timeline: Timeline
    running: dict[str, list[tuple[float, float]]]
    sleeping: dict[str, list[tuple[float, float]]]

    def names(self) -> list[str]:
        return list(self.running)

    def running_overlap(self) -> float:
        """Fraction of the shorter thread's running time during which the other ran too."""
        a, b = self.names()[:2]
        busy = min(sum(e - s for s, e in self.running[x]) for x in (a, b))
        return overlap(self.running[a], self.running[b]) / busy if busy else 0.0

    def sleeping_overlap(self) -> float:
        a, b = self.names()[:2]
        busy = min(sum(e - s for s, e in self.sleeping[x]) for x in (a, b))
        return overlap(self.sleeping[a], self.sleeping[b]) / busy if busy else 0.0

    def median_run(self) -> float:
        """Median length of an uninterrupted running span (seconds)."""
        lengths = [e - s for spans in self.running.values() for s, e in spans[1:-1]]
        return statistics.median(lengths) if lengths else 0.0


def trace_threads(kind: str = "cpu", threads: int = 2, seconds: float | None = None,
                  timeout: float = 20.0) -> Trace:
    """Run ``threads`` threads and record when each made progress.

    ``kind="cpu"``: each thread only computes, in small chunks, for ``seconds`` of its own
    running time. ``kind="io"``: each thread computes briefly (about 1 ms), then sleeps 4 ms,
    like a thread serving requests. Gaps between running spans that are not sleeps are time
    the thread was ready but not running: waiting for the GIL (or for a core).
    """
    if kind not in ("cpu", "io"):
        raise ValueError("kind is 'cpu' or 'io'")
    if seconds is None:
        seconds = 0.1 if kind == "cpu" else 0.03
    timeline = Timeline()
    checkpoints = {}
    sleeps = {}
    start_line = threading.Barrier(threads, timeout=timeout)

    def body():
        name = threading.current_thread().name
        mine, slept = [], []
        start_line.wait()
        mine.append(timeline.now())
        worked = 0.0  # own running time so far: pauses longer than GAP do not count
        while worked < seconds:
            for _ in range(50 if kind == "io" else 1):
                _chunk()
                now = timeline.now()
                if now - mine[-1] <= GAP:
                    worked += now - mine[-1]
                mine.append(now)
            if kind == "io":
                start = timeline.now()
                time.sleep(0.004)
                slept.append((start, timeline.now()))
                mine.append(timeline.now())  # the next burst starts here
        checkpoints[name] = mine
        sleeps[name] = slept

    workers = [threading.Thread(target=body, name=f"{kind}-{i}") for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout)
    running, sleeping = {}, {}
    for t in workers:
        slept = sleeps.get(t.name, [])
        spans = running_spans(checkpoints.get(t.name, []), GAP)
        # the checkpoint right after a sleep is the start of a burst, not the end of running
        spans = [(s, e) for s, e in spans if e > s]
        running[t.name] = spans
        sleeping[t.name] = slept
        for s, e in spans:
            timeline.add(s, e, "running", thread=t.name)
        for s, e in slept:
            timeline.add(s, e, "sleeping (I/O)", thread=t.name)
        busy = sorted(spans + slept)
        for (_, e1), (s2, _) in zip(busy, busy[1:]):
            if s2 - e1 > GAP:
                timeline.add(e1, s2, "ready, not running", thread=t.name)
    return Trace(kind, build_name(), timeline, running, sleeping)


COLORS = {"running": "tab:green", "sleeping (I/O)": "tab:blue", "ready, not running": "#dddddd"}


def plot_traces(*traces: Trace, window: float | None = 0.06):
    """One timeline panel per trace, the first ``window`` seconds of each (None: all)."""
    from threadlab.timeline import plot_timeline

    fig, axes = new_figure(figsize=(10.5, 2.4), ncols=len(traces))
    axes = axes if len(traces) > 1 else [axes]
    for ax, trace in zip(axes, traces):
        title = f"{trace.kind}-bound threads ({trace.build})"
        plot_timeline(trace.timeline, title=title, ax=ax, colors=COLORS)
        if window:
            ax.set_xlim(0, window)
    return fig


# --- 5. the switch interval -----------------------------------------------------------------


def run_lengths(intervals=(0.001, 0.005, 0.02), seconds: float = 0.1) -> tuple[dict[float, float], bool]:
    """Median running-span length of two CPU-bound threads under each switch interval.

    Returns ({interval: median turn}, quiet); ``quiet`` is False when other programs kept more
    than a quarter of a core busy meanwhile: then the OS, not the GIL, cuts many turns short
    (or wakes the waiting thread late), and the turns no longer follow the interval closely.
    """
    old = sys.getswitchinterval()
    out = {}
    with Elsewhere() as others:
        try:
            for interval in intervals:
                sys.setswitchinterval(interval)
                out[interval] = trace_threads("cpu", 2, seconds).median_run()
        finally:
            sys.setswitchinterval(old)
    return out, others.cores < QUIET


def quietly(fn, *args, **kwargs):
    """Run ``fn``; return (its result, True if other programs left the cores to us meanwhile)."""
    with Elsewhere() as others:
        result = fn(*args, **kwargs)
    return result, others.cores < QUIET


def io_latency(with_cpu_thread: bool, rounds: int = 25, interval: float | None = None,
               timeout: float = 20.0) -> float:
    """Median time of one "sleep 1 ms" round in an I/O thread, alone or next to a CPU-bound thread.

    On a GIL build the waking I/O thread must wait for the CPU-bound thread to give the GIL
    back, which it does only when the switch interval runs out: the "convoy effect".
    """
    old = sys.getswitchinterval()
    stop = threading.Event()
    rounds_took = []

    def spin():
        while not stop.is_set():
            _chunk()

    def io():
        for _ in range(rounds):
            start = time.perf_counter()
            time.sleep(0.001)
            rounds_took.append(time.perf_counter() - start)

    spinner = threading.Thread(target=spin, name="cpu-spinner")
    worker = threading.Thread(target=io, name="io")
    try:
        if interval is not None:
            sys.setswitchinterval(interval)
        if with_cpu_thread:
            spinner.start()
            time.sleep(0.01)
        worker.start()
        worker.join(timeout)
    finally:
        stop.set()
        if spinner.is_alive():
            spinner.join(timeout)
        sys.setswitchinterval(old)
    return statistics.median(rounds_took)


# --- 6. free-threaded builds and subinterpreters ---------------------------------------------


def build_facts() -> dict:
    """The three ways to ask which CPython this is."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return {
        "version": sys.version.split()[0],
        "Py_GIL_DISABLED": sysconfig.get_config_var("Py_GIL_DISABLED"),
        "sys._is_gil_enabled()": None if probe is None else probe(),
        "abiflags": getattr(sys, "abiflags", ""),
    }


def subinterpreters_available() -> bool:
    """True from Python 3.14, where ``concurrent.interpreters`` is in the standard library."""
    try:
        import concurrent.interpreters  # noqa: F401
    except ImportError:
        return False
    return True


def run_in_interpreters(tasks: int = 4, n: int = CPU_N, workers: int = 2) -> dict:
    """Pure-Python tasks on one subinterpreter, then on a pool of ``workers`` (Python 3.14+).

    Each subinterpreter has its own GIL (PEP 684), so pure-Python work can run in parallel
    even on a standard build. Functions are sent by reference: they must live in a module.
    """
    from concurrent import interpreters
    from concurrent.futures import InterpreterPoolExecutor

    interp = interpreters.create()
    try:
        one = interp.call(cpu_task, 1000)
    finally:
        interp.close()
    timings = {}
    results = {}
    for count in (1, workers):
        with InterpreterPoolExecutor(max_workers=count) as pool:
            list(pool.map(cpu_task, [10] * count))  # start the interpreters before timing
            start = time.perf_counter()
            results[count] = list(pool.map(cpu_task, [n] * tasks))
            timings[count] = time.perf_counter() - start
    return {"call": one, "results": results[workers], "speedup": timings[1] / timings[workers]}


# --- exercises ------------------------------------------------------------------------------------


def check_which_build(fn) -> bool:
    """Exercise 9.1: ``fn()`` must name this build exactly as :func:`build_name` does."""

    def test():
        expect_equal(fn(), build_name(), "which_build()")

    return check("Exercise 9.1 (which build?)", test)


def check_running_spans(fn) -> bool:
    """Exercise 9.2: merge checkpoints into running spans."""

    def test():
        expect_equal(fn([], 0.1), [], "running_spans([], 0.1)")
        expect_equal(fn([1.0], 0.1), [(1.0, 1.0)], "one checkpoint")
        expect_equal(fn([0.0, 0.05, 0.1], 0.1), [(0.0, 0.1)], "no pause longer than the gap")
        expect_equal(fn([0.0, 0.05, 0.5, 0.55, 0.6], 0.1), [(0.0, 0.05), (0.5, 0.6)], "one pause")
        expect_equal(fn([0.0, 1.0, 2.0], 0.1), [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)], "only pauses")
        times = [i * 0.01 for i in range(100)] + [2 + i * 0.01 for i in range(50)]
        expect_equal(len(fn(times, 0.05)), 2, "two bursts of checkpoints")

    return check("Exercise 9.2 (running spans)", test)
