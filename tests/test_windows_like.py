"""ci/windows_like: a Python that looks like Windows to the course's code (no fork, /proc, ps)."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import windows_like  # noqa: E402

# runs as if it were a notebook cell (ipykernel names a cell's code /tmp/ipykernel_<pid>/<hash>.py)
CELL = r'''
import json, multiprocessing, os, signal, subprocess
seen = {
    "fork": hasattr(os, "fork"), "setaffinity": hasattr(os, "sched_setaffinity"),
    "SIGKILL": hasattr(signal, "SIGKILL"), "methods": multiprocessing.get_all_start_methods(),
    "proc_exists": os.path.exists("/proc/self/status"), "flag": os.environ.get("COURSE_WINDOWS_LIKE"),
}
try:
    open("/proc/self/status")
    seen["open_proc"] = "opened"
except FileNotFoundError as exc:
    seen["open_proc"] = str(exc)
try:
    subprocess.run(["ps", "-o", "pid"], capture_output=True)
    seen["ps"] = "ran"
except FileNotFoundError:
    seen["ps"] = "missing"
try:
    multiprocessing.get_context("fork")
    seen["fork_context"] = "found"
except ValueError:
    seen["fork_context"] = "ValueError"
import psutil  # the course's code calls psutil, which reads /proc itself (it has its own Windows code)
seen["psutil"] = psutil.Process().num_threads() >= 1
import time
sleeper = multiprocessing.get_context().Process(target=time.sleep, args=(30,))
sleeper.start()
sleeper.kill()  # the standard library keeps its own names (SIGKILL here; TerminateProcess on Windows)
sleeper.join(10)
seen["killed"] = sleeper.exitcode is not None
with multiprocessing.get_context().Pool(1) as pool:
    seen["spawned"] = pool.map(abs, [-3])
print(json.dumps(seen))
'''

LIBRARY = r'''
import json, os, signal
import psutil
from ipykernel import kernelbase  # does 'from signal import SIGKILL'
print(json.dumps({"fork": hasattr(os, "fork"), "SIGKILL": hasattr(signal, "SIGKILL"),
                  "psutil_threads": psutil.Process().num_threads() >= 1}))
'''


def run_python(code: str, filename: str, windows: bool) -> dict:
    wrapper = f"exec(compile({code!r}, {filename!r}, 'exec'))"
    env = windows_like.kernel_env() if windows else None
    done = subprocess.run([sys.executable, "-c", wrapper], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(120)
def test_course_code_sees_windows():
    seen = run_python(CELL, "/tmp/ipykernel_1/cell.py", windows=True)
    assert seen["fork"] is False and seen["setaffinity"] is False and seen["SIGKILL"] is False
    assert seen["methods"] == ["spawn"] and seen["fork_context"] == "ValueError"
    assert seen["proc_exists"] is False and "no /proc" in seen["open_proc"]
    assert seen["ps"] == "missing" and seen["flag"] == "1"
    assert seen["spawned"] == [3] and seen["psutil"] is True and seen["killed"] is True


@pytest.mark.timeout(120)
def test_without_the_hook_the_same_code_sees_linux():
    seen = run_python(CELL, "/tmp/ipykernel_1/cell.py", windows=False)
    assert seen["fork"] is True and seen["proc_exists"] is True and "fork" in seen["methods"]


def test_libraries_keep_what_they_need():
    seen = run_python(LIBRARY, "/srv/some_library.py", windows=True)
    assert seen == {"fork": True, "SIGKILL": True, "psutil_threads": True}


@pytest.mark.timeout(120)
def test_runner_reports_a_cell_that_needs_linux(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(hasattr(os, 'fork'))"),
                nbformat.v4.new_code_cell("os.fork"),
                nbformat.v4.new_code_cell("import os\nassert not hasattr(os, 'fork')")]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    _, problems = windows_like.run(path, timeout=60)
    assert len(problems) == 1 and problems[0].startswith("cell 1 ('os.fork'): AttributeError")


TRACED = r'''
import json, os, sys, threading
names = set()
def tracer(frame, event, arg):
    names.add(frame.f_code.co_filename)
sys.settrace(tracer)
hasattr(os, "fork"); os.path.exists("/etc"); open(__file__ if False else "/dev/null").close()
threading.Thread(target=lambda: None).start()
sys.settrace(None)
print(json.dumps(sorted(names)))
'''


def test_the_hook_looks_like_library_code_to_a_tracer():
    # lab 6 slows every line outside the libraries with a tracer: the hook must not be slowed too
    names = run_python(TRACED, "/tmp/ipykernel_1/cell.py", windows=True)
    assert "<frozen windows_like>" in names
    assert not [n for n in names if "windows_like" in n and not n.startswith("<frozen")], names
