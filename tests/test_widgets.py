import pytest

from threadlab.plotting import new_figure, show, to_png
from threadlab.widgets import Experiment, int_slider, thread_slider


def plot(result):
    fig, ax = new_figure()
    ax.plot([0, 1], [0, result])
    return fig


def test_experiment_runs_on_creation_and_on_every_move():
    calls = []

    def run(threads, size):
        calls.append((threads, size))
        return threads * size

    exp = Experiment(run, plot, summary=lambda r: f"r={r}", title="demo",
                     threads=thread_slider(4, value=2), size=int_slider("size", 1, 10, 3))
    assert calls == [(2, 3)] and exp.result == 6
    assert bytes(exp.image.value).startswith(b"\x89PNG")
    assert exp.status.value == "r=6"
    exp.controls["threads"].value = 4  # as a person dragging the slider
    assert exp.result == 12
    assert exp.set(threads=1, size=10) == 10
    assert calls[-1] == (1, 10) and len(calls) == 3  # set() re-runs once, not once per control
    assert repr(exp) == "Experiment(demo; controls: threads, size)"


def test_experiment_reports_errors_instead_of_raising():
    def run(n):
        if n > 1:
            raise RuntimeError("boom")
        return n

    exp = Experiment(run, n=int_slider("n", 1, 3, 1))
    exp.set(n=2)
    assert exp.result is None and isinstance(exp.error, RuntimeError)
    assert "boom" in exp.status.value
    exp.set(n=1)
    assert exp.error is None and exp.result == 1


def test_experiment_validates_controls():
    with pytest.raises(ValueError):
        Experiment(lambda: 1)
    exp = Experiment(lambda n: n, n=int_slider("n", 1, 3))
    with pytest.raises(KeyError):
        exp.set(m=1)


def test_show_wraps_a_figure_with_stable_text():
    fig, _ = new_figure()
    shown = show(fig, "empty")
    assert repr(shown) == "<Figure: empty>"
    assert shown._repr_png_().startswith(b"\x89PNG")
    assert to_png(fig).startswith(b"\x89PNG")


def test_show_needs_alt_text_and_keeps_the_text_form_stable():
    fig, _ = new_figure()
    shown = show(fig, "Two threads  take turns\n on one core")
    assert repr(shown) == "<Figure: Two threads take turns on one core>"
    assert shown.alt == shown.name == "Two threads take turns on one core"
    import pytest

    with pytest.raises(ValueError, match="alt text"):
        show(fig, "  ")


def test_figures_are_opaque_so_a_dark_theme_keeps_them_readable():
    import io

    import matplotlib
    from matplotlib.image import imread

    # even under a style that makes figures transparent (as some dark styles do)
    with matplotlib.rc_context({"figure.facecolor": "none", "savefig.transparent": True}):
        fig, ax = new_figure()
        ax.plot([0, 1], [0, 1])
        pixels = imread(io.BytesIO(to_png(fig)), format="png")
    assert pixels.shape[2] == 4 and pixels[..., 3].min() == 1.0
    assert pixels[0, 0, :3].tolist() == [1.0, 1.0, 1.0]


def test_plot_speedups_draws_measured_over_ideal_in_one_panel_each():
    from threadlab.plotting import plot_speedups

    fig = plot_speedups({"a": {1: (1.0, 1.0), 2: (1.9, 2.0)}, "b": {1: (1.0, 1.0), 2: (1.0, 2.0), 4: (1.1, 2.0)}},
                        title="two kinds of work")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    measured = fig.axes[1].get_lines()[1]
    assert list(measured.get_xdata()) == [1, 2, 4] and list(measured.get_ydata()) == [1.0, 1.0, 1.1]
    assert fig.axes[0].get_legend() is not None and to_png(fig).startswith(b"\x89PNG")
    one = plot_speedups({"only": {1: (1.0, 1.0), 3: (2.5, 3.0)}}, xlabel="threads in the pool")
    assert one.axes[0].get_xlabel() == "threads in the pool"
