"""Lab 3 · Build your own primitives: one behavioural test suite, parametrised by the class under test.

The same tests hold the learner's ``Semaphore``, ``BoundedSemaphore``, ``Event``, ``Barrier`` and
``Queue`` to the standard library's behaviour, and ``tests/test_lab3.py`` runs them against
``threading.Semaphore`` and friends, so every test is proven to pass for the real thing.

``tests(kind, get)`` returns the visible zero-argument test functions for ``threadlab.labcheck.check_exercise``:
``kind`` is one of :data:`KINDS`, ``get`` is the class or a zero-argument function returning it (so a
name the learner has not defined yet is looked up only when the test runs). The hidden tests are not in
this package (every learner installs it): they live in the hidden-test regions of the reference notebook
``solutions/lab3-build-your-own-primitives/``, written with the helpers below and bound with :func:`bind`.
Each test raises ``AssertionError("what: expected X, got Y. Hint: ...")``.
Every thread a test starts is a daemon thread and every wait is bounded, so a broken class makes a
test fail, never hang the caller for long.
"""

from __future__ import annotations

import builtins
import contextlib
import dis
import inspect
import queue
import sys
import threading
import time
import types
from dataclasses import dataclass
from typing import Callable

KINDS = ("Semaphore", "BoundedSemaphore", "Event", "Barrier", "Queue")

STDLIB = {
    "Semaphore": threading.Semaphore,
    "BoundedSemaphore": threading.BoundedSemaphore,
    "Event": threading.Event,
    "Barrier": threading.Barrier,
    "Queue": queue.Queue,
}

# what a class under test must not be, subclass, create or call: the point is to build these
FORBIDDEN = {
    threading.Semaphore: "threading.Semaphore",
    threading.BoundedSemaphore: "threading.BoundedSemaphore",
    threading.Event: "threading.Event",
    threading.Barrier: "threading.Barrier",
    threading.Timer: "threading.Timer",
    queue.Queue: "queue.Queue",
    queue.LifoQueue: "queue.LifoQueue",
    queue.PriorityQueue: "queue.PriorityQueue",
    queue.SimpleQueue: "queue.SimpleQueue",
}

# the methods each class must offer, compared with the standard library's signatures
METHODS = {
    "Semaphore": ("__init__", "acquire", "release", "__enter__", "__exit__"),
    "BoundedSemaphore": ("__init__", "acquire", "release", "__enter__", "__exit__"),
    "Event": ("__init__", "is_set", "set", "clear", "wait"),
    "Barrier": ("__init__", "wait", "reset", "abort"),
    "Queue": ("__init__", "qsize", "empty", "full", "put", "put_nowait", "get", "get_nowait", "task_done", "join"),
}
PROPERTIES = {"Barrier": ("parties", "n_waiting", "broken")}

# how the origin check makes an instance to look inside
SAMPLE_ARGS = {"Semaphore": (2,), "BoundedSemaphore": (2,), "Event": (), "Barrier": (2,), "Queue": (3,)}

WAKE = 3.0  # seconds a woken thread may take to get going on a busy machine (read at call time)
SHORT = 0.2  # the timeouts tested for "times out"


# ---------------------------------------------------------------- helpers


def fail(what: str, expected, got, hint: str = "") -> None:
    message = f"{what}: expected {expected}, got {got}."
    raise AssertionError(f"{message} Hint: {hint}" if hint else message)


def expect(condition: bool, what: str, expected, got, hint: str = "") -> None:
    if not condition:
        fail(what, expected, got, hint)


def amplified():
    """``threadlab.labcheck.amplified_races()``: thread switches far more often inside the block."""
    from threadlab.labcheck import amplified_races

    return amplified_races()


@dataclass
class Outcome:
    """What a helper thread did: its return value or exception, and when it finished."""

    value: object = None
    error: BaseException | None = None
    done_at: float | None = None


def spawn(fn: Callable, *args, name: str = "lab3-test") -> tuple[threading.Thread, Outcome]:
    """Start ``fn(*args)`` in a daemon thread; the Outcome fills in when it returns or raises."""
    out = Outcome()

    def run():
        try:
            out.value = fn(*args)
        except BaseException as exc:  # reported through the Outcome
            out.error = exc
        finally:
            out.done_at = time.perf_counter()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, out


def join_all(threads, timeout: float | None = None) -> list[threading.Thread]:
    """Join with one shared deadline (default :data:`WAKE`); return the threads still running."""
    deadline = time.monotonic() + (WAKE if timeout is None else timeout)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def settle(threads, timeout: float | None = None) -> None:
    """Wait until every thread is blocked (its innermost frame stands still), or ``timeout`` (default :data:`WAKE`)."""
    deadline = time.monotonic() + (WAKE if timeout is None else timeout)
    previous = None
    while time.monotonic() < deadline:
        frames = sys._current_frames()
        now = tuple((id(frames.get(t.ident)), getattr(frames.get(t.ident), "f_lasti", None)) for t in threads)
        if now == previous and all(t.is_alive() for t in threads) and all(f[1] is not None for f in now):
            break
        previous = now
        time.sleep(0.03)
    time.sleep(0.05)


def call(fn: Callable, *args, what: str, bound: float | None = None, hint: str = "", **kwargs):
    """``fn(*args, **kwargs)`` in a helper thread: its value, or its exception re-raised; a call still
    blocked after ``bound`` seconds fails the test (a lock left held, a timeout ignored) instead of hanging it."""
    bound = WAKE if bound is None else bound
    thread, out = spawn(lambda: fn(*args, **kwargs), name="lab3-call")
    thread.join(bound)
    if thread.is_alive():
        fail(what, "to return", f"still blocked after {bound:g} s",
             hint or "is a lock still held from an earlier call, or is a timeout ignored?")
    if out.error is not None:
        raise out.error
    return out.value


