"""Checks for the exercises on queues and pools of worker threads.

- :func:`check_pool_map`      a pool of worker threads over one ``queue.Queue``, stopped by sentinels
- :func:`check_robust_worker` a worker that survives failing jobs and marks every job done

Each check runs the learner's code with a job function of its own that watches what the pool does
(which threads call it, how many calls run at once, in which order they finish) and, where a
mistake depends on timing, arranges the timing so that the mistake shows in every run: the first
calls wait for each other, the first job finishes last, the last job waits until the caller has
returned or is waiting for its workers. Nothing here is timed against a clock except the deadlines
that keep a wrong answer from hanging the notebook. The pool is also run in the schedule explorer
(three jobs, two workers, every schedule with one switch): a failing verdict shows the schedule
that breaks it, and a passing pool must pass there too.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import Counter

from threadlab.checks import check, expect_equal, where_is
from threadlab.checks.interleavings import also_show_schedule, explore_pool
from threadlab.workers import STOP

__all__ = ["STOP", "check_pool_map", "check_robust_worker"]

MEET = 2.0  #: seconds the first calls wait for each other before the check says they ran one at a time
DEADLINE = 3.0  #: seconds pool_map may take before the check looks at where its threads are stuck


class _GetLog:
    """Records, per thread, what each ``queue.Queue.get`` returned or raised (``threading.settrace``).

    Only threads started while the log is active are traced, and only calls of ``Queue.get`` (and
    of the queues derived from it) are followed: every other call costs one Python function call.
    """

    GET = queue.Queue.get.__code__

    def __init__(self):
        self.events: dict[threading.Thread, list] = {}
        self.threads: set[threading.Thread] = set()  #: every thread started while the log was active
        self.active = False
        self._lock = threading.Lock()

    def note(self, what, value=None):
        with self._lock:
            self.events.setdefault(threading.current_thread(), []).append((what, value))

    def _global(self, frame, event, arg):
        if not self.active:
            sys.settrace(None)  # the check is over: this thread stops tracing
            return None
        self.threads.add(threading.current_thread())
        if frame.f_code is not self.GET:
            return None
        frame.f_trace_lines = False
        raised = []

        def local(frame, event, arg):
            if event == "exception":
                raised.append(arg[0])
            elif event == "return":
                if raised:
                    self.note("get raised", raised[-1])
                else:
                    self.note("got", arg)
            return local

        return local

    def __enter__(self):
        self.previous = threading.gettrace()
        self.active = True
        threading.settrace(self._global)
        return self

    def __exit__(self, *exc):
        self.active = False
        threading.settrace(self.previous)
        return False


def _waiting(thread: threading.Thread | None) -> bool:
    """True when ``thread`` is blocked in a join, a Condition wait or a Queue.get/join, waiting for others.

    A wait with a timeout under a second does not count: ``t.join(0.001)`` is not waiting for ``t``.
    """
    frame = sys._current_frames().get(thread.ident) if thread is not None else None
    names = {"join", "_wait_for_tstate_lock", "wait", "wait_for", "get"}
    call = None  # the outermost such call: the one the learner's code made
    while frame is not None:
        name = frame.f_code.co_filename.replace("\\", "/").rsplit("/", 1)[-1]
        if name in ("threading.py", "queue.py") and frame.f_code.co_name in names:
            call = frame
        frame = frame.f_back
    if call is None:
        return False
    timeout = call.f_locals.get("timeout")
    return timeout is None or not isinstance(timeout, (int, float)) or timeout < 0 or timeout >= 1.0


class _Job:
    """The job function a pool_map check hands to the learner's pool: ``x -> x * x``, watched."""

    def __init__(self, items: list, workers: int, log: _GetLog):
        self.items = items
        self.meet = min(workers, len(items))
        self.log = log
        self.cond = threading.Condition(threading._allocate_lock())  # a plain lock, whatever the learner patches
        self.started = 0
        self.running = 0
        self.most = 0  #: the most calls running at the same time
        self.met: bool | None = None  #: the first calls ran at the same time (None: not known yet)
        self.threads: set[threading.Thread] = set()
        self.caller: threading.Thread | None = None
        self.returned = False

    def __call__(self, x):
        self.log.note("job", x)
        with self.cond:
            self.started += 1
            nth = self.started
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread())
            self.cond.notify_all()
            if threading.current_thread() is self.caller:
                self.running -= 1
                return x * x  # pool_map itself runs the jobs: no worker threads to watch
            try:
                # 1. The first calls wait for each other: a pool of n workers runs n of them at once.
                if self.met is None:
                    together = self.cond.wait_for(lambda: self.most >= self.meet or self.met is not None, MEET)
                    if self.met is None:
                        self.met = together
                    self.cond.notify_all()
                # 2. The first job finishes only after a later job has started: a pool that puts results
                #    in the order the jobs finish gets the order wrong, in every run.
                if x == self.items[0] and self.met and len(self.items) > self.meet:
                    self.cond.wait_for(lambda: self.started > self.meet, MEET)
                # 3. The last job finishes only once pool_map has returned or waits for its workers (or after
                #    a second, for a pool_map that waits some other way): a pool_map that returns without
                #    joining them returns before this result is in.
                if nth == len(self.items):
                    deadline = time.monotonic() + 1.0
                    while not (self.returned or _waiting(self.caller)) and time.monotonic() < deadline:
                        self.cond.wait(0.005)
            finally:
                self.running -= 1
        return x * x


