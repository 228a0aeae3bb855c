"""Lab 5 (multiprocessing): the helpers of threadlab.labs.lab5, the blank learner notebook, wrong answers.

The notebook tests run the cells in one Jupyter kernel (nbclient) inside a temporary folder, so the
module file that exercise 1 writes never lands in the repository.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import textwrap
import time
from pathlib import Path

import pytest

from threadlab.labs import lab5
from threadlab.labs.notebooks import (
    LabKernel,
    assert_blank_exercises,
    cells_by_id,
    keep_only_source,
    lab_paths,
    replace_solution,
    verdict_lines,
)

LAB = "lab5-multiprocessing"
SOLUTION, BLANK = lab_paths(LAB)


# --- helpers of threadlab.labs.lab5 -------------------------------------------------------------


def test_reference_counts_match_known_pi():
    for n, expected in lab5.PI.items():
        assert lab5.primes_below(n) == expected
    assert lab5.primes_below(lab5.SPEED_N) == lab5.SPEED_COUNT
    assert [lab5.primes_between(lo, hi) for lo, hi in [(0, 0), (2, 3), (24, 30), (10, 5)]] == [0, 1, 1, 0]


@pytest.mark.parametrize(
    "got, problem",
    [
        ([(0, 3), (3, 6), (6, 10)], None),
        ([(0, 0), (0, 1), (1, 1), (1, 2), (2, 3)], None),  # split(0, 3, 5): empty segments are fine
        ([(0, 4), (3, 6), (6, 10)], "counted twice"),
        ([(0, 3), (4, 6), (6, 10)], "never counted"),
        ([(0, 3), (3, 6), (6, 9)], "must end at 10"),
        ([(1, 3), (3, 6), (6, 10)], "must start at 0"),
        ([(0, 1), (1, 2), (2, 10)], "differ by more than 1"),
        ([(0, 5), (5, 10)], "expected 3 segments"),
        ([[0, 3.0], (3, 6), (6, 10)], "pair of ints"),
        ("0-10", "list of (lo, hi) pairs"),
    ],
)
def test_segment_problems(got, problem):
    lo, hi, parts = (0, 3, 5) if len(got) == 5 else (0, 10, 3)
    found = lab5.segment_problems(got, lo, hi, parts)
    if problem is None:
        assert found == []
        lab5.expect_split(got, lo, hi, parts)
    else:
        assert found and problem in found[0], found
        with pytest.raises(AssertionError, match="Hint"):
            lab5.expect_split(got, lo, hi, parts)


def write_module(folder: Path, body: str, name: str = "primes_worker") -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


GOOD_MODULE = """
    import math

    def count_primes_in(segment):
        lo, hi = segment
        return sum(1 for n in range(max(lo, 2), hi) if all(n % d for d in range(2, math.isqrt(n) + 1)))
"""


def test_fresh_import_rereads_an_edited_module(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    with pytest.raises(NotImplementedError, match="%%writefile"):
        lab5.fresh_import("lab5_probe")
    write_module(tmp_path, "VALUE = 1\n", "lab5_probe")
    first = lab5.fresh_import("lab5_probe")
    assert first.VALUE == 1
    write_module(tmp_path, "VALUE = 2\n", "lab5_probe")  # same second, same size: a stale .pyc would say 1
    second = lab5.fresh_import("lab5_probe")
    assert second is first and first.VALUE == 2  # reloaded in place: old references see the new code
    __import__("sys").modules.pop("lab5_probe", None)


def test_worker_function_explains_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, "def count_primes(segment):\n    return 0\n", "lab5_missing")
    with pytest.raises(AssertionError, match="defines no function count_primes_in"):
        lab5.worker_function("lab5_missing")
    write_module(tmp_path, "from threadlab.workers import count_primes as count_primes_in\n", "lab5_borrowed")
    with pytest.raises(AssertionError, match="write it in the module"):
        lab5.worker_function("lab5_borrowed")
    write_module(tmp_path, "raise NotImplementedError()\n", "lab5_blank")
    with pytest.raises(NotImplementedError):
        lab5.worker_function("lab5_blank")


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_run_in_pool(tmp_path, monkeypatch, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} on this platform")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    name = f"lab5_good_{method}"
    write_module(tmp_path, GOOD_MODULE, name)
    assert lab5.run_in_pool(method, name, "count_primes_in", [(0, 100), (0, 1000)]) == [25, 168]
    assert multiprocessing.active_children() == []


def test_run_in_pool_reports_a_module_that_only_works_in_the_notebook(tmp_path, monkeypatch):
    """A module that imports from __main__ works in the parent, but a spawned worker cannot import it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    import __main__

    monkeypatch.setattr(__main__, "lab5_helper", lambda segment: 0, raising=False)
    write_module(tmp_path, "from __main__ import lab5_helper\n\ndef count_primes_in(segment):\n"
                           "    return lab5_helper(segment)\n", "lab5_needs_main")
    start = time.perf_counter()
    with pytest.raises(AssertionError, match="must import on its own"):
        lab5.run_in_pool("spawn", "lab5_needs_main", "count_primes_in", [(0, 100)])
    assert time.perf_counter() - start < 30  # reported, not hung
    assert multiprocessing.active_children() == []


