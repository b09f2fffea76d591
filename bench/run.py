#!/usr/bin/env python3
"""Side-by-side benchmark of lxpy against LXC on the same machine, in one run.

Measures (median of --runs samples, lxpy and LXC interleaved so that drifting host load hits
both alike):

* create:  `lxpy create --template busybox` vs `lxc-create -t busybox`
* start:   `lxpy start` vs `lxc-start` (daemonized; both return once init runs)
* stop -k: `lxpy stop -k` vs `lxc-stop -k` (the stops between start runs)
* attach:  `lxpy attach NAME -- true` vs `lxc-attach -n NAME -- true`
* top:     until the first table of `lxpy top --once` vs `lxc-top -b` (one running)
* RSS/Pss: of the `lxpy monitor NAME` daemon vs the `[lxc monitor]` process, alone and
           with 20 running (Pss splits the pages monitors share)
* ls:      `lxpy ls` vs `lxc-ls -f` with --containers containers, all stopped and with
           --running of them running
* version: `lxpy --version` vs the interpreter's floor, `python3 -I -S -c pass`

Everything lives in one private work directory: lxpy runs with `--root` inside it, LXC with a
private lxcpath (`-P`) inside it, and every container name carries a random
`lxpybench-<token>` prefix. LXC containers get no network (`lxc.net.0.type = empty`). The
`finally` stops and destroys every container of both kinds, checks that no mount, cgroup or
process is left, and only then removes the work directory.

The standard library and psutil (lxpy's own dependency): run it with lxpy's venv,
`.venv/bin/python bench/run.py`. Needs root, LXC (lxc-create & co.) and a static busybox.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import secrets
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal, Self, TypeVar

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CGROUP_ROOT = "/sys/fs/cgroup"
LXC_TOOLS = (
    "lxc-create",
    "lxc-copy",
    "lxc-start",
    "lxc-stop",
    "lxc-attach",
    "lxc-ls",
    "lxc-info",
    "lxc-destroy",
)
# No network (no lxcbr0 needed). Unconfined: a no-op where AppArmor is off, and it keeps
# lxc-start from needing an LXC AppArmor profile where it is on.
LXC_CONFIG = """\
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
"""
COMMAND_TIMEOUT = 120.0
SETTLE_SECONDS = 0.1  # let a freshly started monitor reach its main loop before reading RSS
MANY_RUNNING = 20  # for the monitors' memory: shared pages count once among them (Pss)
# A container that stops leaves an `lxpy count-disk` child behind its monitor (it counts the
# disk for `lxpy ls`); the leak checks give such children this long to end on their own.
LINGER_SECONDS = 15.0

Kind = Literal["lxpy", "lxc"]


class BenchError(Exception):
    pass


class Terminated(BaseException):
    """SIGTERM/SIGHUP, raised so that the `finally` cleanup runs."""


# -- running commands -------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    cmd: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def wait_exactly(proc: subprocess.Popen[bytes], timeout: float, what: str) -> int:
    """Wait for `proc` and return its exit status, waking up the moment it exits.

    Not `Popen.wait(timeout)` nor `subprocess.run(timeout=...)`: those poll with sleeps
    doubling up to 50 ms, which rounds every measured time up to ~8, 16, 32 ms, then 50 ms
    steps. A pidfd becomes readable at once when the child exits.
    """
    pidfd = os.pidfd_open(proc.pid)
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            raise BenchError(f"timed out after {timeout:g}s: {what}")
    finally:
        os.close(pidfd)
    return proc.wait()


def execute(
    cmd: Sequence[str],
    *,
    timeout: float = COMMAND_TIMEOUT,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> Result:
    """Run `cmd` with stdin from /dev/null and its output in temporary files.

    Files, not pipes: a daemon that keeps an inherited stdout open (a container monitor) can
    never make us wait for EOF. Only the subprocess itself is inside the timed region.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        begin = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        try:
            returncode = wait_exactly(proc, timeout, " ".join(cmd))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - begin
        out.seek(0)
        err.seek(0)
        result = Result(
            tuple(cmd),
            returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
        )
    if check and result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise BenchError(f"exit {result.returncode}: {' '.join(cmd)}\n{detail}")
    return result


def until_shown(
    cmd: Sequence[str], needle: str, env: dict[str, str] | None = None, timeout: float = 30
) -> float:
    """Seconds from launching `cmd` on a terminal until its output shows `needle` (the end of
    a top's first table), then ended: lxc-top never exits on its own, and refuses to run
    without a terminal (in batch mode too, whose rows stdio buffers on a pipe)."""
    import pty

    primary, secondary = pty.openpty()
    begin = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    seen = b""
    try:
        while needle.encode() not in seen:
            left = timeout - (time.perf_counter() - begin)
            ready, _, _ = select.select([primary], [], [], max(0.0, left))
            try:
                chunk = os.read(primary, 1 << 16) if ready else b""
            except OSError:  # EIO: the terminal's last writer is gone
                chunk = b""
            if not chunk:
                raise BenchError(f"{' '.join(cmd)} did not show {needle} within {timeout} s")
            seen += chunk
        return time.perf_counter() - begin
    finally:
        proc.kill()
        proc.wait()
        os.close(primary)


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- processes and mounts ----------------------------------------------------------------------
def arguments(process: psutil.Process) -> list[str]:
    """Its command line without the empty arguments that a rewritten one (a monitor's, with
    the rest of its original area zeroed) ends in."""
    return [arg for arg in process.cmdline() if arg]


def command_lines() -> dict[int, str]:
    """Every process's arguments, joined by spaces ("" for kernel threads and zombies)."""
    return {
        p.pid: " ".join(arg for arg in p.info["cmdline"] or () if arg)
        for p in psutil.process_iter(["cmdline"])
    }


def read_text(path: str) -> str:
    """A /proc file psutil has no reader for; "" once its process is gone."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, Pss) of a process in MiB. Pss splits shared pages among their users."""
    memory = psutil.Process(pid).memory_full_info()
    return memory.rss / MIB, memory.pss / MIB


def mounts_matching(needles: Sequence[str]) -> list[str]:
    return [
        line
        for line in read_text("/proc/self/mountinfo").splitlines()
        if any(needle in line for needle in needles)
    ]


def lxc_pivots() -> list[str]:
    """LXC's `lxc.pivot` cgroups: a stopping monitor moves itself there and leaves it."""
    found = []
    for top in (CGROUP_ROOT, *(e.path for e in os.scandir(CGROUP_ROOT) if e.is_dir())):
        if os.path.isdir(f"{top}/lxc.pivot"):
            found.append(f"{top}/lxc.pivot")
    return found


def cgroup_dirs_matching(needle: str, exact: str, max_depth: int = 3) -> list[str]:
    """Cgroup directories (any hierarchy, v1 or v2) named `exact` or containing `needle`."""
    found = []
    for top, dirs, _files in os.walk(CGROUP_ROOT):
        depth = top[len(CGROUP_ROOT) :].count("/")
        if depth >= max_depth:
            dirs.clear()
        for d in dirs:
            if needle in d or d == exact:
                found.append(os.path.join(top, d))
    return sorted(found)


