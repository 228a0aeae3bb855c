"""Measuring speed on a shared machine: timings, speedups against an ideal, CPU time, other load.

Timing on a machine that other programs share varies from run to run, so every tool here measures
something that makes a timing readable next to it:

- :func:`best_of`, :func:`take_turns`: repeat, keep the best, report the spread (:class:`Timing`).
  Variants that are compared take turns, so a burst of load slows each of them alike.
- :func:`ideal_speedup`, :func:`amdahl`: what a speedup can be at best.
- :func:`measure_scaling`, :func:`time_run`, :func:`plot_scaling`: one task set on 1..N threads or
  processes, each speedup next to its ideal (:class:`Scaling`).
- :func:`run_threads`: threads released together by a Barrier, with the CPU seconds each one got
  (``time.thread_time``) and how many cores they used between them (:class:`ThreadRun`).
- :func:`cpu_seconds_tree`: CPU seconds of this process and all its descendants, live or ended.
- :class:`Elsewhere`: how many cores other programs, and the hypervisor (steal time), took while
  a block ran; optionally which programs.
- :func:`describe_machine`: what this machine gives us (cores by affinity and by cgroup quota come
  from :mod:`threadlab.env`, as :func:`usable_cores` does).

>>> from threadlab.workers import sleep_task
>>> result = measure_scaling(sleep_task, [0.01] * 4, workers=[1, 2, 4])
>>> [row.workers for row in result.rows]
[1, 2, 4]
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from threadlab.env import cgroup_cpu_quota, cores_by_affinity, usable_cores
from threadlab.workers import noop

KINDS = ("thread", "process")

#: Other programs using fewer cores than this (on average) leave the machine "quiet". A description
#: for reports; never a condition for what a test asserts.
QUIET = 0.25


# --- repeat and keep the best ---------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds of the repeats of one measurement, in the order they ran."""

    samples: tuple[float, ...]

    @property
    def best(self) -> float:
        """The shortest run: the one least disturbed by anything else on the machine."""
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def worst(self) -> float:
        return max(self.samples)

    @property
    def spread(self) -> float:
        """(worst - best) / best: 0.1 means the slowest repeat took 10 % longer than the best."""
        return (self.worst - self.best) / self.best if self.best > 0 else 0.0

    def __str__(self) -> str:
        return f"best {self.best:.4f} s of {len(self.samples)} (spread {self.spread:.0%})"


