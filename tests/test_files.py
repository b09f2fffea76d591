"""`lxpy file push|pull`: copies in and out, and symlinks planted by the container that
must never lead a copy onto the host (CVE-2018-15664, `docker cp`)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import Lxpy, sh

pytestmark = pytest.mark.integration


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_push_and_pull_a_file_and_a_tree(running: str, lxpy: Lxpy, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    os.chmod(tmp_path / "hello.txt", 0o640)
    lxpy.run("file", "push", running, str(tmp_path / "hello.txt"), "/root/")
    assert sh(lxpy, running, "cat /root/hello.txt; stat -c '%a %u' /root/hello.txt") == (
        "hello\n640 0\n"
    )
    lxpy.run("file", "push", running, str(tmp_path / "hello.txt"), "/tmp/h", "--uid", "7")
    lxpy.run("file", "push", running, str(tmp_path / "hello.txt"), "/tmp/m", "--mode", "600")
    assert sh(lxpy, running, "stat -c '%u %a' /tmp/h /tmp/m") == "7 640\n0 600\n"
    # Through the running container's idmapped /, the disk still gets the container's ids.
    lxpy.run("file", "push", running, str(tmp_path / "hello.txt"), "/root/h", "--uid", "7")
    on_disk = os.stat(f"{lxpy.paths.rootfs(running)}/root/h")
    assert (on_disk.st_uid, on_disk.st_gid) == (7, 0)
    refused = lxpy.run(
        "file",
        "push",
        running,
        str(tmp_path / "hello.txt"),
        "/tmp/x",
        "--uid",
        "70000",
        check=False,
    )
    assert refused.returncode != 0 and "not ids the container has" in refused.stderr

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("deep\n")
    os.symlink("sub/f", tree / "link")
    result = lxpy.run("file", "push", running, "-r", str(tree), "/root")
    assert "pushed 2 file(s)" in result.stderr
    assert sh(lxpy, running, "cat /root/tree/sub/f; readlink /root/tree/link") == "deep\nsub/f\n"
    # A directory without -r is refused, with the hint.
    refused = lxpy.run("file", "push", running, str(tree), "/srv", check=False)
    assert refused.returncode == 2 and "-r copies a directory" in refused.stderr

    lxpy.run("file", "pull", running, "/etc/hostname", str(tmp_path / "hostname"))
    assert (tmp_path / "hostname").read_text() == f"{running}\n"
    lxpy.run("file", "pull", running, "-r", "/root/tree", str(tmp_path / "back"))
    assert (tmp_path / "back" / "sub" / "f").read_text() == "deep\n"
    assert os.readlink(tmp_path / "back" / "link") == "sub/f"


def test_symlinks_planted_inside_never_reach_the_host(
    running: str, lxpy: Lxpy, tmp_path: Path
) -> None:
    marker = f"lxpy-test-{uuid.uuid4().hex[:8]}"
    passwd = digest("/etc/passwd")
    (tmp_path / "payload").write_text("payload\n")
    payload = str(tmp_path / "payload")
    # A directory in the path that is a symlink to /, and one that climbs with "..".
    sh(lxpy, running, "ln -s / /tmp/up; ln -s ../../../../../../etc /tmp/climb")
    lxpy.run("file", "push", running, payload, f"/tmp/up/etc/{marker}")
    lxpy.run("file", "push", running, payload, f"/tmp/climb/{marker}.2")
    assert not os.path.exists(f"/etc/{marker}") and not os.path.exists(f"/etc/{marker}.2")
    assert sh(lxpy, running, f"cat /etc/{marker} /etc/{marker}.2") == "payload\n" * 2
    # A symlink at the destination itself is replaced, not written through.
    sh(lxpy, running, "ln -s /etc/passwd /root/p")
    lxpy.run("file", "push", running, payload, "/root/p")
    assert digest("/etc/passwd") == passwd
    assert sh(lxpy, running, "test -L /root/p || cat /root/p") == "payload\n"

    # Pulling through a symlink reads the container's file, not the host's.
    sh(lxpy, running, "ln -s /etc/hostname /root/h")
    lxpy.run("file", "pull", running, "/root/h", str(tmp_path / "h"))
    assert (tmp_path / "h").read_text() == f"{running}\n"
    # A pulled tree brings a symlink to / back as a symlink, never the host's / under it.
    sh(lxpy, running, "mkdir /root/t; echo x > /root/t/f; ln -s / /root/t/up")
    result = lxpy.run("file", "pull", running, "-r", "/root/t", str(tmp_path / "t"))
    assert "pulled 2 file(s)" in result.stderr
    assert os.readlink(tmp_path / "t" / "up") == "/"
    assert sorted(os.listdir(tmp_path / "t")) == ["f", "up"]


def test_a_stopped_container_is_copied_into_within_its_rootfs(lxpy: Lxpy, tmp_path: Path) -> None:
    lxpy.run("create", "c1", "--network", "none")
    marker = f"lxpy-test-{uuid.uuid4().hex[:8]}"
    rootfs = lxpy.paths.rootfs("c1")
    os.symlink("/", f"{rootfs}/tmp/up")  # as the container would have left it
    (tmp_path / "payload").write_text("payload\n")
    lxpy.run("file", "push", "c1", str(tmp_path / "payload"), f"/tmp/up/etc/{marker}")
    assert not os.path.exists(f"/etc/{marker}")
    with open(f"{rootfs}/etc/{marker}") as f:
        assert f.read() == "payload\n"
    missing = lxpy.run("file", "pull", "c1", "/nope", str(tmp_path / "x"), check=False)
    assert missing.returncode != 0 and "/nope: No such file or directory" in missing.stderr
