"""User namespaces held only by a file descriptor: what an idmapped mount maps through."""

from __future__ import annotations

import os

from lxpy.linux import syscalls


def mapped(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these maps ("0 1000000 65536" lines). The process
    made to create it is gone when this returns; the fd alone keeps the namespace."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only unshares and waits
        status = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)  # EOF once the parent holds the namespace
            status = 0
        finally:
            os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(f"the user namespace child {pid} failed to unshare")
        for name, text in (("uid_map", uid_map), ("gid_map", gid_map)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)
