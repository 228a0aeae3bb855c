"""Lesson 14: debugging threaded programs.

- :func:`scripted_pdb` makes a ``pdb.Pdb`` that reads its commands from a string and writes to a
  buffer, so a breakpoint inside a thread runs unattended (in CI) and its transcript can be checked;
  :func:`pdb_replies` splits the transcript into one reply per command.
- :func:`run_under_pdb_cli` runs a small two-thread program under ``python -m pdb``.
- :func:`captured_log` collects formatted log records (thread names and ids included).
- :func:`thread_stacks`, :func:`faulthandler_dump` and :func:`watchdog_dump`: every thread's stack.
- :class:`LockMonitor` and :class:`TracedLock`: locks that remember who holds them and who waits,
  :meth:`LockMonitor.wait_for_graph` and :func:`find_cycle` name the threads of a deadlock.
- :func:`collect_thread_errors` and :func:`collect_unraisable`: errors that would otherwise vanish.
"""

from __future__ import annotations

import bdb
import faulthandler
import io
import logging
import pdb
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager

from threadlab.checks import check

# --- a scripted debugger ---------------------------------------------------------------------


def standard_pdb_class() -> type:
    """The standard library's ``pdb.Pdb``.

    A Jupyter kernel replaces ``pdb.Pdb`` and ``pdb.set_trace`` with IPython's debugger (prompt
    ``ipdb>``, colours, source context); the original is still its base class.
    """
    for cls in pdb.Pdb.__mro__:
        if cls.__module__ == "pdb" and cls.__name__ == "Pdb":
            return cls
    return pdb.Pdb  # pragma: no cover


def scripted_pdb(commands: str) -> pdb.Pdb:
    """A debugger that reads ``commands`` (one per line) instead of the keyboard.

    Its output goes to ``debugger.stdout`` (a StringIO). End the script with ``continue``: at the
    end of its input pdb would quit, which raises ``BdbQuit`` in the debugged thread.
    """
    debugger_class = standard_pdb_class()
    return debugger_class(stdin=io.StringIO(commands), stdout=io.StringIO(), nosigint=True, readrc=False)


def pdb_replies(transcript: str, commands: str) -> list[tuple[str, str]]:
    """Pair each command of the script with what pdb printed in reply.

    The transcript is: where it stopped, then ``(Pdb) `` prompt + reply, once per command.
    """
    parts = re.split(r"\(Pdb\) |ipdb> ", transcript)
    lines = [line for line in commands.splitlines() if line.strip()]
    return [(cmd, reply.rstrip("\n")) for cmd, reply in zip(lines, parts[1:])]


def debug_in_thread(target, args=(), name: str = "debugged", timeout: float = 10.0) -> threading.Thread:
    """Run ``target(*args)`` in a thread and wait for it (bounded); returns the finished thread."""
    thread = threading.Thread(target=target, args=args, name=name)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"thread {name} still running after {timeout} s (did the script end with continue?)")
    return thread


PDB_CLI_PROGRAM = '''\
import threading

def work(label):
    result = label.upper()
    return result

work("main")
worker = threading.Thread(target=work, args=("thread",), name="worker")
worker.start()
worker.join()
print("program finished")
'''
#: the line of ``result = label.upper()`` in PDB_CLI_PROGRAM
PDB_CLI_BREAK_LINE = 4


def run_under_pdb_cli(commands: str, timeout: float = 30.0) -> str:
    """Run PDB_CLI_PROGRAM under ``python -m pdb``, feeding it ``commands``; returns the transcript."""
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/buggy.py"
        with open(path, "w") as f:
            f.write(PDB_CLI_PROGRAM)
        done = subprocess.run(
            [sys.executable, "-m", "pdb", path],
            input=commands,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=folder,
        )
    return done.stdout


def labels_seen_under_pdb_cli() -> list[str]:
    """Set a breakpoint in ``work`` with ``python -m pdb``; which calls of ``work`` stop there?"""
    # after each stop, print the label and continue; when the program ends pdb restarts it: quit then
    script = f"b {PDB_CLI_BREAK_LINE}\nc\np label\nc\np label\nc\nq\n"
    out = run_under_pdb_cli(script)
    return re.findall(r"^\(Pdb\) '(main|thread)'$", out, flags=re.M)


