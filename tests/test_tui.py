"""The fleet TUI, headless: textual's run_test() and Pilot against real containers in a
temporary root. Attach and console cannot hand over a terminal here; the app is given a
recorder for the command it would run (tests/test_tui_tmux.py runs them for real)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.worker import WorkerCancelled

from lxpy.api import Api, Created, HostUsage, Progress, Request
from lxpy.remote.registry import Remote
from lxpy.storage.usage import Disk
from lxpy.tui.app import LxpyApp
from lxpy.tui.fleet import Row
from lxpy.tui.settings import Settings
from lxpy.tui.settings import load as load_settings
from tests.conftest import Lxpy, matches_snapshot

pytestmark = pytest.mark.integration

SIZE = (80, 24)  # the smallest terminal the TUI promises to be usable in


class Recorder:
    """Stands in for the terminal hand-over: remembers the commands."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> int:
        self.commands.append(command)
        return 0


@asynccontextmanager
async def tui(
    lx: Lxpy,
    settings: Settings | None = None,
    terminal: Recorder | None = None,
    size: tuple[int, int] = SIZE,
    remotes: Sequence[Remote] = (),
) -> AsyncIterator[tuple[LxpyApp, Pilot[None]]]:
    """The app over `lx` (and `remotes`), its first poll done; the remote hosts' threads
    ended at the end."""
    app = LxpyApp(Api(lx.paths), settings or Settings(), terminal or Recorder(), remotes)
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            await settle(app, pilot, lambda: app.fleet.local_rows or not app.api.names())
            yield app, pilot
    finally:
        app.fleet.join_hosts()
        assert not any(host.thread.is_alive() for host in app.fleet.remotes.values())


async def settle(
    app: LxpyApp, pilot: Pilot[None], done: Callable[[], object], timeout: float = 20
) -> None:
    """Let the workers run until `done()` holds (polling again meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(WorkerCancelled):  # a poll replaced by a newer one
            await app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if done():
            return
        assert time.monotonic() < deadline, f"not in time: {messages(app)} {rows(app)}"
        app.fleet.poll()


async def until(pilot: Pilot[None], done: Callable[[], object], timeout: float = 10) -> None:
    """Let the app run until `done()` holds, without waiting for its workers."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not in time"
        await pilot.pause(0.05)


async def press_until(app: LxpyApp, pilot: Pilot[None], key: str, name: str, state: str) -> None:
    """Press `key`, then wait until the table shows `name` in `state`."""
    await pilot.press(key)
    await settle(app, pilot, lambda: state_of(app, name) == state)


def rows(app: LxpyApp) -> dict[str, list[str]]:
    table = app.fleet.table
    return {
        str(row.key.value): [str(c) for c in table.get_row(row.key)] for row in table.ordered_rows
    }


def state_of(app: LxpyApp, name: str) -> str:
    return rows(app)[name][2]


