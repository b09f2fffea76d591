"""The log view (`l`): a container's console, and its journal where systemd runs, followed
live, searched, saved.

The console is read through `Api.console_log` every quarter second in a worker (a remote
row's, `lxpy console NAME --log` over its host's connection, every second), and what each
read adds to the last one is appended (`logtext.news`). The journal (this host's containers
only) is `lxpy attach NAME -- journalctl -f`, read in a thread; its process group is killed
when the view closes, which ends the thread. Only the
rows on screen are rendered (a line API widget over `logtext.LogText`), so a long log costs
its split into lines and nothing per line until it is shown or searched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Header, Input, Label, Static

from lxpy.api import State
from lxpy.errors import LxpyError, describe
from lxpy.tui.hosts import Host
from lxpy.tui.logtext import LogText, Rows, clock, news, spans, without_time

POLL = 0.25  # seconds between console reads
# A remote's: each is a round trip and an lxpy started there.
REMOTE_POLL = 1.0
JOURNAL = ["journalctl", "--no-pager", "-o", "short-iso", "-n", "2000", "-f"]
GAP = "[lxpy] the console restarted or ran ahead of this view here: lines may be missing"

Command = Callable[[list[str]], list[str]]  # lxpy ARGS... as a command line


class LogLines(ScrollView, can_focus=True):
    """A log's lines, following its end until scrolled up."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "loglines--match",
        "loglines--current",
        "loglines--time",
    }
    DEFAULT_CSS = """
    LogLines > .loglines--match { background: $warning 40%; }
    LogLines > .loglines--current { background: $warning; color: $background; }
    LogLines > .loglines--time { color: $text-muted; }
    """
    follow: var[bool] = var(True)

    def __init__(self, journal: bool, id: str) -> None:
        super().__init__(id=id)
        self.text = LogText()
        self.journal = journal  # times are journalctl's own, in the lines
        self.wrap = False
        self.timestamps = False
        self.needle = ""
        self.current: int | None = None  # the line of the match last gone to
        self.rows = Rows(1, wrap=False)
        self._laying_out = False

    # -- what a line shows --------------------------------------------------------------------
    def prefix(self, index: int) -> str:
        """A console line's receive time, when times are shown."""
        return (
            f"{clock(self.text.received(index))} " if self.timestamps and not self.journal else ""
        )

    def body(self, index: int) -> str:
        line = self.text.line(index)
        return line if self.timestamps or not self.journal else without_time(line)

    def shown(self, index: int) -> str:
        return self.prefix(index) + self.body(index)

    def cells(self, index: int) -> int:
        return cell_len(self.shown(index))

    # -- lines in -----------------------------------------------------------------------------
    def feed(self, data: bytes, when: float) -> None:
        self._took(lambda: self.text.feed(data, when))

    def note(self, line: str, when: float) -> None:
        self._took(lambda: self.text.note(line, when))

    def _took(self, change: Callable[[], None]) -> None:
        # An open last line is laid out again once the rest of it has come.
        kept = len(self.text) - self.text.is_open
        dropped = self.text.dropped
        change()
        gone = self.text.dropped - dropped
        if gone:
            if self.current is not None:
                self.current = self.current - gone if self.current >= gone else None
            self.layout_rows(shift=-gone)
            return
        self.rows.cut(kept)
        self.rows.add(len(self.text) - kept, self.cells)
        self._resize()

    def layout_rows(self, shift: int = 0) -> None:
        """Lay every line out again (the width, wrap or times changed), keeping the line at
        the top of the view there (moved by `shift` lines, when some went)."""
        top = self.rows.at(round(self.scroll_y))[0] + shift if len(self.rows) else 0
        self.rows = Rows(self.scrollable_content_region.width, self.wrap)
        self.rows.add(len(self.text), self.cells)
        self._laying_out = True
        try:
            self._resize()
            if not self.follow:
                self.scroll_to(
                    y=self.rows.first_row(max(0, top)), animate=False, immediate=True, force=True
                )
        finally:
            self._laying_out = False

    def _resize(self) -> None:
        if self.wrap:
            width = self.scrollable_content_region.width
        else:
            width = self.text.widest + len(self.prefix(0)) if len(self.text) else 0
        self.virtual_size = Size(width, self.rows.total)
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap and self.rows.width != self.scrollable_content_region.width:
            self.layout_rows()
        elif self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and not self._laying_out:
            self.follow = False  # the user scrolled up: stay where they are

    # -- moving -------------------------------------------------------------------------------
    def go_to_end(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def go_to(self, index: int) -> None:
        """Show line `index` a third down the view, as the current match."""
        self.follow = False
        self.current = index
        row = self.rows.first_row(index)
        self.scroll_to(
            y=max(0, row - self.size.height // 3), animate=False, immediate=True, force=True
        )
        if not self.wrap:
            self.scroll_to(x=0, animate=False, immediate=True, force=True)
        self.refresh()

    def search(self, forward: bool, again: bool) -> int | None:
        """Go to the next (or previous) line with the needle: from the current match when
        `again`, else from the top of the view."""
        if self.current is not None and again:
            start = self.current + (1 if forward else -1)
        else:
            start = self.rows.at(round(self.scroll_y))[0] if len(self.rows) else 0
        found = self.text.find(self.needle, start, forward)
        if found is not None:
            self.go_to(found)
        return found

    # -- drawing ------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if row >= self.rows.total:
            return Strip.blank(width, self.rich_style)
        index, part = self.rows.at(row)
        prefix = self.prefix(index)
        body = self.body(index)
        text = Text(prefix + body, no_wrap=True)
        text.stylize(self.rich_style)
        text.stylize(self.get_component_rich_style("loglines--time"), 0, len(prefix))
        style = self.get_component_rich_style(
            "loglines--current" if index == self.current else "loglines--match"
        )
        for start, end in spans(body, self.needle):
            text.stylize(style, len(prefix) + start, len(prefix) + end)
        strip = Strip(text.render(self.app.console), cell_len(text.plain))
        start = part * width if self.wrap else scroll_x
        return strip.crop_extend(start, start + width, self.rich_style).simplify()

    def buffer(self) -> str:
        """Every line as it shows (times as shown), for saving."""
        return "".join(f"{self.shown(index)}\n" for index in range(len(self.text)))


class SearchInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "screen.clear_search", "Clear")]


