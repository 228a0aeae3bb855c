"""Lesson 06: condition variables, Event, Semaphore, Timer, Barrier, and the seeds' port scanner.

Everything that blocks takes a timeout, so a demo that goes wrong reports it instead of hanging.
The port scanner only ever connects to sockets this module opens itself on 127.0.0.1.
"""

from __future__ import annotations

import inspect
import math
import socket
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field

from threadlab.checks import check, expect_equal, threads_left
from threadlab.plotting import new_figure

HOST = "127.0.0.1"
LATENCY = 0.02  #: simulated network round trip added to every probe (loopback answers in microseconds)


def show_source(obj) -> None:
    """Print the source of a function or class of this module (what the notebook explains)."""
    print(inspect.getsource(obj).rstrip())


# --- 1. producer / consumer on a Condition ---------------------------------------------------


class BoundedBuffer:
    """A FIFO buffer of at most ``capacity`` items, safe for many producers and consumers.

    One lock, two conditions on it: producers wait for "not full", consumers for "not empty".
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items = deque()
        lock = threading.Lock()
        self.not_full = threading.Condition(lock)
        self.not_empty = threading.Condition(lock)

    def put(self, item, timeout: float = 5.0) -> None:
        with self.not_full:
            if not self.not_full.wait_for(lambda: len(self.items) < self.capacity, timeout):
                raise TimeoutError("buffer stayed full")
            self.items.append(item)
            self.not_empty.notify()  # one item: wake one consumer

    def get(self, timeout: float = 5.0):
        with self.not_empty:
            while not self.items:  # `while`, not `if`: see section 2
                if not self.not_empty.wait(timeout):
                    raise TimeoutError("buffer stayed empty")
            item = self.items.popleft()
            self.not_full.notify()  # one free slot: wake one producer
            return item


DONE = None  #: the sentinel a consumer stops at


def producer_consumer(items: int = 1000, producers: int = 2, consumers: int = 3, capacity: int = 8):
    """Run producers and consumers over a BoundedBuffer; return {consumer name: items it got}.

    Producer p puts the items p, p + producers, p + 2*producers, ... (so together 0..items-1);
    after all producers finished, the main thread puts one DONE sentinel per consumer.
    """
    buffer = BoundedBuffer(capacity)
    got = {f"consumer-{c}": [] for c in range(consumers)}

    def produce(p):
        for item in range(p, items, producers):
            buffer.put(item)

    def consume(name):
        while (item := buffer.get()) is not DONE:
            got[name].append(item)

    prod = [threading.Thread(target=produce, args=(p,), name=f"producer-{p}") for p in range(producers)]
    cons = [threading.Thread(target=consume, args=(name,), name=name) for name in got]
    for t in prod + cons:
        t.start()
    for t in prod:
        t.join(10)
    for _ in cons:
        buffer.put(DONE)
    for t in cons:
        t.join(10)
    if any(t.is_alive() for t in prod + cons):
        raise RuntimeError("a producer or consumer did not finish within 10 s")
    return got


def consumed_exactly_once(got: dict, items: int) -> bool:
    """True when the consumers together got every item 0..items-1 exactly once."""
    counts = Counter(x for lst in got.values() for x in lst)
    return sorted(counts) == list(range(items)) and set(counts.values()) == {1}


# --- 2. notify vs notify_all, and why `while` around wait() -------------------------------------


def wake_waiting_consumers(use_while: bool, notify_all: bool, consumers: int = 2, timeout: float = 0.3):
    """``consumers`` threads wait for an item; one item is put and the waiters are notified.

    Each consumer reports what happened to it: "got item", "still waiting" (its wait timed out:
    it correctly found nothing) or the exception it died of. The main thread waits until every
    consumer is really inside ``wait()`` before it puts the item, so the outcome does not depend
    on luck: with ``notify_all`` every consumer wakes up, and only one of them can have the item.
    """
    cond = threading.Condition()
    buf: list = []
    waiting = [0]
    outcome = {}

    def consume(name):
        try:
            with cond:
                waiting[0] += 1  # still holding the lock: main cannot notify before wait() below
                if use_while:
                    if not cond.wait_for(lambda: buf, timeout):
                        outcome[name] = "still waiting"
                        return
                else:
                    cond.wait(timeout)  # `if buf is empty: wait()` - checked only once
                outcome[name] = f"got {buf.pop()}"
        except Exception as exc:
            outcome[name] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=consume, args=(f"consumer-{i}",)) for i in range(consumers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # wait until every consumer is inside wait()
        with cond:
            if waiting[0] == consumers:
                buf.append("item")
                cond.notify_all() if notify_all else cond.notify()
                break
        time.sleep(0.001)
    for t in threads:
        t.join(timeout + 5)
    return sorted(outcome.values())


# --- 3. the port scanner: targets the notebook opens itself -------------------------------------


@dataclass
class Targets:
    """Listening sockets (open ports) and bound-but-not-listening sockets (closed ports)."""

    open_ports: list
    closed_ports: list
    sockets: list = field(default_factory=list, repr=False)

    @property
    def ports(self) -> list:
        """Every port to scan, in ascending order."""
        return sorted(self.open_ports + self.closed_ports)

    def close(self):
        for s in self.sockets:
            s.close()
        self.sockets.clear()


@contextmanager
def scan_targets(n_open: int = 8, n_closed: int = 24):
    """Open ``n_open`` listening ports and reserve ``n_closed`` closed ones on 127.0.0.1.

    The OS picks every port (bind to port 0). A closed port is a socket bound but not listening:
    a connection to it is refused, and no other program can take the port while we hold it.
    """
    targets = Targets([], [])
    try:
        for i in range(n_open + n_closed):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            targets.sockets.append(s)
            s.bind((HOST, 0))
            if i < n_open:
                s.listen(16)
                targets.open_ports.append(s.getsockname()[1])
            else:
                targets.closed_ports.append(s.getsockname()[1])
        targets.open_ports.sort()
        targets.closed_ports.sort()
        yield targets
    finally:
        targets.close()


def probe(port: int, host: str = HOST, latency: float = LATENCY, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port (after a simulated round trip)."""
    time.sleep(latency)  # a remote host would answer after a round trip; loopback does not
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


