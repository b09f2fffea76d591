#!/usr/bin/env python3
"""Side-by-side benchmark of container networking: lxpy's networks vs LXC's lxc-net, in one run.

Measures (median of --runs samples, lxpy and LXC taking turns):

* network setup added to start: `start` of a busybox container with one NIC minus the same
  start of one without (lxpy `--network none`, LXC `lxc.net.0.type = empty`); LXC's NIC is
  a veth on lxcbr0 (`lxc.net.0.link = lxcbr0`, `flags = up`), as /etc/lxc/default.conf has it
* 20 containers started at once: --containers busybox containers of each kind, all started
  in parallel, until every one has its DHCP address and the first (`c0`) pings each of the
  others: by name (`NAME.lxpy`) for lxpy; for LXC by name only if lxc-net's dnsmasq knows
  the names, otherwise by IP (the addresses from `lxc-info -i`), and the output says which

lxc-net (`/usr/libexec/lxc/lxc-net`) is started for the run when it is not running, and
stopped again in the `finally`, which also restores what it changes on the host (its leases
file, `net.ipv4.ip_forward`). The harness, the isolation (private work dir, lxpy --root and
LXC lxcpath inside it, `lxpybench-<token>` names) and the cleanup with its leak checks are
those of bench/run.py, imported from it; before that cleanup, every container is stopped and
the networks of the run's lxpy root are removed with `lxpy network rm`.

The standard library and psutil (run it with lxpy's venv, as run.py). Needs root, LXC with
lxc-net, dnsmasq, nftables and a static busybox.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from run import (
    KINDS,
    LXC_CONFIG,
    MS,
    Bench,
    BenchError,
    Kind,
    Metric,
    Result,
    S,
    Verdict,
    at_least_five,
    cleanup,
    command_lines,
    common_options,
    conduct,
    default_lxpy,
    execute,
    interleaved,
    log,
    opened,
    preflight,
    report,
)

LXC_NET = "/usr/libexec/lxc/lxc-net"
LXC_RUN = "/run/lxc"  # lxc-net's varrun: network_up, dnsmasq.pid
LXC_NFT_TABLES = (("inet", "lxc"), ("ip", "lxc"))  # what lxc-net's start_nftables adds
LXPY_DOMAIN = "lxpy"  # the default network's domain
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
SETUP_LIMIT_MS = 20.0  # issue 18: wiring a NIC adds at most this to a start
REACH_RATIO = 2.0  # issue 18: N started at once reachable by name within 2x LXC by address
REACH_TIMEOUT = 60.0  # from the parallel starts until c0 reaches every other one
# The first start: lxc-net's dnsmasq pings every new address for 3 s before it offers it
# (LXC_DHCP_PING) and handles no DHCP meanwhile, so N new containers wait ~3N s, more when
# busybox's udhcpc backs off (3 discovers 3 s apart, then a 20 s pause).
FIRST_TIMEOUT = 240.0
SLOW = 10.0  # a timed run of the fleet this slow gets a note: what c0 could not reach
POLL_SLEEP = 0.05
PING_FAILED = 42  # exit status of PING_SCRIPT when its time is up
# In c0: one pinger per target, all in parallel, each sending every 50 ms until the first
# reply (busybox ping has no "stop at the first reply": grep -m1 ends the pipe, ping ends at
# its next line, 50 ms later at most), started again while the name does not resolve yet,
# until $1 seconds have passed. Not rounds of `ping -c1 -W1`: -W takes whole seconds, so a
# target that came up a moment after a round began cost a whole second more. Prints the
# targets not reached.
PING_SCRIPT = f"""\
end=$(( $(date +%s) + $1 )); shift
left=$(for t in "$@"; do (
    until ping -i 0.05 -w 1 "$t" 2>/dev/null | grep -q -m1 "bytes from"; do
        [ "$(date +%s)" -ge "$end" ] && {{ echo "$t"; exit; }}
        usleep {int(POLL_SLEEP * 1e6)}
    done) & done; wait)
