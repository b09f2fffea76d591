"""The one core API. The CLI and the TUI are thin faces over this; neither reads state itself."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from lxpy import store
from lxpy.config import ContainerConfig
from lxpy.errors import LxpyError, StateError, UsageError
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.paths import Paths
from lxpy.runtime import lifecycle
from lxpy.runtime.rundir import CONTROL_SOCKET
from lxpy.runtime.state import State, not_running, read_live

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lxpy.config import PortForward, SharedFolder
    from lxpy.create import Created, Request
    from lxpy.images.cache import Image
    from lxpy.images.manifest import Template
    from lxpy.images.progress import Progress
    from lxpy.linux.proc import ProcessRef
    from lxpy.runtime.control import Request as ControlRequest
    from lxpy.runtime.launcher import Launcher
    from lxpy.runtime.stats import Stats
    from lxpy.storage.archive import Counted
    from lxpy.storage.snapshots import Snapshot


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    state: State
    pid: int | None
    template: str | None
    created: str | None
    uptime: float | None
    rootfs: str
    config: ContainerConfig | None
    config_error: str | None = None
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    oom_kills: int | None = None  # processes killed for its memory limit, this run
    stats: Stats | None = None  # when asked for, and it runs

    def to_json(self, detailed: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "state": str(self.state),
            "pid": self.pid,
            "template": self.template,
            "created": self.created,
            "ipv4": list(self.ipv4),
            "ipv6": list(self.ipv6),
        }
        if self.stats is not None:
            data["stats"] = self.stats.to_json()
        if detailed:
            data["oom_kills"] = self.oom_kills
            data["uptime"] = None if self.uptime is None else round(self.uptime, 3)
            data["rootfs"] = self.rootfs
            data["config"] = None if self.config is None else self.config.to_dict()
            if self.config_error:
                data["config_error"] = self.config_error
        return data


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    subnet: str
    gateway: str
    domain: str
    up: bool
    containers: list[str]
    # (container, address, mac, lease): every kept address, and its DHCP lease if it has one.
    leases: list[tuple[str, str, str, str]]


class Api:
    def __init__(self, paths: Paths, launcher: Launcher | None = None) -> None:
        self.paths = paths
        self.launcher = launcher

    # -- reading --------------------------------------------------------------------------
    def names(self) -> list[str]:
        return store.names_on_disk(self.paths)

    def info(
        self,
        name: str,
        with_stats: bool = False,
        disk: bool = True,
        earlier: Stats | None = None,
    ) -> ContainerInfo:
        """One container; `with_stats` adds its live figures if it runs (the disk use of its
        own layer too, unless not `disk`; the CPU percent since `earlier`, a previous
        sample of it, when given)."""
        store.require(self.paths, name)
        cfg: ContainerConfig | None = None
        error = None
        try:
            cfg = store.load(self.paths, name)
        except LxpyError as e:
            error = str(e)
        live = read_live(self.paths, name)
        uptime = None if live.started is None else max(0.0, time.time() - live.started)
        sample = None
        if with_stats and live.active and cfg is not None:
            from lxpy.runtime import stats

            sample = stats.sample(self.paths, name, cfg, live.started, disk).since(earlier)
        oom_kills = None
        if sample is not None:
            oom_kills = sample.oom_kills
        elif live.active:
            oom_kills = ContainerCgroups(self.paths.instance, name).oom_kills()
        return ContainerInfo(
            name=name,
            state=live.state,
            pid=live.init.pid if live.init else None,
            template=cfg.template if cfg else None,
            created=cfg.created if cfg else None,
            uptime=uptime,
            rootfs=self.paths.rootfs(name),
            config=cfg,
            config_error=error,
            ipv4=self._addresses(name, cfg) if cfg is not None and live.active else (),
            oom_kills=oom_kills,
            stats=sample,
        )

    def _addresses(self, name: str, cfg: ContainerConfig) -> tuple[str, ...]:
        """Its addresses now: those published for it in its networks' DNS while it runs."""
        if not cfg.network:
            return ()
        from lxpy.net import dnsmasq

        found: list[str] = []
        for nic in cfg.network:
            found += dnsmasq.published_addresses(f"{self.paths.run}/networks/{nic.network}", name)
        return tuple(found)

    def new_name(self) -> str:
        """A readable name no container has, for a create that was given none."""
        from lxpy.names import generate

        return generate(set(self.names()))

    def templates(self) -> list[Template]:
        from lxpy.images import manifest

        return [manifest.load(name, where) for name, where in manifest.available().items()]

    def autostart_plan(self, everything: bool = False) -> list[tuple[str, float]]:
        """(name, seconds to wait after starting it) of each autostart container (of every
        container with `everything`), in start order: `autostart_order`, then the name. A
        container whose config cannot be read is left out: `ls` shows why."""
        found = []
        for name in self.names():
            try:
                cfg = store.load(self.paths, name)
            except LxpyError:
                continue
            if cfg.autostart or everything:
                found.append((cfg.autostart_order, name, cfg.autostart_delay))
        return [(name, delay) for _, name, delay in sorted(found)]

    def containers(self, with_stats: bool = False) -> list[ContainerInfo]:
        return [self.info(name, with_stats) for name in self.names()]

    def stats(self, name: str, disk: bool = False, earlier: Stats | None = None) -> Stats | None:
        """Live figures of a running container (None when it does not run); with `earlier`
        (a previous sample), the CPU percent over the time between them."""
        from lxpy.runtime import stats

        live = read_live(self.paths, name)
        if not live.active:
            return None
        cfg = store.load(self.paths, name)
        return stats.sample(self.paths, name, cfg, live.started, disk).since(earlier)

    # -- changing -------------------------------------------------------------------------
    def create(self, request: Request, progress: Progress | None = None) -> Created:
        from lxpy.create import create

        return create(self.paths, request, progress)

    # -- networks -------------------------------------------------------------------------
    def networks(self) -> list[NetworkInfo]:
        from lxpy.net import model

        return [self.network(name) for name in model.names(self.paths)]

    def network(self, name: str) -> NetworkInfo:
        import os

        from lxpy.net import dnsmasq, model

        net = model.load(self.paths, name)
        run = model.run_dir(self.paths, name)
        leased = {address: mac for mac, address, _ in dnsmasq.leases(run)}
        kept = model.kept_addresses(self.paths, name)
        return NetworkInfo(
            name=net.name,
            subnet=net.subnet,
            gateway=net.gateway,
            domain=net.domain,
            up=os.path.exists(f"/sys/class/net/{name}") and dnsmasq.running(run) is not None,
            containers=model.users(self.paths, name),
            leases=[
                (c, a, leased.get(a, "-"), "leased" if a in leased else "-")
                for c, a in sorted(kept.items())
            ],
        )

    def create_network(
        self, name: str, subnet: str | None = None, domain: str | None = None
    ) -> NetworkInfo:
        from lxpy.net import networks

        networks.create(self.paths, name, subnet, domain)
        return self.network(name)

    def remove_network(self, name: str) -> None:
        from lxpy.net import networks

        networks.remove(self.paths, name, lambda c: read_live(self.paths, c).active)

    # -- config ---------------------------------------------------------------------------
    def config_text(self, name: str) -> str:
        store.require(self.paths, name)
        with open(self.paths.config_file(name)) as f:
            return f.read()

    def config_get(self, name: str, key: str) -> Any:
        from lxpy import configedit

        return configedit.get(store.load(self.paths, name), key)

    def config_set(self, name: str, key: str, value: Any) -> bool:
        """Set (value None: unset) a dotted key; limits apply live. True when other changes
        wait for the next start."""
        from lxpy import configedit

        store.require(self.paths, name)
        with store.locked(self.paths, name):
            old = store.load(self.paths, name)
            new = configedit.changed(old, key, value, self.paths.config_file(name))
            return configedit.apply(self.paths, name, old, new)

    def config_edit(self, name: str) -> bool:
        from lxpy import configedit

        store.require(self.paths, name)
        with store.locked(self.paths, name, timeout=3600):
            old = store.load(self.paths, name)
            return configedit.apply(self.paths, name, old, configedit.edit(self.paths, name))

    # -- port forwards ---------------------------------------------------------------------
    def port_add(self, name: str, text: str) -> PortForward:
        """Forward a host port (HOSTPORT:PORT[/tcp|/udp]): at once if it runs, and from its
        next start on. A taken host port is refused and nothing is saved."""
        from lxpy.config import PortForward

        try:
            forward = PortForward.parse(text)
        except ValueError as e:
            raise UsageError(str(e)) from None
        store.require(self.paths, name)
        with store.locked(self.paths, name):
            cfg = store.load(self.paths, name)
            if any(p.key == forward.key for p in cfg.ports):
                raise UsageError(f"{name} already forwards host port {forward.key}")
            if not cfg.network:
                raise UsageError(f"{name} has no NIC to forward to")
            if read_live(self.paths, name).active:
                self._ask(name, lifecycle.forward_to(self.paths, name, cfg, forward))
            store.save(self.paths, name, cfg.with_changes(ports=(*cfg.ports, forward)))
        return forward

    def port_rm(self, name: str, key: str) -> None:
        """Stop forwarding HOSTPORT[/proto] (or the whole HOSTPORT:PORT[/proto])."""
        from lxpy.config import PortForward
        from lxpy.runtime.control import PortRemove

        if ":" in key:
            try:
                key = PortForward.parse(key).key
            except ValueError as e:
                raise UsageError(str(e)) from None
        key = key if "/" in key else f"{key}/tcp"
        store.require(self.paths, name)
        with store.locked(self.paths, name):
            cfg = store.load(self.paths, name)
            kept = tuple(p for p in cfg.ports if p.key != key)
            if len(kept) == len(cfg.ports):
                raise UsageError(f"{name} does not forward host port {key}")
            if read_live(self.paths, name).active:
                self._ask(name, PortRemove(key))
            store.save(self.paths, name, cfg.with_changes(ports=kept))

    def _ask(self, name: str, request: ControlRequest) -> None:
        from lxpy.runtime import control

        try:
            reply = control.ask(f"{self.paths.run_dir(name)}/{CONTROL_SOCKET}", request)
        except OSError as e:
            raise StateError(f"{name}'s monitor did not answer: {e.strerror}") from None
        error = control.Reply.decode(reply).error
        if error is not None:
            raise StateError(f"{name}: {error}")

    # -- images ---------------------------------------------------------------------------
    def images(self) -> list[tuple[Image, list[str]]]:
        """Every cached image build with the containers standing on it."""
        from lxpy.images import cache

        used = cache.users(self.paths)
        return [(i, sorted(used.get(i.ref, []))) for i in cache.images(self.paths)]

    def remove_image(self, selector: str) -> list[Image]:
        from lxpy.images import cache

        return cache.remove(self.paths, selector)

    def refresh_images(self, keys: list[str], progress: Progress) -> list[Image]:
        """Bootstrap a new build of each image key (all when none are given); older builds
        go once no container uses them."""
        from lxpy.images import cache

        return cache.refresh(self.paths, keys, progress)

    def start(self, name: str, wait: float = lifecycle.BOOT_WAIT_SECONDS) -> tuple[int, bool]:
        """Start; with `wait`, also wait up to that long for an init that reports its boot
        (systemd) to finish it. Returns init's pid and whether the boot is known finished."""
        pid = lifecycle.start(self.paths, name, self.launcher)
        return pid, lifecycle.wait_booted(self.paths, name, wait) if wait > 0 else False

    def stop(
        self, name: str, timeout: float = lifecycle.DEFAULT_STOP_TIMEOUT, force: bool = False
    ) -> None:
        lifecycle.stop(self.paths, name, timeout, force)

    def restart(self, name: str, timeout: float = lifecycle.DEFAULT_STOP_TIMEOUT) -> int:
        if read_live(self.paths, name).active:
            lifecycle.stop(self.paths, name, timeout)
        return self.start(name)[0]

    def freeze(self, name: str) -> None:
        """Stop every process of the container in place (the cgroup freezer); `unfreeze`
        lets them go on, and `stop` works on a frozen container too."""
        store.require(self.paths, name)
        with store.locked(self.paths, name):
            live = read_live(self.paths, name)
            if live.state is State.FROZEN:
                raise StateError(f"container {name!r} is already frozen")
            if not live.active:
                raise not_running(name)
            cgroups = ContainerCgroups(self.paths.instance, name)
            if not cgroups.freeze(wait=10.0):
                cgroups.thaw()
                raise StateError(
                    f"container {name!r} did not freeze within 10 s",
                    hint="a process in uninterruptible sleep (I/O) holds it up; try again",
                )

    def unfreeze(self, name: str) -> None:
        store.require(self.paths, name)
        with store.locked(self.paths, name):
            if read_live(self.paths, name).state is not State.FROZEN:
                raise StateError(f"container {name!r} is not frozen")
            ContainerCgroups(self.paths.instance, name).thaw()

    def destroy(self, name: str, force: bool = False) -> None:
        lifecycle.destroy(self.paths, name, force)

    # -- inside ---------------------------------------------------------------------------
    def attach(
        self,
        name: str,
        command: list[str] | None = None,
        user: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        from lxpy.runtime.attach import AttachRequest, attach

        request = AttachRequest(
            command=tuple(command or ()),
            user=user,
            env=tuple((env or {}).items()),
            cwd=cwd,
        )
        init = self._attachable(name)
        return attach(init, ContainerCgroups(self.paths.instance, name), request)

    def shell(self, name: str, user: str | None = None) -> str:
        """The login shell `attach` would start, looked up from the host: the TUI hands the
        terminal over only when there is one."""
        from lxpy.runtime.attach import NO_SHELL, shell_in

        found = shell_in(self._attachable(name), user)
        if found is None:
            raise StateError(
                f"{name}: {NO_SHELL}", hint=f"`lxpy attach {name} -- CMD` needs no shell"
            )
        return found

    def _attachable(self, name: str) -> ProcessRef:
        store.require(self.paths, name)
        live = read_live(self.paths, name)
        if live.init is None:
            raise not_running(name)
        if live.state is State.FROZEN:
            raise StateError(f"container {name!r} is frozen", hint=f"`lxpy unfreeze {name}`")
        return live.init

    def clone(self, source: str, target: str, snapshot: bool = False) -> ContainerConfig:
        """A new machine from `source`; with `snapshot`, standing on a sealed layer of it."""
        from lxpy.runtime import hold
        from lxpy.storage import clone

        return clone.clone(self.paths, hold, source, target, snapshot)

    def rename(self, old: str, new: str) -> None:
        from lxpy.runtime import hold
        from lxpy.storage import clone

        clone.rename(self.paths, hold, old, new)

    def snapshot(self, name: str, snap: str | None = None) -> Snapshot:
        from lxpy.runtime import hold
        from lxpy.storage import snapshots

        return snapshots.take(self.paths, hold, name, snap)

    def snapshots(self, name: str) -> list[Snapshot]:
        from lxpy.storage import snapshots

        return snapshots.listing(self.paths, name)

    def restore(self, name: str, snap: str) -> None:
        from lxpy.runtime import hold
        from lxpy.storage import snapshots

        snapshots.restore(self.paths, hold, name, snap)

    def remove_snapshot(self, name: str, snap: str) -> None:
        from lxpy.storage import snapshots

        snapshots.remove(self.paths, name, snap)

    def export(
        self, name: str, path: str, snapshots: bool = False, progress: Callable[[int], None] = print
    ) -> Counted:
        """Write the container (and with `snapshots`, its snapshots) to one archive; a
        running container is paused while its files are read."""
        from lxpy.runtime import hold
        from lxpy.storage import archive

        return archive.export(self.paths, hold, name, path, snapshots, progress)

    def import_(
        self, path: str, name: str | None = None, progress: Callable[[int], None] = print
    ) -> tuple[str, Counted]:
        """A new container from an export (named as in it, or `name`)."""
        from lxpy.storage import archive

        return archive.import_(self.paths, path, name, progress)

    def mount_add(self, name: str, source: str, path: str, readonly: bool = False) -> SharedFolder:
        """Share the host folder `source` at `path` inside: saved in config.toml, and mounted
        at once if the container runs."""
        from lxpy.config import SharedFolder, check_mount_path
        from lxpy.runtime import mounts

        source = os.path.abspath(source)
        if not os.path.isdir(source):
            raise UsageError(f"{source}: not a directory on the host")
        problem = check_mount_path(path)
        if problem:
            raise UsageError(f"{path}: {problem}")
        folder = SharedFolder(source, "/" + "/".join(p for p in path.split("/") if p), readonly)
        store.require(self.paths, name)
        with store.locked(self.paths, name):
            cfg = store.load(self.paths, name)
            if any(m.path == folder.path for m in cfg.mounts):
                raise UsageError(f"{name} shares a folder at {folder.path} already")
            live = read_live(self.paths, name)
            if live.init is not None:
                mounts.attach(live.init, folder)
            store.save(self.paths, name, cfg.with_changes(mounts=(*cfg.mounts, folder)))
        return folder

    def mount_rm(self, name: str, path: str) -> None:
        from lxpy.runtime import mounts

        store.require(self.paths, name)
        with store.locked(self.paths, name):
            cfg = store.load(self.paths, name)
            wanted = "/" + "/".join(p for p in path.split("/") if p)
            kept = tuple(m for m in cfg.mounts if m.path != wanted)
            if len(kept) == len(cfg.mounts):
                raise UsageError(
                    f"{name} shares no folder at {wanted}", hint=f"`lxpy mount ls {name}`"
                )
            live = read_live(self.paths, name)
            if live.init is not None:
                mounts.detach(live.init, wanted)
            store.save(self.paths, name, cfg.with_changes(mounts=kept))

    def shared_folders(self, name: str) -> list[tuple[SharedFolder, bool]]:
        """Each shared folder, and whether it is mounted inside now."""
        from lxpy.runtime import mounts

        cfg = store.load(self.paths, name)
        live = read_live(self.paths, name)
        return [
            (m, live.init is not None and mounts.mounted(live.init, m.path)) for m in cfg.mounts
        ]

    def file_push(
        self,
        name: str,
        source: str,
        dest: str,
        recursive: bool = False,
        uid: int = 0,
        gid: int = 0,
        mode: int | None = None,
    ) -> int:
        """Copy a host file (or tree) into the container, running or not; the container's
        side is resolved inside it. Returns how many files and links were copied."""
        from lxpy.runtime import files

        with files.container_root(self.paths, name) as root:
            return files.push(root, source, dest, recursive, files.Owner(uid, gid, mode))

    def file_pull(self, name: str, source: str, dest: str, recursive: bool = False) -> int:
        from lxpy.runtime import files

        with files.container_root(self.paths, name) as root:
            return files.pull(root, source, dest, recursive)

    def console_socket(self, name: str) -> str:
        """The control socket of a running container's monitor (its console is there)."""
        store.require(self.paths, name)
        live = read_live(self.paths, name)
        if not live.active:
            raise not_running(name)
        if live.monitor is None:
            raise StateError(
                f"the console of {name!r} is gone: its monitor was killed",
                hint="attach and stop still work; a restart brings the console back",
            )
        return f"{self.paths.run_dir(name)}/{CONTROL_SOCKET}"

    def console_log(self, name: str) -> bytes:
        """The console ring buffer of a running container, or the log of a stopped one."""
        from lxpy.runtime.console import read_log, read_log_file

        store.require(self.paths, name)
        if not read_live(self.paths, name).active:
            return read_log_file(self.paths.console_log(name))
        return read_log(self.console_socket(name))

    def console(self, name: str) -> None:
        from lxpy.runtime.console import interact

        interact(self.console_socket(name))
