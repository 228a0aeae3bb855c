"""Lab 1 (threads and latency): wrong answers learners write, each a small edit of the reference."""

from mutants import Mutant

JOIN_ALL = "    for t in threads:\n        t.start()\n    for t in threads:\n        t.join()\n    return bodies"

MUTANTS = {
    "ex1-solution": [
        Mutant("results in finish order (first free slot)", "bodies[i] = fetch(url)",
               "bodies[bodies.index(None)] = fetch(url)", says="fetch_all_threads"),
        Mutant("each thread joined right after it starts (sequential threads)", JOIN_ALL,
               "    for t in threads:\n        t.start()\n        t.join()\n    return bodies", says="at once"),
        Mutant("target=fetch_one(i, url): the download runs in the main thread",
               "threading.Thread(target=fetch_one, args=(i, url))", "threading.Thread(target=fetch_one(i, url))",
               says="at once"),
        Mutant("lambda in a comprehension: every thread gets the last URL",
               "threading.Thread(target=fetch_one, args=(i, url))", "threading.Thread(target=lambda: fetch_one(i, url))",
               says="fetch_all_threads"),
        Mutant("only the last thread joined", "    for t in threads:\n        t.join()\n",
               "    threads[-1].join()\n", says="still running"),
        Mutant("a sleep instead of join", "    for t in threads:\n        t.join()\n",
               "    time.sleep(0.5)\n", says="still running"),
        Mutant("never joined", "    for t in threads:\n        t.join()\n", "", says="fetch_all_threads"),
    ],
    "ex2-solution": [
        Mutant("speedup upside down", "return sequential / threaded", "return threaded / sequential",
               says="speedup"),
        Mutant("threads timed twice", "    start = time.perf_counter()\n    fetch_all_sequential(urls)",
               "    start = time.perf_counter()\n    fetch_all_threads(urls)", says="sequential"),
        Mutant("'sequential' that uses the threads", "return [fetch(url) for url in urls]",
               "return fetch_all_threads(urls)", says="requests at once"),
        Mutant("clock not restarted: the threaded time includes the sequential one",
               "    start = time.perf_counter()\n    fetch_all_threads(urls)", "    fetch_all_threads(urls)",
               says="speedup"),
        Mutant("speedup assumed, not measured", "    start = time.perf_counter()\n    fetch_all_sequential(urls)",
               "    return len(urls)\n    start = time.perf_counter()\n    fetch_all_sequential(urls)",
               says="expected each URL twice"),
    ],
    "ex3-solution": [
        Mutant("slot not released when the fetch raises (no with/finally)",
               "        with slots:\n            bodies[i] = fetch(url)",
               "        slots.acquire()\n        bodies[i] = fetch(url)\n        slots.release()", says="slot"),
        Mutant("permit taken before start, released in the thread without finally",
               "        with slots:\n            bodies[i] = fetch(url)\n\n    threads = "
               "[threading.Thread(target=fetch_one, args=(i, url)) for i, url in enumerate(urls)]\n"
               "    for t in threads:\n        t.start()",
               "        bodies[i] = fetch(url)\n        slots.release()\n\n    threads = "
               "[threading.Thread(target=fetch_one, args=(i, url)) for i, url in enumerate(urls)]\n"
               "    for t in threads:\n        slots.acquire()\n        t.start()", says="slot"),
        Mutant("a new Semaphore in every thread", "        with slots:", "        with threading.Semaphore(k):",
               says="at most 3"),
        Mutant("a Lock instead of a Semaphore(k)", "slots = threading.Semaphore(k)", "slots = threading.Lock()",
               says="expected 3"),
        Mutant("Semaphore(k + 1): off by one", "slots = threading.Semaphore(k)",
               "slots = threading.Semaphore(k + 1)", says="at most 3"),
        Mutant("Semaphore(k - 1): off by one", "slots = threading.Semaphore(k)",
               "slots = threading.Semaphore(k - 1)", says="expected 3"),
        Mutant("bounded threads never joined", "    for t in threads:\n        t.join()\n", "",
               says="fetch_all_bounded"),
    ],
}
