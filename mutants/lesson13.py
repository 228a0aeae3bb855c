"""Wrong answers to lesson 13's exercises (a worker thread behind a user interface), as learners write them."""

from mutants import Mutant

SUM_LOOP = """    for i in range(n):
        if stop.is_set():
            return None
        total += i
    return total"""

QUIT_LOOP = """    while app.thread.is_alive() and time.monotonic() < deadline:
        app.poll()               # the GUI's work: frees the slot, so the blocked put() returns
        app.thread.join(0.01)    # wait in short slices
    return not app.thread.is_alive()"""

MUTANTS = {
    "13.1": [
        Mutant("never looks at the event",
               "        if stop.is_set():\n            return None\n",
               "",
               says="stop was checked 0 time(s)"),
        Mutant("looks at the event every 1000 steps",
               "        if stop.is_set():\n",
               "        if i % 1000 == 0 and stop.is_set():\n",
               says="check `stop.is_set()` before every addition"),
        Mutant("looks once, before the loop",
               SUM_LOOP,
               """    if stop.is_set():
        return None
    for i in range(n):
        total += i
    return total""",
               says="check `stop.is_set()` before every addition"),
        Mutant("breaks out and returns the partial sum",
               "            return None\n",
               "            break\n",
               says="return None"),
        Mutant("forgets the parentheses of is_set",
               "        if stop.is_set():\n",
               "        if stop.is_set:\n",
               says="without the parentheses"),
        Mutant("waits for the event instead of looking at it",
               "        if stop.is_set():\n",
               "        if stop.wait():\n",
               says="use stop.is_set()"),
        Mutant("a while loop that returns what it has when stopped",
               SUM_LOOP,
               """    i = 0
    while i < n and not stop.is_set():
        total += i
        i += 1
    return total""",
               says="return None"),
    ],
    "13.2": [
        Mutant("the slides' Quit: set the flag, then one join",
               QUIT_LOOP,
               "    app.thread.join(timeout)\n    return not app.thread.is_alive()",
               says="in one join()"),
        Mutant("one long join, then a poll",
               QUIT_LOOP,
               "    app.thread.join(timeout)\n    app.poll()\n    return not app.thread.is_alive()",
               says="in one join()"),
        Mutant("join without a timeout",
               QUIT_LOOP,
               "    app.thread.join()\n    return True",
               says="without a timeout waits for a worker that waits for you"),
        Mutant("never sets the quit flag",
               "    app.quit_flag.set()\n",
               "",
               says="quit_flag was never set"),
        Mutant("replaces the Event with True",
               "    app.quit_flag.set()\n",
               "    app.quit_flag = True\n",
               says="app.quit_flag.set()"),
        Mutant("waits in slices but never polls",
               "        app.poll()               # the GUI's work: frees the slot, so the blocked put() returns\n",
               "",
               says="keep doing the GUI's job"),
        Mutant("polls until the worker ends, with no time limit",
               "    while app.thread.is_alive() and time.monotonic() < deadline:\n",
               "    while app.thread.is_alive():\n",
               says="give up when the timeout has passed"),
        Mutant("returns nothing",
               "    return not app.thread.is_alive()",
               "    return",
               says="should return True"),
    ],
}
