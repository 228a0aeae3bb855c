"""nbgrader's Execute step, made safe for concurrency work.

- the kernel is started through :class:`threadlab.grading.sandbox.Sandbox` (limits, scratch folder, sandbox);
- interrupts are sent as messages (the kernel signals itself, which works inside a pid namespace);
- after a cell times out, a kernel that does not answer any more (it ignores Ctrl-C) is killed;
- a watchdog bounds the whole notebook: it kills the kernel, and every cell that did not run gets an
  error output, so its check scores 0 while the points already earned are kept;
- output beyond a byte budget is dropped (the grader's memory is never at the student's mercy).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

from jupyter_client.manager import AsyncKernelManager
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, OverwriteCells
from traitlets import Float, Integer

STOPPED = "GradingStopped"
#: what the kernel prints once when its own output cap is reached (threadlab.grading.kernel_output)
KERNEL_OUTPUT_NOTE = "[grader: the kernel's output limit was reached"
#: after a cell timed out, this many processes of the submission's user count as a fork bomb even
#: below the process limit (a loaded machine forks slowly); a kernel and its helpers are a handful
FORK_BOMB_PROCESSES = 24
EVENTS: list[dict] = []


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command is built by a Sandbox (set on a subclass per submission)."""

    sandbox = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = self.sandbox.transport
        if self.transport == "ipc":
            self.ip = os.path.join(self.sandbox.runtime, "k")
        self.connection_file = os.path.join(self.sandbox.runtime, "kernel.json")

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def write_connection_file(self, **kwargs):
        result = super().write_connection_file(**kwargs)
        if self.sandbox.uid is not None:  # the kernel drops to this uid before it reads the file
            os.chown(self.connection_file, self.sandbox.uid, self.sandbox.uid)
        return result

    def format_kernel_cmd(self, extra_arguments=None):
        return self.sandbox.kernel_command(self.connection_file)

    async def _async_pre_start_kernel(self, **kw):
        from .sandbox import package_root

        cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw["cwd"] = self.sandbox.home
        if self.sandbox.level != "bwrap":  # (bwrap sets it inside) the kernel imports the grader's own threadlab
            kw["env"] = {**(kw.get("env") or os.environ), "PYTHONPATH": package_root()}
        return cmd, kw

    def kill_now(self):
        """Kill the kernel's process (bwrap kills everything in its pid namespace). Thread-safe enough."""
        proc = getattr(self.provisioner, "process", None) if self.provisioner else None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.kill()
            except OSError:
                pass


# Run silently before every graded cell: a submission that replaced part of threadlab (``labcheck.expect_equal
# = lambda *a: None``, a fake module in sys.modules) would make every check pass. Put the real code back.
GUARD = r"""
def _threadlab_guard():
    import importlib, os, sys
    import threadlab
    root = os.path.dirname(os.path.abspath(threadlab.__file__)) + os.sep
    trusted = tuple(os.path.abspath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    found = []
    for name in sorted(sys.modules):
        if not (name == "threadlab" or name.startswith("threadlab.")):
            continue
        module = sys.modules[name]
        if not os.path.abspath(str(getattr(module, "__file__", ""))).startswith(root):
            found.append(name)
            del sys.modules[name]
            continue
        bad = []
        for attr, value in list(vars(module).items()):
            code = getattr(value, "__code__", None)
            if code is not None and not os.path.abspath(code.co_filename).startswith((root,) + trusted):
                bad.append(attr)
        if bad:
            found.append(name + "." + "/".join(bad))
            importlib.reload(module)
    return found
_threadlab_tampered = _threadlab_guard()
del _threadlab_guard
"""

_PRESTART: dict = {}


def prestart_kernel() -> None:
    """Start the submission's kernel in a background thread now, while nbgrader prepares the notebook.

    GradingExecute picks it up instead of starting one (the kernel start overlaps nbgrader's own work).
    """
    km = SandboxKernelManager(kernel_name="python3")
    started, release = threading.Event(), threading.Event()

    def start():
        try:
            asyncio.run(km.start_kernel())
        except Exception as exc:  # GradingExecute starts a kernel the ordinary way and reports its failure
            _PRESTART["error"] = exc
        finally:
            started.set()
        # bwrap --die-with-parent is tied to the *thread* that started it: stay until the kernel is done with
        release.wait()

    thread = threading.Thread(target=start, name="prestart-kernel", daemon=True)
    thread.start()
    _PRESTART.update(km=km, started=started, release=release)


