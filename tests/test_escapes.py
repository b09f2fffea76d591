"""Escapes from a container's root to the host's (security reference items 18, 25, 33-39).

Each attack got through from a default container of lxpy's first versions (privileged, no
seccomp); each must stay a test that fails to escape. The attacks are tests/escape/escape.c,
built static by the `escape_binary` fixture, pushed into the container and run there as root:
"ok ..." means it got through, "denied ..." that the kernel refused.

The probes that change nothing share containers for the whole module; an attack that would
leave a container changed (a remount, a FIFO, a paused attach) gets a container of its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import stat
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from lxpy.linux.cgroups import ContainerCgroups, Hierarchy, hierarchies
from tests.conftest import Lxpy, temporary_root

pytestmark = pytest.mark.integration

HELPER = "/bin/lxpy-escape"
# A node of the host's disk put into the rootfs from the host (as an image layer could carry
# one): mounting by a path the container did not have to mknod must fail too.
PLANTED = "/lxpy-planted-disk"


# -- running the attacks ---------------------------------------------------------------------
def attack(lx: Lxpy, name: str, *args: str) -> str:
    """The attack's one line, from inside the container."""
    result = lx.run("attach", name, "--", HELPER, *args, check=False, timeout=60)
    line = result.stdout.strip()
    assert line.startswith(("ok ", "denied ")), (
        f"escape {' '.join(args)}: no verdict (exit {result.returncode}): "
        f"{result.stdout!r} {result.stderr!r}"
    )
    return line


def denied(lx: Lxpy, name: str, *args: str) -> str:
    line = attack(lx, name, *args)
    if not line.startswith("denied "):
        pytest.fail(f"escape {' '.join(args)} got through: {line}")
    return line


def on_host(binary: str, *args: str) -> str:
    """A set-up step of the helper, run on the host (a key to steal, a handle to guess)."""
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"escape {' '.join(args)} on the host: {result.stdout}"
    return result.stdout.strip()


def sh(lx: Lxpy, name: str, script: str) -> str:
    result = lx.run("attach", name, "--", "sh", "-c", script, check=False, timeout=60)
    return result.stdout + result.stderr


def init_pid(lx: Lxpy, name: str) -> int:
    pid = json.loads(lx.run("info", name, "--format", "json").stdout)["pid"]
    assert isinstance(pid, int)
    return pid


# -- containers ------------------------------------------------------------------------------
KINDS: dict[str, tuple[str, ...]] = {
    "dir": (),
    "overlay": (),  # made overlay by its first snapshot (busybox has no image to stand on)
    "shared-folder": (),  # overlay, with a host folder of the rootfs's disk shared inside
    "privileged": ("--privileged",),
}


def host_disk(lx: Lxpy, name: str) -> tuple[int, int, str]:
    """Major, minor and filesystem type of the host disk that holds the container's files."""
    dev = os.stat(lx.paths.container_dir(name)).st_dev
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[2] == wanted:
                return os.major(dev), os.minor(dev), fields[fields.index("-") + 1]
    raise AssertionError(f"no mount of device {wanted} on the host")


