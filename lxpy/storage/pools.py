"""Storage pools: where containers and images may live besides the state root.

The state root itself is two built-in pools, `overlay` (layers over cached images) and
`dir` (plain trees). A `btrfs` pool is a btrfs filesystem lxpy manages: on a sparse loop
file it makes (`--size`, as Incus makes its default pool) or an existing btrfs mount
(`--source`). Its record is `lib/pools/NAME.toml`; a loop pool's file is `lib/pools/NAME.img`
and it is mounted at `lib/pools/NAME`, again whenever a command needs it after a reboot. Its
loop device detaches itself at the unmount (autoclear), so removing a pool leaves no device,
mount or file. Quotas (btrfs qgroups) are on from its creation.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass

from lxpy import names, units
from lxpy.config import ContainerConfig, settings
from lxpy.config.tomlfile import TomlFile, parse, read_text, record_names
from lxpy.errors import AlreadyExists, LxpyError, NotFound, StateError, UsageError
from lxpy.linux import safefs, syscalls
from lxpy.linux.atomic import write_atomic
from lxpy.linux.locks import locked_file
from lxpy.paths import Paths

BUILTIN = ("overlay", "dir")
BTRFS = "btrfs"
MIN_SIZE = 256 << 20  # mkfs.btrfs refuses much less; a container needs more anyway


@dataclass(frozen=True)
class Pool:
    """A pool: btrfs on a loop file of `size` bytes lxpy made, or at `source`; a built-in
    one's driver is its name and its source the state root."""

    name: str
    driver: str = BTRFS
    size: int = 0
    source: str = ""

    @property
    def loop(self) -> bool:
        return not self.source


@dataclass(frozen=True)
class Usage:
    """What `lxpy storage info` shows of a pool."""

    pool: Pool
    where: str  # its mount point
    size: int
    used: int
    free: int


def _dir(paths: Paths) -> str:
    return f"{paths.lib}/pools"


def mount_point(paths: Paths, pool: Pool) -> str:
    return pool.source or f"{_dir(paths)}/{pool.name}"


def _image(paths: Paths, name: str) -> str:
    return f"{_dir(paths)}/{name}.img"


def of(cfg: ContainerConfig) -> str:
    """The pool a container is in: a btrfs pool's name, or the built-in `overlay` or `dir`."""
    return cfg.storage.pool or str(cfg.storage.kind)


def names_of(paths: Paths) -> list[str]:
    return record_names(_dir(paths), names.is_valid)


def load(paths: Paths, name: str) -> Pool:
    _validate(name)
    path = f"{_dir(paths)}/{name}.toml"
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise NotFound(
            f"no storage pool named {name!r}", hint="`lxpy storage ls` lists them"
        ) from None
    top = TomlFile(path, text).top(parse(path, text), ("driver", "size", "source"))
    return Pool(
        name,
        top.get("driver", str, check=lambda d: None if d == BTRFS else f"expected {BTRFS!r}"),
        top.get("size", int, 0),
        top.get("source", str, ""),
    )


def _save(paths: Paths, pool: Pool) -> None:
    import tomli_w

    doc: dict[str, object] = {"driver": pool.driver}
    doc.update({"source": pool.source} if pool.source else {"size": pool.size})
    write_atomic(f"{_dir(paths)}/{pool.name}.toml", tomli_w.dumps(doc).encode(), fsync=True)


def _validate(name: str) -> None:
    if name in BUILTIN:
        raise UsageError(f"{name!r} is a built-in pool: the state root itself")
    if not names.is_valid(name):
        raise UsageError(
            f"invalid pool name {name!r}",
            hint="use 1-63 characters a-z, 0-9 and '-', not starting or ending with '-'",
        )


def create(paths: Paths, name: str, size: str | None = None, source: str | None = None) -> Pool:
    """A new btrfs pool: a sparse loop file of `size` (like 50G), or the btrfs at `source`."""
    _validate(name)
    if (size is None) == (source is None):
        raise UsageError("a btrfs pool needs --size (a loop file) or --source (a btrfs mount)")
    paths.ensure()
    os.makedirs(_dir(paths), mode=0o700, exist_ok=True)
    with _locked(paths):
        if os.path.exists(f"{_dir(paths)}/{name}.toml"):
            raise AlreadyExists(f"storage pool {name!r} exists", hint="pick another name")
        if source is not None:
            pool = Pool(name, source=os.path.abspath(source))
            if safefs.fstype(pool.source) != BTRFS:
                raise UsageError(f"{source}: not on a btrfs filesystem")
            _enable_quotas(pool.source)
        else:
            pool = Pool(name, size=_size(size))
            _make_loop_filesystem(paths, pool)
        _save(paths, pool)
    return pool


def _size(text: str | None) -> int:
    try:
        size = units.parse_size(text or "")
    except ValueError as e:
        raise UsageError(f"--size {text}: {e}") from None
    if size < MIN_SIZE:
        raise UsageError(f"--size {text}: a btrfs pool needs at least {units.size(MIN_SIZE)}")
    return size


