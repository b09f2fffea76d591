"""`lxpy export` and `lxpy import`: a container as one tar archive (zstd, or gzip).

Layout: `lxpy-export.toml` (format, name, snapshots), `config.toml`, `rootfs/...` (the
container's whole tree as it sees it: an overlay is exported merged), and with snapshots
`snapshots/SNAP/config.toml` and `snapshots/SNAP/rootfs/...`. Owners are numeric; xattrs,
file capabilities among them, travel as pax `SCHILY.xattr.*` records.

The tree is read through directory fds that never follow a symlink (os.fwalk) and never
leave its filesystem. An archive is untrusted input: import checks every member as it
comes and creates it through fds confined to the new container's directory, so a crafted
archive (`../` paths, absolute paths, a write through a symlink it made, a hard link to a
file it did not bring, a device node outside /dev, an oversized config) is refused before
anything of it lands anywhere else; what it made so far is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from lxpy import config, store
from lxpy.config import ContainerConfig, Nic, Security, Storage, StorageKind, tomlfile
from lxpy.config.tomlfile import TomlFile
from lxpy.errors import LxpyError, UsageError
from lxpy.linux import fcaps, safefs
from lxpy.linux.safefs import Root
from lxpy.linux.userns import OVERFLOW_ID, Maps
from lxpy.names import validate
from lxpy.paths import Paths
from lxpy.storage import layers, overlay, secrets, shift

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.storage import Runtime

FORMAT = 1
METADATA = "lxpy-export.toml"
MAX_CONFIG = 64 * 1024  # a config (or the metadata) bigger than this is not one of ours
XATTR = "SCHILY.xattr."
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
LANDS_IN = "dir"  # the pool of an import (`lxpy move` takes it on to another)


class BadArchive(LxpyError):
    """An archive that is not a sound lxpy export; nothing of it is kept."""


@dataclass(frozen=True)
class Counted:
    files: int
    bytes: int
    seconds: float


# -- export -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _compressed_writer(path: str, named: str) -> Iterator[IO[bytes]]:
    """A stream into `path`, compressed as the name `named` says: zstd for .tar.zst/.tzst
    (the zstd tool), gzip for .tar.gz/.tgz, plain tar for .tar."""
    if named.endswith((".tar.zst", ".tzst")):
        if shutil.which("zstd") is None:
            raise UsageError("zstd is not installed", hint="install it, or export to FILE.tar.gz")
        with open(path, "wb") as out:
            proc = subprocess.Popen(
                ["zstd", "-q", "-T0", "-3", "-c"], stdin=subprocess.PIPE, stdout=out
            )
            assert proc.stdin is not None
            try:
                yield proc.stdin
            finally:
                proc.stdin.close()
                if proc.wait() != 0:
                    raise LxpyError(f"zstd failed writing {path}")
        return
    if named.endswith((".tar.gz", ".tgz")):
        import gzip

        with gzip.open(path, "wb", compresslevel=6) as out:
            yield out  # type: ignore[misc]
        return
    if named.endswith(".tar"):
        with open(path, "wb") as out:
            yield out
        return
    raise UsageError(f"{named}: name it FILE.tar.zst, FILE.tar.gz or FILE.tar")


def export(
    paths: Paths,
    runtime: Runtime,
    name: str,
    path: str,
    snapshots: bool,
    progress: Callable[[int], None],
) -> Counted:
    """Write the container (and with `snapshots`, its snapshots) to one archive at `path`; a
    running container is paused while its files are read. `progress` hears the bytes
    written so far."""
    cfg = store.load(paths, name)
    snaps = [
        (snap, layers.snapshot_config(paths, name, snap))
        for snap in (layers.snapshot_names(paths, name) if snapshots else [])
    ]
    # Locked: a snapshot taken meanwhile would thaw it, or find it paused and not pause it.
    with store.locked(paths, name), runtime.paused(paths, name):
        return _write_archive(paths, runtime, name, cfg, snaps, path, progress)


def _write_archive(
    paths: Paths,
    runtime: Runtime,
    name: str,
    cfg: ContainerConfig,
    snapshots: list[tuple[str, ContainerConfig]],
    path: str,
    progress: Callable[[int], None],
) -> Counted:
    began = time.monotonic()
    total = [0, 0]
    partial = f"{path}.partial"
    try:
        with (
            _compressed_writer(partial, path) as stream,
            tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            names = ", ".join(f'"{s}"' for s, _ in snapshots)
            meta = f'format = {FORMAT}\nname = "{name}"\nsnapshots = [{names}]\n'
            _add_bytes(tar, METADATA, meta.encode())
            _add_bytes(tar, "config.toml", config.dump(cfg).encode())
            with runtime.root(paths, name) as root:
                _add_tree(tar, root, "rootfs", total, progress)
            for snap, snap_cfg in snapshots:
                _add_bytes(tar, f"snapshots/{snap}/config.toml", config.dump(snap_cfg).encode())
                with _snapshot_root(paths, name, snap, snap_cfg, shift.maps(cfg)) as root:
                    _add_tree(tar, root, f"snapshots/{snap}/rootfs", total, progress)
        os.rename(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return Counted(total[0], total[1], time.monotonic() - began)


@contextlib.contextmanager
def _snapshot_root(
    paths: Paths, name: str, snap: str, cfg: ContainerConfig, maps: Maps
) -> Iterator[Root]:
    """The tree of snapshot `snap`, its ids on disk as `maps` says."""
    fd = overlay.open_snapshot(paths, name, snap, cfg)
    try:
        yield Root(fd, maps)
    finally:
        os.close(fd)


def _add_bytes(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_tree(
    tar: tarfile.TarFile, root: Root, prefix: str, total: list[int], progress: Callable[[int], None]
) -> None:
    """The tree under `root`, with the container's own ids (a running container's `/`
    shows the host's)."""
    device = os.fstat(root.fd).st_dev
    seen: dict[tuple[int, int], str] = {}  # (dev, inode) of files with links: the first name
    top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root.fd)
    try:
        for where, dirs, files, dirfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            here = posixpath.normpath(posixpath.join(prefix, where))
            st = os.fstat(dirfd)
            info = _info(here, st, root.maps)
            info.pax_headers = _xattrs(dirfd, root.maps)
            tar.addfile(info)
            # /proc, /sys and the like of a running container: not its files.
            dirs[:] = [d for d in dirs if _same_device(dirfd, d, device)]
            for entry in sorted(files + [d for d in dirs if _is_link(dirfd, d)]):
                _add_entry(tar, dirfd, entry, f"{here}/{entry}", root.maps, seen, total)
            progress(total[1])
    finally:
        os.close(top)