def make_container(lx: Lxpy, binary: str, name: str, kind: str, *extra: str) -> str:
    """A started busybox container of `kind` with the helper in it."""
    lx.run("create", name, "--template", "busybox", "--network", "none", *KINDS[kind], *extra)
    top = lx.paths.rootfs(name)
    if kind in ("overlay", "shared-folder"):
        lx.run("snapshot", name)
        assert lx.run("config", "get", name, "storage.kind").stdout.strip() == "overlay"
        top = f"{lx.paths.container_dir(name)}/overlay/upper"
    if kind == "shared-folder":
        shared = f"{lx.root}/shared-{name}"
        os.mkdir(shared)
        lx.run("mount", "add", name, shared, "/mnt/shared")
    if kind != "privileged":
        major, minor, _ = host_disk(lx, name)
        os.mknod(f"{top}{PLANTED}", 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    lx.run("start", name)
    lx.run("file", "push", name, binary, HELPER, "--mode", "755")
    return name


class Boxes:
    """Containers shared by the module's probes, made on first use."""

    def __init__(self, lx: Lxpy, binary: str) -> None:
        self.lx = lx
        self.binary = binary
        self.made: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    def __call__(self, kind: str) -> str:
        if kind in self.failed:
            pytest.fail(self.failed[kind])
        if kind not in self.made:
            try:
                self.made[kind] = make_container(self.lx, self.binary, f"probe-{kind}", kind)
            except AssertionError as e:
                self.failed[kind] = f"cannot make the {kind} container: {e}"
                raise
        return self.made[kind]


@pytest.fixture(scope="module")
def boxes(escape_binary: str) -> Iterator[Boxes]:
    with temporary_root("lxpy-escapes-") as lx:
        yield Boxes(lx, escape_binary)


@pytest.fixture
def host_key(escape_binary: str) -> Iterator[tuple[str, str]]:
    """A key in the host root's user keyring (serial, secret), removed at the end."""
    description = f"lxpy-escape-test-{os.getpid()}"
    secret = f"secret-{uuid.uuid4().hex}"
    serial = on_host(escape_binary, "add-key", description, secret)
    try:
        yield serial, secret
    finally:
        on_host(escape_binary, "remove-key", serial)
        deadline = time.monotonic() + 5
        while description in _host_keys() and time.monotonic() < deadline:
            time.sleep(0.1)  # an invalidated key is gone once the key collector ran
        assert description not in _host_keys()


def _host_keys() -> str:
    with open("/proc/keys") as f:
        return f.read()


CORE_PATTERN = "/proc/sys/kernel/core_pattern"


@pytest.fixture
def host_core_pattern() -> Iterator[None]:
    """The host's core_pattern, unchanged by the test (put back, and the test failed, if not)."""
    with open(CORE_PATTERN) as f:
        before = f.read()
    yield
    with open(CORE_PATTERN) as f:
        after = f.read()
    if after != before:
        with open(CORE_PATTERN, "w") as f:
            f.write(before)
    assert after == before, f"the host's core_pattern became {after!r}"


# -- #33: open_by_handle_at, the "shocker" exploit ---------------------------------------------
@pytest.mark.parametrize("kind", ["dir", "overlay", "shared-folder"])
def test_open_by_handle_at_never_reaches_the_host(boxes: Boxes, kind: str) -> None:
    """A guessed handle (ext4's root: inode 2, generation 0) decoded through `/` and every
    other mount inside; on `dir` storage `/` is a directory of the host's disk, and a shared
    folder puts that disk inside an overlay container too."""
    denied(boxes.lx, boxes(kind), "handle")


# -- #34: mknod of the host's disk, and mounting it -------------------------------------------
@pytest.mark.parametrize("kind", ["dir", "overlay"])
def test_the_host_disk_can_be_neither_made_nor_mounted(boxes: Boxes, kind: str) -> None:
    """The node made in /dev, /tmp and /, or the one planted in the rootfs: never opened,
    never mounted (mounting shares the host's superblock without opening the device)."""
    name = boxes(kind)
    major, minor, fstype = host_disk(boxes.lx, name)
    denied(boxes.lx, name, "mknod-mount", str(major), str(minor), fstype, PLANTED)


# -- #35: /proc/sys and /sys made writable again -----------------------------------------------
# Each prints a line starting with WROTE, WRITABLE, RW or UNMOUNTED for what got through. A
# write puts back the value it read, so one that gets through changes nothing on the host.
PROBES = r"""
w() { v=$(cat "$1") && printf '%s\n' "$v" > "$1" 2>/dev/null && echo "WROTE $1"; }
t() { { : >> "$1"; } 2>/dev/null && echo "WRITABLE $1"; }  # opened, nothing written
rw() { awk -v m="$1" '$5 == m {o = $6; s = $NF} END {print o, s}' /proc/self/mountinfo | \
       grep -q '^rw.* rw' && echo "RW $1"; }  # a writable mount of a writable superblock
"""
WRITE_ATTEMPTS = {
    "remount-proc-sys": "mount -o remount,rw /proc/sys; mount -o remount,bind,rw /proc/sys; "
    "rw /proc/sys; w /proc/sys/kernel/core_pattern",
    "remount-sys": "mount -o remount,rw /sys; mount -o remount,bind,rw /sys; rw /sys; t $SYSFILE",
    "fresh-proc": "mkdir -p /tmp/p && mount -t proc proc /tmp/p && "
    "{ w /tmp/p/sys/kernel/core_pattern; t /tmp/p/sysrq-trigger; umount -l /tmp/p; }",
    "fresh-sysfs": "mkdir -p /tmp/s && mount -t sysfs sysfs /tmp/s && "
    "{ t /tmp/s/${SYSFILE#/sys/}; umount -l /tmp/s; }",
    # Every mount under /proc but the container's own /proc/sys/net is a mask or the
    # read-only /proc/sys; deepest first.
    "unmount-masks": 'for m in $(awk \'$5 ~ "^/proc/" && $5 != "/proc/sys/net" {print $5}\' '
    "/proc/self/mountinfo | sort -r -u); do umount -l $m 2>/dev/null && echo UNMOUNTED $m; "
    "done; w /proc/sys/kernel/core_pattern; t /proc/sysrq-trigger",
}
GOT_THROUGH = re.compile(r"^(WROTE|WRITABLE|RW|UNMOUNTED) .*$", re.M)


def writable_sysfs_file() -> str:
    """A sysfs file only the host's root may write (mode 0644, owned by root)."""
    for path in (
        "/sys/kernel/mm/ksm/sleep_millisecs",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/profiling",
        "/sys/power/state",
    ):
        if os.path.exists(path):
            st = os.stat(path)
            if st.st_uid == 0 and st.st_mode & 0o222 == 0o200:
                return path
    pytest.fail("no root-only writable sysfs file to probe on this host")


def try_writes(lx: Lxpy, name: str, which: str) -> list[str]:
    script = f"SYSFILE={writable_sysfs_file()}\n{PROBES}\n{WRITE_ATTEMPTS[which]}"
    return [m.group(0) for m in GOT_THROUGH.finditer(sh(lx, name, script))]


def assert_none_got_through(found: list[str]) -> None:
    if found:
        pytest.fail("got through:\n" + "\n".join(found))


@pytest.fixture
def own(lxpy: Lxpy, escape_binary: str) -> Callable[..., str]:
    """A container of the test's own (`kind`, extra create options): for attacks that would
    leave it changed."""

    def make(kind: str = "dir", *extra: str) -> str:
        return make_container(lxpy, escape_binary, "c1", kind, *extra)

    return make


@pytest.mark.parametrize("which", list(WRITE_ATTEMPTS))
def test_proc_sys_and_sys_cannot_be_made_writable(
    lxpy: Lxpy, own: Callable[..., str], host_core_pattern: None, which: str
) -> None:
    """A remount read-write (of the superblock or of the bind), a fresh proc or sysfs, or
    unmounting what covers /proc: core_pattern (`|/prog` runs as the host's root) and the
    rest stay out of reach."""
    assert_none_got_through(try_writes(lxpy, own(), which))


# -- #36: the host's root cgroup --------------------------------------------------------------
def cgroup_hierarchy(version: int) -> Hierarchy:
    """The hierarchy of `version` with the pids controller if it has it (where a way out of
    the container's cgroup is a way out of its pids limit)."""
    found = sorted(
        (h for h in hierarchies() if h.version == version),
        key=lambda h: "pids" not in h.controllers,
    )
    if not found:
        pytest.skip(f"this host has no cgroup v{version} hierarchy")
    return found[0]


def root_cgroup_handle(binary: str, hierarchy: Hierarchy) -> list[str]:
    """The handle of the host's root cgroup of `hierarchy` (kernfs: a predictable node id)."""
    handle = on_host(binary, "name-handle", hierarchy.mountpoint).split()
    assert len(handle) == 2, handle
    return handle


@pytest.mark.parametrize(
    ("version", "target", "data"),
    [(1, "release_agent", "same"), (1, "cgroup.procs", "pid"), (2, "cgroup.procs", "pid")],
    ids=["v1-release_agent", "v1-cgroup.procs", "v2-cgroup.procs"],
)
def test_the_host_root_cgroup_can_be_neither_opened_nor_written(
    boxes: Boxes, version: int, target: str, data: str
) -> None:
    """CVE-2022-0492's release_agent (a program run as the host's root), reached through the
    handle of the host's root cgroup decoded on the container's own cgroup mounts; or moving
    a process there, out of every limit."""
    hierarchy = cgroup_hierarchy(version)
    handle = root_cgroup_handle(boxes.binary, hierarchy)
    agents = [f"{h.mountpoint}/release_agent" for h in hierarchies() if h.version == 1]
    before = [_read(agent) for agent in agents]
    fstype = "cgroup" if version == 1 else "cgroup2"
    denied(boxes.lx, boxes("dir"), "handle", *handle, target, data, fstype)
    assert [_read(agent) for agent in agents] == before


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def pids_current(lx: Lxpy, name: str) -> int:
    cg = ContainerCgroups(lx.paths.instance, name)
    h = next(h for h in cg.hierarchies if "pids" in h.controllers)
    with open(os.path.join(cg.payload(h), "pids.current")) as f:
        return int(f.read())


def test_a_fork_bomb_stays_inside_the_pids_limit(
    lxpy: Lxpy, own: Callable[..., str], escape_binary: str
) -> None:
    """The bomb's shell first tries to move itself into the host's root cgroup (through its
    handle), then forks until fork fails; all of it is killed with the stop."""
    name = own("dir", "--pids", "100")
    pids = next(h for h in hierarchies() if "pids" in h.controllers)
    handle = root_cgroup_handle(escape_binary, pids)
    fstype = "cgroup" if pids.version == 1 else "cgroup2"
    # The sleeps get no copy of attach's pipes, or attach would wait for them to end.
    script = (
        f"{HELPER} handle {' '.join(handle)} cgroup.procs ppid {fstype} >/tmp/moved "
        "</dev/null 2>&1; "
        "i=0; while [ $i -lt 500 ]; do sleep 30 </dev/null >/dev/null 2>&1 & i=$((i+1)); done"
        " 2>/dev/null; true"
    )
    lxpy.run("attach", name, "--", "sh", "-c", script, check=False, timeout=60)
    moved = lxpy.run("attach", name, "--", "cat", "/tmp/moved").stdout.strip()
    count = pids_current(lxpy, name)
    lxpy.run("stop", name, "--kill")
    assert moved.startswith("denied "), f"the bomb's shell left the container's cgroup: {moved}"
    # At the limit and not past it: 500 sleeps were asked for, the kernel refused the rest.
    assert 90 <= count <= 100, count


# -- #38: the host's keys, and kernel interfaces ---------------------------------------------
def test_the_host_root_keys_cannot_be_read(boxes: Boxes, host_key: tuple[str, str]) -> None:
    """Reading a key of the host root's user keyring by serial, listing that keyring, adding
    to it: the same uid inside must not be the same keyring owner."""
    serial, secret = host_key
    line = denied(boxes.lx, boxes("dir"), "keyctl", serial)
    assert secret not in line


@pytest.mark.parametrize("interface", ["syslog", "kallsyms", "perf", "bpf", "userfaultfd"])
def test_kernel_interfaces_are_denied(boxes: Boxes, interface: str) -> None:
    """dmesg (klogctl), /proc/kallsyms's addresses (all zero), perf_event_open (CPU-wide or of
    itself), bpf (a map) and userfaultfd (kernel faults, or user mode only)."""
    denied(boxes.lx, boxes("dir"), interface)


def _stop_all(proc: subprocess.Popen[Any]) -> None:
    """The CLI and every process it made, killed and reaped."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        pass


# -- #39: a FIFO at the container's /etc/passwd -----------------------------------------------
@pytest.mark.parametrize("user", ["x", None], ids=["user-x", "root"])
def test_a_fifo_at_etc_passwd_never_hangs_attach(
    lxpy: Lxpy, own: Callable[..., str], user: str | None
) -> None:
    """The entering process reads the container's /etc/passwd: a FIFO there must make attach
    end within 5 s (`-u x`: with a clear error), never wait for a writer forever."""
    name = own()
    sh(lxpy, name, "mv /etc/passwd /etc/passwd.real && mkfifo /etc/passwd")
    fifo = f"/proc/{init_pid(lxpy, name)}/root/etc/passwd"
    argv = [sys.executable, "-m", "lxpy", "--root", lxpy.root, "attach", name]
    argv += ["-u", user] if user else []
    proc = subprocess.Popen(
        [*argv, "--", "true"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        # Its children hold the pipes too: unblock and kill them all, or this waits as well.
        _release_readers(fifo)
        _stop_all(proc)
        pytest.fail("attach still waits on the FIFO at the container's /etc/passwd after 5 s")
    if user is not None or proc.returncode != 0:
        assert proc.returncode != 0 and "passwd" in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def _release_readers(fifo: str) -> None:
    """End-of-file for whatever still waits on the FIFO (a hung attach's entering process)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader left (ENXIO), or the container is gone


# -- #25, #37: the attach, seen from inside ---------------------------------------------------
class UserTerminal:
    """The user's terminal: the test holds both ends, so whatever lands in its input queue
    stays there to be counted (as it would for the user's shell)."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.seen = b""

    def run(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """`argv` on this terminal, as its controlling terminal."""
        return subprocess.Popen(
            argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )

    def read_until(self, needle: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.seen and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.seen += chunk
        return self.seen

    def pending_input(self) -> int:
        return int(struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0" * 4))[0])

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminal() -> Iterator[UserTerminal]:
    term = UserTerminal()
    try:
        yield term
    finally:
        term.close()


# The CLI, paused inside the process that enters the container: the window in which it is still
# the host's Python, in the container's pid namespace, that an attack has to hit. It says
# "paused" on the terminal and waits for SIGUSR1 (60 s at most).
PAUSED_ATTACH = r"""
import os, signal, sys
from lxpy.runtime import attach

def pause():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    os.write(2, b"lxpy-test-paused\r\n")
    signal.sigtimedwait({signal.SIGUSR1}, 60)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})

