"""config.toml: strict parsing with file:line errors, atomic writes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from lxpy import config
from lxpy.config import ContainerConfig
from lxpy.config.signals import parse_signal
from lxpy.config.tomlfile import MAX_BYTES
from lxpy.errors import ConfigError
from tests.conftest import Lxpy

GOOD = """\
template = "busybox"
created = "2026-01-01T00:00:00Z"
uuid = "0123456789abcdef0123456789abcdef"
hostname = "c1"

[init]
kind = "busybox"
command = ["/sbin/init"]
halt_signal = "SIGUSR2"

[limits]
pids = 100
"""


def test_round_trip(tmp_path: Path) -> None:
    cfg = config.parse("x", GOOD)
    assert cfg.limits.pids == 100
    assert cfg.init.halt_signum == signal.SIGUSR2
    path = tmp_path / "config.toml"
    config.save(str(path), cfg)
    assert config.load(str(path)) == cfg
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_user_round_trips_and_is_left_out_when_there_is_none(tmp_path: Path) -> None:
    assert "[user]" not in config.dump(config.parse("x", GOOD))
    cfg = config.parse("x", GOOD + '[user]\nname = "alice"\ndefault = true\n')
    assert (cfg.user.name, cfg.user.default) == ("alice", True)
    assert config.parse("x", config.dump(cfg)) == cfg


def test_an_overlay_stands_on_an_image_build_or_a_package_layer_of_it() -> None:
    def storage(image: str) -> str:
        return f'{GOOD}\n[storage]\nkind = "overlay"\nimage = "{image}"\n'

    for image in ("debian-trixie-amd64-minbase-0123abcd4567/20260101T000000Z",):
        for ref in (image, f"{image}/pkg-0123456789ab"):
            assert config.parse("x", storage(ref)).storage.image == ref
    for bad in ("key/build/pkg-../../x", "key/build/other", "key/build/pkg-0123456789ab/more"):
        with pytest.raises(ConfigError, match="KEY/BUILD or KEY/BUILD/LAYER"):
            config.parse("x", storage(bad))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("pids = 100", "pids = -1"), 12, "limits.pids"),
        (GOOD.replace("pids = 100", 'pids = "many"'), 12, "expected int"),
        (GOOD.replace('kind = "busybox"', 'kind = "upstart"'), 7, "init.kind"),
        (GOOD.replace('halt_signal = "SIGUSR2"', 'halt_signal = "SIGNOPE"'), 9, "unknown signal"),
        (GOOD + "colour = 1\n", None, "unknown key"),
        (GOOD.replace('hostname = "c1"', 'hostname = "c1\\nevil"'), 4, "newline"),
        (GOOD.replace('command = ["/sbin/init"]', 'command = ["sbin/init"]'), 8, "absolute"),
        (GOOD.replace('template = "busybox"', "template = busybox"), 1, "malformed TOML"),
        (GOOD.replace('uuid = "0123456789abcdef0123456789abcdef"', ""), None, "uuid: missing"),
        (GOOD + '[user]\nname = "Alice; rm"\n', 14, "user.name"),
        (GOOD + "[user]\ndefault = true\n", None, "user.name: missing"),
        (GOOD + '[user]\nname = "alice"\nshell = "zsh"\n', 15, "unknown key"),
    ],
)
def test_bad_values_name_file_line_and_key(text: str, line: int | None, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse("/x/config.toml", text)
    message = str(caught.value)
    assert words in message
    if line is not None:
        assert message.startswith(f"/x/config.toml:{line}:"), message


def test_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD + "# " + "x" * (MAX_BYTES + 10) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        config.load(str(path))


def test_signal_names() -> None:
    assert parse_signal("SIGRTMIN+3") == signal.SIGRTMIN + 3
    assert parse_signal("pwr") == signal.SIGPWR
    assert parse_signal("15") == 15
    for bad in ("SIGFOO", "0", "999"):
        with pytest.raises(ValueError):
            parse_signal(bad)


def test_atomic_write_keeps_the_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    cfg: ContainerConfig = config.parse("x", GOOD)
    with pytest.raises(OSError):
        config.save(str(path), cfg.with_changes(hostname="other"))
    monkeypatch.undo()
    assert path.read_text() == GOOD
    assert os.listdir(tmp_path) == ["config.toml"]


@pytest.mark.integration
def test_malformed_config_is_reported_and_left_alone(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    path = lxpy.paths.config_file("c1")
    with open(path) as f:
        original = f.read()
    broken = original.replace("[limits]", "[limits\n")
    with open(path, "w") as f:
        f.write(broken)
    result = lxpy.run("start", "c1", check=False)
    assert result.returncode == 1
    assert f"{path}:" in result.stderr and "malformed TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with open(path) as f:
        assert f.read() == broken
    listed = lxpy.run("ls").stdout
    assert "c1" in listed


def test_a_saved_config_is_cached_in_plain_values(tmp_path: Path) -> None:
    """The kinds are StrEnums, which marshal cannot hold: to_dict gives their text."""
    path, cache = tmp_path / "config.toml", tmp_path / "cache"
    cfg = config.parse("x", GOOD)
    config.save(str(path), cfg, cache=str(cache))
    assert cache.exists()
    assert config.load(str(path), cache=str(cache)) == cfg
    assert type(cfg.to_dict()["init"]["kind"]) is str


@pytest.mark.integration
def test_limits_past_the_host_warn_and_bad_values_name_the_command_line(lxpy: Lxpy) -> None:
    made = lxpy.run("create", "w1", "--network", "none", "--memory", "100T")
    assert made.stdout == "w1\n"
    assert "lxpy: warning: limits.memory 100T: more than this host's" in made.stderr
    changed = lxpy.run("config", "set", "w1", "limits.memory=200T")
    assert "warning: limits.memory 200T" in changed.stderr
    quiet = lxpy.run("config", "set", "w1", "limits.memory=64M")
    assert quiet.stderr == ""
    bad = lxpy.run("config", "set", "w1", "limits.memory=lots", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("lxpy: limits.memory=lots (from the command line): ")
    assert lxpy.run("config", "get", "w1", "limits.memory").stdout == "64M\n"
