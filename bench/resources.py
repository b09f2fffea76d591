#!/usr/bin/env python3
"""Side-by-side benchmark of resource stats: lxpy's stats API and `lxpy top` vs LXC, in one run.

Measures, with --containers busybox containers of each kind running (no network: lxpy
`--network none`, LXC `lxc.net.0.type = empty`), lxpy and LXC taking turns:

* stats of all, one call: lxpy's core API call `Api(Paths.from_env(root)).containers(
  with_stats=True)`, timed in a fresh process of the installed lxpy's interpreter (one
  warm-up call, then --runs calls, median per call; the call only, not the interpreter's
  start-up), every container checked RUNNING with its stats present; LXC's nearest "one call
  for all": `lxc-ls -f -F NAME,STATE,PID,RAM,SWAP` (one command: state, init pid and memory
  of every container)
* the same as whole commands: `lxpy ls --format json` (one process, stats of all) vs that
  `lxc-ls`, and N `lxpy info NAME --format json` vs N `lxc-info -s -p -S -H -n NAME`
* `lxpy top --once` (and `--once -i 0`, without its half-second CPU interval) vs `lxc-top`
  made to print one table and exit: lxc-top has no once flag and refuses a stdin that is not
  a tty (batch mode too), so it gets a pseudo-terminal and the `q` key as soon as it has set
  that terminal up; it prints its first table, reads the `q`, and exits
* lxpy only, last: `lxpy ls --format json` of --containers stopped busybox containers on
  overlay, then in a btrfs pool it makes and removes, every disk figure read without a walk

The harness, the isolation (private work dir, lxpy --root and LXC lxcpath inside it,
`lxpybench-<token>` names) and the cleanup with its leak checks are those of bench/run.py,
imported from it.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root, LXC
(lxc-create & co., lxc-top) and a static busybox.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from run import (
    KINDS,
    MS,
    Bench,
    BenchError,
    Kind,
    Metric,
    Result,
    at_least_five,
    cleanup,
    common_options,
    conduct,
    default_lxpy,
    execute,
    interleaved,
    log,
    opened,
    preflight,
    report,
    wait_exactly,
)

LXC_LS_COLUMNS = "NAME,STATE,PID,RAM,SWAP"
TTY_POLL = 0.0002  # how often the bench looks whether lxc-top has set its terminal up
TTY_TIMEOUT = 30.0
SETTLE_SECONDS = 1.0  # after the starts: let every init finish its rc scripts
EXIT_CHECK = 3  # the API script's exit status when a result is not what it should be

# Run by the installed lxpy's interpreter: argv root, calls, expected containers and the
# exit status for a wrong result. For each figure, one warm-up call, then `calls` timed
# calls (the call alone; its result is checked after the clock stopped: every container
# RUNNING, with memory > 0 and pids >= 1 where stats are asked for). The figure of the
# target is `containers`, Api.containers(with_stats=True); the others split it up: the same
# without stats, and Api.stats(name) of every container (what one `lxpy top` sample does).
API_SCRIPT = """\
import json, sys, time
from lxpy.api import Api
from lxpy.paths import Paths

root, calls, expect, failed = sys.argv[1], *map(int, sys.argv[2:5])
api = Api(Paths.from_env(root))

def check(results, stats=True):
    bad = []
    for name, state, s in results:
        if state != "RUNNING":
            bad.append(f"{name}: {state}")
        elif stats and (s is None or not (s.memory or 0) > 0 or not (s.pids or 0) >= 1):
            bad.append(f"{name}: stats missing or empty: {s}")
    if len(results) != expect or bad:
        print(f"{len(results)} containers (expected {expect}): {bad}", file=sys.stderr)
        sys.exit(failed)

def each():
    samples = [(n, api.stats(n)) for n in api.names()]
    return [(n, "RUNNING" if s else "?", s) for n, s in samples]

figures = {
    "containers": (lambda: api.containers(with_stats=True), True),
    "containers_plain": (lambda: api.containers(), False),
    "stats_each": (each, True),
}
found = {"instance": api.paths.instance}
for key, (call, stats) in figures.items():
    times = []
    for i in range(calls + 1):
        begin = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - begin
        if i:
            times.append(seconds)
        if key.startswith("containers"):
            if i == 0 and stats:
                found["example"] = result[0].to_json()
            result = [(c.name, str(c.state), c.stats) for c in result]
        check(result, stats)
    found[key] = times
print(json.dumps(found))
"""


class CheckError(BenchError):
    """A command ran, but its output is not that of N running containers with stats."""


# -- the bench ---------------------------------------------------------------------------------
@dataclass
class ResBench(Bench):
    python: str = ""  # the installed lxpy's interpreter
    notes: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    api_samples: list[dict[str, Any]] = field(default_factory=list)
    top_runs: int = 0  # lxc-top runs
    top_waited: int = 0  # of which had printed their table before the `q` came

    def note(self, text: str) -> None:
        log(text)
        self.notes.append(text)

    def names(self, kind: Kind, count: int) -> list[str]:
        return [self.name(kind, i) for i in range(count)]


def interpreter(cmd: Sequence[str]) -> str:
    """The Python that runs the lxpy command: its shebang (`#!/usr/bin/env python3` too), or
    the command itself when it is an interpreter (`python -m lxpy`)."""
    path = shutil.which(cmd[0])
    if path is None:
        raise BenchError(f"{cmd[0]}: not found")
    with open(path, "rb") as f:
        head = f.read(512)
    if not head.startswith(b"#!"):
        if cmd[1:3] == ["-m", "lxpy"]:
            return path
        raise BenchError(f"{path}: no shebang, and not `PYTHON -m lxpy`")
    words = head[2:].split(b"\n", 1)[0].decode().split()
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        found = shutil.which(words[-1])
        if found is None:
            raise BenchError(f"{path}: {words[-1]} (its interpreter) not found")
        return found
    return words[0]


# -- the figures -------------------------------------------------------------------------------
def api_call(bench: ResBench, count: int, calls: int) -> dict[str, Any]:
    """A fresh process of lxpy's interpreter runs API_SCRIPT; its per-call times."""
    cmd = [bench.python, "-c", API_SCRIPT, bench.lxpy_root, str(calls), str(count)]
    cmd.append(str(EXIT_CHECK))
    result = execute(cmd, check=False, env=bench.lxpy_env)
    if result.returncode == EXIT_CHECK:
        raise CheckError(f"lxpy API: {result.stderr.strip()}")
    if result.returncode != 0:
        raise BenchError(f"lxpy API script: exit {result.returncode}: {result.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(result.stdout)
    bench.api_samples.append(found)
    return found


def lxc_ls(bench: ResBench, count: int) -> Result:
    """`lxc-ls -f -F NAME,STATE,PID,RAM,SWAP`, checked: count rows, all RUNNING, RAM > 0."""
    result = bench.lxc("lxc-ls", "-f", "-F", LXC_LS_COLUMNS)
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    good = [
        r
        for r in rows
        if len(r) >= 4 and r[1] == "RUNNING" and r[2].isdigit() and float(r[3].rstrip("MB")) > 0
    ]
    if len(rows) != count or len(good) != count:
        raise CheckError(f"lxc-ls: {len(good)}/{len(rows)} running with RAM:\n{result.stdout}")
    return result


def lxpy_ls_json(bench: ResBench, count: int) -> Result:
    result = bench.lxpy("ls", "--format", "json")
    listed = json.loads(result.stdout)
    good = [
        c
        for c in listed
        if c["state"] == "RUNNING"
        and (c.get("stats") or {}).get("memory", 0) > 0
        and (c.get("stats") or {}).get("pids", 0) >= 1
        and (c.get("disk") or {}).get("used", 0) > 0
    ]
    if len(listed) != count or len(good) != count:
        raise CheckError(
            f"lxpy ls --format json: {len(good)}/{len(listed)} running with stats and disk use"
        )
    return result


def ls_disk_figures(bench: ResBench, count: int, runs: int, live: bool) -> list[float]:
    """`lxpy ls --format json` of `count` stopped containers, each with its disk figure
    (`live`: from its quota group, else a kept count): the seconds of each of `runs` runs,
    after one warm-up."""
    times = []
    for i in range(runs + 1):
        result = bench.lxpy("ls", "--format", "json")
        disks = [c["disk"] for c in json.loads(result.stdout)]
        good = [d for d in disks if d and d["used"] >= 0 and (d["counted"] is None) == live]
        if len(disks) != count or len(good) != count:
            raise CheckError(f"lxpy ls --format json: {len(good)}/{len(disks)} with disk use")
        if i:
            times.append(result.seconds)
    return times


def disk_figures(bench: ResBench, runs: int, count: int, metrics: list[Metric]) -> None:
    """`lxpy ls --format json` of `count` busybox containers, stopped, on overlay (busybox
    makes dir storage: each gets a snapshot, after which it is an overlay on that snapshot's
    layer) and then in a btrfs pool, each figure read without a walk. The running dir
    containers of the other figures are destroyed first: ls lists only these."""
    bench.lxpy("destroy", "--force", *bench.names("lxpy", count), timeout=600)
    overlay = Metric(
        "ls_overlay", f"ls --format json, {count} overlay", "ms", "lxpy <= 150 ms", "lxpy", 150.0
    )
    pooled = Metric(
        "ls_btrfs", f"ls --format json, {count} in btrfs", "ms", "lxpy <= 150 ms", "lxpy", 150.0
    )
    metrics += [overlay, pooled]
    names = bench.names("lxpy", count)
    log(f"disk figures: {count} overlay containers")
    for name in names:
        bench.lxpy("create", name, "-t", "busybox", "--network", "none")
        bench.lxpy("snapshot", name)
    overlay.lxpy += [t * MS for t in ls_disk_figures(bench, count, runs, live=False)]
    bench.lxpy("destroy", *names, timeout=600)
    pool = f"{bench.prefix}-pool"
    log(f"disk figures: {count} containers in btrfs pool {pool}")
    bench.lxpy("storage", "create", pool, "--size", "1G")
    try:
        for name in names:
            bench.lxpy("create", name, "-t", "busybox", "--network", "none", "--storage", pool)
        pooled.lxpy += [t * MS for t in ls_disk_figures(bench, count, runs, live=True)]
    finally:
        made = [n for n in names if os.path.isdir(f"{bench.lxpy_root}/lib/containers/{n}")]
        if made:
            bench.lxpy("destroy", "--force", *made, check=False, timeout=600)
        bench.lxpy("storage", "rm", pool, check=False)
    bench.note(
        "disk figures: busybox containers, stopped; overlay ones read a kept count, btrfs "
        "ones their quota group; neither walks a tree"
    )


def info_each(bench: ResBench, kind: Kind, names: Sequence[str]) -> float:
    """One info command with stats per container, one after the other; the sum of their
    times. lxpy: `info NAME --format json`; LXC: `lxc-info -s -p -S -H -n NAME`."""
    total = 0.0
    for name in names:
        if kind == "lxpy":
            result = bench.lxpy("info", name, "--format", "json")
            data = json.loads(result.stdout)
            stats = data.get("stats") or {}
            ok = data["state"] == "RUNNING" and stats.get("memory", 0) > 0
        else:
            result = bench.lxc("lxc-info", "-s", "-p", "-S", "-H", "-n", name)
            fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
            memory = fields.get("Memory use", "").strip()
            ok = fields.get("State", "").strip() == "RUNNING" and memory.isdigit()
            ok = ok and int(memory) > 0 and "CPU use" in fields
        if not ok:
            raise CheckError(f"{kind} info {name}: not running with stats:\n{result.stdout}")
        total += result.seconds
    return total


def lxpy_top(bench: ResBench, count: int, *extra: str) -> float:
    result = bench.lxpy("top", "--once", *extra)
    rows = [line for line in result.stdout.splitlines() if line.startswith(bench.prefix)]
    if len(rows) != count:
        raise CheckError(f"lxpy top {' '.join(extra)}: {len(rows)} rows:\n{result.stdout}")
    return result.seconds


def lxc_top(bench: ResBench, count: int) -> float:
    """lxc-top, one table: stdin a pseudo-terminal (it refuses anything else, in batch mode
    too) with count + 10 rows (it prints rows - 3 containers), and a `q` typed once it has
    set the terminal up (ICANON off: its TCSAFLUSH, which drops earlier input, is done). It
    prints the first table at once, then reads the `q` and exits. Timed from the spawn to
    its exit, like every other command."""
    master, slave = os.openpty()
    try:
        size = struct.pack("HHHH", count + 10, 250, 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            begin = time.perf_counter()
            proc = subprocess.Popen(
                ["lxc-top", "-P", bench.lxcpath],
                stdin=slave,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            try:
                os.close(slave)
                slave = -1
                while termios.tcgetattr(master)[3] & termios.ICANON:
                    if time.perf_counter() - begin > TTY_TIMEOUT:
                        raise BenchError("lxc-top did not set its terminal up in time")
                    if proc.poll() is not None:
                        err.seek(0)
                        raise BenchError(f"lxc-top exited at once: {err.read().decode()}")
                    time.sleep(TTY_POLL)
                os.write(master, b"q")
                bench.top_runs += 1
                if b"TOTAL" in os.pread(out.fileno(), 1 << 20, 0):
                    bench.top_waited += 1  # its table was out before the key: it waited
                returncode = wait_exactly(proc, TTY_TIMEOUT, "lxc-top")
            except BaseException:
                if proc.returncode is None:
                    proc.kill()
                    proc.wait()
                raise
            seconds = time.perf_counter() - begin
            out.seek(0)
            text = out.read().decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    rows = [line for line in text.splitlines() if bench.prefix in line]
    if returncode != 0 or len(rows) != count or f"TOTAL {count} of {count}" not in text:
        raise CheckError(f"lxc-top: exit {returncode}, {len(rows)} rows:\n{text}")
    return seconds


def measure(bench: ResBench, runs: int, count: int, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    names = {kind: bench.names(kind, count) for kind in KINDS}
    log(f"creating {count} busybox containers of each kind, no network")
    for i in range(count):
        bench.create("lxpy", i)
    bench.create("lxc", 0)
    for i in range(1, count):
        bench.copy_lxc(names["lxc"][0], i)
    log(f"starting all {count} of each")
    bench.lxpy("start", *names["lxpy"], timeout=600)
    for name in names["lxc"]:
        bench.start("lxc", name)
    time.sleep(SETTLE_SECONDS)

    # stats of all in one call: the API (in-process) vs lxc-ls
    api = add(
        Metric(
            "stats_call",
            f"stats of {count}, one call (LXC: lxc-ls -f -F)",
            "ms",
            "lxpy <= 100 ms",
            "lxpy",
            100.0,
        )
    )
    parts = {
        "containers_plain": add(Metric("api_plain", "  lxpy: Api.containers(), no stats", "ms")),
        "stats_each": add(Metric("api_each", f"  lxpy: Api.stats() x{count} (a top sample)", "ms")),
    }

    def api_step(kind: Kind) -> float:
        if kind == "lxc":
            return lxc_ls(bench, count).seconds
        return float(statistics.median(api_call(bench, count, runs)["containers"]))

    log(f"stats in one call: {runs} processes of {runs} API calls each, {runs} lxc-ls")
    interleaved(runs, api_step, api)
    for process in bench.api_samples[1:]:  # [0]: the warm-up's
        for key, metric in parts.items():
            metric.lxpy.append(statistics.median(process[key]) * MS)
    bench.checks["api_calls_per_process"] = runs
    bench.checks["lxpy_instance"] = bench.api_samples[-1]["instance"]
    if bench.api_samples[-1]["instance"] != bench.lxpy_instance:
        raise BenchError(
            f"lxpy's instance is {bench.api_samples[-1]['instance']}, the bench computed "
            f"{bench.lxpy_instance}: its leak checks would miss lxpy's cgroups"
        )

    # the same as commands
    ls = add(Metric("stats_ls", f"stats of {count}: ls --format json / lxc-ls -F", "ms"))
    log(f"stats of all, one command: {runs} runs each")
    interleaved(
        runs,
        lambda kind: (
            (lxpy_ls_json(bench, count) if kind == "lxpy" else lxc_ls(bench, count)).seconds
        ),
        ls,
    )
    info = add(Metric("stats_info", f"stats of {count}: {count}x info / lxc-info -S", "ms"))
    log(f"stats, one command per container: {runs} runs of {count} commands each")
    interleaved(runs, lambda kind: info_each(bench, kind, names[kind]), info)

    # top, one table
    def top_step(*extra: str) -> Callable[[Kind], float]:
        return lambda kind: (
            lxpy_top(bench, count, *extra) if kind == "lxpy" else lxc_top(bench, count)
        )

    top = add(Metric("top", f"top --once, {count} running / lxc-top + q", "ms"))
    log(f"top --once: {runs} runs each")
    interleaved(runs, top_step(), top)
    top0 = add(Metric("top_i0", "top --once -i 0 / lxc-top + q", "ms"))
    log(f"top --once -i 0: {runs} runs each")
    interleaved(runs, top_step("-i", "0"), top0)
    disk_figures(bench, runs, count, metrics)
    bench.checks["lxc_top_runs_waiting_for_q"] = bench.top_waited
    bench.note(
        "LXC's one call: `lxc-ls -f -F NAME,STATE,PID,RAM,SWAP` (state, pid and memory of "
        "all; a whole command, where lxpy's figure is the API call alone, in-process)"
    )
    bench.note(
        f"lxc-top: no once flag, a tty required; run on a pty and sent `q` once it set the "
        f"terminal up; its table was already out before the `q` in {bench.top_waited} of "
        f"{bench.top_runs} runs"
    )


# -- main --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add("--runs", type=at_least_five, default=7, help="timed runs per figure (>= 5; default 7)")
    add("--containers", type=int, default=20, help="running, of each kind (default 20)")
    common_options(p)
    args = p.parse_args(argv)
    if not 1 <= args.containers <= 100:
        p.error("--containers: 1 to 100")
    return args


def prepare(args: argparse.Namespace) -> ResBench:
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    preflight(cmd)
    if shutil.which("lxc-top") is None:
        raise BenchError("lxc-top is missing (apt-get install lxc)")
    python = interpreter(cmd)
    bench = ResBench.in_new_workdir(cmd, args)
    bench.python = python
    bench.make_roots()
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1
    log(f"lxpy's python {bench.python}")
    session = conduct(
        lambda metrics: measure(bench, args.runs, args.containers, metrics), lambda: cleanup(bench)
    )
    what = f": median of {args.runs} runs, {args.containers} running of each"
    extra: dict[str, Any] = dict(lxpy_python=bench.python)
    extra.update(runs=args.runs, containers=args.containers, checks=bench.checks)
    extra.update(api_processes=bench.api_samples)
    clean = "containers, mounts, cgroups, processes, files"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
