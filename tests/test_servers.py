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
