"""Task functions for thread and process pools.

They live in a module, not in a notebook, because a process started with the *spawn* or
*forkserver* method imports the function by name: a function defined in a notebook cell
exists only under *fork* (lesson 10 shows what happens otherwise).

:data:`STOP` is the sentinel a pool of worker *threads* takes from its job queue to finish.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time


class _Stop:
    __slots__ = ()

    def __repr__(self):  # shown as STOP in a queue the schedule explorer prints, never as an address
        return "STOP"


#: The sentinel that tells a worker thread to finish: a unique object, compared with ``is``, so that no
#: real job (not even ``None`` or ``0``) can be mistaken for it. (A copy sent to a process is another
#: object: processes need a sentinel that compares equal, such as ``None``.)
STOP = _Stop()


def noop(_=None):
    """Does nothing: used to start and warm up pool workers."""
    return os.getpid()


def sleep_task(seconds: float) -> float:
    """A task that only waits, like a slow network request; returns the seconds slept."""
    time.sleep(seconds)
    return seconds


def cpu_task(n: int) -> int:
    """Pure-Python CPU work: the sum of i*i for i < n (holds the GIL all the time)."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def hash_task(size_mb: int) -> str:
    """C code that releases the GIL: SHA-256 over ``size_mb`` MiB of zeros."""
    return hashlib.sha256(bytes(size_mb * 1024 * 1024)).hexdigest()


def count_primes(bounds: tuple[int, int]) -> int:
    """The number of primes p with lo <= p < hi, by trial division (pure Python, CPU-bound)."""
    lo, hi = bounds
    count = 0
    for n in range(max(lo, 2), hi):
        if n < 4:
            count += 1
            continue
        if n % 2 == 0:
            continue
        d = 3
        while d * d <= n:
            if n % d == 0:
                break
            d += 2
        else:
            count += 1
    return count


def whoami(_=None) -> tuple[int, str]:
    """(process id, thread name) of the worker that ran the call."""
    return os.getpid(), threading.current_thread().name


def count_primes_timed(bounds: tuple[int, int]) -> tuple[int, float]:
    """``count_primes(bounds)``, and the CPU seconds the calling thread spent on it (``time.thread_time``).

    Summed over tasks and divided by the wall time of the run, it says how many cores the tasks kept
    busy on average, measured by the worker itself (no 10 ms OS ticks, no other threads counted).
    """
    start = time.thread_time()
    count = count_primes(bounds)
    return count, time.thread_time() - start


def square_in_place(name: str, count: int, start: int = 0, stop: int | None = None) -> None:
    """Runs in a child: attach to the shared memory block ``name`` holding ``count`` int64 numbers and
    square ``[start:stop]`` of them in place; then drop the view and close the block (never unlink it:
    the block belongs to the process that created it).

    ``np.frombuffer`` keeps the block's buffer exported while the array lives, so ``close()`` would
    refuse (``BufferError``) rather than unmap memory the array still uses.
    """
    from multiprocessing import shared_memory

    import numpy as np

    block = shared_memory.SharedMemory(name=name)
    try:
        numbers = np.frombuffer(block.buf, dtype=np.int64, count=count)
        numbers[start:stop] = numbers[start:stop] ** 2
        del numbers
    finally:
        block.close()


def square_each(inbox, outbox, timeout: float = 30.0) -> None:
    """Runs in a child: put ``x * x`` on ``outbox`` for every ``x`` taken from ``inbox``, until ``None``.

    Gives up quietly after ``timeout`` seconds without a message (a parent that forgot the ``None``).
    """
    import queue

    while True:
        try:
            x = inbox.get(timeout=timeout)
        except queue.Empty:
            return
        if x is None:
            return
        outbox.put(x * x)


def stderr_to_file(path: str) -> None:
    """Pool initializer: send this worker's error output (``sys.stderr`` and the OS's file 2) to ``path``.

    A worker that dies writes why to its stderr; under Jupyter that text would land in whichever cell
    happens to run. Sent to a file, the notebook can read it back and show it where it belongs.
    """
    import sys

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the worker
