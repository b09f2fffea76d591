"""The fleet app: a live table of every container, its detail, and the actions on it.

A thin face over `lxpy.api.Api`, the same calls the CLI makes. Everything that blocks (a
poll, a start, a bootstrap) runs in a thread worker and hands its result back with
`call_from_thread`. Attach and console hand the terminal to `lxpy attach`/`lxpy console`
themselves, with the app suspended.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.widgets.data_table import ColumnKey
from textual.worker import get_current_worker

from lxpy.api import Api, State
from lxpy.errors import LxpyError, describe
from lxpy.tui import settings as tui_settings
from lxpy.tui.create import CreateScreen, Order
from lxpy.tui.detail import DetailPane
from lxpy.tui.dialogs import ConfirmDestroy, ConfirmStop, HelpScreen
from lxpy.tui.fleet import COLUMN_KEYS, COLUMNS, Detail, Fleet, Row, arrange, host_line
from lxpy.tui.logs import LogScreen
from lxpy.tui.settings import ACTIONS, Settings
from lxpy.tui.table import FleetTable

# Shown in the footer; the others are in the help screen and the command palette.
IN_FOOTER = {"start", "stop", "attach", "console", "create", "destroy", "help", "quit"}
# Actions on one container, offered per container in the command palette.
PER_CONTAINER = (
    "start",
    "stop",
    "restart",
    "freeze",
    "attach",
    "attach_root",
    "console",
    "destroy",
)

Terminal = Callable[[list[str]], int]  # runs a command with the terminal, returns its status


class FilterInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "screen.clear_filter", "Clear")]


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys, action, text, show=action in IN_FOOTER, id=f"lxpy.{action}")
        for action, (keys, text) in ACTIONS.items()
    ]

    def __init__(self, api: Api, settings: Settings) -> None:
        super().__init__()
        self.api = api
        self.settings = settings
        self.fleet = Fleet(api)
        self.rows: list[Row] = []
        self.transient: dict[str, str] = {}  # name: what is under way ("starting…")
        self.creating: dict[str, tuple[str, str]] = {}  # name: (template, current step)
        self.marked: set[str] = set()
        self.sort_key = "name"
        self.reverse = False
        self.grouped = False  # each fleet's rows together
        self.filter_text = ""

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="host")
        yield FleetTable(id="fleet")
        yield FilterInput(placeholder="filter: any part of a name, state, template or address")
        yield DetailPane(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self._show_sort()
        self.poll()
        self.set_interval(self.settings.refresh, self.poll)

    # -- refresh ----------------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        """The app is shutting down: its widgets are gone, but a worker's result or a timer
        may still arrive and must change nothing."""
        return not self.query(FleetTable)

    def poll(self) -> None:
        if not self.closing:
            self._poll(self.table.selected)

    @work(thread=True, exclusive=True, group="poll")
    def _poll(self, selected: str | None) -> None:
        try:
            rows = self.fleet.poll()
            detail = self.fleet.detail(selected) if selected else None
        except Exception as e:  # a refresh that fails must not take the app down
            self.app.call_from_thread(self._failed, e)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._polled, rows, detail)

    def _failed(self, error: Exception) -> None:
        self.notify(describe(error), severity="error", timeout=10)

    def _polled(self, rows: list[Row], detail: Detail | None) -> None:
        if self.closing:
            return
        self.rows = rows
        self.redraw()
        if detail is None or detail.info.name == self.table.selected:
            self.query_one(DetailPane).show(detail)

    def redraw(self) -> None:
        if self.closing:
            return
        known = {row.name for row in self.rows}
        pending = [
            Row(name, State.STOPPED, template, "", None, None, None, None, None)
            for name, (template, _) in self.creating.items()
            if name not in known
        ]
        labels = dict(self.transient)
        for name, (_, step) in self.creating.items():
            labels[name] = f"creating… {step}"
        shown = arrange(
            [*self.rows, *pending], self.filter_text, self.sort_key, self.reverse, self.grouped
        )
        self.marked &= {row.name for row in shown}
        self.table.show(shown, labels, self.marked)
        running = sum(row.state is State.RUNNING for row in self.rows)
        count = len(self.rows)
        title = f"{count} container{'' if count == 1 else 's'}, {running} running"
        if self.filter_text:
            title += f", {len(shown)} shown (filter {self.filter_text!r})"
        if self.marked:
            title += f", {len(self.marked)} marked"
        if self.grouped:
            title += ", grouped by fleet"
        self.sub_title = title
        if self.fleet.host is not None:
            self.query_one("#host", Static).update(host_line(self.fleet.host))

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name is not None:
            self._load_detail(name)

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, name: str) -> None:
        try:
            detail = self.fleet.detail(name)
        except Exception as e:
            self.app.call_from_thread(self._failed, e)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._detail_loaded, name, detail)

    def _detail_loaded(self, name: str, detail: Detail | None) -> None:
        if not self.closing and name == self.table.selected:
            self.query_one(DetailPane).show(detail)

    # -- running actions --------------------------------------------------------------------
    def targets(self) -> list[str]:
        """The marked rows in table order, else the row under the cursor."""
        if self.marked:
            arranged = arrange(self.rows, "", self.sort_key, self.reverse, self.grouped)
            order = [row.name for row in arranged]
            return [name for name in order if name in self.marked]
        selected = self.table.selected
        if selected is None or selected in self.creating:
            return []
        return [selected]

    def act(self, verb: str, label: str, call: Callable[[str], object], names: list[str]) -> None:
        if not names:
            self.notify("no container selected", severity="warning")
            return
        busy = [name for name in names if name in self.transient]
        if busy:
            self.notify(f"{', '.join(busy)}: {self.transient[busy[0]]} already", severity="warning")
            return
        for name in names:
            self.transient[name] = label
        self.marked.clear()
        self.redraw()
        self._run(verb, names, call)

    @work(thread=True, group="actions")
    def _run(self, verb: str, names: list[str], call: Callable[[str], object]) -> None:
        failures = []
        for name in names:
            try:
                call(name)
            except Exception as e:  # the app must survive whatever an action raises
                failures.append(describe(e))
            self.app.call_from_thread(self._finished, name)
        self.app.call_from_thread(self._report, verb, names, failures)

    def _finished(self, name: str) -> None:
        self.transient.pop(name, None)
        self.poll()

    def _report(self, verb: str, names: list[str], failures: list[str]) -> None:
        if len(names) == 1:
            if failures:
                self.notify(failures[0], severity="error", timeout=10)
            return
        done = len(names) - len(failures)
        if failures:
            text = "\n".join([f"{verb}: {done} of {len(names)} done", *failures])
            self.notify(text, severity="error", timeout=15)
        else:
            self.notify(f"{verb}: all {len(names)} done")

    def act_on(self, action: str, name: str) -> None:
        """`action` on `name` alone (from the command palette)."""
        self.marked.clear()
        if name in {row.name for row in self.rows}:
            self.table.move_cursor(row=self.table.get_row_index(name))
        self.do(action)

    def do(self, action: str) -> None:
        getattr(self, f"action_{action}")()

    # -- the actions ------------------------------------------------------------------------
    def action_start(self) -> None:
        self.act("start", "starting…", self.api.start, self.targets())

    def action_stop(self) -> None:
        names = self.targets()
        if not names:
            self.notify("no container selected", severity="warning")
            return

        def answered(how: str | None) -> None:
            if how is not None:
                kill = how == "kill"
                stop = partial(self._stop, kill=kill)
                self.act("stop", "killing…" if kill else "stopping…", stop, names)

        self.app.push_screen(ConfirmStop(names), answered)

    def _stop(self, name: str, kill: bool) -> None:
        self.api.stop(name, force=kill)

    def action_restart(self) -> None:
        self.act("restart", "restarting…", self.api.restart, self.targets())

    def action_freeze(self) -> None:
        names = self.targets()
        frozen = {row.name for row in self.rows if row.state is State.FROZEN}
        if names and all(name in frozen for name in names):
            self.act("unfreeze", "thawing…", self.api.unfreeze, names)
        else:
            self.act("freeze", "freezing…", self.api.freeze, names)

    def action_destroy(self) -> None:
        names = self.targets()
        if len(names) != 1:
            self.notify("destroy takes one container at a time", severity="warning")
            return

        def answered(sure: bool | None) -> None:
            if sure:
                destroy = partial(self.api.destroy, force=True)
                self.act("destroy", "destroying…", destroy, names)

        self.app.push_screen(ConfirmDestroy(names[0]), answered)

    def action_attach(self) -> None:
        """A shell as the container's own user (`lxpy shell`), else root."""
        self._attach_as(None)

    def action_attach_root(self) -> None:
        self._attach_as("root")

    def _attach_as(self, user: str | None) -> None:
        name = self.table.selected
        if name is None:
            return
        try:
            user = user or self.api.login_user(name)
            if not self.settings.shell:
                # The check `lxpy shell` would make, before the terminal is handed over.
                self.api.shell(name, user)
            else:
                self.api.info(name)
        except LxpyError as e:
            self.notify(describe(e), severity="error", timeout=10)
            return
        shell = ["--", *self.settings.shell] if self.settings.shell else []
        self._hand_over(["shell", name, "-u", user, *shell])

    def action_console(self) -> None:
        name = self.table.selected
        if name is None:
            return
        try:
            self.api.console_socket(name)
        except LxpyError as e:
            self.notify(describe(e), severity="error", timeout=10)
            return
        self._hand_over(["console", name])

    def action_logs(self) -> None:
        name = self.table.selected
        app = self.app
        assert isinstance(app, LxpyApp)
        if name is not None:
            app.push_screen(LogScreen(self.api, name, app.lxpy_command))

    def _hand_over(self, command: list[str]) -> None:
        app = self.app
        assert isinstance(app, LxpyApp)
        status = app.in_terminal(app.lxpy_command(command))
        if status in (126, 127):
            self.notify(f"lxpy {' '.join(command)}: exited with status {status}", severity="error")
        self.poll()

    def action_create(self) -> None:
        templates = [(t.name, t.description) for t in self.api.templates()]

        def answered(order: Order | None) -> None:
            if order is not None and order.request.name is not None:
                self.creating[order.request.name] = (order.request.template, "")
                self.redraw()
                self._create(order)

        self.app.push_screen(CreateScreen(templates, self.api.new_name()), answered)

    @work(thread=True, group="create")
    def _create(self, order: Order) -> None:
        name = str(order.request.name)
        step = partial(self.app.call_from_thread, self._create_step, name)
        try:
            self.api.create(order.request, _Progress(step))
            if order.share is not None:
                step(f"sharing {order.share[0]}")
                self.api.mount_add(name, *order.share)
            if order.start:
                step("starting")
                self.api.start(name)
        except Exception as e:  # the app must survive whatever a create raises
            self.app.call_from_thread(self._created, name, describe(e))
        else:
            self.app.call_from_thread(self._created, name, None)

    def _create_step(self, name: str, text: str) -> None:
        if name in self.creating:
            self.creating[name] = (self.creating[name][0], text)
            self.redraw()

    def _created(self, name: str, failure: str | None) -> None:
        self.creating.pop(name, None)
        if failure:
            self.notify(failure, severity="error", timeout=10)
        else:
            self.notify(f"created {name}")
        self.poll()

    def action_filter(self) -> None:
        box = self.query_one(FilterInput)
        box.display = True
        box.focus()

    @on(Input.Changed, "FilterInput")
    def filtered(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.redraw()

    @on(Input.Submitted, "FilterInput")
    def filter_done(self) -> None:
        if not self.filter_text:
            self.query_one(FilterInput).display = False
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one(FilterInput)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.redraw()
        self.table.focus()

    def action_group(self) -> None:
        self.grouped = not self.grouped
        self.redraw()

    def action_sort(self) -> None:
        index = COLUMN_KEYS.index(self.sort_key)
        self.sort_by(COLUMN_KEYS[(index + 1) % len(COLUMN_KEYS)])

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in COLUMN_KEYS:
            self.sort_by(key, reverse=not self.reverse if key == self.sort_key else False)

    def sort_by(self, key: str, reverse: bool = False) -> None:
        self.sort_key, self.reverse = key, reverse
        self._show_sort()
        self.redraw()

    def _show_sort(self) -> None:
        # Every label keeps a cell for the arrow: a wider label would not widen its column.
        arrow = "▲" if self.reverse else "▼"
        for column in COLUMNS:
            label = column.label + (arrow if column.key == self.sort_key else " ")
            self.table.columns[ColumnKey(column.key)].label = Text(label)
        self.table.refresh()

    def action_mark(self) -> None:
        name = self.table.selected
        if name is None or name in self.creating:
            return
        self.marked ^= {name}
        self.redraw()
        if self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1)

    @on(DataTable.RowSelected)
    def selected(self) -> None:
        self.action_attach()

    def action_help(self) -> None:
        keys = [(self.settings.keys[action], text) for action, (_, text) in ACTIONS.items()]
        self.app.push_screen(HelpScreen(keys))

    def action_quit(self) -> None:
        self.app.exit()


