"""Run notebooks again and again, with CPU hogs alongside, and count what fails.

One green run of a concurrency notebook proves little: an assert about timing or interleaving that
holds on an idle machine may fail one run in twenty on a busy one. The soak executes each notebook
``--runs`` times top to bottom, each time in a fresh kernel (nbclient), while ``--load`` processes
burn CPU, and checks every run as nbval does (``ci/nbcompare.py``: errors, cells tagged
``raises-exception``, outputs against the stored ones). It also notices what a run leaves behind in
``/dev/shm`` (shared memory blocks, named semaphores). Then it prints a table: each cell that failed,
how often, the first message of each distinct failure, and each notebook's run time.

    python3 ci/course.py soak notebooks/04-race-conditions-and-locks.ipynb --runs 20 --load 2
    python3 ci/course.py soak --runs 20 --load 2                   # every lesson and lab solution
    python3 ci/course.py soak notebooks/10-*.ipynb --start-method spawn
    python3 ci/course.py soak notebooks/09-the-gil.ipynb --python /opt/venv313/bin/python

``--python`` runs the kernels with another interpreter; it needs the course's packages (a virtual
environment made from requirements.txt). ``--start-method`` makes ``spawn``, ``forkserver`` or ``fork``
the default start method before the notebook's first cell (as on macOS/Windows, or Linux from Python
3.14). ``--env NAME=VALUE`` passes a variable to the kernels. The exit status is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import nbcompare  # noqa: E402
from regenerate import targets as default_notebooks  # noqa: E402

CELL_TIMEOUT = 120
SHM = Path("/dev/shm")
START_METHOD_CELL = "import multiprocessing as _soak_mp\n_soak_mp.set_start_method({!r}, force=True)\ndel _soak_mp\n"


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    notebook: str
    seconds: float
    problems: list  #: nbcompare.Problem, plus leftovers as kind "left behind"


@contextlib.contextmanager
def kernel(python: str | None = None, env: dict[str, str] | None = None):
    """``with kernel(python, env) as name:`` a kernelspec ``name`` that starts ``python`` with ``env``."""
    with tempfile.TemporaryDirectory(prefix="soak-kernel-") as folder:
        spec = Path(folder) / "kernels" / "soak"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=ERROR"],
            "display_name": "soak", "language": "python", "env": env or {},
        }))
        saved = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, saved]))
        try:
            yield "soak"
        finally:
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved


def shm_entries() -> set[str]:
    try:
        return {p.name for p in SHM.iterdir()}
    except OSError:
        return set()


def mapped_by_a_process(names: set[str]) -> set[str]:
    """The ``names`` in /dev/shm that some live process has mapped (``/proc/*/maps``).

    /dev/shm is the whole machine's. An entry that appeared during a run but is still mapped by a live
    process after the notebook's kernel has ended belongs to another program running meanwhile (another
    soak, a test suite); a block or semaphore the notebook leaked is mapped by nobody any more.
    """
    found: set[str] = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text(errors="replace")
        except OSError:  # the process ended, or is not ours to read
            continue
        found.update(name for name in names if f"/dev/shm/{name}" in text)
    return found


def run_once(path: Path, kernel_name: str, start_method: str | None = None, timeout: int = CELL_TIMEOUT,
             watch_shm: bool = True) -> Run:
    """Execute a copy of the notebook in a fresh kernel; return what nbval would report, and leftovers."""
    stored = nbcompare.read(path)
    nb = copy.deepcopy(stored)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if start_method:
        nb.cells.insert(0, nbformat.v4.new_code_cell(START_METHOD_CELL.format(start_method)))
    before = shm_entries() if watch_shm else set()
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    problems = []
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
        # the cells after the one that hung or killed the kernel did not run: reported as such below
        problems.append(nbcompare.Problem(-1, -1, "kernel", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"))
    seconds = time.perf_counter() - start
    if start_method:
        first = nb.cells.pop(0)
        if any(o.get("output_type") == "error" for o in first.get("outputs", [])):
            problems.append(nbcompare.Problem(-1, -1, "setup", f"could not set the start method {start_method!r}"))
    problems += nbcompare.compare(stored, nb)
    if watch_shm:
        time.sleep(0.2)  # let the kernel's exit handlers finish unlinking
        new = shm_entries() - before
        left = sorted(new - mapped_by_a_process(new))
        if left:
            problems.append(nbcompare.Problem(-1, -1, "left behind", f"/dev/shm: {', '.join(left[:5])}"
                                              + (f" and {len(left) - 5} more" if len(left) > 5 else "")))
    return Run(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path), seconds, problems)


# ---------------------------------------------------------------- load


class Hogs:
    """``with Hogs(k):`` keeps ``k`` processes spinning on the CPU meanwhile."""

    def __init__(self, count: int):
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.count)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait(10)
        return False


# ---------------------------------------------------------------- the table


@dataclass
class Row:
    notebook: str
    where: str          #: "cell 12 (nbval Cell 7)", or what happened outside a cell
    kind: str
    failures: int = 0
    messages: list = field(default_factory=list)  #: the first message of each distinct failure


def tabulate(runs: list[Run]) -> tuple[list[Row], dict[str, list[float]]]:
    """Failures per (notebook, cell, kind) with their distinct messages; run times per notebook."""
    rows: dict[tuple, Row] = {}
    times: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        times[run.notebook].append(run.seconds)
        seen = set()
        for p in run.problems:
            where = f"cell {p.cell} (nbval Cell {p.code_cell})" if p.cell >= 0 else "-"
            key = (run.notebook, where, p.kind)
            if key in seen:
                continue
            seen.add(key)
            row = rows.setdefault(key, Row(run.notebook, where, p.kind))
            row.failures += 1
            if p.message not in row.messages:
                row.messages.append(p.message)
    order = sorted(rows.values(), key=lambda r: (r.notebook, r.where != "-", _cell_number(r.where)))
    return order, dict(times)


def _cell_number(where: str) -> int:
    return int(where.split()[1]) if where.startswith("cell ") else -1


def report(runs: list[Run], runs_per_notebook: int, load: int, note: str = "") -> str:
    rows, times = tabulate(runs)
    failed_runs = defaultdict(int)
    for run in runs:
        failed_runs[run.notebook] += bool(run.problems)
    lines = [f"soak: {runs_per_notebook} runs per notebook, {load} CPU hogs alongside{note}", "",
             "| notebook | runs failed | run time (min / mean / max) |", "|---|---|---|"]
    for name, seconds in sorted(times.items()):
        lines.append(f"| {name} | {failed_runs[name]}/{len(seconds)} | "
                     f"{min(seconds):.1f} / {sum(seconds) / len(seconds):.1f} / {max(seconds):.1f} s |")
    if rows:
        lines += ["", "| notebook | cell | what | failures/runs | first message of each distinct failure |",
                  "|---|---|---|---|---|"]
        for row in rows:
            messages = " / ".join(m.replace("|", "\\|") for m in row.messages[:3])
            more = f" (+{len(row.messages) - 3} more)" if len(row.messages) > 3 else ""
            lines.append(f"| {row.notebook} | {row.where} | {row.kind} | {row.failures}/{len(times[row.notebook])} "
                         f"| {messages[:400]}{more} |")
    total = sum(failed_runs.values())
    lines += ["", f"{total} of {len(runs)} runs failed" if total else f"all {len(runs)} runs passed"]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson and lab solution")
    parser.add_argument("--runs", type=int, default=10, help="runs of each notebook (default 10)")
    parser.add_argument("--load", type=int, default=0, help="CPU-burning processes alongside (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    parser.add_argument("--python", help="the kernels' interpreter (default: this one)")
    parser.add_argument("--start-method", choices=("fork", "spawn", "forkserver"),
                        help="make this multiprocessing's default start method in each kernel")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for the kernels")
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT, help="seconds (default 120)")
    parser.add_argument("--json", type=Path, help="also write every run's problems here")
    args = parser.parse_args(argv)

    paths = [p.resolve() for p in args.notebooks] or default_notebooks()
    missing = [p for p in paths if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    python = args.python or sys.executable
    check = subprocess.run([python, "-c", "import ipykernel, threadlab, sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True)
    if check.returncode:
        sys.exit(f"{python} cannot run the course's kernels (it lacks ipykernel or threadlab). Make a virtual "
                 f"environment with it and install requirements.txt: {python} -m venv DIR && "
                 "DIR/bin/pip install -r requirements.txt")
    env = dict(item.split("=", 1) for item in args.env)
    note = f", Python {check.stdout.strip()}" + (f", start method {args.start_method}" if args.start_method else "")
    print(f"[soak] {len(paths)} notebooks x {args.runs} runs, {args.load} CPU hogs, {args.jobs} at once{note}",
          flush=True)

    lock = threading.Lock()
    runs: list[Run] = []

    def one(path: Path, kernel_name: str) -> None:
        for k in range(args.runs):
            run = run_once(path, kernel_name, args.start_method, args.cell_timeout, watch_shm=args.jobs == 1)
            with lock:
                runs.append(run)
                status = "ok    " if not run.problems else "FAILED"
                print(f"[soak] {status} {run.seconds:6.1f} s  {run.notebook} run {k + 1}/{args.runs}", flush=True)
                for p in run.problems:
                    print(f"[soak]          - {p}", flush=True)

    start = time.perf_counter()
    with kernel(python, env) as name, Hogs(args.load), ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(lambda p: one(p, name), paths))
    print()
    print(report(runs, args.runs, args.load, note))
    print(f"\nsoak took {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([{"notebook": r.notebook, "seconds": round(r.seconds, 2),
                                          "problems": [str(p) for p in r.problems]} for r in runs], indent=1))
    return 1 if any(r.problems for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
