from threadlab.plotting import plot_speedup, show


def test_plot_speedup_draws_elapsed_and_speedup_next_to_the_ideal():
    fig = plot_speedup([1, 2, 4], [1.0, 0.55, 0.3], [1.0, 2.0, 4.0], title="x")
    left, right = fig.axes
    assert [line.get_label() for line in left.lines] == ["ideal", "measured"]
    assert list(right.lines[1].get_ydata()) == [1.0, 1.0 / 0.55, 1.0 / 0.3]
    assert list(left.lines[0].get_ydata()) == [1.0, 0.5, 0.25]   # the ideal elapsed time
    assert repr(show(fig, "speedup")) == "<Figure: speedup>"
