"""Local servers used as fixtures by lessons and labs, all on 127.0.0.1, all closed cleanly.

- :class:`LocalHTTPServer`: an HTTP server in a background thread, served by ``ThreadingHTTPServer``
  (one thread per request), on a port the OS chooses. :meth:`LocalHTTPServer.close` stops serving
  and joins the server thread and every request thread, so no thread outlives the notebook.
- :func:`scan_targets` and :func:`probe`: open and closed ports for a port scanner to find, and the
  probe that asks one port whether anything listens there (after a simulated network round trip).
- :class:`PageServer`: a small web site of linked pages, each answered after a delay (a crawler's target).
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
LATENCY = 0.02  #: the simulated network round trip of a probe (loopback answers in microseconds)


class LocalHTTPServer:
    """Base class: call :meth:`serve` with a handler class from ``__init__``; a context manager."""

    def serve(self, handler: type[BaseHTTPRequestHandler], thread_name: str, queue_size: int = 64) -> None:
        class Server(ThreadingHTTPServer):
            daemon_threads = False  # so that server_close() joins every request thread
            block_on_close = True
            request_queue_size = queue_size  # many clients at once: no refused or delayed connections

        self.httpd = Server(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=thread_name)
        self.thread.start()

    def close(self) -> None:
        """Stop serving, join the server thread and every request thread, close the socket."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_text(handler: BaseHTTPRequestHandler, body: str, content_type: str = "text/plain") -> None:
    """Answer a request with ``200 OK`` and ``body``."""
    data = body.encode()
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not log every request into the notebook."""

    def log_message(self, format, *args):
        pass


def page_links(i: int, pages: int) -> list[int]:
    """The pages page ``i`` of a :class:`PageServer` links to: a binary tree (2i+1, 2i+2) plus i//2 and 0."""
    return sorted({j for j in (2 * i + 1, 2 * i + 2, i // 2, 0) if j < pages and j != i})


class PageServer(LocalHTTPServer):
    """A web site of ``pages`` linked HTML pages on 127.0.0.1, each answered after ``latency`` seconds.

    ``/page/N`` (0 <= N < pages) links to :func:`page_links` ``(N, pages)`` with ``<a href="/page/M">``;
    every page can be reached from ``/page/0``. The server counts what it was asked for: :attr:`hits`
    (requests per path) and :attr:`most_at_once` (the most requests it was holding at the same time; a
    request counts from its arrival until its answer is ready to send, so requests a client sends one
    after another never count as at once). :meth:`reset` clears both. Close it with :meth:`close` or use
    it in a ``with`` block.
    """

    def __init__(self, pages: int = 20, latency: float = 0.04):
        self.pages = pages
        self.latency = latency
        self.hits: Counter = Counter()
        self.in_flight = 0
        self.most_at_once = 0
        self._lock = threading.Lock()
        site = self

        class Handler(QuietHandler):
            def do_GET(self):
                with site._lock:
                    site.hits[self.path] += 1
                    site.in_flight += 1
                    site.most_at_once = max(site.most_at_once, site.in_flight)
                try:
                    time.sleep(site.latency)
                finally:  # done before the answer leaves: a client that has its answer is no longer counted
                    with site._lock:
                        site.in_flight -= 1
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

    def reset(self) -> None:
        """Forget the requests counted so far."""
        with self._lock:
            self.hits.clear()
            self.most_at_once = self.in_flight


# --- targets for a port scanner ----------------------------------------------------------------


@dataclass
class ScanTargets:
    """Listening sockets (open ports) and bound-but-not-listening sockets (closed ports)."""

    open_ports: list
    closed_ports: list
    sockets: list = field(default_factory=list, repr=False)

    @property
    def ports(self) -> list:
        """Every port to scan, in ascending order."""
        return sorted(self.open_ports + self.closed_ports)

    def close(self) -> None:
        for s in self.sockets:
            s.close()
        self.sockets.clear()


@contextmanager
def scan_targets(n_open: int = 8, n_closed: int = 24):
    """Open ``n_open`` listening ports and reserve ``n_closed`` closed ones on 127.0.0.1.

    The OS picks every port (bind to port 0). A closed port is a socket bound but not listening: a
    connection to it is refused, and no other program can take the port while we hold it. A thread
    accepts and closes every connection to an open port, so that any number of scans in a row never
    fill a listening socket's backlog (a full backlog would make an open port look closed). On exit
    the thread is joined and every socket closed. Nothing here connects anywhere but 127.0.0.1.
    """
    targets = ScanTargets([], [])
    selector = selectors.DefaultSelector()
    stop = threading.Event()
    acceptor = None
    try:
        for i in range(n_open + n_closed):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            targets.sockets.append(s)
            s.bind((HOST, 0))
            if i < n_open:
                s.listen(socket.SOMAXCONN)  # a backlog no scan fills, even if the acceptor is slow to run
                s.setblocking(False)
                selector.register(s, selectors.EVENT_READ)
                targets.open_ports.append(s.getsockname()[1])
            else:
                targets.closed_ports.append(s.getsockname()[1])
        targets.open_ports.sort()
        targets.closed_ports.sort()

        def accept_all():
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    while True:  # empty the backlog: every connection waiting, not only one
                        try:
                            connection, _ = key.fileobj.accept()
                        except OSError:  # BlockingIOError: none left
                            break
                        connection.close()

        if n_open:
            acceptor = threading.Thread(target=accept_all, name="scan targets acceptor")
            acceptor.start()
        yield targets
    finally:
        stop.set()
        if acceptor is not None:
            acceptor.join(5)
        selector.close()
        targets.close()


def probe(port: int, host: str = HOST, latency: float = LATENCY, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port, after ``latency`` seconds of waiting
    (the round trip a remote host would need)."""
    time.sleep(latency)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0
