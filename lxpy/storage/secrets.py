"""Per-machine secrets (SSH host keys, TLS keys, seeds): kept out of images, removed from
every new container, clone and import, and regenerated inside at its first boot.

A template lists its secrets' paths (globs allowed) and the commands that make new ones; the
paths go into each container's config.toml (`secrets`). Removing them here never reaches the
host: every path is resolved inside the root (openat2 RESOLVE_IN_ROOT) and the last part is
never followed. On an overlay, the removal goes through the mounted overlay, so a file of a
lower layer (an image or a snapshot's layer) is hidden by a whiteout in the upper one.

The marker tells the guest's first-boot unit (rendered by the template) to regenerate them.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable

from lxpy.config import ContainerConfig
from lxpy.linux import safefs
from lxpy.paths import Paths
from lxpy.storage.overlay import open_rootfs

# The templates' first-boot unit and init script test for this path, and remove it once done.
MARKER = "var/lib/lxpy/regenerate-secrets"
_MARKER_TEXT = b"lxpy removed this machine's secrets: they are made anew at the next boot\n"
_GLOB = re.compile(r"[*?\[]")


def matches(rootfd: int, pattern: str) -> list[str]:
    """The paths inside the root that `pattern` names, each part matched in the directory
    the parts before it lead to. As in a shell, a wildcard does not match a leading dot."""
    found = [""]
    for part in pattern.strip("/").split("/"):
        deeper = []
        for base in found:
            if not _GLOB.search(part):
                deeper.append(f"{base}/{part}" if base else part)
                continue
            try:
                fd = safefs.open_in(rootfd, base or ".", os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue  # not there, or not a directory: nothing below it to match
            try:
                names = os.listdir(fd)
            finally:
                os.close(fd)
            hidden = part.startswith(".")
            deeper += [
                f"{base}/{n}" if base else n
                for n in sorted(fnmatch.filter(names, part))
                if hidden or not n.startswith(".")
            ]
        found = deeper
    return [rel for rel in found if _present(rootfd, rel)]


def _present(rootfd: int, rel: str) -> bool:
    try:
        os.close(safefs.open_in(rootfd, rel, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def remove(rootfd: int, patterns: tuple[str, ...]) -> list[str]:
    """Delete what `patterns` name inside the root; the paths deleted."""
    removed = []
    for pattern in patterns:
        for rel in matches(rootfd, pattern):
            try:
                safefs.remove_in(rootfd, rel)
            except (FileNotFoundError, NotADirectoryError):
                continue
            removed.append("/" + rel)
    return removed


def reset(rootfd: int, patterns: tuple[str, ...]) -> list[str]:
    """Delete the secrets and leave the marker, so the first boot makes new ones."""
    if not patterns:
        return []
    removed = remove(rootfd, patterns)
    safefs.write_file(rootfd, MARKER, _MARKER_TEXT, 0o644)
    return removed


def reset_container(paths: Paths, name: str, cfg: ContainerConfig) -> list[str]:
    """`reset` for a stopped container the caller holds locked (a clone, an import)."""
    if not cfg.secrets:
        return []
    root = open_rootfs(paths, name, cfg)
    try:
        return reset(root, cfg.secrets)
    finally:
        os.close(root)


def remove_from_tree(path: str, patterns: tuple[str, ...]) -> list[str]:
    """`remove` in a whole tree on the host (an image build, before it is cached)."""
    return _in_tree(path, patterns, remove)


def reset_tree(path: str, patterns: tuple[str, ...]) -> list[str]:
    """`reset` in a container's rootfs directory not yet in place (an import)."""
    return _in_tree(path, patterns, reset)


def _in_tree(
    path: str, patterns: tuple[str, ...], action: Callable[[int, tuple[str, ...]], list[str]]
) -> list[str]:
    if not patterns:
        return []
    root = safefs.open_tree(path)
    try:
        return action(root, patterns)
    finally:
        os.close(root)
