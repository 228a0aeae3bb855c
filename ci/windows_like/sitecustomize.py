"""Make this Python process look like Python on Windows, as far as the course can tell.

Python imports ``sitecustomize`` at start-up when it is on ``sys.path``: put this folder first in
``PYTHONPATH`` (``ci/windows_like.py`` does it for a notebook's kernel and for ``ci/soak.py``) and
every process started with that environment, multiprocessing's children included, has:

- multiprocessing with one start method, ``spawn`` (``get_context("fork")`` raises ValueError),
  for everyone;
- for the course's own code (a notebook cell, or ``threadlab``, and the standard library it
  calls): no ``os.fork``, ``os.forkpty``, ``os.register_at_fork``, ``os.sched_setaffinity``,
  ``os.sched_getaffinity``, ``os.setsid``, ``os.getpgid``, ``os.killpg``, ``os.getloadavg``
  (``hasattr(os, "fork")`` is False); no ``signal.SIGKILL``, ``SIGUSR1``, ``SIGUSR2``,
  ``SIGALRM``, ``signal.alarm``, ``signal.setitimer``; no ``/proc`` (opening, listing or
  stat-ing a path under it raises ``FileNotFoundError``) and no ``ps`` program.
  Other code (ipykernel, pyzmq, psutil: they have Windows code of their own) still sees all of
  it, so the kernel itself keeps working;
- ``COURSE_WINDOWS_LIKE=1`` in ``os.environ``, so a report can say the run was Windows-like.

``sys.platform`` stays ``"linux"``: lessons should test for what they need (``hasattr(os, "fork")``,
``threadlab.env.has_proc()``), which is also what works on macOS and in Pyodide.
"""

import builtins
import os
import signal
import subprocess
import sys
import sysconfig

os.environ["COURSE_WINDOWS_LIKE"] = "1"

# the standard library's folder (in a venv, sysconfig's "platstdlib" is the venv, site-packages included)
_STDLIB = tuple({os.path.dirname(os.__file__) + os.sep, sysconfig.get_paths()["stdlib"] + os.sep})
_THREADLAB = os.sep + "threadlab" + os.sep


def _course_code_called(depth: int = 2) -> bool:
    """True when the nearest caller outside the standard library is a notebook cell or threadlab."""
    frame = sys._getframe(depth)
    while frame is not None:
        name = frame.f_code.co_filename
        stdlib = name.startswith(_STDLIB) and "site-packages" not in name
        if not (stdlib or name.startswith("<frozen") or name == __file__):
            return "ipykernel_" in name or name.startswith("<ipython-input") or _THREADLAB in name
        frame = frame.f_back
    return False


def _is_proc(path) -> bool:
    try:
        text = os.fsdecode(path) if not isinstance(path, int) else ""
    except TypeError:
        return False
    return text == "/proc" or text.startswith("/proc/")


def _hidden(path):
    return FileNotFoundError(2, "No such file or directory (a Windows-like run: no /proc)", os.fsdecode(path))


def _guard(function):
    def guarded(path, *args, **kwargs):
        if _is_proc(path) and _course_code_called():
            raise _hidden(path)
        return function(path, *args, **kwargs)

    guarded.__wrapped__ = function
    guarded.__name__ = function.__name__
    return guarded


_HIDDEN = {
    "os": {"fork", "forkpty", "register_at_fork", "sched_setaffinity", "sched_getaffinity",
           "setsid", "getpgid", "killpg", "getloadavg"},
    "signal": {"SIGKILL", "SIGUSR1", "SIGUSR2", "SIGALRM", "alarm", "setitimer"},
}


_Module = type(os)


class _WindowsLikeModule(_Module):
    """A module whose Linux-only names are missing for the course's code."""

    def __getattribute__(self, name):
        if name in _HIDDEN.get(_Module.__getattribute__(self, "__name__"), ()) and _course_code_called(1):
            raise AttributeError(f"module has no attribute {name!r} (a Windows-like run)")
        return _Module.__getattribute__(self, name)


os.__class__ = _WindowsLikeModule
signal.__class__ = _WindowsLikeModule

builtins.open = _guard(builtins.open)
for _name in ("open", "listdir", "scandir", "stat", "lstat", "readlink", "access"):
    setattr(os, _name, _guard(getattr(os, _name)))


class _Popen(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs):
        program = args if isinstance(args, (str, bytes)) else (args[0] if args else "")
        first = os.path.basename(os.fsdecode(program).split()[0]) if program else ""
        if first == "ps" and _course_code_called():
            raise FileNotFoundError(2, "No such file or directory (a Windows-like run: no ps)", first)
        super().__init__(args, *rest, **kwargs)


subprocess.Popen = _Popen


def _spawn_only() -> None:
    from multiprocessing import context

    spawn = context._concrete_contexts["spawn"]
    context._concrete_contexts = {"spawn": spawn}
    default = context._default_context
    default._default_context = spawn
    default._actual_context = None
    default.get_all_start_methods = lambda: ["spawn"]
    import multiprocessing

    multiprocessing.get_all_start_methods = default.get_all_start_methods


_spawn_only()