# --- logging with thread names ---------------------------------------------------------------

THREAD_FORMAT = "%(threadName)s %(thread)d %(levelname)s %(message)s"


class ListHandler(logging.Handler):
    """A logging handler that keeps every formatted record in a list (and the records)."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)
        self.lines.append(self.format(record))


@contextmanager
def captured_log(name: str = "threadlab.lesson14", fmt: str = THREAD_FORMAT, level=logging.INFO):
    """``with captured_log() as handler:`` log to ``logging.getLogger(name)``, read ``handler.lines``."""
    logger = logging.getLogger(name)
    handler = ListHandler()
    handler.setFormatter(logging.Formatter(fmt))
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


class WriteRecorder:
    """A file-like object that records every ``write()`` call separately."""

    def __init__(self):
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self):
        pass


# --- every thread's stack --------------------------------------------------------------------


def thread_stacks() -> dict[str, list[str]]:
    """{thread name: [function names, outermost first]} for every running thread, right now."""
    names = {t.ident: t.name for t in threading.enumerate()}
    stacks = {}
    for ident, frame in sys._current_frames().items():
        stacks[names.get(ident, f"thread {ident}")] = [f.name for f in traceback.extract_stack(frame)]
    return stacks


def format_thread_stacks(last: int = 3) -> str:
    """A readable dump: for each thread its name, id and the last ``last`` frames of its stack."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame)[-last:])
        parts.append(f"--- {names.get(ident, '?')} (id {ident}) ---\n{stack}")
    return "\n".join(parts)


def faulthandler_dump() -> str:
    """``faulthandler.dump_traceback`` of all threads, read back from a temporary file.

    faulthandler writes with the C ``write()`` to a file descriptor (it must work even when the
    interpreter is broken), so it needs a real file, not ``sys.stdout`` of a notebook.
    """
    with tempfile.TemporaryFile("w+") as f:
        faulthandler.dump_traceback(file=f, all_threads=True)
        f.seek(0)
        return f.read()


def faulthandler_idents(dump: str) -> set[int]:
    """The thread ids named in a faulthandler dump (``Thread 0x00007f...``)."""
    return {int(x, 16) for x in re.findall(r"^(?:Current thread|Thread) (0x[0-9a-f]+)", dump, flags=re.M)}


def watchdog_dump(after: float, wait_up_to: float = 10.0) -> str:
    """Arm ``faulthandler.dump_traceback_later(after)`` and let a thread hang past it.

    The watchdog is a C thread: it dumps every stack even when no Python code can run. The hang
    is a thread blocked in ``Event.wait`` inside a function named ``stuck_here``; it is released
    afterwards. Returns the dump.
    """
    release = threading.Event()

    def stuck_here():
        release.wait(wait_up_to)

    hung = threading.Thread(target=stuck_here, name="hung")
    with tempfile.TemporaryFile("w+") as f:
        hung.start()
        faulthandler.dump_traceback_later(after, repeat=False, file=f)
        try:
            deadline = time.monotonic() + wait_up_to
            while time.monotonic() < deadline:
                time.sleep(0.02)
                f.seek(0, 2)
                if f.tell() > 0:
                    time.sleep(0.05)  # let it finish writing
                    break
        finally:
            faulthandler.cancel_dump_traceback_later()
            release.set()
            hung.join(wait_up_to)
        f.seek(0)
        return f.read()


# --- who holds which lock --------------------------------------------------------------------


