"""The one cgroup layer: pure v2, pure v1 and hybrid hosts, detected at runtime.

Layout, per hierarchy (`I` is the instance id derived from the state root, so two roots
never share cgroups):

    <hierarchy>/I/payload.NAME       limits live here; the container cannot write them
    <hierarchy>/I/payload.NAME/ns    the container's cgroup namespace root; init starts here
    <hierarchy>/I/monitor.NAME       the monitor, so an OOM inside never kills it

The container sees `ns` as its root, so raising its own limits means writing files it cannot
reach. What each operation reads and writes on v1 and on v2 is in the tables below (LIMITS,
USAGE, OOM_KILLS, OOM_NOTICES, FREEZER, KILL, DEVICES, VERSIONS); the methods hold no version
branches. Imported by the monitor: standard library only, no dataclasses.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import select
import signal
import time

from lxpy.errors import LimitError as LimitError
from lxpy.linux import devices
from lxpy.linux.devices import DEVICE_ALLOW

# Not `from typing import TYPE_CHECKING`: importing typing costs the monitor ~2 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, TypeVar

    # A limit's value as one file takes it, given every limit (v1's memsw needs memory too);
    # None leaves the file as it is.
    Convert = Callable[[Any, dict[str, Any]], str | None]
    E = TypeVar("E", bound="_Entry")

CGROUP_ROOT = "/sys/fs/cgroup"

# Flags the kernel shows in a v1 mount's super options that are not controller names.
_V1_NON_CONTROLLERS = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode"}


class Hierarchy:
    """One mounted cgroup hierarchy of the host."""

    __slots__ = ("controllers", "mountpoint", "name", "version")

    def __init__(self, mountpoint: str, version: int, controllers: tuple[str, ...], name: str):
        self.mountpoint = mountpoint
        self.version = version
        self.controllers = controllers
        self.name = name  # v1 named hierarchy ("systemd"), else ""

    def mount_options(self) -> str:
        """The -o options that mount this same hierarchy again inside a container."""
        opts = list(self.controllers)
        if self.name:
            opts.append(f"name={self.name}")
            if not self.controllers:
                opts.insert(0, "none")
        return ",".join(opts)

    def listed_as(self) -> set[str]:
        """What /proc/PID/cgroup names this hierarchy by (its line's middle field)."""
        if not VERSIONS[self.version].named:
            return set()
        return set(self.controllers) | ({f"name={self.name}"} if self.name else set())

    def __repr__(self) -> str:
        return f"Hierarchy({self.mountpoint!r}, v{self.version}, {self.controllers})"


def _unescape(field: str) -> str:
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def hierarchies(mountinfo: str | None = None) -> list[Hierarchy]:
    """The host's cgroup hierarchies under /sys/fs/cgroup, v1 first, then the v2 one."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    found: dict[str, Hierarchy] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, mountpoint = rfields[0], _unescape(fields[4])
        if not mountpoint.startswith(CGROUP_ROOT) or fields[3] != "/":
            continue
        if fstype == "cgroup2":
            found[mountpoint] = Hierarchy(mountpoint, 2, tuple(_v2_controllers(mountpoint)), "")
        elif fstype == "cgroup":
            opts = rfields[2].split(",")
            controllers = tuple(o for o in opts if o not in _V1_NON_CONTROLLERS and "=" not in o)
            name = next((o[5:] for o in opts if o.startswith("name=")), "")
            found[mountpoint] = Hierarchy(mountpoint, 1, controllers, name)
    return sorted(found.values(), key=lambda h: (h.version, h.mountpoint))


def _v2_controllers(mountpoint: str) -> list[str]:
    try:
        with open(os.path.join(mountpoint, "cgroup.controllers")) as f:
            return f.read().split()
    except OSError:
        return []


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _int(path: str) -> int | None:
    try:
        return int(_read(path).strip())
    except (OSError, ValueError):
        return None


def _fields(path: str) -> dict[str, int]:
    try:
        lines = _read(path).splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            found[key] = int(value)
    return found


CPU_PERIOD_US = 100_000


def _cpu_count(cpus: str) -> int:
    count = 0
    for part in cpus.split(","):
        first, _, last = part.strip().partition("-")
        if first:
            count += int(last or first) - int(first) + 1
    return count


@functools.cache
def _host_hierarchies() -> tuple[Hierarchy, ...]:
    """`hierarchies()`, read once per process: `lxpy top` or the TUI would otherwise read
    mountinfo three times per container per refresh, and the layout does not change under
    a running command."""
    return tuple(hierarchies())


# -- the kinds of entry in the tables -------------------------------------------------------
class _Entry:
    """Files of one cgroup version, found in the hierarchy that holds `controller`; None: in
    every hierarchy of that version (v2's core files are there with no controller enabled)."""

    __slots__ = ("controller",)

    def __init__(self, controller: str | None) -> None:
        self.controller = controller

    def held_by(self, h: Hierarchy) -> bool:
        return self.controller is None or self.controller in h.controllers


class Files(_Entry):
    """One limit on one version: each payload file it writes, in order, with the conversion
    of the value; a tuple of names is alternatives (v1 blkio: CFQ's or BFQ's weight), the
    first present taken. `unset_from`: the hierarchy root's file a lifted limit copies."""

    __slots__ = ("unset_from", "writes")

    def __init__(
        self,
        controller: str,
        *writes: tuple[str | tuple[str, ...], Convert],
        unset_from: str | None = None,
    ) -> None:
        super().__init__(controller)
        self.writes = writes
        self.unset_from = unset_from


class Limit:
    """One limit of lxpy.runtime.limits.kernel_values as each version's files take it. `refusal`:
    the LimitError for a value set where no file takes it (None: such a host skips it).
    `nested`: written in the namespace root too, in the order this measure gives, so that a
    child never holds more than its parent."""

    __slots__ = ("nested", "refusal", "versions")

    def __init__(
        self,
        refusal: str | None,
        v1: Files,
        v2: Files,
        nested: Callable[[str], int] | None = None,
    ) -> None:
        self.refusal = refusal
        self.versions = {1: v1, 2: v2}
        self.nested = nested

    def refuse(self, value: object) -> None:
        if value is not None and self.refusal is not None:
            raise LimitError(self.refusal)


class Counter(_Entry):
    """A number the kernel keeps in a payload file: the whole file or one `field` of it,
    times `scale`; `subtree`: counts() takes every cgroup below too; `unlimited`: from this
    value up, the file means "no limit"."""

    __slots__ = ("field", "file", "scale", "subtree", "unlimited")

    def __init__(
        self,
        controller: str | None,
        file: str,
        field: str | None = None,
        scale: int = 1,
        subtree: bool = False,
        unlimited: int | None = None,
    ) -> None:
        super().__init__(controller)
        self.file, self.field, self.scale = file, field, scale
        self.subtree, self.unlimited = subtree, unlimited

    def counts(self, cgroup: str) -> dict[int, int]:
        """The nonzero counts of `cgroup` (and, with `subtree`, of every cgroup below), by
        inode number: a cgroup made again where one was removed has a new number, so what it
        counts is never taken for what the old one had counted."""
        found = {}
        for place in (p for p, _, _ in os.walk(cgroup)) if self.subtree else (cgroup,):
            value = self.count(place)
            if value:
                with contextlib.suppress(FileNotFoundError):
                    found[os.stat(place).st_ino] = value
        return found

    def count(self, cgroup: str) -> int | None:
        path = os.path.join(cgroup, self.file)
        value = _int(path) if self.field is None else _fields(path).get(self.field)
        if value is None or (self.unlimited is not None and value >= self.unlimited):
            return None
        return value * self.scale


class Notice:
    """An fd the kernel makes ready (for poll, `events`) when it tells of an OOM in the
    container; `settles`: for how long after that the kill it told of may still be
    uncounted."""

    __slots__ = ("_take", "events", "fd", "settles")

    def __init__(self, fd: int, events: int, settles: float, take: Callable[[int], object]):
        self.fd, self.events, self.settles, self._take = fd, events, settles, take

    def take(self) -> None:
        """Take what made the fd ready, so that it waits for the next notice."""
        with contextlib.suppress(BlockingIOError):  # nothing there: a wakeup that was not one
            self._take(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class Notifier(_Entry):
    """How a version tells of an OOM in the payload: `opener` makes the fd to poll for
    `events` from the path of the payload's `file`, `take` takes what made it ready;
    `settles` as in Notice."""

    __slots__ = ("events", "file", "opener", "settles", "take")

    def __init__(
        self,
        controller: str,
        file: str,
        opener: Callable[[str], int],
        take: Callable[[int], object],
        events: int,
        settles: float,
    ) -> None:
        super().__init__(controller)
        self.file, self.opener, self.take = file, opener, take
        self.events, self.settles = events, settles

    def watch(self, cgroup: str) -> Notice:
        notice = Notice(
            self.opener(os.path.join(cgroup, self.file)), self.events, self.settles, self.take
        )
        notice.take()  # a file not read since its open counts as changed (v2)
        return notice


class Freezer(_Entry):
    """How a version freezes: `control` takes words[0] to freeze and words[1] to thaw; a
    line of `state` says says[0] once every process has stopped, says[1] while none is held."""

    __slots__ = ("control", "says", "state", "words")

    def __init__(
        self,
        controller: str | None,
        control: str,
        words: tuple[str, str],
        state: str,
        says: tuple[str, str],
    ) -> None:
        super().__init__(controller)
        self.control, self.words, self.state, self.says = control, words, state, says


class Knob(_Entry):
    """A payload file that acts when written `value`."""

    __slots__ = ("file", "value")

    def __init__(self, controller: str | None, file: str, value: str) -> None:
        super().__init__(controller)
        self.file, self.value = file, value


class Guard(_Entry):
    """How a version keeps the container to its devices: `apply` on the payload cgroup."""

    __slots__ = ("apply",)

    def __init__(self, controller: str | None, apply: Callable[[str], None]) -> None:
        super().__init__(controller)
        self.apply = apply


class Rules:
    """What a version does differently beyond the files of each operation."""

    __slots__ = ("copied", "delegates", "named")

    def __init__(self, copied: dict[str, tuple[str, ...]], delegates: bool, named: bool):
        self.copied = copied  # controller: the files a fresh cgroup copies from its parent
        # Controllers go down through cgroup.subtree_control, and a cgroup that passes
        # them on takes no processes.
        self.delegates = delegates
        self.named = named  # /proc/PID/cgroup names the hierarchy by its controllers


def _value(unset: str | None, convert: Callable[[Any], str] = str) -> Convert:
    """The value through `convert`, or `unset` where there is none (None: the file is left
    as it is)."""
    return lambda value, _limits: unset if value is None else convert(value)


def _quota(cpus: float) -> str:
    return str(max(1000, int(cpus * CPU_PERIOD_US)))


def _quota_and_period(cpus: float) -> str:
    return f"{_quota(cpus)} {CPU_PERIOD_US}"


def _tenth(weight: int) -> str:
    return str(min(1000, max(10, int(weight) // 10)))


def _memory_and_swap(swap: int | None, limits: dict[str, Any]) -> str:
    """v1's memsw counts memory plus swap, and may not be below the memory limit."""
    memory = limits.get("memory")
    return "-1" if memory is None or swap is None else str(memory + swap)


def _allow_listed(cgroup: str) -> None:
    # Deny every device, then allow LXC's default list, before the namespace root exists
    # (v1 refuses "deny all" on a cgroup with children); it and everything systemd makes
    # below it can only narrow this.
    _write(os.path.join(cgroup, "devices.deny"), "a")
    for rule in DEVICE_ALLOW:
        _write(os.path.join(cgroup, "devices.allow"), rule)


def _eventfd_on(path: str) -> int:
    """v1: an eventfd the kernel signals on the notices of the file at `path`, registered
    through its cgroup's cgroup.event_control (cgroup-v1/memory.rst, sections 9 and 11). The
    registration keeps what it needs of the file; closing the eventfd, or removing the
    cgroup, ends it."""
    efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        target = _opened(path)
        try:
            _write(os.path.join(os.path.dirname(path), "cgroup.event_control"), f"{efd} {target}")
        finally:
            os.close(target)
    except BaseException:
        os.close(efd)
        raise
    return efd


def _opened(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)


def _read_again(fd: int) -> None:
    """v2: a cgroup file polls as changed until it is read again."""
    os.pread(fd, 4096, 0)


def attach_device_program(cgroup: str) -> None:
    from lxpy.linux import syscalls

    prog = syscalls.bpf_load_device_program(devices.program())
    try:
        fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            syscalls.bpf_attach_device_program(fd, prog)
        finally:
            os.close(fd)
    finally:
        os.close(prog)  # the attachment keeps the program


# -- the tables: what each operation reads and writes, per version ---------------------------
# Where a hybrid host has an entry's controller on v1 and v2, the v1 one is used (v1
# hierarchies come first).

# Each limit's cgroup files, keyed as lxpy.config.limits.LIMITS (what the limit is) and in the
# order applied (swap after memory: v1's memsw may not be below the memory limit). Adding a
# limit is one entry there and one here.
LIMITS: dict[str, Limit] = {
    "pids": Limit(
        None,
        v1=Files("pids", ("pids.max", _value("max"))),
        v2=Files("pids", ("pids.max", _value("max"))),
    ),
    "memory": Limit(
        "this host has no memory controller for lxpy to use",
        v1=Files("memory", ("memory.limit_in_bytes", _value("-1"))),
        v2=Files("memory", ("memory.max", _value("max"))),
    ),
    "swap": Limit(
        "swap accounting is off on this host (swapaccount=1)",
        v1=Files("memory", ("memory.memsw.limit_in_bytes", _memory_and_swap)),
        v2=Files("memory", ("memory.swap.max", _value("max"))),
    ),
    "cpus": Limit(
        "this host has no cpu controller for lxpy to use",
        v1=Files(
            "cpu",
            ("cpu.cfs_period_us", lambda _cpus, _limits: str(CPU_PERIOD_US)),
            ("cpu.cfs_quota_us", _value("-1", _quota)),
        ),
        v2=Files("cpu", ("cpu.max", _value(f"max {CPU_PERIOD_US}", _quota_and_period))),
    ),
    "cpuset": Limit(
        "this host has no cpuset controller for lxpy to use",
        v1=Files("cpuset", ("cpuset.cpus", _value(None)), unset_from="cpuset.cpus"),
        # The v2 root has no cpuset.cpus, only what it grants.
        v2=Files("cpuset", ("cpuset.cpus", _value(None)), unset_from="cpuset.cpus.effective"),
        nested=_cpu_count,
    ),
    "io_weight": Limit(
        "this host's block I/O controller takes no weights (no BFQ or CFQ)",
        # v1 takes 10-1000 where v2 takes 1-10000: the same scale, tenfold.
        v1=Files("blkio", (("blkio.weight", "blkio.bfq.weight"), _value(None, _tenth))),
        v2=Files("io", ("io.weight", _value(None, lambda weight: f"default {int(weight)}"))),
    ),
}

# What `usage` reports; v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages), v2
# with "max".
USAGE: dict[str, dict[int, Counter]] = {
    "cpu_ns": {
        1: Counter("cpuacct", "cpuacct.usage"),
        2: Counter(None, "cpu.stat", "usage_usec", scale=1000),  # with or without controllers
    },
    "memory": {
        1: Counter("memory", "memory.usage_in_bytes"),
        2: Counter("memory", "memory.current"),
    },
    "memory_peak": {
        1: Counter("memory", "memory.max_usage_in_bytes"),
        2: Counter("memory", "memory.peak"),
    },
    "memory_limit": {
        1: Counter("memory", "memory.limit_in_bytes", unlimited=1 << 60),
        2: Counter("memory", "memory.max", unlimited=1 << 60),
    },
    "pids": {1: Counter("pids", "pids.current"), 2: Counter("pids", "pids.current")},
}

# v2 counts the whole subtree in one file; v1 counts a kill where its victim was: in the
# namespace root or below it.
OOM_KILLS = {
    1: Counter("memory", "memory.oom_control", "oom_kill", subtree=True),
    2: Counter("memory", "memory.events", "oom_kill"),
}

# How a version tells of an OOM in the payload. v1 signals an eventfd registered on
# memory.oom_control when the cgroup hits its limit, before the killer has picked and counted
# its victim (after printing its report, which a slow console can make last); v2 marks
# memory.events changed (POLLPRI) whenever a counter there moves, the kill's own included.
OOM_NOTICES = {
    1: Notifier(
        "memory", "memory.oom_control", _eventfd_on, os.eventfd_read, select.POLLIN, settles=2.0
    ),
    2: Notifier("memory", "memory.events", _opened, _read_again, select.POLLPRI, settles=0.0),
}

FREEZER = {
    1: Freezer(
        "freezer", "freezer.state", ("FROZEN", "THAWED"), "freezer.state", ("FROZEN", "THAWED")
    ),
    2: Freezer(None, "cgroup.freeze", ("1", "0"), "cgroup.events", ("frozen 1", "frozen 0")),
}

KILL = {2: Knob(None, "cgroup.kill", "1")}  # v1 has none: freeze, then signal each process

# v2 has no devices controller: the same list as a BPF program (on a hybrid host too, where
# it sits beside the v1 rules).
# What container root must own in its namespace root to run an init that makes cgroups.
DELEGATED_FILES = (
    "cgroup.procs",
    "cgroup.threads",
    "cgroup.subtree_control",
    "tasks",
    "cgroup.clone_children",
)
DEVICES = {1: Guard("devices", _allow_listed), 2: Guard(None, attach_device_program)}

VERSIONS = {
    # A fresh v1 cpuset is empty and refuses tasks until it inherits cpus and mems.
    1: Rules(copied={"cpuset": ("cpuset.cpus", "cpuset.mems")}, delegates=False, named=True),
    2: Rules(copied={}, delegates=True, named=False),
}


class ContainerCgroups:
    """The cgroups of one container across every hierarchy of the host."""

    __slots__ = ("container", "hierarchies", "instance")

    def __init__(self, instance: str, container: str, found: list[Hierarchy] | None = None):
        self.instance = instance
        self.container = container
        self.hierarchies = list(_host_hierarchies()) if found is None else found

    # -- paths -------------------------------------------------------------------------------
    def payload(self, h: Hierarchy) -> str:
        return os.path.join(h.mountpoint, self.instance, f"payload.{self.container}")

    def namespace_root(self, h: Hierarchy) -> str:
        return os.path.join(self.payload(h), "ns")

    def monitor(self, h: Hierarchy) -> str:
        return os.path.join(h.mountpoint, self.instance, f"monitor.{self.container}")

    def _places(self, table: dict[int, E]) -> Iterator[tuple[Hierarchy, E]]:
        """Each hierarchy with its entry in `table`, where that entry's controller is."""
        for h in self.hierarchies:
            entry = table.get(h.version)
            if entry is not None and entry.held_by(h):
                yield h, entry

    def _place(self, table: dict[int, E]) -> tuple[Hierarchy, E] | None:
        return next(self._places(table), None)

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self, limits: dict[str, Any]) -> None:
        """The payload cgroups, with their limits, before the first process enters."""
        for h in self.hierarchies:
            _make_cgroup(h, self.payload(h))
        self.apply_limits(limits)
        for h, guard in self._places(DEVICES):
            guard.apply(self.payload(h))
        for h in self.hierarchies:
            _make_cgroup(h, self.namespace_root(h))

    def apply_limits(self, limits: dict[str, Any]) -> None:
        """Set the payload's limits (a None lifts one; a key not given stays as it is), on v1
        or v2, at start or live. `limits` is plain data (see lxpy.runtime.limits): memory and
        swap in bytes, cpus as a float, cpuset as the kernel's list syntax, pids, io_weight
        1-10000. Raises LimitError for a limit this host's controllers cannot take."""
        for key, limit in LIMITS.items():
            if key in limits:
                self._apply(limit, limits[key], limits)

    def _apply(self, limit: Limit, value: Any, limits: dict[str, Any]) -> None:
        placed = self._place(limit.versions)
        paths = None if placed is None else _present(self.payload(placed[0]), placed[1])
        if placed is None or paths is None:
            limit.refuse(value)
            return
        h, files = placed
        if value is None and files.unset_from is not None:
            value = _read(os.path.join(h.mountpoint, files.unset_from)).strip()
        for path, (_, convert) in zip(paths, files.writes, strict=True):
            text = convert(value, limits)
            if text is None:
                continue
            chain = [path]
            if limit.nested is not None:
                # A child may not hold more than its parent: widen from the top, narrow
                # from below.
                chain.append(os.path.join(self.namespace_root(h), os.path.basename(path)))
                if limit.nested(text) < limit.nested(_read(path).strip()):
                    chain.reverse()
            for target in chain:
                if os.path.isdir(os.path.dirname(target)):  # no namespace root yet at create
                    _write(target, text)

    def usage(self) -> dict[str, int | None]:
        """What the container uses now: cpu_ns (cumulative), memory, memory_peak,
        memory_limit (bytes; None where the host does not say) and pids."""
        found: dict[str, int | None] = {}
        for key, table in USAGE.items():
            placed = self._place(table)
            if placed is not None:
                h, counter = placed
                found[key] = counter.count(self.payload(h))
        return found

    def oom_kills(self) -> int:
        """Processes the kernel killed for running out of the container's memory."""
        return sum(self.oom_kills_by_cgroup().values())

    def oom_kills_by_cgroup(self) -> dict[int, int]:
        """oom_kills, by the cgroup that counts them (see Counter.counts): what tells new
        kills from old ones where a count can go away (v1, with the guest's cgroup)."""
        placed = self._place(OOM_KILLS)
        if placed is None:
            return {}
        h, counter = placed
        return counter.counts(self.payload(h))

    def oom_notice(self) -> Notice | None:
        """What wakes a poller when the kernel tells of an OOM in the container (then
        oom_kills_by_cgroup says whether it killed); None without a memory controller."""
        placed = self._place(OOM_NOTICES)
        if placed is None:
            return None
        h, notifier = placed
        return notifier.watch(self.payload(h))

    def delegate(self, uid: int, gid: int) -> None:
        """Give the namespace root to container root (host ids `uid`, `gid`): its directory
        and the files that move processes and enable controllers, as the kernel's cgroup v2
        delegation and LXC's v1 ones name them. The limits stay above, on the payload."""
        for h in self.hierarchies:
            root = self.namespace_root(h)
            os.chown(root, uid, gid)
            for name in DELEGATED_FILES:
                with contextlib.suppress(FileNotFoundError):
                    os.chown(os.path.join(root, name), uid, gid)

    def enter(self, role: str) -> None:
        """Move the calling process into its `role` cgroup ("ns" or "monitor") everywhere;
        the monitor's are made here, off the path to a running init."""
        for h in self.hierarchies:
            if role == "ns":
                target = self.namespace_root(h)
            else:
                target = self.monitor(h)
                _make_cgroup(h, target)
            _write(os.path.join(target, "cgroup.procs"), "0")

    def enter_beside(self, pid: int) -> None:
        """Move the calling process (an attach) into the container: where controllers are
        delegated (v2), into the cgroup where `pid` (its init) is, since a systemd inside
        enables controllers at its root, which then refuses new processes (EBUSY); elsewhere,
        into the namespace root."""
        placed = _v2_cgroup_of(pid)
        for h in self.hierarchies:
            target = self.namespace_root(h)
            if VERSIONS[h.version].delegates and placed is not None:
                candidate = os.path.normpath(h.mountpoint + placed)
                if candidate.startswith(target + "/") and os.path.isdir(candidate):
                    target = candidate
            _write(os.path.join(target, "cgroup.procs"), "0")

    def reset_namespace_root(self) -> None:
        """Before a new init (after a guest reboot): drop the cgroups the old one made and
        the controllers it enabled, so the namespace root takes a process again."""
        for h in self.hierarchies:
            root = self.namespace_root(h)
            for entry in os.scandir(root):
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree(entry.path)
            if VERSIONS[h.version].delegates:
                _subtree_control(root, "-", "cgroup.subtree_control")

    def own_cgroups(self) -> dict[str, str]:
        """Where the calling process is now, per hierarchy mountpoint (to return there)."""
        return own_cgroups(self.hierarchies)

    def move_to(self, places: dict[str, str]) -> None:
        for h in self.hierarchies:
            target = places.get(h.mountpoint, h.mountpoint)
            try:
                _write(os.path.join(target, "cgroup.procs"), "0")
            except OSError:
                _write(os.path.join(h.mountpoint, "cgroup.procs"), "0")

    def exists(self) -> bool:
        return any(
            os.path.isdir(self.payload(h)) or os.path.isdir(self.monitor(h))
            for h in self.hierarchies
        )

    def pids(self) -> set[int]:
        """Every process in the payload subtree, as host pids."""
        found: set[int] = set()
        for h in self.hierarchies:
            for dirpath, _dirs, _files in os.walk(self.payload(h)):
                try:
                    found.update(
                        int(p) for p in _read(os.path.join(dirpath, "cgroup.procs")).split()
                    )
                except OSError:
                    continue
        return found

    def kill_all(self) -> None:
        """SIGKILL everything in the payload; frozen first so nothing forks away meanwhile."""
        placed = self._place(KILL)
        if placed is not None:
            h, knob = placed
            path = os.path.join(self.payload(h), knob.file)
            if os.path.exists(path):
                _write(path, knob.value)
                return
        frozen = self.freeze(wait=0.5)
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if frozen:
                self.thaw()

    def freeze(self, wait: float = 2.0) -> bool:
        freezer = self._freezer()
        if freezer is None:
            return False
        payload, f = freezer
        control, state = os.path.join(payload, f.control), os.path.join(payload, f.state)

        def frozen() -> bool:
            if f.says[0] in _read(state).splitlines():
                return True
            # v1 leaves a partial freeze (a task busy in the kernel) FREEZING until asked
            # again (cgroup-v1/freezer-subsystem.rst; older kernels said EBUSY to the ask).
            try:
                _write(control, f.words[0])
            except OSError:
                pass
            return False

        _write(control, f.words[0])
        return _poll(frozen, wait)

    def thaw(self) -> None:
        freezer = self._freezer()
        if freezer is not None:
            payload, f = freezer
            _write(os.path.join(payload, f.control), f.words[1])

    def frozen(self) -> bool:
        """Frozen, or on the way there: no longer running."""
        freezer = self._freezer()
        try:
            if freezer is not None:
                payload, f = freezer
                return f.says[1] not in _read(os.path.join(payload, f.state)).splitlines()
        except OSError:
            pass
        return False

    def _freezer(self) -> tuple[str, Freezer] | None:
        """The payload and the freezer there, if this host's kernel has one."""
        placed = self._place(FREEZER)
        if placed is None:
            return None
        h, freezer = placed
        payload = self.payload(h)
        return (
            (payload, freezer) if os.path.exists(os.path.join(payload, freezer.control)) else None
        )

    def remove(self, timeout: float = 5.0, monitor_left: Callable[[], None] | None = None) -> None:
        """Remove the payload (depth-first: systemd makes its own children) and monitor dirs.

        Waits up to `timeout` for exiting processes to leave; the instance dir goes too once
        no other container uses it. `monitor_left`: called between the two, it returns once
        the monitor (the caller) is out of its own cgroups.
        """
        _poll(lambda: not self.pids(), timeout)
        for h in self.hierarchies:
            _remove_tree(self.payload(h))
        if monitor_left is not None:
            monitor_left()
        for h in self.hierarchies:
            _remove_tree(self.monitor(h))
            try:
                os.rmdir(os.path.join(h.mountpoint, self.instance))
            except OSError:
                pass


def own_cgroups(hierarchies: list[Hierarchy]) -> dict[str, str]:
    """Where the calling process is now, per hierarchy mountpoint."""
    with open("/proc/self/cgroup") as f:
        lines = f.read().splitlines()
    found: dict[str, str] = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        keys = set(controllers.split(",")) if controllers else set()
        for h in hierarchies:
            if keys == h.listed_as():
                found[h.mountpoint] = h.mountpoint + path
    return found


def prime_migrations() -> None:
    """Move the calling process to the cgroup it is in already, in one hierarchy: a cheap
    no-op but for its lock. The first move of a process into any cgroup, after a while
    without one, waits for an RCU grace period (6-15 ms here: the kernel's cgroup
    threadgroup rwsem, one for every hierarchy), and the moves that follow within ~20 ms do
    not. Done while waiting for work, it spares the container's first moves that wait."""
    hierarchies = list(_host_hierarchies())
    try:
        for place in own_cgroups(hierarchies[:1]).values():
            _write(os.path.join(place, "cgroup.procs"), "0")
    except OSError:
        pass  # only a wait saved: a cgroup that refuses us (v2, not a leaf) costs nothing


def _present(cgroup: str, files: Files) -> list[str] | None:
    """The path each of `files`' writes goes to in `cgroup` (of alternatives, the first
    there), or None if one has none."""
    paths = []
    for names, _ in files.writes:
        candidates = (names,) if isinstance(names, str) else names
        path = next((p for n in candidates if os.path.exists(p := os.path.join(cgroup, n))), None)
        if path is None:
            return None
        paths.append(path)
    return paths


def _v2_cgroup_of(pid: int) -> str | None:
    """The v2 cgroup path of `pid` ("0::/..." in /proc/PID/cgroup), as seen from here."""
    try:
        for line in _read(f"/proc/{pid}/cgroup").splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        pass
    return None


def _make_cgroup(h: Hierarchy, path: str) -> None:
    """mkdir -p for cgroups, filling what a version needs on the way (v1 cpuset's cpus and
    mems, v2's delegated controllers)."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _make_cgroup(h, parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    rules = VERSIONS[h.version]
    for controller, names in rules.copied.items():
        if controller in h.controllers:
            for name in names:
                value = _read(os.path.join(parent, name)).strip() or "\n"
                _write(os.path.join(path, name), value)
    if rules.delegates:
        # Delegate every controller the parent offers down to this level.
        _subtree_control(parent, "+", "cgroup.controllers")


def _subtree_control(path: str, sign: str, listed_in: str) -> None:
    """Enable (+) or disable (-) for the children of `path` every controller that its file
    `listed_in` names; best effort, as a host may hold some controllers back."""
    try:
        controllers = _read(os.path.join(path, listed_in)).split()
        if controllers:
            _write(
                os.path.join(path, "cgroup.subtree_control"),
                " ".join(sign + c for c in controllers),
            )
    except OSError:
        pass


def _remove_tree(path: str) -> None:
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _files in os.walk(path, topdown=False):
        for d in dirnames:
            _rmdir_retry(os.path.join(dirpath, d))
    _rmdir_retry(path)


def _rmdir_retry(path: str) -> None:
    # EBUSY lingers briefly after the last process of a cgroup has been reaped.
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.02)
    os.rmdir(path)


def _poll(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
