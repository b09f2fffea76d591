"""Help a person can use: every command's --help has a description, options with their
defaults and examples; a mistyped command gets the closest ones. Walks the command table."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from lxpy.cli import commands
from lxpy.cli.commands import COMMANDS, Command
from lxpy.cli.main import main
from lxpy.cli.parser import parser

NAMES = [c.name for c in COMMANDS]


def _help(command: Command, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([command.name, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS, ids=NAMES)
def test_each_help_has_a_description_and_examples(
    command: Command, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _help(command, capsys)
    assert command.description.splitlines()[0] in out
    assert "examples:" in out
    assert 1 <= len(command.examples) <= 3
    for line, what in command.examples:
        assert line.startswith("lxpy") and f"{line}" in out and what in out


@pytest.mark.parametrize("command", COMMANDS, ids=NAMES)
def test_each_argument_has_help_and_states_its_default(command: Command) -> None:
    sub = _subparser(command)
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command.name} {action.dest}: no help"
        if action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != "+":
            assert "default" in action.help, f"{command.name} {action.dest}: default unstated"
        if not action.option_strings:
            # Positionals read the same everywhere: NAME, not name.
            assert action.metavar is None or not str(action.metavar).islower()
            assert action.choices is not None or action.metavar is not None


def _subparser(command: Command) -> argparse.ArgumentParser:
    p = parser(command)
    [group] = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    found: argparse.ArgumentParser = group.choices[command.name]
    return found


def test_the_table_names_real_handlers_and_unique_words() -> None:
    import importlib

    words = [word for c in COMMANDS for word in (c.name, *c.aliases)]
    assert len(words) == len(set(words))
    for command in COMMANDS:
        module, _, function = command.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(f"lxpy.cli.{module}"), function))
        assert commands.find(command.name) is command
        assert all(len(line) <= 76 for line in command.description.splitlines())


def test_the_table_imports_on_its_own() -> None:
    code = "import sys, lxpy.cli.commands; print(sorted(m for m in sys.modules if 'lxpy' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert eval(out.stdout) == ["lxpy", "lxpy.cli", "lxpy.cli.arguments", "lxpy.cli.commands"]


def test_stop_shows_its_default_and_snapshot_how_to_take_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stop = _help(commands.COMMANDS[NAMES.index("stop")], capsys)
    assert "(default: 30)" in stop
    snapshot = _help(commands.COMMANDS[NAMES.index("snapshot")], capsys)
    assert "usage: lxpy snapshot NAME [SNAP]" in snapshot
    assert "`lxpy snapshot NAME [SNAP]` takes a snapshot" in snapshot


def test_console_says_how_to_log_in(capsys: pytest.CaptureFixture[str]) -> None:
    console = _help(commands.COMMANDS[NAMES.index("console")], capsys)
    assert "`lxpy attach NAME -- passwd` sets it" in console


def test_a_mistyped_command_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strat", "c1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lxpy: no command 'strat': did you mean start")
    assert len(err.strip().splitlines()) == 1
    assert main(["--root", "/nowhere", "snapshto", "c1"]) == 2
    assert "did you mean snapshot?" in capsys.readouterr().err
    assert main(["xyzzy"]) == 2
    err = capsys.readouterr().err
    assert "did you mean" not in err and "`lxpy --help` lists them" in err
