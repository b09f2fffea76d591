"""`lxpy attach`: run a command inside a running container.

The CLI process stays on the host and relays a pty (or pipes); a child joins the container:
its cgroup first, then every namespace at once through a pidfd (so a reused pid can never
be joined), then forks once more so the command is inside the container's pid namespace.
Both children are non-dumpable until exec (runc CVE-2016-9962, LXC CVE-2016-8649) and keep
no host fd but the pty or pipes. The pty is allocated from the container's own devpts, so
TIOCSTI from the command reaches only lxpy's relay, never the user's terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lxpy.errors import StateError
from lxpy.linux import syscalls
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.proc import ProcessRef
from lxpy.runtime import DEFAULT_PATH
from lxpy.runtime.spawn import drop_capabilities, reset_signals

ALL_NAMESPACES = (
    syscalls.CLONE_NEWNS
    | syscalls.CLONE_NEWUTS
    | syscalls.CLONE_NEWIPC
    | syscalls.CLONE_NEWNET
    | syscalls.CLONE_NEWPID
    | syscalls.CLONE_NEWCGROUP
)
SHELLS = ("/bin/bash", "/usr/bin/bash", "/bin/zsh", "/usr/bin/zsh", "/bin/ash", "/bin/sh")
_TIOCGPTPEER = 0x5441
_TIOCSPTLCK = 0x40045431
EXIT_NO_COMMAND = 127


@dataclass(frozen=True)
class AttachRequest:
    command: tuple[str, ...] = ()  # empty: a login shell found in the container
    user: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def lookup_account(user: str | None) -> Account:
    """Find `user` (name or uid) in the container's /etc/passwd; runs inside the container."""
    wanted = user or "root"
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) < 7 or not parts[2].isdigit() or not parts[3].isdigit():
                    continue
                if wanted in (parts[0], parts[2]):
                    return Account(
                        parts[0], int(parts[2]), int(parts[3]), parts[5] or "/", parts[6]
                    )
    except OSError:
        pass
    if user is None or user in ("root", "0"):
        return Account("root", 0, 0, "/root", "")
    if user.isdigit():
        return Account(user, int(user), int(user), "/", "")
    raise LookupError(f"no user {user!r} in the container's /etc/passwd")


def supplementary_groups(account: Account) -> list[int]:
    groups = {account.gid}
    try:
        with open("/etc/group", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 4 and parts[2].isdigit() and account.name in parts[3].split(","):
                    groups.add(int(parts[2]))
    except OSError:
        pass
    return sorted(groups)


def find_shell(account: Account) -> str | None:
    candidates = ([account.shell] if account.shell else []) + list(SHELLS)
    for path in candidates:
        if path.startswith("/") and os.access(path, os.X_OK):
            return path
    return None


def environment(account: Account, request: AttachRequest, shell: str | None) -> dict[str, str]:
    """A clean environment: the container's PATH, never the host's; TERM forwarded."""
    env = {
        "PATH": DEFAULT_PATH,
        "HOME": account.home,
        "USER": account.name,
        "LOGNAME": account.name,
        "container": "lxpy",
    }
    if shell:
        env["SHELL"] = shell
    term = os.environ.get("TERM")
    if term:
        env["TERM"] = term
    env.update(request.env)
    return env


def attach(init: ProcessRef, cgroups: ContainerCgroups, request: AttachRequest) -> int:
    """Run the request inside the container of `init`; return the command's exit status."""
    pidfd = init.pidfd()
    if pidfd is None:
        raise StateError("the container stopped before attach could join it")
    interactive = os.isatty(0)
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pipes = [] if interactive else [os.pipe() for _ in range(3)]
    syscalls.set_dumpable(False)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        parent_sock.close()
        _child(pidfd, cgroups, request, child_sock, pipes)
    os.close(pidfd)
    child_sock.close()
    if interactive:
        master = _receive_fd(parent_sock)
        parent_sock.close()
        if master is not None:
            _relay_pty(master)
    else:
        parent_sock.close()
        stdin_w = pipes[0][1]
        out_r, err_r = pipes[1][0], pipes[2][0]
        for r, w in pipes:
            # The parent keeps only its own ends.
            os.close(r if (r, w) == pipes[0] else w)
        _relay_pipes(stdin_w, [(out_r, 1), (err_r, 2)])
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _child(
    pidfd: int,
    cgroups: ContainerCgroups,
    request: AttachRequest,
    sock: socket.socket,
    pipes: list[tuple[int, int]],
) -> None:
    """Join the container, fork into its pid namespace, wait, and pass the exit status on."""
    try:
        reset_signals()
        cgroups.enter("ns")
        syscalls.setns(pidfd, ALL_NAMESPACES)
        os.close(pidfd)
        pid = os.fork()
        if pid == 0:
            _exec_inside(request, sock, pipes)
        sock.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status))
    except BaseException as e:
        _die(f"lxpy: cannot join the container: {e}")