class SaveAs(ModalScreen[str | None]):
    """The path to save the log to, the default filled in."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save the log (as shown, every line) to:")
            yield Input(self.default, id="save-path")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


def default_path(name: str) -> str:
    """~/lxpy-NAME.log, or in the current directory when there is no home to write to."""
    home = os.path.expanduser("~")
    folder = home if os.path.isdir(home) and os.access(home, os.W_OK) else os.getcwd()
    return os.path.join(folder, f"lxpy-{name}.log")


class LogScreen(Screen[None]):
    DEFAULT_CSS = """
    LogScreen #log-status { height: 1; padding: 0 1; background: $boost; }
    LogScreen LogLines { height: 1fr; }
    LogScreen SearchInput { display: none; height: 3; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "Close"),
        Binding("escape", "back", "Back", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "next", "Next"),
        Binding("N", "previous", "Previous", show=False),
        Binding("w", "wrap", "Wrap"),
        Binding("t", "timestamps", "Times"),
        Binding("end,f", "follow", "Follow"),
        Binding("s", "save", "Save"),
        Binding("j", "switch", "Journal/console"),
    ]

    def __init__(
        self, host: Host, name: str, lxpy_command: Command, address: str | None = None
    ) -> None:
        """`name` on `host`; `address`: how lxpy names it here (HOST:NAME on a remote)."""
        super().__init__()
        self.host = host
        self.container = name
        self.address = address or name
        self.remote = self.address != name
        self.lxpy_command = lxpy_command
        self.has_journal = False
        self.error = ""  # why the console cannot be read now
        self.closed = threading.Event()
        self.ring = b""  # the last console read
        self.reading = False  # a console read is under way
        self.journalctl: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="log-status")
        yield LogLines(journal=False, id="console")
        yield SearchInput(placeholder="search (enter goes to the next match; escape clears)")
        yield Footer()

    @property
    def lines(self) -> LogLines:
        """The log shown now."""
        return next(w for w in self.query(LogLines) if w.display)

    def on_mount(self) -> None:
        self.sub_title = f"logs of {self.address}"
        if not self.remote:  # a remote's console is all there is: no round trip here
            try:
                info = self.host.info(self.container)
            except LxpyError as e:
                self.notify(describe(e), severity="error", timeout=10)
                self.dismiss(None)
                return
            kind = info.config.init.kind if info.config else None
            self.has_journal = kind == "systemd" and info.state is State.RUNNING
        self.watch(self.lines, "follow", self.show_status)
        self.lines.focus()
        self.read_console()
        self.set_interval(REMOTE_POLL if self.remote else POLL, self.read_console)
        self.show_status()

    def on_unmount(self) -> None:
        self.closed.set()
        process = self.journalctl
        if process is not None and process.poll() is None:
            # The group holds lxpy attach and, through it, journalctl inside.
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # -- sources ------------------------------------------------------------------------------
    def read_console(self) -> None:
        """The next console read, unless one is under way (a slow read is not piled on)."""
        if not self.reading and not self.closed.is_set():
            self.reading = True
            self._read_console(self.ring)

    @work(thread=True, group="console")
    def _read_console(self, before: bytes) -> None:
        try:
            now = self.host.console_log(self.container)
        except LxpyError as e:
            self.app.call_from_thread(self._console_read, before, b"", describe(e))
        else:
            self.app.call_from_thread(self._console_read, now, news(before, now), "")

    def _console_read(self, now: bytes, added: bytes | None, error: str) -> None:
        self.reading = False
        if self.closed.is_set():
            return
        console = self.query_one("#console", LogLines)
        if added is None:
            console.note(GAP, time.time())
            added = now
        if added:  # nothing new: no layout, no repaint (the view idles at every read)
            console.feed(added, time.time())
        self.ring = now
        if error != self.error or added:
            self.error = error
            self.show_status()

    def _start_journal(self) -> LogLines:
        journal = LogLines(journal=True, id="journal")
        self.mount(journal, after="#console")
        self.watch(journal, "follow", self.show_status)
        command = self.lxpy_command(["attach", self.container, "--", *JOURNAL])
        self.journalctl = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # A thread of its own, not a worker: it lasts as long as the view, and the app's
        # workers are waited for as a whole.
        self.reader = threading.Thread(target=self._read_journal, args=(self.app, self.journalctl))
        self.reader.start()
        return journal

    def _read_journal(self, app: App[object], process: subprocess.Popen[bytes]) -> None:
        """Hands journalctl's output to the view until it ends (or is killed on close)."""
        assert process.stdout is not None
        with process.stdout:
            while data := os.read(process.stdout.fileno(), 65536):
                if self.closed.is_set():
                    break
                app.call_from_thread(self._journal_read, data)
        status = process.wait()
        if not self.closed.is_set():
            app.call_from_thread(self._journal_ended, status)

    def _journal_read(self, data: bytes) -> None:
        if not self.closed.is_set():
            self.query_one("#journal", LogLines).feed(data, time.time())

    def _journal_ended(self, status: int) -> None:
        if not self.closed.is_set():
            self.query_one("#journal", LogLines).note(
                f"[lxpy] journalctl ended ({status})", time.time()
            )

    # -- the status line ----------------------------------------------------------------------
    def show_status(self) -> None:
        lines = self.lines
        source = "journal" if lines.journal else "console"
        parts = [self.address, source, "following" if lines.follow else "paused (end follows)"]
        parts.append(f"{len(lines.text)} lines")
        if lines.wrap:
            parts.append("wrapped")
        if lines.needle:
            where = "" if lines.current is None else f" at line {lines.current + 1}"
            parts.append(f"/{lines.needle}{where}")
        status = Text(" · ".join(parts))
        if self.error and not lines.journal:
            status.append(f"  {self.error}", style="red")
        self.query_one("#log-status", Static).update(status)

    # -- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch":
            return self.has_journal
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_back(self) -> None:
        """Clears a search, or closes the view when there is none."""
        if self.lines.needle:
            self.action_clear_search()
        else:
            self.action_close()

    def action_switch(self) -> None:
        shown = self.lines
        others = [w for w in self.query(LogLines) if w is not shown]
        other = others[0] if others else self._start_journal()
        other.wrap, other.timestamps, other.needle = shown.wrap, shown.timestamps, shown.needle
        shown.display = False
        other.display = True
        other.layout_rows()
        other.focus()
        self.show_status()

    def action_follow(self) -> None:
        self.lines.go_to_end()

    def action_wrap(self) -> None:
        self._toggle("wrap")

    def action_timestamps(self) -> None:
        self._toggle("timestamps")

    def _toggle(self, setting: str) -> None:
        lines = self.lines
        setattr(lines, setting, not getattr(lines, setting))
        lines.layout_rows()
        self.show_status()

    def action_search(self) -> None:
        box = self.query_one(SearchInput)
        box.value = ""
        box.display = True
        box.focus()

    @on(Input.Submitted, "SearchInput")
    def searched(self, event: Input.Submitted) -> None:
        if not event.value:
            self.action_clear_search()
            return
        lines = self.lines
        again = lines.needle == event.value
        lines.needle = event.value
        self._find(forward=True, again=again)
        self.query_one(SearchInput).display = False  # the status line shows the search
        lines.focus()

    def action_clear_search(self) -> None:
        box = self.query_one(SearchInput)
        box.value = ""
        box.display = False
        lines = self.lines
        lines.needle, lines.current = "", None
        lines.refresh()
        lines.focus()
        self.show_status()

    def action_next(self) -> None:
        self._find(forward=True, again=True)

    def action_previous(self) -> None:
        self._find(forward=False, again=True)

    def _find(self, forward: bool, again: bool) -> None:
        lines = self.lines
        if not lines.needle:
            self.notify("no search: / starts one", severity="warning")
        elif lines.search(forward, again) is None:
            self.notify(f"{lines.needle!r} is not in the log", severity="warning")
        self.show_status()

    def action_save(self) -> None:
        lines = self.lines

        def answered(path: str | None) -> None:
            if path is None:
                return
            path = os.path.abspath(os.path.expanduser(path))
            try:
                with open(path, "w") as f:
                    f.write(lines.buffer())
            except OSError as e:
                self.notify(f"cannot save to {path}: {e.strerror or e}", severity="error")
                return
            self.notify(f"saved {len(lines.text)} lines to {path}")

        self.app.push_screen(SaveAs(default_path(self.address.replace(":", "-"))), answered)
