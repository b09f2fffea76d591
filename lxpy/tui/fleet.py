"""What the TUI shows, gathered off the UI thread: a row per container and the history of
the selected one. No textual here: the model is tested without a terminal."""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from lxpy import units
from lxpy.api import Api, ContainerInfo, State
from lxpy.errors import LxpyError
from lxpy.fleets import record
from lxpy.remote.registry import LOCAL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import HostUsage, Stats

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # configs' and snapshots' `created`
HISTORY = 60  # samples kept per container for the detail pane's graphs
CONSOLE_LINES = 8
# Terminal escapes in a console log: shown as text they would be noise.
ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])|\r")


@dataclass(frozen=True)
class Row:
    name: str
    state: State
    template: str  # with its release when it has one: "debian trixie"
    ipv4: str
    cpu: float | None  # percent of one CPU over the last refresh
    memory: int | None
    memory_limit: int | None
    uptime: float | None
    autostart: bool | None  # None: the config cannot be read
    privileged: bool = False  # container root is host root: the table says so
    disk: int | None = None  # its own bytes (None: no figure); read, never walked
    disk_limit: int | None = None
    fleet: str = ""  # the fleet `lxpy up` made it for, if any
    host: str = LOCAL  # this root's, or a remote's name
    unreachable: bool = False  # its host stopped answering: the row it gave last, greyed

    @property
    def address(self) -> str:
        """How lxpy names it from here (the table's key): NAME, or HOST:NAME on a remote."""
        return self.name if self.host == LOCAL else f"{self.host}:{self.name}"


def split(address: str) -> tuple[str, str]:
    """(host, name) of a row's address."""
    host, colon, name = address.partition(":")
    return (host, name) if colon else (LOCAL, address)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    text: Callable[[Row], str]
    order: Callable[[Row], tuple[float, str]]


def _number(value: float | None, name: str) -> tuple[float, str]:
    # Unknown values sort last in a descending sort.
    return (-1.0 if value is None else float(value), name)


COLUMNS: tuple[Column, ...] = (
    Column("name", "NAME", lambda r: r.name, lambda r: (0.0, r.name)),
    Column("state", "STATE", lambda r: str(r.state), lambda r: (0.0, f"{r.state}/{r.name}")),
    Column("template", "TEMPLATE", lambda r: r.template, lambda r: (0.0, f"{r.template}/{r.name}")),
    Column("ipv4", "IPV4", lambda r: r.ipv4 or "-", lambda r: (_ip_number(r.ipv4), r.name)),
    Column(
        "cpu",
        "CPU%",
        lambda r: "-" if r.cpu is None else f"{r.cpu:.1f}",
        lambda r: _number(r.cpu, r.name),
    ),
    Column("memory", "MEMORY", lambda r: units.size(r.memory), lambda r: _number(r.memory, r.name)),
    Column(
        "disk",
        "DISK",
        lambda r: units.used_of(r.disk, r.disk_limit),
        lambda r: _number(r.disk, r.name),
    ),
    Column(
        "uptime", "UPTIME", lambda r: units.duration(r.uptime), lambda r: _number(r.uptime, r.name)
    ),
    Column(
        "autostart",
        "AUTO",
        lambda r: "-" if r.autostart is None else ("yes" if r.autostart else "no"),
        lambda r: (0.0 if r.autostart else 1.0, r.name),
    ),
)
# First, once the table shows other hosts' containers too.
HOST_COLUMN = Column("host", "HOST", lambda r: r.host, lambda r: (0.0, f"{r.host}/{r.name}"))
# In the filter: `host:NAME` shows that host's rows alone.
HOST_FILTER = "host:"


def columns(hosts: bool) -> tuple[Column, ...]:
    """The table's columns: with a HOST column when `hosts` (others than this one) are in it."""
    return (HOST_COLUMN, *COLUMNS) if hosts else COLUMNS


# Numbers read best largest first; names and states alphabetically.
DESCENDING = {"cpu", "memory", "disk", "uptime"}


def _ip_number(address: str) -> float:
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return float(1 << 32)
    return float(sum(int(p) << (8 * (3 - i)) for i, p in enumerate(parts)))


