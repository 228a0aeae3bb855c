"""The checker behind the labs' check cells: concurrency-aware tests with learner-readable verdicts.

A check cell calls :func:`check_exercise` with a title and a list of zero-argument test functions::

    check_exercise("Exercise 1: fetch with threads", [test_a, test_b], timeout=5.0)

Each test runs in a daemon thread under ``timeout`` seconds and gets one printed line:

- ``✔ name`` when it returns;
- ``✘ name: failed - what: expected X, got Y. Hint: ...`` when it raises ``AssertionError``;
- ``✘ name: not attempted - ...`` when it raises ``NotImplementedError`` (the blank exercise) or a
  ``NameError`` for a name the test itself looks up (the exercise cell has not defined it yet);
- ``✘ name: error - ValueError: ... (line 3 of transfer: `...`)`` for any other exception, pointing
  at the innermost line of the learner's (or test's) code rather than at the checker;
- ``✘ name: timed out after 5 s: deadlock or busy loop?`` followed by the stacks of the threads
  the test started (Jupyter's own threads are left out), whether each one is blocked or spinning,
  and, for locks created while the test ran (see :func:`traced_locks`), which thread holds and
  which thread waits for which lock. A spinning thread is asked to stop; if it ignores that it keeps
  running as a daemon thread and the message says so. Later tests still run, each bounded.

If any test did not pass, :class:`CheckFailed` is raised after all of them ran; in Jupyter it
renders as one short line (no traceback), and nbgrader scores the cell 0. Otherwise a true
:class:`Report` is returned.

Helpers for tests: :func:`expect_equal`, :func:`expect_between`, :func:`expect_raises` (raise
``AssertionError`` with a message a learner can act on; the lessons' checks in
:mod:`threadlab.checks` use the same ones), :func:`amplified_races` (make thread switches happen
between almost any two bytecodes, so a racy solution is caught every run) and :func:`traced_locks`
(locks made inside the block remember their owner and waiters).

The course's one traced lock lives here too: :class:`TracedLock` (optionally named) records which
thread holds it and which threads wait for it; :func:`wait_for_graph` turns those records into a
wait-for graph and :func:`find_cycle` finds a deadlock in it (lab 2's account locks and lab 6's
table use them; lesson 14 writes a small version in its cells).
"""

from __future__ import annotations

import contextlib
import ctypes
import dis
import functools
import linecache
import os
import sys
import sysconfig
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from typing import Callable, Iterable

__all__ = [
    "CheckFailed",
    "Report",
    "Result",
    "amplified_races",
    "check_exercise",
    "expect_between",
    "expect_equal",
    "expect_raises",
    "find_cycle",
    "lock_report",
    "thread_report",
    "traced_locks",
    "wait_for_graph",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_DIRS = tuple(
    sorted(
        {
            os.path.realpath(p) + os.sep
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (p := sysconfig.get_paths().get(key))
        }
        | {os.path.realpath(os.path.dirname(os.__file__)) + os.sep}
    )
)

# thread bookkeeping uses raw locks: never the (possibly patched) threading.Lock
_allocate_lock = threading._allocate_lock  # type: ignore[attr-defined]
_RawRLock = threading._CRLock or threading._PyRLock  # type: ignore[attr-defined]
_ORIGINAL_LOCK = threading.Lock
_ORIGINAL_RLOCK = threading.RLock


# --- results ----------------------------------------------------------------------------------


@dataclass
class Result:
    """The verdict on one test."""

    name: str
    status: str  # "passed", "failed", "not attempted", "error", "timed out"
    message: str = ""
    details: list[str] = field(default_factory=list)  # extra lines (thread stacks, lock owners)
    seconds: float = 0.0

    def __bool__(self):
        return self.status == "passed"

    def line(self) -> str:
        if self.status == "passed":
            return f"✔ {self.name}"
        text = f"✘ {self.name}: {self.status}"
        return f"{text} - {self.message}" if self.message else text

    def __str__(self):
        return "\n".join([self.line(), *("    " + d for d in self.details)])


@dataclass
class Report:
    """What :func:`check_exercise` returns: true when every test passed."""

    title: str
    results: list[Result]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r)

    def __bool__(self):
        return bool(self.results) and self.passed == len(self.results)

    def summary(self) -> str:
        counts = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        text = f"{self.title}: {self.passed} of {len(self.results)} checks passed"
        others = [f"{n} {status}" for status, n in counts.items() if status != "passed"]
        return f"{text} ({', '.join(others)})" if others else text

    def __repr__(self):
        return f"<Report {self.summary()}>"

    def _ipython_display_(self):
        """check_exercise() has printed one line per test already; showing the report again would repeat it."""


