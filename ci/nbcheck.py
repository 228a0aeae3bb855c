"""Checks on committed notebooks that nbval alone does not make.

- every code cell was executed, in one clean run: execution counts 1, 2, 3, ... in order;
- no stored error output, except in cells tagged ``raises-exception``;
- a cell tagged ``nbval-ignore-output`` is followed by a code cell that asserts something,
  so varying output is never left unchecked;
- every lesson keeps the course style: a ``# NN · Title`` heading, "You will learn",
  numbered sections, at least one exercise with a check, key points, navigation;
- the code being taught is in the cells: no lesson imports a per-lesson module or prints source
  with ``inspect.getsource``; no assert depends on how busy the machine is ("quiet machine"
  switches); sources are named by author and title, never as "seed 003";
- every exercise solution cell names its exercise (metadata ``exercise``) for the mutation suite.

``python ci/nbcheck.py`` prints every problem and exits 1 if there is one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def executed_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "solutions").glob("*/*.ipynb"))


def run_problems(path: Path) -> list[str]:
    """Problems with how the notebook was executed and stored."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    if any(n is None for n in counts):
        missing = sum(n is None for n in counts)
        problems.append(f"{missing} code cell(s) never executed: run `python ci/course.py regenerate {path.name}`")
    elif counts != list(range(1, len(code) + 1)):
        problems.append(f"execution counts {counts} are not 1..{len(code)}: not one clean top-to-bottom run")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and "raises-exception" not in tags(cell):
            problems.append(f"cell {i}: stored error {errors[0].get('ename')} in a cell not tagged raises-exception")
        if "raises-exception" in tags(cell) and not errors:
            problems.append(f"cell {i}: tagged raises-exception but stored no error")
        if "nbval-ignore-output" in tags(cell):
            following = next((c for c in nb.cells[i + 1:] if c.cell_type == "code"), None)
            if following is None or "assert" not in following.source:
                problems.append(f"cell {i}: output ignored by nbval but the next code cell asserts nothing")
        if "nbval-skip" in tags(cell) or "skip-execution" in tags(cell):
            problems.append(f"cell {i}: skipped cells are not allowed in lessons (nothing would check them)")
    return problems


def style_problems(path: Path) -> list[str]:
    """Problems with the lesson template (see CONTRIBUTING.md)."""
    nb = nbformat.read(path, as_version=4)
    body = [c for c in nb.cells if "nav" not in tags(c)]
    markdown = "\n".join(c.source for c in body if c.cell_type == "markdown")
    problems = []
    number = path.name[:2]
    if not body or body[0].cell_type != "markdown" or not re.match(rf"# {number} · \S", body[0].source):
        problems.append(f"first cell must be the title '# {number} · ...'")
    if "nav" not in tags(nb.cells[0]) or "nav" not in tags(nb.cells[-1]):
        problems.append("navigation cells missing: run `python ci/course.py nav`")
    if path.name != "00-start-here.ipynb":
        if "You will learn" not in markdown:
            problems.append("no 'You will learn' list")
        if not re.search(r"^## 1\. ", markdown, re.M):
            problems.append("no numbered sections ('## 1. ...')")
        if not re.search(r"^##+ Exercise", markdown, re.M):
            problems.append("no exercise section ('### Exercise ...')")
        if not any(c.cell_type == "code" and "check" in c.source for c in body):
            problems.append("no code cell runs an exercise check")
        if not re.search(r"^## Key points", markdown, re.M):
            problems.append("no '## Key points' section")
    return problems


OPEN_CODE_RULES = [
    (re.compile(r"threadlab\.lessons|from threadlab import lessons"),
     "imports a per-lesson module: put the code being taught in the cells"),
    # Reading the standard library's own source (threading.Event.set) is fine; the course's code is in cells.
    (re.compile(r"inspect\.getsource\((?!\s*(threading|queue|multiprocessing|asyncio|concurrent|socket|selectors)\.)"),
     "prints source with inspect.getsource: put the code in a cell the learner can edit"),
    (re.compile(r"threadlab\.load|\bElsewhere\b|\bQUIET\b|\bquietly\b"),
     "depends on how busy the machine is: assert what holds on any machine (CONTRIBUTING, claims)"),
]
SEED_WORDS = re.compile(r"\bseeds?\s*\d|\bthe seeds\b", re.I)


def openness_problems(path: Path) -> list[str]:
    """The code being taught is in the cells, and every claim holds on any machine."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for pattern, why in OPEN_CODE_RULES:
                if pattern.search(cell.source):
                    problems.append(f"cell {i}: {why}")
            if "solution" in tags(cell) and path.parent.name == "notebooks" and not cell.metadata.get("exercise"):
                problems.append(f"cell {i}: solution cell without metadata 'exercise' (see mutants/README.md)")
        elif SEED_WORDS.search(cell.source):
            problems.append(f"cell {i}: name a source by author, title and year, not as a seed")
    return problems


def all_problems(root: Path = ROOT, paths: list[Path] | None = None) -> dict[str, list[str]]:
    out = {}
    for path in paths or executed_notebooks(root):
        path = path.resolve()
        found = run_problems(path) + openness_problems(path)
        if path.parent.name == "notebooks":
            found += style_problems(path)
        if found:
            out[path.relative_to(root).as_posix()] = found
    return out


def main(argv=None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    problems = all_problems(paths=paths or None)
    for name, found in problems.items():
        for problem in found:
            print(f"{name}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
