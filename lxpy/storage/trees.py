"""Whole trees on disk: an independent copy keeping everything, and the bytes they take."""

from __future__ import annotations

import os

from lxpy.errors import LxpyError


def copy_tree(source: str | int, target: str) -> None:
    """A full independent copy of the tree at `source` (a path, or a directory fd: a
    detached mount has no path) keeping owners, modes, xattrs, capabilities and hard links;
    reflinked where the filesystem can (btrfs, xfs)."""
    import subprocess

    where = source if isinstance(source, str) else f"/proc/self/fd/{source}"
    result = subprocess.run(
        ["cp", "-a", "--reflink=auto", "--one-file-system", f"{where}/.", target],
        capture_output=True,
        text=True,
        pass_fds=() if isinstance(source, str) else (source,),
    )
    if result.returncode != 0:
        raise LxpyError(f"copying a tree failed: {result.stderr.strip()}")


def tree_size(path: str) -> int:
    """Bytes allocated under `path`, each hard-linked inode once, not crossing mounts."""
    seen: set[tuple[int, int]] = set()
    total = 0
    top = os.lstat(path).st_dev
    # By directory fds (fwalk): a running container that swaps a directory for a symlink
    # mid-walk cannot lead the walk into the host's tree.
    for _, dirnames, filenames, dirfd in os.fwalk(path, follow_symlinks=False):
        for name in dirnames + filenames:
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_dev != top:
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total
