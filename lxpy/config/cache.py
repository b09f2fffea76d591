"""The parsed-config cache: each config.toml's parsed document kept beside it in marshal
form, keyed by the file's inode, size, times and the Python version (like a .pyc), so that
most commands never import tomllib. What is cached is the parse, never the validation."""

from __future__ import annotations

import marshal
import os
import sys

from lxpy.config.tomlfile import MAX_BYTES, parse, read_text

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def key_of(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sys.hexversion)


def cached(cache: str, key: tuple[int, ...]) -> dict[str, Any] | None:
    """The document kept at `cache` for the file whose key is `key`, else None."""
    try:
        fd = os.open(cache, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        stored_key, doc = marshal.loads(os.read(fd, MAX_BYTES * 2))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    finally:
        os.close(fd)
    return doc if stored_key == key and isinstance(doc, dict) else None


def store(cache: str, key: tuple[int, ...], doc: dict[str, Any]) -> None:
    try:
        data = marshal.dumps((key, doc))
    except ValueError:
        return  # a TOML datetime: marshal cannot hold it, so this file is never cached
    from lxpy.linux.atomic import write_atomic  # not at the top: a cache hit writes nothing

    try:
        write_atomic(cache, data)
    except OSError:
        pass  # a cache that cannot be written only costs time


def load(path: str, cache: str) -> dict[str, Any]:
    """The parsed document of the TOML file at `path`: the one kept at `cache` while the
    file is unchanged, else parsed (and kept). A missing file raises FileNotFoundError."""
    key = key_of(os.stat(path, follow_symlinks=False))
    doc = cached(cache, key)
    if doc is None:
        doc = parse(path, read_text(path))
        os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
        store(cache, key, doc)
    return doc
