"""Generate the course's contents and navigation from the files present.

- every lesson in ``notebooks/`` gets a navigation cell at the top and at the bottom
  (previous / contents / next), tagged ``nav``; so does every lab's reference version in
  ``solutions/`` (previous / next lab), from which ``ci/labs.py`` generates the learner version;
- the start notebook's cell tagged ``contents`` and the README's block between
  ``<!-- contents:start -->`` and ``<!-- contents:end -->`` list every lesson and lab;
- each title cell gets a line under its ``# `` heading with the reading time and the lessons it
  builds on (those its text mentions, "lesson 04" or a link, and for a lesson the one before it);
- every cell gets slide metadata for jupyterlab-rise (``metadata.slideshow.slide_type``): the
  title and each ``## `` section start a slide, each ``### `` heading and every further
  ``SLIDE_LINES`` lines of a long section a sub-slide, solutions go to the speaker notes and the
  navigation is skipped.

Everything generated depends only on the notebooks' sources (never on outputs), so it is the
same from one run to the next.

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


READING = re.compile(r"^\*Reading time: .*\*$")
WORDS_PER_MINUTE = 180      # prose that teaches (slower than a novel's 250)
CODE_LINES_PER_MINUTE = 8   # reading a cell, running it and reading what it printed
BUILDS_ON_AT_MOST = 3       # the most recent lessons named; older ones come with them
SLIDE_LINES = 24            # source lines on one (sub-)slide before the next cell starts a sub-slide


def number_of(path: Path) -> int | None:
    match = re.match(r"(\d{2})-", path.name)
    return int(match.group(1)) if match and path.parent.name == "notebooks" else None


def body_markdown(nb) -> str:
    """The notebook's own prose: no navigation, contents or generated reading-time line."""
    return "\n".join("\n".join(line for line in c.source.splitlines() if not READING.match(line))
                     for c in nb.cells if c.cell_type == "markdown"
                     and not is_tagged(c, "nav") and not is_tagged(c, "contents"))


def reading_minutes(nb) -> int:
    """Minutes to read the notebook and run its cells, rounded up to 5 (at least 5)."""
    words = len(re.findall(r"\w+", body_markdown(nb)))
    code = sum(len([line for line in c.source.splitlines() if line.strip()])
               for c in nb.cells if c.cell_type == "code" and not is_tagged(c, "solution"))
    minutes = words / WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE
    return max(5, 5 * -(-int(minutes + 0.999) // 5))


MENTION = re.compile(r"\blessons?\s+(\d{2}(?:(?:\s*,\s*|\s+and\s+|\s+or\s+|\s*-\s*)\d{2})*)", re.I)
LINKED = re.compile(r"\]\((?:\.\./\.\./notebooks/|\.\./notebooks/)?(\d{2})-[\w.-]+\.ipynb")


def builds_on(nb, path: Path, lesson_paths: list[Path]) -> list[Path]:
    """The lessons this one builds on: the earlier lessons its text mentions or links to, and for a
    lesson the one just before it (lesson 00 and 01 build on nothing); the latest three."""
    text = body_markdown(nb)
    numbers = {int(n) for m in MENTION.finditer(text) for n in re.findall(r"\d{2}", m.group(1))}
    numbers |= {int(n) for n in LINKED.findall(text)}
    own = number_of(path)
    if own is not None:
        numbers = {n for n in numbers if n < own}
        if own > 1:
            numbers.add(own - 1)
    numbers.discard(0)
    by_number = {number_of(p): p for p in lesson_paths}
    return [by_number[n] for n in sorted(numbers) if n in by_number][-BUILDS_ON_AT_MOST:]


def lesson_link(target: Path, reader: Path) -> str:
    return target.name if reader.parent.name == "notebooks" else f"../../notebooks/{target.name}"


def reading_line(nb, path: Path, lesson_paths: list[Path]) -> str:
    line = f"*Reading time: about {reading_minutes(nb)} minutes."
    before = builds_on(nb, path, lesson_paths)
    if before:
        links = [f"[{title(p)}]({lesson_link(p, path)})" for p in before]
        line += " Builds on " + (", ".join(links[:-1]) + " and " + links[-1] if len(links) > 1 else links[0]) + "."
    return line + "*"


def with_reading_line(source: str, line: str) -> str:
    """The title cell's source with the generated line right under its ``# `` heading."""
    lines = [x for x in source.splitlines() if not READING.match(x)]
    k = next(i for i, x in enumerate(lines) if x.startswith("# "))
    rest = lines[k + 1:]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join(lines[: k + 1] + ["", line] + ([""] + rest if rest else []))


def slide_types(cells) -> list[str]:
    """jupyterlab-rise slide types for the cells (see the module's docstring)."""
    types, lines, titled = [], 0, False
    for cell in cells:
        size = len(cell.source.splitlines()) or 1
        first = cell.source.lstrip().split("\n", 1)[0] if cell.cell_type == "markdown" else ""
        if is_tagged(cell, "nav"):
            kind = "skip"
        elif is_tagged(cell, "solution"):
            kind = "notes"
        elif not titled and first.startswith("# "):
            kind, titled = "slide", True
        elif first.startswith("## "):
            kind = "slide"
        elif first.startswith("### "):
            kind = "subslide"
        elif lines + size > SLIDE_LINES and lines > 0:
            kind = "subslide"
        else:
            kind = "-"
        if kind in ("slide", "subslide"):
            lines = 0
        if kind not in ("skip", "notes"):
            lines += size
        types.append(kind)
    return types


def annotate(nb, path: Path, lesson_paths: list[Path]) -> None:
    """Reading-time line in the title cell and slide metadata on every cell (in place)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not is_tagged(cell, "nav") and re.search(r"^# ", cell.source, re.M):
            cell.source = with_reading_line(cell.source, reading_line(nb, path, lesson_paths))
            break
    for cell, kind in zip(nb.cells, slide_types(nb.cells)):
        cell.metadata["slideshow"] = {"slide_type": kind}


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
    annotate(nb, path, lessons(root))
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
