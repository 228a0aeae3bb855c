"""Checks for the exercises on starting, joining and subclassing threads (lessons 01 and 03).

Each check hands the learner's function tasks of its own that make the common mistakes show up
every time, by construction rather than by timing:

- tasks that meet at a :class:`threading.Barrier` (or wait for one another in a chain) can only
  all finish when they run at the same time, so "threads" started and joined one at a time are
  caught whatever the machine's load;
- a task that is still running when the learner's function returns sees the check's ``returned``
  event, so a missing ``join`` is caught even when the threads happen to be quick;
- tasks record the thread that ran them, so ``t.run()`` or ``target=task(x)`` (the work done in
  the caller's own thread) is named as such.

Every wait inside a check has a timeout, and a check cleans up the threads it caused.
"""

from __future__ import annotations

import threading
import time

from threadlab.checks import check, run_with_timeout, threads_left

WAIT = 2.0  #: seconds a task waits for the others before it concludes they are not running alongside it
HOLD = 0.5  #: seconds the last task keeps running, so that a function that does not join returns first
CHECK_TIMEOUT = 9.0  #: every check ends well within the grader's 10 s cell timeout


class _Tasks:
    """A task function for the learner's code, and what happened when it was called."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[tuple[object, threading.Thread]] = []  # (argument, thread that ran it)
        self.running = 0
        self.caller: threading.Thread | None = None  # the thread that called the learner's function
        self.returned = threading.Event()  # set by the check when the learner's function has returned
        self.after_return: list[object] = []  # tasks that were still running (or not started) then
        self.alone = False  # a task waited for others that never came

    def begin(self, arg) -> int:
        with self.lock:
            self.calls.append((arg, threading.current_thread()))
            self.running += 1
            return len(self.calls) - 1

    def end(self, arg) -> None:
        with self.lock:
            self.running -= 1
            if self.returned.is_set():
                self.after_return.append(arg)

    def args_seen(self) -> list:
        return [a for a, _ in self.calls]

    def threads_used(self) -> set[threading.Thread]:
        return {t for _, t in self.calls}

    def call(self, fn, *args):
        """Call the learner's function in this thread; note the moment it returns."""
        self.caller = threading.current_thread()
        try:
            return fn(*args)
        except RuntimeError as exc:
            if "before it is started" in str(exc):
                raise AssertionError(f"join() raised RuntimeError('{exc}'): a Thread runs only once start() has been "
                                     "called. Call t.start(), never t.run(): run() executes the function in your own "
                                     "thread, and the Thread object never starts.") from None
            if "started once" in str(exc):
                raise AssertionError(f"start() raised RuntimeError('{exc}'): start each Thread exactly once") from None
            raise
        finally:
            self.returned.set()


def _finish(before: set, timeout: float = 3.0) -> None:
    """Give the threads a wrong answer left running a moment to end, so the next check starts clean."""
    threads_left(before, timeout=timeout)


def _problems_with_threads(tasks: _Tasks, what: str) -> str | None:
    """The first of the mistakes every 'run these tasks in threads' exercise can make, or None."""
    if any(t is tasks.caller for t in tasks.threads_used()):
        return (f"{what}'s tasks ran in the thread that called it, not in threads of their own. Call "
                "t.start() (never t.run()), and pass the function itself: target=task, args=(x,), "
                "not target=task(x).")
    if tasks.alone:
        return (f"the tasks ran one after another: each waited {WAIT:g} s for the others to run alongside it. "
                "Start every thread first, then join them (a join right after each start waits for that "
                "thread before the next one exists).")
    if tasks.after_return:
        return (f"{what} returned while tasks were still running (task({tasks.after_return[0]!r}) finished "
                "later): join() every thread before you return.")
    return None


