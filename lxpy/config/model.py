"""A container's config as typed values: what config.toml holds, once validated."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from lxpy.config.kinds import CgroupView, InitKind, StorageKind
from lxpy.config.limits import Limits
from lxpy.config.signals import parse_signal
from lxpy.records import Record, replace

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class InitConfig(Record):
    kind: InitKind = InitKind.BUSYBOX
    command: tuple[str, ...] = ("/sbin/init",)
    halt_signal: str = "SIGUSR2"
    cgroup: CgroupView = CgroupView.AUTO

    @property
    def halt_signum(self) -> int:
        return parse_signal(self.halt_signal)


class Nic(Record):
    """A NIC on an lxpy network (eth0, eth1, ... in the order given)."""

    network: str
    ipv4: str = ""  # pinned; empty: the container keeps the address it got first


class SharedFolder(Record):
    """A host directory bind-mounted at `path` inside (`lxpy mount add`)."""

    source: str
    path: str
    readonly: bool = False


# Where a forward listens when it names no address: every IPv4 address, as before addresses.
EVERY_ADDRESS = "0.0.0.0"
LOOPBACK = "127.0.0.1"
PORT_SPEC = "[ADDR:]HOSTPORT:PORT[/tcp|/udp]"
# A port spec's ADDR (checked by listen_address): anything in brackets, or without a colon.
ADDRESS = r"(\[[^\]]*\]|[^:\[\]]*)"


class PortForward(Record):
    """ADDR:HOSTPORT:PORT/PROTO: the host's port on `address` relayed to the container's eth0
    address. `address` is an IPv4 address or an IPv6 one (no brackets), 0.0.0.0 (every IPv4
    address) or :: (every IPv6 address): each family's own, as IPV6_V6ONLY binds them."""

    host_port: int
    port: int
    proto: str = "tcp"
    address: str = EVERY_ADDRESS

    @property
    def host(self) -> str:
        """The address as it goes before a port: IPv6 in brackets."""
        return f"[{self.address}]" if ":" in self.address else self.address

    @property
    def key(self) -> str:
        """What one forward alone listens on (rm names it; a container forwards it once)."""
        return f"{self.host}:{self.host_port}/{self.proto}"

    @property
    def wildcard(self) -> bool:
        return self.address in (EVERY_ADDRESS, "::")

    def overlaps(self, other: PortForward) -> bool:
        """Whether the kernel would refuse both listening: the same port, protocol and
        family, on the same address or one of them on every address."""
        same_port = (self.host_port, self.proto) == (other.host_port, other.proto)
        same_family = (":" in self.address) == (":" in other.address)
        return (
            same_port
            and same_family
            and (self.address == other.address or self.wildcard or other.wildcard)
        )

    @property
    def saved(self) -> str:
        """As config.toml keeps it: no address stands for 0.0.0.0, as it did before
        forwards had one (so an older config reads, and is written, unchanged)."""
        text = f"{self.host_port}:{self.port}/{self.proto}"
        return text if self.address == EVERY_ADDRESS else f"{self.host}:{text}"

    @property
    def summary(self) -> str:
        """As `info` lists it: 127.0.0.1:8080->80/tcp."""
        return f"{self.host}:{self.host_port}->{self.port}/{self.proto}"

    def __str__(self) -> str:
        return f"{self.host}:{self.host_port}:{self.port}/{self.proto}"

    @classmethod
    def parse(cls, text: str, default_address: str = EVERY_ADDRESS) -> PortForward:
        """From [ADDR:]HOSTPORT:PORT[/tcp|/udp], ADDR an IPv4 address or an IPv6 one in
        brackets; without ADDR, `default_address`. ValueError says what is wrong."""
        m = re.fullmatch(rf"(?:{ADDRESS}:)?(\d{{1,5}}):(\d{{1,5}})(?:/(tcp|udp))?", text.strip())
        if not m or not all(0 < int(m.group(i)) < 65536 for i in (2, 3)):
            raise ValueError(
                f"{text!r}: expected {PORT_SPEC}, ports 1-65535, IPv6 in brackets ([::1]:8080:80)"
            )
        address = default_address if m.group(1) is None else listen_address(m.group(1), text)
        return cls(int(m.group(2)), int(m.group(3)), m.group(4) or "tcp", address)


def clash(forwards: Iterable[PortForward], new: PortForward) -> str | None:
    """Why `new` cannot join `forwards` (the kernel would let only one listen), or None."""
    taken = next((f for f in forwards if f.overlaps(new)), None)
    if taken is None:
        return None
    if taken.key == new.key:
        return f"host port {new.key} is forwarded already"
    return f"host port {new.key} overlaps {taken.key}, forwarded already"


def listen_address(given: str, text: str) -> str:
    """The address of a port spec (`text`), IPv6 without its brackets, in its short form;
    ValueError if it is no address a forward can listen on."""
    import ipaddress  # not at the top: every command loads this module, few parse an address

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        if given.startswith("["):
            address = ipaddress.IPv6Address(given[1:-1])
        else:
            address = ipaddress.IPv4Address(given)
    except ValueError:
        if given.startswith("["):
            raise ValueError(f"{text!r}: {given} is not an IPv6 address") from None
        raise ValueError(
            f"{text!r}: {given!r} is not an IPv4 address (IPv6 goes in brackets: [::1])"
        ) from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            raise ValueError(f"{text!r}: {given} is IPv4: write {address.ipv4_mapped}")
        if address.scope_id:
            raise ValueError(f"{text!r}: {given} has a scope: a forward cannot listen there")
    if address.is_multicast:
        raise ValueError(f"{text!r}: {given} is a multicast address, not the host's")
    return str(address)


