"""Wrong answers to lesson 08's exercises (queues and thread pools), as learners write them."""

from mutants import Mutant

MUTANTS = {
    "8.1": [
        Mutant(
            "threads started and joined one at a time",
            "    for t in threads:\n        t.start()\n    for job in enumerate(items):\n        jobs.put(job)\n"
            "    for _ in threads:\n        jobs.put(STOP)\n    for t in threads:\n        t.join(10)\n",
            "    for job in enumerate(items):\n        jobs.put(job)\n    for _ in threads:\n        jobs.put(STOP)\n"
            "    for t in threads:\n        t.start()\n        t.join(10)\n",
            "at a time",
        ),
        Mutant(
            "workers loop while the queue is not empty, no sentinels",
            "        while (job := jobs.get(timeout=10)) is not STOP:\n            index, item = job\n",
            "        while not jobs.empty():\n            index, item = jobs.get(timeout=10)\n",
            "empty()",
        ),
        Mutant(
            "one STOP for the whole pool",
            "    for _ in threads:\n        jobs.put(STOP)\n",
            "    jobs.put(STOP)\n",
            "one STOP per worker",
        ),
        Mutant(
            "the workers are never joined",
            "    for t in threads:\n        t.join(10)\n",
            "",
            "join every worker",
        ),
        Mutant(
            "joined with a timeout too short to wait for them",
            "t.join(10)",
            "t.join(0.001)",
            "join every worker",
        ),
        Mutant(
            "results appended in the order the jobs finish",
            "    jobs, results = queue.Queue(), [None] * len(items)\n\n    def work():\n"
            "        while (job := jobs.get(timeout=10)) is not STOP:\n            index, item = job\n"
            "            results[index] = fn(item)",
            "    jobs, results = queue.Queue(), []\n\n    def work():\n"
            "        while (job := jobs.get(timeout=10)) is not STOP:\n            index, item = job\n"
            "            results.append(fn(item))",
            "order of items",
        ),
        Mutant(
            "the worker called instead of passed: Thread(target=work())",
            "threading.Thread(target=work)",
            "threading.Thread(target=work())",
            "target=work",
        ),
        Mutant(
            "one worker thread, whatever `workers` says",
            "for _ in range(workers)]",
            "for _ in range(1)]",
            "at a time",
        ),
    ],
    "8.2": [
        Mutant(
            "task_done() only after a successful item (no finally)",
            "            handle(item)\n        except Exception as exc:\n            errors.append(exc)\n"
            "        finally:\n            q.task_done()",
            "            handle(item)\n            q.task_done()\n        except Exception as exc:\n"
            "            errors.append(exc)",
            "finally",
        ),
        Mutant(
            "task_done() in except and in finally",
            "            errors.append(exc)\n",
            "            errors.append(exc)\n            q.task_done()\n",
            "twice",
        ),
        Mutant(
            "task_done() right after get(), before the work",
            "        try:\n            handle(item)\n        except Exception as exc:\n            errors.append(exc)\n"
            "        finally:\n            q.task_done()",
            "        q.task_done()\n        try:\n            handle(item)\n        except Exception as exc:\n"
            "            errors.append(exc)",
            "before the item was handled",
        ),
        Mutant(
            "only ValueError caught",
            "except Exception as exc",
            "except ValueError as exc",
            "crashed with KeyError",
        ),
        Mutant(
            "the worker gives up after the first failing item",
            "            errors.append(exc)\n",
            "            errors.append(exc)\n            return\n",
            "before it took a STOP",
        ),
        Mutant(
            "no check for STOP",
            "    while (item := q.get(timeout=10)) is not STOP:\n",
            "    while True:\n        item = q.get(timeout=10)\n",
            "did not stop at STOP",
        ),
        Mutant(
            "the item recorded instead of the exception",
            "errors.append(exc)",
            "errors.append(item)",
            "exception object",
        ),
        Mutant(
            "the failure swallowed, nothing recorded",
            "            errors.append(exc)\n",
            "            pass\n",
            "exceptions handle() raised",
        ),
        Mutant(
            "no try at all",
            "        try:\n            handle(item)\n        except Exception as exc:\n            errors.append(exc)\n"
            "        finally:\n            q.task_done()       # runs on success and on failure alike\n",
            "        handle(item)\n        q.task_done()\n",
            "crashed with ValueError",
        ),
    ],
}
