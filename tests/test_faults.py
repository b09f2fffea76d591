"""Faults inside the monitor and the launcher, injected into a real start.

A fault is Python source run in the CLI process before `lxpy` itself: the launcher and the
monitors it forks inherit whatever it patched, so the fault strikes at the exact step named,
in the real code path, with a real container behind it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import psutil
import pytest

from lxpy.net import dnsmasq, model
from tests.conftest import Lxpy, Result, instance_cgroups, monitor_processes, veths

pytestmark = pytest.mark.integration


def run_with_fault(lx: Lxpy, fault: str, *args: str, timeout: float = 60) -> Result:
    """`lxpy --root ROOT ARGS...` with `fault` applied first; never raises on failure."""
    code = textwrap.dedent(fault) + "\nfrom lxpy.__main__ import main\nmain()\n"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--root", lx.root, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def console_log(lx: Lxpy, name: str) -> str:
    with open(lx.paths.console_log(name), errors="replace") as f:
        return f.read()


def wait_for(check: Callable[[], object], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def use_init(lx: Lxpy, name: str, command: str) -> None:
    """Replace the init command in `name`'s config with `command` (a TOML array)."""
    config = lx.paths.config_file(name)
    with open(config) as f:
        text, found = re.subn(r"(?m)^command = \[[^]]*\]", f"command = {command}", f.read())
    assert found == 1, text
    with open(config, "w") as f:
        f.write(text)


def end_fake_monitor(pid_file: str) -> None:
    """Wait for the fake monitor to give its late report and exit (SIGKILL after 10 s)."""
    try:
        with open(pid_file) as f:
            pid = int(f.read())
    except FileNotFoundError:
        return
    if not wait_for(lambda: not psutil.pid_exists(pid), 10):
        os.kill(pid, 9)


# A monitor whose teardown is slow: the failure must still arrive only once it is done.
SLOW_TEARDOWN = """
import time
from lxpy.runtime import monitor

def slow_teardown(*args, _teardown=monitor.teardown):
    time.sleep(1.5)
    _teardown(*args)

monitor.teardown = slow_teardown
"""


