"""Screens over the fleet for one container's snapshots, shared folders and ports, and for
the networks: a table each, read and changed through the API in thread workers (the UI
never waits on a snapshot or a mount); escape goes back to the fleet."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from lxpy import units
from lxpy.api import Api, State
from lxpy.errors import LxpyError, StateError, describe
from lxpy.tui.dialogs import Answers, Confirm, Form
from lxpy.tui.fleet import ago

Rows = list[tuple[str, tuple[str, ...]]]  # (key, cells) of each row


class Pane(Screen[None]):
    """A table of rows keyed by what the API names them by (a snapshot, a path inside, a
    port forward). Each change runs in a worker, says how it went in a notification (a
    failure as the LxpyError's one line), and loads the table again."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    COLUMNS: ClassVar[tuple[str, ...]]
    TITLE_TEXT: ClassVar[str]
    NOTE: ClassVar[str] = ""  # under the table: what a column means
    NOUN: ClassVar[str] = "row"  # what a row is, for "no … selected"

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#pane-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="pane-table", cursor_type="row", zebra_stripes=True)
        yield Static(self.NOTE, id="pane-note")
        yield Footer()

    def heading(self) -> str:
        return self.TITLE_TEXT

    def on_mount(self) -> None:
        self.sub_title = self.heading()
        self.table.add_columns(*self.COLUMNS)
        self.table.focus()
        self.reload()

    def rows(self) -> Rows:
        """The table's rows, read from the API (in a worker thread)."""
        raise NotImplementedError

    def reload(self) -> None:
        if self.is_attached:
            self._load()

    @work(thread=True, exclusive=True, group="pane-load")
    def _load(self) -> None:
        try:
            rows = self.rows()
        except Exception as e:  # a read that fails must not take the app down
            self.app.call_from_thread(self.notify, describe(e), severity="error", timeout=10)
            return
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: Rows) -> None:
        if not self.is_attached:
            return
        table = self.table
        selected = self.selected
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        if selected in keys:
            table.move_cursor(row=keys.index(selected))

    @property
    def selected(self) -> str | None:
        """The key of the row under the cursor."""
        table = self.table
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value

    def chosen(self) -> str | None:
        """The row under the cursor, or None with a warning that there is none."""
        key = self.selected
        if key is None:
            self.notify(f"no {self.NOUN} selected", severity="warning")
        return key

    def change(self, job: Callable[[], str]) -> None:
        """Run `job` (API calls that return what to tell) off the UI thread."""
        self._change(job)

    @work(thread=True, group="pane-changes")
    def _change(self, job: Callable[[], str]) -> None:
        try:
            done = job()
        except Exception as e:  # the app must survive whatever an action raises
            self.app.call_from_thread(self.notify, describe(e), severity="error", timeout=10)
        else:
            self.app.call_from_thread(self.notify, done)
        self.app.call_from_thread(self.reload)


class ContainerPane(Pane):
    """A pane of one container's: its name in the title."""

    def __init__(self, api: Api, container: str) -> None:
        super().__init__(api)
        self.container = container

    def heading(self) -> str:
        return f"{self.TITLE_TEXT} of {self.container}"


class SnapshotsPane(ContainerPane):
    COLUMNS = ("NAME", "TAKEN", "CREATED", "SIZE")
    TITLE_TEXT = "Snapshots"
    NOUN = "snapshot"
    NOTE = "SIZE: the bytes a snapshot alone holds; only a btrfs pool counts them (else -)"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "take", "Take"),
        Binding("r", "restore", "Restore"),
        Binding("d", "delete", "Delete"),
    ]

    def rows(self) -> Rows:
        now = time.time()
        return [
            (
                snap.name,
                (
                    snap.name,
                    ago(snap.created, now),
                    snap.created,
                    units.size(self.api.snapshot_size(self.container, snap.name)),
                ),
            )
            for snap in self.api.snapshots(self.container)
        ]

    def action_take(self) -> None:
        def answered(answers: Answers | None) -> None:
            if answers is not None:
                self.change(partial(self._take, answers.texts["snapshot"] or None))

        fields = [("snapshot", "name (blank: made up, snap0, snap1…)")]
        self.app.push_screen(Form(f"Snapshot {self.container}", fields, verb="Take"), answered)

    def _take(self, snap: str | None) -> str:
        taken = self.api.snapshot(self.container, snap)
        return f"{self.container}: took snapshot {taken.name}"

    def action_restore(self) -> None:
        snap = self.chosen()
        if snap is None:
            return
        # The CLI refuses to restore a running container; here it is stopped first if the
        # person says so.
        try:
            running = self.api.info(self.container).state is not State.STOPPED
        except LxpyError as e:
            self.notify(describe(e), severity="error", timeout=10)
            return
        explanation = "Its files and config go back to the snapshot's; later changes are lost."
        if running:
            explanation += f" {self.container} runs: it is stopped first."

        def answered(sure: bool | None) -> None:
            if sure:
                self.change(partial(self._restore, snap, running))

        verb = "Stop and restore" if running else "Restore"
        question = f"Restore {self.container} to {snap}?"
        self.app.push_screen(Confirm(question, explanation, verb), answered)

    def _restore(self, snap: str, stop: bool) -> str:
        if stop:
            self.api.stop(self.container)
        self.api.restore(self.container, snap)
        return f"{self.container}: restored {snap}" + (" (stopped)" if stop else "")

    def action_delete(self) -> None:
        snap = self.chosen()
        if snap is None:
            return

        def answered(sure: bool | None) -> None:
            if sure:
                self.change(partial(self._delete, snap))

        question = f"Delete snapshot {snap} of {self.container}?"
        self.app.push_screen(Confirm(question, "It is gone for good.", "Delete"), answered)

    def _delete(self, snap: str) -> str:
        self.api.remove_snapshot(self.container, snap)
        return f"{self.container}: deleted snapshot {snap}"