def _same_device(dirfd: int, name: str, device: int) -> bool:
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    return not stat.S_ISDIR(st.st_mode) or st.st_dev == device


def _is_link(dirfd: int, name: str) -> bool:
    return stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)


def _info(arcname: str, st: os.stat_result, maps: Maps) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    # An id the map lacks is the kernel's overflow id on the host already: nobody inside.
    info.uid, info.gid = (
        i if i >= 0 else OVERFLOW_ID for i in maps.from_host(st.st_uid, st.st_gid)
    )
    info.uname = info.gname = ""  # numeric owners: the host's names mean nothing inside
    info.mtime = int(st.st_mtime)
    info.type = tarfile.DIRTYPE if stat.S_ISDIR(st.st_mode) else tarfile.REGTYPE
    return info


def _xattrs(fd: int, maps: Maps) -> dict[str, str]:
    found = {}
    try:
        keys = os.listxattr(fd)
    except OSError:
        return {}
    for key in keys:
        with contextlib.suppress(OSError):
            value = os.getxattr(fd, key)
            if key == fcaps.NAME:  # for the container's root, not the range it ran in
                root = maps.from_host(fcaps.root_of(value), 0)[0]
                value = value if root < 0 else fcaps.with_root(value, root)
            found[XATTR + key] = value.decode("utf-8", "surrogateescape")
    return found


