"""Lab 6 (deadlock): wrong answers learners write, each a small edit of the reference."""

from mutants import Mutant

EAT = "        with table.left(i):\n            with table.right(i):\n                table.eat(i)"
SAFE = "        with first:\n            with second:\n                table.eat(i)"
ORDER = "    first, second = sorted([table.left(i), table.right(i)], key=lambda fork: fork.number)\n"
PROBE = ("        try:\n            if probe(port):\n                with lock:\n                    found.append(port)\n"
         "        finally:\n            slots.release()\n")
LOOP = ("        slots.acquire()\n        thread = threading.Thread(target=scan_one, args=(port,))\n"
        "        thread.start()\n")

MUTANTS = {
    "ex1-solution": [
        Mutant("right fork first", EAT,
               "        with table.right(i):\n            with table.left(i):\n                table.eat(i)",
               says="left(i) first"),
        Mutant("acquire and release without with/finally", EAT,
               "        table.left(i).acquire()\n        table.right(i).acquire()\n        table.eat(i)\n"
               "        table.right(i).release()\n        table.left(i).release()", says="put down"),
        Mutant("eats after putting the right fork down", EAT,
               "        with table.left(i):\n            with table.right(i):\n                pass\n"
               "            table.eat(i)", says="without holding"),
        Mutant("one meal, whatever `meals` says", "    for _ in range(meals):\n", "    for _ in range(1):\n",
               says="meals eaten"),
    ],
    "ex2-solution": [
        Mutant("still left fork first", ORDER, "    first, second = table.left(i), table.right(i)\n",
               says="deadlock", schedule=True),
        Mutant("acquire and release without with/finally", SAFE,
               "        first.acquire()\n        second.acquire()\n        table.eat(i)\n        second.release()\n"
               "        first.release()", says="put down"),
        Mutant("only the lower fork", SAFE, "        with first:\n            table.eat(i)", says="without holding"),
        Mutant("one meal too few", "    for _ in range(meals):\n", "    for _ in range(meals - 1):\n",
               says="meals eaten"),
        Mutant("one lock for the whole table (safe but serial)", SAFE,
               "        with safe_philosopher.__dict__.setdefault('waiter', threading.Lock()):\n"
               "            with first:\n                with second:\n                    table.eat(i)",
               says="serial"),
    ],
    "ex3-solution": [
        Mutant("permit not released when the probe raises (no finally)", PROBE,
               "        if probe(port):\n            with lock:\n                found.append(port)\n"
               "        slots.release()\n", says="permit", schedule=True),
        Mutant("permit taken inside each scanner thread", PROBE + "\n    threads = []\n    for port in ports:\n" + LOOP,
               "        slots.acquire()\n" + PROBE + "\n    threads = []\n    for port in ports:\n"
               "        thread = threading.Thread(target=scan_one, args=(port,))\n        thread.start()\n",
               says="alive"),
        Mutant("permit released before the probe", PROBE,
               "        slots.release()\n        if probe(port):\n            with lock:\n"
               "                found.append(port)\n", says="at once", schedule=True),
        Mutant("Semaphore(max_threads + 1)", "slots = threading.BoundedSemaphore(max_threads)",
               "slots = threading.Semaphore(max_threads + 1)", says="at once"),
        Mutant("scanners never joined", "    for thread in threads:\n        thread.join()\n", "", says="join",
               schedule=True),
        Mutant("each scanner joined right after it starts", LOOP, LOOP + "        thread.join()\n",
               says="at once"),
        Mutant("open ports in finish order, not sorted", "return sorted(found)", "return found",
               says="open ports returned"),
        Mutant("permit never released", "        finally:\n            slots.release()\n",
               "        finally:\n            pass\n", says="permit", schedule=True),
        Mutant("a failing probe kills the scan: exception not caught, found not updated", PROBE,
               "        if probe(port):\n            found.append(port)\n        slots.release()\n", says="permit",
               schedule=True),
    ],
}
