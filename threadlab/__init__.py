"""threadlab: the course's toolbox.

The concurrency a lesson teaches is written out in its cells. This package holds the tools that are
not the subject, organised by what they do, never by which lesson uses them:

- :mod:`threadlab.measure`   timing on a shared machine: best-of, speedup vs ideal and Amdahl, CPU time
                             per thread, other programs' load, usable cores
- :mod:`threadlab.timeline`  record what each thread did when, and draw it (one band per thread)
- :mod:`threadlab.plotting`  figure conventions
- :mod:`threadlab.widgets`   sliders that re-run an experiment and re-plot it, readable from code
- :mod:`threadlab.env`       the environment report (also ``python -m threadlab doctor``)
- :mod:`threadlab.checks`    exercise checks: run a learner's answer under a timeout, say what is wrong
- :mod:`threadlab.labcheck`  lab checks (raise for nbgrader), race amplifier, traced locks
- :mod:`threadlab.explorer`  the scheduler explorer: step threads through bytecode, search schedules
- :mod:`threadlab.servers`   local servers used as fixtures
- :mod:`threadlab.workers`   task functions importable by worker processes (fork, spawn, forkserver)
- :mod:`threadlab.grading`   the class grader (teachers)
"""

from threadlab.checks import check
from threadlab.env import report, usable_cores
from threadlab.measure import amdahl, ideal_speedup, measure_scaling
from threadlab.timeline import Timeline, plot_timeline

__version__ = "1.0.0"

__all__ = [
    "Timeline",
    "amdahl",
    "check",
    "ideal_speedup",
    "measure_scaling",
    "plot_timeline",
    "report",
    "usable_cores",
]
