"""A container in a btrfs pool that makes subvolumes of its own (machinectl, docker's btrfs
driver, `btrfs subvolume create`: btrfs lets the owner of a directory make one, an
unprivileged container's root too) can still be destroyed, restored and snapshotted, and what
it plants (symlinks, a subvolume made read-only, a bind mount) reaches nothing outside it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from lxpy.linux import safefs
from tests import test_pools
from tests.conftest import Lxpy, sh

pytestmark = pytest.mark.integration

pooled = test_pools.pooled

# busybox has no btrfs tool: the two ioctls, built static so it runs in any rootfs.
SUBVOL_SOURCE = r"""
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int fd = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        perror(argv[2]);
        return 1;
    }
    if (argc == 4 && strcmp(argv[1], "create") == 0) {
        struct btrfs_ioctl_vol_args args = {0};
        strncpy(args.name, argv[3], BTRFS_PATH_NAME_MAX);
        if (ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) == 0)
            return 0;
    } else if (argc == 3 && strcmp(argv[1], "readonly") == 0) {
        __u64 flags = BTRFS_SUBVOL_RDONLY;
        if (ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) == 0)
            return 0;
    } else {
        return 2;
    }
    perror(argv[1]);
    return 1;
}
"""
TOOL = "/usr/bin/subvol"


@pytest.fixture(scope="session")
def subvol_tool(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SUBVOL_SOURCE built static: `subvol create DIR NAME`, `subvol readonly DIR`."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.fail("gcc is needed to build the subvolume helper: apt-get install gcc libc6-dev")
    where = tmp_path_factory.mktemp("subvol")
    (where / "subvol.c").write_text(SUBVOL_SOURCE)
    subprocess.run(
        [compiler, "-static", "-O1", "-Wall", "-o", str(where / "subvol"), str(where / "subvol.c")],
        check=True,
        timeout=120,
    )
    return str(where / "subvol")


@pytest.fixture
def pool(pooled: Lxpy) -> Iterator[str]:
    """The mount point of the pool `fast`, and a busybox container c1 in it."""
    pooled.run("storage", "create", "fast", "--size", "1G")
    pooled.run("create", "c1", "-t", "busybox", "--network", "none", "--storage", "fast")
    yield f"{pooled.root}/lib/pools/fast"


def subvolumes(pool: str) -> list[str]:
    """The paths of the pool's subvolumes but its image copies, from btrfs itself."""
    listed = subprocess.run(
        ["btrfs", "subvolume", "list", pool], capture_output=True, text=True, check=True
    ).stdout
    paths = [line.split(" path ", 1)[1] for line in listed.splitlines()]
    return sorted(p for p in paths if not p.startswith("images/"))


def nest_inside(lx: Lxpy, tool: str, where: str = "/var/lib/machines") -> None:
    """WHERE/inner and inner/deeper, made by the running c1's unprivileged root, and made
    read-only: btrfs unlinks nothing from a read-only subvolume."""
    lx.run("file", "push", "c1", tool, TOOL, "--mode", "755")
    assert sh(lx, "c1", "cat /proc/self/uid_map").split()[:2] != ["0", "0"]
    script = (
        f"mkdir -p {where} && {TOOL} create {where} inner && {TOOL} create {where}/inner deeper"
        f" && echo data > {where}/inner/deeper/file"
        f" && {TOOL} readonly {where}/inner/deeper && {TOOL} readonly {where}/inner"
        f" && stat -c %i {where}/inner {where}/inner/deeper"
    )
    assert sh(lx, "c1", script).split() == ["256", "256"]  # each a subvolume's top


def nest_from_host(lx: Lxpy, rootfs: str) -> None:
    os.makedirs(f"{rootfs}/var/lib/machines")
    for path in ("var/lib/machines/inner", "var/lib/machines/inner/deeper"):
        subprocess.run(["btrfs", "subvolume", "create", f"{rootfs}/{path}"], check=True)


