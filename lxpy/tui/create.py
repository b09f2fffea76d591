"""The create form: name, template, release, packages, the box's user, its network, a shared
folder and limits, checked as the CLI does; and whether to start it once made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from lxpy.api import LIMIT_KEYS, LIMITS, Api
from lxpy.errors import LxpyError, UsageError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    # At run time only when the form is sent: with jinja2 behind it, it costs the TUI's
    # start ~50 ms.
    from lxpy.api import Request

FIELDS_PER_ROW = 4


def _option(name: str, description: str, width: int = 28) -> str:
    text = f"{name}: {description}"
    return text if len(text) <= width else text[: width - 1] + "…"


class Order:
    """What the form asks for: the create `request`, then a folder to share (`share`: host
    path, path inside) and a start."""

    __slots__ = ("request", "share", "start")

    def __init__(self, request: Request, share: tuple[str, str] | None, start: bool) -> None:
        self.request, self.share, self.start = request, share, start


class CreateScreen(ModalScreen["Order | None"]):
    """Dismissed with a checked `Order` (the create itself runs in a worker, so the app
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
                yield Input(placeholder="packages: a,b", id="packages")
                yield Input(placeholder="user (blank: none)", id="user")
            with Horizontal(classes="row"):
                yield Input(placeholder="network (blank: default)", id="network")
                yield Input(placeholder="share HOSTPATH:PATH", id="share")
                yield Checkbox("start it", value=True, id="start")
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

    def order(self) -> Order:
        """The form as a create order, or the UsageError the CLI would give."""
        from lxpy.api import Request

        name = self._text("name") or self.suggested_name
        Api.validate_name(name)
        parameters = {}
        for key in ("release", "packages", "user"):
            if self._text(key):
                parameters[key] = self._text(key)
        limits = Api.limits_from_text(
            {key: self._text(key) for key in LIMIT_KEYS if self._text(key)}, lambda key: key
        )
        template = self.query_one("#template", Select).value
        if not isinstance(template, str):
            raise UsageError("choose a template")
        network = self._text("network")
        nics = None if not network else () if network == "none" else ((network, ""),)
        share = None
        if self._text("share"):
            source, sep, inside = self._text("share").rpartition(":")
            if not sep or not source or not inside.startswith("/"):
                raise UsageError(f"shared folder {self._text('share')!r}: expected HOSTPATH:PATH")
            share = (source, inside)
        # As on the command line: a box with its own user gets sshd, for `lxpy ssh`.
        ssh = bool(parameters.get("user"))
        request = Request(template, name, parameters, nics=nics, limits=limits, ssh=ssh)
        return Order(request, share, self.query_one("#start", Checkbox).value)

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        try:
            order = self.order()
        except LxpyError as e:
            self.query_one("#form-error", Label).update(describe(e))
            return
        self.dismiss(order)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
