"""Tests of threadlab.servers: a local HTTP server that closes without leaving threads."""

import threading
import urllib.request

from threadlab.checks import threads_left
from threadlab.servers import LocalHTTPServer, QuietHandler, send_text


class Hello(LocalHTTPServer):
    def __init__(self):
        class Handler(QuietHandler):
            def do_GET(self):
                send_text(self, f"hello {self.path}")

        self.serve(Handler, "hello-server")


def test_serves_on_loopback_and_leaves_no_thread():
    before = set(threading.enumerate())
    with Hello() as server:
        assert server.base == f"http://127.0.0.1:{server.port}" and server.port > 0
        with urllib.request.urlopen(server.base + "/x", timeout=5) as response:
            assert response.read() == b"hello /x"
            assert response.headers["Content-Type"] == "text/plain"
        assert server.thread.name == "hello-server" and server.thread.is_alive()
    assert not server.thread.is_alive()
    assert threads_left(before, timeout=2) == []
    server.close()  # closing twice is harmless


def test_scan_targets_are_open_and_closed_and_released():
    from threadlab.servers import probe, scan_targets

    before = set(threading.enumerate())
    with scan_targets(n_open=2, n_closed=3) as targets:
        assert len(set(targets.ports)) == 5 and targets.ports == sorted(targets.open_ports + targets.closed_ports)
        assert all(probe(p, latency=0) for p in targets.open_ports)
        assert not any(probe(p, latency=0) for p in targets.closed_ports)
        sockets = list(targets.sockets)
    assert targets.sockets == [] and all(s.fileno() == -1 for s in sockets)
    assert threads_left(before, timeout=2) == []


def test_open_ports_stay_open_under_many_probes():
    """Connections are accepted and closed, so the listening backlog never fills up."""
    from threadlab.servers import probe, scan_targets

    with scan_targets(n_open=1, n_closed=1) as targets:
        port = targets.open_ports[0]
        assert all(probe(port, latency=0) for _ in range(200))
        assert not probe(targets.closed_ports[0], latency=0)


def test_probe_waits_its_latency():
    import time

    from threadlab.servers import probe, scan_targets

    with scan_targets(n_open=1, n_closed=0) as targets:
        start = time.perf_counter()
        assert probe(targets.open_ports[0], latency=0.03)
        assert time.perf_counter() - start >= 0.03  # time.sleep never returns early
