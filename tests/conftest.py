"""Fixtures: every test gets its own state root, and leaves nothing behind on the machine.

The finalizers stop and destroy whatever a test created, then check for leaks (processes,
cgroups, mounts) so that a leak fails the test that caused it, even after a failure.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from lxpy.linux import safefs
from lxpy.linux.cgroups import hierarchies
from lxpy.net.hostsfile import without_other_roots as without_other_roots
from lxpy.paths import Paths
from lxpy.remote import registry
from lxpy.remote.connection import SSH_COMMAND_ENV
from tests.sshd import Sshd, running_sshd

IS_ROOT = os.geteuid() == 0

# The committed man pages and completion scripts are made with the Python CI runs (3.11):
# argparse words its help a little differently in each version, so only that one compares.
GENERATED_BY_THIS_PYTHON = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="the committed files are made with Python 3.11; argparse words help differently since",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Integration tests need root; CI runs as root, so there they always run.
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root (CI runs these as root)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


def state_root(prefix: str) -> str:
    """A temporary state root. 0711, as /var/lib is: the networks' dnsmasq runs as nobody
    and must pass through it to the files it watches."""
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o711)
    return root


# `python -c MAIN_THEN_MODULES OUT ARGS`: `lxpy ARGS`, as the script runs it, that writes the
# modules it loaded to OUT at its end; its forks (the launcher, monitors) write nothing.
# main() leaves by os._exit (past atexit and `finally`), argparse by SystemExit: both write.
MAIN_THEN_MODULES = """
import os, sys

out = sys.argv.pop(1)
me = os.getpid()
real_exit = os._exit


def dump():
    if os.getpid() == me:
        with open(out, "w") as f:
            f.write("\\n".join(sorted(sys.modules)))


def exit_after_dump(code):
    dump()
    real_exit(code)


os._exit = exit_after_dump
sys.argv[0] = "lxpy"
from lxpy.__main__ import main

try:
    main()
