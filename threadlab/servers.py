"""A local HTTP server in a background thread, for lessons and labs that need one.

Bound to 127.0.0.1 on a port the OS chooses, served by ``ThreadingHTTPServer`` (one thread per
request), and closed cleanly: :meth:`LocalHTTPServer.close` stops serving and joins the server
thread and every request thread, so no thread outlives the notebook.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
