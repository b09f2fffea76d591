#!/usr/bin/env python3
"""Side-by-side benchmark of Debian system containers: lxpy vs LXC's debian template.

For each release (--releases, default trixie and bookworm), in one run:

* first create:      `lxpy create -t debian -r R` into a fresh --root (cold image cache;
                     download and bootstrap time read from the image's image.toml) and
                     `lxc-create -t debian -- -r R` (cold only if LXC's cache was)
* create from cache: the same commands again, with both caches warm
* boot:              from just before `start` is spawned until the first poll of
                     `attach -- systemctl is-system-running` that prints `running`; for
                     lxpy, whose `start` returns on systemd's READY=1, until `start`
                     returned when the poll right after it says `running`
* clean stop:        `lxpy stop` vs `lxc-stop` (both through the container's init, not -k)

lxpy and LXC take turns (the order alternates every run). The harness, the isolation (private
work dir, lxpy --root and LXC lxcpath inside it, `lxpybench-<token>` names, LXC without
network) and the cleanup with leak checks are those of bench/run.py, imported from it.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root, LXC with
/usr/share/lxc/templates/lxc-debian, debootstrap (for LXC), mmdebstrap or debootstrap (for
lxpy) and deb.debian.org.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from run import (
    KINDS,
    LXC_TOOLS,
    Bench,
    BenchError,
    Kind,
    Metric,
    Result,
    S,
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

LXC_TEMPLATE = "/usr/share/lxc/templates/lxc-debian"
LXC_SYSTEM_CACHE = "/var/cache/lxc"  # the template's default LXC_CACHE_PATH
CREATE_TIMEOUT = 900.0  # a first create downloads and bootstraps
BOOT_TIMEOUT = 30.0
POLL_SLEEP = 0.02
POLL_TIMEOUT = 10.0
STOP_TIMEOUT = 30  # seconds a clean stop may take before the init is killed
SETTLED = ("running", "degraded", "maintenance")  # systemd has finished booting
# The template writes `auto eth0 / iface eth0 inet dhcp`; without a network (empty) there is
# no eth0 and networking.service fails. The booted LXC container gets loopback only.
LXC_INTERFACES = "auto lo\niface lo inet loopback\n"


@dataclass
class DebianBench(Bench):
    lxc_cache: str = LXC_SYSTEM_CACHE
    private_cache: bool = False
    notes: list[str] = field(default_factory=list)
    boot_checks: dict[str, Any] = field(default_factory=dict)

    def dname(self, kind: Kind, release: str, index: int) -> str:
        return f"{self.prefix}-{'p' if kind == 'lxpy' else 'c'}{release[:4]}{index:02d}"

    def note(self, text: str) -> None:
        log(text)
        self.notes.append(text)

    # create
    def lxc_cache_rootfs(self, release: str) -> list[str]:
        return glob.glob(f"{self.lxc_cache}/debian/rootfs-{release}-*")

    def make(self, kind: Kind, release: str, index: int, storage: str = "") -> float:
        """`lxpy create` or `lxc-create` of Debian `release`; the seconds it took. `storage`:
        lxpy's pool (`--storage`) or LXC's backing store (`-B`); by default each one's own."""
        name = self.dname(kind, release, index)
        if kind == "lxpy":
            args = ["create", name, "-t", "debian", "-r", release, "-q", "--network", "none"]
            args += ["--storage", storage] if storage else []
            return self.lxpy(*args, timeout=CREATE_TIMEOUT).seconds
        self.lxc_names.append(name)  # before it exists: a half-made one is cleaned up too
        env = {**os.environ, "LXC_CACHE_PATH": self.lxc_cache} if self.private_cache else None
        cmd = ["lxc-create", "-P", self.lxcpath, "-n", name, "-t", "debian"]
        cmd += ["-B", storage] if storage else []
        cmd += ["-f", self.lxc_config, "--", "-r", release]
        return execute(cmd, timeout=CREATE_TIMEOUT, env=env).seconds

    def image(self, name: str) -> str:
        info = json.loads(self.lxpy("info", name, "--format", "json").stdout)
        return str(info["config"]["storage"]["image"])

    def image_timing(self, name: str) -> tuple[float, float]:
        """(seconds, download_seconds) of the bootstrap that built `name`'s image."""
        with open(f"{self.lxpy_root}/lib/images/{self.image(name)}/image.toml", "rb") as f:
            doc = tomllib.load(f)
        return float(doc["seconds"]), float(doc["download_seconds"])

    def lxc_loopback_only(self, name: str) -> None:
        path = f"{self.lxcpath}/{name}/rootfs/etc/network/interfaces"
        if os.path.islink(path):
            raise BenchError(f"{path} is a symlink: not writing through it")
        with open(path, "w") as f:
            f.write(LXC_INTERFACES)

    # boot and stop
    def attach(self, kind: Kind, name: str, *cmd: str) -> Result:
        if kind == "lxpy":
            return self.lxpy("attach", name, "--", *cmd, check=False, timeout=POLL_TIMEOUT)
        args = ("lxc-attach", "-n", name, "--", *cmd)
        return self.lxc(*args, check=False, timeout=POLL_TIMEOUT)

    def boot(self, kind: Kind, name: str) -> tuple[float, str, float]:
        """Seconds from just before `start` is spawned until systemd says it has booted,
        what it said (`running`, or `degraded` when units failed), and how long the start
        command itself took."""
        begin = time.perf_counter()
        start_seconds = self.start(kind, name)
        started = time.perf_counter()
        first = True
        while True:
            result = self.attach(kind, name, "systemctl", "is-system-running")
            state = result.stdout.strip()
            if state in SETTLED:
                # `lxpy start` returns when systemd sends READY=1, the moment it declares the
                # boot finished: when the poll right after it agrees, the boot ended then, and
                # the poll's own time (a Python start-up) is not boot time.
                end = started if kind == "lxpy" and first else time.perf_counter()
                return end - begin, state, start_seconds
            first = False
            if time.perf_counter() - begin > BOOT_TIMEOUT:
                said = state or result.stderr.strip()[-300:]
                raise BenchError(f"{kind} {name}: not booted after {BOOT_TIMEOUT:g}s: {said}")
            time.sleep(POLL_SLEEP)

    def failed_units(self, kind: Kind, name: str) -> list[str]:
        cmd = ("systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager")
        out = self.attach(kind, name, *cmd).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def clean_stop(self, kind: Kind, name: str) -> float:
        timeout = str(STOP_TIMEOUT)
        if kind == "lxpy":
            result = self.lxpy("stop", "-t", timeout, name, timeout=STOP_TIMEOUT + 30)
        else:
            result = self.lxc("lxc-stop", "-n", name, "-t", timeout, timeout=STOP_TIMEOUT + 30)
        if result.seconds >= STOP_TIMEOUT:
            self.note(f"{kind} {name}: stop took {result.seconds:.1f}s: killed, not clean")
        return result.seconds


