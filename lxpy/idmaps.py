"""Host id ranges for unprivileged containers: root's ranges in /etc/subuid and /etc/subgid,
cut into one slice of 65536 ids per container, so that a container that escapes its user
namespace still owns no file of another.

A container's slice is chosen at its first start, under one lock for the whole store, and
kept in its config.toml; a clone or an import starts without one and gets its own.
"""

from __future__ import annotations

from lxpy import store
from lxpy.config import ContainerConfig, IdMap
from lxpy.errors import Busy, LxpyError
from lxpy.linux.locks import locked_file
from lxpy.paths import Paths
from lxpy.records import replace

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"
SLICE = 65536
# What Incus assumes for root when the files do not exist (contrib/install.sh writes it).
DEFAULT_RANGE = (1000000, 1000000000)


def delegated(path: str, user: str = "root") -> list[tuple[int, int]] | None:
    """`user`'s (start, count) ranges in a subuid/subgid file; None if there is no file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    ranges = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if (
            len(parts) == 3
            and parts[0] in (user, "0")
            and parts[1].isdigit()
            and parts[2].isdigit()
        ):
            ranges.append((int(parts[1]), int(parts[2])))
    return ranges


def host_ranges(subuid: str = SUBUID, subgid: str = SUBGID) -> list[tuple[int, int]]:
    """The id ranges delegated to root for uids and gids alike (a container's uids and gids
    share one base)."""
    uids, gids = delegated(subuid), delegated(subgid)
    if uids is None and gids is None:
        return [DEFAULT_RANGE]
    both = []
    for ustart, ucount in uids or []:
        for gstart, gcount in gids or []:
            start, end = max(ustart, gstart), min(ustart + ucount, gstart + gcount)
            if end - start >= SLICE:
                both.append((start, end - start))
    if not both:
        raise LxpyError(
            f"root has no range of {SLICE} ids in both {SUBUID} and {SUBGID}",
            hint="add `root:1000000:1000000000` to both files (contrib/install.sh does), "
            "or create the container with --privileged",
        )
    return both


def in_use(paths: Paths, but: str) -> list[IdMap]:
    """The slices the store's other containers hold."""
    taken = []
    for name in store.names_on_disk(paths):
        if name == but:
            continue
        try:
            idmap = store.load(paths, name).security.idmap
        except LxpyError:
            continue  # a broken config starts nowhere; its slice is re-checked at its start
        if idmap is not None:
            taken.append(idmap)
    return taken


def _overlap(a: IdMap, b: IdMap) -> bool:
    return a.host < b.host + b.size and b.host < a.host + a.size


def free_slice(ranges: list[tuple[int, int]], taken: list[IdMap]) -> IdMap:
    for start, count in ranges:
        host = start
        while host + SLICE <= start + count:
            clash = [t for t in taken if _overlap(t, IdMap(host, SLICE))]
            if not clash:
                return IdMap(host, SLICE)
            host = max(t.host + t.size for t in clash)
    raise LxpyError(
        f"every range of {SLICE} ids delegated to root is in use",
        hint=f"give root a larger range in {SUBUID} and {SUBGID}",
    )


def ensure(paths: Paths, name: str, cfg: ContainerConfig) -> ContainerConfig:
    """`cfg` with an id map of its own: the one it has, else one chosen now and saved.
    The caller holds its lock."""
    if cfg.security.privileged or cfg.security.idmap is not None:
        return cfg
    with locked_file(
        paths.idmaps_lock,
        Busy("another lxpy command is choosing id ranges", hint="try again"),
        10.0,
    ):
        idmap = free_slice(host_ranges(), in_use(paths, name))
        cfg = cfg.with_changes(security=replace(cfg.security, idmap=idmap))
        store.save(paths, name, cfg)
    return cfg
