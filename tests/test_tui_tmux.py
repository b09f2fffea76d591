"""The TUI end to end in tmux, as a person uses it: keys in, the screen read back."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Lxpy

pytestmark = pytest.mark.integration


SIZES = [(80, 24), (120, 35)]  # the smallest terminal promised, and a common one


class Tmux:
    """A private tmux server (its own socket) running one command in a window of `size`."""

    def __init__(self, command: list[str], size: tuple[int, int] = SIZES[0]) -> None:
        self.base = ["tmux", "-L", f"lxpy-test-{os.getpid()}-{time.monotonic_ns()}"]
        # The shell after the command keeps the pane (and its last screen) readable.
        line = f"{shlex.join(command)}; echo TUI-EXITED $?; sleep 600"
        self.run("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), line)

    def run(self, *args: str) -> str:
        return subprocess.run(
            [*self.base, *args], check=True, capture_output=True, text=True, timeout=10
        ).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p")

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"waited for {what}; the screen:\n{screen}")
            time.sleep(0.1)

    def wait_text(self, text: str, timeout: float = 30) -> str:
        return self.wait(lambda screen: text in screen, repr(text), timeout)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], check=False, capture_output=True)


@contextlib.contextmanager
def tui_in_tmux(lx: Lxpy, size: tuple[int, int] = SIZES[0]) -> Iterator[Tmux]:
    tmux = Tmux([sys.executable, "-m", "lxpy", "--root", lx.root, "tui"], size)
    try:
        yield tmux
    finally:
        tmux.close()


@pytest.fixture
def tmux_tui(lxpy: Lxpy) -> Iterator[Tmux]:
    with tui_in_tmux(lxpy) as tmux:
        yield tmux


def row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if f" {name} " in line), "")


def test_create_start_attach_and_back(lxpy: Lxpy, tmux_tui: Tmux) -> None:
    tui = tmux_tui
    tui.wait_text("0 containers, 0 running")
    tui.keys("n")
    tui.wait_text("New container")
    tui.type("e2e1")
    tui.keys("Enter")  # enter in a field submits the form; it starts the container too
    tui.wait(lambda s: "RUNNING" in row(s, "e2e1"), "e2e1 created and running")
    tui.keys("e")
    tui.wait_text("root@e2e1")
    tui.type("hostname")
    tui.keys("Enter")
    tui.wait(lambda s: "e2e1" in [line.strip() for line in s.splitlines()], "hostname's output")
    tui.type("exit")
    tui.keys("Enter")
    # The TUI is back, and the container still runs.
    screen = tui.wait_text("1 container, 1 running")
    assert "RUNNING" in row(screen, "e2e1")
    assert lxpy.state("e2e1") == "RUNNING"
    tui.keys("q")
    tui.wait_text("TUI-EXITED 0")


def who_is_in(tui: Tmux, key: str, prompt: str) -> str:
    """The user `id -un` names in the shell that `key` opens, back in the table after."""
    tui.keys(key)
    tui.wait_text(prompt)
    # A marker of this call's own (an earlier shell's output may still be on the screen),
    # which the typed line does not hold.
    tui.type(f"id -un; echo done-$((40 + {ord(key)}))")
    tui.keys("Enter")
    marker = f"done-{40 + ord(key)}"
    lines = [line.strip() for line in tui.wait_text(marker).splitlines()]
    tui.type("exit")
    tui.keys("Enter")
    tui.wait_text("1 container, 1 running")
    return lines[lines.index(marker) - 1]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_attach_is_as_the_containers_own_user(lxpy: Lxpy, size: tuple[int, int]) -> None:
    lxpy.run("create", "own", "--network", "none")
    lxpy.run("start", "own")
    make_user = "echo dev:x:1000:1000::/home/dev:/bin/sh >> /etc/passwd; mkdir -p /home/dev"
    lxpy.run("attach", "own", "--", "sh", "-c", f"{make_user}; chown 1000:1000 /home/dev")
    lxpy.run("config", "set", "own", "user.name=dev")
    with tui_in_tmux(lxpy, size) as tui:
        tui.wait_text("1 container, 1 running")
        assert who_is_in(tui, "e", "dev@own:~$") == "dev"
        assert who_is_in(tui, "E", "root@own:~#") == "root"  # root, on the second key
        tui.keys("q")
        tui.wait_text("TUI-EXITED 0")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_snapshot_from_the_pane_and_a_restore(lxpy: Lxpy, size: tuple[int, int]) -> None:
    lxpy.run("create", "sn", "--network", "none")
    lxpy.run("start", "sn")
    lxpy.run("attach", "sn", "--", "sh", "-c", "echo before > /root/f")
    with tui_in_tmux(lxpy, size) as tui:
        tui.wait_text("1 container, 1 running")
        tui.keys("z")
        tui.wait_text("Snapshots of sn")
        tui.keys("t")
        tui.wait_text("Snapshot sn")
        tui.type("one")
        tui.keys("Enter")
        tui.wait_text("took snapshot one")
        # The table is read again after the notification: wait for its row.
        tui.wait(lambda s: any(line.split()[:1] == ["one"] for line in s.splitlines()), "one")
        lxpy.run("attach", "sn", "--", "sh", "-c", "echo after > /root/f")
        tui.keys("r")
        screen = tui.wait_text("Restore sn to one?")
        assert "sn runs: it is stopped first" in screen
        tui.keys("Tab", "Enter")  # Cancel has the focus; the next button restores
        tui.wait_text("restored one (stopped)", timeout=60)
        tui.keys("Escape")
        tui.wait(lambda s: "STOPPED" in row(s, "sn"), "sn stopped in the table")
        tui.keys("s")
        tui.wait(lambda s: "RUNNING" in row(s, "sn"), "sn running again")
        tui.keys("q")
        tui.wait_text("TUI-EXITED 0")
    assert lxpy.run("attach", "sn", "--", "cat", "/root/f").stdout == "before\n"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_log_view_follows_and_finds(lxpy: Lxpy, size: tuple[int, int]) -> None:
    lxpy.run("create", "talk", "--network", "none")
    lxpy.run("start", "talk")
    with tui_in_tmux(lxpy, size) as tui:
        tui.wait_text("1 container, 1 running")
        tui.keys("l")
        tui.wait_text("talk")
        lines = "for i in $(seq 3000); do echo logline-$i; done > /dev/console"
        lxpy.run("attach", "talk", "--", "sh", "-c", lines)
        screen = tui.wait_text("logline-3000")  # followed to the end
        assert "logline-1500" not in screen
        tui.keys("/")
        tui.wait_text("search (enter")  # the search box is open: typing goes to it
        tui.type("logline-1500")
        tui.wait_text("logline-1500")
        tui.keys("Enter")
        # The line after the match: the typed search holds the match's text itself.
        tui.wait(lambda s: "logline-1501" in s and "logline-3000" not in s, "the match in view")
        tui.keys("Escape", "Escape")  # the search, then the view
        tui.wait_text("1 container, 1 running")
        tui.keys("q")
        tui.wait_text("TUI-EXITED 0")
