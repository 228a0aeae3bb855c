"""The batch grader on the course's real labs: each solution gets full marks, each blank lab zero.

Graded as a class of two (the reference notebook and nbgrader's learner version of it), in the
sandbox, with generous timeouts (this checks the labs work under the grader, not how fast they are).
"""

import glob
import os
import shutil

import pytest

from threadlab.grading import grader, sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# auto where bubblewrap works; without it, none asked for explicitly (the grader never falls to it by itself)
ISOLATION = "auto" if sandbox.probe_bwrap()[0] else "none"
REAL_LABS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))


def _learner_version(source, folder):
    """The blank lab a learner receives, made by nbgrader generate_assignment from the source."""
    from nbgrader.converters import GenerateAssignment

    lab = os.path.basename(os.path.dirname(source))
    root = os.path.join(folder, "course")
    os.makedirs(os.path.join(root, "source", lab))
    for name in os.listdir(os.path.dirname(source)):
        path = os.path.join(os.path.dirname(source), name)
        if os.path.isfile(path):
            shutil.copy(path, os.path.join(root, "source", lab, name))
    grader._run_converter(GenerateAssignment, root, lab)
    return os.path.join(root, "release", lab, lab + ".ipynb")


@pytest.mark.skipif(not REAL_LABS, reason="no solutions/<lab>/<lab>.ipynb yet: only the fixture lab is graded")
@pytest.mark.parametrize("source", REAL_LABS, ids=[os.path.basename(p) for p in REAL_LABS])
def test_real_lab_solution_gets_full_marks_and_blank_gets_zero(source, tmp_path):
    lab = os.path.splitext(os.path.basename(source))[0]
    subs_dir = tmp_path / "class"
    subs_dir.mkdir()
    shutil.copy(source, subs_dir / "lab-solution.ipynb")
    shutil.copy(_learner_version(source, str(tmp_path)), subs_dir / "lab-blank.ipynb")
    lines = []
    results = grader.grade_class(lab, [str(subs_dir)], str(tmp_path / "out"), source=source, echo=lines.append,
                                 settings=grader.Settings(cell_timeout=60, budget=240, isolation=ISOLATION))
    print("\n".join(lines))
    got = {r["student"]: r for r in results}
    if got["lab-solution"]["score"] < got["lab-solution"]["max_score"]:
        # some labs measure a speedup: on a machine this busy a check can miss once. Regrade it alone, once;
        # a lab that is really broken fails again.
        print("regrading the solution once:", got["lab-solution"]["verdict"])
        (got["lab-solution"],) = grader.grade_class(
            lab, [str(subs_dir / "lab-solution.ipynb")], str(tmp_path / "out"), source=source, echo=print,
            settings=grader.Settings(cell_timeout=60, budget=240, jobs=1, isolation=ISOLATION))
    assert got["lab-solution"]["max_score"] > 0
    assert got["lab-solution"]["score"] == got["lab-solution"]["max_score"], got["lab-solution"]["verdict"]
    assert got["lab-blank"]["score"] == 0, got["lab-blank"]["checks"]
    assert "not attempted" in got["lab-blank"]["verdict"]
    assert got["lab-blank"]["seconds"] < 60  # a blank lab fails fast, it never waits for timeouts
    print(f"{lab}: solution graded in {got['lab-solution']['seconds']:.1f} s, blank in {got['lab-blank']['seconds']:.1f} s")
