"""The course's own tooling: navigation, the stored-notebook check, regeneration."""

import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import nav  # noqa: E402
import nbcheck  # noqa: E402


def lesson(path: Path, title: str, cells=()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\ntext"), *cells]
    nbformat.write(nb, path)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "labs" / "lab1").mkdir(parents=True)
    start = nbformat.v4.new_markdown_cell("old contents")
    start.metadata["tags"] = ["contents"]
    lesson(tmp_path / "notebooks" / "00-start-here.ipynb", "00 · Start here", [start])
    lesson(tmp_path / "notebooks" / "01-why.ipynb", "01 · Why")
    lesson(tmp_path / "notebooks" / "02-how.ipynb", "02 · How")
    lesson(tmp_path / "labs" / "lab1" / "lab1.ipynb", "Lab 1 · Threads")
    (tmp_path / "README.md").write_text("intro\n<!-- contents:start -->\nold\n<!-- contents:end -->\nend\n")
    return tmp_path


def test_nav_generates_links_and_contents_and_then_is_current(repo):
    assert len(nav.stale(repo)) == 4
    nav.write(repo)
    assert nav.stale(repo) == []
    middle = nbformat.read(repo / "notebooks" / "01-why.ipynb", as_version=4)
    top, bottom = middle.cells[0], middle.cells[-1]
    assert top.metadata["tags"] == ["nav"] and bottom.metadata["tags"] == ["nav"]
    assert "[← 00 · Start here](00-start-here.ipynb)" in top.source
    assert "[02 · How →](02-how.ipynb)" in top.source
    readme = (repo / "README.md").read_text()
    assert "1. [01 · Why](notebooks/01-why.ipynb)" in readme
    assert "1. [Lab 1 · Threads](labs/lab1/lab1.ipynb)" in readme
    assert readme.startswith("intro\n") and readme.endswith("end\n")
    start = nbformat.read(repo / "notebooks" / "00-start-here.ipynb", as_version=4)
    assert "[02 · How](../notebooks/02-how.ipynb)" in start.cells[2].source


def test_nav_links_the_reference_labs_to_each_other_and_to_the_contents(repo):
    for name, title in (("lab1-a", "Lab 1 · A"), ("lab2-b", "Lab 2 · B")):
        (repo / "solutions" / name).mkdir(parents=True)
        lesson(repo / "solutions" / name / f"{name}.ipynb", title)
    assert {"solutions/lab1-a/lab1-a.ipynb", "solutions/lab2-b/lab2-b.ipynb"} <= set(nav.stale(repo))
    nav.write(repo)
    assert nav.stale(repo) == []
    first = nbformat.read(repo / "solutions" / "lab1-a" / "lab1-a.ipynb", as_version=4)
    top = first.cells[0].source
    assert "[Contents](../../notebooks/00-start-here.ipynb#Contents)" in top
    assert "[Lab 2 · B →](../lab2-b/lab2-b.ipynb)" in top and "←" not in top


def test_nav_notices_a_renamed_or_added_lesson(repo):
    nav.write(repo)
    lesson(repo / "notebooks" / "03-new.ipynb", "03 · New")
    assert set(nav.stale(repo)) == {"notebooks/02-how.ipynb", "notebooks/03-new.ipynb",
                                    "notebooks/00-start-here.ipynb", "README.md"}


def test_nav_only_touches_the_named_notebooks(repo):
    changed = nav.write(repo, only=[repo / "notebooks" / "01-why.ipynb"])
    assert changed == ["notebooks/01-why.ipynb"]
    assert "README.md" in nav.stale(repo)


