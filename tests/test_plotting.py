from threadlab.plotting import plot_speedup, show


def test_plot_speedup_draws_elapsed_and_speedup_next_to_the_ideal():
    fig = plot_speedup([1, 2, 4], [1.0, 0.55, 0.3], [1.0, 2.0, 4.0], title="x")
    left, right = fig.axes
    assert [line.get_label() for line in left.lines] == ["ideal", "measured"]
    assert list(right.lines[1].get_ydata()) == [1.0, 1.0 / 0.55, 1.0 / 0.3]
    assert list(left.lines[0].get_ydata()) == [1.0, 0.5, 0.25]   # the ideal elapsed time
    assert repr(show(fig, "speedup")) == "<Figure: speedup>"


def test_plot_amdahl_draws_the_measurement_and_the_law():
    from threadlab.plotting import plot_amdahl

    fig = plot_amdahl({1: 1.0, 2: 1.3, 3: 1.3}, 0.5, cores=2, tasks=12, title="half serial")
    left, right = fig.axes
    assert left.get_title() == "half serial" and len(left.lines) == 3
    assert list(left.lines[0].get_ydata()) == [1.0, 2.0, 2.0]  # the ideal: 12 tasks, at most 2 cores busy
    assert list(left.lines[1].get_ydata()) == [1.0, 4 / 3, 4 / 3]  # Amdahl, s = 0.5: 1 / (0.5 + 0.5 / 2)
    assert len(right.lines) == 3  # ideal, the law, its ceiling at 2x
    assert right.lines[2].get_ydata()[0] == 2.0
    assert plot_amdahl({1: 1.0}, 1.0, cores=1, tasks=4) is not None  # no ceiling when p = 1
