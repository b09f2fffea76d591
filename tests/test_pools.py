"""Storage pools: btrfs on a loop file lxpy makes or on a btrfs mount, mounted again after a
reboot, and removed leaving no loop device, mount or file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy.api import Api
from lxpy.linux import safefs
from tests.conftest import Lxpy, cleanup, sh

pytestmark = pytest.mark.integration


def loop_devices_of(path: str) -> list[str]:
    listed = subprocess.run(
        ["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split()[0] for line in listed.splitlines() if line.split()[1:] == [path]]


def no_loop_device_of(path: str, timeout: float = 10.0) -> bool:
    """True once no loop device is backed by `path`: the kernel lets an autoclear loop
    device go from a work queue, a little after the last unmount (later under load)."""
    deadline = time.monotonic() + timeout
    while loop_devices_of(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def pooled(lxpy: Lxpy) -> Iterator[Lxpy]:
    """`lxpy` whose pools are removed at the end, pass or fail, before the root's own checks
    (its containers first: a running one keeps its pool busy)."""
    yield lxpy
    cleanup(lxpy)
    pools = f"{lxpy.root}/lib/pools"
    for mount in safefs.mounts_under(pools) if os.path.isdir(pools) else []:
        subprocess.run(["umount", mount], check=False)


def test_a_loop_pool_comes_back_after_a_reboot_and_goes_without_a_trace(pooled: Lxpy) -> None:
    created = pooled.run("storage", "create", "fast", "--size", "1G").stdout.split()
    where = f"{pooled.root}/lib/pools/fast"
    image = f"{pooled.root}/lib/pools/fast.img"
    assert created == ["fast", where]
    assert os.path.ismount(where) and safefs.fstype(where) == "btrfs"
    assert os.stat(image).st_blocks * 512 < 64 << 20  # sparse: 1G promised, little taken
    listed = pooled.run("storage").stdout
    assert "fast" in listed and "btrfs" in listed and "overlay" in listed
    info = pooled.run("storage", "info", "fast").stdout
    assert "Size:     1.0 GiB" in info and "Used by:  nothing" in info
    # Quotas are on: btrfs lists the pool's qgroups.
    assert os.listdir(f"/sys/fs/btrfs/{_fsid(where)}/qgroups")

    # A reboot: the mount gone, the loop device with it (autoclear).
    subprocess.run(["umount", where], check=True)
    assert no_loop_device_of(image)
    assert "Used by:  nothing" in pooled.run("storage", "info", "fast").stdout
    assert os.path.ismount(where) and len(loop_devices_of(image)) == 1

    # In use: refused.
    os.makedirs(f"{where}/containers/web")
    refused = pooled.run("storage", "rm", "fast", check=False)
    assert refused.returncode == 1 and "in use: container web" in refused.stderr
    os.rmdir(f"{where}/containers/web")

    pooled.run("storage", "rm", "fast")
    assert no_loop_device_of(image)
    assert os.listdir(f"{pooled.root}/lib/pools") == []
    assert "fast" not in pooled.run("storage").stdout


def _fsid(where: str) -> str:
    shown = subprocess.run(
        ["btrfs", "filesystem", "show", where], capture_output=True, text=True, check=True
    ).stdout
    return shown.split("uuid: ")[1].split()[0]


def test_a_pool_on_a_btrfs_mount_leaves_it_as_it_was(pooled: Lxpy, tmp_path: Path) -> None:
    pooled.run("storage", "create", "base", "--size", "512M")
    source = f"{pooled.root}/lib/pools/base/srv"
    os.mkdir(source)
    pooled.run("storage", "create", "on-it", "--source", source)
    assert "Source:   " + source in pooled.run("storage", "info", "on-it").stdout
    pooled.run("storage", "rm", "on-it")
    assert os.path.isdir(source)
    os.rmdir(source)
    pooled.run("storage", "rm", "base")
    not_btrfs = pooled.run("storage", "create", "nope", "--source", str(tmp_path), check=False)
    assert not_btrfs.returncode == 2 and "not on a btrfs filesystem" in not_btrfs.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("overlay", "--size", "1G"), "built-in pool"),
        (("x", "--size", "1M"), "at least 256.0 MiB"),
        (("x",), "needs --size"),
        (("x", "--size", "1G", "--source", "/"), "needs --size"),
        (("Bad_Name", "--size", "1G"), "invalid pool name"),
    ],
)
def test_what_cannot_be_a_pool_is_refused(
    pooled: Lxpy, args: tuple[str, ...], message: str
) -> None:
    refused = pooled.run("storage", "create", *args, check=False)
    assert refused.returncode == 2 and message in refused.stderr
    assert not os.path.exists(f"{pooled.root}/lib/pools/x.img")


def test_containers_live_in_a_btrfs_pool(pooled: Lxpy, tmp_path: Path) -> None:
    """Each a subvolume: snapshots (of a running one too), restore, clones, rename,
    export and destroy are subvolume operations, and the pool goes without a trace."""
    pooled.run("storage", "create", "fast", "--size", "1G")
    where = f"{pooled.root}/lib/pools/fast/containers"
    pooled.run("create", "c1", "--template", "busybox", "--network", "none", "--storage", "fast")
    assert os.stat(f"{where}/c1/rootfs").st_ino == 256  # a subvolume's root
    info = pooled.run("info", "c1").stdout
    assert f"Rootfs:   {where}/c1/rootfs" in info and "Storage:  btrfs in pool fast" in info
    pooled.run("start", "c1")
    sh(pooled, "c1", "echo kept > /root/file")
    pooled.run("snapshot", "c1", "first")  # while it runs
    assert os.stat(f"{where}/c1/snapshots/first").st_ino == 256
    sh(pooled, "c1", "rm /root/file")
    pooled.run("stop", "c1", "--kill")
    pooled.run("snapshot", "restore", "c1", "first")
    pooled.run("start", "c1")
    assert sh(pooled, "c1", "cat /root/file") == "kept\n"

    pooled.run("clone", "--snapshot", "c1", "c2")
    pooled.run("rename", "c2", "c3")
    pooled.run("start", "c3")
    assert sh(pooled, "c3", "cat /root/file; hostname") == "kept\nc3\n"
    assert sorted(os.listdir(where)) == ["c1", "c3"]
    pooled.run("export", "c1", str(tmp_path / "c1.tar.zst"), "--snapshots")
    pooled.run("import", str(tmp_path / "c1.tar.zst"), "c4")
    assert "first" in pooled.run("snapshot", "ls", "c4").stdout

    refused = pooled.run("storage", "rm", "fast", check=False)
    assert refused.returncode == 1 and "container c1, container c3" in refused.stderr
    for name in ("c1", "c3", "c4"):
        pooled.run("destroy", "--force", name)
    assert os.listdir(where) == []
    pooled.run("storage", "rm", "fast")
    assert os.listdir(f"{pooled.root}/lib/pools") == []


def test_a_pool_that_does_not_exist_is_refused_at_create(pooled: Lxpy) -> None:
    refused = pooled.run("create", "c1", "--network", "none", "--storage", "nowhere", check=False)
    assert refused.returncode == 1 and "no storage pool named 'nowhere'" in refused.stderr
    assert "c1" not in pooled.run("ls").stdout


def test_a_disk_limit_holds_in_a_pool_and_is_refused_elsewhere(pooled: Lxpy) -> None:
    pooled.run("storage", "create", "fast", "--size", "1G")
    pooled.run(
        "create", "q1", "-t", "busybox", "--network", "none", "--storage", "fast", "--disk", "40M"
    )
    pooled.run("start", "q1")
    fill = "dd if=/dev/zero of=/root/fill bs=1M count=100 conv=fsync 2>&1; ls -l /root/fill"
    out = sh(pooled, "q1", fill, check=False)
    assert "Disk quota exceeded" in out
    written = int(out.split()[-5])  # ls -l: the size
    assert 30 << 20 < written <= 40 << 20
    # Raised live: there is room again.
    pooled.run("config", "set", "q1", "limits.disk=200M")
    assert "100+0 records out" in sh(pooled, "q1", fill, check=False)
    # Kept by a clone, whose subvolume is a new qgroup.
    sh(pooled, "q1", "rm /root/fill")
    pooled.run("config", "set", "q1", "limits.disk=40M")
    pooled.run("clone", "q1", "q2")
    pooled.run("start", "q2")
    assert "Disk quota exceeded" in sh(pooled, "q2", fill, check=False)
    # And by a restore, whose subvolume is new too.
    pooled.run("snapshot", "q1", "empty")
    pooled.run("stop", "q1", "--kill")
    pooled.run("snapshot", "restore", "q1", "empty")
    pooled.run("start", "q1")
    assert "Disk quota exceeded" in sh(pooled, "q1", fill, check=False)
    for name in ("q1", "q2"):
        pooled.run("destroy", "--force", name)
    pooled.run("storage", "rm", "fast")

    refused = pooled.run("create", "o1", "--network", "none", "--disk", "1G", check=False)
    assert (
        refused.returncode == 2
        and "a disk limit needs a container in a btrfs pool" in refused.stderr
    )
    pooled.run("create", "o1", "--network", "none")
    refused = pooled.run("config", "set", "o1", "limits.disk=1G", check=False)
    assert refused.returncode == 2 and "btrfs pool" in refused.stderr


def test_a_pool_and_its_container_come_back_after_a_host_reboot(pooled: Lxpy) -> None:
    from tests.test_autostart import simulate_reboot

    pooled.run("storage", "create", "fast", "--size", "1G")
    where = f"{pooled.root}/lib/pools/fast"
    image = f"{where}.img"
    pooled.run("create", "c1", "-t", "busybox", "--network", "none", "--storage", "fast")
    pooled.run("config", "set", "c1", "autostart=true")
    pooled.run("start", "c1")
    sh(pooled, "c1", "echo kept > /root/data")
    simulate_reboot(pooled)  # its unmount is lazy: the loop device goes with the last user
    deadline = time.monotonic() + 10
    while loop_devices_of(image) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.ismount(where) and not loop_devices_of(image)

    assert pooled.run("autostart").stdout.splitlines() == ["started c1"]
    assert sh(pooled, "c1", "cat /root/data") == "kept\n"
    pooled.run("destroy", "--force", "c1")
    pooled.run("storage", "rm", "fast")
    assert no_loop_device_of(image) and os.listdir(f"{pooled.root}/lib/pools") == []


def test_a_running_snapshot_says_how_long_it_froze_the_container(pooled: Lxpy) -> None:
    pooled.run("storage", "create", "fast", "--size", "1G")
    pooled.run("create", "c1", "-t", "busybox", "--network", "none", "--storage", "fast")
    stopped = pooled.run("snapshot", "c1", "cold")
    assert "frozen" not in stopped.stderr
    pooled.run("start", "c1")
    taken = pooled.run("snapshot", "c1", "hot")
    assert taken.stdout == "hot\n"
    frozen = re.fullmatch(r"c1 was frozen for (\d+) ms\n", taken.stderr)
    assert frozen and int(frozen.group(1)) < 1000, taken.stderr


def disk_of(lx: Lxpy, name: str) -> int:
    return int(json.loads(lx.run("info", name, "--format", "json").stdout)["disk"]["used"])


def test_disk_use_in_a_pool_is_the_containers_own_blocks(pooled: Lxpy) -> None:
    """From its quota group, not a walk: a clone that shares every block owns almost none
    (and the blocks they share are neither's own any more)."""
    pooled.run("storage", "create", "fast", "--size", "1G")
    pooled.run("create", "c1", "-t", "busybox", "--network", "none", "--storage", "fast")
    pooled.run("start", "c1")
    sh(pooled, "c1", "dd if=/dev/urandom of=/root/blob bs=1M count=30 2>/dev/null; sync")
    assert disk_of(pooled, "c1") >= 30 << 20
    pooled.run("clone", "c1", "c2")
    pooled.run("start", "c2")
    sh(pooled, "c2", "sync")
    assert sh(pooled, "c2", "wc -c < /root/blob") == f"{30 << 20}\n"
    assert disk_of(pooled, "c2") < 1 << 20


def test_a_snapshots_size_is_what_it_alone_holds_in_a_pool(pooled: Lxpy) -> None:
    """Read from its quota group (what removing it frees); overlay storage has no counter."""
    pooled.run("storage", "create", "fast", "--size", "1G")
    pooled.run("create", "c1", "-t", "busybox", "--network", "none", "--storage", "fast")
    pooled.run("start", "c1")
    sh(pooled, "c1", "dd if=/dev/urandom of=/root/blob bs=1M count=30 2>/dev/null; sync")
    pooled.run("snapshot", "c1", "kept")
    api = Api(pooled.paths)
    sh(pooled, "c1", "sync")
    assert (api.snapshot_size("c1", "kept") or 0) < 1 << 20  # it shares every block yet
    sh(pooled, "c1", "rm /root/blob; sync")
    assert (api.snapshot_size("c1", "kept") or 0) >= 30 << 20
    pooled.run("create", "plain", "-t", "busybox", "--network", "none")
    pooled.run("snapshot", "plain", "s")
    assert api.snapshot_size("plain", "s") is None


def test_the_built_in_pools_name_their_own_containers(pooled: Lxpy) -> None:
    for name in ("plain", "layered"):
        pooled.run("create", name, "--network", "none")  # busybox: dir storage
    pooled.run("snapshot", "layered")  # an overlay on its snapshot's layer from now on
    assert "Used by:  container plain\n" in pooled.run("storage", "info", "dir").stdout
    assert "Used by:  container layered\n" in pooled.run("storage", "info", "overlay").stdout
