"""Start, stop and destroy: the CLI side of a container's life, serialized by its lock."""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import signal
import sys
import time

from lxpy import store
from lxpy.config import CgroupView, ContainerConfig, InitKind
from lxpy.errors import LxpyError, StartError, StateError, UsageError
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.proc import ProcessRef, wait_gone
from lxpy.paths import Paths
from lxpy.records import values
from lxpy.runtime import DEFAULT_PATH, limits
from lxpy.runtime.rundir import CONTROL_SOCKET, NOTIFY_SOCKET, READY_MARK, STOPPING_MARK, State
from lxpy.runtime.state import Live, not_running, read_live
from lxpy.runtime.teardown import teardown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxpy.net.networks import Plug
    from lxpy.runtime.launcher import Launcher
    from lxpy.runtime.spec import MonitorSpec

DEFAULT_STOP_TIMEOUT = 30.0
# How long `start` waits for the monitor to report; bootstrapping is done by then, so this
# only covers a stuck mount or a hung init exec.
START_REPORT_TIMEOUT = 60.0
# How long `start` waits for systemd to report its boot finished, by default.
BOOT_WAIT_SECONDS = 30.0


def monitor_spec(
    paths: Paths,
    name: str,
    cfg: ContainerConfig,
    published: list[str],
    eth0: str | None,
    fds: tuple[int, int, int],
) -> MonitorSpec:
    """What the monitor needs, as plain data: it imports neither tomllib nor dataclasses.

    `published`: see published_files. With a NIC: `eth0`, its address. `fds`: the user
    namespace, the network namespace and the gate's read end, fds of ours that the monitor
    opens through /proc (-1: none): an unprivileged container has both namespaces, a NIC
    the network namespace (being wired while the monitor prepares) and the gate."""
    # Here, not at the top: `lxpy ls` and the other commands that import this need neither.
    from lxpy.storage import overlay

    dirs = overlay.overlay_dirs(paths, name, cfg)
    root = overlay.rootfs_dir(paths, name, cfg)
    userns, netns, gate = fds
    ours = f"/proc/{os.getpid()}/fd"
    idmap = cfg.security.idmap
    return {
        "name": name,
        "rootfs": root,
        "overlay": None if dirs is None else overlay.overlay_options(dirs),
        "cgroup_view": cgroup_view(cfg, overlay.layer_roots(paths, name, cfg)),
        "hostname": cfg.hostname,
        "uuid": cfg.uuid,
        "command": list(cfg.init.command),
        "halt_signal": cfg.init.halt_signum,
        "run_dir": paths.run_dir(name),
        "console_log": paths.console_log(name),
        "monitor_log": f"{paths.container_dir(name)}/monitor.log",
        "instance": paths.instance,
        "limits": limits.kernel_values(cfg.limits),
        "stop_timeout": DEFAULT_STOP_TIMEOUT,
        "mounts": [(m.source, m.path, m.readonly) for m in cfg.mounts],
        # systemd says when its boot is done (sd_notify READY=1): `start` can wait for it.
        "notify_socket": f"{paths.run_dir(name)}/{NOTIFY_SOCKET}"
        if cfg.init.kind == InitKind.SYSTEMD
        else None,
        "userns": None if userns < 0 else f"{ours}/{userns}",
        "root_id": -1 if idmap is None or cfg.security.privileged else idmap.host,
        "shifted": bool(cfg.security.shifted),
        "privileged": cfg.security.privileged,
        "syscalls_allowed": list(cfg.security.allow),
        "netns": None if netns < 0 else f"{ours}/{netns}",
        "gate": None if gate < 0 else f"{ours}/{gate}",
        "dns_files": published,
        "ports": []
        if eth0 is None
        else [(p.proto, p.address, p.host_port, eth0, p.port) for p in cfg.ports],
        "dnsmasq": dnsmasq_commands(paths, cfg),
        "count_disk": None if cfg.storage.pool else list(values(paths)),
    }


