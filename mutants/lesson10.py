"""Wrong answers to the exercises of lesson 10 (multiprocessing), and what the checks must say."""

from mutants import Mutant

MUTANTS = {
    "10.1": [
        Mutant("a ThreadPool where processes were asked for",
               "with multiprocessing.Pool(processes) as pool:",
               "with multiprocessing.pool.ThreadPool(processes) as pool:",
               says="no process was started"),
        Mutant("a pool made but the counting done in a plain loop",
               "return sum(pool.map(count_primes, zip(edges, edges[1:])))",
               "return sum(map(count_primes, zip(edges, edges[1:])))",
               says="handed the pool 0 task(s)"),
        Mutant("the whole range as one task",
               "return sum(pool.map(count_primes, zip(edges, edges[1:])))",
               "return sum(pool.map(count_primes, [(0, n)]))",
               says="handed the pool 1 task(s)"),
        Mutant("Pool() with the default size, not `processes`",
               "with multiprocessing.Pool(processes) as pool:",
               "with multiprocessing.Pool() as pool:",
               says="give the pool the number of processes you were asked for"),
        Mutant("a pool that is never closed",
               "    with multiprocessing.Pool(processes) as pool:\n"
               "        return sum(pool.map(count_primes, zip(edges, edges[1:])))",
               "    pool = multiprocessing.Pool(processes)\n"
               "    return sum(pool.map(count_primes, zip(edges, edges[1:])))",
               says="close the pool"),
        Mutant("segments that leave out each segment's last number",
               "zip(edges, edges[1:])",
               "((lo, hi - 1) for lo, hi in zip(edges, edges[1:]))",
               says="expected 3245"),
        Mutant("map over the numbers, not over (lo, hi) segments",
               "return sum(pool.map(count_primes, zip(edges, edges[1:])))",
               "return sum(pool.map(count_primes, range(n)))",
               says="cannot unpack"),
    ],
    "10.2": [
        Mutant("child.run() for child.start()",
               "child.start()",
               "child.run()",
               says="start() is what runs it in a new process"),
        Mutant("the child never joined",
               "        child.join(timeout=30)\n",
               "",
               says="never joined"),
        Mutant("the squares read before join()",
               "        child.start()\n        child.join(timeout=30)\n        squares = numbers.tolist()\n",
               "        child.start()\n        squares = numbers.tolist()\n        child.join(timeout=30)\n",
               says="join() it first"),
        Mutant("a thread where a process was asked for",
               "multiprocessing.Process(target=square_in_place",
               "threading.Thread(target=square_in_place",
               says="no process was started"),
        Mutant("close() while the array still views the block",
               "        del numbers                        # no view may outlive close()\n",
               "",
               says="close() refused"),
        Mutant("np.ndarray on the buffer, read after close() (crashes the kernel without the check)",
               "        numbers = np.frombuffer(block.buf, dtype=np.int64, count=len(values))\n"
               "        numbers[:] = values\n"
               "        child = multiprocessing.Process(target=square_in_place, args=(block.name, len(values)))\n"
               "        child.start()\n"
               "        child.join(timeout=30)\n"
               "        squares = numbers.tolist()\n"
               "        del numbers                        # no view may outlive close()\n"
               "    finally:\n"
               "        block.close()\n"
               "        block.unlink()\n"
               "    return squares, block.name",
               "        numbers = np.ndarray((len(values),), dtype=np.int64, buffer=block.buf)\n"
               "        numbers[:] = values\n"
               "        child = multiprocessing.Process(target=square_in_place, args=(block.name, len(values)))\n"
               "        child.start()\n"
               "        child.join(timeout=30)\n"
               "    finally:\n"
               "        block.close()\n"
               "        block.unlink()\n"
               "    return numbers.tolist(), block.name",
               says="close() refused"),
        Mutant("the block never unlinked",
               "        block.unlink()\n",
               "",
               says="unlink() it when done"),
        Mutant("the block never closed",
               "        block.close()\n",
               "",
               says="never called close()"),
        Mutant("int32 numbers in an int64 block",
               "dtype=np.int64",
               "dtype=np.int32",
               says="expected 249001"),
    ],
    "10.3": [
        Mutant("join() before reading the answers",
               "    answers = [outbox.get(timeout=30) for _ in numbers]    # read every answer first ...\n"
               "    child.join(timeout=30)                                 # ... then join\n",
               "    child.join(timeout=30)\n"
               "    answers = [outbox.get(timeout=30) for _ in numbers]\n",
               says="one answer per number"),
        Mutant("no None to say there is no more",
               "    inbox.put(None)                                        # \"no more\": the child returns\n",
               "",
               says="one answer per number"),
        Mutant("reading until the outbox looks empty",
               "    answers = [outbox.get(timeout=30) for _ in numbers]    # read every answer first ...\n",
               "    answers = []\n"
               "    while not outbox.empty():\n"
               "        answers.append(outbox.get(timeout=30))\n",
               says="one answer per number"),
        Mutant("child.run() for child.start()",
               "child.start()",
               "child.run()",
               says="start() is what runs it in a new process"),
        Mutant("the child never joined",
               "    child.join(timeout=30)                                 # ... then join\n",
               "",
               says="never joined"),
        Mutant("queue.Queue where processes need multiprocessing.Queue",
               "    inbox, outbox = multiprocessing.Queue(), multiprocessing.Queue()\n",
               "    import queue\n    inbox, outbox = queue.Queue(), queue.Queue()\n",
               says="multiprocessing.Queue"),
        Mutant("a thread where a process was asked for",
               "multiprocessing.Process(target=square_each",
               "threading.Thread(target=square_each",
               says="no process was started"),
    ],
}
