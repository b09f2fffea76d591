"""Hostile inputs and faults from the security reference (items 9, 10, 14, 17, 26-28; the
escapes, 25 among them, are in test_escapes).

Each test provokes the fault with the real CLI and real containers, then checks the defended
behaviour: a clear error or a consistent success, nothing written outside, nothing leaked.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from lxpy.linux import safefs
from tests.conftest import Lxpy, Result, leaks, monitor_processes

pytestmark = pytest.mark.integration


# -- helpers --------------------------------------------------------------------------------
def _cli(lx: Lxpy, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lxpy", "--root", lx.root, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> Result:
    out, err = proc.communicate(timeout=timeout)
    return Result(proc.returncode, out, err)


def _wait_for(predicate: Callable[[], bool], timeout: float = 10, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


def _has_open(pid: int, path: str) -> bool:
    """True if process `pid` has `path` open (also once it was unlinked)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(path):
                return True
        except OSError:
            continue
    return False


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for whichever reaper inherited it (the host's may be slow)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _no_leaks_soon(lx: Lxpy, timeout: float = 10) -> list[str]:
    """Leaks still there after `timeout` (a monitor may need a moment to finish)."""
    _wait_for(lambda: not leaks(lx.root), timeout, 0.1)
    return leaks(lx.root)


def _init_pid(lx: Lxpy, name: str) -> int:
    pid = json.loads(lx.run("info", name, "--format", "json").stdout)["pid"]
    assert isinstance(pid, int)
    return pid


def _listed(lx: Lxpy) -> list[str]:
    return [c["name"] for c in json.loads(lx.run("ls", "--format", "json").stdout)]


def _one_line_error(result: Result) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _control_socket(lx: Lxpy, name: str) -> str:
    return f"{lx.paths.run_dir(name)}/control.sock"


def _connect(path: str, timeout: float = 3) -> socket.socket:
    """A connected client; retries while the listen backlog is full (bounded)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)  # a timeout makes connect() non-blocking on a full backlog
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.connect(path)
            return sock
        except BlockingIOError:
            if time.monotonic() >= deadline:
                sock.close()
                raise
            time.sleep(0.002)
        except BaseException:
            sock.close()
            raise


def _exchange(path: str, payload: bytes, timeout: float = 3) -> bytes:
    """Send `payload`, return everything the monitor answers before closing."""
    with _connect(path, timeout) as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            return b""  # dropped while we were still sending
        chunks = []
        try:
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def _state_reply(lx: Lxpy, name: str) -> str:
    return _exchange(_control_socket(lx, name), b"state\n").decode(errors="replace")


def _set_init_command(lx: Lxpy, name: str, command: str) -> None:
    config = lx.paths.config_file(name)
    with open(config) as f:
        text = f.read()
    new, count = re.subn(r"command = \[[^\]]*\]", f"command = {command}", text)
    assert count == 1, text
    with open(config, "w") as f:
        f.write(new)


# -- #10: kill -9 of the CLI in the middle of create ---------------------------------------
# Runs the real CLI with one function wrapped so that the process is known to be inside
# create at the moment it is killed: half-way through the busybox bootstrap, or with the
# rootfs and config.toml complete but not yet renamed into place.
PAUSING_CREATE = r"""
import os, sys, time
from lxpy import store
from lxpy.linux import safefs

def pause():
    os.write(1, b"paused\n")
    time.sleep(60)

if sys.argv[1] == "bootstrap":
    real_symlink = safefs.symlink
    calls = []
    def symlink(*args):
        calls.append(None)
        if len(calls) == 50:
            pause()
        return real_symlink(*args)
    safefs.symlink = symlink
else:
    real_commit = store.commit_partial
    def commit_partial(*args):
        pause()
        return real_commit(*args)
    store.commit_partial = commit_partial

from lxpy.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _partials(lx: Lxpy, name: str) -> list[str]:
    try:
        entries = os.listdir(lx.paths.containers)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(f".partial-{name}."))


