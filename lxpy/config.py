"""A container's config.toml: typed, validated on read, written atomically.

Errors name the file, the line and the key. Writes go to a temp file that is fsynced and
renamed over the old one, so a crash or a full disk never leaves a half-written config.
"""

from __future__ import annotations

import marshal
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from lxpy.errors import ConfigError

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


MAX_CONFIG_BYTES = 256 * 1024
DEFAULT_PIDS_MAX = 4096

# The signal that halts each kind of init cleanly inside a container (see
# docs/CONTAINER_INTERFACE.md in systemd, busybox init.c, sysvinit's inittab powerfail).
HALT_SIGNALS = {
    "busybox": "SIGUSR2",
    "sysvinit": "SIGPWR",
    "systemd": "SIGRTMIN+3",
}
# ...and the one that makes it reboot (sysvinit: the inittab ctrlaltdel entry).
REBOOT_SIGNALS = {
    "busybox": "SIGTERM",
    "sysvinit": "SIGINT",
    "systemd": "SIGINT",
}
STORAGE_KINDS = ("dir", "overlay")
CGROUP_VIEWS = ("auto", "host", "unified")


def parse_signal(value: str) -> int:
    """'SIGTERM', 'TERM', '15' or 'SIGRTMIN+3' to a signal number."""
    text = value.strip().upper()
    if text.isdigit():
        num = int(text)
    else:
        if not text.startswith("SIG"):
            text = "SIG" + text
        m = re.fullmatch(r"SIGRTMIN(?:\+(\d+))?", text)
        if m:
            num = signal.SIGRTMIN + int(m.group(1) or 0)
        elif hasattr(signal.Signals, text):
            num = int(signal.Signals[text])
        else:
            raise ValueError(f"unknown signal {value!r}")
    if not 0 < num <= signal.SIGRTMAX:
        raise ValueError(f"signal {value!r} out of range")
    return num


@dataclass(frozen=True)
class InitConfig:
    kind: str = "busybox"
    command: tuple[str, ...] = ("/sbin/init",)
    halt_signal: str = "SIGUSR2"
    reboot_signal: str = "SIGTERM"
    # What /sys/fs/cgroup shows on a v1 or hybrid host: the host's layout, only the v2
    # hierarchy ("unified"; systemd 258 and later need it), or "auto": unified for those.
    cgroup: str = "auto"

    @property
    def halt_signum(self) -> int:
        return parse_signal(self.halt_signal)

    @property
    def reboot_signum(self) -> int:
        return parse_signal(self.reboot_signal)


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
    container's directory) over a cached image (`image`, "KEY/BUILD" in the image store)."""

    kind: str = "dir"
    image: str = ""
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Resource limits, applied at start and live (`lxpy config set`). Sizes are kept as
    written ("2G"); None: no limit."""

    pids: int | None = DEFAULT_PIDS_MAX
    memory: str | None = None
    swap: str | None = None
    cpus: float | None = None
    cpuset: str | None = None
    io_weight: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.I)


def parse_size(text: str) -> int:
    """'512M', '2G', '1.5G', '1048576' to bytes (powers of 1024, as the kernel counts)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a size (like 512M or 2G)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def parse_cpuset(text: str, cpus: int) -> list[int]:
    """'0-1,3' to [0, 1, 3]; every CPU must exist on this host."""
    found: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\s*", part)
        if not m:
            raise ValueError(f"{text!r} is not a CPU list (like 0-1,3)")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first or last >= cpus:
            raise ValueError(f"{text!r}: this host has CPUs 0-{cpus - 1}")
        found += range(first, last + 1)
    return found


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
    # The template parameters it was created with (release, packages, ...), for the record.
    parameters: Mapping[str, str | bool | list[str]] = field(default_factory=dict)
    # Started by `lxpy autostart` (at host boot), lowest order first, waiting `delay` s after.
    autostart: bool = False
    autostart_order: int = 0
    autostart_delay: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        limits = self.limits.to_dict()
        storage: dict[str, Any] = {"kind": self.storage.kind}
        if self.storage.image:
            storage["image"] = self.storage.image
        if self.storage.layers:
            storage["layers"] = list(self.storage.layers)
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
                "kind": self.init.kind,
                "command": list(self.init.command),
                "halt_signal": self.init.halt_signal,
                "reboot_signal": self.init.reboot_signal,
                "cgroup": self.init.cgroup,
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
            "limits": limits,
        }

    def with_changes(self, **changes: Any) -> ContainerConfig:
        return replace(self, **changes)


