"""The process exercise checks (threadlab.checks.processes): right answers pass, the usual wrong ones
fail with a message that says what went wrong, and no child is ever left behind. The full set of wrong
answers is the mutation suite (mutants/lesson02.py)."""

import multiprocessing
import subprocess
import sys

import psutil
import pytest

from threadlab.checks.processes import check_run_children, check_run_with_deadline


@pytest.fixture(autouse=True)
def no_children_left():
    before = {p.pid for p in psutil.Process().children()}
    yield
    helpers = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
    left = []
    for proc in psutil.Process().children():
        try:
            if proc.pid not in before and not any(h in " ".join(proc.cmdline()) for h in helpers):
                left.append(proc.pid)
        except psutil.Error:
            pass
    assert left == [], "a check left child processes behind"
    assert multiprocessing.active_children() == [], "multiprocessing still lists a child the check ended"


def run_children(codes, timeout):
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for code in codes]
    outputs = []
    for child in children:
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            out = None
        outputs.append(out)
    return outputs


def test_run_children_right_answer_passes():
    assert check_run_children(run_children)


def test_run_children_one_after_another_is_caught():
    def sequential(codes, timeout):
        return run_children(codes[:1], timeout) + run_children(codes[1:2], timeout) + run_children(codes[2:], timeout)

    verdict = check_run_children(sequential)
    assert verdict.status == "failed" and "one after another" in verdict.message


def test_run_children_waiting_before_reading_is_caught():
    def wait_first(codes, timeout):
        children = [subprocess.Popen([sys.executable, "-c", c], stdout=subprocess.PIPE, text=True) for c in codes]
        outputs = []
        for child in children:
            try:
                child.wait(timeout=timeout)
                outputs.append(child.stdout.read())
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                outputs.append(None)
        return outputs

    assert "pipe" in check_run_children(wait_first).message


def run_with_deadline(target, args, seconds):
    child = multiprocessing.Process(target=target, args=args)
    child.start()
    child.join(timeout=seconds)
    if child.is_alive():
        child.terminate()
        child.join(timeout=10)
    return child.exitcode


def test_run_with_deadline_right_answer_passes():
    assert check_run_with_deadline(run_with_deadline)


def test_run_with_deadline_catches_run_and_a_child_left_running():
    def runs_it_here(target, args, seconds):
        child = multiprocessing.Process(target=target, args=args)
        child.run()
        return child.exitcode

    assert "never p.run()" in check_run_with_deadline(runs_it_here).message

    def never_ends_it(target, args, seconds):
        child = multiprocessing.Process(target=target, args=args)
        child.start()
        child.join(timeout=seconds)
        return child.exitcode

    verdict = check_run_with_deadline(never_ends_it)
    assert verdict.status == "failed" and "terminate()" in verdict.message
