"""What storage asks of the runtime (`storage.Runtime`), which it sits below: whether a
container runs, the container paused while its files are read or moved, and its `/`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lxpy.errors import StateError
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.paths import Paths
from lxpy.runtime.files import container_root
from lxpy.runtime.state import State, read_live


def running(paths: Paths, name: str) -> bool:
    return read_live(paths, name).active


@contextlib.contextmanager
def paused(paths: Paths, name: str) -> Iterator[bool]:
    """The container held still (if it runs; the cgroup freezer) for as long as the block
    lasts; yields whether it runs. One that was frozen already stays frozen."""
    live = read_live(paths, name)
    if not live.active:
        yield False
        return
    cgroups = ContainerCgroups(paths.instance, name)
    thaw = live.state is not State.FROZEN
    if thaw and not cgroups.freeze(wait=10.0):
        cgroups.thaw()
        raise StateError(f"container {name!r} did not freeze within 10 s", hint="try again")
    try:
        yield True
    finally:
        if thaw:
            cgroups.thaw()


def root(paths: Paths, name: str) -> contextlib.AbstractContextManager[int]:
    return container_root(paths, name, lock=False)
