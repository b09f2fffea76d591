#!/usr/bin/env python3
"""Dev-VM lifecycle benchmark: snapshot clones (lxpy vs LXC) and export/import (lxpy only).

With one Debian source container of each kind (lxpy: `lxpy create -t debian`, no network;
LXC: `lxc-create -t debian` with bench/run.py's config, `lxc.net.0.type = empty`, on a
directory backing store), both stopped, in one run:

* snapshot clone:  `lxpy clone --snapshot SRC DST` vs `lxc-copy -n SRC -N DST -s -B overlay`,
                   a new clone name every run, lxpy and LXC taking turns, one untimed warm-up
                   each, median of --runs; an untimed `sync` before each. Also lxpy's own
                   in-process time (its "snapshot clone ... in T s" line), its interpreter's
                   bare start-up, and the disk each clone adds (`du` of all container
                   directories before and after, informative). One clone of each kind is then
                   started and must boot (`systemctl is-system-running --wait` says running or
                   degraded) with its own name as hostname; whether its machine-id differs
                   from its origin's is reported. Then it is stopped.
* export / import: LXC has no export, so lxpy only: `lxpy export SRC FILE.tar.zst` and
                   `lxpy import FILE NEWNAME` of the stopped source, one untimed warm-up,
                   then --io-runs timed runs (each import to a new name, all destroyed after
                   the timed runs, each archive deleted); MB/s as lxpy prints it and as the
                   rootfs size (`du -sb` of the imported tree) over the command's wall time,
                   CPU time, the archive's size and compression ratio; one export to .tar.gz
                   (informative); the imported container must boot.

The harness (pidfd-timed commands), the isolation (private work dir, lxpy --root and LXC
lxcpath inside it, `lxpybench-<token>` names, LXC without network) and the cleanup with its
leak checks are those of bench/run.py, and the Debian containers those of bench/debian.py,
imported from them. Before run.py's cleanup, every container is stopped, lxpy's clones are
destroyed before their origin (lxpy refuses an origin that clones stand on), LXC's likewise,
and every archive is deleted.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root, LXC with
/usr/share/lxc/templates/lxc-debian, debootstrap (for LXC), mmdebstrap or debootstrap (for
lxpy), zstd, and deb.debian.org.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from debian import SETTLED, DebianBench
from debian import preflight as debian_preflight
from resources import interpreter
from run import (
    KINDS,
    MS,
    BenchError,
    Kind,
    Metric,
    Result,
    Verdict,
    at_least_five,
    cleanup,
    common_options,
    conduct,
    default_lxpy,
    execute,
    interleaved,
    log,
    opened,
    report,
)

CREATE_TIMEOUT = 900.0  # the first lxpy create bootstraps Debian
IO_TIMEOUT = 600.0  # one export or import
BOOT_TIMEOUT = 60.0  # from the start until systemd says it has booted
POLL_SLEEP = 0.05  # between attach attempts while the guest's D-Bus is not up yet
MB = 1e6
BOOTED = ("running", "degraded")  # what counts as booted (degraded: some unit failed)
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
# lxpy's line on stderr: "exported NAME: N files, X MiB in T s (Y MB/s) to FILE"
TRANSFER = re.compile(
    r"^(?P<verb>exported|imported) (?P<name>\S+): (?P<files>\d+) files, "
    r"(?P<amount>[\d.]+) (?P<unit>B|KiB|MiB|GiB|TiB) in (?P<seconds>[\d.]+) s "
    r"\((?P<rate>[\d.]+) MB/s\)",
    re.M,
)
# lxpy's line on stderr: "snapshot clone DST of SRC in T s"
CLONED = re.compile(r"^snapshot clone (\S+) of (\S+) in ([\d.]+) s$", re.M)


@dataclass(frozen=True)
class Transfer:
    """lxpy's own account of an export or import, and the command's wall time."""

    files: int
    bytes: int  # X MiB as printed (one decimal): within 0.05 MiB
    seconds: float  # lxpy's own, printed with one decimal
    rate: float  # MB/s as printed (whole MB/s)
    wall: float
    user: float  # CPU seconds of the command and its children (zstd), in user mode
    system: float  # and in the kernel


@dataclass(frozen=True)
class Booted:
    seconds: float  # from just before the start was spawned until systemd answered
    state: str
    hostname: str
    machine_id: str
    failed_units: tuple[str, ...]


@dataclass
class LifecycleBench(DebianBench):
    release: str = "trixie"
    python: str = ""  # lxpy's interpreter
    archives: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    # names
    def source(self, kind: Kind) -> str:
        return self.dname(kind, self.release, 0)

    def clone_name(self, kind: Kind, index: int) -> str:
        return f"{self.prefix}-{'p' if kind == 'lxpy' else 'c'}cl{index:02d}"

    def import_name(self, index: int) -> str:
        return f"{self.prefix}-pimp{index:02d}"

    def archive(self, index: int, suffix: str = ".tar.zst") -> str:
        return f"{self.workdir}/export-{index:02d}{suffix}"

    @property
    def containers_dir(self) -> str:
        return f"{self.lxpy_root}/lib/containers"

    def where(self, kind: Kind) -> str:
        """The directory holding every container of `kind`."""
        return self.containers_dir if kind == "lxpy" else self.lxcpath

    # measuring
    def du(self, path: str, apparent: bool = False) -> int:
        """Bytes used below `path` (`du -sx`: blocks, or with `apparent` the sizes, -b)."""
        flag = "-b" if apparent else "--block-size=1"
        out = execute(["du", "-sx", flag, path], timeout=300).stdout
        return int(out.split()[0])

    def clone(self, kind: Kind, index: int) -> Result:
        source, target = self.source(kind), self.clone_name(kind, index)
        if kind == "lxpy":
            return self.lxpy("clone", "--snapshot", source, target)
        self.lxc_names.append(target)  # before it exists: a half-made one is cleaned up too
        return self.lxc("lxc-copy", "-n", source, "-N", target, "-s", "-B", "overlay")

    def transfer(self, *args: str) -> Transfer:
        """`lxpy export ...` or `lxpy import ...`, its line on stderr parsed."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = self.lxpy(*args, timeout=IO_TIMEOUT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        found = TRANSFER.search(result.stderr)
        if found is None:
            raise BenchError(f"no transfer line from lxpy {args[0]}: {result.stderr.strip()}")
        amount = float(found["amount"]) * UNITS[found["unit"]]
        return Transfer(
            int(found["files"]),
            round(amount),
            float(found["seconds"]),
            float(found["rate"]),
            result.seconds,
            after.ru_utime - before.ru_utime,
            after.ru_stime - before.ru_stime,
        )

    def attach_long(self, kind: Kind, name: str, *cmd: str) -> Result:
        if kind == "lxpy":
            return self.lxpy("attach", name, "--", *cmd, check=False, timeout=BOOT_TIMEOUT)
        args = ("lxc-attach", "-n", name, "--", *cmd)
        return self.lxc(*args, check=False, timeout=BOOT_TIMEOUT)

    def boot_check(self, kind: Kind, name: str) -> Booted:
        """Start `name`, then `systemctl is-system-running --wait` inside until it answers
        (it fails while the guest's D-Bus is not up: `lxc-start` returns before that, `lxpy
        start` only on systemd's READY=1); its hostname, machine-id and failed units. The
        container is left running."""
        os.sync()  # untimed: the boot does not pay for earlier writeback
        begin = time.perf_counter()
        self.start(kind, name)
        state = self.wait_booted(kind, name, begin)
        seconds = time.perf_counter() - begin
        ids = self.attach_long(kind, name, "cat", "/proc/sys/kernel/hostname", "/etc/machine-id")
        ident = [*ids.stdout.split(), "?", "?"]
        units = tuple(self.failed_units(kind, name))
        return Booted(seconds, state, ident[0], ident[1], units)

    def wait_booted(self, kind: Kind, name: str, begin: float) -> str:
        """What systemd says (running, degraded, ...) once it has booted the container
        started at `begin` (perf_counter); retried while it cannot answer yet."""
        while True:
            result = self.attach_long(kind, name, "systemctl", "is-system-running", "--wait")
            state = result.stdout.strip()
            if state in SETTLED:
                return state
            if time.perf_counter() - begin > BOOT_TIMEOUT:
                said = state or result.stderr.strip()[-300:]
                raise BenchError(f"{kind} {name}: not booted after {BOOT_TIMEOUT:g}s: {said}")
            time.sleep(POLL_SLEEP)

    def origin_machine_id(self, kind: Kind) -> str:
        """The stopped source's /etc/machine-id. LXC: read from its rootfs directory. lxpy's
        rootfs is an overlay that is mounted only while it runs; the debian template writes
        the container's uuid there (and a clone's identity rewrite replaces it only when it
        still says that), so the config's uuid is read instead."""
        if kind == "lxc":
            path = f"{self.lxcpath}/{self.source(kind)}/rootfs/etc/machine-id"
            if os.path.islink(path):
                return "(a symlink)"
            with open(path) as f:
                return f.read().strip()
        info = json.loads(self.lxpy("info", self.source(kind), "--format", "json").stdout)
        return str(info["config"]["uuid"])


