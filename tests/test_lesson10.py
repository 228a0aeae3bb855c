"""Unit tests of threadlab.lessons.lesson10 (multiprocessing). Each runs in well under a second or two."""

import multiprocessing
import os
import sys
import time

import pytest

from threadlab.lessons import lesson10
from threadlab.measure import Row, amdahl
from threadlab.workers import count_primes


def test_expected_default_start_method():
    assert lesson10.expected_default_start_method("linux", (3, 11)) == "fork"
    assert lesson10.expected_default_start_method("linux", (3, 13)) == "fork"
    assert lesson10.expected_default_start_method("linux", (3, 14)) == "forkserver"
    assert lesson10.expected_default_start_method("darwin", (3, 12)) == "spawn"
    assert lesson10.expected_default_start_method("win32", (3, 14)) == "spawn"
    assert lesson10.expected_default_start_method() == multiprocessing.get_context().get_start_method()


def test_segments_cover_the_range_exactly():
    parts = lesson10.segments(0, 100, 7)
    assert len(parts) == 7 and parts[0][0] == 0 and parts[-1][1] == 100
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert sum(count_primes(s) for s in lesson10.segments(0, 10_000, 5)) == 1229
    assert lesson10.segments(0, 2, 4) == [(0, 0), (0, 1), (1, 1), (1, 2)]
    with pytest.raises(ValueError):
        lesson10.segments(0, 10, 0)


def test_start_methods_tour_and_start_times():
    lesson10.MARK = "changed"
    try:
        reports = lesson10.start_methods_tour(["spawn"])
    finally:
        lesson10.MARK = "as imported"
    assert reports["spawn"]["mark"] == "as imported" and reports["spawn"]["exitcode"] == 0
    assert reports["spawn"]["pid"] != os.getpid()
    times = lesson10.start_times(["spawn"], count=1)
    assert len(times["spawn"]) == 1 and times["spawn"][0] > 0


def test_try_pool_succeeds_with_a_module_function_and_breaks_with_a_main_one(monkeypatch):
    ok = lesson10.try_pool(lesson10.square, range(4), "spawn")
    assert ok.ok and ok.value == [0, 1, 4, 9] and "ok" in str(ok)

    def lost_in_main(x):
        return x

    lost_in_main.__module__ = "__main__"
    lost_in_main.__qualname__ = "lesson10_test_function_only_the_parent_has"
    monkeypatch.setattr(sys.modules["__main__"], lost_in_main.__qualname__, lost_in_main, raising=False)
    broken = lesson10.try_pool(lost_in_main, range(2), "spawn")
    assert not broken.ok and broken.error == "BrokenProcessPool"
    assert "lesson10_test_function_only_the_parent_has" in broken.child_said
    assert multiprocessing.active_children() == []


def test_run_script_times_out_and_kills_the_group():
    slow = lesson10.run_script("import time; time.sleep(60)", timeout=0.5)
    assert not slow.finished and slow.survivors == 0 and slow.seconds < 20
    quick = lesson10.run_script("print('hello'); import sys; print('oops: Error: x', file=sys.stderr)", timeout=30)
    assert quick.finished and quick.returncode == 0 and quick.stdout == "hello\n"
    assert quick.error_lines() == ["oops: Error: x"]


def test_pool_helpers():
    assert lesson10.pool_default_chunksize(5000, 2) == 625
    assert lesson10.pool_default_chunksize(10, 4) == 1
    assert lesson10.pool_default_chunksize(16, 2) == 2
    with multiprocessing.Pool(2) as pool:
        assert lesson10.take(pool.imap(lesson10.nap, [0.05, 0.0]), 2) == [0.05, 0.0]
        times = lesson10.time_chunksizes(pool, 200, chunksizes=(1, None))
    assert set(times) == {1, None} and all(t > 0 for t in times.values())


