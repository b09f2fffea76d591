"""Start monitors fast: a process forked at the very start of `lxpy start`, before the CLI's
imports, which then forks one monitor per container the CLI asks for.

Exec'ing a fresh interpreter for each monitor costs a whole Python start-up on the path to
"init runs"; forking the full CLI would give every monitor the CLI's memory. Forked this
early, the launcher holds little more than a bare interpreter, loads the monitor's modules
while the CLI reads configs, and its children stay as small as an exec'd monitor. The
launcher calls setsid and each monitor is its child (the double fork), so closing the
terminal never reaches a container. It exits when the CLI closes its request pipe.

Only for a fresh single-threaded CLI: the TUI and other API users exec `lxpy monitor`.
"""

from __future__ import annotations

import marshal
import os
import struct

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the launcher must stay small
if TYPE_CHECKING:
    from typing import Any

_HEADER = struct.Struct("!I")
MAX_SPEC = 1 << 20


class Launcher:
    def __init__(self, pid: int, requests: int, reports: int) -> None:
        self.pid = pid
        self.requests = requests
        self.reports = reports

    @classmethod
    def fork(cls) -> Launcher:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(rep_r)
            _serve_requests(req_r, rep_w)
        os.close(req_r)
        os.close(rep_w)
        return cls(pid, req_w, rep_r)

    def launch(self, spec: dict[str, Any]) -> int:
        """Ask for a monitor; return the fd its one-line report will arrive on."""
        data = marshal.dumps(spec)
        os.write(self.requests, _HEADER.pack(len(data)) + data)
        return self.reports

    def close(self) -> None:
        os.close(self.requests)
        os.waitpid(self.pid, 0)


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        data = os.read(fd, size)
        if not data:
            return None
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < 65536:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def _serve_requests(requests: int, reports: int) -> None:
    """The launcher's life: load the monitor, then fork one per request; never returns."""
    code = 0
    try:
        os.setsid()
        # spawn too: the child that becomes init then starts with everything loaded.
        from lxpy.runtime import monitor, spawn  # noqa: F401

        while True:
            header = _read_exact(requests, _HEADER.size)
            if header is None:
                break
            (size,) = _HEADER.unpack(header)
            body = _read_exact(requests, size) if size <= MAX_SPEC else None
            if body is None:
                break
            spec = marshal.loads(body)
            # Each monitor reports on a pipe of its own, relayed here: a monitor that dies
            # before reporting closes it, where the shared pipe would just stay silent.
            own_r, own_w = os.pipe()
            if os.fork() == 0:
                os._exit(monitor.serve(spec, own_w))
            os.close(own_w)
            report = _read_line(own_r)
            os.close(own_r)
            if not report.endswith(b"\n"):
                report = b"error the monitor ended without a report\n"
            os.write(reports, report)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
