import threading
import time

from threadlab.lessons import lesson01


def test_sequential_vs_threads():
    delays = [0.05] * 4
    assert lesson01.run_sequentially(delays) >= 0.2
    assert lesson01.run_in_threads(delays) < 0.15


def test_checks_accept_the_solutions_and_reject_wrong_answers():
    import math

    assert lesson01.check_predicted_time(lambda t, s, n: math.ceil(t / n) * s)
    wrong = lesson01.check_predicted_time(lambda t, s, n: t * s / n)
    assert wrong.status == "failed" and "rounds" in wrong.message

    def right(delays):
        threads = [threading.Thread(target=time.sleep, args=(d,)) for d in delays]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def sequential(delays):
        for d in delays:
            time.sleep(d)

    def no_join(delays):
        for d in delays:
            threading.Thread(target=time.sleep, args=(d,)).start()

    assert lesson01.check_run_all(right)
    assert "one after another" in lesson01.check_run_all(sequential).message
    assert "join" in lesson01.check_run_all(no_join).message
    time.sleep(0.35)  # let no_join's threads end


def test_summary_and_plot():
    result = lesson01.scaling(max_threads=2, tasks=2, delay=0.01)
    assert lesson01.summary(result).startswith("2 threads")
    assert len(lesson01.plot_elapsed_and_speedup(result).axes) == 2
