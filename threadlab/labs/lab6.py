"""Lab 6 machinery: a dining table whose forks know who holds them, and a referee for port scanners.

The forks are locks that remember their holder and who waits for them, so a dinner that deadlocks
is *detected* (a cycle: each philosopher holds a fork the next one waits for), described, and then
called off: every waiting philosopher gets :class:`DinnerCancelled` and leaves the table, putting its
forks down on the way (``with`` blocks). No deadlock demo can hang the notebook.

``force=True`` makes the worst interleaving happen every time instead of by luck: a philosopher who
has just picked up one fork waits (briefly) until every other philosopher holds a fork or waits for
one, before reaching for its second fork.

The scanner referee is a ``probe(port)`` function that records which ports were probed, how many
times, and how many probes ran at once, around the real probe of :mod:`threadlab.servers` (which
connects to sockets that the notebook opened on 127.0.0.1). :func:`forced_seed_scan` runs the 2009
tutorial's scanner (lesson 06 writes it out) with its lost wakeup forced at every wait.

:func:`explore_dinner` and :func:`explore_scan` run the learner's philosopher and scanner in the
course's schedule explorer (:mod:`threadlab.explorer`), which tries every schedule of a small
dinner or scan up to a bound instead of sampling them.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from threadlab.labcheck import find_cycle
from threadlab.servers import probe as real_probe
from threadlab.servers import scan_targets as scan_targets  # the lab's targets

# --- the dining table ------------------------------------------------------------------------


class DinnerCancelled(Exception):
    """Raised in a philosopher waiting for a fork when the dinner is called off (deadlock detected)."""


class Choked(Exception):
    """Raised by ``table.eat(i)`` on the meal a check chose (``choke_at``): do the forks go down anyway?"""


class Fork:
    """A lock that remembers who holds it and who waits for it. Use ``with fork:`` (or acquire/release)."""

    def __init__(self, table: Table, number: int):
        self.table = table
        self.number = number
        self.holder: int | None = None  #: the philosopher holding this fork, or None
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        table = self.table
        me = table.who()
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        table._jitter()
        table.waiting[me] = self.number
        try:
            while True:
                if table.cancelled.is_set():
                    raise DinnerCancelled(f"the dinner was called off while philosopher {me} waited for fork {self.number}")
                if not blocking:
                    got = self._lock.acquire(False)
                else:
                    left = 0.02 if deadline is None else max(0.0, min(0.02, deadline - time.monotonic()))
                    got = self._lock.acquire(timeout=left)
                if got:
                    break
                if not blocking or (deadline is not None and time.monotonic() >= deadline):
                    return False
        finally:
            table.waiting.pop(me, None)
        self.holder = me
        table.held.setdefault(me, []).append(self.number)
        table._after_pick_up(me)
        return True

    def release(self) -> None:
        me = self.table.who()
        if self.holder != me:
            who = "nobody" if self.holder is None else f"philosopher {self.holder}"
            raise RuntimeError(f"philosopher {me} put down fork {self.number}, which {who} holds")
        self.holder = None
        held = self.table.held.get(me, [])
        if self.number in held:
            held.remove(self.number)
        self._lock.release()
        self.table._jitter()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        holder = "free" if self.holder is None else f"held by philosopher {self.holder}"
        return f"<fork {self.number}, {holder}>"


class Table:
    """``n`` philosophers around a table, fork ``i`` between philosopher ``i`` and ``i + 1``.

    Philosopher ``i`` has ``table.left(i)`` (fork ``i``) and ``table.right(i)`` (fork ``i + 1``,
    modulo ``n``), and calls ``table.eat(i)`` while holding both.
    """

    def __init__(self, n: int, eat_time: float = 0.001, force: bool = False, jitter: float = 0.0,
                 seed: int | None = None, choke_at: int | None = None):
        if n < 2:
            raise ValueError("a dinner needs at least 2 philosophers (with 1, left and right are the same fork)")
        self.n = n
        self.eat_time = eat_time
        self.choke_at = choke_at  #: eat() raises Choked on this meal (1 = the first) of every philosopher
        self.force = force
        self.jitter = jitter
        self._random = random.Random(seed)
        self.forks = [Fork(self, i) for i in range(n)]
        self.cancelled = threading.Event()
        self.held: dict[int, list[int]] = {}  #: philosopher -> numbers of the forks it holds
        self.waiting: dict[int, int] = {}  #: philosopher -> number of the fork it waits for
        self.meals = Counter()  #: philosopher -> meals eaten
        self.eating: set[int] = set()
        self.most_eating = 0  #: the most philosophers seen eating at the same time
        self.problems: list[str] = []  #: rules broken while eating
        self.seated: set[int] = set()  #: philosophers still at the table (their function has not returned)
        self._idents: dict[int, int] = {}  #: thread ident -> philosopher
        self._forcing_failed = False
        self._state = threading.Lock()

    def left(self, i: int) -> Fork:
        return self.forks[i % self.n]

    def right(self, i: int) -> Fork:
        return self.forks[(i + 1) % self.n]

    def who(self) -> int:
        """The philosopher running in the current thread (-1 for a thread that is not one)."""
        return self._idents.get(threading.get_ident(), -1)

    def eat(self, i: int) -> None:
        """Philosopher ``i`` eats one meal: it must hold both its forks."""
        me = self.who()
        if me != i:
            self._problem(f"philosopher {me} called eat({i}): each philosopher eats for itself")
        if self.choke_at is not None and self.meals[i] + 1 == self.choke_at:
            raise Choked(f"philosopher {i} choked on meal {self.choke_at}")
        for fork in (self.left(i), self.right(i)):
            if fork.holder != i:
                self._problem(f"philosopher {i} ate without holding fork {fork.number} "
                              f"({'free' if fork.holder is None else f'held by philosopher {fork.holder}'})")
        with self._state:
            next_to_neighbour = (i - 1) % self.n in self.eating or (i + 1) % self.n in self.eating
            self.eating.add(i)
            self.most_eating = max(self.most_eating, len(self.eating))
        if next_to_neighbour:
            self._problem(f"philosopher {i} ate at the same time as a neighbour")
        time.sleep(self.eat_time)
        with self._state:
            self.eating.discard(i)
            self.meals[i] += 1

    def _problem(self, text: str) -> None:
        with self._state:
            if text not in self.problems:
                self.problems.append(text)

    def _jitter(self) -> None:
        if self.jitter:
            time.sleep(self._random.random() * self.jitter)

    def _after_pick_up(self, me: int) -> None:
        """With ``force``: after picking up a first fork, wait until every philosopher at the table
        holds a fork or waits for one (the worst moment to reach for a second fork), at most 1 s."""
        if not self.force or self._forcing_failed or len(self.held.get(me, ())) != 1:
            return
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self.cancelled.is_set():
            if all(self.held.get(p) or p in self.waiting for p in list(self.seated) if p != me):
                return
            time.sleep(0.001)
        # the others wait for something else (a lock of the philosophers' own): stop forcing, or
        # every meal would cost this second
        self._forcing_failed = True

    def wait_for_graph(self) -> dict[int, int]:
        """{philosopher: the philosopher holding the fork it waits for}."""
        graph = {}
        for p, number in list(self.waiting.items()):
            holder = self.forks[number].holder
            if holder is not None and holder != p:
                graph[p] = holder
        return graph

    def state(self) -> tuple:
        return tuple(sorted((p, tuple(f)) for p, f in self.held.items())), tuple(sorted(self.waiting.items()))


@dataclass
class Dinner:
    """What happened at one dinner."""

    n: int
    meals_each: int
    meals: dict[int, int]
    deadlocked: bool = False
    cycle: list[int] = field(default_factory=list)  #: philosophers in the wait-for cycle, in order
    holding: dict[int, list[int]] = field(default_factory=dict)  #: at the deadlock: who held which forks
    waiting: dict[int, int] = field(default_factory=dict)  #: at the deadlock: who waited for which fork
    errors: list[str] = field(default_factory=list)  #: exceptions raised by philosophers
    problems: list[str] = field(default_factory=list)  #: rules broken while eating
    still_running: list[int] = field(default_factory=list)  #: philosophers that never returned
    forks_left_held: list[int] = field(default_factory=list)  #: forks still held after the dinner
    most_eating: int = 0
    seconds: float = 0.0
    seated: list[int] = field(default_factory=list)  #: the philosophers who sat down (default: all)

    @property
    def everyone_ate(self) -> bool:
        return all(self.meals.get(i, 0) == self.meals_each for i in (self.seated or range(self.n)))

    @property
    def ok(self) -> bool:
        return (self.everyone_ate and not self.deadlocked and not self.errors and not self.problems
                and not self.still_running and not self.forks_left_held)

    def describe_deadlock(self) -> list[str]:
        lines = []
        for p in self.cycle:
            fork = self.waiting[p]
            holds = ", ".join(f"fork {f}" for f in self.holding.get(p, [])) or "no fork"
            lines.append(f"philosopher {p} holds {holds} and waits for fork {fork}, "
                         f"held by philosopher {(self.cycle + self.cycle)[self.cycle.index(p) + 1]}")
        return lines

    def report(self) -> str:
        if self.deadlocked:
            return "\n".join([f"DEADLOCK: {len(self.cycle)} philosophers wait for each other in a circle:",
                              *("  " + line for line in self.describe_deadlock()),
                              "the dinner was called off: each waiting philosopher left the table"])
        lines = [f"{len(self.seated or range(self.n))} philosophers, meals eaten: "
                 f"{[self.meals.get(i, 0) for i in (self.seated or range(self.n))]} "
                 f"(each should eat {self.meals_each})"]
        lines += [f"error: {e}" for e in self.errors[:3]] + [f"rule broken: {p}" for p in self.problems[:3]]
        if self.still_running:
            lines.append(f"still running after the time limit, not waiting for a fork: philosophers {self.still_running}")
        if self.forks_left_held:
            lines.append(f"forks never put down: {self.forks_left_held}")
        return "\n".join(lines)

    def explain(self) -> str:
        """One line for an AssertionError: what went wrong, most important first."""
        if self.deadlocked:
            return "deadlock: " + "; ".join(self.describe_deadlock())
        if self.errors:
            return f"a philosopher raised {self.errors[0]}"
        if self.problems:
            return self.problems[0]
        if self.still_running:
            return f"philosophers {self.still_running} were still running (not waiting for a fork) at the time limit"
        if not self.everyone_ate:
            eaten = [self.meals.get(i, 0) for i in (self.seated or range(self.n))]
            return f"meals eaten {eaten}, expected {self.meals_each} each"
        if self.forks_left_held:
            return f"forks {self.forks_left_held} were never put down"
        return "all went well"


def run_dinner(philosopher, n: int = 5, meals: int = 3, *, force: bool = False, jitter: float = 0.0,
               eat_time: float = 0.001, seated=None, timeout: float = 5.0, stuck_after: float = 0.3,
               seed: int | None = None, choke_at: int | None = None) -> Dinner:
    """Seat ``n`` philosophers, each a thread running ``philosopher(table, i, meals)``; return what happened.

    A deadlock (a cycle of philosophers each waiting for a fork the next one holds, unchanged for
    ``stuck_after`` seconds) is detected, recorded, and ended by calling the dinner off. Nothing
    runs longer than ``timeout`` seconds (plus a moment to clean up). A philosopher that raises
    ``NotImplementedError`` (the blank exercise) makes this raise it too, after the cleanup.
    With ``choke_at=k`` every philosopher's k-th ``eat`` raises :class:`Choked` (it then eats k - 1
    meals): the forks it held must be put down all the same (``forks_left_held``).
    """
    table = Table(n, eat_time=eat_time, force=force, jitter=jitter, seed=seed, choke_at=choke_at)
    who = list(range(n)) if seated is None else list(seated)
    errors: list[str] = []
    blank: list[int] = []
    started = threading.Barrier(len(who) + 1)

    def seat(i):
        table._idents[threading.get_ident()] = i
        try:
            started.wait(5)
            philosopher(table, i, meals)
        except (DinnerCancelled, Choked):
            pass
        except NotImplementedError:  # the blank exercise: reported as "not attempted" by the checks
            blank.append(i)
        except BaseException as exc:  # reported, not raised in a thread nobody watches
            errors.append(f"{type(exc).__name__}: {exc} (philosopher {i})")
        finally:
            table.seated.discard(i)

    table.seated.update(who)
    threads = [threading.Thread(target=seat, args=(i,), name=f"philosopher {i}", daemon=True) for i in who]
    for t in threads:
        t.start()
    start = time.perf_counter()
    started.wait(5)
    result = Dinner(n, meals if choke_at is None else min(meals, choke_at - 1), {}, seated=who)
    last_state, since = None, time.monotonic()
    deadline = time.monotonic() + timeout
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
        cycle = find_cycle(table.wait_for_graph())
        state = table.state()
        if cycle is None or state != last_state:
            last_state, since = state, time.monotonic()
            continue
        if time.monotonic() - since >= stuck_after:
            result.deadlocked = True
            result.cycle = cycle
            result.holding = {p: list(f) for p, f in table.held.items() if f}
            result.waiting = dict(table.waiting)
            break
    table.cancelled.set()  # anyone still waiting for a fork leaves the table
    for t in threads:
        t.join(max(0.5, 2 * 0.02 * n))
    result.seconds = time.perf_counter() - start
    result.still_running = sorted(int(t.name.split()[-1]) for t in threads if t.is_alive())
    result.meals = dict(table.meals)
    result.errors = errors
    result.problems = list(table.problems)
    result.most_eating = table.most_eating
    result.forks_left_held = [f.number for f in table.forks if f.locked()] if not result.still_running else []
    if blank:
        raise NotImplementedError(f"philosopher {blank[0]} raised NotImplementedError: the exercise is not written yet")
    return result


def dinners(philosopher, runs: int, **options) -> list[Dinner]:
    """``runs`` dinners in a row (each with its own random seed for the jitter)."""
    return [run_dinner(philosopher, seed=k, **options) for k in range(runs)]


# --- the scanner referee ---------------------------------------------------------------------


@dataclass
class SeedScan:
    """What the tutorial's scanner did: the ports it scanned, the open ones it found, the wakeups it lost."""

    scanned: list = field(default_factory=list)
    found: list = field(default_factory=list)
    lost_wakeups: int = 0


