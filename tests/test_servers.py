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


def test_page_links_reach_every_page_from_page_0():
    from threadlab.servers import page_links

    pages = 25
    seen, todo = {0}, [0]
    while todo:
        for j in page_links(todo.pop(), pages):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    assert seen == set(range(pages))
    assert page_links(0, 1) == []


def test_page_server_serves_linked_pages_counts_requests_and_closes():
    import urllib.error
    from concurrent.futures import ThreadPoolExecutor

    import pytest

    from threadlab.servers import PageServer

    before = set(threading.enumerate())
    with PageServer(pages=7, latency=0.2) as site:
        assert site.url == site.base
        with urllib.request.urlopen(site.url + "/page/1", timeout=5) as response:
            html = response.read().decode()
        assert 'href="/page/3"' in html and 'href="/page/4"' in html and 'href="/page/0"' in html
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(site.url + "/page/7", timeout=5)
        assert site.hits == {"/page/1": 1, "/page/7": 1} and site.most_at_once == 1 and site.in_flight == 0
        site.reset()
        assert site.hits == {} and site.most_at_once == 0
        # two requests that the server holds for 0.2 s each, sent together: counted as at once (a
        # correctness fact only if they overlap; a barrier in the clients makes that near certain,
        # and the assert only needs one of three tries)
        for _ in range(3):
            site.reset()
            gate = threading.Barrier(2, timeout=5)

            def get(path, gate=gate):
                gate.wait()
                with urllib.request.urlopen(site.url + path, timeout=5) as response:
                    return response.status

            with ThreadPoolExecutor(2) as pool:
                assert list(pool.map(get, ["/page/2", "/page/5"])) == [200, 200]
            if site.most_at_once == 2:
                break
        assert site.most_at_once == 2
    assert threads_left(before, timeout=2) == []


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
