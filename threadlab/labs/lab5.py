"""Lab 5 machinery: importing the learner's worker module, checking segments and what a timed call did.

The learner writes the process worker into a module file (``primes_worker.py``, next to the
notebook, with ``%%writefile``), because a function defined in a notebook cell cannot be
imported by a child started with *spawn* or *forkserver* (lesson 10). The helpers here import
that file afresh, run it in a pool that cannot hang, refuse notebook-defined workers before a
*spawn* pool would hang on them, check what a timed call did (which process counted which segment,
and whether the pool's worker processes had segments in hand at the same time), and measure, for
the learner to read but not as a test, the speedup it got.

Nothing here counts primes in parallel for the learner: the reference answers live only in the
solutions notebook.
"""

from __future__ import annotations

import importlib
import json
import math
import multiprocessing
import os
import pickle
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from threadlab.env import usable_cores
from threadlab.measure import amdahl, ideal_speedup
from threadlab.workers import count_primes, noop

MODULE = "primes_worker"  #: the module the learner writes with %%writefile
FUNCTION = "count_primes_in"  #: the worker function it must define

#: pi(10**k): how many primes there are below 10, 100, ..., 1 000 000
PI = {10: 4, 100: 25, 1_000: 168, 10_000: 1_229, 100_000: 9_592, 1_000_000: 78_498}

SPEED_N = 200_000  #: the speed test counts the primes below this ...
SPEED_COUNT = 17_984  #: ... there are this many
SPEED_PARTS = 16  #: ... in this many segments


# --- the learner's module --------------------------------------------------------------------


def fresh_import(name: str = MODULE, folder: str | os.PathLike | None = None) -> types.ModuleType:
    """Import ``name``.py from ``folder`` (default: the current folder, the notebook's) afresh.

    An edited module file is not re-read by ``import`` once the module is loaded, and a stale
    ``__pycache__`` file written in the same second could be used instead of the new source:
    drop the cached bytecode, then reload the module in place (or import it the first time).
    A missing file means the ``%%writefile`` cell has not run yet, which is reported as
    ``NotImplementedError`` (the checks show "not attempted").
    """
    folder = Path(folder or os.getcwd()).resolve()
    path = folder / f"{name}.py"
    if not path.exists():
        raise NotImplementedError(f"{path.name} does not exist yet: run the %%writefile cell that writes it")
    for stale in (folder / "__pycache__").glob(f"{name}.*.pyc"):
        try:
            stale.unlink()
        except OSError:  # pragma: no cover - another process removed it first
            pass
    if not any(Path(p or os.getcwd()).resolve() == folder for p in sys.path if isinstance(p, str)):
        sys.path.insert(0, str(folder))  # children started by spawn get the same sys.path
    importlib.invalidate_caches()
    module = sys.modules.get(name)
    if module is not None and Path(getattr(module, "__file__", "") or "").resolve() == path:
        # reload in place: the notebook's `primes_worker` (the same module object) sees the new code,
        # and a function pickled by name is the one a worker process will import
        return importlib.reload(module)
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def worker_function(name: str = MODULE, function: str = FUNCTION, folder=None):
    """The learner's worker, freshly imported; a clear AssertionError if the module lacks it."""
    module = fresh_import(name, folder)
    fn = getattr(module, function, None)
    if fn is None:
        raise AssertionError(f"{name}.py defines no function {function}(segment). Hint: spell it exactly so.")
    if getattr(fn, "__module__", None) != name:
        raise AssertionError(f"{function} comes from {fn.__module__}, not from {name}.py: write it in the module "
                             "yourself (importing someone else's is not the exercise)")
    return fn


