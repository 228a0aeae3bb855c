"""Lesson 10: multiprocessing — start methods, pools, passing and sharing data, speedup.

Every function a child process runs lives here (or in :mod:`threadlab.workers`), never in the
notebook: under the *spawn* and *forkserver* start methods a child imports the function by its
module and name, and a notebook has no module a child could import.

Children never print: under Jupyter, what a child writes to its stdout or stderr lands in
whichever cell happens to be running. They send results back through queues, pipes, shared
objects or return values instead.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.managers import BaseManager

from threadlab.checks import check, expect_equal, run_with_timeout
from threadlab.env import usable_cores
from threadlab.measure import QUIET, Elsewhere, Row, Scaling, amdahl, ideal_speedup
from threadlab.workers import count_primes, noop

# --- 1. start methods --------------------------------------------------------------------------

MARK = "as imported"  #: a module global; the notebook changes it to show what a child inherits


def expected_default_start_method(platform: str = sys.platform, version=sys.version_info) -> str:
    """The documented default start method of CPython on ``platform`` for ``version``.

    Windows has only spawn; macOS uses spawn since 3.8 (fork is unsafe with its system
    libraries); other POSIX systems used fork until 3.13 and use forkserver from 3.14, because
    fork copies only the calling thread of a process that may have many.
    """
    if platform in ("win32", "darwin"):
        return "spawn"
    return "forkserver" if tuple(version[:2]) >= (3, 14) else "fork"


def child_report(queue) -> None:
    """Runs in a child: report what the child inherited, through ``queue``."""
    queue.put(
        {
            "pid": os.getpid(),
            "parent": os.getppid(),
            "mark": MARK,
            "modules": len(sys.modules),
            "ipykernel": "ipykernel" in sys.modules,
            "numpy": "numpy" in sys.modules,
        }
    )


def start_methods_tour(methods=None, timeout: float = 60.0) -> dict[str, dict]:
    """Start one child with each start method; return {method: what the child reported}."""
    reports = {}
    for method in methods or multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context(method)
        queue = ctx.Queue()
        child = ctx.Process(target=child_report, args=(queue,), name=f"{method}-child")
        child.start()
        try:
            report = queue.get(timeout=timeout)
        finally:
            child.join(timeout)
            if child.is_alive():  # pragma: no cover - only on a broken machine
                child.terminate()
                child.join()
        report["exitcode"] = child.exitcode
        queue.close()
        queue.join_thread()
        reports[method] = report
    return reports


def start_times(methods=None, count: int = 4) -> dict[str, list[float]]:
    """Seconds to start and join a child that does nothing, ``count`` times per method.

    The first start of *forkserver* includes starting the fork server itself.
    """
    times = {}
    for method in methods or multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context(method)
        times[method] = []
        for _ in range(count):
            start = time.perf_counter()
            child = ctx.Process(target=noop)
            child.start()
            child.join(60)
            times[method].append(time.perf_counter() - start)
    return times


# --- 2. why workers live in modules ----------------------------------------------------------


def stderr_to_file(path: str) -> None:
    """Pool initializer: send this worker's stderr (Python's and the OS file 2) to ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the worker


@dataclass
class Attempt:
    """What happened when a process pool was asked to run a function."""

    method: str
    ok: bool
    value: object = None
    error: str = ""  #: the exception the parent saw (its type name)
    child_said: str = ""  #: the last error line the workers wrote to their stderr

    def __str__(self):
        if self.ok:
            return f"{self.method:>10}: ok, {self.value}"
        return f"{self.method:>10}: {self.error} (a worker said: {self.child_said})"


