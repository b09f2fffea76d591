#!/usr/bin/env python3
"""Side-by-side benchmark of btrfs storage: lxpy's btrfs pool vs LXC's btrfs backing store.

One Debian container of each kind on btrfs: lxpy's in a loop-backed pool it makes itself
(`lxpy storage create POOL --size 4G`, `lxpy create --storage POOL`), LXC's with
`lxc-create -B btrfs` in a private lxcpath that is a btrfs on a loop file the bench makes
(quotas on, as lxpy's pool has them). In one run:

* snapshot of a running container right after `dd` wrote --write-mib MiB of random data into
  /root inside it (dirty in the page cache): `lxpy snapshot NAME SNAP` (its "was frozen for"
  line read too) against what LXC users must do, since `lxc-snapshot` refuses a running (and
  a frozen) container: `lxc-freeze` + `lxc-copy -s --allowrunning` + `lxc-unfreeze`, and
  `lxc-stop` + `lxc-snapshot` + `lxc-start`. The three take turns; each snapshot must hold
  the whole file; the disk it added is its qgroup's exclusive bytes and the pool's used
  bytes with it minus without it (measured after it is dropped again).
* snapshot clone of the stopped containers: `lxpy clone --snapshot` vs `lxc-copy -s -B
  btrfs`, with lxpy's own in-process line, its interpreter's bare start-up and the clone's
  qgroup exclusive bytes.
* create from cache: `lxpy create --storage POOL` vs `lxpy create` (overlay, the built-in
  pool), both `--network none`, and `lxc-create -B btrfs` from LXC's warm cache.

The harness (pidfd-timed commands), the isolation (private work dir, lxpy --root and LXC
lxcpath inside it, `lxpybench-<token>` names, LXC without network) and the cleanup with its
leak checks are those of bench/run.py, the Debian containers those of bench/debian.py and
the ordered teardown that of bench/lifecycle.py, imported from them. Before run.py's cleanup,
the pool is removed (`lxpy storage rm`) and LXC's filesystem unmounted; both loop devices
detach themselves at the unmount (autoclear), which the bench checks.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root, LXC with
/usr/share/lxc/templates/lxc-debian, debootstrap, mmdebstrap or debootstrap (for lxpy),
btrfs-progs and deb.debian.org.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from debian import preflight as debian_preflight
from lifecycle import CLONED, LifecycleBench, filesystem
from lifecycle import teardown as lifecycle_teardown
from resources import interpreter
from run import (
    KINDS,
    MIB,
    MS,
    BenchError,
    Kind,
    Metric,
    Result,
    Verdict,
    cleanup,
    common_options,
    conduct,
    default_lxpy,
    execute,
    interleaved,
    log,
    opened,
    report,
    version,
)

KIB = 1024.0
POOL = "bench"
CHANGES = "/root/lxpybench.bin"  # in the container: on its rootfs, not a tmpfs (checked)
WRITE_TIMEOUT = 300.0
# lxpy's line on stderr when it held a running container still: "NAME was frozen for N ms"
FROZEN = re.compile(r"^(\S+) was frozen for (\d+) ms$", re.M)
LOOP_DETACH_WAIT = 2.0  # an autoclear loop device goes at the unmount; allow it a moment
# How a running container is snapshotted: lxpy's command, and LXC's two ways around
# lxc-snapshot's refusal of a running container.
Way = Literal["lxpy", "lxc-freeze", "lxc-stop"]
WAYS: tuple[Way, ...] = ("lxpy", "lxc-freeze", "lxc-stop")
# Names of the create-from-cache containers: dname indexes apart from the sources' (0, 1).
BTRFS_BASE, OVERLAY_BASE = 20, 50
MAX_RUNS = 25


@dataclass(frozen=True)
class Taken:
    """One snapshot of the running container: its wall time and what it cost."""

    seconds: float  # the command(s), as a user runs them
    held: float  # the container frozen (lxpy's own line) or frozen/down (LXC's commands)
    snapshot: float  # the snapshot command alone (LXC's lxc-copy or lxc-snapshot)
    freeze: float  # lxc-freeze alone (LXC's freeze way)
    exclusive: int  # bytes only the snapshot holds (its qgroup), after a sync
    added: int  # the pool's used bytes with the snapshot minus without it


@dataclass
class StorageBench(LifecycleBench):
    pool_gib: int = 4
    lxc_gib: int = 10
    write_mib: int = 500
    pool_dir: str = ""  # where lxpy's pool is mounted, once made
    lxc_mounted: bool = False

    @property
    def pool_image(self) -> str:
        return f"{self.lxpy_root}/lib/pools/{POOL}.img"  # lxpy's loop file (lxpy.storage.pools)

    @property
    def lxc_image(self) -> str:
        return f"{self.workdir}/lxc-btrfs.img"

    def mount(self, kind: Kind) -> str:
        return self.pool_dir if kind == "lxpy" else self.lxcpath

    # the two btrfs filesystems
    def make_filesystems(self) -> None:
        log(f"lxpy storage create {POOL} --size {self.pool_gib}G")
        made = self.lxpy("storage", "create", POOL, "--size", f"{self.pool_gib}G")
        self.pool_dir = made.stdout.split()[1]
        log(f"LXC: a btrfs of {self.lxc_gib} GiB on a sparse loop file, mounted as the lxcpath")
        with open(self.lxc_image, "xb") as f:
            f.truncate(self.lxc_gib << 30)
        execute(["mkfs.btrfs", "-q", self.lxc_image])
        # util-linux sets the loop device to autoclear, as lxpy does for its pool's.
        execute(["mount", "-o", "loop", self.lxc_image, self.lxcpath])
        self.lxc_mounted = True
        os.chmod(self.lxcpath, 0o700)
        execute(["btrfs", "quota", "enable", self.lxcpath])  # empty: consistent from the start

    def free_filesystems(self) -> list[str]:
        """Remove lxpy's pool and unmount LXC's filesystem (every container gone first);
        whatever is left of either, or a loop device still on a file of ours."""
        problems: list[str] = []
        if self.pool_dir and os.path.exists(f"{self.lxpy_root}/lib/pools/{POOL}.toml"):
            removed = self.lxpy("storage", "rm", POOL, check=False)
            if removed.returncode != 0:
                problems.append(f"lxpy storage rm {POOL}: {removed.stderr.strip()}")
        if self.lxc_mounted and os.path.ismount(self.lxcpath):
            unmounted = execute(["umount", self.lxcpath], check=False)
            if unmounted.returncode != 0:
                problems.append(f"umount {self.lxcpath}: {unmounted.stderr.strip()}")
        for image in (self.pool_image, self.lxc_image):
            deadline = time.monotonic() + LOOP_DETACH_WAIT
            while (attached := loops_on(image)) and time.monotonic() < deadline:
                time.sleep(0.1)
            problems += [f"left behind: loop device {line}" for line in attached]
        return problems

    # measuring
    def exclusive(self, kind: Kind, subvolume: str) -> int:
        """Bytes only `subvolume` holds: its qgroup's exclusive count (up to date after a
        sync: btrfs accounts at each transaction commit)."""
        for attempt in range(2):
            shown = execute(["btrfs", "qgroup", "show", "--raw", "-f", subvolume])
            if "inconsistent" not in shown.stderr:
                for line in shown.stdout.splitlines():
                    fields = line.split()
                    if fields and fields[0].startswith("0/"):
                        return int(fields[2])
                raise BenchError(f"no qgroup for {subvolume}: {shown.stdout.strip()}")
            if attempt == 0:
                self.note(f"{kind}: qgroups inconsistent after a drop: rescanned (untimed)")
                execute(["btrfs", "quota", "rescan", "-w", self.mount(kind)], timeout=600)
        raise BenchError(f"{kind}: qgroups still inconsistent after a rescan")

    def used(self, kind: Kind) -> int:
        st = os.statvfs(self.mount(kind))
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def settle(self, kind: Kind) -> None:
        """Wait until btrfs has really freed dropped subvolumes, then commit."""
        # The filesystem sync wakes btrfs's cleaner; `subvolume sync` alone waits for its
        # next periodic run (up to the 30 s commit interval).
        execute(["btrfs", "filesystem", "sync", self.mount(kind)], timeout=600)
        execute(["btrfs", "subvolume", "sync", self.mount(kind)], timeout=600)
        os.sync()

    def write_changes(self, kind: Kind, name: str) -> None:
        """--write-mib MiB of random data into the container, left dirty in the page cache."""
        count = f"count={self.write_mib}"
        cmd = ("dd", "if=/dev/urandom", f"of={CHANGES}", "bs=1M", count, "status=none")
        if kind == "lxpy":
            result = self.lxpy("attach", name, "--", *cmd, check=False, timeout=WRITE_TIMEOUT)
        else:
            args = ("lxc-attach", "-n", name, "--", *cmd)
            result = self.lxc(*args, check=False, timeout=WRITE_TIMEOUT)
        if result.returncode != 0:
            raise BenchError(f"{kind} {name}: dd failed: {result.stderr.strip()[-500:]}")

    def holds_changes(self, subvolume: str) -> None:
        """The snapshot has the whole file the container had just written."""
        root = f"{subvolume}/root"
        if os.path.islink(root):
            raise BenchError(f"{root} is a symlink: not looking through it")
        st = os.lstat(f"{subvolume}{CHANGES}")
        if not stat.S_ISREG(st.st_mode) or st.st_size != self.write_mib * MIB:
            raise BenchError(f"{subvolume}{CHANGES}: {st.st_size} bytes, not {self.write_mib} MiB")

    def clone(self, kind: Kind, index: int) -> Result:
        """A snapshot clone of the stopped source: a btrfs snapshot either way."""
        source, target = self.source(kind), self.clone_name(kind, index)
        if kind == "lxpy":
            return self.lxpy("clone", "--snapshot", source, target)
        self.lxc_names.append(target)  # before it exists: a half-made one is cleaned up too
        return self.lxc("lxc-copy", "-n", source, "-N", target, "-s", "-B", "btrfs")

    def bare_snapshot(self, kind: Kind) -> float:
        """The snapshot ioctl alone on the same source and filesystem as the clone, made by
        btrfs-progs (a C program: ~2 ms of its own); the snapshot is dropped again."""
        bare = f"{self.mount(kind)}/lxpybench-bare"
        os.sync()
        made = execute(
            ["btrfs", "subvolume", "snapshot", self.rootfs(kind, self.source(kind)), bare]
        )
        execute(["btrfs", "subvolume", "delete", bare])
        self.settle(kind)
        return made.seconds

    def rootfs(self, kind: Kind, name: str) -> str:
        if kind == "lxpy":
            return f"{self.pool_dir}/containers/{name}/rootfs"
        return f"{self.lxcpath}/{name}/rootfs"

    def storage_of(self, name: str) -> dict[str, Any]:
        info = json.loads(self.lxpy("info", name, "--format", "json").stdout)
        return dict(info["config"]["storage"])


def loops_on(image: str) -> list[str]:
    """The loop devices set up on `image` (`losetup -j`)."""
    if not os.path.exists(image):
        return []
    return execute(["losetup", "-j", image]).stdout.splitlines()


# -- measurements ------------------------------------------------------------------------------
def sources(bench: StorageBench, add: Callable[[Metric], Metric]) -> None:
    """The image cached (an overlay container), then the two btrfs sources."""
    release = bench.release
    cold = add(Metric("first_create", "first create, lxpy overlay (cold image)", "s", "recorded"))
    log(f"lxpy create -t debian -r {release} (fresh --root: cold image cache)")
    cold.lxpy.append(bench.make("lxpy", release, 1))
    first = add(
        Metric("pool_create", "first create on btrfs (pool: image copied in)", "s", "recorded")
    )
    log(f"lxpy create --storage {POOL}: the image is copied into the pool")
    first.lxpy.append(bench.make("lxpy", release, 0, storage=POOL))
    cached = bench.lxc_cache_rootfs(release)
    log(f"lxc-create -B btrfs -t debian ({'warm: ' + cached[0] if cached else 'cold'} cache)")
    first.lxc.append(bench.make("lxc", release, 0, storage="btrfs"))
    first.label += ", LXC cache warm" if cached else ", LXC cache cold"
    storage = bench.storage_of(bench.source("lxpy"))
    if storage.get("kind") != "btrfs" or storage.get("pool") != POOL:
        raise BenchError(f"lxpy's source is not in the pool: {storage}")
    with open(f"{bench.lxcpath}/{bench.source('lxc')}/config") as f:
        rootfs = [line.strip() for line in f if line.startswith("lxc.rootfs.path")]
    if not rootfs or "= btrfs:" not in rootfs[0]:
        raise BenchError(f"LXC's source is not on btrfs: {rootfs}")
    bench.checks.update(lxpy_source_storage=storage, lxc_source_rootfs=rootfs[0])
    bench.lxc_loopback_only(bench.source("lxc"))  # see bench/debian.py


def lxc_refusals(bench: StorageBench) -> None:
    """What `lxc-snapshot` says to the running container, and to it frozen."""
    name = bench.source("lxc")
    said = {}
    for state in ("running", "frozen"):
        log_file = f"{bench.workdir}/lxc-snapshot-{state}.log"  # LXC's tools say why only there
        if state == "frozen":
            bench.lxc("lxc-freeze", "-n", name)
        try:
            args = ("lxc-snapshot", "-n", name, "-o", log_file, "-l", "ERROR")
            tried = bench.lxc(*args, check=False)
        finally:
            if state == "frozen":
                bench.lxc("lxc-unfreeze", "-n", name)
        with open(log_file, errors="replace") as f:
            lines = [line.partition(" - ")[2].strip() for line in f if " ERROR " in line]
        said[state] = f"exit {tried.returncode}: {lines[0] if lines else tried.stderr.strip()}"
        if tried.returncode == 0:
            raise BenchError(f"lxc-snapshot took a snapshot of the {state} container")
    bench.checks["lxc_snapshot_refusals"] = said
    bench.note(f"lxc-snapshot of the running container: {said['running']}")
    bench.note(f"lxc-snapshot of it frozen: {said['frozen']}")


def snapshot_once(bench: StorageBench, way: Way, index: int) -> Taken:
    """`dd` into the running container, then at once a snapshot the given `way`; its disk
    figures once it is synced, then it is dropped again (untimed)."""
    kind: Kind = "lxpy" if way == "lxpy" else "lxc"
    name = bench.source(kind)
    os.sync()  # untimed: only this run's changes are dirty
    bench.write_changes(kind, name)
    drop: Callable[[], Result]
    if way == "lxpy":
        snap = f"s{index:02d}"
        result = bench.lxpy("snapshot", name, snap)
        said = FROZEN.search(result.stderr)
        if said is None or said[1] != name:
            raise BenchError(f"no `was frozen for` line from lxpy: {result.stderr.strip()}")
        seconds, held, alone, freeze = result.seconds, int(said[2]) / MS, result.seconds, 0.0
        subvolume = f"{bench.pool_dir}/containers/{name}/snapshots/{snap}"

        def drop() -> Result:
            return bench.lxpy("snapshot", "rm", name, snap)

    elif way == "lxc-freeze":
        copy = f"{bench.prefix}-csn{index:02d}"
        bench.lxc_names.append(copy)
        begin = time.perf_counter()
        freeze = bench.lxc("lxc-freeze", "-n", name).seconds
        try:
            alone = bench.lxc("lxc-copy", "-n", name, "-N", copy, "-s", "--allowrunning").seconds
        finally:
            bench.lxc("lxc-unfreeze", "-n", name)
        seconds = held = time.perf_counter() - begin
        subvolume = bench.rootfs("lxc", copy)

        def drop() -> Result:
            return bench.lxc("lxc-destroy", "-n", copy)

    else:
        snaps = f"{bench.lxcpath}/{name}/snaps"
        before = set(os.listdir(snaps)) if os.path.isdir(snaps) else set()
        begin = time.perf_counter()
        bench.clean_stop("lxc", name)
        alone, freeze = bench.lxc("lxc-snapshot", "-n", name).seconds, 0.0
        bench.start("lxc", name)
        seconds = held = time.perf_counter() - begin
        made = sorted(set(os.listdir(snaps)) - before)
        if len(made) != 1:
            raise BenchError(f"lxc-snapshot: expected one new snapshot in {snaps}, not {made}")
        subvolume = f"{snaps}/{made[0]}/rootfs"
        bench.wait_booted("lxc", name, time.perf_counter())  # untimed: before the next dd

        def drop() -> Result:
            return bench.lxc("lxc-snapshot", "-n", name, "-d", made[0])

    bench.holds_changes(subvolume)
    os.sync()
    exclusive = bench.exclusive(kind, subvolume)
    with_it = bench.used(kind)
    drop()
    bench.settle(kind)
    return Taken(seconds, held, alone, freeze, exclusive, with_it - bench.used(kind))


def running_snapshots(bench: StorageBench, runs: int, add: Callable[[Metric], Metric]) -> None:
    written = f"{bench.write_mib} MB"
    snap = add(
        Metric(
            "snapshot_running",
            f"snapshot, running, {written} just written (LXC: freeze+copy)",
            "s",
            "lxpy <= 1x LXC",
            "ratio",
            1.0,
        )
    )
    held = add(Metric("snapshot_held", "  held still (lxpy's line; LXC: freeze..unfreeze)", "s"))
    froze = add(Metric("snapshot_freeze", "  of which lxc-freeze", "s"))
    copied = add(Metric("snapshot_copy", "  of which lxc-copy -s --allowrunning", "s"))
    exclusive = add(Metric("snapshot_exclusive", "  disk: snapshot's own (qgroup excl.)", "KiB"))
    added = add(Metric("snapshot_added", "  disk: pool used with it - without", "MiB"))
    stop = add(
        Metric("snapshot_stop", "same lxpy vs LXC stop+lxc-snapshot+start", "s", "informative")
    )
    alone = add(Metric("snapshot_lxc_snapshot", "  of which lxc-snapshot", "s"))
    stop_exclusive = add(Metric("snapshot_stop_excl", "  disk: snapshot's own (qgroup)", "KiB"))
    stop_added = add(Metric("snapshot_stop_added", "  disk: pool used with it - without", "MiB"))

    log("boot both sources (untimed); /root must be on their btrfs rootfs")
    for kind in KINDS:
        booted = bench.boot_check(kind, bench.source(kind))
        where = bench.attach_long(kind, bench.source(kind), "stat", "-f", "-c", "%T", "/root")
        if booted.state not in ("running", "degraded") or where.stdout.strip() != "btrfs":
            raise BenchError(f"{kind}: booted {booted.state}, /root on {where.stdout.strip()}")
    lxc_refusals(bench)
    log(f"snapshot of the running containers: one warm-up, then {runs} runs of each way")
    for i in range(runs + 1):
        shift = i % len(WAYS)
        for way in WAYS[shift:] + WAYS[:shift]:
            taken = snapshot_once(bench, way, i)
            log(f"  {way}: {taken.seconds:.2f}s (held {taken.held:.2f}s)")
            if i == 0:
                continue  # the warm-up
            if way == "lxpy":
                for metric in (snap, stop):
                    metric.lxpy.append(taken.seconds)
                held.lxpy.append(taken.held)
                exclusive.lxpy.append(taken.exclusive / KIB)
                added.lxpy.append(taken.added / MIB)
            elif way == "lxc-freeze":
                snap.lxc.append(taken.seconds)
                held.lxc.append(taken.held)
                froze.lxc.append(taken.freeze)
                copied.lxc.append(taken.snapshot)
                exclusive.lxc.append(taken.exclusive / KIB)
                added.lxc.append(taken.added / MIB)
            else:
                stop.lxc.append(taken.seconds)
                alone.lxc.append(taken.snapshot)
                stop_exclusive.lxc.append(taken.exclusive / KIB)
                stop_added.lxc.append(taken.added / MIB)
    for kind in KINDS:
        bench.clean_stop(kind, bench.source(kind))


def snapshot_clones(bench: StorageBench, runs: int, add: Callable[[Metric], Metric]) -> None:
    clone = add(Metric("clone", "snapshot clone, stopped", "ms", "lxpy <= 1.5x LXC", "ratio", 1.5))
    inproc = add(Metric("clone_inproc", "  of which in-process (lxpy's own line)", "ms"))
    floor = add(Metric("python", "  lxpy's interpreter alone (python -c pass)", "ms"))
    raw = add(Metric("clone_raw", "  btrfs subvolume snapshot of the source", "ms"))
    disk = add(Metric("clone_exclusive", "  disk: the clone's own (qgroup excl.)", "KiB"))
    index: dict[Kind, int] = {"lxpy": 0, "lxc": 0}

    def step(kind: Kind) -> float:
        i = index[kind]
        index[kind] += 1
        os.sync()  # untimed (see bench/debian.py): no clone pays for earlier writeback
        result = bench.clone(kind, i)
        if i == 0:  # run.interleaved's warm-up: not a sample
            return result.seconds
        os.sync()
        name = bench.clone_name(kind, i)
        own = bench.exclusive(kind, bench.rootfs(kind, name)) / KIB
        (disk.lxpy if kind == "lxpy" else disk.lxc).append(own)
        if kind == "lxpy":
            python = execute([bench.python, "-c", "pass"], env=bench.lxpy_env)
            floor.lxpy.append(python.seconds * MS)
            said = CLONED.search(result.stderr)
            if said is None:
                raise BenchError(f"no `snapshot clone` line from lxpy: {result.stderr.strip()}")
            inproc.lxpy.append(float(said[3]) * MS)
        if i == 1:
            check_clone(bench, kind, name)
        (raw.lxpy if kind == "lxpy" else raw.lxc).append(bench.bare_snapshot(kind) * MS)
        return result.seconds

    log(f"snapshot clone of the stopped sources: one warm-up, then {runs} runs each")
    interleaved(runs, step, clone)
    for kind in KINDS:
        listed = execute(["btrfs", "subvolume", "list", bench.mount(kind)]).stdout
        bench.note(f"{kind}: {len(listed.splitlines())} subvolumes after the clones")


def check_clone(bench: StorageBench, kind: Kind, name: str) -> None:
    """The clone is a subvolume of its own in the same btrfs."""
    if kind == "lxpy":
        storage = bench.storage_of(name)
        if storage.get("kind") != "btrfs" or storage.get("pool") != POOL:
            raise BenchError(f"lxpy clone {name} is not in the pool: {storage}")
        bench.checks["lxpy_clone_storage"] = storage
    else:
        with open(f"{bench.lxcpath}/{name}/config") as f:
            rootfs = [line.strip() for line in f if line.startswith("lxc.rootfs.path")]
        if not rootfs or "= btrfs:" not in rootfs[0]:
            raise BenchError(f"LXC clone {name} is not a btrfs snapshot: {rootfs}")
        bench.checks["lxc_clone_rootfs"] = rootfs[0]
    if os.lstat(bench.rootfs(kind, name)).st_ino != 256:  # a subvolume's top directory
        raise BenchError(f"{kind} clone {name}: its rootfs is not a subvolume")


def cached_creates(bench: StorageBench, runs: int, add: Callable[[Metric], Metric]) -> None:
    on_btrfs = add(
        Metric("create_btrfs", "create from cache, btrfs (pool | -B btrfs)", "s", "informative")
    )
    overlay = add(Metric("create_overlay", "create from cache, lxpy overlay", "s"))
    versus = Verdict("create_ratio", "  lxpy btrfs / lxpy overlay", "x", "btrfs <= overlay")
    add(versus)
    release = bench.release
    variants = ("btrfs", "overlay", "lxc")

    def create(variant: str, i: int) -> float:
        os.sync()  # untimed, as before every create in bench/debian.py
        if variant == "btrfs":
            return bench.make("lxpy", release, BTRFS_BASE + i, storage=POOL)
        if variant == "overlay":
            return bench.make("lxpy", release, OVERLAY_BASE + i)
        return bench.make("lxc", release, BTRFS_BASE + i, storage="btrfs")

    log(f"create from cache: one warm-up, then {runs} runs of each (lxpy btrfs, overlay, LXC)")
    samples = {"btrfs": on_btrfs.lxpy, "overlay": overlay.lxpy, "lxc": on_btrfs.lxc}
    for i in range(runs + 1):
        shift = i % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            seconds = create(variant, i)
            if i > 0:  # 0: the warm-up
                samples[variant].append(seconds)
    kinds = {
        "btrfs": bench.storage_of(bench.dname("lxpy", release, BTRFS_BASE + 1))["kind"],
        "overlay": bench.storage_of(bench.dname("lxpy", release, OVERLAY_BASE + 1))["kind"],
    }
    if kinds != {"btrfs": "btrfs", "overlay": "overlay"}:
        raise BenchError(f"the creates are not on the storage asked for: {kinds}")
    a, b = on_btrfs.lxpy_median, overlay.lxpy_median
    if a is not None and b:
        versus.lxpy.append(a / b)
        versus.verdict = a <= b


def measure(bench: StorageBench, runs: int, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    bench.note(f"work dir on {filesystem(os.path.realpath(bench.workdir))}")
    bench.make_filesystems()
    sources(bench, add)
    running_snapshots(bench, runs, add)
    snapshot_clones(bench, runs, add)
    cached_creates(bench, runs, add)


# -- cleanup -----------------------------------------------------------------------------------
def teardown(bench: StorageBench) -> list[str]:
    """Before run.cleanup: LXC's snapshots of its source (lxc-destroy refuses a container
    that has some), then every container as bench/lifecycle.py tears them down (clones
    before their origins), then the pool and LXC's filesystem."""
    problems: list[str] = []
    snaps = f"{bench.lxcpath}/{bench.source('lxc')}/snaps"
    if os.path.isdir(snaps) and os.listdir(snaps):
        try:
            dropped = bench.lxc("lxc-snapshot", "-n", bench.source("lxc"), "-d", "ALL", check=False)
            if dropped.returncode != 0:
                problems.append(f"lxc-snapshot -d ALL: {dropped.stderr.strip()}")
        except BenchError as e:
            problems.append(f"lxc-snapshot -d ALL: {e}")
    problems += lifecycle_teardown(bench)
    try:
        problems += bench.free_filesystems()
    except BenchError as e:
        problems.append(str(e))
    return problems