def run_in_pool(method: str, name: str, function: str, args: list, processes: int = 2,
                timeout: float = 30.0, folder=None) -> list:
    """``[name.function(a) for a in args]``, computed by a fresh process pool using ``method``.

    The workers import the module themselves (under spawn and forkserver they start from an
    empty ``__main__``), exactly as the learner's own pool will. A ProcessPoolExecutor is used,
    not a Pool: a worker that cannot import the module makes it fail fast (BrokenProcessPool)
    where a Pool would restart dying workers for ever. Raises AssertionError with a hint.
    """
    fn = worker_function(name, function, folder)
    ctx = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(processes, mp_context=ctx)
    try:
        futures = [pool.submit(fn, a) for a in args]
        return [f.result(timeout=timeout) for f in futures]
    except BrokenProcessPool as exc:
        raise AssertionError(f"the {method} workers could not run {name}.{function}: {exc}. Hint: the module "
                             "must import on its own in a fresh Python (no names from the notebook)") from None
    except FutureTimeout:
        raise AssertionError(f"{name}.{function} took more than {timeout:g} s in a {method} worker") from None
    finally:
        processes_left = list(getattr(pool, "_processes", {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets both
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes_left:
            if proc.is_alive():
                proc.kill()
        for proc in processes_left:
            proc.join(10)
        # The pool's manager thread also joins the workers; until it has recorded their exit
        # codes, multiprocessing.active_children() can still list a worker it reaped (a CI run
        # saw this under load). Wait for it, bounded: the workers are gone by now.
        if manager is not None:
            manager.join(10)


@contextmanager
def refuse_notebook_functions():
    """Inside the block, sending a function or class defined in the notebook to a process fails at once.

    Under spawn/forkserver such a worker makes a ``multiprocessing.Pool`` hang for ever (its
    workers die unpickling it and are restarted, lesson 10). Pickle sends a function as
    "module + name"; here the pickler that multiprocessing uses refuses the module ``__main__``
    with a ``PicklingError`` that names the function, so the pool reports it instead of hanging.
    """
    from multiprocessing.reduction import ForkingPickler

    missing = object()
    old = ForkingPickler.__dict__.get("reducer_override", missing)

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", None) == "__main__":
            raise pickle.PicklingError(
                f"{obj.__qualname__} is defined in the notebook (module __main__): a spawned worker cannot "
                "import it. Put process workers in a module file")
        return NotImplemented

    ForkingPickler.reducer_override = reducer_override
    try:
        yield
    finally:
        if old is missing:
            del ForkingPickler.reducer_override
        else:  # pragma: no cover - no Python version defines it today
            ForkingPickler.reducer_override = old


# --- segments --------------------------------------------------------------------------------


def segment_problems(got, lo: int, hi: int, parts: int) -> list[str]:
    """What is wrong with ``got`` as a split of [lo, hi) into ``parts`` balanced segments ([] if nothing)."""
    call = f"split({lo}, {hi}, {parts})"
    if not isinstance(got, (list, tuple)):
        return [f"{call} should return a list of (lo, hi) pairs, got {type(got).__name__}"]
    pairs = []
    for item in got:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(v, int) for v in item)):
            return [f"{call}: every segment must be a (lo, hi) pair of ints, got {item!r}"]
        pairs.append(tuple(item))
    if len(pairs) != parts:
        return [f"{call}: expected {parts} segments, got {len(pairs)}"]
    problems = []
    if pairs[0][0] != lo:
        problems.append(f"{call}: the first segment must start at {lo}, got {pairs[0]}")
    if pairs[-1][1] != hi:
        problems.append(f"{call}: the last segment must end at {hi} (hi itself excluded), got {pairs[-1]}")
    for (a, b), (c, d) in zip(pairs, pairs[1:]):
        if c > b:
            problems.append(f"{call}: a gap between {(a, b)} and {(c, d)}: numbers {b}..{c - 1} are never counted")
            break
        if c < b:
            problems.append(f"{call}: {(a, b)} and {(c, d)} overlap: numbers {c}..{b - 1} are counted twice")
            break
    if any(b < a for a, b in pairs):
        problems.append(f"{call}: a segment ends before it starts: {[p for p in pairs if p[1] < p[0]][0]}")
    sizes = [b - a for a, b in pairs]
    if not problems and max(sizes) - min(sizes) > 1:
        problems.append(f"{call}: segment sizes {min(sizes)}..{max(sizes)} differ by more than 1: balance them")
    return problems


def expect_split(got, lo: int, hi: int, parts: int) -> None:
    """Raise AssertionError (learner-readable) unless ``got`` splits [lo, hi) into ``parts`` balanced segments."""
    problems = segment_problems(got, lo, hi, parts)
    if problems:
        raise AssertionError(problems[0] + ". Hint: the boundaries lo + (hi - lo) * i // parts, i = 0..parts")


def primes_below(n: int) -> int:
    """The reference count (a sieve): how many primes are below ``n``."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\x00\x00"
    for p in range(2, math.isqrt(n - 1) + 1):
        if sieve[p]:
            sieve[p * p::p] = bytes(len(range(p * p, n, p)))
    return sum(sieve)


def primes_between(lo: int, hi: int) -> int:
    """The reference count for a segment: primes p with lo <= p < hi."""
    return max(0, primes_below(max(hi, 0)) - primes_below(max(lo, 0))) if hi > lo else 0


# --- speedup: measured and reported, never judged ------------------------------------------------


@dataclass
class Speedup:
    """One measurement of the learner's ``time_counts``, and what independent copies of a job got meanwhile.

    These are speed figures: they vary with the machine and with whatever else it runs, so a check
    reports them and judges none of them (the course's speed figures are in ``bench/REPORT.md``).
    """

    count: int
    sequential: float
    parallel: float
    processes: int
    parts: int
    cores: int
    capacity: float  #: how much faster ``processes`` independent copies of a job ran than one
    n: int = SPEED_N  #: the primes below this were counted

    @property
    def speedup(self) -> float:
        return self.sequential / self.parallel

    @property
    def ideal(self) -> float:
        """The best the segments allow on this many processes and cores (whole segments per round)."""
        return ideal_speedup(self.processes, self.parts, self.cores)

    @property
    def usable(self) -> float:
        """How many cores' worth of work the processes could get: never more than measured."""
        return min(self.processes, self.cores, max(1.0, self.capacity))

    @property
    def parallel_fraction(self) -> float | None:
        """Amdahl's p that explains the speedup on the cores the processes really got."""
        workers = self.usable
        if workers < 1.05 or self.speedup <= 0:
            return None
        return (1 - 1 / self.speedup) / (1 - 1 / workers)

    def report(self) -> str:
        lines = [
            f"primes below {self.n:,}: {self.count:,} (in {self.parts} segments)",
            f"sequential           {self.sequential:7.3f} s",
            f"{self.processes} processes          {self.parallel:7.3f} s   speedup {self.speedup:.2f}x",
            f"ideal for {self.processes} processes on {self.cores} usable core(s): {self.ideal:.2f}x "
            f"(efficiency {self.speedup / self.ideal:.0%})",
            f"{self.processes} independent copies of one job ran {self.capacity:.2f}x as fast as one, just after",
        ]
        p = self.parallel_fraction
        if p is not None and p > 1.0:
            lines.append(f"Amdahl: p = {p:.2f} is above 1: you got more than the independent copies did, so the "
                         "load from other programs changed between the two measurements")
        elif p is not None and p >= 0:  # a "speedup" below 1 has no Amdahl fraction
            ceiling = "no limit" if p >= 1 else f"at most {1 / (1 - p):.0f}x on any number of cores"
            lines.append(f"Amdahl: parallel fraction p = {p:.2f} -> {ceiling}; on 8 cores: {amdahl(p, 8):.1f}x")
        elif self.processes < 2 or self.cores < 2:
            lines.append("one process, or one usable core: no parallel speedup is possible here")
        elif self.usable < 1.05:
            lines.append("the independent copies got no speedup either: at that moment other programs left no "
                         "core to spare")
        lines.append("(a measurement: it changes from run to run and with what else this machine runs)")
        return "\n".join(lines)


def time_copies(pool, job, copies: int, repeat: int = 3) -> tuple[float, float]:
    """(seconds for ``count_primes(job)`` alone here, seconds for ``copies`` copies at once on ``pool``).

    The yardstick for a process pool's speedup: independent copies of one job share nothing and wait
    for nothing, so ``copies * alone / together`` is the most ``copies`` processes can gain on this
    machine right now. Each time is the best of ``repeat`` tries, taken in turn.
    """
    alone = together = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        count_primes(job)
        alone = min(alone, time.perf_counter() - start)
        start = time.perf_counter()
        list(pool.map(count_primes, [job] * copies))
        together = min(together, time.perf_counter() - start)
    return alone, together


def machine_capacity(processes: int, rounds: int = 2, job=(0, 60_000)) -> float:
    """How much faster ``processes`` independent copies of a job ran than one (1.0 for one process)."""
    if processes < 2:
        return 1.0
    alone = together = float("inf")
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(noop, range(2 * processes)))
        for _ in range(rounds):
            one, many = time_copies(pool, job, processes)
            alone, together = min(alone, one), min(together, many)
    return processes * alone / together


def measure_speedup(time_counts, n: int = SPEED_N, processes: int | None = None, parts: int = SPEED_PARTS) -> Speedup:
    """Call the learner's ``time_counts(n, processes, parts)`` once, then time independent copies of a job.

    Only the shape of the result is checked here (a count and two positive float times); the speed is
    reported by :meth:`Speedup.report`, never judged: how fast a correct answer runs depends on the
    machine and on what else it runs. What the code *did* is checked by :func:`expect_honest_timing`
    and :func:`expect_parallel_segments`.
    """
    processes = processes or usable_cores()
    result = time_counts(n, processes, parts)
    if not (isinstance(result, tuple) and len(result) == 3):
        raise AssertionError(f"time_counts should return (count, sequential_seconds, parallel_seconds), "
                             f"got {result!r:.80}")
    count, sequential, parallel = result
    if not all(isinstance(t, float) and t > 0 for t in (sequential, parallel)):
        raise AssertionError(f"the two times must be positive floats (seconds), got {sequential!r} and {parallel!r}")
    return Speedup(count, sequential, parallel, processes, parts, usable_cores(), machine_capacity(processes), n)


def best_sequential_seconds(n: int = SPEED_N, parts: int = SPEED_PARTS, repeat: int = 2, worker=None) -> float:
    """Best-of-``repeat`` seconds for counting the primes below ``n`` in a plain loop over segments."""
    worker = worker or count_primes
    bounds = [n * i // parts for i in range(parts + 1)]
    work = list(zip(bounds[:-1], bounds[1:]))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        sum(worker(s) for s in work)
        best = min(best, time.perf_counter() - start)
    return best


# --- what a call did, in order: clock readings, processes started, worker calls ------------------


class Timeline:
    """Events of one call, in the order they happened (see :func:`watch_call`).

    ``("clock", reading)``: the calling thread read ``time.perf_counter()``; ``("process", method)``: a
    process was started with that start method; ``("worker", segment)``: this process (not a worker process) ran the worker.
    """

    def __init__(self):
        import threading

        self.events: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def note(self, kind: str, value=None) -> None:
        with self._lock:
            self.events.append((kind, value))

    def count(self, kind: str, start: int = 0, end: int | None = None) -> int:
        return sum(k == kind for k, _ in self.events[start:end])

    def last(self, kind: str) -> int:
        """The index of the latest event of ``kind`` so far (-1 if none)."""
        with self._lock:
            return next((k for k in range(len(self.events) - 1, -1, -1) if self.events[k][0] == kind), -1)

    def interval(self, seconds) -> tuple[int, int] | None:
        """Indexes (i, j) of two clock readings of the calling thread whose difference is exactly
        ``seconds`` (the float the learner returned), the shortest such span; None if there is none
        (the time is a sum, an average, or was not measured with ``time.perf_counter()``)."""
        clocks = [(k, v) for k, (kind, v) in enumerate(self.events) if kind == "clock"]
        best = None
        for a, (i, t0) in enumerate(clocks):
            for j, t1 in clocks[a + 1:]:
                if t1 - t0 == seconds and (best is None or j - i < best[1] - best[0]):
                    best = (i, j)
        return best


@contextmanager
def watch_call(module: types.ModuleType | None = None, function: str = FUNCTION):
    """Record a :class:`Timeline` while the block runs: the calling thread's ``time.perf_counter()``
    readings, every process started (``BaseProcess.start``), and every call of ``module.function`` made
    in this process (the module attribute is wrapped; pickled by name, worker processes get the
    original under spawn and forkserver, and under fork a wrapper that records nothing)."""
    import threading
    from multiprocessing.process import BaseProcess

    timeline = Timeline()
    caller, parent = threading.get_ident(), os.getpid()
    real_clock, real_start = time.perf_counter, BaseProcess.start

    def clock():
        reading = real_clock()
        if threading.get_ident() == caller:
            timeline.note("clock", reading)
        return reading

    def start(process):
        timeline.note("process", process._start_method or multiprocessing.get_start_method())
        return real_start(process)

    worker = getattr(module, function, None) if module is not None else None
    if worker is not None:
        def wrapper(*args, **kwargs):
            if os.getpid() == parent:
                timeline.note("worker", args[0] if args else None)
            return worker(*args, **kwargs)

        wrapper.__module__, wrapper.__name__, wrapper.__qualname__ = worker.__module__, worker.__name__, worker.__qualname__
        wrapper.__wrapped__ = worker
        setattr(module, function, wrapper)
    time.perf_counter, BaseProcess.start = clock, start
    try:
        yield timeline
    finally:
        time.perf_counter, BaseProcess.start = real_clock, real_start
        if worker is not None:
            setattr(module, function, worker)


# --- which worker process counted which segment, and when ---------------------------------------

HOLD = 2.0  #: seconds a worker keeps a segment open waiting for another worker process to take one ...
HOLD_STARTING = 6.0  #: ... or this long when the pool has more workers and more segments of the batch


class _TracedWorker:
    """What a pool's worker process runs instead of the learner's worker while the check watches.

    It is what the learner's function becomes when it is pickled to a worker process (see
    :func:`trace_workers`), under every start method. In the worker process it appends a ``start``
    and an ``end`` line for each segment to its own log, ``w<pid>.log`` in ``folder``, and in between
    calls the learner's function. The first segment of each ``batch`` (the tasks handed to the pool
    since the same clock reading) is *held open*: it does not end until another worker process has a
    segment of the same batch in hand at the same time, or until ``hold`` seconds have passed. That
    makes "two segments were in the pool's hands at once" a fact of what the code did, not of timing:

    - ``pool.map`` hands every segment over without waiting for a result (``Pool._handle_tasks``
      sends task after task; ``ProcessPoolExecutor`` keeps ``workers + 1`` queued), so while one
      worker holds its segment, an idle worker of the same pool takes the next and the hold ends,
      after milliseconds (measured with 2 CPU hogs on 2 cores, 100 checks per start method: at
      most 5 ms under fork, 64 ms under forkserver, 111 ms under spawn, where a worker may still be
      starting). While more than one segment of the batch has been handed over and the call has
      started more than one process, the hold waits up to ``HOLD_STARTING`` seconds for that;
    - ``pool.apply(f, (s,))`` in a loop waits for each result before handing over the next
      segment (``apply`` is ``apply_async(...).get()``), a pool of one process has no other worker,
      and ``chunksize=len(segments)`` gives every segment to one worker: the first segment waits
      ``hold`` seconds in vain, and the batch is marked ``alone``.

    Only the first segment of a batch waits; once the batch is marked ``overlap`` or ``alone`` the
    others run unhindered.
    """

    def __init__(self, module: str, function: str, folder: str, batch: int, hold: float = HOLD,
                 processes: int = 0, starting: float = HOLD_STARTING):
        self.module, self.function, self.folder, self.batch = module, function, folder, batch
        self.hold, self.processes, self.starting = hold, processes, max(hold, starting)

    def __reduce__(self):
        return (_TracedWorker, (self.module, self.function, self.folder, self.batch, self.hold, self.processes,
                                self.starting))

    def _handed_over(self) -> int:
        """How many tasks of this batch the calling process has pickled for its workers so far."""
        try:
            with open(os.path.join(self.folder, f"p{self.batch}.log"), encoding="utf-8") as log:
                return log.read().count("\n")
        except OSError:
            return 0

    def _log(self, kind: str, segment, t: float) -> None:
        line = json.dumps({"kind": kind, "batch": self.batch, "segment": _plain(segment), "t": t}) + "\n"
        with open(os.path.join(self.folder, f"w{os.getpid()}.log"), "a", encoding="utf-8") as log:
            log.write(line)

    def _marker(self, kind: str) -> str:
        return os.path.join(self.folder, f"{kind}-{self.batch}")

    def _another_in_hand(self, since: float) -> bool:
        """Does another worker process have a segment of this batch in hand now (or had it, after ``since``)?"""
        mine = f"w{os.getpid()}.log"
        for name in os.listdir(self.folder):
            if not (name.startswith("w") and name.endswith(".log")) or name == mine:
                continue
            started = None
            for record in _records(os.path.join(self.folder, name)):
                if record["batch"] != self.batch:
                    continue
                if record["kind"] == "start":
                    started = record
                elif record["kind"] == "end":
                    if record["t"] > since:
                        return True
                    started = None
            if started is not None:
                return True
        return False

    def _hold(self, started: float) -> None:
        if self.batch < 0:  # handed over before the caller read the clock at all: in no timed span
            return
        overlap, alone = self._marker("overlap"), self._marker("alone")
        deadline = started + self.hold
        while not (os.path.exists(overlap) or os.path.exists(alone)):
            if self._another_in_hand(started):
                open(overlap, "a").close()
                return
            now = _clock()
            if now > deadline:
                more_to_come = self.processes >= 2 and self._handed_over() >= 2
                if not more_to_come or now > started + self.starting:
                    open(alone, "a").close()
                    return
            time.sleep(0.002)

    def __call__(self, segment):
        module = importlib.import_module(self.module)
        fn = getattr(module, self.function)
        fn = getattr(fn, "__wrapped__", fn)  # under fork the module may still hold the check's wrapper
        started = _clock()
        self._log("start", segment, started)
        try:
            self._hold(started)
            return fn(segment)
        finally:
            self._log("end", segment, _clock())


_clock = time.perf_counter  #: the real clock (watch_call replaces time.perf_counter for a while)


def _plain(segment):
    try:
        return [int(v) for v in segment]
    except (TypeError, ValueError):
        return repr(segment)


def _records(path) -> list[dict]:
    """The complete lines of a worker's log (a line being written is skipped)."""
    try:
        with open(path, encoding="utf-8") as log:
            text = log.read()
    except OSError:
        return []
    records = []
    for line in text.split("\n")[:-1]:  # the text after the last newline may be a line being written
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


@dataclass
class WorkerLog:
    """What the pool's worker processes did while :func:`trace_workers` watched."""

    segments: list  #: (pid, batch, segment, started, ended) of every segment a worker process counted
    overlap: set  #: batches in which two worker processes had a segment in hand at the same time
    alone: set  #: batches whose first segment waited ``HOLD`` seconds with no other worker taking one

    def in_batches(self, first: int, last: int) -> list:
        """The segments of the batches handed over between clock readings ``first`` (included) and ``last``."""
        return [s for s in self.segments if first <= s[1] < last]


@contextmanager
def trace_workers(timeline: Timeline, module: types.ModuleType, function: str = FUNCTION, hold: float = HOLD,
                  starting: float = HOLD_STARTING):
    """While the block runs, ``module.function`` sent to a worker process runs as a :class:`_TracedWorker`.

    Every task sent to a process pool is pickled by multiprocessing's ``ForkingPickler`` (``Pool``'s task
    pipe, ``ProcessPoolExecutor``'s call queue), in this process, before the worker gets it; its
    ``reducer_override`` swaps the function for a traced one that names its batch: the index of the
    calling thread's latest clock reading in ``timeline`` (so a batch lies inside a timed span or not).
    Yields a :class:`WorkerLog`, filled in when the block ends.
    """
    import shutil
    import tempfile
    from multiprocessing.reduction import ForkingPickler

    folder = tempfile.mkdtemp(prefix="lab5-workers-")
    missing = object()
    old = ForkingPickler.__dict__.get("reducer_override", missing)

    def reducer_override(self, obj):
        # by name, as pickle sends a function: an older reference (from primes_worker import ...) counts too
        if (isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__
                and obj.__qualname__ == function):
            batch = timeline.last("clock")
            with open(os.path.join(folder, f"p{batch}.log"), "a", encoding="utf-8") as handed:
                handed.write("1\n")  # read by the worker holding this batch's first segment
            return _TracedWorker(module.__name__, function, folder, batch, hold, timeline.count("process"),
                                 starting).__reduce__()
        if old is not missing:
            return old(self, obj)
        return NotImplemented

    log = WorkerLog([], set(), set())
    ForkingPickler.reducer_override = reducer_override
    try:
        yield log
    finally:
        if old is missing:
            del ForkingPickler.reducer_override
        else:
            ForkingPickler.reducer_override = old
        for name in sorted(os.listdir(folder)):
            if name.startswith("w") and name.endswith(".log"):
                pid, started = int(name[1:-4]), {}
                for record in _records(os.path.join(folder, name)):
                    key = (record["batch"], str(record["segment"]))
                    if record["kind"] == "start":
                        started[key] = record["t"]
                    else:
                        segment = record["segment"]
                        segment = tuple(segment) if isinstance(segment, list) else segment
                        log.segments.append((pid, record["batch"], segment, started.pop(key, None), record["t"]))
            elif name.startswith(("overlap-", "alone-")):
                kind, batch = name.split("-", 1)
                getattr(log, kind).add(int(batch))
        shutil.rmtree(folder, ignore_errors=True)


def expect_parallel_segments(time_counts, n: int = 60_000, processes: int = 2, parts: int = 8, hold: float = HOLD,
                             starting: float = HOLD_STARTING):
    """Run ``time_counts(n, processes, parts, 1)`` and check what its parallel span did, not how fast it was:
    every segment was counted in a worker process of the pool, and two worker processes had segments in
    hand at the same time (see :class:`_TracedWorker`: deterministic, whatever the load). Returns the
    :class:`WorkerLog`."""
    module = fresh_import()
    with watch_call(module) as timeline, trace_workers(timeline, module, hold=hold, starting=starting) as workers:
        result = time_counts(n, processes, parts, 1)
    if not (isinstance(result, tuple) and len(result) == 3):
        raise AssertionError(f"expected a tuple (count, sequential_seconds, parallel_seconds), got {result!r:.80}")
    parallel = result[2]
    span = timeline.interval(parallel) if isinstance(parallel, float) else None
    if span is None:
        raise AssertionError(f"your parallel time {parallel!r} is not the difference of two time.perf_counter() "
                             "readings. Hint: start = time.perf_counter() before the map, time.perf_counter() - "
                             "start after it")
    i, j = span
    counted = workers.in_batches(i, j)
    pids = sorted({pid for pid, *_ in counted})
    where = f"while your parallel clock ran (time_counts({n}, {processes}, {parts}, 1))"
    if not counted:
        raise AssertionError(f"no worker process counted a segment {where}. Hint: time "
                             "pool.map(primes_worker.count_primes_in, segments) on a multiprocessing.Pool")
    if len(counted) != parts:
        raise AssertionError(f"the worker processes counted {len(counted)} segment(s) {where}, expected all {parts} "
                             "of split(0, n, parts), each once. Hint: one map over all the segments")
    segments = sorted(s for _, _, s, _, _ in counted if isinstance(s, tuple))
    problems = segment_problems(segments, 0, n, parts)
    if problems:
        raise AssertionError(f"the segments counted in the worker processes {where} do not cover [0, {n}) "
                             f"exactly: {problems[0]}")
    batches = {b for _, b, *_ in counted}
    if not batches & workers.overlap:
        first = min(counted, key=lambda s: s[3] if s[3] is not None else math.inf)
        raise AssertionError(
            f"your pool counted one segment at a time {where}: worker process {first[0]} held segment {first[2]} "
            f"open for {hold:g} s or more and no other worker process took a segment meanwhile "
            f"({len(pids)} worker process(es) counted segments in all). `pool.apply(f, (s,))` in a loop waits for "
            "each result before it hands over the next segment; a pool of one process, or one chunk with every "
            "segment, leaves the other workers idle. Hint: hand all the segments over at once: "
            "pool.map(primes_worker.count_primes_in, segments)")
    return workers


def expect_honest_timing(time_counts, n: int = 60_000, processes: int = 2, parts: int = 8, repeat: int = 2):
    """Run ``time_counts(n, processes, parts, repeat)`` once and check *what it did*, not how fast it was:
    each returned time is one ``perf_counter()`` span (the best run, not a sum or an average), no process
    starts while the parallel clock runs, the parallel span leaves the counting to worker processes, and
    the sequential span counts every segment in this process. Deterministic: no speed bound."""
    import gc
    import warnings

    module = fresh_import()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with watch_call(module) as timeline:
            result = time_counts(n, processes, parts, repeat)
        gc.collect()  # a pool nobody closed warns when it is collected
    if not (isinstance(result, tuple) and len(result) == 3):
        raise AssertionError(f"expected a tuple (count, sequential_seconds, parallel_seconds), got {result!r:.80}")
    count, sequential, parallel = result
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning) and "pool" in str(w.message)]
    if unclosed:
        raise AssertionError(f"a pool was never closed ({unclosed[0]}). Hint: `with multiprocessing.Pool(processes) "
                             "as pool:` closes it, and its processes, when the block ends")
    if timeline.count("process") == 0:
        raise AssertionError(f"time_counts(n, {processes}, {parts}) started no process: threads (or a plain loop) "
                             "cannot run Python code in parallel under the GIL. Hint: a multiprocessing.Pool(processes)")
    spans = {}
    for what, seconds in (("sequential", sequential), ("parallel", parallel)):
        span = timeline.interval(seconds) if isinstance(seconds, float) else None
        if span is None:
            raise AssertionError(f"your {what} time {seconds!r} is not the difference of two time.perf_counter() "
                                 f"readings: a sum or an average of the {repeat} runs? Hint: time each run with "
                                 "start = time.perf_counter() ... time.perf_counter() - start, and keep the best "
                                 "(smallest) with min()")
        spans[what] = span
    i, j = spans["parallel"]
    started = timeline.count("process", i, j)
    if started:
        raise AssertionError(f"{started} process(es) were started while your parallel clock ran: you timed starting "
                             "the pool, not only the counting. Hint: create the pool (and warm it up with a first "
                             "small map) before start = time.perf_counter()")
    if timeline.count("worker", i, j):
        raise AssertionError(f"{timeline.count('worker', i, j)} segment(s) were counted in this process (not in the "
                             "worker processes) while your parallel clock ran. Hint: map the segments on the "
                             "pool: pool.map(primes_worker.count_primes_in, segments)")
    i, j = spans["sequential"]
    if timeline.count("worker", i, j) != parts:
        raise AssertionError(f"while your sequential clock ran, this process counted {timeline.count('worker', i, j)} "
                             f"segment(s) itself, expected all {parts}. Hint: the sequential way is a plain loop "
                             "calling primes_worker.count_primes_in(segment) on each segment, no pool")
    return count


