"""What is left to remove once a container's init is gone: its processes, cgroups and run dir.

Shared by the monitor and by `lxpy stop` when the monitor is gone. Idempotent. Imported by
the monitor: standard library only.
"""

from __future__ import annotations

import os

from lxpy.linux.cgroups import ContainerCgroups

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def teardown(
    run_dir: str,
    cgroups: ContainerCgroups,
    published: Sequence[str] = (),
    monitor_left: Callable[[], None] | None = None,
) -> None:
    """`published`: the container's files in its networks' dnsmasq directories (its address
    reservation and its name), which go with it, as do its names in the host's /etc/hosts.
    `monitor_left`: see ContainerCgroups.remove."""
    if cgroups.pids():
        cgroups.kill_all()
    cgroups.remove(monitor_left=monitor_left)
    if published:
        from lxpy.net import dnsmasq

        dnsmasq.withdraw(published)
        # Before the run dir goes: its absence is STOPPED to every reader, and a stopped
        # container's names must be gone from the host by then.
        _forget_on_host(cgroups)
    # Every entry is ours: records, the socket, temp files of an interrupted write.
    try:
        entries = os.listdir(run_dir)
    except FileNotFoundError:
        return
    for name in entries:
        try:
            os.unlink(f"{run_dir}/{name}")
        except FileNotFoundError:
            pass
    try:
        os.rmdir(run_dir)
    except OSError:
        pass


def _forget_on_host(cgroups: ContainerCgroups) -> None:
    """A hosts file that cannot be written (a read-only /etc) is reported and stops
    nothing else (the next start, destroy or `network rm` tries again)."""
    from lxpy.net.hostsfile import HostsFile, best_effort

    with best_effort(cgroups.container):
        HostsFile().forget(cgroups.instance, cgroups.container)
