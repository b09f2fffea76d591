"""A project file (`lxpy.toml`): a fleet of containers declared in one place, read strictly.

    [fleet]
    name = "shop"                       # containers are named shop-db, shop-app, ...
    network = "shop"                    # made if missing (default: the default network)

    [containers.db]
    template = "debian"
    packages = ["postgresql"]
    files = { "/etc/app.conf" = "files/app.conf" }
    depends_on = []

Everything is checked before anything is made: unknown keys, wrong types, bad values, a
name too long, a `depends_on` naming no container or making a cycle, a host file or folder
that is not there. Each error names the file, the line and the dotted key
(`lxpy.toml:12: containers.db.files: files/x.conf: No such file or directory`).
Host paths are relative to the project file's directory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from lxpy import names
from lxpy.config.limits import LIMITS
from lxpy.config.schema import check_network_name
from lxpy.config.tomlfile import Table, TomlFile
from lxpy.errors import NotFound

FILE_NAME = "lxpy.toml"
DEFAULT_READY_TIMEOUT = 120.0

FLEET_KEYS = ("name", "network", "subnet", "domain")
CONTAINER_KEYS = (
    "template",
    "release",
    "mirror",
    "parameters",
    "packages",
    "provision",
    "cloud_init",
    "files",
    "mounts",
    "limits",
    "ports",
    "depends_on",
    "ready",
    "ready_timeout",
    "reload",
    "user",
    "ssh",
    "storage",
    "autostart",
    "privileged",
)


@dataclass(frozen=True)
class Service:
    """One container of the fleet as the file declares it; host paths are absolute."""

    name: str  # its key under [containers]
    container: str  # FLEET-NAME
    template: str = "busybox"
    # Template parameters as `--set` gives them (release and mirror among them).
    parameters: dict[str, str] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    provision: tuple[str, ...] = ()
    cloud_init: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # path inside -> host file
    mounts: dict[str, str] = field(default_factory=dict)  # path inside -> host folder
    limits: dict[str, int | float | str] = field(
        default_factory=dict
    )  # by LIMITS key, as TOML has it
    ports: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    ready: str | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    reload: str | None = None  # run inside after `up` pushed changed files into it
    user: str | None = None
    ssh: bool | None = None  # None: as create decides (with a user)
    storage: str | None = None
    autostart: bool = False
    privileged: bool = False


@dataclass(frozen=True)
class Project:
    path: str  # the project file, absolute
    name: str
    network: str | None  # None: the default network
    subnet: str | None
    domain: str | None
    services: dict[str, Service]  # in dependency order: each after those it depends on

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)

    def select(self, wanted: list[str]) -> list[Service]:
        """The services named (all if none), with every one they depend on, in order."""
        if not wanted:
            return list(self.services.values())
        for name in wanted:
            if name not in self.services:
                raise NotFound(
                    f"{self.path}: no container {name!r} in fleet {self.name}",
                    hint=f"its containers: {', '.join(self.services)}",
                )
        chosen: set[str] = set()
        todo = list(wanted)
        while todo:
            name = todo.pop()
            if name not in chosen:
                chosen.add(name)
                todo.extend(self.services[name].depends_on)
        return [s for s in self.services.values() if s.name in chosen]


def find(given: str | None) -> str:
    """The project file: `given` (a file, or a directory holding lxpy.toml), else the
    current directory's lxpy.toml."""
    path = os.path.abspath(given or FILE_NAME)
    if os.path.isdir(path):
        path = os.path.join(path, FILE_NAME)
    if not os.path.isfile(path):
        raise NotFound(
            f"{path}: no such project file",
            hint=f"run it in a directory holding {FILE_NAME}, or give -f FILE",
        )
    return path


def read(given: str | None) -> Project:
    """The project file `given` (see `find`), read and checked whole."""
    return load(find(given))


def load(path: str) -> Project:
    top = TomlFile.read(path, ("fleet", "containers"))
    fleet = top.table("fleet", FLEET_KEYS)
    name = fleet.get("name", str, check=_label)
    network = fleet.get("network", str, None, check=check_network_name)
    subnet = fleet.get("subnet", str, None)
    domain = fleet.get("domain", str, None)
    if (subnet or domain) and network is None:
        raise fleet.fail("subnet" if subnet else "domain", "needs a network of the fleet's own")
    containers = top.table("containers")
    if not containers.doc:
        raise top.fail("containers", "missing: a fleet needs a [containers.NAME] table")
    directory = os.path.dirname(path)
    services = {}
    for key in containers.doc:
        if not names.is_valid(key):
            raise containers.fail(key, "a container's key is a DNS label: a-z, 0-9 and '-'")
        if not names.is_valid(f"{name}-{key}"):
            raise containers.fail(key, f"{name}-{key}: more than 63 characters")
        services[key] = _service(containers.table(key, CONTAINER_KEYS), key, name, directory)
    return Project(path, name, network, subnet, domain, _ordered(containers, services))