def forced_seed_scan(ports, max_threads: int = 1, wait_timeout: float = 0.05) -> SeedScan:
    """The 2009 tutorial's port scanner (lesson 06, section 4), with its lost wakeup forced at every wait.

    Its main loop, at the thread limit, releases the lock and waits on an Event that each ending
    scanner pulses with ``set(); clear()``. Here every running scanner ends exactly in the gap between
    that release and the ``wait()``, so every pulse happens while nobody waits and is lost; the
    ``wait()`` has a timeout (the original had none and would hang), and the loop goes on to the next
    port, so the port it was about to scan is skipped. With one thread: every second port.
    """
    result = SeedScan()
    lock, event, hold = threading.Lock(), threading.Event(), threading.Event()
    running, started = [], []

    def scan_one(port):
        if real_probe(port):
            result.found.append(port)
        result.scanned.append(port)
        hold.wait(5)  # end only when the main loop is in the gap
        with lock:
            running.remove(threading.current_thread())
            if len(running) == max_threads - 1:
                event.set()
                event.clear()

    for port in ports:
        lock.acquire()
        if len(running) >= max_threads:
            lock.release()
            ending = list(running)  # the gap: let every running scanner end (and pulse) now
            hold.set()
            for t in ending:
                t.join(5)
            hold.clear()
            if not event.wait(wait_timeout):
                result.lost_wakeups += 1
        else:
            t = threading.Thread(target=scan_one, args=(port,), name=f"seed scanner {port}")
            running.append(t)
            started.append(t)
            lock.release()
            t.start()
    hold.set()
    for t in started:
        t.join(5)
    return result