def watch(runs, progress: Callable[[], int], stall: float | None = None, limit: float = 8.0) -> list[threading.Thread]:
    """Wait for the ``(thread, outcome)`` pairs of :func:`spawn` while ``progress()`` keeps changing;
    return the threads still alive when nothing moved for ``stall`` seconds (default :data:`WAKE`: a
    lost wakeup or a deadlock), after ``limit`` seconds, or as soon as one of them raised."""
    threads = [t for t, _ in runs]
    stall = WAKE if stall is None else stall
    start = last_change = time.monotonic()
    last = progress()
    while any(t.is_alive() for t in threads):
        time.sleep(0.02)
        now, current = time.monotonic(), progress()
        if current != last:
            last, last_change = current, now
        if now - last_change > stall or now - start > limit or any(out.error is not None for _, out in runs):
            break
    return [t for t in threads if t.is_alive()]


def timed(fn: Callable, *args, **kwargs):
    """``(result, exception, seconds)`` of one call (``Exception`` subclasses only are caught)."""
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs), None, time.perf_counter() - start
    except Exception as exc:  # the tests look at it
        return None, exc, time.perf_counter() - start


def timed_call(fn: Callable, *args, what: str, **kwargs):
    """``timed(fn, *args, **kwargs)`` in a helper thread, failing the test if it is blocked for
    longer than the timeout under test plus :data:`WAKE` (a timeout ignored, a lock left held)."""
    return call(timed, fn, *args, what=what, bound=SHORT + WAKE, **kwargs)


def expect_timed_out(seconds: float, what: str, timeout: float = SHORT) -> None:
    expect(
        seconds >= timeout * 0.9, f"{what}: time before giving up", f"about {timeout} s", f"{seconds:.3f} s",
        "wait with the timeout (Condition.wait(timeout) or wait_for(..., timeout)) before giving up",
    )
    expect(
        seconds <= timeout + WAKE, f"{what}: time before giving up", f"about {timeout} s", f"{seconds:.1f} s",
        "give up once the timeout has passed: keep track of the time left (time.monotonic())",
    )


def name_of(exc) -> str:
    return "no exception" if exc is None else f"{type(exc).__module__}.{type(exc).__qualname__}".replace("builtins.", "")


def expect_raises(exc_type, fn: Callable, *args, what: str, hint: str = "", **kwargs):
    _, error, seconds = timed_call(fn, *args, what=what, **kwargs)
    expected = f"{exc_type.__module__}.{exc_type.__qualname__}".replace("builtins.", "")
    expect(isinstance(error, exc_type), what, f"{expected} raised", name_of(error), hint)
    return seconds


def expect_bool(value, expected: bool, what: str, hint: str = "") -> None:
    expect(value is expected, what, repr(expected), repr(value), hint or "return True or False itself")


# ---------------------------------------------------------------- the origin check


def _resolved_names(function) -> list:
    """Objects a function's bytecode reaches through its globals: ``threading.Semaphore``, ``S``..."""
    found = []
    codes = [function.__code__]
    namespace = dict(vars(builtins))
    namespace.update(function.__globals__)
    while codes:
        code = codes.pop()
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        current = None
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                current = namespace.get(ins.argval)
            elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and current is not None:
                current = getattr(current, ins.argval, None)
            else:
                current = None
                continue
            if current is not None:
                found.append(current)
        for cell in getattr(function, "__closure__", None) or ():
            with contextlib.suppress(ValueError):
                found.append(cell.cell_contents)
    return found


def _functions(cls) -> list:
    out = []
    for klass in cls.__mro__:
        if klass is object:
            continue
        for value in vars(klass).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                out.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
            elif isinstance(value, types.FunctionType):
                out.append(value)
    return out


def _is_forbidden(obj) -> str | None:
    """The name of the ready-made primitive ``obj`` is, subclasses or is an instance of (the most specific)."""
    try:
        mro = obj.__mro__ if isinstance(obj, type) else type(obj).__mro__
    except Exception:  # an object with a strange __class__: not one of ours
        return None
    for klass in mro:
        if klass in FORBIDDEN:
            return FORBIDDEN[klass]
    return None


def foreign_primitives(cls, *args) -> list[str]:
    """Ways ``cls`` relies on a ready-made primitive instead of Lock/Condition (empty: none found)."""
    problems = []
    for klass in cls.__mro__:
        name = FORBIDDEN.get(klass)
        if name:
            problems.append(f"is {name}" if klass is cls else f"subclasses {name}")
    if problems:
        return problems
    for function in _functions(cls):
        for obj in _resolved_names(function):
            name = _is_forbidden(obj)
            if name:
                problems.append(f"uses {name} internally (in {function.__qualname__})")
    try:
        instance = cls(*args)
    except Exception:  # other tests report a constructor that fails
        instance = None
    for attr, value in (vars(instance).items() if hasattr(instance, "__dict__") else ()):
        values = [value]
        if isinstance(value, (list, tuple, set)):
            values += list(value)
        elif isinstance(value, dict):
            values += list(value.values())
        for item in values:
            name = _is_forbidden(item)
            if name:
                problems.append(f"uses {name} internally (self.{attr})")
    return sorted(set(problems))


def check_origin(kind: str, cls) -> None:
    problems = foreign_primitives(cls, *SAMPLE_ARGS[kind])
    if problems:
        fail(
            f"{kind} built from threading.Lock / threading.Condition only", "no ready-made primitive",
            "; ".join(problems),
            f"the point is to build {kind} yourself: use threading.Condition (and Lock) and your own state",
        )


# ---------------------------------------------------------------- the signature check


def _parameters(function) -> list[tuple]:
    sig = inspect.signature(function)
    return [(p.name, p.kind.name, p.default) for p in list(sig.parameters.values())[1:]]


def _shown(function) -> str:
    sig = inspect.signature(function)
    params = list(sig.parameters.values())[1:]
    return "(" + ", ".join(str(p) for p in params) + ")"


