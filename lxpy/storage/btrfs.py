"""Containers in a btrfs storage pool: each rootfs a subvolume, a writable snapshot of its
image's, so a create costs a snapshot, not a copy, and disk quotas are the subvolume's
qgroup.

In the pool (`pools.mount_point`): `images/KEY/BUILD` (`images/KEY/BUILD+LAYER` for a
package layer over it), a read-only subvolume made once per pool from the image cache;
`containers/NAME/rootfs`, the container's. The container's config, console log and the rest
stay in the state root, as for every other container.
"""

from __future__ import annotations

import contextlib
import os

from lxpy.config import ContainerConfig
from lxpy.linux import safefs, syscalls
from lxpy.paths import Paths
from lxpy.storage import pools
from lxpy.storage.trees import copy_tree


def _pool_dir(paths: Paths, pool: str, *parts: str) -> str:
    where = pools.ensure_mounted(paths, pools.load(paths, pool))
    return "/".join((where, *parts))


def container_dir(paths: Paths, name: str, pool: str) -> str:
    """The container's directory in its pool (the pool mounted first if it is not)."""
    return _pool_dir(paths, pool, "containers", name)


def rootfs(paths: Paths, name: str, cfg: ContainerConfig) -> str:
    """The container's rootfs subvolume (its pool mounted first if it is not)."""
    return f"{container_dir(paths, name, cfg.storage.pool)}/rootfs"


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def image_subvolume(paths: Paths, pool: str, ref: str, source: str | int) -> str:
    """The pool's read-only copy of the image `ref` (KEY/BUILD or KEY/BUILD/LAYER), made from
    its cached tree at `source` (a path, or an fd on a package layer's merged tree) the first
    time a container of the pool needs it."""
    key, _, rest = ref.partition("/")
    build = rest.replace("/", "+")
    images = _pool_dir(paths, pool, "images", key)
    if not os.path.isdir(f"{images}/{build}"):
        _read_only_copy(images, build, source)
    return f"{images}/{build}"


def snapshot_copy(paths: Paths, name: str, pool: str, snap: str, source: int) -> None:
    """The container's snapshot `snap`, a read-only subvolume copied from the tree at
    `source` (a snapshot moved into the pool)."""
    _read_only_copy(f"{container_dir(paths, name, pool)}/snapshots", snap, source)


def _read_only_copy(where: str, name: str, source: str | int) -> None:
    # Copied into a partial subvolume first: a crash leaves no half copy under its name.
    os.makedirs(where, mode=0o700, exist_ok=True)
    parent = _open_dir(where)
    partial = f".partial-{name}"
    try:
        with contextlib.suppress(FileNotFoundError):
            syscalls.btrfs_subvolume_delete(parent, partial)  # an earlier try's
        syscalls.btrfs_subvolume_create(parent, partial)
        try:
            copy_tree(source, f"{where}/{partial}")
            made = _open_dir(f"{where}/{partial}")
            try:
                syscalls.btrfs_snapshot(made, parent, name, readonly=True)
            finally:
                os.close(made)
        finally:
            syscalls.btrfs_subvolume_delete(parent, partial)
    finally:
        os.close(parent)


def make(paths: Paths, name: str, pool: str, image: str | None) -> str:
    """The container's rootfs subvolume: a snapshot of the pool's `image` subvolume, or an
    empty one. Anything a failed create left under its name is removed first."""
    remove(paths, name, pool)
    where = container_dir(paths, name, pool)
    os.makedirs(where, mode=0o700)
    parent = _open_dir(where)
    try:
        if image is None:
            syscalls.btrfs_subvolume_create(parent, "rootfs")
            os.chmod(f"{where}/rootfs", 0o755)
        else:
            source = _open_dir(image)
            try:
                syscalls.btrfs_snapshot(source, parent, "rootfs")
            finally:
                os.close(source)
    finally:
        os.close(parent)
    return f"{where}/rootfs"


def remove(paths: Paths, name: str, pool: str) -> None:
    """The container's subvolumes and directory in the pool, if there are any."""
    remove_tree(container_dir(paths, name, pool))


def remove_tree(where: str) -> None:
    """The directory `where` of a pool and all in it, its subvolumes (to any depth) too."""
    if not os.path.isdir(where):
        return
    parent = _open_dir(where)
    try:
        for entry in os.listdir(parent):
            path = f"{where}/{entry}"
            if _is_subvolume(path):
                syscalls.btrfs_subvolume_delete(parent, entry)
            elif os.path.isdir(path) and not os.path.islink(path):
                remove_tree(path)
    finally:
        os.close(parent)
    safefs.remove_tree(where)


