"""The monitor's control socket: one request line, capped, from root only. Every request and
reply is encoded and decoded here, for the clients and the monitor alike.

Requests (ASCII, newline-terminated, at most MAX_REQUEST bytes):
    state                    -> "<STATE> <init pid>\n"
    stop <timeout> <0|1>     -> "ok\n"; the monitor then stops the container and exits
    log                      -> the console ring buffer, then EOF
    console                  -> the ring buffer, then live console output; bytes sent
                                by the client are typed into the console
    port add <tcp|udp> <listen address> <host port> <address> <port>
                             -> "ok\n", or "error <why>\n" (the host port is taken)
    port rm <tcp|udp> <listen address> <host port>
                             -> "ok\n", or "error no such forward\n"
(a listen address is 0.0.0.0, ::, or one of the host's, IPv6 without brackets)
One class per request (its verb and typed arguments), Reply and StateReply for the answers:
`parse` is the monitor's side, `connect` and `ask` the clients'. Imported by the monitor:
standard library only.
"""

from __future__ import annotations

import _socket  # not socket: it builds enums, ~4 ms of every `lxpy stop`
import os
import struct

from lxpy.errors import ProtocolError as ProtocolError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this
if TYPE_CHECKING:
    import socket
    from typing import ClassVar, Self

    from lxpy.runtime.rundir import State

MAX_REQUEST = 256
# The timeout of a bare "stop" (lxpy's clients always send one).
STOP_TIMEOUT = 30.0


class Request:
    """A request line: its verb, then its arguments. The verbs are a closed set, one class
    each (not a StrEnum: that costs the monitor's start-up ~0.15 ms)."""

    __slots__ = ()
    verb: ClassVar[str]  # a word, or two ("port add")

    def arguments(self) -> list[str]:
        return []

    def encode(self) -> bytes:
        return " ".join([self.verb, *self.arguments()]).encode("ascii") + b"\n"

    @classmethod
    def decode(cls, arguments: list[str]) -> Self:
        """From the words after the verb; ValueError if they do not fit. Words after a
        request that takes none are ignored."""
        return cls()


class StateRequest(Request):
    __slots__ = ()
    verb = "state"


class Log(Request):
    __slots__ = ()
    verb = "log"


class Console(Request):
    __slots__ = ()
    verb = "console"


class Stop(Request):
    __slots__ = ("force", "timeout")
    verb = "stop"

    def __init__(self, timeout: float, force: bool) -> None:
        self.timeout = timeout
        self.force = force

    def arguments(self) -> list[str]:
        return [str(self.timeout), str(int(self.force))]

    @classmethod
    def decode(cls, arguments: list[str]) -> Self:
        timeout = float(arguments[0]) if arguments else STOP_TIMEOUT
        return cls(timeout, len(arguments) > 1 and arguments[1] == "1")


class PortAdd(Request):
    __slots__ = ("address", "host_port", "listen", "port", "proto")
    verb = "port add"

    def __init__(self, proto: str, listen: str, host_port: int, address: str, port: int) -> None:
        self.proto = proto
        self.listen = listen
        self.host_port = host_port
        self.address = address
        self.port = port

    def arguments(self) -> list[str]:
        return [self.proto, self.listen, str(self.host_port), self.address, str(self.port)]

    @classmethod
    def decode(cls, arguments: list[str]) -> Self:
        proto, listen, host_port, address, port = arguments
        return cls(proto, listen, int(host_port), address, int(port))


class PortRemove(Request):
    __slots__ = ("host_port", "listen", "proto")
    verb = "port rm"

    def __init__(self, proto: str, listen: str, host_port: int) -> None:
        self.proto = proto
        self.listen = listen
        self.host_port = host_port

    def arguments(self) -> list[str]:
        return [self.proto, self.listen, str(self.host_port)]

    @classmethod
    def decode(cls, arguments: list[str]) -> Self:
        proto, listen, host_port = arguments
        return cls(proto, listen, int(host_port))


_REQUESTS: dict[str, type[Request]] = {
    kind.verb: kind for kind in (StateRequest, Stop, Log, Console, PortAdd, PortRemove)
}


def parse(line: bytes) -> Request:
    """The request in one line (without its newline); ProtocolError if it is none."""
    if len(line) > MAX_REQUEST:
        raise ProtocolError("request too long")
    try:
        words = line.decode("ascii").split()
    except UnicodeDecodeError:
        raise ProtocolError("request is not ASCII") from None
    for size in (1, 2):  # a verb is one word, or two ("port add")
        kind = _REQUESTS.get(" ".join(words[:size]))
        if kind is not None:
            try:
                return kind.decode(words[size:])
            except ValueError:
                raise ProtocolError(f"bad arguments to {kind.verb}") from None
    raise ProtocolError("unknown request")


class Reply:
    """The answer to stop and port requests: "ok", or "error <why>"."""

    __slots__ = ("error",)

    def __init__(self, error: str | None = None) -> None:
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None

    def encode(self) -> bytes:
        return b"ok\n" if self.error is None else f"error {self.error}\n".encode()

    @classmethod
    def decode(cls, text: str) -> Reply:
        """Anything but "ok" is an error, a monitor that hung up without a word too."""
        if text.startswith("ok"):
            return cls()
        # A monitor drops what it cannot parse: one of an older lxpy's, say, a newer request.
        return cls(text.removeprefix("error ").strip() or "the monitor hung up without an answer")


class StateReply:
    """The answer to "state": the monitor's view, and init's pid on the host (0: none)."""

    __slots__ = ("pid", "state")

    def __init__(self, state: State, pid: int) -> None:
        self.state = state
        self.pid = pid

    def encode(self) -> bytes:
        return f"{self.state} {self.pid}\n".encode()


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def listen(path: str) -> socket.socket:
    """A path socket (never abstract: CVE-2020-15257) readable by root only."""
    import socket  # the monitor's, which has it loaded

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


def connect(path: str, request: Request, timeout: float = 5.0) -> socket.socket:
    import socket  # a console's client, which keeps the socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(request.encode())
    except BaseException:
        sock.close()
        raise
    return sock


def ask(path: str, request: Request, timeout: float = 5.0) -> str:
    """Send one request and return the whole reply."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(request.encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    return b"".join(chunks).decode(errors="replace")
