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
    _retry_kernel_start()


def _retry_kernel_start(attempts: int = 3) -> None:
    """Let nbval start a notebook's kernel again when it dies before answering.

    A kernel's ports are picked free and bound a moment later; while the grader tests start
    kernels of their own next to nbval, another kernel can take a port in between, and the new
    kernel dies at start-up ("Kernel died before replying to kernel_info"; seen once in a CI run).
    That says nothing about the notebook, so try a fresh kernel. Its cells are checked as always.
    """
    try:
        from nbval import kernel
    except ImportError:
        return
    start = kernel.start_new_kernel
    if getattr(start, "retries", False):
        return

    def start_with_retries(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return start(*args, **kwargs)
            except RuntimeError:
                if attempt == attempts:
                    raise
                time.sleep(0.5 * attempt)

    start_with_retries.retries = True
    kernel.start_new_kernel = start_with_retries


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
