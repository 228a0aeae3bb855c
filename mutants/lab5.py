"""Lab 5 (multiprocessing): wrong answers learners write, each a small edit of the reference."""

from mutants import Mutant

TIMED_PARALLEL = """            start = time.perf_counter()
            counts.add(sum(pool.map(primes_worker.count_primes_in, segments)))"""

PARALLEL_BODY = """    segments = split(0, n, 4 * processes)
    with multiprocessing.get_context(method).Pool(processes) as pool:
        return sum(pool.map(primes_worker.count_primes_in, segments))"""

MUTANTS = {
    "ex1-solution": [
        Mutant("2 is not prime", "        return n == 2", "        return False", says="count_primes_in"),
        Mutant("divisors below the square root only (25 is prime)", "range(3, math.isqrt(n) + 1, 2)",
               "range(3, math.isqrt(n), 2)", says="count_primes_in"),
        Mutant("hi included in the segment", "range(lo, hi) if", "range(lo, hi + 1) if", says="count_primes_in"),
        Mutant("1 counted as a prime", "    if n < 2:\n        return False", "    if n < 1:\n        return False",
               says="count_primes_in"),
    ],
    "ex2-solution": [
        Mutant("a Pool never closed",
               "    with multiprocessing.get_context(method).Pool(processes) as pool:\n"
               "        return sum(pool.map(primes_worker.count_primes_in, segments))",
               "    pool = multiprocessing.get_context(method).Pool(processes)\n"
               "    return sum(pool.map(primes_worker.count_primes_in, segments))", says="never closed"),
        Mutant("a ThreadPool for processes", "with multiprocessing.get_context(method).Pool(processes) as pool:",
               "from multiprocessing.pool import ThreadPool\n    with ThreadPool(processes) as pool:",
               says="started 0 process"),
        Mutant("processes ignored: Pool() with every core", "multiprocessing.get_context(method).Pool(processes)",
               "multiprocessing.get_context(method).Pool()", says="expected a pool of 3"),
        Mutant("the worker defined in the notebook", PARALLEL_BODY,
               "    global count_here\n\n    def count_here(segment):\n"
               "        return primes_worker.count_primes_in(segment)\n\n"
               + PARALLEL_BODY.replace("primes_worker.count_primes_in", "count_here"), says="defined in the notebook"),
        Mutant("a lambda as the worker", "pool.map(primes_worker.count_primes_in, segments)",
               "pool.map(lambda s: primes_worker.count_primes_in(s), segments)", says="pickle"),
        Mutant("the start method ignored", "multiprocessing.get_context(method).Pool(processes)",
               "multiprocessing.Pool(processes)", says="start method"),
        Mutant("split: the last segment stops short of hi", "lo + (hi - lo) * i // parts",
               "lo + (hi - lo) // parts * i", says="split"),
        Mutant("split: segments overlap by one", "return list(zip(bounds[:-1], bounds[1:]))",
               "return [(a, b + 1) for a, b in zip(bounds[:-1], bounds[1:])]", says="split"),
    ],
    "ex3-solution": [
        Mutant("a new Pool started inside the timed region", TIMED_PARALLEL,
               "            start = time.perf_counter()\n"
               "            with multiprocessing.Pool(processes) as fresh:\n"
               "                counts.add(sum(fresh.map(primes_worker.count_primes_in, segments)))",
               says="started while your parallel clock ran"),
        Mutant("timings summed over the runs",
               "best_sequential = min(best_sequential, time.perf_counter() - start)",
               "best_sequential = (0.0 if best_sequential == math.inf else best_sequential) + (time.perf_counter() - start)",
               says="sum"),
        Mutant("the average instead of the best",
               "best_parallel = min(best_parallel, time.perf_counter() - start)",
               "best_parallel = (0.0 if best_parallel == math.inf else best_parallel)"
               " + (time.perf_counter() - start) / repeat",
               says="average"),
        Mutant("a ThreadPool for processes", "with multiprocessing.Pool(processes) as pool:",
               "from multiprocessing.pool import ThreadPool\n    with ThreadPool(processes) as pool:",
               says="started no process"),
        Mutant("a Pool never closed", "with multiprocessing.Pool(processes) as pool:",
               "pool = multiprocessing.Pool(processes)\n    if True:", says="never closed"),
        Mutant("the 'parallel' run is the builtin map", "counts.add(sum(pool.map(primes_worker.count_primes_in, segments)))",
               "counts.add(sum(map(primes_worker.count_primes_in, segments)))", says="counted in this process"),
        Mutant("the pool used one segment at a time: apply in a loop",
               "counts.add(sum(pool.map(primes_worker.count_primes_in, segments)))",
               "counts.add(sum([pool.apply(primes_worker.count_primes_in, (s,)) for s in segments]))",
               says="one segment at a time"),
        Mutant("processes ignored: a pool of one process", "with multiprocessing.Pool(processes) as pool:",
               "with multiprocessing.Pool(1) as pool:", says="one segment at a time"),
        Mutant("every segment in one chunk", "pool.map(primes_worker.count_primes_in, segments)))",
               "pool.map(primes_worker.count_primes_in, segments, chunksize=len(segments))))",
               says="one segment at a time"),
        Mutant("the 'sequential' run uses the pool too",
               "counts.add(sum(primes_worker.count_primes_in(s) for s in segments))",
               "counts.add(sum(pool.map(primes_worker.count_primes_in, segments)))", says="sequential"),
    ],
}
