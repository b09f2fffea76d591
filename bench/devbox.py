#!/usr/bin/env python3
"""Side-by-side benchmark of a Debian dev box until ssh answers: lxpy vs LXC, in one run.

One figure, from a warm cache, each from just before the first command is spawned until
`ssh -o BatchMode=yes ... USER@HOST true` (run as USER, polled) succeeds:

* lxpy: `lxpy launch NAME -t debian --user USER` (create + start, sshd with USER's key,
  NAME.lxpy in the host's /etc/hosts), then ssh to `USER@NAME.lxpy`
* LXC:  `lxc-copy -n TEMPLATE -N NAME` (a full copy, rsync) or `lxc-copy ... -s -B overlay`
  (a snapshot), its address appended to the copy's config, `lxc-start -n NAME`, then ssh to
  `USER@ADDRESS`. TEMPLATE is made once, untimed: `lxc-create -t debian` (openssh-server
  is in the template's package set) with USER and USER's key added through its rootfs, on a
  bridge the bench makes (static host address, a static IPv4 per copy; no DHCP)

USER is a host account the bench makes (`useradd`, home in the work dir, an ed25519 key of
its own) and removes at the end. Untimed warm-ups first (lxpy: one launch, which builds the
image and any package layer; LXC: the template and one copy of each kind), then lxpy and
the two LXC variants take turns, the order rotating every run.

The harness, the isolation (private work dir, lxpy --root and LXC lxcpath inside it,
`lxpybench-<token>` names) and the cleanup with leak checks are those of bench/run.py, and
the lxpy network teardown that of bench/network.py, imported from them; on top, the bench
removes its bridge and its host user and checks that /etc/hosts has no line of its root left.

The standard library, psutil and lxpy's own reader of its /etc/hosts blocks (run it with
lxpy's venv, as run.py). Needs root, LXC with
/usr/share/lxc/templates/lxc-debian and a warm or reachable Debian mirror, debootstrap,
mmdebstrap or debootstrap for lxpy, openssh-client, iproute2, useradd.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import ipaddress
import json
import os
import pwd
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil
from debian import LXC_INTERFACES, LXC_TEMPLATE
from debian import preflight as debian_preflight
from network import NetBench, network_leftovers, teardown
from run import (
    BenchError,
    Metric,
    Result,
    cleanup,
    common_options,
    conduct,
    default_lxpy,
    execute,
    log,
    opened,
    report,
    wait_exactly,
)

from lxpy.net.hostsfile import without_other_roots

RELEASE = "trixie"  # lxpy's debian default; LXC's template is given it explicitly
CREATE_TIMEOUT = 900.0  # the warm-ups bootstrap (lxpy) or copy LXC's cache
COMMAND_TIMEOUT = 300.0
SSH_TIMEOUT = 60.0  # from the first command until ssh must have answered
POLL_SLEEP = 0.05  # between a failed ssh and the next
INTERRUPT_GRACE = 30.0  # for an interrupted lxpy launch to clean up before SIGKILL
IDLE_SAMPLE = 1.0  # seconds of host CPU use sampled before each run, the bench idle
SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "ConnectTimeout=2",
    "-o",
    "LogLevel=ERROR",
)
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
TIMELINE = ("systemd", "sshd", "finished")  # timestamps read from each box's systemd
Variant = Literal["lxpy", "full", "snap"]
VARIANTS: tuple[Variant, Variant, Variant] = ("lxpy", "full", "snap")
LXC_VARIANTS: tuple[Variant, Variant] = ("full", "snap")


@dataclass(frozen=True)
class Sample:
    """One timed dev box: the command(s), the time until ssh answered, the ssh attempts."""

    commands: float
    total: float
    attempts: int
    second: float  # one more ssh right after: what one login costs on the booted box
    begin: float  # perf_counter (CLOCK_MONOTONIC) when the first command was spawned
    copy: float = 0.0


@dataclass
class DevBench(NetBench):
    user: str = ""
    uid: int = -1
    gid: int = -1
    user_made: bool = False
    bridge: str = ""
    bridge_made: bool = False
    subnet: ipaddress.IPv4Network | None = None
    hosts_before: bytes = b""
    host_keys: dict[str, str] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    idle_busy: list[float] = field(default_factory=list)  # host CPU % while the bench waits
    boot_states: dict[str, str] = field(default_factory=dict)
    next_host: int = 10

    @property
    def home(self) -> str:
        return f"{self.workdir}/home/{self.user}"

    @property
    def template(self) -> str:
        return f"{self.prefix}-ctpl"

    @property
    def gateway(self) -> str:
        assert self.subnet is not None
        return str(self.subnet.network_address + 1)

    def box(self, variant: Variant, index: int) -> str:
        return f"{self.prefix}-{'p' if variant == 'lxpy' else 'c'}dev{variant[0]}{index:02d}"

    # the host user -------------------------------------------------------------------------
    def make_user(self) -> None:
        """A host account with its home in the work dir and an ed25519 key of its own."""
        self.user = f"lxpb{self.token}"
        os.mkdir(f"{self.workdir}/home", 0o711)
        self.user_made = True  # before: a half-made account is removed too
        execute(
            [
                "useradd",
                "--home-dir",
                self.home,
                "--create-home",
                "--shell",
                "/bin/sh",
                "--user-group",
                self.user,
            ]
        )
        account = pwd.getpwnam(self.user)
        self.uid, self.gid = account.pw_uid, account.pw_gid
        ssh_dir = f"{self.home}/.ssh"
        os.mkdir(ssh_dir, 0o700)
        execute(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                self.user,
                "-f",
                f"{ssh_dir}/id_ed25519",
            ]
        )
        for path in (ssh_dir, f"{ssh_dir}/id_ed25519", f"{ssh_dir}/id_ed25519.pub"):
            os.chown(path, self.uid, self.gid)

    def as_user(self, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        """`argv` as the host user, in a session of its own (no terminal to ask on); its
        exit status and stderr."""
        env = {"PATH": "/usr/bin:/bin", "HOME": self.home, "USER": self.user}
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                list(argv),
                user=self.uid,
                group=self.gid,
                extra_groups=[],
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
            try:
                returncode = wait_exactly(proc, timeout, " ".join(argv))
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            err.seek(0)
            return returncode, err.read().decode(errors="replace")

    def ssh_once(self, login: str) -> tuple[int, str, float]:
        """`ssh LOGIN true` once as the host user: exit status, stderr, seconds."""
        began = time.perf_counter()
        code, err = self.as_user(["ssh", *SSH_OPTIONS, login, "true"], SSH_TIMEOUT)
        return code, err, time.perf_counter() - began

    def until_ssh(self, login: str, begin: float) -> tuple[float, int, float]:
        """Poll `ssh LOGIN true` until it succeeds: (perf_counter then, attempts), and the
        seconds of one more ssh right after (untimed for the figure)."""
        attempts = 0
        while True:
            attempts += 1
            code, err, _ = self.ssh_once(login)
            if code == 0:
                answered = time.perf_counter()
                code, err, seconds = self.ssh_once(login)
                if code != 0:
                    raise BenchError(f"ssh {login}: a second login failed: {err.strip()}")
                return answered, attempts, seconds
            if time.perf_counter() - begin > SSH_TIMEOUT:
                raise BenchError(f"ssh {login}: no answer after {SSH_TIMEOUT:g}s: {err.strip()}")
            time.sleep(POLL_SLEEP)

    # LXC's network and template ------------------------------------------------------------
    def make_bridge(self) -> None:
        """A bridge with .1 of a /24 that no route of the host overlaps; no NAT, no DHCP."""
        routes = json.loads(execute(["ip", "-4", "-j", "route", "show", "table", "all"]).stdout)
        taken = [
            ipaddress.ip_network(r["dst"], strict=False)
            for r in routes
            if r.get("dst", "default") != "default" and ":" not in r["dst"]
        ]
        for _ in range(100):
            subnet = ipaddress.IPv4Network(
                f"10.{random.randrange(100, 250)}.{random.randrange(256)}.0/24"
            )
            if not any(subnet.overlaps(t) for t in taken if t.prefixlen > 0):
                break
        else:
            raise BenchError("no free 10.x.y.0/24 for the bench's bridge")
        self.subnet, self.bridge = subnet, f"lxpb{self.token}"
        execute(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.bridge_made = True
        execute(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
        execute(["ip", "link", "set", self.bridge, "up"])
        with open(self.lxc_config, "w") as f:
            f.write(f"lxc.net.0.type = veth\nlxc.net.0.link = {self.bridge}\n")
            f.write("lxc.net.0.flags = up\nlxc.net.0.hwaddr = 00:16:3e:xx:xx:xx\n")
            f.write("lxc.apparmor.profile = unconfined\n")

    def make_template(self) -> None:
        """`lxc-create -t debian`, then USER with USER's key and loopback-only ifupdown
        (eth0's address is LXC's, set before init) written into its rootfs."""
        self.lxc_names.append(self.template)
        cmd = ["lxc-create", "-P", self.lxcpath, "-n", self.template, "-t", "debian"]
        seconds = execute(
            [*cmd, "-f", self.lxc_config, "--", "-r", RELEASE], timeout=CREATE_TIMEOUT
        ).seconds
        rootfs = f"{self.lxcpath}/{self.template}/rootfs"
        if not os.path.exists(f"{rootfs}/usr/sbin/sshd"):
            raise BenchError(f"LXC's debian template installed no sshd in {rootfs}")
        self.note(f"LXC template container made in {seconds:.1f}s (untimed)")
        for path in (f"{rootfs}/etc/network/interfaces", f"{rootfs}/home"):
            if os.path.islink(path):
                raise BenchError(f"{path} is a symlink: not writing through it")
        with open(f"{rootfs}/etc/network/interfaces", "w") as f:
            f.write(LXC_INTERFACES)
        execute(["chroot", rootfs, "groupadd", "-g", str(self.gid), self.user])
        execute(
            [
                "chroot",
                rootfs,
                "useradd",
                "--create-home",
                "-u",
                str(self.uid),
                "-g",
                str(self.gid),
                "-s",
                "/bin/bash",
                self.user,
            ]
        )
        ssh_dir = f"{rootfs}/home/{self.user}/.ssh"
        os.mkdir(ssh_dir, 0o700)
        shutil.copyfile(f"{self.home}/.ssh/id_ed25519.pub", f"{ssh_dir}/authorized_keys")
        os.chmod(f"{ssh_dir}/authorized_keys", 0o600)
        for path in (ssh_dir, f"{ssh_dir}/authorized_keys"):
            os.chown(path, self.uid, self.gid)
        with open(f"{rootfs}{HOST_KEY}") as f:
            self.host_keys["lxc template"] = f.read().split()[1]

    # the two systems -----------------------------------------------------------------------
    def launch(self, name: str, timeout: float) -> Result:
        """`lxpy launch NAME -t debian --user USER -q`, in a process group of its own.

        Interrupted (Ctrl-C, SIGTERM, a timeout), it gets SIGINT as from a terminal and time
        to stop its bootstrap and clean up (run.execute would SIGKILL it, which leaves the
        bootstrap's mounts in the work dir): SIGKILL only after INTERRUPT_GRACE.
        """
        cmd = [*self.lxpy_cmd, "--root", self.lxpy_root, "launch", name, "-t", "debian"]
        cmd += ["--user", self.user, "-q"]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            begin = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.lxpy_env,
                process_group=0,
            )
            try:
                code = wait_exactly(proc, timeout, " ".join(cmd))
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(INTERRUPT_GRACE)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                raise
            seconds = time.perf_counter() - begin
            out.seek(0)
            err.seek(0)
            stdout, stderr = (f.read().decode(errors="replace") for f in (out, err))
        if code != 0:
            raise BenchError(f"exit {code}: {' '.join(cmd)}\n{(stderr or stdout)[-2000:]}")
        return Result(tuple(cmd), code, stdout, stderr, seconds)

    def lxpy_box(self, index: int, timeout: float = COMMAND_TIMEOUT) -> Sample:
        name = self.box("lxpy", index)
        begin = time.perf_counter()
        result = self.launch(name, timeout)
        launched = time.perf_counter()
        end, attempts, second = self.until_ssh(f"{self.user}@{name}.lxpy", begin)
        if f"ssh {self.user}@{name}.lxpy" not in result.stderr:
            self.note(f"lxpy launch did not print the ssh line: {result.stderr.strip()!r}")
        return Sample(launched - begin, end - begin, attempts, second, begin)

    def lxc_box(self, variant: Variant, index: int) -> Sample:
        """lxc-copy (full or snapshot) + its address in the config + lxc-start, until ssh."""
        assert self.subnet is not None
        name = self.box(variant, index)
        address = self.subnet.network_address + self.next_host
        self.next_host += 1
        self.lxc_names.append(name)  # before it exists: a half-made one is cleaned up too
        snapshot = ("-s", "-B", "overlay") if variant == "snap" else ()
        begin = time.perf_counter()
        copy = self.lxc(
            "lxc-copy", "-n", self.template, "-N", name, *snapshot, timeout=COMMAND_TIMEOUT
        )
        with open(f"{self.lxcpath}/{name}/config", "a") as f:
            f.write(f"lxc.net.0.ipv4.address = {address}/24\n")
            f.write(f"lxc.net.0.ipv4.gateway = {self.gateway}\n")
        self.start("lxc", name)
        started = time.perf_counter()
        end, attempts, second = self.until_ssh(f"{self.user}@{address}", begin)
        return Sample(started - begin, end - begin, attempts, second, begin, copy.seconds)

    def dev_box(self, variant: Variant, index: int, timeout: float = COMMAND_TIMEOUT) -> Sample:
        return self.lxpy_box(index, timeout) if variant == "lxpy" else self.lxc_box(variant, index)

    def run_in(self, variant: Variant, name: str, *cmd: str) -> str:
        if variant == "lxpy":
            return self.lxpy("attach", name, "--", *cmd, check=False).stdout
        return self.lxc("lxc-attach", "-n", name, "--", *cmd, check=False).stdout

    def timeline(self, variant: Variant, name: str, begin: float) -> dict[str, float]:
        """When, from `begin`, the box's systemd started, its sshd was ready and its boot
        finished, and how long lxpy-secrets.service ran (systemd's CLOCK_MONOTONIC
        timestamps: the host's clock, as perf_counter is; no time namespace)."""
        show = "systemctl show --value -p"
        script = (
            f"echo systemd $({show} UserspaceTimestampMonotonic); "
            f"echo finished $({show} FinishTimestampMonotonic); "
            f"echo sshd $({show} ActiveEnterTimestampMonotonic ssh.service); "
            f"echo secrets0 $({show} InactiveExitTimestampMonotonic lxpy-secrets.service); "
            f"echo secrets1 $({show} ActiveEnterTimestampMonotonic lxpy-secrets.service)"
        )
        values: dict[str, int] = {}
        for line in self.run_in(variant, name, "sh", "-c", script).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit() and int(value) > 0:
                values[key] = int(value)
        found = {k: v / 1e6 - begin for k, v in values.items() if k in TIMELINE}
        if "secrets0" in values and "secrets1" in values:
            found["secrets"] = (values["secrets1"] - values["secrets0"]) / 1e6
        return found

    def stop_box(self, variant: Variant, name: str) -> None:
        if variant == "lxpy":
            self.lxpy("stop", "-k", name)
        else:
            self.lxc("lxc-stop", "-k", "-n", name)


# -- measurement -------------------------------------------------------------------------------
def warm_up(bench: DevBench) -> None:
    """Untimed: lxpy's image (and layer) cached by a first launch; LXC's template and one
    copy of each kind; each checked to answer ssh and to boot, its host key recorded."""
    log(f"warm-up: lxpy launch -t debian --user {bench.user} (builds the image)")
    bench.dev_box("lxpy", 0, CREATE_TIMEOUT)
    log(f"warm-up: LXC template: lxc-create -t debian -- -r {RELEASE}, {bench.user} added")
    bench.make_template()
    for variant in LXC_VARIANTS:
        log(f"warm-up: LXC {variant} copy")
        bench.dev_box(variant, 0)
    for variant in VARIANTS:
        name = bench.box(variant, 0)
        state = bench.run_in(variant, name, "systemctl", "is-system-running", "--wait").strip()
        bench.boot_states[variant] = state
        if state != "running":
            failed = bench.run_in(variant, name, "systemctl", "--failed", "--plain", "--no-legend")
            bench.note(f"{variant} warm-up box booted {state}: {' '.join(failed.split())}")
        bench.host_keys[name] = bench.run_in(variant, name, "cat", HOST_KEY).split()[1]
        analyze = bench.run_in(variant, name, "systemd-analyze").split("\n", 1)[0].strip()
        blame = bench.run_in(variant, name, "systemd-analyze", "blame", "--no-pager")
        top = ", ".join(" ".join(line.split()) for line in blame.splitlines()[:4])
        logins = bench.run_in(variant, name, "systemctl", "is-active", "systemd-logind").strip()
        bench.note(f"{variant} warm-up box: {analyze}; slowest units: {top}; logind: {logins}")
        bench.stop_box(variant, name)


def measure(bench: DevBench, runs: int, metrics: list[Metric]) -> None:
    def add(metric: Metric) -> Metric:
        metrics.append(metric)
        return metric

    target = "lxpy <= 1x LXC"
    rows: dict[str, Metric] = {}
    for variant, what in (("full", "lxc-copy (full)"), ("snap", "lxc-copy -s -B overlay")):
        rows[f"{variant}_total"] = add(
            Metric(f"ssh_{variant}", f"until ssh answers, vs {what}", "s", target, "ratio", 1.0)
        )
        rows[f"{variant}_commands"] = add(
            Metric(f"commands_{variant}", "  the command(s): launch / copy+start", "s")
        )
        rows[f"{variant}_after"] = add(
            Metric(f"after_{variant}", "  after them, until ssh answers", "s")
        )
        rows[f"{variant}_copy"] = add(Metric(f"copy_{variant}", "  of which lxc-copy", "s"))
    attempts = add(Metric("attempts", "ssh attempts until one answered (vs snapshot)", "x"))
    second = add(Metric("second", "one more ssh, box up (vs snapshot)", "s"))
    steps = {
        "systemd": add(Metric("t_systemd", "from the first command: systemd starts", "s")),
        "sshd": add(Metric("t_sshd", "  sshd ready (ssh.service active)", "s")),
        "finished": add(Metric("t_finished", "  boot finished (lxpy: READY=1)", "s")),
        "secrets": add(Metric("t_secrets", "lxpy-secrets.service (ssh-keygen -A)", "s")),
    }

    bench.make_bridge()
    log(f"bridge {bench.bridge} {bench.gateway}/24; host user {bench.user} uid {bench.uid}")
    warm_up(bench)
    samples: dict[Variant, list[Sample]] = {v: [] for v in VARIANTS}
    for i in range(1, runs + 1):
        # Every box of the bench stopped: what the host's CPUs do now is others' work.
        bench.idle_busy.append(psutil.cpu_percent(interval=IDLE_SAMPLE))
        order = VARIANTS[(i - 1) % 3 :] + VARIANTS[: (i - 1) % 3]
        for variant in order:
            os.sync()  # untimed: no box pays for the previous one's writeback (a full copy)
            bench.loads.append(os.getloadavg()[0])
            sample = bench.dev_box(variant, i)
            log(
                f"run {i}: {variant}: {sample.total:.2f}s until ssh "
                f"(commands {sample.commands:.2f}s, {sample.attempts} ssh)"
            )
            samples[variant].append(sample)
            name = bench.box(variant, i)
            if variant != "full":
                kind = "lxpy" if variant == "lxpy" else "lxc"
                for key, value in bench.timeline(variant, name, sample.begin).items():
                    getattr(steps[key], kind).append(value)
            if i == 1:
                bench.host_keys[name] = bench.run_in(variant, name, "cat", HOST_KEY).split()[1]
            bench.stop_box(variant, name)
    for variant in LXC_VARIANTS:
        for kind, got in (("lxpy", samples["lxpy"]), ("lxc", samples[variant])):
            for key, values in (
                ("total", [s.total for s in got]),
                ("commands", [s.commands for s in got]),
                ("after", [s.total - s.commands for s in got]),
            ):
                setattr(rows[f"{variant}_{key}"], kind, values)
        rows[f"{variant}_copy"].lxc = [s.copy for s in samples[variant]]
    attempts.lxpy = [float(s.attempts) for s in samples["lxpy"]]
    attempts.lxc = [float(s.attempts) for s in samples["snap"]]
    second.lxpy = [s.second for s in samples["lxpy"]]
    second.lxc = [s.second for s in samples["snap"]]
    host_key_notes(bench)


def host_key_notes(bench: DevBench) -> None:
    keys = bench.host_keys
    lxpy = [keys.get(bench.box("lxpy", i), "") for i in (0, 1)]
    bench.note(
        "lxpy: the warm-up box and run 1's box have "
        + ("different SSH host keys" if lxpy[0] != lxpy[1] else "THE SAME SSH host key")
    )
    template = keys.get("lxc template", "")
    for variant in LXC_VARIANTS:
        copies = [keys.get(bench.box(variant, i), "") for i in (0, 1)]
        same = sum(1 for key in copies if key == template)
        bench.note(
            f"LXC {variant} copies: {same} of 2 have the template's SSH host key "
            f"(lxc-copy does not regenerate it)"
            if same
            else f"LXC {variant} copies: each its own SSH host key"
        )


# -- cleanup -----------------------------------------------------------------------------------
def host_teardown(bench: DevBench) -> list[str]:
    """After every container is stopped: the bench's bridge and host user go."""
    problems: list[str] = []
    if bench.bridge_made:
        result = execute(["ip", "link", "del", bench.bridge], check=False)
        if result.returncode != 0:
            problems.append(f"ip link del {bench.bridge}: {result.stderr.strip()}")
    if bench.user_made:
        result = execute(["userdel", "--remove", bench.user], check=False)
        if result.returncode not in (0, 6, 12):  # 6: no such user; 12: no home to remove
            problems.append(f"userdel {bench.user}: exit {result.returncode}: {result.stderr}")
    return problems


def host_leftovers(bench: DevBench) -> list[str]:
    found = []
    if bench.bridge and os.path.exists(f"/sys/class/net/{bench.bridge}"):
        found.append(f"bridge {bench.bridge}")
    if bench.user:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(bench.user)
            found.append(f"host user {bench.user}")
        with contextlib.suppress(KeyError):
            grp.getgrnam(bench.user)
            found.append(f"host group {bench.user}")
    with open("/etc/hosts", "rb") as f:
        after = f.read().decode(errors="surrogateescape")
    before = bench.hosts_before.decode(errors="surrogateescape")
    instance = bench.lxpy_instance
    if f"# BEGIN lxpy {instance}\n" in after:
        found.append(f"/etc/hosts block of {instance}")
    elif without_other_roots(after, instance) != without_other_roots(before, instance):
        found.append("/etc/hosts differs from before (other roots' blocks aside)")
    return [f"left behind: {item}" for item in found]


# -- main --------------------------------------------------------------------------------------
def three_to_fifty(text: str) -> int:
    """--runs: a median of fewer means little; more would run out of the bridge's /24."""
    runs = int(text)
    if not 3 <= runs <= 50:
        raise argparse.ArgumentTypeError("3 to 50")
    return runs


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=three_to_fifty, default=5, help="timed runs, 3 to 50 (default 5)")
    common_options(p)
    return p.parse_args(argv)


def prepare(args: argparse.Namespace) -> DevBench:
    """Check the host, make the work dir and the roots (traversable: the network's dnsmasq
    runs as nobody, ssh as the host user whose home is in it)."""
    cmd = args.lxpy.split() if args.lxpy else default_lxpy()
    debian_preflight(cmd)
    for tool in ("ssh", "ssh-keygen", "ip", "nft", "dnsmasq", "useradd", "userdel", "chroot"):
        if shutil.which(tool) is None:
            raise BenchError(f"missing: {tool}")
    if not os.path.exists(LXC_TEMPLATE):
        raise BenchError(f"missing: {LXC_TEMPLATE}")
    bench = DevBench.in_new_workdir(cmd, args)
    with open("/etc/hosts", "rb") as f:
        bench.hosts_before = f.read()
    os.chmod(bench.workdir, 0o711)
    os.mkdir(bench.lxpy_root, 0o711)
    os.mkdir(bench.lxcpath, 0o700)
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = opened(prepare, args)
    if bench is None:
        return 1

    def work(metrics: list[Metric]) -> None:
        bench.make_user()
        measure(bench, args.runs, metrics)

    def tidy() -> list[str]:
        problems = teardown(bench)  # every container stopped, lxpy's networks removed
        problems += host_teardown(bench)
        problems += cleanup(bench)
        return [*problems, *network_leftovers(bench), *host_leftovers(bench)]

    session = conduct(work, tidy)
    loads = bench.loads or [0.0]
    bench.notes.append(
        f"load average (1 min) before each timed box: {min(loads):.2f}-{max(loads):.2f}, "
        f"median {statistics.median(loads):.2f}"
    )
    busy = bench.idle_busy or [0.0]
    bench.notes.append(
        f"host CPU use with every box stopped, 1 s before each run (others' work): "
        f"{min(busy):.0f}-{max(busy):.0f} %, median {statistics.median(busy):.0f} % of "
        f"{os.cpu_count()} CPUs"
    )
    what = f": Debian {RELEASE} dev box until ssh answers, median of {args.runs} runs"
    extra: dict[str, Any] = dict(
        runs=args.runs, release=RELEASE, subnet=str(bench.subnet), loads=bench.loads
    )
    extra.update(idle_cpu_percent=bench.idle_busy)
    extra.update(host_keys=bench.host_keys, boot_states=bench.boot_states)
    clean = "containers, networks, bridge, host user, /etc/hosts, mounts, cgroups, processes"
    return report(bench, session, args, what, bench.notes, clean, extra)


if __name__ == "__main__":
    sys.exit(main())