# -- the two systems under test ----------------------------------------------------------------
@dataclass
class Bench:
    lxpy_cmd: list[str]
    token: str
    workdir: str
    lxpy_env: dict[str, str] | None = None
    lxc_names: list[str] = field(default_factory=list)
    # LXC's shared `lxc.pivot` cgroups that existed before this run (see cleanup).
    pivots_before: set[str] = field(default_factory=lambda: set(lxc_pivots()))

    @classmethod
    def in_new_workdir(cls, lxpy_cmd: list[str], args: argparse.Namespace) -> Self:
        """A bench in a work dir of its own, whose name carries the container prefix; lxpy
        keeps its bytecode caches there unless --env-as-is (see bytecode_env)."""
        token = secrets.token_hex(3)
        bench = cls(lxpy_cmd, token, tempfile.mkdtemp(prefix=f"lxpybench-{token}-"))
        if not args.env_as_is:
            bench.lxpy_env = bytecode_env(f"{bench.workdir}/pycache")
        return bench

    def make_roots(self) -> None:
        """lxpy's root and LXC's path in the work dir, and the config of LXC's containers."""
        os.mkdir(self.lxpy_root, 0o700)
        os.mkdir(self.lxcpath, 0o700)
        with open(self.lxc_config, "w") as f:
            f.write(LXC_CONFIG)

    @property
    def lxpy_root(self) -> str:
        return f"{self.workdir}/lxpy"

    @property
    def lxcpath(self) -> str:
        return f"{self.workdir}/lxc"

    @property
    def lxc_config(self) -> str:
        return f"{self.workdir}/lxc-bench.conf"

    @property
    def lxpy_instance(self) -> str:
        """lxpy's host-global prefix for this root (cgroups), as lxpy.paths.Paths.for_root
        makes it (crc32 of the root); the leak checks look for cgroups of that name."""
        return f"lxpy-{zlib.crc32(os.path.abspath(self.lxpy_root).encode()):08x}"

    @property
    def prefix(self) -> str:
        """In every container name, the work dir's name and LXC's cgroup names."""
        return f"lxpybench-{self.token}"

    def name(self, kind: Kind, index: int) -> str:
        return f"{self.prefix}-{'p' if kind == 'lxpy' else 'c'}{index:02d}"

    # lxpy
    def lxpy(self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT) -> Result:
        return execute(
            [*self.lxpy_cmd, "--root", self.lxpy_root, *args],
            check=check,
            timeout=timeout,
            env=self.lxpy_env,
        )

    # LXC
    def lxc(
        self, tool: str, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> Result:
        return execute([tool, "-P", self.lxcpath, *args], check=check, timeout=timeout)

    def create(self, kind: Kind, index: int) -> float:
        name = self.name(kind, index)
        if kind == "lxpy":
            return self.lxpy("create", name, "--template", "busybox", "--network", "none").seconds
        self.lxc_names.append(name)
        return self.lxc("lxc-create", "-n", name, "-t", "busybox", "-f", self.lxc_config).seconds

    def copy_lxc(self, source: str, index: int) -> None:
        """A cheap LXC container: a copy of `source`; a fresh lxc-create if copying fails."""
        name = self.name("lxc", index)
        self.lxc_names.append(name)
        if self.lxc("lxc-copy", "-n", source, "-N", name, check=False).returncode != 0:
            self.lxc("lxc-destroy", "-n", name, check=False)
            self.lxc("lxc-create", "-n", name, "-t", "busybox", "-f", self.lxc_config)

    def start(self, kind: Kind, name: str) -> float:
        if kind == "lxpy":
            return self.lxpy("start", name).seconds
        log_file = f"{self.workdir}/lxc-start.log"
        result = self.lxc("lxc-start", "-n", name, "-o", log_file, "-l", "ERROR", check=False)
        if result.returncode != 0:
            with open(log_file, errors="replace") as f:
                raise BenchError(f"lxc-start -n {name} failed:\n{f.read()[-3000:]}")
        return result.seconds

    def stop(self, kind: Kind, name: str) -> float:
        if kind == "lxpy":
            return self.lxpy("stop", "-k", name).seconds
        return self.lxc("lxc-stop", "-k", "-n", name).seconds

    def attach_true(self, kind: Kind, name: str) -> float:
        if kind == "lxpy":
            return self.lxpy("attach", name, "--", "true").seconds
        return self.lxc("lxc-attach", "-n", name, "--", "true").seconds

    def top_first_table(self, kind: Kind, name: str) -> float:
        """Until the first table is shown: lxpy's row of `name`, lxc-top's TOTAL line, which
        ends its table (its batch mode prints no rows within seconds here)."""
        if kind == "lxpy":
            cmd = [*self.lxpy_cmd, "--root", self.lxpy_root, "top", "--once"]
            return until_shown(cmd, name, self.lxpy_env)
        return until_shown(["lxc-top", "-P", self.lxcpath, "-d", "1"], "TOTAL")

    def version(self, kind: Kind) -> float:
        """`lxpy --version`, and the floor it stands on: python3 -I -S -c pass."""
        if kind == "lxpy":
            return self.lxpy("--version").seconds
        return execute([sys.executable, "-I", "-S", "-c", "pass"]).seconds

    def ls(self, kind: Kind) -> Result:
        return self.lxpy("ls") if kind == "lxpy" else self.lxc("lxc-ls", "-f")

    def init_pid(self, kind: Kind, name: str) -> int:
        if kind == "lxpy":
            info = json.loads(self.lxpy("info", name, "--format", "json").stdout)
            if info["state"] != "RUNNING" or not isinstance(info["pid"], int):
                raise BenchError(f"lxpy container {name} is not running: {info}")
            return int(info["pid"])
        out = self.lxc("lxc-info", "-n", name, "-s", "-p").stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        state, pid = fields.get("State", "").strip(), fields.get("PID", "").strip()
        if state != "RUNNING" or not pid.isdigit():
            raise BenchError(f"LXC container {name} is not running: {out.strip()}")
        return int(pid)

    def monitor_pid(self, kind: Kind, name: str) -> int:
        """The daemon whose child is the container's init, identified by its command line.

        lxpy: `lxpy monitor NAME`; LXC: `[lxc monitor] LXCPATH NAME`.
        """
        init = self.init_pid(kind, name)
        parent = psutil.Process(init).parent()
        args = arguments(parent) if parent else []
        if kind == "lxpy":
            ours = args[-3:] == ["lxpy", "monitor", name]
        else:
            ours = " ".join(args) == f"[lxc monitor] {self.lxcpath} {name}"
        if parent is None or not ours:
            raise BenchError(
                f"cannot find the monitor of {kind} {name}: init {init}'s parent is "
                f"{parent.pid if parent else None}, {args}"
            )
        return int(parent.pid)


# -- measurements ------------------------------------------------------------------------------
@dataclass
class Metric:
    key: str
    label: str
    unit: str
    target: str = ""
    # "ratio": lxpy/LXC <= limit; "lxpy": the lxpy value <= limit; None: informative.
    limit_kind: Literal["ratio", "lxpy"] | None = None
    limit: float | None = None
    lxpy: list[float] = field(default_factory=list)
    lxc: list[float] = field(default_factory=list)

    @property
    def lxpy_median(self) -> float | None:
        return statistics.median(self.lxpy) if self.lxpy else None

    @property
    def lxc_median(self) -> float | None:
        return statistics.median(self.lxc) if self.lxc else None

    @property
    def ratio(self) -> float | None:
        a, b = self.lxpy_median, self.lxc_median
        return None if a is None or b is None or b == 0 else a / b

    @property
    def met(self) -> bool | None:
        if self.limit_kind is None or self.limit is None:
            return None
        value = self.ratio if self.limit_kind == "ratio" else self.lxpy_median
        return None if value is None else value <= self.limit

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "lxpy_median": self.lxpy_median,
            "lxc_median": self.lxc_median,
            "ratio": self.ratio,
            "target": self.target or None,
            "target_met": self.met,
            "lxpy_samples": self.lxpy,
            "lxc_samples": self.lxc,
        }


