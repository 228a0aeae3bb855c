"""Lesson 02: processes, as the operating system sees them.

Everything a child process runs lives here (never in the notebook), so the lesson works under
the fork, spawn and forkserver start methods. Functions that need Linux (``/proc``, CPU
affinity) say so and fall back or raise ``NotImplementedError`` elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import psutil

from threadlab.checks import check, expect_equal
from threadlab.plotting import new_figure
from threadlab.timeline import Span

#: A module global that child processes (and, in lesson 03, threads) try to change.
VALUE = 0

#: The longest any helper child may live, whatever happens to its parent's instructions.
CHILD_MAX_SECONDS = 20.0

HAS_FORK = hasattr(os, "fork")
HAS_PROC = os.path.isdir("/proc/self")
HAS_AFFINITY = hasattr(os, "sched_setaffinity")


# --- the process table ---------------------------------------------------------------------


def ancestry(pid: int | None = None) -> list[tuple[int, str]]:
    """(pid, name) of a process, its parent, its parent's parent... up to the first process."""
    chain = []
    proc = psutil.Process(pid or os.getpid())
    while proc is not None:
        try:
            chain.append((proc.pid, proc.name()))
            proc = proc.parent()
        except psutil.Error:  # an ancestor we may not inspect, or one that just ended
            break
    return chain


def process_table(limit: int = 12) -> list[dict]:
    """A few rows of the OS process table: pid, ppid, state, threads and name, sorted by pid."""
    rows = []
    for proc in psutil.process_iter(["pid", "ppid", "status", "num_threads", "name"]):
        rows.append(dict(proc.info))
    rows.sort(key=lambda r: r["pid"])
    return rows[:limit] if limit else rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'pid':>7} {'ppid':>7} {'state':<10} {'threads':>7}  name"]
    for r in rows:
        lines.append(f"{r['pid']:>7} {r['ppid']:>7} {r['status']:<10} {r['num_threads']:>7}  {r['name']}")
    return "\n".join(lines)


def proc_status_fields(pid: int | str = "self", names=("Name", "State", "Pid", "PPid", "Threads")) -> dict:
    """Selected lines of ``/proc/<pid>/status``; built from psutil where there is no ``/proc``."""
    if not HAS_PROC:  # pragma: no cover - macOS, Windows
        proc = psutil.Process(None if pid == "self" else int(pid))
        letters = {psutil.STATUS_RUNNING: "R (running)", psutil.STATUS_SLEEPING: "S (sleeping)"}
        found = {"Name": proc.name(), "State": letters.get(proc.status(), proc.status()),
                 "Pid": str(proc.pid), "PPid": str(proc.ppid()), "Threads": str(proc.num_threads())}
        return {k: v for k, v in found.items() if k in names}
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in names:
                found[key] = value.strip()
    return found


# --- children that sleep or compute until told to stop --------------------------------------


def _pin(cpu: int | None):
    if cpu is not None and HAS_AFFINITY:
        os.sched_setaffinity(0, {cpu})


def napper(stop, cpu: int | None = None, nap: float = 0.02):
    """Child process body: sleep in short naps until ``stop`` is set (or the safety limit)."""
    _pin(cpu)
    end = time.monotonic() + CHILD_MAX_SECONDS
    while not stop.is_set() and time.monotonic() < end:
        time.sleep(nap)


def spinner(stop, cpu: int | None = None):
    """Child process body: compute (spin) until ``stop`` is set (or the safety limit)."""
    _pin(cpu)
    end = time.monotonic() + CHILD_MAX_SECONDS
    n = 0
    while time.monotonic() < end:
        n += 1
        if n % 2048 == 0 and stop.is_set():
            break


@dataclass
class Observation:
    """What the OS reported about one child while it napped or computed."""

    kind: str
    pid: int
    states: Counter = field(default_factory=Counter)
    voluntary: int = 0
    involuntary: int = 0
    cpu: float = 0.0  #: CPU seconds it used while observed

    def share(self, state: str) -> float:
        total = sum(self.states.values())
        return self.states[state] / total if total else 0.0


def observe(kinds=("sleep", "compute", "compute"), seconds: float = 0.6, cpu: int | None = 0):
    """Start one child per entry of ``kinds``; the computing ones all pinned to ``cpu``.

    Pinning (where the OS allows it) makes the computing children share one core, so they
    must take turns; the sleeping one may run anywhere.

    While they run, sample each child's state (``psutil`` reads ``/proc/<pid>/stat``) every
    few milliseconds; at the end read its context-switch counters. Returns one
    :class:`Observation` per child, in the order of ``kinds``.
    """
    ctx = multiprocessing.get_context()
    stop = ctx.Event()
    bodies = {"sleep": napper, "compute": spinner}
    procs = [
        ctx.Process(target=bodies[k], args=(stop, cpu if k == "compute" else None), daemon=True)
        for k in kinds
    ]
    for p in procs:
        p.start()
    try:
        handles = [psutil.Process(p.pid) for p in procs]
        obs = [Observation(k, p.pid) for k, p in zip(kinds, procs)]
        base = [h.num_ctx_switches() for h in handles]
        cpu0 = [_cpu_seconds(h) for h in handles]
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for o, h in zip(obs, handles):
                o.states[h.status()] += 1
            time.sleep(0.005)
        for o, h, b, c in zip(obs, handles, base, cpu0):
            o.cpu = _cpu_seconds(h) - c
            now = h.num_ctx_switches()
            o.voluntary = now.voluntary - b.voluntary
            o.involuntary = now.involuntary - b.involuntary
    finally:
        stop.set()
        _reap(procs)
    return obs


def _cpu_seconds(handle) -> float:
    times = handle.cpu_times()
    return times.user + times.system


def _reap(procs, timeout: float = 10.0):
    for p in procs:
        p.join(timeout)
        if p.is_alive():  # pragma: no cover - only if a child is stuck
            p.kill()
            p.join(timeout)


def format_observations(obs) -> str:
    lines = [f"{'child':<8} {'states seen (share of samples)':<38} {'CPU s':>6} {'voluntary':>9} {'involuntary':>11}"]
    for o in obs:
        states = ", ".join(f"{s} {o.share(s):.0%}" for s, _ in o.states.most_common())
        lines.append(f"{o.kind:<8} {states:<38} {o.cpu:>6.2f} {o.voluntary:>9} {o.involuntary:>11}")
    return "\n".join(lines)


# --- timesharing: two processes on one core -------------------------------------------------

GAP = 200e-6  #: a pause longer than this (seconds) in a tight loop means "not on the CPU"


def record_turns(conn, start_at: float, seconds: float, cpu: int | None):
    """Child process body: spin for ``seconds`` and note every interval it was on the CPU.

    The loop reads the clock as fast as it can; whenever two readings are more than
    :data:`GAP` apart, the process was off the CPU in between (another process had its turn).
    ``time.perf_counter`` is the system-wide monotonic clock on Linux, so the intervals of
    different processes can be drawn on one time axis.
    """
    _pin(cpu)
    clock = time.perf_counter
    while clock() < start_at:  # both children start together
        pass
    end = start_at + seconds
    turns = []
    begin = last = clock()
    while last < end:
        now = clock()
        if now - last > GAP:
            turns.append((begin, last))
            begin = now
        last = now
    turns.append((begin, last))
    conn.send(turns)
    conn.close()


@dataclass
class Timesharing:
    """The turns each child had on the CPU, in seconds from the start of the measurement."""

    turns: dict[str, list[tuple[float, float]]]
    seconds: float
    pinned: bool

    def spans(self) -> list[Span]:
        return [Span(name, a, b, "on the CPU") for name, ts in self.turns.items() for a, b in ts]

    def busy(self, name: str) -> float:
        return sum(b - a for a, b in self.turns[name])

    def share(self, name: str) -> float:
        return self.busy(name) / sum(self.busy(n) for n in self.turns)

    def slices(self) -> list[float]:
        """Lengths of the turns, leaving out the first and last of each child (cut by the window)."""
        return [b - a for ts in self.turns.values() for a, b in ts[1:-1]]

    def median_slice(self) -> float:
        return statistics.median(self.slices()) if self.slices() else self.seconds

    def coverage(self) -> float:
        """Fraction of the window during which one of the children was on the CPU.

        Close to 1 when the core had nothing else to do; the rest went to other programs.
        """
        return min(1.0, sum(self.busy(n) for n in self.turns) / self.seconds)

    def switches(self) -> int:
        return sum(len(ts) - 1 for ts in self.turns.values())


def timesharing(seconds: float = 0.3, cpu: int | None = 0, children: int = 2) -> Timesharing:
    """Run ``children`` spinning processes pinned to one core and record who was on the CPU when."""
    ctx = multiprocessing.get_context()
    pipes = [ctx.Pipe(duplex=False) for _ in range(children)]
    start_at = time.perf_counter() + 0.25  # time enough for every child to start
    procs = [
        ctx.Process(target=record_turns, args=(w, start_at, seconds, cpu), daemon=True) for _, w in pipes
    ]
    for p in procs:
        p.start()
    turns = {}
    try:
        for i, (r, w) in enumerate(pipes):
            w.close()
            if not r.poll(seconds + 10):
                raise TimeoutError("a timesharing child did not report")
            got = r.recv()
            turns[f"process {'AB'[i] if i < 2 else i}"] = [(a - start_at, b - start_at) for a, b in got]
    finally:
        _reap(procs)
    return Timesharing(turns, seconds, cpu is not None and HAS_AFFINITY)


def plot_timesharing(ts: Timesharing, window: float | None = None):
    """The turns of the first ``window`` seconds (default: all of them), one band per process."""
    from threadlab.timeline import plot_timeline

    window = window or ts.seconds
    spans = [s for s in ts.spans() if s.start < window]
    spans = [Span(s.thread, max(0.0, s.start), min(s.end, window), s.label) for s in spans]
    fig = plot_timeline(spans, title="two processes pinned to one core: who is on the CPU")
    fig.axes[0].set_xlim(0, window)
    return fig


# --- fork: the process copies itself --------------------------------------------------------


def fork_and_change(new_value: int, timeout: float = 10.0) -> dict:
    """``os.fork()``; the child sets :data:`VALUE` and reports what it sees; the parent too.

    The child only calls ``os.write`` and ``os._exit``: after a fork in a process with
    several threads, the child has only the forking thread, and any lock another thread held
    stays locked in the child for ever, so the child should do as little as possible.
    Returns the pids, what each side saw, and the warnings Python issued about the fork.
    """
    if not HAS_FORK:
        raise NotImplementedError("os.fork exists only on Unix (Linux, macOS); use multiprocessing")
    global VALUE
    before = VALUE
    r, w = os.pipe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pid = os.fork()
    if pid == 0:  # the child: a copy of the parent, running from this line
        try:
            VALUE = new_value
            os.write(w, f"{os.getpid()} {os.getppid()} {VALUE}".encode())
        finally:
            os._exit(0)  # never return into the parent's code (the notebook kernel!)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        data = os.read(r, 200).decode() if ready else ""
    finally:
        os.close(r)
    status = _wait_child(pid, timeout)
    child_pid, child_ppid, child_value = (int(x) for x in data.split()) if data else (pid, -1, None)
    return {
        "parent_pid": os.getpid(),
        "fork_returned": pid,
        "child_pid": child_pid,
        "child_ppid": child_ppid,
        "value_before": before,
        "child_value": child_value,
        "parent_value": VALUE,
        "exit_status": status,
        "warnings": [str(w.message) for w in caught],
    }


def _wait_child(pid: int, timeout: float) -> int:
    """waitpid with a deadline: kill the child if it does not end in time; its exit code."""
    end = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > end:  # pragma: no cover - only if the child hangs
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


# --- separate memory, the portable way ------------------------------------------------------


def set_value_and_report(new_value: int, conn):
    """Child process body: change the module global, send back (pid, ppid, value seen)."""
    global VALUE
    VALUE = new_value
    conn.send((os.getpid(), os.getppid(), VALUE))
    conn.close()


def change_in_process(new_value: int, timeout: float = 30.0) -> dict:
    """A multiprocessing child changes :data:`VALUE`; what does each side see afterwards?"""
    ctx = multiprocessing.get_context()
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=set_value_and_report, args=(new_value, w))
    p.start()
    w.close()
    try:
        if not r.poll(timeout):
            raise TimeoutError("the child did not report")
        pid, ppid, seen = r.recv()
    finally:
        _reap([p])
    return {"child_pid": pid, "child_ppid": ppid, "child_value": seen, "parent_value": VALUE,
            "exitcode": p.exitcode, "start_method": ctx.get_start_method()}


def change_in_thread(new_value: int) -> dict:
    """The same change made by a thread: threads share the process's memory (lesson 03)."""
    global VALUE
    before = VALUE
    seen = {}

    def body():
        global VALUE
        VALUE = new_value
        seen["pid"] = os.getpid()

    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    after = VALUE
    VALUE = before  # put it back, so the lesson can be re-run
    return {"thread_pid": seen["pid"], "value_after": after}


