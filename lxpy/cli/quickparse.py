"""The command line read without argparse, where that is certain to give what argparse gives.

argparse and what it pulls in (re, enum, gettext, locale) cost every command ~6 ms, and
building its parser more: a third of `lxpy ls`. Here the invoked command's builder
(arguments.py) runs against a recorder instead, and a plain command line is read from
that record: exact long and short options, `--opt=value`, one run of positionals. Anything
else — help, a usage error, an abbreviated or combined option, positionals split by
options, a value outside its choices — returns None, and argparse reads the command line
as before, with its messages. tests/test_quickparse.py holds the two to the same result.
"""

from __future__ import annotations

from lxpy import __version__
from lxpy.cli.arguments import NEGATABLE
from lxpy.cli.cmdline import command_index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from lxpy.cli.commands import Command

# The store actions read here; any other makes the command argparse's.
_TAKES_VALUE = {"store", "append"}
_FLAGS = {"store_true", NEGATABLE}


class Namespace:
    """What argparse.Namespace is to the handlers: attributes by dest."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in sorted(vars(self).items()))})"


class Argument:
    """One add_argument call as recorded. Not slotted: arguments.completes tags it."""

    def __init__(self, names: tuple[str, ...], options: dict[str, Any]) -> None:
        self.flags = tuple(n for n in names if n.startswith("-"))
        positional = not self.flags
        long = [n for n in self.flags if n.startswith("--")]
        # argparse makes an option's dest an identifier, and keeps a positional's name as is.
        self.dest: str = options.get(
            "dest",
            names[0] if positional else (long or self.flags)[0].lstrip("-").replace("-", "_"),
        )
        self.action: str = options.get("action", "store")
        self.nargs: str | None = options.get("nargs")
        self.type: Callable[[str], Any] | None = options.get("type")
        self.choices: Sequence[Any] | None = options.get("choices")
        self.required: bool = options.get("required", positional and self.nargs in (None, "+"))
        default = options.get("default")
        if default is None and self.action == "store_true":
            default = False
        elif default is None and positional and self.nargs == "*":
            default = []
        elif isinstance(default, str) and self.type is not None:
            default = self.type(default)  # as argparse does with a string default
        self.default = default

    def convert(self, text: str) -> Any:
        """The value of `text`; ValueError/TypeError where argparse would refuse it."""
        value = text if self.type is None else self.type(text)
        if self.choices is not None and value not in self.choices:
            raise ValueError(text)
        return value


class Recorder:
    """Stands in for argparse.ArgumentParser while a command's builder runs."""

    def __init__(self) -> None:
        self.arguments: list[Argument] = []
        self.usage: str | None = None  # --help's, which argparse shows
        self.plain = True  # False once a builder asks for something not read here

    def add_argument(self, *names: str, **options: Any) -> Argument:
        argument = Argument(names, options)
        if argument.action not in _TAKES_VALUE | _FLAGS or (
            argument.flags and argument.nargs is not None
        ):
            self.plain = False
        self.arguments.append(argument)
        return argument

    def add_argument_group(self, title: str | None = None) -> Recorder:
        return self  # a heading in --help only


def parse(argv: Sequence[str], command: Command) -> Namespace | None:
    """argparse's reading of `argv` (the part before any `--`), or None: let argparse read it."""
    at = command_index(list(argv))
    if at is None:
        return None
    values: dict[str, Any] = {"root": None, "debug": False, "api": None, "command": argv[at]}
    if not _top(argv[:at], values):
        return None
    recorder = Recorder()
    command.arguments(recorder)
    if not recorder.plain:
        return None
    return _read(argv[at + 1 :], recorder.arguments, values)


def version(argv: Sequence[str]) -> str | None:
    """What `lxpy --version` prints, when that is all the command line asks (with lxpy's
    own options around it)."""
    rest = [word for word in argv if word != "--version"]
    top: dict[str, Any] = {}
    if len(rest) == len(argv) or command_index(rest) is not None or not _top(rest, top):
        return None
    if top.get("api") is not None:  # a remote's handshake
        from lxpy.remote.protocol import hello

        return hello()
    return f"lxpy {__version__}"


def _top(before: Sequence[str], values: dict[str, Any]) -> bool:
    """lxpy's own options before the command word."""
    words = iter(before)
    for word in words:
        if word == "--debug":
            values["debug"] = True
        elif word == "--root":
            value = next(words, None)
            if value is None or value.startswith("-"):
                return False  # argparse refuses an option as --root's value
            values["root"] = value
        elif word.startswith("--root="):
            values["root"] = word.partition("=")[2]
        elif word == "--api":
            value = next(words, None)
            if value is None or value.startswith("-"):
                return False
            values["api"] = value
        else:
            return False
    return True


def _read(
    words: Sequence[str], arguments: list[Argument], values: dict[str, Any]
) -> Namespace | None:
    options = {flag: a for a in arguments for flag in a.flags}
    negated = {
        "--no-" + flag[2:]: a
        for a in arguments
        if a.action == NEGATABLE
        for flag in a.flags
        if flag.startswith("--")
    }
    for a in arguments:
        values[a.dest] = list(a.default) if isinstance(a.default, list) else a.default
    given: set[str] = set()
    run: list[str] = []
    run_ended = False
    index = 0
    try:
        while index < len(words):
            word = words[index]
            index += 1
            if not word.startswith("-") or word == "-":
                if run_ended:
                    return None  # positionals split by options: argparse's quirks apply
                run.append(word)
                continue
            if run:
                run_ended = True
            flag, eq, attached = word.partition("=") if word.startswith("--") else (word, "", "")
            if flag in negated and not eq:
                values[negated[flag].dest] = False
                given.add(negated[flag].dest)
                continue
            argument = options.get(flag)
            if argument is None:
                return None
            given.add(argument.dest)
            if argument.action in _FLAGS:
                if eq:
                    return None
                values[argument.dest] = True
                continue
            if eq:
                text = attached
            elif index < len(words) and not words[index].startswith("-"):
                text = words[index]
                index += 1
            else:
                return None
            value = argument.convert(text)
            if argument.action == "append":
                values[argument.dest] = [*(values[argument.dest] or ()), value]
            else:
                values[argument.dest] = value
        if not _positionals(run, [a for a in arguments if not a.flags], values):
            return None
    except (ValueError, TypeError):
        return None
    if any(a.required and a.flags and a.dest not in given for a in arguments):
        return None
    return Namespace(**values)


def _positionals(run: list[str], positionals: list[Argument], values: dict[str, Any]) -> bool:
    """Deal the run out left to right, each taking all it may while leaving the ones after it
    their least (argparse's greedy match). False where it cannot be dealt."""
    least = [0 if p.nargs in ("?", "*") else 1 for p in positionals]
    at = 0
    for i, p in enumerate(positionals):
        room = len(run) - at - sum(least[i + 1 :])
        if p.nargs is None:
            take = 1
        elif p.nargs == "?":
            take = min(1, room)
        elif p.nargs in ("*", "+"):
            take = room
        else:
            return False
        if take < least[i] or take > room:
            return False
        taken = [p.convert(w) for w in run[at : at + take]]
        at += take
        if p.nargs is None:
            values[p.dest] = taken[0]
        elif p.nargs == "?":
            values[p.dest] = taken[0] if taken else p.default
        else:
            values[p.dest] = taken or p.default
    return at == len(run)