def check_api(kind: str, cls) -> None:
    reference = STDLIB[kind]
    for method in METHODS[kind]:
        mine = inspect.getattr_static(cls, method, None)
        expect(
            callable(getattr(cls, method, None)), f"{kind}.{method}", "a method", "nothing",
            f"write `def {method}{_shown(getattr(reference, method))}` in the class",
        )
        if method in ("__enter__", "__exit__"):
            continue  # their parameter names are free; the `with` test checks behaviour
        if isinstance(mine, (staticmethod, classmethod)):
            fail(f"{kind}.{method}", "a plain method", type(mine).__name__, "drop the decorator")
        want, got = _parameters(getattr(reference, method)), _parameters(getattr(cls, method))
        if want != got:
            fail(
                f"{kind}.{method} signature", f"{method}{_shown(getattr(reference, method))}",
                f"{method}{_shown(getattr(cls, method))}",
                "use the standard library's parameter names and defaults, so code calling "
                "it by keyword works with yours too",
            )
    for prop in PROPERTIES.get(kind, ()):
        expect(
            isinstance(inspect.getattr_static(cls, prop, None), property), f"{kind}.{prop}", "a property",
            repr(inspect.getattr_static(cls, prop, None)),
            f"read as `b.{prop}` (no parentheses), like threading.{kind}: decorate a method with @property",
        )


# ---------------------------------------------------------------- the registry

_CASES: dict[str, list[Callable]] = {kind: [] for kind in KINDS}


def case(*kinds: str):
    """Register ``fn(cls)`` as a visible test of every kind in ``kinds`` (the learner's check cell runs it).

    Hidden tests are not registered here: they are written in the reference notebook's hidden-test regions
    and bound with :func:`bind`, so no learner's install holds them."""

    def register(fn):
        for kind in kinds:
            _CASES[kind].append(fn)
        return fn

    return register


def _resolve(get):
    return get if isinstance(get, type) else get()


def _bind(fn: Callable, get, kind: str) -> Callable:
    def test():
        return fn(_resolve(get))

    test.__name__ = fn.__name__
    test.__qualname__ = fn.__name__
    test.__doc__ = (fn.__doc__ or fn.__name__).replace("{kind}", kind)
    return test


def bind(kind: str, get, functions) -> list[Callable]:
    """Zero-argument tests of ``kind`` from test functions of the class (``fn(cls)``), as :func:`tests` makes them.

    The reference notebook's hidden tests use this: ``tests += L.bind("Event", lambda: Event, [pulse, ...])``."""
    if kind not in _CASES:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return [_bind(fn, get, kind) for fn in functions]


def tests(kind: str, get, part: str = "visible", origin: bool = True, explore: bool = True) -> list[Callable]:
    """The visible test functions for ``kind`` (see the module docstring).

    ``origin=False`` leaves out the "built from Lock/Condition only" check (the standard library's
    own classes fail it by design); ``explore=False`` the schedule explorer's tests."""
    if kind not in _CASES:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if part != "visible":
        raise ValueError(f"this package holds only the visible tests (part='visible'), not {part!r}: the hidden "
                         "tests are in the reference notebook's hidden-test regions")
    chosen = []
    if origin:
        origin_test = _bind(lambda cls: check_origin(kind, cls), get, kind)
        origin_test.__name__ = origin_test.__qualname__ = "built_from_lock_and_condition"
        origin_test.__doc__ = f"{kind} is built from Lock/Condition only"
        chosen.append(origin_test)
    chosen.extend(bind(kind, get, [fn for fn in _CASES[kind] if explore or not getattr(fn, "explorer", False)]))
    return chosen


def names(kind: str) -> list[str]:
    """The names of the visible tests of ``kind``."""
    return [t.__name__ for t in tests(kind, STDLIB[kind])]


# ================================================================ Semaphore and BoundedSemaphore

SEMAPHORES = ("Semaphore", "BoundedSemaphore")


@case("Semaphore")
def semaphore_api(cls):
    """Semaphore has the standard library's methods and signatures"""
    check_api("Semaphore", cls)


@case("BoundedSemaphore")
def bounded_semaphore_api(cls):
    """BoundedSemaphore has the standard library's methods and signatures"""
    check_api("BoundedSemaphore", cls)


@case("Semaphore", "BoundedSemaphore")
def counts(cls):
    """{kind}(2): two acquires succeed, the third (non-blocking) returns False"""
    sem = cls(2)
    got = [sem.acquire(blocking=False) for _ in range(3)]
    expect(got == [True, True, False], "three acquire(blocking=False) on Semaphore(2)", [True, True, False], got,
           "acquire takes one permit if there is one and returns True; with none left and blocking=False it returns False")
    sem.release()
    expect_bool(sem.acquire(blocking=False), True, "acquire after one release()")
    one = cls()
    got = [one.acquire(blocking=False), one.acquire(blocking=False)]
    expect(got == [True, False], "two acquires on a Semaphore() made with the default value", [True, False], got,
           "the default value is 1")


@case("Semaphore", "BoundedSemaphore")
def blocks_until_release(cls):
    """acquire() blocks until another thread calls release()"""
    sem = cls(1)
    sem.acquire()
    thread, out = spawn(sem.acquire)
    settle([thread])
    expect(thread.is_alive() and out.done_at is None, "acquire() while no permit is left", "to block",
           f"it returned {out.value!r}" if out.error is None else f"it raised {name_of(out.error)}",
           "wait on the Condition while the value is 0")
    sem.release()
    stuck = join_all([thread])
    expect(not stuck, "the blocked acquire() after release()", "to return", "still blocked after 3 s",
           "release() must notify the Condition so a waiting thread wakes up")
    expect_bool(out.value, True, "the value the woken acquire() returned")