[ -z "$left" ] && exit 0
echo unreachable: $left; exit {PING_FAILED}
"""


# -- lxc-net -----------------------------------------------------------------------------------
@dataclass
class LxcNet:
    """lxc-net's settings here (its defaults overridden by /etc/default/lxc{,-net}) and what
    the bench must put back when it stops the lxc-net it started."""

    use_bridge: str
    bridge: str
    address: str
    network: str
    domain: str
    dhcp_ping: str
    started: bool = False
    leases_before: bytes | None = None  # the leases file's content, None: it did not exist
    ip_forward_before: str = ""

    @property
    def leases(self) -> str:
        return f"/var/lib/misc/dnsmasq.{self.bridge}.leases"

    @classmethod
    def configured(cls) -> LxcNet:
        """Source the script's own head (defaults, then /etc/default/lxc) in sh."""
        with open(LXC_NET) as f:
            head = f.read().split("\nuse_nft()", 1)[0]
        names = ["USE_LXC_BRIDGE", "LXC_BRIDGE", "LXC_ADDR", "LXC_NETWORK", "LXC_DOMAIN"]
        names.append("LXC_DHCP_PING")
        show = 'printf "%s\\n"' + "".join(f' "${n}"' for n in names)
        out = execute(["sh", "-c", f"{head}\n{show}\n"], timeout=30).stdout.split("\n")
        use_bridge, bridge, address, network, domain, dhcp_ping = out[: len(names)]
        return cls(use_bridge, bridge, address, network, domain, dhcp_ping)

    def running(self) -> bool:
        return os.path.exists(f"{LXC_RUN}/network_up")

    def start(self) -> str:
        """Start lxc-net unless it runs; refuse anything that its start would tear down."""
        if self.use_bridge != "true":
            raise BenchError(f"USE_LXC_BRIDGE={self.use_bridge!r}: lxc-net makes no {self.bridge}")
        if self.running() and os.path.isdir(f"/sys/class/net/{self.bridge}"):
            return f"lxc-net was running: {self.bridge} used as it is, left running"
        if os.path.exists(f"/sys/class/net/{self.bridge}"):
            raise BenchError(f"{self.bridge} exists but lxc-net does not run: not touching it")
        for family, name in LXC_NFT_TABLES:
            if execute(["nft", "list", "table", family, name], check=False).returncode == 0:
                raise BenchError(f"nft table {family} {name} exists: lxc-net would flush it")
        subnet = ipaddress.ip_network(self.network)
        for route in json.loads(execute(["ip", "-j", "route"]).stdout):
            dst = route.get("dst", "")
            if dst != "default" and ipaddress.ip_network(dst, strict=False).overlaps(subnet):
                raise BenchError(f"{self.network} overlaps the route {dst} via {route['dev']}")
        if os.path.exists(self.leases):
            with open(self.leases, "rb") as f:
                self.leases_before = f.read()
        with open(IP_FORWARD) as f:
            self.ip_forward_before = f.read().strip()
        self.started = True  # from here on the finally stops it, even after a failed start
        execute([LXC_NET, "start"], timeout=30)
        return f"lxc-net started by the bench ({self.bridge} {self.address}), stopped after"

    def stop(self) -> list[str]:
        """Stop the lxc-net this run started, put back what it changed, check it is gone."""
        if not self.started:
            return []
        problems = []
        result = execute([LXC_NET, "stop"], check=False, timeout=30)
        if result.returncode != 0:
            problems.append(f"lxc-net stop: exit {result.returncode}: {result.stderr.strip()}")
        if self.leases_before is None:
            if os.path.exists(self.leases):
                os.unlink(self.leases)
        else:
            with open(self.leases, "wb") as f:
                f.write(self.leases_before)
        with open(IP_FORWARD) as f:
            if f.read().strip() != self.ip_forward_before:
                with open(IP_FORWARD, "w") as w:
                    w.write(self.ip_forward_before)
        if os.path.exists(f"/sys/class/net/{self.bridge}"):
            problems.append(f"left behind: {self.bridge}")
        for family, name in LXC_NFT_TABLES:
            if execute(["nft", "list", "table", family, name], check=False).returncode == 0:
                problems.append(f"left behind: nft table {family} {name}")
        for leftover in ("network_up", "dnsmasq.pid"):
            if os.path.exists(f"{LXC_RUN}/{leftover}"):
                problems.append(f"left behind: {LXC_RUN}/{leftover}")
        mark = f"--interface={self.bridge}"
        dnsmasq = [pid for pid, args in command_lines().items() if mark in args]
        problems += [f"left behind: lxc-net's dnsmasq, pid {pid}" for pid in dnsmasq]
        return problems

    def hostnames(self) -> dict[str, str]:
        """IPv4 -> the hostname its DHCP client gave (`*`: none) from the leases file."""
        found = {}
        with open(self.leases) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 4:
                    found[fields[2]] = fields[3]
        return found


