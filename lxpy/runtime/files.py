"""`lxpy file push|pull`: copy files into and out of a container, resolved inside it.

Every path on the container's side is resolved by the kernel inside the container's root
(openat2 RESOLVE_IN_ROOT), from an fd for that root, one step at a time. A symlink the
container plants, or swaps in while the copy runs (the race of CVE-2018-15664 in `docker
cp`), resolves inside the container, never on the host. Files land through a rename in an
already resolved directory, so a symlink at the destination is replaced, not followed; a
pulled tree is walked through directory fds that never follow a symlink.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from lxpy import store
from lxpy.errors import LxpyError, StateError, UsageError
from lxpy.linux import safefs, userns
from lxpy.linux.syscalls import O_PATH
from lxpy.paths import Paths
from lxpy.runtime.state import read_live
from lxpy.storage import shift
from lxpy.storage.overlay import open_rootfs


@dataclass(frozen=True)
class Owner:
    """What pushed files get inside: `uid`/`gid` (root's by default), `mode` (the source's
    permission bits by default)."""

    uid: int = 0
    gid: int = 0
    mode: int | None = None


@contextlib.contextmanager
def container_root(paths: Paths, name: str, lock: bool = True) -> Iterator[safefs.Root]:
    """The container's `/`: init's root, mounts and all, while it runs; otherwise its
    rootfs directory or its overlay, mounted detached, with the container locked (unless
    the caller holds the lock: not `lock`) so it cannot start on the same overlay meanwhile."""
    store.require(paths, name)
    live = read_live(paths, name)
    if live.init is not None:
        fd = os.open(f"/proc/{live.init.pid}/root", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            maps = userns.Maps.of(live.init.pid)
            if not live.init.alive():  # the pid was reused before the open: not its root
                raise StateError(f"container {name!r} stopped meanwhile", hint="try again")
            yield safefs.Root(fd, maps)
        finally:
            os.close(fd)
        return
    with store.locked(paths, name) if lock else contextlib.nullcontext():
        if read_live(paths, name).active:
            raise StateError(f"container {name!r} started meanwhile", hint="try again")
        cfg = store.load(paths, name)
        fd = open_rootfs(paths, name, cfg)
        try:
            yield safefs.Root(fd, shift.maps(cfg))
        finally:
            os.close(fd)


def _is_dir_inside(root: int, rel: str) -> bool:
    try:
        os.close(safefs.open_in(root, rel, O_PATH | os.O_DIRECTORY))
    except OSError:
        return False
    return True


def _dir_in(root: int, rel: str) -> int:
    """A readable fd for the existing directory `rel` inside the root."""
    try:
        return safefs.open_in(root, rel, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"{rel or '/'}: no such directory in the container") from None
    except NotADirectoryError:
        raise UsageError(f"{rel}: not a directory in the container") from None


def push(
    root: safefs.Root,
    source: str,
    dest: str,
    recursive: bool,
    owner: Owner,
    parents: bool = False,
) -> int:
    """Copy the host's `source` to `dest` inside; into it when it is a directory there (as
    cp does); with `parents`, the missing directories above `dest` are made first (as the
    container's root's, 0755). Returns how many files and links were copied."""
    uid, gid = root.ids(owner.uid, owner.gid)
    with root.writing():
        if parents:
            _make_parents(root.fd, os.path.dirname(dest.rstrip("/")), root.ids(0, 0))
        return _push(root.fd, source, dest, recursive, Owner(uid, gid, owner.mode))


def _make_parents(root: int, rel: str, ids: tuple[int, int]) -> None:
    parts = [part for part in rel.split("/") if part]
    for depth in range(1, len(parts) + 1):
        where = "/".join(parts[:depth])
        try:
            os.close(safefs.open_in(root, where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        except FileNotFoundError:
            made = safefs.make_dir(root, where)
            try:
                os.fchown(made, *ids)
            finally:
                os.close(made)


def _push(root: int, source: str, dest: str, recursive: bool, owner: Owner) -> int:
    try:
        st = os.stat(source)  # the host user's own path: a symlink there is followed
    except OSError as e:
        raise UsageError(f"{source}: {e.strerror}") from None
    dest = dest.rstrip("/") or "/"
    if _is_dir_inside(root, dest):
        dest = f"{dest.rstrip('/')}/{os.path.basename(source.rstrip('/'))}"
    if stat.S_ISDIR(st.st_mode):
        if not recursive:
            raise UsageError(f"{source} is a directory", hint="-r copies a directory")
        return _push_tree(root, source, dest, owner)
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{source}: not a regular file or a directory")
    parent, name = os.path.split(dest)
    dirfd = _dir_in(root, parent)
    try:
        _push_file(dirfd, name, source, st, owner)
    finally:
        os.close(dirfd)
    return 1


def _push_file(dirfd: int, name: str, source: str, st: os.stat_result, owner: Owner) -> None:
    mode = owner.mode if owner.mode is not None else stat.S_IMODE(st.st_mode)
    with open(source, "rb") as f:
        safefs.replace_in(dirfd, name, f.fileno(), mode, owner.uid, owner.gid)


def _push_tree(root: int, source: str, dest: str, owner: Owner) -> int:
    copied = 0
    for where, dirs, files in os.walk(source):
        inside = os.path.normpath(f"{dest}/{os.path.relpath(where, source)}")
        dirfd = safefs.make_dir(root, inside)
        try:
            os.fchown(dirfd, owner.uid, owner.gid)
            os.fchmod(dirfd, stat.S_IMODE(os.stat(where).st_mode))
            for name in sorted(dirs + files):
                path = f"{where}/{name}"
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    # Made in the resolved directory: its target is text, never followed here.
                    safefs.symlink(root, f"{inside}/{name}", os.readlink(path))
                    os.chown(name, owner.uid, owner.gid, dir_fd=dirfd, follow_symlinks=False)
                elif stat.S_ISREG(st.st_mode):
                    _push_file(dirfd, name, path, st, owner)
                else:
                    continue  # directories come round in the walk; devices and fifos stay
                copied += 1
        finally:
            os.close(dirfd)
    return copied


def open_inside(root: int, source: str) -> int:
    """`source` opened for reading, resolved inside the container (a fifo never blocks)."""
    try:
        return safefs.open_in(
            root, source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        )
    except OSError as e:
        raise UsageError(f"{source}: {e.strerror} in the container") from None


def pull(root: int, source: str, dest: str, recursive: bool) -> int:
    """Copy `source` from inside to the host's `dest` (into it when it is a directory)."""
    fd = open_inside(root, source)
    try:
        st = os.fstat(fd)
        if os.path.isdir(dest):
            dest = os.path.join(dest, os.path.basename(source.rstrip("/")) or "rootfs")
        if stat.S_ISDIR(st.st_mode):
            if not recursive:
                raise UsageError(f"{source} is a directory", hint="-r copies a directory")
            return _pull_tree(fd, dest)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{source}: not a regular file or a directory in the container")
        _pull_file(fd, dest, st)
        return 1
    finally:
        os.close(fd)


