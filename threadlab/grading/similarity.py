"""Pairs of submissions whose answers are unusually similar: an advisory report, never a score.

``python -m threadlab similarity LAB SUBMISSIONS... --out DIR [--threshold 0.6]``

Only the answer cells are compared (nbgrader's solution cells, the cells a learner writes in), and the
lab's starter code in them (``raise NotImplementedError()``, the given ``def`` lines and docstrings) is
left out, so two untouched or near-blank labs do not look alike. The reference solution takes part as
``(reference solution)``: the course is public, and an answer copied from it is worth a look too.

The comparison is copydetect's (Ratliff's winnowing of token k-grams, the method of MOSS): each answer's
share of tokens found in the other. A pair is listed when either share reaches ``--threshold``.
``DIR/similarity.csv`` has every compared pair, ``DIR/similarity.html`` the listed pairs side by side with
the shared code highlighted. Similar code is not proof of copying: short exercises, a hint both followed
and the standard idiom (``with self._cond:``) make honest answers alike. Read the pairs, then talk to the
students; the grader never reads this report.
"""

from __future__ import annotations

import csv
import html
import io
import os
import tempfile

REFERENCE = "(reference solution)"


def answer_text(nb) -> str:
    """The source of the notebook's answer cells (nbgrader ``solution`` cells), each under a comment naming it."""
    parts = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            parts.append(f"# {meta.get('grade_id', '')}\n{cell.source.rstrip()}\n")
    return "\n".join(parts)


def _reference_answers(source_nb) -> str:
    lines = []
    for line in answer_text(source_nb).splitlines(keepends=True):
        if "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
            continue
        lines.append(line)
    return "".join(lines)


def _fingerprint(name: str, text: str, k: int, win: int, boilerplate=None):
    from copydetect import CodeFingerprint

    return CodeFingerprint(f"{name}.py", k, win, boilerplate=boilerplate, fp=io.StringIO(text))


def compare(answers: dict, starter: str, k: int = 25, win: int = 6) -> list[dict]:
    """Every pair of ``answers`` ({name: text}), most similar first, with the starter code left out."""
    import numpy as np
    from copydetect import compare_files

    base = _fingerprint("starter", starter, k, win) if starter.strip() else None
    boilerplate = np.array(sorted(base.hashes), dtype=np.int64) if base is not None else []
    prints = {name: _fingerprint(name, text, k, win, boilerplate) for name, text in answers.items()}
    names = sorted(prints)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            fa, fb = prints[a], prints[b]
            if len(fa.hashes) == 0 or len(fb.hashes) == 0:  # nothing of their own (blank, or only starter code)
                continue
            shared, (sim_a, sim_b), slices = compare_files(fa, fb)
            pairs.append({"a": a, "b": b, "similarity_a": float(sim_a), "similarity_b": float(sim_b),
                          "shared_tokens": int(shared), "slices": tuple(np.asarray(s).tolist() for s in slices)})
    pairs.sort(key=lambda p: (-max(p["similarity_a"], p["similarity_b"]), p["a"], p["b"]))
    return pairs


def _highlighted(text: str, slices) -> str:
    starts, ends = (slices[0], slices[1]) if len(slices) == 2 else ([], [])
    out, pos = [], 0
    for start, end in sorted(zip(starts, ends)):
        start, end = max(int(start), pos), int(end)
        if end <= start:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def report_html(lab: str, pairs: list[dict], answers: dict, threshold: float, compared: int) -> str:
    listed = [p for p in pairs if max(p["similarity_a"], p["similarity_b"]) >= threshold]
    rows = []
    for p in listed:
        rows.append(
            f"<h2>{html.escape(p['a'])} and {html.escape(p['b'])}: {p['similarity_a']:.0%} / {p['similarity_b']:.0%}</h2>"
            f"<p>{p['shared_tokens']} shared tokens.</p><table><tr>"
            f"<td><pre>{_highlighted(answers[p['a']], p['slices'][0])}</pre></td>"
            f"<td><pre>{_highlighted(answers[p['b']], p['slices'][1])}</pre></td></tr></table>")
    body = "\n".join(rows) or "<p>No pair reached the threshold.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Similar answers: {html.escape(lab)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{vertical-align:top;width:50%}}
