"""Checks for the exercises on debugging threaded programs (lesson 14).

- :func:`check_watchdog`  a watchdog thread that reports a hang, and keeps quiet when there is none
- :func:`check_run_all`   threads whose errors reach the caller instead of vanishing

Each check calls the learner's code with arguments of its own that watch what happens: which thread
calls ``dump()`` and when, whether the calls of ``fn`` meet (a ``Barrier``), in which order they end.
Where a mistake depends on timing, the check arranges the timing so that the mistake shows in every
run (a call that waits for another one to end first, an item that holds its thread for a moment).
No verdict depends on how fast the machine is: the only clocks are deadlines many times longer than
the work, which keep a wrong answer from hanging the notebook.
"""

from __future__ import annotations

import sys
import threading
import time

from threadlab.checks import Verdict, check

__all__ = ["check_run_all", "check_watchdog"]


class _Caller:
    """Call ``fn(*args)`` in a daemon thread named "check: caller"; :meth:`wait` for it, bounded."""

    def __init__(self, fn, args):
        self.box: dict = {}
        self.returned = threading.Event()

        def target():
            try:
                self.box["value"] = fn(*args)
            except BaseException as exc:  # handed to the check
                self.box["error"] = exc
            finally:
                self.returned.set()

        self.thread = threading.Thread(target=target, name="check: caller", daemon=True)

    def start(self) -> _Caller:
        self.thread.start()
        return self

    def joining(self) -> bool:
        """Is the caller inside ``Thread.join`` right now (waiting for the threads it started)?"""
        frame = sys._current_frames().get(self.thread.ident)
        while frame is not None:
            if frame.f_code is threading.Thread.join.__code__:
                return True
            frame = frame.f_back
        return False

    def wait(self, seconds: float) -> tuple[bool, object, BaseException | None]:
        """(returned within ``seconds``?, value, exception); NotImplementedError is raised again."""
        if not self.returned.wait(seconds):
            return False, None, None
        error = self.box.get("error")
        if isinstance(error, NotImplementedError):
            raise error
        return True, self.box.get("value"), error


def _call(fn, args, seconds: float) -> tuple[bool, object, BaseException | None]:
    """Call ``fn(*args)`` in a daemon thread; (returned within ``seconds``?, value, exception)."""
    return _Caller(fn, args).start().wait(seconds)


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


# --------------------------------------------------------------------------------- the watchdog

QUIET_AFTER = 5.0  #: the watchdog's ``after`` when the work ends in time
HANG_AFTER = 0.3  #: the watchdog's ``after`` when the work hangs


class _Dumps:
    """The ``dump`` the check hands the watchdog: records who called it, and when."""

    def __init__(self):
        self.calls: list[tuple[threading.Thread, float]] = []
        self.started = time.monotonic()

    def __call__(self):
        self.calls.append((threading.current_thread(), time.monotonic() - self.started))


def _started_watchdog(start_watchdog, done, after, dump) -> threading.Thread:
    returned, thread, error = _call(start_watchdog, (done, after, dump), 3.0)
    if not returned:
        done.set()  # let it go
        raise AssertionError(
            f"start_watchdog(done, {after:g}, dump) had not returned after 3 s: it must start the watchdog thread "
            "and return it at once (call start(), not run(), and do not join it)"
        )
    if error is not None:
        raise AssertionError(f"start_watchdog raised {_error_text(error)}")
    if not isinstance(thread, threading.Thread):
        done.set()
        raise AssertionError(f"start_watchdog returned {thread!r}: return the thread you started")
    if thread.ident is None:
        raise AssertionError("the thread start_watchdog returned was never started: call its start()")
    if thread.name != "watchdog":
        done.set()
        raise AssertionError(
            f"the watchdog thread is named {thread.name!r}: name it 'watchdog' "
            "(threading.Thread(..., name='watchdog')), so it stands out in a stack dump"
        )
    return thread


