"""Grade a class: ``python -m threadlab grade LAB SUBMISSIONS... --out DIR``.

Each submission is graded by nbgrader's autograde (run in-process, no CLI start-up) in its own
forked worker process, in its own private temporary course folder holding a private copy of a
gradebook that knows only the lab. The student's kernel runs in the sandbox of
:mod:`threadlab.grading.sandbox`. When the kernel and every process it started are dead, the
parent process merges the scores into the class gradebook ``DIR/gradebook.db``.

Layout of ``DIR`` (an nbgrader course folder: formgrader, ``generate_feedback`` and ``release_feedback``
work in it, and none of them can show a hidden test)::

    nbgrader_config.py                 course id, exchange, and the preprocessors that keep hidden tests out
    gradebook.db                       the class gradebook (nbgrader), with submission times and late penalties
    threadlab-grades.csv               one row per student and lab with the verdict (nbgrader export writes grades.csv)
    source/LAB/LAB.ipynb               the reference notebook that was graded against
    release/LAB/LAB.ipynb              the learner version (what nbgrader generate_assignment makes)
    submitted/STUDENT/LAB/             the submission as handed in, with nbgrader's timestamp.txt and secret
    autograded/STUDENT/LAB/LAB.ipynb   the executed submission, hidden tests cut out
    feedback/STUDENT/LAB/LAB.html      feedback for the student (hidden tests cut out), with timestamp.txt
    teacher/STUDENT/LAB.ipynb          the executed submission with the hidden tests and all their output
    results/STUDENT/LAB.json           score, verdict, per-check points, seconds (written last, atomically)
    logs/STUDENT/LAB.log               what happened: verdict, events, kernel output
    manual/STUDENT/LAB.json            manual grades and comments kept across a re-grade (only during one)
    GRADING-IN-PROGRESS                exists while a run is going on (a killed run leaves it behind)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import glob
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback

from . import hidden, late
from .sandbox import IsolationError, Limits, Sandbox, detect_isolation

MARKER = "GRADING-IN-PROGRESS"
GRADES_CSV = "threadlab-grades.csv"
CONFIG_HEADER = "# Written by `python -m threadlab grade`"
MAX_NOTEBOOK_BYTES = 50 * 1024**2
COURSE = "threadlab"


# ---------------------------------------------------------------------------------------------
# settings and discovery
@dataclasses.dataclass
class Settings:
    cell_timeout: int = 10  # seconds per cell, then the kernel is interrupted
    budget: float = 60.0  # seconds for a whole submission (watchdog)
    output_limit: int = 1_000_000  # bytes of output kept per submission
    limits: Limits = dataclasses.field(default_factory=Limits)
    isolation: str = "auto"  # auto | bwrap | uid | none
    jobs: int = 0  # 0 = all usable cores
    course: str = COURSE  # nbgrader course id (the exchange's, for release_feedback)
    exchange: str | None = None  # nbgrader's Exchange.root, written into DIR/nbgrader_config.py
    hidden_detail: str = "names"  # what feedback shows of each hidden test: names | full | none
    due: _dt.datetime | None = None  # aware, UTC
    late_policy: late.LatePolicy | None = None


def usable_cores() -> int:
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


GENERIC_FOLDERS = {"labs", "submitted", "submissions", "autograded"}


def student_id_for(path: str, lab: str) -> str:
    """The student of a notebook file, from its name or, when it is named after the lab, its folders.

    ``alice.ipynb`` -> alice; ``alice/LAB.ipynb`` -> alice; ``submitted/alice/LAB/LAB.ipynb`` (nbgrader's
    collect layout) -> alice; ``lab2-alice/labs/LAB/LAB.ipynb`` (a GitHub Classroom clone) -> lab2-alice.
    """
    path = os.path.normpath(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    folder = os.path.dirname(path)
    while stem == lab or stem in GENERIC_FOLDERS:
        stem, folder = os.path.basename(folder), os.path.dirname(folder)
        if folder == os.path.dirname(folder):
            break
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", stem).strip("._") or "student"


def lab_notebook_in(folder: str, lab: str) -> str | None:
    """The lab's notebook in one student's folder or repository: ``LAB.ipynb``, ``LAB/LAB.ipynb`` or
    ``labs/LAB/LAB.ipynb`` (a clone of the course's template repository)."""
    for candidate in (os.path.join(folder, lab + ".ipynb"), os.path.join(folder, lab, lab + ".ipynb"),
                      os.path.join(folder, "labs", lab, lab + ".ipynb")):
        if os.path.isfile(candidate):
            return candidate
    return None


def find_submissions(lab: str, paths: list[str], skipped: list | None = None) -> list[tuple[str, str]]:
    """(student id, notebook path) for notebook files and folders of them (see :func:`student_id_for`).

    A folder is one student's (it holds the lab's notebook, see :func:`lab_notebook_in`: only that notebook is
    taken, never a stray ``Untitled.ipynb``), or a class folder with one entry per student: ``ID.ipynb``,
    ``ID/LAB.ipynb``, ``ID/LAB/LAB.ipynb`` (nbgrader's ``submitted/``) or ``ID/labs/LAB/LAB.ipynb`` (the
    repositories ``gh classroom clone student-repos`` puts in ``<assignment>-submissions/``). A student
    folder without the lab's notebook is listed in ``skipped`` as (folder, reason). No submission at all,
    or a path that does not exist (a shell pattern that matched nothing), is an error.
    """
    found = []
    skipped = [] if skipped is None else skipped
    for path in paths:
        if os.path.isdir(path):
            own = lab_notebook_in(path, lab)
            if own is not None:
                found.append(own)
                continue
            for name in sorted(os.listdir(path)):
                child = os.path.join(path, name)
                if name.startswith("."):
                    continue
                if os.path.isfile(child) and name.endswith(".ipynb"):
                    found.append(child)
                elif os.path.isdir(child):
                    notebook = lab_notebook_in(child, lab)
                    if notebook is not None:
                        found.append(notebook)
                    else:
                        others = sorted(os.path.relpath(p, child) for p in
                                        glob.glob(os.path.join(child, "**", "*.ipynb"), recursive=True))
                        skipped.append((child, f"no {lab}.ipynb" + (f" (it has {', '.join(others[:3])})" if others else "")))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder (a shell pattern that matched nothing?)")
    result, seen = [], {}
    for nb_path in found:
        sid = student_id_for(nb_path, lab)
        if sid in seen:
            raise ValueError(f"two submissions for student {sid!r}: {seen[sid]} and {nb_path} "
                             "(grade them in two runs, or pass the one to grade)")
        seen[sid] = nb_path
        result.append((sid, nb_path))
    if not result:
        raise ValueError(f"no submissions of {lab} in {' '.join(paths)}: expected notebooks, or folders holding "
                         f"{lab}.ipynb, {lab}/{lab}.ipynb or labs/{lab}/{lab}.ipynb")
    return result


def _atomic_write(path: str, data: str | bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _quiet_config(root: str, lab: str, extra: dict | None = None):
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = root
    c.CourseDirectory.course_id = COURSE
    c.CourseDirectory.assignment_id = lab
    c.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")
    for key, value in (extra or {}).items():
        section, name = key.split(".")
        setattr(c[section], name, value)
    return c


def _alembic_head() -> str:
    """nbgrader asks the ``alembic`` command for this when it creates a gradebook (a slow subprocess)."""
    import nbgrader
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(nbgrader.__file__), "alembic"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _quiet_nbgrader() -> None:
    import warnings

    import nbgrader.api

    if not getattr(nbgrader.api.get_alembic_version, "threadlab", False):
        head = _alembic_head()
        nbgrader.api.get_alembic_version = lambda: head
        nbgrader.api.get_alembic_version.threadlab = True
    try:
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own autoflush warnings
    except ImportError:  # pragma: no cover
        pass


def _run_converter(cls, root: str, lab: str, student: str = "*", extra: dict | None = None, log=None):
    """Run an nbgrader converter in this process; raise with its log if it reports a failure."""
    import logging

    from nbgrader.coursedir import CourseDirectory

    _quiet_nbgrader()
    config = _quiet_config(root, lab, extra)
    coursedir = CourseDirectory(config=config)
    coursedir.student_id = student
    stream = io.StringIO()
    logger = logging.getLogger(f"threadlab.grading.{cls.__name__}")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    converter = cls(coursedir=coursedir, config=config, log=logger)
    try:
        converter.start()
    except BaseException as exc:
        raise RuntimeError(f"nbgrader {cls.__name__} failed: {exc}\n{stream.getvalue()[-3000:]}") from None
    finally:
        if log is not None:
            log.write(stream.getvalue())
    return stream.getvalue()


# ---------------------------------------------------------------------------------------------
# the reference: what the lab's checks are
def grade_cells(source_nb) -> list[tuple[str, float]]:
    cells = []
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cells.append((meta["grade_id"], float(meta.get("points", 0))))
    return cells


def prepare_template(lab: str, source_path: str, workdir: str, course: str = COURSE) -> str:
    """A course folder with the lab's source and a gradebook that knows it (made once per run)."""
    from nbgrader.converters import GenerateAssignment

    root = os.path.join(workdir, "template")
    os.makedirs(os.path.join(root, "source", lab))
    os.chmod(root, 0o700)  # hidden tests: only the grader (copies of it stay 0700 too)
    shutil.copy(source_path, os.path.join(root, "source", lab, lab + ".ipynb"))
    _run_converter(GenerateAssignment, root, lab, extra={"GenerateAssignment.create_assignment": True,
                                                         "CourseDirectory.course_id": course})
    return root


# ---------------------------------------------------------------------------------------------
# one submission (runs in a forked worker process)
def lab_files(source_dir: str, nb_path: str, lab: str) -> list[tuple[str, str]]:
    """(name, path) of the files besides the notebook that the student's kernel gets in its folder.

    The lab's own data files come from the source folder, but never one that holds a solution or hidden
    tests (lab 5's ``primes_worker.py`` is written by the learner's notebook; the reference copy is the
    answer). For such a file, the student's own copy is used when the submission is a folder holding
    ``LAB.ipynb`` and that file; students cannot add any other file (a ``threadlab.py`` would shadow the
    checker).
    """
    files, learner_made = [], []
    for name in sorted(os.listdir(source_dir)):
        src = os.path.join(source_dir, name)
        if not os.path.isfile(src) or name.endswith(".ipynb"):
            continue
        with open(src, "rb") as fh:
            head = fh.read(MAX_NOTEBOOK_BYTES)
        if b"BEGIN SOLUTION" in head or b"BEGIN HIDDEN TESTS" in head:
            learner_made.append(name)
        else:
            files.append((name, src))
    if os.path.basename(nb_path) == lab + ".ipynb":
        for name in learner_made:
            mine = os.path.join(os.path.dirname(nb_path), name)
            if os.path.isfile(mine) and not os.path.islink(mine) and os.path.getsize(mine) < 1024**2:
                files.append((name, mine))
    return files


def _structure_problems(sub_nb, source_nb) -> list[str]:
    expected = [c.metadata["nbgrader"]["grade_id"] for c in source_nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id")]
    got = [c.metadata.get("nbgrader", {}).get("grade_id") for c in sub_nb.cells]
    got = [g for g in got if g]
    problems = []
    missing = [g for g in expected if g not in got]
    if missing:
        problems.append("cells deleted: " + ", ".join(missing))
    dupes = sorted({g for g in got if got.count(g) > 1})
    if dupes:
        problems.append("cells duplicated: " + ", ".join(dupes))
    present = [g for g in got if g in expected]
    if present != [g for g in expected if g in present] and not dupes:
        problems.append("cells reordered")
    return problems


def _classify(cells: list[dict], events: list[dict], structure: list[str]) -> str:
    notes = list(structure)
    for ev in events:
        notes.append(ev["detail"])
    errors = set()
    for cell in cells:
        if cell.get("error"):
            errors.add(cell["error"])
    if "NotImplementedError" in errors or any("not attempted" in c.get("evalue", "") for c in cells):
        notes.append("an exercise left blank (not attempted)")
    for cell in cells:  # threadlab.labcheck's summary of a check cell: "Exercise N: k of n checks passed ..."
        if cell.get("error") == "CheckFailed" and cell.get("evalue"):
            notes.append(cell["evalue"].splitlines()[0][:160])
    for name, text in (("MemoryError", "memory limit hit (MemoryError)"),
                       ("BlockingIOError", "process limit hit (cannot fork)"),
                       ("SystemExit", "called sys.exit"),
                       ("KeyboardInterrupt", "interrupted (deadlock or busy loop)")):
        if name == "KeyboardInterrupt" and any(ev["kind"] == "timeout" for ev in events):
            continue  # the grader's own interrupt after a timeout: already said
        if name in errors:
            notes.append(text)
    others = sorted(errors - {"NotImplementedError", "MemoryError", "BlockingIOError", "SystemExit", "CheckFailed",
                              "KeyboardInterrupt", "CellTimeoutError", "GradingStopped"})
    if others:
        notes.append("exceptions: " + ", ".join(others))
    seen, unique = set(), []
    for note in notes:
        if note not in seen:
            seen.add(note)
            unique.append(note)
    return "; ".join(unique)


def grade_one(lab: str, sid: str, nb_path: str, template: str, out: str, settings: Settings,
              level: str, uid: int | None) -> dict:
    """Grade one submission in a private course folder; return the result (also written to results/)."""
    import nbformat

    started = time.monotonic()
    result = {"student": sid, "lab": lab, "submission": os.path.abspath(nb_path), "isolation": level,
              "score": 0.0, "max_score": 0.0, "checks": [], "verdict": "", "complete": False}
    log = io.StringIO()
    work = tempfile.mkdtemp(prefix=f"threadlab-grade-{sid}-", dir=os.path.dirname(template))
    os.chmod(work, 0o711)  # a kernel running as another uid (level "uid") reaches its home, cannot list the rest
    try:
        source_nb = nbformat.read(os.path.join(template, "source", lab, lab + ".ipynb"), as_version=4)
        checks = grade_cells(source_nb)
        result["max_score"] = sum(p for _, p in checks)
        result["checks"] = [{"grade_id": g, "points": 0.0, "max_points": p, "status": "not run"} for g, p in checks]
        if os.path.getsize(nb_path) > MAX_NOTEBOOK_BYTES:
            result["verdict"] = f"not a notebook: larger than {MAX_NOTEBOOK_BYTES // 1024**2} MB"
            return result
        raw = open(nb_path, "rb").read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            result["verdict"] = f"malformed JSON: {exc}"
            return result
        try:
            sub_nb = nbformat.reads(json.dumps(data), as_version=4)
            nbformat.validate(sub_nb)
            if not isinstance(sub_nb.get("cells"), list):
                raise ValueError("no cells")
        except Exception as exc:
            result["verdict"] = f"not a notebook: {str(exc).splitlines()[0][:200]}"
            return result
        structure = _structure_problems(sub_nb, source_nb)
        reference = hidden.Reference.from_notebook(source_nb)
        odd = hidden.student_markers(sub_nb, set(reference.locked))
        if odd:
            structure.append(f"the student's own cell {', '.join(str(i + 1) for i in odd)} holds nbgrader's "
                             "hidden-test marker text: graded as ordinary code")

        course = os.path.join(work, "course")
        shutil.copytree(template, course)
        dest = os.path.join(course, "submitted", sid, lab)
        os.makedirs(dest)
        nbformat.write(sub_nb, os.path.join(dest, lab + ".ipynb"))
        home, runtime = os.path.join(work, "home"), os.path.join(work, "run")
        os.makedirs(home, mode=0o700)
        os.makedirs(runtime, mode=0o700)
        if uid is not None:
            os.chown(home, uid, uid)
            os.chown(runtime, uid, uid)
        for name, src in lab_files(os.path.join(course, "source", lab), nb_path, lab):
            shutil.copy(src, os.path.join(home, name))
            if uid is not None:
                os.chown(os.path.join(home, name), uid, uid)

        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import (
            CheckCellMetadata,
            ClearOutput,
            DeduplicateIds,
            IgnorePattern,
            LimitOutput,
            OverwriteKernelspec,
            SaveAutoGrades,
        )

        from . import execute

        execute.SandboxKernelManager.sandbox = Sandbox(level, settings.limits, home, runtime, uid,
                                                        output_limit=settings.output_limit)
        execute.EVENTS.clear()
        t_autograde = time.monotonic()
        execute.prestart_kernel()
        _run_converter(Autograde, course, lab, sid, log=log, extra={
            "Autograde.sanitize_preprocessors": [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                                 execute.QuietOverwriteCells, CheckCellMetadata],
            "Autograde.autograde_preprocessors": [execute.GradingExecute, IgnorePattern, ClearMetadataPreprocessor,
                                                  LimitOutput, SaveAutoGrades, CheckCellMetadata],
            "Execute.timeout": settings.cell_timeout,
            "Execute.interrupt_on_timeout": True,
            "Execute.raise_on_iopub_timeout": False,
            "Execute.iopub_timeout": 2,
            "Execute.startup_timeout": 30,
            "GradingExecute.budget": settings.budget,
            "GradingExecute.output_limit": settings.output_limit,
        })
        events = list(execute.EVENTS)
        result["autograde_seconds"] = round(time.monotonic() - t_autograde, 2)
        _kill_leftovers(uid, level)
        graded_path = os.path.join(course, "autograded", sid, lab, lab + ".ipynb")
        graded = nbformat.read(graded_path, as_version=4)

        # scores from the private gradebook
        from nbgrader.api import Gradebook

        points = {}
        with Gradebook("sqlite:///" + os.path.join(course, "gradebook.db"), COURSE) as gb:
            submission = gb.find_submission_notebook(lab, lab, sid)
            for grade in submission.grades:
                points[grade.name] = float(grade.auto_score or 0.0)
        present = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
        cells = []
        for check in result["checks"]:
            cell = present.get(check["grade_id"])
            if cell is None:
                check["status"] = "deleted"
                continue
            check["points"] = points.get(check["grade_id"], 0.0)
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            check["status"] = "passed" if check["points"] >= check["max_points"] else (
                "failed: " + errors[0]["ename"] if errors else "failed")
        for cell in graded.cells:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if cell.cell_type == "code" and errors:
                cells.append({"error": errors[0].get("ename"), "evalue": str(errors[0].get("evalue", ""))})
        result["raw_score"] = result["score"] = sum(c["points"] for c in result["checks"])
        result["events"] = events
        result["verdict"] = _classify(cells, events, structure)
        quiet = [c for c in result["checks"] if c["status"] == "failed"]  # below full marks without an error
        if quiet:
            note = ("partial credit (nbgrader: a check cell showed a number or wrote to stderr): "
                    + ", ".join(c["grade_id"] for c in quiet))
            result["verdict"] = "; ".join(v for v in (result["verdict"], note) if v)
        result["verdict"] = result["verdict"] or "ok"
        if result["score"] >= result["max_score"] and result["verdict"] == "ok":
            result["verdict"] = "ok: full marks"
        _apply_lateness(result, nb_path, settings)

        # what the student gets back holds no hidden test (see threadlab.grading.hidden); the teacher's copy does
        t_feedback = time.monotonic()
        import copy

        safe = hidden.hide(copy.deepcopy(graded), reference, settings.hidden_detail)
        html = render_feedback(safe, lab, sid, "sqlite:///" + os.path.join(course, "gradebook.db"), result)
        extras = _exchange_files(nb_path, result)
        _atomic_write(os.path.join(out, "teacher", sid, lab + ".ipynb"), open(graded_path, "rb").read())
        for folder, name, data in (("submitted", lab + ".ipynb", raw), ("autograded", lab + ".ipynb", nbformat.writes(safe)),
                                   ("feedback", lab + ".html", html)):
            for extra, text in extras.items():
                _atomic_write(os.path.join(out, folder, sid, lab, extra), text)
            _atomic_write(os.path.join(out, folder, sid, lab, name), data)
        kernel_log = os.path.join(runtime, "kernel.log")
        if os.path.exists(kernel_log):
            with open(kernel_log, "rb") as fh:
                tail = fh.read()[-4000:].decode("utf-8", "replace")
            log.write("\n--- kernel stdout/stderr (last 4000 bytes) ---\n" + tail)
        result["feedback"] = os.path.join("feedback", sid, lab, lab + ".html")
        result["feedback_seconds"] = round(time.monotonic() - t_feedback, 2)
        return result
    except Exception as exc:
        result["verdict"] = f"grader error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.write(traceback.format_exc())
        return result
    finally:
        _kill_leftovers(uid, level)
        result["seconds"] = round(time.monotonic() - started, 2)
        result["complete"] = True
        header = (f"student: {sid}\nlab: {lab}\nsubmission: {nb_path}\nisolation: {level}\n"
                  f"score: {result['score']:g}/{result['max_score']:g}\nverdict: {result['verdict']}\n"
                  f"seconds: {result['seconds']}\n")
        for check in result["checks"]:
            header += f"  {check['grade_id']}: {check['points']:g}/{check['max_points']:g} {check['status']}\n"
        for ev in result.get("events", []):
            header += f"  event: cell {ev['cell']}: {ev['kind']}: {ev['detail']}\n"
        _atomic_write(os.path.join(out, "logs", sid, lab + ".log"), header + "\n--- nbgrader log ---\n" + log.getvalue())
        _atomic_write(os.path.join(out, "results", sid, lab + ".json.partial"), json.dumps(result, indent=1))
        shutil.rmtree(work, ignore_errors=True)


_FEEDBACK = {}


def _feedback_exporter():
    """nbgrader's feedback HTML exporter, built once (in the parent, before workers fork: warm templates)."""
    if "exporter" not in _FEEDBACK:
        import nbgrader
        from nbconvert.exporters import HTMLExporter
        from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
        from traitlets.config import Config

        base = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
        c = Config()
        c.HTMLExporter.template_name = "feedback"
        c.HTMLExporter.extra_template_basedirs = [os.path.join(base, "templates")]
        c.HTMLExporter.extra_template_paths = [os.path.join(base, "static", "node_modules", "bootstrap", "dist", "css")]
        _FEEDBACK["exporter"] = HTMLExporter(config=c)
        from jupyter_core.paths import jupyter_config_dir

        resources = {"nbgrader": {"score": 0, "max_score": 0, "late_penalty": 0, "notebook": "warm-up"},
                     "config_dir": jupyter_config_dir()}
        CSSHTMLHeaderPreprocessor().preprocess(_new_nb(), resources)
        _FEEDBACK["inlining"] = resources["inlining"]
        _FEEDBACK["exporter"].from_notebook_node(_new_nb(), resources)  # compiles the templates
    return _FEEDBACK["exporter"]


def _new_nb():
    from nbformat.v4 import new_code_cell, new_notebook

    return new_notebook(cells=[new_code_cell("1", outputs=[])], metadata={"language_info": {"name": "python"}})


def render_feedback(safe_nb, lab: str, sid: str, db_url: str, result: dict | None = None) -> str:
    """The feedback page nbgrader's generate_feedback makes, from a notebook already cleared of hidden tests
    (:func:`threadlab.grading.hidden.hide`), with the late penalty when there is one."""
    import copy

    from nbgrader.preprocessors import GetGrades

    exporter = _feedback_exporter()
    nb = copy.deepcopy(safe_nb)
    resources = {"nbgrader": {"notebook": lab, "assignment": lab, "student": sid, "db_url": db_url},
                 "inlining": dict(_FEEDBACK["inlining"]), "metadata": {"name": lab}}
    nb, resources = GetGrades().preprocess(nb, resources)
    if result and result.get("late_penalty"):  # shown under the score, as nbgrader's own feedback pages do
        resources["nbgrader"]["late_penalty"] = result["late_penalty"]
    html, _ = exporter.from_notebook_node(nb, resources)
    return html


def _apply_lateness(result: dict, nb_path: str, settings: Settings) -> None:
    """Submission time, lateness and penalty into ``result`` (score and verdict too)."""
    when, how = late.submission_time(nb_path)
    result["submitted_at"] = when.isoformat(timespec="seconds")
    result["submitted_at_source"] = how
    if settings.due is None:
        return
    late_seconds = max(0.0, (when - settings.due).total_seconds())
    policy = settings.late_policy or late.LatePolicy()
    penalty = policy.penalty(late_seconds, result["max_score"])
    result["late_seconds"] = round(late_seconds)
    result["late_penalty"] = penalty
    result["score"] = max(0.0, result["raw_score"] - penalty)
    notes = []
    if how != "timestamp.txt":
        notes.append(f"submission time from the {how}")
    if late_seconds > 0:
        cost = f"-{penalty:g} point{'s' if penalty != 1 else ''}" if penalty else "no penalty"
        notes.append(f"late by {late.duration(late_seconds)}: {cost}")
    if notes:
        verdict = result["verdict"]
        if verdict == "ok: full marks" and penalty:
            verdict = "full marks before the late penalty"
        result["verdict"] = "; ".join([verdict] + notes)


def _exchange_files(nb_path: str, result: dict) -> dict:
    """nbgrader's ``timestamp.txt`` and ``submission_secret.txt`` for the submission's folders in ``DIR``.

    ``release_feedback`` reads both next to each feedback page (the secret names the page in the exchange, and
    the student's ``fetch_feedback`` finds it by the secret its own submission holds). A submission that did
    not come through the exchange gets its file time and a fresh secret (its feedback is never fetched)."""
    import secrets

    folder = os.path.dirname(os.path.abspath(nb_path))
    files = {}
    stamp = os.path.join(folder, "timestamp.txt")
    if os.path.isfile(stamp) and os.path.getsize(stamp) < 1000:
        files["timestamp.txt"] = open(stamp).read()
    else:
        when = (_dt.datetime.fromisoformat(result["submitted_at"]) if result.get("submitted_at")
                else _dt.datetime.now(_dt.UTC))
        files["timestamp.txt"] = when.strftime("%Y-%m-%d %H:%M:%S.%f %Z")  # nbgrader's timestamp_format
    secret = os.path.join(folder, "submission_secret.txt")
    if os.path.isfile(secret) and os.path.getsize(secret) < 1000:
        files["submission_secret.txt"] = open(secret).read()
    else:
        files["submission_secret.txt"] = secrets.token_hex(16)
    return files


def _kill_leftovers(uid: int | None, level: str) -> int:
    """Kill every process the kernel left behind.

    With bwrap they died with its pid namespace already. Without it: this worker is a child subreaper,
    so even processes that left the kernel's session (setsid, double fork) are still its descendants.
    Last, anything running as the submission's uid.
    """
    import psutil

    killed = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            proc.kill()
            killed += 1
        except psutil.Error:
            pass
    for proc in psutil.process_iter(["uids", "pid"]):
        try:
            if uid is not None and proc.info["uids"] and proc.info["uids"].real == uid:
                proc.kill()
                killed += 1
        except (psutil.Error, OSError):
            pass
    return killed


def _worker(args, conn_path):
    os.setsid()  # own session: the parent can kill this worker and everything under it
    try:  # die with the grading run: a killed run leaves no worker (and so no kernel) behind
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: processes the kernel detaches stay our descendants
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    result = grade_one(*args)
    return result


# ---------------------------------------------------------------------------------------------
# the class
def _db(out: str) -> str:
    return "sqlite:///" + os.path.join(out, "gradebook.db")


def _naive_utc(iso: str | None):
    if not iso:
        return None
    when = _dt.datetime.fromisoformat(iso)
    return when.astimezone(_dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _merge(out: str, lab: str, result: dict, course: str = COURSE) -> None:
    """The result into the class gradebook: auto scores, submission time, late penalty, and the manual grades
    and comments a teacher had entered in formgrader before this re-grade (kept in ``manual/``)."""
    from nbgrader.api import Gradebook, MissingEntry

    sid = result["student"]
    with Gradebook(_db(out), course) as gb:
        gb.update_or_create_student(sid)
        try:
            gb.remove_submission(lab, sid)
        except MissingEntry:
            pass
    stash = os.path.join(out, "manual", sid, lab + ".json")
    manual = json.load(open(stash)) if os.path.exists(stash) else {}
    with Gradebook(_db(out), course) as gb:
        submission = gb.add_submission(lab, sid, timestamp=_naive_utc(result.get("submitted_at")))
        for check in result["checks"]:
            grade = gb.find_grade(check["grade_id"], lab, lab, sid)
            grade.auto_score = check["points"]
            grade.needs_manual_grade = False
        for notebook in submission.notebooks:
            notebook.late_submission_penalty = result.get("late_penalty") or 0.0
        kept = 0
        for name, values in manual.get("grades", {}).items():
            try:
                grade = gb.find_grade(name, lab, lab, sid)
            except MissingEntry:
                continue
            grade.manual_score, grade.extra_credit = values.get("manual_score"), values.get("extra_credit")
            kept += 1
        for name, text in manual.get("comments", {}).items():
            try:
                gb.find_comment(name, lab, lab, sid).manual_comment = text
                kept += 1
            except MissingEntry:
                continue
        gb.db.commit()
    result["manual_kept"] = kept
    if os.path.exists(stash):
        os.remove(stash)


def _stash_manual(out: str, lab: str, sid: str, course: str = COURSE) -> None:
    """Save the manual grades and comments of a student's submission before it is removed for a re-grade."""
    from nbgrader.api import Gradebook, MissingEntry

    manual = {"grades": {}, "comments": {}}
    with Gradebook(_db(out), course) as gb:
        try:
            submission = gb.find_submission(lab, sid)
        except MissingEntry:
            return  # nothing in the gradebook: keep a stash an interrupted run may have left
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.manual_score is not None or grade.extra_credit:
                    manual["grades"][grade.name] = {"manual_score": grade.manual_score, "extra_credit": grade.extra_credit}
            for comment in notebook.comments:
                if comment.manual_comment:
                    manual["comments"][comment.name] = comment.manual_comment
    stash = os.path.join(out, "manual", sid, lab + ".json")
    if manual["grades"] or manual["comments"]:
        _atomic_write(stash, json.dumps(manual, indent=1))
    elif os.path.exists(stash):
        os.remove(stash)


def _forget(out: str, lab: str, sid: str, course: str = COURSE) -> None:
    """Before grading: no old score, result or feedback of this student may look final (manual grades are kept)."""
    from nbgrader.api import Gradebook, MissingEntry

    _stash_manual(out, lab, sid, course)
    for path in (os.path.join(out, "results", sid, lab + ".json"), os.path.join(out, "feedback", sid, lab, lab + ".html")):
        if os.path.exists(path):
            os.remove(path)
    with Gradebook(_db(out), course) as gb:
        try:
            gb.remove_submission(lab, sid)
        except MissingEntry:
            pass
    _atomic_write(os.path.join(out, "logs", sid, lab + ".log"), f"student: {sid}\nlab: {lab}\nverdict: IN PROGRESS\n")


def nbgrader_config_text(settings: Settings) -> str:
    """``DIR/nbgrader_config.py``: what nbgrader commands run in the grading folder need, hidden tests kept out."""
    exchange = f"c.Exchange.root = {settings.exchange!r}\n" if settings.exchange else (
        "# c.Exchange.root = \"/srv/nbgrader/exchange\"  # the hub's exchange, for release_feedback\n")
    return f"""{CONFIG_HEADER} into this grading folder; it is re-written at each run.
# nbgrader commands run here (formgrader in JupyterLab started here, generate_feedback, release_feedback,
# export, even autograde) read it. Keep it: it is what stops them from putting hidden tests into feedback.
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, Execute,
                                    GetGrades, IgnorePattern, LimitOutput, OverwriteKernelspec, SaveAutoGrades)

from threadlab.grading.execute import QuietOverwriteCells
from threadlab.grading.hidden import HideHiddenTests

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {settings.course!r}
{exchange}c.HideHiddenTests.detail = {settings.hidden_detail!r}  # what feedback shows of each hidden test
# feedback pages are made from notebooks with the hidden tests cut out, and cut them out again here
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
# an nbgrader autograde run here (not sandboxed: prefer python -m threadlab grade) leaves no hidden test behind
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, QuietOverwriteCells,
                                      CheckCellMetadata]
c.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata, HideHiddenTests]
"""


def _prepare_out(out: str, lab: str, template: str, settings: Settings | None = None, echo=print) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    settings = settings or Settings()
    if not os.path.isdir(out):  # it will hold hidden tests (source/, gradebook.db, teacher/): the teacher's only
        os.makedirs(out, mode=0o700)
    src = os.path.join(template, "source", lab, lab + ".ipynb")
    digest = hashlib.sha256(open(src, "rb").read()).hexdigest()
    stamp = os.path.join(out, "source", lab, ".sha256")
    class_db = os.path.join(out, "gradebook.db")
    if not os.path.exists(class_db):
        shutil.copy(os.path.join(template, "gradebook.db"), class_db)
    else:
        with Gradebook(_db(out), settings.course) as gb:
            try:
                gb.find_assignment(lab)
                known = True
            except MissingEntry:
                known = False
        if known and os.path.exists(stamp) and open(stamp).read().strip() != digest:
            raise RuntimeError(f"{lab} changed since it was last graded into {out}: grade into a new --out folder")
        if not known:  # another lab in the same class folder: add it to the class gradebook
            shutil.copytree(os.path.join(template, "source", lab), os.path.join(out, "source", lab), dirs_exist_ok=True)
            from nbgrader.converters import GenerateAssignment

            _run_converter(GenerateAssignment, out, lab, extra={"CourseDirectory.course_id": settings.course})
    os.makedirs(os.path.join(out, "source", lab), exist_ok=True)
    shutil.copy(src, os.path.join(out, "source", lab, lab + ".ipynb"))
    _atomic_write(stamp, digest)
    released = os.path.join(template, "release", lab)
    if os.path.isdir(released):  # formgrader shows a lab as released (not "draft") when this exists
        shutil.copytree(released, os.path.join(out, "release", lab), dirs_exist_ok=True)
    with Gradebook(_db(out), settings.course) as gb:
        gb.update_or_create_assignment(lab, duedate=settings.due.replace(tzinfo=None) if settings.due else None)
    config = os.path.join(out, "nbgrader_config.py")
    if not os.path.exists(config) or open(config).read().startswith(CONFIG_HEADER):
        _atomic_write(config, nbgrader_config_text(settings))
    else:
        echo(f"warning: {config} is your own file and was left alone: nbgrader's generate_feedback run there shows "
             "hidden tests unless it sets c.GenerateFeedback.preprocessors as the grader's own file does")


def write_csv(out: str, course: str = COURSE) -> str:
    """``DIR/threadlab-grades.csv``: one row per student and lab, scores from the gradebook (manual grades and
    late penalties included) and the grader's verdict, submission time and lateness."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(_db(out), course) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                path = os.path.join(out, "results", sub.student.id, assignment.name + ".json")
                info = json.load(open(path)) if os.path.exists(path) else {}
                penalty = sub.late_submission_penalty or 0.0
                late_seconds = info.get("late_seconds")
                rows.append({"student": sub.student.id, "lab": assignment.name,
                             "score": f"{max(0.0, sub.score - penalty):g}", "max_score": f"{sub.max_score:g}",
                             "raw_score": f"{sub.score:g}", "late_penalty": f"{penalty:g}",
                             "submitted_at": info.get("submitted_at", ""),
                             "late_by": late.duration(late_seconds) if late_seconds else "",
                             "verdict": info.get("verdict", ""), "seconds": info.get("seconds", ""),
                             "graded_at": info.get("graded_at", "")})
    rows.sort(key=lambda r: (r["lab"], r["student"]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["student", "lab", "score", "max_score", "raw_score", "late_penalty", "submitted_at",
                                  "late_by", "verdict", "seconds", "graded_at"])
    writer.writeheader()
    writer.writerows(rows)
    path = os.path.join(out, GRADES_CSV)
    _atomic_write(path, buf.getvalue())
    return path


def _fresh_uid(index: int) -> int:
    return 200000 + (os.getpid() % 20000) * 50 + index % 50


def grade_class(lab: str, submissions: list[str], out: str, source: str | None = None, settings: Settings | None = None,
                echo=print) -> list[dict]:
    """Grade every submission of ``lab`` into ``out``; return the results (also in ``out``)."""
    settings = settings or Settings()
    out = os.path.abspath(out)

    if source is None:
        source = os.path.join("solutions", lab, lab + ".ipynb")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"reference notebook not found: {source}")
    import nbformat

    marker = os.path.join(out, MARKER)
    if os.path.exists(marker):
        import psutil

        words = open(marker).read().split()
        pid = int(words[1]) if len(words) > 1 and words[0] == "pid" and words[1].isdigit() else None
        if pid and pid != os.getpid() and psutil.pid_exists(pid):
            raise RuntimeError(f"another grading run (pid {pid}) is writing into {out}")
        echo(f"note: an earlier grading run into {out} was interrupted; students it had not finished have no score")
    source_nb = nbformat.read(source, as_version=4)
    skipped = []
    pairs = find_submissions(lab, submissions, skipped)
    _warm_up(source_nb)
    level, why = detect_isolation(settings.isolation, hidden_tests=source)
    jobs = settings.jobs or usable_cores()
    echo(f"isolation: {level}: {why}")
    echo(f"limits: cell timeout {settings.cell_timeout} s, whole submission {settings.budget:g} s, "
         f"{dataclasses.asdict(settings.limits)}; {len(pairs)} submissions, {jobs} at a time")
    if settings.due is not None:
        policy = settings.late_policy or late.LatePolicy()
        echo(f"due {settings.due.isoformat(timespec='minutes')}; late: {policy.describe()}")
    for folder, reason in skipped:
        echo(f"skipped {folder}: {reason}")
    run_started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="threadlab-grading-") as workdir:
        os.chmod(workdir, 0o711)
        template = prepare_template(lab, source, workdir, settings.course)
        _prepare_out(out, lab, template, settings, echo)
        _atomic_write(marker, f"pid {os.getpid()} started {_dt.datetime.now(_dt.UTC).isoformat()}\n")
        grades_csv = os.path.join(out, GRADES_CSV)
        if os.path.exists(grades_csv):
            os.remove(grades_csv)
        ctx = multiprocessing.get_context("fork")
        queue = list(enumerate(pairs))
        running = {}
        overdue = set()
        done = 0
        hard_limit = settings.budget + 60 + 2 * 30  # watchdog + start-up + feedback: a worker beyond this is killed
        while queue or running:
            while queue and len(running) < jobs:
                index, (sid, path) = queue.pop(0)
                _forget(out, lab, sid, settings.course)
                uid = _fresh_uid(index) if (level in ("bwrap", "uid") and os.geteuid() == 0) else None
                args = (lab, sid, path, template, out, settings, level, uid)
                proc = ctx.Process(target=_worker, args=(args, None), daemon=False)
                proc.start()
                running[proc] = (sid, path, time.monotonic())
            time.sleep(0.05)
            for proc in list(running):
                sid, path, t0 = running[proc]
                if proc.is_alive() and time.monotonic() - t0 > hard_limit:
                    _kill_tree(proc.pid)
                    overdue.add(sid)
                if proc.is_alive():
                    continue
                proc.join()
                del running[proc]
                partial = os.path.join(out, "results", sid, lab + ".json.partial")
                if os.path.exists(partial):
                    result = json.load(open(partial))
                    os.remove(partial)
                else:  # the worker itself died: nothing earned can be trusted, the student gets 0 and a reason
                    why = (f"grading took longer than {hard_limit:g} s and was stopped" if sid in overdue
                           else f"the grader's worker died (exit code {proc.exitcode})")
                    checks = [{"grade_id": g, "points": 0.0, "max_points": p, "status": "not graded"}
                              for g, p in grade_cells(source_nb)]
                    result = {"student": sid, "lab": lab, "submission": path, "score": 0.0,
                              "max_score": sum(c["max_points"] for c in checks), "checks": checks, "verdict": why,
                              "seconds": round(time.monotonic() - t0, 2), "isolation": level, "complete": True}
                result["graded_at"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
                if result["checks"]:
                    _merge(out, lab, result, settings.course)
                _atomic_write(os.path.join(out, "results", sid, lab + ".json"), json.dumps(result, indent=1))
                results.append(result)
                done += 1
                echo(f"[{done}/{len(pairs)}] {sid}: {result['score']:g}/{result['max_score']:g} "
                     f"in {result['seconds']:.1f} s  {result['verdict'][:100]}")
        write_csv(out, settings.course)
        os.remove(os.path.join(out, MARKER))
    total = time.monotonic() - run_started
    echo(summary_table(results, total))
    for folder, reason in skipped:
        echo(f"not graded: {folder} ({reason})")
    return results


def _warm_up(source_nb) -> None:
    """Import and compile in the parent what every worker needs, so forked workers start warm."""
    import nbformat
    from nbconvert.exporters import HTMLExporter, NotebookExporter  # noqa: F401
    from nbgrader.converters import Autograde, GenerateFeedback  # noqa: F401

    from . import execute  # noqa: F401

    nbformat.validate(source_nb)  # compiles the JSON schema once
    _quiet_nbgrader()
    _feedback_exporter()


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


def summary_table(results: list[dict], total: float) -> str:
    width = max([len(r["student"]) for r in results] + [7])
    lines = [f"{'student':<{width}}  {'score':>9}  {'seconds':>7}  verdict"]
    for r in sorted(results, key=lambda r: r["student"]):
        score = f"{r['score']:g}/{r['max_score']:g}"
        lines.append(f"{r['student']:<{width}}  {score:>9}  {r['seconds']:7.1f}  {r['verdict'][:90]}")
    lines.append(f"{len(results)} submissions graded in {total:.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m threadlab grade", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser) -> None:
    parser.add_argument("lab", help="lab folder name, e.g. lab2-races-and-locks")
    parser.add_argument("submissions", nargs="+",
                        help="notebook files, student folders or repositories, or class folders of them")
    parser.add_argument("--out", required=True, help="grading folder: gradebook, feedback, logs, threadlab-grades.csv")
    parser.add_argument("--source", help="reference notebook (default solutions/LAB/LAB.ipynb)")
    parser.add_argument("--cell-timeout", type=int, default=10, help="seconds per cell (default 10)")
    parser.add_argument("--budget", type=float, default=60, help="seconds per submission, all cells (default 60)")
    parser.add_argument("--jobs", type=int, default=0, help="submissions graded at once (default: all cores)")
    parser.add_argument("--isolation", choices=["auto", "bwrap", "uid", "none"], default="auto",
                        help="auto: bubblewrap, or a separate uid when the hidden tests are not readable by others; "
                             "otherwise grading is refused (none must be asked for)")
    parser.add_argument("--memory-mb", type=int, default=1024, help="memory limit of each kernel process (MB)")
    parser.add_argument("--cpu-seconds", type=int, default=120, help="CPU seconds per kernel process")
    parser.add_argument("--processes", type=int, default=256, help="processes+threads of the kernel's uid")
    parser.add_argument("--output-kb", type=int, default=1000, help="output kept per submission (kB)")
    parser.add_argument("--hidden-feedback", choices=list(hidden.DETAILS), default="names",
                        help="what feedback shows of each hidden test: names (description, passed or not; default), "
                             "full (also the failure message), none (nothing per hidden test)")
    parser.add_argument("--due", help="due time with a time zone, e.g. 2026-12-15T23:59+01:00: lateness is reported")
    parser.add_argument("--late-penalty", help="RATE/UNIT per started hour or day late: 10%%/day, 0.5/hour")
    parser.add_argument("--late-cap", help="largest late penalty: points (3) or percent of the maximum (50%%)")
    parser.add_argument("--grace", type=float, default=0, help="minutes after the due time that are not late")
    parser.add_argument("--course", help="nbgrader course id (default: CourseDirectory.course_id of ./nbgrader_config.py)")
    parser.add_argument("--exchange", help="nbgrader exchange root for release_feedback (default: ./nbgrader_config.py's)")


def teacher_config(folder: str = ".") -> dict:
    """``course_id`` and ``exchange`` of the nbgrader_config.py in ``folder`` (the teacher's course folder), if any."""
    path = os.path.join(folder, "nbgrader_config.py")
    if not os.path.isfile(path):
        return {}
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=os.path.abspath(folder)).load_config()
    except Exception as exc:  # the teacher's file: say so, do not guess
        print(f"warning: could not read {path}: {exc}", file=sys.stderr)
        return {}
    found = {}
    if "course_id" in config.CourseDirectory:
        found["course"] = config.CourseDirectory.course_id
    if "root" in config.Exchange:
        found["exchange"] = config.Exchange.root
    return found


def run(args) -> int:
    limits = Limits(cpu_seconds=args.cpu_seconds, memory_bytes=args.memory_mb * 1024**2, processes=args.processes)
    try:
        found = teacher_config()
        due = late.parse_due(args.due) if args.due else None
        if (args.late_penalty or args.late_cap) and due is None:
            raise ValueError("--late-penalty and --late-cap need --due")
        settings = Settings(cell_timeout=args.cell_timeout, budget=args.budget, output_limit=args.output_kb * 1000,
                            limits=limits, isolation=args.isolation, jobs=args.jobs,
                            course=args.course or found.get("course") or COURSE,
                            exchange=args.exchange or found.get("exchange"), hidden_detail=args.hidden_feedback,
                            due=due, late_policy=late.LatePolicy.parse(args.late_penalty, args.late_cap, args.grace))
        results = grade_class(args.lab, args.submissions, args.out, source=args.source, settings=settings)
    except IsolationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    broken = [r["student"] for r in results if r["verdict"].startswith("grader error")
              or any(ev.get("kind") == "no-kernel" for ev in r.get("events", []))]
    if broken:
        print(f"error: {len(broken)} submission(s) could not be graded (see their logs): {', '.join(broken[:10])}",
              file=sys.stderr)
        return 3
    return 0
