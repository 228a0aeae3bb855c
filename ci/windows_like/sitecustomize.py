"""Make this Python process look like Python on Windows to the course's code.

Python imports ``sitecustomize`` at start-up when it is on ``sys.path``: ``ci/windows_like.py``
puts this folder first on ``PYTHONPATH``. What changes is described in ``_windows_like_hook.py``.

The hook runs under the file name ``<frozen windows_like>``, as the standard library's frozen
modules do, so it stays invisible to the course's code as an operating system would be: tracers
that leave library code alone (lab 6 slows every line of the learner's code with one) leave it
alone too, and tracebacks do not point into it.
"""

with open(__file__[: -len("sitecustomize.py")] + "_windows_like_hook.py") as _hook:
    exec(compile(_hook.read(), "<frozen windows_like>", "exec"), {"__name__": "windows_like_hook"})
del _hook
