"""`lxpy create`: a template, its parameters and a bootstrap become a new container.

Debian-style templates bootstrap once into the image cache; each container is then an
overlay on that image (or a full copy with storage "dir"), plus the template's rendered
files. Built in a hidden partial directory and renamed into place when complete, so an
interrupted create never shows up as a container and the next create cleans it up.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxpy import config, names, store
from lxpy.config import (
    ContainerConfig,
    InitConfig,
    Limits,
    Nic,
    PortForward,
    Security,
    Storage,
    StorageKind,
    User,
    settings,
)
from lxpy.config.model import clash
from lxpy.config.schema import check_ipv4
from lxpy.errors import UnsafePath, UsageError
from lxpy.images import (
    busybox,
    cache,
    cloudinit,
    manifest,
    package_layers,
    provision,
    render,
    users,
)
from lxpy.images.manifest import InitRecipe, Template, Value
from lxpy.images.package_layers import Layer
from lxpy.images.plan import BUILTIN_LOCALES, Plan, host_arch
from lxpy.images.progress import Progress, Silent
from lxpy.linux import safefs
from lxpy.paths import Paths
from lxpy.storage import btrfs, overlay, pools, quota, secrets
from lxpy.storage.trees import copy_tree

SSH_PACKAGE = "openssh-server"


@dataclass(frozen=True)
class Request:
    template: str
    name: str | None = None
    # Parameter values as text, the way `--set key=value` gives them.
    parameters: Mapping[str, str] = field(default_factory=dict)
    storage: str | None = None  # a pool's name; None: the default pool (config.settings)
    # (network, pinned address) per NIC, eth0 first; None: one NIC on the default network.
    nics: tuple[tuple[str, str], ...] | None = None
    limits: Mapping[str, Any] = field(default_factory=dict)  # checked values, by Limits key
    privileged: bool = False  # container root is host root (see config.Security)
    # Where the store cannot be idmapped, a copy of the image whose ids are shifted into the
    # container's range at its first start (see storage.shift).
    allow_shift: bool = False
    provision: tuple[str, ...] = ()  # host paths of scripts run inside at the first boot
    ports: tuple[str, ...] = ()  # forwards as `port add` takes them, relayed from its start
    ssh: bool = False  # openssh-server goes in with the packages: `lxpy ssh` gets in
    cloud_init: str | None = None  # host path of cloud-init user-data (sets `cloud`)


@dataclass(frozen=True)
class Created:
    name: str
    image: str | None
    seconds: float
    user: users.DevUser | None


@dataclass(frozen=True)
class Resolved:
    """A request checked against its template: everything a create needs, nothing run yet."""

    template: Template
    values: dict[str, Value]
    init: InitRecipe
    plan: Plan | None  # None: the template bootstraps without the image cache (busybox)
    # The `packages` parameter's, sets expanded, sorted: a package layer over the image.
    packages: tuple[str, ...] = ()


def resolve(request: Request) -> Resolved:
    template = manifest.find(request.template)
    parsed: dict[str, Value] = {}
    for key, text in request.parameters.items():
        param = template.parameters.get(key)
        if param is None:
            raise UsageError(
                f"template {template.name} has no parameter {key!r}",
                hint=f"its parameters: {', '.join(template.parameters) or 'none'}",
            )
        parsed[key] = param.parse(text)
    if request.ssh:
        if "packages" not in template.parameters:
            raise UsageError(
                f"template {template.name} cannot install openssh-server", hint="--no-ssh"
            )
        extra = parsed.get("packages")
        parsed["packages"] = [*(extra if isinstance(extra, list) else []), SSH_PACKAGE]
    if request.cloud_init is not None:
        if "cloud" not in template.parameters:
            raise UsageError(
                f"--cloud-init: template {template.name} has no cloud-init",
                hint="the debian and ubuntu templates install it: -t debian",
            )
        if parsed.get("cloud") is False:
            raise UsageError("--cloud-init needs cloud-init: it cannot go with cloud=false")
        parsed["cloud"] = True
    values = template.values(parsed)
    packages = _packages(template, values.get("packages", []))
    if packages:
        values["packages"] = list(packages)
    if values.get("arch") == "":
        values["arch"] = host_arch()
    kind = render.render_string(template.init_kind, values).strip()
    init = template.inits.get(kind)
    if init is None:
        raise UsageError(
            f"template {template.name} has no init {kind!r}",
            hint=f"its inits: {', '.join(template.inits)}",
        )
    if request.storage == StorageKind.BTRFS:
        raise UsageError("btrfs storage is a pool's: --storage POOL (see `lxpy storage`)")
    plan = _plan(template, values, init)
    if packages and plan is None:
        raise UsageError(f"template {template.name} installs no packages (it has no apt)")
    return Resolved(template, values, init, plan, packages)


def _packages(template: Template, given: Value) -> tuple[str, ...]:
    """The `packages` parameter's list with each @SET replaced by the set's packages."""
    found: set[str] = set()
    for item in given if isinstance(given, list) else []:
        if not item.startswith("@"):
            found.add(item)
            continue
        chosen = template.package_sets.get(item[1:])
        if chosen is None:
            known = ", ".join(f"@{n}" for n in template.package_sets) or "none"
            raise UsageError(
                f"template {template.name} has no package set {item!r}",
                hint=f"its package sets: {known}",
            )
        found.update(chosen)
    return tuple(sorted(found))


def _plan(template: Template, values: dict[str, Value], init: InitRecipe) -> Plan | None:
    boot = template.bootstrap
    if boot.method == "busybox":
        return None

    def text(value: str) -> str:
        return render.render_string(value, values).strip()

    locale = values.get("locale", "C.UTF-8")
    locales = () if not isinstance(locale, str) or locale in BUILTIN_LOCALES else (locale,)
    # The extra packages are not the image's: they go in a package layer over it.
    packages = {text(p) for p in (*boot.packages, *init.packages)}
    if locales:
        packages.add("locales")
    return Plan(
        template=template.name,
        method=boot.method,
        suite=text(boot.suite),
        mirror=text(boot.mirror),
        variant=text(boot.variant) or "minbase",
        arch=text(boot.arch) or host_arch(),
        keyring=text(boot.keyring),
        script=text(boot.script),
        components=tuple(text(c) for c in boot.components) or ("main",),
        packages=tuple(sorted(p for p in packages if p)),
        locales=locales,
        secrets=template.secret_paths,
    )


def create(paths: Paths, request: Request, progress: Progress | None = None) -> Created:
    progress = progress or Silent()
    started = time.monotonic()
    if request.name is not None:
        names.validate(request.name)
    resolved = resolve(request)
    user_name = resolved.values.get("user")
    dev_user = users.resolve(user_name) if isinstance(user_name, str) and user_name else None
    # Read before any bootstrap, so a bad file costs nothing.
    scripts = provision.read_scripts(list(request.provision))
    user_data = None if request.cloud_init is None else cloudinit.read_user_data(request.cloud_init)
    pool = request.storage or settings.default_pool(paths)
    if "disk" in request.limits and pool in pools.BUILTIN:
        raise quota.needs_a_pool()  # before any bootstrap
    paths.ensure()
    nics = _nics(paths, request.nics)
    name = request.name or names.generate(set(store.names_on_disk(paths)))
    forwards = _forwards(_config(name, resolved, Storage()), nics, request.ports)
    image: cache.Image | Layer | None = None
    if resolved.plan is not None:
        image = cache.ensure(paths, resolved.plan, progress)
        if resolved.packages:
            image = package_layers.ensure(paths, image, resolved.plan, resolved.packages, progress)
    # Held until the container is in place: `cache rm` waits, then sees the new user.
    holding = cache.held(paths, image) if image is not None else contextlib.nullcontext()
    with holding, store.locked(paths, name):
        partial = store.new_partial(paths, name)
        try:
            storage = pool
            if request.allow_shift and not request.privileged and not _idmappable(paths):
                progress.step("the store cannot be idmapped: a copy of the image, to shift")
                storage = StorageKind.DIR
            if storage in pools.BUILTIN:
                kind = _make_rootfs(partial, image, storage, progress)
                rootfd = _open_rootfs(partial, image, kind)
                ref = image.ref if image is not None and kind == StorageKind.OVERLAY else ""
                kept = Storage(kind, ref)
            else:
                kept, rootfd = _in_pool(paths, name, storage, image, progress)
            cfg = _config(name, resolved, kept).with_changes(
                network=nics,
                ports=forwards,
                limits=Limits(**request.limits),
                security=Security(privileged=request.privileged, shift=request.allow_shift),
                user=User(dev_user.name) if dev_user is not None else User(),
                provision=(
                    *((cloudinit.STEP,) if user_data is not None else ()),
                    *(script.name for script in scripts),
                ),
            )
            if cfg.limits.disk is not None:
                quota.apply(paths, name, cfg)
            try:
                if image is None:
                    progress.step("installing busybox")
                    busybox.bootstrap(rootfd)
                progress.step(f"rendering the {resolved.template.name} template")
                _render(rootfd, resolved, name, cfg, _dns(paths, nics))
                if dev_user is not None:
                    progress.step(f"adding user {dev_user.name} (uid {dev_user.uid})")
                    users.install(rootfd, dev_user)
                secrets.reset(rootfd, cfg.secrets)
                if user_data is not None:
                    cloudinit.install(rootfd, user_data, cfg.uuid, cfg.hostname)
                if cfg.provision:
                    provision.install(rootfd, scripts)
            except OSError as e:
                where = f" ({e.filename})" if e.filename else ""
                raise UnsafePath(
                    f"cannot write the template into the rootfs{where}: {e.strerror}",
                    hint="a symlink or a non-directory in the image's path is refused",
                ) from None
            finally:
                os.close(rootfd)
            config.save(f"{partial}/config.toml", cfg)
            store.commit_partial(paths, partial, name)
        except BaseException:
            safefs.remove_tree(partial)
            if storage not in pools.BUILTIN:
                btrfs.remove(paths, name, storage)
            raise
    return Created(name, image.ref if image else None, time.monotonic() - started, dev_user)


def _nics(paths: Paths, given: tuple[tuple[str, str], ...] | None) -> tuple[Nic, ...]:
    from lxpy.net import model

    if given is None:
        name = model.default_network(paths)
        if name not in model.names(paths):
            from lxpy.net import networks  # netlink, for the host's routes: only this once

            networks.default(paths)
        return (Nic(name),)
    for network, address in given:
        model.load(paths, network)  # a NIC on a network that does not exist is refused
        if address and check_ipv4(address):
            raise UsageError(f"--network {network}={address}: not an IPv4 address")
    return tuple(Nic(network, address) for network, address in given)


def _forwards(
    cfg: ContainerConfig, nics: tuple[Nic, ...], given: tuple[str, ...]
) -> tuple[PortForward, ...]:
    """--port values for `cfg` (all but its storage), checked before anything is built."""
    forwards: list[PortForward] = []
    for text in given:
        try:
            forward = cfg.new_forward(text)
        except ValueError as e:
            raise UsageError(f"--port {e}") from None
        why = clash(forwards, forward)
        if why:
            raise UsageError(f"--port {text}: {why}")
        forwards.append(forward)
    if forwards and not nics:
        raise UsageError("--port needs a NIC to forward to, not --network none")
    return tuple(forwards)


def _make_rootfs(
    partial: str, image: cache.Image | Layer | None, kind: str, progress: Progress
) -> StorageKind:
    if image is None:
        os.mkdir(f"{partial}/rootfs", 0o755)
        return StorageKind.DIR
    if kind == StorageKind.OVERLAY:
        overlay.make_overlay_dirs(partial)
        return StorageKind.OVERLAY
    progress.step(f"copying image {image.ref}")
    os.mkdir(f"{partial}/rootfs", 0o755)
    with _merged(image) as tree:
        copy_tree(tree, f"{partial}/rootfs")
    return StorageKind.DIR


@contextlib.contextmanager
def _merged(image: cache.Image | Layer) -> Iterator[int]:
    """An fd on the image's whole tree: a package layer stacked on its build, read-only."""
    fd = overlay.open_lowers(image.lowers)
    try:
        yield fd
    finally:
        os.close(fd)