@case("Semaphore", "BoundedSemaphore")
def times_out(cls):
    """acquire(timeout=0.2) with no permit left returns False after about 0.2 s"""
    sem = cls(1)
    sem.acquire()
    value, error, seconds = timed_call(sem.acquire, timeout=SHORT, what="acquire(timeout=0.2)")
    expect(error is None, "acquire(timeout=0.2)", "no exception", name_of(error))
    expect_bool(value, False, "acquire(timeout=0.2) when no permit came", "return False when the time is up")
    expect_timed_out(seconds, "acquire(timeout=0.2)")
    value = call(sem.acquire, True, 0.05, what="acquire(True, 0.05) after a timed-out acquire",
                 hint="on a timeout, give the Condition's lock back (use `with self._cond:`)")
    expect_bool(value, False, "acquire(True, 0.05) (timeout as a positional argument)")


@case("BoundedSemaphore")
def too_many_releases(cls):
    """BoundedSemaphore(2): release() beyond the initial value raises ValueError"""
    sem = cls(2)
    expect_raises(ValueError, sem.release, what="release() on a full BoundedSemaphore(2)",
                  hint="remember the initial value and refuse to go above it")
    sem.acquire()
    sem.release()
    expect_raises(ValueError, sem.release, what="a second release() after one acquire and one release")


# ================================================================ Event


@case("Event")
def event_api(cls):
    """Event has the standard library's methods and signatures"""
    check_api("Event", cls)


@case("Event")
def flag(cls):
    """is_set() is False at first, True after set(), False after clear()"""
    event = cls()
    expect_bool(event.is_set(), False, "is_set() on a new Event")
    expect(event.set() is None, "set() return value", None, "something else")
    expect_bool(event.is_set(), True, "is_set() after set()")
    event.set()
    expect_bool(event.is_set(), True, "is_set() after a second set()")
    expect(event.clear() is None, "clear() return value", None, "something else")
    expect_bool(event.is_set(), False, "is_set() after clear()")


@case("Event")
def wait_when_set(cls):
    """wait() and wait(0) return True at once when the flag is set"""
    event = cls()
    event.set()
    value, error, seconds = timed_call(event.wait, what="wait() on a set Event")
    expect(error is None and value is True and seconds < 1, "wait() on a set Event", "True at once",
           f"{value!r} after {seconds:.2f} s" if error is None else name_of(error),
           "check the flag first and return True")
    expect_bool(event.wait(0), True, "wait(0) on a set Event")


@case("Event")
def event_times_out(cls):
    """wait(0.2) returns False after about 0.2 s when nobody sets the flag"""
    event = cls()
    value, error, seconds = timed_call(event.wait, SHORT, what="wait(0.2)")
    expect(error is None, "wait(0.2)", "no exception", name_of(error))
    expect_bool(value, False, "wait(0.2) when nobody set the flag", "return what Condition.wait(timeout) returned")
    expect_timed_out(seconds, "wait(0.2)")
    expect_bool(call(event.wait, timeout=0, what="wait(timeout=0)"), False, "wait(timeout=0) on a clear Event")


@case("Event")
def set_wakes_waiter(cls):
    """set() wakes a thread blocked in wait(), and its wait() returns True"""
    event = cls()
    thread, out = spawn(event.wait)
    settle([thread])
    expect(thread.is_alive(), "wait() on a clear Event", "to block", f"it returned {out.value!r}")
    event.set()
    stuck = join_all([thread])
    expect(not stuck, "the waiting thread 3 s after set()", "to have returned", "still blocked",
           "set() must notify the Condition")
    expect_bool(out.value, True, "what wait() returned after set()")


# ================================================================ Barrier


@case("Barrier")
def barrier_api(cls):
    """Barrier has the standard library's methods, properties and signatures"""
    check_api("Barrier", cls)


@case("Barrier")
def one_round(cls):
    """Barrier(3): three threads pass, and wait() returns 0, 1 and 2, one each"""
    barrier = cls(3)
    expect(barrier.parties == 3, "Barrier(3).parties", 3, barrier.parties)
    expect_bool(barrier.broken, False, "broken on a new barrier")
    runs = [spawn(barrier.wait, 5, name=f"party-{i}") for i in range(3)]
    stuck = join_all([t for t, _ in runs])
    expect(not stuck, "threads still in wait() once all 3 arrived", 0, len(stuck),
           "the last thread to arrive must wake the others: notify_all()")
    errors = [name_of(out.error) for _, out in runs if out.error is not None]
    expect(not errors, "exceptions from wait()", "none", errors)
    got = sorted(out.value for _, out in runs)
    expect(got == [0, 1, 2], "the indexes wait() returned, sorted", [0, 1, 2], got,
           "each thread gets its arrival number: 0 for the first, parties - 1 for the last")


@case("Barrier")
def barrier_times_out(cls):
    """wait(timeout=0.2) with too few threads raises threading.BrokenBarrierError after about 0.2 s"""
    barrier = cls(2)
    _, error, seconds = timed_call(barrier.wait, timeout=SHORT, what="wait(timeout=0.2) alone at a Barrier(2)")
    expect(isinstance(error, threading.BrokenBarrierError), "wait(timeout=0.2) alone at a Barrier(2)",
           "threading.BrokenBarrierError", name_of(error), "a timeout breaks the barrier: raise BrokenBarrierError")
    expect_timed_out(seconds, "wait(timeout=0.2)")
    expect_bool(barrier.broken, True, "broken after a wait() timed out")


@case("Barrier")
def waits_for_all(cls):
    """2 threads wait at a Barrier(3) (n_waiting == 2) until the third arrives"""
    barrier = cls(3)
    runs = [spawn(barrier.wait, 10, name=f"party-{i}") for i in range(2)]
    deadline = time.monotonic() + WAKE
    while barrier.n_waiting != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    settle([t for t, _ in runs], 0.5)
    early = [out for _, out in runs if out.done_at is not None]
    n_waiting = barrier.n_waiting
    index = barrier.wait(5)
    join_all([t for t, _ in runs])
    expect(not early, "threads that left wait() before the third arrived", "none", len(early),
           "block until `parties` threads have called wait()")
    expect(n_waiting == 2, "n_waiting with 2 threads waiting", 2, n_waiting)
    expect(index == 2, "index of the third thread to arrive", 2, index)
    expect(barrier.n_waiting == 0, "n_waiting after the round", 0, barrier.n_waiting)


