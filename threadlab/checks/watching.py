"""Watch what a learner's threads do, for the exercise checks of every topic.

- :class:`ThreadCalls` records every ``Thread.start()``, ``join()`` and direct ``run()`` call made
  inside a ``with`` block, so a check can say "you joined thread 1 before starting thread 2: your
  threads ran one after another" or "you called run(), not start()" from what the code *did*, not
  from how long it took.
- :func:`thread_errors` collects the exceptions that end threads inside a ``with`` block (instead of
  printing a traceback per thread), each with the learner's line it came from.
- :func:`call_within` calls a function in a helper thread and gives up after a deadline, so a check
  reports "wait(0.05) was still blocked after 2 s" instead of hanging.

Everything is restored when the block ends, also when the code inside raises.
"""

from __future__ import annotations

import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from threadlab.labcheck import _is_library


@dataclass
class ThreadCall:
    op: str  #: "start", "join" or "run" (a direct call of run(), in the calling thread)
    thread: threading.Thread  #: the thread whose method was called
    caller: threading.Thread  #: the thread that called it
    alive_after: bool  #: whether ``thread`` was still alive when the call returned


@dataclass
class ThreadCalls:
    """Record ``Thread.start``, ``Thread.join`` and direct ``Thread.run`` calls inside a ``with`` block.

    Only calls made by :attr:`owner` are kept: the thread that runs the code under test (the thread
    that entered the block, or the helper thread of :func:`call_within` when it is given
    ``calls=``), so the threads of Jupyter's own machinery do not mix in. ``run()`` called by a thread on itself is how
    every thread starts; only a ``run()`` called on *another* thread object is recorded.
    """

    calls: list[ThreadCall] = field(default_factory=list)
    owner: threading.Thread | None = None

    def __enter__(self):
        if getattr(self, "owner", None) is None:
            self.owner = threading.current_thread()
        self._saved = threading.Thread.start, threading.Thread.join, threading.Thread.run
        start, join, run = self._saved
        calls = self.calls

        def recorded_start(thread, *args, **kwargs):
            try:
                return start(thread, *args, **kwargs)
            finally:
                if threading.current_thread() is self.owner:
                    calls.append(ThreadCall("start", thread, self.owner, thread.is_alive()))

        def recorded_join(thread, *args, **kwargs):
            try:
                return join(thread, *args, **kwargs)
            finally:
                if threading.current_thread() is self.owner:
                    calls.append(ThreadCall("join", thread, self.owner, thread.is_alive()))

        def recorded_run(thread, *args, **kwargs):
            me = threading.current_thread()
            if me is self.owner and thread is not me:
                calls.append(ThreadCall("run", thread, self.owner, False))
            return run(thread, *args, **kwargs)

        threading.Thread.start, threading.Thread.join, threading.Thread.run = (
            recorded_start, recorded_join, recorded_run)
        return self

    def __exit__(self, *exc):
        threading.Thread.start, threading.Thread.join, threading.Thread.run = self._saved

    @property
    def started(self) -> list[threading.Thread]:
        """The threads the code under test started, in order."""
        return [c.thread for c in self.calls if c.op == "start"]

    @property
    def ran_directly(self) -> list[threading.Thread]:
        """Thread objects whose ``run()`` the code under test called itself (instead of ``start()``)."""
        return [c.thread for c in self.calls if c.op == "run"]

    def one_after_another(self) -> tuple[threading.Thread, threading.Thread] | None:
        """(joined, started): a thread joined to its end before another one was started, or None.

        That is the "sequential threads" mistake: start, join, start, join... Each thread then
        runs alone, and nothing happens at the same time.
        """
        finished = None
        for c in self.calls:
            if c.op == "join" and not c.alive_after and c.thread in self.started:
                finished = finished or c.thread
            elif c.op == "start" and finished is not None:
                return finished, c.thread
        return None

    def never_joined(self) -> list[threading.Thread]:
        """Started threads that the code under test never joined."""
        joined = {c.thread for c in self.calls if c.op == "join"}
        return [t for t in self.started if t not in joined]

    def verdict(self, expected: int | None = None, what: str = "your function", joined: bool = True) -> str | None:
        """The first mistake in how threads were started and joined, as a message, or None.

        ``expected``: how many threads ``what`` should have started (None: do not check);
        ``joined``: every thread it started must have been joined.
        """
        if self.ran_directly:
            name = self.ran_directly[0].name
            return (f"{what} called run() on thread {name!r}: run() does the work in the calling thread, "
                    "one call after another. start() runs it in a new thread")
        pair = self.one_after_another()
        if pair is not None:
            return (f"{what} joined thread {pair[0].name!r} before starting thread {pair[1].name!r}: the threads ran "
                    "one after another. Start them all first, then join them all")
        if expected is not None and len(self.started) != expected:
            return f"{what} started {len(self.started)} thread(s), expected {expected}"
        if joined and self.never_joined():
            names = ", ".join(repr(t.name) for t in self.never_joined()[:3])
            return (f"{what} never joined thread(s) {names}: join every thread you started before you return "
                    "(otherwise the caller may use results that are not complete yet)")
        return None


