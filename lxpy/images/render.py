"""Render a template's files into a rootfs. The only module that imports jinja2.

Sandboxed (SandboxedEnvironment, StrictUndefined), loading nothing from outside the
template's own files directory, and every value checked for newline and NUL before it can
land in a line-based file. Output goes through safefs, confined to the rootfs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from lxpy.errors import TemplateError
from lxpy.linux import safefs

Value = str | int | bool | list[str]
MAX_TEMPLATE_BYTES = 16 << 20


def _check_values(context: Mapping[str, Value]) -> None:
    for key, value in context.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and ("\n" in text or "\0" in text or "\r" in text):
                raise TemplateError(f"template value {key!r} contains a newline or NUL")


class _ConfinedLoader(jinja2.BaseLoader):
    """Loads templates (and their includes) from the files directory only: a symlink or a
    path leading out of it is refused by the kernel (openat2 RESOLVE_BENEATH, no links)."""

    def __init__(self, files: Path) -> None:
        self.files = files

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        filesfd = safefs.open_tree(str(self.files))
        try:
            data = safefs.read_file(
                filesfd, template.lstrip("/"), limit=MAX_TEMPLATE_BYTES, resolve=safefs.NO_LINKS
            )
        except (OSError, ValueError):
            raise jinja2.TemplateNotFound(template) from None
        finally:
            os.close(filesfd)
        try:
            return data.decode(), None, None
        except UnicodeDecodeError:
            raise jinja2.TemplateNotFound(template) from None


def render_tree(
    files: Path,
    rootfd: int,
    context: Mapping[str, Value],
    modes: Mapping[str, int] | None = None,
    links: Mapping[str, str] | None = None,
) -> list[str]:
    """Write every file under `files` into the rootfs; `*.j2` files are rendered first, and
    one that renders to nothing but whitespace is not written (a file for some parameter
    values only). `links` become symlinks, their targets rendered too.

    Returns the rootfs paths written.
    """
    _check_values(context)
    env = SandboxedEnvironment(
        loader=_ConfinedLoader(files),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        # Block tags take their own line with them: config files come out as written.
        trim_blocks=True,
        lstrip_blocks=True,
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
            if not data.strip():
                continue
        else:
            data = source.read_bytes()
        safefs.write_file(rootfd, rel, data, (modes or {}).get(rel, mode))
        written.append("/" + rel)
    for rel, target in (links or {}).items():
        rendered = render_string(target, context).strip()
        if rendered:
            safefs.symlink(rootfd, rel, rendered)
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
