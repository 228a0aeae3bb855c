"""Unit tests for threadlab.lessons.lesson02 (processes). Loose bounds: a busy 2-core machine."""

import os
import sys

import pytest

from threadlab.lessons import lesson02

linux_only = pytest.mark.skipif(not lesson02.HAS_PROC, reason="needs /proc (Linux)")


def test_ancestry_starts_with_us_and_our_parent():
    chain = lesson02.ancestry()
    assert chain[0][0] == os.getpid()
    assert chain[1][0] == os.getppid()


def test_process_table_contains_this_process():
    rows = lesson02.process_table(limit=0)
    mine = [r for r in rows if r["pid"] == os.getpid()]
    assert len(mine) == 1 and mine[0]["ppid"] == os.getppid()
    assert "pid" in lesson02.format_table(rows[:3])


def test_proc_status_fields_of_self():
    fields = lesson02.proc_status_fields()
    assert int(fields["Pid"]) == os.getpid()
    assert fields["State"].startswith("R")


@pytest.mark.skipif(not lesson02.HAS_FORK, reason="os.fork is Unix only")
def test_fork_child_changes_only_its_copy():
    result = lesson02.fork_and_change(99)
    assert result["child_value"] == 99
    assert result["parent_value"] == 0 == lesson02.VALUE
    assert result["child_ppid"] == os.getpid()
    assert result["fork_returned"] == result["child_pid"]
    assert result["exit_status"] == 0


def test_multiprocessing_child_changes_only_its_copy():
    result = lesson02.change_in_process(3)
    assert (result["child_value"], result["parent_value"], result["exitcode"]) == (3, 0, 0)
    assert result["child_ppid"] == os.getpid()


def test_thread_change_is_seen_and_restored():
    result = lesson02.change_in_thread(11)
    assert result == {"thread_pid": os.getpid(), "value_after": 11}
    assert lesson02.VALUE == 0


def test_observe_sleep_vs_compute():
    napper, spin = lesson02.observe(("sleep", "compute"), seconds=0.3)
    assert napper.voluntary >= 5 and napper.voluntary > napper.involuntary
    assert spin.share("running") > 0.9
    assert spin.voluntary <= 5
    assert "voluntary" in lesson02.format_observations([napper, spin])


@pytest.mark.skipif(not lesson02.HAS_AFFINITY, reason="needs sched_setaffinity")
def test_timesharing_two_processes_take_turns():
    ts = lesson02.timesharing(seconds=0.15)
    assert set(ts.turns) == {"process A", "process B"}
    assert ts.switches() >= 4
    assert 0.15 < ts.share("process A") < 0.85
    # on one core, turns of A and B never overlap (allowing for clock-reading granularity)
    a, b = ts.turns["process A"], ts.turns["process B"]
    overlap = sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)
    assert overlap < 0.05 * ts.seconds
    assert 0 < ts.coverage() <= 1
    assert lesson02.plot_timesharing(ts) is not None


def test_start_costs_thread_is_cheapest():
    costs = lesson02.start_costs(repeat=1, threads=10, processes=2, others=1)
    assert costs["thread"] < min(v for k, v in costs.items() if k != "thread")
    assert "x a thread" in lesson02.format_costs(costs)


def test_no_leftover_children():
    lesson02.change_in_process(1)
    assert lesson02.leftover_children() == []


@linux_only
def test_check_proc_state_accepts_right_and_rejects_wrong():
    def right(pid):
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        return text[text.rindex(")") + 2]

    def naive(pid):  # wrong: always says "running"
        return "R"

    def todo(pid):
        raise NotImplementedError

    assert lesson02.check_proc_state(right)
    assert not lesson02.check_proc_state(naive)
    assert lesson02.check_proc_state(todo).status == "not attempted"


def test_check_parent_of_child():
    import subprocess

    def right():
        out = subprocess.run([sys.executable, "-c", "import os; print(os.getppid())"],
                             capture_output=True, text=True, timeout=30)
        return int(out.stdout)

    assert lesson02.check_parent_of_child(right)
    assert not lesson02.check_parent_of_child(lambda: os.getppid())
    assert not lesson02.check_parent_of_child(lambda: str(os.getpid()))
