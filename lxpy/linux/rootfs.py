"""The container's filesystem view, built inside its new mount namespace before pivot_root.

Runs in the child that becomes the container's init. Every mount target is opened inside
the rootfs with openat2 and mounted through /proc/self/fd/N, so a symlink planted in the
rootfs (/dev -> /host/path) is refused instead of followed (CVE-2015-1335, CVE-2021-30465).
"""

from __future__ import annotations

import errno
import os

from lxpy.errors import RootfsError as RootfsError
from lxpy.linux import safefs, syscalls
from lxpy.linux.cgroups import CGROUP_ROOT, Hierarchy
from lxpy.linux.syscalls import (
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SLAVE,
    O_PATH,
)

# The standard nodes of a container's /dev, as LXC and nspawn give it: the host's, bound in.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}
# Files in /proc that leak host state or control the host; covered with /dev/null.
PROC_MASKED_FILES = (
    "sysrq-trigger",
    "kcore",
    "keys",
    "timer_list",
    "latency_stats",
    "timer_stats",
    "sched_debug",
)
PROC_MASKED_DIRS = ("acpi", "scsi")


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _mount_target(root: int, rel: str) -> int:
    """An O_PATH fd for directory `rel` in the rootfs; created if missing, refused if a link."""
    try:
        return _dir(root, rel)
    except FileNotFoundError:
        parent, _, name = rel.rpartition("/")
        pfd = _dir(root, parent or ".")
        try:
            os.mkdir(name, 0o755, dir_fd=pfd)
        finally:
            os.close(pfd)
        return _dir(root, rel)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
            raise RootfsError(
                f"/{rel} in the rootfs is a symlink or not a directory: refused"
            ) from None
        raise


def _mount_on(
    root: int, rel: str, source: str | None, fstype: str | None, flags: int, data: str | None = None
) -> int:
    """Mount onto `rel` and return an O_PATH fd for the root of the new mount."""
    fd = _mount_target(root, rel)
    try:
        syscalls.mount(source, fd_path(fd), fstype, flags, data)
    finally:
        os.close(fd)
    return _dir(root, rel)


def _remount_readonly(fd: int, recursive_flags: int = 0) -> None:
    # Keep the flags the mount already has: remounting without them fails when they're locked.
    keep = os.statvfs(fd_path(fd)).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    syscalls.mount(
        None, fd_path(fd), None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep | recursive_flags
    )


def _dir(root: int, rel: str) -> int:
    """An O_PATH fd for the directory `rel` in the rootfs, reached through no symlink."""
    return safefs.open_in(root, rel, O_PATH | os.O_DIRECTORY, resolve=safefs.NO_LINKS)


def _bind_self(root: int, rel: str) -> None:
    """Make directory `rel` a mount of its own (so that it can get flags of its own)."""
    fd = _dir(root, rel)
    try:
        syscalls.mount(fd_path(fd), fd_path(fd), None, MS_BIND)
    finally:
        os.close(fd)


def _readonly(root: int, rel: str) -> None:
    fd = _dir(root, rel)
    try:
        _remount_readonly(fd)
    finally:
        os.close(fd)


class Idmapped:
    """An unprivileged container's ids: its user namespace (an fd) and the host id of its
    root, both for uids and gids; `shifted` when its files carry host ids on disk already,
    so its root is mounted as it is."""

    __slots__ = ("root_id", "shifted", "userns")

    def __init__(self, userns: int, root_id: int, shifted: bool = False) -> None:
        self.userns = userns
        self.root_id = root_id
        self.shifted = shifted


def setup(
    rootfs: str,
    console: str,
    hierarchies: list[Hierarchy],
    overlay: list[tuple[str, str | None]] | None,
    host_files: dict[str, str],
    notify_socket: str | None = None,
    shared: list[tuple[str, str, bool]] | None = None,
    ids: Idmapped | None = None,
) -> None:
    """Mount the root (a bind of `rootfs`, or the overlay whose options are given), build
    /dev, /proc, /sys, /sys/fs/cgroup and /run in it, and pivot into it.

    `host_files` go to /run/host (read-only inside), systemd's place for what the container
    manager tells the guest; `notify_socket` (the monitor's) is bound at /run/host/notify.
    `shared` folders, (host source, path inside, read-only), are mounted last. With `ids`,
    the root and the shared folders are idmapped through its user namespace (the disk keeps
    the distro's ids), and what is made on the way is container root's.
    """
    syscalls.mount(None, "/", None, MS_REC | MS_SLAVE)
    if ids is not None:
        # Through an idmapped mount, host root's own id maps to nothing (EOVERFLOW): make
        # files as container root. Overlayfs keeps the mounter's ids for its work dir too.
        syscalls.set_fs_ids(ids.root_id, ids.root_id)
    try:
        _mount_root(rootfs, overlay, ids.userns if ids and not ids.shifted else -1)
        root = safefs.open_tree(rootfs)
        try:
            _setup_dev(root, console, ids.root_id if ids else -1)
            _setup_proc(root)
            _setup_sys(root, hierarchies)
            _setup_run(root, host_files, notify_socket, ids.root_id if ids else -1)
            for source, path, readonly in shared or ():
                _setup_shared(root, source, path, readonly, ids.userns if ids else -1)
            os.fchdir(root)
            syscalls.pivot_root(".", ".")
            syscalls.umount2(".", syscalls.MNT_DETACH)
            os.chdir("/")
        finally:
            os.close(root)
    finally:
        if ids is not None:
            syscalls.set_fs_ids(0, 0)


