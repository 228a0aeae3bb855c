"""Wrong answers to the exercises of lesson 14 (debugging threaded programs)."""

from mutants import Mutant

WAIT = """        if not done.wait(after):     # False: the time ran out before done was set
            dump()"""

RESULTS = """    results = [None] * len(items)
    errors = [None] * len(items)

    def work(i, item):
        try:
            results[i] = fn(item)"""
ERRORS = """    errors = [None] * len(items)

    def work(i, item):
        try:
            results[i] = fn(item)
        except Exception as exc:     # kept, and raised again in the caller below
            errors[i] = exc"""
CATCH = """        try:
            results[i] = fn(item)
        except Exception as exc:     # kept, and raised again in the caller below
            errors[i] = exc"""
START_JOIN = """    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)"""
JOIN_RAISE = """    for t in threads:
        t.join(timeout=10)
    for exc in errors:
        if exc is not None:
            raise exc"""
RAISE = """    for exc in errors:
        if exc is not None:
            raise exc
"""

MUTANTS = {
    "14.1": [
        Mutant("time.sleep(after), then a look at done", WAIT,
               "        time.sleep(after)\n        if not done.is_set():\n            dump()",
               says="instead of time.sleep(after)"),
        Mutant("done.wait() without a timeout", "done.wait(after)", "done.wait()", says="never called"),
        Mutant("the test inverted: dump when done was set", "if not done.wait(after)", "if done.wait(after)",
               says="done was set in time"),
        Mutant("dump in a loop until done", "        if not done.wait(after):", "        while not done.wait(after):",
               says="once is enough"),
        Mutant("dump at once, without waiting", "if not done.wait(after)", "if not done.is_set()",
               says="dump() was called"),
        Mutant("an unnamed thread", 'name="watchdog", ', "", says="name it 'watchdog'"),
        Mutant("the thread never started", "    watchdog.start()\n", "", says="never started"),
        Mutant("run() for start()", "watchdog.start()", "watchdog.run()", says="had not returned"),
        Mutant("the watchdog joined before returning", "    watchdog.start()\n",
               "    watchdog.start()\n    watchdog.join()\n", says="had not returned"),
        Mutant("the thread not returned", "    return watchdog", "", says="return the thread"),
    ],
    "14.2": [
        Mutant("the errors kept but never raised", RAISE, "", says="vanished"),
        Mutant("no try/except in the thread", CATCH, "        results[i] = fn(item)", says="vanished"),
        Mutant("results appended as threads finish", RESULTS,
               RESULTS.replace("[None] * len(items)\n    errors", "[]\n    errors", 1).replace(
                   "results[i] = fn(item)", "results.append(fn(item))"),
               says="in the order the threads finished"),
        Mutant("errors appended as threads fail", ERRORS,
               ERRORS.replace("[None] * len(items)", "[]").replace("errors[i] = exc", "errors.append(exc)"),
               says="first failing item"),
        Mutant("each thread started and joined in turn", START_JOIN,
               "    for t in threads:\n        t.start()\n        t.join(timeout=10)", says="at the same time"),
        Mutant("run() for start()", "        t.start()", "        t.run()", says="start(), not run()"),
        Mutant("threads never joined", "    for t in threads:\n        t.join(timeout=10)\n", "",
               says="join every thread"),
        Mutant("raise at the first failed thread while joining", JOIN_RAISE,
               "    for i, t in enumerate(threads):\n        t.join(timeout=10)\n        if errors[i] is not None:\n"
               "            raise errors[i]",
               says="still running"),
        Mutant("a new exception instead of the one raised", "            raise exc",
               '            raise RuntimeError("a thread failed")', says="raised again as it is"),
    ],
}
