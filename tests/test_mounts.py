"""Shared folders (`lxpy mount`): at start and live, read-only or not, owners kept, and
never a way for a destroy or a planted symlink to reach host files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Lxpy, sh

pytestmark = pytest.mark.integration


def test_shared_folders_at_start_and_live(lxpy: Lxpy, tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "f").write_text("from the host\n")
    os.chown(share / "f", 1000, 1000)
    lxpy.run("create", "c1", "--network", "none")
    lxpy.run("mount", "add", "c1", str(share), "/mnt/ro", "--readonly")
    lxpy.run("start", "c1")
    assert (
        sh(lxpy, "c1", "cat /mnt/ro/f; stat -c '%u:%g' /mnt/ro/f") == "from the host\n1000:1000\n"
    )
    denied = lxpy.run("attach", "c1", "--", "touch", "/mnt/ro/x", check=False)
    assert denied.returncode != 0 and "Read-only" in denied.stderr

    lxpy.run("mount", "add", "c1", str(share), "/srv/rw")  # live, into the running container
    sh(lxpy, "c1", "echo from inside > /srv/rw/g")
    assert (share / "g").read_text() == "from inside\n"
    listed = lxpy.run("mount", "ls", "c1").stdout
    assert "/mnt/ro" in listed and "/srv/rw" in listed and listed.count("yes") == 2
    shown = f"Mounts:   {share} at /mnt/ro (read-only), {share} at /srv/rw\n"
    assert shown in lxpy.run("info", "c1").stdout
    lxpy.run("mount", "rm", "c1", "/srv/rw")
    assert sh(lxpy, "c1", "ls /srv/rw") == ""
    assert "/srv/rw" not in lxpy.run("mount", "ls", "c1").stdout

    # A restart mounts what the config says.
    lxpy.run("restart", "c1")
    assert sh(lxpy, "c1", "cat /mnt/ro/f") == "from the host\n"
    lxpy.run("destroy", "--force", "c1")
    assert sorted(os.listdir(share)) == ["f", "g"]
    assert (share / "f").read_text() == "from the host\n"


def test_a_planted_symlink_cannot_aim_a_mount_at_the_host(lxpy: Lxpy, tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    lxpy.run("create", "c1", "--network", "none")
    lxpy.run("start", "c1")
    sh(lxpy, "c1", "ln -s / /tmp/up")
    marker = f"lxpy-mount-test-{os.getpid()}"
    lxpy.run("mount", "add", "c1", str(share), f"/tmp/up/{marker}")
    # It went to the container's /, not the host's.
    assert not os.path.exists(f"/{marker}")
    (share / "seen").write_text("x")
    assert sh(lxpy, "c1", f"ls /{marker}") == "seen\n"
    lxpy.run("stop", "c1")


def test_bad_shared_folders_are_refused(lxpy: Lxpy, tmp_path: Path) -> None:
    lxpy.run("create", "c1", "--network", "none")
    cases = {
        (str(tmp_path), "/proc/x"): "/proc is the container's own",
        (str(tmp_path), "/"): "not /",
        (str(tmp_path), "/a/../b"): "without . or ..",
        (str(tmp_path / "missing"), "/mnt"): "not a directory on the host",
    }
    for (source, path), words in cases.items():
        result = lxpy.run("mount", "add", "c1", source, path, check=False)
        assert result.returncode == 2 and words in result.stderr, result.stderr
    lxpy.run("mount", "add", "c1", str(tmp_path), "/mnt")
    again = lxpy.run("mount", "add", "c1", str(tmp_path), "/mnt/", check=False)
    assert again.returncode == 2 and "already" in again.stderr
    assert lxpy.run("mount", "rm", "c1", "/nowhere", check=False).returncode == 2
