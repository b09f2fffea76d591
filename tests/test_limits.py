"""Resource limits with real containers: applied at start, live through `lxpy config set`,
refused when invalid, and an OOM inside kills only what it must."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import Lxpy, monitor_processes

pytestmark = pytest.mark.integration


def payload_file(lx: Lxpy, name: str, controller: str, v1: str, v2: str) -> str:
    from lxpy.linux.cgroups import ContainerCgroups

    cg = ContainerCgroups(lx.paths.instance, name)
    h = next(h for h in cg.hierarchies if controller in h.controllers)
    with open(os.path.join(cg.payload(h), v1 if h.version == 1 else v2)) as f:
        return f.read().strip()


def test_memory_limit_kills_inside_and_counts(lxpy: Lxpy) -> None:
    lxpy.run("create", "m1", "--network", "none", "--memory", "64M")
    lxpy.run("start", "m1")
    assert payload_file(lxpy, "m1", "memory", "memory.limit_in_bytes", "memory.max") == str(
        64 * 2**20
    )
    result = lxpy.run(
        "attach",
        "m1",
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=200M",
        "count=1",
        check=False,
    )
    assert result.returncode == 137  # SIGKILL: the OOM killer, inside the container only
    assert lxpy.state("m1") == "RUNNING" and monitor_processes(lxpy.root)
    info = json.loads(lxpy.run("info", "m1", "--format", "json").stdout)
    assert info["oom_kills"] >= 1
    assert lxpy.run("attach", "m1", "--", "echo", "still here").stdout == "still here\n"


def test_limits_apply_live_and_persist(lxpy: Lxpy) -> None:
    lxpy.run("create", "l1", "--network", "none", "--cpus", "0.5", "--pids", "300")
    lxpy.run("start", "l1")
    assert payload_file(lxpy, "l1", "pids", "pids.max", "pids.max") == "300"
    lxpy.run("config", "set", "l1", "limits.memory=1G", "limits.pids=2000")
    assert payload_file(lxpy, "l1", "memory", "memory.limit_in_bytes", "memory.max") == str(2**30)
    assert payload_file(lxpy, "l1", "pids", "pids.max", "pids.max") == "2000"
    assert lxpy.run("config", "get", "l1", "limits.memory").stdout.strip() == "1G"
    lxpy.run("config", "unset", "l1", "limits.cpus")
    quota = payload_file(lxpy, "l1", "cpu", "cpu.cfs_quota_us", "cpu.max")
    assert quota in ("-1", "max 100000")
    lxpy.run("restart", "l1")
    assert payload_file(lxpy, "l1", "pids", "pids.max", "pids.max") == "2000"


def test_bad_limits_are_refused_and_change_nothing(lxpy: Lxpy) -> None:
    for flag, value, message in [
        ("--memory", "12Q", "not a size"),
        ("--pids", "-5", "positive"),
        ("--cpuset", "0-999", "this host has CPUs"),
        ("--cpus", "0", "between"),
    ]:
        result = lxpy.run("create", "b1", "--network", "none", flag, value, check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not os.path.exists(lxpy.paths.container_dir("b1"))
    lxpy.run("create", "b2", "--network", "none")
    before = lxpy.run("config", "show", "b2").stdout
    bad = lxpy.run("config", "set", "b2", "limits.memory=lots", check=False)
    assert bad.returncode != 0 and "limits.memory" in bad.stderr
    assert lxpy.run("config", "show", "b2").stdout == before


def test_stats_in_info_ls_and_top(lxpy: Lxpy) -> None:
    for name in ("s1", "s2"):
        lxpy.run("create", name, "--memory", "256M")
        lxpy.run("start", name)
    # Some CPU (a bounded busy loop) and some traffic (s1 pings s2 by name).
    lxpy.run(
        "attach",
        "s1",
        "--",
        "sh",
        "-c",
        "ping -c2 -W2 s2 >/dev/null; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done",
    )
    info = json.loads(lxpy.run("info", "s1", "--format", "json").stdout)
    stats = info["stats"]
    assert stats["cpu_seconds"] > 0 and stats["memory"] > 0
    assert stats["memory_limit"] == 256 * 2**20
    assert stats["pids"] >= 2 and stats["uptime"] > 0 and stats["oom_kills"] == 0
    assert stats["rx_bytes"] > 0 and stats["tx_bytes"] > 0 and info["disk"]["used"] > 0
    listed = json.loads(lxpy.run("ls", "--format", "json").stdout)
    assert all(c["stats"]["pids"] >= 1 for c in listed)
    top = lxpy.run("top", "--once", "--sort", "name").stdout.splitlines()
    assert top[0].split()[:3] == ["NAME", "CPU%", "CPU"]
    assert [line.split()[0] for line in top[1:]] == ["s1", "s2"]
