"""Template discovery and the template.toml manifest (no jinja2 here: `lxpy ls` may import it).

A manifest declares typed parameters, how the rootfs is bootstrapped and which init runs it.
String values in [bootstrap] and [init] may use the parameters ("{{ release }}"); the
create step renders them in the same sandbox as the template's files.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxpy.config.kinds import InitKind
from lxpy.config.schema import check_secret_path
from lxpy.config.signals import HALT_SIGNALS, REBOOT_SIGNALS, check_signal
from lxpy.config.tomlfile import Table, TomlFile, one_of, parse, read_text
from lxpy.errors import NotFound, TemplateError, UsageError
from lxpy.images.plan import PACKAGE_NAME

BOOTSTRAP_METHODS = ("busybox", "mmdebstrap", "debootstrap")
BOOTSTRAP_KEYS = (
    "method",
    "suite",
    "mirror",
    "variant",
    "arch",
    "keyring",
    "script",
    "components",
    "packages",
)
PACKAGE_SET_NAME = r"[a-z][a-z0-9-]*"
PARAMETER_TYPES = ("string", "choice", "list", "bool")
# What create puts in every template's context itself.
RESERVED_NAMES = (
    "name",
    "hostname",
    "machine_id",
    "nics",
    "nameserver",
    "domain",
    "secret_commands",
    "provision",
)

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
class InitRecipe:
    """What one kind of init needs: its command, its signals, the packages that provide it."""

    kind: InitKind
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
class Secret:
    """[secrets.NAME]: per-machine files that no two containers may share, and the command
    that makes new ones at a container's first boot (none: the guest makes them itself)."""

    name: str
    paths: tuple[str, ...]  # inside the rootfs, without the leading /; globs allowed
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    name: str
    directory: Path
    description: str
    parameters: Mapping[str, Parameter]
    bootstrap: Bootstrap
    init_kind: str  # may be "{{ init }}": rendered at create
    inits: Mapping[str, InitRecipe]
    file_modes: Mapping[str, int] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)  # path -> target (may use params)
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    # [package_sets]: names that `--packages @NAME` expands to their packages.
    package_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    # Rendered in order, later ones overriding: an extended template's files, then its own.
    file_trees: tuple[Path, ...] = ()

    @property
    def files(self) -> Path:
        return self.directory / "files"

    @property
    def secret_paths(self) -> tuple[str, ...]:
        return tuple(p for secret in self.secrets.values() for p in secret.paths)

    @property
    def secret_commands(self) -> list[str]:
        """Each command as one shell-quoted line, for the first-boot script."""
        return [shlex.join(s.command) for s in self.secrets.values() if s.command]

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


MAX_EXTENDS = 4


def _raw(name: str, directory: Path, depth: int = 0) -> tuple[dict[str, Any], TomlFile]:
    """The manifest with what it extends merged under it, and its file: errors about what
    came from the base name the base's file."""
    path = str(directory / "template.toml")
    try:
        text = read_text(path, TemplateError)
    except FileNotFoundError:
        raise TemplateError(f"{path}: missing") from None
    raw = parse(path, text, TemplateError, None)
    meta = TomlFile(path, text, error=TemplateError, hint=None).top(raw).table("template")
    base = meta.get("extends", str, None)
    if base is None:
        return raw, meta.file
    if depth >= MAX_EXTENDS or base == name:
        raise meta.fail("extends", "not a template name, or a loop")
    parent_dir = available().get(base)
    if parent_dir is None:
        raise meta.fail("extends", f"unknown template {base!r}")
    parent, parent_file = _raw(base, parent_dir, depth + 1)
    parent.get("template", {}).pop("description", None)
    merged = TomlFile(path, text, error=TemplateError, hint=None, under=parent_file)
    return _merge(parent, raw), merged


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load(name: str, directory: Path) -> Template:
    raw, file = _raw(name, directory)
    top = file.top(
        raw,
        ("template", "parameters", "bootstrap", "init", "files", "secrets", "package_sets"),
    )
    boot = top.table("bootstrap", BOOTSTRAP_KEYS)
    method = boot.get("method", str, check=one_of(BOOTSTRAP_METHODS))
    bootstrap = Bootstrap(
        method=method,
        suite=boot.get("suite", str, ""),
        mirror=boot.get("mirror", str, ""),
        variant=boot.get("variant", str, ""),
        arch=boot.get("arch", str, ""),
        keyring=boot.get("keyring", str, ""),
        script=boot.get("script", str, ""),
        components=boot.strings("components"),
        packages=boot.strings("packages"),
    )
    if method != "busybox" and not (bootstrap.suite and bootstrap.mirror and bootstrap.keyring):
        raise boot.fail("method", f"{method} needs suite, mirror and keyring")
    init = top.table("init", ("kind", *InitKind))
    # A fixed kind may leave its table out; a rendered one ("{{ init }}") needs them.
    init_kind = init.get("kind", str, InitKind.BUSYBOX.value, _check_init_kind)
    files = top.table("files", ("modes", "links"))
    modes, links = files.table("modes"), files.table("links")
    return Template(
        name=name,
        directory=directory,
        file_trees=_file_trees(file),
        description=top.table("template", ("description", "extends")).get("description", str, ""),
        parameters=_parameters(top.table("parameters")),
        bootstrap=bootstrap,
        init_kind=init_kind,
        inits={
            kind.value: _init_recipe(init, kind)
            for kind in InitKind
            if kind in init or kind == init_kind
        },
        file_modes={p.strip("/"): modes.get(p, int, check=_check_mode) for p in modes.doc},
        links={p.strip("/"): links.get(p, str, check=_check_target) for p in links.doc},
        secrets=_secrets(top.table("secrets")),
        package_sets=_package_sets(top.table("package_sets")),
    )


