"""Lesson 05: a threaded server.

The 2003/2009 tutorials' letter server in modern Python: clients send one letter at a time,
a thread per client appends it to a shared string under a lock and answers with the number of
letters stored so far. Everything binds 127.0.0.1 on a port the OS picks, every socket operation
has a timeout, and every server can be stopped, leaving no thread and no socket behind.

Protocol (one request, one reply):

- the client sends 1 byte: a letter ``a-z``/``A-Z`` to store, or ``q`` to say goodbye;
- the server answers each letter with 4 bytes, a signed big-endian int: the number of letters
  stored so far, or ``-1`` if the byte was not a letter (garbage is refused, not stored).
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

from threadlab.checks import check, expect_equal, threads_left
from threadlab.plotting import new_figure

HOST = "127.0.0.1"
TIMEOUT = 5.0  #: seconds any client socket operation may take
POLL = 0.05  #: server sockets wake up this often to see whether the server is stopping
REPLY = struct.Struct("!i")  #: the server's answer: letters stored so far, or -1
QUIT = b"q"
REFUSED = -1


# --- shared state -------------------------------------------------------------------------------


class LetterStore:
    """The seed's global string ``v``, with the lock that guards it."""

    def __init__(self):
        self.text = ""
        self.lock = threading.Lock()

    def add(self, letter: str) -> int:
        """Append ``letter``; return how many letters are stored now (read under the same lock)."""
        with self.lock:
            self.text += letter
            return len(self.text)

    def counts(self) -> Counter:
        with self.lock:
            return Counter(self.text)


# --- socket helpers ----------------------------------------------------------------------------


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Receive exactly ``n`` bytes: ``recv`` may return fewer than asked, so loop.

    Raises ConnectionError if the peer closes the connection first.
    """
    chunks = []
    missing = n
    while missing:
        chunk = sock.recv(missing)
        if not chunk:  # b"": the peer closed the connection
            raise ConnectionError(f"connection closed after {n - missing} of {n} bytes")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def serve_client(conn: socket.socket, store: LetterStore, latency: float = 0.0, stopping=None) -> int:
    """Serve one client until it sends ``q``, disconnects, or ``stopping`` is set.

    ``latency`` seconds of artificial work per letter stand for a slow database or disk.
    Returns the number of letters this client stored. Never raises for a client's behaviour.
    """
    stored = 0
    conn.settimeout(POLL)  # recv wakes up regularly, so a stop request is seen within POLL s
    with conn:
        while stopping is None or not stopping.is_set():
            try:
                data = conn.recv(1)
            except TimeoutError:
                continue  # the client is thinking: check `stopping`, then wait again
            except OSError:
                break  # connection reset by the client
            if not data or data == QUIT:  # closed (b"", not "" as in the seeds) or goodbye
                break
            letter = data.decode("latin-1")
            if not (letter.isascii() and letter.isalpha()):
                answer = REFUSED
            else:
                if latency:
                    time.sleep(latency)
                answer = store.add(letter)
                stored += 1
            try:
                conn.settimeout(TIMEOUT)
                conn.sendall(REPLY.pack(answer))
                conn.settimeout(POLL)
            except OSError:
                break  # the client left without reading its answer
    return stored


# --- the hand-written server: one thread per client --------------------------------------------


class ThreadPerClientServer:
    """The seeds' server, modernised: an acceptor thread starts one thread per client.

    With ``threaded=False`` the acceptor serves each client itself, one after another
    (for comparison). Use as a context manager, or call start() and stop().
    """

    def __init__(self, latency: float = 0.0, threaded: bool = True):
        self.store = LetterStore()
        self.latency = latency
        self.threaded = threaded
        self.listener = socket.create_server((HOST, 0))  # port 0: the OS picks a free port
        self.listener.settimeout(POLL)
        self.address = self.listener.getsockname()
        self.stopping = threading.Event()
        self.client_threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.acceptor = threading.Thread(target=self._accept_loop, name="acceptor")

    def start(self):
        self.acceptor.start()
        return self

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if self.threaded:
                name = f"client-{len(self.client_threads) + 1}"
                worker = threading.Thread(target=self._serve, args=(conn,), name=name)
                self.client_threads.append(worker)
                worker.start()
            else:
                self._serve(conn)

    def _serve(self, conn):
        try:
            serve_client(conn, self.store, self.latency, self.stopping)
        except BaseException as exc:  # a bug in the server: kept for the notebook to show
            self.errors.append(exc)

    def stop(self, timeout: float = TIMEOUT) -> list[str]:
        """Stop accepting, ask every client thread to finish, join them all, close the socket.

        Returns the names of threads still alive afterwards (an empty list when all is well).
        """
        self.stopping.set()
        if self.acceptor.is_alive():
            self.acceptor.join(timeout)
        for worker in self.client_threads:
            worker.join(timeout)
        self.listener.close()
        return [t.name for t in [self.acceptor, *self.client_threads] if t.is_alive()]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- clients --------------------------------------------------------------------------------------


def client(address, letters: str, timeout: float = TIMEOUT) -> list[int]:
    """A polite client: send each letter, read each reply, say ``q`` and wait for the server to close."""
    replies = []
    with socket.create_connection(address, timeout=timeout) as sock:
        for ch in letters:
            sock.sendall(ch.encode("latin-1"))
            replies.append(REPLY.unpack(recv_exactly(sock, REPLY.size))[0])
        sock.sendall(QUIT)
        if sock.recv(1) != b"":
            raise ConnectionError("the server sent data after q")
    return replies


def rude_client(address, letters: str, timeout: float = TIMEOUT) -> None:
    """Sends letters without reading any reply, then drops the connection with a reset (RST)."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.sendall(letters.encode("latin-1"))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def garbage_client(address, data: bytes = b"\x00\xff7!\n", timeout: float = TIMEOUT) -> list[int]:
    """Sends bytes that are not letters, one request each; returns the server's replies."""
    return client(address, data.decode("latin-1"), timeout)


