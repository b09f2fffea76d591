"""One dnsmasq per network: DHCP with a fixed address per container, DNS by name.

Each running container has one file in each of two directories that dnsmasq watches with
inotify (`--dhcp-hostsdir`, `--hostsdir`): its reservation and its name. A start writes
them; a stop deletes them and ends the container's DHCP lease, without a restart, and the
monitor can do it on its way out without importing anything heavy. Standard library only.

Why the lease must end too: dnsmasq names a lease after the hosts entry for its address
(when a client gives no name, or, with --dhcp-ignore-names, always), and a named lease
answers for NAME and NAME.DOMAIN on its own until it expires, an hour after the stop,
whatever became of the hosts file. A DHCPRELEASE sent for the gone container ends it.
"""

from __future__ import annotations

import os
import signal
import struct
import time

from lxpy.errors import LxpyError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this at teardown
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from lxpy.net.model import Network

DHCP_DIR = "dhcp-hosts"
NAMES_DIR = "names"
PID_FILE = "dnsmasq.pid"
START_LOCK = "dnsmasq.start.lock"  # held while one is started (see `start`)
LEASES = "leases"


def container_files(net_run_dir: str, container: str) -> list[str]:
    return [f"{net_run_dir}/{DHCP_DIR}/{container}", f"{net_run_dir}/{NAMES_DIR}/{container}"]


def publish(net_run_dir: str, network: Network, container: str, mac: str, address: str) -> None:
    """Reserve `address` for `mac` and make NAME and NAME.DOMAIN resolve to it."""
    from lxpy.linux.atomic import write_atomic  # not at the top: `lxpy ls` only reads

    dhcp, names = container_files(net_run_dir, container)
    # dnsmasq (not root) reads them; it skips the dot-files the writes go through.
    write_atomic(dhcp, f"{mac},{address},1h\n".encode(), 0o644)
    write_atomic(names, f"{address} {container}.{network.domain} {container}\n".encode(), 0o644)


def published_addresses(net_run_dir: str, container: str) -> list[str]:
    try:
        with open(f"{net_run_dir}/{NAMES_DIR}/{container}") as f:
            return [line.split()[0] for line in f if line.strip()]
    except OSError:
        return []


def withdraw(files: Sequence[str]) -> None:
    """Delete a container's files and end its leases: its name stops resolving at once."""
    by_network: dict[str, list[tuple[str, str]]] = {}
    for path in files:
        try:
            with open(path) as f:
                reserved = f.read()
            os.unlink(path)
        except FileNotFoundError:
            continue
        ours = by_network.setdefault(os.path.dirname(os.path.dirname(path)), [])
        if os.path.basename(os.path.dirname(path)) == DHCP_DIR:
            mac, address = reserved.split(",")[:2]
            ours.append((mac, address))
    for net_run_dir, ended in by_network.items():
        found = _running(net_run_dir)
        if found is None:
            continue
        pid, argv = found
        os.kill(pid, signal.SIGHUP)  # forgets the reservations (names go by inotify)
        options = {key: value for key, _, value in (arg.partition("=") for arg in argv)}
        for mac, address in ended:
            release(options["--interface"], options["--listen-address"], mac, address)


def release(interface: str, server: str, mac: str, address: str) -> None:
    """Send dnsmasq the DHCPRELEASE the gone client (`mac` at `address`) would have sent,
    as dnsmasq's own dhcp_release does: from the host, bound to the bridge so that dnsmasq
    sees it arrive there."""
    import socket  # here: every `lxpy start` of a container with a NIC imports this module

    packet = struct.pack(
        "!BBBBIHH4s4s4s4s16s192s",
        1,  # BOOTREQUEST
        1,  # Ethernet
        6,
        0,
        int.from_bytes(os.urandom(4)),
        0,
        0,
        socket.inet_aton(address),  # ciaddr: the lease's address
        bytes(4),
        bytes(4),
        bytes(4),
        bytes.fromhex(mac.replace(":", "")),
        b"",
    )
    # The magic cookie, then: message type RELEASE, the server's identifier, the end.
    packet += b"\x63\x82\x53\x63\x35\x01\x07\x36\x04" + socket.inet_aton(server) + b"\xff"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            s.sendto(packet, (server, 67))
    except OSError:
        pass  # the bridge is gone, and with it dnsmasq and its leases


def running(net_run_dir: str) -> int | None:
    """dnsmasq's pid when it runs for this network, else None."""
    found = _running(net_run_dir)
    return None if found is None else found[0]