def test_run_in_pool_stops_a_worker_that_is_too_slow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, "import time\n\ndef count_primes_in(segment):\n    time.sleep(60)\n", "lab5_slow")
    start = time.perf_counter()
    with pytest.raises(AssertionError, match="took more than"):
        lab5.run_in_pool("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn",
                         "lab5_slow", "count_primes_in", [(0, 10)], timeout=1.0)
    assert time.perf_counter() - start < 20
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []


def square_in_main(x):
    return x * x


square_in_main.__module__ = "__main__"  # as if defined in a notebook cell


def test_refuse_notebook_functions_turns_a_hang_into_an_error():
    from multiprocessing.reduction import ForkingPickler

    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with lab5.refuse_notebook_functions(), ctx.Pool(1) as pool:
        with pytest.raises(pickle.PicklingError, match="defined in the notebook"):
            pool.map(square_in_main, range(3))
        assert pool.map(abs, [-1, 2]) == [1, 2]  # functions from modules still travel
    assert time.perf_counter() - start < 30
    assert "reducer_override" not in ForkingPickler.__dict__  # restored


def test_speedup_is_reported_not_judged():
    def run(cores, processes=2, capacity=1.9, speedup=1.8):
        return lab5.Speedup(lab5.SPEED_COUNT, speedup, 1.0, processes, 16, cores, capacity)

    assert not hasattr(lab5, "BUSY") and not hasattr(lab5.Speedup, "required")
    assert run(2).ideal == 2.0 and run(3, processes=3, capacity=3).ideal == pytest.approx(16 / 6)
    assert 0.85 < run(2).parallel_fraction < 1.0 and "Amdahl" in run(2).report()
    assert "more than the independent copies" in run(2, capacity=1.2, speedup=1.9).report()
    assert "no parallel speedup is possible" in run(1, processes=1, capacity=1.0, speedup=1.0).report()
    assert "no core to spare" in run(2, capacity=1.0, speedup=1.0).report()
    for report in (run(2).report(), run(2, speedup=0.8).report()):
        assert "a measurement" in report and "required" not in report and "judged" not in report


def test_measure_speedup_rejects_wrong_shapes():
    with pytest.raises(AssertionError, match=r"\(count, sequential_seconds, parallel_seconds\)"):
        lab5.measure_speedup(lambda n, p, parts: 1.5, processes=2)
    with pytest.raises(AssertionError, match="positive floats"):
        lab5.measure_speedup(lambda n, p, parts: (lab5.SPEED_COUNT, 1, 0.5), processes=2)


# --- the notebooks, in one kernel ---------------------------------------------------------------


def test_blank_lab_fails_every_check_quickly_as_not_attempted(tmp_path):
    if not BLANK.exists():
        pytest.skip("labs/ not generated yet")
    cells = cells_by_id(BLANK)
    with LabKernel(tmp_path) as kernel:
        assert_blank_exercises(kernel, cells, {"ex1": 3, "ex2": 4, "ex3": 3}, limit=2)


