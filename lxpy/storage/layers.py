"""Sealed overlay layers: what snapshots and snapshot clones are made of.

A layer is a directory `containers/OWNER/layers/ID` that never changes once sealed: a
container's overlay upper moved aside (instant, for a stopped container), a copy of it (a
running one, paused meanwhile), or a plain rootfs taken over whole. Configs name layers as
"OWNER/ID", top first, over the image. A layer stays while any config names it, the
container's own, one of its snapshots', or a clone's; the owner cannot be destroyed or
renamed while another container's configs name its layers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator

from lxpy import names, store
from lxpy.config import ContainerConfig, Storage, StorageKind
from lxpy.errors import LxpyError
from lxpy.linux import safefs
from lxpy.paths import Paths
from lxpy.storage.overlay import layer_dir
from lxpy.storage.trees import copy_tree

SNAPSHOTS = "snapshots"


def new_id() -> str:
    """A fresh layer id, sortable by time (snapshots taken in the same second keep order)."""
    return f"{int(time.time() * 1000):x}{os.urandom(2).hex()}"


def new_layer(paths: Paths, owner: str) -> tuple[str, str]:
    """A fresh layer id of `owner` and its directory, not made yet."""
    layer = new_id()
    where = f"{paths.container_dir(owner)}/layers"
    os.makedirs(where, mode=0o700, exist_ok=True)
    return f"{owner}/{layer}", f"{where}/{layer}"


def fresh_upper(paths: Paths, name: str) -> None:
    overlay = f"{paths.container_dir(name)}/overlay"
    for sub in ("upper", "work"):
        if os.path.lexists(f"{overlay}/{sub}"):
            safefs.remove_tree(f"{overlay}/{sub}")
    os.makedirs(overlay, mode=0o700, exist_ok=True)
    os.mkdir(f"{overlay}/upper", 0o755)
    os.mkdir(f"{overlay}/work", 0o700)


def seal(paths: Paths, name: str, cfg: ContainerConfig, running: bool) -> ContainerConfig:
    """Seal the container's current state into a layer; return its config standing on it.

    Stopped, the change is moved, not copied: an overlay's upper becomes the layer and a
    fresh empty one goes on top; a plain rootfs becomes the layer and the container an
    overlay on it (its config saved so). Running (and paused by the caller), the upper or
    rootfs is copied, and the container itself stays as it is: the returned config is the
    snapshot's alone.
    """
    base = paths.container_dir(name)
    source = (
        f"{base}/overlay/upper" if cfg.storage.kind == StorageKind.OVERLAY else paths.rootfs(name)
    )
    if cfg.storage.kind == StorageKind.OVERLAY and not os.listdir(source):
        # Nothing changed since its layers: they are this state already. (Clone after clone
        # of an unchanged container would otherwise stack empty layers, and overlayfs
        # takes at most 500.)
        return cfg
    ref, where = new_layer(paths, name)
    below = cfg.storage.layers if cfg.storage.kind == StorageKind.OVERLAY else ()
    image = cfg.storage.image if cfg.storage.kind == StorageKind.OVERLAY else ""
    stood = cfg.with_changes(storage=Storage(StorageKind.OVERLAY, image, (ref, *below)))
    if running:
        copy_tree(source, _made(where))
        return stood
    # The config names the layer before the move: a crash in between leaves a start that
    # says which layer is missing, never changes that no config names (and prune deletes).
    store.save(paths, name, stood)
    os.rename(source, where)
    if cfg.storage.kind == StorageKind.DIR:
        os.mkdir(paths.rootfs(name), 0o755)
    fresh_upper(paths, name)
    return stood


def _made(where: str) -> str:
    os.mkdir(where, 0o755)
    return where


def copy_own(
    paths: Paths, source: str, cfg: ContainerConfig, target_dir: str, target: str
) -> Storage:
    """Copies of `source`'s own layers that `cfg` stands on, for the container `target`
    being made in `target_dir`: a full clone depends on nothing of its origin's."""
    refs = []
    for ref in cfg.storage.layers:
        owner, _, layer = ref.partition("/")
        if owner != source:
            refs.append(ref)  # another container's, shared as the origin shares it
            continue
        os.makedirs(f"{target_dir}/layers", mode=0o700, exist_ok=True)
        copy_tree(layer_dir(paths, ref), _made(f"{target_dir}/layers/{layer}"))
        refs.append(f"{target}/{layer}")
    return Storage(cfg.storage.kind, cfg.storage.image, tuple(refs))


def configs(paths: Paths) -> Iterator[tuple[str, ContainerConfig]]:
    """(container, config) of every container and every snapshot: all that can name layers."""
    for name in store.names_on_disk(paths):
        try:
            yield name, store.load(paths, name)
        except LxpyError:
            continue
        for snap in snapshot_names(paths, name):
            try:
                yield name, snapshot_config(paths, name, snap)
            except LxpyError:
                continue


def dependents(paths: Paths, owner: str) -> list[str]:
    """Other containers whose configs (or their snapshots') stand on `owner`'s layers."""
    found = {
        name
        for name, cfg in configs(paths)
        if name != owner and any(ref.partition("/")[0] == owner for ref in cfg.storage.layers)
    }
    return sorted(found)


def stood_on(paths: Paths, name: str) -> set[str]:
    """The other containers whose layers `name` (or one of its snapshots) stands on."""
    found = set()
    for owner, cfg in configs(paths):
        if owner == name:
            found |= {ref.partition("/")[0] for ref in cfg.storage.layers}
    return found - {name}


def prune(paths: Paths, owner: str) -> None:
    """Remove `owner`'s layers that no config names any more (the caller holds its lock)."""
    where = f"{paths.container_dir(owner)}/layers"
    try:
        present = os.listdir(where)
    except FileNotFoundError:
        return
    named = {ref for _, cfg in configs(paths) for ref in cfg.storage.layers}
    for layer in present:
        if f"{owner}/{layer}" not in named:
            safefs.remove_tree(f"{where}/{layer}")


def prune_owners(paths: Paths, owners: Iterable[str]) -> None:
    """Prune the layers of each of `owners` that still exists, each under its lock (a
    container stood on them and may not now)."""
    for owner in owners:
        if store.exists(paths, owner):
            with store.locked(paths, owner):
                prune(paths, owner)


def snapshot_dir(paths: Paths, name: str, snap: str = "") -> str:
    base = f"{paths.container_dir(name)}/{SNAPSHOTS}"
    return f"{base}/{snap}" if snap else base


def snapshot_names(paths: Paths, name: str) -> list[str]:
    try:
        entries = os.listdir(snapshot_dir(paths, name))
    except FileNotFoundError:
        return []
    # A name that is not a label is no snapshot: a half-written one ("SNAP.partial").
    return sorted(
        e
        for e in entries
        if names.is_valid(e) and os.path.isfile(f"{snapshot_dir(paths, name, e)}/config.toml")
    )


def snapshot_config(paths: Paths, name: str, snap: str) -> ContainerConfig:
    from lxpy import config

    return config.load(f"{snapshot_dir(paths, name, snap)}/config.toml")
