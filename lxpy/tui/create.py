"""The create form: name, template, release, packages and limits, checked as the CLI does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from lxpy.api import LIMIT_KEYS, LIMITS, Api
from lxpy.errors import LxpyError, UsageError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    # At run time only when the form is sent: with jinja2 behind it, it costs the TUI's
    # start ~50 ms.
    from lxpy.api import Request

FIELDS_PER_ROW = 3


def _option(name: str, description: str, width: int = 28) -> str:
    text = f"{name}: {description}"
    return text if len(text) <= width else text[: width - 1] + "…"


class CreateScreen(ModalScreen["Request | None"]):
    """Dismissed with a checked `Request` (the create itself runs in a worker, so the app
    stays usable while a template bootstraps), or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, templates: Sequence[tuple[str, str]], suggested_name: str) -> None:
        super().__init__()
        self.templates = templates
        self.suggested_name = suggested_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label("New container")
            with Horizontal(classes="row"):
                yield Input(placeholder=f"name (blank: {self.suggested_name})", id="name")
                yield Select(
                    [(_option(name, text), name) for name, text in self.templates],
                    value=self.templates[0][0] if self.templates else Select.BLANK,
                    allow_blank=False,
                    id="template",
                )
            with Horizontal(classes="row"):
                yield Input(placeholder="release (blank: default)", id="release")
                yield Input(placeholder="packages, comma-separated", id="packages")
            limits = list(LIMITS.values())
            for first in range(0, len(limits), FIELDS_PER_ROW):
                with Horizontal(classes="row"):
                    for limit in limits[first : first + FIELDS_PER_ROW]:
                        yield Input(placeholder=limit.placeholder, id=limit.key)
            yield Label("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def _text(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def request(self) -> Request:
        """The form as a create request, or the UsageError the CLI would give."""
        from lxpy.api import Request

        name = self._text("name") or self.suggested_name
        Api.validate_name(name)
        parameters = {}
        if self._text("release"):
            parameters["release"] = self._text("release")
        if self._text("packages"):
            parameters["packages"] = self._text("packages")
        limits = Api.limits_from_text(
            {key: self._text(key) for key in LIMIT_KEYS if self._text(key)}, lambda key: key
        )
        template = self.query_one("#template", Select).value
        if not isinstance(template, str):
            raise UsageError("choose a template")
        return Request(template, name, parameters, limits=limits)

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        try:
            request = self.request()
        except LxpyError as e:
            self.query_one("#form-error", Label).update(describe(e))
            return
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
