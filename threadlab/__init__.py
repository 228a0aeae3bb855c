"""threadlab: the helper package behind the Python concurrency course.

Lessons stay thin by calling into this package for anything longer than a few lines:

- :mod:`threadlab.measure`   timing on a shared machine: best-of, speedup vs ideal and Amdahl, CPU time
                             per thread, other programs' load, usable cores
- :mod:`threadlab.timeline`  record what each thread did when, and draw it (one band per thread)
- :mod:`threadlab.widgets`   sliders that re-run an experiment and re-plot it, readable from code
- :mod:`threadlab.env`       the environment report (also ``python -m threadlab doctor``)
- :mod:`threadlab.exercises` run a learner's answer under a timeout and say what is wrong
- :mod:`threadlab.workers`   task functions importable by worker processes (fork, spawn, forkserver)
- :mod:`threadlab.lessons`   machinery specific to one lesson, one module per lesson
"""

from threadlab.env import report, usable_cores
from threadlab.exercises import check
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
