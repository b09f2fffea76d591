"""Per-machine secrets: template.toml's [secrets], their removal from a tree (confined to it),
the overlay whiteout that hides an image's copy, and the first-boot files the debian template
renders. The real boots (three machines, three keys) are in test_debian.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy import config, create
from lxpy.config import Storage, StorageKind
from lxpy.errors import ConfigError, TemplateError
from lxpy.images import manifest
from lxpy.images.plan import Plan
from lxpy.linux import safefs
from lxpy.storage import overlay, secrets

MINIMAL = '[template]\ndescription = "t"\n[bootstrap]\nmethod = "busybox"\n'


def write_template(base: Path, name: str, text: str) -> Path:
    directory = base / name
    (directory / "files").mkdir(parents=True)
    (directory / "template.toml").write_text(text)
    return directory


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user template directory on the search path (lxpy looks in $HOME)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    base = tmp_path / ".config/lxpy/templates"
    base.mkdir(parents=True)
    return base


def test_debian_declares_its_secrets() -> None:
    t = manifest.find("debian")
    assert t.secrets["ssh_host_keys"] == manifest.Secret(
        "ssh_host_keys", ("etc/ssh/ssh_host_*",), ("ssh-keygen", "-A")
    )
    assert t.secrets["snakeoil"].paths == (
        "etc/ssl/private/ssl-cert-snakeoil.key",
        "etc/ssl/certs/ssl-cert-snakeoil.pem",
    )
    assert t.secrets["random_seed"].command == ()
    assert t.secret_commands == [
        "ssh-keygen -A",
        "make-ssl-cert generate-default-snakeoil --force-overwrite",
    ]
    assert "var/lib/systemd/random-seed" in t.secret_paths
    assert manifest.find("ubuntu").secrets == t.secrets  # inherited through extends
    assert manifest.find("busybox").secrets == {}


def test_an_extending_template_adds_secrets_and_keeps_its_parents(templates: Path) -> None:
    write_template(
        templates,
        "app",
        '[template]\nextends = "debian"\n'
        '[secrets.app_token]\npaths = ["/var/lib/app/token"]\n'
        'command = ["/usr/bin/app", "--new-token"]\n',
    )
    t = manifest.find("app")
    assert t.secrets["app_token"].paths == ("var/lib/app/token",)  # the leading / is dropped
    assert set(t.secrets) == {"ssh_host_keys", "snakeoil", "random_seed", "app_token"}
    assert "/usr/bin/app --new-token" in t.secret_commands


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ('[secrets.x]\npaths = ["../etc/shadow"]\n', "secrets.x.paths"),
        ('[secrets.x]\npaths = ["etc/./ssh"]\n', "without . or .."),
        ('[secrets.x]\npaths = ["proc/self/environ"]\n', "/proc is the container's own"),
        ('[secrets.x]\npaths = ["etc//x"]\n', "an empty part"),
        ("[secrets.x]\npaths = []\n", "at least one path"),
        ("[secrets.x]\ncommand = []\n", "at least one path"),
        ('[secrets.x]\npaths = ["a"]\nrun = ["true"]\n', "unknown key"),
        ('[secrets.x]\npaths = "etc/ssh/key"\n', "expected"),
        ('[secrets.x]\npaths = ["a"]\ncommand = ["rm -rf /"]\n', "program name"),
        ('[secrets.x]\npaths = ["a"]\ncommand = ["sh", "x\\ny"]\n', "newline"),
        ('[secrets.Bad]\npaths = ["a"]\n', "lowercase"),
        ('[secrets]\nx = "etc/ssh"\n', "expected a table"),
    ],
)
def test_bad_secrets_name_the_file_and_the_key(templates: Path, entry: str, words: str) -> None:
    write_template(templates, "bad", MINIMAL + entry)
    with pytest.raises(TemplateError, match=r"bad/template\.toml") as caught:
        manifest.find("bad")
    assert words in str(caught.value)


def test_secret_commands_is_a_reserved_name(templates: Path) -> None:
    write_template(templates, "bad", MINIMAL + "[parameters.secret_commands]\n")
    with pytest.raises(TemplateError, match="reserved"):
        manifest.find("bad")


def test_secrets_key_the_image_and_go_into_the_plan() -> None:
    plan = create.resolve(create.Request("debian", "d", {})).plan
    assert plan is not None and plan.secrets == manifest.find("debian").secret_paths
    fields = {k: v for k, v in plan.__dict__.items() if k != "secrets"}
    assert Plan(**fields, secrets=("etc/other",)).key != plan.key
    # A plan without secrets keys as plans did before secrets existed: the hash of its fields.
    import hashlib
    import json

    bare = Plan(**fields)
    content = {k: v for k, v in bare.__dict__.items() if k not in ("method", "template", "script")}
    del content["secrets"]
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
    assert bare.key.endswith(digest)


def test_the_config_records_them_and_checks_them(tmp_path: Path) -> None:
    resolved = create.resolve(create.Request("debian", "c1", {}))
    cfg = create._config("c1", resolved, Storage(StorageKind.DIR, ""))
    assert cfg.secrets == resolved.template.secret_paths
    config.save(str(tmp_path / "config.toml"), cfg)
    assert config.load(str(tmp_path / "config.toml")).secrets == cfg.secrets
    text = (tmp_path / "config.toml").read_text().replace("etc/ssh/ssh_host_*", "../../etc/x")
    with pytest.raises(ConfigError, match="secrets"):
        config.parse("config.toml", text)
    no_secrets = cfg.with_changes(secrets=())
    assert "secrets" not in config.dump(no_secrets)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    root = tmp_path / "rootfs"
    (root / "etc/ssh").mkdir(parents=True)
    for name in ("ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_config", ".ssh_host_x"):
        (root / "etc/ssh" / name).write_text(name)
    (root / "var/lib/app/keys").mkdir(parents=True)
    (root / "var/lib/app/keys/a").write_text("a")
    fd = safefs.open_tree(str(root))
    try:
        yield root, fd
    finally:
        os.close(fd)


def test_globs_match_inside_the_root_and_not_hidden_names(tree: tuple[Path, int]) -> None:
    root, fd = tree
    assert secrets.matches(fd, "etc/ssh/ssh_host_*") == [
        "etc/ssh/ssh_host_rsa_key",
        "etc/ssh/ssh_host_rsa_key.pub",
    ]
    assert secrets.matches(fd, "*/ssh/ssh_config") == ["etc/ssh/ssh_config"]
    assert secrets.matches(fd, "nowhere/*/x") == []
    removed = secrets.reset(fd, ("etc/ssh/ssh_host_*", "var/lib/app/keys", "etc/none"))
    assert removed == [
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
        "/var/lib/app/keys",
    ]
    assert sorted(os.listdir(root / "etc/ssh")) == [".ssh_host_x", "ssh_config"]
    assert not (root / "var/lib/app/keys").exists()
    assert (root / secrets.MARKER).is_file()
    assert secrets.reset(fd, ()) == []


def test_planted_symlinks_never_reach_the_host(tree: tuple[Path, int], tmp_path: Path) -> None:
    """A secret that is a symlink to a host file, or a directory on the way that is a
    symlink to a host directory: the link goes, the host's files stay."""
    root, fd = tree
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "ssh_host_ed25519_key").write_text("host key")
    victim = tmp_path / "victim"
    victim.write_text("host file")
    (root / "etc/ssh/ssh_host_rsa_key").unlink()
    (root / "etc/ssh/ssh_host_rsa_key").symlink_to(victim)
    (root / "srv").symlink_to(host_dir)  # absolute: inside the root, /srv -> <root>/<host_dir>
    removed = secrets.remove(fd, ("etc/ssh/ssh_host_*", "srv/ssh_host_*"))
    assert "/etc/ssh/ssh_host_rsa_key" in removed and not any("srv" in r for r in removed)
    assert victim.read_text() == "host file"
    assert (host_dir / "ssh_host_ed25519_key").read_text() == "host key"


