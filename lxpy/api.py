"""The one core API. The CLI and the TUI are thin faces over this (and `fleets`, which orchestrates
it); none of them reads state itself.

The faces import nothing else from lxpy but `fleets`, `errors` and `units`: the types they show are
exported here too, those whose modules `lxpy ls` must not load on first use (PEP 562).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable

from lxpy import store
from lxpy.config import PRIVILEGED_WARNING as PRIVILEGED_WARNING
from lxpy.config import ContainerConfig, StorageKind
from lxpy.config import PortForward as PortForward
from lxpy.config import SharedFolder as SharedFolder
from lxpy.config.limits import LIMITS as LIMITS
from lxpy.config.tomlfile import Table as Table  # tui.toml is read as lxpy reads its own
from lxpy.config.tomlfile import TomlFile as TomlFile
from lxpy.errors import LxpyError, StateError
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.paths import Paths as Paths
from lxpy.records import Record, replace
from lxpy.runtime import lifecycle
from lxpy.runtime.rundir import CONTROL_SOCKET
from lxpy.runtime.state import State as State
from lxpy.runtime.state import not_running, read_live

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
# How often `wait` reads a container's state again.
WAIT_POLL_SECONDS = 0.05
# How long a disk count in the background waits for the container's lock to keep its figure.
COUNT_LOCK_WAIT = 10.0

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import IO, Any, NoReturn

    from lxpy.create import Created as Created
    from lxpy.create import Request as Request
    from lxpy.create import Resolved as Resolved
    from lxpy.host.check import Finding as Finding
    from lxpy.host.usage import HostUsage as HostUsage
    from lxpy.images.cache import Image as Image
    from lxpy.images.manifest import Template as Template
    from lxpy.images.package_layers import Layer as Layer
    from lxpy.images.plan import Plan as Plan
    from lxpy.images.progress import Progress as Progress
    from lxpy.images.progress import Silent as Silent
    from lxpy.images.progress import Terminal as Terminal
    from lxpy.images.provision import Status as ProvisionStatus
    from lxpy.linux.proc import ProcessRef
    from lxpy.runtime.launcher import Launcher as Launcher
    from lxpy.runtime.ssh import SshTarget as SshTarget
    from lxpy.runtime.stats import Stats as Stats
    from lxpy.storage.archive import Counted as Counted
    from lxpy.storage.pools import Usage as PoolUsage
    from lxpy.storage.snapshots import Snapshot as Snapshot
    from lxpy.storage.usage import Disk as Disk

# The exports above whose modules load only when a face first asks for one.
_LAZY = {
    "Created": "lxpy.create",
    "Request": "lxpy.create",
    "Resolved": "lxpy.create",
    "HostUsage": "lxpy.host.usage",
    "Finding": "lxpy.host.check",
    "Image": "lxpy.images.cache",
    "Layer": "lxpy.images.package_layers",
    "Template": "lxpy.images.manifest",
    "Plan": "lxpy.images.plan",
    "Progress": "lxpy.images.progress",
    "Silent": "lxpy.images.progress",
    "Terminal": "lxpy.images.progress",
    "Launcher": "lxpy.runtime.launcher",
    "SshTarget": "lxpy.runtime.ssh",
    "Stats": "lxpy.runtime.stats",
    "Counted": "lxpy.storage.archive",
    "Snapshot": "lxpy.storage.snapshots",
    "Disk": "lxpy.storage.usage",
}

# The resource limits a container takes (`--memory`, the TUI's form fields, limits.KEY);
# LIMITS has each one's flag, help, form label and placeholder.
LIMIT_KEYS: tuple[str, ...] = tuple(LIMITS)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


class ContainerInfo(Record):
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
    oom_kills: int | None = None  # processes killed for its memory limit, this run
    stats: Stats | None = None  # when asked for, and it runs
    disk: Disk | None = None  # running or not; None: no figure (never counted)

    def to_json(self, detailed: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "state": str(self.state),
            "pid": self.pid,
            "template": self.template,
            "created": self.created,
            "ipv4": list(self.ipv4),
            "uptime": None if self.uptime is None else round(self.uptime, 3),
            "disk": None if self.disk is None else self.disk.to_json(),
        }
        if self.stats is not None:
            data["stats"] = self.stats.to_json()
        if detailed:
            data["oom_kills"] = self.oom_kills
            data["rootfs"] = self.rootfs
            data["config"] = None if self.config is None else self.config.to_dict()
            # Spelled out: config.toml's strings leave 0.0.0.0 unsaid.
            data["ports"] = [
                {"address": p.address, "host_port": p.host_port, "port": p.port, "proto": p.proto}
                for p in (self.config.ports if self.config else ())
            ]
            if self.config_error:
                data["config_error"] = self.config_error
        return data

    def with_figures_of(self, listed: ContainerInfo) -> ContainerInfo:
        """This info (its config, its OOM kills) with the state and figures of a later
        listing (`ls` gives no config)."""
        return replace(
            self,
            state=listed.state,
            pid=listed.pid,
            uptime=listed.uptime,
            ipv4=listed.ipv4,
            stats=listed.stats,
            disk=listed.disk,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> ContainerInfo:
        """The info `to_json` gave, read back: another host's `ls` or `info -f json`.
        `where` names that host in a config's error, which leaves the config out as a local
        one that cannot be read would be."""
        from lxpy.config.file import from_dict
        from lxpy.runtime.stats import Stats
        from lxpy.storage.usage import Disk

        config, error = None, data.get("config_error")
        if data.get("config") is not None:
            try:
                config = from_dict(f"{where}: {data['name']}/config.toml", data["config"])
            except LxpyError as e:
                error = str(e)
        stats, disk = data.get("stats"), data.get("disk")
        return cls(
            name=data["name"],
            state=State(data["state"]),
            pid=data.get("pid"),
            template=data.get("template"),
            created=data.get("created"),
            uptime=data.get("uptime"),
            rootfs=data.get("rootfs", ""),
            config=config,
            config_error=error,
            ipv4=tuple(data.get("ipv4") or ()),
            oom_kills=data.get("oom_kills"),
            stats=None if stats is None else Stats.from_json(stats),
            disk=None if disk is None else Disk.from_json(disk),
        )


class NetworkInfo(Record):
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

    @classmethod
    def for_root(cls, root: str | None = None, launcher: Launcher | None = None) -> Api:
        """The API over the state kept under `root` (None: $LXPY_ROOT, else the system's)."""
        return cls(Paths.from_env(root), launcher)

    def command(self, args: Sequence[str]) -> list[str]:
        """`lxpy ARGS` on this root, run by this interpreter: what the TUI hands the terminal
        to, and the steps `lxpy up` runs as processes of their own."""
        root = self.paths.root
        return [sys.executable, "-m", "lxpy", *(["--root", root] if root else []), *args]

    def settings_file(self, file_name: str) -> str:
        """Where a settings file people edit lives (`tui.toml`): /etc/lxpy, or ROOT/etc."""
        return f"{self.paths.etc}/{file_name}"

    # -- checking what people type ----------------------------------------------------------
    @staticmethod
    def validate_name(name: str) -> str:
        """`name` if it can name a container, else InvalidName saying why."""
        from lxpy.names import validate

        return validate(name)

    @staticmethod
    def limits_from_text(given: Mapping[str, str], option: Callable[[str], str]) -> dict[str, Any]:
        """Limits typed as text (`--memory 2G`, a form's field), by LIMIT_KEYS key, as
        config values, each checked like config.toml's; `option` names a key the way the
        user gave it, for the error."""
        from lxpy.config.limits import limits_from_text

        return limits_from_text(given, option)

    @staticmethod
    def limit_warnings(limits: Mapping[str, object]) -> list[str]:
        """What to tell a person about valid limits (as limits_from_text returns them, or
        `config_get(name, "limits")`), like a memory limit above this host's memory."""
        from lxpy.config.limits import warnings

        return warnings(limits)

    @staticmethod
    def config_value(text: str) -> Any:
        """A value typed for `config set`: TOML (1.5, true, [..], "x") when it reads as
        that, else the text itself."""
        from lxpy.config.edit import parse_value

        return parse_value(text)

    # -- reading --------------------------------------------------------------------------
    def names(self) -> list[str]:
        return store.names_on_disk(self.paths)

    def info(
        self,
        name: str,
        with_stats: bool = False,
        refresh_disk: bool = False,
        earlier: Stats | None = None,
    ) -> ContainerInfo:
        """One container; `with_stats` adds its live figures if it runs (the CPU percent
        since `earlier`, a previous sample of it, when given). Its disk figure is read
        without a walk; with `refresh_disk`, it is counted again in the background (overlay and
        dir: a walk of its own layer, which can take seconds) for the next readers."""
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

            sample = stats.sample(self.paths, name, cfg, live.started).since(earlier)
        disk = None
        if cfg is not None:
            from lxpy.storage import usage

            disk = usage.read(self.paths, name, cfg)
            if refresh_disk and cfg.storage.kind != StorageKind.BTRFS:
                self._count_disk_later(name)
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
            rootfs=self._rootfs(name, cfg),
            config=cfg,
            config_error=error,
            ipv4=self._addresses(name, cfg) if cfg is not None and live.active else (),
            oom_kills=oom_kills,
            stats=sample,
            disk=disk,
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

    def template(self, name: str) -> Template:
        from lxpy.images import manifest

        return manifest.find(name)

    def host(self, earlier: HostUsage | None = None) -> HostUsage:
        """The host's CPU, memory and load now; with `earlier` (a previous sample), the CPU
        percent over the time between them."""
        from lxpy.host import usage

        return usage.sample(earlier)

    def check(self) -> list[Finding]:
        """What this host offers and what lxpy needs (`lxpy check`), idmapped mounts tried
        on the filesystem of the state dir and on tmpfs."""
        from lxpy.host import check

        return check.run(check.Host(probe=(self.paths.lib, "/dev/shm")))

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

    def _rootfs(self, name: str, cfg: ContainerConfig | None) -> str:
        if cfg is None or not cfg.storage.pool:
            return self.paths.rootfs(name)
        from lxpy.storage import pools  # only for a container in a pool

        pool = pools.load(self.paths, cfg.storage.pool)
        return f"{pools.mount_point(self.paths, pool)}/containers/{name}/rootfs"

    def containers(self, with_stats: bool = False) -> list[ContainerInfo]:
        return [self.info(name, with_stats) for name in self.names()]

    def stats(self, name: str, earlier: Stats | None = None) -> Stats | None:
        """Live figures of a running container (None when it does not run); with `earlier`
        (a previous sample), the CPU percent over the time between them."""
        from lxpy.runtime import stats

        live = read_live(self.paths, name)
        if not live.active:
            return None
        cfg = store.load(self.paths, name)
        return stats.sample(self.paths, name, cfg, live.started).since(earlier)

    def disk(self, name: str) -> Disk | None:
        """Its disk figure, read without a walk (see `info`)."""
        from lxpy.storage import usage

        return usage.read(self.paths, name, store.load(self.paths, name))

    # -- changing -------------------------------------------------------------------------
    def create(self, request: Request, progress: Progress | None = None) -> Created:
        from lxpy.create import create

        created = create(self.paths, request, progress)
        self._recounted(created.name)
        self._event(created.name, "created")
        return created

    def dry_run(self, request: Request) -> Resolved:
        """What `create` would make of `request`, checked against its template; nothing
        runs. Its `plan` (None for a template that bootstraps offline) names the image."""
        from lxpy.create import resolve

        return resolve(request)

    def bootstrap_command(self, plan: Plan) -> list[str]:
        """The exact command that bootstraps `plan`'s image into the cache."""
        target = f"{self.paths.images}/{plan.key}/.partial-XXXX/rootfs"
        return plan.command(target, self.paths.debs, plan.method)

    # -- networks -------------------------------------------------------------------------
    def networks(self) -> list[NetworkInfo]:
        from lxpy.net import model

        return [self.network(name) for name in model.names(self.paths)]

    def network(self, name: str) -> NetworkInfo:
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
            containers=model.containers_on(self.paths, name),
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

    def default_network(self) -> str:
        """The network of containers created without --network."""
        from lxpy.net import model

        return model.default_network(self.paths)

    def remove_network(self, name: str) -> None:
        from lxpy.net import networks

        networks.remove(self.paths, name, lambda c: read_live(self.paths, c).active)

    # -- storage pools --------------------------------------------------------------------
    def pools(self) -> list[PoolUsage]:
        from lxpy.storage import pools

        return pools.listing(self.paths)

    def pool(self, name: str) -> PoolUsage:
        from lxpy.storage import pools

        return pools.usage(self.paths, name)

    def pool_users(self, name: str) -> list[str]:
        from lxpy.storage import pools

        if name not in pools.BUILTIN:
            pool = pools.load(self.paths, name)
            pools.ensure_mounted(self.paths, pool)
            images = [f"image {ref}" for ref in pools.image_copies(self.paths, pool)]
            return pools.users(self.paths, pool) + images
        found = []
        for container in self.names():
            with contextlib.suppress(LxpyError):  # a config that cannot be read says nothing
                if pools.of(store.load(self.paths, container)) == name:
                    found.append(f"container {container}")
        return found

    def create_pool(
        self, name: str, size: str | None = None, source: str | None = None
    ) -> PoolUsage:
        from lxpy.storage import pools

        pools.create(self.paths, name, size, source)
        return pools.usage(self.paths, name)

    def remove_pool(self, name: str) -> None:
        from lxpy.storage import pools

        pools.remove(self.paths, name)

    def default_pool(self) -> str:
        """The pool of containers created without one."""
        from lxpy.config import settings

        return settings.default_pool(self.paths)

    def set_default_pool(self, name: str) -> None:
        from lxpy.storage import pools

        pools.set_default(self.paths, name)

    def move(self, name: str, pool: str) -> ContainerConfig:
        """Move the stopped container `name`, with its snapshots, into the pool `pool`."""
        from lxpy.runtime import hold
        from lxpy.storage import move

        moved = move.move(self.paths, hold, name, pool)
        self._recounted(name)  # its own bytes are another tree's now
        return moved

    # -- config ---------------------------------------------------------------------------
    def config_text(self, name: str) -> str:
        store.require(self.paths, name)
        with open(self.paths.config_file(name)) as f:
            return f.read()

    def config_get(self, name: str, key: str) -> Any:
        from lxpy.config import edit

        return edit.get(store.load(self.paths, name), key)

    def config_set(self, name: str, key: str, value: Any) -> bool:
        """Set (value None: unset) a dotted key; limits apply live. True when other changes
        wait for the next start."""
        from lxpy.config import edit
        from lxpy.runtime import limits

        store.require(self.paths, name)
        with store.locked(self.paths, name):
            old = store.load(self.paths, name)
            new = edit.changed(old, key, value, self.paths.config_file(name))
            return limits.apply(self.paths, name, old, new)

    def config_edit(self, name: str) -> bool:
        from lxpy.config import edit
        from lxpy.runtime import limits

        store.require(self.paths, name)
        with store.locked(self.paths, name, timeout=3600):
            old = store.load(self.paths, name)
            return limits.apply(self.paths, name, old, edit.in_editor(self.paths, name))

    # -- port forwards ---------------------------------------------------------------------
    def port_add(self, name: str, text: str) -> PortForward:
        """Forward a host port ([ADDR:]HOSTPORT:PORT[/tcp|/udp]; without ADDR, 127.0.0.1 on
        a dev box, else 0.0.0.0): at once if it runs, and from its next start on. A port
        taken on that address is refused and nothing is saved."""
        from lxpy.runtime import ports

        return ports.add(self.paths, name, text)

    def port_rm(self, name: str, key: str) -> None:
        """Stop forwarding [ADDR:]HOSTPORT[/proto] (or the whole forward)."""
        from lxpy.runtime import ports

        ports.remove(self.paths, name, key)

    # -- images ---------------------------------------------------------------------------
    def images(self) -> list[tuple[Image | Layer, list[str]]]:
        """Every cached image build, each followed by its package layers, with the
        containers standing on it."""
        from lxpy.images import cache, package_layers

        used = cache.containers_by_image(self.paths)
        found: list[tuple[Image | Layer, list[str]]] = []
        for image in cache.images(self.paths):
            items: list[Image | Layer] = [image, *package_layers.layers(image)]
            found.extend((item, sorted(used.get(item.ref, []))) for item in items)
        return found

    def remove_image(self, selector: str) -> list[Image | Layer]:
        """Remove a key's builds, a build or a package layer (KEY[/BUILD[/LAYER]]), with the
        layers over what goes."""
        from lxpy.images import cache

        return cache.remove(self.paths, selector)

    def refresh_images(self, keys: list[str], progress: Progress) -> list[Image | Layer]:
        """Bootstrap a new build of each image key (all when none are given) and the package
        layers its newest build had; older builds go once no container uses them."""
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

    def wait(self, name: str, states: set[State], timeout: float | None = None) -> State:
        """Return the container's state once it is one of `states` (like lxc-wait); a
        StateError naming the state it is in when `timeout` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            store.require(self.paths, name)  # destroyed meanwhile: NotFound, not a hang
            state = read_live(self.paths, name).state
            if state in states:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                wanted = " or ".join(sorted(states))
                raise StateError(
                    f"container {name!r} is {state}, not {wanted}, after {timeout:g} s",
                    hint=f"a longer --timeout, or `lxpy console {name} --log` for why",
                )
            # Run-dir records change with no event to wait on: read them again shortly.
            left = WAIT_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(WAIT_POLL_SECONDS, left)))

    def freeze(self, name: str) -> None:
        """Stop every process of the container in place (the cgroup freezer); `unfreeze`
        lets them go on, and `stop` works on a frozen container too."""
        from lxpy.runtime import hold

        hold.freeze(self.paths, name)
        self._event(name, "frozen")

    def unfreeze(self, name: str) -> None:
        from lxpy.runtime import hold

        hold.unfreeze(self.paths, name)
        self._event(name, "thawed")

    def destroy(self, name: str, force: bool = False) -> None:
        lifecycle.destroy(self.paths, name, force)
        self._event(name, "destroyed")

    def events(self, gone: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
        """The root's events from now on, as they come (see lxpy.runtime.events); ends
        only once `gone()` holds (None: never; the caller stops reading)."""
        import json

        from lxpy.runtime import events

        self.paths.ensure()
        for line in events.follow(self.paths.run, gone=gone):
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a line cut by a full disk: the next one stands alone

    def _event(self, name: str, kind: str, detail: str = "") -> None:
        from lxpy.runtime import events

        events.emit(self.paths.run, name, kind, detail)

    # -- inside ---------------------------------------------------------------------------
    def attach(
        self,
        name: str,
        command: list[str] | None = None,
        user: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        """Run `command` (None: a login shell) in the container as `user` (None: root, or
        the container's own user where `[user] default` says so)."""
        from lxpy.runtime.attach import AttachRequest, attach

        cfg = store.load(self.paths, name)
        security = cfg.security
        if user is None and cfg.user.default:
            user = cfg.user.name
        request = AttachRequest(
            command=tuple(command or ()),
            user=user,
            env=tuple((env or {}).items()),
            cwd=cwd,
            privileged=security.privileged,
            allow=security.allow,
        )
        init = self._attachable(name)
        return attach(init, ContainerCgroups(self.paths.instance, name), request)

    def provisioning(self, name: str) -> ProvisionStatus | None:
        """How its `--cloud-init` user-data and `--provision` scripts went, read from inside
        (None: it has neither)."""
        if not store.load(self.paths, name).provision:
            return None
        from lxpy.images import provision
        from lxpy.runtime.files import container_root

        with container_root(self.paths, name) as root:
            return provision.status(root)

    def login_user(self, name: str) -> str:
        """Whom `lxpy shell` logs in as: the container's own user, else root."""
        return store.load(self.paths, name).user.name or "root"

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

    def ssh_target(self, name: str) -> SshTarget | None:
        """How ssh reaches `name`: None unless it runs with a NIC and sshd."""
        cfg = store.load(self.paths, name)
        if not read_live(self.paths, name).active:
            return None
        from lxpy.runtime import ssh

        return ssh.target(self.paths, name, cfg)

    def ssh_targets(self) -> list[SshTarget]:
        """Every running container with its own user and sshd (`lxpy ssh-config`)."""
        found = []
        for name in self.names():
            try:
                target = self.ssh_target(name)
            except LxpyError:
                continue  # a broken config or a missing image: no ssh to it to offer
            if target is not None and target.user != "root":
                found.append(target)
        return found

    def ssh(self, name: str, user: str | None, cmd: list[str]) -> NoReturn:
        """Replace this process with ssh to `name`, as `user` (default: its own, else root),
        run as the host user whose keys it holds (see runtime.ssh)."""
        from lxpy.runtime import ssh

        target = self.ssh_target(name)
        if target is None:
            self._attachable(name)  # not running, or frozen: that error
            raise StateError(
                f"{name} has no sshd, or no network",
                hint=f"`lxpy shell {name}` gets in without ssh; `create --ssh` installs it",
            )
        ssh.exec_as_owner(target.argv(user or target.user, cmd), self.login_user(name))

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

        made = clone.clone(self.paths, hold, source, target, snapshot)
        self._recounted(target, *([source] if snapshot else []))
        self._event(target, "created")
        return made

    def rename(self, old: str, new: str) -> None:
        from lxpy.runtime import hold
        from lxpy.storage import clone

        clone.rename(self.paths, hold, old, new)

    def snapshot(self, name: str, snap: str | None = None) -> Snapshot:
        from lxpy.runtime import hold
        from lxpy.storage import snapshots

        taken = snapshots.take(self.paths, hold, name, snap)
        self._recounted(name)
        self._event(name, "snapshot", taken.name)
        return taken

    def snapshots(self, name: str) -> list[Snapshot]:
        from lxpy.storage import snapshots

        return snapshots.listing(self.paths, name)

    def snapshot_size(self, name: str, snap: str) -> int | None:
        """The bytes the snapshot alone holds (what removing it frees), read without a walk;
        None where nothing counts them: only a btrfs pool's quota groups do."""
        from lxpy.storage import snapshots

        return snapshots.size(self.paths, name, snap)

    def restore(self, name: str, snap: str) -> None:
        from lxpy.runtime import hold
        from lxpy.storage import snapshots

        snapshots.restore(self.paths, hold, name, snap)
        self._recounted(name)

    def count_disk(self, name: str) -> None:
        """Count its disk figure now (overlay and dir: a walk of its own layer) and keep it;
        a btrfs pool's quota group counts without one."""
        from lxpy.storage import usage

        usage.refresh(self.paths, name, wait=COUNT_LOCK_WAIT)

    def _count_disk_later(self, name: str) -> None:
        """`lxpy count-disk NAME` as a process of its own, detached: spawned, not forked,
        since the TUI's threads make a fork unsafe; the caller never waits for it."""
        argv = self.command(["count-disk", name])
        null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        os.posix_spawn(argv[0], argv, os.environ, file_actions=null, setsid=True)

    def _recounted(self, *names: str) -> None:
        """Their disk figures counted again: their own layers just changed (a snapshot
        moves a container's changes into a sealed layer, a clone's are new)."""
        from lxpy.storage import usage

        for name in names:
            usage.refresh(self.paths, name)

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
        self,
        path: str,
        name: str | None = None,
        progress: Callable[[int], None] = print,
        pool: str | None = None,
    ) -> tuple[str, Counted]:
        """A new container from an export (named as in it, or `name`), in the pool `pool`
        (None: the default pool if one is set, else a plain tree)."""
        from lxpy.config import settings
        from lxpy.storage import archive, pools

        pool = pool or settings.default_pool(self.paths, unset=archive.LANDS_IN)
        if pool not in pools.BUILTIN:
            pools.load(self.paths, pool)  # refused before the archive is read
        imported, counted = archive.import_(self.paths, path, name, progress)
        if pool != archive.LANDS_IN:
            try:
                self.move(imported, pool)
            except BaseException:
                self.destroy(imported, force=True)
                raise
        else:
            self._recounted(imported)
        self._event(imported, "created")
        return imported, counted

    def mount_add(self, name: str, source: str, path: str, readonly: bool = False) -> SharedFolder:
        """Share the host folder `source` at `path` inside: saved in config.toml, and mounted
        at once if the container runs."""
        from lxpy.runtime import mounts

        return mounts.add(self.paths, name, source, path, readonly)

    def mount_rm(self, name: str, path: str) -> None:
        from lxpy.runtime import mounts

        mounts.remove(self.paths, name, path)

    def shared_folders(self, name: str) -> list[tuple[SharedFolder, bool]]:
        """Each shared folder, and whether it is mounted inside now."""
        from lxpy.runtime import mounts

        return mounts.listing(self.paths, name)

    def file_push(
        self,
        name: str,
        source: str | IO[bytes],
        dest: str,
        recursive: bool = False,
        uid: int = 0,
        gid: int = 0,
        mode: int | None = None,
        parents: bool = False,
    ) -> int:
        """Copy a host file (or tree) into the container, running or not; the container's
        side is resolved inside it (with `parents`, its missing directories are made).
        `source` may be a tar stream of one file or tree (lxpy/remote/transfer), unpacked
        into a private directory first. Returns how many files and links were copied."""
        from lxpy.runtime import files

        if not isinstance(source, str):
            with self._unpacked(source) as entry:
                return self.file_push(name, entry, dest, recursive, uid, gid, mode, parents)
        with files.container_root(self.paths, name) as root:
            owner = files.Owner(uid, gid, mode)
            return files.push(root, source, dest, recursive, owner, parents)

    @contextlib.contextmanager
    def _unpacked(self, stream: IO[bytes]) -> Iterator[str]:
        """The path of the one entry of a tar stream, unpacked in a private directory."""
        import tempfile

        from lxpy.remote import transfer

        self.paths.ensure()
        with tempfile.TemporaryDirectory(dir=self.paths.cache) as scratch:
            fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                top = transfer.receive(stream, fd)
            finally:
                os.close(fd)
            yield f"{scratch}/{top}"

    def file_pull(self, name: str, source: str, dest: str, recursive: bool = False) -> int:
        from lxpy.runtime import files

        with files.container_root(self.paths, name) as root:
            return files.pull(root.fd, source, dest, recursive)

    def file_pull_stream(
        self, name: str, source: str, out: IO[bytes], recursive: bool = False
    ) -> int:
        """file_pull, written to `out` as a tar stream: a file straight from inside, a tree
        by way of a private copy."""
        import tempfile

        from lxpy.remote import transfer
        from lxpy.runtime import files

        with files.container_root(self.paths, name) as root:
            fd = files.open_inside(root.fd, source)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    transfer.send_open_file(fd, os.path.basename(source.rstrip("/")), out)
                    return 1
            finally:
                os.close(fd)
        self.paths.ensure()
        with tempfile.TemporaryDirectory(dir=self.paths.cache) as scratch:
            count = self.file_pull(name, source, scratch, recursive)
            (entry,) = os.listdir(scratch)
            transfer.send(f"{scratch}/{entry}", entry, out)
        return count

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
