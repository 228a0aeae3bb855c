"""Lab 2 (races and locks): wrong answers learners write, each a small edit of the reference."""

from mutants import Mutant

INCREMENT = "        with self._lock:\n            self._value += amount\n            return self._value"
CHECK = "        with self._lock:\n            if self._balances[src] < amount:\n                return False\n"
MOVE = "            self._balances[src] -= amount\n            self._balances[dst] += amount\n"
ORDER = "first, second = sorted((src, dst), key=lambda account: account.number)"
BOTH = "    with first.lock, second.lock:\n        if src.balance < amount:\n            return False\n"

MUTANTS = {
    "ex1-solution": [
        Mutant("no lock around the increment", INCREMENT,
               "        self._value += amount\n        return self._value", says="lost", schedule=True),
        Mutant("a new Lock in every call", INCREMENT,
               "        with threading.Lock():\n            self._value += amount\n            return self._value",
               says="lost", schedule=True),
        Mutant("the count returned after the lock is released", INCREMENT,
               "        with self._lock:\n            self._value += amount\n        return self._value",
               says="ticket", schedule=True),
        Mutant("read, then lock only the write", INCREMENT,
               "        new = self._value + amount\n        with self._lock:\n            self._value = new\n"
               "            return self._value", says="lost", schedule=True),
        Mutant("acquire without release", INCREMENT,
               "        self._lock.acquire()\n        self._value += amount\n        return self._value",
               says="release", schedule=True),
        Mutant("amount ignored", "self._value += amount", "self._value += 1", says="increment(5)"),
    ],
    "ex2-solution": [
        Mutant("balance checked before taking the lock (check-then-act)", CHECK + MOVE,
               "        if self._balances[src] < amount:\n            return False\n        with self._lock:\n" + MOVE,
               says="overdr", schedule=True),
        Mutant("total() without the lock", "        with self._lock:\n            return sum(self._balances)",
               "        return sum(self._balances)", says="total()", schedule=True),
        Mutant("the two updates under two separate locks", MOVE,
               "            self._balances[src] -= amount\n        with self._lock:\n"
               "            self._balances[dst] += amount\n", says="total()", schedule=True),
        Mutant("no lock in transfer at all", CHECK + MOVE + "            return True",
               "        if self._balances[src] < amount:\n            return False\n"
               "        self._balances[src] -= amount\n        self._balances[dst] += amount\n        return True",
               says="hint", schedule=True),
        Mutant("a new Lock in every transfer", CHECK, CHECK.replace("self._lock", "threading.Lock()"), says="hint",
               schedule=True),
        Mutant("<= refuses a transfer of the whole balance", "if self._balances[src] < amount",
               "if self._balances[src] <= amount", says="whole balance"),
        Mutant("refusal not reported: returns None", "                return False\n", "                return\n",
               says="returned"),
    ],
    "ex3-solution": [
        Mutant("locks taken in argument order", ORDER, "first, second = src, dst", says="deadlock", schedule=True),
        Mutant("locks ordered by balance, not by a fixed key", ORDER,
               "first, second = sorted((src, dst), key=lambda account: account.balance)", says="deadlock", schedule=True),
        Mutant("only the source account locked", "with first.lock, second.lock:", "with src.lock:",
               says="held", schedule=True),
        Mutant("balance checked before taking the locks", BOTH,
               "    if src.balance < amount:\n        return False\n    with first.lock, second.lock:\n",
               says="both locks", schedule=True),
        Mutant("locks not released on the refusal path", BOTH + "        src.balance -= amount\n"
               "        dst.balance += amount\n        return True",
               "    first.lock.acquire()\n    second.lock.acquire()\n    if src.balance < amount:\n        return False\n"
               "    src.balance -= amount\n    dst.balance += amount\n    second.lock.release()\n"
               "    first.lock.release()\n    return True", says="locked()", schedule=True),
        Mutant("second lock taken after the check (check under one lock)", BOTH,
               "    with first.lock:\n        if src.balance < amount:\n            return False\n"
               "        second.lock.acquire()\n        second.lock.release()\n", says="both accounts' locks", schedule=True),
    ],
}
