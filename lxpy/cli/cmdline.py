"""Reading the command word before argparse: the launcher is forked before any import, and
only that command's parser is built."""

from __future__ import annotations

# Options of `lxpy` itself that take a value.
_VALUED = {"--root"}


def command_word(argv: list[str]) -> str | None:
    """The subcommand in `argv` (`start` in `lxpy --root R start c1`), or None."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif arg == "--":
            return None
        elif not arg.startswith("-"):
            return arg
    return None
