"""Port forwards: host ports relayed to a container's address, by its monitor.

Why a relay in user space rather than nftables DNAT: DNAT in prerouting never sees the host's
own connections to 127.0.0.1, and catching those in the output hook needs route_localnet=1,
a host-wide sysctl that lets 127.0.0.0/8 leave the loopback interface. A relay works from
other machines and from the host's loopback alike, changes nothing host-wide, refuses a taken
port with a plain EADDRINUSE, and exists exactly while the monitor (so the container) does.
The cost: the container sees connections come from its gateway, not from the client.

Driven by the monitor's poll loop (no threads). Standard library only.
"""

from __future__ import annotations

import errno
import select
import socket
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this
if TYPE_CHECKING:
    from typing import Any

BUFFER = 65536
UDP_IDLE_SECONDS = 60.0


class _Tcp:
    """One relayed connection: each side's unsent bytes wait in the other's buffer, and a
    side is read only while that buffer is empty (so a slow reader slows its writer)."""

    __slots__ = ("client", "connected", "eof", "pending", "upstream")

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.connected = False
        self.pending = {client.fileno(): b"", upstream.fileno(): b""}  # waiting to go TO fd
        self.eof = {client.fileno(): False, upstream.fileno(): False}  # fd said EOF

    def peer(self, fd: int) -> socket.socket:
        return self.upstream if fd == self.client.fileno() else self.client

    def sockets(self) -> tuple[socket.socket, socket.socket]:
        return self.client, self.upstream

    def events(self, sock: socket.socket) -> int:
        fd = sock.fileno()
        if sock is self.upstream and not self.connected:
            return select.POLLOUT
        wanted = 0
        if not self.eof[fd] and not self.pending[self.peer(fd).fileno()]:
            wanted |= select.POLLIN
        if self.pending[fd]:
            wanted |= select.POLLOUT
        return wanted

    def done(self) -> bool:
        return all(self.eof.values()) and not any(self.pending.values())


# (proto, listen address, host port): what one forward alone listens on.
Key = tuple[str, str, int]


def where(key: Key) -> str:
    """A forward's key as people write it: 127.0.0.1:8080/tcp, [::1]:8080/tcp."""
    proto, listen, host_port = key
    return f"{f'[{listen}]' if ':' in listen else listen}:{host_port}/{proto}"


class Forward:
    def __init__(self, key: Key, address: str, port: int) -> None:
        self.key = key
        proto, listen, host_port = key
        self.proto = proto
        self.target = (address, port)  # eth0's IPv4 address, whichever family listens
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        family = socket.AF_INET6 if ":" in listen else socket.AF_INET
        self.listener = socket.socket(family, kind | socket.SOCK_NONBLOCK)
        try:
            if family == socket.AF_INET6:
                # :: is every IPv6 address only: 0.0.0.0 is a forward of its own.
                self.listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if proto == "tcp":
                # Past connections in TIME_WAIT do not hold the port; a listener still does.
                # Not for udp: there it would let a second socket bind the same port.
                self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((listen, host_port))
            if proto == "tcp":
                self.listener.listen(128)
        except OSError:
            self.listener.close()
            raise
        # udp: client address -> (its upstream socket, last activity)
        self.udp: dict[Any, tuple[socket.socket, float]] = {}