class SeedScanner:
    """The 2009 tutorial's port scanner, in Python 3 but with its design (and its bugs) intact.

    Main thread: for each port, under the lock, if ``max_threads`` scanners are running it
    releases the lock and waits on an Event; else it starts a scanner for the port. A scanner
    that ends removes itself from the list and, if the list just dropped below the limit,
    pulses the Event: ``set()`` then ``clear()``.

    Two test hooks let a notebook force an interleaving instead of hoping for it:
    ``hold`` (an Event) keeps each scanner from finishing until it is set; ``before_wait(scanner)``
    is called by the main thread after it decided to wait and released the lock, before ``wait()``.
    The Event wait has a timeout (the original had none and would hang for ever).
    """

    def __init__(self, host=HOST, max_threads=4, latency=LATENCY, wait_timeout=0.5, before_wait=None):
        self.host, self.max_threads, self.latency = host, max_threads, latency
        self.wait_timeout = wait_timeout
        self.before_wait = before_wait
        self.hold = None  # an Event: when given, scanners wait on it before they finish
        self.tlist: list = []  # the running scanner threads
        self.all_threads: list = []
        self.evnt = threading.Event()
        self.lck = threading.Lock()
        self.open_ports: list = []
        self.scanned: list = []
        self.lost_wakeups = 0

    def _scan_one(self, port):
        if probe(port, self.host, self.latency):
            self.open_ports.append(port)
        self.scanned.append(port)
        if self.hold is not None:
            self.hold.wait(5)
        with self.lck:  # the thread is about to exit: remove it, signal if we were at the limit
            self.tlist.remove(threading.current_thread())
            if len(self.tlist) == self.max_threads - 1:
                self.evnt.set()
                self.evnt.clear()

    def _new_thread(self, port):
        with self.lck:
            t = threading.Thread(target=self._scan_one, args=(port,), name=f"scan-{port}")
            self.tlist.append(t)
            self.all_threads.append(t)
        t.start()

    def run(self, ports):
        for port in ports:
            self.lck.acquire()
            if len(self.tlist) >= self.max_threads:
                self.lck.release()  # too bad, need to wait until not at the thread limit
                if self.before_wait is not None:
                    self.before_wait(self)
                if not self.evnt.wait(self.wait_timeout):
                    self.lost_wakeups += 1  # the original would block here for ever
                # ... and the loop goes on to the NEXT port: this one is never scanned
            else:
                self.lck.release()
                self._new_thread(port)
        if self.hold is not None:
            self.hold.set()  # let the last held scanners finish
        for t in self.all_threads:  # the original joined `tlist`, a list its threads shrink
            t.join(5)
        return sorted(self.open_ports)


def join_all(threads, timeout: float = 5.0) -> None:
    """Wait until every thread in ``threads`` has finished (a ``before_acquire`` hook for scan)."""
    for t in list(threads):
        t.join(timeout)