def _make_loop_filesystem(paths: Paths, pool: Pool) -> None:
    image = _image(paths, pool.name)
    try:
        fd = os.open(image, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, pool.size)  # sparse: the disk is taken as it is written
        finally:
            os.close(fd)
        made = subprocess.run(["mkfs.btrfs", "-q", image], capture_output=True, text=True)
        if made.returncode != 0:
            raise LxpyError(
                f"mkfs.btrfs failed: {made.stderr.strip().splitlines()[-1:]}",
                hint="install btrfs-progs (contrib/install.sh does)",
            )
        os.makedirs(mount_point(paths, pool), mode=0o711, exist_ok=True)
        _mount_loop(paths, pool)
        _enable_quotas(mount_point(paths, pool))
    except BaseException:
        with contextlib.suppress(OSError):
            syscalls.umount2(mount_point(paths, pool))
        with contextlib.suppress(OSError):
            os.rmdir(mount_point(paths, pool))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(image)
        raise


def _mount_loop(paths: Paths, pool: Pool) -> None:
    backing = os.open(_image(paths, pool.name), os.O_RDWR | os.O_CLOEXEC)
    try:
        device = syscalls.loop_attach(backing)
    finally:
        os.close(backing)
    try:
        syscalls.mount(os.readlink(f"/proc/self/fd/{device}"), mount_point(paths, pool), BTRFS)
    finally:
        os.close(device)  # the mount holds the device now; without it, it detaches


def mounted(paths: Paths, pool: Pool) -> bool:
    """Whether the pool's filesystem is at its mount point now."""
    where = mount_point(paths, pool)
    # A loop pool's mount point is a directory of the state root until the pool is on it.
    return (bool(pool.source) or os.path.ismount(where)) and safefs.fstype(where) == BTRFS


def ensure_mounted(paths: Paths, pool: Pool) -> str:
    """The pool's mount point, mounted again first if a reboot took it away."""
    where = mount_point(paths, pool)
    if mounted(paths, pool):
        return where
    if pool.source:
        raise StateError(
            f"storage pool {pool.name!r}: {pool.source} is not a btrfs mount now",
            hint="mount it again (it is the pool's source)",
        )
    with _locked(paths):
        if not mounted(paths, pool):
            os.makedirs(where, mode=0o711, exist_ok=True)
            _mount_loop(paths, pool)
    return where


def users(paths: Paths, pool: Pool) -> list[str]:
    """The containers that keep files in the pool."""
    try:
        return [
            f"container {n}" for n in sorted(os.listdir(f"{mount_point(paths, pool)}/containers"))
        ]
    except FileNotFoundError:
        return []


def image_copies(paths: Paths, pool: Pool) -> list[str]:
    """The images the pool holds a copy of (KEY/BUILD, or KEY/BUILD/LAYER for a package
    layer), which its containers are snapshots of; `rm` deletes them with the pool."""
    where = f"{mount_point(paths, pool)}/images"
    try:
        keys = sorted(os.listdir(where))
    except FileNotFoundError:
        return []
    return [
        f"{key}/{build.replace('+', '/')}"
        for key in keys
        for build in sorted(os.listdir(f"{where}/{key}"))
        if not build.startswith(".")  # a copy being made
    ]


def remove(paths: Paths, name: str) -> None:
    """Remove a pool no container uses: its image copies deleted, unmounted (its loop
    device goes with it) and its file gone. A `--source` pool's filesystem is left as it is,
    but for those copies."""
    pool = load(paths, name)
    with _locked(paths):
        if settings.default_pool(paths) == name:
            raise StateError(
                f"storage pool {name!r} is the default pool",
                hint="`lxpy storage default overlay` (or another pool) first",
            )
        if mounted(paths, pool) and (used := users(paths, pool)):
            raise StateError(f"storage pool {name!r} is in use: {', '.join(used)}")
        if mounted(paths, pool):
            from lxpy.storage import btrfs  # it imports this module

            btrfs.remove_tree(f"{mount_point(paths, pool)}/images")  # the pool's image copies
        if pool.loop:
            if mounted(paths, pool):
                syscalls.umount2(mount_point(paths, pool))
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(mount_point(paths, pool))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_image(paths, name))
        os.unlink(f"{_dir(paths)}/{name}.toml")


def set_default(paths: Paths, name: str) -> None:
    """Make `name` the pool of containers created without one."""
    if name not in BUILTIN:
        load(paths, name)
    with _locked(paths):
        settings.set_default_pool(paths, name)


def usage(paths: Paths, name: str) -> Usage:
    """A pool's size, use and room; a built-in pool's are its filesystem's."""
    if name in BUILTIN:
        pool = Pool(name, driver=name, source=paths.lib)
        # Before the first container, the state root may not exist: its filesystem will.
        where = paths.lib if os.path.isdir(paths.lib) else os.path.dirname(paths.lib)
    else:
        pool = load(paths, name)
        where = ensure_mounted(paths, pool)
    st = os.statvfs(where)
    size = st.f_blocks * st.f_frsize
    used = size - st.f_bfree * st.f_frsize
    return Usage(pool, where, size, used, st.f_bavail * st.f_frsize)


def _enable_quotas(where: str) -> None:
    fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        syscalls.btrfs_quota_enable(fd)
    finally:
        os.close(fd)


def _locked(paths: Paths) -> contextlib.AbstractContextManager[None]:
    from lxpy.errors import Busy

    # One pool change at a time: two mounts of one loop file would corrupt it.
    return locked_file(paths.pools_lock, Busy("another lxpy command is changing pools"), 30.0)


def listing(paths: Paths) -> list[Usage]:
    """Every pool, the built-in ones first."""
    return [usage(paths, name) for name in (*BUILTIN, *names_of(paths))]