def _check_init_kind(value: str) -> str | None:
    return None if "{" in value else one_of(InitKind)(value)


def _check_mode(value: int) -> str | None:
    return None if 0 <= value <= 0o7777 else "expected an octal mode like 0o600"


def _check_target(value: str) -> str | None:
    return None if value else "expected a symlink target"


def _file_trees(file: TomlFile) -> tuple[Path, ...]:
    """The files directories to render, in order: the bases' first, then the template's."""
    trees: list[Path] = []
    while True:
        trees.insert(0, Path(file.path).parent / "files")
        if file.under is None:
            return tuple(trees)
        file = file.under


def _init_recipe(init: Table, kind: InitKind) -> InitRecipe:
    recipe = init.table(kind.value, ("command", "halt_signal", "reboot_signal", "packages"))
    command = recipe.strings("command", ("/sbin/init",))
    if not command or not command[0].startswith("/"):
        raise recipe.fail("command", "must start with an absolute path")
    return InitRecipe(
        kind=kind,
        command=command,
        halt_signal=recipe.get("halt_signal", str, HALT_SIGNALS[kind], check_signal),
        reboot_signal=recipe.get("reboot_signal", str, REBOOT_SIGNALS[kind], check_signal),
        packages=recipe.strings("packages"),
    )


def _secrets(doc: Table) -> dict[str, Secret]:
    found: dict[str, Secret] = {}
    for name in doc.doc:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise doc.fail(name, "a secret's name is lowercase letters, digits and _")
        entry = doc.table(name, ("paths", "command"))
        paths = entry.strings("paths", check=_check_secret_paths)
        if not paths:
            raise entry.fail("paths", "a secret needs at least one path")
        found[name] = Secret(
            name=name,
            paths=tuple(p.strip("/") for p in paths),
            command=entry.strings("command", check=_check_secret_command),
        )
    return found


def _package_sets(doc: Table) -> dict[str, tuple[str, ...]]:
    found = {}
    for name in doc.doc:
        if not re.fullmatch(PACKAGE_SET_NAME, name):
            raise doc.fail(name, "a package set's name is lowercase letters, digits and -")
        found[name] = tuple(doc.strings(name, check=_check_package_names))
    return found


def _check_package_names(value: list[str]) -> str | None:
    return next(
        (f"{p!r} is not a Debian package name" for p in value if not re.fullmatch(PACKAGE_NAME, p)),
        None,
    )


def _check_secret_paths(value: list[str]) -> str | None:
    return next((f"{p!r}: {e}" for p in value if (e := check_secret_path(p))), None)


def _check_secret_command(value: list[str]) -> str | None:
    # The first-boot script runs it only where its program exists: a name found on PATH
    # or an absolute path.
    if value and not re.fullmatch(r"/?[A-Za-z0-9_./+-]+", value[0]):
        return "the first item must be a program name or an absolute path"
    if any(c in item for item in value for c in "\n\r\0"):
        return "no newline or NUL in a command"
    return None


def _parameters(doc: Table) -> dict[str, Parameter]:
    found: dict[str, Parameter] = {}
    for name in doc.doc:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise doc.fail(name, "a parameter name is lowercase letters, digits and _")
        if name in RESERVED_NAMES:
            raise doc.fail(name, f"reserved: create sets {name} itself")
        p = doc.table(name, ("type", "default", "description", "choices", "pattern"))
        kind = p.get("type", str, "string", one_of(PARAMETER_TYPES))
        choices = p.strings("choices")
        if kind == "choice" and not choices:
            raise p.fail("choices", "a choice parameter needs its choices")
        param = Parameter(
            name=name,
            type=kind,
            default=False if kind == "bool" else [] if kind == "list" else "",
            description=p.get("description", str, ""),
            choices=choices,
            pattern=p.get("pattern", str, None, _check_pattern),
        )
        if "default" in p:
            try:
                default = param.check(p.doc["default"])
            except UsageError as e:
                raise p.fail("default", e.message) from None
            param = Parameter(**{**param.__dict__, "default": default})
        elif kind == "choice":
            param = Parameter(**{**param.__dict__, "default": choices[0]})
        found[name] = param
    return found


def _check_pattern(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as e:
        return f"not a regular expression: {e}"
    return None
