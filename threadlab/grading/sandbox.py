"""How a student's kernel is confined: OS resource limits, a scratch folder, and (when possible) a sandbox.

Isolation levels, best first. ``detect_isolation("auto")`` picks bwrap when it works, ``uid`` only when the
hidden tests are not readable by other users, and otherwise refuses (:class:`IsolationError`): ``none`` is
used only when asked for.

``bwrap``
    bubblewrap builds a new mount, pid, network, IPC and UTS namespace for the kernel. The kernel
    sees only the operating system (read-only), the Python installation and virtual environment
    (read-only), the ``threadlab`` package (read-only), its own scratch home and a small ``/tmp``.
    The repository, ``solutions/`` (the hidden tests), every gradebook and every other submission
    do not exist inside. The kernel runs as a dedicated unprivileged uid (a fresh one per
    submission, owning no file on the machine), so ``RLIMIT_NPROC`` works even when grading as
    root. It talks to the grader over Unix sockets in a private folder (the network namespace
    has only its own loopback). When the kernel's sandbox ends, every process inside it is killed.
``uid``
    No sandbox, but the kernel runs as a fresh unprivileged uid (grading as root, with a Python that
    such a uid can run): it cannot write the gradebook or read files readable only by the grading
    user, and ``RLIMIT_NPROC`` works. Files readable by everyone stay readable.
``none``
    No OS isolation (``--isolation none`` only): the kernel runs as the grading user in a scratch folder
    with resource limits, in its own session; leftover processes are found and killed. The submission
    could read whatever the grading user can read, hidden tests included.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

import threadlab

LAUNCHER = "threadlab.grading.launcher"


@dataclasses.dataclass
class Limits:
    """OS limits of one student kernel (``None`` = unlimited)."""

    cpu_seconds: int | None = 120  # RLIMIT_CPU of each process (a busy loop is killed by SIGXCPU)
    memory_bytes: int | None = 1024**3  # RLIMIT_DATA (RLIMIT_AS gets 4 GiB more: reserved address space)
    processes: int | None = 256  # RLIMIT_NPROC (threads count too); only effective for a non-root uid
    file_bytes: int | None = 64 * 1024**2  # RLIMIT_FSIZE: largest file the kernel may write
    tmp_bytes: int = 128 * 1024**2  # size of the sandbox's /tmp (bwrap only)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


def _run_quietly(cmd, timeout=20):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


SYSTEM = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")


def package_root() -> str:
    """The folder holding the ``threadlab`` package the grader itself runs (a checkout, or site-packages)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(threadlab.__file__)))


def _readonly_paths():
    """Folders the kernel needs to read: the Python installation, the environment, threadlab."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.realpath(os.path.dirname(sys.executable))}
    # threadlab itself, the copy this grader runs (an editable install maps it to a checkout: bind only the package)
    paths.add(os.path.join(os.path.realpath(package_root()), "threadlab"))
    paths = {p for p in paths if not any(p == s or p.startswith(s + "/") for s in SYSTEM)}
    return sorted(p for p in paths if not any(p.startswith(q + "/") for q in paths))


def _symlinks(path: str) -> list[tuple[str, str]]:
    """(link, target) for each symbolic link met on the way from / to ``path`` (a venv reached through a link)."""
    found, seen = [], 0
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = os.sep
    while parts and seen < 40:
        current = os.path.join(current, parts.pop(0))
        if os.path.islink(current):
            target = os.readlink(current)
            found.append((current, target))
            resolved = os.path.normpath(os.path.join(os.path.dirname(current), target))
            parts = resolved.split(os.sep)[1:] + parts
            current = os.sep
            seen += 1
    return found


class Sandbox:
    """Builds the command that starts one student kernel."""

    def __init__(self, level: str, limits: Limits, home: str, runtime: str, uid: int | None, output_limit: int = 0):
        self.level = level
        self.output_limit = output_limit  # characters of output the kernel itself keeps (0: no cap)
        self.limits = limits
        self.home = home  # scratch folder: the kernel's cwd and HOME
        self.runtime = runtime  # connection file, Unix sockets, kernel log
        self.uid = uid

    @property
    def transport(self) -> str:
        return "ipc" if self.level == "bwrap" else "tcp"

    def launcher_args(self, connection_file: str) -> list[str]:
        args = [sys.executable, "-m", LAUNCHER, "--limits", self.limits.to_json(), "--home", self.home,
                "--log", os.path.join(self.runtime, "kernel.log")]
        if self.uid is not None:
            args += ["--uid", str(self.uid)]
        if self.output_limit:
            args += ["--output-limit", str(self.output_limit)]
        return args + ["--", "-f", connection_file]

    def kernel_command(self, connection_file: str) -> list[str]:
        inner = self.launcher_args(connection_file)
        if self.level != "bwrap":
            return inner
        return bwrap_prefix(self.home, self.runtime, self.limits.tmp_bytes) + inner


def bwrap_prefix(home: str, runtime: str, tmp_bytes: int) -> list[str]:
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
           "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grader", "--clearenv"]
    if os.geteuid() == 0:  # the launcher needs these two to drop to the submission's uid (then it has none)
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    made = {"/"}

    def parents(path):
        out = []
        parent = os.path.dirname(path)
        while parent not in made:
            out.append(parent)
            made.add(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(out):
            cmd.extend(["--perms", "0755", "--dir", folder])

    for top in ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc"):
        if os.path.islink(top):
            cmd.extend(["--symlink", os.readlink(top), top])
        elif os.path.isdir(top):
            cmd.extend(["--ro-bind", top, top])
        made.add(top)
    cmd.extend(["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/dev/shm",
                "--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"])
    made.update({"/proc", "/dev", "/tmp"})
    for path in _readonly_paths():
        parents(path)
        cmd.extend(["--ro-bind", path, path])
        made.add(path)
    # the interpreter and environment as the grader names them, when that goes through a symbolic link
    for named in (sys.executable, sys.prefix, sys.base_prefix):
        for link, target in _symlinks(named):
            if link in made or any(link == s or link.startswith(s + "/") for s in SYSTEM):
                continue
            parents(link)
            cmd.extend(["--symlink", target, link])
            made.add(link)
    for path in (home, runtime):
        parents(path)
        cmd.extend(["--bind", path, path])
        made.add(path)
    # the kernel imports the very threadlab this grader runs (not the checkout an editable install points to)
    cmd.extend(["--setenv", "PYTHONPATH", package_root(), "--chdir", home])
    return cmd


@functools.cache
def probe_bwrap() -> tuple[bool, str]:
    """Can bubblewrap start this Python as an unprivileged uid with the grader's binds? (cached)"""
    if shutil.which("bwrap") is None:
        return False, "bubblewrap is not installed (apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="threadlab-probe-") as tmp:
        home, runtime = os.path.join(tmp, "home"), os.path.join(tmp, "run")
        os.makedirs(home)
        os.makedirs(runtime)
        uid = 65534 if os.geteuid() == 0 else None
        if uid is not None:
            os.chown(home, uid, uid)
            os.chown(runtime, uid, uid)
        code = ("import os, socket, ipykernel, threadlab; print(os.getuid(), os.getpid(), sorted(os.listdir('/'))); "
                "print('threadlab at', threadlab.__file__)")
        cmd = bwrap_prefix(home, runtime, 16 * 1024**2) + [sys.executable, "-m", LAUNCHER, "--probe", code]
        if uid is not None:
            cmd[-2:-2] = ["--uid", str(uid)]
        ok, out = _run_quietly(cmd)
        if not ok:
            return False, f"bubblewrap cannot start this Python's kernel here: {out[-300:]}"
        if f"threadlab at {threadlab.__file__}" not in out:
            return False, f"inside bubblewrap the kernel imports another threadlab than the grader ({out[-300:]})"
        return True, out


