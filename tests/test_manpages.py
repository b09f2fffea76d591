"""Man pages: the per-command pages are what the command table makes of them, every page
renders without a groff warning, the overview names every command, install.sh puts them
where man finds them, and the service unit that names them verifies."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lxpy.cli import manpages
from lxpy.cli.commands import COMMANDS
from tests.conftest import GENERATED_BY_THIS_PYTHON, install_files

REPO = Path(__file__).resolve().parent.parent
MAN = REPO / "man"
PAGES = sorted(MAN.iterdir())
LISTED = [c.name for c in COMMANDS if not c.hidden]


@GENERATED_BY_THIS_PYTHON
def test_the_command_pages_are_made_from_the_table() -> None:
    made = manpages.pages()
    committed = {p.name: p.read_text() for p in MAN.glob("lxpy-*.1")}
    assert set(made) == {f"lxpy-{name}.1" for name in LISTED}
    stale = sorted(
        name for name in made.keys() | committed.keys() if made.get(name) != committed.get(name)
    )
    assert not stale, f"regenerate with `python -m lxpy.cli.manpages man/`: {stale}"


def test_a_generated_page_says_what_help_says() -> None:
    page = manpages.page(next(c for c in COMMANDS if c.name == "stop"))
    assert "lxpy\\-stop \\- stop containers cleanly through their init" in page
    assert "\\%\\fB\\-t\\fR, \\%\\fB\\-\\-timeout\\fR \\%\\fIS\\fR" in page
    assert "(default: 30)" in page
    assert "\\fBlxpy stop \\-t 120 db\\fR" in page


def test_text_that_starts_like_a_request_is_escaped() -> None:
    text = manpages.page(next(c for c in COMMANDS if c.name == "export"))
    assert "\n\\&.tar.zst, .tar.gz or .tar." in text
    assert not [line for line in text.splitlines() if line.startswith("'")]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_each_page_renders_without_a_warning(page: Path) -> None:
    if shutil.which("man") is None:
        pytest.fail("man is not installed: contrib/install.sh --deps-only installs man-db")
    proc = subprocess.run(
        ["man", "--warnings=all", "-l", "-Tutf8", str(page)],
        capture_output=True,
        text=True,
        env={**os.environ, "MANWIDTH": "80"},
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"{page.stem.upper()}({page.suffix[1:]})")


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f".SH {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(".SH ")), len(lines))
    return lines[start:end]


def test_the_overview_names_every_command_and_its_page() -> None:
    text = (MAN / "lxpy.1").read_text()
    # The tags of the COMMANDS section's own list (an .RS block lists a command's options).
    tags, depth = [], 0
    lines = _section(text, "COMMANDS")
    for previous, line in itertools.pairwise(lines):
        depth += {".RS": 1, ".RE": -1}.get(previous, 0)
        if previous == ".TP" and depth == 0:
            tags.append(line)
    # A command's name in roff: words of a-z joined by \- (ssh\-config).
    word = r"\\fB([a-z]+(?:\\-[a-z]+)*)\\fR"
    named = {w.replace("\\-", "-") for tag in tags for w in re.findall(word, tag)}
    assert set(LISTED) <= named, f"not in lxpy(1)'s COMMANDS: {sorted(set(LISTED) - named)}"
    first = {re.match(word, tag).group(1).replace("\\-", "-") for tag in tags}  # type: ignore[union-attr]
    assert first <= set(LISTED), f"lxpy(1) names no such command: {sorted(first - set(LISTED))}"
    pages = re.findall(r"^\.BR lxpy\\-([a-z]+(?:\\-[a-z]+)*) \(1\)", text, re.MULTILINE)
    assert [page.replace("\\-", "-") for page in pages] == LISTED


def test_every_page_named_in_see_also_is_there() -> None:
    for page in PAGES:
        for name, section in re.findall(r"^\.BR (lxpy\S*) \((\d)\)", page.read_text(), re.M):
            assert (MAN / f"{name.replace(chr(92), '')}.{section}").is_file(), (page.name, name)


def test_install_puts_the_pages_where_man_finds_them(tmp_path: Path) -> None:
    install_files(tmp_path)
    manpath = tmp_path / "usr/local/share/man"
    env = {**os.environ, "MANPATH": str(manpath)}
    for wanted, found in [
        (["lxpy"], "man1/lxpy.1"),
        (["lxpy-create"], "man1/lxpy-create.1"),
        (["7", "lxpy-templates"], "man7/lxpy-templates.7"),
    ]:
        where = subprocess.run(
            ["man", "-w", *wanted], env=env, capture_output=True, text=True, check=True
        )
        assert where.stdout.strip() == str(manpath / found)


def test_the_service_unit_verifies(tmp_path: Path) -> None:
    """`systemd-analyze verify` as it runs once install.sh is done: the unit's man pages
    installed, /usr/local/bin/lxpy there (here: this checkout's lxpy in its place)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    install_files(tmp_path / "dest")
    lxpy = Path(sys.executable).parent / "lxpy"
    unit = tmp_path / "lxpy.service"
    text = (REPO / "contrib/lxpy.service").read_text()
    assert "ExecStart=/usr/local/bin/lxpy " in text
    unit.write_text(text.replace("/usr/local/bin/lxpy", str(lxpy)))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        env={**os.environ, "MANPATH": str(tmp_path / "dest/usr/local/share/man")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stderr
