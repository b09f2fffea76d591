"""`lxpy events` follows what every command and monitor of a root does, in order; `lxpy wait`
returns when another command brings the container to the state asked for, and fails with its
status and the state it is in when the timeout comes first (issue 19 item 2)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy.runtime import events
from tests.conftest import Lxpy

integration = pytest.mark.integration


@contextlib.contextmanager
def running_lxpy(lx: Lxpy, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`lxpy ARGS` left running, its output to read; killed at the end if it still runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxpy", "--root", lx.root, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@integration
def test_wait_returns_once_another_command_reaches_the_state(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    with running_lxpy(lxpy, "wait", "c1", "--state", "RUNNING", "--timeout", "30") as up:
        time.sleep(0.5)
        assert up.poll() is None  # still stopped: still waiting
        lxpy.run("start", "c1")
        assert up.wait(10) == 0
    assert lxpy.state("c1") == "RUNNING"
    with running_lxpy(lxpy, "wait", "c1", "-s", "stopped", "-s", "frozen") as down:
        lxpy.run("stop", "-k", "c1")
        assert down.wait(10) == 0


@integration
def test_wait_fails_with_the_state_on_timeout_and_on_a_destroyed_container(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    begun = time.monotonic()
    result = lxpy.run("wait", "c1", "-s", "RUNNING", "-t", "0.5", check=False)
    assert result.returncode == 1 and time.monotonic() - begun >= 0.5
    assert "is STOPPED, not RUNNING, after 0.5 s" in result.stderr
    assert lxpy.run("wait", "c1", "-s", "STOPPED", "-t", "0").returncode == 0  # already
    with running_lxpy(lxpy, "wait", "c1", "-s", "RUNNING") as gone:
        time.sleep(0.3)
        lxpy.run("destroy", "c1")
        assert gone.wait(10) != 0
        assert "no container named 'c1'" in gone.communicate()[1]


@integration
def test_events_show_another_commands_start_and_stop_in_order(lxpy: Lxpy) -> None:
    lxpy.run("create", "c1", "--network", "none")
    with running_lxpy(lxpy, "events", "--format", "json") as follower:
        time.sleep(1.0)  # it reads from its start on: let it open the file first
        lxpy.run("start", "c1")
        lxpy.run("stop", "c1")
        lxpy.run("destroy", "c1")
        seen: list[str] = []
        assert follower.stdout is not None
        while "destroyed" not in seen and len(seen) < 20:  # bounded
            event = json.loads(follower.stdout.readline())
            assert event["container"] == "c1"
            seen.append(event["event"])
        assert seen == ["starting", "running", "stopping", "stopped", "destroyed"]


@integration
def test_events_end_once_their_reader_has_gone(lxpy: Lxpy) -> None:
    """Over SSH the reader's going leaves no signal behind: `events` notices it unasked,
    with no event to write (and fail on)."""
    with running_lxpy(lxpy, "events", "--format", "json") as follower:
        time.sleep(0.5)
        assert follower.poll() is None and follower.stdout is not None
        follower.stdout.close()
        assert follower.wait(5) == 0


def test_a_reader_follows_the_file_across_its_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "MAX_BYTES", 300)
    got: list[str] = []
    reader = events.follow(str(tmp_path), poll=0.01)

    def read() -> None:
        for line in reader:
            got.append(json.loads(line)["container"])
            if len(got) == 10:
                return

    events.emit(str(tmp_path), "before", "created")  # written before the reader began: not read
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(0.2)
    for i in range(10):
        events.emit(str(tmp_path), f"c{i}", "created")
        time.sleep(0.03)
    thread.join(10)
    assert got == [f"c{i}" for i in range(10)]
    assert (tmp_path / "events.1").exists()  # it did rotate on the way
