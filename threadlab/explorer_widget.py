"""The explorer as a widget: you are the scheduler of real Python threads.

One column per thread (a thread that the explored code starts gets a column when it is started,
and loses it on undo) shows its code with the next line to run highlighted, the next bytecode
instruction and whether it is ready, blocked or done; below are the shared values, the locks
and their owners, the schedule so far and the outcome. Buttons: one "step" per thread, undo,
reset, run a typed schedule, "find a bug for me" (the systematic search) and "replay the bug"
(one step of the found schedule per click).

The widget keeps only the schedule. Every click replays it from a fresh state with
:meth:`Program.replay`, which ends every thread it started: nothing is left running between
clicks, so a forgotten widget never leaks a thread. Code can press the buttons
(``w.buttons[0].click()``) or call the same methods (``w.step(0)``) and read ``w.snapshot``.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from threadlab.explorer import Program, SearchResult, Snapshot, parse_schedule, schedule_string

_STATUS_COLOURS = {"ready": "#2a7", "blocked": "#c60", "done": "#777", "failed": "#b00", "aborted": "#777"}


def code_html(view) -> str:
    """A thread's source with the line it is about to run highlighted."""
    rows = []
    for k, text in enumerate(view.source):
        lineno = view.first_lineno + k
        here = lineno == view.lineno and view.status in ("ready", "blocked")
        style = "background:#ffe58a;font-weight:bold" if here else ""
        marker = "▶" if here else "&nbsp;"
        rows.append(f"<div style='{style}'>{marker} {html.escape(text.rstrip())}</div>")
    body = "".join(rows) or "<i>(no source)</i>"
    colour = _STATUS_COLOURS.get(view.status, "#000")
    status = view.status + (f" on {html.escape(view.waiting_for)}" if view.waiting_for else "")
    if view.error:
        status += f": {html.escape(view.error)}"
    nxt = f"next instruction: <code>{html.escape(view.instruction)}</code>" if view.instruction else ""
    if view.parent is not None and view.instruction.startswith("("):
        nxt = html.escape(view.instruction)  # a started thread that has not run yet
    name = html.escape(view.name)
    if view.parent is not None:
        name = f"{html.escape(view.thread_name or view.name)}, started by thread {view.parent}"
    return (
        f"<div style='font-family:monospace;font-size:12px;border:1px solid #ccc;padding:4px;"
        f"white-space:pre;min-width:260px'>{body}</div>"
        f"<div style='color:{colour}'>thread {view.index} ({name}): {status}</div>"
        f"<div>{nxt}</div>"
    )


def state_html(snap: Snapshot) -> str:
    shared = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(v)}</code></td></tr>"
        for k, v in snap.shared.items()
    )
    prims = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in snap.primitives.items()
    )
    kind = snap.outcome.kind
    colour = {"completed": "#2a7", "running": "#333"}.get(kind, "#b00")
    errors = "".join(f"<div style='color:#b00'>{html.escape(e)} (a started thread: recorded, the run goes on)</div>"
                     for e in snap.errors)
    return (
        f"<table><tr><th align='left'>shared</th><th></th></tr>{shared}"
        + (f"<tr><th align='left'>locks &amp; co.</th><th></th></tr>{prims}" if prims else "")
        + "</table>"
        f"<div>schedule so far: <code>{snap.schedule_string or '(empty)'}</code> ({len(snap.schedule)} steps)</div>"
        f"{errors}<div style='color:{colour}'><b>{html.escape(str(snap.outcome))}</b></div>"
    )