def _watchdog_test(start_watchdog):
    if start_watchdog is ... or start_watchdog is None:
        raise NotImplementedError
    # 1. The work ends in time: done is set long before `after`. No dump, and the watchdog ends at once.
    done, dumps = threading.Event(), _Dumps()
    thread = _started_watchdog(start_watchdog, done, QUIET_AFTER, dumps)
    if dumps.calls:
        done.set()
        raise AssertionError(
            f"dump() was called {dumps.calls[0][1]:.1f} s after the watchdog started, long before after = "
            f"{QUIET_AFTER:g} s: call it only when done.wait(after) returns False"
        )
    done.set()
    thread.join(2.0)
    if thread.is_alive():
        raise AssertionError(
            f"the watchdog was still running 2 s after done was set (with after = {QUIET_AFTER:g} s): wait with "
            "done.wait(after), which returns as soon as done is set, instead of time.sleep(after)"
        )
    if dumps.calls:
        raise AssertionError("dump() was called although done was set in time: dump only when done.wait(after) "
                             "returned False")

    # 2. The work hangs: done is never set. One dump, from the watchdog thread, after `after` seconds.
    done, dumps = threading.Event(), _Dumps()
    thread = _started_watchdog(start_watchdog, done, HANG_AFTER, dumps)
    deadline = time.monotonic() + 3.0
    while not dumps.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    if not dumps.calls:
        done.set()
        raise AssertionError(
            f"dump() was never called, although done was still not set 3 s after a watchdog with after = "
            f"{HANG_AFTER:g} s started: wait with a timeout, done.wait(after), and dump when it returns False"
        )
    caller, when = dumps.calls[0]
    if caller is not thread:
        done.set()
        raise AssertionError(f"dump() ran in the thread {caller.name!r}, not in the watchdog thread you returned")
    if when < HANG_AFTER - 0.05:
        done.set()
        raise AssertionError(f"dump() was called {when:.2f} s after the watchdog started, before after = "
                             f"{HANG_AFTER:g} s had passed")
    time.sleep(1.0)  # a watchdog that dumps in a loop would dump again meanwhile
    done.set()
    thread.join(2.0)
    if len(dumps.calls) > 1:
        raise AssertionError(f"dump() was called {len(dumps.calls)} times for one hang: once is enough (no loop)")
    if thread.is_alive():
        raise AssertionError("the watchdog was still running 2 s after done was set: it should end after its "
                             "one dump")


def check_watchdog(start_watchdog) -> Verdict:
    """Exercise 14.1: ``start_watchdog(done, after, dump)`` starts and returns a thread named
    ``watchdog`` that calls ``dump()`` once if the Event ``done`` is still not set after ``after``
    seconds, and ends at once, without dumping, as soon as ``done`` is set in time."""
    return check("Exercise 14.1: a watchdog thread", lambda: _watchdog_test(start_watchdog))


# --------------------------------------------------------------------------------- run_all


class _Calls:
    """What the ``fn`` handed to ``run_all`` saw: the thread of each call, calls running, calls ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.threads: dict[object, threading.Thread] = {}
        self.running = 0
        self.ended: list[object] = []

    def begin(self, item):
        with self.lock:
            self.threads[item] = threading.current_thread()
            self.running += 1

    def end(self, item):
        with self.lock:
            self.running -= 1
            self.ended.append(item)


def _run(run_all, fn, items, caller: _Caller | None = None):
    """run_all(fn, items) within a deadline: (value, error, errors of dead threads); AssertionError
    if it hangs. An error that kills a thread is kept out of the notebook's output (the check
    reports it)."""
    died: list = []
    previous = threading.excepthook
    threading.excepthook = died.append
    try:
        caller = caller or _Caller(run_all, (fn, items))
        returned, value, error = caller.start().wait(8.0)
    finally:
        threading.excepthook = previous
    if not returned:
        raise AssertionError(f"run_all(fn, {items!r}) had not returned after 8 s: a thread that is never joined "
                             "with a timeout, or a join of a thread that was never started?")
    return value, error, died


def _in_caller(calls: _Calls) -> bool:
    return any(t.name == "check: caller" for t in calls.threads.values())


def _order_test(run_all):
    """Four calls that must all be running at once; the first item's call ends last."""
    items = [0, 1, 2, 3]
    calls = _Calls()
    meet = threading.Barrier(len(items), timeout=2.0)
    finished = {i: threading.Event() for i in items}
    early: list = []

    def fn(x):
        calls.begin(x)
        try:
            meet.wait()  # every call is running now
            if x + 1 in finished:
                finished[x + 1].wait(2.0)  # the calls end in reverse order: 3, 2, 1, 0
            else:
                return x * 10
            if x == items[0]:  # the last call to end waits until run_all waits for it (or has returned)
                deadline = time.monotonic() + 2.0
                while not caller.joining() and time.monotonic() < deadline:
                    if caller.returned.is_set():
                        early.append(x)  # run_all returned while this call was still running
                        break
                    time.sleep(0.001)
            return x * 10
        finally:
            calls.end(x)
            finished[x].set()

    caller = _Caller(run_all, (fn, items))
    value, error, _ = _run(run_all, fn, items, caller)
    if _in_caller(calls):
        raise AssertionError("fn ran in the thread that called run_all: call each thread's start(), not run()")
    if meet.broken:
        raise AssertionError("the calls of fn did not all run at the same time (they never met): start every "
                             "thread before you join any of them, one thread per item")
    if error is not None:
        raise AssertionError(f"run_all(fn, [0, 1, 2, 3]) raised {_error_text(error)}, but no call of fn failed")
    if early or calls.running:
        raise AssertionError(f"run_all returned {value!r} while calls of fn were still running: join every thread "
                             "before you read the results")
    expected = [0, 10, 20, 30]
    if isinstance(value, list) and value != expected and sorted(value, key=repr) == sorted(expected, key=repr):
        raise AssertionError(f"run_all returned {value!r}: the results in the order the threads finished, expected "
                             f"{expected} in the order of items. Hint: store each result at its item's index")
    if value != expected:
        raise AssertionError(f"run_all(fn, [0, 1, 2, 3]) with fn(x) = 10 * x returned {value!r}, expected {expected}")