WRONG = {
    # exercise 1: the module
    "squares counted as primes": ("ex1", """
        def count_primes_in(segment):
            lo, hi = segment
            count = 0
            for n in range(max(lo, 2), hi):
                d = 2
                while d * d < n:
                    if n % d == 0:
                        break
                    d += 1
                else:
                    count += 1
            return count
        """, "counts small segments", ["test_small_segments", "test_edges"]),
    "needs the notebook": ("ex1", """
        from __main__ import lab5


        def count_primes_in(segment):
            return lab5.primes_between(*segment)
        """, "spawn imports and runs it", ["test_small_segments", "test_spawned_worker"]),
    # exercise 2: segments and pool
    "overlapping segments": ("ex2", """
        bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
        return [(a, min(b + 1, hi)) for a, b in zip(bounds[:-1], bounds[1:])]
        ---
        with multiprocessing.get_context(method).Pool(processes) as pool:
            return sum(pool.map(primes_worker.count_primes_in, split(0, n, 4 * processes)))
        """, "split covers [lo, hi) exactly", ["test_split_examples", "test_pi"]),
    "segments with gaps": ("ex2", """
        if parts < 1 or hi < lo:
            raise ValueError("bad split")
        bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
        return [(a + 1 if i else a, b) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
        ---
        with multiprocessing.get_context(method).Pool(processes) as pool:
            return sum(pool.map(primes_worker.count_primes_in, split(0, n, 4 * processes)))
        """, "gives pi(10**k)", ["test_pi"]),
    "worker defined in the notebook": ("ex2", """
        if parts < 1 or hi < lo:
            raise ValueError("bad split")
        bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
        return list(zip(bounds[:-1], bounds[1:]))
        ---
        def work(segment):
            return primes_worker.count_primes_in(segment)

        with multiprocessing.get_context(method).Pool(processes) as pool:
            return sum(pool.map(work, split(0, n, 4 * processes)))
        """, "works with the spawn start method", ["test_pi", "test_spawn"]),
    # exercise 3: measuring
    "made-up times": ("ex3", """
        count = sum(primes_worker.count_primes_in(s) for s in split(0, n, parts))
        return count, 1.0, 0.5   # "a 2x speedup", whatever happened
        """, "the times are real", ["test_returns_count_and_times", "test_honest_timing"]),
    "the pool used one segment at a time": ("ex3", """
        segments = split(0, n, parts)
        best_sequential = best_parallel = math.inf
        with multiprocessing.Pool(processes) as pool:
            pool.map(primes_worker.count_primes_in, [(0, 10)] * processes)
            for _ in range(repeat):
                start = time.perf_counter()
                count = sum(primes_worker.count_primes_in(s) for s in segments)
                best_sequential = min(best_sequential, time.perf_counter() - start)
                start = time.perf_counter()
                sum([pool.apply(primes_worker.count_primes_in, (s,)) for s in segments])
                best_parallel = min(best_parallel, time.perf_counter() - start)
        return count, best_sequential, best_parallel
        """, "two at the same time", ["test_parallel_in_the_pool"]),
    "sum of the repeats, not the best": ("ex3", """
        segments = split(0, n, parts)
        sequential = parallel = 0.0
        with multiprocessing.Pool(processes) as pool:
            for _ in range(repeat):
                start = time.perf_counter()
                count = sum(primes_worker.count_primes_in(s) for s in segments)
                sequential += time.perf_counter() - start
                start = time.perf_counter()
                sum(pool.map(primes_worker.count_primes_in, segments))
                parallel += time.perf_counter() - start
        return count, sequential, parallel
        """, "5 repeats", ["test_honest_timing_other_sizes"]),
}