class ScanReferee:
    """A ``probe(port)`` that records every call: which ports, how often, how many at once, which threads.

    ``latency`` is the simulated round trip of each probe; ``jitter`` adds up to that many seconds
    at random, so scanners finish in a different order every run. A probe of a port in ``fail``
    raises ``OSError`` (after its latency), as a probe of an unreachable host does.

    ``most_alive`` is the most scanner threads holding a place at once: probes running plus threads
    started since the scan began that have not yet called the probe. A scanner that takes its permit
    before starting a thread never has more than the limit; one that starts every thread at once and
    lets it wait for a permit inside has them all alive.
    """

    def __init__(self, latency: float = 0.01, jitter: float = 0.0, seed: int | None = None, fail=()):
        self.fail = set(fail)
        self.before: set[threading.Thread] = set()
        self.most_alive = 0
        self.latency = latency
        self.jitter = jitter
        self._random = random.Random(seed)
        self.calls = Counter()
        self.active = 0
        self.most_active = 0
        self.threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def __call__(self, port: int) -> bool:
        with self._lock:
            self.calls[port] += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.threads.add(threading.current_thread())
            waiting = sum(1 for t in threading.enumerate() if t not in self.before and t not in self.threads)
            self.most_alive = max(self.most_alive, self.active + waiting)
            extra = self._random.random() * self.jitter if self.jitter else 0.0
        try:
            is_open = real_probe(port, latency=self.latency + extra)
            if port in self.fail:
                raise OSError(f"probe of port {port} failed: host unreachable (the check made it fail)")
            return is_open
        finally:
            with self._lock:
                self.active -= 1

    def problems(self, ports) -> list[str]:
        """What went wrong with the probing of ``ports`` (an empty list when each was probed exactly once)."""
        found = []
        never = [p for p in ports if self.calls[p] == 0]
        twice = [p for p in ports if self.calls[p] > 1]
        strangers = [p for p in self.calls if p not in set(ports)]
        if never:
            found.append(f"{len(never)} of {len(ports)} ports were never probed")
        if twice:
            found.append(f"{len(twice)} ports were probed more than once")
        if strangers:
            found.append(f"ports that were not asked for were probed: {strangers[:3]}")
        return found


