"""The website, the class edition and the launch links (ci/website.py, ci/edition.py, ci/launch.py)."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import edition  # noqa: E402
import launch  # noqa: E402
import nav  # noqa: E402
import website  # noqa: E402

REPO = "https://github.com/org/course"

# ---------------------------------------------------------------- launch links


def test_binder_link_opens_the_notebook_in_jupyterlab():
    url = launch.binder_url(REPO, "notebooks/04-race-conditions-and-locks.ipynb")
    assert url == ("https://mybinder.org/v2/gh/org/course/HEAD"
                   "?urlpath=lab%2Ftree%2Fnotebooks%2F04-race-conditions-and-locks.ipynb")
    assert launch.binder_badge(REPO).startswith("[![Launch on Binder](https://mybinder.org/badge_logo.svg)](")


def test_binder_needs_a_github_address():
    with pytest.raises(ValueError, match="not a GitHub repository"):
        launch.binder_url("https://gitlab.example.org/org/course")


def test_nbgitpuller_link_clones_into_the_repository_folder_and_opens_the_start():
    url = launch.nbgitpuller_url("https://hub.example.edu/", REPO + ".git")
    assert url.startswith("https://hub.example.edu/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Forg%2Fcourse")
    assert "&branch=main&" in url
    assert url.endswith("urlpath=lab%2Ftree%2Fcourse%2Fnotebooks%2F00-start-here.ipynb")
    with pytest.raises(ValueError, match="https://"):
        launch.nbgitpuller_url("hub.example.edu", REPO)


def test_repository_comes_from_pyproject_or_the_environment(monkeypatch):
    monkeypatch.delenv("COURSE_REPOSITORY", raising=False)
    assert launch.repository().startswith("https://github.com/")
    monkeypatch.setenv("COURSE_REPOSITORY", "https://github.com/fork/course.git/")
    assert launch.repository() == "https://github.com/fork/course"


def test_launch_cli_prints_a_hub_link(capsys):
    assert launch.main(["hub", "https://hub.example.edu", "--repo", REPO]) == 0
    assert capsys.readouterr().out.startswith("https://hub.example.edu/hub/user-redirect/git-pull?")
    assert launch.main(["hub", "not-a-url", "--repo", REPO]) == 2


# ---------------------------------------------------------------- staging the site


def code(source, *tags, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    cell.outputs = list(outputs)
    return cell


def figure_output(text):
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": text})


def test_site_notebook_hides_solutions_drops_nav_and_replaces_widgets():
    nav_cell = nbformat.v4.new_markdown_cell("<sub>nav</sub>")
    nav_cell.metadata["tags"] = ["nav"]
    widget = nbformat.v4.new_output("display_data", data={
        website.WIDGET_MIME: {"model_id": "x", "version_major": 2, "version_minor": 0},
        "text/plain": "Experiment(...)"})
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"state": {}}
    nb.cells = [nav_cell, code("answer = 42", "solution"), code("exp", outputs=[widget]),
                code("show(fig)", outputs=[figure_output("<Figure: elapsed time falls as threads are added>")])]
    before = json.dumps(nb)
    site = website.site_notebook(json.loads(before), "https://binder.example/launch")
    assert json.dumps(nb) == before  # the input is left alone
    assert "remove-cell" in site["cells"][0]["metadata"]["tags"]
    solution = site["cells"][1]
    assert "hide-cell" in solution["metadata"]["tags"]
    assert solution["metadata"]["mystnb"]["code_prompt_show"] == "Show solution"
    data = site["cells"][2]["outputs"][0]["data"]
    assert website.WIDGET_MIME not in data
    assert "live kernel" in data["text/html"] and 'href="https://binder.example/launch"' in data["text/html"]
    assert "widgets" not in site["metadata"]
    assert site["cells"][3]["outputs"][0]["metadata"]["image/png"]["alt"] == "elapsed time falls as threads are added"


def test_links_to_pages_stay_and_other_files_go_to_the_repository():
    pages = {"notebooks/00-start-here.ipynb", "notebooks/01-a.ipynb", "docs/teaching.md"}
    text = ("[next](01-a.ipynb) [contents](00-start-here.ipynb#Contents) [tool](../ci/course.py) "
            "[answers](../solutions/lab1/lab1.ipynb) [web](https://python.org) [here](#Key-points) "
            "[teach](../docs/teaching.md#A-two-day-workshop)")
    out = website.rewrite_links(text, "notebooks/01-a.ipynb", pages, REPO)
    assert "[next](01-a.ipynb)" in out
    assert "[contents](00-start-here.ipynb#contents)" in out
    assert f"[tool]({REPO}/blob/HEAD/ci/course.py)" in out
    assert f"[answers]({REPO}/blob/HEAD/solutions/lab1/lab1.ipynb)" in out
    assert "[web](https://python.org)" in out and "[here](#key-points)" in out
    assert "[teach](../docs/teaching.md#a-two-day-workshop)" in out
    assert website.rewrite_links("[up](../../x.md)", "README.md", pages, REPO) == "[up](../../x.md)"
    # the README is the site's home page, index.md
    assert website.rewrite_links("[home](../README.md#contents)", "docs/teaching.md", pages | {"README.md"}, REPO) == (
        "[home](../index.md#contents)")


def test_readme_is_the_first_five_minutes_and_its_binder_badge_follows_the_repository(monkeypatch):
    monkeypatch.delenv("COURSE_REPOSITORY", raising=False)
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 8 * 1024
    assert launch.binder_badge(launch.repository()) in readme
    for page in ("docs/teaching.md", "docs/launch.md", "docs/grading.md", "CONTRIBUTING.md"):
        assert f"]({page})" in readme and (ROOT / page).exists()


def test_stage_takes_contents_and_order_from_nav_and_never_stages_solutions(tmp_path):
    out = tmp_path / "src"
    order = website.stage(ROOT, out)
    expected = [p.relative_to(ROOT).as_posix() for p in [*nav.lessons(ROOT), *nav.labs(ROOT)]]
    assert order[: len(expected)] == expected
    assert not (out / "solutions").exists()
    index = (out / "index.md").read_text()
    assert index.count("```{toctree}") == len(website.sections(ROOT))
    assert index.index(expected[0]) < index.index(expected[-1])
    for rel in expected:
        assert (out / rel).exists()


# ---------------------------------------------------------------- checks of the built site


def test_link_check_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#there">b</a><a href="b.html#gone">x</a>'
                                     '<a href="missing.html">m</a><img src="_images/x.png" alt="a plot"><a href="https://x.org">')
    (tmp_path / "b.html").write_text('<p id="there"></p><a href="a.html#top">a</a>')
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "x.png").write_bytes(b"")
    assert sorted(website.broken_links(tmp_path)) == ["a.html: link to a missing anchor: b.html#gone",
                                                      "a.html: link to a missing file: missing.html"]


def test_missing_alt_text_is_reported(tmp_path):
    (tmp_path / "a.html").write_text('<img src="_images/abc.png" alt="_images/abc.png"><img src="_images/d.png" alt="x">')
    assert website.missing_alt(tmp_path) == ["a.html: figure _images/abc.png has no alt text"]


def test_answer_check_catches_a_reference_answer_or_hidden_test_on_any_page(tmp_path):
    solution = ROOT / "solutions" / "lab2-races-and-locks" / "lab2-races-and-locks.ipynb"
    open_files = [*nav.lessons(ROOT), *nav.labs(ROOT)]
    public = "\n".join(p.read_text() for p in open_files)
    secrets = website.answer_lines(json.loads(solution.read_text()), public)
    assert len(secrets) > 20
    (tmp_path / "page.html").write_text("<pre>learner's lab</pre>")
    assert website.leaked_answers(tmp_path, ROOT) == []
    (tmp_path / "page.html").write_text(f"<pre><span>{secrets[-1][:10]}</span>{secrets[-1][10:]}</pre>")
    found = website.leaked_answers(tmp_path, ROOT)
    assert len(found) == 1 and "lab2-races-and-locks" in found[0]


def test_hidden_test_lines_are_secret_but_lines_any_learner_sees_are_not():
    nb = {"cells": [{"cell_type": "code", "source": "### BEGIN HIDDEN TESTS\nexpect_equal(bank.total(), 1000)\n"
                     "lock = threading.Lock()\n### END HIDDEN TESTS\nvisible_check_is_public_anyway()\n"}]}
    assert website.answer_lines(nb, "lock = threading.Lock()") == ["expect_equal(bank.total(), 1000)"]


def test_feature_check_finds_open_solutions_missing_notes_and_solution_pages(tmp_path):
    lesson = nav.lessons(ROOT)[1]  # lesson 01: solutions and a widget
    page = tmp_path / lesson.relative_to(ROOT).with_suffix(".html")
    page.parent.mkdir(parents=True)
    page.write_text("<p>solutions shown open, widget drawn</p>")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "lab1.html").write_text("")
    found = website.missing_features(tmp_path, ROOT)
    assert "solutions/lab1.html is on the site" in found
    assert any("not collapsed" in p and lesson.stem in p for p in found)
    assert any("live-kernel note" in p and lesson.stem in p for p in found)
    page.write_text("Show solution ... Needs a live kernel")
    assert not [p for p in website.missing_features(tmp_path, ROOT) if lesson.stem in p]


# ---------------------------------------------------------------- the class edition


def test_edition_has_no_answers_and_keeps_what_learners_need(tmp_path):
    out = tmp_path / "edition"
    written = edition.write(out, ROOT, REPO)
    assert edition.problems(out) == []
    assert not (out / "solutions").exists() and not (out / "tests").exists()
    assert {p.relative_to(ROOT).as_posix() for p in nav.lessons(ROOT)} <= set(written)
    assert {p.relative_to(ROOT).as_posix() for p in nav.labs(ROOT)} <= set(written)
    for lesson in nav.lessons(ROOT):
        full = json.loads(lesson.read_text())["cells"]
        kept = json.loads((out / lesson.relative_to(ROOT)).read_text())["cells"]
        solutions = [c for c in full if "solution" in c.get("metadata", {}).get("tags", [])]
        assert len(kept) == len(full) - len(solutions)
    assert "Class edition" in (out / "README.md").read_text()
    # the helper package imports from the edition (the doctor and the lessons need it)
    check = subprocess.run([sys.executable, "-c", "import threadlab.__main__, threadlab.env"],
                           cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_edition_check_catches_a_solution_cell_and_a_hidden_test(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("x = 1", "solution"), code("### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS")]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "01-x.ipynb")
    found = edition.problems(tmp_path)
    assert any("tagged solution" in p for p in found) and any("BEGIN HIDDEN TESTS" in p for p in found)


def test_edition_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError):
        edition.write(tmp_path, ROOT, REPO)


# ---------------------------------------------------------------- Binder (repo2docker) and hub files


def test_binder_files_pin_python_and_install_the_course():
    runtime = (ROOT / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-3.") and int(runtime.split(".")[1]) >= 11  # repo2docker's default is 3.10
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-e ." in requirements  # threadlab, installed after repo2docker copies the repository in
    for package in ("jupyterlab-rise", "nbgitpuller", "jupyterlab", "ipywidgets"):
        assert any(line.startswith(f"{package}==") for line in requirements), package
    post = ROOT / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    assert subprocess.run(["bash", "-n", str(post)]).returncode == 0


def test_post_build_writes_the_jupyterlab_settings(tmp_path):
    env = {"NB_PYTHON_PREFIX": str(tmp_path), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(["bash", str(ROOT / "postBuild")], env=env).returncode == 0
    settings = json.loads((tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


# ---------------------------------------------------------------- browser checks' helpers (ci/browser_site.py)


def test_site_is_served_on_loopback_while_the_block_runs(tmp_path):
    import urllib.request

    import browser_site

    (tmp_path / "index.html").write_text("<p>hello</p>")
    with browser_site.served(tmp_path) as base:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base}/index.html", timeout=10) as response:
            assert response.read() == b"<p>hello</p>"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/index.html", timeout=2)


def test_slides_expected_from_the_metadata_nav_writes():
    import browser_site

    nb = json.loads((ROOT / browser_site.SLIDES).read_text())
    assert browser_site.slide_count(nb) >= 3
    assert browser_site.nav_title(nb) == "00 · Start here"


def test_edition_links_what_it_leaves_out_to_the_full_course(tmp_path):
    out = tmp_path / "edition"
    edition.write(out, ROOT, REPO)
    start = (out / "notebooks" / "00-start-here.ipynb").read_text()
    assert "](../docs/grading.md)" not in start and f"]({REPO}/blob/HEAD/docs/grading.md)" in start
    assert "](01-why-concurrency.ipynb)" in start  # links inside the edition stay
