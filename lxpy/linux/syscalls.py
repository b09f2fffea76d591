"""Thin typed wrappers over the Linux syscalls and ioctls Python 3.11 lacks. The only module
using ctypes, and the only one holding kernel numbers that differ between architectures.

Each wrapper raises OSError(errno, strerror, path) like the os module does. The monitor
imports this module, so it stays standard-library only and small.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from collections.abc import Callable

from lxpy.errors import UnsupportedArchitecture

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
# Every namespace a container has of its own.
CONTAINER_NAMESPACES = (
    CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP
)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19

MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

O_PATH = 0o10000000
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

PR_SET_NAME = 15
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

AT_EMPTY_PATH = 0x1000
FSOPEN_CLOEXEC = 0x1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
AT_SYMLINK_NOFOLLOW = 0x100
STATX_MNT_ID = 0x1000
OPEN_TREE_CLONE = 1
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_IDMAP = 0x100000

# The numbers that differ between architectures, from the kernel's tables: x86_64's
# arch/x86/entry/syscalls/syscall_64.tbl; aarch64 uses include/uapi/asm-generic/unistd.h.
# Syscalls numbered from 424 on are the same on every architecture.
_COMMON = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "openat2": 437,
    "mount_setattr": 442,
}
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "bpf": 321, **_COMMON},
    "aarch64": {"pivot_root": 41, "bpf": 280, **_COMMON},
}
# Both take asm-generic's ioctl numbers (powerpc, mips and sparc encode _IOW differently).
_GENERIC_IOCTLS = {
    "TIOCSPTLCK": 0x40045431,  # _IOW('T', 0x31, int)
    "TIOCGPTPEER": 0x5441,  # _IO('T', 0x41)
    "SIOCGIFFLAGS": 0x8913,
    "SIOCSIFFLAGS": 0x8914,
    "LOOP_CTL_GET_FREE": 0x4C82,  # _IO('L', 0x82)
    "LOOP_CONFIGURE": 0x4C0A,  # _IO('L', 0x0A)
    "BTRFS_IOC_SUBVOL_CREATE": 0x5000940E,  # _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
    "BTRFS_IOC_SNAP_DESTROY": 0x5000940F,  # _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
    "BTRFS_IOC_SNAP_CREATE_V2": 0x50009417,  # _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)
    "BTRFS_IOC_QUOTA_CTL": 0xC0109428,  # _IOWR(0x94, 40, struct btrfs_ioctl_quota_ctl_args)
    "BTRFS_IOC_QGROUP_LIMIT": 0x8030942B,  # _IOR(0x94, 43, struct btrfs_ioctl_qgroup_limit_args)
    "BTRFS_IOC_INO_LOOKUP": 0xD0009412,  # _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
    "BTRFS_IOC_FS_INFO": 0x8400941F,  # _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args)
    "BTRFS_IOC_TREE_SEARCH": 0xD0009411,  # _IOWR(0x94, 17, struct btrfs_ioctl_search_args)
    "BTRFS_IOC_SNAP_DESTROY_V2": 0x5000943F,  # _IOW(0x94, 63, struct btrfs_ioctl_vol_args_v2)
    "BTRFS_IOC_SUBVOL_SETFLAGS": 0x4008941A,  # _IOW(0x94, 26, __u64)
}
_IOCTLS = {"x86_64": _GENERIC_IOCTLS, "aarch64": _GENERIC_IOCTLS}
_MACHINE = os.uname().machine

_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.open_by_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _check(result: int, path: str | None = None) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return result


def _number(table: dict[str, dict[str, int]], name: str) -> int:
    """`name`'s number on this machine. An architecture without numbers is refused at first
    use rather than at import, so what needs none (`lxpy --version`, `ls`, config) works."""
    numbers = table.get(_MACHINE)
    if numbers is None:
        known = " and ".join(table)
        raise UnsupportedArchitecture(f"lxpy does not support {_MACHINE} machines (only {known})")
    return numbers[name]


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype))


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(
        _sys("pivot_root", ctypes.c_char_p(_b(new_root)), ctypes.c_char_p(_b(put_old))), new_root
    )


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5))


def set_process_name(name: str) -> None:
    """Set comm (what `top` and `ps -o comm` show); at most 15 bytes."""
    buf = ctypes.create_string_buffer(os.fsencode(name)[:15])
    _check(_libc.prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0))


def set_cmdline(argv: list[str]) -> None:
    """Rewrite what /proc/self/cmdline (and so `ps`) shows, within the original argv area.

    A forked monitor would otherwise show the command line of the `lxpy start` it came from.
    The area is at least as long as `python .../lxpy start NAME`, which holds the shorter
    `lxpy monitor NAME`; the rest is zeroed.
    """
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (stat fields 48, 49)
    size = end - start
    title = b"\0".join(os.fsencode(a) for a in argv)[: size - 1]
    ctypes.memmove(start, title + b"\0" * (size - len(title)), size)


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _check(
        _sys(
            "openat2",
            ctypes.c_int(dirfd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        ),
        path,
    )


def _sys(name: str, *args: object) -> int:
    return int(_libc.syscall(ctypes.c_long(_number(_SYSCALLS, name)), *args))


def fsmount_new(fstype: str, options: list[tuple[str, str | None]], attrs: int = 0) -> int:
    """A detached mount (new mount API) as an O_PATH-like fd; no namespace sees it.

    Each option is passed on its own (`fsconfig`), so a path holding a comma or a colon
    needs no escaping: overlayfs takes its layers one by one as "lowerdir+".
    """
    fs = _check(_sys("fsopen", ctypes.c_char_p(fstype.encode()), ctypes.c_uint(FSOPEN_CLOEXEC)))
    try:
        for key, value in options:
            command = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
            _check(
                _sys(
                    "fsconfig",
                    ctypes.c_int(fs),
                    ctypes.c_uint(command),
                    ctypes.c_char_p(key.encode()),
                    ctypes.c_char_p(_b(value)),
                    ctypes.c_int(0),
                ),
                f"{fstype} option {key}",
            )
        _check(
            _sys(
                "fsconfig",
                ctypes.c_int(fs),
                ctypes.c_uint(FSCONFIG_CMD_CREATE),
                None,
                None,
                ctypes.c_int(0),
            ),
            fstype,
        )
        return _check(
            _sys("fsmount", ctypes.c_int(fs), ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(attrs))
        )
    finally:
        os.close(fs)


def clone_tree(path: str, readonly: bool = False, userns_fd: int = -1) -> int:
    """A detached copy of the mount tree at `path` (a recursive bind, not attached yet), as
    an fd for `move_mount_to`. It is made a slave: mounts under it on the host still show
    through it, none made through it reach the host. Read-only all through with `readonly`;
    idmapped through the user namespace `userns_fd` when one is given (EINVAL: the
    filesystem cannot be idmapped)."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE
    at_fdcwd = ctypes.c_int(-100)
    fd = _check(_sys("open_tree", at_fdcwd, ctypes.c_char_p(_b(path)), ctypes.c_uint(flags)), path)
    attrs = (MOUNT_ATTR_RDONLY if readonly else 0) | (MOUNT_ATTR_IDMAP if userns_fd >= 0 else 0)
    # struct mount_attr: attr_set, attr_clr, propagation, userns_fd
    attr = struct.pack("QQQQ", attrs, 0, MS_SLAVE, max(userns_fd, 0))
    try:
        _check(
            _sys(
                "mount_setattr",
                ctypes.c_int(fd),
                ctypes.c_char_p(b""),
                ctypes.c_uint(AT_EMPTY_PATH | AT_RECURSIVE),
                ctypes.c_char_p(attr),
                ctypes.c_size_t(len(attr)),
            ),
            path,
        )
    except BaseException:
        os.close(fd)
        raise
    return fd