@dataclass
class Scan:
    """One run of a learner's scanner against a referee."""

    found: object
    expected: list[int]
    problems: list[str]
    most_active: int
    threads_used: int
    left_running: int
    seconds: float
    most_alive: int = 0  #: the most scanner threads alive at once (probing, or started and not yet probing)
    permits_taken: int = 0  #: permits of the scan's semaphores not given back when scan_ports returned
    permits: int = 0  #: permits of the scan's semaphores (0: it made none)
    hung: bool = False  #: scan_ports had not returned after ``limit`` seconds
    limit: float = 0.0


class _Semaphores:
    """While active, every ``threading.Semaphore``/``BoundedSemaphore`` made is recorded with its permits."""

    def __init__(self):
        self.made: list = []

    def __enter__(self):
        made = self.made
        plain, bounded = threading.Semaphore, threading.BoundedSemaphore

        class Semaphore(plain):
            def __init__(self, value=1):
                plain.__init__(self, value)  # BoundedSemaphore.__init__ calls this one too (the module's name)
                if not isinstance(self, bounded):
                    made.append((self, value))

        class BoundedSemaphore(bounded):
            def __init__(self, value=1):
                bounded.__init__(self, value)
                made.append((self, value))

        self._old = threading.Semaphore, threading.BoundedSemaphore
        threading.Semaphore, threading.BoundedSemaphore = Semaphore, BoundedSemaphore
        return self

    def __exit__(self, *exc):
        threading.Semaphore, threading.BoundedSemaphore = self._old

    def taken(self) -> int:
        return sum(max(0, value - sem._value) for sem, value in self.made)

    def give_back(self) -> None:
        for sem, value in self.made:
            if sem._value < value:
                try:
                    sem.release()
                except ValueError:  # a BoundedSemaphore already full
                    pass