# ================================================================ Queue


@case("Queue")
def queue_api(cls):
    """Queue has the standard library's methods and signatures"""
    check_api("Queue", cls)


@case("Queue")
def fifo(cls):
    """items come out in the order they went in; qsize(), empty() and full() follow"""
    q = cls(3)
    expect(q.qsize() == 0 and q.empty() is True and q.full() is False, "qsize(), empty(), full() of a new Queue(3)",
           (0, True, False), (q.qsize(), q.empty(), q.full()))
    for item in ("a", "b", "c"):
        expect(q.put(item) is None, "put() return value", None, "something else")
    expect((q.qsize(), q.empty(), q.full()) == (3, False, True), "qsize(), empty(), full() with 3 items in a Queue(3)",
           (3, False, True), (q.qsize(), q.empty(), q.full()), "full() means qsize() >= maxsize (when maxsize > 0)")
    got = [q.get() for _ in range(3)]
    expect(got == ["a", "b", "c"], "get() three times after put('a'), put('b'), put('c')", ["a", "b", "c"], got,
           "first in, first out: append at one end, take from the other (collections.deque.popleft)")
    expect(q.empty() is True, "empty() after taking everything", True, q.empty())


@case("Queue")
def nowait(cls):
    """get_nowait() on an empty queue raises queue.Empty, put_nowait() on a full one raises queue.Full"""
    q = cls(1)
    expect_raises(queue.Empty, q.get_nowait, what="get_nowait() on an empty queue",
                  hint="raise the standard library's exception class, queue.Empty")
    q.put_nowait(1)
    expect_raises(queue.Full, q.put_nowait, 2, what="put_nowait() on a full Queue(1)",
                  hint="raise the standard library's exception class, queue.Full")
    expect(q.get_nowait() == 1, "get_nowait() after put_nowait(1)", 1, "something else")


@case("Queue")
def queue_times_out(cls):
    """get(timeout=0.2) on an empty queue raises queue.Empty, put(x, timeout=0.2) on a full one queue.Full, after 0.2 s"""
    q = cls(1)
    _, error, seconds = timed_call(q.get, timeout=SHORT, what="get(timeout=0.2) on an empty queue")
    expect(isinstance(error, queue.Empty), "get(timeout=0.2) on an empty queue", "queue.Empty raised", name_of(error),
           "raise the standard library's queue.Empty when the time is up")
    expect_timed_out(seconds, "get(timeout=0.2)")
    call(q.put, "x", what="put('x') on an empty Queue(1) after a timed-out get()",
         hint="on a timeout, give the Condition's lock back (use `with`)")
    _, error, seconds = timed_call(q.put, "y", timeout=SHORT, what="put('y', timeout=0.2) on a full Queue(1)")
    expect(isinstance(error, queue.Full), "put('y', timeout=0.2) on a full Queue(1)", "queue.Full raised", name_of(error),
           "raise the standard library's queue.Full when the time is up")
    expect_timed_out(seconds, "put(timeout=0.2)")
    size = call(q.qsize, what="qsize() after a timed-out put()", hint="on a timeout, give the Condition's lock back")
    expect(size == 1, "qsize() after the refused put", 1, size)


@case("Queue")
def blocking(cls):
    """get() blocks until another thread puts; put() on a full queue blocks until another thread gets"""
    q = cls(1)
    thread, out = spawn(q.get)
    settle([thread])
    expect(thread.is_alive(), "get() on an empty queue", "to block",
           "it returned" if out.error is None else name_of(out.error), "wait on a Condition while the queue is empty")
    q.put("item")
    join_all([thread])
    expect(out.value == "item", "what the blocked get() returned after put('item')", "'item'",
           "still blocked" if thread.is_alive() else repr(out.value), "put() must notify the waiting getter")
    q.put(1)
    thread, out = spawn(q.put, 2)
    settle([thread])
    expect(thread.is_alive(), "put() on a full Queue(1)", "to block", "it returned", "wait while the queue is full")
    first = q.get()
    join_all([thread])
    expect(not thread.is_alive(), "the blocked put() after a get() made room", "to return", "still blocked",
           "get() must notify a waiting putter")
    expect(first == 1 and q.get(timeout=1) == 2, "items after the blocked put", "1 then 2", "something else")




# ================================================================ the main mistakes, caught by the visible checks
# (`if` for `while`, `notify` for `notify_all`, a lost wakeup, state changed outside the lock, an exception
# swallowed by __exit__): a learner alone sees them fail, not only the grader.


@case("Semaphore", "BoundedSemaphore")
def with_statement(cls):
    """`with sem:` acquires and releases, also when the block raises"""
    sem = cls(1)
    with sem:
        expect_bool(sem.acquire(blocking=False), False, "acquire inside `with sem:`", "__enter__ must acquire")
    expect_bool(sem.acquire(blocking=False), True, "acquire after the `with` block", "__exit__ must release")
    sem.release()
    try:
        with sem:
            raise KeyError("inside")
    except KeyError:
        pass
    else:
        fail("a KeyError raised inside `with sem:`", "to propagate out of the block", "it was swallowed",
             "__exit__ must return None (or False): a true value swallows the exception")
    expect_bool(sem.acquire(blocking=False), True, "acquire after a `with` block that raised",
                "__exit__ runs on exceptions too: release there, and return nothing (None)")


