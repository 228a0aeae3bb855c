"""The environment report: what this machine and this Python give the course.

Everything here is *measured* on the machine the code runs on, never assumed: the lessons
print this report and then assert only what must hold everywhere.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata

#: The packages the course uses, in the order the report lists them.
COURSE_PACKAGES = (
    "jupyterlab",
    "ipykernel",
    "ipywidgets",
    "matplotlib",
    "numpy",
    "psutil",
    "nbval",
    "pytest",
)

MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Item:
    """One line of the report: ``ok`` is False when the item is a problem for the course."""

    name: str
    value: str
    ok: bool = True
    note: str = ""


def cgroup_cpu_quota(cgroup_root: str = "/sys/fs/cgroup", self_cgroup: str = "/proc/self/cgroup") -> float | None:
    """The CPU quota of this process's control group, in cores (1.5 = one and a half), or None.

    Containers (Binder, a JupyterHub on Kubernetes, ``docker run --cpus``) limit CPU time with a
    quota rather than with CPU affinity, so the machine's core count overstates what a program
    can use. cgroup v2 writes the quota in ``cpu.max`` (``"150000 100000"``: 150 ms of CPU time
    every 100 ms; ``"max 100000"``: no limit); cgroup v1 in ``cpu.cfs_quota_us`` (``-1``: no
    limit) and ``cpu.cfs_period_us``. A limit on any ancestor group applies too, so the
    smallest quota from the process's group up to the root wins. None when no quota is set or
    nothing can be read (macOS, Windows, a sandbox without /sys).
    """
    try:
        with open(self_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # cgroup v2: "0::/path"
            folders = [cgroup_root, os.path.join(cgroup_root, "unified")]
            quotas += _quotas_along(folders, path, _read_cpu_max)
        elif "cpu" in controllers.split(","):  # cgroup v1: "4:cpu,cpuacct:/path"
            folders = [os.path.join(cgroup_root, name) for name in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu")]
            quotas += _quotas_along(folders, path, _read_cfs)
    return min(quotas) if quotas else None


def _quotas_along(mounts: list[str], path: str, read) -> list[float]:
    """Quotas of the group at ``path`` and of its ancestors, under the first mount that has them.

    Inside a container the group's path is often that of the host, absent from the container's
    own mount: then the mount's root (the container's group) is what applies."""
    parts = [p for p in path.split("/") if p]
    for mount in dict.fromkeys(mounts):
        if not os.path.isdir(mount):
            continue
        found = []
        for depth in range(len(parts), -1, -1):
            folder = os.path.join(mount, *parts[:depth])
            if os.path.isdir(folder):
                quota = read(folder)
                if quota is not None:
                    found.append(quota)
        if found:
            return found
    return []


def _read_cpu_max(folder: str) -> float | None:
    try:
        with open(os.path.join(folder, "cpu.max")) as f:
            quota, period = (f.read().split() + ["100000"])[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _read_cfs(folder: str) -> float | None:
    try:
        with open(os.path.join(folder, "cpu.cfs_quota_us")) as f:
            quota = int(f.read())
        with open(os.path.join(folder, "cpu.cfs_period_us")) as f:
            period = int(f.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError, ZeroDivisionError):
        return None


def cores_by_affinity() -> int:
    """CPU cores this process may be scheduled on (its affinity), ignoring any CPU quota."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # macOS and Windows before 3.13
        count = os.cpu_count()
    return count or 1


def usable_cores() -> int:
    """CPU cores this process can keep busy: its affinity, lowered by a container's CPU quota.

    A quota of 1.5 cores gives 1 (one core can be kept busy the whole time; a second only a
    half of it), so speedups are compared with what the container can really reach. At least 1.
    """
    cores = cores_by_affinity()
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, int(quota + 1e-9)))
    return cores


def is_free_threaded_build() -> bool:
    """True on a free-threaded ("3.13t") build of CPython, whether or not the GIL is on."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """True when the GIL is enabled in this process right now.

    ``sys._is_gil_enabled()`` exists from Python 3.13; before that every CPython has a GIL.
    A free-threaded build can still turn the GIL on (``PYTHON_GIL=1``, or an extension
    module that does not declare itself safe), so the build alone does not tell.
    """
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def has_proc() -> bool:
    """True when this system has Linux's ``/proc`` (not macOS, not Windows)."""
    return os.path.isdir("/proc/self/task")


