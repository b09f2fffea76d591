"""The TUI's settings file, `tui.toml` in lxpy's settings dir (/etc/lxpy, or ROOT/etc with
--root): key bindings, the shell to attach with, the refresh interval. No textual here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxpy.api import Table, TomlFile

FILE_NAME = "tui.toml"
SETTINGS = ("keys", "shell", "refresh")
# action: (default keys, what it does). Keys are textual's names, comma-separated.
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("s", "Start"),
    "stop": ("S", "Stop"),
    "restart": ("r", "Restart"),
    "freeze": ("p", "Freeze"),
    "attach": ("e", "Attach"),
    "attach_root": ("E", "Attach as root"),
    "console": ("c", "Console"),
    "logs": ("l", "Logs"),
    "create": ("n", "New"),
    "destroy": ("ctrl+d", "Destroy"),
    "filter": ("slash", "Filter"),
    "sort": ("o", "Sort"),
    "group": ("F", "Group by fleet"),
    "mark": ("space", "Mark"),
    "help": ("question_mark,f1", "Help"),
    "quit": ("q", "Quit"),
}
DEFAULT_REFRESH = 1.5


@dataclass(frozen=True)
class Settings:
    keys: Mapping[str, str] = field(default_factory=lambda: {a: k for a, (k, _) in ACTIONS.items()})
    # The command `attach` runs; empty: the container's login shell, as `lxpy attach` does.
    shell: tuple[str, ...] = ()
    refresh: float = DEFAULT_REFRESH


def load(path: str) -> Settings:
    """The settings in the file at `path`; the defaults if there is none."""
    try:
        return from_table(TomlFile.read(path, SETTINGS))
    except FileNotFoundError:
        return Settings()


def parse(path: str, doc: Mapping[str, Any]) -> Settings:
    """The settings in `doc`, parsed from the file at `path` (which the errors name)."""
    return from_table(TomlFile(path).top(doc, SETTINGS))


def from_table(top: Table) -> Settings:
    """The settings in tui.toml's top table."""
    keys = dict(Settings().keys)
    given = top.table("keys", ACTIONS, f"unknown action (one of {', '.join(ACTIONS)})")
    for action in ACTIONS:
        value = given.get(action, str, None, _check_keys)
        if value is not None:
            keys[action] = value.replace(" ", "")
    taken: dict[str, str] = {}
    for action, value in keys.items():
        for key in value.split(","):
            if key in taken:
                raise given.fail(action, f"{key} is bound to {taken[key]} already")
            taken[key] = action
    shell = top.get("shell", (str, list), [], _check_shell)
    refresh = top.get("refresh", (int, float), DEFAULT_REFRESH, _check_refresh)
    return Settings(
        keys=keys,
        shell=(shell,) if isinstance(shell, str) else tuple(shell),
        refresh=float(refresh),
    )


def _check_keys(value: str) -> str | None:
    return None if value.strip() else 'expected keys like "s" or "ctrl+s,f5"'


def _check_shell(value: str | list[Any]) -> str | None:
    items = [value] if isinstance(value, str) else value
    if all(isinstance(s, str) and s for s in items):
        return None
    return "expected a command as a list of strings"


def _check_refresh(value: float) -> str | None:
    return None if 0.2 <= value <= 60 else "expected seconds between 0.2 and 60"
