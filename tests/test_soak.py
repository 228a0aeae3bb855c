"""The soak tool and nbval's comparison applied to runs made elsewhere (ci/soak.py, ci/nbcompare.py)."""

import inspect
import sys
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbFile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import nbcompare  # noqa: E402
import soak  # noqa: E402

new_code, new_output = nbformat.v4.new_code_cell, nbformat.v4.new_output


def stdout(text):
    return new_output("stream", name="stdout", text=text)


def stored(*cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A notebook"), *cells])
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
    return nb


def test_skip_list_is_nbvals():
    source = inspect.getsource(IPyNbFile.__init__)
    for key in nbcompare.SKIP_COMPARE:
        assert repr(key) in source, key


def test_compare_follows_nbvals_rules():
    ignored = new_code("print(time.time())", outputs=[stdout("1.5\n")])
    ignored.metadata["tags"] = ["nbval-ignore-output"]
    raises = new_code("1/0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                 traceback=[])])
    raises.metadata["tags"] = ["raises-exception"]
    ref = stored(new_code("print('a'); print('b')", outputs=[stdout("a\n"), stdout("b\n")]), ignored, raises,
                 new_code("x = 0x7f00deadbeef", outputs=[stdout("at 0x7f00deadbeef\n")]))
    run = nbformat.from_dict(ref)
    run.cells[1].outputs = [stdout("a\nb\n")]                  # one stream instead of two: the same to nbval
    run.cells[2].outputs = [stdout("2.7\n")]                   # ignored
    run.cells[4].outputs = [stdout("at 0x7fffcafef00d\n")]    # an address: sanitized
    assert nbcompare.compare(ref, run) == []

    run.cells[1].outputs = [stdout("a\nc\n")]
    run.cells[3].outputs = []
    run.cells[4].outputs = [new_output("error", ename="AssertionError", evalue="", traceback=["tb"])]
    problems = [(p.cell, p.code_cell, p.kind) for p in nbcompare.compare(ref, run)]
    assert problems == [(1, 0, "outputs differ"), (3, 2, "did not raise"), (4, 3, "error")]


def test_a_cell_that_did_not_run_is_reported():
    ref = stored(new_code("print(1)", outputs=[stdout("1\n")]))
    run = nbformat.from_dict(ref)
    run.cells[1].execution_count = None
    assert [p.kind for p in nbcompare.compare(ref, run)] == ["did not run"]


def test_table_counts_failures_per_cell_with_each_distinct_message():
    p = nbcompare.Problem
    runs = [
        soak.Run("a.ipynb", 1.0, []),
        soak.Run("a.ipynb", 2.0, [p(5, 2, "error", "AssertionError: lost 0"), p(7, 3, "did not run", "x")]),
        soak.Run("a.ipynb", 3.0, [p(5, 2, "error", "AssertionError: lost 0")]),
        soak.Run("a.ipynb", 1.5, [p(5, 2, "error", "AssertionError: [0, 1]")]),
    ]
    rows, times = soak.tabulate(runs)
    assert times == {"a.ipynb": [1.0, 2.0, 3.0, 1.5]}
    first = rows[0]
    assert (first.where, first.kind, first.failures) == ("cell 5 (nbval Cell 2)", "error", 3)
    assert first.messages == ["AssertionError: lost 0", "AssertionError: [0, 1]"]
    text = soak.report(runs, 4, 2)
    assert "| a.ipynb | 3/4 | 1.0 / 1.9 / 3.0 s |" in text
    assert "| a.ipynb | cell 5 (nbval Cell 2) | error | 3/4 | AssertionError: lost 0 / AssertionError: [0, 1] |" in text
    assert text.endswith("3 of 4 runs failed")


def test_a_notebook_that_fails_one_run_in_three_is_reported_so(tmp_path, capsys, monkeypatch):
    """A real soak: a cell whose assert fails every third run, a hog alongside."""
    # /dev/shm is the whole machine's: a test running alongside (xdist) may hold a block meanwhile.
    # Leftovers have their own test below; here only the failing cell is counted.
    monkeypatch.setattr(soak, "shm_entries", set)
    counter = tmp_path / "runs.txt"
    cell = new_code(f"from pathlib import Path\np = Path({str(counter)!r})\n"
                    "n = int(p.read_text()) + 1 if p.exists() else 1\np.write_text(str(n))\n"
                    "assert n % 3 != 0, f'run {n}'")
    nb = stored(new_code("print('hello')", outputs=[stdout("hello\n")]), cell)
    path = tmp_path / "flaky.ipynb"
    nbformat.write(nb, path)
    code = soak.main([str(path), "--runs", "3", "--load", "1"])
    out = capsys.readouterr().out
    assert code == 1
    row = "| flaky.ipynb | cell 2 (nbval Cell 1) | error | 1/3 | AssertionError: run 3 |"
    assert row in out.replace(str(tmp_path) + "/", "")
    assert "1 of 3 runs failed" in out


def test_forced_start_method_and_leftovers_in_dev_shm(tmp_path, capsys):
    if not soak.SHM.is_dir():
        pytest.skip("no /dev/shm here")
    cells = [
        new_code("import multiprocessing as mp\nprint(mp.get_start_method())", outputs=[stdout("spawn\n")]),
        new_code("from multiprocessing import resource_tracker, shared_memory\n"
                 "block = shared_memory.SharedMemory(create=True, size=64)\n"
                 "resource_tracker.unregister(block._name, 'shared_memory')  # nobody will unlink it"),
    ]
    path = tmp_path / "spawned.ipynb"
    nbformat.write(stored(*cells), path)
    with soak.kernel() as name:
        run = soak.run_once(path, name, start_method="spawn")
    kinds = [p.kind for p in run.problems]
    assert kinds == ["left behind"], run.problems
    for problem in run.problems:   # do not leave our own test's block behind either
        for entry in problem.message.removeprefix("/dev/shm: ").split(", "):
            (soak.SHM / entry).unlink(missing_ok=True)


def test_an_entry_another_process_still_maps_is_not_a_leftover():
    """/dev/shm is shared by the whole machine: a block some live process maps is that process's, not a leak."""
    if not soak.SHM.is_dir():
        pytest.skip("no /dev/shm here")
    from multiprocessing import shared_memory

    held = shared_memory.SharedMemory(create=True, size=64)   # mapped by this process while the test runs
    loose = shared_memory.SharedMemory(create=True, size=64)
    loose_name = loose.name.lstrip("/")
    loose.close()   # unmapped, not unlinked: what a notebook that forgot unlink() leaves
    try:
        names = {held.name.lstrip("/"), loose_name}
        assert soak.mapped_by_a_process(names) == {held.name.lstrip("/")}
    finally:
        held.close()
        held.unlink()
        loose.unlink()
