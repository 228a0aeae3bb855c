"""Starts a student kernel: resource limits, scratch folder, unprivileged uid, then ipykernel.

Run by the grader (inside bubblewrap when available) as
``python -m threadlab.grading.launcher --limits JSON --home DIR --log FILE [--uid N] -- -f CONNECTION``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys


def set_limits(limits: dict) -> None:
    def cap(which, value, hard_extra=0):
        if value is None:
            return
        soft, hard = resource.getrlimit(which)
        new_hard = value + hard_extra if hard == resource.RLIM_INFINITY else min(hard, value + hard_extra)
        resource.setrlimit(which, (min(value, new_hard), new_hard))

    cap(resource.RLIMIT_CPU, limits.get("cpu_seconds"), hard_extra=5)
    memory = limits.get("memory_bytes")
    # RLIMIT_DATA counts memory a process can write (heap, anonymous maps, thread stacks): the real limit.
    # RLIMIT_AS also counts address space only reserved (malloc arenas, ~64 MB a thread): a generous backstop.
    cap(resource.RLIMIT_DATA, memory)
    cap(resource.RLIMIT_AS, None if memory is None else memory + 4 * 1024**3)
    cap(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
    cap(resource.RLIMIT_NPROC, limits.get("processes"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m threadlab.grading.launcher")
    parser.add_argument("--limits", default="{}")
    parser.add_argument("--home")
    parser.add_argument("--log")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--output-limit", type=int, default=0, help="characters of output the kernel keeps")
    parser.add_argument("--probe", help="run this code instead of a kernel (isolation check)")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if os.getsid(0) != os.getpid():
        try:
            os.setsid()
        except OSError:
            pass
    set_limits(json.loads(args.limits))
    if args.uid is not None:
        drop_privileges(args.uid)
    if args.probe:
        exec(compile(args.probe, "<probe>", "exec"), {})
        return 0
    home = args.home or os.getcwd()
    os.chdir(home)
    os.environ.update({
        "HOME": home, "IPYTHONDIR": os.path.join(home, ".ipython"), "JUPYTER_RUNTIME_DIR": os.path.join(home, ".jupyter"),
        "JUPYTER_CONFIG_DIR": os.path.join(home, ".jupyter"), "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
        "MPLBACKEND": "Agg", "MALLOC_ARENA_MAX": "4", "PYTHONDONTWRITEBYTECODE": "1",
        "TMPDIR": "/tmp" if os.path.isdir("/tmp") else home,
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
    })
    if args.log:  # the kernel's own stdout/stderr (C-level output, crashes): a file bounded by RLIMIT_FSIZE
        fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    kernel_args = [a for a in args.kernel_args if a != "--"]
    sys.argv = ["ipykernel_launcher", "--HistoryManager.hist_file=:memory:", *kernel_args]
    if args.output_limit:
        os.environ["THREADLAB_OUTPUT_LIMIT"] = str(args.output_limit)
        sys.argv.append("--IPKernelApp.outstream_class=threadlab.grading.kernel_output.CappedOutStream")
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
    return 0


if __name__ == "__main__":
    sys.exit(main())