def _add_entry(
    tar: tarfile.TarFile,
    dirfd: int,
    name: str,
    arcname: str,
    maps: Maps,
    seen: dict[tuple[int, int], str],
    total: list[int],
) -> None:
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    info = _info(arcname, st, maps)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(name, dir_fd=dirfd)
        tar.addfile(info)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in seen:
            info.type, info.linkname = tarfile.LNKTYPE, seen[key]
            tar.addfile(info)
            return
        seen[key] = arcname
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            info.pax_headers = _xattrs(fd, maps)
            info.size = st.st_size
            with os.fdopen(fd, "rb", closefd=False) as f:
                tar.addfile(info, f)
        finally:
            os.close(fd)
        total[1] += st.st_size
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        info.type = (
            tarfile.CHRTYPE
            if stat.S_ISCHR(mode)
            else tarfile.BLKTYPE
            if stat.S_ISBLK(mode)
            else tarfile.FIFOTYPE
        )
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(info)
    else:
        return  # sockets belong to the processes that made them
    total[0] += 1


# -- import -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _reader(path: str) -> Iterator[IO[bytes]]:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None
    if magic.startswith(ZSTD_MAGIC):
        if shutil.which("zstd") is None:
            raise UsageError("zstd is not installed", hint="it reads .tar.zst archives")
        proc = subprocess.Popen(["zstd", "-q", "-d", "-c", path], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        try:
            yield proc.stdout
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
        return
    if magic.startswith(GZIP_MAGIC):
        import gzip

        with gzip.open(path, "rb") as g:
            yield g  # type: ignore[misc]
        return
    with open(path, "rb") as f:
        yield f


@dataclass
class _Target:
    """Where members land: the new container's directory, and what came so far."""

    fd: int
    links: set[str]  # symlink members: no later member may go through one
    files: set[str]  # regular files: the only things a hard link may name
    dirs: list[tuple[str, tarfile.TarInfo]]  # owners and modes set last, deepest first


def import_(
    paths: Paths, path: str, name: str | None, progress: Callable[[int], None]
) -> tuple[str, Counted]:
    """Read an export into a new container (`name`, or the one in the archive)."""
    began = time.monotonic()
    size = [0, 0]
    paths.ensure()
    # Named after the container once the archive says which; until then, after this run.
    partial = store.new_partial(paths, name or f"import-{os.getpid()}")
    meta: dict[str, Any] = {}
    try:
        target = _Target(safefs.open_tree(partial), set(), set(), [])
        try:
            with _reader(path) as stream:
                try:
                    with tarfile.open(fileobj=stream, mode="r|") as tar:
                        for member in tar:
                            _member(tar, member, target, meta, size)
                            progress(size[1])
                except (tarfile.TarError, EOFError) as e:
                    raise BadArchive(f"{path}: not a readable tar archive: {e}") from None
            _finish_dirs(target)
        finally:
            os.close(target.fd)
        chosen = _check(partial, meta, name, path)
        with store.locked(paths, chosen):
            _settle(paths, partial, chosen, meta)
            store.commit_partial(paths, partial, chosen)
    except BaseException:
        safefs.remove_tree(partial)
        raise
    return chosen, Counted(size[0], size[1], time.monotonic() - began)


def _bad(member: tarfile.TarInfo, why: str) -> BadArchive:
    return BadArchive(
        f"refusing the archive: {member.name!r}: {why}",
        hint="it is not an lxpy export, or it was altered",
    )


def _where(member: tarfile.TarInfo) -> str:
    """The member's path, checked: relative, no `..`, inside one of the export's trees."""
    raw = member.name
    if raw.startswith("/") or "\\" in raw or "\0" in raw:
        raise _bad(member, "an absolute or odd path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts:
        raise _bad(member, "an empty path")
    if ".." in parts:
        raise _bad(member, "a path that climbs out with ..")
    rel = "/".join(parts)
    if rel in (METADATA, "config.toml") or rel in ("rootfs", "snapshots"):
        return rel
    if rel.startswith("rootfs/"):
        return rel
    if parts[0] == "snapshots" and len(parts) >= 2:
        try:
            validate(parts[1])
        except LxpyError:
            raise _bad(member, "not a snapshot name") from None
        if len(parts) == 2 or parts[2:] == ["config.toml"] or parts[2] == "rootfs":
            return rel
    raise _bad(member, "not part of an lxpy export")


def _tree_root(rel: str) -> str:
    """The rootfs a path belongs to ("rootfs" or "snapshots/S/rootfs"), or ""."""
    parts = rel.split("/")
    if parts[0] == "rootfs":
        return "rootfs"
    if len(parts) >= 3 and parts[0] == "snapshots" and parts[2] == "rootfs":
        return "/".join(parts[:3])
    return ""


def _member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    target: _Target,
    meta: dict[str, Any],
    size: list[int],
) -> None:
    rel = _where(member)
    for i in range(1, rel.count("/") + 1):
        if rel.rsplit("/", i)[0] in target.links:
            raise _bad(member, "a path through a symlink the archive made")
    parent, _, leaf = rel.rpartition("/")
    root = _tree_root(rel)
    if not root and (rel in (METADATA, "config.toml") or rel.endswith("/config.toml")):
        if not member.isreg() or member.size > MAX_CONFIG:
            raise _bad(member, f"a config must be a file of at most {MAX_CONFIG} bytes")
        f = tar.extractfile(member)
        assert f is not None
        meta[rel] = f.read()
        return
    if member.isdir():
        os.close(_dir(target, rel, member))
        target.dirs.append((rel, member))
        return
    if not root or rel == root:
        raise _bad(member, "only directories and configs outside a rootfs")
    dirfd = _dir(target, parent, member)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leaf, dir_fd=dirfd)  # an earlier member of the same name
        # Whatever it was, it is not that any more: a hard link may not name it now.
        target.files.discard(rel)
        if member.issym():
            os.symlink(member.linkname, leaf, dir_fd=dirfd)
            os.chown(leaf, member.uid, member.gid, dir_fd=dirfd, follow_symlinks=False)
            target.links.add(rel)
        elif member.islnk():
            source = "/".join(p for p in member.linkname.split("/") if p not in ("", "."))
            if source not in target.files or _tree_root(source) != _tree_root(rel):
                raise _bad(member, "a hard link to something the archive did not bring")
            src_parent, _, src_leaf = source.rpartition("/")
            srcfd = _dir(target, src_parent, member)
            try:
                os.link(src_leaf, leaf, src_dir_fd=srcfd, dst_dir_fd=dirfd, follow_symlinks=False)
            finally:
                os.close(srcfd)
        elif member.isreg():
            _write(tar, member, dirfd, leaf)
            target.files.add(rel)
            size[1] += member.size
        elif member.ischr() or member.isfifo():
            if member.ischr() and not rel.startswith(f"{root}/dev/"):
                raise _bad(member, "a device node outside /dev")
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFIFO
            os.mknod(
                leaf,
                kind | (member.mode & 0o7777),
                os.makedev(member.devmajor, member.devminor),
                dir_fd=dirfd,
            )
            os.chown(leaf, member.uid, member.gid, dir_fd=dirfd, follow_symlinks=False)
            os.chmod(leaf, member.mode & 0o7777, dir_fd=dirfd)  # mknod's mode met the umask
        else:
            raise _bad(member, "an entry of a kind an export never holds")
    finally:
        os.close(dirfd)
    size[0] += 1


