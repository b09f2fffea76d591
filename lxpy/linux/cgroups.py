"""The one cgroup layer: pure v2, pure v1 and hybrid hosts, detected at runtime.

Layout, per hierarchy (`I` is the instance id derived from the state root, so two roots
never share cgroups):

    <hierarchy>/I/payload.NAME       limits live here; the container cannot write them
    <hierarchy>/I/payload.NAME/ns    the container's cgroup namespace root; init starts here
    <hierarchy>/I/monitor.NAME       the monitor, so an OOM inside never kills it

The container sees `ns` as its root, so raising its own limits means writing files it cannot
reach. Imported by the monitor: standard library only, no dataclasses.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import time

from lxpy.errors import LimitError as LimitError
from lxpy.linux import devices
from lxpy.linux.devices import DEVICE_ALLOW

# Not `from typing import TYPE_CHECKING`: importing typing costs the monitor ~2 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

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

    def _with(self, controller: str) -> Hierarchy | None:
        """The hierarchy that holds `controller`, preferring v1 where a hybrid host has both."""
        for h in self.hierarchies:
            if controller in h.controllers:
                return h
        return None

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self, limits: dict[str, Any]) -> None:
        """The payload cgroups, with their limits, before the first process enters."""
        for h in self.hierarchies:
            _make_cgroup(h, self.payload(h))
        self.apply_limits(limits)
        devices = self._with("devices")
        if devices is not None and devices.version == 1:
            # Deny every device, then allow LXC's default list, before the namespace root
            # exists (v1 refuses "deny all" on a cgroup with children); it and everything
            # systemd makes below it can only narrow this.
            _write(os.path.join(self.payload(devices), "devices.deny"), "a")
            for rule in DEVICE_ALLOW:
                _write(os.path.join(self.payload(devices), "devices.allow"), rule)
        v2 = next((h for h in self.hierarchies if h.version == 2), None)
        if v2 is not None:
            # v2 has no devices controller: the same list as a BPF program (on a hybrid
            # host too, where it sits beside the v1 rules).
            attach_device_program(self.payload(v2))
        for h in self.hierarchies:
            _make_cgroup(h, self.namespace_root(h))

    def apply_limits(self, limits: dict[str, Any]) -> None:
        """Set the payload's limits (all of them: a None lifts one), on v1 or v2, at start
        or live. `limits` is plain data (see lxpy.runtime.limits): memory and swap in
        bytes, cpus as a float, cpuset as the kernel's list syntax, pids, io_weight 1-10000.
        Raises LimitError for a limit this host's controllers cannot take."""
        self._pids(limits.get("pids"))
        self._memory(limits.get("memory"), limits.get("swap"))
        self._cpus(limits.get("cpus"))
        if "cpuset" in limits:
            self._cpuset(limits["cpuset"])
        if limits.get("io_weight") is not None:
            self._io_weight(int(limits["io_weight"]))

    def _file(self, controller: str, v1: str, v2: str) -> str | None:
        h = self._with(controller)
        if h is None:
            return None
        return os.path.join(self.payload(h), v1 if h.version == 1 else v2)

    def _pids(self, value: int | None) -> None:
        path = self._file("pids", "pids.max", "pids.max")
        if path is not None:
            _write(path, "max" if value is None else str(value))

    def _memory(self, memory: int | None, swap: int | None) -> None:
        path = self._file("memory", "memory.limit_in_bytes", "memory.max")
        if path is None:
            if memory is not None:
                raise LimitError("this host has no memory controller for lxpy to use")
            return
        v1 = path.endswith("limit_in_bytes")
        _write(path, str(memory) if memory is not None else ("-1" if v1 else "max"))
        swap_file = os.path.join(
            os.path.dirname(path), "memory.memsw.limit_in_bytes" if v1 else "memory.swap.max"
        )
        if not os.path.exists(swap_file):
            if swap is not None:
                raise LimitError("swap accounting is off on this host (swapaccount=1)")
            return
        if v1:  # memsw counts memory plus swap, and may not be below the memory limit
            total = -1 if memory is None or swap is None else memory + swap
            _write(swap_file, str(total))
        else:
            _write(swap_file, "max" if swap is None else str(swap))

    def _cpus(self, cpus: float | None) -> None:
        path = self._file("cpu", "cpu.cfs_quota_us", "cpu.max")
        if path is None:
            if cpus is not None:
                raise LimitError("this host has no cpu controller for lxpy to use")
            return
        quota = None if cpus is None else max(1000, int(cpus * CPU_PERIOD_US))
        if path.endswith("cfs_quota_us"):
            _write(os.path.join(os.path.dirname(path), "cpu.cfs_period_us"), str(CPU_PERIOD_US))
            _write(path, "-1" if quota is None else str(quota))
        else:
            _write(path, f"{'max' if quota is None else quota} {CPU_PERIOD_US}")

    def _cpuset(self, cpus: str | None) -> None:
        h = self._with("cpuset")
        if h is None:
            if cpus is not None:
                raise LimitError("this host has no cpuset controller for lxpy to use")
            return
        wanted = cpus or _read(os.path.join(h.mountpoint, "cpuset.cpus")).strip()
        # A child's CPUs must stay within its parent's: widen from the top, narrow from below.
        chain = [self.payload(h), self.namespace_root(h)]
        current = _read(os.path.join(chain[0], "cpuset.cpus")).strip()
        order = chain if _cpu_count(wanted) >= _cpu_count(current) else chain[::-1]
        for path in order:
            if os.path.isdir(path):
                _write(os.path.join(path, "cpuset.cpus"), wanted)

    def _io_weight(self, weight: int) -> None:
        h = self._with("io") or self._with("blkio")
        if h is not None and h.version == 2:
            path = os.path.join(self.payload(h), "io.weight")
            if os.path.exists(path):
                _write(path, f"default {weight}")
                return
        elif h is not None:
            for name in ("blkio.weight", "blkio.bfq.weight"):
                path = os.path.join(self.payload(h), name)
                if os.path.exists(path):
                    # v1 takes 10-1000 where v2 takes 1-10000: the same scale, tenfold.
                    _write(path, str(min(1000, max(10, weight // 10))))
                    return
        raise LimitError("this host's block I/O controller takes no weights (no BFQ or CFQ)")

    def usage(self) -> dict[str, int | None]:
        """What the container uses now: cpu_ns (cumulative), memory, memory_peak,
        memory_limit (bytes; None where the host does not say) and pids."""
        found: dict[str, int | None] = {}
        cpuacct, v2 = self._with("cpuacct"), self._v2()
        if cpuacct is not None and cpuacct.version == 1:
            found["cpu_ns"] = _int(os.path.join(self.payload(cpuacct), "cpuacct.usage"))
        elif v2 is not None:  # every v2 cgroup keeps cpu.stat, with or without controllers
            usec = _fields(os.path.join(self.payload(v2), "cpu.stat")).get("usage_usec")
            found["cpu_ns"] = None if usec is None else usec * 1000
        mem = self._with("memory")
        if mem is not None:
            base = self.payload(mem)
            v1 = mem.version == 1
            current = "memory.usage_in_bytes" if v1 else "memory.current"
            found["memory"] = _int(f"{base}/{current}")
            peak = "memory.max_usage_in_bytes" if v1 else "memory.peak"
            found["memory_peak"] = _int(f"{base}/{peak}")
            limit = _int(f"{base}/memory.limit_in_bytes" if v1 else f"{base}/memory.max")
            # v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages), v2 with "max".
            found["memory_limit"] = None if limit is None or limit >= 1 << 60 else limit
        pids = self._with("pids")
        if pids is not None:
            found["pids"] = _int(os.path.join(self.payload(pids), "pids.current"))
        return found

    def _v2(self) -> Hierarchy | None:
        return next((h for h in self.hierarchies if h.version == 2), None)

    def oom_kills(self) -> int:
        """Processes the kernel killed for running out of the container's memory."""
        h = self._with("memory")
        if h is None:
            return 0
        if h.version == 2:  # memory.events counts the whole subtree
            return _oom_kill_count(os.path.join(self.payload(h), "memory.events"))
        # v1 counts a kill where its victim was: in the namespace root or below it.
        return sum(
            _oom_kill_count(os.path.join(dirpath, "memory.oom_control"))
            for dirpath, _, _ in os.walk(self.payload(h))
        )

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
        """Move the calling process (an attach) into the container: on v2, into the cgroup
        where `pid` (its init) is, since a systemd inside enables controllers at its root,
        and v2 then refuses new processes there (EBUSY); on v1, into the namespace root."""
        placed = _v2_cgroup_of(pid)
        for h in self.hierarchies:
            target = self.namespace_root(h)
            if h.version == 2 and placed is not None:
                candidate = os.path.normpath(h.mountpoint + placed)
                if candidate.startswith(target + "/") and os.path.isdir(candidate):
                    target = candidate
            _write(os.path.join(target, "cgroup.procs"), "0")

    def reset_namespace_root(self) -> None:
        """Before a new init (after a guest reboot): drop the cgroups the old one made and
        the controllers it enabled, so the namespace root takes a process again on v2."""
        for h in self.hierarchies:
            root = self.namespace_root(h)
            for entry in os.scandir(root):
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree(entry.path)
            if h.version == 2:
                _subtree_control(root, "-", "cgroup.subtree_control")

    def own_cgroups(self) -> dict[str, str]:
        """Where the calling process is now, per hierarchy mountpoint (to return there)."""
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
        found: dict[str, str] = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            keys = set(controllers.split(",")) if controllers else set()
            for h in self.hierarchies:
                if (h.version == 2 and not controllers) or (
                    h.version == 1
                    and keys == set(h.controllers) | ({f"name={h.name}"} if h.name else set())
                ):
                    found[h.mountpoint] = h.mountpoint + path
        return found

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
        v2 = next((h for h in self.hierarchies if h.version == 2), None)
        if v2 is not None and os.path.exists(os.path.join(self.payload(v2), "cgroup.kill")):
            _write(os.path.join(self.payload(v2), "cgroup.kill"), "1")
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
        h = self._with("freezer")
        if h is not None:
            state = os.path.join(self.payload(h), "freezer.state")
            _write(state, "FROZEN")
            return _poll(lambda: _read(state).strip() == "FROZEN", wait)
        v2 = next((h for h in self.hierarchies if h.version == 2), None)
        if v2 is not None and os.path.exists(os.path.join(self.payload(v2), "cgroup.freeze")):
            _write(os.path.join(self.payload(v2), "cgroup.freeze"), "1")
            events = os.path.join(self.payload(v2), "cgroup.events")
            return _poll(lambda: "frozen 1" in _read(events), wait)
        return False

    def thaw(self) -> None:
        h = self._with("freezer")
        if h is not None:
            _write(os.path.join(self.payload(h), "freezer.state"), "THAWED")
            return
        v2 = next((h for h in self.hierarchies if h.version == 2), None)
        if v2 is not None and os.path.exists(os.path.join(self.payload(v2), "cgroup.freeze")):
            _write(os.path.join(self.payload(v2), "cgroup.freeze"), "0")

    def frozen(self) -> bool:
        h = self._with("freezer")
        try:
            if h is not None:
                return _read(os.path.join(self.payload(h), "freezer.state")).strip() != "THAWED"
            v2 = next((h for h in self.hierarchies if h.version == 2), None)
            if v2 is not None:
                return "frozen 1" in _read(os.path.join(self.payload(v2), "cgroup.events"))
        except OSError:
            pass
        return False

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the payload (depth-first: systemd makes its own children) and monitor dirs.

        Waits up to `timeout` for exiting processes to leave; the instance dir goes too once
        no other container uses it.
        """
        _poll(lambda: not self.pids(), timeout)
        for h in self.hierarchies:
            _remove_tree(self.payload(h))
            _remove_tree(self.monitor(h))
            try:
                os.rmdir(os.path.join(h.mountpoint, self.instance))
            except OSError:
                pass


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


def _oom_kill_count(path: str) -> int:
    return _fields(path).get("oom_kill", 0)


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
    """mkdir -p for cgroups, filling what v1 cpuset and v2 controllers need on the way."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _make_cgroup(h, parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    if h.version == 1 and "cpuset" in h.controllers:
        # A fresh v1 cpuset is empty and refuses tasks until it inherits cpus and mems.
        for name in ("cpuset.cpus", "cpuset.mems"):
            _write(os.path.join(path, name), _read(os.path.join(parent, name)).strip() or "\n")
    if h.version == 2:
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
