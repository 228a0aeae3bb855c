"""Lab 3 · Build your own primitives.

- The behavioural suite of ``threadlab.labs.lab3`` passes for the standard library's own classes
  (so every test asks only what the real thing does) and for the reference solutions (taken from
  the solutions notebook, not copied here).
- The origin check flags classes that subclass or delegate to the ready-made primitives.
- Broken variants of the reference solutions (``if`` instead of ``while``, ``notify`` instead of
  ``notify_all``, a lock kept after a timeout, state changed outside the lock, ...) are caught by
  the tests meant to catch them, in every run; the catch rates are printed (``pytest -s``).
- The blank learner notebook fails every check quickly, as "not attempted", without a traceback.
"""

from __future__ import annotations

import collections
import contextlib
import io
import queue
import re
import threading
import time

import nbformat
import pytest

from threadlab.labcheck import CheckFailed, check_exercise
from threadlab.labs import lab3 as L
from threadlab.labs.notebooks import assert_blank_lab, lab_paths, output_text, verdict_lines

LAB = "lab3-build-your-own-primitives"
SOLUTION, LEARNER = lab_paths(LAB)
SOLUTION_CELLS = ["ex1-semaphore", "ex1-bounded-semaphore", "ex2-solution", "ex3-solution", "ex4-solution"]


def solution_sources() -> dict[str, str]:
    """The reference classes, by nbgrader grade_id, with the solution markers removed."""
    nb = nbformat.read(SOLUTION, as_version=4)
    out = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in SOLUTION_CELLS:
            out[grade_id] = "\n".join(line for line in cell.source.splitlines() if "### " not in line)
    assert sorted(out) == sorted(SOLUTION_CELLS)
    return out


def load(sources: dict[str, str], tag: str = "reference") -> dict:
    """Execute the solution cells in a fresh namespace, as the notebook does (not a library file, so
    amplified_races traces it like a learner's cell)."""
    namespace = {"collections": collections, "queue": queue, "threading": threading, "time": time}
    for grade_id in SOLUTION_CELLS:
        exec(compile(sources[grade_id], f"<lab3 {tag} {grade_id}>", "exec"), namespace)
    return namespace


CHECK_CELLS = ["ex1-check", "ex2-check", "ex3-check", "ex4-check"]


def hidden_functions() -> dict[str, list]:
    """{kind: [fn(cls), ...]}: the hidden tests, from the reference notebook's hidden-test regions (the only place
    they live; the package holds the visible ones). ``L`` in them is the module itself, so monkeypatching works."""
    found = {kind: [] for kind in L.KINDS}

    class Recorder:
        def __getattr__(self, name):
            return getattr(L, name)

        def bind(self, kind, get, functions):
            found[kind].extend(functions)
            return []

    nb = nbformat.read(SOLUTION, as_version=4)
    regions = 0
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in CHECK_CELLS:
            region = cell.source.split("### BEGIN HIDDEN TESTS\n")[1].split("### END HIDDEN TESTS")[0]
            namespace = {"L": Recorder(), "tests": [], "collections": collections, "queue": queue,
                         "threading": threading, "time": time}
            exec(compile(region, f"<lab3 hidden tests {grade_id}>", "exec"), namespace)
            regions += 1
    assert regions == len(CHECK_CELLS)
    return found


HIDDEN = hidden_functions()


def suite(kind: str, cls, origin: bool = True, explore: bool = True) -> list:
    """Every test of ``kind``: the package's visible ones, then the notebook's hidden ones."""
    return L.tests(kind, cls, origin=origin, explore=explore) + L.bind(kind, cls, HIDDEN[kind])


def run(kind: str, cls, names: list[str] | None = None, origin: bool = True, explore: bool = True):
    """Run the suite (or the tests called ``names``) through check_exercise; return {name: Result}."""
    chosen = [t for t in suite(kind, cls, origin=origin, explore=explore) if names is None or t.__name__ in names]
    assert names is None or len(chosen) == len(names), f"unknown test names in {names}"
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            report = check_exercise(kind, chosen, timeout=20)
        except CheckFailed as failed:
            report = failed.report
    return {test.__name__: result for test, result in zip(chosen, report.results)}


