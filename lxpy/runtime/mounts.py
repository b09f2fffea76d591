"""Shared folders: host directories bind-mounted into a container (`lxpy mount`).

At start the child that becomes init mounts them (`linux.rootfs.setup`); into a running
container they go live: the host side is cloned as a detached mount tree here, in the
host's namespace, and a short-lived child joins the container's mount namespace and moves
it onto the target, which it creates resolving every component inside the container. The
mounts exist only in the container's namespace: the host's view of its rootfs never has
them, so a destroy cannot reach the shared files.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from lxpy import store
from lxpy.config import SharedFolder
from lxpy.config.schema import check_mount_path
from lxpy.errors import LxpyError, StateError, UsageError
from lxpy.linux import safefs, syscalls, userns
from lxpy.linux.proc import ProcessRef
from lxpy.linux.syscalls import O_PATH
from lxpy.paths import Paths
from lxpy.runtime.state import read_live


def _inside(path: str) -> str:
    """`path` as config.toml keeps it: absolute, no empty or trailing components."""
    return "/" + "/".join(p for p in path.split("/") if p)


def add(paths: Paths, name: str, source: str, path: str, readonly: bool = False) -> SharedFolder:
    """Share the host folder `source` at `path` inside: saved in config.toml, and mounted
    at once if the container runs."""
    source = os.path.abspath(source)
    if not os.path.isdir(source):
        raise UsageError(f"{source}: not a directory on the host")
    problem = check_mount_path(path)
    if problem:
        raise UsageError(f"{path}: {problem}")
    folder = SharedFolder(source, _inside(path), readonly)
    store.require(paths, name)
    with store.locked(paths, name):
        cfg = store.load(paths, name)
        if any(m.path == folder.path for m in cfg.mounts):
            raise UsageError(f"{name} shares a folder at {folder.path} already")
        live = read_live(paths, name)
        if live.init is not None:
            attach(live.init, folder)
        store.save(paths, name, cfg.with_changes(mounts=(*cfg.mounts, folder)))
    return folder


def remove(paths: Paths, name: str, path: str) -> None:
    store.require(paths, name)
    with store.locked(paths, name):
        cfg = store.load(paths, name)
        wanted = _inside(path)
        kept = tuple(m for m in cfg.mounts if m.path != wanted)
        if len(kept) == len(cfg.mounts):
            raise UsageError(f"{name} shares no folder at {wanted}", hint=f"`lxpy mount ls {name}`")
        live = read_live(paths, name)
        if live.init is not None:
            detach(live.init, wanted)
        store.save(paths, name, cfg.with_changes(mounts=kept))


def listing(paths: Paths, name: str) -> list[tuple[SharedFolder, bool]]:
    """Each shared folder, and whether it is mounted inside now."""
    cfg = store.load(paths, name)
    live = read_live(paths, name)
    return [(m, live.init is not None and mounted(live.init, m.path)) for m in cfg.mounts]


def _in_namespace(init: ProcessRef, action: str, work: Callable[[], None]) -> None:
    """Run `work()` in a child inside init's mount namespace (root and cwd at its /)."""
    ns = os.open(f"/proc/{init.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    if not init.alive():  # the pid was reused before the open: not the container's namespace
        os.close(ns)
        raise StateError("the container stopped meanwhile", hint="try again")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # ends in _exit whatever happens: it must never run on as the CLI
        try:
            os.close(read)
            syscalls.setns(ns, syscalls.CLONE_NEWNS)
            work()
            os._exit(0)
        except BaseException as e:
            detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            os.write(write, detail.encode(errors="replace")[:2000])
        finally:
            os._exit(1)
    os.close(write)
    os.close(ns)
    with os.fdopen(read, "rb") as f:
        failure = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise LxpyError(f"cannot {action}: {failure or 'failed'}")


def attach(init: ProcessRef, folder: SharedFolder) -> None:
    """Mount `folder` into the running container whose init is `init`: idmapped through
    its user namespace, if it has one of its own, as at its start."""
    maps = userns.Maps.of(init.pid)
    ns = userns.of_process(init.pid)
    try:
        tree = syscalls.clone_tree(folder.source, folder.readonly, ns)
    finally:
        if ns >= 0:
            os.close(ns)

    def move() -> None:
        root = safefs.Root(os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), maps)
        with root.writing():
            target = safefs.makedirs(root.fd, folder.path)
        syscalls.move_mount_to(tree, target)

    try:
        _in_namespace(init, f"mount {folder.source} at {folder.path}", move)
    finally:
        os.close(tree)


def detach(init: ProcessRef, path: str) -> None:
    def unmount() -> None:
        root = os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        # No symlink on the way: one swapped in would aim the unmount at another mount.
        target = safefs.open_in(root, path, O_PATH | os.O_DIRECTORY, resolve=safefs.NO_LINKS)
        # From inside it: this process's /proc is the container's, where /proc/self is not.
        os.fchdir(target)
        try:
            syscalls.umount2(".", syscalls.MNT_DETACH)
        except OSError as e:
            if e.errno != 22:  # EINVAL: not mounted there (any more)
                raise

    _in_namespace(init, f"unmount {path}", unmount)


def mounted(init: ProcessRef, path: str) -> bool:
    """Whether something is mounted at `path` in the container now."""
    escaped = path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
    escaped = escaped.replace("\n", "\\012")
    try:
        with open(f"/proc/{init.pid}/mountinfo") as f:
            return any(line.split()[4] == escaped for line in f)
    except OSError:
        return False
