"""Wrong answers to the exercises of lesson 04 (race conditions and locks)."""

from mutants import Mutant

LOCKED_STEP = """        with lock:
            seen = box.value
            time.sleep(0)
            box.value = seen + 1"""

ORDERED = """    first, second = sorted((src, dst), key=lambda account: account.number)   # one global order
    with first.lock, second.lock:"""
TEST_AND_MOVE = """        if src.balance < amount:
            raise ValueError(f"account {src.number} has {src.balance}, less than {amount}")
        src.balance -= amount
        dst.balance += amount"""

MUTANTS = {
    "4.1": [
        Mutant("no lock at all", LOCKED_STEP,
               "        seen = box.value\n        time.sleep(0)\n        box.value = seen + 1",
               says="never acquired the lock"),
        Mutant("the lock around the read only", LOCKED_STEP,
               "        with lock:\n            seen = box.value\n        time.sleep(0)\n        box.value = seen + 1",
               says="written on line"),
        Mutant("the lock around the write only", LOCKED_STEP,
               "        seen = box.value\n        time.sleep(0)\n        with lock:\n            box.value = seen + 1",
               says="read on line"),
        Mutant("read and write each locked, the lock let go in between", LOCKED_STEP,
               "        with lock:\n            seen = box.value\n        time.sleep(0)\n"
               "        with lock:\n            box.value = seen + 1",
               says="released between the read"),
        Mutant("a new Lock made inside safe_add", "    for _ in range(n):",
               "    lock = threading.Lock()\n    for _ in range(n):",
               says="never acquired the lock it was given"),
        Mutant("acquire and release without finally", LOCKED_STEP,
               "        lock.acquire()\n        seen = box.value\n        time.sleep(0)\n        box.value = seen + 1\n"
               "        lock.release()",
               says="stayed held"),
        Mutant("acquire without release", LOCKED_STEP,
               "        lock.acquire()\n        seen = box.value\n        time.sleep(0)\n        box.value = seen + 1",
               says="nobody released it"),
        Mutant("non-blocking acquire, result ignored", LOCKED_STEP,
               "        got = lock.acquire(blocking=False)\n        seen = box.value\n        time.sleep(0)\n"
               "        box.value = seen + 1\n        if got:\n            lock.release()",
               says="while the lock was not held"),
        Mutant("sleep(0) between two locked blocks (read; write in separate sections)", LOCKED_STEP,
               "        with lock:\n            seen = box.value\n        with lock:\n            time.sleep(0)\n"
               "            box.value = seen + 1",
               says="released between the read"),
    ],
    "4.2": [
        Mutant("no locks at all", ORDERED + "\n" + TEST_AND_MOVE,
               "    if src.balance < amount:\n        raise ValueError('not enough')\n"
               "    src.balance -= amount\n    dst.balance += amount",
               says="never took"),
        Mutant("one lock at a time, never both",
               ORDERED + "\n" + TEST_AND_MOVE,
               "    with src.lock:\n        if src.balance < amount:\n            raise ValueError('not enough')\n"
               "        src.balance -= amount\n    with dst.lock:\n        dst.balance += amount",
               says="was not held"),
        Mutant("locks taken in argument order (src, then dst)", ORDERED,
               "    with src.lock, dst.lock:", says="deadlock"),
        Mutant("sorted, then locked in argument order anyway", "    with first.lock, second.lock:",
               "    with src.lock, dst.lock:", says="deadlock"),
        Mutant("locks ordered by balance", "key=lambda account: account.number",
               "key=lambda account: account.balance", says="deadlock"),
        Mutant("balance tested before taking the locks (check-then-act)", ORDERED + "\n" + TEST_AND_MOVE,
               "    if src.balance < amount:\n        raise ValueError('not enough')\n" + ORDERED
               + "\n        src.balance -= amount\n        dst.balance += amount",
               says="check-then-act"),
        Mutant("acquire and release without finally", "    with first.lock, second.lock:\n" + TEST_AND_MOVE,
               "    first.lock.acquire()\n    second.lock.acquire()\n"
               "    if src.balance < amount:\n        raise ValueError('not enough')\n"
               "    src.balance -= amount\n    dst.balance += amount\n"
               "    second.lock.release()\n    first.lock.release()",
               says="still held"),
        Mutant("no test of the balance", TEST_AND_MOVE,
               "        src.balance -= amount\n        dst.balance += amount", says="did not raise ValueError"),
        Mutant("money moved outside the inner lock", "    with first.lock, second.lock:\n" + TEST_AND_MOVE,
               "    with first.lock:\n        with second.lock:\n            if src.balance < amount:\n"
               "                raise ValueError('not enough')\n        src.balance -= amount\n"
               "        dst.balance += amount",
               says="was not held"),
    ],
}