# ---------------------------------------------------------------- the suite against the real thing


@pytest.mark.parametrize("kind", L.KINDS)
def test_suite_passes_for_the_standard_library(kind):
    # not the explorer's tests: stepping the standard library's longer code one bytecode at a time
    # takes far longer than the learner's (they pass for the reference classes, below)
    results = run(kind, L.STDLIB[kind], origin=False, explore=False)
    failed = {name: str(r) for name, r in results.items() if not r}
    assert not failed, failed
    assert len(results) >= 9
    assert any(r.status == "passed" for r in results.values())


@pytest.mark.parametrize("kind", L.KINDS)
def test_origin_check_rejects_the_standard_library_class_itself(kind):
    problems = L.foreign_primitives(L.STDLIB[kind], *L.SAMPLE_ARGS[kind])
    assert problems and problems[0].startswith("is ")


@pytest.fixture(scope="module")
def reference():
    return load(solution_sources())


@pytest.mark.parametrize("kind", L.KINDS)
def test_suite_passes_for_the_reference_solutions(kind, reference):
    results = run(kind, reference[kind])
    failed = {name: str(r) for name, r in results.items() if not r}
    assert not failed, failed
    assert "built_from_lock_and_condition" in results


def test_visible_tests_in_the_package_hidden_tests_only_in_the_notebook():
    for kind in L.KINDS:
        visible, hidden = L.names(kind), [fn.__name__ for fn in HIDDEN[kind]]
        assert len(visible) >= 4 and len(hidden) >= 5
        assert visible[0] == "built_from_lock_and_condition" and not set(visible) & set(hidden)
        for name in hidden:  # the package never defines a hidden test, not even under another name
            assert not hasattr(L, name), name
    with pytest.raises(ValueError):
        L.tests("Lock", threading.Lock)
    with pytest.raises(ValueError, match="hidden tests are in the reference notebook"):
        L.tests("Event", threading.Event, part="hidden")
    with pytest.raises(ValueError):
        L.bind("Lock", threading.Lock, [])


# ---------------------------------------------------------------- origin and signature checks


def test_origin_check_catches_subclassing_delegating_and_aliasing(reference):
    class Sub(threading.Semaphore):
        pass

    class Delegating:
        def __init__(self, value=1):
            self._inner = threading.BoundedSemaphore(value)

    class ViaGlobal:
        def wait(self, timeout=None):
            return queue.LifoQueue().empty()

    class InAList:
        def __init__(self):
            self._parts = [threading.Lock(), threading.Event()]

    assert L.foreign_primitives(Sub, 1) == ["subclasses threading.Semaphore"]
    assert L.foreign_primitives(Delegating, 1) == [
        "uses threading.BoundedSemaphore internally (in test_origin_check_catches_subclassing_delegating_and_aliasing"
        ".<locals>.Delegating.__init__)",
        "uses threading.BoundedSemaphore internally (self._inner)",
    ]
    assert any("queue.LifoQueue" in p for p in L.foreign_primitives(ViaGlobal))
    assert "uses threading.Event internally (self._parts)" in L.foreign_primitives(InAList)
    for kind in L.KINDS:
        assert L.foreign_primitives(reference[kind], *L.SAMPLE_ARGS[kind]) == []
    with pytest.raises(AssertionError, match="uses threading.BoundedSemaphore internally"):
        L.check_origin("BoundedSemaphore", Delegating)


