"""Small matplotlib helpers shared by the lessons and widgets.

Figures are drawn on an opaque white background, so they stay readable in a dark JupyterLab
theme and on the website's dark mode (a transparent PNG would put black labels on black).
Every figure a lesson shows gets alt text: ``show(fig, "a sentence saying what it shows")``.
"""

from __future__ import annotations

import io

FIGSIZE = (6.4, 3.6)


def new_figure(ax=None, figsize=FIGSIZE, ncols: int = 1):
    """A (figure, axes) pair not registered with pyplot, so nothing is shown by accident.

    Return the figure from a cell to show it; widgets turn it into PNG bytes instead.
    """
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def to_png(fig, dpi: int = 90) -> bytes:
    """Render a figure to PNG bytes, on an opaque white background whatever the style says."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", transparent=False)
    return buffer.getvalue()


class Shown:
    """Wrap a figure so a notebook cell displays it as a PNG with a stable text form.

    A bare ``Figure`` made without pyplot has no PNG representation in IPython; this adds one.
    The text form ``<Figure: alt text>`` is what nbval compares, so the alt text must not vary
    (no measured numbers in it). The website uses it as the image's alt text.
    """

    def __init__(self, fig, alt: str):
        alt = " ".join(str(alt).split())
        if not alt:
            raise ValueError("give the figure an alt text: a sentence saying what it shows")
        self.fig = fig
        self.alt = alt

    @property
    def name(self) -> str:  # the name older code used for the alt text
        return self.alt

    def _repr_png_(self):
        return to_png(self.fig)

    def __repr__(self):
        return f"<Figure: {self.alt}>"


def show(fig, alt: str) -> Shown:
    """``show(fig, "Elapsed time falls as threads are added, up to 8")`` as the last line of a
    cell displays ``fig``; ``alt`` says what the figure shows, for readers who cannot see it
    (screen readers, the website's alt text) and as the text nbval compares."""
    return Shown(fig, alt)


def plot_speedups(panels: dict, title: str = "", xlabel: str = "threads"):
    """Measured speedups next to the ideal ones, one panel per entry; returns the Figure.

    ``panels`` is ``{panel title: {workers: (measured speedup, ideal speedup)}}``; each panel draws
    the measured speedup against the number of workers, over the ideal as a grey dashed line.
    """
    fig, axes = new_figure(figsize=(0.5 + 3.4 * len(panels), 3.3), ncols=len(panels))
    axes = list(axes) if len(panels) > 1 else [axes]
    for ax, (name, points) in zip(axes, panels.items()):
        counts = list(points)
        ax.plot(counts, [points[n][1] for n in counts], "--", color="grey", label="ideal")
        ax.plot(counts, [points[n][0] for n in counts], "o-", label="measured")
        ax.set(title=name, xlabel=xlabel, xticks=counts, ylim=(0, None))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("speedup (x)")
    axes[0].legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_speedup(workers, elapsed, ideal, what: str = "threads", title: str = ""):
    """Two panels against the number of workers: elapsed time, and speedup ``elapsed[0] / elapsed[n]``,
    each next to its ideal (``ideal`` holds the ideal speedups; the first worker count is the baseline)."""
    fig, (left, right) = new_figure(figsize=(8.4, 3.4), ncols=2)
    workers, elapsed, ideal = list(workers), list(elapsed), list(ideal)
    base = elapsed[0]
    left.plot(workers, [base / i for i in ideal], "--", color="grey", label="ideal")
    left.plot(workers, elapsed, "o-", label="measured")
    left.set(xlabel=what, ylabel="elapsed (s)", title=title or "elapsed time", ylim=(0, None))
    right.plot(workers, ideal, "--", color="grey", label="ideal")
    right.plot(workers, [base / e for e in elapsed], "o-", label="measured")
    right.set(xlabel=what, ylabel="speedup (x)", title="speedup = T(1) / T(n)", ylim=(0, None))
    for ax in (left, right):
        ax.set_xticks(workers)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig
