"""Small matplotlib helpers shared by the lessons and widgets."""

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
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class Shown:
    """Wrap a figure so a notebook cell displays it as a PNG with a stable text form.

    A bare ``Figure`` made without pyplot has no PNG representation in IPython; this adds one.
    The text form ``<Figure: title>`` is what nbval compares, so it must not vary.
    """

    def __init__(self, fig, name: str = "figure"):
        self.fig = fig
        self.name = name

    def _repr_png_(self):
        return to_png(self.fig)

    def __repr__(self):
        return f"<Figure: {self.name}>"


def show(fig, name: str = "figure") -> Shown:
    """``show(fig, "speedup")`` as the last line of a cell displays ``fig``."""
    return Shown(fig, name)
