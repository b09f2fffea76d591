"""Every TOML file lxpy reads (config.toml, template.toml, a network's NAME.toml, tui.toml,
image.toml) is read through here, so a bad one is always reported the same way: the file,
the line and the dotted key, then the problem (a malformed file, an unknown key, a wrong
type, a bad value).

    top = TomlFile.read(path, {"name", "limits"})     # or TomlFile(path, text).top(doc, ...)
    name = top.get("name", str, check=check_name)       # typed, checked, required
    limits = top.table("limits", {"memory"})            # a sub-table, its keys checked
    memory = limits.get("memory", str, None)            # optional

A value that came from the command line rather than the file (`lxpy config set`) is named as
given, not given a line of the file it never was in.
"""

from __future__ import annotations

import os
import re

from lxpy.errors import ConfigError, UsageError

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    from lxpy.errors import LxpyError

    Kind = type | tuple[type, ...]
    Check = Callable[[Any], str | None]

MAX_BYTES = 256 * 1024
# [table], [[array.of.tables]], with an optional comment after. Not compiled at import: only
# an error looks for a line.
_HEADER = r"\[(\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?"


def record_names(directory: str, valid: Callable[[str], bool]) -> list[str]:
    """The NAMEs of the NAME.toml records in `directory` (none if it is missing) that are
    `valid` names: a half-written or foreign file is no record."""
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(e[:-5] for e in entries if e.endswith(".toml") and valid(e[:-5]))