# --- what a process costs to start ----------------------------------------------------------


def _nothing():
    pass


def _start_threads(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        t = threading.Thread(target=_nothing)
        t.start()
        t.join()
    return (time.perf_counter() - start) / n


def _start_processes(n: int, method: str) -> float:
    ctx = multiprocessing.get_context(method)
    start = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=_nothing)
        p.start()
        p.join(30)
    return (time.perf_counter() - start) / n


def _start_interpreters(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-S", "-c", "pass"], check=True, timeout=30)
    return (time.perf_counter() - start) / n


def start_costs(repeat: int = 3, threads: int = 50, processes: int = 8, others: int = 2) -> dict:
    """Seconds to start and join one thread / process / new interpreter (best of ``repeat``).

    ``multiprocessing`` processes are measured with ``fork`` (where the OS has it) and ``spawn``
    (everywhere); "new interpreter" is ``subprocess.run([python, "-S", "-c", "pass"])``.
    """
    costs = {"thread": min(_start_threads(threads) for _ in range(repeat))}
    methods = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]
    for method in methods:
        n, rounds = (processes, repeat) if method == "fork" else (1, 1)
        costs[f"process ({method})"] = min(_start_processes(n, method) for _ in range(rounds))
    costs["new interpreter"] = min(_start_interpreters(others) for _ in range(2))
    return costs


def format_costs(costs: dict) -> str:
    base = costs["thread"]
    return "\n".join(f"{k:<22} {v * 1e3:9.3f} ms  ({v / base:6.0f}x a thread)" for k, v in costs.items())


def plot_costs(costs: dict):
    fig, ax = new_figure(figsize=(6.4, 2.8))
    names = list(costs)
    ax.barh(names, [costs[n] * 1e3 for n in names], color=["tab:green"] + ["tab:orange"] * (len(names) - 1))
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds to start and join one (log scale)")
    ax.set_title("starting a thread vs starting a process")
    ax.grid(alpha=0.3, axis="x")
    return fig


# --- exercises -----------------------------------------------------------------------------


def _majority_state(proc_state, body) -> tuple[str, dict]:
    """Start a child running ``body``, read its state 25 times with ``proc_state``: (most seen, all)."""
    ctx = multiprocessing.get_context()
    stop = ctx.Event()
    p = ctx.Process(target=body, args=(stop,), daemon=True)
    p.start()
    try:
        time.sleep(0.2)  # let it start and settle into its loop
        seen = Counter()
        for _ in range(25):
            seen[proc_state(p.pid)] += 1
            time.sleep(0.01)
    finally:
        stop.set()
        _reap([p])
    return seen.most_common(1)[0][0], dict(seen)


def check_proc_state(proc_state) -> object:
    """Exercise 2.1: proc_state(pid) -> the one-letter state from /proc/<pid>/stat."""

    def test():
        if not HAS_PROC:
            raise AssertionError("this exercise needs Linux (/proc): there is nothing to check here")
        for body, expected, what in ((spinner, "R", "computes"), (napper, "S", "naps")):
            top, seen = _majority_state(proc_state, body)
            if not isinstance(top, str) or len(top) != 1:
                raise AssertionError(f"expected one letter such as 'R' or 'S', got {top!r}")
            if top != expected:
                raise AssertionError(
                    f"a child that {what} should be in state {expected!r} most of the time; "
                    f"your proc_state saw {seen}"
                )

    return check("Exercise 2.1", test)


def check_parent_of_child(parent_of_child) -> object:
    """Exercise 2.2: parent_of_child() runs a Python child with subprocess, returns its getppid()."""

    def test():
        got = parent_of_child()
        if not isinstance(got, int):
            raise AssertionError(f"expected an int (convert the child's output with int()), got {got!r}")
        expect_equal(got, os.getpid(), "the child's parent pid (it should be this kernel's os.getpid())")

    return check("Exercise 2.2", test)


def leftover_children() -> list[str]:
    """Command lines of this process's children, except multiprocessing's own helpers.

    Starting a process with *spawn* (or *forkserver*) also starts the ``resource_tracker``
    (and the fork server): helper processes that live as long as their parent, by design.
    """
    helpers = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
    found = []
    for child in psutil.Process().children():
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:  # it ended meanwhile
            continue
        if not any(h in line for h in helpers):
            found.append(line)
    return found