def _expect_each_once(tasks: _Tasks, args: list) -> None:
    seen = tasks.args_seen()
    if sorted(seen, key=repr) == sorted(args, key=repr):
        return
    missing = [a for a in args if a not in seen]
    repeated = sorted({a for a in seen if seen.count(a) > 1}, key=repr)
    if len(set(map(repr, seen))) == 1 and len(args) > 1:
        raise AssertionError(
            f"every thread ran task({seen[0]!r}): the threads all saw the loop variable's last value. A lambda "
            "or inner function made in a loop reads the variable when it runs, not when it was made: "
            "pass the value with args=(x,).")
    raise AssertionError(f"each argument must be run exactly once; never run: {missing}, run more than once: "
                         f"{repeated} (look at how you hand the arguments to the threads)")


# ---------------------------------------------------------------- exercise 1.1


def check_fetch_all(fetch_all, timeout: float = CHECK_TIMEOUT):
    """Exercise 1.1: ``fetch_all(task, args)`` returns ``[task(a) for a in args]``, each call in a thread
    of its own, all running at the same time, results in the order of ``args``.

    The check's tasks finish in *reverse* order by construction (each waits for the thread of the next
    argument to end), so results gathered in the order the threads finish come out reversed every time.
    """

    def run_once(args: list) -> None:
        tasks = _Tasks()
        started = {a: threading.Event() for a in args}
        thread_of: dict = {}

        def task(a):
            tasks.begin(a)
            thread_of[a] = threading.current_thread()
            started[a].set()
            try:
                later = args[args.index(a) + 1] if a in args and args.index(a) + 1 < len(args) else None
                if later is not None and not tasks.alone:
                    # wait for the next argument's thread to end: the threads finish last to first
                    if started[later].wait(WAIT) and thread_of[later] is not threading.current_thread():
                        thread_of[later].join(WAIT)
                    else:
                        tasks.alone = True
                if a == args[0]:
                    tasks.returned.wait(HOLD)  # the first argument's task ends last
                return 10 * a + 1
            finally:
                tasks.end(a)

        before = set(threading.enumerate())
        try:
            got = tasks.call(fetch_all, task, list(args))
        finally:
            _finish(before)
        problem = _problems_with_threads(tasks, "fetch_all")
        if problem:
            raise AssertionError(problem)
        _expect_each_once(tasks, args)
        expected = [10 * a + 1 for a in args]
        if got is None:
            raise AssertionError("fetch_all returned None: return the list of results")
        got = list(got)
        if got == expected:
            return
        if all(r is None for r in got):
            raise AssertionError(f"fetch_all returned {got}: Thread.join() returns None, not the task's result. "
                                 "Let each thread store its result, e.g. in results[i].")
        if sorted(got, key=repr) == sorted(expected, key=repr):
            raise AssertionError(
                f"expected the results in the order of the arguments, {expected}, got {got}: the order in which the "
                "threads finished. Store each result at its argument's index instead of appending it.")
        raise AssertionError(f"fetch_all(task, {args}) returned {got}, expected {expected}")

    def test():
        run_once([0, 1, 2, 3, 4])
        run_once([5, 6, 7])  # a second call: results of the first must not be in it

    return check("Exercise 1.1", test, timeout=timeout)


# ---------------------------------------------------------------- exercise 1.2


