"""Hidden tests: where they are in a reference notebook, and how none of them reaches a student.

A lab's hidden tests live between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` in the locked
check cells of ``solutions/<lab>/<lab>.ipynb`` (nbgrader's format). nbgrader's autograde puts them back
into a submission's check cells and runs them; everything a student gets back afterwards must be free of
them. :class:`HideHiddenTests` does that to a graded notebook:

- the hidden-test region is cut out of every **locked grade cell** (the cells autograde restored from the
  reference). A student's own cells are never touched: text in them that looks like nbgrader's markers is
  the student's (nbgrader's own ``ClearHiddenTests`` raises on it, and grading used to fail);
- output lines that quote a line of the hidden tests are removed;
- what a student sees of each hidden test's result follows a policy (``detail``):

  ``names`` (the default)
      each hidden test's one-line description and whether it passed (``✘ no overdraft ...: failed``);
      its failure message (the exact call, the expected and actual values, the hint) and the thread
      dumps of a timeout are withheld.
  ``full``
      the description and the failure message, as the visible checks show them (never the code).
  ``none``
      nothing per hidden test: their lines are removed; the check's summary line still counts them.

The preprocessor works inside the grader and also as an nbgrader preprocessor from an ``nbgrader_config.py``
(the grader writes one into its output folder), reading the reference cells from the gradebook: then
``nbgrader autograde`` and ``nbgrader generate_feedback`` run in that folder cannot put hidden tests into
feedback either.
"""

from __future__ import annotations

import ast
import dataclasses
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict, Enum

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
DETAILS = ("names", "full", "none")
WITHHELD = "details of hidden tests are not shown"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# a line check_exercise prints for one test: "✔ name" or "✘ name: status - message"
_VERDICT = re.compile(r"^(?P<mark>[✔✘]) (?P<rest>.*)$")
_STATUSES = ("failed", "not attempted", "error", "timed out")


def regions(source: str) -> list[str]:
    """The hidden-test regions of one cell's source (an unterminated region runs to the end of the cell)."""
    found, current = [], None
    for line in source.splitlines():
        if BEGIN in line and current is None:
            current = []
        elif END in line and current is not None:
            found.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        found.append("\n".join(current))
    return found


def strip_regions(source: str) -> tuple[str, bool]:
    """``source`` without its hidden-test regions (markers included); True if there was one. Never raises."""
    kept, inside, removed = [], False, False
    for line in source.splitlines(keepends=True):
        if not inside and BEGIN in line:
            inside, removed = True, True
        elif inside and END in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "".join(kept).rstrip("\n") + ("\n" if source.endswith("\n") else ""), removed


def student_markers(nb, locked_ids: set[str]) -> list[int]:
    """Indexes of cells not restored from the reference whose text holds a hidden-test marker (the student's own)."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") in locked_ids:
            continue
        if BEGIN in cell.source or END in cell.source:
            found.append(index)
    return found


@dataclasses.dataclass
class Reference:
    """What the grader knows of a lab's hidden tests."""

    locked: dict  # grade_id -> source of each locked cell of the reference notebook
    lines: list  # every line of every hidden region (stripped, long enough to be telling)
    names: list  # regex patterns matching the display name of each hidden test

    @classmethod
    def from_sources(cls, locked: dict) -> Reference:
        lines, names = [], []
        for source in locked.values():
            for region in regions(source):
                for line in region.splitlines():
                    if len(line.strip()) >= 8:
                        lines.append(line.strip())
                names.extend(test_name_patterns(region))
        return cls(locked=locked, lines=sorted(set(lines)), names=sorted(set(names)))

    @classmethod
    def from_notebook(cls, nb) -> Reference:
        locked = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("locked") and meta.get("grade_id"):
                locked[meta["grade_id"]] = cell.source
        return cls.from_sources(locked)

    @classmethod
    def from_gradebook(cls, db_url: str, assignment: str, notebook: str) -> Reference:
        from nbgrader.api import Gradebook

        with Gradebook(db_url) as gb:
            source_nb = gb.find_notebook(notebook, assignment)
            locked = {cell.name: cell.source for cell in source_nb.source_cells if cell.locked}
        return cls.from_sources(locked)

    def matches_name(self, text: str) -> bool:
        return any(re.fullmatch(pattern, text) for pattern in self.names)


