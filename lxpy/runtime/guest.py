"""What a rootfs holds that the runtime adapts to. Read confined inside it, never written.

Imported on the start path: standard library only.
"""

from __future__ import annotations

import os
import re
import stat

from lxpy.linux import safefs

# systemd 258 dropped cgroup v1: from it on, /sys/fs/cgroup must be the v2 hierarchy alone.
SYSTEMD_UNIFIED_ONLY = 258
_SHARED = re.compile(r"libsystemd-shared-(\d+)(?:[.~-][^/]*)?\.so")


def systemd_version(roots: list[str]) -> int | None:
    """systemd's major version in the tree(s) at `roots` (an overlay's directories), from
    the name of its libsystemd-shared library, as systemd-nspawn finds it; None without it."""
    found: int | None = None
    for root in roots:
        try:
            rootfd = safefs.open_tree(root)
        except OSError:
            continue
        try:
            for rel in _library_dirs(rootfd):
                for name in _listdir(rootfd, rel):
                    m = _SHARED.fullmatch(name)
                    if m and (found is None or int(m.group(1)) > found):
                        found = int(m.group(1))
        finally:
            os.close(rootfd)
    return found


def _library_dirs(rootfd: int) -> list[str]:
    dirs = ["usr/lib/systemd", "lib/systemd"]
    # Debian and Ubuntu keep it under the multiarch triplet: usr/lib/x86_64-linux-gnu/systemd.
    dirs += [f"usr/lib/{d}/systemd" for d in _listdir(rootfd, "usr/lib") if "-linux-" in d]
    return dirs


def _listdir(rootfd: int, rel: str) -> list[str]:
    try:
        fd = safefs.open_in(rootfd, rel, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return []
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def has_file(roots: list[str], rel: str) -> bool:
    """Whether the tree that the layers at `roots` (bottom first) make holds a file at `rel`:
    the topmost layer that has the path decides (an overlay whiteout there hides it)."""
    for root in reversed(roots):
        try:
            rootfd = safefs.open_tree(root)
        except OSError:
            continue
        try:
            fd = safefs.open_in(rootfd, rel, os.O_PATH)
        except OSError:
            continue
        finally:
            os.close(rootfd)
        try:
            return stat.S_ISREG(os.fstat(fd).st_mode)  # a whiteout is a character device
        finally:
            os.close(fd)
    return False
