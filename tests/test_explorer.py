"""Unit tests of threadlab.explorer: the controlled scheduler, its primitives, replay and search."""

import threading

import pytest

from threadlab.checks import threads_left
from threadlab.explorer import (
    Condition,
    Event,
    Lock,
    Program,
    RLock,
    Semaphore,
    State,
    parse_schedule,
    schedule_string,
)


def add_one(s):
    s.v += 1


def add_one_locked(s):
    with s.lock:
        s.v += 1


def left_right(s):
    with s.a:
        with s.b:
            s.x += 1


def right_left(s):
    with s.b:
        with s.a:
            s.x += 1


def counter(body):
    return Program(body, body, setup=lambda: State(v=0, lock=Lock()), final=lambda s: s.v == 2)


def two_locks(second=right_left):
    return Program(left_right, second, setup=lambda: State(x=0, a=Lock(), b=Lock()))


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())  # threads of earlier tests may still be ending: compare sets
    yield
    assert threads_left(before, timeout=5) == []


def test_schedule_strings_round_trip():
    assert parse_schedule("0011 010") == [0, 0, 1, 1, 0, 1, 0]
    assert schedule_string([0, 1, 1]) == "011"
    with pytest.raises(ValueError):
        parse_schedule("0a1")


def test_sequential_schedule_completes_and_shows_the_state():
    snap = counter(add_one).replay("", finish=True)
    assert snap.outcome.kind == "completed"
    assert snap.shared["v"] == "2"
    assert set(snap.schedule_string) == {"0", "1"}
    assert snap.schedule == sorted(snap.schedule)  # no preemption: thread 0 first, then 1


def test_a_step_is_one_instruction_and_the_view_names_it():
    prog = counter(add_one)
    start = prog.replay("")
    first = start.threads[0]
    assert first.status == "ready" and first.line == "s.v += 1"
    assert first.instruction.startswith("LOAD_FAST")
    seen = []
    for k in range(1, 12):
        snap = prog.replay("0" * k)
        seen.append(snap.threads[0].instruction.split(" ")[0])
        if snap.threads[0].status == "done":
            break
    assert "LOAD_ATTR" in seen and "STORE_ATTR" in seen
    assert seen.index("LOAD_ATTR") < seen.index("STORE_ATTR")


def lost_update_schedule(prog):
    """Thread 0 up to its store, all of thread 1, then the rest of thread 0."""
    k = 0
    while prog.replay("0" * k).threads[0].instruction.split(" ")[0] != "STORE_ATTR":
        k += 1
    return "0" * k


def test_lost_update_by_hand_and_exact_replay_100_times():
    prog = counter(add_one)
    prefix = lost_update_schedule(prog)
    # run thread 1 to the end, then finish
    s = prefix
    while True:
        snap = prog.replay(s)
        if 1 not in snap.enabled:
            break
        s += "1"
    snap = prog.replay(s, finish=True)
    assert snap.outcome.kind == "failed" and snap.shared["v"] == "1"
    schedule = snap.schedule_string
    outcomes = {(prog.replay(schedule).outcome.kind, prog.replay(schedule).shared["v"]) for _ in range(50)}
    outcomes |= {(prog.replay(schedule).outcome.kind, prog.replay(schedule).shared["v"]) for _ in range(50)}
    assert outcomes == {("failed", "1")}


def test_blocked_thread_is_shown_and_cannot_step():
    prog = counter(add_one_locked)
    k = 1
    while prog.replay("0" * k).primitives["lock lock"] == "free":
        k += 1
    schedule = "0" * k
    while 1 in prog.replay(schedule).enabled:  # thread 1 runs into the held lock
        schedule += "1"
    snap = prog.replay(schedule)
    assert snap.threads[1].status == "blocked"
    assert "lock lock (held by thread 0)" in snap.threads[1].waiting_for
    assert snap.enabled == [0]
    with pytest.raises(ValueError, match="cannot take a step"):
        prog.replay(snap.schedule_string + "1")


