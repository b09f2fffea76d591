"""`lxpy events` follows what every command and monitor of a root does, in order; `lxpy wait`
returns when another command brings the container to the state asked for, and fails with its
status and the state it is in when the timeout comes first (issue 19 item 2)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def read_events(
    proc: subprocess.Popen[str], enough: Callable[[list[dict[str, Any]]], bool], timeout: float
) -> list[dict[str, Any]]:
    """What `lxpy events -f json` printed, until it is `enough` or `timeout` has passed."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()  # read raw: select cannot see lines buffered in the text reader
    got: list[dict[str, Any]] = []
    pending = b""
    deadline = time.monotonic() + timeout
    while not enough(got) and (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        got += [json.loads(line) for line in lines]
    return got


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
        seen = read_events(follower, lambda got: len(got) == 5, timeout=10)
    assert [e["container"] for e in seen] == ["c1"] * 5
    assert [e["event"] for e in seen] == ["starting", "running", "stopping", "stopped", "destroyed"]


@integration
def test_an_oom_kill_inside_is_an_event_of_its_container(lxpy: Lxpy) -> None:
    lxpy.run("create", "m1", "--network", "none", "--memory", "32M")
    lxpy.run("start", "m1")
    with running_lxpy(lxpy, "events", "--format", "json") as follower:
        time.sleep(1.0)  # it reads from its start on: let it open the file first
        # tail keeps the line it is reading, and /dev/zero has no end of line.
        hog = "head -c 200m /dev/zero | tail"
        assert lxpy.run("attach", "m1", "--", "sh", "-c", hog, check=False).returncode == 137
        seen = read_events(follower, lambda got: bool(got), timeout=10)
    # One event per kill: the kernel may kill more than tail (attach's own process sits in
    # the container's cgroup, too).
    told = [(e["container"], e["event"], e.get("detail")) for e in seen]
    assert told[:1] == [("m1", "oom", "1")]
    assert told == [("m1", "oom", str(n)) for n in range(1, len(told) + 1)]
    assert lxpy.state("m1") == "RUNNING"


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