# Why an action on a container cannot work in its state (None: it can). The footer, the
# palette and the bulk actions offer an action only for the rows it can work on.
_RUNS = (State.RUNNING, State.STARTING)
_WHY_NOT: dict[str, Callable[[State], str | None]] = {
    "start": lambda s: None if s is State.STOPPED else "already running",
    "stop": lambda s: "already stopped" if s is State.STOPPED else None,
    "restart": lambda s: None if s in _RUNS else "not running",
    "freeze": lambda s: None if s in (*_RUNS, State.FROZEN) else "not running",
    "unfreeze": lambda s: None if s is State.FROZEN else "not frozen",
    "attach": lambda s: None if s in _RUNS else "not running",
    "attach_root": lambda s: None if s in _RUNS else "not running",
    "console": lambda s: None if s in (*_RUNS, State.FROZEN) else "not running",
    "destroy": lambda s: None,
    "logs": lambda s: None,
    "snapshots": lambda s: None,
    "mounts": lambda s: None,
    "ports": lambda s: None,
    "config": lambda s: None,
}
CONTAINER_ACTIONS = tuple(_WHY_NOT)
# The panes that work on this root's files through the API; a remote's are not reached.
LOCAL_ONLY = {"snapshots", "mounts", "ports"}


def why_not(action: str, row: Row) -> str | None:
    """What stops `action` on `row` ("already running"), or None if it can act on it."""
    check = _WHY_NOT.get(action)
    if check is None:
        return None
    if row.unreachable:
        return f"{row.host} does not answer"
    if row.host != LOCAL and action in LOCAL_ONLY:
        return f"on {row.host}: the CLI does it ({row.address})"
    return check(row.state)


def arrange(
    rows: Sequence[Row],
    text: str,
    sort: str,
    reverse: bool,
    grouped: bool = False,
    shown_columns: Sequence[Column] = COLUMNS,
) -> list[Row]:
    """`rows` that match the filter `text` (in any of `shown_columns`, or their fleet's
    name; its words `host:NAME` keep the rows of those hosts alone), in `sort` column order;
    `grouped`: each fleet's rows together (in that order within it), fleets by name, then
    the rows of no fleet."""
    words = text.lower().split()
    hosts = {w.removeprefix(HOST_FILTER) for w in words if w.startswith(HOST_FILTER)}
    needle = " ".join(w for w in words if not w.startswith(HOST_FILTER))
    shown = [
        r
        for r in rows
        if (not hosts or r.host.lower() in hosts)
        and (
            not needle
            or needle in r.fleet.lower()
            or any(needle in c.text(r).lower() for c in shown_columns)
        )
    ]
    column = next(c for c in shown_columns if c.key == sort)
    descending = (sort in DESCENDING) != reverse
    ordered = sorted(shown, key=column.order, reverse=descending)
    return sorted(ordered, key=lambda r: (not r.fleet, r.fleet)) if grouped else ordered


@dataclass(frozen=True)
class Detail:
    """The selected container, for the detail pane."""

    info: ContainerInfo
    stats: Stats | None
    cpu_history: tuple[float, ...]
    memory_history: tuple[float, ...]
    console: str  # the tail of its console, escapes removed
    fleet: str = ""  # the fleet `lxpy up` made it for, if any


class History:
    """Each container's last sample (for the next CPU percent) and the samples of its
    graphs. Not locked: its owner reads and writes it under a lock of its own."""

    def __init__(self) -> None:
        self.earlier: dict[str, Stats] = {}
        self.cpu: dict[str, deque[float]] = {}
        self.memory: dict[str, deque[float]] = {}

    def keep(self, name: str, sample: Stats | None) -> Stats | None:
        """`sample` of `name` (None: it does not run), remembered; returned as it is."""
        if sample is None:
            self.earlier.pop(name, None)
            return None
        self.earlier[name] = sample
        if sample.cpu_percent is not None:
            self.cpu.setdefault(name, deque(maxlen=HISTORY)).append(sample.cpu_percent)
        if sample.memory is not None:
            self.memory.setdefault(name, deque(maxlen=HISTORY)).append(float(sample.memory))
        return sample

    def keep_only(self, names: Collection[str]) -> None:
        """Forget the containers gone."""
        for gone in {*self.earlier, *self.cpu, *self.memory}.difference(names):
            self.earlier.pop(gone, None)
            self.cpu.pop(gone, None)
            self.memory.pop(gone, None)

    def detail(self, info: ContainerInfo, log: bytes, fleet: str = "") -> Detail:
        """`info` for the detail pane, with its graphs and the tail of its console `log`."""
        name = info.name
        cpu, memory = tuple(self.cpu.get(name, ())), tuple(self.memory.get(name, ()))
        return Detail(info, self.earlier.get(name), cpu, memory, console_tail(log), fleet)


