"""Container names are DNS labels, refused before anything touches the filesystem."""

from __future__ import annotations

import os

import pytest

from lxpy import names
from lxpy.errors import InvalidName
from tests.conftest import Lxpy

BAD = [
    "../x",
    "/",
    "a/b",
    ".",
    "..",
    ".foo",
    "",
    "-x",
    "x-",
    "a" * 64,
    "héllo",
    "a b",
    "a\nb",
    "A",
    "a_b",
    "a.b",
]


@pytest.mark.parametrize("bad", BAD)
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        names.validate(bad)


@pytest.mark.parametrize("good", ["a", "c1", "web-01", "a" * 63, "0"])
def test_good_names(good: str) -> None:
    assert names.validate(good) == good


def test_generated_names_are_valid_and_unique() -> None:
    taken: set[str] = set()
    for _ in range(100):
        name = names.generate(taken)
        names.validate(name)
        assert name not in taken
        taken.add(name)


@pytest.mark.integration
@pytest.mark.parametrize("bad", BAD)
def test_cli_refuses_bad_names_and_creates_nothing(lxpy: Lxpy, bad: str) -> None:
    for command in (["create", bad], ["start", bad], ["destroy", "--force", bad]):
        result = lxpy.run(*command, check=False)
        assert result.returncode != 0
        # argparse takes "-x" for an option; either way it is refused in one line.
        assert "invalid container name" in result.stderr or (
            bad.startswith("-") and result.returncode == 2
        ), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not os.path.exists(lxpy.root) or os.listdir(lxpy.root) == []


@pytest.mark.integration
def test_create_without_a_name_makes_one_up(lxpy: Lxpy) -> None:
    first = lxpy.run("create").stdout.strip()
    second = lxpy.run("create").stdout.strip()
    assert first != second
    names.validate(first)
    listed = lxpy.run("ls").stdout
    assert first in listed and second in listed