def _dir(target: _Target, rel: str, member: tarfile.TarInfo) -> int:
    """A readable fd for the directory `rel` of the new tree, made if missing. An export
    never goes through a symlink, so no path here may: one the archive made (even under a
    second, hard-linked name) ends the import."""
    try:
        return safefs.make_dir(target.fd, rel, 0o700, resolve=safefs.NO_LINKS)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
            raise _bad(member, "a path through a symlink the archive made") from None
        raise


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, dirfd: int, leaf: str) -> None:
    fd = os.open(
        leaf,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=dirfd,
    )
    try:
        source = tar.extractfile(member)
        assert source is not None
        while chunk := source.read(CHUNK):
            safefs.write_all(fd, chunk)
        _set_attributes(fd, member)
    finally:
        os.close(fd)


# What a container's files may carry in: capabilities, ACLs, user attributes. Not trusted.*
# (overlayfs keeps its own state there, and these trees become overlay layers) nor other
# security.* labels, which are the host's policy to set.
XATTRS_KEPT = (
    "user.",
    "security.capability",
    "system.posix_acl_access",
    "system.posix_acl_default",
)


def _set_attributes(fd: int, member: tarfile.TarInfo) -> None:
    """The member's owner, mode, xattrs and time on what `fd` names."""
    # Owner first: a chown clears file capabilities, which the xattrs then bring back.
    os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, member.mode & 0o7777)
    for key, value in member.pax_headers.items():
        name = key[len(XATTR) :]
        if key.startswith(XATTR) and name.startswith(XATTRS_KEPT):
            os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
    os.utime(fd, (member.mtime, member.mtime))


