import threading
import time

from threadlab.timeline import Span, Timeline, plot_timeline


def test_spans_are_recorded_per_thread():
    tl = Timeline()

    @tl.record
    def work():
        time.sleep(0.05)

    threads = [threading.Thread(target=work, name=f"T{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(tl.threads()) == ["T0", "T1"]
    assert all(s.label == "work" for s in tl.spans)
    assert tl.busy("T0") >= 0.04
    assert tl.overlap("T0", "T1") > 0.02  # sleeping threads overlap
    assert tl.end() >= 0.05


def test_span_context_manager_records_even_on_error():
    tl = Timeline()
    try:
        with tl.span("fails"):
            raise RuntimeError
    except RuntimeError:
        pass
    assert [s.label for s in tl.spans] == ["fails"]


def test_overlap_of_disjoint_spans_is_zero():
    tl = Timeline()
    tl.add(0, 1, thread="a")
    tl.add(1, 2, thread="b")
    assert tl.overlap("a", "b") == 0
    assert Span("a", 1, 3).duration == 2


def test_plot_has_one_band_per_thread():
    tl = Timeline()
    tl.add(0, 1, "run", thread="A")
    tl.add(1, 2, "wait", thread="B")
    tl.add(2, 3, "run", thread="A")
    fig = plot_timeline(tl, title="x")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B"]
    assert len(ax.collections) == 2  # A's "run" bars and B's "wait" bar


def test_legend_covers_no_bar():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    spans = [Span("t0", 0.0, 1.0, "running"), Span("t0", 1.0, 2.0, "waiting"),
             Span("t1", 0.0, 2.0, "running"), Span("t2", 1.5, 2.0, "sleeping")]
    fig = plot_timeline(spans)
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    legend = ax.get_legend().get_window_extent(canvas.get_renderer())
    bars = [path.get_extents(ax.transData) for coll in ax.collections for path in coll.get_paths()]
    assert len(bars) == 4 and [t.get_text() for t in ax.get_legend().get_texts()] == ["running", "waiting", "sleeping"]
    assert not any(legend.overlaps(bar) for bar in bars)
