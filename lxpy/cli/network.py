"""Networks and port forwards: network, port."""

from __future__ import annotations

from lxpy.cli import output
from lxpy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from lxpy.api import Api


def network(api: Api, args: Namespace) -> int:
    if args.action == "ls":
        rows = [("NAME", "SUBNET", "GATEWAY", "DOMAIN", "STATE", "CONTAINERS")]
        for net in api.networks():
            rows.append(
                (
                    net.name,
                    net.subnet,
                    net.gateway,
                    net.domain,
                    "up" if net.up else "down",
                    ",".join(net.containers) or "-",
                )
            )
        output.table(rows)
        return 0
    if not args.network:
        raise UsageError(f"`lxpy network {args.action}` needs a network name")
    if args.action == "create":
        net = api.create_network(args.network, args.subnet, args.domain)
        print(f"{net.name} {net.subnet}")
        return 0
    if args.action == "rm":
        api.remove_network(args.network)
        return 0
    net = api.network(args.network)
    print(f"Name:     {net.name}")
    print(f"Subnet:   {net.subnet} (gateway and DNS {net.gateway})")
    print(f"Domain:   {net.domain}")
    print(f"State:    {'up' if net.up else 'down'}")
    print()
    output.table([("CONTAINER", "ADDRESS", "MAC", "LEASE"), *net.leases])
    return 0


def port(api: Api, args: Namespace) -> int:
    if args.action == "ls":
        rows = [("CONTAINER", "ADDRESS", "HOST PORT", "PORT", "PROTO", "ACTIVE")]
        for info in [api.info(args.name)] if args.name else api.containers():
            for p in info.config.ports if info.config else ():
                active = "yes" if info.state == "RUNNING" else "-"
                rows.append((info.name, p.address, str(p.host_port), str(p.port), p.proto, active))
        output.table(rows)
        return 0
    if not args.name or not args.forward:
        raise UsageError(f"`lxpy port {args.action}` needs NAME and [ADDR:]HOSTPORT:PORT[/proto]")
    if args.action == "add":
        print(api.port_add(args.name, args.forward))
    else:
        api.port_rm(args.name, args.forward)
    return 0