def best_of(fn: Callable[[], object], repeat: int = 5) -> Timing:
    """Call ``fn()`` ``repeat`` times and time each call (``time.perf_counter``)."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))


def take_turns(variants: dict, repeat: int = 3, self_timed: bool = False) -> dict:
    """Time every variant ``repeat`` times, the variants taking turns: ``{name: Timing}``.

    ``variants`` maps a name to a function of no arguments. Round 1 runs each once, then round 2,
    and so on, so a burst of load from another program slows every variant alike instead of one,
    and ``timings[a].samples[i] / timings[b].samples[i]`` compares two runs of the same moment.
    With ``self_timed`` each function times itself and returns its seconds (for work that should
    not count its set-up, e.g. starting a pool); otherwise the whole call is timed.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    samples: dict = {name: [] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            start = time.perf_counter()
            got = fn()
            samples[name].append(float(got) if self_timed else time.perf_counter() - start)
    return {name: Timing(tuple(s)) for name, s in samples.items()}


def ratio_spread(numerator: Timing, denominator: Timing) -> tuple[float, float, float]:
    """(best ratio, lowest, highest) of ``numerator / denominator`` over rounds measured in turns.

    The best ratio is ``numerator.best / denominator.best``; the lowest and highest are the ratios
    of the same round (``samples[i] / samples[i]``). The best always lies between them.
    """
    if len(numerator.samples) != len(denominator.samples):
        raise ValueError("both timings need the same number of rounds")
    rounds = [a / b for a, b in zip(numerator.samples, denominator.samples)]
    return numerator.best / denominator.best, min(rounds), max(rounds)


# --- ideal speedups ---------------------------------------------------------------------------


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


def amdahl(parallel_fraction: float, workers: float) -> float:
    """Amdahl's law: the speedup when only ``parallel_fraction`` of the work can run in parallel.

    ``workers`` may be fractional: a machine that runs 2 independent copies of a job only 1.6x
    faster than one gives the parallel part 1.6 workers' worth.
    """
    if not 0.0 <= parallel_fraction <= 1.0:
        raise ValueError("parallel_fraction must be between 0 and 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    return 1.0 / ((1.0 - parallel_fraction) + parallel_fraction / workers)


# --- one task set on 1..N workers -------------------------------------------------------------


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
    (pass :func:`usable_cores`); leave it None for waiting (sleep, I/O) work. The baseline is the
    time with one worker, measured in the same call. With ``repeat`` > 1 the worker counts take
    turns (1, 2, 4, 1, 2, 4, ...) and the best (shortest) run of each is kept, the usual way to
    filter out a busy machine.
    """
    counts = sorted(set(workers))
    if not counts or counts[0] < 1:
        raise ValueError("worker counts must be positive")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    args = list(args)
    if not args:
        raise ValueError("need at least one task")
    if 1 not in counts:
        counts.insert(0, 1)
    timings = take_turns(
        {n: (lambda n=n: time_run(fn, args, n, kind, mp_context)[0]) for n in counts}, max(1, repeat), self_timed=True
    )
    best = {n: timings[n].best for n in counts}
    result = Scaling(kind=kind, tasks=len(args), cores=cores)
    for n in counts:
        result.rows.append(Row(n, best[n], best[1] / best[n], ideal_speedup(n, len(args), cores)))
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


# --- CPU time per thread ----------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadRun:
    """What :func:`run_threads` measured."""

    wall: float  #: seconds from the first thread's start of work to the last thread's end
    cpu: tuple[float, ...]  #: CPU seconds each thread got while it worked (``time.thread_time``)
    results: tuple[list, ...]  #: each thread's results, in the order of its items

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu)

    @property
    def cores_used(self) -> float:
        """CPU seconds of all the threads / wall seconds: how many cores they kept busy on average.

        ``time.thread_time`` counts nanoseconds of the thread's own CPU time, so this holds on short
        runs too, unlike process-wide CPU time read from the OS in 10 ms ticks.
        """
        return self.cpu_total / self.wall if self.wall > 0 else 0.0


def run_threads(fn: Callable, items: Sequence, threads: int, timeout: float = 60.0) -> ThreadRun:
    """Run ``fn(item)`` for every item on ``threads`` threads released together by a Barrier.

    Thread ``i`` takes ``items[i::threads]`` (equal tasks: ``ceil(len(items) / threads)`` rounds, the
    same split :func:`ideal_speedup` assumes). Each thread times its own work: wall clock from the
    first start to the last end, and its CPU seconds with ``time.thread_time``. Thread start-up is
    not timed. Raises the first exception a thread raised, and ``TimeoutError`` if a thread is
    still running after ``timeout`` seconds.
    """
    if threads < 1:
        raise ValueError("threads must be at least 1")
    items = list(items)
    barrier = threading.Barrier(threads, timeout=timeout)
    spans: list = [None] * threads
    cpu = [0.0] * threads
    results: list = [[] for _ in range(threads)]
    errors: list = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            cpu0, start = time.thread_time(), time.perf_counter()
            results[i] = [fn(item) for item in items[i::threads]]
            spans[i] = (start, time.perf_counter())
            cpu[i] = time.thread_time() - cpu0
        except BaseException as exc:  # noqa: BLE001 - reported in the calling thread
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=body, args=(i,), name=f"measured-{i}") for i in range(threads)]
    for t in workers:
        t.start()
    deadline = time.monotonic() + timeout
    for t in workers:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in workers):
        raise TimeoutError(f"threads still running after {timeout} s")
    if errors:
        raise errors[0]
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    return ThreadRun(wall, tuple(cpu), tuple(results))


# --- CPU time of a process tree, and of the whole machine -------------------------------------


def _live_descendants():
    import psutil

    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def cpu_seconds_tree() -> float:
    """CPU seconds used so far by this process and all its descendants, live or ended.

    This process: ``time.process_time`` (every thread, to the nanosecond). Descendants that ended
    and were waited for: ``os.times`` (children). Live descendants (pool workers, kernels): psutil,
    in the OS's clock ticks (usually 10 ms each).
    """
    import psutil

    total = time.process_time()
    if hasattr(os, "times") and os.name != "nt":
        ended = os.times()
        total += ended.children_user + ended.children_system
    for proc in _live_descendants():
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    return total


@dataclass(frozen=True)
class MachineCPU:
    """CPU seconds the whole machine has spent so far, all cores together."""

    busy: float  #: running something in this machine (user, nice, system, interrupts); steal not included
    idle: float  #: idle or waiting for I/O
    steal: float  #: a virtual CPU that wanted to run while the host ran another guest

    @property
    def total(self) -> float:
        return self.busy + self.idle + self.steal


def machine_cpu_seconds(stat: str = "/proc/stat") -> MachineCPU:
    """Read the machine's CPU counters: the first line of ``/proc/stat`` on Linux, psutil elsewhere."""
    try:
        with open(stat) as f:
            fields = f.readline().split()
    except OSError:
        fields = []
    if fields[:1] == ["cpu"]:
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        v = [int(x) / tick for x in fields[1:]] + [0.0] * 10
        user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
        # guest and guest_nice (v[8], v[9]) are already counted in user and nice
        return MachineCPU(user + nice + system + irq + softirq, idle + iowait, steal)
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    steal = getattr(t, "steal", 0.0)
    guests = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    return MachineCPU(sum(t) - idle - steal - guests, idle, steal)


def _programs() -> dict:
    """{(pid, create time): (name, CPU seconds)} of every process we may look at."""
    import psutil

    seen = {}
    for proc in psutil.process_iter(["name", "create_time", "cpu_times"]):
        info = proc.info
        t = info.get("cpu_times")
        if t is None or info.get("create_time") is None:
            continue
        seen[(proc.pid, info["create_time"])] = (info.get("name") or "?", t.user + t.system)
    return seen


class Elsewhere:
    """``with Elsewhere() as e:`` measures how many cores *other* programs kept busy meanwhile.

    A speedup can only use the cores the rest of the machine leaves free: on a 2-core machine
    where another program keeps one core busy, 2 processes cannot get 1.6x. ``e.cores`` is the
    machine's CPU time minus ours (this process and its descendants), per second of the block. On
    a virtual machine it includes steal time: time the host gave our virtual CPUs to another guest
    (``e.steal_cores`` on its own). One meter may measure several blocks; it adds them up.

    "Ours" is this process and its descendants as the OS sees them: a process that leaves the tree (a
    daemon that double-forks, a sandbox whose pid-namespace init is re-parented to init, as bubblewrap's
    is) counts as another program.

    The machine's counters tick in 10 ms steps per core, so a block of 0.1 s on 2 cores reads
    ``cores`` to within about +-0.4; measure blocks of a second or more when the figure matters.
    ``Elsewhere(programs=True)`` also lists which programs used that time (:meth:`top_programs`);
    listing every process costs a few milliseconds at each end of a block.
    """

    def __init__(self, programs: bool = False):
        self.seconds = 0.0
        self.other_cpu = 0.0  #: CPU seconds used outside our process tree, steal included
        self.steal_cpu = 0.0
        self.own_cpu = 0.0
        self.programs: dict[str, float] | None = {} if programs else None

    def __enter__(self):
        if self.programs is not None:
            self._programs0 = _programs()
        self._t0 = time.perf_counter()
        self._machine0 = machine_cpu_seconds()
        self._own0 = cpu_seconds_tree()
        return self

    def __exit__(self, *exc):
        own = cpu_seconds_tree() - self._own0
        machine = machine_cpu_seconds()
        self.seconds += time.perf_counter() - self._t0
        steal = max(0.0, machine.steal - self._machine0.steal)
        self.own_cpu += own
        self.steal_cpu += steal
        self.other_cpu += max(0.0, machine.busy - self._machine0.busy - own) + steal
        if self.programs is not None:
            self._count_programs()
        return False

    def _count_programs(self) -> None:
        import psutil

        ours = {os.getpid(), *(p.pid for p in _live_descendants())}
        for key, (name, cpu) in _programs().items():
            pid = key[0]
            if pid in ours:
                continue
            try:
                if psutil.Process(pid).ppid() in ours:
                    continue
            except psutil.Error:
                pass
            used = cpu - self._programs0.get(key, (name, 0.0))[1]
            if used > 0:
                self.programs[name] = self.programs.get(name, 0.0) + used

    @property
    def own_cores(self) -> float:
        """Average number of cores *we* (this process and its descendants) used while measuring."""
        return self.own_cpu / self.seconds if self.seconds else 0.0

    @property
    def cores(self) -> float:
        """Average number of cores other programs (and other guests, as steal) used while we measured."""
        return self.other_cpu / self.seconds if self.seconds else 0.0

    @property
    def steal_cores(self) -> float:
        """Average number of our virtual CPUs that the host gave to someone else (steal time)."""
        return self.steal_cpu / self.seconds if self.seconds else 0.0

    def top_programs(self, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` program names that used the most cores on average, as (name, cores)."""
        if self.programs is None:
            raise ValueError("measure with Elsewhere(programs=True) to list programs")
        ranked = sorted(self.programs.items(), key=lambda kv: -kv[1])[:n]
        return [(name, cpu / self.seconds if self.seconds else 0.0) for name, cpu in ranked]


# --- the machine --------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's model name, as the OS reports it."""
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def describe_machine(packages: Iterable[str] = ()) -> dict:
    """What a speed figure depends on: cores, CPU, Python build, start method, package versions."""
    import multiprocessing

    from threadlab import env

    try:
        load = os.getloadavg()
    except (AttributeError, OSError):
        load = None
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "affinity_cores": cores_by_affinity(),
        "cgroup_quota_cores": cgroup_cpu_quota(),
        "usable_cores": usable_cores(),
        "load_average_1_5_15": [round(x, 2) for x in load] if load else None,
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "free_threaded_build": env.is_free_threaded_build(),
        "gil_enabled": env.gil_enabled(),
        "switch_interval_s": sys.getswitchinterval(),
        "start_method": env.default_start_method(),
        "start_methods_available": multiprocessing.get_all_start_methods(),
        "packages": {name: env.package_version(name) for name in packages},
    }