def test_queue_and_pipe_workers():
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=lesson10.produce, args=(queue, 4))
    child.start()
    assert list(iter(lambda: queue.get(timeout=30), None)) == [0, 1, 4, 9]
    child.join(30)
    parent_end, child_end = multiprocessing.Pipe()
    child = multiprocessing.Process(target=lesson10.shout, args=(child_end,))
    child.start()
    assert lesson10.ask(parent_end, "abc") == "ABC"
    parent_end.send(None)
    child.join(30)
    assert child.exitcode == 0


def test_ask_times_out():
    parent_end, child_end = multiprocessing.Pipe()
    with pytest.raises(TimeoutError):
        lesson10.ask(parent_end, "anyone?", timeout=0.05)


def test_lost_updates_with_and_without_the_lock():
    assert lesson10.lost_updates("value", locked=True, processes=2, increments=500, runs=1) == [0]
    assert lesson10.lost_updates("array", locked=True, processes=2, increments=500, runs=1) == [0]
    # two processes on a multi-core machine lose updates almost every time; 2 runs of 20 000
    if os.cpu_count() and os.cpu_count() >= 2:
        assert sum(lesson10.lost_updates("value", locked=False, processes=4, increments=20_000, runs=2)) > 0


def test_fill_squares_and_shared_memory():
    from multiprocessing import shared_memory

    import numpy as np

    array = multiprocessing.Array("q", 10, lock=False)
    lesson10.fill_squares(array, 2, 5)
    assert array[:6] == [0, 0, 4, 9, 16, 0]
    block = shared_memory.SharedMemory(create=True, size=8 * 6)
    data = np.ndarray((6,), dtype=np.int64, buffer=block.buf)
    data[:] = [1, 2, 3, 4, 5, 6]
    lesson10.square_in_place(block.name, 6, 1, 3)
    assert data.tolist() == [1, 4, 9, 4, 5, 6]
    del data
    block.close()
    assert not lesson10.is_unlinked(block.name)
    block.unlink()
    assert lesson10.is_unlinked(block.name)


def test_register_and_time_mapping_with_a_manager():
    with multiprocessing.Manager() as manager:
        seen, order = manager.dict(), manager.list()
        lesson10.register(seen, order, 3)
        assert dict(seen) == {3: os.getpid()} and list(order) == [3]
        assert lesson10.time_mapping(seen, 50) > lesson10.time_mapping({}, 50)


def test_tally_server_clients_and_a_wrong_key():
    key = b"test key"
    server = lesson10.start_tally_server(key)
    try:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        child = multiprocessing.Process(target=lesson10.tally_client, args=(server.address, key, "child", 5))
        child.start()
        program = lesson10.run_tally_program(server.address, key, "program", 3)
        child.join(60)
        assert child.exitcode == 0 and program.returncode == 0, program.stderr
        assert lesson10.connect_tally(server.address, key).snapshot() == {"child": 5, "program": 3}
        with pytest.raises(multiprocessing.AuthenticationError):
            lesson10.connect_tally(server.address, b"wrong")
    finally:
        server.shutdown()
    assert lesson10.main(["nonsense"]) == 2


