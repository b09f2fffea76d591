"""`lxpy console`: ring buffer replay, live typing, Ctrl-a q."""

from __future__ import annotations

import os
import re
import time

import pytest

from lxpy.linux import safefs
from tests.conftest import Lxpy, in_pty

pytestmark = pytest.mark.integration


def test_log_replays_the_boot(lxpy: Lxpy, running: str) -> None:
    deadline = time.monotonic() + 10
    log = ""
    while "busybox init is up" not in log and time.monotonic() < deadline:
        time.sleep(0.1)
        log = lxpy.run("console", running, "--log").stdout
    assert "c1: busybox init is up" in log
    assert "init started" in log


def test_interactive_console_and_detach(lxpy: Lxpy, running: str) -> None:
    with in_pty(lxpy, "console", running) as console:
        hello = console.read_until(b"Ctrl-a q")
        assert b"Ctrl-a q" in hello
        # How to log in where a getty asks for root's password, said before the console.
        assert b"`lxpy attach c1 -- passwd`" in hello.split(b"Connected")[0]
        console.write(b"\r")
        time.sleep(0.3)
        console.write(b"\x1b[1;1R")  # the console's ash may ask where the cursor is
        console.write(b"echo console-$((40+2))\r")
        out = console.read_until(b"console-42")
        assert b"console-42" in out, out
        console.write(b"\x01q")
        assert b"Detached" in console.read_until(b"Detached")
        assert console.wait() == 0
    assert lxpy.state(running) == "RUNNING"
    # What was typed went through the console, so the monitor's log has it too.
    assert "console-42" in lxpy.run("console", running, "--log").stdout


def lxpy_lines(log: str) -> list[str]:
    """lxpy's own lines in a console log, without their time stamps."""
    return re.findall(r"(?m)^\[lxpy\] \S+ \S+ (.*?)\r?$", log)


def test_log_after_a_failed_start_ends_with_that_attempt(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1")
    lxpy.run("start", "c1")
    lxpy.run("stop", "c1", "--kill")
    root = safefs.open_tree(lxpy.paths.rootfs("c1"))
    try:
        safefs.symlink(root, "sbin/init", "/bin/missing")
    finally:
        os.close(root)
    failed = lxpy.run("start", "c1", check=False)
    assert "`lxpy console c1 --log`" in failed.stderr
    lines = lxpy_lines(lxpy.run("console", "c1", "--log").stdout)
    # The run before, then the failed attempt: why, and that nothing runs.
    assert lines[0].startswith("init started")
    assert lines[-2:] == [
        "cannot start: /sbin/init -> /bin/missing: /bin/missing is missing in the container",
        "stopped",
    ]
    assert lines.count("stopped") == 2
