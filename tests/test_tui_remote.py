"""The TUI over two hosts (issue 19 item 3), headless as tests/test_tui.py: this root, and a
second one as the remote `far` over the tests' own sshd (the `far` fixture). The remote's
rows come from its event stream over the SSH connection; a host that stops answering is
marked and tried again, while this host's rows go on."""

from __future__ import annotations

import asyncio
import os

import psutil
import pytest
from textual.pilot import Pilot

from lxpy.remote import registry
from lxpy.remote.connection import SSH_COMMAND_ENV
from lxpy.tui.app import LxpyApp
from lxpy.tui.logs import LogLines, LogScreen
from lxpy.tui.settings import Settings
from tests.conftest import Lxpy, master_pid
from tests.sshd import Sshd
from tests.test_tui import Recorder, make, messages, tui, until

pytestmark = pytest.mark.integration

WAIT = 30.0  # for anything that crosses SSH: generous, and still bounded


def cell(app: LxpyApp, address: str, column: str) -> str:
    table = app.fleet.table
    return str(table.get_cell(address, column)) if address in addresses(app) else ""


def addresses(app: LxpyApp) -> list[str]:
    return [str(row.key.value) for row in app.fleet.table.ordered_rows]


def host_text(app: LxpyApp) -> str:
    return str(app.fleet.query_one("#host").render())


def detail_text(app: LxpyApp) -> str:
    return str(app.fleet.query_one("#detail-info").render())


async def select(app: LxpyApp, pilot: Pilot[None], address: str) -> None:
    table = app.fleet.table
    table.move_cursor(row=table.get_row_index(address))
    await pilot.pause()
    assert table.selected == address


async def following(root: str, pilot: Pilot[None]) -> None:
    """Until `lxpy events` runs on `root` (for the remote: over SSH), and a moment for it
    to open its file: an event before that is not in its stream."""
    await until(pilot, lambda: _events_of(root), WAIT)
    await asyncio.sleep(0.5)


def _events_of(root: str) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if root in (cmd := p.info["cmdline"] or []) and "events" in cmd
    ]


async def test_both_hosts_rows_an_action_there_and_a_host_that_drops(
    lxpy: Lxpy, far: Lxpy, sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(lxpy, "here")
    make(far, "box", "zed")
    terminal = Recorder()
    # No listing but those its events bring (and the actions'): the stream is what is tested.
    settings = Settings(remote_refresh=600)
    remotes = list(registry.load(lxpy.paths).remotes.values())
    async with tui(lxpy, settings, terminal, (120, 35), remotes) as (app, pilot):
        wanted = {"here", "far:box", "far:zed"}
        await until(pilot, lambda: wanted <= set(addresses(app)), WAIT)
        assert cell(app, "here", "host") == "local" and cell(app, "far:box", "host") == "far"
        assert cell(app, "far:box", "name") == "box" and cell(app, "far:box", "state") == "STOPPED"
        assert "far: 2 containers, 0 running" in host_text(app)

        # What happens there comes through its event stream.
        await following(far.root, pilot)
        far.run("create", "new1", "--network", "none")
        await until(pilot, lambda: "far:new1" in addresses(app), WAIT)

        # An action on a remote row: `s` starts it there.
        await select(app, pilot, "far:box")
        await until(pilot, lambda: "template busybox" in detail_text(app), WAIT)
        await pilot.press("s")
        await until(pilot, lambda: cell(app, "far:box", "state") == "RUNNING", WAIT)
        assert far.state("box") == "RUNNING" and not messages(app)
        await until(pilot, lambda: "uptime" in detail_text(app) and "RUNNING" in detail_text(app))
        # Attach hands the terminal to `lxpy shell far:box`, which runs ssh on it.
        await pilot.press("e")
        assert terminal.commands[-1][-2:] == ["shell", "far:box"]
        await pilot.press("E")
        assert terminal.commands[-1][-4:] == ["shell", "far:box", "-u", "root"]
        # The panes of this root's files are not offered for a remote row.
        assert not app.fleet.check_action("snapshots", ())
        # The log view reads its console over the connection.
        await pilot.press("l")
        assert isinstance(app.screen, LogScreen)
        console = app.screen.query_one("#console", LogLines)
        await until(pilot, lambda: console.text.find("init started", 0) is not None, WAIT)
        await pilot.press("q")

        # The host filter: `H` goes through the hosts, then back to all of them.
        await pilot.press("H")
        assert addresses(app) == ["here"] and app.fleet.filter_text == "host:local"
        await pilot.press("H")
        assert set(addresses(app)) == {"far:box", "far:new1", "far:zed"}
        await pilot.press("H")
        assert set(addresses(app)) == wanted | {"far:new1"}
        await pilot.press("slash", *"host:far zed", "enter")
        assert addresses(app) == ["far:zed"]
        await pilot.press("escape")

        # The host drops: its master killed, and ssh can no longer log in.
        monkeypatch.setenv(SSH_COMMAND_ENV, "ssh -F /dev/null")
        os.kill(master_pid(lxpy, sshd, "far"), 9)
        await until(pilot, lambda: cell(app, "far:box", "state") == "unreachable", WAIT)
        assert "far unreachable: " in host_text(app)
        await until(pilot, lambda: "its host does not answer" in detail_text(app))
        assert not app.fleet.check_action("stop", ())  # nothing is offered on its rows
        # This host's rows go on meanwhile.
        lxpy.run("start", "here")
        await until(pilot, lambda: cell(app, "here", "state") == "RUNNING", WAIT)
        # It answers again: tried again before long, and its rows are back.
        monkeypatch.setenv(SSH_COMMAND_ENV, sshd.ssh_command)
        await until(pilot, lambda: cell(app, "far:box", "state") == "RUNNING", WAIT)
        assert "far: 3 containers, 1 running" in host_text(app)
