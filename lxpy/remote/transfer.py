"""Files between hosts: one file or directory tree as a tar stream, what `lxpy file push
NAME - DST` reads and `lxpy file pull NAME SRC -` writes (a remote's file push and pull go
through them).

A stream is untrusted: it is unpacked into a fresh private directory, each member made
through fds confined to it (tarfile's own `data` filter is not in every Python 3.11: Debian
12's has none), with no absolute path, no `..`, no device node, no setuid bit; its one top
entry is then copied on as a local file would be.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from lxpy.errors import LxpyError
from lxpy.linux import safefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


def send(path: str, name: str, out: IO[bytes]) -> None:
    """Write `path` (a file, or a tree) to `out` as a tar stream of one top entry, `name`."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        tar.add(path, arcname=name)


def receive(stream: IO[bytes], into: str) -> str:
    """Unpack the tar stream into the empty directory `into`; the path of its one top entry."""
    rootfd = os.open(into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    top: str | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                rel = _inside(member.name)
                top = top or rel.split("/")[0]
                if rel.split("/")[0] != top:
                    raise LxpyError(f"the tar stream holds more than one top entry: {top}, {rel}")
                _unpack(tar, member, rootfd, rel)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise LxpyError(f"a bad tar stream: {e}") from None
    finally:
        os.close(rootfd)
    if top is None:
        raise LxpyError("an empty tar stream")
    return f"{into}/{top}"


def _inside(name: str) -> str:
    """The member's path below the directory unpacked into; none leads out of it."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts or not parts:
        raise LxpyError(f"a bad tar stream: {name!r} leads out of where it is unpacked")
    return "/".join(parts)


def _unpack(tar: tarfile.TarFile, member: tarfile.TarInfo, rootfd: int, rel: str) -> None:
    """One member, made through fds resolved inside `rootfd` (openat2 RESOLVE_IN_ROOT): a
    symlink the stream made earlier never leads a later member out. Setuid, setgid and
    sticky bits are dropped; devices and fifos are skipped, as a local push skips them."""
    mode = member.mode & 0o777
    if member.isdir():
        made = safefs.make_dir(rootfd, rel)
        os.fchmod(made, mode)
        os.close(made)
    elif member.issym():
        safefs.symlink(rootfd, rel, member.linkname)
    elif member.isreg() or member.islnk():
        data = tar.extractfile(member) if member.isreg() else None
        if member.islnk():  # a hard link: a copy of the file it names, unpacked already
            source = safefs.open_in(rootfd, _inside(member.linkname), os.O_RDONLY | os.O_CLOEXEC)
            data = os.fdopen(source, "rb")
        parent, name = os.path.split(rel)
        dirfd = safefs.make_dir(rootfd, parent)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(name, flags, mode, dir_fd=dirfd), "wb") as out:
                assert data is not None
                with data:
                    shutil.copyfileobj(data, out)
                os.fchmod(out.fileno(), mode)
        finally:
            os.close(dirfd)


def receive_into(stream: IO[bytes], dest: str) -> None:
    """Unpack the tar stream to the host's `dest`: into it when it is a directory (as cp
    does), else as it. Unpacked beside it first: a half-received file never takes its place."""
    into = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
    with tempfile.TemporaryDirectory(dir=into, prefix=".lxpy-pull-") as scratch:
        entry = receive(stream, scratch)
        final = os.path.join(dest, os.path.basename(entry)) if os.path.isdir(dest) else dest
        try:
            os.rename(entry, final)
        except OSError as e:
            raise LxpyError(f"{final}: {e.strerror}") from None