def try_pool(fn, items, method: str, timeout: float = 60.0) -> Attempt:
    """Run ``fn`` over ``items`` on a ProcessPoolExecutor with the given start method.

    A ProcessPoolExecutor notices that its workers died and raises ``BrokenProcessPool``;
    ``multiprocessing.Pool`` would silently start new workers forever (see
    :data:`BROKEN_POOL_SCRIPT`). The workers' stderr goes to a file, read back afterwards.
    """
    ctx = multiprocessing.get_context(method)
    fd, path = tempfile.mkstemp(prefix="lesson10-", suffix=".log")
    os.close(fd)
    try:
        try:
            with ProcessPoolExecutor(2, mp_context=ctx, initializer=stderr_to_file, initargs=(path,)) as ex:
                value = list(ex.map(fn, items, timeout=timeout))
            return Attempt(method, True, value)
        except BrokenProcessPool as exc:
            with open(path) as log:
                errors = [line.strip() for line in log if "Error:" in line]
            return Attempt(method, False, error=type(exc).__name__, child_said=errors[-1] if errors else "")
    finally:
        os.unlink(path)


BROKEN_POOL_SCRIPT = '''\
import multiprocessing

def square(x):              # lives in __main__, and this __main__ has no file
    return x * x

if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print(pool.map(square, range(10)))
'''

FIXED_POOL_SCRIPT = '''\
import multiprocessing
from threadlab.lessons.lesson10 import square   # importable by every child

if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print(pool.map(square, range(10)))
'''


@dataclass
class ScriptRun:
    """A Python program run with a time limit (see :func:`run_script`)."""

    finished: bool  #: False: it was still running at the time limit and was killed
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    survivors: int = 0  #: processes of its group still alive after the kill (must be 0)

    def error_lines(self, word: str = "Error:") -> list[str]:
        return [line.strip() for line in self.stderr.splitlines() if word in line]


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    import psutil

    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return members


def run_script(source: str, timeout: float) -> ScriptRun:
    """Run ``source`` with ``python -c`` in a new process group; kill the group at ``timeout``.

    ``python -c``, like a notebook, has a ``__main__`` without a file: a spawned child cannot
    re-import it. Killing the whole group also ends the pool workers the program started.
    """
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, so its children can be killed with it
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    seconds = time.perf_counter() - start
    survivors = _group_members(proc.pid)
    deadline = time.monotonic() + 10
    while survivors and time.monotonic() < deadline:  # SIGKILL is delivered, not instant
        time.sleep(0.05)
        survivors = _group_members(proc.pid)
    return ScriptRun(finished, proc.returncode, out, err, seconds, len(survivors))


# --- 3. Pool: map, imap_unordered, chunksize -------------------------------------------------


def square(x: int) -> int:
    return x * x


def nap(seconds: float) -> float:
    """Sleep, then return the seconds slept (a task whose duration we choose)."""
    time.sleep(seconds)
    return seconds


def take(iterator, count: int, timeout: float = 60.0) -> list:
    """The next ``count`` results of a Pool.imap/imap_unordered iterator, each within ``timeout``."""
    return [iterator.next(timeout) for _ in range(count)]


def pool_default_chunksize(tasks: int, processes: int) -> int:
    """The chunk size Pool.map picks when given none: about 4 chunks per worker."""
    chunks, extra = divmod(tasks, processes * 4)
    return chunks + 1 if extra else chunks


def time_chunksizes(pool, tasks: int, chunksizes=(1, 10, 100, None), repeat: int = 1) -> dict:
    """Seconds for ``pool.map(square, range(tasks), chunksize=c)``, for each c (None = default)."""
    expected = [square(x) for x in range(tasks)]
    times = {}
    for size in chunksizes:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            result = pool.map_async(square, range(tasks), chunksize=size).get(120)
            best = min(best, time.perf_counter() - start)
            if result != expected:  # pragma: no cover - a broken pool
                raise RuntimeError("wrong results from the pool")
        times[size] = best
    return times


# --- 4. Queue and Pipe -----------------------------------------------------------------------


def produce(queue, count: int) -> None:
    """Put the squares of 0..count-1 on ``queue``, then None to say "no more"."""
    for i in range(count):
        queue.put(i * i)
    queue.put(None)


