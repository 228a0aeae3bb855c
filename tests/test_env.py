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


# ---------------------------------------------------------------- CPU quotas of containers (cgroups)


def fake_cgroup(tmp_path, self_cgroup: str, files: dict[str, str]):
    """A fake /sys/fs/cgroup tree and /proc/self/cgroup; returns the two paths."""
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "self-cgroup"
    proc.write_text(self_cgroup)
    return str(root), str(proc)


def test_cgroup_v2_quota_of_a_container(tmp_path):
    # a Binder-like pod: the container's own group is the mount's root
    paths = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "150000 100000\n"})
    assert env.cgroup_cpu_quota(*paths) == 1.5


def test_cgroup_v2_without_a_limit(tmp_path):
    paths = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert env.cgroup_cpu_quota(*paths) is None


def test_cgroup_v2_the_smallest_quota_up_the_tree_wins(tmp_path):
    paths = fake_cgroup(tmp_path, "0::/kubepods/pod1/box\n", {
        "cpu.max": "max 100000\n",
        "kubepods/cpu.max": "400000 100000\n",
        "kubepods/pod1/cpu.max": "200000 100000\n",
        "kubepods/pod1/box/cpu.max": "max 100000\n",
    })
    assert env.cgroup_cpu_quota(*paths) == 2.0


def test_cgroup_v2_path_of_the_host_missing_in_the_container(tmp_path):
    paths = fake_cgroup(tmp_path, "0::/system.slice/docker-abc.scope\n", {"cpu.max": "100000 100000\n"})
    assert env.cgroup_cpu_quota(*paths) == 1.0


def test_cgroup_v1_quota_and_no_quota(tmp_path):
    self_cgroup = "9:memory:/x\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    paths = fake_cgroup(tmp_path, self_cgroup, {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "250000\n",
                                                "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
                                                "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                                                "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert env.cgroup_cpu_quota(*paths) == 2.5
    paths = fake_cgroup(tmp_path / "none", "1:cpu:/\n",
                        {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert env.cgroup_cpu_quota(*paths) is None


def test_hybrid_v1_and_v2_uses_the_cpu_controller_found(tmp_path):
    # this machine's layout: cpu under v1, an empty unified hierarchy for v2
    paths = fake_cgroup(tmp_path, "1:cpu:/\n0::/\n", {"cpu/cpu.cfs_quota_us": "50000\n",
                                                      "cpu/cpu.cfs_period_us": "100000\n",
                                                      "unified/cgroup.procs": ""})
    assert env.cgroup_cpu_quota(*paths) == 0.5


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert env.cgroup_cpu_quota(str(tmp_path / "absent"), str(tmp_path / "absent-self")) is None
    paths = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "garbage\n"})
    assert env.cgroup_cpu_quota(*paths) is None


def test_usable_cores_is_lowered_by_a_quota_and_never_below_one(monkeypatch):
    monkeypatch.setattr(env, "cores_by_affinity", lambda: 8)
    for quota, expected in ((None, 8), (1.5, 1), (2.0, 2), (0.25, 1), (16.0, 8), (2.9999999999, 3)):
        monkeypatch.setattr(env, "cgroup_cpu_quota", lambda q=quota: q)
        assert env.usable_cores() == expected, quota


def test_report_says_when_a_quota_limits_the_cores(monkeypatch):
    monkeypatch.setattr(env, "cores_by_affinity", lambda: 4)
    monkeypatch.setattr(env, "cgroup_cpu_quota", lambda: 2.0)
    item = env.as_dict(env.report())["Usable cores"]
    assert item.value == "2" and item.note == "a CPU quota of 2 cores on 4"


# ---------------------------------------------------------------- where the kernel runs, what it lacks


def test_where_tells_browser_colab_binder_hub_and_local(monkeypatch):
    for name in ("COLAB_RELEASE_TAG", "BINDER_LAUNCH_HOST", "BINDER_REPO_URL", "JUPYTERHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    assert env.where() == "this computer"
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://hub:8081/hub/api")
    assert env.where() == "JupyterHub"
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    assert env.where() == "Binder"
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101")
    assert env.where() == "Google Colab"
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert env.where() == "JupyterLite (Pyodide)"
    item = env.as_dict(env.report())["Runs in"]
    assert not item.ok and "cannot start threads or processes" in item.note


def test_linux_only_calls_missing_are_named_but_not_a_problem(monkeypatch):
    import os

    monkeypatch.delattr(os, "fork", raising=False)
    monkeypatch.setattr(env, "has_proc", lambda: False)
    assert env.linux_only_calls()["os.fork"] is False and env.linux_only_calls()["/proc"] is False
    item = env.as_dict(env.report())["Linux-only calls"]
    assert item.ok and item.value.startswith("missing: os.fork, /proc")
