"""Lab 1 (threads and latency): the helpers, the blank learner notebook, and wrong answers caught.

- the :mod:`threadlab.labs.lab1` server counts requests and the most in flight at once, exactly;
- the blank learner version (``labs/``) fails every check quickly, as "not attempted";
- wrong answers (sequential, unordered, unjoined, unbounded, racy) run through the real check
  cells of the reference notebook (hidden tests included) and are caught; the racy bound is
  caught in every run under ``amplified_races`` (catch rate printed).
"""

from __future__ import annotations

import threading
import time

import pytest

from threadlab.labs import lab1
from threadlab.labs.lab1 import SlowServer, fetch, new_threads, observe
from threadlab.labs.notebooks import assert_blank_lab, check_verdicts, failed_lines, lab_paths, reference_namespace

LAB = "lab1-threads-and-latency"
SOLUTION, BLANK = lab_paths(LAB)


# --- (a) the helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with SlowServer(delay=0.05) as s:
        yield s


def test_server_answers_each_item_after_its_delay(server):
    start = time.perf_counter()
    assert fetch(server.url(7)) == "item 7"
    assert time.perf_counter() - start >= 0.05
    start = time.perf_counter()
    assert fetch(server.url(3, delay=0.2)) == "item 3"
    assert time.perf_counter() - start >= 0.2
    assert SlowServer.expected(server.urls(3, [0.1, 0.2, 0.3])) == ["item 0", "item 1", "item 2"]
    with pytest.raises(Exception, match="404"):
        fetch(server.base + "/nothing")


