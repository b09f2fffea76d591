"""Holding a container still with the cgroup freezer: `lxpy freeze` and `unfreeze`, and what
storage asks of the runtime (`storage.Runtime`), which it sits below: whether a container
runs, the container paused while its files are read or moved, and its `/`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lxpy import store
from lxpy.errors import StateError
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.safefs import Root
from lxpy.paths import Paths
from lxpy.runtime.files import container_root
from lxpy.runtime.state import State, not_running, read_live

FREEZE_SECONDS = 10.0


def _freeze(cgroups: ContainerCgroups, name: str) -> None:
    """Every process frozen, or none: a freeze that does not finish in time is undone."""
    if not cgroups.freeze(wait=FREEZE_SECONDS):
        cgroups.thaw()
        raise StateError(
            f"container {name!r} did not freeze within {FREEZE_SECONDS:g} s",
            hint="a process in uninterruptible sleep (I/O) holds it up; try again",
        )


def freeze(paths: Paths, name: str) -> None:
    """Stop every process of the container in place; `unfreeze` lets them go on, and
    `stop` works on a frozen container too."""
    store.require(paths, name)
    with store.locked(paths, name):
        live = read_live(paths, name)
        if live.state is State.FROZEN:
            raise StateError(f"container {name!r} is already frozen")
        if not live.active:
            raise not_running(name)
        _freeze(ContainerCgroups(paths.instance, name), name)


def unfreeze(paths: Paths, name: str) -> None:
    store.require(paths, name)
    with store.locked(paths, name):
        if read_live(paths, name).state is not State.FROZEN:
            raise StateError(f"container {name!r} is not frozen")
        ContainerCgroups(paths.instance, name).thaw()


def running(paths: Paths, name: str) -> bool:
    return read_live(paths, name).active


@contextlib.contextmanager
def paused(paths: Paths, name: str) -> Iterator[bool]:
    """The container held still (if it runs) for as long as the block lasts; yields whether
    it runs. One that was frozen already stays frozen."""
    live = read_live(paths, name)
    if not live.active:
        yield False
        return
    cgroups = ContainerCgroups(paths.instance, name)
    thaw = live.state is not State.FROZEN
    if thaw:
        _freeze(cgroups, name)
    try:
        yield True
    finally:
        if thaw:
            cgroups.thaw()


def root(paths: Paths, name: str) -> contextlib.AbstractContextManager[Root]:
    return container_root(paths, name, lock=False)
