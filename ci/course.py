#!/usr/bin/env python3
"""The course's one entry point. Needs only Python 3.11+ and a package registry.

    python3 ci/course.py open [--no-browser]   install (into .venv) and open the course in JupyterLab
    python3 ci/course.py test [--no-browser]   install and run every test (what CI runs)
    python3 ci/course.py labs [LAB ...]        regenerate the learner labs (labs/) from solutions/
    python3 ci/course.py regenerate [NB ...]   re-execute notebooks and store their outputs
    python3 ci/course.py soak [NB ...] [--runs N] [--load K] [--python PATH] [--start-method M]
                                               run notebooks N times with K CPU hogs alongside, count failures
    python3 ci/course.py mutants [NN|labN ...]  the mutation suite: do the checks catch realistic wrong answers?
    python3 ci/course.py counterexamples [labN ...]  does the explorer show each race/deadlock mutant a schedule, every run?
    python3 ci/course.py nav                   regenerate contents and previous/next links
    python3 ci/course.py doctor                the environment report
    python3 ci/course.py site                  build the website into build/site (from stored outputs)
    python3 ci/course.py edition OUT           write the class edition (no answers) into OUT
    python3 ci/course.py bench [--quick]       speed experiments on this machine -> bench/REPORT.md (not a test)

The first call creates ``.venv`` and installs ``requirements.txt`` into it; later calls
reinstall only when ``requirements.txt`` or ``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".course-installed"
START = "notebooks/00-start-here.ipynb"


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def run(*args, **kwargs) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, **kwargs)


def wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


FLOOR = (3, 11)  #: the oldest Python the course supports (README, pyproject.toml)


def check_python(version=sys.version_info) -> str | None:
    """Why this Python cannot run the course, or None. Said before anything is installed."""
    if tuple(version[:2]) >= FLOOR:
        return None
    this = ".".join(map(str, version[:3]))
    return (f"The course needs Python {FLOOR[0]}.{FLOOR[1]} or newer; this is Python {this}.\n"
            "Python 3.10 reached its end of life in October 2026 (PEP 619), and the Jupyter and matplotlib\n"
            "releases the course pins need 3.11. Install a newer Python and run this command with it, e.g.\n"
            "  Ubuntu 22.04:  sudo apt install python3.11 python3.11-venv   then  python3.11 ci/course.py ...\n"
            "  anywhere:      uv python install 3.12, or the installers at https://www.python.org/downloads/")


def ensure_venv() -> None:
    """Create .venv and install the requirements when missing or out of date."""
    problem = check_python()
    if problem:
        sys.exit(problem)
    if not PYTHON.exists():
        say(f"creating {VENV.relative_to(ROOT)} with Python {sys.version.split()[0]}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == wanted_stamp():
        return
    say("installing requirements.txt into .venv (once; about a minute)")
    start = time.perf_counter()
    code = run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "requirements.txt")
    if code:
        sys.exit(f"pip install failed with exit code {code}")
    configure_jupyterlab()
    STAMP.write_text(wanted_stamp())
    say(f"installed in {time.perf_counter() - start:.0f} s")


def configure_jupyterlab() -> None:
    """Settings every course user wants: no news pop-up covering the notebook."""
    settings = VENV / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "overrides.json").write_text(
        '{\n  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}\n}\n'
    )


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_env() -> dict:
    env = dict(os.environ)
    # keep Jupyter's runtime and config files inside the checkout, not in the home folder
    env.setdefault("JUPYTER_CONFIG_DIR", str(VENV / "etc" / "jupyter-user"))
    env["PYTHONPATH"] = str(ROOT)
    return env


def lab_command(port: int, token: str, browser: bool, root: Path = ROOT) -> list[str]:
    """How the course starts JupyterLab (ci/browser.py starts it the same way on a copy)."""
    cmd = [
        str(BIN / "jupyter"), "lab", START,
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
    ]
    if not browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers, Binder-like images and CI machines often run as root
    return cmd


def cmd_open(args: list[str]) -> int:
    browser = "--no-browser" not in args
    port, token = free_port(), secrets.token_hex(16)
    say(f"open http://127.0.0.1:{port}/lab/tree/{START}?token={token}")
    return subprocess.call(lab_command(port, token, browser), cwd=ROOT, env=jupyter_env())


def ensure_browser_requirements() -> None:
    """The browser suite's extra package (playwright, without its browser download), once."""
    stamp = VENV / ".course-browser-installed"
    wanted = (ROOT / "ci" / "requirements-browser.txt").read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing ci/requirements-browser.txt into .venv (once)")
    code = run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "ci/requirements-browser.txt")
    if code:
        sys.exit(f"pip install failed with exit code {code}")
    stamp.write_text(wanted)


