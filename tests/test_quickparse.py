"""quickparse reads a command line exactly as argparse does, or leaves it to argparse.

For every command: its examples, and command lines made from its own arguments (each option
alone, in every spelling, before and after the positionals, with good and bad values)."""

from __future__ import annotations

import contextlib
import io
import shlex

import pytest

from lxpy.cli import quickparse
from lxpy.cli.commands import COMMANDS, Command, find
from lxpy.cli.parser import parser

NAMES = [c.name for c in COMMANDS]


def _argparse(argv: list[str], command: Command) -> dict[str, object] | None:
    """argparse's reading, or None where it refuses the line (or prints help)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
            return vars(parser(command).parse_args(argv))
    except SystemExit:
        return None


def _value(argument: quickparse.Argument) -> str:
    if argument.choices:
        return str(next(iter(argument.choices)))
    return "1" if argument.type is not None else "val"


def _lines(command: Command) -> list[list[str]]:
    recorder = quickparse.Recorder()
    command.arguments(recorder)
    positionals = [a for a in recorder.arguments if not a.flags]
    least = [_value(a) for a in positionals if a.nargs in (None, "+")]
    every = [_value(a) for a in positionals]
    runs = [least, every, [*every, "more"], []]
    lines = [[command.name, *shlex.split(line)[2:]] for line, _ in command.examples]
    for run in runs:
        lines.append([command.name, *run])
        for a in recorder.arguments:
            for flag in a.flags:
                if a.action in ("store", "append"):
                    spellings = [[flag, _value(a)], [flag + "=" + _value(a)], [flag, "-x"]]
                    spellings += [[flag, "not-a-choice"], [flag]]
                else:
                    spellings = [[flag], [flag + "=1"]]
                    if flag.startswith("--") and a.action == "negatable":
                        spellings.append(["--no-" + flag[2:]])
                for spelled in spellings:
                    lines.append([command.name, *run, *spelled])
                    lines.append([command.name, *spelled, *run])
                    if run:
                        lines.append([command.name, run[0], *spelled, *run[1:]])
    for top in (
        ["--root", "/r"],
        ["--debug"],
        ["--root=/r", "--debug"],
        ["--verbose"],
        ["--root", "--debug"],
    ):
        lines += [[*top, *line] for line in lines[: len(command.examples) + 2]]
    return lines


@pytest.mark.parametrize("command", COMMANDS, ids=NAMES)
def test_quickparse_reads_as_argparse_does_or_not_at_all(command: Command) -> None:
    read = 0
    for argv in _lines(command):
        quick = quickparse.parse(argv, command)
        if quick is None:
            continue
        read += 1
        assert vars(quick) == _argparse(argv, command), argv
    recorder = quickparse.Recorder()
    command.arguments(recorder)
    # A command with an argument quickparse does not read is argparse's alone.
    assert bool(read) == recorder.plain, command.name


@pytest.mark.parametrize(
    "line",
    [
        "ls",
        "ls -f json",
        "--root /tmp/r ls",
        "info c1",
        "info c1 --format json",
        "start c1",
        "start c1 c2",
        "stop c1",
        "stop -k c1",
        "attach c1",
        "attach -u root c1",
        "top --once",
    ],
)
def test_the_short_commands_lines_need_no_argparse(line: str) -> None:
    argv = shlex.split(line)
    command = find(next(w for w in argv if not w.startswith("-") and w != "/tmp/r"))
    assert command is not None
    quick = quickparse.parse(argv, command)
    assert quick is not None, line
    assert vars(quick) == _argparse(argv, command)


def test_version_alone_needs_no_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    assert quickparse.version(["--version"]) is not None
    with pytest.raises(SystemExit):
        argparse_version = parser(None).parse_args(["--version"])
        del argparse_version
    assert capsys.readouterr().out.strip() == quickparse.version(["--version"])
    assert quickparse.version(["--version", "ls"]) is None
    assert quickparse.version(["--root", "/r", "--version"]) is not None
    assert quickparse.version(["--version", "--root"]) is None
    assert quickparse.version(["--version", "-h"]) is None