def test_a_failed_start_reports_only_after_its_teardown(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    use_init(lxpy, "c1", '["/bin/false"]')
    result = run_with_fault(lxpy, SLOW_TEARDOWN, "start", "c1")
    assert result.returncode == 1
    assert "init exited at once" in result.stderr
    # Started right after the failure, the container must not meet the old monitor's teardown
    # (which would kill its processes and delete its run dir).
    use_init(lxpy, "c1", '["/sbin/init"]')
    lxpy.run("start", "c1")
    time.sleep(2)
    assert lxpy.state("c1") == "RUNNING"
    assert lxpy.run("attach", "c1", "--", "hostname").stdout.strip() == "c1"
    lxpy.run("stop", "c1", "--kill")


# Wiring the NICs fails while the monitor prepares the container, which waits at the gate.
WIRING_FAILS = """
import time
from lxpy.errors import LxpyError
from lxpy.net import networks

def wire(paths, container, plugs, netns, _wire=networks.wire):
    _wire(paths, container, plugs, netns)  # a veth made, then the failure
    time.sleep(0.3)  # the monitor is at the gate by now
    raise LxpyError("cannot create veth: injected")

networks.wire = wire
"""


def test_a_wiring_failure_fails_the_start_and_leaves_nothing(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    result = run_with_fault(lxpy, WIRING_FAILS, "start", "c1")
    assert result.returncode == 1
    assert "cannot create veth: injected" in result.stderr
    assert lxpy.state("c1") == "STOPPED"
    assert not os.path.exists(lxpy.paths.run_dir("c1"))
    assert wait_for(lambda: not monitor_processes(lxpy.root), 5)
    assert not instance_cgroups(lxpy.paths.instance)
    assert not veths(lxpy.root)
    network = model.run_dir(lxpy.paths, model.default_network(lxpy.paths))
    assert not any(map(os.path.exists, dnsmasq.container_files(network, "c1")))
    lxpy.run("start", "c1")
    assert lxpy.state("c1") == "RUNNING"
    lxpy.run("stop", "c1", "--kill")


# The monitor cannot enter its own cgroup once init runs.
MONITOR_CGROUP_REFUSED = """
import errno
from lxpy.linux.cgroups import ContainerCgroups

def enter(self, role, _enter=ContainerCgroups.enter):
    if role == "monitor":
        raise OSError(errno.ENOSPC, "No space left on device", "monitor cgroup")
    _enter(self, role)

ContainerCgroups.enter = enter
"""


def test_a_monitor_cgroup_failure_after_start_keeps_the_container(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    result = run_with_fault(lxpy, MONITOR_CGROUP_REFUSED, "start", "c1")
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)  # the failure comes after "ok": give it time to do harm
    assert lxpy.state("c1") == "RUNNING"
    assert lxpy.run("attach", "c1", "--", "hostname").stdout.strip() == "c1"
    log = console_log(lxpy, "c1")
    assert "cannot enter the monitor's cgroup" in log
    # The monitor still serves its socket and stops the container itself.
    lxpy.run("stop", "c1", "-t", "10")
    assert console_log(lxpy, "c1").rstrip().endswith("stopped")


# The monitor's loop fails to set up (say, no fd left for its wakeup pipe).
LOOP_FAILS = """
import errno
from lxpy.runtime import monitor

def loop(self):
    raise OSError(errno.EMFILE, "Too many open files")

monitor.Monitor.loop = loop
"""


def test_a_monitor_that_cannot_supervise_halts_the_container_cleanly(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    result = run_with_fault(lxpy, LOOP_FAILS, "start", "c1")
    assert result.returncode == 0, result.stderr
    # The monitor leaves its cgroup before it removes the others: wait for the state.
    assert wait_for(lambda: lxpy.state("c1") == "STOPPED", 30)
    assert wait_for(lambda: not monitor_processes(lxpy.root), 5)
    assert not os.path.exists(lxpy.paths.run_dir("c1"))
    assert not instance_cgroups(lxpy.paths.instance)
    log = console_log(lxpy, "c1")
    assert "Too many open files" in log
    # Halted through init's own signal. The failure comes within milliseconds of init's exec,
    # possibly before busybox init has installed its handlers, so the signal may kill it.
    assert "init ended: killed by SIG" in log and "SIGKILL" not in log
    assert log.rstrip().endswith("stopped")


# Faults in the forked child before it reaches spawn's own catch-all: its modules cannot be
# loaded, or the console's name cannot be read. Either way the child must die, never run on
# as a second copy of the monitor (which would report and tear down a second time).
CHILD_IMPORT_FAILS = """
import os, sys
import lxpy.runtime
from lxpy.runtime import monitor

def fork(_fork=os.fork):
    pid = _fork()
    if pid == 0 and sys._getframe(1).f_code.co_name == "_forked":
        sys.modules["lxpy.runtime.spawn"] = None
        vars(lxpy.runtime).pop("spawn", None)
    return pid

os.fork = fork
"""

TTYNAME_FAILS = """
import errno, os

def ttyname(fd):
    raise OSError(errno.EBADF, "Bad file descriptor")

os.ttyname = ttyname
"""


@pytest.mark.parametrize(
    ("fault", "message"),
    [(CHILD_IMPORT_FAILS, "lxpy.runtime.spawn"), (TTYNAME_FAILS, "Bad file descriptor")],
    ids=["import", "ttyname"],
)
def test_the_child_never_runs_on_as_the_monitor(lxpy: Lxpy, fault: str, message: str) -> None:
    lxpy.run("create", "c1")
    result = run_with_fault(lxpy, fault, "start", "c1")
    assert result.returncode == 1
    assert message in result.stderr
    assert wait_for(lambda: not monitor_processes(lxpy.root))
    time.sleep(0.2)
    assert console_log(lxpy, "c1").count("stopped") == 1
    assert lxpy.state("c1") == "STOPPED"
    assert not instance_cgroups(lxpy.paths.instance)
    lxpy.run("start", "c1")
    lxpy.run("stop", "c1", "--kill")


# Killing everything by cgroup fails at the stop deadline (once, then works).
KILL_ALL_FAILS_ONCE = """
import errno
from lxpy.linux.cgroups import ContainerCgroups

failures = [OSError(errno.EBUSY, "Device or resource busy", "cgroup.procs")]

def kill_all(self, _kill_all=ContainerCgroups.kill_all):
    if failures:
        raise failures.pop()
    _kill_all(self)

ContainerCgroups.kill_all = kill_all
"""


def test_a_failed_kill_at_the_stop_deadline_still_kills_init(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    # An init that ignores the halt signal, so that only the deadline's kill stops it.
    use_init(lxpy, "c1", '["/bin/sleep", "1000"]')
    run_with_fault(lxpy, KILL_ALL_FAILS_ONCE, "start", "c1")
    assert lxpy.state("c1") == "RUNNING"
    began = time.monotonic()
    lxpy.run("stop", "c1", "-t", "1", timeout=30)
    assert time.monotonic() - began < 5  # not the CLI's fallback, 10 s after the deadline
    assert lxpy.state("c1") == "STOPPED"
    log = console_log(lxpy, "c1")
    assert "init ended: killed by SIGKILL" in log
    assert log.rstrip().endswith("stopped")  # the monitor itself finished, not a fallback


# Two starts from one CLI; the first one's monitor reports only after `lxpy start` has given
# up on it (the timeout is shortened from 60 s to 1 s).
LATE_REPORT = """
import os, time
from lxpy.runtime import lifecycle, monitor

lifecycle.START_REPORT_TIMEOUT = 1.0

def serve(spec, status_fd, _serve=monitor.serve):
    if spec["name"] != "slow":
        return _serve(spec, status_fd)
    with open(os.path.dirname(spec["run_dir"]) + "/slow-monitor.pid", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(2)
    try:
        os.write(status_fd, b"error the late report of 'slow'\\n")
    except OSError:
        pass
    return 1

monitor.serve = serve
"""


def test_a_late_report_is_not_the_next_starts_answer(lxpy: Lxpy) -> None:
    lxpy.run("create", "slow")
    lxpy.run("create", "c1")
    try:
        result = run_with_fault(lxpy, LATE_REPORT, "start", "slow", "c1")
    finally:
        end_fake_monitor(f"{os.path.dirname(lxpy.paths.run_dir('slow'))}/slow-monitor.pid")
    assert result.returncode == 1
    assert "cannot start 'slow': the monitor ended without a report" in result.stderr
    assert "cannot start 'c1'" not in result.stderr, result.stderr
    assert "late report" not in result.stderr
    assert lxpy.state("c1") == "RUNNING"
    assert lxpy.run("attach", "c1", "--", "hostname").stdout.strip() == "c1"
    lxpy.run("stop", "c1", "--kill")
    assert wait_for(lambda: not monitor_processes(lxpy.root))