def move_mount_to(mount_fd: int, target_fd: int) -> None:
    """Attach a detached mount (from `fsmount_new`) onto the directory `target_fd` is open on."""
    _check(
        _sys(
            "move_mount",
            ctypes.c_int(mount_fd),
            ctypes.c_char_p(b""),
            ctypes.c_int(target_fd),
            ctypes.c_char_p(b""),
            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
        )
    )


BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


class _BpfProgLoad(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("pad", ctypes.c_uint8 * 64),  # the rest of union bpf_attr, zeroed
    ]


class _BpfProgAttach(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("pad", ctypes.c_uint8 * 64),
    ]


def bpf_load_device_program(insns: bytes) -> int:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program; its fd. The verifier's log is in the
    error when the kernel refuses it."""
    code = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(16384)
    attr = _BpfProgLoad(
        prog_type=BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt=len(insns) // 8,
        insns=ctypes.addressof(code),
        license=ctypes.addressof(license),
        log_level=1,
        log_size=len(log),
        log_buf=ctypes.addressof(log),
    )
    fd = _sys(
        "bpf", ctypes.c_int(BPF_PROG_LOAD), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr))
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{os.strerror(err)}: {log.value.decode(errors='replace')[-500:]}")
    return fd


def bpf_attach_device_program(cgroup_fd: int, prog_fd: int) -> None:
    """Attach to a cgroup2 directory; ALLOW_MULTI, so an init inside may add its own below."""
    attr = _BpfProgAttach(
        target_fd=cgroup_fd,
        attach_bpf_fd=prog_fd,
        attach_type=BPF_CGROUP_DEVICE,
        attach_flags=BPF_F_ALLOW_MULTI,
    )
    _check(
        _sys(
            "bpf",
            ctypes.c_int(BPF_PROG_ATTACH),
            ctypes.byref(attr),
            ctypes.c_uint(ctypes.sizeof(attr)),
        )
    )


# struct statx is 256 bytes; stx_mask is its first u32, stx_mnt_id the u64 at byte 144.
_STATX_SIZE = 256
_STX_MNT_ID_OFFSET = 144


def mount_id(dirfd: int, name: str = "") -> int:
    """The id of the mount a file lives on, without following a final symlink.

    Bind mounts from the same filesystem share st_dev, so only the mount id tells
    whether a directory is a mount point.
    """
    buf = ctypes.create_string_buffer(_STATX_SIZE)
    flags = AT_SYMLINK_NOFOLLOW | (AT_EMPTY_PATH if name == "" else 0)
    _check(
        _libc.statx(
            ctypes.c_int(dirfd),
            ctypes.c_char_p(os.fsencode(name)),
            ctypes.c_int(flags),
            ctypes.c_uint(STATX_MNT_ID),
            buf,
        ),
        name,
    )
    (mask,) = struct.unpack_from("=I", buf, 0)
    if not mask & STATX_MNT_ID:
        raise OSError(95, "statx does not report mount ids", name)
    (mnt_id,) = struct.unpack_from("=Q", buf, _STX_MNT_ID_OFFSET)
    return int(mnt_id)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def clear_inheritable_and_ambient() -> None:
    """Empty the inheritable and ambient sets (runc CVE-2022-29162)."""
    _change_capabilities(lambda part: setattr(part, "inheritable", 0))
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def _change_capabilities(change: Callable[[_CapData], None]) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data))
    for part in data:
        change(part)
    _check(_libc.capset(ctypes.byref(header), data))


def set_fs_ids(uid: int, gid: int) -> None:
    """Files this thread creates from now on are `uid`'s and `gid`'s, its access otherwise
    unchanged: leaving fsuid 0 drops the file capabilities from the effective set, so they
    are raised back from the permitted set."""
    _libc.setfsgid(gid)
    _libc.setfsuid(uid)
    _change_capabilities(lambda part: setattr(part, "effective", part.permitted))


def drop_bounding(capabilities: list[int]) -> None:
    for cap in capabilities:
        prctl(PR_CAPBSET_DROP, cap)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0)


_IFREQ = struct.Struct("16sH22x")  # struct ifreq: the interface's name, then its flags
_IFF_UP = 0x1


def _ioctl(name: str) -> int:
    return _number(_IOCTLS, name)


def unlock_pty(master: int) -> None:
    fcntl.ioctl(master, _ioctl("TIOCSPTLCK"), struct.pack("i", 0))


def open_pty_peer(master: int, flags: int) -> int:
    """The other end of the pty `master`, opened through it: no path to swap meanwhile."""
    return fcntl.ioctl(master, _ioctl("TIOCGPTPEER"), flags)


def set_link_up(sock: int, name: str) -> None:
    """Bring the network interface `name` up; `sock`: any socket of its namespace."""
    ifreq = _IFREQ.unpack(fcntl.ioctl(sock, _ioctl("SIOCGIFFLAGS"), _IFREQ.pack(name.encode(), 0)))
    fcntl.ioctl(sock, _ioctl("SIOCSIFFLAGS"), _IFREQ.pack(ifreq[0], ifreq[1] | _IFF_UP))


# struct loop_config: the backing file's fd, the block size, struct loop_info64 (whose
# lo_flags is the u32 at byte 52 of it), reserved.
_LOOP_CONFIG = struct.Struct("II52xI176x64x")
LO_FLAGS_AUTOCLEAR = 4


def loop_attach(backing: int) -> int:
    """An fd of a free loop device set up on the open file `backing`. The device detaches
    itself at its last close (autoclear): mount it before closing the fd, and the mount
    keeps it until its unmount."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        number = fcntl.ioctl(control, _ioctl("LOOP_CTL_GET_FREE"))
    finally:
        os.close(control)
    device = os.open(f"/dev/loop{number}", os.O_RDWR | os.O_CLOEXEC)
    try:
        config = _LOOP_CONFIG.pack(backing, 0, LO_FLAGS_AUTOCLEAR)
        fcntl.ioctl(device, _ioctl("LOOP_CONFIGURE"), config)
    except BaseException:
        os.close(device)
        raise
    return device


