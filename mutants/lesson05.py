"""Wrong answers to the exercises of lesson 05 (a threaded server)."""

from mutants import Mutant

START = """        worker = threading.Thread(target=handle, args=(conn,))
        worker.start()
        clients.append(worker)"""
JOIN_ALL = """    for worker in clients:
        worker.join(timeout=5)"""
SHUTDOWN_CLOSE_JOIN = """    server.shutdown()             # serve_forever() leaves its loop
    server.server_close()         # close the listening socket, join the handler threads
    thread.join(timeout=5)"""

MUTANTS = {
    "5.1": [
        Mutant("handle(conn) called in the accepting loop (no thread)", START, "        handle(conn)",
               says="ran in the thread that runs serve()"),
        Mutant("run() instead of start()", "        worker.start()", "        worker.run()",
               says="not run()"),
        Mutant("target=handle(conn): handle called, not passed", "target=handle, args=(conn,)",
               "target=handle(conn)", says="ran in the thread that runs serve()"),
        Mutant("each thread joined right after it starts", "        worker.start()\n",
               "        worker.start()\n        worker.join(timeout=5)\n", says="were not served"),
        Mutant("threads never joined", JOIN_ALL, "    pass", says="join each of them"),
        Mutant("only the last thread joined", JOIN_ALL, "    worker.join(timeout=5)",
               says="join each of them"),
        Mutant("no timeout on the listener", "    listener.settimeout(0.05)\n", "",
               says="give the listener a timeout"),
        Mutant("TimeoutError not caught", """        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue""", "        conn, _ = listener.accept()", says="catch it"),
        Mutant("the connection closed by the accepting loop (`with conn:`)", START,
               "        with conn:\n            worker = threading.Thread(target=handle, args=(conn,))\n"
               "            worker.start()\n            clients.append(worker)",
               says="closed under it"),
        Mutant("daemon threads instead of joins", START + "\n" + JOIN_ALL,
               "        threading.Thread(target=handle, args=(conn,), daemon=True).start()",
               says="join each of them"),
    ],
    "5.2": [
        Mutant("handlers not told to stop", "    server.stopping.set()         # the handlers finish, even those of "
               "silent clients\n", "", says="set server.stopping"),
        Mutant("handlers told after server_close()", "    server.stopping.set()         # the handlers finish, even "
               "those of silent clients\n    server.shutdown()             # serve_forever() leaves its loop\n"
               "    server.server_close()         # close the listening socket, join the handler threads\n",
               "    server.shutdown()\n    server.server_close()\n    server.stopping.set()\n",
               says="set server.stopping"),
        Mutant("no server_close()", "    server.server_close()         # close the listening socket, join the "
               "handler threads\n", "", says="server_close()"),
        Mutant("no shutdown()", "    server.shutdown()             # serve_forever() leaves its loop\n", "",
               says="server.shutdown()"),
        Mutant("shutdown without the parentheses", "    server.shutdown()             #",
               "    server.shutdown               #", says="with the parentheses"),
        Mutant("only shutdown()", """    server.stopping.set()         # the handlers finish, even those of silent clients
    server.shutdown()             # serve_forever() leaves its loop
    server.server_close()         # close the listening socket, join the handler threads
    thread.join(timeout=5)""", "    server.shutdown()", says="listening socket is still open"),
        Mutant("thread joined (without a timeout) before shutdown()", SHUTDOWN_CLOSE_JOIN,
               "    thread.join()\n    server.shutdown()\n    server.server_close()",
               says="server.shutdown()"),
    ],
}
