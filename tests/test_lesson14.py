"""Unit tests of threadlab.lessons.lesson14: scripted pdb, log capture, stack dumps, traced locks, hooks."""

import logging
import threading
import time

import pytest

from threadlab.lessons import lesson14
from threadlab.lessons.lesson14 import LockMonitor, find_cycle

pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_scripted_pdb_in_a_thread():
    commands = "p numbers\np total\np threading.current_thread().name\nwhere\ncontinue\n"
    debugger = lesson14.scripted_pdb(commands)

    def average(numbers):
        total = sum(numbers)
        debugger.set_trace()
        return total / len(numbers)

    thread = lesson14.debug_in_thread(average, ([3, 4, 5],), name="averager")
    assert not thread.is_alive()
    replies = dict(lesson14.pdb_replies(debugger.stdout.getvalue(), commands))
    assert replies["p numbers"] == "[3, 4, 5]"
    assert replies["p total"] == "12"
    assert replies["p threading.current_thread().name"] == "'averager'"
    assert "_bootstrap_inner" in replies["where"] and "average()" in replies["where"]


def test_standard_pdb_class_is_the_stdlib_one():
    assert lesson14.standard_pdb_class().__module__ == "pdb"


def test_pdb_replies_pairs_commands_with_replies():
    transcript = "> f.py(1)x()\n-> y\n(Pdb) 1\n(Pdb) *** NameError\n(Pdb) "
    assert lesson14.pdb_replies(transcript, "p a\np b\ncontinue\n") == [
        ("p a", "1"),
        ("p b", "*** NameError"),
        ("continue", ""),
    ]


def test_python_m_pdb_does_not_stop_in_threads():
    seen = lesson14.labels_seen_under_pdb_cli()
    assert seen and seen[0] == "main"
    import sys

    if sys.version_info < (3, 14):
        assert "thread" not in seen


def test_captured_log_has_thread_names_and_ids():
    log = logging.getLogger("threadlab.lesson14")
    with lesson14.captured_log() as handler:
        log.info("hello %d", 1)
        worker = threading.Thread(target=log.info, args=("from worker",), name="w-1")
        worker.start()
        worker.join(5)
    log.info("not captured")
    assert handler.lines == [
        f"MainThread {threading.main_thread().ident} INFO hello 1",
        f"w-1 {worker.ident} INFO from worker",
    ]


def test_print_is_several_writes_logging_one():
    recorder = lesson14.WriteRecorder()
    print("a", "b", file=recorder)
    assert recorder.writes == ["a", " ", "b", "\n"]
    recorder = lesson14.WriteRecorder()
    handler = logging.StreamHandler(recorder)
    handler.setFormatter(logging.Formatter(lesson14.THREAD_FORMAT))
    handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "one %s", ("record",), None))
    assert len(recorder.writes) == 1 and recorder.writes[0].endswith("INFO one record\n")


def test_stack_dumps_show_a_waiting_thread():
    release = threading.Event()

    def wait_here():
        release.wait(10)

    t = threading.Thread(target=wait_here, name="waiting-one")
    t.start()
    try:
        time.sleep(0.05)
        stacks = lesson14.thread_stacks()
        assert stacks["waiting-one"][-3:-1] == ["wait_here", "wait"]
        assert "--- waiting-one (id" in lesson14.format_thread_stacks()
        dump = lesson14.faulthandler_dump()
        assert t.ident in lesson14.faulthandler_idents(dump)
        assert threading.get_ident() in lesson14.faulthandler_idents(dump)
    finally:
        release.set()
        t.join(5)


def test_watchdog_dump():
    start = time.perf_counter()
    dump = lesson14.watchdog_dump(after=0.1)
    assert dump.startswith("Timeout (0:00:00.100000)!") and "in stuck_here" in dump
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({}, None),
        ({"a": "b"}, None),
        ({"b": "a", "a": "b"}, ["a", "b"]),
        ({"z": "y", "y": "x", "x": "z"}, ["x", "z", "y"]),
        ({"t": "a", "a": "a"}, ["a"]),
        ({"p": "q", "s": "t", "t": "s"}, ["s", "t"]),
    ],
)
def test_find_cycle(graph, expected):
    assert find_cycle(graph) == expected


def test_traced_lock_bookkeeping():
    monitor = LockMonitor()
    a = monitor.lock("A")
    assert repr(a) == "<TracedLock A free>"
    with a:
        assert monitor.owners == {"A": "MainThread"} and a.locked()
        assert repr(a) == "<TracedLock A held by MainThread>"
        assert not a.acquire(blocking=False)
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("ok", a.acquire(timeout=0.2)), name="waiter")
        t.start()
        deadline = time.monotonic() + 5
        while "waiter" not in monitor.waiting and time.monotonic() < deadline:
            time.sleep(0.001)
        assert monitor.wait_for_graph() == {"waiter": "MainThread"}
        assert monitor.report() == ["waiter holds nothing; waits for A, held by MainThread"]
        t.join(5)
        assert got == {"ok": False} and monitor.waiting == {}
    assert monitor.owners == {} and not a.locked()


def test_unordered_transfers_deadlock_is_found_and_bounded():
    monitor = LockMonitor()
    threads, results = lesson14.start_transfers(monitor, ordered=False, patience=(0.5, 5.0))
    assert monitor.wait_for_cycle(timeout=0.45) == ["transfer-1", "transfer-2"]
    assert len(monitor.report()) == 2
    for t in threads:
        t.join(10)
    assert results == {"transfer-1": "gave up", "transfer-2": "done"}
    assert monitor.owners == {} and monitor.waiting == {}


def test_ordered_transfers_never_deadlock():
    for _ in range(5):
        monitor = LockMonitor()
        threads, results = lesson14.start_transfers(monitor, ordered=True, patience=(5.0, 5.0))
        for t in threads:
            t.join(10)
        assert results == {"transfer-1": "done", "transfer-2": "done"}


def test_collect_thread_errors_restores_the_hook():
    before = threading.excepthook
    with lesson14.collect_thread_errors() as errors:
        t = threading.Thread(target=lambda: 1 / 0, name="div")
        t.start()
        t.join(5)
    assert [(name, type(exc)) for name, exc in errors] == [("div", ZeroDivisionError)]
    assert threading.excepthook is before


def test_collect_unraisable():
    import sys

    before = sys.unraisablehook
    with lesson14.collect_unraisable() as caught:
        obj = lesson14.RaisesInDel()
        del obj
    assert len(caught) == 1 and isinstance(caught[0], RuntimeError)
    assert sys.unraisablehook is before


def test_check_debugger_script():
    assert lesson14.check_debugger_script("up\np secret\ncontinue\n")
    assert not lesson14.check_debugger_script("p secret\ncontinue\n")
    assert not lesson14.check_debugger_script("up\np secret\n")  # would quit with BdbQuit
    assert lesson14.check_debugger_script(...).status == "not attempted"


def test_check_find_cycle():
    assert lesson14.check_find_cycle(find_cycle)
    assert not lesson14.check_find_cycle(lambda graph: None)
    assert not lesson14.check_find_cycle(lambda graph: list(graph) or None)
