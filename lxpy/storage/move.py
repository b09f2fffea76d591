"""`lxpy move NAME --storage POOL`: a stopped container, with its snapshots, into another
storage pool.

Within the state root a move from dir to overlay costs a rename (the plain rootfs becomes
a sealed layer the container stands on); from overlay to dir, the merged tree is copied
into a plain rootfs. Into a btrfs pool every tree is copied (`trees.copy_tree`: owners,
modes, xattrs, file capabilities, hard links): the rootfs into a subvolume, each snapshot
into a read-only one. Out of one, the rootfs becomes a plain directory (dir) or a sealed
layer (overlay), and each snapshot a layer its snapshot stands on, as an import lays them
out. The new copy is whole before the config names it; the old one goes after, so a move
that fails leaves the container where it was.
"""

from __future__ import annotations

import os

from lxpy import config, store
from lxpy.config import ContainerConfig, Storage, StorageKind
from lxpy.errors import StateError, UsageError
from lxpy.linux import safefs
from lxpy.paths import Paths
from lxpy.storage import layers, overlay, pools, quota
from lxpy.storage.trees import copy_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.storage import Runtime


def move(paths: Paths, runtime: Runtime, name: str, target: str) -> ContainerConfig:
    """Move the stopped container `name` and its snapshots into the pool `target`; return
    its new config."""
    store.require(paths, name)
    with store.locked(paths, name):
        if runtime.running(paths, name):
            raise StateError(f"container {name!r} is running", hint=f"`lxpy stop {name}` first")
        cfg = store.load(paths, name)
        if pools.of(cfg) == target:
            raise UsageError(f"{name} is in storage pool {target!r} already")
        if target in pools.BUILTIN:
            if cfg.limits.disk is not None:
                raise UsageError(
                    f"{name} has a disk limit, which only a btrfs pool keeps",
                    hint=f"`lxpy config unset {name} limits.disk` first, or move it to a pool",
                )
        else:
            pools.ensure_mounted(paths, pools.load(paths, target))
        stood_on = layers.stood_on(paths, name)
        snaps = [
            (snap, layers.snapshot_config(paths, name, snap))
            for snap in layers.snapshot_names(paths, name)
        ]
        if cfg.storage.kind == StorageKind.DIR and target == StorageKind.OVERLAY:
            layers.seal(paths, name, cfg, running=False)  # the rootfs itself becomes the layer
        elif cfg.storage.kind == StorageKind.OVERLAY and target == StorageKind.DIR:
            _merge_into_dir(paths, name, cfg)
        elif target not in pools.BUILTIN:
            _into_pool(paths, name, cfg, snaps, target)
        else:
            _out_of_pool(paths, name, cfg, snaps, StorageKind(target))
        # Layers no config names now: its own, and those of the containers it stood on.
        layers.prune(paths, name)
        layers.prune_owners(paths, stood_on)
        return store.load(paths, name)


def _merge_into_dir(paths: Paths, name: str, cfg: ContainerConfig) -> None:
    base = paths.container_dir(name)
    partial = f"{base}/rootfs.partial"
    safefs.remove_tree(partial)
    os.mkdir(partial, 0o755)
    try:
        _copy_root(paths, name, cfg, partial)
    except BaseException:
        safefs.remove_tree(partial)
        raise
    os.rmdir(paths.rootfs(name))  # the overlay's mount point, empty on the host
    os.rename(partial, paths.rootfs(name))
    store.save(paths, name, cfg.with_changes(storage=Storage(StorageKind.DIR)))
    safefs.remove_tree(f"{base}/overlay")


def _into_pool(
    paths: Paths,
    name: str,
    cfg: ContainerConfig,
    snaps: list[tuple[str, ContainerConfig]],
    pool: str,
) -> None:
    from lxpy.storage import btrfs

    storage = Storage(StorageKind.BTRFS, cfg.storage.image, pool=pool)
    moved = cfg.with_changes(storage=storage)
    try:
        _copy_root(paths, name, cfg, btrfs.make(paths, name, pool, None))
        for snap, snap_cfg in snaps:
            fd = overlay.open_snapshot(paths, name, snap, snap_cfg)
            try:
                btrfs.snapshot_copy(paths, name, pool, snap, fd)
            finally:
                os.close(fd)
        if moved.limits.disk is not None:
            quota.apply(paths, name, moved)
        new = [(snap, c.with_changes(storage=storage)) for snap, c in snaps]
        _save(paths, name, moved, new, snaps)
    except BaseException:
        btrfs.remove(paths, name, pool)
        raise
    if cfg.storage.pool:
        btrfs.remove(paths, name, cfg.storage.pool)
    else:
        safefs.remove_tree(paths.rootfs(name))
        safefs.remove_tree(f"{paths.container_dir(name)}/overlay")


def _out_of_pool(
    paths: Paths,
    name: str,
    cfg: ContainerConfig,
    snaps: list[tuple[str, ContainerConfig]],
    kind: StorageKind,
) -> None:
    from lxpy.storage import btrfs

    made: list[str] = []  # what to remove if the move fails
    base = paths.container_dir(name)
    try:
        stood = []
        for snap, snap_cfg in snaps:
            ref, where = _new_layer(paths, name, made)
            fd = overlay.open_snapshot(paths, name, snap, snap_cfg)
            try:
                copy_tree(fd, where)
            finally:
                os.close(fd)
            stood.append(
                (snap, snap_cfg.with_changes(storage=Storage(StorageKind.OVERLAY, "", (ref,))))
            )
        if kind == StorageKind.DIR:
            made.append(paths.rootfs(name))
            os.mkdir(paths.rootfs(name), 0o755)
            _copy_root(paths, name, cfg, paths.rootfs(name))
            storage = Storage(StorageKind.DIR)
        else:
            ref, where = _new_layer(paths, name, made)
            _copy_root(paths, name, cfg, where)
            made += [paths.rootfs(name), f"{base}/overlay"]
            overlay.make_overlay_dirs(base)
            storage = Storage(StorageKind.OVERLAY, "", (ref,))
        _save(paths, name, cfg.with_changes(storage=storage), stood, snaps)
    except BaseException:
        for path in made:
            safefs.remove_tree(path)
        raise
    btrfs.remove(paths, name, cfg.storage.pool)


def _new_layer(paths: Paths, name: str, made: list[str]) -> tuple[str, str]:
    ref, where = layers.new_layer(paths, name)
    made.append(where)
    os.mkdir(where, 0o755)
    return ref, where


def _copy_root(paths: Paths, name: str, cfg: ContainerConfig, target: str) -> None:
    fd = overlay.open_rootfs(paths, name, cfg)
    try:
        copy_tree(fd, target)
    finally:
        os.close(fd)


def _save(
    paths: Paths,
    name: str,
    moved: ContainerConfig,
    snaps: list[tuple[str, ContainerConfig]],
    before: list[tuple[str, ContainerConfig]],
) -> None:
    # The snapshots first: the container's config, saved last, is what says it moved. If
    # that fails, the snapshots name their old trees again (the caller removes the new).
    try:
        for snap, snap_cfg in snaps:
            config.save(f"{layers.snapshot_dir(paths, name, snap)}/config.toml", snap_cfg)
        store.save(paths, name, moved)
    except BaseException:
        for snap, snap_cfg in before:
            config.save(f"{layers.snapshot_dir(paths, name, snap)}/config.toml", snap_cfg)
        raise
