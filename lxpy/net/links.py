"""Links: bridges, veth pairs, host routes, through `lxpy.net.netlink`.

Imported by `lxpy start` for a container with NICs and by `lxpy network`; never by the
monitor (its memory is a benchmark) nor by `lxpy ls`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from lxpy.errors import LxpyError
from lxpy.net import model
from lxpy.net.model import Network
from lxpy.net.netlink import Netlink, NetlinkError


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
        nl.set_up(index)


def remove_bridge(name: str) -> None:
    with Netlink() as nl:
        nl.delete_link(name)


def add_veth(host_name: str, mac: str, netns_fd: int, guest_name: str, bridge: str) -> None:
    """A veth pair: `guest_name` (with `mac`) inside the namespace, `host_name` up on the
    bridge.

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
