#!/usr/bin/env python3
"""The three-tier example (contrib/examples/three-tier) under `lxpy up`: until it serves, and
`up` with nothing to change.

Figures, from a warm cache (the image and the three package layers built by an untimed
first `up`, then `down --destroy`):

* up from nothing until served: from just before `lxpy up` is spawned until
  `http://127.0.0.1:PORT/` answers 200 with the database's rows (polled every 50 ms);
  the fleet is destroyed (`down --destroy -y`) after each run, untimed
* up, nothing changed: `lxpy up` on the running fleet (target: under 3 s)
* down, then up again: the fleet stopped, then `up` until served (its data kept)

LXC has no fleet file to compare with: the figures are lxpy's alone. The example runs on a
copy in the work dir, on a network and a host port of the bench's own. The harness, the
isolation and the cleanup with leak checks are bench/run.py's, the network teardown
bench/network.py's.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root and a warm
or reachable Debian mirror (debootstrap or mmdebstrap), nftables, dnsmasq.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network import NetBench, network_leftovers, teardown
from run import (
    BenchError,
    Metric,
    at_least_five,
    cleanup,
    common_options,
    conduct,
    default_lxpy,
    log,
    opened,
    report,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "contrib/examples/three-tier"
UP_TIMEOUT = 1200.0  # the warm-up builds the image and three package layers
SERVE_TIMEOUT = 120.0
POLL_SLEEP = 0.05


@dataclass
class FleetBench(NetBench):
    project: str = ""
    port: int = 0

    def up(self, timeout: float = UP_TIMEOUT) -> float:
        return self.lxpy("up", "-f", self.project, timeout=timeout).seconds

    def served(self, began: float) -> float:
        """Seconds from `began` (perf_counter) until the page lists the database's rows."""
        deadline = time.perf_counter() + SERVE_TIMEOUT
        while True:
            try:
                url = f"http://127.0.0.1:{self.port}/"
                with urllib.request.urlopen(url, timeout=5) as response:
                    if b"tea: 3.50" in response.read():
                        return time.perf_counter() - began
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise BenchError(f"the example did not serve within {SERVE_TIMEOUT:g} s")
            time.sleep(POLL_SLEEP)

    def up_until_served(self) -> float:
        began = time.perf_counter()
        self.up()
        return self.served(began)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(bench: FleetBench, runs: int, metrics: list[Metric]) -> None:
    fresh = Metric("fresh", "up from nothing until served (warm cache)", "s")
    unchanged = Metric("same", "up, nothing changed", "s", "< 3 s", "lxpy", 3.0)
    again = Metric("again", "down, then up until served", "s")
    metrics += [fresh, unchanged, again]
    log("warm-up: up (builds the image and the package layers), then down --destroy")
    began = time.perf_counter()
    bench.up()
    bench.note(f"first up, cold cache: served after {bench.served(began):.1f} s")
    bench.lxpy("down", "-f", bench.project, "--destroy", "-y", timeout=600)
    for run in range(runs):
        fresh.lxpy.append(bench.up_until_served())
        unchanged.lxpy.append(bench.up())
        bench.lxpy("down", "-f", bench.project, timeout=600)
        again.lxpy.append(bench.up_until_served())
        bench.lxpy("down", "-f", bench.project, "--destroy", "-y", timeout=600)
        figures = (fresh.lxpy[-1], unchanged.lxpy[-1], again.lxpy[-1])
        log(f"run {run + 1}: {figures[0]:.1f} s, {figures[1]:.2f} s, {figures[2]:.1f} s")


def prepare(args: argparse.Namespace) -> FleetBench:
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    bench = FleetBench.in_new_workdir(cmd, args)
    where = Path(bench.workdir) / "three-tier"
    shutil.copytree(EXAMPLE, where)
    bench.port = free_port()
    toml = where / "lxpy.toml"
    text = toml.read_text().replace('network = "shop"', f'network = "lb{bench.token}"')
    toml.write_text(text.replace("127.0.0.1:8080:80", f"127.0.0.1:{bench.port}:80"))
    bench.project = str(where)
    Path(bench.workdir).chmod(0o711)  # the network's dnsmasq runs as nobody
    Path(bench.lxpy_root).mkdir(0o711)
    return bench


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=at_least_five, default=5, help="timed runs (>= 5; default 5)")
    common_options(p)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1

    def tidy() -> list[str]:
        problems = teardown(bench)  # every container stopped, lxpy's networks removed
        problems += cleanup(bench)
        return [*problems, *network_leftovers(bench)]

    session = conduct(lambda metrics: measure(bench, args.runs, metrics), tidy)
    what = f": the three-tier example (contrib/examples/three-tier), median of {args.runs} runs"
    extra: dict[str, Any] = dict(runs=args.runs)
    clean = "containers, networks, mounts, cgroups, processes"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
