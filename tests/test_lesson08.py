"""Unit tests for threadlab.lessons.lesson08 (queues and thread pools)."""

import queue
import threading
import urllib.error

import pytest

from threadlab.checks import threads_left
from threadlab.lessons import lesson08 as L


def test_join_with_timeout_true_when_all_done_false_when_one_is_forgotten():
    q = queue.Queue()
    q.put(1)
    q.get()
    assert not L.join_with_timeout(q, 0.05)  # got, but never marked done
    q.task_done()
    assert L.join_with_timeout(q, 0.05)


@pytest.mark.parametrize("threads", [1, 3])
def test_parallel_quicksort_sorts_and_counts_every_job(threads):
    a = L.shuffled(500, seed=threads)
    report = L.parallel_quicksort(a, threads)
    assert a == list(range(500))
    assert sum(report.partitions.values()) == 500  # one pivot placed per partition
    assert sum(report.empty_jobs.values()) == 501  # n pivots -> n + 1 empty leaves
    assert set(report.partitions) <= {f"sorter-{i}" for i in range(threads)}
    assert "total" in report.table()


def test_parallel_quicksort_handles_duplicates_and_tiny_inputs():
    for a in ([], [1], [2, 1], [3, 3, 1, 3, 2, 2]):
        b = list(a)
        L.parallel_quicksort(b, 2)
        assert b == sorted(a)


def test_page_links_reach_every_page():
    pages = 25
    seen, todo = {0}, [0]
    while todo:
        for j in L.page_links(todo.pop(), pages):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    assert seen == set(range(pages))


def test_crawl_fetches_every_page_exactly_once_and_cleans_up():
    before = set(threading.enumerate())
    with L.PageServer(pages=15, latency=0.0) as site:
        result = L.crawl(site.url + "/page/0", pool_size=3)
        assert sorted(result.fetched) == sorted(f"{site.url}/page/{i}" for i in range(15))
        assert set(site.hits.values()) == {1} and len(site.hits) == 15
        assert sum(result.by_thread.values()) == 15
        with pytest.raises(urllib.error.HTTPError):
            L.fetch(site.url + "/page/99")
    assert threads_left(before, timeout=2) == []


def test_spider_scaling_measures_each_pool_size():
    with L.PageServer(pages=8, latency=0.0) as site:
        result = L.spider_scaling(site, 3)
    assert [c.pool_size for c in result.crawls] == [1, 2, 3]
    assert result.rate(3) > 0
    assert "pages/s" in result.table() and "pool of 3" in L.spider_summary(result)
    L.plot_spider(result)


def test_spider_scaling_on_own_site_closes_its_site():
    before = set(threading.enumerate())
    result = L.spider_scaling_on_own_site(2, pages=6, latency=0.0)
    assert [c.pool_size for c in result.crawls] == [1, 2]
    assert (result.pages, result.latency) == (6, 0.0)
    assert all(len(c.fetched) == 6 for c in result.crawls)
    assert threads_left(before, timeout=2) == []   # the site's server and request threads are gone


def test_pool_sizes_up_to():
    assert L.pool_sizes_up_to(1) == [1]
    assert L.pool_sizes_up_to(6) == [1, 2, 4, 6]
    assert L.pool_sizes_up_to(8) == [1, 2, 4, 8]


def test_factory_packs_bodies_with_four_wheels_in_order():
    f = L.run_factory(cars=3, body_time=0.001, wheel_time=0.0, pack_time=0.0, maxsize=1)
    assert f.cars == [(f"body-{i}", tuple(f"wheel-{4 * i + k}" for k in range(4))) for i in range(3)]
    assert f.max_waiting["body"] <= 1 and f.max_waiting["wheel"] <= 4


def test_start_workers_stop_at_sentinels():
    q, results = queue.Queue(), []
    threads = L.start_workers(3, q, results)
    for x in range(10):
        q.put(x)
    for _ in threads:
        q.put(L.STOP)
    assert L.join_all(threads, 2) == []
    assert sorted(results) == [x * x for x in range(10)]


def test_queue_orders():
    out = L.queue_orders([(2, "b"), (1, "a"), (3, "c")])
    assert out["Queue (FIFO)"] == out["SimpleQueue"] == [(2, "b"), (1, "a"), (3, "c")]
    assert out["LifoQueue"] == [(3, "c"), (1, "a"), (2, "b")]
    assert out["PriorityQueue"] == [(1, "a"), (2, "b"), (3, "c")]


def test_shutdown_facts_match_the_python_version():
    facts = L.shutdown_facts(timeout=1)
    if not L.has_queue_shutdown():
        assert facts is None
    else:
        assert facts["blocked get() woken with"] == "ShutDown"
        assert facts["items still delivered"] == ["a", "b"]


def _good_pool_map(fn, items, workers):
    jobs, results = queue.Queue(), [None] * len(items)

    def work():
        while (job := jobs.get(timeout=5)) is not L.STOP:
            i, x = job
            results[i] = fn(x)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for job in enumerate(items):
        jobs.put(job)
    for _ in threads:
        jobs.put(L.STOP)
    for t in threads:
        t.join()
    return results


def test_check_pool_map_accepts_a_solution_and_rejects_a_sequential_one():
    assert L.check_pool_map(_good_pool_map)
    assert not L.check_pool_map(lambda fn, items, workers: [fn(x) for x in items])
    assert L.check_pool_map(lambda *a: (_ for _ in ()).throw(NotImplementedError)).status == "not attempted"


def test_check_robust_worker():
    def good(q, handle, errors):
        while (item := q.get(timeout=5)) is not L.STOP:
            try:
                handle(item)
            except Exception as exc:
                errors.append(exc)
            finally:
                q.task_done()

    def forgets(q, handle, errors):
        while (item := q.get(timeout=5)) is not L.STOP:
            try:
                handle(item)
                q.task_done()
            except Exception as exc:
                errors.append(exc)

    assert L.check_robust_worker(good)
    assert L.check_robust_worker(forgets).status == "failed"


def test_best_sort_times_reports_wall_and_cpu_per_thread_count():
    best = L.best_sort_times(300, threads=(1, 2), repeat=2)
    assert set(best) == {1, 2}
    assert all(wall > 0 and cpu > 0 for wall, cpu in best.values())
