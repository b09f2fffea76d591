"""lxpy's own settings: `settings.toml` in its settings dir (/etc/lxpy, or ROOT/etc), what a
command uses where it is not told. Read strictly, like every lxpy file:

    [storage]
    pool = "fast"   # the pool of new containers (`lxpy storage default`); default overlay

`lxpy storage default POOL` rewrites the file (keeping its settings, not its comments).
"""

from __future__ import annotations

import os

from lxpy.config.tomlfile import TomlFile
from lxpy.paths import Paths

FILE_NAME = "settings.toml"
DEFAULT_POOL = "overlay"


def path(paths: Paths) -> str:
    return f"{paths.etc}/{FILE_NAME}"


def default_pool(paths: Paths, unset: str = DEFAULT_POOL) -> str:
    """The pool new containers go to when `create` is given none (`unset` when none is
    set)."""
    try:
        top = TomlFile.read(path(paths), ("storage",))
    except FileNotFoundError:
        return unset
    return str(top.table("storage", ("pool",)).get("pool", str, unset))


def set_default_pool(paths: Paths, pool: str) -> None:
    import tomllib

    import tomli_w

    from lxpy.linux.atomic import write_atomic

    default_pool(paths)  # a broken file is refused before it is rewritten
    try:
        with open(path(paths), "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        doc = {}
    storage = doc.setdefault("storage", {})
    if pool == DEFAULT_POOL:
        storage.pop("pool", None)
    else:
        storage["pool"] = pool
    if not storage:
        del doc["storage"]
    os.makedirs(paths.etc, mode=0o755, exist_ok=True)
    write_atomic(path(paths), tomli_w.dumps(doc).encode(), mode=0o644)
