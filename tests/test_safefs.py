"""Writes into a rootfs stay inside it; deletes never cross a mount point."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from lxpy.errors import UnsafePath
from lxpy.linux import safefs


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    return root


@pytest.fixture
def host(tmp_path: Path) -> Path:
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "bashrc").write_text("host file\n")
    return outside


def _write(root: Path, rel: str, data: bytes) -> None:
    fd = safefs.open_tree(str(root))
    try:
        safefs.write_file(fd, rel, data)
    finally:
        os.close(fd)


def test_write_creates_parents_inside(rootfs: Path) -> None:
    _write(rootfs, "/etc/deep/dir/file", b"x")
    assert (rootfs / "etc/deep/dir/file").read_bytes() == b"x"


def test_symlinked_file_is_replaced_not_followed(rootfs: Path, host: Path) -> None:
    (rootfs / "etc/hostname").symlink_to(host / "bashrc")
    _write(rootfs, "etc/hostname", b"c1\n")
    assert (host / "bashrc").read_text() == "host file\n"
    assert (rootfs / "etc/hostname").read_bytes() == b"c1\n"
    assert not (rootfs / "etc/hostname").is_symlink()


def test_symlinked_directory_resolves_inside_the_root(rootfs: Path, host: Path) -> None:
    (rootfs / "etc").rmdir()
    (rootfs / "etc").symlink_to(host)  # absolute: from inside, that is <rootfs><host>
    with pytest.raises(OSError, match="symlink"):
        _write(rootfs, "etc/bashrc", b"evil\n")
    # Where the link's target exists inside the root, the write lands there.
    inside = rootfs / str(host).lstrip("/")
    inside.mkdir(parents=True)
    _write(rootfs, "etc/bashrc", b"inside\n")
    assert (inside / "bashrc").read_text() == "inside\n"
    assert (host / "bashrc").read_text() == "host file\n"
    assert list(host.iterdir()) == [host / "bashrc"]


def test_dotdot_symlink_cannot_climb_out(rootfs: Path, host: Path) -> None:
    (rootfs / "etc/up").symlink_to("../../../../../../../../" + str(host).lstrip("/"))
    with pytest.raises(OSError, match="symlink"):
        _write(rootfs, "etc/up/bashrc", b"evil\n")
    assert (host / "bashrc").read_text() == "host file\n"


def test_dotdot_in_the_path_is_refused(rootfs: Path) -> None:
    fd = safefs.open_tree(str(rootfs))
    try:
        with pytest.raises(OSError):
            safefs.write_file(fd, "etc/../../outside", b"x")
    finally:
        os.close(fd)
    assert not (rootfs.parent / "outside").exists()


def test_remove_tree_does_not_follow_symlinks(tmp_path: Path, host: Path) -> None:
    victim = tmp_path / "victim"
    (victim / "a").mkdir(parents=True)
    (victim / "a/link").symlink_to(host)
    (victim / "hostfile").symlink_to(host / "bashrc")
    safefs.remove_tree(str(victim))
    assert not victim.exists()
    assert (host / "bashrc").read_text() == "host file\n"


@pytest.mark.integration
def test_remove_tree_never_crosses_a_bind_mount(tmp_path: Path, host: Path) -> None:
    victim = tmp_path / "victim"
    (victim / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(host), str(victim / "mnt")], check=True)
    try:
        safefs.remove_tree(str(victim))
    finally:
        if os.path.ismount(victim / "mnt"):
            subprocess.run(["umount", "-l", str(victim / "mnt")], check=False)
    assert (host / "bashrc").read_text() == "host file\n"
    assert not victim.exists()


def _read_regular(root: Path, rel: str, limit: int = 1 << 20) -> bytes:
    fd = safefs.open_tree(str(root))
    try:
        return safefs.read_regular(fd, rel, limit)
    finally:
        os.close(fd)


def test_read_regular_reads_a_regular_file_whole(rootfs: Path) -> None:
    (rootfs / "etc/passwd").write_bytes(b"root:x:0:0::/root:/bin/sh\n" * 10_000)
    assert _read_regular(rootfs, "etc/passwd") == b"root:x:0:0::/root:/bin/sh\n" * 10_000


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink", "directory", "huge"])
def test_read_regular_refuses_what_a_container_can_plant(
    rootfs: Path, host: Path, kind: str
) -> None:
    """A FIFO would block the open for ever, a device's open can act, a symlink may point
    anywhere: each is refused at once, by name, without being opened."""
    path = rootfs / "etc/passwd"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "symlink":
        path.symlink_to(host / "bashrc")
    elif kind == "directory":
        path.mkdir()
    else:
        with open(path, "wb") as f:
            f.truncate(1 << 30)
    started = time.monotonic()
    with pytest.raises(UnsafePath, match=r"^/etc/passwd is (a |larger than 1 MiB)"):
        _read_regular(rootfs, "etc/passwd")
    assert time.monotonic() - started < 1


def test_read_regular_passes_a_missing_file_on(rootfs: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _read_regular(rootfs, "etc/passwd")
