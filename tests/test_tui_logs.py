"""The log view: its model without a terminal, then the screen headless (Pilot) against
real busybox containers, as tests/test_tui.py does."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input

from lxpy.api import Api
from lxpy.tui.app import LxpyApp
from lxpy.tui.logs import LogLines, LogScreen, SearchInput
from lxpy.tui.logtext import LogText, Rows, news, spans, without_time
from lxpy.tui.settings import Settings
from tests.conftest import Lxpy, matches_snapshot
from tests.test_tui import Recorder, make, messages, select, settle, tui


def numbered(first: int, last: int) -> bytes:
    return b"".join(b"line %d\r\n" % i for i in range(first, last + 1))


def test_lines_are_cleaned_when_read_and_an_open_line_is_completed() -> None:
    text = LogText()
    text.feed(b"\x1b[1;32mgreen\x1b[0m\r\nta\tb\x07\nlogin: ", 1.0)
    assert len(text) == 3 and text.is_open
    assert [text.line(i) for i in range(3)] == ["green", "ta      b", "login: "]
    text.feed(b"root\nnext\n", 2.0)
    assert (len(text), text.is_open) == (4, False)
    assert text.line(2) == "login: root" and text.line(3) == "next"
    # A line is timed when its end came.
    assert text.received(1) == 1.0 and text.received(2) == text.received(3) == 2.0
    text.note("[lxpy] a gap", 3.0)
    assert text.line(4) == "[lxpy] a gap" and text.received(4) == 3.0


def test_search_goes_round_the_ends_both_ways() -> None:
    text = LogText()
    text.feed(numbered(1, 10000), 0.0)
    assert text.find("line 5000", 0) == 4999
    assert text.find("LINE 5000", 5000) == 4999  # round the end, any case
    assert text.find("line 8", 9000, forward=False) == 8998
    assert text.find("line 99", 0, forward=False) == 9998  # round the start
    assert text.find("nowhere", 0) is None and text.find("", 0) is None
    assert spans("a line, a Line", "LINE") == [(2, 6), (10, 14)]


def test_the_oldest_lines_go_past_the_maximum() -> None:
    text = LogText(max_lines=100)
    text.feed(numbered(1, 60), 1.0)
    text.feed(numbered(61, 120), 2.0)
    assert text.dropped == 30 and len(text) == 90
    assert text.line(0) == "line 31" and text.received(0) == 1.0
    assert text.line(30) == "line 61" and text.received(30) == 2.0


def test_a_console_read_adds_what_the_last_one_did_not_hold() -> None:
    assert news(b"", b"abc") == b"abc"
    assert news(b"line 1\nline 2\n", b"line 1\nline 2\nline 3\n") == b"line 3\n"
    # The ring slid: its front went, the end is new.
    before = numbered(1, 500)
    now = numbered(200, 600)
    assert news(before, now) == numbered(501, 600)
    # Output that repeats: the least that can be new, not a screenful twice.
    assert news(b"tick\n" * 100, b"tick\n" * 100) == b""
    # A restart (another ring), or a ring that slid past all of the last read.
    assert news(numbered(1, 500), numbered(900, 1000)) is None


def test_rows_wrap_lines_at_the_width() -> None:
    widths = [5, 25, 0, 10]
    rows = Rows(10, wrap=True)
    rows.add(4, widths.__getitem__)
    assert rows.total == 1 + 3 + 1 + 1
    assert [rows.at(r) for r in range(6)] == [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (3, 0)]
    assert rows.first_row(3) == 5
    rows.cut(3)  # the last line grew
    widths[3] = 11
    rows.add(1, widths.__getitem__)
    assert rows.total == 7
    flat = Rows(10, wrap=False)
    flat.add(4, widths.__getitem__)
    assert flat.total == 4 and flat.at(3) == (3, 0)


def test_journal_times_come_off() -> None:
    assert without_time("2026-01-01T12:00:00+0000 box sshd[1]: up") == "box sshd[1]: up"
    assert without_time("2026-01-01T12:00:00+00:00 box x: y") == "box x: y"
    assert without_time("-- No entries --") == "-- No entries --"


def test_a_50_mb_log_opens_at_once() -> None:
    """Split once into lines; only what is shown or searched is cleaned. CPU time: the
    test workers share the machine."""
    data = b"".join(
        b"\x1b[0m%08d some console output of a busy container\r\n" % i for i in range(1_000_000)
    )
    assert len(data) > 50 * 10**6
    started = time.process_time()
    text = LogText(max_lines=2_000_000)
    text.feed(data, 0.0)
    rows = Rows(80, wrap=False)
    rows.add(len(text), lambda index: 0)
    last = text.line(len(text) - 1)
    elapsed = time.process_time() - started
    assert last == "00999999 some console output of a busy container"
    assert elapsed < 0.3, elapsed


# -- the screen, against real containers ------------------------------------------------------
def log_view(app: LxpyApp) -> LogLines:
    screen = app.screen
    assert isinstance(screen, LogScreen), screen
    return screen.lines


def shown(app: LxpyApp) -> list[str]:
    """The log's rows on the screen now, as text."""
    lines = log_view(app)
    region = Region(0, 0, lines.size.width, lines.size.height)
    return [strip.text.rstrip() for strip in lines.render_lines(region)]


