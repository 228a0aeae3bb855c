"""Lesson 08: queues and thread pools.

- :func:`join_with_timeout`  ``Queue.join()`` that gives up after a timeout (``join`` itself has none)
- :func:`parallel_quicksort` the 2009 tutorial's threaded quicksort over a job queue, modernised
- :class:`PageServer`        a local web site with linked pages and an artificial latency per request
- :func:`crawl`              the OSCON slides' thread-pool spider: a work queue and a result queue
- :func:`run_factory`        the OSCON slides' factory: bodies and wheels into a packager, with queues
- :func:`queue_orders`       what LifoQueue, PriorityQueue and SimpleQueue hand back, and in which order
- :func:`shutdown_facts`     ``Queue.shutdown()`` (Python 3.13+), measured where it exists
"""

from __future__ import annotations

import queue
import random
import re
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from threadlab.checks import check, expect_equal, threads_left
from threadlab.plotting import new_figure
from threadlab.servers import LocalHTTPServer, QuietHandler, send_text
from threadlab.timeline import Timeline

STOP = object()  #: the sentinel that tells a worker to finish (compared with ``is``)


def join_with_timeout(q: queue.Queue, timeout: float) -> bool:
    """Wait until every item put into ``q`` was marked ``task_done()``; False after ``timeout`` s.

    ``Queue.join()`` waits on the condition ``q.all_tasks_done`` until ``q.unfinished_tasks`` is
    0, with no timeout: a forgotten ``task_done()`` would hang the caller for ever. This is the same
    wait, with a deadline.
    """
    with q.all_tasks_done:
        return q.all_tasks_done.wait_for(lambda: q.unfinished_tasks == 0, timeout)


def join_all(threads, timeout: float = 5.0) -> list[threading.Thread]:
    """Join every thread with a shared deadline; return the ones still alive (empty list = all done)."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


# --- 2. threaded quicksort over a job queue (000 sec 6) -------------------------------------


def partition(a: list, lo: int, hi: int) -> int:
    """Lomuto partition of ``a[lo:hi]`` around its first element; returns the pivot's final index."""
    pivot = a[lo]
    last = lo
    for i in range(lo + 1, hi):
        if a[i] < pivot:
            last += 1
            a[last], a[i] = a[i], a[last]
    a[lo], a[last] = a[last], a[lo]
    return last


@dataclass
class SortReport:
    """What :func:`parallel_quicksort` did: per thread, how many partitions and empty jobs."""

    size: int
    threads: int
    partitions: Counter = field(default_factory=Counter)
    empty_jobs: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    cpu: float = 0.0  # CPU seconds the whole process used meanwhile (all threads)

    def table(self) -> str:
        lines = [f"{'thread':<10} {'partitions':>10} {'share':>6} {'empty jobs':>10}"]
        total = sum(self.partitions.values()) or 1
        for name in sorted(set(self.partitions) | set(self.empty_jobs)):
            p = self.partitions[name]
            lines.append(f"{name:<10} {p:>10} {p / total:>6.0%} {self.empty_jobs[name]:>10}")
        lines.append(f"{'total':<10} {sum(self.partitions.values()):>10} {'':>6} {sum(self.empty_jobs.values()):>10}")
        return "\n".join(lines)


