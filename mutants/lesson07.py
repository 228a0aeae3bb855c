"""Wrong answers to the exercises of lesson 07 (timesharing and load balancing)."""

from mutants import Mutant

TAKE = """            with lock:                          # read the position and move it on, in one step
                start = position
                position += chunk
            mine = items[start:start + chunk]
            if not mine:
                return
            for item in mine:                   # the jobs run after the lock is released
                job(item)"""
JOBS_UNDER_LOCK = """            with lock:
                start = position
                position += chunk
                mine = items[start:start + chunk]
                if not mine:
                    return
                for item in mine:
                    job(item)"""
START_JOIN = """    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=10)"""
SPLIT = """    lists = [[] for _ in range(threads)]
    costs = [0] * threads
    for cost, job in sorted(tasks, key=lambda task: task[0], reverse=True):
        cheapest = costs.index(min(costs))
        lists[cheapest].append(job)
        costs[cheapest] += cost
"""
THREADS = """    pool = [threading.Thread(target=worker, args=(jobs,)) for jobs in lists]
""" + START_JOIN

MUTANTS = {
    "7.1": [
        Mutant("position moved on outside the lock", "                start = position\n                position += chunk",
               "                start = position\n            position = start + chunk", says="same position"),
        Mutant("no lock at all",
               "            with lock:                          # read the position and move it on, in one step\n"
               "                start = position\n                position += chunk",
               "            start = position\n            position += chunk", says="same position"),
        Mutant("one item per visit to the lock",
               "                position += chunk\n            mine = items[start:start + chunk]",
               "                position += 1\n            mine = items[start:start + 1]", says="at once"),
        Mutant("the jobs run while holding the lock", TAKE, JOBS_UNDER_LOCK, says="same time"),
        Mutant("off by one at the end of a chunk", "mine = items[start:start + chunk]",
               "mine = items[start:start + chunk - 1]", says="never done"),
        Mutant("threads started and joined one at a time", START_JOIN,
               "    for t in pool:\n        t.start()\n        t.join(timeout=10)", says="one after another"),
        Mutant("run() for start()", "        t.start()", "        t.run()", says="called run()"),
        Mutant("threads never joined", "    for t in pool:\n        t.join(timeout=10)\n", "", says="never joined"),
    ],
    "7.2": [
        Mutant("greedy, but not biggest first", "sorted(tasks, key=lambda task: task[0], reverse=True)", "tasks",
               says="biggest task first"),
        Mutant("smallest first", "reverse=True", "reverse=False", says="biggest task first"),
        Mutant("equal numbers of tasks per thread", SPLIT,
               "    size = -(-len(tasks) // threads)\n"
               "    lists = [[job for cost, job in tasks[i * size:(i + 1) * size]] for i in range(threads)]\n",
               says="equal numbers of tasks are not equal work"),
        Mutant("tasks dealt in turn", SPLIT,
               "    lists = [[job for cost, job in tasks[i::threads]] for i in range(threads)]\n",
               says="biggest task first"),
        Mutant("threads started and joined one at a time", START_JOIN,
               "    for t in pool:\n        t.start()\n        t.join(timeout=10)", says="one after another"),
        Mutant("run() for start()", "        t.start()", "        t.run()", says="called run()"),
        Mutant("threads never joined", "    for t in pool:\n        t.join(timeout=10)\n", "", says="never joined"),
        Mutant("the jobs run in the calling thread", THREADS, "    for jobs in lists:\n        worker(jobs)",
               says="started 0 thread"),
    ],
}
