"""Lab 1: threads and latency.

- :class:`SlowServer`   a local web server whose every answer takes ``delay`` seconds, and which
                        records how many requests it was serving at the same time
- :func:`fetch`         download one URL and return its body as text (what the learner calls)
- :func:`new_threads`   the threads started since a snapshot that are still alive after a grace period

The server is the referee of the lab's checks: it sees every request, so it can tell a program
that really ran its downloads at the same time from one that only looks fast, and count the most
downloads that were in flight at once (the bound of exercise 3).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass

from threadlab.servers import LocalHTTPServer, QuietHandler, send_text

ITEM = re.compile(r"/item/(\d+)")
SERVER_THREAD = "lab1-server"  #: name prefix of the server's own threads (not the learner's)


class SlowServer(LocalHTTPServer):
    """A web server on 127.0.0.1 (port chosen by the OS) that answers every request slowly.

    ``GET /item/N`` waits ``delay`` seconds, then answers ``item N``; ``/item/N?delay=S`` waits
    ``S`` seconds instead. The server counts every request (:attr:`hits`, by path without the
    query), how many it is serving right now (:attr:`in_flight`) and the most it ever served at
    once (:attr:`max_in_flight`). A request counts as in flight from the moment its handler starts
    until its delay is over, *before* the answer is sent: a client can never see its answer while
    the server still counts its request, so a program that keeps ``k`` downloads running at most
    is never measured at more than ``k``.

    Use it as a context manager, or call :meth:`close` (stops the server and joins its threads).
    """

    def __init__(self, delay: float = 0.1):
        self.delay = delay
        self.hits: Counter = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        site = self

        class Handler(QuietHandler):
            def do_GET(self):
                threading.current_thread().name = f"{SERVER_THREAD}-request"
                parts = urllib.parse.urlsplit(self.path)
                found = ITEM.fullmatch(parts.path)
                query = urllib.parse.parse_qs(parts.query)
                try:
                    delay = float(query.get("delay", [site.delay])[0])
                except ValueError:
                    delay = site.delay
                with site._lock:
                    site.hits[parts.path] += 1
                    site.in_flight += 1
                    site.max_in_flight = max(site.max_in_flight, site.in_flight)
                try:
                    time.sleep(min(max(delay, 0.0), 5.0))
                finally:
                    with site._lock:
                        site.in_flight -= 1
                if not found:
                    self.send_error(404)
                    return
                send_text(self, f"item {int(found.group(1))}")

        self.serve(Handler, f"{SERVER_THREAD}-main", queue_size=128)

    def url(self, i: int, delay: float | None = None) -> str:
        """The address of item ``i`` (answered after ``delay`` s, or the server's default)."""
        return f"{self.base}/item/{i}" + ("" if delay is None else f"?delay={delay:g}")

    def urls(self, n: int, delays=None) -> list[str]:
        """Addresses of items 0..n-1; ``delays`` (optional) gives each its own delay."""
        if delays is None:
            return [self.url(i) for i in range(n)]
        return [self.url(i, d) for i, d in zip(range(n), delays)]

    @staticmethod
    def expected(urls) -> list[str]:
        """The bodies the server answers for ``urls``, in the same order."""
        return ["item " + ITEM.search(u).group(1) for u in urls]

    def reset(self) -> None:
        """Forget the counts (call before each measured run)."""
        with self._lock:
            self.hits.clear()
            self.max_in_flight = self.in_flight

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait until no request is being served; False if some still are after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.in_flight == 0


def fetch(url: str, timeout: float = 5.0) -> str:
    """Download ``url`` and return its body as text (it raises on an error or after ``timeout`` s)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def new_threads(before, grace: float = 1.0) -> list[threading.Thread]:
    """Threads started since ``before`` (a ``threading.enumerate()`` snapshot) still alive after ``grace`` s.

    The server's own request threads are not counted. A program that joined every thread it
    started leaves nothing behind: the list is empty.
    """
    old = set(before)

    def alive():
        return [t for t in threading.enumerate()
                if t not in old and t.is_alive() and not t.name.startswith(SERVER_THREAD)]

    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive()


@dataclass
class Observed:
    """What one call of a learner's function did, seen from both ends."""

    result: object
    elapsed: float  #: seconds the call took
    max_in_flight: int  #: the most requests the server was serving at once during the call
    hits: Counter  #: requests per path during the call
    left_running: list  #: threads the call started that were still alive when it returned

    def each_fetched(self, urls, times: int = 1) -> bool:
        """True when every URL in ``urls`` was requested exactly ``times`` times, and nothing else."""
        wanted = Counter(urllib.parse.urlsplit(u).path for u in urls)
        return self.hits == Counter({path: n * times for path, n in wanted.items()})


def observe(server: SlowServer, fn, *args) -> Observed:
    """Call ``fn(*args)`` with fresh server counts; return what it returned and what it did.

    Exceptions from ``fn`` (``NotImplementedError`` of a blank exercise included) propagate.
    """
    server.wait_idle()
    server.reset()
    before = threading.enumerate()
    start = time.perf_counter()
    result = fn(*args)
    elapsed = time.perf_counter() - start
    left = new_threads(before, grace=0.0)
    with server._lock:
        return Observed(result, elapsed, server.max_in_flight, Counter(server.hits), left)
