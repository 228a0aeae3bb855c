"""Record what each thread did, and when, and draw it as a timeline (one band per thread).

>>> tl = Timeline()
>>> with tl.span("work"):
...     pass
>>> [s.label for s in tl.spans]
['work']
"""

from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One interval of activity: ``thread`` did ``label`` from ``start`` to ``end`` (seconds)."""

    thread: str
    start: float
    end: float
    label: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


class Timeline:
    """A thread-safe recorder of :class:`Span` intervals, timed from its creation."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self._lock = threading.Lock()
        self.spans: list[Span] = []

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def add(self, start: float, end: float, label: str = "", thread: str | None = None) -> Span:
        span = Span(thread or threading.current_thread().name, start, end, label)
        with self._lock:
            self.spans.append(span)
        return span

    @contextmanager
    def span(self, label: str = ""):
        """``with timeline.span("download"):`` records the block as one span of this thread."""
        start = self.now()
        try:
            yield
        finally:
            self.add(start, self.now(), label)

    def record(self, fn=None, *, label: str | None = None):
        """Decorator: every call of the function becomes a span labelled with its name."""
        if fn is None:
            return functools.partial(self.record, label=label)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.span(label or fn.__name__):
                return fn(*args, **kwargs)

        return wrapper

    def threads(self) -> list[str]:
        """Thread names in order of their first span."""
        seen = {}
        for s in sorted(self.spans, key=lambda s: s.start):
            seen.setdefault(s.thread, None)
        return list(seen)

    def busy(self, thread: str) -> float:
        """Seconds the thread spent inside spans."""
        return sum(s.duration for s in self.spans if s.thread == thread)

    def overlap(self, a: str, b: str) -> float:
        """Seconds during which threads ``a`` and ``b`` were both inside a span."""
        total = 0.0
        for x in (s for s in self.spans if s.thread == a):
            for y in (s for s in self.spans if s.thread == b):
                total += max(0.0, min(x.end, y.end) - max(x.start, y.start))
        return total

    def end(self) -> float:
        return max((s.end for s in self.spans), default=0.0)


def plot_timeline(spans, title: str = "", ax=None, colors: dict | None = None):
    """Draw spans as horizontal bars, one band per thread; returns the matplotlib Figure.

    ``spans`` is a :class:`Timeline` or a list of :class:`Span`. Bars are coloured by label.
    """
    from threadlab.plotting import new_figure

    if isinstance(spans, Timeline):
        spans = spans.spans
    spans = sorted(spans, key=lambda s: s.start)
    threads = list(dict.fromkeys(s.thread for s in spans))
    labels = list(dict.fromkeys(s.label for s in spans))
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    colors = dict(colors or {})
    for i, label in enumerate(labels):
        colors.setdefault(label, palette[i % len(palette)])
    legend = [lb for lb in labels if lb]
    height = max(1.6, 0.45 * len(threads) + 0.9) + (0.3 if legend else 0.0)
    fig, ax = new_figure(ax=ax, figsize=(6.4, height))
    for row, thread in enumerate(threads):
        mine = [s for s in spans if s.thread == thread]
        for label in labels:
            bars = [(s.start, s.duration) for s in mine if s.label == label]
            if bars:
                ax.broken_barh(bars, (row - 0.35, 0.7), color=colors[label])
    ax.set_yticks(range(len(threads)), threads)
    # an empty strip above the first band holds the legend, in one row, so it covers no bar
    ax.set_ylim(len(threads) - 0.5, -0.5 - (0.9 if legend else 0.0))
    ax.set_xlabel("seconds")
    ax.set_xlim(left=0)
    if legend:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=colors[lb], label=lb) for lb in legend],
            loc="upper right",
            ncol=len(legend),
            fontsize="small",
            frameon=False,
            handlelength=1.0,
            columnspacing=1.0,
        )
    if title:
        ax.set_title(title)
    return fig
