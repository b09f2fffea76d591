"""Render a template's files into a rootfs. The only module that imports jinja2.

Sandboxed (SandboxedEnvironment, StrictUndefined), loading nothing from outside the
template's own files directory, and every value checked for newline and NUL before it can
land in a line-based file. Output goes through safefs, confined to the rootfs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from lxpy.errors import TemplateError
from lxpy.linux import safefs

Value = str | int | bool | list[str]


def _check_values(context: Mapping[str, Value]) -> None:
    for key, value in context.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and ("\n" in text or "\0" in text or "\r" in text):
                raise TemplateError(f"template value {key!r} contains a newline or NUL")


def render_tree(
    files: Path, rootfd: int, context: Mapping[str, Value], modes: Mapping[str, int] | None = None
) -> list[str]:
    """Write every file under `files` into the rootfs; `*.j2` files are rendered first.

    Returns the rootfs paths written.
    """
    _check_values(context)
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(files)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    written = []
    for source in sorted(p for p in files.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = source.relative_to(files).as_posix()
        mode = source.stat().st_mode & 0o7777
        if rel.endswith(".j2"):
            try:
                data = env.get_template(rel).render(**context).encode()
            except jinja2.TemplateError as e:
                raise TemplateError(f"rendering {rel}: {e}") from None
            rel = rel[:-3]
        else:
            data = source.read_bytes()
        safefs.write_file(rootfd, rel, data, (modes or {}).get(rel, mode))
        written.append("/" + rel)
    return written


def render_string(text: str, context: Mapping[str, Value]) -> str:
    """Render one string in the same sandbox (for tests and `templates show`)."""
    _check_values(context)
    env = SandboxedEnvironment(
        loader=jinja2.DictLoader({}), undefined=jinja2.StrictUndefined, autoescape=False
    )
    try:
        return env.from_string(text).render(**context)
    except jinja2.TemplateError as e:
        raise TemplateError(f"rendering: {e}") from None
