"""The threaded-server exercises' checks (threadlab.checks.servers): right answers pass, the usual wrong
ones fail with a message that names the missing step. The full set of wrong answers is in
mutants/lesson05.py (``python3 ci/course.py mutants 05``)."""

import threading

import pytest

from threadlab.checks.servers import check_serve, check_stop


@pytest.fixture(autouse=True)
def _every_test_leaves_no_thread(no_leftover_threads):
    """Every check here must end or join the threads it started (tests/conftest.py)."""


def serve(listener, handle, stopping, join=True, threaded=True):
    listener.settimeout(0.05)
    clients = []
    while not stopping.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        if not threaded:
            handle(conn)
            continue
        worker = threading.Thread(target=handle, args=(conn,))
        worker.start()
        clients.append(worker)
    for worker in clients if join else []:
        worker.join(timeout=5)


def test_check_serve():
    assert check_serve(serve)
    assert "ran in the thread that runs serve()" in check_serve(lambda *a: serve(*a, threaded=False)).message
    assert "join each of them" in check_serve(lambda *a: serve(*a, join=False)).message

    def placeholder(listener, handle, stopping):
        raise NotImplementedError

    assert check_serve(placeholder).status == "not attempted"


def stop(server, thread, tell_handlers=True, close=True):
    if tell_handlers:
        server.stopping.set()
    server.shutdown()
    if close:
        server.server_close()
    thread.join(timeout=5)


def test_check_stop():
    assert check_stop(stop)
    assert "server_close()" in check_stop(lambda s, t: stop(s, t, close=False)).message
    verdict = check_stop(lambda s, t: stop(s, t, tell_handlers=False))
    assert verdict.status == "failed" and "Set server.stopping first" in verdict.message
