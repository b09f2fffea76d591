"""Shell completion: the committed scripts are what shtab makes of the command table, the
bash script that install.sh installs completes commands, options and real containers,
templates, releases, networks and snapshots (through the hidden `lxpy complete`), and the
zsh and fish scripts parse (and fish completes, where it is installed)."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy.cli import arguments, values
from lxpy.cli.commands import COMMANDS
from lxpy.cli.parser import parser
from lxpy.net import model
from tests.conftest import GENERATED_BY_THIS_PYTHON, IS_ROOT, Lxpy, install_files, temporary_root

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "contrib/completion"
# Where `lxpy` is found by the scripts, as /usr/local/bin/lxpy is after install.sh.
PATH = f"{Path(sys.executable).parent}:{os.environ['PATH']}"


# -- made from the table -----------------------------------------------------------------------
@GENERATED_BY_THIS_PYTHON
def test_the_scripts_are_made_from_the_table() -> None:
    completion = pytest.importorskip("lxpy.cli.completion", reason="shtab: pip install -e .[test]")
    stale = [
        name for name, text in completion.scripts().items() if text != (SCRIPTS / name).read_text()
    ]
    assert not stale, (
        f"regenerate with `python -m lxpy.cli.completion contrib/completion/`: {stale}"
    )


def test_every_marked_argument_has_a_lister() -> None:
    assert set(values._LISTERS) == set(arguments.LISTED)
    p = parser(every=True)
    [sub] = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    marks = {
        getattr(action, arguments.COMPLETES)
        for each in [p, *sub.choices.values()]
        for action in each._actions
        if hasattr(action, arguments.COMPLETES)
    }
    assert marks == {*arguments.LISTED, arguments.FILES, arguments.DIRS}


def test_the_lister_is_hidden() -> None:
    [sub] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {action.dest for action in sub._get_subactions()}
    assert listed == {c.name for c in COMMANDS if not c.hidden} and "complete" not in listed
    bash = (SCRIPTS / "lxpy.bash").read_text()
    assert "complete" not in bash.split("_shtab_lxpy_subparsers=(")[1].split(")")[0].split()
    assert not (REPO / "man/lxpy-complete.1").exists()


# -- reading the line --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("", []),
        ("lxpy start ", ["start"]),
        ("lxpy start we", ["start"]),
        ("sudo -E /usr/local/bin/lxpy --root /r stop c1 ", ["--root", "/r", "stop", "c1"]),
        ("lxpy attach 'web", ["attach"]),
    ],
)
def test_the_words_before_the_cursor(line: str, words: list[str]) -> None:
    assert values.typed_words(line) == words


def test_an_option_value_in_every_spelling() -> None:
    for line in [
        "-t debian",
        "-tdebian",
        "--template debian",
        "--template=debian",
        "-t x -t debian",
    ]:
        assert values.option_value(["create", *line.split()], "-t", "--template") == "debian"
    assert values.option_value(["create", "-t"], "-t", "--template") is None


# -- completing against real containers --------------------------------------------------------
@pytest.fixture(scope="module")
def fleet() -> Iterator[Lxpy]:
    """c1 and web (with a snapshot `before`), stopped: what a completion lists."""
    if not IS_ROOT:
        pytest.skip("needs root (CI runs these as root)")
    with temporary_root("lxpy-completion-") as lx:
        lx.run("create", "c1")
        lx.run("create", "web")
        lx.run("snapshot", "web", "before")
        yield lx


# bash as readline drives it: COMP_WORDS (split as bash splits), COMP_CWORD, COMP_LINE and
# COMP_POINT set, then the function `complete -p lxpy` names called; prints COMPREPLY.
_BASH_DRIVER = """
source "$1"; shift
complete -p lxpy
for line in "$@"; do
  COMP_LINE=$line; COMP_POINT=${#line}
  read -ra COMP_WORDS <<<"$line"
  [[ $line == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  "$(complete -p lxpy | sed -E 's/.*-F ([^ ]+) .*/\\1/')" lxpy "${COMP_WORDS[COMP_CWORD]}" \\
    "${COMP_WORDS[COMP_CWORD-1]}"
  echo "${COMPREPLY[*]}"
done
"""


def _bash(script: Path, lines: list[str], env: dict[str, str] | None = None) -> list[str]:
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", _BASH_DRIVER, "bash", str(script), *lines],
        env={**os.environ, "PATH": PATH, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.integration
def test_bash_completes_commands_options_and_real_names(fleet: Lxpy, tmp_path: Path) -> None:
    install_files(tmp_path)
    script = tmp_path / "usr/share/bash-completion/completions/lxpy"
    r = f"lxpy --root {fleet.root}"
    cases = {
        f"{r} start ": "c1 web",
        f"{r} start w": "web",
        f"{r} start c1 ": "c1 web",
        "lxpy sta": "start",
        "lxpy --root /nowhere ls": "ls",
        f"{r} stop -": "-h --help -t --timeout -k --kill",
        f"{r} create -t ": "busybox debian ubuntu",
        f"{r} create -t debian -r ": "trixie bookworm forky sid",
        f"{r} create -r ": "",  # busybox, the default, has no releases
        f"{r} create --network ": model.default_network(fleet.paths),
        f"{r} templates show ": "busybox debian ubuntu",
        f"{r} snapshot ": "ls rm restore c1 web",
        f"{r} snapshot rm ": "c1 web",
        f"{r} snapshot restore web ": "before",
        f"{r} snapshot rm c1 ": "",
        f"{r} ls --format ": "table json",
    }
    complete, *replies = _bash(script, list(cases))
    assert complete.endswith(" lxpy") and " -F " in complete
    assert dict(zip(cases, replies, strict=True)) == cases


@pytest.mark.integration
def test_bash_completes_under_lxpy_root(fleet: Lxpy) -> None:
    [_, reply] = _bash(SCRIPTS / "lxpy.bash", ["lxpy start "], {"LXPY_ROOT": fleet.root})
    assert reply == "c1 web"


@pytest.mark.integration
def test_the_lister_never_complains(fleet: Lxpy) -> None:
    lister = [sys.executable, "-m", "lxpy", "--root", fleet.root, "complete"]
    for kind, line, out in [
        ("snapshots", "lxpy snapshot rm nosuch ", ""),
        ("releases", "lxpy create -t nosuch -r ", ""),
        ("containers", "lxpy start 'open quote", "c1\nweb\n"),
    ]:
        proc = subprocess.run([*lister, kind, line], capture_output=True, text=True, check=False)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, out, "")
    # Completion runs as whoever types; one who may not read the state gets nothing.
    proc = subprocess.run(
        [*lister, "containers"], capture_output=True, text=True, user=65534, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# -- the other shells --------------------------------------------------------------------------
def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: an optional shell (apt-get install {name})")
    return found


def test_the_zsh_script_parses() -> None:
    proc = subprocess.run(
        [_shell("zsh"), "-n", str(SCRIPTS / "_lxpy")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_the_fish_script_parses() -> None:
    proc = subprocess.run(
        [_shell("fish"), "-n", str(SCRIPTS / "lxpy.fish")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.integration
def test_fish_completes_real_names(fleet: Lxpy) -> None:
    fish = _shell("fish")
    r = f"lxpy --root {fleet.root}"
    lines = [f"{r} start ", f"{r} snapshot restore web ", f"{r} create -t debian -r "]
    code = f"source {shlex.quote(str(SCRIPTS / 'lxpy.fish'))}\n" + "".join(
        f"complete -C {shlex.quote(line)} | cut -f1 | string join ' '\n" for line in lines
    )
    proc = subprocess.run(
        [fish, "--no-config", "-c", code],
        env={**os.environ, "PATH": PATH},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == ["c1 web", "before", "trixie bookworm forky sid"]
