"""The fleet TUI, headless: textual's run_test() and Pilot against real containers in a
temporary root. Attach and console cannot hand over a terminal here; the app is given a
recorder for the command it would run (tests/test_tui_tmux.py runs them for real)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from lxpy.api import Api, HostUsage
from lxpy.storage.usage import Disk
from lxpy.tui.app import LxpyApp
from lxpy.tui.fleet import Row
from lxpy.tui.settings import Settings
from lxpy.tui.settings import load as load_settings
from tests.conftest import Lxpy

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
) -> AsyncIterator[tuple[LxpyApp, Pilot[None]]]:
    app = LxpyApp(Api(lx.paths), settings or Settings(), lx.root, terminal or Recorder())
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(app, pilot, lambda: app.fleet.rows or not app.api.names())
        yield app, pilot


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
        await pilot.press("ctrl+d")
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


async def test_errors_are_notifications_with_the_clis_message(lxpy: Lxpy) -> None:
    make(lxpy, "c1")
    cli = lxpy.run("freeze", "c1", check=False).stderr.strip()
    assert cli.startswith("lxpy: ")
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        await pilot.press("p")
        await settle(app, pilot, lambda: messages(app))
        assert messages(app) == [cli]
        assert state_of(app, "c1") == "STOPPED"


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
        await settle(app, pilot, lambda: messages(app))
        report = messages(app)[-1]
        assert report.startswith("start: 1 of 2 done")
        assert "beta" in report and "already running" in report
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


SNAPSHOT = os.path.join(os.path.dirname(__file__), "snapshots", "main_screen.svg")


async def test_the_main_screen_matches_its_snapshot(
    lxpy: Lxpy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout at 80x24, compared with the committed SVG. After a deliberate change,
    LXPY_UPDATE_SNAPSHOTS=1 writes the new one (look at it before committing it)."""
    # The host's figures differ from run to run: fixed ones here.
    host = HostUsage(2, 12.0, 3 * 2**30, 8 * 2**30, (0.5, 0.4, 0.3), 0.0, 0.0)
    monkeypatch.setattr(Api, "host", lambda self, earlier=None: host)
    # And so do the times of the disk counts.
    counted = Disk(2 * 2**20, None, 1767225600.0)
    monkeypatch.setattr("lxpy.storage.usage.read", lambda paths, name, cfg: counted)
    make(lxpy, "api", "db", "web")
    for name in ("api", "db", "web"):
        lxpy.run("config", "set", name, 'created="2026-01-01T00:00:00Z"')
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "db")
        await settle(app, pilot, lambda: "db" in str(app.fleet.query_one("#detail-info").render()))
        svg = app.export_screenshot()
    if os.environ.get("LXPY_UPDATE_SNAPSHOTS"):
        with open(SNAPSHOT, "w") as f:
            f.write(svg)
    with open(SNAPSHOT) as f:
        expected = f.read()
    if svg != expected:
        seen = tmp_path / "main_screen.seen.svg"
        with open(seen, "w") as f:
            f.write(svg)
        raise AssertionError(f"the main screen changed: compare {SNAPSHOT} with {seen}")
