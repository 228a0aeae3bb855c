"""Make this Python process look like Python on Windows, as far as the course can tell.

``sitecustomize.py`` next to this file runs it at start-up when this folder is first on
``PYTHONPATH`` (``ci/windows_like.py``'s ``kernel_env()`` puts it there, for a notebook's kernel
or the soak tool). Every process started with that environment, multiprocessing's children
included, has:

- multiprocessing with one start method, ``spawn`` (``get_context("fork")`` raises ValueError),
  for everyone;
- for the course's own code (a notebook cell, or ``threadlab``): no ``os.fork``,
  ``os.forkpty``, ``os.register_at_fork``, ``os.sched_setaffinity``, ``os.sched_getaffinity``,
  ``os.setsid``, ``os.getpgid``, ``os.killpg``, ``os.getloadavg`` (``hasattr(os, "fork")`` is
  False); no ``signal.SIGKILL``, ``SIGUSR1``, ``SIGUSR2``, ``SIGALRM``, ``signal.alarm``,
  ``signal.setitimer``; no ``/proc`` (opening, listing or stat-ing a path under it, also through
  pathlib or os.path, raises ``FileNotFoundError``) and no ``ps`` program (also through
  subprocess). Other code (the standard library's own Linux code, ipykernel, psutil: on Windows
  they run Windows code of their own) still sees all of it, so the kernel itself keeps working;
- ``COURSE_WINDOWS_LIKE=1`` in ``os.environ``, so a report can say the run was Windows-like.

``sys.platform`` stays ``"linux"``: lessons should test for what they need (``hasattr(os, "fork")``,
``threadlab.env.has_proc()``), which is also what works on macOS and in Pyodide.
"""

import builtins
import os
import signal  # noqa: F401  (so that sys.modules["signal"] exists for _hide)
import subprocess
import sys
import sysconfig

os.environ["COURSE_WINDOWS_LIKE"] = "1"

# the standard library's folder (in a venv, sysconfig's "platstdlib" is the venv, site-packages included)
_STDLIB = tuple({os.path.dirname(os.__file__) + os.sep, sysconfig.get_paths()["stdlib"] + os.sep})
_THREADLAB = os.sep + "threadlab" + os.sep


def _is_course(name: str) -> bool:
    return "ipykernel_" in name or name.startswith("<ipython-input") or _THREADLAB in name


def _course_code_called(depth: int = 2) -> bool:
    """True when the nearest caller outside the standard library is a notebook cell or threadlab.

    For paths (/proc) and programs (ps): the standard library opening a file or starting a program
    for the course's code (pathlib, os.path, subprocess) acts for it."""
    frame = sys._getframe(depth)
    while frame is not None:
        name = frame.f_code.co_filename
        stdlib = name.startswith(_STDLIB) and "site-packages" not in name
        if not (stdlib or name.startswith("<frozen")):  # this hook runs as "<frozen windows_like>"
            return _is_course(name)
        frame = frame.f_back
    return False


def _course_code_asked(depth: int = 2) -> bool:
    """True when the code asking for a hidden name is itself a notebook cell or threadlab.

    The standard library's own Linux code keeps its names: on Windows it would run its Windows
    code instead (multiprocessing kills a process with TerminateProcess there, not SIGKILL)."""
    return _is_course(sys._getframe(depth).f_code.co_filename)


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


def _hide(module, names) -> None:
    """Take ``names`` out of ``module``; a module ``__getattr__`` hands them back to code that is not
    the course's. Only these names go through Python code: every other attribute of the module is
    looked up as usual (a tracer that slows every line, as lab 6's checks use, sees nothing new)."""
    hidden = {name: getattr(module, name) for name in names if hasattr(module, name)}
    for name in hidden:
        delattr(module, name)

    def __getattr__(name):
        if name in hidden and not _course_code_asked():
            return hidden[name]
        suffix = " (a Windows-like run)" if name in hidden else ""
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}{suffix}")

    module.__getattr__ = __getattr__


for _module, _names in _HIDDEN.items():
    _hide(sys.modules[_module], _names)

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