class CheckFailed(Exception):
    """Raised by :func:`check_exercise` when a test did not pass. Jupyter shows it as one short line."""

    def __init__(self, report: Report):
        super().__init__(report.summary())
        self.report = report

    def _render_traceback_(self):
        # IPython shows these lines instead of the traceback: the per-test lines are printed above.
        return [
            f"\x1b[31mCheckFailed\x1b[0m: {self}. See the lines above; fix your code, run its cell, then run this one again."
        ]


# --- assertion helpers ------------------------------------------------------------------------


def _with_hint(text: str, hint: str | None) -> str:
    return f"{text}. Hint: {hint}" if hint else text


def _short(value, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...>"


def expect_equal(got, expected, what: str = "result", hint: str | None = None):
    """``assert got == expected`` with a message a learner can act on."""
    if not (got == expected):
        raise AssertionError(_with_hint(f"{what}: expected {_short(expected)}, got {_short(got)}", hint))
    return got


def expect_between(got, low, high, what: str = "result", hint: str | None = None):
    """``assert low <= got <= high`` with a message a learner can act on."""
    try:
        inside = low <= got <= high
    except TypeError:
        inside = False
    if not inside:
        raise AssertionError(_with_hint(f"{what}: expected between {low!r} and {high!r}, got {_short(got)}", hint))
    return got


def expect_raises(exc_type, fn: Callable, *args, what: str | None = None, hint: str | None = None, **kwargs):
    """Call ``fn(*args, **kwargs)``; it must raise ``exc_type`` (a class or a tuple). Returns the exception.

    ``NotImplementedError`` and ``NameError`` pass through unless expected, so a blank exercise is
    still reported as "not attempted".
    """
    names = exc_type.__name__ if isinstance(exc_type, type) else " or ".join(t.__name__ for t in exc_type)
    label = what or f"{getattr(fn, '__name__', 'the call')}(...)"
    try:
        value = fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    except (NotImplementedError, NameError):
        raise
    except Exception as exc:
        raise AssertionError(_with_hint(f"{label}: expected {names}, got {type(exc).__name__}: {exc}", hint)) from exc
    raise AssertionError(_with_hint(f"{label}: expected {names} to be raised, got a return value {_short(value)}", hint))


# --- where in the learner's code ----------------------------------------------------------------


def _is_library(filename: str) -> bool:
    """Code that is not the learner's nor a test's: the standard library, site-packages, threadlab."""
    if not filename or filename.startswith("<frozen"):
        return True
    path = os.path.realpath(filename)
    return path.startswith(_PACKAGE_DIR + os.sep) or path.startswith(_LIBRARY_DIRS)


def _cell_label(filename: str) -> str:
    """'Cell In[5]' for code typed in the notebook (IPython knows the execution count), else the file name."""
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
        count = ip.compile._filename_map.get(filename)
        if count is not None:
            return f"Cell In[{count}]"
    except Exception:
        pass
    if "ipykernel_" in filename or filename.startswith("<"):
        return "the notebook"
    return os.path.basename(filename)


def _where(filename: str, lineno: int, name: str) -> str:
    source = linecache.getline(filename, lineno).strip()
    text = f"line {lineno} of {name}, {_cell_label(filename)}"
    return f"{text}: `{source}`" if source else text


def _learner_frame(tb) -> traceback.FrameSummary | None:
    """The innermost frame of a traceback that is in the learner's or the test's code."""
    frames = traceback.extract_tb(tb)
    for summary in reversed(frames):
        if not _is_library(summary.filename):
            return summary
    return frames[-1] if frames else None


def _underlying(fn):
    while True:
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        else:
            return fn


def _test_code(fn) -> tuple[set, set]:
    """Code objects of a test and of the functions it reaches in its own file (closures, helpers,
    lambdas), and every global name they mention: a NameError raised there means "not defined yet"."""
    codes: set = set()
    names: set = set()
    seen: set = set()
    todo = [_underlying(fn)]
    home = None
    while todo:
        func = todo.pop()
        if id(func) in seen:
            continue
        seen.add(id(func))
        code = getattr(func, "__code__", None)
        if code is None:
            continue
        home = home or code.co_filename
        stack = [code]
        while stack:
            c = stack.pop()
            codes.add(c)
            names.update(c.co_names)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        module_globals = getattr(func, "__globals__", {})
        related = [module_globals.get(n) for n in code.co_names]
        related += [cell.cell_contents for cell in (func.__closure__ or ()) if _cell_has_value(cell)]
        related += list(func.__defaults__ or ())
        for other in related:
            other = _underlying(other) if callable(other) else other
            other_code = getattr(other, "__code__", None)
            if other_code is not None and (other_code.co_filename == home or other_code.co_filename == code.co_filename):
                todo.append(other)
            elif (
                other_code is not None
                and func.__closure__
                and any(_cell_has_value(c) and c.cell_contents is other for c in func.__closure__)
            ):
                todo.append(other)  # a lambda or function handed to a test factory
    return codes, names


def _cell_has_value(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _test_name(fn) -> str:
    """A test's name: the first line of its docstring, else its function name."""
    doc = fn.__doc__ if not isinstance(fn, functools.partial) else None
    doc = (doc or getattr(_underlying(fn), "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].strip()
    return getattr(_underlying(fn), "__name__", repr(fn))


def _classify(test, error: BaseException) -> tuple[str, str]:
    """(status, message) for a test that raised ``error``."""
    if isinstance(error, NotImplementedError):
        return "not attempted", "your code still raises NotImplementedError: replace it with your solution and run that cell"
    if isinstance(error, AssertionError):
        message = str(error)
        if not message:
            where = _learner_frame(error.__traceback__)
            message = "an assertion failed" + (f" at {_where(where.filename, where.lineno, where.name)}" if where else "")
        return "failed", message
    if isinstance(error, NameError):
        name = getattr(error, "name", None)
        codes, names = _test_code(test)
        tb = error.__traceback__
        innermost = None
        while tb is not None:
            innermost = tb.tb_frame.f_code
            tb = tb.tb_next
        if innermost in codes or (innermost is not None and _is_library(innermost.co_filename)) or (name and name in names):
            shown = f"`{name}`" if name else "a name the check needs"
            return "not attempted", f"{shown} is not defined yet: write it in the exercise cell above and run that cell"
    where = _learner_frame(error.__traceback__)
    place = f" ({_where(where.filename, where.lineno, where.name)})" if where else ""
    text = str(error)
    return "error", f"{type(error).__name__}{': ' + text if text else ''}{place}"


# --- traced locks -------------------------------------------------------------------------------


class _Registry:
    """Which thread owns which traced lock, which thread waits for which lock.

    Changes are made under ``guard`` (a raw re-entrant lock, never a traced one), so a reader sees
    an owner's record and a waiter's record as they were at one moment.
    """

    def __init__(self):
        self.owners: dict[int, dict[int, int]] = {}  # lock id -> {thread ident: depth}
        self.waiting: dict[int, object] = {}  # thread ident -> lock
        self.locks: dict[int, object] = {}  # lock id -> lock (only while owned or waited for)
        self.counter = 0
        self.guard = _RawRLock()

    def next_number(self) -> int:
        self.counter += 1
        return self.counter


_registry = _Registry()
if hasattr(os, "register_at_fork"):  # a child forked while another thread held the guard gets a free one
    os.register_at_fork(after_in_child=lambda: _registry.guard._at_fork_reinit())


def _creation_site() -> str:
    frame = sys._getframe(2)
    while frame is not None and _is_library(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return ""
    return f"made at line {frame.f_lineno} of {frame.f_code.co_name}"


class _TracedBase:
    """Common bookkeeping of :class:`TracedLock` and :class:`TracedRLock`."""

    kind = "Lock"

    def __init__(self, name: str | None = None):
        self.number = _registry.next_number()
        self.name = name
        self.site = "" if name else _creation_site()
        with _registry.guard:  # records are keyed by id(): forget those of a dead lock that had this id
            _registry.owners.pop(id(self), None)
            _registry.locks.pop(id(self), None)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{self.kind} #{self.number}" + (f" ({self.site})" if self.site else "")

    def _note_acquired(self, me):
        with _registry.guard:
            owners = _registry.owners.setdefault(id(self), {})
            owners[me] = owners.get(me, 0) + 1
            _registry.locks[id(self)] = self

    def _note_released(self, me, all_levels=False):
        with _registry.guard:
            owners = _registry.owners.get(id(self))
            if owners is None:
                return
            depth = owners.get(me, 0) - 1
            if depth > 0 and not all_levels:
                owners[me] = depth
            else:
                owners.pop(me, None)
            if not owners:
                _registry.owners.pop(id(self), None)
                _registry.locks.pop(id(self), None)

    def _blocking_acquire(self, raw_acquire, blocking, timeout):
        if raw_acquire(False):
            return True
        if not blocking:
            return False
        me = threading.get_ident()
        with _registry.guard:
            _registry.waiting[me] = self
        try:
            return self._wait(raw_acquire, timeout)
        finally:
            with _registry.guard:
                _registry.waiting.pop(me, None)

    def _wait(self, raw_acquire, timeout) -> bool:
        """The blocking part of an acquire (the thread is recorded as waiting meanwhile)."""
        return raw_acquire(True, timeout)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._blocking_acquire(self._lock.acquire, blocking, timeout)
        if got:
            self._note_acquired(threading.get_ident())
        return got

    def release(self) -> None:
        me = threading.get_ident()
        self._lock.release()  # raises (and changes nothing) when not allowed
        self._note_released(me)

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def holders(self) -> list[int]:
        """Idents of the threads holding this lock now."""
        with _registry.guard:
            return list(_registry.owners.get(id(self), {}))

    def waiters(self) -> list[int]:
        """Idents of the threads waiting for this lock now."""
        with _registry.guard:
            return [ident for ident, lock in _registry.waiting.items() if lock is self]

    def __repr__(self):
        owners = self.holders()
        state = "held by " + ", ".join(_thread_name(t) for t in owners) if owners else "free"
        which = repr(self.name) if self.name else f"#{self.number}"
        return f"<Traced{self.kind} {which} {state}>"


class TracedLock(_TracedBase):
    """A drop-in ``threading.Lock`` that records which thread holds it and which threads wait for it.

    ``TracedLock("account 1")`` gives it a name for reports; unnamed, it is labelled by a number
    and the line that made it.
    """

    kind = "Lock"

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self._lock = _allocate_lock()

    def locked(self) -> bool:
        return self._lock.locked()

    def release(self) -> None:
        # the owner's record goes first, under the guard: a thread that takes the lock as soon as it
        # is free records itself after this, never before (its record cannot be wiped out by ours)
        with _registry.guard:
            if not self._lock.locked():
                raise RuntimeError("release unlocked lock")
            # a Lock may be released by another thread than the one that acquired it
            owners = _registry.owners.get(id(self), {})
            me = threading.get_ident()
            self._note_released(me if me in owners else next(iter(owners), me), all_levels=True)
            self._lock.release()

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()
        _registry.owners.pop(id(self), None)


class TracedRLock(_TracedBase):
    """A drop-in ``threading.RLock`` (also under ``threading.Condition``) that records owner and waiters."""

    kind = "RLock"

    def __init__(self):
        super().__init__()
        self._lock = _RawRLock()

    # Condition.wait() releases an RLock completely and restores it afterwards through these
    def _release_save(self):
        me = threading.get_ident()
        state = self._lock._release_save()
        self._note_released(me, all_levels=True)
        return state

    def _acquire_restore(self, state):
        me = threading.get_ident()
        with _registry.guard:
            _registry.waiting[me] = self
        try:
            self._lock._acquire_restore(state)
        finally:
            with _registry.guard:
                _registry.waiting.pop(me, None)
        count = state[0] if isinstance(state, tuple) else 1
        with _registry.guard:
            owners = _registry.owners.setdefault(id(self), {})
            owners[me] = count
            _registry.locks[id(self)] = self

    def _is_owned(self):
        return self._lock._is_owned()

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()
        _registry.owners.pop(id(self), None)


def _traced_lock_factory(*args, **kwargs):
    return TracedLock(*args, **kwargs)


def _traced_rlock_factory(*args, **kwargs):
    return TracedRLock(*args, **kwargs)


_patch_guard = _allocate_lock()
_patch_depth = 0


@contextlib.contextmanager
def traced_locks():
    """Inside the block, ``threading.Lock()``, ``threading.RLock()`` and the locks that
    ``threading.Condition``, ``Semaphore``, ``Event``, ``Barrier`` and ``queue.Queue`` make for
    themselves are :class:`TracedLock`/:class:`TracedRLock`: same behaviour, plus a record of who
    holds and who waits for each, which :func:`lock_report` prints. Locks made inside keep working
    (and reporting) after the block; ``threading.Lock``/``RLock`` are restored on exit.
    """
    global _patch_depth
    with _patch_guard:
        if _patch_depth == 0:
            threading.Lock = _traced_lock_factory
            threading.RLock = _traced_rlock_factory
        _patch_depth += 1
    try:
        yield _registry
    finally:
        with _patch_guard:
            _patch_depth -= 1
            if _patch_depth == 0:
                threading.Lock = _ORIGINAL_LOCK
                threading.RLock = _ORIGINAL_RLOCK


def _restore_locks():
    global _patch_depth
    with _patch_guard:
        _patch_depth = 0
        threading.Lock = _ORIGINAL_LOCK
        threading.RLock = _ORIGINAL_RLOCK


def _thread_name(ident: int) -> str:
    for t in threading.enumerate():
        if t.ident == ident:
            return t.name
    return f"thread {ident}"


def _records() -> tuple[dict, dict, dict]:
    """(owners, locks, waiting) of the traced locks, copied at one moment."""
    with _registry.guard:
        owners = {lock_id: dict(holders) for lock_id, holders in _registry.owners.items()}
        return owners, dict(_registry.locks), dict(_registry.waiting)


def wait_for_graph(locks: Iterable | None = None) -> dict[int, int]:
    """The wait-for graph of the traced locks (only of ``locks``, if given), right now.

    ``{ident of a waiting thread: ident of a thread holding the lock it waits for}``. A thread that
    waits for a ``Lock`` it holds itself points to itself: a deadlock of one.
    """
    owners, _, waiting = _records()
    wanted = None if locks is None else {id(lock) for lock in locks}
    graph = {}
    for ident, lock in waiting.items():
        if wanted is not None and id(lock) not in wanted:
            continue
        holders = list(owners.get(id(lock), {}))
        others = [h for h in holders if h != ident]
        if holders:
            graph[ident] = (others or holders)[0]
    return graph


def find_cycle(graph: dict) -> list | None:
    """A cycle in a wait-for graph (each node waits for at most one other), or None.

    ``{"t1": "t2", "t2": "t1"}`` gives ``["t1", "t2"]``: t1 waits for t2, which waits for t1. The
    cycle starts from its smallest node and follows the waits, so the same deadlock is always
    reported the same way; a node that waits for itself is a cycle of one.
    """
    try:
        starts = sorted(graph)
    except TypeError:  # nodes that cannot be compared: keep the graph's order
        starts = list(graph)
    for start in starts:
        path, node = [], start
        while node in graph and node not in path:
            path.append(node)
            node = graph[node]
        if node in path:
            cycle = path[path.index(node) :]
            try:
                first = cycle.index(min(cycle))
            except TypeError:
                first = 0
            return cycle[first:] + cycle[:first]
    return None


def lock_report(idents: Iterable[int] | None = None) -> list[str]:
    """Lines saying, for traced locks, which thread holds what and waits for what (and any cycle)."""
    owners, locks, waiting = _records()
    wanted = set(idents) if idents is not None else None
    threads = set(waiting)
    for holders in owners.values():
        threads.update(holders)
    if wanted is not None:
        threads &= wanted
    lines = []
    graph = {}
    for ident in sorted(threads, key=_thread_name):
        held = [locks[i].label for i, holders in owners.items() if ident in holders and i in locks]
        text = f"'{_thread_name(ident)}' holds {', '.join(held) if held else 'no traced lock'}"
        lock = waiting.get(ident)
        if lock is not None:
            holders = [h for h in owners.get(id(lock), {}) if h != ident]
            by = ", ".join(f"'{_thread_name(h)}'" for h in holders) if holders else "nobody (or itself)"
            text += f" and waits for {lock.label}, held by {by}"
            if holders:
                graph[ident] = holders[0]
        lines.append(text)
    cycle = find_cycle(graph)
    if cycle:
        lines.append(
            "deadlock: " + " -> ".join(f"'{_thread_name(t)}'" for t in [*cycle, cycle[0]]) + " (each waits for the next)"
        )
    return lines


# --- race amplification ---------------------------------------------------------------------------

_code_is_library: dict = {}
_store_offsets: dict = {}
_STORES = frozenset(
    dis.opmap[name]
    for name in ("STORE_ATTR", "STORE_SUBSCR", "STORE_GLOBAL", "STORE_DEREF", "STORE_NAME", "DELETE_SUBSCR", "DELETE_ATTR")
    if name in dis.opmap
)
_yield_every = 0  # give up the GIL before every n-th store (0: never)
_stores_total = 0  # stores reached in traced code (all threads; a lost update here and there is harmless)
_sleep = time.sleep
# time.sleep(0) may give the GIL back to the same thread at once (measured on 3.10: racy counters
# caught 13-23/40 at 2 threads x 200 increments); a real, tiny sleep lets another thread in
_YIELD_SECONDS = 1e-6
_YIELD_WAIT = 0.0005
_start_delay = 0.0
_last_start = 0.0


def _offsets_of_stores(code) -> frozenset:
    offsets = _store_offsets.get(code)
    if offsets is None:
        offsets = _store_offsets[code] = frozenset(i.offset for i in dis.get_instructions(code) if i.opcode in _STORES)
    return offsets


def _opcode_tracer(frame, event, arg):
    # a tiny switch interval lets another thread in before (almost) any bytecode of the learner's code;
    # giving up the GIL right before each write to shared state (attribute, item, global, closure
    # variable) makes sure the window between a read and its write-back is open every time
    # (every n-th store of all those reached: a loop with exactly two stores and n=4 may then yield at
    # one of them only, whichever the stores run before decide; give such code yield_every=1)
    global _stores_total
    if event == "opcode" and _yield_every and frame.f_lasti in _offsets_of_stores(frame.f_code):
        _stores_total += 1
        seen = _stores_total
        if seen % _yield_every == 0:
            # wait (briefly) until some other thread reaches a store too: with only two threads a
            # plain yield often found the other one asleep in its own yield
            give_up = time.monotonic() + _YIELD_WAIT
            while True:
                _sleep(_YIELD_SECONDS)
                if _stores_total != seen or time.monotonic() >= give_up:
                    break
    return _opcode_tracer


def _new_thread_tracer(frame, event, arg):
    """What threading.settrace installs: trace the thread from now on, after a pause at its start
    that lasts until no other thread has started for ``_start_delay`` seconds (at most ten times
    that), so the threads a test starts one after another really run at the same time."""
    global _last_start
    sys.settrace(_call_tracer)
    if _start_delay:
        now = _last_start = time.monotonic()
        give_up = now + 10 * _start_delay
        while now < give_up:
            wait = _last_start + _start_delay - now
            if wait <= 0:
                break
            _sleep(min(wait, 0.0001))
            now = time.monotonic()
    return _call_tracer(frame, event, arg)


def _call_tracer(frame, event, arg):
    """Global trace function: trace every bytecode of the learner's (and tests') code, skip libraries."""
    code = frame.f_code
    skip = _code_is_library.get(code)
    if skip is None:
        skip = _code_is_library[code] = _is_library(code.co_filename)
    if skip:
        return None
    # f_trace first: on 3.12 setting f_trace_opcodes before the frame has a local trace function
    # turns on no opcode events at all (3.13: only from the second call on)
    frame.f_trace = _opcode_tracer
    frame.f_trace_opcodes = True
    return _opcode_tracer


def _prime_opcode_events():
    """On 3.12, opcode events reach a frame only once the interpreter has seen some frame ask for
    them *and* sys.settrace was called after that: ask once, on a throwaway frame, before tracing."""

    def throwaway():
        return None

    def ask(frame, event, arg):
        frame.f_trace_opcodes = True

    previous = sys.gettrace()
    sys.settrace(ask)
    try:
        throwaway()
    finally:
        sys.settrace(previous)


@contextlib.contextmanager
def amplified_races(switch_interval: float = 1e-6, trace: bool = True, yield_every: int = 4, start_delay: float = 0.002):
    """Make thread switches happen between almost any two bytecodes of the learner's code inside the block.

    Sets ``sys.setswitchinterval(switch_interval)`` and (with ``trace``) installs an opcode-level
    trace function in the current thread and, through ``threading.settrace``, in every thread
    started inside the block; with ``yield_every=n`` (n > 0) that trace function also gives up the
    GIL right before every n-th store to an attribute, item, global or closure variable in the
    learner's code, until another thread reaches a store too or 0.5 ms pass (n=1: before each one,
    slowest for a correct locked solution; use it for a loop with exactly two stores, whose race
    window may lie before the one that n=4 never yields at), and each thread started
    inside the block pauses at its start until no thread has started for ``start_delay`` seconds,
    so threads started one after another really overlap.
    Together they open every read-modify-write window, so a racy counter loses updates in every
    run instead of now and then (measured in tests/test_labcheck.py: 4 threads x 300 increments,
    every run on Python 3.10-3.13; use 4 threads or more: with 2, 96-100 runs of 100 on a loaded
    2-core machine). Library code (the standard library,
    site-packages, threadlab) is not traced, and the tracing makes the learner's code 10-100x
    slower: keep workloads small inside the block.
    Everything is restored when the last open block exits (blocks may overlap: a check that timed
    out inside one may leave it while the next test is inside its own, and changes nothing then);
    threads still running after the block keep their tracing until they end (slower, not wrong).
    """
    global _base_state
    old_trace = sys.gettrace()
    token = object()
    with _blocks_lock:
        if not _blocks:
            _base_state = _current_state()
        _, thread_trace, every, delay = _current_state()
        if trace:
            _prime_opcode_events()
            every, delay, thread_trace = max(0, int(yield_every)), max(0.0, float(start_delay)), _new_thread_tracer
        _blocks[token] = (switch_interval, thread_trace, every, delay)
        _apply_state(_blocks[token])
    if trace:
        sys.settrace(_call_tracer)
    try:
        yield
    finally:
        if trace:
            sys.settrace(old_trace)
        with _blocks_lock:
            # a block a timed-out check abandoned was already undone (_restore_amplification): its
            # late exit must not undo the block another test has open now
            if _blocks.pop(token, None) is not None:
                _apply_state(list(_blocks.values())[-1] if _blocks else _base_state)


# the open amplified_races() blocks, oldest first (a test running in one thread, a timed-out one still
# running in another), their settings, and the settings from before the first one
_blocks: dict = {}
_blocks_lock = threading.Lock()
_base_state = None


def _current_state():
    return sys.getswitchinterval(), threading.gettrace(), _yield_every, _start_delay


def _apply_state(state):
    global _yield_every, _start_delay
    interval, thread_trace, _yield_every, _start_delay = state
    sys.setswitchinterval(interval)
    threading.settrace(thread_trace)


def _amplification_state():
    """A mark to give :func:`_restore_amplification`: the amplified_races() blocks open now."""
    with _blocks_lock:
        return set(_blocks)


def _restore_amplification(mark):
    """Close the blocks opened since ``mark`` (by a test that timed out inside them)."""
    with _blocks_lock:
        opened = [token for token in _blocks if token not in mark]
        for token in opened:
            del _blocks[token]
        if opened:
            _apply_state(list(_blocks.values())[-1] if _blocks else _base_state)


# --- running tests under a timeout ------------------------------------------------------------------


class StopStuckThread(BaseException):
    """Raised asynchronously in a thread that kept spinning after its check timed out."""


def _cpu_ticks(native_id) -> int | None:
    try:
        with open(f"/proc/self/task/{native_id}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError, TypeError):
        return None


def _busy_threads(threads: list[threading.Thread], window: float = 0.3) -> dict[int, bool | None]:
    """{ident: True if the thread used CPU during ``window`` seconds (spinning), False if blocked, None if unknown}."""
    before = {t.ident: _cpu_ticks(t.native_id) for t in threads}
    frames_before = {ident: _frame_position(ident) for ident in before}
    time.sleep(window)
    result = {}
    for t in threads:
        start, end = before[t.ident], _cpu_ticks(t.native_id)
        if start is not None and end is not None:
            result[t.ident] = end - start >= 2  # clock ticks, usually 10 ms each
        else:
            position = _frame_position(t.ident)
            result[t.ident] = None if position is None else position != frames_before[t.ident]
    return result


def _frame_position(ident):
    frame = sys._current_frames().get(ident)
    return None if frame is None else (id(frame), frame.f_lasti)


def _format_stack(ident: int, limit: int = 4) -> list[str]:
    """The last few lines of the learner's/test's code a thread is in, then the library call it is inside."""
    frame = sys._current_frames().get(ident)
    if frame is None:
        return ["(finished)"]
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()  # outermost first
    mine = [i for i, f in enumerate(frames) if not _is_library(f.f_code.co_filename)]
    if not mine:
        code = frames[-1].f_code
        return [f"inside {_qualname(code)} ({os.path.basename(code.co_filename)})"]
    lines = [_where(f.f_code.co_filename, f.f_lineno, f.f_code.co_name) for f in (frames[i] for i in mine[-limit:])]
    if mine[-1] + 1 < len(frames):
        called = frames[mine[-1] + 1].f_code  # the library function the learner's code called
        waited = _registry.waiting.get(ident)
        if waited is not None:
            lines.append(f"waiting to acquire {waited.label}")
        elif os.path.realpath(called.co_filename) == os.path.realpath(__file__):
            lines.append("inside a traced lock")
        else:
            lines.append(f"inside {_qualname(called)}() ({os.path.basename(called.co_filename)})")
    return lines


def _qualname(code) -> str:
    return getattr(code, "co_qualname", code.co_name)


def _async_raise(ident: int, exc_type) -> bool:
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))
    if done > 1:  # should never happen: undo
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
        return False
    return done == 1


def thread_report(threads: list[threading.Thread], stop_spinning: bool = True) -> list[str]:
    """Lines describing stuck threads: blocked or spinning, their stacks, and traced-lock ownership."""
    threads = [t for t in threads if t.is_alive() and t.ident is not None]
    if not threads:
        return []
    busy = _busy_threads(threads)
    lines = []
    spinning = []
    for t in threads:
        state = {
            True: "is running (using CPU: a busy loop?)",
            False: "is blocked (waiting, using no CPU)",
            None: "is stuck",
        }[busy[t.ident]]
        lines.append(f"thread '{t.name}' {state}, at:")
        lines.extend("    " + s for s in _format_stack(t.ident))
        if busy[t.ident]:
            spinning.append(t)
    lines.extend(lock_report([t.ident for t in threads]))
    if spinning and stop_spinning:
        for t in spinning:
            _async_raise(t.ident, StopStuckThread)
        deadline = time.monotonic() + 0.5
        for t in spinning:
            t.join(max(0.0, deadline - time.monotonic()))
        still = [t.name for t in spinning if t.is_alive()]
        stopped = [t.name for t in spinning if not t.is_alive()]
        if stopped:
            lines.append(f"stopped the spinning thread(s) {', '.join(stopped)}")
        if still:
            lines.append(
                f"still running in the background as daemon thread(s): {', '.join(still)}; later checks will be slower "
                "until you restart the kernel"
            )
    return lines


class OverLimit(BaseException):
    """Raised asynchronously in a test's threads when the test used too much memory or too many processes."""


# limits while one test runs (in the notebook; the batch grader adds OS limits of its own)
MEMORY_LIMIT_MB = 1024  # growth of the kernel's resident memory
PROCESS_LIMIT = 64  # child processes started and still alive


class _Watch:
    """Samples the kernel's memory and child processes while a test runs."""

    def __init__(self):
        try:
            import psutil

            self.process = psutil.Process()
            self.base_rss = self.process.memory_info().rss
            self.base_children = {c.pid for c in self.process.children(recursive=True)}
        except Exception:  # no psutil or no /proc: no resource limits, timeouts still apply
            self.process = None
        self.next_children_check = 0.0

    def new_children(self) -> list:
        if self.process is None:
            return []
        try:
            return [c for c in self.process.children(recursive=True) if c.pid not in self.base_children]
        except Exception:
            return []

    def over_limit(self) -> str | None:
        if self.process is None:
            return None
        try:
            grown = (self.process.memory_info().rss - self.base_rss) / 2**20
        except Exception:
            return None
        if grown > MEMORY_LIMIT_MB:
            return f"it used more than {MEMORY_LIMIT_MB} MB of memory (a list or string that never stops growing?)"
        now = time.monotonic()
        if now >= self.next_children_check:
            self.next_children_check = now + 0.2
            if len(self.new_children()) > PROCESS_LIMIT:
                return f"it started more than {PROCESS_LIMIT} processes (processes that start processes?)"
        return None

    def kill_children(self) -> int:
        """Kill the processes started during the test (repeatedly: they may be starting more)."""
        killed = set()
        for _ in range(5):
            children = self.new_children()
            if not children:
                break
            for child in children:
                with contextlib.suppress(Exception):
                    child.kill()
                    killed.add(child.pid)
            time.sleep(0.05)
        return len(killed)


def _stop_threads(threads, exc_type, wait: float = 1.0) -> list[threading.Thread]:
    """Raise ``exc_type`` in each thread; the ones still alive after ``wait`` seconds."""
    for t in threads:
        if t.is_alive() and t.ident is not None:
            _async_raise(t.ident, exc_type)
    deadline = time.monotonic() + wait
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def _run_one(test, timeout: float, trace_locks: bool) -> Result:
    name = _test_name(test)
    before = set(threading.enumerate())
    box: dict = {}
    amplification = _amplification_state()
    old_excepthook = threading.excepthook
    thread_errors: list = []
    quiet = (StopStuckThread, OverLimit)

    def hook(args):
        if args.thread is not None and args.thread not in before and args.exc_type not in quiet:
            thread_errors.append(args)  # shown in the test's verdict instead of a traceback on stderr
        elif args.exc_type not in quiet:
            old_excepthook(args)

    def target():
        try:
            box["value"] = test()
        except BaseException as exc:  # reported to the learner
            box["error"] = exc
        finally:
            box["done"] = True

    def started_by_test():
        return [runner] + [t for t in threading.enumerate() if t not in before and t is not runner and t.is_alive()]

    runner = threading.Thread(target=target, name=f"check: {name}", daemon=True)
    patch = traced_locks() if trace_locks else contextlib.nullcontext()
    watch = _Watch()
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    threading.excepthook = hook
    try:
        with patch:
            runner.start()
            over = None
            while runner.is_alive() and over is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                runner.join(min(0.05, remaining))
                if runner.is_alive():
                    over = watch.over_limit()
            seconds = time.perf_counter() - started
            if over is not None:
                threads = started_by_test()
                for t in threads:  # stop them first, so they start no more processes
                    if t.is_alive() and t.ident is not None:
                        _async_raise(t.ident, OverLimit)
                time.sleep(0.05)
                killed = watch.kill_children()
                still = _stop_threads(threads, OverLimit)
                _restore_amplification(amplification)
                details = [f"killed {killed} process(es) it started"] if killed else []
                if still:
                    details.append(f"still running in the background: {', '.join(t.name for t in still)}")
                return Result(name, "error", f"stopped: {over}", details, seconds)
            if runner.is_alive():
                details = thread_report(started_by_test())
                killed = watch.kill_children()
                if killed:
                    details.append(f"killed {killed} process(es) it started")
                # a test abandoned inside amplified_races() never ran its exit: undo it here
                _restore_amplification(amplification)
                return Result(name, "timed out", f"after {timeout:g} s: deadlock or busy loop?", details, seconds)
    finally:
        threading.excepthook = old_excepthook
        # timed out, stopped, or the learner interrupted the kernel (not runner.is_alive(): on 3.11
        # and 3.12 an interrupted join() can make a running thread say it is not alive)
        if not box.get("done"):
            _restore_amplification(amplification)
            if trace_locks:
                _restore_locks()
    error = box.get("error")
    if error is None:
        return Result(name, "passed", seconds=seconds)
    status, message = _classify(test, error)
    details = []
    for args in thread_errors[:3]:
        where = _learner_frame(args.exc_traceback)
        place = f" ({_where(where.filename, where.lineno, where.name)})" if where else ""
        details.append(f"thread '{args.thread.name}' died with {args.exc_type.__name__}: {args.exc_value}{place}")
    return Result(name, status, message, details, seconds)


def check_exercise(
    title: str, tests: Iterable[Callable[[], object]], timeout: float = 5.0, trace_locks: bool = True
) -> Report:
    """Run each zero-argument test under ``timeout`` seconds, print one line per test, raise
    :class:`CheckFailed` if any did not pass, else return a true :class:`Report`.

    With ``trace_locks`` (the default) locks created while a test runs are traced (see
    :func:`traced_locks`), so a timeout report says who holds and who waits for which lock.
    """
    tests = list(tests)
    print(title)
    results = []
    for test in tests:
        result = _run_one(test, timeout, trace_locks)
        results.append(result)
        print(result, flush=True)
    report = Report(title, results)
    if not report:
        raise CheckFailed(report)
    return report