class LockMonitor:
    """Bookkeeping for :class:`TracedLock`: which thread owns each lock, which lock each thread waits for."""

    def __init__(self):
        self._guard = threading.Lock()
        self.owners: dict[str, str] = {}  # lock name -> owning thread name
        self.waiting: dict[str, str] = {}  # thread name -> name of the lock it waits for

    def lock(self, name: str) -> TracedLock:
        return TracedLock(name, self)

    def wait_for_graph(self) -> dict[str, str]:
        """{waiting thread: thread that holds the lock it waits for}."""
        with self._guard:
            return {
                thread: self.owners[lock] for thread, lock in self.waiting.items() if lock in self.owners
            }

    def report(self) -> list[str]:
        """One line per waiting thread: what it holds, what it waits for, who holds that."""
        with self._guard:
            owners, waiting = dict(self.owners), dict(self.waiting)
        lines = []
        for thread, lock in sorted(waiting.items()):
            held = sorted(name for name, owner in owners.items() if owner == thread)
            holds = f"holds {', '.join(held)}" if held else "holds nothing"
            lines.append(f"{thread} {holds}; waits for {lock}, held by {owners.get(lock, 'nobody')}")
        return lines

    def wait_for_cycle(self, timeout: float) -> list[str] | None:
        """Poll the wait-for graph until it has a cycle (a deadlock) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            cycle = find_cycle(self.wait_for_graph())
            if cycle or time.monotonic() >= deadline:
                return cycle
            time.sleep(0.005)


class TracedLock:
    """A ``threading.Lock`` that tells its :class:`LockMonitor` who holds it and who waits for it."""

    def __init__(self, name: str, monitor: LockMonitor):
        self.name = name
        self.monitor = monitor
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.current_thread().name
        got = self._lock.acquire(False)
        if not got and blocking:
            with self.monitor._guard:
                self.monitor.waiting[me] = self.name
            try:
                got = self._lock.acquire(True, timeout)
            finally:
                with self.monitor._guard:
                    self.monitor.waiting.pop(me, None)
        if got:
            with self.monitor._guard:
                self.monitor.owners[self.name] = me
        return got

    def release(self) -> None:
        with self.monitor._guard:
            self.monitor.owners.pop(self.name, None)
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        owner = self.monitor.owners.get(self.name)
        return f"<TracedLock {self.name} {'held by ' + owner if owner else 'free'}>"


def find_cycle(graph: dict[str, str]) -> list[str] | None:
    """A cycle in a wait-for graph (each node waits for at most one other), or None.

    The cycle is returned starting from its smallest name, in the direction of the waits:
    ``["t1", "t2"]`` means t1 waits for t2 and t2 waits for t1.
    """
    for start in sorted(graph):
        path, seen = [], {}
        node = start
        while node in graph and node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = graph[node]
        if node in seen:
            cycle = path[seen[node]:]
            first = cycle.index(min(cycle))
            return cycle[first:] + cycle[:first]
    return None


def start_transfers(monitor: LockMonitor, ordered: bool, patience=(1.5, 5.0)) -> tuple[list, dict]:
    """Two threads move money between two accounts, each taking both accounts' locks.

    Unordered, ``transfer-1`` takes A then B and ``transfer-2`` takes B then A, lined up by a barrier
    so that each holds its first lock before asking for the second: a deadlock every time. Each
    waits for its second lock at most ``patience`` seconds, then gives up and releases its first
    (transfer-1 is less patient, so transfer-2 then gets through). Ordered, both take A then B.
    Returns (threads, results); results[name] becomes "done" or "gave up".
    """
    a, b = monitor.lock("account-A"), monitor.lock("account-B")
    barrier = threading.Barrier(2, timeout=5)
    results: dict[str, str] = {}

    def transfer(first, second, wait):
        me = threading.current_thread().name
        if not first.acquire(timeout=5):
            results[me] = "gave up"
            return
        try:
            if not ordered:
                barrier.wait()  # both hold their first lock now
            if second.acquire(timeout=wait):
                second.release()
                results[me] = "done"
            else:
                results[me] = "gave up"
        finally:
            first.release()

    plans = [(a, b), (a, b)] if ordered else [(a, b), (b, a)]
    threads = [
        threading.Thread(target=transfer, args=(*plan, wait), name=f"transfer-{i}")
        for i, (plan, wait) in enumerate(zip(plans, patience), start=1)
    ]
    for t in threads:
        t.start()
    return threads, results


# --- errors that would vanish ----------------------------------------------------------------


@contextmanager
def collect_thread_errors():
    """Install a ``threading.excepthook`` that records (thread name, exception) instead of printing."""
    errors: list[tuple[str, BaseException]] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs):
        name = args.thread.name if args.thread is not None else "?"
        errors.append((name, args.exc_value))

    threading.excepthook = hook
    try:
        yield errors
    finally:
        threading.excepthook = previous


@contextmanager
def collect_unraisable():
    """Install a ``sys.unraisablehook`` that records unraisable exceptions (e.g. raised in ``__del__``)."""
    caught: list[BaseException] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: caught.append(unraisable.exc_value)
    try:
        yield caught
    finally:
        sys.unraisablehook = previous


class RaisesInDel:
    """An object whose finaliser fails: Python cannot raise that anywhere, so it is 'unraisable'."""

    def __del__(self):
        raise RuntimeError("cleanup failed in __del__")


# --- exercises -------------------------------------------------------------------------------


def _checksum(word: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(word))


def _inner(step: int) -> int:
    debugger = _inner.debugger
    if debugger is not None:
        debugger.set_trace()  # the breakpoint: pdb stops on the next line
    return step * 2


def _outer(word: str) -> int:
    secret = _checksum(word)
    return _inner(secret % 7) + secret


_inner.debugger = None


def check_debugger_script(script) -> object:
    """Exercise 14.1: a pdb script that prints ``secret`` (a local of the *caller*) and continues."""

    def test():
        if not isinstance(script, str):
            raise NotImplementedError
        word = "".join(chr(97 + (time.perf_counter_ns() // 7**k) % 26) for k in range(6))
        expected = _checksum(word)
        debugger = scripted_pdb(script)
        _inner.debugger = debugger
        quit_early = []

        def run():
            try:
                _outer(word)
            except bdb.BdbQuit:  # the script ran out without continue: pdb quit
                quit_early.append(True)

        try:
            debug_in_thread(run, name="mystery", timeout=5)
        except TimeoutError:
            raise AssertionError("the thread did not finish: end your script with continue") from None
        finally:
            _inner.debugger = None
        transcript = debugger.stdout.getvalue()
        if quit_early or script.strip().splitlines()[-1].strip() not in ("c", "cont", "continue"):
            raise AssertionError("end your script with continue, or pdb quits by raising BdbQuit in the thread")
        if not re.search(rf"^\(Pdb\) {expected}$", transcript, flags=re.M):
            raise AssertionError(
                f"secret was {expected}, but the transcript does not show it as a reply. "
                f"pdb stopped in _inner; secret lives one frame up. Transcript:\n{transcript}"
            )

    return check("Exercise 14.1", test)


def check_find_cycle(find_cycle_fn) -> object:
    """Exercise 14.2: find_cycle(graph) returns the threads of a cycle (any rotation) or None."""

    def same_cycle(got, expected):
        if got is None or len(got) != len(expected):
            return False
        got = list(got)
        return any(got[i:] + got[:i] == expected for i in range(len(got)))

    def test():
        cases = [
            ({}, None),
            ({"t1": "t2"}, None),
            ({"t1": "t2", "t2": "t3"}, None),
            ({"t1": "t2", "t2": "t1"}, ["t1", "t2"]),
            ({"a": "b", "b": "c", "c": "a"}, ["a", "b", "c"]),
            ({"x": "a", "a": "b", "b": "c", "c": "a"}, ["a", "b", "c"]),
            ({"solo": "solo"}, ["solo"]),
            ({"p": "q", "q": "r", "s": "t", "t": "s"}, ["s", "t"]),
        ]
        for graph, expected in cases:
            got = find_cycle_fn(dict(graph))
            if expected is None and got not in (None, [], ()):
                raise AssertionError(f"find_cycle({graph}): no thread waits in a circle, expected None, got {got!r}")
            if expected is not None and not same_cycle(got, expected):
                raise AssertionError(f"find_cycle({graph}): expected the cycle {expected} (any rotation), got {got!r}")

    return check("Exercise 14.2", test)
