"""Snapshots of a whole fleet (`lxpy snapshot --fleet NAME`): every container's, of one
moment. The running ones are all frozen first and thawed only once each has its snapshot,
so no container's state is later than another's (a database and the app writing to it
agree). Restoring stops the running ones in reverse dependency order, restores each and
starts again, in order, those that ran."""

from __future__ import annotations

import time

from lxpy.errors import AlreadyExists, LxpyError, NotFound
from lxpy.fleets import record
from lxpy.fleets.record import Record
from lxpy.fleets.run import Say, command, in_order
from lxpy.runtime.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Api


def containers(api: Api, rec: Record) -> list[str]:
    """The fleet's containers that exist, in dependency order."""
    on_disk = set(api.names())
    found = [m.container for m in rec.members.values() if m.container in on_disk]
    if not found:
        raise NotFound(f"fleet {rec.name} has no containers", hint="`lxpy up` makes them")
    return found


def common(api: Api, fleet: str) -> list[str]:
    """The snapshots every container of the fleet has."""
    names = containers(api, record.load(api.paths, fleet))
    sets = [{s.name for s in api.snapshots(name)} for name in names]
    return sorted(set.intersection(*sets))


def take(api: Api, fleet: str, snap: str | None) -> tuple[str, float | None]:
    """(the snapshot's name, seconds the fleet was frozen, None if none of it ran)."""
    with record.locked(api.paths, fleet):
        return _take(api, record.load(api.paths, fleet), snap)


def _take(api: Api, rec: Record, snap: str | None) -> tuple[str, float | None]:
    names = containers(api, rec)
    taken = [{s.name for s in api.snapshots(name)} for name in names]
    if snap is None:
        index = 0
        while any(f"snap{index}" in t for t in taken):
            index += 1
        snap = f"snap{index}"
    for name, t in zip(names, taken, strict=True):
        if snap in t:
            raise AlreadyExists(f"{name} of fleet {rec.name} has a snapshot named {snap!r}")
    running = [n for n in names if api.info(n).state is State.RUNNING]
    began = time.monotonic()
    frozen: list[str] = []
    made: list[str] = []
    try:
        for name in running:
            api.freeze(name)
            frozen.append(name)
        for name in names:
            api.snapshot(name, snap)  # a frozen one stays frozen for it
            made.append(name)
    except LxpyError:
        for name in made:
            api.remove_snapshot(name, snap)
        raise
    finally:
        for name in frozen:
            api.unfreeze(name)
    return snap, time.monotonic() - began if running else None


def remove(api: Api, fleet: str, snap: str) -> None:
    for name in containers(api, record.load(api.paths, fleet)):
        api.remove_snapshot(name, snap)


def restore(api: Api, fleet: str, snap: str, say: Say) -> None:
    with record.locked(api.paths, fleet):
        _restore(api, record.load(api.paths, fleet), snap, say)


def _restore(api: Api, rec: Record, snap: str, say: Say) -> None:
    names = containers(api, rec)
    for name in names:
        if snap not in {s.name for s in api.snapshots(name)}:
            raise NotFound(
                f"{name} of fleet {rec.name} has no snapshot {snap!r}",
                hint=f"`lxpy snapshot ls --fleet {rec.name}` lists those all of it has",
            )
    ran = [n for n in names if api.info(n).state is not State.STOPPED]
    member = {m.container: m for m in rec.members.values()}
    dependants = {n: [o for o in ran if member[n].service in member[o].depends_on] for n in ran}
    _all(in_order(ran, dependants, lambda n: command(api, ("stop", n), n, "stopped", say)), rec)
    for name in names:
        api.restore(name, snap)
        say(name, f"restored {snap}")
    by_service = {m.service: m.container for m in rec.members.values()}
    depends = {n: [by_service[d] for d in member[n].depends_on] for n in ran}
    _all(in_order(ran, depends, lambda n: command(api, ("start", n), n, "started", say)), rec)


def _all(failures: list[tuple[str, LxpyError]], rec: Record) -> None:
    if failures:
        name, failure = failures[0]
        raise LxpyError(f"fleet {rec.name}: {name}: {failure.message}", failure.hint)