def parallel_quicksort(a: list, threads: int = 4, timeout: float = 30.0) -> SortReport:
    """Sort ``a`` in place with ``threads`` workers taking (lo, hi) jobs from one queue.

    A worker takes a job, partitions ``a[lo:hi]`` and puts the two halves back as new jobs,
    *then* calls ``task_done()``: the queue's count of unfinished jobs cannot reach 0 while a
    half is still to be sorted. So ``join`` returns exactly when the array is sorted, and one
    sentinel per worker ends the workers. (The 2009 version polled a shared counter with
    ``get(True, 1)`` and a bare ``except:`` instead.)
    """
    jobs: queue.Queue = queue.Queue()
    report = SortReport(len(a), threads)
    lock = threading.Lock()  # only for the report: the array halves never overlap

    def worker():
        name = threading.current_thread().name
        done = empty = 0
        while True:
            job = jobs.get(timeout=timeout)
            if job is STOP:
                break
            lo, hi = job
            if hi - lo >= 1:
                m = partition(a, lo, hi)
                jobs.put((lo, m))
                jobs.put((m + 1, hi))
                done += 1
            else:
                empty += 1
            jobs.task_done()
        with lock:
            report.partitions[name] += done
            report.empty_jobs[name] += empty

    pool = [threading.Thread(target=worker, name=f"sorter-{i}") for i in range(threads)]
    start, cpu_start = time.perf_counter(), time.process_time()
    jobs.put((0, len(a)))
    for t in pool:
        t.start()
    finished = join_with_timeout(jobs, timeout)
    for _ in pool:
        jobs.put(STOP)
    alive = join_all(pool, timeout=5)
    report.elapsed = time.perf_counter() - start
    report.cpu = time.process_time() - cpu_start
    if not finished or alive:
        raise TimeoutError(f"sorting did not finish in {timeout} s")
    return report


def shuffled(n: int, seed: int = 2009) -> list[int]:
    """The numbers 0..n-1 in a random (but reproducible) order."""
    a = list(range(n))
    random.Random(seed).shuffle(a)
    return a


def best_sort_times(n: int, threads=(1, 4), repeat: int = 5) -> dict[int, tuple[float, float]]:
    """{threads: (wall seconds, CPU seconds)} of :func:`parallel_quicksort` on ``n`` numbers, best of ``repeat``.

    The thread counts take turns in every round, so a burst of load on a shared machine hits
    them all alike instead of spoiling one of them. CPU time counts only this process, so other
    programs on the machine barely change it.
    """
    best = {k: (float("inf"), float("inf")) for k in threads}
    for i in range(repeat):
        for k in threads:
            r = parallel_quicksort(shuffled(n, seed=i), k)
            best[k] = (min(best[k][0], r.elapsed), min(best[k][1], r.cpu))
    return best


# --- 3. a local web site and the thread-pool spider (003) -----------------------------------


