"""Run a lab notebook's cells in a Jupyter kernel: the plumbing shared by the lab tests (``tests/test_labN.py``).

- :func:`lab_paths`: a lab's reference (``solutions/``) and learner (``labs/``) notebooks;
- :func:`cells_by_id` / :func:`sources_by_id`: a notebook's nbgrader cells by ``grade_id``;
- :func:`reference_namespace`: the globals of the reference notebook after its setup and solution cells,
  run in this process (to put wrong answers, as Python functions, through its check cells' tests);
- :class:`LabKernel`: one kernel (nbclient, errors allowed) in a folder; ``run(source) -> (text, seconds)``;
- :func:`run_cells`: every code cell of a notebook in order, each with the seconds it took;
- :func:`output_text`, :func:`verdict_lines`, :func:`failed_lines`: what a cell printed, and the
  ``✔``/``✘`` lines of :func:`threadlab.labcheck.check_exercise` in it;
- :func:`replace_solution`: a solution cell with its ``### BEGIN/END SOLUTION`` region(s) replaced
  (a wrong answer to put through the real check cell);
- :func:`assert_not_attempted`: a blank lab's check cell failed every test quickly, as "not attempted";
  :func:`assert_blank_lab` runs a whole learner notebook and asserts that of each check cell,
  :func:`assert_blank_exercises` does it exercise by exercise in a :class:`LabKernel`;
- :func:`keep_only_source`: kernel code that makes the notebook's ``check_exercise`` run only the
  tests named in ``KEEP`` (to put one wrong answer through the tests meant to catch it).
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = [
    "MARKS",
    "LabKernel",
    "assert_blank_exercises",
    "assert_blank_lab",
    "assert_not_attempted",
    "cells_by_id",
    "failed_lines",
    "keep_only_source",
    "lab_paths",
    "output_text",
    "reference_namespace",
    "replace_solution",
    "run_cells",
    "sources_by_id",
    "verdict_lines",
]

ROOT = Path(__file__).resolve().parents[2]  #: the course repository
MARKS = ("✔", "✘")  #: how check_exercise starts the line of a passed / failed test
SOLUTION_REGION = re.compile(r"^( *)### BEGIN SOLUTION\n.*?^ *### END SOLUTION\n?", re.S | re.M)


def lab_paths(lab: str) -> tuple[Path, Path]:
    """(reference notebook, learner notebook) of the lab folder ``lab``, e.g. ``"lab6-deadlock"``."""
    return ROOT / "solutions" / lab / f"{lab}.ipynb", ROOT / "labs" / lab / f"{lab}.ipynb"


def cells_by_id(path: Path) -> dict[str, NotebookNode]:
    """The cells of the notebook at ``path`` that have nbgrader metadata, by ``grade_id``."""
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def sources_by_id(path: Path) -> dict[str, str]:
    """The sources of the nbgrader cells of the notebook at ``path``, by ``grade_id``."""
    return {grade_id: cell.source for grade_id, cell in cells_by_id(path).items()}


def reference_namespace(path: Path, solutions: list[str]) -> tuple[dict[str, str], dict]:
    """(:func:`sources_by_id` of ``path``, the globals after its ``setup`` cell and the ``solutions`` cells ran here)."""
    sources = sources_by_id(path)
    namespace: dict = {}
    for grade_id in ["setup", *solutions]:
        exec(sources[grade_id], namespace)
    return sources, namespace


def output_text(cell: NotebookNode) -> str:
    """What a code cell printed (its streams), then each error as ``ename: evalue`` and its traceback lines."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n" + "\n".join(out.traceback))
    return "".join(parts)


def verdict_lines(text: str) -> list[str]:
    """The lines of ``text`` that report one test of a check (they start with ✔ or ✘)."""
    return [line for line in text.splitlines() if line.startswith(MARKS)]


def check_verdicts(title: str, tests: list, timeout: float) -> list[str]:
    """Run ``tests`` through ``check_exercise`` as a check cell does; return its ✔/✘ lines.

    Also asserts that the check raised ``CheckFailed`` exactly when some line is not a ✔.
    """
    from threadlab.labcheck import CheckFailed, check_exercise

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            check_exercise(title, tests, timeout=timeout)
            passed = True
        except CheckFailed:
            passed = False
    lines = verdict_lines(printed.getvalue())
    assert passed == all(line.startswith("✔") for line in lines), printed.getvalue()
    return lines


def failed_lines(lines: list[str]) -> list[str]:
    """The verdict lines of the tests that failed (they start with ✘)."""
    return [line for line in lines if line.startswith("✘")]


