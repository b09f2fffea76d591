"""`lxpy console`: ring buffer replay, live typing, Ctrl-a q."""

from __future__ import annotations

import os
import pty
import sys
import time

import pytest

from tests.conftest import Lxpy
from tests.test_attach import _read_until

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
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(
            sys.executable, [sys.executable, "-m", "lxpy", "--root", lxpy.root, "console", running]
        )
    status = None
    try:
        assert b"Ctrl-a q" in _read_until(fd, b"Ctrl-a q")
        os.write(fd, b"\r")
        time.sleep(0.3)
        os.write(fd, b"\x1b[1;1R")  # the console's ash may ask where the cursor is
        os.write(fd, b"echo console-$((40+2))\r")
        out = _read_until(fd, b"console-42")
        assert b"console-42" in out, out
        os.write(fd, b"\x01q")
        assert b"Detached" in _read_until(fd, b"Detached")
        deadline = time.monotonic() + 10
        while status is None and time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WNOHANG)
            status = raw if done else None
            time.sleep(0.05)
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0
    assert lxpy.state(running) == "RUNNING"
    # What was typed went through the console, so the monitor's log has it too.
    assert "console-42" in lxpy.run("console", running, "--log").stdout
