"""The student kernel's stdout and stderr, capped (loaded by ipykernel inside the kernel, never by the grader).

The launcher (:mod:`threadlab.grading.launcher`) passes ``--IPKernelApp.outstream_class`` naming the class below
and the limit in ``THREADLAB_OUTPUT_LIMIT``. This module stays out of the launcher itself: importing ipykernel
there, before the launcher drops to an unprivileged uid, would hide that the uid cannot import it.
"""

from __future__ import annotations

import os

from ipykernel.iostream import OutStream


class CappedOutStream(OutStream):
    """The kernel's stdout/stderr, capped at ``THREADLAB_OUTPUT_LIMIT`` characters for the whole kernel.

    A cell that prints hundreds of MB would otherwise fill the kernel's output buffer until the kernel's own
    output thread dies of ``MemoryError`` (with tracebacks of the grading machine in the notebook). Beyond the
    limit output is dropped and one note says so, on stdout (nbgrader scores a check cell with stderr as 0).
    ipykernel routes C-level output (``capture_fd_output``) through ``write`` too."""

    used = [0]
    noted = [False]
    streams: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        CappedOutStream.streams[self.name] = self

    def write(self, string):
        limit = int(os.environ.get("THREADLAB_OUTPUT_LIMIT") or 0)
        if not limit or not isinstance(string, str):
            return super().write(string)
        left = limit - CappedOutStream.used[0]
        CappedOutStream.used[0] += len(string)
        if left > 0:
            super().write(string[:left])
        if len(string) > left and not CappedOutStream.noted[0]:
            CappedOutStream.noted[0] = True
            note = (f"\n[grader: the kernel's output limit was reached ({limit} characters); "
                    "further output of this notebook was dropped]\n")
            target = CappedOutStream.streams.get("stdout", self)
            OutStream.write(target, note)
        return len(string)