class LabKernel:
    """One Jupyter kernel (``python3``) whose working folder is ``folder``; cell errors do not stop it.

    >>> with LabKernel(tmp_path) as kernel:               # doctest: +SKIP
    ...     text, seconds = kernel.run("print(6 * 7)")    # ("42\\n", 0.01)
    """

    def __init__(self, folder: Path, timeout: int = 120):
        from nbclient import NotebookClient

        self.nb = nbformat.v4.new_notebook()
        self.client = NotebookClient(self.nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(folder)}})
        self._kernel = None

    def __enter__(self) -> LabKernel:
        self._kernel = self.client.setup_kernel()
        self._kernel.__enter__()
        return self

    def __exit__(self, *exc) -> bool | None:
        kernel, self._kernel = self._kernel, None
        return kernel.__exit__(*exc)

    def run_cell(self, cell: NotebookNode) -> float:
        """Execute ``cell`` (its outputs are filled in); the seconds it took."""
        if self._kernel is None:
            raise RuntimeError("use the LabKernel in a `with` block")
        self.nb.cells.append(cell)
        start = time.perf_counter()
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return time.perf_counter() - start

    def run(self, source: str) -> tuple[str, float]:
        """Execute ``source`` as a new code cell: (what it printed, see :func:`output_text`; the seconds it took)."""
        cell = nbformat.v4.new_code_cell(source)
        seconds = self.run_cell(cell)
        return output_text(cell), seconds


def run_cells(path: Path, timeout: int = 60) -> list[tuple[NotebookNode, float]]:
    """Execute the notebook at ``path`` cell by cell in its own folder (errors allowed): [(code cell, seconds)]."""
    nb = nbformat.read(path, as_version=4)
    with LabKernel(path.parent, timeout=timeout) as kernel:
        return [(cell, kernel.run_cell(cell)) for cell in nb.cells if cell.cell_type == "code"]


def replace_solution(source: str, replacement: str) -> str:
    """``source`` with its ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` regions replaced, in order.

    ``replacement`` holds one part per region, separated by lines ``---``; each part is dedented,
    then indented like the region's ``### BEGIN SOLUTION`` line. There must be a region for each part.
    """
    for part in textwrap.dedent(replacement).split("\n---\n"):
        code = textwrap.dedent(part).strip("\n")
        source, found = SOLUTION_REGION.subn(lambda m, code=code: textwrap.indent(code, m.group(1)) + "\n",
                                             source, count=1)
        if not found:
            raise ValueError(f"no solution region left for the part {code[:60]!r}")
    return source


def assert_not_attempted(name: str, text: str, seconds: float, *, tests: int | None = None,
                         limit: float = 2.0) -> list[str]:
    """Assert that a blank lab's check cell (``name``, which printed ``text`` in ``seconds``) failed as it should.

    Every test line says ``✘ ...: not attempted - ...`` (``tests`` of them, if given; at least one),
    the cell ended with ``CheckFailed`` and no traceback, and it took less than ``limit`` seconds.
    Returns the verdict lines.
    """
    lines = verdict_lines(text)
    print(f"{name}: {len(lines)} tests not attempted, {seconds:.2f} s")
    assert lines, text
    if tests is not None:
        assert len(lines) == tests, text
    assert all(line.startswith("✘") and ": not attempted - " in line for line in lines), text
    assert "CheckFailed" in text and "Traceback" not in text and "labcheck.py" not in text, text
    assert seconds < limit, f"{name} took {seconds:.1f} s on a blank lab"
    return lines


def assert_blank_lab(path: Path, checks: list[str], *, limit: float = 2.0) -> list[tuple[NotebookNode, float]]:
    """Run the learner notebook at ``path`` (:func:`run_cells`); assert that its check cells (nbgrader
    ``grade: true``) are ``checks``, in order, and that each one failed as :func:`assert_not_attempted` says.

    Returns [(code cell, seconds)] of the whole notebook, for the lab's own further checks.
    """
    cells = run_cells(path)
    graded = [(cell, seconds) for cell, seconds in cells if cell.metadata.get("nbgrader", {}).get("grade")]
    assert [cell.metadata["nbgrader"]["grade_id"] for cell, _ in graded] == checks
    for cell, seconds in graded:
        assert_not_attempted(cell.metadata["nbgrader"]["grade_id"], output_text(cell), seconds, limit=limit)
    return cells


def assert_blank_exercises(kernel: LabKernel, cells: dict[str, NotebookNode], tests: dict[str, int], *,
                           limit: float = 2.0) -> None:
    """In ``kernel``: run the ``setup`` cell of a learner notebook's ``cells`` (:func:`cells_by_id`), then for
    each exercise ``ex`` of ``tests`` its ``ex-solution`` cell and its ``ex-check`` cell, which must fail
    its ``tests[ex]`` tests as :func:`assert_not_attempted` says.
    """
    kernel.run(cells["setup"].source)
    for ex, count in tests.items():
        kernel.run(cells[f"{ex}-solution"].source)
        text, seconds = kernel.run(cells[f"{ex}-check"].source)
        assert_not_attempted(ex, text, seconds, tests=count, limit=limit)


def keep_only_source(timeout: float | None = None) -> str:
    """Kernel code that wraps ``check_exercise`` so it runs only the tests named in the global ``KEEP``.

    Run it once per kernel, after the setup cell (a second run would wrap the wrapper), then
    ``KEEP = [...]`` before each check cell; ``timeout`` (seconds a test) overrides the check cell's own limit.
    """
    lines = ["_check_exercise = check_exercise", "def check_exercise(title, tests, **options):"]
    if timeout is not None:
        lines.append(f"    options['timeout'] = {timeout!r}")
    lines.append("    return _check_exercise(title, [t for t in tests if t.__name__ in KEEP], **options)")
    return "\n".join(lines)
