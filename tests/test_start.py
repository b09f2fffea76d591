"""Starting a container: what its init and a process inside see."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from lxpy.linux import safefs
from lxpy.linux.proc import waits_for_input
from lxpy.runtime.exec_failure import interpreter_of
from tests.conftest import Lxpy, instance_cgroups, monitor_processes

pytestmark = pytest.mark.integration


def test_init_is_busybox_and_sees_only_its_own_processes(lxpy: Lxpy, running: str) -> None:
    cmdline = lxpy.run("attach", running, "--", "cat", "/proc/1/cmdline").stdout
    assert cmdline.split("\0")[0] == "init"
    exe = lxpy.run("attach", running, "--", "readlink", "/proc/1/exe").stdout.strip()
    assert exe == "/bin/busybox"
    ps = lxpy.run("attach", running, "--", "ps", "-o", "pid,comm").stdout.splitlines()[1:]
    pids = {int(line.split()[0]) for line in ps}
    assert 1 in pids
    assert max(pids) < 100, ps  # a fresh pid namespace, not the host's
    commands = {line.split()[1] for line in ps}
    assert commands <= {"init", "syslogd", "udhcpc", "sh", "ps"}, commands


def test_hostname_is_the_container_name(lxpy: Lxpy, running: str) -> None:
    assert lxpy.run("attach", running, "--", "hostname").stdout.strip() == running
    assert lxpy.run("attach", running, "--", "cat", "/etc/hostname").stdout.strip() == running


def test_state_and_json(lxpy: Lxpy, running: str) -> None:
    info = json.loads(lxpy.run("info", running, "--format", "json").stdout)
    assert info["state"] == "RUNNING"
    assert isinstance(info["pid"], int)
    assert info["template"] == "busybox"
    assert info["created"].endswith("Z")
    assert info["rootfs"] == lxpy.paths.rootfs(running)
    assert info["uptime"] >= 0
    assert info["config"]["init"]["kind"] == "busybox"
    env = psutil.Process(info["pid"]).environ()
    assert env["container"] == "lxpy"
    assert len(env["container_uuid"]) == 36
    listed = json.loads(lxpy.run("ls", "--format", "json").stdout)
    assert [(c["name"], c["state"], c["pid"]) for c in listed] == [
        (running, "RUNNING", info["pid"])
    ]


def test_a_second_start_says_already_running(lxpy: Lxpy, running: str) -> None:
    result = lxpy.run("start", running, check=False)
    assert result.returncode != 0
    assert "already running" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_five_concurrent_starts_give_one_container(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: lxpy.run("start", "c1", check=False), range(5)))
    assert sorted(r.returncode for r in results) == [0, 1, 1, 1, 1]
    for r in results:
        if r.returncode:
            assert "already running" in r.stderr, r.stderr
    assert lxpy.state("c1") == "RUNNING"
    ps = lxpy.run("attach", "c1", "--", "ps", "-o", "comm").stdout.split()
    assert ps.count("init") == 1


def test_the_container_outlives_the_cli(lxpy: Lxpy, running: str) -> None:
    # Every CLI call above has exited; the container must still be there, owned by its monitor.
    info = json.loads(lxpy.run("info", running, "--format", "json").stdout)
    monitor = psutil.Process(info["pid"]).parent()
    assert [part for part in monitor.cmdline() if part] == ["lxpy", "monitor", running]
    # Detached from the CLI's session: closing its terminal never reaches the container.
    assert os.getsid(monitor.pid) != os.getsid(0)


def test_missing_init_fails_cleanly(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    os.unlink(f"{lxpy.paths.rootfs('c1')}/sbin/init")
    result = lxpy.run("start", "c1", check=False)
    assert result.returncode == 1
    assert "cannot start 'c1'" in result.stderr
    assert "/sbin/init" in result.stderr
    assert lxpy.state("c1") == "STOPPED"
    assert not instance_cgroups(lxpy.paths.instance)
    assert not os.path.exists(lxpy.paths.run_dir("c1"))


@pytest.mark.parametrize("planted", ["dev", "proc", "sys"])
def test_symlinked_dev_proc_or_sys_is_refused(lxpy: Lxpy, planted: str, tmp_path: object) -> None:
    lxpy.run("create", "c1")
    victim = f"{lxpy.root}/host-victim"
    os.mkdir(victim)
    target = f"{lxpy.paths.rootfs('c1')}/{planted}"
    os.rmdir(target)
    os.symlink(victim, target)
    result = lxpy.run("start", "c1", check=False)
    assert result.returncode == 1
    assert "symlink" in result.stderr
    assert os.listdir(victim) == []
    assert lxpy.state("c1") == "STOPPED"
    assert not instance_cgroups(lxpy.paths.instance)


def test_init_that_exits_at_once_leaves_nothing(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    config = lxpy.paths.config_file("c1")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        # /bin/false, not a shell that prints first: it must end within the start's grace.
        f.write(text.replace('command = [\n    "/sbin/init",\n]', 'command = ["/bin/false"]'))
    result = lxpy.run("start", "c1", check=False)
    assert result.returncode == 1
    assert "init exited at once (exit status 1)" in result.stderr
    assert lxpy.state("c1") == "STOPPED"
    assert not instance_cgroups(lxpy.paths.instance)
    log = lxpy.run("console", "c1", "--log").stdout
    assert "cannot start: init exited at once (exit status 1)" in log


def test_an_init_script_whose_first_command_fails_fails_the_start(lxpy: Lxpy) -> None:
    # The shell waits for its child while the child fails: it has a child, so it is not yet
    # waiting for input, and the start keeps watching until it exits.
    lxpy.run("create", "c1")
    with stopped_root(lxpy, "c1") as root:
        safefs.write_file(root, "sbin/init", b"#!/bin/sh\n/bin/missing\nexit 3\n", 0o755)
    result = lxpy.run("start", "c1", check=False)
    assert result.returncode == 1
    assert "init exited at once (exit status 3)" in result.stderr
    assert lxpy.state("c1") == "STOPPED"
    assert not instance_cgroups(lxpy.paths.instance)


def test_an_init_is_waiting_for_input_once_it_sleeps_without_children() -> None:
    # Busy, or asleep waiting for a child: not yet. A leaf asleep (sh's `read`): yes.
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    parent = subprocess.Popen(["sh", "-c", "read line; exit 0"], stdin=subprocess.PIPE)
    waiting = subprocess.Popen(["sh", "-c", "sh -c 'read line'; exit 0"], stdin=subprocess.PIPE)
    try:
        assert not waits_for_input(busy.pid)
        assert wait_until(lambda: waits_for_input(parent.pid))
        assert wait_until(lambda: waits_for_input(waiting.pid))
    finally:
        busy.kill()
        for proc in (busy, parent, waiting):
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(10)
    assert not waits_for_input(parent.pid)  # gone


def monitor_of(lxpy: Lxpy, name: str) -> psutil.Process:
    init = json.loads(lxpy.run("info", name, "--format", "json").stdout)["pid"]
    monitor = psutil.Process(init).parent()
    assert monitor is not None
    return monitor


def gone(process: psutil.Process) -> bool:
    return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_later_starts_share_one_launcher_that_ends_with_the_last_monitor(lxpy: Lxpy) -> None:
    for name in ("c1", "c2", "c3"):
        lxpy.run("create", name)
        lxpy.run("start", name)
    # c1's monitor came from its own launcher, which left the shared one behind for c2 and c3.
    shared = monitor_of(lxpy, "c2").parent()
    assert shared is not None
    assert monitor_of(lxpy, "c3").ppid() == shared.pid
    assert monitor_of(lxpy, "c1").ppid() != shared.pid
    assert [part for part in shared.cmdline() if part] == ["lxpy", "launcher"]
    # Nothing of the first CLI's is held: no caller's pipe, no working directory.
    assert shared.cwd() == "/"
    assert {os.readlink(f"/proc/{shared.pid}/fd/{fd}") for fd in (0, 1, 2)} == {"/dev/null"}
    assert os.getsid(shared.pid) != os.getsid(0)
    socket = f"{lxpy.paths.run}/locks/.launcher.sock"
    assert os.stat(socket).st_mode & 0o777 == 0o700
    lxpy.run("stop", "--kill", "c1", "c2")
    assert not gone(shared)  # c3's monitor is its child
    lxpy.run("stop", "--kill", "c3")
    assert wait_until(lambda: gone(shared))
    assert not os.path.exists(socket)


def test_a_shared_launcher_refuses_once_what_it_loaded_changed(lxpy: Lxpy, tmp_path: Path) -> None:
    for name in ("c1", "c2"):
        lxpy.run("create", name)
    # The first start loads one module more, from a file of the test's own: changing it
    # stands for an upgrade of lxpy or of Python, without touching what other tests run.
    probe = tmp_path / "upgrade_probe.py"
    probe.write_text("")
    code = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport upgrade_probe\n"
    code += "from lxpy.__main__ import main\nmain()\n"
    subprocess.run(
        [sys.executable, "-c", code, "--root", lxpy.root, "start", "c1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    socket = f"{lxpy.paths.run}/locks/.launcher.sock"
    assert wait_until(lambda: os.path.exists(socket))
    (shared,) = [p for p in launchers() if is_shared(p, socket)]
    before = probe.stat()
    os.utime(probe, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    lxpy.run("start", "c2")
    assert monitor_of(lxpy, "c2").ppid() != shared.pid  # its own launcher's
    assert wait_until(lambda: gone(shared))
    assert lxpy.run("attach", "c2", "--", "hostname").stdout.strip() == "c2"
    lxpy.run("stop", "--kill", "c1", "c2")


def test_a_start_with_other_limits_gets_a_monitor_of_its_own(lxpy: Lxpy) -> None:
    # A monitor passes its resource limits on to init: the shared launcher has its first
    # CLI's, so a start made under others must not be served there.
    for name in ("c1", "c2"):
        lxpy.run("create", name)
    lxpy.run("start", "c1")
    socket = f"{lxpy.paths.run}/locks/.launcher.sock"
    assert wait_until(lambda: os.path.exists(socket))
    (shared,) = [p for p in launchers() if is_shared(p, socket)]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    subprocess.run(
        [sys.executable, "-m", "lxpy", "--root", lxpy.root, "start", "c2"],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard)),
        check=True,
        capture_output=True,
        timeout=60,
    )
    monitor = monitor_of(lxpy, "c2")
    assert monitor.ppid() != shared.pid
    init = monitor.children()[0]
    assert init.rlimit(psutil.RLIMIT_NOFILE) == (512, hard)
    assert not gone(shared)  # it serves the starts that fit
    lxpy.run("stop", "--kill", "c1", "c2")


def launchers() -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if [part for part in p.info["cmdline"] or [] if part] == ["lxpy", "launcher"]
    ]


def is_shared(process: psutil.Process, socket: str) -> bool:
    """Whether `process` is the launcher listening on `socket`."""
    try:
        return any(c.laddr == socket for c in process.net_connections("unix"))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_api_start_without_a_launcher_execs_the_monitor(lxpy: Lxpy) -> None:
    # The TUI and other API users have no launcher forked at start-up: they exec a monitor.
    lxpy.run("create", "c1")
    code = (
        "import sys\n"
        "from lxpy.api import Api\n"
        "from lxpy.paths import Paths\n"
        "print(Api(Paths.for_root(sys.argv[1])).start('c1')[0])\n"
    )
    pid = subprocess.run(
        [sys.executable, "-c", code, lxpy.root],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert json.loads(lxpy.run("info", "c1", "--format", "json").stdout)["pid"] == int(pid)
    assert lxpy.run("attach", "c1", "--", "hostname").stdout.strip() == "c1"
    (monitor,) = monitor_processes(lxpy.root)
    assert [part for part in psutil.Process(monitor).cmdline() if part] == ["lxpy", "monitor", "c1"]
    lxpy.run("stop", "c1", "--kill")


@contextlib.contextmanager
def stopped_root(lxpy: Lxpy, name: str) -> Iterator[int]:
    """An fd for a stopped container's `/`, to break it with safefs."""
    root = safefs.open_tree(lxpy.paths.rootfs(name))
    try:
        yield root
    finally:
        os.close(root)