class Storage(Record):
    """How the rootfs is kept: a plain directory, or an overlay whose lower layers are sealed
    layers (`layers`, top first, each "CONTAINER/ID": a snapshot's or a clone's, kept in that
    container's directory) over a cached image (`image`, "KEY/BUILD" in the image store, or
    "KEY/BUILD/LAYER": a package layer over that build)."""

    kind: StorageKind = StorageKind.DIR
    image: str = ""
    layers: tuple[str, ...] = ()
    pool: str = ""  # btrfs: the storage pool holding its subvolume (lxpy storage)


class IdMap(Record):
    """Container ids 0..size-1 are host ids host..host+size-1 (uids and gids alike)."""

    host: int
    size: int = 65536

    @property
    def kernel_map(self) -> str:
        """As /proc/PID/uid_map and gid_map take it."""
        return f"0 {self.host} {self.size}\n"

    def __str__(self) -> str:
        return f"0 {self.host} {self.size}"


# What create and `info` say of a privileged container, in one line.
PRIVILEGED_WARNING = (
    "privileged: container root is host root (no user namespace): run only code you trust in it"
)


class User(Record):
    """The container's own user (a dev box's, `create --user`): `lxpy shell` logs in as it,
    and with `default`, `attach` too (root stays `attach -u root`)."""

    name: str = ""
    default: bool = False


class Security(Record):
    """Unprivileged (a user namespace, `idmap` chosen at the first start and kept) unless
    `privileged`: then container root is host root. `allow` opens syscalls of the seccomp
    filter's deny list for this container. `shift`: where its storage cannot be idmapped,
    its files may be chowned into its host range instead; `shifted` is the host id the
    files' ids start at on disk (0: the distro's own, seen through idmapped mounts)."""

    privileged: bool = False
    idmap: IdMap | None = None
    allow: tuple[str, ...] = ()
    shift: bool = False
    shifted: int = 0


class ContainerConfig(Record):
    template: str
    created: str
    uuid: str
    hostname: str
    init: InitConfig = InitConfig()
    limits: Limits = Limits()
    storage: Storage = Storage()
    network: tuple[Nic, ...] = ()
    ports: tuple[PortForward, ...] = ()
    mounts: tuple[SharedFolder, ...] = ()
    security: Security = Security()
    user: User = User()
    # The template parameters it was created with (release, packages, ...), for the record.
    parameters: Mapping[str, str | bool | list[str]] = MappingProxyType({})
    # Started by `lxpy autostart` (at host boot), lowest order first, waiting `delay` s after.
    autostart: bool = False
    autostart_order: int = 0
    autostart_delay: float = 0.0
    # Per-machine secrets (paths inside, globs allowed), from its template: removed from a
    # clone or an import, regenerated at its first boot.
    secrets: tuple[str, ...] = ()
    # Its provisioning steps, run once at its first boot: "cloud-init" (its --cloud-init
    # user-data), then its scripts as installed (NN-NAME).
    provision: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """As config.toml writes it: plain TOML values (the parsed cache keeps this too)."""
        storage: dict[str, Any] = {"kind": self.storage.kind.value}
        if self.storage.image:
            storage["image"] = self.storage.image
        if self.storage.layers:
            storage["layers"] = list(self.storage.layers)
        if self.storage.pool:
            storage["pool"] = self.storage.pool
        return {
            "template": self.template,
            "created": self.created,
            "uuid": self.uuid,
            "hostname": self.hostname,
            "parameters": dict(self.parameters),
            "autostart": self.autostart,
            "autostart_order": self.autostart_order,
            "autostart_delay": self.autostart_delay,
            "init": {
                "kind": self.init.kind.value,
                "command": list(self.init.command),
                "halt_signal": self.init.halt_signal,
                "cgroup": self.init.cgroup.value,
            },
            "storage": storage,
            "network": [
                {"name": n.network, **({"ipv4": n.ipv4} if n.ipv4 else {})} for n in self.network
            ],
            "ports": [p.saved for p in self.ports],
            "mounts": [
                {"source": m.source, "path": m.path, **({"readonly": True} if m.readonly else {})}
                for m in self.mounts
            ],
            "limits": self.limits.to_dict(),
            "security": self._security_dict(),
            **(
                {"user": {"name": self.user.name, "default": self.user.default}}
                if self.user.name
                else {}
            ),
            **({"secrets": list(self.secrets)} if self.secrets else {}),
            **({"provision": list(self.provision)} if self.provision else {}),
        }

    def _user_dict(self) -> dict[str, Any]:
        return {"name": self.user.name, "default": self.user.default}

    def _security_dict(self) -> dict[str, Any]:
        security: dict[str, Any] = {"privileged": self.security.privileged}
        if self.security.idmap is not None:
            security["idmap"] = {"host": self.security.idmap.host, "size": self.security.idmap.size}
        if self.security.allow:
            security["syscalls"] = {"allow": list(self.security.allow)}
        if self.security.shift:
            security["shift"] = True
        if self.security.shifted:
            security["shifted"] = self.security.shifted
        return security

    @property
    def dev_box(self) -> bool:
        """Whether a developer works in it, so its new forwards stay on the host's loopback
        unless given an address: whether it has its own user (`create --user`)."""
        return bool(self.user.name)

    def new_forward(self, text: str) -> PortForward:
        """A forward as `port add` or `create --port` gives it: without an address, on
        127.0.0.1 for a dev box (a dev server is not for the LAN), else on 0.0.0.0."""
        return PortForward.parse(text, LOOPBACK if self.dev_box else EVERY_ADDRESS)

    def with_changes(self, **changes: Any) -> ContainerConfig:
        return replace(self, **changes)


def timestamp() -> str:
    """Now, as configs and snapshots record it (`created`)."""
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
