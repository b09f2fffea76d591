"""Remotes over real SSH to this same host (issue 19 item 1): an sshd of the test's own on a
loopback port with a key made for it, a second lxpy root as the "remote". Every command
runs the real CLI; the remote's lxpy is this checkout's, run by the remote user's shell."""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from lxpy.api import Api, ContainerInfo
from lxpy.errors import ConfigError, LxpyError, UsageError
from lxpy.paths import Paths
from lxpy.remote import protocol, registry, transfer
from lxpy.remote.connection import SSH_COMMAND_ENV
from tests.conftest import LXPY, Lxpy, in_pty, master_pid, masters
from tests.sshd import Sshd

integration = pytest.mark.integration


def _names(lx: Lxpy, *options: str) -> list[str]:
    """The NAME column of `lxpy ls OPTIONS`."""
    return [line.split()[0] for line in lx.run("ls", *options).stdout.splitlines()[1:]]


@integration
def test_a_container_of_the_remote_lives_its_whole_life_from_here(
    lxpy: Lxpy, far: Lxpy, tmp_path: Path
) -> None:
    lxpy.run("create", "here", "--network", "none")
    lxpy.run("create", "far:box")
    assert far.state("box") == "STOPPED" and _names(lxpy) == ["here"]
    lxpy.run("start", "far:box")
    assert far.state("box") == "RUNNING"
    # attach with a pty: `tty` inside prints its device.
    with in_pty(lxpy, "attach", "far:box", "--", "tty") as proc:
        seen = proc.read_until(b"\n", timeout=20)
        assert proc.wait(20) == 0
    assert re.search(rb"/dev/pts/\d+", seen), seen
    # file push and pull, through the same connection.
    (tmp_path / "note").write_text("carried over ssh\n")
    (tmp_path / "note").chmod(0o640)
    lxpy.run("file", "push", "far:box", str(tmp_path / "note"), "/root/")
    assert lxpy.run("attach", "far:box", "--", "cat", "/root/note").stdout == "carried over ssh\n"
    assert "640" in lxpy.run("attach", "far:box", "--", "stat", "-c", "%a", "/root/note").stdout
    lxpy.run("file", "pull", "far:box", "/root/note", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "carried over ssh\n"
    streamed = subprocess.run(
        [*LXPY.split(), "--root", lxpy.root, "file", "pull", "far:box", "/root/note", "-"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
        assert tar.getnames() == ["note"] and not os.path.exists("-")
    # ls --remote all: both roots, each row naming its host.
    table = lxpy.run("ls", "--remote", "all").stdout.splitlines()
    assert table[0].split()[:3] == ["HOST", "NAME", "STATE"]
    rows = {tuple(line.split()[:3]) for line in table[1:]}
    assert rows == {("local", "here", "STOPPED"), ("far", "box", "RUNNING")}
    listed = json.loads(lxpy.run("ls", "--remote", "all", "-f", "json").stdout)
    assert {(i["remote"], i["name"]) for i in listed} == {("local", "here"), ("far", "box")}
    lxpy.run("stop", "far:box", "-t", "10")
    assert far.state("box") == "STOPPED"
    lxpy.run("destroy", "far:box")
    assert json.loads(lxpy.run("ls", "--remote", "far", "-f", "json").stdout) == []
    assert _names(lxpy) == ["here"]


@integration
def test_events_and_wait_follow_a_remote_container(lxpy: Lxpy, far: Lxpy) -> None:
    far.run("create", "box", "--network", "none")
    argv = [sys.executable, "-m", "lxpy", "--root", lxpy.root, "events", "--remote", "far"]
    with subprocess.Popen(
        [*argv, "-f", "json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    ) as follow:
        try:
            # Once a container made there shows, the stream is followed.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "probe" not in _containers_seen(follow, 1):
                far.run("destroy", "probe", check=False)
                far.run("create", "probe", "--network", "none")
            assert lxpy.run("wait", "far:box", "-s", "STOPPED", "-t", "20").returncode == 0
            timeout = lxpy.run("wait", "far:box", "-s", "RUNNING", "-t", "0.5", check=False)
            assert timeout.returncode == 1 and "STOPPED" in timeout.stderr
            far.run("start", "box")  # another terminal's, on that host
            lxpy.run("wait", "far:box", "-s", "RUNNING", "-t", "20")
            far.run("stop", "-k", "box")
            seen = [e for c, e in _events(follow, 20, until="stopped") if c == "box"]
        finally:
            follow.kill()
    assert seen == ["starting", "running", "stopping", "stopped"]


def _events(
    proc: subprocess.Popen[bytes], timeout: float, until: str | None = None
) -> list[tuple[str, str]]:
    """(container, event) of the JSON lines `proc` prints within `timeout` s, or up to the
    first `until` event. Read from the fd: a buffered reader would hide lines from select."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    found: list[tuple[str, str]] = []
    pending = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            event = json.loads(line)
            found.append((event["container"], event["event"]))
            if event["event"] == until:
                return found
    return found


def _containers_seen(proc: subprocess.Popen[bytes], timeout: float) -> set[str]:
    return {container for container, _ in _events(proc, timeout)}


@integration
def test_a_directory_goes_over_and_comes_back(lxpy: Lxpy, far: Lxpy, tmp_path: Path) -> None:
    tree = tmp_path / "site"
    (tree / "css").mkdir(parents=True)
    (tree / "index.html").write_text("<p>hi</p>\n")
    (tree / "css" / "main.css").write_text("p {}\n")
    (tree / "link").symlink_to("index.html")
    far.run("create", "box", "--network", "none")
    assert (
        "is a directory" in lxpy.run("file", "push", "far:box", str(tree), "/", check=False).stderr
    )
    lxpy.run("file", "push", "-r", "far:box", str(tree), "/root")
    far.run("file", "pull", "box", "/root/site/css/main.css", str(tmp_path / "main.css"))
    assert (tmp_path / "main.css").read_text() == "p {}\n"
    lxpy.run("file", "pull", "-r", "far:box", "/root/site", str(tmp_path / "back"))
    assert (tmp_path / "back" / "css" / "main.css").read_text() == "p {}\n"
    assert os.readlink(tmp_path / "back" / "link") == "index.html"


@integration
def test_a_killed_connection_is_made_again_by_the_next_command(
    lxpy: Lxpy, far: Lxpy, sshd: Sshd
) -> None:
    far.run("create", "box", "--network", "none")
    assert _names(lxpy, "--remote", "far") == ["box"]
    first = master_pid(lxpy, sshd, "far")
    os.kill(first, 9)
    assert _names(lxpy, "--remote", "far") == ["box"]
    assert master_pid(lxpy, sshd, "far") != first


@integration
def test_a_remote_given_a_new_address_never_rides_the_old_connection(lxpy: Lxpy, far: Lxpy) -> None:
    far.run("create", "box", "--network", "none")
    assert _names(lxpy, "--remote", "far") == ["box"]
    lxpy.run("remote", "rm", "far")
    moved = lxpy.run("remote", "add", "far", "root@127.0.0.1:1", check=False)
    assert moved.returncode == 1 and "cannot reach remote far" in moved.stderr
    assert not masters(lxpy)


@integration
def test_a_host_of_another_interface_or_without_lxpy_is_one_line(
    lxpy: Lxpy, sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SSH_COMMAND_ENV, sshd.ssh_command)
    # The same lxpy, its interface numbers raised: what a newer release answers.
    newer = tmp_path / "lxpy-newer"
    newer.write_text(
        f"#!{sys.executable}\nimport lxpy.remote.protocol as p\np.API = p.MIN_API = 99\n"
        "from lxpy.__main__ import main\nmain()\n"
    )
    newer.chmod(0o755)
    try:
        said = lxpy.run("remote", "add", "new", sshd.address, "--command", str(newer), check=False)
        assert said.returncode == 1 and said.stdout == ""
        assert len(said.stderr.splitlines()) == 1
        assert "remote interface 99" in said.stderr and "newer than this lxpy" in said.stderr
        missing = lxpy.run(
            "remote", "add", "bare", sshd.address, "--command", "/nonexistent/lxpy", check=False
        )
        assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1
        assert "no lxpy there" in missing.stderr
        assert registry.load(lxpy.paths).remotes == {}  # neither was kept
        assert not masters(lxpy)  # nor the connections their handshakes opened
        # A host answering nothing: named, and the other hosts still listed.
        registry.save(
            lxpy.paths,
            registry.Remotes({"gone": registry.Remote("gone", "127.0.0.1", "root", 1)}),
        )
        lxpy.run("create", "here", "--network", "none")
        listed = lxpy.run("ls", "--remote", "all", check=False)
        assert listed.returncode == 1
        assert "here" in listed.stdout
        assert listed.stderr.startswith("lxpy: gone: cannot reach remote gone")
        assert len(listed.stderr.splitlines()) == 1
    finally:
        for name in registry.load(lxpy.paths).remotes:
            lxpy.run("remote", "rm", name, check=False)
    # The remote end refuses a caller of an interface it does not answer, in one line.
    refused = lxpy.run("--api", "99", "ls", check=False)
    assert refused.returncode == 1 and "answers remote interface 1, not 99" in refused.stderr


@integration
def test_the_default_remote_takes_the_commands_naming_no_host(lxpy: Lxpy, far: Lxpy) -> None:
    far.run("create", "box", "--network", "none")
    lxpy.run("create", "here", "--network", "none")
    lxpy.run("remote", "default", "far")
    assert lxpy.run("remote", "default").stdout == "far\n"
    assert _names(lxpy) == ["box"]
    assert _names(lxpy, "--remote", "local") == ["here"]
    assert lxpy.run("info", "local:here", "-f", "json").stdout
    assert "far" in lxpy.run("remote", "ls").stdout  # remote's own commands stay here
    lxpy.run("remote", "default", "local")
    assert _names(lxpy) == ["here"]


@integration
def test_what_cannot_go_to_a_host_is_refused_in_one_line(lxpy: Lxpy, far: Lxpy) -> None:
    mixed = lxpy.run("start", "far:a", "b", check=False)
    assert mixed.returncode == 2 and "one host per command" in mixed.stderr
    here_only = lxpy.run("up", "--remote", "far", check=False)
    assert here_only.returncode == 2 and "works on this host only" in here_only.stderr
    unknown = lxpy.run("start", "nowhere:a", check=False)
    assert unknown.returncode == 1 and "no remote named 'nowhere'" in unknown.stderr
    reserved = lxpy.run("remote", "add", "local", "root@127.0.0.1", check=False)
    assert reserved.returncode == 2 and "stands for this root" in reserved.stderr
    assert lxpy.run("start", "far:missing", check=False).returncode == 1
    # What follows HOST: is a container's name, never an option or another host.
    for ref in ("far:--force", "far:x:y", "far:"):
        said = lxpy.run("destroy", "far:v", ref, check=False)
        assert said.returncode == 2 and "is no container name" in said.stderr, ref
    chained = lxpy.run("--api", "1", "ls", "--remote", "far", check=False)
    assert chained.returncode == 2 and "no chains" in chained.stderr
    local_file = lxpy.run("create", "far:p", "--provision", "/etc/hostname", check=False)
    assert (
        local_file.returncode == 2 and "--provision names a file of this host" in local_file.stderr
    )
    assert lxpy.run("--api", "²", "ls", check=False).returncode == 1


@integration
def test_an_info_read_back_from_its_json_is_the_same(lxpy: Lxpy) -> None:
    """What the TUI makes of another host's `info -f json`: the info that printed it."""
    lxpy.run("create", "box", "--network", "none", "--memory", "64M")
    info = Api(lxpy.paths).info("box")
    back = ContainerInfo.from_json(json.loads(json.dumps(info.to_json(detailed=True))), "far")
    assert back.config == info.config and back.config is not None
    assert back.to_json(detailed=True) == info.to_json(detailed=True)


# -- units -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "word", ["plain", "two words", "it's", "$(reboot)", "a\nb", "", "*", "--root=/x y", "é"]
)
def test_quote_gives_the_word_back_through_the_shell(word: str) -> None:
    said = subprocess.run(
        ["sh", "-c", f"printf %s {protocol.quote(word)}"], capture_output=True, text=True
    )
    assert said.stdout == word


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("build1", (None, "build1", None)),
        ("alice@build1:2222", ("alice", "build1", 2222)),
        ("root@[::1]:22", ("root", "::1", 22)),
        ("[fe80::1]", (None, "fe80::1", None)),
    ],
)
def test_addresses_are_read_as_ssh_takes_them(
    text: str, parsed: tuple[str | None, str, int | None]
) -> None:
    assert registry.parse_address(text) == parsed


@pytest.mark.parametrize("text", ["", "@host", "host:0", "host:99999", "host:x", "a b", "-oX"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        registry.parse_address(text)


def test_the_remotes_file_is_read_strictly(tmp_path: Path) -> None:
    paths = Paths.for_root(str(tmp_path))
    os.makedirs(paths.etc)
    Path(paths.remotes_file).write_text('[remotes.b1]\nhost = "b1"\nport = "22"\n')
    with pytest.raises(ConfigError, match=r"remotes.toml:3: remotes.b1.port: expected int"):
        registry.load(paths)
    Path(paths.remotes_file).write_text('default = "b2"\n[remotes.b1]\nhost = "b1"\n')
    with pytest.raises(ConfigError, match=r"remotes.toml:1: default: no such remote"):
        registry.load(paths)


def test_the_interface_check_names_both_versions() -> None:
    protocol.check_hello("b1", {"lxpy": "x", "api": protocol.API, "min_api": 1})
    with pytest.raises(protocol.RemoteError, match="older than this lxpy"):
        protocol.check_hello("b1", {"lxpy": "0.0.1", "api": 0, "min_api": 0})
    with pytest.raises(protocol.RemoteError, match="gave no interface version"):
        protocol.check_hello("b1", {"lxpy": "0.0.1"})


@integration
def test_a_tar_stream_goes_in_and_out_as_a_local_copy_would(lxpy: Lxpy, tmp_path: Path) -> None:
    lxpy.run("create", "box", "--network", "none")
    (tmp_path / "f").write_text("x\n")
    with tarfile.open(tmp_path / "one.tar", "w") as tar:
        tar.add(tmp_path / "f", arcname="f")
    with open(tmp_path / "one.tar", "rb") as stream:
        subprocess.run(
            [sys.executable, "-m", "lxpy", "--root", lxpy.root, "file", "push", "box", "-", "/"],
            stdin=stream,
            check=True,
            capture_output=True,
        )
    assert lxpy.run("file", "pull", "box", "/f", str(tmp_path / "g")).returncode == 0
    assert (tmp_path / "g").read_text() == "x\n"
    # A stream with a path leading out is refused, and nothing lands outside.
    with tarfile.open(tmp_path / "evil.tar", "w") as tar:
        tar.add(tmp_path / "f", arcname="../../../../etc/lxpy-evil")
    with open(tmp_path / "evil.tar", "rb") as stream:
        refused = subprocess.run(
            [sys.executable, "-m", "lxpy", "--root", lxpy.root, "file", "push", "box", "-", "/"],
            stdin=stream,
            capture_output=True,
            text=True,
        )
    assert refused.returncode == 1 and "bad tar stream" in refused.stderr
    assert not os.path.exists("/etc/lxpy-evil")


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", mode: int = 0o644
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.size = kind, link, mode, len(data)
    return info, data


def _stream(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw.seek(0)
    return raw


def _receive(raw: io.BytesIO, tmp_path: Path) -> str:
    (tmp_path / "into").mkdir()
    fd = os.open(tmp_path / "into", os.O_RDONLY | os.O_DIRECTORY)
    try:
        return transfer.receive(raw, fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([_member("../up", data=b"x")], "leads out"),
        ([_member("/abs", data=b"x")], "leads out"),
        ([_member("a", data=b"x"), _member("b", data=b"y")], "more than one top entry"),
        ([], "empty tar stream"),
        # A symlink on top would have the push read the host file it names.
        ([_member("loot", tarfile.SYMTYPE, link="/etc/shadow")], "no file or directory"),
        ([_member("d", tarfile.DIRTYPE), _member("d/s", tarfile.GNUTYPE_SPARSE)], "sparse"),
    ],
)
def test_a_bad_tar_stream_is_refused(
    members: list[tuple[tarfile.TarInfo, bytes]], problem: str, tmp_path: Path
) -> None:
    with pytest.raises(LxpyError, match=problem):
        _receive(_stream(*members), tmp_path)


def test_a_symlink_of_the_stream_never_leads_a_later_member_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    raw = _stream(
        _member("top", tarfile.DIRTYPE, mode=0o755),
        _member("top/way", tarfile.SYMTYPE, link=str(outside)),
        _member("top/way/planted", data=b"x"),
    )
    with pytest.raises(LxpyError, match="leads nowhere inside"):
        _receive(raw, tmp_path)
    assert list(outside.iterdir()) == []


def test_a_hard_link_of_the_stream_is_a_link_inside_it(tmp_path: Path) -> None:
    raw = _stream(
        _member("top", tarfile.DIRTYPE, mode=0o755),
        _member("top/a", data=b"x" * 4096),
        _member("top/b", tarfile.LNKTYPE, link="top/a"),
    )
    assert _receive(raw, tmp_path) == "top"
    a, b = (os.stat(tmp_path / "into" / "top" / n) for n in "ab")
    assert a.st_ino == b.st_ino and a.st_nlink == 2
    # One naming a file outside, through a symlink the stream made: refused.
    escape = _stream(
        _member("top", tarfile.DIRTYPE, mode=0o755),
        _member("top/etc", tarfile.SYMTYPE, link="/etc"),
        _member("top/shadow", tarfile.LNKTYPE, link="top/etc/shadow"),
    )
    with pytest.raises(LxpyError, match="bad tar stream"):
        (tmp_path / "again").mkdir()
        _receive(escape, tmp_path / "again")


def test_a_received_file_keeps_its_mode_but_no_setuid_bit(tmp_path: Path) -> None:
    assert _receive(_stream(_member("tool", data=b"x", mode=0o4755)), tmp_path) == "tool"
    assert os.stat(tmp_path / "into" / "tool").st_mode & 0o7777 == 0o755


def test_an_abandoned_call_ends_at_once_though_its_pipes_stay_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the TUI does as it quits: a call to a host gone quiet ends now, even while
    another process holds its pipes open, as an ssh master does for a minute."""
    import threading

    from lxpy.remote.connection import Connection

    quiet = tmp_path / "quiet-ssh"
    # Its child holds the pipes, as a master does; it ends with the test's own directory.
    quiet.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {tmp_path}/held\nexec sleep 60\n")
    quiet.chmod(0o755)
    monkeypatch.setenv(SSH_COMMAND_ENV, str(quiet))
    monkeypatch.setattr(Connection, "ready", lambda self, handshake=False: None)
    connection = Connection(Paths.for_root(str(tmp_path)), registry.Remote("far", "far.example"))
    threading.Timer(0.5, connection.abandon).start()
    begun = time.monotonic()
    with pytest.raises(protocol.RemoteError, match="given up"):
        connection.run(["ls"], timeout=30)
    assert time.monotonic() - begun < 3
    os.kill(int((tmp_path / "held").read_text()), 9)
    with pytest.raises(protocol.RemoteError, match=r"no answer within 0\.5 s"):
        Connection(Paths.for_root(str(tmp_path)), registry.Remote("b", "b.example")).run(
            ["ls"], timeout=0.5
        )
    os.kill(int((tmp_path / "held").read_text()), 9)