def _call(fn, args, job: _Job | None = None, timeout: float | None = None):
    """Run ``fn(*args)`` in a thread of its own; return (finished, value, error, caller thread, threads it started)."""
    box = {}
    before = set(threading.enumerate())

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # reported by the check
            box["error"] = exc

    caller = threading.Thread(target=run, name="pool_map caller", daemon=True)
    if job is not None:
        job.caller = caller
    caller.start()
    caller.join(DEADLINE if timeout is None else timeout)
    started = [t for t in threading.enumerate() if t not in before and t is not caller]
    return not caller.is_alive(), box.get("value"), box.get("error"), caller, started


def _stuck_message(caller, started, job: _Job | None) -> str:
    waiting_in_get = [t for t in started if t.is_alive() and "Queue.get" in where_is(t)]
    if job is not None and job.threads and job.threads <= {caller}:
        return ("every job ran in the thread that called pool_map, which then waited for ever: "
                "`Thread(target=work())` calls work at once; pass the function itself, `Thread(target=work)`")
    if "Queue.get" in where_is(caller) and not started:
        return ("pool_map is waiting in get() in its own thread and started no worker: "
                "`Thread(target=work())` calls work at once; pass the function itself, `Thread(target=work)`")
    if waiting_in_get and job is not None and job.started == 0:
        return (f"no job ran in {DEADLINE:g} s: the workers wait in get() ({where_is(waiting_in_get[0])}) while "
                f"pool_map is at {where_is(caller)}: put the jobs, then one STOP per worker, and only then join")
    if waiting_in_get:
        return (f"{len(waiting_in_get)} worker thread(s) still wait in get() {DEADLINE:g} s later "
                f"({where_is(waiting_in_get[0])}): put one STOP per worker, after the jobs")
    return f"pool_map did not return within {DEADLINE:g} s; it is at {where_is(caller)}"