@case("Semaphore", "BoundedSemaphore")
def woken_thread_rechecks(cls):
    """a woken acquire() re-checks the value: a permit taken by another thread in the meantime is not taken twice"""
    sem = cls(5)
    for _ in range(5):
        sem.acquire()
    waiters = [spawn(sem.acquire, name=f"waiter-{i}") for i in range(4)]
    settle([t for t, _ in waiters])
    taken_by_main = 0
    for _ in range(3):
        sem.release()  # wakes a waiter, but this thread takes the permit first
        taken_by_main += sem.acquire(blocking=False)
    time.sleep(0.2)
    finished = sum(out.done_at is not None for _, out in waiters)
    # release as many permits as are still owed to the waiters, then everybody must finish
    if finished + taken_by_main > 3:
        for _ in range(4):
            with contextlib.suppress(ValueError):
                sem.release()
        fail("permits handed out after 3 releases", "3 (taken either by this thread or by a waiter)",
             f"{finished + taken_by_main} ({taken_by_main} taken here, {finished} woken waiters also got one)",
             "a woken thread must check the value again before taking a permit: `while`, not `if`, "
             "around Condition.wait (or use wait_for)")
    for _ in range(4 - finished):
        sem.release()
    stuck = join_all([t for t, _ in waiters])
    expect(not stuck, "waiters after enough release() calls", "all to return", f"{len(stuck)} still blocked",
           "release() must notify the Condition")


@case("Semaphore")
def release_n_wakes_n(cls):
    """release(5) adds 5 permits and wakes all 5 blocked threads (no lost wakeups)"""
    sem = cls(0)
    waiters = [spawn(sem.acquire, name=f"waiter-{i}") for i in range(5)]
    settle([t for t, _ in waiters])
    sem.release(5)
    stuck = join_all([t for t, _ in waiters])
    for _ in stuck:
        sem.release()
    expect(not stuck, "threads still blocked in acquire() 3 s after release(5)", 0, len(stuck),
           "release(n) must wake n waiting threads: Condition.notify(n), or notify() n times")
    sem.release(3)
    got = [sem.acquire(blocking=False) for _ in range(4)]
    expect(got == [True, True, True, False], "acquires after release(3) on an empty semaphore",
           [True, True, True, False], got, "release(n) adds n to the value")


@case("Semaphore", "BoundedSemaphore")
def no_more_than_value_inside(cls):
    """8 threads x 40 `with sem:` under amplified races: never more than 3 inside, all permits back at the end"""
    sem = cls(3)
    lock = threading.Lock()
    inside, most = [0], [0]

    done = [0]

    def worker():
        for _ in range(40):
            sem.acquire()
            try:
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0)
                with lock:
                    inside[0] -= 1
                    done[0] += 1
            finally:
                sem.release()

    with amplified():
        runs = [spawn(worker, name=f"worker-{i}") for i in range(8)]
        stuck = watch(runs, lambda: done[0])
    if stuck:
        for _ in range(8 * len(stuck)):
            with contextlib.suppress(ValueError):
                sem.release()
    errors = sorted({name_of(out.error) for _, out in runs if out.error is not None})
    expect(not errors, "exceptions in the workers", "none", errors)
    expect(not stuck, f"workers blocked in acquire() with nothing moving for {WAKE:g} s", 0, len(stuck),
           "a lost wakeup (a release() that woke nobody) or permits lost: change the value only under the "
           "Condition's lock")
    expect(most[0] <= 3, "most threads inside a Semaphore(3) at once", "at most 3", most[0],
           "check and decrement the value under the Condition's lock, and re-check after waking (`while`)")
    got = [sem.acquire(blocking=False) for _ in range(4)]
    expect(got == [True, True, True, False], "permits left after the workers finished", 3, sum(got),
           "every release() must give back exactly one permit")


@case("Event")
def set_wakes_all(cls):
    """set() wakes all 6 waiting threads"""
    event = cls()
    waiters = [spawn(event.wait, name=f"waiter-{i}") for i in range(6)]
    settle([t for t, _ in waiters])
    event.set()
    stuck = join_all([t for t, _ in waiters])
    expect(not stuck, "threads still in wait() 3 s after set()", 0, len(stuck), "notify_all(), not notify()")
    got = [out.value for _, out in waiters]
    expect(got == [True] * 6, "what the six wait() calls returned", [True] * 6, got)


@case("Event")
def pulse(cls):
    """set() then clear() at once: every thread that was already waiting returns True"""
    event = cls()
    waiters = [spawn(event.wait, 10, name=f"waiter-{i}") for i in range(3)]
    settle([t for t, _ in waiters])
    event.set()
    event.clear()
    stuck = join_all([t for t, _ in waiters])
    if stuck:
        event.set()
    got = [out.value for _, out in waiters]
    expect(not stuck and got == [True] * 3, "wait() in threads that were waiting when set(); clear() ran",
           "True in all 3", got if not stuck else f"{len(stuck)} still waiting",
           "like threading.Event, a waiter woken by set() returns True even if clear() came right after: "
           "return what Condition.wait returned, do not loop until the flag is set")


@case("Queue")
def task_done_and_join(cls):
    """join() waits until task_done() was called once per item; one call too many raises ValueError"""
    q = cls()
    _, error, seconds = timed_call(q.join, what="join() with no unfinished tasks")
    expect(error is None and seconds < 1, "join() with no unfinished tasks", "to return at once", f"{seconds:.1f} s")
    q.put("a")
    q.put("b")
    thread, out = spawn(q.join)
    q.get()
    q.task_done()
    settle([thread])
    expect(thread.is_alive(), "join() with one task still unfinished", "to block", "it returned",
           "count unfinished tasks: +1 on put, -1 on task_done")
    q.get()
    q.task_done()
    stuck = join_all([thread])
    expect(not stuck, "join() after the last task_done()", "to return", "still blocked",
           "task_done() must notify the joiners when the count reaches 0")
    expect_raises(ValueError, q.task_done, what="task_done() with no unfinished task",
                  hint="task_done() called too many times")


