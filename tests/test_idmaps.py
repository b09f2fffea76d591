"""Host id ranges of unprivileged containers: root's subuid/subgid ranges cut into slices,
one per container, chosen at the first start, kept, and new for a clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxpy import idmaps
from lxpy.config import IdMap
from lxpy.errors import LxpyError
from tests.conftest import Lxpy


def ranges(tmp_path: Path, subuid: str | None, subgid: str | None) -> list[tuple[int, int]]:
    paths = []
    for name, text in (("subuid", subuid), ("subgid", subgid)):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        paths.append(str(path))
    return idmaps.host_ranges(*paths)


def test_root_gets_what_both_files_delegate_to_it(tmp_path: Path) -> None:
    subuid = "alice:100000:65536\nroot:1000000:1000000000\n"
    subgid = "root:1500000:200000\n"
    # uids and gids share one base: the part both ranges cover.
    assert ranges(tmp_path, subuid, subgid) == [(1500000, 200000)]


def test_without_either_file_root_gets_incus_default(tmp_path: Path) -> None:
    assert ranges(tmp_path, None, None) == [idmaps.DEFAULT_RANGE]


@pytest.mark.parametrize(
    ("subuid", "subgid"),
    [("alice:100000:65536\n", "alice:100000:65536\n"), ("root:100000:1000\n", None)],
    ids=["not-root", "too-small"],
)
def test_no_usable_range_is_one_error_with_the_fix(
    tmp_path: Path, subuid: str, subgid: str | None
) -> None:
    with pytest.raises(LxpyError) as raised:
        ranges(tmp_path, subuid, subgid)
    assert "root:1000000:1000000000" in str(raised.value.hint)
    assert "--privileged" in str(raised.value.hint)


def test_slices_never_overlap_those_taken() -> None:
    taken = [IdMap(1000000), IdMap(1065536 + 10)]
    # The first free slice starts after the second taken one, not in the 10-id gap.
    assert idmaps.free_slice([(1000000, 1000000)], taken) == IdMap(1065536 + 10 + 65536)
    with pytest.raises(LxpyError, match="in use"):
        idmaps.free_slice([(1000000, 65536)], [IdMap(1000000)])


def idmap_line(lx: Lxpy, name: str) -> str:
    info = lx.run("info", name).stdout
    return next(line for line in info.splitlines() if line.startswith("Idmap:"))


def test_each_container_keeps_a_range_of_its_own_and_a_clone_gets_another(lxpy: Lxpy) -> None:
    for name in ("c1", "c2"):
        lxpy.run("create", name, "--network", "none")
    assert "chosen at its first start" in idmap_line(lxpy, "c1")
    lxpy.run("start", "c1", "c2")
    first, second = idmap_line(lxpy, "c1"), idmap_line(lxpy, "c2")
    assert first != second and first.split()[1:4] == ["0", first.split()[2], "65536"]
    # Kept across a restart, in config.toml.
    lxpy.run("restart", "c1")
    assert idmap_line(lxpy, "c1") == first
    assert "[security.idmap]" in Path(lxpy.paths.config_file("c1")).read_text()
    lxpy.run("stop", "c1")
    lxpy.run("clone", "c1", "c3")
    assert "chosen at its first start" in idmap_line(lxpy, "c3")
    lxpy.run("start", "c3")
    assert idmap_line(lxpy, "c3") not in (first, second)


def test_privileged_is_said_at_create_and_in_info(lxpy: Lxpy) -> None:
    created = lxpy.run("create", "root1", "--network", "none", "--privileged")
    assert "root1 is privileged: container root is host root" in created.stderr
    info = lxpy.run("info", "root1").stdout
    assert "Security: privileged: container root is host root" in info
    assert "Idmap:" not in info
    plain = lxpy.run("create", "plain", "--network", "none")
    assert "privileged" not in plain.stderr