finally:
    dump()
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Lxpy:
    """Runs the real CLI against one temporary root."""

    root: str

    @property
    def paths(self) -> Paths:
        return Paths.for_root(self.root)

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60, check: bool = True
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "lxpy", "--root", self.root, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"lxpy {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return result

    def state(self, name: str) -> str:
        import json

        return str(json.loads(self.run("info", name, "--format", "json").stdout)["state"])

    def wait_state(self, name: str, wanted: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        state = self.state(name)
        while state != wanted and time.monotonic() < deadline:
            time.sleep(0.1)
            state = self.state(name)
        return state


class PtyProcess:
    """A command run in a pseudo-terminal, as a person at a terminal would run it."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.status: int | None = None

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        seen = b""
        deadline = time.monotonic() + timeout
        while needle not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        return seen

    def wait(self, timeout: float = 10) -> int | None:
        """The exit code, or None if it is still running after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.status is None and time.monotonic() < deadline:
            self.read_until(b"\0", timeout=0.1)  # keep draining so it never blocks on output
            done, raw = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = raw
        return None if self.status is None else os.waitstatus_to_exitcode(self.status)

    def close(self) -> None:
        if self.status is None:
            os.kill(self.pid, 9)
            _, self.status = os.waitpid(self.pid, 0)
        os.close(self.fd)


@contextlib.contextmanager
def in_pty(lx: Lxpy, *args: str) -> Iterator[PtyProcess]:
    proc = PtyProcess([sys.executable, "-m", "lxpy", "--root", lx.root, *args])
    try:
        yield proc
    finally:
        proc.close()


def monitor_processes(root: str) -> list[int]:
    """Monitors in the root's cgroups (their cmdline only shows the container's name)."""
    instance = Paths.for_root(root).instance
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "monitor" in cmd and "lxpy" in cmd and instance in _cgroups_of(proc.pid):
            found.append(proc.pid)
    return found


def _cgroups_of(pid: int) -> str:
    """/proc/PID/cgroup (psutil has no reader for it), or "" once the process is gone."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return f.read()
    except OSError:
        return ""


def instance_cgroups(instance: str) -> list[str]:
    return [
        f"{h.mountpoint}/{instance}"
        for h in hierarchies()
        if os.path.isdir(f"{h.mountpoint}/{instance}")
    ]


def network_leftovers(root: str) -> list[str]:
    """Bridges, nft tables and dnsmasq processes of the root's networks: leaks once the
    networks are removed (while they exist, they are the root's own infrastructure)."""
    from lxpy.net import model

    paths = Paths.for_root(root)
    found = []
    for name in [*model.names(paths), model.default_network(paths)]:
        if os.path.exists(f"/sys/class/net/{name}"):
            found.append(f"bridge {name}")
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        if f"lxpy-{name}" in tables.split():
            found.append(f"nft table lxpy-{name}")
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or [""]
        if cmd[0].startswith("dnsmasq") and any(f"={root}/" in arg for arg in cmd):
            found.append(f"dnsmasq pid {proc.pid}")
    return found


def leaks(root: str) -> list[str]:
    instance = Paths.for_root(root).instance
    problems = [f"cgroup {p}" for p in instance_cgroups(instance)]
    problems += [f"mount {m}" for m in safefs.mounts_under(root)]
    problems += [f"monitor pid {p}" for p in monitor_processes(root)]
    problems += [f"veth {v}" for v in veths(root)]
    return problems


def veths(root: str) -> list[str]:
    """Container NICs (host ends) on the root's bridges; none once its containers stopped."""
    from lxpy.net import model

    paths = Paths.for_root(root)
    found = []
    for name in {*model.names(paths), model.default_network(paths)}:
        try:
            found += os.listdir(f"/sys/class/net/{name}/brif")
        except FileNotFoundError:
            continue
    return found


def sh(lx: Lxpy, name: str, script: str, check: bool = True) -> str:
    """What `script` prints, run by sh inside the running container `name`."""
    return lx.run("attach", name, "--", "sh", "-c", script, check=check).stdout


def cleanup(lx: Lxpy) -> None:
    containers = lx.paths.containers
    names = (
        [n for n in os.listdir(containers) if not n.startswith(".")]
        if os.path.isdir(containers)
        else []
    )
    for name in names:
        lx.run("destroy", "--force", name, check=False, timeout=120)
    for pid in monitor_processes(lx.root):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    from lxpy.net import model

    for network in model.names(lx.paths):
        lx.run("network", "rm", network, check=False, timeout=60)


@contextlib.contextmanager
def temporary_root(prefix: str) -> Iterator[Lxpy]:
    """A state root that is emptied and removed at the end, pass or fail; anything left on
    the machine (mounts, cgroups, processes, networks) fails the test that left it."""
    root = state_root(prefix)
    lx = Lxpy(root)
    try:
        yield lx
    finally:
        cleanup(lx)
        found = leaks(root) + network_leftovers(root) + hosts_leftovers(root)
        for mount in safefs.mounts_under(root):
            subprocess.run(["umount", "-l", mount], check=False)
        safefs.remove_tree(root)
        assert not found, f"leaked: {found}"


def hosts_leftovers(root: str) -> list[str]:
    """The root's block in the host's /etc/hosts, which goes with its last running
    container: a leak, reported and then removed so that the host keeps no stale name."""
    from lxpy.net.hostsfile import HOSTS, HostsFile

    instance = Paths.for_root(root).instance
    with open(HOSTS) as f:
        if f"# BEGIN lxpy {instance}\n" not in f.read():
            return []
    HostsFile().forget_addresses(instance, lambda address: True)
    return [f"{HOSTS} block of {instance}"]


def install_files(dest: str | os.PathLike[str]) -> None:
    """What `contrib/install.sh` installs besides lxpy itself (man pages, shell completion),
    under `dest` as if it were /."""
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "contrib/install.sh")
    subprocess.run(
        [script, "--files-only"],
        env={**os.environ, "DESTDIR": os.fspath(dest)},
        check=True,
        capture_output=True,
    )


@pytest.fixture
def lxpy() -> Iterator[Lxpy]:
    with temporary_root("lxpy-test-") as lx:
        yield lx


@pytest.fixture
def running(lxpy: Lxpy) -> Iterator[str]:
    """A started busybox container named c1."""
    lxpy.run("create", "c1", "--template", "busybox")
    lxpy.run("start", "c1")
    yield "c1"


ESCAPE_SOURCE = Path(__file__).parent / "escape" / "escape.c"


# A remote's lxpy: this checkout's, run by the remote user's shell.
LXPY = f"{sys.executable} -m lxpy"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(str(tmp_path_factory.mktemp("sshd"))) as server:
        yield server


@pytest.fixture
def far(lxpy: Lxpy, sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lxpy]:
    """A second root, known to `lxpy` as the remote `far` over the tests' sshd; its SSH
    master closed at the end, and nothing of its own left running there."""
    monkeypatch.setenv(SSH_COMMAND_ENV, sshd.ssh_command)
    with temporary_root("lxpy-far-") as remote:
        lxpy.run("remote", "add", "far", sshd.address, "--root", remote.root, "--command", LXPY)
        try:
            yield remote
        finally:
            for name in registry.load(lxpy.paths).remotes:
                lxpy.run("remote", "rm", name, check=False)
            assert not masters(lxpy), "an ssh master outlived `remote rm`"
            # A command left there (`lxpy events`) ends once its ssh has gone: soon.
            deadline = time.monotonic() + 5
            while lxpy_processes(remote.root) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not lxpy_processes(remote.root), "an lxpy outlived its ssh there"


def masters(lx: Lxpy) -> list[str]:
    """The SSH masters of `lx`'s remotes."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"{lx.root}/run/ssh/" in line]


def lxpy_processes(root: str) -> list[int]:
    """lxpy commands on `root` still running (monitors aside: `leaks` has those)."""
    return [
        proc.pid
        for proc in psutil.process_iter(["cmdline"])
        if (cmd := proc.info["cmdline"] or [])
        and "lxpy" in cmd
        and root in cmd
        and "monitor" not in cmd
    ]


def control_socket(lx: Lxpy, name: str) -> str:
    """The control socket of the master of `lx`'s remote `name` (named for where it leads)."""
    [found] = Path(f"{lx.root}/run/ssh").glob(f"{name}-*")
    return str(found)


def master_pid(lx: Lxpy, sshd: Sshd, name: str) -> int:
    """The pid of the SSH master of `lx`'s remote `name`, as ssh itself says."""
    import re

    said = subprocess.run(
        [*sshd.ssh_command.split(), "-S", control_socket(lx, name), "-O", "check", "x"],
        capture_output=True,
        text=True,
    ).stderr
    found = re.search(r"pid=(\d+)", said)
    assert found, said
    return int(found.group(1))


@pytest.fixture(scope="session")
def escape_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/escape/escape.c built static (runs in any rootfs): the escapes of the security
    reference, one subcommand each. A missing compiler fails: skipping would pass a run in
    which no escape was tried."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.fail("gcc is needed to build tests/escape/escape.c: apt-get install gcc libc6-dev")
    binary = tmp_path_factory.mktemp("escape") / "escape"
    built = subprocess.run(
        [compiler, "-static", "-O1", "-Wall", "-o", str(binary), str(ESCAPE_SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if built.returncode != 0:
        pytest.fail(f"cannot build {ESCAPE_SOURCE} (needs libc6-dev): {built.stderr.strip()}")
    return str(binary)


SNAPSHOTS = os.path.join(os.path.dirname(__file__), "snapshots")


def matches_snapshot(svg: str, name: str, tmp_path: Path) -> None:
    """A screen's SVG against the committed tests/snapshots/NAME. After a deliberate change,
    LXPY_UPDATE_SNAPSHOTS=1 writes the new one (look at it before committing it)."""
    expected_file = os.path.join(SNAPSHOTS, name)
    if os.environ.get("LXPY_UPDATE_SNAPSHOTS"):
        with open(expected_file, "w") as f:
            f.write(svg)
    with open(expected_file) as f:
        expected = f.read()
    if svg != expected:
        seen = tmp_path / name
        seen.write_text(svg)
        raise AssertionError(f"{name} changed: compare {expected_file} with {seen}")
