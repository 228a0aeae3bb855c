"""Lab 4: a thread pool.

- :data:`STOP`         the sentinel that tells a worker to finish (:data:`threadlab.workers.STOP`)
- :class:`Recorder`    wraps a job function and records, thread-safely, every call: which item,
                       in which thread, and the most calls running at once
- :func:`slow_square`  a job that waits a little, like a job that talks to a network, then squares
- :func:`drive_worker` run a learner's worker function in threads the way a pool does, and report what it did
- :func:`observe`      call a learner's function; what it returned, how long it took, which threads it left running
- :func:`scan_targets`, :func:`probe`  the port scanner's targets and probe (from :mod:`threadlab.servers`)
- :func:`explore_pool` every schedule of a small pool of the learner's, in the schedule explorer

The Recorder is the referee of the checks: it sees each job being done, so a pool that loses a
job, does one twice, or runs fewer workers than it was asked for is caught from the outside.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from threadlab.labs.lab1 import new_threads
from threadlab.servers import probe, scan_targets
from threadlab.workers import STOP

__all__ = ["STOP", "Observed", "Recorder", "WorkerRun", "drive_worker", "explore_pool", "new_threads",
           "observe", "probe", "scan_targets", "slow_square"]


def slow_square(x, delay: float = 0.05):
    """``x * x`` after ``delay`` seconds of waiting (the GIL is free meanwhile)."""
    time.sleep(delay)
    return x * x


@dataclass
class Recorder:
    """A job function that records its calls.

    ``Recorder(fn)(x)`` returns ``fn(x)`` (or raises what it raises) and records ``x`` in
    :attr:`calls` (a Counter: how often each item was done), the calling thread in
    :attr:`threads`, and the most calls that were running at the same time in :attr:`max_running`.
    Items must be hashable.
    """

    fn: object
    calls: Counter = field(default_factory=Counter)
    threads: set = field(default_factory=set)
    running: int = 0
    max_running: int = 0

    def __post_init__(self):
        self._lock = threading._allocate_lock()  # a plain lock, never a checker's traced one

    def __call__(self, x):
        with self._lock:
            self.calls[x] += 1
            self.threads.add(threading.current_thread())
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            return self.fn(x)
        finally:
            with self._lock:
                self.running -= 1

    def each_once(self, items) -> bool:
        """True when every item in ``items`` was done exactly as often as it occurs there, and nothing else."""
        return self.calls == Counter(items)

    def problems(self, items) -> str:
        """What went wrong, in words: items never done, items done more than once, unknown items."""
        wanted = Counter(items)
        lost = sorted((x for x in wanted if self.calls[x] < wanted[x]), key=repr)
        extra = sorted((x for x in self.calls if self.calls[x] > wanted[x]), key=repr)
        parts = []
        if lost:
            parts.append(f"never done: {lost[:8]}{' ...' if len(lost) > 8 else ''}")
        if extra:
            parts.append(f"done too often: {[(x, self.calls[x]) for x in extra[:8]]}")
        return "; ".join(parts) or "each item done exactly once"


@dataclass
class Observed:
    result: object
    elapsed: float  #: seconds the call took
    left_running: list  #: threads the call started that were still alive when it returned


class _Queues:
    """While active, every ``queue.Queue()`` made is recorded, so a hung pool can be sent STOPs."""

    def __init__(self):
        self.made: list[queue.Queue] = []

    def __enter__(self):
        made, original = self.made, queue.Queue

        class Queue(original):
            def __init__(self, maxsize=0):
                super().__init__(maxsize)
                made.append(self)

        self._original = original
        queue.Queue = Queue
        return self

    def __exit__(self, *exc):
        queue.Queue = self._original


def observe(fn, *args, limit: float = 1.5, **kwargs) -> Observed:
    """Call ``fn(*args, **kwargs)``; return what it returned, how long it took and which of the
    threads it started were still alive just after it returned. Exceptions propagate.

    The call runs in a thread of its own. If it has not returned after ``limit`` seconds (a pool
    whose workers never get their STOP, or are joined before the jobs are put), STOP is put on every
    queue it made until it ends, so no thread stays stuck, and an AssertionError says what was left.
    """
    box: dict = {}

    def call():
        before = threading.enumerate()
        box["before"] = set(before)
        start = time.perf_counter()
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # raised again in the caller
            box["error"] = exc
        box["elapsed"] = time.perf_counter() - start
        box["left"] = new_threads(before, grace=0.0)

    with _Queues() as queues:
        runner = threading.Thread(target=call, name=f"observed {getattr(fn, '__name__', 'call')}", daemon=True)
        runner.start()
        runner.join(limit)
    if runner.is_alive():
        alive = [t for t in threading.enumerate() if t not in box.get("before", ()) and t.is_alive()]
        deadline = time.monotonic() + 0.5  # enough for workers that return at STOP; others are daemons
        while runner.is_alive() and time.monotonic() < deadline:
            for q in queues.made:
                q.put(STOP)
            runner.join(0.01)
        where = (f"{len(alive)} thread(s) it started still running" if alive else
                 "every thread it started had ended (were the STOPs put before the jobs?)")
        raise AssertionError(f"{getattr(fn, '__name__', 'the call')}() had not returned after {limit:g} s: {where}. "
                             "Hint: start every worker before you join any, put all the jobs, then one STOP per "
                             "worker, then join the workers")
    if "error" in box:
        raise box["error"]
    return Observed(box["result"], box["elapsed"], box["left"])


@dataclass
class WorkerRun:
    """What :func:`drive_worker` saw."""

    pairs: list  #: what the worker(s) put on ``results``, in the order they put it
    returned_early: bool  #: a worker returned while the job queue was still empty (before any job or STOP)
    stuck: int  #: workers still running after the deadline (they were then sent extra STOPs)
    left: list  #: what was still in the job queue afterwards


def _drain(q: queue.Queue) -> list:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def drive_worker(worker, items, func, workers: int = 1, after_stop=(), timeout: float = 2.0,
                 head_start: float = 0.05) -> WorkerRun:
    """Run ``worker(jobs, results, func)`` in ``workers`` threads the way a pool does, and report.

    The threads start on an *empty* job queue; after ``head_start`` seconds the jobs ``(i, x)`` for
    ``items`` are put, then one STOP per worker, then ``after_stop``. A worker that already returned
    by then does not wait for work (``returned_early``). The threads are daemons and get extra
    STOPs if they are still running after ``timeout`` s, so a wrong worker cannot keep a check (or the
    kernel) busy for ever. An exception a worker raised (``NotImplementedError`` of a blank exercise
    included) is raised again here.
    """
    jobs: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    errors: list = []

    def run():
        try:
            worker(jobs, results, func)
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, name=f"worker-{k}", daemon=True) for k in range(workers)]
    for t in threads:
        t.start()
    time.sleep(head_start)
    returned_early = any(not t.is_alive() for t in threads)
    for i, x in enumerate(items):
        jobs.put((i, x))
    for _ in threads:
        jobs.put(STOP)
    for x in after_stop:
        jobs.put(x)
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threads if t.is_alive()]
    for _ in stuck:  # release them, if they listen
        jobs.put(STOP)
    for t in stuck:
        t.join(0.5)
    if errors:
        raise errors[0]
    return WorkerRun(_drain(results), returned_early and not errors, len(stuck), _drain(jobs))


# --- every schedule of a small pool, with the explorer ------------------------------------------------

POOL_HINT = ("start every worker, put every job (i, x), then one STOP per worker; take exactly len(items) results "
             "and put each at its index i; join every worker before you return")


def explore_pool(run_pool):
    """Every schedule of a small pool of the learner's (:func:`threadlab.checks.interleavings.explore_pool`):
    ``run_pool(job, [1, 2, 3], 2)`` and ``run_pool(job, [1, 2], 2)``, the learner's worker along."""
    from threadlab.checks.interleavings import explore_pool as explore

    explore(run_pool, "run_pool", POOL_HINT)
