"""A container's disk figure: the bytes of its own it takes, its limit, and where the first
comes from. `lxpy ls` reads it for every container, so reading never walks a tree:

* in a btrfs pool, its subvolume's quota group counts its own blocks, live (btrfs brings
  the count up to date at each commit: every 30 s, or at a sync);
* overlay and dir storage have no such counter: their own layer (overlay/upper, or the
  whole rootfs) is walked when it is known to have changed (create, snapshot, restore,
  clone; a stop, by the stopping monitor) or when asked (`lxpy info`), and the count kept
  in the container's directory (COUNT_FILE: "BYTES TIME"). One never counted has no figure.

Standard library only: the stopping monitor's child counts with it.
"""

from __future__ import annotations

import os
import time

from lxpy import store
from lxpy.config import ContainerConfig, StorageKind
from lxpy.errors import Busy, LxpyError
from lxpy.linux.atomic import write_atomic
from lxpy.paths import Paths
from lxpy.storage.quota import limit_of

TYPE_CHECKING = False  # not typing's: its import costs every command
if TYPE_CHECKING:
    from typing import Any

COUNT_FILE = "disk-count"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # a count's time, as configs record times (UTC)


class Disk:
    """`used` bytes of its own; `limit` bytes (None: none); `counted`, the wall-clock time
    of the count `used` is (None: live, from its quota group)."""

    __slots__ = ("counted", "limit", "used")

    def __init__(self, used: int, limit: int | None, counted: float | None) -> None:
        self.used = used
        self.limit = limit
        self.counted = counted

    def __repr__(self) -> str:
        return f"Disk(used={self.used}, limit={self.limit}, counted={self.counted})"

    @property
    def counted_at(self) -> str | None:
        """The time of the count as configs record times (UTC), None for a live figure."""
        if self.counted is None:
            return None
        return time.strftime(TIME_FORMAT, time.gmtime(self.counted))

    @property
    def origin(self) -> str:
        """Where `used` comes from, as `info` and the TUI say it."""
        return (
            f"counted at {self.counted_at}" if self.counted_at else "its own blocks, from its quota"
        )

    def to_json(self) -> dict[str, int | str | None]:
        return {"used": self.used, "limit": self.limit, "counted": self.counted_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Disk:
        """The figure `to_json` gave (another host's), read back."""
        import calendar

        counted = data.get("counted")
        when = None if counted is None else calendar.timegm(time.strptime(counted, TIME_FORMAT))
        return cls(data["used"], data.get("limit"), when)


def read(paths: Paths, name: str, cfg: ContainerConfig) -> Disk | None:
    """The figure without a walk: its quota group's count, or the last count kept. None when
    there is none: never counted, its pool not mounted (a listing mounts nothing), or
    unreadable."""
    try:
        if cfg.storage.kind == StorageKind.BTRFS:
            from lxpy.storage import btrfs, pools

            if not pools.mounted(paths, pools.load(paths, cfg.storage.pool)):
                return None
            return Disk(btrfs.own_bytes(paths, name, cfg), limit_of(cfg), None)
        with open(f"{paths.container_dir(name)}/{COUNT_FILE}") as f:
            used, at = f.read().split()
        return Disk(int(used), limit_of(cfg), float(at))
    except (OSError, ValueError, LxpyError):
        return None


def count(paths: Paths, name: str, cfg: ContainerConfig, wait: float = 0.0) -> Disk | None:
    """The figure now: its own layer walked and the count kept for `read`; in a pool, its
    quota group's count once a sync has brought it up to date. The caller holds no lock of
    the container: the walk runs without it, and the count is kept under it if it comes
    within `wait` seconds and the container is still the one walked (else it is dropped,
    to be taken at the next change)."""
    try:
        if cfg.storage.kind == StorageKind.BTRFS:
            from lxpy.storage import btrfs

            btrfs.sync(paths, name, cfg)
            return read(paths, name, cfg)
        from lxpy.storage.trees import tree_size

        where = paths.container_dir(name)
        before = os.stat(where).st_ino
        taken = time.time()
        overlay = cfg.storage.kind == StorageKind.OVERLAY
        used = tree_size(f"{where}/overlay/upper" if overlay else paths.rootfs(name))
        _keep(paths, name, before, f"{used} {taken:.3f}\n", wait)
        return Disk(used, limit_of(cfg), taken)
    except (OSError, LxpyError):
        return None


def refresh(paths: Paths, name: str, wait: float = 0.0) -> None:
    """After its files changed: counted again, unless its quota group counts them anyway."""
    try:
        cfg = store.load(paths, name)
    except LxpyError:
        return
    if cfg.storage.kind != StorageKind.BTRFS:
        count(paths, name, cfg, wait)


def _keep(paths: Paths, name: str, walked: int, text: str, wait: float) -> None:
    where = paths.container_dir(name)
    try:
        with store.locked(paths, name, timeout=wait):
            try:
                same = os.stat(where).st_ino == walked
            except FileNotFoundError:
                # Destroyed during the walk: taking its lock made its lock file again, and
                # a container that is gone has none.
                os.unlink(paths.lock_file(name))
                return
            if same:
                write_atomic(f"{where}/{COUNT_FILE}", text.encode())
    except Busy:
        pass  # another command has it: the next change counts again