def cgroup_view(cfg: ContainerConfig, roots: list[str]) -> str:
    """The cgroup view a container gets: "unified" (the v2 hierarchy alone) or "host"."""
    if cfg.init.kind != InitKind.SYSTEMD or cfg.init.cgroup == CgroupView.HOST:
        return "host"
    if cfg.init.cgroup == CgroupView.UNIFIED:
        return "unified"
    from lxpy.runtime import guest

    version = guest.systemd_version(roots)
    return "unified" if version is not None and version >= guest.SYSTEMD_UNIFIED_ONLY else "host"


def start(paths: Paths, name: str, launcher: Launcher | None = None) -> int:
    """Start the container; return init's host pid once init runs.

    With a `launcher` (forked at the start of the CLI) the monitor is forked from it;
    without one, a fresh interpreter is exec'd as `lxpy monitor NAME`.
    """
    store.require(paths, name)
    paths.ensure()
    with store.locked(paths, name):
        # Read inside the lock: a destroy that held it may have removed the container.
        cfg = store.load(paths, name)
        if cfg.limits.disk is not None and not cfg.storage.pool:
            # Kept nowhere (an import of a container that had one in a pool): say so.
            raise UsageError(
                f"container {name!r} has a disk limit its storage cannot keep",
                hint=f"`lxpy config unset {name} limits.disk`, or keep it in a btrfs pool",
            )
        live = read_live(paths, name)
        if live.active:
            now = "running" if live.state is State.RUNNING else live.state.lower()
            raise StateError(
                f"container {name!r} is already {now}",
                hint=f"`lxpy attach {name}` to get a shell, `lxpy restart {name}` to restart it",
            )
        run = paths.run_dir(name)
        cgroups = ContainerCgroups(paths.instance, name)
        # Nothing lives, so whatever a crash or a host reboot left behind is stale.
        published = published_files(paths, name, cfg)
        if os.path.lexists(run) or cgroups.exists() or any(map(os.path.exists, published)):
            teardown(run, cgroups, published)
        os.mkdir(run, 0o700)
        plugs: list[Plug] = []
        # What the monitor opens through our fd table (the namespaces, the gate's read end),
        # and the gate's write end.
        userns = netns = gate_r = gate = -1
        try:
            if not cfg.security.privileged:
                from lxpy import idmaps
                from lxpy.linux import userns as namespaces

                cfg = idmaps.ensure(paths, name, cfg)
                assert cfg.security.idmap is not None
                # Even without a NIC: its sysfs is mounted before init enters the userns.
                userns, netns = namespaces.with_network(cfg.security.idmap.kernel_map)
                if cfg.security.shifted or (
                    cfg.security.shift
                    and not namespaces.idmappable(paths.container_dir(name), userns)
                ):
                    from lxpy.storage import shift

                    cfg = shift.ensure(paths, name, cfg)
            if cfg.network:
                from lxpy.net import networks

                plugs = networks.plugs(paths, name, cfg)
                if netns < 0:
                    from lxpy.linux import netns as network_namespace  # privileged: a thread

                    netns = network_namespace.new()
                gate_r, gate = os.pipe2(os.O_CLOEXEC)
            elif cfg.ports:
                raise StartError(
                    f"container {name!r} forwards ports but has no NIC",
                    hint="give it a network (network = [{ name = ... }] in config.toml)",
                )
            eth0 = plugs[0].address if plugs else None
            spec = monitor_spec(paths, name, cfg, published, eth0, (userns, netns, gate_r))
            # The NICs are wired while the monitor prepares the container; init is held at
            # the gate until they are in place, so it never boots without its eth0. A closed
            # gate without a byte fails the start.
            with _monitor(spec, launcher) as report:
                try:
                    if plugs:
                        networks.wire(paths, name, plugs, netns)
                        os.write(gate, b"1")
                finally:
                    if gate >= 0:
                        os.close(gate)
                        gate = -1
                    text = _read_report(report)
            return _result(text, name, spec)
        except LxpyError:
            # A monitor that reports a failure has cleaned up; one that died has not.
            teardown(run, cgroups, published)
            raise
        finally:
            for fd in (gate, gate_r, netns, userns):
                if fd >= 0:
                    os.close(fd)


