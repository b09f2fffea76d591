"""The fleet app: a live table of every container, its detail, and the actions on it.

A thin face over `lxpy.api.Api`, the same calls the CLI makes, and over the remote hosts'
lxpy (lxpy.tui.hosts: each host's thread follows its events over SSH and posts
`HostChanged`). Everything that blocks (a poll, a start, a bootstrap, anything over SSH) runs
in a thread worker and hands its result back with `call_from_thread`. Attach and console
hand the terminal to `lxpy shell`/`lxpy console` themselves, with the app suspended (a
remote row's as HOST:NAME: that lxpy runs ssh on the terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.widgets.data_table import ColumnKey
from textual.worker import get_current_worker

from lxpy.api import Api, State
from lxpy.errors import LxpyError, describe
from lxpy.remote.registry import LOCAL, Remote
from lxpy.tui import settings as tui_settings
from lxpy.tui.create import CreateScreen, Order
from lxpy.tui.detail import DetailPane
from lxpy.tui.dialogs import ConfirmDestroy, ConfirmStop, HelpScreen
from lxpy.tui.fleet import (
    CONTAINER_ACTIONS,
    HOST_FILTER,
    Detail,
    Fleet,
    Row,
    arrange,
    columns,
    host_line,
    split,
    why_not,
)
from lxpy.tui.hosts import Host, RemoteHost, chosen, status_line
from lxpy.tui.logs import LogScreen
from lxpy.tui.panes import ContainerPane, NetworksPane, PortsPane, SharedFoldersPane, SnapshotsPane
from lxpy.tui.settings import ACTIONS, MOTIONS, Settings
from lxpy.tui.table import FleetTable

# Shown in the footer; the others are in the help screen and the command palette.
IN_FOOTER = {"start", "stop", "attach", "console", "create", "destroy", "help", "quit"}

Terminal = Callable[[list[str]], int]  # runs a command with the terminal, returns its status
# How long the app waits, on its way out, for the remote hosts' threads to end.
HOSTS_EXIT_WAIT = 5.0
# How long the cursor rests on a remote row before its detail is asked there: scrolling
# past rows starts no round trips (a thread worker, once started, cannot be called off).
REMOTE_DETAIL_DELAY = 0.15


class FilterInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "screen.clear_filter", "Clear")]


class HostChanged(Message):
    """A remote host's rows or status changed (posted from that host's thread)."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys, action, text, show=action in IN_FOOTER, id=f"lxpy.{action}")
        for action, (keys, text) in ACTIONS.items()
        if action not in MOTIONS
    ]

    def __init__(self, api: Api, settings: Settings, remotes: Sequence[Remote] = ()) -> None:
        super().__init__()
        self.api = api
        self.settings = settings
        self.fleet = Fleet(api)
        self.remotes = {r.name: RemoteHost(api.paths, r, settings.remote_refresh) for r in remotes}
        self.shown = columns(hosts=bool(self.remotes))
        self.local_rows: list[Row] = []
        # Rows are keyed by their address: NAME here, HOST:NAME on a remote.
        self.transient: dict[str, str] = {}  # address: what is under way ("starting…")
        self.creating: dict[str, tuple[str, str]] = {}  # name: (template, current step)
        self.marked: set[str] = set()
        self.sort_key = "name"
        self.reverse = False
        self.grouped = False  # each fleet's rows together
        self._offered: tuple[bool | None, ...] = ()  # check_action of each container action
        self._host_text: str | None = None  # the host line as last shown
        # Each remote's rows as last drawn, but for their figures (see host_changed).
        self._shapes: dict[str, object] = {}
        self.filter_text = ""

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    @property
    def rows(self) -> list[Row]:
        """Every host's rows: this one's last poll, each remote's last listing."""
        return [*self.local_rows, *(row for host in self.remotes.values() for row in host.rows)]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="host")
        yield FleetTable(self.shown, id="fleet")
        what = "name, state, template or address" + (", host: host:NAME" if self.remotes else "")
        yield FilterInput(placeholder=f"filter: any part of a {what}")
        yield DetailPane(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self._show_sort()
        self.poll()
        self.set_interval(self.settings.refresh, self.poll)
        for name, host in self.remotes.items():
            host.open(partial(self._post_changed, name))
        # A closed terminal or a kill ends the app as `q` does: the remote hosts' streams and
        # calls end with it (textual handles neither signal, and they run in sessions of
        # their own), and the terminal is given back.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(signum, self.app.exit)

    def on_unmount(self) -> None:
        for host in self.remotes.values():
            host.close()

    def join_hosts(self) -> None:
        """Wait (a while) for the remote hosts' threads, closed with the screen, to end."""
        deadline = time.monotonic() + HOSTS_EXIT_WAIT
        for host in self.remotes.values():
            host.join(max(0.0, deadline - time.monotonic()))

    def _post_changed(self, host: str) -> None:
        """From the host's thread: never waits for the UI."""
        with contextlib.suppress(RuntimeError):  # the app's loop closed meanwhile
            self.post_message(HostChanged(host))

    @on(HostChanged)
    def host_changed(self, message: HostChanged) -> None:
        if self.closing:
            return
        host = self.remotes[message.host]
        shape = (host.status, [(row.name, row.state) for row in host.rows])
        if shape != self._shapes.get(message.host):
            self._shapes[message.host] = shape
            self.redraw()
        # Else only figures changed (CPU, memory, uptime): this host's next poll draws
        # them, and a table drawn once a poll keeps the idle app's cost at one redraw.
        selected = self.table.selected
        if selected is not None and split(selected)[0] == message.host:
            self._detail(selected, fresh=False)

    # -- refresh ----------------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        """The app is shutting down: its widgets are gone, but a worker's result or a timer
        may still arrive and must change nothing."""
        return not self.query(FleetTable)

    def poll(self) -> None:
        """This host's rows again (a remote's follow its events)."""
        if not self.closing:
            selected = self.table.selected
            here = selected is not None and split(selected)[0] == LOCAL
            self._poll(selected if here else None)

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
        self.local_rows = rows
        self.redraw()
        selected = self.table.selected
        if selected in self.creating:
            self._show_creating(selected)  # no detail to poll yet: the step is what there is
        elif selected is None or split(selected)[0] != LOCAL:
            return  # a remote row's detail comes with its host's listings
        elif detail is None or detail.info.name == selected:
            self.query_one(DetailPane).show(detail)

    def redraw(self) -> None:
        if self.closing:
            return
        rows = self.rows
        known = {row.address for row in rows}
        pending = [
            Row(name, State.STOPPED, template, "", None, None, None, None, None)
            for name, (template, _) in self.creating.items()
            if name not in known
        ]
        # A fixed short label: the step goes to the detail pane, not into the STATE column.
        labels = dict(self.transient) | dict.fromkeys(self.creating, "creating…")
        shown = arrange(
            [*rows, *pending],
            self.filter_text,
            self.sort_key,
            self.reverse,
            self.grouped,
            self.shown,
        )
        self.marked &= {row.address for row in shown}
        self.table.show(shown, labels, self.marked)
        running = sum(row.state is State.RUNNING for row in rows)
        count = len(rows)
        title = f"{count} container{'' if count == 1 else 's'}, {running} running"
        if self.filter_text:
            title += f", {len(shown)} shown (filter {self.filter_text!r})"
        if self.marked:
            title += f", {len(self.marked)} marked"
        if self.grouped:
            title += ", grouped by fleet"
        self.sub_title = title
        if self.fleet.host is not None:
            here = sum(row.state is State.RUNNING for row in self.local_rows)
            line = host_line(self.fleet.host, here)
            if self.remotes:
                line += "\n" + status_line(list(self.remotes.values()), time.monotonic())
            if line != self._host_text:
                # The screen is laid out again only when the height may change: this host's
                # figures fit their one line; the remotes' line may wrap.
                old = self._host_text
                layout = old is None or old.partition("\n")[2] != line.partition("\n")[2]
                self._host_text = line
                self.query_one("#host", Static).update(line, layout=layout)
        self._offer()

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        address = event.row_key.value
        self._offer()
        if address is not None:
            self._detail(address, fresh=True)

    def _detail(self, address: str, fresh: bool) -> None:
        """Load the detail pane's `address`; for a row whose host does not answer, why
        (asking would only fail again)."""
        row = next((row for row in self.rows if row.address == address), None)
        if row is not None and row.unreachable:
            reason = self.remotes[row.host].status.reason
            self.query_one(DetailPane).show_unreachable(address, reason)
        else:
            self._load_detail(address, fresh)

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, address: str, fresh: bool) -> None:
        if address in self.creating:
            self.app.call_from_thread(self._show_creating, address)
            return
        host, name = split(address)
        try:
            if host == LOCAL:
                detail = self.fleet.detail(name)
            else:
                time.sleep(REMOTE_DETAIL_DELAY)
                if get_current_worker().is_cancelled:
                    return  # the cursor moved on
                # `fresh`: what `info` says, asked again (the row was just chosen).
                detail = self.remotes[host].detail(name, fresh)
        except Exception as e:
            self.app.call_from_thread(self._failed, e)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._detail_loaded, address, detail)

    def _detail_loaded(self, address: str, detail: Detail | None) -> None:
        if not self.closing and address == self.table.selected:
            self.query_one(DetailPane).show(detail)

    # -- running actions --------------------------------------------------------------------
    def targets(self) -> list[str]:
        """The marked rows' addresses in table order, else the row under the cursor's."""
        if self.marked:
            rows = self.rows
            arranged = arrange(rows, "", self.sort_key, self.reverse, self.grouped, self.shown)
            order = [row.address for row in arranged]
            return [address for address in order if address in self.marked]
        selected = self.table.selected
        if selected is None or selected in self.creating:
            return []
        return [selected]

    def _offer(self) -> None:
        """The footer and the keys follow the rows' states. Only when what is offered
        changed: redrawing the footer at every poll costs the idle app a share of a core."""
        offered = tuple(self.check_action(action, ()) for action in CONTAINER_ACTIONS)
        if offered != self._offered:
            self._offered = offered
            self.refresh_bindings()

    def able(self, action: str, names: list[str] | None = None) -> tuple[list[str], list[str]]:
        """(those of `names` (default: the targets) `action` can work on, "NAME (why not)"
        for the others)."""
        states = {row.address: row for row in self.rows}
        able, skipped = [], []
        for address in self.targets() if names is None else names:
            row = states.get(address)
            why = "gone" if row is None else why_not(action, row)
            if why is None:
                able.append(address)
            else:
                skipped.append(f"{address} ({why})")
        return able, skipped

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """An action on containers is offered (footer, keys) only where it can work; the
        hosts' only where there are others."""
        if action == "hosts":
            return bool(self.remotes)
        if action not in CONTAINER_ACTIONS or self.closing:
            return True
        return bool(self.able(action)[0])

    def host_of(self, address: str) -> tuple[Host, str]:
        """Where the container at `address` lives, and its name there."""
        host, name = split(address)
        return (self.api if host == LOCAL else self.remotes[host]), name

    def each(self, do: Callable[[Host, str], object]) -> Callable[[str], object]:
        """`do` on a container given by its address."""
        return lambda address: do(*self.host_of(address))

    def act(self, verb: str, label: str, call: Callable[[str], object], names: list[str]) -> None:
        """`call` on the targets (addresses) `verb` can work on; the others are skipped,
        said once."""
        names, skipped = self.able(verb, names)
        if skipped:
            self.notify(f"{verb}: skipped {', '.join(skipped)}", severity="warning")
        if not names:
            if not skipped:
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

    def _finished(self, address: str) -> None:
        self.transient.pop(address, None)
        if split(address)[0] == LOCAL:
            self.poll()  # its label stays until the poll brings the new state
        else:
            self.redraw()  # the action listed its host before it returned

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

    def act_on(self, action: str, address: str) -> None:
        """`action` on the container at `address` alone (from the command palette)."""
        self.marked.clear()
        if address in {row.address for row in self.rows}:
            self.table.move_cursor(row=self.table.get_row_index(address))
        self.do(action)

    def do(self, action: str) -> None:
        getattr(self, f"action_{action}")()

    # -- the actions ------------------------------------------------------------------------
    def action_start(self) -> None:
        start = self.each(lambda host, name: host.start(name))
        self.act("start", "starting…", start, self.targets())

    def action_stop(self) -> None:
        targets = self.targets()
        names = self.able("stop", targets)[0]
        if not names:
            self.act("stop", "", self._stop, targets)  # says why: none of them runs
            return

        def answered(how: str | None) -> None:
            if how is not None:
                kill = how == "kill"
                stop = partial(self._stop, kill=kill)
                self.act("stop", "killing…" if kill else "stopping…", stop, targets)

        self.app.push_screen(ConfirmStop(names), answered)

    def _stop(self, address: str, kill: bool = False) -> None:
        host, name = self.host_of(address)
        host.stop(name, force=kill)

    def action_restart(self) -> None:
        restart = self.each(lambda host, name: host.restart(name))
        self.act("restart", "restarting…", restart, self.targets())

    def action_freeze(self) -> None:
        """Freeze the running targets; when every one is frozen, let them go on."""
        names = self.targets()
        if names and not self.able("unfreeze", names)[1]:
            self.act("unfreeze", "thawing…", self.each(lambda h, n: h.unfreeze(n)), names)
        else:
            self.act("freeze", "freezing…", self.each(lambda h, n: h.freeze(n)), names)

    def action_destroy(self) -> None:
        names = self.targets()
        if not names:
            self.notify("no container selected", severity="warning")
            return
        running = [
            row.address
            for row in self.rows
            if row.address in names and row.state is not State.STOPPED
        ]

        def answered(sure: bool | None) -> None:
            if sure:
                destroy = self.each(lambda host, name: host.destroy(name, force=True))
                self.act("destroy", "destroying…", destroy, names)

        self.app.push_screen(ConfirmDestroy(names, running), answered)

    def action_attach(self) -> None:
        """A shell as the container's own user (`lxpy shell`), else root."""
        self._attach_as(None)

    def action_attach_root(self) -> None:
        self._attach_as("root")

    def _attach_as(self, user: str | None) -> None:
        address = self.table.selected
        if address is None:
            return
        shell = ["--", *self.settings.shell] if self.settings.shell else []
        host, name = split(address)
        if host != LOCAL:
            # That host's lxpy finds the user and checks the shell, and says why not on
            # the terminal: no round trip here first.
            self._hand_over(["shell", address, *(["-u", user] if user else []), *shell])
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
        self._hand_over(["shell", name, "-u", user, *shell])

    def action_console(self) -> None:
        address = self.table.selected
        if address is None:
            return
        if split(address)[0] == LOCAL:
            try:
                self.api.console_socket(address)
            except LxpyError as e:
                self.notify(describe(e), severity="error", timeout=10)
                return
        self._hand_over(["console", address])

    def action_logs(self) -> None:
        address = self.table.selected
        app = self.app
        assert isinstance(app, LxpyApp)
        if address is not None:
            host, name = self.host_of(address)
            app.push_screen(LogScreen(host, name, app.lxpy_command, address))

    def _hand_over(self, command: list[str]) -> int:
        app = self.app
        assert isinstance(app, LxpyApp)
        status = app.in_terminal(app.lxpy_command(command))
        # 255: ssh's own failure, for a remote row (its message went with the terminal).
        if status in (126, 127, 255):
            self.notify(f"lxpy {' '.join(command)}: exited with status {status}", severity="error")
        self.poll()
        return status

    # -- panes (lxpy.tui.panes) ---------------------------------------------------------------
    def action_snapshots(self) -> None:
        self._open(SnapshotsPane)

    def action_mounts(self) -> None:
        self._open(SharedFoldersPane)

    def action_ports(self) -> None:
        self._open(PortsPane)

    def _open(self, pane: type[ContainerPane]) -> None:
        name = self._one()
        if name is not None:
            self.app.push_screen(pane(self.api, name), lambda _: self.poll())

    def _one(self) -> str | None:
        """The container under the cursor, or None with a warning that there is none."""
        name = self.table.selected
        if name is None or name in self.creating:
            self.notify("no container selected", severity="warning")
            return None
        return name

    def action_networks(self) -> None:
        self.app.push_screen(NetworksPane(self.api), lambda _: self.poll())

    def action_config(self) -> None:
        """`lxpy config edit`: $EDITOR on a copy of config.toml, saved only if it is valid.
        The CLI's reason for refusing it is gone with the terminal once the app is back."""
        name = self._one()
        if name is None:
            return
        if self._hand_over(["config", "edit", name]) == 0:
            self.notify(f"{name}: config.toml checked and saved")
        else:
            why = f"{name}: config.toml left as it was (`lxpy config edit {name}` says why)"
            self.notify(why, severity="error", timeout=10)

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
            self._show_creating(name)

    def _show_creating(self, name: str) -> None:
        if not self.closing and name == self.table.selected and name in self.creating:
            template, step = self.creating[name]
            self.query_one(DetailPane).show_creating(name, template, step)

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

    def action_hosts(self) -> None:
        """The next host's rows alone (`host:NAME` in the filter); after the last, all."""
        words = self.filter_text.split()
        chosen = [w.removeprefix(HOST_FILTER) for w in words if w.startswith(HOST_FILTER)]
        hosts = [LOCAL, *self.remotes]
        at = hosts.index(chosen[0]) if len(chosen) == 1 and chosen[0] in hosts else -1
        rest = [w for w in words if not w.startswith(HOST_FILTER)]
        if at + 1 < len(hosts):
            rest.append(f"{HOST_FILTER}{hosts[at + 1]}")
        box = self.query_one(FilterInput)
        box.value = self.filter_text = " ".join(rest)
        box.display = bool(self.filter_text)
        self.redraw()

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

    def action_clear(self) -> None:
        """Esc: the filter goes first, then the marks."""
        if self.filter_text:
            self.action_clear_filter()
        elif self.marked:
            self.action_unmark()

    def action_unmark(self) -> None:
        self.marked.clear()
        self.redraw()

    def action_reverse(self) -> None:
        self.sort_by(self.sort_key, reverse=not self.reverse)

    def action_group(self) -> None:
        self.grouped = not self.grouped
        self.redraw()

    def action_sort(self) -> None:
        keys = [column.key for column in self.shown]
        index = keys.index(self.sort_key)
        self.sort_by(keys[(index + 1) % len(keys)])

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in [column.key for column in self.shown]:
            self.sort_by(key, reverse=not self.reverse if key == self.sort_key else False)

    def sort_by(self, key: str, reverse: bool = False) -> None:
        self.sort_key, self.reverse = key, reverse
        self._show_sort()
        self.redraw()

    def _show_sort(self) -> None:
        # Every label keeps a cell for the arrow: a wider label would not widen its column.
        arrow = "▲" if self.reverse else "▼"
        for column in self.shown:
            label = column.label + (arrow if column.key == self.sort_key else " ")
            self.table.columns[ColumnKey(column.key)].label = Text(label)
        self.table.refresh()

    def action_mark(self) -> None:
        address = self.table.selected
        if address is None or address in self.creating:
            return
        self.marked ^= {address}
        self.redraw()
        if self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1)

    @on(DataTable.RowSelected)
    def selected(self) -> None:
        self.action_attach()

    def action_help(self) -> None:
        keys = [
            (self._typed(self.settings.keys[action]), text)
            for action, (_, text) in ACTIONS.items()
            if action != "hosts" or self.remotes
        ]
        note = f"In the filter, {HOST_FILTER}NAME keeps one host's rows." if self.remotes else ""
        self.app.push_screen(HelpScreen(keys, note))

    def _typed(self, keys: str) -> str:
        """Keys as a person types them ("/", "?", "^d"), not textual's names."""
        return ", ".join(self.app.get_key_display(Binding(key, "")) for key in keys.split(","))

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
            for action in CONTAINER_ACTIONS:
                if action not in ACTIONS or why_not(action, row) is not None:
                    continue
                title = f"{ACTIONS[action][1]} {row.address}"
                score = matcher.match(title)
                if score > 0:
                    act = partial(app.fleet.act_on, action, row.address)
                    yield Hit(score, matcher.highlight(title), act, help=str(row.state))