def _how_workers_ended(log: _GetLog, threads: list, job: _Job) -> str | None:
    """What is wrong with how the worker threads that have ended stopped, or None if each took a sentinel."""
    gets = {t: [e for e in log.events.get(t, []) if e[0] != "job"] for t in threads}
    if job.threads and not any(gets.values()):
        return ("the workers took no job from a queue.Queue: run your own worker threads, each taking "
                "(index, item) jobs from one queue.Queue until it takes a STOP")
    for t in threads:
        if t.is_alive():
            continue
        events = log.events.get(t, [])
        if not events or events[-1][0] == "job":
            return (f"worker '{t.name}' ended without taking a STOP from the queue: a worker that stops when the "
                    "queue looks empty (`while not jobs.empty()`) races with the others and with the thread that "
                    "puts the jobs (another worker can take the last job between your empty() and your get(), "
                    "and yours then waits for ever). Put one STOP per worker after the jobs, and stop at it")
        what, value = events[-1]
        if what == "get raised" and not (hasattr(queue, "ShutDown") and issubclass(value, queue.ShutDown)):
            return (f"worker '{t.name}' stopped because get() raised {value.__name__}: a timeout is not the end "
                    "of the work; stop at a STOP (one per worker)")
    return None


def check_pool_map(pool_map) -> object:
    """Exercise 8.1: ``pool_map(fn, items, workers)`` returns ``[fn(x) for x in items]``, computed by
    ``workers`` threads that take ``(index, item)`` jobs from one ``queue.Queue`` and stop at a sentinel."""

    def test():
        items, workers = list(range(12)), 4
        with _GetLog() as log:
            job = _Job(items, workers, log)
            finished, got, error, caller, started = _call(pool_map, (job, items, workers), job)
            with job.cond:
                job.returned = True
                job.cond.notify_all()
        if not finished:
            raise AssertionError(_stuck_message(caller, started, job))
        if error is not None:
            raise error
        got = list(got) if isinstance(got, (list, tuple)) else got
        expected = [x * x for x in items]
        if caller in job.threads:
            raise AssertionError("the jobs ran in the thread that called pool_map, not in worker threads: start "
                                 f"{workers} threads that take jobs from one queue.Queue (and pass the worker function "
                                 "itself: `Thread(target=work)`, not `target=work()`)")
        started = sorted(log.threads - {caller}, key=lambda t: t.name)
        problem = _how_workers_ended(log, started, job)  # workers that ended early, before any STOP
        if problem:
            raise AssertionError(problem)
        if got != expected and isinstance(got, list) and (len(got) < len(items) or None in got):
            raise AssertionError(f"pool_map(fn, range(12), 4) returned {got} before every job was done "
                                 f"(expected {expected}): join every worker before you return")
        if not job.met:
            raise AssertionError(
                f"the jobs ran {job.most} at a time with {workers} workers: start every worker before you join "
                "any (a start() and join() in the same loop runs them one after another)")
        if got != expected:
            raise AssertionError(f"pool_map(fn, range(12), 4): expected {expected}, got {got}: results must be in "
                                 "the order of items: put (index, item) jobs and store each result at its index")
        left = [t for t in started if t.is_alive()]
        deadline = time.monotonic() + 0.5
        while left and time.monotonic() < deadline:
            time.sleep(0.01)
            left = [t for t in left if t.is_alive()]
        if left:
            raise AssertionError(f"{len(left)} worker thread(s) still run after pool_map returned "
                                 f"({where_is(left[0])}): put one STOP per worker, and join them all")
        problem = _how_workers_ended(log, started, job)  # again, now that every worker has ended
        if problem:
            raise AssertionError(problem)
        for fn, small, n, expected in ((str, [], 3, []), (str, [1, 2, 3], 1, ["1", "2", "3"])):
            finished, got, error, caller, started = _call(pool_map, (fn, small, n), timeout=2.0)
            if not finished:
                raise AssertionError(f"pool_map(str, {small}, {n}) did not return within 2 s; "
                                     f"it is at {where_is(caller)}")
            if error is not None:
                raise error
            expect_equal(got, expected, f"pool_map(str, {small}, {n})")

    hint = ("start the workers, put every (index, item) job, then one STOP per worker; store each result at its "
            "index; join every worker before you return")
    return check("Exercise 8.1", also_show_schedule(test, lambda: explore_pool(pool_map, "pool_map", hint)), timeout=9.0)


