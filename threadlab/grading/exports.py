"""Grades for the LMS: a Canvas gradebook import CSV and a Moodle grade import CSV.

``python -m threadlab export canvas|moodle GRADING_DIR... --roster roster.csv --out FILE.csv``

Scores come from the class gradebook of each grading folder (``DIR/gradebook.db``): the grader's scores,
with the manual grades a teacher entered in formgrader and minus the late penalty. One column per lab.

The roster maps the grader's student ids to the LMS's: a CSV with a ``student`` column (the id the grader
used: nbgrader's student id, or the repository folder name of a GitHub Classroom clone) and the LMS's
identity columns under the LMS's own header names, so a teacher can start from the LMS's own export:

- Canvas (Grades > Export, then add ``student``): ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section`` (at least one of the first four). The export writes those five columns (blank where the roster
  has none), then one column per lab; a lab's column is named after
  the lab or ``--column LAB="Lab 2 (12345)"``: Canvas matches an existing assignment by the number in
  parentheses, and makes a new assignment for a new name.
- Moodle (Grade administration > Export > Plain text, then add ``student``): at least one of ``Email address``,
  ``ID number``, ``Username``; ``First name`` and ``Last name`` are carried along. The export writes those,
  then one column per lab and, with ``--feedback``, a ``LAB feedback`` column with the grader's verdict. In
  Moodle's CSV import, map "Identify user" to the identity column and each lab's column to its grade item.

A gradebook student missing from the roster is reported and left out; a roster student without a
submission gets an empty cell (``--missing-zero`` writes 0).
"""

from __future__ import annotations

import csv
import io
import json
import os

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_IDENTITY = ["Email address", "ID number", "Username"]
MOODLE_NAMES = ["First name", "Last name"]


def class_scores(folders: list[str]) -> dict:
    """{(student, lab): {"score", "max_score", "verdict"}} from each grading folder's gradebook."""
    from nbgrader.api import Gradebook

    scores = {}
    for folder in folders:
        db = os.path.join(folder, "gradebook.db")
        if not os.path.isfile(db):
            raise FileNotFoundError(f"{folder}: no gradebook.db (not a folder `python -m threadlab grade --out` wrote)")
        with Gradebook("sqlite:///" + db) as gb:
            for assignment in gb.assignments:
                for sub in assignment.submissions:
                    penalty = sub.late_submission_penalty or 0.0
                    result = os.path.join(folder, "results", sub.student.id, assignment.name + ".json")
                    verdict = json.load(open(result)).get("verdict", "") if os.path.exists(result) else ""
                    scores[(sub.student.id, assignment.name)] = {
                        "score": max(0.0, sub.score - penalty), "max_score": sub.max_score, "verdict": verdict}
    return scores


def read_roster(path: str, needed: list[str], any_of: bool = False) -> list[dict]:
    """The roster's rows; ``needed`` columns must all be there (or one of them, ``any_of``)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:  # a roster saved by a spreadsheet may start with a BOM
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if "student" not in header:
        raise ValueError(f"{path}: the roster needs a 'student' column (the grader's student ids); it has {header}")
    present = [c for c in needed if c in header]
    if (any_of and not present) or (not any_of and len(present) < len(needed)):
        want = " or ".join(needed) if any_of else ", ".join(c for c in needed if c not in header)
        raise ValueError(f"{path}: the roster lacks {want} (columns as the LMS names them); it has {header}")
    ids = [r["student"] for r in rows]
    doubles = sorted({i for i in ids if ids.count(i) > 1})
    if doubles:
        raise ValueError(f"{path}: student ids on more than one row: {', '.join(doubles)}")
    return rows


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def lms_csv(kind: str, folders: list[str], roster: str, columns: dict | None = None, feedback: bool = False,
            missing_zero: bool = False, labs: list[str] | None = None) -> tuple[str, list[str]]:
    """(CSV text, warnings) for ``kind`` ``canvas`` or ``moodle``."""
    scores = class_scores(folders)
    lab_names = labs or sorted({lab for _, lab in scores})
    columns = columns or {}
    if kind == "canvas":
        rows = read_roster(roster, ["ID", "SIS User ID", "SIS Login ID", "Student"], any_of=True)
        identity = CANVAS_IDENTITY  # all five, as Canvas's own export has them (blank where the roster has none)
        feedback = False  # Canvas's gradebook import takes no comments
    elif kind == "moodle":
        rows = read_roster(roster, MOODLE_IDENTITY, any_of=True)
        with open(roster, newline="", encoding="utf-8-sig") as fh:
            header = [h.strip() for h in csv.DictReader(fh).fieldnames]
        identity = [c for c in MOODLE_NAMES + MOODLE_IDENTITY if c in header]
    else:
        raise ValueError(f"unknown LMS {kind!r}: canvas or moodle")
    known = {r["student"] for r in rows}
    warnings = [f"{sid} ({lab}) is not in the roster: left out" for sid, lab in sorted(scores) if sid not in known
                and lab in lab_names]
    unknown_labs = [lab for lab in lab_names if not any(lab == lab2 for _, lab2 in scores)]
    warnings += [f"{lab}: no grades in {', '.join(folders)}" for lab in unknown_labs]
    out_header = identity + [columns.get(lab, lab) for lab in lab_names]
    if feedback:
        out_header += [f"{columns.get(lab, lab)} feedback" for lab in lab_names]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(out_header)
    for row in rows:
        line = [row.get(c, "") for c in identity]
        cells, notes = [], []
        for lab in lab_names:
            got = scores.get((row["student"], lab))
            cells.append(_number(got["score"]) if got else ("0" if missing_zero else ""))
            notes.append(got["verdict"] if got else "no submission")
        writer.writerow(line + cells + (notes if feedback else []))
    return buf.getvalue(), warnings


def main(args) -> int:
    import sys

    columns = {}
    for item in args.column or []:
        lab, sep, name = item.partition("=")
        if not sep:
            print(f"error: --column {item!r}: write LAB=NAME", file=sys.stderr)
            return 2
        columns[lab] = name
    try:
        text, warnings = lms_csv(args.lms, args.folders, args.roster, columns, feedback=args.feedback,
                                 missing_zero=args.missing_zero, labs=args.labs.split(",") if args.labs else None)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        fh.write(text)
    print(f"{args.out}: {text.count(chr(10)) - 1} students, for {args.lms}")
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("lms", choices=["canvas", "moodle"])
    parser.add_argument("folders", nargs="+", help="grading folders (--out of python -m threadlab grade)")
    parser.add_argument("--roster", required=True, help="CSV: a 'student' column and the LMS's identity columns")
    parser.add_argument("--out", required=True, help="the CSV to import into the LMS")
    parser.add_argument("--labs", help="comma-separated labs, in column order (default: every graded lab)")
    parser.add_argument("--column", action="append", metavar="LAB=NAME",
                        help="the LMS's name for a lab's column, e.g. 'lab2-races-and-locks=Lab 2 (12345)'")
    parser.add_argument("--feedback", action="store_true", help="moodle: a feedback column per lab with the verdict")
    parser.add_argument("--missing-zero", action="store_true", help="0 for a roster student without a submission")
