"""Every TOML file lxpy reads goes through lxpy.config.tomlfile: a bad one is an error that
names the file, the line and the key, whichever kind of file it is."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from lxpy import config
from lxpy.config import edit
from lxpy.config.tomlfile import TomlFile
from lxpy.errors import ConfigError, LxpyError, TemplateError, UsageError
from lxpy.images import cache, manifest
from lxpy.net import model
from lxpy.paths import Paths
from lxpy.tui import settings
from tests.test_config import GOOD


def fails(
    error: type[LxpyError], where: str, words: str
) -> AbstractContextManager[pytest.ExceptionInfo[LxpyError]]:
    """Expect `error` whose message starts with "WHERE: " and holds `words`."""
    return pytest.raises(error, match=rf"^{where}: .*{words}")


def test_a_config_names_the_entry_of_an_array_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    nics = '[[network]]\nname = "net1"\n\n[[network]]\nname = "Bad_Net"\n'
    path.write_text(GOOD + nics)
    with fails(ConfigError, f"{path}:17", "network.name: a network"):
        config.load(str(path))


def test_an_old_config_with_reboot_signal_loads_and_loses_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace("[limits]", 'reboot_signal = "SIGTERM"\n\n[limits]'))
    cfg = config.load(str(path))
    assert cfg == config.parse("x", GOOD)
    config.save(str(path), cfg)
    assert "reboot_signal" not in path.read_text()


def test_a_value_from_the_command_line_is_named_as_given(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    cfg = config.load(str(path))
    with pytest.raises(UsageError) as caught:
        edit.changed(cfg, "limits.memory", "lots", str(path))
    assert str(caught.value) == (
        "limits.memory=lots (from the command line): 'lots' is not a size (like 512M or 2G)"
    )
    with pytest.raises(UsageError, match=r"^limits=\{\"pids\": 0\} \(from the command line\): "):
        edit.changed(cfg, "limits", {"pids": 0}, str(path))
    with pytest.raises(UsageError, match=r"^uuid \(unset on the command line\): missing"):
        edit.changed(cfg, "uuid", None, str(path))


def test_a_problem_elsewhere_names_its_real_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    overlay = '[storage]\nkind = "overlay"\nimage = "busybox/20260101T000000Z"\n'
    path.write_text(GOOD + "\n" + overlay)
    cfg = config.load(str(path))
    # Unsetting the image leaves an overlay on nothing: the error is kind's, line 15.
    with fails(ConfigError, f"{path}:15", "storage.kind: an overlay needs an image"):
        edit.changed(cfg, "storage.image", None, str(path))


def test_a_template_names_its_line_and_its_base_the_base_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / ".config/lxpy/templates"
    for name, body in [
        ("base", '[bootstrap]\nmethod = "busybox"\n\n[init.busybox]\nhalt_signal = "SIGNOPE"\n'),
        ("child", '[template]\nextends = "base"\n'),
        ("typo", '[template]\nextends = "busybox"\n\n[bootstrap]\nmethood = "busybox"\n'),
    ]:
        (templates / name).mkdir(parents=True)
        (templates / name / "template.toml").write_text(body)
    monkeypatch.setenv("HOME", str(tmp_path))
    with fails(TemplateError, f"{templates}/typo/template.toml:5", "bootstrap.methood: unknown"):
        manifest.find("typo")
    with fails(TemplateError, f"{templates}/base/template.toml:5", "init.busybox.halt_signal"):
        manifest.find("child")


def test_a_network_file_names_its_line(tmp_path: Path) -> None:
    paths = Paths.for_root(str(tmp_path))
    Path(model.networks_dir(paths)).mkdir(parents=True)
    path = f"{model.networks_dir(paths)}/net1.toml"
    Path(path).write_text('subnet = "10.9.8.0/24"\ncolour = "red"\n')
    with fails(ConfigError, f"{path}:2", "colour: unknown key"):
        model.load(paths, "net1")
    Path(path).write_text('domain = "lxpy"\nsubnet = "10.9.8.0/30"\n')
    with fails(ConfigError, f"{path}:2", "subnet: too small"):
        model.load(paths, "net1")


def test_tui_toml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tui.toml"
    path.write_text('refresh = 2\n\n[keys]\nstart = "x"\nlaunch = "y"\n')
    with fails(ConfigError, f"{path}:5", "keys.launch: unknown action"):
        settings.load(str(path))
    path.write_text("refresh = 2\nshell = [\n")
    with fails(ConfigError, f"{path}:2", "malformed TOML"):
        settings.load(str(path))


def test_image_toml_names_its_line(tmp_path: Path) -> None:
    build = tmp_path / "busybox/20260101T000000Z"
    build.mkdir(parents=True)
    good = 'built = "2026-01-01T00:00:00Z"\nseconds = 1.5\ndownload_seconds = 0.0\nsize = 4096\n'
    (build / "image.toml").write_text(good + "[plan]\nmethod = 1\n")
    assert cache.read(str(build), "busybox", "20260101T000000Z").seconds == 1.5
    (build / "image.toml").write_text(good.replace("size = 4096", 'size = "big"') + "[plan]\n")
    with fails(ConfigError, f"{build}/image.toml:4", "size: expected int, got str"):
        cache.read(str(build), "busybox", "20260101T000000Z")
    paths = Paths.for_root(str(tmp_path / "root"))
    Path(paths.images).parent.mkdir(parents=True)
    Path(paths.images).symlink_to(tmp_path)
    assert cache.images(paths) == []  # an unreadable build is not offered


def test_a_table_where_a_value_was_expected_is_named() -> None:
    file = TomlFile("t.toml", 'keys = "s"\n')
    with fails(ConfigError, "t.toml:1", "keys: expected a table"):
        settings.from_table(file.top({"keys": "s"}))
