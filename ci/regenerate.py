"""Execute notebooks top to bottom in a fresh kernel and store their outputs in place.

This is the only way stored outputs are made: ``python ci/course.py regenerate`` (all lesson and
solution notebooks) or ``python ci/course.py regenerate notebooks/03-threads.ipynb``.
Cells tagged ``raises-exception`` may raise; any other error stops that notebook and leaves the
file untouched. The kernel runs in the notebook's own folder, like in JupyterLab.
Notebooks that judge wall-clock speed (``measures_speed``) run alone, before the others, so the
outputs they store are measured on a machine the other notebooks do not share.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 120


def targets(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "solutions").glob("*/*.ipynb"))


SPEED_WORDS = re.compile(r"\b(speedup|per_second)\b")


def measures_speed(path: Path) -> bool:
    """True when the notebook's code measures wall-clock speed (speedups, throughput). Such a
    notebook is stored alone: its asserts hold on a busy machine, but the figures it shows (in
    cells whose output nbval ignores) should be what the machine does when nothing else runs."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return any(cell.get("cell_type") == "code" and SPEED_WORDS.search("".join(cell.get("source", "")))
               for cell in nb.get("cells", []))


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> float:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    # nbclient records the exact Python version; keep only major.minor so a patch release
    # does not change every notebook
    info = nb.metadata.get("language_info", {})
    if "version" in info:
        info["version"] = ".".join(info["version"].split(".")[:2])
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all lessons and solutions)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="notebooks executed at once")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.paths] or targets()
    failed = []

    def one(path: Path):
        try:
            seconds = execute(path)
            print(f"{seconds:6.1f} s  {shown(path)}", flush=True)
        except Exception as exc:  # report and go on with the others
            failed.append(path)
            print(f"FAILED   {shown(path)}: {type(exc).__name__}: {exc}"[:2000], flush=True)

    alone = [p for p in paths if measures_speed(p)]
    for path in alone:
        one(path)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(one, [p for p in paths if p not in alone]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