def test_name_patterns(region: str) -> list[str]:
    """Patterns of the names check_exercise shows for the test functions a hidden region defines.

    A test is shown by the first line of its docstring, else its function name (``threadlab.labcheck``);
    lab 3's tests write ``{kind}`` in a docstring for the class under test."""
    try:
        tree = ast.parse(region)
    except SyntaxError:
        return []
    patterns = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = (ast.get_docstring(node) or "").strip()
            shown = doc.splitlines()[0].strip() if doc else node.name
            patterns.append(re.escape(shown).replace(re.escape("{kind}"), r"\w+"))
    return patterns


def _locate_verdict(rest_line: str, reference: Reference):
    """For a ✘ line whose name contains ': ' itself, try every split against the hidden names."""
    for status in _STATUSES:
        marker = f": {status}"
        start = 0
        while True:
            index = rest_line.find(marker, start)
            if index < 0:
                break
            name = rest_line[:index]
            if reference.matches_name(name):
                message = rest_line[index + len(marker):]
                return name, status, message[3:] if message.startswith(" - ") else message
            start = index + 1
    return None


def filter_text(text: str, reference: Reference, detail: str) -> str:
    """Output text with hidden tests' verdict lines shown as ``detail`` says and lines quoting hidden code removed."""
    quoted = reference.lines

    def quotes_hidden(plain):
        return BEGIN in plain or END in plain or any(q in plain.strip() for q in quoted)

    kept, dropped, skipping = [], 0, False
    for raw in text.splitlines(keepends=True):
        plain = _ANSI.sub("", raw).rstrip("\n")
        newline = "\n" if raw.endswith("\n") else ""
        if skipping and plain.startswith("    "):
            continue  # details (thread stacks, lock owners) under a hidden test's verdict
        skipping = False
        m = _VERDICT.match(plain)
        found = None
        if m and m.group("mark") == "✔" and reference.matches_name(m.group("rest")):
            found = (m.group("rest"), "passed", "")
        elif m and m.group("mark") == "✘":
            found = _locate_verdict(m.group("rest"), reference)
        if found is not None:  # a hidden test's verdict: rebuilt from its name, never copied through
            name, status, message = found
            skipping = detail != "full"
            if detail == "none":
                continue
            if status == "passed":
                kept.append(f"✔ {name}{newline}")
            elif detail == "full" and not quotes_hidden(message):
                kept.append(f"✘ {name}: {status}{' - ' + message if message else ''}{newline}")
            else:
                kept.append(f"✘ {name}: {status} (hidden test: {WITHHELD}){newline}")
            continue
        if quotes_hidden(plain):
            dropped += 1
            continue
        kept.append(raw)
    if dropped:
        kept.append(f"[{dropped} line(s) quoting hidden tests removed]\n")
    return "".join(kept)


def hide_in_cell(cell, reference: Reference, detail: str, locked: bool) -> None:
    """Cut hidden regions out of a restored (locked) cell and filter every output of the cell, in place."""
    if locked:
        cell.source, _ = strip_regions(cell.source)
    if cell.cell_type != "code":
        return
    for out in cell.get("outputs", []):
        if "text" in out:
            out.text = filter_text(out.text, reference, detail)
        for key, value in list(out.get("data", {}).items()):
            if isinstance(value, str) and key.startswith("text/"):
                out.data[key] = filter_text(value, reference, detail)
        if "traceback" in out:
            out.traceback = [filter_text(t, reference, detail) for t in out.traceback]
            out.traceback = [t for t in out.traceback if t.strip()]
        if out.get("output_type") == "error" and locked and detail != "full":
            value = str(out.get("evalue", ""))
            if value and any(value in line for line in reference.lines):  # an assert message written in hidden code
                out.evalue = f"a hidden test failed ({WITHHELD})"
                out.traceback = [f"{out.get('ename', 'Error')}: {out.evalue}"]


def hide(nb, reference: Reference, detail: str = "names"):
    """A graded notebook made safe to return: see the module docstring. Changes ``nb`` in place and returns it."""
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {DETAILS}, not {detail!r}")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        hide_in_cell(cell, reference, detail, locked=meta.get("grade_id") in reference.locked)
    return nb


class HideHiddenTests(NbGraderPreprocessor):
    """nbgrader preprocessor: :func:`hide` with the reference cells taken from the gradebook (or given)."""

    detail = Enum(list(DETAILS), default_value="names", help="what a student sees of each hidden test").tag(config=True)
    locked_sources = Dict(help="grade_id -> reference source of each locked cell (default: from the gradebook)")

    def preprocess(self, nb, resources):
        if self.locked_sources:
            reference = Reference.from_sources(dict(self.locked_sources))
        else:
            info = resources["nbgrader"]
            reference = Reference.from_gradebook(info["db_url"], info["assignment"], info["notebook"])
        hide(nb, reference, self.detail)
        return nb, resources
