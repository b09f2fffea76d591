"""The command line: parse, call the core API, print. Errors become one line and an exit code.

Start-up stays lean: nothing here imports textual, jinja2 or psutil, a plain
command line is read without argparse (quickparse), and only the invoked command's
arguments and module are built and loaded; tests/test_import_budget.py holds each short
command to its list of modules.
"""

from __future__ import annotations

import os
import sys

from lxpy.cli import commands, quickparse
from lxpy.cli.cmdline import command_word
from lxpy.errors import LxpyError, PermissionDenied

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import ArgumentParser
    from collections.abc import Callable, Sequence
    from typing import Any

    from lxpy.api import Api, Launcher
    from lxpy.cli.commands import Command

    # The TUI, run over an Api with the --root it was given and the hosts --remote names
    # (None: not given); returns the exit status.
    Tui = Callable[[Api, str | None], int]

EXIT_INTERNAL = 70


def _parser(command: Command | None) -> ArgumentParser:
    from lxpy.cli.parser import parser

    return parser(command)


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
    remote: str | None = None
    if any(w.startswith("--remote") for w in argv):
        from lxpy.cli.forward import take_option

        argv, remote = take_option(argv)
    word = command_word(argv)
    command = None if word is None else commands.find(word)
    if word is not None and command is None:
        return _unknown(word)
    version = quickparse.version(argv)
    if version is not None and not trailing:
        print(version)
        return 0
    args: Any = None if command is None else quickparse.parse(argv, command)
    if args is None:
        args = _parser(command).parse_args(argv)
    if trailing:
        # A command that runs one inside declares CMD (attach, shell, ssh): `--` is for it.
        if not hasattr(args, "cmd"):
            which = f"`lxpy {command.name}`" if command else "lxpy without a command"
            _parser(command).error(f"{which} runs no command: `--` is not for it")
        args.cmd = list(args.cmd) + trailing
    if command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            _parser(None).print_help()
            return 0
        command = commands.find("tui")
        assert command is not None
    args.tui = tui
    args.hosts = remote  # --remote, for a command that reaches its hosts itself (HOSTS)
    try:
        if os.geteuid() != 0 and not command.as_user:
            raise PermissionDenied("lxpy needs root", hint="run it as root or with sudo")
        if args.api is not None:  # called by another host's lxpy
            from lxpy.remote.protocol import check_requested

            check_requested(args.api)
        # Before the API's imports: a command for another host needs none of them.
        from lxpy.remote.registry import paths_of

        paths = paths_of(args.root)
        if remote is not None or any(":" in w for w in argv) or os.path.exists(paths.remotes_file):
            from lxpy.cli.forward import route

            status = route(paths, argv, trailing, command, args, remote)
            if status is not None:
                return status
        from lxpy.api import Api

        module, _, function = command.handler.rpartition(".")
        # __import__, not importlib.import_module: importlib costs every command ~0.5 ms.
        handler = getattr(__import__(f"lxpy.cli.{module}", fromlist=[function]), function)
        return int(handler(Api(paths, launcher), args))
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