def _finish_dirs(target: _Target) -> None:
    for rel, member in sorted(target.dirs, key=lambda d: d[0].count("/"), reverse=True):
        fd = safefs.open_in(
            target.fd,
            rel,
            os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
            resolve=safefs.NO_LINKS,
        )
        try:
            _set_attributes(fd, member)
        finally:
            os.close(fd)


def _check(partial: str, meta: dict[str, Any], name: str | None, path: str) -> str:
    """The archive's metadata and configs, checked; the new container's name."""
    if METADATA not in meta or "config.toml" not in meta:
        raise BadArchive(f"{path}: not an lxpy export (no {METADATA} or config.toml)")
    where = f"{path}:{METADATA}"
    try:
        text = meta[METADATA].decode()
    except UnicodeDecodeError as e:
        raise BadArchive(f"{where}: {e}") from None
    info = TomlFile(where, text, error=BadArchive, hint=None).top(
        tomlfile.parse(where, text, BadArchive, None), ("format", "name", "snapshots")
    )
    info.get("format", int, check=_check_format)
    chosen = validate(name or info.get("name", str, ""))
    snaps = list(info.strings("snapshots"))
    _parse(meta, "config.toml", path)
    if not os.path.isdir(f"{partial}/rootfs"):
        raise BadArchive(f"{path}: no rootfs in the archive")
    for snap in snaps:
        validate(snap)
        _parse(meta, f"snapshots/{snap}/config.toml", path)
        if not os.path.isdir(f"{partial}/snapshots/{snap}/rootfs"):
            raise BadArchive(f"{path}: snapshot {snap} has no rootfs")
    meta["snapshots"] = snaps
    return chosen


def _check_format(value: int) -> str | None:
    return None if value == FORMAT else f"export format {value}, this lxpy reads {FORMAT}"


def _parse(meta: dict[str, Any], key: str, path: str) -> ContainerConfig:
    if key not in meta:
        raise BadArchive(f"{path}: {key} is missing")
    try:
        return config.parse(f"{path}:{key}", meta[key].decode())
    except UnicodeDecodeError as e:
        raise BadArchive(f"{path}: {key}: {e}") from None


def _untrusted(cfg: ContainerConfig) -> ContainerConfig:
    """An archive's config without what reaches beyond the container: shared host folders,
    host ports, autostart at boot, pinned addresses, privilege, opened syscalls and another
    container's id range. Those are the importer's to give."""
    return cfg.with_changes(
        mounts=(),
        security=Security(),
        ports=(),
        autostart=False,
        network=tuple(Nic(nic.network) for nic in cfg.network),
    )


def _settle(paths: Paths, partial: str, name: str, meta: dict[str, Any]) -> None:
    """The imported tree as a container: its rootfs a plain directory (an export is merged),
    each snapshot's tree a layer its snapshot stands on. Through fds for `partial`, with no
    symlink allowed anywhere: it holds what the archive made."""

    cfg = _untrusted(_parse(meta, "config.toml", "archive"))
    config.save(f"{partial}/config.toml", cfg.with_changes(storage=Storage(StorageKind(LANDS_IN))))
    secrets.reset_tree(f"{partial}/rootfs", cfg.secrets)
    created = config.timestamp()
    top = safefs.open_tree(partial)
    try:
        for snap in meta["snapshots"]:
            layer = layers.new_id()
            kept = _open_dir(top, "layers", create=True)
            here = _open_dir(top, f"snapshots/{snap}")
            try:
                os.rename("rootfs", layer, src_dir_fd=here, dst_dir_fd=kept)
                snap_cfg = _untrusted(_parse(meta, f"snapshots/{snap}/config.toml", "archive"))
                stood = snap_cfg.with_changes(
                    storage=Storage(StorageKind.OVERLAY, "", (f"{name}/{layer}",))
                )
                safefs.replace_in(here, "config.toml", config.dump(stood).encode())
                safefs.replace_in(here, "created", f"{created}\n".encode())
            finally:
                os.close(kept)
                os.close(here)
    finally:
        os.close(top)


def _open_dir(top: int, rel: str, create: bool = False) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(rel, 0o700, dir_fd=top)
    return safefs.open_in(top, rel, flags, resolve=safefs.NO_LINKS)
