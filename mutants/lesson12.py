"""Wrong answers to lesson 12's exercises (cooperative multitasking), as learners write them."""

from mutants import Mutant

TRANSFER_BODY = """        if accounts[src] >= amount:     # the check and the change happen in the same turn...
            accounts[src] -= amount
            accounts[dst] += amount
        yield                           # ...so other tasks only ever see whole transfers"""

MUTANTS = {
    "12.1": [
        Mutant("yields between taking the money out and putting it in",
               "            accounts[src] -= amount\n",
               "            accounts[src] -= amount\n            yield\n",
               says="half-way through a transfer"),
        Mutant("yields between the balance check and the change",
               "        if accounts[src] >= amount:     # the check and the change happen in the same turn...\n",
               "        if accounts[src] >= amount:\n            yield\n",
               says="a yield between the check"),
        Mutant("no yield: a plain function, not a task",
               "        yield                           # ...so other tasks only ever see whole transfers",
               "        pass",
               says="not a generator"),
        Mutant("one yield after the loop: every transfer in a single turn",
               "        yield                           # ...so other tasks only ever see whole transfers",
               "    yield",
               says="yield after each transfer"),
        Mutant("no balance check",
               "        if accounts[src] >= amount:     # the check and the change happen in the same turn...\n",
               "        if True:\n",
               says="her balance is -4"),
        Mutant("keeps the balance in a variable across a yield",
               TRANSFER_BODY,
               """        balance = accounts[src]
        yield
        if balance >= amount:
            accounts[src] = balance - amount
            accounts[dst] += amount""",
               says="update was lost"),
        Mutant("checks a balance read before the yield",
               TRANSFER_BODY,
               """        enough = accounts[src] >= amount
        yield
        if enough:
            accounts[src] -= amount
            accounts[dst] += amount""",
               says="a yield between the check"),
    ],
    "12.2": [
        Mutant("calls the blocking function in the coroutine",
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "    return [task.result() for task in tasks]",
               "        pass\n    return [fetch(item) for item in items]",
               says="event loop's own thread"),
        Mutant("awaits the threads one after another",
               "    async with asyncio.TaskGroup() as tg:\n"
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "    return [task.result() for task in tasks]",
               "    return [await asyncio.to_thread(fetch, item) for item in items]",
               says="did not all run at the same time"),
        Mutant("calls fetch before handing it to to_thread",
               "asyncio.to_thread(fetch, item)",
               "asyncio.to_thread(fetch(item))",
               says="event loop's own thread"),
        Mutant("results in the order the fetches finish",
               "    async with asyncio.TaskGroup() as tg:\n"
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "    return [task.result() for task in tasks]",
               "    jobs = [asyncio.to_thread(fetch, item) for item in items]\n"
               "    return [await job for job in asyncio.as_completed(jobs)]",
               says="order the fetches finished"),
        Mutant("waits for a thread pool with a blocking map",
               "    async with asyncio.TaskGroup() as tg:\n"
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "    return [task.result() for task in tasks]",
               "    with ThreadPoolExecutor(max_workers=len(items)) as threads:\n"
               "        return list(threads.map(fetch, items))",
               says="event loop was blocked"),
        Mutant("forgets to await gather",
               "    async with asyncio.TaskGroup() as tg:\n"
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "    return [task.result() for task in tasks]",
               "    return asyncio.gather(*(asyncio.to_thread(fetch, item) for item in items))",
               says="forget `await`"),
        Mutant("reads the results inside the TaskGroup block",
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "    return [task.result() for task in tasks]",
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n"
               "        return [task.result() for task in tasks]",
               says="before the task had finished"),
        Mutant("a lock around each call, to be safe",
               "    async with asyncio.TaskGroup() as tg:\n"
               "        tasks = [tg.create_task(asyncio.to_thread(fetch, item)) for item in items]\n",
               "    lock = asyncio.Lock()\n\n"
               "    async def safely(item):\n"
               "        async with lock:\n"
               "            return await asyncio.to_thread(fetch, item)\n\n"
               "    async with asyncio.TaskGroup() as tg:\n"
               "        tasks = [tg.create_task(safely(item)) for item in items]\n",
               says="did not all run at the same time"),
    ],
    "12.3": [
        Mutant("no timeout at all",
               "        async with asyncio.timeout(seconds):\n"
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "        async with asyncio.TaskGroup() as tg:\n"
               "            for item in items:\n"
               "                tg.create_task(one(item))",
               says="asyncio.timeout"),
        Mutant("the timeout around starting the tasks, not around waiting for them",
               "        async with asyncio.timeout(seconds):\n"
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "        async with asyncio.TaskGroup() as tg:\n"
               "            async with asyncio.timeout(seconds):\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               says="had not returned"),
        Mutant("gather under the timeout: the finished results go down with it",
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "            values = await asyncio.gather(*(fetch(item) for item in items))\n"
               "            results = dict(zip(items, values))",
               says="results were lost"),
        Mutant("asyncio.wait with a timeout, the rest never cancelled",
               "        async with asyncio.timeout(seconds):\n"
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "        tasks = [asyncio.create_task(one(item)) for item in items]\n"
               "        await asyncio.wait(tasks, timeout=seconds)",
               says="still running"),
        Mutant("lets the TimeoutError out",
               "    except TimeoutError:\n        pass                                # keep what finished\n",
               "    finally:\n        pass\n",
               says="raised TimeoutError"),
        Mutant("a timeout for each fetch, one after another",
               "        async with asyncio.timeout(seconds):\n"
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "        for item in items:\n"
               "            try:\n"
               "                async with asyncio.timeout(seconds):\n"
               "                    await one(item)\n"
               "            except TimeoutError:\n"
               "                pass",
               says="one after another"),
        Mutant("a timeout inside each task instead of around the group",
               "        results[item] = await fetch(item)   # each task keeps its own result as it finishes\n"
               "\n"
               "    try:\n"
               "        async with asyncio.timeout(seconds):\n"
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "        async with asyncio.timeout(seconds):\n"
               "            results[item] = await fetch(item)\n"
               "\n"
               "    try:\n"
               "        async with asyncio.TaskGroup() as tg:\n"
               "            for item in items:\n"
               "                tg.create_task(one(item))",
               says="exception group of TimeoutError"),
        Mutant("sleeps for the deadline and leaves the tasks behind",
               "        async with asyncio.timeout(seconds):\n"
               "            async with asyncio.TaskGroup() as tg:   # when the time is up, it cancels the rest\n"
               "                for item in items:\n"
               "                    tg.create_task(one(item))",
               "        tasks = [asyncio.create_task(one(item)) for item in items]\n"
               "        await asyncio.sleep(seconds)",
               says="still running"),
    ],
}
