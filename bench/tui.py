#!/usr/bin/env python3
"""Benchmark of the fleet TUI (`lxpy tui`) with many containers: start-up, idle refresh
cost, key to repaint, and the log view of a large console log.

With --containers busybox containers (no network: `--network none`), first all stopped
(informative; skipped with --no-stopped), then with --running of them running, spread
evenly over the name order (the case with the targets):

* start until the first painted table: `lxpy --root ROOT tui` spawned on a pseudo-terminal
  of a fixed size (stdin, stdout and stderr: textual writes to stderr), timed from just
  before the spawn until its output (escape sequences removed) holds the header's subtitle
  "N containers, M running" and the names of the first and last table rows that fit the
  screen; then `q` is typed and the process must exit (killed after 5 s). Median of --runs,
  after one untimed warm-up (which also finds how many rows fit). Also: the time to the
  first byte of output, and from the `q` to the exit (informative).
* the refresh loop's cost: the TUI started the same way, left alone for --settle seconds,
  then its CPU time (user + system time of all its threads, psutil's cpu_times, plus any
  children) over an idle window of --window seconds, as percent of one core; the pty is
  drained all along. Median of --cpu-runs windows, each in a fresh TUI.
* key to repaint (the mixed case only, one TUI, painted and settled): each key is typed
  once the output has paused for QUIET s, and timed from the write until the output written
  after it shows its effect: `O` (reverse the sort) until the NAME header's arrow has turned
  and the last row on the screen in the new order is there; `j`/`k` (informative) until any
  output (the highlight moved). --presses of each, turn about.
* the log view: in the same TUI, the first stopped container's console log is filled with
  LOG_BYTES of numbered lines, its row selected with the filter (`/`, its name, enter), then
  `l` until the last line and the one LOG_DEPTH above it are on the screen, and Esc; median
  of --runs. When `l` does not show them within LOG_TIMEOUT (no log view in this lxpy) the
  figure is "-" with a note: not measured, not failed.

With --remote, the same figures over two hosts (issue 19): every other pair of the
containers (p02, p03, p06, p07...) lives in a second root in the work dir, which the bench's
root knows as the remote `far`, reached over an sshd of the bench's own on the loopback
(tests/sshd.py: a host key and a user key made for it, never the system's); the TUI shows
both, the remote's rows from its event stream over one SSH connection. The start figure's
target is then 1.5 s, and the idle window also counts, apart, the SSH master and the
remote side (the sshd's processes there: `lxpy events`, the listings).

LXC has no TUI: lxpy only, nothing to set side by side. The harness, the isolation (private
work dir, lxpy --root inside it, `lxpybench-<token>` names) and the cleanup with its leak
checks are those of bench/run.py, imported from it; the `finally` also kills (by pid) a TUI
still running.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root, a static
busybox, and lxpy installed with its TUI (textual); --remote also needs OpenSSH's sshd and
ssh.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import re
import select
import shlex
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from run import (
    MS,
    REPO,
    Bench,
    BenchError,
    Metric,
    at_least_five,
    cleanup,
    common_options,
    conclude,
    conduct,
    default_lxpy,
    execute,
    fmt,
    log,
    memory_mib,
    opened,
    version,
)

sys.path.insert(1, REPO)  # the tests' sshd, the one --remote runs
from tests.sshd import SSHD, running_sshd

SIZE = "100x30"  # columns x lines of the pseudo-terminal
REMOTE_SIZE = "120x30"
TERM = "xterm-256color"
PAINT_TIMEOUT = 30.0  # from the spawn until the table must be on the screen
QUIT_TIMEOUT = 5.0  # from the `q` until the TUI must have exited (then it is killed)
LAYOUT_WAIT = 2.0  # warm-up: how long to keep reading after the first table (a refresh)
SETTLE_SECONDS = 1.0  # after the starts: let every init finish its rc scripts
QUIET = 0.3  # before a key: this long without output (a refresh's frame is a burst)
QUIET_TIMEOUT = 10.0
KEY_TIMEOUT = 5.0  # from a key until its effect must be on the screen
# The sort arrow in the NAME column's header, by direction (`O` flips it).
ARROWS = {False: "NAME▼", True: "NAME▲"}
LOG_BYTES = 50 << 20  # the console log the log view opens
# Narrower than the pty (no horizontal scroll); the number makes each line's text unique.
LOG_NUMBER = "console line {:08d}"
LOG_LINE = LOG_NUMBER + ": written by the bench, 64 bytes each ----\n"
# Besides the last line, the line this far above it must be on the screen: the detail pane
# shows the last 8 lines of the selected container's console too (fleet.CONSOLE_LINES),
# so only a view of the log shows this one (in LOG_DEPTH + 1 rows: the smallest --size,
# 16 lines, leaves a view with header, status line and footer 13).
LOG_DEPTH = 10
FILTER_PLACEHOLDER = "filter: any part"  # in the filter box while it is empty
LOG_TIMEOUT = 5.0  # `l` without the log's end on the screen within it: not measured
CLK_TCK = os.sysconf("SC_CLK_TCK")  # the CPU times' resolution, recorded in the JSON
REMOTE = "far"  # --remote: the second root's name as a remote of the bench's
SSH_COMMAND_ENV = "LXPY_SSH_COMMAND"  # lxpy.remote.connection's: the ssh lxpy runs
READ_SIZE = 1 << 16
# Terminal escapes (CSI, OSC, DCS, two-byte ESC x) in the TUI's output: removed before the
# search, so that the text of one screen line reads as it would on the screen.
ESCAPES = re.compile(
    rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|P[^\x1b]*\x1b\\|[@-Z\\-_])"
)


class NotShown(BenchError):
    """What was waited for never reached the screen."""


# -- the TUI on a pseudo-terminal --------------------------------------------------------------
def _take_terminal() -> None:
    """In the child, after setsid: the pty becomes its controlling terminal, as in a real
    terminal window (and it gets SIGHUP when the bench closes the master)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@dataclass