def test_tally_counts_under_threads():
    tally = lesson10.Tally()
    import threading

    threads = [threading.Thread(target=lambda: [tally.add("x") for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tally.snapshot() == {"x": 4000}


def test_time_copies():
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        alone, together = lesson10.time_copies(pool, (0, 5000), 2)
    assert alone > 0 and together > 0


def test_time_copies_keeps_the_best_of_its_tries(monkeypatch):
    """One burst of load (a slow first try) must not shrink the measured capacity."""
    delays = iter([0.2, 0.01, 0.01])
    monkeypatch.setattr(lesson10, "count_primes", lambda job: time.sleep(next(delays)))

    class Pool:
        slow = iter([0.3, 0.01, 0.02])

        def map(self, fn, jobs):
            time.sleep(next(self.slow))
            return [0 for _ in jobs]

    alone, together = lesson10.time_copies(Pool(), (0, 10), 2, repeat=3)
    assert 0.01 <= alone < 0.1 and 0.01 <= together < 0.1


def test_parallel_fraction_estimates():
    rows = [Row(n, 1 / amdahl(0.7, min(n, 2)), amdahl(0.7, min(n, 2)), n) for n in (1, 2, 3, 4)]
    assert lesson10.estimate_parallel_fraction(rows, 2) == pytest.approx(0.7, abs=0.002)
    assert lesson10.estimate_parallel_fraction(rows[:1], 2) is None
    slower = [Row(n, 1, 1 / ((1 - 0.8) + 0.8 / 1.5), n) for n in (1, 2)]   # 2 processes got 1.5 cores
    assert lesson10.estimate_parallel_fraction(slower, 2, {2: 1.5}) == pytest.approx(0.8, abs=0.002)
    assert lesson10.estimate_parallel_fraction(slower, 2, {2: 1.0}) is None
    assert lesson10.parallel_fraction_from(amdahl(0.9, 4), 4) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        lesson10.parallel_fraction_from(1.0, 1)


def test_race_and_amdahl_run_small():
    race = lesson10.race_threads_processes(n=20_000, parts=4, workers=2, repeat=1)
    assert race.count == 2262 and race.sequential > 0 and "processes" in race.table()
    assert race.capacity > 0 and race.expected() == pytest.approx(0.5 * race.capacity)
    assert set(race.cores_used) == {"sequential", "threads", "processes"}
    lesson10.plot_race(race)
    run = lesson10.amdahl_run(2, serial=50, repeat=1, cores=2, span=(1_000_000, 1_012_000))
    assert [r.workers for r in run.scaling.rows] == [1, 2] and run.count == count_primes((1_000_000, 1_012_000))
    assert run.elsewhere >= 0 and set(run.capacity) == {2} and run.expected(1) == 1.0
    assert run.expected(2) == pytest.approx(0.5 * max(1.0, run.capacity[2])) and set(run.cores_used) == {1, 2}
    assert "2 processes" in lesson10.amdahl_summary(run)
    assert len(lesson10.plot_amdahl(run).axes) == 2
    single = lesson10.AmdahlRun(run.scaling, 0, None, 2)
    assert lesson10.plot_amdahl(single) is not None and "fitted" not in lesson10.amdahl_summary(single)


def _count_in_processes(n, processes):
    with multiprocessing.Pool(processes) as pool:
        return sum(pool.map(count_primes, lesson10.segments(0, n, 2 * processes)))


def _squares_right(values):
    from multiprocessing import shared_memory

    import numpy as np

    block = shared_memory.SharedMemory(create=True, size=8 * len(values))
    data = np.ndarray((len(values),), dtype=np.int64, buffer=block.buf)
    data[:] = values
    child = multiprocessing.Process(target=lesson10.square_in_place, args=(block.name, len(values)))
    child.start()
    child.join(60)
    squares = data.tolist()
    del data
    block.close()
    block.unlink()
    return squares, block.name


def _squares_leaky(values):
    squares, _ = _squares_right(values)
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(create=True, size=8)   # never unlinked
    block.close()
    return squares, block.name


def test_exercise_checks(capsys):
    def todo(*args):
        raise NotImplementedError

    assert lesson10.check_parallel_count(_count_in_processes)
    assert lesson10.check_parallel_count(todo).status == "not attempted"
    assert not lesson10.check_parallel_count(lambda n, p: 0)
    assert lesson10.check_shared_squares(_squares_right)
    leaky = lesson10.check_shared_squares(_squares_leaky)
    assert not leaky and "unlink" in leaky.message
    assert not lesson10.check_shared_squares(lambda values: values)
    assert lesson10.check_parallel_fraction(lambda s, n: (1 - 1 / s) / (1 - 1 / n))
    assert not lesson10.check_parallel_fraction(lambda s, n: 1 / s)
    assert "Exercise 10.3" in capsys.readouterr().out