@pytest.mark.integration
def test_on_an_overlay_a_whiteout_hides_the_lower_layers_keys(tmp_path: Path) -> None:
    """A snapshot clone or an image from before secrets: the key is in a lower layer, which
    stays as it is; the container's upper layer hides it."""
    lower = tmp_path / "lower"
    (lower / "etc/ssh").mkdir(parents=True)
    (lower / "etc/ssh/ssh_host_ed25519_key").write_text("shared")
    base = tmp_path / "c"
    base.mkdir()
    overlay.make_overlay_dirs(str(base))
    fd = overlay.mount_detached(((str(lower),), f"{base}/overlay/upper", f"{base}/overlay/work"))
    try:
        assert secrets.reset(fd, ("etc/ssh/ssh_host_*",)) == ["/etc/ssh/ssh_host_ed25519_key"]
        assert not safefs.exists(fd, "etc/ssh/ssh_host_ed25519_key")
    finally:
        os.close(fd)
    assert (lower / "etc/ssh/ssh_host_ed25519_key").read_text() == "shared"
    whiteout = os.lstat(base / "overlay/upper/etc/ssh/ssh_host_ed25519_key")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert (base / "overlay/upper" / secrets.MARKER).is_file()


def render_into(root: Path, resolved: create.Resolved) -> None:
    """The template's files for container c1, rendered into the directory `root`."""
    cfg = create._config("c1", resolved, Storage(StorageKind.DIR, ""))
    fd = safefs.open_tree(str(root))
    try:
        create._render(fd, resolved, "c1", cfg)
    finally:
        os.close(fd)