def linux_only_calls() -> dict[str, bool]:
    """Which calls the course uses that only Linux has are available here.

    Windows has none of them (and no ``fork`` start method: ``spawn`` is its only one); macOS
    has ``os.fork`` but neither ``/proc`` nor ``os.sched_setaffinity``. A lesson that needs one
    tests for it (``hasattr(os, "fork")``, :func:`has_proc`) and explains instead of failing.
    """
    return {"os.fork": hasattr(os, "fork"), "/proc": has_proc(),
            "os.sched_setaffinity": hasattr(os, "sched_setaffinity")}


def where() -> str:
    """Where this kernel runs, as far as it can tell: one of ``"JupyterLite (Pyodide)"``,
    ``"Google Colab"``, ``"Binder"``, ``"JupyterHub"`` or ``"this computer"``."""
    if sys.platform == "emscripten":
        return "JupyterLite (Pyodide)"
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "Google Colab"
    if "BINDER_LAUNCH_HOST" in os.environ or "BINDER_REPO_URL" in os.environ:
        return "Binder"
    if "JUPYTERHUB_API_URL" in os.environ:
        return "JupyterHub"
    return "this computer"


def default_start_method() -> str:
    """The multiprocessing start method that will be used, without fixing it as a side effect."""
    chosen = multiprocessing.get_start_method(allow_none=True)
    if chosen is not None:
        return chosen
    default = getattr(multiprocessing.context, "_default_context", None)
    inner = getattr(default, "_default_context", None)
    return getattr(inner, "_name", None) or multiprocessing.get_context().get_start_method()


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def report() -> list[Item]:
    """Measure this environment and return the report as a list of :class:`Item`."""
    items = []
    version = platform.python_version()
    items.append(
        Item(
            "Python",
            f"{version} ({platform.python_implementation()})",
            sys.version_info[:2] >= MIN_PYTHON,
            "" if sys.version_info[:2] >= MIN_PYTHON else "the course needs Python 3.11 or newer",
        )
    )
    build = "free-threaded" if is_free_threaded_build() else "standard (with GIL)"
    items.append(Item("Build", f"{build}; {platform.python_compiler()}"))
    gil = gil_enabled()
    note = ""
    if is_free_threaded_build() and gil:
        note = "free-threaded build, but the GIL was switched back on (PYTHON_GIL or an extension)"
    items.append(Item("GIL", "enabled" if gil else "disabled", True, note))
    cores = usable_cores()
    quota = cgroup_cpu_quota()
    note = "" if cores >= 2 else "with one core, parallel speedups cannot be shown"
    if quota is not None:
        limit = f"a CPU quota of {quota:g} cores on {cores_by_affinity()}"
        note = f"{limit}; {note}" if note else limit
    items.append(Item("Usable cores", str(cores), cores >= 2, note))
    items.append(Item("Start method", default_start_method()))
    items.append(Item("Platform", f"{platform.system()} {platform.release()} {platform.machine()}"))
    place = where()
    in_browser = place == "JupyterLite (Pyodide)"
    items.append(Item("Runs in", place, not in_browser,
                      "a Python inside the web page cannot start threads or processes: use Binder, "
                      "a JupyterHub or your own computer" if in_browser else ""))
    missing = [name for name, found in linux_only_calls().items() if not found]
    items.append(Item("Linux-only calls", "all available" if not missing else "missing: " + ", ".join(missing), True,
                      "a lesson that needs one says so" if missing else ""))
    for name in COURSE_PACKAGES:
        found = package_version(name)
        items.append(
            Item(
                name,
                found or "missing",
                found is not None,
                "" if found else "install the course requirements (see README)",
            )
        )
    return items


def format_report(items: list[Item]) -> str:
    """The report as a fixed-width text table, one item a line, with OK or PROBLEM."""
    width = max(len(item.name) for item in items)
    value_width = max(len(item.value) for item in items)
    lines = []
    for item in items:
        status = "OK" if item.ok else "PROBLEM"
        line = f"{item.name:<{width}}  {item.value:<{value_width}}  {status}"
        if item.note:
            line += f"  ({item.note})"
        lines.append(line.rstrip())
    return "\n".join(lines)


def as_dict(items: list[Item]) -> dict[str, Item]:
    """The report keyed by item name, for asserts in a notebook."""
    return {item.name: item for item in items}
