"""Snapshots, clones and rename on busybox containers (the Debian cases are in test_debian)."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import Lxpy, sh

pytestmark = pytest.mark.integration


def info(lxpy: Lxpy, name: str) -> dict[str, object]:
    return dict(json.loads(lxpy.run("info", name, "--format", "json").stdout))


def layers_of(lxpy: Lxpy, name: str) -> list[str]:
    where = f"{lxpy.paths.container_dir(name)}/layers"
    return sorted(os.listdir(where)) if os.path.isdir(where) else []


def test_snapshots_of_stopped_and_running_containers_restore(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    lxpy.run("start", "c1")
    sh(lxpy, "c1", "echo one > /root/data")
    lxpy.run("stop", "c1")
    assert lxpy.run("snapshot", "c1").stdout.strip() == "snap0"  # a plain rootfs, taken over
    assert lxpy.run("config", "get", "c1", "storage.kind").stdout.strip() == "overlay"
    lxpy.run("config", "set", "c1", "limits.pids=300")
    lxpy.run("start", "c1")
    sh(lxpy, "c1", "echo two > /root/data; rm /bin/vi")
    assert lxpy.run("snapshot", "c1", "two").stdout.strip() == "two"  # running: frozen, copied
    assert lxpy.state("c1") == "RUNNING"
    sh(lxpy, "c1", "echo three > /root/data")
    listed = lxpy.run("snapshot", "ls", "c1").stdout.split()
    assert "snap0" in listed and "two" in listed
    assert "Snapshots: 2: snap0, two\n" in lxpy.run("info", "c1").stdout

    refused = lxpy.run("snapshot", "restore", "c1", "snap0", check=False)
    assert refused.returncode != 0 and "is running" in refused.stderr
    lxpy.run("stop", "c1")
    lxpy.run("snapshot", "restore", "c1", "snap0")
    assert lxpy.run("config", "get", "c1", "limits.pids").stdout.strip() == "4096"
    lxpy.run("start", "c1")
    assert sh(lxpy, "c1", "cat /root/data; test -e /bin/vi && echo vi") == "one\nvi\n"
    lxpy.run("stop", "c1")
    lxpy.run("snapshot", "restore", "c1", "two")
    assert lxpy.run("config", "get", "c1", "limits.pids").stdout.strip() == "300"
    lxpy.run("start", "c1")
    assert sh(lxpy, "c1", "cat /root/data; test -e /bin/vi || echo no vi") == "two\nno vi\n"
    lxpy.run("stop", "c1")

    lxpy.run("snapshot", "rm", "c1", "snap0")
    lxpy.run("snapshot", "rm", "c1", "two")
    assert lxpy.run("snapshot", "ls", "c1").stdout.split() == ["SNAPSHOT", "CREATED", "LAYERS"]
    # Only the layers the container still stands on are left.
    assert len(layers_of(lxpy, "c1")) == 2
    missing = lxpy.run("snapshot", "restore", "c1", "two", check=False)
    assert missing.returncode != 0 and "no snapshot 'two'" in missing.stderr


def test_clones_are_new_machines_and_keep_their_origin(lxpy: Lxpy) -> None:
    lxpy.run("create", "origin")
    lxpy.run("start", "origin")
    sh(lxpy, "origin", "echo mine > /root/data")
    lxpy.run("clone", "--snapshot", "origin", "running-twin")  # of a running container
    lxpy.run("stop", "origin")
    lxpy.run("clone", "--snapshot", "origin", "twin")
    lxpy.run("clone", "origin", "copy")
    for name in ("origin", "running-twin", "twin", "copy"):
        lxpy.run("start", name)
    seen = {}
    for name in ("origin", "running-twin", "twin", "copy"):
        out = sh(lxpy, name, "hostname; cat /etc/hostname; cat /root/data").split()
        assert out == [name, name, "mine"]
        seen[name] = (str(info(lxpy, name)["ipv4"]), lxpy.run("config", "get", name, "uuid").stdout)
    assert len({address for address, _ in seen.values()}) == 4
    assert len({uuid for _, uuid in seen.values()}) == 4
    for name in ("origin", "running-twin", "twin", "copy"):
        lxpy.run("stop", name)

    refused = lxpy.run("destroy", "origin", check=False)
    assert refused.returncode != 0
    assert "running-twin, twin stand(s) on its layers" in refused.stderr
    renamed = lxpy.run("rename", "origin", "other", check=False)
    assert renamed.returncode != 0 and "stand(s) on its layers" in renamed.stderr
    before = layers_of(lxpy, "origin")
    lxpy.run("destroy", "running-twin")
    # The copy the running clone stood on was its alone: it went with it.
    assert len(layers_of(lxpy, "origin")) == len(before) - 1
    lxpy.run("destroy", "twin")
    lxpy.run("destroy", "origin")  # the full copy needs nothing of it
    lxpy.run("start", "copy")
    assert sh(lxpy, "copy", "cat /root/data") == "mine\n"
    lxpy.run("stop", "copy")


def test_rename_keeps_the_address_and_takes_the_new_hostname(lxpy: Lxpy) -> None:
    lxpy.run("create", "old")
    lxpy.run("start", "old")
    address = info(lxpy, "old")["ipv4"]
    lxpy.run("snapshot", "old", "s1")
    refused = lxpy.run("rename", "old", "new", check=False)
    assert refused.returncode != 0 and "is running" in refused.stderr
    lxpy.run("stop", "old")
    assert lxpy.run("rename", "old", "Bad_Name", check=False).returncode == 2
    lxpy.run("rename", "old", "new")
    assert "old" not in lxpy.run("ls").stdout
    lxpy.run("start", "new")
    assert sh(lxpy, "new", "hostname; cat /etc/hostname") == "new\nnew\n"
    assert info(lxpy, "new")["ipv4"] == address
    lxpy.run("stop", "new")
    # Its snapshots came along, standing on its own (renamed) layers.
    lxpy.run("snapshot", "restore", "new", "s1")
    lxpy.run("start", "new")
    # Taken as "old", its files are renamed on the way back.
    assert sh(lxpy, "new", "hostname; cat /etc/hostname") == "new\nnew\n"
    lxpy.run("stop", "new")


def test_clones_of_an_unchanged_container_share_its_layers(lxpy: Lxpy) -> None:
    lxpy.run("create", "base", "--network", "none")
    lxpy.run("snapshot", "base")
    layers = layers_of(lxpy, "base")
    for index in range(3):
        lxpy.run("clone", "--snapshot", "base", f"c{index}")
    # Nothing changed in between: no new layer for each clone (overlayfs stacks at most 500).
    assert layers_of(lxpy, "base") == layers
    stacks = {lxpy.run("config", "get", f"c{i}", "storage.layers").stdout for i in range(3)}
    assert len(stacks) == 1
    for index in range(3):
        lxpy.run("destroy", f"c{index}")
