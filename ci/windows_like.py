"""Run notebooks as they would run on Windows, as far as a Linux machine can tell.

    python ci/windows_like.py [NOTEBOOK ...]     every lesson and lab solution by default

Each notebook runs top to bottom in a fresh kernel (in memory: nothing is stored) whose Python has
the Linux-only calls removed by ``ci/windows_like/`` (no fork, no /proc, no ps, no
sched_setaffinity, spawn the only start method; ``_windows_like_hook.py`` there lists them all).
The report lists, per notebook, the cells that raised and what they raised. Another tool (the soak)
gives a kernel the same environment with :func:`kernel_env`:
``NotebookClient(nb, ...).execute(env=windows_like.kernel_env())``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOK = ROOT / "ci" / "windows_like"


def kernel_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with the Windows-like start-up hook first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    rest = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join([str(HOOK), rest or str(ROOT)])
    return env


def run(path: Path, timeout: int = 120) -> tuple[float, list[str]]:
    """Execute ``path`` in a Windows-like kernel; return (seconds, problems)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    problems = []
    try:
        client.execute(env=kernel_env())
    except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
        problems.append(f"run stopped: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and "raises-exception" not in tags:
                first = cell.source.strip().splitlines()[0][:70] if cell.source.strip() else ""
                problems.append(f"cell {i} ({first!r}): {out.get('ename')}: {' '.join(out.get('evalue', '').split())[:300]}")
    return time.perf_counter() - start, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "ci"))
    from regenerate import targets

    paths = [p.resolve() for p in args.paths] or targets()
    results = {}

    def one(path: Path):
        results[path] = run(path)
        seconds, problems = results[path]
        print(f"{'ok    ' if not problems else 'FAILED'} {seconds:5.1f} s  {path.relative_to(ROOT)}", flush=True)
        for problem in problems:
            print(f"         - {problem}", flush=True)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(one, paths))
    failed = [p for p, (_, problems) in results.items() if problems]
    print(f"{len(paths) - len(failed)} passed, {len(failed)} failed (Windows-like: no fork, /proc, ps, "
          "sched_setaffinity; spawn only)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