def release_and_wait_for_scanners(scanner: SeedScanner):
    """A ``before_wait`` hook forcing the bad interleaving: every running scanner finishes (and
    pulses the Event) after main released the lock but before it calls ``wait()``."""
    with scanner.lck:
        running = list(scanner.tlist)
    scanner.hold.set()
    for t in running:
        t.join(5)
    scanner.hold.clear()


def forced_seed_scan(ports, max_threads: int = 1, wait_timeout: float = 0.3) -> SeedScanner:
    """Run the seed's scanner with the lost-wakeup interleaving forced at every wait."""
    scanner = SeedScanner(max_threads=max_threads, wait_timeout=wait_timeout,
                          before_wait=release_and_wait_for_scanners)
    scanner.hold = threading.Event()
    scanner.run(ports)
    return scanner


@dataclass
class ScanResult:
    open_ports: list
    scanned: list
    max_threads: int
    max_running: int  #: the most scanner threads seen running at once
    elapsed: float


def scan(ports, max_threads: int = 4, host: str = HOST, latency: float = LATENCY,
         before_acquire=None) -> ScanResult:
    """The scanner fixed: a Semaphore holds one permit per running scanner.

    ``acquire()`` blocks while ``max_threads`` scanners run; a scanner's ``release()`` in
    ``finally`` is *counted* even when nobody is waiting yet, so no wakeup can be lost, and the
    loop only moves on to the next port after it started a scanner for this one.
    ``before_acquire(threads)``, if given, is called with the scanners started so far just before
    each acquire (a notebook uses it to force interleavings). A BoundedSemaphore, so that a
    release too many (a bug) raises ValueError instead of silently allowing an extra thread.
    """
    slots = threading.BoundedSemaphore(max_threads)
    lock = threading.Lock()
    running, most = [0], [0]
    found, scanned = [], []

    def scan_one(port):
        try:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            is_open = probe(port, host, latency)
            with lock:
                scanned.append(port)
                if is_open:
                    found.append(port)
                running[0] -= 1
        finally:
            slots.release()

    threads = []
    start = time.perf_counter()
    for port in ports:
        if before_acquire is not None:
            before_acquire(threads)
        if not slots.acquire(timeout=10):
            raise TimeoutError("no scanner finished within 10 s")
        t = threading.Thread(target=scan_one, args=(port,), name=f"scan-{port}")
        t.start()
        threads.append(t)
    for t in threads:
        t.join(10)
    elapsed = time.perf_counter() - start
    return ScanResult(sorted(found), sorted(scanned), max_threads, most[0], elapsed)