def _mount_root(rootfs: str, overlay: list[tuple[str, str | None]] | None, userns: int) -> None:
    if overlay is None and userns < 0:
        syscalls.mount(rootfs, rootfs, None, MS_BIND | MS_REC)
        return
    held: list[int] = []
    try:
        if overlay is None:
            held.append(_idmapped(rootfs, userns))
            mnt = held[0]
        else:
            # Each layer idmapped on its own: overlayfs stacks idmapped layers (Linux 5.19+);
            # the upper and work dirs through one mount of their parent, as it requires.
            options = []
            mounted: dict[str, int] = {}
            for key, value in overlay:
                if userns >= 0 and value is not None:
                    where, name = (value, "") if key == "lowerdir+" else os.path.split(value)
                    if where not in mounted:
                        mounted[where] = _idmapped(where, userns)
                        held.append(mounted[where])
                    value = fd_path(mounted[where]) + (f"/{name}" if name else "")
                options.append((key, value))
            mnt = syscalls.fsmount_new("overlay", options)
            held.append(mnt)
        target = safefs.open_tree(rootfs)
        try:
            syscalls.move_mount_to(mnt, target)
        finally:
            os.close(target)
    finally:
        for fd in held:
            os.close(fd)


def _idmapped(path: str, userns: int) -> int:
    try:
        return syscalls.clone_tree(path, userns_fd=userns)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise RootfsError(
                f"{path}: its filesystem cannot be idmapped, so an unprivileged container "
                "cannot use it as it is (move the store to ext4, btrfs, xfs or tmpfs, let "
                "lxpy shift its files into its ids with `security.shift = true` in its "
                "config.toml, or create it --allow-shift or --privileged)"
            ) from None
        raise


def _setup_shared(root: int, source: str, path: str, readonly: bool, userns: int) -> None:
    """A host folder, cloned as a detached tree from this (still the host's) view and moved
    onto its place inside, made if missing with every component resolved inside the root.
    Idmapped through `userns` if given: host uid 1000 is uid 1000 inside."""
    try:
        tree = syscalls.clone_tree(source, readonly, userns)
    except OSError as e:
        raise OSError(e.errno, f"shared folder {source}: {e.strerror}") from None
    try:
        target = safefs.makedirs(root, path)
        try:
            syscalls.move_mount_to(tree, target)
        finally:
            os.close(target)
    finally:
        os.close(tree)


def _owned(options: str, root_id: int) -> str:
    """tmpfs mount options, owned by container root when it is not host root."""
    return options if root_id < 0 else f"{options},uid={root_id},gid={root_id}"


def setup_build_root(root: int) -> None:
    """A minimal /dev (the host's basic nodes bound in) and /proc in the image tree `root`,
    for a program chrooted in it to install packages (the caller's mount namespace is
    private and dies with it)."""
    _setup_dev(root, None, -1)
    _setup_proc(root)


def _setup_dev(root: int, console: str | None, root_id: int) -> None:
    # Host nodes bound in, never made: in a user namespace mknod is refused (and a device
    # node made there would be nodev anyway).
    dev = _mount_on(
        root,
        "dev",
        "tmpfs",
        "tmpfs",
        MS_NOSUID | MS_NOEXEC,
        _owned("mode=755,size=65536k", root_id),
    )
    try:
        for name in (*DEV_NODES, *(("console",) if console else ())):
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666, dir_fd=dev))
        for name, target in DEV_LINKS.items():
            os.symlink(target, name, dir_fd=dev)
        for name in ("pts", "shm", "mqueue"):
            os.mkdir(name, 0o755, dir_fd=dev)
    finally:
        os.close(dev)
    for name in DEV_NODES:
        _bind_file(root, f"/dev/{name}", f"dev/{name}")
    if console:
        # /dev/console is the pty whose master the monitor holds for init's whole life.
        _bind_file(root, console, "dev/console")


def _bind_file(root: int, source: str, rel: str) -> None:
    target = safefs.open_in(root, rel, O_PATH, resolve=safefs.NO_LINKS)
    try:
        syscalls.mount(source, fd_path(target), None, MS_BIND)
    finally:
        os.close(target)


# The tty group of Debian, Fedora and Alpine: a terminal belongs to its user and this group.
TTY_GID = 5


