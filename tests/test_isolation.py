"""What a process inside sees: read-only /proc/sys and /sys, masked /proc files, a private
/dev, dropped capabilities, its own cgroup with a pids limit."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lxpy.linux.cgroups import ContainerCgroups
from tests.conftest import Lxpy

pytestmark = pytest.mark.integration


def sh(lxpy: Lxpy, name: str, script: str) -> str:
    return lxpy.run("attach", name, "--", "sh", "-c", script, check=False).stdout


def test_proc_sys_and_sys_are_read_only(lxpy: Lxpy, running: str) -> None:
    out = sh(
        lxpy,
        running,
        "echo 1 > /proc/sys/kernel/panic && echo wrote-panic; "
        "echo x > /sys/kernel/uevent_helper && echo wrote-sys; "
        "echo 1 > /proc/sysrq-trigger && echo wrote-sysrq; "
        "echo 1 > /proc/sys/net/ipv4/ip_forward && echo net-ok",
    )
    assert "wrote-panic" not in out
    assert "wrote-sys" not in out
    assert "wrote-sysrq" not in out
    assert "net-ok" in out  # /proc/sys/net belongs to the container's own netns


def test_sensitive_proc_files_are_masked(lxpy: Lxpy, running: str) -> None:
    mountinfo = sh(lxpy, running, "cat /proc/self/mountinfo")
    for name in ("keys", "timer_list"):
        assert f" /proc/{name} " in mountinfo
    assert sh(lxpy, running, "cat /proc/keys /proc/timer_list /proc/kcore 2>/dev/null") == ""


def test_dev_is_private_and_minimal(lxpy: Lxpy, running: str) -> None:
    listing = set(sh(lxpy, running, "ls /dev").split())
    assert {
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "tty",
        "console",
        "ptmx",
        "pts",
        "shm",
    } <= listing
    assert not {"sda", "vda", "kmsg", "mem", "port"} & listing
    console = sh(lxpy, running, "readlink -f /proc/1/fd/0")
    assert console.strip() == "/dev/console"
    mounts = sh(lxpy, running, "grep devpts /proc/self/mountinfo")
    assert "ptmxmode=666" in mounts


def test_capabilities_follow_lxc_defaults(lxpy: Lxpy, running: str) -> None:
    status = dict(
        line.split(":\t", 1)
        for line in sh(lxpy, running, "cat /proc/1/status").splitlines()
        if ":\t" in line
    )
    bounding = int(status["CapBnd"], 16)
    for dropped in (16, 17, 25, 32, 33):  # sys_module sys_rawio sys_time mac_override mac_admin
        assert not bounding & (1 << dropped)
    assert bounding & (1 << 21)  # sys_admin stays: systemd needs it
    assert bounding & (1 << 27)  # mknod too
    assert int(status["CapInh"], 16) == 0
    assert int(status["CapAmb"], 16) == 0


def test_hostname_cannot_reach_the_host(lxpy: Lxpy, running: str) -> None:
    import socket

    before = socket.gethostname()
    sh(lxpy, running, "hostname changed-inside")
    assert socket.gethostname() == before
    assert sh(lxpy, running, "hostname").strip() == "changed-inside"


def test_own_network_namespace_with_loopback_up(lxpy: Lxpy, running: str) -> None:
    """Only its own links: loopback (up) and its NIC, whose MAC is the container's own."""
    links = sh(lxpy, running, "ip -o link")
    assert "lo:" in links and "UP" in links.split("lo:")[1].split("\n")[0]
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    assert names == ["lo", "eth0"]
    from lxpy.net.model import mac_address

    assert mac_address(running, 0) in links


def test_no_nic_with_network_none(lxpy: Lxpy) -> None:
    lxpy.run("create", "solo", "--network", "none")
    lxpy.run("start", "solo")
    links = sh(lxpy, "solo", "ip -o link")
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]


def test_cgroup_namespace_and_pids_limit(lxpy: Lxpy, running: str) -> None:
    cgroup = sh(lxpy, running, "cat /proc/1/cgroup")
    assert all(line.endswith(":/") for line in cgroup.splitlines()), cgroup
    cgroups = ContainerCgroups(lxpy.paths.instance, running)
    pids = next(h for h in cgroups.hierarchies if "pids" in h.controllers)
    limit = Path(cgroups.payload(pids)) / "pids.max"
    assert limit.read_text().strip() == "4096"
    # The limit sits above the container's cgroup namespace root: not writable from inside.
    out = sh(lxpy, running, "ls /sys/fs/cgroup/pids/; echo max > /sys/fs/cgroup/pids/pids.max")
    assert "release_agent" not in out
    assert limit.read_text().strip() == "4096"
    ro = sh(lxpy, running, "mkdir /sys/fs/cgroup/evil && echo made")
    assert "made" not in ro


def test_host_devices_cannot_be_opened(lxpy: Lxpy, running: str) -> None:
    """A node of /dev/kmsg in the rootfs fails to open (EPERM), one of /dev/null opens:
    LXC's default device allow-list, through the v1 devices controller (a host disk:
    test_escapes). The nodes are made from the host: container root may make none."""
    for name, number in (("kmsg", 11), ("null", 3)):
        os.mknod(
            f"{lxpy.paths.rootfs(running)}/lxpy-{name}", 0o600 | stat.S_IFCHR, os.makedev(1, number)
        )
    script = (
        "mknod /dev/lxpy-made c 1 3 2>/dev/null && echo made; "
        "for d in kmsg null; do head -c1 /lxpy-$d >/dev/null 2>/tmp/err "
        "&& echo $d:ok || echo $d:$(cat /tmp/err); done"
    )
    out = sh(lxpy, running, script)
    assert "made" not in out
    assert "kmsg:" in out and "kmsg:ok" not in out and "Operation not permitted" in out
    assert "null:ok" in out


def test_v2_device_program_allows_only_the_list(tmp_path: Path) -> None:
    """The BPF program that enforces the list on cgroup v2, checked on its own: a process in
    a v2 cgroup with it attached opens /dev/null's node but not /dev/kmsg's or a disk's."""
    from lxpy.linux.cgroups import attach_device_program, hierarchies

    v2 = next(h for h in hierarchies() if h.version == 2)
    cgroup = f"{v2.mountpoint}/lxpy-test-devices-{os.getpid()}"
    nodes = {"null": (1, 3), "kmsg": (1, 11), "disk": (8, 0)}
    for name, (major, minor) in nodes.items():
        kind = stat.S_IFBLK if name == "disk" else stat.S_IFCHR
        os.mknod(tmp_path / name, 0o600 | kind, os.makedev(major, minor))
    os.mkdir(cgroup)
    try:
        attach_device_program(cgroup)
        code = (
            "import os, sys\n"
            "open(sys.argv[1] + '/cgroup.procs', 'w').write(str(os.getpid()))\n"
            "for name in ('null', 'kmsg', 'disk'):\n"
            "    try:\n"
            "        os.close(os.open(os.path.join(sys.argv[2], name), os.O_RDONLY))\n"
            "        print(name, 'ok')\n"
            "    except OSError as e:\n"
            "        print(name, e.errno)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, cgroup, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split("\n")
    finally:
        os.rmdir(cgroup)
    assert out[:3] == ["null ok", f"kmsg {errno.EPERM}", f"disk {errno.EPERM}"]