def put_big(queue, nbytes: int) -> None:
    """Put one large item: the child cannot exit before the parent has taken it."""
    queue.put(bytes(nbytes))


def shout(conn, timeout: float = 30.0) -> None:
    """Answer each string received on ``conn`` in upper case, until None (or silence)."""
    while conn.poll(timeout):
        message = conn.recv()
        if message is None:
            break
        conn.send(message.upper())
    conn.close()


def ask(conn, message, timeout: float = 30.0):
    """Send ``message`` and wait at most ``timeout`` seconds for the answer."""
    conn.send(message)
    if not conn.poll(timeout):
        raise TimeoutError(f"no answer to {message!r} within {timeout} s")
    return conn.recv()


# --- 5. Value and Array ----------------------------------------------------------------------


def add_to_value(value, increments: int, barrier, locked: bool) -> None:
    """``value.value += 1`` ``increments`` times, holding the value's lock around each if ``locked``."""
    barrier.wait(60)  # all processes start counting together
    if locked:
        for _ in range(increments):
            with value.get_lock():
                value.value += 1
    else:
        for _ in range(increments):
            value.value += 1  # a locked read, then a locked write: not one step


def add_to_array(array, increments: int, barrier, locked: bool) -> None:
    """Add 1 to the array's elements in turn, ``increments`` times in all."""
    barrier.wait(60)
    size = len(array)
    for i in range(increments):
        if locked:
            with array.get_lock():
                array[i % size] += 1
        else:
            array[i % size] += 1


