"""The live fleet table: one row per container, keyed by its address (NAME, or HOST:NAME
for another host's)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from lxpy.api import State
from lxpy.tui.fleet import Column, Row
from lxpy.tui.settings import ACTIONS, MOTIONS

STATE_STYLES = {
    State.RUNNING: "bold green",
    State.STOPPED: "dim",
    State.FROZEN: "bold cyan",
    State.STARTING: "yellow",
    State.STOPPING: "yellow",
}
TRANSIENT_STYLE = "italic yellow"
# Every cell of a row whose host stopped answering: what it said last, in the background.
UNREACHABLE_STYLE = "dim"
UNREACHABLE = "unreachable"
MARK = "●"
# After the name of a privileged container, whose root is the host's root.
PRIVILEGED = Text(" privileged", style="bold red")


class FleetTable(DataTable[str | Text], inherit_bindings=False):
    """Each refresh changes only the cells that changed, adds and removes rows by key, and
    puts the cursor back on the same container: the cursor and the scroll stay put."""

    # DataTable's own keys are replaced by the settings' (ids: tui.toml rebinds them).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(ACTIONS[action][0], motion, ACTIONS[action][1], show=False, id=f"lxpy.{action}")
        for action, motion in MOTIONS.items()
    ]

    def __init__(self, shown: Sequence[Column], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.shown = shown
        # The cells that tell rows apart, to put them in order by: a name is one host's.
        self.identity = tuple(c.key for c in shown if c.key in ("host", "name"))

    def on_mount(self) -> None:
        self.add_column(" ", key="mark", width=1)
        for column in self.shown:
            self.add_column(f"{column.label} ", key=column.key)  # a cell for the sort arrow

    @property
    def selected(self) -> str | None:
        """The address under the cursor."""
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        return key

    def show(
        self, rows: Sequence[Row], transient: Mapping[str, str], marked: Collection[str]
    ) -> None:
        """Make the table hold `rows`, in that order; `transient` labels (an action under
        way) stand in for the state of their rows."""
        selected = self.selected
        wanted = {row.address: row for row in rows}
        gone = [key for key in self.rows if key.value not in wanted]
        for key in gone:
            self.remove_row(key)
        present = {key.value for key in self.rows}
        # The identity cells' text (the name's with a privileged mark too): the row's place.
        order: dict[tuple[str, ...], int] = {}
        for address, row in wanted.items():
            cells = self._cells(row, transient.get(address), address in marked)
            order[tuple(str(cells[key]) for key in self.identity)] = len(order)
            if address not in present:
                self.add_row(*cells.values(), key=address)
                # A new row's cells are measured here: DataTable's own deferred measure of
                # new rows has been seen to miss one (STOPPED drawn as STOPPE).
                for column, value in cells.items():
                    if cell_len(str(value)) > self.columns[ColumnKey(column)].content_width:
                        self.update_cell(address, column, value, update_width=True)
                continue
            for column, value in cells.items():
                old = self.get_cell(address, column)
                if old != value:
                    # Measuring a whole column again is most of a refresh's cost: only when
                    # the new text is wider, or the old one may have been the widest.
                    width = self.columns[ColumnKey(column)].content_width
                    measure = cell_len(str(value)) > width or cell_len(str(old)) >= width
                    self.update_cell(address, column, value, update_width=measure)
        if gone:
            self._fit_columns()
        # DataTable hands the key one cell alone, several as a tuple.
        single = len(self.identity) == 1
        self.sort(
            *self.identity,
            key=lambda cells: order[(str(cells),) if single else tuple(map(str, cells))],
        )
        if selected in wanted:
            self.move_cursor(row=self.get_row_index(selected), scroll=False)

    def _fit_columns(self) -> None:
        """Each column as wide as its widest cell or label: a row that went may have been
        the widest."""
        for key, column in self.columns.items():
            cells = [cell_len(str(value)) for value in self.get_column(key)]
            column.content_width = max([cell_len(str(column.label)), *cells])
        # What DataTable sets itself when it measures: the table's size follows.
        self._require_update_dimensions = True
        self.refresh()

    def _cells(self, row: Row, transient: str | None, marked: bool) -> dict[str, str | Text]:
        cells: dict[str, str | Text] = {"mark": MARK if marked else " "}
        for column in self.shown:
            cells[column.key] = column.text(row)
        if row.unreachable:
            # Its figures are old news: said so in every cell, and the state is unknown.
            cells.update((k, Text(str(v), style=UNREACHABLE_STYLE)) for k, v in cells.items())
            cells["state"] = Text(UNREACHABLE, style="dim red")
            return cells
        if row.privileged:
            cells["name"] = Text(row.name) + PRIVILEGED
        cells["state"] = (
            Text(transient, style=TRANSIENT_STYLE)
            if transient
            else Text(str(row.state), style=STATE_STYLES.get(row.state, ""))
        )
        return cells