class _Jobs(queue.Queue):
    """The queue a robust_worker check feeds: it notes, per thread, which item was taken, handled, marked done."""

    def __init__(self):
        super().__init__()
        self.taken = {}  #: thread -> the item it took last
        self.handled = {}  #: thread -> the item whose handle() returned or raised last
        self.calls = Counter()  #: item -> how often handle() was called with it
        self.raised = []  #: the exceptions handle() raised
        self.marked = Counter()  #: item -> how often task_done() was called for it
        self.problems = []

    def get(self, block=True, timeout=None):
        item = super().get(block, timeout)
        self.taken[threading.current_thread()] = item
        return item

    def task_done(self):
        me = threading.current_thread()
        item = self.taken.get(me, STOP)
        if item is not STOP:
            if self.marked[item]:
                self.problems.append("task_done() was called twice for one item (one call in except, one in "
                                     "finally?): call it once per item, in the finally block only")
            elif self.handled.get(me, STOP) != item:
                self.problems.append("task_done() was called before the item was handled: q.join() would return "
                                     "while the work is still running; call it after handle(), in a finally block")
            self.marked[item] += 1
        super().task_done()

    def handle(self, x):
        """The job: items 0, 3, 6 and 9 fail, each with another kind of exception."""
        self.calls[x] += 1
        try:
            if x in FAILS:
                exc = FAILS[x](f"bad item {x}")
                self.raised.append(exc)
                raise exc
            return x
        finally:
            self.handled[threading.current_thread()] = x


FAILS = {0: ValueError, 3: KeyError, 6: ZeroDivisionError, 9: RuntimeError}


def check_robust_worker(robust_worker) -> object:
    """Exercise 8.2: ``robust_worker(q, handle, errors)`` takes items until STOP, calls ``handle`` on each,
    appends what it raises to ``errors``, and marks every item ``task_done()``, failing or not."""

    def test():
        q = _Jobs()
        errors: list = []
        crashed: dict = {}

        def run():
            try:
                robust_worker(q, q.handle, errors)
            except BaseException as exc:  # reported below instead of a traceback from the thread
                crashed[threading.current_thread().name] = exc

        threads = [threading.Thread(target=run, name=f"robust-{i}", daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for x in range(10):
            q.put(x)
        # wait until every item was handled and each worker is back in get() (so its task_done() is behind it)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            live = [t for t in threads if t.is_alive()]
            if not live or (sum(q.calls.values()) >= 10 and all(_waiting(t) for t in live)):
                break
            time.sleep(0.01)
        ended = [t.name for t in threads if not t.is_alive() and t.name not in crashed]
        unfinished = q.unfinished_tasks
        for _ in threads:
            q.put(STOP)
        deadline = time.monotonic() + DEADLINE / 2
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        if any(isinstance(exc, NotImplementedError) for exc in crashed.values()):
            raise NotImplementedError
        if q.problems:
            raise AssertionError(q.problems[0])
        if crashed:
            name, exc = next(iter(crashed.items()))
            raise AssertionError(f"worker '{name}' crashed with {type(exc).__name__}: {exc}: catch every "
                                 "Exception handle() raises (not only one kind), record it in errors and go on")
        if ended:
            raise AssertionError(f"worker '{ended[0]}' returned before it took a STOP: after a failing item, "
                                 "record the error and go on with the next item")
        if alive:
            raise AssertionError(f"worker '{alive[0].name}' did not stop at STOP; it is at {where_is(alive[0])}")
        if unfinished:
            raise AssertionError(f"q.join() would hang: {unfinished} item(s) never marked task_done(); a failing "
                                 "item must be marked done too: call task_done() in a finally block")
        if q.calls != Counter(range(10)):
            raise AssertionError(f"each item must be handled once; handle() was called for {dict(q.calls)}")
        if not (len(errors) == len(q.raised) and all(any(e is r for r in q.raised) for e in errors)):
            raise AssertionError(f"errors should hold the 4 exceptions handle() raised, got {errors!r}: append "
                                 "the exception object itself (`except Exception as exc: errors.append(exc)`)")

    return check("Exercise 8.2", test, timeout=9.0)