def _kill_create_at_hook(lx: Lxpy, where: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSING_CREATE, where, "--root", lx.root, "create", "big"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        seen = b""

        def paused() -> bool:
            nonlocal seen
            try:
                seen += os.read(proc.stdout.fileno(), 64) if proc.stdout else b""
            except BlockingIOError:
                pass
            return b"paused" in seen or proc.poll() is not None

        _wait_for(paused, timeout=20)
        assert b"paused" in seen, f"create never reached the {where} hook (rc {proc.poll()})"
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def _kill_create_when_partial_appears(lx: Lxpy) -> None:
    """The plain CLI, SIGKILLed as soon as its partial directory shows up."""
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "lxpy", "--root", lx.root, "create", "big"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        try:
            while not _partials(lx, "big") and proc.poll() is None:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.001)
        finally:
            proc.kill()
            proc.wait(10)
        if proc.returncode == -signal.SIGKILL and _partials(lx, "big"):
            return
        # The create won the race: start over.
        if os.path.isdir(lx.paths.container_dir("big")):
            lx.run("destroy", "big")
    pytest.fail("could not kill create while its partial directory existed")


@pytest.mark.parametrize("moment", ["as-soon-as-partial-appears", "bootstrap", "before-rename"])
def test_create_killed_midway_is_never_a_container_and_is_cleaned_up(
    lxpy: Lxpy, moment: str
) -> None:
    lxpy.run("create", "other")  # an unrelated container must survive the clean-up
    if moment == "as-soon-as-partial-appears":
        _kill_create_when_partial_appears(lxpy)
    else:
        _kill_create_at_hook(lxpy, moment)
    (partial,) = _partials(lxpy, "big")
    assert not os.path.exists(lxpy.paths.container_dir("big"))
    has_config = os.path.exists(f"{lxpy.paths.containers}/{partial}/config.toml")
    if moment != "as-soon-as-partial-appears":
        # Killed half-way through the rootfs, or complete but for the rename.
        assert has_config == (moment == "before-rename")

    # Never shown, never startable.
    assert _listed(lxpy) == ["other"]
    assert "big" not in lxpy.run("ls").stdout
    for args in (("info", "big"), ("start", "big"), ("attach", "big", "--", "true")):
        result = lxpy.run(*args, check=False)
        _one_line_error(result)
        assert "no container named 'big'" in result.stderr, result.stderr
    refused = lxpy.run("start", partial, check=False)
    _one_line_error(refused)
    assert not leaks(lxpy.root)
    assert not os.path.exists(lxpy.paths.run_dir("big"))

    # The next create of that name cleans up and succeeds.
    assert lxpy.run("create", "big").stdout.strip() == "big"
    assert _partials(lxpy, "big") == []
    assert _listed(lxpy) == ["big", "other"]
    lxpy.run("start", "big")
    assert lxpy.state("big") == "RUNNING"
    assert lxpy.run("attach", "big", "--", "hostname").stdout.strip() == "big"
    assert lxpy.state("other") == "STOPPED"


# -- #14: concurrent start and destroy --force -----------------------------------------------
def _assert_gone_and_clean(lx: Lxpy, name: str) -> None:
    assert _listed(lx) == []
    info = lx.run("info", name, check=False)
    assert info.returncode != 0 and f"no container named '{name}'" in info.stderr
    assert not os.path.exists(lx.paths.container_dir(name))
    assert not os.path.exists(lx.paths.run_dir(name)), os.listdir(lx.paths.run_dir(name))
    assert _no_leaks_soon(lx) == []


def test_concurrent_start_and_destroy_force_end_consistently(lxpy: Lxpy) -> None:
    for _ in range(3):
        lxpy.run("create", "c1")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            start = pool.submit(lxpy.run, "start", "c1", check=False)
            destroy = pool.submit(lxpy.run, "destroy", "--force", "c1", check=False)
            started, destroyed = start.result(), destroy.result()
        # destroy --force always wins in the end: it stops a started container.
        assert destroyed.returncode == 0, destroyed.stderr
        if started.returncode != 0:
            _one_line_error(started)
        assert _listed(lxpy) == []
        assert not os.path.exists(lxpy.paths.container_dir("c1"))
        assert _no_leaks_soon(lxpy) == []


class _HeldLock:
    """The container's lock, taken the way lxpy takes it, to order two commands."""

    def __init__(self, lx: Lxpy, name: str) -> None:
        self.path = lx.paths.lock_file(name)
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@pytest.fixture
def stopped_processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test SIGSTOPs: always continued and reaped."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def _queued_on_the_lock(
    lxpy: Lxpy, procs: list[subprocess.Popen[str]], first: list[str], second: list[str]
) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """Run two commands that both wait for c1's lock; the first one gets it, while the second
    is held back with SIGSTOP (as a busy machine would) until the caller continues it."""
    lock = _HeldLock(lxpy, "c1")
    try:
        winner = _cli(lxpy, *first)
        procs.append(winner)
        assert _wait_for(lambda: _has_open(winner.pid, lock.path))
        loser = _cli(lxpy, *second)
        procs.append(loser)
        assert _wait_for(lambda: _has_open(loser.pid, lock.path))
        os.kill(loser.pid, signal.SIGSTOP)
    finally:
        lock.release()
    return winner, loser


