"""The port-forward relay on its own, against echo servers on the host's loopback: the
monitor drives it the same way (register, poll, handle) in its loop."""

from __future__ import annotations

import select
import socket
import threading

import pytest

from lxpy.runtime.proxy import Proxy


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Running:
    """The relay's loop in a thread, as the monitor runs it; stopped before its sockets close."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.done.is_set():
            poller = select.poll()
            self.proxy.register(poller)
            self.proxy.handle(dict(poller.poll(50)))

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.proxy.close()


@pytest.mark.parametrize("listen", ["0.0.0.0", "::1"])
def test_udp_datagrams_go_both_ways_and_a_taken_port(listen: str) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    target = server.getsockname()[1]

    def echo() -> None:
        data, peer = server.recvfrom(100)
        server.sendto(data.upper(), peer)

    threading.Thread(target=echo, daemon=True).start()
    proxy = Proxy()
    host_port = _free_port(socket.SOCK_DGRAM)
    proxy.add("udp", listen, host_port, "127.0.0.1", target)  # upstream: IPv4 either way
    # udp ports are not shared (no SO_REUSEADDR): the same one, or one address of it, is taken.
    for again in {listen, "::1" if ":" in listen else "127.0.0.1"}:
        with pytest.raises(OSError):
            Proxy().add("udp", again, host_port, "127.0.0.1", target)
    running = _Running(proxy)
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"ping", ("::1" if ":" in listen else "127.0.0.1", host_port))
            assert client.recvfrom(100)[0] == b"PING"
    finally:
        running.stop()
        server.close()


def test_tcp_streams_both_ways_and_a_taken_port() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    target = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    proxy = Proxy()
    host_port = _free_port(socket.SOCK_STREAM)
    proxy.add("tcp", "127.0.0.1", host_port, "127.0.0.1", target)
    with pytest.raises(OSError):
        Proxy().add("tcp", "127.0.0.1", host_port, "127.0.0.1", target)  # already ours: taken
    running = _Running(proxy)
    try:
        payload = bytes(range(256)) * 4096  # 1 MiB, more than any socket buffer
        with socket.create_connection(("127.0.0.1", host_port), timeout=10) as client:
            sender = threading.Thread(target=client.sendall, args=(payload,))
            sender.start()
            got = b""
            while len(got) < len(payload):
                chunk = client.recv(65536)
                if not chunk:
                    break
                got += chunk
            sender.join(10)
        assert got == payload
    finally:
        running.stop()
        server.close()