def executed(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    for n, cell in enumerate([c for c in cells if c.cell_type == "code"], 1):
        cell.execution_count = n
    return nb


def code(source, *tags, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    cell.outputs = list(outputs)
    return cell


def problems_of(tmp_path, nb):
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    return nbcheck.run_problems(path)


def test_nbcheck_accepts_a_clean_run(tmp_path):
    nb = executed([code("x = 1", "nbval-ignore-output"), code("assert x == 1")])
    assert problems_of(tmp_path, nb) == []


def test_nbcheck_rejects_unexecuted_reordered_and_unchecked_cells(tmp_path):
    nb = executed([code("x = 1"), code("y = 2")])
    nb.cells[1].execution_count = None
    assert "never executed" in problems_of(tmp_path, nb)[0]
    nb.cells[1].execution_count = 5
    assert "not one clean top-to-bottom run" in problems_of(tmp_path, nb)[0]
    nb = executed([code("print(time())", "nbval-ignore-output"), code("print('no check')")])
    assert "asserts nothing" in problems_of(tmp_path, nb)[0]


def test_nbcheck_rejects_stored_errors_unless_tagged(tmp_path):
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="", traceback=[])
    nb = executed([code("raise ValueError", outputs=[error])])
    assert "stored error ValueError" in problems_of(tmp_path, nb)[0]
    nb = executed([code("raise ValueError", "raises-exception", outputs=[error])])
    assert problems_of(tmp_path, nb) == []
    nb = executed([code("pass", "raises-exception")])
    assert "stored no error" in problems_of(tmp_path, nb)[0]


def test_nbcheck_style_of_a_lesson(tmp_path):
    path = tmp_path / "07-x.ipynb"
    lesson(path, "07 · X")
    found = nbcheck.style_problems(path)
    assert any("You will learn" in p for p in found)
    assert any("Key points" in p for p in found)
    assert any("navigation" in p for p in found)


def test_nbcheck_keeps_the_taught_code_in_the_cells(tmp_path):
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "04-x.ipynb"
    solution = code("assert check_transfer(transfer)", "solution")
    named = code("assert check_transfer(transfer)", "solution")
    named.metadata["exercise"] = "4.1"
    nbformat.write(executed([
        code("from threadlab.lessons import lesson04 as L"),
        code("import inspect\nprint(inspect.getsource(L.Server))"),
        code("print(inspect.getsource(threading.Event.set))"),
        code("if Elsewhere().quiet:\n    assert speedup > 1.9"),
        nbformat.v4.new_markdown_cell("As seed 003 says..."),
        nbformat.v4.new_markdown_cell("David Beazley, *Understanding the Python GIL* (2010)"),
        solution, named]), path)
    found = nbcheck.openness_problems(path)
    assert [p.split(":")[0] for p in found] == ["cell 0", "cell 1", "cell 3", "cell 4", "cell 6"], found
    assert "per-lesson module" in found[0] and "getsource" in found[1] and "busy" in found[2]
    assert "author" in found[3] and "exercise" in found[4]


def test_committed_notebooks_pass_nbcheck():
    # the same check the test command runs first, kept here so `pytest` alone covers it
    assert nbcheck.all_problems() == {}


@pytest.mark.timeout(120)
def test_regenerate_stores_outputs_from_a_fresh_kernel(tmp_path):
    import regenerate

    nb = nbformat.v4.new_notebook()
    nb.cells = [code("print(6 * 7)"), code("raise KeyError('x')", "raises-exception")]
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    regenerate.execute(path, timeout=60)
    done = nbformat.read(path, as_version=4)
    assert done.cells[0].outputs[0]["text"] == "42\n"
    assert done.cells[1].outputs[0]["ename"] == "KeyError"
    assert [c.execution_count for c in done.cells] == [1, 2]
    assert nbcheck.run_problems(path) == []
    shutil.rmtree(tmp_path)


def test_regenerate_runs_speed_measuring_notebooks_alone_first(tmp_path, monkeypatch):
    import threading
    import time

    import regenerate

    paths = []
    for name, src in [("a", "print(1)"), ("fast", "print(speedup)"), ("b", "print(2)"), ("c", "x = per_second")]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [code(src)]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        paths.append(tmp_path / f"{name}.ipynb")
    running, log, lock = set(), [], threading.Lock()

    def fake_execute(path, timeout=0):
        with lock:
            running.add(path.stem)
            log.append((path.stem, frozenset(running)))
        time.sleep(0.05)
        with lock:
            running.discard(path.stem)
        return 0.05

    monkeypatch.setattr(regenerate, "execute", fake_execute)
    assert regenerate.main([str(p) for p in paths] + ["--jobs", "2"]) == 0
    assert [stem for stem, _ in log[:2]] == ["fast", "c"]                  # the speed notebooks first,
    assert all(others == {stem} for stem, others in log[:2])               # each alone
    assert {stem for stem, _ in log[2:]} == {"a", "b"}
    assert any(len(others) == 2 for _, others in log[2:])                  # the rest share the machine


def test_python_floor_is_said_before_anything_is_installed():
    import course

    assert course.check_python((3, 11, 0)) is None and course.check_python((3, 13, 1)) is None
    message = course.check_python((3, 10, 13))
    assert "needs Python 3.11 or newer; this is Python 3.10.13" in message and "python3.11 ci/course.py" in message
    old = next(iter(sorted(Path("/root/.pyenv/versions").glob("3.10*/bin/python"))), None)  # pyenv's, if any
    if old is None:
        pytest.skip("no Python 3.10 on this machine")
    import subprocess

    done = subprocess.run([str(old), str(ROOT / "ci" / "course.py"), "doctor"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "needs Python 3.11 or newer" in done.stderr, done.stderr


# ---------------------------------------------------------------- reading time, builds on, slides


def markdown(source, *tags):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = list(tags)
    return cell


def test_title_gets_reading_time_and_the_lessons_it_builds_on(repo):
    lesson(repo / "notebooks" / "03-late.ipynb", "03 · Late",
           [markdown("As lesson 01 showed, and [02](02-how.ipynb) too; lesson 09 comes later. " + "word " * 1700)])
    nav.write(repo)
    late = nbformat.read(repo / "notebooks" / "03-late.ipynb", as_version=4)
    title_cell = late.cells[1].source
    assert title_cell.startswith("# 03 · Late\n\n*Reading time: about 10 minutes. Builds on [01 · Why](01-why.ipynb) "
                                 "and [02 · How](02-how.ipynb).*\n\ntext")
    first = nbformat.read(repo / "notebooks" / "01-why.ipynb", as_version=4)
    assert "*Reading time: about 5 minutes.*" in first.cells[1].source and "Builds on" not in first.cells[1].source
    # a second run changes nothing, and editing the prose changes the line
    assert nav.stale(repo) == []
    late.cells[2].source += " word" * 500
    nbformat.write(late, repo / "notebooks" / "03-late.ipynb")
    assert nav.stale(repo) == ["notebooks/03-late.ipynb"]
    nav.write(repo)
    assert "about 15 minutes" in nbformat.read(repo / "notebooks" / "03-late.ipynb", as_version=4).cells[1].source


def test_builds_on_names_at_most_the_three_latest_and_a_lab_links_from_its_folder(repo):
    for n in range(3, 9):
        lesson(repo / "notebooks" / f"0{n}-l{n}.ipynb", f"0{n} · L{n}")
    lessons = nav.lessons(repo)
    nb = nbformat.v4.new_notebook()
    nb.cells = [markdown("# 09 · Nine\n\nlessons 01, 02 and 03, lesson 05 and lessons 06-07")]
    path = repo / "notebooks" / "09-nine.ipynb"
    assert [p.name[:2] for p in nav.builds_on(nb, path, lessons)] == ["06", "07", "08"]
    lab = repo / "solutions" / "lab1-x" / "lab1-x.ipynb"
    nb.cells = [markdown("# Lab 1 · X\n\nUses [the pool](../../notebooks/08-l8.ipynb) of lesson 04.")]
    line = nav.reading_line(nb, lab, lessons)
    assert "Builds on [04 · L4](../../notebooks/04-l4.ipynb) and [08 · L8](../../notebooks/08-l8.ipynb)." in line


def test_reading_line_is_replaced_not_added_again():
    source = "# 01 · X\n\n*Reading time: about 5 minutes.*\n\nMotivation."
    assert nav.with_reading_line(source, "*Reading time: about 10 minutes.*") == (
        "# 01 · X\n\n*Reading time: about 10 minutes.*\n\nMotivation.")
    assert nav.with_reading_line("# 01 · X", "*Reading time: about 5 minutes.*") == (
        "# 01 · X\n\n*Reading time: about 5 minutes.*")


def test_slides_a_slide_per_section_subslides_for_long_ones_notes_for_solutions():
    cells = [markdown("nav", "nav"), markdown("# 01 · T"), markdown("## 1. First"),
             code("\n".join(["x = 1"] * 10)), code("\n".join(["y = 2"] * 10)), code("\n".join(["z = 3"] * 10)),
             markdown("### Exercise 1.1 — do it"), code("answer = ..."), code("print(42)", "solution"),
             markdown("## Key points"), markdown("nav", "nav")]
    assert nav.slide_types(cells) == ["skip", "slide", "slide", "-", "-", "subslide", "subslide", "-", "notes",
                                      "slide", "skip"]


def test_nav_writes_slide_metadata_on_every_cell(repo):
    nav.write(repo)
    nb = nbformat.read(repo / "notebooks" / "02-how.ipynb", as_version=4)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert kinds == ["skip", "slide", "skip"]
