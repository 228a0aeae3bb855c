"""A Gradescope autograder for a lab: ``python -m threadlab gradescope LAB --out lab.zip``.

The zip follows Gradescope's autograder specification: ``setup.sh`` (run once, as root, when Gradescope
builds the image) and ``run_autograder`` (run for each submission, as root, in ``/autograder``) at its root.
``setup.sh`` installs the course's pinned requirements and this package into ``/opt/threadlab-venv`` (a
Python every user can run, so the student's kernel can run as an unprivileged uid), and bubblewrap when the
image has it. ``run_autograder`` grades ``/autograder/submission/LAB.ipynb`` with the class grader (one
submission, the same checks, limits and verdicts as ``python -m threadlab grade``) and writes
``/autograder/results/results.json``: one test per check cell (score, max_score, output). A check cell that
runs hidden tests is ``after_published``; its visible checks are repeated in a 0-point test that students
see at once. The rest of the results goes to stdout, which Gradescope shows to instructors only.

Isolation there: Gradescope runs each submission in its own Docker container, as root. bubblewrap needs
user namespaces, which Docker's default seccomp profile refuses, so expect the ``uid`` level: the kernel
runs as a fresh unprivileged uid, and ``/autograder/source`` (the reference notebook with the hidden tests)
is made readable by root only before the kernel starts, so the student's code cannot read the hidden tests
from disk. What no sandbox prevents, here as with nbgrader anywhere: the hidden tests are sent to the
student's kernel as code when their check cell runs, so code the student ran earlier can watch them arrive.
The output shown to students is cut down to the checker's own lines (nothing the student's code printed in
a check cell, no line quoting a hidden test), but a container with network access could send them out;
treat hidden tests as deterrence, and change them between terms.

``python -m threadlab.grading.gradescope run --root DIR`` runs the grading step in a folder laid out like
``/autograder`` (the tests do this; ``AUTOGRADER_ROOT`` and ``THREADLAB_PYTHON`` do the same for
``run_autograder`` itself).
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile

VENV = "/opt/threadlab-venv"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y python3 python3-venv python3-pip
# the course needs Python 3.11 or newer; Ubuntu 22.04's python3 is 3.10, its python3.11 package is 3.11
PY=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y python3.11 python3.11-venv
    PY=python3.11
fi
apt-get install -y bubblewrap || echo "no bubblewrap: the student's kernel will run as an unprivileged uid"
"$PY" -m venv {venv}
{venv}/bin/pip install --disable-pip-version-check -q -r /autograder/source/requirements.txt
{venv}/bin/pip install --disable-pip-version-check -q /autograder/source/package
chmod -R a+rX {venv}
chmod -R go-rwx /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission, as root, in /autograder. For a local try, point
# AUTOGRADER_ROOT at a folder laid out like /autograder and THREADLAB_PYTHON at a Python with threadlab.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
chmod -R go-rwx "$ROOT/source" 2>/dev/null || true  # the hidden tests: root only, before any student code runs
exec "${THREADLAB_PYTHON:-VENV/bin/python}" -m threadlab.grading.gradescope run --root "$ROOT"
""".replace("VENV", VENV)

PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "threadlab"
version = "1.0.0"
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["threadlab*"]
"""


def build(lab: str, out: str, source: str | None = None, settings: dict | None = None, repo: str | None = None) -> str:
    """Write the autograder zip for ``lab``; return its path."""
    import threadlab

    from . import grader

    repo = repo or os.path.dirname(os.path.dirname(os.path.abspath(threadlab.__file__)))
    source = source or os.path.join(repo, "solutions", lab, lab + ".ipynb")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"reference notebook not found: {source}")
    config = {"lab": lab, "settings": {"cell_timeout": 10, "budget": 60, "output_limit": 1_000_000,
                                       "hidden_detail": "names", **(settings or {})}}
    requirements = [line for line in open(os.path.join(repo, "requirements.txt")).read().splitlines()
                    if line.strip() and not line.startswith("-e")]
    package = os.path.join(os.path.dirname(os.path.abspath(threadlab.__file__)))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name, text, mode=0o644):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, text)

        add("setup.sh", SETUP_SH.format(venv=VENV), 0o755)
        add("run_autograder", RUN_AUTOGRADER, 0o755)
        add("config.json", json.dumps(config, indent=1))
        add("requirements.txt", "\n".join(requirements) + "\n")
        add("package/pyproject.toml", PYPROJECT)
        add(f"reference/{lab}.ipynb", open(source, encoding="utf-8").read())
        for name, path in grader.lab_files(os.path.dirname(source), source, "-"):  # data files, never an answer
            add(f"reference/{name}", open(path, "rb").read())
        for path in sorted(glob.glob(os.path.join(package, "**", "*"), recursive=True)):
            if os.path.isfile(path) and "__pycache__" not in path and not path.endswith((".pyc", ".pyo")):
                add("package/threadlab/" + os.path.relpath(path, package), open(path, "rb").read())
    return out


# ------------------------------------------------------------------------------------------- grading

_CHECKER_LINE = re.compile(r"^(?:[✔✘] |    |Exercise |\[grader: |\[\d+ line\(s\) quoting hidden)")


def checker_lines(text: str, title: str | None = None) -> str:
    """The lines threadlab.labcheck prints (title, one line per test and its details, grader notes); any other
    line (what the student's code printed while the check ran) is counted, not shown."""
    kept, other = [], 0
    for line in text.splitlines():
        if _CHECKER_LINE.match(line) or (title and line.startswith(title)):
            kept.append(line)
        elif line.strip():
            other += 1
    if other:
        kept.append(f"[{other} other line(s) of output not shown]")
    return "\n".join(kept)


def _cell_output(cell, title: str | None, with_error: bool) -> str:
    """The checker's lines of a check cell's output; with ``with_error``, the error that scored it 0 (its first
    300 characters: the exception's message can be the student's own text)."""
    parts, errors = [], []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            errors.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"[:300])
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(str(out["data"]["text/plain"]) + "\n")
    text = checker_lines("".join(parts), title)
    if with_error and errors:
        text = (text + "\n" if text else "") + errors[0].splitlines()[0]
    return text


def _check_title(source: str, grade_id: str) -> str:
    m = re.search(r"check_exercise\(\s*[\"']([^\"']+)[\"']", source)
    return m.group(1) if m else grade_id


def results_json(result: dict, teacher_nb, reference_nb, detail: str) -> dict:
    """Gradescope's results.json for one graded submission."""
    from . import hidden

    reference = hidden.Reference.from_notebook(reference_nb)
    shown = hidden.hide(copy.deepcopy(teacher_nb), reference, detail)
    visible_only = hidden.hide(copy.deepcopy(teacher_nb), reference, "none")
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in shown.cells}
    visible_cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in visible_only.cells}
    ref_cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in reference_nb.cells}
    tests = []
    for number, check in enumerate(result["checks"], 1):
        gid = check["grade_id"]
        title = _check_title(ref_cells[gid].source, gid) if gid in ref_cells else gid
        has_hidden = bool(gid in ref_cells and hidden.regions(ref_cells[gid].source))
        output = _cell_output(cells[gid], title, True) if gid in cells else f"{gid}: {check['status']}"
        if has_hidden:
            visible = _cell_output(visible_cells[gid], title, False) if gid in visible_cells else ""
            tests.append({"name": f"{title} (visible checks)", "number": f"{number}.0", "score": 0, "max_score": 0,
                          "output": visible, "visibility": "visible"})
        tests.append({"name": title, "number": f"{number}.1" if has_hidden else f"{number}", "score": check["points"],
                      "max_score": check["max_points"], "output": output,
                      "visibility": "after_published" if has_hidden else "visible"})
    return {"execution_time": round(result.get("seconds", 0)),
            "output": ("Your notebook was run top to bottom with the lab's checks. Exercises with hidden tests "
                       "show their score when grades are published."),
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"verdict": result.get("verdict", ""), "isolation": result.get("isolation", "")}}


def _failure(message: str, started: float) -> dict:
    return {"score": 0, "execution_time": round(time.monotonic() - started), "output": message,
            "stdout_visibility": "hidden", "tests": []}