def _in_pool(
    paths: Paths, name: str, pool: str, image: cache.Image | Layer | None, progress: Progress
) -> tuple[Storage, int]:
    """The container's rootfs in the btrfs pool `pool`: a snapshot of the pool's copy of
    its image (made the first time), or an empty subvolume for busybox."""
    pools.load(paths, pool)  # a pool that does not exist is refused here
    source = None
    if image is not None:
        progress.step(f"image {image.ref} in pool {pool}")
        with _merged(image) as tree:
            source = btrfs.image_subvolume(paths, pool, image.ref, tree)
    root = btrfs.make(paths, name, pool, source)
    ref = image.ref if image is not None else ""
    return Storage(StorageKind.BTRFS, ref, pool=pool), safefs.open_tree(root)


def _idmappable(paths: Paths) -> bool:
    from lxpy.linux import userns

    probe = "0 1000000 65536\n"  # any map will do: the filesystem takes one or none
    ns = userns.mapped(probe, probe)
    try:
        return userns.idmappable(paths.containers, ns)
    finally:
        os.close(ns)


def _open_rootfs(partial: str, image: cache.Image | Layer | None, kind: StorageKind) -> int:
    if kind == StorageKind.OVERLAY and image is not None:
        where = f"{partial}/overlay"
        return overlay.mount_detached((image.lowers, f"{where}/upper", f"{where}/work"))
    return safefs.open_tree(f"{partial}/rootfs")