def test_server_counts_hits_and_the_most_requests_at_once(server):
    run = observe(server, lambda: [fetch(u) for u in server.urls(3)])
    assert run.max_in_flight == 1 and run.each_fetched(server.urls(3)) and not run.each_fetched(server.urls(3), 2)
    assert run.elapsed >= 3 * 0.05

    # Each request is held for 2 s, so k threads started together are all in flight at once unless
    # one of them is kept off a core for 2 s (never seen, even at a load of 11 on 2 cores).
    def in_threads(k):
        threads = [threading.Thread(target=fetch, args=(u,)) for u in server.urls(k, [2.0] * k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for k in (2, 6):
        run = observe(server, in_threads, k)
        assert run.max_in_flight == k, run
        assert run.left_running == []
    assert server.in_flight == 0 and server.wait_idle(0.1)


def test_new_threads_finds_a_thread_left_running_and_ignores_finished_ones():
    before = threading.enumerate()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(5,))
    t.start()
    done = threading.Thread(target=lambda: None)
    done.start()
    try:
        assert new_threads(before, grace=0.05) == [t]
    finally:
        stop.set()
        t.join(5)
    assert new_threads(before, grace=1) == []


def test_server_stops_cleanly():
    s = SlowServer(0.01)
    assert fetch(s.url(1)) == "item 1"
    s.close()
    assert not s.thread.is_alive()
    assert lab1.SERVER_THREAD in s.thread.name


# --- (b) the blank learner notebook -------------------------------------------------------------------


def test_blank_lab_fails_every_check_quickly_as_not_attempted():
    assert BLANK.exists(), "generate the learner version: python ci/labs.py generate " + LAB
    cells = assert_blank_lab(BLANK, ["ex1-check", "ex2-check", "ex3-check"], limit=2.0)
    # the hidden tests are not in the learner's version
    assert all("HIDDEN" not in c.source and "amplified_races" not in c.source for c, _ in cells)


# --- (c) wrong answers through the real check cells --------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    """The reference notebook's namespace after its setup cell and its solutions."""
    src, ns = reference_namespace(SOLUTION, ["ex1-solution", "ex2-solution", "ex3-solution"])
    reference = {}
    for name in ("fetch_all_threads", "fetch_all_sequential", "measure_speedup", "fetch_all_bounded"):
        reference[name] = ns[name]
    yield src, ns, reference
    ns["server"].close()


def run_check(lab, grade_id: str, only=None, **answers) -> list[str]:
    """Run a check cell (hidden tests included) with ``answers`` replacing the reference ones; the printed lines.

    ``only``: names of the cell's test functions to run (default: all of them, as the cell does).
    """

    src, ns, reference = lab
    scope = dict(ns, **dict(reference, **answers))
    body, call = src[grade_id].rsplit("check_exercise(", 1)
    exec(body, scope)  # defines the tests (and the list `tests`)
    chosen = scope["tests"] if only is None else [scope[name] for name in only]
    return check_verdicts(grade_id, chosen, timeout=15)


def joined_in_loop(urls):  # starts one thread, joins it, then the next: sequential
    bodies = [None] * len(urls)
    for i, url in enumerate(urls):
        t = threading.Thread(target=lambda i=i, url=url: bodies.__setitem__(i, fetch(url)))
        t.start()
        t.join()
    return bodies


def completion_order(urls):  # appends in the order the threads finish
    bodies = []
    threads = [threading.Thread(target=lambda url=url: bodies.append(fetch(url))) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bodies


def not_joined(urls):  # returns while the threads still run
    bodies = [None] * len(urls)
    for i, url in enumerate(urls):
        threading.Thread(target=lambda i=i, url=url: bodies.__setitem__(i, fetch(url))).start()
    return bodies


@pytest.mark.parametrize("wrong", [joined_in_loop, completion_order, not_joined])
def test_exercise1_wrong_answers_are_caught(lab, wrong):
    lines = run_check(lab, "ex1-check", fetch_all_threads=wrong,
                      only=["test_bodies_in_order", "test_all_at_once", "test_order_with_uneven_delays"])
    assert failed_lines(lines), lines
    print(wrong.__name__, "->", failed_lines(lines)[0][:140])


def test_exercise2_wrong_answers_are_caught(lab):
    threads_version = lab[2]["fetch_all_threads"]
    # the ideal instead of a measurement passes for equal delays, so only the hidden test can catch it
    lines = run_check(lab, "ex2-check", measure_speedup=lambda urls: float(len(urls)),
                      only=["test_speedup_of_8", "test_uneven_speedup"])
    assert [line for line in failed_lines(lines) if "different lengths" in line], lines
    lines = run_check(lab, "ex2-check", measure_speedup=lambda urls: 1 / lab[2]["measure_speedup"](urls),
                      only=["test_uneven_speedup"])
    assert len(failed_lines(lines)) == 1, lines
    lines = run_check(lab, "ex2-check", fetch_all_sequential=threads_version, only=["test_sequential"])
    assert any("one download at a time" in line for line in failed_lines(lines)), lines


def unbounded(urls, k):  # every URL at once: no bound
    bodies = [None] * len(urls)
    threads = [threading.Thread(target=lambda i=i, url=url: bodies.__setitem__(i, fetch(url))) for i, url in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bodies


def released_too_early(urls, k):  # takes a permit, gives it back, then downloads
    slots = threading.Semaphore(k)
    bodies = [None] * len(urls)

    def one(i, url):
        with slots:
            pass
        bodies[i] = fetch(url)

    threads = [threading.Thread(target=one, args=(i, u)) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bodies


def racy_bound(urls, k):
    """Counts running downloads in a shared list without a lock: check, then act."""
    bodies = [None] * len(urls)
    running = [0]

    def one(i, url):
        while True:
            if running[0] < k:
                running[0] += 1
                break
            time.sleep(0.001)
        try:
            bodies[i] = fetch(url)
        finally:
            running[0] -= 1

    threads = [threading.Thread(target=one, args=(i, u)) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bodies


@pytest.mark.parametrize("wrong", [unbounded, released_too_early, lambda urls, k: [fetch(u) for u in urls]])
def test_exercise3_wrong_answers_are_caught(lab, wrong):
    lines = run_check(lab, "ex3-check", fetch_all_bounded=wrong, only=["test_bound_is_3"])
    assert failed_lines(lines), lines


def test_racy_bound_is_caught_every_time_under_amplified_races(lab, capsys):
    """The hidden race test, run 10 times on a check-then-act bound: caught in every run (and rarely without)."""
    src, ns, reference = lab
    scope = dict(ns, **dict(reference, fetch_all_bounded=racy_bound))
    exec(src["ex3-check"].rsplit("check_exercise(", 1)[0], scope)  # define the tests without running them
    capsys.readouterr()
    test = scope["test_bound_under_amplified_races"]
    caught = 0
    runs = 10
    for _ in range(runs):
        try:
            test()
        except AssertionError:
            caught += 1
    server = ns["server"]
    plain = 0
    twenty = server.urls(20, [0.01] * 20)
    for _ in range(runs):
        run = observe(server, racy_bound, twenty, 2)
        plain += run.max_in_flight > 2
    with capsys.disabled():
        print(f"\nlab 1 racy bound caught: {caught}/{runs} with amplified_races, {plain}/{runs} without")
    assert caught == runs
    # and the reference answer is never flagged by the same test
    scope["fetch_all_bounded"] = reference["fetch_all_bounded"]
    for _ in range(3):
        scope["test_bound_under_amplified_races"]()