class ExplorerWidget(widgets.VBox):
    """Step the threads of ``program`` by hand, undo, search for a bug and replay it."""

    def __init__(self, program: Program, title: str = "", bound: int = 2):
        self.program = program
        self.title = title or program.name or "explorer"
        self.bound = bound
        self.schedule: list[int] = []
        self.snapshot: Snapshot | None = None
        self.found: SearchResult | None = None
        self.replay_position = 0
        self.message = ""
        self.buttons: list = []  # one per thread the widget has shown so far (started threads included)
        self.codes: list = []
        self._columns: list = []
        self.columns = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self._ensure_columns(len(program.threads))
        self.undo_button = widgets.Button(description="undo", icon="undo")
        self.reset_button = widgets.Button(description="reset", icon="refresh")
        self.search_button = widgets.Button(description="find a bug for me", icon="search", button_style="info")
        self.replay_button = widgets.Button(description="replay the bug: next step", disabled=True)
        self.schedule_box = widgets.Text(placeholder="a schedule, e.g. 0011010", description="schedule")
        self.run_button = widgets.Button(description="run this schedule")
        self.undo_button.on_click(lambda _b: self.undo())
        self.reset_button.on_click(lambda _b: self.reset())
        self.search_button.on_click(lambda _b: self.find_bug())
        self.replay_button.on_click(lambda _b: self.replay_next())
        self.run_button.on_click(lambda _b: self.run(self.schedule_box.value))
        self.state = widgets.HTML()
        self.status = widgets.HTML()
        super().__init__(
            children=[
                widgets.HTML(f"<b>{html.escape(self.title)}</b>"),
                self.columns,
                self.state,
                widgets.HBox([self.undo_button, self.reset_button, self.search_button, self.replay_button]),
                widgets.HBox([self.schedule_box, self.run_button]),
                self.status,
            ]
        )
        self._show([])

    def _ensure_columns(self, n: int) -> None:
        """Show one column per thread of the current run: threads started by the explored code
        come and go with the schedule."""
        while len(self.buttons) < n:
            i = len(self.buttons)
            button = widgets.Button(description=f"step thread {i}")
            button.on_click(lambda _b, i=i: self.step(i))
            code = widgets.HTML()
            self.buttons.append(button)
            self.codes.append(code)
            self._columns.append(widgets.VBox([code, button]))
        if len(self.columns.children) != n:
            self.columns.children = tuple(self._columns[:n])

    # ---- actions (the buttons call these; so can code)

    def step(self, index: int) -> Snapshot:
        return self._show(self.schedule + [index])

    def undo(self) -> Snapshot:
        return self._show(self.schedule[:-1])

    def reset(self) -> Snapshot:
        self.replay_position = 0
        return self._show([])

    def run(self, schedule, finish: bool = False) -> Snapshot:
        """Replay a typed schedule from the start (``finish``: then go on without preemption)."""
        try:
            steps = parse_schedule(schedule)
        except ValueError as exc:
            self.message = str(exc)
            self._render()
            return self.snapshot
        return self._show(steps, finish=finish)

    def step_until(self, index: int, opname: str, max_steps: int = 200) -> Snapshot:
        """Step thread ``index`` until its next instruction is ``opname`` (e.g. ``"STORE_ATTR"``)."""
        for _ in range(max_steps):
            view = self.snapshot.threads[index]
            if view.instruction.split(" ")[0] == opname or index not in self.snapshot.enabled:
                break
            self.step(index)
        return self.snapshot

    def run_to_end(self, index: int) -> Snapshot:
        """Step thread ``index`` while it can move."""
        while index in self.snapshot.enabled:
            self.step(index)
        return self.snapshot

    def find_bug(self) -> SearchResult:
        """Search schedules with at most ``bound`` preemptions; then replay the bug from the start."""
        self.found = self.program.search(bound=self.bound)
        self.message = self.found.summary()
        self.replay_position = 0
        self.replay_button.disabled = not self.found.found
        self._show([])
        return self.found

    def replay_next(self) -> Snapshot:
        """Take the next step of the schedule the search found."""
        if self.found is None or not self.found.found:
            self.message = "no bug found yet: press 'find a bug for me' first"
            self._render()
            return self.snapshot
        if self.schedule != self.found.schedule[: len(self.schedule)]:
            self._show([])  # the learner wandered off: restart the replay
        k = len(self.schedule)
        if k < len(self.found.schedule):
            self._show(self.found.schedule[: k + 1])
        self.replay_button.disabled = len(self.schedule) >= len(self.found.schedule)
        return self.snapshot

    # ---- reading it from code

    @property
    def schedule_string(self) -> str:
        return schedule_string(self.schedule)

    @property
    def outcome(self):
        return self.snapshot.outcome

    # ---- drawing

    def _show(self, schedule, finish: bool = False) -> Snapshot:
        try:
            snap = self.program.replay(schedule, finish=finish)
        except ValueError as exc:
            self.message = str(exc)
            self._render()
            return self.snapshot
        if schedule == [] or self.message.startswith("step "):
            self.message = self.message if schedule == [] else ""
        self.snapshot = snap
        self.schedule = list(snap.schedule)
        self._render()
        return snap

    def _render(self):
        snap = self.snapshot
        if snap is None:
            return
        self._ensure_columns(len(snap.threads))
        for view, code, button in zip(snap.threads, self.codes, self.buttons):
            code.value = code_html(view)
            button.disabled = view.index not in snap.enabled
        self.undo_button.disabled = not self.schedule
        self.state.value = state_html(snap)
        self.status.value = html.escape(self.message)

    def __repr__(self):
        # nbval compares this text: only what does not vary between runs or Python versions
        return f"ExplorerWidget({self.title}; {len(self.program.threads)} threads)"
