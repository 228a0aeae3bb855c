"""nbval's check of one run of a notebook against the notebook as stored, for a run made elsewhere.

nbval executes a notebook itself and compares, cell by cell, what the kernel printed with the stored
outputs. The soak tool and the browser suite execute notebooks themselves (nbclient; JupyterLab), so
this module applies nbval's own rules to a notebook they ran:

- a code cell that shows an error fails, unless it is tagged ``raises-exception``, which must raise;
- a code cell's outputs must equal the stored ones after nbval's stream coalescing and the course's
  sanitizers (``ci/nbval-sanitize.cfg``), unless it is tagged ``nbval-ignore-output``; nbval's own
  comparison code does the comparing (``IPyNbCell.compare_outputs``), with its keys skipped (images,
  widget model ids, execution counts);
- a stored cell that never ran is not compared (nbval's rule), but a code cell the run skipped fails.

>>> import nbformat
>>> stored = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", execution_count=1,
...     outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\\n")])])
>>> ran = nbformat.from_dict(stored)
>>> compare(stored, ran, patterns={})
[]
>>> ran.cells[0].outputs[0].text = "2\\n"
>>> [(p.cell, p.kind) for p in compare(stored, ran, patterns={})]
[(0, 'outputs differ')]
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import nbformat
from nbval.plugin import IPyNbCell, coalesce_streams, find_metadata_tags, get_sanitize_patterns, nocolors

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = ROOT / "ci" / "nbval-sanitize.cfg"

# the keys nbval never compares (its IPyNbFile.skip_compare without --nbdime)
SKIP_COMPARE = (
    "metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
    "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg",
)


@dataclass
class Problem:
    cell: int          #: index of the cell in the notebook, markdown cells included, from 0
    code_cell: int     #: nbval's number: code cells only, from 0
    kind: str          #: "error", "did not raise", "did not run", "outputs differ"
    message: str       #: the first line that tells what happened
    detail: str = ""   #: the whole comparison or traceback, for a report

    def __str__(self):
        return f"cell {self.cell} (nbval Cell {self.code_cell}): {self.kind}: {self.message}"


def sanitize_patterns(path: Path = SANITIZE) -> dict:
    return dict(get_sanitize_patterns(path.read_text())) if path.exists() else {}


class _Comparer:
    """Just enough of an nbval cell item to run nbval's own comparison methods."""

    colors = nocolors
    sanitize = IPyNbCell.sanitize
    compare_outputs = IPyNbCell.compare_outputs

    def __init__(self, patterns: dict):
        self.parent = SimpleNamespace(skip_compare=SKIP_COMPARE, sanitize_patterns=patterns)
        self.comparison_traceback: list[str] = []

    def format_output_compare(self, key, left, right):
        """nbval's version asks pytest to draw the difference; a unified diff says the same here."""
        self.comparison_traceback.append(f'{key!r} differs from the stored output (- stored, + this run):')
        left, right = str(left).splitlines(), str(right).splitlines()
        self.comparison_traceback += list(difflib.unified_diff(left, right, lineterm="", n=1))[2:]


def _options(cell) -> dict:
    options = dict(find_metadata_tags(cell.get("metadata", {})) or ())
    options.setdefault("check", True)
    return options


def _error_line(output) -> str:
    value = " ".join(str(output.get("evalue", "")).split())
    return f"{output.get('ename', 'Error')}: {value}" if value else str(output.get("ename", "Error"))


def compare(stored, ran, patterns: dict | None = None) -> list[Problem]:
    """What nbval would report for ``ran`` (the same notebook, executed) against ``stored``."""
    if patterns is None:
        patterns = sanitize_patterns()
    # through JSON: a copy, with multi-line strings joined as nbformat.read joins them
    stored, ran = (nbformat.reads(json.dumps(nb), as_version=4) for nb in (stored, ran))
    if len(stored.cells) != len(ran.cells):
        return [Problem(0, 0, "cells differ", f"{len(ran.cells)} cells ran, {len(stored.cells)} are stored")]
    problems = []
    code_cell = -1
    for index, (ref, got) in enumerate(zip(stored.cells, ran.cells)):
        if ref.cell_type != "code":
            continue
        code_cell += 1
        options = _options(ref)
        if options.get("skip"):
            continue
        outputs = coalesce_streams(list(got.get("outputs", [])))
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if got.get("execution_count") is None and got.source.strip():
            problems.append(Problem(index, code_cell, "did not run", "the cell never ran (an earlier cell failed?)"))
            continue
        if errors and not options.get("check_exception"):
            detail = "\n".join(errors[0].get("traceback", []))
            problems.append(Problem(index, code_cell, "error", _error_line(errors[0]), detail))
            continue
        if options.get("check_exception") and not errors:
            problems.append(Problem(index, code_cell, "did not raise", "tagged raises-exception but raised nothing"))
            continue
        if ref.get("execution_count") is None or not options.get("check"):
            continue
        comparer = _Comparer(patterns)
        if not comparer.compare_outputs(outputs, coalesce_streams(list(ref.get("outputs", [])))):
            detail = "\n".join(str(line) for line in comparer.comparison_traceback)
            problems.append(Problem(index, code_cell, "outputs differ", _gist(detail), detail))
    return problems


def _gist(detail: str) -> str:
    """The first changed lines of a comparison, in one line: what a soak table shows."""
    lines = [line for line in detail.splitlines() if line.strip()]
    changed = [line for line in lines if line[:1] in "-+" and not line.startswith(("---", "+++", "@@"))]
    head = lines[0].split(" differs")[0] if lines else "outputs"
    return (f"{head}: " + " / ".join(changed[:2]) if changed else (lines[0] if lines else "outputs differ"))[:300]


def read(path: Path):
    return nbformat.read(str(path), as_version=4)

