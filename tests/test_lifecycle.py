"""Stop, restart, reboot and poweroff from inside, a killed monitor, destroy, many cycles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psutil
import pytest

from lxpy.linux import proc, safefs
from tests.conftest import Lxpy, instance_cgroups, leaks, monitor_processes

pytestmark = pytest.mark.integration


def _init_pid(lxpy: Lxpy, name: str) -> int:
    pid = json.loads(lxpy.run("info", name, "--format", "json").stdout)["pid"]
    assert isinstance(pid, int)
    return pid


def _assert_stopped_clean(lxpy: Lxpy, name: str) -> None:
    assert lxpy.state(name) == "STOPPED"
    assert not os.path.exists(lxpy.paths.run_dir(name))
    assert not instance_cgroups(lxpy.paths.instance)
    assert not monitor_processes(lxpy.root)
    assert not safefs.mounts_under(lxpy.root)


def test_stop_is_clean(lxpy: Lxpy, running: str) -> None:
    pid = _init_pid(lxpy, running)
    lxpy.run("stop", running, "--timeout", "20")
    _assert_stopped_clean(lxpy, running)
    assert not psutil.pid_exists(pid)
    log = lxpy.run("console", running, "--log").stdout
    assert "halt or poweroff" in log  # busybox init shut down through its own signal


def test_stop_kill_and_not_running(lxpy: Lxpy, running: str) -> None:
    lxpy.run("stop", running, "--kill")
    _assert_stopped_clean(lxpy, running)
    again = lxpy.run("stop", running, check=False)
    assert again.returncode == 1
    assert "is not running" in again.stderr


def test_stop_timeout_kills_a_stubborn_init(lxpy: Lxpy, running: str) -> None:
    config = lxpy.paths.config_file(running)
    with open(config) as f:
        text = f.read()
    # SIGWINCH is ignored by busybox init: the stop has to fall back to SIGKILL.
    with open(config, "w") as f:
        f.write(text.replace('halt_signal = "SIGUSR2"', 'halt_signal = "SIGWINCH"'))
    lxpy.run("restart", running)
    started = time.monotonic()
    lxpy.run("stop", running, "--timeout", "1")
    assert time.monotonic() - started < 8
    _assert_stopped_clean(lxpy, running)


def test_restart_gives_a_new_init(lxpy: Lxpy, running: str) -> None:
    before = _init_pid(lxpy, running)
    lxpy.run("restart", running)
    after = _init_pid(lxpy, running)
    assert before != after
    assert lxpy.state(running) == "RUNNING"


def test_reboot_inside_brings_a_new_init(lxpy: Lxpy, running: str) -> None:
    before = _init_pid(lxpy, running)
    lxpy.run("attach", running, "--", "reboot", check=False)
    deadline = time.monotonic() + 20
    after = before
    while after == before and time.monotonic() < deadline:
        time.sleep(0.2)
        info = json.loads(lxpy.run("info", running, "--format", "json").stdout)
        after = info["pid"] if info["state"] == "RUNNING" else before
    assert after != before
    assert lxpy.run("attach", running, "--", "hostname").stdout.strip() == running
    assert "rebooted" in lxpy.run("console", running, "--log").stdout


def test_poweroff_inside_stops_with_nothing_left(lxpy: Lxpy, running: str) -> None:
    lxpy.run("attach", running, "--", "poweroff", check=False)
    assert lxpy.wait_state(running, "STOPPED", timeout=20) == "STOPPED"
    deadline = time.monotonic() + 10
    while leaks(lxpy.root) and time.monotonic() < deadline:
        time.sleep(0.1)
    _assert_stopped_clean(lxpy, running)


def test_killed_init_means_stopped(lxpy: Lxpy, running: str) -> None:
    os.kill(_init_pid(lxpy, running), signal.SIGKILL)
    assert lxpy.wait_state(running, "STOPPED") == "STOPPED"
    deadline = time.monotonic() + 10
    while leaks(lxpy.root) and time.monotonic() < deadline:
        time.sleep(0.1)
    _assert_stopped_clean(lxpy, running)


def test_killed_monitor_leaves_the_container_usable(lxpy: Lxpy, running: str) -> None:
    pid = _init_pid(lxpy, running)
    (monitor,) = monitor_processes(lxpy.root)
    process = psutil.Process(monitor)
    process.kill()
    psutil.wait_procs([process], timeout=5)
    assert lxpy.state(running) == "RUNNING"
    listed = json.loads(lxpy.run("ls", "--format", "json").stdout)
    assert listed[0]["state"] == "RUNNING" and listed[0]["pid"] == pid
    assert lxpy.run("attach", running, "--", "hostname").stdout.strip() == running
    console = lxpy.run("console", running, "--log", check=False)
    assert console.returncode != 0 and "monitor" in console.stderr
    lxpy.run("stop", running, "--timeout", "20")
    _assert_stopped_clean(lxpy, running)


def test_stale_run_files_are_not_trusted(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    run = lxpy.paths.run_dir("c1")
    os.makedirs(run)
    # A record of a live process that is not ours (this test), and one of a dead pid.
    started = proc.start_time(os.getpid())
    assert started is not None
    with open(f"{run}/init.pid", "w") as f:
        f.write(f"{os.getpid()} {started + 1} {proc.boot_id()}\n")
    with open(f"{run}/monitor.pid", "w") as f:
        f.write("999999 1 x\n")
    assert lxpy.state("c1") == "STOPPED"
    lxpy.run("start", "c1")
    assert lxpy.state("c1") == "RUNNING"


def test_destroy_refuses_running_and_force_keeps_bind_mounted_host_files(
    lxpy: Lxpy, running: str
) -> None:
    refused = lxpy.run("destroy", running, check=False)
    assert refused.returncode == 1 and "running" in refused.stderr
    host = f"{lxpy.root}/host-data"
    os.makedirs(f"{host}/deep")
    with open(f"{host}/deep/precious", "w") as f:
        f.write("keep me")
    target = f"{lxpy.paths.rootfs(running)}/mnt/host"
    os.makedirs(target)
    subprocess.run(["mount", "--bind", host, target], check=True)
    try:
        lxpy.run("destroy", "--force", running)
    finally:
        if os.path.ismount(target):
            subprocess.run(["umount", "-l", target], check=False)
    with open(f"{host}/deep/precious") as f:
        assert f.read() == "keep me"
    assert not os.path.exists(lxpy.paths.container_dir(running))
    assert lxpy.run("ls").stdout.strip().splitlines()[1:] == []


def test_fifty_start_stop_cycles_leave_nothing(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    for _ in range(50):
        lxpy.run("start", "c1")
        lxpy.run("stop", "c1", "--kill")
        with open("/proc/self/mountinfo") as f:
            assert lxpy.root not in f.read()
    _assert_stopped_clean(lxpy, "c1")


def test_freeze_unfreeze_and_stop_when_frozen(lxpy: Lxpy, running: str) -> None:
    import json

    lxpy.run("freeze", running)
    assert lxpy.state(running) == "FROZEN"
    listed = json.loads(lxpy.run("ls", "--format", "json").stdout)
    assert [c["state"] for c in listed] == ["FROZEN"]
    again = lxpy.run("freeze", running, check=False)
    assert again.returncode != 0 and "already frozen" in again.stderr
    lxpy.run("unfreeze", running)
    assert lxpy.state(running) == "RUNNING"
    assert lxpy.run("attach", running, "--", "echo", "alive").stdout == "alive\n"
    lxpy.run("freeze", running)
    lxpy.run("stop", running)
    assert lxpy.state(running) == "STOPPED"
