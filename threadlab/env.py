"""The environment report: what this machine and this Python give the course.

Everything here is *measured* on the machine the code runs on, never assumed: the lessons
print this report and then assert only what must hold everywhere.
"""

from __future__ import annotations

import multiprocessing
import platform
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata

from threadlab.measure import usable_cores

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

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Item:
    """One line of the report: ``ok`` is False when the item is a problem for the course."""

    name: str
    value: str
    ok: bool = True
    note: str = ""


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
            "" if sys.version_info[:2] >= MIN_PYTHON else "the course needs Python 3.10 or newer",
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
    items.append(
        Item(
            "Usable cores",
            str(cores),
            cores >= 2,
            "" if cores >= 2 else "with one core, parallel speedups cannot be shown",
        )
    )
    items.append(Item("Start method", default_start_method()))
    items.append(Item("Platform", f"{platform.system()} {platform.release()} {platform.machine()}"))
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