def has_line(lines: LogLines, wanted: str) -> bool:
    return any(lines.text.line(i) == wanted for i in range(len(lines.text) - 1, -1, -1))


async def open_logs(app: LxpyApp, pilot: Pilot[None], name: str) -> LogLines:
    await select(app, pilot, name)
    await pilot.press("l")
    await settle(app, pilot, lambda: isinstance(app.screen, LogScreen))
    return log_view(app)


async def to_console(lx: Lxpy, name: str, script: str) -> None:
    """Run `script` in the container with its output on the console, the app running on."""
    command = ("attach", name, "--", "sh", "-c", f"({script}) > /dev/console")
    await asyncio.to_thread(lx.run, *command)


@pytest.mark.integration
async def test_the_view_follows_10000_lines_and_finds_one(lxpy: Lxpy) -> None:
    make(lxpy, "c1", start=("c1",))
    async with tui(lxpy) as (app, pilot):
        lines = await open_logs(app, pilot, "c1")
        await to_console(lxpy, "c1", "for i in $(seq 10000); do echo line $i; done")
        await settle(app, pilot, lambda: has_line(lines, "line 10000"))
        # Followed to the end: the last line printed is on screen, at the bottom.
        assert lines.follow and lines.scroll_y == lines.max_scroll_y
        assert "line 10000" in shown(app)
        assert "following" in str(app.screen.query_one("#log-status").render())

        await pilot.press("slash", *"line 5000", "enter")
        assert lines.text.line(lines.current or 0) == "line 5000"
        assert ("line 5000" in shown(app), lines.follow) == (True, False)
        # "line 999" is in line 999 and lines 9990-9999; n and N go from match to match.
        await pilot.press("slash", *"line 999", "enter")
        assert lines.text.line(lines.current or 0) == "line 9990"
        await pilot.press("n")
        assert lines.text.line(lines.current or 0) == "line 9991" and "line 9991" in shown(app)
        await pilot.press("N", "N")
        assert lines.text.line(lines.current or 0) == "line 999" and "line 999" in shown(app)
        await pilot.press("escape")  # clears the search, and leaves the view where it is
        assert isinstance(app.screen, LogScreen) and lines.needle == ""

        # Scrolled up, new lines do not move the view; f follows again.
        top = lines.scroll_y
        await to_console(lxpy, "c1", "echo one more")
        await settle(app, pilot, lambda: has_line(lines, "one more"))
        assert lines.scroll_y == top and "one more" not in shown(app)
        await pilot.press("f")
        assert lines.follow and "one more" in shown(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)


@pytest.mark.integration
async def test_wrap_times_and_save(lxpy: Lxpy, tmp_path: Path) -> None:
    make(lxpy, "c1", start=("c1",))
    long = "x" * 150 + "END"
    async with tui(lxpy) as (app, pilot):
        lines = await open_logs(app, pilot, "c1")
        await to_console(lxpy, "c1", f"echo {long}; echo short")
        await settle(app, pilot, lambda: has_line(lines, "short"))
        assert not any("END" in row for row in shown(app))  # cut at the width
        await pilot.press("w")
        rows = shown(app)
        assert "short" in rows and any(row.endswith("END") for row in rows)
        await pilot.press("t")
        timed = re.compile(r"\d\d:\d\d:\d\d\.\d{3} short")
        assert any(timed.fullmatch(row) for row in shown(app)), shown(app)

        await pilot.press("s")
        path = app.screen.query_one("#save-path", Input)
        assert path.value == os.path.expanduser("~/lxpy-c1.log")
        path.value = str(tmp_path / "saved.log")
        await pilot.press("enter")
        saved = (tmp_path / "saved.log").read_text().splitlines()
        assert saved[-1].endswith(" short") and saved[-2].endswith(long)
        assert len(saved) == len(lines.text)
        assert messages(app)[-1] == f"saved {len(saved)} lines to {tmp_path / 'saved.log'}"


@pytest.mark.integration
async def test_the_detail_tail_keeps_the_newest_line_when_lines_are_long(lxpy: Lxpy) -> None:
    make(lxpy, "c1", start=("c1",))
    to_console_now = f"for i in 1 2 3 4 5 6 7; do echo {'y' * 200}; done; echo the newest line"
    lxpy.run("attach", "c1", "--", "sh", "-c", f"({to_console_now}) > /dev/console")
    async with tui(lxpy) as (app, pilot):
        await select(app, pilot, "c1")
        tail = app.fleet.query_one("#console-tail")

        def visible() -> list[str]:
            region = Region(0, 0, tail.size.width, tail.size.height)
            return [strip.text.rstrip() for strip in tail.render_lines(region)]

        await settle(app, pilot, lambda: "the newest line" in str(tail.render()))
        await settle(app, pilot, lambda: visible()[-1] == "the newest line", timeout=5)
        assert visible()[-2].startswith("yyyy") and visible()[-2].endswith("…")