def test_wrong_answers_are_caught(tmp_path):
    """Each wrong answer fails its check cell (visible and hidden tests) in the expected test, never hangs.

    Only the tests that matter for each wrong answer run (the check cell's own code, with its list
    of tests filtered), to keep this file fast; the full check cells run on the solution under nbval.
    """
    cells = cells_by_id(SOLUTION)
    caught = {}
    with LabKernel(tmp_path) as kernel:
        kernel.run(cells["setup"].source)
        kernel.run(keep_only_source())
        for name, (ex, code, failing, keep) in WRONG.items():
            kernel.run(cells["ex1-solution"].source)  # a correct module unless the variant replaces it
            if ex == "ex3":
                kernel.run(cells["ex2-solution"].source)
            kernel.run(replace_solution(cells[f"{ex}-solution"].source, code))
            kernel.run(f"KEEP = {keep!r}")
            text, seconds = kernel.run(cells[f"{ex}-check"].source)
            lines = verdict_lines(text)
            failed = [line for line in lines if line.startswith("✘")]
            caught[name] = any(failing in line for line in failed)
            print(f"{name}: {'caught' if caught[name] else 'MISSED'} in {seconds:.1f} s; "
                  f"{len(failed)} of {len(lines)} test(s) failed")
            assert len(lines) == len(keep) and caught[name] and "CheckFailed" in text, text
            assert seconds < 60, f"{name}: the check took {seconds:.0f} s"
        text, _ = kernel.run("import multiprocessing\nprint(len(multiprocessing.active_children()))")
        assert text.strip() == "0", "a wrong answer left processes running"
    print(f"caught {sum(caught.values())} of {len(caught)} wrong answers")
    assert all(caught.values())


def test_a_thread_pool_is_caught_because_it_starts_no_process(tmp_path, monkeypatch):
    """Threads instead of processes: no worker process counts a segment, so always caught, whatever the timings."""
    from multiprocessing.pool import ThreadPool

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)
    try:
        with pytest.raises(AssertionError, match="started no process"):
            lab5.expect_honest_timing(_time_counts(pool=ThreadPool), 20_000, 2, 4, 2)
        with pytest.raises(AssertionError, match="no worker process counted a segment"):
            lab5.expect_parallel_segments(_time_counts(pool=ThreadPool), 20_000, 2, 4)
    finally:
        __import__("sys").modules.pop("primes_worker", None)