# -- the bench ---------------------------------------------------------------------------------
@dataclass
class NetBench(Bench):
    lxc_net: LxcNet | None = None
    networks: dict[str, str] = field(default_factory=dict)  # lxpy network -> its gateway
    notes: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    lxc_by_name: bool = False

    @property
    def lxc_empty_config(self) -> str:
        return f"{self.workdir}/lxc-empty.conf"

    def note(self, text: str) -> None:
        log(text)
        self.notes.append(text)

    def make(self, kind: Kind, name: str, nic: bool) -> None:
        """A busybox container with one NIC on the default network (lxpy) or lxcbr0 (LXC,
        the run's lxc_config), or with none."""
        if kind == "lxpy":
            self.lxpy(
                "create", name, "--template", "busybox", *(() if nic else ("--network", "none"))
            )
            return
        self.lxc_names.append(name)  # before it exists: a half-made one is cleaned up too
        config = self.lxc_config if nic else self.lxc_empty_config
        self.lxc("lxc-create", "-n", name, "-t", "busybox", "-f", config)

    def lxpy_networks(self) -> dict[str, str]:
        """`lxpy network ls` of the run's root: name -> gateway."""
        rows = [line.split() for line in self.lxpy("network", "ls").stdout.splitlines()[1:]]
        return {row[0]: row[2] for row in rows if len(row) >= 3}

    def attach(self, kind: Kind, name: str, *cmd: str, timeout: float) -> Result:
        if kind == "lxpy":
            return self.lxpy("attach", name, "--", *cmd, check=False, timeout=timeout)
        return self.lxc("lxc-attach", "-n", name, "--", *cmd, check=False, timeout=timeout)

    def lxc_address(self, name: str) -> str | None:
        """The IPv4 of the container's NIC on lxcbr0, from `lxc-info -i` (None: none yet)."""
        assert self.lxc_net is not None
        subnet = ipaddress.ip_network(self.lxc_net.network)
        out = self.lxc("lxc-info", "-n", name, "-i", "-H", check=False).stdout.split()
        return next((a for a in out if "." in a and ipaddress.ip_address(a) in subnet), None)

    def resolves(self, server: str, name: str) -> str | None:
        """What the DNS server at `server` answers for `name` (A), None for nothing."""
        out = execute(["busybox", "nslookup", "-type=a", name, server], check=False, timeout=10)
        answer = out.stdout.split("Name:", 1)[-1] if out.returncode == 0 else ""
        found = re.findall(r"Address:\s*([0-9.]+)\s*$", answer, re.M)
        return found[0] if found else None


# -- figure 1: network setup added to start ----------------------------------------------------
def setup_cost(bench: NetBench, runs: int, add: Callable[[Metric], Metric]) -> None:
    with_nic = add(Metric("start_nic", "start, 1 NIC", "ms"))
    without = add(Metric("start_none", "start, no NIC (none / empty)", "ms"))
    added = add(Metric("net_setup", "network setup added to start", "ms", "lxpy <= 20 ms"))
    added.limit_kind, added.limit = "lxpy", SETUP_LIMIT_MS
    names = {
        (kind, nic): f"{bench.prefix}-{'p' if kind == 'lxpy' else 'c'}{'nic' if nic else 'none'}"
        for kind in KINDS
        for nic in (True, False)
    }
    log("network setup: creating a container with one NIC and one without, of each kind")
    for (kind, nic), name in names.items():
        bench.make(kind, name, nic)
    samples: dict[Kind, list[tuple[float, float]]] = {"lxpy": [], "lxc": []}

    def step(kind: Kind) -> float:
        """Both starts (stop -k after each), the order alternating; the difference."""
        seconds = {}
        order = (True, False) if len(samples[kind]) % 2 else (False, True)
        for nic in order:
            seconds[nic] = bench.start(kind, names[kind, nic])
            bench.stop(kind, names[kind, nic])
        samples[kind].append((seconds[True], seconds[False]))
        return seconds[True] - seconds[False]

    log(f"network setup: {runs} timed runs of each start, after one warm-up")
    interleaved(runs, step, added)
    for kind in KINDS:
        timed = samples[kind][1:]  # [0] is the warm-up
        (with_nic.lxpy if kind == "lxpy" else with_nic.lxc).extend(a * MS for a, _ in timed)
        (without.lxpy if kind == "lxpy" else without.lxc).extend(b * MS for _, b in timed)