@case("Queue")
def join_wakes_all(cls):
    """three threads in join() all return after the last task_done()"""
    q = cls()
    q.put(1)
    joiners = [spawn(q.join, name=f"joiner-{i}") for i in range(3)]
    settle([t for t, _ in joiners])
    q.get()
    q.task_done()
    stuck = join_all([t for t, _ in joiners])
    expect(not stuck, "threads still in join() after the last task_done()", 0, len(stuck), "notify_all(), not notify()")


@case("Queue")
def fifo_per_producer(cls):
    """3 producers x 100 items into a Queue(2), 1 consumer, amplified races: each producer's items arrive in order"""
    q = cls(2)
    got = []

    def producer(p):
        for i in range(100):
            q.put((p, i))

    def consumer():
        for _ in range(300):
            got.append(q.get())

    with amplified():
        runs = [spawn(producer, p, name=f"producer-{p}") for p in range(3)] + [spawn(consumer, name="consumer")]
        stuck = watch(runs, lambda: len(got))
    errors = sorted({name_of(out.error) for _, out in runs if out.error is not None})
    expect(not stuck and not errors, "producers and consumer", "to finish",
           f"{len(stuck)} still blocked, errors: {', '.join(errors) or 'no errors'}",
           "a lost wakeup? getters and putters wait for different things: two Conditions on one Lock, "
           "and notify the right one")
    for p in range(3):
        mine = [i for who, i in got if who == p]
        expect(mine == list(range(100)), f"items of producer {p} as the consumer got them", "0, 1, ..., 99 in order",
               mine[:8] + ["..."], "first in, first out")


# ================================================================ every schedule (the explorer)
#
# The tests above run real threads, amplified; these prove small cases. Each copies the learner's
# class with threadlab.checks.interleavings.explorable (its Lock and Condition become the
# explorer's) and tries every schedule of two threads (one switch before any bytecode, two between
# lines) and of three threads (two switches at the primitives' operations). A failing schedule is
# printed as a table, with the call that opens it in the explorer widget.

_TWO = (("instruction", 1),)  # two threads: one switch before any bytecode (a lost update inside one line too)
_THREE = (("sync", 2),)  # three threads: switches where a lock or condition is used


def explorer_case(*kinds: str):
    """:func:`case` for a test that runs the explorer (``tests(..., explore=False)`` leaves it out)."""

    def register(fn):
        fn.explorer = True
        return case(*kinds)(fn)

    return register


def _all_free(obj) -> bool:
    """No explorer lock or condition among ``obj``'s attributes is held (so the controller may call it)."""
    from threadlab.explorer import Condition, Lock

    for value in vars(obj).values():
        lock = value.lock if isinstance(value, Condition) else value
        if isinstance(lock, Lock) and lock.owner is not None:
            return False
    return True


def _prove_all(cls, programs, hint: str) -> None:
    from threadlab.checks.interleavings import Unexplorable, explorable, prove, traced_functions

    try:
        copy = explorable(cls)
    except TypeError as exc:
        raise AssertionError(f"expected a class: {exc}") from None
    trace = traced_functions(copy)
    try:
        for make, searches in programs:
            program = make(copy, trace)
            program.mode = searches[0][0]
            prove(program, hint, searches=searches)
    except Unexplorable as exc:
        print(f"  (not explored schedule by schedule: {exc}; the other tests checked it instead)")


def _program(*threads, setup, name, trace, invariant=None, final=None):
    from threadlab.explorer import Program

    return Program(*threads, setup=setup, invariant=invariant, final=final, trace=trace, name=name, max_steps=1500)


def _state(**values):
    from threadlab.explorer import State

    return State(**values)


def _inside(s):
    """no more threads inside than the semaphore has permits"""
    if s.inside > s.permits:
        raise AssertionError(f"{s.inside} threads hold the semaphore's {s.permits} permit(s) at once")


def _use_permit(s):
    from threadlab.explorer import pause

    s.sem.acquire()
    s.inside += 1
    pause()  # hold the permit for a while: other threads may run meanwhile
    s.inside -= 1
    s.sem.release()


def _take_one(s):
    s.sem.acquire()
    s.took += 1


def _give_one(s):
    s.sem.release()


@explorer_case(*SEMAPHORES)
def every_schedule_semaphore(cls):
    """every schedule of 2 and 3 threads sharing {kind}(1), of acquire() waiting for release(), and of release(2) (the explorer)"""

    def one_permit(n):
        return lambda copy, trace: _program(*[_use_permit] * n, setup=lambda: _state(sem=copy(1), inside=0, permits=1),
                                            invariant=_inside, trace=trace,
                                            name=f"{n} threads take and give back the only permit of {cls.__name__}(1)")

    def taken(copy):
        sem = copy(1)
        sem.acquire()  # the only permit is taken before the threads start
        return _state(sem=sem, took=0)

    def waits_for_release(copy, trace):
        def took(s):
            if s.took != 1:
                raise AssertionError("acquire() with no permit left returned before any release()")

        return _program(_take_one, _give_one, setup=lambda: taken(copy), final=took, trace=trace,
                        name=f"acquire() on a {cls.__name__}(1) whose permit is taken, while another thread "
                             "calls release()")

    def none_left(copy):
        sem = copy(2)
        sem.acquire()
        sem.acquire()  # both permits are taken before the threads start
        return _state(sem=sem, took=0)

    def release_two(s):
        s.sem.release(2)

    def two_wake(copy, trace):
        def both_took(s):
            if s.took != 2:
                raise AssertionError(f"release(2) gave back 2 permits, but {s.took} of the 2 waiting threads took one")

        return _program(_take_one, _take_one, release_two, setup=lambda: none_left(copy), final=both_took,
                        trace=trace, name=f"two threads wait in acquire() on a {cls.__name__}(2) with no permit "
                                          "left; a third calls release(2)")

    def one_of_two(copy):
        sem = copy(2)
        sem.acquire()  # one permit of two is taken before the threads start
        return _state(sem=sem, took=0)

    def one_left(s):
        left = 0
        while left < 3 and s.sem.acquire(blocking=False):
            left += 1
        if left != 1:
            raise AssertionError(f"{left} permits left after one release() and one acquire() on a semaphore with 1 "
                                 "free permit: a change of the count was lost (made outside the lock?)")

    def release_and_acquire(copy, trace):
        return _program(_give_one, _take_one, setup=lambda: one_of_two(copy), final=one_left, trace=trace,
                        name=f"release() and acquire() at the same time on a {cls.__name__}(2) with one permit taken")

    programs = [(waits_for_release, _TWO), (release_and_acquire, _TWO), (two_wake, _THREE)]
    inherited = "acquire" not in vars(cls) and any("acquire" in vars(base) for base in cls.__mro__[1:-1])
    if not inherited:  # a BoundedSemaphore that inherits the learner's acquire(): explored with the Semaphore
        programs = [(one_permit(2), _TWO), (one_permit(3), _THREE), *programs]
    _prove_all(cls, programs,
               "hold the condition's lock while you test and change the count, wait in a `while` loop (a woken "
               "thread must test again: another may have taken the permit first), and notify in release()")


