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

Shared: once its CLI is done, a launcher whose monitors still run stays on for its state
root (a child of it, so that the CLI's wait ends), listening on SHARED_SOCKET, and later
starts of that root have their monitors forked there rather than by their own launcher.
Monitors forked from one process share its pages (copy-on-write, with the objects frozen
against the collector): 20 monitors from 20 `lxpy start` commands then cost what 20 from one
command do. It refuses once a file it loaded has changed (an upgrade: a start must run the
code installed), it serves only starts made as its own CLI was (the same interpreter and
lxpy; the same resource limits, priority, CPUs, OOM adjustment and cgroups, which a monitor
passes on to init), and it ends with the last monitor it forked or its parent did.

Only for a fresh single-threaded CLI: the TUI and other API users exec `lxpy monitor`.
"""

from __future__ import annotations

import _socket  # not socket: it imports enum and selectors, ~7 ms before the launcher forks
import gc
import marshal
import os
import select
import struct
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the launcher must stay small
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any

    from lxpy.runtime.spec import MonitorSpec

    # The code, resource limits, priority, CPUs, oom_score_adj, cgroups (see _context).
    Context = tuple[list[str], list[tuple[int, int]], int, list[int], bytes, bytes]

_FD = struct.Struct("i")
# A request is one SOCK_SEQPACKET message: the marshal'd spec, its report pipe attached.
MAX_SPEC = 1 << 16
# The shared launcher of a state root: its socket and the lock its holder keeps, in the
# root's run dir (root-only), beside the containers' locks.
SHARED_SOCKET = "locks/.launcher.sock"
SHARED_LOCK = "locks/.launcher.lock"
# How long a start waits for the shared launcher to take its request. It answers before it
# forks, so a start that gives up never gets a second monitor from it, short of a launcher
# stopped for this long right between its answer and its fork.
SHARED_ANSWER_SECONDS = 10.0
# A shared launcher's answer: the request is taken (its monitor is forked next), or not.
TAKEN, REFUSED = b"1", b"0"


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
            fds = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _FD.pack(report_w))]
            if not _shared_launch(spec, fds):
                # dict(): marshal is typed to take no TypedDict
                self.requests.sendmsg([marshal.dumps(dict(spec))], fds)
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


def _root_run(run_dir: str) -> str:
    """The state root's run dir, from a container's (RUN/containers/NAME)."""
    return os.path.dirname(os.path.dirname(run_dir))


def _shared_launch(spec: MonitorSpec, fds: list[tuple[int, int, bytes]]) -> bool:
    """Hand the request to the root's shared launcher; False if there is none, or it
    refused (then nothing was forked for it)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(SHARED_ANSWER_SECONDS)
        sock.connect(f"{_root_run(spec['run_dir'])}/{SHARED_SOCKET}")
        sock.sendmsg([marshal.dumps((_context(), dict(spec)))], fds)
        return sock.recv(1) == TAKEN
    except OSError:  # none listens (ENOENT, ECONNREFUSED: a stale socket), or it went away
        return False
    finally:
        sock.close()


def _context() -> Context:
    """What a monitor takes from the process it is forked from, besides its spec: its code
    (the interpreter, this installation of lxpy), and what it passes on to the container's
    init (resource limits, scheduling priority and CPUs, OOM score adjustment, cgroups). A
    shared launcher serves only starts whose own are its own."""
    import resource

    limits = [getattr(resource, name) for name in sorted(dir(resource)) if name[:7] == "RLIMIT_"]
    with open("/proc/self/oom_score_adj", "rb") as f:
        oom = f.read()
    with open("/proc/self/cgroup", "rb") as f:
        cgroups = f.read()
    return (
        [sys.executable, __file__],
        [resource.getrlimit(limit) for limit in limits],
        os.getpriority(os.PRIO_PROCESS, 0),
        sorted(os.sched_getaffinity(0)),
        oom,
        cgroups,
    )


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
        monitors: list[int] = []  # pidfds
        run = ""
        while True:
            if not waiting.poll(0):
                # Idle while the CLI reads configs: the grace period the container's first
                # cgroup move would wait for passes now (see prime_migrations).
                prime_migrations()
            request = _receive(requests)
            if request is None:
                break  # the CLI closed its end (or sent what it never sends)
            spec, report = request
            run = _root_run(spec["run_dir"])
            monitors.append(_fork_monitor(monitor.serve, spec, report))
        if run and _running(monitors) and os.fork() == 0:
            _share(run, monitors, monitor.serve)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _receive(sock: _socket.socket) -> tuple[Any, int] | None:
    """A request's body (its spec; at a shared launcher, the starter's context with it) and
    its report fd, or None at EOF or for anything else."""
    body, ancillary, flags, _ = sock.recvmsg(MAX_SPEC, _socket.CMSG_SPACE(_FD.size))
    if not body or flags & _socket.MSG_TRUNC or len(ancillary) != 1:
        for _, _, data in ancillary:  # fds passed with what is refused
            for (fd,) in _FD.iter_unpack(data[: len(data) - len(data) % _FD.size]):
                os.close(fd)
        return None
    (report,) = _FD.unpack(ancillary[0][2])
    return marshal.loads(body), report


def _fork_monitor(serve: Callable[[MonitorSpec, int], int], spec: MonitorSpec, report: int) -> int:
    """Fork the monitor of `spec`; a pidfd for it. No waiting for its report here: a monitor
    that hangs delays no other start."""
    pid = os.fork()
    if pid == 0:
        os._exit(serve(spec, report))
    os.close(report)
    return os.pidfd_open(pid)


def _share(run: str, monitors: list[int], serve: Callable[[MonitorSpec, int], int]) -> None:
    """The shared launcher of the root whose run dir is `run`, while monitors it forked (or
    its parent did: `monitors`, pidfds) run; never returns."""
    import fcntl

    from lxpy.linux import syscalls
    from lxpy.runtime import control

    lock = os.open(
        f"{run}/{SHARED_LOCK}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
    )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os._exit(0)  # another launcher serves this root
    # Nothing of the CLI's stays open for as long as containers run: a caller reading its
    # output to EOF would wait, and its working directory would stay busy.
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = sorted({lock, *monitors})
    os.closerange(3, keep[0])
    for low, high in zip(keep, [*keep[1:], 65536], strict=True):
        os.closerange(low + 1, high)
    os.chdir("/")
    syscalls.set_process_name("lxpy launcher")
    syscalls.set_cmdline(["lxpy", "launcher"])
    context = _context()
    files = _loaded_files()
    loaded = (files, _stamps(files))
    path = f"{run}/{SHARED_SOCKET}"
    listener = control.listen(path, seqpacket=True)  # any left there is a dead launcher's
    try:
        while monitors:
            poller = select.poll()
            for fd in (listener.fileno(), *monitors):
                poller.register(fd, select.POLLIN)
            ready = {fd for fd, _ in poller.poll()}
            for pidfd in ready & set(monitors):
                monitors.remove(pidfd)
                _reap(pidfd)
            if listener.fileno() not in ready:
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                if not _take(conn, loaded, context, monitors, serve):
                    break  # upgraded: its own launcher serves the start, and the next ones
    finally:
        os.unlink(path)  # still ours: the lock is held until we exit
    os._exit(0)


def _take(
    conn: socket.socket,
    loaded: tuple[list[str], list[int]],
    context: Context,
    monitors: list[int],
    serve: Callable[[MonitorSpec, int], int],
) -> bool:
    """Serve one start that came to the shared launcher (if it was started as this
    launcher's first CLI was: `context`); False once it must stop sharing."""
    from lxpy.runtime import control

    try:
        conn.settimeout(1.0)  # a client that connects and sends nothing
        if control.peer_uid(conn) != 0:
            return True
        request = _receive(conn)
    except OSError:
        return True
    if request is None:
        return True
    body, report = request
    files, stamps = loaded
    fresh = _stamps(files) == stamps
    taken = fresh and isinstance(body, tuple) and len(body) == 2 and body[0] == context
    try:
        # Answered before the fork: a start that hears nothing falls back to its own
        # launcher, and gets no second monitor from here.
        conn.send(TAKEN if taken else REFUSED)
    except OSError:
        taken = False
    if taken:
        monitors.append(_fork_monitor(serve, body[1], report))
    else:
        os.close(report)
    return fresh


def _running(monitors: list[int]) -> bool:
    """Whether any of the monitors behind these pidfds still runs."""
    poller = select.poll()
    for pidfd in monitors:
        poller.register(pidfd, select.POLLIN)
    return len(poller.poll(0)) < len(monitors)


def _loaded_files() -> list[str]:
    """The interpreter and each module loaded from a file."""
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return [sys.executable, *sorted(f for f in files if isinstance(f, str))]


def _stamps(files: list[str]) -> list[int]:
    """Each file's modification time (-1: gone)."""
    stamps = []
    for path in files:
        try:
            stamps.append(os.stat(path).st_mtime_ns)
        except OSError:
            stamps.append(-1)
    return stamps


def _reap(pidfd: int) -> None:
    """Collect the monitor behind `pidfd` if it is our child (its own parent's are not)."""
    try:
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        pass
    os.close(pidfd)