# -- figure 2: many containers started at once -------------------------------------------------
class Reach(Verdict):
    """Met when every run reached every container (by name for lxpy), the checks passed, and
    lxpy's median is within REACH_RATIO of LXC's."""

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return bool(self.verdict) and ratio is not None and ratio <= REACH_RATIO


def reach_all(
    bench: NetBench, kind: Kind, names: Sequence[str], begin: float, timeout: float
) -> None:
    """Return once every container has its address and names[0] pings all the others."""
    deadline = begin + timeout
    if kind == "lxpy":
        targets = [f"{name}.{LXPY_DOMAIN}" for name in names[1:]]
    else:
        addresses: dict[str, str] = {}
        while len(addresses) < len(names):
            for name in names:
                address = None if name in addresses else bench.lxc_address(name)
                if address:
                    addresses[name] = address
            if time.perf_counter() > deadline:
                missing = sorted(set(names) - set(addresses))
                raise BenchError(f"LXC: no DHCP address in time: {missing}")
            if len(addresses) < len(names):
                time.sleep(POLL_SLEEP)
        if len(set(addresses.values())) < len(names):
            raise BenchError(f"LXC: containers share addresses (the same MAC?): {addresses}")
        targets = [n if bench.lxc_by_name else addresses[n] for n in names[1:]]
    attempts = 0
    while True:
        left = max(1, int(deadline - time.perf_counter()))
        script = ("sh", "-c", PING_SCRIPT, "sh", str(left), *targets)
        result = bench.attach(kind, names[0], *script, timeout=left + 10)
        if result.returncode == 0:
            if time.perf_counter() - begin > SLOW:
                tries = f"{attempts} failed attach(es), the last one {result.seconds:.1f}s"
                bench.note(f"{kind}: a run took over {SLOW:g}s: {tries}")
            return
        attempts += 1
        if result.returncode == PING_FAILED or time.perf_counter() > deadline:
            said = result.stdout.strip() or result.stderr.strip()
            raise BenchError(f"{kind}: {names[0]} does not reach every container: {said}")
        time.sleep(POLL_SLEEP)  # names[0] does not run yet: its attach failed


def start_at_once(
    bench: NetBench,
    kind: Kind,
    names: Sequence[str],
    timeout: float = REACH_TIMEOUT,
    together: bool = False,
) -> tuple[float, float]:
    """Start every container in parallel, each by a command of its own, or (`together`, lxpy
    only) all by one `lxpy start` given every name; (seconds until all are reachable,
    seconds until the last start command returned)."""

    def start(*batch: str) -> float:
        if together:
            bench.lxpy("start", *batch)
        else:
            bench.start(kind, *batch)
        return time.perf_counter()

    batches = [names] if together else [[name] for name in names]
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        begin = time.perf_counter()
        started: list[Future[float]] = [pool.submit(start, *batch) for batch in batches]
        try:
            reach_all(bench, kind, names, begin, timeout)
            reached = time.perf_counter()
        finally:
            last = max(f.result() for f in started)  # re-raises a failed start
    return reached - begin, last - begin


def stop_all(bench: NetBench, kind: Kind, names: Sequence[str]) -> None:
    if kind == "lxpy":
        bench.lxpy("stop", "-k", *names)
        return
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(lambda name: bench.stop(kind, name), names))