def test_deadlock_detected_and_threads_released():
    prog = two_locks()
    result = prog.search(bound=2)
    assert result.found and result.outcome.kind == "deadlock"
    snap = prog.replay(result.schedule)
    assert snap.outcome.kind == "deadlock"
    assert snap.primitives == {"lock a": "held by thread 0", "lock b": "held by thread 1"}
    assert {t.status for t in snap.threads} == {"blocked"}


def test_search_finds_lost_update_fast():
    result = counter(add_one).search(bound=2)
    assert result.found and result.outcome.kind == "failed"
    assert result.seconds < 1.0 and result.runs < 50
    assert counter(add_one).replay(result.schedule).outcome.kind == "failed"


def test_search_finds_deadlock_fast():
    result = two_locks().search(bound=2)
    assert result.found and result.seconds < 1.0 and result.runs < 50


def test_search_proves_locked_versions_for_the_bound():
    for prog in (counter(add_one_locked), two_locks(second=left_right)):
        result = prog.search(bound=2)
        assert not result.found and result.exhaustive and result.runs > 10


def test_bound_zero_runs_each_order_once():
    result = counter(add_one).search(bound=0)
    assert not result.found and result.exhaustive and result.runs == 2  # 0 then 1, 1 then 0


def test_exception_and_invariant_are_reported():
    def boom(s):
        s.v = 1
        raise ValueError("oops")

    snap = Program(boom, setup=lambda: State(v=0)).replay("", finish=True)
    assert snap.outcome.kind == "failed" and "ValueError: oops" in snap.outcome.message

    def positive(s):
        """v stays positive"""
        return s.v > 0

    def dec(s):
        s.v -= 5

    snap = Program(dec, setup=lambda: State(v=1), invariant=positive).replay("", finish=True)
    assert snap.outcome.kind == "failed" and "v stays positive" in snap.outcome.message


def test_condition_event_semaphore_rlock():
    def waiter(s):
        with s.cv:
            while not s.ready:
                s.cv.wait()
            s.seen = True

    def setter(s):
        with s.cv:
            s.ready = True
            s.cv.notify_all()

    prog = Program(waiter, setter, setup=lambda: State(ready=False, seen=False, cv=Condition()),
                   final=lambda s: s.seen)
    assert not prog.search(bound=2).found

    def ev_wait(s):
        s.ev.wait()
        s.n += 1

    def ev_set(s):
        s.ev.set()
        s.ev.clear()

    prog = Program(ev_wait, ev_set, setup=lambda: State(n=0, ev=Event()))
    found = prog.search(bound=2)  # set before the wait: the wakeup is lost
    assert found.found and found.outcome.kind == "deadlock"

    def sem(s):
        with s.sem:
            s.inside += 1
            assert s.inside == 1
            s.inside -= 1

    assert not Program(sem, sem, setup=lambda: State(inside=0, sem=Semaphore(1))).search(bound=2).found

    def nested(s):
        with s.r:
            with s.r:
                s.n += 1

    assert Program(nested, nested, setup=lambda: State(n=0, r=RLock())).replay("", finish=True).outcome.kind == "completed"


def test_primitives_work_outside_the_explorer():
    lock = Lock()
    assert lock.acquire() and not lock.acquire(blocking=False)
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(RuntimeError):
        lock.acquire()
        lock.acquire()
    ev = Event()
    assert ev.wait(timeout=0) is False


def test_line_mode_steps_lines():
    prog = Program(left_right, right_left, setup=lambda: State(x=0, a=Lock(), b=Lock()), mode="line")
    result = prog.search(bound=2)
    assert result.found and result.outcome.kind == "deadlock" and len(result.schedule) < 10


def test_many_runs_leave_no_thread_behind():
    prog = two_locks()
    for _ in range(20):
        prog.replay("000", finish=False)
    prog.search(bound=1)


