"""config.toml on disk: read (through the parsed-config cache) and validated, written
atomically (a temp file fsynced and renamed over the old one, so a crash or a full disk never
leaves half a config)."""

from __future__ import annotations

import os

from lxpy.config import cache as parsed
from lxpy.config import schema, tomlfile
from lxpy.config.tomlfile import TomlFile, read_text
from lxpy.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from lxpy.config.model import ContainerConfig

HINT = "fix the file, or change it with `lxpy config edit`"


def parse(path: str, text: str) -> ContainerConfig:
    """The config in `text`, as read from `path` (which the errors name)."""
    return schema.validate(TomlFile(path, text, hint=HINT), tomlfile.parse(path, text, hint=HINT))


def from_dict(where: str, doc: Mapping[str, Any]) -> ContainerConfig:
    """The config `ContainerConfig.to_dict` gave (another host's `info -f json`), checked as
    a file's would be; `where` names its source in an error."""
    return schema.validate(TomlFile(where, hint=None), doc)


# Configs this process validated, by path, with the key of the file they came from: a
# process that reads the same configs again and again (the TUI, every 1.5 s) validates each
# once while its file is unchanged. A config is immutable, so handing the same one out is safe.
_validated: dict[str, tuple[tuple[int, ...], ContainerConfig]] = {}


def load(path: str, cache: str | None = None) -> ContainerConfig:
    """Read and validate a config. With `cache`, the parsed document is kept there (see
    lxpy.config.cache). Validated once per process while the file is unchanged."""
    try:
        key = parsed.key_of(os.stat(path, follow_symlinks=False))
        seen = _validated.get(path)
        if seen is not None and seen[0] == key:
            return seen[1]
        doc = parsed.cached(cache, key) if cache else None
        if doc is not None:
            cfg = schema.validate(TomlFile(path, lambda: read_text(path), hint=HINT), doc)
            _validated[path] = (key, cfg)
            return cfg
        text = read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    doc = tomlfile.parse(path, text, hint=HINT)
    if cache:
        parsed.store(cache, key, doc)
    cfg = schema.validate(TomlFile(path, text, hint=HINT), doc)
    _validated[path] = (key, cfg)
    return cfg


def dump(cfg: ContainerConfig) -> str:
    import tomli_w

    return tomli_w.dumps(cfg.to_dict())


def save(path: str, cfg: ContainerConfig, cache: str | None = None) -> None:
    """Write `cfg`; with `cache`, its parsed form goes there too, so the next load (often
    right after: a clone, a snapshot) needs no tomllib."""
    from lxpy.linux.atomic import write_atomic  # not at the top: `lxpy ls` writes nothing

    write_atomic(path, dump(cfg).encode(), fsync=True)
    if cache:
        parsed.store(cache, parsed.key_of(os.stat(path, follow_symlinks=False)), cfg.to_dict())
