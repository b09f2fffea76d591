"""A store that cannot be idmapped (ramfs here; NFS or an old ZFS elsewhere): one line says
so, and with the user's consent (--allow-shift) the container runs from a copy whose ids are
shifted into its own range on disk."""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy.storage import shift
from tests.conftest import Lxpy, cleanup, sh

pytestmark = pytest.mark.integration


@pytest.fixture
def ramfs(lxpy: Lxpy) -> Iterator[Lxpy]:
    """`lxpy` whose store (its lib dir) is a ramfs, which takes no idmapped mount."""
    lib = f"{lxpy.root}/lib"
    os.makedirs(lib, exist_ok=True)
    subprocess.run(["mount", "-t", "ramfs", "-o", "mode=0755", "ramfs", lib], check=True)
    try:
        yield lxpy
    finally:
        cleanup(lxpy)
        subprocess.run(["umount", lib], check=True)


def host_id(lx: Lxpy, name: str) -> int:
    info = lx.run("info", name).stdout
    found = re.search(r"^Idmap:\s+0 (\d+) 65536", info, re.M)
    assert found, info
    return int(found.group(1))


def test_without_consent_the_start_says_why_in_one_line(ramfs: Lxpy) -> None:
    ramfs.run("create", "c1", "--template", "busybox", "--network", "none")
    result = ramfs.run("start", "c1", check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot be idmapped" in result.stderr and "--allow-shift" in result.stderr
    assert ramfs.state("c1") == "STOPPED"


def test_a_shifted_copy_runs_and_keeps_the_containers_ids(ramfs: Lxpy, tmp_path: Path) -> None:
    ramfs.run("create", "s1", "--template", "busybox", "--network", "none", "--allow-shift")
    ramfs.run("start", "s1")
    host = host_id(ramfs, "s1")
    rootfs = ramfs.paths.rootfs("s1")
    assert os.stat(f"{rootfs}/bin/busybox").st_uid == host  # on disk: the host's numbers
    assert sh(ramfs, "s1", "stat -c '%u:%g' /bin/busybox /") == "0:0\n0:0\n"
    init = json.loads(ramfs.run("info", "s1", "--format", "json").stdout)["pid"]
    assert os.stat(f"/proc/{init}").st_uid == host
    ramfs.run("stop", "s1", "--kill")

    # Stopped, a push writes the host's numbers for the ids asked for.
    (tmp_path / "f").write_text("x\n")
    ramfs.run("file", "push", "s1", str(tmp_path / "f"), "/root/f", "--uid", "5")
    st = os.stat(f"{rootfs}/root/f")
    assert (st.st_uid, st.st_gid) == (host + 5, host)
    # An export holds the distro's ids, as from any other container.
    archive = tmp_path / "s1.tar.zst"
    ramfs.run("export", "s1", str(archive))
    listing = subprocess.run(
        ["tar", "--zstd", "-tvf", str(archive), "--numeric-owner"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(r"^-\S+ 5/0 .* rootfs/root/f$", listing, re.M), listing

    # A snapshot and its restore: the fresh writable layer is container root's too.
    ramfs.run("snapshot", "s1", "before")
    ramfs.run("start", "s1")
    sh(ramfs, "s1", "echo later > /root/later")
    ramfs.run("stop", "s1", "--kill")
    ramfs.run("snapshot", "restore", "s1", "before")
    ramfs.run("start", "s1")
    assert sh(ramfs, "s1", "ls /root; stat -c '%u' /") == "f\n0\n"
    ramfs.run("stop", "s1", "--kill")

    # A clone is a copy with ids of its own; one standing on s1's layers cannot be.
    refused = ramfs.run("clone", "--snapshot", "s1", "s2", check=False)
    assert refused.returncode == 2 and "lxpy clone s1 s2" in refused.stderr
    ramfs.run("clone", "s1", "s3")
    ramfs.run("start", "s3")
    assert host_id(ramfs, "s3") != host
    assert sh(ramfs, "s3", "stat -c '%u' /root/f /bin/busybox") == "5\n0\n"


def test_shifting_keeps_setuid_bits_capabilities_and_acls(tmp_path: Path) -> None:
    top = tmp_path / "tree"
    (top / "bin").mkdir(parents=True)
    program = top / "bin" / "ping"
    program.write_bytes(b"\x7fELF")
    os.chmod(program, 0o4755)
    # cap_net_raw+ep, v2 (as dpkg leaves it): magic with the effective flag, then the sets.
    os.setxattr(program, "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))
    acl = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, 7, ident)
        for tag, ident in (
            (0x01, 0xFFFFFFFF),
            (0x02, 1000),
            (0x04, 0xFFFFFFFF),
            (0x10, 0xFFFFFFFF),
            (0x20, 0xFFFFFFFF),
        )
    )
    os.setxattr(top / "bin", "system.posix_acl_access", acl)
    os.symlink("ping", top / "bin" / "link")

    assert shift.shift_tree(str(top), 0, 1000000) == 4
    st = program.stat()
    assert (st.st_uid, st.st_gid) == (1000000, 1000000)
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert os.lstat(top / "bin" / "link").st_uid == 1000000
    magic, permitted, _, _, _, rootid = struct.unpack(
        "<IIIIII", os.getxattr(program, "security.capability")
    )
    assert (magic >> 24, permitted, rootid) == (3, 1 << 13, 1000000)
    named = struct.unpack_from("<HHI", os.getxattr(top / "bin", "system.posix_acl_access"), 4 + 8)
    assert named == (0x02, 7, 1001000)
    # Shifting back: the distro's ids again, the capability's root too.
    shift.shift_tree(str(top), 1000000, 0)
    assert program.stat().st_uid == 0
    # Root id 0 of the host's namespace: the kernel keeps (and shows) that as v2.
    back = os.getxattr(program, "security.capability")
    assert len(back) == 20 and back[3] == 2
