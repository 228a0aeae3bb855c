"""Checks for the exercises on processes: starting and waiting for them (lesson 02), pools, shared
memory and queues (lesson 10), and the spy the lesson 10 checks share.

Lesson 02's checks start children that are Python programs given as ``-c`` code or standard-library
functions (``time.sleep``, ``sys.exit``), so they work under every start method (fork, spawn,
forkserver) and on every OS. A check never leaves a child behind: whatever the learner's code
forgot to end or to wait for is killed and reaped when the check has looked at it.

A wrong answer about processes rarely fails in a way a learner can read: a child that never ran leaves
the numbers as they were, a ``join()`` in the wrong place waits for ever, and reading a NumPy array after
the shared memory under it was closed kills the kernel. :class:`ProcessSpy` watches what an answer does
while a check runs it, so that the verdict can name the step that went wrong:

- the processes the answer started itself, and those its pools started; which ones it joined; a
  ``run()`` called where ``start()`` was meant is refused at once (the target would run here);
- how many tasks the answer handed to a ``Pool`` or a ``ProcessPoolExecutor``, and whether it asked a
  ``multiprocessing.Queue`` whether it is ``empty()`` (a racy question: the answer is out of date at once);
- a ``join()`` with no time limit (or a long one) waits at most ``join_limit`` seconds, then fails
  with a hint, so a child that cannot end is reported instead of hanging the check;
- with ``defer_start=True`` a child that the answer starts really starts only when the answer joins it
  (or asks whether it is alive): the slowest start the operating system is allowed to give it, so an
  answer that reads the results before ``join()`` fails every time, not only when the child is slow;
- with ``shared_memory=True``: the ``SharedMemory`` blocks created, closed and unlinked; and ``close()``
  refuses (``BufferError``) while a NumPy array still points into the block. ``np.frombuffer`` keeps
  the block's buffer exported, so a real ``close()`` refuses too; but an array made with
  ``np.ndarray(..., buffer=block.buf)`` keeps only a reference to the block's memory mapping, so a
  real ``close()`` succeeds, unmaps the memory, and the next read of the array is a segmentation fault
  that kills the kernel (NumPy issue 23305). The spy counts the references to the mapping instead.

Everything is put back when the ``with`` block ends; children still running are ended, blocks the
answer left behind are unlinked.
"""

from __future__ import annotations

import gc
import linecache
import multiprocessing
import os
import queue
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import pool as mp_pool
from multiprocessing import process as mp_process
from multiprocessing import queues as mp_queues
from multiprocessing import shared_memory

import psutil

from threadlab.checks import check, expect_equal, run_with_timeout

CHECK_TIMEOUT = 9.5  #: every check ends within the grader's 10 s cell timeout
WAIT = 1.0  #: seconds a child waits for its siblings before it concludes it runs alone


def _children() -> dict[int, psutil.Process]:
    return {p.pid: p for p in psutil.Process().children()}