def dangling_link(root: int) -> None:
    safefs.symlink(root, "sbin/init", "/bin/missing")


def missing_target(root: int) -> None:
    safefs.remove_in(root, "bin/busybox")  # /sbin/init links to it


def missing_init(root: int) -> None:
    safefs.remove_in(root, "sbin/init")


def dangling_directory_link(root: int) -> None:
    safefs.symlink(root, "app", "/gone")
    safefs.symlink(root, "sbin/init", "/app/init")


def missing_interpreter(root: int) -> None:
    safefs.write_file(root, "sbin/init", b"#!/bin/bash\n", 0o755)


def interpreter_a_dangling_link(root: int) -> None:
    safefs.symlink(root, "bin/sh", "/usr/bin/dash")
    safefs.write_file(root, "sbin/init", b"#!/bin/sh -e\nexec /bin/busybox init\n", 0o755)


def not_executable(root: int) -> None:
    safefs.write_file(root, "sbin/init", b"#!/bin/sh\n", 0o644)


def a_directory(root: int) -> None:
    os.close(safefs.make_dir(root, "sbin/init.d"))
    safefs.symlink(root, "sbin/init", "init.d")


@pytest.mark.parametrize(
    ("privileged", "breakage", "said"),
    [
        (
            False,
            dangling_link,
            "/sbin/init -> /bin/missing: /bin/missing is missing in the container",
        ),
        (
            True,
            dangling_link,
            "/sbin/init -> /bin/missing: /bin/missing is missing in the container",
        ),
        (
            False,
            missing_target,
            "/sbin/init -> /bin/busybox: /bin/busybox is missing in the container",
        ),
        (False, missing_init, "/sbin/init is missing in the container"),
        (
            False,
            dangling_directory_link,
            "/sbin/init -> /app/init -> /gone/init: /gone/init is missing in the container",
        ),
        (
            False,
            missing_interpreter,
            "/sbin/init: its interpreter /bin/bash is missing in the container",
        ),
        (
            False,
            interpreter_a_dangling_link,
            "/sbin/init: its interpreter /bin/sh -> /usr/bin/dash: "
            "/usr/bin/dash is missing in the container",
        ),
        (False, not_executable, "/sbin/init is not executable (mode 0644)"),
        (False, a_directory, "/sbin/init -> /sbin/init.d: /sbin/init.d is not a regular file"),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_a_broken_init_is_named_with_the_missing_path(
    lxpy: Lxpy, privileged: bool, breakage: Callable[[int], None], said: str
) -> None:
    lxpy.run("create", "c1", *(["--privileged"] if privileged else []))
    with stopped_root(lxpy, "c1") as root:
        breakage(root)
    assert_start_fails(lxpy, said)


def test_a_program_without_its_loader_names_the_loader(lxpy: Lxpy) -> None:
    # A dynamically linked program of the host: the busybox rootfs has no loader for it.
    with open("/bin/true", "rb") as f:
        program = f.read()
    loader = interpreter_of(program[:4096])
    assert loader is not None and "/ld-" in loader, loader
    lxpy.run("create", "c1")
    with stopped_root(lxpy, "c1") as root:
        safefs.write_file(root, "sbin/init", program, 0o755)
    assert_start_fails(lxpy, f"/sbin/init: its interpreter {loader} is missing in the container")


def test_a_static_program_has_no_interpreter() -> None:
    with open("/bin/busybox", "rb") as f:  # busybox-static, which lxpy needs
        assert interpreter_of(f.read(4096)) is None
    assert interpreter_of(b"#!  /usr/bin/env python3\n") == "/usr/bin/env"
    assert interpreter_of(b"#!\n") is None


def assert_start_fails(lxpy: Lxpy, said: str) -> None:
    """`lxpy start c1` fails saying `said` alone, and its console log has that attempt."""
    result = lxpy.run("start", "c1", check=False)
    assert result.returncode == 1
    hint = "`lxpy console c1 --log` shows more"
    assert result.stderr == f"lxpy: cannot start 'c1': {said} (hint: {hint})\n"
    assert lxpy.state("c1") == "STOPPED"
    log = lxpy.run("console", "c1", "--log").stdout
    assert log.index(f"cannot start: {said}") < log.rindex("stopped")