class ListPane(ContainerPane):
    """A pane whose rows are added (`a`) and removed (`d`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("d", "remove", "Remove"),
    ]


class SharedFoldersPane(ListPane):
    COLUMNS = ("HOST PATH", "PATH INSIDE", "MODE", "MOUNTED")
    TITLE_TEXT = "Shared folders"
    NOUN = "shared folder"
    NOTE = "Added and removed at once in a running container, and kept for its next start"

    def rows(self) -> Rows:
        return [
            (
                folder.path,
                (
                    folder.source,
                    folder.path,
                    "ro" if folder.readonly else "rw",
                    "yes" if mounted else "-",
                ),
            )
            for folder, mounted in self.api.shared_folders(self.container)
        ]

    def action_add(self) -> None:
        def answered(answers: Answers | None) -> None:
            if answers is not None:
                texts = answers.texts
                share = partial(
                    self._add, texts["source"], texts["path"], answers.checks["readonly"]
                )
                self.change(share)

        fields = [("source", "host path"), ("path", "path inside, like /srv")]
        checks = [("readonly", "read-only")]
        form = Form(f"Share a host folder with {self.container}", fields, checks, "Share")
        self.app.push_screen(form, answered)

    def _add(self, source: str, path: str, readonly: bool) -> str:
        folder = self.api.mount_add(self.container, source, path, readonly)
        return f"{self.container}: shared {folder.source} at {folder.path}"

    def action_remove(self) -> None:
        path = self.chosen()
        if path is not None:
            self.change(partial(self._remove, path))

    def _remove(self, path: str) -> str:
        self.api.mount_rm(self.container, path)
        return f"{self.container}: no longer shares {path}"


class PortsPane(ListPane):
    COLUMNS = ("ADDRESS", "HOST PORT", "PORT", "PROTO")
    TITLE_TEXT = "Ports"
    NOUN = "port forward"
    NOTE = "Host ports forwarded to the container: at once if it runs, and at each start"

    def rows(self) -> Rows:
        info = self.api.info(self.container)
        if info.config is None:
            raise StateError(f"{self.container}: {info.config_error}")
        return [
            (port.key, (port.address, str(port.host_port), str(port.port), port.proto))
            for port in info.config.ports
        ]

    def action_add(self) -> None:
        def answered(answers: Answers | None) -> None:
            if answers is not None:
                self.change(partial(self._add, answers.texts["spec"]))

        fields = [("spec", "[ADDR:]HOSTPORT:PORT[/tcp|/udp], like 8080:80")]
        form = Form(f"Forward a host port to {self.container}", fields, verb="Forward")
        self.app.push_screen(form, answered)

    def _add(self, spec: str) -> str:
        return f"{self.container}: forwarding {self.api.port_add(self.container, spec)}"

    def action_remove(self) -> None:
        key = self.chosen()
        if key is not None:
            self.change(partial(self._remove, key))

    def _remove(self, key: str) -> str:
        self.api.port_rm(self.container, key)
        return f"{self.container}: no longer forwards {key}"


class NetworksPane(Pane):
    """Each network with its containers and their addresses, a row per container."""

    COLUMNS = ("NETWORK", "SUBNET", "DOMAIN", "STATE", "CONTAINER", "ADDRESS")
    TITLE_TEXT = "Networks"
    NOTE = "A network is up while its bridge and its DHCP and DNS server are"

    def rows(self) -> Rows:
        found: Rows = []
        for net in self.api.networks():
            addresses: dict[str, list[str]] = {}
            for container, address, _, _ in net.leases:
                addresses.setdefault(container, []).append(address)
            shown = (net.name, net.subnet, net.domain, "up" if net.up else "down")
            for container in net.containers or ["-"]:
                cells = (*shown, container, ", ".join(addresses.get(container, [])) or "-")
                found.append((f"{net.name}/{container}", cells))
                shown = ("", "", "", "")  # the network's figures on its first row alone
        return found
