"""Templates: discovery, sandboxed rendering, confined output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxpy.errors import NotFound, TemplateError, UsageError
from lxpy.images import manifest, render
from lxpy.linux import safefs
from tests.conftest import Lxpy, without_other_roots


def test_busybox_is_shipped() -> None:
    template = manifest.find("busybox")
    assert template.bootstrap.method == "busybox"
    assert template.init_kind == "busybox"
    assert template.inits["busybox"].halt_signal == "SIGUSR2"
    assert template.inits["busybox"].reboot_signal == "SIGTERM"
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


def test_include_of_a_symlink_out_of_the_template_is_refused(tmp_path: Path) -> None:
    files = tmp_path / "files"
    (files / "etc").mkdir(parents=True)
    (files / "leak").symlink_to("/etc/shadow")
    (files / "etc/motd.j2").write_text("{% include 'leak' %}\n")
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    fd = safefs.open_tree(str(rootfs))
    try:
        with pytest.raises(TemplateError, match="leak"):
            render.render_tree(files, fd, {})
    finally:
        os.close(fd)
    assert not (rootfs / "etc/motd").exists()


def test_empty_renders_are_skipped_and_links_rendered(tmp_path: Path) -> None:
    files = tmp_path / "files"
    (files / "etc").mkdir(parents=True)
    (files / "etc/inittab.j2").write_text(
        "{% if init == 'sysvinit' %}\nid:2:initdefault:\n{% endif %}\n"
    )
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    fd = safefs.open_tree(str(rootfs))
    try:
        links = {"etc/localtime": "/usr/share/zoneinfo/{{ tz }}"}
        written = render.render_tree(files, fd, {"init": "systemd", "tz": "Etc/UTC"}, links=links)
        assert written == ["/etc/localtime"]
        render.render_tree(files, fd, {"init": "sysvinit", "tz": "Etc/UTC"})
    finally:
        os.close(fd)
    assert os.readlink(rootfs / "etc/localtime") == "/usr/share/zoneinfo/Etc/UTC"
    assert (rootfs / "etc/inittab").read_text() == "id:2:initdefault:\n"


@pytest.mark.parametrize("hostile", ["hostname-link", "etc-link"])
def test_create_render_refuses_a_hostile_rootfs(tmp_path: Path, hostile: str) -> None:
    """/etc/hostname -> a host file, or /etc -> /etc: nothing on the host changes."""
    from lxpy import create
    from lxpy.config import Storage, StorageKind
    from lxpy.errors import UnsafePath

    victim = tmp_path / "victim"
    victim.write_text("host file\n")
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    if hostile == "etc-link":
        (rootfs / "etc").symlink_to("/etc")
    else:
        (rootfs / "etc").mkdir()
        (rootfs / "etc/hostname").symlink_to(victim)
    watched = (Path("/etc/hostname"), Path("/etc/hosts"), victim)

    def host_files() -> dict[Path, str]:
        # Without lxpy's blocks in /etc/hosts: tests beside this one name their containers there.
        return {p: without_other_roots(p.read_text()) for p in watched}

    before = host_files()
    fd = safefs.open_tree(str(rootfs))
    try:
        resolved = create.resolve(create.Request("debian", "c1", {}))
        cfg = create._config("c1", resolved, Storage(StorageKind.DIR, ""))
        try:
            create._render(fd, resolved, "c1", cfg)
        except (UnsafePath, OSError):
            pass  # refusing is fine; writing outside is not
    finally:
        os.close(fd)
    assert host_files() == before


def test_parameters_are_typed_and_checked() -> None:
    from lxpy.errors import UsageError

    t = manifest.find("debian")
    assert t.parameters["release"].default == "trixie"
    assert t.parameters["packages"].parse("vim, git,jq") == ["vim", "git", "jq"]
    with pytest.raises(UsageError, match="not one of"):
        t.parameters["release"].parse("potato")
    with pytest.raises(UsageError, match="newline"):
        t.parameters["user"].parse("alice\nroot::0:0")
    with pytest.raises(UsageError, match="not valid"):
        t.parameters["packages"].parse("ok,Bad Name")
    with pytest.raises(UsageError, match="no parameter"):
        t.values({"nope": "x"})


def test_ubuntu_extends_debian_and_runs_debootstrap(tmp_path: Path) -> None:
    """The Ubuntu mirror is out of reach here: the exact command is what can be checked."""
    from lxpy import create

    resolved = create.resolve(create.Request("ubuntu", "u1", {"packages": "openssh-server"}))
    assert resolved.init.kind == "systemd"
    assert resolved.packages == ("openssh-server",)  # a layer over the image, not in it
    assert resolved.template.file_trees[0].parent.name == "debian"
    plan = resolved.plan
    assert plan is not None
    argv = plan.command("/T", "/D", plan.method)
    assert argv == [
        "debootstrap",
        f"--arch={plan.arch}",
        "--variant=minbase",
        "--components=main,universe",
        "--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg",
        "--include=dbus,iproute2,libpam-systemd,sudo,systemd-sysv,tzdata",
        "--cache-dir=/D",
        "noble",
        "/T",
        "http://archive.ubuntu.com/ubuntu",
        "/usr/share/debootstrap/scripts/gutsy",
    ]
    with pytest.raises(Exception, match="not one of"):
        create.resolve(create.Request("ubuntu", "u1", {"init": "sysvinit"}))


def test_debian_plan_keys_the_cache() -> None:
    from lxpy import create

    def key(**parameters: str) -> str:
        plan = create.resolve(create.Request("debian", "d", parameters)).plan
        assert plan is not None
        return plan.key

    assert key() == key(user="alice", timezone="Europe/Paris")  # per-container settings
    assert key() != key(release="bookworm")
    assert key() != key(init="sysvinit")
    assert key() == key(packages="vim,git")  # extra packages are a layer over the image
    assert key().startswith("debian-trixie-")
    plan = create.resolve(create.Request("debian", "d", {})).plan
    assert plan is not None
    argv = plan.command("/T", "/D", "mmdebstrap")
    assert "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg" in argv
    assert argv[-3:] == ["trixie", "/T", "http://deb.debian.org/debian"]


def test_package_sets_expand_in_the_packages_parameter() -> None:
    from lxpy import create

    dev = create.resolve(create.Request("debian", "d", {"packages": "@dev,htop,git"}))
    assert dev.packages == tuple(
        sorted(
            (
                *("ca-certificates", "curl", "less", "vim-tiny", "procps", "iproute2"),
                *("iputils-ping", "python3", "sudo", "openssh-server", "git", "htop"),
            )
        )
    )
    assert dev.values["packages"] == list(dev.packages)  # the config records what went in
    assert dev.plan is not None and "htop" not in dev.plan.packages
    assert create.resolve(create.Request("ubuntu", "u", {"packages": "@dev"})).packages
    with pytest.raises(UsageError, match="no package set '@nope'"):
        create.resolve(create.Request("debian", "d", {"packages": "@nope"}))
    with pytest.raises(UsageError, match="not valid"):
        create.resolve(create.Request("debian", "d", {"packages": "@Dev"}))


@pytest.mark.integration
@pytest.mark.parametrize(
    "body",
    ["{{ ''.__class__.__mro__ }}\n", "{% include '/etc/shadow' %}\n", "{{ nothing }}\n"],
)
def test_hostile_user_template_is_refused(
    lxpy: Lxpy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    """A template in ~/.config/lxpy/templates that tries to escape the sandbox."""
    home = tmp_path / "home"
    evil = home / ".config/lxpy/templates/evil"
    (evil / "files/etc").mkdir(parents=True)
    (evil / "template.toml").write_text('[template]\nextends = "busybox"\n')
    (evil / "files/etc/motd.j2").write_text(body)
    monkeypatch.setenv("HOME", str(home))
    result = lxpy.run("create", "e1", "--template", "evil", check=False)
    assert result.returncode != 0
    # The error is the last line: a slow create prints its progress before it.
    last = result.stderr.splitlines()[-1]
    assert last.startswith("lxpy: ") and "motd" in last
    assert lxpy.run("ls").stdout.count("\n") <= 1


def test_systemd_258_gets_the_unified_cgroup_view(tmp_path: Path) -> None:
    from lxpy.config import CgroupView, ContainerConfig, InitConfig, InitKind
    from lxpy.runtime import guest
    from lxpy.runtime.lifecycle import cgroup_view

    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "usr/lib/x86_64-linux-gnu/systemd").mkdir(parents=True)
    (lower / "usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-257.so").touch()
    (upper / "usr/lib/systemd").mkdir(parents=True)
    roots = [str(upper), str(lower)]
    assert guest.systemd_version(roots) == 257

    def view(cgroup: str = "auto", kind: str = "systemd") -> str:
        init = InitConfig(kind=InitKind(kind), cgroup=CgroupView(cgroup))
        return cgroup_view(ContainerConfig("t", "now", "0" * 32, "h", init=init), roots)

    assert view() == "host"
    assert view("unified") == "unified"
    # An upgrade inside the container puts the new library in the upper layer.
    (upper / "usr/lib/systemd/libsystemd-shared-258.so").touch()
    assert guest.systemd_version(roots) == 258
    assert view() == "unified"
    assert view("host") == "host"
    assert view(kind="busybox") == "host"