def lost_updates(shared: str = "value", locked: bool = False, processes: int = 4,
                 increments: int = 5000, runs: int = 8, size: int = 4) -> list[int]:
    """Run the counting race ``runs`` times; return the number of lost updates of each run."""
    losses = []
    for _ in range(runs):
        barrier = multiprocessing.Barrier(processes)
        if shared == "value":
            target = multiprocessing.Value("i", 0)
            worker = add_to_value
        else:
            target = multiprocessing.Array("i", size)
            worker = add_to_array
        procs = [
            multiprocessing.Process(target=worker, args=(target, increments, barrier, locked))
            for _ in range(processes)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        if any(p.exitcode != 0 for p in procs):  # pragma: no cover - a broken machine
            raise RuntimeError(f"a worker failed: exit codes {[p.exitcode for p in procs]}")
        total = target.value if shared == "value" else sum(target[:])
        losses.append(processes * increments - total)
    return losses


def fill_squares(array, start: int, stop: int) -> None:
    """Write i*i into array[i] for start <= i < stop: each process its own slice, no lock."""
    for i in range(start, stop):
        array[i] = i * i


# --- 6. shared memory ------------------------------------------------------------------------


def square_in_place(name: str, count: int, start: int = 0, stop: int | None = None) -> None:
    """Attach to the shared block ``name`` holding ``count`` int64 and square [start:stop] in place."""
    from multiprocessing import shared_memory

    import numpy as np

    block = shared_memory.SharedMemory(name=name)
    try:
        data = np.ndarray((count,), dtype=np.int64, buffer=block.buf)
        data[start:stop] = data[start:stop] ** 2
        del data  # a view into the block must be gone before the block is closed
    finally:
        block.close()


def is_unlinked(name: str) -> bool:
    """True if no shared memory block called ``name`` exists any more."""
    from multiprocessing import shared_memory

    try:
        block = shared_memory.SharedMemory(name=name)
    except FileNotFoundError:
        return True
    block.close()
    return False


# --- 7. a Manager ----------------------------------------------------------------------------


def register(seen, order, index: int) -> None:
    """Runs in a child: record our pid under ``index`` in a dict proxy, ``index`` in a list proxy."""
    seen[index] = os.getpid()
    order.append(index)


def time_mapping(mapping, count: int = 2000) -> float:
    """Seconds per ``mapping[key] = value`` (a plain dict, or a proxy to one in another process)."""
    start = time.perf_counter()
    for i in range(count):
        mapping[i % 10] = i
    return (time.perf_counter() - start) / count


# --- 8. a manager over TCP -------------------------------------------------------------------


class Tally:
    """Counts by name. One instance lives in the server process; clients reach it through proxies.

    The server answers each client connection in its own thread, so the object locks itself.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> int:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + amount
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


_TALLY: Tally | None = None


def the_tally() -> Tally:
    """Runs in the server: the one shared Tally (created on first use)."""
    global _TALLY
    if _TALLY is None:
        _TALLY = Tally()
    return _TALLY


class TallyManager(BaseManager):
    """A manager serving one :class:`Tally` as ``manager.tally()``."""


TallyManager.register("tally", callable=the_tally)


def _quiet_refusals() -> None:
    """Server initializer: a refused client (wrong authkey) is expected, not a crash to print."""
    default = threading.excepthook

    def hook(args):
        if not issubclass(args.exc_type, multiprocessing.AuthenticationError):
            default(args)

    threading.excepthook = hook


def start_tally_server(authkey: bytes, host: str = "127.0.0.1", port: int = 0) -> TallyManager:
    """Start a manager server process on (host, port); port 0 lets the OS pick a free port.

    ``manager.address`` is then the real (host, port). Call ``manager.shutdown()`` when done.
    """
    manager = TallyManager(address=(host, port), authkey=authkey)
    manager.start(initializer=_quiet_refusals)
    return manager


def connect_tally(address, authkey: bytes, timeout: float = 30.0):
    """Connect to a tally server and return the proxy of its Tally (or raise what connect raised)."""
    manager = TallyManager(address=tuple(address), authkey=authkey)

    def connect():
        manager.connect()
        return manager.tally()

    finished, proxy, error = run_with_timeout(connect, timeout)
    if not finished:
        raise TimeoutError(f"no answer from {address} within {timeout} s")
    if error is not None:
        raise error
    return proxy


def tally_client(address, authkey: bytes, name: str, times: int) -> None:
    """Runs in a client process: add 1 to ``name`` on the server, ``times`` times."""
    tally = connect_tally(address, authkey)
    for _ in range(times):
        tally.add(name)


def run_tally_program(address, authkey: bytes, name: str, times: int, timeout: float = 60.0):
    """Run a separate Python program that adds to the tally (``python -m threadlab.lessons.lesson10``).

    The authkey is handed over in an environment variable, never on the command line, where
    any user of the machine could read it (``ps``).
    """
    env = dict(os.environ, TALLY_AUTHKEY=authkey.hex())
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    host, port = address
    command = [sys.executable, "-m", "threadlab.lessons.lesson10", "tally", host, str(port), name, str(times)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def main(argv=None) -> int:
    """``python -m threadlab.lessons.lesson10 tally HOST PORT NAME TIMES`` (authkey in $TALLY_AUTHKEY)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5 or args[0] != "tally":
        print(main.__doc__, file=sys.stderr)
        return 2
    _, host, port, name, times = args
    authkey = bytes.fromhex(os.environ["TALLY_AUTHKEY"])
    tally_client((host, int(port)), authkey, name, int(times))
    print(f"{name}: added {times}, pid {os.getpid()}")
    return 0


def time_copies(pool, job, copies: int, repeat: int = 3) -> tuple[float, float]:
    """(seconds for ``count_primes(job)`` alone here, seconds for ``copies`` copies at once on ``pool``).

    Each is the best of ``repeat`` tries, taken in turn: the job is short, and one burst of load
    from elsewhere would otherwise make the machine look like it has fewer cores than it has.
    """
    alone = together = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        count_primes(job)
        alone = min(alone, time.perf_counter() - start)
        start = time.perf_counter()
        list(pool.map(count_primes, [job] * copies))
        together = min(together, time.perf_counter() - start)
    return alone, together


# --- 9. prime counting: threads vs processes -------------------------------------------------

PRIME_N = 300_000  #: count the primes below this ...
PRIME_COUNT = 25_997  #: ... there are this many
PRIME_PARTS = 16  #: in this many segments


def segments(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """Split [lo, hi) into ``parts`` contiguous (lo, hi) pieces that cover it exactly."""
    if parts < 1 or hi < lo:
        raise ValueError("need parts >= 1 and lo <= hi")
    bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


@dataclass
class PrimeRace:
    """Best-of-N seconds to count the same primes sequentially, with threads and with processes."""

    workers: int
    count: int
    sequential: float
    threads: float
    processes: float
    elsewhere: float = 0.0  #: cores other programs kept busy while we measured
    cores_used: dict[str, float] | None = None  #: cores we used, on average, for each way
    capacity: float = 1.0  #: how much faster ``workers`` independent copies of a job ran than one

    @property
    def quiet(self) -> bool:
        """True when other programs left (nearly) every core to the measurement."""
        return self.elsewhere < QUIET

    def expected(self) -> float:
        """The process speedup this run must reach: half of what this machine gave
        ``workers`` independent copies of a job, measured in the same rounds (a virtual
        machine's cores can change speed from one second to the next). Half, not more: with
        other programs keeping a core busy, a stress run got 0.72x from processes where
        copies got 1.26x. A pool that does not run in parallel is caught on a quiet machine by the
        strict check (both cores busy, faster than threads)."""
        return 0.5 * self.capacity

    @property
    def thread_speedup(self) -> float:
        return self.sequential / self.threads

    @property
    def process_speedup(self) -> float:
        return self.sequential / self.processes

    def table(self) -> str:
        used = self.cores_used or {}
        rows = [
            ("sequential", self.sequential, 1.0, used.get("sequential", 0.0)),
            (f"{self.workers} threads", self.threads, self.thread_speedup, used.get("threads", 0.0)),
            (f"{self.workers} processes", self.processes, self.process_speedup, used.get("processes", 0.0)),
        ]
        lines = [f"{'':<14}{'seconds':>8}{'speedup':>9}{'cores used':>12}"]
        lines += [f"{name:<14}{t:>8.3f}{s:>8.2f}x{c:>12.2f}" for name, t, s, c in rows]
        lines.append(f"{self.workers} independent copies of one job at once: {self.capacity:.2f}x the work "
                     "per second of one copy")
        lines.append(f"(other programs kept {self.elsewhere:.2f} cores busy meanwhile)")
        return "\n".join(lines)


def race_threads_processes(n: int = PRIME_N, parts: int = PRIME_PARTS, workers: int = 2,
                           repeat: int = 3) -> PrimeRace:
    """Count primes below ``n`` in ``parts`` segments: in a loop, on threads, on processes.

    Both pools are started and warmed up before any clock runs; the three ways are timed in
    turn, ``repeat`` rounds, and the best time of each kept, so a burst of load from elsewhere
    slows one round of all three rather than one of them. Each round also times one job
    alone and ``workers`` copies of it at once on the process pool: the speedup this machine
    gives fully independent work right now (its *capacity*).
    """
    work = segments(0, n, parts)
    job = (0, n // 5)
    best = {"sequential": float("inf"), "threads": float("inf"), "processes": float("inf")}
    alone = together = float("inf")
    counts = set()
    meters = {kind: Elsewhere() for kind in best}
    with ThreadPoolExecutor(workers) as threads, ProcessPoolExecutor(workers) as procs:
        list(procs.map(noop, range(workers * 2)))
        for _ in range(repeat):
            for kind in best:
                with meters[kind]:
                    start = time.perf_counter()
                    if kind == "sequential":
                        total = sum(count_primes(s) for s in work)
                    else:
                        pool = threads if kind == "threads" else procs
                        total = sum(pool.map(count_primes, work))
                    best[kind] = min(best[kind], time.perf_counter() - start)
                counts.add(total)
            one, many = time_copies(procs, job, workers)
            alone, together = min(alone, one), min(together, many)
    if len(counts) != 1:  # pragma: no cover - would be a bug
        raise RuntimeError(f"the three ways disagree: {counts}")
    elsewhere = sum(m.other_cpu for m in meters.values()) / sum(m.seconds for m in meters.values())
    used = {kind: m.own_cores for kind, m in meters.items()}
    return PrimeRace(workers, counts.pop(), best["sequential"], best["threads"], best["processes"],
                     elsewhere, used, workers * alone / together)


def plot_race(race: PrimeRace):
    """Bar chart of the three times, with the speedups written on the bars."""
    from threadlab.plotting import new_figure

    fig, ax = new_figure(figsize=(6.4, 2.6))
    labels = ["sequential", f"{race.workers} threads", f"{race.workers} processes"]
    times = [race.sequential, race.threads, race.processes]
    bars = ax.barh(labels, times, color=["tab:grey", "tab:orange", "tab:blue"])
    for bar, t in zip(bars, times):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {race.sequential / t:.2f}x",
                va="center")
    ax.invert_yaxis()
    ax.set_xlabel("seconds (best of the repeats)")
    ax.set_xlim(0, max(times) * 1.25)
    ax.set_title(f"counting {race.count} primes")
    return fig


# --- 10. speedup against the ideal and Amdahl's law ------------------------------------------

AMDAHL_RANGE = (1_000_000, 1_120_000)  #: primes here cost about the same per number ...
AMDAHL_PARTS = 12  #: ... so these segments are near-equal tasks (12 divides by 1, 2, 3, 4, 6)


@dataclass
class AmdahlRun:
    """One run of the slider: the measurement, the serial part that was set, the fit."""

    scaling: Scaling
    serial_percent: int
    parallel_fraction: float | None  #: estimated from the measurement (None with 1 process)
    cores: int
    count: int = 0
    elsewhere: float = 0.0  #: cores other programs kept busy while we measured
    capacity: dict[int, float] | None = None  #: {n: speedup of n independent copies of a job}
    cores_used: dict[int, float] | None = None  #: {n: cores we kept busy, on average, with n processes}

    @property
    def quiet(self) -> bool:
        """True when other programs left (nearly) every core to the measurement."""
        return self.elsewhere < QUIET

    def effective(self, workers: int) -> float:
        """How many cores' worth of work ``workers`` processes got: the measured capacity."""
        if self.capacity and workers in self.capacity:
            return max(1.0, self.capacity[workers])
        return float(min(workers, self.cores))

    def expected(self, workers: int) -> float:
        """The speedup a fully parallel run must reach: half of what independent copies got."""
        return 1.0 if workers == 1 else 0.5 * self.effective(workers)

    def predicted(self, workers: int) -> float:
        """Amdahl's law with the estimated fraction, on the cores ``workers`` processes got."""
        return amdahl(self.parallel_fraction, 1) if workers == 1 else 1 / (
            (1 - self.parallel_fraction) + self.parallel_fraction / self.effective(workers))


def estimate_parallel_fraction(rows, cores: int, capacity: dict[int, float] | None = None) -> float | None:
    """The parallel fraction p for which Amdahl's law best fits the measured speedups.

    A row with n workers is compared with Amdahl's law on the cores those n processes really
    got: ``capacity[n]`` if measured (n independent copies of a job ran that many times faster
    than one), else ``min(n, cores)``. Least squares over a 0.001 grid; None if no row has n > 1.
    """

    def effective(n):
        return max(1.0, capacity[n]) if capacity and n in capacity else float(min(n, cores))

    usable = [r for r in rows if r.workers > 1 and effective(r.workers) > 1.05]
    if not usable:
        return None

    def error(p):
        return sum((r.speedup - 1 / ((1 - p) + p / effective(r.workers))) ** 2 for r in usable)

    return min((i / 1000 for i in range(1001)), key=error)


def parallel_fraction_from(speedup: float, workers: int) -> float:
    """Amdahl's law solved for p: the parallel fraction that gives ``speedup`` on ``workers``."""
    if workers < 2:
        raise ValueError("need at least 2 workers")
    return (1 - 1 / speedup) / (1 - 1 / workers)


def amdahl_run(processes: int, serial: int = 0, repeat: int = 3, cores: int | None = None,
               span: tuple[int, int] = AMDAHL_RANGE) -> AmdahlRun:
    """Time a prime count on 1..processes processes; ``serial`` % of it runs in the parent alone.

    The parent first counts the first ``serial`` % of the segments itself (the serial part),
    then hands the rest to a process pool (the parallel part). Pools are started and warmed up
    before timing; every worker count is timed in turn, ``repeat`` rounds, best time kept.
    """
    cores = cores or usable_cores()
    work = segments(*span, AMDAHL_PARTS)
    k = round(serial / 100 * len(work))
    serial_part, parallel_part = work[:k], work[k:]
    counts = list(range(1, processes + 1))
    best = dict.fromkeys(counts, float("inf"))
    alone, together = float("inf"), dict.fromkeys(counts, float("inf"))
    job = work[-1]  # one segment: the capacity check costs little
    totals = set()
    meters = {n: Elsewhere() for n in counts}
    pools = {n: ProcessPoolExecutor(n) for n in counts}
    try:
        for n, pool in pools.items():
            list(pool.map(noop, range(2 * n)))
        for _ in range(repeat):
            for n, pool in pools.items():
                with meters[n]:
                    start = time.perf_counter()
                    total = sum(count_primes(s) for s in serial_part)
                    total += sum(pool.map(count_primes, parallel_part))
                    best[n] = min(best[n], time.perf_counter() - start)
                totals.add(total)
                if n > 1:
                    one, many = time_copies(pool, job, n)
                    alone, together[n] = min(alone, one), min(together[n], many)
    finally:
        for pool in pools.values():
            pool.shutdown()
    result = Scaling(kind="process", tasks=len(work), cores=cores)
    for n in counts:
        result.rows.append(Row(n, best[n], best[1] / best[n], ideal_speedup(n, len(work), cores)))
    capacity = {n: n * alone / together[n] for n in counts if n > 1}
    p = estimate_parallel_fraction(result.rows, cores, capacity)
    count = totals.pop() if len(totals) == 1 else -1
    elsewhere = sum(m.other_cpu for m in meters.values()) / sum(m.seconds for m in meters.values())
    used = {n: m.own_cores for n, m in meters.items()}
    return AmdahlRun(result, serial, p, cores, count=count, elsewhere=elsewhere, capacity=capacity,
                     cores_used=used)


def plot_amdahl(run: AmdahlRun):
    """Left: measured speedup, the ideal for this many cores, Amdahl's law with the fitted p.
    Right: what that law predicts for machines with more cores, and its ceiling 1 / (1 - p)."""
    from threadlab.measure import plot_scaling
    from threadlab.plotting import new_figure

    fig, (left, right) = new_figure(figsize=(9.6, 3.6), ncols=2)
    plot_scaling(run.scaling, title=f"measured (serial part set to {run.serial_percent} %)", ax=left,
                 label="measured")
    left.set_xlabel("processes")
    p = run.parallel_fraction
    if p is None:
        right.text(0.5, 0.5, "measure with 2 or more processes\nto fit Amdahl's law", ha="center",
                   va="center", transform=right.transAxes)
        right.set_axis_off()
        return fig
    xs = [r.workers for r in run.scaling.rows]
    left.plot(xs, [run.effective(n) for n in xs], "-.", color="tab:green", alpha=0.7,
              label="independent copies (this machine's ideal)")
    left.plot(xs, [run.predicted(n) for n in xs], ":", color="tab:red", label=f"Amdahl, p = {p:.2f} (fitted)")
    left.legend()
    many = [1, 2, 4, 8, 16, 32, 64]
    right.plot(many, many, "--", color="grey", label="ideal")
    right.plot(many, [amdahl(p, n) for n in many], "o:", color="tab:red", label=f"Amdahl, p = {p:.2f}")
    if p < 1:
        right.axhline(1 / (1 - p), color="tab:red", alpha=0.4, label=f"ceiling 1/(1-p) = {1 / (1 - p):.1f}x")
    right.set(xscale="log", yscale="log", xlabel="cores (log scale)", ylabel="speedup (x)",
              title="what more cores would give")
    right.set_xticks(many, [str(n) for n in many])
    right.set_yticks(many, [str(n) for n in many])
    right.minorticks_off()
    right.grid(alpha=0.3)
    right.legend(fontsize="small")
    return fig


def amdahl_summary(run: AmdahlRun) -> str:
    last = run.scaling.rows[-1]
    text = f"{last.workers} processes: speedup {last.speedup:.2f}x (ideal {last.ideal:.2f}x)"
    p = run.parallel_fraction
    if p is not None:
        limit = "no limit" if p >= 1 else f"at most {1 / (1 - p):.0f}x on any number of cores"
        text += f"; fitted parallel fraction {p:.2f}, serial {1 - p:.0%} -> {limit}"
    if run.cores_used:
        text += f"; cores kept busy: {run.cores_used[last.workers]:.2f}"
    if run.capacity and last.workers in run.capacity:
        text += f"; {last.workers} independent copies ran {run.capacity[last.workers]:.2f}x"
    if not run.quiet:
        text += f" (other programs kept {run.elsewhere:.1f} cores busy: expect less)"
    return text


# --- exercises -------------------------------------------------------------------------------


def check_parallel_count(parallel_count) -> object:
    """Exercise 10.1: parallel_count(n, processes) counts the primes below n on a process pool."""

    def test():
        for n, processes, expected in [(100, 2, 25), (10_000, 3, 1229), (100_000, 2, 9592), (2, 2, 0)]:
            got = parallel_count(n, processes)
            expect_equal(got, expected, f"parallel_count({n}, {processes})")
        left = multiprocessing.active_children()
        if left:
            raise AssertionError(f"{len(left)} process(es) still running afterwards: close the pool")

    return check("Exercise 10.1", test, timeout=120)


def check_shared_squares(squares_via_shared_memory) -> object:
    """Exercise 10.2: squares computed by a child in shared memory; the block unlinked after."""

    def test():
        values = list(range(-500, 1500))
        answer = squares_via_shared_memory(values)
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise AssertionError(f"return (squares, block name), got {answer!r:.80}")
        squares, name = answer
        expect_equal(list(squares), [v * v for v in values], "the squares")
        if not is_unlinked(name):
            from multiprocessing import shared_memory

            leftover = shared_memory.SharedMemory(name=name)
            leftover.close()
            leftover.unlink()  # clean up for the learner, then say what was missing
            raise AssertionError(f"the block {name!r} still exists: call unlink() when done")
        left = multiprocessing.active_children()
        if left:
            raise AssertionError(f"{len(left)} process(es) still running: join the child")

    return check("Exercise 10.2", test, timeout=60)


def check_parallel_fraction(parallel_fraction) -> object:
    """Exercise 10.3: parallel_fraction(speedup, workers) inverts Amdahl's law."""

    def test():
        for p in (0.0, 0.5, 0.9, 0.99, 1.0):
            for n in (2, 4, 16):
                s = amdahl(p, n)
                got = parallel_fraction(s, n)
                if got is None or abs(got - p) > 1e-6:
                    raise AssertionError(f"a speedup of {s:.4f} on {n} workers means p = {p}, got {got!r}")
        expect_equal(round(parallel_fraction(1.0, 8), 9), 0.0, "parallel_fraction(1.0, 8) (no speedup)")

    return check("Exercise 10.3", test)


if __name__ == "__main__":
    sys.exit(main())
