"""Links through netlink: bridges, veth pairs, host routes. The only module with pyroute2.

Imported by `lxpy start` for a container with NICs and by `lxpy network`; never by the
monitor (its memory is a benchmark) nor by `lxpy ls`.
"""

from __future__ import annotations

import ipaddress

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from lxpy.errors import LxpyError
from lxpy.net import model
from lxpy.net.model import Network


def host_routes() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination the host routes somewhere, the default route left out."""
    found = []
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=2):
            dst, length = route.get("dst"), route["dst_len"]
            if dst and length:
                found.append(ipaddress.IPv4Network(f"{dst}/{length}", strict=False))
    return found


def bridge_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def ensure_bridge(network: Network) -> None:
    """The bridge with the gateway address, up; made the first time it is needed."""
    prefix = network.net.prefixlen
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=network.name)
        if not found:
            try:
                # A MAC of its own: otherwise a bridge takes its lowest port's, which changes
                # as containers come and go, and guests keep sending to the old one for a
                # while (ARP cache), as lxc-net also avoids by fixing lxcbr0's.
                mac = model.mac_address(f"bridge/{network.name}", 0)
                ipr.link("add", ifname=network.name, kind="bridge", address=mac)
            except NetlinkError as e:
                if e.code != 17:  # EEXIST: another lxpy made it meanwhile
                    raise LxpyError(f"cannot create bridge {network.name}: {e}") from None
            found = ipr.link_lookup(ifname=network.name)
        index = found[0]
        have = {a.get("address") for a in ipr.get_addr(index=index, family=2)}
        if network.gateway not in have:
            ipr.addr("add", index=index, address=network.gateway, prefixlen=prefix)
        ipr.link("set", index=index, state="up")


def remove_bridge(name: str) -> None:
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            ipr.link("del", index=index)


def add_veth(host_name: str, mac: str, netns_fd: int, guest_name: str, bridge: str) -> None:
    """A veth pair: `guest_name` (with `mac`) inside the namespace, `host_name` on the bridge.

    A leftover host end of the same name (a container whose namespace a stray process
    still holds) is replaced.
    """
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=host_name):
            ipr.link("del", index=index)
        master = ipr.link_lookup(ifname=bridge)
        if not master:
            raise LxpyError(f"bridge {bridge} is missing", hint="`lxpy network ls`")
        try:
            ipr.link(
                "add",
                ifname=host_name,
                kind="veth",
                peer={"ifname": guest_name, "net_ns_fd": netns_fd, "address": mac},
            )
        except NetlinkError as e:
            raise LxpyError(f"cannot create veth {host_name}: {e}") from None
        index = ipr.link_lookup(ifname=host_name)[0]
        ipr.link("set", index=index, master=master[0], state="up")
