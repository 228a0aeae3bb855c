"""Wrong answers to the exercises of lesson 06 (condition variables and Event)."""

from mutants import Mutant

COUNT_DOWN = """        with self.cond:
            self.count -= 1
            if self.count <= 0:
                self.cond.notify_all()"""
WAIT = "            return self.cond.wait_for(lambda: self.count <= 0, timeout)"

TURN = """                if not cond.wait_for(lambda: turn[0] % len(names) == i, timeout=2):
                    return                       # never our turn: give up instead of hanging"""
START_JOIN = """    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)"""

MUTANTS = {
    "6.1": [
        Mutant("notify() for notify_all()", "self.cond.notify_all()", "self.cond.notify()", says="notify_all()"),
        Mutant("`if` around wait() instead of `while`", WAIT,
               "            if self.count > 0:\n                self.cond.wait(timeout)\n            return self.count <= 0",
               says="test the count again"),
        Mutant("wait() without a predicate", WAIT, "            return self.cond.wait(timeout)",
               says="returned True"),
        Mutant("the result of wait_for not returned", WAIT,
               "            self.cond.wait_for(lambda: self.count <= 0, timeout)", says="returned None"),
        Mutant("the timeout not passed on", WAIT, "            return self.cond.wait_for(lambda: self.count <= 0)",
               says="pass the timeout on"),
        Mutant("the count changed outside the lock", "        with self.cond:\n            self.count -= 1\n",
               "        self.count -= 1\n        with self.cond:\n", says="were lost"),
        Mutant("no lock in count_down()", COUNT_DOWN,
               "        self.count -= 1\n        if self.count <= 0:\n            self.cond.notify_all()",
               says="un-acquired lock"),
        Mutant("notify only when the count is exactly 0, then wait() for notify", WAIT,
               "            if self.count > 0:\n                return self.cond.wait(timeout)\n            return True",
               says="returned True"),
    ],
    "6.2": [
        Mutant("notify() for notify_all()", "cond.notify_all()", "cond.notify()", says="notify_all()"),
        Mutant("`if` around wait() instead of `while`", TURN,
               "                if turn[0] % len(names) != i:\n                    cond.wait(timeout=2)",
               says="whose turn it is again"),
        Mutant("no notify at all",
               "                cond.notify_all()                # the next player is one of several waiters\n", "",
               says="ever called notify()"),
        Mutant("threads started and joined one at a time", START_JOIN,
               "    for t in threads:\n        t.start()\n        t.join(timeout=5)", says="one after another"),
        Mutant("threads never joined", "    for t in threads:\n        t.join(timeout=5)\n", "", says="never joined"),
        Mutant("run() for start()", "        t.start()", "        t.run()", says="called run()"),
        Mutant("the turn counted without modulo", "turn[0] % len(names) == i", "turn[0] == i", says="expected"),
        Mutant("wait_for outside the lock", "            with cond:\n", "            if True:\n",
               says="un-acquired lock"),
    ],
}