def ensure_debian_packages(wanted: dict[str, str]) -> None:
    """Install the Debian packages whose program is missing ({program path: package}), when we can.

    The grader sandboxes students' kernels with bubblewrap and the browser suite drives Debian's
    chromium. As root on Debian (CI, containers) they are installed here; elsewhere a missing one
    is reported and the step that needs it says what it does without it.
    """
    missing = sorted({package for program, package in wanted.items() if not Path(program).exists()})
    if not missing:
        return
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and Path("/usr/bin/apt-get").exists()):
        say(f"not installed: {', '.join(missing)} (install them with your package manager)")
        return
    say(f"installing Debian packages: {', '.join(missing)} (once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        if subprocess.call(cmd, stdout=subprocess.DEVNULL, env=env):
            say(f"failed: {' '.join(cmd)}")
            return


UNIT_TESTS = ["tests", "threadlab", "ci/nbcompare.py"]  #: pytest's targets besides the notebooks


def run_together(steps: list[tuple[str, list]], env: dict) -> list[tuple[float, str, int]]:
    """Run the steps at the same time, each line of their output prefixed with the step's tag.

    The slow steps (unit tests, the browser suite) mostly wait (sleeping threads, kernels starting,
    a browser drawing), so running them side by side roughly halves the test command's time on a
    2-core machine; every assert in them is written to hold on a busy machine anyway.
    """
    out_lock = threading.Lock()
    results = []

    def one(tag: str, name: str, cmd: list) -> None:
        with out_lock:
            say(f"{name}: {' '.join(str(c) for c in cmd[1:])}")
        started = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        for line in proc.stdout:
            with out_lock:
                print(line if line.startswith(f"[{tag}]") else f"[{tag}] {line}", end="", flush=True)
        code = proc.wait()
        with out_lock:
            results.append((time.perf_counter() - started, name, code))
            if code:
                say(f"FAILED: {name} (exit code {code})")

    threads = [threading.Thread(target=one, args=(name.split(":")[0], name, cmd)) for name, cmd in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def ensure_site_requirements() -> None:
    """The website's packages (Sphinx, myst-nb, sphinx-book-theme), once; learners do not need them."""
    stamp = VENV / ".course-site-installed"
    wanted = (ROOT / "ci" / "requirements-site.txt").read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing ci/requirements-site.txt into .venv (once)")
    code = run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "ci/requirements-site.txt")
    if code:
        sys.exit(f"pip install failed with exit code {code}")
    stamp.write_text(wanted)


def cmd_site(args: list[str]) -> int:
    ensure_site_requirements()
    return run(PYTHON, "ci/website.py", *args)


def cmd_test(args: list[str]) -> int:
    """Every check. The quick static checks run first, in order, and stop at the first failure; then
    the unit tests and the browser suite run side by side.

    Each notebook is executed once: by the browser suite, in JupyterLab, which checks the run with
    nbval's rules (``ci/nbcompare.py``). ``--no-browser`` skips the browser suite and has nbval's
    pytest plugin execute the notebooks instead.
    """
    start = time.perf_counter()
    browser = "--no-browser" not in args
    args = [a for a in args if a != "--no-browser"]
    targets = args or (UNIT_TESTS if browser else [])  # no targets: pyproject's testpaths, notebooks included
    quick = [
        ("lint", [PYTHON, "-m", "ruff", "check", "."]),
        ("navigation and contents up to date", [PYTHON, "ci/nav.py", "--check"]),
        ("notebooks stored from one clean run, in the course style", [PYTHON, "ci/nbcheck.py"]),
        ("learner labs generated from solutions/ and up to date", [PYTHON, "ci/labs.py", "--check"]),
        ("website builds (warnings are errors), links and answers checked", [PYTHON, "ci/website.py"]),
    ]
    slow = [("pytest: unit tests, lab checks and grader" + ("" if browser else ", every notebook under nbval"),
             [PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q", *targets])]
    ensure_site_requirements()
    ensure_debian_packages({"/usr/bin/bwrap": "bubblewrap", **({"/usr/bin/chromium": "chromium"} if browser else {})})
    if browser:
        ensure_browser_requirements()
        slow.append(("browser: every notebook run in JupyterLab and checked with nbval's rules, every widget and lab",
                     [PYTHON, "ci/browser.py"]))
    timings = []
    env = jupyter_env()
    for name, cmd in quick:
        say(f"{name}: {' '.join(str(c) for c in cmd[1:])}")
        step_start = time.perf_counter()
        code = run(*cmd, env=env)
        timings.append((time.perf_counter() - step_start, name, code))
        if code:
            say(f"FAILED: {name} (exit code {code})")
            return code
    timings += run_together(slow, env)
    for seconds, name, code in timings:
        say(f"{seconds:6.0f} s  {'ok    ' if not code else 'FAILED'} {name}")
    failed = [code for _, _, code in timings if code]
    if failed:
        return failed[0]
    say(f"all tests passed in {time.perf_counter() - start:.0f} s")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    commands = {
        "open": cmd_open,
        "test": cmd_test,
        "regenerate": lambda a: run(PYTHON, "ci/regenerate.py", *a, env=jupyter_env()),
        "soak": lambda a: run(PYTHON, "ci/soak.py", *a, env=jupyter_env()),
        "mutants": lambda a: run(PYTHON, "ci/mutants.py", *a, env=jupyter_env()),
        "counterexamples": lambda a: run(PYTHON, "ci/counterexamples.py", *a, env=jupyter_env()),
        "nav": lambda a: run(PYTHON, "ci/nav.py", *a),
        "labs": lambda a: run(PYTHON, "ci/labs.py", "generate", *a, env=jupyter_env()),
        "doctor": lambda a: run(PYTHON, "-m", "threadlab", "doctor"),
        "site": cmd_site,
        "edition": lambda a: run(PYTHON, "ci/edition.py", *a),
        "bench": lambda a: run(PYTHON, "ci/bench.py", *a, env=jupyter_env()),
    }
    if command not in commands:
        print(__doc__)
        return 2
    ensure_venv()
    if not in_venv():
        # continue inside the virtual environment
        os.execv(str(PYTHON), [str(PYTHON), __file__, *argv])
    return commands[command](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
