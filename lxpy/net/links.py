"""Links: bridges, veth pairs, host routes, through `lxpy.net.netlink`.

Imported by `lxpy start` for a container with NICs and by `lxpy network`; never by the
monitor (its memory is a benchmark) nor by `lxpy ls`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import time

from lxpy.errors import LxpyError
from lxpy.net import model
from lxpy.net.model import Network
from lxpy.net.netlink import Netlink, NetlinkError

BR_STATE_FORWARDING = "3"  # /sys/class/net/PORT/brport/state (linux/if_bridge.h)
# Far above what a loaded host takes (tens of ms), far below a DHCP client's retry delay.
FORWARDING_WAIT = 1.0


def host_routes() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination the host routes somewhere, the default route left out."""
    with Netlink() as nl:
        routes = nl.ipv4_routes()
    return [
        ipaddress.IPv4Network(f"{dst}/{length}", strict=False) for dst, length in routes if length
    ]


def index_of(name: str) -> int | None:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def bridge_exists(name: str) -> bool:
    return index_of(name) is not None


def ensure_bridge(network: Network) -> None:
    """The bridge with the gateway address, up; made the first time it is needed."""
    with Netlink() as nl:
        if not bridge_exists(network.name):
            try:
                # A MAC of its own: otherwise a bridge takes its lowest port's, which changes
                # as containers come and go, and guests keep sending to the old one for a
                # while (ARP cache), as lxc-net also avoids by fixing lxcbr0's.
                nl.add_bridge(network.name, model.mac_address(f"bridge/{network.name}", 0))
            except NetlinkError as e:
                if e.errno != errno.EEXIST:  # another lxpy made it meanwhile
                    raise LxpyError(f"cannot create bridge {network.name}: {e}") from None
        index = index_of(network.name)
        if index is None:
            raise LxpyError(f"bridge {network.name} went away while it was set up")
        nl.add_ipv4(index, network.gateway, network.net.prefixlen)
        nl.set_up(network.name)


def remove_bridge(name: str) -> None:
    with Netlink() as nl:
        nl.delete_link(name)


def add_veth(host_name: str, mac: str, netns_fd: int, guest_name: str, bridge: str) -> None:
    """A veth pair, both ends up: `guest_name` (with `mac`) inside the namespace, `host_name`
    on the bridge. Returns once the bridge forwards what comes from it (see
    `_wait_forwarding`).

    A leftover host end of the same name (a container whose namespace a stray process
    still holds) is replaced.
    """
    master = index_of(bridge)
    if master is None:
        raise LxpyError(f"bridge {bridge} is missing", hint="`lxpy network ls`")
    with Netlink() as nl:
        try:
            try:
                nl.add_veth(host_name, master, guest_name, mac, netns_fd)
            except NetlinkError as e:
                if e.errno != errno.EEXIST:
                    raise
                nl.delete_link(host_name)
                nl.add_veth(host_name, master, guest_name, mac, netns_fd)
        except NetlinkError as e:
            raise LxpyError(f"cannot create veth {host_name}: {e}") from None
    with Netlink(netns=netns_fd) as inside:
        inside.set_up(guest_name)
    _wait_forwarding(host_name)


def _wait_forwarding(port: str) -> None:
    """Wait until the bridge forwards frames from `port`, for at most FORWARDING_WAIT.

    A bridge port starts disabled and forwards only once the kernel's link watcher has seen
    its carrier come on, asynchronously, tens of milliseconds later on a loaded host. A
    guest's first DHCPDISCOVER sent before then is dropped, and its client asks again only
    after its retry delay (3 s for udhcpc). Both ends are up from the start, so the carrier
    is on at once; what is left is the watcher, which this waits for."""
    deadline = time.monotonic() + FORWARDING_WAIT
    while True:
        try:
            with open(f"/sys/class/net/{port}/brport/state") as f:
                if f.read().strip() == BR_STATE_FORWARDING:
                    return
        except FileNotFoundError:
            return  # not a bridge port (gone already): nothing to wait for
        if time.monotonic() >= deadline:
            return  # a bridge with STP: its ports take seconds, which is its owner's choice
        time.sleep(0.001)
