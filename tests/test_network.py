"""Networking with real containers: each test root has its own bridge (its default network,
named from the root) and subnet; traffic goes only between the host and these containers."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxpy.linux import netns
from lxpy.net import links, model, nat, netlink
from lxpy.net.model import Network
from lxpy.net.netlink import Netlink
from lxpy.paths import Paths
from tests.conftest import Lxpy, sh
from tests.test_import_budget import loaded

pytestmark = pytest.mark.integration


def ipv4(lx: Lxpy, name: str) -> str:
    addresses = json.loads(lx.run("info", name, "--format", "json").stdout)["ipv4"]
    assert len(addresses) == 1, addresses
    return str(addresses[0])


def wait_lease(lx: Lxpy, name: str, timeout: float = 10) -> str:
    """The address eth0 got by DHCP inside (the guest's own view)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = sh(lx, name, "ip -4 -o addr show eth0", check=False)
        if " inet " in out:
            return out.split(" inet ")[1].split("/")[0]
        time.sleep(0.1)
    raise AssertionError(f"{name} got no address by DHCP")


def host_lookup(server: str, name: str) -> str:
    """Ask the network's dnsmasq from the host, as the README says to (no resolver change)."""
    out = subprocess.run(
        ["busybox", "nslookup", "-type=a", name, server],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    return out.split("Name:")[1].split("Address:")[1].split()[0] if "Name:" in out else ""


def fetch(url: str) -> str:
    # No proxy, whatever the environment says: this goes to our own container only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return str(response.read().decode())


def test_containers_reach_each_other_by_name_and_keep_their_address(lxpy: Lxpy) -> None:
    for name in ("c1", "c2"):
        lxpy.run("create", name)
        lxpy.run("start", name)
    first = {name: wait_lease(lxpy, name) for name in ("c1", "c2")}
    assert first == {name: ipv4(lxpy, name) for name in ("c1", "c2")}
    assert "1 packets received" in sh(lxpy, "c1", "ping -c1 -W5 c2.lxpy")
    assert "1 packets received" in sh(lxpy, "c2", "ping -c1 -W5 c1")
    lxpy.run("restart", "c1")
    lxpy.run("stop", "c2")
    # Gone from DNS the moment the stop returns: its DHCP lease ended with it (a named lease
    # would have answered for an hour).
    for name in ("c2", "c2.lxpy"):
        assert "can't find" in sh(lxpy, "c1", f"nslookup {name} 2>&1; true"), name
    lxpy.run("start", "c2")
    assert {name: wait_lease(lxpy, name) for name in ("c1", "c2")} == first
    assert first["c2"] in sh(lxpy, "c1", "nslookup c2.lxpy")


def test_host_reaches_a_service_by_address_and_by_name(lxpy: Lxpy) -> None:
    lxpy.run("create", "web")
    lxpy.run("start", "web")
    address = wait_lease(lxpy, "web")
    sh(lxpy, "web", "mkdir -p /www && echo hello-lxpy > /www/index.html && httpd -h /www -p 8080")
    network = model.load(lxpy.paths, model.default_network(lxpy.paths))
    assert host_lookup(network.gateway, "web.lxpy") == address
    assert fetch(f"http://{address}:8080/") == "hello-lxpy\n"
    # By name through the host's own resolver too (its /etc/hosts block here).
    assert host_names(lxpy) == [f"{address} web.lxpy"]
    assert getent("web.lxpy") == address
    assert fetch("http://web.lxpy:8080/") == "hello-lxpy\n"
    lxpy.run("stop", "web")
    # Stopped: its reservation, its name and its DHCP lease are gone at once, on the network's
    # DNS and on the host.
    run = model.run_dir(lxpy.paths, network.name)
    assert os.listdir(f"{run}/dhcp-hosts") == [] and os.listdir(f"{run}/names") == []
    assert host_lookup(network.gateway, "web.lxpy") == host_lookup(network.gateway, "web") == ""
    assert host_names(lxpy) == [] and getent("web.lxpy") == ""


def test_a_stop_from_inside_and_a_rename_take_the_name_along(lxpy: Lxpy) -> None:
    lxpy.run("create", "r1")
    lxpy.run("start", "r1")
    address = wait_lease(lxpy, "r1")
    assert host_names(lxpy) == [f"{address} r1.lxpy"]
    lxpy.run("attach", "r1", "--", "poweroff", "-f", check=False)  # the monitor tears down
    assert lxpy.wait_state("r1", "STOPPED") == "STOPPED"
    assert host_names(lxpy) == [] and getent("r1.lxpy") == ""
    lxpy.run("rename", "r1", "r2")
    lxpy.run("start", "r2")
    assert host_names(lxpy) == [f"{address} r2.lxpy"]  # it keeps its address
    assert getent("r2.lxpy") == address and getent("r1.lxpy") == ""
    lxpy.run("destroy", "--force", "r2")
    assert host_names(lxpy) == []


def host_names(lx: Lxpy) -> list[str]:
    """The lines of the root's block in the host's /etc/hosts."""
    with open("/etc/hosts") as f:
        lines = f.read().splitlines()
    begin = f"# BEGIN lxpy {lx.paths.instance}"
    if begin not in lines:
        return []
    first = lines.index(begin) + 1
    return lines[first : lines.index(f"# END lxpy {lx.paths.instance}", first)]


def getent(name: str) -> str:
    """The address the host's resolver (nsswitch) gives `name`, or ""."""
    out = subprocess.run(["getent", "hosts", name], capture_output=True, text=True, timeout=10)
    return out.stdout.split()[0] if out.returncode == 0 else ""


def _left_behind(lx: Lxpy, name: str) -> list[str]:
    network = model.default_network(lx.paths)
    run = model.run_dir(lx.paths, network)
    found = [f"veth {v}" for v in os.listdir(f"/sys/class/net/{network}/brif")]
    found += [f"reservation {f}" for f in os.listdir(f"{run}/dhcp-hosts")]
    found += [f"name {f}" for f in os.listdir(f"{run}/names")]
    return found


@pytest.mark.parametrize("victim", ["init", "monitor"])
def test_nothing_is_left_after_a_kill(lxpy: Lxpy, victim: str) -> None:
    lxpy.run("create", "k1")
    lxpy.run("start", "k1")
    wait_lease(lxpy, "k1")
    run = lxpy.paths.run_dir("k1")
    record = "init.pid" if victim == "init" else "monitor.pid"
    with open(f"{run}/{record}") as f:
        os.kill(int(f.read().split()[0]), 9)
    if victim == "monitor":
        assert lxpy.state("k1") == "RUNNING"
        lxpy.run("stop", "k1")
    assert lxpy.wait_state("k1", "STOPPED") == "STOPPED"
    deadline = time.monotonic() + 5
    while _left_behind(lxpy, "k1") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _left_behind(lxpy, "k1") == []
    lxpy.run("start", "k1")  # and it comes back with its NIC
    wait_lease(lxpy, "k1")


def test_a_default_network_made_meanwhile_by_another_command_is_taken(
    lxpy: Lxpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands that need the default network at once (the creates of `lxpy up`): one that
    found no file, and then finds the network another has made since, takes that one."""
    from lxpy.net import networks

    name = model.default_network(lxpy.paths)
    real_load = model.load

    def missing_until_another_makes_it(paths: Paths, wanted: str) -> Network:
        monkeypatch.setattr(model, "load", real_load)
        try:
            return real_load(paths, wanted)
        finally:
            networks.create(paths, wanted)

    monkeypatch.setattr(model, "load", missing_until_another_makes_it)
    assert networks.default(lxpy.paths).subnet == real_load(lxpy.paths, name).subnet


def test_pinned_address(lxpy: Lxpy) -> None:
    lxpy.run("network", "create", "lxpytestpin", "--subnet", "10.254.253.0/24")
    lxpy.run("create", "p1", "--network", "lxpytestpin=10.254.253.77")
    lxpy.run("start", "p1")
    assert wait_lease(lxpy, "p1") == "10.254.253.77"
    taken = lxpy.run("create", "p2", "--network", "lxpytestpin=10.254.253.77", check=False)
    assert taken.returncode == 0  # checked when it starts: p1 keeps the address
    clash = lxpy.run("start", "p2", check=False)
    assert clash.returncode != 0 and "kept for p1" in clash.stderr


def test_bad_network_input_is_refused_cleanly(lxpy: Lxpy) -> None:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    routed = next(line.split()[0] for line in routes.splitlines() if "/" in line.split()[0])
    cases = [
        (["network", "create", "lxpytestovl", "--subnet", routed], "overlaps"),
        (["network", "create", "x" * 16], "invalid network name"),
        (["network", "create", "Bad_Name"], "invalid network name"),
        (["create", "n1", "--network", "nosuchnet"], "no network named"),
        (["create", "n1", "--port", "8080"], "expected [ADDR:]HOSTPORT:PORT"),
        (["create", "n1", "--port", "1:2", "--port", "127.0.0.1:1:3"], "overlaps 0.0.0.0:1/tcp"),
        (["create", "n1", "--network", "none", "--port", "1:2"], "needs a NIC"),
    ]
    for argv, message in cases:
        result = lxpy.run(*argv, check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert "lxpytestovl" not in lxpy.run("network", "ls").stdout
    assert not os.path.exists(lxpy.paths.container_dir("n1"))
    lxpy.run("create", "u1")
    lxpy.run("start", "u1")
    network = model.default_network(lxpy.paths)
    busy = lxpy.run("network", "rm", network, check=False)
    assert busy.returncode != 0 and "u1" in busy.stderr
    assert os.path.exists(f"/sys/class/net/{network}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_port_forward_from_the_host_loopback(lxpy: Lxpy) -> None:
    lxpy.run("create", "fw")
    port = free_port()
    lxpy.run("port", "add", "fw", f"{port}:80")  # saved, active from the next start
    lxpy.run("start", "fw")
    wait_lease(lxpy, "fw")
    sh(lxpy, "fw", "mkdir -p /www && echo forwarded > /www/index.html && httpd -h /www -p 80")
    assert fetch(f"http://127.0.0.1:{port}/") == "forwarded\n"
    assert f"{port}:80/tcp" in lxpy.run("info", "fw", "--format", "json").stdout
    # From another machine: another container, through the host's address on the bridge.
    lxpy.run("create", "client")
    lxpy.run("start", "client")
    wait_lease(lxpy, "client")
    gateway = model.load(lxpy.paths, model.default_network(lxpy.paths)).gateway
    assert sh(lxpy, "client", f"wget -q -O - http://{gateway}:{port}/") == "forwarded\n"
    # Added live to a running container, and refused cleanly when the host port is taken.
    second = free_port()
    lxpy.run("port", "add", "fw", f"{second}:80/tcp")
    assert fetch(f"http://127.0.0.1:{second}/") == "forwarded\n"
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = lxpy.run("port", "add", "fw", f"{busy}:80", check=False)
        assert result.returncode != 0 and "is taken" in result.stderr
    assert str(busy) not in lxpy.run("port", "ls", "fw").stdout
    lxpy.run("port", "rm", "fw", str(second))
    with pytest.raises(OSError):
        fetch(f"http://127.0.0.1:{second}/")
    lxpy.run("stop", "fw")
    with pytest.raises(OSError):
        fetch(f"http://127.0.0.1:{port}/")


def refused(address: str, port: int) -> bool:
    """Whether nothing listens on the host's `address`:`port` (tcp): a refused connect."""
    try:
        with socket.create_connection((address, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def serve_http(lx: Lxpy, name: str) -> None:
    wait_lease(lx, name)
    sh(lx, name, "mkdir -p /www && echo forwarded > /www/index.html && httpd -h /www -p 80")


def test_a_forward_on_an_address_answers_there_alone(lxpy: Lxpy) -> None:
    with open("/proc/sys/net/ipv6/conf/lo/disable_ipv6") as f:
        assert f.read().strip() == "0", "this host has IPv6 off on lo: [::1] cannot be tested"
    loop, six = free_port(), free_port()
    lxpy.run("create", "fw", "--port", f"127.0.0.1:{loop}:80", "--port", f"[::1]:{six}:80")
    lxpy.run("start", "fw")
    serve_http(lxpy, "fw")
    gateway = model.load(lxpy.paths, model.default_network(lxpy.paths)).gateway
    assert fetch(f"http://127.0.0.1:{loop}/") == "forwarded\n"
    assert refused(gateway, loop)  # the host's address on the bridge: not forwarded
    assert fetch(f"http://[::1]:{six}/") == "forwarded\n"
    assert refused("127.0.0.1", six)  # IPv6 alone
    # The same port on another of the host's addresses, live: both answer.
    lxpy.run("port", "add", "fw", f"{gateway}:{loop}:80")
    assert fetch(f"http://{gateway}:{loop}/") == "forwarded\n"
    assert fetch(f"http://127.0.0.1:{loop}/") == "forwarded\n"
    # Every address on that port would take both: refused in one line, nothing saved.
    config_file = Path(lxpy.paths.config_file("fw"))
    saved = config_file.read_text()
    every = lxpy.run("port", "add", "fw", f"0.0.0.0:{loop}:80", check=False)
    assert every.returncode != 0 and "overlaps" in every.stderr, every.stderr
    assert len(every.stderr.splitlines()) == 1
    # A port another program holds on every address: the kernel's refusal, nothing saved.
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = lxpy.run("port", "add", "fw", f"127.0.0.1:{busy}:80", check=False)
    assert result.returncode != 0 and f"127.0.0.1:{busy}/tcp is taken" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    # An address the host does not have (TEST-NET-1: bound, never contacted).
    absent = lxpy.run("port", "add", "fw", f"192.0.2.1:{loop}:80", check=False)
    assert absent.returncode != 0 and "Cannot assign requested address" in absent.stderr
    assert config_file.read_text() == saved
    ports = f"127.0.0.1:{loop}->80/tcp, [::1]:{six}->80/tcp, {gateway}:{loop}->80/tcp"
    assert f"Ports:    {ports}\n" in lxpy.run("info", "fw").stdout
    listed = json.loads(lxpy.run("info", "fw", "--format", "json").stdout)["ports"]
    assert [(p["address"], p["host_port"], p["proto"]) for p in listed] == [
        ("127.0.0.1", loop, "tcp"),
        ("::1", six, "tcp"),
        (gateway, loop, "tcp"),
    ]
    rows = [line.split() for line in lxpy.run("port", "ls", "fw").stdout.splitlines()]
    assert ["fw", "::1", str(six), "80", "tcp", "yes"] in rows
    # rm names the address when the port is forwarded on two.
    which = lxpy.run("port", "rm", "fw", str(loop), check=False)
    assert which.returncode != 0 and f"like 127.0.0.1:{loop}" in which.stderr
    lxpy.run("port", "rm", "fw", f"127.0.0.1:{loop}")
    assert refused("127.0.0.1", loop)
    assert fetch(f"http://{gateway}:{loop}/") == "forwarded\n"
    lxpy.run("port", "rm", "fw", f"[::1]:{six}/tcp")
    with pytest.raises(OSError):
        fetch(f"http://[::1]:{six}/")


def test_an_old_forward_without_an_address_keeps_every_address(lxpy: Lxpy) -> None:
    from lxpy import config
    from lxpy.config import User

    old, new = free_port(), free_port()
    lxpy.run("create", "dev")
    path = Path(lxpy.paths.config_file("dev"))
    text = path.read_text()
    assert "ports = []\n" in text
    # As lxpy wrote a forward before forwards had an address.
    path.write_text(text.replace("ports = []\n", f'ports = ["{old}:80/tcp"]\n'))
    # A dev box now (its user): new forwards default to loopback, the old one stays open.
    cfg = config.load(str(path))
    config.save(str(path), cfg.with_changes(user=User("alice")))
    lxpy.run("start", "dev")
    serve_http(lxpy, "dev")
    gateway = model.load(lxpy.paths, model.default_network(lxpy.paths)).gateway
    assert fetch(f"http://127.0.0.1:{old}/") == "forwarded\n"
    assert fetch(f"http://{gateway}:{old}/") == "forwarded\n"
    added = lxpy.run("port", "add", "dev", f"{new}:80").stdout
    assert added == f"127.0.0.1:{new}:80/tcp\n"
    assert fetch(f"http://127.0.0.1:{new}/") == "forwarded\n"
    assert refused(gateway, new)
    saved = path.read_text()
    assert f'ports = [\n    "{old}:80/tcp",\n    "127.0.0.1:{new}:80/tcp",\n]' in saved, saved


def test_dnsmasq_is_started_again_if_it_dies(lxpy: Lxpy) -> None:
    from lxpy.net import dnsmasq

    lxpy.run("create", "d1")
    lxpy.run("start", "d1")
    wait_lease(lxpy, "d1")
    run = model.run_dir(lxpy.paths, model.default_network(lxpy.paths))
    pid = dnsmasq.running(run)
    assert pid is not None
    os.kill(pid, 9)
    deadline = time.monotonic() + 15
    while dnsmasq.running(run) in (None, pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dnsmasq.running(run) not in (None, pid)
    # It still knows d1 by name, from the files it reads again.
    network = model.load(lxpy.paths, model.default_network(lxpy.paths))
    assert host_lookup(network.gateway, "d1.lxpy") == ipv4(lxpy, "d1")


FAKE_DNSMASQ = """\
import os, subprocess, sys, time
pid_file = sys.argv[1]
time.sleep(0.3)  # the window two unlocked starts would both fall into
daemon = subprocess.Popen(
    ["dnsmasq-fake", "-c", "import time; time.sleep(60)", f"--pid-file={pid_file}"],
    executable=sys.executable, start_new_session=True,
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
with open(pid_file, "w") as f:
    f.write(f"{daemon.pid}\\n")
"""


def test_two_starts_of_a_networks_dnsmasq_at_once_run_one(tmp_path: Path) -> None:
    """`dnsmasq.start` from two containers' starts at once (`lxpy up`, `start a b`): the
    second finds the first's dnsmasq instead of running another, which would fail on the
    address (a fake dnsmasq that daemonizes slowly makes the race certain)."""
    import sys
    import threading

    from lxpy.net import dnsmasq

    run = str(tmp_path)
    script = tmp_path / "fake.py"
    script.write_text(FAKE_DNSMASQ)
    argv = [sys.executable, str(script), f"{run}/{dnsmasq.PID_FILE}"]
    pids: list[int] = []
    starts = [threading.Thread(target=lambda: pids.append(dnsmasq.start(run, argv))) for _ in "ab"]
    try:
        for thread in starts:
            thread.start()
        for thread in starts:
            thread.join(timeout=30)
        found = subprocess.run(
            ["pgrep", "-f", "--", f"--pid-file={run}/"], capture_output=True, text=True
        )
        assert len(pids) == 2 and pids[0] == pids[1]
        assert found.stdout.split() == [str(pids[0])]
    finally:
        subprocess.run(["pkill", "-f", "--", f"--pid-file={run}/"], check=False)


def test_containers_started_at_once_on_a_network_that_is_down_all_start(lxpy: Lxpy) -> None:
    """Each start brings the network up if it is down (bridge, NAT, dnsmasq): started at
    once, they make one of each and all get their address (the race itself is forced in
    test_two_starts_of_a_networks_dnsmasq_at_once_run_one)."""
    import sys

    from lxpy.net import dnsmasq

    names = [f"at{i}" for i in range(4)]
    for name in names:
        lxpy.run("create", name)
    argv = [sys.executable, "-m", "lxpy", "--root", lxpy.root, "start"]
    starts = [subprocess.Popen([*argv, name], stderr=subprocess.PIPE, text=True) for name in names]
    errors = [p.communicate(timeout=60)[1] for p in starts]
    assert [p.returncode for p in starts] == [0] * len(names), errors
    run = model.run_dir(lxpy.paths, model.default_network(lxpy.paths))
    found = subprocess.run(
        ["pgrep", "-f", "--", f"--pid-file={run}/"], capture_output=True, text=True
    )
    assert found.stdout.split() == [str(dnsmasq.running(run))]
    for name in names:
        wait_lease(lxpy, name)


# -- the wiring: netlink without pyroute2, a NIC that forwards from the start ---------------
TEST_SUBNET = "172.31.254.0/29"  # outside 10.0.0.0/8, where roots take their networks


@pytest.fixture
def bridge() -> Iterator[str]:
    """A bridge name of this test's own (no root makes `lxpyt...`), removed after it."""
    name = f"lxpyt{os.getpid() % 100000}br"
    yield name
    with Netlink() as nl:
        nl.delete_link(name)


def guest_link(ns: int, name: str) -> str:
    """`ip -o link show NAME` inside the namespace the fd `ns` holds."""
    return subprocess.run(
        ["nsenter", f"--net=/proc/self/fd/{ns}", "ip", "-o", "link", "show", name],
        capture_output=True,
        text=True,
        timeout=10,
        pass_fds=(ns,),
        check=False,
    ).stdout


def test_netlink_makes_a_bridge_and_veths_into_namespaces(bridge: str) -> None:
    subnet = ipaddress.IPv4Network(TEST_SUBNET)
    if any(route.overlaps(subnet) for route in links.host_routes()):
        pytest.skip(f"this host routes {TEST_SUBNET} already")
    network = Network(bridge, TEST_SUBNET)
    for _ in range(2):  # the second time finds everything in place and changes nothing
        links.ensure_bridge(network)
    show = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge], capture_output=True)
    assert (
        show.stdout.decode().count(" inet ") == 1
        and f"{network.gateway}/29" in show.stdout.decode()
    )
    assert subnet in links.host_routes()
    host_end = f"{bridge[:-2]}-v0"
    first, second = netns.new(), netns.new()
    try:
        links.add_veth(host_end, "02:00:00:00:00:01", first, "eth0", bridge)
        assert os.path.basename(os.readlink(f"/sys/class/net/{host_end}/master")) == bridge
        # Forwarding when add_veth returns, and the guest's end up, with its MAC: a guest's
        # first DHCPDISCOVER is never dropped at a port still coming up.
        with open(f"/sys/class/net/{host_end}/brport/state") as f:
            assert f.read().strip() == links.BR_STATE_FORWARDING
        inside = guest_link(first, "eth0")
        assert "state UP" in inside and "02:00:00:00:00:01" in inside
        # A leftover host end of the same name (its namespace held by a stray process) is
        # replaced, and the pair goes with it.
        links.add_veth(host_end, "02:00:00:00:00:02", second, "eth0", bridge)
        assert guest_link(first, "eth0") == ""
        assert "02:00:00:00:00:02" in guest_link(second, "eth0")
    finally:
        os.close(first)
        os.close(second)
    deadline = time.monotonic() + 5  # the kernel destroys the namespace, and its veth, later
    while os.path.exists(f"/sys/class/net/{host_end}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/sys/class/net/{host_end}")
    assert not netlink.nft_table_exists(socket.AF_INET, f"lxpy-{bridge}")


def test_a_start_with_a_nic_loads_no_netlink_library_nor_toml_parser(
    lxpy: Lxpy, tmp_path: Path
) -> None:
    lxpy.run("create", "m1")
    lxpy.run("start", "m1")  # the network comes up: the next start finds it so
    lxpy.run("stop", "-k", "m1")
    found = loaded(lxpy, ["start", "m1"], tmp_path)
    assert lxpy.state("m1") == "RUNNING"
    heavy = {"pyroute2", "tomllib", "dataclasses", "inspect", "typing", "subprocess", "threading"}
    assert not found & heavy, sorted(found & heavy)
    assert {m.split(".")[0] for m in found} <= set(sys.stdlib_module_names) | {"lxpy"}
    assert nat.exists(model.load(lxpy.paths, model.default_network(lxpy.paths)))


@contextlib.contextmanager
def watching(bridge: str) -> Iterator[socket.socket]:
    """A socket that sees every Ethernet frame on `bridge` from now on."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)) as s:
        s.bind((bridge, 0))
        yield s


def frames(s: socket.socket, seconds: float) -> Iterator[bytes]:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            yield s.recv(2048)
        except TimeoutError:
            return


def dhcp_type(frame: bytes) -> int | None:
    """The DHCP message type of a frame carrying DHCP to the server, else None."""
    if frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    udp = 14 + (frame[14] & 15) * 4
    if struct.unpack("!H", frame[udp + 2 : udp + 4])[0] != 67:
        return None
    options = frame[udp + 8 + 240 :]
    i = 0
    while i + 2 < len(options) and options[i] != 255:
        if options[i] == 53:
            return options[i + 2]
        i += 1 if options[i] == 0 else 2 + options[i + 1]
    return None


def test_a_guest_gets_its_address_on_its_first_discover_and_announces_it(lxpy: Lxpy) -> None:
    lxpy.run("create", "g1")
    lxpy.run("start", "g1")  # the network comes up
    address = wait_lease(lxpy, "g1")
    lxpy.run("stop", "-k", "g1")
    bridge = model.default_network(lxpy.paths)
    mac = bytes.fromhex(model.mac_address("g1", 0).replace(":", ""))
    port = model.host_end_name(lxpy.paths.instance, "g1", 0)
    announced = socket.inet_aton(address)
    discovers = 0
    with watching(bridge) as s:
        lxpy.run("start", "g1")
        with open(f"/sys/class/net/{port}/brport/state") as f:
            assert f.read().strip() == links.BR_STATE_FORWARDING
        for frame in frames(s, 10):
            if frame[6:12] != mac:
                continue
            discovers += dhcp_type(frame) == 1
            # A gratuitous ARP, its sender and target address both the one it was given: a
            # neighbour whose ARP for that address went unanswered a moment ago learns it now
            # rather than at its next try, a second later.
            if frame[12:14] == b"\x08\x06" and frame[28:32] == frame[38:42] == announced:
                break
        else:
            raise AssertionError("g1 announced no address")
    assert discovers == 1  # the first one was answered: no retry, 3 s later