# struct btrfs_ioctl_vol_args: an fd, then a name (4088 bytes); _v2: fd, transid, flags, 32
# bytes of union, then a name (4040 bytes).
_VOL_ARGS = struct.Struct("q4088s")
_VOL_ARGS_V2 = struct.Struct("qQQ32x4040s")
BTRFS_SUBVOL_RDONLY = 1 << 1
_BTRFS_SUBVOL_SPEC_BY_ID = 1 << 4
_QUOTA_CTL = struct.Struct("QQ")
_BTRFS_QUOTA_CTL_ENABLE = 1
_QGROUP_LIMIT = struct.Struct("QQQQQQ")  # qgroupid, then flags, max_rfer, max_excl, rsv_*
_BTRFS_QGROUP_LIMIT_MAX_RFER = 1


def _ioctl_buffer(fd: int, name: str, args: bytes) -> None:
    # In a mutable buffer: fcntl.ioctl copies at most 1024 bytes of an immutable one.
    fcntl.ioctl(fd, _ioctl(name), bytearray(args))


def syncfs(fd: int) -> None:
    """Write the filesystem of `fd` to disk, all of it (a consistent snapshot's first step)."""
    _check(_libc.syncfs(fd))


def btrfs_subvolume_create(parent: int, name: str) -> None:
    """A new, empty subvolume `name` in the btrfs directory `parent`."""
    _ioctl_buffer(parent, "BTRFS_IOC_SUBVOL_CREATE", _VOL_ARGS.pack(0, os.fsencode(name)))