@dataclass
class Verdict(Metric):
    """A figure whose target is a check that passed or failed, not a limit."""

    verdict: bool | None = None

    @property
    def met(self) -> bool | None:
        return self.verdict


MS = 1000.0
S = 1.0  # interleaved's scale for figures in seconds
KINDS: tuple[Kind, Kind] = ("lxpy", "lxc")  # both systems, in the order interleaved starts
MIB = 1024.0 * 1024.0


def interleaved(
    runs: int,
    step: Callable[[Kind], float],
    metric: Metric,
    *,
    warmup: bool = True,
    scale: float = MS,
) -> None:
    """step(kind) -> seconds; one untimed warm-up each, then lxpy and LXC turn about."""
    kinds: tuple[Kind, Kind] = ("lxpy", "lxc")
    if warmup:
        for kind in kinds:
            step(kind)
    for i in range(runs):
        order = kinds if i % 2 == 0 else kinds[::-1]
        for kind in order:
            value = step(kind) * scale
            (metric.lxpy if kind == "lxpy" else metric.lxc).append(value)


def measure(bench: Bench, runs: int, containers: int, running: int, metrics: list[Metric]) -> None:
    kinds: tuple[Kind, Kind] = ("lxpy", "lxc")

    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    # create: index 0 is the warm-up, 1..runs are timed, the rest are cheap bulk copies
    create = add(Metric("create", "create busybox", "ms"))
    log(f"create: {runs} timed runs each")
    for kind in kinds:
        bench.create(kind, 0)
    for i in range(1, runs + 1):
        for kind in kinds if i % 2 else kinds[::-1]:
            (create.lxpy if kind == "lxpy" else create.lxc).append(bench.create(kind, i) * MS)
    log(f"create: filling up to {containers} containers each (lxpy create, lxc-copy)")
    for i in range(runs + 1, containers):
        bench.create("lxpy", i)
        bench.copy_lxc(bench.name("lxc", 0), i)

    first = {kind: bench.name(kind, 0) for kind in kinds}

    # start (stop -k between runs, timed apart) and the monitor's memory after each start
    start = add(Metric("start", "start until init runs", "ms", "lxpy <= 4x LXC", "ratio", 4.0))
    stop = add(Metric("stop", "stop -k (between starts)", "ms", "lxpy <= 2x LXC", "ratio", 2.0))
    rss = add(Metric("rss", "monitor VmRSS", "MiB", "lxpy <= 10 MiB", "lxpy", 10.0))
    pss = add(Metric("pss", "monitor Pss (alone)", "MiB"))
    log(f"start: {runs} timed runs each")
    for kind in kinds:  # warm-up
        bench.start(kind, first[kind])
        bench.stop(kind, first[kind])
    for i in range(runs):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            seconds = bench.start(kind, first[kind])
            time.sleep(SETTLE_SECONDS)
            vm_rss, vm_pss = memory_mib(bench.monitor_pid(kind, first[kind]))
            stopped = bench.stop(kind, first[kind])
            if kind == "lxpy":
                start.lxpy.append(seconds * MS)
                stop.lxpy.append(stopped * MS)
                rss.lxpy.append(vm_rss)
                pss.lxpy.append(vm_pss)
            else:
                start.lxc.append(seconds * MS)
                stop.lxc.append(stopped * MS)
                rss.lxc.append(vm_rss)
                pss.lxc.append(vm_pss)

    # attach
    attach = add(Metric("attach", "attach -- true", "ms", "lxpy <= 3.5x LXC", "ratio", 3.5))
    log(f"attach: {runs} timed runs each")
    for kind in kinds:
        bench.start(kind, first[kind])
    interleaved(runs, lambda kind: bench.attach_true(kind, first[kind]), attach)
    # top, one container running: until the first table (lxpy samples CPU over 0.2 s first)
    top = add(Metric("top", "top: first table (1 running)", "ms", "lxpy <= 10x LXC", "ratio", 10.0))
    log(f"top: {runs} timed runs each")
    interleaved(runs, lambda kind: bench.top_first_table(kind, first[kind]), top)
    for kind in kinds:
        bench.stop(kind, first[kind])

    # ls, everything stopped, then with some running
    def listing(kind: Kind, expect_running: int) -> float:
        result = bench.ls(kind)
        rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
        up = sum(1 for row in rows if len(row) > 1 and row[1] == "RUNNING")
        if len(rows) != containers or up != expect_running:
            raise BenchError(
                f"{kind} ls listed {len(rows)} containers, {up} running; expected "
                f"{containers}, {expect_running}:\n{result.stdout}"
            )
        return result.seconds

    ls_stopped = add(
        Metric("ls", f"ls, {containers} stopped", "ms", "lxpy <= 2x LXC", "ratio", 2.0)
    )
    log(f"ls: {containers} stopped containers each")
    interleaved(runs, lambda kind: listing(kind, 0), ls_stopped)
    if running > 0:
        ls_running = add(
            Metric(
                "ls_running",
                f"ls, {containers} ({running} running)",
                "ms",
                "lxpy <= 1x LXC",
                "ratio",
                1.0,
            )
        )
        log(f"ls: {containers} containers, {running} of them running")
        for kind in kinds:
            for i in range(running):
                bench.start(kind, bench.name(kind, i))
        interleaved(runs, lambda kind: listing(kind, running), ls_running)
        for kind in kinds:
            for i in range(running):
                bench.stop(kind, bench.name(kind, i))

    # the monitors' memory with many running: one sample of each monitor
    many = min(MANY_RUNNING, containers)
    many_rss = add(
        Metric("rss_many", f"monitor VmRSS ({many} running)", "MiB", "lxpy <= 10 MiB", "lxpy", 10.0)
    )
    many_pss = add(
        Metric("pss_many", f"monitor Pss ({many} running)", "MiB", "lxpy <= 2.5 MiB", "lxpy", 2.5)
    )
    log(f"monitors: {many} running containers each")
    for kind in kinds:
        names = [bench.name(kind, i) for i in range(many)]
        for name in names:
            bench.start(kind, name)
        time.sleep(SETTLE_SECONDS)
        for name in names:
            vm_rss, vm_pss = memory_mib(bench.monitor_pid(kind, name))
            (many_rss.lxpy if kind == "lxpy" else many_rss.lxc).append(vm_rss)
            (many_pss.lxpy if kind == "lxpy" else many_pss.lxc).append(vm_pss)
        for name in names:
            bench.stop(kind, name)

    # the interpreter's floor under every lxpy command
    version = add(
        Metric(
            "version",
            "--version (LXC column: python3 -I -S -c pass)",
            "ms",
            "lxpy <= 1.5x",
            "ratio",
            1.5,
        )
    )
    log(f"--version: {runs} timed runs each")
    interleaved(runs, bench.version, version)


