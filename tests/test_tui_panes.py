"""The TUI's panes on one container (snapshots, shared folders, ports, its config) and on the
networks, headless against real containers, checked with the CLI."""

from __future__ import annotations

import calendar
import re
import types
from pathlib import Path

import pytest
from textual.pilot import Pilot

from lxpy.api import Api, HostUsage, Snapshot
from lxpy.tui import panes
from lxpy.tui.app import LxpyApp
from lxpy.tui.dialogs import Confirm
from lxpy.tui.panes import Pane
from tests.conftest import Lxpy, matches_snapshot, sh
from tests.test_network import wait_lease
from tests.test_tui import Recorder, make, messages, select, settle, tui

pytestmark = pytest.mark.integration


def pane(app: LxpyApp) -> Pane:
    screen = app.screen
    assert isinstance(screen, Pane), screen
    return screen


def listed(app: LxpyApp) -> dict[str, list[str]]:
    """The pane's rows by key, as drawn."""
    if not isinstance(app.screen, Pane):
        return {}
    table = pane(app).table
    return {
        str(row.key.value): [str(c) for c in table.get_row(row.key)] for row in table.ordered_rows
    }


def said(app: LxpyApp, text: str) -> bool:
    return any(text in m for m in messages(app))


async def test_snapshots_are_taken_restored_and_deleted_in_their_pane(lxpy: Lxpy) -> None:
    make(lxpy, "c1", start=("c1",))
    sh(lxpy, "c1", "echo before > /root/file")
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("z")
        await settle(app, pilot, lambda: isinstance(app.screen, Pane))
        assert listed(app) == {}
        await pilot.press("t", *"s1", "enter")
        await settle(app, pilot, lambda: "s1" in listed(app))
        _, age, created, size = listed(app)["s1"]
        assert re.fullmatch(r"\d+ s ago", age) and created.endswith("Z")
        assert size == "-"  # overlay storage: nothing counts a snapshot's bytes
        await pilot.press("t", "enter")  # no name: one is made up
        await settle(app, pilot, lambda: "snap0" in listed(app))

        sh(lxpy, "c1", "echo after > /root/file")
        await select_row(app, pilot, "s1")
        await pilot.press("r")
        dialog = app.screen
        assert isinstance(dialog, Confirm) and "it is stopped first" in dialog.explanation
        await pilot.press("enter")  # Cancel has the focus: nothing happens
        await settle(app, pilot, lambda: isinstance(app.screen, Pane))
        assert lxpy.state("c1") == "RUNNING"
        await pilot.press("r")
        await pilot.press("tab", "enter")  # to the confirm button, past Cancel
        await settle(app, pilot, lambda: said(app, "c1: restored s1 (stopped)"))
        assert lxpy.state("c1") == "STOPPED"
        lxpy.run("start", "c1")
        assert sh(lxpy, "c1", "cat /root/file") == "before\n"

        await select_row(app, pilot, "s1")
        await pilot.press("d")
        await pilot.press("tab", "enter")  # to the confirm button, past Cancel
        await settle(app, pilot, lambda: said(app, "c1: deleted snapshot s1"))
        await settle(app, pilot, lambda: list(listed(app)) == ["snap0"])
        await pilot.press("escape")
        assert app.screen is app.fleet
    assert "s1" not in lxpy.run("snapshot", "ls", "c1").stdout


async def select_row(app: LxpyApp, pilot: Pilot[None], key: str) -> None:
    table = pane(app).table
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()
    assert pane(app).selected == key


async def test_failures_are_notifications_with_the_clis_message(lxpy: Lxpy) -> None:
    make(lxpy, "c1")
    lxpy.run("snapshot", "c1", "s1")
    cli = lxpy.run("snapshot", "c1", "s1", check=False).stderr.strip()
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("z")
        await settle(app, pilot, lambda: "s1" in listed(app))
        await pilot.press("t", *"s1", "enter")
        await settle(app, pilot, lambda: messages(app))
        assert messages(app) == [cli]


