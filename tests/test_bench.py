"""The benchmark report (ci/bench.py): well-formed, every figure a ratio with its yardstick named.

Nothing here asserts a speed: the figures depend on the machine and its load, which is why they are
in the report and not in a test. ``--quick`` runs every experiment but the grading one at tiny sizes
(about 10 s); the grading experiment's own piece, the deadlocked submission, is checked on every lab.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import bench  # noqa: E402

LABS = sorted(ROOT.glob("solutions/*/*.ipynb"))


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, str(ROOT / "ci" / "bench.py"), "--quick", "--skip", "grading", "--out",
                           str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "report.json").read_text()), (out / "REPORT.md").read_text()


def test_quick_report_is_well_formed(quick_report):
    data, _ = quick_report
    assert bench.check_report(data) == []
    assert data["quick"] is True and data["schema"] == bench.SCHEMA
    assert [s["id"] for s in data["sections"]] == [n for n in bench.EXPERIMENTS if n != "grading"]
    machine = data["machine"]
    assert machine["usable_cores"] >= 1 and machine["python"] and machine["start_method"]
    for key in ("other_cores", "steal_cores", "own_cores", "top_programs", "load_average_start"):
        assert key in data["load"]


def test_every_figure_is_a_ratio_with_its_yardstick_named(quick_report):
    data, _ = quick_report
    figures = [f for s in data["sections"] for f in s["figures"]]
    assert len(figures) >= 20
    for f in figures:
        assert f["kind"] in bench.YARDSTICKS, f
        assert f["yardstick"].strip() and f["measured"].strip(), f
        assert math.isfinite(f["ratio"]) and f["ratio"] > 0 and f["low"] <= f["ratio"] <= f["high"], f
        assert f["repeats"] in (data["rounds"], data["short_rounds"]), f


def test_markdown_shows_the_machine_every_section_and_every_figure(quick_report):
    data, text = quick_report
    assert text.startswith("# Benchmark: what this machine really does")
    assert "tiny sizes: these figures mean nothing" in text
    for words in ("## The machine and its load", "Usable cores", "Steal time", "Other programs", "How to read it"):
        assert words in text
    for s in data["sections"]:
        assert f"{s['title']}" in text and s["headline"] in text
        for f in s["figures"]:
            assert f"| {f['label']} | {f['measured']} |" in text
    assert text == bench.render_markdown(data)


def _figure(**changes):
    f = {"label": "x", "ratio": 1.0, "low": 0.9, "high": 1.1, "repeats": 3, "measured": "speedup 2.00x",
         "yardstick": "ideal 2.00x", "kind": "ideal", "values": {}}
    return {**f, **changes}


def _report(*figures):
    return {"schema": 1, "generated": "now", "machine": {}, "load": {}, "duration_s": 1.0,
            "sections": [{"id": "s", "figures": list(figures)}]}


@pytest.mark.parametrize("bad, problem", [
    (_figure(kind="seconds"), "yardstick kind"),
    (_figure(yardstick=" "), "must be named"),
    (_figure(ratio=float("nan")), "finite positive"),
    (_figure(ratio=0.0, low=0.0), "finite positive"),
    (_figure(ratio=1.5), "outside its spread"),
    (_figure(repeats=0), "repeats"),
])
def test_check_report_catches_a_figure_that_is_not_a_named_ratio(bad, problem):
    assert bench.check_report(_report(_figure())) == []
    problems = bench.check_report(_report(bad))
    assert len(problems) == 1 and problem in problems[0], problems
    assert "missing sections" in bench.check_report({"schema": 1})


def test_figure_keeps_the_best_ratio_inside_its_spread():
    f = bench.figure("x", 1.2, [1.0, 1.1], "m", "y", "ideal")
    assert (f.low, f.ratio, f.high, f.repeats) == (1.0, 1.2, 1.2, 2)


class _NoReentry:
    """Stands in for threading.Lock in the deadlock wrapper: entering it twice is the deadlock."""

    def __init__(self):
        self.held = False

    def __enter__(self):
        if self.held:
            raise RuntimeError("deadlock: the same thread takes this lock twice")
        self.held = True

    def __exit__(self, *exc):
        self.held = False


def test_deadlocked_submission_wraps_functions_and_methods_of_the_first_exercise():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade_id": "magic"}},
         "source": "%%writefile w.py\ndef f(): pass\n"},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade_id": "ex1"}},
         "source": ["class C:\n", "    def __init__(self): self.n = 0\n", "    def add(self): self.n += 1\n",
                    "    @property\n", "    def value(self): return self.n\n", "def g(x):\n", "    return x\n"]},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade_id": "ex2"}}, "source": "def h(): pass"},
    ]}
    bad, cell, names = bench.deadlocked_submission(nb)
    assert (cell, names) == ("ex1", ["C.add", "g"])
    assert bad["cells"][0] == nb["cells"][0] and bad["cells"][2] == nb["cells"][2]  # the rest is untouched
    namespace = {}
    exec(compile(bad["cells"][1]["source"], "cell", "exec"), namespace)
    namespace["_bench_threading"] = type("stub", (), {"Lock": _NoReentry})
    c = namespace["C"]()
    assert c.value == 0  # properties and __init__ still work
    for call in (c.add, lambda: namespace["g"](1)):
        with pytest.raises(RuntimeError, match="deadlock"):
            call()


@pytest.mark.parametrize("source", LABS, ids=[p.parent.name for p in LABS])
def test_every_lab_gets_a_deadlocked_submission_that_compiles(source):
    nb = json.loads(source.read_text())
    bad, cell, names = bench.deadlocked_submission(nb)
    assert names and cell
    changed = [(a, b) for a, b in zip(nb["cells"], bad["cells"]) if a != b]
    assert len(changed) == 1
    compile(changed[0][1]["source"], cell, "exec")


def test_ratios_keep_three_figures_and_a_single_round_has_no_spread():
    assert [bench.fmt(x) for x in (0.974, 5.731, 84.59, 156.2)] == ["0.97", "5.73", "84.6", "156"]
    machine = {"cgroup_quota_cores": None, "free_threaded_build": False, "cpu_model": "cpu", "logical_cpus": 2,
               "usable_cores": 2, "affinity_cores": 2, "python": "3.x", "implementation": "CPython",
               "gil_enabled": True, "switch_interval_s": 0.005, "start_method": "fork",
               "start_methods_available": ["fork"], "platform": "p", "packages": {}}
    load = {"other_cores": 0.1, "steal_cores": 0.0, "top_programs": [], "load_average_start": None,
            "load_average_end": [0.1, 0.2, 0.3]}
    section = {"id": "grading", "title": "T", "how": "how", "headline": "h", "seconds": 1.0, "notes": [],
               "load": {"seconds": 1.0, "other_cores": 0.1, "steal_cores": 0.0},
               "figures": [_figure(repeats=1, low=1.0, high=1.0, yardstick="notebook alone: 2.0 s", kind="same run")]}
    data = {**_report(), "machine": machine, "load": load, "sections": [section]}
    assert bench.check_report(data) == []
    text = bench.render_markdown(data)
    assert "| x | speedup 2.00x | notebook alone: 2.0 s *(same run)* | **1.00** | (one round) | 1 |" in text
    assert "unknown at the start, 0.10, 0.20, 0.30 at the end" in text
