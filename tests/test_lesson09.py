"""Unit tests for threadlab.lessons.lesson09 (the GIL): fast, and loose about timing."""

import sys
import threading

import pytest

from threadlab.env import gil_enabled
from threadlab.lessons import lesson09 as L


def test_build_name_matches_env():
    assert L.build_name().startswith(("standard build", "free-threaded build"))
    facts = L.build_facts()
    assert facts["version"] == sys.version.split()[0]


def test_os_threads_are_kernel_threads():
    seen = L.os_threads(2)
    assert len(set(seen["native_ids"])) == 2
    if seen["tasks"] is not None:
        assert set(seen["native_ids"]) <= seen["tasks"]


def test_refcounts_exact_and_updates_lost():
    storm = L.refcount_storm(threads=2, rounds=200)
    assert storm["after"] == storm["before"] and storm["appended"] == storm["expected"]
    race = L.lost_updates(threads=4, per_thread=300)
    assert race["count"] < race["expected"]


def test_workloads_compute_the_right_values():
    assert L.python_work(10) == sum(i * i for i in range(10))
    assert L.sleep_work(0.001) == 0.001
    assert len(L.sha256_work(1)) == 64


def test_running_spans_and_overlap():
    assert L.running_spans([], 0.1) == []
    assert L.running_spans([0.0, 0.05, 0.5, 0.55, 0.6], 0.1) == [(0.0, 0.05), (0.5, 0.6)]
    assert L.overlap([(0, 2), (3, 4)], [(1, 3.5)]) == pytest.approx(1.5)
    assert L.overlap([(0, 1)], [(1, 2)]) == 0


def test_exercise_checks_accept_reference_and_reject_wrong(capsys):
    assert L.check_which_build(L.build_name)
    assert L.check_running_spans(L.running_spans)
    assert not L.check_running_spans(lambda times, gap: [])
    assert not L.check_which_build(lambda: "no idea")
    out = capsys.readouterr().out
    assert "passed" in out and "failed" in out


def test_interleaved_measurement_shape():
    scaling, used, others = L.measure_interleaved(L.sleep_work, [0.01] * 4, [1, 2], None, repeat=1)
    assert [r.workers for r in scaling.rows] == [1, 2]
    assert scaling.speedup(2) > 1.3
    assert set(used) == {1, 2} and others >= 0


def test_trace_threads_cpu_and_io():
    cpu = L.trace_threads("cpu", threads=2, seconds=0.03)
    io = L.trace_threads("io", threads=2, seconds=0.005)
    assert cpu.names() == ["cpu-0", "cpu-1"]
    if gil_enabled():
        assert cpu.running_overlap() < 0.05
    assert io.sleeping_overlap() > 0.3
    with pytest.raises(ValueError):
        L.trace_threads("gpu")


def test_switch_interval_restored():
    before = sys.getswitchinterval()
    turns, quiet = L.run_lengths((0.002,), seconds=0.02)
    assert set(turns) == {0.002} and quiet in (True, False)
    L.io_latency(True, rounds=3, interval=0.001)
    assert sys.getswitchinterval() == before
    assert threading.active_count() == 1 or all(
        not t.name.startswith(("cpu-", "io", "watcher")) for t in threading.enumerate()
    )


def test_progress_during_detects_gil_release():
    released = L.progress_during(L.release_gil_work, bytes(8 * 2**20))
    assert released["chunks"] > 0
    if gil_enabled():
        held = L.progress_during(L.hold_gil_work, 1_000_000)
        assert held["longest_pause"] >= 0.6 * held["duration"]


def test_subinterpreters_detection():
    assert L.subinterpreters_available() == (sys.version_info >= (3, 14))
def test_quietly():
    assert L.quietly(lambda: 5)[0] == 5
