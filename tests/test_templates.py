"""Templates: discovery, sandboxed rendering, confined output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxpy.errors import NotFound, TemplateError
from lxpy.images import manifest, render
from lxpy.linux import safefs


def test_busybox_is_shipped() -> None:
    template = manifest.find("busybox")
    assert template.bootstrap == "busybox"
    assert template.init_kind == "busybox"
    assert template.halt_signal == "SIGUSR2"
    assert (template.files / "etc/inittab.j2").is_file()


def test_unknown_template() -> None:
    with pytest.raises(NotFound, match="unknown template 'nope'"):
        manifest.find("nope")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ undefined_variable }}",
        "{% include '/etc/shadow' %}",
    ],
)
def test_sandbox_refuses_escapes(source: str) -> None:
    with pytest.raises(TemplateError):
        render.render_string(source, {"hostname": "c1"})


def test_values_with_newlines_are_refused() -> None:
    with pytest.raises(TemplateError, match="newline"):
        render.render_string("{{ hostname }}", {"hostname": "c1\nevil"})


def test_render_tree_writes_inside_the_root(tmp_path: Path) -> None:
    files = tmp_path / "files"
    (files / "etc").mkdir(parents=True)
    (files / "etc/hostname.j2").write_text("{{ hostname }}\n")
    (files / "etc/motd").write_text("hello\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.write_text("untouched\n")
    (rootfs / "etc/motd").symlink_to(outside)
    fd = safefs.open_tree(str(rootfs))
    try:
        written = render.render_tree(files, fd, {"hostname": "c1"})
    finally:
        os.close(fd)
    assert sorted(written) == ["/etc/hostname", "/etc/motd"]
    assert (rootfs / "etc/hostname").read_text() == "c1\n"
    assert outside.read_text() == "untouched\n"
