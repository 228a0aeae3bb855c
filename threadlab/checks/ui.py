"""Checks for the exercises on keeping a user interface responsive with a worker thread.

- :func:`check_stoppable_sum`  a worker that checks a ``threading.Event`` before every step
- :func:`check_quit_safely`    quitting a GUI whose worker waits for the GUI thread, without deadlock

They decide by construction: an Event that counts how often it is checked (and sets itself at the
1000th check), a worker that is blocked in ``put`` before the learner's code runs (seen in its
stack), a ``Thread`` that records each ``join`` and how long it waited. The learner's code runs in a
thread of its own with a time limit, so an answer that hangs is reported, not waited for.
"""

from __future__ import annotations

import queue
import threading

from threadlab.checks import check, run_with_timeout, waiting_in

GUARD = 3.0  #: seconds an answer may take before the check reports it as hanging


def _call(fn, *args, timeout: float = GUARD):
    """``fn(*args)`` in a thread of its own: (finished, value, exception)."""
    return run_with_timeout(lambda: fn(*args), timeout)


# --- a worker that can be stopped ----------------------------------------------------------------


class CountingEvent(threading.Event):
    """A ``threading.Event`` that counts how often it is checked (``is_set()``, ``wait()``) and,
    with ``set_after=k``, sets itself at the k-th check, as if Stop were pressed at that moment."""

    def __init__(self, set_after: int | None = None):
        super().__init__()
        self.checks = 0
        self.blocking_waits = 0
        self.set_after = set_after

    def _checked(self):
        self.checks += 1
        if self.set_after is not None and self.checks >= self.set_after:
            self.set()

    def is_set(self) -> bool:
        self._checked()
        return super().is_set()

    def wait(self, timeout: float | None = None) -> bool:
        self._checked()
        if timeout is None or timeout > 0.05:
            self.blocking_waits += 1
        return super().wait(timeout)


def check_stoppable_sum(stoppable_sum) -> object:
    """``stoppable_sum(n, stop)``: the sum of 0..n-1, checking ``stop`` before every addition and
    returning None as soon as it is set."""

    def run(n, stop):
        finished, value, error = _call(stoppable_sum, n, stop)
        stop.set()  # frees an answer that waits for the event
        if error is not None:
            raise error
        if not finished:
            hint = ("stop.wait() waits until the event is set: use stop.is_set() to look without waiting"
                    if stop.blocking_waits else "an endless loop?")
            raise AssertionError(f"stoppable_sum({n:,}, stop) had not returned after {GUARD:g} s: {hint}")
        return value

    def test():
        stop = CountingEvent()
        got = run(500, stop)
        if got is None:
            raise AssertionError(
                "stoppable_sum(500, stop) returned None although stop was never set. (`if stop.is_set:` "
                "without the parentheses is always true: it is the method, not its answer)"
            )
        if got != sum(range(500)):
            raise AssertionError(f"stoppable_sum(500, stop) with stop never set: expected {sum(range(500))}, got {got!r}")
        if stop.checks < 500:
            raise AssertionError(
                f"stop was checked {stop.checks} time(s) during 500 additions: check `stop.is_set()` before "
                "every addition, so that Stop takes effect at once"
            )

        stop = CountingEvent(set_after=1000)  # Stop is pressed during the 1000th step
        got = run(10**6, stop)
        if got == sum(range(10**6)):
            raise AssertionError(
                "stop was set during the 1000th addition, but stoppable_sum(10**6, stop) went on to the end: "
                "look at the event inside the loop and return as soon as it is set"
            )
        if got is not None:
            raise AssertionError(
                f"stopped early (good), but returned {got!r}: a stopped computation has no result, return None"
            )

        stop = CountingEvent()  # a real Stop button: another thread sets the event while the sum runs
        box = {}
        worker = threading.Thread(target=lambda: box.update(value=stoppable_sum(10**7, stop)), daemon=True)
        worker.start()
        while stop.checks == 0 and worker.is_alive():
            worker.join(0.001)
        stop.set()
        worker.join(GUARD)
        if worker.is_alive():
            raise AssertionError(f"stoppable_sum(10**7, stop) still running {GUARD:g} s after another thread set stop")
        if box.get("value", "none") is not None:
            raise AssertionError(f"set from another thread, stop should end the sum with None, got {box.get('value')!r}")

    return check("Exercise 13.1", test)


# --- quitting without deadlock -------------------------------------------------------------------


