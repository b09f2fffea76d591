"""Disk quotas: `limits.disk` on a container's storage, whether it runs or not.

In a btrfs pool the quota is its subvolume's qgroup (the pool has quotas on from its
creation); a container past it gets EDQUOT on writes, and the pool, the host's disk with
it, keeps the rest. Overlay and dir storage live in the state root's filesystem, whose
project quotas lxpy does not use: a disk limit there is refused in one line that names the
way to get one.
"""

from __future__ import annotations

from lxpy.config import ContainerConfig, StorageKind
from lxpy.errors import UsageError
from lxpy.paths import Paths


def needs_a_pool() -> UsageError:
    return UsageError(
        "a disk limit needs a container in a btrfs pool",
        hint="`lxpy storage create NAME --size 50G`, then `lxpy create ... --storage NAME`",
    )


def check(cfg: ContainerConfig) -> None:
    """UsageError if the container has a disk limit its storage cannot keep."""
    if cfg.limits.disk is not None and cfg.storage.kind != StorageKind.BTRFS:
        raise needs_a_pool()


def apply(paths: Paths, name: str, cfg: ContainerConfig) -> None:
    """The container's disk limit (or none) on its storage, from now on."""
    check(cfg)
    if cfg.storage.kind != StorageKind.BTRFS:
        return
    from lxpy.storage import btrfs

    btrfs.set_quota(paths, name, cfg, limit_of(cfg))


def limit_of(cfg: ContainerConfig) -> int | None:
    """The disk limit in bytes (None: none)."""
    from lxpy import units

    return None if cfg.limits.disk is None else units.parse_size(str(cfg.limits.disk))
