"""Build the course's website from the stored notebooks, without executing anything.

    python3 ci/course.py site            stage, build (warnings are errors), check links and answers
    python ci/website.py [--out DIR] [--keep-going]

The site is Sphinx with myst-nb and sphinx-book-theme (see CONTRIBUTING.md for why): pure Python
from PyPI, no theme or template fetched at build time, notebooks rendered from their stored
outputs (``nb_execution_mode = "off"``). Its packages are in ``ci/requirements-site.txt``.

The build reads a *staged* copy of the course in ``build/site-src/`` made from the files present:

- the README is the home page; ``docs/*.md`` and CONTRIBUTING.md are pages;
- the lessons (``notebooks/``) and the **learner** labs (``labs/``, never ``solutions/``), in the
  order ``ci/nav.py`` gives them (the same source as the notebooks' own navigation), form the
  table of contents and the previous/next links;
- cells tagged ``nav`` are dropped (the site has its own navigation); cells tagged ``solution``
  become a collapsed "Show solution" dropdown; a figure's alt text is its stored text form
  ``<Figure: ...>``; a widget becomes a note that its sliders need a live kernel, with a
  launch link right there;
- links to files that are not pages (``ci/course.py``, ``solutions/``) point to the repository.

After the build, every internal link and anchor of every page is checked, and so is that no
line of a lab's reference solution or hidden tests reached the site.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))
import launch  # noqa: E402
import nav  # noqa: E402

CONF_DIR = ROOT / "ci" / "website"
BUILD = ROOT / "build"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
FIGURE_TEXT = re.compile(r"^<Figure: (.*)>$", re.S)
#: docs/ pages in the order the site lists them; any other docs/*.md follows, by name
DOCS_ORDER = ("teaching", "launch", "platforms", "grading")

# ---------------------------------------------------------------- what goes on the site


def doc_pages(root: Path = ROOT) -> list[Path]:
    found = sorted((root / "docs").glob("*.md"))
    rank = {name: i for i, name in enumerate(DOCS_ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.stem, len(rank)), p.stem))


def sections(root: Path = ROOT) -> list[tuple[str, list[Path]]]:
    """The site's table of contents: (caption, files) in reading order, from ci/nav.py."""
    out = [("Lessons", nav.lessons(root)), ("Labs", nav.labs(root)),
           ("For teachers", doc_pages(root))]
    if (root / "CONTRIBUTING.md").exists():
        out.append(("For course authors", [root / "CONTRIBUTING.md"]))
    return [(caption, paths) for caption, paths in out if paths]


