"""Lab 6 (deadlock): the table and scanner referee of threadlab.labs.lab6, the blank lab, wrong answers.

The catch rates printed here (``pytest -s``): a deadlock-prone philosopher deadlocks in every forced
dinner (and only in some unforced ones), a safe one in none; each wrong answer fails its check.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from threadlab.labs import lab6
from threadlab.labs.notebooks import (
    LabKernel,
    assert_blank_exercises,
    cells_by_id,
    keep_only_source,
    lab_paths,
    replace_solution,
    verdict_lines,
)
from threadlab.servers import probe

LAB = "lab6-deadlock"
SOLUTION, BLANK = lab_paths(LAB)


def left_first(table, i, meals):
    for _ in range(meals):
        with table.left(i):
            with table.right(i):
                table.eat(i)


def ordered(table, i, meals):
    first, second = sorted([table.left(i), table.right(i)], key=lambda fork: fork.number)
    for _ in range(meals):
        with first:
            with second:
                table.eat(i)


# --- the table -------------------------------------------------------------------------------


def test_find_cycle():
    assert lab6.find_cycle({}) is None
    assert lab6.find_cycle({0: 1, 1: 2}) is None
    assert lab6.find_cycle({3: 1, 1: 2, 2: 3, 0: 1}) == [1, 2, 3]
    assert lab6.find_cycle({4: 0, 0: 1, 1: 2, 2: 3, 3: 4}) == [0, 1, 2, 3, 4]


def test_table_rules():
    with pytest.raises(ValueError):
        lab6.Table(1)
    table = lab6.Table(3)
    assert [table.left(2).number, table.right(2).number] == [2, 0]
    dinner = lab6.run_dinner(lambda t, i, m: t.eat(i), n=3, meals=1, seated=[0])
    assert not dinner.ok and "without holding fork 0" in dinner.explain()

    def wrong_release(t, i, m):
        with t.left(i):
            pass
        t.right(i).release()  # never picked up

    dinner = lab6.run_dinner(wrong_release, n=3, meals=1, seated=[1])
    assert dinner.errors and "put down fork 2, which nobody holds" in dinner.errors[0]


def test_forced_deadlock_is_detected_reported_and_ended():
    before = set(threading.enumerate())
    start = time.perf_counter()
    dinner = lab6.run_dinner(left_first, n=5, meals=3, force=True)
    assert time.perf_counter() - start < 3
    assert dinner.deadlocked and dinner.cycle == [0, 1, 2, 3, 4]
    assert dinner.holding == {p: [p] for p in range(5)} and dinner.waiting == {p: (p + 1) % 5 for p in range(5)}
    assert "philosopher 4 holds fork 4 and waits for fork 0, held by philosopher 0" in dinner.report()
    assert not dinner.still_running and not dinner.forks_left_held  # everyone left, forks put down
    time.sleep(0.05)
    assert {t for t in threading.enumerate() if t.is_alive()} <= before


def test_forcing_makes_the_deadlock_certain():
    """Catch rate of the deadlock: forced in every dinner, by luck only in some."""
    forced = lab6.dinners(left_first, 10, n=5, meals=3, force=True)
    lucky = lab6.dinners(left_first, 10, n=5, meals=5, jitter=0.001)
    safe_forced = lab6.dinners(ordered, 10, n=5, meals=3, force=True)
    safe_lucky = lab6.dinners(ordered, 10, n=5, meals=5, jitter=0.001)
    rates = {
        "left first, forced": sum(d.deadlocked for d in forced),
        "left first, random pauses": sum(d.deadlocked for d in lucky),
        "ordered, forced": sum(d.deadlocked for d in safe_forced),
        "ordered, random pauses": sum(d.deadlocked for d in safe_lucky),
    }
    print("deadlocks in 10 dinners:", rates)
    assert rates["left first, forced"] == 10
    assert rates["ordered, forced"] == rates["ordered, random pauses"] == 0
    assert all(d.ok for d in safe_forced + safe_lucky)
    assert all(d.deadlocked or d.ok for d in lucky)


def test_a_philosopher_that_never_returns_is_bounded():
    def stays(t, i, m):
        time.sleep(1.5)  # not waiting for a fork: cannot be called off, only reported

    start = time.perf_counter()
    dinner = lab6.run_dinner(stays, n=2, meals=1, seated=[0], timeout=0.3)
    assert time.perf_counter() - start < 1.4
    assert dinner.still_running == [0] and "still running" in dinner.explain()


def test_a_blank_philosopher_is_not_attempted():
    def blank(t, i, m):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        lab6.run_dinner(blank, n=3, meals=1)


def test_fork_works_with_timeouts_and_nonblocking():
    def polite(t, i, m):
        for _ in range(m):
            while True:
                with t.left(i):
                    if t.right(i).acquire(timeout=0.01):
                        try:
                            t.eat(i)
                        finally:
                            t.right(i).release()
                        break
                time.sleep(0.001 * (i + 1))

    dinner = lab6.run_dinner(polite, n=5, meals=3, force=True, timeout=10)
    assert dinner.ok, dinner.report()
    table = lab6.Table(2)
    table._idents[threading.get_ident()] = 0
    assert table.left(0).acquire(blocking=False) and not table.left(0).acquire(blocking=False)
    table.left(0).release()


# --- the scanner referee ---------------------------------------------------------------------


def test_targets_stay_open_under_many_probes():
    with lab6.scan_targets(n_open=2, n_closed=2) as targets:
        port = targets.open_ports[0]
        assert all(probe(port, latency=0) for _ in range(100))  # more than any backlog
        assert not probe(targets.closed_ports[0], latency=0)


def test_forced_seed_scan_skips_every_second_port_and_loses_every_wakeup():
    with lab6.scan_targets(n_open=3, n_closed=5) as targets:
        ports = targets.ports
        for limit in (1, 2):
            seed = lab6.forced_seed_scan(ports, max_threads=limit, wait_timeout=0.02)
            skipped = ports[limit :: limit + 1]
            assert sorted(set(ports) - set(seed.scanned)) == skipped
            assert seed.lost_wakeups == len(skipped)
            assert sorted(seed.found) == sorted(set(targets.open_ports) - set(skipped))


def test_run_scan_referee():
    def sequential(ports, max_threads, probe):
        return sorted(p for p in ports if probe(p))

    def twice(ports, max_threads, probe):
        return sorted(p for p in ports + ports[:3] if probe(p))

    with lab6.scan_targets(n_open=3, n_closed=5) as targets:
        scan = lab6.run_scan(sequential, targets, max_threads=2, latency=0.0)
        assert scan.found == scan.expected == targets.open_ports and scan.problems == []
        assert scan.most_active == 1 and scan.left_running == 0
        scan = lab6.run_scan(twice, targets, max_threads=2, latency=0.0)
        assert scan.problems == ["3 ports were probed more than once"]
        scan = lab6.run_scan(lambda ports, k, probe: [], targets, max_threads=2, ports=targets.ports[:4])
        assert scan.problems == ["4 of 4 ports were never probed"] and scan.expected == [
            p for p in targets.open_ports if p in targets.ports[:4]]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the failing probes, on purpose
def test_run_scan_sees_permits_kept_threads_alive_and_a_hung_scan():
    def no_finally(ports, max_threads, probe):
        slots, found, threads = threading.BoundedSemaphore(max_threads), [], []

        def one(port):
            if probe(port):
                found.append(port)
            slots.release()

        for port in ports:
            slots.acquire()
            threads.append(threading.Thread(target=one, args=(port,)))
            threads[-1].start()
        for t in threads:
            t.join()
        return sorted(found)

    def permit_inside(ports, max_threads, probe):
        slots = threading.Semaphore(max_threads)

        def one(port):
            with slots:
                probe(port)

        threads = [threading.Thread(target=one, args=(port,)) for port in ports]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return []

    with lab6.scan_targets(n_open=3, n_closed=5) as targets:
        fail = [targets.open_ports[0], targets.closed_ports[0]]
        scan = lab6.run_scan(no_finally, targets, max_threads=3, latency=0.001, fail=fail)
        assert not scan.hung and scan.permits == 3 and scan.permits_taken == 2 and scan.found == scan.expected
        assert fail[0] not in scan.expected
        scan = lab6.run_scan(no_finally, targets, max_threads=2, latency=0.001, fail=fail + targets.closed_ports[1:2],
                             limit=0.5)
        assert scan.hung and scan.permits_taken == 2  # given back afterwards: no thread stays stuck
        scan = lab6.run_scan(permit_inside, targets, max_threads=2, latency=0.005)
        assert scan.most_active <= 2 < scan.most_alive and scan.permits_taken == 0
        scan = lab6.run_scan(ordered_scan, targets, max_threads=2, latency=0.001, fail=fail)
        assert (scan.most_alive, scan.permits_taken, scan.found) == (2, 0, scan.expected)


def ordered_scan(ports, max_threads, probe):
    slots, found, threads = threading.BoundedSemaphore(max_threads), [], []

    def one(port):
        try:
            if probe(port):
                found.append(port)
        finally:
            slots.release()

    for port in ports:
        slots.acquire()
        threads.append(threading.Thread(target=one, args=(port,)))
        threads[-1].start()
    for t in threads:
        t.join()
    return sorted(found)


def test_a_choking_philosopher_must_put_the_forks_down():
    def no_with(table, i, meals):
        for _ in range(meals):
            table.left(i).acquire()
            table.right(i).acquire()
            table.eat(i)
            table.right(i).release()
            table.left(i).release()

    dinner = lab6.run_dinner(no_with, n=5, meals=3, seated=[1], choke_at=2)
    assert dinner.forks_left_held == [1, 2] and not dinner.ok and dinner.meals == {1: 1}
    dinner = lab6.run_dinner(ordered, n=5, meals=3, seated=[1], choke_at=2)
    assert dinner.ok and dinner.meals == {1: 1}


# --- the notebooks, in one kernel ------------------------------------------------------------


def test_blank_lab_fails_every_check_quickly_as_not_attempted(tmp_path):
    if not BLANK.exists():
        pytest.skip("labs/ not generated yet")
    cells = cells_by_id(BLANK)
    with LabKernel(tmp_path) as kernel:
        assert_blank_exercises(kernel, cells, {"ex1": 4, "ex2": 4, "ex3": 4}, limit=2)
        kernel.run(cells["tidy"].source)


SEED_SCANNER = """
    event, lock, running, found = threading.Event(), threading.Lock(), [], []

    def scan_one(port):
        if probe(port):
            found.append(port)
        with lock:
            running.remove(threading.current_thread())
            if len(running) == max_threads - 1:
                event.set()
                event.clear()

    started = []
    for port in ports:
        lock.acquire()
        if len(running) >= max_threads:
            lock.release()
            event.wait(0.5)
        else:
            thread = threading.Thread(target=scan_one, args=(port,))
            running.append(thread)
            started.append(thread)
            lock.release()
            thread.start()
    for thread in started:
        thread.join()
    return sorted(found)
