"""`lxpy down`: a fleet's containers stopped (or destroyed) in reverse dependency order: each
after every container that depends on it, those independent of each other in parallel."""

from __future__ import annotations

from lxpy.errors import LxpyError
from lxpy.fleets import record
from lxpy.fleets.record import Record
from lxpy.fleets.run import Say, command, in_order
from lxpy.runtime.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Api


def chosen(rec: Record, wanted: list[str]) -> list[str]:
    """The services named (all if none) and every one depending on them, in record order."""
    for name in wanted:
        if name not in rec.members:
            raise LxpyError(
                f"fleet {rec.name} has no container {name!r}",
                hint=f"its containers: {', '.join(rec.members)}",
            )
    if not wanted:
        return list(rec.members)
    found = set(wanted)
    for name, member in rec.members.items():  # in dependency order: dependants come later
        if found & set(member.depends_on):
            found.add(name)
    return [name for name in rec.members if name in found]


def down(api: Api, name: str, wanted: list[str], destroy: bool, say: Say) -> None:
    """Stop (or destroy) the fleet's containers `wanted` (all if none) and those that depend
    on them, dependants first."""
    with record.locked(api.paths, name):
        _down(api, record.load(api.paths, name), wanted, destroy, say)


def _down(api: Api, rec: Record, wanted: list[str], destroy: bool, say: Say) -> None:
    services = chosen(rec, wanted)
    dependants = {
        name: [other for other in services if name in rec.members[other].depends_on]
        for name in services
    }

    def stop(name: str) -> None:
        container = rec.members[name].container
        if container not in api.names():
            return
        state = api.info(container).state
        if state is not State.STOPPED:
            command(api, ("stop", container), container, "stopped", say)
        if destroy:
            command(api, ("destroy", container), container, "destroyed", say)

    failures = in_order(services, dependants, stop)
    if failures:
        name, failure = failures[0]
        raise LxpyError(f"fleet {rec.name}: container {name}: {failure.message}", failure.hint)
    if destroy:
        left = rec
        for name in services:
            left = left.without(name)
        if left.members:
            record.save(api.paths, left)
            return
        record.remove(api.paths, rec.name)
        if rec.made_network and rec.network:
            try:
                api.remove_network(rec.network)
                say(rec.name, f"removed network {rec.network}")
            except LxpyError as e:
                say(rec.name, f"network {rec.network} kept: {e.message}")
