"""Port forwards (`lxpy port`): saved in config.toml, and told to a running container's
monitor, which relays the host port to the container's eth0 address."""

from __future__ import annotations

from lxpy import store
from lxpy.config import ContainerConfig, PortForward
from lxpy.errors import StateError, UsageError
from lxpy.paths import Paths
from lxpy.runtime import control
from lxpy.runtime.rundir import CONTROL_SOCKET
from lxpy.runtime.state import read_live


def _parse(text: str) -> PortForward:
    try:
        return PortForward.parse(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def add(paths: Paths, name: str, text: str) -> PortForward:
    """Forward a host port (HOSTPORT:PORT[/tcp|/udp]): at once if it runs, and from its
    next start on. A taken host port is refused and nothing is saved."""
    forward = _parse(text)
    store.require(paths, name)
    with store.locked(paths, name):
        cfg = store.load(paths, name)
        if any(p.key == forward.key for p in cfg.ports):
            raise UsageError(f"{name} already forwards host port {forward.key}")
        if not cfg.network:
            raise UsageError(f"{name} has no NIC to forward to")
        if read_live(paths, name).active:
            _ask(paths, name, _relay(paths, name, cfg, forward))
        store.save(paths, name, cfg.with_changes(ports=(*cfg.ports, forward)))
    return forward


def remove(paths: Paths, name: str, key: str) -> None:
    """Stop forwarding HOSTPORT[/proto] (or the whole HOSTPORT:PORT[/proto])."""
    if ":" in key:
        key = _parse(key).key
    key = key if "/" in key else f"{key}/tcp"
    store.require(paths, name)
    with store.locked(paths, name):
        cfg = store.load(paths, name)
        kept = tuple(p for p in cfg.ports if p.key != key)
        if len(kept) == len(cfg.ports):
            raise UsageError(f"{name} does not forward host port {key}")
        if read_live(paths, name).active:
            _ask(paths, name, control.PortRemove(key))
        store.save(paths, name, cfg.with_changes(ports=kept))


def _relay(paths: Paths, name: str, cfg: ContainerConfig, port: PortForward) -> control.PortAdd:
    """The request that relays `port` to a running container's eth0."""
    from lxpy.net import dnsmasq, model

    eth0 = dnsmasq.published_addresses(model.run_dir(paths, cfg.network[0].network), name)
    if not eth0:
        raise StateError(f"{name} has no address on {cfg.network[0].network} yet")
    return control.PortAdd(port.proto, port.host_port, eth0[0], port.port)


def _ask(paths: Paths, name: str, request: control.Request) -> None:
    try:
        reply = control.ask(f"{paths.run_dir(name)}/{CONTROL_SOCKET}", request)
    except OSError as e:
        raise StateError(f"{name}'s monitor did not answer: {e.strerror}") from None
    error = control.Reply.decode(reply).error
    if error is not None:
        raise StateError(f"{name}: {error}")
