"""Generate the course's contents and navigation from the files present.

- every lesson in ``notebooks/`` gets a navigation cell at the top and at the bottom
  (previous / contents / next), tagged ``nav``; so does every lab's reference version in
  ``solutions/`` (previous / next lab), from which ``ci/labs.py`` generates the learner version;
- the start notebook's cell tagged ``contents`` and the README's block between
  ``<!-- contents:start -->`` and ``<!-- contents:end -->`` list every lesson and lab.

``python ci/nav.py`` rewrites them; ``python ci/nav.py --check`` exits 1 when any is stale.
Titles come from each notebook's first ``# `` heading, so renaming a lesson is one edit.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
START = "00-start-here.ipynb"
README_START = "<!-- contents:start -->"
README_END = "<!-- contents:end -->"


def lessons(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def lab_sources(root: Path = ROOT) -> list[Path]:
    """The reference version of each lab (``solutions/<lab>/<lab>.ipynb``): nbgrader's source."""
    return sorted((root / "solutions").glob("*/*.ipynb"))


def labs(root: Path = ROOT) -> list[Path]:
    """The learner version of each lab (``labs/<lab>/<lab>.ipynb``)."""
    return sorted((root / "labs").glob("*/*.ipynb"))


def is_tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not is_tagged(cell, "nav"):
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError(f"{path} has no '# Title' heading")


def short(path: Path) -> str:
    """'01-why-concurrency.ipynb' -> '01 Why concurrency' (for navigation links)."""
    return title(path)


def link(path: Path) -> str:
    """Relative link from a sibling: a lesson links to 'NN-x.ipynb', a lab to '../labN-x/labN-x.ipynb'."""
    return path.name if path.parent.name == "notebooks" else f"../{path.parent.name}/{path.name}"


def nav_markdown(paths: list[Path], index: int, where: str) -> str:
    prev_link = f"[← {short(paths[index - 1])}]({link(paths[index - 1])})" if index > 0 else ""
    next_link = f"[{short(paths[index + 1])} →]({link(paths[index + 1])})" if index + 1 < len(paths) else ""
    start = START if paths[index].parent.name == "notebooks" else f"../../notebooks/{START}"
    contents = f"[Contents]({start}#Contents)"
    parts = [p for p in (prev_link, contents, next_link) if p]
    line = " | ".join(parts)
    return f"<sub>{line}</sub>" if where == "top" else f"---\n{line}"


def nav_cell(source: str, position: str):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = ["nav"]
    cell["id"] = f"nav-{position}"
    return cell


def contents_markdown(root: Path = ROOT, prefix: str = "") -> str:
    """A Markdown list of lessons and labs; ``prefix`` is the path from the reader to the repo."""
    lines = ["**Lessons**", ""]
    for path in lessons(root):
        rel = path.relative_to(root).as_posix()
        lines.append(f"1. [{title(path)}]({prefix}{rel})")
    lab_paths = labs(root)
    if lab_paths:
        lines += ["", "**Labs** (exercises checked automatically; reference versions in `solutions/`)", ""]
        for path in lab_paths:
            rel = path.relative_to(root).as_posix()
            lines.append(f"1. [{title(path)}]({prefix}{rel})")
    return "\n".join(lines)


def updated_notebook(path: Path, paths: list[Path], index: int, root: Path = ROOT):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if not is_tagged(c, "nav")]
    for cell in cells:
        if is_tagged(cell, "contents"):
            cell.source = "## Contents\n\n" + contents_markdown(root, prefix="../")
    nb.cells = [nav_cell(nav_markdown(paths, index, "top"), "top"), *cells,
                nav_cell(nav_markdown(paths, index, "bottom"), "bottom")]
    return nb


def updated_readme(root: Path = ROOT) -> str:
    text = (root / "README.md").read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the {README_START} ... {README_END} markers")
    block = f"{README_START}\n{contents_markdown(root)}\n{README_END}"
    return pattern.sub(lambda _: block, text)


def stale(root: Path = ROOT) -> list[str]:
    """Files whose navigation or contents differ from what would be generated."""
    out = []
    for paths in (lessons(root), lab_sources(root)):
        for i, path in enumerate(paths):
            if nbformat.writes(updated_notebook(path, paths, i, root)) != nbformat.writes(
                nbformat.read(path, as_version=4)
            ):
                out.append(path.relative_to(root).as_posix())
    if updated_readme(root) != (root / "README.md").read_text():
        out.append("README.md")
    return out


def write(root: Path = ROOT, only: list[Path] | None = None) -> list[str]:
    """Rewrite stale files; with ``only``, just those notebooks (and not the README)."""
    changed = stale(root)
    keep = None if only is None else {p.resolve() for p in only}
    if keep is not None:
        changed = [c for c in changed if (root / c).resolve() in keep]
    for paths in (lessons(root), lab_sources(root)):
        for i, path in enumerate(paths):
            if path.relative_to(root).as_posix() in changed:
                nbformat.write(updated_notebook(path, paths, i, root), path)
    if "README.md" in changed:
        (root / "README.md").write_text(updated_readme(root))
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    parser.add_argument("--only", nargs="+", type=Path, help="update just these notebooks")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"stale navigation/contents: {name} (run: python ci/course.py nav)")
        return 1 if bad else 0
    for name in write(only=args.only):
        print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