@pytest.mark.parametrize("by", ["the container", "the host"])
def test_a_container_holding_subvolumes_is_destroyed_whole(
    pooled: Lxpy, pool: str, subvol_tool: str, by: str
) -> None:
    pooled.run("start", "c1")
    if by == "the container":
        nest_inside(pooled, subvol_tool)
    else:
        nest_from_host(pooled, f"{pool}/containers/c1/rootfs")
    assert "containers/c1/rootfs/var/lib/machines/inner/deeper" in subvolumes(pool)

    pooled.run("destroy", "--force", "c1")
    assert subvolumes(pool) == []
    assert os.listdir(f"{pool}/containers") == []
    pooled.run("storage", "rm", "fast")


def test_a_container_holding_subvolumes_is_restored_and_its_snapshot_dropped(
    pooled: Lxpy, pool: str, subvol_tool: str
) -> None:
    """A snapshot stops at a nested subvolume (btrfs's own rule): it holds an empty
    directory in its place, and the restore leaves no subvolume of the old rootfs behind."""
    pooled.run("start", "c1")
    sh(pooled, "c1", "echo kept > /root/file")
    nest_inside(pooled, subvol_tool)
    pooled.run("snapshot", "c1", "first")
    sh(pooled, "c1", "rm /root/file")
    pooled.run("stop", "c1", "--kill")
    pooled.run("snapshot", "restore", "c1", "first")
    assert subvolumes(pool) == ["containers/c1/rootfs", "containers/c1/snapshots/first"]
    pooled.run("start", "c1")
    assert sh(pooled, "c1", "cat /root/file; ls -A /var/lib/machines/inner") == "kept\n"

    nest_inside(pooled, subvol_tool, "/srv")  # into the restored rootfs, snapshotted again
    pooled.run("snapshot", "c1", "second")
    pooled.run("snapshot", "rm", "c1", "first")
    pooled.run("snapshot", "rm", "c1", "second")
    assert "first" not in pooled.run("snapshot", "ls", "c1").stdout
    rootfs = "containers/c1/rootfs"
    assert subvolumes(pool) == [rootfs, f"{rootfs}/srv/inner", f"{rootfs}/srv/inner/deeper"]
    pooled.run("destroy", "--force", "c1")
    pooled.run("storage", "rm", "fast")


def test_what_a_container_plants_leads_no_delete_outside_it(
    pooled: Lxpy, pool: str, subvol_tool: str
) -> None:
    """Symlinks named like its subvolumes and a bind mount left in its stopped tree, all to a
    subvolume of the same pool outside it: a delete that followed them would reach it."""
    os.mkdir(f"{pool}/elsewhere")
    subprocess.run(["btrfs", "subvolume", "create", f"{pool}/elsewhere/victim"], check=True)
    with open(f"{pool}/elsewhere/victim/file", "w") as f:
        f.write("safe\n")
    pooled.run("start", "c1")
    nest_inside(pooled, subvol_tool)
    links = (
        f"ln -s {pool}/elsewhere/victim /var/lib/machines/victim"
        f" && ln -s {pool}/elsewhere /var/lib/machines/elsewhere"
        f" && ln -s {pool}/elsewhere/victim /victim"
    )
    sh(pooled, "c1", links)
    pooled.run("stop", "c1", "--kill")
    rootfs = f"{pool}/containers/c1/rootfs"
    os.makedirs(f"{rootfs}/mnt/host")
    subprocess.run(["mount", "--bind", f"{pool}/elsewhere", f"{rootfs}/mnt/host"], check=True)

    pooled.run("destroy", "--force", "c1")
    assert subvolumes(pool) == ["elsewhere/victim"]
    with open(f"{pool}/elsewhere/victim/file") as f:
        assert f.read() == "safe\n"
    assert safefs.mounts_under(pool) == []  # the bind mount went with the tree it was in
    subprocess.run(["btrfs", "subvolume", "delete", f"{pool}/elsewhere/victim"], check=True)
    os.rmdir(f"{pool}/elsewhere")
    pooled.run("storage", "rm", "fast")
