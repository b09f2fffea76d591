"""The monitor's control socket: one request line, capped, from root only.

Requests (ASCII, newline-terminated, at most MAX_REQUEST bytes):
    state                    -> "<STATE> <init pid>\n"
    stop <timeout> <0|1>     -> "ok\n"; the monitor then stops the container and exits
    log                      -> the console ring buffer, then EOF
    console                  -> the ring buffer, then live console output; bytes sent
                                by the client are typed into the console
    port add <tcp|udp> <host port> <address> <port>
                             -> "ok\n", or "error <why>\n" (the host port is taken)
    port rm <host port>/<tcp|udp>
                             -> "ok\n", or "error no such forward\n"
Imported by the monitor: standard library only.
"""

from __future__ import annotations

import os
import socket
import struct

MAX_REQUEST = 256
VERBS = ("state", "stop", "log", "console", "port")


class ProtocolError(Exception):
    pass


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def parse(line: bytes) -> tuple[str, list[str]]:
    if len(line) > MAX_REQUEST:
        raise ProtocolError("request too long")
    try:
        words = line.decode("ascii").split()
    except UnicodeDecodeError:
        raise ProtocolError("request is not ASCII") from None
    if not words or words[0] not in VERBS:
        raise ProtocolError("unknown request")
    return words[0], words[1:]


def listen(path: str) -> socket.socket:
    """A path socket (never abstract: CVE-2020-15257) readable by root only."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o077)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(16)
    sock.setblocking(False)
    return sock


def connect(path: str, request: str, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(request.encode("ascii") + b"\n")
    except BaseException:
        sock.close()
        raise
    return sock


def ask(path: str, request: str, timeout: float = 5.0) -> str:
    """Send one request and return the whole reply."""
    with connect(path, request, timeout) as sock:
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")
