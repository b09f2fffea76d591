"""The command line: parse, call the core API, print. Errors become one line and an exit code.

Start-up stays lean: nothing here imports textual, jinja2, pyroute2 or psutil (`lxpy ls`
and `lxpy --version` are timed), and only the invoked command's parser and module are built
and loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lxpy import __version__
from lxpy.cli import arguments, commands
from lxpy.cli.cmdline import command_word
from lxpy.errors import LxpyError, PermissionDenied

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from lxpy.api import Api, Launcher
    from lxpy.cli.commands import Command

    # The TUI, run over an Api with the --root it was given; returns the exit status.
    Tui = Callable[[Api], int]

EXIT_INTERNAL = 70


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written. argparse builds a formatter for every
    add_argument; the stock one imports shutil (and with it bz2 and lzma) for the terminal
    width, which os gives directly."""

    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            width = 80
        super().__init__(prog, width=max(40, width - 2))


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line too, like every other failure."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"lxpy: {message} (hint: `{self.prog} --help`)\n")


def _examples(command: Command) -> str:
    return "examples:\n" + "\n".join(f"  # {what}\n  {line}" for line, what in command.examples)


def parser(only: Command | None = None, every: bool = False) -> argparse.ArgumentParser:
    """The parser; with `only`, that command's arguments are the only ones built (building
    every command's costs each command a few milliseconds, and `lxpy --help` lists the
    commands without their arguments); with `every`, every command's are (the man pages and
    the completion scripts are made from it)."""
    p = _Parser(prog="lxpy", description="Persistent OS containers whose own init runs as PID 1.")
    p.add_argument("--version", action="version", version=f"lxpy {__version__}")
    root = p.add_argument(
        "--root", metavar="DIR", help="keep all state under DIR (also: LXPY_ROOT)"
    )
    arguments.completes(root, arguments.DIRS)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in commands.COMMANDS:
        # A subparser added without help is not listed (argparse, and shtab after it).
        listed: dict[str, Any] = {} if command.hidden else {"help": command.summary}
        if every or command is only:
            command.arguments(
                sub.add_parser(
                    command.name,
                    aliases=command.aliases,
                    description=command.description,
                    epilog=_examples(command),
                    **listed,
                )
            )
        elif only is None:
            sub.add_parser(command.name, aliases=command.aliases, **listed)
    return p


def command_parser(command: Command) -> argparse.ArgumentParser:
    """`lxpy COMMAND`'s own parser, the one its --help shows."""
    [sub] = [a for a in parser(command)._actions if isinstance(a, argparse._SubParsersAction)]
    found: argparse.ArgumentParser = sub.choices[command.name]
    return found


def _unknown(word: str) -> int:
    close = commands.suggestions(word)
    guess = f": did you mean {' or '.join(close)}?" if close else ""
    print(f"lxpy: no command {word!r}{guess} (hint: `lxpy --help` lists them)", file=sys.stderr)
    return 2


def main(argv: Sequence[str], launcher: Launcher | None = None, tui: Tui | None = None) -> int:
    argv = list(argv)
    # Everything after `--` is the command to run inside, options included.
    trailing: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, trailing = argv[:cut], argv[cut + 1 :]
    word = command_word(argv)
    command = None if word is None else commands.find(word)
    if word is not None and command is None:
        return _unknown(word)
    p = parser(command)
    args = p.parse_args(argv)
    if trailing:
        # A command that runs one inside declares CMD (attach, shell, ssh): `--` is for it.
        if not hasattr(args, "cmd"):
            which = f"`lxpy {command.name}`" if command else "lxpy without a command"
            p.error(f"{which} runs no command: `--` is not for it")
        args.cmd = list(args.cmd) + trailing
    if command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            p.print_help()
            return 0
        command = commands.find("tui")
        assert command is not None
    args.tui = tui
    try:
        if os.geteuid() != 0 and not command.hidden:
            raise PermissionDenied("lxpy needs root", hint="run it as root or with sudo")
        import importlib

        from lxpy.api import Api

        module, _, function = command.handler.rpartition(".")
        handler = getattr(importlib.import_module(f"lxpy.cli.{module}"), function)
        return int(handler(Api.for_root(args.root, launcher), args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `lxpy ls | head`: the reader has all it wanted
    except Exception as e:
        if args.debug:
            raise
        from lxpy.cli.output import error  # --version and --help need none of it

        error(e)
        if isinstance(e, LxpyError):
            return e.exit_code
        return 1 if isinstance(e, OSError) else EXIT_INTERNAL
