"""Wrong answers to lesson 09's exercises (the GIL), as learners write them."""

from mutants import Mutant

LOCKED = (
    "        with lock:                    # held from the read to the write, released even on an error\n"
    "            value = box[\"count\"]\n"
    "            time.sleep(0)\n"
    "            box[\"count\"] = value + 1\n"
)

MUTANTS = {
    "9.1": [
        Mutant(
            "no lock: the GIL is trusted to protect the counter",
            LOCKED,
            "        value = box[\"count\"]\n        time.sleep(0)\n        box[\"count\"] = value + 1\n",
            "lost",
        ),
        Mutant(
            "the lock around the read only",
            LOCKED,
            "        with lock:\n            value = box[\"count\"]\n"
            "        time.sleep(0)\n        box[\"count\"] = value + 1\n",
            "lost",
        ),
        Mutant(
            "the lock around the write only",
            LOCKED,
            "        value = box[\"count\"]\n        time.sleep(0)\n"
            "        with lock:\n            box[\"count\"] = value + 1\n",
            "lost",
        ),
        Mutant(
            "the lock let go during the sleep, taken again for the write",
            LOCKED,
            "        with lock:\n            value = box[\"count\"]\n        time.sleep(0)\n"
            "        with lock:\n            box[\"count\"] = value + 1\n",
            "lost",
        ),
        Mutant(
            "a new lock every time",
            "with lock:",
            "with threading.Lock():",
            "lost",
        ),
        Mutant(
            "acquire() without release()",
            LOCKED,
            "        lock.acquire()\n        value = box[\"count\"]\n"
            "        time.sleep(0)\n        box[\"count\"] = value + 1\n",
            "release",
        ),
        Mutant(
            "release() without finally",
            LOCKED,
            "        lock.acquire()\n        value = box[\"count\"]\n"
            "        time.sleep(0)\n        box[\"count\"] = value + 1\n        lock.release()\n",
            "finally",
        ),
        Mutant(
            "an increment skipped when the lock is busy",
            LOCKED,
            "        if lock.acquire(blocking=False):\n            try:\n                value = box[\"count\"]\n"
            "                time.sleep(0)\n                box[\"count\"] = value + 1\n            finally:\n"
            "                lock.release()\n",
            "not skip",
        ),
    ],
    "9.2": [
        Mutant(
            "wall-clock time in each thread instead of its CPU time",
            "        started = time.thread_time()\n        calls[i]()\n        cpu[i] = time.thread_time() - started",
            "        started = time.perf_counter()\n        calls[i]()\n        cpu[i] = time.perf_counter() - started",
            "thread_time() taken inside that thread",
        ),
        Mutant(
            "the process's CPU time in each thread",
            "        started = time.thread_time()\n        calls[i]()\n        cpu[i] = time.thread_time() - started",
            "        started = time.process_time()\n        calls[i]()\n        cpu[i] = time.process_time() - started",
            "process_time",
        ),
        Mutant(
            "CPU time measured in the main thread",
            "    wall_start = time.perf_counter()\n    start_line.wait()\n"
            "    for t in threads:\n        t.join(timeout=10)\n"
            "    return sum(cpu) / (time.perf_counter() - wall_start)",
            "    wall_start, cpu_start = time.perf_counter(), time.thread_time()\n    start_line.wait()\n"
            "    for t in threads:\n        t.join(timeout=10)\n"
            "    return (time.thread_time() - cpu_start) / (time.perf_counter() - wall_start)",
            "in the main thread",
        ),
        Mutant(
            "the threads are not joined before the clock stops",
            "    for t in threads:\n        t.join(timeout=10)\n    return sum(cpu)",
            "    return sum(cpu)",
            "join every thread",
        ),
        Mutant(
            "joined with a timeout too short to wait for them",
            "t.join(timeout=10)",
            "t.join(timeout=0.001)",
            "join every thread",
        ),
        Mutant(
            "each thread joined right after it was started",
            "    for t in threads:\n        t.start()\n",
            "    for t in threads:\n        t.start()\n        t.join(timeout=10)\n",
            "start every thread before you join any",
        ),
        Mutant(
            "divided by the number of threads as well",
            "    return sum(cpu) / (time.perf_counter() - wall_start)",
            "    return sum(cpu) / (time.perf_counter() - wall_start) / len(calls)",
            "not by the number of threads",
        ),
    ],
}
