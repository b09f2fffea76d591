"""The closed sets a config chooses from, as config.toml spells them."""

from __future__ import annotations

from enum import StrEnum


class InitKind(StrEnum):
    """The init that runs as the container's PID 1 (how to halt it, what /sys/fs/cgroup
    it needs)."""

    BUSYBOX = "busybox"
    SYSVINIT = "sysvinit"
    SYSTEMD = "systemd"


class StorageKind(StrEnum):
    """How the rootfs is kept: a plain directory, an overlay on sealed layers, or a btrfs
    subvolume in a storage pool (a snapshot of its image's)."""

    DIR = "dir"
    OVERLAY = "overlay"
    BTRFS = "btrfs"


class CgroupView(StrEnum):
    """What /sys/fs/cgroup shows on a v1 or hybrid host: the host's layout, only the v2
    hierarchy ("unified"; systemd 258 and later need it), or "auto": unified for those."""

    AUTO = "auto"
    HOST = "host"
    UNIFIED = "unified"