def scan_with_condition(ports, max_threads: int = 4, host: str = HOST, latency: float = LATENCY):
    """The same fix with a Condition: check and wait are one atomic step (``wait_for``)."""
    cond = threading.Condition()
    running = [0]
    found = []

    def scan_one(port):
        try:
            if probe(port, host, latency):
                with cond:
                    found.append(port)
        finally:
            with cond:
                running[0] -= 1
                cond.notify()

    threads = []
    for port in ports:
        with cond:
            if not cond.wait_for(lambda: running[0] < max_threads, timeout=10):
                raise TimeoutError("no scanner finished within 10 s")
            running[0] += 1
        t = threading.Thread(target=scan_one, args=(port,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(10)
    return sorted(found)


def lower_bound(n_ports: int, max_threads: int, latency: float = LATENCY) -> float:
    """No scan can be faster: at most ``max_threads`` probes of ``latency`` s at a time."""
    return math.ceil(n_ports / max_threads) * latency


class ScanHistory:
    """What the max-threads slider measured so far: {max_threads: best elapsed seconds}."""

    def __init__(self, ports, latency: float = LATENCY):
        self.ports = list(ports)
        self.latency = latency
        self.best: dict = {}
        self.last: ScanResult | None = None

    def run(self, max_threads: int) -> ScanResult:
        result = scan(self.ports, max_threads, latency=self.latency)
        self.best[max_threads] = min(result.elapsed, self.best.get(max_threads, math.inf))
        self.last = result
        return result

    def plot(self, result: ScanResult):
        fig, ax = new_figure()
        xs = sorted(self.best)
        grid = range(1, max(xs + [16]) + 1)
        ax.plot(grid, [lower_bound(len(self.ports), k, self.latency) for k in grid], "--",
                color="grey", label="lower bound: ceil(ports / threads) x latency")
        ax.plot(xs, [self.best[k] for k in xs], "o", label="measured (best so far)")
        ax.plot([result.max_threads], [result.elapsed], "o", color="tab:red", label="this run")
        ax.set(xlabel="max threads", ylabel="elapsed (s)", ylim=(0, None),
               title=f"scanning {len(self.ports)} ports, {self.latency * 1000:.0f} ms each")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        return fig

    @staticmethod
    def summary(result: ScanResult) -> str:
        return (f"max {result.max_threads} threads: {result.elapsed:.3f} s, {len(result.open_ports)} open "
                f"ports found, at most {result.max_running} scanners ran at once")


# --- 4. Semaphore, Timer, Barrier, lock-step -----------------------------------------------------


def max_concurrency(limit: int, tasks: int = 12, hold: float = 0.05) -> int:
    """Run ``tasks`` threads that each hold a Semaphore(limit) for ``hold`` s; the most inside at once."""
    sem = threading.Semaphore(limit)
    lock = threading.Lock()
    inside, most = [0], [0]

    def task():
        if not sem.acquire(timeout=10):
            return
        try:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(hold)
            with lock:
                inside[0] -= 1
        finally:
            sem.release()

    threads = [threading.Thread(target=task) for _ in range(tasks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return most[0]


def barrier_phases(parties: int = 3, phases: int = 3):
    """Each of ``parties`` threads does ``phases`` phases, meeting at a Barrier after each.

    Returns the log of (phase, thread) in the order the steps happened.
    """
    barrier = threading.Barrier(parties, timeout=5)
    log, lock = [], threading.Lock()

    def worker(i):
        for phase in range(phases):
            time.sleep(0.001 * ((i + phase) % parties))  # finish each phase at a different time
            with lock:
                log.append((phase, f"worker-{i}"))
            barrier.wait()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(parties)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return log


def ping_pong(rounds: int = 5, timeout: float = 2.0) -> list:
    """Two threads in lock-step with two semaphores: each waits for its turn, then gives the other one.

    ``ping_turn`` starts with one permit and ``pong_turn`` with none, so ping goes first.
    """
    ping_turn, pong_turn = threading.Semaphore(1), threading.Semaphore(0)
    log = []

    def player(word, mine, other):
        for _ in range(rounds):
            if not mine.acquire(timeout=timeout):
                log.append(f"{word}: timed out")
                return
            log.append(word)
            other.release()

    threads = [threading.Thread(target=player, args=("ping", ping_turn, pong_turn)),
               threading.Thread(target=player, args=("pong", pong_turn, ping_turn))]
    for t in reversed(threads):  # start pong first: the semaphores still make ping go first
        t.start()
    for t in threads:
        t.join(timeout * rounds + 1)
    return log


class Synchronize:
    """The OSCON slides' rendezvous built from one plain Lock (any thread may release a Lock)."""

    def __init__(self):
        self.lock = threading.Lock()

    def wait(self, timeout: float = 2.0) -> bool:
        self.lock.acquire()
        got = self.lock.acquire(timeout=timeout)  # blocks until another thread calls notify()
        self.lock.release()
        return got

    def notify(self):
        self.lock.release()


# --- exercises -----------------------------------------------------------------------------


def check_latch(CountDownLatch) -> object:
    """Exercise 6.1: CountDownLatch(count) with count_down() and wait(timeout) -> bool."""

    def test():
        latch = CountDownLatch(3)
        if latch.wait(0.05) is not False:
            raise AssertionError("wait(0.05) on a latch nobody counted down must return False after the timeout")
        woke = []
        waiters = [threading.Thread(target=lambda: woke.append(latch.wait(3))) for _ in range(3)]
        for t in waiters:
            t.start()
        time.sleep(0.05)
        if woke:
            raise AssertionError("a waiter returned before the count reached 0")
        workers = [threading.Thread(target=latch.count_down) for _ in range(3)]
        for t in workers:
            t.start()
        for t in workers + waiters:
            t.join(4)
        expect_equal(woke, [True, True, True], "what the three waiters' wait(3) returned")
        if latch.wait(0.01) is not True:
            raise AssertionError("once the count is 0, wait() must return True at once")
        latch.count_down()  # counting below zero must not break anything
        if latch.wait(0.01) is not True:
            raise AssertionError("an extra count_down() must leave the latch open")

    return check("Exercise 6.1", test)


def check_round_robin(take_turns) -> object:
    """Exercise 6.2: take_turns(names, rounds) -> log where the names appear in strict rotation."""

    def test():
        for names, rounds in [(["A", "B"], 4), (["A", "B", "C"], 5), (["x", "y", "z", "w"], 3)]:
            before = set(threading.enumerate())
            log = take_turns(names, rounds)
            expect_equal(log, names * rounds, f"take_turns({names}, {rounds})")
            left = threads_left(before, timeout=2)
            if left:
                names_left = [t.name for t in left]
                raise AssertionError(f"threads still running after take_turns returned: join them ({names_left})")

    return check("Exercise 6.2", test)
