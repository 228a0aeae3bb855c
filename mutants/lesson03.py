"""Wrong answers to lesson 03's exercises (see mutants/README.md)."""

from mutants import Mutant

JOIN_LEFT = "        t.join(max(0.0, deadline - time.monotonic()))     # the time left until the one deadline\n"
IS_PRIME = ("        is_prime = n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))"
            "   # divisors up to the root, included\n")
HOOK_BLOCK = ("    old, threading.excepthook = threading.excepthook, hook\n    try:\n"
              "        threads = [threading.Thread(target=f) for f in functions]\n"
              "        for t in threads:\n            t.start()\n        for t in threads:\n            t.join(timeout=10)\n"
              "    finally:\n        threading.excepthook = old\n")

MUTANTS = {
    "3.1": [
        Mutant("gives each join the whole timeout", "t.join(max(0.0, deadline - time.monotonic()))", "t.join(timeout)",
               says="one deadline"),
        Mutant("joins with no timeout", "t.join(max(0.0, deadline - time.monotonic()))", "t.join()",
               says="join() without a timeout"),
        Mutant("sleeps for the whole timeout", "    for t in threads:\n" + JOIN_LEFT, "    time.sleep(timeout)\n",
               says="return as soon as"),
        Mutant("does not wait at all", "    for t in threads:\n" + JOIN_LEFT, "", says="had not finished yet"),
        Mutant("polls is_alive() in a loop", "    for t in threads:\n" + JOIN_LEFT,
               "    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:\n        pass\n",
               says="busy-wait"),
        Mutant("returns the threads that ended", "if t.is_alive()]", "if not t.is_alive()]",
               says="return the ones still alive"),
        Mutant("a deadline that is not one", "deadline - time.monotonic()", "timeout - time.monotonic()",
               says="had not finished yet"),
        Mutant("looks at is_alive() before waiting",
               "    for t in threads:\n" + JOIN_LEFT + "    return [t for t in threads if t.is_alive()]",
               "    alive = [t for t in threads if t.is_alive()]\n    for t in threads:\n" + JOIN_LEFT + "    return alive",
               says="had not finished yet"),
    ],
    "3.2": [
        Mutant("the tutorial's `while d * d < n`", IS_PRIME,
               "        d, is_prime = 2, n > 1\n        while d * d < n:\n            if n % d == 0:\n"
               "                is_prime = False\n            d += 1\n", says="square root"),
        Mutant("divisors up to the root, excluded", "range(2, int(n**0.5) + 1)", "range(2, int(n**0.5))",
               says="square root"),
        Mutant("1 counted as prime", "is_prime = n > 1 and all(", "is_prime = all(", says="1 is not a prime"),
        Mutant("stores without the lock", "        with self.lock:\n            self.results[n] = is_prime",
               "        self.results[n] = is_prime", says="without holding the lock"),
        Mutant("does the work in the constructor", "self.number, self.results, self.lock = number, results, lock",
               "self.number, self.results, self.lock = number, results, lock\n        self.run()", says="before start()"),
        Mutant("overrides start() instead of run()", "    def run(self):", "    def start(self):",
               says="override run(), not start()"),
        Mutant("forgets super().__init__()", "        super().__init__(name=f\"prime-{number}\")\n", "",
               says="super().__init__()"),
        Mutant("stores into a dict of its own", "self.number, self.results, self.lock = number, results, lock",
               "self.number, self.results, self.lock = number, {}, lock", says="no result for"),
        Mutant("the tutorial's placeholder stored in the constructor",
               "self.number, self.results, self.lock = number, results, lock",
               "self.number, self.results, self.lock = number, results, lock\n"
               "        with lock:\n            results[number] = None", says="before start()"),
    ],
    "3.3": [
        Mutant("never joins", "        for t in threads:\n            t.join(timeout=10)\n", "", says="join every thread"),
        Mutant("joins only the last thread", "        for t in threads:\n            t.join(timeout=10)",
               "        t.join(timeout=10)", says="join every thread"),
        Mutant("restores the hook without finally", HOOK_BLOCK,
               "    old, threading.excepthook = threading.excepthook, hook\n"
               "    threads = [threading.Thread(target=f) for f in functions]\n"
               "    for t in threads:\n        t.start()\n    for t in threads:\n        t.join(timeout=10)\n"
               "    threading.excepthook = old\n", says="finally"),
        Mutant("never restores the hook", "    finally:\n        threading.excepthook = old\n",
               "    finally:\n        pass\n", says="put back"),
        Mutant("installs sys.excepthook", HOOK_BLOCK, HOOK_BLOCK.replace("threading.excepthook", "sys.excepthook"),
               says="threading.excepthook"),
        Mutant("collects the messages, not the type names", "args.exc_type.__name__", "str(args.exc_value)",
               says="names of the exception types"),
        Mutant("one list for every call", "def collect_errors(functions):\n    names, names_lock = [], threading.Lock()",
               "def collect_errors(functions, names=[]):\n    names_lock = threading.Lock()", says="new, empty list"),
    ],
}