def expect_pool_closed(call, processes: int, what: str, method: str | None = None):
    """``call()``'s result, after checking that it started exactly ``processes`` processes and closed its pool
    (no ``ResourceWarning`` about a pool when it is collected, no child process left running)."""
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with watch_call() as timeline:
            result = call()
        gc.collect()  # a pool nobody closed warns when it is collected
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning) and "pool" in str(w.message)]
    if unclosed:
        raise AssertionError(f"{what} never closed its pool ({unclosed[0]}). Hint: `with ...Pool(processes) as "
                             "pool:` closes it, and its processes, when the block ends")
    started = timeline.count("process")
    if started != processes:
        raise AssertionError(f"{what} started {started} process(es), expected a pool of {processes} worker processes"
                             + (": a ThreadPool (or a loop) runs no process, and threads cannot count in parallel "
                                "under the GIL" if started == 0 else "") + f". Hint: Pool({processes})")
    methods = {value for kind, value in timeline.events if kind == "process"}
    if method is not None and methods != {method}:
        raise AssertionError(f"{what} started its processes with {', '.join(sorted(methods))}, not {method}: the start "
                             "method was ignored. Hint: multiprocessing.get_context(method).Pool(processes)")
    running = multiprocessing.active_children()
    if running:
        raise AssertionError(f"{len(running)} process(es) still running after {what} returned. Hint: create the pool "
                             "in a `with` block")
    return result