def _running(net_run_dir: str) -> tuple[int, list[str]] | None:
    """dnsmasq's pid and argv when it runs for this network."""
    try:
        with open(f"{net_run_dir}/{PID_FILE}") as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except (OSError, ValueError):
        return None
    # The pid file alone may name a reused pid: it must be our dnsmasq for this directory.
    if "dnsmasq" in argv[0] and f"--pid-file={net_run_dir}/{PID_FILE}" in argv:
        return pid, argv
    return None


def ensure(net_run_dir: str, network: Network) -> int:
    """Start dnsmasq for `network` unless it runs (after a crash too); return its pid."""
    pid = running(net_run_dir)
    if pid is not None:
        return pid
    _check_reachable(net_run_dir)
    return start(net_run_dir, command(net_run_dir, network))


def command(net_run_dir: str, network: Network) -> list[str]:
    pool = network.pool()
    return [
        "dnsmasq",
        "--conf-file=/dev/null",
        f"--pid-file={net_run_dir}/{PID_FILE}",
        f"--dhcp-leasefile={net_run_dir}/{LEASES}",
        "--bind-interfaces",
        f"--interface={network.name}",
        "--except-interface=lo",
        f"--listen-address={network.gateway}",
        f"--dhcp-range={pool[0]},{pool[-1]},{network.net.netmask},1h",
        "--dhcp-authoritative",
        # The only server on its bridge: a client that offers it (systemd-networkd) gets its
        # address in the answer to its DISCOVER, one round trip instead of two. Reserved
        # addresses are offered without the ping dnsmasq sends before a dynamic one.
        "--dhcp-rapid-commit",
        "--dhcp-no-override",
        # Names come from our hosts files alone, never from what a DHCP client claims: a
        # container cannot take another's name.
        "--dhcp-ignore-names",
        f"--dhcp-hostsdir={net_run_dir}/{DHCP_DIR}",
        f"--hostsdir={net_run_dir}/{NAMES_DIR}",
        f"--domain={network.domain}",
        f"--local=/{network.domain}/",
        "--domain-needed",
        "--strict-order",
        "--no-hosts",
    ]


def start(net_run_dir: str, argv: list[str], preexec: Callable[[], None] | None = None) -> int:
    """Run dnsmasq (it daemonizes) and return its pid once its pid file names it; one that
    runs already is left alone. The monitors of the network's containers call this too, to
    start it again if it died. Under a lock: starts of two containers on a network that is
    down (`lxpy up`, `lxpy start a b`) would run two, the second failing on the address."""
    from lxpy.errors import Busy
    from lxpy.linux.locks import locked_file

    busy = Busy(f"dnsmasq for {net_run_dir} is being started", hint="try again")
    with locked_file(f"{net_run_dir}/{START_LOCK}", busy, timeout=30):
        pid = running(net_run_dir)
        return pid if pid is not None else _start(net_run_dir, argv, preexec)


def _start(net_run_dir: str, argv: list[str], preexec: Callable[[], None] | None) -> int:
    import subprocess  # here: the monitor imports this module, and rarely needs it

    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=10, preexec_fn=preexec
        )
    except FileNotFoundError:
        raise LxpyError("dnsmasq is not installed", hint="apt-get install dnsmasq-base") from None
    if result.returncode != 0:
        raise LxpyError(f"dnsmasq for {net_run_dir} failed: {result.stderr.strip()}")
    deadline = time.monotonic() + 5
    while (pid := running(net_run_dir)) is None:
        if time.monotonic() > deadline:
            raise LxpyError(f"dnsmasq for {net_run_dir} did not start")
        time.sleep(0.01)
    return pid


def _check_reachable(path: str) -> None:
    """dnsmasq drops to an unprivileged user and then re-reads the watched directories: every
    directory above them must let others pass (o+x), as /var/lib and /run do."""
    parent = os.path.dirname(os.path.abspath(path))
    while parent != "/":
        if not os.stat(parent).st_mode & 0o001:
            raise LxpyError(
                f"dnsmasq (running as nobody) cannot pass through {parent}",
                hint=f"chmod o+x {parent}, or keep lxpy's state elsewhere (--root)",
            )
        parent = os.path.dirname(parent)


def stop(net_run_dir: str) -> None:
    pid = running(net_run_dir)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)


def leases(net_run_dir: str) -> list[tuple[str, str, str]]:
    """(mac, address, hostname) of the current leases."""
    try:
        with open(f"{net_run_dir}/{LEASES}") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 4:
            found.append((parts[1], parts[2], parts[3]))
    return found
