"""Write the class edition of the course: what learners get, without any answer.

    python3 ci/course.py edition OUT

``OUT`` (a new or empty folder) receives a copy ready to push as a template repository (GitHub
Classroom, a hub's shared folder):

- the lessons, with every cell tagged ``solution`` removed (the collapsed reference answers);
- the labs in learner form only (``labs/``); ``solutions/`` (reference answers and hidden
  tests), the teachers' pages and the course's own test suite are left out;
- the helper package, requirements, launch files (Binder) and ``ci/course.py`` so that
  ``python3 ci/course.py open`` works as in the full course;
- a README that says what this copy is.

The copy is checked before the command ends: no cell tagged ``solution``, no
``BEGIN SOLUTION``/``BEGIN HIDDEN TESTS`` marker and no file from ``solutions/`` anywhere in it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import launch  # noqa: E402
import website  # noqa: E402

#: files and folders of the repository that the edition keeps (everything else stays out)
KEEP = ("notebooks/", "labs/", "threadlab/", "requirements.txt", "pyproject.toml", "runtime.txt",
        "apt.txt", "postBuild", "LICENSE", "ci/course.py", "docs/launch.md", "docs/platforms.md", ".gitignore")
#: inside what is kept, parts that must not reach learners (the grader holds no answers: kept)
DROP: tuple[str, ...] = ()
MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")

PREFACE = """> **Class edition.** This copy of the course has no reference answers: the lessons' solution
> cells and the labs' reference versions and hidden tests are left out. Start with
> `python3 ci/course.py open` (or a launch link from your teacher). Where a lesson mentions a collapsed
> solution cell or `solutions/`, ask your teacher. The full course, with the test suite, is at
> {repo}.

"""


def tracked_files(root: Path) -> list[str]:
    """The repository's files (git's list when this is a checkout, else every file but caches)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        files = [f for f in out.decode().split("\0") if f]
        if files:
            return [f for f in files if (root / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        pass
    skip = {".git", ".venv", "build", "__pycache__", ".ipynb_checkpoints", "screenshots", "grading-output"}
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not skip & set(p.relative_to(root).parts))


def kept(rel: str) -> bool:
    return (any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in KEEP)
            and not any(rel.startswith(d) for d in DROP))


def without_solutions(text: str, rel: str = "", files: set[str] | None = None, repo: str = "") -> str:
    """A notebook's JSON with its cells tagged ``solution`` removed; with ``files`` (what the
    edition holds), links to anything else (the teachers' pages, solutions/) go to the full course."""
    nb = json.loads(text)
    nb["cells"] = [c for c in nb["cells"] if "solution" not in c.get("metadata", {}).get("tags", [])]
    if files is not None:
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = website.rewrite_links(website.text_of(cell["source"]), rel, files, repo or None)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def problems(out: Path) -> list[str]:
    found = []
    if (out / "solutions").exists():
        found.append("solutions/ is in the edition")
    for path in out.rglob("*.ipynb"):
        rel = path.relative_to(out).as_posix()
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell.get("source", ""))
            if "solution" in cell.get("metadata", {}).get("tags", []):
                found.append(f"{rel}: cell {i} is tagged solution")
            found += [f"{rel}: cell {i} holds '{marker}'" for marker in MARKERS if marker in source]
    return found


def write(out: Path, root: Path = ROOT, repo: str = "") -> list[str]:
    """Write the edition into ``out``; return the files written (repo-relative)."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: give a new or empty folder")
    if out.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{out} is inside the course: give a folder outside it")
    written = []
    files = [rel for rel in tracked_files(root) if kept(rel)]
    for rel in files:
        src, dst = root / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            dst.write_text(without_solutions(src.read_text(), rel, {*files, "README.md"}, repo))
        else:
            shutil.copy2(src, dst)
        written.append(rel)
    # links to what the edition leaves out (the teachers' pages, solutions/) go to the full course
    readme = website.rewrite_links((root / "README.md").read_text(), "README.md", set(written), repo or None)
    title, _, rest = readme.partition("\n")
    (out / "README.md").write_text(f"{title}\n\n{PREFACE.format(repo=repo or 'the course repository')}{rest.lstrip()}")
    written.append("README.md")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new or empty folder outside the course")
    args = parser.parse_args(argv)
    try:
        repo = launch.repository(ROOT)
    except ValueError:
        repo = ""
    try:
        written = write(args.out, ROOT, repo)
    except (FileExistsError, ValueError) as exc:
        print(f"edition: {exc}", file=sys.stderr)
        return 2
    found = problems(args.out)
    for problem in found:
        print(f"edition: {problem}", file=sys.stderr)
    if found:
        return 1
    notebooks = sum(f.endswith(".ipynb") for f in written)
    print(f"class edition in {args.out}: {len(written)} files, {notebooks} notebooks, no answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
