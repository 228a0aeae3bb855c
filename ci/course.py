#!/usr/bin/env python3
"""The course's one entry point. Needs only Python 3.10+ and a package registry.

    python3 ci/course.py open [--no-browser]   install (into .venv) and open the course in JupyterLab
    python3 ci/course.py test [--no-browser]   install and run every test (what CI runs)
    python3 ci/course.py labs [LAB ...]        regenerate the learner labs (labs/) from solutions/
    python3 ci/course.py regenerate [NB ...]   re-execute notebooks and store their outputs
    python3 ci/course.py nav                   regenerate contents and previous/next links
    python3 ci/course.py doctor                the environment report
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


def ensure_venv() -> None:
    """Create .venv and install the requirements when missing or out of date."""
    if sys.version_info < (3, 10):  # noqa: UP036 - this script may be started by an older python3
        sys.exit(f"The course needs Python 3.10 or newer; this is {sys.version.split()[0]}.")
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


def cmd_test(args: list[str]) -> int:
    """Every check, in order; stops at the first failing step. ``--no-browser`` skips the browser suite."""
    start = time.perf_counter()
    browser = "--no-browser" not in args
    args = [a for a in args if a != "--no-browser"]
    steps = [
        ("lint", [PYTHON, "-m", "ruff", "check", "."]),
        ("navigation and contents up to date", [PYTHON, "ci/nav.py", "--check"]),
        ("notebooks stored from one clean run, in the course style", [PYTHON, "ci/nbcheck.py"]),
        ("learner labs generated from solutions/ and up to date", [PYTHON, "ci/labs.py", "--check"]),
        ("unit tests, lab checks and grader, every notebook under nbval",
         [PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q", *args]),
    ]
    ensure_debian_packages({"/usr/bin/bwrap": "bubblewrap", **({"/usr/bin/chromium": "chromium"} if browser else {})})
    if browser:
        ensure_browser_requirements()
        steps.append(("every notebook and widget in JupyterLab in a real browser", [PYTHON, "ci/browser.py"]))
    timings = []
    for name, cmd in steps:
        say(f"{name}: {' '.join(str(c) for c in cmd[1:])}")
        step_start = time.perf_counter()
        code = run(*cmd, env=jupyter_env())
        timings.append((time.perf_counter() - step_start, name))
        if code:
            say(f"FAILED: {name} (exit code {code})")
            return code
    for seconds, name in timings:
        say(f"{seconds:6.0f} s  {name}")
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
        "nav": lambda a: run(PYTHON, "ci/nav.py", *a),
        "labs": lambda a: run(PYTHON, "ci/labs.py", "generate", *a, env=jupyter_env()),
        "doctor": lambda a: run(PYTHON, "-m", "threadlab", "doctor"),
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
