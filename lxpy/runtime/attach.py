"""`lxpy attach`: run a command inside a running container.

The CLI process stays on the host and relays a pty (or pipes); a child joins the container:
its cgroup first, then every namespace at once through a pidfd (so a reused pid can never
be joined), its user namespace too when it has one, then forks once more so the command is
inside the container's pid namespace. Both children are non-dumpable until exec (runc
CVE-2016-9962, LXC CVE-2016-8649), keep no host fd but the pty or pipes, and no byte of the
host's environment. The pty is allocated from the container's own devpts, so TIOCSTI from
the command reaches only lxpy's relay, never the user's terminal.

What the container's files decide (the user, its groups, the pty) is read from the host
before anything joins, through init's root and never blocking: a FIFO, a device or a huge
file planted there is a one-line error, not a hang.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import stat
import sys
import termios
import tty
from collections.abc import Iterator, Sequence

from lxpy.errors import NotFound, StateError, UnsafePath
from lxpy.linux import hostbin, safefs, seccomp, syscalls, userns
from lxpy.linux.caps import drop_capabilities
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.proc import ProcessRef, reset_signals, wipe_environ
from lxpy.linux.rootfs import TTY_GID
from lxpy.records import Record, replace
from lxpy.runtime import DEFAULT_PATH

SHELLS = ("/bin/bash", "/usr/bin/bash", "/bin/zsh", "/usr/bin/zsh", "/bin/ash", "/bin/sh")
EXIT_NO_COMMAND = 127
# Far above any real /etc/passwd or /etc/group; what is larger is refused, not read.
ACCOUNTS_LIMIT = 4 << 20


class AttachRequest(Record):
    command: tuple[str, ...] = ()  # empty: a login shell found in the container
    user: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    # The container's seccomp policy ([security] privileged and syscalls.allow): the command
    # runs under the same filter as the container's init.
    privileged: bool = False
    allow: tuple[str, ...] = ()


class Account(Record):
    """A user as the container knows it: its ids are the container's, not the host's."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str
    groups: tuple[int, ...] = ()  # every group of the user, its primary one among them


ROOT = Account("root", 0, 0, "/root", "", (0,))