class JoinRecorder(threading.Thread):
    """A Thread that remembers each ``join``: its timeout when called (``calls``), and
    (timeout, still alive afterwards) when it returned (``joins``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[float | None] = []
        self.joins: list[tuple[float | None, bool]] = []

    def join(self, timeout: float | None = None):
        self.calls.append(timeout)
        super().join(timeout)
        self.joins.append((timeout, self.is_alive()))


class SlotWorker:
    """The slides' design, as in the lesson's ``SlidesFib``: a worker hands each new value to the GUI
    thread through a one-slot queue with a *blocking* ``put``; the GUI thread's ``poll()`` takes it.

    ``stuck=True`` makes a worker that is busy in one long call and does not look at ``quit_flag``
    (until :meth:`end`): a GUI must still be able to give up on it.
    """

    def __init__(self, stuck: bool = False):
        self.slot: queue.Queue = queue.Queue(maxsize=1)
        self.quit_flag = threading.Event()
        self.latest = None
        self.error: BaseException | None = None
        self._stuck = stuck
        self._end = threading.Event()
        self.thread = JoinRecorder(target=self._work, name="slides-worker", daemon=True)

    def _work(self):
        try:
            if self._stuck:
                self._end.wait(30)
                return
            value = 0
            while not self.quit_flag.is_set() and not self._end.is_set():
                value += 1
                self.slot.put(value, timeout=30)  # blocks while the GUI has not taken the last value
        except queue.Full:
            pass
        except BaseException as exc:  # e.g. quit_flag replaced by something that is not an Event
            self.error = exc

    def start(self) -> SlotWorker:
        self.thread.start()
        return self

    def poll(self) -> bool:
        """The GUI thread's timer callback: take the latest value, if there is one."""
        try:
            self.latest = self.slot.get_nowait()
        except queue.Empty:
            return False
        return True

    def end(self, timeout: float = 5.0) -> None:
        """Stop the worker whatever the answer did (the check's own clean-up)."""
        self._end.set()
        for _ in range(int(timeout / 0.01)):
            if not self.thread.is_alive():
                break
            self.poll()
            threading.Thread.join(self.thread, 0.01)


def check_quit_safely(quit_safely) -> object:
    """``quit_safely(app, timeout)``: set ``app.quit_flag``, then wait for ``app.thread`` at most
    ``timeout`` s while still polling (``app.poll()``); True if the worker ended."""

    def test():
        app = SlotWorker().start()
        try:
            if not waiting_in(app.thread, "put", timeout=5):
                raise AssertionError("setting up the check failed: the worker never blocked in put() (run it again)")
            finished, value, error = _call(quit_safely, app, 2.0, timeout=GUARD + 1)
            long_joins = [t for t, alive in app.thread.joins if alive and (t is None or t >= 0.5)]
            if not finished:
                hint = ("app.thread.join() without a timeout waits for a worker that waits for you"
                        if None in app.thread.calls else "wait at most `timeout` seconds")
                app.end()
                raise AssertionError(
                    f"quit_safely(app, 2.0) had not returned after {GUARD + 1:g} s, with the worker blocked in put(): {hint}"
                )
            if error is not None:
                raise error
            if app.error is not None:
                raise AssertionError(
                    f"the worker died with {type(app.error).__name__}: {app.error}. Set the Event with "
                    "app.quit_flag.set() (do not replace it)"
                )
            if not app.quit_flag.is_set():
                raise AssertionError("app.quit_flag was never set: the worker only stops when it sees the flag")
            if long_joins:
                waited = "for ever" if long_joins[0] is None else f"{long_joins[0]:g} s"
                raise AssertionError(
                    f"you waited {waited} in one join() while the worker was blocked in put(), waiting for a "
                    "poll that only your thread could do: wait in short slices (join(0.01)) and call "
                    "app.poll() in between"
                )
            if app.thread.is_alive():
                raise AssertionError(
                    "the worker is still blocked in put(): while you wait for it, keep doing the GUI's job "
                    "(app.poll()), so the slot empties and put() returns"
                )
            if value is not True:
                raise AssertionError(f"quit_safely should return True once the worker has ended, got {value!r}")
        finally:
            app.end()

        stuck = SlotWorker(stuck=True).start()
        try:
            finished, value, error = _call(quit_safely, stuck, 0.3)
            if not finished:
                raise AssertionError(
                    f"with a worker that does not stop, quit_safely(app, 0.3) was still waiting after {GUARD:g} s: "
                    "give up when the timeout has passed and return False (the GUI must not freeze)"
                )
            if error is not None:
                raise error
            if value is not False:
                raise AssertionError(
                    f"with a worker that is still running after the timeout, quit_safely should return False, got {value!r}"
                )
        finally:
            stuck.end()

    return check("Exercise 13.2", test)
