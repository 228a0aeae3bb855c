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

#: The sentinel that tells a worker thread to finish: a unique object, compared with ``is``, so that no
#: real job (not even ``None`` or ``0``) can be mistaken for it. (A copy sent to a process is another
#: object: processes need a sentinel that compares equal, such as ``None``.)
STOP = object()


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