def find_submission(folder: str, lab: str) -> tuple[str | None, str]:
    """The submitted notebook: ``LAB.ipynb`` anywhere in the submission, else its only notebook."""
    notebooks = sorted(p for p in glob.glob(os.path.join(folder, "**", "*.ipynb"), recursive=True)
                       if ".ipynb_checkpoints" not in p)
    named = [p for p in notebooks if os.path.basename(p) == lab + ".ipynb"]
    if len(named) == 1:
        return named[0], ""
    if not named and len(notebooks) == 1:
        return notebooks[0], f"graded {os.path.relpath(notebooks[0], folder)} (the only notebook submitted)"
    found = ", ".join(os.path.relpath(p, folder) for p in notebooks[:5]) or "no notebook"
    return None, f"submit the lab's notebook, {lab}.ipynb ({found} submitted)"


def run(root: str) -> int:
    """Grade ``root/submission`` into ``root/results/results.json`` (``root`` is laid out like /autograder)."""
    import nbformat

    from . import grader
    from .sandbox import IsolationError

    started = time.monotonic()
    config = json.load(open(os.path.join(root, "source", "config.json")))
    lab, opts = config["lab"], config["settings"]
    results_dir = os.path.join(root, "results")
    os.makedirs(results_dir, exist_ok=True)
    reference_path = os.path.join(root, "source", "reference", lab + ".ipynb")
    if os.geteuid() == 0:
        os.chmod(os.path.join(root, "source"), 0o700)  # run_autograder did too; the kernel must not read this

    def write(data):
        with open(os.path.join(results_dir, "results.json"), "w") as fh:
            json.dump(data, fh, indent=1)

    submitted, note = find_submission(os.path.join(root, "submission"), lab)
    if submitted is None:
        write(_failure(note, started))
        print(note)
        return 0
    settings = grader.Settings(cell_timeout=opts["cell_timeout"], budget=opts["budget"],
                               output_limit=opts["output_limit"], hidden_detail=opts["hidden_detail"], jobs=1,
                               isolation=opts.get("isolation", "auto"))
    with tempfile.TemporaryDirectory(prefix="gradescope-") as work:
        os.chmod(work, 0o700)
        student = os.path.join(work, "student")
        os.makedirs(student)
        shutil.copy(submitted, os.path.join(student, lab + ".ipynb"))
        try:
            (result,) = grader.grade_class(lab, [student], os.path.join(work, "out"), source=reference_path,
                                           settings=settings)
        except IsolationError as exc:
            message = "This submission could not be graded safely here; your instructor has been told."
            print(f"error: {exc}")
            write(_failure(message, started))
            return 0
        teacher = os.path.join(work, "out", "teacher", result["student"], lab + ".ipynb")
        teacher_nb = nbformat.read(teacher, as_version=4) if os.path.exists(teacher) else nbformat.v4.new_notebook()
        data = results_json(result, teacher_nb, nbformat.read(reference_path, as_version=4), settings.hidden_detail)
        if note:
            data["output"] = note + ". " + data["output"]
        write(data)
        print(json.dumps({k: result.get(k) for k in ("score", "max_score", "verdict", "isolation", "seconds")}, indent=1))
        log = os.path.join(work, "out", "logs", result["student"], lab + ".log")
        if os.path.exists(log):
            print(open(log).read()[-20000:])
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("lab", help="lab folder name, e.g. lab2-races-and-locks")
    parser.add_argument("--out", required=True, help="the zip to upload to Gradescope")
    parser.add_argument("--source", help="reference notebook (default solutions/LAB/LAB.ipynb)")
    parser.add_argument("--cell-timeout", type=int, default=10)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--hidden-feedback", choices=["names", "full", "none"], default="names")


def main(args) -> int:
    try:
        path = build(args.lab, args.out, args.source, {"cell_timeout": args.cell_timeout, "budget": args.budget,
                                                       "hidden_detail": args.hidden_feedback})
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: upload it as the autograder of {args.lab} (Gradescope: Configure Autograder, zip file upload)")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m threadlab.grading.gradescope")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="grade /autograder/submission (what run_autograder does)").add_argument(
        "--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    parsed = parser.parse_args()
    sys.exit(run(parsed.root))