async def test_shared_folders_and_ports_are_added_and_removed(lxpy: Lxpy, tmp_path: Path) -> None:
    lxpy.run("create", "c1")  # on the default network: ports need one
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("m")
        await settle(app, pilot, lambda: isinstance(app.screen, Pane))
        # Read-only ticked, then back to the path inside: enter there sends the form.
        await pilot.press("a", *str(tmp_path), "tab", "tab", "space", "shift+tab", *"/srv", "enter")
        await settle(app, pilot, lambda: "/srv" in listed(app))
        assert listed(app)["/srv"] == [str(tmp_path), "/srv", "ro", "-"]
        assert re.search(rf"c1 +{tmp_path} +/srv +ro", lxpy.run("mount", "ls", "c1").stdout)
        await pilot.press("d")
        await settle(app, pilot, lambda: not listed(app))
        assert str(tmp_path) not in lxpy.run("mount", "ls", "c1").stdout

        await pilot.press("escape", "P")
        await settle(app, pilot, lambda: isinstance(app.screen, Pane))
        await pilot.press("a", *"18080:80", "enter")
        await settle(app, pilot, lambda: listed(app))
        assert list(listed(app).values()) == [["0.0.0.0", "18080", "80", "tcp"]]
        assert re.search(r"c1 +0\.0\.0\.0 +18080 +80 +tcp", lxpy.run("port", "ls", "c1").stdout)
        await pilot.press("d")
        await settle(app, pilot, lambda: not listed(app))
        assert "18080" not in lxpy.run("port", "ls", "c1").stdout


async def test_the_networks_pane_lists_containers_with_their_addresses(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    lxpy.run("start", "c1")  # the network comes up with its first container
    address = wait_lease(lxpy, "c1")
    network = Api(lxpy.paths).default_network()
    async with tui(lxpy) as (app, pilot):
        await pilot.press("N")
        await settle(app, pilot, lambda: listed(app))
        row = listed(app)[f"{network}/c1"]
        assert row == [network, row[1], "lxpy", "up", "c1", address]
        assert address.startswith(row[1].rsplit(".", 1)[0])  # in the network's subnet


class Failing(Recorder):
    def __call__(self, command: list[str]) -> int:
        super().__call__(command)
        return 1


async def test_the_config_action_runs_config_edit_and_says_how_it_went(lxpy: Lxpy) -> None:
    make(lxpy, "c1")
    for terminal, outcome in ((Recorder(), "checked and saved"), (Failing(), "left as it was")):
        async with tui(lxpy, terminal=terminal) as (app, pilot):
            await select(app, pilot, "c1")
            await pilot.press("C")
            assert terminal.commands == [app.lxpy_command(["config", "edit", "c1"])]
            assert terminal.commands[0][-4:] == [lxpy.root, "config", "edit", "c1"]
            assert said(app, f"c1: config.toml {outcome}")


async def test_the_host_line_counts_the_running_containers(lxpy: Lxpy) -> None:
    make(lxpy, "c1", "c2", "c3", start=("c1", "c2"))
    async with tui(lxpy) as (app, pilot):
        host = app.fleet.query_one("#host")
        await settle(app, pilot, lambda: "running" in str(host.render()))
        line = str(host.render())
        assert line.startswith("host CPU ") and line.endswith(" · 2 running")


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
async def test_the_snapshots_pane_matches_its_snapshot(
    lxpy: Lxpy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """As test_tui's main screen: LXPY_UPDATE_SNAPSHOTS=1 writes them after a change."""
    host = HostUsage(2, 12.0, 3 * 2**30, 8 * 2**30, (0.5, 0.4, 0.3), 0.0, 0.0)
    monkeypatch.setattr(Api, "host", lambda self, earlier=None: host)
    # Fixed times and sizes: a btrfs pool's count next to overlay's none.
    taken = [
        Snapshot("clean", "2026-01-01T00:00:00Z", ()),
        Snapshot("before-upgrade", "2026-01-03T09:30:00Z", ()),
        Snapshot("snap0", "2026-01-03T11:59:20Z", ()),
    ]
    sizes = {"clean": 312 * 2**20, "before-upgrade": 4096, "snap0": None}
    monkeypatch.setattr(Api, "snapshots", lambda self, name: taken)
    monkeypatch.setattr(Api, "snapshot_size", lambda self, name, snap: sizes[snap])
    now = calendar.timegm((2026, 1, 3, 12, 0, 0))
    monkeypatch.setattr(panes, "time", types.SimpleNamespace(time=lambda: now))
    make(lxpy, "dev")
    async with tui(lxpy, size=size) as (app, pilot):
        await select(app, pilot, "dev")
        await pilot.press("z")
        await settle(app, pilot, lambda: len(listed(app)) == 3)
        svg = app.export_screenshot()
    matches_snapshot(svg, f"snapshots_pane_{size[0]}x{size[1]}.svg", tmp_path)