def page_links(i: int, pages: int) -> list[int]:
    """The pages page ``i`` links to: a binary tree (2i+1, 2i+2) plus links back to i//2 and 0."""
    return sorted({j for j in (2 * i + 1, 2 * i + 2, i // 2, 0) if j < pages and j != i})


class PageServer(LocalHTTPServer):
    """A small web site on 127.0.0.1 (port chosen by the OS) in a background thread.

    ``/page/N`` (0 <= N < pages) is an HTML page linking to :func:`page_links`; each request waits
    ``latency`` seconds before answering, like a distant server. Every request is counted in
    :attr:`hits`. Use it as a context manager, or call :meth:`close` to stop the server,
    join its thread and close the socket.
    """

    def __init__(self, pages: int = 40, latency: float = 0.02):
        self.pages = pages
        self.latency = latency
        self.hits: Counter = Counter()
        self._lock = threading.Lock()
        site = self

        class Handler(QuietHandler):
            def do_GET(self):
                with site._lock:
                    site.hits[self.path] += 1
                time.sleep(site.latency)
                found = re.fullmatch(r"/page/(\d+)", self.path)
                if not found or int(found.group(1)) >= site.pages:
                    self.send_error(404)
                    return
                i = int(found.group(1))
                links = "".join(f'<a href="/page/{j}">page {j}</a>\n' for j in page_links(i, site.pages))
                send_text(self, f"<html><body><h1>page {i}</h1>\n{links}</body></html>", "text/html")

        self.serve(Handler, "page-server")

    @property
    def url(self) -> str:
        """The site's address, ``http://127.0.0.1:PORT``."""
        return self.base

    def reset(self):
        with self._lock:
            self.hits.clear()


LINK = re.compile(r'href="([^"]+)"')


def fetch(url: str, timeout: float = 5.0) -> list[str]:
    """Download one page and return the absolute URLs it links to."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        html = response.read().decode()
    base = url.split("/page/")[0]
    return [base + href for href in LINK.findall(html)]


@dataclass
class Crawl:
    pool_size: int
    fetched: list[str]  # every URL a worker downloaded, in the order they finished
    by_thread: Counter
    elapsed: float

    @property
    def rate(self) -> float:
        """Pages per second."""
        return len(self.fetched) / self.elapsed


def crawl(start_url: str, pool_size: int = 4, timeout: float = 10.0) -> Crawl:
    """The OSCON thread-pool spider: workers take URLs from one queue, put links on another.

    Only the coordinating thread (the caller) reads the links and decides what is new, so the
    ``seen`` set needs no lock. It counts pages in flight; when none is left, the crawl is over
    and one sentinel per worker ends the pool.
    """
    todo: queue.Queue = queue.Queue()
    done: queue.Queue = queue.Queue()

    def worker():
        while True:
            url = todo.get(timeout=timeout)
            if url is STOP:
                return
            try:
                links = fetch(url)
            except Exception as exc:  # reported to the coordinator, which raises it
                done.put((url, exc, threading.current_thread().name))
            else:
                done.put((url, links, threading.current_thread().name))

    pool = [threading.Thread(target=worker, name=f"spider-{i}") for i in range(pool_size)]
    for t in pool:
        t.start()
    start = time.perf_counter()
    seen = {start_url}
    todo.put(start_url)
    in_flight = 1
    fetched, by_thread, error = [], Counter(), None
    try:
        while in_flight:
            url, links, who = done.get(timeout=timeout)
            in_flight -= 1
            if isinstance(links, Exception):
                error = links
                break
            fetched.append(url)
            by_thread[who] += 1
            for link in links:
                if link not in seen:
                    seen.add(link)
                    todo.put(link)
                    in_flight += 1
        elapsed = time.perf_counter() - start
    finally:
        for _ in pool:
            todo.put(STOP)
        join_all(pool, timeout)
    if error is not None:
        raise error
    return Crawl(pool_size, fetched, by_thread, elapsed)


@dataclass
class SpiderScaling:
    pages: int
    latency: float
    crawls: list[Crawl]

    def rate(self, pool_size: int) -> float:
        return next(c.rate for c in self.crawls if c.pool_size == pool_size)

    def table(self) -> str:
        lines = [f"{'pool':>4} {'seconds':>8} {'pages/s':>8} {'speedup':>8}"]
        base = self.crawls[0].rate
        for c in self.crawls:
            lines.append(f"{c.pool_size:>4} {c.elapsed:>8.3f} {c.rate:>8.1f} {c.rate / base:>7.1f}x")
        return "\n".join(lines)


def pool_sizes_up_to(n: int) -> list[int]:
    """1, 2, 4, ... up to ``n``, and ``n`` itself."""
    sizes, k = [], 1
    while k < n:
        sizes.append(k)
        k *= 2
    return sizes + [n]


def spider_scaling(server: PageServer, max_pool: int) -> SpiderScaling:
    """Crawl the whole site with pools of 1, 2, 4, ... max_pool threads; check each crawl."""
    crawls = []
    for size in pool_sizes_up_to(max_pool):
        server.reset()
        c = crawl(server.url + "/page/0", size)
        if sorted(c.fetched) != sorted(set(c.fetched)) or len(c.fetched) != server.pages:
            raise AssertionError(f"pool of {size}: fetched {len(c.fetched)} pages, {len(set(c.fetched))} distinct")
        crawls.append(c)
    return SpiderScaling(server.pages, server.latency, crawls)


def spider_scaling_on_own_site(max_pool: int, pages: int = 20, latency: float = 0.04) -> SpiderScaling:
    """:func:`spider_scaling` on a fresh :class:`PageServer`, closed again (threads joined) before returning.

    For a widget: each run starts its own site, so the experiment keeps working whatever happened
    to any other site, and leaves no thread behind.
    """
    with PageServer(pages=pages, latency=latency) as site:
        return spider_scaling(site, max_pool)


def plot_spider(result: SpiderScaling):
    fig, ax = new_figure()
    xs = [c.pool_size for c in result.crawls]
    ax.plot(xs, [c.rate for c in result.crawls], "o-", label="measured")
    ax.plot(xs, [result.crawls[0].rate * x for x in xs], "--", color="grey", label="n × one thread")
    ax.set(xlabel="threads in the pool", ylabel="pages / s", ylim=(0, None),
           title=f"crawling {result.pages} pages, {result.latency * 1000:.0f} ms each")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def spider_summary(result: SpiderScaling) -> str:
    last = result.crawls[-1]
    return f"pool of {last.pool_size}: {last.rate:.0f} pages/s, {last.rate / result.crawls[0].rate:.1f}x one thread"


# --- 4. the factory pipeline (003) ----------------------------------------------------------


@dataclass
class Factory:
    cars: list  # (body, (wheel, wheel, wheel, wheel)) in the order they were packed
    timeline: Timeline
    max_waiting: dict  # the most items ever seen waiting in each bounded queue
    elapsed: float


def run_factory(cars: int = 6, body_time: float = 0.02, wheel_time: float = 0.004,
                pack_time: float = 0.01, maxsize: int = 2, timeout: float = 10.0) -> Factory:
    """One thread makes bodies, one makes wheels, a packager puts 1 body + 4 wheels together.

    The queues are bounded (``maxsize``): a maker that gets ahead blocks in ``put`` until the
    packager catches up. Each maker ends its stream with the sentinel STOP; the packager ends
    its own output with STOP when the bodies run out.
    """
    bodies: queue.Queue = queue.Queue(maxsize)
    wheels: queue.Queue = queue.Queue(maxsize * 4)
    packed: queue.Queue = queue.Queue()
    tl = Timeline()
    max_waiting = {"body": 0, "wheel": 0}
    lock = threading.Lock()

    def note(name, q):
        with lock:
            max_waiting[name] = max(max_waiting[name], q.qsize())

    def make(kind, q, count, seconds):
        for i in range(count):
            with tl.span(kind):
                time.sleep(seconds)
            q.put(f"{kind}-{i}", timeout=timeout)
            note(kind, q)
        q.put(STOP, timeout=timeout)

    def packager():
        while True:
            body = bodies.get(timeout=timeout)
            if body is STOP:
                break
            four = tuple(wheels.get(timeout=timeout) for _ in range(4))
            with tl.span("pack"):
                time.sleep(pack_time)
            packed.put((body, four))
        packed.put(STOP)

    threads = [
        threading.Thread(target=make, args=("body", bodies, cars, body_time), name="body maker"),
        threading.Thread(target=make, args=("wheel", wheels, 4 * cars, wheel_time), name="wheel maker"),
        threading.Thread(target=packager, name="packager"),
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    out = []
    while (item := packed.get(timeout=timeout)) is not STOP:
        out.append(item)
    elapsed = time.perf_counter() - start
    if join_all(threads, timeout):
        raise TimeoutError("a factory thread did not finish")
    return Factory(out, tl, max_waiting, elapsed)


# --- 5. sentinels ---------------------------------------------------------------------------


def start_workers(n: int, q: queue.Queue, results: list, timeout: float = 10.0) -> list[threading.Thread]:
    """Start ``n`` workers that square numbers from ``q`` into ``results`` until they get STOP."""

    def worker():
        while (item := q.get(timeout=timeout)) is not STOP:
            results.append(item * item)  # list.append is atomic: no lock needed

    threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(n)]
    for t in threads:
        t.start()
    return threads


# --- 6. other queues ------------------------------------------------------------------------


def drain(q) -> list:
    """Every item in ``q``, in the order ``get_nowait`` hands them out."""
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def queue_orders(items) -> dict[str, list]:
    """Put ``items`` into each kind of queue in the same order; what comes out, in which order."""
    kinds = {
        "Queue (FIFO)": queue.Queue(),
        "LifoQueue": queue.LifoQueue(),
        "PriorityQueue": queue.PriorityQueue(),
        "SimpleQueue": queue.SimpleQueue(),
    }
    out = {}
    for name, q in kinds.items():
        for item in items:
            q.put(item)
        out[name] = drain(q)
    return out


def shutdown_facts(timeout: float = 2.0) -> dict | None:
    """What ``Queue.shutdown()`` does, measured; None on Pythons before 3.13 that lack it."""
    if not hasattr(queue.Queue, "shutdown"):
        return None
    facts = {}
    q: queue.Queue = queue.Queue()
    woken = []

    def getter():  # blocked in get() on an empty queue when shutdown(immediate=True) comes
        try:
            q.get(timeout=timeout)
        except queue.ShutDown:
            woken.append("ShutDown")
        except queue.Empty:
            woken.append("Empty")

    t = threading.Thread(target=getter)
    t.start()
    time.sleep(0.05)
    q.shutdown(immediate=True)
    t.join(timeout)
    facts["blocked get() woken with"] = woken[0] if woken else "nothing"

    q = queue.Queue()
    q.put("a")
    q.put("b")
    q.shutdown()  # graceful: items already queued can still be taken
    try:
        q.put("c")
        facts["put after shutdown"] = "accepted"
    except queue.ShutDown:
        facts["put after shutdown"] = "raises ShutDown"
    facts["items still delivered"] = [q.get(timeout=timeout), q.get(timeout=timeout)]
    try:
        q.get(timeout=timeout)
        facts["get on empty after shutdown"] = "returned"
    except queue.ShutDown:
        facts["get on empty after shutdown"] = "raises ShutDown"
    return facts


def has_queue_shutdown() -> bool:
    return sys.version_info >= (3, 13) and hasattr(queue.Queue, "shutdown")


# --- exercises ------------------------------------------------------------------------------


def _slow_square(x):
    time.sleep(0.05)
    return x * x


def check_pool_map(pool_map) -> object:
    """Exercise 8.1: pool_map(fn, items, workers) -> [fn(x) for x in items], on a queue-fed pool."""

    def test():
        before = set(threading.enumerate())
        items = list(range(12))
        start = time.perf_counter()
        got = pool_map(_slow_square, items, 4)
        elapsed = time.perf_counter() - start
        expect_equal(got, [x * x for x in items], "pool_map(slow_square, range(12), 4)")
        if elapsed > 0.45:
            raise AssertionError(
                f"12 tasks of 0.05 s on 4 workers took {elapsed:.2f} s (ideal 0.15 s): "
                "do the workers really run at the same time?"
            )
        if threads_left(before, timeout=0.5):
            raise AssertionError("threads are still running after pool_map returned: did every worker get a sentinel?")
        expect_equal(pool_map(str, [], 3), [], "pool_map(str, [], 3)")
        expect_equal(pool_map(str, [1, 2, 3], 1), ["1", "2", "3"], "pool_map(str, [1, 2, 3], 1)")

    return check("Exercise 8.1", test)


def _risky(x):
    if x % 3 == 0:
        raise ValueError(f"bad item {x}")
    return x


def check_robust_worker(robust_worker) -> object:
    """Exercise 8.2: robust_worker(q, handle, errors) survives failing jobs and always calls task_done."""

    def test():
        q: queue.Queue = queue.Queue()
        errors: list = []
        crashed: list = []

        def run():
            try:
                robust_worker(q, _risky, errors)
            except BaseException as exc:  # reported below instead of a traceback from the thread
                crashed.append(exc)

        threads = [threading.Thread(target=run, name=f"robust-{i}") for i in range(2)]
        for t in threads:
            t.start()
        try:
            for x in range(10):
                q.put(x)
            deadline = time.monotonic() + 3
            while not join_with_timeout(q, 0.05) and len(crashed) < len(threads) and time.monotonic() < deadline:
                pass
            if crashed:
                if isinstance(crashed[0], NotImplementedError):
                    raise crashed[0]
                raise AssertionError(f"a worker crashed with {type(crashed[0]).__name__}: {crashed[0]}")
            if q.unfinished_tasks:
                raise AssertionError(
                    f"q.join() would hang: {q.unfinished_tasks} job(s) never marked task_done() "
                    "(a failing job must be marked done too: try/finally)"
                )
        finally:
            for _ in threads:
                q.put(STOP)
            alive = join_all(threads, 3)
        if alive:
            raise AssertionError("a worker did not stop at the sentinel STOP")
        expect_equal(sorted(str(e) for e in errors), [f"bad item {x}" for x in (0, 3, 6, 9)],
                     "the errors collected")

    return check("Exercise 8.2", test)