def check_run_on_threads(run_on_threads, timeout: float = CHECK_TIMEOUT):
    """Exercise 1.2: ``run_on_threads(task, args, n)``: a pool of exactly ``n`` threads (fewer when there
    are fewer tasks) runs ``task(a)`` for every ``a``; returns the results in the order of ``args``.

    The first tasks to start wait at a Barrier for as many parties as there should be threads, so a
    pool that runs fewer tasks at once (or one at a time) is caught; counting the threads that ran
    tasks catches a pool of the wrong size.
    """

    def run_once(args: list, n: int) -> None:
        tasks = _Tasks()
        k = min(n, len(args))
        barrier = threading.Barrier(k)

        def task(a):
            index = tasks.begin(a)
            try:
                if index < k and not tasks.alone:
                    try:
                        barrier.wait(WAIT)
                    except threading.BrokenBarrierError:
                        tasks.alone = True
                if index == len(args) - 1:
                    tasks.returned.wait(HOLD)  # the last task to start keeps running a moment
                return 10 * a + 1
            finally:
                tasks.end(a)

        before = set(threading.enumerate())
        try:
            got = tasks.call(run_on_threads, task, list(args), n)
        finally:
            _finish(before)
            barrier.abort()
        used = tasks.threads_used() - {tasks.caller}
        if not any(t is tasks.caller for t in tasks.threads_used()):
            if len(used) < k:
                raise AssertionError(f"run_on_threads(task, {len(args)} tasks, n={n}) ran them on {len(used)} "
                                     f"thread(s): {k} threads should share them and run at the same time")
            if len(used) > k:
                raise AssertionError(f"run_on_threads(task, {len(args)} tasks, n={n}) ran them on {len(used)} threads;"
                                     f" a pool of n threads uses {k} (n, or fewer when there are fewer tasks), and "
                                     "each thread runs its share of the tasks one after another")
        problem = _problems_with_threads(tasks, "run_on_threads")
        if problem:
            raise AssertionError(problem)
        _expect_each_once(tasks, args)
        expected = [10 * a + 1 for a in args]
        if got is None or list(got) != expected:
            raise AssertionError(f"run_on_threads(task, {args}, n={n}) returned {got!r}, expected the results in the "
                                 f"order of the arguments: {expected}")

    def test():
        run_once(list(range(7)), 3)
        run_once(list(range(3)), 5)
        run_once(list(range(4)), 1)

    return check("Exercise 1.2", test, timeout=timeout)


# ---------------------------------------------------------------- exercise 3.1


def check_wait_all(wait_all, timeout: float = CHECK_TIMEOUT):
    """Exercise 3.1: ``wait_all(threads, timeout)`` waits for started threads with one deadline for all of
    them (not ``timeout`` each) and returns the list of those still alive."""
    release = threading.Event()

    def stuck():
        release.wait(20)

    def quick():
        time.sleep(0.1)  # alive when a wait_all that does not wait looks, ended long before 0.6 s

    def call(threads, limit):
        for t in threads:
            t.start()
        def timed():
            cpu0 = time.thread_time()
            result = wait_all(threads, limit)
            return result, time.thread_time() - cpu0

        start = time.perf_counter()
        finished, value, error = run_with_timeout(timed, limit + 3.0)
        elapsed = time.perf_counter() - start
        if not finished:
            raise AssertionError(f"wait_all(threads, timeout={limit}) was still waiting {limit + 3:g} s later: "
                                 "join() without a timeout waits for ever for a thread that never ends.")
        if error is not None:
            raise error
        got, cpu = value
        return got, elapsed, cpu

    def test():
        try:
            mixed = [threading.Thread(target=f, name=f"{f.__name__}-{i}") for i, f in enumerate([stuck, quick] * 3)]
            got, elapsed, cpu = call(mixed, 0.6)
            if got is None:
                raise AssertionError("wait_all returned None: return the list of threads still alive")
            got = list(got)
            stuck_ones = [t for t in mixed if t.name.startswith("stuck")]   # alive until the check releases them
            if {id(t) for t in got} != {id(t) for t in stuck_ones}:
                names = sorted(getattr(t, "name", repr(t)) for t in got)
                ended = [t for t in got if t in mixed and not t.name.startswith("stuck")]
                if ended and len(ended) == len(got):
                    hint = "those are the threads that ended: return the ones still alive (is_alive() is true)"
                elif ended:
                    hint = ("some of them had not finished yet when you looked: wait (join with the time left) "
                            "before you check is_alive()")
                else:
                    hint = "return the threads that are still alive"
                raise AssertionError(f"3 threads of 6 never end, 3 end after 0.1 s; with timeout 0.6 s expected the "
                                     f"3 stuck ones, got {names}: {hint}")
            if elapsed > 0.6 + 0.6:
                raise AssertionError(f"wait_all(threads, timeout=0.6) took {elapsed:.1f} s: each join waited its own "
                                     "timeout. Compute one deadline, and give each join the time left until it.")
            if cpu > 0.1:
                raise AssertionError(f"wait_all used {cpu:.2f} s of CPU while it waited: a loop that checks "
                                     "is_alive() again and again busy-waits. join(timeout) sleeps.")
            quick_ones = [threading.Thread(target=quick) for _ in range(3)]
            got, elapsed, _ = call(quick_ones, 5.0)
            if list(got or []) != []:
                names = [getattr(t, "name", repr(t)) for t in got]
                raise AssertionError(f"three threads that end after 0.1 s, timeout 5 s: expected [], got {names}: wait "
                                     "for them (join with the time left) before you check is_alive()")
            if elapsed > 2.5:
                raise AssertionError(f"three threads that end after 0.1 s: wait_all(threads, timeout=5) took "
                                     f"{elapsed:.1f} s. Return as soon as they have all ended (join returns then).")
            got, _, _ = call([], 1.0)
            if list(got or []) != []:
                raise AssertionError(f"wait_all([], 1.0) returned {got}, expected []")
        finally:
            release.set()

    before = set(threading.enumerate())
    verdict = check("Exercise 3.1", test, timeout=timeout)
    _finish(before)
    return verdict