# -- cleanup -----------------------------------------------------------------------------------
def our_processes(bench: Bench) -> dict[int, str]:
    """Processes of this run: by command line (work dir, token) or by cgroup."""
    found = {}
    for pid, args in command_lines().items():
        if pid == os.getpid():
            continue
        groups = read_text(f"/proc/{pid}/cgroup")
        if bench.prefix in args or bench.prefix in groups or f"/{bench.lxpy_instance}/" in groups:
            found[pid] = args
    return found


def leftovers(bench: Bench) -> list[str]:
    """Anything of this run still on the machine: mounts, cgroups, processes, containers."""
    found = [f"mount: {m}" for m in mounts_matching([bench.prefix])]
    found += [f"cgroup: {d}" for d in cgroup_dirs_matching(bench.prefix, bench.lxpy_instance)]
    found += [f"process {pid}: {args}" for pid, args in our_processes(bench).items()]
    containers = f"{bench.lxpy_root}/lib/containers"
    if os.path.isdir(containers):
        found += [f"lxpy container: {n}" for n in os.listdir(containers)]
    if os.path.isdir(bench.lxcpath):
        try:
            listed = bench.lxc("lxc-ls", "-1", check=False).stdout.split()
        except BenchError as e:
            listed = [f"? ({e})"]
        found += [f"LXC container: {n}" for n in listed]
    return found


