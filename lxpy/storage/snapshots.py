"""Snapshots: `lxpy snapshot NAME [SNAP]`, `snapshot ls|rm|restore NAME SNAP`.

A snapshot is a sealed layer (see `layers`) and the config the container had then, in
`containers/NAME/snapshots/SNAP/`. Taking one of a stopped container moves its changes
into the layer, so it costs a rename; a running one is paused (the cgroup freezer) while
its changes are copied, so the snapshot is consistent. Restoring puts the snapshot's config
back and an empty layer of changes on top of its layers: instant, and repeatable.
"""

from __future__ import annotations

import os
import time

from lxpy import config, store
from lxpy.config import ContainerConfig, StorageKind
from lxpy.errors import AlreadyExists, NotFound, StateError
from lxpy.linux import safefs
from lxpy.names import validate
from lxpy.paths import Paths
from lxpy.records import Record, replace
from lxpy.storage import layers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.storage import Runtime


class Snapshot(Record):
    name: str
    created: str
    layers: tuple[str, ...]
    frozen: float | None = None  # seconds a running container was held still for it


def take(paths: Paths, runtime: Runtime, name: str, snap: str | None = None) -> Snapshot:
    store.require(paths, name)
    with store.locked(paths, name):
        taken = layers.snapshot_names(paths, name)
        snap = validate(snap) if snap else _next_name(taken)
        if snap in taken:
            raise AlreadyExists(f"{name} has a snapshot named {snap!r}")
        cfg = store.load(paths, name)
        if cfg.storage.kind == StorageKind.BTRFS:
            from lxpy.storage import btrfs

            btrfs.sync(paths, name, cfg)  # the bulk of it, before the container is held
        began = time.monotonic()
        with runtime.paused(paths, name) as running:
            if cfg.storage.kind == StorageKind.BTRFS:
                btrfs.take(paths, name, cfg, snap)
                snapshot_cfg = cfg
            else:
                snapshot_cfg = layers.seal(paths, name, cfg, running)
        frozen = time.monotonic() - began if running else None
        created = config.timestamp()
        where = layers.snapshot_dir(paths, name, snap)
        os.makedirs(layers.snapshot_dir(paths, name), mode=0o700, exist_ok=True)
        partial = f"{where}.partial"
        os.mkdir(partial, 0o700)
        config.save(f"{partial}/config.toml", snapshot_cfg)
        with open(f"{partial}/created", "w") as f:
            f.write(created + "\n")
        os.rename(partial, where)
    return Snapshot(snap, created, snapshot_cfg.storage.layers, frozen)


def _next_name(taken: list[str]) -> str:
    index = 0
    while f"snap{index}" in taken:
        index += 1
    return f"snap{index}"


def listing(paths: Paths, name: str) -> list[Snapshot]:
    store.require(paths, name)
    found = []
    for snap in layers.snapshot_names(paths, name):
        try:
            with open(f"{layers.snapshot_dir(paths, name, snap)}/created") as f:
                created = f.read().strip()
        except OSError:
            created = "?"
        cfg = layers.snapshot_config(paths, name, snap)
        found.append(Snapshot(snap, created, cfg.storage.layers))
    # Layer ids grow with time: they order snapshots taken within the same second.
    return sorted(found, key=lambda s: (s.created, s.layers[:1], s.name))


def size(paths: Paths, name: str, snap: str) -> int | None:
    """The bytes `snap` alone holds, read without a walk: in a btrfs pool, its subvolume's
    quota group count. None elsewhere (nothing counts a sealed overlay layer, and a listing
    must not walk one) and when its pool is not mounted (a listing mounts nothing)."""
    store.require(paths, name)
    _require(paths, name, snap)
    cfg = store.load(paths, name)
    if cfg.storage.kind != StorageKind.BTRFS:
        return None
    from lxpy.storage import btrfs, pools

    if not pools.mounted(paths, pools.load(paths, cfg.storage.pool)):
        return None
    try:
        return btrfs.snapshot_bytes(paths, name, cfg, snap)
    except OSError:
        return None


def _require(paths: Paths, name: str, snap: str) -> ContainerConfig:
    if snap not in layers.snapshot_names(paths, name):
        raise NotFound(f"{name} has no snapshot {snap!r}", hint=f"`lxpy snapshot ls {name}`")
    return layers.snapshot_config(paths, name, snap)


def restore(paths: Paths, runtime: Runtime, name: str, snap: str) -> None:
    """The rootfs and the config as they were when `snap` was taken (stopped only)."""
    store.require(paths, name)
    with store.locked(paths, name):
        snapshot_cfg = _require(paths, name, snap)
        if runtime.running(paths, name):
            raise StateError(f"container {name!r} is running", hint=f"`lxpy stop {name}` first")
        current = store.load(paths, name)
        if current.storage.kind == StorageKind.BTRFS:
            from lxpy.storage import btrfs

            btrfs.restore(paths, name, current, snap)
        elif current.storage.kind == StorageKind.DIR:
            # Its files were copied into the snapshot's layer; the directory becomes the
            # overlay's mount point again.
            safefs.remove_tree(paths.rootfs(name))
            os.mkdir(paths.rootfs(name), 0o755)
        if current.storage.kind != StorageKind.BTRFS:
            layers.fresh_upper(paths, name)
        # Still the same machine: taken under an older name, its files are renamed now. Its
        # host ids stay too: a shifted container's layers, the snapshot's among them, carry
        # them on disk.
        restored = snapshot_cfg.with_changes(
            hostname=current.hostname,
            security=replace(
                snapshot_cfg.security,
                idmap=current.security.idmap,
                shifted=current.security.shifted,
            ),
        )
        store.save(paths, name, restored)
        layers.prune(paths, name)
        if snapshot_cfg.hostname != current.hostname:
            from lxpy.storage.identity import retarget

            retarget(paths, name, restored, snapshot_cfg)


def remove(paths: Paths, name: str, snap: str) -> None:
    store.require(paths, name)
    with store.locked(paths, name):
        _require(paths, name, snap)
        cfg = store.load(paths, name)
        if cfg.storage.kind == StorageKind.BTRFS:
            from lxpy.storage import btrfs

            btrfs.drop(paths, name, cfg, snap)
        safefs.remove_tree(layers.snapshot_dir(paths, name, snap))
        layers.prune(paths, name)