def filesystem(path: str) -> str:
    """The filesystem `path` is on, e.g. "ext4 (/dev/vda, no journal)": the mount with the
    longest mount point above it (the last such: a later mount on the same point hides the
    earlier) and, for ext4, /sys/fs/ext4/DEV/journal_task."""
    above = [
        m
        for m in psutil.disk_partitions(all=True)
        if path == m.mountpoint or path.startswith(m.mountpoint.rstrip("/") + "/")
    ]
    mount = max(reversed(above), key=lambda m: len(m.mountpoint), default=None)
    kind, source = (mount.fstype, mount.device) if mount else ("?", "?")
    if kind != "ext4":
        return f"{kind} ({source})"
    try:
        with open(f"/sys/fs/ext4/{os.path.basename(source)}/journal_task") as f:
            journal = "no journal" if f.read().strip() == "<none>" else "journal"
    except OSError:
        journal = "journal unknown"
    return f"{kind} ({source}, {journal})"


# -- measurements ------------------------------------------------------------------------------
def sources(bench: LifecycleBench, add: Callable[[Metric], Metric]) -> None:
    """The two Debian sources (lxpy from a cold image cache, LXC from its cache if warm)."""
    made = add(Metric("create_source", f"create the {bench.release} source", "s", "recorded"))
    log(f"source: lxpy create -t debian -r {bench.release} (fresh --root: cold image cache)")
    made.lxpy.append(bench.make("lxpy", bench.release, 0))
    cached = bench.lxc_cache_rootfs(bench.release)
    log(f"source: lxc-create -t debian ({'warm: ' + cached[0] if cached else 'cold'} cache)")
    made.lxc.append(bench.make("lxc", bench.release, 0))
    made.label += " (LXC cache warm)" if cached else " (both caches cold)"
    bench.lxc_loopback_only(bench.source("lxc"))  # before any clone: the clones inherit it
    with open(f"{bench.lxcpath}/{bench.source('lxc')}/config") as f:
        rootfs = [line for line in f if line.startswith("lxc.rootfs.path")]
    if not rootfs or not rootfs[0].split("=", 1)[1].strip().startswith(("dir:", "/")):
        raise BenchError(f"LXC's source is not on a directory backing store: {rootfs}")