def _error_test(run_all):
    """An item fails at once, a later one holds its thread for a moment: the error reaches the caller,
    after every thread has ended."""
    items = ["bad", "slow", "fine"]
    calls = _Calls()
    boom = ValueError("no number in 'bad'")

    def fn(item):
        calls.begin(item)
        try:
            if item == "bad":
                raise boom
            if item == "slow":
                threading.Event().wait(0.5)  # still running when "bad" has failed
            return item.upper()
        finally:
            calls.end(item)

    value, error, errors = _run(run_all, fn, items)
    if _in_caller(calls):
        raise AssertionError("fn ran in the thread that called run_all: call each thread's start(), not run()")
    if error is None:
        died = f" (thread {errors[0].thread.name!r} died with it)" if errors else ""
        raise AssertionError(f"run_all returned {value!r} although fn('bad') raised ValueError{died}: the error "
                             "vanished with its thread. Catch it in the thread, keep it, and raise it in run_all")
    if "slow" not in calls.ended:
        raise AssertionError(f"run_all raised {type(error).__name__} while the call of fn('slow') was still running: "
                             "join every thread first, then raise the error")
    if error is not boom:
        same = type(error) is ValueError and str(error) == str(boom)
        if not same:
            raise AssertionError(f"run_all raised {_error_text(error)}: expected the ValueError that fn('bad') raised, "
                                 "raised again as it is (raise error)")


def _first_error_test(run_all):
    """Two items fail; the second one in the list fails first. run_all raises the first item's error."""
    items = ["first", "second"]
    calls = _Calls()

    def fn(item):
        calls.begin(item)
        try:
            if item == "second":
                raise TypeError("'second' failed first")
            deadline = time.monotonic() + 2.0
            while calls.threads.get("second") is None or calls.threads["second"].is_alive():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)  # until the thread of "second" has ended
            raise KeyError("first")
        finally:
            calls.end(item)

    value, error, _ = _run(run_all, fn, items)
    if error is None:
        raise AssertionError(f"run_all returned {value!r} although both calls of fn raised")
    if isinstance(error, TypeError):
        raise AssertionError("run_all raised the TypeError of 'second', which failed first in time; expected the "
                             "KeyError of 'first', the first failing item in the order of items (as "
                             "ThreadPoolExecutor.map does). Hint: keep each error at its item's index")
    if not isinstance(error, KeyError):
        raise AssertionError(f"run_all raised {_error_text(error)}, expected the KeyError of the first item")


def _run_all_test(run_all):
    if run_all is ... or run_all is None:
        raise NotImplementedError
    returned, value, error = _call(run_all, (lambda x: x, []), 3.0)
    if returned and error is None and value != []:
        raise AssertionError(f"run_all(fn, []) returned {value!r}, expected []")
    _order_test(run_all)
    _error_test(run_all)
    _first_error_test(run_all)


def check_run_all(run_all) -> Verdict:
    """Exercise 14.2: ``run_all(fn, items)`` calls ``fn`` on every item, each in its own thread, all at
    once; returns the results in the order of ``items``; if a call raised, raises the first failing
    item's exception in the caller, after every thread has ended."""
    return check("Exercise 14.2: errors that reach the caller", lambda: _run_all_test(run_all))
