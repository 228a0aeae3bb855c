"""Lesson 03: threads, the low-level ``_thread`` API and ``threading``.

The seed tutorials' examples in modern form (Heron's square roots, the sleepers, the busy-wait
on a counter, the prime-number thread), plus the machinery for measuring what the lesson
claims: CPU burnt by busy-waiting, what the OS sees, and what happens at interpreter exit.
"""

from __future__ import annotations

import _thread
import subprocess
import sys
import threading
import time
import warnings

from threadlab.checks import check, expect_equal

# --- Heron's square roots (python-course.eu) -----------------------------------------------


def heron(a: float, eps: float = 1e-7) -> float:
    """The square root of ``a`` by Heron's method: average a guess with a / guess until stable."""
    old, new = 1.0, 1.0
    while True:
        old, new = new, (new + a / new) / 2.0
        if abs(new - old) < eps:
            return new


def _wait_until(predicate, timeout: float) -> bool:
    """Poll ``predicate`` (sleeping between tries, not spinning) until true or timeout."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.001)
    return True


class _SeedState:
    """The seed's module globals, kept in one object so each run starts fresh."""

    def __init__(self):
        self.num_threads = 0
        self.thread_started = False
        self.finished = 0
        self.results = {}
        self.lock = _thread.allocate_lock()


def seed_heron_counter(values=(99, 999, 1733, 17334)) -> dict:
    """The seed's second heron program: a counter of running threads and ``while n > 0: pass``.

    Each thread adds 1 to the counter when it starts and subtracts 1 when it ends; the main
    thread spins until the counter is 0. Returns how many threads had finished at the moment
    the main thread stopped waiting (the seed expects all of them), then waits for the rest
    properly so that no thread outlives the call.
    """
    s = _SeedState()

    def work(a):
        s.num_threads += 1  # the seed's unprotected counter
        r = heron(a)
        with s.lock:
            s.results[a] = r
            s.finished += 1
        s.num_threads -= 1

    for a in values:
        _thread.start_new_thread(work, (a,))
    start = time.perf_counter()
    while s.num_threads > 0:  # the seed's busy wait
        pass
    waited = time.perf_counter() - start
    finished_then = s.finished
    _wait_until(lambda: s.finished == len(values), 10)  # clean up: let every thread end
    return {"threads": len(values), "finished_when_main_went_on": finished_then, "waited": waited,
            "finished_in_the_end": s.finished}


def seed_heron_flag(values=(99, 999, 1733), late_start: float = 0.0) -> dict:
    """The seed's "solution": counter under a lock, plus a ``thread_started`` flag.

    Main spins until the flag is set, then until the counter is 0. That still fails when a
    thread starts late (the OS decides when a new thread first runs): ``late_start`` delays
    every thread but the first by that many seconds, as a busy machine might.
    """
    s = _SeedState()

    def work(a, delay):
        if delay:
            time.sleep(delay)
        with s.lock:
            s.num_threads += 1
            s.thread_started = True
        r = heron(a)
        with s.lock:
            s.results[a] = r
            s.finished += 1
            s.num_threads -= 1

    for i, a in enumerate(values):
        _thread.start_new_thread(work, (a, late_start if i else 0.0))
    end = time.monotonic() + 10  # (the seed has no limit; ours must never hang)
    while not s.thread_started and time.monotonic() < end:
        pass
    while s.num_threads > 0 and time.monotonic() < end:
        pass
    finished_then = s.finished
    _wait_until(lambda: s.finished == len(values), 10 + late_start)
    return {"threads": len(values), "finished_when_main_went_on": finished_then,
            "finished_in_the_end": s.finished}


def heron_low_level(values=(99, 999, 1733)) -> dict:
    """The right way with ``_thread``: one "done" lock per thread, released when it finishes.

    The 2009 tutorial's primes program waits like this: each lock is acquired before its thread
    starts and released by the thread at the end, so acquiring it again blocks until then.
    """
    results = {}
    results_lock = _thread.allocate_lock()
    done = [_thread.allocate_lock() for _ in values]

    def work(a, done_lock):
        r = heron(a)
        with results_lock:
            results[a] = r
        done_lock.release()

    for a, lock in zip(values, done):
        lock.acquire()
        _thread.start_new_thread(work, (a, lock))
    for lock in done:
        if not lock.acquire(timeout=10):
            raise TimeoutError("a heron thread did not finish")
    return results


# --- a lock does not stop the world (python-course.eu's claim) ------------------------------