class Proxy:
    def __init__(self) -> None:
        self.forwards: dict[Key, Forward] = {}
        self.links: dict[int, _Tcp] = {}
        self.udp_up: dict[int, tuple[Forward, Any]] = {}

    def add(self, proto: str, listen: str, host_port: int, address: str, port: int) -> None:
        """Start forwarding; OSError (EADDRINUSE: the port is taken) if it cannot listen."""
        forward = Forward((proto, listen, host_port), address, port)
        old = self.forwards.pop(forward.key, None)
        if old is not None:
            self._drop_forward(old)
        self.forwards[forward.key] = forward

    def remove(self, key: Key) -> bool:
        forward = self.forwards.pop(key, None)
        if forward is None:
            return False
        self._drop_forward(forward)
        return True

    def close(self) -> None:
        for key in list(self.forwards):
            self.remove(key)
        for link in list(self.links.values()):
            self._close(link)

    # -- the loop's part ------------------------------------------------------------------
    def register(self, poller: select.poll) -> None:
        for forward in self.forwards.values():
            poller.register(forward.listener.fileno(), select.POLLIN)
            for upstream, _ in forward.udp.values():
                poller.register(upstream.fileno(), select.POLLIN)
        seen = set()
        for link in self.links.values():
            if id(link) in seen:
                continue
            seen.add(id(link))
            for sock in link.sockets():
                events = link.events(sock)
                if events:
                    poller.register(sock.fileno(), events)

    def handle(self, ready: dict[int, int]) -> None:
        for forward in list(self.forwards.values()):
            if ready.get(forward.listener.fileno()):
                self._incoming(forward)
        for fd, (forward, client) in list(self.udp_up.items()):
            if ready.get(fd):
                self._udp_reply(forward, client, fd)
        for fd, events in ready.items():
            link = self.links.get(fd)
            if link is not None:
                self._service(link, fd, events)
        self._expire_udp()

    # -- tcp --------------------------------------------------------------------------------
    def _incoming(self, forward: Forward) -> None:
        if forward.proto == "udp":
            self._udp_request(forward)
            return
        try:
            client, _ = forward.listener.accept()
        except OSError:
            return
        client.setblocking(False)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            upstream.connect(forward.target)
        except BlockingIOError:
            pass
        except OSError:
            client.close()
            upstream.close()
            return
        link = _Tcp(client, upstream)
        self.links[client.fileno()] = link
        self.links[upstream.fileno()] = link

    def _service(self, link: _Tcp, fd: int, events: int) -> None:
        sock = link.client if fd == link.client.fileno() else link.upstream
        if sock is link.upstream and not link.connected:
            if link.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._close(link)  # the container refused or is gone
                return
            link.connected = True
            return
        try:
            if events & select.POLLOUT and link.pending[fd]:
                sent = sock.send(link.pending[fd])
                link.pending[fd] = link.pending[fd][sent:]
                if not link.pending[fd] and link.eof[link.peer(fd).fileno()]:
                    sock.shutdown(socket.SHUT_WR)  # the other side finished: pass it on
            if events & (select.POLLIN | select.POLLHUP | select.POLLERR) and not link.eof[fd]:
                data = sock.recv(BUFFER)
                other = link.peer(fd)
                if data:
                    link.pending[other.fileno()] = data
                else:
                    link.eof[fd] = True
                    if not link.pending[other.fileno()]:
                        other.shutdown(socket.SHUT_WR)
        except BlockingIOError:
            pass
        except OSError:
            self._close(link)
            return
        if link.done():
            self._close(link)

    def _close(self, link: _Tcp) -> None:
        for sock in link.sockets():
            self.links.pop(sock.fileno(), None)
            sock.close()

    # -- udp --------------------------------------------------------------------------------
    def _udp_request(self, forward: Forward) -> None:
        try:
            data, client = forward.listener.recvfrom(BUFFER)
        except OSError:
            return
        entry = forward.udp.get(client)
        if entry is None:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
            try:
                upstream.connect(forward.target)
            except OSError:
                upstream.close()
                return
            self.udp_up[upstream.fileno()] = (forward, client)
        else:
            upstream = entry[0]
        forward.udp[client] = (upstream, time.monotonic())
        try:
            upstream.send(data)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                self._drop_udp(forward, client)

    def _udp_reply(self, forward: Forward, client: Any, fd: int) -> None:
        upstream = forward.udp[client][0]
        try:
            data = upstream.recv(BUFFER)
            forward.listener.sendto(data, client)
            forward.udp[client] = (upstream, time.monotonic())
        except OSError:
            pass

    def _expire_udp(self) -> None:
        now = time.monotonic()
        for forward in self.forwards.values():
            for client, (_, last) in list(forward.udp.items()):
                if now - last > UDP_IDLE_SECONDS:
                    self._drop_udp(forward, client)

    def _drop_udp(self, forward: Forward, client: Any) -> None:
        upstream, _ = forward.udp.pop(client)
        self.udp_up.pop(upstream.fileno(), None)
        upstream.close()

    def _drop_forward(self, forward: Forward) -> None:
        for client in list(forward.udp):
            self._drop_udp(forward, client)
        forward.listener.close()
