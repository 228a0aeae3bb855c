"""Wrong answers to lesson 02's exercises (see mutants/README.md)."""

from mutants import Mutant

SOLUTION_21_START = ("    children = [subprocess.Popen([sys.executable, \"-c\", code], stdout=subprocess.PIPE, text=True)\n"
                     "                for code in codes]                  # all started before we wait for any\n"
                     "    outputs = []\n    for child in children:\n")

MUTANTS = {
    "2.1": [
        Mutant("starts each child and waits for it before starting the next", SOLUTION_21_START,
               "    outputs = []\n    for code in codes:\n"
               "        child = subprocess.Popen([sys.executable, \"-c\", code], stdout=subprocess.PIPE, text=True)\n",
               says="one after another"),
        Mutant("subprocess.run() in a loop", SOLUTION_21_START,
               "    outputs = []\n    for code in codes:\n"
               "        try:\n"
               "            done = subprocess.run([sys.executable, \"-c\", code], capture_output=True, text=True,\n"
               "                                  timeout=timeout)\n"
               "            outputs.append(done.stdout)\n"
               "        except subprocess.TimeoutExpired:\n"
               "            outputs.append(None)\n"
               "    return outputs\n"
               "    for child in []:\n",
               says="one after another"),
        Mutant("waits for the child before reading its output",
               "            out, _ = child.communicate(timeout=timeout)   # reads the output while it waits",
               "            child.wait(timeout=timeout)\n            out = child.stdout.read()", says="pipe"),
        Mutant("does not capture the output", ", stdout=subprocess.PIPE, text=True)", ", text=True)",
               says="stdout=subprocess.PIPE"),
        Mutant("bytes, not text", ", stdout=subprocess.PIPE, text=True)", ", stdout=subprocess.PIPE)",
               says="text=True"),
        Mutant("does not kill the child at its timeout",
               "            child.kill()\n"
               "            child.communicate()                     # waits for the killed child\n",
               "", says="running"),
        Mutant("lets TimeoutExpired escape",
               "        try:\n            out, _ = child.communicate(timeout=timeout)   # reads the output while it waits\n"
               "        except subprocess.TimeoutExpired:\n            child.kill()\n"
               "            child.communicate()                     # waits for the killed child\n            out = None\n",
               "        out, _ = child.communicate(timeout=timeout)\n", says="TimeoutExpired"),
        Mutant("waits with no timeout", "child.communicate(timeout=timeout)", "child.communicate()", says="timeout"),
    ],
    "2.2": [
        Mutant("calls run() instead of start()", "child.start()", "child.run()", says="never p.run()"),
        Mutant("calls the target instead of passing it", "target=target, args=args", "target=target(*args)",
               says="not target(*args)"),
        Mutant("joins with no timeout", "child.join(timeout=seconds)", "child.join()", says="join(seconds)"),
        Mutant("never ends a child past its deadline",
               "    if child.is_alive():\n        child.terminate()\n"
               "        child.join(timeout=10)           # collects the exit code\n", "", says="terminate()"),
        Mutant("checks is_alive() before waiting",
               "    child.join(timeout=seconds)          # returns when the child ends, or at the deadline\n", "",
               says="ended before it could finish"),
        Mutant("reads exitcode before joining",
               "    child.join(timeout=seconds)          # returns when the child ends, or at the deadline\n"
               "    if child.is_alive():\n        child.terminate()\n"
               "        child.join(timeout=10)           # collects the exit code\n    return child.exitcode",
               "    code = child.exitcode\n    child.join(timeout=seconds)\n    if child.is_alive():\n"
               "        child.terminate()\n        child.join(timeout=10)\n    return code",
               says="read after join()"),
        Mutant("sleeps for the whole deadline instead of joining",
               "child.join(timeout=seconds)          # returns when the child ends, or at the deadline",
               "time.sleep(seconds)", says="time.sleep(seconds) does not"),
    ],
}