# ---------------------------------------------------------------- exercise 3.2


class TracingLock:
    """A Lock that remembers which thread holds it (for checks: was the store made under the lock?)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.owner: threading.Thread | None = None
        self.acquired = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.owner = threading.current_thread()
            self.acquired += 1
        return got

    def release(self) -> None:
        self.owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def held_by_me(self) -> bool:
        return self._lock.locked() and self.owner is threading.current_thread()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


class _Results(dict):
    """The shared dict of exercise 3.2: every store notes the thread and whether it held the lock."""

    def __init__(self, lock: TracingLock):
        super().__init__()
        self.lock = lock
        self.stores: list[tuple[object, threading.Thread, bool]] = []

    def __setitem__(self, key, value):
        self.stores.append((key, threading.current_thread(), self.lock.held_by_me()))
        super().__setitem__(key, value)


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


PRIME_NUMBERS = [1, 2, 3, 4, 9, 25, 49, 97, 121, 169, 7917, 7919]


def check_prime_checker(PrimeChecker, timeout: float = CHECK_TIMEOUT):
    """Exercise 3.2: ``PrimeChecker(number, results, lock)``, a Thread subclass that, once started, stores
    ``results[number] = is_prime`` while holding ``lock``. The numbers include squares of primes (the
    tutorial's ``while d * d < n`` calls 25 prime) and 1."""

    def test():
        if not (isinstance(PrimeChecker, type) and issubclass(PrimeChecker, threading.Thread)):
            raise AssertionError("PrimeChecker must be a class that subclasses threading.Thread")
        lock = TracingLock()
        results = _Results(lock)
        checkers = [PrimeChecker(n, results, lock) for n in PRIME_NUMBERS]
        if results.stores or lock.acquired:
            raise AssertionError("results were stored before start(): the constructor only keeps the number, the "
                                 "dict and the lock; the work belongs in run(), which start() calls in the new thread")
        for c in checkers:
            try:
                c.start()
            except RuntimeError as exc:
                raise AssertionError(f"start() raised RuntimeError({exc}): call super().__init__() first in your "
                                     "__init__, so that Thread can set itself up") from None
        if any(c.ident is None for c in checkers):
            raise AssertionError("start() did not start a thread: override run(), not start()")
        for c in checkers:
            c.join(5)
        if any(c.is_alive() for c in checkers):
            raise AssertionError("a PrimeChecker was still running 5 s after start()")
        for key, thread, held in results.stores:
            if thread not in checkers:
                raise AssertionError(f"results[{key!r}] was stored by the thread {thread.name!r}, not by a PrimeChecker "
                                     "thread: put the work in run(), and never call run() yourself")
            if not held:
                raise AssertionError(f"results[{key!r}] was stored without holding the lock: store it inside "
                                     "`with self.lock:`")
        expected = {n: _is_prime(n) for n in PRIME_NUMBERS}
        missing = [n for n in PRIME_NUMBERS if n not in results]
        if missing:
            raise AssertionError(f"no result for {missing}: store results[number] in the dict passed to the "
                                 "constructor (not in an attribute of the thread)")
        wrong = [n for n in PRIME_NUMBERS if results[n] != expected[n]]
        if wrong:
            n = wrong[0]
            hint = ""
            root = round(n**0.5)
            if root * root == n and n > 1:
                hint = f": {n} is {root} × {root}. Try divisors up to and including the square root (d * d <= n)"
            elif n == 1:
                hint = ": 1 is not a prime number"
            raise AssertionError(f"results[{n}] is {results[n]!r}, expected {expected[n]!r}{hint}")

    return check("Exercise 3.2", test, timeout=timeout)


# ---------------------------------------------------------------- exercise 3.3


class _Broken(Exception):
    """Raised by the check's list of functions part way through, to see that the hook is still put back."""


def check_collect_errors(collect_errors, timeout: float = CHECK_TIMEOUT):
    """Exercise 3.3: ``collect_errors(functions)`` runs each function in a thread, waits for them, and returns
    the names of the exception types that escaped, using its own ``threading.excepthook`` and putting the
    old one back in every case (also when going through ``functions`` raises)."""

    strays: list[str] = []

    def stray_hook(args):  # where exceptions go when the learner's hook is not installed
        strays.append(args.exc_type.__name__)

    def test():
        original = threading.excepthook
        returned = threading.Event()
        late_done = threading.Event()
        late = []

        def boom_late():
            try:
                if returned.wait(HOLD):
                    late.append(True)  # collect_errors returned while this thread was still running
                raise ValueError("late")
            finally:
                late_done.set()

        def boom():
            raise ValueError("boom")

        def fine():
            return 1

        def key():
            return {}["missing"]

        def broken_list():
            yield fine
            raise _Broken("the list of functions broke while you went through it")

        def call(functions):
            strays.clear()
            threading.excepthook = stray_hook
            returned.clear()
            try:
                return collect_errors(functions)
            finally:
                returned.set()

        try:
            got = call([boom_late, boom, fine, key])
            hook_after = threading.excepthook
            late_done.wait(WAIT)
            if late:
                raise AssertionError("collect_errors returned while a thread was still running: join every thread "
                                     "before you put the hook back and return")
            if hook_after is not stray_hook:
                raise AssertionError("threading.excepthook was not put back: restore the hook that was there before")
            if strays and not got:
                raise AssertionError(f"the exceptions went to the old hook ({sorted(strays)}): install yours as "
                                     "threading.excepthook (sys.excepthook sees only the main thread's exceptions)")
            if got is None:
                raise AssertionError("collect_errors returned None: return the list of names")
            got = list(got)
            if sorted(map(str, got)) != ["KeyError", "ValueError", "ValueError"]:
                hint = ""
                if any(not isinstance(g, str) or g not in ("KeyError", "ValueError") for g in got):
                    hint = ": collect the names of the exception types, args.exc_type.__name__"
                elif len(got) < 3:
                    hint = ": did every thread finish (and its exception reach your hook) before you returned?"
                raise AssertionError(f"functions raising ValueError, ValueError, KeyError and one raising nothing: "
                                     f"expected the names ['KeyError', 'ValueError', 'ValueError'] in any order, got "
                                     f"{got}{hint}")
            again = call([fine, fine])
            if list(again or []) != []:
                raise AssertionError(f"a second call with functions that raise nothing returned {again}: start each "
                                     "call with a new, empty list")
            try:
                call(broken_list())
            except _Broken:
                pass
            else:
                raise AssertionError("when going through `functions` raises, let the exception propagate")
            if threading.excepthook is not stray_hook:
                raise AssertionError("when going through `functions` raised, threading.excepthook was not put back: "
                                     "restore it in a `finally:` block")
        finally:
            threading.excepthook = original

    before = set(threading.enumerate())
    verdict = check("Exercise 3.3", test, timeout=timeout)
    _finish(before)
    return verdict
