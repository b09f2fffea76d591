"""Port forwards (`lxpy port`): saved in config.toml, and told to a running container's
monitor, which relays the host port, on one of the host's addresses or all of one family's,
to the container's eth0 address."""

from __future__ import annotations

import re

from lxpy import store
from lxpy.config import ContainerConfig, PortForward
from lxpy.config.model import ADDRESS, PORT_SPEC, clash, listen_address
from lxpy.errors import StateError, UsageError
from lxpy.paths import Paths
from lxpy.runtime import control
from lxpy.runtime.rundir import CONTROL_SOCKET
from lxpy.runtime.state import read_live


def _parse(text: str, cfg: ContainerConfig) -> PortForward:
    try:
        return cfg.new_forward(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def add(paths: Paths, name: str, text: str) -> PortForward:
    """Forward a host port ([ADDR:]HOSTPORT:PORT[/tcp|/udp]; ADDR by default 127.0.0.1 on a
    dev box, else 0.0.0.0): at once if it runs, and from its next start on. A port taken on
    that address is refused and nothing is saved."""
    store.require(paths, name)
    with store.locked(paths, name):
        cfg = store.load(paths, name)
        forward = _parse(text, cfg)
        why = clash(cfg.ports, forward)
        if why:
            raise UsageError(f"{name}: {why}")
        if not cfg.network:
            raise UsageError(f"{name} has no NIC to forward to")
        if read_live(paths, name).active:
            _ask(paths, name, _relay(paths, name, cfg, forward))
        store.save(paths, name, cfg.with_changes(ports=(*cfg.ports, forward)))
    return forward


def remove(paths: Paths, name: str, text: str) -> None:
    """Stop forwarding [ADDR:]HOSTPORT[/proto] (or the whole forward); without ADDR, the one
    forward of that host port, on whichever address."""
    address, host_port, proto = _selector(text)
    store.require(paths, name)
    with store.locked(paths, name):
        cfg = store.load(paths, name)
        found = [
            p
            for p in cfg.ports
            if (p.host_port, p.proto) == (host_port, proto) and address in ("", p.address)
        ]
        wanted = f"{host_port}/{proto}"
        if not found:
            on = f" on {address}" if address else ""
            raise UsageError(f"{name} does not forward host port {wanted}{on}")
        if len(found) > 1:
            raise UsageError(
                f"{name} forwards host port {wanted} on {', '.join(p.host for p in found)}: "
                f"say which, like {found[0].host}:{host_port}"
            )
        (gone,) = found
        if read_live(paths, name).active:
            _ask(paths, name, control.PortRemove(gone.proto, gone.address, gone.host_port))
        store.save(paths, name, cfg.with_changes(ports=tuple(p for p in cfg.ports if p != gone)))


def _selector(text: str) -> tuple[str, int, str]:
    """(address or "" for any, host port, protocol) of what `port rm` names."""
    try:
        whole = PortForward.parse(text, default_address="")
        return whole.address, whole.host_port, whole.proto
    except ValueError:
        pass
    m = re.fullmatch(rf"(?:{ADDRESS}:)?(\d{{1,5}})(?:/(tcp|udp))?", text.strip())
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise UsageError(f"{text!r}: expected [ADDR:]HOSTPORT[/tcp|/udp] or a whole {PORT_SPEC}")
    try:
        address = "" if m.group(1) is None else listen_address(m.group(1), text)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return address, int(m.group(2)), m.group(3) or "tcp"


def _relay(paths: Paths, name: str, cfg: ContainerConfig, port: PortForward) -> control.PortAdd:
    """The request that relays `port` to a running container's eth0."""
    from lxpy.net import dnsmasq, model

    eth0 = dnsmasq.published_addresses(model.run_dir(paths, cfg.network[0].network), name)
    if not eth0:
        raise StateError(f"{name} has no address on {cfg.network[0].network} yet")
    return control.PortAdd(port.proto, port.address, port.host_port, eth0[0], port.port)


def _ask(paths: Paths, name: str, request: control.Request) -> None:
    try:
        reply = control.ask(f"{paths.run_dir(name)}/{CONTROL_SOCKET}", request)
    except OSError as e:
        raise StateError(f"{name}'s monitor did not answer: {e.strerror}") from None
    error = control.Reply.decode(reply).error
    if error is not None:
        raise StateError(f"{name}: {error}")