def run_clients(address, words: list[str], timeout: float = TIMEOUT * 4) -> list[list[int]]:
    """Run one polite client per word, all at the same time, each in its own thread."""
    results: list = [None] * len(words)
    errors = []

    def one(i):
        try:
            results[i] = client(address, words[i])
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), name=f"client-driver-{i}") for i in range(len(words))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if any(t.is_alive() for t in threads):
        raise RuntimeError("a client did not finish in time")
    if errors:
        raise errors[0]
    return results


def words_for(clients: int, letters: int) -> list[str]:
    """Client i sends ``letters`` copies of its own letter: 'aaa', 'bbb', ... (easy to count)."""
    return [chr(ord("a") + i % 26) * letters for i in range(clients)]


# --- socketserver ---------------------------------------------------------------------------------


class LetterHandler(socketserver.BaseRequestHandler):
    """socketserver calls handle() in a new thread for each connection."""

    def handle(self):
        serve_client(self.request, self.server.store, self.server.latency, self.server.stopping)


class LetterTCPServer(socketserver.ThreadingTCPServer):
    """The same server with the standard library doing the accepting and the threads."""

    daemon_threads = False  # handler threads are joined by server_close() ...
    block_on_close = True  # ... which waits for them (the default, said out loud)

    def __init__(self, latency: float = 0.0):
        super().__init__((HOST, 0), LetterHandler)
        self.store = LetterStore()
        self.latency = latency
        self.stopping = threading.Event()
        self.address = self.server_address  # (host, port) the OS chose

    def shutdown(self):
        """Stop serve_forever() and tell the handlers to finish their clients."""
        self.stopping.set()
        super().shutdown()


def start_socketserver(latency: float = 0.0) -> tuple[LetterTCPServer, threading.Thread]:
    """A LetterTCPServer with serve_forever() running in a thread of its own."""
    server = LetterTCPServer(latency)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL}, name="serve_forever")
    thread.start()
    return server, thread


def stop_socketserver(server: LetterTCPServer, thread: threading.Thread, timeout: float = TIMEOUT) -> bool:
    """shutdown(), server_close(), join: returns True when everything has ended."""
    server.shutdown()  # returns once serve_forever() has left its loop
    server.server_close()  # closes the listening socket and joins the handler threads
    thread.join(timeout)
    return not thread.is_alive() and server.socket.fileno() == -1


def handler_threads() -> list[threading.Thread]:
    """Threads started by socketserver for connections, still alive."""
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


# --- seed problems, shown with a socket pair ---------------------------------------------------------


def recv_after_close(tries: int = 3) -> list[bytes]:
    """What recv(1) returns again and again once the peer has closed: b'' every time, at once."""
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(TIMEOUT)
        a.close()
        return [b.recv(1) for _ in range(tries)]


def recv_of_split_message(size: int = 2000, first_piece: int = 1000) -> tuple[int, int]:
    """Another thread sends ``size`` bytes in two pieces, the second after our first recv.

    That is what a busy network or a big message does to a reply. Returns (bytes the first
    ``recv(size)`` got, bytes after looping with :func:`recv_exactly`).
    """
    a, b = socket.socketpair()
    first_read = threading.Event()
    with a, b:
        a.settimeout(TIMEOUT)
        b.settimeout(TIMEOUT)

        def send():
            a.sendall(b"x" * first_piece)
            first_read.wait(TIMEOUT)  # the rest is "still on its way"
            a.sendall(b"x" * (size - first_piece))

        sender = threading.Thread(target=send)
        sender.start()
        try:
            first = b.recv(size)
            first_read.set()
            rest = recv_exactly(b, size - len(first))
        finally:
            first_read.set()
            sender.join(TIMEOUT)
    return len(first), len(first) + len(rest)