def snapshot_clones(bench: LifecycleBench, runs: int, add: Callable[[Metric], Metric]) -> None:
    clone = add(Metric("clone", "snapshot clone", "ms", "lxpy <= 1x LXC", "ratio", 1.0))
    inproc = add(Metric("clone_inproc", "  of which in-process (lxpy's own line)", "ms"))
    floor = add(Metric("python", "  lxpy's interpreter alone (python -c pass)", "ms"))
    disk = add(
        Metric("clone_disk", "  disk added per clone (du)", "KiB", "informative (tests: <= 10 MB)")
    )
    index: dict[Kind, int] = {"lxpy": 0, "lxc": 0}

    def step(kind: Kind) -> float:
        i = index[kind]
        index[kind] += 1
        os.sync()  # untimed (see bench/debian.py): no clone pays for earlier writeback
        before = bench.du(bench.where(kind))
        result = bench.clone(kind, i)
        os.sync()
        added = bench.du(bench.where(kind)) - before
        if i == 0:  # run.interleaved's warm-up: not a sample
            return result.seconds
        (disk.lxpy if kind == "lxpy" else disk.lxc).append(added / 1024)
        if kind == "lxpy":
            python = execute([bench.python, "-c", "pass"], env=bench.lxpy_env)
            floor.lxpy.append(python.seconds * MS)
            said = CLONED.search(result.stderr)
            if said is None:
                raise BenchError(f"no `snapshot clone` line from lxpy: {result.stderr.strip()}")
            inproc.lxpy.append(float(said[3]) * MS)
        if i == 1:
            check_clone(bench, kind, i)
        return result.seconds

    log(f"snapshot clone: one warm-up, then {runs} timed runs each")
    interleaved(runs, step, clone)
    layers = f"{bench.containers_dir}/{bench.source('lxpy')}/layers"
    sizes = sorted(bench.du(f"{layers}/{layer}", apparent=True) for layer in os.listdir(layers))
    empty = sum(1 for size in sizes if size <= 4096)  # du -sb of an empty directory
    bench.checks["lxpy_source_layers"] = sizes
    bench.note(
        f"lxpy: after {runs + 1} snapshot clones its source stands on {len(sizes)} layers "
        f"(one frozen per clone; {empty} of them empty directories), each clone on those "
        "made up to its own"
    )


def check_clone(bench: LifecycleBench, kind: Kind, index: int) -> None:
    """The clone is one of the kind asked for: overlay on its origin."""
    name = bench.clone_name(kind, index)
    if kind == "lxpy":
        info = json.loads(bench.lxpy("info", name, "--format", "json").stdout)
        storage = info["config"]["storage"]
        stands = [ref.partition("/")[0] for ref in storage.get("layers", [])]
        if storage["kind"] != "overlay" or bench.source(kind) not in stands:
            raise BenchError(f"lxpy {name} does not stand on its origin's layers: {storage}")
        bench.checks["lxpy_clone_storage"] = storage
        return
    with open(f"{bench.lxcpath}/{name}/config") as f:
        rootfs = [line.strip() for line in f if line.startswith("lxc.rootfs.path")]
    if not rootfs or "= overlay:" not in rootfs[0]:
        raise BenchError(f"LXC {name} is not an overlay snapshot: {rootfs}")
    bench.checks["lxc_clone_rootfs"] = rootfs[0]


def boot_clones(bench: LifecycleBench, add: Callable[[Metric], Metric]) -> None:
    boot = Verdict(
        "clone_boot", "a clone: start until booted (once)", "s", "boots (running/degraded)"
    )
    add(boot)
    verdicts = []
    for kind in KINDS:
        name = bench.clone_name(kind, 1)
        log(f"boot check: {kind} clone {name}")
        booted = bench.boot_check(kind, name)
        (boot.lxpy if kind == "lxpy" else boot.lxc).append(booted.seconds)
        origin = bench.origin_machine_id(kind)
        bench.checks[f"clone_boot_{kind}"] = {
            **vars(booted),
            "failed_units": list(booted.failed_units),
            "origin_machine_id": origin,
        }
        new_id = "a new machine-id" if booted.machine_id != origin else "its origin's machine-id"
        bench.note(
            f"{kind} clone booted {booted.state} in {booted.seconds:.2f}s, hostname "
            f"{booted.hostname}{'' if booted.hostname == name else ' (not its name)'}, "
            f"{new_id}"
            + (f", failed: {', '.join(booted.failed_units)}" if booted.state != "running" else "")
        )
        verdicts.append(booted.state in BOOTED and booted.hostname == name)
        bench.clean_stop(kind, name)
    boot.verdict = all(verdicts)


@dataclass
class IoMetrics:
    wall: Metric
    line_rate: Metric
    du_rate: Metric
    user: Metric
    system: Metric


def export_import(bench: LifecycleBench, runs: int, add: Callable[[Metric], Metric]) -> None:
    source = bench.source("lxpy")

    def trio(key: str, label: str) -> IoMetrics:
        return IoMetrics(
            add(Metric(key, label, "s", "MB/s printed")),
            add(Metric(f"{key}_rate_lxpy", "  MB/s, lxpy's own line", "MB/s")),
            add(Metric(f"{key}_rate_du", "  MB/s, rootfs du -sb / wall time", "MB/s")),
            add(Metric(f"{key}_user", "  CPU time in user mode (lxpy + zstd)", "s")),
            add(Metric(f"{key}_sys", "  CPU time in the kernel (lxpy + zstd)", "s")),
        )

    export = trio("export", "export .tar.zst, stopped")
    size = add(Metric("archive", "  archive .tar.zst", "MB"))
    ratio = add(Metric("ratio", "  compression (rootfs du -sb / archive)", "x"))
    imported = trio("import", "import .tar.zst, new name")
    settle = add(Metric("import_sync", "  sync right after import (untimed)", "s"))

    bench.note(f"work dir on {filesystem(os.path.realpath(bench.workdir))}")
    log("export/import: warm-up (untimed); its import is measured with du and booted later")
    os.sync()
    bench.transfer("export", source, bench.archive(0))
    bench.archives.append(bench.archive(0))
    os.sync()
    first = bench.transfer("import", bench.archive(0), bench.import_name(0))
    os.sync()
    tree = f"{bench.containers_dir}/{bench.import_name(0)}/rootfs"
    rootfs, blocks = bench.du(tree, apparent=True), bench.du(tree)
    bench.checks.update(rootfs_du_sb=rootfs, rootfs_du_blocks=blocks, files=first.files)
    bench.note(
        f"rootfs of the exported container (the import's tree): {rootfs / MB:.1f} MB "
        f"(du -sb), {blocks / MB:.1f} MB on disk (du -s); lxpy counted {first.files} files, "
        f"{first.bytes / MB:.1f} MB of file data"
    )
    os.unlink(bench.archive(0))

    def account(into: IoMetrics, done: Transfer) -> None:
        into.wall.lxpy.append(done.wall)
        into.line_rate.lxpy.append(done.rate)
        into.du_rate.lxpy.append(rootfs / done.wall / MB)
        into.user.lxpy.append(done.user)
        into.system.lxpy.append(done.system)

    log(f"export/import: {runs} timed runs")
    for i in range(1, runs + 1):
        archive = bench.archive(i)
        bench.archives.append(archive)
        os.sync()
        account(export, bench.transfer("export", source, archive))
        os.sync()
        length = os.path.getsize(archive)
        size.lxpy.append(length / MB)
        ratio.lxpy.append(rootfs / length)
        account(imported, bench.transfer("import", archive, bench.import_name(i)))
        began = time.perf_counter()
        os.sync()
        settle.lxpy.append(time.perf_counter() - began)
        os.unlink(archive)
    # Destroyed only now: on an ext4 without a journal (this VM's root) every inode created
    # within a minute or so of a big delete is slowed down (see README), and no import
    # should pay for the bench's own destroy of the one before.
    bench.lxpy("destroy", *(bench.import_name(i) for i in range(1, runs + 1)))

    gz = trio("export_gz", "export .tar.gz (once)")
    gz.wall.target = "informative"
    gz_size = add(Metric("archive_gz", "  archive .tar.gz", "MB"))
    gz_ratio = add(Metric("ratio_gz", "  compression (rootfs du -sb / archive)", "x"))
    log("export to .tar.gz, once")
    archive = bench.archive(runs + 1, ".tar.gz")
    bench.archives.append(archive)
    os.sync()
    account(gz, bench.transfer("export", source, archive))
    gz_size.lxpy.append(os.path.getsize(archive) / MB)
    gz_ratio.lxpy.append(rootfs / os.path.getsize(archive))
    os.unlink(archive)

    boot = Verdict(
        "import_boot", "the import: start until booted (once)", "s", "boots (running/degraded)"
    )
    add(boot)
    name = bench.import_name(0)
    log(f"boot check: the imported container {name}")
    booted = bench.boot_check("lxpy", name)
    boot.lxpy.append(booted.seconds)
    boot.verdict = booted.state in BOOTED
    bench.checks["import_boot"] = {**vars(booted), "failed_units": list(booted.failed_units)}
    same = booted.machine_id == bench.origin_machine_id("lxpy")
    bench.note(
        f"the import booted {booted.state} in {booted.seconds:.2f}s; hostname "
        f"{booted.hostname}, {'the exported container' + chr(39) + 's' if same else 'a new'} "
        "machine-id (an import restores the machine, a clone makes a new one)"
    )
    bench.clean_stop("lxpy", name)


def measure(bench: LifecycleBench, runs: int, io_runs: int, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    sources(bench, add)
    snapshot_clones(bench, runs, add)
    boot_clones(bench, add)
    bench.note("LXC has no export/import: those rows are lxpy only")
    export_import(bench, io_runs, add)


# -- cleanup -----------------------------------------------------------------------------------
def teardown(bench: LifecycleBench) -> list[str]:
    """Before run.cleanup: stop everything, destroy the clones before their origins (lxpy
    refuses an origin with clones on it; lxc-destroy too), delete the archives."""
    problems: list[str] = []
    if os.path.isdir(bench.containers_dir):
        names = sorted(n for n in os.listdir(bench.containers_dir) if not n.startswith("."))
        origin = bench.source("lxpy")
        try:
            listed = json.loads(bench.lxpy("ls", "--format", "json").stdout)
            up = [c["name"] for c in listed if c["state"] != "STOPPED"]
            if up:
                bench.lxpy("stop", "-k", *up, check=False, timeout=300)
            for group in ([n for n in names if n != origin], [n for n in names if n == origin]):
                if group:
                    result = bench.lxpy("destroy", *group, check=False, timeout=600)
                    if result.returncode != 0:
                        problems.append(f"lxpy destroy: {result.stderr.strip()}")
        except (BenchError, ValueError, KeyError) as e:
            problems.append(f"lxpy: {e}")
    origin = bench.source("lxc")
    for name in sorted(set(bench.lxc_names), key=lambda n: (n == origin, n)):
        if not os.path.isdir(f"{bench.lxcpath}/{name}"):
            continue
        try:
            bench.lxc("lxc-stop", "-k", "-n", name, check=False)
            result = bench.lxc("lxc-destroy", "-n", name, check=False)
            if result.returncode != 0:
                problems.append(f"lxc-destroy {name}: {result.stderr.strip()}")
            else:  # run.cleanup then only tries (and counts) what is left
                bench.lxc_names[:] = [n for n in bench.lxc_names if n != name]
        except BenchError as e:
            problems.append(f"lxc {name}: {e}")
    for path in bench.archives:
        for leftover in (path, f"{path}.partial"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    found = glob.glob(f"{bench.workdir}/*.tar*")
    problems += [f"left behind: archive {path}" for path in found]
    return problems


# -- main --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add(
        "--runs",
        type=at_least_five,
        default=7,
        help="timed snapshot clones of each (>= 5; default 7)",
    )
    add("--io-runs", type=int, default=3, help="timed exports and imports (>= 3; default 3)")
    add("--release", default="trixie", help="Debian release of the sources (default trixie)")
    common_options(p)
    args = p.parse_args(argv)
    if not 3 <= args.io_runs <= 20:
        p.error("--io-runs: 3 to 20")
    if args.runs > 40:
        p.error("--runs: at most 40 (every clone stacks one more layer on the lxpy source)")
    if not args.release.isalpha() or not args.release.islower():
        p.error("--release: a Debian code name")
    return args


def prepare(args: argparse.Namespace) -> LifecycleBench:
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    debian_preflight(cmd)
    for tool in ("du", "zstd"):
        execute(["sh", "-c", f"command -v {tool}"], timeout=10)
    bench = LifecycleBench.in_new_workdir(cmd, args)
    bench.release = args.release
    bench.python = interpreter(cmd)
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1

    def work(metrics: list[Metric]) -> None:
        bench.make_roots()
        measure(bench, args.runs, args.io_runs, metrics)

    session = conduct(work, lambda: [*teardown(bench), *cleanup(bench)])
    what = f", Debian {args.release}: median of {args.runs} clones, {args.io_runs} exports/imports"
    extra: dict[str, Any] = dict(release=args.release, runs=args.runs, io_runs=args.io_runs)
    extra.update(checks=bench.checks)
    clean = "containers, archives, mounts, cgroups, processes"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
