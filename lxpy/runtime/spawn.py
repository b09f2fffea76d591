"""The children that become the container's init: cgroup, namespaces, rootfs, then exec.

Privileged, one child does it all (run_child), PID 1 of the pid namespace the monitor has
unshared. Unprivileged, PID 1 belongs to the container's user namespace from birth
(fork_pid1, run_pid1), and a builder beside it, host root in its pid namespace, mounts what
the container must not undo (build_namespaces). Everything is imported before pivot_root:
after it, the host's Python library is out of reach. Errors go back to the monitor as one
line on `errfd`; a successful exec closes `errfd` (O_CLOEXEC), which the monitor reads as
"init is running".
"""

from __future__ import annotations

import fcntl
import os
import socket
import termios

from lxpy.linux import rootfs, seccomp, syscalls
from lxpy.linux.caps import drop_capabilities
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.proc import reset_signals
from lxpy.linux.syscalls import O_PATH
from lxpy.runtime import DEFAULT_PATH, exec_failure

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this before it forks
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from lxpy.runtime.spec import MonitorSpec

    Fds = tuple[int, int, int]  # user namespace, network namespace, gate (-1: none)

# All but the pid namespace, which the monitor has made already.
NAMESPACES = syscalls.CONTAINER_NAMESPACES & ~syscalls.CLONE_NEWPID
# Made again inside the user namespace, to be owned by it: the mount namespace (a copy, with
# the host's mounts locked), the cgroup namespace (at the same root), UTS and IPC.
INNER_NAMESPACES = (
    syscalls.CLONE_NEWNS | syscalls.CLONE_NEWCGROUP | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC
)

# Where an init finds the monitor's notify socket (systemd's sd_notify: READY=1 at boot end).
NOTIFY_PATH = "/run/host/notify"


def _dashed(uuid: str) -> str:
    return f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"


def host_files(uuid: str) -> dict[str, str]:
    """/run/host/*: systemd's container interface, for any init that cares."""
    return {"container-manager": "lxpy\n", "container-uuid": _dashed(uuid) + "\n"}


def init_environment(uuid: str) -> dict[str, str]:
    return {
        "container": "lxpy",
        "container_uuid": _dashed(uuid),
        "PATH": DEFAULT_PATH,
        "TERM": "linux",
        "HOME": "/",
    }


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        syscalls.set_link_up(s.fileno(), "lo")


def take_console() -> None:
    """Make /dev/console init's controlling terminal and its stdio."""
    os.setsid()
    fd = os.open("/dev/console", os.O_RDWR)
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def _failed(errfd: int, step: str, e: BaseException) -> NoReturn:
    """Report the failed `step` to the monitor, then die."""
    detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    _die(errfd, f"{step}: {detail}")


def _die(errfd: int, line: str) -> NoReturn:
    """Tell the monitor why init cannot run (its one line), then die."""
    try:
        os.write(errfd, line.encode(errors="replace")[:4000])
    finally:
        os._exit(127)


def _setup_rootfs(spec: MonitorSpec, console: str, cgroups: ContainerCgroups, ids: Any) -> None:
    rootfs.setup(
        spec["rootfs"],
        console,
        cgroups.hierarchies
        if spec["cgroup_view"] != "unified"
        else [h for h in cgroups.hierarchies if h.version == 2],
        spec["overlay"],
        host_files(spec["uuid"]),
        spec["notify_socket"],
        spec["mounts"],
        ids,
    )


def run_child(
    spec: MonitorSpec, console: str, errfd: int, cgroups: ContainerCgroups, fds: Fds
) -> None:
    """A privileged container's init-to-be (PID 1 of its pid namespace, host root): sets up
    its namespaces and rootfs itself, then execs init. Never returns: on a failure it reports
    the step on `errfd` and exits 127; a successful exec closes `errfd` (O_CLOEXEC), which the
    monitor reads as "init is running"."""
    _, netns, gate = fds
    step = ENTERING_CGROUPS
    try:
        _begin(cgroups)
        step = "creating namespaces"
        if netns >= 0:
            syscalls.setns(netns, syscalls.CLONE_NEWNET)  # wired by `lxpy start`
            syscalls.unshare(NAMESPACES & ~syscalls.CLONE_NEWNET)
        else:
            syscalls.unshare(NAMESPACES)
        step = "building the seccomp filter"
        policy = seccomp.build(True, tuple(spec["syscalls_allowed"]))
        step = "setting up the root filesystem"
        _setup_rootfs(spec, console, cgroups, None)
    except BaseException as e:
        _failed(errfd, step, e)
    _finish(spec, errfd, gate, policy)


