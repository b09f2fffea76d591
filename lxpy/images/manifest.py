"""Template discovery and the template.toml manifest (no jinja2 here: `lxpy ls` may import it).

A manifest declares typed parameters, how the rootfs is bootstrapped and which init runs it.
String values in [bootstrap] and [init] may use the parameters ("{{ release }}"); the
create step renders them in the same sandbox as the template's files.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxpy.config import HALT_SIGNALS, REBOOT_SIGNALS, parse_signal
from lxpy.errors import NotFound, TemplateError, UsageError

BOOTSTRAP_METHODS = ("busybox", "mmdebstrap", "debootstrap")
PARAMETER_TYPES = ("string", "choice", "list", "bool")
# What create puts in every template's context itself.
RESERVED_NAMES = ("name", "hostname", "machine_id", "nics", "nameserver", "domain")

Value = str | bool | list[str]


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
class Parameter:
    name: str
    type: str
    default: Value
    description: str = ""
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # every string value (each item of a list) must match it whole

    def parse(self, text: str) -> Value:
        """A value given as text on the command line (`--set name=text`)."""
        if self.type == "bool":
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise UsageError(f"parameter {self.name}: expected true or false, got {text!r}")
        if self.type == "list":
            return self.check([item.strip() for item in text.split(",") if item.strip()])
        return self.check(text)

    def check(self, value: object) -> Value:
        """`value` if it is valid for this parameter; a UsageError naming it otherwise."""
        where = f"parameter {self.name}"
        if self.type == "bool":
            if not isinstance(value, bool):
                raise UsageError(f"{where}: expected true or false")
            return value
        items: list[object]
        if self.type == "list":
            if not isinstance(value, list):
                raise UsageError(f"{where}: expected a list")
            items = list(value)
        else:
            items = [value]
        for item in items:
            if not isinstance(item, str):
                raise UsageError(f"{where}: expected text, got {type(item).__name__}")
            if any(c in item for c in "\n\r\0"):
                raise UsageError(f"{where}: a value may not contain a newline or NUL")
            if self.choices and item not in self.choices:
                raise UsageError(
                    f"{where}: {item!r} is not one of {', '.join(self.choices)}",
                    hint=f"see `lxpy templates show` for {self.name}'s values",
                )
            if self.pattern and not re.fullmatch(self.pattern, item):
                raise UsageError(f"{where}: {item!r} is not valid (must match {self.pattern})")
        return value  # type: ignore[return-value]

    def show(self, value: Value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(value)
        return value


@dataclass(frozen=True)
class InitKind:
    """What one kind of init needs: its command, its signals, the packages that provide it."""

    kind: str
    command: tuple[str, ...]
    halt_signal: str
    reboot_signal: str
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bootstrap:
    """[bootstrap], its strings not yet rendered with the parameters."""

    method: str
    suite: str = ""
    mirror: str = ""
    variant: str = ""
    arch: str = ""
    keyring: str = ""
    script: str = ""  # debootstrap's optional SCRIPT argument (a release it has no script for)
    components: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    name: str
    directory: Path
    description: str
    parameters: Mapping[str, Parameter]
    bootstrap: Bootstrap
    init_kind: str  # may be "{{ init }}": rendered at create
    inits: Mapping[str, InitKind]
    file_modes: Mapping[str, int] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)  # path -> target (may use params)

    # Rendered in order, later ones overriding: an extended template's files, then its own.
    file_trees: tuple[Path, ...] = ()

    @property
    def files(self) -> Path:
        return self.directory / "files"

    def values(self, given: Mapping[str, Value]) -> dict[str, Value]:
        """Every parameter's value: the defaults, overridden by `given` (checked)."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise UsageError(
                f"template {self.name} has no parameter {unknown[0]!r}",
                hint=f"its parameters: {', '.join(self.parameters) or 'none'}",
            )
        values: dict[str, Value] = {}
        for name, param in self.parameters.items():
            values[name] = param.check(given[name]) if name in given else param.default
        return values


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