pre{{white-space:pre-wrap;font-size:85%;background:#f6f6f6;padding:.5em}} mark{{background:#ffd36b}}
.note{{background:#eef;padding:1em}}</style></head><body>
<h1>Similar answers: {html.escape(lab)}</h1>
<p class="note">Advisory only: this report never changes a score. It compares the answer cells of {compared}
submissions (starter code left out) and lists the {len(listed)} pair(s) where either answer shares at least
{threshold:.0%} of its code with the other (shared code highlighted). Short exercises, a hint both followed
and standard idioms make honest answers alike: read the code, then talk to the students.</p>
{body}
</body></html>
"""


def similarity_report(lab: str, submissions: list[str], out: str, source: str | None = None,
                      threshold: float = 0.6, echo=print) -> list[dict]:
    """Write ``out/similarity.csv`` and ``out/similarity.html``; return the pairs (most similar first)."""
    import nbformat

    from . import grader

    source = source or os.path.join("solutions", lab, lab + ".ipynb")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"reference notebook not found: {source}")
    source_nb = nbformat.read(source, as_version=4)
    with tempfile.TemporaryDirectory(prefix="threadlab-similarity-") as work:
        template = grader.prepare_template(lab, source, work)
        learner = nbformat.read(os.path.join(template, "release", lab, lab + ".ipynb"), as_version=4)
    starter = answer_text(learner)
    answers, unreadable = {REFERENCE: _reference_answers(source_nb)}, []
    for sid, path in grader.find_submissions(lab, submissions):
        try:
            answers[sid] = answer_text(nbformat.read(path, as_version=4))
        except Exception as exc:  # malformed notebooks are graded (and named) by the grader; here they are skipped
            unreadable.append(f"{sid}: {type(exc).__name__}")
    pairs = compare(answers, starter)
    os.makedirs(out, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student_a", "student_b", "similarity_a", "similarity_b", "shared_tokens", "listed"])
    for p in pairs:
        writer.writerow([p["a"], p["b"], f"{p['similarity_a']:.3f}", f"{p['similarity_b']:.3f}", p["shared_tokens"],
                         "yes" if max(p["similarity_a"], p["similarity_b"]) >= threshold else ""])
    grader._atomic_write(os.path.join(out, "similarity.csv"), buf.getvalue())
    grader._atomic_write(os.path.join(out, "similarity.html"),
                         report_html(lab, pairs, answers, threshold, len(answers) - 1))
    listed = [p for p in pairs if max(p["similarity_a"], p["similarity_b"]) >= threshold]
    echo(f"{len(answers) - 1} submissions, {len(pairs)} pairs compared, {len(listed)} at or above {threshold:.0%} "
         f"(advisory: no score changes): {os.path.join(out, 'similarity.html')}")
    for p in listed[:20]:
        echo(f"  {p['a']} / {p['b']}: {p['similarity_a']:.0%} / {p['similarity_b']:.0%}")
    for line in unreadable:
        echo(f"  not compared (not a readable notebook): {line}")
    return pairs


def add_arguments(parser) -> None:
    parser.add_argument("lab")
    parser.add_argument("submissions", nargs="+", help="as for grade: notebooks, student folders, class folders")
    parser.add_argument("--out", required=True, help="folder for similarity.csv and similarity.html")
    parser.add_argument("--source", help="reference notebook (default solutions/LAB/LAB.ipynb)")
    parser.add_argument("--threshold", type=float, default=0.6,
                        help="list a pair when either answer shares this fraction of its code (default 0.6)")


def main(args) -> int:
    import sys

    if not 0 < args.threshold <= 1:
        print("error: --threshold is a fraction between 0 and 1", file=sys.stderr)
        return 2
    try:
        similarity_report(args.lab, args.submissions, args.out, args.source, args.threshold)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
