"""Wrong answers to lesson 01's exercises (see mutants/README.md)."""

from mutants import Mutant

MUTANTS = {
    "1.1": [
        Mutant("joins each thread right after starting it",
               "    for t in threads:\n        t.start()\n    for t in threads:\n        t.join(timeout=10)",
               "    for t in threads:\n        t.start()\n        t.join(timeout=10)",
               says="one after another"),
        Mutant("never joins", "    for t in threads:\n        t.join(timeout=10)\n", "", says="join() every thread"),
        Mutant("joins only the last thread", "    for t in threads:\n        t.join(timeout=10)",
               "    t.join(timeout=10)", says="still running"),
        Mutant("calls run() instead of start()", "t.start()", "t.run()", says="never t.run()"),
        Mutant("calls the function instead of passing it", "target=run, args=(i, a)", "target=run(i, a)",
               says="not target=task(x)"),
        Mutant("appends the results in the order they come", "    results = [None] * len(args)\n\n"
               "    def run(i, a):\n        results[i] = task(a)",
               "    results = []\n\n    def run(i, a):\n        results.append(task(a))",
               says="order in which the threads finished"),
        Mutant("returns what join() returns", "    for t in threads:\n        t.join(timeout=10)\n    return results",
               "    return [t.join(timeout=10) for t in threads]", says="join() returns None"),
        Mutant("a lambda that reads the loop variable late", "target=run, args=(i, a)) for i, a in enumerate(args)]",
               "target=lambda: run(i, a)) for i, a in enumerate(args)]", says="loop variable's last value"),
    ],
    "1.2": [
        Mutant("a thread per task instead of n",
               "        for k in range(i, len(args), n):      # this thread's share: tasks i, i + n, i + 2n, ...\n"
               "            results[k] = task(args[k])\n\n"
               "    threads = [threading.Thread(target=worker, args=(i,)) for i in range(min(n, len(args)))]",
               "        results[i] = task(args[i])\n\n"
               "    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(args))]",
               says="a pool of n threads uses"),
        Mutant("one thread too few", "for i in range(min(n, len(args)))]", "for i in range(min(n, len(args)) - 1)]",
               says="should share them"),
        Mutant("joins each thread right after starting it",
               "    for t in threads:\n        t.start()\n    for t in threads:\n        t.join(timeout=30)",
               "    for t in threads:\n        t.start()\n        t.join(timeout=30)", says="one after another"),
        Mutant("every thread runs every task", "for k in range(i, len(args), n):", "for k in range(len(args)):",
               says="more than once"),
        Mutant("blocks of len // n tasks: the rest is never run", "for k in range(i, len(args), n):",
               "for k in range(i * (len(args) // n), (i + 1) * (len(args) // n)):", says="never run"),
        Mutant("never joins", "    for t in threads:\n        t.join(timeout=30)\n", "", says="join() every thread"),
        Mutant("calls run() instead of start()", "t.start()", "t.run()", says="never t.run()"),
        Mutant("starts n threads that each run the whole list", "            results[k] = task(args[k])",
               "            results[k] = task(args[k])\n        for k in range(len(args)):\n            task(args[k])",
               says="more than once"),
    ],
}