def _take_prestarted():
    km, started = _PRESTART.pop("km", None), _PRESTART.pop("started", None)
    if started is not None:
        started.wait(60)
    if km is None or _PRESTART.pop("error", None) is not None or not km.has_kernel:
        release_prestarted(km)
        return None
    return km


def release_prestarted(km) -> None:
    if km is not None:
        km.kill_now()
    release = _PRESTART.pop("release", None)
    if release is not None:
        release.set()


def _text_size(msg) -> int:
    content = msg.get("content", {})
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    size += sum(len(line) for line in content.get("traceback", []) or [])
    return size


def stopped_output(reason: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=STOPPED, evalue=reason,
                        traceback=[f"{STOPPED}: {reason}"])


class GradingExecute(Execute):
    """Execute with a whole-notebook watchdog, stuck-kernel detection and an output budget."""

    budget = Float(120.0, help="seconds for the whole notebook (the watchdog)").tag(config=True)
    output_limit = Integer(1_000_000, help="bytes of output kept for the whole notebook").tag(config=True)
    probe_timeout = Float(3.0, help="seconds a kernel gets to answer after a cell timed out").tag(config=True)
    events = EVENTS  # one submission is graded per process: the grader reads this list afterwards

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = type(self).kernel_manager_for_run
        super().__init__(*args, **kwargs)

    kernel_manager_for_run = SandboxKernelManager

    # -- output budget -------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        text = msg.get("content", {}).get("text", "")
        if isinstance(text, str) and KERNEL_OUTPUT_NOTE in text and not getattr(self, "_output_noted", False):
            self._output_noted = True  # the kernel capped its own output (threadlab.grading.kernel_output)
            self.events.append({"cell": cell_index, "kind": "output-truncated",
                                "detail": f"output beyond {self.output_limit} bytes dropped"})
        size = _text_size(msg)
        self._output_bytes = getattr(self, "_output_bytes", 0) + size
        if self._output_bytes > self.output_limit:
            if not getattr(self, "_output_noted", False):
                self._output_noted = True
                self.events.append({"cell": cell_index, "kind": "output-truncated",
                                    "detail": f"output beyond {self.output_limit} bytes dropped"})
                # stdout: nbgrader gives 0 points to a graded cell with any stderr output
                note = NotebookNode(output_type="stream", name="stdout",
                                    text=f"\n[grader: output limit of {self.output_limit} bytes reached; "
                                         "further output of this notebook was dropped]\n")
                outs.append(note)
                return note
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- the run ---------------------------------------------------------------------------------
    def _watchdog(self):
        self._stop_reason = f"the whole notebook took longer than {self.budget:g} s: kernel killed by the watchdog"
        self.events.append({"cell": self._current, "kind": "watchdog", "detail": self._stop_reason})
        if self.km is not None:
            self.km.kill_now()

    def _census(self, index) -> None:
        """After a timeout: how many processes/threads run as the kernel's uid? (a fork bomb shows here)"""
        sandbox = type(self.km).sandbox if self.km is not None else None
        if sandbox is None or sandbox.uid is None:
            return
        import psutil

        procs = threads = 0
        for proc in psutil.process_iter(["uids", "num_threads"]):
            try:
                if proc.info["uids"] and proc.info["uids"].real == sandbox.uid:
                    procs += 1
                    threads += proc.info["num_threads"] or 1
            except psutil.Error:
                pass
        limit = sandbox.limits.processes
        if limit and threads >= 0.8 * limit:
            self.events.append({"cell": index, "kind": "process-limit",
                                "detail": f"process limit reached: {procs} processes, {threads} threads "
                                          f"(limit {limit}): a fork bomb or runaway threads"})
        elif procs >= FORK_BOMB_PROCESSES:  # a slow machine: still climbing towards the limit when the cell timed out
            self.events.append({"cell": index, "kind": "process-limit",
                                "detail": f"{procs} processes, {threads} threads when the cell timed out, on their way "
                                          f"to the process limit ({limit or 'none'}): a fork bomb or runaway processes"})

    def _guard(self, index) -> None:
        try:
            msg_id = self.kc.execute(GUARD, silent=True, store_history=False,
                                     user_expressions={"t": "_threadlab_tampered"})
            reply = self.wait_for_reply(msg_id)
            found = reply["content"]["user_expressions"]["t"]["data"]["text/plain"]
        except Exception:  # a dead or stuck kernel: the graded cell itself will say so
            return
        if found not in ("[]", ""):
            self.events.append({"cell": index, "kind": "tampered",
                                "detail": f"the submission replaced the checker ({found[:120]}): the real one was "
                                          "put back before grading"})

    def _kernel_answers(self) -> bool:
        async def probe():
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + self.probe_timeout
            while time.monotonic() < deadline:
                try:
                    msg = await self.kc.shell_channel.get_msg(timeout=0.2)
                except Exception:  # queue.Empty
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
            return False

        try:
            from jupyter_core.utils import run_sync

            return run_sync(probe)()
        except Exception:
            return False

    def preprocess(self, nb, resources=None, km=None):
        from nbclient.client import NotebookClient

        prestarted = _take_prestarted() if km is None else None
        NotebookClient.__init__(self, nb, km or prestarted)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._stop_reason = None
        self._current = None
        self._output_bytes = 0
        self._output_noted = False
        timer = threading.Timer(self.budget, self._watchdog)
        timer.daemon = True
        started = False
        try:
            with self.setup_kernel():
                started = True
                timer.start()
                self.wait_for_reply(self.kc.kernel_info())
                for index, cell in enumerate(self.nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if self._stop_reason:
                        cell.outputs = [stopped_output(f"not run: {self._stop_reason}")]
                        continue
                    self._current = index
                    if cell.metadata.get("nbgrader", {}).get("grade"):
                        self._guard(index)
                    t0 = time.monotonic()
                    try:
                        self.preprocess_cell(cell, resources, index)
                    except (Exception, asyncio.CancelledError) as exc:  # DeadKernelError, CellTimeoutError, ...
                        if not self._stop_reason:
                            code = self._exit_code()
                            self._stop_reason = f"the kernel died in this cell ({type(exc).__name__}{code})"
                            self.events.append({"cell": index, "kind": "kernel-died", "detail": self._stop_reason})
                        cell.outputs = list(cell.get("outputs", [])) + [stopped_output(self._stop_reason)]
                        continue
                    if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                        self.events.append({"cell": index, "kind": "timeout",
                                            "detail": f"cell timed out after {time.monotonic() - t0:.0f} s "
                                                      "(deadlock or busy loop); kernel interrupted"})
                        self._census(index)
                        if not self._kernel_answers():
                            self._stop_reason = "the kernel did not respond after an interrupt (it ignores Ctrl-C)"
                            self.events.append({"cell": index, "kind": "stuck", "detail": self._stop_reason})
                            self.km.kill_now()
        except Exception as exc:
            if not started:
                self._stop_reason = f"the kernel could not start: {type(exc).__name__}: {exc}"
                self.events.append({"cell": None, "kind": "no-kernel", "detail": self._stop_reason})
            for cell in self.nb.cells:
                if cell.cell_type == "code" and not cell.get("outputs"):
                    cell.outputs = [stopped_output(f"not run: {self._stop_reason or exc}")]
        finally:
            timer.cancel()
            if prestarted is not None:  # nbclient shuts down only kernels it started itself
                try:
                    if self.kc is not None:
                        self.kc.stop_channels()
                finally:
                    release_prestarted(prestarted)
        return self.nb, self.resources

    def _exit_code(self) -> str:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        if proc is None:
            return ""
        for _ in range(20):
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        code = proc.poll()
        if code is None:
            return ""
        if code < 0:
            return f", killed by signal {signal.Signals(-code).name}"
        if code > 128:
            try:
                return f", killed by signal {signal.Signals(code - 128).name}"
            except ValueError:
                pass
        return f", exit status {code}"


class QuietOverwriteCells(OverwriteCells):
    """nbgrader's OverwriteCells, without its warning about check cells the student never touched.

    The reference's locked check cells hold hidden tests that the learner's copy does not, so nbgrader reports
    "Attribute 'checksum' for cell exN-check has changed!" for every untouched check cell. Only a real edit is
    reported here, as an event the verdict shows; nbgrader puts the reference back either way."""

    def preprocess_cell(self, cell, resources, cell_index):
        self._submitted = cell.source
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name, attr, old, new):
        if attr == "checksum":
            from .hidden import strip_regions

            reference = self.gradebook.find_source_cell(name, self.notebook_id, self.assignment_id).source

            def plain(text):
                return [line.rstrip() for line in text.strip().splitlines()]

            if plain(strip_regions(reference)[0]) == plain(self._submitted):
                return  # the learner's copy of the cell, untouched
            EVENTS.append({"cell": None, "kind": "locked-cell-edited",
                           "detail": f"the submission changed the locked cell {name}: the reference was put back"})
        super().report_change(name, attr, old, new)
