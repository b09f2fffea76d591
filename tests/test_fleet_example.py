"""The three-tier example (contrib/examples/three-tier: PostgreSQL, a Python app server,
nginx) brought up from nothing with real Debian containers, served through its published
port, converged after edits, and brought down and up again with its data kept. Slow: the
image and three package layers are built from the Debian archive (1-2 minutes)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Lxpy, sh, temporary_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).parent.parent / "contrib/examples/three-tier"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Lxpy, Path, int]]:
    """A root, and a copy of the example on a network and a host port of its own (both are
    the host's: another root or a real install may hold the example's)."""
    where = tmp_path / "three-tier"
    shutil.copytree(EXAMPLE, where)
    port = free_port()
    toml = where / "lxpy.toml"
    text = toml.read_text()
    network = f"shop{os.getpid() % 100000}"
    assert 'network = "shop"' in text and "127.0.0.1:8080:80" in text
    text = text.replace('network = "shop"', f'network = "{network}"')
    toml.write_text(text.replace("127.0.0.1:8080:80", f"127.0.0.1:{port}:80"))
    with temporary_root("lxpy-fleet-") as lx:
        yield lx, where, port


def get(port: int, timeout: float = 30.0) -> str:
    """The page at the published port, asked until it answers 200 or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                body: bytes = response.read()
                return body.decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def steps_of(stderr: str) -> list[tuple[str, str]]:
    """(container, verb) of each progress line of `up`."""
    return [
        (line.split()[0], line.split()[1])
        for line in stderr.splitlines()
        if line.startswith("shop-")
    ]


def test_the_three_tier_example_serves_converges_and_keeps_its_data(
    shop: tuple[Lxpy, Path, int],
) -> None:
    lx, where, port = shop
    f = ("-f", str(where))
    up = lx.run("up", *f, timeout=900)
    page = get(port)
    assert page.splitlines() == ["Welcome to the shop.", "coffee: 4.20", "tea: 3.50"], up.stderr
    rows = lx.run("ps", *f).stdout
    assert f"127.0.0.1:{port}->80/tcp" in rows and rows.count("RUNNING") == 3

    again = lx.run("up", *f)
    assert "nothing to change" in again.stderr and not steps_of(again.stderr)

    # An edited file goes to its container alone, which reloads its service.
    (where / "files/greeting").write_text("Welcome back.\n")
    edited = lx.run("up", *f, timeout=120)
    assert {c for c, _ in steps_of(edited.stderr)} == {"shop-app"}, edited.stderr
    assert ("shop-app", "reloaded") in steps_of(edited.stderr)
    assert get(port).splitlines()[0] == "Welcome back."

    # A package added to the list is installed into the running container.
    toml = where / "lxpy.toml"
    toml.write_text(toml.read_text().replace('packages = ["nginx"]', 'packages = ["nginx", "jq"]'))
    added = lx.run("up", *f, timeout=600)
    assert steps_of(added.stderr) == [("shop-web", "installed"), ("shop-web", "ready")]
    assert sh(lx, "shop-web", "echo '{\"a\": 1}' | jq .a") == "1\n"
    assert "nothing to change" in lx.run("up", *f).stderr

    # A changed release is only reported: up never destroys a container by itself.
    changed = toml.read_text().replace(
        "[containers.db]\n", '[containers.db]\nrelease = "bookworm"\n'
    )
    toml.write_text(changed)
    noted = lx.run("up", *f, "--dry-run")
    assert "shop-db: release " in noted.stderr and "--recreate db" in noted.stderr
    assert "shop-db: unchanged" in noted.stdout
    toml.write_text(changed.replace('release = "bookworm"\n', ""))

    # The database keeps what was written to it across down and up.
    sh(
        lx,
        "shop-db",
        "runuser -u postgres -- psql -q shop -c \"INSERT INTO items VALUES ('cake', 2.80)\"",
    )
    down = lx.run("down", *f, timeout=300)
    assert [c for c, verb in steps_of(down.stderr) if verb == "stopped"] == [
        "shop-web",
        "shop-app",
        "shop-db",
    ]
    lx.run("up", *f, timeout=300)
    assert "cake: 2.80" in get(port).splitlines()

    lx.run("down", *f, "--destroy", "-y", timeout=300)
    assert lx.run("fleet", "ls").stdout.count("\n") == 1
    network = [line for line in toml.read_text().splitlines() if line.startswith("network")]
    assert network[0].split('"')[1] not in lx.run("network", "ls").stdout
    print(up.stderr, file=sys.stderr)  # the first up's steps and times, for the log
