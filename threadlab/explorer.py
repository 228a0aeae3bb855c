"""Be the scheduler: run real Python threads one bytecode instruction at a time.

A :class:`Program` is a few thread bodies (ordinary functions) sharing a state object. The
explorer runs each body on a real :class:`threading.Thread`, but under a controller that lets
exactly one thread advance by one *step* at a time: one bytecode instruction (``sys.settrace``
with ``frame.f_trace_opcodes``), one source line in ``mode="line"``, or, in ``mode="sync"``, all the
code from one call of an explorer primitive to the next (far fewer steps: enough for code whose
threads share nothing but locks and the like, such as the dining philosophers). Only frames of the files
the bodies come from are traced; library code runs inside the step that called it.

The explored code synchronises with the explorer's own :class:`Lock`, :class:`RLock`,
:class:`Condition`, :class:`Event`, :class:`Semaphore` and :class:`Queue`. They behave like the
``threading`` (and ``queue``) ones, except that a thread that would block is *parked* as "blocked
on lock a" and control goes back to the controller, so a deadlock is seen (every live thread
blocked) instead of hanging.
Explored code may start threads of its own with the explorer's :class:`Thread`: each becomes a
thread of the run, numbered after the ones it has, scheduled like the bodies (at most 10 in all).

A schedule is a list of thread indices, written as a string such as ``"0011010"``. Replaying it
from a fresh state gives the same outcome every time, so undo is "replay the prefix". Every run
ends its threads (parked ones are woken with :class:`Aborted`), so nothing outlives a replay::

    prog = Program(add, add, setup=lambda: State(v=0), final=lambda s: s.v == 2)
    prog.replay("0000011111").outcome      # completed
    prog.search(bound=2)                   # finds the lost update, counts schedules

:meth:`Program.search` explores schedules systematically with preemption bounding (as in
Microsoft's CHESS): every schedule with at most ``bound`` preemptions, fewest first.
"""

from __future__ import annotations

import dis
import heapq
import inspect
import queue as _queue
import sys
import threading
import time
from _thread import allocate_lock
from dataclasses import dataclass, field
from typing import Callable

__all__ = [
    "Aborted",
    "BoundedSemaphore",
    "Condition",
    "Event",
    "GuardedState",
    "Lock",
    "Outcome",
    "Program",
    "Queue",
    "RLock",
    "Run",
    "SearchResult",
    "Semaphore",
    "SimpleQueue",
    "State",
    "Thread",
    "active_count",
    "current_run",
    "current_thread",
    "enumerate_threads",
    "explored_thread",
    "get_ident",
    "parse_schedule",
    "pause",
    "schedule_string",
    "show",
]

# instructions that do nothing a scheduler could care about: merged into the previous step
SKIPPED_OPS = frozenset(
    {
        "RESUME",
        "RESUME_CHECK",
        "NOP",
        "CACHE",
        "EXTENDED_ARG",
        "COPY_FREE_VARS",
        "MAKE_CELL",
        "PUSH_NULL",
        "PRECALL",
        "KW_NAMES",
        "NOT_TAKEN",
    }
)
# instructions that touch nothing another thread can see (the frame's own stack and locals):
# a preemption just before one is equivalent to a preemption just after it, so the search skips
# it there (a partial-order reduction; stepping by hand still stops at every instruction)
LOCAL_OPS = frozenset(
    {
        "LOAD_FAST",
        "LOAD_FAST_CHECK",
        "LOAD_FAST_AND_CLEAR",
        "LOAD_FAST_LOAD_FAST",
        "STORE_FAST",
        "STORE_FAST_LOAD_FAST",
        "STORE_FAST_STORE_FAST",
        "LOAD_CONST",
        "LOAD_SMALL_INT",
        "RETURN_CONST",
        "RETURN_VALUE",
        "COPY",
        "SWAP",
        "POP_TOP",
        "LOAD_METHOD",
        "END_FOR",
        "POP_JUMP_IF_NONE",
        "POP_JUMP_IF_NOT_NONE",
        "JUMP_FORWARD",
        "JUMP_BACKWARD",
        "JUMP_BACKWARD_NO_INTERRUPT",
        "JUMP",
        "JUMP_NO_INTERRUPT",
    }
)
STEP_TIMEOUT = 5.0  # seconds a thread may take to come back from one step before the run is declared stuck
_HERE = __file__
_current = threading.local()  # .run and .index, set in every explored thread


class Aborted(BaseException):
    """Raised inside an explored thread to end it when its run is torn down."""


class StuckError(RuntimeError):
    """A thread did not come back from a step (a real blocking call in the explored code?)."""


def schedule_string(schedule) -> str:
    return "".join(str(i) for i in schedule)


def parse_schedule(text) -> list[int]:
    """``"0011 010"`` -> ``[0, 0, 1, 1, 0, 1, 0]`` (spaces, commas and underscores are ignored)."""
    if not isinstance(text, str):
        return [int(i) for i in text]
    digits = [c for c in text if c not in " ,_-\n\t"]
    bad = [c for c in digits if not c.isdigit()]
    if bad:
        raise ValueError(f"a schedule is a string of thread numbers such as '0011010', not {text!r}")
    return [int(c) for c in digits]


