"""Checks for the short exercises in the lessons (topic modules of this package hold the checkers).

A check runs the learner's code under a timeout in a helper thread, so a deadlock or an
endless loop is reported instead of freezing the notebook, and it *prints* its verdict rather
than raising: "Run all" goes on past an unsolved exercise. It returns a :class:`Verdict`
that is true only when every test passed, so a solution cell can ``assert check(...)``.

A test is a function that raises ``AssertionError("expected ..., got ...")`` on a wrong
answer (``expect_equal``, ``expect_between`` and ``expect_raises``, the labs' helpers from
:mod:`threadlab.labcheck`, write such messages). ``NotImplementedError`` (the ``...`` placeholder
of an exercise) means "not tried yet".
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable

# one family of "expect" helpers for lessons and labs: AssertionError("what: expected X, got Y. Hint: ...")
from threadlab.labcheck import expect_between, expect_equal, expect_raises  # noqa: F401


@dataclass
class Verdict:
    name: str
    status: str  # "passed", "failed", "not attempted", "timed out", "error"
    message: str = ""

    def __bool__(self):
        return self.status == "passed"

    def __str__(self):
        symbol = {"passed": "✔", "not attempted": "…"}.get(self.status, "✘")
        text = f"{symbol} {self.name}: {self.status}"
        return f"{text} - {self.message}" if self.message else text

    __repr__ = __str__

    def _ipython_display_(self):
        """check() has printed the verdict already; showing it again as the cell's value would repeat it."""


def thread_stacks(exclude_current: bool = True) -> str:
    """A readable dump of every thread's current stack (what a hung check shows)."""
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        if exclude_current and ident == me:
            continue
        stack = "".join(traceback.format_stack(frame)[-3:])
        parts.append(f"--- thread {names.get(ident, ident)} ---\n{stack}")
    return "\n".join(parts)


def run_with_timeout(fn: Callable, timeout: float):
    """Call ``fn()`` in a daemon thread; return (finished, value, exception)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # reported to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, name="exercise-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return False, None, None
    return True, box.get("value"), box.get("error")


def check(name: str, test: Callable[[], object], timeout: float = 10.0, quiet: bool = False) -> Verdict:
    """Run ``test()`` (which asserts) under ``timeout`` seconds, print and return the verdict."""
    finished, _, error = run_with_timeout(test, timeout)
    if not finished:
        verdict = Verdict(
            name,
            "timed out",
            f"still running after {timeout:g} s: a deadlock, a missing release or an endless loop? "
            "Threads still running:\n" + thread_stacks(),
        )
    elif error is None:
        verdict = Verdict(name, "passed")
    elif isinstance(error, NotImplementedError):
        verdict = Verdict(name, "not attempted", "replace the `...` / NotImplementedError with your code")
    elif isinstance(error, AssertionError):
        verdict = Verdict(name, "failed", str(error) or "an assertion failed")
    else:
        where = traceback.extract_tb(error.__traceback__)[-1]
        verdict = Verdict(
            name,
            "error",
            f"{type(error).__name__}: {error} (line {where.lineno} of {where.name})",
        )
    if not quiet:
        print(verdict)
    return verdict


# Packages whose threads belong to Jupyter itself: JupyterLab 4.6 with ipykernel 7 starts a
# subshell thread for widget messages when a widget is first used, IPython a history thread.
JUPYTER_PACKAGES = ("ipykernel", "IPython", "jupyter_client", "zmq", "tornado", "comm", "ipywidgets", "debugpy")


def is_jupyter_thread(thread: threading.Thread) -> bool:
    """True for a thread that Jupyter's kernel machinery started, not the learner's code."""
    target = getattr(thread, "_target", None)
    modules = [type(thread).__module__, getattr(target, "__module__", None) or ""]
    return any(m.split(".")[0] in JUPYTER_PACKAGES for m in modules)


def threads_left(before, timeout: float = 0.0) -> list[threading.Thread]:
    """Threads alive now that were not in ``before`` (a set from ``threading.enumerate()``).

    Waits up to ``timeout`` seconds for them to finish first. Comparing sets, not
    ``threading.active_count()``, keeps the answer right while threads started earlier by someone
    else (an earlier test) come and go; threads of Jupyter's own machinery, which a kernel may
    start at any time (e.g. when a widget is first used in JupyterLab), are not counted.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not is_jupyter_thread(t)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def waiting_in(thread: threading.Thread, function: str, timeout: float = 5.0) -> bool:
    """Wait (at most ``timeout`` s) until ``thread`` is blocked inside a call to ``function``.

    ``function`` is a name such as ``"put"`` (``queue.Queue.put``): the thread's stack must hold
    that function, with a ``wait`` (``threading.Condition.wait``, which blocks on a lock) on top.
    A demo or a check can then act at the moment a thread really waits, instead of guessing with
    a sleep. True once it does; False if the thread ended or the time ran out first.

    A thread that was just woken (notified, but not yet run) still shows ``wait`` on top of its
    stack, so True means "waits, or is about to leave the wait". Act on it only when nothing can
    wake the thread: for a ``put`` into a full queue that nobody reads, check ``full()`` first.
    """
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        frame = sys._current_frames().get(thread.ident)
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        if names[:1] == ["wait"] and function in names[1:]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return False


def _is_library(filename: str) -> bool:
    """True for the standard library, installed packages and threadlab: code that is not the learner's."""
    import os
    import sysconfig

    if not filename or filename.startswith("<frozen"):
        return True
    path = os.path.realpath(filename)
    roots = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(os.path.realpath(os.path.dirname(os.path.dirname(__file__))))  # the threadlab package
    return any(path.startswith(root + os.sep) for root in roots)


def where_is(thread: threading.Thread) -> str:
    """Where a live thread is, in a few words, for a check's message.

    The innermost line of the learner's code it is running (code outside the standard library,
    installed packages and threadlab) and the library call it is inside, e.g.
    ``line 5 of work: `job = jobs.get(timeout=10)`, inside Queue.get()``.
    """
    import linecache

    frame = sys._current_frames().get(thread.ident) if thread.ident is not None else None
    if frame is None:
        return "finished"
    inner = None  # the library frame just inside the learner's innermost frame
    while frame is not None and _is_library(frame.f_code.co_filename):
        inner, frame = frame, frame.f_back
    called = f"{getattr(inner.f_code, 'co_qualname', inner.f_code.co_name)}()" if inner is not None else ""
    if frame is None:
        return f"inside {called}" if called else "in library code"
    source = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    text = f"line {frame.f_lineno} of {frame.f_code.co_name}" + (f": `{source}`" if source else "")
    return f"{text}, inside {called}" if called else text
