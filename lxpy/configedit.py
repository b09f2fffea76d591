"""`lxpy config show|get|set|unset|edit`: change a container's config.toml by dotted keys,
validated as a whole before anything is written, and applied live where it can be (limits).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from lxpy import config, store
from lxpy.config import ContainerConfig
from lxpy.errors import ConfigError, UsageError
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


def limits_from_text(given: Mapping[str, str], option: Callable[[str], str]) -> dict[str, Any]:
    """Limits typed as text (`--memory 2G`, a form's field) as config values, each checked
    like config.toml's; `option` names a key the way the user gave it, for the error."""
    found = {}
    for key, text in given.items():
        value = str(text) if key in ("memory", "swap", "cpuset") else parse_value(text)
        problem = config.check_limit(key, value)
        if problem:
            raise UsageError(f"{option(key)} {text}: {problem}")
        found[key] = value
    return found


def changed(cfg: ContainerConfig, key: str, value: Any, path: str) -> ContainerConfig:
    """`cfg` with `key` set to `value` (None: unset), validated like the file itself."""
    import tomli_w

    doc = cfg.to_dict()
    table, last = _walk(doc, key, create=value is not None)
    if value is None:
        if last not in table:
            raise UsageError(f"{key} is not set")
        del table[last]
    else:
        table[last] = value
    return config.parse(path, tomli_w.dumps(doc))


def edit(paths: Paths, name: str) -> ContainerConfig:
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
            return config.parse(path, text)
        except ConfigError as e:
            raise ConfigError(f"{e.message} (config.toml left as it was)", e.hint) from None
    finally:
        os.unlink(scratch)


def apply(paths: Paths, name: str, old: ContainerConfig, new: ContainerConfig) -> bool:
    """Save `new`; its limits take effect at once if the container runs. True when the
    rest (if anything else changed) waits for the next start."""
    from lxpy.linux.cgroups import ContainerCgroups, LimitError
    from lxpy.runtime import limits
    from lxpy.runtime.state import read_live

    running = read_live(paths, name).active
    if running and new.limits != old.limits:
        try:
            ContainerCgroups(paths.instance, name).apply_limits(limits.settings(new.limits))
        except (LimitError, OSError) as e:
            # Put back what was there: the file and the running limits stay in step.
            ContainerCgroups(paths.instance, name).apply_limits(limits.settings(old.limits))
            raise UsageError(f"cannot apply the limits to {name}: {e}") from None
    store.save(paths, name, new)
    return running and new.with_changes(limits=old.limits) != old
