"""pytest settings for the whole repo (unit tests and nbval notebooks).

nbval opens ``--nbval-sanitize-with`` relative to the current folder; make it relative to the
repo instead so ``pytest`` works from anywhere. Also print how long each notebook took.
"""

import os
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.abspath(__file__))
collect_ignore = ["labs", ".venv", "ci/course.py"]

_durations = defaultdict(float)
_started = time.perf_counter()


def pytest_configure(config):
    path = getattr(config.option, "sanitize_with", None)
    if path and not os.path.isabs(path):
        config.option.sanitize_with = os.path.join(ROOT, path)


def pytest_runtest_logreport(report):
    if report.nodeid.split("::")[0].endswith(".ipynb"):
        _durations[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    write = terminalreporter.write_line
    terminalreporter.section("notebook timings (kernel time per notebook)")
    for name, seconds in sorted(_durations.items()):
        write(f"{seconds:7.1f} s  {name}")
    write(f"{sum(_durations.values()):7.1f} s  all notebooks (sum); whole run {time.perf_counter() - _started:.1f} s wall")