def safe_rmtree(path: str) -> None:
    """rm -r, refusing if anything below `path` is a mount point (or on another device)."""
    device = os.lstat(path).st_dev
    for top, dirs, _files in os.walk(path):
        for d in dirs:
            full = os.path.join(top, d)
            if os.path.ismount(full) or os.lstat(full).st_dev != device:
                raise BenchError(f"refusing to delete {path}: {full} is a mount point")
    if mounts_matching([path]):
        raise BenchError(f"refusing to delete {path}: it still has mounts below it")
    shutil.rmtree(path)


def cleanup(bench: Bench) -> list[str]:
    """Stop and destroy every container of this run, then remove the work directory.

    Returns what could not be cleaned up (empty when the machine is as before).
    """
    problems: list[str] = []
    containers = f"{bench.lxpy_root}/lib/containers"
    if os.path.isdir(containers):
        # Half-made ones (no config.toml, or lxpy's hidden .partial-*) hold no process or
        # mount: they go with the work directory.
        names = sorted(
            n
            for n in os.listdir(containers)
            if not n.startswith(".") and os.path.isfile(f"{containers}/{n}/config.toml")
        )
        if names:
            log(f"cleanup: lxpy destroy --force ({len(names)} containers)")
            try:
                result = bench.lxpy("destroy", "--force", *names, check=False, timeout=600)
                if result.returncode != 0:
                    problems.append(
                        f"lxpy destroy: exit {result.returncode}: {result.stderr.strip()}"
                    )
            except BenchError as e:
                problems.append(f"lxpy destroy: {e}")
    if os.path.isdir(bench.lxcpath):
        try:
            listed = bench.lxc("lxc-ls", "-1", check=False).stdout.split()
        except BenchError as e:
            problems.append(f"lxc-ls: {e}")
            listed = []
        names = sorted(set(bench.lxc_names) | set(listed))
        if names:
            log(f"cleanup: lxc-destroy -f ({len(names)} containers)")
        for name in names:
            if not os.path.isdir(f"{bench.lxcpath}/{name}"):
                continue
            try:
                result = bench.lxc("lxc-destroy", "-f", "-n", name, check=False)
                if result.returncode != 0:
                    problems.append(f"lxc-destroy {name}: {result.stderr.strip()}")
            except BenchError as e:
                problems.append(f"lxc-destroy {name}: {e}")
    # lxc.pivot is shared by every LXC container of the host: remove it only if this run
    # made it, and only if it is empty (rmdir refuses a cgroup with processes or children).
    for pivot in sorted(set(lxc_pivots()) - bench.pivots_before):
        try:
            os.rmdir(pivot)
        except OSError as e:
            problems.append(f"cannot remove LXC's {pivot} (made by this run): {e.strerror}")
    deadline = time.monotonic() + LINGER_SECONDS
    while our_processes(bench) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = leftovers(bench)
    if left:
        problems += [f"left behind: {item}" for item in left]
        # Kill only this run's own processes (by pid), and only after reporting them.
        for pid in our_processes(bench):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    if our_processes(bench) or mounts_matching([bench.prefix]):
        problems.append(f"kept {bench.workdir}: processes or mounts still use it")
        return problems
    try:
        safe_rmtree(bench.workdir)
    except (BenchError, OSError) as e:
        problems.append(str(e))
    return problems