def _slowed_tracer(delay: float):
    """A trace function that sleeps ``delay`` seconds before each line of code outside the libraries."""
    import sysconfig

    libraries = tuple({p for key in ("stdlib", "platstdlib", "purelib", "platlib")
                       if (p := sysconfig.get_paths().get(key))} | {str(Path(__file__).resolve().parent.parent)})

    def local(frame, event, arg):
        if event == "line":
            time.sleep(delay)
        return local

    verdicts: dict = {}

    def on_call(frame, event, arg):
        code = frame.f_code
        library = verdicts.get(code)
        if library is None:
            name = code.co_filename
            library = verdicts[code] = name.startswith("<frozen") or (
                name[:1] != "<" and str(Path(name).resolve()).startswith(libraries))
        return None if library else local

    return on_call


def run_scan(scan_ports, targets, max_threads: int, latency: float = 0.01, jitter: float = 0.0,
             seed: int | None = None, ports=None, slow_main: float = 0.0, fail=(),
             limit: float = 2.5) -> Scan:
    """Run ``scan_ports(ports, max_threads, probe)`` with a referee as ``probe``; return what it saw.

    ``slow_main`` > 0 makes the thread that calls ``scan_ports`` sleep that long before each line
    of the learner's code (the scanner threads run at full speed). Probes then finish *between*
    two lines of the main loop, e.g. between "release the lock" and "wait for the Event": the
    window in which the seed's Event pulse is lost, hit in most runs instead of almost never.

    The probes of the ports in ``fail`` raise ``OSError``. ``scan_ports`` runs in a thread of its
    own; if it has not returned after ``limit`` seconds the scan is ``hung``: the permits its
    semaphores still miss are given back until it ends, so no thread is left stuck. The semaphores
    it made are counted when it returns: ``permits_taken`` must be 0.
    """
    ports = list(targets.ports if ports is None else ports)
    referee = ScanReferee(latency, jitter, seed, fail)
    box: dict = {}

    def scan():
        referee.before = set(threading.enumerate())
        box["before"] = referee.before
        old_trace = sys.gettrace()
        if slow_main > 0:
            sys.settrace(_slowed_tracer(slow_main))
        start = time.perf_counter()
        try:
            box["found"] = scan_ports(list(ports), max_threads, referee)
        except BaseException as exc:  # raised again in the caller
            box["error"] = exc
        finally:
            if slow_main > 0:
                sys.settrace(old_trace)
            box["seconds"] = time.perf_counter() - start
            box["taken"] = semaphores.taken()
            box["left"] = [t for t in threading.enumerate()
                           if t not in box["before"] and t.is_alive() and t in referee.threads]

    with _Semaphores() as semaphores:
        runner = threading.Thread(target=scan, name="scan_ports", daemon=True)
        runner.start()
        runner.join(limit)
    hung = runner.is_alive()
    taken_at_limit = semaphores.taken()
    deadline = time.monotonic() + 5
    while runner.is_alive() and time.monotonic() < deadline:
        semaphores.give_back()
        runner.join(0.01)
    if "error" in box and not hung:
        raise box["error"]
    expected = sorted(p for p in targets.open_ports if p in set(ports) and p not in referee.fail)
    return Scan(box.get("found"), expected, referee.problems(ports), referee.most_active,
                len(referee.threads), len(box.get("left", ())), box.get("seconds", 0.0), referee.most_alive,
                taken_at_limit if hung else box.get("taken", 0), sum(value for _, value in semaphores.made), hung, limit)


