"""Starting a container: what its init and a process inside see."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

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
