"""Unit tests for threadlab.lessons.lesson05 (a threaded server)."""

import socket
import threading
import time
from collections import Counter

import pytest

from threadlab.lessons import lesson05 as L


@pytest.fixture(autouse=True)
def no_thread_left():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not set(threading.enumerate()) - before


def test_letter_store_counts_under_lock():
    store = L.LetterStore()
    assert [store.add(c) for c in "abca"] == [1, 2, 3, 4]
    assert store.counts() == Counter("abca")


def test_recv_exactly_joins_pieces_and_detects_close():
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(2)
        a.sendall(b"ab")
        a.sendall(b"cd")
        assert L.recv_exactly(b, 3) == b"abc"
        a.close()
        with pytest.raises(ConnectionError, match="1 of 2"):
            L.recv_exactly(b, 2)


def test_serve_client_stores_refuses_and_quits():
    a, b = socket.socketpair()
    store = L.LetterStore()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("n", L.serve_client(b, store)))
    t.start()
    with a:
        a.settimeout(2)
        replies = []
        for byte in (b"x", b"1", b"y"):
            a.sendall(byte)
            replies.append(L.REPLY.unpack(L.recv_exactly(a, 4))[0])
        a.sendall(L.QUIT)
        assert a.recv(1) == b""
    t.join(2)
    assert replies == [1, L.REFUSED, 2] and result["n"] == 2 and store.text == "xy"


def test_serve_client_stops_when_asked():
    a, b = socket.socketpair()
    stopping = threading.Event()
    t = threading.Thread(target=L.serve_client, args=(b, L.LetterStore(), 0.0, stopping))
    t.start()
    stopping.set()
    t.join(2)
    a.close()
    assert not t.is_alive()


def test_thread_per_client_server_accounts_for_every_letter():
    with L.ThreadPerClientServer() as server:
        assert server.address[0] == "127.0.0.1" and server.address[1] > 0
        words = L.words_for(5, 30)
        replies = L.run_clients(server.address, words)
        L.rude_client(server.address, "zz")
        assert L.garbage_client(server.address, b"\x00!") == [L.REFUSED, L.REFUSED]
        assert L.client(server.address, "QR")[-1] >= 152
        counts = server.store.counts()
    assert server.stop() == []
    assert all(counts[w[0]] == 30 for w in words) and counts["z"] <= 2
    assert sorted(n for r in replies for n in r) == list(range(1, 151))
    assert server.errors == [] and server.listener.fileno() == -1


def test_one_at_a_time_server_also_works():
    with L.ThreadPerClientServer(threaded=False) as server:
        L.run_clients(server.address, ["ab", "cd"])
        assert server.client_threads == []
    assert server.store.counts() == Counter("abcd")


def test_socketserver_start_stop_leaves_nothing():
    server, thread = L.start_socketserver()
    idle = socket.create_connection(server.address, timeout=2)
    assert L.run_clients(server.address, ["hey"]) == [[1, 2, 3]]
    assert L.stop_socketserver(server, thread)
    idle.close()
    assert L.handler_threads() == []
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=1)


def test_run_clients_reraises_client_errors():
    listener = socket.create_server((L.HOST, 0))
    address = listener.getsockname()
    listener.close()
    with pytest.raises(OSError):
        L.run_clients(address, ["a"])


def test_seed_problem_helpers():
    assert L.recv_after_close(2) == [b"", b""]
    assert L.recv_of_split_message(300, 100) == (100, 300)
    assert L.recv_on_closed_socket() == "OSError"


def test_throughput_curve_plot_and_summary():
    curve = L.throughput_curve(3, letters=2, latency=0.02)
    assert sorted(curve) == [1, 2, 3] and curve.letters == 2
    threaded, sequential = curve[3]
    assert threaded.per_second > 1.5 * curve[1][0].per_second
    assert sequential.per_second < 1.5 * curve[1][1].per_second
    assert L.plot_curve(curve).axes and "3 clients" in L.summary_curve(curve)


def test_check_recv_exactly():
    assert L.check_recv_exactly(L.recv_exactly)
    assert L.check_recv_exactly(lambda s, n: s.recv(n)).status == "failed"

    def no_eof_check(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return data
            data += chunk
        return data

    assert L.check_recv_exactly(no_eof_check).status == "failed"


def test_check_stop():
    def good(server, thread):
        server.shutdown()
        server.server_close()
        thread.join(5)

    def no_close(server, thread):
        server.shutdown()
        thread.join(5)

    def placeholder(server, thread):
        raise NotImplementedError

    assert L.check_stop(good)
    assert "server_close" in L.check_stop(no_close).message
    assert L.check_stop(placeholder).status == "not attempted"
