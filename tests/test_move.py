"""`lxpy move`: a container with its snapshots between the dir, overlay and btrfs pools,
its files unchanged (owners, modes, xattrs, file capabilities, links); `lxpy storage
default`; `lxpy import --storage`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Lxpy, sh
from tests.test_archive import manifest, plant_files
from tests.test_pools import pooled  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration


def files_of(lxpy: Lxpy, name: str, where: Path) -> dict[str, tuple[object, ...]]:
    """The container's files and its snapshots', as an export of it holds them."""
    archive = str(where / f"{name}-{len(os.listdir(where))}.tar")
    lxpy.run("export", name, archive, "--snapshots")
    return manifest(archive, ("rootfs", "snapshots/"))


def storage_of(lxpy: Lxpy, name: str) -> tuple[str, str]:
    kind = lxpy.run("config", "get", name, "storage.kind").stdout.strip()
    pool = lxpy.run("config", "get", name, "storage.pool", check=False).stdout.strip()
    return kind, pool


def test_a_container_and_its_snapshots_move_through_every_pool_unchanged(
    pooled: Lxpy,  # noqa: F811
    tmp_path: Path,
) -> None:
    lx = pooled
    for pool in ("fast", "other"):
        lx.run("storage", "create", pool, "--size", "512M")
    lx.run("create", "box", "--network", "none")  # busybox: a plain rootfs (dir)
    plant_files(lx.paths.rootfs("box"))
    lx.run("start", "box")
    sh(lx, "box", "echo one > /root/data")
    lx.run("stop", "box")
    lx.run("snapshot", "box", "first")
    lx.run("start", "box")
    sh(lx, "box", "echo two > /root/data; rm /bin/vi")
    lx.run("snapshot", "box", "second")  # running: frozen, copied
    sh(lx, "box", "echo three > /root/data")
    refused = lx.run("move", "box", "--storage", "fast", check=False)
    assert refused.returncode == 1 and "is running" in refused.stderr
    lx.run("stop", "box")
    expected = files_of(lx, "box", tmp_path)
    assert "snapshots/first/rootfs/srv/app/tool" in expected

    for pool, kind in (
        ("fast", "btrfs"),
        ("other", "btrfs"),
        ("dir", "dir"),
        ("fast", "btrfs"),
        ("overlay", "overlay"),
    ):
        lx.run("move", "box", "--storage", pool)
        assert storage_of(lx, "box") == (kind, "" if kind != "btrfs" else pool)
        assert files_of(lx, "box", tmp_path) == expected, f"after the move to {pool}"
    again = lx.run("move", "box", "--storage", "overlay", check=False)
    assert again.returncode == 2 and "in storage pool 'overlay' already" in again.stderr

    # Nothing is left where it was: the pools hold no container and go.
    for pool in ("fast", "other"):
        assert "Used by:  nothing" in lx.run("storage", "info", pool).stdout
        lx.run("storage", "rm", pool)
    lx.run("start", "box")
    assert sh(lx, "box", "cat /root/data; /srv/app/rel") == "three\ntool\n"
    lx.run("stop", "box")
    lx.run("snapshot", "restore", "box", "first")
    lx.run("start", "box")
    assert sh(lx, "box", "cat /root/data; test -e /bin/vi && echo vi") == "one\nvi\n"
    lx.run("stop", "box")
    lx.run("snapshot", "restore", "box", "second")
    lx.run("start", "box")
    assert sh(lx, "box", "cat /root/data; test -e /bin/vi || echo no vi") == "two\nno vi\n"


def _max_referenced(pool_mount: str, subvolume: str) -> str:
    shown = subprocess.run(
        ["btrfs", "qgroup", "show", "-r", "--raw", "-f", subvolume],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return shown[-1].split()[3]  # qgroupid, rfer, excl, max_rfer


def test_a_move_keeps_the_disk_limit_and_what_stands_on_it(pooled: Lxpy) -> None:  # noqa: F811
    lx = pooled
    for pool in ("fast", "other"):
        lx.run("storage", "create", pool, "--size", "512M")
    lx.run("create", "box", "--network", "none", "--storage", "fast", "--disk", "64M")
    lx.run("move", "box", "--storage", "other")
    other = f"{lx.root}/lib/pools/other"
    assert _max_referenced(other, f"{other}/containers/box/rootfs") == str(64 << 20)
    refused = lx.run("move", "box", "--storage", "overlay", check=False)
    assert refused.returncode == 2 and "limits.disk" in refused.stderr
    lx.run("config", "unset", "box", "limits.disk")
    lx.run("move", "box", "--storage", "overlay")

    # A snapshot clone stands on box's layers: box moves, the clone still starts on them;
    # the clone moves, and the layers nothing names any more go.
    lx.run("clone", "--snapshot", "box", "kid")
    lx.run("move", "box", "--storage", "fast")
    lx.run("start", "kid")
    assert sh(lx, "kid", "hostname") == "kid\n"
    lx.run("stop", "kid")
    assert os.listdir(f"{lx.paths.container_dir('box')}/layers")
    lx.run("move", "kid", "--storage", "dir")
    assert not os.listdir(f"{lx.paths.container_dir('box')}/layers")
    lx.run("start", "kid")
    assert sh(lx, "kid", "hostname") == "kid\n"
    lx.run("stop", "kid")


def test_the_default_pool_takes_creates_and_imports(pooled: Lxpy, tmp_path: Path) -> None:  # noqa: F811
    lx = pooled
    assert lx.run("storage", "default").stdout == "overlay\n"
    missing = lx.run("storage", "default", "fast", check=False)
    assert missing.returncode != 0 and "no storage pool named 'fast'" in missing.stderr
    lx.run("storage", "create", "fast", "--size", "512M")
    lx.run("storage", "default", "fast")
    assert lx.run("storage", "default").stdout == "fast\n"
    assert "fast (default)" in lx.run("storage").stdout
    lx.run("create", "box", "--network", "none")
    assert storage_of(lx, "box") == ("btrfs", "fast")
    refused = lx.run("storage", "rm", "fast", check=False)
    assert refused.returncode == 1 and "default pool" in refused.stderr

    archive = str(tmp_path / "box.tar")
    lx.run("export", "box", archive)
    lx.run("import", archive, "box2")
    assert storage_of(lx, "box2") == ("btrfs", "fast")
    lx.run("import", archive, "box3", "--storage", "overlay")
    assert storage_of(lx, "box3")[0] == "overlay"
    assert manifest(archive) == files_of_rootfs(lx, "box3", tmp_path)
    lx.run("storage", "default", "overlay")
    assert "Storage:  btrfs in pool fast" in lx.run("info", "box2").stdout
    assert "Storage:  overlay (the overlay pool)" in lx.run("info", "box3").stdout
    with open(f"{lx.root}/etc/settings.toml") as f:
        assert f.read().strip() == ""
    lx.run("create", "box4", "--network", "none")
    assert storage_of(lx, "box4") == ("dir", "")  # busybox in the state root, as before


def files_of_rootfs(lxpy: Lxpy, name: str, where: Path) -> dict[str, tuple[object, ...]]:
    archive = str(where / f"{name}.tar")
    lxpy.run("export", name, archive)
    return manifest(archive)