def lock_does_not_stop_others(hold: float = 0.15) -> dict:
    """Hold a lock for ``hold`` seconds and see what two other threads do meanwhile.

    One thread does not use the lock and keeps counting; one tries to take the lock and
    waits. A lock excludes only the threads that ask for *the same lock*.
    """
    lock = threading.Lock()
    stop = threading.Event()
    counted = {"outside": 0, "got_lock_at": None}

    def outsider():
        while not stop.is_set():
            counted["outside"] += 1
            time.sleep(0.001)

    def insider():
        with lock:
            counted["got_lock_at"] = time.perf_counter()

    others = [threading.Thread(target=outsider), threading.Thread(target=insider)]
    with lock:
        start = time.perf_counter()
        for t in others:
            t.start()
        time.sleep(hold)  # a long "critical section"
        counted_while_held = counted["outside"]
        insider_got_it_while_held = counted["got_lock_at"] is not None
        released_at = time.perf_counter()
    stop.set()
    for t in others:
        t.join(10)
    return {"counted_while_held": counted_while_held, "insider_waited": not insider_got_it_while_held,
            "insider_got_lock_after_release": counted["got_lock_at"] is not None
            and counted["got_lock_at"] >= released_at, "held": released_at - start}


# --- the sleepers (python-course.eu) --------------------------------------------------------


def sleeper(i: int, seconds: float, log: list):
    """The seed's sleeper: note that thread ``i`` sleeps, sleep, note that it woke up."""
    log.append((i, "sleeps"))
    time.sleep(seconds)
    log.append((i, "woke up"))


# --- old names -----------------------------------------------------------------------------

OLD_NAMES = [
    ("threading.Thread.isAlive", "threading.Thread.is_alive"),
    ("threading.Thread.getName", "threading.Thread.name"),
    ("threading.Thread.setDaemon", "threading.Thread.daemon"),
    ("threading.Thread.isDaemon", "threading.Thread.daemon"),
    ("threading.activeCount", "threading.active_count"),
    ("threading.currentThread", "threading.current_thread"),
    ("sys.setcheckinterval", "sys.setswitchinterval"),
]


def old_name_status(dotted: str) -> str:
    """'removed', 'deprecated' (calling it warns) or 'fine' for one of :data:`OLD_NAMES`."""
    module_name, *path = dotted.split(".")
    obj = sys.modules.get(module_name) or __import__(module_name)
    for part in path:
        if not hasattr(obj, part):
            return "removed"
        obj = getattr(obj, part)
    thread = threading.Thread(target=lambda: None, name="probe")
    calls = {
        "isAlive": lambda: obj(thread), "getName": lambda: obj(thread),
        "setDaemon": lambda: obj(thread, True), "isDaemon": lambda: obj(thread),
        "activeCount": obj, "currentThread": obj,
    }
    call = calls.get(path[-1])
    if call is None:  # pragma: no cover - every probed name has a call above
        return "fine"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return "deprecated" if any(issubclass(w.category, DeprecationWarning) for w in caught) else "fine"


def old_names_report() -> dict[str, str]:
    return {old: old_name_status(old) for old, _ in OLD_NAMES}


# --- threads as the OS sees them -----------------------------------------------------------


def os_thread_ids() -> set[int]:
    """Thread ids the kernel lists for this process (``/proc/self/task``, Linux only)."""
    import os

    return {int(tid) for tid in os.listdir("/proc/self/task")}


def ps_threads(pid: int) -> str:
    """``ps -L`` output for ``pid``: one line per thread (tid, state, name)."""
    out = subprocess.run(["ps", "-L", "-o", "tid,stat,comm", "-p", str(pid)], capture_output=True,
                         text=True, timeout=10, check=True)
    return out.stdout


# --- busy-waiting vs join (Matloff's `while nclnt > 0: pass`) -------------------------------


def wait_for_workers(how: str, workers: int = 2, seconds: float = 0.3) -> dict:
    """Start ``workers`` threads that sleep ``seconds``; wait for them by spinning or by join.

    ``how="busy"`` is the seeds' loop on a counter (here decremented under a lock, which the
    2009 server does and python-course.eu's heron program does not); ``how="join"`` is
    ``join()``. Returns the CPU time of the waiting thread (``time.thread_time``), the CPU
    time of the whole process (``time.process_time``) and the wall time.
    """
    state = {"left": workers}
    lock = threading.Lock()

    def work():
        time.sleep(seconds)
        with lock:
            state["left"] -= 1

    threads = [threading.Thread(target=work, name=f"worker-{i}") for i in range(workers)]
    wall0, cpu0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    for t in threads:
        t.start()
    if how == "busy":
        end = time.monotonic() + seconds + 10
        while state["left"] > 0 and time.monotonic() < end:
            pass
    elif how == "join":
        for t in threads:
            t.join(seconds + 10)
    else:
        raise ValueError("how must be 'busy' or 'join'")
    cpu = time.thread_time() - cpu0
    proc = time.process_time() - proc0
    wall = time.perf_counter() - wall0
    for t in threads:
        t.join(10)
    return {"how": how, "waiting_thread_cpu": cpu, "process_cpu": proc, "wall": wall,
            "left": state["left"]}


