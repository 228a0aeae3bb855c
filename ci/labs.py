"""Generate the learner versions of the labs (``labs/``) from their reference versions (``solutions/``) with nbgrader.

    python ci/labs.py generate [LAB ...]   # (re)write labs/<lab>/ from solutions/<lab>/ (default: every lab)
    python ci/labs.py --check [LAB ...]    # fail, listing every lab in labs/ that is stale, missing or extra

Both run ``nbgrader generate_assignment <lab> --force`` with the course settings of
``ci/nbgrader_config.py`` (course root = the repo root, ``source_directory="solutions"``,
``release_directory="labs"``). nbgrader replaces each solution region with ``raise
NotImplementedError()``, removes the hidden tests and every output, and computes the checksums of
the locked cells. The learner version is written to a temporary folder first and then copied over
``labs/<lab>/``, so a failed run leaves ``labs/`` as it was. The gradebook database, nbgrader's log
and every Jupyter/IPython config, data and runtime file go to a temporary folder: nothing is written
to the repo except ``labs/`` and nothing into the home directory. The output is normalized (no
widget state, nbformat's own JSON layout), so a re-run gives byte-identical files.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
SOURCE, RELEASE = "solutions", "labs"
LEFTOVER_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


class LabError(Exception):
    """nbgrader failed, or its output is not a valid learner version."""


def lab_names(root: Path = ROOT) -> list[str]:
    """Every lab with a reference notebook ``solutions/<lab>/<lab>.ipynb``."""
    return sorted(p.parent.name for p in (root / SOURCE).glob("*/*.ipynb") if p.stem == p.parent.name)


def released_names(root: Path = ROOT) -> list[str]:
    """Every folder in ``labs/`` (stale or not)."""
    folder = root / RELEASE
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def isolated_env(scratch: Path) -> dict:
    """The environment for nbgrader: every Jupyter/IPython/home write goes into ``scratch``."""
    env = dict(os.environ)
    for name in ("home", "jupyter-config", "jupyter-data", "jupyter-runtime", "ipython", "mpl", "cache", "tmp"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(scratch / "home"),
        JUPYTER_CONFIG_DIR=str(scratch / "jupyter-config"),
        JUPYTER_DATA_DIR=str(scratch / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"),
        IPYTHONDIR=str(scratch / "ipython"),
        MPLCONFIGDIR=str(scratch / "mpl"),
        XDG_CACHE_HOME=str(scratch / "cache"),
        JUPYTER_NO_CONFIG="1",  # no user or system config: only ci/nbgrader_config.py applies
        JUPYTER_PLATFORM_DIRS="0",
        PYTHONDONTWRITEBYTECODE="1",
        TMPDIR=str(scratch / "tmp"),  # JUPYTER_NO_CONFIG makes an empty config folder there
    )
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.pop("JUPYTER_PATH", None)
    return env


def run_nbgrader(root: Path, lab: str, release_dir: Path, scratch: Path) -> None:
    """``nbgrader generate_assignment lab --force`` from ``root/solutions`` into ``release_dir``
    (``lab="*"``: every lab in one run, which saves nbgrader's start-up of several seconds a lab)."""
    command = [
        sys.executable,
        "-m",
        "nbgrader",
        "generate_assignment",
        lab,
        "--force",
        "--no-db",
        f"--NbGrader.config_file={CONFIG.with_suffix('')}",  # nbgrader appends ".py"
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.source_directory={SOURCE}",
        f"--CourseDirectory.release_directory={release_dir}",
        f"--CourseDirectory.db_url=sqlite:///{scratch / 'gradebook.db'}",
        # release notebooks only: a solution notebook may write modules next to itself when it runs
        # (lab 5's `%%writefile primes_worker.py`), and those hold the answers
        "--CourseDirectory.ignore=*",
        "--NbGrader.logfile=",
    ]
    done = subprocess.run(command, cwd=scratch, env=isolated_env(scratch), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise LabError(f"nbgrader generate_assignment {lab} failed:\n{done.stdout}{done.stderr}")


def normalize(path: Path) -> None:
    """Drop what varies between runs of the same source (widget state) and write nbformat's canonical JSON."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)


def validate(learner: Path, source: Path) -> None:
    """What must hold for any learner version: no solution or hidden-test text, no outputs, nav cells kept."""
    nb = json.loads(learner.read_text(encoding="utf-8"))
    problems = []
    for i, cell in enumerate(nb["cells"]):
        text = "".join(cell.get("source", ""))
        for marker in LEFTOVER_MARKERS:
            if marker in text:
                problems.append(f"cell {i} still contains {marker!r}")
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
    src = json.loads(source.read_text(encoding="utf-8"))

    def nav(cells):
        return ["".join(c["source"]) for c in cells if "nav" in c.get("metadata", {}).get("tags", [])]

    if nav(nb["cells"]) != nav(src["cells"]):
        problems.append("the navigation cells (tagged nav) differ from the reference version's")
    if problems:
        raise LabError(f"{learner.name}: " + "; ".join(problems))


def generate_into(root: Path, labs: list[str], out: Path, scratch: Path) -> None:
    """Learner versions of ``labs`` as ``out/<lab>/...``, normalized and validated."""
    for lab in labs:
        source = root / SOURCE / lab / f"{lab}.ipynb"
        if not source.is_file():
            raise LabError(f"no reference notebook {source.relative_to(root)}")
    for pattern in ["*"] if len(labs) > 1 and set(labs) == set(lab_names(root)) else labs:
        run_nbgrader(root, pattern, out, scratch)
    for lab in labs:
        source = root / SOURCE / lab / f"{lab}.ipynb"
        if not (out / lab / f"{lab}.ipynb").is_file():
            raise LabError(f"nbgrader wrote no {RELEASE}/{lab}/{lab}.ipynb")
        for path in sorted((out / lab).rglob("*.ipynb")):
            normalize(path)
        validate(out / lab / f"{lab}.ipynb", source)


def files_of(folder: Path) -> dict[str, Path]:
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()} if folder.is_dir() else {}


def differences(root: Path, labs: list[str], fresh: Path) -> list[str]:
    """What is wrong with ``root/labs`` compared with freshly generated ``fresh``: one line per problem."""
    problems = []
    for lab in labs:
        stored, wanted = files_of(root / RELEASE / lab), files_of(fresh / lab)
        if not stored:
            problems.append(f"missing: {RELEASE}/{lab}/ (run: python ci/labs.py generate {lab})")
            continue
        for name in sorted(set(stored) | set(wanted)):
            where = f"{RELEASE}/{lab}/{name}"
            if name not in stored:
                problems.append(f"missing: {where} (run: python ci/labs.py generate {lab})")
            elif name not in wanted:
                problems.append(f"extra: {where} is not generated from {SOURCE}/{lab}/ (delete it)")
            elif not filecmp.cmp(stored[name], wanted[name], shallow=False):
                fix = f"run: python ci/labs.py generate {lab}"
                problems.append(f"stale: {where} differs from what {SOURCE}/{lab}/ gives ({fix})")
    return problems


def check(root: Path = ROOT, labs: list[str] | None = None) -> list[str]:
    """Regenerate into a temporary folder and compare; the list of problems (empty: labs/ is current)."""
    sources = lab_names(root)
    problems = []
    if labs is None:
        labs = sources
        problems += [
            f"extra: {RELEASE}/{name}/ has no reference version {SOURCE}/{name}/{name}.ipynb"
            for name in released_names(root)
            if name not in sources
        ]
    with tempfile.TemporaryDirectory(prefix="labs-check-") as tmp:
        fresh = Path(tmp) / "labs"
        generate_into(root, labs, fresh, Path(tmp) / "scratch")
        problems += differences(root, labs, fresh)
    return problems


def generate(root: Path = ROOT, labs: list[str] | None = None) -> list[Path]:
    """Write ``labs/<lab>/`` for each lab (default: every lab); returns the files written."""
    labs = lab_names(root) if labs is None else labs
    written = []
    with tempfile.TemporaryDirectory(prefix="labs-generate-") as tmp:
        fresh = Path(tmp) / "labs"
        generate_into(root, labs, fresh, Path(tmp) / "scratch")
        for lab in labs:
            target = root / RELEASE / lab
            new_files = files_of(fresh / lab)
            for name, path in files_of(target).items():
                if name not in new_files:
                    path.unlink()
            for name, path in new_files.items():
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                if not (destination.is_file() and filecmp.cmp(path, destination, shallow=False)):
                    shutil.copyfile(path, destination)
                written.append(destination)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare labs/ with what solutions/ gives; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="course root (default: this repo)")
    parser.add_argument(
        "words", nargs="*", metavar="[generate] LAB", help="'generate' and/or lab names (default: every lab)"
    )
    args = parser.parse_args(argv)
    words = list(args.words)
    if words[:1] == ["generate"]:
        words = words[1:]
    elif not args.check:
        parser.error("say what to do: generate [LAB ...] or --check [LAB ...]")
    root = args.root.resolve()
    known = lab_names(root)
    labs = [w.strip("/").split("/")[-1] for w in words] or None
    unknown = [lab for lab in labs or [] if lab not in known]
    if unknown:
        parser.error(f"no reference notebook for {', '.join(unknown)} (labs: {', '.join(known) or 'none'})")
    started = time.perf_counter()
    try:
        if args.check:
            problems = check(root, labs)
            for line in problems:
                print(line)
            checked = labs or known
            if problems:
                print(f"labs/ is not current ({len(problems)} problem(s)); run: python ci/labs.py generate")
                return 1
            print(f"labs/ is current: {len(checked)} lab(s) match solutions/ ({time.perf_counter() - started:.1f} s)")
            return 0
        written = generate(root, labs)
        for path in written:
            print(f"wrote {path.relative_to(root)}")
        print(f"{len(labs or known)} lab(s) generated in {time.perf_counter() - started:.1f} s")
        return 0
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