@functools.cache
def probe_uid() -> tuple[bool, str]:
    """Grading as root without a sandbox: can this Python run as an unprivileged uid? (cached)"""
    if os.geteuid() != 0:
        return False, "not grading as root: cannot switch to another uid"
    code = "import ipykernel, threadlab, socket, json, asyncio; print('ok')"
    ok, out = _run_quietly([sys.executable, "-m", LAUNCHER, "--uid", "65534", "--probe", code])
    if ok:
        return True, out
    reason = out.splitlines()[-1] if out else "failed"
    return False, f"this Python cannot run as an unprivileged uid ({reason[:160]})"


def others_can_read(path: str) -> bool:
    """Can a user other than the file's owner (and outside its group) read ``path``? (mode bits of it and its folders)"""
    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & 0o004:
            return False
        folder = os.path.dirname(path)
        while True:
            if not os.stat(folder).st_mode & 0o001:
                return False
            if folder == os.path.dirname(folder):
                return True
            folder = os.path.dirname(folder)
    except OSError:
        return True


class IsolationError(RuntimeError):
    """No isolation level that keeps the hidden tests from the student's kernel works here, and none was chosen."""


def detect_isolation(preference: str = "auto", hidden_tests: str | None = None) -> tuple[str, str]:
    """Return (level, reason). ``preference``: auto, bwrap, uid or none.

    ``auto`` never settles for a level where the student's kernel can read the hidden tests: bwrap when it
    works; else ``uid`` when it works and ``hidden_tests`` (the reference notebook) is not readable by other
    users; else :class:`IsolationError`, which names what to install or which ``--isolation`` to choose."""
    if preference == "none":
        return "none", ("NO OS ISOLATION (--isolation none): resource limits and a scratch folder only; the "
                        "submission can read whatever the grading user can read")
    details = []
    if preference in ("auto", "bwrap"):
        ok, detail = probe_bwrap()
        if ok:
            who = "a fresh unprivileged uid per submission" if os.geteuid() == 0 else "the grading user"
            return "bwrap", ("bubblewrap: own mount/pid/net/ipc namespaces, read-only system and Python, no "
                             f"repository, gradebook or other submission visible; kernel runs as {who}")
        if preference == "bwrap":
            raise IsolationError(detail)
        details.append(detail)
    ok, detail = probe_uid()
    if ok:
        reason = ("kernel runs as a fresh unprivileged uid per submission (files readable by everyone stay readable: "
                  "install bubblewrap for more)")
        if preference == "uid":
            return "uid", reason
        if hidden_tests is not None and not others_can_read(hidden_tests):
            return "uid", reason + f"; the hidden tests ({hidden_tests}) are not readable by other users"
        details.append(f"a kernel running as another uid could read the hidden tests in {hidden_tests}, which every "
                       "user can read")
    else:
        if preference == "uid":
            raise IsolationError(detail)
        details.append(detail)
    raise IsolationError(
        "no isolation that keeps the hidden tests from the student's code works here: " + "; ".join(details)
        + ". Install bubblewrap (apt-get install bubblewrap), or grade as root with --isolation uid and a --source "
        "that only the grading user can read, or accept that submissions can read the hidden tests with "
        "--isolation none")
