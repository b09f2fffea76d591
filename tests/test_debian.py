"""Debian containers, bootstrapped from the real archive, booting systemd or sysvinit as PID 1.

Slow: the first create of each kind bootstraps (15-25 s with downloads). One state root is
shared by the whole module so every image is built once; each test destroys its own
containers, and the module checks for leaks at the end.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy.net import model
from lxpy.storage import overlay
from lxpy.storage.trees import tree_size
from tests.conftest import Lxpy, temporary_root, without_other_roots

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def distro_root() -> Iterator[Lxpy]:
    with temporary_root("lxpy-debian-") as lx:
        yield lx


@pytest.fixture
def deb(distro_root: Lxpy) -> Iterator[Lxpy]:
    """The shared root; containers a test made are destroyed when it ends, pass or fail."""
    before = containers_of(distro_root)
    yield distro_root
    for name in containers_of(distro_root) - before:
        distro_root.run("destroy", "--force", name, check=False, timeout=120)


def containers_of(lx: Lxpy) -> set[str]:
    """The root's containers on disk (none before its first: no containers dir yet)."""
    try:
        return {n for n in os.listdir(lx.paths.containers) if not n.startswith(".")}
    except FileNotFoundError:
        return set()


def attach(
    lx: Lxpy, name: str, *cmd: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    extra = ["--user", user] if user else []
    return subprocess.run(
        [*lx_argv(lx), "attach", name, *extra, "--", *cmd],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def lx_argv(lx: Lxpy) -> list[str]:
    import sys

    return [sys.executable, "-m", "lxpy", "--root", lx.root]


def system_running(lx: Lxpy, name: str, within: float = 10.0) -> str:
    """What `systemctl is-system-running --wait` prints, asked until `within` seconds have
    passed since start (systemd's bus socket appears a few milliseconds into boot)."""
    deadline = time.monotonic() + within
    out = ""
    while time.monotonic() < deadline:
        result = attach(lx, name, "systemctl", "is-system-running", "--wait")
        out = result.stdout.strip()
        if out in ("running", "degraded"):
            return out
        time.sleep(0.1)
    return out


def rebooted(lx: Lxpy, name: str, within: float = 20.0) -> bool:
    """`systemctl reboot` inside; True once a new init runs in its place."""
    first = json.loads(lx.run("info", name, "--format", "json").stdout)["pid"]
    attach(lx, name, "systemctl", "reboot")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        time.sleep(0.2)
        pid = json.loads(lx.run("info", name, "--format", "json").stdout)["pid"]
        if pid not in (first, None):
            return True
    return False


# One image for the tests that need sshd and a snakeoil certificate.
SSH_PACKAGES = "openssh-server,ssl-cert"


def create_and_start(lx: Lxpy, name: str, *options: str) -> float:
    lx.run("create", name, "--template", "debian", "--quiet", *options, timeout=600)
    started = time.monotonic()
    lx.run("start", name)
    return started


def test_trixie_boots_systemd_to_running(deb: Lxpy) -> None:
    started = create_and_start(deb, "dev")
    assert system_running(deb, "dev") == "running"
    assert time.monotonic() - started < 10
    failed = attach(deb, "dev", "systemctl", "--failed", "--no-legend", "--plain")
    assert failed.returncode == 0 and failed.stdout.strip() == "", failed.stdout
    # eth0 got its address by DHCP during boot (systemd-networkd), the one lxpy keeps for it.
    address = json.loads(deb.run("info", "dev", "--format", "json").stdout)["ipv4"][0]
    deadline = time.monotonic() + 10
    while f"inet {address}/" not in attach(deb, "dev", "ip", "-4", "addr", "show", "eth0").stdout:
        assert time.monotonic() < deadline, "no DHCP address on eth0"
        time.sleep(0.2)
    journal = attach(deb, "dev", "journalctl", "-b", "--no-pager", "-q")
    assert journal.returncode == 0 and "Startup finished" in journal.stdout
    virt = attach(deb, "dev", "systemd-detect-virt", "-c")
    assert virt.returncode == 0 and virt.stdout.strip() not in ("", "none")
    host = attach(deb, "dev", "cat", "/run/host/container-manager", "/etc/machine-id")
    uuid = json.loads(deb.run("info", "dev", "--format", "json").stdout)["config"]["uuid"]
    assert host.stdout.split() == ["lxpy", uuid]
    # systemd may not write its own cgroup v1 release_agent (CVE-2022-0492) nor remount.
    probe = attach(deb, "dev", "sh", "-c", "ls /sys/fs/cgroup/*/release_agent 2>/dev/null; true")
    assert probe.stdout.strip() == ""
    # console-getty gives a login prompt on the console.
    deadline = time.monotonic() + 10
    while b"login:" not in (log := deb.run("console", "dev", "--log").stdout.encode()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert b"login:" in log
    t0 = time.monotonic()
    deb.run("stop", "dev")
    assert time.monotonic() - t0 < 5
    assert deb.state("dev") == "STOPPED"
    assert "halt or poweroff" in deb.run("console", "dev", "--log").stdout


def test_reboot_restarts_and_poweroff_stops(deb: Lxpy) -> None:
    create_and_start(deb, "rb")
    assert system_running(deb, "rb") == "running"
    assert rebooted(deb, "rb"), "init did not come back after reboot"
    assert system_running(deb, "rb") == "running"
    attach(deb, "rb", "systemctl", "poweroff")
    assert deb.wait_state("rb", "STOPPED", timeout=20) == "STOPPED"


def test_bookworm_boots_systemd_252(deb: Lxpy) -> None:
    create_and_start(deb, "bw", "--release", "bookworm")
    assert system_running(deb, "bw") == "running"
    version = attach(deb, "bw", "systemctl", "--version").stdout
    assert version.startswith("systemd 252")
    failed = attach(deb, "bw", "systemctl", "--failed", "--no-legend", "--plain")
    assert failed.stdout.strip() == ""
    t0 = time.monotonic()
    deb.run("stop", "bw")
    assert time.monotonic() - t0 < 5


def test_sysvinit_boots_and_stops_cleanly(deb: Lxpy) -> None:
    # With sshd: its host keys are made at first boot, from inittab, before rc 2 starts it.
    create_and_start(deb, "sv", "--set", "init=sysvinit", "--packages", SSH_PACKAGES)
    deadline = time.monotonic() + 15
    log = ""
    while "login:" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = deb.run("console", "sv", "--log").stdout
    assert "INIT: version" in log and "login:" in log
    address = json.loads(deb.run("info", "sv", "--format", "json").stdout)["ipv4"][0]
    assert f"inet {address}/" in attach(deb, "sv", "ip", "-4", "addr", "show", "eth0").stdout
    assert attach(deb, "sv", "cat", "/proc/1/comm").stdout.strip() == "init"
    assert attach(deb, "sv", "pidof", "sshd").returncode == 0
    keys = ("/etc/ssh/ssh_host_ed25519_key", "/etc/ssl/private/ssl-cert-snakeoil.key")
    first = attach(deb, "sv", "sha256sum", *keys).stdout.split()[::2]
    assert len(first) == 2
    assert attach(deb, "sv", "test", "-e", "/var/lib/lxpy/regenerate-secrets").returncode
    t0 = time.monotonic()
    deb.run("stop", "sv")
    assert time.monotonic() - t0 < 10
    log = deb.run("console", "sv", "--log").stdout
    assert "Will now halt" in log and "halt or poweroff" in log
    deb.run("clone", "sv", "sv2")
    deb.run("start", "sv2")
    deadline = time.monotonic() + 15
    while attach(deb, "sv2", "pidof", "sshd").returncode and time.monotonic() < deadline:
        time.sleep(0.2)
    second = attach(deb, "sv2", "sha256sum", *keys).stdout.split()[::2]
    assert len(second) == 2 and not set(first) & set(second)


def _host_user() -> tuple[str, int, int] | None:
    for p in pwd.getpwall():
        if 1000 <= p.pw_uid < 60000:
            return p.pw_name, p.pw_uid, p.pw_gid
    return None


def test_openssh_and_dev_user(deb: Lxpy, tmp_path: Path) -> None:
    host = _host_user()
    name = host[0] if host else "alice"
    # ssl-cert too: the image test_every_machine_has_its_own_secrets uses, built once.
    launched = deb.run(
        "launch",
        "vm",
        "-t",
        "debian",
        "-q",
        "--packages",
        SSH_PACKAGES,
        "--user",
        name,
        timeout=600,
    )
    assert launched.stdout == "vm\n" and f"lxpy shell vm    (a login shell as {name})" in (
        launched.stderr
    )
    assert system_running(deb, "vm") == "running"
    # `shell` is the box's own user; `attach` stays root until [user] default says otherwise.
    assert deb.run("shell", "vm", "--", "id", "-un").stdout == f"{name}\n"
    assert attach(deb, "vm", "id", "-un").stdout == "root\n"
    assert f"User:     {name} (lxpy shell)\n" in deb.run("info", "vm").stdout
    assert deb.run("config", "set", "vm", "user.default=true").stderr == ""
    assert attach(deb, "vm", "id", "-un").stdout == f"{name}\n"
    assert attach(deb, "vm", "id", "-un", user="root").stdout == "root\n"
    assert attach(deb, "vm", "systemctl", "is-active", "ssh").stdout.strip() == "active"
    ident = attach(deb, "vm", "id", user=name)
    assert ident.returncode == 0
    if host:
        assert f"uid={host[1]}({name}) gid={host[2]}" in ident.stdout
    else:
        assert f"({name})" in ident.stdout
    assert attach(deb, "vm", "sudo", "-n", "true", user=name).returncode == 0
    home = attach(deb, "vm", "sh", "-c", "echo $HOME; test -O $HOME && echo owner", user=name)
    assert home.stdout.split() == [f"/home/{name}", "owner"]
    # A shared folder of the host user's files: theirs inside too, writable by them.
    share = tmp_path / "src"
    share.mkdir()
    (share / "main.c").write_text("int main(void) { return 0; }\n")
    uid, gid = (host[1], host[2]) if host else (1000, 1000)
    for path in (share, share / "main.c"):
        os.chown(path, uid, gid)
    deb.run("mount", "add", "vm", str(share), f"/home/{name}/src")
    owner = attach(deb, "vm", "stat", "-c", "%U", f"/home/{name}/src/main.c").stdout.strip()
    assert owner == name
    wrote = attach(deb, "vm", "touch", f"/home/{name}/src/new.c", user=name)
    assert wrote.returncode == 0, wrote.stderr
    assert (share / "new.c").stat().st_uid == uid


@pytest.fixture
def host_user(tmp_path: Path) -> Iterator[str]:
    """A host account of the test's own, with an ssh key pair of its own; removed with its
    home (its known_hosts too) at the end."""
    name = f"lxssh{os.getpid() % 100000}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    try:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", "id_ed25519"],
            cwd=tmp_path,
            check=True,
        )
        account = pwd.getpwnam(name)
        ssh_dir = Path(account.pw_dir) / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        for key in ("id_ed25519", "id_ed25519.pub"):
            os.rename(tmp_path / key, ssh_dir / key)
        for path in (ssh_dir, *ssh_dir.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        yield name
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def as_user(name: str, argv: list[str], timeout: float = 15) -> subprocess.CompletedProcess[str]:
    """`argv` run as the host user `name`, in a session of its own: no terminal to ask a
    password on, so a refused key fails at once."""
    account = pwd.getpwnam(name)
    return subprocess.run(
        argv,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        env={"PATH": "/usr/bin:/bin", "HOME": account.pw_dir, "USER": name},
        cwd=account.pw_dir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def test_ssh_by_name_from_the_host(deb: Lxpy, host_user: str) -> None:
    name = host_user
    with open("/etc/hosts", "rb") as f:
        before = f.read()
    # The image with sshd cached, as a dev box's second launch finds it.
    deb.run("create", "warm", "-t", "debian", "-q", "--packages", "ssl-cert", "--ssh", timeout=600)
    deb.run("destroy", "warm")
    assert deb.run("ls", "--format", "json").stdout.strip() == "[]"
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
    ssh += ["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=2"]
    t0 = time.monotonic()
    # --ssh is on with --user: openssh-server joins ssl-cert (the image above).
    launched = deb.run(
        "launch", "dev", "-t", "debian", "-q", "--packages", "ssl-cert", "--user", name
    )
    launch_seconds = time.monotonic() - t0
    answered = as_user(name, [*ssh, f"{name}@dev.lxpy", "true"])
    while answered.returncode != 0 and time.monotonic() - t0 < 30:
        time.sleep(0.1)
        answered = as_user(name, [*ssh, f"{name}@dev.lxpy", "true"])
    seconds = time.monotonic() - t0
    print(f"launch {launch_seconds:.2f} s; launch until ssh answers {seconds:.2f} s")
    assert answered.returncode == 0, answered.stderr
    assert seconds < 10
    assert f"ssh {name}@dev.lxpy" in launched.stderr
    assert deb.run("shell", "dev", "--", "id", "-un").stdout == f"{name}\n"
    address = json.loads(deb.run("info", "dev", "--format", "json").stdout)["ipv4"][0]
    assert f"SSH:      {name}@dev.lxpy\n" in deb.run("info", "dev").stdout
    config = deb.run("ssh-config").stdout
    assert f"Host dev.lxpy dev\n    HostName {address}\n    User {name}\n" in config
    # `lxpy ssh` (run by root here) becomes the host user whose key the box holds, and
    # keeps the machine's host key under its uuid in that user's known_hosts.
    via_lxpy = subprocess.run(
        [*lx_argv(deb), "ssh", "dev", "--", "id", "-un"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert via_lxpy.stdout == f"{name}\n", via_lxpy.stderr
    known = Path(pwd.getpwnam(name).pw_dir) / ".ssh" / "known_hosts"
    uuid = json.loads(deb.run("info", "dev", "--format", "json").stdout)["config"]["uuid"]
    found = subprocess.run(
        ["ssh-keygen", "-F", f"lxpy-{uuid}", "-f", str(known)], capture_output=True, timeout=10
    )
    assert found.returncode == 0  # (Debian hashes the names in known_hosts)
    # A stop takes the name off the host at once; destroy and `network rm` leave the hosts
    # file as it was, byte for byte (other roots' blocks aside, when tests run beside us).
    deb.run("stop", "dev")
    assert as_user(name, ["getent", "hosts", "dev.lxpy"]).returncode != 0
    deb.run("destroy", "dev")
    for network in model.names(deb.paths):
        deb.run("network", "rm", network)
    with open("/etc/hosts", "rb") as f:
        after = f.read()
    instance = deb.paths.instance
    assert without_other_roots(after.decode(), instance) == without_other_roots(
        before.decode(), instance
    )


def secrets_of(lx: Lxpy, name: str) -> tuple[str, str]:
    """The machine's SSH host key and snakeoil TLS key, as made at its first boot."""
    assert system_running(lx, name) == "running"
    failed = attach(lx, name, "systemctl", "--failed", "--no-legend", "--plain")
    assert failed.stdout.strip() == "", failed.stdout
    assert attach(lx, name, "systemctl", "is-active", "ssh").stdout.strip() == "active"
    ssh = attach(lx, name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
    tls = attach(lx, name, "sha256sum", "/etc/ssl/private/ssl-cert-snakeoil.key")
    assert ssh.returncode == tls.returncode == 0, ssh.stderr + tls.stderr
    assert attach(lx, name, "test", "-e", "/var/lib/lxpy/regenerate-secrets").returncode == 1
    return ssh.stdout.split()[1], tls.stdout.split()[0]


def test_every_machine_has_its_own_secrets(deb: Lxpy, tmp_path: Path) -> None:
    """Two containers from one image, a snapshot clone (its origin's keys in a lower layer),
    a full clone and an import: five SSH host keys and five TLS keys, none in the image."""
    for name in ("k1", "k2"):
        create_and_start(deb, name, "--packages", SSH_PACKAGES)
    keys = {name: secrets_of(deb, name) for name in ("k1", "k2")}
    # openssh-server is in the package layer over the image; neither holds a secret.
    layer, image = overlay.image_lowers(deb.paths, storage_of(deb, "k1")["image"])
    assert os.path.isfile(f"{layer}/etc/ssh/sshd_config")
    for lower in (layer, image):
        assert not [f for f in os.listdir(f"{lower}/etc/ssh") if f.startswith("ssh_host_")]
        assert not os.path.exists(f"{lower}/etc/ssl/private/ssl-cert-snakeoil.key")
    deb.run("stop", "k1")
    deb.run("clone", "--snapshot", "k1", "k1twin")
    deb.run("clone", "k1", "k1copy")
    deb.run("export", "k1", str(tmp_path / "k1.tar.zst"), timeout=300)
    deb.run("import", str(tmp_path / "k1.tar.zst"), "k1moved", timeout=300)
    for name in ("k1", "k1twin", "k1copy", "k1moved"):
        deb.run("start", name)
    for name in ("k1twin", "k1copy", "k1moved"):
        keys[name] = secrets_of(deb, name)
    assert secrets_of(deb, "k1") == keys["k1"]  # a restart keeps a machine's own
    assert len({ssh for ssh, _ in keys.values()}) == 5, keys
    assert len({tls for _, tls in keys.values()}) == 5, keys


def storage_of(lx: Lxpy, name: str) -> dict[str, str]:
    storage: dict[str, str] = json.loads(lx.run("info", name, "--format", "json").stdout)["config"][
        "storage"
    ]
    return storage


# apt inside, offline: a one-package repository of its own, fetched by apt's copy method
# into lists/partial and archives/partial, as _apt where those directories let it.
APT_PROBE = """set -e
mkdir -p /srv/repo/p/DEBIAN && cd /srv/repo
printf 'Package: lxpy-probe\nVersion: 1\nArchitecture: all\n' >p/DEBIAN/control
printf 'Maintainer: lxpy <root@localhost>\nDescription: probe\n' >>p/DEBIAN/control
dpkg-deb -b p probe.deb >/dev/null
{ dpkg-deb -f probe.deb; echo Filename: ./probe.deb; echo Size: $(stat -c %s probe.deb);
  echo SHA256: $(sha256sum probe.deb | cut -d' ' -f1); } >Packages
echo 'deb [trusted=yes] copy:/srv/repo ./' >/srv/probe.list
apt="apt-get -o Dir::Etc::SourceList=/srv/probe.list -o Dir::Etc::SourceParts=-"
$apt update 2>&1
$apt install -y lxpy-probe 2>&1
"""


def test_packages_are_a_cached_layer_over_the_image(deb: Lxpy) -> None:
    """`--packages git` twice: the first create installs git with apt in a layer over the
    cached build (no bootstrap), the second stands on that layer at once; both boot."""
    import tomllib

    deb.run("create", "plain", "--template", "debian", "--quiet", timeout=600)
    base = storage_of(deb, "plain")["image"]
    builds = f"{deb.paths.images}/{base.split('/')[0]}"

    def build_state() -> tuple[list[str], int, int]:
        build = f"{deb.paths.images}/{base}"
        rootfs, meta = os.stat(f"{build}/rootfs"), os.stat(f"{build}/image.toml")
        return sorted(os.listdir(builds)), rootfs.st_ino, meta.st_mtime_ns

    before = build_state()
    began = time.monotonic()
    deb.run("create", "g1", "--template", "debian", "--packages", "git", "--quiet", timeout=600)
    first = time.monotonic() - began
    ref = storage_of(deb, "g1")["image"]
    assert ref.startswith(f"{base}/pkg-")
    assert build_state() == before  # no new bootstrap: the build as it was
    upper = overlay.image_lowers(deb.paths, ref)[0]
    layer = os.path.dirname(upper)
    installed = tomllib.loads(Path(f"{layer}/layer.toml").read_text())["seconds"]
    assert first < installed + 3.0, (first, installed)  # the install, and a cached create

    def layer_state() -> tuple[list[str], int, int, int]:
        st, meta = os.stat(upper), os.stat(f"{layer}/layer.toml")
        return (
            sorted(os.listdir(os.path.dirname(layer))),
            st.st_ino,
            st.st_mtime_ns,
            meta.st_mtime_ns,
        )

    mark = layer_state()
    began = time.monotonic()
    deb.run("create", "g2", "--template", "debian", "--packages", "git", "--quiet")
    second = time.monotonic() - began
    assert second < 2.0
    assert storage_of(deb, "g2")["image"] == ref and layer_state() == mark  # no apt ran
    began = time.monotonic()
    deb.run("create", "plain2", "--template", "debian", "--quiet")
    plain = time.monotonic() - began
    print(
        f"layer build {first:.1f} s (apt {installed:.1f} s), second {second:.2f} s, "
        f"plain {plain:.2f} s"
    )
    # A full copy is the merged tree.
    deb.run("create", "gdir", "--template", "debian", "--packages", "git", "--storage", "dir")
    assert os.path.isfile(f"{deb.paths.rootfs('gdir')}/usr/bin/git")
    row = next(r for r in deb.run("cache", "ls").stdout.splitlines() if r.startswith(ref))
    assert "+git" in row.split() and "g1,g2" in row.split()
    for selector in (ref, base):
        refused = deb.run("cache", "rm", selector, check=False)
        assert refused.returncode != 0 and "g1, g2" in refused.stderr
    assert os.path.isdir(upper)
    for name in ("g1", "g2"):
        deb.run("start", name)
        assert system_running(deb, name) == "running"
        failed = attach(deb, name, "systemctl", "--failed", "--no-legend", "--plain")
        assert failed.returncode == 0 and failed.stdout.strip() == "", failed.stdout
        assert attach(deb, name, "git", "--version").stdout.startswith("git version")
    # apt inside downloads as _apt, sandboxed: its directories are as Debian makes them.
    for name in ("g1", "plain"):
        if name == "plain":
            deb.run("start", name)
        probe = attach(deb, name, "sh", "-c", APT_PROBE)
        assert probe.returncode == 0 and "Setting up lxpy-probe" in probe.stdout, probe.stdout
        assert "unsandboxed" not in probe.stdout, probe.stdout


def test_second_create_comes_from_the_cache(deb: Lxpy) -> None:
    deb.run("create", "first", "--template", "debian", "--quiet", timeout=600)
    t0 = time.monotonic()
    deb.run("create", "second", "--template", "debian", "--quiet")
    seconds = time.monotonic() - t0
    assert seconds <= 2.0
    size = tree_size(deb.paths.container_dir("second"))
    assert size <= 10 * 2**20
    images = deb.run("cache", "ls").stdout
    assert "first" in images and "second" in images
    # An image in use is never removed from under its containers.
    key = json.loads(deb.run("info", "second", "--format", "json").stdout)["config"]["storage"][
        "image"
    ]
    refused = deb.run("cache", "rm", key, check=False)
    assert refused.returncode != 0 and "first" in refused.stderr and "second" in refused.stderr
    # A full copy stands on its own.
    deb.run("create", "copy", "--template", "debian", "--storage", "dir", "--quiet")
    assert os.path.isfile(f"{deb.paths.rootfs('copy')}/etc/debian_version")


def test_hostile_parameters_change_nothing(deb: Lxpy) -> None:
    before = containers_of(deb)
    watched = ("/etc/hostname", "/etc/hosts", "/etc/passwd", "/etc/shadow")

    def host_files() -> dict[str, str]:
        # /etc/hosts as this root sees it: other roots' tests change their own blocks meanwhile.
        return {p: without_other_roots(Path(p).read_text(), deb.paths.instance) for p in watched}

    snapshot = host_files()
    for bad in (["--set", "timezone=UTC\nroot::0:0::/:/bin/sh"], ["--user", "root"]):
        result = deb.run("create", "evil", "--template", "debian", *bad, check=False)
        assert result.returncode != 0
        assert result.stderr.startswith("lxpy: ") and len(result.stderr.splitlines()) == 1
    assert containers_of(deb) == before
    assert host_files() == snapshot


def test_unified_cgroup_view_as_on_a_pure_v2_host(deb: Lxpy) -> None:
    """init.cgroup = "unified" shows systemd the v2 hierarchy alone, as a pure cgroup v2 host
    (and systemd 258, which has no v1 support) would: it boots, attach joins init's cgroup
    below the namespace root, and a reboot starts the new init after the old one's cgroups
    are gone."""
    import tomllib

    import tomli_w

    deb.run("create", "uni", "--template", "debian", "--quiet", timeout=600)
    path = Path(deb.paths.config_file("uni"))
    doc = tomllib.loads(path.read_text())
    doc["init"]["cgroup"] = "unified"
    path.write_text(tomli_w.dumps(doc))
    deb.run("start", "uni")
    assert system_running(deb, "uni") == "running"
    fstype = attach(deb, "uni", "stat", "-f", "-c", "%T", "/sys/fs/cgroup").stdout.strip()
    assert fstype == "cgroup2fs"
    assert "0::/init.scope" in attach(deb, "uni", "cat", "/proc/self/cgroup").stdout.split()
    assert rebooted(deb, "uni")
    assert system_running(deb, "uni") == "running"
    failed = attach(deb, "uni", "systemctl", "--failed", "--no-legend", "--plain")
    assert failed.stdout.strip() == ""


ZONES = "/usr/share/zoneinfo/Europe/Paris"  # tzdata's


def exclusive_bytes(subvolume: str) -> int:
    """What a btrfs subvolume holds that nothing else shares, once committed."""
    from lxpy.linux import syscalls

    fd = os.open(subvolume, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syscalls.syncfs(fd)
        fsid, number = syscalls.btrfs_fsid(fd), syscalls.btrfs_subvolume_id(fd)
    finally:
        os.close(fd)
    with open(f"/sys/fs/btrfs/{fsid}/qgroups/0_{number}/exclusive") as f:
        return int(f.read())


def test_a_debian_box_in_a_btrfs_pool_snapshots_while_it_runs(deb: Lxpy) -> None:
    deb.run("storage", "create", "fast", "--size", "2G")
    try:
        # On a package layer: the pool's copy of the image is the layer over its build.
        create_and_start(deb, "bt", "--storage", "fast", "--packages", "git")
        assert system_running(deb, "bt") == "running"
        assert attach(deb, "bt", "git", "--version").returncode == 0
        used_by = deb.run("storage", "info", "fast").stdout.split("Used by:")[1]
        assert f"container bt, image {storage_of(deb, 'bt')['image']}" in used_by
        assert "/pkg-" in used_by
        failed = attach(deb, "bt", "systemctl", "--failed", "--no-legend", "--plain")
        assert failed.stdout.strip() == ""
        attach(deb, "bt", "dd", "if=/dev/urandom", "of=/root/blob", "bs=1M", "count=200")
        began = time.monotonic()
        taken = deb.run("snapshot", "bt", "before")  # running: a subvolume snapshot, no copy
        assert time.monotonic() - began < 1.5
        frozen = int(taken.stderr.split("frozen for ")[1].split()[0])
        assert frozen < 100, taken.stderr
        # The snapshot shares every block: what it owns (its quota group's count) is metadata.
        assert (
            exclusive_bytes(f"{deb.root}/lib/pools/fast/containers/bt/snapshots/before") < 1 << 20
        )
        assert attach(deb, "bt", "apt-get", "remove", "-y", "tzdata").returncode == 0
        deb.run("stop", "bt")
        deb.run("snapshot", "restore", "bt", "before")
        deb.run("clone", "bt", "bt2")
        for name in ("bt", "bt2"):
            deb.run("start", name)
            assert system_running(deb, name) == "running"
            assert attach(deb, name, "test", "-e", ZONES).returncode == 0
    finally:
        for name in ("bt", "bt2"):
            deb.run("destroy", "--force", name, check=False)
        deb.run("storage", "rm", "fast")


def test_snapshot_then_restore_brings_a_removed_package_back(deb: Lxpy) -> None:
    create_and_start(deb, "snappy")
    assert system_running(deb, "snappy") == "running"
    deb.run("snapshot", "snappy", "before")  # running: frozen while its changes are copied
    assert attach(deb, "snappy", "apt-get", "remove", "-y", "tzdata").returncode == 0
    assert attach(deb, "snappy", "test", "-e", ZONES).returncode == 1
    deb.run("stop", "snappy")
    began = time.monotonic()
    deb.run("snapshot", "snappy", "after")
    assert time.monotonic() - began < 1.0  # stopped: a rename, not a copy
    deb.run("snapshot", "restore", "snappy", "before")
    deb.run("start", "snappy")
    assert system_running(deb, "snappy") == "running"
    status = attach(deb, "snappy", "dpkg-query", "-W", "-f=${Status}", "tzdata").stdout
    assert status == "install ok installed"
    assert attach(deb, "snappy", "test", "-e", ZONES).returncode == 0
    deb.run("stop", "snappy")
    deb.run("snapshot", "restore", "snappy", "after")  # and forward again
    deb.run("start", "snappy")
    assert attach(deb, "snappy", "test", "-e", ZONES).returncode == 1


def test_a_snapshot_clone_is_instant_and_boots_beside_its_origin(deb: Lxpy) -> None:
    create_and_start(deb, "origin")
    assert system_running(deb, "origin") == "running"
    deb.run("stop", "origin")
    containers = deb.paths.containers
    before = tree_size(containers)
    began = time.monotonic()
    deb.run("clone", "--snapshot", "origin", "twin")
    took = time.monotonic() - began
    added = tree_size(containers) - before
    assert took < 1.0, f"clone took {took:.2f} s"
    assert added < 10 * 2**20, f"clone added {added} bytes"
    starts = [subprocess.Popen([*lx_argv(deb), "start", n]) for n in ("origin", "twin")]
    assert [p.wait(timeout=60) for p in starts] == [0, 0]
    assert system_running(deb, "origin") == system_running(deb, "twin") == "running"

    def facts(name: str) -> tuple[str, str, list[str]]:
        info = json.loads(deb.run("info", name, "--format", "json").stdout)
        machine_id = attach(deb, name, "cat", "/etc/machine-id").stdout.strip()
        return attach(deb, name, "hostname").stdout.strip(), machine_id, info["ipv4"]

    origin, twin = facts("origin"), facts("twin")
    assert origin[0] == "origin" and twin[0] == "twin"
    assert origin[1] != twin[1] and len(twin[1]) == 32
    assert origin[2] and twin[2] and origin[2] != twin[2]
    refused = deb.run("destroy", "--force", "origin", check=False)
    assert refused.returncode != 0 and "twin stand(s) on its layers" in refused.stderr
    deb.run("destroy", "--force", "twin")
    deb.run("destroy", "--force", "origin")


def test_a_debian_box_moves_between_pools_with_its_snapshot_and_boots(deb: Lxpy) -> None:
    deb.run("storage", "create", "move", "--size", "2G")
    try:
        create_and_start(deb, "mv")
        assert system_running(deb, "mv") == "running"
        deb.run("snapshot", "mv", "full")
        assert attach(deb, "mv", "apt-get", "remove", "-y", "tzdata").returncode == 0
        deb.run("stop", "mv")
        for pool in ("move", "dir", "overlay"):
            deb.run("move", "mv", "--storage", pool, timeout=300)
            deb.run("start", "mv")
            assert system_running(deb, "mv") == "running", f"in {pool}"
            assert attach(deb, "mv", "test", "-e", ZONES).returncode != 0
            deb.run("stop", "mv")
        deb.run("move", "mv", "--storage", "move", timeout=300)
        deb.run("snapshot", "restore", "mv", "full")
        deb.run("start", "mv")
        assert system_running(deb, "mv") == "running"
        assert attach(deb, "mv", "test", "-e", ZONES).returncode == 0
    finally:
        deb.run("destroy", "--force", "mv", check=False)
        deb.run("storage", "rm", "move")


def test_provisioning_runs_after_the_network_on_systemd_and_sysvinit(
    deb: Lxpy, tmp_path: Path
) -> None:
    ready = tmp_path / "ready.sh"
    # After the network: eth0 has its address and default route when it runs.
    ready.write_text(
        "#!/bin/sh\nset -e\nip -4 route show default | grep -q via\nhostname > /root/ok\n"
    )
    fails = tmp_path / "fails.sh"
    fails.write_text("#!/bin/sh\nexit 3\n")
    launched = deb.run("launch", "pv", "-t", "debian", "-q", "--provision", str(ready))
    assert "provisioned pv in" in launched.stderr
    assert attach(deb, "pv", "cat", "/root/ok").stdout == "pv\n"
    assert system_running(deb, "pv") == "running"
    assert "Provision: done" in deb.run("info", "pv").stdout
    refused = deb.run(
        "launch",
        "pvs",
        "-t",
        "debian",
        "-q",
        "--set",
        "init=sysvinit",
        "--packages",
        SSH_PACKAGES,  # test_sysvinit_boots_and_stops_cleanly's image
        "--provision",
        str(ready),
        "--provision",
        str(fails),
        check=False,
        timeout=600,
    )
    assert refused.returncode == 1 and "02-fails.sh exited 3" in refused.stderr
    assert attach(deb, "pvs", "cat", "/root/ok").stdout == "pvs\n"
    assert "Provision: failed: 02-fails.sh exited 3" in deb.run("info", "pvs").stdout


def test_export_and_import_round_trip_a_debian_container(deb: Lxpy, tmp_path: Path) -> None:
    from tests.test_archive import manifest

    create_and_start(deb, "mover")
    assert system_running(deb, "mover") == "running"
    deb.run("stop", "mover")
    first = str(tmp_path / "mover.tar.zst")
    result = deb.run("export", "mover", first, timeout=300)
    assert "MB/s" in result.stderr
    deb.run("destroy", "mover")
    deb.run("import", first, timeout=300)
    deb.run("start", "mover")
    assert system_running(deb, "mover") == "running"
    assert attach(deb, "mover", "systemctl", "--failed", "--no-legend").stdout.strip() == ""
    deb.run("stop", "mover")
    second = str(tmp_path / "again.tar.zst")
    deb.run("export", "mover", second, timeout=300)
    before, after = manifest(first), manifest(second)
    # The same files, owners, modes, links and xattrs; only what the boot wrote may differ.
    changed = {n for n in before.keys() & after.keys() if before[n] != after[n]}
    assert before.keys() - after.keys() == set()
    assert all(n.startswith(("rootfs/var/", "rootfs/etc/machine-id")) for n in changed), changed