class LxpyApp(App[None]):
    CSS_PATH = "lxpy.tcss"
    TITLE = "lxpy"
    COMMANDS = App.COMMANDS | {ContainerCommands}

    def __init__(
        self,
        api: Api,
        settings: Settings,
        terminal: Terminal | None = None,
        remotes: Sequence[Remote] = (),
    ) -> None:
        super().__init__()
        self.api = api
        self.settings = settings
        self.fleet = FleetScreen(api, settings, remotes)
        # Headless tests cannot suspend: they pass a `terminal` that records the command.
        self.in_terminal: Terminal = terminal or self._suspended
        self.set_keymap({f"lxpy.{action}": keys for action, keys in settings.keys.items()})

    def on_mount(self) -> None:
        theme = tui_settings.load_theme(self._theme_file)
        if theme in self.available_themes:
            self.theme = theme
        self.push_screen(self.fleet)

    @property
    def _theme_file(self) -> str:
        return self.api.settings_file(tui_settings.THEME_FILE)

    def watch_theme(self, theme: str) -> None:
        """The theme chosen in the palette is the theme of the next start too."""
        if self.is_mounted(self.fleet):
            try:
                tui_settings.save_theme(self._theme_file, theme)
            except OSError as e:
                self.notify(f"the theme is not kept: {e.strerror}", severity="warning")

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """To the Downloads directory where there is one (textual's choice), else here."""
        if path is None:
            downloads = os.path.expanduser("~/Downloads")
            path = downloads if os.path.isdir(downloads) else os.getcwd()
        name = self.save_screenshot(filename, path)
        self.notify(f"screenshot saved: {name}")

    def lxpy_command(self, args: list[str]) -> list[str]:
        return self.api.command(args)

    def _suspended(self, command: list[str]) -> int:
        with self.suspend():
            return subprocess.run(command, check=False).returncode

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, (_, text) in ACTIONS.items():
            if action in ("quit", "clear") or action in MOTIONS:
                continue
            if action == "hosts" and not self.fleet.remotes:
                continue
            # Only what acts on containers says so; and only where one of them can take it.
            if action in CONTAINER_ACTIONS:
                if not self.fleet.check_action(action, ()):
                    continue
                yield SystemCommand(
                    text,
                    f"{text} (the selected or marked containers)",
                    partial(self.fleet.do, action),
                )
            else:
                yield SystemCommand(text, text, partial(self.fleet.do, action))


def run(api: Api, remote: str | None = None) -> int:
    """The app over this host and the remotes `--remote` names (see hosts.chosen)."""
    settings = tui_settings.load(api.settings_file(tui_settings.FILE_NAME))
    app = LxpyApp(api, settings, remotes=chosen(api.paths, remote))
    try:
        app.run()
    finally:
        app.fleet.join_hosts()
    return 0
