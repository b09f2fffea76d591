"""`lxpy export` / `lxpy import`: round trips that keep owners, modes, links and file
capabilities, and crafted archives that must be refused without touching the host."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from lxpy.storage.archive import METADATA
from tests.conftest import Lxpy

pytestmark = pytest.mark.integration

# security.capability granting cap_net_raw (13), effective: what `setcap cap_net_raw+ep` writes.
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def manifest(tar_path: str, tops: tuple[str, ...] = ("rootfs",)) -> dict[str, tuple[object, ...]]:
    """Every member under `tops` (the rootfs; "snapshots/" adds theirs): kind, mode, owner,
    size, link, xattrs and a digest of its data."""
    found: dict[str, tuple[object, ...]] = {}
    raw = (
        subprocess.run(["zstd", "-dc", tar_path], capture_output=True, check=True).stdout
        if tar_path.endswith(".zst")
        else None
    )
    with tarfile.open(tar_path, fileobj=io.BytesIO(raw) if raw else None) as tar:
        for m in tar:
            # A snapshot's config.toml names where it is kept: not its files.
            if not m.name.startswith(tops) or m.name.split("/")[2:] == ["config.toml"]:
                continue
            data = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            xattrs = {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            found[m.name] = (
                m.type,
                m.mode,
                m.uid,
                m.gid,
                m.size,
                m.linkname,
                sorted(xattrs.items()),
                hashlib.sha256(data).hexdigest(),
            )
    return found


def plant_files(rootfs: str) -> None:
    """Files that keep an export or a move honest: owners, setuid, a file capability, an
    xattr, a hard link and a relative symlink (written through the plain rootfs of a
    stopped busybox container)."""
    os.makedirs(f"{rootfs}/srv/app")
    with open(f"{rootfs}/srv/app/tool", "w") as f:
        f.write("#!/bin/sh\necho tool\n")
    os.chown(f"{rootfs}/srv/app/tool", 1000, 1001)  # before the mode: a chown clears setuid
    os.chmod(f"{rootfs}/srv/app/tool", 0o4750)
    os.setxattr(f"{rootfs}/srv/app/tool", "security.capability", CAPABILITY)
    os.setxattr(f"{rootfs}/srv/app/tool", "user.note", b"kept")
    os.link(f"{rootfs}/srv/app/tool", f"{rootfs}/srv/app/tool-link")
    os.symlink("../app/tool", f"{rootfs}/srv/app/rel")


def test_export_destroy_import_gives_the_same_container(lxpy: Lxpy, tmp_path: Path) -> None:
    lxpy.run("create", "box", "--network", "none")
    rootfs = lxpy.paths.rootfs("box")
    plant_files(rootfs)
    lxpy.run("start", "box")
    lxpy.run("snapshot", "box", "first")
    lxpy.run("stop", "box")

    first = str(tmp_path / "box.tar.zst")
    result = lxpy.run("export", "box", first, "--snapshots")
    assert "MB/s" in result.stderr
    lxpy.run("destroy", "box")
    assert lxpy.run("import", first).stdout.strip() == "box"
    tool = f"{rootfs}/srv/app/tool"
    st = os.lstat(tool)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_nlink) == (0o4750, 1000, 1001, 2)
    assert os.getxattr(tool, "security.capability") == CAPABILITY
    assert os.getxattr(tool, "user.note") == b"kept"
    assert os.readlink(f"{rootfs}/srv/app/rel") == "../app/tool"
    # Exported again, it is the same tree, member for member.
    second = str(tmp_path / "again.tar.gz")
    lxpy.run("export", "box", second)
    assert manifest(first) == manifest(second)
    lxpy.run("start", "box")
    assert lxpy.state("box") == "RUNNING"
    # Exported running, through its idmapped `/`: the container's own ids and capabilities,
    # not those of the host range it runs in.
    live = str(tmp_path / "live.tar")
    lxpy.run("export", "box", live)
    tool_member = "rootfs/srv/app/tool"
    assert manifest(live)[tool_member] == manifest(first)[tool_member]
    lxpy.run("stop", "box")
    lxpy.run("snapshot", "restore", "box", "first")
    lxpy.run("import", second, "twin")
    assert (
        sorted(lxpy.run("ls").stdout.split()[7::7]) == ["box", "twin"]
        or "twin" in lxpy.run("ls").stdout
    )


def crafted(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> str:
    """An archive with valid metadata and config, then `members`."""
    config = (
        'template = "busybox"\ncreated = "2026-01-01T00:00:00Z"\n'
        'uuid = "0123456789abcdef0123456789abcdef"\nhostname = "evil"\n'
    )
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            (METADATA, b'format = 1\nname = "evil"\n'),
            ("config.toml", config.encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        root = tarfile.TarInfo("rootfs")
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return str(path)


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    if kind in (tarfile.BLKTYPE, tarfile.CHRTYPE):
        info.devmajor, info.devminor = 8, 0
    return info


MARKER = "lxpy-import-test-marker"


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([(entry(f"rootfs/../../../../../../etc/{MARKER}"), b"x")], "climbs out with .."),
        ([(entry(f"/etc/{MARKER}"), b"x")], "an absolute or odd path"),
        ([(entry(f"../{MARKER}"), b"x")], "climbs out with .."),
        (
            [
                (entry("rootfs/evil", tarfile.SYMTYPE, "/etc"), b""),
                (entry(f"rootfs/evil/{MARKER}"), b"x"),
            ],
            "through a symlink the archive made",
        ),
        (
            [
                (entry("rootfs/up", tarfile.SYMTYPE, "../../../../etc"), b""),
                (entry(f"rootfs/up/{MARKER}"), b"x"),
            ],
            "through a symlink the archive made",
        ),
        ([(entry("rootfs/shadow", tarfile.LNKTYPE, "/etc/shadow"), b"")], "hard link"),
        (
            # A file, replaced by a symlink to /, hard-linked under a second name, written
            # through: the second name must not pass for a directory.
            [
                (entry("rootfs/a"), b"x"),
                (entry("rootfs/a", tarfile.SYMTYPE, "/"), b""),
                (entry("rootfs/b", tarfile.LNKTYPE, "rootfs/a"), b""),
                (entry(f"rootfs/b/snapshots/s1/{MARKER}"), b"x"),
            ],
            "hard link",
        ),
        (
            [
                (entry("rootfs/a", tarfile.SYMTYPE, "/"), b""),
                (entry("rootfs/c", tarfile.SYMTYPE, "a"), b""),
                (entry(f"rootfs/c/{MARKER}"), b"x"),
            ],
            "through a symlink the archive made",
        ),
        ([(entry("rootfs/root/tty", tarfile.CHRTYPE), b"")], "device node outside /dev"),
        ([(entry("rootfs/dev/sda", tarfile.BLKTYPE), b"")], "a kind an export never holds"),
        ([(entry("rootfs/x"), b""), (entry("config.toml"), b"#" * 70000)], "at most 65536"),
        ([(entry(f"elsewhere/{MARKER}"), b"x")], "not part of an lxpy export"),
    ],
)
def test_crafted_archives_are_refused_and_change_nothing(
    lxpy: Lxpy, tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], words: str
) -> None:
    shadow = os.stat("/etc/shadow")
    archive = crafted(tmp_path / "evil.tar", *members)
    result = lxpy.run("import", archive, check=False)
    assert result.returncode != 0
    assert "refusing the archive" in result.stderr and words in result.stderr
    assert not os.path.lexists(f"/etc/{MARKER}")
    assert not os.path.lexists(f"{lxpy.paths.lib}/{MARKER}")
    assert os.stat("/etc/shadow").st_nlink == shadow.st_nlink
    assert lxpy.run("ls", "--format", "json").stdout.strip() == "[]"
    assert [e for e in os.listdir(lxpy.paths.containers) if not e.endswith(".lock")] == []
