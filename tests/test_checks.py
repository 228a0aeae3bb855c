import threading
import time

from threadlab.checks import Verdict, check, expect_between, expect_equal


def test_passing_check(capsys):
    verdict = check("ex", lambda: expect_equal(2, 2))
    assert verdict and verdict.status == "passed"
    assert capsys.readouterr().out.startswith("✔ ex: passed")


def test_failing_check_says_expected_and_got(capsys):
    verdict = check("ex", lambda: expect_equal(3, 2, "the sum"))
    assert not verdict and verdict.status == "failed"
    assert "the sum: expected 2, got 3" in capsys.readouterr().out


def test_placeholder_is_not_attempted():
    def test():
        raise NotImplementedError

    assert check("ex", test, quiet=True).status == "not attempted"


def test_other_errors_are_reported_with_their_line():
    verdict = check("ex", lambda: 1 / 0, quiet=True)
    assert verdict.status == "error" and "ZeroDivisionError" in verdict.message


def test_a_deadlocked_answer_times_out_and_shows_the_stuck_thread():
    lock = threading.Lock()
    lock.acquire()
    start = time.perf_counter()
    verdict = check("ex", lambda: lock.acquire(), timeout=0.3, quiet=True)
    assert time.perf_counter() - start < 2
    assert verdict.status == "timed out"
    assert "exercise-check" in verdict.message  # the stack dump names the stuck thread
    lock.release()  # lets the stuck check thread finish


def test_expect_between():
    expect_between(1, 0, 2)
    assert check("ex", lambda: expect_between(5, 0, 2, "x"), quiet=True).message == (
        "x: expected between 0 and 2, got 5"
    )


def test_verdict_text():
    assert str(Verdict("a", "passed")) == "✔ a: passed"
    assert str(Verdict("a", "failed", "why")) == "✘ a: failed - why"


def test_threads_left_sees_only_threads_started_since():
    import threading

    from threadlab.checks import threads_left

    before = set(threading.enumerate())
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="lingering")
    t.start()
    assert threads_left(before) == [t]
    stop.set()
    assert threads_left(before, timeout=5) == []


def test_threads_of_jupyter_machinery_are_not_counted_as_left():
    import threading

    from threadlab.checks import is_jupyter_thread, threads_left

    class SubshellThread(threading.Thread):  # stands in for ipykernel's class
        pass

    SubshellThread.__module__ = "ipykernel.subshell"
    before = set(threading.enumerate())
    stop = threading.Event()
    kernel_thread = SubshellThread(target=stop.wait)
    mine = threading.Thread(target=stop.wait)
    kernel_thread.start()
    mine.start()
    try:
        assert is_jupyter_thread(kernel_thread) and not is_jupyter_thread(mine)
        assert threads_left(before) == [mine]
    finally:
        stop.set()


def test_where_is_names_the_line_and_the_library_call_a_thread_waits_in():
    import queue

    from threadlab.checks import where_is

    jobs = queue.Queue()

    def worker():
        jobs.get(timeout=5)  # waits here

    t = threading.Thread(target=worker)
    t.start()
    deadline = time.monotonic() + 5
    while "Queue.get" not in where_is(t) and time.monotonic() < deadline:
        time.sleep(0.01)
    where = where_is(t)
    assert "of worker" in where and "jobs.get(timeout=5)" in where and where.endswith("inside Queue.get()"), where
    jobs.put(1)
    t.join(5)
    assert where_is(t) == "finished"
