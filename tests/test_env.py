import sys

from threadlab import env
from threadlab.__main__ import main


def test_report_lists_every_item_with_a_status():
    items = env.report()
    names = [i.name for i in items]
    for name in ("Python", "Build", "GIL", "Usable cores", "Start method", *env.COURSE_PACKAGES):
        assert name in names
    found = env.as_dict(items)
    assert found["Usable cores"].value == str(env.usable_cores())
    assert found["GIL"].value == ("enabled" if env.gil_enabled() else "disabled")


def test_gil_probe_matches_the_interpreter():
    if hasattr(sys, "_is_gil_enabled"):
        assert env.gil_enabled() == sys._is_gil_enabled()
    else:
        assert env.gil_enabled() is True and env.is_free_threaded_build() is False


def test_start_method_is_reported_without_being_fixed():
    import multiprocessing

    before = multiprocessing.get_start_method(allow_none=True)
    assert env.default_start_method() in multiprocessing.get_all_start_methods()
    assert multiprocessing.get_start_method(allow_none=True) == before


def test_format_report_marks_problems():
    text = env.format_report([env.Item("a", "1"), env.Item("bb", "2", ok=False, note="fix it")])
    assert text.splitlines() == ["a   1  OK", "bb  2  PROBLEM  (fix it)"]


def test_missing_package_is_a_problem():
    assert env.package_version("surely-not-installed-package") is None


def test_doctor_command(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "Usable cores" in out
    assert code == (0 if all(i.ok for i in env.report()) else 1)
