"""The TUI's settings file, `tui.toml` in lxpy's settings dir (/etc/lxpy, or ROOT/etc with
--root): key bindings, the shell to attach with, the refresh intervals. No textual here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxpy.api import Table, TomlFile

FILE_NAME = "tui.toml"
# The theme last chosen in the app (its palette), kept beside tui.toml: the app never
# rewrites the file people edit.
THEME_FILE = "tui-theme"
SETTINGS = ("keys", "shell", "refresh", "remote_refresh")
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
    "destroy": ("D", "Destroy"),
    "filter": ("slash", "Filter"),
    "hosts": ("H", "The next host alone (host:NAME in the filter), then all"),
    "clear": ("escape", "Clear the filter, then the marks"),
    "sort": ("o", "Sort"),
    "reverse": ("O", "Reverse the sort"),
    "group": ("F", "Group by fleet"),
    "snapshots": ("z", "Snapshots"),
    "mounts": ("m", "Shared folders"),
    "ports": ("P", "Ports"),
    "config": ("C", "Edit config"),
    "networks": ("N", "Networks"),
    "mark": ("space", "Mark"),
    "unmark": ("U", "Clear the marks"),
    "down": ("down,j", "Down"),
    "up": ("up,k", "Up"),
    "page_down": ("pagedown,ctrl+d", "Page down"),
    "page_up": ("pageup,ctrl+u", "Page up"),
    "first": ("home,g", "First row"),
    "last": ("end,G", "Last row"),
    "left": ("left", "Scroll left"),
    "right": ("right", "Scroll right"),
    "select": ("enter", "Attach to the row"),
    "help": ("question_mark,f1", "Help"),
    "quit": ("q", "Quit"),
}
# The actions that move in the table: bound on the table, to its own cursor actions, so that
# the filter box keeps its keys while it has the focus. Rebound in tui.toml like the rest.
MOTIONS: dict[str, str] = {
    "down": "cursor_down",
    "up": "cursor_up",
    "page_down": "page_down",
    "page_up": "page_up",
    "first": "scroll_top",
    "last": "scroll_bottom",
    "left": "cursor_left",
    "right": "cursor_right",
    "select": "select_cursor",
}
DEFAULT_REFRESH = 1.5
# A remote host's rows follow its events; its CPU and memory figures come with a listing
# this often.
DEFAULT_REMOTE_REFRESH = 5.0


@dataclass(frozen=True)
class Settings:
    keys: Mapping[str, str] = field(default_factory=lambda: {a: k for a, (k, _) in ACTIONS.items()})
    # The command `attach` runs; empty: the container's login shell, as `lxpy attach` does.
    shell: tuple[str, ...] = ()
    refresh: float = DEFAULT_REFRESH
    remote_refresh: float = DEFAULT_REMOTE_REFRESH


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
    remote_refresh = top.get(
        "remote_refresh", (int, float), DEFAULT_REMOTE_REFRESH, _check_remote_refresh
    )
    return Settings(
        keys=keys,
        shell=(shell,) if isinstance(shell, str) else tuple(shell),
        refresh=float(refresh),
        remote_refresh=float(remote_refresh),
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


def _check_remote_refresh(value: float) -> str | None:
    return None if 1 <= value <= 600 else "expected seconds between 1 and 600"


def load_theme(path: str) -> str | None:
    """The theme kept at `path`, if one was."""
    try:
        with open(path) as f:
            return f.readline().strip() or None
    except OSError:
        return None


def save_theme(path: str, name: str) -> None:
    """Keep `name` at `path` (whole: a reader never sees half of it)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.tmp{os.getpid()}"
    with open(partial, "w") as f:
        f.write(f"{name}\n")
    os.replace(partial, path)