def before(function):
    def paused(*args, **kwargs):
        pause()
        return function(*args, **kwargs)
    return paused

if sys.argv[1] == "before-dropping-capabilities":
    attach.drop_capabilities = before(attach.drop_capabilities)
else:
    os.execve = before(os.execve)

from lxpy.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _pid_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def _pid_inside(pid: int) -> int:
    """`pid` as the container sees it (the last NSpid)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {pid}")


def attach_processes_inside(cli: int, init: int) -> list[int]:
    """The host pids of the attach's processes that are in the container's pid namespace."""
    ns = _pid_namespace(init)
    found = []
    for p in psutil.Process(cli).children(recursive=True):
        try:
            if _pid_namespace(p.pid) == ns:
                found.append(p.pid)
        except OSError:
            continue
    return found


def inject_through_every_fd(
    lx: Lxpy, name: str, cli: subprocess.Popen[bytes], target: int, term: UserTerminal
) -> int:
    """TIOCSTI through each fd of `target` (a host pid) that container root can reach, while
    lxpy's relay is stopped (it would read the user's terminal); the bytes then waiting on
    the user's terminal."""
    inside = _pid_inside(target)
    os.kill(cli.pid, signal.SIGSTOP)
    try:
        for fd in os.listdir(f"/proc/{target}/fd"):
            attack(lx, name, "tiocsti", f"/proc/{inside}/fd/{fd}", f"echo INJECTED-{fd}")
        return term.pending_input()
    finally:
        os.kill(cli.pid, signal.SIGCONT)