def mount_dev_inside() -> None:
    """devpts, /dev/shm and /dev/mqueue, by the process that becomes init, in its final
    namespaces: a devpts instance and an mqueue of the container's own, mounted from inside
    (an mqueue mount shows the IPC namespace of whoever mounts it)."""
    root = os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(
            _mount_on(
                root,
                "dev/pts",
                "devpts",
                "devpts",
                MS_NOSUID | MS_NOEXEC,
                f"newinstance,ptmxmode=0666,mode=0620,gid={TTY_GID}",
            )
        )
        os.close(_mount_on(root, "dev/shm", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"))
        os.close(
            _mount_on(root, "dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        )
    finally:
        os.close(root)


def _setup_run(
    root: int, host_files: dict[str, str], notify_socket: str | None, root_id: int
) -> None:
    # A fresh /run on every boot, as on a real machine (inits expect it empty and writable).
    run = _mount_on(
        root, "run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, _owned("mode=755,size=20%", root_id)
    )
    try:
        os.mkdir("host", 0o755, dir_fd=run)
    finally:
        os.close(run)
    host = safefs.open_in(root, "run/host", os.O_RDONLY | os.O_DIRECTORY, resolve=safefs.NO_LINKS)
    try:
        for name, text in host_files.items():
            fd = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444, dir_fd=host
            )
            try:
                safefs.write_all(fd, text.encode())
            finally:
                os.close(fd)
        if notify_socket is not None:
            os.close(os.open("notify", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=host))
    finally:
        os.close(host)
    _bind_self(root, "run/host")
    _readonly(root, "run/host")
    if notify_socket is not None:
        # A bind mount of the socket inode (on top of the read-only /run/host, not under it):
        # the guest's sd_notify reaches the monitor.
        _bind_file(root, notify_socket, "run/host/notify")


def _setup_proc(root: int) -> None:
    os.close(_mount_on(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC))
    _readonly_proc_sys(root)
    null = safefs.open_in(root, "dev/null", O_PATH, resolve=safefs.NO_LINKS)
    try:
        for name in PROC_MASKED_FILES:
            _mask(root, f"proc/{name}", null)
    finally:
        os.close(null)
    for name in PROC_MASKED_DIRS:
        try:
            fd = _dir(root, f"proc/{name}")
        except FileNotFoundError:
            continue
        try:
            syscalls.mount(
                "tmpfs",
                fd_path(fd),
                "tmpfs",
                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=0",
            )
        finally:
            os.close(fd)


def _readonly_proc_sys(root: int) -> None:
    """/proc/sys from a second proc instance whose superblock is read-only (Linux 5.8+
    gives each proc mount its own): a bind remount to rw, which seccomp lets through for
    systemd's sake, then changes the mount's flag and nothing else. /proc/sys/net is per
    network namespace: it stays writable, from the first instance (LXC and nspawn agree)."""
    where = _dir(root, "proc/sys/net")
    try:
        net = syscalls.clone_tree(fd_path(where))
    finally:
        os.close(where)
    held = [net]
    try:
        instance = syscalls.fsmount_new(
            "proc",
            [("ro", None)],
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        )
        held.append(instance)
        sys_tree = syscalls.clone_tree(f"{fd_path(instance)}/sys", readonly=True)
        held.append(sys_tree)
        for tree, rel in ((sys_tree, "proc/sys"), (net, "proc/sys/net")):
            target = _dir(root, rel)
            held.append(target)
            syscalls.move_mount_to(tree, target)
    finally:
        for fd in held:
            os.close(fd)


def _mask(root: int, rel: str, null: int) -> None:
    try:
        fd = safefs.open_in(root, rel, O_PATH, resolve=safefs.NO_LINKS)
    except FileNotFoundError:
        return
    try:
        syscalls.mount(fd_path(null), fd_path(fd), None, MS_BIND)
    finally:
        os.close(fd)


def _setup_sys(root: int, hierarchies: list[Hierarchy]) -> None:
    os.close(_mount_on(root, "sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC))
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if len(hierarchies) == 1 and hierarchies[0].version == 2:
        # Pure v2, or the unified view of a hybrid host: the namespace root is the
        # container's own cgroup.
        os.close(_mount_on(root, "sys/fs/cgroup", "cgroup2", "cgroup2", flags))
        return
    # v1 or hybrid: a tmpfs with one mount per hierarchy, as the host has them, then read-only
    # so the container cannot add hierarchies (and never gets a v1 root: CVE-2022-0492).
    cg = _mount_on(root, "sys/fs/cgroup", "tmpfs", "tmpfs", flags, "mode=755")
    try:
        for entry in os.scandir(CGROUP_ROOT):
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), entry.name, dir_fd=cg)
    finally:
        os.close(cg)
    for h in hierarchies:
        rel = "sys/fs/cgroup/" + os.path.relpath(h.mountpoint, CGROUP_ROOT)
        if h.version == 2:
            os.close(_mount_on(root, rel, "cgroup2", "cgroup2", flags))
        else:
            os.close(_mount_on(root, rel, "cgroup", "cgroup", flags, h.mount_options()))
    cg = safefs.open_in(root, "sys/fs/cgroup", O_PATH | os.O_DIRECTORY, resolve=safefs.NO_LINKS)
    try:
        syscalls.mount(None, fd_path(cg), None, MS_REMOUNT | MS_RDONLY | flags, "mode=755")
    finally:
        os.close(cg)
