"""`--cloud-init FILE`: NoCloud user-data for the debian template's cloud variant, reported as
the first provisioning step.

The Debian boxes here stand on one image (debian with cloud=true, built once for the module,
about 40 s). The package the user-data installs comes from a flat apt repository this module
builds and serves from the host on the network's gateway: no traffic leaves the machine.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lxpy.errors import UsageError
from lxpy.images import cloudinit, provision
from tests.conftest import Lxpy, Result, sh, temporary_root

CLOUD_CONFIG = """#cloud-config
apt:
  preserve_sources_list: false
  sources_list: |
    deb [trusted=yes] {repo} ./
packages: [lxpy-hello]
write_files:
  - path: /etc/lxpy-written
    content: "written by cloud-init\\n"
runcmd:
  - [sh, -c, "cat /usr/share/lxpy-hello/hello > /root/ran"]
"""


def test_user_data_is_checked_for_its_header_only(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"#cloud-config\n{not: yaml: at all\n")
    assert cloudinit.read_user_data(str(good)).startswith(b"#cloud-config")
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\ntrue\n")
    assert cloudinit.read_user_data(str(script)) == b"#!/bin/sh\ntrue\n"
    bare = tmp_path / "bare"
    bare.write_bytes(b"packages: [git]\n")
    with pytest.raises(UsageError, match="not cloud-init user-data"):
        cloudinit.read_user_data(str(bare))
    with pytest.raises(UsageError, match=r"--cloud-init .*: not a regular file"):
        cloudinit.read_user_data(str(tmp_path))


def test_the_cloud_init_step_is_reported_like_a_script() -> None:
    assert str(provision.parse_status(b"step cloud-init\n")) == "running cloud-init"
    assert str(provision.parse_status(b"failed cloud-init 7\n")) == "failed: cloud-init exited 7"
    assert provision.parse_status(b"step cloud-init-x\n").state == "unreadable"


@pytest.mark.integration
def test_a_template_without_cloud_init_is_refused(lxpy: Lxpy, tmp_path: Path) -> None:
    data = tmp_path / "user-data"
    data.write_text("#cloud-config\n")
    refused = lxpy.run("create", "bb", "-t", "busybox", "--cloud-init", str(data), check=False)
    assert refused.returncode == 2
    assert "template busybox has no cloud-init" in refused.stderr
    conflict = lxpy.run(
        "create", "d", "-t", "debian", "--set", "cloud=false", "--cloud-init", str(data),
        check=False,
    )  # fmt: skip
    assert conflict.returncode == 2 and "cloud=false" in conflict.stderr
    assert lxpy.run("ls", "--format", "json").stdout.strip() == "[]"


IP_FREEBIND = 15  # linux/in.h; not in Python 3.11's socket module


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # each request on pytest's stderr says nothing a failing test would not


class GatewayServer(http.server.ThreadingHTTPServer):
    """Binds the gateway's address before it exists: the bridge gets it at the first start
    of a container on the network, while cloud-init inside needs the server already up."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        super().server_bind()


@dataclass(frozen=True)
class Repo:
    lx: Lxpy
    network: str
    url: str


