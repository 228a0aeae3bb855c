"""Checks for the exercises on threaded servers: a thread per client, and a clean stop.

Both checks drive the learner's code with real sockets on 127.0.0.1 (ports the OS picks) and decide
from what the code did, never from how long it took, wherever they can:

- :func:`check_serve`: the clients' handler is the check's own. It notes which thread it runs in (the
  accepting thread means "no thread per client"), makes three clients wait for each other (served one
  at a time they cannot meet), keeps a fourth busy until the server is asked to stop and then a little
  longer (so ``serve`` returning before it ended means "not joined"), and sees a socket closed under it.
- :func:`check_stop`: a ``socketserver.ThreadingTCPServer`` like the lesson's, with one client still
  connected and silent. The verdict names the step that is missing from what is left behind.

Every wait is bounded; after a verdict the check cleans up what a wrong answer left running.
"""

from __future__ import annotations

import linecache
import os
import socket
import socketserver
import sysconfig
import threading
import time
import traceback

from threadlab.checks import Verdict, check, threads_left

__all__ = ["check_serve", "check_stop"]

HOST = "127.0.0.1"
POLL = 0.05  #: how often the check's own server sockets look at their stop flag
MEET = 2.0  #: seconds three clients' handlers wait for each other
LINGER = 1.0  #: seconds the busy client's handler goes on after `stopping` is set
PATIENCE = 3.0  #: seconds the check waits for serve() to react (accept, return)


_LIBRARY = tuple(os.path.realpath(p) + os.sep for p in {sysconfig.get_paths()["stdlib"], os.path.dirname(__file__)})