def is_tagged(cell: dict, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def add_tag(cell: dict, tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def text_of(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def widget_note(launch_url: str | None) -> str:
    link = (f' <a class="reference external" href="{html.escape(launch_url)}">Launch this lesson on Binder</a>'
            " or open it in JupyterLab to use them." if launch_url else " Open the lesson in JupyterLab to use them.")
    return ('<div class="admonition note course-live-kernel"><p class="admonition-title">Needs a live kernel</p>'
            f"<p>Here the page shows a widget: its sliders and buttons re-run Python code, which a web page cannot "
            f"do.{link}</p></div>")


def site_notebook(nb: dict, launch_url: str | None) -> dict:
    """The notebook as the site shows it (a new dict; ``nb`` is left alone)."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)  # widget state: no live kernel on a web page
    has_widgets = False
    for cell in nb["cells"]:
        if is_tagged(cell, "nav"):
            add_tag(cell, "remove-cell")
        if cell["cell_type"] != "code":
            continue
        if is_tagged(cell, "solution"):
            add_tag(cell, "hide-cell")
            cell["metadata"]["mystnb"] = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIME in data:
                has_widgets = True
                output["data"] = {"text/html": widget_note(launch_url), "text/plain": text_of(data.get("text/plain"))}
                output["metadata"] = {}
            for mime in [m for m in data if m.startswith("image/")]:
                match = FIGURE_TEXT.match(text_of(data.get("text/plain")).strip())
                if match:
                    output.setdefault("metadata", {}).setdefault(mime, {})["alt"] = " ".join(match.group(1).split())
    if has_widgets:
        nb.setdefault("metadata", {})["course_has_widgets"] = True
    return nb


MD_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s]+)(\))")


def github_slug(text: str) -> str:
    """The anchor MyST gives a heading (GitHub's rule): 'Contents' -> 'contents'."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def rewrite_links(markdown: str, where: str, pages: set[str], repo: str | None) -> str:
    """Rewrite the relative links of a page at repo path ``where`` for the site.

    A link to a page stays (its anchor in MyST's lower-case form); a link to any other file of
    the repository points to the repository on the web, so no link leads nowhere.
    """
    base = Path(where).parent

    def one(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][\w+.-]*:", target) or target.startswith(("#", "/")):
            if target.startswith("#") and len(target) > 1:
                return f"{match.group(1)}#{github_slug(target[1:])}{match.group(3)}"
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = _normalise(base / path)
        if resolved is None:
            return match.group(0)
        if resolved in pages:
            if resolved == "README.md":  # the home page
                path = path[: -len("README.md")] + "index.md"
            fixed = path + (f"#{github_slug(anchor)}" if anchor else "")
            return f"{match.group(1)}{fixed}{match.group(3)}"
        if repo is None:
            return match.group(0)
        kind = "tree" if not Path(resolved).suffix else "blob"
        url = f"{repo}/{kind}/HEAD/{resolved}" + (f"#{anchor}" if anchor else "")
        return f"{match.group(1)}{url}{match.group(3)}"

    return MD_LINK.sub(one, markdown)


def _normalise(path: Path) -> str | None:
    parts: list[str] = []
    for part in path.as_posix().split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None  # outside the repository
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def toctree(caption: str, entries: list[str]) -> str:
    lines = ["```{toctree}", f":caption: {caption}", ":maxdepth: 1", ""]
    return "\n".join(lines + entries + ["```", ""])


def stage(root: Path = ROOT, out: Path = BUILD / "site-src") -> list[str]:
    """Write the site's sources into ``out``; return the pages' repo paths in reading order."""
    try:
        repo = launch.repository(root)
    except ValueError:
        repo = None
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    toc = sections(root)
    order = [p.relative_to(root).as_posix() for _, paths in toc for p in paths]
    pages = set(order) | {"README.md"}
    for rel in order:
        src, dst = root / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            nb = json.loads(src.read_text())
            try:
                url = launch.binder_url(repo, rel) if repo else None
            except ValueError:
                url = None
            nb = site_notebook(nb, url)
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    cell["source"] = rewrite_links(text_of(cell["source"]), rel, pages, repo)
            dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        else:
            dst.write_text(rewrite_links(src.read_text(), rel, pages, repo))
    home = rewrite_links((root / "README.md").read_text(), "README.md", pages, repo)
    # the hidden tables of contents give the sidebar and previous/next; the README's own contents
    # block (written by ci/nav.py from the same lists) is what a reader sees on the home page
    trees = "\n".join(toctree(caption, [p.relative_to(root).as_posix() for p in paths]) for caption, paths in toc)
    (out / "index.md").write_text(home.rstrip() + "\n\n" + trees.replace(":maxdepth: 1", ":maxdepth: 1\n:hidden:"))
    return order


# ---------------------------------------------------------------- checks on the built site


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "img":
            self.images.append(attrs)

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(errors="replace"))
    return page


def broken_links(site: Path) -> list[str]:
    """Every relative link and anchor of every HTML page must lead to a file and an id there."""
    # _static/ holds the theme's template fragments (not pages)
    parsed = {p: parse(p) for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts}
    problems = []
    for path, page in parsed.items():
        for link in page.links:
            if re.match(r"^[a-z][\w+.-]*:", link) or link.startswith("//"):
                continue  # external (http:, mailto:, data:, javascript:)
            target, _, anchor = link.partition("#")
            target = target.split("?")[0]
            dest = (path.parent / target).resolve() if target else path
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                problems.append(f"{path.relative_to(site)}: link to a missing file: {link}")
            elif anchor and dest.suffix == ".html" and anchor not in parsed.get(dest, _Page()).ids:
                problems.append(f"{path.relative_to(site)}: link to a missing anchor: {link}")
    return problems


def answer_lines(solution_nb: dict, public: str) -> list[str]:
    """Lines of a lab's reference answers and hidden tests that nothing public shows.

    ``public`` is the text learners get anyway (the learner version with its hints, the
    lessons): a line found there (``lock = threading.Lock()``) gives nothing away.
    """
    secret = []
    for cell in solution_nb["cells"]:
        inside = False
        for line in text_of(cell["source"]).splitlines():
            mark = line.strip()
            if mark in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                inside = True
            elif mark in ("### END SOLUTION", "### END HIDDEN TESTS"):
                inside = False
            elif inside and len(mark) >= 16 and not mark.startswith("#") and mark not in public:
                secret.append(mark)
    return secret


def site_texts(site: Path) -> dict[Path, str]:
    """The text of every file of the site a reader can open (HTML as its text, without tags)."""
    texts = {}
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".ipynb", ".txt", ".js", ".json", ".md"):
            raw = path.read_text(errors="replace")
            if path.suffix == ".html":
                page = _Page()
                page.feed(raw)
                raw = "".join(page.text)
            texts[path] = raw
    return texts


def leaked_answers(site: Path, root: Path = ROOT) -> list[str]:
    """Reference answers or hidden tests of any lab that appear anywhere in the built site."""
    texts = site_texts(site)
    # what every learner gets anyway: the lessons and every learner lab, as JSON (outputs, hints)
    # and as decoded sources (the JSON escapes quotes and backslashes)
    open_files = [*nav.lessons(root), *nav.labs(root)]
    public = "\n".join(p.read_text() for p in open_files) + "\n".join(
        text_of(c.get("source")) for p in open_files for c in json.loads(p.read_text())["cells"])
    problems = []
    for solution in nav.lab_sources(root):
        secrets = answer_lines(json.loads(solution.read_text()), public)
        for path, text in texts.items():
            for line in secrets:
                if line in text:
                    problems.append(f"{path.relative_to(site)} shows a line of {solution.relative_to(root)}'s "
                                    f"answers or hidden tests: {line[:80]!r}")
                    break
    return problems


def missing_alt(site: Path) -> list[str]:
    """Images of notebook outputs whose alt text is missing or only a file name."""
    problems = []
    for path in site.rglob("*.html"):
        for img in parse(path).images:
            alt = (img.get("alt") or "").strip()
            src = img.get("src", "")
            if "_images/" in src and (not alt or alt == src or alt.endswith(".png")):
                problems.append(f"{path.relative_to(site)}: figure {src} has no alt text")
    return problems


def missing_features(site: Path, root: Path = ROOT) -> list[str]:
    """Every lesson with a solution shows a "Show solution" dropdown; every one with a widget
    shows the live-kernel note with its launch link; no page of solutions/ was built."""
    problems = [f"{p.relative_to(site)} is on the site" for p in site.rglob("*") if "solutions" in p.parts]
    for path in nav.lessons(root) + nav.labs(root):
        rel = path.relative_to(root).with_suffix(".html")
        page = site / rel
        if not page.exists():
            problems.append(f"{rel} was not built")
            continue
        built, nb = page.read_text(), json.loads(path.read_text())
        cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
        if any(is_tagged(c, "solution") for c in cells) and "Show solution" not in built:
            problems.append(f"{rel}: its solutions are not collapsed dropdowns")
        if any(WIDGET_MIME in o.get("data", {}) for c in cells for o in c.get("outputs", [])) and (
                "Needs a live kernel" not in built):
            problems.append(f"{rel}: its widgets have no live-kernel note")
    return problems


# ---------------------------------------------------------------- build


def build(root: Path = ROOT, out: Path = BUILD / "site", keep_going: bool = False) -> int:
    start = time.perf_counter()
    src = out.parent / "site-src"
    order = stage(root, src)
    staged = time.perf_counter()
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "-c", str(CONF_DIR), "-j", "1",
           "-d", str(out.parent / "site-doctrees"), str(src), str(out)]
    if keep_going:
        cmd.insert(-2, "--keep-going")
    if out.exists():
        shutil.rmtree(out)
    code = subprocess.call(cmd, cwd=root)
    built = time.perf_counter()
    if code:
        print(f"[site] sphinx-build failed (exit code {code}); warnings are errors")
        return code
    problems = broken_links(out) + leaked_answers(out, root) + missing_alt(out) + missing_features(out, root)
    for problem in problems:
        print(f"[site] {problem}")
    pages = len(list(out.rglob("*.html")))
    where = out.relative_to(root) if out.is_relative_to(root) else out
    print(f"[site] {len(order) + 1} course pages ({pages} HTML files) in {where}: "
          f"staged {staged - start:.1f} s, built {built - staged:.1f} s, checked {time.perf_counter() - built:.1f} s")
    return 1 if problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD / "site", help="where the HTML goes (default build/site)")
    parser.add_argument("--keep-going", action="store_true", help="report every warning, not only the first")
    args = parser.parse_args(argv)
    return build(ROOT, args.out.resolve(), args.keep_going)


if __name__ == "__main__":
    sys.exit(main())
