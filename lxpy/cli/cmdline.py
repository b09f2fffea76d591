"""Reading the command word before argparse: the launcher is forked before any import, and
only that command's parser is built."""

from __future__ import annotations

# Options of `lxpy` itself that take a value.
_VALUED = {"--root", "--api", "--remote"}


def command_word(argv: list[str]) -> str | None:
    """The subcommand in `argv` (`start` in `lxpy --root R start c1`), or None."""
    index = command_index(argv)
    return None if index is None else argv[index]


def command_index(argv: list[str]) -> int | None:
    """Where the subcommand is in `argv`, or None."""
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in _VALUED:
            skip = True
        elif arg == "--":
            return None
        elif not arg.startswith("-"):
            return index
    return None
