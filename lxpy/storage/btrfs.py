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
import errno
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


_SUBVOLUME_TOP = 256  # the inode of a subvolume's top directory (BTRFS_FIRST_FREE_OBJECTID)


def _open_dir(path: str, parent: int | None = None) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, dir_fd=parent)


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
    fd = _open_dir(where)
    try:
        _remove_subvolumes_in(fd)
    finally:
        os.close(fd)
    safefs.remove_tree(where)


def _remove_subvolumes_in(directory: int) -> None:
    # Only lxpy's own directories are walked (images/KEY, containers/NAME, snapshots): what
    # a container made is inside its rootfs subvolume, and goes with it.
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_ino == _SUBVOLUME_TOP:
                _delete_subvolume(directory, entry.name)
            else:
                sub = _open_dir(entry.name, directory)
                try:
                    _remove_subvolumes_in(sub)
                finally:
                    os.close(sub)


def _delete_subvolume(parent: int, name: str) -> None:
    """Delete the subvolume `name` of the directory `parent`, and first, deepest first, those
    a container made in it (machinectl, docker's btrfs driver, `btrfs subvolume create`:
    btrfs lets the owner of a directory make one), which btrfs would not delete it over."""
    top = _open_dir(name, parent)
    try:
        # Not a subvolume's top: its id would be the pool's, whose subvolumes are not its own
        # (btrfs refuses the delete below).
        is_top = os.fstat(top).st_ino == _SUBVOLUME_TOP
        nested = _nested(top, syscalls.btrfs_subvolume_id(top)) if is_top else []
    finally:
        os.close(top)
    for subvolume in reversed(nested):
        syscalls.btrfs_subvolume_delete_id(parent, subvolume)
    syscalls.btrfs_subvolume_delete(parent, name)


def _nested(fs: int, subvolume: int) -> list[int]:
    """The subvolumes in `subvolume`, to any depth, each listed after the one holding it."""
    # Nesting as btrfs records it (ROOT_REF items), not a walk: no symlink or mount is followed,
    # and a bind mount of this very pool (same fsid; st_dev differs per subvolume) adds nothing.
    found: list[int] = []
    holders = [subvolume]
    while holders:
        holder = holders.pop()
        children = syscalls.btrfs_subvolume_children(fs, holder)
        if children:
            _make_writable(fs, holder, fs if holder == subvolume else None)
        found += children
        holders += children
    return found


def _make_writable(fs: int, subvolume: int, top: int | None) -> None:
    # A read-only subvolume's entries cannot be unlinked, and a container may mark its own
    # read-only (the owner may): it must not make itself impossible to destroy. `top`: an fd
    # of the subvolume already open (the one being deleted).
    if top is not None:
        syscalls.btrfs_set_writable(top)
        return
    try:
        fd = syscalls.btrfs_open_subvolume(fs, subvolume)
    except OSError as e:
        if e.errno != errno.ESTALE:
            raise
        # Kernels before 6.2 check a handle's generation, which lxpy cannot know: a writable
        # subvolume then still goes; only a read-only one nested in another's stays.
        return
    try:
        syscalls.btrfs_set_writable(fd)
    finally:
        os.close(fd)


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
        _delete_subvolume(parent, "rootfs")
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
            _delete_subvolume(parent, snap)
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
    return _exclusive_bytes(rootfs(paths, name, cfg))


def snapshot_bytes(paths: Paths, name: str, cfg: ContainerConfig, snap: str) -> int:
    """What the snapshot `snap` holds that nothing else shares: what removing it frees."""
    return _exclusive_bytes(snapshot(paths, name, cfg, snap))


def _exclusive_bytes(subvolume: str) -> int:
    fd = _open_dir(subvolume)
    try:
        fsid, number = syscalls.btrfs_fsid(fd), syscalls.btrfs_subvolume_id(fd)
        qgroup = f"/sys/fs/btrfs/{fsid}/qgroups/0_{number}"
    finally:
        os.close(fd)
    with open(f"{qgroup}/exclusive") as f:
        return int(f.read())