class Tui:
    """One `lxpy tui` process on a pty, its output read as it comes."""

    proc: subprocess.Popen[bytes]
    master: int
    begin: float  # perf_counter just before the spawn
    keep: bool = True  # keep the text (to search it); off: count the bytes only
    text: str = ""
    pending: bytes = b""  # an escape sequence cut in two by a read
    received: int = 0  # bytes read
    first_byte: float | None = None  # seconds after begin
    eof: bool = False

    @classmethod
    def spawn(cls, bench: Bench, columns: int, lines: int) -> Tui:
        master, slave = os.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
            env = dict(bench.lxpy_env if bench.lxpy_env is not None else os.environ)
            for key in ("COLUMNS", "LINES", "COLORTERM", "NO_COLOR", "TERM_PROGRAM"):
                env.pop(key, None)  # the size comes from the pty, the colours from TERM
            env = {k: v for k, v in env.items() if not k.startswith("TEXTUAL")}
            env["TERM"] = TERM
            cmd = [*bench.lxpy_cmd, "--root", bench.lxpy_root, "tui"]
            begin = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                start_new_session=True,
                preexec_fn=_take_terminal,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return cls(proc, master, begin)

    def pump(self, timeout: float) -> bool:
        """Read what the TUI wrote within `timeout` seconds; False if nothing came."""
        if self.eof:
            time.sleep(max(timeout, 0.0))
            return False
        if not select.select([self.master], [], [], max(timeout, 0.0))[0]:
            return False
        try:
            chunk = os.read(self.master, READ_SIZE)
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: every slave fd is closed, the TUI is gone
                raise
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        if self.first_byte is None:
            self.first_byte = time.perf_counter() - self.begin
        self.received += len(chunk)
        if self.keep:
            data = self.pending + chunk
            cut = data.rfind(b"\x1b")
            # A trailing escape without its end waits for the next read.
            if cut >= 0 and len(data) - cut < 256 and not ESCAPES.match(data, cut):
                data, self.pending = data[:cut], data[cut:]
            else:
                self.pending = b""
            self.text += ESCAPES.sub(b"", data).decode(errors="replace")
        return True

    def wait_for(self, needles: Sequence[str], timeout: float, since: int = 0) -> dict[str, float]:
        """Read until every needle is in the text from offset `since` on; when each first
        appeared (seconds after the spawn, taken when the read that completed it returned).
        NotShown if one is still missing after `timeout`."""
        needles = list(dict.fromkeys(needles))  # one row on the screen: first = last
        found: dict[str, float] = {}
        searched = since
        deadline = time.perf_counter() + timeout
        while True:
            now = time.perf_counter()
            for needle in needles:
                if needle not in found and self.text.find(needle, searched) >= 0:
                    found[needle] = now - self.begin
            if len(found) == len(needles):
                return found
            searched = max(since, len(self.text) - max(len(n) for n in needles))
            missing = [n for n in needles if n not in found]
            if self.proc.poll() is not None:
                raise BenchError(
                    f"the TUI exited with status {self.proc.returncode} before it showed "
                    f"{missing}; its screen:\n{self.text[-3000:]}"
                )
            if now > deadline:
                raise NotShown(
                    f"no {missing} on the TUI's screen after {timeout:g}s; it showed:\n"
                    f"{self.text[-3000:]}"
                )
            self.pump(min(0.5, deadline - now))

    def quiet(self) -> None:
        """Read until the TUI has written nothing for QUIET seconds: a key typed then is not
        queued behind a refresh's frame. A TUI that never pauses fails the run."""
        deadline = time.perf_counter() + QUIET_TIMEOUT
        while self.pump(QUIET):
            if time.perf_counter() > deadline:
                raise BenchError(f"the TUI's output never paused for {QUIET:g}s")

    def press(self, key: bytes, needles: Sequence[str], timeout: float) -> float:
        """Type `key` once the output has paused; seconds from the write until the output
        written after it holds the needles, each after the one before (no needles: until
        any output came). In that order, a needle can only come from the key's own frame
        (a frame is written top to bottom) once the one before is new on the screen."""
        self.quiet()
        since, received = len(self.text), self.received
        typed = time.perf_counter()
        os.write(self.master, key)
        if needles:
            deadline = typed + timeout
            for needle in needles:
                shown = self.wait_for([needle], deadline - time.perf_counter(), since)[needle]
                since = self.text.index(needle, since) + len(needle)
            return shown + self.begin - typed
        while self.received == received:
            left = typed + timeout - time.perf_counter()
            if left <= 0 or self.eof:
                raise NotShown(f"no output within {timeout:g}s of the key {key!r}")
            self.pump(left)
        return time.perf_counter() - typed

    def drain(self, seconds: float) -> None:
        """Keep reading (the TUI would block on a full pty otherwise) for `seconds`."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self.pump(left)

    def quit(self) -> tuple[int, float]:
        """Type `q`; (exit status, seconds from the key to the exit). Killed (by pid) after
        QUIT_TIMEOUT, which fails the run."""
        os.write(self.master, b"q")
        typed = time.perf_counter()
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            while True:
                left = typed + QUIT_TIMEOUT - time.perf_counter()
                if left <= 0:
                    raise BenchError(f"the TUI did not exit within {QUIT_TIMEOUT:g}s of `q`")
                readable = select.select(
                    [pidfd] + ([] if self.eof else [self.master]), [], [], left
                )
                if pidfd in readable[0]:
                    break
                self.pump(0)
        finally:
            os.close(pidfd)
        seconds = time.perf_counter() - typed
        return self.proc.wait(), seconds

    def kill(self) -> None:
        """The TUI and anything it started, by pid; then reaped. Also closes the pty."""
        if self.proc.returncode is None:
            tui = psutil.Process(self.proc.pid)
            for process in [*tui.children(recursive=True), tui]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            self.proc.wait()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


# -- processes --------------------------------------------------------------------------------
def cpu_seconds(process: psutil.Process, children: bool = True) -> float:
    """user + system time of every thread of `process`; with `children`, also of its
    waited-for children."""
    times = process.cpu_times()
    reaped = times.children_user + times.children_system if children else 0.0
    return float(times.user + times.system + reaped)


def tree_seconds(pid: int) -> tuple[float, list[int]]:
    """CPU seconds of `pid` (with its reaped children) plus those of its live descendants."""
    top = psutil.Process(pid)
    below = top.children(recursive=True)
    total = cpu_seconds(top)
    for process in below:
        with contextlib.suppress(psutil.NoSuchProcess):  # it exited meanwhile
            total += cpu_seconds(process, children=False)
    return total, [process.pid for process in below]


def all_seconds(pid: int) -> float:
    """CPU seconds of `pid` and everything below it, the children each of them reaped
    included: a remote's listings are short-lived children of its sshd session."""
    total = 0.0
    top = psutil.Process(pid)
    for process in [top, *top.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += cpu_seconds(process)
    return total


def master_seconds(controls: str) -> float:
    """CPU seconds of the SSH master of the remote whose control sockets are `controls`-*
    (named for where each leads; 0: none runs)."""
    for process in psutil.process_iter(["cmdline"]):
        # A master names itself after its socket: "ssh: CONTROL [mux]" (padded with
        # empty words, the room of the command line it overwrote).
        title = (process.info["cmdline"] or [""])[0]
        if title.startswith(f"ssh: {controls}-") and title.endswith(" [mux]"):
            with contextlib.suppress(psutil.NoSuchProcess):
                return cpu_seconds(process)
    return 0.0


def main_thread_seconds(pid: int) -> float:
    """CPU seconds of the main thread of `pid` alone (a thread's id is the pid)."""
    thread = next(t for t in psutil.Process(pid).threads() if t.id == pid)
    return float(thread.user_time + thread.system_time)


# -- the bench ---------------------------------------------------------------------------------
@dataclass
class TuiBench(Bench):
    columns: int = 100
    lines: int = 30
    notes: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    running_tui: Tui | None = None  # killed by the `finally` if still there
    remote: bool = False  # --remote: every other pair of containers on the remote `far`
    sshd_pid: int | None = None  # while the remote's sshd runs

    @property
    def remote_root(self) -> str:
        return f"{self.workdir}/far"

    def at(self, index: int) -> str:
        """Container `index` as the bench's lxpy names it: FAR:NAME for one of the remote."""
        name = self.name("lxpy", index)
        return f"{REMOTE}:{name}" if self.remote and (index // 2) % 2 else name

    @contextlib.contextmanager
    def remote_host(self) -> Iterator[None]:
        """The second root, the bench's remote `far` over an sshd of the bench's own; at
        the end its containers destroyed, its SSH master closed, the sshd stopped."""
        sshd_dir = f"{self.workdir}/sshd"
        os.mkdir(sshd_dir, 0o700)
        os.mkdir(self.remote_root, 0o700)
        with running_sshd(sshd_dir) as server:
            env = dict(self.lxpy_env if self.lxpy_env is not None else os.environ)
            self.lxpy_env = env | {SSH_COMMAND_ENV: server.ssh_command}
            with open(f"{sshd_dir}/sshd.pid") as f:
                self.sshd_pid = int(f.read())
            # Run by the remote user's shell: an absolute path.
            command = shlex.join([os.path.abspath(self.lxpy_cmd[0]), *self.lxpy_cmd[1:]])
            root = ["--root", self.remote_root]
            self.lxpy("remote", "add", REMOTE, server.address, *root, "--command", command)
            try:
                yield
            finally:
                self.sshd_pid = None
                there = f"{self.remote_root}/lib/containers"
                names = [n for n in os.listdir(there) if not n.startswith(".")]
                if names:
                    destroy = [*self.lxpy_cmd, *root, "destroy", "--force", *names]
                    execute(destroy, check=False, timeout=600, env=self.lxpy_env)
                self.lxpy("remote", "rm", REMOTE, check=False)

    def far_seconds(self) -> tuple[float, float]:
        """CPU seconds so far of the remote side (the sshd's processes: `lxpy events`, the
        listings) and of the SSH master here; zeros without --remote."""
        if self.sshd_pid is None:
            return 0.0, 0.0
        return all_seconds(self.sshd_pid), master_seconds(f"{self.lxpy_root}/run/ssh/{REMOTE}")

    def note(self, text: str) -> None:
        log(text)
        self.notes.append(text)

    @contextlib.contextmanager
    def tui(self) -> Iterator[Tui]:
        """A TUI on a pty, killed (by pid) and its pty closed when the block ends."""
        tui = Tui.spawn(self, self.columns, self.lines)
        self.running_tui = tui
        try:
            yield tui
        finally:
            tui.kill()
            self.running_tui = None

    @staticmethod
    def done(tui: Tui) -> float:
        """Quit it with `q`; seconds from the key to the exit, which must be clean."""
        status, seconds = tui.quit()
        if status != 0:
            raise BenchError(f"the TUI exited with status {status}:\n{tui.text[-3000:]}")
        return seconds


def subtitle(count: int, running: int) -> str:
    return f"{count} container{'' if count == 1 else 's'}, {running} running"


def case(count: int, running: int, remote: bool) -> tuple[str, str]:
    """A case's word in the figures' keys, and in their labels."""
    if running == 0:
        key, words = "stopped", f"{count} stopped"
    elif running == count:
        key, words = "running", f"{count} running"
    else:
        key, words = "mixed", f"{count}, {running} running"
    return (f"{key}_2hosts", f"{words}, 2 hosts") if remote else (key, words)


def spread(count: int, running: int) -> list[int]:
    """Which containers run: `running` of them spread evenly over the name order, so that
    the rows on the screen mix both states as a real fleet's do."""
    return [i * count // running for i in range(running)]


def rows_shown(bench: TuiBench, count: int, running: int) -> int:
    """Untimed warm-up: start the TUI, wait for its table, keep reading for LAYOUT_WAIT
    (a refresh), and count the rows that made it to the screen: names 0..k-1 all there."""
    with bench.tui() as tui:
        tui.wait_for([subtitle(count, running), bench.name("lxpy", 0)], PAINT_TIMEOUT)
        tui.drain(LAYOUT_WAIT)
        shown = 0
        while shown < count and bench.name("lxpy", shown) in tui.text:
            shown += 1
        bench.done(tui)
    return shown


def paint_run(bench: TuiBench, count: int, running: int, shown: int) -> dict[str, float]:
    """One timed start: seconds to the first byte, to the painted table, from `q` to exit."""
    last = bench.name("lxpy", shown - 1)
    needles = [subtitle(count, running), bench.name("lxpy", 0), last]
    with bench.tui() as tui:
        found = tui.wait_for(needles, PAINT_TIMEOUT)
        painted = max(found.values())
        bench.checks.setdefault(f"paint_needles_{running}_running", []).append(found)
        first = tui.first_byte
        quit_seconds = bench.done(tui)
    if shown < count and bench.name("lxpy", shown) in tui.text:
        raise BenchError(f"row {shown + 1} reached the screen: the warm-up's row count is off")
    return {"paint": painted, "first_byte": first or painted, "quit": quit_seconds}


def cpu_run(
    bench: TuiBench, count: int, running: int, settle: float, window: float
) -> dict[str, Any]:
    """One fresh TUI: its table, `settle` seconds, then its CPU over `window` idle seconds."""
    with bench.tui() as tui:
        tui.wait_for([subtitle(count, running), bench.name("lxpy", 0)], PAINT_TIMEOUT)
        tui.drain(settle)
        tui.keep = False
        pid = tui.proc.pid
        cpu_before, below_before = tree_seconds(pid)
        main_before = main_thread_seconds(pid)
        far_before, master_before = bench.far_seconds()
        bytes_before = tui.received
        began = time.monotonic()
        tui.drain(window)
        cpu_after, below_after = tree_seconds(pid)
        main_after = main_thread_seconds(pid)
        far_after, master_after = bench.far_seconds()
        elapsed = time.monotonic() - began
        written = tui.received - bytes_before
        rss, _pss = memory_mib(pid)
        threads = psutil.Process(pid).num_threads()
        if tui.proc.poll() is not None:
            raise BenchError(f"the TUI exited ({tui.proc.returncode}) during the window")
        bench.done(tui)
    cpu = cpu_after - cpu_before
    main = main_after - main_before
    return {
        "percent": cpu / elapsed * 100,
        "main_thread_percent": main / elapsed * 100,
        "other_percent": (cpu - main) / elapsed * 100,
        "cpu_seconds": cpu,
        "window_seconds": elapsed,
        "output_bytes_per_second": written / elapsed,
        "vm_rss_mib": rss,
        "threads": threads,
        "children": sorted(set(below_before) | set(below_after)),
        "remote_side_percent": (far_after - far_before) / elapsed * 100,
        "ssh_master_percent": (master_after - master_before) / elapsed * 100,
    }


def figures(
    bench: TuiBench,
    args: argparse.Namespace,
    running: int,
    add: Callable[[Metric], Metric],
) -> int:
    """The start and idle figures with `running` of the containers running; with some
    running they have targets, all stopped they are informative. The rows that fit."""
    count = args.containers
    key, words = case(count, running, bench.remote)
    target = running > 0
    # The remote's first listing takes its SSH handshake and an lxpy started there.
    paint_target = 1.5 if bench.remote else 1.0
    shown = rows_shown(bench, count, running)
    if shown < 1:
        raise BenchError(f"the TUI showed no row of {words}")
    bench.checks[f"rows_on_screen_{key}"] = shown
    log(f"{words}: the TUI shows {shown} of {count} rows on a {bench.columns}x{bench.lines} pty")

    paint = add(
        Metric(
            f"paint_{key}",
            f"start until the table is painted, {words}",
            "ms",
            f"<= {paint_target:g} s" if target else "",
            "lxpy" if target else None,
            paint_target * 1000 if target else None,
        )
    )
    first = add(Metric(f"first_byte_{key}", "  start until the first byte of output", "ms"))
    quits = add(Metric(f"quit_{key}", "  from `q` until the TUI exited", "ms"))
    log(f"{words}: TUI start, {args.runs} timed runs")
    for _ in range(args.runs):
        run = paint_run(bench, count, running, shown)
        paint.lxpy.append(run["paint"] * MS)
        first.lxpy.append(run["first_byte"] * MS)
        quits.lxpy.append(run["quit"] * MS)

    cpu = add(
        Metric(
            f"cpu_{key}",
            f"refresh loop, {words} (% of one core)",
            "%",
            "<= 5% of one core" if target else "",
            "lxpy" if target else None,
            5.0 if target else None,
        )
    )
    main = add(Metric(f"cpu_main_{key}", "  of which the UI thread (textual)", "%"))
    other = add(Metric(f"cpu_other_{key}", "  of which the others (poll workers, I/O)", "%"))
    rss = add(Metric(f"rss_{key}", "  TUI VmRSS after the window", "MiB"))
    out = add(Metric(f"output_{key}", "  TUI output while idle", "KiB/s"))
    far: list[Metric] = []
    if bench.remote:
        far.append(add(Metric(f"cpu_ssh_master_{key}", "  and besides: its SSH master", "%")))
        label = "  and the remote side (sshd, lxpy events, listings)"
        far.append(add(Metric(f"cpu_remote_side_{key}", label, "%")))
    log(
        f"{words}: refresh loop, {args.cpu_runs} windows of {args.window:g}s "
        f"(after {args.settle:g}s to settle), a fresh TUI each"
    )
    windows = []
    for _ in range(args.cpu_runs):
        window = cpu_run(bench, count, running, args.settle, args.window)
        windows.append(window)
        cpu.lxpy.append(window["percent"])
        main.lxpy.append(window["main_thread_percent"])
        other.lxpy.append(window["other_percent"])
        rss.lxpy.append(window["vm_rss_mib"])
        out.lxpy.append(window["output_bytes_per_second"] / 1024)
        for metric, figure in zip(far, ("ssh_master_percent", "remote_side_percent"), strict=False):
            metric.lxpy.append(window[figure])
        log(f"  {window['percent']:.2f}% of one core ({window['cpu_seconds']:.2f} s CPU)")
    bench.checks[f"cpu_windows_{key}"] = windows
    children = sorted({pid for w in windows for pid in w["children"]})
    if children:
        bench.note(f"{words}: the TUI had child processes during a window: {children}")
    return shown


def keys(
    bench: TuiBench, tui: Tui, shown: int, presses: int, add: Callable[[Metric], Metric]
) -> None:
    """Key to repaint in a painted, settled TUI: `O` until the header's arrow has turned and,
    after it, the bottom row of the table in the new order is there; `j`/`k` until any
    output. The table keeps the cursor's row on the screen: reversed, `p00` (the cursor's)
    is the bottom row, scrolled to; in name order again, the last that fits."""
    sort = add(
        Metric("key_sort", "key to repaint: `O` (reverse the sort)", "ms", "<= 50 ms", "lxpy", 50.0)
    )
    motion = add(Metric("key_motion", "  `j`/`k` (cursor motion) until any output", "ms"))
    log(f"key to repaint: {presses} `O`, then {presses} `j`/`k`, turn about")
    for i in range(presses):
        reverse = i % 2 == 0  # the TUI starts in name order
        bottom = 0 if reverse else shown - 1
        needles = [ARROWS[reverse], bench.name("lxpy", bottom)]
        sort.lxpy.append(tui.press(b"O", needles, KEY_TIMEOUT) * MS)
    for i in range(presses):
        # From the first row (an even number of `O` brought it back): `k` first would not move.
        motion.lxpy.append(tui.press(b"jk"[i % 2 : i % 2 + 1], [], KEY_TIMEOUT) * MS)
    bench.checks["key_presses"] = presses


def write_log(path: str) -> int:
    """LOG_BYTES of numbered lines at `path`; how many lines."""
    count = LOG_BYTES // len(LOG_LINE.format(0))
    batch = 1 << 14  # lines per write
    with open(path, "w") as f:
        for first in range(0, count, batch):
            f.write("".join(LOG_LINE.format(i) for i in range(first, min(first + batch, count))))
    return count


def log_view(
    bench: TuiBench, tui: Tui, name: str, title: str, runs: int, add: Callable[[Metric], Metric]
) -> None:
    """`l` on the row of `name`, stopped, its console log LOG_BYTES of numbered lines: until
    the view shows the log's end; then Esc. When `l` does not show it the figure is not
    measured (a note). `title`: the table's subtitle before the filter."""
    label = f"log view (`l`) of a {LOG_BYTES >> 20} MiB console log"
    metric = add(Metric("log_view", label, "ms", "< 300 ms", "lxpy", 300.0))
    lines = write_log(f"{bench.lxpy_root}/lib/containers/{name}/console.log")
    end = [LOG_NUMBER.format(lines - 1 - LOG_DEPTH), LOG_NUMBER.format(lines - 1)]
    selected = f"{title}, 1 shown (filter {name!r})"
    log(f"log view: {name} selected by the filter, `l` {runs} times")
    # The filter box must have the focus before the name is typed: its letters are keys of
    # the table otherwise (e: attach, n: new...).
    tui.press(b"/", [FILTER_PLACEHOLDER], KEY_TIMEOUT)
    tui.press(name.encode() + b"\r", [selected], KEY_TIMEOUT)
    for _ in range(runs):
        try:
            seconds = tui.press(b"l", end, LOG_TIMEOUT)
        except NotShown:
            bench.note(
                f"log view: not measured, `l` did not bring the last line of {name}'s console "
                f"log to the screen within {LOG_TIMEOUT:g}s: this lxpy has no log view, or "
                "its view does not open at the log's end"
            )
            # Esc closes a view that opened elsewhere in the log, else it clears the filter:
            # the table is back either way, for the `q` that quits.
            tui.press(b"\x1b", [title], KEY_TIMEOUT)
            return
        metric.lxpy.append(seconds * MS)
        tui.press(b"\x1b", [selected], KEY_TIMEOUT)  # back to the table, still filtered
    bench.checks["log_view"] = {"container": name, "bytes": LOG_BYTES, "lines": lines}


def interaction(
    bench: TuiBench,
    args: argparse.Namespace,
    running: int,
    shown: int,
    add: Callable[[Metric], Metric],
) -> None:
    """One TUI, its table painted and settled: key to repaint, then the log view of the first
    stopped container."""
    count = args.containers
    stopped = sorted(set(range(count)) - set(spread(count, running)))
    with bench.tui() as tui:
        tui.wait_for([subtitle(count, running), bench.name("lxpy", 0)], PAINT_TIMEOUT)
        tui.drain(args.settle)
        keys(bench, tui, shown, args.presses, add)
        if stopped:
            title = subtitle(count, running)
            log_view(bench, tui, bench.name("lxpy", stopped[0]), title, args.runs, add)
        else:
            bench.note("log view: not measured, every container runs (it opens a stopped one's)")
        bench.done(tui)


def measure(bench: TuiBench, args: argparse.Namespace, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    with contextlib.ExitStack() as remote:
        if bench.remote:
            log(f"a second root as the remote {REMOTE}, over an sshd of the bench's own")
            remote.enter_context(bench.remote_host())
        containers(bench, args, add)
    bench.note(
        "LXC has no TUI: lxpy only, no side-by-side; the TUI refreshes every 1.5 s "
        "(tui.toml's default)"
        + (", a remote's rows at its events and every 5 s (remote_refresh)" if bench.remote else "")
    )


def containers(bench: TuiBench, args: argparse.Namespace, add: Callable[[Metric], Metric]) -> None:
    """The containers made, the figures taken with none and with --running of them running."""
    count, running = args.containers, args.running
    where = f", every other pair on {REMOTE}" if bench.remote else ""
    log(f"creating {count} busybox containers, no network{where}")
    for i in range(count):
        bench.lxpy("create", bench.at(i), "--template", "busybox", "--network", "none")
    if not args.no_stopped:
        figures(bench, args, 0, add)
    up = [bench.at(i) for i in spread(count, running)]
    log(f"starting {running} of the {count}")
    for host in (False, True):  # one host per command
        names = [name for name in up if (":" in name) == host]
        if names:
            bench.lxpy("start", *names, timeout=600)
    time.sleep(SETTLE_SECONDS)
    everywhere = ["--remote", "all"] if bench.remote else []
    listed = json.loads(bench.lxpy("ls", *everywhere, "--format", "json").stdout)
    seen = {c["name"] for c in listed if c["state"] == "RUNNING"}
    wanted = {name.rpartition(":")[2] for name in up}
    if len(listed) != count or seen != wanted:
        raise BenchError(
            f"lxpy ls: {len(listed)} containers, running {sorted(seen)}; expected {count}, "
            f"running {sorted(wanted)}"
        )
    shown = figures(bench, args, running, add)
    interaction(bench, args, running, shown, add)


# -- output ------------------------------------------------------------------------------------
def table(metrics: Sequence[Metric]) -> str:
    """run.table without the LXC columns."""
    rows = [("metric", "lxpy", "target", "met")]
    for m in metrics:
        met = {True: "yes", False: "NO", None: ""}[m.met]
        rows.append((m.label, fmt(m.lxpy_median, m.unit), m.target, met))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].ljust(widths[2]), r[3]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add("--runs", type=at_least_five, default=7, help="timed TUI starts per case (>= 5; default 7)")
    add("--containers", type=int, default=100, help="containers (default 100)")
    add("--running", type=int, help="of which running, the targets' case (default: half)")
    add("--cpu-runs", type=int, default=3, help="idle windows per case, a TUI each (default 3)")
    add("--window", type=float, default=20.0, help="seconds of each idle window (default 20)")
    add("--settle", type=float, default=5.0, help="seconds before a window (default 5)")
    add("--presses", type=int, default=20, help="of each key timed, even (default 20)")
    add(
        "--size",
        help=f"the pty, COLUMNSxLINES (default {SIZE}; {REMOTE_SIZE} with --remote, whose HOST "
        "column would scroll the table sideways as its figures grow)",
    )
    add("--no-stopped", action="store_true", help="skip the informative all-stopped case")
    add(
        "--remote",
        action="store_true",
        help=f"every other pair of containers on a second root, the remote {REMOTE} over an "
        "sshd of the bench's own (the 2-host figures)",
    )
    common_options(p)
    args = p.parse_args(argv)
    if not 1 <= args.containers <= 100:
        p.error("--containers: 1 to 100")
    if args.running is None:
        args.running = max(1, args.containers // 2)
    if not 1 <= args.running <= args.containers:
        p.error("--running: 1 to --containers")
    if args.presses < 2 or args.presses % 2:
        p.error("--presses: even (each key turns about, back where it began), at least 2")
    if args.cpu_runs < 1 or args.window < 5 or args.settle < 0:
        p.error("--cpu-runs: at least 1; --window: at least 5 s; --settle: not negative")
    args.size = args.size or (REMOTE_SIZE if args.remote else SIZE)
    size = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if size is None or int(size[1]) < 40 or int(size[2]) < 16:
        p.error("--size: COLUMNSxLINES, at least 40x16")
    args.columns, args.lines = int(size[1]), int(size[2])
    return args


def prepare(args: argparse.Namespace) -> TuiBench:
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    if os.geteuid() != 0:
        raise BenchError("run it as root: lxpy needs it")
    execute([*cmd, "--version"], timeout=30)
    if args.remote and not (os.access(SSHD, os.X_OK) and shutil.which("ssh")):
        raise BenchError(f"--remote needs OpenSSH: {SSHD} and ssh (apt-get install openssh-server)")
    bench = TuiBench.in_new_workdir(cmd, args)
    bench.columns, bench.lines = args.columns, args.lines
    bench.remote = args.remote
    os.mkdir(bench.lxpy_root, 0o700)  # no LXC path: run.cleanup then leaves LXC alone
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1

    def tidy() -> list[str]:
        if bench.running_tui is not None:
            bench.running_tui.kill()
        return cleanup(bench)

    session = conduct(lambda metrics: measure(bench, args, metrics), tidy)
    lxpy_version = version([*bench.lxpy_cmd, "--version"])
    print(
        f"lxpy ({lxpy_version}) TUI, lxpy only (LXC has no TUI): median of {args.runs} starts "
        f"and {args.cpu_runs} idle windows of {args.window:g}s, {args.containers} containers "
        f"({args.running} running){f', half on the remote {REMOTE}' if args.remote else ''}, "
        f"{args.presses} presses a key, {args.size} pty; {session.stamp()}"
    )
    extra: dict[str, Any] = dict(lxpy_version=lxpy_version, runs=args.runs, cpu_runs=args.cpu_runs)
    extra.update(window=args.window, settle=args.settle, size=args.size, term=TERM)
    extra.update(containers=args.containers, running=args.running, presses=args.presses)
    extra.update(remote=args.remote)
    extra.update(clk_tck=CLK_TCK, checks=bench.checks)
    clean = "containers, mounts, cgroups, processes, files"
    return conclude(session, bench.notes, clean, args, extra, table)


if __name__ == "__main__":
    sys.exit(main())