def row_of(info: ContainerInfo, sample: Stats | None, fleet: str = "", host: str = LOCAL) -> Row:
    """The table's row of `info`, with the figures of `sample`."""
    cfg = info.config
    release = cfg.parameters.get("release") if cfg else None
    template = info.template or "?"
    return Row(
        name=info.name,
        state=info.state,
        template=f"{template} {release}" if isinstance(release, str) else template,
        ipv4=info.ipv4[0] if info.ipv4 else "",
        cpu=sample.cpu_percent if sample else None,
        memory=sample.memory if sample else None,
        memory_limit=sample.memory_limit if sample else None,
        uptime=info.uptime,
        autostart=cfg.autostart if cfg else None,
        privileged=bool(cfg and cfg.security.privileged),
        disk=info.disk.used if info.disk else None,
        disk_limit=info.disk.limit if info.disk else None,
        fleet=fleet,
        host=host,
    )


class Fleet:
    """This root's containers, polled through the core API from worker threads; the
    history behind a lock, as a poll and a detail may overlap."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.lock = threading.Lock()
        self.history = History()
        self.infos: dict[str, ContainerInfo] = {}
        self.host: HostUsage | None = None
        self.fleet_of: dict[str, str] = {}  # container: its fleet, at the last poll

    def poll(self) -> list[Row]:
        with self.lock:
            return self._poll()

    def _poll(self) -> list[Row]:
        rows = []
        infos = {}
        fleet_of = self.fleet_of = {
            member.container: fleet.name
            for fleet in record.every(self.api.paths)
            for member in fleet.members.values()
        }
        for name in self.api.names():
            try:
                # One read of each container: state, config and figures together.
                earlier = self.history.earlier.get(name)
                info = self.api.info(name, with_stats=True, earlier=earlier)
            except LxpyError:
                continue  # destroyed meanwhile
            infos[name] = info
            sample = self.history.keep(name, info.stats)
            rows.append(row_of(info, sample, fleet_of.get(name, "")))
        self.infos = infos
        self.host = self.api.host(self.host)
        self.history.keep_only(infos)
        return rows

    def detail(self, name: str) -> Detail | None:
        """The last poll's figures of `name`, with its console's tail read now."""
        with self.lock:
            info = self.infos.get(name)
        if info is None:
            return None
        try:
            log = self.api.console_log(name)
        except LxpyError:
            log = b""
        with self.lock:
            return self.history.detail(info, log, self.fleet_of.get(name, ""))


def host_line(host: HostUsage, running: int) -> str:
    """The host's figures and how many containers run, in one line of 78 columns."""
    cpu = "-" if host.cpu_percent is None else f"{host.cpu_percent:.0f}%"
    memory = f"{units.short_size(host.memory_used)}/{units.short_size(host.memory_total)}"
    load = " ".join(f"{figure:.2f}" for figure in host.load)
    return f"host CPU {cpu} of {host.cpus} · mem {memory} · load {load} · {running} running"


def ago(stamp: str, now: float) -> str:
    """How long before `now` a time as configs record it ("2026-01-01T00:00:00Z") was, in
    its largest unit: "3 h ago"; "-" for one that does not read as a time."""
    try:
        then = calendar.timegm(time.strptime(stamp, TIME_FORMAT))
    except ValueError:
        return "-"
    seconds = max(0, int(now - then))
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds // length} {unit} ago"
    return f"{seconds} s ago"


BARS = " ▁▂▃▄▅▆▇█"


def bars(values: Sequence[float], top: float, width: int) -> str:
    """The last `width` values, one bar each, on a fixed scale from 0 to `top` (a graph that
    scaled to its own range would draw an idle container's flat 0% as full bars)."""
    if width <= 0:
        return ""
    shown = values[-width:]
    top = max(top, max(shown, default=0.0), 1e-9)
    steps = len(BARS) - 1
    # Anything above zero shows at least the lowest bar: a little is not nothing.
    return "".join(BARS[max(1 if v > 0 else 0, round(v / top * steps))] for v in shown)


def console_tail(log: bytes, lines: int = CONSOLE_LINES) -> str:
    text = ESCAPES.sub("", log[-16384:].decode(errors="replace"))
    kept = [line.rstrip() for line in text.split("\n") if line.strip()]
    return "\n".join(kept[-lines:])