def _config(name: str, resolved: Resolved, where: Storage) -> ContainerConfig:
    return ContainerConfig(
        template=resolved.template.name,
        created=config.timestamp(),
        uuid=uuid.uuid4().hex,
        hostname=name,
        parameters=dict(resolved.values),
        init=InitConfig(
            kind=resolved.init.kind,
            command=resolved.init.command,
            halt_signal=resolved.init.halt_signal,
        ),
        storage=where,
        limits=Limits(),
        secrets=resolved.template.secret_paths,
    )


def _dns(paths: Paths, nics: tuple[Nic, ...]) -> tuple[str, str]:
    """(nameserver, domain) of eth0's network, for the guest's resolv.conf."""
    if not nics:
        return "", ""
    from lxpy.net import model

    network = model.load(paths, nics[0].network)
    return network.gateway, network.domain


def _render(
    rootfd: int,
    resolved: Resolved,
    name: str,
    cfg: ContainerConfig,
    dns: tuple[str, str] = ("", ""),
) -> None:
    context: dict[str, Value] = {
        **resolved.values,
        "name": name,
        "hostname": cfg.hostname,
        "init": resolved.init.kind,
        # The machine id is the container's uuid: stable across restarts, new on a clone.
        "machine_id": cfg.uuid,
        "nics": [nic.network for nic in cfg.network],
        "nameserver": dns[0],
        "domain": dns[1],
        "secret_commands": resolved.template.secret_commands,
        "provision": list(cfg.provision),
    }
    template = resolved.template
    for files in template.file_trees[:-1]:
        render.render_tree(files, rootfd, context, template.file_modes)
    render.render_tree(
        template.file_trees[-1], rootfd, context, template.file_modes, template.links
    )
