"""File capabilities as `security.capability` holds them: v2 applies to the host's root, v3
names the host id of the root it applies to (a user namespace's root). Read through an
idmapped mount, the kernel shows v2 as v3 with the mount's root; a copy meant for any
container (an archive, a shifted tree) is written with the root it belongs to."""

from __future__ import annotations

import struct

NAME = "security.capability"
_V2 = struct.Struct("<IIIII")  # magic_etc, then permitted and inheritable, 2 words each
_V3 = struct.Struct("<IIIIII")  # the same, then the root id
_REVISION_MASK = 0xFF000000
_REVISION_2 = 0x02000000
_REVISION_3 = 0x03000000


def root_of(value: bytes) -> int:
    """The host id of the root the capabilities apply to (v2: the host's, 0)."""
    return _V3.unpack(value)[5] if len(value) == _V3.size else 0


def with_root(value: bytes, root: int) -> bytes:
    """The same capabilities for `root`: v2 for the host's (0), else v3."""
    magic, *sets = _V2.unpack(value[: _V2.size])
    flags = magic & ~_REVISION_MASK
    if root == 0:
        return _V2.pack(flags | _REVISION_2, *sets)
    return _V3.pack(flags | _REVISION_3, *sets, root)
