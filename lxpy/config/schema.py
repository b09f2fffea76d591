"""config.toml's rules: which keys, of which types, with which values. `validate` turns a
parsed document into a ContainerConfig or an error that names the file, the line and the key
(the limits' rules are their table's, lxpy.config.limits)."""

from __future__ import annotations

import re

from lxpy import names
from lxpy.config.kinds import CgroupView, InitKind, StorageKind
from lxpy.config.limits import LIMITS, Limits
from lxpy.config.model import (
    ContainerConfig,
    IdMap,
    InitConfig,
    Nic,
    PortForward,
    Security,
    SharedFolder,
    Storage,
    User,
    clash,
)
from lxpy.config.signals import HALT_SIGNALS, check_signal
from lxpy.config.tomlfile import one_of

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from lxpy.config.tomlfile import TomlFile

TOP_KEYS = (
    "template",
    "created",
    "uuid",
    "hostname",
    "parameters",
    "autostart",
    "autostart_order",
    "autostart_delay",
    "init",
    "storage",
    "network",
    "ports",
    "mounts",
    "limits",
    "security",
    "user",
    "secrets",
    "provision",
)
# A provisioning script as installed: NN-NAME, NN its place in the order (images.provision).
PROVISION_SCRIPT = r"[0-9]{2}-[A-Za-z0-9._-]{1,64}"
# A provisioning step: cloud-init's user-data (images.cloudinit), then the scripts.
PROVISION_STEP = rf"cloud-init|{PROVISION_SCRIPT}"
# reboot_signal: read and dropped (nothing ever sent it), so a config that has it loads and
# loses it at its next write.
INIT_KEYS = ("kind", "command", "halt_signal", "cgroup", "reboot_signal")


def validate(file: TomlFile, doc: Mapping[str, Any]) -> ContainerConfig:
    top = file.top(doc, TOP_KEYS)
    init = top.table("init", INIT_KEYS)
    kind = InitKind(init.get("kind", str, InitKind.BUSYBOX, one_of(InitKind)))
    storage = top.table("storage", ("kind", "image", "layers", "pool"))
    storage_kind = StorageKind(storage.get("kind", str, StorageKind.DIR, one_of(StorageKind)))
    where = Storage(
        kind=storage_kind,
        image=storage.get("image", str, "", lambda v: _check_image(v, storage_kind)),
        layers=storage.strings("layers", check=_check_layers),
        pool=storage.get("pool", str, "", _check_pool),
    )
    if (where.kind == StorageKind.BTRFS) != bool(where.pool):
        raise storage.fail("pool", "a btrfs container has a pool, and only it")
    if where.kind == StorageKind.OVERLAY and not (where.image or where.layers):
        raise storage.fail("kind", "an overlay needs an image or layers under it")
    if where.kind != StorageKind.OVERLAY and where.layers:
        raise storage.fail("layers", "only an overlay has layers")
    mounts = tuple(
        SharedFolder(
            source=entry.get("source", str, check=_check_source),
            path=entry.get("path", str, check=check_mount_path),
            readonly=entry.get("readonly", bool, False),
        )
        for entry in top.tables("mounts", ("source", "path", "readonly"))
    )
    if len({m.path for m in mounts}) != len(mounts):
        raise top.fail("mounts", "two shared folders at the same path")
    parameters = top.table("parameters")
    for key in parameters.doc:
        parameters.get(key, (str, bool, list))
    limits = top.table("limits", LIMITS)
    security = top.table("security", ("privileged", "idmap", "syscalls", "shift", "shifted"))
    idmap = None
    if "idmap" in security.doc:
        ids = security.table("idmap", ("host", "size"))
        idmap = IdMap(
            host=ids.get("host", int, check=_check_host_id),
            size=ids.get("size", int, 65536, _check_idmap_size),
        )
    user = top.table("user", ("name", "default"))
    return ContainerConfig(
        template=top.get("template", str),
        created=top.get("created", str),
        uuid=top.get("uuid", str, check=_check_uuid),
        hostname=top.get("hostname", str, check=_check_hostname),
        init=InitConfig(
            kind=kind,
            command=tuple(init.get("command", list, ["/sbin/init"], _check_command)),
            halt_signal=init.get("halt_signal", str, HALT_SIGNALS[kind], check_signal),
            cgroup=CgroupView(init.get("cgroup", str, CgroupView.AUTO, one_of(CgroupView))),
        ),
        limits=Limits(
            **{
                key: limits.get(key, limit.kind, limit.default, limit.check)
                for key, limit in LIMITS.items()
            }
        ),
        storage=where,
        network=tuple(
            Nic(
                network=entry.get("name", str, check=check_network_name),
                ipv4=entry.get("ipv4", str, "", check_ipv4),
            )
            for entry in top.tables("network", ("name", "ipv4"))
        ),
        ports=tuple(PortForward.parse(p) for p in top.get("ports", list, [], _check_ports)),
        mounts=mounts,
        security=Security(
            privileged=security.get("privileged", bool, False),
            idmap=idmap,
            allow=security.table("syscalls", ("allow",)).strings("allow", check=_check_syscalls),
            shift=security.get("shift", bool, False),
            shifted=security.get("shifted", int, 0, _check_shifted),
        ),
        user=User(
            name=user.get("name", str, check=_check_user_name),
            default=user.get("default", bool, False),
        )
        if user.doc
        else User(),
        parameters=parameters.doc,
        autostart=top.get("autostart", bool, False),
        autostart_order=top.get("autostart_order", int, 0),
        autostart_delay=float(top.get("autostart_delay", (int, float), 0.0, _check_delay)),
        secrets=top.strings("secrets", check=_check_secrets),
        provision=top.strings("provision", check=_check_provision),
    )