def fork_pid1(
    spec: MonitorSpec,
    errfd: int,
    cgroups: ContainerCgroups,
    fds: Fds,
    channels: tuple[int, int],
    pid_w: int,
) -> None:
    """An unprivileged container's first helper: joins its cgroup and network as host root,
    then its user namespace, makes a pid namespace there and forks init-to-be as its PID 1
    (see run_pid1) with `channels` (its end, the builder's); reports its host pid on `pid_w`
    and exits."""
    userns, netns, _ = fds
    channel, builders_end = channels
    step = ENTERING_CGROUPS
    try:
        _begin(cgroups)
        step = "entering the user namespace"
        syscalls.setns(netns, syscalls.CLONE_NEWNET)
        _become_root_of(userns)
        syscalls.unshare(syscalls.CLONE_NEWPID)
        pid = os.fork()
    except BaseException as e:
        _failed(errfd, step, e)
    if pid == 0:
        os.close(pid_w)
        os.close(builders_end)  # else a failed builder's exit would not end recv_fds
        run_pid1(spec, errfd, fds, channel)
    os.write(pid_w, str(pid).encode())
    os._exit(0)


def run_pid1(spec: MonitorSpec, errfd: int, fds: Fds, channel: int) -> None:
    """An unprivileged container's init-to-be, container root from birth: builds its seccomp
    filter (libseccomp is the host's), takes the namespaces build_namespaces made, execs."""
    step = "building the seccomp filter"
    try:
        policy = seccomp.build(spec["privileged"], tuple(spec["syscalls_allowed"]))
        step = "waiting for the root filesystem"
        _, namespaces, _, _ = socket.recv_fds(socket.socket(fileno=channel), 16, 8)
        if not namespaces:
            os._exit(127)  # the builder failed, and said why
        step = "entering the container's namespaces"
        for fd in namespaces:
            syscalls.setns(fd)
            os.close(fd)
    except BaseException as e:
        _failed(errfd, step, e)
    _finish(spec, errfd, fds[2], policy)


def build_namespaces(
    spec: MonitorSpec, console: str, errfd: int, cgroups: ContainerCgroups, fds: Fds, channel: int
) -> None:
    """Beside an unprivileged init-to-be in its pid namespace, as host root: mounts its root,
    /dev, /proc (of that pid namespace), /sys and /run in a mount namespace of the host's user
    namespace, pivots, then enters the container's user namespace and makes its mount, cgroup,
    UTS and IPC namespaces there, and sends them to init-to-be over `channel`.

    Entering the user namespace copies the mounts into one of its own, where the kernel locks
    them together with their read-only flags (mount_namespaces(7)): /proc masks cannot be
    unmounted, /proc/sys and /sys cannot be remounted writable."""
    userns, netns, _ = fds
    step = ENTERING_CGROUPS
    try:
        _begin(cgroups)
        step = "creating namespaces"
        syscalls.setns(netns, syscalls.CLONE_NEWNET)
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWCGROUP)
        step = "setting up the root filesystem"
        _setup_rootfs(
            spec, console, cgroups, rootfs.Idmapped(userns, spec["root_id"], spec["shifted"])
        )
        step = "entering the user namespace"
        _become_root_of(userns)
        syscalls.unshare(INNER_NAMESPACES)
        step = "handing the namespaces over"
        names = ("mnt", "cgroup", "uts", "ipc")
        made = [os.open(f"/proc/self/ns/{n}", os.O_RDONLY | os.O_CLOEXEC) for n in names]
        socket.send_fds(socket.socket(fileno=channel), [b"ns"], made)
    except BaseException as e:
        _failed(errfd, step, e)
    os._exit(0)


ENTERING_CGROUPS = "entering the container's cgroups"


def _begin(cgroups: ContainerCgroups) -> None:
    """What each child does first: the default signal dispositions back, and the
    container's cgroup joined while its files are still the host's to write."""
    reset_signals()
    cgroups.enter("ns")


def _become_root_of(userns: int) -> None:
    syscalls.setns(userns, syscalls.CLONE_NEWUSER)
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _finish(spec: MonitorSpec, errfd: int, gate: int, policy: seccomp.Filter) -> None:
    """Inside every namespace and the root: the last mounts, names, console, the gate, the
    seccomp filter, exec."""
    step = "mounting /dev/pts, /dev/shm and /dev/mqueue"
    try:
        rootfs.mount_dev_inside()
        step = "setting the hostname"
        socket.sethostname(spec["hostname"])
        step = "bringing up loopback"
        loopback_up()
        step = "dropping capabilities"
        drop_capabilities()
        step = "opening the console"
        take_console()
        os.umask(0o022)
        if gate >= 0:
            step = "waiting for the network"
            if os.read(gate, 1) != b"1":
                raise OSError(0, "`lxpy start` could not wire the NICs")
        os.closerange(3, errfd)
        os.closerange(errfd + 1, 65536)
        command = spec["command"]
        env = init_environment(spec["uuid"])
        if spec["notify_socket"]:
            env["NOTIFY_SOCKET"] = NOTIFY_PATH
        step = "loading the seccomp filter"
        policy.load()
        step = f"executing {command[0]}"
        try:
            os.execve(command[0], command, env)
        except OSError as e:
            # This process's root is the container's now: what is looked up is what exec saw.
            root = os.open("/", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            _die(errfd, exec_failure.explain(root, command[0], e))
    except BaseException as e:  # report anything, including KeyboardInterrupt, then die
        _failed(errfd, step, e)
