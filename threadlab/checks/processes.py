"""Checks for the exercises on starting and waiting for processes (lesson 02).

The children these checks start are Python programs given as ``-c`` code or standard-library
functions (``time.sleep``, ``sys.exit``), so they work under every start method (fork, spawn,
forkserver) and on every OS. A check never leaves a child behind: whatever the learner's code
forgot to end or to wait for is killed and reaped when the check has looked at it.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

import psutil

from threadlab.checks import check, run_with_timeout

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
