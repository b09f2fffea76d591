"""The files inside a container that name the machine, made to say its new name and uuid
(after a clone, a rename, or a restore of a snapshot taken under another name)."""

from __future__ import annotations

import os
from collections.abc import Callable

from lxpy.config import ContainerConfig
from lxpy.linux import safefs
from lxpy.paths import Paths
from lxpy.storage.overlay import open_rootfs


def retarget(paths: Paths, name: str, new: ContainerConfig, old: ContainerConfig) -> None:
    """For `name`, stopped and locked by the caller, whose config is `new` by now, the files
    inside that name the machine: /etc/hostname, the 127.0.1.1 line of /etc/hosts,
    /etc/machine-id; each changed only where it still says what the template wrote,
    written through the confined calls."""
    root = open_rootfs(paths, name, new)
    try:
        _replace(
            root,
            "etc/hostname",
            lambda text: f"{new.hostname}\n" if text.strip() == old.hostname else text,
        )
        _replace(root, "etc/hosts", lambda text: _hosts(text, old.hostname, new.hostname))
        _replace(
            root,
            "etc/machine-id",
            lambda text: f"{new.uuid}\n" if text.strip() == old.uuid else text,
        )
    finally:
        os.close(root)


def _hosts(text: str, old: str, new: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if fields and fields[0] == "127.0.1.1" and old in fields[1:]:
            line = "\t".join([fields[0], *(new if f == old else f for f in fields[1:])]) + "\n"
        lines.append(line)
    return "".join(lines)


def _replace(root: int, rel: str, change: Callable[[str], str]) -> None:
    try:
        fd = safefs.open_in(root, rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # not there (or a symlink): nothing of ours to change
    try:
        st = os.fstat(fd)
        text = os.read(fd, 1 << 16).decode(errors="replace")
    finally:
        os.close(fd)
    changed = change(text)
    if changed != text:
        safefs.write_file(root, rel, changed.encode(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
