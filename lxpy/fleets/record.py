"""What `lxpy up` made and applied, per fleet: `<lib>/fleets/NAME.toml`.

The containers themselves are ordinary ones; the record says which belong to the fleet, in
which order they depend on each other (so `down`, `ps` and fleet snapshots work without the
project file), and what `up` last put into each that a container's config does not say: the
package list it installed, the hash of each file it pushed, the provisioning it ran. The
next `up` compares the project file with this to find what changed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from lxpy import names
from lxpy.config.tomlfile import TomlFile, record_names
from lxpy.errors import Busy, LxpyError, NotFound
from lxpy.linux.locks import locked_file
from lxpy.paths import Paths


@dataclass(frozen=True)
class Member:
    service: str
    container: str
    depends_on: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()  # as the project file listed them when installed
    provision: tuple[str, ...] = ()  # the scripts (host paths) it was created with
    files: dict[str, str] = field(default_factory=dict)  # path inside -> sha256 pushed


@dataclass(frozen=True)
class Record:
    name: str
    project: str  # the project file it was last brought up from
    network: str  # "" when the fleet uses the default network
    made_network: bool  # `up` made it: `down --destroy` removes it
    members: dict[str, Member]  # by service, in dependency order

    def with_member(self, member: Member, order: list[str]) -> Record:
        """`member` added or replaced, the members kept in `order` (dependency order)."""
        members = {**self.members, member.service: member}
        rank = {name: index for index, name in enumerate(order)}
        ranked = sorted(members, key=lambda name: rank.get(name, len(rank)))
        return replace(self, members={name: members[name] for name in ranked})

    def with_network(self, network: str, made: bool) -> Record:
        return replace(self, network=network, made_network=made)

    def without(self, service: str) -> Record:
        return replace(self, members={k: v for k, v in self.members.items() if k != service})


def directory(paths: Paths) -> str:
    return f"{paths.lib}/fleets"


def path_of(paths: Paths, name: str) -> str:
    return f"{directory(paths)}/{names.validate(name)}.toml"


def fleet_names(paths: Paths) -> list[str]:
    return record_names(directory(paths), names.is_valid)


def load(paths: Paths, name: str) -> Record:
    path = path_of(paths, name)
    try:
        top = TomlFile.read(path, ("project", "network", "made_network", "containers"))
    except FileNotFoundError:
        raise NotFound(f"no fleet named {name!r}", hint="`lxpy fleet ls` lists them") from None
    containers = top.table("containers")
    members = {}
    for service in containers.doc:
        entry = containers.table(
            service, ("container", "depends_on", "packages", "provision", "files")
        )
        files = entry.table("files")
        members[service] = Member(
            service,
            entry.get("container", str),
            entry.strings("depends_on"),
            entry.strings("packages"),
            entry.strings("provision"),
            {inside: files.get(inside, str) for inside in files.doc},
        )
    return Record(
        name,
        top.get("project", str),
        top.get("network", str, ""),
        top.get("made_network", bool, False),
        members,
    )


def every(paths: Paths) -> list[Record]:
    """Every fleet's record; one that cannot be read hides no other."""
    found = []
    for name in fleet_names(paths):
        with contextlib.suppress(LxpyError):
            found.append(load(paths, name))
    return found


def find(paths: Paths, name: str) -> Record | None:
    try:
        return load(paths, name)
    except NotFound:
        return None


def save(paths: Paths, record: Record) -> None:
    import tomli_w

    from lxpy.linux.atomic import write_atomic

    doc = {
        "project": record.project,
        "network": record.network,
        "made_network": record.made_network,
        "containers": {
            m.service: {
                "container": m.container,
                "depends_on": list(m.depends_on),
                "packages": list(m.packages),
                "provision": list(m.provision),
                "files": dict(m.files),
            }
            for m in record.members.values()
        },
    }
    os.makedirs(directory(paths), mode=0o700, exist_ok=True)
    write_atomic(path_of(paths, record.name), tomli_w.dumps(doc).encode(), fsync=True)


def remove(paths: Paths, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path_of(paths, name))


@contextlib.contextmanager
def locked(paths: Paths, name: str) -> Iterator[None]:
    """One `up`, `down` or fleet snapshot of a fleet at a time."""
    paths.ensure()
    with locked_file(
        f"{paths.run}/locks/fleet.{names.validate(name)}.lock",  # "." is in no container name
        Busy(f"fleet {name!r} is busy: another lxpy command works on it", hint="wait for it"),
        timeout=1.0,
    ):
        yield