def read_text(path: str, error: type[LxpyError] = ConfigError, limit: int = MAX_BYTES) -> str:
    """The file's UTF-8 text, at most `limit` bytes; a symlink is not followed. A missing
    file raises FileNotFoundError (what that means is the caller's to say)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_size > limit:
                raise error(f"{path}: larger than {limit} bytes")
            raw = os.read(fd, limit + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise error(f"{path}: {e.strerror}") from None
    try:
        return raw.decode()
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None


def parse(
    path: str, text: str, error: type[LxpyError] = ConfigError, hint: str | None = "fix the file"
) -> dict[str, Any]:
    """`text` as a TOML document; malformed TOML is an `error` naming `path` and the line."""
    # Imported here: tomllib costs ~15 ms of start-up, and most config loads hit the cache.
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        where = f"{path}:{m.group(1)}" if m else path
        if "(at end of document)" in str(e):
            where = f"{path}:{len(text.splitlines()) or 1}"
        raise error(f"{where}: malformed TOML: {e}", hint=hint) from None


class TomlFile:
    """One file's text, and the errors about the document parsed from it.

    `text` may be a function that reads it: only an error needs the text (for its line), so
    a config loaded from the parsed cache never reads its file. `under`: the file this one
    extends (a template's base), blamed for the keys this one does not have. `given`: dotted
    keys whose values came from the command line, as the user gave them (None: unset)."""

    __slots__ = ("_text", "error", "given", "hint", "path", "under")

    def __init__(
        self,
        path: str,
        text: str | Callable[[], str] = "",
        *,
        error: type[LxpyError] = ConfigError,
        hint: str | None = "fix the file",
        under: TomlFile | None = None,
        given: Mapping[str, str | None] | None = None,
    ) -> None:
        self.path = path
        self._text = text
        self.error = error
        self.hint = hint
        self.under = under
        self.given = given or {}

    @classmethod
    def read(
        cls,
        path: str,
        known: Iterable[str] | None = None,
        error: type[LxpyError] = ConfigError,
        hint: str | None = "fix the file",
    ) -> Table:
        """The top level of the TOML file at `path`, its keys checked against `known` (None:
        any key). A missing file raises FileNotFoundError."""
        text = read_text(path, error)
        return cls(path, text, error=error, hint=hint).top(parse(path, text, error, hint), known)

    @property
    def text(self) -> str:
        if callable(self._text):
            try:
                self._text = self._text()
            except (OSError, ConfigError):
                self._text = ""  # gone or unreadable since: the error names no line
        return self._text

    def top(self, doc: Mapping[str, Any], known: Iterable[str] | None = None) -> Table:
        """The document's top level, its keys checked against `known` (None: any key)."""
        return Table(self, "", None, doc, known)

    def _find(self, table: str, key: str, index: int | None) -> tuple[int | None, int | None]:
        """(the line of `key` in `table`, the line of the table's header), None where the text
        has none; `index`: the entry of an array of tables ([[table]])."""
        section, entry, header = "", None, None
        counts: dict[str, int] = {}
        for number, line in enumerate(self.text.splitlines(), 1):
            stripped = line.strip()
            m = re.fullmatch(_HEADER, stripped)
            if m:
                section = re.sub(r"\s*\.\s*", ".", m.group(2)).replace('"', "")
                entry = None
                if m.group(1):
                    entry = counts[section] = counts.get(section, -1) + 1
                if section == table and entry == index and header is None:
                    header = number
                elif index is None and section == _dotted(table, key):
                    return number, header  # the key is a table of its own: [table.key]
            elif section == table and entry == index and _is_key(stripped, key):
                return number, header
        return None, header

    def where(self, table: str, key: str, index: int | None = None) -> str:
        """Where the key is, as "path:line": in this file, else in the one it extends; else
        where its table's header is; else the path alone."""
        chain = [self]
        while chain[-1].under is not None:
            chain.append(chain[-1].under)
        # A key of an inline table (`limits = { memory = "lots" }`) has no line of its own:
        # the line of the key holding the table is where it is.
        while True:
            found = [(file, *file._find(table, key, index)) for file in chain]
            for file, line, _ in found:
                if line is not None:
                    return f"{file.path}:{line}"
            for file, _, header in found:
                if header is not None:
                    return f"{file.path}:{header}"
            if not table:
                return self.path
            table, _, key = table.rpartition(".")

    def fail(self, table: str, key: str, problem: str, index: int | None = None) -> LxpyError:
        dotted = _dotted(table, key)
        for given, shown in self.given.items():
            if dotted == given or dotted.startswith(given + "."):
                said = f"{given}={shown} (from" if shown is not None else f"{given} (unset on"
                inner = "" if dotted == given else f" {dotted}:"
                return UsageError(f"{said} the command line):{inner} {problem}")
        return self.error(f"{self.where(table, key, index)}: {dotted}: {problem}", hint=self.hint)


def _dotted(table: str, key: str) -> str:
    return f"{table}.{key}" if table else key


def _is_key(line: str, key: str) -> bool:
    return re.match(rf'"?{re.escape(key)}"?\s*=', line) is not None


class Table:
    """One table of a document: typed reads whose errors name the file, the line and the key."""

    __slots__ = ("doc", "file", "index", "name")

    def __init__(
        self,
        file: TomlFile,
        name: str,
        index: int | None,
        doc: Mapping[str, Any],
        known: Iterable[str] | None = None,
        unknown: str = "unknown key",
    ) -> None:
        self.file = file
        self.name = name  # dotted; "" for the top level
        self.index = index  # which entry of an array of tables ([[name]]), else None
        self.doc = doc
        if known is not None:
            allowed = set(known)
            for key in doc:
                if key not in allowed:
                    raise self.fail(key, unknown)

    def __contains__(self, key: str) -> bool:
        return key in self.doc

    def fail(self, key: str, problem: str) -> LxpyError:
        return self.file.fail(self.name, key, problem, self.index)

    def get(self, key: str, kind: Kind, default: Any = ..., check: Check | None = None) -> Any:
        """The value of `key`: of type `kind` (a bool is no int), passing `check` (which says
        what is wrong, or None); `default` when it is absent (none: it is required)."""
        if key not in self.doc:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.doc[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            want = "/".join(k.__name__ for k in kinds)
            raise self.fail(key, f"expected {want}, got {type(value).__name__}")
        if any("\n" in text or "\0" in text for text in _texts(value)):
            raise self.fail(key, "newline or NUL in a value")
        problem = check(value) if check else None
        if problem:
            raise self.fail(key, problem)
        return value

    def strings(
        self, key: str, default: tuple[str, ...] = (), check: Check | None = None
    ) -> tuple[str, ...]:
        """A list of strings (passing `check`, if given), as a tuple."""

        def strings_passing(value: list[Any]) -> str | None:
            if not all(isinstance(v, str) for v in value):
                return "expected a list of strings"
            return check(value) if check else None

        return tuple(self.get(key, list, list(default), strings_passing))

    def table(
        self, key: str, known: Iterable[str] | None = None, unknown: str = "unknown key"
    ) -> Table:
        """The sub-table `key` (empty when absent), its keys checked against `known` (None:
        any key); an unknown one is reported as `unknown`."""
        doc = self.doc.get(key, {})
        if not isinstance(doc, dict):
            raise self.fail(key, "expected a table")
        return Table(self.file, _dotted(self.name, key), self.index, doc, known, unknown)

    def tables(self, key: str, known: Iterable[str] | None = None) -> list[Table]:
        """The entries of the array of tables `key` ([[key]]), each checked against `known`."""
        name = _dotted(self.name, key)
        found = []
        for index, entry in enumerate(self.get(key, list, [])):
            if not isinstance(entry, dict):
                raise self.fail(key, f"expected [[{name}]] tables")
            found.append(Table(self.file, name, index, entry, known))
        return found


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def parsable(parse: Callable[[Any], object]) -> Check:
    """A check: `parse` takes the value (its ValueError says what is wrong)."""

    def check(value: Any) -> str | None:
        try:
            parse(value)
        except ValueError as e:
            return str(e)
        return None

    return check


def one_of(allowed: Iterable[str]) -> Check:
    """A check: the value is one of `allowed`."""
    names = tuple(allowed)
    return lambda value: None if value in names else f"one of {', '.join(names)}"