def published_files(paths: Paths, name: str, cfg: ContainerConfig) -> list[str]:
    """The container's files in its networks' dnsmasq directories, while it runs."""
    if not cfg.network:
        return []
    from lxpy.net import dnsmasq, model

    return [
        path
        for nic in cfg.network
        for path in dnsmasq.container_files(model.run_dir(paths, nic.network), name)
    ]


def dnsmasq_commands(paths: Paths, cfg: ContainerConfig) -> list[tuple[str, list[str]]]:
    """(run dir, argv) of each network's dnsmasq: the monitor starts one again if it dies."""
    if not cfg.network:
        return []
    from lxpy.net import dnsmasq, model

    found = {}
    for nic in cfg.network:
        run = model.run_dir(paths, nic.network)
        found[run] = dnsmasq.command(run, model.load(paths, nic.network))
    return list(found.items())


def wait_booted(paths: Paths, name: str, timeout: float = BOOT_WAIT_SECONDS) -> bool:
    """Wait until an init that reports readiness (systemd) has finished booting; True at
    once for one that does not. False when init ended or `timeout` passed first."""
    run = paths.run_dir(name)
    if not os.path.exists(f"{run}/{NOTIFY_SOCKET}"):
        return True
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while not os.path.exists(f"{run}/{READY_MARK}"):
        now = time.monotonic()
        if now >= deadline:
            return False
        if now - checked > 0.25:  # an init that died during boot never reports
            checked = now
            if not read_live(paths, name).active:
                return False
        time.sleep(0.005)
    return True


