"""A container's config as typed values: what config.toml holds, once validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from lxpy.config.kinds import CgroupView, InitKind, StorageKind
from lxpy.config.limits import Limits
from lxpy.config.signals import parse_signal

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class InitConfig:
    kind: InitKind = InitKind.BUSYBOX
    command: tuple[str, ...] = ("/sbin/init",)
    halt_signal: str = "SIGUSR2"
    cgroup: CgroupView = CgroupView.AUTO

    @property
    def halt_signum(self) -> int:
        return parse_signal(self.halt_signal)


@dataclass(frozen=True)
class Nic:
    """A NIC on an lxpy network (eth0, eth1, ... in the order given)."""

    network: str
    ipv4: str = ""  # pinned; empty: the container keeps the address it got first


@dataclass(frozen=True)
class SharedFolder:
    """A host directory bind-mounted at `path` inside (`lxpy mount add`)."""

    source: str
    path: str
    readonly: bool = False


@dataclass(frozen=True)
class PortForward:
    """HOSTPORT:PORT/PROTO: the host's port relayed to the container's eth0 address."""

    host_port: int
    port: int
    proto: str = "tcp"

    @property
    def key(self) -> str:
        return f"{self.host_port}/{self.proto}"

    def __str__(self) -> str:
        return f"{self.host_port}:{self.port}/{self.proto}"

    @classmethod
    def parse(cls, text: str) -> PortForward:
        m = re.fullmatch(r"(\d{1,5}):(\d{1,5})(?:/(tcp|udp))?", text.strip())
        if not m or not all(0 < int(m.group(i)) < 65536 for i in (1, 2)):
            raise ValueError(f"{text!r}: expected HOSTPORT:PORT[/tcp|/udp], ports 1-65535")
        return cls(int(m.group(1)), int(m.group(2)), m.group(3) or "tcp")


@dataclass(frozen=True)
class Storage:
    """How the rootfs is kept: a plain directory, or an overlay whose lower layers are sealed
    layers (`layers`, top first, each "CONTAINER/ID": a snapshot's or a clone's, kept in that
    container's directory) over a cached image (`image`, "KEY/BUILD" in the image store, or
    "KEY/BUILD/LAYER": a package layer over that build)."""

    kind: StorageKind = StorageKind.DIR
    image: str = ""
    layers: tuple[str, ...] = ()
    pool: str = ""  # btrfs: the storage pool holding its subvolume (lxpy storage)


@dataclass(frozen=True)
class IdMap:
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


@dataclass(frozen=True)
class Security:
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


@dataclass(frozen=True)
class ContainerConfig:
    template: str
    created: str
    uuid: str
    hostname: str
    init: InitConfig = field(default_factory=InitConfig)
    limits: Limits = field(default_factory=Limits)
    storage: Storage = field(default_factory=Storage)
    network: tuple[Nic, ...] = ()
    ports: tuple[PortForward, ...] = ()
    mounts: tuple[SharedFolder, ...] = ()
    security: Security = field(default_factory=Security)
    # The template parameters it was created with (release, packages, ...), for the record.
    parameters: Mapping[str, str | bool | list[str]] = field(default_factory=dict)
    # Started by `lxpy autostart` (at host boot), lowest order first, waiting `delay` s after.
    autostart: bool = False
    autostart_order: int = 0
    autostart_delay: float = 0.0
    # Per-machine secrets (paths inside, globs allowed), from its template: removed from a
    # clone or an import, regenerated at its first boot.
    secrets: tuple[str, ...] = ()

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
            "ports": [str(p) for p in self.ports],
            "mounts": [
                {"source": m.source, "path": m.path, **({"readonly": True} if m.readonly else {})}
                for m in self.mounts
            ],
            "limits": self.limits.to_dict(),
            "security": self._security_dict(),
            **({"secrets": list(self.secrets)} if self.secrets else {}),
        }

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

    def with_changes(self, **changes: Any) -> ContainerConfig:
        return replace(self, **changes)


def timestamp() -> str:
    """Now, as configs and snapshots record it (`created`)."""
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