@pytest.mark.parametrize("method", ["forkserver"])
def test_solution_works_when_the_default_start_method_is_not_fork(tmp_path, method):
    """Python 3.14 on Linux defaults to forkserver (macOS and Windows use spawn, which the hidden tests
    of exercises 1 and 2 use explicitly): the reference answers and their checks work there too."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    cells = cells_by_id(SOLUTION)
    with LabKernel(tmp_path) as kernel:
        kernel.run(f"import multiprocessing\nmultiprocessing.set_start_method({method!r}, force=True)")
        kernel.run(cells["setup"].source)
        for cell in ("ex1-solution", "ex2-solution", "ex3-solution"):
            kernel.run(cells[cell].source)
        kernel.run(keep_only_source())
        kernel.run("KEEP = ['test_spawned_worker']")
        text1, _ = kernel.run(cells["ex1-check"].source)
        kernel.run("KEEP = ['test_pi', 'test_no_process_left']")
        text2, _ = kernel.run(cells["ex2-check"].source)
        kernel.run("KEEP = ['test_returns_count_and_times']")
        text3, seconds = kernel.run(cells["ex3-check"].source)
        used, _ = kernel.run("print(multiprocessing.get_start_method())")
    print(f"{method}: ex3 check {seconds:.1f} s")
    assert used.strip() == method
    for text, count in [(text1, 1), (text2, 2), (text3, 1)]:
        lines = verdict_lines(text)
        assert len(lines) == count and all(line.startswith("✔") for line in lines), text


def test_time_copies_times_one_job_alone_and_copies_on_the_pool():
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        alone, together = lab5.time_copies(pool, (0, 5000), 2)
    assert alone > 0 and together > 0


def test_time_copies_keeps_the_best_of_its_tries(monkeypatch):
    """One burst of load (a slow first try) must not shrink the measured capacity."""
    delays = iter([0.2, 0.01, 0.01])
    monkeypatch.setattr(lab5, "count_primes", lambda job: time.sleep(next(delays)))

    class Pool:
        slow = iter([0.3, 0.01, 0.02])

        def map(self, fn, jobs):
            time.sleep(next(self.slow))
            return [0 for _ in jobs]

    alone, together = lab5.time_copies(Pool(), (0, 10), 2, repeat=3)
    assert 0.01 <= alone < 0.1 and 0.01 <= together < 0.1


def _time_counts(pool_inside_clock=False, summed=False, pool=None, way="map", method=None):
    """A time_counts for the checks below: right, or with one of the classic mistakes.

    ``way``: how the parallel span hands the segments to the pool: "map" (right), "imap_unordered" and
    "executor" (right too), "apply" (one after another), "one chunk" (all to one worker), "pool of 1".
    """
    def time_counts(n, processes, parts, repeat=3):
        from concurrent.futures import ProcessPoolExecutor

        import primes_worker

        segments = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
        seq = par = math.inf if not summed else 0.0
        ctx = multiprocessing.get_context(method)
        if way == "executor":
            make = lambda k: ProcessPoolExecutor(k, mp_context=ctx)  # noqa: E731
        else:
            make = pool or ctx.Pool
        with make(1 if way == "pool of 1" else processes) as workers:
            list(workers.map(primes_worker.count_primes_in, [(0, 10)] * processes))
            for _ in range(repeat):
                start = time.perf_counter()
                count = sum(primes_worker.count_primes_in(s) for s in segments)
                seq = seq + (time.perf_counter() - start) if summed else min(seq, time.perf_counter() - start)
                start = time.perf_counter()
                if pool_inside_clock:
                    with multiprocessing.Pool(processes) as fresh:
                        fresh.map(primes_worker.count_primes_in, segments)
                elif way == "apply":
                    [workers.apply(primes_worker.count_primes_in, (s,)) for s in segments]
                elif way == "one chunk":
                    workers.map(primes_worker.count_primes_in, segments, chunksize=len(segments))
                elif way == "imap_unordered":
                    sum(workers.imap_unordered(primes_worker.count_primes_in, segments))
                else:
                    list(workers.map(primes_worker.count_primes_in, segments))
                par = min(par, time.perf_counter() - start) if not summed else par + time.perf_counter() - start
        return count, seq, par
    return time_counts


def test_honest_timing_is_judged_by_what_the_code_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)
    try:
        assert lab5.expect_honest_timing(_time_counts(), 20_000, 2, 4, 2) == 2262
        with pytest.raises(AssertionError, match="a sum or an average"):
            lab5.expect_honest_timing(_time_counts(summed=True), 20_000, 2, 4, 2)
        with pytest.raises(AssertionError, match="started while your parallel clock ran"):
            lab5.expect_honest_timing(_time_counts(pool_inside_clock=True), 20_000, 2, 4, 2)
        assert time.perf_counter.__module__ == "time"   # the clock is given back
    finally:
        __import__("sys").modules.pop("primes_worker", None)


def test_expect_pool_closed_catches_an_unclosed_pool_and_a_thread_pool():
    from multiprocessing.pool import ThreadPool

    def unclosed():
        pool = multiprocessing.Pool(2)
        return sum(pool.map(abs, [-1, -2]))

    def closed(cls=multiprocessing.Pool):
        with cls(2) as pool:
            return sum(pool.map(abs, [-1, -2]))

    assert lab5.expect_pool_closed(closed, 2, "closed") == 3
    with pytest.raises(AssertionError, match="never closed its pool"):
        lab5.expect_pool_closed(unclosed, 2, "unclosed")
    with pytest.raises(AssertionError, match="started 0 process"):
        lab5.expect_pool_closed(lambda: closed(ThreadPool), 2, "a thread pool")
    with pytest.raises(AssertionError, match="start method was ignored"):
        lab5.expect_pool_closed(closed, 2, "closed", method="spawn")


@pytest.mark.parametrize("way", ["map", "imap_unordered", "executor"])
def test_parallel_segments_pass_when_the_pool_has_them_all_at_once(tmp_path, monkeypatch, way):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)
    try:
        start = time.perf_counter()
        log = lab5.expect_parallel_segments(_time_counts(way=way), 20_000, 2, 4)
        # the hold ended because another worker took a segment, not because its 2 s ran out
        assert log.overlap and not log.alone and time.perf_counter() - start < 10
        assert len({pid for pid, *_ in log.segments}) >= 2
        assert time.perf_counter.__module__ == "time" and multiprocessing.active_children() == []
    finally:
        __import__("sys").modules.pop("primes_worker", None)


@pytest.mark.parametrize("way", ["apply", "one chunk", "pool of 1"])
def test_parallel_segments_catch_a_pool_used_one_segment_at_a_time(tmp_path, monkeypatch, way):
    from multiprocessing.reduction import ForkingPickler

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)
    try:
        start = time.perf_counter()
        with pytest.raises(AssertionError, match="one segment at a time.*Hint: hand all the segments over at once"):
            lab5.expect_parallel_segments(_time_counts(way=way), 20_000, 2, 4, hold=0.3)
        assert time.perf_counter() - start < 10
        assert "reducer_override" not in ForkingPickler.__dict__   # the pickler is given back
    finally:
        __import__("sys").modules.pop("primes_worker", None)


def test_parallel_segments_catch_counting_outside_the_pool(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)

    def half_in_the_pool(n, processes, parts, repeat=3):
        import primes_worker

        segments = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
        with multiprocessing.Pool(processes) as pool:
            start = time.perf_counter()
            count = sum(primes_worker.count_primes_in(s) for s in segments)
            sequential = time.perf_counter() - start
            start = time.perf_counter()
            sum(pool.map(primes_worker.count_primes_in, segments[: parts // 2]))
            return count, sequential, time.perf_counter() - start

    try:
        with pytest.raises(AssertionError, match="counted 2 segment.*expected all 4"):
            lab5.expect_parallel_segments(half_in_the_pool, 20_000, 2, 4)
    finally:
        __import__("sys").modules.pop("primes_worker", None)


def test_parallel_segments_work_with_spawn(tmp_path, monkeypatch):
    """Under spawn the workers import the module afresh: the traced worker still reaches them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)
    try:
        log = lab5.expect_parallel_segments(_time_counts(method="spawn"), 20_000, 2, 4)
        assert log.overlap and not log.alone
        with pytest.raises(AssertionError, match="one segment at a time"):
            lab5.expect_parallel_segments(_time_counts(way="apply", method="spawn"), 20_000, 2, 4, hold=0.3)
    finally:
        __import__("sys").modules.pop("primes_worker", None)


