"""Modal questions: stop (with a force option), destroy (type the name, or how many), the key
list, and the plain ones the panes ask: confirm, and a small form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{len(names)} containers ({', '.join(names)})"


class ConfirmStop(ModalScreen[str | None]):
    """Dismissed with "stop" (through init, as `lxpy stop`), "kill" (`lxpy stop --kill`),
    or None. Cancel has the focus: a stray enter changes nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = list(names)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Stop {_names(self.names)}?")
            yield Label("Stop asks init to shut down; Kill ends every process at once.")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Stop", id="stop", variant="warning")
                yield Button("Kill", id="kill", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)


class ConfirmDestroy(ModalScreen[bool]):
    """True only once confirmed: one container by typing its name, several by typing how
    many. Says which of them run (a destroy kills them first)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, names: Sequence[str], running: Sequence[str] = ()) -> None:
        super().__init__()
        self.names = list(names)
        self.running = [name for name in names if name in running]
        self.answer_text = names[0] if len(names) == 1 else str(len(names))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Destroy {_names(self.names)}? Root filesystems are deleted for good.")
            if self.running:
                yield Label(f"Running now, killed first: {', '.join(self.running)}.")
            what = "its name" if len(self.names) == 1 else "how many containers go"
            yield Label(f"Type {what} to confirm:")
            yield Input(placeholder=self.answer_text, id="confirm-name")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Destroy", id="destroy", variant="error", disabled=True)

    @on(Input.Changed)
    def typed(self, event: Input.Changed) -> None:
        self.query_one("#destroy", Button).disabled = event.value != self.answer_text

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.value == self.answer_text:
            self.dismiss(True)

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "destroy")


class HelpScreen(ModalScreen[None]):
    """Every key of the fleet screen, as bound now (after the settings file)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss(None)", "Close")
    ]

    def __init__(self, keys: Sequence[tuple[str, str]], note: str = "") -> None:
        super().__init__()
        self.keys = keys
        self.note = note  # under the heading: what the keys alone do not say

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Keys (change them in tui.toml; ctrl+p opens the command palette)")
            if self.note:
                yield Label(self.note)
            table: DataTable[str] = DataTable(cursor_type="none", show_header=True)
            table.add_columns("KEY", "ACTION")
            for key, description in self.keys:
                table.add_row(key, description)
            yield table
            yield Button("Close", id="close")

    @on(Button.Pressed)
    def close(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """True once `verb` is pressed. Cancel has the focus: a stray enter changes nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, question: str, explanation: str, verb: str) -> None:
        super().__init__()
        self.question, self.explanation, self.verb = question, explanation, verb

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield Label(self.explanation)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.verb, id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


@dataclass(frozen=True)
class Answers:
    texts: dict[str, str]  # field id: its text, stripped
    checks: dict[str, bool]  # check box id: ticked


class Form(ModalScreen["Answers | None"]):
    """A few text fields, (id, placeholder), and check boxes, (id, label): dismissed with
    what was typed and ticked, or None. The API that takes the answers checks them."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        title: str,
        fields: Sequence[tuple[str, str]],
        checks: Sequence[tuple[str, str]] = (),
        verb: str = "OK",
    ) -> None:
        super().__init__()
        self.title_text, self.fields, self.checks, self.verb = title, fields, checks, verb

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label(self.title_text)
            for key, placeholder in self.fields:
                yield Input(placeholder=placeholder, id=key)
            for key, label in self.checks:
                yield Checkbox(label, id=key)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.verb, id="ok", variant="primary")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def ok(self) -> None:
        texts = {key: self.query_one(f"#{key}", Input).value.strip() for key, _ in self.fields}
        checks = {key: self.query_one(f"#{key}", Checkbox).value for key, _ in self.checks}
        self.dismiss(Answers(texts, checks))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
