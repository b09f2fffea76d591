"""Other hosts' containers in the TUI: each remote kept current over its SSH connection
(lxpy.remote), from a thread of its own. No textual here: the model is tested without a
terminal.

The thread makes sure of the connection (the ControlMaster every lxpy command to that host
shares), starts `lxpy events -f json` there and lists the host's containers (`ls -f json`):
again a moment after each burst of events, and every `refresh` seconds for the CPU and
memory figures, which no event announces (and for an event missed while the stream
started). A host that stops answering (ssh fails, its event stream ends, a listing fails or
takes too long) keeps the rows it gave last, marked unreachable with the reason, and is
tried again after 1, 2, 4... up to 30 seconds. Every call there has a timeout, and
quitting ends them all at once (Connection.abandon).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from lxpy.api import ContainerInfo, State
from lxpy.errors import LxpyError, describe
from lxpy.remote import registry
from lxpy.remote.connection import Connection, last_line, reap
from lxpy.remote.protocol import RemoteError
from lxpy.remote.registry import ALL, LOCAL, Remote
from lxpy.tui.fleet import Detail, History, Row, row_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Paths

DEBOUNCE = 0.2  # from an event until the listing: the rest of its burst comes meanwhile
LIST_TIMEOUT = 20.0  # a listing that takes longer: the host counts as unreachable
READ_TIMEOUT = 20.0  # `info`, the console log
# A start waits for the boot, a stop for init to end (30 s, then it kills), a destroy for
# the files to go: the CLI's own waits, with room.
ACTION_TIMEOUT = 120.0
FIRST_RETRY, LAST_RETRY = 1.0, 30.0  # seconds before an unreachable host is tried again
STREAM_EXIT_WAIT = 5.0  # for the ssh of an event stream that ended to exit
STOP_CHECK = 0.5  # how soon a thread waiting for events sees that the app quits

CONNECTING, UP, UNREACHABLE = "connecting", "up", "unreachable"


class Host(Protocol):
    """Where a row's container lives, as the actions and the log view call it: this root's
    `Api`, or a `RemoteHost`."""

    def start(self, name: str) -> object: ...
    def stop(self, name: str, *, force: bool = ...) -> object: ...
    def restart(self, name: str) -> object: ...
    def freeze(self, name: str) -> None: ...
    def unfreeze(self, name: str) -> None: ...
    def destroy(self, name: str, *, force: bool = ...) -> None: ...
    def info(self, name: str) -> ContainerInfo: ...
    def console_log(self, name: str) -> bytes: ...


def chosen(paths: Paths, option: str | None) -> list[Remote]:
    """The remotes the TUI shows besides this host: every one registered (`--remote all`,
    or no option), one (`--remote NAME`), or none (`--remote local`)."""
    remotes = registry.load(paths)
    if option is None or option == ALL:
        return list(remotes.remotes.values())
    return [] if option == LOCAL else [remotes.get(option)]


@dataclass(frozen=True)
class Status:
    state: str  # CONNECTING, UP or UNREACHABLE
    reason: str = ""  # why it is unreachable: what ssh or lxpy there said
    retry: float | None = None  # time.monotonic() of the next try


class RemoteHost:
    """One remote's containers as the table's rows, and the actions on them. `changed` is
    called from the host's thread whenever its rows or its status change."""

    def __init__(self, paths: Paths, remote: Remote, refresh: float) -> None:
        self.name = remote.name
        self.connection = Connection(paths, remote, batch=True)
        self.refresh = refresh
        self.changed: Callable[[], object] = lambda: None
        self.lock = threading.Lock()  # what follows, read and written by several threads
        self.rows: list[Row] = []
        self.status = Status(CONNECTING)
        self.history = History()
        self.listed: dict[str, ContainerInfo] = {}  # the last listing's
        # What `info` said of a container (its config: a listing has none), until an event
        # of it: `info` counts the disk again there, not a thing to ask at every listing.
        self.detailed: dict[str, ContainerInfo] = {}
        self.logs: dict[str, bytes] = {}  # the console tail read with each `info`
        self.listing = threading.Lock()  # one listing at a time: none lands after a newer
        self.stopping = threading.Event()
        self.stream: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, name=f"lxpy-{self.name}", daemon=True)

    # -- the thread ---------------------------------------------------------------------------
    def open(self, changed: Callable[[], object]) -> None:
        self.changed = changed
        self.thread.start()

    def close(self) -> None:
        """End the thread, its event stream and every call under way there, now."""
        with self.lock:
            self.stopping.set()
            if self.stream is not None:
                self.stream.kill()  # nothing, once it has ended
        self.connection.abandon()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run(self) -> None:
        delay = FIRST_RETRY
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                reason = self._follow()
            except Exception as e:  # whatever goes wrong there is that host's, not the app's
                reason = describe(e).removeprefix("lxpy: ")
            if self.stopping.is_set():
                return
            with self.lock:
                if self.status.state == UP and time.monotonic() - began >= LAST_RETRY:
                    delay = FIRST_RETRY  # it answered a good while: try again soon
                self.status = Status(UNREACHABLE, reason, time.monotonic() + delay)
                self.rows = [replace(row, unreachable=True) for row in self.rows]
            self.changed()
            self.stopping.wait(delay)
            delay = min(delay * 2, LAST_RETRY)

    def _follow(self) -> str:
        """List the host's containers, then again on its events, until it stops answering:
        why it did."""
        self.connection.ready()
        with self.lock:
            if self.stopping.is_set():
                return "stopped"
            # Started before the listing: what happens meanwhile is an event read after it.
            stream = self.stream = subprocess.Popen(
                self.connection.argv(["events", "--format", "json"]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # the terminal's signals are the app's, not its
            )
        try:
            self.reload()
            return self._read(stream)
        finally:
            reap(stream)  # never drained: its master may hold the pipes open for a minute

    def _read(self, stream: subprocess.Popen[bytes]) -> str:
        assert stream.stdout is not None
        fd = stream.stdout.fileno()
        pending = b""
        burst: float | None = None  # when the first event since the last listing came
        listed = time.monotonic()
        while True:
            due = listed + self.refresh
            if burst is not None:
                due = min(due, burst + DEBOUNCE)
            wait = due - time.monotonic()
            if wait <= 0:
                self.reload()
                burst, listed = None, time.monotonic()
                continue
            if self.stopping.is_set():
                return "stopped"
            if not select.select([fd], [], [], min(wait, STOP_CHECK))[0]:
                continue
            data = os.read(fd, 65536)
            if not data:
                return self._ended(stream)
            *lines, pending = (pending + data).split(b"\n")
            named = set(_containers(lines))
            if named:
                burst = burst or time.monotonic()
                with self.lock:
                    for name in named:
                        self.detailed.pop(name, None)

    def _ended(self, stream: subprocess.Popen[bytes]) -> str:
        """Why the event stream ended: ssh's or lxpy's last line there."""
        try:
            status = stream.wait(STREAM_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            return "its event stream ended"
        assert stream.stderr is not None
        os.set_blocking(stream.stderr.fileno(), False)  # what is there: the master may hold it
        said = last_line((stream.stderr.read() or b"").decode(errors="replace"))
        if status == 255:
            return str(self.connection.unreachable(said))
        return f"its event stream ended ({said or f'status {status}'})"

    # -- reading ------------------------------------------------------------------------------
    def reload(self) -> None:
        """The host's containers, listed now: its rows, and it counts as up."""
        with self.listing:
            answer = self.connection.containers(timeout=LIST_TIMEOUT)
            infos = {i.name: i for i in (ContainerInfo.from_json(a, self.name) for a in answer)}
            with self.lock:
                rows = []
                for name, info in infos.items():
                    earlier = self.history.earlier.get(name)
                    sample = None if info.stats is None else info.stats.since(earlier)
                    rows.append(row_of(info, self.history.keep(name, sample), host=self.name))
                self.history.keep_only(infos)
                self.rows, self.listed, self.status = rows, infos, Status(UP)
                for gone in set(self.detailed) - set(infos):
                    del self.detailed[gone]
                    self.logs.pop(gone, None)
        self.changed()

    def info(self, name: str) -> ContainerInfo:
        """`lxpy info NAME` there, config and all."""
        answer = self.connection.json(["info", name, "--format", "json"], timeout=READ_TIMEOUT)
        if not isinstance(answer, dict):
            raise RemoteError(f"{self.name}: info gave no object")
        info = ContainerInfo.from_json(answer, self.name)
        with self.lock:
            self.detailed[name] = info
        return info

    def console_log(self, name: str) -> bytes:
        return self.connection.output(["console", name, "--log"], timeout=READ_TIMEOUT)

    def detail(self, name: str, fresh: bool) -> Detail | None:
        """The detail pane's `name`: what `info` said of it (asked again when `fresh`, or
        after an event of it) with the last listing's figures, and its console's tail."""
        with self.lock:
            listed, detailed = self.listed.get(name), self.detailed.get(name)
        if listed is None:
            return None
        if fresh or detailed is None:
            detailed = self.info(name)
            try:
                log = self.console_log(name)
            except LxpyError:
                log = b""
            with self.lock:
                self.logs[name] = log
        with self.lock:
            # A listing that changed only figures reads nothing more there: the console's
            # tail is read again with the info, on a new selection or an event of its own.
            return self.history.detail(detailed.with_figures_of(listed), self.logs.get(name, b""))

    # -- actions (each as the CLI's own command there, then a listing) --------------------------
    def start(self, name: str) -> None:
        self._do(["start", name])

    def stop(self, name: str, force: bool = False) -> None:
        self._do(["stop", name, *(["--kill"] if force else [])])

    def restart(self, name: str) -> None:
        self._do(["restart", name])

    def freeze(self, name: str) -> None:
        self._do(["freeze", name])

    def unfreeze(self, name: str) -> None:
        self._do(["unfreeze", name])

    def destroy(self, name: str, force: bool = False) -> None:
        self._do(["destroy", name, *(["--force"] if force else [])])

    def _do(self, words: list[str]) -> None:
        try:
            self.connection.output(words, timeout=ACTION_TIMEOUT)
        finally:
            # Listed before the row's "starting…" goes, so the new state takes its place.
            try:
                self.reload()
            except LxpyError:
                pass  # the host's thread finds it unreachable too, and says so


def status_line(hosts: Sequence[RemoteHost], now: float) -> str:
    """How each remote host is, in one line: what it holds, or why it does not answer."""
    said = []
    for host in hosts:
        status, rows = host.status, host.rows
        if status.state == CONNECTING:
            said.append(f"{host.name}: connecting…")
        elif status.state == UP:
            running = sum(row.state is State.RUNNING for row in rows)
            count = f"{len(rows)} container{'' if len(rows) == 1 else 's'}"
            said.append(f"{host.name}: {count}, {running} running")
        else:
            left = None if status.retry is None else status.retry - now
            again = "now" if left is None or left < 0.5 else f"in {left:.0f} s"
            said.append(f"{host.name} unreachable: {status.reason} (trying again {again})")
    return " · ".join(said)


def _containers(lines: Iterable[bytes]) -> Iterable[str]:
    """The containers the event lines name."""
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short: the next listing shows what happened anyway
        if isinstance(event, dict) and isinstance(event.get("container"), str):
            yield event["container"]