def test_signature_check_compares_names_and_defaults_with_the_standard_library(reference):
    for kind in L.KINDS:
        L.check_api(kind, L.STDLIB[kind])
        L.check_api(kind, reference[kind])

    class WrongDefault(reference["Semaphore"]):
        def acquire(self, blocking=True, timeout=-1):
            return super().acquire(blocking, None if timeout == -1 else timeout)

    class Renamed(reference["Queue"]):
        def put(self, x, block=True, timeout=None):
            return super().put(x, block, timeout)

    class BrokenIsMethod(reference["Barrier"]):
        def broken(self):
            return self._broken

    class NoJoin:
        def __init__(self, maxsize=0):
            pass

    with pytest.raises(AssertionError, match=r"acquire\(blocking=True, timeout=None\)"):
        L.check_api("Semaphore", WrongDefault)
    with pytest.raises(AssertionError, match=r"Queue.put signature"):
        L.check_api("Queue", Renamed)
    with pytest.raises(AssertionError, match="a property"):
        L.check_api("Barrier", BrokenIsMethod)
    with pytest.raises(AssertionError, match="Queue.qsize: expected a method"):
        L.check_api("Queue", NoJoin)


# ---------------------------------------------------------------- broken variants are caught

# (kind, what is wrong, solution cell, text in the reference, replacement, tests that must catch it, runs);
# several edits: a list of (text, replacement) pairs and None. A logic error fails the same way in every run
# (1 run); races and lost wakeups depend on scheduling, so they run 3-5 times and must be caught in each.
VARIANTS = [
    ("Semaphore", "`if` instead of `while` around wait", "ex1-semaphore",
     "while self._value == 0:", "if self._value == 0:", ["woken_thread_rechecks"], 5),
    ("Semaphore", "release(n) notifies one thread", "ex1-semaphore",
     "self._cond.notify(n)             #", "self._cond.notify()  #", ["release_n_wakes_n"], 1),
    ("Semaphore", "a timed-out acquire keeps the lock", "ex1-semaphore",
     [("        with self._cond:\n            while self._value == 0:",
       "        self._cond.acquire()\n        if True:\n            while self._value == 0:"),
      ("            self._value -= 1\n            return True",
       "            self._value -= 1\n            self._cond.release()\n            return True")],
     None, ["times_out", "usable_after_timeout"], 1),
    ("Semaphore", "acquire ignores its timeout", "ex1-semaphore",
     "self._cond.wait(left)", "self._cond.wait()", ["times_out"], 1),
    ("Semaphore", "release changes the value outside the lock (race)", "ex1-semaphore",
     "        with self._cond:\n            self._value += n\n            self._cond.notify(n)",
     "        value = self._value\n        self._value = value + n\n"
     "        with self._cond:\n            self._cond.notify(n)",
     ["no_more_than_value_inside"], 5),
    ("BoundedSemaphore", "no bound check", "ex1-bounded-semaphore",
     "            if self._value + n > self._initial_value:\n                raise",
     "            if False:\n                raise",
     ["too_many_releases"], 1),
    ("BoundedSemaphore", "checks after adding", "ex1-bounded-semaphore",
     "            if self._value + n > self._initial_value:\n"
     "                raise ValueError(\"Semaphore released too many times\")\n            self._value += n\n",
     "            self._value += n\n            if self._value > self._initial_value:\n"
     "                raise ValueError(\"Semaphore released too many times\")\n",
     ["too_many_changes_nothing"], 1),
    ("Event", "set() notifies one thread", "ex2-solution",
     "self._cond.notify_all()", "self._cond.notify()", ["set_wakes_all"], 1),
    ("Event", "wait loops until the flag is set", "ex2-solution",
     "return self._cond.wait(timeout)", "return self._cond.wait_for(lambda: self._flag, timeout)", ["pulse"], 1),
    ("Event", "wait ignores its timeout", "ex2-solution",
     "return self._cond.wait(timeout)", "return self._cond.wait()", ["event_times_out"], 1),
    ("Event", "wait checks the flag outside the lock (lost wakeup)", "ex2-solution",
     "        with self._cond:\n            if self._flag:\n                return True\n",
     "        if self._flag:\n            return True\n        with self._cond:\n",
     ["many_waiters_amplified"], 5),
    ("Barrier", "notify() instead of notify_all()", "ex3-solution",
     "self._cond.notify_all()", "self._cond.notify()", ["one_round"], 1),
    ("Barrier", "no rounds: waiters wait for the count to drop to 0", "ex3-solution",
     "            my_round = self._round               # remember which round we wait in\n"
     "            if not self._cond.wait_for(lambda: \"outcome\" in my_round, timeout):",
     "            my_round = {\"outcome\": \"passed\"}\n"
     "            if not self._cond.wait_for(lambda: self._count == 0, timeout):",
     ["reusable"], 3),
    ("Barrier", "a timeout does not break the barrier", "ex3-solution",
     "                self._broken = True              # timed out: break the barrier for everyone\n"
     "                self._new_round(\"broken\")\n",
     "", ["barrier_times_out", "broken_for_everybody"], 1),
    ("Barrier", "reset() leaves the waiting threads waiting", "ex3-solution",
     "            self._new_round(\"broken\")            # threads waiting now",
     "            self._count = 0  #", ["reset"], 1),
    ("Queue", "`if` instead of `while` in get()", "ex4-solution",
     "            if not self._not_empty.wait_for(lambda: len(self._items) > 0, timeout if block else 0):\n"
     "                raise queue.Empty\n",
     "            if not self._items:\n                if not block:\n                    raise queue.Empty\n"
     "                self._not_empty.wait(timeout)\n",
     ["exactly_once"], 5),
    ("Queue", "one Condition for getters and putters, notify()", "ex4-solution",
     "self._not_full = threading.Condition(lock)", "self._not_full = self._not_empty", ["exactly_once"], 3),
    ("Queue", "LIFO instead of FIFO", "ex4-solution", "self._items.popleft()", "self._items.pop()", ["fifo"], 1),
    ("Queue", "task_done() notifies one joiner", "ex4-solution",
     "self._all_done.notify_all()", "self._all_done.notify()", ["join_wakes_all"], 1),
    ("Queue", "put() counts unfinished tasks outside the lock (race)", "ex4-solution",
     "            self._unfinished += 1\n"
     "            self._not_empty.notify()             # one item: one getter may go on\n",
     "            self._not_empty.notify()\n"
     "        unfinished = self._unfinished\n        self._unfinished = unfinished + 1\n",
     ["task_done_amplified"], 5),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[f"{v[0]}: {v[1]}" for v in VARIANTS])