# --- interpreter exit ------------------------------------------------------------------------

EXIT_SCRIPT = """\
import _thread, sys, threading, time

kind = sys.argv[1]                      # "non-daemon", "daemon" or "_thread"
started = threading.Event()

def work():
    print("worker: started", flush=True)
    started.set()
    try:
        time.sleep(1.0)
        print("worker: finished", flush=True)
    finally:
        print("worker: cleanup", flush=True)

if kind == "_thread":
    _thread.start_new_thread(work, ())
else:
    threading.Thread(target=work, daemon=(kind == "daemon")).start()
started.wait(10)
print("main: end of script", flush=True)
"""


def run_exit_script(kind: str, timeout: float = 30.0) -> dict:
    """Run a small Python program whose main thread ends while a worker still works.

    ``kind`` is ``"non-daemon"``, ``"daemon"`` or ``"_thread"``. Returns the lines the
    program printed, its exit code and how long it ran (including interpreter start-up).
    """
    if kind not in ("non-daemon", "daemon", "_thread"):
        raise ValueError(f"unknown kind {kind!r}")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, kind], capture_output=True, text=True,
                         timeout=timeout)
    return {"kind": kind, "lines": out.stdout.splitlines(), "returncode": out.returncode,
            "stderr": out.stderr, "elapsed": time.perf_counter() - start}


# --- exercises -----------------------------------------------------------------------------


def check_run_sleepers(run_sleepers) -> object:
    """Exercise 3.1: run_sleepers(n, seconds) -> log of (i, event), all threads joined."""

    def test():
        before = threading.active_count()
        start = time.perf_counter()
        log = run_sleepers(6, 0.2)
        elapsed = time.perf_counter() - start
        if log is None:
            raise AssertionError("run_sleepers returned None: return the log list")
        woke = sorted(i for i, event in log if event == "woke up")
        expect_equal(woke, list(range(6)), "threads that woke up (did you join them all?)")
        if elapsed > 0.2 * 6 * 0.7:
            raise AssertionError(f"took {elapsed:.2f} s: the sleepers ran one after another; "
                                 "start them all first, then join")
        expect_equal(threading.active_count(), before, "threads still running after run_sleepers")

    return check("Exercise 3.1", test)


def check_prime_checker(PrimeChecker) -> object:
    """Exercise 3.2: a Thread subclass that records whether its number is prime."""

    def test():
        numbers = [2, 15, 97, 100, 7919, 7917, 1]
        expected = {n: n > 1 and all(n % d for d in range(2, int(n**0.5) + 1)) for n in numbers}
        if not (isinstance(PrimeChecker, type) and issubclass(PrimeChecker, threading.Thread)):
            raise AssertionError("PrimeChecker must be a class that subclasses threading.Thread")
        results, lock = {}, threading.Lock()
        threads = [PrimeChecker(n, results, lock) for n in numbers]
        if results:
            raise AssertionError("results were filled before start(): the work belongs in run()")
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        if any(t.is_alive() for t in threads):
            raise AssertionError("a PrimeChecker was still running after 10 s")
        expect_equal(results, expected, "results")

    return check("Exercise 3.2", test)


def check_collect_errors(collect_errors) -> object:
    """Exercise 3.3: collect_errors(functions) -> names of the exceptions raised in threads."""

    def boom():
        raise ValueError("boom")

    def fine():
        return 1

    def key():
        return {}["missing"]

    def test():
        hook = threading.excepthook
        got = collect_errors([boom, fine, key, boom])
        if threading.excepthook is not hook:
            threading.excepthook = hook
            raise AssertionError("threading.excepthook was not restored: put the old hook back")
        expect_equal(sorted(got or []), ["KeyError", "ValueError", "ValueError"], "exceptions collected")
        expect_equal(collect_errors([fine, fine]), [], "exceptions from threads that raise nothing")

    return check("Exercise 3.3", test)
