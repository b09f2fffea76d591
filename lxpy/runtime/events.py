"""What happens to a root's containers, as one line of JSON per event in RUN/events: written
by the monitors (starting, running, oom, rebooted, stopping, stopped) and by the commands that
change a container without one (created, destroyed, frozen, thawed, snapshot), read by
`lxpy events` and `lxpy wait`.

One `write` of an O_APPEND file per event, far below PIPE_BUF: lines of several writers never
interleave. The file is rotated to `events.1` past MAX_BYTES; a reader follows the rename.
Imported by the monitor: standard library only, no json (a line is written from validated
names and fixed words; readers parse it with json).
"""

from __future__ import annotations

import io
import os
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FILE = "events"
MAX_BYTES = 1 << 20
# Every event a line may name, in the order a container lives them.
KINDS = (
    "created",
    "starting",
    "running",
    "oom",
    "rebooted",
    "frozen",
    "thawed",
    "snapshot",
    "stopping",
    "stopped",
    "destroyed",
)


def emit(run: str, name: str, kind: str, detail: str = "") -> None:
    """Record `kind` of container `name` in the root whose run dir is `run`. Never fails the
    caller: an event that cannot be written is only an event missed."""
    assert kind in KINDS, kind
    path = f"{run}/{FILE}"
    # `name` passed names.validate and `detail` is lxpy's own word: no quoting needed.
    line = f'{{"time": {time.time():.6f}, "container": "{name}", "event": "{kind}"'
    line += f', "detail": "{detail}"}}\n' if detail else "}\n"
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
    except OSError:
        return
    try:
        if os.fstat(fd).st_size >= MAX_BYTES:
            os.replace(path, f"{path}.1")  # a reader of the old file finishes it, then reopens
        os.write(fd, line.encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def follow(run: str, poll: float = 0.1, gone: Callable[[], bool] | None = None) -> Iterator[str]:
    """Lines written from now on, as they come; ends only once `gone()` says the reader has
    gone (asked while nothing comes: a reader over SSH leaves no signal behind, and a
    follower that waited for its next write to fail would outlive it until then)."""
    path = f"{run}/{FILE}"
    f = _open(path)
    f.seek(0, os.SEEK_END)
    pending = b""
    while True:
        chunk = f.read()
        if chunk:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
            continue
        if _rotated(path, f):
            f.close()
            f = _open(path)
            continue
        if gone is not None and gone():
            return
        time.sleep(poll)


def _open(path: str) -> io.FileIO:
    return io.FileIO(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))


def _rotated(path: str, f: io.FileIO) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False