@contextlib.contextmanager
def container_root(init: ProcessRef) -> Iterator[int]:
    """init's root directory (O_PATH): paths below it resolve inside the container."""
    root = os.open(f"/proc/{init.pid}/root", syscalls.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not init.alive():  # the pid was reused since the container's init was recorded
            raise StateError("the container stopped before attach could join it")
        yield root
    finally:
        os.close(root)


def account_of(root: int, user: str | None) -> Account:
    """`user` (name or uid; None: root) with its groups, from the container's /etc/passwd
    and /etc/group under `root` (see `container_root`). UnsafePath if either is unusable (a
    FIFO, a device, a symlink, a huge file)."""
    account = account_in(_accounts_file(root, "passwd"), user)
    return replace(account, groups=groups_in(_accounts_file(root, "group"), account))


def attaching_as(root: int, user: str | None, warn: bool = True) -> Account:
    """`account_of`, except that the default attach as root gets in whatever those files
    are (with a warning on stderr): it is how one repairs such a container, and root needs
    nothing from them."""
    try:
        return account_of(root, user)
    except UnsafePath as e:
        if user is not None:
            raise
        if warn:
            print(f"lxpy: warning: {e.message}; attaching as root without it", file=sys.stderr)
        return ROOT


def _accounts_file(root: int, name: str) -> str:
    """The text of /etc/`name`; empty when there is none (root needs nothing from it)."""
    try:
        data = safefs.read_regular(
            root, f"etc/{name}", ACCOUNTS_LIMIT, f"the container's /etc/{name}"
        )
    except FileNotFoundError:
        return ""
    return data.decode(errors="replace")


def account_in(passwd: str, user: str | None) -> Account:
    """`user` (name or uid; None: root) as the /etc/passwd text `passwd` has it."""
    wanted = user or "root"
    for line in passwd.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or not parts[2].isdigit() or not parts[3].isdigit():
            continue
        if wanted in (parts[0], parts[2]):
            return Account(parts[0], int(parts[2]), int(parts[3]), parts[5] or "/", parts[6])
    if user is None or user in ("root", "0"):
        return ROOT
    if user.isdigit():
        return Account(user, int(user), int(user), "/", "")
    raise NotFound(f"no user {user!r} in the container's /etc/passwd")


def groups_in(group: str, account: Account) -> tuple[int, ...]:
    """The account's primary group and those the /etc/group text `group` lists it in."""
    groups = {account.gid}
    for line in group.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and account.name in parts[3].split(","):
            groups.add(int(parts[2]))
    return tuple(sorted(groups))


def find_shell(account: Account) -> str | None:
    for path in _shell_candidates(account):
        if os.access(path, os.X_OK):
            return path
    return None


def _shell_candidates(account: Account) -> list[str]:
    given = [account.shell] if account.shell.startswith("/") else []
    return given + list(SHELLS)


def shell_in(init: ProcessRef, user: str | None = None) -> str | None:
    """From the host, before attaching: the shell `attach` would start for `user`, looked up
    in init's root and resolved inside it (a symlink there never leads to the host's)."""
    with container_root(init) as root:
        account = attaching_as(root, user, warn=False)  # attach says it, on its terminal
        return next((p for p in _shell_candidates(account) if safefs.exists(root, p)), None)


NO_SHELL = "the container has no shell (looked for " + ", ".join(SHELLS) + ")"


def environment(
    account: Account, request: AttachRequest, shell: str | None, term: str | None
) -> dict[str, str]:
    """A clean environment: the container's PATH, never the host's; the user's TERM."""
    env = {
        "PATH": DEFAULT_PATH,
        "HOME": account.home,
        "USER": account.name,
        "LOGNAME": account.name,
        "container": "lxpy",
    }
    if shell:
        env["SHELL"] = shell
    if term:
        env["TERM"] = term
    env.update(request.env)
    return env


def namespaces_of(pid: int) -> int:
    """The namespaces to join to be where `pid` (a container's init) is: always the
    container's own, and its user namespace when it is not ours (joining the one we are in
    is EINVAL)."""
    if userns.is_ours(pid):
        return syscalls.CONTAINER_NAMESPACES
    return syscalls.CONTAINER_NAMESPACES | syscalls.CLONE_NEWUSER


def enter(pidfd: int, pid: int) -> None:
    """Join the namespaces of the process `pidfd` refers to (`pid`), all at once. Through
    the pidfd, so a reused `pid` is never joined: setns fails once that process is gone, and
    while it lives `pid` is still it. The caller must already be in the container's cgroup:
    from inside its user namespace, the host's cgroup files are no longer ours to write."""
    syscalls.setns(pidfd, namespaces_of(pid))
    # Joining a user namespace changes credentials, which can make the process dumpable.
    syscalls.set_dumpable(False)


def become(account: Account) -> None:
    """Take the account's ids, as the container numbers them (in its user namespace, if it
    has one: the kernel maps them), with exactly its groups, none of the host's."""
    os.setgroups(list(account.groups or (account.gid,)))
    os.setresgid(account.gid, account.gid, account.gid)
    os.setresuid(account.uid, account.uid, account.uid)
    # Changing credentials can reset the flag: set it again until exec.
    syscalls.set_dumpable(False)


class _Entry(Record):
    """What the entering processes carry in: all of it made on the host, before joining."""

    request: AttachRequest
    account: Account
    term: str | None
    ends: list[int]  # the command's stdin, stdout and stderr
    policy: seccomp.Filter
    trampoline: int | None


def attach(init: ProcessRef, cgroups: ContainerCgroups, request: AttachRequest) -> int:
    """Run the request inside the container of `init`; return the command's exit status."""
    # libseccomp is the host's: the filter is built here and loaded inside, before exec.
    policy = seccomp.build(request.privileged, request.allow)
    pidfd: int | None = None
    try:
        pidfd = init.pidfd()
        if pidfd is None:
            raise StateError("the container stopped before attach could join it")
        with container_root(init) as root:
            account = attaching_as(root, request.user)
            # A terminal gets a pty from the container's devpts; anything else gets pipes,
            # so the command never holds one of the host's own file descriptors.
            if os.isatty(0):
                master, slave = open_container_pty(root)
                ends, ours = [slave, slave, slave], [master]
                # The user's own terminal, group tty, as login(1) leaves it: host root
                # opened it, an id the container's user namespace does not map.
                os.fchown(slave, *userns.Maps.of(init.pid).to_host(account.uid, TTY_GID))
            else:
                pipes = [os.pipe() for _ in range(3)]
                ends = [pipes[0][0], pipes[1][1], pipes[2][1]]
                ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        busybox = hostbin.static_busybox()
        trampoline = hostbin.sealed_copy(busybox) if busybox else None
        entry = _Entry(request, account, os.environ.get("TERM"), ends, policy, trampoline)
        syscalls.set_dumpable(False)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            for fd in ours:
                os.close(fd)
            _child(pidfd, init.pid, cgroups, entry)
    finally:
        policy.release()
        if pidfd is not None:
            os.close(pidfd)
    if trampoline is not None:
        os.close(trampoline)
    for fd in set(ends):
        os.close(fd)
    if len(ours) == 1:
        _relay_pty(ours[0])
    else:
        _relay_pipes(ours[0], [(ours[1], 1), (ours[2], 2)])
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def open_container_pty(root: int) -> tuple[int, int]:
    """A pty pair from the container's own devpts (`root`: see `container_root`): TIOCSTI
    from the command then reaches only lxpy's relay, never the user's terminal. /dev/ptmx is
    resolved inside the container's root, so a planted symlink cannot point it at a host
    file."""
    master = safefs.open_in(root, "dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    st = os.fstat(master)
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (5, 2):
        os.close(master)
        raise StateError("the container's /dev/ptmx is not a pty multiplexer")
    os.set_blocking(master, True)
    syscalls.unlock_pty(master)
    slave = syscalls.open_pty_peer(master, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave


def _child(pidfd: int, init_pid: int, cgroups: ContainerCgroups, entry: _Entry) -> None:
    """Join the container, fork into its pid namespace, wait, and pass the exit status on."""
    try:
        # The process that enters is visible inside until it execs; the user's environment
        # (tokens, agent sockets) must not be readable there in its /proc/PID/environ.
        wipe_environ()
        reset_signals()
        cgroups.enter_beside(init_pid)
        enter(pidfd, init_pid)
        os.close(pidfd)
        pid = os.fork()
        if pid == 0:
            _exec_inside(entry)
        # Holding the command's ends would keep the relay from ever seeing end-of-file.
        for fd in set(entry.ends):
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status))
    except BaseException as e:
        _die(f"lxpy: cannot join the container: {e}")


def resolve_command(name: str, path: str) -> str:
    """The file `name` runs, searched in the container's PATH (we are inside it by now)."""
    candidates = [name] if "/" in name else [f"{d or '.'}/{name}" for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(2, "not found", name)


def _exec_inside(entry: _Entry) -> None:
    request, account, ends, trampoline = entry.request, entry.account, entry.ends, entry.trampoline
    try:
        if ends[0] == ends[1]:
            os.setsid()
            fcntl.ioctl(ends[0], termios.TIOCSCTTY, 0)
        for stdio, fd in enumerate(ends):
            os.dup2(fd, stdio)
        # The container's filter, for good (the command and all it starts). Loaded without
        # no_new_privs, as init's is (setuid programs inside keep working), which needs
        # CAP_SYS_ADMIN: here, before `become` drops it for a user other than root.
        entry.policy.load()
        drop_capabilities()
        become(account)
        shell = find_shell(account)
        if request.command:
            argv = list(request.command)
        elif shell:
            argv = [shell, "-l"]
        else:
            _die(f"lxpy: {NO_SHELL}")
        try:
            os.chdir(request.cwd or account.home)
        except OSError:
            if request.cwd:
                raise
            os.chdir("/")
        env = environment(account, request, shell, entry.term)
        program = resolve_command(argv[0], env["PATH"])
        keep = -1 if trampoline is None else trampoline
        os.closerange(3, max(3, keep))
        os.closerange(max(3, keep + 1), 65536)
        if trampoline is None or "=" in program:
            os.execve(program, argv, env)
        # This process is the host's python: if the command were `#!/proc/self/exe`, the
        # container would get to run (and later write) it. Exec a sealed copy of the host's
        # busybox first, which then execs the command with a clean environment.
        pairs = [f"{key}={value}" for key, value in env.items()]
        os.execve(trampoline, ["env", "-i", *pairs, program, *argv[1:]], {})
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


class _Pump:
    """Copies `src` to `dst` without blocking on a full `dst` that we own (O_NONBLOCK): what
    it cannot take waits here, and `src` is not read again until it has gone. Both ways at
    once can never deadlock with a command that writes before it reads."""

    def __init__(self, src: int, dst: int) -> None:
        self.src = src
        self.dst = dst
        self.pending = b""
        self.eof = False

    @property
    def done(self) -> bool:
        return self.eof and not self.pending

    def read(self) -> bool:
        """True when data came (and waits to be written)."""
        try:
            data = os.read(self.src, 65536)
        except OSError:  # EIO: a pty whose other side is gone
            data = b""
        self.pending = data
        self.eof = not data
        return bool(data)

    def write(self) -> None:
        try:
            written = os.write(self.dst, self.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:  # the reader is gone: what is left has nowhere to go
            written = len(self.pending)
            self.eof = True
        self.pending = self.pending[written:]


def _pump(pumps: list[_Pump], until: Sequence[_Pump], wake: int | None = None) -> Iterator[None]:
    """Run the pumps until every one in `until` is done; yields whenever `wake` is readable
    (a signal arrived), and after each round, so the caller can act on finished pumps."""
    while not all(p.done for p in until):
        poller = select.poll()
        for p in pumps:
            if not p.eof and not p.pending:
                poller.register(p.src, select.POLLIN)
            elif p.pending:
                poller.register(p.dst, select.POLLOUT)
        if wake is not None:
            poller.register(wake, select.POLLIN)
        events = dict(poller.poll())
        if wake is not None and wake in events:
            os.read(wake, 64)
        for p in pumps:
            writable = bool(p.pending) and p.dst in events
            readable = not p.eof and not p.pending and p.src in events
            if writable or (readable and p.read()):
                p.write()
        yield


def _relay_pty(master: int) -> None:
    _copy_winsize(master)
    os.set_blocking(master, False)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
    keyboard, screen = _Pump(0, master), _Pump(master, 1)
    try:
        with raw_terminal(0):
            for _ in _pump([keyboard, screen], [screen], wake_r):
                _copy_winsize(master)
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)
        os.close(master)


def _relay_pipes(stdin_w: int, outputs: Sequence[tuple[int, int]]) -> None:
    """Copy our stdin into the command and its stdout/stderr out, until both outputs close."""
    os.set_blocking(stdin_w, False)
    feed = _Pump(0, stdin_w)
    outs = [_Pump(src, dst) for src, dst in outputs]
    stdin_open = True
    for _ in _pump([feed, *outs], outs):
        if stdin_open and feed.done:
            os.close(stdin_w)  # end-of-file for the command once all of ours went in
            stdin_open = False
    for p in outs:
        os.close(p.src)
    if stdin_open:
        os.close(stdin_w)
