"""The CLI's face: lean start-up, one-line errors, exit codes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Lxpy

HEAVY = ("textual", "jinja2", "pyroute2", "psutil")


def _modules_after(args: list[str], root: str) -> set[str]:
    code = (
        "import sys\n"
        "from lxpy.cli.main import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "LXPY_ROOT": root},
        check=False,
    )
    return set(proc.stderr.split())


@pytest.mark.parametrize("args", [["--version"], ["ls"], ["ls", "--format", "json"]])
def test_startup_stays_lean(args: list[str], tmp_path: object) -> None:
    loaded = _modules_after(args, str(tmp_path))
    assert "lxpy.cli" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    # typing costs every command ~9 ms; difflib is for a mistyped command only.
    assert "typing" not in loaded and "difflib" not in loaded
    # Only the invoked command's module: `ls` loads none of the others.
    assert not {"lxpy.cli.lifecycle", "lxpy.cli.storage", "lxpy.cli.inside"} & loaded


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
def test_not_root_is_refused(lxpy: Lxpy) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.setgid(65534); os.setuid(65534); "
            "from lxpy.cli.main import main; sys.exit(main(['--root', sys.argv[1], 'ls']))",
            lxpy.root,
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


def test_the_faces_import_only_the_api_errors_and_units() -> None:
    allowed = {"lxpy", "lxpy.api", "lxpy.errors", "lxpy.units"}
    root = Path(__file__).resolve().parent.parent / "lxpy"
    for face in ("cli", "tui"):
        for path in sorted((root / face).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found = node.module
                elif isinstance(node, ast.Import):
                    found = node.names[0].name
                else:
                    continue
                if found.startswith("lxpy") and not found.startswith(f"lxpy.{face}"):
                    assert found in allowed, f"{path.name} imports {found}"


def test_what_the_api_exports_on_first_use_is_there() -> None:
    import lxpy.api

    for name in lxpy.api._LAZY:
        assert isinstance(getattr(lxpy.api, name), type), name
    with pytest.raises(AttributeError):
        lxpy.api.Nothing  # noqa: B018
