"""`lxpy console`: talk to the container's console through its monitor.

The monitor replays its ring buffer first, then streams live output. Ctrl-a q detaches;
Ctrl-a a sends a literal Ctrl-a.
"""

from __future__ import annotations

import os
import select

from lxpy.errors import StateError
from lxpy.runtime import control
from lxpy.runtime.attach import raw_terminal
from lxpy.runtime.monitor import RING_BYTES

ESCAPE = b"\x01"


def read_log(socket_path: str) -> bytes:
    try:
        return control.ask(socket_path, control.Log()).encode(errors="replace")
    except OSError as e:
        raise _unreachable(e) from None


def read_log_file(path: str, limit: int = RING_BYTES) -> bytes:
    """The last `limit` bytes of a console log file (O_NOFOLLOW: never a planted symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return b""
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - limit), os.SEEK_SET)
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _unreachable(e: OSError) -> StateError:
    return StateError(
        f"the console is unavailable: the monitor does not answer ({e.strerror or e})",
        hint="the monitor holds the console; after it was killed only attach and stop work",
    )


def interact(socket_path: str) -> None:
    try:
        sock = control.connect(socket_path, control.Console())
    except OSError as e:
        raise _unreachable(e) from None
    sock.setblocking(True)
    sock.settimeout(None)
    if os.isatty(0):
        os.write(2, b"Connected to the console; Ctrl-a q detaches.\r\n")
    escaped = False
    stdin_open = True
    with sock, raw_terminal(0):
        while True:
            fds = [sock.fileno()] + ([0] if stdin_open else [])
            ready, _, _ = select.select(fds, [], [])
            if sock.fileno() in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 1024)
                if not data:
                    stdin_open = False
                    continue
                out = bytearray()
                for byte in data:
                    char = bytes([byte])
                    if escaped:
                        escaped = False
                        if char in (b"q", b"Q"):
                            if os.isatty(0):
                                os.write(2, b"\r\nDetached.\r\n")
                            return
                        out += char
                    elif char == ESCAPE:
                        escaped = True
                    else:
                        out += char
                if out:
                    sock.sendall(bytes(out))
