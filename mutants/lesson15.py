"""Wrong answers to the exercises of lesson 15 (be the scheduler)."""

from mutants import Mutant

WITHDRAW = """    with s.lock:                     # the check and the act in one critical section
        if s.balance >= amount:
            s.balance -= amount"""

THREAD1 = """    with s.left:                     # the same order as thread 0: left, then right
        with s.right:
            s.moved += 1"""

CONSUMER = """    with s.cv:
        while not s.items:           # test again after every wakeup
            s.cv.wait()
        s.items.pop()                # still holding s.cv: nobody can take it meanwhile"""

MAIN = """    with s.slot_cv:
        while s.active >= s.limit:   # the test and the wait under one lock: no gap
            s.slot_cv.wait()
        s.active += 1
        s.started += 1"""
DONE = """    with s.slot_cv:
        s.active -= 1
        s.slot_cv.notify()"""
BOTH = MAIN + "\n\n\ndef scan_done_fixed(s):\n" + DONE
EVENT_VERSION = """    s.lock.acquire()
    if s.active >= s.limit:
        s.lock.release()
        s.slot_free.wait()
    else:
        s.lock.release()
    with s.lock:
        s.active += 1
        s.started += 1


def scan_done_fixed(s):
    with s.lock:
        s.active -= 1
        if s.active == s.limit - 1:
            s.slot_free.set()
            s.slot_free.clear()"""

MUTANTS = {
    "15.1": [
        Mutant("no lock at all", WITHDRAW, "    if s.balance >= amount:\n        s.balance -= amount",
               says="balance never goes below zero"),
        Mutant("the lock around the check only", WITHDRAW,
               "    with s.lock:\n        enough = s.balance >= amount\n    if enough:\n        s.balance -= amount",
               says="balance never goes below zero"),
        Mutant("the lock around the subtraction only", WITHDRAW,
               "    if s.balance >= amount:\n        with s.lock:\n            s.balance -= amount",
               says="balance never goes below zero"),
        Mutant("check and act each in its own critical section", WITHDRAW,
               "    with s.lock:\n        enough = s.balance >= amount\n    if enough:\n        with s.lock:\n"
               "            s.balance -= amount",
               says="balance never goes below zero"),
        Mutant("> for >=", "s.balance >= amount", "s.balance > amount", says="from 80"),
        Mutant("released only when the withdrawal went through", WITHDRAW,
               "    s.lock.acquire()\n    if s.balance >= amount:\n        s.balance -= amount\n        s.lock.release()",
               says="s.lock is free"),
        Mutant("acquired, never released", WITHDRAW,
               "    s.lock.acquire()\n    if s.balance >= amount:\n        s.balance -= amount", says="deadlock"),
        Mutant("the lock taken twice", WITHDRAW,
               "    with s.lock:\n        with s.lock:\n            if s.balance >= amount:\n"
               "                s.balance -= amount",
               says="deadlock"),
    ],
    "15.2": [
        Mutant("the opposite order, unchanged", THREAD1,
               "    with s.right:\n        with s.left:\n            s.moved += 1", says="deadlock"),
        Mutant("only one lock", THREAD1, "    with s.right:\n        s.moved += 1", says="without holding s.left"),
        Mutant("no lock at all", THREAD1, "    s.moved += 1", says="without holding"),
        Mutant("left released before right is taken", THREAD1,
               "    with s.left:\n        pass\n    with s.right:\n        s.moved += 1", says="without holding s.left"),
        Mutant("try the second lock, skip the work if it is taken", THREAD1,
               "    with s.right:\n        if s.left.acquire(blocking=False):\n            s.moved += 1\n"
               "            s.left.release()",
               says="both threads added 1"),
        Mutant("left taken twice", THREAD1, "    with s.left:\n        with s.left:\n            s.moved += 1",
               says="deadlock"),
        Mutant("both acquired, only right released", THREAD1,
               "    s.left.acquire()\n    s.right.acquire()\n    s.moved += 1\n    s.right.release()",
               says="both locks are free again"),
    ],
    "15.3": [
        Mutant("`if` for `while`", "        while not s.items:", "        if not s.items:",
               says="IndexError: pop from empty list"),
        Mutant("pop after leaving the lock", CONSUMER,
               "    with s.cv:\n        while not s.items:\n            s.cv.wait()\n    s.items.pop()",
               says="IndexError: pop from empty list"),
        Mutant("a busy loop instead of wait()", CONSUMER,
               "    while not s.items:\n        pass\n    with s.cv:\n        s.items.pop()",
               says="a loop that spins"),
        Mutant("wait() without testing first", CONSUMER, "    with s.cv:\n        s.cv.wait()\n        s.items.pop()",
               says="deadlock"),
        Mutant("wait() without holding the condition", CONSUMER,
               "    while not s.items:\n        s.cv.wait()\n    s.items.pop()", says="un-acquired lock"),
        Mutant("the test inverted", "        while not s.items:", "        while s.items:", says="IndexError"),
        Mutant("waits but never takes the item", "        s.items.pop()                # still holding s.cv",
               "        s.items[-1]                  # still holding s.cv", says="the consumer took"),
    ],
    "15.4": [
        Mutant("the 2009 tutorial's Event set(); clear()", BOTH, EVENT_VERSION, says="waits for event slot_free"),
        Mutant("the count tested outside the lock", MAIN,
               "    if s.active >= s.limit:\n        with s.slot_cv:\n            s.slot_cv.wait()\n"
               "    with s.slot_cv:\n        s.active += 1\n        s.started += 1",
               says="deadlock"),
        Mutant("wait() without testing the count", MAIN,
               "    with s.slot_cv:\n        s.slot_cv.wait()\n        s.active += 1\n        s.started += 1",
               says="deadlock"),
        Mutant("> for >=", "s.active >= s.limit", "s.active > s.limit", says="never more scans running"),
        Mutant("notify() outside the lock", DONE, "    with s.slot_cv:\n        s.active -= 1\n    s.slot_cv.notify()",
               says="un-acquired lock"),
        Mutant("no notify()", DONE, "    with s.slot_cv:\n        s.active -= 1", says="deadlock"),
        Mutant("the new scan not counted", "        s.started += 1\n", "", says="main started its next scan"),
    ],
}