def test_start_that_wins_the_lock_then_destroy_force(
    lxpy: Lxpy, stopped_processes: list[subprocess.Popen[str]]
) -> None:
    lxpy.run("create", "c1")
    start, destroy = _queued_on_the_lock(
        lxpy, stopped_processes, ["start", "c1"], ["destroy", "--force", "c1"]
    )
    started = _finish(start)
    assert started.returncode == 0, started.stderr
    init = _init_pid(lxpy, "c1")
    os.kill(destroy.pid, signal.SIGCONT)
    destroyed = _finish(destroy)
    assert destroyed.returncode == 0, destroyed.stderr
    assert _wait_for(lambda: _dead(init), 10)
    _assert_gone_and_clean(lxpy, "c1")


def test_destroy_that_wins_the_lock_then_start(
    lxpy: Lxpy, stopped_processes: list[subprocess.Popen[str]]
) -> None:
    lxpy.run("create", "c1")
    destroy, start = _queued_on_the_lock(
        lxpy, stopped_processes, ["destroy", "--force", "c1"], ["start", "c1"]
    )
    destroyed = _finish(destroy)
    assert destroyed.returncode == 0, destroyed.stderr
    os.kill(start.pid, signal.SIGCONT)
    started = _finish(start)
    # The loser gets a clear error about the container being gone, and leaves nothing.
    _one_line_error(started)
    assert "c1" in started.stderr
    assert any(
        words in started.stderr for words in ("no container named", "destroyed", "not exist")
    ), started.stderr
    _assert_gone_and_clean(lxpy, "c1")


# -- #26: who may talk to the control socket ------------------------------------------------
NON_ROOT_CLIENT = r"""
import ctypes, os, socket, sys

path, how, request = sys.argv[1], sys.argv[2], sys.argv[3].encode() + b"\n"
os.setgroups([])
if how == "fsuid-root":
    # euid nobody, but a filesystem uid of 0 (allowed: the saved uid is 0), so the 0700
    # directory does not stop it: only the monitor's SO_PEERCRED check can.
    os.setresgid(65534, 65534, 0)
    os.setresuid(65534, 65534, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(0)
    if libc.setfsuid(-1) != 0 or os.geteuid() != 65534:
        print("setup-failed")
        sys.exit(0)
else:
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(path)
except PermissionError:
    print("connect-denied")
    sys.exit(0)
try:
    s.sendall(request)
    data = s.recv(4096)
except (BrokenPipeError, ConnectionResetError):
    data = b""
print("reply:" + data.decode(errors="replace").strip())
"""


