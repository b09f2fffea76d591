"""Disk figures: a container's own bytes and its limit, from its quota group (btrfs) or a
count kept in its directory (overlay, dir), shown by info, ls --format json, top and the
TUI; reading them never walks a tree."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from lxpy import units
from lxpy.api import Api
from lxpy.linux import safefs
from lxpy.storage import usage
from lxpy.storage.usage import COUNT_FILE, Disk
from tests.conftest import Lxpy, sh
from tests.test_pools import pooled  # noqa: F401  (the fixture: pools go at the end)
from tests.test_tui import rows, select, settle, tui

integration = pytest.mark.integration
MB = 1 << 20


# -- without containers ---------------------------------------------------------------------
def test_a_figure_says_where_it_comes_from() -> None:
    live = Disk(5 * MB, 20 << 30, None)
    assert live.to_json() == {"used": 5 * MB, "limit": 20 << 30, "counted": None}
    assert live.origin == "its own blocks, from its quota"
    counted = Disk(1234, None, 1767225600.4)  # 2026-01-01T00:00:00Z
    assert counted.to_json() == {"used": 1234, "limit": None, "counted": "2026-01-01T00:00:00Z"}
    assert counted.origin == "counted at 2026-01-01T00:00:00Z"
    assert not hasattr(counted, "__dict__")  # __slots__: built once per container on `ls`


@pytest.mark.parametrize(
    ("used", "limit", "shown"),
    [
        (None, None, "-"),
        (0, None, "0"),
        (1000, None, "1000"),
        (4096, None, "4.0K"),
        (int(1.2 * 2**30), 20 << 30, "1.2G/20G"),
        (512 * MB, 2 << 30, "512M/2.0G"),
    ],
)
def test_used_of_fits_a_narrow_column(used: int | None, limit: int | None, shown: str) -> None:
    assert units.used_of(used, limit) == shown


# -- with containers ------------------------------------------------------------------------
def listed(lx: Lxpy) -> dict[str, Any]:
    return {c["name"]: c["disk"] for c in json.loads(lx.run("ls", "--format", "json").stdout)}


def info_disk(lx: Lxpy, name: str) -> dict[str, Any]:
    disk: dict[str, Any] = json.loads(lx.run("info", name, "--format", "json").stdout)["disk"]
    return disk


def upper(lx: Lxpy, name: str) -> str:
    return f"{lx.paths.container_dir(name)}/overlay/upper"


def wait_for_count(lx: Lxpy, name: str, newer_than: str | None, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        disk = listed(lx)[name]
        if disk is not None and (newer_than is None or disk["counted"] > newer_than):
            return disk
        assert time.monotonic() < deadline, f"no new count of {name}: {disk}"
        time.sleep(0.2)


@integration
def test_an_overlay_figure_is_counted_at_changes_and_read_by_ls(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")  # busybox: dir storage, counted now
    created = listed(lxpy)["c1"]
    assert created["used"] > 0 and created["limit"] is None and created["counted"]
    lxpy.run("snapshot", "c1")  # its files go into a sealed layer: an overlay from now on
    assert listed(lxpy)["c1"]["used"] < created["used"]

    os.unlink(f"{lxpy.paths.container_dir('c1')}/{COUNT_FILE}")
    assert listed(lxpy)["c1"] is None  # never counted: no figure, and no walk for one

    lxpy.run("start", "c1")
    sh(lxpy, "c1", "dd if=/dev/zero of=/root/blob bs=1M count=3 2>/dev/null")
    time.sleep(1.1)  # counts within one second would have equal times
    lxpy.run("stop", "c1")
    stopped = wait_for_count(lxpy, "c1", None)  # the stopping monitor's count
    assert stopped["used"] >= 3 * MB and stopped["limit"] is None

    # Written behind lxpy's back: `ls` keeps showing the count (it does not walk); `info`
    # shows it too, without a walk, and has it counted again in the background: `ls` and
    # `info` show that count from then on.
    time.sleep(1.1)
    root = safefs.open_tree(upper(lxpy, "c1"))
    try:
        safefs.write_file(root, "root/more", os.urandom(2 * MB))
    finally:
        os.close(root)
    assert listed(lxpy)["c1"] == stopped
    assert info_disk(lxpy, "c1") == stopped
    counted = wait_for_count(lxpy, "c1", stopped["counted"])
    assert counted["used"] >= stopped["used"] + 2 * MB
    assert info_disk(lxpy, "c1") == counted
    text = lxpy.run("info", "c1").stdout
    assert f"Disk:     {units.size(counted['used'])} (counted at " in text


@integration
def test_a_clone_is_counted_and_a_count_of_a_destroyed_container_leaves_nothing(
    lxpy: Lxpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    lxpy.run("create", "c1", "--network", "none")
    lxpy.run("clone", "c1", "c2")
    assert listed(lxpy)["c2"]["used"] > 0

    # Destroyed while it is walked: the count is dropped, and no lock file is made again.
    def destroyed_meanwhile(path: str) -> int:
        lxpy.run("destroy", "c2")
        return 1

    monkeypatch.setattr("lxpy.storage.trees.tree_size", destroyed_meanwhile)
    cfg = Api(lxpy.paths).info("c2").config
    assert cfg is not None
    assert usage.count(lxpy.paths, "c2", cfg) is not None  # what it walked, not kept
    assert not os.path.exists(lxpy.paths.container_dir("c2"))
    assert not os.path.exists(lxpy.paths.lock_file("c2"))


@integration
@pytest.mark.usefixtures("pooled")
def test_a_pooled_figure_is_its_quota_groups_with_its_limit(lxpy: Lxpy) -> None:
    lxpy.run("storage", "create", "fast", "--size", "1G")
    lxpy.run(
        "create", "c1", "-t", "busybox", "--network", "none", "--storage", "fast", "--disk", "100M"
    )
    lxpy.run("start", "c1")
    sh(lxpy, "c1", "dd if=/dev/urandom of=/root/blob bs=1M count=20 2>/dev/null; sync")
    running = listed(lxpy)["c1"]
    assert running["used"] >= 20 * MB and running["limit"] == 100 * MB
    assert running["counted"] is None  # live: no count was kept, none is needed
    assert not os.path.exists(f"{lxpy.paths.container_dir('c1')}/{COUNT_FILE}")
    lxpy.run("stop", "c1")
    assert listed(lxpy)["c1"]["used"] >= 20 * MB  # stopped too
    assert "Disk:     " in (text := lxpy.run("info", "c1").stdout)
    assert "of 100.0 MiB (its own blocks, from its quota)" in text


@integration
def test_top_shows_the_figure(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    lxpy.run("start", "c1")
    disk = listed(lxpy)["c1"]
    top = lxpy.run("top", "--once").stdout.splitlines()
    assert top[0].split()[-2:] == ["DISK", "UPTIME"]
    row = top[1].split()  # sizes are two words, DISK's one
    assert row[0] == "c1" and row[-2] == units.used_of(disk["used"], None)


@integration
async def test_the_tui_shows_the_figure_and_its_poll_walks_nothing(
    lxpy: Lxpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    lxpy.run("create", "counted", "--network", "none")
    lxpy.run("create", "never", "--network", "none")
    os.unlink(f"{lxpy.paths.container_dir('never')}/{COUNT_FILE}")
    disk = listed(lxpy)["counted"]

    def walked(path: str) -> int:
        raise AssertionError(f"a poll walked {path}")

    monkeypatch.setattr("lxpy.storage.trees.tree_size", walked)
    async with tui(lxpy) as (app, pilot):
        await settle(app, pilot, lambda: {"counted", "never"} <= set(rows(app)))
        table = rows(app)
        assert table["counted"][7] == units.used_of(disk["used"], None)
        assert table["never"][7] == "-"
        await select(app, pilot, "counted")
        await settle(
            app, pilot, lambda: "counted" in str(app.fleet.query_one("#detail-info").render())
        )
        shown = str(app.fleet.query_one("#detail-info").render())
        assert f"pool dir, disk {units.size(disk['used'])}" in shown
        assert f"counted at {disk['counted']}" in shown
