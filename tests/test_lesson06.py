"""Unit tests for threadlab.lessons.lesson06 (Condition, Event, Semaphore, the port scanner)."""

import threading
import time

import pytest

from threadlab.lessons import lesson06


def test_bounded_buffer_times_out_instead_of_hanging():
    buf = lesson06.BoundedBuffer(1)
    buf.put("a")
    with pytest.raises(TimeoutError):
        buf.put("b", timeout=0.05)
    assert buf.get() == "a"
    with pytest.raises(TimeoutError):
        buf.get(timeout=0.05)


def test_producer_consumer_delivers_every_item_once():
    got = lesson06.producer_consumer(items=500, producers=3, consumers=2, capacity=4)
    assert lesson06.consumed_exactly_once(got, 500)
    assert not lesson06.consumed_exactly_once({"c": [0, 1, 1]}, 2)
    assert not lesson06.consumed_exactly_once({"c": [0]}, 2)


@pytest.mark.parametrize("notify_all", [False, True])
def test_if_around_wait_breaks_while_does_not(notify_all):
    bad = lesson06.wake_waiting_consumers(use_while=False, notify_all=notify_all, timeout=0.1)
    good = lesson06.wake_waiting_consumers(use_while=True, notify_all=notify_all, timeout=0.1)
    assert bad[0].startswith("IndexError") and bad[1] == "got item"
    assert good == ["got item", "still waiting"]


def test_targets_are_open_and_closed_and_released():
    with lesson06.scan_targets(n_open=2, n_closed=3) as targets:
        assert len(set(targets.ports)) == 5
        assert all(lesson06.probe(p, latency=0) for p in targets.open_ports)
        assert not any(lesson06.probe(p, latency=0) for p in targets.closed_ports)
        sockets = list(targets.sockets)
    assert targets.sockets == [] and all(s.fileno() == -1 for s in sockets)


def test_forced_interleaving_skips_ports_and_loses_wakeups_every_time():
    with lesson06.scan_targets(n_open=3, n_closed=5) as targets:
        ports = targets.ports
        for limit in (1, 2):
            scanner = lesson06.forced_seed_scan(ports, max_threads=limit, wait_timeout=0.02)
            skipped = ports[limit :: limit + 1]
            assert sorted(set(ports) - set(scanner.scanned)) == skipped
            assert scanner.lost_wakeups == len(skipped)
            assert sorted(scanner.open_ports) == sorted(set(targets.open_ports) - set(skipped))


def test_fixed_scanners_find_exactly_the_open_ports():
    with lesson06.scan_targets(n_open=3, n_closed=9) as targets:
        for limit in (1, 3, 12):
            result = lesson06.scan(targets.ports, max_threads=limit, latency=0.005)
            assert result.open_ports == targets.open_ports
            assert result.scanned == targets.ports
            assert 1 <= result.max_running <= limit
        forced = lesson06.scan(targets.ports, 1, latency=0.0, before_acquire=lesson06.join_all)
        assert forced.open_ports == targets.open_ports
        assert lesson06.scan_with_condition(targets.ports, 2, latency=0.005) == targets.open_ports


def test_lower_bound_and_history():
    assert lesson06.lower_bound(32, 1, 0.02) == pytest.approx(0.64)
    assert lesson06.lower_bound(32, 5, 0.02) == pytest.approx(0.14)
    with lesson06.scan_targets(n_open=1, n_closed=3) as targets:
        history = lesson06.ScanHistory(targets.ports, latency=0.005)
        result = history.run(2)
        assert result.elapsed >= lesson06.lower_bound(4, 2, 0.005) * 0.95
        assert set(history.best) == {2}
        assert "1 open ports found" in history.summary(result)
        assert history.plot(result) is not None


def test_semaphore_max_concurrency_equals_limit():
    assert lesson06.max_concurrency(2, tasks=6, hold=0.03) == 2
    assert lesson06.max_concurrency(1, tasks=3, hold=0.01) == 1


def test_barrier_keeps_phases_apart():
    log = lesson06.barrier_phases(parties=3, phases=2)
    assert [p for p, _ in log] == [0, 0, 0, 1, 1, 1]


def test_ping_pong_alternates():
    assert lesson06.ping_pong(rounds=20) == ["ping", "pong"] * 20


def test_synchronize_rendezvous():
    sync = lesson06.Synchronize()
    timer = threading.Timer(0.02, sync.notify)
    timer.start()
    assert sync.wait(timeout=2) is True
    timer.join(2)
    assert sync.wait(timeout=0.02) is False  # nobody notifies: the timeout reports it


class _GoodLatch:
    def __init__(self, count):
        self.count = count
        self.cond = threading.Condition()

    def count_down(self):
        with self.cond:
            self.count -= 1
            self.cond.notify_all()

    def wait(self, timeout=None):
        with self.cond:
            return self.cond.wait_for(lambda: self.count <= 0, timeout)


class _ForgetfulLatch(_GoodLatch):
    def wait(self, timeout=None):
        with self.cond:
            self.cond.wait_for(lambda: self.count <= 0, timeout)  # result not returned


class _PlaceholderLatch:
    def __init__(self, count):
        raise NotImplementedError


def test_check_latch_verdicts(capsys):
    assert lesson06.check_latch(_GoodLatch)
    assert lesson06.check_latch(_PlaceholderLatch).status == "not attempted"
    assert not lesson06.check_latch(_ForgetfulLatch)
    capsys.readouterr()


def _good_turns(names, rounds):
    log, turn = [], [0]
    cond = threading.Condition()

    def player(i):
        for _ in range(rounds):
            with cond:
                if not cond.wait_for(lambda: turn[0] % len(names) == i, timeout=2):
                    return
                log.append(names[i])
                turn[0] += 1
                cond.notify_all()

    threads = [threading.Thread(target=player, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return log


def _free_for_all(names, rounds):
    log = []
    threads = [threading.Thread(target=lambda n=n: [log.append(n) or time.sleep(0.001) for _ in range(rounds)])
               for n in reversed(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return log


def test_check_round_robin_verdicts(capsys):
    assert lesson06.check_round_robin(_good_turns)
    assert not lesson06.check_round_robin(_free_for_all)
    assert not lesson06.check_round_robin(lambda names, rounds: names * rounds + ["extra"])
    capsys.readouterr()


def test_check_round_robin_catches_a_thread_left_running(capsys):
    release = threading.Event()

    def leaves_a_thread(names, rounds):
        threading.Thread(target=release.wait, args=(10,), name="left-behind").start()
        return names * rounds

    try:
        assert not lesson06.check_round_robin(leaves_a_thread)
        assert "left-behind" in capsys.readouterr().out
    finally:
        release.set()


def test_show_source(capsys):
    lesson06.show_source(lesson06.lower_bound)
    assert capsys.readouterr().out.startswith("def lower_bound(")