class _Progress:
    """A create's steps, handed to the UI thread."""

    def __init__(self, report: Callable[[str], object]) -> None:
        self.report = report

    def step(self, text: str) -> None:
        self.report(text)

    def tick(self) -> None:
        pass


class ContainerCommands(Provider):
    """ "Start web", "Attach to db", ...: each action on each container, by name."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, LxpyApp)
        matcher = self.matcher(query)
        for row in app.fleet.rows:
            for action in PER_CONTAINER:
                title = f"{ACTIONS[action][1]} {row.name}"
                score = matcher.match(title)
                if score > 0:
                    act = partial(app.fleet.act_on, action, row.name)
                    yield Hit(score, matcher.highlight(title), act, help=str(row.state))


class LxpyApp(App[None]):
    CSS_PATH = "lxpy.tcss"
    TITLE = "lxpy"
    COMMANDS = App.COMMANDS | {ContainerCommands}

    def __init__(
        self, api: Api, settings: Settings, root: str | None, terminal: Terminal | None = None
    ) -> None:
        super().__init__()
        self.api = api
        self.settings = settings
        self.root = root
        self.fleet = FleetScreen(api, settings)
        # Headless tests cannot suspend: they pass a `terminal` that records the command.
        self.in_terminal: Terminal = terminal or self._suspended
        self.set_keymap({f"lxpy.{action}": keys for action, keys in settings.keys.items()})

    def on_mount(self) -> None:
        self.push_screen(self.fleet)

    def lxpy_command(self, args: list[str]) -> list[str]:
        """`lxpy [--root ROOT] ARGS...` with this very interpreter and lxpy."""
        root = ["--root", self.root] if self.root else []
        return [sys.executable, "-m", "lxpy", *root, *args]

    def _suspended(self, command: list[str]) -> int:
        with self.suspend():
            return subprocess.run(command, check=False).returncode

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, (_, text) in ACTIONS.items():
            if action != "quit":
                yield SystemCommand(
                    text,
                    f"{text} (the selected or marked containers)",
                    partial(self.fleet.do, action),
                )


def run(api: Api, root: str | None) -> int:
    LxpyApp(api, tui_settings.load(api.settings_file(tui_settings.FILE_NAME)), root).run()
    return 0