def _new_children(before: dict[int, psutil.Process], settle: float = 0.5) -> list[tuple[psutil.Process, str]]:
    """Children started since ``before``, with their status ('zombie' = ended, never waited for).

    A child that was just killed takes a moment to die: wait up to ``settle`` seconds for every child
    to become a zombie, so that "killed but never waited for" is told apart from "never killed".
    """
    deadline = time.monotonic() + settle
    while True:
        found = []
        for pid, proc in _children().items():
            if pid in before:
                continue
            try:
                found.append((proc, proc.status()))
            except psutil.Error:  # it ended and was reaped meanwhile
                continue
        if all(status == psutil.STATUS_ZOMBIE for _, status in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _clean_up(before: dict[int, psutil.Process]) -> None:
    """Kill and reap every child started since ``before``.

    A child started with ``multiprocessing`` is ended through its own Process object: reaping it
    with ``os.waitpid`` behind its back would leave it listed by ``multiprocessing.active_children()``
    for ever (its ``poll()`` can no longer collect the exit code).
    """
    left = _new_children(before)
    ours = {p.pid: p for p in multiprocessing.active_children() if p.pid is not None}
    for proc, _ in left:
        try:
            proc.kill()
        except psutil.Error:
            pass
    for proc, _ in left:
        if proc.pid in ours:
            ours[proc.pid].join(10)
            continue
        try:
            os.waitpid(proc.pid, 0)
        except (ChildProcessError, OSError):  # reaped by its Popen / Process object meanwhile
            pass


def _leftover_message(left: list[tuple[psutil.Process, str]], what: str) -> str | None:
    zombies = [p.pid for p, status in left if status == psutil.STATUS_ZOMBIE]
    running = [p.pid for p, status in left if status != psutil.STATUS_ZOMBIE]
    if running:
        return (f"{what} left {len(running)} child process(es) running: a child still running at its deadline must "
                "be ended (kill() or terminate()) and then waited for")
    if zombies:
        return (f"{what} left {len(zombies)} ended child process(es) nobody waited for (zombies, still in the "
                "process table): wait for every child (communicate(), wait() or join()), also after kill()")
    return None


# ---------------------------------------------------------------- exercise 2.1

_TOGETHER = """\
import os, time
folder, me, count = {folder!r}, {me}, {count}
open(os.path.join(folder, f"{{me}}.started"), "w").close()
deadline = time.monotonic() + {wait}
while True:
    if all(os.path.exists(os.path.join(folder, f"{{k}}.started")) for k in range(count)):
        print(f"child {{me}}: {{count}} children running together")
        break
    if os.path.exists(os.path.join(folder, "alone")) or time.monotonic() > deadline:
        open(os.path.join(folder, "alone"), "w").close()
        print(f"child {{me}}: alone")
        break
    time.sleep(0.01)
"""

_BIG = "import sys\nsys.stdout.write('x' * 300_000)\n"
_NEVER_ENDS = "import time\ntime.sleep(60)\n"


def check_run_children(run_children, timeout: float = CHECK_TIMEOUT):
    """Exercise 2.1: ``run_children(codes, timeout)`` runs ``python -c code`` for every code, all at the same
    time, and returns their outputs (str) in the order of ``codes``; a child still running after ``timeout``
    seconds is killed, and its output is None. Three of the children can only say "together" if they run at
    the same time; one writes 300,000 characters (more than a pipe holds, so it cannot end until someone
    reads); one never ends."""

    def test():
        with tempfile.TemporaryDirectory(prefix="run-children-") as folder:
            together = [_TOGETHER.format(folder=folder, me=k, count=3, wait=WAIT) for k in range(3)]
            codes = [together[0], together[1], _BIG, _NEVER_ENDS, together[2]]
            limit = 2.0
            before = _children()
            start = time.perf_counter()
            finished, got, error = run_with_timeout(lambda: run_children(list(codes), limit), 7.0)
            elapsed = time.perf_counter() - start
            left = _new_children(before)
            _clean_up(before)
            if not finished:
                raise AssertionError(
                    f"run_children(codes, timeout={limit:g}) was still running 7 s later: one child never ends. Give "
                    "communicate() (or wait()) a timeout, and kill the child when it expires.")
            if isinstance(error, subprocess.TimeoutExpired):
                big = error.cmd and _BIG in error.cmd
                raise AssertionError(
                    ("a child that writes more than a pipe holds (64 KiB) cannot end until someone reads its output: "
                     "wait() before reading waits for ever. Read and wait together with communicate(timeout=...)")
                    if big else
                    "subprocess.TimeoutExpired reached the caller: when a child is still running at its timeout, "
                    "catch TimeoutExpired, kill() the child, then communicate() with it once more to reap it") from None
            if error is not None:
                raise error
            if got is None:
                raise AssertionError("run_children returned None: return the list of outputs")
            got = list(got)
            if len(got) != len(codes):
                raise AssertionError(f"5 codes, {len(got)} outputs: return one output per code, in order")
            if any(isinstance(g, bytes) for g in got):
                raise AssertionError("the outputs are bytes: pass text=True to get str")
            if all(g is None for g in got):
                raise AssertionError("every output is None: capture it with stdout=subprocess.PIPE")
            said = [got[0], got[1], got[4]]
            if any(s is not None and "alone" in s for s in said):
                raise AssertionError(
                    f"three children that wait for one another said {said}: they ran one after another. Start every "
                    "child (Popen) first, then wait for each: subprocess.run() and communicate() wait for the child.")
            for k, s in zip((0, 1, 2), said):
                if s != f"child {k}: 3 children running together\n":
                    raise AssertionError(f"the output of codes[{(0, 1, 4)[k]}] should be 'child {k}: 3 children running "
                                         f"together\\n', got {s!r}: outputs in the order of the codes")
            if got[2] is None or len(got[2]) != 300_000:
                size = "None" if got[2] is None else f"{len(got[2]):,} characters"
                raise AssertionError(
                    f"the child that writes 300,000 characters gave {size}: a child that writes more than a pipe holds "
                    "cannot end until someone reads; communicate() reads while it waits (wait() first does not)")
            if got[3] not in (None, ""):
                raise AssertionError(f"the child that never ends gave {got[3]!r}: expected None")
            problem = _leftover_message(left, "run_children")
            if problem:
                raise AssertionError(problem)
            if elapsed > limit + 3.0:
                raise AssertionError(f"run_children took {elapsed:.1f} s with timeout={limit:g}: wait for the children "
                                     "at the same time, not one timeout after another")

    return check("Exercise 2.1", test, timeout=timeout)


# ---------------------------------------------------------------- exercise 2.2


def check_run_with_deadline(run_with_deadline, timeout: float = CHECK_TIMEOUT):
    """Exercise 2.2: ``run_with_deadline(target, args, seconds)`` runs ``target(*args)`` in a
    ``multiprocessing.Process``, waits at most ``seconds``, ends the child if it is still running, and
    returns its exit code (0, the code it passed to ``sys.exit``, or minus the signal that ended it)."""

    def one(target, args, seconds):
        before = _children()
        start = time.perf_counter()
        finished, got, error = run_with_timeout(lambda: run_with_deadline(target, args, seconds), seconds + 3.0)
        elapsed = time.perf_counter() - start
        left = _new_children(before)
        _clean_up(before)
        name = f"run_with_deadline({target.__module__}.{target.__name__}, {args}, {seconds:g})"
        if not finished:
            raise AssertionError(f"{name} was still waiting {seconds + 3:g} s later: join() without a timeout waits as "
                                 "long as the child runs. Use join(seconds).")
        if isinstance(error, SystemExit):
            raise AssertionError(f"{name}: sys.exit ran in this process, not in a child. Call p.start(), never "
                                 "p.run(), and pass target=target, args=args (not target(*args)).")
        if error is not None:
            raise error
        return name, got, elapsed, left

    def test():
        name, got, elapsed, left = one(sys.exit, (3,), 5.0)
        if isinstance(got, int) and got < 0:
            raise AssertionError(f"{name} returned {got}, expected 3: the child was ended before it could finish. Wait "
                                 "with join(seconds) first; end it only if is_alive() is still true afterwards.")
        if got != 3:
            raise AssertionError(f"{name} returned {got!r}, expected 3: the child's exit code is p.exitcode, read "
                                 "after join() (before, it is None)")
        if elapsed > 4.0:  # a right answer takes the child's start-up (with spawn, a new interpreter's)
            raise AssertionError(f"{name} took {elapsed:.1f} s for a child that ends at once: join(seconds) returns "
                                 "as soon as the child ends, time.sleep(seconds) does not")
        name, got, elapsed, left = one(time.sleep, (0.3,), 5.0)
        if got is None:
            raise AssertionError(f"{name} returned None: p.exitcode stays None until the child has ended and "
                                 "join() has collected it. Join first, then read exitcode.")
        if got != 0:
            raise AssertionError(f"{name} returned {got}, expected 0: the child needed 0.3 s of its 5 s. Wait with "
                                 "join(seconds) first; end it only if is_alive() is still true afterwards.")
        if elapsed > 4.0:  # a right answer: the child's start-up and its 0.3 s
            raise AssertionError(f"{name} took {elapsed:.1f} s for a child that ends after 0.3 s: join(seconds) returns "
                                 "as soon as the child ends, time.sleep(seconds) does not")
        problem = _leftover_message(left, "run_with_deadline")
        if problem:
            raise AssertionError(problem)
        name, got, elapsed, left = one(time.sleep, (60,), 0.5)
        if got is None or (left and not (isinstance(got, int) and got < 0)):
            problem = _leftover_message(left, "run_with_deadline")
            raise AssertionError(f"{name} returned {got!r}: {problem or 'the child was still running'}. At the deadline, "
                                 "terminate() the child, then join() it, and return its exit code (negative: the "
                                 "signal that ended it).")
        if not (isinstance(got, int) and got < 0):
            raise AssertionError(f"{name} returned {got!r}, expected a negative exit code (-15 after terminate(), "
                                 "-9 after kill())")
        if elapsed > 0.5 + 2.5:
            raise AssertionError(f"{name} took {elapsed:.1f} s: end the child at its deadline")
        problem = _leftover_message(left, "run_with_deadline")
        if problem:
            raise AssertionError(problem)

    return check("Exercise 2.2", test, timeout=timeout)

# ---------------------------------------------------------------- lesson 10: pools, shared memory, queues

LIBRARIES = ("multiprocessing", "concurrent")  #: packages whose calls are not the answer's own
_NOT_YOURS = tuple(
    os.path.realpath(p) + os.sep
    for p in {*(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
              os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
)


class SpyError(AssertionError):
    """Raised inside an answer by :class:`ProcessSpy`: its message is the verdict."""


def _caller_is_library(depth: int = 2) -> bool:
    name = sys._getframe(depth).f_globals.get("__name__", "")
    return name.split(".")[0] in LIBRARIES


def where(thread: threading.Thread) -> str:
    """' at line N of your code: `source`' for the innermost frame of ``thread`` that is the learner's."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        filename = os.path.realpath(frame.f_code.co_filename)
        if not filename.startswith(_NOT_YOURS):
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            return f" at line {frame.f_lineno} of your code: `{line}`" if line else f" at line {frame.f_lineno}"
        frame = frame.f_back
    return ""


def run_answer(fn, args: tuple, limit: float, hint: str = ""):
    """Call ``fn(*args)`` in a helper thread for at most ``limit`` seconds: (value, exception or None).

    An answer still running at the limit gives a :class:`SpyError` saying where it waits (the helper
    thread is a daemon and is left to finish or wait on its own). The locals of the answer's frames
    are cleared from a returned exception, so arrays and blocks it held can be freed.
    """
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the check
            box["error"] = exc

    worker = threading.Thread(target=target, name="exercise-answer", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        text = f"your function was still running after {limit:g} s{where(worker)}"
        return None, SpyError(f"{text}. {hint}".strip())
    error = box.get("error")
    if error is not None and error.__traceback__ is not None:
        traceback.clear_frames(error.__traceback__)
    return box.get("value"), error


class ProcessSpy:
    """``with ProcessSpy() as spy: value, error = spy.call(answer, *args)``: see the module docstring."""

    def __init__(self, defer_start: bool = False, join_limit: float = 6.0, shared_memory: bool = False,
                 stuck_hint: str = ""):
        self.defer_start = defer_start
        self.join_limit = join_limit
        self.watch_shared_memory = shared_memory
        self.stuck_hint = stuck_hint
        self.pid = os.getpid()
        self.started: list = []  #: processes the answer started itself
        self.by_pools: list = []  #: processes started by the answer's pools and executors
        self.joined: set[int] = set()  #: id() of started processes whose join() saw them end
        self.ran_here: list = []  #: processes whose run() the answer called in this process
        self.raised: list[SpyError] = []  #: what the spy raised inside the answer (a later error may hide it)
        self.tasks = 0  #: calls handed to a Pool or a ProcessPoolExecutor
        self.alive_after: list = []  #: processes still running when the answer returned
        self.asked_empty = 0  #: calls of a multiprocessing Queue's empty() (its answer is out of date at once)
        self.unclosed: list[str] = []  #: ResourceWarnings (an unclosed Pool, freed when the answer returned)
        self.blocks: list = []  #: SharedMemory blocks the answer created
        self.closed: set[str] = set()  #: names of blocks the answer closed (successfully)
        self.unlinked: set[str] = set()  #: names of blocks the answer unlinked
        self._saved: list = []

    # --- what the answer did

    @property
    def processes(self) -> list:
        return self.started + self.by_pools

    def not_joined(self) -> list:
        return [p for p in self.started if id(p) not in self.joined]

    def failed(self) -> list[int]:
        """Exit codes of the answer's own children that ended badly."""
        return [p.exitcode for p in self.started if p.exitcode not in (None, 0)]

    def call(self, fn, *args, limit: float = 8.0, hint: str = ""):
        """``run_answer(fn, args, limit, hint)``, noting what was left running or unclosed."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            value, error = run_answer(fn, args, limit, hint)
            gc.collect()  # a pool the answer dropped in a reference cycle warns now
        self.unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        for w in caught:
            w.source = None  # a recorded warning keeps its source (the unclosed pool) alive: let it go
        del caught
        gc.collect()
        self.alive_after = [p for p in self.processes if _alive(p)]
        return value, error

    def raise_for(self, error: BaseException | None, what: str) -> None:
        """Turn what the answer raised into the verdict: the spy's own findings first (an answer's
        ``finally:`` may have raised something else on top of them)."""
        if self.raised:
            raise self.raised[0]
        if error is None:
            return
        if isinstance(error, (SpyError, NotImplementedError)):
            raise error
        if isinstance(error, AssertionError):  # the answer's own assert: say it was the answer's
            raise AssertionError(f"{what} failed an assert of its own: {error}") from None
        if type(error.__cause__).__name__ in ("RemoteTraceback", "_RemoteTraceback"):  # raised in a worker
            raise AssertionError(f"{what}: a worker process raised {type(error).__name__}: {error}. Is each task "
                                 "the argument the worker function expects?") from None
        raise error

    # --- patching

    def _patch(self, owner, name: str, replacement) -> None:
        self._saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)

    def __enter__(self):
        spy = self
        base = mp_process.BaseProcess
        start, join, run, is_alive = base.start, base.join, base.run, base.is_alive

        def spy_start(process):
            if os.getpid() != spy.pid:
                return start(process)
            if _caller_is_library():
                spy.by_pools.append(process)
                return start(process)
            spy.started.append(process)
            if spy.defer_start:
                process._spy_deferred = True
                return None
            return start(process)

        def really_start(process):
            if getattr(process, "_spy_deferred", False):
                process._spy_deferred = False
                start(process)

        def spy_join(process, timeout=None):
            if os.getpid() != spy.pid or process not in spy.started:
                return join(process, timeout)
            really_start(process)
            if timeout is not None and timeout <= spy.join_limit:
                join(process, timeout)
            else:
                join(process, spy.join_limit)
                if process.exitcode is None:
                    spy.raised.append(SpyError(f"join() waited {spy.join_limit:g} s and the child is still running. "
                                               f"{spy.stuck_hint}".strip()))
                    raise spy.raised[-1]
            if process.exitcode is not None:
                spy.joined.add(id(process))
            return None

        def spy_run(process):
            if os.getpid() == spy.pid:
                spy.ran_here.append(process)
                spy.raised.append(SpyError(RUN_HINT))
                raise spy.raised[-1]
            return run(process)

        def spy_is_alive(process):
            if os.getpid() == spy.pid:
                really_start(process)
            return is_alive(process)

        self._patch(base, "start", spy_start)
        self._patch(base, "join", spy_join)
        self._patch(base, "run", spy_run)
        self._patch(base, "is_alive", spy_is_alive)
        for name in ("map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered"):
            self._patch(mp_pool.Pool, name, self._counting_map(getattr(mp_pool.Pool, name)))
        for name in ("apply", "apply_async"):
            self._patch(mp_pool.Pool, name, self._counting_call(getattr(mp_pool.Pool, name)))
        self._patch(ProcessPoolExecutor, "submit", self._counting_call(ProcessPoolExecutor.submit))
        self._patch(ProcessPoolExecutor, "map", self._counting_executor_map(ProcessPoolExecutor.map))
        self._patch(mp_queues.Queue, "empty", self._counting_empty(mp_queues.Queue.empty))
        if self.watch_shared_memory:
            self._watch_blocks()
        return self

    def _counting_empty(self, original):
        spy = self

        def counted(q):
            if os.getpid() == spy.pid and not _caller_is_library():
                spy.asked_empty += 1
            return original(q)

        return counted

    def _counting_map(self, original):
        spy = self

        def counted(pool, func, iterable, *args, **kwargs):
            if os.getpid() == spy.pid and not _caller_is_library():
                iterable = list(iterable)
                spy.tasks += len(iterable)
            return original(pool, func, iterable, *args, **kwargs)

        return counted

    def _counting_executor_map(self, original):
        spy = self

        def counted(executor, fn, *iterables, **kwargs):
            if os.getpid() == spy.pid and not _caller_is_library():
                iterables = [list(items) for items in iterables]
                spy.tasks += min(map(len, iterables), default=0)
            return original(executor, fn, *iterables, **kwargs)

        return counted

    def _counting_call(self, original):
        spy = self

        def counted(owner, *args, **kwargs):
            if os.getpid() == spy.pid and not _caller_is_library():
                spy.tasks += 1
            return original(owner, *args, **kwargs)

        return counted

    def _watch_blocks(self) -> None:
        spy = self
        cls = shared_memory.SharedMemory
        init, close, unlink = cls.__init__, cls.close, cls.unlink

        def spy_init(block, name=None, create=False, size=0, **kwargs):
            init(block, name, create, size, **kwargs)
            if os.getpid() == spy.pid:
                block._spy_refs = _mapping_refs(block)  # the block's own references to its mapping
                if create:
                    spy.blocks.append(block)

        def spy_close(block):
            yours = os.getpid() == spy.pid and not _caller_is_library()
            if yours and _mapping_refs(block) > getattr(block, "_spy_refs", sys.maxsize):
                # something else holds the mapping: a NumPy array made with np.ndarray(buffer=block.buf)
                # (its base is the mapping itself, without a buffer export that would stop close())
                raise BufferError("cannot close exported pointers exist: a NumPy array still uses the block")
            close(block)
            if yours:
                spy.closed.add(block.name)

        def spy_unlink(block):
            if os.getpid() == spy.pid and not _caller_is_library():
                spy.unlinked.add(block.name)
            unlink(block)

        self._patch(cls, "__init__", spy_init)
        self._patch(cls, "close", spy_close)
        self._patch(cls, "unlink", spy_unlink)
        self._unlink = unlink

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()
        for process in self.processes:  # children the answer left running
            if getattr(process, "_popen", None) is None or not process.is_alive():
                continue
            process.terminate()
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(2)
        for block in self.blocks:  # blocks the answer left behind
            if block.name not in self.unlinked:
                try:
                    self._unlink(block)
                except FileNotFoundError:
                    pass
            try:
                block.close()
            except BufferError:  # a view of it is still referenced somewhere: it is freed with it
                pass
        return False


def _mapping_refs(block) -> int:
    """References to a block's memory mapping (0 once closed): NumPy arrays made on it hold one each."""
    mapping = getattr(block, "_mmap", None)
    return 0 if mapping is None else sys.getrefcount(mapping)


def _alive(process) -> bool:
    return getattr(process, "_popen", None) is not None and process.exitcode is None


RUN_HINT = ("child.run() ran the target here, in this process, as an ordinary call: start() is what runs it "
            "in a new process (then join() waits for it)")
NO_PROCESS = ("no process was started: {what} ran in this process. A thread (or a ThreadPool) runs here too, "
              "taking turns under the GIL; use multiprocessing.{use}")
NOT_JOINED = ("you started a child process and never joined it: call child.join(timeout=...) before you use "
              "what it computed")


def _first_difference(got: list, expected: list, inputs: list, name: str) -> str:
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return f"{name}[{i}] (for {inputs[i]!r}): expected {e!r}, got {g!r}"
    return f"{name}: expected {len(expected)} values, got {len(got)}"


# --- Exercise: count primes on a process pool -----------------------------------------------------


def check_parallel_count(parallel_count, name: str = "Exercise 10.1") -> object:
    """``parallel_count(n, processes)``: the primes below n, counted by a pool of ``processes`` processes.

    Each call runs under a :class:`ProcessSpy`: it must start processes (no more than asked for),
    hand the pool at least one task per process, get the count right and leave no process running.
    """
    cases = [(30_000, 3, 3245), (2, 1, 0)]  # two pools: each costs a start under spawn

    def test():
        deadline = time.monotonic() + 8.0
        for n, processes, expected in cases:
            call = f"parallel_count({n}, {processes})"
            with ProcessSpy() as spy:
                got, error = spy.call(parallel_count, n, processes, limit=max(1.0, deadline - time.monotonic()))
            spy.raise_for(error, call)
            if not spy.processes:
                raise AssertionError(f"{call}: " + NO_PROCESS.format(what="the counting", use="Pool(processes)"))
            if len(spy.processes) > processes:
                raise AssertionError(f"{call} started {len(spy.processes)} processes, not {processes}: "
                                     "give the pool the number of processes you were asked for")
            if spy.tasks < processes:
                raise AssertionError(f"{call} handed the pool {spy.tasks} task(s) for {processes} processes: split "
                                     "the range into at least as many (lo, hi) segments as processes, so that "
                                     "every process gets a share")
            expect_equal(got, expected, call)
            if spy.alive_after or spy.unclosed:
                what = (f"{len(spy.alive_after)} process(es) still running" if spy.alive_after
                        else f"its pool still open ({spy.unclosed[0]})")
                raise AssertionError(f"{call} returned with {what}: close the pool "
                                     "(`with multiprocessing.Pool(processes) as pool:` does it)")

    return check(name, test, timeout=9.5)


# --- Exercise: squares through shared memory --------------------------------------------------------

CLOSE_REFUSED = ("close() refused (BufferError): a NumPy array or memoryview still used the block when you "
                 "closed it. Copy the numbers out first (tolist()), `del` the array, then close(). (An array made "
                 "with np.ndarray(..., buffer=block.buf) would not stop close(): reading it afterwards crashes "
                 "the kernel. This check makes close() refuse instead.)")


def check_shared_squares(squares_via_shared_memory, name: str = "Exercise 10.2") -> object:
    """``squares_via_shared_memory(values)`` -> (squares, block name): a child squares them in shared memory.

    The child starts only when the answer joins it (the slowest start allowed), ``close()`` refuses
    while a NumPy view of the block is alive (instead of crashing the kernel on the next read), and a
    block the answer forgets to unlink is removed for it.
    """
    values = list(range(-500, 1500))
    expected = [v * v for v in values]

    def test():
        with ProcessSpy(defer_start=True, join_limit=5.0, shared_memory=True,
                        stuck_hint="Does the child get the block's name and the number of values?") as spy:
            answer, error = spy.call(squares_via_shared_memory, values, limit=7.0)
        if spy.raised:
            raise spy.raised[0]
        if isinstance(error, BufferError):
            raise AssertionError(CLOSE_REFUSED)
        if isinstance(error, FileNotFoundError):
            raise AssertionError(f"FileNotFoundError: {error}. A block must exist until every process that "
                                 "attaches to it has done so: unlink() it only after join()") from None
        spy.raise_for(error, "squares_via_shared_memory(values)")
        if not spy.processes:
            raise AssertionError(NO_PROCESS.format(what="square_in_place", use="Process(target=square_in_place, "
                                                   "args=(block.name, len(values)))"))
        if spy.not_joined():
            raise AssertionError(NOT_JOINED)
        if spy.failed():
            raise AssertionError(f"the child process failed (exit code {spy.failed()[0]}): did it get the block's "
                                 "name and the number of values, and did the block still exist?")
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise AssertionError(f"return (squares, block.name), got {answer!r:.80}")
        squares, block_name = answer
        try:
            squares = list(squares)
        except TypeError:
            raise AssertionError(f"the squares: expected a list, got {squares!r:.80}") from None
        if squares != expected:
            message = _first_difference(squares, expected, values, "squares")
            if len(squares) == len(values) and squares == values:
                message += " (not squared: the child had not run when you read them; join() it first)"
            raise AssertionError(message)
        names = [block.name for block in spy.blocks]
        if block_name not in names:
            raise AssertionError(f"return the name of the block you created ({names[0]!r}), got {block_name!r:.80}"
                                 if names else "no SharedMemory block was created: put the values in one "
                                 "(SharedMemory(create=True, size=8 * len(values)))")
        if block_name not in spy.closed:
            raise AssertionError("you never called close() on the block: after dropping every view of it, "
                                 "close() it, then unlink() it")
        if block_name not in spy.unlinked:
            raise AssertionError(f"the block {block_name!r} still existed after your function returned: unlink() "
                                 "it when done, or it stays in memory until the machine restarts (the check "
                                 "removed it for you)")

    return check(name, test, timeout=9.5)


# --- Exercise: a round trip through two queues ------------------------------------------------------

QUEUE_STUCK = ("A child ends only after it has received None, and after everything it put on outbox has been read: "
               "send None after the numbers, and get() exactly one answer per number before join()")


def check_queue_round_trip(squares_through_queues, name: str = "Exercise 10.3", join_limit: float = 4.0) -> object:
    """``squares_through_queues(numbers)``: a child squares each number it gets from one queue onto another.

    8 000 numbers: their answers take 167 kB in the pipe, more than a pipe holds (64 KiB), so a child
    joined before its answers are read cannot end, whatever the timing (the spy's join limit reports it).
    """
    numbers = list(range(8_000))
    expected = [x * x for x in numbers]

    def test():
        with ProcessSpy(join_limit=join_limit, stuck_hint=QUEUE_STUCK) as spy:
            answer, error = spy.call(squares_through_queues, numbers, limit=7.0,
                                     hint="Is every queue a multiprocessing.Queue? (a queue.Queue is copied into "
                                          "the child, not shared: nothing comes back)")
        if spy.raised:
            raise spy.raised[0]
        if isinstance(error, queue.Empty):
            raise AssertionError("get() found nothing before its timeout: is the child started, and are inbox and "
                                 "outbox multiprocessing.Queue()s? (a queue.Queue is copied into the child, not "
                                 "shared)") from None
        spy.raise_for(error, "squares_through_queues(numbers)")
        if not spy.processes:
            raise AssertionError(NO_PROCESS.format(what="square_each", use="Process(target=square_each, "
                                                   "args=(inbox, outbox))"))
        if spy.not_joined():
            raise AssertionError(NOT_JOINED)
        try:
            answers = list(answer)
        except TypeError:
            raise AssertionError(f"return the list of answers, got {answer!r:.80}") from None
        if spy.asked_empty:
            raise AssertionError(f"got {len(answers)} answers for {len(numbers)} numbers, and your function asked "
                                 "outbox.empty(): its answer is out of date as soon as it is given (the child may "
                                 "not have answered yet, or be about to). get() exactly one answer per number")
        if len(answers) != len(numbers):
            raise AssertionError(f"got {len(answers)} answers for {len(numbers)} numbers: get() exactly one answer "
                                 "per number you sent (empty() can be true while the child is still working)")
        if answers != expected:
            raise AssertionError(_first_difference(answers, expected, numbers, "answers"))

    return check(name, test, timeout=9.5)


# --- what a lesson leaves behind ---------------------------------------------------------------------

HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def children_left(timeout: float = 10.0) -> list[str]:
    """Command lines of this process's descendants still alive after up to ``timeout`` seconds.

    multiprocessing's own helpers (the resource tracker, the fork server) are left out: they serve the
    whole session and end with it.
    """
    import psutil

    def left():
        found = []
        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                cmd = " ".join(child.cmdline())
            except psutil.Error:  # ended meanwhile
                continue
            if not any(helper in cmd for helper in HELPERS):
                found.append(cmd)
        return found

    deadline = time.monotonic() + timeout
    while (found := left()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found