def test_parallel_segments_wait_for_a_worker_that_is_still_starting(tmp_path, monkeypatch):
    """A correct map whose second worker is slow to start (spawn on a busy machine) is not judged "one at a
    time": while more segments are handed over and more processes were started, the hold waits longer."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    write_module(tmp_path, GOOD_MODULE)
    write_module(tmp_path, f"""
        import os, time

        def late_unless_first():
            try:
                os.close(os.open({str(tmp_path / "first")!r}, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                time.sleep(0.6)   # every worker but the first is slow to start
        """, "lab5_slowstart")

    def slow_second_worker(n, processes, parts, repeat=1):
        import lab5_slowstart
        import primes_worker

        segments = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(processes, initializer=lab5_slowstart.late_unless_first) as pool:
            start = time.perf_counter()
            count = sum(primes_worker.count_primes_in(s) for s in segments)
            sequential = time.perf_counter() - start
            start = time.perf_counter()
            sum(pool.map(primes_worker.count_primes_in, segments))
            return count, sequential, time.perf_counter() - start

    try:
        # a hold of 0.1 s alone gives up before the second worker is up ...
        with pytest.raises(AssertionError, match="one segment at a time"):
            lab5.expect_parallel_segments(slow_second_worker, 20_000, 2, 4, hold=0.1, starting=0.1)
        (tmp_path / "first").unlink()
        # ... but the pool's 2 processes and 4 handed-over segments keep it waiting for that worker
        log = lab5.expect_parallel_segments(slow_second_worker, 20_000, 2, 4, hold=0.1, starting=5.0)
        assert log.overlap and not log.alone
    finally:
        for name in ("primes_worker", "lab5_slowstart"):
            __import__("sys").modules.pop(name, None)
