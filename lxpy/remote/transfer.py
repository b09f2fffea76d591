"""Files between hosts: one file or directory tree as a tar stream, what `lxpy file push
NAME - DST` reads and `lxpy file pull NAME SRC -` writes (a remote's file push and pull go
through them).

A stream is untrusted: it is unpacked into a fresh private directory, each member made
through fds confined to it (tarfile's own `data` filter is not in every Python 3.11: Debian
12's has none). Its one top entry must be a file or a directory; no path leads out, no
symlink it made is followed, a hard link is a link inside it (never a copy: a small stream
stays small on disk), and there is no device node, fifo, sparse member or setuid bit. The
top entry is then copied on as a local file would be.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile

from lxpy.errors import LxpyError
from lxpy.linux import safefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def send(path: str, name: str, out: IO[bytes]) -> None:
    """Write `path` (a file, or a tree) to `out` as a tar stream of one top entry, `name`."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        tar.add(path, arcname=name)


def send_open_file(fd: int, name: str, out: IO[bytes]) -> None:
    """Write the regular file open at `fd` to `out` as a tar stream of one file, `name`:
    read as it is, never copied anywhere first."""
    st = os.fstat(fd)
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime)
    with tarfile.open(fileobj=out, mode="w|") as tar, os.fdopen(os.dup(fd), "rb") as data:
        tar.addfile(info, data)


def receive(stream: IO[bytes], intofd: int) -> str:
    """Unpack the tar stream into the empty directory open at `intofd`; the name of its one
    top entry there."""
    top: str | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                rel = _inside(member.name)
                if top is None:
                    if not (member.isdir() or member.isreg()) or "/" in rel:
                        raise LxpyError(f"a bad tar stream: {rel!r} is no file or directory")
                    top = rel
                elif rel.split("/")[0] != top:
                    raise LxpyError(f"a bad tar stream: more than one top entry ({rel!r})")
                _unpack(tar, member, intofd, rel)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise LxpyError(f"a bad tar stream: {e}") from None
    if top is None:
        raise LxpyError("an empty tar stream")
    return top


def _inside(name: str) -> str:
    """The member's path below the directory unpacked into; none leads out of it."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts or not parts:
        raise LxpyError(f"a bad tar stream: {name!r} leads out of where it is unpacked")
    return "/".join(parts)


def _unpack(tar: tarfile.TarFile, member: tarfile.TarInfo, rootfd: int, rel: str) -> None:
    """One member, made through fds resolved inside `rootfd` (openat2 RESOLVE_IN_ROOT): a
    symlink the stream made earlier never leads a later member out. Devices and fifos are
    skipped, as a local push skips them."""
    mode = member.mode & 0o777
    if member.issparse():
        raise LxpyError(f"a bad tar stream: {rel!r} is a sparse member")
    if member.isdir():
        made = safefs.make_dir(rootfd, rel)
        os.fchmod(made, mode)
        os.close(made)
    elif member.issym():
        safefs.symlink(rootfd, rel, member.linkname)
    elif member.islnk():
        flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
        source = safefs.open_in(rootfd, _inside(member.linkname), flags)
        try:
            if not stat.S_ISREG(os.fstat(source).st_mode):
                raise LxpyError(f"a bad tar stream: {rel!r} links to no file")
            with _parent(rootfd, rel) as (dirfd, name):
                os.link(f"/proc/self/fd/{source}", name, dst_dir_fd=dirfd, follow_symlinks=True)
        finally:
            os.close(source)
    elif member.isreg():
        data = tar.extractfile(member)
        assert data is not None
        with _parent(rootfd, rel) as (dirfd, name):
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(name, flags, mode, dir_fd=dirfd), "wb") as out, data:
                shutil.copyfileobj(data, out)
                os.fchmod(out.fileno(), mode)  # the umask left out of the mode given


class _parent:
    """(an fd of the directory `rel` is in, resolved inside the root; its last name)."""

    def __init__(self, rootfd: int, rel: str) -> None:
        parent, self.name = os.path.split(rel)
        self.dirfd = safefs.make_dir(rootfd, parent)

    def __enter__(self) -> tuple[int, str]:
        return self.dirfd, self.name

    def __exit__(self, *exc: object) -> None:
        os.close(self.dirfd)


def receive_into(stream: IO[bytes], dest: str) -> None:
    """Unpack the tar stream to the host's `dest`: into it when it is a directory (as cp
    does), else as it. Unpacked beside it first, in a directory held open: a half-received
    file never takes its place, and nothing is moved by a path another user could swap."""
    into = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
    parent = os.open(into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    scratch_name = f".lxpy-pull-{os.urandom(6).hex()}"
    try:
        os.mkdir(scratch_name, 0o700, dir_fd=parent)
        scratch = os.open(scratch_name, _DIR_FLAGS, dir_fd=parent)
        try:
            top = receive(stream, scratch)
            final = top if into == dest else os.path.basename(dest)
            try:
                os.rename(top, final, src_dir_fd=scratch, dst_dir_fd=parent)
            except OSError as e:
                raise LxpyError(f"{os.path.join(into, final)}: {e.strerror}") from None
        finally:
            os.close(scratch)
            try:
                shutil.rmtree(scratch_name, dir_fd=parent)  # fd-based: follows no symlink
            except OSError:
                pass  # swapped by another user: theirs to remove, nothing of ours is in it
    finally:
        os.close(parent)
