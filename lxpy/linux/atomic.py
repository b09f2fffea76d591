"""Files replaced whole: a temp file beside the target, renamed over it. Readers see the old
file or the new one, never half of one. Standard library only: the monitor, `lxpy stop` and
the pid records use it, and none of them should load ctypes for it.
"""

from __future__ import annotations

import os


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def replace_in(
    dirfd: int,
    name: str,
    data: bytes | int,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    fsync: bool = False,
) -> None:
    """Create or replace `name` in the directory `dirfd` through a temp file and a rename:
    readers see the old file or the new one, never half of one, and a symlink at `name` is
    replaced, not followed. With `fsync`, the data and the rename are on disk on return.
    `data` is the content, or a readable fd to copy it from."""
    tmp = f".{name}.tmp{os.getpid()}"
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dirfd,
        )
        try:
            if isinstance(data, bytes):
                write_all(fd, data)
            else:
                while os.sendfile(fd, data, None, 1 << 24):
                    pass
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        if fsync:
            os.fsync(dirfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dirfd)
        except FileNotFoundError:
            pass
        raise


def write_atomic(path: str, data: bytes, mode: int = 0o600, fsync: bool = False) -> None:
    """replace_in for a file of lxpy's own (a config, a pid record, dnsmasq's hosts), at a
    trusted host path whose last directory is no symlink."""
    directory, name = os.path.split(path)
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        replace_in(dirfd, name, data, mode, fsync=fsync)
    finally:
        os.close(dirfd)
