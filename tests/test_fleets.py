"""Fleets as code (`lxpy up`, `down`, `ps`, `fleet ls`, fleet snapshots) with busybox
containers; the three-tier Debian example is in test_fleet_example."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from lxpy.errors import ConfigError, NotFound
from lxpy.fleets.project import Project, read
from tests.conftest import Lxpy, sh


def project(where: Path, text: str, **files: str) -> Path:
    """A project directory holding lxpy.toml (`text`) and `files` (name: content)."""
    where.mkdir(exist_ok=True)
    (where / "lxpy.toml").write_text(textwrap.dedent(text))
    for name, content in files.items():
        path = where / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return where / "lxpy.toml"


def load(path: Path) -> Project:
    return read(str(path))


CHAIN = """\
    [fleet]
    name = "ch"

    [containers.c]
    depends_on = ["b"]
    ready = "test -e /etc/motd"
    files = { "/etc/motd" = "motd" }

    [containers.a]
    ready = "sleep 0.3"
    limits = { memory = "64M" }

    [containers.b]
    depends_on = ["a"]
    ready = "sleep 0.3"
    ports = ["127.0.0.1:18931:80"]
"""


# -- the project file, read strictly ------------------------------------------------------


def test_containers_come_in_dependency_order(tmp_path: Path) -> None:
    path = project(tmp_path, CHAIN, motd="hi\n")
    got = load(path)
    assert list(got.services) == ["a", "b", "c"]
    assert got.services["c"].container == "ch-c"
    assert got.services["c"].files == {"/etc/motd": str(tmp_path / "motd")}
    assert [s.name for s in got.select(["b"])] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            '[fleet]\nname = "x"\n[containers.db]\ntemplte = "debian"\n',
            4,
            "containers.db.templte: unknown key",
        ),
        (
            '[fleet]\nname = "x"\n[containers.db]\npackages = "vim"\n',
            4,
            "containers.db.packages: expected list",
        ),
        (
            '[fleet]\nname = "x"\n[containers.db]\nlimits = { memory = "lots" }\n',
            4,
            "containers.db.limits.memory",
        ),
        ('[fleet]\nname = "X y"\n[containers.db]\n', 2, "fleet.name: a DNS label"),
        (
            '[fleet]\nname = "x"\nnetwork = "a-very-long-bridge-name"\n[containers.db]\n',
            3,
            "fleet.network",
        ),
        (
            '[fleet]\nname = "x"\n[containers.a]\ndepends_on = ["b"]\n'
            '[containers.b]\ndepends_on = ["a"]\n',
            4,
            "a cycle: a -> b -> a",
        ),
        (
            '[fleet]\nname = "x"\n[containers.a]\ndepends_on = ["nope"]\n',
            4,
            "'nope' is no container",
        ),
        (
            '[fleet]\nname = "x"\n[containers.a]\nfiles = { "/etc/x" = "gone.conf" }\n',
            4,
            "containers.a.files./etc/x: gone.conf: No such file",
        ),
        (
            '[fleet]\nname = "x"\n[containers.a]\nprovision = ["nope.sh"]\n',
            4,
            "containers.a.provision: nope.sh: No such file",
        ),
        (
            '[fleet]\nname = "x"\n[containers.a]\nmounts = { "/srv" = "lxpy.toml" }\n',
            4,
            "not a directory",
        ),
        (
            '[fleet]\nname = "x"\n[containers.a]\nfiles = { "etc/x" = "lxpy.toml" }\n',
            4,
            "a path inside starts with /",
        ),
        ('[fleet]\nname = "x"\n', None, "containers: missing"),
    ],
)
def test_a_bad_file_names_the_file_the_line_and_the_key(
    tmp_path: Path, text: str, line: int | None, words: str
) -> None:
    path = tmp_path / "lxpy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path)
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(e.value).startswith(f"{where}: "), str(e.value)
    assert words in str(e.value)


def test_without_a_project_file_the_error_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such project file"):
        read(str(tmp_path))


# -- up, down, ps with busybox containers -------------------------------------------------


def start_times(lx: Lxpy, names: list[str]) -> dict[str, int]:
    """Each running container's init start time, in clock ticks since the host's boot."""
    found = {}
    for name in names:
        pid = json.loads(lx.run("info", name, "--format", "json").stdout)["pid"]
        with open(f"/proc/{pid}/stat") as f:
            found[name] = int(f.read().rsplit(")", 1)[1].split()[19])
    return found


@pytest.mark.integration
def test_a_chain_starts_in_order_converges_and_stops_in_reverse(lxpy: Lxpy, tmp_path: Path) -> None:
    path = project(tmp_path, CHAIN, motd="first\n")
    f = ("-f", str(tmp_path))
    dry = lxpy.run("up", *f, "--dry-run")
    assert "lxpy create ch-a" in dry.stdout and "wait until `sleep 0.3` passes inside" in dry.stdout
    assert lxpy.run("ls").stdout.count("\n") <= 1, "a dry run made something"

    out = lxpy.run("up", *f, timeout=120)
    times = start_times(lxpy, ["ch-a", "ch-b", "ch-c"])
    assert times["ch-a"] < times["ch-b"] < times["ch-c"], times
    assert "ch-a  ready sleep 0.3" in out.stderr
    assert sh(lxpy, "ch-c", "cat /etc/motd") == "first\n"
    assert lxpy.run("config", "get", "ch-a", "limits.memory").stdout.strip() == "64M"
    table = lxpy.run("ps", *f).stdout.splitlines()
    assert table[0].split() == ["SERVICE", "CONTAINER", "STATE", "IPV4", "PORTS"]
    assert [row.split()[:3] for row in table[1:]] == [
        ["a", "ch-a", "RUNNING"],
        ["b", "ch-b", "RUNNING"],
        ["c", "ch-c", "RUNNING"],
    ]
    assert "127.0.0.1:18931->80/tcp" in table[2]
    rows = json.loads(lxpy.run("ps", "--fleet", "ch", "--format", "json").stdout)
    assert [r["state"] for r in rows] == ["RUNNING"] * 3 and rows[0]["ipv4"]
    assert lxpy.run("fleet", "ls").stdout.splitlines()[1].split()[:4] == [
        "ch",
        "3",
        "3",
        "(default)",
    ]

    again = lxpy.run("up", *f)
    assert "nothing to change" in again.stderr
    assert start_times(lxpy, ["ch-a", "ch-b", "ch-c"]) == times, "up restarted a container"

    # A changed file goes to its container alone; a changed limit applies live.
    (tmp_path / "motd").write_text("second\n")
    path.write_text(path.read_text().replace('"64M"', '"96M"'))
    changed = lxpy.run("up", *f)
    steps = sorted(tuple(line.split()[:2]) for line in changed.stderr.splitlines()[1:])
    assert steps == [("ch-a", "limited"), ("ch-c", "pushed")], changed.stderr
    assert sh(lxpy, "ch-c", "cat /etc/motd") == "second\n"
    assert lxpy.run("config", "get", "ch-a", "limits.memory").stdout.strip() == "96M"
    assert start_times(lxpy, ["ch-a", "ch-b", "ch-c"]) == times

    # A new template is reported, not applied: --recreate makes that container anew.
    path.write_text(
        path.read_text().replace("[containers.c]\n", '[containers.c]\ntemplate = "debian"\n')
    )
    noted = lxpy.run("up", *f)
    assert "ch-c: template busybox -> debian: `lxpy up --recreate c`" in noted.stderr
    assert "nothing to change" in noted.stderr
    path.write_text(path.read_text().replace('template = "debian"\n', ""))
    sh(lxpy, "ch-c", "touch /root/mine")
    remade = lxpy.run("up", *f, "--recreate", "c", timeout=120)
    assert [tuple(line.split()[:2]) for line in remade.stderr.splitlines()[1:]] == [
        ("ch-c", "destroyed"),
        ("ch-c", "created"),
        ("ch-c", "pushed"),
        ("ch-c", "started"),
        ("ch-c", "ready"),
    ], remade.stderr
    assert sh(lxpy, "ch-c", "cat /etc/motd; ls /root") == "second\n"
    assert start_times(lxpy, ["ch-a", "ch-b"]) == {k: times[k] for k in ("ch-a", "ch-b")}

    down = lxpy.run("down", *f, timeout=120)
    stopped = [line.split()[0] for line in down.stderr.splitlines() if "stopped" in line]
    assert stopped == ["ch-c", "ch-b", "ch-a"]
    assert {lxpy.state(n) for n in ("ch-a", "ch-b", "ch-c")} == {"STOPPED"}

    refused = lxpy.run("down", *f, "--destroy", check=False)
    assert refused.returncode != 0 and "-y" in refused.stderr
    lxpy.run("down", "--fleet", "ch", "--destroy", "-y", timeout=120)
    assert lxpy.run("ls").stdout.count("\n") <= 1
    assert lxpy.run("fleet", "ls").stdout.count("\n") == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[fleet]\nname = "bad"\n[containers.a]\nbogus = 1\n', "containers.a.bogus: unknown key"),
        (
            '[fleet]\nname = "bad"\n[containers.a]\n[containers.b]\ndepends_on = ["c"]\n'
            '[containers.c]\ndepends_on = ["b"]\n',
            "containers.b.depends_on: a cycle",
        ),
        (
            '[fleet]\nname = "bad"\n[containers.a]\nfiles = { "/x" = "nope" }\n',
            "nope: No such file",
        ),
    ],
)
def test_a_refused_project_makes_nothing(lxpy: Lxpy, tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "lxpy.toml"
    path.write_text(text)
    result = lxpy.run("up", "-f", str(tmp_path), check=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lxpy: {path}:"), lines
    assert words in lines[0]
    assert not os.listdir(lxpy.paths.containers) if os.path.isdir(lxpy.paths.containers) else True
    assert not os.path.exists(f"{lxpy.paths.lib}/fleets/bad.toml")


@pytest.mark.integration
def test_a_failing_provisioning_stops_up_and_keeps_only_that_container(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    project(
        tmp_path,
        """\
        [fleet]
        name = "pf"

        [containers.ok]

        [containers.bad]
        provision = ["setup.sh"]

        [containers.after]
        depends_on = ["bad"]
        """,
        **{"setup.sh": "#!/bin/sh\necho preparing the thing\necho it broke >&2\nexit 7\n"},
    )
    result = lxpy.run("up", "-f", str(tmp_path), check=False, timeout=120)
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"lxpy: {tmp_path}/lxpy.toml: container bad: provisioning failed")
    assert "exited 7" in error
    assert "  | preparing the thing" in result.stderr and "  | it broke" in result.stderr
    left = sorted(n for n in os.listdir(lxpy.paths.containers) if not n.startswith("."))
    assert left == ["pf-bad"], result.stderr
    assert lxpy.state("pf-bad") == "RUNNING"  # for a look inside


@pytest.mark.integration
def test_a_container_of_the_same_name_not_made_by_up_is_left_alone(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    lxpy.run("create", "ow-a", "--network", "none")
    project(tmp_path, '[fleet]\nname = "ow"\n[containers.a]\nfiles = { "/x" = "x" }\n', x="x")
    result = lxpy.run("up", "-f", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "container a: ow-a exists and is not fleet ow's" in result.stderr
    pulled = lxpy.run("file", "pull", "ow-a", "/x", str(tmp_path / "back"), check=False)
    assert pulled.returncode != 0 and "No such file" in pulled.stderr  # nothing was pushed
    assert not os.path.exists(f"{lxpy.paths.lib}/fleets/ow.toml")


@pytest.mark.integration
def test_a_ready_check_that_never_passes_times_out_with_its_output(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    project(
        tmp_path,
        """\
        [fleet]
        name = "rd"
        [containers.a]
        ready = "echo not yet; exit 3"
        ready_timeout = 1.5
        """,
    )
    result = lxpy.run("up", "-f", str(tmp_path), check=False, timeout=120)
    assert result.returncode != 0
    assert (
        "container a: ready check `echo not yet; exit 3` did not pass within 1.5 s" in result.stderr
    )
    assert "(last exit status 3)" in result.stderr and "  | not yet" in result.stderr


@pytest.mark.integration
def test_a_fleet_snapshot_brings_every_container_back_to_one_moment(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    project(
        tmp_path,
        """\
        [fleet]
        name = "sn"
        [containers.a]
        [containers.b]
        depends_on = ["a"]
        """,
    )
    lxpy.run("up", "-f", str(tmp_path), timeout=120)
    for name in ("sn-a", "sn-b"):
        sh(lxpy, name, "echo before > /root/state")
    taken = lxpy.run("snapshot", "--fleet", "sn", "one")
    assert taken.stdout.strip() == "one" and "was frozen for" in taken.stderr
    assert lxpy.run("snapshot", "ls", "--fleet", "sn").stdout.split() == ["one"]
    for name in ("sn-a", "sn-b"):
        sh(lxpy, name, "echo after > /root/state")
    restored = lxpy.run("snapshot", "restore", "--fleet", "sn", "one", timeout=120)
    order = [line.split()[:2] for line in restored.stderr.splitlines()]
    assert order.index(["sn-b", "stopped"]) < order.index(["sn-a", "stopped"])
    assert order.index(["sn-a", "started"]) < order.index(["sn-b", "started"])
    for name in ("sn-a", "sn-b"):
        assert lxpy.state(name) == "RUNNING"
        assert sh(lxpy, name, "cat /root/state") == "before\n"
    lxpy.run("snapshot", "rm", "--fleet", "sn", "one")
    assert lxpy.run("snapshot", "ls", "sn-a").stdout.count("\n") == 1