def _where(error: BaseException) -> str:
    """' (line 7 of serve: `conn, _ = listener.accept()`)' for the innermost frame of the learner's code."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not os.path.realpath(f.filename).startswith(_LIBRARY)]
    if not frames:
        return ""
    frame = frames[-1]
    source = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    return f" (line {frame.lineno} of {frame.name}" + (f": `{source}`)" if source else ")")


# --- Exercise: serve(listener, handle, stopping) ----------------------------------------------------


def check_serve(serve) -> Verdict:
    """Exercise: ``serve(listener, handle, stopping)`` accepts connections on ``listener``, runs
    ``handle(conn)`` for each in a thread of its own (so clients are served at the same time), and
    once ``stopping`` is set stops accepting, joins every client thread and returns."""

    def test():
        before = set(threading.enumerate())
        listener = socket.create_server((HOST, 0))
        address = listener.getsockname()
        stopping = threading.Event()
        called, busy_started, busy_done = threading.Event(), threading.Event(), threading.Event()
        meeting = threading.Barrier(3)
        notes = {"inline": 0, "alone": [], "socket errors": [], "handled": 0}
        outcome = {}
        clients: list[socket.socket] = []

        def handle(conn):
            called.set()
            if threading.current_thread() is server_thread:
                notes["inline"] += 1
                conn.close()
                return
            try:
                conn.settimeout(PATIENCE)
                who = conn.recv(1)
                notes["handled"] += 1
                if who == b"B":  # the busy client: served until the server stops, and then some more
                    busy_started.set()
                    stopping.wait(PATIENCE * 4)
                    time.sleep(LINGER)
                    busy_done.set()
                elif who:
                    try:
                        meeting.wait(MEET)
                    except threading.BrokenBarrierError:
                        notes["alone"].append(who)
                if who:
                    conn.sendall(b"ok")
            except OSError as exc:
                notes["socket errors"].append(exc)
            finally:
                conn.close()

        def run_serve():
            try:
                serve(listener, handle, stopping)
            except BaseException as exc:  # reported below
                outcome["error"] = exc
            outcome["busy done at return"] = busy_done.is_set()

        def raise_if_failed():
            if "error" in outcome:
                error = outcome["error"]
                if isinstance(error, NotImplementedError):
                    raise error
                hint = (": accept() on a listener with a timeout raises TimeoutError when nobody connects in "
                        "time; catch it and go round the loop again") if isinstance(error, TimeoutError) else ""
                raise AssertionError(f"serve() raised {type(error).__name__}: {error}{_where(error)}{hint}")

        def connect(who: bytes) -> socket.socket:
            sock = socket.create_connection(address, timeout=PATIENCE + MEET)
            clients.append(sock)
            sock.sendall(who)
            return sock

        server_thread = threading.Thread(target=run_serve, name="serve", daemon=True)
        server_thread.start()
        try:
            connect(b"B")
            deadline = time.monotonic() + PATIENCE
            while not called.is_set() and server_thread.is_alive() and time.monotonic() < deadline:
                called.wait(POLL)
            started = called.is_set()
            raise_if_failed()
            if notes["inline"]:
                raise AssertionError(
                    "handle() ran in the thread that runs serve(), so one client is served at a time: give each "
                    "connection a thread of its own, threading.Thread(target=handle, args=(conn,)), and call "
                    "its start() (not run(), and not handle(conn) itself)")
            if not started:
                raise AssertionError(f"a client connected, and handle() was not called within {PATIENCE:g} s: "
                                     "accept connections in a loop and start a thread running handle(conn) for each")
            busy_started.wait(PATIENCE)
            trio = [connect(who) for who in (b"1", b"2", b"3")]
            deadline = time.monotonic() + MEET + 1
            replies = []
            for sock in trio:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    replies.append(sock.recv(2))
                except OSError:  # a time-out: not served (b"" would mean: closed without an answer)
                    replies.append(None)
            raise_if_failed()
            if notes["socket errors"] or b"" in replies:
                # The check's handler answers every client before it closes the connection, so a client
                # that reads end-of-stream first had its connection closed by serve(): either handle()
                # saw an error, or it is still waiting for the others and will see one when it answers.
                error = notes["socket errors"][0] if notes["socket errors"] else None
                what = f"({type(error).__name__}: {error})" if error else "(a client's connection ended before its answer)"
                raise AssertionError(
                    f"handle() could not use its connection {what}: the socket was "
                    "closed under it. The client's thread owns the connection: do not close it (nor use "
                    "`with conn:`) in the loop that accepts")
            if notes["alone"]:
                raise AssertionError(
                    f"three clients were not served at the same time: their handlers waited {MEET:g} s for each "
                    "other in vain. Start a thread for each connection, and accept the next one at once")
            if notes["handled"] < 4 or replies != [b"ok"] * 3:
                raise AssertionError(
                    f"three more clients connected while the first was still being served, and "
                    f"{max(1, 4 - notes['handled'])} of them were not served within {MEET + 1:g} s. Does serve() "
                    "wait for a client's thread (join) before accepting the next one? Join the threads only "
                    "once `stopping` is set")

            stopping.set()
            server_thread.join(PATIENCE + LINGER)
            if server_thread.is_alive():
                if "busy done at return" not in outcome:
                    try:  # wake an accept() that has no timeout, so that serve() can end
                        socket.create_connection(address, timeout=1).close()
                    except OSError:
                        pass
                raise AssertionError(
                    f"serve() had not returned {PATIENCE + LINGER:g} s after `stopping` was set. Is it waiting in "
                    "listener.accept()? Give the listener a timeout (listener.settimeout(0.05)), catch "
                    "TimeoutError and test stopping.is_set() each time round the loop")
            raise_if_failed()
            if not outcome["busy done at return"]:
                raise AssertionError(
                    "serve() returned while a client's thread was still serving: keep every thread you start "
                    "in a list, and join each of them (with a timeout) before serve() returns")
            if notes["socket errors"]:
                error = notes["socket errors"][0]
                raise AssertionError(f"handle() could not use its connection ({type(error).__name__}: {error}): "
                                     "do not close the client's socket in the loop that accepts")
            left = [t.name for t in threads_left(before, timeout=1.0) if t is not server_thread]
            if left:
                raise AssertionError(f"threads still running after serve() returned: {left}")
        finally:
            stopping.set()
            for sock in clients:
                sock.close()
            listener.close()
            server_thread.join(PATIENCE)

    return check("serve: a thread per client, joined at the end", test, timeout=9.5)


# --- Exercise: stop(server, thread) -------------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    """Answers b'ok' to every byte; looks at server.stopping every POLL seconds, like the lesson's handler."""

    def handle(self):
        conn = self.request
        conn.settimeout(POLL)
        while not self.server.stopping.is_set():
            try:
                data = conn.recv(1)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data or data == b"q":
                return
            try:
                conn.sendall(b"ok")
            except OSError:
                return


