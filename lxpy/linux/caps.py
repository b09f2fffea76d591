"""The capability sets a container's processes get."""

from __future__ import annotations

from lxpy.linux import syscalls

# LXC's default drop. CAP_SYS_ADMIN and CAP_MKNOD stay: systemd needs them without a userns.
DROPPED_CAPABILITIES = {
    "sys_module": 16,
    "sys_rawio": 17,
    "sys_time": 25,
    "mac_override": 32,
    "mac_admin": 33,
}


def drop_capabilities() -> None:
    """Drop LXC's list from the bounding set; empty the inheritable and ambient sets."""
    syscalls.drop_bounding(list(DROPPED_CAPABILITIES.values()))
    syscalls.clear_inheritable_and_ambient()
