"""Template discovery and the template.toml manifest (no jinja2 here: `lxpy ls` may import it)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lxpy.config import HALT_SIGNALS, parse_signal
from lxpy.errors import NotFound, TemplateError

BOOTSTRAP_METHODS = ("busybox",)


def search_path() -> list[Path]:
    """Later entries override earlier ones: shipped, then /etc, then the user's own."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "_templates"
    if not shipped.is_dir():  # an editable install or a source checkout
        shipped = package.parent / "templates"
    dirs = [shipped, Path("/etc/lxpy/templates")]
    home = os.environ.get("HOME")
    if home:
        dirs.append(Path(home) / ".config/lxpy/templates")
    return dirs


@dataclass(frozen=True)
class Template:
    name: str
    directory: Path
    description: str
    bootstrap: str
    init_kind: str
    init_command: tuple[str, ...]
    halt_signal: str
    file_modes: dict[str, int]

    @property
    def files(self) -> Path:
        return self.directory / "files"


def available() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in search_path():
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if (entry / "template.toml").is_file():
                found[entry.name] = entry
    return found


def find(name: str) -> Template:
    directory = available().get(name)
    if directory is None:
        known = ", ".join(sorted(available())) or "none"
        raise NotFound(f"unknown template {name!r}", hint=f"available templates: {known}")
    return load(name, directory)


def load(name: str, directory: Path) -> Template:
    path = directory / "template.toml"
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TemplateError(f"{path}: {e}") from None
    meta = doc.get("template", {})
    boot = doc.get("bootstrap", {})
    init = doc.get("init", {})
    method = boot.get("method")
    if method not in BOOTSTRAP_METHODS:
        raise TemplateError(
            f"{path}: bootstrap.method must be one of {', '.join(BOOTSTRAP_METHODS)}"
        )
    kind = init.get("kind", "busybox")
    if kind not in HALT_SIGNALS:
        raise TemplateError(f"{path}: init.kind must be one of {', '.join(HALT_SIGNALS)}")
    command = init.get("command", ["/sbin/init"])
    halt = init.get("halt_signal", HALT_SIGNALS[kind])
    try:
        parse_signal(halt)
    except ValueError as e:
        raise TemplateError(f"{path}: init.halt_signal: {e}") from None
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise TemplateError(f"{path}: init.command must be a list of strings")
    return Template(
        name=name,
        directory=directory,
        description=str(meta.get("description", "")),
        bootstrap=method,
        init_kind=kind,
        init_command=tuple(command),
        halt_signal=halt,
        file_modes=_file_modes(path, doc.get("files", {}).get("modes", {})),
    )


def _file_modes(path: Path, modes: object) -> dict[str, int]:
    if not isinstance(modes, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and 0 <= v <= 0o7777 for k, v in modes.items()
    ):
        raise TemplateError(f"{path}: files.modes must map paths to octal modes like 0o600")
    return {k.strip("/"): v for k, v in modes.items()}
