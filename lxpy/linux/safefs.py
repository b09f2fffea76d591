"""File I/O confined to a tree that someone else controls (a container rootfs).

Every path inside a rootfs is resolved by the kernel with openat2(RESOLVE_IN_ROOT), so a
symlink planted by the container resolves inside it instead of on the host. Files are replaced
by rename, so a symlink at the final component is replaced, never followed. Recursive deletes
never cross a mount point and never leave the directory they were given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

from lxpy.errors import UnsafePath, UsageError
from lxpy.linux import syscalls
from lxpy.linux.atomic import replace_in as replace_in
from lxpy.linux.atomic import write_all as write_all
from lxpy.linux.syscalls import (
    O_PATH,
    RESOLVE_BENEATH,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
)
from lxpy.linux.userns import IDENTITY, Maps

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
# The kernel's bound on the symlinks one lookup follows (path_resolution(7)).
MAX_SYMLINKS = 40
# For mount targets: any symlink at all in the path is refused.
NO_LINKS = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS


class Root:
    """A container's `/` (`fd`) and the maps of the ids seen through it: a running
    unprivileged container's `/` is an idmapped mount, which shows and takes the host's
    numbers for the container's ids; a stopped one's disk keeps its own (IDENTITY)."""

    __slots__ = ("fd", "maps")

    def __init__(self, fd: int, maps: Maps = IDENTITY) -> None:
        self.fd = fd
        self.maps = maps

    def ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The container's `uid` and `gid` as files through this root take them."""
        shifted = self.maps.to_host(uid, gid)
        if -1 in shifted:
            raise UsageError(f"{uid}:{gid}: not ids the container has")
        return shifted

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Files made meanwhile are the container root's: host root is no id the mount
        maps, so it could make none (EOVERFLOW)."""
        syscalls.set_fs_ids(*self.ids(0, 0))
        try:
            yield
        finally:
            syscalls.set_fs_ids(0, 0)


def open_tree(path: str) -> int:
    """An O_PATH fd for a trusted host directory, refusing a symlink at its last component."""
    return os.open(path, O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def open_in(rootfd: int, rel: str, flags: int, mode: int = 0, resolve: int = IN_ROOT) -> int:
    return syscalls.openat2(rootfd, rel.lstrip("/") or ".", flags, resolve, mode)


def makedirs(rootfd: int, rel: str, mode: int = 0o755, resolve: int = IN_ROOT) -> int:
    """Create `rel` and its parents inside the root; return an O_PATH fd for it."""
    parts = [p for p in rel.strip("/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OSError(22, "'..' in a path inside a container", rel)
    fd = os.dup(rootfd)
    try:
        for i, part in enumerate(parts):
            try:
                nxt = open_in(rootfd, "/".join(parts[: i + 1]), O_PATH | os.O_DIRECTORY, 0, resolve)
            except FileNotFoundError:
                # mkdirat never follows a symlink at the name it creates.
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    raise OSError(
                        40,
                        "a symlink in the path leads nowhere inside the root",
                        "/".join(parts[: i + 1]),
                    ) from None
                nxt = open_in(rootfd, "/".join(parts[: i + 1]), O_PATH | os.O_DIRECTORY, 0, resolve)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def make_dir(rootfd: int, rel: str, mode: int = 0o755, resolve: int = IN_ROOT) -> int:
    """`makedirs`, but a readable fd: O_PATH fds cannot serve the *at calls that write."""
    made = makedirs(rootfd, rel, mode, resolve)
    try:
        return os.open(f"/proc/self/fd/{made}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(made)


def _split(rel: str) -> tuple[str, str]:
    rel = rel.strip("/")
    parent, _, name = rel.rpartition("/")
    if name in ("", ".", ".."):
        raise OSError(22, "not a file name", rel)
    return parent, name


def write_file(
    rootfd: int, rel: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0
) -> None:
    """Atomically create or replace the file `rel` inside the root."""
    parent, name = _split(rel)
    real = make_dir(rootfd, parent)
    try:
        replace_in(real, name, data, mode, uid, gid)
    finally:
        os.close(real)


def symlink(rootfd: int, rel: str, target: str) -> None:
    """Create or replace the symlink `rel` inside the root (its target is not followed here)."""
    parent, name = _split(rel)
    real = make_dir(rootfd, parent)
    try:
        try:
            os.symlink(target, name, dir_fd=real)
        except FileExistsError:
            tmp = f".{name}.{os.urandom(4).hex()}.lxpy-tmp"
            os.symlink(target, tmp, dir_fd=real)
            os.rename(tmp, name, src_dir_fd=real, dst_dir_fd=real)
    finally:
        os.close(real)


def read_file(rootfd: int, rel: str, limit: int = 1 << 20, resolve: int = IN_ROOT) -> bytes:
    fd = open_in(rootfd, rel, os.O_RDONLY, resolve=resolve)
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symlink",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def read_regular(rootfd: int, rel: str, limit: int, shown: str | None = None) -> bytes:
    """`rel` whole, if it is a regular file of at most `limit` bytes; UnsafePath if not.

    A container can put anything at a path the host reads: a FIFO (an open or read that waits
    for a writer forever), a device node (whose open alone can act: a watchdog starts
    counting), a symlink, a 1 GB file. So `rel` is first opened O_PATH, which opens nothing,
    and only a regular file is then opened for reading, through its /proc/self/fd link: the
    same inode, whatever the container renames meanwhile."""
    shown = shown or "/" + rel.lstrip("/")
    fd = _open_regular(rootfd, rel, shown)
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # it may grow after the fstat
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    size_shown = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
    raise UnsafePath(f"{shown} is larger than {size_shown}")


def read_head(rootfd: int, rel: str, size: int) -> bytes:
    """The first `size` bytes of `rel`, if it is a regular file (see read_regular)."""
    fd = _open_regular(rootfd, rel, "/" + rel.lstrip("/"))
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def _open_regular(rootfd: int, rel: str, shown: str) -> int:
    """`rel` opened for reading if it is a regular file; UnsafePath if not."""
    handle = open_in(rootfd, rel, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(handle)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a file")
            raise UnsafePath(f"{shown} is {kind}, not a regular file")
        return os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    finally:
        os.close(handle)


def follow(rootfd: int, path: str) -> tuple[list[str], str, os.stat_result | None]:
    """How `path` resolves inside the root, a name at a time as the kernel would: the paths
    it passes through (`path`, then one more for each symlink followed), the path it ends at
    (no symlink in it) and the status of that file, None if it is missing (then the end is the
    path looked for from the first missing name on).

    Each name is looked up in a directory opened inside the root, never following it: a
    symlink is read and its target walked here, so none can lead out of the root."""
    hops = [_on_the_way([], path.split("/"))]
    done: list[str] = []
    todo = path.split("/")
    followed = 0
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            del done[-1:]  # at the root, .. is the root
            continue
        parent = open_in(rootfd, "/".join(done), O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
            target = os.readlink(name, dir_fd=parent) if stat.S_ISLNK(mode) else None
        except FileNotFoundError:
            return hops, _on_the_way(done, [name, *todo]), None
        finally:
            os.close(parent)
        if target is None:
            done.append(name)
            continue
        followed += 1
        if followed > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        if target.startswith("/"):
            done = []
        todo = target.split("/") + todo
        hops.append(_on_the_way(done, todo))
    end = open_in(rootfd, "/".join(done), O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return hops, "/" + "/".join(done), os.fstat(end)
    finally:
        os.close(end)


def _on_the_way(done: list[str], todo: list[str]) -> str:
    """A path being resolved, as the user would write it: `done` (real directories) with the
    `..` that lead `todo` applied, which is exact there, and the rest of `todo` as it is."""
    parts = list(done)
    rest = [name for name in todo if name not in ("", ".")]
    while rest and rest[0] == "..":
        del parts[-1:]
        rest.pop(0)
    return "/" + "/".join(parts + rest)


def exists(rootfd: int, rel: str) -> bool:
    try:
        os.close(open_in(rootfd, rel, O_PATH))
    except OSError:
        return False
    return True


def remove_in(rootfd: int, rel: str) -> None:
    """Delete `rel` inside the root, a whole tree if it is a directory: its parent resolved
    in the root, `rel` itself never followed, no mount point below it crossed."""
    parent, name = _split(rel)
    pfd = open_in(rootfd, parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            _remove_dir(pfd, name, syscalls.mount_id(pfd, name), rel)
        else:
            os.unlink(name, dir_fd=pfd)
    finally:
        os.close(pfd)


def mounts_under(path: str) -> list[str]:
    """Mount points strictly below `path` (deepest first), from this mount namespace."""
    prefix = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            point = point.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            point = point.replace("\\134", "\\")
            if point.startswith(prefix):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def remove_tree(path: str) -> None:
    """Delete `path` recursively without crossing a mount point or following a symlink.

    Mounts found below it (a host directory bind-mounted into a rootfs) are detached first
    and never descended into: they are not ours to delete. A mount that cannot be detached
    makes the delete stop with an error instead of crossing it.
    """
    for point in mounts_under(path):
        try:
            syscalls.umount2(point, syscalls.MNT_DETACH | syscalls.UMOUNT_NOFOLLOW)
        except OSError:
            pass
    parent, name = os.path.split(os.path.abspath(path).rstrip("/"))
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=pfd)
            return
        _remove_dir(pfd, name, syscalls.mount_id(pfd, name), path)
    except FileNotFoundError:
        pass
    finally:
        os.close(pfd)


def _remove_dir(parentfd: int, name: str, mnt: int, shown: str) -> None:
    # An explicit stack: rootfs trees nest deeper than Python's recursion limit allows.
    stack: list[tuple[int, str, int | None, str]] = [(parentfd, name, None, shown)]
    while stack:
        pfd, dname, fd, where = stack[-1]
        if fd is None:
            if syscalls.mount_id(pfd, dname) != mnt:
                raise OSError(16, "refusing to delete across a mount point", where)
            fd = os.open(
                dname, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd
            )
            stack[-1] = (pfd, dname, fd, where)
            subdirs = []
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.name)
                    else:
                        os.unlink(entry.name, dir_fd=fd)
            for sub in subdirs:
                stack.append((fd, sub, None, f"{where}/{sub}"))
            continue
        stack.pop()
        os.close(fd)
        os.rmdir(dname, dir_fd=pfd)


def fstype(path: str) -> str:
    """The filesystem type of the mount holding `path` (the longest mount point over it)."""
    best, found = "", "unknown"
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, found = point, fields[2]
    return found