def test_broken_variant_is_caught_every_time(variant, monkeypatch):
    kind, what, cell, old, new, catchers, runs = variant
    sources = solution_sources()
    for text, replacement in old if new is None else [(old, new)]:
        assert sources[cell].count(text) == 1, f"the reference solution changed: {text!r} not found once"
        sources[cell] = sources[cell].replace(text, replacement)
    monkeypatch.setattr(L, "WAKE", 0.5)  # a stuck thread is stuck for ever: no need to wait 3 s to tell
    caught, seconds, messages = 0, [], set()
    for _ in range(runs):
        broken = load(sources, tag="broken")[kind]
        start = time.perf_counter()
        results = run(kind, broken, catchers)
        seconds.append(time.perf_counter() - start)
        failing = [r for r in results.values() if not r]
        caught += bool(failing)
        messages.update(f"{r.name}: {r.status}" for r in failing)
    print(f"\n{kind} with {what}: caught {caught}/{runs} runs by {catchers}, "
          f"{min(seconds):.1f}-{max(seconds):.1f} s a run; {sorted(messages)}")
    assert caught == runs


# ---------------------------------------------------------------- the blank learner notebook


def test_blank_learner_notebook_fails_every_check_fast_as_not_attempted():
    sources = "\n".join(c.source for c in nbformat.read(LEARNER, as_version=4).cells)
    assert "BEGIN SOLUTION" not in sources and "HIDDEN TESTS" not in sources
    assert "raise NotImplementedError()" in sources
    cells = assert_blank_lab(LEARNER, ["ex1-check", "ex2-check", "ex3-check", "ex4-check"], limit=2.0)
    for cell in [c for c, _ in cells if c.metadata.get("nbgrader", {}).get("grade") is True]:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].ename == "CheckFailed", cell.outputs
        assert len(errors[0].traceback) == 1  # the one-line rendering, no traceback
        verdicts = verdict_lines(output_text(cell))
        assert all(re.match(r"✘ .*: not attempted - `\w+` is not defined yet", v) for v in verdicts), cell.outputs
