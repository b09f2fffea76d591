"""`lxpy clone [--snapshot] SRC DST` and `lxpy rename OLD NEW`: a container under a new name.

A clone is a new machine: new name, hostname, uuid and machine-id (and with the name, a new
MAC and its own address). A full clone copies everything it does not share with its origin
anyway (the image); a `--snapshot` clone stands on a sealed layer of its origin, so it costs
a rename and an empty directory, and the origin cannot go while the clone needs it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from lxpy import config, store
from lxpy.config import ContainerConfig, Nic, Storage, StorageKind
from lxpy.errors import AlreadyExists, LxpyError, StateError, UsageError
from lxpy.linux import safefs
from lxpy.names import validate
from lxpy.paths import Paths
from lxpy.records import replace
from lxpy.storage import layers, secrets, shift
from lxpy.storage.identity import retarget
from lxpy.storage.overlay import make_overlay_dirs
from lxpy.storage.trees import copy_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.storage import Runtime


@contextlib.contextmanager
def _both_locked(paths: Paths, first: str, second: str) -> Iterator[None]:
    # Always in name order: two commands locking the same pair cannot deadlock.
    a, b = sorted((first, second))
    with store.locked(paths, a), store.locked(paths, b):
        yield


def clone(
    paths: Paths, runtime: Runtime, source: str, target: str, snapshot: bool = False
) -> ContainerConfig:
    validate(target)
    store.require(paths, source)
    if store.exists(paths, target):
        raise AlreadyExists(f"container {target!r} already exists", hint="pick another name")
    with _both_locked(paths, source, target):
        cfg = store.load(paths, source)
        partial = store.new_partial(paths, target)
        try:
            with runtime.paused(paths, source) as running:
                if cfg.storage.kind == StorageKind.BTRFS:
                    from lxpy.storage import btrfs

                    # Either way a snapshot: btrfs shares the blocks until they differ.
                    btrfs.clone(paths, cfg, source, target)
                    kept = cfg.storage
                elif snapshot and cfg.security.shifted:
                    raise UsageError(
                        f"{source}'s files carry its own host ids (shifted): a snapshot "
                        "clone standing on them cannot have ids of its own",
                        hint=f"`lxpy clone {source} {target}` copies them",
                    )
                elif snapshot:
                    stood = layers.seal(paths, source, cfg, running)
                    make_overlay_dirs(partial)
                    kept = stood.storage
                else:
                    kept = _copy(paths, source, cfg, partial, target)
                    if cfg.security.shifted:
                        shift.unshift_copy(partial, cfg)
            created = config.timestamp()
            new = cfg.with_changes(
                uuid=os.urandom(16).hex(),  # not the uuid module: it loads `platform`
                hostname=target,
                created=created,
                storage=kept,
                # A host port or a pinned address cannot be the origin's and the clone's.
                ports=(),
                network=tuple(Nic(nic.network) for nic in cfg.network),
                # Its own host ids: one container escaping must own no file of the other.
                security=replace(cfg.security, idmap=None, shifted=0),
            )
            config.save(f"{partial}/config.toml", new)
            store.commit_partial(paths, partial, target)
        except BaseException:
            if os.path.isdir(partial):
                safefs.remove_tree(partial)
            if cfg.storage.pool:
                from lxpy.storage import btrfs

                btrfs.remove(paths, target, cfg.storage.pool)
            layers.prune(paths, source)  # a layer copied for it that nothing names now
            raise
        try:
            retarget(paths, target, new, cfg)
            secrets.reset_container(paths, target, new)
        except BaseException:
            safefs.remove_tree(paths.container_dir(target))
            if cfg.storage.pool:
                from lxpy.storage import btrfs

                btrfs.remove(paths, target, cfg.storage.pool)
            raise
    return new


def _copy(paths: Paths, source: str, cfg: ContainerConfig, partial: str, target: str) -> Storage:
    base = paths.container_dir(source)
    if cfg.storage.kind == StorageKind.DIR:
        os.mkdir(f"{partial}/rootfs", 0o755)
        copy_tree(paths.rootfs(source), f"{partial}/rootfs")
        return cfg.storage
    kept = layers.copy_own(paths, source, cfg, partial, target)
    make_overlay_dirs(partial)
    copy_tree(f"{base}/overlay/upper", f"{partial}/overlay/upper")
    return kept


def rename(paths: Paths, runtime: Runtime, old: str, new: str) -> None:
    validate(new)
    store.require(paths, old)
    if store.exists(paths, new):
        raise AlreadyExists(f"container {new!r} already exists", hint="pick another name")
    with _both_locked(paths, old, new):
        if runtime.running(paths, old):
            raise StateError(f"container {old!r} is running", hint=f"`lxpy stop {old}` first")
        users = layers.dependents(paths, old)
        if users:
            raise StateError(
                f"cannot rename {old}: {', '.join(users)} stand(s) on its layers",
                hint="clones made with --snapshot name their origin",
            )
        cfg = store.load(paths, old)

        def moved(c: ContainerConfig) -> ContainerConfig:
            refs = tuple(
                f"{new}/{r.partition('/')[2]}" if r.partition("/")[0] == old else r
                for r in c.storage.layers
            )
            return c.with_changes(storage=replace(c.storage, layers=refs))

        # Every config read and rebuilt before anything moves: a bad one stops the rename
        # while the container is still whole under its old name.
        # Snapshots keep the hostname their files say: a restore renames those files then.
        snaps = [
            (snap, moved(layers.snapshot_config(paths, old, snap)))
            for snap in layers.snapshot_names(paths, old)
        ]
        renamed = moved(cfg)
        if renamed.hostname == old:
            renamed = renamed.with_changes(hostname=new)
        if cfg.storage.pool:
            from lxpy.storage import btrfs

            os.rename(
                btrfs.container_dir(paths, old, cfg.storage.pool),
                btrfs.container_dir(paths, new, cfg.storage.pool),
            )
        os.rename(paths.container_dir(old), paths.container_dir(new))
        for stale in (paths.config_cache(old), paths.lock_file(old)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        for snap, snap_cfg in snaps:
            config.save(f"{layers.snapshot_dir(paths, new, snap)}/config.toml", snap_cfg)
        store.save(paths, new, renamed)
        if cfg.network:
            from lxpy.net import model
            from lxpy.net.hostsfile import HostsFile, best_effort

            model.rename(paths, old, new, cfg)
            # Stopped, it has no names on the host but what a crash may have left; its new
            # ones come with its next start.
            with best_effort(old):
                HostsFile().forget(paths.instance, old)
        try:
            retarget(paths, new, renamed, cfg)
        except (LxpyError, OSError):
            pass  # the machine's own files are the guest's business once it has changed them