def recv_on_closed_socket() -> str:
    """The 2009 threaded server closes the client socket inside its loop: the next recv fails."""
    a, b = socket.socketpair()
    with a:
        b.close()
        try:
            b.recv(1)
        except OSError as exc:
            return type(exc).__name__
    return "no error"


# --- the experiment -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    clients: int
    letters: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.clients * self.letters / self.seconds


def timed_clients(server, clients: int, letters: int) -> Run:
    """Time ``clients`` concurrent clients of ``letters`` letters each against a running server."""
    words = words_for(clients, letters)
    start = time.perf_counter()
    run_clients(server.address, words)
    return Run(clients, letters, time.perf_counter() - start)


class Curve(dict):
    """{clients: (threaded Run, one-at-a-time Run)} plus the settings."""

    letters = 0
    latency = 0.0


def throughput_curve(clients: int, letters: int = 3, latency: float = 0.02) -> Curve:
    """Letters per second for 1..clients concurrent clients, threaded and one-at-a-time server."""
    curve = Curve()
    curve.letters, curve.latency = letters, latency
    with ThreadPerClientServer(latency, threaded=True) as threaded, ThreadPerClientServer(
        latency, threaded=False
    ) as sequential:
        for n in range(1, clients + 1):
            curve[n] = (timed_clients(threaded, n, letters), timed_clients(sequential, n, letters))
    return curve


def plot_curve(curve: Curve):
    fig, ax = new_figure()
    xs = list(curve)
    ideal = [n * curve[1][0].per_second for n in xs]
    ax.plot(xs, ideal, "--", color="grey", label="ideal (x clients)")
    ax.plot(xs, [curve[n][0].per_second for n in xs], "o-", label="thread per client")
    ax.plot(xs, [curve[n][1].per_second for n in xs], "s-", label="one client at a time")
    ax.set(
        xlabel="concurrent clients",
        ylabel="letters per second",
        title=f"{curve.letters} letters per client, {curve.latency * 1000:.0f} ms work per letter",
        ylim=(0, None),
    )
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def summary_curve(curve: Curve) -> str:
    n = max(curve)
    threaded, sequential = curve[n]
    return (
        f"{n} clients: {threaded.per_second:.0f} letters/s with a thread per client, "
        f"{sequential.per_second:.0f} letters/s one at a time"
    )


# --- exercises ----------------------------------------------------------------------------------------


def check_recv_exactly(fn):
    """Exercise 5.1: ``fn(sock, n)`` returns exactly n bytes and raises ConnectionError on early close."""

    def test():
        a, b = socket.socketpair()
        with a, b:
            a.settimeout(TIMEOUT)
            b.settimeout(TIMEOUT)

            def dribble():
                try:
                    for piece in (b"he", b"ll", b"o, ", b"world"):
                        a.sendall(piece)
                        time.sleep(0.02)
                except OSError:
                    pass  # the reader gave up and the socket was closed

            sender = threading.Thread(target=dribble)
            sender.start()
            try:
                got = fn(b, 12)
            finally:
                sender.join(TIMEOUT)  # never leave the sender behind, whatever fn did
            expect_equal(got, b"hello, world", "fn(sock, 12) with the data arriving in 4 pieces")
            a.sendall(b"abc")
            a.close()
            try:
                short = fn(b, 5)
            except ConnectionError:
                return
            raise AssertionError(f"the peer closed after 3 of 5 bytes: expected ConnectionError, got {short!r}")

    return check("recv_exactly", test, timeout=15)


def check_stop(stop):
    """Exercise 5.2: ``stop(server, thread)`` leaves no thread and no open socket, even with a client connected."""

    def test():
        before = set(threading.enumerate())
        server, thread = start_socketserver()
        address = server.address
        idle = socket.create_connection(address, timeout=TIMEOUT)  # a client that says nothing
        try:
            expect_equal(client(address, "hi"), [1, 2], "replies to a client before stop")
            stop(server, thread)
            left = [t.name for t in threads_left(before)]
            if thread.is_alive():
                raise AssertionError("the serve_forever thread is still running: shutdown() and join() it")
            if server.socket.fileno() != -1:
                raise AssertionError("the listening socket is still open: call server_close()")
            if left:
                raise AssertionError(f"threads left behind: {left}")
        finally:
            idle.close()
            if thread.is_alive():  # clean up after a wrong answer
                stop_socketserver(server, thread)
            elif server.socket.fileno() != -1:
                server.server_close()
        try:
            socket.create_connection(address, timeout=1).close()
        except OSError:
            return
        raise AssertionError("the server still accepts connections after stop")

    return check("stop the server cleanly", test, timeout=20)
