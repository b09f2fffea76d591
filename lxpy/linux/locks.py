"""flock'd lock files, standard library only: the monitor takes one too (the host's
/etc/hosts block, see lxpy.net.hostsfile)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

from lxpy.errors import Busy

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this at teardown
if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def locked_file(path: str, busy: Busy, timeout: float) -> Iterator[None]:
    """flock `path` (made if missing), raising `busy` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise busy from None
                    time.sleep(0.01)
            # destroy unlinks the lock file: a lock on an unlinked inode protects nothing.
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)