# -- output ------------------------------------------------------------------------------------
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def table(metrics: Sequence[Metric]) -> str:
    rows = [("metric", "lxpy", "LXC", "lxpy/LXC", "target", "met")]
    for m in metrics:
        met = {True: "yes", False: "NO", None: ""}[m.met]
        ratio = "-" if m.ratio is None else f"{m.ratio:.2f}x"
        rows.append(
            (m.label, fmt(m.lxpy_median, m.unit), fmt(m.lxc_median, m.unit), ratio, m.target, met)
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(r[1:4], widths[1:4], strict=True)
        ]
        cells += [r[4].ljust(widths[4]), r[5]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def version(cmd: Sequence[str]) -> str:
    try:
        return execute(cmd, timeout=30).stdout.strip()
    except BenchError as e:
        return f"unknown ({e})"


def bytecode_env(prefix: str) -> dict[str, str]:
    """The environment for lxpy commands: bytecode caches written and used, but in `prefix`.

    An editable install has no .pyc files for modules never imported with bytecode writing
    on, and PYTHONDONTWRITEBYTECODE (set in some sandboxes) then makes every command compile
    them again; a wheel install compiles them at install time. This measures the latter
    without writing into the source tree. (The monitor runs with -I, which ignores both.)
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def default_lxpy() -> list[str]:
    venv = os.path.join(REPO, ".venv", "bin", "lxpy")
    if os.access(venv, os.X_OK):
        return [venv]
    found = shutil.which("lxpy")
    return [found] if found else [sys.executable, "-m", "lxpy"]


def preflight(lxpy_cmd: Sequence[str]) -> None:
    if os.geteuid() != 0:
        raise BenchError("run it as root: both lxpy and LXC need it")
    missing = [tool for tool in LXC_TOOLS if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"missing LXC tools: {', '.join(missing)} (apt-get install lxc)")
    if not os.path.exists("/usr/share/lxc/templates/lxc-busybox"):
        raise BenchError("LXC's busybox template is missing (/usr/share/lxc/templates)")
    execute([*lxpy_cmd, "--version"], timeout=30)


def at_least_five(text: str) -> int:
    """--runs: a median of fewer samples means little."""
    try:
        runs = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if runs < 5:
        raise argparse.ArgumentTypeError("at least 5 (medians of fewer samples mean little)")
    return runs


def common_options(p: argparse.ArgumentParser) -> None:
    """The options every bench takes besides its own."""
    add = p.add_argument
    add("--json", metavar="FILE", help="also write every sample and the medians to FILE")
    add(
        "--lxpy",
        metavar="CMD",
        help="the lxpy command (default: the repo's .venv/bin/lxpy, else lxpy on PATH, "
        "else python -m lxpy)",
    )
    add(
        "--env-as-is",
        action="store_true",
        help="run lxpy in this environment unchanged (default: bytecode caching on, with "
        "PYTHONPYCACHEPREFIX in the work dir)",
    )
    add("--check", action="store_true", help="exit status 2 when a target is missed")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add("--runs", type=at_least_five, default=7, help="timed runs per figure (>= 5; default 7)")
    add("--containers", type=int, default=50, help="of each kind, for ls (default 50)")
    add("--running", type=int, default=5, help="of which running, for ls (default 5; 0: none)")
    common_options(p)
    args = p.parse_args(argv)
    if args.containers < args.runs + 1:
        p.error(f"--containers: at least --runs + 1 ({args.runs + 1})")
    if not 0 <= args.running <= args.containers:
        p.error("--running: between 0 and --containers")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


@dataclass
class Session:
    """One run of a bench: its figures, what went wrong, when and where it ran."""

    began: float
    when: datetime.datetime
    load: tuple[float, float, float]
    metrics: list[Metric] = field(default_factory=list)
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def stamp(self) -> str:
        return (
            f"{self.when:%Y-%m-%d %H:%M} UTC, {platform.node()}, kernel {platform.release()}, "
            f"{os.cpu_count()} CPUs, load {self.load[0]:.2f} -> {os.getloadavg()[0]:.2f}, "
            f"bench took {self.elapsed:.0f}s"
        )


# What ends a bench's work as a failed run (its cleanup still runs); psutil.Error: a process
# being measured ended, or could not be read.
FAILURES = (BenchError, OSError, psutil.Error, KeyError, ValueError, KeyboardInterrupt, Terminated)


def conduct(work: Callable[[list[Metric]], None], tidy: Callable[[], list[str]]) -> Session:
    """Run `work` (which adds the figures), then `tidy` (the cleanup, returning what it
    found left over) whatever happened, with SIGTERM/SIGHUP turned into a clean stop and
    SIGINT held off during the cleanup."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    session = Session(time.monotonic(), datetime.datetime.now(datetime.UTC), os.getloadavg())
    try:
        work(session.metrics)
    except FAILURES as e:
        session.error = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
        session.problems = tidy()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return session


def conclude(
    session: Session,
    notes: Sequence[str],
    clean: str,
    args: argparse.Namespace,
    extra: dict[str, Any],
    render: Callable[[Sequence[Metric]], str] = table,
) -> int:
    """The table (as `render` lays it out), the notes and the cleanup's verdict; the JSON
    (`extra` on top of what every bench records) with --json; the exit status (2: a target
    missed, with --check)."""
    print("\n".join([render(session.metrics), *(f"note: {text}" for text in notes)]))
    print(
        f"cleanup: nothing left behind ({clean})" if not session.problems else "cleanup: see stderr"
    )
    failed = [f"FAILED: {session.error}"] if session.error else []
    for line in [*failed, *(f"cleanup: {p}" for p in session.problems)]:
        print(f"bench: {line}", file=sys.stderr)
    if args.json:
        doc: dict[str, Any] = {"date": session.when.isoformat(timespec="seconds")}
        doc.update(host=platform.node(), kernel=platform.release(), cpus=os.cpu_count())
        doc.update(loadavg=[session.load, os.getloadavg()], seconds=round(session.elapsed, 1))
        doc.update(lxpy_env_as_is=args.env_as_is, error=session.error)
        doc.update(cleanup_problems=session.problems, notes=list(notes), **extra)
        doc.update(metrics=[m.to_json() for m in session.metrics])
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as out:
            out.write(json.dumps(doc, indent=2) + "\n")
    if session.error or session.problems:
        return 1
    return 2 if args.check and any(m.met is False for m in session.metrics) else 0


B = TypeVar("B", bound="Bench")


def opened(prepare: Callable[[argparse.Namespace], B], args: argparse.Namespace) -> B | None:
    """The bench `prepare` makes of `args`, its work dir said; None once it has said why it
    cannot be made (a tool missing, a bad option)."""
    try:
        bench = prepare(args)
    except (BenchError, OSError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return None
    log(f"work dir {bench.workdir}, container prefix {bench.prefix}")
    return bench


def report(
    bench: Bench,
    session: Session,
    args: argparse.Namespace,
    what: str,
    notes: Sequence[str],
    clean: str,
    extra: dict[str, Any],
) -> int:
    """The headline (lxpy's and LXC's versions, then `what` was measured, when and where),
    then `conclude`; the JSON gets the versions besides `extra`."""
    lxc_version = version(["lxc-start", "--version"])
    lxpy_version = version([*bench.lxpy_cmd, "--version"])
    print(f"lxpy ({lxpy_version}) vs LXC {lxc_version}{what}; {session.stamp()}")
    versions: dict[str, Any] = dict(lxpy_version=lxpy_version, lxc_version=lxc_version)
    return conclude(session, notes, clean, args, {**versions, **extra})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    lxpy_cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    try:
        preflight(lxpy_cmd)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    bench = Bench.in_new_workdir(lxpy_cmd, args)
    log(f"work dir {bench.workdir}, container prefix {bench.prefix}")

    def work(metrics: list[Metric]) -> None:
        bench.make_roots()
        measure(bench, args.runs, args.containers, args.running, metrics)

    session = conduct(work, lambda: cleanup(bench))
    lxc_version = version(["lxc-start", "--version"])
    lxpy_version = version([*lxpy_cmd, "--version"])
    print(
        f"lxpy ({lxpy_version}) vs LXC {lxc_version}: median of {args.runs} runs, "
        f"{args.containers} containers; {session.stamp()}"
    )
    extra: dict[str, Any] = dict(lxpy_version=lxpy_version, lxc_version=lxc_version)
    extra.update(runs=args.runs, containers=args.containers, running=args.running)
    return conclude(session, [], "mounts, cgroups, processes, containers, files", args, extra)


if __name__ == "__main__":
    sys.exit(main())
