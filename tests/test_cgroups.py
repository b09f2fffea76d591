"""The files each cgroup operation reads and writes, on v1 (hybrid) and on pure v2 hosts.

The host under test has one layout; these build both in a temporary directory (plain files
standing in for the kernel's), so either version's table is checked wherever the tests run.
"""

from __future__ import annotations

import copy
import json
import os
import select
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from lxpy.linux import cgroups
from lxpy.linux.cgroups import ContainerCgroups, Hierarchy, LimitError
from lxpy.runtime.monitor import Monitor

INSTANCE = "i0"
NAME = "c1"

# Every payload file the operations use, with what a fresh cgroup holds.
V1_FILES = {
    "pids": {"pids.max": "max", "pids.current": "7"},
    "memory": {
        "memory.limit_in_bytes": str(2**63 - 4096),
        "memory.memsw.limit_in_bytes": str(2**63 - 4096),
        "memory.usage_in_bytes": "4096",
        "memory.max_usage_in_bytes": "8192",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    },
    "cpu,cpuacct": {"cpu.cfs_period_us": "", "cpu.cfs_quota_us": "-1", "cpuacct.usage": "5000"},
    "cpuset": {"cpuset.cpus": "0-3"},
    "blkio": {"blkio.bfq.weight": "100"},
    "freezer": {"freezer.state": "THAWED"},
}
V2_FILES = {
    "pids.max": "max",
    "pids.current": "7",
    "memory.max": "max",
    "memory.swap.max": "max",
    "memory.current": "4096",
    "memory.peak": "8192",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 2\noom_kill 2\n",
    "cpu.max": "max 100000",
    "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\n",
    "cpuset.cpus": "",
    "io.weight": "default 100",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 1\nfrozen 0\n",
    "cgroup.kill": "",
    "cgroup.procs": "",
}