def _as_nobody(path: str, how: str, request: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", NON_ROOT_CLIENT, path, how, request],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout.strip()


def test_non_root_cannot_reach_or_use_the_control_socket(lxpy: Lxpy, running: str) -> None:
    init = _init_pid(lxpy, running)
    (monitor,) = monitor_processes(lxpy.root)
    path = _control_socket(lxpy, running)
    run_dir = os.stat(lxpy.paths.run_dir(running))
    assert run_dir.st_uid == 0 and run_dir.st_mode & 0o077 == 0
    assert os.stat(path).st_uid == 0 and os.stat(path).st_mode & 0o077 == 0

    # A plain non-root user cannot even reach the socket.
    assert _as_nobody(path, "plain", "state") == "connect-denied"
    assert _as_nobody(path, "plain", "stop 0 1") == "connect-denied"
    # One that gets past the directory (fsuid 0) is refused by the peer check: no answer,
    # and a stop request does nothing.
    assert _as_nobody(path, "fsuid-root", "state") == "reply:"
    assert _as_nobody(path, "fsuid-root", "stop 0 1") == "reply:"
    time.sleep(0.3)
    assert lxpy.state(running) == "RUNNING"
    assert _init_pid(lxpy, running) == init
    assert monitor_processes(lxpy.root) == [monitor]
    assert _state_reply(lxpy, running) == f"RUNNING {init}\n"

    # From inside the container, the socket is not even there.
    inside = lxpy.run("attach", running, "--", "sh", "-c", f"test -e {path}", check=False)
    assert inside.returncode == 1


# -- #27: malformed, oversized and idle control-socket clients ------------------------------
GARBAGE = [
    ("10KB-no-newline", b"x" * 10240),
    ("oversized-line", b"x" * 300 + b"\n"),
    ("oversized-state", b"state" + b" " * 300 + b"\n"),
    ("binary", b"\xff\xfe\xfd state\n"),
    ("non-ascii", "état\n".encode()),
    ("nul-bytes", b"\x00" * 64 + b"\n"),
    ("unknown-verb", b"bogus\n"),
    ("empty-line", b"\n"),
    ("stop-with-a-bad-timeout", b"stop nope\n"),
]


def test_malformed_requests_are_dropped_and_the_monitor_keeps_serving(
    lxpy: Lxpy, running: str
) -> None:
    init = _init_pid(lxpy, running)
    (monitor,) = monitor_processes(lxpy.root)
    path = _control_socket(lxpy, running)
    for what, payload in GARBAGE:
        reply = _exchange(path, payload)
        assert reply == b"" or reply.startswith(b"error"), (what, reply)
        assert _state_reply(lxpy, running) == f"RUNNING {init}\n", what
    assert monitor_processes(lxpy.root) == [monitor]
    assert lxpy.state(running) == "RUNNING"
    assert lxpy.run("attach", running, "--", "true").returncode == 0


def _open_idle(path: str, count: int, timeout: float = 20) -> list[socket.socket]:
    """Up to `count` connections that never send a full request (fewer if refused)."""
    conns: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    try:
        while len(conns) < count and time.monotonic() < deadline:
            try:
                sock = _connect(path, timeout=max(0.1, deadline - time.monotonic()))
            except (ConnectionRefusedError, FileNotFoundError, BlockingIOError):
                break  # the monitor is gone or stopped accepting
            conns.append(sock)
            if len(conns) % 2:
                try:
                    sock.send(b"sta")  # half a request, never finished
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the monitor dropped it to make room: also fine
    except BaseException:
        for sock in conns:
            sock.close()
        raise
    return conns


def _state_within(lx: Lxpy, name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _state_reply(lx, name)
        except OSError:
            if time.monotonic() >= deadline:
                return "no answer"
            time.sleep(0.1)


def test_idle_clients_do_not_block_the_monitor(lxpy: Lxpy, running: str) -> None:
    init = _init_pid(lxpy, running)
    (monitor,) = monitor_processes(lxpy.root)
    conns = _open_idle(_control_socket(lxpy, running), 200)
    try:
        assert len(conns) == 200
        assert _state_within(lxpy, running, 5) == f"RUNNING {init}\n"
    finally:
        for sock in conns:
            sock.close()
    assert _state_within(lxpy, running, 5) == f"RUNNING {init}\n"
    assert monitor_processes(lxpy.root) == [monitor]


@pytest.fixture
def many_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_idle_clients_do_not_take_the_container_down(
    lxpy: Lxpy, running: str, many_fds: None
) -> None:
    init = _init_pid(lxpy, running)
    (monitor,) = monitor_processes(lxpy.root)
    conns = _open_idle(_control_socket(lxpy, running), 1100)
    try:
        time.sleep(0.5)
        assert monitor_processes(lxpy.root) == [monitor]
        assert lxpy.state(running) == "RUNNING"
    finally:
        for sock in conns:
            sock.close()
    # Once they are gone, the monitor answers again (a cap on clients may refuse meanwhile).
    assert _state_within(lxpy, running, 5) == f"RUNNING {init}\n"
    assert monitor_processes(lxpy.root) == [monitor]
    assert _init_pid(lxpy, running) == init


# -- #28: the console log path pre-planted as a symlink --------------------------------------
@pytest.mark.parametrize("planted", ["console.log", "monitor.log"])
def test_planted_log_symlink_is_not_followed(lxpy: Lxpy, planted: str) -> None:
    lxpy.run("create", "c1")
    victim = f"{lxpy.root}/host-victim"
    with open(victim, "w") as f:
        f.write("precious host file\n")
    os.utime(victim, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = os.stat(victim)
    link = f"{lxpy.paths.container_dir('c1')}/{planted}"
    os.symlink(victim, link)

    started = lxpy.run("start", "c1", check=False)
    if started.returncode == 0:
        time.sleep(0.5)  # let the container write some console output, if it goes anywhere
        lxpy.run("stop", "c1", "--kill")
    else:
        _one_line_error(started)
    log = lxpy.run("console", "c1", "--log", check=False)
    assert "precious" not in log.stdout

    with open(victim) as f:
        assert f.read() == "precious host file\n"
    after = os.stat(victim)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert os.path.islink(link)
    assert lxpy.wait_state("c1", "STOPPED") == "STOPPED"
    assert _no_leaks_soon(lxpy) == []

    # Without the planted link, the container starts normally.
    os.unlink(link)
    lxpy.run("start", "c1")
    assert lxpy.state("c1") == "RUNNING"


def test_planted_monitor_log_symlink_gives_a_clear_error(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    victim = f"{lxpy.root}/host-victim"
    with open(victim, "w") as f:
        f.write("precious host file\n")
    os.symlink(victim, f"{lxpy.paths.container_dir('c1')}/monitor.log")
    started = lxpy.run("start", "c1", check=False)
    _one_line_error(started)
    assert "monitor.log" in started.stderr, started.stderr
    assert not os.path.exists(lxpy.paths.run_dir("c1"))


# -- #9: a host directory bind-mounted into the rootfs, then destroy -------------------------
def _host_tree(lx: Lxpy) -> tuple[str, str]:
    host = f"{lx.root}/host-data"
    os.makedirs(f"{host}/deep/deeper")
    with open(f"{host}/deep/deeper/precious", "w") as f:
        f.write("keep me")
    single = f"{lx.root}/host-file"
    with open(single, "w") as f:
        f.write("keep me too")
    return host, single


def _bind(source: str, target: str, mounted: list[str]) -> None:
    subprocess.run(["mount", "--bind", source, target], check=True)
    mounted.append(target)


def _assert_host_tree_intact(host: str, single: str) -> None:
    with open(f"{host}/deep/deeper/precious") as f:
        assert f.read() == "keep me"
    with open(single) as f:
        assert f.read() == "keep me too"


@pytest.mark.parametrize("situation", ["stopped", "running-with-killed-monitor"])
def test_destroy_force_keeps_bind_mounted_host_files(lxpy: Lxpy, situation: str) -> None:
    lxpy.run("create", "c1")
    init = None
    if situation != "stopped":
        lxpy.run("start", "c1")
        init = _init_pid(lxpy, "c1")
        (monitor,) = monitor_processes(lxpy.root)
        os.kill(monitor, signal.SIGKILL)
        assert _wait_for(lambda: _dead(monitor), 5)
        assert lxpy.state("c1") == "RUNNING"
    host, single = _host_tree(lxpy)
    rootfs = lxpy.paths.rootfs("c1")
    os.makedirs(f"{rootfs}/mnt/host")
    os.makedirs(f"{rootfs}/var/lib/data")
    with open(f"{rootfs}/etc/motd", "w") as f:
        f.write("")
    mounted: list[str] = []
    try:
        _bind(host, f"{rootfs}/mnt/host", mounted)
        _bind(f"{host}/deep", f"{rootfs}/var/lib/data", mounted)  # a second, nested view
        _bind(single, f"{rootfs}/etc/motd", mounted)  # a single host file
        lxpy.run("destroy", "--force", "c1")
    finally:
        for target in reversed(mounted):
            if os.path.ismount(target) or target in safefs.mounts_under(lxpy.root):
                subprocess.run(["umount", "-l", target], check=False)
    _assert_host_tree_intact(host, single)
    assert not os.path.exists(lxpy.paths.container_dir("c1"))
    assert _listed(lxpy) == []
    assert not safefs.mounts_under(lxpy.root)
    if init is not None:
        assert _wait_for(lambda: _dead(init), 10)
    assert _no_leaks_soon(lxpy) == []


# -- #17: an init that exits at once ---------------------------------------------------------
def test_init_that_exits_at_once_ends_stopped_with_its_status_in_the_log(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    _set_init_command(lxpy, "c1", '["/bin/false"]')
    started = lxpy.run("start", "c1", check=False)
    if started.returncode != 0:
        # Refusing is fine too, with the exit status in the one-line error.
        _one_line_error(started)
        assert "exit status 1" in started.stderr, started.stderr
    assert lxpy.wait_state("c1", "STOPPED") == "STOPPED"
    assert _no_leaks_soon(lxpy) == []
    assert not monitor_processes(lxpy.root)
    assert _wait_for(lambda: not os.path.exists(lxpy.paths.run_dir("c1")), 5)
    info = json.loads(lxpy.run("info", "c1", "--format", "json").stdout)
    assert info["state"] == "STOPPED" and info["pid"] is None
    log = lxpy.run("console", "c1", "--log").stdout
    assert "exit status 1" in log, log
