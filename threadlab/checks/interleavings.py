"""Checks that try every schedule: the learner's own code, stepped by the course's explorer.

The generic part, used by the labs' checks too:

- :func:`explorable`   a copy of the learner's function or class in which ``threading``'s Lock, RLock,
  Condition, Event, Semaphore, BoundedSemaphore and Thread are the explorer's (in the learner's code only:
  nothing else in the kernel changes)
- :func:`prove`        every schedule of a small program with at most :data:`BOUND` preemptions must
  complete; else an ``AssertionError`` with the failing schedule as a short table (thread, line of
  the learner's code, shared values) and the one-line call that opens it in the explorer widget
- :func:`show_bug`     that call: the explorer widget on the last failing schedule, to step through it

and the checks of lesson 15's exercises:

- :func:`check_safe_withdraw`  a withdrawal that checks and subtracts in one critical section
- :func:`check_lock_order`     a second thread that takes two locks in the same order as the first
- :func:`check_consumer`       a consumer that waits for an item in a loop
- :func:`check_slot_wait`      a scanner's "wait for a free slot" without a lost wakeup

:func:`prove` first runs the program without any preemption, so code that is wrong whatever the
schedule (an exception, a deadlock with itself, a busy loop) is named as such. The search is
deterministic (:meth:`threadlab.explorer.Program.search` tries schedules in a fixed order, fewest
preemptions first): the same code gets the same verdict and the same failing schedule every time,
on any machine.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
import types

from threadlab.checks import Verdict, check
from threadlab.explorer import (
    BoundedSemaphore,
    Condition,
    Event,
    GuardedState,
    Lock,
    Primitive,
    Program,
    Queue,
    RLock,
    Semaphore,
    SimpleQueue,
    State,
    Thread,
    active_count,
    current_run,
    current_thread,
    enumerate_threads,
    get_ident,
    parse_schedule,
    pause,
)

__all__ = [
    "BOUND",
    "ExploredAccount",
    "ExploredJobs",
    "LAB_SEARCH",
    "accounts",
    "also_show_schedule",
    "Unexplorable",
    "check_consumer",
    "check_lock_order",
    "check_safe_withdraw",
    "check_slot_wait",
    "explorable",
    "explore_pool",
    "prove",
    "schedule_table",
    "show_bug",
    "show_last_bug",
]

BOUND = 2  #: preemptions: "every schedule" in these checks means every schedule with at most two
TIME_LIMIT = 8.0  #: seconds a search may take (they take well under one second)
MAX_ROWS = 14  #: rows of a schedule table; a longer one keeps its first and last rows

_last: dict = {}  # the program and schedule of the last failing check, for show_bug()


def show_bug():
    """The explorer widget on the schedule that failed the last check, ready to step through it:
    each click of "replay the bug: next step" takes one step of that schedule (the schedule is also
    in the widget's text box, to run at once)."""
    from threadlab.explorer import SearchResult, schedule_string
    from threadlab.explorer_widget import ExplorerWidget

    if not _last:
        raise LookupError("no check has found a failing schedule yet")
    program, schedule = _last["program"], list(_last["schedule"])
    widget = ExplorerWidget(program, title=program.name)
    widget.found = SearchResult(None, 1, 0.0, False, schedule, program.replay(schedule).outcome)
    widget.replay_button.disabled = False
    widget.schedule_box.value = schedule_string(schedule)
    widget.message = (f"the check's failing schedule, {len(schedule)} steps: press 'replay the bug: next step' to "
                      "take them one at a time")
    widget.reset()
    return widget


show_last_bug = show_bug  # its earlier name, kept for code written against it


# ---------------------------------------------------------------- the learner's code, explorable


class Unexplorable(Exception):
    """The learner's code does something the explorer cannot step through (threads, sleeps, I/O)."""


def _refuse(what):
    def refused(*args, **kwargs):
        raise Unexplorable(f"your code calls {what}, which the explorer cannot step through")

    refused.__name__ = what.rsplit(".", 1)[-1]
    return refused


def _shim_threading():
    shim = types.ModuleType("threading", "threading, with the explorer's primitives (see threadlab.explorer)")
    shim.Lock, shim.RLock, shim.Condition = Lock, RLock, Condition
    shim.Event, shim.Semaphore, shim.BoundedSemaphore = Event, Semaphore, BoundedSemaphore
    shim.Thread, shim.current_thread, shim.get_ident = Thread, current_thread, get_ident
    shim.enumerate, shim.active_count = enumerate_threads, active_count
    for name in ("Timer", "Barrier"):
        setattr(shim, name, _refuse(f"threading.{name}"))
    shim.TIMEOUT_MAX = threading.TIMEOUT_MAX
    shim.__getattr__ = lambda name: getattr(threading, name)
    return shim


def _explored_sleep(seconds=0):
    """time.sleep in explored code: nothing (the explorer tries every other thread at every step
    anyway), except in a program with ``timeouts="last"``, where it waits until no other thread can
    go on, as a loop that polls with a sleep waits for the others in real time."""
    run = current_run()
    if run is not None and run.patient:
        _SLEEP._block(lambda: False, timed=True, seconds=seconds)


class _Sleep(Primitive):
    kind = "sleep"

    def describe(self) -> str:
        return "time.sleep"


_SLEEP = _Sleep()


def _shim_time():
    shim = types.ModuleType("time", "time, whose sleep() is a point where another thread may run")
    shim.sleep = _explored_sleep
    shim.__getattr__ = lambda name: getattr(time, name)
    return shim


def _shim_queue():
    shim = types.ModuleType("queue", "queue, whose Queue and SimpleQueue are the explorer's")
    shim.Queue, shim.SimpleQueue, shim.Empty, shim.Full = Queue, SimpleQueue, queue.Empty, queue.Full
    for name in ("LifoQueue", "PriorityQueue"):
        setattr(shim, name, _refuse(f"queue.{name}"))
    shim.__getattr__ = lambda name: getattr(queue, name)
    return shim


_REAL = {  # what a cell may have imported by name, and what the explored copy gets instead
    threading.Lock: Lock, threading.RLock: RLock, threading.Condition: Condition, threading.Event: Event,
    threading.Semaphore: Semaphore, threading.BoundedSemaphore: BoundedSemaphore,
    time.sleep: _explored_sleep,
    threading.Thread: Thread, threading.current_thread: current_thread, threading.get_ident: get_ident,
    threading.enumerate: enumerate_threads, threading.active_count: active_count,
    threading.Timer: _refuse("threading.Timer"), threading.Barrier: _refuse("threading.Barrier"),
    queue.Queue: Queue, queue.SimpleQueue: SimpleQueue,
    queue.LifoQueue: _refuse("queue.LifoQueue"), queue.PriorityQueue: _refuse("queue.PriorityQueue"),
}


_LOCK_TYPE, _RLOCK_TYPE = type(threading.Lock()), type(threading.RLock())


def _explorer_twin(value):
    """An explorer primitive for a real one a cell made at the top level (a module-wide lock), or None.
    The twin lives as long as the copies: every run of the program shares it, as the threads share
    the real one."""
    from threadlab.labcheck import TracedLock, TracedRLock

    if isinstance(value, (_RLOCK_TYPE, TracedRLock)):
        return RLock()
    if isinstance(value, (_LOCK_TYPE, TracedLock)):
        return Lock()
    if isinstance(value, threading.Condition):
        return Condition()
    if isinstance(value, threading.BoundedSemaphore):
        return BoundedSemaphore(value._initial_value)
    if isinstance(value, threading.Semaphore):
        return Semaphore(value._value)
    if isinstance(value, threading.Event):
        twin = Event()
        twin.flag = value.is_set()
        return twin
    return None


def _codes(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


class _Rebinder:
    """Copies of a module's functions and classes that share one new namespace: the module's,
    with ``threading``, ``time`` and ``queue`` (and names imported from them) swapped for explorable ones."""

    def __init__(self, module: str, namespace: dict):
        self.module = module
        self.source = namespace
        self.namespace = dict(namespace)
        self.copies: dict[int, object] = {}
        self.cells: dict[int, object] = {}  # closure cells holding real primitives -> cells holding twins
        self.functions: list = []  # every function copied: their files are the ones to step through
        for name, value in namespace.items():
            if value is threading:
                self.namespace[name] = _shim_threading()
            elif value is time:
                self.namespace[name] = _shim_time()
            elif value is queue:
                self.namespace[name] = _shim_queue()
            else:
                try:
                    swapped = _REAL.get(value)
                except Exception:  # unhashable, or a strange __eq__
                    swapped = None
                if swapped is None:
                    swapped = _explorer_twin(value)
                if swapped is not None:
                    self.namespace[name] = swapped

    def ours(self, value) -> bool:
        return (isinstance(value, (types.FunctionType, type)) and getattr(value, "__module__", None) == self.module
                and (not isinstance(value, types.FunctionType) or value.__globals__ is self.source))

    def copy(self, value):
        if not self.ours(value):
            return value
        if id(value) in self.copies:
            return self.copies[id(value)]
        if isinstance(value, type):
            return self._class(value)
        return self._function(value)

    def _referenced(self, code):
        for c in _codes(code):
            for name in c.co_names:
                if name in self.source and self.ours(self.source[name]):
                    self.namespace[name] = self.copy(self.source[name])

    def _function(self, fn, class_cell=None):
        if fn.__globals__ is not self.source:
            return fn
        closure = fn.__closure__
        if closure is not None:
            closure = tuple(class_cell if name == "__class__" and class_cell is not None else self._cell(cell)
                            for name, cell in zip(fn.__code__.co_freevars, closure))
        new = types.FunctionType(fn.__code__, self.namespace, fn.__name__, fn.__defaults__, closure)
        new.__kwdefaults__ = fn.__kwdefaults__
        new.__qualname__, new.__doc__, new.__module__ = fn.__qualname__, fn.__doc__, fn.__module__
        # not fn.__dict__: a lock kept there by earlier real runs would block an explored thread for real
        self.copies[id(fn)] = new
        self.functions.append(new)
        self._referenced(fn.__code__)
        return new

    def _cell(self, cell):
        """A closure cell, or a new one holding the explorer twin of the real lock (or the like) it holds."""
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            return cell
        if id(cell) not in self.cells:
            twin = _explorer_twin(value)
            self.cells[id(cell)] = cell if twin is None else types.CellType(twin)
        return self.cells[id(cell)]

    def _member(self, value, cell):
        if isinstance(value, types.FunctionType):
            return self._function(value, cell)
        if isinstance(value, staticmethod):
            return staticmethod(self._member(value.__func__, cell))
        if isinstance(value, classmethod):
            return classmethod(self._member(value.__func__, cell))
        if isinstance(value, property):
            parts = [self._member(f, cell) if f is not None else None for f in (value.fget, value.fset, value.fdel)]
            return property(*parts, value.__doc__)
        return value

    def _class(self, cls):
        cell = types.CellType()
        bases = tuple(self.copy(base) for base in cls.__bases__)
        slots = "__slots__" in cls.__dict__
        body = {}
        for name, value in cls.__dict__.items():
            if name in ("__dict__", "__weakref__") or (slots and isinstance(value, types.MemberDescriptorType)):
                continue
            body[name] = self._member(value, cell)
        new = type(cls)(cls.__name__, bases, body)
        new.__qualname__ = cls.__qualname__
        cell.cell_contents = new
        self.copies[id(cls)] = new
        return new


def explorable(*objects):
    """Copies of the learner's functions or classes whose ``threading`` is the explorer's.

    ``explorable(Counter)`` returns a class like ``Counter`` whose ``threading.Lock()`` (or a
    ``Lock`` imported from threading) is an explorer lock, so :class:`threadlab.explorer.Program`
    can run its methods one bytecode at a time; functions and classes of the same notebook that
    they use are copied along (a subclass's base, a helper function), ``time.sleep`` does nothing
    (in a program with ``timeouts="last"`` it waits until no other thread can go on), a
    ``threading.Thread`` it starts is a thread of the run (:class:`threadlab.explorer.Thread`),
    ``queue.Queue`` and ``SimpleQueue`` are the explorer's (:class:`threadlab.explorer.Queue`) and
    ``Timer``, ``Barrier``, ``LifoQueue`` or ``PriorityQueue`` raise :class:`Unexplorable`.
    The originals are untouched. Returns one copy, or a tuple of copies for several objects, and
    the functions to step through as the copies' ``__explored__``.
    """
    first = objects[0]
    fn = first if isinstance(first, types.FunctionType) else next(
        (v for v in vars(first).values() if isinstance(v, types.FunctionType)), None) if isinstance(first, type) else None
    if fn is None:
        raise TypeError(f"expected a function or a class with methods, got {first!r:.80}")
    rebinder = _Rebinder(first.__module__, fn.__globals__)
    copies = tuple(rebinder.copy(obj) for obj in objects)
    traced = tuple(rebinder.functions)
    for made in copies:
        try:
            made.__explored__ = traced
        except (AttributeError, TypeError):
            pass
    return copies[0] if len(copies) == 1 else copies


def traced_functions(*copies) -> tuple:
    """The functions whose lines the explorer steps through, for copies made by :func:`explorable`."""
    found = []
    for made in copies:
        for fn in getattr(made, "__explored__", ()):
            if fn not in found:
                found.append(fn)
    return tuple(found)


# ---------------------------------------------------------------- fixtures for programs


class ExploredAccount:
    """A bank account for a program: ``number``, ``balance`` and ``lock`` (an explorer lock)."""

    def __init__(self, number: int, balance: int):
        self.number, self.balance, self.lock = number, balance, Lock(f"account {number}")

    def __repr__(self):
        return f"account {self.number}: {self.balance}, lock {self.lock.describe()}"


def accounts(*balances: int, **more) -> State:
    """A State with accounts ``a``, ``b``, ``c``... numbered 1, 2, 3... holding ``balances``, and ``more``."""
    return State(**{name: ExploredAccount(i, b) for i, (name, b) in enumerate(zip("abcdef", balances), 1)}, **more)


def also_show_schedule(test, explore):
    """``test`` (a check's function that raises AssertionError), with the explorer behind it: when the
    test fails, ``explore()`` looks for a schedule that shows the same mistake and the failure's
    message gains that schedule's table; when the test passes, ``explore()`` must pass too (it
    tries every schedule of a small case: it may catch what the test's runs did not meet)."""

    def run():
        try:
            test()
        except AssertionError as failure:
            try:
                explore()
            except AssertionError as shown:
                text = str(shown)
                if "steps  thread" in text:
                    raise AssertionError(f"{failure}\n\nThe schedule explorer shows it with your code, "
                                         f"step by step. {text}") from None
            except (Unexplorable, NotImplementedError):
                pass
            raise
        try:
            explore()
        except Unexplorable:
            pass

    return run


# ---------------------------------------------------------------- pools: every schedule of a small one
#
# A learner's pool function (``run_pool(func, items, workers)``, copied by explorable, so its threads and
# queues are the explorer's, and the worker function it uses along with it) is the one body of a program;
# the workers it starts become threads of the run. Three jobs on two workers in mode "sync" (the workers
# share the queues, so the moments that matter are the queue operations and the middle of a job), then
# two jobs in mode "line", one switch anywhere in the learner's lines (shared state touched without a
# queue: a list index, a dict of results). Measured with lab 4's reference answer on an idle 2-core
# machine: 94 schedules in 0.4 s, then 191 in 1.4 s (1.2-3.8 s with two CPU-burning programs alongside).

POOL_SEARCH = {3: (("sync", 1),), 2: (("line", 1),)}  #: jobs in the program: its searches


class ExploredJobs:
    """Jobs for the explorer: ``job(x)`` is plain Python (not stepped through) that returns ``10 * x``,
    counts the calls per item and the jobs in progress, and lets another thread run in the middle of
    each job (:func:`~threadlab.explorer.pause`). Shown among the shared values as the jobs in
    progress and the items done."""

    def __init__(self):
        self.calls: dict = {}
        self.in_progress: list = []
        self.done: list = []
        self.alive_at_return: list[int] = []  # set by the program: started threads alive when the pool returned

    def job(self, x):
        self.calls[x] = self.calls.get(x, 0) + 1
        self.in_progress.append(x)
        try:
            pause()  # a job takes a while: other threads may run meanwhile
            return 10 * x
        finally:
            self.in_progress.remove(x)
            self.done.append(x)

    def __repr__(self):
        return f"in progress {self.in_progress}, done {self.done}"


class _MadeQueues:
    """Shown among the shared values: what each queue the program made holds, in the order it made them."""

    def __init__(self):
        self.run = None

    def __repr__(self):
        made = [p for p in (self.run.created if self.run is not None else ()) if isinstance(p, Queue)]
        return " ".join(q.describe() for q in made) or "none"


def _pool_program(pool_fn, call: str, items, workers: int, trace, invariant=None, final=None) -> Program:
    items = list(items)
    expected = [10 * x for x in items]
    name = f"{call}(job, {items}, {workers}) with job(x) = 10 * x"

    def setup():
        return State(jobs=ExploredJobs(), queues=_MadeQueues(), returned="nothing yet")

    def pool(s):
        s.queues.run = current_run()
        s.returned = pool_fn(s.jobs.job, list(items), workers)
        s.jobs.alive_at_return = current_run().started_alive()

    def right(s):
        if s.jobs.alive_at_return:
            raise AssertionError(f"worker thread(s) {s.jobs.alive_at_return} were still running when {call} returned: "
                                 "join every worker before you return")
        never = [x for x in items if s.jobs.calls.get(x, 0) == 0]
        twice = [x for x in items if s.jobs.calls.get(x, 0) > 1]
        if never or twice:
            raise AssertionError(f"item(s) {never} were never done" if never else f"item(s) {twice} were done more "
                                 "than once")
        if s.returned != expected:
            raise AssertionError(f"{call} returned {s.returned!r}, expected {expected} (each result at its item's index)")

    # timeouts="last": a worker's jobs.get(timeout=10) guards against a hang; it times out only when
    # nothing else can happen, not in the middle of the pool's work
    return Program(pool, setup=setup, invariant=invariant, final=final or right, trace=trace, name=name, mode="sync",
                   max_steps=400, timeouts="last")


def explore_pool(pool_fn, call: str, hint: str) -> None:
    """Every schedule of ``pool_fn(job, [1, 2, 3], 2)`` with one switch at the queue operations or in
    the middle of a job, and of ``pool_fn(job, [1, 2], 2)`` with one switch anywhere in the learner's
    lines, with a job that returns ``10 * x``: it must return the results in order, do each item once
    and leave no worker running. A schedule in which every thread waits (a worker that never gets its
    STOP, a result never put) is a deadlock, shown as a table. And some schedule must have two jobs in
    progress at once, or the workers run one after the other. ``call`` names the function in the
    messages; ``hint`` ends a failing verdict."""
    copy = explorable(pool_fn)
    trace = traced_functions(copy)
    for items in ((1, 2, 3), (1, 2)):
        prove(_pool_program(copy, call, items, 2, trace), hint, searches=POOL_SEARCH[len(items)])

    def one_at_a_time(s):
        return len(s.jobs.in_progress) < 2

    overlap = _pool_program(copy, call, (1, 2, 3), 2, trace, invariant=one_at_a_time, final=lambda s: True)
    mode, bound = POOL_SEARCH[3][0]
    if not _in_mode(overlap, mode).search(bound=bound, time_limit=TIME_LIMIT).found:
        raise AssertionError(f"{call}(job, [1, 2, 3], 2): in no schedule were two jobs in progress at once: the "
                             "workers run one after the other. Hint: start every worker first and join them only after "
                             "the jobs and the STOPs are on the queue")


# ---------------------------------------------------------------- a failing schedule, as a table


def _attempted(*bodies):
    for body in bodies:
        if body is ... or body is None:
            raise NotImplementedError
        if not callable(body):
            raise AssertionError(f"expected a function (a thread body), got {body!r}")


def _outcome_text(outcome) -> str:
    if outcome.kind == "limit":
        return f"{outcome.message}: a thread was still running (a loop that spins instead of waiting?)"
    return str(outcome)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def schedule_table(program: Program, schedule) -> str:
    """The run of ``schedule`` as rows: which thread ran, the lines of traced code it ran, and the
    shared values afterwards; one row per stretch of steps of one thread. A row ends in "(woken)"
    when the thread came back from a wait, "(blocks)" when it stopped at a lock or a wait, "(raised
    Empty)" when an exception ended the thread (a started one: the others go on)."""
    steps = parse_schedule(schedule) if isinstance(schedule, str) else list(schedule)
    rows = []  # [first step, last step, thread, [lines], shared, woken, blocks, [threads it started], exception]
    with program.start() as run:
        for k, index in enumerate(steps, 1):
            if run.outcome.finished:
                break
            view = run.view(index)
            line = view.line.split("  #")[0].rstrip() or f"({view.code_name or view.name})"  # no end-of-line comment
            woken = bool(view.waiting_for) and not view.waiting_for.startswith("pause")
            threads_before = len(run.threads)
            run.step(index)
            started = list(range(threads_before, len(run.threads)))  # threads this step started
            after_step = run.view(index)
            blocks = not run.outcome.finished and after_step.status == "blocked"
            raised = after_step.error.split(":", 1)[0] if after_step.status == "failed" and after_step.error else ""
            shared = "; ".join(f"{k}={v}" for k, v in run.shared().items())
            if rows and rows[-1][2] == index:
                row = rows[-1]
                row[1], row[4], row[6] = k, shared, blocks
                row[7] += started
                row[8] = row[8] or raised
                if row[3][-1] != line:
                    row[3].append(line)
            else:
                rows.append([k, k, index, [line], shared, woken, blocks, started, raised])
        end = run.outcome
        after = {v.index: v for v in run.views()}
    lines = [f"  {'steps':>7}  {'thread':<8}{'ran these lines of your code':<58}shared values after"]
    shown = rows if len(rows) <= MAX_ROWS else rows[: MAX_ROWS // 2] + [None] + rows[-(MAX_ROWS // 2):]
    for row in shown:
        if row is None:
            lines.append(f"  {'...':>7}")
            continue
        first, last, index, code, shared, woken, blocks, started, raised = row
        steps_text = f"{first}" if first == last else f"{first}-{last}"
        ran = code[0] if len(code) == 1 else f"{code[0]} ... {code[-1]}" if len(code) > 2 else " / ".join(code)
        marks = ("(woken) " if woken else "") + ("(blocks) " if blocks else "") + (f"(raised {raised}) " if raised else "")
        if started:  # threads started in these steps (numbered after the ones the run had)
            marks += f"(starts thread{'s' * (len(started) > 1)} {', '.join(map(str, started))})"
        marks = marks.strip()
        ran = _cut(ran, max(20, 56 - len(marks) - 1)) + (" " + marks if marks else "")
        lines.append(f"  {steps_text:>7}  {index:<8}{ran:<58}{_cut(shared, 130)}")
    blocked = [f"thread {v.index} waits at `{v.line}` for {v.waiting_for}" for v in after.values()
               if v.status == "blocked" and v.waiting_for]
    lines.append(f"  then: {_outcome_text(end)}" + ("".join(f"\n        {b}" for b in blocked) if end.kind != "deadlock"
                                                  else ""))
    return "\n".join(lines)


#: what :func:`prove` tries by default for the labs' programs, which run a learner's whole method:
#: every schedule with one preemption before any bytecode instruction (a lost update inside one
#: line such as ``self.value += 1`` needs that), then every schedule with two preemptions at line
#: boundaries. Both searches are exhaustive and run in a fixed order, so the verdict is the same
#: on every machine.
LAB_SEARCH = (("instruction", 1), ("line", 2))


def _in_mode(program: Program, mode: str) -> Program:
    if program.mode == mode:
        return program
    other = copy.copy(program)
    other.mode = mode
    return other


def prove(program: Program, hint: str, bound: int = BOUND, searches=None) -> None:
    """Every schedule of ``program`` with at most ``bound`` preemptions must complete; else raise
    ``AssertionError`` with the failing schedule (fewest preemptions first) as a table, the hint,
    and how to step through it (:func:`show_bug`). ``searches`` (such as :data:`LAB_SEARCH`)
    replaces the one search by several, as (mode, bound) pairs tried in turn."""
    plain = program.replay("", finish=True)
    if "NotImplementedError" in plain.outcome.message:
        raise NotImplementedError
    if "Unexplorable" in plain.outcome.message:
        raise Unexplorable(plain.outcome.message.split("Unexplorable: ", 1)[-1])
    if plain.outcome.kind != "completed":
        _last.update(program=program, schedule=plain.schedule)
        raise AssertionError(f"{program.name}: even without any preemption it ends {_outcome_text(plain.outcome)}.\n"
                             f"{schedule_table(program, plain.schedule)}\nHint: {hint}")
    for mode, most in searches or ((program.mode, bound),):
        explored = _in_mode(program, mode)
        found = explored.search(bound=most, time_limit=TIME_LIMIT)
        if found.found:
            _last.update(program=explored, schedule=found.schedule)
            preemptions = _preemptions(explored, found.schedule)
            raise AssertionError(
                f"{program.name}: a schedule with {preemptions} preemption{'s' * (preemptions != 1)} ends "
                f"{_outcome_text(found.outcome)}\n{schedule_table(explored, found.schedule)}\n"
                f"Hint: {hint}\nStep through it: from threadlab.checks.interleavings import show_bug; show_bug()")
        if not found.exhaustive:
            raise AssertionError(f"{program.name}: the search was cut short after {found.runs} schedules in "
                                 f"{found.seconds:.1f} s: make the thread bodies shorter")


def _preemptions(program: Program, schedule) -> int:
    """How many switches in ``schedule`` left a thread that could have gone on."""
    count = 0
    with program.start() as run:
        prev = None
        for index in schedule:
            if run.outcome.finished:
                break
            if prev is not None and index != prev and prev in run.enabled():
                count += 1
            prev = index
            run.step(index)
    return count


# ---------------------------------------------------------------- 15.1: check, then act


def _never_negative(s):
    """the balance never goes below zero"""
    return s.balance >= 0


def check_safe_withdraw(withdraw) -> Verdict:
    """Exercise 15.1: two threads call ``withdraw(s, 80)``; no schedule may overdraw the account
    (balance 100: exactly one goes through; balance 80: exactly one goes through too)."""

    def test():
        _attempted(withdraw)
        for balance, left in ((100, 20), (80, 0)):

            def one_withdrawal(s, left=left):
                return s.balance == left and not s.lock.locked()

            one_withdrawal.__doc__ = f"exactly one withdrawal of 80 went through (balance {left} left), s.lock is free"
            program = Program((withdraw, 80), (withdraw, 80), setup=lambda b=balance: State(balance=b, lock=Lock()),
                              invariant=_never_negative, final=one_withdrawal,
                              name=f"two withdrawals of 80 from {balance}")
            prove(program, "check the balance and subtract inside one `with s.lock:` block (it also releases "
                            "the lock on every path), and allow a withdrawal of the whole balance (`>=`)")

    return check("Exercise 15.1: a safe withdrawal", test)


# ---------------------------------------------------------------- 15.2: two locks


def left_then_right(s):
    with s.left:
        with s.right:
            s.moved += 1


def _two_locks():
    return GuardedState({"moved": ("left", "right")}, moved=0, left=Lock(), right=Lock())


def _both_moved(s):
    """both threads added 1 to s.moved, and both locks are free again"""
    return s.moved == 2 and not s.left.locked() and not s.right.locked()


def check_lock_order(thread1) -> Verdict:
    """Exercise 15.2: thread 0 takes ``left`` then ``right``; ``thread1(s)`` must add 1 to
    ``s.moved`` while holding both locks, and no schedule may deadlock."""

    def test():
        _attempted(thread1)
        program = Program(left_then_right, thread1, setup=_two_locks, final=_both_moved,
                          name="thread 0 takes left then right; thread 1 is yours")
        prove(program, "take the locks in the order thread 0 takes them (left, then right) and hold both "
                        "while you change s.moved")

    return check("Exercise 15.2: one lock order", test)


# ---------------------------------------------------------------- 15.3: wait in a loop


def producer_with_early_wakeup(s):
    """Wakes the consumer once before there is anything to take (another consumer was faster,
    say), then puts an item and wakes it again."""
    with s.cv:
        s.cv.notify()
    with s.cv:
        s.items.append("x")
        s.cv.notify()


def second_consumer(s):
    """Takes the item that is already there, if it is still there, then puts another one."""
    with s.cv:
        if s.items:
            s.items.pop()
            s.taken += 1
    with s.cv:
        s.items.append("y")
        s.cv.notify()


def _all_consumed(s):
    """the consumer took the item"""
    return s.items == []


def _one_consumed(s):
    """the consumer took exactly one item"""
    return len(s.items) == 1 - s.taken


def check_consumer(consumer) -> Verdict:
    """Exercise 15.3: ``consumer(s)`` takes one item from ``s.items``, waiting on the Condition
    ``s.cv`` while the list is empty. Two programs: a producer that wakes the consumer once too
    early, and a second consumer that may take the item first."""

    def test():
        _attempted(consumer)
        hint = ("hold s.cv, wait in a `while not s.items:` loop (a wakeup only means that something happened: "
                "test again), and pop while you still hold s.cv")
        prove(Program(consumer, producer_with_early_wakeup, final=_all_consumed,
                       setup=lambda: State(items=[], cv=Condition(Lock())),
                       name="your consumer; a producer that wakes it too early"), hint)
        prove(Program(consumer, second_consumer, final=_one_consumed,
                       setup=lambda: State(items=["x"], taken=0, cv=Condition(Lock())),
                       name="your consumer; another consumer"), hint)

    return check("Exercise 15.3: wait in a loop", test)


# ---------------------------------------------------------------- 15.4: the scanner's slot


def _never_over_limit(s):
    """never more scans running than the limit"""
    return s.active <= s.limit


def _next_scan_started(s):
    """main started its next scan and one scan is running"""
    return s.started == 1 and s.active == 1


def check_slot_wait(main, scan_done) -> Verdict:
    """Exercise 15.4: one scan runs (``s.active == 1``, ``s.limit == 1``); ``main(s)`` waits for a
    free slot and starts the next scan (``s.active += 1``, ``s.started += 1``); ``scan_done(s)``
    ends the running scan and wakes main. No schedule may lose the wakeup or exceed the limit."""

    def test():
        _attempted(main, scan_done)

        def setup():
            lock = Lock()
            return State(active=1, limit=1, started=0, lock=lock, slot_free=Event(), slot_cv=Condition(lock))

        program = Program(main, scan_done, setup=setup, invariant=_never_over_limit, final=_next_scan_started,
                          name="main waits for a slot; a scan ends")
        prove(program, "test the count and wait under the same lock: `with s.slot_cv:` then "
                        "`while s.active >= s.limit: s.slot_cv.wait()`; the scan that ends changes s.active "
                        "and calls s.slot_cv.notify() inside `with s.slot_cv:`")

    return check("Exercise 15.4: no lost wakeup", test)