def _is_subvolume(path: str) -> bool:
    # A subvolume's top directory is inode 256 (BTRFS_FIRST_FREE_OBJECTID).
    st = os.lstat(path)
    return st.st_ino == 256 and os.path.isdir(path) and not os.path.islink(path)


def _snapshot(source: str, parent_dir: str, name: str, readonly: bool) -> None:
    os.makedirs(parent_dir, mode=0o700, exist_ok=True)
    fd, parent = _open_dir(source), _open_dir(parent_dir)
    try:
        syscalls.syncfs(fd)  # what the container wrote is in the snapshot, not in memory only
        syscalls.btrfs_snapshot(fd, parent, name, readonly)
    finally:
        os.close(fd)
        os.close(parent)


def sync(paths: Paths, name: str, cfg: ContainerConfig) -> None:
    """Write what the container's filesystem holds in memory to disk."""
    fd = _open_dir(rootfs(paths, name, cfg))
    try:
        syscalls.syncfs(fd)
    finally:
        os.close(fd)


def take(paths: Paths, name: str, cfg: ContainerConfig, snap: str) -> None:
    """A read-only snapshot of the rootfs as `snap` (the caller holds a running container
    still meanwhile: it is the snapshot's whole cost)."""
    where = container_dir(paths, name, cfg.storage.pool)
    _snapshot(f"{where}/rootfs", f"{where}/snapshots", snap, readonly=True)


def restore(paths: Paths, name: str, cfg: ContainerConfig, snap: str) -> None:
    """The rootfs a writable snapshot of `snap` again (the container is stopped)."""
    where = container_dir(paths, name, cfg.storage.pool)
    parent = _open_dir(where)
    try:
        syscalls.btrfs_subvolume_delete(parent, "rootfs")
    finally:
        os.close(parent)
    _snapshot(snapshot(paths, name, cfg, snap), where, "rootfs", readonly=False)
    _keep_quota(paths, name, cfg)


def snapshot(paths: Paths, name: str, cfg: ContainerConfig, snap: str) -> str:
    return f"{container_dir(paths, name, cfg.storage.pool)}/snapshots/{snap}"


def drop(paths: Paths, name: str, cfg: ContainerConfig, snap: str) -> None:
    where = f"{container_dir(paths, name, cfg.storage.pool)}/snapshots"
    with contextlib.suppress(FileNotFoundError):
        parent = _open_dir(where)
        try:
            syscalls.btrfs_subvolume_delete(parent, snap)
        finally:
            os.close(parent)


def clone(paths: Paths, cfg: ContainerConfig, source: str, target: str) -> None:
    """The target's rootfs a writable snapshot of the source's, in the same pool."""
    remove(paths, target, cfg.storage.pool)
    where = container_dir(paths, target, cfg.storage.pool)
    os.makedirs(where, mode=0o700)
    _snapshot(rootfs(paths, source, cfg), where, "rootfs", readonly=False)
    _keep_quota(paths, target, cfg)


def set_quota(paths: Paths, name: str, cfg: ContainerConfig, limit: int | None) -> None:
    """Cap what the container's rootfs refers to at `limit` bytes (None: no cap)."""
    fd = _open_dir(rootfs(paths, name, cfg))
    try:
        syscalls.btrfs_qgroup_limit(fd, limit)
    finally:
        os.close(fd)


def _keep_quota(paths: Paths, name: str, cfg: ContainerConfig) -> None:
    # A new subvolume is a new qgroup, with no limit of its own yet.
    if cfg.limits.disk is not None:
        from lxpy.storage import quota  # it imports this module

        quota.apply(paths, name, cfg)


def own_bytes(paths: Paths, name: str, cfg: ContainerConfig) -> int:
    """What the container's rootfs holds that nothing else shares (its qgroup's exclusive
    count): no tree is walked. btrfs updates it as it commits (every 30 s, or at a sync)."""
    fd = _open_dir(rootfs(paths, name, cfg))
    try:
        fsid, subvolume = syscalls.btrfs_fsid(fd), syscalls.btrfs_subvolume_id(fd)
        qgroup = f"/sys/fs/btrfs/{fsid}/qgroups/0_{subvolume}"
    finally:
        os.close(fd)
    with open(f"{qgroup}/exclusive") as f:
        return int(f.read())
