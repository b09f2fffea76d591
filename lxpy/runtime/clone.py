"""`lxpy clone [--snapshot] SRC DST` and `lxpy rename OLD NEW`: a container under a new name.

A clone is a new machine: new name, hostname, uuid and machine-id (and with the name, a new
MAC and its own address). A full clone copies everything it does not share with its origin
anyway (the image); a `--snapshot` clone stands on a frozen layer of its origin, so it costs
a rename and an empty directory, and the origin cannot go while the clone needs it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator

from lxpy import config, store
from lxpy.config import ContainerConfig, Nic, Storage
from lxpy.errors import AlreadyExists, LxpyError, StateError
from lxpy.images import layers, storage
from lxpy.linux import safefs
from lxpy.names import validate
from lxpy.paths import Paths
from lxpy.runtime.files import container_root
from lxpy.runtime.snapshots import frozen
from lxpy.runtime.state import read_live


@contextlib.contextmanager
def _both_locked(paths: Paths, first: str, second: str) -> Iterator[None]:
    # Always in name order: two commands locking the same pair cannot deadlock.
    a, b = sorted((first, second))
    with store.locked(paths, a), store.locked(paths, b):
        yield


def clone(paths: Paths, source: str, target: str, snapshot: bool = False) -> ContainerConfig:
    validate(target)
    store.require(paths, source)
    if store.exists(paths, target):
        raise AlreadyExists(f"container {target!r} already exists", hint="pick another name")
    with _both_locked(paths, source, target):
        cfg = store.load(paths, source)
        partial = store.new_partial(paths, target)
        try:
            with frozen(paths, source) as running:
                if snapshot:
                    stood = layers.freeze(paths, source, cfg, running)
                    storage.make_overlay_dirs(partial)
                    kept = stood.storage
                else:
                    kept = _copy(paths, source, cfg, partial, target)
            created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            new = cfg.with_changes(
                uuid=os.urandom(16).hex(),  # not the uuid module: it loads `platform`
                hostname=target,
                created=created,
                storage=kept,
                # A host port or a pinned address cannot be the origin's and the clone's.
                ports=(),
                network=tuple(Nic(nic.network) for nic in cfg.network),
            )
            config.save(f"{partial}/config.toml", new)
            store.commit_partial(paths, partial, target)
        except BaseException:
            if os.path.isdir(partial):
                safefs.remove_tree(partial)
            layers.prune(paths, source)  # a layer copied for it that nothing names now
            raise
        try:
            retarget(paths, target, new, cfg)
        except BaseException:
            safefs.remove_tree(paths.container_dir(target))
            raise
    return new


def _copy(paths: Paths, source: str, cfg: ContainerConfig, partial: str, target: str) -> Storage:
    base = paths.container_dir(source)
    if cfg.storage.kind == "dir":
        os.mkdir(f"{partial}/rootfs", 0o755)
        storage.copy_tree(paths.rootfs(source), f"{partial}/rootfs")
        return cfg.storage
    kept = layers.copy_own(paths, source, cfg, partial, target)
    storage.make_overlay_dirs(partial)
    storage.copy_tree(f"{base}/overlay/upper", f"{partial}/overlay/upper")
    return kept


def retarget(paths: Paths, name: str, new: ContainerConfig, old: ContainerConfig) -> None:
    """For `name`, whose config is `new` by now, the files inside that name the machine:
    /etc/hostname, the 127.0.1.1 line of /etc/hosts, /etc/machine-id; each changed only
    where it still says what the template wrote, written through the confined calls."""
    with container_root(paths, name, lock=False) as root:  # the caller holds the lock
        _replace(
            root,
            "etc/hostname",
            lambda text: f"{new.hostname}\n" if text.strip() == old.hostname else text,
        )
        _replace(root, "etc/hosts", lambda text: _hosts(text, old.hostname, new.hostname))
        _replace(
            root,
            "etc/machine-id",
            lambda text: f"{new.uuid}\n" if text.strip() == old.uuid else text,
        )


def _hosts(text: str, old: str, new: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if fields and fields[0] == "127.0.1.1" and old in fields[1:]:
            line = "\t".join([fields[0], *(new if f == old else f for f in fields[1:])]) + "\n"
        lines.append(line)
    return "".join(lines)


def _replace(root: int, rel: str, change: Callable[[str], str]) -> None:
    try:
        fd = safefs.open_in(root, rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # not there (or a symlink): nothing of ours to change
    try:
        st = os.fstat(fd)
        text = os.read(fd, 1 << 16).decode(errors="replace")
    finally:
        os.close(fd)
    changed = change(text)
    if changed != text:
        safefs.write_file(root, rel, changed.encode(), st.st_mode & 0o7777, st.st_uid, st.st_gid)


def rename(paths: Paths, old: str, new: str) -> None:
    validate(new)
    store.require(paths, old)
    if store.exists(paths, new):
        raise AlreadyExists(f"container {new!r} already exists", hint="pick another name")
    with _both_locked(paths, old, new):
        if read_live(paths, old).active:
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
            hostname = new if c.hostname == old else c.hostname
            return c.with_changes(
                storage=Storage(c.storage.kind, c.storage.image, refs), hostname=hostname
            )

        # Every config read and rebuilt before anything moves: a bad one stops the rename
        # while the container is still whole under its old name.
        snaps = [
            (snap, moved(layers.snapshot_config(paths, old, snap)))
            for snap in layers.snapshot_names(paths, old)
        ]
        renamed = moved(cfg)
        os.rename(paths.container_dir(old), paths.container_dir(new))
        for stale in (paths.config_cache(old), paths.lock_file(old)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        for snap, snap_cfg in snaps:
            config.save(f"{layers.snapshot_dir(paths, new, snap)}/config.toml", snap_cfg)
        store.save(paths, new, renamed)
        if cfg.network:
            from lxpy.net import model

            model.rename(paths, old, new, cfg)
        try:
            retarget(paths, new, renamed, cfg)
        except (LxpyError, OSError):
            pass  # the machine's own files are the guest's business once it has changed them
