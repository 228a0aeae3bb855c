#!/usr/bin/env python3
"""The course's speed experiments, measured on this machine: ``python3 ci/course.py bench``.

    python ci/bench.py [--quick] [--out DIR] [--only NAME ...] [--skip NAME ...]

Writes ``DIR/REPORT.md`` and ``DIR/report.json`` (default ``bench/``). Experiments, by NAME:
io (I/O-bound threads), gil (pure-Python threads), released (GIL-releasing C code in threads),
processes (pools against independent copies and Amdahl's law), overhead (per-task cost of thread
and process pools and Dask), grading (each lab graded correct and deadlocked, next to its notebook).

Every speed figure is a ratio: to an ideal computed from the task set, or to a yardstick measured in
the same run. Variants take turns over k rounds; the best run of each gives the figure, and the
ratios of single rounds give its spread. Nothing here is a test: the figures depend on the machine
and on what else it runs, which the report measures and states. ``--quick`` runs tiny versions
(seconds, not minutes) whose figures mean nothing; the unit test of the report writer uses it.
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime as dt
import glob
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from threadlab import measure  # noqa: E402
from threadlab.measure import Elsewhere, Timing, amdahl, ideal_speedup, run_threads, take_turns  # noqa: E402
from threadlab.workers import count_primes, cpu_task, noop, sleep_task  # noqa: E402

SCHEMA = 1
EXPERIMENTS = ("io", "gil", "released", "processes", "overhead", "grading")
PACKAGES = ("numpy", "psutil", "dask", "distributed", "nbclient", "ipykernel", "nbgrader", "jupyterlab")
YARDSTICKS = ("ideal", "same run")  #: a ratio is to an ideal (computed) or to something measured in this run


# --- what the report holds ---------------------------------------------------------------------


@dataclass
class Figure:
    """One speed figure: ``ratio`` of what was measured to its yardstick, best of ``repeats`` rounds."""

    label: str  #: which row, e.g. "8 threads"
    ratio: float  #: best measured / yardstick
    low: float  #: lowest ratio of a single round
    high: float  #: highest ratio of a single round
    repeats: int
    measured: str  #: what was measured, in words and numbers ("speedup 7.81x, 0.082 s")
    yardstick: str  #: what it is compared with ("8.00x = tasks / ceil(tasks / threads)")
    kind: str  #: "ideal" or "same run"
    values: dict = field(default_factory=dict)  #: the raw numbers (seconds, microseconds, ...)


@dataclass
class Section:
    id: str
    title: str
    how: str  #: how it was measured and how to read it (markdown)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: str = ""
    seconds: float = 0.0
    load: dict = field(default_factory=dict)


def figure(label, best, rounds, measured, yardstick, kind, **values) -> Figure:
    """A Figure from the best ratio and the ratios of single rounds (the best lies between them)."""
    rounds = [float(r) for r in rounds]
    return Figure(label, float(best), min(rounds + [best]), max(rounds + [best]), len(rounds), measured, yardstick,
                  kind, values)


def speedup_figure(label, base: Timing, run: Timing, ideal: float, ideal_text: str, **values) -> Figure:
    """Speedup of ``run`` over ``base`` (same rounds) as a ratio to ``ideal``."""
    best, low, high = measure.ratio_spread(base, run)
    rounds = [b / r / ideal for b, r in zip(base.samples, run.samples)]
    return figure(label, best / ideal, rounds, f"speedup {best:.2f}x ({run.best * 1000:.1f} ms)",
                  f"{ideal:.2f}x = {ideal_text}", "ideal", speedup=best, ideal=ideal,
                  best_s=run.best, speedup_low=low, speedup_high=high, **values)


@dataclass
class Config:
    quick: bool
    rounds: int  #: rounds of each experiment ...
    short_rounds: int  #: ... but those of a few seconds (pure Python and C in threads), which get more
    cores: int
    grading_rounds: int = 1

    def pick(self, full, quick):
        return quick if self.quick else full


def load_of(meter: Elsewhere) -> dict:
    return {"seconds": round(meter.seconds, 2), "other_cores": round(meter.cores, 3),
            "steal_cores": round(meter.steal_cores, 3), "own_cores": round(meter.own_cores, 3)}


# --- 1. I/O-bound threads ----------------------------------------------------------------------


class SlowHandler(BaseHTTPRequestHandler):
    latency = 0.02

    def do_GET(self):  # noqa: N802 - the http.server API
        time.sleep(self.latency)
        body = b"x" * 1024
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def serve_slow(latency: float) -> int:
    """The slow server, in its own process (``--serve-slow``): prints its port, serves until stdin closes."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    SlowHandler.latency = latency
    httpd = Server(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    print(httpd.server_address[1], flush=True)
    try:
        sys.stdin.read()  # until the benchmark closes our stdin (or dies)
    finally:
        httpd.shutdown()
        thread.join(5)
        httpd.server_close()
    return 0


class SlowServer:
    """A loopback HTTP server that answers every request after ``latency`` seconds, in another process
    (so its work does not share this process's GIL with the threads being measured)."""

    def __init__(self, latency: float):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-slow", str(latency)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError("the slow server did not start")
        self.url = f"http://127.0.0.1:{port}/"

    def fetch(self, _=None) -> int:
        with urllib.request.urlopen(self.url, timeout=30) as response:
            return len(response.read())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


def exp_io(cfg: Config) -> Section:
    tasks = cfg.pick(32, 8)
    delay = cfg.pick(0.02, 0.005)
    counts = cfg.pick([1, 2, 4, 8, 16, 32], [1, 2, 4, 8])
    section = Section("io", "I/O-bound threads", (
        f"{tasks} tasks that wait, run on 1 to {counts[-1]} threads released together by a Barrier; thread *i* takes "
        f"tasks *i*, *i + threads*, ... Two kinds of waiting: `time.sleep({delay})`, and an HTTP GET (`urllib`) "
        f"to a loopback server in another process that answers after {delay * 1000:.0f} ms. Waiting needs no core, "
        "so the ideal is the number of rounds saved: `tasks / ceil(tasks / threads)`, whatever the number of cores. "
        "A ratio near 1.0 means threads hid the waiting completely; below it, each task's own CPU work (for HTTP: "
        "building the request, the socket calls, parsing the answer, all holding the GIL) or the machine's load "
        "shows."))
    server = SlowServer(delay)
    try:
        server.fetch()
        for name, fn in (("sleep", sleep_task), ("HTTP GET", server.fetch)):
            arg = delay if fn is sleep_task else None
            timings = take_turns({n: (lambda n=n, fn=fn, arg=arg: run_threads(fn, [arg] * tasks, n).wall)
                                  for n in counts}, cfg.rounds, self_timed=True)
            for n in counts[1:]:
                ideal = ideal_speedup(n, tasks)
                section.figures.append(speedup_figure(
                    f"{name}, {n} threads", timings[1], timings[n], ideal, f"{tasks} / ceil({tasks} / {n})",
                    workload=name, threads=n, tasks=tasks, one_thread_s=timings[1].best))
    finally:
        server.close()
    parts = []
    for name in ("sleep", "HTTP GET"):
        rows = [f for f in section.figures if f.values["workload"] == name]
        worst = min(rows, key=lambda f: f.ratio)
        parts.append(f"{name} {fmt(min(f.ratio for f in rows))}-{fmt(max(f.ratio for f in rows))} of the ideal "
                     f"(lowest: {worst.values['threads']} threads, {worst.values['speedup']:.1f}x)")
    section.headline = f"2 to {counts[-1]} threads: " + "; ".join(parts) + "; the ideal is the same on any machine"
    return section


# --- 2. pure-Python threads under the GIL --------------------------------------------------------


def exp_gil(cfg: Config) -> Section:
    tasks = 8
    n = cfg.pick(600_000, 20_000)
    counts = [1, 2, 4]
    section = Section("gil", "Pure-Python CPU-bound threads", (
        f"{tasks} tasks of pure-Python arithmetic (`sum(i * i for i < {n:,})`, written as a loop) on 1, 2 and 4 "
        "threads released together. **Speedup** is the time with 1 thread divided by the time with *n*, both "
        "measured in the same rounds: with the GIL it stays near 1.0x (one thread runs Python at a time), on a "
        "free-threaded build it approaches the number of cores. **Cores used** is the CPU seconds all threads "
        "got (`time.thread_time()` in each thread, nanosecond resolution) divided by the wall-clock seconds of "
        "the same run: with the GIL it cannot exceed about 1, whatever the machine's load."))
    cpu_runs: dict = {c: [] for c in counts}

    def run(c):
        result = run_threads(cpu_task, [n] * tasks, c)
        cpu_runs[c].append(result.cores_used)
        return result.wall

    timings = take_turns({c: (lambda c=c: run(c)) for c in counts}, cfg.short_rounds, self_timed=True)
    for c in counts[1:]:
        best, low, high = measure.ratio_spread(timings[1], timings[c])
        rounds = [a / b for a, b in zip(timings[1].samples, timings[c].samples)]
        parallel = ideal_speedup(c, tasks, cfg.cores)
        section.figures.append(figure(
            f"speedup, {c} threads", best, rounds, f"{timings[c].best * 1000:.0f} ms with {c} threads",
            f"1 thread: {timings[1].best * 1000:.0f} ms; parallel threads could reach {parallel:.2f}x",
            "same run", threads=c, speedup=best, parallel_ideal=parallel, best_s=timings[c].best,
            one_thread_s=timings[1].best))
    for c in counts:
        best_round = timings[c].samples.index(timings[c].best)
        used = cpu_runs[c][best_round]
        section.figures.append(figure(
            f"cores used, {c} thread{'s' if c > 1 else ''}", used, cpu_runs[c],
            f"{used * timings[c].best * 1000:.0f} ms of CPU in all threads",
            f"wall-clock time of the same run, {timings[c].best * 1000:.0f} ms", "same run", threads=c,
            cpu_s=used * timings[c].best, wall_s=timings[c].best))
    top = section.figures[len(counts) - 2]
    section.headline = (f"{counts[-1]} threads run {top.ratio:.2f}x as fast as 1 thread (same run; {cfg.cores} cores "
                        f"could give {top.values['parallel_ideal']:.2f}x); at most "
                        f"{max(f.ratio for f in section.figures if f.label.startswith('cores')):.2f} cores used "
                        f"({'GIL enabled' if _gil() else 'GIL disabled'})")
    return section


def _gil() -> bool:
    return getattr(sys, "_is_gil_enabled", lambda: True)()


# --- 3. C code that releases the GIL ------------------------------------------------------------


class Released:
    """Three workloads whose C code runs without the GIL: sha256, zlib, a NumPy ufunc."""

    def __init__(self, quick: bool):
        self.buffer = bytes(range(256)) * (4096 * (2 if quick else 64))  # 2 or 64 MiB
        text = b"".join(b"%d, the quick brown fox jumps over %d lazy dogs\n" % (i, i * 7) for i in range(200_000))
        self.text = text[: (256 if quick else 4096) * 1024]  # compressible text: 0.25 or 4 MiB
        import numpy as np

        self.array = np.random.default_rng(0).random(50_000 if quick else 2_000_000)

    def sha256(self, _=None) -> bytes:
        return hashlib.sha256(self.buffer).digest()  # releases the GIL for data over 2047 bytes

    def zlib(self, _=None) -> int:
        return len(zlib.compress(self.text, 6))  # the deflate call runs without the GIL

    def numpy_sin(self, _=None) -> float:
        import numpy as np

        return float(np.sin(self.array)[-1])  # a ufunc loop over float64: runs without the GIL

    def sizes(self) -> dict:
        return {"sha256": f"`hashlib.sha256` over {len(self.buffer) / 2**20:g} MiB",
                "zlib": f"`zlib.compress` of {len(self.text) / 2**20:g} MiB of text, level 6",
                "numpy sin": f"`numpy.sin` of {len(self.array):,} float64 (a ufunc: NumPy releases the GIL in "
                              "its loops over arrays of numbers)"}


def exp_released(cfg: Config) -> Section:
    tasks = 8
    counts = [1, 2, 4]
    work = Released(cfg.quick)
    workloads = {"sha256": work.sha256, "zlib": work.zlib, "numpy sin": work.numpy_sin}
    section = Section("released", "C code that releases the GIL, in threads", (
        f"{tasks} tasks on 1, 2 and 4 threads released together, for three kinds of C work that releases the "
        "GIL while it computes: " + "; ".join(work.sizes().values()) + ". The ideal counts only the cores this "
        f"process may use ({cfg.cores}): `tasks / ceil(tasks / min(threads, cores))`. **Cores used** (CPU seconds "
        "of all threads / wall seconds, `time.thread_time`) above 1 is the proof that the threads really ran at "
        "the same time. Memory bandwidth and the machine's other load usually keep the ratio a little below 1.0 "
        "(above 1.0: see *How to read it*)."))
    for name, fn in workloads.items():
        fn()
        cpu_runs: dict = {c: [] for c in counts}

        def run(c, fn=fn, cpu_runs=cpu_runs):
            result = run_threads(fn, [None] * tasks, c)
            cpu_runs[c].append(result.cores_used)
            return result.wall

        timings = take_turns({c: (lambda c=c: run(c)) for c in counts}, cfg.short_rounds, self_timed=True)
        for c in counts[1:]:
            ideal = ideal_speedup(c, tasks, cfg.cores)
            f = speedup_figure(f"{name}, {c} threads", timings[1], timings[c], ideal,
                                f"{tasks} / ceil({tasks} / min({c}, {cfg.cores} cores))", workload=name, threads=c,
                                one_thread_s=timings[1].best)
            used = cpu_runs[c][timings[c].samples.index(timings[c].best)]
            f.measured += f"; {used:.2f} cores used"
            f.values["cores_used"] = used
            section.figures.append(f)
    ratios = [f.ratio for f in section.figures]
    used = [f.values["cores_used"] for f in section.figures]
    section.headline = (f"{', '.join(workloads)} on 2 and 4 threads: {fmt(min(ratios))}-{fmt(max(ratios))} of the "
                        f"ideal for {cfg.cores} cores; {min(used):.2f}-{max(used):.2f} cores used")
    return section


# --- 4. processes ------------------------------------------------------------------------------

COPY = """
import sys, time
from threadlab.workers import count_primes
job = (int(sys.argv[1]), int(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
count_primes(job)
print(start, time.perf_counter(), flush=True)
"""


def run_copies(copies: int, job: tuple[int, int], timeout: float = 120.0) -> float:
    """``copies`` separate Python processes, each running ``count_primes(job)``, released at the same moment.

    Each process imports, says it is ready and waits; then all are told to go. Each times its own work
    with ``time.perf_counter`` (one clock for the whole machine on Linux, macOS and Windows). Returns
    the seconds from the first start to the last end: start-up is not included.
    """
    procs = [subprocess.Popen([sys.executable, "-c", COPY, str(job[0]), str(job[1])], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(copies)]
    guard = threading.Timer(timeout, lambda: [p.kill() for p in procs])
    guard.start()
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("an independent copy did not start")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        spans = [tuple(map(float, p.stdout.readline().split())) for p in procs]
        for p in procs:
            p.wait(timeout)
    finally:
        guard.cancel()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            p.stdin.close()
            p.stdout.close()
    if any(len(s) != 2 for s in spans):
        raise RuntimeError("an independent copy failed")
    return max(e for _, e in spans) - min(s for s, _ in spans)


def timed_map(pool, fn, items) -> float:
    start = time.perf_counter()
    list(pool.map(fn, items))
    return time.perf_counter() - start


def amdahl_job(pool, serial_units: int, parallel_units: list[int]) -> float:
    """The serial part here, in this process, then the parallel part as tasks on ``pool``."""
    start = time.perf_counter()
    cpu_task(serial_units)
    list(pool.map(cpu_task, parallel_units))
    return time.perf_counter() - start


def exp_processes(cfg: Config) -> Section:
    job = (0, cfg.pick(300_000, 30_000))
    sizes = sorted({2, cfg.cores}) if cfg.cores >= 2 else [2]
    total_units = cfg.pick(12_000_000, 400_000)
    serials = (0.1, 0.5)
    method = multiprocessing.get_start_method(allow_none=True) or measure.describe_machine()["start_method"]
    section = Section("processes", "Processes: pools, independent copies, Amdahl", (
        f"A job (`count_primes({job})`, pure Python, about a quarter of a second) run as *P* tasks. **Independent "
        "copies**: *P* separate Python processes (`python -c ...`, sharing nothing) released at the same moment; "
        "their capacity `P x (one copy alone) / (P copies at once)` is what this machine gives fully independent "
        "work right now: the yardstick for the pools. **Pools** (`concurrent.futures.ProcessPoolExecutor` and "
        f"`multiprocessing.Pool`, start method `{method}`, workers imported from `threadlab.workers`, pools "
        "started and warmed up before timing): speedup = the same *P* tasks on a pool of 1 worker / on *P* "
        "workers. **Amdahl**: a job of known serial fraction *s* (`cpu_task` units: *s* of them run in this "
        "process, the rest as *P* equal tasks on the pool) against Amdahl's law `1 / (s + (1 - s) / P)`, with "
        f"*P* capped at the cores ({cfg.cores}), and with the measured capacity in place of *P*."))
    pools: dict = {}
    try:
        for p in sorted({1, *sizes}):
            pools[("executor", p)] = ProcessPoolExecutor(p)
            pools[("Pool", p)] = multiprocessing.Pool(p)
        for (_, p), pool in pools.items():
            list(pool.map(noop, range(2 * p)))
        run_copies(1, (0, 10))
        for p in sizes:
            variants = {"one copy": lambda: run_copies(1, job), "copies": lambda p=p: run_copies(p, job)}
            for kind in ("executor", "Pool"):
                variants[(kind, 1)] = lambda kind=kind, p=p: timed_map(pools[(kind, 1)], count_primes, [job] * p)
                variants[(kind, p)] = lambda kind=kind, p=p: timed_map(pools[(kind, p)], count_primes, [job] * p)
            t = take_turns(variants, cfg.rounds, self_timed=True)
            capacity = [p * a / b for a, b in zip(t["one copy"].samples, t["copies"].samples)]
            cap_best = p * t["one copy"].best / t["copies"].best
            ideal = ideal_speedup(p, p, cfg.cores)
            section.figures.append(figure(
                f"{p} independent copies", cap_best / ideal, [c / ideal for c in capacity],
                f"capacity {cap_best:.2f}x ({p} copies in {t['copies'].best:.2f} s, one alone "
                f"{t['one copy'].best:.2f} s)", f"{ideal:.2f}x = min({p}, {cfg.cores} cores)", "ideal",
                processes=p, capacity=cap_best, copies_s=t["copies"].best, one_copy_s=t["one copy"].best))
            for kind, name in (("executor", "ProcessPoolExecutor"), ("Pool", "multiprocessing.Pool")):
                speedups = [a / b for a, b in zip(t[(kind, 1)].samples, t[(kind, p)].samples)]
                best = t[(kind, 1)].best / t[(kind, p)].best
                section.figures.append(figure(
                    f"{name}, {p} workers", best / cap_best, [s / c for s, c in zip(speedups, capacity)],
                    f"speedup {best:.2f}x ({p} tasks in {t[(kind, p)].best:.2f} s, 1 worker "
                    f"{t[(kind, 1)].best:.2f} s)", f"{p} independent copies: {cap_best:.2f}x", "same run",
                    processes=p, speedup=best, capacity=cap_best, ideal=ideal))
            for s in serials:
                serial = round(total_units * s)
                parts = [round(total_units * (1 - s) / p)] * p
                job_on = {n: (lambda n=n, serial=serial, parts=parts: amdahl_job(pools[("executor", n)], serial, parts))
                          for n in (1, p)}
                a = take_turns(job_on, cfg.rounds, self_timed=True)
                best, _, _ = measure.ratio_spread(a[1], a[p])
                rounds = [x / y for x, y in zip(a[1].samples, a[p].samples)]
                law = amdahl(1 - s, min(p, cfg.cores))
                section.figures.append(figure(
                    f"Amdahl, serial {s:.0%}, {p} workers", best / law, [r / law for r in rounds],
                    f"speedup {best:.2f}x", f"Amdahl's law {law:.2f}x = 1 / ({s:g} + {1 - s:g} / {min(p, cfg.cores)})",
                    "ideal", processes=p, serial_fraction=s, speedup=best, amdahl=law))
                law_cap = amdahl(1 - s, max(1.0, cap_best))
                section.figures.append(figure(
                    f"Amdahl with capacity, serial {s:.0%}, {p} workers", best / law_cap,
                    [r / amdahl(1 - s, max(1.0, c)) for r, c in zip(rounds, capacity)],
                    f"speedup {best:.2f}x", f"Amdahl's law with {cap_best:.2f} workers (the copies' capacity): "
                    f"{law_cap:.2f}x", "same run", processes=p, serial_fraction=s, speedup=best, amdahl=law_cap))
    finally:
        for (kind, _), pool in pools.items():
            if kind == "Pool":
                pool.close()
                pool.join()
            else:
                pool.shutdown()
    cap = next(f for f in section.figures if f.label.endswith("independent copies"))
    pool = next(f for f in section.figures if f.label.startswith("ProcessPoolExecutor"))
    section.headline = (f"{cap.label}: {cap.values['capacity']:.2f}x ({cap.ratio:.0%} of the ideal); "
                        f"{pool.label}: {pool.values['speedup']:.2f}x, {pool.ratio:.0%} of the copies")
    return section


# --- 5. per-task overhead ----------------------------------------------------------------------


def per_task_us(submit_all) -> float:
    """Microseconds per task of ``submit_all()``, which submits and waits for its tasks and returns their count."""
    start = time.perf_counter()
    count = submit_all()
    return (time.perf_counter() - start) / count * 1e6


def exp_overhead(cfg: Config) -> Section:
    import dask
    from distributed import Client, LocalCluster

    # sized so that each measurement takes a few tenths of a second on a 2-core machine
    many = {"thread": cfg.pick(20_000, 200), "process": cfg.pick(3000, 50), "dask": cfg.pick(200, 20)}
    one = {"thread": cfg.pick(10_000, 20), "process": cfg.pick(2000, 10), "dask": cfg.pick(30, 5)}
    workers = cfg.cores
    section = Section("overhead", "Per-task overhead: thread pool, process pool, Dask", (
        f"Tasks that do nothing (`threadlab.workers.noop`), on {workers} workers each: a `ThreadPoolExecutor`, a "
        "`ProcessPoolExecutor`, and Dask `distributed` `LocalCluster`s, one with `processes=False` (1 worker "
        f"with {workers} threads inside this process) and one with `processes=True` ({workers} worker processes "
        "with 1 thread each), default Dask settings, on 127.0.0.1. **Many in flight**: submit N tasks, then wait "
        "for all, in microseconds per task. **One at a time**: submit one task, wait for its result, repeat "
        "(the round trip). Each figure is a ratio to the thread pool's figure of the same round; the thread "
        "pool's own figures are ratios to a plain function call (`noop(i)` in a loop), also measured in each "
        "round. Pools and clusters start before timing; their start-up is given in seconds."))
    logging.getLogger("distributed").setLevel(logging.ERROR)
    starts = {}
    with ThreadPoolExecutor(workers) as threads, ProcessPoolExecutor(workers) as procs:
        list(procs.map(noop, range(2 * workers)))
        list(threads.map(noop, range(2 * workers)))
        clusters = []
        try:
            for processes in (False, True):
                t0 = time.perf_counter()
                # processes=False talks in-process (inproc://): no host to give; the HTTP endpoints of
                # both (health, metrics) go to a free port, never to a fixed 8787 another program may hold
                kwargs = {"n_workers": workers, "threads_per_worker": 1, "host": "127.0.0.1"} if processes else {
                    "n_workers": 1, "threads_per_worker": workers}
                cluster = LocalCluster(processes=processes, dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR, **kwargs)
                client = Client(cluster)
                clusters.append((cluster, client))
                client.gather(client.map(noop, range(2 * workers), pure=False))
                starts[f"Dask processes={processes}"] = time.perf_counter() - t0
            executors = {"ThreadPoolExecutor": ("thread", threads), "ProcessPoolExecutor": ("process", procs)}

            def plain(count):
                start = time.perf_counter()
                for i in range(count):
                    noop(i)
                return (time.perf_counter() - start) / count * 1e6

            def pool_many(pool, count):
                futures = [pool.submit(noop, i) for i in range(count)]
                for f in futures:
                    f.result(timeout=60)
                return count

            def pool_one(pool, count):
                for i in range(count):
                    pool.submit(noop, i).result(timeout=60)
                return count

            def dask_many(client, count):
                client.gather(client.map(noop, range(count), pure=False))
                return count

            def dask_one(client, count):
                for i in range(count):
                    client.submit(noop, i, pure=False).result(timeout=60)
                return count

            variants = {("plain", "many"): lambda: plain(many["thread"] * 50)}
            for name, (kind, pool) in executors.items():
                variants[(name, "many")] = lambda pool=pool, kind=kind: per_task_us(lambda: pool_many(pool, many[kind]))
                variants[(name, "one")] = lambda pool=pool, kind=kind: per_task_us(lambda: pool_one(pool, one[kind]))
            for (_, client), processes in zip(clusters, (False, True)):
                name = f"Dask processes={processes}"
                variants[(name, "many")] = lambda c=client: per_task_us(lambda: dask_many(c, many["dask"]))
                variants[(name, "one")] = lambda c=client: per_task_us(lambda: dask_one(c, one["dask"]))
            t = take_turns(variants, cfg.rounds, self_timed=True)
        finally:
            for cluster, client in clusters:
                client.close()
                cluster.close()
    saturation = dask.config.get("distributed.scheduler.worker-saturation", None)
    for mode, words in (("many", "many in flight"), ("one", "one at a time")):
        base = t[("ThreadPoolExecutor", mode)]
        plain_t = t[("plain", "many")]
        best, low, high = measure.ratio_spread(base, plain_t)
        section.figures.append(figure(
            f"ThreadPoolExecutor, {words}", best, [a / b for a, b in zip(base.samples, plain_t.samples)],
            f"{base.best:.1f} µs per task", f"a plain call: {plain_t.best:.3f} µs", "same run",
            mode=mode, us_per_task=base.best, yardstick_us=plain_t.best))
        for name in ("ProcessPoolExecutor", "Dask processes=False", "Dask processes=True"):
            cost = t[(name, mode)]
            best, low, high = measure.ratio_spread(cost, base)
            section.figures.append(figure(
                f"{name}, {words}", best, [a / b for a, b in zip(cost.samples, base.samples)],
                f"{cost.best:.1f} µs per task" + (f" (start-up {starts[name]:.2f} s)" if name in starts else ""),
                f"ThreadPoolExecutor: {base.best:.1f} µs", "same run", mode=mode, us_per_task=cost.best,
                yardstick_us=base.best, **({"startup_s": starts[name]} if name in starts else {})))
    section.notes.append(
        f"Dask's scheduler sends a worker only about `worker-saturation` x threads tasks at a time (this Dask: "
        f"`distributed.scheduler.worker-saturation` = {saturation}), so with many tasks in flight it waits for "
        "round trips between scheduler and workers; setting it to `inf` sends all tasks at once and lowers the "
        "cost per task of tiny tasks. Dask pays off for tasks of milliseconds or more, or for work that does not "
        "fit on one machine.")
    d = next(f for f in section.figures if f.label == "Dask processes=False, many in flight")
    p = next(f for f in section.figures if f.label == "ProcessPoolExecutor, many in flight")
    th = section.figures[0]
    section.headline = (f"many tasks in flight: thread pool {th.values['us_per_task']:.0f} µs per task "
                        f"({fmt(th.ratio)}x a plain call); process pool {fmt(p.ratio)}x the thread pool, "
                        f"Dask (processes=False) {fmt(d.ratio)}x")
    return section


# --- 6. grading ----------------------------------------------------------------------------------

DEADLOCK = '''

# --- the benchmark's deadlocked answer: each call takes a new lock twice, in the same thread ---
import functools as _bench_functools
import threading as _bench_threading


def _bench_deadlocked(function):
    @_bench_functools.wraps(function)
    def call(*args, **kwargs):
        lock = _bench_threading.Lock()
        with lock:
            with lock:  # waits for itself: this thread already holds the lock
                return function(*args, **kwargs)
    return call

'''


def deadlock_targets(source: str) -> list[str]:
    """What to make deadlock in an exercise cell: its functions, or the public methods of its classes."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef):
            methods = [n.name for n in node.body if isinstance(n, ast.FunctionDef) and not n.decorator_list
                       and not n.name.startswith("__")]
            names += [f"{node.name}.{m}" for m in methods] or [f"{node.name}.__init__"]
    return names


def deadlocked_submission(nb: dict) -> tuple[dict, str, list[str]]:
    """The reference solution with its first exercise made to deadlock: (notebook, cell id, names wrapped).

    Each function (or public method) of the first exercise cell that is Python code (not a ``%%`` cell
    magic) takes a fresh lock twice before doing its work: the thread waits for itself, as in a learner's
    re-entrant call on a plain Lock. The other exercises stay correct, as in a real submission that is
    stuck on one exercise.
    """
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] != "code" or not meta.get("solution") or source.lstrip().startswith("%%"):
            continue
        names = deadlock_targets(source)
        if names:
            cell["source"] = source + DEADLOCK + "".join(f"{n} = _bench_deadlocked({n})\n" for n in names)
            return nb, meta.get("grade_id", "?"), names
    raise ValueError("no exercise cell with a function or a class to make deadlock")


def run_notebook(path: Path, timeout: float = 300.0) -> float:
    """Seconds to run a notebook top to bottom in a fresh kernel (nbclient), in a scratch copy of its folder."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="bench-nb-") as scratch:
        folder = Path(scratch) / path.parent.name
        shutil.copytree(path.parent, folder)
        nb = nbformat.read(folder / path.name, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
        start = time.perf_counter()
        # the kernel's own stderr (ipykernel's warning that it talks over local TCP) is noise here:
        # errors in the notebook still reach nbclient through the kernel's messages and fail the run
        client.execute(stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def grade(lab: str, source: Path, submissions: list[Path], out: Path) -> tuple[float, dict]:
    """``python -m threadlab grade`` one lab, one submission at a time: (wall seconds, {student: result})."""
    cmd = [sys.executable, "-m", "threadlab", "grade", lab, *map(str, submissions), "--source", str(source),
           "--out", str(out), "--jobs", "1"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"grading {lab} failed: {done.stderr[-2000:]}")
    results = {}
    for path in glob.glob(str(out / "results" / "*" / f"{lab}.json")):
        result = json.loads(Path(path).read_text())
        results[result["student"]] = result
    return wall, results


def times(k: int) -> str:
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


def exp_grading(cfg: Config) -> Section:
    labs = sorted(ROOT.glob("solutions/*/*.ipynb"))
    if cfg.quick:
        labs = [p for p in labs if p.parent.name.startswith("lab4")] or labs[:1]
    k = cfg.grading_rounds
    section = Section("grading", "Grading a lab", (
        "For each lab, `python -m threadlab grade LAB ... --jobs 1` (default settings: 10 s per cell, 60 s per "
        f"submission, the best isolation available) grades the reference solution {times(k)} and a deadlocked "
        "submission once: the reference with its first exercise's functions (or methods) taking a fresh "
        "`threading.Lock` twice, so every call waits for itself. Seconds per submission are the grader's own "
        "(`results/STUDENT/LAB.json`: kernel start, autograde, feedback). The yardstick is the same notebook run "
        f"top to bottom in a fresh kernel by nbclient, no grading, {times(k)}, in the same run next to the grading "
        "(before it, and after it from the second round on). A deadlocked submission's time is mostly the grader "
        "waiting out cell timeouts: every check that calls the deadlocked code waits 10 s. "
        "`--grading-rounds N` grades and runs each reference N times (the spread needs N >= 2; each lab then "
        "takes about N x 20 s longer)."))
    isolation = set()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as scratch:
        for source in labs:
            lab = source.parent.name
            folder = Path(scratch) / lab
            folder.mkdir()
            nb = json.loads(source.read_text())
            bad, cell, names = deadlocked_submission(nb)
            correct = [folder / f"correct-{i}.ipynb" for i in range(1, k + 1)]
            for path in correct:
                shutil.copy(source, path)
            (folder / "deadlocked.ipynb").write_text(json.dumps(bad, indent=1))
            order = [correct[0], folder / "deadlocked.ipynb", *correct[1:]]
            notebook = [run_notebook(source)]
            wall, results = grade(lab, source, order, folder / "out")
            notebook += [run_notebook(source)] if k > 1 else []
            graded = [results[p.stem] for p in correct]
            dead = results["deadlocked"]
            timeouts = sum(e.get("kind") == "timeout" for e in dead.get("events", []))
            isolation |= {r.get("isolation", "?") for r in results.values()}
            nb_best = min(notebook)
            ok = [r["seconds"] for r in graded]
            section.figures.append(figure(
                f"{lab}: reference solution", min(ok) / nb_best, [a / b for a, b in zip(ok, notebook)],
                f"graded in {min(ok):.1f} s, {graded[0]['score']:g}/{graded[0]['max_score']:g} points",
                f"notebook alone: {nb_best:.1f} s", "same run", lab=lab, seconds=ok, notebook_s=notebook,
                score=graded[0]["score"], max_score=graded[0]["max_score"], grader_wall_s=wall))
            section.figures.append(figure(
                f"{lab}: deadlocked ({cell})", dead["seconds"] / nb_best, [dead["seconds"] / n for n in notebook],
                f"graded in {dead['seconds']:.1f} s, {dead['score']:g}/{dead['max_score']:g} points; {timeouts} "
                f"cell{'s' if timeouts != 1 else ''} timed out",
                f"notebook alone: {nb_best:.1f} s", "same run", lab=lab, seconds=dead["seconds"],
                notebook_s=notebook, score=dead["score"], max_score=dead["max_score"], deadlocked=names,
                verdict=dead["verdict"], timeouts=timeouts))
    section.notes.append(f"Isolation used by the grader: {', '.join(sorted(isolation))}. The grader's own start-up "
                         "(imports, checks, gradebook) is in `grader_wall_s` of report.json, not in the figures.")
    if "bwrap" in isolation:
        section.notes.append(
            "Under bwrap each kernel runs in its own pid namespace whose first process the OS re-parents to init, "
            "so its CPU time is not in the benchmark's process tree: this section's \"other programs\" include "
            "the kernels being graded. (Measured once with a cpuacct cgroup around `python -m threadlab grade` "
            "of lab 4, two submissions: 6.3 CPU seconds in the cgroup, 4.6 in the process tree.)")
    ok = [f for f in section.figures if "reference" in f.label]
    dead = [f for f in section.figures if "deadlocked" in f.label]
    section.headline = (f"a correct lab grades in {min(min(f.values['seconds']) for f in ok):.1f}-"
                        f"{max(min(f.values['seconds']) for f in ok):.1f} s, "
                        f"{fmt(min(f.ratio for f in ok))}-{fmt(max(f.ratio for f in ok))}x its notebook run alone; a "
                        f"deadlocked one {min(f.values['seconds'] for f in dead):.0f}-"
                        f"{max(f.values['seconds'] for f in dead):.0f} s, {fmt(min(f.ratio for f in dead))}-"
                        f"{fmt(max(f.ratio for f in dead))}x, mostly waiting out 10 s cell timeouts")
    return section


RUNNERS = {"io": exp_io, "gil": exp_gil, "released": exp_released, "processes": exp_processes,
           "overhead": exp_overhead, "grading": exp_grading}


# --- the report ----------------------------------------------------------------------------------


def check_report(data: dict) -> list[str]:
    """What is wrong with a report (an empty list if nothing): every figure must be a finite, positive
    ratio within its spread, with its yardstick named and of a known kind."""
    problems = []
    for key in ("schema", "generated", "machine", "load", "sections", "duration_s"):
        if key not in data:
            problems.append(f"missing {key}")
    for section in data.get("sections", []):
        if not section.get("figures"):
            problems.append(f"{section.get('id')}: no figures")
        for f in section.get("figures", []):
            where = f"{section.get('id')}: {f.get('label')}"
            ratio, low, high = f.get("ratio"), f.get("low"), f.get("high")
            if not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in (ratio, low, high)):
                problems.append(f"{where}: ratio and spread must be finite positive numbers")
            elif not low - 1e-9 <= ratio <= high + 1e-9:
                problems.append(f"{where}: ratio {ratio} outside its spread {low}-{high}")
            if f.get("kind") not in YARDSTICKS:
                problems.append(f"{where}: yardstick kind {f.get('kind')!r} is not one of {YARDSTICKS}")
            if not str(f.get("yardstick", "")).strip() or not str(f.get("measured", "")).strip():
                problems.append(f"{where}: the yardstick and what was measured must be named")
            if not isinstance(f.get("repeats"), int) or f["repeats"] < 1:
                problems.append(f"{where}: repeats must be a positive integer")
    return problems


INTRO = """\
# Benchmark: what this machine really does

Generated by `python3 ci/course.py bench`{quick} on {generated}, in {duration:.0f} s. While it timed
threads and processes, other programs kept {others:.2f} of the {cores} usable cores busy on average (details
below). The data is in [`report.json`](report.json).

The lessons measure speed on *your* machine and assert only what holds on every machine, idle or busy:
a correct result, a count, an ordering, CPU time per thread. How fast something runs is not such a fact:
it depends on the number of cores, the CPU, the Python build and on what else the machine is doing.
A test that asserts "4 threads make this 3x faster" fails on a busy or a smaller machine although nothing
is wrong, so the strict speed figures live here, in a report a teacher or an author reads, never in a test.

**How to read it.** Every figure is a **ratio**: the measured speedup (or cost) divided by a yardstick,
named next to it. The yardstick is either an **ideal** computed from the task set (e.g. 8 tasks on 3
threads can be at most `8 / ceil(8 / 3)` = 2.67x faster), or something **measured in the same run** (e.g.
what independent copies of the same work achieved at the same moment). Variants take turns over *k*
rounds, so a burst of load from another program slows them alike; the figure comes from the best run of
each, and the *spread* is the lowest and highest ratio of single rounds. A wide spread means the machine
was busy or noisy while it was measured: look at the load below before concluding anything.

Against an ideal, 1.0 is the best possible and a ratio a little under it is normal. A ratio above 1.0 does
not beat the ideal: the run the speedup is computed from (one thread, one worker) was slower in its best
round than the parallel run's share of the work, which is noise from the machine (other programs, a virtual
CPU the host shares, a thread moving between cores); read 0.9-1.2 as "at the ideal". Against something
measured in the same run, the ratio says how many times more time or work it took (a per-task cost of
5.7 is 5.7 times the yardstick's). Re-run it with `python3 ci/course.py bench` to see your own machine.

Two more reports live next to this one, about the checks rather than speed: [mutants.md](mutants.md),
the full mutation suite (every lesson exercise and lab: which realistic wrong answers the visible and
all checks catch), and [counterexamples.md](counterexamples.md), the schedule the explorer shows for each
of the labs' race and deadlock mistakes, ten runs each.
"""


def fmt(x: float) -> str:
    """A ratio with three significant figures at most: 0.97, 5.73, 84.6, 156."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def timing_load(data: dict) -> float | None:
    """Other programs' cores, on average over the sections that time threads and processes (not grading,
    whose sandboxed kernels leave the benchmark's process tree and so count as other programs)."""
    timed = [s for s in data["sections"] if s["id"] != "grading" and s["load"].get("seconds")]
    seconds = sum(s["load"]["seconds"] for s in timed)
    return sum(s["load"]["other_cores"] * s["load"]["seconds"] for s in timed) / seconds if seconds else None


def _triple(values) -> str:
    return "unknown" if not values else ", ".join(f"{v:.2f}" for v in values)


def render_markdown(data: dict) -> str:
    m, load = data["machine"], data["load"]
    timed = timing_load(data)
    lines = [INTRO.format(quick=" --quick (tiny sizes: these figures mean nothing)" if data.get("quick") else "",
                          generated=data["generated"], duration=data["duration_s"],
                          others=load["other_cores"] if timed is None else timed,
                          cores=m["usable_cores"])]
    lines += ["## The machine and its load", ""]
    quota = m["cgroup_quota_cores"]
    busy = load["other_cores"] if timed is None else timed
    build = "free-threaded" if m["free_threaded_build"] else "standard"
    rows = [
        ("CPU", f"{m['cpu_model']}; {m['logical_cpus']} logical CPUs"),
        ("Usable cores", f"{m['usable_cores']} (affinity {m['affinity_cores']}; cgroup quota "
                         f"{'none' if quota is None else f'{quota:g} cores'})"),
        ("Python", f"{m['python']} ({m['implementation']}, {build} build, GIL "
                   f"{'enabled' if m['gil_enabled'] else 'disabled'}; "
                   f"switch interval {m['switch_interval_s'] * 1000:g} ms)"),
        ("Start method", f"{m['start_method']} (available: {', '.join(m['start_methods_available'])})"),
        ("Platform", m["platform"]),
        ("Packages", ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)),
        ("Other programs", ("" if timed is None else f"**{timed:.2f} cores** on average while threads and "
                            "processes were timed (every section but grading): ")
                           + f"**{'quiet' if busy < measure.QUIET else 'busy'}**"
                           f" by the report's measure (quiet: under {measure.QUIET} cores). "
                           f"{load['other_cores']:.2f} cores over the whole run, grading included, whose sandboxed "
                           "kernels leave the benchmark's process tree and so count as other programs. Measured as "
                           "the machine's busy CPU time (`/proc/stat`) minus the benchmark's own process tree "
                           "(psutil, `os.times`)"),
        ("Steal time", f"{load['steal_cores']:.3f} cores on average (time the host gave our virtual CPUs to "
                       "other guests)"),
        ("Busiest other programs", (", ".join(f"{name} {cores:.2f}" for name, cores in load["top_programs"]) or "none")
         + " (cores on average; programs that ended before the benchmark did count in the total above only)"),
        ("Load average", f"{_triple(load['load_average_start'])} at the start, {_triple(load['load_average_end'])} "
                         "at the end (1, 5, 15 min: runnable processes, ours included)"),
    ]
    lines += ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], ""]
    lines += ["## Summary", ""]
    lines += [f"{i}. **{s['title']}**: {s['headline']}" for i, s in enumerate(data["sections"], 1)]
    lines.append("")
    for i, s in enumerate(data["sections"], 1):
        sl = s["load"]
        lines += [f"## {i}. {s['title']}", "", s["how"], "",
                  f"*{s['seconds']:.0f} s; other programs used {sl['other_cores']:.2f} cores meanwhile, steal "
                  f"{sl['steal_cores']:.3f}.*", "",
                  "| | measured | yardstick | ratio | spread | rounds |", "|---|---|---|---:|---|---:|"]
        for f in s["figures"]:
            kind = "*(ideal)*" if f["kind"] == "ideal" else "*(same run)*"
            spread = f"{fmt(f['low'])}-{fmt(f['high'])}" if f["repeats"] > 1 else "(one round)"
            lines.append(f"| {f['label']} | {f['measured']} | {f['yardstick']} {kind} | **{fmt(f['ratio'])}** | "
                         f"{spread} | {f['repeats']} |")
        lines.append("")
        lines += [f"{note}\n" for note in s["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def run(names: list[str], quick: bool, out: Path, grading_rounds: int = 1) -> dict:
    cfg = Config(quick=quick, rounds=2 if quick else 3, short_rounds=2 if quick else 5, cores=measure.usable_cores(),
                 grading_rounds=grading_rounds)
    machine = measure.describe_machine(PACKAGES)
    started = time.perf_counter()
    sections = []
    whole = Elsewhere(programs=True)
    with whole:
        for name in names:
            print(f"[bench] {name} ...", flush=True)
            meter = Elsewhere()
            t0 = time.perf_counter()
            with meter:
                section = RUNNERS[name](cfg)
            section.seconds = time.perf_counter() - t0
            section.load = load_of(meter)
            print(f"[bench] {name}: {section.headline} ({section.seconds:.0f} s, other programs "
                  f"{meter.cores:.2f} cores)", flush=True)
            sections.append(asdict(section))
    try:
        load_end = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load_end = None
    data = {
        "schema": SCHEMA,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 ci/course.py bench" + (" --quick" if quick else ""),
        "quick": quick,
        "duration_s": round(time.perf_counter() - started, 1),
        "rounds": cfg.rounds,
        "short_rounds": cfg.short_rounds,
        "grading_rounds": cfg.grading_rounds,
        "machine": machine,
        "load": {**load_of(whole), "top_programs": [(n, round(c, 3)) for n, c in whole.top_programs(5) if c >= 0.01],
                 "load_average_start": machine["load_average_1_5_15"], "load_average_end": load_end},
        "sections": sections,
    }
    problems = check_report(data)
    if problems:
        raise SystemExit("the report is malformed:\n" + "\n".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    (out / "REPORT.md").write_text(render_markdown(data))
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 ci/course.py bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: checks the machinery, not speed")
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for REPORT.md and report.json")
    parser.add_argument("--only", nargs="+", choices=EXPERIMENTS, help="run only these experiments")
    parser.add_argument("--skip", nargs="+", choices=EXPERIMENTS, default=[], help="leave these out")
    parser.add_argument("--grading-rounds", type=int, default=1,
                        help="times each lab's reference solution is graded and its notebook run (default 1)")
    parser.add_argument("--serve-slow", type=float, help=argparse.SUPPRESS)  # the slow HTTP server's process
    args = parser.parse_args(argv)
    if args.serve_slow is not None:
        return serve_slow(args.serve_slow)
    names = [n for n in (args.only or EXPERIMENTS) if n not in args.skip]
    data = run(names, args.quick, Path(args.out), max(1, args.grading_rounds))
    print(f"[bench] wrote {Path(args.out) / 'REPORT.md'} and report.json in {data['duration_s']:.0f} s; other programs "
          f"used {data['load']['other_cores']:.2f} cores on average meanwhile", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