def _label(value: str) -> str | None:
    return None if names.is_valid(value) else "a DNS label: a-z, 0-9 and '-', 1-63 characters"


def _service(table: Table, key: str, fleet: str, directory: str) -> Service:
    def host(key: str, value: str, want: str) -> str:
        return _host_path(table, key, directory, value, want)

    parameters = dict(table.table("parameters").doc)
    for param, value in parameters.items():
        if not isinstance(value, str):
            raise table.table("parameters").fail(param, "expected str (as --set takes it)")
    for given in ("release", "mirror"):
        if given in table:
            parameters[given] = table.get(given, str)
    files_table = table.table("files")
    files = {
        inside: _host_path(files_table, inside, directory, files_table.get(inside, str), "file")
        for inside in files_table.doc
    }
    mounts_table = table.table("mounts")
    mounts = {
        inside: _host_path(
            mounts_table, inside, directory, mounts_table.get(inside, str), "directory"
        )
        for inside in mounts_table.doc
    }
    for inside in (*files, *mounts):
        if not inside.startswith("/"):
            which = "files" if inside in files else "mounts"
            raise table.table(which).fail(inside, "a path inside starts with /")
    limits_table = table.table("limits", LIMITS)
    limits = {
        key: limits_table.get(key, LIMITS[key].kind, check=LIMITS[key].problem)
        for key in limits_table.doc
    }
    cloud_init = table.get("cloud_init", str, None)
    storage = table.get("storage", str, None)
    if "disk" in limits and storage in (None, "overlay", "dir"):
        raise limits_table.fail("disk", "a disk limit needs a btrfs pool: storage = POOL")
    return Service(
        name=key,
        container=f"{fleet}-{key}",
        template=table.get("template", str, "busybox"),
        parameters=parameters,
        packages=table.strings("packages"),
        provision=tuple(host("provision", p, "file") for p in table.strings("provision")),
        cloud_init=None if cloud_init is None else host("cloud_init", cloud_init, "file"),
        files=files,
        mounts=mounts,
        limits=limits,
        ports=table.strings("ports"),
        depends_on=table.strings("depends_on"),
        ready=table.get("ready", str, None),
        ready_timeout=float(
            table.get("ready_timeout", (int, float), DEFAULT_READY_TIMEOUT, check=_positive)
        ),
        reload=table.get("reload", str, None),
        user=table.get("user", str, None, check=_user),
        ssh=table.get("ssh", bool, None),
        storage=storage,
        autostart=table.get("autostart", bool, False),
        privileged=table.get("privileged", bool, False),
    )


def _user(value: str) -> str | None:
    return None if names.is_user_name(value) else "a user name: a-z, 0-9, '_' and '-'"


def _positive(value: float) -> str | None:
    return None if value > 0 else "more than 0 seconds"


def _host_path(table: Table, key: str, directory: str, value: str, want: str) -> str:
    """`value`, relative to the project's directory, as an absolute path to a `want`
    ("file" or "directory") that is there."""
    path = os.path.normpath(os.path.join(directory, os.path.expanduser(value)))
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise table.fail(key, f"{value}: {e.strerror}") from None
    is_dir = stat.S_ISDIR(mode)
    if (want == "directory") != is_dir or not (is_dir or stat.S_ISREG(mode)):
        raise table.fail(key, f"{value}: not a {'regular file' if want == 'file' else want}")
    return path


def _ordered(containers: Table, services: dict[str, Service]) -> dict[str, Service]:
    """`services` with each after those it depends on (file order otherwise); a
    dependency on no container, or a cycle, is refused."""
    for service in services.values():
        table = containers.table(service.name)
        for dep in service.depends_on:
            if dep not in services:
                raise table.fail("depends_on", f"{dep!r} is no container of this fleet")
            if dep == service.name:
                raise table.fail("depends_on", "a container cannot depend on itself")
    ordered: dict[str, Service] = {}
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise containers.table(name).fail("depends_on", f"a cycle: {' -> '.join(cycle)}")
        visiting.append(name)
        for dep in services[name].depends_on:
            visit(dep)
        visiting.pop()
        ordered[name] = services[name]

    for name in services:
        visit(name)
    return ordered


def dependants(services: list[Service]) -> dict[str, list[str]]:
    """For each service, those of `services` that depend on it."""
    found: dict[str, list[str]] = {s.name: [] for s in services}
    for service in services:
        for dep in service.depends_on:
            if dep in found:
                found[dep].append(service.name)
    return found