def check_lxpy(bench: NetBench, names: Sequence[str]) -> bool:
    """Untimed, all running. `info`/`ls` show the address lxpy reserved for a container, not
    what its eth0 has: look inside each, and ask the network's dnsmasq at its gateway for
    every NAME.lxpy (a --local domain: never forwarded). True when all passed."""
    listed = {c["name"]: c["ipv4"] for c in json.loads(bench.lxpy("ls", "--format", "json").stdout)}
    gateway = next(iter(bench.networks.values()))
    inside = resolved = 0
    for name in names:
        address = (listed.get(name) or ["?"])[0]
        eth0 = bench.attach("lxpy", name, "ip", "-4", "-o", "addr", "show", "eth0", timeout=30)
        inside += f" {address}/" in eth0.stdout
        resolved += bench.resolves(gateway, f"{name}.{LXPY_DOMAIN}") == address
    bench.note(
        f"lxpy: {inside}/{len(names)} have on eth0 the address `lxpy ls` shows; "
        f"{resolved}/{len(names)} NAME.{LXPY_DOMAIN} resolve to it at {gateway}"
    )
    bench.checks.update(lxpy_eth0=inside, lxpy_resolved=resolved)
    return inside == resolved == len(names)


def check_lxc(bench: NetBench, names: Sequence[str]) -> None:
    """Untimed, all running; decides whether LXC is reached by name. `lxc-info -i` reads the
    container's interfaces; lxc-net's dnsmasq knows a name only when the DHCP client sent one
    (the leases file says `*` otherwise). No DNS query is sent: without --domain-needed,
    lxc-net's dnsmasq would forward a bare name to the host's upstream resolvers."""
    assert bench.lxc_net is not None
    net = bench.lxc_net
    addresses = {name: bench.lxc_address(name) for name in names}
    hostnames = net.hostnames()
    named = [n for n, a in addresses.items() if a and hostnames.get(a, "*") not in ("*", "")]
    bench.lxc_by_name = len(named) == len(names) and bool(net.domain)
    how = "by name" if bench.lxc_by_name else "by IP"
    have = sum(1 for a in addresses.values() if a)
    bench.note(
        f"LXC: {have}/{len(names)} have an address from lxc-net; {len(named)}/{len(names)} sent "
        f"a hostname (busybox's udhcpc sends none), LXC_DOMAIN={net.domain!r}: reached {how}"
    )
    bench.checks.update(lxc_addresses=have, lxc_named=len(named), lxc_by=how)


def fleet(bench: NetBench, runs: int, count: int, add: Callable[[Metric], Metric]) -> None:
    names = {kind: [bench.name(kind, i) for i in range(count)] for kind in KINDS}
    log(f"{count} at once: creating {count} containers with one NIC of each kind")
    for name in names["lxpy"]:
        bench.make("lxpy", name, True)
    bench.make("lxc", names["lxc"][0], True)
    for i in range(1, count):
        bench.copy_lxc(names["lxc"][0], i)  # lxc-copy gives the copy a MAC of its own
    first = add(Metric("fleet_first", f"{count} at once, first start (new leases)", "s"))
    log(f"{count} at once: the first start of each (untimed for the median), with the checks")
    ok = True
    for kind in KINDS:
        seconds, _ = start_at_once(bench, kind, names[kind], FIRST_TIMEOUT)
        (first.lxpy if kind == "lxpy" else first.lxc).append(seconds)
        if kind == "lxpy":
            ok = check_lxpy(bench, names[kind])
        else:
            check_lxc(bench, names[kind])
        stop_all(bench, kind, names[kind])
    how = "by name" if bench.lxc_by_name else "by IP"
    target = f"all {count - 1} by name, <= {REACH_RATIO:g}x LXC"
    for together in (False, True):
        # LXC has no start of many names: its figure is the parallel lxc-starts, again.
        lxpy_how = f"1 lxpy start of {count}" if together else f"{count} lxpy starts"
        label = f"{count} at once ({lxpy_how}): c0 pings all (LXC {how})"
        reach = Reach("fleet_one" if together else "fleet", label, "s", target)
        add(reach)
        last = add(Metric(f"fleet{'_one' if together else ''}_started", "  of which: started", "s"))

        def step(kind: Kind, together: bool = together, last: Metric = last) -> float:
            one = together and kind == "lxpy"
            seconds, started = start_at_once(bench, kind, names[kind], together=one)
            stop_all(bench, kind, names[kind])
            (last.lxpy if kind == "lxpy" else last.lxc).append(started)
            return seconds

        log(f"{count} at once ({lxpy_how}): {runs} timed runs of each")
        interleaved(runs, step, reach, warmup=False, scale=S)
        reach.verdict = ok and len(reach.lxpy) == runs