@pytest.mark.parametrize("moment", ["before-dropping-capabilities", "before-exec"])
def test_container_root_cannot_reach_into_the_attaching_process(
    lxpy: Lxpy, own: Callable[..., str], terminal: UserTerminal, moment: str
) -> None:
    """While the user's `lxpy attach` runs on their terminal, container root finds the attach's
    processes in its pid namespace: it may not ptrace the one that is still the host's
    Python, read its environment or memory, see an fd of it that leads outside, or get a
    TIOCSTI through any of its fds (nor those of the command it becomes) onto the user's
    terminal (runc CVE-2016-9962, LXC CVE-2016-8649)."""
    name = own()
    init = init_pid(lxpy, name)
    user = ["-u", "nobody"] if moment == "before-exec" else []
    argv = [sys.executable, "-c", PAUSED_ATTACH, moment, "--root", lxpy.root, "attach", name]
    cli = terminal.run([*argv, *user, "--", "sleep", "60"])
    got_through: list[str] = []  # every way in, not only the first one found

    def attempt(when: str, target: int, inside: str) -> None:
        for args in (("ptrace", inside), ("fds", inside)) if when == "lxpy" else (("fds", inside),):
            line = attack(lxpy, name, *args)
            if not line.startswith("denied "):
                got_through.append(f"{args[0]} of {when}: {line}")
        pending = inject_through_every_fd(lxpy, name, cli, target, terminal)
        if pending:
            got_through.append(f"TIOCSTI through {when}: {pending} bytes on the user's terminal")

    try:
        seen = terminal.read_until(b"lxpy-test-paused", 20)
        assert b"lxpy-test-paused" in seen, f"the attach never paused: {seen!r}"
        (entering,) = attach_processes_inside(cli.pid, init)
        assert os.path.samefile(f"/proc/{entering}/exe", sys.executable)
        inside = str(_pid_inside(entering))
        attempt("lxpy", entering, inside)

        # The command it becomes is container root's own (ptrace is fine), but it holds
        # nothing of the host.
        os.kill(entering, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while psutil.Process(entering).name() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert psutil.Process(entering).name() == "sleep"
        attempt("the command", entering, inside)
    finally:
        _stop_all(cli)
    if got_through:
        pytest.fail("container root reached into the attach:\n" + "\n".join(got_through))


def test_tiocsti_from_an_attached_command_never_reaches_the_users_terminal(
    lxpy: Lxpy, own: Callable[..., str], terminal: UserTerminal
) -> None:
    """The attached command's own TIOCSTI lands in the pty lxpy made from the container's
    devpts, where the command reads it back; nothing waits on the user's terminal."""
    name = own()
    script = (
        'stat -L -c "fd0-dev:%d" /proc/self/fd/0; stat -c "devpts-dev:%d" /dev/pts/ptmx; '
        f'{HELPER} tiocsti /proc/self/fd/0 "echo INJECTED-$((6*7))"; '
        'read -r line; echo "inside-read:[$line]"'
    )
    argv = [sys.executable, "-m", "lxpy", "--root", lxpy.root, "attach", name]
    cli = terminal.run([*argv, "--", "sh", "-c", script])
    try:
        status = cli.wait(20)
    except subprocess.TimeoutExpired:
        status = None
    finally:
        _stop_all(cli)
    text = terminal.read_until(b"\0", 0.5).decode(errors="replace")
    assert status == 0, text
    assert "ok sent" in text, text  # the injection itself worked...
    fd0 = re.search(r"fd0-dev:(\d+)", text)
    devpts = re.search(r"devpts-dev:(\d+)", text)
    assert fd0 and devpts and fd0.group(1) == devpts.group(1), text
    # ...into the container's own pty, where the container itself read it back...
    assert "inside-read:[echo INJECTED-42]" in text, text
    # ...and nothing is waiting as input on the user's terminal.
    assert terminal.pending_input() == 0
    assert lxpy.state(name) == "RUNNING"


@pytest.mark.parametrize("kind", ["dir", "privileged"])
def test_the_console_never_hands_the_users_terminal_to_the_container(
    lxpy: Lxpy, own: Callable[..., str], terminal: UserTerminal, kind: str
) -> None:
    """`lxpy console` relays through the monitor's pty: no process inside holds the user's
    terminal, and a TIOCSTI through the container's /dev/console or any fd of its init lands
    in that pty, never as input on the user's terminal. Unprivileged, the kernel refuses it
    outright: TIOCSTI into a terminal not one's own needs CAP_SYS_ADMIN of the host."""
    name = own(kind)
    init = init_pid(lxpy, name)
    cli = terminal.run([sys.executable, "-m", "lxpy", "--root", lxpy.root, "console", name])
    try:
        seen = terminal.read_until(b"Ctrl-a q", 20)
        assert b"Ctrl-a q" in seen, f"the console never connected: {seen!r}"
        users = os.fstat(terminal.slave).st_rdev
        holders = [
            f"{pid}: fd {fd}"
            for pid in _pids_in_namespace_of(init)
            for fd, st in _fd_stats(pid)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == users
        ]
        assert not holders, f"processes inside hold the user's terminal: {holders}"
        os.kill(cli.pid, signal.SIGSTOP)  # the relay would read what lands there
        try:
            line = attack(lxpy, name, "tiocsti", "/dev/console", "echo INJECTED")
            pending = terminal.pending_input()
        finally:
            os.kill(cli.pid, signal.SIGCONT)
        # Privileged, the injection works, into the console pty.
        assert line.startswith("ok " if kind == "privileged" else "denied EPERM"), line
        assert pending == 0
        assert inject_through_every_fd(lxpy, name, cli, init, terminal) == 0
    finally:
        _stop_all(cli)


def _pids_in_namespace_of(pid: int) -> list[int]:
    ns = _pid_namespace(pid)
    found = []
    for p in psutil.pids():
        try:
            if _pid_namespace(p) == ns:
                found.append(p)
        except OSError:
            continue
    return found


def _fd_stats(pid: int) -> list[tuple[str, os.stat_result]]:
    found = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    for fd in fds:
        try:
            found.append((fd, os.stat(f"/proc/{pid}/fd/{fd}")))
        except OSError:
            continue
    return found


# -- the container's ids on the host ----------------------------------------------------------
def _host_ids(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def test_container_processes_run_under_the_container_ids_on_the_host(boxes: Boxes) -> None:
    """`ps` on the host shows the container's processes under its own id range, never as the
    host's root; with `lxpy info`'s `idmap:` line (inside, host, count), inside that range."""
    lx, name = boxes.lx, boxes("dir")
    init = init_pid(lx, name)
    ns = _pid_namespace(init)
    pids = [p.pid for p in psutil.process_iter() if _same_ns(p.pid, ns)]
    assert init in pids
    ids = {pid: _host_ids(pid) for pid in pids}
    assert all(uid != 0 and gid != 0 for uid, gid in ids.values()), ids
    idmap = [
        line
        for line in lx.run("info", name).stdout.splitlines()
        if line.lower().startswith("idmap")
    ]
    if idmap:
        _, start, count = (int(n) for n in re.findall(r"\d+", idmap[0])[:3])
        assert all(start <= uid < start + count for uid, _ in ids.values()), (idmap, ids)


def _same_ns(pid: int, ns: str) -> bool:
    try:
        return _pid_namespace(pid) == ns
    except OSError:
        return False


# -- --privileged: container root is the host's root, the seccomp filter still holds --------
def test_privileged_create_warns_of_host_root(lxpy: Lxpy) -> None:
    made = lxpy.run("create", "p1", "--template", "busybox", "--network", "none", "--privileged")
    assert "host root" in (made.stdout + made.stderr).lower(), made


SECCOMP_DENIALS = {
    "handle": ((), ["EPERM"]),
    "mknod-mount": (("MAJOR", "MINOR", "FSTYPE"), ["mknod=EPERM"]),
    "keyctl": (("SERIAL",), ["read=ENOSYS", "add_key=ENOSYS"]),
    "perf": ((), ["EPERM"]),
    "bpf": ((), ["EPERM"]),
    "userfaultfd": ((), ["EPERM"]),
    "syslog": ((), ["EPERM"]),
}


@pytest.mark.parametrize("call", list(SECCOMP_DENIALS))
def test_privileged_container_keeps_the_seccomp_denials(
    boxes: Boxes, request: pytest.FixtureRequest, call: str
) -> None:
    name = boxes("privileged")
    args, expected = SECCOMP_DENIALS[call]
    major, minor, fstype = host_disk(boxes.lx, name)
    values = {"MAJOR": str(major), "MINOR": str(minor), "FSTYPE": fstype}
    if "SERIAL" in args:
        values["SERIAL"] = request.getfixturevalue("host_key")[0]
    line = denied(boxes.lx, name, call, *(values[a] for a in args))
    for words in expected:
        assert words in line, line


@pytest.mark.parametrize("which", ["remount-proc-sys", "remount-sys"])
def test_privileged_proc_sys_and_sys_stay_read_only(
    lxpy: Lxpy, own: Callable[..., str], host_core_pattern: None, which: str
) -> None:
    assert_none_got_through(try_writes(lxpy, own("privileged"), which))