# --- every schedule of a small dinner, with the explorer --------------------------------------
#
# The forced and random dinners above make a deadlock likely; the explorer makes it certain. It
# runs the learner's own philosopher (copied by threadlab.checks.interleavings.explorable) at a
# table whose forks are explorer locks, and tries every schedule of three philosophers with up to
# two switches at the forks (mode "sync": a philosopher's threads share nothing but the forks, so
# the moments that matter are the fork operations).

DINNER_SEARCH = (("sync", 2),)


class ExploredFork:
    """A fork for the explorer: an explorer lock with a ``number``."""

    def __new__(cls, number: int):
        from threadlab.explorer import Lock

        class Fork(Lock):
            def __repr__(self):
                return f"fork {self.number} ({self.describe()})"

        fork = Fork(f"fork {number}")
        fork.number = number
        return fork


class ExploredTable:
    """``n`` seats, fork ``i`` between philosopher ``i`` and ``i + 1``; ``eat(i)`` notes who eats
    (and any rule broken) and is a point where the explorer may let another thread run."""

    def __init__(self, n: int):
        self.n = n
        self.forks = [ExploredFork(i) for i in range(n)]
        self.meals = [0] * n
        self.eating: list[int] = []
        self.both_ate_at_once = False
        self.problems: list[str] = []

    def left(self, i: int):
        return self.forks[i % self.n]

    def right(self, i: int):
        return self.forks[(i + 1) % self.n]

    def eat(self, i: int) -> None:
        from threadlab.explorer import explored_thread, pause

        for fork in (self.left(i), self.right(i)):
            if fork.owner != explored_thread():
                self.problems.append(f"philosopher {i} ate without holding fork {fork.number}")
        self.eating.append(i)
        self.both_ate_at_once |= len(self.eating) > 1
        pause()  # eating takes a while: another philosopher may move meanwhile
        self.eating.remove(i)
        self.meals[i] += 1

    def __repr__(self):
        forks = ", ".join(f"{f.number}: {'free' if f.owner is None else f'philosopher {f.owner}'}" for f in self.forks)
        return f"meals {self.meals}, forks {{{forks}}}"


def _dinner(philosopher, seats: int, seated, trace, name: str, final=None, invariant=None):
    from threadlab.explorer import Program, State

    def dine(s, i):
        philosopher(s.table, i, 1)

    def everyone_ate(s):
        if s.table.problems:
            raise AssertionError(s.table.problems[0])
        held = [f.number for f in s.table.forks if f.owner is not None]
        if held:
            raise AssertionError(f"forks {held} were never put down")
        hungry = [i for i in seated if s.table.meals[i] != 1]
        if hungry:
            raise AssertionError(f"meals eaten {s.table.meals}: each philosopher should eat once")

    threads = [(dine, i) for i in seated]
    return Program(*threads, setup=lambda: State(table=ExploredTable(seats)), final=final or everyone_ate,
                   invariant=invariant, trace=trace, name=name, mode="sync")


