"""How a student's kernel is confined: OS resource limits, a scratch folder, and (when possible) a sandbox.

Isolation levels, best first (``detect_isolation`` picks the best that works on this machine):

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
    No OS isolation: the kernel runs as the grading user in a scratch folder with resource limits,
    in its own session; leftover processes are found by session id and killed. The grader says so
    loudly: the submission could read whatever the grading user can read.
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


def _readonly_paths():
    """Folders the kernel needs to read: the Python installation, the environment, threadlab."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(threadlab.__file__)))
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    # threadlab itself (an editable install maps it to the repository: bind only the package)
    paths.add(os.path.join(os.path.realpath(package), "threadlab"))
    system = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")
    return sorted(p for p in paths if not any(p == s or p.startswith(s + "/") for s in system))


class Sandbox:
    """Builds the command that starts one student kernel."""

    def __init__(self, level: str, limits: Limits, home: str, runtime: str, uid: int | None):
        self.level = level
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
    for path in (home, runtime):
        parents(path)
        cmd.extend(["--bind", path, path])
        made.add(path)
    cmd.extend(["--chdir", home])
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
        code = "import os, socket, ipykernel, threadlab; print(os.getuid(), os.getpid(), sorted(os.listdir('/')))"
        cmd = bwrap_prefix(home, runtime, 16 * 1024**2) + [sys.executable, "-m", LAUNCHER, "--probe", code]
        if uid is not None:
            cmd[-2:-2] = ["--uid", str(uid)]
        ok, out = _run_quietly(cmd)
        if not ok:
            return False, f"bubblewrap does not work here: {out[-300:]}"
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


def detect_isolation(preference: str = "auto") -> tuple[str, str]:
    """Return (level, reason). ``preference``: auto, bwrap, uid or none."""
    if preference == "none":
        return "none", "no isolation requested (--isolation none)"
    details = []
    if preference in ("auto", "bwrap"):
        ok, detail = probe_bwrap()
        if ok:
            who = "a fresh unprivileged uid per submission" if os.geteuid() == 0 else "the grading user"
            return "bwrap", ("bubblewrap: own mount/pid/net/ipc namespaces, read-only system and Python, no "
                             f"repository, gradebook or other submission visible; kernel runs as {who}")
        if preference == "bwrap":
            raise RuntimeError(detail)
        details.append(detail)
    ok, detail = probe_uid()
    if ok:
        return "uid", ("kernel runs as a fresh unprivileged uid per submission (files readable by everyone, like "
                       "the repository, stay readable: install bubblewrap for more)")
    if preference == "uid":
        raise RuntimeError(detail)
    details.append(detail)
    return "none", f"NO OS ISOLATION ({'; '.join(details)}): resource limits and a scratch folder only"