@pytest.fixture(autouse=True)
def replacing_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel file takes each write whole; a plain file keeps the tail of a longer one."""

    def write(path: str, value: str) -> None:
        with open(path, "r+") as f:  # never creates: a write to a wrong name fails
            f.write(value)
            f.truncate()

    monkeypatch.setattr(cgroups, "_write", write)


def _fill(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def _payload(mountpoint: Path) -> Path:
    return mountpoint / INSTANCE / f"payload.{NAME}"


@pytest.fixture
def hybrid(tmp_path: Path) -> ContainerCgroups:
    """A hybrid host: every controller on v1, an empty cgroup2 beside them."""
    found = []
    for controllers, files in V1_FILES.items():
        mountpoint = tmp_path / controllers
        _fill(_payload(mountpoint), {**files, "cgroup.procs": ""})
        _fill(_payload(mountpoint) / "ns", {**files, "cgroup.procs": ""})
        found.append(Hierarchy(str(mountpoint), 1, tuple(controllers.split(",")), ""))
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    _fill(_payload(tmp_path / "unified"), {"cpu.stat": "usage_usec 9\n", "cgroup.procs": ""})
    found.append(Hierarchy(str(tmp_path / "unified"), 2, (), ""))
    return ContainerCgroups(INSTANCE, NAME, found)


@pytest.fixture
def unified(tmp_path: Path) -> ContainerCgroups:
    """A pure v2 host with every controller delegated."""
    mountpoint = tmp_path / "v2"
    _fill(_payload(mountpoint), V2_FILES)
    _fill(_payload(mountpoint) / "ns", {"cpuset.cpus": "", "cgroup.procs": ""})
    (mountpoint / "cpuset.cpus.effective").write_text("0-3\n")
    controllers = ("cpuset", "cpu", "io", "memory", "pids")
    return ContainerCgroups(INSTANCE, NAME, [Hierarchy(str(mountpoint), 2, controllers, "")])


def _read(cg: ContainerCgroups, controller: str, name: str, below: str = "") -> str:
    h = next(h for h in cg.hierarchies if controller in h.controllers)
    return (Path(cg.payload(h)) / below / name).read_text().strip()


LIMITS = {
    "pids": 300,
    "memory": 64 * 2**20,
    "swap": 2**20,
    "cpus": 0.5,
    "cpuset": "0-1",
    "io_weight": 500,
}
LIFTED = dict.fromkeys(LIMITS)


def test_limits_on_v1(hybrid: ContainerCgroups) -> None:
    hybrid.apply_limits(LIMITS)
    assert _read(hybrid, "pids", "pids.max") == "300"
    assert _read(hybrid, "memory", "memory.limit_in_bytes") == str(64 * 2**20)
    assert _read(hybrid, "memory", "memory.memsw.limit_in_bytes") == str(65 * 2**20)
    assert _read(hybrid, "cpu", "cpu.cfs_period_us") == "100000"
    assert _read(hybrid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert _read(hybrid, "cpuset", "cpuset.cpus") == "0-1"
    assert _read(hybrid, "cpuset", "cpuset.cpus", "ns") == "0-1"
    assert _read(hybrid, "blkio", "blkio.bfq.weight") == "50"  # v1's scale is a tenth
    hybrid.apply_limits(LIFTED)
    assert _read(hybrid, "pids", "pids.max") == "max"
    assert _read(hybrid, "memory", "memory.limit_in_bytes") == "-1"
    assert _read(hybrid, "memory", "memory.memsw.limit_in_bytes") == "-1"
    assert _read(hybrid, "cpu", "cpu.cfs_quota_us") == "-1"
    assert _read(hybrid, "cpuset", "cpuset.cpus") == "0-3"  # the host's, from the root
    assert _read(hybrid, "cpuset", "cpuset.cpus", "ns") == "0-3"
    assert _read(hybrid, "blkio", "blkio.bfq.weight") == "50"  # no weight: left as it was


def test_limits_on_v2(unified: ContainerCgroups) -> None:
    unified.apply_limits(LIMITS)
    assert _read(unified, "pids", "pids.max") == "300"
    assert _read(unified, "memory", "memory.max") == str(64 * 2**20)
    assert _read(unified, "memory", "memory.swap.max") == str(2**20)
    assert _read(unified, "cpu", "cpu.max") == "50000 100000"
    assert _read(unified, "cpuset", "cpuset.cpus") == "0-1"
    assert _read(unified, "cpuset", "cpuset.cpus", "ns") == "0-1"
    assert _read(unified, "io", "io.weight") == "default 500"
    unified.apply_limits({**LIFTED, "cpuset": "2"})
    assert _read(unified, "cpuset", "cpuset.cpus", "ns") == "2"
    unified.apply_limits(LIFTED)
    assert _read(unified, "pids", "pids.max") == "max"
    assert _read(unified, "memory", "memory.max") == "max"
    assert _read(unified, "memory", "memory.swap.max") == "max"
    assert _read(unified, "cpu", "cpu.max") == "max 100000"
    assert _read(unified, "cpuset", "cpuset.cpus") == "0-3"  # the root's cpuset.cpus.effective
    assert _read(unified, "cpuset", "cpuset.cpus", "ns") == "0-3"
    assert _read(unified, "io", "io.weight") == "default 500"


def test_a_limit_the_host_cannot_take_is_refused(tmp_path: Path) -> None:
    bare = ContainerCgroups(INSTANCE, NAME, [Hierarchy(str(tmp_path), 2, (), "")])
    _fill(_payload(tmp_path), {"cgroup.procs": ""})
    bare.apply_limits({**LIFTED, "pids": 10})  # no pids controller: skipped, as always
    for key, message in [
        ("memory", "this host has no memory controller for lxpy to use"),
        ("cpus", "this host has no cpu controller for lxpy to use"),
        ("cpuset", "this host has no cpuset controller for lxpy to use"),
        ("io_weight", "this host's block I/O controller takes no weights (no BFQ or CFQ)"),
    ]:
        with pytest.raises(LimitError) as caught:
            bare.apply_limits({**LIFTED, key: LIMITS[key]})
        assert str(caught.value) == message


def test_swap_without_accounting_is_refused(unified: ContainerCgroups) -> None:
    (Path(unified.payload(unified.hierarchies[0])) / "memory.swap.max").unlink()
    unified.apply_limits({**LIMITS, "swap": None})
    with pytest.raises(LimitError, match=r"swap accounting is off on this host \(swapaccount=1\)"):
        unified.apply_limits(LIMITS)


def test_io_weight_without_a_weight_file_is_refused(hybrid: ContainerCgroups) -> None:
    h = next(h for h in hybrid.hierarchies if "blkio" in h.controllers)
    (Path(hybrid.payload(h)) / "blkio.bfq.weight").unlink()
    with pytest.raises(LimitError, match="takes no weights"):
        hybrid.apply_limits({"io_weight": 100})
    (Path(hybrid.payload(h)) / "blkio.weight").write_text("500")
    hybrid.apply_limits({"io_weight": 10000})
    assert _read(hybrid, "blkio", "blkio.weight") == "1000"


def test_usage_and_oom_kills_on_v1(hybrid: ContainerCgroups) -> None:
    assert hybrid.usage() == {
        "cpu_ns": 5000,
        "memory": 4096,
        "memory_peak": 8192,
        "memory_limit": None,  # v1's "no limit" is a huge number
        "pids": 7,
    }
    assert hybrid.oom_kills() == 2  # one in the payload, one in the namespace root


def test_usage_and_oom_kills_on_v2(unified: ContainerCgroups) -> None:
    assert unified.usage() == {
        "cpu_ns": 5000,
        "memory": 4096,
        "memory_peak": 8192,
        "memory_limit": None,
        "pids": 7,
    }
    unified.apply_limits({"memory": 2**30})
    assert unified.usage()["memory_limit"] == 2**30
    assert unified.oom_kills() == 2


def test_the_monitor_tells_each_oom_kill_once(hybrid: ContainerCgroups, tmp_path: Path) -> None:
    monitor = Monitor(
        cast(Any, {"name": NAME, "run_dir": str(tmp_path / "run/c" / NAME), "instance": INSTANCE})
    )
    monitor.cgroups = hybrid
    (tmp_path / "run").mkdir()  # the root's run dir, where the events go
    memory = next(h for h in hybrid.hierarchies if "memory" in h.controllers)
    ns = Path(hybrid.namespace_root(memory))

    def told() -> list[str]:
        monitor.count_ooms()
        lines = (tmp_path / "run/events").read_text().splitlines()
        return [json.loads(line)["detail"] for line in lines]

    assert told() == ["1", "2"]  # one in the payload, one in the namespace root
    assert told() == ["1", "2"]  # counted already
    _fill(ns / "svc", {"memory.oom_control": "oom_kill 1\n"})
    assert told() == ["1", "2", "3"]
    # The guest's next service is killed, as the cgroup of the one before goes with its
    # count: the sum stays, the kill is news.
    _fill(ns / "svc2", {"memory.oom_control": "oom_kill 1\n"})
    (ns / "svc" / "memory.oom_control").unlink()
    (ns / "svc").rmdir()
    assert hybrid.oom_kills() == 3
    assert told() == ["1", "2", "3", "4"]


@pytest.mark.integration
def test_a_v2_notice_wakes_its_poller_once_per_change() -> None:
    """The v2 notice on a file a test can change (cgroup.events, which says whether the
    cgroup holds a process): memory.events works alike, and this host may have no memory
    controller on v2."""
    v2 = next((h for h in cgroups.hierarchies() if h.version == 2), None)
    if v2 is None:
        pytest.skip("no cgroup2 hierarchy here")
    notifier = copy.copy(cgroups.OOM_NOTICES[2])
    notifier.file = "cgroup.events"
    cgroup = os.path.join(v2.mountpoint, f"lxpy-test-notice-{os.getpid()}")
    os.mkdir(cgroup)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        notice = notifier.watch(cgroup)
        poller = select.poll()
        poller.register(notice.fd, notice.events)
        try:
            assert poller.poll(0) == []  # read when armed: nothing new yet
            Path(cgroup, "cgroup.procs").write_text(str(sleeper.pid))
            assert poller.poll(5000)  # populated 1
            notice.take()
            assert poller.poll(0) == []
            sleeper.kill()
            sleeper.wait()
            assert poller.poll(5000)  # populated 0
        finally:
            notice.close()
    finally:
        sleeper.kill()
        sleeper.wait()
        cgroups._rmdir_retry(cgroup)


def test_cpu_time_from_cgroup2_where_v1_has_no_cpuacct(tmp_path: Path) -> None:
    _fill(_payload(tmp_path / "unified"), {"cpu.stat": "usage_usec 9\n"})
    cg = ContainerCgroups(INSTANCE, NAME, [Hierarchy(str(tmp_path / "unified"), 2, (), "")])
    assert cg.usage() == {"cpu_ns": 9000}
    assert cg.oom_kills() == 0


def test_freezer_on_v1(hybrid: ContainerCgroups) -> None:
    assert not hybrid.frozen()
    assert hybrid.freeze(wait=0)
    assert _read(hybrid, "freezer", "freezer.state") == "FROZEN" and hybrid.frozen()
    hybrid.thaw()
    assert _read(hybrid, "freezer", "freezer.state") == "THAWED" and not hybrid.frozen()
    h = next(h for h in hybrid.hierarchies if "freezer" in h.controllers)
    (Path(hybrid.payload(h)) / "freezer.state").write_text("FREEZING\n")
    assert hybrid.frozen()  # on its way: not running any more


def test_freezer_and_kill_on_v2(unified: ContainerCgroups) -> None:
    payload = Path(unified.payload(unified.hierarchies[0]))
    assert not unified.frozen()
    assert not unified.freeze(wait=0)  # the kernel has not said "frozen 1" (no kernel here)
    assert (payload / "cgroup.freeze").read_text() == "1"
    (payload / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert unified.freeze(wait=0) and unified.frozen()
    unified.thaw()
    assert (payload / "cgroup.freeze").read_text() == "0"
    unified.kill_all()
    assert (payload / "cgroup.kill").read_text() == "1"


def test_no_freezer_anywhere(tmp_path: Path) -> None:
    _fill(_payload(tmp_path / "pids"), {"cgroup.procs": ""})
    cg = ContainerCgroups(INSTANCE, NAME, [Hierarchy(str(tmp_path / "pids"), 1, ("pids",), "")])
    assert not cg.freeze(wait=0) and not cg.frozen()
    cg.thaw()
    cg.kill_all()  # nothing to kill, and no cgroup.kill to write


def test_every_limit_the_runtime_sets_has_its_files() -> None:
    from lxpy.config import Limits
    from lxpy.runtime.limits import kernel_values

    assert set(cgroups.LIMITS) == set(kernel_values(Limits()))
