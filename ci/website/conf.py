"""Sphinx settings of the course's website (built by ``python3 ci/course.py site``, see ci/website.py).

The sources are the staged copy in build/site-src/; nothing here executes a notebook.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "ci")]

import launch  # noqa: E402

project = "Python concurrency, measured"
author = "the course's authors"
copyright = "the course's authors"
html_title = project

extensions = ["myst_nb", "course_site"]
nb_execution_mode = "off"            # the stored outputs are the course (nbval checks them)
nb_merge_streams = True              # one block per cell for the prints of several threads
myst_heading_anchors = 3             # '#contents' links to '## Contents'
myst_enable_extensions = ["colon_fence", "dollarmath"]
exclude_patterns = ["**.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]  # a lesson's '# NN · Title' then '## 1.' is fine; so are lab headings

try:
    REPO = launch.repository(ROOT)
except ValueError:
    REPO = ""

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_copy_source = True              # the download button gives the (learner) notebook
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": REPO,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": bool(REPO),
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "launch_buttons": {"binderhub_url": launch.BINDER if REPO.startswith("https://github.com/") else "",
                       "notebook_interface": "jupyterlab"},
}