@dataclass
class ThreadError:
    thread: str  #: the name of the thread that died
    error: BaseException
    where: str  #: the learner's line it came from (or the innermost line)

    def __str__(self):
        return f"thread {self.thread!r} raised {type(self.error).__name__}: {self.error} ({self.where})"


def learner_call(what: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``; an exception other than AssertionError/NotImplementedError becomes an
    AssertionError that says what was called and the learner's line it came from."""
    try:
        return fn(*args, **kwargs)
    except (AssertionError, NotImplementedError):
        raise
    except Exception as exc:
        raise AssertionError(f"{what} raised {describe(exc)}") from None


def describe(error: BaseException) -> str:
    """``"RuntimeError: cannot join thread before it is started (in take_turns, at `t.join()`)"``"""
    return f"{type(error).__name__}: {error} ({_where(error.__traceback__)})"


def _where(tb) -> str:
    frames = traceback.extract_tb(tb)
    if not frames:
        return "no traceback"
    frame = next((f for f in reversed(frames) if not _is_library(f.filename)), frames[-1])
    line = (frame.line or "").strip()
    return f"in {frame.name}" + (f", at `{line}`" if line else "")


@contextmanager
def thread_errors():
    """Collect, instead of printing, the exceptions that end threads inside the block.

    Yields a list that fills with :class:`ThreadError` as threads die. ``threading.excepthook`` is
    restored at the end (threads that die later report as usual).
    """
    errors: list[ThreadError] = []
    saved = threading.excepthook

    def hook(args):
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        errors.append(ThreadError(name, args.exc_value, _where(args.exc_traceback)))

    threading.excepthook = hook
    try:
        yield errors
    finally:
        threading.excepthook = saved


class StillRunning(AssertionError):
    """Raised by :func:`call_within` when the call did not return in time."""


def call_within(fn: Callable, seconds: float, what: str, hint: str = "", on_timeout: Callable | None = None,
                calls: ThreadCalls | None = None):
    """``fn()``, called in a helper thread and waited for at most ``seconds``; returns its value.

    With ``calls``, the helper thread becomes the owner of that :class:`ThreadCalls` recorder.

    An exception of ``fn`` is raised again here. If it is still running after ``seconds``,
    ``on_timeout()`` (if given) is called to try to unblock it, and :class:`StillRunning` is raised
    with "``what`` was still running after ``seconds`` s" and ``hint``.
    """
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # raised again in the caller
            box["error"] = exc

    helper = threading.Thread(target=target, name=f"check: {what}"[:60], daemon=True)
    if calls is not None:
        calls.owner = helper
    start = time.monotonic()
    helper.start()
    helper.join(seconds)
    if helper.is_alive():
        if on_timeout is not None:
            try:
                on_timeout()
            except Exception:
                pass
            helper.join(1)
        raise StillRunning(f"{what} was still running after {seconds:g} s" + (f": {hint}" if hint else ""))
    box["seconds"] = time.monotonic() - start
    if "error" in box:
        raise box["error"]
    return box["value"]
