"""Shifted copies: a container's own files chowned into its host id range, for a store whose
filesystem cannot be idmapped (NFS, ramfs, ZFS before 2.2), with the user's consent
(`lxpy create --allow-shift`, `[security] shift`). LXC's `uidmapshift` and Incus's shifting
do the same.

What chown alone would lose is kept: the setuid and setgid bits (chown clears them), file
capabilities (a v2 `security.capability` applies in the host's user namespace only; it is
written as v3, whose root id is the container root's host id) and the ids in POSIX ACLs. The
walk never follows a symlink nor enters another filesystem.

Only a container's own files can be shifted: an image or another container's layer is
shared, its ids the distro's.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from lxpy import store
from lxpy.config import ContainerConfig
from lxpy.errors import StartError
from lxpy.linux import fcaps
from lxpy.linux.userns import IDENTITY, Maps
from lxpy.paths import Paths
from lxpy.records import replace

RANGE = 65536
ACLS = ("system.posix_acl_access", "system.posix_acl_default")
_ACL_HEADER = 4  # the version
_ACL_ENTRY = struct.Struct("<HHI")  # tag, permissions, id
_ACL_NAMED = (0x02, 0x08)  # ACL_USER, ACL_GROUP: the entries that carry an id


def maps(cfg: ContainerConfig) -> Maps:
    """How the ids on the container's disk relate to its own, read or written from the host
    while it is stopped: the distro's, or shifted into its host range."""
    if not cfg.security.shifted:
        return IDENTITY
    return Maps([(0, cfg.security.shifted, RANGE)], [(0, cfg.security.shifted, RANGE)])


def unshift_copy(top: str, cfg: ContainerConfig) -> None:
    """A copy of a shifted container's files (`top`, a clone's container directory) back
    to the distro's ids: the clone gets its own range, chosen at its first start."""
    for tree in _trees_in(top):
        shift_tree(tree, cfg.security.shifted, 0)


def _trees_in(base: str) -> list[str]:
    """What a container directory holds of its files: rootfs, overlay and layers."""
    return [f"{base}/{d}" for d in ("rootfs", "overlay", "layers") if os.path.isdir(f"{base}/{d}")]


def own_trees(paths: Paths, name: str, cfg: ContainerConfig) -> list[str]:
    """The directories that hold the container's files, all its own; StartError if it stands
    on an image or on another container's layers, which are not its to shift."""
    if cfg.storage.image:
        raise StartError(
            f"container {name!r} stands on a shared image: its files cannot be shifted",
            hint="create it again with --allow-shift (a copy of the image of its own)",
        )
    if any(layer.split("/")[0] != name for layer in cfg.storage.layers):
        raise StartError(
            f"container {name!r} stands on another container's layers: they cannot be shifted",
            hint="`lxpy clone` without --snapshot copies what it stands on",
        )
    return _trees_in(paths.container_dir(name))


def ensure(paths: Paths, name: str, cfg: ContainerConfig) -> ContainerConfig:
    """`cfg` with the container's files in its host range on disk: shifted there now if
    they are elsewhere (a new container, a clone), and saved so. The caller holds its lock.
    A shift cut short is finished by the next: what moved is outside the old range."""
    assert cfg.security.idmap is not None
    host = cfg.security.idmap.host
    trees = own_trees(paths, name, cfg)
    if cfg.security.shifted != host:
        for tree in trees:
            shift_tree(tree, cfg.security.shifted, host)
        cfg = cfg.with_changes(security=replace(cfg.security, shifted=host))
        store.save(paths, name, cfg)
    # An overlay's upper dir made since (a snapshot's fresh one) is the root of `/`: the
    # container's root's, not the host's.
    for made in ("overlay/upper", "overlay/work"):
        path = f"{paths.container_dir(name)}/{made}"
        if os.path.isdir(path) and os.stat(path).st_uid == 0:
            shift_tree(path, 0, host)
    return cfg


def shift_tree(top: str, old: int, new: int) -> int:
    """Move every id in [old, old + RANGE) of the tree at `top` to the same place in
    [new, new + RANGE); ids outside stay. Returns how many entries changed."""
    device = os.lstat(top).st_dev
    changed = 0
    parent, name = os.path.split(os.path.abspath(top))
    dirfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        changed += _shift_entry(dirfd, name, old, new)
    finally:
        os.close(dirfd)
    for _, dirs, files, fd in os.fwalk(top, follow_symlinks=False):
        for entry in dirs + files:
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if st.st_dev != device:  # a mount inside: not this tree's
                if entry in dirs:
                    dirs.remove(entry)
                continue
            changed += _shift_entry(fd, entry, old, new)
    return changed


def _moved(value: int, old: int, new: int) -> int:
    return value - old + new if old <= value < old + RANGE else value


def _shift_entry(dirfd: int, name: str, old: int, new: int) -> int:
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    uid, gid = _moved(st.st_uid, old, new), _moved(st.st_gid, old, new)
    if (uid, gid) == (st.st_uid, st.st_gid):
        return 0
    link = stat.S_ISLNK(st.st_mode)
    # xattrs by path through the directory's fd: os.getxattr takes no dir_fd.
    path = f"/proc/self/fd/{dirfd}/{name}"
    kept = {} if link else _xattrs(path)
    os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
    if not link:
        if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dirfd)
        for key, value in kept.items():
            shifted = _capability(value, old, new) if key == fcaps.NAME else _acl(value, old, new)
            os.setxattr(path, key, shifted, follow_symlinks=False)
    return 1


def _xattrs(path: str) -> dict[str, bytes]:
    found = {}
    for key in (fcaps.NAME, *ACLS):
        try:
            found[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
                raise
    return found


def _capability(value: bytes, old: int, new: int) -> bytes:
    """The file's capabilities for the container's root, wherever its ids now start."""
    return fcaps.with_root(value, _moved(fcaps.root_of(value), old, new))


def _acl(value: bytes, old: int, new: int) -> bytes:
    out = bytearray(value[:_ACL_HEADER])
    for offset in range(_ACL_HEADER, len(value), _ACL_ENTRY.size):
        tag, perm, ident = _ACL_ENTRY.unpack_from(value, offset)
        if tag in _ACL_NAMED:
            ident = _moved(ident, old, new)
        out += _ACL_ENTRY.pack(tag, perm, ident)
    return bytes(out)