def explore_dinner(philosopher, deadlocks: bool = False):
    """Three philosophers, one meal each, every schedule with up to two switches at the forks.

    ``deadlocks=False`` (a safe philosopher): no schedule may deadlock, every philosopher eats once
    holding both forks and puts them down; and with 4 seats, philosophers 0 and 2 (not neighbours)
    must eat at the same time in some schedule, or the answer is serial. ``deadlocks=True`` (the
    obvious philosopher of exercise 1): some schedule must deadlock; its table is printed."""
    from threadlab.checks.interleavings import explorable, prove, schedule_table, traced_functions

    copy = explorable(philosopher)
    trace = traced_functions(copy)
    dinner = _dinner(copy, 3, (0, 1, 2), trace, "three philosophers, one meal each")
    plain = dinner.replay("", finish=True)
    if "NotImplementedError" in plain.outcome.message:
        raise NotImplementedError
    if deadlocks:
        if plain.outcome.kind == "failed":
            raise AssertionError(f"three philosophers, one meal each, one after the other: {plain.outcome.message}")
        for mode, bound in DINNER_SEARCH:
            found = _in_mode(dinner, mode).search(bound=bound)
            if found.found and found.outcome.kind == "deadlock":
                print(f"  the explorer found this deadlock after {found.runs} schedules: {found.outcome.message}")
                print(schedule_table(_in_mode(dinner, mode), found.schedule))
                return found
        raise AssertionError("no schedule of three philosophers deadlocks"
                             + (f" ({found.outcome})" if found.found else "")
                             + ". Hint: pick up table.left(i) first, then table.right(i)")
    prove(dinner, "take the two forks in one global order (the lower-numbered fork first), each in a `with` block",
          searches=DINNER_SEARCH)

    def never_together(s):
        return not s.table.both_ate_at_once

    apart = _dinner(copy, 4, (0, 2), trace, "philosophers 0 and 2 of 4", invariant=never_together,
                    final=lambda s: True)
    together = _in_mode(apart, "sync").search(bound=2)
    if not together.found:
        raise AssertionError("philosophers 0 and 2 of 4 share no fork, yet in no schedule did they eat at the same "
                             "time: a lock around the whole table is safe but serial. Hint: lock the two forks, "
                             "nothing more")


def _in_mode(program, mode):
    from threadlab.checks.interleavings import _in_mode as in_mode

    return in_mode(program, mode)


# --- every schedule of a small scan, with the explorer ----------------------------------------
#
# The referee above runs the learner's scanner on real sockets and samples schedules; the explorer
# tries them all for three ports. The learner's scan_ports (copied by explorable, so its threads,
# semaphores and locks are the explorer's) is the one body of a program; the scanner threads it
# starts become threads of the run. Mode "sync": the scanners share nothing but the primitives and
# the probe, so the moments that matter are the primitives' operations and the middle of a probe.

#: (mode, preemption bound) of the two programs: max_threads=1 with up to two switches (27 schedules
#: of the reference, 0.06 s), max_threads=2 with one (103 schedules, 0.17 s; two switches would be 790
#: schedules and 1.3 s, and every mistake of the mutation suite is caught without them)
SCAN_SEARCH = {1: (("sync", 2),), 2: (("sync", 1),)}


class ExploredProbe:
    """Probes for the explorer: ``probe(port)`` is plain Python (not stepped through) that counts the
    probes in progress, lets another thread run in the middle of each probe
    (:func:`~threadlab.explorer.pause`), returns whether the port is open and raises ``OSError`` for
    the ports in ``fail``. Shown among the shared values as the probes in progress and those done."""

    def __init__(self, open_ports, fail=()):
        self.open = set(open_ports)
        self.fail = set(fail)
        self.calls: Counter = Counter()
        self.active = 0
        self.most_active = 0
        self.callers: set[int] = set()  # the explored threads that called it
        self.in_progress: list[int] = []
        self.alive_at_return: list[int] = []  # set by the program: started threads alive when scan_ports returned
        self.done: dict[int, str] = {}  # port: open, closed or OSError, in the order they ended

    def probe(self, port: int) -> bool:
        from threadlab.explorer import explored_thread, pause

        self.callers.add(explored_thread())
        self.calls[port] += 1
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        self.in_progress.append(port)
        outcome = "OSError"
        try:
            pause()  # a probe takes a while: other threads may run meanwhile
            if port in self.fail:
                raise OSError(f"probe of port {port} failed: host unreachable (the check made it fail)")
            outcome = "open" if port in self.open else "closed"
            return port in self.open
        finally:
            self.active -= 1
            self.in_progress.remove(port)
            self.done[port] = outcome

    def __repr__(self):
        done = ", ".join(f"{port}: {outcome}" for port, outcome in self.done.items())
        return f"in progress {self.in_progress}, done {{{done}}}"