class _Doc:
    """Typed access to one manifest table; errors name the file and the key."""

    def __init__(self, path: Path, table: str, doc: object, known: set[str]) -> None:
        self.path = path
        self.table = table
        if not isinstance(doc, dict):
            raise self.fail(table, "expected a table")
        for key in doc:
            if key not in known:
                raise self.fail(key, "unknown key")
        self.doc: dict[str, Any] = doc

    def fail(self, key: str, problem: str) -> TemplateError:
        dotted = f"{self.table}.{key}" if self.table and key != self.table else key
        return TemplateError(f"{self.path}: {dotted}: {problem}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.doc.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "missing" if value is None else "expected a string")
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.doc.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def table_of(self, key: str, known: set[str]) -> _Doc:
        return _Doc(
            self.path, f"{self.table}.{key}" if self.table else key, self.doc.get(key, {}), known
        )


MAX_EXTENDS = 4


def _raw(name: str, directory: Path, depth: int = 0) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """The manifest with what it extends merged under it, and its files directories."""
    path = directory / "template.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TemplateError(f"{path}: {e}") from None
    file_trees = (directory / "files",)
    base = raw.get("template", {}).get("extends") if isinstance(raw.get("template"), dict) else None
    if base is None:
        return raw, file_trees
    if not isinstance(base, str) or depth >= MAX_EXTENDS or base == name:
        raise TemplateError(f"{path}: template.extends: not a template name, or a loop")
    parent_dir = available().get(base)
    if parent_dir is None:
        raise TemplateError(f"{path}: template.extends: unknown template {base!r}")
    parent, parent_trees = _raw(base, parent_dir, depth + 1)
    parent.get("template", {}).pop("description", None)
    return _merge(parent, raw), parent_trees + file_trees


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load(name: str, directory: Path) -> Template:
    path = directory / "template.toml"
    raw, file_trees = _raw(name, directory)
    doc = _Doc(path, "", raw, {"template", "parameters", "bootstrap", "init", "files"})
    meta = doc.table_of("template", {"description", "extends"})
    parameters = _parameters(doc.table_of("parameters", set(doc.doc.get("parameters", {}))))
    boot = doc.table_of(
        "bootstrap",
        {
            "method",
            "suite",
            "mirror",
            "variant",
            "arch",
            "keyring",
            "script",
            "components",
            "packages",
        },
    )
    method = boot.text("method")
    if method not in BOOTSTRAP_METHODS:
        raise boot.fail("method", f"must be one of {', '.join(BOOTSTRAP_METHODS)}")
    bootstrap = Bootstrap(
        method=method,
        suite=boot.text("suite", ""),
        mirror=boot.text("mirror", ""),
        variant=boot.text("variant", ""),
        arch=boot.text("arch", ""),
        keyring=boot.text("keyring", ""),
        script=boot.text("script", ""),
        components=boot.strings("components"),
        packages=boot.strings("packages"),
    )
    if method != "busybox" and not (bootstrap.suite and bootstrap.mirror and bootstrap.keyring):
        raise boot.fail("method", f"{method} needs suite, mirror and keyring")
    init = doc.table_of("init", {"kind", *HALT_SIGNALS})
    inits = {
        kind: _init_kind(
            init.table_of(kind, {"command", "halt_signal", "reboot_signal", "packages"}), kind
        )
        for kind in HALT_SIGNALS
        if kind in init.doc
    }
    init_kind = init.text("kind", "busybox")
    if "{" not in init_kind and init_kind not in inits:
        inits[init_kind] = _init_kind(init.table_of(init_kind, set()), init_kind)
    files = doc.table_of("files", {"modes", "links"})
    return Template(
        name=name,
        directory=directory,
        file_trees=file_trees,
        description=meta.text("description", ""),
        parameters=parameters,
        bootstrap=bootstrap,
        init_kind=init_kind,
        inits=inits,
        file_modes=_file_modes(files),
        links=_links(files),
    )


def _init_kind(doc: _Doc, kind: str) -> InitKind:
    if kind not in HALT_SIGNALS:
        raise doc.fail("kind", f"must be one of {', '.join(HALT_SIGNALS)}")
    command = doc.strings("command", ("/sbin/init",))
    if not command or not command[0].startswith("/"):
        raise doc.fail("command", "must start with an absolute path")
    signals = {}
    for key, defaults in (("halt_signal", HALT_SIGNALS), ("reboot_signal", REBOOT_SIGNALS)):
        signals[key] = doc.text(key, defaults[kind])
        try:
            parse_signal(signals[key])
        except ValueError as e:
            raise doc.fail(key, str(e)) from None
    return InitKind(
        kind=kind,
        command=command,
        halt_signal=signals["halt_signal"],
        reboot_signal=signals["reboot_signal"],
        packages=doc.strings("packages"),
    )


def _parameters(doc: _Doc) -> dict[str, Parameter]:
    found: dict[str, Parameter] = {}
    for name in doc.doc:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise doc.fail(name, "a parameter name is lowercase letters, digits and _")
        if name in RESERVED_NAMES:
            raise doc.fail(name, f"reserved: create sets {name} itself")
        p = doc.table_of(name, {"type", "default", "description", "choices", "pattern"})
        kind = p.text("type", "string")
        if kind not in PARAMETER_TYPES:
            raise p.fail("type", f"must be one of {', '.join(PARAMETER_TYPES)}")
        pattern = p.doc.get("pattern")
        if pattern is not None:
            try:
                re.compile(p.text("pattern"))
            except re.error as e:
                raise p.fail("pattern", f"not a regular expression: {e}") from None
        choices = p.strings("choices")
        if kind == "choice" and not choices:
            raise p.fail("choices", "a choice parameter needs its choices")
        param = Parameter(
            name=name,
            type=kind,
            default=False if kind == "bool" else [] if kind == "list" else "",
            description=p.text("description", ""),
            choices=choices,
            pattern=pattern,
        )
        if "default" in p.doc:
            try:
                default = param.check(p.doc["default"])
            except UsageError as e:
                raise p.fail("default", e.message) from None
            param = Parameter(**{**param.__dict__, "default": default})
        elif kind == "choice":
            param = Parameter(**{**param.__dict__, "default": choices[0]})
        found[name] = param
    return found


def _file_modes(doc: _Doc) -> dict[str, int]:
    modes = doc.doc.get("modes", {})
    if not isinstance(modes, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and 0 <= v <= 0o7777 for k, v in modes.items()
    ):
        raise doc.fail("modes", "must map paths to octal modes like 0o600")
    return {k.strip("/"): v for k, v in modes.items()}


def _links(doc: _Doc) -> dict[str, str]:
    links = doc.doc.get("links", {})
    if not isinstance(links, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in links.items()
    ):
        raise doc.fail("links", "must map paths to symlink targets")
    return {k.strip("/"): v for k, v in links.items()}