def build_package(where: Path) -> None:
    """lxpy-hello_1.0_all.deb (one file, /usr/share/lxpy-hello/hello) and a flat repository
    of it (Packages, Release) in `where`."""
    tree = where / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "usr/share/lxpy-hello").mkdir(parents=True)
    (tree / "usr/share/lxpy-hello/hello").write_text("hello from the test repository\n")
    (tree / "DEBIAN/control").write_text(
        "Package: lxpy-hello\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: lxpy tests <tests@lxpy.invalid>\nDescription: one file for a test\n"
    )
    deb = where / "repo/lxpy-hello_1.0_all.deb"
    deb.parent.mkdir()
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    control = (tree / "DEBIAN/control").read_text()
    data = deb.read_bytes()
    packages = (
        f"{control}Filename: ./{deb.name}\nSize: {len(data)}\n"
        f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n"
    ).encode()
    (deb.parent / "Packages").write_bytes(packages)
    (deb.parent / "Release").write_text(
        "Origin: lxpy-tests\nLabel: lxpy-tests\nArchitectures: all amd64 arm64\n"
        f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n"
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """A state root with a network, and the test repository served on its gateway."""
    where = tmp_path_factory.mktemp("apt")
    build_package(where)
    with temporary_root("lxpy-cloud-") as lx:
        from lxpy.net import model

        lx.run("network", "create", "cloudnet")
        gateway = model.load(lx.paths, "cloudnet").gateway
        handler = functools.partial(Quiet, directory=str(where / "repo"))
        server = GatewayServer((gateway, 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Repo(lx, "cloudnet", f"http://{gateway}:{server.server_address[1]}/")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def launch(repo: Repo, name: str, user_data: Path) -> tuple[Result, float]:
    began = time.monotonic()
    result = repo.lx.run(
        "launch", name, "-t", "debian", "-q", "--network", repo.network,
        "--cloud-init", str(user_data), "--timeout", "300",
        check=False, timeout=900,
    )  # fmt: skip
    return result, time.monotonic() - began


@pytest.mark.integration
@pytest.mark.slow
def test_user_data_installs_writes_and_runs_before_launch_returns(
    repo: Repo, tmp_path: Path
) -> None:
    data = tmp_path / "user-data"
    data.write_text(CLOUD_CONFIG.format(repo=repo.url))
    launched, seconds = launch(repo, "ci", data)
    print(f"launch with the image build: {seconds:.1f} s")
    assert launched.returncode == 0, launched.stderr
    assert "provisioned ci in" in launched.stderr
    lx = repo.lx
    # All three, the moment launch returns.
    assert sh(lx, "ci", "dpkg-query -W -f '${Status}' lxpy-hello") == "install ok installed"
    assert sh(lx, "ci", "cat /etc/lxpy-written") == "written by cloud-init\n"
    assert sh(lx, "ci", "cat /root/ran") == "hello from the test repository\n"
    assert "Provision: done (cloud-init)" in lx.run("info", "ci").stdout
    # cloud-init finished clean, and left lxpy's network, hostname and each unit alone.
    assert sh(lx, "ci", "cloud-init status --long").count("errors: []") == 1
    assert sh(lx, "ci", "systemctl is-system-running --wait", check=False) == "running\n"
    assert sh(lx, "ci", "hostname") == "ci\n"
    assert sh(lx, "ci", "ls /etc/systemd/network") == "80-lxpy-eth0.network\n"
    uuid = json.loads(lx.run("info", "ci", "--format", "json").stdout)["config"]["uuid"]
    seed = sh(lx, "ci", "cat /var/lib/cloud/seed/nocloud/meta-data")
    assert seed == f"instance-id: {uuid}\nlocal-hostname: ci\n"
    # A clone keeps the seed: the instance cloud-init has set up, so its runcmd does not run
    # again; the hostname stays the clone's.
    sh(lx, "ci", "rm /root/ran")
    lx.run("stop", "ci")
    lx.run("clone", "ci", "ci2")
    lx.run("start", "ci2")
    assert "status: done" in sh(lx, "ci2", "cloud-init status --wait")
    assert sh(lx, "ci2", "test -e /root/ran || hostname") == "ci2\n"


@pytest.mark.integration
@pytest.mark.slow
def test_a_failing_runcmd_fails_launch_with_its_exit_status(repo: Repo, tmp_path: Path) -> None:
    data = tmp_path / "user-data"
    data.write_text("#cloud-config\nruncmd:\n  - [sh, -c, 'echo failing; exit 7']\n")
    launched, seconds = launch(repo, "cibad", data)
    print(f"launch of a failing box: {seconds:.1f} s")
    assert launched.returncode == 1
    assert "provisioning failed: cloud-init exited 7" in launched.stderr
    assert "Provision: failed: cloud-init exited 7" in repo.lx.run("info", "cibad").stdout
    assert "cloud-init failed (exit status 7)" in repo.lx.run("console", "cibad", "--log").stdout
