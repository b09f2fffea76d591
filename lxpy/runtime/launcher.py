"""Start monitors fast: a process forked at the very start of `lxpy start`, before the CLI's
imports, which then forks one monitor per container the CLI asks for.

Exec'ing a fresh interpreter for each monitor costs a whole Python start-up on the path to
"init runs"; forking the full CLI would give every monitor the CLI's memory. Forked this
early, the launcher holds little more than a bare interpreter, loads the monitor's modules
while the CLI reads configs, and its children stay as small as an exec'd monitor. The
launcher calls setsid and each monitor is its child (the double fork), so closing the
terminal never reaches a container. It exits when the CLI closes its request socket.

Each request carries a pipe of its own (SCM_RIGHTS) that the monitor reports on: a report
that comes after `lxpy start` stopped waiting stays in its own request's pipe, never read as
the next start's answer, and a monitor that dies before reporting closes it (EOF).

Only for a fresh single-threaded CLI: the TUI and other API users exec `lxpy monitor`.
"""

from __future__ import annotations

import _socket  # not socket: it imports enum and selectors, ~7 ms before the launcher forks
import gc
import marshal
import os
import select
import struct

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the launcher must stay small
if TYPE_CHECKING:
    from lxpy.runtime.spec import MonitorSpec

_FD = struct.Struct("i")
# A request is one SOCK_SEQPACKET message: the marshal'd spec, its report pipe attached.
MAX_SPEC = 1 << 16


class Launcher:
    def __init__(self, pid: int, requests: _socket.socket) -> None:
        self.pid = pid
        self.requests = requests
        self.report = -1

    @classmethod
    def fork(cls) -> Launcher:
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve_requests(theirs)
        theirs.close()
        return cls(pid, ours)

    def launch(self, spec: MonitorSpec) -> int:
        """Ask for a monitor; return the fd its one-line report will arrive on, a pipe of
        this request's own, open until the next launch or close."""
        self._close_report()
        self.report, report_w = os.pipe()
        try:
            self.requests.sendmsg(
                [marshal.dumps(dict(spec))],  # dict(): marshal is typed to take no TypedDict
                [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _FD.pack(report_w))],
            )
        finally:
            os.close(report_w)  # the monitor's copy is the only writer left
        return self.report

    def close(self) -> None:
        self._close_report()
        self.requests.close()
        os.waitpid(self.pid, 0)

    def _close_report(self) -> None:
        # A late report to a closed pipe fails with EPIPE in its monitor, which ignores that.
        if self.report >= 0:
            os.close(self.report)
            self.report = -1


def _serve_requests(requests: _socket.socket) -> None:
    """The launcher's life: load the monitor, then fork one per request; never returns."""
    code = 0
    try:
        os.setsid()
        # spawn too: the child that becomes init then starts with everything loaded.
        from lxpy.linux.cgroups import prime_migrations
        from lxpy.runtime import monitor, spawn  # noqa: F401

        # Frozen: the collector of a monitor never writes to these objects, which its
        # siblings (`lxpy start A B ...`) then share with it.
        gc.freeze()
        waiting = select.poll()
        waiting.register(requests.fileno(), select.POLLIN)
        while True:
            if not waiting.poll(0):
                # Idle while the CLI reads configs: the grace period the container's first
                # cgroup move would wait for passes now (see prime_migrations).
                prime_migrations()
            body, ancillary, flags, _ = requests.recvmsg(MAX_SPEC, _socket.CMSG_SPACE(_FD.size))
            if not body or flags & _socket.MSG_TRUNC or len(ancillary) != 1:
                break  # the CLI closed its end (or sent what it never sends)
            (report,) = _FD.unpack(ancillary[0][2])
            spec = marshal.loads(body)
            # No waiting for the report here: a monitor that hangs delays no other start.
            if os.fork() == 0:
                os._exit(monitor.serve(spec, report))
            os.close(report)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
