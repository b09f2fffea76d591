"""The child that becomes the container's init: cgroup, namespaces, rootfs, then exec.

Runs right after the monitor forks (the monitor has already unshared the pid namespace, so
this process is PID 1 of a new one). Everything it needs is imported before pivot_root:
after it, the host's Python library is out of reach. Errors go back to the monitor as one
line on `errfd`; a successful exec closes `errfd` (O_CLOEXEC), which the monitor reads as
"init is running".
"""

from __future__ import annotations

import fcntl
import os
import socket
import termios

from lxpy.linux import rootfs, syscalls
from lxpy.linux.caps import drop_capabilities
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.proc import reset_signals
from lxpy.runtime import DEFAULT_PATH

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this before it forks
if TYPE_CHECKING:
    from lxpy.runtime.spec import MonitorSpec

# All but the pid namespace, which the monitor has made already.
NAMESPACES = syscalls.CONTAINER_NAMESPACES & ~syscalls.CLONE_NEWPID

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


def run_child(
    spec: MonitorSpec,
    console: str,
    errfd: int,
    cgroups: ContainerCgroups,
    netns: int,
    gate: int,
) -> None:
    """Never returns: execs init, or reports the failed step on `errfd` and exits 127."""
    step = "preparing"
    try:
        reset_signals()
        step = "entering the container's cgroups"
        cgroups.enter("ns")
        step = "creating namespaces"
        if netns >= 0:
            syscalls.setns(netns, syscalls.CLONE_NEWNET)  # wired by `lxpy start`
            syscalls.unshare(NAMESPACES & ~syscalls.CLONE_NEWNET)
        else:
            syscalls.unshare(NAMESPACES)
        step = "setting up the root filesystem"
        notify = spec["notify_socket"]
        rootfs.setup(
            spec["rootfs"],
            console,
            cgroups.hierarchies
            if spec["cgroup_view"] != "unified"
            else [h for h in cgroups.hierarchies if h.version == 2],
            spec["overlay"],
            host_files(spec["uuid"]),
            notify,
            spec["mounts"],
        )
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
        step = f"executing {command[0]}"
        env = init_environment(spec["uuid"])
        if notify:
            env["NOTIFY_SOCKET"] = NOTIFY_PATH
        os.execve(command[0], command, env)
    except BaseException as e:  # report anything, including KeyboardInterrupt, then die
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        message = f"{step}: {detail}"
        try:
            os.write(errfd, message.encode(errors="replace")[:4000])
        finally:
            os._exit(127)
