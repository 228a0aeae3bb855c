import math

import pytest

from threadlab.scaling import amdahl, ideal_speedup, measure_scaling, plot_scaling, time_run
from threadlab.workers import count_primes, cpu_task, hash_task, noop, sleep_task, whoami


def test_ideal_speedup_counts_rounds_of_indivisible_tasks():
    assert ideal_speedup(1, 8) == 1
    assert ideal_speedup(3, 8) == pytest.approx(8 / 3)
    assert ideal_speedup(5, 8) == 4
    assert ideal_speedup(8, 8) == 8
    assert ideal_speedup(16, 8) == 8


def test_ideal_speedup_is_capped_by_cores_when_given():
    assert ideal_speedup(8, 8, cores=2) == 2
    assert ideal_speedup(8, 8, cores=None) == 8
    with pytest.raises(ValueError):
        ideal_speedup(0, 8)


def test_amdahl():
    assert amdahl(1.0, 4) == 4
    assert amdahl(0.0, 4) == 1
    assert amdahl(0.5, 2) == pytest.approx(4 / 3)
    with pytest.raises(ValueError):
        amdahl(1.5, 2)


def test_sleeping_tasks_scale_with_threads():
    result = measure_scaling(sleep_task, [0.05] * 4, workers=[2, 4])
    assert [r.workers for r in result.rows] == [1, 2, 4]  # the 1-worker baseline is added
    assert result.speedup(1) == 1
    assert result.speedup(4) > 2.5
    assert 0 < result.row(4).efficiency <= 1.3
    assert "speedup" in result.table()
    with pytest.raises(KeyError):
        result.row(3)


def test_measure_scaling_rejects_bad_input():
    with pytest.raises(ValueError):
        measure_scaling(noop, [], workers=[1])
    with pytest.raises(ValueError):
        measure_scaling(noop, [1], workers=[0])
    with pytest.raises(ValueError):
        measure_scaling(noop, [1], kind="fiber")


def test_process_pool_runs_importable_workers_and_returns_results_in_order():
    elapsed, results = time_run(cpu_task, [10, 20, 30], workers=2, kind="process")
    assert results == [cpu_task(10), cpu_task(20), cpu_task(30)]
    assert elapsed > 0


def test_workers():
    assert cpu_task(4) == 0 + 1 + 4 + 9
    assert count_primes((0, 100)) == 25
    assert count_primes((100, 1000)) == 168 - 25
    assert len(hash_task(1)) == 64
    assert whoami()[1]
    assert math.isclose(sleep_task(0.0), 0.0)


def test_plot_scaling_draws_ideal_and_measured():
    result = measure_scaling(sleep_task, [0.01] * 2, workers=[1, 2])
    fig = plot_scaling(result, title="t")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["ideal", "measured (threads)"]


def test_plot_scaling_names_the_workers_in_plain_english():
    from threadlab.scaling import Row, Scaling

    result = Scaling(kind="process", tasks=2, cores=2)
    result.rows = [Row(1, 1.0, 1.0, 1.0), Row(2, 0.5, 2.0, 2.0)]
    (ax,) = plot_scaling(result).axes
    assert ax.get_xlabel() == "processes" and ax.lines[1].get_label() == "measured (processes)"