# -- measurements ------------------------------------------------------------------------------
def first_create(bench: DebianBench, release: str, add: Callable[[Metric], Metric]) -> None:
    first = add(Metric(f"first_create_{release}", f"{release}: first create", "s", "recorded"))
    download = add(Metric(f"download_{release}", "  lxpy: download (image.toml)", "s"))
    build = add(Metric(f"bootstrap_{release}", "  lxpy: bootstrap minus download", "s"))
    rest = add(Metric(f"rest_{release}", "  lxpy: rest of create", "s"))
    log(f"{release}: first create, lxpy (fresh --root: cold image and .deb caches)")
    total = bench.make("lxpy", release, 0)
    seconds, download_seconds = bench.image_timing(bench.dname("lxpy", release, 0))
    first.lxpy.append(total)
    download.lxpy.append(download_seconds)
    build.lxpy.append(seconds - download_seconds)
    rest.lxpy.append(total - seconds)
    cached = bench.lxc_cache_rootfs(release)
    log(f"{release}: first create, LXC ({'warm: ' + cached[0] if cached else 'cold'} cache)")
    lxc_seconds = bench.make("lxc", release, 0)
    if cached:
        bench.note(
            f"{release}: LXC first create not measured: its cache {cached[0]} was warm "
            f"(that create took {lxc_seconds:.1f}s)"
        )
    else:
        first.lxc.append(lxc_seconds)


def from_cache(
    bench: DebianBench, release: str, runs: int, add: Callable[[Metric], Metric]
) -> None:
    metric = add(
        Metric(
            f"create_{release}",
            f"{release}: create from cache",
            "s",
            "lxpy >= 10x faster",
            "ratio",
            0.1,
        )
    )
    image = bench.image(bench.dname("lxpy", release, 0))
    index = {"lxpy": 1, "lxc": 1}

    def step(kind: Kind) -> float:
        os.sync()  # untimed: no create pays for the previous one's writeback (see README)
        seconds = bench.make(kind, release, index[kind])
        name = bench.dname(kind, release, index[kind])
        index[kind] += 1
        if kind == "lxpy" and bench.image(name) != image:
            raise BenchError(f"{name} is not on the cached image {image}: {bench.image(name)}")
        return seconds

    log(f"{release}: create from cache, {runs} timed runs each")
    interleaved(runs, step, metric, scale=S)