def btrfs_snapshot(source: int, parent: int, name: str, readonly: bool = False) -> None:
    """A snapshot of the subvolume `source` (an fd of its top) as `name` in `parent`."""
    flags = BTRFS_SUBVOL_RDONLY if readonly else 0
    args = _VOL_ARGS_V2.pack(source, 0, flags, os.fsencode(name))
    _ioctl_buffer(parent, "BTRFS_IOC_SNAP_CREATE_V2", args)


def btrfs_subvolume_delete(parent: int, name: str) -> None:
    """Delete the subvolume `name` of `parent` (it must hold no other subvolume)."""
    _ioctl_buffer(parent, "BTRFS_IOC_SNAP_DESTROY", _VOL_ARGS.pack(0, os.fsencode(name)))


_INO_LOOKUP = struct.Struct("QQ4080x")  # treeid, objectid, name
_FS_INFO_SIZE = 1024  # struct btrfs_ioctl_fs_info_args; its fsid: 16 bytes at offset 16
_BTRFS_FIRST_FREE_OBJECTID = 256  # a subvolume's top directory


def btrfs_subvolume_id(subvolume: int) -> int:
    """The id of the subvolume whose top `subvolume` is an fd of (its qgroup is 0/id)."""
    args = bytearray(_INO_LOOKUP.pack(0, _BTRFS_FIRST_FREE_OBJECTID))
    fcntl.ioctl(subvolume, _ioctl("BTRFS_IOC_INO_LOOKUP"), args)
    return int(_INO_LOOKUP.unpack(bytes(args))[0])


