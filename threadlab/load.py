"""How many cores other programs take while we measure.

A speedup can only use the cores the rest of the machine leaves free, so the lessons' speed
checks measure, next to their own timing, how busy everything else kept the machine: the
machine's busy CPU time minus ours. "Everything else" includes, on a virtual machine, the time
the host gave our virtual CPUs to another guest (steal time).
"""

from __future__ import annotations

import time

QUIET = 0.25  #: other programs using less than this many cores: the machine counts as quiet


def _own_cpu_seconds() -> float:
    """CPU seconds used so far by this process and all its live descendants (pool workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _machine_cpu_seconds() -> float:
    """CPU seconds used so far by everything on the machine (all cores together)."""
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    counted_twice = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)  # already in user/nice
    return sum(t) - idle - counted_twice


class Elsewhere:
    """``with Elsewhere() as e:`` measures how many cores *other* programs kept busy meanwhile.

    A speedup can only use the cores the rest of the machine leaves free: on a 2-core machine
    where another program keeps one core busy, 2 processes cannot get 1.6x. ``e.cores`` is the
    machine's busy CPU time minus ours (this process and its live children), per second.
    """

    def __init__(self):
        self.seconds = 0.0
        self.other_cpu = 0.0
        self.own_cpu = 0.0

    def __enter__(self):
        self._t0 = time.perf_counter()
        self._machine0 = _machine_cpu_seconds()
        self._own0 = _own_cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._t0
        own = _own_cpu_seconds() - self._own0
        self.own_cpu += own
        self.other_cpu += max(0.0, _machine_cpu_seconds() - self._machine0 - own)
        return False

    @property
    def own_cores(self) -> float:
        """Average number of cores *we* (this process and its children) used while measuring."""
        return self.own_cpu / self.seconds if self.seconds else 0.0

    @property
    def cores(self) -> float:
        """Average number of cores other programs used while we measured."""
        return self.other_cpu / self.seconds if self.seconds else 0.0