# -- main --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add("--runs", type=int, default=5, help=f"timed runs of each figure (3 to {MAX_RUNS}; 5)")
    add("--write-mib", type=int, default=500, help="MiB written before each snapshot (500)")
    add("--release", default="trixie", help="Debian release of the containers (trixie)")
    add("--pool-gib", type=int, default=4, help="lxpy's pool, a sparse loop file (4 GiB)")
    add("--lxc-gib", type=int, default=10, help="LXC's btrfs, a sparse loop file (10 GiB)")
    common_options(p)
    args = p.parse_args(argv)
    if not 3 <= args.runs <= MAX_RUNS:
        p.error(f"--runs: 3 to {MAX_RUNS}")
    if not 1 <= args.write_mib <= 1024:
        p.error("--write-mib: 1 to 1024")
    if not args.release.isalpha() or not args.release.islower():
        p.error("--release: a Debian code name")
    # Either side holds the container's changes and one snapshot's at a time; LXC also a
    # whole rootfs (~300 MB) per create, lxpy only what each create changed.
    changes = 2 * args.write_mib / 1024
    if args.pool_gib < 1 + changes:
        p.error(f"--pool-gib: at least {1 + changes:.1f} for --write-mib {args.write_mib}")
    if args.lxc_gib < 1 + changes + 0.35 * (args.runs + 1):
        need = 1 + changes + 0.35 * (args.runs + 1)
        p.error(f"--lxc-gib: at least {need:.1f} for --write-mib and --runs")
    return args


def prepare(args: argparse.Namespace) -> StorageBench:
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    debian_preflight(cmd)
    tools = ("mkfs.btrfs", "btrfs", "losetup", "mount", "umount", "lxc-snapshot", "lxc-freeze")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"missing: {', '.join(missing)} (apt-get install btrfs-progs)")
    bench = StorageBench.in_new_workdir(cmd, args)
    bench.release, bench.python = args.release, interpreter(cmd)
    bench.pool_gib, bench.lxc_gib, bench.write_mib = args.pool_gib, args.lxc_gib, args.write_mib
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1

    def work(metrics: list[Metric]) -> None:
        bench.make_roots()
        measure(bench, args.runs, metrics)

    session = conduct(work, lambda: [*teardown(bench), *cleanup(bench)])
    what = f", Debian {args.release} on btrfs: median of {args.runs} runs"
    extra: dict[str, Any] = dict(release=args.release, runs=args.runs, write_mib=args.write_mib)
    extra.update(checks=bench.checks, btrfs_progs=version(["btrfs", "--version"]))
    clean = "containers, pool, loop devices, mounts, cgroups, processes"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
