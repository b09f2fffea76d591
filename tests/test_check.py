"""`lxpy check`: this host has what lxpy needs; a host with a feature taken away (a fake /proc
and a PATH without a program) gets that feature named with its fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lxpy.host import check as hostcheck
from lxpy.host.check import Finding, Host
from lxpy.linux.safefs import fstype
from tests.conftest import Lxpy


def by_item(findings: list[Finding]) -> dict[str, Finding]:
    return {f.item: f for f in findings}


def test_this_host_has_everything_lxpy_needs() -> None:
    missing = [f"{f.item}: {f.fix}" for f in hostcheck.run() if f.needed and not f.ok]
    assert missing == []


def fake_host(tmp_path: Path, filesystems: str, programs: list[str], subuid: str) -> Host:
    """A tree like this host's /proc, with the given filesystems and root's subuid line, and
    a PATH holding only `programs` (links to this host's)."""
    proc = tmp_path / "proc"
    (proc / "self" / "ns").mkdir(parents=True)
    for ns in ("mnt", "pid", "uts", "ipc", "net", "cgroup"):  # no user namespace
        (proc / "self" / "ns" / ns).touch()
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "osrelease").write_text("5.10.0-28-amd64\n")
    (proc / "filesystems").write_text(filesystems)
    for name in ("mountinfo", "status"):
        shutil.copy(f"/proc/self/{name}", proc / "self" / name)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "subuid").write_text(subuid)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in programs:
        found = shutil.which(program)
        assert found, program
        os.symlink(found, bin_dir / program)
    return Host(str(tmp_path), str(bin_dir))


def test_a_masked_feature_is_named_with_its_fix(tmp_path: Path) -> None:
    host = fake_host(
        tmp_path,
        "nodev\tsysfs\nnodev\ttmpfs\n\text4\n",
        ["busybox", "nft", "zstd"],
        "alice:100000:65536\nroot:1000000:1000000000\n",
    )
    found = by_item(hostcheck.run(host))
    assert not found["version"].ok and "5.12" in found["version"].fix
    assert not found["overlay"].ok and found["overlay"].fix == "modprobe overlay"
    assert found["overlay"].needed
    assert not found["user"].ok and found["user"].needed_for == "unprivileged containers"
    assert found["/etc/subuid"].ok and found["/etc/subuid"].detail == "1000000+1000000000"
    assert not found["/etc/subgid"].ok and "usermod --add-subgids" in found["/etc/subgid"].fix
    dnsmasq = found["dnsmasq"]
    assert not dnsmasq.ok and dnsmasq.fix == "apt-get install dnsmasq-base"
    assert dnsmasq.needed_for == "networks" and not dnsmasq.needed
    assert not found["mmdebstrap"].ok
    assert found["busybox (static)"].ok and found["nft"].ok and found["zstd"].ok
    assert found["pid"].ok and found["memory"].ok
    assert found["busybox (static)"].to_json()["fix"] is None


def test_a_dynamic_busybox_is_not_enough(tmp_path: Path) -> None:
    host = fake_host(tmp_path, "nodev\toverlay\n", ["sh"], "")
    os.symlink(shutil.which("sh") or "/bin/sh", tmp_path / "bin" / "busybox")
    finding = by_item(hostcheck.run(host))["busybox (static)"]
    assert not finding.ok and finding.fix == "apt-get install busybox-static"


def mount_count() -> int:
    with open("/proc/self/mountinfo") as f:
        return len(f.readlines())


def test_idmapped_mounts_are_tried_on_each_filesystem(tmp_path: Path) -> None:
    before = mount_count()
    found = hostcheck.idmapped_mounts(Host(probe=(str(tmp_path / "not-made-yet"), "/proc")))
    assert [(f.item, f.ok) for f in found] == [
        (f"idmapped {fstype(str(tmp_path))}", True),
        ("idmapped proc", False),
    ]
    assert found[0].detail.endswith(f"({tmp_path})")
    assert "Invalid argument" in found[1].detail and found[1].needed_for
    assert mount_count() == before  # the probes' detached trees are gone


def test_lxpy_check_reports_and_exits_by_what_is_needed(lxpy: Lxpy) -> None:
    text = lxpy.run("check").stdout
    assert "  ok      overlay" in text and text.endswith("lxpy can run containers here\n")
    found = json.loads(lxpy.run("check", "--format", "json").stdout)
    assert {"area", "item", "ok", "needed", "needed_for", "detail", "fix"} == set(found[0])
    assert all(f["ok"] for f in found if f["needed"])
