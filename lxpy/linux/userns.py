"""Namespaces held only by file descriptors: a user namespace (what an idmapped mount maps
through, and an unprivileged container's, with the network namespace it owns).

Each is made by a short-lived child: a thread cannot enter a user namespace, and the
process asking must stay where it is.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from lxpy.linux import syscalls


def _made_by_child(
    make: Callable[[], None], names: tuple[str, ...], maps: tuple[str, str] | None = None
) -> list[int]:
    """fds for the namespaces `names` (as /proc/PID/ns/ names them) of a child that ran
    `make`, after writing its uid and gid `maps` when given. The child is gone when this
    returns; the fds alone keep the namespaces."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only makes namespaces and waits
        status = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            make()
            os.write(ready_w, b"1")
            os.read(done_r, 1)  # EOF once the parent holds the namespaces
            status = 0
        finally:
            os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    fds: list[int] = []
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(f"the namespace child {pid} failed to make its namespaces")
        if maps is not None:
            for name, text in zip(("uid_map", "gid_map"), maps, strict=True):
                with open(f"/proc/{pid}/{name}", "w") as f:
                    f.write(text)
        for name in names:
            fds.append(os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
        return fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def mapped(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these maps ("0 1000000 65536" lines)."""
    return _made_by_child(
        lambda: syscalls.unshare(syscalls.CLONE_NEWUSER), ("user",), (uid_map, gid_map)
    )[0]


def with_network(idmap: str) -> tuple[int, int]:
    """A container's user namespace (uids and gids mapped by `idmap`) and a network
    namespace it owns: container root configures its network, host root wires NICs in."""
    user, net = _made_by_child(
        lambda: syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNET),
        ("user", "net"),
        (idmap, idmap),
    )
    return user, net


class Maps:
    """How a process's user namespace numbers ids, as the host reads its uid_map and
    gid_map: (first inside, first on the host, count) ranges."""

    __slots__ = ("gids", "uids")

    def __init__(self, uids: list[tuple[int, int, int]], gids: list[tuple[int, int, int]]) -> None:
        self.uids = uids
        self.gids = gids

    @classmethod
    def of(cls, pid: int) -> Maps:
        return cls(_ranges(f"/proc/{pid}/uid_map"), _ranges(f"/proc/{pid}/gid_map"))

    def to_host(self, uid: int, gid: int) -> tuple[int, int]:
        """The host's numbers for these ids inside; -1 (what chown leaves) for one unmapped."""
        return _shift(self.uids, uid, 0, 1), _shift(self.gids, gid, 0, 1)

    def from_host(self, uid: int, gid: int) -> tuple[int, int]:
        """The ids inside for these host ids; -1 for one the namespace does not map."""
        return _shift(self.uids, uid, 1, 0), _shift(self.gids, gid, 1, 0)


def idmappable(path: str, userns: int) -> bool:
    """Whether the filesystem holding `path` takes idmapped mounts (through `userns`)."""
    try:
        os.close(syscalls.clone_tree(path, userns_fd=userns))
    except OSError as e:
        if e.errno == errno.EINVAL:
            return False
        raise
    return True


def is_ours(pid: int) -> bool:
    """Whether process `pid` is in our user namespace (a privileged container's init is)."""
    theirs = os.stat(f"/proc/{pid}/ns/user")
    ours = os.stat("/proc/self/ns/user")
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def of_process(pid: int) -> int:
    """An fd of process `pid`'s user namespace; -1 when it is ours, which nothing needs to
    join or map through."""
    if is_ours(pid):
        return -1
    return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)


# What the kernel shows for an id a namespace does not map (/proc/sys/kernel/overflowuid).
OVERFLOW_ID = 65534

# The initial user namespace's maps: every id is itself.
IDENTITY = Maps([(0, 0, 1 << 32)], [(0, 0, 1 << 32)])


def _ranges(path: str) -> list[tuple[int, int, int]]:
    with open(path) as f:
        return [(int(a), int(b), int(c)) for a, b, c in (line.split() for line in f)]


def _shift(ranges: list[tuple[int, int, int]], value: int, source: int, target: int) -> int:
    for fields in ranges:
        if fields[source] <= value < fields[source] + fields[2]:
            return fields[target] + value - fields[source]
    return -1
