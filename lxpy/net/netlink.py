"""The few netlink requests lxpy sends, over a raw AF_NETLINK socket: standard library only.

Why not pyroute2: importing any part of it runs its package's `__init__`, which loads all of
it (ndb, ipdb, asyncio, multiprocessing): 170-240 ms here, on the path of every `lxpy start`
of a container with a NIC, for a handful of messages that take well under a millisecond
each. The messages are those of `ip link`, `ip addr` and `ip route` (rtnetlink(7)), and one
nftables query (nfnetlink), each acknowledged (or answered) before the next is sent.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from lxpy.linux import syscalls

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: `lxpy start` comes here, typing is ~9 ms
if TYPE_CHECKING:
    from collections.abc import Iterator

NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12

# Message types and flags (linux/netlink.h, linux/rtnetlink.h).
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_GETROUTE = 26
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

# Attributes (linux/if_link.h, linux/veth.h, linux/if_addr.h, linux/rtnetlink.h).
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_DST = 1
IFF_UP = 0x1

# nftables (linux/netfilter/nf_tables.h, nfnetlink.h): "does this table exist".
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE = 1
NFTA_TABLE_NAME = 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, ...
_NFGEN = struct.Struct("=BBH")  # nfgenmsg: family, version, resource id


class NetlinkError(OSError):
    """The kernel refused a request: `errno` says why, as for any OSError."""


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def attr(kind: int, value: bytes) -> bytes:
    return _pad(_ATTR.pack(_ATTR.size + len(value), kind) + value)


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _socket(protocol: int) -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)


def attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each attribute in `data`, nested ones left packed."""
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        yield kind & 0x3FFF, data[offset + _ATTR.size : offset + length]  # without NLA_F_*
        offset += (length + 3) & ~3


class Netlink:
    """One netlink socket (rtnetlink unless told otherwise), closed on leaving `with`. With
    `netns` (an fd), it speaks to that network namespace: a socket belongs to the one its
    thread was in when it was made, so this thread enters it for that moment."""

    def __init__(self, protocol: int = NETLINK_ROUTE, netns: int | None = None) -> None:
        if netns is None:
            self.sock = _socket(protocol)
        else:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(netns, syscalls.CLONE_NEWNET)
                try:
                    self.sock = _socket(protocol)
                finally:
                    syscalls.setns(own, syscalls.CLONE_NEWNET)
            finally:
                os.close(own)
        try:
            self.sock.bind((0, 0))
        except OSError:
            self.sock.close()
            raise
        self.seq = 0

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request and return the bodies of its answers, once the kernel has said
        it is done (an acknowledgement, or the end of a dump); its refusal is raised."""
        self.seq += 1
        flags |= NLM_F_REQUEST | NLM_F_ACK
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags, self.seq, 0) + body)
        answers: list[bytes] = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, got, _, seq, _ = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue  # an answer to an earlier request that was given up on
                if got == NLMSG_DONE:
                    return answers
                if got == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", payload)
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    return answers
                answers.append(payload)

    # -- links ---------------------------------------------------------------------------------
    def add_bridge(self, name: str, mac: str) -> None:
        """A bridge `name` with its own `mac`, down, without addresses."""
        info = attr(IFLA_INFO_KIND, b"bridge")
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += attr(IFLA_IFNAME, _name(name)) + attr(IFLA_ADDRESS, _mac(mac))
        body += attr(IFLA_LINKINFO, info)
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def add_veth(self, name: str, master: int, peer: str, peer_mac: str, peer_netns: int) -> None:
        """A veth pair in one request: `name` up on the bridge with index `master`, and
        `peer` (with `peer_mac`, down: the kernel cannot open it before the pair is whole)
        in the network namespace the fd `peer_netns` holds."""
        peer_body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        peer_body += attr(IFLA_IFNAME, _name(peer)) + attr(IFLA_ADDRESS, _mac(peer_mac))
        peer_body += attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns))
        info = attr(IFLA_INFO_KIND, b"veth")
        info += attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body))
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
        body += attr(IFLA_IFNAME, _name(name)) + attr(IFLA_MASTER, struct.pack("=I", master))
        body += attr(IFLA_LINKINFO, info)
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def set_up(self, name: str) -> None:
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP) + attr(IFLA_IFNAME, _name(name))
        self.request(RTM_NEWLINK, 0, body)

    def delete_link(self, name: str) -> bool:
        """Delete the link `name`; False when there is none."""
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr(IFLA_IFNAME, _name(name))
        try:
            self.request(RTM_DELLINK, 0, body)
        except NetlinkError as e:
            if e.errno != errno.ENODEV:
                raise
            return False
        return True

    # -- addresses and routes ------------------------------------------------------------------
    def add_ipv4(self, index: int, address: str, prefix: int) -> bool:
        """Give the link `address`/`prefix`; False when it has it already."""
        packed = socket.inet_aton(address)
        body = _IFADDR.pack(socket.AF_INET, prefix, 0, 0, index)
        body += attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed)
        try:
            self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
        except NetlinkError as e:
            if e.errno != errno.EEXIST:
                raise
            return False
        return True

    def ipv4_routes(self) -> list[tuple[str, int]]:
        """(destination, prefix length) of every IPv4 route in every table."""
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        found = []
        for answer in self.request(RTM_GETROUTE, NLM_F_DUMP, body):
            length = answer[1]
            dst = dict(attrs(answer[_RTMSG.size :])).get(RTA_DST)
            found.append((socket.inet_ntoa(dst) if dst else "0.0.0.0", length))
        return found


def nft_table_exists(family: int, name: str) -> bool:
    """Whether nftables has the table `name` in `family` (socket.AF_INET: `ip`)."""
    with Netlink(NETLINK_NETFILTER) as nl:
        body = _NFGEN.pack(family, 0, 0) + attr(NFTA_TABLE_NAME, _name(name))
        try:
            nl.request(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE, 0, body)
        except NetlinkError as e:
            if e.errno != errno.ENOENT:
                raise
            return False
    return True
