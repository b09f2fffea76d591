"""Networks and NICs as data: names, subnets, addresses and the files that keep them.

No netlink here (that is `lxpy.net.links`): `lxpy ls`, the monitor and config validation
import this. A network's name is also its bridge's name.

    <lib>/networks/NAME.toml           subnet and domain
    <lib>/networks/NAME.addresses      "container address" lines: who keeps which address
    <run>/networks/NAME/               dnsmasq's pid file, leases, and the hosts files it
                                       reads: the containers running now
    <cache>/networks/NAME              NAME.toml parsed (lxpy.config.cache): every start
                                       reads it, and tomllib costs ~7 ms to import
"""

from __future__ import annotations

import ipaddress
import os
import re
import zlib
from contextlib import AbstractContextManager

from lxpy import store
from lxpy.config import ContainerConfig, Nic
from lxpy.config import cache as parsed
from lxpy.config.schema import check_network_name
from lxpy.config.tomlfile import TomlFile, read_text, record_names
from lxpy.errors import Busy, LxpyError, NotFound, UsageError
from lxpy.linux.atomic import write_atomic
from lxpy.linux.locks import locked_file
from lxpy.paths import Paths
from lxpy.records import Record

DEFAULT_DOMAIN = "lxpy"
# Linux interface names are at most 15 bytes.
IFNAMSIZ = 15
# A network's DNS domain: dot-separated labels of a-z and 0-9, hyphens inside a label only.
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def default_network(paths: Paths) -> str:
    """lxpybr0 for the default root; each other root gets a bridge name of its own."""
    if paths.instance == "lxpy":
        return "lxpybr0"
    return f"lx{paths.instance.rsplit('-', 1)[-1]}br0"


def validate_network_name(name: str) -> str:
    if check_network_name(name):
        raise UsageError(
            f"invalid network name {name!r}",
            hint="a bridge name: a-z first, then a-z, 0-9 or -, at most 15 characters",
        )
    return name


def is_domain(text: str) -> bool:
    return bool(_DOMAIN.fullmatch(text))