def _exec_inside(request: AttachRequest, sock: socket.socket, pipes: list[tuple[int, int]]) -> None:
    try:
        if pipes:
            os.dup2(pipes[0][0], 0)
            os.dup2(pipes[1][1], 1)
            os.dup2(pipes[2][1], 2)
            for r, w in pipes:
                os.close(r)
                os.close(w)
        else:
            _take_container_pty(sock)
        sock.close()
        drop_capabilities()
        account = lookup_account(request.user)
        if account.uid != 0 or account.gid != 0:
            os.setgroups(supplementary_groups(account))
            os.setgid(account.gid)
            os.setuid(account.uid)
        # Changing credentials can reset the flag: set it again until exec.
        syscalls.set_dumpable(False)
        shell = find_shell(account)
        if request.command:
            argv = list(request.command)
        elif shell:
            argv = ["-" + os.path.basename(shell)]
        else:
            _die("lxpy: the container has no shell (looked for " + ", ".join(SHELLS) + ")")
        target = request.cwd or account.home
        try:
            os.chdir(target)
        except OSError:
            if request.cwd:
                raise
            os.chdir("/")
        env = environment(account, request, shell)
        os.closerange(3, 65536)
        if request.command:
            os.execvpe(argv[0], argv, env)
        assert shell is not None
        os.execve(shell, argv, env)
    except FileNotFoundError as e:
        missing = os.fsdecode(e.filename) if e.filename else (request.command or ("shell",))[0]
        _die(f"lxpy: {missing}: not found in the container")
    except BaseException as e:
        _die(f"lxpy: {e}", 126)


def _die(message: str, code: int = EXIT_NO_COMMAND) -> None:
    try:
        os.write(2, (message + "\r\n").encode(errors="replace"))
    finally:
        os._exit(code)


def _take_container_pty(sock: socket.socket) -> None:
    """Open a pty from the container's devpts, send its master to the host side, and make
    the slave our controlling terminal."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    socket.send_fds(sock, [b"m"], [master])
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _receive_fd(sock: socket.socket) -> int | None:
    try:
        _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    except OSError:
        return None
    return fds[0] if fds else None


def _copy_winsize(master: int) -> None:
    try:
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass


@contextlib.contextmanager
def raw_terminal(fd: int = 0) -> Iterator[None]:
    """Put the user's terminal in raw mode for the duration; always restored."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def _relay_pty(master: int) -> None:
    _copy_winsize(master)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
    try:
        with raw_terminal(0):
            stdin_open = True
            while True:
                fds = [master, wake_r] + ([0] if stdin_open else [])
                ready, _, _ = select.select(fds, [], [])
                if wake_r in ready:
                    os.read(wake_r, 64)
                    _copy_winsize(master)
                if master in ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    _write_all(1, data)
                if 0 in ready:
                    data = os.read(0, 65536)
                    if data:
                        _write_all(master, data)
                    else:
                        stdin_open = False
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)
        os.close(master)


def _relay_pipes(stdin_w: int, outputs: Sequence[tuple[int, int]]) -> None:
    """Copy our stdin into the command and its stdout/stderr out, until both outputs close."""
    sources = dict(outputs)
    stdin_open = True
    while sources:
        fds = list(sources) + ([0] if stdin_open else [])
        ready, _, _ = select.select(fds, [], [])
        for fd in ready:
            if fd == 0:
                data = os.read(0, 65536)
                if data:
                    try:
                        _write_all(stdin_w, data)
                    except BrokenPipeError:
                        data = b""
                if not data:
                    stdin_open = False
                    os.close(stdin_w)
                continue
            data = os.read(fd, 65536)
            if data:
                _write_all(sources[fd], data)
            else:
                os.close(fd)
                del sources[fd]
    if stdin_open:
        os.close(stdin_w)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
