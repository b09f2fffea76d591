"""Files between hosts: one file or directory tree as a tar stream, what `lxpy file push
NAME - DST` reads and `lxpy file pull NAME SRC -` writes (a remote's file push and pull go
through them).

A stream is unpacked with tarfile's `data` filter into a fresh private directory: no
absolute path, no `..`, no link leading out of it or to an absolute path, no device node, no
setuid bit; its one top entry is then copied on as a local file would be.
"""

from __future__ import annotations

import os
import tarfile
import tempfile

from lxpy.errors import LxpyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


def send(path: str, name: str, out: IO[bytes]) -> None:
    """Write `path` (a file, or a tree) to `out` as a tar stream of one top entry, `name`."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        tar.add(path, arcname=name)


def receive(stream: IO[bytes], into: str) -> str:
    """Unpack the tar stream into the empty directory `into`; the path of its one top entry."""
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError) as e:
        raise LxpyError(f"a bad tar stream: {e}") from None
    entries = os.listdir(into)
    if len(entries) != 1:
        raise LxpyError(f"the tar stream holds {len(entries)} top entries, not one")
    return f"{into}/{entries[0]}"


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
