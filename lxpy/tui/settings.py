"""The TUI's settings file, `tui.toml` in lxpy's settings dir (/etc/lxpy, or ROOT/etc with
--root): key bindings, the shell to attach with, the refresh interval. No textual here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxpy.errors import ConfigError

FILE_NAME = "tui.toml"
# action: (default keys, what it does). Keys are textual's names, comma-separated.
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("s", "Start"),
    "stop": ("S", "Stop"),
    "restart": ("r", "Restart"),
    "freeze": ("p", "Freeze"),
    "attach": ("e", "Attach"),
    "console": ("c", "Console"),
    "create": ("n", "New"),
    "destroy": ("ctrl+d", "Destroy"),
    "filter": ("slash", "Filter"),
    "sort": ("o", "Sort"),
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
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return Settings()
    import tomllib

    try:
        doc = tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: malformed TOML: {e}", hint="fix the file") from None
    return parse(path, doc)


def parse(path: str, doc: Mapping[str, Any]) -> Settings:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {problem}", hint="fix the file")

    unknown = set(doc) - {"keys", "shell", "refresh"}
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key")
    keys = dict(Settings().keys)
    given = doc.get("keys", {})
    if not isinstance(given, dict):
        raise fail("keys", 'expected a table like [keys] start = "s"')
    for action, value in given.items():
        if action not in ACTIONS:
            raise fail(f"keys.{action}", f"unknown action (one of {', '.join(ACTIONS)})")
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise fail(f"keys.{action}", 'expected keys like "s" or "ctrl+s,f5"')
        keys[action] = value.replace(" ", "")
    taken: dict[str, str] = {}
    for action, value in keys.items():
        for key in value.split(","):
            if key in taken:
                raise fail(f"keys.{action}", f"{key} is bound to {taken[key]} already")
            taken[key] = action
    shell = doc.get("shell", [])
    if isinstance(shell, str):
        shell = [shell]
    if not isinstance(shell, list) or not all(isinstance(s, str) and s for s in shell):
        raise fail("shell", "expected a command as a list of strings")
    refresh = doc.get("refresh", DEFAULT_REFRESH)
    number = isinstance(refresh, int | float) and not isinstance(refresh, bool)
    if not number or not 0.2 <= refresh <= 60:
        raise fail("refresh", "expected seconds between 0.2 and 60")
    return Settings(keys=keys, shell=tuple(shell), refresh=float(refresh))
