"""nbgrader settings of the course (used by ci/labs.py; teachers can pass it to any nbgrader command).

The repo root is the course root: ``solutions/<lab>/<lab>.ipynb`` is nbgrader's *source* version
and ``labs/<lab>/<lab>.ipynb`` its *release* (learner) version. ``ci/labs.py`` overrides the
database and, for ``--check``, the release folder, on the command line.

    nbgrader generate_assignment LAB --force --NbGrader.config_file=ci/nbgrader_config  (no .py: nbgrader adds it)
"""

import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.course_id = "python-concurrency"
# what the blank exercise cells hold in the learner version (nbgrader's default stub, stated here)
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
