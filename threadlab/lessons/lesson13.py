"""Lesson 13: a responsive UI with a background thread.

The OSCON slides' GUI Fibonacci (``FibThreaded``) rebuilt twice:

- :class:`FibonacciApp` is the modern version, an ipywidgets app: a Start and a Stop button, a
  progress bar and a result label that the *worker thread* updates (ipywidgets 8 sends widget state
  from any thread), a log (an ``Output`` widget filled with :meth:`~ipywidgets.Output.append_stdout`,
  which is widget state, never cell output). The Stop button only sets an :class:`threading.Event`;
  the worker checks it every step and ends within milliseconds.
- :class:`SlidesFib` is the slides' Tkinter design without Tkinter: the worker hands every value to
  the GUI thread through a one-slot queue that the GUI thread polls (Tk's ``after()``). With a
  blocking ``put`` it has the slides' "deadlock on quit" bug, reproduced here with timeouts.
"""

from __future__ import annotations

import html
import math
import queue
import threading
import time

import ipywidgets as widgets

from threadlab.checks import check

#: The largest n the app accepts: F(1_000_000) has 208988 digits and takes a few seconds.
MAX_N = 1_000_000


def fibonacci(n: int) -> int:
    """F(n) with F(0) = 0, F(1) = 1, computed by n additions."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def digit_count(value: int) -> int:
    """Number of decimal digits of ``abs(value)``, without ``str()`` (which refuses > 4300 digits)."""
    value = abs(value)
    if value < 10:
        return 1
    digits = int((value.bit_length() - 1) * math.log10(2)) + 1  # exact or one too small
    return digits + 1 if value >= 10**digits else digits


def describe(value: int, keep: int = 8) -> str:
    """A short text for a huge int: its digit count and its first and last ``keep`` digits.

    ``str(value)`` raises ``ValueError`` above 4300 digits since Python 3.11 (a protection against
    slow conversions); this never calls it on the whole number.
    """
    digits = digit_count(value)
    if digits <= 2 * keep:
        return f"{value} ({digits} digits)"
    head = value // 10 ** (digits - keep)
    tail = value % 10**keep
    return f"{head}…{tail:0{keep}d} ({digits} digits)"


class FibonacciApp(widgets.VBox):
    """Computes F(n) in a background thread; the widgets stay live and a Stop button ends it.

    ``update_interval`` is the least time between two progress updates (0 = update on every step,
    the slides' "frequent screen updates slow the calculation"). Code can drive it like a person:
    ``app.start_button.click()``, ``app.stop_button.click()``, then ``app.wait(timeout)``.
    """

    def __init__(self, n: int = 100_000, update_interval: float = 0.05, title: str = "Fibonacci"):
        self.title = title
        self.update_interval = update_interval
        self.n_box = widgets.IntText(value=n, description="n", layout=widgets.Layout(width="220px"))
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        self.result_label = widgets.HTML("press <b>Start</b>")
        self.messages = widgets.Output(layout=widgets.Layout(border="1px solid #ccc", max_height="8em"))
        self.stop_event = threading.Event()
        self.worker: threading.Thread | None = None
        self.state = "idle"  # idle, running, done, stopped, invalid, error
        self.result: int | None = None
        self.error: BaseException | None = None
        self.steps_done = 0
        self.updates = 0
        self.runs = 0
        self.elapsed = 0.0
        self.stop_latency: float | None = None
        self._stop_pressed_at: float | None = None
        self.start_button.on_click(lambda _button: self.start())
        self.stop_button.on_click(lambda _button: self.stop())
        buttons = widgets.HBox([self.n_box, self.start_button, self.stop_button])
        header = widgets.HTML(f"<b>{html.escape(title)}</b>")
        super().__init__(children=[header, buttons, self.progress, self.result_label, self.messages])

    # --- what the buttons do (they run on the kernel's main thread: they must return at once) ---

    def start(self) -> bool:
        """Start a run with the n in the text box; False (and a message) if it cannot start."""
        if self.running:
            self.say("already running: press Stop first")
            return False
        n = self.n_box.value
        if not 0 <= n <= MAX_N:  # the slides' exercise: "fix display of illegal values"
            self.state = "invalid"
            self.result_label.value = f"<span style='color:#b00'>n must be between 0 and {MAX_N:,}, got {n:,}</span>"
            return False
        self.stop_event.clear()
        self.state = "running"
        self.result = self.error = self.stop_latency = self._stop_pressed_at = None
        self.steps_done = self.updates = 0
        self.runs += 1
        self.progress.value = 0.0
        self.progress.bar_style = ""
        self.result_label.value = f"computing F({n:,})…"
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.worker = threading.Thread(target=self._run, args=(n,), name=f"fib-worker-{self.runs}")
        self.worker.start()
        return True

    def stop(self) -> None:
        """Ask the worker to stop. Never joins: a button handler that waits can deadlock (section 5)."""
        if self.running:
            self._stop_pressed_at = time.perf_counter()
        self.stop_event.set()

    # --- the worker thread ---

    def _run(self, n: int) -> None:
        start = last_update = time.perf_counter()
        a, b = 0, 1
        try:
            for i in range(n):
                if self.stop_event.is_set():
                    now = time.perf_counter()
                    if self._stop_pressed_at is not None:
                        self.stop_latency = now - self._stop_pressed_at
                    self.state = "stopped"
                    self.progress.bar_style = "warning"
                    self.result_label.value = f"stopped at step {i:,} of {n:,}"
                    return
                a, b = b, a + b
                self.steps_done = i + 1
                now = time.perf_counter()
                if now - last_update >= self.update_interval:
                    self.progress.value = (i + 1) / n  # a widget update from this thread
                    self.updates += 1
                    last_update = now
            self.result = a
            self.progress.value = 1.0
            self.progress.bar_style = "success"
            self.result_label.value = f"F({n:,}) = {html.escape(describe(a))}"
            self.state = "done"
        except Exception as exc:  # shown in the UI instead of vanishing into a log
            self.error = exc
            self.state = "error"
            self.result_label.value = f"<span style='color:#b00'>{html.escape(repr(exc))}</span>"
        finally:
            self.elapsed = time.perf_counter() - start
            self.say(f"run {self.runs}: {self.state} after {self.steps_done:,} steps, {self.elapsed:.3f} s")
            self.start_button.disabled, self.stop_button.disabled = False, True

    # --- for code and tests ---

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    @property
    def label_text(self) -> str:
        """The result label without its HTML tags."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.result_label.value))

    def say(self, text: str) -> None:
        """Append a line to the log widget: widget state, so it lands in the widget from any thread."""
        self.messages.append_stdout(text + "\n")

    def wait(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for the current run to end; True if it has ended."""
        if self.worker is not None:
            self.worker.join(timeout)
        return not self.running

    def wait_for_steps(self, steps: int, timeout: float) -> bool:
        """Wait until the worker has done at least ``steps`` steps (or ended); True if it did them."""
        deadline = time.monotonic() + timeout
        while self.steps_done < steps and self.running and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.steps_done >= steps

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop any run and wait for the worker; True when no worker thread is left."""
        self.stop()
        return self.wait(timeout)

    def __repr__(self):
        # nbval compares this text: nothing in it may vary between runs
        return f"FibonacciApp({self.title}: n box, Start, Stop, progress bar, result label, messages)"


def time_updates(n: int, update_interval: float, timeout: float = 60.0) -> FibonacciApp:
    """Run one FibonacciApp to completion with the given update interval; returns the app."""
    app = FibonacciApp(n=n, update_interval=update_interval, title=f"update every {update_interval:g} s")
    app.start()
    if not app.wait(timeout):
        app.shutdown()
        raise TimeoutError(f"F({n}) did not finish in {timeout} s")
    return app


# --- the slides' design: a one-slot queue polled by the GUI thread ---------------------------


class SlidesFib:
    """FibThreaded without Tkinter: the worker puts each new value in a one-slot queue and the
    GUI thread takes it when it polls (in Tk, an ``after()`` callback every few milliseconds).

    ``blocking_put=True`` is the buggy version: the worker waits for the GUI thread to take the
    previous value. ``quit_buggy()`` is the slides' Quit button: set the flag, then ``join()``
    the worker, without polling any more: the GUI thread waits for the worker, which waits for
    the GUI thread. ``quit_fixed()`` keeps polling while it waits.
    """

    def __init__(self, blocking_put: bool = True, n: int = 10**9):
        self.blocking_put = blocking_put
        self.n = n
        self.slot: queue.Queue = queue.Queue(maxsize=1)
        self.quit_flag = threading.Event()
        self.latest = None
        self.shown = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._work, name="slides-fib-worker")

    def start(self) -> SlidesFib:
        self.thread.start()
        return self

    def _work(self):
        a, b = 0, 1
        for i in range(self.n):
            if self.quit_flag.is_set():
                return
            a, b = b, a + b
            if self.blocking_put:
                self.slot.put(i + 1)  # BUG: waits until the GUI thread has taken the last value
            else:
                try:
                    self.slot.put_nowait(i + 1)  # the GUI only needs the latest value
                except queue.Full:
                    self.dropped += 1

    def poll(self) -> bool:
        """What the GUI thread's timer callback does: take the latest value, if any, and show it."""
        try:
            self.latest = self.slot.get_nowait()
        except queue.Empty:
            return False
        self.shown += 1
        return True

    def run_gui(self, seconds: float) -> int:
        """Play the GUI event loop for a while (poll every millisecond); returns values shown."""
        before = self.shown
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            time.sleep(0.001)
        return self.shown - before

    def worker_waits_for_gui(self, timeout: float = 5.0) -> bool:
        """True once the worker is blocked in ``put`` (waiting for a poll that does not come)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.slot.mutex:  # CPython detail: threads blocked in put() wait on not_full
                if self.slot.not_full._waiters:
                    return True
            if not self.thread.is_alive():
                return False
            time.sleep(0.001)
        return False

    def quit_buggy(self, timeout: float) -> bool:
        """The slides' Quit: set the flag, then wait for the worker (bounded here); True if it ended."""
        self.quit_flag.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def quit_fixed(self, timeout: float) -> bool:
        """Set the flag, then wait in short slices and keep polling, so a blocked put can finish."""
        self.quit_flag.set()
        deadline = time.monotonic() + timeout
        while self.thread.is_alive() and time.monotonic() < deadline:
            self.poll()
            self.thread.join(0.01)
        return not self.thread.is_alive()

    def release(self, timeout: float = 5.0) -> bool:
        """End the worker whatever state it is in (used after the deadlock demo)."""
        return self.quit_fixed(timeout)


# --- exercise checks -----------------------------------------------------------------------


def check_stoppable_sum(stoppable_sum) -> object:
    """Exercise 13.1: stoppable_sum(n, stop) adds 0..n-1, checks ``stop`` every step.

    Returns the sum, or None when stopped early.
    """

    def test():
        stop = threading.Event()
        got = stoppable_sum(1000, stop)
        if got != sum(range(1000)):
            raise AssertionError(f"stoppable_sum(1000, stop) with stop never set: expected 499500, got {got!r}")
        stop.set()
        got = stoppable_sum(1000, stop)
        if got is not None:
            raise AssertionError(f"with stop already set it should return None at once, got {got!r}")
        stop = threading.Event()
        box = {}
        worker = threading.Thread(target=lambda: box.setdefault("value", stoppable_sum(10**12, stop)))
        worker.start()
        time.sleep(0.1)
        pressed = time.perf_counter()
        stop.set()
        worker.join(5)
        latency = time.perf_counter() - pressed
        if worker.is_alive():
            raise AssertionError(
                "stoppable_sum(10**12, stop) still running 5 s after stop.set(): check stop.is_set() in the loop"
            )
        if box.get("value") is not None:
            raise AssertionError(f"stopped early, so it should return None, got {box['value']!r}")
        if latency > 1.0:
            raise AssertionError(f"it took {latency:.2f} s to stop: check the event on every step")

    return check("Exercise 13.1", test)


def check_quit_safely(quit_safely) -> object:
    """Exercise 13.2: quit_safely(app, timeout) ends a SlidesFib whose worker waits for the GUI."""

    def test():
        app = SlidesFib(blocking_put=True).start()
        try:
            app.run_gui(0.05)
            if not app.worker_waits_for_gui():
                raise AssertionError("setup failed: the worker never blocked (try again)")
            start = time.perf_counter()
            ok = quit_safely(app, 2.0)
            elapsed = time.perf_counter() - start
            if app.thread.is_alive():
                raise AssertionError(
                    "the worker is still blocked in put(): while you wait for it, keep doing the GUI's "
                    "job (app.poll()), and wait in short slices (join with a small timeout)"
                )
            if ok is not True:
                raise AssertionError(f"quit_safely should return True once the worker has ended, got {ok!r}")
            if elapsed > 1.5:
                raise AssertionError(f"quitting took {elapsed:.2f} s: poll and join in slices of ~10 ms")
        finally:
            app.release()

    return check("Exercise 13.2", test)