def measure(bench: NetBench, runs: int, count: int, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    assert bench.lxc_net is not None
    bench.note(bench.lxc_net.start())
    setup_cost(bench, runs, add)
    bench.networks = bench.lxpy_networks()
    fleet(bench, runs, count, add)


# -- cleanup -----------------------------------------------------------------------------------
def teardown(bench: NetBench) -> list[str]:
    """Before run.cleanup: stop every container, remove the root's lxpy networks (bridge,
    nft table, dnsmasq), stop lxc-net if this run started it. Returns the problems."""
    problems: list[str] = []
    if os.path.isdir(f"{bench.lxpy_root}/lib"):
        try:
            listed = json.loads(bench.lxpy("ls", "--format", "json").stdout)
            up = [c["name"] for c in listed if c["state"] != "STOPPED"]
            if up:
                bench.lxpy("stop", "-k", *up, check=False, timeout=300)
            bench.networks.update(bench.lxpy_networks())
            for network in bench.networks:
                result = bench.lxpy("network", "rm", network, check=False)
                if result.returncode != 0:
                    problems.append(f"lxpy network rm {network}: {result.stderr.strip()}")
        except (BenchError, ValueError, KeyError) as e:
            problems.append(f"lxpy: {e}")
    for name in bench.lxc_names:
        if os.path.isdir(f"{bench.lxcpath}/{name}"):
            try:
                bench.lxc("lxc-stop", "-k", "-n", name, check=False)
            except BenchError as e:
                problems.append(f"lxc-stop {name}: {e}")
    if bench.lxc_net is not None:
        problems += bench.lxc_net.stop()
    return problems


def network_leftovers(bench: NetBench) -> list[str]:
    """After run.cleanup: the bridges and nft tables of the run's lxpy networks."""
    tables = execute(["nft", "list", "tables"], check=False).stdout.split()
    found = [f"bridge {n}" for n in bench.networks if os.path.exists(f"/sys/class/net/{n}")]
    found += [f"nft table lxpy-{n}" for n in bench.networks if f"lxpy-{n}" in tables]
    return [f"left behind: {item}" for item in found]


# -- main --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = p.add_argument
    add("--runs", type=at_least_five, default=5, help="timed runs per figure (>= 5; default 5)")
    add("--containers", type=int, default=20, help="started at once, of each kind (default 20)")
    common_options(p)
    args = p.parse_args(argv)
    if not 2 <= args.containers <= 100:
        p.error("--containers: 2 to 100")
    return args


def prepare(args: argparse.Namespace) -> NetBench:
    """Check the host, make the work dir and the roots (traversable: dnsmasq runs as nobody)."""
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    preflight(cmd)
    for tool in ("nft", "ip", "busybox", "dnsmasq"):
        execute(["sh", "-c", f"command -v {tool}"], timeout=10)
    if not os.access(LXC_NET, os.X_OK):
        raise BenchError(f"{LXC_NET} is missing (apt-get install lxc)")
    bench = NetBench.in_new_workdir(cmd, args)
    bench.lxc_net = LxcNet.configured()
    os.chmod(bench.workdir, 0o711)
    os.mkdir(bench.lxpy_root, 0o711)
    os.mkdir(bench.lxcpath, 0o700)
    net = bench.lxc_net
    with open(bench.lxc_config, "w") as f:
        f.write(f"lxc.net.0.type = veth\nlxc.net.0.link = {net.bridge}\nlxc.net.0.flags = up\n")
        # A MAC of its own for each container, kept across starts (lxc-create fills in the
        # x's, lxc-copy makes new ones), as lxpy's are: a restart keeps its DHCP lease.
        f.write("lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n")
        f.write("lxc.apparmor.profile = unconfined\n")
    with open(bench.lxc_empty_config, "w") as f:
        f.write(LXC_CONFIG)
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1
    session = conduct(
        lambda metrics: measure(bench, args.runs, args.containers, metrics),
        lambda: [*teardown(bench), *cleanup(bench), *network_leftovers(bench)],
    )
    what = f" (lxc-net): median of {args.runs} runs, {args.containers} at once"
    lxc_net = dict(vars(bench.lxc_net)) if bench.lxc_net else {}
    lxc_net.pop("leases_before", None)
    extra: dict[str, Any] = dict(lxc_net=lxc_net)
    extra.update(runs=args.runs, containers=args.containers, checks=bench.checks)
    clean = "containers, networks, lxc-net, mounts, cgroups, processes"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
