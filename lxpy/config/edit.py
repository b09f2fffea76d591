"""`lxpy config get|set|unset|edit`: a container's config.toml changed by dotted keys, the
result validated as a whole before anything is written (saving it, and applying its limits
to a running container, is lxpy.runtime.limits.apply)."""

from __future__ import annotations

import os
import subprocess
import tempfile

from lxpy.config import file, schema
from lxpy.config.tomlfile import TomlFile, read_text
from lxpy.errors import ConfigError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lxpy.config.model import ContainerConfig
    from lxpy.paths import Paths


def _walk(doc: dict[str, Any], key: str, create: bool) -> tuple[dict[str, Any], str]:
    parts = key.split(".")
    if not all(parts):
        raise UsageError(f"invalid key {key!r}", hint="dotted, like limits.memory")
    table = doc
    for part in parts[:-1]:
        nxt = table.get(part)
        if nxt is None and create:
            nxt = table[part] = {}
        if not isinstance(nxt, dict):
            raise UsageError(f"{key}: {part} is not a table")
        table = nxt
    return table, parts[-1]


def get(cfg: ContainerConfig, key: str) -> Any:
    table, last = _walk(cfg.to_dict(), key, create=False)
    if last not in table:
        raise UsageError(f"{key} is not set")
    return table[last]


def parse_value(text: str) -> Any:
    """A TOML value (1.5, true, [..], "x") when it reads as one, else the text itself."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def changed(cfg: ContainerConfig, key: str, value: Any, path: str) -> ContainerConfig:
    """`cfg` with `key` set to `value` (None: unset), validated like the file at `path`: an
    error about the value names it as given on the command line, one about the rest of the
    file names its line there."""
    doc = cfg.to_dict()
    table, last = _walk(doc, key, create=value is not None)
    if value is None:
        if last not in table:
            raise UsageError(f"{key} is not set")
        del table[last]
    else:
        table[last] = value
    given = {key: None if value is None else _as_typed(value)}
    return schema.validate(
        TomlFile(path, lambda: read_text(path), hint=file.HINT, given=given), doc
    )


def _as_typed(value: Any) -> str:
    """`value` much as the user typed it: text as it is, anything else on one line."""
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


def in_editor(paths: Paths, name: str) -> ContainerConfig:
    """$EDITOR on a copy; the copy replaces config.toml only if it is valid."""
    path = paths.config_file(name)
    with open(path) as f:
        original = f.read()
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, scratch = tempfile.mkstemp(prefix=f"lxpy-{name}-", suffix=".toml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(original)
        if subprocess.run([*editor.split(), scratch]).returncode != 0:
            raise UsageError(f"{editor} failed: config.toml left as it was")
        with open(scratch) as f:
            text = f.read()
        try:
            return file.parse(path, text)
        except ConfigError as e:
            raise ConfigError(f"{e.message} (config.toml left as it was)") from None
    finally:
        os.unlink(scratch)
