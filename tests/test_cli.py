"""The CLI's face: one-line errors, exit codes (its lean start-up: test_architecture)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import Lxpy


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lxpy", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("lxpy ")


@pytest.mark.integration
def test_errors_are_one_line_with_a_hint(lxpy: Lxpy) -> None:
    cases = {
        ("start", "ghost"): "no container named 'ghost'",
        ("attach", "ghost", "--", "true"): "no container named 'ghost'",
        ("shell", "ghost", "--", "id"): "no container named 'ghost'",
        ("start", "ghost", "--", "true"): "`lxpy start` runs no command: `--` is not for it",
        ("create", "c1", "--template", "nope"): "unknown template 'nope'",
    }
    for args, words in cases.items():
        result = lxpy.run(*args, check=False)
        assert result.returncode != 0
        assert words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
    lxpy.run("create", "c1")
    stopped = lxpy.run("attach", "c1", "--", "true", check=False)
    assert "is not running" in stopped.stderr and "hint" in stopped.stderr


@pytest.mark.integration
def test_debug_shows_the_traceback(lxpy: Lxpy) -> None:
    result = lxpy.run("--debug", "start", "ghost", check=False)
    assert "Traceback" in result.stderr


@pytest.mark.integration
# count-disk: hidden (info runs it), and still root's alone.
@pytest.mark.parametrize("args", [["ls"], ["count-disk", "c1"]])
def test_not_root_is_refused(lxpy: Lxpy, args: list[str]) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.setgid(65534); os.setuid(65534); "
            "from lxpy.cli.main import main; sys.exit(main(['--root', *sys.argv[1:]]))",
            lxpy.root,
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "needs root" in proc.stderr


def test_command_word_skips_global_options() -> None:
    from lxpy.cli.cmdline import command_word

    assert command_word(["--root", "/x", "--debug", "start", "c1"]) == "start"
    assert command_word(["--root=/x", "ls"]) == "ls"
    assert command_word(["--version"]) is None
    assert command_word(["--", "start"]) is None


@pytest.mark.integration
def test_help_lists_every_command_and_a_pipe_closed_early_is_quiet(lxpy: Lxpy) -> None:
    out = lxpy.run("--help").stdout
    for command in (
        "create",
        "start",
        "stop",
        "restart",
        "destroy",
        "ls",
        "info",
        "attach",
        "console",
    ):
        assert f"    {command}" in out
    for _ in range(3):
        lxpy.run("create")
    proc = subprocess.run(
        f"{sys.executable} -m lxpy --root {lxpy.root} ls | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.startswith("NAME") and proc.stderr == ""


def test_what_the_api_exports_on_first_use_is_there() -> None:
    import lxpy.api

    for name in lxpy.api._LAZY:
        assert isinstance(getattr(lxpy.api, name), type), name
    with pytest.raises(AttributeError):
        lxpy.api.Nothing  # noqa: B018
