"""NAT and forwarding for a network: one nftables table of lxpy's own per network.

The table goes away with the network; nothing is added to tables others own. Applied with
`nft -f -` as one transaction, so a failure leaves the old rules (or none) in place.
"""

from __future__ import annotations

import socket

from lxpy.errors import LxpyError
from lxpy.net import netlink
from lxpy.net.model import Network


def table_name(network: Network) -> str:
    return f"lxpy-{network.name}"


def apply(network: Network) -> None:
    table = table_name(network)
    subnet, bridge = network.subnet, network.name
    # "add table" then "delete table" first makes the script idempotent: re-applying it
    # replaces the rules instead of adding a second copy.
    _nft(
        f"""
add table ip {table}
delete table ip {table}
table ip {table} {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {subnet} ip daddr != {subnet} masquerade
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{bridge}" accept
        oifname "{bridge}" ct state established,related accept
    }}
}}
"""
    )
    _enable_forwarding()


def remove(network: Network) -> None:
    table = table_name(network)
    _nft(f"add table ip {table}\ndelete table ip {table}\n")


def exists(network: Network) -> bool:
    """Asked at every start, so through netlink rather than `nft list` (a process)."""
    return netlink.nft_table_exists(socket.AF_INET, table_name(network))


def _nft(script: str) -> None:
    import subprocess  # here: a start whose network is up never runs nft

    try:
        result = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    except FileNotFoundError:
        raise LxpyError("nft is not installed", hint="apt-get install nftables") from None
    if result.returncode != 0:
        raise LxpyError(f"nftables refused the rules: {result.stderr.strip()}")


def _enable_forwarding() -> None:
    # NAT needs the host to route between the bridge and its uplink.
    with open("/proc/sys/net/ipv4/ip_forward", "r+") as f:
        if f.read().strip() != "1":
            f.seek(0)
            f.write("1\n")