@pytest.mark.integration
async def test_the_journal_is_journalctl_through_attach_and_ends_with_the_view(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    """A busybox container whose config says systemd (read at the next start) and a
    journalctl of its own that prints two entries and waits, as `journalctl -f` does."""
    make(lxpy, "c1", start=("c1",))
    fake = tmp_path / "journalctl"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "2026-01-01T12:00:00+0000 c1 unit[1]: args $*"\n'
        'echo "2026-01-01T12:00:01+0000 c1 unit[1]: second"\n'
        "exec sleep 1000\n"
    )
    lxpy.run("file", "push", "c1", str(fake), "/bin/journalctl", "--mode", "755")
    async with tui(lxpy) as (app, pilot):
        await open_logs(app, pilot, "c1")
        assert not app.screen.active_bindings.get("j")  # busybox: no journal
        await pilot.press("q")
        lxpy.run("config", "set", "c1", 'init.kind="systemd"')
        lines = await open_logs(app, pilot, "c1")
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        journal = log_view(app)
        assert journal is not lines and journal.journal
        second = "2026-01-01T12:00:01+0000 c1 unit[1]: second"
        await settle(app, pilot, lambda: has_line(journal, second), timeout=10)
        entry = journal.text.line(0)
        assert entry.endswith("args --no-pager -o short-iso -n 2000 -f")
        assert "c1 unit[1]: second" in shown(app)  # without journalctl's time
        await pilot.press("t")
        assert second in shown(app)
        await pilot.press("j")
        assert log_view(app) is lines
        process, reader = screen.journalctl, screen.reader
        assert process is not None and reader is not None
        await pilot.press("q")
        # Closing killed lxpy attach and the journalctl inside; the reading thread ended.
        assert process.poll() is not None
        reader.join(5)
        assert not reader.is_alive()
    left = lxpy.run("attach", "c1", "--", "ps", "-o", "args").stdout
    assert "sleep 1000" not in left, left


@pytest.mark.integration
@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=["80x24", "120x35"])
async def test_the_log_view_matches_its_snapshot(
    lxpy: Lxpy, tmp_path: Path, size: tuple[int, int]
) -> None:
    """The view of a stopped container's console log, a search under way, compared with
    the committed SVG (see `matches_snapshot`)."""
    make(lxpy, "web")
    boot = [
        f"[  {i:3d}.000000] service {i % 7} {'ready' if i % 5 else 'waiting for the network'}"
        for i in range(60)
    ]
    with open(lxpy.paths.console_log("web"), "w") as f:
        f.write("\r\n".join(["\x1b[1;32mweb booting\x1b[0m", *boot, "web login: "]))
    app = LxpyApp(Api(lxpy.paths), Settings(), Recorder())
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot, lambda: app.fleet.rows)
        lines = await open_logs(app, pilot, "web")
        await settle(app, pilot, lambda: has_line(lines, "web login: "))
        # As a person does: the box open, then the words, then the match shown.
        await pilot.press("slash")
        await settle(app, pilot, lambda: app.screen.query_one(SearchInput).has_focus)
        await pilot.press(*"service 3", "enter")
        await settle(app, pilot, lambda: lines.needle == "service 3" and lines.current is not None)
        svg = app.export_screenshot()
    matches_snapshot(svg, f"log_view_{size[0]}x{size[1]}.svg", tmp_path)


@pytest.mark.integration
async def test_a_stopped_containers_log_opens_at_its_end(lxpy: Lxpy) -> None:
    make(lxpy, "old")
    with open(lxpy.paths.console_log("old"), "w") as f:
        f.write("".join(f"old line {i:07d} {'x' * 50}\n" for i in range(800_000)))
    app = LxpyApp(Api(lxpy.paths), Settings(), Recorder())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot, lambda: app.fleet.rows)
        lines = await open_logs(app, pilot, "old")
        await settle(
            app, pilot, lambda: lines.text.line(len(lines.text) - 1).startswith("old line 0799999")
        )
        await pilot.pause(0.2)
        assert "old line 0799999" in screen_text(app) and lines.follow


def screen_text(app: LxpyApp) -> str:
    """What the screen shows, as text."""
    import html
    import re

    svg = app.export_screenshot()
    lines = re.findall(r"<text[^>]*>(.*?)</text>", svg)
    return "".join(html.unescape(re.sub("<[^>]+>", "", line)) for line in lines).replace(
        "\xa0", " "
    )