# struct btrfs_ioctl_search_key: tree, min/max objectid, min/max offset, min/max transid,
# min/max type, nr_items, then 36 bytes unused; the results follow it in a 4096-byte buffer,
# each a struct btrfs_ioctl_search_header (transid, objectid, offset, type, len) and its item.
_SEARCH_KEY = struct.Struct("7Q3I36x")
_SEARCH_HEADER = struct.Struct("3Q2I")
_BTRFS_ROOT_TREE = 1
_BTRFS_ROOT_REF_KEY = 156  # (parent, ROOT_REF, child): `child`'s directory entry is in `parent`
_U64_MAX = (1 << 64) - 1


def btrfs_subvolume_children(fs: int, subvolume: int) -> list[int]:
    """The ids of the subvolumes whose directory entry is in the subvolume `subvolume` (btrfs's
    own record of them, its ROOT_REF items; `fs`: any fd on the filesystem; needs root)."""
    found: list[int] = []
    start = 0
    while True:
        key = _SEARCH_KEY.pack(
            _BTRFS_ROOT_TREE, subvolume, subvolume, start, _U64_MAX, 0, _U64_MAX,
            _BTRFS_ROOT_REF_KEY, _BTRFS_ROOT_REF_KEY, 4096,
        )  # fmt: skip
        args = bytearray(key.ljust(4096, b"\0"))
        fcntl.ioctl(fs, _ioctl("BTRFS_IOC_TREE_SEARCH"), args)
        count = _SEARCH_KEY.unpack_from(args)[9]
        if count == 0:
            return found
        at = _SEARCH_KEY.size
        for _ in range(count):
            _, _, child, _, size = _SEARCH_HEADER.unpack_from(args, at)
            found.append(child)
            at += _SEARCH_HEADER.size + size
        start = child + 1


def btrfs_subvolume_delete_id(fs: int, subvolume: int) -> None:
    """Delete the subvolume of id `subvolume` (it must hold no other) wherever it is on the
    filesystem of `fs`: no name to look up, so nothing in a tree can redirect it."""
    args = _VOL_ARGS_V2.pack(0, 0, _BTRFS_SUBVOL_SPEC_BY_ID, struct.pack("Q", subvolume))
    _ioctl_buffer(fs, "BTRFS_IOC_SNAP_DESTROY_V2", args)


# struct file_handle (its size, its type) holding a struct btrfs_fid without the parent's
# fields: the inode (a subvolume's top), the subvolume, the generation (0: any).
_BTRFS_HANDLE = struct.Struct("=IiQQI")
_FILEID_BTRFS_WITHOUT_PARENT = 0x4D


def btrfs_open_subvolume(fs: int, subvolume: int) -> int:
    """An fd of the top of the subvolume of id `subvolume` on the filesystem of `fs`, opened
    by its file handle: no path is resolved."""
    size = _BTRFS_HANDLE.size - 8  # f_handle's bytes, after the two ints
    top = _BTRFS_FIRST_FREE_OBJECTID
    handle = _BTRFS_HANDLE.pack(size, _FILEID_BTRFS_WITHOUT_PARENT, top, subvolume, 0)
    return _check(_libc.open_by_handle_at(fs, handle, os.O_RDONLY | os.O_CLOEXEC))


def btrfs_set_writable(subvolume: int) -> None:
    """Clear the read-only flag of the subvolume whose top `subvolume` is an fd of."""
    fcntl.ioctl(subvolume, _ioctl("BTRFS_IOC_SUBVOL_SETFLAGS"), struct.pack("Q", 0))