@pytest.mark.parametrize("init", ["systemd", "sysvinit"])
def test_debian_renders_the_first_boot_unit_for_its_init(tmp_path: Path, init: str) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    render_into(root, create.resolve(create.Request("debian", "c1", {"init": init})))
    script = root / "usr/libexec/lxpy/regenerate-secrets"
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and script.stat().st_mode & 0o777 == 0o755
    assert f"marker=/{secrets.MARKER}\n" in text
    assert "    ssh-keygen -A\n" in text and "if command -v make-ssl-cert " in text
    unit = root / "etc/systemd/system/lxpy-secrets.service"
    wants = root / "etc/systemd/system/sysinit.target.wants/lxpy-secrets.service"
    initd = root / "etc/init.d/lxpy-secrets"
    if init == "systemd":
        assert f"ConditionPathExists=/{secrets.MARKER}\n" in unit.read_text()
        assert "Before=sysinit.target ssh.service" in unit.read_text()
        assert os.readlink(wants) == "/etc/systemd/system/lxpy-secrets.service"
        assert not initd.exists()
    else:
        assert "# X-Start-Before:    ssh\n" in initd.read_text()
        assert initd.stat().st_mode & 0o777 == 0o755
        inittab = (root / "etc/inittab").read_text()
        assert inittab.index("sysinit:/etc/init.d/rcS") < inittab.index(
            "sysinit:/etc/init.d/lxpy-secrets start"
        )
        assert not unit.exists() and not wants.is_symlink()


def test_a_template_without_commands_renders_no_first_boot_files(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    resolved = create.resolve(create.Request("debian", "c1", {}))
    bare = manifest.Template(**{**resolved.template.__dict__, "secrets": {}})
    render_into(root, create.Resolved(bare, resolved.values, resolved.init, resolved.plan))
    assert not (root / "usr/libexec/lxpy").exists()
    assert not (root / "etc/systemd/system/lxpy-secrets.service").exists()
    assert not (root / "etc/systemd/system/sysinit.target.wants").exists()
