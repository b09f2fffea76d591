"""The monitor spec: what `lxpy start` hands a monitor (marshal'd, through the launcher or on
an exec'd monitor's stdin), built by `lifecycle.monitor_spec` alone.

For the type checker only: at run time the spec is a plain dict and this module is empty, so
neither the monitor nor `lxpy start` imports typing for it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing this module costs nothing
if TYPE_CHECKING:
    from typing import Any, TypedDict

    class MonitorSpec(TypedDict):
        name: str
        rootfs: str
        overlay: list[tuple[str, str | None]] | None  # mount options; None: a plain directory
        cgroup_view: str  # "unified" (the v2 hierarchy alone) or "host"
        hostname: str
        uuid: str
        command: list[str]
        halt_signal: int
        run_dir: str
        console_log: str
        monitor_log: str
        instance: str
        limits: dict[str, Any]
        stop_timeout: float
        mounts: list[tuple[str, str, bool]]  # (host source, path inside, read-only)
        notify_socket: str | None  # for an init that reports readiness (systemd)
        # Unprivileged: the container's user namespace and the host id of its root (else
        # None and -1). Its network namespace, also with a NIC: the namespace `lxpy start`
        # wires, and then the pipe init waits at until it has; all /proc paths to `lxpy
        # start`'s fds.
        userns: str | None
        root_id: int
        shifted: bool  # its files carry host ids on disk: its root is not idmapped
        privileged: bool
        syscalls_allowed: list[str]  # opened past the seccomp filter
        netns: str | None
        gate: str | None
        dns_files: list[str]  # the container's files in its networks' dnsmasq directories
        # (proto, listen address, host port, eth0's address, port)
        ports: list[tuple[str, str, int, str, int]]
        dnsmasq: list[tuple[str, list[str]]]  # (network run dir, argv) to restart one
        # The state root's Paths fields: its disk is counted once it has stopped (overlay,
        # dir). None: its quota group counts it (btrfs).
        count_disk: list[str] | None