def boot_and_stop(
    bench: DebianBench, release: str, runs: int, add: Callable[[Metric], Metric]
) -> None:
    boot_target, stop_target = "lxpy <= 1x LXC", "lxpy <= 1x LXC"
    boot = add(Metric(f"boot_{release}", f"{release}: boot until running", "s", boot_target))
    started = add(Metric(f"start_{release}", "  of which the start command", "s"))
    stop = add(Metric(f"stop_{release}", f"{release}: clean stop", "s", stop_target))
    boot.limit_kind, boot.limit = "ratio", 1.0
    stop.limit_kind, stop.limit = "ratio", 1.0
    names = {kind: bench.dname(kind, release, 0) for kind in KINDS}
    bench.lxc_loopback_only(names["lxc"])
    degraded: dict[Kind, int] = {"lxpy": 0, "lxc": 0}

    def cycle(kind: Kind) -> tuple[float, float, float]:
        os.sync()  # untimed, as before every create
        seconds, state, start_seconds = bench.boot(kind, names[kind])
        if state != "running":
            degraded[kind] += 1
            units = bench.failed_units(kind, names[kind])
            bench.note(f"{release}: {kind} booted {state}; failed units: {', '.join(units)}")
        return seconds, start_seconds, bench.clean_stop(kind, names[kind])

    log(f"{release}: boot check (untimed): both must reach `running` with no failed unit")
    for kind in KINDS:
        seconds, state, _ = bench.boot(kind, names[kind])
        units = bench.failed_units(kind, names[kind])
        bench.boot_checks[f"{release}/{kind}"] = {"state": state, "failed_units": units}
        log(f"{release}: {kind}: {state} after {seconds:.2f}s, {len(units)} failed units")
        if state != "running" or units:
            bench.note(f"{release}: {kind} check boot: {state}, failed units: {units}")
        bench.clean_stop(kind, names[kind])
    log(f"{release}: boot and clean stop, {runs} timed runs each")
    for i in range(runs):
        for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
            samples = cycle(kind)
            for metric, value in zip((boot, started, stop), samples, strict=True):
                (metric.lxpy if kind == "lxpy" else metric.lxc).append(value)
    for kind in KINDS:
        if degraded[kind]:
            boot.label += f" ({kind}: {degraded[kind]} degraded)"


def measure(bench: DebianBench, releases: Sequence[str], runs: int, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    for release in releases:
        first_create(bench, release, add)
        from_cache(bench, release, runs, add)
        boot_and_stop(bench, release, runs, add)


# -- main --------------------------------------------------------------------------------------
def preflight(lxpy_cmd: Sequence[str]) -> None:
    if os.geteuid() != 0:
        raise BenchError("run it as root: both lxpy and LXC need it")
    tools = (*LXC_TOOLS, "debootstrap")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not os.path.exists(LXC_TEMPLATE):
        missing.append(LXC_TEMPLATE)
    if missing:
        raise BenchError(f"missing: {', '.join(missing)} (apt-get install lxc debootstrap)")
    execute([*lxpy_cmd, "--version"], timeout=30)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add("--runs", type=int, default=5, help="timed runs per figure (default 5)")
    add("--releases", default="trixie,bookworm", help="comma-separated (default: %(default)s)")
    add(
        "--lxc-cache",
        choices=("system", "private"),
        default="system",
        help="LXC's debian cache: its own /var/cache/lxc (default; warm after the first run) "
        "or one in the work dir (a cold first create every run, deleted afterwards)",
    )
    common_options(p)
    args = p.parse_args(argv)
    args.releases = [r for r in args.releases.split(",") if r]
    if args.runs < 1 or not args.releases:
        p.error("--runs: at least 1; --releases: at least one")
    if any(not r.isalpha() or not r.islower() for r in args.releases):
        p.error("--releases: Debian code names, comma-separated")
    return args


def prepare(args: argparse.Namespace) -> DebianBench:
    """Check the host, then make the work dir (its name carries the container prefix)."""
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    preflight(cmd)
    bench = DebianBench.in_new_workdir(cmd, args)
    if args.lxc_cache == "private":
        bench.lxc_cache, bench.private_cache = f"{bench.workdir}/lxc-cache", True
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1
    log(f"LXC cache {bench.lxc_cache}")

    def work(metrics: list[Metric]) -> None:
        bench.make_roots()
        measure(bench, args.releases, args.runs, metrics)

    session = conduct(work, lambda: cleanup(bench))
    what = f" (lxc-debian), Debian {'+'.join(args.releases)}: median of {args.runs} runs"
    extra: dict[str, Any] = dict(
        mmdebstrap=version(["dpkg-query", "-W", "-f", "${Version}", "mmdebstrap"]),
        debootstrap=version(["dpkg-query", "-W", "-f", "${Version}", "debootstrap"]),
    )
    extra.update(runs=args.runs, releases=args.releases, lxc_cache=bench.lxc_cache)
    extra.update(boot_checks=bench.boot_checks)
    clean = "mounts, cgroups, processes, containers, files"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