def _pull_file(fd: int, dest: str, st: os.stat_result, dir_fd: int | None = None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        out = os.open(dest, flags, stat.S_IMODE(st.st_mode) & 0o777, dir_fd=dir_fd)
    except OSError as e:
        raise LxpyError(f"{dest}: {e.strerror}") from None
    try:
        while os.sendfile(out, fd, None, 1 << 24):
            pass
    finally:
        os.close(out)


def _pull_tree(top: int, dest: str) -> int:
    """The tree under `top` into the host's `dest`. Both sides go through directory fds:
    fwalk opens each directory inside relative to its parent's fd and skips one that was
    swapped for a symlink; on the host each directory is opened again, when its turn comes,
    with no symlink allowed on the way, so none the container sent can lead a write away."""
    os.makedirs(dest, exist_ok=True)
    base = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    copied = 0
    try:
        for where, dirs, files, dirfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            try:
                here = safefs.open_in(
                    base,
                    where,
                    os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                    resolve=safefs.NO_LINKS,
                )
            except OSError:
                continue  # it was a symlink when we looked: made as one, not descended
            try:
                os.fchmod(here, stat.S_IMODE(os.fstat(dirfd).st_mode) & 0o777)
                for name in sorted(dirs + files):
                    copied += _pull_entry(dirfd, here, name)
            finally:
                os.close(here)
    finally:
        os.close(base)
    return copied


def _pull_entry(dirfd: int, here: int, name: str) -> int:
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=here)
        return 0
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=here)
        os.symlink(os.readlink(name, dir_fd=dirfd), name, dir_fd=here)
        return 1
    if stat.S_ISREG(st.st_mode):
        fd = _open_regular(name, dirfd)
        if fd is None:
            return 0  # no longer a regular file
        try:
            _pull_file(fd, name, os.fstat(fd), dir_fd=here)
        finally:
            os.close(fd)
        return 1
    return 0  # devices, fifos and sockets stay behind


def _open_regular(name: str, dirfd: int | None = None) -> int | None:
    """`name` opened for reading if it is a regular file now; non-blocking, so a fifo the
    container swapped in meanwhile cannot hang the copy."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=dirfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd
