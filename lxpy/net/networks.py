"""Managed networks: create, bring up, remove, and wire a starting container's NICs.

A network is a bridge with the gateway address, a NAT table, and a dnsmasq. It is brought
up the first time a container needs it (and again after a host reboot or a dnsmasq crash:
every start checks). `lxpy start` plans a container's NICs (`plugs`), launches its
monitor, and `wire`s them while the monitor prepares the container: only `lxpy start` of a
container with NICs and `lxpy network` come here. What only the wiring needs (netlink, NAT,
the host's names) is imported there, after the monitor is on its way.
"""

from __future__ import annotations

import ipaddress
import os
import zlib
from collections.abc import Callable

from lxpy.config import ContainerConfig
from lxpy.errors import AlreadyExists, LxpyError, NotFound, StateError, UsageError
from lxpy.net import dnsmasq, model
from lxpy.net.model import Network
from lxpy.paths import Paths
from lxpy.records import Record


def create(
    paths: Paths, name: str, subnet: str | None = None, domain: str | None = None
) -> Network:
    from lxpy.net import links

    model.validate_network_name(name)
    paths.ensure()
    with model.lock(paths, name):
        if name in model.names(paths):
            raise AlreadyExists(f"network {name!r} exists", hint="`lxpy network ls`")
        if links.bridge_exists(name):
            raise AlreadyExists(f"an interface named {name!r} exists on the host already")
        used = [model.load(paths, n).net for n in model.names(paths)] + links.host_routes()
        chosen = _check_subnet(subnet, used) if subnet else _free_subnet(paths, name, used)
        network = Network(name, str(chosen), domain or model.DEFAULT_DOMAIN)
        if domain is not None and not model.is_domain(domain):
            raise UsageError(f"invalid domain {domain!r}")
        model.save(paths, network)
    return network


def _check_subnet(text: str, used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    try:
        subnet = ipaddress.IPv4Network(text)
    except ValueError as e:
        raise UsageError(f"invalid subnet {text!r}: {e}", hint="e.g. 10.42.0.0/24") from None
    if not subnet.is_private or subnet.prefixlen > 29:
        raise UsageError(f"subnet {subnet} must be private and at most /29")
    clash = next((u for u in used if u.overlaps(subnet)), None)
    if clash is not None:
        raise UsageError(
            f"subnet {subnet} overlaps {clash}, which the host already routes",
            hint="choose another subnet, or leave it out to get a free one",
        )
    return subnet


def _free_subnet(
    paths: Paths, name: str, used: list[ipaddress.IPv4Network]
) -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 that nothing on the host routes, starting from a point derived
    from the state root and the name, so parallel roots rarely even try the same one."""
    start = zlib.crc32(f"{paths.instance}/{name}".encode()) % 65536
    for i in range(65536):
        n = (start + i) % 65536
        candidate = ipaddress.IPv4Network(f"10.{n >> 8}.{n & 255}.0/24")
        if not any(u.overlaps(candidate) for u in used):
            return candidate
    raise LxpyError("no free /24 left in 10.0.0.0/8", hint="give one with --subnet")


def default(paths: Paths) -> Network:
    """This root's default network, made the first time it is asked for (by the first of
    the commands that ask at once: the others find it made)."""
    name = model.default_network(paths)
    try:
        return model.load(paths, name)
    except NotFound:
        # Only a missing file: a file that is there but does not read is an error to show.
        # Not "missing and still not listed": another command's create may list it in
        # between, and this one would fail with "no network named" a network that exists.
        pass
    try:
        return create(paths, name)
    except AlreadyExists:
        return model.load(paths, name)


def up(paths: Paths, network: Network) -> str:
    """Bridge, NAT and dnsmasq's directories, each made if it is missing; returns the
    network's run dir. dnsmasq itself is `dnsmasq.ensure`d after the caller has published
    what it needs: one starting reads its directories once, then watches them, and a file
    written in between would be missed."""
    from lxpy.net import links, nat

    # Under the network's lock: two containers started at once would both find no bridge
    # or no NAT table, and both make it.
    with model.lock(paths, network.name):
        links.ensure_bridge(network)
        if not nat.exists(network):
            nat.apply(network)
    run = model.run_dir(paths, network.name)
    for sub in ("", dnsmasq.DHCP_DIR, dnsmasq.NAMES_DIR):
        os.makedirs(f"{run}/{sub}", mode=0o755, exist_ok=True)
    return run


def remove(paths: Paths, name: str, runs: Callable[[str], bool]) -> None:
    """Remove the network; refused while `runs(container)` says one of its containers runs
    (the caller asks the runtime, which net sits below)."""
    network = model.load(paths, name)
    with model.lock(paths, name):
        running = [c for c in model.containers_on(paths, name) if runs(c)]
        if running:
            raise StateError(
                f"network {name} is in use by running containers: {', '.join(running)}",
                hint="stop them first",
            )
        run = model.run_dir(paths, name)
        dnsmasq.stop(run)
        from lxpy.linux import safefs
        from lxpy.net import links, nat
        from lxpy.net.hostsfile import HostsFile, best_effort

        nat.remove(network)
        links.remove_bridge(name)
        # Lines a crash left (a monitor killed with its container): none of them runs now.
        with best_effort(f"network {name}"):
            HostsFile().forget_addresses(
                paths.instance, lambda address: ipaddress.IPv4Address(address) in network.net
            )
        if os.path.isdir(run):
            safefs.remove_tree(run)
        for path in (
            *(f"{model.networks_dir(paths)}/{name}{suffix}" for suffix in (".toml", ".addresses")),
            model.parsed_cache(paths, name),
        ):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class Plug(Record):
    """One NIC of a starting container, planned: what `wire` makes of it."""

    network: Network
    address: str
    mac: str
    host_end: str
    guest: str


def plugs(paths: Paths, container: str, cfg: ContainerConfig) -> list[Plug]:
    """The container's NICs (eth0, eth1, ...) with their networks and kept addresses.

    Needs no netlink, except to make the default network the first time it is used."""
    plugs = []
    for index, nic in enumerate(cfg.network):
        # The default network comes back by itself (after a `network rm`, say).
        is_default = nic.network == model.default_network(paths)
        network = default(paths) if is_default else model.load(paths, nic.network)
        plugs.append(
            Plug(
                network,
                model.address_for(paths, network, container, nic),
                model.mac_address(container, index),
                model.host_end_name(paths.instance, container, index),
                f"eth{index}",
            )
        )
    return plugs


def wire(paths: Paths, container: str, plugs: list[Plug], netns: int) -> None:
    """Each planned NIC made: a veth whose `guest` end is in the namespace `netns` and whose
    host end is on its network's bridge, with its address reserved in dnsmasq, and its
    NAME.DOMAIN known to the host (see `name_on_host`).

    On failure the reservations are withdrawn; the veths made so far go when `netns` does.
    """
    from lxpy.net import links

    published: list[str] = []
    try:
        for plug in plugs:
            run = up(paths, plug.network)
            links.add_veth(plug.host_end, plug.mac, netns, plug.guest, plug.network.name)
            dnsmasq.publish(run, plug.network, container, plug.mac, plug.address)
            published += dnsmasq.container_files(run, container)
            dnsmasq.ensure(run, plug.network)
        name_on_host(paths, container, plugs)
    except BaseException:
        dnsmasq.withdraw(published)
        raise


def name_on_host(paths: Paths, container: str, plugs: list[Plug]) -> None:
    """NAME.DOMAIN of each NIC resolves on the host: through systemd-resolved asking the
    network's dnsmasq where the host uses it, else by its line in /etc/hosts. Both name
    and address there are lxpy's own (a checked name, an address from its records)."""
    from lxpy.net import resolved
    from lxpy.net.hostsfile import HostsFile, best_effort

    entries = [
        (p.address, f"{container}.{p.network.domain}")
        for p in plugs
        if not resolved.linked(p.network)
    ]
    with best_effort(container):
        HostsFile().name(paths.instance, container, entries)