class State:
    """The shared state of an explored program: attributes, shown in order of creation."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def shared(self) -> dict:
        return {k: v for k, v in vars(self).items() if not isinstance(v, Primitive) and not callable(v)}

    def primitives(self) -> dict:
        return {k: v for k, v in vars(self).items() if isinstance(v, Primitive)}

    def __repr__(self):
        inner = ", ".join(f"{k}={show(v)}" for k, v in self.shared().items())
        return f"State({inner})"


def _me():
    return getattr(_current, "run", None), getattr(_current, "index", None)


def current_run() -> Run | None:
    """The :class:`Run` that the calling code belongs to: in an explored thread, its run; in an
    ``invariant`` or ``final`` check, the run being checked (whose ``errors`` lists the exceptions
    of the threads started during the run); elsewhere None. Calling it is not a point where
    another thread may go first."""
    run = getattr(_current, "run", None)
    return run if run is not None else getattr(_current, "checking", None)


def _sync_point(releasing: bool = False, guard=None):
    """Called first by every public operation of a primitive: in a run in mode "sync", a point
    where another thread may go first (not when a primitive calls another: one operation, one point).

    The search does not switch threads just before an operation that ``releasing`` a lock, nor
    before one on a condition whose lock (``guard``) the thread holds (wait, notify): until it is
    done the others could not take that lock anyway, and nothing else they do depends on it (they
    would only block), so a switch there reaches no state a switch elsewhere does not."""
    run, me = _me()
    if run is not None and run.mode == "sync" and sys._getframe(2).f_code.co_filename != _HERE:
        run._sync(me, releasing or (guard is not None and guard._is_owned()))


def explored_thread() -> int | None:
    """The number of the explored thread that is running this code, or None outside a run."""
    run, index = _me()
    return index if run is not None else None


class GuardedState(State):
    """A :class:`State` whose listed attributes may only change while the changing thread holds
    the locks that guard them: ``GuardedState({"moved": ("left", "right")}, moved=0, left=Lock(),
    right=Lock())``. An explored thread that changes ``moved`` without holding both raises
    ``AssertionError`` (so the run fails, naming the thread and the lock it did not hold); changes
    made outside a run (the setup) are not checked.
    """

    def __init__(self, guards: dict, **values):
        object.__setattr__(self, "_guards", {name: tuple(locks) for name, locks in guards.items()})
        super().__init__(**values)

    def __setattr__(self, name, value):
        me = explored_thread()
        if me is not None:
            for lock in self._guards.get(name, ()):
                guard = getattr(self, lock)
                if getattr(guard, "lock", guard).owner != me:  # a Condition is guarded by its lock
                    raise AssertionError(f"thread {me} changed s.{name} without holding s.{lock}")
        object.__setattr__(self, name, value)

    def shared(self) -> dict:
        return {k: v for k, v in super().shared().items() if k != "_guards"}


# --------------------------------------------------------------------------- primitives


def show(value, depth: int = 0) -> str:
    """``repr`` of a shared value, except that an object of a class without a ``__repr__`` of its
    own is shown by its attributes (``Counter(_value=1, _lock=free)``) instead of its address, so
    the same state is shown the same way in every run; a primitive shows how it stands."""
    if isinstance(value, Primitive):
        return value.describe()
    cls = type(value)
    if depth < 2 and cls.__repr__ is object.__repr__ and hasattr(value, "__dict__"):
        inner = ", ".join(f"{k}={show(v, depth + 1)}" for k, v in vars(value).items() if not callable(v)
                          or isinstance(v, Primitive))
        return f"{cls.__name__}({inner})"
    if depth < 2 and isinstance(value, (list, tuple)) and any(cls.__repr__ is object.__repr__ for cls in map(type, value)):
        inner = ", ".join(show(v, depth + 1) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _owner_name(owner) -> str:
    return "nobody" if owner is None else ("main thread" if owner == "main" else f"thread {owner}")


class Primitive:
    """Base of the explorer-aware synchronisation objects."""

    kind = "primitive"

    def __init__(self, name: str | None = None):
        self.name = name
        run = _me()[0]
        if run is not None:
            run.created.append(self)  # made by explored code during a run: a check may look at it

    def label(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind

    def waiting_text(self) -> str:
        """What a thread blocked on this waits for: ``lock a (held by thread 1)``."""
        return f"{self.label()} ({self.describe()})"

    def _block(self, predicate, timed: bool, seconds: float | None = 0.0) -> bool:
        """Park the calling explored thread until ``predicate()``; False if it timed out instead
        (``timed``: after ``seconds``, which orders the time-outs of a program with ``timeouts="last"``)."""
        run, me = _me()
        if run is None:
            if predicate():
                return True
            if timed:
                return False
            raise RuntimeError(f"{self.label()} would block forever (called outside the explorer)")
        return run._block(me, self, predicate, timed, seconds)


class Lock(Primitive):
    """Like ``threading.Lock``; a blocked acquire parks the thread as 'blocked on lock NAME'."""

    kind = "lock"

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.owner = None

    def _who(self):
        run, me = _me()
        return "main" if run is None else me

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _sync_point()
        while self.owner is not None:
            if not blocking:
                return False
            if not self._block(lambda: self.owner is None, timed=timeout is not None and timeout >= 0, seconds=timeout):
                return False
        self.owner = self._who()
        return True

    def release(self):
        _sync_point(releasing=True)
        if self.owner is None:
            raise RuntimeError("release unlocked lock")
        self.owner = None

    def locked(self) -> bool:
        _sync_point()
        return self.owner is not None

    __enter__ = acquire

    def __exit__(self, *exc):
        _sync_point(releasing=True)
        self.release()

    def _release_save(self):
        self.release()
        return None

    def _acquire_restore(self, saved):
        self.acquire()

    def _is_owned(self) -> bool:
        return self.owner is not None and self.owner == self._who()

    def describe(self) -> str:
        return f"held by {_owner_name(self.owner)}" if self.owner is not None else "free"

    def __repr__(self):
        return f"<explorer {self.label()}: {self.describe()}>"


class RLock(Lock):
    """Like ``threading.RLock``: the owner may acquire again; only its last release frees it."""

    kind = "rlock"

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _sync_point()
        me = self._who()
        if self.owner == me:
            self.count += 1
            return True
        if not super().acquire(blocking, timeout):
            return False
        self.count = 1
        return True

    __enter__ = acquire

    def release(self):
        _sync_point(releasing=True)
        if self.owner is None or self.owner != self._who():
            raise RuntimeError("cannot release un-acquired lock")
        self.count -= 1
        if self.count == 0:
            self.owner = None

    def _release_save(self):
        if not self._is_owned():
            raise RuntimeError("cannot release un-acquired lock")
        saved, self.count, self.owner = self.count, 0, None
        return saved

    def _acquire_restore(self, saved):
        Lock.acquire(self)
        self.count = saved

    def describe(self) -> str:
        if self.owner is None:
            return "free"
        return f"held by {_owner_name(self.owner)} ({self.count}x)"


class Condition(Primitive):
    """Like ``threading.Condition``: ``wait`` releases the lock, parks until notified, re-acquires."""

    kind = "condition"

    def __init__(self, lock: Lock | None = None, name: str | None = None):
        super().__init__(name)
        self.lock = RLock() if lock is None else lock
        self.waiters: list[list] = []  # [thread index, notified?]

    def acquire(self, *args, **kwargs):
        _sync_point()
        return self.lock.acquire(*args, **kwargs)

    def release(self):
        _sync_point(releasing=True)
        self.lock.release()

    def __enter__(self):
        _sync_point()
        return self.lock.acquire()

    def __exit__(self, *exc):
        _sync_point(releasing=True)
        self.lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        _sync_point(guard=self.lock)
        if not self.lock._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        token = [self.lock._who(), False]
        self.waiters.append(token)
        saved = self.lock._release_save()
        try:
            notified = self._block(lambda: token[1], timed=timeout is not None, seconds=timeout)
        finally:
            if token in self.waiters:
                self.waiters.remove(token)
            self.lock._acquire_restore(saved)
        return notified

    def wait_for(self, predicate, timeout: float | None = None):
        _sync_point(guard=self.lock)
        result = predicate()
        while not result:
            if not self.wait(timeout) and timeout is not None:
                return predicate()
            result = predicate()
        return result

    def notify(self, n: int = 1):
        _sync_point(guard=self.lock)
        if not self.lock._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        for token in self.waiters[:n]:
            token[1] = True
        del self.waiters[:n]

    def notify_all(self):
        _sync_point(guard=self.lock)
        self.notify(len(self.waiters))

    def describe(self) -> str:
        waiting = ", ".join(str(t[0]) for t in self.waiters)
        return f"waiting: thread {waiting}" if waiting else "nobody waiting"

    def __repr__(self):
        return f"<explorer {self.label()}: {self.describe()}>"


class Event(Primitive):
    """Like ``threading.Event``. A ``set()`` wakes the threads waiting at that moment, even if
    ``clear()`` follows at once (as in CPython); a thread that starts waiting later sees the flag."""

    kind = "event"

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.flag = False
        self.generation = 0

    def is_set(self) -> bool:
        _sync_point()
        return self.flag

    def set(self):
        _sync_point()
        self.flag = True
        self.generation += 1

    def clear(self):
        _sync_point()
        self.flag = False

    def wait(self, timeout: float | None = None) -> bool:
        _sync_point()
        if self.flag:
            return True
        seen = self.generation
        woke = self._block(lambda: self.flag or self.generation != seen, timed=timeout is not None, seconds=timeout)
        return True if woke else self.flag

    def describe(self) -> str:
        return "set" if self.flag else "clear"

    def __repr__(self):
        return f"<explorer {self.label()}: {self.describe()}>"


class Semaphore(Primitive):
    """Like ``threading.Semaphore``."""

    kind = "semaphore"

    def __init__(self, value: int = 1, name: str | None = None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        super().__init__(name)
        self.value = value
        self.initial = value  #: the permits it was made with (a check compares ``value`` to it)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        _sync_point()
        while self.value == 0:
            if not blocking:
                return False
            if not self._block(lambda: self.value > 0, timed=timeout is not None, seconds=timeout):
                return False
        self.value -= 1
        return True

    __enter__ = acquire

    def release(self, n: int = 1):
        _sync_point()
        self.value += n

    def __exit__(self, *exc):
        _sync_point()
        self.release()

    def describe(self) -> str:
        return f"value {self.value}"

    def __repr__(self):
        return f"<explorer {self.label()}: {self.describe()}>"


class BoundedSemaphore(Semaphore):
    """Like ``threading.BoundedSemaphore``: releasing above the initial value is an error."""

    def release(self, n: int = 1):
        _sync_point()
        if self.value + n > self.initial:
            raise ValueError("Semaphore released too many times")
        self.value += n


class Queue(Primitive):
    """Like ``queue.Queue`` (FIFO; ``maxsize`` > 0 bounds it): ``get`` on an empty queue and ``put``
    on a full one park the thread ("blocked on queue"); a timeout makes them raise ``queue.Empty``
    or ``queue.Full`` in the schedules where nothing arrives. ``task_done``/``join`` as in the
    standard library. Each operation is one step: the explorer never stops a thread inside one."""

    kind = "queue"

    def __init__(self, maxsize: int = 0, name: str | None = None):
        super().__init__(name)
        self.maxsize = maxsize
        self.items: list = []
        self.unfinished = 0

    def _full(self) -> bool:
        return 0 < self.maxsize <= len(self.items)

    def put(self, item, block: bool = True, timeout: float | None = None):
        _sync_point()
        while self._full():
            if not block or not self._block(lambda: not self._full(), timed=timeout is not None, seconds=timeout):
                raise _queue.Full
        self.items.append(item)
        self.unfinished += 1

    def get(self, block: bool = True, timeout: float | None = None):
        _sync_point()
        while not self.items:
            if not block or not self._block(lambda: bool(self.items), timed=timeout is not None, seconds=timeout):
                raise _queue.Empty
        return self.items.pop(0)

    def put_nowait(self, item):
        return self.put(item, block=False)

    def get_nowait(self):
        return self.get(block=False)

    def qsize(self) -> int:
        _sync_point()
        return len(self.items)

    def empty(self) -> bool:
        _sync_point()
        return not self.items

    def full(self) -> bool:
        _sync_point()
        return self._full()

    def task_done(self):
        _sync_point()
        if self.unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self.unfinished -= 1

    def join(self):
        _sync_point()
        if self.unfinished:
            self._block(lambda: self.unfinished == 0, timed=False)

    def describe(self) -> str:
        shown = ", ".join(show(item, 1) for item in self.items[:6]) + (", ..." if len(self.items) > 6 else "")
        return f"[{shown}]"

    def __repr__(self):
        return f"<explorer {self.label()}: {self.describe()}>"


class SimpleQueue(Queue):
    """Like ``queue.SimpleQueue``: a Queue without a bound, ``task_done`` or ``join``."""

    def __init__(self, name: str | None = None):
        super().__init__(0, name)


class _Pause(Primitive):
    kind = "pause"

    def describe(self) -> str:
        return "a pause"


_PAUSE = _Pause()


def pause() -> None:
    """A point where the explorer may run another thread, in code it does not step through (a
    fixture's ``eat()`` that takes a while, say). Outside a run it does nothing."""
    if _me()[0] is not None:
        _PAUSE._block(lambda: True, timed=False)


# --------------------------------------------------------------------------- threads started by explored code

MAX_THREADS = 10  #: threads in one run, bodies and started ones together: a schedule has one digit per step
_IDENT_BASE = 1000  #: get_ident() of explored thread i is 1000 + i (never 0, and easy to read back)
_names = iter(range(1, sys.maxsize))  # default names of threads made outside a run


class Thread(Primitive):
    """Like ``threading.Thread``, for code explored in a run: ``start()`` adds a thread to the run
    (numbered after the ones it has) that parks before it runs anything, so the controller
    schedules it like the others; ``join()`` waits through the explorer (a join that can never
    return is a deadlock it reports: "waits for thread 2 to end"). An exception that ends a started
    thread does not fail the program (``threading`` only reports it to ``excepthook``): the run
    records it in ``Run.errors`` and the thread's view shows it. In mode "sync", ``start()``,
    ``join()`` and ``is_alive()`` are points where another thread may go first. Every thread a run
    started has ended when the run is closed.
    """

    kind = "thread"

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        if group is not None:
            raise ValueError("group argument must be None for now")
        run = _me()[0]
        if name is None:
            if run is not None:
                run._named += 1  # per run, so the same schedule gives the same names
                number = run._named
            else:
                number = next(_names)
            name = f"Thread-{number}" + (f" ({target.__name__})" if hasattr(target, "__name__") else "")
        super().__init__(str(name))
        self._target, self._args, self._kwargs = target, tuple(args), dict(kwargs or {})
        self.daemon = bool(daemon)
        self._run: Run | None = None
        self._th: _Thread | None = None

    # the attributes of threading.Thread that code reads
    @property
    def target(self):
        return self._target

    @property
    def args(self):
        return self._args

    @property
    def kwargs(self):
        return self._kwargs

    @property
    def ident(self) -> int | None:
        return None if self._th is None else _IDENT_BASE + self._th.index

    native_id = ident

    @property
    def index(self) -> int | None:
        """Its number in the run (the digit of the schedule), or None before ``start()``."""
        return None if self._th is None else self._th.index

    def run(self):
        """What the thread does: call ``target(*args, **kwargs)`` (a subclass may override it)."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def start(self):
        _sync_point()
        if self._th is not None:
            raise RuntimeError("threads can only be started once")
        run = _me()[0]
        if run is None:
            raise RuntimeError("an explorer Thread starts only inside an explored run (threadlab.explorer.Program)")
        run._spawn(self)

    def join(self, timeout: float | None = None):
        _sync_point()
        if self._th is None:
            raise RuntimeError("cannot join thread before it is started")
        run, me = _me()
        if run is not None and me == self._th.index:
            raise RuntimeError("cannot join current thread")
        if run is not self._run:
            if run is None and self._th.finished:
                return
            raise RuntimeError(f"{self.name} belongs to another run of the explorer")
        if not self._th.finished:
            th = self._th
            self._block(lambda: th.finished, timed=timeout is not None, seconds=timeout)

    def is_alive(self) -> bool:
        _sync_point()
        return self._th is not None and not self._th.finished

    def getName(self) -> str:
        return self.name

    def label(self) -> str:
        return f"thread {self._th.index}" if self._th is not None else f"thread {self.name!r}"

    def waiting_text(self) -> str:
        return f"{self.label()} to end ({self.describe()})"

    def describe(self) -> str:
        th = self._th
        if th is None:
            return "not started"
        if th.status == "failed":
            return f"ended by {type(th.error).__name__}"
        if th.finished or th.status == "aborted":
            return "ended"
        if th.blocked_on is not None and not th.enabled():
            return f"it waits for {th.blocked_on.label()}"
        return "running"

    def __repr__(self):
        return f"<explorer Thread({self.name}, {self.describe()})>"


def current_thread():
    """``threading.current_thread()`` for explored code: the explorer :class:`Thread` running it
    (a Program's bodies get one too, named ``explored-N``); the real one outside a run."""
    run, index = _me()
    if run is None:
        return threading.current_thread()
    th = run.threads[index]
    return th.obj if th.obj is not None else _body_thread(run, th)


def get_ident() -> int:
    """``threading.get_ident()`` for explored code: 1000 + the explored thread's number (the real
    one outside a run)."""
    run, index = _me()
    return threading.get_ident() if run is None else _IDENT_BASE + index


def enumerate_threads() -> list:
    """``threading.enumerate()`` for explored code: the run's threads that have not ended."""
    run = _me()[0]
    if run is None:
        return threading.enumerate()
    return [th.obj if th.obj is not None else _body_thread(run, th) for th in run.threads if not th.finished]


def _body_thread(run, th):
    body = Thread(name=f"explored-{th.index}")
    body._run, body._th = run, th
    th.obj = body
    return body


def active_count() -> int:
    """``threading.active_count()`` for explored code: how many threads of the run have not ended."""
    run = _me()[0]
    return threading.active_count() if run is None else sum(not th.finished for th in run.threads)


# --------------------------------------------------------------------------- one run


@dataclass
class Outcome:
    """How a run stands: ``running``, ``completed``, ``failed``, ``deadlock`` or ``limit``."""

    kind: str
    message: str = ""
    thread: int | None = None

    @property
    def bug(self) -> bool:
        return self.kind in ("failed", "deadlock")

    @property
    def finished(self) -> bool:
        return self.kind != "running"

    def __str__(self):
        return f"{self.kind}: {self.message}" if self.message else self.kind


@dataclass
class ThreadView:
    """Where one thread stands: what the widget draws."""

    index: int
    name: str
    status: str  # ready, blocked, done, failed, aborted
    waiting_for: str = ""
    lineno: int | None = None
    instruction: str = ""
    code_name: str = ""
    source: list = field(default_factory=list)  # lines of the function it is in
    first_lineno: int = 0
    error: str = ""
    parent: int | None = None  #: the thread that started it (None: a body of the Program)
    thread_name: str = ""  #: the ``name`` of an explorer :class:`Thread` started during the run

    @property
    def line(self) -> str:
        if self.lineno is None or not self.source:
            return ""
        i = self.lineno - self.first_lineno
        return self.source[i].strip() if 0 <= i < len(self.source) else ""


class _Thread:
    def __init__(self, index, fn, args, parent: int | None = None, obj: Thread | None = None):
        self.index = index
        self.fn = fn
        self.args = args
        self.parent = parent  # the thread that started it; None for a body of the Program
        self.obj = obj  # its explorer Thread (made on demand for a body: current_thread())
        self.status = "starting"
        self.frame = None  # the explored frame it is parked in
        self.in_call = False  # parked inside a call (a blocking primitive), not before an instruction
        self.releasing = False  # mode "sync": parked just before releasing a lock
        self.blocked_on: Primitive | None = None
        self.predicate = None
        self.timed = False
        self.deadline: float | None = None  # timeouts="last": when its timed wait runs out, in the run's clock
        self.error: BaseException | None = None
        self.go = allocate_lock()  # held = no permission to run
        self.go.acquire()
        self.thread: threading.Thread | None = None

    def enabled(self) -> bool:
        if self.status != "ready":
            return False
        return self.predicate is None or self.timed or bool(self.predicate())

    def can_go_on(self) -> bool:
        """Ready, and not only because a timed wait may time out."""
        return self.status == "ready" and (self.predicate is None or bool(self.predicate()))

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


_instruction_cache: dict = {}


def _instruction_at(code, offset):
    table = _instruction_cache.get(code)
    if table is None:
        table = {ins.offset: ins for ins in dis.get_instructions(code)}
        _instruction_cache[code] = table
    return table.get(offset)


def _function_of(fn):
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return getattr(fn, "__func__", fn)


class Run:
    """One execution of a :class:`Program`, advanced by :meth:`step`; always :meth:`close` it."""

    def __init__(self, program: Program):
        self.program = program
        self.mode = program.mode
        self.patient = getattr(program, "timeouts", "any") == "last"
        self.clock = 0.0  # timeouts="last": seconds that passed while every thread waited
        self.state = program.setup()
        if isinstance(self.state, dict):
            self.state = State(**self.state)
        for name, prim in vars(self.state).items() if hasattr(self.state, "__dict__") else ():
            if isinstance(prim, Primitive) and prim.name is None:
                prim.name = name
        self.files = program.files
        self.schedule: list[int] = []
        self.outcome = Outcome("running")
        self.aborting = False
        self.closed = False
        self.errors: list[tuple[int, BaseException]] = []  #: (thread, exception) of started threads that raised
        self.created: list[Primitive] = []  #: primitives (and threads) the explored code made during the run
        self._named = 0  # threads named Thread-N so far
        self.back = allocate_lock()  # released by a thread when it parks or ends
        self.back.acquire()
        self.threads = [_Thread(i, fn, args) for i, (fn, args) in enumerate(program.threads)]
        try:
            for th in self.threads:
                th.thread = threading.Thread(
                    target=self._worker, args=(th,), name=f"explored-{th.index}", daemon=True
                )
                th.thread.start()
                self._wait_back(th)
            self._evaluate()
        except BaseException:
            self.close()
            raise

    # ---- inside the explored threads

    def _worker(self, th: _Thread):
        _current.run = self
        _current.index = th.index
        tracer = self._make_tracer(th)
        try:
            if th.obj is not None:  # started by explored code: wait to be scheduled before anything
                th.status = "ready"
                th.starting.release()  # (to the thread that called start(), not to the controller)
                th.go.acquire()
                if self.aborting:
                    raise Aborted()
            sys.settrace(tracer)
            try:
                if th.obj is not None:
                    th.obj.run()
                else:
                    th.fn(self.state, *th.args)
            finally:
                sys.settrace(None)
        except Aborted:
            th.status = "aborted"
        except BaseException as exc:  # the explored code failed: the controller reports it
            th.error = exc
            if th.parent is not None:
                self.errors.append((th.index, exc))  # as threading.excepthook would report it
            th.status = "failed"
        else:
            th.status = "done"
        finally:
            th.frame = None
            _current.run = None
            if not self.aborting:
                self.back.release()

    def _spawn(self, obj: Thread) -> None:
        """``obj.start()`` in explored thread ``parent``: a new thread of this run, parked before
        it runs anything. The controller is waiting for the parent to come back; the new thread
        tells the parent (not the controller) that it is parked."""
        if self.aborting:
            raise Aborted()
        parent = _me()[1]
        if len(self.threads) >= MAX_THREADS:
            raise RuntimeError(f"the explorer runs at most {MAX_THREADS} threads in a run, ended ones included (a "
                               f"schedule has one digit per step): starting {obj.name} would make thread {MAX_THREADS}")
        fn = obj._target if obj._target is not None and type(obj).run is Thread.run else obj.run
        th = _Thread(len(self.threads), fn, obj._args, parent=parent, obj=obj)
        th.starting = allocate_lock()
        th.starting.acquire()
        obj._run, obj._th = self, th
        self.threads.append(th)
        th.thread = threading.Thread(target=self._worker, args=(th,), name=f"explored-{th.index}", daemon=True)
        th.thread.start()
        if not th.starting.acquire(timeout=STEP_TIMEOUT):
            raise StuckError(f"thread {th.index} did not start within {STEP_TIMEOUT:g} s")

    def _make_tracer(self, th: _Thread):
        if self.mode == "sync":
            return None  # the thread stops only at the explorer's primitives (see _sync_point)
        files = self.files
        fine = self.mode == "instruction"

        def local(frame, event, arg):
            if fine and not frame.f_trace_opcodes:
                frame.f_trace_opcodes = True  # 3.12 ignores it when set during the 'call' event
            if (event == "opcode") if fine else (event == "line"):
                if fine:
                    ins = _instruction_at(frame.f_code, frame.f_lasti)
                    if ins is not None and ins.opname in SKIPPED_OPS:
                        return local
                self._park(th, frame)
            return local

        def global_trace(frame, event, arg):
            if frame.f_code.co_filename not in files:
                return None
            frame.f_trace = local
            if fine and sys.version_info < (3, 12):
                frame.f_trace_opcodes = True  # 3.12+: set by local() at the first 'line' event instead
            return local

        return global_trace

    def _park(self, th: _Thread, frame, in_call: bool = False):
        if self.aborting:
            self._untrace()
            raise Aborted()
        th.frame = frame
        th.in_call = in_call
        th.status = "ready"
        self.back.release()
        th.go.acquire()
        if self.aborting:
            self._untrace()
            raise Aborted()

    def _untrace(self):
        """Stop tracing this thread before unwinding it (3.12.1 crashes unwinding opcode-traced frames)."""
        sys.settrace(None)
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename in self.files:
                frame.f_trace_opcodes = False
                frame.f_trace = None
            frame = frame.f_back

    def _sync(self, index: int, releasing: bool) -> None:
        """In mode "sync": stop before a primitive's operation, so another thread may go first."""
        th = self.threads[index]
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename not in self.files:
            frame = frame.f_back
        th.releasing = releasing
        try:
            self._park(th, frame)
        finally:
            th.releasing = False

    def _block(self, index: int, prim: Primitive, predicate, timed: bool, seconds: float | None = 0.0) -> bool:
        th = self.threads[index]
        th.deadline = self.clock + max(0.0, float(seconds or 0.0)) if timed else None
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename not in self.files:
            frame = frame.f_back
        th.blocked_on, th.predicate, th.timed = prim, predicate, timed
        try:
            self._park(th, frame, in_call=True)
        finally:
            th.blocked_on, th.predicate, th.timed = None, None, False
        return bool(predicate())

    # ---- in the controlling thread

    def _wait_back(self, th: _Thread):
        if not self.back.acquire(timeout=STEP_TIMEOUT):
            self.outcome = Outcome(
                "failed",
                f"thread {th.index} did not come back within {STEP_TIMEOUT:g} s: a real blocking call "
                "(time.sleep, threading.Lock) or an endless loop outside the explored code?",
                th.index,
            )
            raise StuckError(self.outcome.message)

    def enabled(self) -> list[int]:
        """Threads that can take a step now (not finished, not blocked)."""
        if self.outcome.finished:
            return []
        return [th.index for th in self.threads if self._can_step(th)]

    def _can_step(self, th: _Thread) -> bool:
        if not th.enabled():
            return False
        # timeouts="last": a timed wait times out only when no thread can go on otherwise, and then the
        # one whose time runs out first (a thread polling with sleep(0.01) before a join(timeout=5))
        if not self.patient or th.can_go_on():
            return True
        if any(o.can_go_on() for o in self.threads):
            return False
        first = min((o.deadline for o in self.threads if o.enabled() and o.deadline is not None), default=None)
        return first is None or th.deadline is None or th.deadline <= first

    def next_is_local(self, index: int) -> bool:
        """Is the next instruction of thread ``index`` one no other thread can observe?"""
        th = self.threads[index]
        if self.mode == "sync":
            return th.status == "ready" and th.releasing
        if self.mode != "instruction" or th.status != "ready" or th.in_call or th.frame is None:
            return False
        ins = _instruction_at(th.frame.f_code, th.frame.f_lasti)
        if ins is None:
            return False
        if ins.opname in LOCAL_OPS:
            return True
        if ins.opname == "LOAD_ATTR":
            # looking up a method, or a lock/condition/event of the state: nobody changes those
            return "NULL" in ins.argrepr or isinstance(getattr(self.state, str(ins.argval), None), Primitive)
        return False

    def step(self, index: int) -> Outcome:
        """Let thread ``index`` execute one instruction (or line); return the outcome so far."""
        if self.outcome.finished:
            raise ValueError(f"the run is over ({self.outcome})")
        if not 0 <= index < len(self.threads):
            raise ValueError(f"there is no thread {index}: threads are 0..{len(self.threads) - 1}")
        th = self.threads[index]
        if not self._can_step(th):
            why = f"waiting for {th.blocked_on.waiting_text()}" if th.blocked_on else th.status
            raise ValueError(f"thread {index} cannot take a step now: it is {why}")
        self.schedule.append(index)
        if self.patient and th.timed and th.deadline is not None and not th.can_go_on():
            self.clock = max(self.clock, th.deadline)  # its wait times out: that much time passed
        th.status = "running"
        th.go.release()
        try:
            self._wait_back(th)
        except StuckError:
            return self.outcome
        return self._evaluate()

    def _evaluate(self) -> Outcome:
        prog = self.program
        for th in self.threads:
            if th.status == "failed" and th.parent is None:  # a started thread's exception is only recorded
                err = th.error
                text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                self.outcome = Outcome("failed", f"thread {th.index} raised {text}", th.index)
                return self.outcome
        if prog.invariant is not None:
            ok, why = self._check(prog.invariant)
            if not ok:
                self.outcome = Outcome("failed", f"invariant broken: {why}")
                return self.outcome
        if all(th.finished for th in self.threads):
            if prog.final is not None:
                ok, why = self._check(prog.final)
                if not ok:
                    self.outcome = Outcome("failed", f"final check failed: {why}")
                    return self.outcome
            self.outcome = Outcome("completed", "every thread finished and the checks hold")
            return self.outcome
        if not any(th.enabled() for th in self.threads):
            waits = [
                f"thread {th.index} waits for {th.blocked_on.waiting_text()}"
                for th in self.threads
                if th.blocked_on is not None
            ]
            self.outcome = Outcome("deadlock", "every live thread is blocked: " + "; ".join(waits))
            return self.outcome
        if len(self.schedule) >= prog.max_steps:
            self.outcome = Outcome("limit", f"stopped after {prog.max_steps} steps")
        return self.outcome

    def _check(self, check):
        _current.checking = self  # current_run() in the check: this run
        try:
            return _holds(check, self.state)
        finally:
            _current.checking = None

    def finish(self) -> Outcome:
        """Go on without preemption: keep the last thread running while it can, else the lowest ready one."""
        while not self.outcome.finished:
            ready = self.enabled()
            last = self.schedule[-1] if self.schedule else None
            self.step(last if last in ready else ready[0])
        return self.outcome

    def view(self, index: int) -> ThreadView:
        th = self.threads[index]
        fn = _function_of(th.fn)
        view = ThreadView(index, getattr(fn, "__name__", str(fn)), th.status, parent=th.parent,
                          thread_name=th.obj.name if th.obj is not None and th.parent is not None else "")
        if th.status == "ready" and th.blocked_on is not None:
            view.status = "blocked" if not self._can_step(th) else "ready"
            view.waiting_for = th.blocked_on.waiting_text()
        if th.error is not None:
            view.error = f"{type(th.error).__name__}: {th.error}"
        frame = th.frame
        code = frame.f_code if frame is not None else getattr(fn, "__code__", None)
        if code is not None:
            try:
                view.source, view.first_lineno = inspect.getsourcelines(code)
            except (OSError, TypeError):
                view.source, view.first_lineno = [], code.co_firstlineno
            view.code_name = code.co_name
        if frame is not None:
            view.lineno = frame.f_lineno
            ins = _instruction_at(frame.f_code, frame.f_lasti)
            if ins is not None:
                text = f"{ins.opname} {ins.argrepr}".strip()
                view.instruction = f"inside {text}" if th.in_call else text
        elif th.parent is not None and th.status == "ready":
            view.instruction = f"(started by thread {th.parent}: runs nothing until it is scheduled)"
        return view

    def views(self) -> list[ThreadView]:
        return [self.view(i) for i in range(len(self.threads))]

    def shared(self) -> dict:
        if isinstance(self.state, State):
            return {k: show(v) for k, v in self.state.shared().items()}
        return {"state": show(self.state)}

    def started_alive(self) -> list[int]:
        """The threads started during the run (not bodies of the Program) that have not ended."""
        return [th.index for th in self.threads if th.parent is not None and not th.finished]

    def error_texts(self) -> list[str]:
        """The exceptions that ended threads started during the run, as text."""
        return [f"thread {i} raised {type(e).__name__}" + (f": {e}" if str(e) else "") for i, e in self.errors]

    def primitives(self) -> dict:
        if isinstance(self.state, State):
            return {p.label(): p.describe() for p in self.state.primitives().values()}
        return {}

    def close(self):
        """End every thread of this run (parked ones raise :class:`Aborted`); wait for them."""
        if self.closed:
            return
        self.closed = True
        self.aborting = True
        for th in self.threads:  # one at a time: only one explored thread ever runs
            if th.thread is not None and th.thread.is_alive() and th.go.locked():
                try:
                    th.go.release()
                except RuntimeError:  # it was released meanwhile
                    pass
            if th.thread is not None:
                th.thread.join(STEP_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _holds(check, state):
    """Evaluate an invariant/final check: it may return a bool or raise AssertionError."""
    try:
        result = check(state)
    except AssertionError as exc:
        return False, str(exc) or getattr(check, "__doc__", None) or "assertion failed"
    if result is None or result:
        return True, ""
    why = (getattr(check, "__doc__", None) or "").strip() or "check returned False"
    return False, f"{why} (state: {state!r})"


# --------------------------------------------------------------------------- programs and search


@dataclass
class Snapshot:
    """What a replay left behind: schedule, outcome, threads, shared values, primitives."""

    schedule: list
    outcome: Outcome
    threads: list
    shared: dict
    primitives: dict
    enabled: list
    state: object = None
    errors: list = field(default_factory=list)  #: "thread 2 raised OSError: ..." for started threads that raised

    @property
    def schedule_string(self) -> str:
        return schedule_string(self.schedule)


@dataclass
class SearchResult:
    """What :meth:`Program.search` found: the first failing schedule, or proof for the bound."""

    bound: int | None
    runs: int
    seconds: float
    exhaustive: bool
    schedule: list | None = None
    outcome: Outcome | None = None
    max_steps_seen: int = 0

    @property
    def found(self) -> bool:
        return self.schedule is not None

    @property
    def schedule_string(self) -> str:
        return schedule_string(self.schedule or [])

    def summary(self) -> str:
        bound = "any number of" if self.bound is None else f"at most {self.bound}"
        if self.found:
            return (
                f"bug found after {self.runs} schedule(s) in {self.seconds:.3f} s: "
                f"{self.outcome} — schedule {self.schedule_string!r}"
            )
        if self.exhaustive:
            return f"no bug in any of the {self.runs} schedules with {bound} preemptions ({self.seconds:.3f} s)"
        return f"no bug in the {self.runs} schedules tried ({self.seconds:.3f} s), but the search was cut short"

    def __str__(self):
        return self.summary()


_warmed_up = False


def _warm_up():
    """Trace opcodes once in this thread: CPython 3.12.1 drops the opcode events of the very
    first frame that asks for them (the interpreter turns them on too late for that frame)."""
    global _warmed_up
    if _warmed_up or sys.version_info < (3, 12):
        _warmed_up = True
        return

    def probe():
        return len(())

    def local(frame, event, arg):
        frame.f_trace_opcodes = True
        return local

    def global_trace(frame, event, arg):
        if frame.f_code is probe.__code__:
            frame.f_trace = local
            return local
        return None

    old = sys.gettrace()
    sys.settrace(global_trace)
    try:
        probe()
        probe()
    finally:
        sys.settrace(old)
    _warmed_up = True


class Program:
    """Thread bodies plus how to make their shared state and what must hold.

    ``threads``: functions called as ``fn(state)``, or tuples ``(fn, arg, ...)`` called as
    ``fn(state, arg, ...)``. ``setup()`` returns a fresh :class:`State` (or dict) for every run.
    ``invariant(state)`` must hold after every step, ``final(state)`` when all threads are done;
    both may return a bool or raise ``AssertionError``.

    The source files of the thread bodies and of ``also_trace`` are stepped through; ``trace``
    replaces that list: only the files of its functions are (a check runs a learner's functions
    from thread bodies of its own, whose lines are not worth a step).

    ``timeouts="any"`` (the default): a wait with a timeout may time out at any step, as if the
    thread that would wake it were slow. ``timeouts="last"``: it times out only when no thread can
    go on otherwise (time passes only while everything waits), for code whose timeouts guard
    against a hang (``jobs.get(timeout=10)``) rather than take part in its logic.
    """

    def __init__(
        self,
        *threads,
        setup: Callable | None = None,
        invariant: Callable | None = None,
        final: Callable | None = None,
        mode: str = "instruction",
        max_steps: int = 400,
        name: str = "",
        also_trace: tuple = (),
        trace: tuple | None = None,
        timeouts: str = "any",
    ):
        if len(threads) < 1:
            raise ValueError("a program needs at least one thread body")
        if len(threads) > 10:
            raise ValueError("at most 10 threads (a schedule uses one digit per step)")
        if mode not in ("instruction", "line", "sync"):
            raise ValueError("mode is 'instruction', 'line' or 'sync'")
        if timeouts not in ("any", "last"):
            raise ValueError("timeouts is 'any' or 'last'")
        self.timeouts = timeouts
        self.threads = []
        for t in threads:
            fn, args = (t[0], tuple(t[1:])) if isinstance(t, tuple) else (t, ())
            if not callable(fn):
                raise TypeError(f"a thread body must be callable, not {fn!r}")
            self.threads.append((fn, args))
        self.setup = setup or State
        self.invariant = invariant
        self.final = final
        self.mode = mode
        self.max_steps = max_steps
        self.name = name
        files = set()
        traced = [fn for fn, _ in self.threads] + list(also_trace) if trace is None else list(trace)
        for fn in traced:
            code = getattr(_function_of(fn), "__code__", None)
            if code is not None:
                files.add(code.co_filename)
        files.discard(_HERE)
        self.files = frozenset(files)
        _warm_up()

    def start(self) -> Run:
        return Run(self)

    def replay(self, schedule, finish: bool = False) -> Snapshot:
        """Run ``schedule`` from a fresh state, then (if ``finish``) go on without preemption.

        Returns a :class:`Snapshot`; every thread of the run has ended when it returns. A
        schedule that names a thread that cannot move raises ``ValueError``.
        """
        steps = parse_schedule(schedule)
        with Run(self) as run:
            for k, i in enumerate(steps):
                if run.outcome.finished:
                    raise ValueError(
                        f"step {k + 1} of the schedule: the run is already over ({run.outcome.kind})"
                    )
                try:
                    run.step(i)
                except ValueError as exc:
                    raise ValueError(f"step {k + 1} of the schedule: {exc}") from None
            if finish:
                run.finish()
            return Snapshot(
                list(run.schedule),
                run.outcome,
                run.views(),
                run.shared(),
                run.primitives(),
                run.enabled(),
                run.state,
                run.error_texts(),
            )

    def search(
        self, bound: int | None = 2, max_runs: int = 20000, time_limit: float = 30.0, stop_at_bug: bool = True
    ) -> SearchResult:
        """Try every schedule with at most ``bound`` preemptions (``None``: no limit), fewest first.

        A preemption is a switch away from a thread that could have gone on. Between
        choices a thread keeps running, so each run is one complete schedule. Returns the first
        failing schedule found (with the fewest preemptions), or says that none exists within
        the bound (``exhaustive``) unless ``max_runs`` or ``time_limit`` cut the search short.
        """
        start = time.perf_counter()
        heap = [(0, 0, ())]
        seq = 0
        runs = 0
        longest = 0
        result = None
        while heap:
            if runs >= max_runs or time.perf_counter() - start > time_limit:
                break
            _, _, prefix = heapq.heappop(heap)
            record = []
            with Run(self) as run:
                prev = None
                preemptions = 0
                while not run.outcome.finished:
                    ready = run.enabled()
                    j = len(run.schedule)
                    if j < len(prefix):
                        choice = prefix[j]
                    else:
                        choice = prev if prev in ready else ready[0]
                    if j >= len(prefix) and prev in ready and run.next_is_local(prev):
                        ready = [prev]  # switching here or one instruction later is the same
                    record.append((ready, choice, preemptions, prev))
                    if prev is not None and prev in ready and choice != prev:
                        preemptions += 1
                    prev = choice
                    run.step(choice)
                schedule, outcome = list(run.schedule), run.outcome
            runs += 1
            longest = max(longest, len(schedule))
            if outcome.bug:
                result = SearchResult(bound, runs, 0.0, False, schedule, outcome)
                if stop_at_bug:
                    break
            for j in range(len(prefix), len(record)):
                ready, choice, before, prev = record[j]
                for t in ready:
                    if t == choice:
                        continue
                    cost = before + (1 if prev is not None and prev in ready else 0)
                    if bound is None or cost <= bound:
                        seq += 1
                        heapq.heappush(heap, (cost, seq, tuple(schedule[:j]) + (t,)))
        seconds = time.perf_counter() - start
        if result is not None:
            result.runs, result.seconds, result.max_steps_seen = runs, seconds, longest
            result.exhaustive = not heap
            return result
        return SearchResult(bound, runs, seconds, not heap, max_steps_seen=longest)

    def __repr__(self):
        names = ", ".join(getattr(_function_of(fn), "__name__", "?") for fn, _ in self.threads)
        return f"Program({self.name or 'untitled'}: {names})"