class CheckServer(socketserver.ThreadingTCPServer):
    """The lesson's kind of server: a handler thread per connection, joined by server_close()."""

    daemon_threads = False
    block_on_close = True

    def __init__(self):
        super().__init__((HOST, 0), _EchoHandler)
        self.stopping = threading.Event()
        self.address = self.server_address


def _shutdown_requested(server: socketserver.BaseServer) -> bool:
    return bool(getattr(server, "_BaseServer__shutdown_request", False))


def check_stop(stop) -> Verdict:
    """Exercise: ``stop(server, thread)`` stops a running ThreadingTCPServer whose ``serve_forever()``
    runs in ``thread``, with a client still connected: no thread left, the listening socket closed."""

    def test():
        before = set(threading.enumerate())
        server = CheckServer()
        address = server.address
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL},
                                  name="serve_forever", daemon=True)
        thread.start()
        idle = socket.create_connection(address, timeout=PATIENCE)
        outcome = {}

        def run_stop():
            try:
                stop(server, thread)
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        stopper = threading.Thread(target=run_stop, name="stop", daemon=True)
        try:
            idle.sendall(b"a")  # served once, then silent: its handler thread is alive and waiting
            if idle.recv(2) != b"ok":
                raise AssertionError("the check's own server did not answer (is the machine very busy?)")
            stopper.start()
            stopper.join(PATIENCE + 1)
            if stopper.is_alive():
                if not server.stopping.is_set():
                    raise AssertionError(
                        f"stop() had not returned after {PATIENCE + 1:g} s: server_close() waits for every "
                        "handler thread, and the handler of the client that is still connected waits for "
                        "that client. Set server.stopping first: the handlers look at it and finish")
                if thread.is_alive() and not _shutdown_requested(server):
                    raise AssertionError(
                        f"stop() had not returned after {PATIENCE + 1:g} s, and serve_forever() was never asked "
                        "to stop: call server.shutdown() (with the parentheses) before you join its thread")
                raise AssertionError(f"stop() had not returned after {PATIENCE + 1:g} s")
            if "error" in outcome:
                error = outcome["error"]
                if isinstance(error, NotImplementedError):
                    raise error
                raise AssertionError(f"stop() raised {type(error).__name__}: {error}{_where(error)}")
            if thread.is_alive():
                raise AssertionError("the thread running serve_forever() is still running: only server.shutdown() "
                                     "makes serve_forever() return; then join the thread")
            if server.socket.fileno() != -1:
                raise AssertionError("the listening socket is still open: call server.server_close() (which also "
                                     "waits for the handler threads)")
            left = [t.name for t in threads_left(before, timeout=0.5) if t is not stopper]
            if left:
                raise AssertionError(f"threads still running after stop(): {left}. Set server.stopping, so that "
                                     "handlers finish, and call server.server_close(), which waits for them")
            try:
                socket.create_connection(address, timeout=1).close()
            except OSError:
                return
            raise AssertionError("the server still accepts connections after stop()")
        finally:
            idle.close()
            server.stopping.set()
            if thread.is_alive():
                threading.Thread(target=server.shutdown, daemon=True).start()
                thread.join(PATIENCE)
            server.server_close()
            stopper.join(PATIENCE)

    return check("stop the server cleanly", test, timeout=9.5)