def timestamp() -> str:
    """Now, as configs and snapshots record it (`created`)."""
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading ----------------------------------------------------------------------------------


class _Reader:
    """Validates one parsed document and turns problems into file:line errors."""

    def __init__(self, path: str, text: str | Callable[[], str]) -> None:
        self.path = path
        self._text = text

    @property
    def text(self) -> str:
        # Only an error needs the text (for its line number): a cached load never reads it.
        if callable(self._text):
            self._text = self._text()
        return self._text

    def line_of(self, table: str, key: str) -> int | None:
        section = None
        for number, line in enumerate(self.text.splitlines(), 1):
            stripped = line.strip()
            header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
            if header:
                section = header.group(1)
                continue
            if (section or "") == table and re.match(rf'"?{re.escape(key)}"?\s*=', stripped):
                return number
        if table:
            for number, line in enumerate(self.text.splitlines(), 1):
                if re.fullmatch(rf"\[\s*{re.escape(table)}\s*\]\s*(#.*)?", line.strip()):
                    return number
        return None

    def fail(self, table: str, key: str, problem: str) -> ConfigError:
        line = self.line_of(table, key)
        where = f"{self.path}:{line}" if line else self.path
        dotted = f"{table}.{key}" if table else key
        return ConfigError(
            f"{where}: {dotted}: {problem}", hint="fix the file or run `lxpy config`"
        )

    def table(self, doc: Mapping[str, Any], table: str, known: set[str]) -> Mapping[str, Any]:
        for key in doc:
            if key not in known:
                raise self.fail(table, key, "unknown key")
        return doc

    def get(
        self,
        doc: Mapping[str, Any],
        table: str,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in doc:
            if default is ...:
                raise self.fail(table, key, "missing")
            return default
        value = doc[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(table, key, f"expected {want}, got {type(value).__name__}")
        for text in _strings(value):
            if "\n" in text or "\0" in text:
                raise self.fail(table, key, "newline or NUL in a value")
        problem = check(value) if check else None
        if problem:
            raise self.fail(table, key, problem)
        return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _one_of(allowed: Iterable[str]) -> Callable[[str], str | None]:
    names = tuple(allowed)
    return lambda value: None if value in names else f"one of {', '.join(names)}"


def _check_signal(value: str) -> str | None:
    try:
        parse_signal(value)
    except ValueError as e:
        return str(e)
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


def _check_size(value: str) -> str | None:
    try:
        parse_size(value)
    except ValueError as e:
        return str(e)
    return None


def _check_cpus(value: float) -> str | None:
    cpus = os.cpu_count() or 1
    if not 0.01 <= value <= cpus:
        return f"must be between 0.01 and {cpus} (this host's CPUs)"
    return None


def _check_cpuset(value: str) -> str | None:
    try:
        parse_cpuset(value, os.cpu_count() or 1)
    except ValueError as e:
        return str(e)
    return None


def _check_io_weight(value: int) -> str | None:
    return None if 1 <= value <= 10000 else "must be between 1 and 10000"


def check_limit(key: str, value: Any) -> str | None:
    """What is wrong with `value` for limits.`key`, or None."""
    kinds: dict[str, tuple[type | tuple[type, ...], Callable[[Any], str | None]]] = {
        "pids": (int, _check_positive),
        "memory": (str, _check_size),
        "swap": (str, _check_size),
        "cpus": ((int, float), _check_cpus),
        "cpuset": (str, _check_cpuset),
        "io_weight": (int, _check_io_weight),
    }
    kind, check = kinds[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        return "not a valid value"
    return check(value)


def _check_positive(value: int) -> str | None:
    return None if value > 0 else "must be a positive number"


def _parse_toml(path: str, text: str) -> dict[str, Any]:
    # Imported here: tomllib costs ~15 ms of start-up, and most loads hit the cache.
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{path}:{m.group(1)}" if m else path
        raise ConfigError(f"{where}: malformed TOML: {e}", hint="fix the file") from None


def parse(path: str, text: str) -> ContainerConfig:
    return _validate(path, _parse_toml(path, text), text)


def _validate(path: str, doc: dict[str, Any], text: str | Callable[[], str]) -> ContainerConfig:
    r = _Reader(path, text)
    r.table(
        doc,
        "",
        {
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
        },
    )
    init_doc = r.get(doc, "", "init", dict, {})
    r.table(init_doc, "init", {"kind", "command", "halt_signal", "reboot_signal", "cgroup"})
    kind = r.get(init_doc, "init", "kind", str, "busybox", _one_of(HALT_SIGNALS))
    init = InitConfig(
        kind=kind,
        command=tuple(r.get(init_doc, "init", "command", list, ["/sbin/init"], _check_command)),
        halt_signal=r.get(init_doc, "init", "halt_signal", str, HALT_SIGNALS[kind], _check_signal),
        reboot_signal=r.get(
            init_doc, "init", "reboot_signal", str, REBOOT_SIGNALS[kind], _check_signal
        ),
        cgroup=r.get(init_doc, "init", "cgroup", str, "auto", _one_of(CGROUP_VIEWS)),
    )
    storage_doc = r.get(doc, "", "storage", dict, {})
    r.table(storage_doc, "storage", {"kind", "image", "layers"})
    storage_kind = r.get(storage_doc, "storage", "kind", str, "dir", _one_of(STORAGE_KINDS))
    storage = Storage(
        kind=storage_kind,
        image=r.get(
            storage_doc,
            "storage",
            "image",
            str,
            "",
            lambda v: _check_image(v, storage_kind),
        ),
        layers=tuple(r.get(storage_doc, "storage", "layers", list, [], _check_layers)),
    )
    if storage.kind == "overlay" and not (storage.image or storage.layers):
        raise r.fail("storage", "kind", "an overlay needs an image or layers under it")
    if storage.kind == "dir" and storage.layers:
        raise r.fail("storage", "layers", "only an overlay has layers")
    nics = []
    for entry in r.get(doc, "", "network", list, []):
        if not isinstance(entry, dict):
            raise r.fail("", "network", "expected [[network]] tables")
        r.table(entry, "network", {"name", "ipv4"})
        nics.append(
            Nic(
                network=r.get(entry, "network", "name", str, check=_check_network_name),
                ipv4=r.get(entry, "network", "ipv4", str, "", _check_ipv4),
            )
        )
    ports = tuple(PortForward.parse(p) for p in r.get(doc, "", "ports", list, [], _check_ports))
    mounts = []
    for entry in r.get(doc, "", "mounts", list, []):
        if not isinstance(entry, dict):
            raise r.fail("", "mounts", "expected [[mounts]] tables")
        r.table(entry, "mounts", {"source", "path", "readonly"})
        mounts.append(
            SharedFolder(
                source=r.get(entry, "mounts", "source", str, check=_check_source),
                path=r.get(entry, "mounts", "path", str, check=check_mount_path),
                readonly=r.get(entry, "mounts", "readonly", bool, False),
            )
        )
    if len({m.path for m in mounts}) != len(mounts):
        raise r.fail("", "mounts", "two shared folders at the same path")
    parameters = r.get(doc, "", "parameters", dict, {})
    for key in parameters:
        r.get(parameters, "parameters", key, (str, bool, list))
    limits_doc = r.get(doc, "", "limits", dict, {})
    r.table(limits_doc, "limits", {"pids", "memory", "swap", "cpus", "cpuset", "io_weight"})
    limits = Limits(
        pids=r.get(limits_doc, "limits", "pids", int, DEFAULT_PIDS_MAX, _check_positive),
        memory=r.get(limits_doc, "limits", "memory", str, None, _check_size),
        swap=r.get(limits_doc, "limits", "swap", str, None, _check_size),
        cpus=r.get(limits_doc, "limits", "cpus", (int, float), None, _check_cpus),
        cpuset=r.get(limits_doc, "limits", "cpuset", str, None, _check_cpuset),
        io_weight=r.get(limits_doc, "limits", "io_weight", int, None, _check_io_weight),
    )
    return ContainerConfig(
        template=r.get(doc, "", "template", str),
        created=r.get(doc, "", "created", str),
        uuid=r.get(doc, "", "uuid", str, check=_check_uuid),
        hostname=r.get(doc, "", "hostname", str, check=_check_hostname),
        init=init,
        limits=limits,
        storage=storage,
        network=tuple(nics),
        ports=ports,
        mounts=tuple(mounts),
        parameters=parameters,
        autostart=r.get(doc, "", "autostart", bool, False),
        autostart_order=r.get(doc, "", "autostart_order", int, 0),
        autostart_delay=float(r.get(doc, "", "autostart_delay", (int, float), 0.0, _check_delay)),
    )


def _check_delay(value: float) -> str | None:
    return None if 0 <= value <= 3600 else "must be between 0 and 3600 seconds"


def _check_source(value: str) -> str | None:
    return None if value.startswith("/") else "expected an absolute host path"


def check_mount_path(value: str) -> str | None:
    """What is wrong with `value` as the place of a shared folder inside, or None."""
    parts = [p for p in value.split("/") if p]
    if not value.startswith("/") or not parts or ".." in parts or "." in parts:
        return "expected an absolute path inside the container, not / and without . or .."
    if parts[0] in ("proc", "sys", "dev", "run"):
        return f"/{parts[0]} is the container's own (mounted at each start)"
    return None


def _check_ports(value: list[Any]) -> str | None:
    keys = set()
    for item in value:
        if not isinstance(item, str):
            return 'expected strings like "8080:80/tcp"'
        try:
            key = PortForward.parse(item).key
        except ValueError as e:
            return str(e)
        if key in keys:
            return f"host port {key} is forwarded twice"
        keys.add(key)
    return None


def _check_network_name(value: str) -> str | None:
    ok = re.fullmatch(r"[a-z][a-z0-9-]{0,14}", value) and not value.endswith("-")
    return None if ok else "a network (bridge) name: a-z, 0-9 and -, at most 15"


def _check_ipv4(value: str) -> str | None:
    parts = value.split(".")
    if value and not (len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)):
        return "expected an IPv4 address like 10.0.3.7"
    return None


def _check_image(value: str, kind: str) -> str | None:
    if kind == "dir":
        return None if not value else "only an overlay has an image"
    # KEY/BUILD as the image store names them; nothing that could climb out of it.
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+_-]*/[0-9A-Za-z.-]+", value) or ".." in value:
        return "expected an image as KEY/BUILD"
    return None


def _check_layers(value: list[Any]) -> str | None:
    # CONTAINER/ID, both plain names: nothing that could climb out of the containers' dirs.
    for ref in value:
        if not isinstance(ref, str) or not re.fullmatch(
            r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/[0-9a-f]{8,32}", ref
        ):
            return 'expected layers like "web/6745f0a1c3"'
    return None


def _check_uuid(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9a-f]{32}", value) else "expected 32 lowercase hex digits"


def _read_text(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    try:
        if os.fstat(fd).st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
        raw = os.read(fd, MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return raw.decode()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None


def load(path: str, cache: str | None = None) -> ContainerConfig:
    """Read and validate a config. With `cache`, the parsed document is kept there (marshal,
    keyed by the file's inode, size, times and the Python version, like a .pyc), so most
    commands never import tomllib. Validation runs on every load either way."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    key = _key(st)
    doc = _cached(cache, key) if cache else None
    if doc is None:
        text = _read_text(path)
        doc = _parse_toml(path, text)
        if cache:
            _store(cache, key, doc)
        return _validate(path, doc, text)
    return _validate(path, doc, lambda: _read_text(path))


def _key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sys.hexversion)


def _cached(cache: str, key: tuple[int, ...]) -> dict[str, Any] | None:
    try:
        fd = os.open(cache, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        stored_key, doc = marshal.loads(os.read(fd, MAX_CONFIG_BYTES * 2))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    finally:
        os.close(fd)
    return doc if stored_key == key and isinstance(doc, dict) else None


def _store(cache: str, key: tuple[int, ...], doc: dict[str, Any]) -> None:
    try:
        data = marshal.dumps((key, doc))
    except ValueError:
        return  # a TOML datetime: marshal cannot hold it, so this file is never cached
    try:
        write_atomic(cache, data, fsync=False)
    except OSError:
        pass  # a cache that cannot be written only costs time


# -- writing ----------------------------------------------------------------------------------


def dump(cfg: ContainerConfig) -> str:
    import tomli_w

    return tomli_w.dumps(cfg.to_dict())


def save(path: str, cfg: ContainerConfig, cache: str | None = None) -> None:
    """Write `cfg`; with `cache`, its parsed form goes there too, so the next load (often
    right after: a clone, a snapshot) needs no tomllib."""
    write_atomic(path, dump(cfg).encode())
    if cache:
        _store(cache, _key(os.stat(path, follow_symlinks=False)), cfg.to_dict())


def write_atomic(path: str, data: bytes, mode: int = 0o600, fsync: bool = True) -> None:
    """temp + fsync + rename + fsync(dir): the old file stays whole until the new one is."""
    from lxpy.linux import safefs  # not at the top: reading configs (`lxpy ls`) needs none

    directory, name = os.path.split(path)
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        safefs.replace_in(dirfd, name, data, mode, fsync=fsync)
    finally:
        os.close(dirfd)
