"""Sliders that re-run an experiment and re-plot what it measured.

An :class:`Experiment` is a widget: sliders on top, a plot and a one-line summary below.
Moving a slider calls ``run(**values)``; the result is kept in :attr:`Experiment.result`
and drawn with ``plot(result)``. A notebook cell can therefore drive it like a person::

    exp = Experiment(run, plot, threads=thread_slider(8))
    exp                                # shows the widget
    exp.set(threads=4)                 # same as dragging the slider to 4
    assert exp.result.speedup(4) > 2   # what the callback measured

The plot is an ``Image`` widget and the summary an ``HTML`` widget: updating them sends
widget state, never cell output, so the widget behaves the same in JupyterLab, under
nbclient (regeneration) and under nbval (testing).
"""

from __future__ import annotations

import html
import time
import traceback
from typing import Callable

import ipywidgets as widgets

from threadlab.plotting import to_png


def int_slider(description: str, min: int, max: int, value: int | None = None, step: int = 1):
    """An integer slider that reports its value when released, not on every pixel of a drag."""
    return widgets.IntSlider(
        value=min if value is None else value,
        min=min,
        max=max,
        step=step,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def thread_slider(max: int = 8, value: int | None = None, description: str = "threads"):
    return int_slider(description, 1, max, max if value is None else value)


def process_slider(max: int, value: int | None = None, description: str = "processes"):
    return int_slider(description, 1, max, max if value is None else value)


class Experiment(widgets.VBox):
    """Sliders, a plot and a summary line, re-run whenever a slider moves.

    ``run(**values)`` measures and returns any result object; ``plot(result)`` returns a
    matplotlib Figure (or None for no plot); ``summary(result)`` returns one line of text.
    Errors inside ``run`` or ``plot`` are shown in the widget and kept in :attr:`error`.
    """

    def __init__(
        self,
        run: Callable,
        plot: Callable | None = None,
        summary: Callable | None = None,
        title: str = "",
        **controls: widgets.ValueWidget,
    ):
        if not controls:
            raise ValueError("an Experiment needs at least one control, e.g. threads=thread_slider()")
        self.run_fn = run
        self.plot_fn = plot
        self.summary_fn = summary
        self.title = title
        self.controls = controls
        self.result = None
        self.error: BaseException | None = None
        self.runs = 0
        self.elapsed = 0.0
        self._holding = False
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.status = widgets.HTML()
        header = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        super().__init__(children=[*header, *controls.values(), self.image, self.status])
        # hooks for the browser tests (ci/browser.py) to find the parts a person sees
        self.add_class("threadlab-experiment")
        self.image.add_class("threadlab-plot")
        self.status.add_class("threadlab-status")
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values):
        """Move controls from code, as a person would, then re-run once; returns the result."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"no control named {', '.join(sorted(unknown))}")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        return self.update()

    def _on_change(self, change):
        if not self._holding:
            self.update()

    def update(self):
        """Run the experiment with the current control values and redraw."""
        self.status.value = "<i>running…</i>"
        start = time.perf_counter()
        try:
            self.error = None
            self.result = self.run_fn(**self.values())
            if self.plot_fn is not None:
                fig = self.plot_fn(self.result)
                if fig is not None:
                    self.image.value = to_png(fig)
            text = self.summary_fn(self.result) if self.summary_fn else ""
            self.status.value = html.escape(text)
        except Exception as exc:  # shown to the learner, kept for code
            self.error = exc
            self.result = None
            tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.status.value = f"<span style='color:#b00'>error: {html.escape(tb)}</span>"
        finally:
            self.runs += 1
            self.elapsed = time.perf_counter() - start
        return self.result

    def __repr__(self):
        # nbval compares this text: keep it free of values that vary between runs
        names = ", ".join(self.controls)
        return f"Experiment({self.title or 'untitled'}; controls: {names})"
