"""Lab 3 (build your own primitives): wrong answers learners write, each a small edit of the reference."""

from mutants import Mutant

SEM_ACQUIRE = """        with self._cond:
            while self._value == 0:          # `while`, not `if`: re-check after every wakeup
                if not blocking:
                    return False
                if deadline is None:
                    self._cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False         # leaving the `with` releases the lock
                    self._cond.wait(left)
            self._value -= 1
            return True"""

SEM_ACQUIRE_NO_FINALLY = """        self._cond.acquire()
        while self._value == 0:
            if not blocking:
                self._cond.release()
                return False
            if deadline is None:
                self._cond.wait()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        self._value -= 1
        self._cond.release()
        return True"""

MUTANTS = {
    "ex1-semaphore": [
        Mutant("`if` for `while` around the wait", "while self._value == 0:", "if self._value == 0:",
               says="while", schedule=True),
        Mutant("release(n) wakes one waiter",
               "self._cond.notify(n)             # n permits: n waiting threads may go on",
               "self._cond.notify()", says="notify", schedule=True),
        Mutant("the permit taken outside the lock", "            self._value -= 1\n            return True",
               "        self._value -= 1\n        return True", says="Semaphore(3)", schedule=True),
        Mutant("release adds the permit outside the lock",
               "        with self._cond:\n            self._value += n\n            self._cond.notify(n)",
               "        self._value += n\n        with self._cond:\n            self._cond.notify(n)",
               says="lock", schedule=True),
        Mutant("explicit acquire/release, the lock kept on a timeout (no with/finally)", SEM_ACQUIRE,
               SEM_ACQUIRE_NO_FINALLY, says="lock"),
        Mutant("the timeout ignored while waiting", "self._cond.wait(left)", "self._cond.wait()",
               says="timeout"),
        Mutant("__exit__ swallows exceptions", "    def __exit__(self, exc_type, exc, tb):\n        self.release()",
               "    def __exit__(self, exc_type, exc, tb):\n        self.release()\n        return True",
               says="raise"),
    ],
    "ex1-bounded-semaphore": [
        Mutant("the bound checked before adding n", "if self._value + n > self._initial_value:",
               "if self._value > self._initial_value:", says="ValueError"),
        Mutant("a bounded release that wakes nobody", "            self._value += n\n            self._cond.notify(n)",
               "            self._value += n", says="BoundedSemaphore", schedule=True),
    ],
    "ex2-solution": [
        Mutant("`notify` for `notify_all` in set()",
               "self._cond.notify_all()          # every waiting thread, not just one",
               "self._cond.notify()", says="notify_all", schedule=True),
        Mutant("wait() returns nothing", "            return self._cond.wait(timeout)",
               "            self._cond.wait(timeout)", says="wait"),
        Mutant("wait() sleeps even when the flag is set",
               "            if self._flag:\n                return True\n", "", says="set", schedule=True),
        Mutant("wait() returns the flag after waking (a set() then clear() is missed)",
               "            return self._cond.wait(timeout)",
               "            self._cond.wait(timeout)\n            return self._flag", says="clear"),
    ],
    "ex3-solution": [
        Mutant("`notify` for `notify_all` when the last party arrives",
               "        self._count = 0\n        self._cond.notify_all()",
               "        self._count = 0\n        self._cond.notify()", says="Barrier", schedule=True),
        Mutant("not reusable: the count never goes back to 0", "        self._round = {}\n        self._count = 0\n",
               "        self._round = {}\n", says="Barrier", schedule=True),
        Mutant("a timed-out party does not break the barrier",
               "                self._broken = True              # timed out: break the barrier for everyone\n"
               "                self._new_round(\"broken\")\n", "", says="broken"),
    ],
    "ex4-solution": [
        Mutant("`if` for `while`: put() appends after one wait without re-checking the room",
               "                if not self._not_full.wait_for(self._has_room, timeout):\n"
               "                    raise queue.Full\n",
               "                self._not_full.wait(timeout)\n", says="Queue", schedule=True),
        Mutant("get() wakes a getter instead of a putter",
               "self._not_full.notify()              # one free place: one putter may go on",
               "self._not_empty.notify()", says="wakeup", schedule=True),
        Mutant("task_done() wakes one joiner (`notify` for `notify_all`)",
               "self._all_done.notify_all()      # every thread in join()", "self._all_done.notify()",
               says="notify_all", schedule=True),
        Mutant("last in, first out", "item = self._items.popleft()", "item = self._items.pop()", says="first"),
        Mutant("task_done() never wakes join()",
               "            if self._unfinished == 0:\n"
               "                self._all_done.notify_all()      # every thread in join()\n",
               "", says="join", schedule=True),
    ],
}