def test_guarded_state_fails_a_thread_that_changes_a_guarded_value_without_its_locks():
    from threadlab.explorer import GuardedState, explored_thread

    def only_right(s):
        with s.b:
            s.x += 1

    def setup():
        return GuardedState({"x": ("a", "b")}, x=0, a=Lock(), b=Lock())

    ok = Program(left_right, left_right, setup=setup, final=lambda s: s.x == 2)
    assert ok.replay("", finish=True).outcome.kind == "completed"
    bad = Program(left_right, only_right, setup=setup).replay("", finish=True)
    assert bad.outcome.kind == "failed"
    assert bad.outcome.message == "thread 1 raised AssertionError: thread 1 changed s.x without holding s.a"
    assert "_guards" not in repr(setup()) and explored_thread() is None
    seen = []
    Program(lambda s: seen.append(explored_thread()), lambda s: seen.append(explored_thread())).replay("", finish=True)
    assert seen == [0, 1]


# --------------------------------------------------------------------------- threads started by explored code


def bump(s, k=1):
    with s.lock:
        s.v += k


def bump_unlocked(s):
    s.v += 1


def two_workers(worker):
    from threadlab.explorer import Thread

    def main(s):
        workers = [Thread(target=worker, args=(s,)) for _ in range(2)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        s.seen = s.v

    return main


def started(worker=bump, mode="sync", final=lambda s: s.seen == 2):
    return Program(two_workers(worker), setup=lambda: State(v=0, seen=None, lock=Lock()), final=final, mode=mode)


def test_a_started_thread_parks_before_running_anything_and_is_scheduled_like_the_others():
    from threadlab.explorer import Thread

    def main(s):
        t = Thread(target=lambda: s.ran.append("child"), name="child")
        t.start()
        s.ran.append("main")
        t.join()

    prog = Program(main, setup=lambda: State(ran=[]), mode="sync")
    with prog.start() as run:
        assert run.enabled() == [0] and len(run.threads) == 1  # main is parked at its start() (mode "sync")
        run.step(0)  # start(), then main runs on to its join()
        assert len(run.threads) == 2 and run.enabled() == [0, 1] and run.state.ran == ["main"]
        view = run.view(1)
        assert (view.status, view.parent, view.thread_name, view.name) == ("ready", 0, "child", "<lambda>")
        run.step(1)  # the child runs its whole target (no point inside it) and ends
        assert run.state.ran == ["main", "child"] and run.view(1).status == "done"
        assert run.finish().kind == "completed"
    with prog.start() as run:
        run.step(0)
        run.step(0)  # join(): main waits for thread 1, which has not run yet
        assert run.enabled() == [1] and run.view(0).status == "blocked" and run.state.ran == ["main"]


def test_started_threads_in_every_mode_join_and_search():
    for mode in ("sync", "line", "instruction"):
        snap = started(mode=mode).replay("", finish=True)
        assert snap.outcome.kind == "completed", (mode, snap.outcome)
        assert [(v.index, v.parent, v.name) for v in snap.threads] == [(0, None, "main"), (1, 0, "bump"), (2, 0, "bump")]
    assert started().search(bound=2).exhaustive and not started().search(bound=2).found
    race = started(bump_unlocked, mode="instruction").search(bound=2)
    assert race.found and race.outcome.kind == "failed" and "final check failed" in race.outcome.message
    assert set(race.schedule_string) == {"0", "1", "2"}


def test_same_schedule_same_run():
    prog = started(bump_unlocked, mode="instruction")
    found = prog.search(bound=2)
    snaps = [prog.replay(found.schedule) for _ in range(5)]
    seen = {(s.schedule_string, str(s.outcome), tuple(s.shared.items()), tuple((v.index, v.status, v.lineno)
                                                                             for v in s.threads)) for s in snaps}
    assert len(seen) == 1 and snaps[0].outcome.kind == "failed"
    assert prog.search(bound=2).schedule == found.schedule


def test_a_join_that_never_returns_is_a_deadlock():
    from threadlab.explorer import Thread

    def main(s):
        t = Thread(target=s.lock.acquire)
        with s.lock:
            t.start()
            t.join()

    snap = Program(main, setup=lambda: State(lock=Lock()), mode="sync").replay("", finish=True)
    assert snap.outcome.kind == "deadlock"
    assert "thread 0 waits for thread 1 to end (it waits for lock lock)" in snap.outcome.message
    assert "thread 1 waits for lock lock (held by thread 0)" in snap.outcome.message
    assert snap.threads[0].waiting_for.startswith("thread 1 to end")


def test_join_with_a_timeout_is_a_timed_wait():
    from threadlab.explorer import Thread

    def main(s):
        t = Thread(target=bump, args=(s,))
        with s.lock:
            t.start()
            t.join(timeout=1)  # thread 1 waits for the lock: the join times out
            s.alive = t.is_alive()
        t.join()
        s.after = t.is_alive()

    prog = Program(main, setup=lambda: State(v=0, lock=Lock(), alive=None, after=None), mode="sync",
                   final=lambda s: s.v == 1 and s.after is False)
    snap = prog.replay("", finish=True)
    assert snap.outcome.kind == "completed" and snap.state.alive is True
    assert not prog.search(bound=2).found


def test_an_exception_in_a_started_thread_is_recorded_not_fatal():
    from threadlab.explorer import Thread, current_run

    def fail(s):
        raise OSError("host unreachable")

    def main(s):
        t = Thread(target=fail, args=(s,))
        t.start()
        t.join()
        s.alive = t.is_alive()

    def errors_seen(s):
        errors = current_run().errors
        return not s.alive and [(i, type(e).__name__) for i, e in errors] == [(1, "OSError")]

    snap = Program(main, setup=lambda: State(alive=None), final=errors_seen, mode="sync").replay("", finish=True)
    assert snap.outcome.kind == "completed", snap.outcome
    assert snap.errors == ["thread 1 raised OSError: host unreachable"]
    assert snap.threads[1].status == "failed" and snap.threads[1].error == "OSError: host unreachable"
    body = Program(fail).replay("", finish=True)  # a body that raises still fails the program
    assert body.outcome.kind == "failed" and "OSError" in body.outcome.message


def test_more_than_ten_threads_is_a_clear_error():
    from threadlab.explorer import Thread

    def many(s):
        for _ in range(10):
            Thread(target=lambda: None).start()

    snap = Program(many, mode="sync").replay("", finish=True)
    assert snap.outcome.kind == "failed" and "at most 10 threads" in snap.outcome.message
    assert len(snap.threads) == 10


def test_nothing_started_outlives_its_run():
    from threadlab.explorer import Thread

    def parked_forever(s):
        with s.lock:
            pass

    def main(s):
        with s.lock:
            for _ in range(3):
                Thread(target=parked_forever, args=(s,)).start()
            s.lock.acquire()  # deadlocks with itself while three started threads wait

    before = set(threading.enumerate())
    prog = Program(main, setup=lambda: State(lock=Lock()), mode="sync")
    for schedule in ("", "00", "0000", "000012"):
        prog.replay(schedule)
    assert prog.replay("", finish=True).outcome.kind == "deadlock"
    assert threads_left(before, timeout=5) == []


def test_thread_api_like_threading():
    from threadlab.explorer import Thread, active_count, current_thread, enumerate_threads, get_ident

    class Worker(Thread):
        def run(self):
            self.s.names.append((current_thread().name, get_ident(), self.ident, active_count()))

    def main(s):
        s.names.append((current_thread().name, get_ident(), len(enumerate_threads())))
        w = Worker(name="w", daemon=True)
        w.s = s
        assert w.daemon and w.ident is None and not w.is_alive() and w.target is None
        w.start()
        w.join()
        plain = Thread(target=print, args=(1,), kwargs={"end": ""})
        s.names.append((plain.name, plain.args, plain.kwargs))

    snap = Program(main, setup=lambda: State(names=[]), mode="sync").replay("", finish=True)
    assert snap.outcome.kind == "completed", snap.outcome
    assert snap.state.names == [("explored-0", 1000, 1), ("w", 1001, 1001, 2), ("Thread-1 (print)", (1,), {"end": ""})]
    with pytest.raises(RuntimeError, match="only inside an explored run"):
        Thread(target=print).start()
    assert current_thread() is threading.current_thread() and get_ident() == threading.get_ident()


def test_queue_like_the_standard_library_blocks_times_out_and_joins():
    import queue

    from threadlab.explorer import Queue, SimpleQueue, Thread

    def producer_consumer(s):
        def consume():
            while (item := s.q.get()) is not None:
                s.got.append(item)
                s.q.task_done()
            s.q.task_done()

        t = Thread(target=consume)
        t.start()
        for item in (1, 2, 3, None):
            s.q.put(item)
        s.q.join()  # every item taken and marked done
        s.joined = list(s.got)
        t.join()

    prog = Program(producer_consumer, setup=lambda: State(q=Queue(maxsize=1), got=[], joined=None), mode="sync",
                   final=lambda s: s.joined == [1, 2, 3] and s.q.describe() == "[]")
    assert prog.replay("", finish=True).outcome.kind == "completed"
    assert not prog.search(bound=2).found

    def waits_for_nothing(s):
        try:
            s.q.get(timeout=1)
        except queue.Empty:
            s.empty = True

    prog = Program(waits_for_nothing, setup=lambda: State(q=SimpleQueue(), empty=False), mode="sync",
                   final=lambda s: s.empty)
    assert prog.replay("", finish=True).outcome.kind == "completed"

    def gets_for_ever(s):
        s.q.get()

    snap = Program(gets_for_ever, setup=lambda: State(q=Queue()), mode="sync").replay("", finish=True)
    assert snap.outcome.kind == "deadlock" and "thread 0 waits for queue q ([])" in snap.outcome.message

    q = Queue(maxsize=1)  # outside a run: never blocks, raises instead
    q.put_nowait("STOP")
    with pytest.raises(queue.Full):
        q.put("more", timeout=0)
    assert q.full() and q.qsize() == 1 and q.get_nowait() == "STOP" and q.empty()
    with pytest.raises(queue.Empty):
        q.get(block=False)
    q.task_done()
    with pytest.raises(ValueError):
        q.task_done()


def test_timeouts_last_fires_a_timed_wait_only_when_nothing_else_can_happen():
    def waiter(s):
        s.woken = s.ev.wait(timeout=10)

    def setter(s):
        s.ev.set()

    def make(timeouts):
        return Program(waiter, setter, setup=lambda: State(ev=Event(), woken=None), mode="sync",
                       final=lambda s: s.woken is True, timeouts=timeouts)

    assert make("any").search(bound=2).found  # the wait may time out before the set
    assert not make("last").search(bound=2).found
    alone = Program(waiter, setup=lambda: State(ev=Event(), woken=None), mode="sync", timeouts="last")
    snap = alone.replay("", finish=True)  # nobody will set it: then, and only then, it times out
    assert snap.outcome.kind == "completed" and snap.state.woken is False
    with pytest.raises(ValueError):
        Program(waiter, timeouts="sometimes")


def test_timeouts_last_the_wait_that_runs_out_first_times_out_first():
    from threadlab.explorer import Thread

    def poller(s):  # polls with a short timed wait until the other thread has gone
        while not s.done:
            s.ev.wait(timeout=0.01)
        s.polls_done = True

    def main(s):
        t = Thread(target=poller, args=(s,))
        t.start()
        t.join(timeout=5)  # the poller's 0.01 s waits run out long before this 5 s one
        s.joined_alive = t.is_alive()
        s.done = True
        t.join()

    prog = Program(main, setup=lambda: State(ev=Event(), done=False, polls_done=False, joined_alive=None), mode="sync",
                   timeouts="last", max_steps=2000)
    snap = prog.replay("", finish=True)
    assert snap.outcome.kind == "completed" and snap.state.joined_alive is True and snap.state.polls_done