def drawn_states(app: LxpyApp, name: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every state the table is drawn with for `name` from now on, in order: a transient
    label lasts as long as its action, which may be over before a key press returns, so
    a test asserts that it was drawn rather than samples the table once."""
    drawn: list[str] = []
    table = app.fleet.table
    show = table.show

    def recording(
        shown: Sequence[Row], transient: Mapping[str, str], marked: Collection[str]
    ) -> None:
        for row in shown:
            if row.name == name:
                drawn.append(transient.get(name) or str(row.state))
        show(shown, transient, marked)

    monkeypatch.setattr(table, "show", recording)
    return drawn


def drawn_before(drawn: list[str], first: str, then: str) -> bool:
    return first in drawn and then in drawn[drawn.index(first) :]


async def select(app: LxpyApp, pilot: Pilot[None], name: str) -> None:
    table = app.fleet.table
    table.move_cursor(row=table.get_row_index(name))
    await pilot.pause()
    assert table.selected == name


def messages(app: LxpyApp) -> list[str]:
    return [n.message for n in app._notifications]


def make(lx: Lxpy, *names: str, start: tuple[str, ...] = ()) -> None:
    for name in names:
        lx.run("create", name, "--network", "none")
    for name in start:
        lx.run("start", name)


async def test_the_table_lists_real_containers(lxpy: Lxpy) -> None:
    make(lxpy, "web", "db", start=("web",))
    async with tui(lxpy) as (app, pilot):
        await settle(app, pilot, lambda: rows(app).get("web", [""] * 6)[5] != "-")
        table = rows(app)
        assert set(table) == {"web", "db"}
        assert table["web"][2] == "RUNNING" and table["db"][2] == "STOPPED"
        assert table["web"][3] == "busybox"
        assert table["web"][6].endswith("iB")  # memory, from the container's cgroup
        assert table["db"][5] == "-" and table["db"][6] == "-"
        # The refresh keeps the cursor on the same container, not the same index.
        await select(app, pilot, "web")
        lxpy.run("create", "aaa", "--network", "none")
        await settle(app, pilot, lambda: "aaa" in rows(app))
        assert app.fleet.table.selected == "web"
        # The detail pane follows the cursor.
        info = str(app.fleet.query_one("#detail-info").render())
        assert "web" in info and "busybox" in info


async def test_privileged_rows_say_so(lxpy: Lxpy) -> None:
    make(lxpy, "plain")
    lxpy.run("create", "root1", "--network", "none", "--privileged")
    async with tui(lxpy) as (app, pilot):
        await settle(app, pilot, lambda: {"plain", "root1"} <= set(rows(app)))
        table = rows(app)
        assert table["root1"][1] == "root1 privileged"
        assert table["plain"][1] == "plain"
        await select(app, pilot, "root1")
        assert "container root is host root" in str(app.fleet.query_one("#detail-info").render())


async def test_start_stop_and_destroy_change_real_state(
    lxpy: Lxpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(lxpy, "c1")
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        drawn = drawn_states(app, "c1", monkeypatch)
        await pilot.press("s")
        await settle(app, pilot, lambda: state_of(app, "c1") == "RUNNING")
        assert drawn_before(drawn, "starting…", "RUNNING"), drawn
        assert lxpy.state("c1") == "RUNNING"

        await pilot.press("S")
        # Cancel has the focus: enter changes nothing.
        await pilot.press("enter")
        await settle(app, pilot, lambda: True)
        assert lxpy.state("c1") == "RUNNING"
        await pilot.press("S")
        await pilot.click("#stop")
        await settle(app, pilot, lambda: state_of(app, "c1") == "STOPPED")
        assert lxpy.state("c1") == "STOPPED"

        await press_until(app, pilot, "s", "c1", "RUNNING")
        await pilot.press("D")
        said = [str(label.render()) for label in app.screen.query("Label")]
        assert "Running now, killed first: c1." in said
        await pilot.press("c", "x", "enter")  # the wrong name: nothing happens
        assert "c1" in lxpy.run("ls").stdout
        await pilot.press("backspace", "backspace", "c", "1")
        await pilot.click("#destroy")
        await settle(app, pilot, lambda: "c1" not in rows(app))
        assert lxpy.run("ls", "--format", "json").stdout.strip() == "[]"


async def test_the_create_form_builds_shares_and_starts_a_busybox_container(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    async with tui(lxpy) as (app, pilot):
        await pilot.press("n")
        await pilot.press(*"box1")
        await pilot.click("#memory")
        await pilot.press(*"12Q")
        await pilot.click("#create")
        # A bad value keeps the form open with the CLI's message.
        error = str(app.screen.query_one("#form-error").render())
        assert "memory 12Q" in error and "lxpy:" in error
        await pilot.click("#memory")
        await pilot.press("end", "backspace", "backspace", "backspace", *"64M")
        await pilot.click("#network")
        await pilot.press(*"none")
        await pilot.click("#share")
        await pilot.press(*f"{tmp_path}:/srv")
        await pilot.click("#create")  # "start it" is on by default
        await settle(app, pilot, lambda: rows(app).get("box1", [""] * 3)[2] == "RUNNING")
        await settle(app, pilot, lambda: any("created box1" in m for m in messages(app)))
        await pilot.press("n")
        await pilot.press(*"box2")
        await pilot.click("#start")  # off: made, not started
        await pilot.click("#create")
        await settle(app, pilot, lambda: rows(app).get("box2", [""] * 3)[2] == "STOPPED")
    assert lxpy.run("config", "get", "box1", "limits.memory").stdout.strip() == "64M"
    assert lxpy.run("config", "get", "box1", "template").stdout.strip() == "busybox"
    assert lxpy.run("config", "get", "box1", "network").stdout.strip() == "[]"
    assert f"{tmp_path}" in lxpy.run("mount", "ls", "box1").stdout


async def test_columns_follow_the_values_both_ways_after_a_create(
    lxpy: Lxpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create shows a short fixed label, its step in the detail pane, and leaves every
    column in view at 120 columns once done (widths shrink back, not only grow)."""
    long_name = "a-container-with-a-rather-long-name-for-the-table"
    make(lxpy, long_name)
    async with tui(lxpy, size=(120, 35)) as (app, pilot):
        table = app.fleet.table
        gate = threading.Event()
        create = app.api.create

        def held(request: Request, progress: Progress | None = None) -> Created:
            assert progress is not None
            progress.step("a step with a long description of what it does right now")
            gate.wait(20)  # until the test has looked
            return create(request, progress)

        monkeypatch.setattr(app.api, "create", held)
        await pilot.press("n", *"b2")
        await pilot.click("#network")
        await pilot.press(*"none")
        await pilot.click("#create")
        try:
            # Not `settle`: it waits for every worker, the held create among them.
            await until(pilot, lambda: rows(app).get("b2", [""] * 3)[2] == "creating…")
            await select(app, pilot, "b2")
            await until(pilot, lambda: "long description" in detail_text(app))
            assert "creating from busybox" in detail_text(app)
        finally:
            gate.set()
        await settle(app, pilot, lambda: rows(app).get("b2", [""] * 3)[2] == "RUNNING")
        lxpy.run("destroy", "--force", long_name)
        await settle(app, pilot, lambda: long_name not in rows(app))
        widths = {key.value: column.content_width for key, column in table.columns.items()}
        assert widths["state"] <= len("RUNNING ") and widths["name"] <= len("NAME ▼"), widths
        assert table.virtual_size.width <= table.size.width, widths


async def test_errors_are_notifications_with_the_clis_message(lxpy: Lxpy) -> None:
    make(lxpy, "c1")
    os.unlink(f"{lxpy.paths.rootfs('c1')}/sbin/init")  # the test's own container
    cli = lxpy.run("start", "c1", check=False).stderr.strip()
    assert cli.startswith("lxpy: ")
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("s")
        await settle(app, pilot, lambda: messages(app))
        assert messages(app) == [cli]
        assert state_of(app, "c1") == "STOPPED"


async def test_actions_are_offered_only_where_they_can_work(lxpy: Lxpy) -> None:
    make(lxpy, "up1", "up2", "down1", start=("up1", "up2"))
    async with tui(lxpy) as (app, pilot):
        screen = app.fleet
        await select(app, pilot, "down1")
        assert not screen.check_action("stop", ()) and not screen.check_action("freeze", ())
        assert not screen.check_action("attach", ()) and screen.check_action("start", ())
        footer = {b.binding.action for b in screen.active_bindings.values()}
        assert "start" in footer and "stop" not in footer
        await pilot.press("S", "p")  # neither stop nor freeze for a stopped row: no dialog
        assert app.screen is screen and not messages(app)
        palette = [c.title for c in app.get_system_commands(app.screen)]
        assert "Start" in palette and "Stop" not in palette and "Help" in palette
        # Marked: a bulk freeze skips the stopped one and says so once.
        await pilot.press("space", "space", "space")
        await pilot.press("p")
        await settle(app, pilot, lambda: state_of(app, "up2") == "FROZEN")
        assert messages(app)[0] == "freeze: skipped down1 (not running)"
        assert {state_of(app, n) for n in ("up1", "up2")} == {"FROZEN"}
        await pilot.press("space", "U")  # mark, then clear the marks
        assert not screen.marked
        lxpy.run("unfreeze", "up1", "up2")


async def test_attach_hands_over_and_refuses_without_a_shell(lxpy: Lxpy) -> None:
    make(lxpy, "c1", "c2", start=("c1", "c2"))
    rootfs = lxpy.paths.rootfs("c2")
    for shell in ("bin/sh", "bin/ash", "bin/bash"):
        if os.path.lexists(f"{rootfs}/{shell}"):
            os.unlink(f"{rootfs}/{shell}")
    # c1's own user: `e` logs in as it (`lxpy shell`), `E` as root.
    lxpy.run("config", "set", "c1", "user.name=daemon")
    terminal = Recorder()
    async with tui(lxpy, terminal=terminal) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("e")
        assert terminal.commands and terminal.commands[-1][-6:] == [
            "--root",
            lxpy.root,
            "shell",
            "c1",
            "-u",
            "daemon",
        ]
        await pilot.press("E")
        assert terminal.commands[-1][-4:] == ["shell", "c1", "-u", "root"]
        await pilot.press("c")
        assert terminal.commands[-1][-2:] == ["console", "c1"]
        await select(app, pilot, "c2")
        await pilot.press("e")
        assert len(terminal.commands) == 3
        assert any("c2: the container has no shell" in m for m in messages(app))


async def test_filter_sort_and_marks(lxpy: Lxpy) -> None:
    make(lxpy, "alpha", "beta", "gamma", start=("beta",))
    async with tui(lxpy) as (app, pilot):
        assert list(rows(app)) == ["alpha", "beta", "gamma"]
        await pilot.press("slash", *"mm")
        assert list(rows(app)) == ["gamma"]
        await pilot.press("escape")
        assert list(rows(app)) == ["alpha", "beta", "gamma"]
        await pilot.press("o")  # by state
        assert list(rows(app)) == ["beta", "alpha", "gamma"]
        await pilot.click(f"#{app.fleet.table.id}", offset=(5, 0))  # the NAME header
        assert app.fleet.sort_key == "name"
        # Two marked rows take one start: one was running, so the report is partial.
        await select(app, pilot, "alpha")
        await pilot.press("space", "space")  # alpha, beta
        assert rows(app)["alpha"][0] == "●" and rows(app)["beta"][0] == "●"
        await pilot.press("s")
        await settle(app, pilot, lambda: state_of(app, "alpha") == "RUNNING")
        assert messages(app)[0] == "start: skipped beta (already running)"
        assert lxpy.state("alpha") == "RUNNING"


async def test_rows_group_by_fleet(lxpy: Lxpy, tmp_path: Path) -> None:
    (tmp_path / "lxpy.toml").write_text(
        '[fleet]\nname = "zoo"\n[containers.a]\n[containers.b]\ndepends_on = ["a"]\n'
    )
    lxpy.run("up", "-f", str(tmp_path), timeout=120)
    make(lxpy, "m1", "zz")
    async with tui(lxpy) as (app, pilot):
        assert list(rows(app)) == ["m1", "zoo-a", "zoo-b", "zz"]
        await pilot.press("F")
        assert list(rows(app)) == ["zoo-a", "zoo-b", "m1", "zz"]
        assert "grouped by fleet" in str(app.fleet.sub_title)
        await pilot.press("slash", *"zoo", "enter")
        assert list(rows(app)) == ["zoo-a", "zoo-b"]
        await select(app, pilot, "zoo-b")
        await settle(app, pilot, lambda: "fleet zoo" in detail_text(app))


def detail_text(app: LxpyApp) -> str:
    return str(app.fleet.query_one("#detail-info").render())


async def test_keys_come_from_the_settings_file(lxpy: Lxpy) -> None:
    os.makedirs(lxpy.paths.etc)
    with open(f"{lxpy.paths.etc}/tui.toml", "w") as f:
        f.write('shell = ["/bin/sh"]\n[keys]\nstart = "x"\n')
    settings = load_settings(f"{lxpy.paths.etc}/tui.toml")
    assert settings.keys["start"] == "x" and settings.shell == ("/bin/sh",)
    make(lxpy, "c1")
    terminal = Recorder()
    async with tui(lxpy, settings, terminal) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("s")
        await settle(app, pilot, lambda: True)
        assert lxpy.state("c1") == "STOPPED"
        await press_until(app, pilot, "x", "c1", "RUNNING")
        await pilot.press("e")
        assert terminal.commands[-1][-6:] == ["shell", "c1", "-u", "root", "--", "/bin/sh"]


async def test_vim_motions_and_every_key_can_be_rebound(lxpy: Lxpy) -> None:
    os.makedirs(lxpy.paths.etc)
    with open(f"{lxpy.paths.etc}/tui.toml", "w") as f:
        f.write('[keys]\ndown = "ctrl+n"\nup = "up,k"\nfilter = "slash"\n')
    settings = load_settings(f"{lxpy.paths.etc}/tui.toml")
    names = ["a1", "a2", "b1", "b2"]
    make(lxpy, *names)
    async with tui(lxpy, settings) as (app, pilot):
        table = app.fleet.table
        await select(app, pilot, "a1")
        await pilot.press("ctrl+n", "ctrl+n")  # the rebound cursor key
        assert table.selected == "b1"
        await pilot.press("down", "j")  # no longer bound to moving down
        assert table.selected == "b1"
        await pilot.press("k")
        assert table.selected == "a2"
        await pilot.press("G")
        assert table.selected == "b2"
        await pilot.press("g")
        assert table.selected == "a1"
        await pilot.press("end")
        assert table.selected == "b2"
        await pilot.press("home")
        assert table.selected == "a1"
        await pilot.press("O")  # reverse the sort, by key
        assert list(rows(app)) == names[::-1]
        await pilot.press("O")
        # Esc: the filter first, then the marks.
        await pilot.press("slash", *"b1", "enter", "space")
        assert list(rows(app)) == ["b1"] and app.fleet.marked == {"b1"}
        await pilot.press("escape")
        assert list(rows(app)) == names and app.fleet.marked == {"b1"}
        await pilot.press("escape")
        assert not app.fleet.marked
        # The help screen shows keys as they are typed.
        await pilot.press("question_mark")
        help_rows = app.screen.query_one(DataTable)
        shown = {
            str(help_rows.get_row_at(i)[1]): str(help_rows.get_row_at(i)[0])
            for i in range(help_rows.row_count)
        }
        assert shown["Filter"] == "/" and shown["Help"] == "?, f1" and shown["Down"] == "^n"
        assert shown["Up"] == "↑, k" and shown["Page down"] == "pgdn, ^d"


async def test_freeze_toggles_and_restart_gives_a_new_init(
    lxpy: Lxpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(lxpy, "c1", start=("c1",))
    pid = json.loads(lxpy.run("info", "c1", "--format", "json").stdout)["pid"]
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        await press_until(app, pilot, "p", "c1", "FROZEN")
        assert lxpy.state("c1") == "FROZEN"
        await press_until(app, pilot, "p", "c1", "RUNNING")
        drawn = drawn_states(app, "c1", monkeypatch)
        await pilot.press("r")
        await settle(app, pilot, lambda: drawn_before(drawn, "restarting…", "RUNNING"))
        assert state_of(app, "c1") == "RUNNING", drawn
        assert not messages(app)
    assert json.loads(lxpy.run("info", "c1", "--format", "json").stdout)["pid"] != pid


@pytest.mark.parametrize("size", [SIZE, (120, 35)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_main_screen_matches_its_snapshot(
    lxpy: Lxpy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """The layout, compared with the committed SVG (see `matches_snapshot`)."""
    # The host's figures differ from run to run: fixed ones here.
    host = HostUsage(2, 12.0, 3 * 2**30, 8 * 2**30, (0.5, 0.4, 0.3), 0.0, 0.0)
    monkeypatch.setattr(Api, "host", lambda self, earlier=None: host)
    # And so do the times of the disk counts.
    counted = Disk(2 * 2**20, None, 1767225600.0)
    monkeypatch.setattr("lxpy.storage.usage.read", lambda paths, name, cfg: counted)
    make(lxpy, "api", "db", "web")
    for name in ("api", "db", "web"):
        lxpy.run("config", "set", name, 'created="2026-01-01T00:00:00Z"')
    async with tui(lxpy, size=size) as (app, pilot):
        await select(app, pilot, "db")
        await settle(app, pilot, lambda: "db" in str(app.fleet.query_one("#detail-info").render()))
        svg = app.export_screenshot()
    matches_snapshot(svg, f"main_screen_{size[0]}x{size[1]}.svg", tmp_path)


async def test_bulk_destroy_asks_once_naming_them_and_the_running_ones(lxpy: Lxpy) -> None:
    make(lxpy, "d1", "d2", "keep", start=("d2",))
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "d1")
        await pilot.press("space", "space", "D")
        said = [str(label.render()) for label in app.screen.query("Label")]
        assert said[0].startswith("Destroy 2 containers (d1, d2)?")
        assert "Running now, killed first: d2." in said
        await pilot.press(*"2", "enter")
        await settle(app, pilot, lambda: list(rows(app)) == ["keep"])
    assert [c["name"] for c in json.loads(lxpy.run("ls", "--format", "json").stdout)] == ["keep"]


async def test_the_theme_is_kept_and_a_screenshot_needs_no_downloads_dir(
    lxpy: Lxpy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/Downloads there
    monkeypatch.chdir(tmp_path)
    async with tui(lxpy) as (app, pilot):
        assert app.theme != "nord"
        app.theme = "nord"
        await pilot.pause()
        app.action_screenshot()
        await pilot.pause()
    shots = [p.name for p in tmp_path.iterdir() if p.suffix == ".svg"]
    assert len(shots) == 1 and any(shots[0] in m for m in messages(app))
    async with tui(lxpy) as (again, pilot):
        assert again.theme == "nord"


async def test_the_create_forms_error_is_shown_whole(lxpy: Lxpy) -> None:
    async with tui(lxpy) as (app, pilot):  # 80 columns
        await pilot.press("n", *"Bad_Name")
        await pilot.click("#create")
        await pilot.pause()
        error = app.screen.query_one("#form-error")
        text = str(error.render())
        assert text.startswith("lxpy: ") and text.endswith(")") and len(text) > 80
        assert error.region.height >= 2 and error.region.right <= 80