def _wait_for_flag(s):
    s.woke.append(s.event.wait())


def _set_flag(s):
    s.event.set()


@explorer_case("Event")
def every_schedule_event(cls):
    """every schedule of one and of two threads waiting while another calls set() (the explorer)"""

    def waiters(n):
        def all_woke(s):
            if s.woke != [True] * n:
                raise AssertionError(f"wait() returned {s.woke} in the {n} waiting thread(s), expected True each")

        return lambda copy, trace: _program(*[_wait_for_flag] * n, _set_flag, setup=lambda: _state(event=copy(), woke=[]),
                                            final=all_woke, trace=trace,
                                            name=f"{n} thread(s) call wait() while another calls set()")

    _prove_all(cls, [(waiters(1), _TWO), (waiters(2), _THREE)],
               "test the flag and wait under the condition's lock, and wake every waiting thread in set() "
               "(notify_all(), not notify())")


def _rounds(s, me, rounds):
    for k in range(1, rounds + 1):
        s.arrived[me] = k
        s.barrier.wait()
        if min(s.arrived) < k:
            raise AssertionError(f"thread {me} passed wait() of round {k} before every thread had arrived "
                                 f"(arrivals: {s.arrived})")


@explorer_case("Barrier")
def every_schedule_barrier(cls):
    """every schedule of Barrier(2) used for two rounds, and of one round of Barrier(3) (the explorer)"""

    def parties(n, rounds):
        return lambda copy, trace: _program(*[(_rounds, i, rounds) for i in range(n)],
                                            setup=lambda: _state(barrier=copy(n), arrived=[0] * n), trace=trace,
                                            name=f"{n} threads pass Barrier({n}) {'twice' if rounds == 2 else 'once'}")

    _prove_all(cls, [(parties(2, 2), _TWO), (parties(3, 1), _THREE)],
               "count arrivals under the condition's lock; the last to arrive starts a new round and wakes all "
               "(notify_all()); the others wait in a loop until *their* round has ended, so a fast thread "
               "arriving for the next round cannot confuse them")


def _produce(s):
    for item in (1, 2):
        s.q.put(item)


def _consume(s, n):
    for _ in range(n):
        s.got.append(s.q.get())


@explorer_case("Queue")
def every_schedule_queue(cls):
    """every schedule of producers and consumers on Queue(1), and of two threads in join() (the explorer)"""

    def in_order(s):
        if s.got != [1, 2]:
            raise AssertionError(f"the consumer got {s.got} from a producer that put 1 then 2 into Queue(1)")

    def both_taken(s):
        if sorted(s.got) != [1, 2]:
            raise AssertionError(f"two consumers got {s.got} from a producer that put 1 and 2 into Queue(1)")

    def fifo(copy, trace):
        return _program(_produce, (_consume, 2), setup=lambda: _state(q=copy(1), got=[]), final=in_order,
                        trace=trace, name="a producer puts 1 and 2 into Queue(1); a consumer gets two")

    def two_consumers(copy, trace):
        return _program(_produce, (_consume, 1), (_consume, 1), setup=lambda: _state(q=copy(1), got=[]),
                        final=both_taken, trace=trace,
                        name="a producer puts 1 and 2 into Queue(1); two consumers get one each")

    def never_over(s):
        if _all_free(s.q) and s.q.qsize() > 1:
            raise AssertionError(f"Queue(1) held {s.q.qsize()} items")

    def all_three(s):
        if sorted(s.got) != [1, 2, 3]:
            raise AssertionError(f"the consumer got {s.got} from producers that put 1, 3 and 2 into Queue(1)")

    def put_two(s):
        s.q.put(1)
        s.q.put(3)

    def put_one(s):
        s.q.put(2)

    def two_producers(copy, trace):
        return _program(put_two, put_one, (_consume, 3), setup=lambda: _state(q=copy(1), got=[]),
                        invariant=never_over, final=all_three, trace=trace,
                        name="two producers put 1, 3 and 2 into Queue(1); a consumer gets three")

    def one_task(copy):
        q = copy()
        q.put("task")  # one task waits in the queue before the threads start
        return _state(q=q, joined=0)

    def join(s):
        s.q.join()
        s.joined += 1

    def do_task(s):
        s.q.get()
        s.q.task_done()

    def joiners(copy, trace):
        def both_joined(s):
            if s.joined != 2:
                raise AssertionError(f"{s.joined} of the 2 threads in join() returned after the last task_done()")

        return _program(join, join, do_task, setup=lambda: one_task(copy), final=both_joined, trace=trace,
                        name="two threads in join(); a third gets the one task and calls task_done()")

    _prove_all(cls, [(fifo, _TWO), (two_consumers, _THREE), (two_producers, (("sync", 1),)), (joiners, _THREE)],
               "wait in a `while` loop under the lock (a woken getter must test again: another getter may have "
               "taken the item), and after each put or get notify the Condition the other side waits on")
