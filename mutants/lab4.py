"""Lab 4 (a thread pool): wrong answers learners write, each a small edit of the reference."""

from mutants import Mutant

LOOP = "    while True:\n        item = jobs.get()\n        if item is STOP:\n            return\n"
JOIN = "    for t in pool:\n        t.join()\n"
STOPS = "    for _ in pool:\n        jobs.put(STOP)\n"
COLLECT = ("    answer = [None] * len(items)\n    for _ in range(len(items)):\n        i, value = results.get()\n"
           "        answer[i] = value\n    return answer")

MUTANTS = {
    "ex1-solution": [
        Mutant("while not jobs.empty() instead of waiting for STOP", LOOP,
               "    while not jobs.empty():\n        item = jobs.get()\n        if item is STOP:\n            return\n",
               says="queue was empty"),
        Mutant("get with a timeout: an empty moment ends the worker", "        item = jobs.get()\n",
               "        try:\n            item = jobs.get(timeout=0.05)\n        except queue.Empty:\n            return\n",
               says="queue was empty"),
        Mutant("no try/except: a failing job kills the worker",
               "        try:\n            value = func(x)\n        except Exception as exc:\n            value = exc\n",
               "        value = func(x)\n", says="four is bad"),
        Mutant("the worker stops at the first failing job", "            value = exc\n",
               "            results.put((i, exc))\n            return\n", says="number of results"),
        Mutant("continue at STOP instead of return", "        if item is STOP:\n            return\n",
               "        if item is STOP:\n            continue\n", says="STOP"),
        Mutant("results without their index", "        results.put((i, value))", "        results.put(value)",
               says="what the worker put"),
        Mutant("the job itself put back, not its index", "        results.put((i, value))",
               "        results.put((x, value))", says="what the worker put"),
    ],
    "ex2-solution": [
        Mutant("results in finish order", COLLECT, "    return [results.get()[1] for _ in items]",
               says="index", schedule=True),
        Mutant("each worker joined right after it starts", "    for t in pool:\n        t.start()\n",
               "    for t in pool:\n        t.start()\n        t.join()\n", says="before you join"),
        Mutant("one STOP for the whole pool", STOPS, "    jobs.put(STOP)\n", says="STOP", schedule=True),
        Mutant("STOPs put before the jobs", "    for i, x in enumerate(items):\n        jobs.put((i, x))\n" + STOPS,
               STOPS + "    for i, x in enumerate(items):\n        jobs.put((i, x))\n", says="STOP", schedule=True),
        Mutant("workers never joined", JOIN, "", says="join", schedule=True),
        Mutant("a thread per job instead of `workers` threads", "for _ in range(workers)]", "for _ in items]",
               says="at once"),
        Mutant("one worker too few", "for _ in range(workers)]", "for _ in range(workers - 1)]",
               says="at once"),
        Mutant("the pool's threads run the jobs one at a time (a lock around func)",
               "    pool = [threading.Thread(target=worker, args=(jobs, results, func)) for _ in range(workers)]",
               "    one_at_a_time = threading.Lock()\n\n    def locked(x):\n        with one_at_a_time:\n"
               "            return func(x)\n\n"
               "    pool = [threading.Thread(target=worker, args=(jobs, results, locked)) for _ in range(workers)]",
               says="at once"),
    ],
    "ex3-solution": [
        Mutant("an exception counts as open (truthy)", "if is_open is True", "if is_open", says="raises"),
        Mutant("open ports in the order given, not sorted", "return sorted(port for", "return list(port for",
               says="order"),
        Mutant("one worker, whatever `workers` says", "run_pool(probe, ports, workers)", "run_pool(probe, ports, 1)",
               says="at once"),
        Mutant("a worker per port", "run_pool(probe, ports, workers)", "run_pool(probe, ports, len(ports) or 1)",
               says="at once"),
        Mutant("probes one by one, no pool", "zip(ports, run_pool(probe, ports, workers))",
               "zip(ports, [probe(p) for p in ports])", says="at once"),
    ],
}
