"""Wrong answers to the exercises of lesson 11 (executors), and what the checks must say."""

from mutants import Mutant

MUTANTS = {
    "11.1": [
        Mutant("result() with no guard: the first error escapes",
               "        if future.exception() is None:\n"
               "            results[arg] = future.result()\n"
               "        else:\n"
               "            errors[arg] = future.exception()\n",
               "        results[arg] = future.result()\n",
               says="escaped from your function"),
        Mutant("executor.map, which stops at the first exception",
               "    futures = {executor.submit(fn, arg): arg for arg in args}\n"
               "    results, errors = {}, {}\n",
               "    return dict(zip(args, executor.map(fn, args))), {}\n"
               "    futures = {executor.submit(fn, arg): arg for arg in args}\n"
               "    results, errors = {}, {}\n",
               says="escaped from your function"),
        Mutant("only ValueError caught",
               "        if future.exception() is None:\n"
               "            results[arg] = future.result()\n"
               "        else:\n"
               "            errors[arg] = future.exception()\n",
               "        try:\n"
               "            results[arg] = future.result()\n"
               "        except ValueError as exc:\n"
               "            errors[arg] = exc\n",
               says="ZeroDivisionError raised by one task escaped"),
        Mutant("submit, then wait for that result, one task at a time",
               "    futures = {executor.submit(fn, arg): arg for arg in args}\n"
               "    results, errors = {}, {}\n"
               "    for future in as_completed(futures, timeout=60):\n"
               "        arg = futures[future]\n",
               "    results, errors = {}, {}\n"
               "    for arg in args:\n"
               "        future = executor.submit(fn, arg)\n"
               "        future.exception(timeout=60)\n",
               says="one at a time"),
        Mutant("fn called directly, not on the executor",
               "        if future.exception() is None:\n"
               "            results[arg] = future.result()\n"
               "        else:\n"
               "            errors[arg] = future.exception()\n",
               "        try:\n"
               "            results[arg] = fn(arg)\n"
               "        except Exception as exc:\n"
               "            errors[arg] = exc\n",
               says="ran in your own thread"),
        Mutant("the error's message kept instead of the exception",
               "errors[arg] = future.exception()",
               "errors[arg] = str(future.exception())",
               says="should be the ValueError"),
        Mutant("results keyed by future, not by argument",
               "results[arg] = future.result()",
               "results[future] = future.result()",
               says="results (argument: value)"),
    ],
    "11.2": [
        Mutant("the whole range as one task",
               "    return sum(executor.map(count_primes, pieces, timeout=60))",
               "    return executor.submit(count_primes, (0, n)).result(timeout=60)",
               says="submitted 1"),
        Mutant("submit, then wait for that result, one piece at a time",
               "    return sum(executor.map(count_primes, pieces, timeout=60))",
               "    return sum(executor.submit(count_primes, p).result(timeout=60) for p in pieces)",
               says="one at a time"),
        Mutant("counted in a plain loop, the executor unused",
               "    return sum(executor.map(count_primes, pieces, timeout=60))",
               "    return sum(map(count_primes, pieces))",
               says="submitted no count_primes task"),
        Mutant("a pool of its own, not the executor it was given",
               "    return sum(executor.map(count_primes, pieces, timeout=60))",
               "    with ThreadPoolExecutor(2) as own:\n"
               "        return sum(own.map(count_primes, pieces, timeout=60))",
               says="use that executor"),
        Mutant("pieces of n // chunks: the remainder is lost",
               "    edges = [n * i // chunks for i in range(chunks + 1)]",
               "    edges = [(n // chunks) * i for i in range(chunks + 1)]",
               says="not 0..1000"),
        Mutant("overlapping pieces (hi + 1)",
               "    pieces = list(zip(edges, edges[1:]))",
               "    pieces = [(lo, hi + 1) for lo, hi in zip(edges, edges[1:])]",
               says="overlap"),
        Mutant("the list of counts returned, not their sum",
               "    return sum(executor.map(count_primes, pieces, timeout=60))",
               "    return list(executor.map(count_primes, pieces, timeout=60))",
               says="expected 1229"),
    ],
}