@contextlib.contextmanager
def _monitor(spec: MonitorSpec, launcher: Launcher | None) -> Iterator[int]:
    """A monitor launched for `spec`; yields the fd its one-line report arrives on."""
    if launcher is not None:
        yield launcher.launch(spec)
        return
    spec_r, spec_w = os.pipe()
    status_r, status_w = os.pipe()
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-I", "-m", "lxpy", "monitor", spec["name"]],
            {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"},
            file_actions=[
                (os.POSIX_SPAWN_DUP2, spec_r, 0),
                (os.POSIX_SPAWN_DUP2, status_w, 3),
                (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
            ],
            setsid=True,
        )
    finally:
        os.close(spec_r)
        os.close(status_w)
    try:
        with os.fdopen(spec_w, "wb") as f:
            f.write(marshal.dumps(dict(spec)))  # dict(): marshal is typed to take no TypedDict
        yield status_r
    finally:
        os.close(status_r)
        os.waitpid(pid, 0)


def _result(report: str, name: str, spec: MonitorSpec) -> int:
    """init's pid from the monitor's one-line report, or the failure it reports."""
    word, _, rest = report.strip().partition(" ")
    if word == "ok" and rest.isdigit():
        return int(rest)
    if word == "error":
        raise StartError(
            f"cannot start {name!r}: {rest}", hint=f"`lxpy console {name} --log` shows more"
        )
    raise StartError(
        f"cannot start {name!r}: the monitor ended without a report",
        hint=f"see {spec['monitor_log']}",
    )


def _read_report(fd: int) -> str:
    """One line, or what came before EOF or the timeout."""
    data = b""
    deadline = time.monotonic() + START_REPORT_TIMEOUT
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def stop(
    paths: Paths, name: str, timeout: float = DEFAULT_STOP_TIMEOUT, force: bool = False
) -> None:
    store.require(paths, name)
    with store.locked(paths, name, timeout=timeout + 10):
        stop_locked(paths, name, timeout, force)


def stop_locked(paths: Paths, name: str, timeout: float, force: bool) -> None:
    live = read_live(paths, name)
    if not live.active:
        raise not_running(name)
    cgroups = ContainerCgroups(paths.instance, name)
    if live.state is State.FROZEN:
        cgroups.thaw()  # a frozen init cannot act on its halt signal
    run = paths.run_dir(name)
    if live.monitor is not None and _stop_through_monitor(run, live.monitor, timeout, force):
        return
    try:
        cfg = store.load(paths, name)
        halt, published = cfg.init.halt_signum, published_files(paths, name, cfg)
    except LxpyError:
        halt, published = signal.SIGKILL, []  # a broken config must not keep it running
    _stop_directly(run, live, cgroups, timeout, force, halt, published)


def _stop_through_monitor(run: str, monitor: ProcessRef, timeout: float, force: bool) -> bool:
    """Ask the monitor to stop the container and wait for it to exit; False if it could not."""
    from lxpy.runtime import control

    pidfd = monitor.pidfd()
    if pidfd is None:
        return False
    try:
        try:
            reply = control.ask(f"{run}/{CONTROL_SOCKET}", control.Stop(timeout, force))
        except OSError:
            return False
        if not control.Reply.decode(reply).ok:
            return False
        # The monitor kills everything at the timeout, then needs a moment to clean up.
        return wait_gone(pidfd, timeout + 10) and not os.path.isdir(run)
    finally:
        os.close(pidfd)


def _stop_directly(
    run: str,
    live: Live,
    cgroups: ContainerCgroups,
    timeout: float,
    force: bool,
    halt: int,
    published: list[str],
) -> None:
    """Stop without a monitor (it was killed): signal init ourselves, then clean up."""
    init = live.init
    if init is not None:
        ProcessRef.of(os.getpid()).write(f"{run}/{STOPPING_MARK}")
        pidfd = init.pidfd()
        if pidfd is not None:
            try:
                if not force and timeout > 0:
                    init.send_signal(halt)
                    if wait_gone(pidfd, timeout):
                        init = None
                if init is not None:
                    init.send_signal(signal.SIGKILL)
                    wait_gone(pidfd, 5)
            finally:
                os.close(pidfd)
    if live.monitor is not None:
        live.monitor.send_signal(signal.SIGKILL)
    teardown(run, cgroups, published)


def destroy(paths: Paths, name: str, force: bool = False) -> None:
    from lxpy.linux import safefs
    from lxpy.storage import layers

    store.require(paths, name)
    with store.locked(paths, name):
        users = layers.dependents(paths, name)
        if users:
            raise StateError(
                f"cannot destroy {name}: {', '.join(users)} stand(s) on its layers",
                hint=f"clones made with --snapshot need their origin: destroy {users[0]} first",
            )
        live = read_live(paths, name)
        if live.active:
            if not force:
                raise StateError(
                    f"container {name!r} is running", hint=f"`lxpy stop {name}` first, or --force"
                )
            stop_locked(paths, name, 0, True)
        try:
            cfg: ContainerConfig | None = store.load(paths, name)
        except LxpyError:
            cfg = None
        # Whose layers it stood on (a --snapshot clone's origin): some may be needed no more.
        owners = layers.stood_on(paths, name)
        if cfg is not None and cfg.storage.pool:
            from lxpy.storage import btrfs

            btrfs.remove(paths, name, cfg.storage.pool)
        safefs.remove_tree(paths.container_dir(name))
        try:
            os.unlink(paths.config_cache(name))
        except FileNotFoundError:
            pass
        if cfg is not None and cfg.network:
            from lxpy.net import model
            from lxpy.net.hostsfile import HostsFile, best_effort

            model.forget(paths, name, cfg)  # its kept addresses go back to the pool
            with best_effort(name):
                HostsFile().forget(paths.instance, name)  # what a crash may have left there
        try:
            os.unlink(paths.lock_file(name))
        except FileNotFoundError:
            pass
    layers.prune_owners(paths, owners)
