"""argparse's reading of the command line: `--help`, usage errors, and whatever
quickparse leaves to it; also the source of the man pages and the completion scripts."""

from __future__ import annotations

import argparse
import os
import sys

from lxpy import __version__
from lxpy.cli import arguments, commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from lxpy.cli.commands import Command


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
        self.register("action", arguments.NEGATABLE, argparse.BooleanOptionalAction)

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
    # Listed for --help; main() takes it off the command line wherever it is given.
    p.add_argument(
        "--remote",
        default=argparse.SUPPRESS,
        metavar="HOST",
        help="run the command on a remote host (`lxpy remote`; ls: all, every host; tui: "
        "the host shown besides this one); also after the command (default: `lxpy remote "
        "default`)",
    )
    p.add_argument(
        "--api",
        metavar="N",
        help="the remote interface its caller speaks: another host's lxpy passes it",
    )
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