def check_network_name(value: str) -> str | None:
    """What is wrong with `value` as a network's name (also its bridge's), or None."""
    # Linux interface names are at most 15 bytes.
    ok = re.fullmatch(r"[a-z][a-z0-9-]{0,14}", value) and not value.endswith("-")
    return None if ok else "a network (bridge) name: a-z, 0-9 and -, at most 15"


def check_mount_path(value: str) -> str | None:
    """What is wrong with `value` as the place of a shared folder inside, or None."""
    parts = [p for p in value.split("/") if p]
    if not value.startswith("/") or not parts or ".." in parts or "." in parts:
        return "expected an absolute path inside the container, not / and without . or .."
    if parts[0] in ("proc", "sys", "dev", "run"):
        return f"/{parts[0]} is the container's own (mounted at each start)"
    return None


def check_secret_path(value: str) -> str | None:
    """What is wrong with `value` as a per-machine secret's path inside (globs allowed in any
    part: `etc/ssh/ssh_host_*`), or None."""
    parts = value.strip("/").split("/")
    if any(c in value for c in "\n\r\0") or any(p in ("", ".", "..") for p in parts):
        return "expected a path inside the container, without . or .. or an empty part"
    if parts[0] in ("proc", "sys", "dev", "run"):
        return f"/{parts[0]} is the container's own (mounted at each start)"
    return None


def _check_secrets(value: list[str]) -> str | None:
    return next((f"{v!r}: {e}" for v in value if (e := check_secret_path(v))), None)


def check_ipv4(value: str) -> str | None:
    """What is wrong with `value` as a pinned IPv4 address (empty: none pinned), or None."""
    parts = value.split(".")
    if value and not (len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)):
        return "expected an IPv4 address like 10.0.3.7"
    return None


def _check_user_name(value: str) -> str | None:
    return None if names.is_user_name(value) else "expected a user name like alice (a-z, 0-9, _, -)"


def _check_provision(value: list[str]) -> str | None:
    bad = [v for v in value if not re.fullmatch(PROVISION_STEP, v)]
    return f"not a provisioning step: {bad[0]!r}" if bad else None


def _check_layers(value: list[str]) -> str | None:
    # CONTAINER/ID, both plain names: nothing that could climb out of the containers' dirs.
    for ref in value:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/[0-9a-f]{8,32}", ref):
            return 'expected layers like "web/6745f0a1c3"'
    return None


def _check_hostname(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62})", value):
        return "not a valid hostname"
    return None


def _check_command(value: list[Any]) -> str | None:
    if not value or not all(isinstance(v, str) and v for v in value):
        return "expected a non-empty list of strings"
    if not value[0].startswith("/"):
        return "the init command must be an absolute path"
    return None


def _check_delay(value: float) -> str | None:
    return None if 0 <= value <= 3600 else "must be between 0 and 3600 seconds"


def _check_source(value: str) -> str | None:
    return None if value.startswith("/") else "expected an absolute host path"


def _check_ports(value: list[Any]) -> str | None:
    forwards: list[PortForward] = []
    for item in value:
        if not isinstance(item, str):
            return 'expected strings like "8080:80/tcp" or "127.0.0.1:8080:80/udp"'
        try:
            forward = PortForward.parse(item)
        except ValueError as e:
            return str(e)
        why = clash(forwards, forward)
        if why:
            return why
        forwards.append(forward)
    return None


def _check_pool(value: str) -> str | None:
    return None if names.is_valid(value) else "expected a storage pool's name"


def _check_image(value: str, kind: StorageKind) -> str | None:
    if kind == StorageKind.DIR:
        return None if not value else "only an overlay has an image"
    # KEY/BUILD, or KEY/BUILD/LAYER (a package layer), as the image store names them;
    # nothing that could climb out of it.
    image = r"[a-z0-9][a-z0-9.+_-]*/[0-9A-Za-z.-]+(/pkg-[0-9a-f]{12})?"
    if not re.fullmatch(image, value) or ".." in value:
        return "expected an image as KEY/BUILD or KEY/BUILD/LAYER"
    return None


def _check_uuid(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9a-f]{32}", value) else "expected 32 lowercase hex digits"


def _check_host_id(value: int) -> str | None:
    # Host id 0 is root's: a map starting there would make container root host root.
    return None if 0 < value < 2**32 - 65536 else "expected a host id above 0 (a range's first)"


def _check_shifted(value: int) -> str | None:
    return None if value == 0 else _check_host_id(value)


def _check_idmap_size(value: int) -> str | None:
    return None if value == 65536 else "lxpy maps 65536 ids per container"


def _check_syscalls(value: list[str]) -> str | None:
    for name in value:
        if not re.fullmatch(r"[a-z0-9_]{1,40}", name):
            return 'expected syscall names like "keyctl"'
    return None