class Network(Record):
    name: str
    subnet: str  # an IPv4 /24 (or wider) in CIDR form
    domain: str = DEFAULT_DOMAIN

    @property
    def net(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        """The bridge's own address: the first host of the subnet."""
        return str(next(self.net.hosts()))

    def pool(self) -> list[str]:
        """Addresses containers get, the gateway excluded."""
        return [str(a) for a in self.net.hosts()][1:]


def host_end_name(instance: str, container: str, index: int) -> str:
    """The host end of a container's veth: readable, unique per state root, in 15 bytes."""
    tag = zlib.crc32(f"{instance}/{container}/{index}".encode()) & 0xFFFF
    return f"{container[:8].rstrip('-')}-{tag:04x}{index}"[:IFNAMSIZ]


def mac_address(container: str, index: int) -> str:
    """Stable for the container's name: the same address on every start."""
    raw = zlib.crc32(f"{container}/{index}".encode()).to_bytes(4, "big")
    extra = zlib.crc32(f"{index}/{container}".encode()) & 0xFF
    # 02: a locally administered unicast address, never a vendor's.
    return ":".join(f"{b:02x}" for b in (0x02, *raw, extra))


def networks_dir(paths: Paths) -> str:
    return f"{paths.lib}/networks"


def run_dir(paths: Paths, name: str) -> str:
    return f"{paths.run}/networks/{name}"


def parsed_cache(paths: Paths, name: str) -> str:
    return f"{paths.cache}/networks/{name}"


def names(paths: Paths) -> list[str]:
    return record_names(networks_dir(paths), lambda name: not check_network_name(name))


def load(paths: Paths, name: str) -> Network:
    validate_network_name(name)
    path = f"{networks_dir(paths)}/{name}.toml"
    try:
        doc = parsed.load(path, parsed_cache(paths, name))
    except FileNotFoundError:
        raise NotFound(f"no network named {name!r}", hint="`lxpy network ls` lists them") from None
    top = TomlFile(path, lambda: read_text(path)).top(doc, ("subnet", "domain"))
    subnet = top.get("subnet", str, check=_check_subnet)
    domain = top.get("domain", str, DEFAULT_DOMAIN, _check_domain)
    return Network(name, str(ipaddress.IPv4Network(subnet)), domain)


def _check_domain(value: str) -> str | None:
    return None if is_domain(value) else "expected a DNS domain like lxpy or lab.example"


def _check_subnet(value: str) -> str | None:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError as e:
        return str(e)
    return "too small (at most /29)" if network.prefixlen > 29 else None


def save(paths: Paths, network: Network) -> None:
    import tomli_w

    os.makedirs(networks_dir(paths), mode=0o700, exist_ok=True)
    doc = {"subnet": network.subnet, "domain": network.domain}
    path = f"{networks_dir(paths)}/{network.name}.toml"
    write_atomic(path, tomli_w.dumps(doc).encode(), fsync=True)


# -- addresses kept for containers --------------------------------------------------------


def _addresses_file(paths: Paths, network: str) -> str:
    return f"{networks_dir(paths)}/{network}.addresses"


def kept_addresses(paths: Paths, network: str) -> dict[str, str]:
    """container -> the address it keeps on `network`."""
    try:
        with open(_addresses_file(paths, network)) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return {}
    found = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2:
            found[parts[0]] = parts[1]
    return found


def write_addresses(paths: Paths, network: str, kept: dict[str, str]) -> None:
    text = "".join(f"{c} {a}\n" for c, a in sorted(kept.items()))
    write_atomic(_addresses_file(paths, network), text.encode(), fsync=True)


def choose_address(network: Network, container: str, taken: set[str]) -> str:
    """A free address, the same one for the same name while it is free (a stable start
    point in the pool, so addresses do not shift when containers come and go)."""
    pool = network.pool()
    start = zlib.crc32(container.encode()) % len(pool)
    for i in range(len(pool)):
        candidate = pool[(start + i) % len(pool)]
        if candidate not in taken:
            return candidate
    raise UsageError(
        f"network {network.name} has no free address left",
        hint="pin one with network.ipv4, or make a wider network",
    )


def containers_on(paths: Paths, name: str) -> list[str]:
    """Containers with a NIC on network `name`."""
    found = []
    for container in store.names_on_disk(paths):
        try:
            cfg = store.load(paths, container)
        except LxpyError:
            continue
        if any(nic.network == name for nic in cfg.network):
            found.append(container)
    return found


def lock(paths: Paths, name: str) -> AbstractContextManager[None]:
    # "network." cannot begin a container name: the two kinds of lock never meet.
    return locked_file(
        f"{paths.run}/locks/network.{name}.lock",
        Busy(f"network {name} is busy", hint="wait and try again"),
        timeout=30,
    )


def address_for(paths: Paths, network: Network, container: str, nic: Nic) -> str:
    """The container's address on `network`: the pinned one, else the one it keeps (chosen
    on its first start and remembered until it is destroyed)."""
    with lock(paths, network.name):
        kept = kept_addresses(paths, network.name)
        others = {a for c, a in kept.items() if c != container}
        if nic.ipv4:
            address = nic.ipv4
            if ipaddress.IPv4Address(address) not in network.net or address == network.gateway:
                raise UsageError(f"{address} is not a container address in {network.subnet}")
            if address in others:
                owner = next(c for c, a in kept.items() if a == address and c != container)
                raise UsageError(f"{address} on {network.name} is kept for {owner}")
        else:
            address = kept.get(container) or choose_address(network, container, others)
        if kept.get(container) != address:
            kept[container] = address
            write_addresses(paths, network.name, kept)
    return address


def rename(paths: Paths, old: str, new: str, cfg: ContainerConfig) -> None:
    """At rename: the container keeps its addresses under its new name."""
    for nic in cfg.network:
        if nic.network not in names(paths):
            continue
        with lock(paths, nic.network):
            kept = kept_addresses(paths, nic.network)
            if old in kept:
                kept[new] = kept.pop(old)
                write_addresses(paths, nic.network, kept)


def forget(paths: Paths, container: str, cfg: ContainerConfig) -> None:
    """At destroy: the container's kept addresses go back to the pool."""
    for nic in cfg.network:
        if nic.network not in names(paths):
            continue
        with lock(paths, nic.network):
            kept = kept_addresses(paths, nic.network)
            if kept.pop(container, None) is not None:
                write_addresses(paths, nic.network, kept)
