"""`lxpy wait`: returns when another command brings the container to the state asked for,
fails with its status and the state it is in when the timeout comes first (issue 19 item 2)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import Lxpy

pytestmark = pytest.mark.integration


def waiting(lx: Lxpy, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lxpy", "--root", lx.root, "wait", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_wait_returns_once_another_command_reaches_the_state(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    procs = [waiting(lxpy, "c1", "--state", "RUNNING", "--timeout", "30")]
    try:
        time.sleep(0.5)
        assert procs[0].poll() is None  # still stopped: still waiting
        lxpy.run("start", "c1")
        assert procs[0].wait(10) == 0
        assert lxpy.state("c1") == "RUNNING"
        procs.append(waiting(lxpy, "c1", "-s", "stopped", "-s", "frozen"))
        lxpy.run("stop", "-k", "c1")
        assert procs[1].wait(10) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_wait_fails_with_the_state_on_timeout_and_on_a_destroyed_container(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    begun = time.monotonic()
    result = lxpy.run("wait", "c1", "-s", "RUNNING", "-t", "0.5", check=False)
    assert result.returncode == 1 and time.monotonic() - begun >= 0.5
    assert "is STOPPED, not RUNNING, after 0.5 s" in result.stderr
    assert lxpy.run("wait", "c1", "-s", "STOPPED", "-t", "0").returncode == 0  # already
    gone = waiting(lxpy, "c1", "-s", "RUNNING")
    try:
        time.sleep(0.3)
        lxpy.run("destroy", "c1")
        assert gone.wait(10) != 0
        assert "no container named 'c1'" in gone.communicate()[1]
    finally:
        if gone.poll() is None:
            gone.kill()
            gone.wait()