def btrfs_fsid(fd: int) -> str:
    """The uuid of the btrfs filesystem `fd` is on, as /sys/fs/btrfs names it."""
    args = bytearray(_FS_INFO_SIZE)
    fcntl.ioctl(fd, _ioctl("BTRFS_IOC_FS_INFO"), args)
    raw = bytes(args[16:32]).hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def btrfs_quota_enable(fs: int) -> None:
    fcntl.ioctl(fs, _ioctl("BTRFS_IOC_QUOTA_CTL"), _QUOTA_CTL.pack(_BTRFS_QUOTA_CTL_ENABLE, 0))


def btrfs_qgroup_limit(subvolume: int, max_bytes: int | None) -> None:
    """Cap what the subvolume `subvolume` (an fd of its top) refers to (None: no cap)."""
    limit = (1 << 64) - 1 if max_bytes is None else max_bytes
    args = _QGROUP_LIMIT.pack(0, _BTRFS_QGROUP_LIMIT_MAX_RFER, limit, 0, 0, 0)
    fcntl.ioctl(subvolume, _ioctl("BTRFS_IOC_QGROUP_LIMIT"), args)


# libseccomp's ABI (seccomp.h, stable since 2.4): actions, filter attributes, comparisons.
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_ACT_ERRNO = 0x00050000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_NNP = 3
SCMP_FLTATR_API_SYSRAWRC = 9
SCMP_CMP_MASKED_EQ = 7


def scmp_act_errno(err: int) -> int:
    """The action "fail with errno `err`" (SCMP_ACT_ERRNO)."""
    return _SCMP_ACT_ERRNO | (err & 0xFFFF)


class _ScmpArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp: argument `arg` compared with `op` to datum_a (and datum_b)."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


_libseccomp: ctypes.CDLL | None = None


def _seccomp() -> ctypes.CDLL:
    """libseccomp, loaded at its first use: only a container's start needs it, and it must
    come from the host (before pivot_root), not from the container's tree."""
    global _libseccomp
    if _libseccomp is None:
        lib = ctypes.CDLL("libseccomp.so.2")
        ctx = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_init.restype = ctx
        lib.seccomp_release.argtypes = [ctx]
        lib.seccomp_release.restype = None
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_attr_set.argtypes = [ctx, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [
            ctx,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ScmpArgCmp),
        ]
        lib.seccomp_load.argtypes = [ctx]
        _libseccomp = lib
    return _libseccomp


def _scmp_check(result: int, what: str | None = None) -> int:
    """libseccomp returns -errno itself (it leaves errno alone)."""
    if result < 0:
        raise OSError(-result, os.strerror(-result), what)
    return result


def seccomp_init(default_action: int) -> int:
    """A new filter context (an opaque pointer) with the native architecture alone."""
    return _scmp_check(_seccomp().seccomp_init(default_action) or -errno.EINVAL)


def seccomp_release(ctx: int) -> None:
    _seccomp().seccomp_release(ctx)


def seccomp_syscall_resolve_name(name: str) -> int:
    """`name`'s number on this machine; negative when it has none here (-1: libseccomp does
    not know the name, below -1: a syscall of other architectures, which rules ignore)."""
    return int(_seccomp().seccomp_syscall_resolve_name(name.encode()))


def seccomp_attr_set(ctx: int, attr: int, value: int) -> None:
    _scmp_check(_seccomp().seccomp_attr_set(ctx, attr, value))


def seccomp_rule_add(
    ctx: int, action: int, syscall: int, *compare: tuple[int, int, int, int]
) -> None:
    """A rule; with comparisons (arg, op, datum_a, datum_b), only calls whose arguments pass
    all of them take it."""
    cmps = (_ScmpArgCmp * len(compare))(*(_ScmpArgCmp(*c) for c in compare))
    _scmp_check(_seccomp().seccomp_rule_add_array(ctx, action, syscall, len(compare), cmps))


def seccomp_load(ctx: int) -> None:
    """Load the filter into the calling thread; it applies from here on and across exec."""
    _scmp_check(_seccomp().seccomp_load(ctx))
