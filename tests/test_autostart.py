"""Autostart: the containers marked for it start in order at boot and come back after a
host reboot, which is simulated as its effects: every lxpy process killed, the run dir
wiped, the networks' bridges and NAT gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from lxpy.linux import safefs
from lxpy.net import dnsmasq, links, model, nat
from tests.conftest import Lxpy, instance_cgroups, monitor_processes

pytestmark = pytest.mark.integration


def simulate_reboot(lxpy: Lxpy) -> None:
    inits = []
    for info in json.loads(lxpy.run("ls", "--format", "json").stdout):
        if info["pid"]:
            inits.append(info["pid"])
    for pid in [*monitor_processes(lxpy.root), *inits]:
        os.kill(pid, signal.SIGKILL)
    for name in model.names(lxpy.paths):
        pid = dnsmasq.running(model.run_dir(lxpy.paths, name))
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        network = model.load(lxpy.paths, name)
        nat.remove(network)
        links.remove_bridge(name)
    for mount in safefs.mounts_under(lxpy.root):
        subprocess.run(["umount", "-l", mount], check=False)
    safefs.remove_tree(lxpy.paths.run)


def test_autostart_containers_come_back_after_a_host_reboot(lxpy: Lxpy) -> None:
    for name in ("late", "early", "manual"):
        lxpy.run("create", name)
    lxpy.run("config", "set", "late", "autostart=true", "autostart_order=2")
    lxpy.run("config", "set", "early", "autostart=true", "autostart_order=1")
    lxpy.run("config", "set", "early", "autostart_delay=0.5")
    assert lxpy.run("autostart", "--list").stdout.splitlines() == ["early  (then 0.5 s)", "late"]
    assert "Autostart: yes, order 1, then 0.5 s\n" in lxpy.run("info", "early").stdout

    assert lxpy.run("autostart").stdout.splitlines() == ["started early", "started late"]
    assert [lxpy.state(n) for n in ("early", "late", "manual")] == ["RUNNING", "RUNNING", "STOPPED"]
    lxpy.run("attach", "late", "--", "sh", "-c", "echo kept > /root/data")
    # Running ones are left alone.
    assert lxpy.run("autostart").stdout == ""

    simulate_reboot(lxpy)
    # What the run dir said is gone; nothing stale is trusted.
    assert [lxpy.state(n) for n in ("early", "late")] == ["STOPPED", "STOPPED"]

    assert lxpy.run("autostart").stdout.splitlines() == ["started early", "started late"]
    assert lxpy.state("early") == lxpy.state("late") == "RUNNING"
    assert lxpy.run("attach", "late", "--", "cat", "/root/data").stdout == "kept\n"
    # The network came back too: each reaches the other by name.
    ping = lxpy.run("attach", "early", "--", "ping", "-c1", "-W5", "late.lxpy", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    lxpy.run("start", "manual")
    lxpy.run("autostart", "--stop", "-t", "10")
    assert [lxpy.state(n) for n in ("early", "late", "manual")] == ["STOPPED", "STOPPED", "RUNNING"]
    lxpy.run("autostart", "--stop", "--all", "-t", "10")
    assert lxpy.state("manual") == "STOPPED"
    assert not monitor_processes(lxpy.root)
    assert not instance_cgroups(lxpy.paths.instance)


def test_stale_records_after_a_crash_are_not_trusted(lxpy: Lxpy) -> None:
    """Killed without wiping anything: the records name dead (or reused) pids."""
    lxpy.run("create", "c1")
    lxpy.run("config", "set", "c1", "autostart=true")
    lxpy.run("autostart")
    init = json.loads(lxpy.run("info", "c1", "--format", "json").stdout)["pid"]
    for pid in [*monitor_processes(lxpy.root), init]:
        os.kill(pid, signal.SIGKILL)
    assert lxpy.wait_state("c1", "STOPPED") == "STOPPED"
    assert lxpy.run("autostart").stdout == "started c1\n"
    assert lxpy.state("c1") == "RUNNING"
    lxpy.run("stop", "c1", "-k")
