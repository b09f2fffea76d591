"""A fresh network namespace for a starting container, without netlink."""

from __future__ import annotations

import os
import threading

from lxpy.errors import LxpyError
from lxpy.linux import syscalls


def new() -> int:
    """A fresh network namespace, held by the returned fd alone: when the last holder (the
    fd, or a process inside) is gone, the kernel destroys it and every veth end in it, so a
    crash can never leave a veth behind."""
    box: dict[str, int | BaseException] = {}

    def make() -> None:
        # Namespaces are per thread: this one changes only this short-lived thread.
        try:
            syscalls.unshare(syscalls.CLONE_NEWNET)
            box["fd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in box:
        raise LxpyError(f"cannot create a network namespace: {box['error']}")
    fd = box["fd"]
    assert isinstance(fd, int)
    return fd