"""

PULSE_RETRY = """
    event, lock, running, found = threading.Event(), threading.Lock(), [], []

    def scan_one(port):
        if probe(port):
            found.append(port)
        with lock:
            running.remove(threading.current_thread())
            if len(running) == max_threads - 1:
                event.set()
                event.clear()

    started = []
    for port in ports:
        while True:   # skipped-port bug fixed: retry the same port ...
            lock.acquire()
            if len(running) >= max_threads:
                lock.release()
                event.wait()   # ... but the lost wakeup is still there
                continue
            thread = threading.Thread(target=scan_one, args=(port,))
            running.append(thread)
            started.append(thread)
            lock.release()
            thread.start()
            break
    for thread in started:
        thread.join()
    return sorted(found)
"""

WRONG = {
    "ex1: safe philosopher handed in": ("ex1", """
        first, second = sorted([table.left(i), table.right(i)], key=lambda fork: fork.number)
        for _ in range(meals):
            with first:
                with second:
                    table.eat(i)
        """, "no deadlock", ["test_forced_deadlock"]),
    "ex1: right fork first": ("ex1", """
        for _ in range(meals):
            with table.right(i):
                with table.left(i):
                    table.eat(i)
        """, "philosophers in the waiting circle", ["test_forced_deadlock"]),
    "ex2: left first (deadlocks)": ("ex2", """
        for _ in range(meals):
            with table.left(i):
                with table.right(i):
                    table.eat(i)
        """, "deadlock: philosopher 0 holds fork 0", ["test_forced"]),
    "ex2: eats without forks": ("ex2", """
        for _ in range(meals):
            table.eat(i)
        """, "without holding fork", ["test_forced"]),
    "ex2: one lock around the table": ("ex2", """
        global TABLE_LOCK
        TABLE_LOCK = globals().get("TABLE_LOCK") or threading.Lock()
        for _ in range(meals):
            with TABLE_LOCK:
                with table.left(i):
                    with table.right(i):
                        table.eat(i)
        """, "safe but serial", ["test_forced", "test_every_schedule"]),
    "ex3: the seed scanner": ("ex3", SEED_SCANNER, "never probed", ["test_one_thread"]),
    "ex3: no limit": ("ex3", """
        found, threads = [], []

        def scan_one(port):
            if probe(port):
                found.append(port)

        for port in ports:
            threads.append(threading.Thread(target=scan_one, args=(port,)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        return sorted(found)
        """, "probes ran at once, the limit is 4", ["test_four_threads"]),
    "ex3: returns before the scanners finish": ("ex3", """
        slots = threading.BoundedSemaphore(max_threads)
        found = []

        def scan_one(port):
            try:
                if probe(port):
                    found.append(port)
            finally:
                slots.release()

        for port in ports:
            slots.acquire()
            threading.Thread(target=scan_one, args=(port,)).start()
        return sorted(found)
        """, "the open ports returned|still running after scan_ports returned", ["test_four_threads"]),
    "ex3: Event pulse kept (lost wakeup)": ("ex3", PULSE_RETRY, "timed out", ["test_lost_wakeup"]),
}


def test_wrong_answers_are_caught(tmp_path):
    """Each wrong answer fails its check cell (visible and hidden tests) in the expected test.

    Only the tests that matter for each wrong answer run (the check cell's code with its list of
    tests filtered, and a 4 s limit per test so that the lost-wakeup hang costs little).
    """
    cells = cells_by_id(SOLUTION)
    caught = {}
    with LabKernel(tmp_path) as kernel:
        kernel.run(cells["setup"].source)
        kernel.run(keep_only_source(timeout=4))
        for name, (ex, code, failing, keep) in WRONG.items():
            kernel.run(replace_solution(cells[f"{ex}-solution"].source, code))
            kernel.run(f"KEEP = {keep!r}")
            text, seconds = kernel.run(cells[f"{ex}-check"].source)
            lines = verdict_lines(text)
            failed = [line for line in lines if line.startswith("✘")]
            caught[name] = any(re.search(failing, line) for line in failed)
            print(f"{name}: {'caught' if caught[name] else 'MISSED'} in {seconds:.1f} s; "
                  f"{len(failed)} of {len(lines)} test(s) failed")
            assert len(lines) == len(keep) and caught[name] and "CheckFailed" in text, text
        kernel.run("cleanup.close()")
    print(f"caught {sum(caught.values())} of {len(caught)} wrong answers")
    assert all(caught.values())


# --- every schedule of a small scan (the explorer) ---------------------------------------------


def scan_reference(ports, max_threads, probe):
    slots = threading.BoundedSemaphore(max_threads)
    lock = threading.Lock()
    found = []

    def scan_one(port):
        try:
            if probe(port):
                with lock:
                    found.append(port)
        finally:
            slots.release()

    threads = []
    for port in ports:
        slots.acquire()
        thread = threading.Thread(target=scan_one, args=(port,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return sorted(found)


def scan_no_finally(ports, max_threads, probe):
    slots = threading.BoundedSemaphore(max_threads)
    found = []

    def scan_one(port):
        if probe(port):
            found.append(port)
        slots.release()

    threads = [threading.Thread(target=scan_one, args=(p,)) for p in ports]
    for thread in threads:
        slots.acquire()
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(found)


def scan_release_first(ports, max_threads, probe):
    slots = threading.Semaphore(max_threads)
    found = []

    def scan_one(port):
        slots.release()
        if probe(port):
            found.append(port)

    threads = [threading.Thread(target=scan_one, args=(p,)) for p in ports]
    for thread in threads:
        slots.acquire()
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(found)


def scan_never_joined(ports, max_threads, probe):
    slots = threading.BoundedSemaphore(max_threads)
    found = []

    def scan_one(port):
        try:
            if probe(port):
                found.append(port)
        finally:
            slots.release()

    for port in ports:
        slots.acquire()
        threading.Thread(target=scan_one, args=(port,)).start()
    return sorted(found)


def scan_permit_inside(ports, max_threads, probe):
    slots = threading.BoundedSemaphore(max_threads)
    found = []

    def scan_one(port):
        with slots:
            if probe(port):
                found.append(port)

    threads = [threading.Thread(target=scan_one, args=(p,)) for p in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(found)


def scan_serial(ports, max_threads, probe):
    slots = threading.BoundedSemaphore(max_threads)
    found = []

    def scan_one(port):
        try:
            if probe(port):
                found.append(port)
        finally:
            slots.release()

    for port in ports:
        slots.acquire()
        thread = threading.Thread(target=scan_one, args=(port,))
        thread.start()
        thread.join()
    return sorted(found)


def test_explore_scan_passes_the_reference_and_leaves_nothing_running():
    before = set(threading.enumerate())
    start = time.perf_counter()
    lab6.explore_scan(scan_reference)
    print(f"explore_scan(reference): {time.perf_counter() - start:.2f} s")
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


@pytest.mark.parametrize("scanner, says", [
    (scan_no_finally, "deadlock: every live thread is blocked: thread 0 waits for semaphore (value 0)"),
    (scan_release_first, "more scanners alive than max_threads=1"),
    (scan_never_joined, "were still running when scan_ports returned"),
    (scan_permit_inside, "started, not probing yet"),
    (scan_serial, "in no schedule were two probes in progress at once"),
])
def test_explore_scan_fails_wrong_scanners_with_a_schedule(scanner, says):
    messages = []
    for _ in range(2):
        with pytest.raises(AssertionError) as caught:
            lab6.explore_scan(scanner)
        messages.append(str(caught.value))
    assert says in messages[0] and messages[0] == messages[1], messages[0]
    if scanner is not scan_serial:
        assert "ran these lines of your code" in messages[0]  # the failing schedule, as a table