def _scan_program(scan_ports, ports, max_threads: int, open_ports, fail, trace, name: str, invariant=None,
                  final=None):
    from threadlab.explorer import Program, Semaphore, State, current_run

    expected = sorted(p for p in ports if p in set(open_ports) and p not in set(fail))

    def setup():
        return State(probes=ExploredProbe(open_ports, fail), returned="nothing yet")

    def scan(s):
        s.returned = scan_ports(list(ports), max_threads, s.probes.probe)
        s.probes.alive_at_return = current_run().started_alive()

    def within_limit(s):
        if s.probes.active > max_threads:
            raise AssertionError(f"{s.probes.active} probes in progress at once, the limit is max_threads={max_threads}")
        waiting = [i for i in current_run().started_alive() if i not in s.probes.callers]
        if s.probes.active + len(waiting) > max_threads:
            raise AssertionError(f"{s.probes.active} probe(s) in progress and scanner thread(s) {waiting} started, not "
                                 f"probing yet: more scanners alive than max_threads={max_threads}. Each scanner must "
                                 "hold a permit from before it starts until its probe is done")

    def scanned(s):
        if s.probes.alive_at_return:
            raise AssertionError(f"scanner thread(s) {s.probes.alive_at_return} were still running when scan_ports returned: "
                                 "join every scanner thread before you return")
        never = [p for p in ports if s.probes.calls[p] == 0]
        twice = [p for p in ports if s.probes.calls[p] > 1]
        if never or twice:
            raise AssertionError(f"ports {never} were never probed" if never else f"ports {twice} were probed more "
                                 "than once")
        if s.returned != expected:
            raise AssertionError(f"scan_ports returned {s.returned!r}, expected the sorted open ports {expected}")
        missing = sum(max(0, sem.initial - sem.value) for sem in current_run().created if isinstance(sem, Semaphore))
        if missing:
            raise AssertionError(f"{missing} permit(s) of your semaphore were never given back after every scanner "
                                 "ended: release the permit in the scanner's `finally:`")

    return Program(scan, setup=setup, invariant=invariant or within_limit, final=final or scanned, trace=trace,
                   name=name, mode="sync", max_steps=300)


def explore_scan(scan_ports):
    """Every schedule of ``scan_ports`` on three ports (up to two switches at the primitives and in
    the middle of the probes with ``max_threads=1``, one with 2), with a probe that raises ``OSError``
    for one of them.

    ``scan_ports([3, 1, 2], 1, probe)`` (port 1 fails) and ``scan_ports([1, 2, 3], 2, probe)`` (port 2
    fails): never more probes in progress than ``max_threads``; scan_ports returns the sorted open
    ports, every port probed once, no scanner thread still running and every permit given back. A
    probe that raises must not leave the scan stuck: a schedule in which every thread waits is a
    deadlock, shown as a table. And with ``max_threads=2``, some schedule must have two probes in
    progress at once, or the scanners run one after the other."""
    from threadlab.checks.interleavings import explorable, prove, traced_functions

    copy = explorable(scan_ports)
    trace = traced_functions(copy)
    hint = ("take a permit (slots.acquire()) before you start each scanner thread, give it back in the scanner's "
            "`finally:` (a probe may raise), and join every scanner before you return sorted(found)")
    one = _scan_program(copy, (3, 1, 2), 1, {2, 3}, {1}, trace,
                        "scan_ports([3, 1, 2], max_threads=1): port 1's probe raises OSError")
    two = _scan_program(copy, (1, 2, 3), 2, {1, 3}, {2}, trace,
                        "scan_ports([1, 2, 3], max_threads=2): port 2's probe raises OSError")
    prove(one, hint, searches=SCAN_SEARCH[1])
    prove(two, hint, searches=SCAN_SEARCH[2])

    def one_at_a_time(s):
        return s.probes.active < 2

    overlap = _scan_program(copy, (1, 2, 3), 2, {1, 3}, (), trace, "scan_ports([1, 2, 3], max_threads=2)",
                            invariant=one_at_a_time, final=lambda s: True)
    mode, bound = SCAN_SEARCH[2][0]
    together = _in_mode(overlap, mode).search(bound=bound)
    if not together.found:
        raise AssertionError("scan_ports([1, 2, 3], max_threads=2): in no schedule were two probes in progress at "
                             "once: the scanners run one after the other. Hint: start every scanner first, then "
                             "join them all (a join right after each start waits for that scanner to end)")
